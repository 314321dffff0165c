"""The story (landing page): one chapter at a time, a figure, the equation folded, then predict-then-reveal.

Thin: chapters, figure data and figures come from samviz/app/story.py. The URL holds the chapter (?chapter=3)
and presenter mode (?presenter=1) so a teacher can share a moment; nav buttons change them in callbacks.
"""
from __future__ import annotations

import streamlit as st

from samviz.app import notices, pages, story

CHART = {"displaylogo": False}


# ------------------------------------------------------------------------------------------ cached figure data
# Pure results are shared by every session (st.cache_data returns a copy each time).

@st.cache_data(show_spinner=False)
def _spotlight() -> dict:
    return story.spotlight()


@st.cache_data(show_spinner=False, max_entries=512)
def _content(degrees: int, beta: float) -> dict:
    return story.content_read(degrees, beta)


@st.cache_data(show_spinner=False, max_entries=256)
def _write(target: int, erase: float) -> dict:
    return story.write_step(target, erase)


@st.cache_data(show_spinner=False)
def _curve() -> dict:
    return story.backprop_curve()


@st.cache_data(show_spinner=False)
def _episode() -> dict:
    return story.sam_episode()


@st.cache_data(show_spinner=False, max_entries=len(story.RECALL_SLOTS))
def _recall(slots: int) -> dict:
    return story.index_recall(slots)


@st.cache_data(show_spinner=False)
def _trained_at_scale() -> list[dict]:
    return story.trained_at_scale()


@st.cache_data(show_spinner=False)
def _payoff() -> list[dict]:
    return story.measured_payoff()


# ------------------------------------------------------------------------------------------ URL callbacks

def _go(number: int) -> None:
    st.query_params[story.CHAPTER_PARAM] = str(number)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("story_checked_")]:
        del st.session_state[key]                # a chapter shown again asks afresh (its radio was reset too)


def _on_select() -> None:
    _go(st.session_state["story_select"])


def _on_presenter() -> None:
    if st.session_state["story_presenter"]:
        st.query_params[story.PRESENTER_PARAM] = "1"
    elif story.PRESENTER_PARAM in st.query_params:
        del st.query_params[story.PRESENTER_PARAM]


def _checked(number: int) -> None:
    st.session_state[f"story_checked_{number}"] = True


def _unchecked(number: int) -> None:
    st.session_state[f"story_checked_{number}"] = False


def _chart(fig) -> None:
    st.plotly_chart(fig, config=CHART, width="stretch")


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


# ------------------------------------------------------------------------------------------ chapter figures

def _figure_1() -> None:
    data = _spotlight()
    _chart(story.spotlight_figure(data))
    w = data["weights"][data["brightest"]]
    st.markdown(f"Here the head shines on **slot {data['brightest']}** with weight **{w:.2f}**; the other "
                f"{len(data['weights']) - 1} slots share the remaining {1 - w:.2f}.")


def _figure_2() -> None:
    left, right = st.columns(2)
    degrees = left.slider("Key direction (degrees)", 0, 359, 40, step=5, key="story_key_angle")
    beta = right.slider("Key strength β", 0.5, 50.0, 5.0, step=0.5, key="story_beta")
    data = _content(int(degrees), float(beta))
    _chart(story.content_figure(data))
    best = data["best"]
    st.markdown(f"With β = {beta:g} the brightest slot is **slot {best}**, weight **{data['weights'][best]:.2f}**. "
                "Slots pointing the opposite way get almost nothing; an arrow's length does not matter, only its "
                "direction (cosine similarity).")


def _figure_3() -> None:
    left, right = st.columns(2)
    target = left.slider("Write to slot", 0, story.WRITE_SLOTS - 1, 2, key="story_write_slot")
    erase = right.slider("Erase strength (every entry of e)", 0.0, 1.0, 1.0, step=0.1, key="story_erase")
    data = _write(int(target), float(erase))
    _chart(story.write_figure(data))
    st.markdown(f"The write head puts weight **{data['weights'][data['target']]:.3f}** on slot {data['target']}; "
                "the other rows barely change. With erase strength 0 the old contents stay and a is simply added.")


