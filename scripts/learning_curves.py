"""Learning curves as an experiment anyone can rerun: train a grid of (model, task, variant, seed) runs with the
same budget, then summarise updates-to-target and the best validation score, median and spread over seeds.

    python scripts/learning_curves.py run --models ntm,sam --tasks associative_recall --seeds 1,2,3 \
        --steps 8000 --variant jittered: --variant zero:--initial-rows=zero --out runs/curves
    python scripts/learning_curves.py summary --out runs/curves          # markdown table
    python scripts/learning_curves.py summary --out runs/curves --json   # one JSON object per row
    python scripts/learning_curves.py export --out runs/curves --to assets/learning_curves/curves.jsonl  # the app's

Each run is an ordinary `python -m samviz.train` run in OUT/<model>-<task>-<variant>-s<seed>, started with
--resume when its folder already has a training state, so the grid can be stopped and continued at any time.
Runs go one at a time per job (`--jobs`), one thread each. A variant is NAME:EXTRA-FLAGS (flags separated by
spaces or commas, e.g. "zero:--initial-rows=zero"); "jittered:" adds nothing (the shipped settings).

"Updates to target" is the first validation (every --eval-every updates, on the task's full level range) at
or below the task's target (samviz.tasks.TARGETS); a run that never reached it counts as "not reached".
"""
from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import json
import os
from pathlib import Path
import shlex
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from anywhere without installing

from samviz import cli, learning_curves  # noqa: E402
from samviz.kinds import MODELS  # noqa: E402
from samviz.tasks import NAMES, TARGETS  # noqa: E402

MAX_RUNS = 200


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, flags = text.partition(":")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise argparse.ArgumentTypeError(f"a variant is NAME:FLAGS with a plain name, got {text!r}")
    return name, shlex.split(flags.replace(",", " "))


def run_dir(out: Path, model: str, task: str, variant: str, seed: int) -> Path:
    return out / f"{model}-{task}-{variant}-s{seed}"


def train_one(out: Path, model: str, task: str, variant: tuple[str, list[str]], seed: int, steps: int,
              eval_every: int) -> int:
    folder = run_dir(out, model, task, variant[0], seed)
    command = [sys.executable, "-m", "samviz.train", "--model", model, "--task", task, "--steps", str(steps),
               "--threads", "1", "--out", str(folder), "--log-every", "500"]
    if (folder / "train_state.json").exists():
        command.append("--resume")
    else:
        command += ["--seed", str(seed), "--eval-every", str(eval_every), *variant[1]]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "stdout.log", "a") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        return subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})


def grid_runs(out: Path) -> list[learning_curves.Run]:
    """Every run folder OUT/<model>-<task>-<variant>-s<seed> with validations, as learning_curves.Run."""
    runs = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        name, _, seed = folder.name.rpartition("-s")
        model, _, task_and_variant = name.partition("-")
        task = next((t for t in NAMES if task_and_variant.startswith(t + "-")), None)
        if task is None or not seed.isdigit():
            continue
        run = learning_curves.read_training_log(folder, model, task, task_and_variant[len(task) + 1:], int(seed))
        if run is not None:
            runs.append(run)
    return runs


def summary(out: Path, as_json: bool, every: int = 2000) -> None:
    groups = learning_curves.group(grid_runs(out))
    rows = []
    for g in groups:
        rows.append({"model": g.model, "task": g.task, "variant": g.variant, "seeds": [r.seed for r in g.runs],
                     "target": TARGETS[g.task], "updates_to_target": [r.updates_to_target for r in g.runs],
                     "median_updates_to_target": g.median_updates_to_target, "reached": f"{g.reached}/{len(g.runs)}",
                     "updates_to_held_target": [r.updates_to_held_target for r in g.runs],
                     "median_updates_to_held_target": g.median_updates_to_held_target,
                     "best_validation": [round(r.best, 3) for r in g.runs],
                     "updates_done": [r.updates_done for r in g.runs]})
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return

    def per_seed(values: list[int | None]) -> str:
        return ", ".join("—" if v is None else f"{v:,}" for v in values)

    def median(value: float | None) -> str:
        return "not reached" if value is None else f"{value:,.0f}"

    print("| model | task | variant | seeds | reached target | updates to target (per seed) | median "
          f"| held {learning_curves.HELD_VALIDATIONS} validations (per seed) | median held "
          "| best validation bit errors (per seed) | updates done |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['task']} | {row['variant']} | {','.join(map(str, row['seeds']))} "
              f"| {row['reached']} | {per_seed(row['updates_to_target'])} | {median(row['median_updates_to_target'])} "
              f"| {per_seed(row['updates_to_held_target'])} | {median(row['median_updates_to_held_target'])} "
              f"| {', '.join(map(str, row['best_validation']))} | {', '.join(f'{u:,}' for u in row['updates_done'])} |")
    curve_table(groups, every)


