"""Small static charts as SVG, drawn in Python: the story's figures without plotly.

Why: a page with one st.plotly_chart makes the browser load and parse plotly.js, which cost each story chapter
more browser CPU than the rest of the page together (issue 28). The story's figures are small (at most a few
hundred marks) and change only when a slider reruns the page, so a static SVG with hover text says the same.

A chart is a spec first (Chart: panels of marks over axes, a legend, a colour legend), so tests read the values
each mark draws; Chart.svg() renders it. What it can draw: horizontal bars, heatmap cells (a diverging colour
scale or one colour per category), lines with markers on linear or log axes, stacked areas, text labels,
reference lines, outlined rectangles, a legend and a colour bar. Every mark carries hover text as an SVG
<title>; the chart has role="img", an aria-label and a <title>; its viewBox scales it with its container.
All text is XML-escaped (echoed input is plain text). Pure Python: no Streamlit, no plotly.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import unescape
import math
import re
from xml.sax.saxutils import escape

# ColorBrewer's RdBu, as the browser episode view draws memory values (samviz/app/episode_view/episode.js,
# STOPS.rdbu), so chapters 1 and 3 colour a number as chapter 7 does: −bound red, 0 near-white, +bound blue.
DIVERGING = ((0.0, "#b2182b"), (0.25, "#ef8a62"), (0.5, "#f7f7f7"), (0.75, "#67a9cf"), (1.0, "#2166ac"))
GRID = "#e5e5e5"
AXIS = "#444444"
TEXT = "#262730"
FONT = 13                   # axis and legend text, in viewBox units (a chart 900 wide shows it at ~13-16 px)
TITLE_FONT = 15
CHAR_WIDTH = 0.6            # a generous estimate of a character's width, in font sizes (layout only)
WIDTH = 900                 # every story chart's viewBox width


def text_width(text: str, size: float = FONT) -> float:
    """Estimated width of `text` at `size` (sans-serif; generous, for layout only)."""
    return len(text) * size * CHAR_WIDTH


def number(value: float, digits: int = 2) -> str:
    """A tick or hover number a newcomer reads: integers with thousands separators, else at most `digits`
    decimals, trailing zeros dropped (0.5, 1.25, 1,024)."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    text = f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ------------------------------------------------------------------------------------------ colours

def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def interpolate(stops, t: float) -> str:
    """The colour at t in [0, 1] (clamped) along stops ((position, "#rrggbb"), ...), linear in RGB."""
    t = min(1.0, max(0.0, t))
    for (t0, c0), (t1, c1) in zip(stops, stops[1:], strict=False):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            a, b = _rgb(c0), _rgb(c1)
            return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))
    return stops[-1][1]


def diverging(value: float, bound: float) -> str:
    """The DIVERGING colour of `value` on a scale from −bound to +bound (0 in the middle)."""
    return interpolate(DIVERGING, 0.5 + 0.5 * value / bound if bound > 0 else 0.5)


# ------------------------------------------------------------------------------------------ axes

@dataclass(frozen=True)
class Axis:
    """A value range drawn along one side of a panel. log: positions by log10 (values must be > 0).
    reverse: high values at the left / top (slot axes: slot 0 on top). ticks: (value, label) pairs."""
    low: float
    high: float
    title: str = ""
    log: bool = False
    reverse: bool = False
    ticks: tuple[tuple[float, str], ...] = ()
    grid: bool = True

    def fraction(self, value: float) -> float:
        """Where `value` lies from the axis's start (0) to its end (1): the start is low, or high if reversed."""
        if self.log:
            low, high, value = math.log10(self.low), math.log10(self.high), math.log10(max(value, 1e-300))
        else:
            low, high = self.low, self.high
        f = (value - low) / (high - low) if high != low else 0.5
        return 1 - f if self.reverse else f


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[tuple[float, str], ...]:
    """About `count` round ticks (steps of 1, 2 or 5 × 10^k) within [low, high]."""
    if high <= low:
        return ((low, number(low)),)
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw - 1e-12)
    first = math.ceil(low / step - 1e-9)
    values = [round(i * step, 12) for i in range(first, int(math.floor(high / step + 1e-9)) + 1)]
    digits = max(0, -math.floor(math.log10(step)))
    return tuple((v, number(v, digits)) for v in values)


