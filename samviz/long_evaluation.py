"""A long-curriculum checkpoint far past its trained length: bit errors against chance, step time, rows written
and the index's recall, along episodes of thousands of steps (issue 26, the long-sequence curriculum's test).

    python -m samviz.long_evaluation evaluate --checkpoint experiments/long_curriculum/sam-faiss-65536 \\
        --factors 1,10,100 --slots 1048576 --indexes faiss,exact --episodes 8
    python -m samviz.long_evaluation curriculum --runs experiments/long_curriculum/sam-faiss-65536,...

The checkpoint is a run directory of samviz.training.long_curriculum (model.safetensors + meta.json: the
weights of its latest validation, at curriculum level h) or any checkpoint directory (h: its meta's level, or
--level). For each factor f, level f·h, each memory size and each index (a sparse model; a dense one runs with
its own N unless --dense-slots says otherwise, and has no index), the model runs forward, without gradients,
over --episodes fresh episodes (samviz.tasks.LongTask, seed --seed and the level: every size and index sees the
same episodes) in batches of at most --batch. One row per (level, N, index):

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
a row whose projected time passes --max-row-seconds stops at the next tenth and is recorded as skipped with
the projection. Results go to --out (JSON: rows, skipped, comparisons), rewritten after every row; a row already
there for the same checkpoint weights, level, N, index, episodes and seed is not run again (--force reruns), so
an interrupted evaluation continues where it stopped. The checkpoint's two files are copied once at the start
(a training run may be replacing them), so every row of one invocation scores the same weights; each row records
the checkpoint's update, its curriculum level h and ceiling, and is "interim" until the run has met its target
at the ceiling. Progress goes to stderr.

curriculum: per run folder, the level h against updates (meta.json's curriculum advances) and the validations
at h, to assets/long_curriculum/curriculum.json (what the Learning curves page and pretrained/README.md draw).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from pathlib import Path
import shlex
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

PROG = "python -m samviz.long_evaluation"
SEED = 7001                   # fresh episodes: not a training (2001), validation (999...) or generalisation (4242) seed
DEFAULT_FACTORS = (1, 10, 100)
DEFAULT_SPARSE_SLOTS = 1 << 20
MAX_FACTOR = 1000
MAX_FACTORS = 8
MAX_SIZES = 4
MAX_EVAL_SLOTS = 1 << 21      # a sparse memory; the estimate below bounds batch × N too
MAX_DENSE_SLOTS = 4096        # a dense memory (spec(kind).app_slot_limit)
MAX_EPISODES = 256
MAX_BATCH = 16
MAX_STEPS = 400_008           # the longest LongTask episode (associative recall at 100,000 items)
DEFAULT_MAX_STEPS = 50_000
MAX_SAMPLES = 1000
DEFAULT_SAMPLES = 50
DEFAULT_MAX_ROW_SECONDS = 1800.0
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
            the index's two int32 maps and bitmaps: ~40 bytes), and the recall check's exact index (inverse norms
            and one [B, R, N] score matrix)
    dense   the memory and its per-step temporaries, a few B·N·W copies (nothing is kept: no gradients)
    both    the episode (inputs, targets, mask: T·B·(I + O + 1) float32), the logits kept per step (T·B·O float32
            plus ~200 bytes of tensor object each)
    """
    from samviz.kinds import spec
    if spec(kind).sparse:
        memory = batch * slots * (4 * word_size + 40 + 4 + 4 * heads)
    else:
        memory = 8 * batch * slots * word_size * 4
    episode = steps * batch * (input_size + 2 * output_size + 1) * 4 + steps * 200
    return int(memory + episode + (64 << 20))


def available_bytes() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def plan(kind: str, config: dict, task, trained_level: int, factors, sparse_slots, indexes, dense_slots: int | None,
         episodes: int, batch: int, max_steps: int, memory_budget: int) -> tuple[list[dict], list[dict]]:
    """The rows to run and the ones skipped (each with its reason), cheapest first. Nothing is allocated."""
    from samviz.kinds import spec
    sparse = spec(kind).sparse
    sizes = list(sparse_slots) if sparse else [dense_slots or int(config["memory_slots"])]
    kinds_of_index = list(indexes) if sparse else [None]
    jobs, skipped = [], []
    for factor in factors:
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


