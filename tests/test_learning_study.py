"""The learning study (issue 27): its statistics on hand-computed cases, its plan against the protocol, its run
records, and that the verdict sentences follow from the table."""
from __future__ import annotations

import json
import math
import sys
import types

import pytest

from samviz import study
from samviz import study_statistics as stats
from samviz.tasks import TARGETS


# ------------------------------------------------------------------------------------------ per run
def test_updates_to_target_is_the_first_mark_at_or_below_it_else_censored_at_the_budget():
    curve = [(0, 5.0), (500, 0.6), (1000, 0.5), (1500, 0.2)]
    assert stats.updates_to_target(curve, 0.5) == (1000, True)         # "at or below"
    assert stats.updates_to_target(curve, 0.1) == (1500, False)        # never: censored at the last mark
    with pytest.raises(ValueError):
        stats.updates_to_target([], 0.5)


def test_mean_log_error_by_hand():
    # log10(99.99 + 0.01) = 2, log10(0.09 + 0.01) = -1: one trapezoid of mean 0.5
    assert stats.mean_log_error([(0, 99.99), (10, 0.09)], budget=10) == pytest.approx(0.5)
    # two spans: [0, 10] at 2 then 2 → 1 over [10, 30]: (10·2 + 20·1.5) / 30
    curve = [(0, 99.99), (10, 99.99), (30, 9.99)]
    assert stats.mean_log_error(curve, budget=30) == pytest.approx((10 * 2 + 20 * 1.5) / 30)
    assert stats.mean_log_error([(0, 0.0), (5, 0.0)], budget=5) == pytest.approx(-2.0)   # perfect: log10(0.01)
    with pytest.raises(ValueError):
        stats.mean_log_error([(0, 1.0), (5, 1.0)], budget=10)           # must reach the budget


# ------------------------------------------------------------------------------------------ Kaplan-Meier
def test_kaplan_meier_with_censoring_by_hand():
    """Times 2, 3+ (censored), 4, 4, 6+: at 2, 1 of 5 at risk reaches → 4/5; at 4, 2 of 3 at risk (3+ has left)
    → 4/5 · 1/3 = 4/15. Median: first time at or below 1/2 → 4. Restricted mean to 6: 2·1 + 2·4/5 + 2·4/15."""
    times, reached = [2, 3, 4, 4, 6], [True, False, True, True, False]
    assert stats.kaplan_meier(times, reached) == [(2, pytest.approx(0.8)), (4, pytest.approx(4 / 15))]
    assert stats.km_median(times, reached) == 4
    assert stats.restricted_mean(times, reached, horizon=6) == pytest.approx(2 + 2 * 0.8 + 2 * 4 / 15)


def test_kaplan_meier_median_not_reached_and_censoring_at_the_horizon():
    # 2 of 5 reach (at 1 and 3), 3 censored at 10: the fraction reached never gets to one half
    times, reached = [1, 3, 10, 10, 10], [True, True, False, False, False]
    assert stats.km_median(times, reached) is None
    # everyone followed to the horizon: the restricted mean is the mean of min(time, horizon)
    assert stats.restricted_mean(times, reached, horizon=10) == pytest.approx((1 + 3 + 30) / 5)
    # an even count: the median is where the fraction reached first gets to one half (the lower middle value)
    assert stats.km_median([1, 2, 3, 4], [True] * 4) == 2
    # a run that reached the target exactly at the horizon counts there
    assert stats.kaplan_meier([10, 10], [True, False]) == [(10, 0.5)]


