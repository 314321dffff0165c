"""Pure functions of benchmark rows: labels, fitted slopes, dense/sparse ratios, CSV, and plotly figures.

Nothing here measures or touches Streamlit; the scaling page and the CLI summary both use these.
"""
import csv
import io
import math

import plotly.graph_objects as go

from samviz.app.colours import MODEL_COLOURS

from .cost import crossover, crossover_sentence
from .paper import REFERENCE_POINTS, reference_ratio

# (dense, sparse) label pairs compared in the ratio tables, in display order
PAIRS = [("ntm", "sam-faiss"), ("ntm", "sam-exact"), ("dam", "sam-faiss"), ("dam", "sam-exact"),
         ("dnc", "sdnc-faiss"), ("dnc", "sdnc-exact")]
# one colour per model kind, the app's (samviz/app/colours.py); a kind's two indexes share it and differ by dash
COLOURS = {name: MODEL_COLOURS[name.split("-")[0]] for name in
           ("ntm", "dam", "dnc", "sam-faiss", "sam-exact", "sdnc-faiss", "sdnc-exact")}
DASHES = {"sam-exact": "dash", "sdnc-exact": "dash"}
SETTING_KEYS = ("batch", "steps", "heads", "k", "word_size")
METRIC_WORDS = {"ms_per_step": "speed", "peak_mib": "memory"}
MIN_MIB_DRAWN = 0.01       # overheads below this are drawn at it (a log axis has no zero)
CSV_COLUMNS = ("model", "index", "slots", "batch", "heads", "k", "word_size", "steps", "ms_per_step", "peak_mib",
               "status", "reason", "init_mib", "estimate_mib", "repeats", "threads", "seconds", "memory_method",
               "machine", "date")


# What "ms per step" means in a view of rows: the worker records both (samviz.bench.measure)
MEASURES = {"cpu": ("cpu_ms_per_step", "cpu_ms_min", "cpu_ms_max"), "wall": ("ms_per_step", "ms_min", "ms_max")}
MEASURE_WORDS = {
    "cpu": "CPU time: the measuring process's own time on a core (on a machine shared with other work it leaves "
           "out the time spent waiting for one; on an idle machine it equals the wall-clock time)",
    "wall": "wall-clock time (on a machine shared with other work it includes the time spent waiting for a core)",
}


def on_measure(rows: list[dict], measure: str) -> list[dict]:
    """Rows whose ms_per_step (and ms_min, ms_max) are `measure`'s ("cpu" or "wall"), so every function here works
    on one measure. A measured row without that measure is left out (never mixed in); rows not measured stay."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}")
    if measure == "wall":
        return list(rows)
    median, low, high = MEASURES[measure]
    out = []
    for row in rows:
        if row.get("status") != "ok":
            out.append(row)
        elif row.get(median) is not None:
            out.append({**row, "ms_per_step": row[median], "ms_min": row.get(low), "ms_max": row.get(high),
                        "measure": measure})
    return out


def label(row: dict) -> str:
    """"ntm", "dam", "dnc" for dense cores; "sam-faiss", "sam-exact", "sdnc-…" for sparse ones."""
    return row["model"] if not row.get("index") else f"{row['model']}-{row['index']}"


def setting(row: dict) -> tuple:
    """The run setting other than the model and N: (batch, steps, heads, k, word_size)."""
    return tuple(row.get(key) for key in SETTING_KEYS)


def setting_text(value: tuple) -> str:
    batch, steps, heads, k, word_size = value
    return f"batch {batch}, T = {steps}, {heads} heads, K = {k}, W = {word_size}"


def settings(rows: list[dict]) -> list[tuple]:
    """Distinct settings, the most frequent first."""
    counts: dict = {}
    for row in rows:
        counts[setting(row)] = counts.get(setting(row), 0) + 1
    return sorted(counts, key=lambda s: (-counts[s], str(s)))


def latest(rows: list[dict]) -> list[dict]:
    """One row per (label, N, setting, initial rows): the last one in file order (re-measurements appended with
    --append win)."""
    keep: dict = {}
    for row in rows:
        key = (label(row), row.get("slots"), setting(row), row.get("initial_rows"))
        keep.pop(key, None)
        keep[key] = row
    return list(keep.values())


def ok(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") == "ok" and r.get("ms_per_step") is not None]


def labels_in(rows: list[dict]) -> list[str]:
    order = ["ntm", "dam", "dnc", "sam-exact", "sam-faiss", "sdnc-exact", "sdnc-faiss"]
    present = {label(r) for r in rows}
    return [name for name in order if name in present] + sorted(present - set(order))


def fit_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log y against log x (None with fewer than 2 distinct x or non-positive values)."""
    points = [(math.log(x), math.log(y)) for x, y in points if x and y and x > 0 and y > 0]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den


