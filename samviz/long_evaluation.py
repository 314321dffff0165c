"""A long-curriculum checkpoint far past its trained length: bit errors against chance, step time, rows written
and the index's recall, along episodes of thousands of steps (issue 26, the long-sequence curriculum's test).

    python -m samviz.long_evaluation evaluate --checkpoint experiments/long_curriculum/sam-faiss-65536 \\
        --factors 1,10,100 --slots 1048576 --indexes faiss,exact --episodes 8
    python -m samviz.long_evaluation curriculum --runs experiments/long_curriculum/sam-faiss-65536,...

The checkpoint is a run directory of samviz.training.long_curriculum (model.safetensors + meta.json: the
weights of its latest validation, at curriculum level h) or any checkpoint directory (h: its meta's level, or
--level). For each factor f, level f·h, each memory size and each index (a sparse model; a dense one runs with
its own N unless --dense-slots says otherwise, and has no index), the model runs forward, without gradients,
over --episodes fresh episodes (one count, or one per factor; samviz.tasks.LongTask, seed --seed and the level:
every size and index sees the same episodes) in batches of at most --batch. One row per (level, N, index):

    bit_errors       wrong answer bits per sequence (associative recall: one query per episode, so per query)
    chance           half the scored bits per sequence (associative recall: 9 of the answer's 18 bits)
    ratio_to_chance  bit_errors / chance
    ms_per_step      wall milliseconds per step of the batch, recall checks left out (cpu_ms_per_step: this
                     thread's CPU time, the steadier figure on a shared machine)
    rows_written     distinct slots written by the end, mean over the batch (sparse; a dense step writes all N)
    recall           sparse, faiss: reads against an exact top-K over the memory as it is at that step, sampled
                     about --samples times an episode; a found row tying the exact K-th cosine counts
                     (evaluate_scale.compare_search, as bench/flat_cost does). The exact index: 1 by definition.
    tenths           the same along the episode: per tenth of its steps, ms/step, rows written, recall

Rows where a faiss and an exact row share level, N, seed and episodes are compared (`comparisons`): both
indexes' bit errors, their difference, and the share of episodes whose answer bits are identical.

Bounded before anything is allocated: levels beyond LongTask's longest, episodes longer than --max-steps and
memory estimates above half this machine's available memory are skipped, each with its reason in `skipped`;
a row whose projected time (set-up so far + the steps' rate over what remains, from 5% of its steps on) or
elapsed time passes --max-row-seconds stops at the next tenth and is recorded as skipped with the projection.
Results go to --out (JSON: rows, skipped, comparisons), rewritten after every row; a row already there for the same
checkpoint weights, level, N, index, episodes and seed is not run again (--force reruns), so an interrupted
evaluation continues where it stopped. The checkpoint's two files are copied once at the start (a training run may
be replacing them), so every row of one invocation scores the same weights; each row records the checkpoint's
update, its curriculum level h and ceiling, and is "interim" until the run has met its target at the ceiling.
Progress goes to stderr.

curriculum: per run folder, the level h against updates (meta.json's curriculum advances) and the validations
at h, to assets/long_curriculum/curriculum.json (what the Learning curves page and pretrained/README.md draw).
report: pretrained/README.md's long-curriculum section (between its markers) from those two files: the same
table and sentences the Learning curves page shows.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
from pathlib import Path
import shlex
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from samviz.model import INTERFACE_CLIP
from samviz.study_statistics import bootstrap_mean_interval

PROG = "python -m samviz.long_evaluation"
SEED = 7001                   # fresh episodes: not a training (2001), validation (999...) or generalisation (4242) seed
LEVEL_SEED_STRIDE = 1_000_003  # a level's episodes come from the generator seeded SEED · this + level
DEFAULT_FACTORS = (1, 10, 100)
DEFAULT_SPARSE_SLOTS = 1 << 20
MAX_FACTOR = 1000
MAX_FACTORS = 8
MAX_SIZES = 4
MAX_EVAL_SLOTS = 1 << 21      # a sparse memory; the estimate below bounds batch × N too
MAX_DENSE_SLOTS = 4096        # a dense memory (spec(kind).app_slot_limit)
MAX_EPISODES = 1024
MAX_BATCH = 16
MAX_STEPS = 400_008           # the longest LongTask episode (associative recall at 100,000 items)
DEFAULT_MAX_STEPS = 50_000
MAX_SAMPLES = 1000
DEFAULT_SAMPLES = 20
DEFAULT_MAX_ROW_SECONDS = 1800.0
PROJECT_AFTER = 0.05          # a row is stopped on its projected time once this share of its steps is done
MEMORY_SHARE = 0.5            # a row may use at most this share of the memory available when it is planned
MAX_FILE_BYTES = 16 << 20
DEFAULT_OUT = Path("assets/long_curriculum/evaluation.json")
DEFAULT_CURRICULUM_OUT = Path("assets/long_curriculum/curriculum.json")
KEY_FIELDS = ("weights_sha256", "level", "memory_slots", "index", "episodes", "batch", "seed")


class RowStopped(Exception):
    """A row's projected time passed --max-row-seconds (raised from inside the forward, caught by evaluate_row)."""


# ---------------------------------------------------------------------------------------------- plan
def chance_per_sequence(task, level: int) -> float:
    """Half the scored bits of one episode at `level`: what guessing every answer bit makes. Computed from the
    task's layout (no episode drawn): associative recall scores one item (3 × 6 bits) whatever the level."""
    from samviz import tasks as tasks_module
    if isinstance(task, tasks_module.LongTask):
        task = task.base
    if isinstance(task, tasks_module.AssociativeRecallTask):
        scored_steps = task.item_length
    elif isinstance(task, tasks_module.CopyTask):
        scored_steps = level
    else:
        raise ValueError(f"{task.name}: no long episodes")
    return scored_steps * task.output_size / 2


def estimate_bytes(kind: str, slots: int, word_size: int, heads: int, batch: int, steps: int,
                   input_size: int, output_size: int) -> int:
    """A forward-only row's memory, in bytes, from its settings alone (an upper-side estimate).

    sparse  the buffer B·N·W float32, the pooled store's tables per slot (usage int64, gradient position int64,
            the index's two int32 maps and bitmaps: ~40 bytes), and the recall check's exact index (inverse norms,
            one [B, R, N] score matrix, and its reset's temporaries: two of the buffer's size; measured at 2^20
            slots × 24, 4 episodes, 1,032 steps: a peak of 1,257 MiB with the checks, 489 without)
    dense   the memory and its per-step temporaries, a few B·N·W copies (nothing is kept: no gradients)
    both    the episode (inputs, targets, mask: T·B·(I + O + 1) float32), the logits kept per step (T·B·O float32
            plus ~200 bytes of tensor object each)
    """
    from samviz.kinds import spec
    if spec(kind).sparse:
        memory = batch * slots * (12 * word_size + 40 + 4 + 4 * heads)
    else:
        memory = 8 * batch * slots * word_size * 4
    episode = steps * batch * (input_size + 2 * output_size + 1) * 4 + steps * 200
    return int(memory + episode + (64 << 20))