# ------------------------------------------------------------------------------------------ bootstrap
def test_bootstrap_interval_by_hand_and_with_a_fixed_seed():
    """Two values a < b: a resample's mean is a (prob 1/4), (a+b)/2 (1/2) or b (1/4), so with 10,000 resamples
    the 2.5 % and 97.5 % order statistics are a and b. One value: the interval is that value. The same seed
    gives the same interval; another seed may not."""
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert stats.bootstrap_interval([1.0, 3.0], mean) == (1.0, 3.0)
    assert stats.bootstrap_interval([7.0], mean) == (7.0, 7.0)
    values = [3.1, 0.2, 5.5, 1.7, 2.2, 9.0, 4.4, 0.9]
    first = stats.bootstrap_interval(values, mean)
    assert first == stats.bootstrap_interval(values, mean)              # seed 2027 every time
    assert min(values) < first[0] < mean(values) < first[1] < max(values)
    assert stats.bootstrap_interval(values, mean, seed=1) != first


def test_the_vectorised_bootstrap_of_a_mean_is_the_general_one():
    """bootstrap_mean_interval draws the same resamples as bootstrap_interval(·, mean): the same interval, by hand
    on two values and one, and equal to the general one on bit errors of 16 episodes and on fractional values."""
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert stats.bootstrap_mean_interval([1.0, 3.0]) == (1.0, 3.0)
    assert stats.bootstrap_mean_interval([7.0]) == (7.0, 7.0)
    bits = [0, 0, 4, 0, 1, 0, 0, 0, 2, 0, 0, 9, 0, 0, 1, 0]
    assert stats.bootstrap_mean_interval(bits) == stats.bootstrap_interval(bits, mean)
    values = [3.1, 0.2, 5.5, 1.7, 2.2, 9.0, 4.4, 0.9]
    assert stats.bootstrap_mean_interval(values) == pytest.approx(stats.bootstrap_interval(values, mean), abs=1e-12)
    assert stats.bootstrap_mean_interval(values, seed=1) == pytest.approx(
        stats.bootstrap_interval(values, mean, seed=1), abs=1e-12)
    with pytest.raises(ValueError, match="no samples"):
        stats.bootstrap_mean_interval([])


def test_bootstrap_interval_of_a_median_that_may_not_be_reached():
    """Four runs, two reached (100, 200), two censored at 1,000: the median is not reached whenever a resample
    has fewer than two reaching runs... so the upper bound is infinite ("> budget") and the lower is 100."""
    items = [(100, True), (200, True), (1000, False), (1000, False)]
    median = lambda xs: stats.km_median([t for t, _ in xs], [r for _, r in xs])  # noqa: E731
    assert median(items) == 200
    low, high = stats.bootstrap_interval(items, median)
    assert low == 100 and high == math.inf


def test_bootstrap_difference_by_hand():
    # a is always 5 and b always 2: every resampled difference is 3
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert stats.bootstrap_difference([5.0, 5.0], [2.0, 2.0, 2.0], mean) == (3.0, 3.0)
    low, high = stats.bootstrap_difference([10.0, 12.0, 11.0], [1.0, 2.0, 3.0], mean)
    assert 7.0 <= low < 9.0 < high <= 11.0


# ------------------------------------------------------------------------------------------ permutation
def test_exact_permutation_p_on_a_tiny_grid():
    """[1, 2] against [3, 4]: the 6 splits of {1, 2, 3, 4} into two pairs give differences of means
    −2, −1, 0, 0, 1, 2; as extreme as −2 in either direction: 2 of 6; one-sided (≤ −2): 1 of 6."""
    assert stats.permutation_p([1, 2], [3, 4]) == pytest.approx(1 / 3)
    assert stats.permutation_p([1, 2], [3, 4], "less") == pytest.approx(1 / 6)
    assert stats.permutation_p([1, 2], [3, 4], "greater") == pytest.approx(1.0)
    assert stats.permutation_p([5, 5], [5, 5]) == 1.0                     # ties everywhere
    # 3 against 2 values: C(5, 3) = 10 splits; [10, 11, 12] vs [1, 2] is the most extreme of them, and its mirror
    # ([1, 2, x] vs the rest) is not as extreme in absolute terms, so p = 1/10
    assert stats.permutation_p([10, 11, 12], [1, 2]) == pytest.approx(1 / 10)
    with pytest.raises(ValueError):
        stats.permutation_p([1], [], "two-sided")


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 → ×3, ×2, ×1 = 0.03, 0.04, 0.04 (monotone); given back in the given order
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    assert stats.holm([0.03]) == [0.03]


