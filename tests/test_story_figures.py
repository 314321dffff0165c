"""Issue 25: every quoted number and every drawn category of the story, derived from the data or the run behind it.

Chapter 2's "almost nothing" earned by the weights; chapter 3's "barely change" measured; chapter 4 dense-only,
its bytes the cost model's; chapter 5's colours from the run's read set, written-above-δ set (summed over heads)
and least-used slot; chapter 7's outlines from the rows the journal restored, its bytes the same cost model as
chapter 4; chapter 8 from one machine's rows of today's code, one setting, one measure, its chart the rows of its
sentence and table.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
import xml.etree.ElementTree as ET

import pytest
from streamlit.testing.v1 import AppTest

from samviz.app import colours, story
from samviz.app import svg_charts as sc
from samviz.bench import cost
from samviz.results import provenance

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 90
NS = "{http://www.w3.org/2000/svg}"


def lines(chart: sc.Chart) -> list[sc.Line]:
    return [m for p in chart.panels for m in p.marks if isinstance(m, sc.Line)]


def drawn_svgs(at: AppTest) -> list[ET.Element]:
    """The story's SVG charts on an AppTest page, parsed: each a markdown element holding one svg, or the figure
    component (chapter 5, samviz/app/episode_view/figure.js) whose data holds one."""
    import json

    from samviz.app import episode_view
    texts = [m.value for m in at.markdown if 'class="samviz-chart"' in m.value]
    texts += [json.loads(c.proto.json)["svg"] for c in at.get("bidi_component")
              if c.proto.component_name.endswith(episode_view.FIGURE_NAME)]
    return [ET.fromstring(t[t.index("<svg"):t.rindex("</svg>") + 6]) for t in texts]


def markdown_table(at: AppTest, column: str) -> list[dict[str, str]]:
    """The rows of the markdown table on the page that has `column`, as {header: cell text}."""
    text = next(m.value for m in at.markdown if m.value.startswith("|") and f" {column} |" in m.value)
    header, _, *rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
    return [dict(zip(header, row, strict=True)) for row in rows]


def hover_texts(svg: ET.Element, mark: str) -> list[str]:
    """The hover texts of one kind of mark ("line", "area", "bars", "cells") in a rendered chart, in order."""
    return [t.text for g in svg.iter(f"{NS}g") if g.get("class") == f"mark {mark}" for t in g.iter(f"{NS}title")]


# ------------------------------------------------------------------------------------------ chapter 1

def test_chapter_1_draws_the_weights_beside_the_table_it_reads():
    data = story.spotlight()
    chart = story.spotlight_figure(data)
    bars, table = chart.mark("read weight"), chart.mark("memory")
    assert bars.values == tuple(data["weights"]) and table.values == tuple(map(tuple, data["memory"]))
    assert max(range(len(bars.values)), key=bars.values.__getitem__) == data["brightest"]
    bound = max(abs(v) for row in data["memory"] for v in row)
    assert (chart.colour_bar.low, chart.colour_bar.high) == (-bound, bound)      # 0 in the middle, white
    assert table.colours == tuple(tuple(sc.diverging(v, bound) for v in row) for row in table.values)
    assert bars.opacities == tuple(0.15 + 0.85 * w for w in data["weights"])     # brightness is the weight


# ------------------------------------------------------------------------------------------ chapter 2

def test_chapter_2_draws_each_arrow_by_its_weight_and_the_key_where_it_points():
    data = story.content_read(130, 8.0)
    chart = story.content_figure(data)
    assert chart.mark("weight").values == tuple(data["weights"])
    for i, (x, y) in enumerate(data["rows"]):
        arrow = chart.mark(f"slot {i}")
        assert (arrow.xs, arrow.ys) == ((0.0, x), (0.0, y))
        w = data["weights"][i]
        assert arrow.width == 1 + 6 * w and arrow.opacity == 0.25 + 0.75 * w
        assert arrow.hover[1] == f"slot {i}: weight {w:.3f}"
    key = chart.mark("key")
    angle = math.radians(130)
    assert (key.xs[1], key.ys[1]) == pytest.approx((1.5 * math.cos(angle), 1.5 * math.sin(angle)))
    labels = chart.mark("slot numbers")
    assert list(zip(labels.xs, labels.ys, strict=True)) == story.label_positions(data["rows"])
    assert "β = 8" in chart.title


# ------------------------------------------------------------------------------------------ chapter 2

def test_opposite_slots_get_almost_nothing_only_when_the_weights_say_so():
    wide, sharp = story.content_read(40, 0.5), story.content_read(40, 50.0)
    for data in (wide, sharp):
        cosines = [(x * data["key"][0] + y * data["key"][1]) / math.hypot(x, y) for x, y in data["rows"]]
        assert data["opposite"] == cosines.index(min(cosines))
        assert data["opposite_negligible"] == (data["weights"][data["opposite"]] < 0.1 / story.TOY_SLOTS)
    assert not wide["opposite_negligible"] and wide["weights"][wide["opposite"]] > 0.02     # β = 0.5: 0.04-0.05
    assert sharp["opposite_negligible"]


def test_no_two_slot_numbers_run_together():
    rows = story.toy_arrows()
    labels = story.label_positions(rows)
    for i, (x, y) in enumerate(labels):
        assert math.hypot(x, y) > math.hypot(*rows[i])                  # past the arrow's tip
        for j in range(i):
            assert math.hypot(x - labels[j][0], y - labels[j][1]) > 0.12, (i, j)


# ------------------------------------------------------------------------------------------ chapter 3

def test_the_other_rows_change_by_what_the_sentence_says_and_the_colours_never_rescale():
    bounds = set()
    for target in range(story.WRITE_SLOTS):
        for erase in (0.0, 0.5, 1.0):
            data = story.write_step(target, erase)
            others = [i for i in range(story.WRITE_SLOTS) if i != target]
            change = max(abs(a - b) for i in others for a, b in zip(data["after"][i], data["before"][i], strict=True))
            assert data["others_change"] == pytest.approx(change)
            assert data["others_weight"] == pytest.approx(1 - data["weights"][target])
            values = [abs(v) for table in ("before", "erased", "after") for row in data[table] for v in row]
            assert max(values) <= data["colour_bound"]
            bounds.add(data["colour_bound"])
            chart = story.write_figure(data)
            bound = data["colour_bound"]
            assert (chart.colour_bar.low, chart.colour_bar.high) == (-bound, bound)
            for name, table in (("before", "before"), ("after erase", "erased"), ("after erase + add", "after")):
                cells = chart.mark(name)
                assert cells.values == tuple(map(tuple, data[table]))
                assert cells.colours == tuple(tuple(sc.diverging(v, bound) for v in row) for row in cells.values)
    assert len(bounds) == 1                                              # one colour scale whatever the settings


# ------------------------------------------------------------------------------------------ chapter 4

def test_chapter_4_is_the_dense_cost_before_sam_exists():
    chapter = story.chapters()[3]
    words = f"{chapter.text} {chapter.equation} {chapter.question.prompt} {' '.join(chapter.question.choices)}"
    for later in ("SAM", "K·R", " K ", " R ", "sparse", "journal"):
        assert later not in words, later
    m = story.benchmark_model()
    for n in (1024, 1 << 16):
        numbers = story.backprop_bytes(n)
        kept = cost.kept_for_backprop("ntm", n, m["word_size"], m["heads"], steps=m["steps"], batch=m["batch"])
        assert numbers["total_bytes"] == kept.total == m["steps"] * m["batch"] * numbers["per_step_bytes"]
        assert numbers["copy_bytes"] == n * m["word_size"] * 4 and numbers["touched"] == n * (m["heads"] + 1)
    assert story.backprop_bytes(2048)["total_bytes"] == 2 * story.backprop_bytes(1024)["total_bytes"]
    curve = story.backprop_curve()
    assert set(curve) == {"slots", "total_bytes"}                        # the dense model only
    chart = story.cost_figure(curve, 1 << 16)
    assert [line.name for line in lines(chart)] == ["NTM (dense)"]                # the dense model only
    ntm = chart.mark("NTM (dense)")
    assert ntm.xs == tuple(curve["slots"]) and ntm.ys == tuple(b / 2**20 for b in curve["total_bytes"])
    assert ntm.hover[6] == f"N = 65,536: {story.backprop_bytes(1 << 16)['total_bytes'] / 2**20:,.1f} MiB"
    assert chart.mark("chosen N").value == 1 << 16
    panel = chart.panels[0]
    assert panel.x.log and panel.y.log
    assert [label for _, label in panel.x.ticks] == [f"{1 << p:,}" for p in range(10, 25) if p % 5 == 0]


def test_chapters_4_and_7_quote_one_cost_model():
    m = story.benchmark_model()
    seven = story.journal_vs_copy(1 << 16, m["word_size"], m["heads"], m["k"])
    four = story.backprop_bytes(1 << 16)
    assert seven["ntm"] * m["steps"] * m["batch"] == four["total_bytes"]       # 2,613 MiB = 10 × 8 × 32.7 MiB
    assert seven["copy"] == four["copy_bytes"]
    sam = cost.kept_for_backprop("sam", 1 << 16, m["word_size"], m["heads"], k=m["k"])
    assert (seven["sam"], seven["journal"], seven["gathered"]) == (sam.per_step, sam.journal, sam.gathered)
    assert seven["written_rows"] == m["k"] * m["heads"] + 1


# ------------------------------------------------------------------------------------------ chapter 5

@pytest.fixture(scope="module")
def episode():
    return story.sam_episode()


def test_chapter_5_colours_come_from_the_read_set_the_written_set_and_the_least_used_slot(episode):
    grid = story.sam_grid(episode)
    delta = episode["threshold"]
    both_seen = False
    for t, record in enumerate(episode["steps"]):
        reads = {slot for ids in record["read_ids"] for slot in ids}
        totals: dict[int, float] = {}
        for slot, weight in zip(record["write_ids"], record["write_weights"], strict=True):
            totals[slot] = totals.get(slot, 0.0) + weight
        written = {slot for slot, weight in totals.items() if weight > delta}
        for slot in range(episode["slots"]):
            expected = {(True, True): story.BOTH, (True, False): story.READ, (False, True): story.WRITTEN,
                        (False, False): story.UNTOUCHED}[(slot in reads, slot in written)]
            assert grid["categories"][slot][t] == expected, (t, slot)
        both_seen |= bool(reads & written)
        assert grid["least_used"][t] == record["least_used"] and record["least_used"] in written
        if t:   # the rule in the text: a step writes the slots read at the step before, and the least used one
            assert written <= set(grid["read_sets"][t - 1]) | {record["least_used"]}
    assert both_seen                        # the toy run has slots read and written at one step (issue 25 item 2)
    chart = story.sam_figure(episode)
    cells = chart.mark("categories")
    assert [list(row) for row in cells.values] == grid["categories"]
    colours = story.category_colours()
    assert cells.colours == tuple(tuple(colours[c] for c in row) for row in cells.values)
    assert chart.mark(story.LEAST_USED_NAME).ys == tuple(grid["least_used"])
    boxes = [e for e in chart.legend if e.shape == "box"]
    assert [(e.label, e.colour) for e in boxes] == list(zip(story.CATEGORY_NAMES, colours, strict=True))


def test_the_usage_before_step_0_is_one_for_every_slot_and_counts_up(episode):
    first = episode["steps"][0]["usage_before"]
    assert first == [1] * episode["slots"]
    for t, record in enumerate(episode["steps"]):
        assert max(record["usage_before"]) <= t + 1            # never more than the steps since the episode began


# ------------------------------------------------------------------------------------------ chapter 7

def test_chapter_7_outlines_the_rows_each_undo_changed(episode):
    grid = story.sam_grid(episode)
    steps = episode["steps"]
    bounds = set()
    for undone in range(len(steps) + 1):
        state = story.rollback(episode, undone)
        assert state["difference"] == 0.0 and state["at_step"] == len(steps) - undone
        assert [u["step"] for u in state["restored"]] == list(range(len(steps) - 1, len(steps) - 1 - undone, -1))
        for undo in state["restored"]:
            record = steps[undo["step"]]
            before = episode["start"] if undo["step"] == 0 else steps[undo["step"] - 1]["memory_after"]
            changed = sorted(s for s in set(record["write_ids"]) if before[s] != record["memory_after"][s])
            assert undo["changed"] == changed and undo["above_delta"] == grid["written_sets"][undo["step"]]
            assert set(undo["above_delta"]) <= set(undo["changed"])
        chart = story.rollback_figure(episode, state)
        bounds.add((chart.colour_bar.low, chart.colour_bar.high))
        assert chart.mark("memory").values == tuple(map(tuple, state["memory"]))
        last, earlier = chart.mark("rows the last undo restored"), chart.mark("rows earlier undos restored")
        outlined = sorted(round(y0 + 0.5) for *_, y0, _ in last.rects + earlier.rects)
        assert outlined == sorted(s for u in state["restored"] for s in u["changed"])
        assert [round(y0 + 0.5) for *_, y0, _ in last.rects] == (state["restored"][-1]["changed"]
                                                                  if state["restored"] else [])
        assert last.width > earlier.width
    assert len(bounds) == 1                                  # one colour scale for the whole episode
    undo_0 = story.rollback(episode, len(steps))["restored"][-1]
    assert undo_0["changed"] == [steps[0]["least_used"]] == undo_0["above_delta"]   # step 0 changed one row
    assert len(undo_0["slots"]) > 1                          # though its journal named more (weight 0)


# ------------------------------------------------------------------------------------------ chapter 8

THIS = provenance.this_machine()


def bench_row(model, index, slots, ms, steps=10, machine=None, **extra):
    row = {"model": model, "index": index, "slots": slots, "batch": 8, "heads": 4, "k": 4, "word_size": 32,
           "steps": steps, "ms_per_step": ms and 2 * ms, "cpu_ms_per_step": ms, "cpu_ms_min": ms, "cpu_ms_max": ms,
           "peak_mib": ms and ms / 10, "status": "ok", **({"initial_rows": "zero"} if index else {})}
    row = provenance.stamp(row, "bench", model, "test", {"model": 0})
    return {**row, **({"machine": machine} if machine else {}), **extra}


@pytest.fixture
def results_file(tmp_path):
    rows = [bench_row("ntm", None, n, n / 100) for n in (1024, 4096, 16384)]
    rows += [bench_row("sam", "faiss", n, 2.0) for n in (1024, 4096, 16384)]
    rows.append(bench_row("ntm", None, 1 << 20, None, status="refused", reason="estimated memory 55 GiB"))
    rows.append(bench_row("ntm", None, 65536, 5000.0, machine="Linux x86_64, another CPU"))   # another machine
    rows.append(bench_row("sam", "faiss", 65536, 1.0, code_hash="0" * 16))                   # stale code
    rows += [bench_row("ntm", None, 1 << 17, 20.0, steps=1), bench_row("sam", "faiss", 1 << 17, 1.0, steps=1)]
    rows.append(bench_row("sam", "faiss", 16384, 9.0, initial_rows="jittered"))              # the other start
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_payoff_is_one_machine_one_setting_one_measure(results_file):
    payoff = story.measured_payoff(str(results_file))
    assert [(r["N"], r["speed ratio"], r["dense ms/step"]) for r in payoff["table"]] == \
        [(16384, 81.9, 163.84), (4096, 20.5, 40.96), (1024, 5.1, 10.24)]        # CPU times, T = 10, zero rows
    assert payoff["machine"] == THIS and payoff["this_machine"] and payoff["measure"] == "cpu"
    assert "T = 10" in payoff["setting"] and "zero rows" in payoff["setting"]
    assert payoff["ntm_beyond"] == {"slots": 1 << 20, "status": "refused", "reason": "estimated memory 55 GiB"}
    assert "1 benchmark rows from other code" in payoff["note"]
    assert "1 benchmark rows measured on other" in payoff["note"]
    chart = story.payoff_figure(payoff)
    speed, memory = lines(chart)
    assert speed.xs == (1024, 4096, 16384) and speed.ys == (5.1, 20.5, 81.9)
    assert memory.ys == tuple(r["memory ratio"] for r in sorted(payoff["table"], key=lambda r: r["N"]))
    assert {(line.ring, line.marker_sizes) for line in (speed, memory)} == {(False, (8.0,) * 3)}   # one marker style
    assert [e.label for e in chart.legend] == [speed.name, memory.name]                          # one entry each
    assert chart.mark("equal cost").value == 1.0


def test_the_payoff_chapter_quotes_the_rows_it_draws(results_file, monkeypatch):
    import streamlit as st

    from samviz import bench
    monkeypatch.setattr(bench, "SHIPPED_RESULTS", str(results_file))
    st.cache_data.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({"chapter": "8"})
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        text = " ".join(m.value for m in at.markdown)
        assert "at N = 16,384 one training step took **164 ms** for the NTM and **2.0 ms** for SAM" in text
        assert "(**81.9×**)" in text and "not measured at N = 1,048,576 (refused" in text
        assert not at.dataframe                                                # markdown tables: no data grid
        table = markdown_table(at, "speed ×")
        assert [r["N"] for r in table] == ["16,384", "4,096", "1,024"]
        assert [r["speed ×"] for r in table] == ["81.9", "20.5", "5.1"] and table[0]["NTM ms/step"] == "163.8"
        assert not at.get("plotly_chart")                                      # drawn as SVG, no plotly.js
        svg = drawn_svgs(at)[0]                                                # then chapter 8's memory that fills
        assert hover_texts(svg, "line")[:3] == [f"N = {n:,}: {r}× (time per step)"
                                                for n, r in ((1024, 5.1), (4096, 20.5), (16384, 81.9))]
        assert any("measured overhead" in c.value for c in at.caption)
    finally:
        st.cache_data.clear()


def test_index_sentence_says_why_faiss_can_make_fewer_errors():
    row = {"model": "sam-priority_sort", "bit_errors_faiss": 2.625, "bit_errors_exact": 2.75, "episodes": 8,
           "recall": 0.9987}
    text = story.index_sentence(row)
    assert "fewer errors" in text and "2.625 against 2.750" in text and "1 bit over 8 episodes" in text
    assert "chance" in text and "0.9987" in text
    assert "same errors" in story.index_sentence({**row, "bit_errors_faiss": 2.75})


def test_the_trained_models_at_scale_come_from_todays_code_only(tmp_path):
    from samviz import evaluate_scale

    def scale_row(name, slots, **extra):
        row = {"model": name, "kind": "sam", "task": name.split("-", 1)[1], "slots": slots, "episodes": 8,
               "bit_errors_exact": 1.0, "bit_errors_faiss": 1.0, "exact_ms_per_step": 9.0, "faiss_ms_per_step": 1.0,
               "exact_index_ms_per_step": 8.0, "faiss_index_ms_per_step": 0.2, "recall": 1.0}
        return {**provenance.stamp(row, "scale", "sam", "test", {"episodes": 1}), **extra}
    rows = [scale_row("sam-copy", 4096), scale_row("sam-copy", 1 << 20),
            scale_row("sam-associative_recall", 1 << 20, code_hash="0" * 16)]
    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"format": evaluate_scale.FORMAT, "settings": {}, "rows": rows}))
    scaled = story.trained_at_scale(path)
    assert [(r["model"], r["slots"]) for r in scaled["rows"]] == [("sam-copy", 1 << 20)]
    assert "1 scale rows from other code" in scaled["note"]


# ------------------------------------------------------------------------------------------ chapter 8: memory fills

def long_row(slots, index, written, cpu, step=10500, factor=100, machine="Linux x86_64, one CPU", **extra):
    """A samviz.long_evaluation row (its fields as the module docstring names them): 3 tenths of a 300-step
    episode, `written` rows (cumulative) and `cpu` CPU ms per step at each tenth's end."""
    tenths = [{"steps": [100 * i, 100 * (i + 1)], "ms_per_step": 9.0, "cpu_ms_per_step": c, "rows_written": w,
               "recall": 1.0 if index == "faiss" else None}
              for i, (w, c) in enumerate(zip(written, cpu, strict=True))]
    return {"checkpoint": "experiments/long_curriculum/sam-faiss-65536", "checkpoint_step": step,
            "curriculum_level": 4, "ceiling": 1024, "kind": "sam", "weights_sha256": f"w{step}", "interim": True,
            "trained_level": 3, "task": "associative_recall", "seed": 7001, "level": 3 * factor, "factor": factor,
            "steps": 300, "memory_slots": slots, "index": index, "episodes": 2, "batch": 2,
            "command": "python -m samviz.long_evaluation evaluate --checkpoint x --factors 100 --slots 65536",
            "commit": "c2eaaf459a65e2180e82bcb5edf8bae71394ea24", "machine": machine,
            "cpu_ms_per_step": sum(cpu) / len(cpu), "rows_written": written[-1], "tenths": tenths, **extra}


