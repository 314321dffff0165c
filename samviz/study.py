"""The confirmatory learning study (issue 27): its plan, its runs, and its table and verdicts.

docs/LEARNING_STUDY.md is the protocol; this module is the protocol as data (ARMS, COMMON, TASK_SETTINGS, the
run order) and the reading of its results:

    plan()                      -> every planned run, in the protocol's order (scripts/learning_study.py runs them)
    read_run_folder(folder)     -> a StudyRun from experiments/learning_study/<task>-<arm>-s<seed>/
    read_export()               -> the StudyRuns of assets/learning_curves/study/runs.jsonl (what the app reads)
    summarise(runs)             -> a Summary: a Row per task × arm, a Comparison per test, the verdict sentences

Plain data and JSON (torch comes in only with samviz.tasks, for the targets); the app reads it. The statistics
are samviz.study_statistics.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
from pathlib import Path

from samviz import study_statistics as stats
from samviz.paths import ASSETS_DIR
from samviz.tasks import TARGETS

STUDY_DIR = Path(__file__).resolve().parent.parent / "experiments" / "learning_study"   # a checkout's
EXPORT_DIR = ASSETS_DIR / "learning_curves" / "study"
EXPORT_FILE = EXPORT_DIR / "runs.jsonl"
DEVIATIONS_FILE = EXPORT_DIR / "deviations.md"     # the protocol's "Deviations" and what the queue recorded
MAX_EXPORT_BYTES = 16 << 20
PROTOCOL = "docs/LEARNING_STUDY.md"

MARK_EVERY = 500
MARK_EPISODES = 640
# Every run's settings (TrainConfig field → value), spelled out so that a change of the project's defaults
# does not change the study; then the task's, then the arm's.
COMMON: dict[str, object] = {
    "memory_slots": 128, "heads": 4, "k": 4, "controller_size": 100, "batch": 8, "optimizer": "adam",
    "clip": 10.0, "interface_clip": 20.0, "index": "exact", "link_k": 8, "initial_rows": "zero",
    "write_combination": "mean", "key_strength": "one_plus_softplus", "access_threshold": 0.005,
    "accesses": "reads_and_writes", "window": 100, "eval_every": 250, "val_batch": 64, "select": "worst_level",
    "mark_every": MARK_EVERY, "mark_episodes": MARK_EPISODES,
}
TASK_SETTINGS: dict[str, dict[str, object]] = {
    "copy": {"word_size": 20, "lr": 1e-3, "start_level": 20, "threshold": 0.02, "target": 0.05},
    "associative_recall": {"word_size": 24, "lr": 3e-3, "start_level": 2, "threshold": 0.03, "target": 0.25},
    "priority_sort": {"word_size": 20, "lr": 1e-3, "start_level": 20, "min_level": 20, "threshold": 0.1,
                      "target": 4.0},
}
SESSION = {"log_every": 500, "checkpoint_every": 1000, "threads": 1}
TASK_ORDER = ("associative_recall", "priority_sort", "copy")
RECALL_SEEDS = tuple(range(1001, 1009))
SORT_SEEDS = tuple(range(1001, 1006))


@dataclass(frozen=True)
class Arm:
    """One model under one task's settings, over its seeds."""
    name: str                 # "sam", "sam_faiss65536": the run folders' middle part
    model: str                # samviz.kinds.MODELS
    task: str
    label: str                # what tables and charts call it
    seeds: tuple[int, ...]
    budget: int               # updates
    stage: int                # the protocol's run order: stage 1 first
    settings: dict = field(default_factory=dict)     # beyond COMMON and TASK_SETTINGS

    def run_settings(self) -> dict[str, object]:
        return {**COMMON, **TASK_SETTINGS[self.task], **self.settings}


ARMS: tuple[Arm, ...] = (
    *(Arm(m, m, "associative_recall", m.upper(), RECALL_SEEDS, 30_000, 1) for m in ("ntm", "dam", "sam")),
    *(Arm(m, m, "priority_sort", m.upper(), SORT_SEEDS, 50_000, 2) for m in ("ntm", "dam", "sam")),
    *(Arm(m, m, "copy", m.upper(), RECALL_SEEDS, 20_000, 3) for m in ("ntm", "dam", "sam")),
    *(Arm(m, m, "associative_recall", m.upper(), RECALL_SEEDS, 30_000, 4) for m in ("dnc", "sdnc")),
    Arm("sam_faiss65536", "sam", "associative_recall", "SAM-faiss-2^16", RECALL_SEEDS, 30_000, 5,
        {"memory_slots": 65_536, "index": "faiss"}),
)
ARMS_BY_KEY = {(arm.task, arm.name): arm for arm in ARMS}
STAGES = {1: "associative recall: NTM, DAM, SAM", 2: "priority sort: NTM, DAM, SAM", 3: "copy: NTM, DAM, SAM",
          4: "associative recall: DNC, SDNC", 5: "associative recall: SAM-faiss-2^16"}


