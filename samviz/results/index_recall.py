"""The faiss index on the memories the shipped sparse models write: recall against an exact search of the same
live memory, what a step's index work costs, and what the index searched — at the trained length and far past it.

For each shipped SAM/SDNC checkpoint, a memory of N slots and an episode level (its task's trained maximum,
GENERALISATION_FACTOR times it, and for copy one episode long enough (LONG_LEVELS, through
samviz.tasks.LongTask) that the index's recent part overflows into its clusters), on fresh seeded episodes (seed
SEED + level):

1. index="faiss", every search also answered by an ExactIndex over the same live memory (samviz.evaluate_scale's
   Probe): recall@K by ids (ties with the exact K-th cosine within evaluate_scale.TIE count), top-1 found,
   queries that found none of the written rows their exact top-K held; the faiss index's own search + update
   time per step; the index's describe() and last_stats after the last batch (what it is, what it searched);
2. index="exact": the exact scan's search + update time per step on the same episodes, for the cost beside it.

A trace of the first batch element's index, step by step (at most TRACE_POINTS points, in bins of steps): how many
rows it had written, how many sat in the part searched exactly and how many among the clustered older rows, and
the recall of the searches in that bin. Times are the index's own search + update per step (the checked pass's
exact answers are not in them), one thread, forward only; the index's reset at the start of a batch is not
counted. Bit errors per sequence of both passes are kept (the same episodes).
"""
from __future__ import annotations

import math

import torch

SEED = 7_000_000          # far from training seeds, samviz.evaluate's 1234 and evaluate_scale's seed
BATCH_SIZE = 8
PLANS = {   # N, episodes per (model, level) at the trained and 10x levels; one episode at a LONG_LEVELS level
    "full": {"slots": (1 << 16, 1 << 20), "episodes": 16},
    "quick": {"slots": (1 << 16,), "episodes": 8},
}
LONG_LEVELS = {"copy": 2500}     # T = 5,001 steps: sam-copy writes ~2 new rows a step, past the recent part
TRACE_POINTS = 120


def levels(task_name: str) -> tuple[int, ...]:
    """The trained maximum of the task, GENERALISATION_FACTOR times it, and its LONG_LEVELS level if it has one."""
    from samviz import tasks
    task = tasks.get(task_name)
    return (task.max_level, tasks.GENERALISATION_FACTOR * task.max_level,
            *((LONG_LEVELS[task_name],) if task_name in LONG_LEVELS else ()))


def plan(name: str) -> list[tuple[str, int, int, int]]:
    """(checkpoint, N, level, episodes) for every shipped sparse checkpoint."""
    from samviz import evaluate_scale
    import samviz.pretrained as pretrained
    settings = PLANS[name]
    out = []
    for slots in settings["slots"]:
        for model in evaluate_scale.sparse_models():
            task = pretrained.read_meta(model)["task"]
            for level in levels(task):
                out.append((model, slots, level, 1 if level == LONG_LEVELS.get(task) else settings["episodes"]))
    return out


def _task(name: str, level: int):
    from samviz import tasks
    task = tasks.get(name)
    return tasks.LongTask(task, level) if level > tasks.GENERALISATION_FACTOR * task.max_level else task