def log_ticks(values, base: int = 10) -> tuple[tuple[float, str], ...]:
    """One tick per power of `base` spanning the values, written out in full ("1,024", "0.1"); for powers of 2,
    every 5th when there are more than 9 (the rule of samviz.bench.plots.log_axis, whose plotly charts it matches)."""
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    if not values:
        return ()
    low = math.floor(math.log(min(values), base) + 1e-9)
    high = math.ceil(math.log(max(values), base) - 1e-9)
    powers = list(range(low, high + 1))
    if base == 2 and len(powers) > 9:
        powers = [p for p in powers if p % 5 == 0] or powers[::5]
    return tuple((float(base ** p), f"{base ** p:,.0f}" if base ** p >= 1 else f"{base ** p:g}") for p in powers)


def log_range(values, base: int = 10, pad: float = 0.05) -> tuple[float, float]:
    """A log axis's range covering the values and the powers of `base` around them, padded by `pad` of a decade."""
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    low = base ** math.floor(math.log(min(values), base) + 1e-9)
    high = base ** math.ceil(math.log(max(values), base) - 1e-9)
    span = max(math.log10(high) - math.log10(low), 1e-9)
    return 10 ** (math.log10(low) - pad * span), 10 ** (math.log10(high) + pad * span)


def slot_axis(n: int, title: str = "", ticks: bool = True) -> Axis:
    """Slots 0..n-1, one band each, slot 0 at the top (the player's convention)."""
    return Axis(-0.5, n - 0.5, title, reverse=True, grid=False,
                ticks=tuple((float(i), str(i)) for i in range(n)) if ticks else ())


def index_axis(n: int, title: str = "") -> Axis:
    """Columns 0..n-1 (entries of a slot, steps), one band each, left to right."""
    return Axis(-0.5, n - 0.5, title, grid=False, ticks=tuple((float(i), str(i)) for i in range(n)))


# ------------------------------------------------------------------------------------------ marks

@dataclass(frozen=True)
class Bars:
    """Horizontal bars: bar i at y = i, from x = 0 to values[i]."""
    name: str
    values: tuple[float, ...]
    colour: str
    hover: tuple[str, ...]
    opacities: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Cells:
    """A heatmap: values[row][col] drawn at x = col, y = row in colours[row][col]."""
    name: str
    values: tuple[tuple[float, ...], ...]
    colours: tuple[tuple[str, ...], ...]
    hover: tuple[tuple[str, ...], ...]
    gap: float = 0.0                  # px between cells


@dataclass(frozen=True)
class Line:
    """A polyline through (xs[i], ys[i]), with a marker of marker_sizes[i] px at each point (0: none; hover
    still works there); ring: open circles. axis "y2": measured on the panel's right axis."""
    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    colour: str
    hover: tuple[str, ...]
    width: float = 2.0
    dash: str | None = None           # an SVG stroke-dasharray, e.g. "2 3" (dotted), "6 4" (dashed)
    marker_sizes: tuple[float, ...] | None = None
    ring: bool = False
    connect: bool = True
    opacity: float = 1.0
    axis: str = "y"


@dataclass(frozen=True)
class Area:
    """A band from bases[i] up to bases[i] + values[i] at xs[i] (a stacked area: the layer below's tops as
    bases)."""
    name: str
    xs: tuple[float, ...]
    values: tuple[float, ...]
    bases: tuple[float, ...]
    colour: str
    hover: tuple[str, ...]

    @property
    def tops(self) -> tuple[float, ...]:
        return tuple(b + v for b, v in zip(self.bases, self.values, strict=True))