def available_bytes() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def plan(kind: str, config: dict, task, trained_level: int, factors, sparse_slots, indexes, dense_slots: int | None,
         episodes, batch: int, max_steps: int, memory_budget: int) -> tuple[list[dict], list[dict]]:
    """The rows to run and the ones skipped (each with its reason), cheapest first. Nothing is allocated.
    episodes: one count for every factor, or a list with one per factor (in the order of `factors`)."""
    counts = list(episodes) if isinstance(episodes, list | tuple) else [episodes] * len(factors)
    if len(counts) == 1:
        counts = counts * len(factors)
    if len(counts) != len(factors):
        raise ValueError(f"give one episode count, or one per factor ({len(factors)}), not {len(counts)}")
    from samviz.kinds import spec
    sparse = spec(kind).sparse
    sizes = list(sparse_slots) if sparse else [dense_slots or int(config["memory_slots"])]
    kinds_of_index = list(indexes) if sparse else [None]
    jobs, skipped = [], []
    for factor, episodes in zip(factors, counts, strict=True):
        level = factor * trained_level
        base = dict(factor=factor, level=level)
        if level > task.longest_level:
            for slots in sizes:
                for index in kinds_of_index:
                    skipped.append({**base, "memory_slots": slots, "index": index,
                                    "reason": f"level {level:,} is past the longest {task.name} episode "
                                              f"({task.longest_level:,} items, samviz.tasks.LongTask)"})
            continue
        steps = task.steps(level)
        size = min(batch, episodes)
        for slots in sizes:
            for index in kinds_of_index:
                row = {**base, "steps": steps, "memory_slots": slots, "index": index}
                if steps > max_steps:
                    skipped.append({**row, "reason": f"{steps:,} steps an episode is more than --max-steps "
                                                     f"{max_steps:,}"})
                    continue
                need = estimate_bytes(kind, slots, int(config["word_size"]), int(config["heads"]), size, steps,
                                      int(config["input_size"]), int(config["output_size"]))
                if need > memory_budget:
                    skipped.append({**row, "reason": f"needs about {need / 2**30:.1f} GiB, more than the "
                                                     f"{memory_budget / 2**30:.1f} GiB allowed "
                                                     f"({MEMORY_SHARE:.0%} of the memory available)"})
                    continue
                jobs.append({**row, "episodes": episodes, "batch": size, "estimated_bytes": need})
    jobs.sort(key=lambda j: (j["steps"] * j["episodes"] * (j["memory_slots"] if j["index"] == "exact" else 1),
                             j["memory_slots"], str(j["index"])))
    return jobs, skipped


# ---------------------------------------------------------------------------------------------- one row
def count_written(memory, index, initial_rows: str) -> list[int] | None:
    """Distinct slots written so far, per batch element: the faiss index's own count, or (a zero start) the rows
    of the buffer that are not zero; None for a memory that starts from other rows and keeps no count."""
    written = getattr(index, "written", None)
    if written is not None:
        return [int(v) for v in written.total]
    if initial_rows == "zero":
        return [int(v) for v in (memory.buffer != 0).any(-1).sum(-1)]
    return None


