"""App state: validation of everything a visitor can set (query params, typed bits), session-state
helpers, and the cached model / trace loaders.

Pure validators (validate_params, parse_bits, ...) raise nothing on bad input: they return the problem
as text so a page can show st.error / st.warning and fall back to defaults, never a traceback.
Models are cached with st.cache_resource (shared across sessions: only ever used read-only, in eval
mode under no_grad — a memory core's state is created per run, never kept on the module); traces and
timings with st.cache_data (each session gets its own copy).
"""
from __future__ import annotations

import copy
import time
from typing import Mapping

import streamlit as st

import samviz
from samviz.model import SPARSE_MODELS

MODELS = tuple(samviz.MODELS)
TASKS = tuple(samviz.tasks.NAMES)
INDEXES = ("exact", "faiss")
DENSE_MODELS = tuple(m for m in MODELS if m not in SPARSE_MODELS)
SPARSE = tuple(m for m in MODELS if m in SPARSE_MODELS)

DEFAULT_MODEL = "ntm"
DEFAULT_TASK = "copy"
DEFAULT_LEVELS = {"copy": 10, "associative_recall": 5, "priority_sort": 20}
MAX_SEED = 2**31 - 1
GENERALISATION = 2            # visitors may ask for levels up to 2 × the task's training maximum
MAX_TYPED_STEPS = 60
MAX_TYPED_CHARS = 10_000
MAX_UNTRAINED_SLOTS = 4096
SLOT_CHOICES = ("default", 64, 128, 256, 512, 1024, 2048, 4096)
# the DNC's N×N link matrix makes a step O(N²): at 4096 slots one traced episode takes ~30 s of CPU
SLOT_LIMITS = {"dnc": 1024}
DEFAULT_SLOTS = 128
PLAY_INTERVAL_S = 0.8

# small defaults for untrained models (and the heads each kind gets)
UNTRAINED = dict(word_size=20, k=4, controller_size=100, link_k=8)
UNTRAINED_HEADS = {"ntm": 1, "dnc": 1, "dam": 2, "sam": 2, "sdnc": 2}


# ------------------------------------------------------------------------------------------ validation

def _shown(text) -> str:
    text = str(text)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def task_info(task: str):
    return samviz.tasks.get(task)


def level_range(task: str) -> tuple[int, int]:
    t = task_info(task)
    return t.min_level, GENERALISATION * t.max_level


def default_level(task: str) -> int:
    low, high = level_range(task)
    return max(low, min(high, DEFAULT_LEVELS.get(task, low)))


