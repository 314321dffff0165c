"""Episode player: step through one episode of one model and see every read, write and neighbour.

The server records the episode once (loaders.get_trace) and sends all of it to the browser's episode view
(samviz/app/episode_view): stepping, the slider, play, the keyboard and hover all happen there, with no rerun of
this script. The script runs when a setting (in the popover under the title) changes (a new episode) or a link is
opened; the step it knows is the link's (or 0 for a new episode), and the browser keeps its own step while the episode's
inputs stay the same (another model, the same clock) and writes it into the address.
"""
from __future__ import annotations

import functools
import time

import streamlit as st

from samviz.app import episode_view, explain, loaders, long_episode, notices, pages, params, state, trace_cache
from samviz.app import trace_stats as stats
from samviz.app.episode_view import payload
from samviz.kinds import DENSE_MODELS, INDEXES, MODELS, SPARSE_MODELS, spec
import samviz.tasks as tasks_module
from samviz.tasks import TARGETS

PAGE = "player"


def _defaults() -> dict:
    return {**params.player_defaults(), "source": "Random episode"}


def _open() -> list[params.Problem]:
    """Settings from a link, or from this session when the visitor comes back from another page (state.opened);
    returns the link's problems to show."""
    settings, problems = state.opened(PAGE, params.PLAYER_KEYS, params.read_player, params.player_from_shared)
    if settings is not None:
        if settings["bits"] or st.session_state.get(_key("task")) != settings["task"]:
            st.session_state[_key("bits")] = settings["bits"]      # (typed bits of another task would not parse)
        for key in ("model", "task", "level", "seed", "index", "slots"):
            st.session_state[_key(key)] = settings[key]
        st.session_state[_key("source")] = "Typed bits" if settings["bits"] else "Random episode"
        _set_step(settings["step"])
        query = st.query_params.to_dict()
        if any(key in query for key in params.PLAYER_KEYS):         # a link: its long-mode keys, or the mode off
            long, long_problems = long_episode.read_link(query, settings["model"], settings["task"])
            problems = [*problems, *long_problems]
            long_task, task_problems = long_episode.read_task_link(query, long_episode.curriculum_model()[0])
            problems = [*problems, *task_problems]
            st.session_state[_key("long")] = long is not None or long_task is not None
            if long is not None:
                st.session_state[_key("long_level")] = long["level"]
                st.session_state[_key("long_episodes")] = long["episodes"]
            st.session_state[_key("long_source")] = "player" if long_task is None else "curriculum"
            if long_task is not None:
                for name in ("items", "slots", "episodes"):
                    st.session_state[_key(f"long_task_{name}")] = long_task[name]
    for key, value in _defaults().items():
        st.session_state.setdefault(_key(key), value)
    return problems


def _key(name: str) -> str:
    return f"{state.KEEP}{PAGE}_{name}"


def _names(kinds) -> str:
    """("ntm", "dam", "dnc") -> "NTM, DAM and DNC"."""
    names = [kind.upper() for kind in kinds]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _limits(kinds) -> str:
    """Each kind's own largest memory, kinds with the same limit together: "NTM and DAM stop at 4,096, DNC at
    1,024" (issue 25 item 10: one number for all of them contradicted the menu)."""
    groups: dict[int, list[str]] = {}
    for kind in kinds:
        groups.setdefault(spec(kind).app_slot_limit, []).append(kind)
    parts = [f"{_names(members)} {'stop' if len(members) > 1 else 'stops'} at {limit:,}"
             for limit, members in sorted(groups.items(), reverse=True)]
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------ callbacks
# A new episode starts at step 0; the browser's view keeps its own step while the episode's inputs stay the same.

def _on_task_change() -> None:
    task = st.session_state[_key("task")]
    st.session_state[_key("level")] = params.default_level(task)
    st.session_state.pop(_key("long_level"), None)           # the long mode's levels differ per task too
    _set_step(0)
    st.session_state[_key("bits")] = ""


def _set_step(step: int) -> None:
    """The step this script knows: a link's, or 0 for a new episode (the browser moves its own from there)."""
    st.session_state[_key("step")] = step


def _on_episode_change() -> None:
    _set_step(0)


