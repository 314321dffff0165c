"""The player's long-task option (issue 26 item 6): the long-curriculum SAM on long associative recall, with error,
CPU time per step, rows written (memory filled) and sampled index recall along the episode, per bin of steps.

Hand-computed bins and totals; memory filled against a naive count of changed rows; recall against an exact
top-K with the exact index; refusals before anything is allocated; and the page through AppTest (a short run of
the shipped long-curriculum checkpoint, drawn as the episode view's strip, its sentence the strip's numbers).
"""
from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest
import torch

from samviz import checkpoint
from samviz.app import loaders
from samviz.app import long_episode as le
from samviz.checkpoint import save_checkpoint
from samviz.model import build_model

KEY = "keep_player_"
TIMEOUT = 180


def tiny_run(folder, slots=4096, index="faiss", level=3):
    """A small untrained associative-recall SAM saved as a long-curriculum run folder (meta.json's level = h)."""
    model = build_model("sam", input_size=8, output_size=6, memory_slots=slots, word_size=8, heads=1, k=4,
                        controller_size=16, index=index, initial_rows="zero", seed=5)
    save_checkpoint(model, folder, {"task": "associative_recall", "level": level, "max_level": 64, "steps": 700,
                                    "finished": None, "metrics": {"bit_errors_per_sequence": 2.5}})
    (folder / "long_curriculum.json").write_text(json.dumps({"ceiling": 64, "task": "associative_recall"}))
    info, note = le.curriculum_model(folder)
    assert note is None
    return info


def hand_result(info, slots=100) -> le.LongTaskResult:
    """Ten steps in bins of 4, 4 and 2 steps, two episodes, the answer at steps 7–9."""
    parts = [{"steps": [0, 4], "cpu_seconds": 0.008, "rows_written": 3.0, "recall_sum": 2.0, "recall_count": 2},
             {"steps": [4, 8], "cpu_seconds": 0.004, "rows_written": 5.0, "recall_sum": 0.0, "recall_count": 0},
             {"steps": [8, 10], "cpu_seconds": 0.006, "rows_written": 6.5, "recall_sum": 0.75, "recall_count": 1}]
    return le.LongTaskResult(info, 3, 10, slots, "faiss", 2, 0, parts, [7, 8, 9], [[0.0, 2.0], [6.0, 0.0], [1.0, 1.0]],
                             6, 9.0, 3, 1.0, 0.5)


def numbers(text: str) -> dict:
    """The sentence's numbers, by what they say."""
    found = {
        "per_query": r"\*\*([\d.]+) wrong bits per query\*\*", "chance": r"against ([\d.]+) for guessing",
        "cpu": r"CPU time per step: ([\d.]+) ms", "first": r"first bin ([\d.]+)", "last": r"last bin ([\d.]+)",
        "rows": r"Rows written by the end: ([\d,]+) of", "filled": r"memory filled ([\d.]+)%",
        "samples": r"sampled (\d+) times", "recall": r": ([\d.]+) over all samples",
        "lowest": r"([\d.]+) in the lowest bin"}
    return {key: float(m[1].replace(",", "")) for key, pattern in found.items() if (m := re.search(pattern, text))}


def assert_sentence_is_the_strip(text: str, strip: dict) -> None:
    """Every number of the sentence is recomputed from the strip's bins, as episode.js's LongTaskView does."""
    said = numbers(text)
    spans = [e - s for s, e in zip(strip["start"], strip["end"], strict=True)]
    per_query = sum(w * n for w, n in zip(strip["wrong"], strip["answered"], strict=True) if w is not None)
    cpu = sum(c * n for c, n in zip(strip["cpu_ms"], spans, strict=True)) / sum(spans)
    sampled = [(r, n) for r, n in zip(strip["recall"], strip["samples"], strict=True) if r is not None]
    samples = sum(strip["samples"])
    assert f"{said['per_query']:.2f}" == f"{per_query:.2f}"
    assert said["chance"] == sum(strip["answered"]) * strip["bits"] / 2
    assert (f"{said['cpu']:.2f}", f"{said['first']:.2f}", f"{said['last']:.2f}") == (
        f"{cpu:.2f}", f"{strip['cpu_ms'][0]:.2f}", f"{strip['cpu_ms'][-1]:.2f}")
    assert said["rows"] == round(strip["rows"][-1]) and f"{said['filled']:.2f}" == f"{strip['filled'][-1]:.2f}"
    if samples:
        assert said["samples"] == samples
        assert f"{said['recall']:.4f}" == f"{sum(r * n for r, n in sampled) / samples:.4f}"
        assert f"{said['lowest']:.4f}" == f"{min(r for r, _ in sampled):.4f}"


