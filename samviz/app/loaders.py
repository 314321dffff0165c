"""Cached loaders: models, traced episodes and step timings, within a memory budget for the whole server.

Memory budget (issue 15, item 3): no sequence of visits grows one app process past SERVER_BUDGET_BYTES
(1 GiB). The process itself (Python, torch, faiss, plotly and Streamlit imported) takes about 0.5 GiB; the
caches together stay under CACHE_BUDGET_BYTES (384 MiB), whatever is asked for:

    traces   TRACE_CACHE_BYTES (256 MiB), counted in bytes (trace_cache.ByteBudgetLRU), least recently
             used out first. Traces are stored compactly (float32/int32 arrays, trace_cache.compact): a dense
             model's copy episode at level 40 and 4096 slots takes 5–10 MiB instead of 45–75 MiB of lists.
             One entry per settings; shared by every session (read-only).
    models   MODEL_CACHE_ENTRIES (24) models in st.cache_resource, each refused above MODEL_BYTES_LIMIT
             (4 MiB; the shipped ones take under 1 MiB: a memory is created per run, never kept on the model).
    timings  TIMING_CACHE_ENTRIES (256) lists of at most MAX_STEPS per-step times in st.cache_data.

The rest is transient: one episode being recorded (its plain lists, up to ~75 MiB, until compacted) and
what each session shows (figures of one episode; the traces themselves are the cache's).
Models are only ever used read-only (eval mode, no_grad; a memory core's state is created per run).
"""
from __future__ import annotations

import contextlib

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import samviz
from samviz.app import params, timing, trace_cache
from samviz.kinds import INDEXES, MODELS, spec

MIB = 1 << 20
SERVER_BUDGET_BYTES = 1024 * MIB
CACHE_BUDGET_BYTES = 384 * MIB
TRACE_CACHE_BYTES = 256 * MIB
MODEL_CACHE_ENTRIES = 24
MODEL_BYTES_LIMIT = 4 * MIB
TIMING_CACHE_ENTRIES = 256
MAX_STEPS = 1024              # per-step times kept per entry (the app's longest episodes have under 200 steps)
TIMING_ENTRY_BYTES = 64 + 32 * MAX_STEPS    # a list of MAX_STEPS floats, generously

# small defaults for untrained models (each kind's number of read heads comes from its spec)
UNTRAINED = dict(word_size=20, k=4, controller_size=100, link_k=8)

TRACES = trace_cache.ByteBudgetLRU(TRACE_CACHE_BYTES)


# ------------------------------------------------------------------------------------------ models

def pretrained_name(kind: str, task: str) -> str:
    return f"{kind}-{task}"


def _untrained(kind: str, task: str, index: str, slots: int):
    t = params.task_info(task)
    return samviz.build_model(kind, input_size=t.input_size, output_size=t.output_size,
                              memory_slots=int(slots), heads=spec(kind).untrained_heads,
                              index=index if spec(kind).sparse else "exact", seed=0, **UNTRAINED)


def model_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


