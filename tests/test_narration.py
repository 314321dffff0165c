"""Narration agrees with the views: every number a sentence says is the number the browser draws beside it.

For every model kind (untrained small models, and the shipped checkpoints where there are some), each step's
sentences are parsed and each number is tied to the record it names and to the episode view's payload (what the
browser draws: samviz/app/episode_view/payload.py, read back as the browser reads it). The words "mostly" /
"evenly" / "across", "smallest" / "LARGEST" and the read-mode verdicts are checked against the numbers that earn
them. Plus hand-computed cases for the measures (effective number of slots, focus), the issue's contradictions
(issue 25 item 9) as hand-made steps, and the views' stable encodings (one colour range per episode, a slot axis
that skips slots says so, the answer phase and its count).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import samviz
from samviz.app import explain
from samviz.app import trace_stats as stats
from samviz.app.episode_view import payload
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


# ------------------------------------------------------------------------------------------ sentence ↔ drawn value

def _check_focus(text: str, weights: dict, where: str) -> int:
    """Ties one focus phrase in `text` to the weights it describes; returns how many phrases it checked."""
    f = stats.focus(weights)
    mostly = re.search(rf"mostly (?:to|from) slot (\d+) \(weight {NUMBER}\)", text)
    evenly = re.search(rf"evenly (?:to|from) (\d+) slots \(about ([\d.e-]+) each(?:, {NUMBER} in all)?\)", text)
    across = re.search(rf"across about (\d+) slots \(effective number of slots; the largest weight, {NUMBER}, "
                       rf"on slot (\d+)\)", text)
    nothing = re.search(rf"almost nothing \(a total weight of {NUMBER} over (\d+) slots?\)", text)
    assert sum(m is not None for m in (mostly, evenly, across, nothing)) == 1, (where, text)
    total = sum(v for v in weights.values() if v > 0)
    if nothing:
        assert total < stats.WEIGHT_THRESHOLD and nothing[1] == f"{total:.4f}", (where, text)
        assert int(nothing[2]) == sum(1 for v in weights.values() if v > 0), (where, text)
    elif mostly:
        slot, weight = int(mostly[1]), mostly[2]
        assert slot == f.slot and weight == f"{weights[slot]:.2f}", (where, text)
        assert weights[slot] >= stats.MOSTLY * total, (where, text)
    elif evenly:
        support = sum(1 for v in weights.values() if v > 0)
        assert int(evenly[1]) == support and f.effective >= stats.EVENLY * support, (where, text)
        assert float(evenly[2]) == pytest.approx(total / support, rel=0.06), (where, text)
        # the sum is said whenever it is not 1 (a DNC head reading 0.0069 each over 128 slots has 0.88 in all)
        if abs(total - 1) >= 0.005:
            assert evenly[3] == f"{total:.2f}", (where, text)
        else:
            assert evenly[3] is None, (where, text)
    else:
        assert int(across[1]) == round(stats.effective_slots(weights)), (where, text)
        slot = int(across[3])
        assert slot == stats.top_slots(weights, 1)[0][0] and across[2] == f"{weights[slot]:.2f}", (where, text)
        assert weights[slot] < stats.MOSTLY * total, (where, text)
    return 1


def _sentences_with(sentences, pattern):
    return [s.text for s in sentences if re.search(pattern, s.text)]


def _drawn_weight(view: dict, panel: str, slot: int, step: int) -> float:
    """The weight the weights view draws for `slot` at `step` in `panel` (read back from the payload as the browser
    decodes it)."""
    weights = view["weights"]
    data = [p for p in weights["panels"] if p["name"] == panel][0]["data"]
    return float(payload.dequantize(data)[weights["slots"].index(slot), step])


def _drawn_usage(view: dict, step: int) -> dict[int, float]:
    values = view["usage"]["values"][step]
    return {int(s): v for s, v in values.items()}


def check_step(trace, view: dict, step: int) -> int:
    """Every number of the step's narration against the trace and the view the browser draws; returns the count of
    ties checked."""
    record = trace.steps[step]
    sentences = explain.narrate(trace, step)
    text = " ".join(s.text for s in sentences)
    assert [s.text for s in sentences] == [s[0] for s in view["narration"][step]]       # the browser's sentences
    where = f"{trace.model} step {step}"
    ties = 0
    write = stats.write_map(record)
    written = stats.written_slots(record)
    assert not re.search(r"\b1 (rows|slots)\b", text), (where, text)          # "the 1 rows"
    # "N slots got write weight > 0.01": the slots the memory view marks as written
    for count in re.findall(rf"(\d+) slots? got write weight > {stats.WEIGHT_THRESHOLD:g}", text):
        assert int(count) == len(written) == len(view["rows"][step]["written"]), where
        assert all(write[s] > stats.WEIGHT_THRESHOLD for s in view["rows"][step]["written"]), where
        ties += 1
    # the write's focus phrase
    for sentence in _sentences_with(sentences, r"^Wrote "):
        ties += _check_focus(sentence, write, where)
    # each read head's focus phrase (dense heads), and the sparse heads' largest weight as drawn
    for h, head in enumerate(stats.read_maps(record)):
        for sentence in _sentences_with(sentences, rf"^Read head {h + 1}(:| read) .*(mostly|evenly|across about)"):
            ties += _check_focus(sentence.split(" read ", 1)[1] if " read " in sentence else sentence, head, where)
        for sentence in _sentences_with(sentences, rf"^Read head {h + 1} read only"):      # sparse heads
            m = re.search(rf"the largest weight {NUMBER} is on slot (\d+)", sentence)
            slot = int(m[2])
            assert (slot, m[1]) == (stats.top_slots(head, 1)[0][0], f"{head[slot]:.2f}"), where
            assert _drawn_weight(view, f"read head {h + 1}", slot, step) == pytest.approx(head[slot], abs=1e-3)
            ties += 1
    # SAM's write rule: the weight on the least used slot is the one the weights view draws there, and the rest
    m = re.search(rf"wrote {NUMBER} to slot (\d+) \(the least", text)
    if m:
        slot = int(m[2])
        assert slot == record["least_used"] == view["weights"]["least"][step] and m[1] == f"{write[slot]:.2f}"
        assert _drawn_weight(view, "write", slot, step) == pytest.approx(write[slot], abs=1e-3), where
        rest = re.search(rf"and {NUMBER} in all to the (\d+) other slots? it addressed", text)
        if rest:
            others = [s for s in write if s != slot]
            assert int(rest[2]) == len(others) and rest[1] == f"{sum(write[s] for s in others):.2f}", where
        ties += 1
    # usage: the number quoted is the bar drawn at that slot, and "smallest"/"lowest"/"LARGEST" is true of the bars
    for pattern, smallest in ((rf"the one with the smallest: slot (\d+), {NUMBER} before this step", True),
                              (rf"Slot (\d+) has the lowest usage \({NUMBER};", True),
                              (r"the one with the LARGEST count: slot (\d+)", False)):
        m = re.search(pattern, text)
        if not m:
            continue
        slot = int(m[1])
        assert slot == record["least_used"], where
        if view["usage"]["values"] is None:            # a large sparse memory keeps no usage: nothing drawn
            continue
        bars = _drawn_usage(view, step)
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
        assert view["modes"][step][h] == pytest.approx([float(v) for v in mode], abs=1e-3)
        if "mostly" in sentence:
            assert max(mode) >= stats.MOSTLY, where
        elif "even mix" in sentence:
            assert stats.effective_slots(dict(enumerate(mode))) >= stats.EVENLY * 3, where
        else:
            assert "leaning" in sentence and max(mode) < stats.MOSTLY, where
        ties += 1
    # rows touched: the narration's count, its two lists and the cost line beside it add up
    touched = stats.rows_touched(trace)[step]
    cost = re.search(r"Rows touched at this step: ([\d,]+) of ([\d,]+)", view["cost"][step])
    assert int(cost[1].replace(",", "")) == touched and int(cost[2].replace(",", "")) == stats.memory_slots(trace)
    m = re.search(r"Only ([\d,]+) of ([\d,]+) rows were touched at this step: (\d+) read \(.*?\) and (\d+) written "
                  r"\(.*?\), (\d+) of them both", text)
    if stats.is_sparse(trace):
        assert m, (where, text)
        read, written_rows = stats.touched_sets(record)
        count, slots, n_read, n_written, both = (int(m[i].replace(",", "")) for i in range(1, 6))
        assert count == touched == n_read + n_written - both and slots == stats.memory_slots(trace), where
        assert (n_read, n_written, both) == (len(read), len(written_rows), len(set(read) & set(written_rows)))
        back = re.search(r"roll back just the (\d+) rows? this write journalled: .*\((\d+) of them with weight > ",
                         text)
        assert int(back[1]) == n_written and int(back[2]) == len(written), where
        ties += 2
    # recall: its parts add up to it, and they are the neighbours view's
    for h, n in enumerate(record.get("neighbours") or []):
        sentence = _sentences_with(sentences, r"index found them with recall")[h]
        m = re.search(rf"recall {NUMBER} against the exact top-(\d+): (\d+) of the \d+ found slots are in the exact "
                      rf"list(?:, and (\d+) more)?", sentence)
        recall, k, hits, tied = float(m[1]), int(m[2]), int(m[3]), int(m[4] or 0)
        drawn = view["neighbours"]["steps"][step][h]
        assert (hits, tied) == (drawn["hits"], len(drawn["ties"])), where
        assert f"{min(hits + tied, k) / k:.2f}" == m[1] == f"{n['recall']:.2f}" == f"{drawn['recall']:.2f}", where
        assert recall == pytest.approx(n["recall"], abs=0.005)
        missed = sorted(set(n["exact"]) - set(n["found"]))
        assert sorted(drawn["missed"]) == missed, where
        if missed:
            assert "not returned" in sentence, where
        ties += 1
    # the NTM's key strength: the factor quoted is e^(2β) of the β quoted, and "nearly flat" is earned
    m = re.search(rf"key strength β = {NUMBER}: .* e\^\(2β\) = ([\d.,e+]+), so (.*?)\.", text)
    if m:
        beta = float(m[1])
        assert f"{beta:.2f}" == f"{record['gates']['write_strength']:.2f}"
        assert ("nearly flat" in m[3]) == (math.exp(2 * record["gates"]["write_strength"]) < explain.FLAT_CONTENT)
        assert "sharpens the content" not in text
        ties += 1
    # one symbol per meaning: γ only for the NTM's sharpening
    for sentence in sentences:
        if "γ" in sentence.text:
            assert sentence.anchor == "ntm-sharpen", (where, sentence.text)
    if "interpolation_gate" in record.get("gates", {}):
        assert f"interpolation gate {explain.INTERPOLATION} = {record['gates']['interpolation_gate']:.2f}" in text
    return ties


def _view(trace) -> dict:
    return payload.model_view(trace, name=trace.model.upper(), step_times=[0.5] * len(trace))


def test_every_kind_narrates_what_its_views_draw(untrained_trace):
    view = _view(untrained_trace)
    ties = sum(check_step(untrained_trace, view, step) for step in range(len(untrained_trace)))
    assert ties >= 3 * len(untrained_trace)          # every step ties at least its write and its reads


def test_shipped_models_narrate_what_their_views_draw(shipped_trace):
    """The shipped checkpoints (focused, trained weights), each on its own task, at the size they were trained."""
    view = _view(shipped_trace)
    ties = sum(check_step(shipped_trace, view, step) for step in range(len(shipped_trace)))
    assert ties >= 2 * len(shipped_trace)


def _dam_trace():
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
    return samviz.trace.EpisodeTrace(model="dam", config={"memory_slots": n}, inputs=[[0.0]] * 2,
                                     outputs=[[0.5]] * 2, steps=steps)


def test_the_contradictions_that_were_reported_cannot_come_back():
    """Issue 12's examples, as hand-made steps: DAM's usage is quoted from before the write (what chose the slot),
    not after it; "mostly" needs half the weight; read modes 0.34/0.34/0.32 are an even mix; a slot written with
    weight 0.00 gets no mark."""
    trace = _dam_trace()
    view = _view(trace)
    text = " ".join(s.text for s in explain.narrate(trace, 1))
    # at step 1 the least used slot 0 had usage 0.000 before the write (step 0's record), not 1.000 after it
    assert "the one with the smallest: slot 0, 0.000 before this step" in text
    assert _drawn_usage(view, 1) == {0: 0.0, 1: 0.95, 2: 0.05, 3: 0.05}
    assert "1 slot got write weight > 0.01" in text                  # 0.005 is under the threshold
    assert view["rows"][1]["written"] == [0]                        # not slots 1, 2, 3 (weights 0, 0.005, 0)
    assert "read across about 3 slots" in text and "mostly" not in text.split("Read head 1")[1]
    trace.model = "sdnc"
    for record in trace.steps:
        record["read_modes"] = [[0.34, 0.34, 0.32]]
    text = " ".join(s.text for s in explain.narrate(trace, 1))
    assert "an even mix" in text and "mostly backward" not in text


def _sparse_step(found, found_similarity, exact, exact_similarity, recall, write_ids, write_values, least=9):
    return {"read_weights": [{"ids": found, "values": [0.4, 0.3, 0.2, 0.1]}],
            "write_weights": {"ids": write_ids, "values": write_values},
            "rows_written": {"ids": write_ids, "before": [[0.0]] * len(write_ids), "after": [[1.0]] * len(write_ids)},
            "reads": [[0.0]], "gates": {"write_gate": 0.9, "interpolation_gate": 0.5, "read_strength": [1.0]},
            "least_used": least, "least_used_age": 3, "index": "faiss",
            "neighbours": [{"found": found, "found_similarity": found_similarity, "exact": exact,
                            "exact_similarity": exact_similarity, "recall": recall}]}


def test_issue_25_item_9_disagreements_cannot_come_back():
    """Each disagreement the patient explorer met, as a hand-made step whose numbers the sentence must add up."""
    # recall 1.00 beside "it missed slots 1, 2, 3": a found slot tying the exact K-th cosine is counted; say so
    tied = _sparse_step([1, 2, 3, 9], [0.9, 0.8, 0.7, 0.5], [1, 2, 3, 4], [0.9, 0.8, 0.7, 0.5], 1.0,
                        [1, 9], [0.0, 0.9])
    # the rows touched and rolled back: 5 read (1, 2, 3, 9 + nothing else) and 2 written, 2 both; 1 above 0.01
    trace = samviz.trace.EpisodeTrace(model="sam", config={"memory_slots": 32, "k": 4, "index": "faiss"},
                                      inputs=[[0.0]], outputs=[[0.5]], steps=[tied])
    text = " ".join(s.text for s in explain.narrate(trace, 0))
    assert ("recall 1.00 against the exact top-4: 3 of the 4 found slots are in the exact list, and 1 more (9) tie "
            "its 4-th cosine within 1e-06, which recall counts as found") in text
    assert "the exact list's slot 4 was not returned (tied with those found instead)" in text
    assert "Only 4 of 32 rows were touched at this step: 4 read (1, 2, 3, 9) and 2 written (1, 9), 2 of them both" \
        in text
    assert "roll back just the 2 rows this write journalled: every row it addressed, whatever its weight (1 of them " \
           "with weight > 0.01)" in text
    # one row journalled: "the 1 row", never "the 1 rows"
    one = _sparse_step([1, 2, 3, 4], [0.0] * 4, [1, 2, 3, 4], [0.0] * 4, 1.0, [9], [0.9])
    trace.steps = [one]
    text = " ".join(s.text for s in explain.narrate(trace, 0))
    assert "roll back just the 1 row this write journalled" in text and "1 rows" not in text
    # neighbour bars of zero height: every cosine 0 is said, with why
    assert "Every cosine here is 0: these rows are still all zeros" in text
    # SAM's usage picks the LARGEST count, DAM's the smallest discounted usage: both in words, λ named
    assert "the least recently used slot is the one with the LARGEST count: slot 9" in text
    dam = " ".join(s.text for s in explain.narrate(_dam_trace(), 1))
    assert "discounted by λ = 0.99 at every step (so old accesses fade), and the least used slot is the one with " \
           "the smallest" in dam
    # "β = 0.06 sharpens the content match": a small β spreads it, and the sentence says by how much
    ntm = samviz.trace.EpisodeTrace(model="ntm", config={"memory_slots": 128}, inputs=[[0.0]], outputs=[[0.5]],
                                    steps=[{"read_weights": [{"ids": [0], "values": [1.0]}],
                                            "write_weights": {"ids": [0], "values": [1.0]},
                                            "gates": {"write_strength": 0.06, "write_interpolation": 0.3}}])
    text = " ".join(s.text for s in explain.narrate(ntm, 0))
    assert "β = 0.06: content weights softmax(β·cosine) of any two of the 128 slots differ by at most a factor " \
           "e^(2β) = 1.13, so the content match alone is nearly flat" in text and "sharpens" not in text
    # a DNC head "reading evenly, about 0.0069 each" over 128 slots says its weights sum to 0.88
    assert explain._focus_text({i: 0.88 / 128 for i in range(128)}, "from") == \
        "evenly from 128 slots (about 0.0069 each, 0.88 in all)"
    # the NTM's score names no index: a dense model has none
    meta = {"config": {"memory_slots": 128, "index": "exact"}, "evaluation": {"bit_errors": 0.0, "episodes": 640}}
    assert "index" not in explain.measured_metric(meta, 128, None)
    assert "128 slots, exact index" in explain.measured_metric(meta, 128, "exact")


# ------------------------------------------------------------------------------------------ stable encodings

def test_one_colour_range_per_episode(untrained_trace):
    trace = untrained_trace
    view = _view(trace)
    weight_top = max(max(list(r["write_weights"]["values"]) + [v for h in r["read_weights"] for v in h["values"]])
                     for r in trace.steps)
    memory_top = max(float(np.abs(np.asarray(r[key], dtype=float)).max()) for r in trace.steps
                     for key in ("memory", "reads") if r.get(key) is not None)
    memory_top = max([memory_top] + [float(np.abs(np.asarray(r["rows_written"][k], dtype=float)).max())
                                     for r in trace.steps for k in ("before", "after") if r["rows_written"]["ids"]])
    for panel in view["weights"]["panels"]:                 # every panel, read and write: 0 to the episode's top
        assert (panel["data"]["lo"], panel["data"]["hi"]) == (0.0, pytest.approx(weight_top))
    assert view["weights"]["top"] == pytest.approx(weight_top)
    assert view["memory"]["scale"] == pytest.approx(memory_top, rel=1e-6)
    packed = view["memory"]["data"]
    assert (packed["lo"], packed["hi"]) == (pytest.approx(-memory_top, rel=1e-6), pytest.approx(memory_top, rel=1e-6))


def test_a_slot_axis_that_skips_slots_says_so(untrained_trace):
    trace = untrained_trace
    view = _view(trace)
    shown = len(view["weights"]["slots"])
    if shown < stats.memory_slots(trace):
        assert "not to scale" in view["weights"]["axis"] and f"{shown}" in view["weights"]["axis"]
    else:
        assert view["weights"]["axis"] == payload.SLOT_AXIS
    small = payload.weights_view(trace, max_rows=3)
    assert len(small["slots"]) == 3 and "not to scale" in small["axis"] and small["scope"].startswith("the 3 most")


def test_sparse_slot_axis_lists_touched_slots_and_says_so():
    model = samviz.build_model("sam", memory_slots=256, word_size=8, heads=1, k=4, controller_size=32, seed=0)
    trace = _trace(model)
    touched = sorted({int(i) for r in trace.steps for i in [*r["write_weights"]["ids"], *r["read_weights"][0]["ids"]]})
    assert len(touched) < 256
    view = _view(trace)
    assert view["weights"]["slots"] == touched
    assert view["weights"]["axis"] == f"memory slot: {len(touched)} touched of 256, not to scale"


def test_the_answer_phase_and_its_count(untrained_trace):
    trace = untrained_trace
    bits = _view(trace)["bits"]
    answer = stats.answer_steps(trace)
    assert answer and bits["answer"] == [answer[0], answer[-1]]
    wrong = int(stats.bit_errors_per_step(trace).sum())
    assert len(bits["wrong"]) == wrong == bits["errors"]
    assert bits["title"] == f"Bits over time — {wrong} wrong bit{'s' if wrong != 1 else ''} in this episode"
    assert all(answer[0] <= t <= answer[-1] for t, _ in bits["wrong"])       # crosses only where it is scored


def test_typed_bits_have_no_answer_phase_and_no_count():
    """Issue 25 item 12: typed input has no target, so "0 wrong bits in this episode" would be a claim about nothing."""
    model = _untrained("sam")
    x = torch.zeros(5, 1, 9)
    x[0, 0, :3] = 1.0
    bits = _view(model.trace(x))["bits"]
    assert bits["errors"] is None and bits["answer"] is None and bits["wrong"] == []
    assert "wrong bit" not in bits["title"] and "no answer phase" in bits["title"]


def test_a_closed_write_gate_reads_as_almost_nothing_not_as_an_even_write():
    """The shipped dnc-copy's step 10: 128 slots at 1.6e-05 each, 0.002 in all, was "evenly to 128 slots"."""
    assert explain._focus_text({i: 1.6e-5 for i in range(128)}, "to") == \
        "almost nothing (a total weight of 0.0020 over 128 slots)"
    assert explain._focus_text({i: 1 / 128 for i in range(128)}, "to").startswith("evenly to 128 slots")


@pytest.mark.parametrize("options, said", [({}, "since its last read or write above δ = 0.005"),
                                           ({"access_threshold": 0.1, "accesses": "writes"},
                                            "since its last write above δ = 0.1")])
def test_the_usage_sentence_names_the_models_own_access_rule(options, said):
    """δ and what counts as an access come from the model (the ablation's options), not from the defaults."""
    model = samviz.build_model("sam", memory_slots=32, word_size=8, heads=2, controller_size=32, seed=0, k=4,
                               **options)
    trace = _trace(model)
    text = " ".join(s.text for step in range(len(trace.steps)) for s in explain.narrate(trace, step))
    assert said in text