def _fill_bits(text: str) -> None:
    st.session_state[_key("bits")] = text


# ------------------------------------------------------------------------------------------ settings

def _pick(key: str, options) -> dict:
    """index= for a keyed select box or radio: the option its state holds. A widget in a closed popover is drawn
    by the browser only when the popover opens, from the last run's element, whose default is its index: so the
    default is the state (a shared link's seed=5 opens as 5, not as the option first in the list)."""
    return {"index": list(options).index(st.session_state[key])}


def _normalize() -> None:
    """A kept level or slot choice that no longer fits the model and task goes back to its default."""
    task = st.session_state[_key("task")]
    low, high = params.level_range(task)
    level_key = _key("level")
    if not isinstance(st.session_state.get(level_key), int) or not low <= st.session_state[level_key] <= high:
        st.session_state[level_key] = params.default_level(task)
    kind = st.session_state[_key("model")]
    choices = params.slot_choices(kind)
    slots = st.session_state.get(_key("slots"))
    if slots not in choices:
        if isinstance(slots, int):
            st.info(f"Memory slots back to 'default': {params.slot_limit_message(slots, kind)}.")
        st.session_state[_key("slots")] = "default"


def _summary() -> str:
    """The settings in one line, the label of the popover that holds them: the episode shown stays named on the
    page while its controls are folded away."""
    kind, task = st.session_state[_key("model")], st.session_state[_key("task")]
    parts = [kind.upper(), task.replace("_", " ")]
    if st.session_state[_key("source")] == "Typed bits":
        parts.append("typed bits")
    else:
        if not st.session_state.get(_key("long")):
            parts.append(f"level {st.session_state[_key('level')]}")
        parts.append(f"seed {st.session_state[_key('seed')]}")
    if spec(kind).sparse:
        parts.append(f"{st.session_state[_key('index')]} index")
    slots = st.session_state[_key("slots")]
    parts.append("default slots" if slots == "default" else f"{params.slots_label(slots)} slots")
    return " · ".join(parts)


def _settings(problems: list[params.Problem]) -> dict | None:
    """Draw the controls -> the settings, or None when the visitor's input is invalid (error shown).

    They sit in a popover under the title, not in the sidebar: the browser draws a popover's widgets only when it
    is opened, so a page view loads none of their scripts (issue 28: browser CPU per view; the measurements are in
    docs/MEASUREMENT_HISTORY.md). Each widget is created with its state as its default (_pick, value=):
    drawn late, it shows what the state holds."""
    _normalize()
    sb = st.popover(_summary(), icon=":material/tune:", key="player_settings")
    sb.selectbox("Model", MODELS, key=_key("model"), format_func=str.upper, **_pick(_key("model"), MODELS),
                 help=f"{_names(DENSE_MODELS)} address every slot (dense); {_names(SPARSE_MODELS)} only K per "
                      "head (sparse).")
    sb.selectbox("Task", params.TASKS, key=_key("task"), on_change=_on_task_change,
                 format_func=lambda t: t.replace("_", " "), **_pick(_key("task"), params.TASKS))
    task = st.session_state[_key("task")]
    low, high = params.level_range(task)
    level_key = _key("level")
    sources = ("Random episode", "Typed bits")
    sb.radio("Input", sources, key=_key("source"), horizontal=True, on_change=_on_episode_change,
             **_pick(_key("source"), sources))
    typed = st.session_state[_key("source")] == "Typed bits"
    if st.session_state.get(_key("long")):
        # one level box at a time (issue 25 item 12): the long-episode mode has its own levels, set on the page
        sb.caption(f"Level: set in the long-episode panel ({long_episode.level_range(task)[0]}–"
                   f"{long_episode.level_range(task)[1]}).")
    else:
        sb.number_input(f"Level ({low}–{high})", min_value=low, max_value=high, step=1, key=level_key,
                        value=st.session_state[level_key], on_change=_on_episode_change, disabled=typed,
                        help=f"Training range {low}–{high // params.GENERALISATION}; up to {high} tests "
                             "generalisation.")
    sb.number_input("Seed", min_value=0, max_value=params.MAX_SEED, step=1, key=_key("seed"),
                    value=st.session_state[_key("seed")], on_change=_on_episode_change, disabled=typed)
    kind = st.session_state[_key("model")]
    sparse = spec(kind).sparse
    if sparse:
        sb.selectbox("Nearest-neighbour index", INDEXES, key=_key("index"), on_change=_on_episode_change,
                     **_pick(_key("index"), INDEXES),
                     help="exact: a linear scan over all N slots; faiss: an approximate index (recall shown below).")
    choices = params.slot_choices(kind)
    sb.selectbox("Memory slots", choices, key=_key("slots"), on_change=_on_episode_change,
                 format_func=params.slots_label, **_pick(_key("slots"), choices),
                 help=f"'default': the pretrained model's size (or {params.DEFAULT_SLOTS} untrained). "
                      f"{_names(SPARSE_MODELS)} go up to {params.slot_limit(*SPARSE_MODELS):,}: they touch K rows "
                      f"per head per step. {_limits(DENSE_MODELS)}: every step reads and writes all N rows, and "
                      "this page records every step.")
    settings = {"model": kind, "task": task, "level": st.session_state[level_key],
                "seed": int(st.session_state[_key("seed")]),
                "index": st.session_state[_key("index")] if sparse else INDEXES[0],
                "slots": st.session_state[_key("slots")], "bits": None, "menu": sb}
    state.link_problems(problems)
    if typed:
        info = params.task_info(task)
        sb.text_area(f"Input bits: one row of {info.input_size} values per step (≤ {params.MAX_TYPED_STEPS} rows)",
                     key=_key("bits"), value=st.session_state[_key("bits")], height=180,
                     on_change=_on_episode_change, placeholder="0" * info.input_size)
        rows, problem = params.parse_bits(st.session_state[_key("bits")], task)
        if problem:
            notices.show(problem, "Typed input: ", ".", kind="error")
            return None
        settings["bits"] = tuple(tuple(r) for r in rows)
    return settings