def test_verdict_words():
    assert stats.comparison_verdict(1000, 0.01) == stats.FASTER
    assert stats.comparison_verdict(-1000, 0.01) == stats.SLOWER
    assert stats.comparison_verdict(1000, 0.2) == stats.NO_DIFFERENCE
    assert stats.faster_claim([stats.FASTER, stats.FASTER]) == "supported"
    assert stats.faster_claim([stats.FASTER, stats.NO_DIFFERENCE]) == "supported in part"
    assert stats.faster_claim([stats.NO_DIFFERENCE, stats.NO_DIFFERENCE]) == "not supported"
    assert stats.faster_claim([stats.FASTER, stats.SLOWER]) == "contradicted"
    assert stats.comparable_claim([stats.NO_DIFFERENCE] * 2).startswith("consistent")
    assert stats.comparable_claim([stats.SLOWER, stats.NO_DIFFERENCE]) == "not consistent: SAM slower"


# ------------------------------------------------------------------------------------------ the plan
def test_the_plan_is_the_protocols():
    runs = study.plan()
    assert len(runs) == 3 * 8 + 3 * 5 + 3 * 8 + 2 * 8 + 8
    assert [r.name for r in runs[:4]] == ["associative_recall-ntm-s1001", "associative_recall-dam-s1001",
                                          "associative_recall-sam-s1001", "associative_recall-ntm-s1002"]
    assert [r.arm.stage for r in runs] == sorted(r.arm.stage for r in runs)      # stage by stage
    assert runs[-1].name == "associative_recall-sam_faiss65536-s1008"
    seeds = {r.seed for r in runs}
    assert seeds == set(range(1001, 1009)) and not seeds & {0, 1, 2, 3, 999, 1234}
    assert {r.seed for r in runs if r.arm.task == "priority_sort"} == set(range(1001, 1006))
    # everything but the faiss arm's memory is the same for every model of a task
    for task in study.TASK_ORDER:
        settings = [{k: v for k, v in a.run_settings().items() if k not in ("memory_slots", "index")}
                    for a in study.ARMS if a.task == task]
        assert all(s == settings[0] for s in settings)
    assert {study.ARMS_BY_KEY["associative_recall", "sam_faiss65536"].run_settings()[k]
            for k in ("memory_slots", "index")} == {65_536, "faiss"}


def test_every_run_command_builds_the_protocols_config():
    """The queue's arguments, parsed by the trainer's own CLI, give 4 heads, K 4, LSTM 100, batch 8, N 128
    (2^16 for the faiss arm), the stop at half the target, sort at n = 20 only, and marks every 500 on 640."""
    from samviz import train
    from samviz.training.config import STOP_FRACTION, TrainConfig
    parser = train.build_parser()
    for planned in study.plan():
        if planned.seed != 1001:
            continue
        args = parser.parse_args([*study.train_arguments(planned), "--out", "x"])
        config = TrainConfig.for_run(args.kind, args.task, **{n: getattr(args, n) for n in train.SETTINGS}).validate()
        assert (config.heads, config.k, config.controller_size, config.batch) == (4, 4, 100, 8)
        assert config.memory_slots == (65_536 if planned.arm.name == "sam_faiss65536" else 128)
        assert config.target == TARGETS[config.task] * STOP_FRACTION and config.optimizer == "adam"
        assert (config.mark_every, config.mark_episodes, config.steps) == (500, 640, planned.arm.budget)
        assert config.min_level == (20 if config.task == "priority_sort" else None)
        resumed = parser.parse_args([*study.resume_arguments(planned), "--out", "x"])
        assert resumed.resume and resumed.steps == planned.arm.budget


