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

Large sparse memories (SAM and SDNC above LARGE_MEMORY_SLOTS = 4096 slots, up to 2^20; issue 13 item 4) add
LARGE_MEMORY_BYTES (1,296 MiB: 896 for one run, 400 for one resident index structure at 2^20 × 32) on top of
SERVER_BUDGET_BYTES, whatever is asked for:

    one run  at a time on the server (LARGE_RUN, a lock: a second visitor waits, with a message, at most
             LARGE_RUN_WAIT_S, then is told to try again). The player's long episodes (long_episode.py) take the
             same lock at every memory size (long_run: a wait that a visitor leaving ends, released in finally),
             and their episodes × run_bytes (no trace) stay within LARGE_RUN_BYTES (long_run_problem).
             A run's memory is its N×W buffer plus the O(N)
             tables of the core, the index and the trace recorder (run_bytes, an over-estimate checked against
             the kernel's peak RSS in tests/test_player_scale.py); a model whose run_bytes passes
             LARGE_RUN_BYTES is refused before anything is allocated.
    one index structure  over a large memory's initial rows (samviz/memory/index_parts.py: the HNSW, N×(4W + 144)
             bytes, and the initial rows it compares memories with, N×4W: ~304 MiB at 2^20 × 20) stays resident
             after a run (keep_one_large_structure); another size is read back from its disk cache in about a
             second. Measured (one process, sam-copy at 2^20, 2^16, 2^20 with faiss, then exact, ...): RSS went
             251 → 610 → 331 → 616 → 617 → 337 → 622 MiB (faiss imported by the first; the 2^20 structure
             resident or not). Building one the first time at a size takes minutes at 2^20 on a small server (all
             its cores); the player says so while it waits.

Nothing runs for a visitor who has left (issue 29, item 8). A build of that structure for a visitor's run (player
or long episode) runs in a worker process (samviz/memory/index_cache.py, `watched`) polled by a page_ticker
that touches the page every quarter second; when the visitor closes the tab, Streamlit stops their script at the
next touch, which kills the worker (measured: gone 0.2-0.3 s after the tab closed, at 2^18 slots) and releases
LARGE_RUN on the way out. A visitor waiting for LARGE_RUN touches the page the same way, so one who leaves
stops waiting and never takes the lock.
"""
from __future__ import annotations

from collections.abc import Callable
import contextlib
import functools
import threading
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import samviz
from samviz.app import params, timing, trace_cache
from samviz.kinds import INDEXES, MODELS, spec
from samviz.trace.schema import SPARSE_USAGE_LIMIT

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

LARGE_MEMORY_SLOTS = 4096     # sparse memories above this many slots run one at a time (LARGE_RUN)
LARGE_RUN_BYTES = 896 * MIB   # the most one large run may take (run_bytes); a model that would take more is refused
HNSW_BYTES_PER_ROW = 144      # an initial-rows HNSW (M 16): 2·M int32 links per row + level bookkeeping, beside its
                              # 4·W bytes of vectors and the 4·W of the initial row itself (InitialRows.rows)
LARGEST_WORD = 32             # the widest word a large memory may have here (the shipped models: 20 and 24)
LARGE_INDEX_BYTES = params.MAX_APP_SLOTS * (8 * LARGEST_WORD + HNSW_BYTES_PER_ROW)
LARGE_MEMORY_BYTES = LARGE_RUN_BYTES + LARGE_INDEX_BYTES
LARGE_RUN_WAIT_S = 300        # how long a visitor waits for another visitor's large run before being told to retry
LARGE_RUN = threading.Lock()


class ServerBusy(ValueError):
    """Another visitor's large-memory run held the server longer than LARGE_RUN_WAIT_S."""


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
    if is_large(kind, slots) and (run_bytes(model.config) > LARGE_RUN_BYTES
                                  or model.config.word_size > LARGEST_WORD):
        raise ValueError(f"one episode of {name} at {int(slots):,} slots (word size {model.config.word_size}) would "
                         f"take about {run_bytes(model.config) / MIB:.0f} MiB; this server runs large memories "
                         f"within {LARGE_RUN_BYTES // MIB} MiB and words of at most {LARGEST_WORD} numbers")
    model.eval()
    return model, info


def describe_model(model) -> str:
    c = model.config
    heads = f"{c.heads} read head{'s' if c.heads != 1 else ''}"
    text = f"{c.kind.upper()}: {c.memory_slots:,} slots × {c.word_size}, {heads}"
    if spec(c.kind).sparse:
        text += f", K = {c.k}, {c.index} index"
    return text + f", LSTM controller {c.controller_size}"