# ------------------------------------------------------------------------------------------ the episode view

def _publish(settings: dict, step: int, long: dict | None = None, long_task: dict | None = None) -> None:
    """This view into the URL (and the session): the long mode's level and episodes, or its long task's settings,
    when it is on. The browser's view updates the step in the address itself as it moves."""
    shown = {**{k: settings[k] for k in params.PLAYER_KEYS if k not in ("step", "bits")}, "step": step,
             "bits": params.format_bits(settings["bits"], settings["task"]) if settings["bits"] else ""}
    query = {**params.player_query(shown), **(long_episode.link(**long) if long else {}),
             **(long_episode.task_link(**long_task) if long_task else {})}
    state.publish(PAGE, shown, query, params.shared_from_player(shown, state.shared()))


def _step_times(settings: dict) -> tuple[list[float] | None, str | None]:
    """The episode's measured forward ms per step, or (None, why not)."""
    try:
        # never waits for another visitor's large run
        return loaders.get_step_times(settings["model"], settings["task"], settings["level"], settings["seed"],
                                      settings["index"], settings["slots"], settings["bits"], wait=False), None
    except loaders.ServerBusy:
        return None, ("forward time not measured: another visitor's large-memory episode is running on this server "
                      "(one at a time); open the page again to measure it")
    except ValueError:
        return None, None


def episode_payload(trace, settings: dict, step: int) -> dict:
    """The player's payload for the browser (episode_view.payload.player): ids that say when the episode, and
    when its clock (the same inputs), change."""
    bits = params.format_bits(settings["bits"], settings["task"]) if settings["bits"] else ""
    clock = payload.episode_id(settings["task"], settings["level"], settings["seed"], bits)
    episode = payload.episode_id(clock, settings["model"], settings["index"], settings["slots"], len(trace))
    times, note = _step_times(settings)
    return payload.player(trace, name=settings["model"].upper(), episode=episode, clock=clock, step=step,
                          step_times=times, times_note=note)


# ------------------------------------------------------------------------------------------ long episodes

LONG_RESULT = "player_long_result"     # this session's last long run: (settings, LongResult); one per session


def _long_default(task: str) -> int:
    low, high = long_episode.level_range(task)
    return min(high, 2 * low)