# ------------------------------------------------------------------------------------------ run records
def _planned(task="associative_recall", arm="sam", seed=1001):
    return study.PlannedRun(study.ARMS_BY_KEY[task, arm], seed)


def _write_run(folder, marks, step, finished):
    folder.mkdir(parents=True)
    (folder / "marks.jsonl").write_text("".join(json.dumps({"step": s, "bit_errors": v, "scheduled": s % 500 == 0})
                                                + "\n" for s, v in marks))
    (folder / "train_state.json").write_text(json.dumps({"step": step, "finished": finished}))


def test_a_run_that_met_its_stop_target_carries_its_last_mark_to_the_budget(tmp_path):
    # stopped at 1,250 (between the marks at 1,000 and 1,500) with 0.1 bit errors
    _write_run(tmp_path / "r", [(0, 5.0), (500, 2.0), (1000, 0.7), (1250, 0.1)], 1250, "target")
    run = study.read_run_folder(tmp_path / "r", _planned())
    assert run.done and run.finished == "target"
    curve = run.curve()
    assert curve[:4] == [(0, 5.0), (500, 2.0), (1000, 0.7), (1500, 0.1)]
    assert curve[-1] == (30_000, 0.1) and len(curve) == 61
    assert run.updates_to_target() == (1500, True)        # the stop's mark stands at the next scheduled one


def test_run_states_from_their_folders(tmp_path):
    planned = _planned()
    assert study.read_run_folder(tmp_path / "none", planned).status == "not started"
    # a session's end off the schedule (7,250) while still going: in progress, that mark not kept
    _write_run(tmp_path / "going", [(0, 5.0), (500, 4.0), (7250, 3.0)], 7250, None)
    going = study.read_run_folder(tmp_path / "going", planned)
    assert going.status == "in progress" and going.marks == ((0, 5.0), (500, 4.0))
    with pytest.raises(ValueError):
        going.curve()
    # "steps" before the budget: an earlier session's --steps, not the study's end
    _write_run(tmp_path / "short", [(0, 5.0), (500, 4.0)], 500, "steps")
    assert study.read_run_folder(tmp_path / "short", planned).status == "in progress"
    marks = [(s, 3.0) for s in range(0, 30_001, 500)]
    _write_run(tmp_path / "full", marks, 30_000, "steps")
    full = study.read_run_folder(tmp_path / "full", planned)
    assert full.done and full.updates_to_target() == (30_000, False)
    assert full.mean_log_error() == pytest.approx(math.log10(3.01))
    assert study.run_from_dict(json.loads(full.to_json())) == full


def test_a_missing_mark_is_an_error_not_a_guess(tmp_path):
    _write_run(tmp_path / "gap", [(0, 5.0), (1000, 0.1)], 1000, "target")
    with pytest.raises(ValueError, match="no mark at 500"):
        study.read_run_folder(tmp_path / "gap", _planned()).curve()


# ------------------------------------------------------------------------------------------ table and words
def _finished(task, arm, seed, reached_at=None):
    """A finished run that sits at 6× its task's target and, when reached_at is given, stops there at 0.0."""
    level = 6 * TARGETS[task]
    budget = study.ARMS_BY_KEY[task, arm].budget
    if reached_at is None:
        marks = tuple((s, level) for s in range(0, budget + 1, 500))
        return study.StudyRun(task, arm, seed, budget, "finished", "steps", budget, marks)
    marks = tuple((s, level) for s in range(0, reached_at, 500)) + ((reached_at, 0.0),)
    return study.StudyRun(task, arm, seed, budget, "finished", "target", reached_at, marks)


def _synthetic_recall():
    """SAM reaches the recall target at 5,000-8,500 on all 8 seeds; the NTM never; DAM at the same times as SAM."""
    runs = []
    for i, seed in enumerate(study.RECALL_SEEDS):
        runs += [_finished("associative_recall", "ntm", seed),
                 _finished("associative_recall", "dam", seed, 5000 + 500 * i),
                 _finished("associative_recall", "sam", seed, 5000 + 500 * i)]
    return runs