def _not_measured(rows: list[dict]) -> str:
    """"from N = 8,192: refused" (the smallest size not measured and its status; the rows table has every reason)."""
    if not rows:
        return ""
    first = min(rows, key=lambda r: r["slots"])
    more = len(rows) - 1
    return f"N = {first['slots']:,}: {first.get('status')}" + (f" (+{more} larger)" if more else "")


SLOPE_SIZES = 4     # slopes are fitted through each model's largest measured sizes, where fixed overheads matter least


def slopes(rows: list[dict], sizes: int = SLOPE_SIZES) -> list[dict]:
    """Per label: log-log slopes of ms/step and overhead MiB against N (1 = grows in proportion to N, 0 = flat),
    fitted through its `sizes` largest measured sizes (at small N fixed per-step costs flatten every curve)."""
    table = []
    good = ok(rows)
    for name in labels_in(rows):
        mine = sorted((r for r in good if label(r) == name), key=lambda r: r["slots"])[-sizes:]
        slope_ms = fit_slope([(r["slots"], r["ms_per_step"]) for r in mine])
        slope_mib = fit_slope([(r["slots"], r["peak_mib"]) for r in mine])
        not_ok = [r for r in rows if label(r) == name and r.get("status") != "ok"]
        table.append({
            "model": name, "points": len(mine),
            "fitted over N": f"{mine[0]['slots']:,}–{mine[-1]['slots']:,}" if mine else "—",
            "slope ms/step": None if slope_ms is None else round(slope_ms, 2),
            "slope overhead MiB": None if slope_mib is None else round(slope_mib, 2),
            "not measured": _not_measured(not_ok),
        })
    return table


def ratios(rows: list[dict]) -> list[dict]:
    """Dense ÷ sparse at every N (and setting) where both were measured: time and memory ratios."""
    good = ok(rows)
    by_key = {(label(r), r["slots"], setting(r)): r for r in good}
    table = []
    for dense, sparse in PAIRS:
        for (name, slots, run_setting), d in sorted(by_key.items(), key=lambda item: (item[0][1], str(item[0][2]))):
            if name != dense or (sparse, slots, run_setting) not in by_key:
                continue
            s = by_key[(sparse, slots, run_setting)]
            time_ratio = d["ms_per_step"] / s["ms_per_step"] if s["ms_per_step"] > 0 else None
            memory_ratio = d["peak_mib"] / s["peak_mib"] if s["peak_mib"] and s["peak_mib"] > 0 else None
            paper_time = reference_ratio(dense, sparse, "ms_per_step")
            paper_memory = reference_ratio(dense, sparse, "peak_mib")
            table.append({
                "N": slots, "dense / sparse": f"{dense} / {sparse}", "setting": setting_text(run_setting),
                "dense ms/step": d["ms_per_step"], "sparse ms/step": s["ms_per_step"],
                "speed ratio": None if time_ratio is None else round(time_ratio, 1),
                "dense MiB": d["peak_mib"], "sparse MiB": s["peak_mib"],
                "memory ratio": None if memory_ratio is None else round(memory_ratio, 1),
                "paper": "; ".join(f"{p['ratio']:g}× {METRIC_WORDS[p['metric']]} at N={p['slots']:,}"
                                   for p in (paper_time, paper_memory) if p),
            })
    return table


def display_name(name: str) -> str:
    """"sam-faiss" -> "SAM (faiss)", "ntm" -> "NTM"."""
    kind, _, index = name.partition("-")
    return kind.upper() + (f" ({index})" if index else "")