def _binned(trace: list[dict], k: int) -> list[dict]:
    """The per-search trace in at most TRACE_POINTS bins of consecutive searches: the last sizes of each bin and
    the recall of its searches."""
    if not trace:
        return []
    size = -(-len(trace) // TRACE_POINTS)
    out = []
    for start in range(0, len(trace), size):
        chunk = trace[start:start + size]
        queries = sum(c["queries"] for c in chunk)
        out.append({"step": start + len(chunk) - 1, "written": chunk[-1]["written"], "recent": chunk[-1]["recent"],
                    "older": chunk[-1]["older"],
                    "recall": sum(c["hits"] for c in chunk) / (queries * k) if queries else None})
    return out


def _trace(probe, trace: list[dict]) -> None:
    """Record, after every search of `probe` (an evaluate_scale Probe), the inner index's parts for batch element 0
    and that search's hits."""
    search = probe.search

    def traced(queries, k):
        hits, queries_before = probe.stats["hits"], probe.stats["queries"]
        found = search(queries, k)
        inner = probe.inner
        written, older = getattr(inner, "written", None), getattr(inner, "older", None)
        trace.append({"written": int(written.total[0]) if written is not None else None,
                      "recent": int(written.count[0]) if written is not None else None,
                      "older": int(older.live[0]) if older is not None else None,
                      "hits": probe.stats["hits"] - hits, "queries": probe.stats["queries"] - queries_before})
        return found
    probe.search = traced


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    try:
        return _json_safe(value.item())
    except AttributeError:
        return str(value)


def _pass(model, task, level: int, episodes: int, seed: int, check: bool) -> dict:
    from samviz import evaluate_scale
    from samviz import tasks as tasks_module
    generator = torch.Generator().manual_seed(seed + level)
    errors, steps, index, length = 0.0, 0, None, 0
    trace: list[dict] = []
    with evaluate_scale.probing(check=check) as log, torch.no_grad():
        for start in range(0, episodes, BATCH_SIZE):
            size = min(BATCH_SIZE, episodes - start)
            episode = task.sample(batch_size=size, level=level, generator=generator)
            state = model.core.initial_state(size)
            probe = getattr(getattr(state, "memory", None), "index", None)
            if check and start == 0 and probe is not None and hasattr(probe, "inner"):
                _trace(probe, trace)
            logits, _ = model.run(episode.inputs, memory_state=state)
            steps += episode.inputs.shape[0]
            length = episode.inputs.shape[0]
            errors += tasks_module.bit_errors_per_sequence(logits, episode) * size
            index = getattr(getattr(state, "memory", None), "index", None)
    inner = getattr(index, "inner", index)
    return {"bit_errors": errors / episodes, "steps_per_episode": length, "trace": trace,
            "index_ms_per_step": sum(s["search_s"] + s["update_s"] for s in log) / steps * 1e3,
            "stats": list(log), "describe": inner.describe() if inner is not None else None,
            "last_stats": _json_safe(getattr(inner, "last_stats", None))}


def measure(name: str, slots: int, level: int, episodes: int, seed: int = SEED) -> dict:
    """One shipped sparse checkpoint at N = slots on `episodes` episodes of `level` -> one row."""
    from samviz import evaluate_scale
    from samviz import tasks as tasks_module
    import samviz.pretrained as pretrained
    faiss_model = pretrained.load(name, index="faiss", memory_slots=slots)
    task = _task(faiss_model.meta["task"], level)
    checked = _pass(faiss_model, task, level, episodes, seed, check=True)
    del faiss_model
    exact = _pass(pretrained.load(name, index="exact", memory_slots=slots), task, level, episodes, seed, check=False)
    summary = evaluate_scale.summarise(checked["stats"])
    config = pretrained.read_meta(name)["config"]
    return {"model": name, "kind": config["kind"], "task": task.name, "slots": slots, "level": level,
            "trained_max_level": tasks_module.get(task.name).max_level, "episodes": episodes, "batch_size": BATCH_SIZE,
            "steps_per_episode": checked["steps_per_episode"], "k": config["k"], "heads": config["heads"],
            "word_size": config["word_size"],
            "initial_rows": config.get("initial_rows"), **summary,
            "bit_errors_faiss": checked["bit_errors"], "bit_errors_exact": exact["bit_errors"],
            "faiss_index_ms_per_step": checked["index_ms_per_step"], "exact_index_ms_per_step":
            exact["index_ms_per_step"], "index": checked["describe"], "index_stats": checked["last_stats"],
            "trace": _binned(checked["trace"], config["k"]), "status": "ok", "tie": evaluate_scale.TIE}