def test_the_table_and_the_verdict_sentence_follow_from_the_runs():
    summary = study.summarise(_synthetic_recall(), resamples=500)
    ntm, dam, sam = (summary.row("associative_recall", a) for a in ("ntm", "dam", "sam"))
    assert (ntm.reached, dam.reached, sam.reached) == (0, 8, 8) and sam.done == 8
    assert ntm.median is None and sam.median == 6500          # the 4th of 5,000 … 8,500
    assert sam.restricted_mean == pytest.approx(sum(5000 + 500 * i for i in range(8)) / 8)
    assert ntm.restricted_mean == 30_000
    against_ntm, against_dam = (c for c in summary.comparisons if c.test.family == "associative_recall")
    assert against_ntm.p == pytest.approx(2 / 12_870)          # complete separation, two-sided
    assert against_ntm.p_adjusted == pytest.approx(2 * 2 / 12_870) and against_ntm.verdict == stats.FASTER
    assert against_dam.p == 1.0 and against_dam.verdict == stats.NO_DIFFERENCE
    sentence = study.task_verdict(summary, "associative_recall")
    assert "is supported in part" in sentence
    assert "against the NTM, SAM faster" in sentence and "against the DAM, no difference detected" in sentence
    assert f"p = {against_ntm.p_adjusted:.3f}" in sentence and "interim: 24 of 24" not in sentence
    assert "all 24 runs finished" in sentence
    words = study.comparison_sentence(summary, against_ntm)
    assert f"{ntm.restricted_mean:,.0f} against {sam.restricted_mean:,.0f}" in words
    assert "SAM faster" in words


def test_the_verdict_says_interim_and_nothing_without_runs():
    runs = _synthetic_recall()[:6]                 # two seeds' worth
    summary = study.summarise(runs, resamples=200)
    sentence = study.task_verdict(summary, "associative_recall")
    assert "interim: 6 of 24 runs finished, the study is in progress" in sentence
    assert study.task_verdict(summary, "copy").endswith("not every model has a finished run yet; no verdict.")
    # with 2 + 2 runs the smallest two-sided p is 2/6: no difference can be detected, and the sentence says so
    assert "no difference detected" in sentence and "SAM faster" not in sentence


def test_a_slower_sam_contradicts_the_claim():
    runs = []
    for seed in study.SORT_SEEDS:
        runs += [_finished("priority_sort", "ntm", seed, 10_000), _finished("priority_sort", "dam", seed, 10_000),
                 _finished("priority_sort", "sam", seed)]
    sentence = study.task_verdict(study.summarise(runs, resamples=200), "priority_sort")
    assert "is contradicted" in sentence and "against the NTM, SAM slower" in sentence


# ------------------------------------------------------------------------------------------ the queue
def test_the_queue_trains_a_run_from_the_pinned_code_and_records_it(tmp_path, monkeypatch):
    """scripts/learning_study.py's queue on one tiny run: it trains from a `git archive` of the pinned commit, the
    run finishes with its marks, study.json records the session (commit, code hash, updates), and a second
    start finds nothing to do."""
    import argparse
    import importlib.util
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("learning_study_script", root / "scripts" / "learning_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    tiny = study.Arm("ntm", "ntm", "copy", "NTM", (1001,), 10, 1, {
        "memory_slots": 8, "word_size": 4, "controller_size": 8, "batch": 2, "val_batch": 4, "eval_every": 5,
        "mark_every": 5, "mark_episodes": 8})
    monkeypatch.setattr(study, "plan", lambda: [study.PlannedRun(tiny, 1001)])
    for name, value in (("STUDY_DIR", tmp_path), ("CODE_FILE", tmp_path / "code.json"),
                        ("SNAPSHOTS", tmp_path / ".code"), ("PID_FILE", tmp_path / "queue.pid")):
        monkeypatch.setattr(script, name, value)
    arguments = argparse.Namespace(pin=None, pin_faiss=None, stages=None, commit=False)
    assert script.Queue(arguments).run() == 0
    folder = tmp_path / "copy-ntm-s1001"
    record = study.read_run_folder(folder, study.PlannedRun(tiny, 1001))
    assert record.done and record.step == 10 and [s for s, _ in record.marks] == [0, 5, 10]
    head = script.git("rev-parse", "HEAD").stdout.strip()
    sessions = json.loads((folder / "study.json").read_text())["sessions"]
    assert len(sessions) == 1 and sessions[0]["commit"] == head and sessions[0]["step_after"] == 10
    assert sessions[0]["code_hash"] == script.code_hash(tmp_path / ".code" / head)
    assert json.loads((tmp_path / "code.json").read_text())["pins"]["1-4"]["commit"] == head
    assert script.Queue(arguments).run() == 0                       # finished: nothing more
    assert len(json.loads((folder / "study.json").read_text())["sessions"]) == 1
    assert not (tmp_path / "queue.pid").exists()


