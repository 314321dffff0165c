"""Score checkpoints on fresh seeded episodes: `python -m samviz.evaluate pretrained/ntm-copy` or `--all`.

For each checkpoint: bit errors per sequence on `batches × batch_size` fresh episodes (seed 1234,
never a training or validation seed) at level=None (the task's default range), and at twice the
trained length (generalisation; GENERALISATION_LEVELS below says which level that is per task).
Prints a markdown table; `--write-readme` puts the same table into pretrained/README.md between
the marker comments, and `--write-meta` stores the scores in each checkpoint's meta.json
("evaluation", "meets_target"), so the README table is what `samviz.evaluate` prints today.

`--scale` runs samviz.evaluate_scale instead (the sparse models at N up to 2^20 with the exact and the
faiss index; its own arguments, table, README section and JSON).
"""
from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
import math
import multiprocessing
from pathlib import Path
import sys
import time

import torch

import samviz
from samviz import cli
from samviz import tasks as tasks_module
from samviz.checkpoint import atomic_write_bytes
from samviz.paths import PRETRAINED_DIR
import samviz.pretrained as pretrained  # (not `from samviz import pretrained`: see samviz.__getattr__)
from samviz.tasks import TARGETS

EVALUATION_SEED = 1234
BATCHES = 20
BATCH_SIZE = 32
# Twice the trained length: copy 20 → 40 vectors; associative recall 6 → 12 items;
# priority sort: 20 → 40 input vectors (the task then asks for the same fraction of them sorted).
GENERALISATION_LEVELS = {"copy": 40, "associative_recall": 12, "priority_sort": 40}
# Bounds of the command-line arguments, checked before anything is loaded: (lowest, highest).
LIMITS = {"batches": (1, 10_000), "batch_size": (1, 4096), "seed": (-(2**63), 2**64 - 1), "threads": (1, 1024),
          "jobs": (1, 64)}
README_BEGIN = "<!-- samviz-evaluate:begin -->"
README_END = "<!-- samviz-evaluate:end -->"
README_PATH = PRETRAINED_DIR / "README.md"


@torch.no_grad()
def bit_errors(model, task, level, batches: int = BATCHES, batch_size: int = BATCH_SIZE,
               seed: int = EVALUATION_SEED) -> float:
    """Mean bit errors per sequence over batches × batch_size fresh episodes (same seed → same episodes)."""
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for _ in range(batches):
        episode = task.sample(batch_size=batch_size, level=level, generator=generator)
        logits = model(episode.inputs)
        total += tasks_module.bit_errors_per_sequence(logits, episode) * batch_size
        count += batch_size
    return total / count


def evaluate(name_or_path, batches: int = BATCHES, batch_size: int = BATCH_SIZE, seed: int = EVALUATION_SEED,
             generalise: bool = True) -> dict:
    """Load one checkpoint and score it. Returns a row dict (see ROW_COLUMNS)."""
    started = time.monotonic()
    model = pretrained.load(name_or_path)
    meta = model.meta
    task_name = meta.get("task")
    if task_name not in tasks_module.NAMES:
        raise pretrained.CheckpointError(f"{Path(meta['path']) / pretrained.META_FILE}: no task to score it on "
                                         f"(\"task\": {task_name!r}; known: {', '.join(tasks_module.NAMES)})")
    task = tasks_module.get(task_name)
    default = bit_errors(model, task, None, batches, batch_size, seed)
    general_level = GENERALISATION_LEVELS.get(task_name) if generalise else None
    general = None
    if general_level is not None:
        try:
            general = bit_errors(model, task, general_level, batches, batch_size, seed)
        except ValueError as error:    # the task refuses that level: report it, don't fail
            general, general_level = None, f"n/a ({error})"
    target = TARGETS.get(task_name)
    return {
        "name": meta["name"], "path": meta["path"], "model": model.config.kind, "task": task_name,
        "level": meta.get("level"), "max_level": meta.get("max_level"),
        "bit_errors": default, "generalisation": general, "generalisation_level": general_level,
        "target": target, "meets_target": target is not None and default <= target,
        "wall_time_s": meta.get("wall_time_s"), "steps": meta.get("steps"),
        "training_steps": meta.get("training_steps"), "command": meta.get("command"),
        "episodes": batches * batch_size, "seed": seed, "eval_seconds": time.monotonic() - started,
    }


