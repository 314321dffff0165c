"""Learning curves: validation bit errors against training updates, read from training logs, and what they say.

Two sources, one shape (a `Run`):
- the shipped checkpoints: each pretrained/<name>/meta.json keeps its run's validations and command
  (one seed per model and task, each trained with its own settings — not a controlled comparison);
- experiment grids (scripts/learning_curves.py): several seeds per (model, task, variant) with the same
  budget; `scripts/learning_curves.py export` writes them to assets/learning_curves/<grid>.jsonl, one JSON
  object per run, which `read_runs` loads.

"Updates to target" is the first validation (on the task's full level range) at or below the task's target
(samviz.tasks.TARGETS); a run that never got there has None. One validation is a few dozen episodes (64 on
priority sort), so a single dip can cross the target by noise: "updates to held target" asks instead that the
mean of HELD_VALIDATIONS validations in a row, from that one on, be at or below it (each validation scores the
same episodes, so this is steadier weights, not more episodes). Plain data, no torch: the app reads it cheaply.
The confirmatory study (docs/LEARNING_STUDY.md) measures on 640 fresh episodes instead: samviz.study.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
import json
from pathlib import Path
import statistics

from samviz.paths import ASSETS_DIR, PRETRAINED_DIR
from samviz.tasks import TARGETS

CURVES_DIR = ASSETS_DIR / "learning_curves"
MAX_RUN_FILE_BYTES = 16 << 20     # an exported grid is a few hundred KB; refuse anything far larger
# 1,000 updates at the usual 250 between validations. Every validation scores the SAME fixed set (64 episodes on
# sort), so the mean of 4 is the mean of 4 scorings of those 64 episodes by 4 successive weights — not 256 episodes:
# it smooths the weights' update-to-update swings, not the sampling noise of a small set.
HELD_VALIDATIONS = 4


@dataclass(frozen=True)
class Run:
    """One training run's validation curve."""
    model: str                    # "sam"
    task: str                     # "associative_recall"
    variant: str                  # "shipped", or the grid's variant name ("jittered", "zero", ...)
    seed: int
    curve: tuple[tuple[int, float], ...]   # (updates, validation bit errors per sequence), increasing updates
    command: str = ""             # how it was trained
    advances: tuple[tuple[int, int], ...] = ()   # the curriculum's (update, new maximum level h), where known

    @property
    def target(self) -> float:
        return TARGETS[self.task]

    @property
    def updates_done(self) -> int:
        return self.curve[-1][0] if self.curve else 0

    @property
    def best(self) -> float | None:
        return min(errors for _, errors in self.curve) if self.curve else None

    @property
    def updates_to_target(self) -> int | None:
        """The first validation at or below the target, None when the run never reached it."""
        return next((step for step, errors in self.curve if errors <= self.target), None)

    @property
    def updates_to_held_target(self) -> int | None:
        """The first validation at or below the target from which the mean of HELD_VALIDATIONS validations in a
        row is at or below it too (never before updates_to_target); None when there is none. Near the end of the
        curve the window holds what is left, so a run that stopped on reaching its stop target is credited where
        it stopped."""
        errors = [value for _, value in self.curve]
        return next((step for i, (step, value) in enumerate(self.curve) if value <= self.target
                     and statistics.fmean(errors[i:i + HELD_VALIDATIONS]) <= self.target), None)

    def value_at(self, updates: int) -> float | None:
        """The validation at `updates` (the last one at or before it); None before the first or past the end."""
        if not self.curve or updates > self.updates_done or updates < self.curve[0][0]:
            return None
        return [errors for step, errors in self.curve if step <= updates][-1]

    def largest_rise(self) -> tuple[int, float, int, float] | None:
        """(updates, errors) before and after the largest rise between neighbouring validations; None if the
        curve never rises."""
        rises = [(b - a, (s, a, t, b)) for (s, a), (t, b) in zip(self.curve, self.curve[1:], strict=False) if b > a]
        return max(rises)[1] if rises else None

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "curve": [list(point) for point in self.curve],
                           "advances": [list(a) for a in self.advances]})


def run_from_dict(row: dict) -> Run:
    """A Run from an exported JSON object; ValueError naming what is wrong."""
    try:
        task = str(row["task"])
        if task not in TARGETS:
            raise ValueError(f"unknown task {task!r}")
        curve = tuple((int(step), float(errors)) for step, errors in row["curve"])
        return Run(model=str(row["model"]), task=task, variant=str(row["variant"]), seed=int(row["seed"]),
                   curve=curve, command=str(row.get("command", "")))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a learning-curve run: {error}") from None