def test_two_lanes_train_each_planned_run_once_side_by_side(tmp_path, monkeypatch):
    """--lanes 2 on three tiny runs: every run is trained exactly once (one session each, none taken by both
    lanes), each finishes with the marks of a run trained alone, and each session records its lanes."""
    import argparse
    import importlib.util
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("learning_study_script", root / "scripts" / "learning_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    tiny = study.Arm("ntm", "ntm", "copy", "NTM", (1001, 1002, 1003), 10, 1, {
        "memory_slots": 8, "word_size": 4, "controller_size": 8, "batch": 2, "val_batch": 4, "eval_every": 5,
        "mark_every": 5, "mark_episodes": 8})
    planned = [study.PlannedRun(tiny, seed) for seed in (1001, 1002, 1003)]
    monkeypatch.setattr(study, "plan", lambda: planned)
    for name, value in (("STUDY_DIR", tmp_path), ("CODE_FILE", tmp_path / "code.json"),
                        ("SNAPSHOTS", tmp_path / ".code"), ("PID_FILE", tmp_path / "queue.pid")):
        monkeypatch.setattr(script, name, value)
    started = []
    train = script.Queue.train

    def counted(self, run, commit):
        started.append(run.name)
        return train(self, run, commit)

    monkeypatch.setattr(script.Queue, "train", counted)
    arguments = argparse.Namespace(pin=None, pin_faiss=None, stages=None, commit=False, lanes=2)
    assert script.Queue(arguments).run() == 0
    assert sorted(started) == sorted(run.name for run in planned)          # each once, by one lane
    for run in planned:
        record = study.read_run_folder(tmp_path / run.name, run)
        assert record.done and record.step == 10 and [s for s, _ in record.marks] == [0, 5, 10]
        sessions = json.loads((tmp_path / run.name / "study.json").read_text())["sessions"]
        assert len(sessions) == 1 and sessions[0]["lanes"] == 2 and sessions[0]["exit"] == 0
    assert not (tmp_path / "queue.pid").exists()