@pytest.fixture
def evaluation_file(tmp_path):
    rows = [long_row(1 << 16, "faiss", [4096, 16384, 32768], [1.5, 2.25, 2.5]),
            long_row(1 << 20, "faiss", [4096, 16384, 32768], [1.75, 3.0, 2.75]),
            long_row(1 << 16, "exact", [4096, 16384, 32768], [3.0, 3.25, 3.5]),
            long_row(1 << 16, "faiss", [1, 2, 3], [9.0, 9.0, 9.0], factor=10),               # another length
            long_row(1 << 16, "faiss", [1, 2, 3], [9.0, 9.0, 9.0], step=20000, machine="another machine"),
            long_row(1 << 16, "faiss", ["many", 2, 3], [1.0, 1.0, 1.0], step=30000)]          # not a number
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps({"about": "test", "rows": rows, "skipped": [], "comparisons": []}))
    return path


def test_the_memory_that_fills_draws_the_rows_of_one_checkpoint_and_machine(evaluation_file):
    filling = story.memory_filling(evaluation_file)
    assert filling["note"] is None
    assert [(s["slots"], s["index"]) for s in filling["series"]] == [(1 << 16, "faiss"), (1 << 20, "faiss"),
                                                                      (1 << 16, "exact")]
    chart = story.filling_figure(filling)
    faiss16, faiss20, exact16 = (chart.mark(f"memory filled: {label}")
                                 for label in ("faiss, N = 2^16", "faiss, N = 2^20", "exact, N = 2^16"))
    assert faiss16.xs == (100, 200, 300)                                   # each tenth's last step
    assert faiss16.ys == (6.25, 25.0, 50.0) == exact16.ys                  # rows written / 65,536 × 100, by hand
    assert faiss20.ys == (4096 / 2**20 * 100, 16384 / 2**20 * 100, 3.125)
    assert chart.mark("CPU ms per step: faiss, N = 2^16").ys == (1.5, 2.25, 2.5)
    assert chart.mark("CPU ms per step: faiss, N = 2^20").ys == (1.75, 3.0, 2.75)
    assert chart.mark("CPU ms per step: exact, N = 2^16").ys == (3.0, 3.25, 3.5)
    assert (faiss16.dash, faiss16.ring, exact16.dash, faiss20.ring) == (None, False, "6 4", True)   # dash: index
    assert {line.colour for line in lines(chart)} == {colours.model_colour("sam")}                 # one kind
    assert [e.label for e in chart.legend] == ["faiss, N = 2^16", "faiss, N = 2^20", "exact, N = 2^16"]
    assert "step 300: 32,768 of 65,536 slots written (50.0%)" in faiss16.hover[-1]
    assert not [b for b in sc.text_boxes(chart) if b[1] < 0 or b[2] > chart.width or b[3] < 0 or b[4] > chart.height]
    ET.fromstring(chart.svg())                                             # well-formed: every text escaped


