"""The faiss index on the memories the shipped sparse models write: recall against an exact search of the same
live memory, what a step's index work costs, and what the index searched — at the trained length and far past it.

For each shipped SAM/SDNC checkpoint, a memory of N slots and an episode level (its task's trained maximum, and
GENERALISATION_FACTOR times it: a long episode writes many more rows), on fresh seeded episodes (seed SEED + level):

1. index="faiss", every search also answered by an ExactIndex over the same live memory (samviz.evaluate_scale's
   Probe): recall@K by ids (ties with the exact K-th cosine within evaluate_scale.TIE count), top-1 found,
   queries that found none of the written rows their exact top-K held; the faiss index's own search + update
   time per step; the index's describe() and last_stats after the last batch (what it is, what it searched);
2. index="exact": the exact scan's search + update time per step on the same episodes, for the cost beside it.

Times are the index's own search + update per step (the checked pass's exact answers are not in them), one
thread, forward only; the index's reset at the start of a batch is not counted. Bit errors per sequence of
both passes are kept (the same episodes).
"""
from __future__ import annotations

import math

import torch

SEED = 7_000_000          # far from training seeds, samviz.evaluate's 1234 and evaluate_scale's seed
BATCH_SIZE = 8
PLANS = {   # N, episodes per (model, level)
    "full": {"slots": (1 << 16, 1 << 20), "episodes": 16},
    "quick": {"slots": (1 << 16,), "episodes": 8},
}


def levels(task_name: str) -> tuple[int, int]:
    """The trained maximum of the task and GENERALISATION_FACTOR times it."""
    from samviz import tasks
    task = tasks.get(task_name)
    return task.max_level, tasks.GENERALISATION_FACTOR * task.max_level


def plan(name: str) -> list[tuple[str, int, int, int]]:
    """(checkpoint, N, level, episodes) for every shipped sparse checkpoint."""
    from samviz import evaluate_scale
    import samviz.pretrained as pretrained
    settings = PLANS[name]
    return [(model, slots, level, settings["episodes"])
            for slots in settings["slots"] for model in evaluate_scale.sparse_models()
            for level in levels(pretrained.read_meta(model)["task"])]


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
    with evaluate_scale.probing(check=check) as log, torch.no_grad():
        for start in range(0, episodes, BATCH_SIZE):
            size = min(BATCH_SIZE, episodes - start)
            episode = task.sample(batch_size=size, level=level, generator=generator)
            state = model.core.initial_state(size)
            logits, _ = model.run(episode.inputs, memory_state=state)
            steps += episode.inputs.shape[0]
            length = episode.inputs.shape[0]
            errors += tasks_module.bit_errors_per_sequence(logits, episode) * size
            index = getattr(getattr(state, "memory", None), "index", None)
    inner = getattr(index, "inner", index)
    return {"bit_errors": errors / episodes, "steps_per_episode": length,
            "index_ms_per_step": sum(s["search_s"] + s["update_s"] for s in log) / steps * 1e3,
            "stats": list(log), "describe": inner.describe() if inner is not None else None,
            "last_stats": _json_safe(getattr(inner, "last_stats", None))}


def measure(name: str, slots: int, level: int, episodes: int, seed: int = SEED) -> dict:
    """One shipped sparse checkpoint at N = slots on `episodes` episodes of `level` -> one row."""
    from samviz import evaluate_scale
    from samviz import tasks as tasks_module
    import samviz.pretrained as pretrained
    faiss_model = pretrained.load(name, index="faiss", memory_slots=slots)
    task = tasks_module.get(faiss_model.meta["task"])
    checked = _pass(faiss_model, task, level, episodes, seed, check=True)
    del faiss_model
    exact = _pass(pretrained.load(name, index="exact", memory_slots=slots), task, level, episodes, seed, check=False)
    summary = evaluate_scale.summarise(checked["stats"])
    config = pretrained.read_meta(name)["config"]
    return {"model": name, "kind": config["kind"], "task": task.name, "slots": slots, "level": level,
            "trained_max_level": task.max_level, "episodes": episodes, "batch_size": BATCH_SIZE,
            "steps_per_episode": checked["steps_per_episode"], "k": config["k"], "heads": config["heads"],
            "word_size": config["word_size"],
            "initial_rows": config.get("initial_rows"), **summary,
            "bit_errors_faiss": checked["bit_errors"], "bit_errors_exact": exact["bit_errors"],
            "faiss_index_ms_per_step": checked["index_ms_per_step"], "exact_index_ms_per_step":
            exact["index_ms_per_step"], "index": checked["describe"], "index_stats": checked["last_stats"],
            "status": "ok", "tie": evaluate_scale.TIE}
