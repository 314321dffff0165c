"""Narration agrees with the charts: every number a sentence says is the trace value the chart beside it draws.

For every model kind (untrained small models, and the shipped checkpoints where there are some), each step's
sentences are parsed and each number is tied to the record it names and to the figure that draws it. The
words "mostly" / "evenly" / "across" and the read-mode verdicts are checked against the numbers that earn
them. Plus hand-computed cases for the measures (effective number of slots, focus) and the figures' stable
encodings (one colour range per episode, a colourbar on every heatmap, slots down the vertical axis,
visible answer-phase shading, a non-linear slot axis says so, one symbol per meaning).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import samviz
from samviz.app import explain, figures
from samviz.app import trace_stats as stats
from samviz.kinds import MODELS

NUMBER = r"(\d+(?:\.\d+)?)"


def _episode(level=5, seed=3):
    return samviz.tasks.get("copy").sample(1, level=level, generator=torch.Generator().manual_seed(seed))


def _untrained(kind: str):
    extra = {"k": 4} if kind in ("sam", "sdnc") else {}
    return samviz.build_model(kind, memory_slots=32, word_size=8, heads=2, controller_size=32, seed=0, **extra)


def _trace(model):
    ep = _episode()
    return model.trace(ep.inputs, ep.targets, ep.mask, task="copy")


@pytest.fixture(scope="module", params=MODELS)
def untrained_trace(request):
    return _trace(_untrained(request.param))


SHIPPED = sorted(samviz.pretrained.available())        # every shipped model, on its own task


@pytest.fixture(scope="module", params=SHIPPED)
def shipped_trace(request):
    task = request.param.split("-", 1)[1]
    ep = samviz.tasks.get(task).sample(1, generator=torch.Generator().manual_seed(1))
    return samviz.pretrained.load(request.param).trace(ep.inputs, ep.targets, ep.mask, task=task)


# ------------------------------------------------------------------------------------------ the measures

def test_effective_slots_hand_computed():
    assert stats.effective_slots({7: 1.0}) == pytest.approx(1.0)
    assert stats.effective_slots({i: 0.25 for i in range(4)}) == pytest.approx(4.0)
    # p = (1/2, 1/4, 1/4): H = 1.5 ln 2, exp(H) = 2^1.5
    assert stats.effective_slots({0: 0.5, 1: 0.25, 2: 0.25}) == pytest.approx(2 ** 1.5)
    # scale does not matter (a SAM write sums to α, not 1); zero weights do not count
    assert stats.effective_slots({0: 0.1, 1: 0.05, 2: 0.05, 3: 0.0}) == pytest.approx(2 ** 1.5)
    assert stats.effective_slots({}) == 0.0 and stats.effective_slots({0: 0.0}) == 0.0


def test_spread_does_not_read_backwards():
    """A diffuse NTM head (nearly uniform over 128 slots, every weight under 0.01) must score high; a K-sparse SAM
    head at most K. Counting slots above 0.01 gave the diffuse head 0: more focused than SAM."""
    rng = np.random.default_rng(0)
    diffuse = rng.dirichlet(np.full(128, 500.0))
    assert diffuse.max() < 0.01                                         # the old count: 0 slots
    ntm = {i: float(v) for i, v in enumerate(diffuse)}
    sam = {3: 0.4, 17: 0.3, 40: 0.2, 99: 0.1}                            # K = 4
    assert stats.effective_slots(ntm) > 120
    assert stats.effective_slots(sam) <= 4
    # p = (0.4, 0.3, 0.2, 0.1): exp(-Σ p ln p) by hand
    h = -(0.4 * math.log(0.4) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert stats.effective_slots(sam) == pytest.approx(math.exp(h))     # 3.596...
    trace = samviz.trace.EpisodeTrace(model="ntm", config={"memory_slots": 128}, inputs=[[0.0]] * 2,
                                      outputs=[[0.5]] * 2, steps=[
                                          {"read_weights": [{"ids": list(range(128)), "values": diffuse.tolist()}]},
                                          {"read_weights": [{"ids": list(sam), "values": list(sam.values())},
                                                            {"ids": [5], "values": [1.0]}]}])
    assert stats.attention_spread(trace) == pytest.approx([stats.effective_slots(ntm), (math.exp(h) + 1) / 2])


@pytest.mark.parametrize("weights,word,slot", [
    ({0: 0.34, 1: 0.34, 2: 0.32}, "evenly", 0),        # the DNC's read modes that were called "mostly backward"
    ({0: 0.6, 1: 0.3, 2: 0.1}, "mostly", 0),
    ({4: 0.45, 5: 0.45, 6: 0.1}, "spread", 4),          # leaning, but nothing holds half
    ({0: 0.02, **{i: 0.98 / 127 for i in range(1, 128)}}, "evenly", 0),   # "read mostly slot 0 (weight 0.02)"
    ({0: 0.3, **{i: 0.7 / 127 for i in range(1, 128)}}, "spread", 0),
    ({9: 0.9}, "mostly", 9),
])
def test_focus_words_are_earned(weights, word, slot):
    f = stats.focus(weights)
    assert (f.word, f.slot) == (word, slot)


# ------------------------------------------------------------------------------------------ sentence ↔ record

def _check_focus(text: str, weights: dict, where: str) -> int:
    """Ties one focus phrase in `text` to the weights it describes; returns how many phrases it checked."""
    f = stats.focus(weights)
    mostly = re.search(rf"mostly (?:to|from) slot (\d+) \(weight {NUMBER}\)", text)
    evenly = re.search(rf"evenly (?:to|from) (\d+) slots \(about {NUMBER} each\)", text)
    across = re.search(rf"across about (\d+) slots \(effective number of slots; the largest weight, {NUMBER}, "
                       rf"on slot (\d+)\)", text)
    nothing = re.search(rf"almost nothing \(a total weight of {NUMBER} over (\d+) slots?\)", text)
    assert sum(m is not None for m in (mostly, evenly, across, nothing)) == 1, (where, text)
    if nothing:
        total = sum(v for v in weights.values() if v > 0)
        assert total < stats.WEIGHT_THRESHOLD and nothing[1] == f"{total:.4f}", (where, text)
        assert int(nothing[2]) == sum(1 for v in weights.values() if v > 0), (where, text)
    elif mostly:
        slot, weight = int(mostly[1]), mostly[2]
        assert slot == f.slot and weight == f"{weights[slot]:.2f}", (where, text)
        assert weights[slot] >= stats.MOSTLY * sum(v for v in weights.values() if v > 0), (where, text)
    elif evenly:
        support = sum(1 for v in weights.values() if v > 0)
        assert int(evenly[1]) == support and f.effective >= stats.EVENLY * support, (where, text)
        assert float(evenly[2]) == pytest.approx(sum(weights.values()) / support, rel=0.06), (where, text)
    else:
        assert int(across[1]) == round(stats.effective_slots(weights)), (where, text)
        slot = int(across[3])
        assert slot == stats.top_slots(weights, 1)[0][0] and across[2] == f"{weights[slot]:.2f}", (where, text)
        assert weights[slot] < stats.MOSTLY * sum(weights.values()), (where, text)
    return 1


def _sentences_with(sentences, pattern):
    return [s.text for s in sentences if re.search(pattern, s.text)]


def check_step(trace, step: int) -> int:
    """Every number of the step's narration against the trace and the figures; returns the count of ties checked."""
    record = trace.steps[step]
    sentences = explain.narrate(trace, step)
    text = " ".join(s.text for s in sentences)
    where = f"{trace.model} step {step}"
    ties = 0
    write = stats.write_map(record)
    written = stats.written_slots(record)
    # "N slots got write weight > 0.01": the same list the memory view marks as written
    for count in re.findall(rf"(\d+) slots? got write weight > {stats.WEIGHT_THRESHOLD:g}", text):
        assert int(count) == len(written) == len([s for s, v in write.items() if v > stats.WEIGHT_THRESHOLD]), where
        memory = figures.memory_figure(trace, step)
        if memory is not None:
            marks = [t for t in memory.data if t.name.startswith("written")][0]
            assert sorted(int(y) for y in marks.y) == written, where
            assert all(write[int(y)] > stats.WEIGHT_THRESHOLD for y in marks.y), where
        ties += 1
    # the write's focus phrase
    for sentence in _sentences_with(sentences, r"^Wrote "):
        ties += _check_focus(sentence, write, where)
    # each read head's focus phrase (dense heads)
    for h, head in enumerate(stats.read_maps(record)):
        for sentence in _sentences_with(sentences, rf"^Read head {h + 1}(:| read) .*(mostly|evenly|across about)"):
            ties += _check_focus(sentence.split(" read ", 1)[1] if " read " in sentence else sentence, head, where)
        for sentence in _sentences_with(sentences, rf"^Read head {h + 1} read only"):      # sparse heads
            m = re.search(rf"the largest weight {NUMBER} is on slot (\d+)", sentence)
            slot = int(m[2])
            assert (slot, m[1]) == (stats.top_slots(head, 1)[0][0], f"{head[slot]:.2f}"), where
            ties += 1
    # SAM's write rule: the weight on the least used slot is the one the weights chart draws there
    m = re.search(rf"wrote {NUMBER} to slot (\d+) \(the least", text)
    if m:
        slot = int(m[2])
        assert slot == record["least_used"] and m[1] == f"{write.get(slot, 0.0):.2f}", where
        fig = figures.weights_figure(trace, step)
        panel = [t for t in fig.data if t.name == "write"][0]
        assert np.array(panel.z)[list(panel.y).index(str(slot)), step] == pytest.approx(write[slot]), where
        ties += 1
    # usage: the number quoted is the bar drawn at that slot, and "smallest"/"lowest"/"longest" is true of the bars
    usage_fig = figures.usage_figure(trace, step)
    for pattern, smallest in ((rf"Slot (\d+) had the smallest discounted usage .*?, {NUMBER}:", True),
                              (rf"Slot (\d+) has the lowest usage \({NUMBER}\)", True),
                              (r"slot (\d+) had gone longest", False)):
        m = re.search(pattern, text)
        if not m:
            continue
        slot = int(m[1])
        assert slot == record["least_used"], where
        bars = dict(zip(usage_fig.data[0].y, usage_fig.data[0].x, strict=True))
        if m.lastindex == 2:
            assert m[2] == f"{bars[slot]:.3f}", where
        drawn = np.array(list(bars.values()))
        assert bars[slot] <= drawn.min() + 1e-6 if smallest else bars[slot] == drawn.max(), where
        ties += 1
    # read modes: the verdict is earned
    for h, mode in enumerate(record.get("read_modes") or []):
        sentence = _sentences_with(sentences, rf"^Read head {h + 1} mixes")[0]
        values = re.findall(NUMBER, sentence.split("mixes", 1)[1])
        assert values == [f"{float(v):.2f}" for v in mode], where
        if "mostly" in sentence:
            assert max(mode) >= stats.MOSTLY, where
        elif "even mix" in sentence:
            assert stats.effective_slots(dict(enumerate(mode))) >= stats.EVENLY * 3, where
        else:
            assert "leaning" in sentence and max(mode) < stats.MOSTLY, where
        ties += 1
    # sparse: rows touched at this step
    m = re.search(r"Only ([\d,]+) of ([\d,]+) rows were touched at this step", text)
    if m:
        touched, slots = (int(m[i].replace(",", "")) for i in (1, 2))
        assert touched == stats.rows_touched(trace)[step] and slots == stats.memory_slots(trace), where
        ties += 1
    # one symbol per meaning: γ only for the NTM's sharpening
    for sentence in sentences:
        if "γ" in sentence.text:
            assert sentence.anchor == "ntm-sharpen", (where, sentence.text)
    if "interpolation_gate" in record.get("gates", {}):
        assert f"interpolation gate {explain.INTERPOLATION} = {record['gates']['interpolation_gate']:.2f}" in text
    return ties


