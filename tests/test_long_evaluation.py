"""python -m samviz.long_evaluation: a long-curriculum checkpoint at h, 10h, 100h against chance, faiss against
exact, refused input first; and the Learning curves page's long-curriculum section read from its JSON."""
from __future__ import annotations

import json
import math

import pytest
import torch

from samviz import long_evaluation as le
from samviz import tasks as tasks_module
from samviz.checkpoint import load_checkpoint, save_checkpoint
from samviz.generalisation import chance_bit_errors
from samviz.memory.index import RECENT_ROWS
from samviz.model import build_model

TRAINED = 2          # the tiny checkpoints' curriculum level h (associative recall: T = 4h + 8 = 16 steps)


def tiny_checkpoint(folder, kind="sam", slots=4096, level=TRAINED, finished=None, ceiling=1024):
    """A small untrained associative-recall model saved as a long-curriculum run folder would be."""
    model = build_model(kind, input_size=8, output_size=6, memory_slots=slots, word_size=8, heads=1, k=4,
                        controller_size=16, index="faiss" if kind == "sam" else "exact", initial_rows="zero",
                        seed=3)
    save_checkpoint(model, folder, {"task": "associative_recall", "level": level, "max_level": ceiling,
                                    "steps": 1200, "finished": finished,
                                    "training": {"start_level": 2, "batch": 8, "lr": 0.001, "threshold": 0.03,
                                                 "window": 100},
                                    "curriculum": {"advances": [[100, 4], [250, level]]},
                                    "validations": [{"step": 100, "level": 2, "bit_errors": 0.5},
                                                    {"step": 300, "level": level, "bit_errors": 1.25}],
                                    "metrics": {"bit_errors_per_sequence": 1.25}})
    (folder / "long_curriculum.json").write_text(json.dumps({"ceiling": ceiling, "init_from": None,
                                                             "task": "associative_recall"}))
    return model


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One small evaluation of a tiny SAM at 4,096 slots (faiss and exact) at h and 2h, 3 episodes in batches of 2."""
    folder = tmp_path_factory.mktemp("sam-run")
    tiny_checkpoint(folder)
    out = folder / "evaluation.json"
    assert le.main(["evaluate", "--checkpoint", str(folder), "--factors", "1,2", "--slots", "4096", "--episodes",
                    "3", "--batch", "2", "--samples", "8", "--out", str(out)]) == 0
    return folder, out, json.loads(out.read_text())


def test_chance_is_half_the_answer_bits_of_an_item():
    task = tasks_module.LongTask(tasks_module.get("associative_recall"), 1000)
    for level in (2, 64, 640):
        episode = task.sample(1, level, torch.Generator().manual_seed(level))
        assert le.chance_per_sequence(task, level) == chance_bit_errors(episode) == 3 * 6 / 2
    copy = tasks_module.LongTask(tasks_module.get("copy"), 1000)
    assert le.chance_per_sequence(copy, 300) == 300 * 8 / 2


def test_rows_hold_the_bit_errors_of_the_same_episodes_run_by_hand(evaluated):
    folder, _, data = evaluated
    rows = {(r["level"], r["index"]): r for r in data["rows"]}
    assert set(rows) == {(2, "faiss"), (2, "exact"), (4, "faiss"), (4, "exact")}
    task = tasks_module.LongTask(tasks_module.get("associative_recall"), 4)
    for (level, index), row in rows.items():
        model = load_checkpoint(folder, {"memory_slots": 4096, "index": index})
        generator = torch.Generator().manual_seed(le.SEED * 1_000_003 + level)
        by_hand = []
        for size in (2, 1):                              # 3 episodes in batches of at most 2, drawn in order
            episode = task.sample(size, level, generator)
            with torch.no_grad():
                wrong = tasks_module.wrong_bits(model(episode.inputs), episode).sum(dim=(0, 2))
            by_hand += wrong.tolist()
        assert row["bit_errors_per_episode"] == by_hand
        assert row["bit_errors"] == pytest.approx(sum(by_hand) / 3)
        assert row["chance"] == 9.0 and row["ratio_to_chance"] == pytest.approx(row["bit_errors"] / 9.0)
        assert row["steps"] == 4 * level + 8 and row["episodes"] == 3 and row["memory_slots"] == 4096
        assert 0 < row["rows_written"] <= row["steps"] * (1 * 4 + 1)      # at most R·K + 1 slots a step
        assert row["trained_level"] == TRAINED and row["checkpoint_step"] == 1200 and row["interim"] is True
        assert row["seed"] == le.SEED and row["command"].startswith("python -m samviz.long_evaluation evaluate")


def test_faiss_is_exact_while_every_written_row_is_in_its_exact_part(evaluated):
    _, _, data = evaluated
    for row in data["rows"]:
        assert row["rows_written"] < RECENT_ROWS                 # nothing has moved into the clusters
        if row["index"] == "faiss":
            assert row["older_rows"] == 0
            assert row["recall"] == 1.0 and row["recall_samples"] > 0
    assert len(data["comparisons"]) == 2
    for comparison in data["comparisons"]:
        assert comparison["difference"] == 0 and comparison["same_answers"] == 1.0
        assert comparison["faiss_bit_errors"] == comparison["exact_bit_errors"]


def test_a_second_run_adds_nothing_and_a_dense_model_has_no_index(evaluated, tmp_path, monkeypatch):
    folder, out, data = evaluated
    before = out.read_text()

    def refuse(*args, **kwargs):
        raise AssertionError("a row already in the file was run again")
    monkeypatch.setattr(le, "evaluate_row", refuse)
    assert le.main(["evaluate", "--checkpoint", str(folder), "--factors", "1,2", "--slots", "4096", "--episodes",
                    "3", "--batch", "2", "--samples", "8", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["rows"] == json.loads(before)["rows"]
    monkeypatch.undo()
    dense = tmp_path / "ntm-run"
    tiny_checkpoint(dense, kind="ntm", slots=16, level=3, finished="target", ceiling=3)
    dense_out = tmp_path / "dense.json"
    assert le.main(["evaluate", "--checkpoint", str(dense), "--factors", "1", "--episodes", "2",
                    "--out", str(dense_out)]) == 0
    (row,) = json.loads(dense_out.read_text())["rows"]
    assert (row["index"], row["memory_slots"], row["rows_written"], row["recall"]) == (None, 16, None, None)
    assert row["interim"] is False and row["level"] == 3


def test_levels_past_the_longest_episode_and_rows_over_the_memory_budget_are_skipped_before_loading(
        tmp_path, monkeypatch):
    folder = tmp_path / "run"
    tiny_checkpoint(folder, level=200)
    loaded = []

    def spy(*args, **kwargs):
        loaded.append(args)
        raise le.RowStopped("the spy runs nothing")
    monkeypatch.setattr(le, "evaluate_row", spy)
    monkeypatch.setattr(le, "available_bytes", lambda: 2 * 10**8)        # 100 MB allowed
    out = tmp_path / "out.json"
    assert le.main(["evaluate", "--checkpoint", str(folder), "--factors", "1,1000", "--slots", "4096,2097152",
                    "--indexes", "faiss", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    reasons = {(s["level"], s["memory_slots"]): s["reason"] for s in data["skipped"]}
    assert "past the longest associative_recall episode" in reasons[(200_000, 4096)]
    assert "more than the 0.1 GiB allowed" in reasons[(200, 2097152)]
    assert len(loaded) == 1 and loaded[0][1]["memory_slots"] == 4096 and loaded[0][1]["level"] == 200


def test_the_memory_estimate_grows_with_batch_slots_and_steps():
    small = le.estimate_bytes("sam", 4096, 24, 2, 1, 100, 8, 6)
    assert le.estimate_bytes("sam", 1 << 20, 24, 2, 8, 100, 8, 6) > 8 * 256 * (small - (64 << 20)) * 0.9
    assert le.estimate_bytes("sam", 4096, 24, 2, 1, 100_000, 8, 6) > small
    # the buffer alone: 8 × 2^20 × 24 float32
    assert le.estimate_bytes("sam", 1 << 20, 24, 2, 8, 100, 8, 6) > 8 * (1 << 20) * 24 * 4


@pytest.mark.parametrize("arguments, message", [
    (["--factors", "0"], "each in [1, 1,000]"),
    (["--factors", "x"], "whole numbers"),
    (["--slots", str(1 << 30)], "each in [4,096, 2,097,152]"),
    (["--batch", "0"], "must be an integer in [1, 16]"),
    (["--episodes", "100000"], "each in [1, 1,024]"),
    (["--factors", "1,10", "--episodes", "4,4,4"], "one per factor (2)"),
    (["--indexes", "annoy"], "choose from exact, faiss"),
    (["--max-steps", "10000000"], "must be an integer in [1, 400008]"),
    (["--max-row-seconds", "nan"], "--max-row-seconds must be in"),
])
def test_bad_input_is_refused_before_anything_loads(arguments, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(le, "snapshot", lambda *a: pytest.fail("loaded a checkpoint"))
    with pytest.raises(SystemExit) as stop:
        le.main(["evaluate", "--checkpoint", str(tmp_path), *arguments])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert le.main(["evaluate", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "o.json")]) == 2
    assert "meta.json" in capsys.readouterr().err


def test_the_curriculum_log_is_the_run_folder_s_advances(tmp_path):
    folder = tmp_path / "sam-run"
    tiny_checkpoint(folder, level=8)
    out = tmp_path / "curriculum.json"
    assert le.main(["curriculum", "--runs", str(folder), "--out", str(out)]) == 0
    (log,) = json.loads(out.read_text())["runs"]
    assert log["advances"] == [[0, 2], [100, 4], [250, 8]]
    assert log["validations"] == [[100, 2, 0.5], [300, 8, 1.25]]
    assert (log["step"], log["level"], log["ceiling"], log["interim"]) == (1200, 8, 1024, True)


def test_the_page_section_says_what_its_json_and_charts_hold(evaluated):
    import re

    from samviz.app.pages import learning_curves as page
    folder, out, _ = evaluated
    assert le.main(["curriculum", "--runs", str(folder), "--out", str(out.parent / "curriculum.json")]) == 0
    curriculum, evaluation = le.read_assets(out.parent)
    rows = evaluation["rows"]
    (run_sentence,) = le.curriculum_sentences(curriculum)
    (trace,) = page.long_curriculum_figure(curriculum).data
    assert f"h = {trace.y[-1]} of 1,024 items after {trace.x[-1]:,} updates (INTERIM)" in run_sentence
    assert list(trace.y) == [2, 4, TRAINED, TRAINED] and list(trace.x) == [0, 100, 250, 1200]

    sentences = le.evaluation_sentences(rows)
    faiss = {r["factor"]: r for r in rows if r["index"] == "faiss"}
    said = re.findall(r"\((\d+) items, 2\^12 slots, faiss, \d+ episodes\) ([\d.]+) bit errors per query "
                      r"\(95% interval ([\d.]+)–([\d.]+)\), ([\d.]+) of chance \(9\)", sentences[0])
    assert [tuple(float(x) for x in found) for found in said] == [
        (faiss[f]["level"], round(faiss[f]["bit_errors"], 2), *(round(b, 2) for b in le.bit_error_interval(faiss[f])),
         round(faiss[f]["ratio_to_chance"], 3)) for f in (1, 2)]
    assert "INTERIM: trained so far to h = 2 of 1,024 items" in sentences[0]
    assert "not yet applicable (h = 2)" in sentences[0]
    traces = {(t.name.split("N = ")[1], tuple(t.x)): t for t in page.long_evaluation_figure(rows).data}
    drawn = traces[("2^12, faiss", (2, 4))]
    assert tuple(drawn.y) == (faiss[1]["ratio_to_chance"], faiss[2]["ratio_to_chance"])
    # each point's error bar is the table's interval ÷ chance
    intervals = [le.bit_error_interval(faiss[f]) for f in (1, 2)]
    assert list(drawn.error_y.array) == pytest.approx([(high - faiss[f]["bit_errors"]) / 9
                                                       for f, (_, high) in zip((1, 2), intervals, strict=True)])
    assert list(drawn.error_y.arrayminus) == pytest.approx([(faiss[f]["bit_errors"] - low) / 9
                                                            for f, (low, _) in zip((1, 2), intervals, strict=True)])
    for comparison in sentences[1:]:
        assert "identical answers in 100% of episodes" in comparison and "(difference +0.000" in comparison
    table = le.table_rows(rows)
    assert [t["bit errors / query (95% interval)"] for t in table if t["index"] == "faiss"] == [
        f"{faiss[f]['bit_errors']:.3f} ({low:.3f}–{high:.3f})"
        for f, (low, high) in zip((1, 2), intervals, strict=True)]


def _row(factor, errors, slots=1 << 20, index="faiss", chance=9.0):
    """A long-evaluation row as evaluate_row writes it, with only the fields the report reads."""
    return {"checkpoint": "runs/sam", "checkpoint_step": 100, "trained_level": 1024, "ceiling": 1024,
            "kind": "sam", "factor": factor, "level": 1024 * factor, "memory_slots": slots, "index": index,
            "episodes": len(errors), "bit_errors_per_episode": errors, "bit_errors": sum(errors) / len(errors),
            "chance": chance, "ratio_to_chance": sum(errors) / len(errors) / chance}


def test_the_interval_is_the_bootstrap_over_episodes_by_hand():
    """Two episodes with 0 and 2 wrong bits: a resample's mean is 0, 1 or 2 (probabilities 1/4, 1/2, 1/4), so the
    2.5% and 97.5% order statistics of 10,000 resamples are 0 and 2. Every episode alike: no uncertainty. A row
    written before per-episode errors were kept has none."""
    assert le.bit_error_interval(_row(1, [0.0, 2.0])) == (0.0, 2.0)
    assert le.bit_error_interval(_row(1, [3.0] * 16)) == (3.0, 3.0)
    assert le.bit_error_interval({k: v for k, v in _row(1, [1.0]).items() if k != "bit_errors_per_episode"}) is None


def test_the_bar_is_met_only_when_the_whole_interval_is_below_it():
    """Issue 26's bar at 2^20 with faiss: ≤ 0.5 bit errors per query at h, ≤ 0.25 of chance at 10 h. At h, 16
    perfect episodes: interval 0–0, met; every episode 1 wrong bit: mean 1 > 0.5, not met. At 10 h, 8 episodes of
    which one is all wrong (9 bits, chance 9): mean 0.125 of chance, but a resample holds k ~ Binomial(8, 1/8) such
    episodes, P(k ≤ 2) = 0.962 < 0.975 ≤ P(k ≤ 3) = 0.994, so the upper bound is 3/8 = 0.375 > 0.25: undecided.
    Rows at 2^16 or with the exact index do not count."""
    perfect, one_wrong = _row(1, [0.0] * 16), _row(1, [1.0] * 16)
    one_failure = _row(10, [0.0] * 7 + [9.0])
    assert le.bit_error_interval(one_failure) == (0.0, 27.0 / 8)
    said = le.bar_verdict([perfect, _row(10, [0.0] * 8)])
    assert said == ("at its trained length 0.000 (95% interval 0.000–0.000) bit errors per query against 0.5: met; "
                    "at 10× it 0.000 (95% interval 0.000–0.000) of chance against 0.25: met.")
    said = le.bar_verdict([one_wrong, one_failure])
    assert "at its trained length 1.000 (95% interval 1.000–1.000) bit errors per query against 0.5: not met" in said
    assert "at 10× it 0.125 (95% interval 0.000–0.375) of chance against 0.25: undecided" in said
    said = le.bar_verdict([_row(1, [0.0] * 16, slots=1 << 16), _row(10, [0.0] * 8, index="exact")])
    assert said == ("at its trained length not evaluated at 2^20 slots with faiss; "
                    "at 10× it not evaluated at 2^20 slots with faiss.")


def test_the_bar_and_the_sentence_read_the_row_over_the_most_episodes():
    """The same checkpoint evaluated at h on 16 episodes (every one 1 bit wrong: not met) and on 64 (none wrong:
    met): the verdict, the run's sentence and the figure read the 64, whichever order the rows come in."""
    from samviz.app.pages import learning_curves as page
    few, many = _row(1, [1.0] * 16), _row(1, [0.0] * 64)
    for rows in ([few, many], [many, few]):
        assert le.bar_verdict(rows).startswith("at its trained length 0.000 (95% interval 0.000–0.000) bit errors "
                                               "per query against 0.5: met")
        assert le._headline_row(rows, 1) is many
        (trace,) = page.long_evaluation_figure(rows).data               # one point at h: the 64 episodes' 0
        assert list(trace.x) == [1024] and list(trace.y) == [0.0]