def _figure_4() -> None:
    choices = story.cost_slot_choices()
    slots = st.select_slider("Memory slots N", options=choices, value=2**16, key="story_cost_slots",
                             format_func=lambda n: f"{n:,}")
    numbers = story.backprop_bytes(int(slots))
    _chart(story.cost_figure(_curve(), int(slots)))
    a, b = st.columns(2)
    a.metric("Dense (NTM): kept for backprop", _mib(numbers["dense_bytes"]),
             help="samviz.bench.runner.estimate_bytes, training overhead beyond the memory itself")
    b.metric("SAM: kept for backprop", _mib(numbers["sparse_bytes"]),
             help="samviz.bench.runner.estimate_bytes; mostly a fixed allowance, independent of N")
    st.markdown(f"For the benchmark model (batch {numbers['batch']}, {numbers['steps']} steps, W = "
                f"{numbers['word_size']}, {numbers['heads']} read heads) at N = {numbers['slots']:,}: a dense step "
                f"touches **{numbers['dense_touched']:,}** slot rows (every slot, for each read head and the write "
                f"head); a SAM step touches **{numbers['sparse_touched']}** (K = {numbers['k']} per read head, plus "
                "K·R + 1 written), whatever N is.")
    st.caption("Both figures are the benchmark's estimates, which it uses to refuse runs that would not fit: the dense "
               "one is fitted to measured runs; SAM's is a fixed allowance, independent of N, larger than SAM's "
               "measured overhead (chapter 8 shows measurements).")


def _figure_5() -> None:
    episode = _episode()
    _chart(story.sam_figure(episode))
    delta = episode["threshold"]
    counts = [len({slot for slot, w in zip(r["write_ids"], r["write_weights"], strict=True) if w > delta})
              for r in episode["steps"]]
    st.markdown(f"Each step read K·R = {episode['k'] * episode['heads']} entries and wrote at most "
                f"K·R + 1 = {episode['max_written']} rows (distinct rows written with weight above δ, per step here: "
                f"{', '.join(map(str, counts))}). The circled slot is the least recently used one: "
                f"{', '.join(str(r['least_used']) for r in episode['steps'])} at steps "
                f"0–{len(episode['steps']) - 1}. Rows written with weight below δ = {episode['threshold']} are not "
                "drawn as written (at step 0 nothing had been read yet, so only the least recently used slot was).")
    step = st.slider("Usage before step", 0, len(episode["steps"]) - 1, 3, key="story_usage_step")
    usage = episode["steps"][step]["usage_before"]
    oldest = max(range(len(usage)), key=usage.__getitem__)
    st.markdown(f"Before step {step}, usage (steps since last use) per slot: `{usage}`. The largest is slot "
                f"**{oldest}** (ties go to the lower slot), so it is the least recently used — the one step {step} "
                f"erased and wrote "
                f"(slot {episode['steps'][step]['least_used']}).")


def _figure_6() -> None:
    slots = st.radio("Memory slots N", story.RECALL_SLOTS, horizontal=True, key="story_recall_slots",
                     format_func=lambda n: f"{n:,}")
    with st.spinner("Building the index (a few seconds the first time)…"):
        data = _recall(int(slots))
    _chart(story.recall_figure(data))
    a, b, c = st.columns(3)
    a.metric("Exact scan: rows compared per query", f"{data['slots']:,}")
    b.metric("Approximate index: rows scanned per query", f"{data['scanned']:,}")
    c.metric(f"Recall@{data['k']}", f"{data['recall']:.3f}")
    st.markdown(f"{data['queries']} random queries over {data['slots']:,} random rows of {data['word_size']} "
                "numbers. Random rows are the hard case for an index; a trained model's memory is mostly untouched "
                "rows plus a few written ones, where recall is what matters (the player shows it per step).")