def test_every_kind_narrates_what_its_charts_draw(untrained_trace):
    ties = sum(check_step(untrained_trace, step) for step in range(len(untrained_trace)))
    assert ties >= 3 * len(untrained_trace)          # every step ties at least its write and its reads


def test_shipped_models_narrate_what_their_charts_draw(shipped_trace):
    """The shipped checkpoints (focused, trained weights), each on its own task, at the size they were trained."""
    ties = sum(check_step(shipped_trace, step) for step in range(len(shipped_trace)))
    assert ties >= 2 * len(shipped_trace)


def test_the_contradictions_that_were_reported_cannot_come_back():
    """The issue's examples, as hand-made steps: DAM's usage is quoted from before the write (what chose the slot),
    not after it; "mostly" needs half the weight; read modes 0.34/0.34/0.32 are an even mix; a slot written with
    weight 0.00 gets no mark."""
    n = 4
    steps = [{"read_weights": [{"ids": list(range(n)), "values": [0.25] * n}],
              "write_weights": {"ids": list(range(n)), "values": [0.0, 0.9, 0.05, 0.05]},
              "rows_written": {"ids": [0, 1], "before": [[0.0]] * 2, "after": [[1.0]] * 2}, "reads": [[0.0]],
              "gates": {"write_gate": 0.9, "interpolation_gate": 0.0}, "least_used": 1,
              "usage": [0.0, 0.95, 0.05, 0.05], "memory": [[0.1], [0.9], [0.0], [0.0]]},
             {"read_weights": [{"ids": list(range(n)), "values": [0.02, 0.4, 0.29, 0.29]}],
              "write_weights": {"ids": list(range(n)), "values": [0.8, 0.0, 0.005, 0.0]},
              "rows_written": {"ids": [0, 1, 2, 3], "before": [[0.0]] * 4, "after": [[1.0]] * 4}, "reads": [[0.0]],
              "gates": {"write_gate": 0.8, "interpolation_gate": 0.0}, "least_used": 0,
              "usage": [1.0, 1.1, 0.1, 0.1], "memory": [[0.8], [0.9], [0.0], [0.0]]}]
    trace = samviz.trace.EpisodeTrace(model="dam", config={"memory_slots": n}, inputs=[[0.0]] * 2,
                                      outputs=[[0.5]] * 2, steps=steps)
    text = " ".join(s.text for s in explain.narrate(trace, 1))
    # at step 1 the least used slot 0 had usage 0.000 before the write (step 0's record), not 1.000 after it
    assert "Slot 0 had the smallest discounted usage (λ = 0.99) before this step, 0.000" in text
    assert usage_x(figures.usage_figure(trace, 1)) == [0.0, 0.95, 0.05, 0.05]
    assert "1 slot got write weight > 0.01" in text                  # 0.005 is under the threshold
    marks = [t for t in figures.memory_figure(trace, 1).data if t.name.startswith("written")][0]
    assert list(marks.y) == [0]                                      # not slots 1, 2, 3 (weights 0, 0.005, 0)
    assert "read across about 3 slots" in text and "mostly" not in text.split("Read head 1")[1]
    trace.model = "sdnc"
    for record in trace.steps:
        record["read_modes"] = [[0.34, 0.34, 0.32]]
    text = " ".join(s.text for s in explain.narrate(trace, 1))
    assert "an even mix" in text and "mostly backward" not in text


