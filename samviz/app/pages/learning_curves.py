"""Learning curves: the paper's Fig. 2 claim put to the confirmatory study first, then the earlier runs.

Leads with the learning study (issue 27; docs/LEARNING_STUDY.md, samviz.study): its status, the verdict
sentences computed from its statistics, the table, and per task the curves (median and range over runs, on 640
fixed episodes) and the time to target (Kaplan-Meier). Below, labelled for what they are: the shipped
checkpoints' own training runs (one seed each, their own settings: uncontrolled), how far the shipped models
go past their training length, and the earlier multi-seed grids (samviz.learning_curves; earlier settings).
Every number in a sentence here is read from the runs the chart beside it draws.
"""
from __future__ import annotations

import math
import shlex

import plotly.graph_objects as go
import streamlit as st

from samviz import generalisation, study
from samviz import learning_curves as curves
from samviz import long_evaluation as long_eval
from samviz import study_statistics as stats
from samviz.app import figures
from samviz.app.colours import MODEL_COLOURS
from samviz.bench.plots import log_axis
from samviz.results.readme import markdown_table
from samviz.tasks import TARGETS

PAPER_CLAIM = ("Rae et al. 2016, Fig. 2: SAM *trains comparably* to the dense models on copy and *reaches its "
               "asymptotic error faster* on associative recall and priority sort.")
TASK_ORDER = ("copy", "associative_recall", "priority_sort")
COLOURS = MODEL_COLOURS          # one colour per model kind on every page (samviz/app/colours.py)
GRID_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                "#17becf")   # a grid's groups: 10 before a colour repeats (the largest grid has 7)
# The study's groups of arms, one tab each: (task, arms, tab label). The faiss arm keeps SAM's colour, dashed.
STUDY_GROUPS = (("associative_recall", ("ntm", "dam", "sam"), "Associative recall"),
                ("priority_sort", ("ntm", "dam", "sam"), "Priority sort"),
                ("copy", ("ntm", "dam", "sam"), "Copy"),
                ("associative_recall", ("dnc", "sdnc"), "DNC vs SDNC"),
                ("associative_recall", ("sam", "sam_faiss65536"), "SAM: faiss at 2^16 vs exact at 128"))
LOG_FLOOR = 0.01             # a mark of 0 bit errors is drawn here on the log axis (study_statistics.LOG_OFFSET)
LOG_TICKS = (0.01, 0.1, 1, 10, 100)


def _task_label(task: str) -> str:
    return task.replace("_", " ")


@st.cache_data(show_spinner=False, max_entries=4)
def _shipped() -> list[curves.Run]:
    return curves.shipped_runs()


@st.cache_data(show_spinner=False, max_entries=4)
def _generalisation() -> dict[str, list[dict]]:
    return generalisation.stored_curves()


@st.cache_data(show_spinner=False, max_entries=4)
def _grids() -> dict[str, list[curves.Run]]:
    return curves.exported_grids()


