"""samviz/app/svg_charts.py: positions, ticks and colours against hand computations; the SVG valid, accessible and
escaped; every story chart's text inside its viewBox."""
from __future__ import annotations

from pathlib import Path
import re
import xml.etree.ElementTree as ET

import pytest

from samviz.app import story
from samviz.app import svg_charts as sc

NS = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parent.parent


def one_panel(*marks, x=None, y=None, **chart) -> sc.Chart:
    """A 100 × 50 panel at (10, 40): x from 0 to 10, y from 0 to 5 unless given."""
    panel = sc.Panel(10, 40, 100, 50, x or sc.Axis(0, 10), y or sc.Axis(0, 5), marks)
    return sc.Chart("test", 120, (panel,), width=200, **chart)


def parsed(chart: sc.Chart) -> ET.Element:
    return ET.fromstring(chart.svg())


def marks_of(svg: ET.Element, kind: str) -> list[ET.Element]:
    return [g for g in svg.iter(f"{NS}g") if g.get("class") == f"mark {kind}"]


# ------------------------------------------------------------------------------------------ axes and ticks

def test_axis_fractions_linear_reversed_and_log():
    assert sc.Axis(0, 10).fraction(2.5) == 0.25
    assert sc.Axis(0, 10, reverse=True).fraction(2.5) == 0.75
    assert sc.Axis(1, 100, log=True).fraction(10) == pytest.approx(0.5)
    assert sc.Axis(2**10, 2**20, log=True).fraction(2**15) == pytest.approx(0.5)
    slots = sc.slot_axis(4)                                 # slot 0 on top: the first band from the top
    assert slots.fraction(0) == pytest.approx(7 / 8) and slots.fraction(3) == pytest.approx(1 / 8)


def test_nice_ticks_are_round_and_within_the_range():
    assert sc.nice_ticks(0, 1, 4) == ((0, "0"), (0.5, "0.5"), (1, "1"))
    assert [v for v, _ in sc.nice_ticks(0, 1, 5)] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert sc.nice_ticks(0, 9450, 5) == ((0, "0"), (2000, "2,000"), (4000, "4,000"), (6000, "6,000"),
                                          (8000, "8,000"))
    assert [v for v, _ in sc.nice_ticks(99, 199, 6)] == [100, 120, 140, 160, 180]


def test_log_ticks_follow_the_benchmark_charts_rule():
    from samviz.bench.plots import log_axis
    for values, base in (([1024, 2**24], 2), ([40.8, 668930.0], 10), ([0.9, 1063.4], 10), ([32, 65536], 2)):
        axis = log_axis(values, "x", base=base)
        assert [label for _, label in sc.log_ticks(values, base)] == list(axis["ticktext"])
        assert [v for v, _ in sc.log_ticks(values, base)] == list(axis["tickvals"])
    low, high = sc.log_range([40.8, 668930.0])
    assert low < 10 and high > 10**6                      # the tick powers around the data are inside the range


def test_numbers_read_plainly():
    assert [sc.number(v) for v in (0, 1024, 0.5, 1.25, -2.0, 0.001)] == ["0", "1,024", "0.5", "1.25", "-2", "0"]


# ------------------------------------------------------------------------------------------ colours

def test_the_diverging_scale_is_the_episode_views():
    script = (ROOT / "samviz/app/episode_view/episode.js").read_text()
    stops = re.search(r"rdbu: (\[\[.*?\]\]),", script).group(1)
    pairs = re.findall(r'\[([\d.]+), "(#[0-9a-f]{6})"\]', stops)
    assert tuple((float(t), c) for t, c in pairs) == sc.DIVERGING        # chapter 7 (the view) colours alike
    assert sc.diverging(-2.0, 2.0) == "#b2182b" and sc.diverging(0.0, 2.0) == "#f7f7f7"
    assert sc.diverging(2.0, 2.0) == "#2166ac" and sc.diverging(-1.0, 2.0) == "#ef8a62"
    assert sc.diverging(-9.0, 2.0) == "#b2182b"                          # clamped
    # halfway between #f7f7f7 and #67a9cf: (247+103)/2 = 175 = af, (247+169)/2 = 208 = d0, (247+207)/2 = 227 = e3
    assert sc.diverging(0.5, 2.0) == "#afd0e3"


# ------------------------------------------------------------------------------------------ marks

def test_bars_start_at_zero_and_end_at_their_value():
    chart = one_panel(sc.Bars("w", (2.5, 10.0), "#1f77b4", ("a", "b")), y=sc.slot_axis(2))
    rects = marks_of(parsed(chart), "bars")[0].findall(f"{NS}rect")
    # x from 0 to 10 over 100 units starting at 10: 2.5 -> 25 wide; slot 0 in the top half (40..65), 0.8 of its band
    assert [(float(r.get("x")), float(r.get("width"))) for r in rects] == [(10, 25), (10, 100)]
    assert float(rects[0].get("y")) == pytest.approx(42.5) and float(rects[0].get("height")) == pytest.approx(20)
    assert [r.find(f"{NS}title").text for r in rects] == ["a", "b"]


def test_cells_fill_their_band_with_their_colour():
    cells = sc.Cells("m", ((1.0, 2.0),), (("#000000", "#ffffff"),), (("one", "two"),))
    chart = one_panel(cells, x=sc.index_axis(2), y=sc.slot_axis(1))
    rects = marks_of(parsed(chart), "cells")[0].findall(f"{NS}rect")
    assert [(float(r.get("x")), float(r.get("width")), r.get("fill")) for r in rects] == \
        [(10, 50, "#000000"), (60, 50, "#ffffff")]
    assert [(float(r.get("y")), float(r.get("height"))) for r in rects] == [(40, 50), (40, 50)]


