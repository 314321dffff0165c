"""Figure builders: pure functions of an EpisodeTrace (and the step shown) -> plotly figures.

No Streamlit, no torch, no model math: what is drawn is read from the trace's per-step records (schema:
samviz/trace/schema.py) through samviz/app/trace_stats.py, which computes every statistic the figures show. Every
figure stays under MAX_CELLS heatmap cells: large memories are zoomed to the slots that carry the most
weight, and long usage vectors are binned.

Stable encodings: memory slots are always on the vertical axis, slot 0 at the top (weights, rows, memory,
usage); every heatmap has a colourbar; a heatmap's colour range is computed once over the whole episode
(trace_stats.weight_range, memory_range), so a colour means the same value at every step; read is blue and
write orange everywhere; a slot axis that skips slots says so in its title.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from samviz.app import trace_stats as stats
from samviz.kinds import KINDS

MAX_CELLS = 100_000          # never draw more heatmap cells than this in one figure
MAX_SLOT_ROWS = 256          # slot rows in the weights-over-time figure (legibility)
MAX_USAGE_BARS = 4096        # usage vectors longer than this are binned
NEIGHBOUR_COLUMNS = 2        # read heads side by side in the neighbours figure; more wrap to another row

READ_COLOUR = "#1f77b4"
WRITE_COLOUR = "#ff7f0e"
MARK_COLOUR = "#d62728"
EXACT_COLOUR = "#7f7f7f"
ANSWER_COLOUR = "#2ca02c"
SLOT_AXIS = "memory slot"    # the title of every slot axis; a non-linear one adds what it skips


def _colourbar(title: str, y: float, length: float) -> dict:
    return dict(title=dict(text=title, side="right"), y=y, len=length, yanchor="middle", thickness=12, x=1.01)


def _answer_shapes(trace, axes: list[str]) -> list[dict]:
    """The answer phase, drawn above the heatmaps (below them it is hidden): a light band that leaves the data's
    colours readable, and a solid outline named "answer phase"."""
    answer = stats.answer_steps(trace)
    if not answer:
        return []
    span = dict(x0=answer[0] - 0.5, x1=answer[-1] + 0.5, y0=0, y1=1, type="rect", layer="above")
    band = [dict(span, name="answer band", xref=f"x{s}", yref=f"y{s} domain", fillcolor=ANSWER_COLOUR, opacity=0.07,
                 line=dict(width=0)) for s in axes]
    outline = [dict(span, name="answer phase", xref=f"x{s}", yref=f"y{s} domain", fillcolor="rgba(0,0,0,0)",
                    opacity=1, line=dict(color=ANSWER_COLOUR, width=2.5)) for s in axes]
    return band + outline


# ------------------------------------------------------------------------------------------ helpers
# Figures are built in one shot (go.Figure(data=[...], layout={...})): plotly's make_subplots and its
# per-subplot update/add_vline calls cost 10× more, which matters when every step rebuilds views.

def png_config(name: str) -> dict:
    """st.plotly_chart config: the modebar's camera button saves a 2× PNG named samviz-<name>.png."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": f"samviz-{name}", "scale": 2}}


def _suffix(index: int) -> str:
    return "" if index == 1 else str(index)


def _unit(value: float) -> float:
    return min(1.0, max(0.0, round(value, 6)))


def _grid(rows: int, cols: int, titles: list[str] | None = None, hspace: float = 0.04, vspace: float = 0.1,
          shared_x: bool = False, shared_y: bool = False) -> tuple[dict, list[list[tuple[str, str]]]]:
    """A subplot grid as a layout dict -> (layout, refs) where refs[row][col] = ("x3", "y3") for traces."""
    layout: dict = {"annotations": []}
    refs = []
    width = (1 - hspace * (cols - 1)) / cols
    height = (1 - vspace * (rows - 1)) / rows
    for row in range(rows):
        refs.append([])
        for col in range(cols):
            index = row * cols + col + 1
            s = _suffix(index)
            x0 = col * (width + hspace)
            y1 = 1 - row * (height + vspace)
            xaxis = {"domain": [_unit(x0), _unit(x0 + width)], "anchor": f"y{s}"}
            yaxis = {"domain": [_unit(y1 - height), _unit(y1)], "anchor": f"x{s}"}
            if shared_x and index > 1:
                xaxis["matches"] = "x"
                if row < rows - 1:
                    xaxis["showticklabels"] = False
            if shared_x and rows > 1 and index == 1:
                xaxis["showticklabels"] = False
            if shared_y and index > 1:
                yaxis["matches"] = "y"
                if col > 0:
                    yaxis["showticklabels"] = False
            layout[f"xaxis{s}"] = xaxis
            layout[f"yaxis{s}"] = yaxis
            refs[row].append((f"x{s}", f"y{s}"))
            if titles and row * cols + col < len(titles):
                layout["annotations"].append(dict(text=titles[row * cols + col], x=x0 + width / 2, y=y1,
                                                  xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                                  showarrow=False, font=dict(size=13)))
    return layout, refs