def _hours(seconds) -> str:
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "?"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _number(value, digits=3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_No checkpoints yet: train them with `scripts/train_all.sh`._\n"
    episodes = rows[0]["episodes"]
    seed = rows[0]["seed"]
    lines = [
        f"Bit errors per sequence on {episodes} fresh episodes (seed {seed}); lower is better. "
        "\"2× length\": copy 40 vectors, associative recall 12 items, priority sort 40 inputs.",
        "",
        "| model | task | level reached | bit errors/seq (default range) | 2× length | target | meets target "
        "| training time | steps | reproduce |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        level = f"{row['level']}/{row['max_level']}" if row.get("max_level") else str(row.get("level"))
        general = _number(row["generalisation"]) if row["generalisation"] is not None else str(
            row["generalisation_level"] if row["generalisation_level"] is not None else "–")
        lines.append(
            f"| {row['model']} | {row['task']} | {level} | {_number(row['bit_errors'])} | {general} "
            f"| ≤ {row['target']} | {'yes' if row['meets_target'] else 'no'} | {_hours(row['wall_time_s'])} "
            f"| {row['steps']} | `{row['command']}` |")
    return "\n".join(lines) + "\n"


README_TEMPLATE = f"""# Pretrained models

One directory per model and task: `model.safetensors` (weights) and `meta.json` (model config, task,
curriculum level reached, validation metrics, steps, wall time, samviz and torch versions, and the
command that reproduces the weights). Load one with `samviz.pretrained.load("ntm-copy")`; loading
never unpickles anything (see `samviz/pretrained.py`).

Train the grid with `scripts/train_all.sh` (see its header for PYTHON, TIME_LIMIT, MODELS, TASKS), then
regenerate this table with `python -m samviz.evaluate --all --write-readme --write-meta`.
A model whose "meets target" says "no" did not reach the task's target in its training budget;
`tests/test_pretrained.py` records it as an expected failure for that reason only.

{README_BEGIN}
{README_END}
"""


def write_readme(table: str, path: Path = README_PATH) -> None:
    text = path.read_text(encoding="utf-8") if path.is_file() else README_TEMPLATE
    if README_BEGIN not in text or README_END not in text:
        text = text.rstrip("\n") + f"\n\n{README_BEGIN}\n{README_END}\n"
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, f"{head}{README_BEGIN}\n{table}{README_END}{tail}".encode())


def write_meta(row: dict) -> None:
    directory = Path(row["path"])
    meta = pretrained.read_meta(directory)
    meta["evaluation"] = {k: row[k] for k in ("bit_errors", "generalisation", "generalisation_level",
                                              "episodes", "seed")}
    meta["evaluation"]["samviz_version"] = samviz.__version__
    meta["evaluation"]["torch_version"] = torch.__version__
    meta["meets_target"] = bool(row["meets_target"])
    pretrained.atomic_write_json(directory / pretrained.META_FILE, meta)


def bounded_int(low: int, high: int):
    """An argparse type: an integer in [low, high], or argparse's "invalid value" refusal (exit status 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}] (got {value})")
        return value
    parse.__name__ = "int"
    return parse


def _evaluate_job(job: tuple) -> dict:
    name, batches, batch_size, seed, generalise, threads = job
    torch.set_num_threads(threads)
    return evaluate(name, batches, batch_size, seed, generalise)


@cli.reports_os_errors("python -m samviz.evaluate")
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--scale" in argv:         # the sparse models at large N, exact vs faiss: samviz/evaluate_scale.py
        from . import evaluate_scale
        return evaluate_scale.main([arg for arg in argv if arg != "--scale"], prog="python -m samviz.evaluate --scale")
    parser = argparse.ArgumentParser(prog="python -m samviz.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", help="checkpoint directories or shipped names")
    parser.add_argument("--all", action="store_true", help="every shipped checkpoint in pretrained/")
    parser.add_argument("--batches", type=bounded_int(*LIMITS["batches"]), default=BATCHES,
                        help=f"batches per score (default {BATCHES})")
    parser.add_argument("--batch-size", type=bounded_int(*LIMITS["batch_size"]), default=BATCH_SIZE,
                        help=f"episodes per batch (default {BATCH_SIZE})")
    parser.add_argument("--seed", type=bounded_int(*LIMITS["seed"]), default=EVALUATION_SEED)
    parser.add_argument("--no-generalisation", action="store_true", help="skip the 2× length column")
    parser.add_argument("--threads", type=bounded_int(*LIMITS["threads"]), default=1,
                        help="torch.set_num_threads (per process)")
    parser.add_argument("--jobs", type=bounded_int(*LIMITS["jobs"]), default=1,
                        help="checkpoints evaluated in parallel processes")
    parser.add_argument("--write-readme", action="store_true", help="put the table into pretrained/README.md")
    parser.add_argument("--write-meta", action="store_true", help="store the scores in each meta.json")
    parser.add_argument("--scale", action="store_true",
                        help="instead: the sparse models at N up to 2^20, exact vs faiss index "
                             "(python -m samviz.evaluate --scale --help; samviz/evaluate_scale.py)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = list(args.checkpoints) + (pretrained.available() if args.all else [])
    if not names and not args.write_readme:
        parser.error("name checkpoints or pass --all")
    jobs = [(name, args.batches, args.batch_size, args.seed, not args.no_generalisation, args.threads)
            for name in names]
    try:
        if args.jobs > 1 and len(jobs) > 1:
            # one process per checkpoint (spawn: no forked thread pools), results in the order asked
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(args.jobs, len(jobs)), mp_context=context) as pool:
                rows = list(pool.map(_evaluate_job, jobs))
        else:
            rows = [_evaluate_job(job) for job in jobs]
    except pretrained.CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    table = markdown_table(rows)
    # an OSError here (a read-only checkpoint folder or README, a full disk or stdout) is one line (samviz.cli)
    for row in rows:
        print(f"{row['name']}: {row['bit_errors']:.3f} bit errors/seq, 2×: {row['generalisation']} "
              f"({row['eval_seconds']:.0f} s)", file=sys.stderr)
        if args.write_meta:
            write_meta(row)
    print(table, end="")
    if args.write_readme:
        write_readme(table)
        print(f"wrote {README_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