def crossovers(rows: list[dict]) -> list[dict]:
    """For each (dense, sparse) pair of PAIRS measured at 2 or more common sizes on one machine (one setting is
    assumed: pass rows of one setting): where dense ms ÷ sparse ms crosses 1 (samviz.bench.cost.crossover).
    Rows from different machines are never mixed in one curve. -> [{"dense", "sparse", "machine",
    "result", "text"}] in PAIRS order."""
    good = ok(rows)
    machines = list(dict.fromkeys(r.get("machine") for r in good))
    table = []
    for dense, sparse in PAIRS:
        for machine in machines:
            d = {r["slots"]: r["ms_per_step"] for r in good if label(r) == dense and r.get("machine") == machine}
            s = {r["slots"]: r["ms_per_step"] for r in good if label(r) == sparse and r.get("machine") == machine}
            common = sorted(set(d) & set(s))
            if len(common) < 2:
                continue
            result = crossover([(n, d[n], s[n]) for n in common])
            ms = None
            if result.status == "crosses":        # the dense curve's time at the crossing (log-log interpolation)
                a, b = result.below, result.above
                t = 0.0 if a == b else (math.log(result.n) - math.log(a)) / (math.log(b) - math.log(a))
                ms = math.exp(math.log(d[a]) + t * (math.log(d[b]) - math.log(d[a])))
            table.append({"dense": dense, "sparse": sparse, "machine": machine, "result": result, "ms": ms,
                          "text": crossover_sentence(result, display_name(dense), display_name(sparse))})
    return table


