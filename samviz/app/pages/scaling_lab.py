"""Scaling lab: time and memory per training step against memory size N, dense against sparse, measured live.

Each configuration runs in its own worker process (samviz.bench.runner) with a memory budget and a timeout;
configurations whose estimated memory is over the budget are refused before anything is allocated. One
benchmark at a time per machine (a file lock); rows stream into log-log plots as they finish.

Leaving the page or pressing Stop ends a run within about a second: while a worker runs, the runner calls
back every TICK_S seconds and the callback updates an element on the page. Streamlit raises its stop or
rerun exception at such a call once the visitor has left or clicked, the runner kills the worker's process
group on the way out, and `with bench_lock()` releases the machine-wide lock.
"""
from __future__ import annotations

import os
import time

import streamlit as st

from samviz import results
from samviz.app import params, state
from samviz.bench import SHIPPED_RESULTS, plots
from samviz.bench.paper import PAPER, PAPER_MACHINE, REFERENCE_RATIOS
from samviz.bench.runner import (
    GIB,
    BenchConfig,
    BenchmarkBusy,
    base_row,
    bench_lock,
    default_budget_bytes,
    estimate_bytes,
    machine_description,
    read_rows,
    refusal_reason,
    run_config,
)

PAGE = "scaling"
KEEP = state.KEEP                    # widget keys with this prefix survive visits to other pages
RESULTS_KEY = "scaling_lab_rows"     # this session's measured rows
RUNNING_KEY = "scaling_lab_running"  # True while a run is in progress; still True afterwards = it was stopped
# the choices and bounds a visitor may set, here and in the page's link: samviz/app/params.py
MODEL_CHOICES = params.LAB_MODELS
MODEL_HELP = {"ntm": "dense NTM", "dam": "dense twin of SAM", "dnc": "dense DNC (N×N links)",
              "sam-exact": "SAM, exact linear scan", "sam-faiss": "SAM, faiss ANN index",
              "sdnc-exact": "SDNC, exact scan", "sdnc-faiss": "SDNC, faiss ANN index"}
POWERS = list(params.LAB_POWERS)                 # 2^5 … 2^22
DEFAULT_SLOTS = params.lab_defaults()["slots"]
BATCHES = params.LAB_BATCHES
MAX_STEPS = params.LAB_MAX_STEPS
MAX_HEADS = params.LAB_MAX_HEADS
MAX_CONFIGS = 40
WORD_SIZE, K = 32, 4                             # the paper's benchmark model
TIMEOUTS = params.LAB_TIMEOUTS
MAX_RUN_S = 1800                                 # one visitor's run holds the machine-wide lock at most this long


def _key(name: str) -> str:
    return f"{KEEP}{PAGE}_{name}"


def _power_text(n: int) -> str:
    return f"2^{n.bit_length() - 1} = {n:,}"


def _open() -> list[params.Problem]:
    """Settings from a link, or this session's when the visitor comes back from another page (state.opened);
    returns the link's problems to show. The lab shares no setting with the other pages."""
    settings, problems = state.opened(PAGE, params.LAB_KEYS, params.read_lab,
                                      lambda shared, last: {**params.lab_defaults(), **last})
    if settings is not None:
        for name, value in settings.items():
            st.session_state[_key(name)] = list(value) if name == "models" else value
    for name, value in params.lab_defaults().items():
        if name != "slots":                  # the slider's default comes from its value= (see _controls)
            st.session_state.setdefault(_key(name), value)
    return problems


def _slot_range() -> tuple[int, int]:
    value = st.session_state.get(_key("slots"), DEFAULT_SLOTS)
    return (value, value) if isinstance(value, int) else tuple(value)