def shipped_figure(runs: list[curves.Run], task: str) -> go.Figure:
    """Validation bit errors against updates, one line per shipped model of `task`, and the task's target."""
    fig = go.Figure()
    for run in runs:
        steps, errors = zip(*run.curve, strict=True)
        # markers: a drop between two validations shows as two points, not as a line drawn straight down
        fig.add_trace(go.Scatter(x=steps, y=errors, mode="lines+markers", name=run.model.upper(),
                                 marker={"size": 3}, line={"color": COLOURS.get(run.model)}))
    fig.add_hline(y=TARGETS[task], line_dash="dash", line_color="grey",
                  annotation_text=f"target {TARGETS[task]:g}", annotation_position="top right")
    fig.update_layout(title=f"{_task_label(task)}: the shipped models' training runs (one seed each)", height=340,
                      xaxis_title="training updates", yaxis_title="validation bit errors / sequence",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(rangemode="tozero")
    return fig


def grid_figure(groups: list[curves.Group], every: int, title: str) -> go.Figure:
    """Median over seeds (line) and min-max (band) of each variant's validation bit errors."""
    fig = go.Figure()
    # one group per model (NTM against SAM): each in its model's colour, as on the shipped-runs charts
    by_model = len({g.model for g in groups}) == len(groups)
    for number, g in enumerate(groups):
        band = g.band(every)
        if not band:
            continue
        fallback = GRID_COLOURS[number % len(GRID_COLOURS)]
        colour = COLOURS.get(g.model, fallback) if by_model else fallback
        marks = [p[0] for p in band]
        fig.add_trace(go.Scatter(x=marks + marks[::-1], y=[p[3] for p in band] + [p[2] for p in band][::-1],
                                 fill="toself", fillcolor=colour, opacity=0.15, line={"width": 0},
                                 hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=marks, y=[p[1] for p in band], mode="lines+markers", line={"color": colour},
                                 name=f"{g.model.upper()} {g.variant} (median of {len(g.runs)} seeds)",
                                 customdata=[[p[2], p[3], p[4]] for p in band],
                                 hovertemplate="%{x:,} updates: median %{y:.2f} [%{customdata[0]:.2f}, "
                                               "%{customdata[1]:.2f}] over %{customdata[2]} seeds<extra></extra>"))
    task = groups[0].task if groups else "copy"
    fig.add_hline(y=TARGETS[task], line_dash="dash", line_color="grey",
                  annotation_text=f"target {TARGETS[task]:g}", annotation_position="top right")
    fig.update_layout(title=title, height=360, xaxis_title="training updates",
                      yaxis_title="validation bit errors / sequence", margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def generalisation_figure(rows: list[dict]) -> go.Figure:
    """Bit errors per sequence against the level, one line per model, chance and the trained maximum marked."""
    fig = go.Figure()
    for name in dict.fromkeys(row["name"] for row in rows):
        mine = sorted((row for row in rows if row["name"] == name), key=lambda row: row["level"])
        fig.add_trace(go.Scatter(x=[row["level"] for row in mine], y=[row["bit_errors"] for row in mine],
                                 mode="lines+markers", line={"color": COLOURS.get(mine[0]["model"])},
                                 name=f"{mine[0]['model'].upper()} (N = {mine[0]['memory_slots']:,})"))
    levels = sorted({row["level"] for row in rows})
    chance = [next(row["chance"] for row in rows if row["level"] == level) for level in levels]
    fig.add_trace(go.Scatter(x=levels, y=chance, mode="lines", name="chance (guessing)",
                             line={"color": "grey", "dash": "dot"}))
    fig.add_vline(x=rows[0]["trained_max_level"], line_dash="dash", line_color="grey",
                  annotation_text="longest trained", annotation_position="top left")
    fig.update_layout(title=f"{_task_label(rows[0]['task'])}: past the trained length", height=360,
                      xaxis_title="level (items)" if rows[0]["task"] == "associative_recall" else "level",
                      yaxis_title="bit errors / sequence", margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def generalisation_sentence(rows: list[dict]) -> str:
    """The longest level's errors per model and chance, read from the rows the figure draws."""
    top = max(row["level"] for row in rows)
    at_top = [row for row in rows if row["level"] == top]
    trained = rows[0]["trained_max_level"]
    said = ", ".join(f"{row['model'].upper()} {row['bit_errors']:.2f}" for row in at_top)
    return (f"Trained on at most {trained}; at {top} ({top / trained:g}× that) the bit errors per sequence are "
            f"{said}, where guessing makes {at_top[0]['chance']:.1f}.")


def _updates(value) -> str:
    return "not reached" if value is None else f"{value:,.0f}"


def comparison_sentence(runs: list[curves.Run], task: str) -> str | None:
    """What the shipped NTM and SAM runs of `task` say about the paper's claim, in words chosen by the numbers."""
    by_model = {run.model: run for run in runs}
    ntm, sam = by_model.get("ntm"), by_model.get("sam")
    if ntm is None or sam is None:
        return None
    a, b = ntm.updates_to_target, sam.updates_to_target
    if a is None or b is None:
        return (f"One run each, each with its own settings (not a test of the claim): on {_task_label(task)} the NTM "
                f"reached the target at {_updates(a)} updates and SAM at {_updates(b)}.")
    if b < a:
        verdict = f"SAM needed {a / b:.1f}× fewer updates than the NTM"
    elif b > a:
        verdict = f"SAM needed {b / a:.1f}× more updates than the NTM"
    else:
        verdict = "SAM and the NTM needed the same number of updates"
    return (f"One run each, each with its own settings (not a test of the claim): on {_task_label(task)} the NTM "
            f"reached the target at {a:,} updates and SAM at {b:,}: {verdict}.")


def grid_sentence(groups: list[curves.Group]) -> str | None:
    """What a grid with the NTM and SAM under the same variant says about the paper's claim: their median
    updates to target over seeds (the table's figures), in words chosen by the numbers; None without such a pair.
    Where the medians of the held target (curves.HELD_VALIDATIONS validations in a row) say otherwise, a second
    sentence gives them: a verdict that rests on one noisy validation is said to."""
    by_key = {(g.model, g.variant): g for g in groups}
    pair = next(((by_key["ntm", v], by_key["sam", v]) for m, v in sorted(by_key)
                 if m == "ntm" and ("sam", v) in by_key), None)
    if pair is None:
        return None
    ntm, sam = pair
    first = _medians_and_verdict(ntm, sam, lambda run: run.updates_to_target)
    held = _medians_and_verdict(ntm, sam, lambda run: run.updates_to_held_target)
    sentence = f"Median updates to the target over seeds ({ntm.variant} settings): {first[0]} — {first[1]}."
    if held[1] != first[1]:
        sentence += (f" Held there (the mean of {curves.HELD_VALIDATIONS} validations in a row at or below the "
                     f"target), the medians are {held[0]} — {held[1]}.")
    return sentence


def _medians_and_verdict(ntm: curves.Group, sam: curves.Group, to_target) -> tuple[str, str]:
    """("NTM …, SAM …", verdict) for one reading of a run's updates to target (`to_target(run)`, None if never)."""
    def median(group: curves.Group) -> float | None:
        return curves.median_of_reached([to_target(run) for run in group.runs])

    def said(group: curves.Group) -> str:
        seeds = f"{sum(to_target(r) is not None for r in group.runs)} of {len(group.runs)} seeds reached it"
        if median(group) is None:
            # the budget of the runs that missed (a run that reached the target may have stopped early)
            done = sorted({r.updates_done for r in group.runs if to_target(r) is None})
            budget = f"{done[0]:,}" if len(done) == 1 else f"{done[0]:,}-{done[-1]:,}"
            return f"not reached within {budget} ({seeds})"
        return f"{median(group):,.0f} ({seeds})"

    def missed_at(group: curves.Group) -> int:
        """The fewest updates a run that missed the target was trained for: a median that is a miss lies past it."""
        return min(r.updates_done for r in group.runs if to_target(r) is None)

    a, b = median(ntm), median(sam)
    # a median that is a miss is only known to lie past the budget of its runs: it cannot be compared with a
    # median beyond that budget (say SAM's at 35,000 against NTM runs that stopped at 20,000)
    if b is not None and a is None and b > missed_at(ntm):
        verdict = (f"not comparable yet: the NTM runs that missed it stopped at {missed_at(ntm):,}, "
                   "before SAM's median")
    elif a is not None and b is None and a > missed_at(sam):
        verdict = (f"not comparable yet: the SAM runs that missed it stopped at {missed_at(sam):,}, "
                   "before the NTM's median")
    elif b is not None and (a is None or b < a):
        verdict = "SAM learns faster, as in the paper's Fig. 2"
    elif a is not None and (b is None or b > a):
        verdict = "SAM learns slower, the opposite of the paper's Fig. 2"
    elif a is None:
        verdict = "neither within this budget"
    else:
        verdict = "the same median"
    return f"NTM {said(ntm)}, SAM {said(sam)}", verdict


def _how_trained(run: curves.Run) -> str:
    words = run.command.split()
    start = words[words.index("--start-level") + 1] if "--start-level" in words[:-1] else "?"
    return f"curriculum from level {start}"


def curriculum_sentence(runs: list[curves.Run]) -> str | None:
    """Where the shipped runs' curricula moved: validation covers the whole range throughout, so a run trained on
    short sequences only scores badly on it until the curriculum reaches the long ones."""
    moved = [run for run in runs if run.advances]
    if not moved:
        return None

    def start(run: curves.Run) -> str:
        words = run.command.split()
        return words[words.index("--start-level") + 1] if "--start-level" in words[:-1] else "?"
    said = "; ".join(f"{run.model.upper()} h {start(run)} " + ", ".join(f"→ {level} at {step:,}"
                                                                      for step, level in run.advances)
                     for run in moved)
    return (f"Curriculum moves ({said}): validation covers the whole range throughout, so a run's error stays high "
            "while it trains on short sequences only and can fall steeply once training reaches the long ones.")


def rise_sentence(runs: list[curves.Run]) -> str | None:
    """The runs whose validation rose, between two neighbouring validations, by more than a quarter of its first
    value: measured, not a drawing error."""
    said = []
    for run in runs:
        rise = run.largest_rise()
        if rise is not None and rise[3] - rise[1] > run.curve[0][1] / 4:
            before, low, after, high = rise
            said.append(f"{run.model.upper()} {low:.2f} → {high:.2f} (updates {before:,} → {after:,})")
    if not said:
        return None
    return ("Jumps back up between neighbouring validations, as measured (every validation is drawn, with a "
            "marker): " + "; ".join(said) + ".")


# the settings that decide how a run learns, compared between a shipped run and a grid's (a flag that only one
# command states counts as different: older commands leave out settings added since)
KEY_FLAGS = ("--slots", "--word-size", "--heads", "--k", "--controller", "--batch", "--lr", "--optimizer", "--clip",
             "--start-level", "--threshold", "--initial-rows", "--index")


def _flags(command: str) -> dict[str, str]:
    words = shlex.split(command)
    return {word: words[i + 1] for i, word in enumerate(words[:-1])
            if word.startswith("--") and not words[i + 1].startswith("--")}


def setting_differences(a: str, b: str) -> list[str]:
    """The KEY_FLAGS two training commands set differently (or that only one of them states)."""
    first, second = _flags(a), _flags(b)
    return [flag for flag in KEY_FLAGS if first.get(flag) != second.get(flag)]


def shipped_against_grid_sentence(shipped: curves.Run, seeds: list[curves.Run]) -> str | None:
    """Why a shipped run (one seed) and an earlier grid's runs of the same model, task and key settings (other
    seeds) can disagree, with each run's updates to target; None when they agree (all reached, or none), or when
    a key setting differs (then they are not the same experiment)."""
    reached = [r for r in seeds if r.updates_to_target is not None]
    if not seeds or (shipped.updates_to_target is not None) == (len(reached) == len(seeds)):
        return None
    if setting_differences(shipped.command, seeds[0].command):
        return None
    missed = [r for r in [*seeds, shipped] if r.updates_to_target is None]
    per_seed = "; ".join(
        f"seed {r.seed} at {r.updates_to_target:,}" if r.updates_to_target is not None
        else f"seed {r.seed} not within {r.updates_done:,}, best {r.best:.1f}" for r in seeds)
    model = shipped.model.upper()
    return (f"Why both can be true: the shipped {model} (seed {shipped.seed}) reached the target at "
            f"{_updates(shipped.updates_to_target)} updates, and the earlier grid's {model}, with the same model, "
            f"optimiser and curriculum settings, reached it on {len(reached)} of {len(seeds)} seeds ({per_seed}). "
            f"Both are measured: on this task the {model}'s time to the target varies widely from seed to seed — "
            f"{len(missed)} of {len(seeds) + 1} seeds had not reached it when their runs ended — so one seed, "
            "shipped or not, says little about the model. The study above uses 5-8 fresh seeds per model.")


# ------------------------------------------------------------------------------------------ the study
def _study_colour(arm: str) -> str:
    """The arm's model's colour (the faiss arm is SAM: same colour, told apart by its dash)."""
    return COLOURS.get(next(a.model for a in study.ARMS if a.name == arm), "#7f7f7f")


def _log_axis(fig: go.Figure) -> None:
    fig.update_yaxes(type="log", tickvals=list(LOG_TICKS),
                     ticktext=[f"≤ {LOG_FLOOR:g}" if v == LOG_FLOOR else f"{v:g}" for v in LOG_TICKS])


def study_curves_figure(summary: study.Summary, task: str, arms: tuple[str, ...]) -> go.Figure:
    """Median (line) and range (band) over runs of each arm's marks: validation bit errors on the 640 fixed
    episodes. A finished run that stopped early keeps its last mark (the protocol's rule); a run in progress
    counts up to its last mark. Log axis; a mark of 0 is drawn at LOG_FLOOR."""
    fig = go.Figure()
    drawn: list[float] = []
    for arm in arms:
        runs = [r for r in summary.runs if r.task == task and r.arm == arm and r.marks]
        if not runs:
            continue
        by_mark: dict[int, list[float]] = {}
        for run in runs:
            for step, value in (run.curve() if run.done else run.marks):
                by_mark.setdefault(step, []).append(max(value, LOG_FLOOR))
        marks = sorted(by_mark)
        drawn += [v for values in by_mark.values() for v in values]
        median = [_median(by_mark[m]) for m in marks]
        low, high = [min(by_mark[m]) for m in marks], [max(by_mark[m]) for m in marks]
        colour, label = _study_colour(arm), study.ARMS_BY_KEY[task, arm].label
        dash = "dash" if arm == "sam_faiss65536" else "solid"
        fig.add_trace(go.Scatter(x=marks + marks[::-1], y=high + low[::-1], fill="toself", fillcolor=colour,
                                 opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=marks, y=median, mode="lines", line={"color": colour, "dash": dash},
                                 name=f"{label} (median of {len(runs)} run{'s' * (len(runs) != 1)})",
                                 customdata=[[low[i], high[i], len(by_mark[m])] for i, m in enumerate(marks)],
                                 hovertemplate="%{x:,} updates: median %{y:.3g} [%{customdata[0]:.3g}, "
                                               "%{customdata[1]:.3g}] over %{customdata[2]} runs<extra></extra>"))
    fig.add_hline(y=TARGETS[task], line_dash="dot", line_color="grey")
    # on a log axis an annotation's y is log10 of the value (add_hline's own annotation lands elsewhere)
    fig.add_annotation(x=1, xref="paper", xanchor="right", y=math.log10(TARGETS[task]), yanchor="bottom",
                       text=f"target {TARGETS[task]:g}", showarrow=False, font={"color": "grey"})
    fig.update_layout(title=f"{_task_label(task)}: median and range over runs", height=360,
                      xaxis_title="training updates", yaxis_title="bit errors / sequence (log)",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    _log_axis(fig)
    values = drawn + [TARGETS[task]]
    fig.update_yaxes(range=[math.log10(min(values) / 1.5), math.log10(max(values) * 1.5)])
    fig.update_xaxes(range=[0, max(study.ARMS_BY_KEY[task, arm].budget for arm in arms)])
    return fig


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def time_to_target_figure(summary: study.Summary, task: str, arms: tuple[str, ...]) -> go.Figure:
    """The Kaplan-Meier fraction of each arm's finished runs that have reached the target by each update, a
    step line to the budget; "+" marks where runs that never reached it are censored (the budget)."""
    fig = go.Figure()
    for arm in arms:
        row = summary.row(task, arm)
        if not row.done:
            continue
        colour, dash = _study_colour(arm), "dash" if arm == "sam_faiss65536" else "solid"
        steps = stats.kaplan_meier([t for t, _ in row.times], [e for _, e in row.times])
        x, y = [0], [0.0]
        for time, surviving in steps:
            x.append(time)
            y.append(1 - surviving)
        x.append(row.budget)
        y.append(y[-1])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"color": colour, "dash": dash, "shape": "hv"},
                                 name=f"{row.label} ({row.reached} of {row.done} reached it)",
                                 hovertemplate="%{x:,} updates: %{y:.0%} of runs at the target<extra></extra>"))
        censored = row.done - row.reached
        if censored:
            fig.add_trace(go.Scatter(x=[row.budget], y=[y[-1]], mode="markers", showlegend=False,
                                     marker={"symbol": "cross-thin-open", "size": 14, "color": colour,
                                             "line": {"width": 2, "color": colour}},
                                     hovertemplate=f"{row.label}: {censored} run(s) not at the target by the budget"
                                                   f" ({row.budget:,}): censored<extra></extra>"))
    if not fig.data:
        fig.add_annotation(text="no finished run yet", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.update_layout(title=f"{_task_label(task)}: time to target (Kaplan-Meier)", height=360,
                      xaxis_title="training updates", yaxis_title="fraction of finished runs at the target",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%")
    fig.update_xaxes(range=[0, max(study.ARMS_BY_KEY[task, arm].budget for arm in arms) * 1.02])
    return fig


@st.cache_data(show_spinner=False, max_entries=2)
def _study_summary(stamp: float) -> study.Summary:
    """The study's summary from its export; `stamp` (the file's modification time) renews the cache."""
    return study.summarise(study.read_export())


def _group_sentence(summary: study.Summary, task: str, arms: tuple[str, ...]) -> str:
    if arms == ("dnc", "sdnc"):
        return study.pair_verdict(summary, "dnc-sdnc")
    if arms == ("sam", "sam_faiss65536"):
        return study.pair_verdict(summary, "faiss")
    return study.task_verdict(summary, task)


def study_table_markdown(summary: study.Summary) -> str:
    return markdown_table(study.table_rows(summary))


def render_study() -> None:
    st.header("The confirmatory study")
    st.markdown(f"**What the paper found.** {PAPER_CLAIM} **What this study asks:** the same, once, with everything "
                "fixed in advance (the protocol, docs/LEARNING_STUDY.md, was committed before the first run): NTM, "
                "DAM and SAM with the same 4 heads, K = 4, a 100-unit LSTM and batch 8; 5-8 fresh seeds per model; "
                "the paper's priority sort (20 inputs → the top 16); validation at fixed marks on 640 fixed "
                "episodes that drive nothing; exact permutation tests against SAM; plus the DNC against the SDNC, "
                "and SAM with the faiss index at 2^16 slots against the exact search at 128.")
    path = study.EXPORT_FILE
    stamp = path.stat().st_mtime if path.is_file() else 0.0
    summary = _study_summary(stamp)
    sentence = study.status_sentence(summary)
    if summary.complete:
        st.success(sentence)
    else:
        st.info(sentence)
    st.markdown("**Verdicts, computed from the statistics below** (an adjusted p below 0.05 is a detected "
                "difference; \"no difference detected\" does not mean equal — the intervals say how large a "
                "difference the runs leave open):")
    st.markdown("\n".join(f"- {_group_sentence(summary, task, arms)}" for task, arms, _ in STUDY_GROUPS))
    st.markdown(study_table_markdown(summary))
    if study.DEVIATIONS_FILE.is_file():
        st.markdown(f"**Deviations from the protocol.** {study.DEVIATIONS_FILE.read_text()}")
    st.caption("Updates to target: the first mark (every 500 updates) whose mean bit errors over the 640 episodes "
               "is at or below the target (copy 0.1, recall 0.5, sort 8.0); a run that never gets there is censored "
               "at its budget. Mean updates are capped at the budget. Mean log10 error: the area under "
               "log10(errors + 0.01) over the budget, divided by it (lower is better). Intervals: bootstrap, 10,000 "
               "resamples, seed 2027. p: exact two-sided permutation test against the sparse model; NTM and DAM "
               "against SAM Holm-adjusted per task. Only finished runs count. In the charts, a run that stopped at "
               "its stop target is carried at its last mark to the budget (the protocol's rule: the flat stretch "
               "is not measured); a run in progress counts up to its last mark.")
    for tab, (task, arms, _label) in zip(st.tabs([label for _, _, label in STUDY_GROUPS]), STUDY_GROUPS, strict=True):
        with tab:
            if not any(r.marks for r in summary.runs if r.task == task and r.arm in arms):
                stage = study.ARMS_BY_KEY[task, arms[-1]].stage
                st.caption(f"No run of this group has started yet: it is stage {stage} of the protocol's order "
                           f"({study.STAGES[stage]}).")
                continue
            st.plotly_chart(study_curves_figure(summary, task, arms),
                            config=figures.png_config(f"study-{task}-{'-'.join(arms)}"), width="stretch")
            st.plotly_chart(time_to_target_figure(summary, task, arms),
                            config=figures.png_config(f"study-time-{task}-{'-'.join(arms)}"), width="stretch")
            st.markdown(_group_sentence(summary, task, arms))


# ---------------------------------------------------------------------------------------------- long curriculum
# Issue 26 item 4: the paper's long-sequence curriculum (Fig. 3). Reads only assets/long_curriculum/*.json
# (samviz.long_evaluation writes them); the sentences are long_evaluation's, from the same rows the charts draw.
@st.cache_data(show_spinner=False, max_entries=4)
def _long_curriculum() -> tuple[dict, dict]:
    return long_eval.read_assets()


def long_curriculum_figure(curriculum: dict) -> go.Figure:
    """The curriculum level h against training updates, one step line per run (log2 axis), the ceiling marked. A
    continuation of another run is drawn dotted from that run's update where it took the weights (its x offset)."""
    fig = go.Figure()
    for run in curriculum.get("runs", []):
        offset = (run.get("continues") or {}).get("step", 0)
        steps = [offset + step for step, _ in run["advances"]] + [offset + run["step"]]
        levels = [level for _, level in run["advances"]] + [run["level"]]
        name = long_eval.MODEL_NAMES.get(run["kind"], run["kind"].upper())
        fig.add_trace(go.Scatter(x=steps, y=levels, mode="lines+markers", line={"shape": "hv",
                                 "color": COLOURS.get(run["kind"]), "dash": "dot" if offset else "solid"},
                                 name=f"{name} ({run['run']}" + (", continued" if offset else "") + ")",
                                 hovertemplate="update %{x:,}: h = %{y:,} items<extra></extra>"))
    ceilings = {run["ceiling"] for run in curriculum.get("runs", []) if run.get("ceiling")}
    for ceiling in ceilings:
        fig.add_hline(y=ceiling, line_dash="dash", line_color="grey", annotation_text=f"ceiling {ceiling:,}",
                      annotation_position="bottom right")
    fig.update_layout(title="Long curriculum: level h (items) against updates", height=360,
                      xaxis_title="training updates", yaxis_title="curriculum level h (items)",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(type="log", dtick=math.log10(2), tickformat=",d")
    return fig


def long_evaluation_figure(rows: list[dict]) -> go.Figure:
    """Bit errors ÷ chance against the test length (log), one line per (run, N, index): each run's latest checkpoint,
    one point per length (the row over the most episodes), each with its 95% interval
    (long_evaluation.bit_error_interval); chance (1) and the issue's bar at 10× (0.25) drawn."""
    fig = go.Figure()
    latest = long_eval.latest_rows(rows)
    series = dict.fromkeys((r["checkpoint"], r["memory_slots"], r.get("index")) for r in latest)
    for checkpoint, slots, index in series:
        mine = [r for r in latest if (r["checkpoint"], r["memory_slots"], r.get("index")) == (checkpoint, slots, index)]
        # one point per length: of rows evaluated at the same length, the one over the most episodes (what the
        # sentences and the bar read, long_evaluation._headline_row and bar_verdict)
        mine = sorted({r["level"]: r for r in sorted(mine, key=lambda r: r["episodes"])}.values(),
                      key=lambda r: r["level"])
        first = mine[0]
        label = f"{long_eval.run_label(first)}, N = {long_eval._slots(slots)}, {index or 'dense'}"
        # the 95% interval of each point (the table's column, ÷ chance); a row without per-episode errors: none
        bounds = [long_eval.bit_error_interval(r) or (r["bit_errors"], r["bit_errors"]) for r in mine]
        fig.add_trace(go.Scatter(x=[r["level"] for r in mine], y=[r["ratio_to_chance"] for r in mine],
                                 error_y={"type": "data", "symmetric": False, "thickness": 1,
                                          "array": [(high - r["bit_errors"]) / r["chance"]
                                                    for r, (_, high) in zip(mine, bounds, strict=True)],
                                          "arrayminus": [(r["bit_errors"] - low) / r["chance"]
                                                         for r, (low, _) in zip(mine, bounds, strict=True)]},
                                 mode="lines+markers", name=label,
                                 line={"color": COLOURS.get(first.get("kind")),
                                       "dash": "dot" if index == "exact" else "solid"},
                                 marker={"symbol": "circle" if slots >= 1 << 20 else "square"},
                                 customdata=[[r["bit_errors"], r["episodes"], r["trained_level"]] for r in mine],
                                 hovertemplate="%{x:,} items: %{y:.3f} of chance (%{customdata[0]:.2f} bit errors "
                                               "per query, %{customdata[1]} episodes; trained to h = "
                                               "%{customdata[2]:,})<extra></extra>"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey", annotation_text="chance (guessing)",
                  annotation_position="top left")
    fig.add_hline(y=long_eval.DONE_WHEN_RATIO_AT_10X, line_dash="dash", line_color="grey",
                  annotation_text=f"issue's bar at 10× h: {long_eval.DONE_WHEN_RATIO_AT_10X:g} of chance",
                  annotation_position="bottom left")
    fig.update_layout(title="Past the trained length: bit errors ÷ chance", height=360, showlegend=True,
                      yaxis_title="bit errors per query ÷ chance",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    highest = max(((long_eval.bit_error_interval(r) or (0, r["bit_errors"]))[1] / r["chance"] for r in latest),
                  default=1.0)
    fig.update_yaxes(range=[0, max(1.15, highest * 1.1)])
    # one tick per power of ten (the benchmark charts' rule): plotly's default log ticks read "5, 6, …, 100, 2, 3",
    # and a tick at every tested length overlaps where two runs' lengths are close; the hover gives each length
    fig.update_xaxes(**log_axis([r["level"] for r in latest], "test length (items)"))
    return fig


def render_long_curriculum() -> None:
    st.header("The long-sequence curriculum (issue 26; the paper's Fig. 3)")
    try:
        curriculum, evaluation = _long_curriculum()
    except ValueError as problem:
        st.warning(f"The long-curriculum files could not be read: {problem}")
        return
    if not curriculum.get("runs") and not evaluation.get("rows"):
        st.info("No long-curriculum run has been exported yet (assets/long_curriculum/).")
        return
    interim = long_eval.interim_status(curriculum, evaluation.get("rows", []))
    st.caption((interim.replace("INTERIM:", "**INTERIM** —", 1) + " " if interim else "")
               + long_eval.setting_sentence(curriculum) + " Tested on fresh episodes at h, 10× h and 100× h, "
               "forward only; chance is half the answer's bits; each figure with its 95% interval (a bootstrap "
               "over the row's episodes, one query each). Reproduce: the commands in pretrained/README.md, "
               "\"Long-sequence curriculum\" (`python -m samviz.long_evaluation --help`).")
    if curriculum.get("runs"):
        st.plotly_chart(long_curriculum_figure(curriculum), config=figures.png_config("long-curriculum"),
                        width="stretch")
        st.markdown("\n".join(f"- {s}" for s in long_eval.curriculum_sentences(curriculum)))
    if evaluation.get("rows"):
        st.plotly_chart(long_evaluation_figure(evaluation["rows"]),
                        config=figures.png_config("long-curriculum-evaluation"), width="stretch")
        st.markdown(markdown_table(long_eval.table_rows(evaluation["rows"])))
        st.markdown("\n".join(f"- {s}" for s in long_eval.evaluation_sentences(evaluation["rows"])))


# ------------------------------------------------------------------------------------------ the page

def render() -> None:
    st.title("Learning curves")
    render_study()

    st.header("Earlier runs: uncontrolled, or earlier settings")
    st.caption("What samviz measured before the study. None of it tests the paper's claim the way the study above "
               "does: the shipped models are one seed each with their own settings; the earlier grids used 3 seeds "
               "(the same seeds that chose SAM's settings), fewer heads for the NTM than for SAM, and a validation "
               "of 64 episodes scored again at every check.")
    shipped = _shipped()
    grids = _grids()
    st.subheader("The shipped models' own training runs (uncontrolled)")
    st.caption("One training run per model and task (one seed), each with its own settings (curriculum start, "
               "heads, budget): a record of how the shipped checkpoints were made, not a comparison. *Updates to "
               "target*: the first validation at or below the task's target ("
               + ", ".join(f"{_task_label(t)} {TARGETS[t]:g}" for t in TASK_ORDER) + " bit errors per sequence).")
    for task in TASK_ORDER:
        runs = [run for run in shipped if run.task == task]
        if not runs:
            continue
        st.markdown(f"**{_task_label(task).capitalize()}**")
        st.plotly_chart(shipped_figure(runs, task), config=figures.png_config(f"curves-{task}"), width="stretch")
        st.dataframe([{"model": run.model.upper(), "seed": run.seed,
                       "updates to target": _updates(run.updates_to_target),
                       "updates trained": f"{run.updates_done:,}", "best validation": round(run.best, 3),
                       "how": _how_trained(run)} for run in runs], hide_index=True, width="stretch")
        notes = [comparison_sentence(runs, task), curriculum_sentence(runs), rise_sentence(runs)]
        for run in runs:
            seeds = [r for rows in grids.values() for r in rows
                     if r.task == task and r.model == run.model and r.variant == "default"]
            # one grid per (model, task): the longest-trained runs
            longest = {}
            for r in seeds:
                if r.seed not in longest or r.updates_done > longest[r.seed].updates_done:
                    longest[r.seed] = r
            notes.append(shipped_against_grid_sentence(run, [longest[k] for k in sorted(longest)]))
        said = [note for note in notes if note]
        if said:
            st.markdown("\n".join(f"- {note}" for note in said))

    stored = _generalisation()
    if stored:
        st.subheader("Longer than trained (the shipped models)")
        st.caption("Each shipped model on fresh episodes (the same for every model) at levels up to 10× the "
                   "longest it was trained on. Not the same memory for every model: the sparse models run with "
                   "65,536 slots, the dense ones with the 128 (the DNC 64) they were trained with. Each runs at a "
                   "size its cost allows — a dense step reads and writes every slot, so at 65,536 slots it would "
                   "cost 512× its step at 128 — and the paper's long-episode claim is about a large sparse memory. "
                   "60 items need at most 60 slots if each is kept in one, fewer than 128 (the DNC's 64 hold them "
                   "only just), so the chart asks about length more than room; a model also writes on steps that "
                   "hold no item. Reproduce: `python -m samviz.generalisation --help`.")
        for task, rows in stored.items():
            st.plotly_chart(generalisation_figure(rows), config=figures.png_config(f"generalisation-{task}"),
                            width="stretch")
            st.markdown(generalisation_sentence(rows))

    st.subheader("Earlier multi-seed grids (earlier settings)")
    st.caption("Seeds 1-3, the shipped settings of their time (the NTM with fewer read heads than SAM), 64 "
               "validation episodes scored again at every check. *Updates to target*: the first validation at or "
               "below the target; one dip can cross it by noise, so *updates to held target* asks that the mean of "
               f"{curves.HELD_VALIDATIONS} validations in a row, from such a one on, be at or below it too — 4 "
               "scorings of the same episodes by successive weights, not more episodes. A median counts a seed "
               "that never reached the target as slower than any that did.")
    if not grids:
        st.info("No exported experiment grid was found in assets/learning_curves/.")
    for name, runs in grids.items():
        groups = curves.group(runs)
        task = groups[0].task
        st.markdown(f"**{name}**")
        st.plotly_chart(grid_figure(groups, 1000, f"{_task_label(task)}: median and range over seeds"),
                        config=figures.png_config(f"curves-{name}"), width="stretch")
        # a markdown table: its cells wrap, so no column is cut at 1280×720 (a dataframe scrolls sideways)
        st.markdown(markdown_table([{
            "model": g.model.upper(), "variant": g.variant, "reached target": f"{g.reached}/{len(g.runs)}",
            "median updates to target (per seed)": f"{_updates(g.median_updates_to_target)} ("
            + ", ".join(_updates(r.updates_to_target) for r in g.runs) + ")",
            "median updates to held target (per seed)": f"{_updates(g.median_updates_to_held_target)} ("
            + ", ".join(_updates(r.updates_to_held_target) for r in g.runs) + ")",
            "best validation per seed": ", ".join(f"{r.best:.2f}" for r in g.runs)} for g in groups]))
        sentence = grid_sentence(groups)
        if sentence:
            st.markdown(sentence)
        with st.expander(f"Reproduce {name}"):
            st.markdown("Each run is an ordinary `python -m samviz.train` run (resumable with `--resume`); one "
                        "seed's command per variant below (the others differ only in `--seed`). The grid is run "
                        "and exported with `scripts/learning_curves.py run … / export …` (docs/LEARNING_CURVES.md "
                        "gives each grid's command and what it showed).")
            st.code("\n".join(g.runs[0].command for g in groups if g.runs[0].command) or "(no command recorded)",
                    language="bash")

    render_long_curriculum()