@st.cache_resource(max_entries=MODEL_CACHE_ENTRIES, show_spinner="Loading the model…")
def load_model(kind: str, task: str, index: str = "exact", slots="default"):
    """-> (model, info). info: {"source": "pretrained"|"untrained", "name", "note", "metrics", "level",
    "meets_target"}.

    Pretrained weights when samviz.pretrained has them (slots other than "default" override the memory
    size, which the weights do not depend on); otherwise an untrained model with small defaults.
    Raises ValueError for settings the app does not offer and when the model cannot be built.
    """
    import samviz.pretrained as pretrained
    if kind not in MODELS or task not in params.TASKS or index not in INDEXES:
        raise ValueError(f"unknown model/task/index {kind!r}/{task!r}/{index!r}")
    if slots != "default" and slots not in params.slot_choices(kind):
        raise ValueError(params.slot_limit_message(slots, kind))
    name = pretrained_name(kind, task)
    if name in pretrained.available():
        try:
            overrides = {} if slots == "default" else {"memory_slots": int(slots)}
            model = pretrained.load(name, index=index if spec(kind).sparse else None, **overrides)
            note = None
        except Exception as error:       # a corrupt or unreadable checkpoint: say so and show the untrained model
            model = None
            note = f"the pretrained checkpoint {name} could not be loaded ({type(error).__name__}: {error})"
    else:
        model, note = None, f"no pretrained checkpoint {name} yet"
    if model is not None:
        meta = getattr(model, "meta", {}) or {}
        info = {"source": "pretrained", "name": name, "note": None, "metrics": meta.get("metrics"),
                "level": meta.get("level"), "meets_target": meta.get("meets_target")}
    else:
        try:
            model = _untrained(kind, task, index, params.DEFAULT_SLOTS if slots == "default" else slots)
        except Exception as error:
            raise ValueError(f"cannot build an untrained {kind}: {type(error).__name__}: {error}") from None
        info = {"source": "untrained", "name": name, "note": note, "metrics": None, "level": None,
                "meets_target": None}
    if model_bytes(model) > MODEL_BYTES_LIMIT:
        raise ValueError(f"the {name} model takes {model_bytes(model) / MIB:.0f} MiB, more than the app's "
                         f"{MODEL_BYTES_LIMIT // MIB} MiB per model")
    model.eval()
    return model, info


def describe_model(model) -> str:
    c = model.config
    text = f"{c.kind.upper()}: {c.memory_slots} slots × {c.word_size}, {c.heads} read head{'s' if c.heads != 1 else ''}"
    if spec(c.kind).sparse:
        text += f", K = {c.k}, {c.index} index"
    return text + f", LSTM controller {c.controller_size}"


# ------------------------------------------------------------------------------------------ episodes and traces

def episode(task: str, level: int, seed: int, bits: tuple | None):
    """-> (inputs [T,1,I], targets [T,1,O] or None, mask [T,1] or None, level). Typed bits have no targets."""
    import torch
    if bits is not None:
        x = torch.tensor(bits, dtype=torch.float32).unsqueeze(1)
        return x, None, None, None
    t = params.task_info(task)
    ep = t.sample(batch_size=1, level=int(level), generator=torch.Generator().manual_seed(int(seed)))
    return ep.inputs, ep.targets, ep.mask, ep.level


def record_trace(kind: str, task: str, level: int, seed: int, bits: tuple | None = None, index: str = "exact",
                 slots="default"):
    """The traced episode (batch element 0) for these settings, compact (trace_cache.compact_trace); not cached."""
    model, info = load_model(kind, task, index, slots)
    x, targets, mask, level_used = episode(task, level, seed, bits)
    trace = model.trace(x, targets=targets, mask=mask, task=task)
    trace.meta = {**trace.meta, "app": {"source": info["source"], "seed": None if bits else int(seed),
                                        "level": level_used, "typed_input": bits is not None}}
    return trace_cache.compact_trace(trace)


def get_trace(kind: str, task: str, level: int, seed: int, bits: tuple | None = None, index: str = "exact",
              slots="default"):
    """record_trace, cached per settings in TRACES (bounded in bytes). The trace is shared: read it only."""
    key = (kind, task, int(level), int(seed), bits, index, slots)

    def compute():
        in_a_page = get_script_run_ctx(suppress_warning=True) is not None      # not in plain tests
        with st.spinner("Running the episode…") if in_a_page else contextlib.nullcontext():
            return record_trace(kind, task, level, seed, bits, index, slots)

    return TRACES.get_or_compute(key, compute)


@st.cache_data(max_entries=TIMING_CACHE_ENTRIES, show_spinner="Timing the forward pass…")
def get_step_times(kind: str, task: str, level: int, seed: int, index: str = "exact", slots="default") -> list[float]:
    model, _ = load_model(kind, task, index, slots)
    x, _, _, _ = episode(task, level, seed, None)
    return timing.step_times_ms(model, x)[:MAX_STEPS]