def to_csv(rows: list[dict]) -> str:
    """Rows as CSV text (known columns first, then any others)."""
    extra = sorted({key for row in rows for key in row} - set(CSV_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS) + extra, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def summary_lines(rows: list[dict]) -> list[str]:
    """Plain-text summary: every row's outcome, then the dense/sparse ratios at each N."""
    lines = []
    for r in rows:
        if r.get("status") == "ok":
            lines.append(f"{label(r):>10}  N={r['slots']:>9,}  {r['ms_per_step']:>10.3f} ms/step  "
                         f"{r['peak_mib']:>10.2f} MiB overhead")
        else:
            lines.append(f"{label(r):>10}  N={r['slots']:>9,}  {r.get('status')}: {r.get('reason', '')}")
    table = ratios(rows)
    if table:
        lines.append("dense / sparse ratios (speed = dense ms ÷ sparse ms; memory = dense MiB ÷ sparse MiB):")
        for t in table:
            speed = "—" if t["speed ratio"] is None else f"{t['speed ratio']:g}×"
            memory = "—" if t["memory ratio"] is None else f"{t['memory ratio']:g}×"
            paper = f"  (paper: {t['paper']})" if t["paper"] else ""
            lines.append(f"  N={t['N']:>9,}  {t['dense / sparse']:<18} speed {speed:>9}  memory {memory:>9}{paper}")
    else:
        lines.append("no dense/sparse pair measured at the same N in this run: no ratios")
    return lines


# ---------------------------------------------------------------------------------------------- figures
NOT_MEASURED_COLOUR = "#7f7f7f"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def log_axis(values, title: str, base: int = 10) -> dict:
    """A log axis whose tick labels a newcomer reads: one label per power of `base` (powers of 2 for memory
    sizes, every one when they are few, else every 5th), written out in full ("1,024", "0.1"), no minor labels."""
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    axis = {"type": "log", "title": {"text": title}}
    if not values:
        return axis
    low, high = (math.floor(math.log(min(values), base) + 1e-9), math.ceil(math.log(max(values), base) - 1e-9))
    powers = list(range(low, high + 1))
    if base == 2 and len(powers) > 9:
        powers = [p for p in powers if p % 5 == 0] or powers[::5]
    ticks = [base ** p for p in powers]
    return {**axis, "tickvals": ticks, "ticktext": [_number(t) for t in ticks], "minor": {"showgrid": False}}


def _scaling_figure(rows: list[dict], metric: str, title: str, y_title: str, references: bool) -> go.Figure:
    figure = go.Figure()
    good = ok(rows)
    top = max([r[metric] for r in good if r[metric]] + [1.0])
    drawn = []
    for name in labels_in(rows):
        mine = sorted((r for r in good if label(r) == name), key=lambda r: r["slots"])
        if not mine:
            continue
        ys = [max(r[metric], MIN_MIB_DRAWN) if metric == "peak_mib" else r[metric] for r in mine]
        drawn += ys
        bars = None
        if metric == "ms_per_step" and all(r.get("ms_min") is not None and r.get("ms_max") is not None for r in mine):
            bars = {"type": "data", "symmetric": False, "array": [r["ms_max"] - r[metric] for r in mine],
                    "arrayminus": [r[metric] - r["ms_min"] for r in mine], "thickness": 1, "width": 3}
        figure.add_trace(go.Scatter(
            x=[r["slots"] for r in mine], y=ys, mode="lines+markers", name=name,
            line={"color": COLOURS.get(name), "dash": DASHES.get(name, "solid")}, error_y=bars,
            customdata=[[r[metric], r["batch"], r["steps"], r.get("repeats") or "?"] for r in mine],
            hovertemplate=f"<b>{display_name(name)}</b><br>N = %{{x:,}}<br>{y_title} = %{{customdata[0]:.4g}}"
                          "<br>batch %{customdata[1]}, T = %{customdata[2]}, %{customdata[3]} runs<extra></extra>"))
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed:
        figure.add_trace(go.Scatter(
            x=[r["slots"] for r in failed], y=[top * 2] * len(failed), mode="markers",
            marker={"symbol": "x", "size": 10, "color": NOT_MEASURED_COLOUR}, name="not measured (hover: why)",
            text=[f"{display_name(label(r))}: {r.get('status')}: {r.get('reason', '')}" for r in failed],
            hovertemplate="N = %{x:,}<br>%{text}<extra></extra>"))
    if references:
        points = [p for p in REFERENCE_POINTS if p["metric"] == metric]
        if points:
            drawn += [p["value"] for p in points]
            figure.add_trace(go.Scatter(
                x=[p["slots"] for p in points], y=[p["value"] for p in points], mode="markers",
                name="paper (Rae et al. 2016)", text=[p["label"] for p in points],
                marker={"symbol": "star", "size": 14, "line": {"width": 1, "color": "black"},
                        "color": [COLOURS.get(label(p)) for p in points]},
                customdata=[[p["figure"], p["batch"], p["steps"] or "—"] for p in points],
                hovertemplate="%{text}<br>%{customdata[0]}, N = %{x:,}, batch %{customdata[1]}, T = %{customdata[2]}"
                              "<extra>paper</extra>"))
    sizes = [r["slots"] for r in rows] + ([p["slots"] for p in REFERENCE_POINTS] if references else [])
    figure.update_layout(title={"text": title}, xaxis=log_axis(sizes, "memory slots N", base=2),
                         yaxis=log_axis(drawn + ([top * 2] if failed else []), y_title),
                         legend={"orientation": "h", "y": -0.22, "x": 0},
                         margin={"l": 70, "r": 20, "t": 50, "b": 40}, height=470)
    return figure


def speed_figure(rows: list[dict], references: bool = True, crossings: list[dict] | None = None) -> go.Figure:
    """Log-log ms per step (forward + backward; the median of the timed runs, bars from the fastest to the
    slowest) against N, one line per model; the paper's points as stars; a diamond at each crossover of
    `crossings` (entries of crossovers(rows)) that crosses, at (N, ms) where the dense and sparse curves meet."""
    figure = _scaling_figure(rows, "ms_per_step", "Time per training step", "ms per step", references)
    crossing = [e for e in crossings or [] if e["result"].status == "crosses" and e.get("ms")]
    if crossing:
        figure.add_trace(go.Scatter(
            x=[e["result"].n for e in crossing], y=[e["ms"] for e in crossing], mode="markers",
            name="crossover (hover)", marker={"symbol": "diamond", "size": 11,
                                                 "line": {"width": 1.5, "color": "black"},
                                                 "color": [COLOURS.get(e["sparse"], "grey") for e in crossing]},
            text=[f"{display_name(e['sparse'])} overtakes {display_name(e['dense'])} at N ≈ {round(e['result'].n):,}"
                  for e in crossing],
            hovertemplate="%{text}<extra></extra>"))
    return figure


def memory_figure(rows: list[dict], references: bool = True) -> go.Figure:
    """Log-log training memory overhead (MiB above the initialised memory) against N."""
    return _scaling_figure(rows, "peak_mib", "Training memory overhead", "MiB above the start", references)


def _crossing_line(figure: go.Figure, n: float, text: str, colour: str) -> None:
    """A dashed vertical line at N = n on a log x axis, labelled (an annotation's x on a log axis is log10 of it;
    a shape's is the value itself)."""
    figure.add_vline(x=n, line={"dash": "dash", "color": colour})
    figure.add_annotation(x=math.log10(n), xref="x", y=0.02, yref="y domain", text=text, showarrow=False,
                          xanchor="left", yanchor="bottom", font={"size": 11, "color": colour})


def _colour(name: str) -> str | None:
    """"SAM (exact)" -> the colour of "sam-exact"; "NTM" -> "ntm"'s."""
    kind, _, rest = name.partition(" (")
    return COLOURS.get(kind.lower() + (f"-{rest.rstrip(')')}" if rest else ""))


def crossover_figure(series: dict, crossing=None, marks: dict | None = None, estimates: dict | None = None,
                     title: str = "Time per step against N", y_title: str = "ms per step") -> go.Figure:
    """Log-log curves of measured (N, ms) points, one per label; a dashed vertical line at the crossover
    (samviz.bench.cost.Crossover with status "crosses"); `marks` {label: (N, ms)}: this page's own measurement
    now (stars); `estimates` {label: (N, ms, from (N, ms))}: an extrapolated estimate (open circle, dotted line
    from the last measured point it was fitted through)."""
    figure = go.Figure()
    for name, points in series.items():
        points = sorted(points)
        figure.add_trace(go.Scatter(x=[n for n, _ in points], y=[ms for _, ms in points], mode="lines+markers",
                                    name=f"{name} (measured)", legendgroup=name,
                                    line={"color": _colour(name)},
                                    hovertemplate=f"<b>{name}</b><br>N = %{{x:,}}<br>%{{y:.3g}} ms<extra></extra>"))
    for name, (n, ms) in (marks or {}).items():
        figure.add_trace(go.Scatter(x=[n], y=[ms], mode="markers", name=f"{name}: this page, now",
                                    marker={"symbol": "star", "size": 13, "line": {"width": 1, "color": "black"},
                                            "color": _colour(name)},
                                    hovertemplate=f"<b>{name}</b> measured now<br>N = %{{x:,}}<br>%{{y:.3g}} ms"
                                                  "<extra></extra>"))
    for name, (n, ms, start) in (estimates or {}).items():
        figure.add_trace(go.Scatter(x=[start[0], n], y=[start[1], ms], mode="lines+markers",
                                    name=f"{name}: estimate (not run)",
                                    line={"dash": "dot", "color": _colour(name)},
                                    marker={"symbol": ["circle", "circle-open"], "size": [1, 12]},
                                    hovertemplate=f"<b>{name}</b> estimate<br>N = %{{x:,}}<br>%{{y:.3g}} ms"
                                                  "<extra></extra>"))
    if crossing is not None and getattr(crossing, "status", None) == "crosses":
        _crossing_line(figure, crossing.n, f"cross ≈ {round(crossing.n):,}", "grey")
    sizes = [n for points in series.values() for n, _ in points] + [n for n, _ in (marks or {}).values()] \
        + [n for n, _, _ in (estimates or {}).values()]
    times = [ms for points in series.values() for _, ms in points] + [ms for _, ms in (marks or {}).values()] \
        + [ms for _, ms, _ in (estimates or {}).values()]
    figure.update_layout(title=title, xaxis=log_axis(sizes, "memory slots N", base=2), yaxis=log_axis(times, y_title),
                         legend={"title": "model"}, margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=380)
    return figure