# ------------------------------------------------------------------------------------------ the bins

def test_bins_and_totals_by_hand(tmp_path):
    info = tiny_run(tmp_path / "run")
    result = hand_result(info)
    strip = le.long_task_payload(result, "r")["strip"]
    assert (strip["start"], strip["end"]) == ([0, 4, 8], [4, 8, 10])
    # the answer's wrong bits, mean over the two episodes: step 7 → 1, step 8 → 3, step 9 → 1
    assert strip["wrong"] == [None, 1.0, 2.0] and strip["answered"] == [0, 1, 2]
    assert strip["cpu_ms"] == [2.0, 1.0, 3.0]                          # 8 ms / 4 steps, 4 / 4, 6 / 2
    assert strip["rows"] == [3.0, 5.0, 6.5] and strip["filled"] == [3.0, 5.0, 6.5]       # of 100 slots
    assert strip["recall"] == [1.0, None, 0.75] and strip["samples"] == [2, 0, 1]
    s = le.strip_summary(strip, 6)
    assert s.per_query == 5.0                      # 1 × 1 + 2 × 2: the episodes' 7 and 3 wrong bits, mean 5
    assert s.chance == 9.0 == result.chance        # 3 answer steps × 6 bits, half of them
    assert s.cpu_ms == pytest.approx(1.8) and (s.cpu_first, s.cpu_last) == (2.0, 3.0)   # (8 + 4 + 6) ms / 10
    assert (s.rows, s.filled) == (6.5, 6.5)
    assert s.recall == pytest.approx(2.75 / 3) and s.recall_lowest == 0.75 and s.samples == 3
    text = le.long_task_sentence(result, strip)
    assert_sentence_is_the_strip(text, strip)
    assert "**5.00 wrong bits per query**, against 9.0 for guessing" in text
    assert "1× its trained length" not in text and "(1× its" not in text        # 3 items at h = 3: its own length
    assert "the mean over 2 episodes" in text and "memory filled 6.50%" in text


def test_filled_is_distinct_rows_written_over_n_against_a_naive_count(tmp_path, monkeypatch):
    """Rows written (run_batch's count: the faiss index's own) at each bin's end is the number of distinct rows a
    step changed so far, counted naively by comparing the whole buffer before and after every step, plus slots
    0..K-1: SAM's state before the first step names them with zero read weights, so the first write addresses them
    (writing nothing: 0 × a row) and the index counts them as written. filled = 100 × that / N."""
    info = tiny_run(tmp_path / "run", slots=4096)
    real = checkpoint.load_checkpoint
    naive: list[int] = []

    def spying(directory, overrides=None):
        model = real(directory, overrides)
        core, seen = model.core, {}
        changed: set[int] = set()
        make = core.initial_state

        def initial_state(batch):
            state = make(batch)
            seen["memory"] = state.memory
            seen["before"] = state.memory.buffer[0].clone()
            return state

        def compare():
            buffer = seen["memory"].buffer[0]
            changed.update(torch.nonzero((buffer != seen["before"]).any(-1)).flatten().tolist())
            if not naive:
                changed.update(range(core.k))          # addressed by the first write with zero weight
            seen["before"] = buffer.clone()
            naive.append(len(changed))

        def end_episode(state):
            compare()
            type(core).end_episode(core, state)

        core.initial_state = initial_state
        core.end_episode = end_episode
        model.controller.register_forward_pre_hook(lambda module, args: compare())
        return model

    monkeypatch.setattr(checkpoint, "load_checkpoint", spying)
    result = le.run_long_task(info, 12, 4096, 1, 3)                   # 56 steps in 56 bins of one step
    strip = le.long_task_payload(result, "r")["strip"]
    # naive[t]: rows changed by steps 0..t-1 (compared before step t; naive[0] before any step, the K slots only);
    # naive[-1] after the last step
    assert len(naive) == result.steps + 1 and naive[-1] > result.steps // 2
    assert strip["rows"] == [float(naive[end]) for end in strip["end"]]
    assert strip["filled"] == [round(100 * naive[end] / 4096, le.DIGITS) for end in strip["end"]]