def run_batch(model, episode, samples: int, tick, clock: dict, parts: int = 10, check_exact: bool = False) -> dict:
    """One batch of episodes forward (no gradients) -> per-episode bit errors and answer digests, the wrong bits of
    each answer step, and per part of the episode (`parts` equal runs of steps: tenths for a row, the app's bins) step
    times, rows written and recall. `tick(done_steps)` is called at each part's start (progress, the time limit).
    check_exact: compare an exact index's reads against an exact top-K too (1 by definition: a check of the
    check)."""
    import torch

    from samviz import tasks as tasks_module
    from samviz.evaluate_scale import compare_search
    from samviz.kinds import spec
    from samviz.memory.index import ExactIndex

    core = model.core
    steps, batch = int(episode.inputs.shape[0]), int(episode.inputs.shape[1])
    sparse = spec(model.config.kind).sparse
    state = core.initial_state(batch)
    memory = getattr(state, "memory", None)
    part_steps = max(1, math.ceil(steps / parts))
    sample_every = max(1, math.ceil(steps / max(1, samples)))
    check_seconds, check_cpu = [0.0] * parts, [0.0] * parts
    recall_sums, recall_counts, worst = [0.0] * parts, [0] * parts, [math.inf] * parts
    marks = [(0, time.perf_counter(), time.thread_time())]            # after the set-up: the steps start
    clock["batch_start"] = marks[0][1]
    rows = [None] * parts
    position = {"next": 0, "current": 0}
    index = memory.index if sparse else None
    start = getattr(model.config, "initial_rows", None)
    check = sparse and (model.config.index != "exact" or check_exact) and samples > 0
    if check:
        exact = ExactIndex(batch, model.config.memory_slots, core.word_size)
        search = index.search

        def checked_search(queries, k):
            found = search(queries, k)
            t = position["current"]
            if t % sample_every == 0:
                wall, thread = time.perf_counter(), time.thread_time()
                exact.reset(memory.buffer)
                comparison = compare_search(found, exact.search(queries, k), queries, memory.buffer)
                part = min(parts - 1, t // part_steps)
                value = float(comparison.hits.sum()) / comparison.hits.numel() / k
                recall_sums[part] += value
                recall_counts[part] += 1
                worst[part] = min(worst[part], float(comparison.hits.min()) / k)
                spent, spent_cpu = time.perf_counter() - wall, time.thread_time() - thread
                check_seconds[part] += spent
                check_cpu[part] += spent_cpu
                clock["checks"] += spent
                clock["check_cpu"] += spent_cpu
            return found

        index.search = checked_search

    def before_step(module, args):
        t = position["next"]
        position["current"] = t
        if t and t % part_steps == 0:
            part = t // part_steps - 1
            marks.append((t, time.perf_counter(), time.thread_time()))
            if sparse:
                rows[part] = count_written(memory, index, start)
            tick(t)
        position["next"] = t + 1

    end_episode = core.end_episode

    def counting_end(final_state):           # the last part's time and rows, before the store is given back
        marks.append((steps, time.perf_counter(), time.thread_time()))   # (the episode's end is not a step)
        if sparse:
            rows[min(parts - 1, (steps - 1) // part_steps)] = count_written(memory, index, start)
        return end_episode(final_state)

    handle = model.controller.register_forward_pre_hook(before_step)
    core.end_episode = counting_end
    try:
        with torch.no_grad():
            logits, _ = model.run(episode.inputs, memory_state=state)
    finally:
        handle.remove()
        del core.end_episode                 # the class's method again
        if check:
            index.search = search
    per_step = tasks_module.wrong_bits(logits, episode).sum(dim=2)                   # [T, B]
    wrong = per_step.sum(dim=0)                                                      # [B]
    answer_steps = torch.nonzero(episode.mask.any(dim=1)).flatten()
    answers = ((logits > 0) & (episode.mask.unsqueeze(-1) > 0)).to(torch.uint8)    # the bits a reader sees
    digests = [hashlib.sha256(answers[:, b].numpy().tobytes()).hexdigest()[:16] for b in range(batch)]
    out = []
    for part in range(len(marks) - 1):
        (low, wall0, cpu0), (high, wall1, cpu1) = marks[part], marks[part + 1]
        span = max(1, high - low)
        written = rows[part]
        out.append({"steps": [low, high], "seconds": wall1 - wall0 - check_seconds[part],
                    "cpu_seconds": cpu1 - cpu0 - check_cpu[part],
                    "ms_per_step": 1e3 * (wall1 - wall0 - check_seconds[part]) / span,
                    "rows_written": (sum(written) / len(written)) if written else None,
                    "recall_sum": recall_sums[part], "recall_count": recall_counts[part],
                    "worst_read_recall": worst[part] if worst[part] < math.inf else None})
    return {"bit_errors": [float(v) for v in wrong], "answers": digests, "parts": out,
            "answer_steps": answer_steps.tolist(), "answer_wrong": per_step[answer_steps].tolist(),   # [steps][B]
            "rows_written": [float(v) for v in (rows[min(parts - 1, (steps - 1) // part_steps)] or [])] if sparse
            else None,
            "older_rows": int(index.older.live.sum()) if sparse and getattr(index, "older", None) is not None
            else None}


def evaluate_row(directory: Path, job: dict, seed: int, samples: int, max_seconds: float,
                 progress=sys.stderr, name: str | None = None) -> dict:
    """One planned row (plan()): the checkpoint at the job's N and index over its episodes. Raises RowStopped
    when the projected time passes max_seconds."""
    import torch

    from samviz import tasks as tasks_module
    from samviz.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    overrides = {"memory_slots": job["memory_slots"]}
    if job["index"] is not None:
        overrides["index"] = job["index"]
    model = load_checkpoint(directory, overrides)
    base = tasks_module.get(model.meta["task"])
    level = job["level"]
    task = tasks_module.LongTask(base, min(max(level, base.min_level), base.longest_level))
    generator = torch.Generator().manual_seed(seed * LEVEL_SEED_STRIDE + level)
    steps, total = job["steps"], job["steps"] * job["episodes"]
    label = (f"{name or directory.name} level {level:,} (T {steps:,}) N={job['memory_slots']:,} "
             f"{job['index'] or model.config.kind}")
    clock = {"start": time.perf_counter(), "done": 0, "checks": 0.0, "check_cpu": 0.0, "stepping": 0.0}

    def tick(t):                             # t: steps of the current batch, each of clock["size"] episodes
        now = time.perf_counter()
        done = clock["done"] + t * clock["size"]
        elapsed = now - clock["start"]
        stepping = clock["stepping"] + now - clock["batch_start"]       # the steps' time so far (no set-up)
        projected = elapsed + stepping / done * (total - done)
        print(f"{label}: step {done:,}/{total:,} ({100 * done / total:.0f}%), {elapsed:.0f} s, "
              f"projected {projected:.0f} s", file=progress, flush=True)
        if elapsed > max_seconds or (done >= PROJECT_AFTER * total and projected > max_seconds):
            raise RowStopped(f"stopped at step {done:,} of {total:,}: projected {projected:.0f} s > "
                             f"--max-row-seconds {max_seconds:g}")

    batches = []
    remaining = job["episodes"]
    while remaining > 0:
        size = clock["size"] = min(job["batch"], remaining)
        episode = task.sample(size, level, generator)
        batches.append(run_batch(model, episode, samples, tick, clock))
        clock["stepping"] += time.perf_counter() - clock["batch_start"]
        clock["done"] += steps * size
        remaining -= size
    seconds = time.perf_counter() - clock["start"]
    errors = [e for b in batches for e in b["bit_errors"]]
    chance = chance_per_sequence(base, level)
    tenths = []
    for part in range(10):
        parts = [b["parts"][part] for b in batches if part < len(b["parts"])]
        if not parts:
            continue
        count = sum(p["recall_count"] for p in parts)
        step_total = sum(p["steps"][1] - p["steps"][0] for p in parts)
        written = [p["rows_written"] for p in parts if p["rows_written"] is not None]
        worst = [p["worst_read_recall"] for p in parts if p["worst_read_recall"] is not None]
        tenths.append({"steps": parts[0]["steps"],
                       "ms_per_step": 1e3 * sum(p["seconds"] for p in parts) / max(1, step_total),
                       "cpu_ms_per_step": 1e3 * sum(p["cpu_seconds"] for p in parts) / max(1, step_total),
                       "rows_written": sum(written) / len(written) if written else None,
                       "recall": sum(p["recall_sum"] for p in parts) / count if count else None,
                       "worst_read_recall": min(worst) if worst else None, "recall_samples": count})
    written = [w for b in batches for w in (b["rows_written"] or [])]
    recalls = [t["recall"] for t in tenths if t["recall"] is not None]
    sampled = sum(t["recall_samples"] for t in tenths)
    step_count = steps * len(batches)                   # steps of the batch (each runs every episode of it)
    step_seconds = sum(p["seconds"] for b in batches for p in b["parts"])          # the steps alone: no set-up,
    step_cpu = sum(p["cpu_seconds"] for b in batches for p in b["parts"])          # no recall checks
    older = [b["older_rows"] for b in batches if b["older_rows"] is not None]
    return {"level": level, "factor": job["factor"], "steps": steps, "memory_slots": job["memory_slots"],
            "index": job["index"], "episodes": job["episodes"], "batch": job["batch"],
            "bit_errors": sum(errors) / len(errors), "bit_errors_per_episode": errors, "chance": chance,
            "ratio_to_chance": (sum(errors) / len(errors)) / chance,
            "answers": [d for b in batches for d in b["answers"]],
            "ms_per_step": 1e3 * step_seconds / step_count, "cpu_ms_per_step": 1e3 * step_cpu / step_count,
            "setup_seconds": round(seconds - clock["checks"] - step_seconds, 2),
            "rows_written": sum(written) / len(written) if written else None,
            "older_rows": max(older) if older else None,
            "recall": (sum(t["recall"] * t["recall_samples"] for t in tenths if t["recall"] is not None) / sampled)
            if sampled else (1.0 if job["index"] == "exact" else None),
            "worst_tenth_recall": min(recalls) if recalls else None, "recall_samples": sampled,
            "tenths": tenths, "seconds": round(seconds, 1)}


# ---------------------------------------------------------------------------------------------- results file
def row_key(row: dict) -> tuple:
    return tuple(row.get(name) for name in KEY_FIELDS)


def read_results(path: Path) -> dict:
    """The results file (empty when absent); ValueError naming what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        return {"rows": [], "skipped": [], "comparisons": []}
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not a long-curriculum evaluation")
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise ValueError(f"{path}: not a long-curriculum evaluation (an object with a list of rows)")
    data.setdefault("skipped", [])
    data.setdefault("comparisons", [])
    return data


def comparisons(rows: list[dict]) -> list[dict]:
    """faiss against exact for every pair of rows with the same checkpoint weights, level, N, episodes, seed."""
    exact = {row_key({**r, "index": None}): r for r in rows if r.get("index") == "exact"}
    out = []
    for row in rows:
        if row.get("index") != "faiss":
            continue
        other = exact.get(row_key({**row, "index": None}))
        if other is None:
            continue
        same = sum(a == b for a, b in zip(row["answers"], other["answers"], strict=True))
        difference = row["bit_errors"] - other["bit_errors"]
        mine, theirs = row.get("bit_errors_per_episode"), other.get("bit_errors_per_episode")
        paired = [a - b for a, b in zip(mine, theirs, strict=True)] if mine and theirs else []
        out.append({"checkpoint": row["checkpoint"], "checkpoint_step": row["checkpoint_step"],
                    "trained_level": row["trained_level"], "level": row["level"], "memory_slots": row["memory_slots"],
                    "episodes": row["episodes"], "seed": row["seed"], "faiss_bit_errors": row["bit_errors"],
                    "exact_bit_errors": other["bit_errors"], "difference": difference,
                    "chance": row["chance"], "difference_share_of_chance": difference / row["chance"],
                    "relative_difference": difference / other["bit_errors"] if other["bit_errors"] else None,
                    "same_answers": same / len(row["answers"]),
                    # the same episodes under both indexes: resample the episodes, keep each one's pair
                    "difference_interval": list(bootstrap_mean_interval(paired)) if paired else None})
    return out


def bit_error_interval(row: dict) -> tuple[float, float] | None:
    """The 95% interval of a row's mean bit errors per query: a percentile bootstrap over its episodes
    (samviz.study_statistics, a fixed seed); None for a row without per-episode errors. Recall asks one query an
    episode, so a few episodes leave the mean uncertain: the issue's bar is read against this interval, not
    against the point alone."""
    errors = row.get("bit_errors_per_episode")
    return _mean_interval(tuple(errors)) if errors else None


@functools.lru_cache(maxsize=256)
def _mean_interval(errors: tuple[float, ...]) -> tuple[float, float]:
    """bootstrap_mean_interval, once per list of errors: the table, the sentences, the bar and the chart each ask
    for the same rows' intervals."""
    return bootstrap_mean_interval(errors)


def write_results(path: Path, rows: list[dict], skipped: list[dict]) -> None:
    from samviz.checkpoint import atomic_write_json
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"about": "samviz.long_evaluation: long-curriculum checkpoints far past their trained "
                                      "length (see the module docstring for each field)",
                             "rows": rows, "skipped": skipped, "comparisons": comparisons(rows)})


# ---------------------------------------------------------------------------------------------- curriculum log
def curriculum_log(directory: Path) -> dict:
    """A long-curriculum run folder's curriculum so far, from its meta.json (written at each validation, beside
    the weights it describes) and long_curriculum.json: the level h against updates, and the validations at h."""
    from samviz.checkpoint import parse_json, read_bounded, read_meta
    directory = Path(directory)
    meta = read_meta(directory)
    settings_path = directory / "long_curriculum.json"
    settings = parse_json(read_bounded(settings_path, 1 << 16, "a long-curriculum run folder has it"),
                          settings_path) if settings_path.is_file() else {}
    training = meta.get("training") or {}
    start = training.get("start_level") or 1
    advances = [[0, int(start)]] + [[int(step), int(level)] for step, level in
                                    (meta.get("curriculum") or {}).get("advances", [])]
    validations = [[int(v["step"]), int(v["level"]), float(v["bit_errors"])] for v in meta.get("validations") or []
                   if isinstance(v, dict) and {"step", "level", "bit_errors"} <= v.keys()]
    ceiling = settings.get("ceiling", meta.get("max_level"))
    return {"run": directory.name, "path": str(directory), "kind": meta["config"]["kind"],
            "memory_slots": meta["config"]["memory_slots"], "index": meta["config"].get("index"),
            "task": meta.get("task"), "ceiling": ceiling, "init_from": settings.get("init_from"),
            "continues": continues(settings.get("continues")),
            "batch": training.get("batch"), "lr": training.get("lr"), "threshold": training.get("threshold"),
            "window": training.get("window"), "step": meta.get("steps"), "level": meta.get("level"),
            "finished": meta.get("finished"), "wall_time_s": meta.get("wall_time_s"),
            "interim": not (meta.get("finished") == "target" and meta.get("level") == ceiling),
            "advances": advances, "validations": validations,
            "lr_changes": [[int(step), float(lr)] for step, lr in settings.get("lr_changes", [])],
            "interface_clip": training.get("interface_clip"),
            "interface_clip_changes": [[int(step), float(clip)]
                                       for step, clip in settings.get("interface_clip_changes", [])]}


def continues(record) -> dict | None:
    """A continuation's record in long_curriculum.json ({"run": folder, "step": update}) as the curriculum log keeps
    it ({"run": the folder's name, "step": int}); None for a run that starts afresh or from a short-curriculum model."""
    if not isinstance(record, dict) or not isinstance(record.get("run"), str):
        return None
    return {"run": Path(record["run"]).name, "step": int(record.get("step") or 0)}


# ---------------------------------------------------------------------------------------------- report
README_BEGIN = "<!-- samviz-long-curriculum:begin -->"
README_END = "<!-- samviz-long-curriculum:end -->"
DONE_WHEN_TRAINED_ITEMS = 1000       # issue 26: a SAM trained to at least this many items ...
DONE_WHEN_AT_TRAINED = 0.5           # ... makes at most this many bit errors per query at its trained length
DONE_WHEN_RATIO_AT_10X = 0.25        # ... and at most this share of chance at 10× it, ...
DONE_WHEN_SLOTS = 1 << 20            # ... at this many slots, with the faiss index
MODEL_NAMES = {"sam": "SAM", "ntm": "NTM", "dam": "DAM", "sdnc": "SDNC", "dnc": "DNC"}


def read_assets(directory: Path | None = None) -> tuple[dict, dict]:
    """(curriculum.json, evaluation.json) of assets/long_curriculum/ (empty when absent); ValueError when one is
    not what it should be."""
    from samviz.paths import ASSETS_DIR
    directory = Path(directory) if directory is not None else ASSETS_DIR / "long_curriculum"
    curriculum_path = directory / DEFAULT_CURRICULUM_OUT.name
    curriculum = {"runs": []}
    if curriculum_path.is_file():
        if curriculum_path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{curriculum_path}: larger than {MAX_FILE_BYTES >> 20} MiB")
        curriculum = json.loads(curriculum_path.read_text())
        if not isinstance(curriculum, dict) or not isinstance(curriculum.get("runs"), list):
            raise ValueError(f"{curriculum_path}: not a curriculum log (an object with a list of runs)")
    return curriculum, read_results(directory / DEFAULT_OUT.name)


def run_label(row: dict) -> str:
    """"SAM (run sam-faiss-65536)": the model and its run folder's name."""
    return f"{MODEL_NAMES.get(row.get('kind'), str(row.get('kind')).upper())} ({Path(row['checkpoint']).name})"


def latest_rows(rows: list[dict]) -> list[dict]:
    """The rows of each run's latest evaluated checkpoint (the highest update), in table order."""
    latest: dict[str, int] = {}
    for row in rows:
        step = row.get("checkpoint_step") or 0
        latest[row["checkpoint"]] = max(latest.get(row["checkpoint"], step), step)
    chosen = [r for r in rows if (r.get("checkpoint_step") or 0) == latest[r["checkpoint"]]]
    kinds = {"sam": 0, "ntm": 1, "dam": 2}
    return sorted(chosen, key=lambda r: (kinds.get(r.get("kind"), 9), r["checkpoint"], r["level"],
                                         r["memory_slots"], str(r.get("index"))))


def _slots(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n >= 1024 and n & (n - 1) == 0 else f"{n:,}"


def table_rows(rows: list[dict]) -> list[dict[str, str]]:
    """The evaluation table (latest checkpoint of each run), as the page and pretrained/README.md print it."""
    out = []
    for r in latest_rows(rows):
        recall = "–" if r.get("recall") is None else f"{r['recall']:.4f}"
        if r.get("worst_tenth_recall") is not None:
            recall += f" (worst tenth {r['worst_tenth_recall']:.4f})"
        out.append({"model (run)": run_label(r),
                    "checkpoint": f"update {r['checkpoint_step']:,}, h = {r['trained_level']:,}"
                                  + (" (INTERIM)" if r.get("interim") else ""),
                    "level (× h)": f"{r['level']:,} (×{r['factor']})", "steps T": f"{r['steps']:,}",
                    "N": _slots(r["memory_slots"]), "index": r.get("index") or "dense",
                    # the interval in the same cell (it wraps under the mean): a column more would not fit a
                    # projector's 1280 px (tests/test_layout_browser.py)
                    "episodes": str(r["episodes"]), "bit errors / query (95% interval)": f"{r['bit_errors']:.3f}"
                    + ("" if (i := bit_error_interval(r)) is None else f" ({i[0]:.3f}–{i[1]:.3f})"),
                    "÷ chance": f"{r['ratio_to_chance']:.3f}",
                    "ms / step (CPU)": f"{r['ms_per_step']:.2f} ({r['cpu_ms_per_step']:.2f})",
                    "rows written": "–" if r.get("rows_written") is None else f"{r['rows_written']:,.0f}",
                    "recall vs exact": recall})
    return out


def _headline_row(rows: list[dict], factor: int) -> dict | None:
    """The row a sentence quotes at `factor` × h: faiss at the largest N evaluated (2^20 by default), else the
    largest N's other row (a dense model: its own N); of several such rows, the one over the most episodes."""
    at = [r for r in rows if r["factor"] == factor]
    if not at:
        return None
    faiss = [r for r in at if r.get("index") == "faiss"]
    pool = faiss or at
    return max(pool, key=lambda r: (r["memory_slots"], r["episodes"]))


def evaluation_sentences(rows: list[dict]) -> list[str]:
    """One sentence per run (its latest checkpoint) from the rows the table shows, and one per faiss/exact pair of
    ANY evaluated checkpoint, each naming its checkpoint: the index's evidence (are faiss's reads as good as the
    exact ones?) stays stated when training moves on and a newer checkpoint has only faiss rows."""
    sentences = []
    latest = latest_rows(rows)
    for checkpoint in dict.fromkeys(r["checkpoint"] for r in latest):
        mine = [r for r in latest if r["checkpoint"] == checkpoint]
        first = mine[0]
        parts = []
        for factor in sorted({r["factor"] for r in mine}):
            row = _headline_row(mine, factor)
            where = f"{_slots(row['memory_slots'])} slots" + (f", {row['index']}" if row.get("index") else "")
            interval = bit_error_interval(row)
            parts.append(f"at {'its trained length' if factor == 1 else f'{factor}× it'} ({row['level']:,} items, "
                         f"{where}, {row['episodes']} episodes) {row['bit_errors']:.2f} bit errors per query"
                         + (f" (95% interval {interval[0]:.2f}–{interval[1]:.2f})" if interval else "")
                         + f", {row['ratio_to_chance']:.3f} of chance ({row['chance']:g})")
        status = (f"INTERIM: trained so far to h = {first['trained_level']:,} of {first['ceiling']:,} items"
                  if first.get("interim") else f"trained to h = {first['trained_level']:,} items")
        sentence = f"{run_label(first)} at update {first['checkpoint_step']:,} ({status}): " + "; ".join(parts) + "."
        if first.get("kind") == "sam":
            reached = first["trained_level"] >= DONE_WHEN_TRAINED_ITEMS
            sentence += (f" The issue's bar, for a SAM trained to at least {DONE_WHEN_TRAINED_ITEMS:,} items: at "
                         f"most {DONE_WHEN_AT_TRAINED:g} bit errors per query at its trained length and "
                         f"{DONE_WHEN_RATIO_AT_10X:g} of chance at 10× it, at 2^20 slots"
                         + (f": {bar_verdict(mine)}" if reached
                            else f" — not yet applicable (h = {first['trained_level']:,})."))
        sentences.append(sentence)
    ordered = sorted(comparisons(rows), key=lambda c: (c["checkpoint"], -c["checkpoint_step"], c["level"],
                                                       c["memory_slots"], c["episodes"]))
    for c in ordered:
        share = (f"; 95% interval {100 * c['difference_interval'][0] / c['chance']:+.1f}% to "
                 f"{100 * c['difference_interval'][1] / c['chance']:+.1f}%"
                 if c.get("difference_interval") else "")
        sentences.append(f"faiss against exact, {Path(c['checkpoint']).name} at update {c['checkpoint_step']:,} "
                         f"(trained to h = {c['trained_level']:,}), at {c['level']:,} items, "
                         f"{_slots(c['memory_slots'])} slots, the same {c['episodes']} episodes: "
                         f"{c['faiss_bit_errors']:.3f} against {c['exact_bit_errors']:.3f} bit errors per query "
                         f"(difference {c['difference']:+.3f}, {100 * c['difference_share_of_chance']:+.1f}% of "
                         f"chance{share}); identical answers in {100 * c['same_answers']:.0f}% of episodes.")
    return sentences


def bar_verdict(rows: list[dict]) -> str:
    """Issue 26's bar read against one checkpoint's rows at 2^20 slots with faiss: at its trained length (factor 1)
    the mean bit errors per query against DONE_WHEN_AT_TRAINED, at 10× the share of chance against
    DONE_WHEN_RATIO_AT_10X; each "met" only when the whole 95% interval is at or below the bar, "not met" when the
    mean is above it, and "undecided" when the mean is below and the interval reaches above (more episodes decide:
    of several rows at a length, the one over the most episodes is read)."""
    said = []
    for factor, bar, what in ((1, DONE_WHEN_AT_TRAINED, "at its trained length"),
                              (10, DONE_WHEN_RATIO_AT_10X, "at 10× it")):
        row = max((r for r in rows if r["factor"] == factor and r.get("index") == "faiss"
                   and r["memory_slots"] >= DONE_WHEN_SLOTS), key=lambda r: r["episodes"], default=None)
        if row is None:
            said.append(f"{what} not evaluated at 2^20 slots with faiss")
            continue
        scale = 1.0 if factor == 1 else 1.0 / row["chance"]
        unit = "bit errors per query" if factor == 1 else "of chance"
        mean = row["bit_errors"] * scale
        interval = bit_error_interval(row)
        high = interval[1] * scale if interval else math.inf
        verdict = ("met" if high <= bar + 1e-12 else "not met" if mean > bar + 1e-12
                   else "undecided (the mean is within the bar, the 95% interval reaches above it)")
        shown = f"{mean:.3f}" + (f" (95% interval {interval[0] * scale:.3f}–{high:.3f})" if interval else "")
        said.append(f"{what} {shown} {unit} against {bar:g}: {verdict}")
    return "; ".join(said) + "."


def interim_status(curriculum: dict, rows: list[dict]) -> str:
    """"INTERIM: NTM (ntm-64) and DAM (dam-64) have not finished …" naming the runs not finished (below their
    ceiling, or at it without the stop target met; from the curriculum log, else each run's latest evaluated rows);
    "" when none is."""
    names = {}
    for run in curriculum.get("runs", []):
        if run.get("interim"):
            names[run["run"]] = f"{MODEL_NAMES.get(run['kind'], run['kind'].upper())} ({run['run']})"
    if not curriculum.get("runs"):
        for row in latest_rows(rows):
            if row.get("interim"):
                names[Path(row["checkpoint"]).name] = run_label(row)
    if not names:
        return ""
    *others, last = names.values()
    who = f"{', '.join(others)} and {last}" if others else last
    verb, their = ("have", "their") if others else ("has", "its")
    return (f"INTERIM: {who} {verb} not finished (the stop target met at {their} ceiling); {their} rows are the "
            "checkpoints so far.")


def setting_sentence(curriculum: dict) -> str:
    """How the exported runs were trained, from their own settings (curriculum.json): one clause per curriculum
    setting (window, threshold, batch), the starting learning rate of each run where they differ, and each memory
    once (the runs that share it named)."""
    runs = curriculum.get("runs", [])
    if not runs:
        return ""
    groups: dict[tuple, dict[float, list[str]]] = {}
    for r in runs:
        if None not in (r.get("window"), r.get("threshold"), r.get("batch"), r.get("lr")):
            key = (r["window"], r["threshold"], r["batch"])
            groups.setdefault(key, {}).setdefault(r["lr"], []).append(r["run"])
    clauses = []
    for (window, threshold, batch), rates in groups.items():
        if len(rates) == 1:
            rate = f"lr {next(iter(rates)):g}"
        else:
            rate = "lr " + ", ".join(f"{lr:g} for {_and(names)}" for lr, names in rates.items())
        clauses.append(f"h doubles when the mean training loss over {window} updates is below {threshold:g} "
                       f"(batch {batch}; {rate})")
    memories: dict[tuple[str, str | None], list[str]] = {}     # (model and slots, sparse index) -> its runs
    for r in runs:
        memory = f"{MODEL_NAMES.get(r['kind'], r['kind'].upper())} {r['memory_slots']:,} slots"
        memories.setdefault((memory, r["index"] if r["kind"] in ("sam", "sdnc") else None), []).append(r["run"])
    listed = ", ".join(
        memory + (f" ({'; '.join(filter(None, [index, _and(names) if len(names) > 1 else None]))})"
                  if index or len(names) > 1 else "")
        for (memory, index), names in memories.items())
    return (f"Associative recall by the paper's curriculum: {'; '.join(clauses)}; each batch's level drawn from "
            f"[2, h]. Memories: {listed}.")


def _and(names: list[str]) -> str:
    """a; a and b; a, b and c."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def curriculum_sentences(curriculum: dict) -> list[str]:
    """Per run: where its curriculum stands and when h advanced (from the curriculum log the figure draws)."""
    out = []
    for run in curriculum.get("runs", []):
        name = MODEL_NAMES.get(run["kind"], run["kind"].upper())
        memory = f"{run['memory_slots']:,} slots" + (f", {run['index']}" if run["kind"] in ("sam", "sdnc") else "")
        advances = ", ".join(f"{level:,} at {step:,}" for step, level in run["advances"])
        changes = sorted([(step, f"learning rate {lr:g} from update {step:,}")
                          for step, lr in run.get("lr_changes", [])]
                         + [(step, f"interface clip ±{clip:g} from update {step:,}")
                            for step, clip in run.get("interface_clip_changes", [])])
        changes = "".join(f"; {text}" for _, text in changes)
        clip = run.get("interface_clip")
        if not run.get("interface_clip_changes") and clip is not None and clip != INTERFACE_CLIP:
            changes += f"; interface clip ±{clip:g} throughout (the default is ±{INTERFACE_CLIP:g})"
        origin = run.get("continues")
        start = (f", continuing {origin['run']} from its update {origin['step']:,} (its weights, a fresh "
                 "optimizer; updates counted from there)," if origin else "")
        out.append(f"{name} ({run['run']}: {memory}){start} is at h = {run['level']:,} of {run['ceiling']:,} items "
                   f"after {run['step']:,} updates" + (" (INTERIM)" if run.get("interim") else "")
                   + f"; h against the update it began: {advances}{changes}.")
    return out


def readme_section(curriculum: dict, evaluation: dict) -> str:
    """pretrained/README.md's long-curriculum section between its markers: curriculum log, table, sentences."""
    from samviz.results.readme import markdown_table
    lines = ["_Written by `python -m samviz.long_evaluation report` from assets/long_curriculum/*.json (the Learning "
             "curves page draws the same files; figure: docs/screenshots/long_curriculum.png)._", "",
             "**Curriculum so far** (level h against updates, from each run folder's meta.json). "
             + setting_sentence(curriculum), ""]
    lines += [f"- {s}" for s in curriculum_sentences(curriculum)] or ["- (no run exported yet)"]
    lines += ["", "**Evaluation** (each run's latest evaluated checkpoint; fresh episodes, generator seed "
              f"{SEED} · {LEVEL_SEED_STRIDE:,} + level; bit errors per query = per sequence, chance = half the "
              "answer's 18 bits):", "",
              markdown_table(table) if (table := table_rows(evaluation["rows"])) else "_No evaluation rows yet._",
              ""]
    lines += [f"- {s}" for s in evaluation_sentences(evaluation["rows"])]
    skipped = [s for s in evaluation.get("skipped", []) if s.get("weights_sha256") in
               {r.get("weights_sha256") for r in latest_rows(evaluation["rows"])}]
    if skipped:
        lines += ["", "Not run:"] + [f"- {Path(s['checkpoint']).name}, {s['level']:,} items, "
                                     f"{_slots(s['memory_slots'])} slots, {s.get('index') or 'dense'}: {s['reason']}"
                                     for s in skipped]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- command line
def parse_ints(low: int, high: int, most: int, keep_order: bool = False):
    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not comma-separated whole numbers: {text[:60]!r}") from None
        if not 1 <= len(values) <= most or any(not low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(f"give 1 to {most} whole numbers, each in [{low:,}, {high:,}] "
                                             f"(got {text[:60]!r})")
        return values if keep_order else sorted(set(values))
    parse.__name__ = "list"
    return parse


def parse_indexes(text: str) -> list[str]:
    from samviz.kinds import INDEXES
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or any(name not in INDEXES for name in names):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(INDEXES)} (got {text[:40]!r})")
    return list(dict.fromkeys(names))


def build_parser() -> argparse.ArgumentParser:
    from samviz.evaluate import bounded_int
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="a checkpoint at h, 10h, 100h (the module docstring)")
    e.add_argument("--checkpoint", required=True, help="a checkpoint directory (a long-curriculum run folder)")
    e.add_argument("--level", type=bounded_int(1, 100_000), help="the trained length h (default: meta's level)")
    e.add_argument("--factors", type=parse_ints(1, MAX_FACTOR, MAX_FACTORS), default=list(DEFAULT_FACTORS),
                   help="levels to test, as multiples of h (default 1,10,100)")
    e.add_argument("--slots", type=parse_ints(4096, MAX_EVAL_SLOTS, MAX_SIZES), default=[DEFAULT_SPARSE_SLOTS],
                   help="memory sizes of a sparse model (default 1048576)")
    e.add_argument("--dense-slots", type=bounded_int(2, MAX_DENSE_SLOTS),
                   help="memory size of a dense model (default: its own)")
    e.add_argument("--indexes", type=parse_indexes, default=["faiss", "exact"], help="a sparse model's indexes")
    e.add_argument("--episodes", type=parse_ints(1, MAX_EPISODES, MAX_FACTORS, keep_order=True), default=[8],
                   help="episodes per level: one count, or one per factor in increasing order of factor (16,16,2)")
    e.add_argument("--batch", type=bounded_int(1, MAX_BATCH), default=8)
    e.add_argument("--seed", type=bounded_int(0, 2**31 - 1), default=SEED)
    e.add_argument("--samples", type=bounded_int(0, MAX_SAMPLES), default=DEFAULT_SAMPLES,
                   help="recall checks per episode (faiss)")
    e.add_argument("--max-steps", type=bounded_int(1, MAX_STEPS), default=DEFAULT_MAX_STEPS,
                   help="skip levels whose episodes are longer")
    e.add_argument("--max-row-seconds", type=float, default=DEFAULT_MAX_ROW_SECONDS,
                   help="stop a row whose projected time is longer")
    e.add_argument("--out", default=str(DEFAULT_OUT), help="the results file (JSON), rewritten after each row")
    e.add_argument("--force", action="store_true", help="rerun rows already in --out")
    c = sub.add_parser("curriculum", help="the run folders' curriculum logs (level h against updates) as JSON")
    c.add_argument("--runs", required=True, help="comma-separated long-curriculum run folders")
    c.add_argument("--out", default=str(DEFAULT_CURRICULUM_OUT))
    r = sub.add_parser("report", help="write pretrained/README.md's long-curriculum section from the JSON files")
    r.add_argument("--readme", default="pretrained/README.md")
    return parser


def checkpoint_info(directory: Path, meta: dict) -> dict:
    """What a row records of its checkpoint: path, update, curriculum level, ceiling, whether interim."""
    settings = directory / "long_curriculum.json"
    ceiling = meta.get("max_level")
    if settings.is_file():
        from samviz.checkpoint import parse_json, read_bounded
        data = parse_json(read_bounded(settings, 1 << 16, "long_curriculum.json"), settings)
        if isinstance(data, dict) and isinstance(data.get("ceiling"), int):
            ceiling = data["ceiling"]
    level = meta.get("level")
    finished = meta.get("finished")
    return {"checkpoint": str(directory), "checkpoint_step": meta.get("steps"), "curriculum_level": level,
            "ceiling": ceiling, "finished": finished, "kind": meta["config"]["kind"],
            "weights_sha256": meta.get("weights_sha256"),
            "interim": not (finished == "target" and ceiling is not None and level == ceiling),
            "validation_bit_errors": (meta.get("metrics") or {}).get("bit_errors_per_sequence")}


def snapshot(directory: Path, into: Path) -> dict:
    """One save's weights and meta.json (a training run may be replacing them) copied into `into`; -> the meta.
    Every row of one invocation then scores the same weights."""
    from samviz.checkpoint import META_FILE, WEIGHTS_FILE, atomic_write_bytes, atomic_write_json, read_pair
    meta, weights, _, _ = read_pair(directory)
    atomic_write_bytes(into / WEIGHTS_FILE, bytes(weights))
    atomic_write_json(into / META_FILE, meta)
    return meta


def evaluate_command(args, parser) -> int:
    import tempfile

    from samviz import tasks as tasks_module
    from samviz.bench.runner import machine_description
    from samviz.checkpoint import CheckpointError
    from samviz.kinds import spec
    from samviz.results.provenance import commit
    if not math.isfinite(args.max_row_seconds) or not 1 <= args.max_row_seconds <= 86_400:
        parser.error("--max-row-seconds must be in [1, 86400]")
    if len(args.episodes) not in (1, len(args.factors)):
        parser.error(f"--episodes: give one count, or one per factor ({len(args.factors)})")
    command = shlex.join([*PROG.split(), *args.argv])
    directory = Path(args.checkpoint)
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="long-evaluation-") as folder:
        try:
            results = read_results(out)
            meta = snapshot(directory, Path(folder))
        except (CheckpointError, ValueError, OSError) as problem:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
            return 2
        config, kind = meta["config"], meta["config"]["kind"]
        if meta.get("task") not in ("copy", "associative_recall"):
            print(f"{PROG}: error: {directory}: task {str(meta.get('task'))[:40]!r} has no long episodes "
                  f"(copy, associative_recall)", file=sys.stderr)
            return 2
        trained = args.level or meta.get("level")
        if not isinstance(trained, int) or trained < 1:
            print(f"{PROG}: error: {directory}: meta.json has no curriculum level; give --level", file=sys.stderr)
            return 2
        if not spec(kind).sparse and args.dense_slots is None and int(config["memory_slots"]) > MAX_DENSE_SLOTS:
            print(f"{PROG}: error: a dense memory of {config['memory_slots']} slots is more than {MAX_DENSE_SLOTS}",
                  file=sys.stderr)
            return 2
        base = tasks_module.get(meta["task"])
        task = tasks_module.LongTask(base, base.longest_level)
        jobs, skipped = plan(kind, config, task, trained, args.factors, args.slots, args.indexes, args.dense_slots,
                             args.episodes, args.batch, args.max_steps, int(MEMORY_SHARE * available_bytes()))
        info = checkpoint_info(directory, meta)
        stamp = {**info, "trained_level": trained, "task": meta["task"], "seed": args.seed, "command": command,
                 "commit": commit(), "machine": machine_description()}
        rows = list(results["rows"])
        done = {row_key(r) for r in rows}
        skips = [s for s in results["skipped"] if s.get("weights_sha256") != info["weights_sha256"]]
        for s in skipped:
            skips.append({**stamp, **s})
            print(f"skipped: level {s['level']:,} N={s['memory_slots']:,} {s['index'] or kind}: {s['reason']}",
                  file=sys.stderr)
        for job in jobs:
            if not args.force and row_key({**stamp, **job}) in done:
                print(f"already in {out}: level {job['level']:,} N={job['memory_slots']:,} {job['index'] or kind}",
                      file=sys.stderr)
                continue
            try:
                row = {**stamp, **evaluate_row(Path(folder), job, args.seed, args.samples, args.max_row_seconds,
                                                 name=directory.name)}
            except RowStopped as stopped:
                skips.append({**stamp, **{k: job[k] for k in ("factor", "level", "steps", "memory_slots", "index")},
                              "reason": str(stopped)})
                print(f"skipped: {stopped}", file=sys.stderr)
                write_results(out, rows, skips)
                continue
            rows = [r for r in rows if row_key(r) != row_key(row)] + [row]
            write_results(out, rows, skips)
            print(f"level {row['level']:,} (T {row['steps']:,}) N={row['memory_slots']:,} {row['index'] or kind}: "
                  f"{row['bit_errors']:.3f} bit errors per sequence (chance {row['chance']:g}, ratio "
                  f"{row['ratio_to_chance']:.3f}), {row['ms_per_step']:.2f} ms/step "
                  f"({row['cpu_ms_per_step']:.2f} CPU), rows written {row['rows_written']}, recall {row['recall']}",
                  flush=True)
        write_results(out, rows, skips)
    return 0


def curriculum_command(args) -> int:
    from samviz.checkpoint import CheckpointError, atomic_write_json
    runs = [part.strip() for part in args.runs.split(",") if part.strip()]
    if not 1 <= len(runs) <= 16:
        print(f"{PROG}: error: --runs: give 1 to 16 run folders", file=sys.stderr)
        return 2
    try:
        logs = [curriculum_log(Path(run)) for run in runs]
    except (CheckpointError, ValueError, OSError) as problem:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, {"about": "samviz.long_evaluation curriculum: the level h against updates of each "
                                     "long-curriculum run, read from its meta.json", "runs": logs,
                            "command": shlex.join([*PROG.split(), *args.argv])})
    for log in logs:
        print(f"{log['run']}: h {log['level']} of {log['ceiling']} at update {log['step']}; advances "
              + ", ".join(f"{level} at {step}" for step, level in log["advances"]))
    return 0


def report_command(args) -> int:
    from samviz.results.readme import write_between
    try:
        curriculum, evaluation = read_assets()
    except (ValueError, OSError) as problem:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    text = readme_section(curriculum, evaluation)
    if not write_between(Path(args.readme), README_BEGIN, README_END, text):
        print(f"{PROG}: error: {args.readme} has no {README_BEGIN} ... {README_END} markers", file=sys.stderr)
        return 2
    print(text)
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command == "curriculum":
        return curriculum_command(args)
    if args.command == "report":
        return report_command(args)
    return evaluate_command(args, parser)


if __name__ == "__main__":
    sys.exit(main())