def test_the_memory_that_fills_sentence_quotes_the_numbers_drawn(evaluation_file):
    filling = story.memory_filling(evaluation_file)
    text = story.filling_sentence(filling, recent_rows=8192)
    assert text.startswith("On two episodes of 300 steps (300 items, 100× the 3 items the checkpoint of update "
                           "10,500 was trained on), SAM wrote 32,768 rows per episode")
    assert "**50.0%** of 65,536 and **3.1%** of 1,048,576 slots" in text     # the last tenth's drawn values
    assert ("faiss at 2^16: 1.50 → **2.50 ms**; faiss at 2^20: 1.75 → **2.75 ms**; exact at 2^16: 3.00 → "
            "**3.50 ms**") in text
    # the second tenth is the first past 8,192 rows written: faiss's range from there on
    assert "From tenth 2, where the rows written passed the 8,192 newest" in text
    assert "2.25–2.50 ms at 2^16 and 2.75–3.00 ms at 2^20" in text
    assert "From tenth" not in story.filling_sentence(filling)               # no index constant, no claim
    differ = {"series": [{**s, "written": (1.0, 2.0, 3.0), "filled": (0.0, 0.0, 0.0)} if s["slots"] == 1 << 20 else s
                         for s in filling["series"]]}                          # sizes that wrote different counts
    assert "300 steps (300 items, 100× the 3 items the checkpoint of update 10,500 was trained on), the rows SAM " \
           "wrote filled **50.0%** of 65,536 and **0.0%** of 1,048,576 slots" in story.filling_sentence(differ)
    one = {"series": [{**s, "row_episodes": 1} for s in filling["series"]]}
    assert story.filling_sentence(one).startswith("On one episode of 300 steps")
    source = story.filling_source(filling)
    assert source.startswith("Interim checkpoint: its curriculum had reached 4 of its 1,024 items.")
    assert "(commit c2eaaf4; Linux x86_64, one CPU)" in source
    assert "Interim" not in story.filling_source({"series": [{**filling["series"][0], "row": {
        **filling["series"][0]["row"], "interim": False}}]})