def test_recall_checked_against_the_exact_top_k_is_one_with_the_exact_index(tmp_path, monkeypatch):
    info = tiny_run(tmp_path / "run", slots=4096, index="exact")
    monkeypatch.setattr(le, "RECALL_EVERY", 1)                          # a check at every step of a short run
    result = le.run_long_task(info, 12, 4096, 2, 1, index="exact", check_exact=True)
    strip = le.long_task_payload(result, "r")["strip"]
    values = [r for r in strip["recall"] if r is not None]
    every = -(-result.steps // le.recall_samples(result.steps))                 # run_batch samples every this
    assert sum(strip["samples"]) == len(range(0, result.steps, every)) and values
    assert values == [1.0] * len(values)
    assert "with 4,096 slots and the exact index" in le.long_task_sentence(result, strip)


def test_a_run_past_its_budget_stops_and_keeps_no_store(tmp_path):
    from samviz.memory import store
    info = tiny_run(tmp_path / "run")
    calls = []
    with pytest.raises(le.RunStopped, match=r"stopped at step \d+ of 56: .* more than this server gives one run"):
        le.run_long_task(info, 12, 4096, 1, 0, lambda done, total, cpu: calls.append(done), cpu_budget=0.0)
    assert calls and calls[0] < 56 and not store._POOL


# ------------------------------------------------------------------------------------------ refusals

def test_refused_before_anything_is_allocated(tmp_path, monkeypatch):
    info = tiny_run(tmp_path / "run", level=256)
    info = info._replace(config={**info.config, "word_size": 24, "heads": 2})     # the long-curriculum SAM's sizes
    low, high = le.long_task_range(info)
    assert (low, high) == (256, 25_600)                # h to 100 h (102,408 steps: within one run's steps)
    monkeypatch.setattr(checkpoint, "load_checkpoint", lambda *a, **k: pytest.fail("loaded a model"))
    monkeypatch.setattr(torch, "zeros", lambda *a, **k: pytest.fail("allocated"))
    limit = loaders.LARGE_RUN_BYTES
    assert le.check_long_task(info, 25_600, 1 << 20, 1, limit) is None
    assert le.check_long_task(info, 2560, 1 << 20, 2, limit) is None
    for items, slots, episodes, limit_, words in [
            (255, 1 << 20, 1, limit, "must be from 256 to 25,600, not 255"),
            (25_601, 1 << 20, 1, limit, "not 25,601"),
            ("300", 1 << 20, 1, limit, "must be a whole number from 256 to 25,600"),
            (True, 1 << 20, 1, limit, "whole number"),
            (2560, 4096, 1, limit, "Memory slots must be one of 65,536 (2^16), 1,048,576 (2^20)"),
            (2560, 1 << 20, 3, limit, "Episodes must be one of 1, 2, 4"),
            (25_600, 1 << 20, 2, limit, "204,816 episode-steps, more than the 110,000"),
            (2560, 1 << 20, 4, 1 << 20, "more than the 1 MiB one long run may take"),
            # the recall check's exact index doubles a 2^20 memory's peak (long_evaluation.estimate_bytes)
            (2560, 1 << 20, 4, limit, f"more than the {limit >> 20:,} MiB one long run may take")]:
        problem = le.check_long_task(info, items, slots, episodes, limit_)
        assert problem is not None and words in problem.message, (items, slots, episodes, problem)
    # a longer-trained checkpoint: 100 h would pass one run's steps, so its range stops there (and says so)
    longer = info._replace(trained=1024)
    assert le.long_task_range(longer) == (1024, 27_498) and le.long_task_steps(27_498) <= 110_000
    assert "to 26× h on this server" in le.check_long_task(longer, 10 ** 6, 1 << 16, 1, limit).message


def test_a_missing_or_unreadable_checkpoint_is_a_note_not_a_traceback(tmp_path):
    info, note = le.curriculum_model(tmp_path / "none")
    assert info is None and "does not have" in note
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text("{not json")
    info, note = le.curriculum_model(tmp_path / "bad")
    assert info is None and "could not be read" in note


def test_the_label_is_the_checkpoint_s_own_level(tmp_path):
    info = tiny_run(tmp_path / "run", level=8)
    assert le.trained_label(info) == ("SAM trained to 8 items so far (long curriculum, update 700; its ceiling "
                                      "64 items)")
    assert "so far" not in le.trained_label(info._replace(interim=False))


# ------------------------------------------------------------------------------------------ the page

def _player() -> AppTest:
    at = AppTest.from_string("from samviz.app import pages\npages.episode_player_page()\n", default_timeout=TIMEOUT)
    at.run()
    at.toggle(key=KEY + "long").set_value(True).run()
    return at


def test_the_option_runs_a_short_long_task_episode_and_draws_the_strip():
    info, note = le.curriculum_model()
    assert info is not None, note                   # the checkout ships the long-curriculum checkpoint
    at = _player()
    at.radio(key=KEY + "long_source").set_value("curriculum").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(le.trained_label(info) in c.value for c in at.caption)     # labelled with its own level
    at.number_input(key=KEY + "long_task_items").set_value(info.trained)
    at.selectbox(key=KEY + "long_task_slots").set_value(1 << 16).run()
    steps = le.long_task_steps(info.trained)
    assert f"**1 episode of {steps:,} steps**" in "\n".join(m.value for m in at.markdown)
    at.button(key="player_long_task_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (view,) = [json.loads(c.proto.json) for c in at.get("bidi_component")]
    strip = view["strip"]
    assert view["view"] == "long_task" and view["steps"] == steps == strip["end"][-1]
    assert len(strip["start"]) == min(le.STRIP_BINS, steps) or strip["end"][0] > 1
    text = next(m.value for m in at.markdown if "wrong bits per query" in m.value)
    assert_sentence_is_the_strip(text, strip)
    assert f"at **{info.trained:,} items** (its trained length; {steps:,} steps, one episode) with 65,536 slots " \
           "and the faiss index" in text
    bar = at.get("progress")
    assert len(bar) == 1 and bar[0].proto.value == 100 and f"Step {steps:,} of {steps:,}" in bar[0].proto.text
    assert not loaders.LARGE_RUN.locked()


def test_the_option_is_hidden_with_a_note_without_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(le, "curriculum_directory", lambda: tmp_path / "absent")
    at = _player()
    assert not at.exception, [e.value for e in at.exception]
    assert not [r for r in at.radio if r.key == KEY + "long_source"]
    assert any("needs the long-curriculum SAM's checkpoint" in c.value for c in at.caption)


def test_a_tampered_session_value_never_runs_out_of_range():
    """A session value out of range (a stale or tampered one) is replaced (by Streamlit's bounds or, said in a
    warning, by the page's default) before anything runs: the page shows a run of the range's lengths only."""
    info, _ = le.curriculum_model()
    at = _player()
    at.radio(key=KEY + "long_source").set_value("curriculum").run()
    at.session_state[KEY + "long_task_items"] = 10 ** 9
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    low, high = le.long_task_range(info)
    items = at.number_input(key=KEY + "long_task_items").value
    assert low <= items <= high and not at.get("bidi_component") and not at.error
    assert f"({items:,} items, " in "\n".join(m.value for m in at.markdown)


def test_the_link_keys_are_read_with_a_problem_for_each_refused_value(tmp_path):
    info = tiny_run(tmp_path / "run", level=256)
    assert le.read_task_link({"model": "sam"}, info) == (None, [])
    link = le.task_link(2560, 1 << 16, 2)
    assert le.read_task_link(link, info) == ({"items": 2560, "slots": 1 << 16, "episodes": 2}, [])
    chosen, problems = le.read_task_link({"longtask": "512", "lslots": "4096", "lepisodes": "x"}, info)
    assert chosen == {"items": 512, "slots": 1 << 20, "episodes": 1}
    assert [p.message for p in problems] == [
        "lslots must be between 65536 and 1048576, got 4096; using lslots = 1048576 instead",
        "lepisodes must be a whole number; using lepisodes = 1 instead"]
    chosen, (problem,) = le.read_task_link({"longtask": "25601"}, info)
    assert chosen is None and problem.message == ("longtask (items to recall) must be between 256 and 25600, got "
                                                  "25601; the long-task option stays off")
    chosen, (problem,) = le.read_task_link({"longtask": "512"}, None)
    assert chosen is None and "does not have" in problem.message


def test_a_link_opens_the_long_task_option_and_the_option_writes_its_link():
    from pathlib import Path
    info, _ = le.curriculum_model()
    app = str(Path(__file__).resolve().parent.parent / "app.py")
    at = AppTest.from_file(app, default_timeout=TIMEOUT)
    at.query_params.update({"model": "sam", "task": "associative_recall", "slots": "128",
                            "longtask": str(2 * info.trained), "lslots": "65536", "lepisodes": "3"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("lepisodes must be one of 1, 2, 4, got 3; using lepisodes = 1 instead" in w.value for w in at.warning)
    assert at.toggle(key=KEY + "long").value is True and at.radio(key=KEY + "long_source").value == "curriculum"
    steps = le.long_task_steps(2 * info.trained)
    assert f"**1 episode of {steps:,} steps** ({2 * info.trained:,} items, 2× the trained length) at 65,536 slots" \
        in "\n".join(m.value for m in at.markdown)
    query = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert (query["longtask"], query["lslots"], query["lepisodes"]) == (str(2 * info.trained), "65536", "1")
    assert not at.get("bidi_component")                          # a link shows the settings; the button runs


# The kernel's high-water mark VmHWM, reset to the current RSS right before the run (as tests/test_long_episode.py
# measures the player's other long runs): a fresh process, its imports warmed by a small run first.
RSS_SCRIPT = """
import re, sys
from samviz.app import long_episode as le
def status(name):
    return int(re.search(name + r':\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024
model, _ = le.curriculum_model()
slots, episodes = int(sys.argv[1]), int(sys.argv[2])
le.run_long_task(model, model.trained, 1 << 16, 1, 0)
with open('/proc/self/clear_refs', 'w') as handle:
    handle.write('5')
before = status('VmRSS')
le.run_long_task(model, model.trained, slots, episodes, 0)
print(status('VmHWM') - before, le.long_task_bytes(model, slots, episodes, model.trained), status('VmRSS') - before)
"""


@pytest.mark.slow
def test_the_memory_estimate_is_above_the_kernels_peak_and_nothing_stays():
    """check_long_task's estimate (long_evaluation.estimate_bytes) over what a 2-episode run at 2^20 slots really
    takes, recall checks included (measured 2026-12: 636 MiB against 744), and the run gives it back."""
    from pathlib import Path
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(1 << 20), "2"], capture_output=True, text=True,
                         timeout=900, check=True, cwd=Path(__file__).resolve().parent.parent).stdout.split()
    grown, estimate, kept = int(out[-3]), int(out[-2]), int(out[-1])
    assert 0 < grown < estimate and kept < grown / 4