def parse_int(text, low: int, high: int, name: str) -> tuple[int | None, str | None]:
    """-> (value, None) or (None, problem)."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None, f"{name} must be a whole number, got {_shown(text)}"
    if not low <= value <= high:
        return None, f"{name} must be between {low} and {high}, got {value}"
    return value, None


def validate_params(params: Mapping[str, str], allowed_models=MODELS) -> tuple[dict, list[str]]:
    """Query params -> (valid values, problems). Unknown keys are ignored; bad values are reported and dropped.

    Keys: model, dense, sparse (a model name each), task, level, seed, step, index, slots.
    """
    values: dict = {}
    problems: list[str] = []
    for key, choices in (("model", allowed_models), ("dense", DENSE_MODELS), ("sparse", SPARSE),
                         ("task", TASKS), ("index", INDEXES)):
        if key in params:
            value = str(params[key])
            if value in choices:
                values[key] = value
            else:
                problems.append(f"{key} {_shown(value)} in the link is not one of {', '.join(choices)}")
    task = values.get("task", DEFAULT_TASK)
    if "level" in params:
        low, high = level_range(task)
        value, problem = parse_int(params["level"], low, high, f"level (for {task})")
        if problem:
            problems.append(problem)
        else:
            values["level"] = value
    for key, low, high in (("seed", 0, MAX_SEED), ("step", 0, 10_000)):
        if key in params:
            value, problem = parse_int(params[key], low, high, key)
            if problem:
                problems.append(problem)
            else:
                values[key] = value
    if "slots" in params:
        text = str(params["slots"])
        if text == "default":
            values["slots"] = "default"
        else:
            value, problem = parse_int(text, 2, MAX_UNTRAINED_SLOTS, "slots")
            if problem or value not in SLOT_CHOICES:
                problems.append(problem or f"slots must be one of {', '.join(map(str, SLOT_CHOICES))}")
            else:
                values["slots"] = value
    return values, problems


def slot_choices(*kinds: str) -> tuple:
    """The memory sizes a visitor may pick for these models (the smallest limit wins)."""
    limit = min([SLOT_LIMITS.get(k, MAX_UNTRAINED_SLOTS) for k in kinds] or [MAX_UNTRAINED_SLOTS])
    return tuple(c for c in SLOT_CHOICES if c == "default" or c <= limit)


def parse_bits(text: str, task: str) -> tuple[list[list[float]] | None, str | None]:
    """A visitor's typed episode -> (rows [T][input_size], None) or (None, the problem).

    One row per time step. A row is either input_size characters of 0/1 ("100110101") or input_size
    numbers separated by spaces or commas. Values must be 0 or 1, except priority sort's priority
    channel, which takes a number in [-1, 1]. At most MAX_TYPED_STEPS rows.
    """
    t = task_info(task)
    size = t.input_size
    priority = getattr(t, "priority_channel", None)
    if text is None or not str(text).strip():
        return None, "the input is empty: type one row of bits per time step"
    if len(text) > MAX_TYPED_CHARS:
        return None, f"the input is too long ({len(text)} characters; at most {MAX_TYPED_CHARS})"
    lines = [line.strip() for line in str(text).strip().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > MAX_TYPED_STEPS:
        return None, f"{len(lines)} rows typed; at most {MAX_TYPED_STEPS} time steps are allowed"
    rows = []
    for number, line in enumerate(lines, start=1):
        tokens = line.replace(",", " ").split()
        if len(tokens) == 1 and len(tokens[0]) > 1 and tokens[0].isdigit():
            tokens = list(tokens[0])                  # compact form: one character per channel
        if len(tokens) != size:
            return None, (f"row {number} has {len(tokens)} value{'s' if len(tokens) != 1 else ''}; {task} needs "
                          f"{size} per row (e.g. {'0' * size})")
        row = []
        for channel, token in enumerate(tokens):
            try:
                value = float(token)
            except ValueError:
                return None, f"row {number}, channel {channel}: {_shown(token)} is not a number"
            if channel == priority:
                if not -1.0 <= value <= 1.0:
                    return None, f"row {number}, channel {channel} (priority) must be in [-1, 1], got {token}"
            elif value not in (0.0, 1.0):
                return None, f"row {number}, channel {channel}: bits must be 0 or 1, got {_shown(token)}"
            row.append(value)
        rows.append(row)
    return rows, None


def format_bits(rows, task: str) -> str:
    """Rows [T][input_size] -> the text parse_bits reads (compact 0/1 rows when every value is a bit)."""
    lines = []
    for row in rows:
        if all(float(v) in (0.0, 1.0) for v in row):
            lines.append("".join(str(int(float(v))) for v in row))
        else:
            lines.append(" ".join(f"{float(v):g}" for v in row))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ session state

KEEP = "keep_"   # widget keys with this prefix survive visits to other pages


def keep_widget_state() -> None:
    """Streamlit drops a widget's state when a run does not draw it (another page): re-assign ours."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEEP):
            st.session_state[key] = st.session_state[key]


def apply_query_params(page: str, defaults: dict, allowed_models=MODELS) -> list[str]:
    """Once per session and page: valid query params -> widget state; returns the problems to show."""
    done = f"_qp_done_{page}"
    problems: list[str] = []
    if not st.session_state.get(done):
        values, problems = validate_params(st.query_params.to_dict(), allowed_models)
        for key, value in values.items():
            if key in defaults:
                st.session_state[f"{KEEP}{page}_{key}"] = value
        st.session_state[done] = True
    for key, value in defaults.items():
        st.session_state.setdefault(f"{KEEP}{page}_{key}", value)
    return problems


def get(page: str, key: str):
    return st.session_state.get(f"{KEEP}{page}_{key}")


def put(page: str, key: str, value) -> None:
    st.session_state[f"{KEEP}{page}_{key}"] = value


def write_query_params(values: dict) -> None:
    """Mirror the shareable state into the URL (only when something changed)."""
    wanted = {k: str(v) for k, v in values.items() if v is not None}
    current = st.query_params.to_dict()
    if current != wanted:
        st.query_params.from_dict(wanted)


# ------------------------------------------------------------------------------------------ models

def pretrained_name(kind: str, task: str) -> str:
    return f"{kind}-{task}"


def pretrained_module():
    # importlib, not `samviz.pretrained`: samviz/__init__.py's lazy __getattr__ recurses on first access
    import importlib
    return importlib.import_module("samviz.pretrained")


def pretrained_available() -> tuple[list[str], str | None]:
    try:
        return list(pretrained_module().available()), None
    except Exception as error:     # the module may be missing or broken: the app still works untrained
        return [], f"{type(error).__name__}: {error}"


def _untrained(kind: str, task: str, index: str, slots: int):
    t = task_info(task)
    return samviz.build_model(kind, input_size=t.input_size, output_size=t.output_size,
                              memory_slots=int(slots), heads=UNTRAINED_HEADS.get(kind, 1),
                              index=index if kind in SPARSE_MODELS else "exact", seed=0, **UNTRAINED)