def _controls() -> dict:
    sb = st.sidebar
    sb.header("Measure")
    sb.multiselect("Models", MODEL_CHOICES, key=_key("models"),
                   help="; ".join(f"{m}: {MODEL_HELP[m]}" for m in MODEL_CHOICES))
    # value= must always be given: Streamlit decides from it that this is a RANGE slider (a range that only
    # came from session state is read back as a single value when the visitor moves the slider)
    sb.select_slider("Memory slots N (from … to)", options=POWERS, value=DEFAULT_SLOTS, key=_key("slots"),
                     format_func=_power_text,
                     help="Every power of two in the range is measured, for every model.")
    sb.selectbox("Batch", BATCHES, key=_key("batch"))
    sb.number_input("Sequence length T (steps)", min_value=1, max_value=MAX_STEPS, step=1, key=_key("steps"))
    sb.number_input("Read heads", min_value=1, max_value=MAX_HEADS, step=1, key=_key("heads"))
    sb.selectbox("Timeout per configuration (s)", TIMEOUTS, key=_key("timeout"))
    sb.caption(f"Word size W = {WORD_SIZE}, K = {K} neighbours, LSTM controller of 100 units, random 9-bit "
               "inputs — the paper's benchmark model. One CPU thread per measurement. The address bar holds "
               "these settings: copy it to share them (a link never starts a run).")
    low, high = _slot_range()
    return {"models": [m for m in st.session_state[_key("models")] if m in MODEL_CHOICES],
            "slots": [n for n in POWERS if low <= n <= high], "batch": int(st.session_state[_key("batch")]),
            "steps": int(st.session_state[_key("steps")]), "heads": int(st.session_state[_key("heads")]),
            "timeout": float(st.session_state[_key("timeout")])}


def _plan(choice: dict) -> tuple[list[BenchConfig], list[str]]:
    """-> (configurations, problems) — nothing runs here."""
    problems = []
    if not choice["models"]:
        problems.append("Pick at least one model.")
    if not choice["slots"]:
        problems.append("Pick a range of memory sizes.")
    configs = []
    for n in choice["slots"]:
        for model in choice["models"]:
            try:
                configs.append(BenchConfig(model=model, slots=n, batch=choice["batch"], heads=choice["heads"], k=K,
                                           word_size=WORD_SIZE, steps=choice["steps"]).validate())
            except ValueError as error:
                problems.append(f"{model} at N = {n:,}: {error}")
    if len(configs) > MAX_CONFIGS:
        problems.append(f"{len(configs)} configurations is too many for one run (at most {MAX_CONFIGS}): "
                        "narrow the range or pick fewer models.")
    return configs, problems


MEASURE_HOW = ("the median of the timed runs (at least 5 for the shipped rows) of one training step: forward + "
               "backward over T steps, divided by T; the bars span the fastest and the slowest run")


def measure_text(measure: str) -> str:
    return f"{plots.MEASURE_WORDS[measure]}; {MEASURE_HOW}"
START_WORDS = {"zero": "zero rows", "jittered": "jittered rows", None: "the library's default"}


@st.cache_data(show_spinner=False)
def _shipped(path: str, mtime: float) -> list[dict]:
    return read_rows(path)


def shipped_rows() -> list[dict]:
    """Every row of the shipped file (the newest per configuration), whatever its code or machine."""
    if not os.path.exists(SHIPPED_RESULTS):
        return []
    try:
        return plots.latest(_shipped(SHIPPED_RESULTS, os.path.getmtime(SHIPPED_RESULTS)))
    except (OSError, ValueError):
        return []


def shipped_view() -> results.AppRows:
    """The shipped rows a chart may draw: today's code, one machine (samviz.results.AppRows)."""
    return results.rows_for_app(shipped_rows())


def _merge(existing: list[dict], new: dict) -> list[dict]:
    """Keep one row per (model label, N, setting): the newest."""
    return plots.latest(existing + [new])


def _figures(rows: list[dict], prefix: str, crossings: list[dict] | None = None) -> None:
    left, right = st.columns(2)
    left.plotly_chart(plots.speed_figure(rows, crossings=crossings), key=f"{prefix}_speed", width="stretch")
    right.plotly_chart(plots.memory_figure(rows), key=f"{prefix}_memory", width="stretch")