# ------------------------------------------------------------------------------------------ large memories

def is_large(kind: str, slots) -> bool:
    """A sparse memory above LARGE_MEMORY_SLOTS: runs one at a time, within LARGE_RUN_BYTES."""
    return spec(kind).sparse and slots != "default" and int(slots) > LARGE_MEMORY_SLOTS


@functools.cache
def longest_episode() -> int:
    """The most steps an episode of the app has: every task at the highest level a visitor may ask for, or typed
    bits (params.MAX_TYPED_STEPS rows)."""
    import torch
    lengths = [params.MAX_TYPED_STEPS]
    for task in params.TASKS:
        level = params.level_range(task)[1]
        episode = params.task_info(task).sample(1, level=level, generator=torch.Generator().manual_seed(0))
        lengths.append(int(episode.inputs.shape[0]))
    return max(lengths)


def run_bytes(config, steps: int | None = None) -> int:
    """An over-estimate of the memory one traced run of a sparse model takes beyond the process (batch 1):
    per slot, the N×W buffer and about four N×W temporaries (the recorder's exact neighbours copy and normalise
    the memory; the exact index scores it), the R-head score rows, the usage tracker's queue and the journal's
    and the index's position maps (~128 bytes), the SDNC's sparse links (ids and values, K_L each way), and up
    to SPARSE_USAGE_LIMIT slots the usage the trace keeps per step (`steps`: by default the longest episode).
    Measured (kernel peak RSS while recording at 2^18 slots, exact index; tests/test_player_scale.py checks it):
    sam-copy 93-117 MiB against this 140 MiB, sdnc-associative_recall 164 MiB against 208 MiB; at 2^16 slots
    with usage, sam-copy level 40 (81 steps) 66 MiB against 117 MiB."""
    per_slot = 20 * config.word_size + 16 * config.heads + 128
    if spec(config.kind).temporal_links:
        per_slot += 24 * config.link_k
    if int(config.memory_slots) <= SPARSE_USAGE_LIMIT:
        # the usage vector the trace keeps at every step: a list of small ints (8-byte pointers) until it is
        # compacted into int32 arrays, both held for a moment
        per_slot += 16 * (longest_episode() if steps is None else int(steps))
    return int(config.memory_slots) * per_slot


def index_structure(config) -> str | None:
    """What a run's faiss index needs over the memory's initial rows before its first step: None when it needs
    nothing (exact index, a small memory, zero initial rows), "resident" (built in this process), "on disk"
    (read back from samviz's index cache in about a second) or "build" (the first time at this size on this
    server: minutes at 2^20)."""
    import torch

    from samviz.memory import index_parts
    from samviz.memory.index import FLAT_BELOW
    from samviz.memory.initial import JITTER_SEED
    if not spec(config.kind).sparse or config.index != "faiss" or config.memory_slots < FLAT_BELOW \
            or config.initial_rows != "jittered":
        return None
    key = (config.memory_slots, config.word_size, torch.float32, "jittered", JITTER_SEED)
    if key in index_parts._INITIAL_CACHE:
        return "resident"
    return "on disk" if _on_disk(config.memory_slots, config.word_size) else "build"


def _on_disk(slots: int, word_size: int) -> bool:
    """The disk cache holds an entry for this size that describes itself as the structure a run would build
    (index_cache.status; the digests are checked when it is read, and a run that finds it bad rebuilds it and
    says so: index_built)."""
    from samviz.memory import index_cache
    return index_cache.status(slots, word_size) == "on disk"


def index_built(config, before: str | None) -> str | None:
    """What the run that just ended did for its index structure, as index_structure names it: `before` (what
    index_structure said before the run) unless the disk cache's entry failed its checks and was rebuilt
    ("rebuilt"), or was read back after all ("on disk"). The player's sentence about the cache comes from this."""
    import torch

    from samviz.memory import index_parts
    from samviz.memory.initial import JITTER_SEED
    if before not in ("build", "on disk"):
        return before
    key = (config.memory_slots, config.word_size, torch.float32, "jittered", JITTER_SEED)
    structure = index_parts._INITIAL_CACHE.get(key)
    loaded = getattr(structure, "disk_cache", None)
    if loaded is None:
        return before
    return {"read": "on disk", "built": "build", "rebuilt": "rebuilt"}[loaded.outcome]