def test_faiss_against_exact_carries_the_paired_interval_of_the_same_episodes():
    """faiss wrong by 9 bits in one of two episodes the exact index answers right: paired differences 9 and 0,
    whose resampled mean is 0, 4.5 or 9: interval 0 to 9 bits, 0% to +100% of chance (9). Both indexes equally
    wrong in different episodes would give the same means but differences -9 and +9: interval -9 to +9."""
    faiss = {**_row(1, [9.0, 0.0]), "answers": ["a", "b"], "seed": 1, "batch": 2, "weights_sha256": "w"}
    exact = {**faiss, **_row(1, [0.0, 0.0], index="exact"), "answers": ["c", "b"]}
    (pair,) = le.comparisons([faiss, exact])
    assert pair["difference_interval"] == [0.0, 9.0] and pair["same_answers"] == 0.5
    sentence = [s for s in le.evaluation_sentences([faiss, exact]) if s.startswith("faiss against exact")][0]
    assert "(difference +4.500, +50.0% of chance; 95% interval +0.0% to +100.0%)" in sentence
    swapped = {**exact, "bit_errors_per_episode": [0.0, 9.0], "bit_errors": 4.5}
    (pair,) = le.comparisons([faiss, swapped])
    assert pair["difference"] == 0.0 and pair["difference_interval"] == [-9.0, 9.0]