def test_lines_markers_and_the_second_axis():
    line = sc.Line("l", (0.0, 10.0), (0.0, 5.0), "#ff0000", ("", "end"), marker_sizes=(0, 8))
    right = sc.Line("r", (5.0,), (1.0,), "#00ff00", ("half",), axis="y2")
    chart = sc.Chart("t", 120, (sc.Panel(10, 40, 100, 50, sc.Axis(0, 10), sc.Axis(0, 5), (line, right),
                                         y2=sc.Axis(0, 2)),), width=200)
    first, second = marks_of(parsed(chart), "line")
    assert first.find(f"{NS}polyline").get("points") == "10,90 110,40"
    (end,) = first.findall(f"{NS}circle")              # the start has no marker and no hover: nothing drawn
    assert (end.get("cx"), end.get("cy"), end.get("r"), end.find(f"{NS}title").text) == ("110", "40", "4", "end")
    (half,) = second.findall(f"{NS}circle")              # y2 from 0 to 2: 1 is halfway up
    assert (half.get("cx"), half.get("cy"), half.get("fill")) == ("60", "65", "transparent")


def test_a_stacked_area_sits_on_the_layer_below():
    area = sc.Area("a", (0.0, 10.0), (1.0, 2.0), (1.0, 1.0), "#123456", ("p", "q"))
    assert area.tops == (2.0, 3.0)
    polygon = marks_of(parsed(one_panel(area)), "area")[0].find(f"{NS}polygon").get("points")
    assert polygon == "10,70 110,60 110,80 10,80"          # tops left to right, then the bases back


def test_rules_and_outlines_in_data_units():
    chart = one_panel(sc.Rule("x", 5.0, "#000000", "here"), sc.Outlines("o", ((0, 5, 0, 5),), "#ff7f0e", width=3))
    svg = parsed(chart)
    rule = next(e for e in svg.iter(f"{NS}line") if e.get("class") == "mark rule")
    assert (rule.get("x1"), rule.get("y1"), rule.get("x2"), rule.get("y2")) == ("60", "40", "60", "90")
    rect = marks_of(svg, "outlines")[0].find(f"{NS}rect")
    assert (rect.get("x"), rect.get("y"), rect.get("width"), rect.get("height")) == ("10", "40", "50", "50")


def test_the_legend_wraps_when_a_row_is_full():
    entries = tuple(sc.LegendEntry("x" * 20, "#000000", "box") for _ in range(3))
    chart = one_panel(legend=entries, legend_top=100)
    texts = [t for t in parsed(chart).iter(f"{NS}text") if t.text == "x" * 20]
    assert [float(t.get("y")) for t in texts] == [100, 122, 144]        # each 224 wide in a 200-wide chart


# ------------------------------------------------------------------------------------------ the whole chart

def test_a_chart_is_accessible_scalable_and_escapes_its_text():
    evil = '<script>alert("x")</script> & "quotes"'
    chart = one_panel(sc.Bars(evil, (1.0,), "#1f77b4", (evil,)), y=sc.slot_axis(1),
                      description=evil, legend=(sc.LegendEntry(evil, "#000000"),), legend_top=110)
    text = chart.svg()
    assert "<script" not in text and "\n" not in text
    svg = ET.fromstring(text)                                           # well-formed XML
    assert svg.get("role") == "img" and svg.get("aria-label") == evil
    assert svg[0].tag == f"{NS}title" and svg[0].text == evil           # the accessible name, also as a tooltip
    assert svg.get("viewBox") == "0 0 200 120" and svg.get("width") == "100%" and svg.get("height") is None
    assert [t.text for t in svg.iter(f"{NS}title")].count(evil) == 2     # the chart's and the bar's hover
    assert evil in [t.text for t in svg.iter(f"{NS}text")]
    assert sc.html(chart).startswith('<div class="samviz-chart-box"') and "\n" not in sc.html(chart)
    with pytest.raises(KeyError):
        chart.mark("nothing")


@pytest.fixture(scope="module")
def story_charts() -> dict[str, sc.Chart]:
    episode = story.sam_episode()
    rows = [{"step": s, "written": 40 * s, "recent": min(40 * s, 4096), "graph": max(0, 40 * s - 4096),
             "recall": 1 - s / 1e4} for s in range(0, 200, 7)]
    index_row = {"model": story.INDEX_MODEL, "slots": 1 << 20, "trace": rows}
    payoff = {"table": [{"N": 1 << p, "speed ratio": 1.5 * p, "memory ratio": 2.0 ** (p - 8)} for p in range(5, 21)]}
    return {"spotlight": story.spotlight_figure(story.spotlight()),
            "content": story.content_figure(story.content_read(275, 50.0)),
            "write": story.write_figure(story.write_step(5, 0.3)),
            "cost": story.cost_figure(story.backprop_curve(), story.cost_slot_choices()[-1]),
            "sam": story.sam_figure(episode), "rollback": story.rollback_figure(episode, story.rollback(episode, 2)),
            "index": story.index_figure(index_row), "payoff": story.payoff_figure(payoff)}


def test_every_story_chart_keeps_its_text_inside_its_viewbox(story_charts):
    for name, chart in story_charts.items():
        ET.fromstring(chart.svg())
        outside = [b for b in sc.text_boxes(chart)
                   if b[1] < 0 or b[2] > chart.width or b[3] < 0 or b[4] > chart.height]
        assert not outside, (name, outside)
        assert chart.width == sc.WIDTH and chart.height <= 520             # fits beside the text at 1280×720
