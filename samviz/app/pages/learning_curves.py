"""Learning curves: how many training updates each model needed, beside the paper's Fig. 2 claim.

Thin over samviz.learning_curves (the data) — the shipped checkpoints' own training logs and the experiment
grids exported by scripts/learning_curves.py. Every number in a sentence here is read from the runs the chart
beside it draws.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from samviz import generalisation
from samviz import learning_curves as curves
from samviz.app import figures
from samviz.tasks import TARGETS

PAPER_CLAIM = ("Rae et al. 2016, Fig. 2: SAM *trains comparably* to the NTM on copy and *reaches its asymptotic "
               "error faster* on associative recall and priority sort.")
TASK_ORDER = ("copy", "associative_recall", "priority_sort")
COLOURS = {"ntm": "#1f77b4", "dam": "#9467bd", "sam": "#d62728", "dnc": "#2ca02c", "sdnc": "#ff7f0e"}
GRID_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


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
        fig.add_trace(go.Scatter(x=steps, y=errors, mode="lines", name=run.model.upper(),
                                 line={"color": COLOURS.get(run.model)}))
    fig.add_hline(y=TARGETS[task], line_dash="dash", line_color="grey",
                  annotation_text=f"target {TARGETS[task]:g}", annotation_position="top right")
    fig.update_layout(title=f"{_task_label(task)}: the shipped models' training runs", height=340,
                      xaxis_title="training updates", yaxis_title="validation bit errors / sequence",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
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
        return (f"On {_task_label(task)} the NTM reached the target at {_updates(a)} updates and SAM at "
                f"{_updates(b)}.")
    if b < a:
        verdict = f"SAM needed {a / b:.1f}× fewer updates than the NTM"
    elif b > a:
        verdict = f"SAM needed {b / a:.1f}× more updates than the NTM"
    else:
        verdict = "SAM and the NTM needed the same number of updates"
    return f"On {_task_label(task)} the NTM reached the target at {a:,} updates and SAM at {b:,}: {verdict}."


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


def render() -> None:
    st.title("Learning curves")
    st.markdown(f"**What the paper found.** {PAPER_CLAIM} Below: what samviz's own training runs say — measured "
                "on this project's machine, validation on the task's whole level range every 250 updates.")

    shipped = _shipped()
    st.header("The shipped models")
    st.caption("One training run per model and task (one seed), each with its own settings (curriculum start, "
               "budget): a record of how the shipped checkpoints were made, not a controlled comparison. "
               "The experiments below are. *Updates to target*: the first validation at or below the task's "
               "target (" + ", ".join(f"{_task_label(t)} {TARGETS[t]:g}" for t in TASK_ORDER)
               + " bit errors per sequence).")
    for task in TASK_ORDER:
        runs = [run for run in shipped if run.task == task]
        if not runs:
            continue
        st.subheader(_task_label(task).capitalize())
        left, right = st.columns([3, 2])
        left.plotly_chart(shipped_figure(runs, task), config=figures.png_config(f"curves-{task}"), width="stretch")
        right.dataframe([{"model": run.model.upper(), "updates to target": _updates(run.updates_to_target),
                          "updates trained": f"{run.updates_done:,}", "best validation": round(run.best, 3),
                          "how": _how_trained(run)} for run in runs], hide_index=True, width="stretch")
        sentence = comparison_sentence(runs, task)
        if sentence:
            right.markdown(sentence)

    stored = _generalisation()
    if stored:
        st.header("Longer than trained")
        st.caption("Each shipped model on fresh episodes (the same for every model) at levels up to 10× the "
                   "longest it was trained on; the sparse models with a large memory, as the paper's long-episode "
                   "claim is about large memories. Reproduce: `python -m samviz.generalisation --help`.")
        for task, rows in stored.items():
            st.plotly_chart(generalisation_figure(rows), config=figures.png_config(f"generalisation-{task}"),
                            width="stretch")
            st.markdown(generalisation_sentence(rows))

    st.header("Experiments: several seeds, the same budget")
    st.caption("*Updates to target*: the first validation at or below the target. One validation is a few dozen "
               "episodes (64 on priority sort), so one dip can cross the target by noise; *updates to held "
               f"target* asks that the mean of {curves.HELD_VALIDATIONS} validations in a row, from such a one on, "
               "be at or below it too. A median counts a seed that never reached the target as slower than any that "
               "did.")
    grids = _grids()
    if not grids:
        st.info("No exported experiment grid was found in assets/learning_curves/.")
    for name, runs in grids.items():
        groups = curves.group(runs)
        task = groups[0].task
        st.subheader(name)
        st.plotly_chart(grid_figure(groups, 1000, f"{_task_label(task)}: median and range over seeds"),
                        config=figures.png_config(f"curves-{name}"), width="stretch")
        st.dataframe([{"model": g.model.upper(), "variant": g.variant, "seeds": len(g.runs),
                       "reached target": f"{g.reached}/{len(g.runs)}",
                       "median updates to target": _updates(g.median_updates_to_target),
                       "updates to target per seed": ", ".join(_updates(r.updates_to_target) for r in g.runs),
                       "median updates to held target": _updates(g.median_updates_to_held_target),
                       "updates to held target per seed": ", ".join(_updates(r.updates_to_held_target)
                                                                    for r in g.runs),
                       "best validation per seed": ", ".join(f"{r.best:.2f}" for r in g.runs)}
                      for g in groups], hide_index=True, width="stretch")
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