def test_faiss_against_exact_stays_stated_when_a_newer_checkpoint_has_only_faiss_rows(evaluated):
    """The table and the run's sentence move to the newest checkpoint; the faiss/exact pairs of the older one stay
    among the sentences, each naming its checkpoint (the index's evidence is not dropped when training moves on)."""
    _, _, data = evaluated
    older = data["rows"]
    step = older[0]["checkpoint_step"]
    newer = [{**r, "checkpoint_step": step + 1000, "weights_sha256": "f" * 64, "bit_errors": r["bit_errors"] + 1}
             for r in older if r["index"] == "faiss"]
    before = le.evaluation_sentences(older)
    after = le.evaluation_sentences(older + newer)
    pairs = [s for s in after if s.startswith("faiss against exact")]
    assert len(pairs) == len(le.comparisons(older)) == 2
    assert pairs == [s for s in before if s.startswith("faiss against exact")]
    assert all(f"at update {step:,} (trained to h = {TRAINED})" in s for s in pairs)
    assert f"at update {step + 1000:,} (" in after[0] and f"at update {step:,} (" in before[0]
    assert {r["checkpoint_step"] for r in le.latest_rows(older + newer)} == {step + 1000}


def test_the_length_axis_is_labelled_at_the_decades_around_the_tested_lengths(evaluated):
    """One tick per power of ten from the one at or below the shortest test to the one at or above the longest
    (samviz.bench.plots.log_axis), not one per tested length, which overlap where two runs' lengths are close."""
    from samviz.app.pages import learning_curves as page
    from samviz.bench.plots import log_axis
    assert log_axis([16, 1_024, 1_280, 12_800], "")["tickvals"] == [10, 100, 1_000, 10_000, 100_000]
    _, _, data = evaluated
    axis = page.long_evaluation_figure(data["rows"]).layout.xaxis
    levels = [r["level"] for r in data["rows"]]
    assert all(math.log10(v).is_integer() for v in axis.tickvals) and axis.type == "log"
    assert axis.tickvals[0] <= min(levels) and axis.tickvals[-1] >= max(levels)
    assert list(axis.ticktext) == [f"{v:,}" for v in axis.tickvals] and axis.title.text == "test length (items)"