def cache_place(slots: int) -> str:
    """Where an index structure built at this size is kept for later episodes (index_parts: on disk from
    DISK_CACHE_FROM slots, when the cache directory is on)."""
    from samviz.memory import index_parts
    if slots >= index_parts.DISK_CACHE_FROM and index_parts._cache_dir() is not None:
        return "on disk for every visitor"
    return "in this server's memory"


def keep_one_large_structure() -> None:
    """Drop every index structure over a large memory's initial rows from the process except the most recently
    used, when its disk copy exists (so the next visit at that size reads it back in about a second)."""
    from samviz.memory import index_parts
    cache = index_parts._INITIAL_CACHE
    large = [key for key in cache if key[0] >= index_parts.DISK_CACHE_FROM]
    for key in large[:-1]:
        if _on_disk(key[0], key[1]):
            cache.pop(key, None)


@contextlib.contextmanager
def large_run(kind: str, slots, wait: bool = True, tick: Callable[[float], None] | None = None):
    """Hold LARGE_RUN for a large memory's run (nothing for others); ServerBusy after LARGE_RUN_WAIT_S, or at
    once when not `wait`. While it waits, tick(seconds waited) is called about every half second: what it raises
    (Streamlit stopping the page of a visitor who left) ends the wait, so the lock never goes to someone gone."""
    if not is_large(kind, slots):
        yield
        return
    acquired, start = LARGE_RUN.acquire(blocking=False), time.monotonic()
    while wait and not acquired and time.monotonic() - start <= LARGE_RUN_WAIT_S:
        if tick is not None:
            tick(time.monotonic() - start)
        acquired = LARGE_RUN.acquire(timeout=min(0.5, LARGE_RUN_WAIT_S))
    if not acquired:
        raise ServerBusy(f"another visitor's large-memory episode has held this server for over "
                         f"{LARGE_RUN_WAIT_S // 60} minutes; try again in a minute, or choose 4096 slots or fewer")
    try:
        yield
    finally:
        keep_one_large_structure()
        LARGE_RUN.release()