def test_the_memory_that_fills_says_why_when_there_is_nothing_to_draw(tmp_path):
    missing = story.memory_filling(tmp_path / "none.json")
    assert missing["series"] == [] and "No long-curriculum SAM rows at 100×" in missing["note"]
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert story.memory_filling(broken)["series"] == [] and "could not be read" in story.memory_filling(broken)["note"]
    other = tmp_path / "other.json"                                          # rows, but none at 100×
    other.write_text(json.dumps({"rows": [long_row(1 << 16, "faiss", [1, 2, 3], [1.0, 1.0, 1.0], factor=10)]}))
    assert story.memory_filling(other)["series"] == []


def test_the_payoff_chapter_shows_the_memory_that_fills_or_a_note(evaluation_file, tmp_path, monkeypatch):
    import streamlit as st
    for path, drawn in ((evaluation_file, True), (tmp_path / "none.json", False)):
        monkeypatch.setattr(story, "filling_path", lambda path=path: path)
        st.cache_data.clear()
        try:
            at = AppTest.from_file(APP, default_timeout=TIMEOUT)
            at.query_params.update({"chapter": "8"})
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            text = " ".join(m.value for m in at.markdown)
            svgs = [s for s in drawn_svgs(at) if s.get("aria-label").startswith("The long-curriculum SAM")]
            if drawn:
                assert "**A memory that fills.** On two episodes of 300 steps" in text
                assert f"the {story.index_facts()['recent_rows']:,} newest that faiss compares exactly" in text
                (svg,) = svgs
                assert hover_texts(svg, "line")[:3] == [f"faiss, N = 2^16, step {s}: {w} of 65,536 slots written "
                                                        f"({f})" for s, w, f in (("100", "4,096", "6.2%"),
                                                                                 ("200", "16,384", "25.0%"),
                                                                                 ("300", "32,768", "50.0%"))]
                assert any(c.value.startswith("Interim checkpoint\\: its curriculum") for c in at.caption)
            else:
                assert not svgs and "A memory that fills" not in text
                assert any("No long\\-curriculum SAM rows at 100×" in i.value for i in at.info)
        finally:
            st.cache_data.clear()


