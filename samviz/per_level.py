"""Does every shipped model meet its task's target at EVERY level of the range it was trained on?

    python -m samviz.per_level --write-readme --json assets/evaluation/per_level.json

A mean over the range can hide a level the model fails (a model perfect on short episodes and poor on the
longest still averages under the target), so this scores each level on its own: for every shipped checkpoint,
at each level that the task's default range draws (copy 1–20, associative recall 2–6 items, priority sort
its fixed n = 20: samviz.tasks.range_levels), the mean bit errors per sequence over
--episodes fresh episodes (seed --seed + level, never a training, validation or evaluation seed; the same
episodes for every model of a task). A model "meets its target at every level" when each level's mean is at
most samviz.tasks.TARGETS[task]. The table goes to stdout (and into pretrained/README.md with
--write-readme), a progress line per checkpoint to stderr, the rows to --json.
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
from samviz.generalisation import chosen_checkpoints, score
from samviz.kinds import spec
from samviz.paths import ASSETS_DIR, PRETRAINED_DIR
import samviz.pretrained as pretrained  # (not `from samviz import pretrained`: see samviz.__getattr__)
from samviz.tasks import TARGETS

SEED = 777_000               # fresh: not a training (small ints), validation (999), evaluation (1234) or
                             # generalisation (4242) seed
EPISODES = 640
MAX_EPISODES = 8192
JSON_PATH = ASSETS_DIR / "evaluation" / "per_level.json"
README_PATH = PRETRAINED_DIR / "README.md"
README_BEGIN = "<!-- samviz-per-level:begin -->"
README_END = "<!-- samviz-per-level:end -->"
ROW_KEYS = ("name", "model", "task", "level", "bit_errors", "target", "episodes", "seed")


def levels_of(task_name: str) -> list[int]:
    """The levels a task's default range draws (each one is checked on its own)."""
    return tasks_module.range_levels(tasks_module.get(task_name))


def score_checkpoint(name: str, episodes: int = EPISODES, seed: int = SEED) -> list[dict]:
    """One row per level of the checkpoint's task range. Sparse models run with the exact index at the size
    they were trained at: this checks what was learned, not the index (the scale table checks that)."""
    meta = pretrained.read_meta(name)
    task_name = meta["task"]
    model = pretrained.load(name, index="exact" if spec(meta["config"]["kind"]).sparse else None)
    task = tasks_module.get(task_name)
    rows = []
    for level in levels_of(task_name):
        errors, _chance = score(model, task, level, episodes, seed)
        rows.append({"name": name, "model": meta["config"]["kind"], "task": task_name, "level": level,
                     "bit_errors": errors, "target": TARGETS[task_name], "episodes": episodes, "seed": seed})
    return rows


def meets_every_level(rows: list[dict], name: str) -> bool:
    """True when every level of `name`'s rows is within its target (and there is at least one)."""
    mine = [row for row in rows if row["name"] == name]
    return bool(mine) and all(row["bit_errors"] <= row["target"] for row in mine)


def markdown(rows: list[dict]) -> str:
    """One table per task: a row per checkpoint, a column per level, the worst level and the verdict."""
    out = []
    for task_name in dict.fromkeys(row["task"] for row in rows):
        mine = [row for row in rows if row["task"] == task_name]
        levels = sorted({row["level"] for row in mine})
        names = list(dict.fromkeys(row["name"] for row in mine))
        cell = {(row["name"], row["level"]): row["bit_errors"] for row in mine}
        first = mine[0]
        out.append(f"**{task_name}** (target ≤ {first['target']} bit errors/seq at each level; "
                   f"{first['episodes']} episodes per level, seed {first['seed']} + level)\n")
        out.append("| model | " + " | ".join(str(level) for level in levels) + " | worst | every level |")
        out.append("|---|" + "---|" * len(levels) + "---|---|")
        for name in names:
            values = [cell.get((name, level)) for level in levels]
            worst = max(value for value in values if value is not None)
            out.append(f"| {name} | " + " | ".join("—" if value is None else f"{value:.3f}" for value in values)
                       + f" | {worst:.3f} | {'yes' if meets_every_level(mine, name) else '**no**'} |")
        out.append("")
    return "\n".join(out)


def write_readme(table: str, path: Path = README_PATH) -> None:
    """Replace the text between the per-level markers of pretrained/README.md with `table`."""
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{path}: no {README_BEGIN} … {README_END} markers to write the table between")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_BEGIN}\n{table}{README_END}{tail}")


def load_rows(path: Path = JSON_PATH) -> list[dict]:
    """The rows a run wrote with --json; ValueError naming what is wrong with the file."""
    rows = json.loads(Path(path).read_text())
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(k in r for k in ROW_KEYS) for r in rows):
        raise ValueError(f"{Path(path).name}: not a list of per-level rows with {', '.join(ROW_KEYS)}")
    return rows


@cli.reports_os_errors("python -m samviz.per_level")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samviz.per_level", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="shipped checkpoints (comma-separated; default: every shipped one)")
    parser.add_argument("--episodes", type=bounded_int(1, MAX_EPISODES), default=EPISODES,
                        help=f"fresh episodes per level (default {EPISODES})")
    parser.add_argument("--seed", type=bounded_int(0, 2**62), default=SEED)
    parser.add_argument("--threads", type=bounded_int(1, 64), default=1)
    parser.add_argument("--json", type=Path, help="write the rows here (JSON list; with --models, the other "
                                                  "shipped models' rows already there are kept)")
    parser.add_argument("--write-readme", action="store_true", help="put the table into pretrained/README.md")
    args = parser.parse_args(argv)
    shipped = pretrained.available()
    names = chosen_checkpoints(parser, args.models, shipped)
    torch.set_num_threads(args.threads)
    rows = []
    for name in sorted(names, key=lambda n: (pretrained.read_meta(n)["task"], n)):
        started = time.monotonic()
        rows += score_checkpoint(name, args.episodes, args.seed)
        print(f"{name}: worst level {max(r['bit_errors'] for r in rows if r['name'] == name):.3f} bit errors/seq "
              f"in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if args.models and args.json and args.json.is_file():
        # re-scoring some models: keep the stored rows of the other shipped ones (in task, name order)
        kept = [row for row in load_rows(args.json) if row["name"] in shipped and row["name"] not in names]
        rows = sorted(kept + rows, key=lambda row: (row["task"], row["name"], row["level"]))
    table = markdown(rows)
    print(table, end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        cli.write_text(args.json, json.dumps(rows, indent=1) + "\n")
    if args.write_readme:
        write_readme(table)
    failing = [name for name in names if not meets_every_level(rows, name)]
    if failing:
        print(f"below target at some level: {', '.join(failing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