def page_ticker(what: str) -> Callable[[float], None] | None:
    """In a page, a tick(seconds) that writes "<what>: N s" into a placeholder of its own (made on the first
    tick): touching the page is what lets Streamlit stop the script of a visitor who left (the next touch raises).
    None outside a page (tests, scripts): their builds run in their own process, as a library call."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    placeholder = []

    def tick(seconds: float) -> None:
        if not placeholder:
            placeholder.append(st.empty())
        placeholder[0].caption(f"{what}: {seconds:.0f} s")

    def clear() -> None:
        if placeholder:
            placeholder[0].empty()
    tick.clear = clear
    return tick


@contextlib.contextmanager
def long_run(waiting=None):
    """Hold LARGE_RUN for one long episode (long_episode.py), whatever its memory size: one long or large run at a
    time on the server. While another visitor's run holds it, calls waiting(seconds waited) about every half
    second (whatever that raises, e.g. Streamlit stopping a page the visitor left, ends the wait); ServerBusy after
    LARGE_RUN_WAIT_S. The lock is released however the run ends."""
    start = time.monotonic()
    while not LARGE_RUN.acquire(timeout=0.5):
        waited = time.monotonic() - start
        if waited > LARGE_RUN_WAIT_S:
            raise ServerBusy(f"another visitor's long or large-memory episode has held this server for over "
                             f"{LARGE_RUN_WAIT_S // 60} minutes; try again in a minute")
        if waiting is not None:
            waiting(waited)
    try:
        # a faiss index built for this run stops when the visitor leaves (index_cache.watched: a worker process)
        from samviz.memory import index_cache
        with index_cache.watched(page_ticker("Building the faiss index over the initial rows")):
            yield
    finally:
        try:
            keep_one_large_structure()
        finally:
            LARGE_RUN.release()


def long_run_problem(model, episodes: int) -> str | None:
    """Why `episodes` long episodes of `model` at once would not fit this server (None when they fit): the run's
    memory (run_bytes with no trace, per episode) must stay within LARGE_RUN_BYTES."""
    c = model.config
    need = run_bytes(c, steps=0) * int(episodes)
    if need <= LARGE_RUN_BYTES and c.word_size <= LARGEST_WORD:
        return None
    return (f"{episodes} episode{'s' if episodes != 1 else ''} of {c.kind.upper()} at {c.memory_slots:,} slots "
            f"(word size {c.word_size}) would take about {need / MIB:,.0f} MiB; this server runs one long episode "
            f"within {LARGE_RUN_BYTES // MIB} MiB and words of at most {LARGEST_WORD} numbers: choose fewer episodes "
            "or fewer slots")


def run_message(kind: str, task: str, index: str, slots) -> str:
    """What the spinner says while an episode is recorded: for a large memory, what is being built and why."""
    if not is_large(kind, slots):
        return "Running the episode…"
    model, _ = load_model(kind, task, index, slots)
    c = model.config
    waiting = ("Another visitor's large-memory episode is running on this server (one runs at a time); waiting "
               "for it, then: " if LARGE_RUN.locked() else "")
    status = index_structure(c)
    if status == "build":
        what = (f"building the faiss index (an HNSW graph) over this memory's {c.memory_slots:,} initial rows of "
                f"{c.word_size} numbers — the first time at this size on this server, then cached "
                f"{cache_place(c.memory_slots)}. At 2^20 slots that can take several minutes on a small or busy "
                "server (it uses all its cores) — then recording the episode")
    elif status == "on disk":
        what = f"reading the cached faiss index for {c.memory_slots:,} slots from disk, then recording the episode"
    elif c.index == "exact":
        what = (f"recording the episode with the exact index: every step scans all {c.memory_slots:,} rows "
                "(O(N) per step, the cost the faiss index avoids)")
    elif c.initial_rows == "zero":
        what = (f"recording the episode at {c.memory_slots:,} slots (this memory starts from zero rows: the faiss "
                "index has nothing to build and searches only the rows written so far)")
    else:
        what = f"recording the episode at {c.memory_slots:,} slots"
    text = waiting + what
    return text[0].upper() + text[1:] + "…"


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
                 slots="default", tick: Callable[[float], None] | None = None):
    """The traced episode (batch element 0) for these settings, compact (trace_cache.compact_trace); not cached.

    tick(seconds), when given (get_trace in a page: page_ticker), is called about every half second while the
    run waits for another visitor's large run, and while a faiss index is built for it (in a worker process,
    index_cache.watched); what it raises (the visitor left) ends the wait or kills the build, and propagates."""
    from samviz.memory import index_cache
    model, info = load_model(kind, task, index, slots)
    x, targets, mask, level_used = episode(task, level, seed, bits)
    with large_run(kind, slots, tick=tick), index_cache.watched(tick):
        structure = index_structure(model.config)
        start = time.perf_counter()
        trace = model.trace(x, targets=targets, mask=mask, task=task)
        seconds = time.perf_counter() - start
        structure = index_built(model.config, structure)      # what happened, not what was expected
    # how long this server took to record it, and what the index needed first (the player says both)
    trace.meta = {**trace.meta, "app": {"source": info["source"], "seed": None if bits else int(seed),
                                        "level": level_used, "typed_input": bits is not None,
                                        "record_s": round(seconds, 3), "index_structure": structure}}
    return trace_cache.compact_trace(trace)


def get_trace(kind: str, task: str, level: int, seed: int, bits: tuple | None = None, index: str = "exact",
              slots="default"):
    """record_trace, cached per settings in TRACES (bounded in bytes). The trace is shared: read it only."""
    key = (kind, task, int(level), int(seed), bits, index, slots)
    in_a_page = get_script_run_ctx(suppress_warning=True) is not None      # not in plain tests
    tick = page_ticker("Running") if in_a_page and is_large(kind, slots) else None

    def compute():
        return record_trace(kind, task, level, seed, bits, index, slots, tick=tick)

    if key in TRACES or not in_a_page:
        return TRACES.get_or_compute(key, compute)
    # the spinner covers waiting too: for another visitor's run of the same episode, or any large run
    with st.spinner(run_message(kind, task, index, slots), show_time=True):
        trace = TRACES.get_or_compute(key, compute)
    if tick is not None:
        tick.clear()                  # the ticker's line goes with the spinner
    return trace


@st.cache_data(max_entries=TIMING_CACHE_ENTRIES, show_spinner="Timing the forward pass…")
def get_step_times(kind: str, task: str, level: int, seed: int, index: str = "exact", slots="default",
                   bits: tuple | None = None, wait: bool = True) -> list[float]:
    """Per step, the plain forward pass's wall time in ms (timing.step_times_ms: best of 3, no recording).
    A large memory waits for another visitor's large run (ServerBusy past LARGE_RUN_WAIT_S), or with wait=False
    raises ServerBusy at once (nothing is cached then)."""
    model, _ = load_model(kind, task, index, slots)
    x, _, _, _ = episode(task, level, seed, bits)
    with large_run(kind, slots, wait):
        return timing.step_times_ms(model, x)[:MAX_STEPS]