def usage_x(fig):
    return [float(v) for v in fig.data[0].x]


# ------------------------------------------------------------------------------------------ stable encodings

def _all_figures(trace, step):
    builders = (figures.bits_figure, figures.weights_figure, figures.usage_figure, figures.rows_figure,
                figures.memory_figure, figures.neighbours_figure, figures.read_modes_figure, figures.links_figure)
    return [f for f in (b(trace, step) for b in builders) if f is not None]


def test_every_heatmap_has_a_colourbar_and_one_range_per_episode(untrained_trace):
    trace = untrained_trace
    weight_top = max(max(list(r["write_weights"]["values"]) + [v for h in r["read_weights"] for v in h["values"]])
                     for r in trace.steps)
    memory_top = max(float(np.abs(np.asarray(r[key], dtype=float)).max()) for r in trace.steps
                     for key in ("memory", "reads") if r.get(key) is not None)
    memory_top = max([memory_top] + [float(np.abs(np.asarray(r["rows_written"][k], dtype=float)).max())
                                     for r in trace.steps for k in ("before", "after") if r["rows_written"]["ids"]])
    ranges = {}
    for step in (0, len(trace) // 2, len(trace) - 1):
        for fig in _all_figures(trace, step):
            for heatmap in [t for t in fig.data if t.type == "heatmap"]:
                axis = heatmap.coloraxis
                assert axis, f"{fig.layout.title.text}: heatmap {heatmap.name} has no colour axis"
                colour = fig.layout[axis]
                assert colour.colorbar.title.text, f"{fig.layout.title.text}: {heatmap.name} has no colourbar"
                ranges.setdefault((fig.layout.title.text.split(" at step")[0].split(" after step")[0], axis),
                                  set()).add((colour.cmin, colour.cmax))
    for name, seen in ranges.items():
        assert len(seen) == 1, f"{name}: the colour range changes between steps: {seen}"
    weights = figures.weights_figure(trace, 0)
    assert weights.layout.coloraxis.cmax == pytest.approx(weight_top)
    assert weights.layout.coloraxis2.cmax == pytest.approx(weight_top)
    memory = figures.memory_figure(trace, 0)
    assert memory.layout.coloraxis.cmax == pytest.approx(memory_top, rel=1e-6)
    assert figures.rows_figure(trace, 1).layout.coloraxis.cmax == pytest.approx(memory_top, rel=1e-6)


def test_slots_are_always_down_the_vertical_axis(untrained_trace):
    trace = untrained_trace
    step = 2
    n = stats.memory_slots(trace)
    memory = figures.memory_figure(trace, step)
    assert np.array(memory.data[0].z).shape == (n, trace.config["word_size"])     # rows are slots
    assert memory.layout.yaxis.title.text.startswith(figures.SLOT_AXIS)
    assert memory.layout.yaxis.autorange == "reversed"                            # slot 0 at the top
    usage = figures.usage_figure(trace, step)
    if usage is not None:
        assert usage.data[0].orientation == "h" and usage.layout.yaxis.title.text.startswith(figures.SLOT_AXIS)
    rows = figures.rows_figure(trace, step)
    assert rows.layout.yaxis.title.text.startswith(figures.SLOT_AXIS)
    weights = figures.weights_figure(trace, step)
    assert weights.layout.yaxis.title.text.startswith(figures.SLOT_AXIS)
    assert weights.layout.yaxis.autorange == "reversed"


def test_a_slot_axis_that_skips_slots_says_so(untrained_trace):
    trace = untrained_trace
    fig = figures.weights_figure(trace, 0)
    shown = len(fig.data[0].y)
    title = fig.layout.yaxis.title.text
    if shown < stats.memory_slots(trace):
        assert "not to scale" in title and f"{shown}" in title
    else:
        assert title == figures.SLOT_AXIS


def test_sparse_slot_axis_lists_touched_slots_and_says_so():
    model = samviz.build_model("sam", memory_slots=256, word_size=8, heads=1, k=4, controller_size=32, seed=0)
    trace = _trace(model)
    touched = sorted({int(i) for r in trace.steps for i in [*r["write_weights"]["ids"], *r["read_weights"][0]["ids"]]})
    assert len(touched) < 256
    fig = figures.weights_figure(trace, 0)
    assert [int(y) for y in fig.data[0].y] == touched
    assert fig.layout.yaxis.title.text == f"memory slot: {len(touched)} touched of 256, not to scale"


def test_answer_phase_shading_is_drawn_above_the_heatmaps(untrained_trace):
    trace = untrained_trace
    answer = stats.answer_steps(trace)
    assert answer
    for fig in (figures.bits_figure(trace, 0), figures.weights_figure(trace, 0)):
        frames = [s for s in fig.layout.shapes if s.name == "answer phase"]
        assert frames and all(f.layer == "above" and f.opacity == 1 and f.line.width >= 2 for f in frames)
        assert {(f.x0, f.x1) for f in frames} == {(answer[0] - 0.5, answer[-1] + 0.5)}
        assert "green frame" in fig.layout.title.subtitle.text


def test_a_closed_write_gate_reads_as_almost_nothing_not_as_an_even_write():
    """The shipped dnc-copy's step 10: 128 slots at 1.6e-05 each, 0.002 in all, was "evenly to 128 slots"."""
    assert explain._focus_text({i: 1.6e-5 for i in range(128)}, "to") == \
        "almost nothing (a total weight of 0.0020 over 128 slots)"
    assert explain._focus_text({i: 1 / 128 for i in range(128)}, "to").startswith("evenly to 128 slots")


@pytest.mark.parametrize("options, said", [({}, "without a read or write above δ = 0.005"),
                                           ({"access_threshold": 0.1, "accesses": "writes"},
                                            "without a write above δ = 0.1")])
def test_the_usage_sentence_names_the_models_own_access_rule(options, said):
    """δ and what counts as an access come from the model (the ablation's options), not from the defaults."""
    model = samviz.build_model("sam", memory_slots=32, word_size=8, heads=2, controller_size=32, seed=0, k=4,
                               **options)
    trace = _trace(model)
    text = " ".join(s.text for step in range(len(trace.steps)) for s in explain.narrate(trace, step))
    assert said in text