def curve_table(groups: list[learning_curves.Group], every: int) -> None:
    """The learning curves as a table: median [min, max] over seeds of the validation bit errors every `every`."""
    longest = max((r.updates_done for g in groups for r in g.runs), default=0)
    marks = list(range(every, longest + 1, every))
    if not marks:
        return
    print(f"\nValidation bit errors per sequence (full level range): median [min, max] over seeds, every {every:,} "
          "updates")
    print("| model | task | variant | " + " | ".join(f"{m:,}" for m in marks) + " |")
    print("|---|---|---|" + "---|" * len(marks))
    for g in groups:
        band = {mark: (median, low, high, seeds) for mark, median, low, high, seeds in g.band(every)}
        cells = []
        for mark in marks:
            if mark not in band:
                cells.append("—")
                continue
            median, low, high, seeds = band[mark]
            partial = "" if seeds == len(g.runs) else f" ({seeds} seeds)"
            cells.append(f"{median:.2f} [{low:.2f}, {high:.2f}]{partial}")
        print(f"| {g.model} | {g.task} | {g.variant} | " + " | ".join(cells) + " |")


def export(out: Path, to: Path) -> int:
    """Write every run's validation curve to `to` (one JSON object per line) for the app's learning-curves page."""
    runs = grid_runs(out)
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_text("".join(run.to_json() + "\n" for run in runs))
    return len(runs)


def positive_list(text: str, choices=None, kind=str) -> list:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or len(items) > 32:
        raise argparse.ArgumentTypeError(f"give 1 to 32 comma-separated values, got {text[:60]!r}")
    if choices is not None:
        unknown = [item for item in items if item not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(choices)}")
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text[:60]!r}") from None


@cli.reports_os_errors("scripts/learning_curves.py")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the grid (resumes what exists)")
    run.add_argument("--models", type=lambda t: positive_list(t, MODELS), default=["ntm", "sam"])
    run.add_argument("--tasks", type=lambda t: positive_list(t, NAMES), default=["associative_recall"])
    run.add_argument("--seeds", type=lambda t: positive_list(t, kind=int), default=[1, 2, 3])
    run.add_argument("--variant", type=parse_variant, action="append", help="NAME:EXTRA-FLAGS (repeatable)")
    run.add_argument("--steps", type=int, default=8000)
    run.add_argument("--eval-every", type=int, default=250)
    run.add_argument("--jobs", type=int, default=1, choices=range(1, 17), metavar="1..16")
    run.add_argument("--out", type=Path, default=ROOT / "runs" / "curves")
    show = sub.add_parser("summary", help="updates to target, median and spread over seeds")
    show.add_argument("--out", type=Path, default=ROOT / "runs" / "curves")
    show.add_argument("--json", action="store_true")
    show.add_argument("--every", type=int, default=2000, help="updates between the curve table's columns")
    save = sub.add_parser("export", help="write the runs' curves for the app (assets/learning_curves/NAME.jsonl)")
    save.add_argument("--out", type=Path, default=ROOT / "runs" / "curves")
    save.add_argument("--to", type=Path, required=True, help="e.g. assets/learning_curves/sam-recall-16k.jsonl")
    args = parser.parse_args(argv)
    if args.command == "export":
        if not args.out.is_dir():
            parser.error(f"no runs in {args.out}")
        if args.to.suffix != ".jsonl":
            parser.error("--to must name a .jsonl file")
        print(f"{export(args.out, args.to)} runs written to {args.to}")
        return 0
    if args.command == "summary":
        if not args.out.is_dir():
            parser.error(f"no runs in {args.out}")
        if not 1 <= args.every <= 10**7:
            parser.error("--every must be in [1, 10^7]")
        summary(args.out, args.json, args.every)
        return 0
    if not 1 <= args.steps <= 10**7 or not 1 <= args.eval_every <= args.steps:
        parser.error("--steps must be in [1, 10^7] and --eval-every in [1, steps]")
    variants = args.variant or [("jittered", [])]
    # seeds first, so a grid stopped early has every variant at the first seeds
    grid = [(m, t, v, s) for s in args.seeds for t in args.tasks for m in args.models for v in variants]
    if len(grid) > MAX_RUNS:
        parser.error(f"{len(grid)} runs; at most {MAX_RUNS}")
    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(lambda r: train_one(args.out, r[0], r[1], r[2], r[3], args.steps, args.eval_every),
                              grid))
    summary(args.out, as_json=False)
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