# ------------------------------------------------------------------------------------------ words

def test_the_glossary_gives_each_symbol_one_meaning_and_explains_softmax():
    entries = dict(story.glossary())
    assert "softmax" in entries and "sum" in entries["softmax"]
    assert "sharpening" in entries["γ (gamma)"] and "interpolation gate" in entries["g"]
    assert entries[story.interpolation_symbol()].startswith("SAM's interpolation gate")
    usage = next(v for k, v in entries.items() if "usage" in k)
    assert "NOT" in usage and "1 step ago" in usage
    two = story.chapters()[1]
    assert "softmax" in two.text and "DAM" not in two.equation and "DNC" not in two.equation


# ------------------------------------------------------------------------------------------ chapter 6

def test_chapter_6_teaches_the_index_samviz_uses_with_the_librarys_own_numbers():
    import torch

    from samviz.memory import index, index_clusters, index_parts
    facts = story.index_facts()
    assert facts["recent_rows"] == index.RECENT_ROWS and facts["flat_below"] == index.FLAT_BELOW
    assert facts["cluster_rows"] == index_clusters.CLUSTER_ROWS
    assert facts["cluster_probes"] == index_clusters.CLUSTER_PROBES
    assert (facts["initial_m"], facts["initial_ef_search"]) == (index_parts.HNSW_M, index_parts.HNSW_EF_SEARCH)
    probe = index.FaissIndex(1, index.FLAT_BELOW, 4)
    probe.reset(torch.zeros(1, index.FLAT_BELOW, 4))
    assert facts["describe"] == probe.describe() and facts["mode"] == "zero"      # the zero start: no structure
    six = story.chapters()[5]
    words = f"{six.text} {six.equation} {six.question.prompt} {' '.join(six.question.choices)}"
    for number in (f"{index.RECENT_ROWS:,}", f"{index_clusters.CLUSTER_ROWS}", f"{index_clusters.CLUSTER_PROBES}",
                   f"{index_clusters.CLUSTER_ROWS * index_clusters.CLUSTER_PROBES:,}",
                   f"{index.FLAT_BELOW:,}"):
        assert number in words, number
    assert facts["describe"] in six.equation
    for old in ("√N", "walks the links", "efSearch", "deleted and skipped"):   # the retired graph
        assert old not in words, old
    assert "zero rows" in six.text and "faiss" in six.text and "clusters" in six.text
    terms = dict(story.glossary())
    assert {"faiss", "graph (HNSW)", "inverted file (IVF)"} <= set(terms)


