"""Compare: one episode through a dense model and a sparse one, side by side."""
from __future__ import annotations

import numpy as np
import streamlit as st

from samviz.app import explain, figures, loaders, params, state
from samviz.app import trace_stats as stats
from samviz.kinds import DENSE_MODELS, INDEXES, SPARSE_MODELS, spec

PAGE = "compare"


sparse_partner = params.sparse_partner   # (kept here too: the page's old name for it)


def _key(name: str) -> str:
    return f"{state.KEEP}{PAGE}_{name}"


def _open() -> list[params.Problem]:
    """Settings from a link, or from this session when the visitor comes back from another page (the model
    and task the player showed become one of the pair and the task: params.compare_from_shared)."""
    settings, problems = state.opened(PAGE, params.COMPARE_KEYS, params.read_compare, params.compare_from_shared)
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
    kinds = (st.session_state[_key("dense")], st.session_state[_key("sparse")])
    choices = params.slot_choices(*kinds)
    slots = st.session_state.get(_key("slots"))
    if slots not in choices:
        if isinstance(slots, int):
            st.info(f"Memory slots back to 'default': {params.slot_limit_message(slots, *kinds)}.")
        st.session_state[_key("slots")] = "default"
    sb.selectbox("Memory slots (both models)", choices, key=_key("slots"),
                 help=f"'default': as trained (or {params.DEFAULT_SLOTS} untrained). A bigger memory slows the "
                      f"dense model's every step; the sparse one hardly notices. At most {choices[-1]} here — "
                      "the Scaling lab goes to millions.")
    sb.caption("The address bar holds this view (both models, task, level, seed, index, memory slots and step): "
               "copy it to share it.")
    state.link_problems(problems)
    return {k: st.session_state[_key(k)] for k in ("dense", "sparse", "task", "level", "seed", "index", "slots")}


def _run(kind: str, s: dict):
    index = s["index"] if spec(kind).sparse else INDEXES[0]
    model, info = loaders.load_model(kind, s["task"], index, s["slots"])
    trace = loaders.get_trace(kind, s["task"], s["level"], s["seed"], None, index, s["slots"])
    times = loaders.get_step_times(kind, s["task"], s["level"], s["seed"], index, s["slots"])
    return model, info, trace, times


def render() -> None:
    state.keep_widget_state()
    problems = _open()
    st.title("Compare: dense vs sparse")
    s = _sidebar(problems)
    st.caption(params.task_info(s["task"]).describe())
    runs = {}
    for kind in (s["dense"], s["sparse"]):
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
    columns = st.columns(len(runs))
    for column, (kind, (model, info, trace, times)) in zip(columns, runs.items(), strict=True):
        with column:
            st.subheader(kind.upper())
            source = "pretrained" if info["source"] == "pretrained" else "untrained (random weights)"
            if info.get("meets_target") is False:
                source += ", below its target (see pretrained/README.md)"
            st.caption(f"{loaders.describe_model(model)} — {source}")
            a, b = st.columns(2)
            c, d = st.columns(2)
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
    traces = {kind.upper(): run[2] for kind, run in runs.items()}
    times = {kind.upper(): run[3] for kind, run in runs.items()}
    title = " vs ".join(f"{kind.upper()} ({h} read head{'s' if h != 1 else ''})" for kind, h in heads.items())
    st.plotly_chart(figures.compare_figure(traces, times, title=f"{title}: the same episode"),
                    config=figures.png_config("compare"), width="stretch")
    st.markdown(
        "- **Effective slots read** — exp of the entropy of a head's read weights: how many slots its weight is "
        "really spread over (1: one slot; n: n slots equally). A dense head gives every slot some weight and the "
        "computation visits all N slots whatever this number is; a sparse head has at most K non-zero weights. "
        "[→ sparse read](learn#sam-sparse-read)\n"
        "- **Rows touched** — an exact count, no timing noise: what a step's arithmetic reads or writes, N rows "
        "for a dense model, at most K·R read plus K·R + 1 written rows for a sparse one, whatever N is. The "
        "metric above is the mean over the episode's steps. [→ why sparse access scales](learn#why-sparse-scales)\n"
        "- **Wrong bits** — the task's score on the answer steps (0 is perfect). [→ tasks](learn#tasks)\n"
        "- **Measured forward time per step at this size** — `time.perf_counter` at each step of a plain forward "
        "(no recording, no gradients), best of 3. It is **not** the dense-vs-sparse comparison: at these small "
        "N the per-step overhead (Python, the LSTM controller, the sparse model's index bookkeeping) dominates, "
        "so the sparse model can even be slower here. The rows touched are what grows with N; the "
        "[Scaling lab](scaling_lab) measures forward + backward from thousands to millions of slots, where the "
        "dense and sparse curves cross.")
    st.caption(":material/photo_camera: Each chart's camera button (top right, on hover) saves it as a PNG.")

    st.divider()
    last = min(len(run[2]) for run in runs.values()) - 1
    requested = st.session_state.get(_key("step"))
    if not isinstance(requested, int) or not 0 <= requested <= last:
        if isinstance(requested, int):
            st.info(f"Step {requested} is past the end of this episode (last step {last}): showing step 0.")
        st.session_state[_key("step")] = 0
    st.slider("Step for the views below", 0, max(last, 1), key=_key("step"), disabled=last == 0)
    step = min(st.session_state[_key("step")], last)
    _publish(s, step)
    columns = st.columns(len(runs))
    for column, (kind, (_, _, trace, _)) in zip(columns, runs.items(), strict=True):
        with column:
            st.markdown(f"**{kind.upper()} at step {step}**")
            st.markdown(explain.to_markdown(explain.narrate(trace, step)[1:4]))
            st.plotly_chart(figures.weights_figure(trace, step), config=figures.png_config(f"weights-{kind}"),
                            width="stretch")
            st.plotly_chart(figures.bits_figure(trace, step), config=figures.png_config(f"bits-{kind}"),
                            width="stretch")