@dataclass(frozen=True)
class Test:
    """One declared comparison: `other` against `reference` on `task`; Holm-adjusted within `family`."""
    task: str
    other: str                # arm name
    reference: str            # arm name: the sparse model
    family: str


TESTS: tuple[Test, ...] = (
    *(Test(task, other, "sam", task) for task in TASK_ORDER for other in ("ntm", "dam")),
    Test("associative_recall", "dnc", "sdnc", "dnc-sdnc"),
    Test("associative_recall", "sam_faiss65536", "sam", "faiss"),
)


@dataclass(frozen=True)
class PlannedRun:
    arm: Arm
    seed: int

    @property
    def name(self) -> str:
        return run_name(self.arm.task, self.arm.name, self.seed)


def run_name(task: str, arm: str, seed: int) -> str:
    return f"{task}-{arm}-s{seed}"


def plan() -> list[PlannedRun]:
    """Every run in the protocol's order: stage by stage, seeds in the outer loop, arms in ARMS's order."""
    runs = []
    for stage in sorted(STAGES):
        arms = [arm for arm in ARMS if arm.stage == stage]
        for seed in sorted({s for arm in arms for s in arm.seeds}):
            runs += [PlannedRun(arm, seed) for arm in arms if seed in arm.seeds]
    return runs


def train_arguments(run: PlannedRun) -> list[str]:
    """The `python -m samviz.train` arguments of a fresh start (a resume adds --resume and gives only the
    session's): every setting spelled out."""
    arguments = ["--model", run.arm.model, "--task", run.arm.task, "--seed", str(run.seed),
                 "--steps", str(run.arm.budget)]
    for name, value in {**run.arm.run_settings(), **SESSION}.items():
        arguments += [flag(name), str(value)]
    return arguments


def resume_arguments(run: PlannedRun) -> list[str]:
    arguments = ["--model", run.arm.model, "--task", run.arm.task, "--steps", str(run.arm.budget), "--resume"]
    for name, value in SESSION.items():
        arguments += [flag(name), str(value)]
    return arguments


def flag(name: str) -> str:
    """A TrainConfig field's flag: every field answers to its own name with dashes (samviz.training.config)."""
    return "--" + name.replace("_", "-")


# ------------------------------------------------------------------------------------------ a run's record
@dataclass(frozen=True)
class StudyRun:
    """One planned run as far as it has gone: its marks (update, mean bit errors per sequence over the 640
    episodes), scheduled ones and, for a run that finished before its budget, the one where it ended."""
    task: str
    arm: str
    seed: int
    budget: int
    status: str                                    # "not started", "in progress" or "finished"
    finished: str | None                           # why it ended: "target", "steps", "diverged"
    step: int                                      # updates done
    marks: tuple[tuple[int, float], ...]
    mark_every: int = MARK_EVERY

    @property
    def target(self) -> float:
        return TARGETS[self.task]

    @property
    def done(self) -> bool:
        return self.status == "finished"

    def curve(self) -> list[tuple[int, float]]:
        """The marks at every MARK_EVERY updates from 0 to the budget, for a finished run. A run that ended before
        its budget (at its stop target, or diverged) has its last mark — scored where it ended — carried forward
        to every later mark (the protocol's stop rule)."""
        if not self.done:
            raise ValueError(f"{run_name(self.task, self.arm, self.seed)} has not finished")
        measured = dict(self.marks)
        ended, last = self.marks[-1]
        curve = []
        for step in range(0, self.budget + 1, self.mark_every):
            if step <= ended:
                if step not in measured:
                    raise ValueError(f"{run_name(self.task, self.arm, self.seed)} has no mark at {step:,}")
                curve.append((step, measured[step]))
            else:
                curve.append((step, last))
        return curve

    def updates_to_target(self) -> tuple[int, bool]:
        return stats.updates_to_target(self.curve(), self.target)

    def mean_log_error(self) -> float:
        return stats.mean_log_error(self.curve(), self.budget)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "marks": [list(m) for m in self.marks]})