LONG_SOURCES = {"player": "The player's model (its task, up to 10× its training length)",
                "curriculum": "The long-curriculum SAM (long associative recall, up to 100× its trained length)"}


def _long_view(settings: dict) -> None:
    """The long-episode mode: a pretrained sparse model forward over hundreds of steps, no trace, the wrong bits
    along the answer (long_episode.py); or, where the checkout has it, the long-curriculum SAM over long
    associative recall (_long_task_view). Runs only on the button, one long run at a time on the server."""
    curriculum, note = long_episode.curriculum_model()
    if curriculum is None:
        st.caption(f"{note} The long episodes here run the player's model.")
    elif st.radio("Long episodes of", tuple(LONG_SOURCES), key=_key("long_source"), horizontal=True,
                  format_func=LONG_SOURCES.get) == "curriculum":
        _long_task_view(settings, curriculum)
        return
    kind, task = settings["model"], settings["task"]
    low, high = long_episode.level_range(task)
    st.caption(f"{params.task_info(task).describe()} Here the episode runs far past the trained length "
               f"(up to {high}, {tasks_module.GENERALISATION_FACTOR}× the trained maximum), forward only: no trace "
               "is recorded, only the answers are scored. Memory slots, index and seed come from the episode settings "
               "(under the title).")
    if kind not in SPARSE_MODELS:
        notices.show(long_episode.check(kind, task, low, long_episode.DEFAULT_EPISODES), after=
                     ". Choose SAM or SDNC in the episode settings (under the title).", kind="info")
        return
    if settings["bits"] is not None:
        st.info("A long episode is drawn at random from the seed: choose 'Random episode' in the episode settings "
                "(under the title).")
        return
    level_key, episodes_key = _key("long_level"), _key("long_episodes")
    level = st.session_state.get(level_key)
    if level is not None:
        problem = long_episode.check(kind, task, level, long_episode.DEFAULT_EPISODES)
        if problem is not None:
            notices.show(problem, after=f". Set to {_long_default(task)}.")
            st.session_state[level_key] = _long_default(task)
    st.session_state.setdefault(level_key, _long_default(task))
    if st.session_state.get(episodes_key) not in long_episode.EPISODE_CHOICES:
        st.session_state[episodes_key] = long_episode.DEFAULT_EPISODES
    left, right = st.columns(2)
    left.number_input(f"Level ({low}–{high})", min_value=low, max_value=high, step=1, key=level_key,
                      help=f"Trained up to {params.task_info(task).max_level}; the normal player stops at {low}.")
    right.selectbox("Episodes (their mean is shown)", long_episode.EPISODE_CHOICES, key=episodes_key)
    level, episodes = int(st.session_state[level_key]), int(st.session_state[episodes_key])
    problem = long_episode.check(kind, task, level, episodes)
    if problem is not None:
        notices.show(problem, kind="error")
        return
    _publish(settings, 0, {"level": level, "episodes": episodes})
    try:
        model, info = loaders.load_model(kind, task, settings["index"], settings["slots"])
    except ValueError as error:
        st.error(f"Cannot run this model: {error}")
        return
    if info["source"] != "pretrained":
        st.warning(f"{info['note'][0].upper() + info['note'][1:]}: the long-episode mode runs trained models only "
                   "(an untrained model's errors along the episode say nothing).")
        return
    too_big = loaders.long_run_problem(model, episodes)
    if too_big is not None:
        st.error(f"Not run: {too_big}.")
        return
    steps, answered = long_episode.episode_steps(task, level)
    c = model.config
    structure = loaders.index_structure(c)
    first = {"build": f" The faiss index over {c.memory_slots:,} initial rows is built first (the first time at "
                      "this size on this server: minutes at 2^20), then cached "
                      f"{loaders.cache_place(c.memory_slots)}.",
             "on disk": " The faiss index for this size is read back from the disk cache first (about a second)."
             }.get(structure, "")
    st.markdown(f"**{episodes} episode{'s' if episodes != 1 else ''} of {steps:,} steps** "
                f"({answered} answer steps each) with {loaders.describe_model(model)}.{first}")
    run = {"model": kind, "task": task, "level": level, "episodes": episodes, "seed": settings["seed"],
           "index": c.index, "slots": c.memory_slots}
    if st.button(f"Run {steps:,} steps", key="player_long_run", icon=":material/play_arrow:", type="primary"):
        st.session_state.pop(LONG_RESULT, None)
        bar = st.progress(0.0, text="Waiting for the server…")
        started = time.monotonic()

        def waiting(seconds: float) -> None:
            bar.progress(0.0, text=f"Another visitor's long or large-memory episode is running on this server (one at "
                                   f"a time): waiting {seconds:.0f} s…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Step {done:,} of {total:,} · {time.monotonic() - started:.0f} s")

        episode = long_episode.sample(task, level, settings["seed"], episodes)
        try:
            with loaders.long_run(waiting):
                started = time.monotonic()
                bar.progress(0.0, text={
                    "build": f"Building the faiss index over {c.memory_slots:,} initial rows (the first time at this "
                             "size on this server: minutes at 2^20), then running…",
                    "on disk": "Reading the faiss index from the disk cache, then running…"}.get(
                        structure, "Setting up the memory…"))
                result = long_episode.run(model, episode, progress)
        except loaders.ServerBusy as error:
            bar.empty()
            st.warning(f"Not run: {error}.")
            return
        st.session_state[LONG_RESULT] = (run, result)
    kept = st.session_state.get(LONG_RESULT)
    if kept is None or kept[0] != run:
        st.caption("Nothing run yet for these settings: press the button. Leaving the page stops a run.")
        return
    result = kept[1]
    run_id = payload.episode_id("long", *sorted(run.items()), result.seconds)
    episode_view.show(long_episode.view_payload(result, kind, run_id), key="player_long_view")
    st.markdown(long_episode.sentence(result, kind, c.memory_slots))
    per_step = 1000 * result.seconds / len(result.wrong)
    count = result.per_episode.size
    st.caption(f"The run took {result.seconds:.1f} s on this server ({per_step:.1f} ms per step for {count} "
               f"episode{'s' if count != 1 else ''} at once, memory and index set-up included).")
    label = long_episode.stored_curve_label(task)
    if label is not None:
        st.page_link(pages.page_objects()["learning_curves"], icon=":material/show_chart:", label=label)