def _axis_key(ref: str) -> str:
    """'x3' -> 'xaxis3', 'y' -> 'yaxis'."""
    return f"{ref[0]}axis{ref[1:]}"


def _cursor_shapes(step: int, axes: list[str]) -> list[dict]:
    return [dict(type="line", name="cursor", x0=step, x1=step, xref=f"x{s}", y0=0, y1=1, yref=f"y{s} domain",
                 line=dict(color=MARK_COLOUR, width=2), opacity=0.8) for s in axes]


def set_cursor(fig: go.Figure, step: int) -> go.Figure:
    """Move the current-step line of a time figure (bits, weights) to `step`; returns the same figure.

    Lets a page build the over-time figure once per episode and only move the cursor per step.
    """
    axes = (fig.layout.meta or {}).get("cursor_axes", [])
    kept = [shape for shape in fig.layout.shapes if shape.name != "cursor"]
    fig.layout.shapes = kept + _cursor_shapes(step, axes)
    return fig


def _figure(traces: list[dict], layout: dict, title: str, height: int, subtitle: str | None = None) -> go.Figure:
    top, bottom = (96 + 16 * subtitle.count("<br>") if subtitle else 72), 40
    plot_height = max(60, height - top - bottom)
    heading = dict(text=title, x=0, xanchor="left", font=dict(size=15))
    if subtitle:
        heading["subtitle"] = dict(text=subtitle, font=dict(size=12))
    layout = {**layout,
              "title": heading, "height": height,
              "margin": dict(l=60, r=90 if any(k.startswith("coloraxis") for k in layout) else 20, t=top,
                             b=bottom), "plot_bgcolor": "white",
              # above the subplot titles (≈ 24 px over the plot area), right-aligned
              "legend": dict(orientation="h", yanchor="bottom", y=1 + 24 / plot_height, xanchor="right", x=1)}
    return go.Figure(data=traces, layout=layout)


# ------------------------------------------------------------------------------------------ figures