@dataclass(frozen=True)
class Texts:
    """Labels centred at (xs[i], ys[i])."""
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    labels: tuple[str, ...]
    size: float = 12
    name: str = "labels"


@dataclass(frozen=True)
class Rule:
    """A reference line across the panel: vertical at x = value (along="x"), or horizontal at y = value."""
    along: str
    value: float
    colour: str
    hover: str = ""
    dash: str | None = "2 3"
    name: str = "rule"


@dataclass(frozen=True)
class Outlines:
    """Rectangles (x0, x1, y0, y1) in data units, outlined."""
    name: str
    rects: tuple[tuple[float, float, float, float], ...]
    colour: str
    width: float = 1.0
    dash: str | None = None


@dataclass(frozen=True)
class Panel:
    """A plot area at (left, top) of width × height viewBox units, its axes and its marks (drawn in order)."""
    left: float
    top: float
    width: float
    height: float
    x: Axis
    y: Axis
    marks: tuple = ()
    y2: Axis | None = None            # a second value axis on the right
    frame: bool = False               # outline the plot area (panels with no axis lines)


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    shape: str = "line"               # line | marker | ring | box
    dash: str | None = None


@dataclass(frozen=True)
class ColourBar:
    """A vertical colour bar from low (bottom) to high (top) on `stops`, ticks labelled, a title above."""
    title: str
    low: float
    high: float
    stops: tuple = DIVERGING
    digits: int = 2
    left: float | None = None         # where the bar starts (viewBox units); None: 80 from the chart's right edge


@dataclass(frozen=True)
class Chart:
    title: str
    height: float
    panels: tuple[Panel, ...]
    description: str = ""             # the accessible name (aria-label); the title when empty
    legend: tuple[LegendEntry, ...] = ()
    legend_top: float = 0.0           # where the legend row's middle is (viewBox units)
    colour_bar: ColourBar | None = None
    width: float = WIDTH

    def marks(self, name: str) -> list:
        """Every mark called `name`, over all panels."""
        return [m for p in self.panels for m in p.marks if getattr(m, "name", None) == name]

    def mark(self, name: str):
        """The one mark called `name` (KeyError when there is none or several)."""
        found = self.marks(name)
        if len(found) != 1:
            raise KeyError(f"{len(found)} marks called {name!r}")
        return found[0]

    def svg(self) -> str:
        return render(self)


# ------------------------------------------------------------------------------------------ rendering

def _attr(value) -> str:
    """An attribute value, quoted and escaped."""
    return '"' + escape(str(value), {'"': "&quot;"}) + '"'


def _f(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>" if text else ""


def _dash(dash: str | None) -> str:
    return f" stroke-dasharray={_attr(dash)}" if dash else ""


class _Frame:
    """Maps a panel's data coordinates to viewBox units."""

    def __init__(self, panel: Panel):
        self.p = panel

    def x(self, value: float) -> float:
        return self.p.left + self.p.x.fraction(value) * self.p.width

    def y(self, value: float, axis: str = "y") -> float:
        a = self.p.y2 if axis == "y2" and self.p.y2 is not None else self.p.y
        return self.p.top + (1 - a.fraction(value)) * self.p.height


def _text(x: float, y: float, text: str, size: float = FONT, anchor: str = "middle", extra: str = "") -> str:
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}" text-anchor="{anchor}" '
            f'dominant-baseline="middle" fill="{TEXT}"{extra}>{escape(text)}</text>')