def _crossover_text(crossings: list[dict], chosen: tuple, measure: str) -> None:
    """Where each measured dense/sparse pair crosses on this page's measure, and why Compare's differs."""
    st.markdown(f"**Where dense and sparse cross** ({plots.setting_text(chosen)}; the diamonds in the time chart), "
                f"on one measure: {plots.MEASURE_WORDS[measure].split(':')[0].split(' (')[0]}.")
    if not crossings:
        st.caption("No dense and sparse model measured at two or more common sizes here.")
        return
    st.markdown("\n".join(f"- {entry['text']}" for entry in crossings))
    st.caption(
        "The crossover is where dense ms ÷ sparse ms passes 1, interpolated on log N between the two measured sizes "
        "around it, from one machine's rows. **Why [Compare](compare) finds a "
        "different N:** Compare times a plain forward of its trained models, batch 1, no backward pass. Here a "
        "training step also runs backward, for which a dense model keeps a copy of its N-slot memory at every step "
        "(SAM journals only the rows it wrote), with a batch of 8 and 4 heads multiplying the dense model's N·W "
        "arithmetic. The per-step Python overhead (the controller, the sparse model's index and bookkeeping) does "
        "not grow with batch or heads, so it weighs far more in Compare's batch-1 forward: there the sparse "
        "model needs a larger N to overtake (Compare states the N it measured).")


def _tables(rows: list[dict], prefix: str) -> None:
    st.markdown(f"**Fitted log-log slopes** through each model's {plots.SLOPE_SIZES} largest measured sizes "
                "(1 = grows in proportion to N, 0 = flat; at small N fixed per-step costs flatten every curve)")
    st.dataframe(plots.slopes(rows), hide_index=True, width="stretch")
    ratio_rows = plots.ratios(rows)
    st.markdown("**Dense ÷ sparse at each N** (time ×: how many times faster; memory ×: how many times less)")
    if ratio_rows:
        st.dataframe([{"N": r["N"], "pair": r["dense / sparse"], "time ×": r["speed ratio"],
                       "memory ×": r["memory ratio"], "dense ms": r["dense ms/step"], "sparse ms": r["sparse ms/step"],
                       "dense MiB": r["dense MiB"], "sparse MiB": r["sparse MiB"]} for r in ratio_rows],
                     hide_index=True, width="stretch")
        papers = sorted({f"{r['dense / sparse']}: {r['paper']}" for r in ratio_rows if r["paper"]})
        if papers:
            st.caption("The paper's ratios (another machine and framework): " + "; ".join(papers) + ".")
    else:
        st.caption("No dense and sparse model measured at the same N and setting yet.")
    with st.expander(f"All {len(rows)} rows"):
        st.dataframe([{k: r.get(k) for k in plots.CSV_COLUMNS if k not in ("machine", "date")} for r in rows],
                     hide_index=True, width="stretch")


def _starts(rows: list[dict]) -> list:
    return sorted({r.get("initial_rows") for r in rows if r.get("initial_rows")}) or [None]


def _show(rows: list[dict], prefix: str, title: str) -> None:
    """Results of one machine, one setting at a time (T, and how a sparse memory starts), with figures, the
    crossovers, tables and a CSV download."""
    available = plots.settings(rows)
    if not available:
        return
    left, middle, right = st.columns([1.2, 1, 1.2])
    measure = middle.radio("Time", list(plots.MEASURES), key=f"{prefix}_measure", horizontal=True,
                           format_func=lambda m: {"cpu": "CPU time", "wall": "wall clock"}[m],
                           help="; ".join(plots.MEASURE_WORDS.values()))
    rows = plots.on_measure(rows, measure)
    chosen = available[0]
    if len(available) > 1:
        chosen = left.selectbox(f"Setting ({title})", available, format_func=plots.setting_text,
                                key=f"{prefix}_setting")
    shown = [r for r in rows if plots.setting(r) == chosen]
    starts = _starts(shown)
    start = starts[0]
    if len(starts) > 1:
        start = right.radio("DAM, SAM and SDNC start from", starts, format_func=START_WORDS.get, horizontal=True,
                            key=f"{prefix}_start", help="How the memory's rows start (samviz.memory.initial): "
                            "zero rows (what the shipped models use) or a tiny jittered constant.")
    shown = [r for r in shown if r.get("initial_rows") in (None, start)]
    st.caption(f"{plots.setting_text(chosen)}; DAM, SAM and SDNC from {START_WORDS.get(start)}. "
               f"Time: {measure_text(measure)}.")
    crossings = plots.crossovers(shown)
    _figures(shown, prefix, crossings)
    _crossover_text(crossings, chosen, measure)
    st.caption("✖ along the top: not measured — hover for why (refused: estimated memory over the budget; "
               "skipped: predicted too slow for the plan, or a smaller N already failed; timeout; failed). "
               "★: the paper's measured points (Rae et al. 2016: Torch7 on a Xeon E5-1650, "
               f"another machine and framework). Overheads below {plots.MIN_MIB_DRAWN} MiB are drawn at "
               f"{plots.MIN_MIB_DRAWN} (a log axis has no zero).")
    _tables(shown, prefix)
    st.download_button("Download these results (CSV)", plots.to_csv(rows), file_name=f"samviz-bench-{prefix}.csv",
                       mime="text/csv", key=f"{prefix}_csv", on_click="ignore")