def test_a_finished_run_is_committed_with_the_readme_table_unless_the_readme_has_edits(tmp_path, monkeypatch,
                                                                                      capsys):
    """The queue's commit of a finished run regenerates and commits pretrained/README.md's table and figure with it
    (so neither lags the committed runs), except when that file has uncommitted edits, which it must not sweep in:
    then both are left for `export` and the log says so. A figure that failed to photograph is not committed."""
    import importlib.util
    from pathlib import Path
    import subprocess
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("learning_study_script", root / "scripts" / "learning_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    planned = study.PlannedRun(study.plan()[0].arm, 1001)
    (tmp_path / planned.name).mkdir()
    monkeypatch.setattr(script, "STUDY_DIR", tmp_path)
    exports, commits = [], []
    monkeypatch.setattr(script, "export", lambda figure, readme: exports.append((figure, readme)))
    monkeypatch.setattr(script, "commit_paths", lambda paths, message, force=(): commits.append((paths, message)))
    photographs, photographed = [], script.photographed
    monkeypatch.setattr(script, "photographed", lambda: photographs.append(1) or len(photographs) == 1)
    record = study.StudyRun(planned.arm.task, planned.arm.name, planned.seed, planned.arm.budget, "finished", "target",
                            500, ((0, 9.0), (500, 0.1)))
    for readme_edited, figure_made in ((False, True), (False, False), (True, False)):
        exports.clear(), commits.clear()
        monkeypatch.setattr(script, "git", lambda *a, check=True, edited=readme_edited: subprocess.CompletedProcess(
            ["git", *a], int(edited) if a[:2] == ("diff", "--quiet") else 0, "", ""))
        script.Queue.commit_finished(None, planned, record)
        (paths, message), = commits
        assert exports == [(False, not readme_edited)]
        assert (script.README in paths) is (not readme_edited)
        assert tmp_path / planned.name in paths and study.EXPORT_DIR in paths
        assert ("pretrained/README.md's table" in message) is (not readme_edited)
        assert (script.FIGURE in paths) is figure_made and ("and figure" in message) is figure_made
        assert ("has uncommitted edits" in capsys.readouterr().out) is readme_edited
    assert len(photographs) == 2                       # none while the README has edits

    def broken(out):
        raise TimeoutError("chromium never painted")

    monkeypatch.setitem(sys.modules, "plot_learning_curves", types.SimpleNamespace(photograph_study=broken))
    assert photographed() is False
    assert "the figure was not photographed (TimeoutError: chromium never painted)" in capsys.readouterr().out
    made = []
    monkeypatch.setitem(sys.modules, "plot_learning_curves", types.SimpleNamespace(photograph_study=made.append))
    assert photographed() is True and made == [script.FIGURE]


def test_lanes_out_of_range_are_refused_before_anything_runs(capsys):
    import importlib.util
    from pathlib import Path

    import pytest
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("learning_study_script", root / "scripts" / "learning_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for lanes in ("0", str(script.MAX_LANES + 1)):
        with pytest.raises(SystemExit) as stopped:
            script.main(["run", "--lanes", lanes])
        assert stopped.value.code == 2
        assert "--lanes must be between 1 and" in capsys.readouterr().err


def test_stop_signals_the_queue_in_queue_pid_and_says_when_there_is_none(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("learning_study_script", root / "scripts" / "learning_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "PID_FILE", tmp_path / "queue.pid")
    assert script.stop() == 1                                   # no queue.pid
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "queue.pid").write_text(str(sleeper.pid))
        assert script.stop() == 0
        assert sleeper.wait(timeout=10) != 0                    # it got SIGTERM
    finally:
        sleeper.kill()
    assert script.stop() == 1 and not (tmp_path / "queue.pid").exists()     # a stale pid file is removed


def test_deviations_come_from_the_protocol_and_the_queues_records(tmp_path):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    assert study.protocol_deviations(root / study.PROTOCOL)            # the protocol has the section
    protocol = tmp_path / "p.md"
    protocol.write_text("# P\n\n## Deviations\n\n- run x was rerun.\n\n## After\n\nnot this")
    assert study.protocol_deviations(protocol) == "- run x was rerun."
    folder = tmp_path / "associative_recall-ntm-s1001"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps({"sessions": [
        {"code_hash": "a", "exit": 0, "cpu": "A", "step_after": 1000},
        {"code_hash": "b", "exit": -9, "cpu": "B", "step_after": 2000}]}))
    events = study.recorded_events(tmp_path)
    assert events == ["associative_recall-ntm-s1001: its sessions ran 2 versions of the code (a, b)",
                      "associative_recall-ntm-s1001: a session ended with exit status -9 at update 2,000",
                      "associative_recall-ntm-s1001: continued on another CPU (A → B); not a deviation"]
    assert study.deviations_markdown("None so far.", []).endswith("(each run's study.json): none")