def index_row(level, steps, trace, **extra):
    row = {"model": story.INDEX_MODEL, "kind": "sam", "task": "copy", "slots": 1 << 16, "level": level,
           "steps_per_episode": steps, "episodes": 1, "queries": 2 * steps, "recall": 0.9995, "top1_missed": 1,
           "bit_errors_faiss": 3.0, "bit_errors_exact": 3.0, "faiss_index_ms_per_step": 0.8,
           "exact_index_ms_per_step": 4.5, "trace": trace, "status": "ok"}
    return {**provenance.stamp(row, "index_recall", "sam", "test", {"episodes": 1}, (story.INDEX_MODEL,)), **extra}


def test_chapter_6_draws_and_quotes_the_measured_rows(tmp_path, monkeypatch):
    import streamlit as st

    from samviz.results import PARTS
    trace = [{"step": 99, "written": 200, "recent": 200, "older": 0, "recall": 1.0},
             {"step": 199, "written": 9000, "recent": 808, "older": 8192, "recall": 0.999}]
    rows = [index_row(2500, 5001, trace), index_row(20, 41, trace[:1]),
            index_row(200, 401, trace[:1], code_hash="0" * 16)]                 # stale: not drawn, said
    path = tmp_path / "index_recall.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = story.index_runs(str(path))
    assert [r["level"] for r in runs["rows"]] == [20, 2500] and "1 index rows from other code" in runs["note"]
    chart = story.index_figure(runs["rows"][1])
    recent, graph = chart.mark("recent rows: compared exactly"), chart.mark("older rows: clustered")
    recall = chart.mark("recall of the searches")
    assert recent.values == (200, 808) and graph.values == (0, 8192) and recall.ys == (1.0, 0.999)
    assert graph.bases == recent.values and graph.tops == (200, 9000)      # stacked: the top is every written row
    assert recall.axis == "y2" and chart.panels[0].y2.high >= 1.0
    monkeypatch.setattr(PARTS["index_recall"], "path", path)
    st.cache_data.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({"chapter": "6"})
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        text = " ".join(m.value for m in at.markdown)
        assert "wrote 9,000 distinct rows: the last 808 sit in the part compared exactly" in text
        assert "the other 8,192 in the clusters" in text and "**0.9995**" in text and "**0.80 ms**" in text
        assert "**4.50 ms** for an exact scan of all 65,536 rows" in text
        assert any("1 index rows from other code" in c.value for c in at.caption)
        (svg,) = drawn_svgs(at)
        assert hover_texts(svg, "area") == ["step 99: 200 recent rows", "step 199: 808 recent rows",
                                            "step 99: 0 older rows, clustered", "step 199: 8,192 older rows, clustered"]
    finally:
        st.cache_data.clear()
