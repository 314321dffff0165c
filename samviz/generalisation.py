"""How far past its training length a shipped model still works: bit errors per sequence at each level.

    python -m samviz.generalisation --task associative_recall --levels 2,3,4,5,6,12,24,36,48,60 \
        --slots sam=65536,sdnc=65536,ntm=128 --json assets/generalisation/associative_recall.json

For each shipped checkpoint of the task (or those named with --models), at each level: the mean bit errors
per sequence over --episodes fresh episodes (seed --seed, never a training or validation seed; the same
episodes for every model), and "chance" — half the scored bits, what a model that guesses makes. The sparse
models run with the memory size --slots gives them (their weights do not depend on N; the paper's long-episode
claim is about large memories), the dense ones at the size they were trained at unless --slots says otherwise.
Levels up to samviz.tasks.GENERALISATION_FACTOR × the task's trained maximum (associative recall: 60 items, 10×).
The table goes to stdout, a progress line per (model, level) to stderr, the rows to --json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time

import torch

from samviz import cli
from samviz import tasks as tasks_module
from samviz.evaluate import bounded_int
from samviz.kinds import MODELS, spec
from samviz.paths import ASSETS_DIR
import samviz.pretrained as pretrained  # (not `from samviz import pretrained`: see samviz.__getattr__)

SEED = 4242                  # fresh episodes: not a training (small ints), validation (999) or evaluation (1234) seed
EPISODES = 64
BATCH_SIZE = 32
MAX_SLOTS = 1 << 20
MAX_EPISODES = 4096
MAX_LEVELS = 64
CURVES_DIR = ASSETS_DIR / "generalisation"      # <task>.json: the rows of a run with --json, for the app
ROW_KEYS = ("name", "model", "task", "level", "trained_max_level", "memory_slots", "bit_errors", "chance")
MAX_FILE_BYTES = 4 << 20


def chance_bit_errors(episode: tasks_module.Episode) -> float:
    """Bit errors per sequence of a model that guesses each answer bit: half the scored bits, per sequence."""
    return float(episode.mask.sum()) * episode.targets.shape[-1] / 2 / episode.inputs.shape[1]


@torch.no_grad()
def score(model, task: tasks_module.Task, level: int, episodes: int, seed: int,
          batch_size: int = BATCH_SIZE) -> tuple[float, float]:
    """(mean bit errors per sequence, chance) over `episodes` episodes at `level` (seeded: the same episodes for
    every model given the same seed and level)."""
    generator = torch.Generator().manual_seed(seed + level)
    errors = chance = 0.0
    done = 0
    while done < episodes:
        size = min(batch_size, episodes - done)
        episode = task.sample(batch_size=size, level=level, generator=generator)
        errors += tasks_module.bit_errors_per_sequence(model(episode.inputs), episode) * size
        chance += chance_bit_errors(episode) * size
        done += size
    return errors / episodes, chance / episodes


def parse_levels(text: str) -> list[int]:
    try:
        levels = sorted({int(item) for item in text.split(",") if item.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole numbers: {text[:60]!r}") from None
    if not 1 <= len(levels) <= MAX_LEVELS:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_LEVELS} levels")
    return levels


def parse_slots(text: str) -> dict[str, int]:
    """"sam=65536,sdnc=65536,ntm=128" -> {kind: slots}; each kind known, each size in [2, 2^20]."""
    slots = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        kind, _, value = item.partition("=")
        if kind not in MODELS:
            raise argparse.ArgumentTypeError(f"unknown model kind {kind[:20]!r}; choose from {', '.join(MODELS)}")
        if not value.isdigit() or not 2 <= int(value) <= MAX_SLOTS:
            raise argparse.ArgumentTypeError(f"{kind}: memory slots must be a whole number in [2, {MAX_SLOTS}]")
        if not spec(kind).sparse and int(value) > spec(kind).app_slot_limit:
            raise argparse.ArgumentTypeError(f"{kind} is dense: at most {spec(kind).app_slot_limit} slots here")
        slots[kind] = int(value)
    return slots


def chosen_checkpoints(parser: argparse.ArgumentParser, text: str | None, shipped: list[str],
                       what: str = "shipped checkpoint") -> list[str]:
    """The comma-separated names in --models `text` (every one of `shipped` when it is None), each of them one of
    `shipped`; parser.error (exit 2) naming the others."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else shipped
    unknown = [name for name in names if name not in shipped]
    if unknown or not names:
        parser.error(f"argument --models: not a {what}: {', '.join(unknown)[:200]} (choose from {', '.join(shipped)})")
    return names