def _figure_7() -> None:
    episode = _episode()
    total = len(episode["steps"])
    undone = st.slider("Backward steps taken (journal entries undone, newest first)", 0, total, 0,
                       key="story_undone")
    state = story.rollback(episode, undone)
    _chart(story.rollback_figure(episode, state))
    sizes = story.journal_bytes(episode["slots"], episode["width"], episode["max_written"])
    large = story.backprop_bytes(story.JOURNAL_EXAMPLE_SLOTS)                 # the benchmark model at a large N
    written = large["k"] * large["heads"] + 1
    big = story.journal_bytes(large["slots"], large["word_size"], written)
    st.markdown(f"After undoing {undone} of {total} steps the memory equals the forward pass's memory before step "
                f"{state['at_step']} (largest difference {state['difference']:.1e}). A real backward pass through "
                f"samviz's SAM left the memory exactly as it started (largest difference "
                f"{episode['rollback_difference']:.1e}). Per step the journal keeps {sizes['journal']} bytes here; a "
                f"copy of this toy memory would be {sizes['dense']} bytes. The copy grows with N, the journal does "
                f"not: for the benchmark model (W = {large['word_size']}, R = {large['heads']}, K = {large['k']}) at "
                f"N = {large['slots']:,} a copy is **{_mib(big['dense'])}** per step (per batch element), a journal "
                f"entry of {written} rows **{big['journal']:,} bytes**.")


def _figure_8() -> None:
    table = _payoff()
    if table:
        best = table[0]
        st.markdown(f"Measured (assets/bench/results.jsonl, {best['setting']}): at N = {best['N']:,} one training "
                    f"step took **{best['dense ms/step']:,.0f} ms** for the NTM and "
                    f"**{best['sparse ms/step']:,.1f} ms** for SAM with faiss "
                    f"(**{best['speed ratio']:,}×**); memory kept "
                    f"**{best['dense MiB']:,.0f} MiB** vs **{best['sparse MiB']:,.1f} MiB** "
                    f"(**{best['memory ratio']:,}×**).")
        _chart(story.payoff_figure(table))
        st.dataframe([{k: r[k] for k in ("N", "setting", "dense ms/step", "sparse ms/step", "speed ratio",
                                         "dense MiB", "sparse MiB", "memory ratio")} for r in table],
                     hide_index=True, width="stretch")
    else:
        st.info("No shipped measurements of the NTM and SAM side by side were found.")
    scaled = _trained_at_scale()
    if scaled:
        n = scaled[0]["slots"]
        st.markdown(f"**The same trained models at N = {n:,}** (trained with 128 slots; `python -m samviz.evaluate "
                    f"--scale`, {scaled[0]['episodes']} fresh episodes each, faiss and exact index on the same "
                    "episodes):")
        st.dataframe([{"model": r["model"], "bit errors / sequence, faiss": round(r["bit_errors_faiss"], 3),
                       "bit errors / sequence, exact": round(r["bit_errors_exact"], 3),
                       "recall@K": round(r["recall"], 3), "forward ms / step, faiss": round(r["faiss_ms_per_step"], 1),
                       "forward ms / step, exact": round(r["exact_ms_per_step"], 1)} for r in scaled],
                     hide_index=True, width="stretch")
        st.page_link(pages.page_objects()["player"], label=f"Watch sam-copy step by step with {n:,} slots",
                     icon=":material/play_circle:",
                     query_params={"model": "sam", "task": "copy", "slots": str(n), "index": "faiss"})
    objects = pages.page_objects()
    a, b, c = st.columns(3)
    a.page_link(objects["player"], label="Episode player: watch a trained model step by step",
                icon=":material/play_circle:")
    b.page_link(objects["compare"], label="Compare: dense and sparse side by side", icon=":material/compare_arrows:")
    c.page_link(objects["scaling_lab"], label="Scaling lab: measure the cost yourself", icon=":material/monitoring:")


FIGURES = {1: _figure_1, 2: _figure_2, 3: _figure_3, 4: _figure_4, 5: _figure_5, 6: _figure_6, 7: _figure_7,
           8: _figure_8}