def bits_figure(trace, step: int) -> go.Figure:
    """Input, target and output bits over time; the current step marked, wrong output bits crossed."""
    step = stats.clamp_step(trace, step)
    inputs = np.asarray(trace.inputs, dtype=float).T          # [I, T]
    outputs = np.asarray(trace.outputs, dtype=float).T        # [O, T]
    t_axis = list(range(stats.steps_count(trace)))
    layout, refs = _grid(3, 1, ["input x_t", "target", "output p(bit = 1)  —  ✕ wrong bit"], vspace=0.1,
                         shared_x=True)
    low = min(0.0, float(inputs.min()) if inputs.size else 0.0)
    layout["coloraxis"] = dict(colorscale="Greys", cmin=low, cmax=1, colorbar=_colourbar("bit", 0.7, 0.55))
    layout["coloraxis2"] = dict(colorscale="Blues", cmin=0, cmax=1, colorbar=_colourbar("p", 0.15, 0.3))
    traces = [dict(type="heatmap", z=inputs, x=t_axis, y=list(range(inputs.shape[0])), coloraxis="coloraxis",
                   name="input", xaxis=refs[0][0][0], yaxis=refs[0][0][1],
                   hovertemplate="step %{x}<br>channel %{y}<br>value %{z:.2f}<extra></extra>")]
    if trace.targets is not None:
        targets = np.asarray(trace.targets, dtype=float).T
        traces.append(dict(type="heatmap", z=targets, x=t_axis, y=list(range(targets.shape[0])),
                           coloraxis="coloraxis", name="target", xaxis=refs[1][0][0], yaxis=refs[1][0][1],
                           hovertemplate="step %{x}<br>bit %{y}<br>target %{z:.0f}<extra></extra>"))
    else:
        layout["annotations"].append(dict(text="no target (typed input)", showarrow=False, xref="x2 domain",
                                          yref="y2 domain", x=0.5, y=0.5))
    traces.append(dict(type="heatmap", z=outputs, x=t_axis, y=list(range(outputs.shape[0])),
                       coloraxis="coloraxis2", name="output", xaxis=refs[2][0][0], yaxis=refs[2][0][1],
                       hovertemplate="step %{x}<br>bit %{y}<br>p = %{z:.3f}<extra></extra>"))
    wrong = np.argwhere(stats.wrong_bits(trace))                     # rows of (t, bit)
    traces.append(dict(type="scatter", x=wrong[:, 0].tolist() if len(wrong) else [],
                       y=wrong[:, 1].tolist() if len(wrong) else [], mode="markers", name="wrong bits",
                       xaxis=refs[2][0][0], yaxis=refs[2][0][1],
                       marker=dict(symbol="x", size=9, color=MARK_COLOUR, line=dict(width=1)),
                       hovertemplate="step %{x}<br>bit %{y} is wrong<extra></extra>"))
    axes = ["", "2", "3"]
    shapes = _answer_shapes(trace, axes)
    for s in axes:
        layout[f"yaxis{s}"]["autorange"] = "reversed"
    layout["xaxis3"]["title"] = dict(text="time step")
    layout["shapes"] = shapes + _cursor_shapes(step, axes)
    layout["meta"] = {"cursor_axes": axes}
    errors = int(stats.bit_errors_per_step(trace).sum())
    title = f"Bits over time — {errors} wrong bit{'s' if errors != 1 else ''} in this episode"
    shaded = ("answer phase: inside the green frame (scored steps)" if shapes
              else "no answer phase (typed input: not scored)")
    return _figure(traces, layout, title, 520, subtitle=f"{shaded}; red line: this step")


