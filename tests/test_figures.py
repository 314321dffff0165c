"""Trace statistics, the episode view's payload (what the browser draws at every step) and narration, on real traces
of small models: content, not just shapes."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

import samviz
from samviz.app import explain, figures
from samviz.app import trace_stats as stats
from samviz.app.episode_view import payload
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


def _panel(view: dict, name: str) -> np.ndarray:
    """A weights panel as the browser decodes it: [slots drawn, steps]."""
    return payload.dequantize([p for p in view["weights"]["panels"] if p["name"] == name][0]["data"])


def test_wrong_bit_marks_match_independent_bit_errors(ntm_run):
    _, ep, trace, logits = ntm_run
    bits = payload.bits_view(trace)
    marked = sorted(tuple(mark) for mark in bits["wrong"])
    expected = sorted((int(t), int(b)) for t, b in torch.nonzero(samviz.tasks.wrong_bits(logits, ep)[:, 0]).tolist())
    assert marked == expected
    assert len(marked) > 0                       # an untrained model gets bits wrong: the test is not vacuous
    per_step = samviz.tasks.bit_errors_per_step(logits, ep).numpy()
    assert np.array_equal(stats.bit_errors_per_step(trace), per_step)
    assert f"{int(per_step.sum())} wrong bits" in bits["title"] and bits["errors"] == int(per_step.sum())


def test_bits_view_holds_inputs_targets_outputs(ntm_run):
    _, ep, trace, _ = ntm_run
    bits = payload.bits_view(trace)
    assert np.allclose(bits["inputs"], ep.inputs[:, 0].numpy(), atol=5e-4)
    assert np.allclose(bits["targets"], ep.targets[:, 0].numpy(), atol=5e-4)
    assert np.allclose(bits["outputs"], np.array(trace.outputs), atol=5e-4)
    answer = [t for t, m in enumerate(trace.mask) if m > 0]
    assert bits["answer"] == [answer[0], answer[-1]]


def test_write_weights_view_holds_exactly_the_recorded_ids_and_values(ntm_run):
    _, _, trace, _ = ntm_run
    view = payload.model_view(trace, name="NTM")
    slots = view["weights"]["slots"]
    recorded = {int(i) for step in trace.steps for i in step["write_weights"]["ids"]}
    assert set(slots) == recorded
    z = _panel(view, "write")
    row_of = {slot: r for r, slot in enumerate(slots)}
    for t, step in enumerate(trace.steps):
        for slot, value in zip(step["write_weights"]["ids"], step["write_weights"]["values"], strict=True):
            assert z[row_of[slot], t] == pytest.approx(value, abs=view["weights"]["top"] / 60000)
    assert [p["name"] for p in view["weights"]["panels"]] == ["read head 1", "write"]


def test_sparse_weights_view_lists_only_touched_slots(sam_trace):
    view = payload.model_view(sam_trace, name="SAM")
    touched = set()
    for step in sam_trace.steps:
        touched |= {int(i) for i in step["write_weights"]["ids"]}
        for head in step["read_weights"]:
            touched |= {int(i) for i in head["ids"]}
    assert set(view["weights"]["slots"]) == touched
    assert len(touched) < sam_trace.config["memory_slots"] or len(sam_trace) * 9 >= sam_trace.config["memory_slots"]
    # the least-used marks are the recorded least-used slots
    assert view["weights"]["least"] == [s["least_used"] for s in sam_trace.steps]
    # every read head has at most K slots with non-zero weight at each step
    for h in range(2):
        z = _panel(view, f"read head {h + 1}")
        assert all(np.count_nonzero(z[:, t] > 1e-9) <= 4 for t in range(len(sam_trace)))


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
def test_big_memories_send_only_the_slots_drawn(slots, steps, per_step, dense):
    trace = _synthetic_trace(slots, steps, per_step, dense)
    view = payload.model_view(trace, name="X")
    shown = view["weights"]["slots"]
    assert len(shown) <= payload.MAX_SLOT_ROWS
    assert all(p["data"]["shape"] == [len(shown), steps] for p in view["weights"]["panels"])
    for record in trace.steps:                  # every step's strongest slot and least-used slot are drawn
        best = max(zip(record["write_weights"]["values"], record["write_weights"]["ids"], strict=True))[1]
        assert best in shown and record["least_used"] in shown
    if len(shown) < len({i for r in trace.steps for i in r["write_weights"]["ids"]}):
        assert "most weighted" in view["weights"]["scope"]
    usage = view["usage"]
    if usage is not None and usage["values"] is not None:     # usage only at the slots drawn
        assert all(values is None or set(map(int, values)) <= set(shown) for values in usage["values"])


def test_usage_view_marks_the_least_used_slot(sam_trace):
    step = 6
    view = payload.model_view(sam_trace, name="SAM")
    record = sam_trace.steps[step]
    drawn = {int(s): v for s, v in view["usage"]["values"][step].items()}
    assert drawn == {s: pytest.approx(record["usage"][s]) for s in view["weights"]["slots"]}
    assert view["weights"]["least"][step] == record["least_used"] and record["least_used"] in drawn
    assert drawn[record["least_used"]] == max(drawn.values())        # SAM: the largest age is least recently used
    assert "LARGEST" in view["usage"]["rule"]


def test_neighbours_view_matches_the_record(sam_trace):
    step = 5
    heads = payload.neighbours_view(sam_trace)["steps"][step]
    record = sam_trace.steps[step]["neighbours"]
    assert [h["found"] for h in heads] == [n["found"] for n in record]
    assert [h["exact"] for h in heads] == [n["exact"] for n in record]
    assert heads[0]["fs"] == pytest.approx(record[0]["found_similarity"], abs=1e-4)
    for h, n in zip(heads, record, strict=True):
        assert h["hits"] == len(set(n["found"]) & set(n["exact"]))
        assert min(h["hits"] + len(h["ties"]), len(n["exact"])) / len(n["exact"]) == pytest.approx(n["recall"])


def test_rows_view_shows_before_and_after(ntm_run):
    _, _, trace, _ = ntm_run
    step = 3
    rows = payload.rows_view(trace)[step]
    written = trace.steps[step]["rows_written"]
    assert rows["ids"] == sorted(set(written["ids"]))
    row = {slot: i for i, slot in enumerate(rows["ids"])}
    for slot, values in zip(written["ids"], written["after"], strict=True):
        assert np.allclose(rows["after"][row[slot]], values, atol=1e-4)
    assert np.allclose(rows["reads"], trace.steps[step]["reads"], atol=1e-4)
    memory = payload.memory_view(trace)                          # 16 × 8 memory is recorded, every step
    assert memory["mode"] == "full"
    assert np.allclose(payload.dequantize(memory["data"])[step], trace.steps[step]["memory"],
                       atol=2 * memory["scale"] / 65535)


def test_a_sparse_memory_is_sent_once_and_replayed_from_its_rows_written(sam_trace):
    """A sparse write changes only the rows it writes: step 0's memory plus each step's rows written give back every
    step's memory exactly, as the browser replays it."""
    memory = payload.memory_view(sam_trace)
    assert memory["mode"] == "replay"
    current = payload.dequantize(memory["data"])
    rows = payload.rows_view(sam_trace)
    tolerance = 2 * memory["scale"] / 65535 + 1e-4
    for step in range(1, len(sam_trace)):
        for i, slot in enumerate(rows[step]["ids"]):
            current[slot] = rows[step]["after"][i]
        assert np.allclose(current, sam_trace.steps[step]["memory"], atol=tolerance), step