def read_run_folder(folder: Path, planned: PlannedRun) -> StudyRun:
    """The record of `planned` in its run folder (train_state.json for how far it went and why it ended,
    marks.jsonl for the marks)."""
    folder = Path(folder)
    state_file, marks_file = folder / "train_state.json", folder / "marks.jsonl"
    step, finished = 0, None
    if state_file.is_file():
        saved = json.loads(state_file.read_text())
        step, finished = int(saved["step"]), saved.get("finished")
    marks = []
    if marks_file.is_file():
        for line in marks_file.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:          # a line being written when the folder was read
                continue
            marks.append((int(row["step"]), float(row["bit_errors"])))
    ended = finished in ("target", "diverged") or (finished == "steps" and step >= planned.arm.budget)
    if ended:
        status = "finished"
    elif marks or state_file.is_file():
        status = "in progress"
    else:
        status = "not started"
    # a finished run keeps its scheduled marks and the one where it stopped; an earlier session's end-of-session
    # mark (an off-schedule one that is not the last) is not a measurement of the schedule
    every = int(planned.arm.run_settings()["mark_every"])
    kept = [(s, v) for i, (s, v) in enumerate(marks) if s % every == 0 or (ended and i == len(marks) - 1)]
    return StudyRun(planned.arm.task, planned.arm.name, planned.seed, planned.arm.budget, status,
                    finished if ended else None, step, tuple(kept), every)


def read_study(directory: Path = STUDY_DIR) -> list[StudyRun]:
    """Every planned run's record from the run folders (not started where a folder is missing)."""
    return [read_run_folder(Path(directory) / run.name, run) for run in plan()]


def run_from_dict(row: dict) -> StudyRun:
    """A StudyRun from an exported JSON object; ValueError naming what is wrong."""
    try:
        if (row["task"], row["arm"]) not in ARMS_BY_KEY:
            raise ValueError(f"unknown arm {row['task']}/{row['arm']}")
        if row["status"] not in ("not started", "in progress", "finished"):
            raise ValueError(f"unknown status {row['status']!r}")
        marks = tuple((int(s), float(v)) for s, v in row["marks"])
        return StudyRun(str(row["task"]), str(row["arm"]), int(row["seed"]), int(row["budget"]), row["status"],
                        row.get("finished"), int(row["step"]), marks, int(row.get("mark_every", MARK_EVERY)))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a learning-study run: {error}") from None