def read_runs(path: Path) -> list[Run]:
    """Runs from an exported grid file (one JSON object per line)."""
    path = Path(path)
    if path.stat().st_size > MAX_RUN_FILE_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_RUN_FILE_BYTES >> 20} MiB; not a learning-curve export")
    return [run_from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def read_training_log(folder: Path, model: str, task: str, variant: str, seed: int) -> Run | None:
    """A Run from a `python -m samviz.train` run folder's train_log.jsonl (validations only); None without one."""
    log = Path(folder) / "train_log.jsonl"
    if not log.exists():
        return None
    curve = []
    for line in log.read_text().splitlines():
        row = json.loads(line)
        if "validation_bit_errors" in row:
            curve.append((int(row["step"]), float(row["validation_bit_errors"])))
    command = ""
    meta = Path(folder) / "meta.json"
    if meta.exists():
        command = json.loads(meta.read_text()).get("command", "")
    return Run(model, task, variant, seed, tuple(curve), command) if curve else None


def shipped_runs(directory: Path = PRETRAINED_DIR) -> list[Run]:
    """The shipped checkpoints' training curves: every scheduled validation from the checkpoint's
    train_log.jsonl where it ships one (the whole run), else from meta.json (which keeps only the last 200)."""
    runs = []
    for meta_path in sorted(Path(directory).glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        model = meta.get("config", {}).get("kind") or meta_path.parent.name.split("-", 1)[0]
        task = meta.get("task")
        if task not in TARGETS:
            continue
        log = meta_path.parent / "train_log.jsonl"
        if log.is_file() and log.stat().st_size <= MAX_RUN_FILE_BYTES:
            rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            curve = tuple((int(r["step"]), float(r["validation_bit_errors"])) for r in rows
                          if "validation_bit_errors" in r)
        else:
            curve = tuple((int(v["step"]), float(v["bit_errors"])) for v in meta.get("validations", [])
                          if v.get("scheduled", True))
        advances = tuple((int(step), int(level)) for step, level in meta.get("curriculum", {}).get("advances", []))
        if curve:
            runs.append(Run(model, task, "shipped", int(meta.get("training", {}).get("seed", 0)), curve,
                            meta.get("command", ""), advances))
    return runs


@dataclass(frozen=True)
class Group:
    """Every seed of one (model, task, variant), summarised."""
    model: str
    task: str
    variant: str
    runs: tuple[Run, ...]

    @property
    def reached(self) -> int:
        return sum(run.updates_to_target is not None for run in self.runs)

    @property
    def median_updates_to_target(self) -> float | None:
        """Median over seeds, a run that never reached the target counting as more than any that did; None when
        the median itself is such a run (fewer than half reached it)."""
        return median_of_reached([run.updates_to_target for run in self.runs])

    @property
    def median_updates_to_held_target(self) -> float | None:
        """As median_updates_to_target, with each run's updates_to_held_target."""
        return median_of_reached([run.updates_to_held_target for run in self.runs])

    def band(self, every: int) -> list[tuple[int, float, float, float, int]]:
        """(updates, median, min, max, seeds there) over the seeds' validations every `every` updates, from
        `every` to the longest run; a run that has stopped (reached its target or was cut) drops out."""
        longest = max((run.updates_done for run in self.runs), default=0)
        points = []
        for mark in range(every, longest + 1, every):
            values = [v for v in (run.value_at(mark) for run in self.runs) if v is not None]
            if values:
                points.append((mark, statistics.median(values), min(values), max(values), len(values)))
        return points


def median_of_reached(updates: list[int | None]) -> float | None:
    """Median of per-seed updates, None (never reached) counting as more than any; None when the median is one."""
    keyed = sorted(value if value is not None else float("inf") for value in updates)
    median = statistics.median(keyed) if keyed else float("inf")
    return None if median == float("inf") else median


def group(runs: list[Run]) -> list[Group]:
    """Runs grouped by (model, task, variant), sorted; the runs in each by seed."""
    keyed: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        keyed.setdefault((run.model, run.task, run.variant), []).append(run)
    return [Group(*key, tuple(sorted(members, key=lambda r: r.seed))) for key, members in sorted(keyed.items())]


def exported_grids(directory: Path = CURVES_DIR) -> dict[str, list[Run]]:
    """Every exported grid under assets/learning_curves/, by file stem."""
    if not Path(directory).is_dir():
        return {}
    return {path.stem: read_runs(path) for path in sorted(Path(directory).glob("*.jsonl"))}