def test_dense_models_touch_every_row_sparse_ones_few(ntm_run, sam_trace):
    _, _, trace, _ = ntm_run
    assert stats.rows_touched(trace) == [16] * len(trace)
    sparse = stats.rows_touched(sam_trace)
    k, heads = 4, 2
    assert max(sparse) <= k * heads + k * heads + 1
    data = payload.compare({"NTM": trace, "SAM": sam_trace}, {"NTM": [1.0] * len(trace), "SAM": None},
                           episode="e", clock="c", step=0)
    series = {m["name"]: m["series"] for m in data["models"]}
    assert series["NTM"]["touched"] == [16] * len(trace) and series["SAM"]["touched"] == sparse
    assert series["NTM"]["ms"] == [1.0] * len(trace) and series["SAM"]["ms"] is None    # no timing given
    assert data["steps"] == min(len(trace), len(sam_trace))
    assert series["NTM"]["wrong"] == stats.bit_errors_per_step(trace).tolist()


def test_dnc_style_views_from_records():
    trace = _synthetic_trace(64, 5, 4)
    trace.model = "sdnc"
    for record in trace.steps:
        record["read_modes"] = [[0.1, 0.7, 0.2]]
        record["links"] = [{"forward": {"ids": [3, 9], "values": [0.6, 0.1]},
                            "backward": {"ids": [2], "values": [0.4]}}]
    assert payload.modes_view(trace)[1] == [[0.1, 0.7, 0.2]]
    links = payload.links_view(trace)[1][0]
    assert links["forward"] == [[3, 0.6], [9, 0.1]] and links["backward"] == [[2, 0.4]]
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
        record = sam_trace.steps[step]
        assert stats.least_used_age(sam_trace, step) == record["least_used_age"]
        before = stats.usage_values(sam_trace, step - 1, [record["least_used"]])
        assert stats.least_used_age(sam_trace, step) == before[record["least_used"]] + 1


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
    # the Learn page teaches the index samviz has: the rows written so far (recent ones exactly, older ones in a
    # graph with a fixed search budget), and the inverted file's √N scan only for any other memory
    ann, scales = learn.SECTIONS["sam-ann"][0], learn.SECTIONS["why-sparse-scales"][0]
    assert "written so far" in ann and "√N" in ann
    assert "written so far" in scales and "fixed search budget" in scales and "O(√N)" not in scales
    assert any("cluster budget" in eq for eq in learn.SECTIONS["why-sparse-scales"][1])


def test_png_config_names_the_file():
    config = figures.png_config("weights")
    assert config["toImageButtonOptions"]["format"] == "png"
    assert config["toImageButtonOptions"]["filename"] == "samviz-weights"