def run_batch(model, episode, samples: int, tick, clock: dict) -> dict:
    """One batch of episodes forward (no gradients) -> per-episode bit errors and answer digests, per-tenth step
    times, rows written and recall. `tick(done_steps)` is called at each tenth (progress, the time limit)."""
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
    tenth = max(1, math.ceil(steps / 10))
    sample_every = max(1, math.ceil(steps / samples))
    check_seconds, check_cpu = [0.0] * 10, [0.0] * 10
    recall_sums, recall_counts, worst = [0.0] * 10, [0] * 10, [math.inf] * 10
    marks = [(0, time.perf_counter(), time.thread_time())]
    rows = [None] * 10
    position = {"next": 0, "current": 0}
    index = memory.index if sparse else None
    start = getattr(model.config, "initial_rows", None)
    check = sparse and model.config.index != "exact" and samples > 0
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
                part = min(9, t // tenth)
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
        if t and t % tenth == 0:
            part = t // tenth - 1
            marks.append((t, time.perf_counter(), time.thread_time()))
            if sparse:
                rows[part] = count_written(memory, index, start)
            tick(t)
        position["next"] = t + 1

    end_episode = core.end_episode

    def counting_end(final_state):           # the last tenth's rows, before the store is given back
        if sparse:
            rows[min(9, (steps - 1) // tenth)] = count_written(memory, index, start)
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
    marks.append((steps, time.perf_counter(), time.thread_time()))
    wrong = tasks_module.wrong_bits(logits, episode).sum(dim=(0, 2))                 # [B]
    answers = ((logits > 0) & (episode.mask.unsqueeze(-1) > 0)).to(torch.uint8)    # the bits a reader sees
    digests = [hashlib.sha256(answers[:, b].numpy().tobytes()).hexdigest()[:16] for b in range(batch)]
    tenths = []
    for part in range(len(marks) - 1):
        (low, wall0, cpu0), (high, wall1, cpu1) = marks[part], marks[part + 1]
        span = max(1, high - low)
        written = rows[part]
        tenths.append({"steps": [low, high], "seconds": wall1 - wall0 - check_seconds[part],
                       "cpu_seconds": cpu1 - cpu0 - check_cpu[part],
                       "ms_per_step": 1e3 * (wall1 - wall0 - check_seconds[part]) / span,
                       "rows_written": (sum(written) / len(written)) if written else None,
                       "recall_sum": recall_sums[part], "recall_count": recall_counts[part],
                       "worst_read_recall": worst[part] if worst[part] < math.inf else None})
    return {"bit_errors": [float(v) for v in wrong], "answers": digests, "tenths": tenths,
            "rows_written": [float(v) for v in (rows[min(9, (steps - 1) // tenth)] or [])] if sparse else None,
            "graph_rows": int(index.older.live.sum()) if sparse and getattr(index, "older", None) is not None
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
    generator = torch.Generator().manual_seed(seed * 1_000_003 + level)
    steps, total = job["steps"], job["steps"] * job["episodes"]
    label = (f"{name or directory.name} level {level:,} (T {steps:,}) N={job['memory_slots']:,} "
             f"{job['index'] or model.config.kind}")
    clock = {"start": time.perf_counter(), "done": 0, "checks": 0.0, "check_cpu": 0.0}

    def tick(t):
        done = clock["done"] + t
        elapsed = time.perf_counter() - clock["start"]
        projected = elapsed * total / max(1, done)
        print(f"{label}: step {done:,}/{total:,} ({100 * done / total:.0f}%), {elapsed:.0f} s, "
              f"projected {projected:.0f} s", file=progress, flush=True)
        if projected > max_seconds:
            raise RowStopped(f"stopped at step {done:,} of {total:,}: projected {projected:.0f} s > "
                             f"--max-row-seconds {max_seconds:g}")

    batches = []
    remaining = job["episodes"]
    while remaining > 0:
        size = min(job["batch"], remaining)
        episode = task.sample(size, level, generator)
        batches.append(run_batch(model, episode, samples, tick, clock))
        clock["done"] += steps * size
        remaining -= size
    seconds = time.perf_counter() - clock["start"]
    errors = [e for b in batches for e in b["bit_errors"]]
    chance = chance_per_sequence(base, level)
    tenths = []
    for part in range(10):
        parts = [b["tenths"][part] for b in batches if part < len(b["tenths"])]
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
    step_seconds = sum(p["seconds"] for b in batches for p in b["tenths"])         # the steps alone: no set-up,
    step_cpu = sum(p["cpu_seconds"] for b in batches for p in b["tenths"])         # no recall checks
    graph = [b["graph_rows"] for b in batches if b["graph_rows"] is not None]
    return {"level": level, "factor": job["factor"], "steps": steps, "memory_slots": job["memory_slots"],
            "index": job["index"], "episodes": job["episodes"], "batch": job["batch"],
            "bit_errors": sum(errors) / len(errors), "bit_errors_per_episode": errors, "chance": chance,
            "ratio_to_chance": (sum(errors) / len(errors)) / chance,
            "answers": [d for b in batches for d in b["answers"]],
            "ms_per_step": 1e3 * step_seconds / step_count, "cpu_ms_per_step": 1e3 * step_cpu / step_count,
            "setup_seconds": round(seconds - clock["checks"] - step_seconds, 2),
            "rows_written": sum(written) / len(written) if written else None,
            "graph_rows": max(graph) if graph else None,
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
        out.append({"checkpoint": row["checkpoint"], "checkpoint_step": row["checkpoint_step"],
                    "trained_level": row["trained_level"], "level": row["level"], "memory_slots": row["memory_slots"],
                    "episodes": row["episodes"], "seed": row["seed"], "faiss_bit_errors": row["bit_errors"],
                    "exact_bit_errors": other["bit_errors"], "difference": difference,
                    "difference_share_of_chance": difference / row["chance"],
                    "relative_difference": difference / other["bit_errors"] if other["bit_errors"] else None,
                    "same_answers": same / len(row["answers"])})
    return out


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
            "batch": training.get("batch"), "lr": training.get("lr"), "threshold": training.get("threshold"),
            "window": training.get("window"), "step": meta.get("steps"), "level": meta.get("level"),
            "finished": meta.get("finished"), "wall_time_s": meta.get("wall_time_s"),
            "interim": not (meta.get("finished") == "target" and meta.get("level") == ceiling),
            "advances": advances, "validations": validations}


# ---------------------------------------------------------------------------------------------- command line
def parse_ints(low: int, high: int, most: int):
    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not comma-separated whole numbers: {text[:60]!r}") from None
        if not 1 <= len(values) <= most or any(not low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(f"give 1 to {most} whole numbers, each in [{low:,}, {high:,}] "
                                             f"(got {text[:60]!r})")
        return sorted(set(values))
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
    e.add_argument("--episodes", type=bounded_int(1, MAX_EPISODES), default=8)
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


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command == "curriculum":
        return curriculum_command(args)
    return evaluate_command(args, parser)


if __name__ == "__main__":
    sys.exit(main())