def _left_out(view: results.AppRows) -> None:
    """The shipped rows not drawn (other code, other machines), listed and labelled, never mixed in."""
    hidden = [("stale: other code", r) for r in view.stale] + [("another machine", r) for r in view.other_machines]
    if not hidden:
        return
    with st.expander(f"{len(hidden)} shipped row(s) not drawn: from other code or another machine"):
        st.dataframe([{"why not drawn": why, "model": plots.label(r), "N": r.get("slots"), "T": r.get("steps"),
                       "ms/step": r.get("ms_per_step"), "machine": r.get("machine") or "unrecorded",
                       "code": results.why_stale(r) if why.startswith("stale") else "today's"} for why, r in hidden],
                     hide_index=True, width="stretch")


def _run(configs: list[BenchConfig], timeout: float, budget: int) -> None:
    """Measure under the machine-wide lock, streaming each row into the plots as it finishes."""
    try:
        with bench_lock():
            rows: list[dict] = []
            machine = machine_description()
            st.session_state[RUNNING_KEY] = True
            with st.status(f"Measuring {len(configs)} configuration(s), one worker process at a time…",
                           expanded=True) as status:
                # a click reruns the script: the next progress tick raises, which kills the worker
                st.button("Stop", key="scaling_stop", icon=":material/stop_circle:")
                progress = st.progress(0.0)
                ticker = st.empty()
                live = st.empty()
                started = time.monotonic()
                for i, config in enumerate(configs):
                    progress.progress(i / len(configs), text=f"{config.model} at N = {config.slots:,} …")
                    left = MAX_RUN_S - (time.monotonic() - started)
                    if left < 5:
                        row = dict(base_row(config), status="refused", machine=machine,
                                   reason=f"not started: this run reached its total time limit of {MAX_RUN_S} s")
                    else:
                        limit = min(timeout, left)

                        def tick(seconds: float, config: BenchConfig = config, limit: float = limit) -> None:
                            # touching the page is what lets Streamlit stop this script when the visitor leaves
                            ticker.caption(f"{config.model} at N = {config.slots:,}: {seconds:.0f} s "
                                           f"(stopped at {limit:g} s)")

                        row = run_config(config, timeout_s=limit, budget_bytes=budget, machine=machine,
                                         progress=tick)
                    ticker.empty()
                    rows.append(row)
                    st.session_state[RESULTS_KEY] = _merge(st.session_state.get(RESULTS_KEY, []), row)
                    outcome = (f"{row['ms_per_step']:.3g} ms/step, {row['peak_mib']:.3g} MiB overhead"
                               if row["status"] == "ok" else f"{row['status']}: {row.get('reason', '')}")
                    st.text(f"{plots.label(row)} at N = {config.slots:,}: {outcome}")
                    with live.container():
                        _figures(rows, f"live{i}")
                progress.progress(1.0, text="done")
                failed = sum(r["status"] != "ok" for r in rows)
                status.update(label=f"Measured {len(rows) - failed} of {len(rows)} configuration(s)"
                                    + (f" ({failed} not measured: see the table)" if failed else ""),
                              state="complete", expanded=False)
            st.session_state[RUNNING_KEY] = False
    except BenchmarkBusy:
        st.warning("Another benchmark is running, try again in a moment.")