def _axes(panel: Panel, fr: _Frame) -> list[str]:
    out = []
    p = panel
    bottom, right = p.top + p.height, p.left + p.width
    if p.frame:
        out.append(f'<rect x="{_f(p.left)}" y="{_f(p.top)}" width="{_f(p.width)}" height="{_f(p.height)}" '
                   f'fill="none" stroke="{GRID}"/>')
    for value, label in p.x.ticks:
        x = fr.x(value)
        if p.x.grid:
            out.append(f'<line x1="{_f(x)}" y1="{_f(p.top)}" x2="{_f(x)}" y2="{_f(bottom)}" stroke="{GRID}"/>')
        if label:
            out.append(_text(x, bottom + 13, label))
    for value, label in p.y.ticks:
        y = fr.y(value)
        if p.y.grid:
            out.append(f'<line x1="{_f(p.left)}" y1="{_f(y)}" x2="{_f(right)}" y2="{_f(y)}" stroke="{GRID}"/>')
        if label:
            out.append(_text(p.left - 6, y, label, anchor="end"))
    if p.y2 is not None:
        for value, label in p.y2.ticks:
            out.append(_text(right + 6, fr.y(value, "y2"), label, anchor="start"))
    if p.x.title:
        below = 34 if any(label for _, label in p.x.ticks) else 14
        out.append(_text(p.left + p.width / 2, bottom + below, p.x.title))
    if p.y.title:
        width = max((text_width(label) for _, label in p.y.ticks), default=0)
        x = p.left - 6 - width - 12
        out.append(_text(x, p.top + p.height / 2, p.y.title,
                         extra=f' transform="rotate(-90 {_f(x)} {_f(p.top + p.height / 2)})"'))
    if p.y2 is not None and p.y2.title:
        width = max((text_width(label) for _, label in p.y2.ticks), default=0)
        x = right + 6 + width + 12
        out.append(_text(x, p.top + p.height / 2, p.y2.title,
                         extra=f' transform="rotate(90 {_f(x)} {_f(p.top + p.height / 2)})"'))
    if p.x.grid or p.y.grid:
        out.append(f'<line x1="{_f(p.left)}" y1="{_f(bottom)}" x2="{_f(right)}" y2="{_f(bottom)}" stroke="{AXIS}"/>')
    return out


def _bars(m: Bars, fr: _Frame) -> list[str]:
    out = [f'<g class="mark bars" fill={_attr(m.colour)}>']
    x0 = fr.x(0.0)
    for i, value in enumerate(m.values):
        top, bottom = fr.y(i - 0.4), fr.y(i + 0.4)
        y, h = min(top, bottom), abs(bottom - top)
        x1 = fr.x(value)
        opacity = "" if m.opacities is None else f' fill-opacity="{m.opacities[i]:.3f}"'
        out.append(f'<rect x="{_f(min(x0, x1))}" y="{_f(y)}" width="{_f(abs(x1 - x0))}" height="{_f(h)}"{opacity}>'
                   f'{_title(m.hover[i])}</rect>')
    out.append("</g>")
    return out


def _cells(m: Cells, fr: _Frame) -> list[str]:
    out = ['<g class="mark cells">']
    for r, row in enumerate(m.values):
        for c in range(len(row)):
            xa, xb = fr.x(c - 0.5), fr.x(c + 0.5)
            ya, yb = fr.y(r - 0.5), fr.y(r + 0.5)
            x, y = min(xa, xb) + m.gap / 2, min(ya, yb) + m.gap / 2
            w, h = abs(xb - xa) - m.gap, abs(yb - ya) - m.gap
            out.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" fill={_attr(m.colours[r][c])}>'
                       f'{_title(m.hover[r][c])}</rect>')
    out.append("</g>")
    return out


def _line(m: Line, fr: _Frame) -> list[str]:
    points = [(fr.x(x), fr.y(y, m.axis)) for x, y in zip(m.xs, m.ys, strict=True)]
    opacity = f' opacity="{m.opacity:.3f}"' if m.opacity < 1 else ""
    out = [f'<g class="mark line"{opacity}>']
    if m.connect and len(points) > 1:
        path = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke={_attr(m.colour)} stroke-width="{_f(m.width)}"'
                   f'{_dash(m.dash)}/>')
    sizes = m.marker_sizes if m.marker_sizes is not None else (0.0,) * len(points)
    for (x, y), size, hover in zip(points, sizes, m.hover, strict=True):
        if not size and not hover:
            continue
        if size and m.ring:
            paint = f'fill="none" stroke={_attr(m.colour)} stroke-width="3" pointer-events="all"'
        elif size:
            paint = f"fill={_attr(m.colour)}"
        else:                               # no marker drawn: an invisible target for the hover text
            paint = 'fill="transparent"'
        radius = size / 2 if size else 6
        out.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(radius)}" {paint}>{_title(hover)}</circle>')
    out.append("</g>")
    return out