@st.cache_resource(max_entries=24, show_spinner="Loading the model…")
def load_model(kind: str, task: str, index: str = "exact", slots="default"):
    """-> (model, info). info: {"source": "pretrained"|"untrained", "name", "note", "metrics", "level"}.

    Pretrained weights when samviz.pretrained has them (slots other than "default" override the memory
    size, which the weights do not depend on); otherwise an untrained model with small defaults.
    Raises ValueError only when even the untrained model cannot be built (e.g. a core not installed).
    """
    if kind not in MODELS or task not in TASKS or index not in INDEXES:
        raise ValueError(f"unknown model/task/index {kind!r}/{task!r}/{index!r}")
    if slots != "default" and slots not in slot_choices(kind):
        raise ValueError(f"memory slots for {kind} must be one of {', '.join(map(str, slot_choices(kind)))}")
    name = pretrained_name(kind, task)
    names, problem = pretrained_available()
    note = None
    if problem:
        note = f"pretrained models cannot be listed ({problem})"
    elif name in names:
        try:
            pretrained = pretrained_module()
            overrides = {} if slots == "default" else {"memory_slots": int(slots)}
            model = pretrained.load(name, index=index if kind in SPARSE_MODELS else None, **overrides)
            model.eval()
            meta = getattr(model, "meta", {}) or {}
            return model, {"source": "pretrained", "name": name, "note": None,
                           "metrics": meta.get("metrics"), "level": meta.get("level"),
                           "meets_target": meta.get("meets_target")}
        except Exception as error:
            note = f"the pretrained checkpoint {name} could not be loaded ({type(error).__name__}: {error})"
    else:
        note = f"no pretrained checkpoint {name} yet"
    try:
        model = _untrained(kind, task, index, DEFAULT_SLOTS if slots == "default" else slots)
    except ModuleNotFoundError as error:
        raise ValueError(f"the {kind} memory is not available in this samviz yet ({error})") from None
    except Exception as error:
        raise ValueError(f"cannot build an untrained {kind}: {type(error).__name__}: {error}") from None
    model.eval()
    return model, {"source": "untrained", "name": name, "note": note, "metrics": None, "level": None,
                   "meets_target": None}


def describe_model(model) -> str:
    c = model.config
    text = f"{c.kind.upper()}: {c.memory_slots} slots × {c.word_size}, {c.heads} read head{'s' if c.heads != 1 else ''}"
    if c.kind in SPARSE_MODELS:
        text += f", K = {c.k}, {c.index} index"
    return text + f", LSTM controller {c.controller_size}"


# ------------------------------------------------------------------------------------------ episodes and traces

def episode(task: str, level: int, seed: int, bits: tuple | None):
    """-> (inputs [T,1,I], targets or None, mask or None, level). Typed bits have no targets."""
    import torch
    if bits is not None:
        x = torch.tensor(bits, dtype=torch.float32).unsqueeze(1)
        return x, None, None, None
    t = task_info(task)
    ep = t.sample(batch_size=1, level=int(level), generator=torch.Generator().manual_seed(int(seed)))
    return ep.inputs, ep.targets, ep.mask, ep.level


@st.cache_data(max_entries=48, show_spinner="Running the episode…")
def get_trace(kind: str, task: str, level: int, seed: int, bits: tuple | None = None, index: str = "exact",
              slots="default"):
    """The traced episode (batch element 0) for these settings; cached per settings."""
    model, info = load_model(kind, task, index, slots)
    x, targets, mask, level_used = episode(task, level, seed, bits)
    trace = model.trace(x, targets=targets, mask=mask, task=task)
    trace.meta = {**trace.meta, "app": {"source": info["source"], "seed": None if bits else int(seed),
                                        "level": level_used, "typed_input": bits is not None}}
    return trace


def step_times_ms(model, x, repeats: int = 3) -> list[float]:
    """Wall time of each step of a plain forward (no recording, no gradients), best of `repeats`.

    Times are taken with time.perf_counter at every call of the controller (one per step) on a private
    copy of the model, so the shared cached model is never touched.
    """
    import torch
    clone = copy.deepcopy(model).eval()
    stamps: list[float] = []
    handle = clone.controller.register_forward_pre_hook(lambda module, args: stamps.append(time.perf_counter()))
    best: list[float] | None = None
    try:
        with torch.no_grad():
            for _ in range(repeats):
                stamps.clear()
                clone.run(x)
                marks = stamps + [time.perf_counter()]
                times = [(b - a) * 1000.0 for a, b in zip(marks, marks[1:])]
                best = times if best is None else [min(a, b) for a, b in zip(best, times)]
    finally:
        handle.remove()
    return best or []


@st.cache_data(max_entries=48, show_spinner="Timing the forward pass…")
def get_step_times(kind: str, task: str, level: int, seed: int, index: str = "exact", slots="default") -> list[float]:
    model, _ = load_model(kind, task, index, slots)
    x, _, _, _ = episode(task, level, seed, None)
    return step_times_ms(model, x)