def render() -> None:
    st.title("Scaling lab")
    st.markdown(
        "How do time and memory per **training step** (forward + backward) grow with the number of memory "
        "slots N? A dense model (NTM, DAM, DNC) touches every slot at every step and backpropagation keeps a "
        "copy of the memory per step; SAM and SDNC touch K rows, write in place and roll back in backward. "
        "The first tab shows the results shipped with samviz; to measure on the machine that serves this page, "
        "pick models and a range of N in the sidebar and press **Run** (every configuration runs in its own "
        "process, refused when its estimated memory exceeds the budget): your rows appear in the second tab.")
    state.keep_widget_state()
    state.link_problems(_open())
    choice = _controls()
    shown = {**{k: choice[k] for k in ("models", "batch", "steps", "heads")}, "timeout": int(choice["timeout"]),
             "slots": _slot_range()}
    state.publish(PAGE, shown, params.lab_query(shown))
    configs, problems = _plan(choice)
    budget = default_budget_bytes()
    for problem in problems:
        st.sidebar.error(problem)
    refused = [c for c in configs if refusal_reason(c, budget)]
    with st.sidebar.expander(f"Plan: {len(configs)} configuration(s), budget {budget / GIB:.1f} GiB each"):
        st.dataframe([{"model": c.model, "N": c.slots, "estimated GiB": round(estimate_bytes(c)["total"] / GIB, 2),
                       "runs": "refused (memory)" if c in refused else "yes"} for c in configs],
                     hide_index=True)
    run = st.sidebar.button("Run", type="primary", disabled=bool(problems), key="scaling_run", width="stretch")
    if st.session_state.get(RESULTS_KEY) and st.sidebar.button("Clear my measurements", key="scaling_clear"):
        st.session_state[RESULTS_KEY] = []

    if st.session_state.get(RUNNING_KEY) and not run:
        st.session_state[RUNNING_KEY] = False
        st.info("The last run was stopped before it finished (Stop, or the page was left): its worker was "
                "killed. The configurations measured before that are kept below.")
    if run and not problems:
        _run(configs, choice["timeout"], budget)

    mine = st.session_state.get(RESULTS_KEY) or []
    view = shipped_view()
    names = ["Shipped results", "Your measurements", "The paper"]
    tabs = st.tabs(names, default=names[1] if mine else names[0])
    with tabs[0]:
        if view.shown:
            where = "this machine" if view.this_machine else "another machine than the one serving this page"
            st.markdown(f"Results shipped with samviz, measured on **{where}** ({view.machine}) by today's code, "
                        "made by `python -m samviz.results run` (`make results`).")
            if not view.this_machine:
                st.caption(f"This page is served by {machine_description()}: its own timings can differ; press "
                           "Run to measure here.")
            _show(view.shown, "shipped", "shipped results")
        else:
            st.info("No shipped results of today's code (assets/bench/results.jsonl): make them with "
                    "`python -m samviz.results run --only bench`.")
        _left_out(view)
    with tabs[1]:
        if mine:
            st.markdown(f"Measured in this session on this machine ({machine_description()}).")
            _show(mine, "mine", "your measurements")
        else:
            st.info("Nothing measured in this session yet: pick models and N in the sidebar and press Run.")
    with tabs[2]:
        st.markdown(f"**{PAPER}** — CPU: {PAPER_MACHINE}. Benchmark model: LSTM controller 100 units, W = 32, "
                    "4 heads, K = 4. The stars in the plots are the paper's points.")
        st.dataframe([{"figure": r["figure"], "claim": r["text"], "ratio": f"{r['ratio']:g}×"}
                      for r in REFERENCE_RATIOS], hide_index=True, width="stretch")
        st.caption("How samviz measures: ms/step = median time of forward + backward over T steps ÷ T, with the "
                   "memory and its index already initialised (not timed). Overhead MiB = the kernel's peak "
                   "resident set size (VmHWM, reset before the run) minus the resident size just before it.")