def _area(m: Area, fr: _Frame) -> list[str]:
    tops = [(fr.x(x), fr.y(t)) for x, t in zip(m.xs, m.tops, strict=True)]
    bases = [(fr.x(x), fr.y(b)) for x, b in zip(m.xs, m.bases, strict=True)]
    polygon = " ".join(f"{_f(x)},{_f(y)}" for x, y in tops + bases[::-1])
    out = ['<g class="mark area">',
           f'<polygon points="{polygon}" fill={_attr(m.colour)} fill-opacity="0.35" stroke="none"/>']
    if len(tops) > 1:
        out.append(f'<polyline points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in tops)}" fill="none" '
                   f'stroke={_attr(m.colour)} stroke-width="2"/>')
    out += [f'<circle cx="{_f(x)}" cy="{_f(y)}" r="5" fill="transparent">{_title(h)}</circle>'
            for (x, y), h in zip(tops, m.hover, strict=True)]
    out.append("</g>")
    return out


def _texts(m: Texts, fr: _Frame) -> list[str]:
    return ['<g class="mark texts">', *(_text(fr.x(x), fr.y(y), label, m.size)
                                        for x, y, label in zip(m.xs, m.ys, m.labels, strict=True)), "</g>"]


def _rule(m: Rule, fr: _Frame) -> list[str]:
    p = fr.p
    if m.along == "x":
        x = fr.x(m.value)
        x1 = x2 = x
        y1, y2 = p.top, p.top + p.height
    else:
        y1 = y2 = fr.y(m.value)
        x1, x2 = p.left, p.left + p.width
    return [f'<line class="mark rule" x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" '
            f'stroke={_attr(m.colour)} stroke-width="2"{_dash(m.dash)}>{_title(m.hover)}</line>']


def _outlines(m: Outlines, fr: _Frame) -> list[str]:
    out = [f'<g class="mark outlines" fill="none" stroke={_attr(m.colour)} stroke-width="{_f(m.width)}"'
           f'{_dash(m.dash)}>']
    for x0, x1, y0, y1 in m.rects:
        xa, xb, ya, yb = fr.x(x0), fr.x(x1), fr.y(y0), fr.y(y1)
        out.append(f'<rect x="{_f(min(xa, xb))}" y="{_f(min(ya, yb))}" width="{_f(abs(xb - xa))}" '
                   f'height="{_f(abs(yb - ya))}"/>')
    out.append("</g>")
    return out


DRAW = {Bars: _bars, Cells: _cells, Line: _line, Area: _area, Texts: _texts, Rule: _rule, Outlines: _outlines}
LEGEND_SWATCH, LEGEND_ROW = 24, 22


def legend_width(entry: LegendEntry) -> float:
    return LEGEND_SWATCH + 6 + text_width(entry.label) + 18


def _legend(chart: Chart) -> list[str]:
    if not chart.legend:
        return []
    x = chart.panels[0].left if chart.panels else 10
    y = chart.legend_top
    out = ['<g class="legend">']
    start = x
    for entry in chart.legend:
        if x > start and x + legend_width(entry) > chart.width - 10:      # wrap to a new row
            x, y = start, y + LEGEND_ROW
        middle = x + LEGEND_SWATCH / 2
        if entry.shape == "box":
            out.append(f'<rect x="{_f(x + 5)}" y="{_f(y - 7)}" width="14" height="14" fill={_attr(entry.colour)} '
                       f'stroke="{GRID}"/>')
        elif entry.shape == "ring":
            out.append(f'<circle cx="{_f(middle)}" cy="{_f(y)}" r="6" fill="none" stroke={_attr(entry.colour)} '
                       'stroke-width="3"/>')
        else:
            out.append(f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x + LEGEND_SWATCH)}" y2="{_f(y)}" '
                       f'stroke={_attr(entry.colour)} stroke-width="2.5"{_dash(entry.dash)}/>')
            if entry.shape == "marker":
                out.append(f'<circle cx="{_f(middle)}" cy="{_f(y)}" r="4" fill={_attr(entry.colour)}/>')
        out.append(_text(x + LEGEND_SWATCH + 6, y, entry.label, anchor="start"))
        x += legend_width(entry)
    out.append("</g>")
    return out