def test_the_readme_section_is_written_between_its_markers(evaluated, tmp_path, monkeypatch):
    folder, out, _ = evaluated
    assert le.main(["curriculum", "--runs", str(folder), "--out", str(out.parent / "curriculum.json")]) == 0
    real = le.read_assets
    monkeypatch.setattr(le, "read_assets", lambda: real(out.parent))
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{le.README_BEGIN}\nold\n{le.README_END}\nafter\n")
    assert le.main(["report", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"before\n{le.README_BEGIN}\n") and text.endswith(f"{le.README_END}\nafter\n")
    assert "\nold\n" not in text
    curriculum, evaluation = real(out.parent)
    for sentence in le.evaluation_sentences(evaluation["rows"]) + le.curriculum_sentences(curriculum):
        assert sentence in text
    assert "| model (run) | checkpoint |" in text
    missing = tmp_path / "NOMARKERS.md"
    missing.write_text("nothing here\n")
    assert le.main(["report", "--readme", str(missing)]) == 2


def test_the_page_section_shows_the_shipped_files_sentences():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_string("from samviz.app.pages import learning_curves as page\npage.render_long_curriculum()\n",
                             default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    curriculum, evaluation = le.read_assets()
    text = " ".join(m.value for m in at.markdown)
    for sentence in le.curriculum_sentences(curriculum) + le.evaluation_sentences(evaluation["rows"]):
        assert sentence in text
    assert len(at.get("plotly_chart")) == bool(curriculum["runs"]) + bool(evaluation["rows"])
    interim = any(r.get("interim") for r in curriculum["runs"] + evaluation["rows"])
    assert ("INTERIM" in " ".join(c.value for c in at.caption)) == interim


def test_the_interim_line_names_the_runs_not_finished():
    """Only the runs not finished are named (a finished SAM beside two paused dense runs), with the
    grammar of one or several; none below: no line. Without a curriculum log the latest rows decide."""
    def run(name, kind, interim):
        return {"run": name, "kind": kind, "interim": interim}
    both = {"runs": [run("sam-faiss-65536", "sam", False), run("ntm-64", "ntm", True), run("dam-64", "dam", True)]}
    assert le.interim_status(both, []) == ("INTERIM: NTM (ntm-64) and DAM (dam-64) have not finished (the stop target "
                                           "met at their ceiling); their rows are the checkpoints so far.")
    one = {"runs": [run("sam-faiss-65536", "sam", True)]}
    assert le.interim_status(one, []) == ("INTERIM: SAM (sam-faiss-65536) has not finished (the stop target met at "
                                          "its ceiling); its rows are the checkpoints so far.")
    assert le.interim_status({"runs": [run("sam-faiss-65536", "sam", False)]}, []) == ""
    assert le.interim_status({}, [{**_row(1, [0.0]), "interim": True}]).startswith("INTERIM: SAM (sam) has not")
    assert le.interim_status({}, [{**_row(1, [0.0]), "interim": False}]) == ""


def test_the_setting_sentence_names_each_setting_and_memory_once():
    """Runs that share a curriculum setting share one clause; a learning rate that differs is given per run, and a
    memory shared by two runs is listed once with their names."""
    def run(name, kind, slots, lr, index=None):
        return {"run": name, "kind": kind, "memory_slots": slots, "index": index, "window": 100, "threshold": 0.03,
                "batch": 8, "lr": lr}
    runs = [run("sam-a", "sam", 65536, 0.001, "faiss"), run("sam-b", "sam", 65536, 0.0003, "faiss"),
            run("ntm-64", "ntm", 64, 0.001)]
    assert le.setting_sentence({"runs": runs}) == (
        "Associative recall by the paper's curriculum: h doubles when the mean training loss over 100 updates is "
        "below 0.03 (batch 8; lr 0.001 for sam-a and ntm-64, 0.0003 for sam-b); each batch's level drawn from "
        "[2, h]. Memories: SAM 65,536 slots (faiss; sam-a and sam-b), NTM 64 slots.")
    assert le.setting_sentence({"runs": runs[:1]}) == (
        "Associative recall by the paper's curriculum: h doubles when the mean training loss over 100 updates is "
        "below 0.03 (batch 8; lr 0.001); each batch's level drawn from [2, h]. Memories: SAM 65,536 slots (faiss).")
    assert le.setting_sentence({"runs": []}) == ""