def run(task_name: str, names: list[str], levels: list[int], slots: dict[str, int], episodes: int, seed: int,
        index: str, progress=sys.stderr) -> list[dict]:
    """One row per (checkpoint, level)."""
    task = tasks_module.get(task_name)
    for level in levels:
        task.check_level(level)                      # refused before any model is loaded
    rows = []
    for name in names:
        meta = pretrained.read_meta(name)
        kind = meta["config"]["kind"]
        overrides = {"memory_slots": slots[kind]} if kind in slots else {}
        model = pretrained.load(name, index=index if spec(kind).sparse else None, **overrides)
        for level in levels:
            started = time.monotonic()
            errors, chance = score(model, task, level, episodes, seed)
            rows.append({"name": name, "model": kind, "task": task_name, "level": level,
                         "trained_max_level": task.max_level, "memory_slots": model.config.memory_slots,
                         "index": model.config.index if spec(kind).sparse else None, "bit_errors": errors,
                         "chance": chance, "episodes": episodes, "seed": seed,
                         "seconds": round(time.monotonic() - started, 1)})
            print(f"{name} N={model.config.memory_slots} level {level}: {errors:.3f} bit errors/seq "
                  f"(chance {chance:.1f}) in {rows[-1]['seconds']:.0f} s", file=progress, flush=True)
    return rows


def load_rows(path: Path) -> list[dict]:
    """The rows a run wrote with --json; ValueError naming what is wrong with the file."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: larger than {MAX_FILE_BYTES >> 20} MiB, not a generalisation curve")
    rows = json.loads(path.read_text())
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(k in r for k in ROW_KEYS) for r in rows):
        raise ValueError(f"{path.name}: not a list of generalisation rows with {', '.join(ROW_KEYS)}")
    return rows


def stored_curves(directory: Path = CURVES_DIR) -> dict[str, list[dict]]:
    """Every stored curve under assets/generalisation/, by task."""
    if not Path(directory).is_dir():
        return {}
    return {path.stem: load_rows(path) for path in sorted(Path(directory).glob("*.json"))}


def markdown(rows: list[dict]) -> str:
    levels = sorted({row["level"] for row in rows})
    names = list(dict.fromkeys(row["name"] for row in rows))
    cell = {(row["name"], row["level"]): row for row in rows}
    lines = ["| model | N | " + " | ".join(f"{level}" for level in levels) + " |",
             "|---|---|" + "---|" * len(levels)]
    for name in names:
        first = next(row for row in rows if row["name"] == name)
        lines.append(f"| {name} | {first['memory_slots']:,} | "
                     + " | ".join(f"{cell[(name, level)]['bit_errors']:.2f}" if (name, level) in cell else "—"
                                  for level in levels) + " |")
    chance = {level: next(row["chance"] for row in rows if row["level"] == level) for level in levels}
    lines.append("| chance (guessing) | | " + " | ".join(f"{chance[level]:.1f}" for level in levels) + " |")
    return "\n".join(lines) + "\n"


@cli.reports_os_errors("python -m samviz.generalisation")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samviz.generalisation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=tasks_module.NAMES, default="associative_recall")
    parser.add_argument("--models", help="shipped checkpoints (comma-separated; default: every one of the task)")
    parser.add_argument("--levels", type=parse_levels, required=True, help="comma-separated levels")
    parser.add_argument("--slots", type=parse_slots, default={}, help="memory slots per kind, e.g. sam=65536")
    parser.add_argument("--index", choices=("exact", "faiss"), default="exact", help="index of the sparse models")
    parser.add_argument("--episodes", type=bounded_int(1, MAX_EPISODES), default=EPISODES)
    parser.add_argument("--seed", type=bounded_int(0, 2**62), default=SEED)
    parser.add_argument("--threads", type=bounded_int(1, 64), default=1)
    parser.add_argument("--json", type=Path, help="write the rows here (JSON list)")
    args = parser.parse_args(argv)
    task = tasks_module.get(args.task)
    for level in args.levels:
        try:
            task.check_level(level)
        except ValueError as error:
            parser.error(f"argument --levels: {error}")
    shipped = [name for name in pretrained.available() if pretrained.read_meta(name).get("task") == args.task]
    names = chosen_checkpoints(parser, args.models, shipped, f"shipped {args.task} checkpoint")
    torch.set_num_threads(args.threads)
    rows = run(args.task, names, args.levels, args.slots, args.episodes, args.seed, args.index)
    print(markdown(rows), end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        cli.write_text(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