LONG_TASK_RESULT = "player_long_task_result"     # this session's last long-task run: (settings, LongTaskResult)


def _long_task_default(key: str, value, problem) -> None:
    """A kept setting that no longer passes (a new checkpoint level, a tampered session) goes back to its default,
    saying so."""
    if key in st.session_state and problem is not None:
        notices.show(problem, after=". Set back to its default.")
        st.session_state[key] = value
    st.session_state.setdefault(key, value)


def _long_task_view(settings: dict, model) -> None:
    """The long-curriculum SAM over long associative recall (issue 26 item 6): error, CPU time per step, rows
    written (memory filled) and sampled index recall along the episode, in the episode view's strip."""
    low, high = long_episode.long_task_range(model)
    st.caption(f"{long_episode.trained_label(model)}: trained from zero rows with the faiss index in the loop at "
               f"{model.trained_slots:,} slots (samviz.training.long_curriculum). Here it answers long associative "
               f"recall (samviz.tasks.LongTask) from its trained length up to {high // model.trained}× it, forward "
               "only, with its own faiss index; the seed comes from the episode settings (under the title). Nothing is "
               "traced: the charts are what samviz.long_evaluation records along the episode.")
    items_key, slots_key, episodes_key = _key("long_task_items"), _key("long_task_slots"), _key("long_task_episodes")
    _long_task_default(items_key, min(high, 10 * low), params.whole_number_problem(
        st.session_state.get(items_key), low, high, "Items to recall"))
    _long_task_default(slots_key, long_episode.LONG_TASK_SLOTS[-1], params.choice_problem(
        st.session_state.get(slots_key), long_episode.LONG_TASK_SLOTS, "Memory slots", params.slots_label))
    _long_task_default(episodes_key, long_episode.LONG_TASK_EPISODES[0], params.choice_problem(
        st.session_state.get(episodes_key), long_episode.LONG_TASK_EPISODES, "Episodes"))
    left, middle, right = st.columns(3)
    left.number_input(f"Items to recall ({low:,}–{high:,})", min_value=low, max_value=high, step=low, key=items_key,
                      help=f"Its trained length h = {model.trained:,} items; each item takes 4 steps.")
    middle.selectbox("Memory slots", long_episode.LONG_TASK_SLOTS, key=slots_key, format_func=params.slots_label)
    right.selectbox("Episodes (one batch; their mean is shown)", long_episode.LONG_TASK_EPISODES, key=episodes_key)
    items, slots = st.session_state[items_key], st.session_state[slots_key]
    episodes = st.session_state[episodes_key]
    problem = long_episode.check_long_task(model, items, slots, episodes, loaders.LARGE_RUN_BYTES)
    if problem is not None:
        notices.show(problem, kind="error")
        return
    _publish(settings, 0, long_task={"items": items, "slots": slots, "episodes": episodes})
    steps = long_episode.long_task_steps(items)
    st.markdown(f"**{episodes} episode{'s' if episodes != 1 else ''} of {steps:,} steps** ({items:,} items, "
                f"{items / model.trained:g}× the trained length) at {slots:,} slots. One run may take "
                f"{long_episode.RUN_CPU_BUDGET_S:,.0f} s of this server's CPU; a run projected past that stops early "
                "and says so.")
    run = {"items": items, "slots": slots, "episodes": episodes, "seed": settings["seed"]}
    if st.button(f"Run {steps:,} steps", key="player_long_task_run", icon=":material/play_arrow:", type="primary"):
        st.session_state.pop(LONG_TASK_RESULT, None)
        bar = st.progress(0.0, text="Waiting for the server…")

        def waiting(seconds: float) -> None:
            bar.progress(0.0, text=f"Another visitor's long or large-memory episode is running on this server (one at "
                                   f"a time): waiting {seconds:.0f} s…")
        clock = {}

        def progress(done: int, total: int, cpu: float) -> None:
            bar.progress(done / total, text=f"Step {done:,} of {total:,} · {cpu:.0f} s of CPU · "
                                            f"{time.monotonic() - clock['start']:.0f} s")
        try:
            with loaders.long_run(waiting):
                clock["start"] = time.monotonic()
                bar.progress(0.0, text="Reading the checkpoint and setting up the memory…")
                result = long_episode.run_long_task(model, items, slots, episodes, settings["seed"], progress)
        except (loaders.ServerBusy, long_episode.RunStopped) as error:
            bar.empty()
            st.warning(f"Not run: {error}." if isinstance(error, loaders.ServerBusy) else f"Run {error}.")
            return
        except ValueError as error:                   # CheckpointError: the weights could not be read
            bar.empty()
            st.error(f"Cannot run the long-curriculum checkpoint: {error}")
            return
        st.session_state[LONG_TASK_RESULT] = (run, result)
    kept = st.session_state.get(LONG_TASK_RESULT)
    if kept is None or kept[0] != run:
        st.caption("Nothing run yet for these settings: press the button. Leaving the page stops a run.")
        return
    result = kept[1]
    view = long_episode.long_task_payload(result, payload.episode_id("long_task", *sorted(run.items()),
                                                                     result.seconds))
    episode_view.show(view, key="player_long_task_view")
    st.markdown(long_episode.long_task_sentence(result, view["strip"]))
    st.caption(f"The run took {result.seconds:,.1f} s on this server, {result.cpu_seconds:,.1f} s of CPU in its "
               f"thread (reading the weights, the memory's set-up, {result.steps:,} steps of "
               f"{result.episodes} episode{'s' if result.episodes != 1 else ''} at once, and "
               f"{sum(view['strip']['samples'])} recall checks, each an exact scan of the memory).")