def read_export(path: Path = EXPORT_FILE) -> list[StudyRun]:
    """The exported runs (one JSON object per line); [] when there is no export yet."""
    path = Path(path)
    if not path.is_file():
        return []
    if path.stat().st_size > MAX_EXPORT_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_EXPORT_BYTES >> 20} MiB; not a learning-study export")
    return [run_from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------ the table
@dataclass(frozen=True)
class Row:
    """One task × arm over its finished runs."""
    task: str
    arm: str
    label: str
    planned: int
    done: int
    in_progress: int
    reached: int                                   # finished runs that reached the target
    budget: int
    median: float | None                           # Kaplan-Meier median updates to target; None: not reached
    median_interval: tuple[float, float] | None    # bootstrap 95 %; a bound may be inf (not reached)
    restricted_mean: float | None                  # mean of min(updates to target, budget)
    restricted_mean_interval: tuple[float, float] | None
    log_error: float | None                        # mean over runs of the mean log10 error over the budget
    log_error_interval: tuple[float, float] | None
    times: tuple[tuple[int, bool], ...]            # per finished run, by seed: (updates, reached)


@dataclass(frozen=True)
class Comparison:
    """One declared test between two arms' finished runs (difference = other − reference)."""
    test: Test
    runs: tuple[int, int]                          # finished runs of (other, reference)
    difference: float | None                       # restricted means, updates
    difference_interval: tuple[float, float] | None
    p: float | None                                # exact two-sided permutation p, min(updates, budget)
    p_adjusted: float | None                       # Holm within the family
    verdict: str | None                            # study_statistics verdict on p_adjusted
    log_difference: float | None                   # mean log errors
    log_difference_interval: tuple[float, float] | None
    log_p: float | None                            # unadjusted (secondary)
    log_verdict: str | None


@dataclass(frozen=True)
class Summary:
    rows: tuple[Row, ...]
    comparisons: tuple[Comparison, ...]
    runs: tuple[StudyRun, ...]

    def row(self, task: str, arm: str) -> Row:
        return next(r for r in self.rows if r.task == task and r.arm == arm)

    @property
    def done(self) -> int:
        return sum(run.done for run in self.runs)

    @property
    def complete(self) -> bool:
        return self.done == len(self.runs)


def _capped(item: tuple[int, bool], budget: int) -> float:
    return float(min(item[0], budget))


def summarise(runs: list[StudyRun], resamples: int = stats.RESAMPLES) -> Summary:
    """The study's table and tests over the finished runs (protocol, "Statistics")."""
    rows = []
    for arm in ARMS:
        mine = [r for r in runs if r.task == arm.task and r.arm == arm.name]
        finished = sorted((r for r in mine if r.done), key=lambda r: r.seed)
        times = tuple(r.updates_to_target() for r in finished)
        logs = [r.mean_log_error() for r in finished]

        def median_of(items, budget=arm.budget):
            return stats.km_median([t for t, _ in items], [e for _, e in items])

        def mean_of(items, budget=arm.budget):
            return sum(_capped(i, budget) for i in items) / len(items)

        rows.append(Row(
            arm.task, arm.name, arm.label, len(arm.seeds), len(finished), sum(r.status == "in progress" for r in mine),
            sum(e for _, e in times), arm.budget,
            median_of(times) if times else None,
            stats.bootstrap_interval(times, median_of, resamples) if times else None,
            mean_of(times) if times else None,
            stats.bootstrap_interval(times, mean_of, resamples) if times else None,
            sum(logs) / len(logs) if logs else None,
            stats.bootstrap_interval(logs, lambda xs: sum(xs) / len(xs), resamples) if logs else None,
            times))
    by_key = {(r.task, r.arm): r for r in rows}
    logs_by_key = {(a.task, a.name): [r.mean_log_error() for r in sorted(runs, key=lambda r: r.seed)
                                      if r.task == a.task and r.arm == a.name and r.done] for a in ARMS}
    raw = []
    for test in TESTS:
        other, reference = by_key[test.task, test.other], by_key[test.task, test.reference]
        a = [_capped(t, other.budget) for t in other.times]
        b = [_capped(t, reference.budget) for t in reference.times]
        la, lb = logs_by_key[test.task, test.other], logs_by_key[test.task, test.reference]
        if a and b:
            raw.append((test, a, b, la, lb, stats.permutation_p(a, b), stats.permutation_p(la, lb)))
        else:
            raw.append((test, a, b, la, lb, None, None))
    adjusted: dict[Test, float] = {}
    for family in dict.fromkeys(t.family for t in TESTS):
        members = [(item[0], item[5]) for item in raw if item[0].family == family and item[5] is not None]
        adjusted.update(zip((t for t, _ in members), stats.holm([p for _, p in members]), strict=True))
    comparisons = []
    for test, a, b, la, lb, p, log_p in raw:
        if p is None:
            comparisons.append(Comparison(test, (len(a), len(b)), None, None, None, None, None, None, None, None,
                                          None))
            continue
        difference = sum(a) / len(a) - sum(b) / len(b)
        log_difference = sum(la) / len(la) - sum(lb) / len(lb)
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        comparisons.append(Comparison(
            test, (len(a), len(b)), difference, stats.bootstrap_difference(a, b, mean, resamples), p, adjusted[test],
            stats.comparison_verdict(difference, adjusted[test]), log_difference,
            stats.bootstrap_difference(la, lb, mean, resamples), log_p,
            stats.comparison_verdict(log_difference, log_p)))
    return Summary(tuple(rows), tuple(comparisons), tuple(runs))


# ------------------------------------------------------------------------------------------ words
TASK_LABELS = {"copy": "Copy", "associative_recall": "Associative recall", "priority_sort": "Priority sort"}
CLAIMS = {"copy": "SAM trains comparably to the dense models",
          "associative_recall": "SAM reaches its asymptotic error faster than the dense models",
          "priority_sort": "SAM reaches its asymptotic error faster than the dense models"}


def updates(value: float | None, budget: int | None = None) -> str:
    """Updates as text: "not reached within 30,000" for None or inf (with the budget when given)."""
    if value is None or value == float("inf"):
        return f"not reached within {budget:,}" if budget else "not reached"
    return f"{value:,.0f}"


def interval(bounds: tuple[float, float] | None, budget: int | None = None, digits: int = 0) -> str:
    if bounds is None:
        return "—"
    low, high = bounds
    if digits:
        return f"[{low:.{digits}f}, {high:.{digits}f}]"
    high_text = f"> {budget:,}" if high == float("inf") and budget else updates(high, budget)
    low_text = f"> {budget:,}" if low == float("inf") and budget else f"{low:,.0f}"
    return f"[{low_text}, {high_text}]"


def signed(value: float, digits: int = 0) -> str:
    return f"{value:+,.{digits}f}"


def comparison_sentence(summary: Summary, comparison: Comparison) -> str:
    """One test in words, every number from `comparison` and the rows it compares."""
    test = comparison.test
    other, reference = summary.row(test.task, test.other), summary.row(test.task, test.reference)
    if comparison.p is None:
        return f"{other.label} against {reference.label}: no finished runs of both yet."
    verdict = comparison.verdict
    said = {stats.FASTER: f"{reference.label} faster", stats.SLOWER: f"{reference.label} slower",
            stats.NO_DIFFERENCE: "no difference detected"}[verdict]
    adjusted = f", Holm-adjusted {comparison.p_adjusted:.3f}" if comparison.p_adjusted != comparison.p else ""
    return (f"{other.label} against {reference.label}: {said} (mean updates to target, capped at the budget, "
            f"{other.restricted_mean:,.0f} against {reference.restricted_mean:,.0f}; difference "
            f"{signed(comparison.difference)} {interval(comparison.difference_interval)}; exact permutation "
            f"p = {comparison.p:.3f}{adjusted}; {comparison.runs[0]} and {comparison.runs[1]} runs). Mean log10 "
            f"error over the budget {other.log_error:.2f} against {reference.log_error:.2f} (difference "
            f"{signed(comparison.log_difference, 2)} {interval(comparison.log_difference_interval, digits=2)}, "
            f"p = {comparison.log_p:.3f}: {_log_words(comparison.log_verdict, reference.label)}).")


def _log_words(verdict: str, reference: str) -> str:
    return {stats.FASTER: f"{reference} lower", stats.SLOWER: f"{reference} higher",
            stats.NO_DIFFERENCE: "no difference detected"}[verdict]


def task_verdict(summary: Summary, task: str) -> str:
    """The paper's Fig. 2 claim for `task` against NTM and DAM, in one sentence computed from the tests; said to
    be interim while the task's NTM/DAM/SAM runs are not all finished."""
    tests = [c for c in summary.comparisons if c.test.task == task and c.test.family == task]
    rows = [summary.row(task, name) for name in ("ntm", "dam", "sam")]
    done, planned = sum(r.done for r in rows), sum(r.planned for r in rows)
    status = (f"all {planned} runs finished" if done == planned
              else f"interim: {done} of {planned} runs finished, the study is in progress")
    if any(c.verdict is None for c in tests):
        return f"{TASK_LABELS[task]} ({status}): not every model has a finished run yet; no verdict."
    verdicts = [c.verdict for c in tests]
    if task == "copy":
        claim = stats.comparable_claim(verdicts)
    else:
        claim = stats.faster_claim(verdicts)
    said = "; ".join(f"against the {summary.row(task, c.test.other).label}, "
                     + {stats.FASTER: "SAM faster", stats.SLOWER: "SAM slower",
                        stats.NO_DIFFERENCE: "no difference detected"}[c.verdict]
                     + f" (p = {c.p_adjusted:.3f})" for c in tests)
    return f"{TASK_LABELS[task]} ({status}): the paper's claim that {CLAIMS[task]} is {claim} — {said}."


def pair_verdict(summary: Summary, family: str) -> str:
    """The DNC-vs-SDNC or faiss-vs-exact test in one sentence."""
    comparison = next(c for c in summary.comparisons if c.test.family == family)
    test = comparison.test
    other, reference = summary.row(test.task, test.other), summary.row(test.task, test.reference)
    done, planned = other.done + reference.done, other.planned + reference.planned
    status = (f"all {planned} runs finished" if done == planned
              else f"interim: {done} of {planned} runs finished")
    return f"Associative recall, {other.label} against {reference.label} ({status}): " \
        + comparison_sentence(summary, comparison).split(": ", 1)[1]


def table_rows(summary: Summary) -> list[dict[str, str]]:
    """The results table as text cells, one dict per task × arm (the page, the README and `summary` show it)."""
    tests = {(c.test.task, c.test.other): c for c in summary.comparisons}
    references = {(c.test.task, c.test.other): summary.row(c.test.task, c.test.reference).label
                  for c in summary.comparisons}
    rows = []
    for row in summary.rows:
        test = tests.get((row.task, row.arm))
        done = row.done > 0
        rows.append({
            "task": TASK_LABELS[row.task].lower(), "model": row.label,
            "runs finished": f"{row.done}/{row.planned}" + (f" ({row.in_progress} running)" if row.in_progress else ""),
            "reached target": f"{row.reached}/{row.done}" if done else "—",
            "median updates to target [95 % CI]":
                f"{updates(row.median, row.budget)} {interval(row.median_interval, row.budget)}" if done else "—",
            "mean updates to target, capped at the budget [95 % CI]":
                f"{row.restricted_mean:,.0f} {interval(row.restricted_mean_interval, row.budget)}" if done else "—",
            "mean log10 error over the budget [95 % CI]":
                f"{row.log_error:.2f} {interval(row.log_error_interval, digits=2)}" if done else "—",
            "against": references.get((row.task, row.arm), "—"),
            "p, updates to target (Holm)": "—" if test is None or test.p is None
            else f"{test.p:.3f} ({test.p_adjusted:.3f})",
            "p, log error": "—" if test is None or test.log_p is None else f"{test.log_p:.3f}",
        })
    return rows


def status_sentence(summary: Summary) -> str:
    in_progress = sum(run.status == "in progress" for run in summary.runs)
    if summary.complete:
        return f"All {len(summary.runs)} planned runs have finished."
    return (f"Runs finished: {summary.done} of {len(summary.runs)} planned ({in_progress} in progress). The study is "
            "in progress: every number here is interim and will change as runs finish.")


def table_markdown(summary: Summary, protocol_link: str = PROTOCOL) -> str:
    """The status, the results table and the verdicts as markdown (pretrained/README.md's section, `summary`)."""
    cells = table_rows(summary)
    header = list(cells[0])
    lines = [f"{status_sentence(summary)} Protocol: [docs/LEARNING_STUDY.md]({protocol_link}); regenerated from the "
             "committed run folders by `python scripts/learning_study.py export`.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[key] for key in header) + " |" for row in cells]
    lines += ["", *(f"- {task_verdict(summary, task)}" for task in TASK_ORDER),
              *(f"- {pair_verdict(summary, family)}" for family in ("dnc-sdnc", "faiss"))]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ deviations
def protocol_deviations(protocol: Path) -> str:
    """The text of the protocol's "## Deviations" section (to the end of the file or the next "## ")."""
    text = Path(protocol).read_text()
    if "\n## Deviations\n" not in text:
        raise ValueError(f"{protocol} has no '## Deviations' section")
    section = text.split("\n## Deviations\n", 1)[1]
    return section.split("\n## ", 1)[0].strip()


def recorded_events(directory: Path = STUDY_DIR) -> list[str]:
    """What the queue's study.json files record that the protocol counts as a deviation or asks to be recorded:
    a run whose sessions ran different code, a session that ended with a non-zero exit, a run continued on
    another CPU."""
    events = []
    for run in plan():
        path = Path(directory) / run.name / "study.json"
        if not path.is_file():
            continue
        sessions = json.loads(path.read_text()).get("sessions", [])
        hashes = list(dict.fromkeys(s.get("code_hash") for s in sessions))
        if len(hashes) > 1:
            events.append(f"{run.name}: its sessions ran {len(hashes)} versions of the code ({', '.join(hashes)})")
        for session in sessions:
            if session.get("exit") not in (0, None):
                events.append(f"{run.name}: a session ended with exit status {session['exit']} at update "
                              f"{session.get('step_after', 0):,}")
        cpus = list(dict.fromkeys(s.get("cpu") for s in sessions))
        if len(cpus) > 1:
            events.append(f"{run.name}: continued on another CPU ({' → '.join(map(str, cpus))}); not a deviation")
    return events


def deviations_markdown(protocol_text: str, events: list[str]) -> str:
    recorded = "\n".join(f"- {event}" for event in events) if events else "none"
    return f"{protocol_text}\n\nRecorded by the queue (each run's study.json): {recorded}"
