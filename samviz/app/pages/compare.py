"""Compare: one episode through a dense model and a sparse one, side by side, on one clock.

The two traced episodes go to the browser's episode view once (samviz/app/episode_view: payload.compare); the
lines over time, each model's narration, weights and bits follow one clock there, stepped, scrubbed and played
with no rerun of this script. The address keeps the step (the view writes it).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from samviz.app import episode_view, figures, loaders, params, state
from samviz.app import trace_stats as stats
from samviz.app.episode_view import payload
from samviz.bench import FORWARD_RESULTS, cost, plots
from samviz.bench.forward import DEFAULT_COMMAND, read_forward_rows
from samviz.kinds import DENSE_MODELS, INDEXES, SPARSE_MODELS, spec

PAGE = "compare"


sparse_partner = params.sparse_partner   # (kept here too: the page's old name for it)


def _key(name: str) -> str:
    return f"{state.KEEP}{PAGE}_{name}"


def read_link(query) -> tuple[dict, list[params.Problem]]:
    """Compare's link (params.read_compare), with its memory size checked against the SPARSE model alone: above
    the dense model's own limit the page shows the dense model's counts and an estimate instead of running it,
    so such a link is valid here."""
    settings, problems = params.read_compare({k: v for k, v in query.items() if k != "slots"})
    if "slots" in query:
        values, slot_problems = params.validate_params({"slots": query["slots"]},
                                                       defaults={"sparse": settings["sparse"], "slots": "default"})
        settings["slots"] = values.get("slots", "default")
        problems = [*problems, *slot_problems]
    return settings, problems


def _open() -> list[params.Problem]:
    """Settings from a link, or from this session when the visitor comes back from another page (the model
    and task the player showed become one of the pair and the task: params.compare_from_shared)."""
    settings, problems = state.opened(PAGE, params.COMPARE_KEYS, read_link, params.compare_from_shared)
    if settings is not None:
        for key, value in settings.items():
            st.session_state[_key(key)] = value
    for key, value in params.compare_defaults().items():
        st.session_state.setdefault(_key(key), value)
    return problems


def _publish(s: dict, step: int) -> None:
    shown = {**s, "step": step}
    state.publish(PAGE, shown, params.compare_query(shown), params.shared_from_compare(shown, state.shared()))


def _on_dense_change() -> None:
    st.session_state[_key("sparse")] = sparse_partner(st.session_state[_key("dense")])


def _on_task_change() -> None:
    st.session_state[_key("level")] = params.default_level(st.session_state[_key("task")])
    st.session_state[_key("step")] = 0


def _sidebar(problems: list[params.Problem]) -> dict:
    sb = st.sidebar
    sb.header("One episode, two models")
    sb.selectbox("Dense model", DENSE_MODELS, key=_key("dense"), format_func=str.upper,
                 on_change=_on_dense_change)
    sb.selectbox("Sparse model", SPARSE_MODELS, key=_key("sparse"), format_func=str.upper)
    sb.selectbox("Task", params.TASKS, key=_key("task"), format_func=lambda t: t.replace("_", " "),
                 on_change=_on_task_change)
    task = st.session_state[_key("task")]
    low, high = params.level_range(task)
    if not isinstance(st.session_state.get(_key("level")), int) or not low <= st.session_state[_key("level")] <= high:
        st.session_state[_key("level")] = params.default_level(task)
    sb.number_input(f"Level ({low}–{high})", min_value=low, max_value=high, step=1, key=_key("level"))
    sb.number_input("Seed", min_value=0, max_value=params.MAX_SEED, step=1, key=_key("seed"))
    sb.selectbox("Sparse index", INDEXES, key=_key("index"))
    dense, sparse = st.session_state[_key("dense")], st.session_state[_key("sparse")]
    choices = params.slot_choices(sparse)          # the sparse model's sizes; the dense one stops at its own limit
    slots = st.session_state.get(_key("slots"))
    if slots not in choices:
        if isinstance(slots, int):
            st.info(f"Memory slots back to 'default': {params.slot_limit_message(slots, sparse)}.")
        st.session_state[_key("slots")] = "default"
    dense_limit = spec(dense).app_slot_limit
    sb.selectbox("Memory slots", choices, key=_key("slots"),
                 help=f"'default': as trained (or {params.DEFAULT_SLOTS} untrained). A bigger memory slows the "
                      f"dense model's every step; the sparse one hardly notices. {sparse.upper()} runs up to "
                      f"{choices[-1]:,} slots here, {dense.upper()} up to {dense_limit:,}: above that the page shows "
                      f"what {dense.upper()} would compute and an estimate of its time instead of running it.")
    sb.caption(":material/keyboard: In the episode view: ← → step, space plays and pauses, Home and End jump; hover "
               "a time to see that step. The address bar holds this view (both models, task, level, seed, index, "
               "memory slots and step): copy it to share it.")
    state.link_problems(problems)
    return {k: st.session_state[_key(k)] for k in ("dense", "sparse", "task", "level", "seed", "index", "slots")}


def _run(kind: str, s: dict):
    index = s["index"] if spec(kind).sparse else INDEXES[0]
    model, info = loaders.load_model(kind, s["task"], index, s["slots"])
    trace = loaders.get_trace(kind, s["task"], s["level"], s["seed"], None, index, s["slots"])
    times = loaders.get_step_times(kind, s["task"], s["level"], s["seed"], index, s["slots"])
    return model, info, trace, times


def _label(kind: str, index: str | None) -> str:
    return kind.upper() if not spec(kind).sparse else f"{kind.upper()} ({index})"


def _step_cost(model, kind: str, slots: int) -> cost.StepCost:
    c = model.config
    return cost.step_cost(kind, int(slots), c.word_size, c.heads, k=c.k,
                          index=c.index if spec(kind).sparse else None, link_k=getattr(c, "link_k", 8))


def _bytes_text(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value} B"


def _cost_metrics(step: cost.StepCost, first, second) -> None:
    first.metric("multiply-adds / step", f"{step.multiply_adds:,}",
                 help="Counted, not timed: W multiply-adds for every memory row a step scores against a key, reads "
                      "into its weighted sum, or erases/adds to" + (" (its N×N links add N² per link operation)"
                      if step.kind == "dnc" else "") + (", plus the exact index's scan of all N rows per read head"
                      if step.rows_scored and spec(step.kind).sparse else "")
                      + (". The faiss index's own search is a fixed budget, not counted here"
                         if spec(step.kind).sparse and step.rows_scored is None else "")
                      + ". Formulas: samviz/bench/cost.py.")
    second.metric("kept for backprop / step", _bytes_text(step.backprop_bytes),
                  help=(f"{step.backprop_bytes:,} bytes per step that training would keep for the backward pass: "
                        + ("the benchmark's fitted bytes per slot for this dense kind (measured copies of the N×W "
                           "memory and the [heads, N] weights"
                           + (", plus 3 copies of the N×N links" if step.kind == "dnc" else "") + ")"
                           if step.estimated_bytes else
                           "the journal of the rows it writes (old row + id) and the rows it gathers to read"
                           + (", plus its journalled link rows" if spec(step.kind).temporal_links else ""))
                        + ". Nothing is trained on this page; this is what a training step would keep."))


def _sweep(task: str, kind: str, index: str | None) -> list[tuple[int, float]]:
    rows = read_forward_rows(FORWARD_RESULTS)
    return sorted((r["slots"], r["ms_per_step"]) for r in rows
                  if r.get("status") == "ok" and r.get("task") == task and r.get("model") == kind
                  and r.get("index") == index and r.get("ms_per_step"))


def _sweep_source(task: str) -> str:
    rows = [r for r in read_forward_rows(FORWARD_RESULTS) if r.get("task") == task and r.get("status") == "ok"]
    dates = sorted({str(r.get("date", ""))[:10] for r in rows if r.get("date")})
    machines = sorted({r.get("machine") for r in rows if r.get("machine")})
    return (f"measured {' … '.join(dict.fromkeys([dates[0], dates[-1]])) if dates else 'on an unrecorded date'} "
            f"on {'; '.join(machines) or 'an unrecorded machine'}")


def dense_estimate(task: str, kind: str, slots: int) -> dict | None:
    """The dense model's forward ms/step at `slots` without running it here: the stored sweep's own measurement
    at that size ("measured": True), else a power law through its largest measured sizes, extrapolated
    (samviz.bench.cost.extrapolate). None without a sweep of at least 2 sizes."""
    points = _sweep(task, kind, None)
    measured = dict(points)
    if slots in measured:
        return {"ms": measured[slots], "measured": True, "slope": None, "from_slots": [slots],
                "start": (slots, measured[slots])}
    try:
        estimate = cost.extrapolate(points, slots)
    except ValueError:
        return None
    last = max(estimate["from_slots"])
    return {**estimate, "measured": False, "start": (last, measured[last])}


def _refused_column(kind: str, s: dict, slots: int, estimate: dict | None) -> None:
    st.subheader(f"{kind.upper()} — not run")
    st.warning(f"{params.slot_limit_message(slots, kind)}. What it would compute at N = {slots:,} is counted below; "
               "its time is an **estimate**, not a measurement on this page.")
    model, _ = loaders.load_model(kind, s["task"], INDEXES[0], "default")   # its word size and heads (not N)
    step = _step_cost(model, kind, slots)
    a, b = st.columns(2)
    c, d = st.columns(2)
    a.metric("rows / step", f"{step.rows_touched:,}", help="A dense step weights every one of the N rows.")
    if estimate is None:
        b.metric("forward ms / step (estimate)", "—", help="No stored forward sweep to extrapolate from.")
    elif estimate["measured"]:
        b.metric("forward ms / step (estimate)", f"{estimate['ms']:.3g}",
                 help=f"Not measured now: the stored sweep's measurement of this model at N = {slots:,} (see the "
                      "chart below).")
    else:
        sizes = ", ".join(f"{n:,}" for n in estimate["from_slots"])
        b.metric("forward ms / step (estimate)", f"{estimate['ms']:.3g}",
                 help=f"Not measured: a power law (slope {estimate['slope']:.2f} on log-log) through the stored "
                      f"sweep's largest measured sizes ({sizes}), extrapolated to N = {slots:,}.")
    _cost_metrics(step, c, d)


def _crossover_section(s: dict, runs: dict, refused: dict, slots: int | None) -> None:
    dense, sparse, index = s["dense"], s["sparse"], s["index"]
    names = {dense: _label(dense, None), sparse: _label(sparse, index)}
    series = {names[dense]: _sweep(s["task"], dense, None), names[sparse]: _sweep(s["task"], sparse, index)}
    st.subheader("Where the curves cross, on this page's measure")
    if not all(series.values()):
        st.info(f"No stored forward sweep for {names[dense]} and {names[sparse]} on this task "
                f"({FORWARD_RESULTS} has none): make it with `{DEFAULT_COMMAND}`.")
        _why_different()
        return
    both = dict(series[names[sparse]])
    result = cost.crossover([(n, ms, both[n]) for n, ms in series[names[dense]] if n in both])
    marks = {}
    for kind, run in runs.items():
        if run[3]:
            marks[names[kind]] = (run[0].config.memory_slots, float(np.mean(run[3])))
    estimates = {}
    if dense in refused and refused[dense] is not None and not refused[dense]["measured"]:
        estimates[names[dense]] = (slots, refused[dense]["ms"], refused[dense]["start"])
    left, right = st.columns([3, 2])
    left.plotly_chart(plots.crossover_figure(series, result, marks, estimates,
                                             title="Forward ms per step against N (batch 1, stored sweep)",
                                             y_title="forward ms per step"),
                      config=figures.png_config("compare-crossover"), width="stretch")
    with right:
        st.markdown(f"**{cost.crossover_sentence(result, names[dense], names[sparse])}**")
        st.caption(f"This page's measure: a plain forward per step (no gradients), batch 1, the models this page "
                   f"runs on the {s['task'].replace('_', ' ')} task at its default level, seed 0, one thread; "
                   f"{_sweep_source(s['task'])}. Made by `{DEFAULT_COMMAND}`. The stars are this page's own "
                   "measurement now; an open circle is an estimate for a model not run.")
    _why_different()


def _why_different() -> None:
    st.markdown(
        "**Why the [Scaling lab](scaling_lab) finds its crossover at a different N.** The lab times a *training* "
        "step — forward + backward — of its benchmark model with **batch 8** and **4 heads**. Backward makes a "
        "dense step far dearer: autograd keeps a copy of the N-slot memory (and the weights over N) for every step "
        "and walks them again, while SAM's journal keeps only the rows it wrote. A batch of 8 and 4 heads multiply "
        "the dense model's N·W arithmetic, but not the fixed Python overhead of each step (the controller, the "
        "sparse model's index and bookkeeping), which is what a batch-1 forward here mostly measures at small N.")


def render() -> None:
    state.keep_widget_state()
    problems = _open()
    st.title("Compare: dense vs sparse")
    s = _sidebar(problems)
    st.caption(params.task_info(s["task"]).describe())
    slots = s["slots"] if isinstance(s["slots"], int) else None
    refused: dict = {}
    runs = {}
    for kind in (s["dense"], s["sparse"]):
        if slots is not None and not spec(kind).sparse and slots > spec(kind).app_slot_limit:
            refused[kind] = dense_estimate(s["task"], kind, slots)
            continue
        try:
            runs[kind] = _run(kind, s)
        except ValueError as error:
            st.error(f"{kind.upper()} cannot run: {error}")
    if not runs:
        _publish(s, st.session_state[_key("step")])
        return

    heads = {kind: run[0].config.heads for kind, run in runs.items()}
    said = ", ".join(f"{kind.upper()} {h} read head{'s' if h != 1 else ''}" for kind, h in heads.items())
    if len(set(heads.values())) > 1:
        st.info(f"The same episode through two models that do **not** have the same number of read heads ({said}): "
                "each runs as it was trained, so the rows touched and the time per step are per model, not per head.")
    shown = [kind for kind in (s["dense"], s["sparse"]) if kind in runs or kind in refused]
    columns = st.columns(len(shown))
    for column, kind in zip(columns, shown, strict=True):
        with column:
            if kind in refused:
                _refused_column(kind, s, slots, refused[kind])
                continue
            model, info, trace, times = runs[kind]
            st.subheader(kind.upper())
            source = "pretrained" if info["source"] == "pretrained" else "untrained (random weights)"
            if info.get("meets_target") is False:
                source += ", below its target (see pretrained/README.md)"
            st.caption(f"{loaders.describe_model(model)} — {source}")
            a, b = st.columns(2)
            c, d = st.columns(2)
            e, f = st.columns(2)
            a.metric("wrong bits", int(stats.bit_errors_per_step(trace).sum()),
                     help="Wrong output bits over the answer phase of this episode.")
            rows = stats.rows_touched(trace)
            b.metric("slots read (effective)", f"{np.mean(stats.attention_spread(trace)):.1f}",
                     help="The effective number of slots a head reads: exp of the entropy of its read weights "
                          "(1 when one slot holds all the weight, n when n slots share it equally). Mean over the "
                          "heads and the steps.")
            c.metric("rows / step (mean)", f"{np.mean(rows):.1f}",
                     help=f"Memory rows a step reads or writes: an exact count, no timing noise. Mean over the "
                          f"{len(rows)} steps of this episode (from {min(rows)} to {max(rows)}; the narration "
                          f"below gives each step's own count).")
            d.metric("forward ms / step (mean)",
                     f"{np.mean(times):.2f}" if times else "—",
                     help=f"Measured forward time per step at this size (N = {model.config.memory_slots} slots; no "
                          "recording, no gradients), best of 3, mean over the steps. At small N the per-step "
                          "overhead dominates: see below.")
            _cost_metrics(_step_cost(model, kind, model.config.memory_slots), e, f)
    last = min(len(run[2]) for run in runs.values()) - 1
    requested = st.session_state.get(_key("step"))
    if not isinstance(requested, int) or not 0 <= requested <= last:
        if isinstance(requested, int):
            st.info(f"Step {requested} is past the end of this episode (last step {last}): showing step 0.")
        st.session_state[_key("step")] = 0
    step = st.session_state[_key("step")]
    _publish(s, step)
    names = {kind: _label(kind, s["index"]) for kind in runs}
    clock = payload.episode_id(s["task"], s["level"], s["seed"])
    episode = payload.episode_id(clock, *sorted(names.values()), s["slots"], last)
    episode_view.show(payload.compare({names[kind]: run[2] for kind, run in runs.items()},
                                      {names[kind]: run[3] for kind, run in runs.items()},
                                      episode=episode, clock=clock, step=step), key="compare_episode_view")
    st.markdown(
        "- **Effective slots read** — exp of the entropy of a head's read weights: how many slots its weight is "
        "really spread over (1: one slot; n: n slots equally). A dense head gives every slot some weight and the "
        "computation visits all N slots whatever this number is; a sparse head has at most K non-zero weights. "
        "[→ sparse read](learn#sam-sparse-read)\n"
        "- **Rows touched** — an exact count, no timing noise: what a step's arithmetic reads or writes, N rows "
        "for a dense model, at most K·R read plus K·R + 1 written rows for a sparse one, whatever N is. The "
        "metric above is the mean over the episode's steps. [→ why sparse access scales](learn#why-sparse-scales)\n"
        "- **Multiply-adds and bytes kept for backprop** — counted from the model's size, not timed: they grow "
        "with N for the dense model and stay put for the sparse one. They explain the clock below.\n"
        "- **Wrong bits** — the task's score on the answer steps (0 is perfect). [→ tasks](learn#tasks)\n"
        "- **Measured forward time per step at this size** — `time.perf_counter` at each step of a plain forward "
        "(no recording, no gradients), best of 3. At small N the per-step overhead (Python, the LSTM "
        "controller, the sparse model's index bookkeeping) dominates, so the sparse model can be slower; where "
        "its curve crosses the dense one on this measure is below.")
    _crossover_section(s, runs, refused, slots)
