"""Trace statistics, figure builders and narration, on real traces of small models: content, not just shapes."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

import samviz
from samviz.app import explain, figures
from samviz.app import trace_stats as stats
from samviz.trace import EpisodeTrace


def _episode(task="copy", level=4, seed=0):
    return samviz.tasks.get(task).sample(1, level=level, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def ntm_run():
    torch.manual_seed(0)
    model = samviz.build_model("ntm", memory_slots=16, word_size=8, heads=1, controller_size=32, seed=0)
    ep = _episode()
    trace = model.trace(ep.inputs, ep.targets, ep.mask, task="copy")
    with torch.no_grad():
        logits = model(ep.inputs)
    return model, ep, trace, logits


@pytest.fixture(scope="module")
def sam_trace():
    model = samviz.build_model("sam", memory_slots=32, word_size=8, heads=2, k=4, controller_size=32, seed=0)
    ep = _episode(level=5, seed=1)
    return model.trace(ep.inputs, ep.targets, ep.mask, task="copy")


def _by_name(fig, name):
    matches = [t for t in fig.data if t.name == name]
    assert matches, f"no trace named {name!r} in {[t.name for t in fig.data]}"
    return matches[0]


def _cursor_xs(fig):
    return [s.x0 for s in fig.layout.shapes if s.name == "cursor"]


def test_wrong_bit_marks_match_independent_bit_errors(ntm_run):
    _, ep, trace, logits = ntm_run
    fig = figures.bits_figure(trace, 0)
    marks = _by_name(fig, "wrong bits")
    marked = sorted(zip(marks.x, marks.y, strict=True))
    expected = sorted((int(t), int(b)) for t, b in torch.nonzero(samviz.tasks.wrong_bits(logits, ep)[:, 0]).tolist())
    assert marked == expected
    assert len(marked) > 0                       # an untrained model gets bits wrong: the test is not vacuous
    per_step = samviz.tasks.bit_errors_per_step(logits, ep).numpy()
    assert np.array_equal(stats.bit_errors_per_step(trace), per_step)
    assert f"{int(per_step.sum())} wrong bits" in fig.layout.title.text


def test_bits_figure_shows_inputs_targets_outputs(ntm_run):
    _, ep, trace, _ = ntm_run
    fig = figures.bits_figure(trace, 3)
    assert np.allclose(np.array(_by_name(fig, "input").z), ep.inputs[:, 0].T.numpy())
    assert np.allclose(np.array(_by_name(fig, "target").z), ep.targets[:, 0].T.numpy())
    assert np.allclose(np.array(_by_name(fig, "output").z), np.array(trace.outputs).T)
    assert _cursor_xs(fig) == [3, 3, 3]
    figures.set_cursor(fig, 5)
    assert _cursor_xs(fig) == [5, 5, 5]


def test_write_weights_figure_holds_exactly_the_recorded_ids_and_values(ntm_run):
    _, _, trace, _ = ntm_run
    fig = figures.weights_figure(trace, 2)
    write = _by_name(fig, "write")
    recorded = {int(i) for step in trace.steps for i in step["write_weights"]["ids"]}
    assert {int(y) for y in write.y} == recorded
    z = np.array(write.z)
    row_of = {int(y): r for r, y in enumerate(write.y)}
    for t, step in enumerate(trace.steps):
        for slot, value in zip(step["write_weights"]["ids"], step["write_weights"]["values"], strict=True):
            assert z[row_of[slot], t] == pytest.approx(value)
    read = _by_name(fig, "read head 1")
    assert {int(y) for y in read.y} == {int(i) for s in trace.steps for i in s["read_weights"][0]["ids"]}
    assert _cursor_xs(fig) == [2, 2]


def test_sparse_weights_figure_lists_only_touched_slots(sam_trace):
    fig = figures.weights_figure(sam_trace, 4)
    touched = set()
    for step in sam_trace.steps:
        touched |= {int(i) for i in step["write_weights"]["ids"]}
        for head in step["read_weights"]:
            touched |= {int(i) for i in head["ids"]}
    assert {int(y) for y in _by_name(fig, "write").y} == touched
    assert len(touched) < sam_trace.config["memory_slots"] or len(sam_trace) * 9 >= sam_trace.config["memory_slots"]
    # the least-used marks are the recorded least-used slots
    lru = _by_name(fig, "least-used slot")
    assert [int(y) for y in lru.y] == [s["least_used"] for s in sam_trace.steps]
    # every read head has exactly K slots with non-zero weight at each step
    for h in range(2):
        z = np.array(_by_name(fig, f"read head {h + 1}").z)
        assert all(np.count_nonzero(z[:, t]) <= 4 for t in range(len(sam_trace)))


def _synthetic_trace(slots: int, steps: int, per_step: int, dense: bool = False) -> EpisodeTrace:
    rng = random.Random(0)
    records = []
    for _ in range(steps):
        if dense:
            ids = list(range(slots))
            values = np.random.default_rng(0).dirichlet(np.ones(slots)).tolist()
        else:
            ids = rng.sample(range(slots), per_step)
            values = [(per_step - i) / (per_step * (per_step + 1) / 2) for i in range(per_step)]   # distinct
        records.append({"read_weights": [{"ids": ids, "values": values}],
                        "write_weights": {"ids": ids, "values": values},
                        "rows_written": {"ids": ids[:2], "before": [[0.0] * 4] * 2, "after": [[1.0] * 4] * 2},
                        "reads": [[0.5] * 4], "gates": {}, "least_used": ids[0]})
    records[min(7, steps - 1)]["usage"] = [float(i % 7) for i in range(slots)]   # one long usage vector
    return EpisodeTrace(model="ntm" if dense else "sam", config={"memory_slots": slots, "index": "exact"},
                        inputs=[[0.0] * 3] * steps, outputs=[[0.5] * 2] * steps, steps=records)


@pytest.mark.parametrize("slots,steps,per_step,dense", [(1_000_000, 60, 9, False), (4096, 80, 0, True)])
def test_big_memories_stay_under_the_cell_budget(slots, steps, per_step, dense):
    trace = _synthetic_trace(slots, steps, per_step, dense)
    step = 7
    fig = figures.weights_figure(trace, step)
    cells = sum(np.array(t.z).size for t in fig.data if t.type == "heatmap")
    assert cells <= figures.MAX_CELLS
    shown = {int(y) for y in _by_name(fig, "write").y}
    assert len(shown) <= figures.MAX_SLOT_ROWS
    current = trace.steps[step]["write_weights"]
    best = max(zip(current["values"], current["ids"], strict=True))[1]
    assert best in shown                        # the current step's strongest slot is never zoomed away
    assert "most weighted" in fig.layout.title.subtitle.text
    usage = figures.usage_figure(trace, step)
    assert len(usage.data[0].y) <= figures.MAX_USAGE_BARS


def test_usage_figure_marks_the_least_used_slot(sam_trace):
    step = 6
    fig = figures.usage_figure(sam_trace, step)
    record = sam_trace.steps[step]
    assert list(fig.data[0].x) == pytest.approx(record["usage"])       # slots down the vertical axis
    assert list(fig.data[0].y) == list(range(len(record["usage"])))
    mark = [t for t in fig.data if t.meta == "least used slot"][0]
    assert list(mark.y) == [record["least_used"]]
    assert f"slot {record['least_used']}" in mark.text[0]


def test_neighbours_figure_and_table_match_the_record(sam_trace):
    step = 5
    fig = figures.neighbours_figure(sam_trace, step)
    record = sam_trace.steps[step]["neighbours"]
    found = [t for t in fig.data if t.name.startswith("found")]
    exact = [t for t in fig.data if t.name == "exact top-K"]
    assert [[int(s) for s in t.text] for t in found] == [n["found"] for n in record]
    assert [[int(s) for s in t.text] for t in exact] == [n["exact"] for n in record]
    assert list(found[0].y) == pytest.approx(record[0]["found_similarity"])
    rows = figures.neighbour_rows(sam_trace, step)
    assert len(rows) == sum(len(n["found"]) for n in record)
    assert all(r["found is in exact top-K"] == (r["found slot"] in record[r["head"] - 1]["exact"]) for r in rows)


def test_rows_figure_shows_before_and_after(ntm_run):
    _, _, trace, _ = ntm_run
    step = 3
    fig = figures.rows_figure(trace, step)
    written = trace.steps[step]["rows_written"]
    before = _by_name(fig, "written rows, before")
    after = _by_name(fig, "written rows, after")
    assert sorted(int(y) for y in before.y) == sorted(set(written["ids"]))
    row = {int(y): i for i, y in enumerate(after.y)}
    for slot, values in zip(written["ids"], written["after"], strict=True):
        assert np.allclose(after.z[row[slot]], values)
    assert np.allclose(_by_name(fig, "read vectors r_t").z, trace.steps[step]["reads"])
    assert figures.memory_figure(trace, step) is not None       # 16 × 8 memory is recorded


def test_dense_models_touch_every_row_sparse_ones_few(ntm_run, sam_trace):
    _, _, trace, _ = ntm_run
    assert stats.rows_touched(trace) == [16] * len(trace)
    sparse = stats.rows_touched(sam_trace)
    k, heads = 4, 2
    assert max(sparse) <= k * heads + k * heads + 1
    fig = figures.compare_figure({"NTM": trace, "SAM": sam_trace}, {"NTM": [1.0] * len(trace)})
    assert {t.name for t in fig.data} == {"NTM", "SAM"}
    assert len([t for t in fig.data if t.name == "NTM"]) == 4      # spread, rows, errors, time
    assert len([t for t in fig.data if t.name == "SAM"]) == 3      # no timing given


def test_dnc_style_views_from_records():
    trace = _synthetic_trace(64, 5, 4)
    trace.model = "sdnc"
    for record in trace.steps:
        record["read_modes"] = [[0.1, 0.7, 0.2]]
        record["links"] = [{"forward": {"ids": [3, 9], "values": [0.6, 0.1]},
                            "backward": {"ids": [2], "values": [0.4]}}]
    modes = figures.read_modes_figure(trace, 1)
    assert [t.name for t in modes.data] == ["backward", "content", "forward"]
    assert [t.x[0] for t in modes.data] == pytest.approx([0.1, 0.7, 0.2])
    links = figures.links_figure(trace, 1)
    forward = _by_name(links, "forward")
    assert list(forward.x) == ["3", "9"]
    text = " ".join(s.text for s in explain.narrate(trace, 1))
    assert "mostly content reading" in text and "forward link leads to slot 3" in text


def test_narration_has_numbers_and_links_to_learn_sections(ntm_run, sam_trace):
    from samviz.app.pages import learn
    assert set(learn.SECTIONS) == set(explain.ANCHORS)
    assert {a for _, anchors in learn.GROUPS for a in anchors} == set(explain.ANCHORS)
    _, _, trace, _ = ntm_run
    for t in (trace, sam_trace):
        for step in range(len(t)):
            sentences = explain.narrate(t, step)
            assert sentences and all(s.anchor in explain.ANCHORS for s in sentences)
            assert all(re.search(r"\d", s.text) for s in sentences)
    step = 6
    record = sam_trace.steps[step]
    text = " ".join(s.text for s in explain.narrate(sam_trace, step))
    assert f"slot {record['least_used']} (the least recently used" in text
    assert f"recall {record['neighbours'][0]['recall']:.2f}" in text
    assert f"α = {record['gates']['write_gate']:.2f}" in text
    markdown = explain.to_markdown(explain.narrate(sam_trace, step))
    assert "(learn#sam-sparse-write)" in markdown and "(learn#sam-ann)" in markdown
    answer = [t for t, m in enumerate(trace.mask) if m > 0][0]
    wrong = int(stats.bit_errors_per_step(trace)[answer])
    assert f"{wrong} of 8 bits wrong" in explain.narrate(trace, answer)[0].text or wrong == 0


def test_least_used_age_counts_before_the_write(sam_trace):
    """The age is the one the core recorded (not recomputed), and it means what the narration says: steps since
    the last access, before this step's accesses — one more than the previous step's usage of that slot."""
    assert stats.least_used_age(sam_trace, 0) > 0              # step 0: never accessed
    for step in range(1, len(sam_trace)):
        record, previous = sam_trace.steps[step], sam_trace.steps[step - 1]
        assert stats.least_used_age(sam_trace, step) == record["least_used_age"]
        assert stats.least_used_age(sam_trace, step) == previous["usage"][record["least_used"]] + 1


def test_wrong_bits_agree_with_the_tasks_tensor_version_on_fresh_episodes():
    """trace_stats.wrong_bits_of (torch-free, over probabilities) and samviz.tasks.wrong_bits (over logits)
    are the same rule: checked on several episodes of every task, with logits crowding the threshold."""
    for task in samviz.tasks.NAMES:
        for seed in range(3):
            ep = _episode(task, level=3, seed=seed)
            logits = torch.randn(ep.targets.shape, generator=torch.Generator().manual_seed(seed)) * 0.01
            expected = samviz.tasks.wrong_bits(logits, ep)[:, 0].numpy() > 0
            got = stats.wrong_bits_of(torch.sigmoid(logits[:, 0]).tolist(), ep.targets[:, 0].tolist(),
                                      ep.mask[:, 0].tolist())
            assert np.array_equal(got, expected)
            assert expected.any() and not expected.all()        # some right, some wrong: not vacuous


def test_dnc_narration_reads_the_recorded_free_gates():
    model = samviz.build_model("dnc", memory_slots=16, word_size=8, heads=2, controller_size=32, seed=0)
    ep = _episode(level=3)
    trace = model.trace(ep.inputs, ep.targets, ep.mask, task="copy")
    step = 2
    free = trace.steps[step]["gates"]["free_gates"]
    assert len(free) == 2
    text = " ".join(s.text for s in explain.narrate(trace, step))
    assert f"Free gates {free[0]:.2f}, {free[1]:.2f}" in text


def test_narration_quotes_the_cores_constants():
    from samviz.app.pages import learn
    from samviz.memory.dam import USAGE_DISCOUNT
    from samviz.memory.usage import ACCESS_THRESHOLD
    assert f"δ = {ACCESS_THRESHOLD:g}" in learn.SECTIONS["sam-usage"][0]
    assert any(eq.endswith(f"\\lambda = {USAGE_DISCOUNT:g}") for eq in learn.SECTIONS["dam"][1])
    # the Learn page teaches the index samviz has: a graph over the initial rows with a fixed budget (log N)
    # plus the rows written so far, and the inverted file's √N scan for any other memory
    ann, scales = learn.SECTIONS["sam-ann"][0], learn.SECTIONS["why-sparse-scales"][0]
    assert "log N" in ann and "written so far" in ann and "√N" in ann
    assert "log N" in scales and "written so far" in scales and "O(√N)" not in scales
    assert any("rows written" in eq for eq in learn.SECTIONS["why-sparse-scales"][1])


def test_png_config_names_the_file():
    config = figures.png_config("weights")
    assert config["toImageButtonOptions"]["format"] == "png"
    assert config["toImageButtonOptions"]["filename"] == "samviz-weights"