COLOUR_BAR_WIDTH, COLOUR_BAR_STEPS = 14, 24


def _colour_bar(chart: Chart) -> list[str]:
    bar = chart.colour_bar
    if bar is None or not chart.panels:
        return []
    top, height = chart.panels[0].top + 24, chart.panels[0].height - 24
    x = chart.width - 80 if bar.left is None else bar.left
    out = ['<g class="colour-bar">', _text(x, top - 16, bar.title, anchor="start")]
    step = height / COLOUR_BAR_STEPS
    for i in range(COLOUR_BAR_STEPS):           # top (high) to bottom (low)
        t = 1 - (i + 0.5) / COLOUR_BAR_STEPS
        out.append(f'<rect x="{_f(x)}" y="{_f(top + i * step)}" width="{COLOUR_BAR_WIDTH}" height="{_f(step + 0.5)}" '
                   f'fill="{interpolate(bar.stops, t)}"/>')
    middle = (bar.low + bar.high) / 2
    for value, y in ((bar.high, top), (middle, top + height / 2), (bar.low, top + height)):
        out.append(_text(x + COLOUR_BAR_WIDTH + 5, y, number(value, bar.digits), anchor="start"))
    out.append("</g>")
    return out


def render(chart: Chart) -> str:
    """The chart as one line of SVG (no blank lines: markdown keeps it one HTML block)."""
    label = chart.description or chart.title
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="samviz-chart" role="img" aria-label={_attr(label)} '
           f'viewBox="0 0 {_f(chart.width)} {_f(chart.height)}" width="100%" preserveAspectRatio="xMidYMin meet" '
           f'font-family="sans-serif">',
           _title(label),
           _text(10, 20, chart.title, TITLE_FONT, anchor="start", extra=' font-weight="600"')]
    for panel in chart.panels:
        fr = _Frame(panel)
        out += _axes(panel, fr)
        for mark in panel.marks:
            out += DRAW[type(mark)](mark, fr)
    out += _legend(chart)
    out += _colour_bar(chart)
    out.append("</svg>")
    return "".join(out)


def html(chart: Chart, max_width: int = 1100) -> str:
    """The chart in a div for st.markdown(unsafe_allow_html=True): one line, so markdown passes it through as a
    single HTML block; as wide as its container up to max_width."""
    return f'<div class="samviz-chart-box" style="max-width:{int(max_width)}px">{chart.svg()}</div>'


def text_boxes(chart: Chart) -> list[tuple[str, float, float, float, float]]:
    """Every text of the rendered chart with its estimated box (label, left, right, top, bottom), from the SVG
    itself (rotated titles turned): lets a test check that no text leaves the viewBox without a browser."""
    boxes = []
    pattern = re.compile(r'<text x="([-\d.]+)" y="([-\d.]+)" font-size="([\d.]+)" text-anchor="(\w+)"([^>]*)>'
                         r'([^<]*)</text>')
    for x, y, size, anchor, rest, content in pattern.findall(chart.svg()):
        x, y, size, text = float(x), float(y), float(size), unescape(content)
        length = text_width(text, size)
        start = {"start": 0.0, "middle": -length / 2, "end": -length}[anchor]
        if "rotate(" in rest:
            boxes.append((text, x - size / 2, x + size / 2, y + start, y + start + length))
        else:
            boxes.append((text, x + start, x + start + length, y - size / 2, y + size / 2))
    return boxes