# ------------------------------------------------------------------------------------------ page

def render() -> None:
    state.keep_widget_state()
    problems = _open()
    st.title("Episode player")
    settings = _settings(problems)
    if settings is None:
        return
    menu = settings.pop("menu")
    if st.toggle("Long episode (hundreds to 100,000 steps, sparse models)", key=_key("long"),
                 help="Run SAM or SDNC far past its trained length, forward only, and see the wrong bits along the "
                      "answer; or the long-curriculum SAM over long associative recall, with its error, step time, "
                      "rows written and index recall along the episode."):
        _long_view(settings)
        return
    task = params.task_info(settings["task"])
    try:
        model, info = loaders.load_model(settings["model"], settings["task"], settings["index"], settings["slots"])
        trace = loaders.get_trace(settings["model"], settings["task"], settings["level"], settings["seed"],
                                  settings["bits"], settings["index"], settings["slots"])
    except ValueError as error:
        st.error(f"Cannot run this model: {error}")
        return
    st.caption(task.describe())
    recorded = trace.meta.get("app", {})
    if loaders.is_large(settings["model"], settings["slots"]) and recorded.get("record_s") is not None:
        built = {"build": " — including building its faiss index over the initial rows, the first time at this "
                          f"size on this server (now cached {loaders.cache_place(int(settings['slots']))})",
                 "rebuilt": " — including rebuilding its faiss index over the initial rows (the copy in this "
                            "server's disk cache failed its checks and was replaced)",
                 "on disk": ", its faiss index read back from this server's disk cache"}.get(
            recorded.get("index_structure"), "")
        exact = (f" The exact index scans all {int(settings['slots']):,} rows at every step (O(N): the cost the "
                 "faiss index avoids); each step's forward time below says what that costs here."
                 if settings["index"] == "exact" else "")
        st.info(f"{int(settings['slots']):,} slots: this episode took {recorded['record_s']:.1f} s to record on this "
                f"server{built}. Recording also computes the exact nearest neighbours of every query (an O(N) scan "
                f"per step) to show the index's recall; the per-step times below are of the plain forward pass.{exact}")
    if info["source"] == "pretrained":
        sparse = spec(settings["model"]).sparse
        measured = explain.measured_metric(getattr(model, "meta", None), model.config.memory_slots,
                                           model.config.index if sparse else None)
        scored = trace.targets is not None and bool(stats.answer_steps(trace))
        wrong = int(stats.bit_errors_per_step(trace).sum())
        text = (f"Pretrained **{info['name']}** — {loaders.describe_model(model)}"
                + (f"; {measured}" if measured else "")
                + (f". This episode: {wrong} wrong bit{'s' if wrong != 1 else ''}" if scored
                   else ". This episode has no answer phase (typed input): nothing is scored"))
        if info.get("meets_target") is False:
            st.warning(f"{text}. It has **not reached its target** (≤ {TARGETS[settings['task']]:g} bit errors per "
                       "sequence; see pretrained/README.md): expect wrong bits.")
        else:
            st.success(text)
    else:
        st.warning(f"{info['note'][0].upper() + info['note'][1:]}: showing an **untrained** model "
                   f"({loaders.describe_model(model)}, random weights, seed 0). The mechanics are real; "
                   f"the answers are not.")
    if settings["bits"] is None:
        menu.button("Edit this episode's bits", key="player_fill",
                    on_click=_fill_bits, args=(params.format_bits(trace.inputs, settings["task"]),),
                    help="Copies this episode into the typed-bits box (then choose 'Typed bits').")
    menu.download_button("Download trace (JSON)", data=functools.partial(trace_cache.trace_json, trace),
                               file_name=f"samviz-{settings['model']}-{settings['task']}-seed{settings['seed']}.json",
                               mime="application/json", on_click="ignore", key="player_download")
    st.sidebar.caption(":material/keyboard: In the episode view: ← → step, space plays and pauses, Home and End "
                       "jump; hover a slot to light it up in every view, hover a time to see that step. The address "
                       "bar holds this view (model, task, level, seed, step, memory slots, index and typed bits): "
                       "copy it to share it.")
    last = len(trace) - 1
    requested = st.session_state.get(_key("step"))
    if isinstance(requested, int) and requested > last:
        st.info(f"Step {requested} is past the end of this episode: showing its last step, {last}.")
    step = stats.clamp_step(trace, requested if isinstance(requested, int) else 0)
    _publish(settings, step)
    episode_view.show(episode_payload(trace, settings, step), key="player_episode_view")