def weights_figure(trace, step: int, max_cells: int = MAX_CELLS) -> go.Figure:
    """Read weights per head and the write weights over slots × time, the current step marked.

    Sparse models list only the slots they touched; big memories are zoomed to the most weighted slots.
    """
    step = stats.clamp_step(trace, step)
    heads = stats.read_heads(trace)
    panels = heads + 1
    t_count = stats.steps_count(trace)
    max_rows = max(1, min(MAX_SLOT_ROWS, max_cells // max(1, t_count * panels)))
    slots, total = stats.episode_slots(trace, max_rows)
    row_of = {slot: i for i, slot in enumerate(slots)}
    labels = [str(s) for s in slots]
    titles = [f"read head {h + 1}" for h in range(heads)] + ["write"]
    layout, refs = _grid(1, panels, titles, hspace=0.03, shared_y=True)
    t_axis = list(range(t_count))
    traces = []
    slot_array = np.asarray(slots, dtype=np.int64)
    for panel, records in enumerate(stats.panel_records(trace)):
        z = np.zeros((len(slots), t_count))
        for t, record in enumerate(records):
            ids, values = stats.ids_values(record)
            if not len(ids):
                continue
            rows = np.searchsorted(slot_array, ids)
            rows = np.minimum(rows, max(0, len(slot_array) - 1))
            shown = slot_array[rows] == ids if len(slot_array) else np.zeros(len(ids), dtype=bool)
            np.add.at(z[:, t], rows[shown], values[shown])       # a slot listed twice gets the sum
        name = titles[panel]
        x_ref, y_ref = refs[0][panel]
        traces.append(dict(type="heatmap", z=z, x=t_axis, y=labels,
                           coloraxis="coloraxis" if panel < heads else "coloraxis2", name=name,
                           xaxis=x_ref, yaxis=y_ref,
                           hovertemplate="step %{x}<br>slot %{y}<br>" + name + " weight %{z:.3f}<extra></extra>"))
        layout[_axis_key(x_ref)]["title"] = dict(text="time step")
    lru = [(t, s.get("least_used")) for t, s in enumerate(trace.steps) if s.get("least_used") in row_of]
    if lru:
        x_ref, y_ref = refs[0][panels - 1]
        traces.append(dict(type="scatter", x=[t for t, _ in lru], y=[str(s) for _, s in lru], mode="markers",
                           name="least-used slot", xaxis=x_ref, yaxis=y_ref,
                           marker=dict(symbol="circle-open", size=7, color=MARK_COLOUR),
                           hovertemplate="step %{x}: least used slot %{y}<extra></extra>"))
    for _, y_ref in refs[0]:        # every panel gets the same slot order (matching axes alone do not share it)
        layout[_axis_key(y_ref)].update(type="category", categoryorder="array", categoryarray=labels,
                                        autorange="reversed")
    top = stats.weight_range(trace)        # one scale for the whole episode, reads and write alike
    layout["coloraxis"] = dict(colorscale="Blues", cmin=0, cmax=top, colorbar=_colourbar("read w", 0.75, 0.45))
    layout["coloraxis2"] = dict(colorscale="Oranges", cmin=0, cmax=top, colorbar=_colourbar("write w", 0.22, 0.45))
    n = stats.memory_slots(trace)
    if len(slots) < total:
        scope = f"showing the {len(slots)} most weighted of {total} slots with weight (N = {n})"
        axis = f"{SLOT_AXIS}: {len(slots)} of {n}, not to scale"
    elif len(slots) < n:
        scope = f"only the {total} slots ever touched (N = {n})"
        axis = f"{SLOT_AXIS}: {total} touched of {n}, not to scale"
    else:
        scope = f"all {n} slots"
        axis = SLOT_AXIS
    layout["yaxis"]["title"] = dict(text=axis)
    axes = [_suffix(i + 1) for i in range(panels)]
    layout["shapes"] = _answer_shapes(trace, axes) + _cursor_shapes(step, axes)
    # what the slot axis holds, for the page's caption (slot_scope): the caption's numbers are the figure's own
    layout["meta"] = {"cursor_axes": axes, "slots_shown": len(slots), "slots_touched": total, "slots": n}
    height = min(900, 300 + 5 * len(slots))
    answer = "; green frame: answer phase" if stats.answer_steps(trace) else ""
    return _figure(traces, layout, "Read and write weights over slots × time", height,
                   subtitle=scope + "; red line: this step" + ("; ○ least-used slot" if lru else "") + answer)


def slot_scope(fig: go.Figure) -> str:
    """The weights figure's slot axis in words, from the numbers the figure itself drew (weights_figure's meta):
    "showing the 37 slots this episode touched out of 1,048,576"."""
    meta = fig.layout.meta or {}
    shown, touched, n = meta.get("slots_shown", 0), meta.get("slots_touched", 0), meta.get("slots", 0)
    if shown >= n:
        return f"showing all {n:,} slots"
    if shown < touched == n:                     # a dense model weights every slot
        return f"showing the {shown:,} most weighted of all {n:,} slots"
    if shown < touched:
        return (f"showing the {shown:,} most weighted of the {touched:,} slots this episode touched, out of "
                f"{n:,}")
    return f"showing the {shown:,} slots this episode touched out of {n:,}"


def hidden_views(trace, step: int) -> list[str]:
    """Why a view the player can show is not shown for this trace (plain sentences, our own words): the whole
    memory M_t and the rows read (the trace keeps the memory only while N·W ≤ MEMORY_CELLS_LIMIT), the usage
    (SAM and SDNC keep it only while N ≤ SPARSE_USAGE_LIMIT)."""
    from samviz.trace.schema import MEMORY_CELLS_LIMIT, SPARSE_USAGE_LIMIT
    step = stats.clamp_step(trace, step)
    record = trace.steps[step]
    n = stats.memory_slots(trace)
    width = int(trace.config.get("word_size", 0) or 0)
    out = []
    memory = record.get("memory")
    if not memory:
        out.append(f"Memory M_t and the \"rows read\" panel are hidden: a trace keeps the whole memory only while "
                   f"N × W ≤ {MEMORY_CELLS_LIMIT:,} numbers, and this one is {n:,} × {width} = {n * width:,}. "
                   f"The rows this step wrote are shown above; its reads are the read vectors r_t.")
    elif len(memory) * len(memory[0]) > MAX_CELLS:
        out.append(f"Memory M_t is hidden: {len(memory):,} × {len(memory[0])} cells are more than a figure draws "
                   f"({MAX_CELLS:,}).")
    kind = KINDS.get(trace.model)
    if kind is not None and kind.sparse and kind.usage_meaning and n > SPARSE_USAGE_LIMIT:
        out.append(f"Usage is hidden: {kind.name.upper()} traces keep the usage vector (one number per slot, every "
                   f"step) only while N ≤ {SPARSE_USAGE_LIMIT:,}; this memory has {n:,} slots. The least-used slot "
                   f"each write chose is still marked ○ in the weights figure.")
    return out


def usage_figure(trace, step: int) -> go.Figure | None:
    """The usage the step's write chose its least-used slot from (trace_stats.usage_before), per slot (vertical
    axis, like every slot axis), the least used slot marked. None when the trace has no usage for this step."""
    step = stats.clamp_step(trace, step)
    record = trace.steps[step]
    usage = stats.usage_before(trace, step)
    if not usage:
        return None
    values = np.asarray(usage, dtype=float)
    n = len(values)
    least = record.get("least_used")
    meaning = stats.usage_meaning(trace)
    after = "after this step" in meaning
    if after:
        meaning = (f"discounted usage before this step (step {step - 1}'s, after its write)" if step
                   else "discounted usage before the first step (all zero)")
    if n > MAX_USAGE_BARS:
        # a bar shows the least-used slot of its bin: the smallest value, or the largest age
        width = math.ceil(n / MAX_USAGE_BARS)
        pad = (-n) % width
        padded = np.pad(values, (0, pad), constant_values=np.nan).reshape(-1, width)
        smallest = stats.usage_smaller_is_older(trace)
        values = np.nanmin(padded, axis=1) if smallest else np.nanmax(padded, axis=1)
        slots = (np.arange(len(values)) * width).tolist()
        binned = f" (bars of {width} slots: {'min' if smallest else 'max'})"
    else:
        slots = list(range(n))
        binned = ""
    traces = [dict(type="bar", y=slots, x=values.tolist(), orientation="h", name="usage", marker_color=READ_COLOUR,
                   hovertemplate="slot %{y}<br>usage %{x:.3f}<extra></extra>")]
    layout = {"yaxis": {"title": dict(text=SLOT_AXIS), "autorange": "reversed"},
              "xaxis": {"title": dict(text="usage")}, "shapes": [], "bargap": 0}
    if least is not None:
        age = stats.least_used_age(trace, step)
        label = f"least used: slot {least}"
        if age is not None:
            steps = f"{age} step{'s' if age != 1 else ''}"
            label += ", never accessed before" if age > step else f", last accessed {steps} ago"
        layout["shapes"].append(dict(type="line", y0=least, y1=least, x0=0, x1=1, yref="y", xref="x domain",
                                     line=dict(color=MARK_COLOUR, width=2, dash="dot")))
        traces.append(dict(type="scatter", y=[least], x=[float(usage[least])], mode="markers", text=[label],
                           name=label, meta="least used slot", hovertemplate="%{text}<extra></extra>",
                           marker=dict(color=MARK_COLOUR, size=11, symbol="triangle-left")))
    layout["showlegend"] = False
    # on a line of its own: beside the meaning it ran past the figure's edge in a half-page column
    marked = f"<br>◀ slot {least}: least used, so this step's write went there" if least is not None else ""
    return _figure(traces, layout, f"Usage at step {step}", 380, subtitle=f"{meaning}{binned}{marked}")


def _unique_rows(ids: list, rows: list, keep: str) -> tuple[list[int], list]:
    order: dict[int, int] = {}
    for i, slot in enumerate(ids):
        if keep == "first" and int(slot) in order:
            continue
        order[int(slot)] = i
    slots = sorted(order)
    return slots, [rows[order[s]] for s in slots]


def rows_figure(trace, step: int) -> go.Figure:
    """The rows written at the step (before and after), the rows read (from the memory snapshot when
    the trace has one) and the read vectors r_t."""
    step = stats.clamp_step(trace, step)
    record = trace.steps[step]
    written = record.get("rows_written") or {}
    ids = written.get("ids", [])
    before_ids, before = _unique_rows(ids, written.get("before", []), "first")
    _, after = _unique_rows(ids, written.get("after", []), "last")
    memory = record.get("memory")
    panels = [("written rows, before", before_ids, before), ("written rows, after", before_ids, after)]
    if memory:
        read_slots = sorted({s for head in stats.read_maps(record) for s, _ in stats.top_slots(head, 4)})
        panels.append(("rows read (top weights)", read_slots, [memory[s] for s in read_slots]))
    reads = record.get("reads") or []
    panels.append(("read vectors r_t", [f"head {h + 1}" for h in range(len(reads))], reads))
    scale = stats.memory_range(trace)         # the episode's range: colours compare across steps
    layout, refs = _grid(1, len(panels), [p[0] for p in panels], hspace=0.07)
    layout["coloraxis"] = dict(colorscale="RdBu", cmid=0, cmin=-scale, cmax=scale,
                               colorbar=_colourbar("value", 0.5, 0.9))
    traces = []
    for col, (name, labels, rows) in enumerate(panels):
        x_ref, y_ref = refs[0][col]
        layout[_axis_key(x_ref)]["title"] = dict(text="word component")
        layout[_axis_key(y_ref)].update(type="category", autorange="reversed")
        if not rows:
            continue
        traces.append(dict(type="heatmap", z=np.asarray(rows, dtype=float), y=[str(label) for label in labels],
                           coloraxis="coloraxis", name=name, xaxis=x_ref, yaxis=y_ref,
                           hovertemplate="row %{y}<br>component %{x}<br>%{z:.3f}<extra>" + name + "</extra>"))
    layout["yaxis"]["title"] = dict(text=f"{SLOT_AXIS}: listed only")
    height = 220 + 18 * max(1, max(len(p[1]) for p in panels))
    which = ("" if stats.is_sparse(trace) else
             f"; a dense write changes every row a little: the {len(before_ids)} rows with the largest write weight "
             f"are shown ({len(stats.written_slots(record))} above {stats.WEIGHT_THRESHOLD:g})")
    return _figure(traces, layout, f"Memory rows touched at step {step}", min(height, 600),
                   subtitle=f"colour range ±{scale:.2g}: the largest |value| in this episode's memory{which}")


def memory_figure(trace, step: int) -> go.Figure | None:
    """The whole memory (slots × word, slots down the vertical axis) after the step, when the trace recorded it
    (small memories); the slots written with weight > WEIGHT_THRESHOLD and the heaviest read slots marked."""
    step = stats.clamp_step(trace, step)
    record = trace.steps[step]
    memory = record.get("memory")
    if not memory:
        return None
    matrix = np.asarray(memory, dtype=float)                   # [N, W]
    if matrix.size > MAX_CELLS:
        return None
    n, width = matrix.shape
    scale = stats.memory_range(trace)
    written = stats.written_slots(record)
    read = sorted({s for head in stats.read_maps(record) for s, _ in stats.top_slots(head, 4)})
    traces = [dict(type="heatmap", z=matrix, coloraxis="coloraxis", name="memory",
                   hovertemplate="slot %{y}<br>component %{x}<br>%{z:.3f}<extra></extra>"),
              dict(type="scatter", y=written, x=[width + 0.5] * len(written), mode="markers",
                   name=f"written (weight > {stats.WEIGHT_THRESHOLD:g})",
                   marker=dict(symbol="triangle-left", color=WRITE_COLOUR, size=9)),
              dict(type="scatter", y=read, x=[width + 2] * len(read), mode="markers", name="read (top weights)",
                   marker=dict(symbol="circle", color=READ_COLOUR, size=8))]
    layout = {"yaxis": {"title": dict(text=SLOT_AXIS), "autorange": "reversed"},
              "xaxis": {"title": dict(text="word component")},
              "coloraxis": dict(colorscale="RdBu", cmid=0, cmin=-scale, cmax=scale,
                                colorbar=_colourbar("value", 0.5, 0.9))}
    return _figure(traces, layout, f"Memory M_t after step {step} ({n} slots × {width})", min(900, 260 + 4 * n),
                   subtitle=f"colour range ±{scale:.2g}, the same at every step; ◀ written with weight > "
                            f"{stats.WEIGHT_THRESHOLD:g}; ● read")


def neighbours_figure(trace, step: int) -> go.Figure | None:
    """Sparse models: per read head, the K slots the index found next to the exact top-K, with similarities."""
    step = stats.clamp_step(trace, step)
    neighbours = trace.steps[step].get("neighbours")
    if not neighbours:
        return None
    index = trace.steps[step].get("index", trace.config.get("index", "?"))
    titles = [f"head {h + 1}: recall {float(n.get('recall', float('nan'))):.2f}" for h, n in enumerate(neighbours)]
    # at most NEIGHBOUR_COLUMNS heads side by side (the figure often has half the page): more heads wrap to
    # further rows, so neighbouring subplot titles never run into each other (issue 12 item 8)
    values = [float(v) for n in neighbours for v in [*n.get("found_similarity", []), *n.get("exact_similarity", [])]
              if math.isfinite(float(v))]
    # room beyond the longest bar, either way, for its upright label (about 7 digits): the labels of negative
    # cosines (an SDNC reading its initial rows) go below their bars
    high, low = max(0.0, max(values, default=1.0)), min(0.0, min(values, default=0.0))
    pad = 0.5 * ((high - low) or 1.0)
    span = [low - pad if low < 0 else 0.0, high + pad if high > 0 else 0.0]
    if span[0] == span[1]:                       # every cosine 0
        span = [0.0, 1.0]
    columns = min(len(neighbours), NEIGHBOUR_COLUMNS)
    grid_rows = math.ceil(len(neighbours) / columns)
    layout, refs = _grid(grid_rows, columns, titles, hspace=0.08, vspace=0.3 if grid_rows > 1 else 0.1,
                         shared_y=True)
    traces = []
    for h, n in enumerate(neighbours):
        x_ref, y_ref = refs[h // columns][h % columns]
        exact = [int(i) for i in n.get("exact", [])]
        found = [int(i) for i in n.get("found", [])]
        found_ok = ["in exact top-K" if i in exact else "missed by exact" for i in found]
        # slot ids stand upright above their bars: side by side, two 7-digit ids ran into each other
        traces.append(dict(type="bar", x=[f"#{r + 1}" for r in range(len(found))], y=n.get("found_similarity", []),
                           text=[str(i) for i in found], textposition="outside", name=f"found ({index})",
                           textfont=dict(size=10), textangle=-90, cliponaxis=False,
                           marker_color=READ_COLOUR, showlegend=h == 0, customdata=found_ok, legendgroup="found",
                           xaxis=x_ref, yaxis=y_ref,
                           hovertemplate="slot %{text}<br>cosine %{y:.3f}<br>%{customdata}<extra>found</extra>"))
        traces.append(dict(type="bar", x=[f"#{r + 1}" for r in range(len(exact))], y=n.get("exact_similarity", []),
                           text=[str(i) for i in exact], textposition="outside", name="exact top-K",
                           textfont=dict(size=10), textangle=-90, cliponaxis=False,
                           marker_color=EXACT_COLOUR, showlegend=h == 0, legendgroup="exact",
                           xaxis=x_ref, yaxis=y_ref,
                           hovertemplate="slot %{text}<br>cosine %{y:.3f}<extra>exact</extra>"))
        layout[_axis_key(x_ref)]["title"] = dict(text="rank (label = slot id)")
        layout[_axis_key(y_ref)]["range"] = span
    for row in range(1, grid_rows):               # each row's first subplot names its axis too
        layout[_axis_key(refs[row][0][1])]["title"] = dict(text="cosine")
    for extra in range(len(neighbours), grid_rows * columns):     # an empty cell of the last row draws nothing
        x_ref, y_ref = refs[extra // columns][extra % columns]
        layout[_axis_key(x_ref)]["visible"] = False
        layout[_axis_key(y_ref)]["visible"] = False
    layout["yaxis"]["title"] = dict(text="cosine similarity to the query" if grid_rows == 1 else "cosine")
    layout["barmode"] = "group"
    layout["showlegend"] = False
    return _figure(traces, layout, f"Nearest neighbours at step {step}", 360 + 220 * (grid_rows - 1),
                   subtitle=f"{index} index (blue) vs exact top-K (grey); bar labels are slot ids")


def neighbour_rows(trace, step: int) -> list[dict]:
    """A table of the neighbour sets: one row per head and rank."""
    step = stats.clamp_step(trace, step)
    rows = []
    for h, n in enumerate(trace.steps[step].get("neighbours") or [], start=1):
        exact = [int(i) for i in n.get("exact", [])]
        found_sim, exact_sim = n.get("found_similarity", []), n.get("exact_similarity", [])
        for r, slot in enumerate(n.get("found", [])):
            rows.append({"head": h, "rank": r + 1, "found slot": int(slot),
                         "found cosine": round(float(found_sim[r]), 4) if r < len(found_sim) else None,
                         "exact slot": exact[r] if r < len(exact) else None,
                         "exact cosine": round(float(exact_sim[r]), 4) if r < len(exact_sim) else None,
                         "found is in exact top-K": int(slot) in exact})
    return rows


def read_modes_figure(trace, step: int) -> go.Figure | None:
    """DNC/SDNC: each read head's mix of backward, content and forward reading."""
    step = stats.clamp_step(trace, step)
    modes = trace.steps[step].get("read_modes")
    if not modes:
        return None
    heads = [f"head {h + 1}" for h in range(len(modes))]
    traces = []
    for m, (name, colour) in enumerate([("backward", "#9467bd"), ("content", READ_COLOUR), ("forward", "#2ca02c")]):
        traces.append(dict(type="bar", y=heads, x=[float(mode[m]) for mode in modes], name=name, orientation="h",
                           marker_color=colour, text=[f"{float(mode[m]):.2f}" for mode in modes],
                           hovertemplate="%{y}: " + name + " %{x:.3f}<extra></extra>"))
    layout = {"barmode": "stack", "xaxis": {"range": [0, 1], "title": dict(text="read mode weight π")}}
    return _figure(traces, layout, f"Read modes at step {step}", 170 + 40 * len(modes))


def links_figure(trace, step: int) -> go.Figure | None:
    """DNC/SDNC: the forward and backward link weightings each read head followed."""
    step = stats.clamp_step(trace, step)
    links = trace.steps[step].get("links")
    if not links:
        return None
    layout, refs = _grid(1, len(links), [f"head {h + 1}" for h in range(len(links))], hspace=0.06)
    traces = []
    for h, head in enumerate(links):
        x_ref, y_ref = refs[0][h]
        for direction, colour in (("forward", "#2ca02c"), ("backward", "#9467bd")):
            weights = stats.top_slots(stats.weight_map(head.get(direction)), 12)
            traces.append(dict(type="bar", x=[str(s) for s, _ in weights], y=[v for _, v in weights], name=direction,
                               marker_color=colour, showlegend=h == 0, legendgroup=direction,
                               xaxis=x_ref, yaxis=y_ref,
                               hovertemplate="slot %{x}<br>" + direction + " %{y:.3f}<extra></extra>"))
        layout[_axis_key(x_ref)].update(type="category", title=dict(text="slot (largest 12)"))
    layout["barmode"] = "group"
    return _figure(traces, layout, f"Temporal links followed at step {step}: f = L w^r, b = Lᵀ w^r", 320)


def compare_figure(traces: dict, times_ms: dict | None = None,
                   title: str = "Dense vs sparse on the same episode") -> go.Figure:
    """Several traces of the same episode: effective slots read, rows touched, bit errors and time per step."""
    times_ms = times_ms or {}
    panels = ["effective number of slots read (exp of the weights' entropy; mean over heads)",
              "memory rows touched per step: an exact count (log scale)", "wrong output bits per step",
              "measured forward time per step at this size, ms (log scale)"]
    layout, refs = _grid(2, 2, panels, hspace=0.08, vspace=0.18)
    palette = [WRITE_COLOUR, READ_COLOUR, "#2ca02c", "#9467bd"]
    data = []
    for i, (label, trace) in enumerate(traces.items()):
        colour = palette[i % len(palette)]
        t_axis = list(range(stats.steps_count(trace)))
        series = [(stats.attention_spread(trace), 0, 0), (stats.rows_touched(trace), 0, 1),
                  (stats.bit_errors_per_step(trace).tolist(), 1, 0)]
        if label in times_ms:
            series.append((list(times_ms[label]), 1, 1))
        for k, (values, row, col) in enumerate(series):
            x_ref, y_ref = refs[row][col]
            data.append(dict(type="scatter", x=t_axis[:len(values)], y=values, mode="lines+markers", name=label,
                             legendgroup=label, showlegend=k == 0, line=dict(color=colour), marker=dict(size=4),
                             xaxis=x_ref, yaxis=y_ref))
    for row in refs:
        for x_ref, _ in row:
            layout[_axis_key(x_ref)]["title"] = dict(text="time step")
    layout["yaxis2"].update(type="log", dtick="D2")
    layout["yaxis4"].update(type="log", dtick="D2")
    return _figure(data, layout, title, 640)