# ------------------------------------------------------------------------------------------ page parts

def _question(chapter: story.Chapter) -> None:
    q = chapter.question
    n = chapter.number
    with st.container(border=True):
        st.markdown(f"**Predict, then check:** {q.prompt}")
        choice = st.radio("Your prediction", q.choices, index=None, key=f"story_answer_{n}",
                          on_change=_unchecked, args=(n,), label_visibility="collapsed")
        st.button("Check", key=f"story_check_{n}", on_click=_checked, args=(n,))
        if st.session_state.get(f"story_checked_{n}"):
            if choice is None:
                st.info("Pick an answer first.")
            elif choice == q.right:
                st.success(f"Right. {q.explanation}")
            else:
                st.error(f"Not quite: the answer is “{q.right}”. {q.explanation}")


def _navigation(number: int, total: int, where: str) -> None:
    left, middle, right = st.columns([1, 3, 1], vertical_alignment="center")
    left.button("Previous", icon=":material/chevron_left:", key=f"story_prev{where}", on_click=_go,
                args=(number - 1,), disabled=number <= 1, width="stretch")
    middle.progress(number / total, text=f"Chapter {number} of {total}")
    right.button("Next", icon=":material/chevron_right:", icon_position="right", key=f"story_next{where}",
                 on_click=_go, args=(number + 1,), disabled=number >= total, width="stretch")


def _glossary() -> None:
    with st.expander("Glossary: every symbol and term"):
        st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in story.glossary()))


def render() -> None:
    # The story's address holds only its own state. Another page's settings left in it (arriving from the player
    # shown at "/" by an old link) would make a shared "/?…" address open that page instead.
    # The chapter is always written, never an empty query: arriving from the sidebar, the browser can keep the
    # previous page's query in its address while the server sees none, and only a written query replaces it.
    own = (story.CHAPTER_PARAM, story.PRESENTER_PARAM)
    if story.CHAPTER_PARAM not in st.query_params or any(k not in own for k in st.query_params.keys()):
        kept = {k: st.query_params[k] for k in own if k in st.query_params}
        st.query_params.from_dict({story.CHAPTER_PARAM: "1", **kept})
    chapters = story.chapters()
    number, chapter_problem = story.parse_chapter(st.query_params.get(story.CHAPTER_PARAM))
    presenter, presenter_problem = story.parse_presenter(st.query_params.get(story.PRESENTER_PARAM))
    if presenter:
        st.markdown(story.PRESENTER_CSS, unsafe_allow_html=True)     # a fixed constant: no visitor text
    chapter = chapters[number - 1]

    top = st.columns([2.2, 1.3, 1.3, 1] if not presenter else [0.1, 1, 1.6, 0.1], vertical_alignment="bottom")
    if not presenter:
        top[0].caption("samviz · a guided story: from the Neural Turing Machine to Sparse Access Memory")
        top[3].page_link(pages.page_objects()["player"], label="Skip to the player", icon=":material/play_circle:",
                         help="The full Episode player: every read, write and neighbour of a trained model, "
                              "step by step.")
    st.session_state["story_select"] = number
    top[2].selectbox("Chapter", [c.number for c in chapters], key="story_select", on_change=_on_select,
                     format_func=lambda n: f"{n}. {chapters[n - 1].title}")
    st.session_state["story_presenter"] = presenter
    top[1].toggle("Presenter mode", key="story_presenter", on_change=_on_presenter,
                  help="Big type, no sidebar, for a projector. The address keeps it (presenter=1).")
    if chapter_problem:
        notices.show(chapter_problem, "Link ignored: ", ". Showing chapter 1.")
    if presenter_problem:
        notices.show(presenter_problem, "Link ignored: ", ". Presenter mode is off.")

    st.header(f"{chapter.number}. {chapter.title}")
    st.markdown(chapter.text)
    FIGURES[chapter.number]()
    with st.expander("The equation"):
        st.markdown(chapter.equation)
    _question(chapter)
    _navigation(number, len(chapters), "")
    _glossary()
