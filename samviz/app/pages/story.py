"""The story (landing page): one chapter at a time, a figure, the equation folded, then predict-then-reveal.

Thin: chapters, figure data and figures come from samviz/app/story.py. The URL holds the chapter (?chapter=3)
and presenter mode (?presenter=1) so a teacher can share a moment; nav buttons change them in callbacks.
"""
from __future__ import annotations

import streamlit as st

from samviz.app import episode_view, notices, pages, story, svg_charts
from samviz.app.episode_view import payload

MEASURE_NAMES = {"cpu": "CPU time", "wall": "wall-clock time"}


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


@st.cache_data(show_spinner=False)
def _index_runs() -> dict:
    return story.index_runs()


@st.cache_data(show_spinner=False)
def _trained_at_scale() -> dict:
    return story.trained_at_scale()


@st.cache_data(show_spinner=False)
def _payoff() -> dict:
    return story.measured_payoff()


@st.cache_data(show_spinner=False)
def _filling() -> dict:
    return story.memory_filling()


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


def _chart(chart: svg_charts.Chart, component_key: str | None = None) -> None:
    """A static SVG (every text in it escaped by svg_charts; no visitor text is raw). st.html's sanitiser strips
    <svg>; st.markdown(unsafe_allow_html=True) renders it but loads an HTML parser into the page view. Where a
    chapter shows the episode view anyway (chapter 5), the chart goes through the figure component
    (episode_view.figure, given component_key) and that parser is not loaded; elsewhere the component's runtime
    would cost a view about as much as the parser (issue 28: browser CPU per view), so it stays markdown."""
    if component_key is not None:
        episode_view.figure(chart.svg(), key=component_key)
    else:
        st.markdown(svg_charts.html(chart), unsafe_allow_html=True)


def _cell(value, spec: str) -> str:
    """A table cell: the number in format `spec`, or a dash where none was measured."""
    return "—" if value is None else format(value, spec)


def _table(rows: list[dict]) -> None:
    # A markdown table, not st.dataframe: the data grid (a canvas and its script) cost a page view more browser CPU
    # than a table of ten rows is worth (issue 28). The cells are numbers and model names, never visitor text.
    from samviz.results.readme import markdown_table
    st.markdown(markdown_table(rows))


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
    best, opposite = data["best"], data["opposite"]
    far = data["weights"][opposite]
    if data["opposite_negligible"]:
        tail = f"Slot {opposite}, pointing most nearly the opposite way, gets almost nothing ({far:.4f})."
    else:
        tail = (f"Even slot {opposite}, pointing most nearly the opposite way, still gets {far:.3f}: with β = "
                f"{beta:g} the spotlight is wide.")
    st.markdown(f"With β = {beta:g} the brightest slot is **slot {best}**, weight **{data['weights'][best]:.3f}**. "
                f"{tail} An arrow's length does not matter, only its direction (cosine similarity).")


def _figure_3() -> None:
    left, right = st.columns(2)
    target = left.slider("Write to slot", 0, story.WRITE_SLOTS - 1, 2, key="story_write_slot")
    erase = right.slider("Erase strength (every entry of e)", 0.0, 1.0, 1.0, step=0.1, key="story_erase")
    data = _write(int(target), float(erase))
    _chart(story.write_figure(data))
    st.markdown(f"The write head puts weight **{data['weights'][data['target']]:.5f}** on slot {data['target']}; "
                f"the other {story.WRITE_SLOTS - 1} rows share the remaining {data['others_weight']:.1e}, so none of "
                f"their numbers moves by more than {data['others_change']:.1e}. With erase strength 0 the old "
                "contents stay and a is simply added.")


def _figure_4() -> None:
    choices = story.cost_slot_choices()
    slots = st.select_slider("Memory slots N", options=choices, value=2**16, key="story_cost_slots",
                             format_func=lambda n: f"{n:,}")
    numbers = story.backprop_bytes(int(slots))
    _chart(story.cost_figure(_curve(), int(slots)))
    # the total in bold in the sentence, not in an st.metric beside it: a metric's scripts cost every view of the
    # chapter browser CPU for a number the sentence says anyway (issue 28)
    st.markdown(f"At N = {numbers['slots']:,} the NTM keeps **{_mib(numbers['total_bytes'])}** for backprop (the "
                f"benchmark model: {numbers['word_size']} numbers per slot, {numbers['heads']} read heads and a write "
                f"head; a batch of {numbers['batch']}): {_mib(numbers['total_bytes'])} = "
                f"{numbers['steps']} steps × {numbers['batch']} episodes × {_mib(numbers['per_step_bytes'])} per step. "
                f"One copy of this memory is {_mib(numbers['copy_bytes'])} (N × {numbers['word_size']} numbers of 4 "
                f"bytes); each step keeps about {numbers['copies_per_step']:.1f} copies' worth of memory-shaped "
                "tensors plus a weight for every slot for each head. Every step also touches "
                f"**{numbers['touched']:,}** slot rows: all N, for each of the {numbers['heads'] + 1} heads.")
    st.caption("These bytes are samviz's cost model of what autograd keeps for backward, fitted to the peak memory of "
               "measured training runs of its NTM; chapter 7 uses the same model, chapter 8 shows measurements.")


def _figure_5() -> None:
    episode = _episode()
    grid = story.sam_grid(episode)
    _chart(story.sam_figure(episode), component_key="story_sam_figure")
    delta = episode["threshold"]
    distinct = [len(ids) for ids in grid["read_sets"]]
    above = [len(ids) for ids in grid["written_sets"]]
    last = len(episode["steps"]) - 1
    st.markdown(
        f"At every step the {episode['heads']} heads read K = {episode['k']} slots each: "
        f"K·R = {grid['reads_per_step']} reads. Both heads can pick the same slot, so fewer distinct slots are "
        f"coloured as read: {', '.join(map(str, distinct))} at steps 0–{last}. The write comes first in each step: "
        f"it goes to the slots read at the step before and to the circled least recently used slot, at most "
        f"K·R + 1 = {episode['max_written']} rows; the cells show the slots whose total write weight exceeded "
        f"δ = {delta} ({', '.join(map(str, above))} per step). At step 0 nothing had been read yet, so only the "
        "least recently used slot was written. Purple: read and written at the same step.")
    # stepped in the browser (samviz/app/episode_view): each step's sentence is computed here, for every step
    sentences = []
    for step, record in enumerate(episode["steps"]):
        usage = record["usage_before"]
        oldest = max(range(len(usage)), key=usage.__getitem__)
        sentences.append(f"Before step {step}, each slot's steps since its last use (the player calls this number "
                         f"its usage: large means long unused): {usage}. Before step 0 every slot counts as used just "
                         f"before the episode began (1 step ago), so a slot never used by step {step} shows "
                         f"{step + 1}. The largest is slot {oldest} (ties go to the lower slot): the least recently "
                         f"used one, which step {step} erased and wrote (slot {record['least_used']}).")
    episode_view.show(payload.story_usage([r["usage_before"] for r in episode["steps"]],
                                          [r["least_used"] for r in episode["steps"]], sentences,
                                          episode="story-chapter-5", step=min(3, last)), key="story_usage_view")


def _figure_6() -> None:
    runs = _index_runs()
    rows = runs["rows"]
    if not rows:
        st.info(f"No measurements of {story.INDEX_MODEL}'s index from today's code (assets/bench/index_recall.jsonl): "
                "make them with `python -m samviz.results run --only index_recall`. " + runs["note"])
        return
    longest = max(range(len(rows)), key=lambda i: rows[i]["steps_per_episode"])
    chosen = st.radio("Episode", list(range(len(rows))), index=longest, horizontal=True, key="story_index_episode",
                      format_func=lambda i: f"{rows[i]['level']:,} items ({rows[i]['steps_per_episode']:,} steps), "
                                            f"N = {rows[i]['slots']:,}")
    row = rows[chosen]
    _chart(story.index_figure(row))
    last = row["trace"][-1] if row["trace"] else {}
    facts = story.index_facts()
    older = last.get("older") or 0
    st.markdown(
        f"Copying {row['level']:,} items ({row['steps_per_episode']:,} steps) with N = {row['slots']:,} slots, "
        f"{story.INDEX_MODEL} wrote {last.get('written', 0):,} distinct rows: the last {last.get('recent', 0):,} "
        f"sit in the part compared exactly (at most {facts['recent_rows']:,})"
        + (f", the other {older:,} in the clusters." if older else "; nothing has moved into the clusters yet.")
        + f" Recall over the episode's {row['queries']:,} searches: **{row['recall']:.4f}** "
        f"({row['top1_missed']} missed their true best row). The index's own work per step: "
        f"**{row['faiss_index_ms_per_step']:.2f} ms**, against **{row['exact_index_ms_per_step']:.2f} ms** for an "
        f"exact scan of all {row['slots']:,} rows on the same episode; bit errors per sequence "
        f"{row['bit_errors_faiss']:.3f} with faiss, {row['bit_errors_exact']:.3f} with the exact scan.")
    st.caption(f"Measured by `python -m samviz.results run --only index_recall` (CPU, one thread, forward only; the "
               f"recall is checked against an exact search of the same live memory). {runs['note']}")


def _figure_7() -> None:
    episode = _episode()
    total = len(episode["steps"])
    # stepped in the browser (samviz/app/episode_view): each position's memory, outlines and sentence computed here
    memories, outlines, sentences = [], [], []
    for undone in range(total + 1):
        state = story.rollback(episode, undone)
        memories.append(state["memory"])
        outlines.append([{"slots": undo["changed"], "last": i == len(state["restored"]) - 1}
                         for i, undo in enumerate(state["restored"])])
        if state["restored"]:
            last = state["restored"][-1]
            sentences.append(
                f"Undoing step {last['step']} restored its journal entry: {last['journal_rows']} rows for "
                f"{len(last['slots'])} distinct slots (a step names every slot it wrote, even with weight 0); "
                f"{len(last['changed'])} of them ({', '.join(map(str, last['changed'])) or 'none'}) held other "
                "numbers and are outlined — those written above δ, the ones chapter 5 colours, were "
                f"{', '.join(map(str, last['above_delta'])) or 'none'}. The memory now equals the forward pass's "
                f"memory before step {state['at_step']} (largest difference {state['difference']:.1e}).")
        else:
            sentences.append(f"This is the memory after all {total} steps (0–{total - 1}) of the forward pass. Step "
                             "forward to undo them, newest first.")
    episode_view.show(payload.story_rollback(memories, outlines, sentences, steps=total,
                                             scale=story.colour_bound(episode), episode="story-chapter-7"),
                      key="story_rollback_view")
    sizes = story.journal_vs_copy(story.JOURNAL_EXAMPLE_SLOTS, **{k: story.benchmark_model()[k]
                                                                  for k in ("word_size", "heads", "k")})
    toy = story.journal_vs_copy(episode["slots"], episode["width"], episode["heads"], episode["k"])
    st.markdown(
        f"A real backward pass through samviz's SAM left the memory exactly as it started (largest difference "
        f"{episode['rollback_difference']:.1e}). What it saves shows at large N. Per step and episode, by "
        f"the cost model of chapter 4, at N = {sizes['slots']:,} with the benchmark model (W = {sizes['word_size']}, "
        f"R = {sizes['heads']}, K = {sizes['k']}): one copy of the memory is **{_mib(sizes['copy'])}** and the NTM "
        f"keeps **{_mib(sizes['ntm'])}** (about {sizes['ntm_copies']:.1f} copies' worth plus its weights); SAM keeps "
        f"**{sizes['sam']:,} bytes**: the journal of its {sizes['written_rows']} written rows ({sizes['journal']:,} "
        f"bytes) and the rows its reads gathered ({sizes['gathered']:,} bytes), whatever N is. On this 16-slot toy "
        f"there is nothing to save: SAM's {toy['sam']:,} bytes are more than the toy's whole memory "
        f"({toy['copy']:,} bytes).")


def _figure_8() -> None:
    payoff = _payoff()
    table = payoff["table"]
    if table:
        best = table[0]
        beyond = payoff["ntm_beyond"]
        st.markdown(
            f"Measured by samviz's benchmark ({payoff['setting']}; time: {MEASURE_NAMES[payoff['measure']]}): at "
            f"N = {best['N']:,} one training step took **{best['dense ms/step']:,.0f} ms** for the NTM and "
            f"**{best['sparse ms/step']:,.1f} ms** for SAM with faiss (**{best['speed ratio']:,}×**); measured "
            f"memory overhead **{best['dense MiB']:,.0f} MiB** against **{best['sparse MiB']:,.1f} MiB** "
            f"(**{best['memory ratio']:,}×**)."
            + (f" The NTM was not measured at N = {beyond['slots']:,} ({beyond['status']}: {beyond['reason']})."
               if beyond else ""))
        _chart(story.payoff_figure(payoff))
        _table([{"N": _cell(r["N"], ","), "NTM ms/step": _cell(r["dense ms/step"], ",.1f"),
                 "SAM ms/step": _cell(r["sparse ms/step"], ",.2f"), "speed ×": _cell(r["speed ratio"], ","),
                 "NTM MiB": _cell(r["dense MiB"], ",.1f"), "SAM MiB": _cell(r["sparse MiB"], ",.2f"),
                 "memory ×": _cell(r["memory ratio"], ",")} for r in table])
        st.caption(f"{payoff['note']} Memory here is the **measured overhead**: how far the peak memory of a training "
                   "step rose above the memory already set up. It holds what is kept for backprop (chapters 4 and "
                   "7) plus temporaries and the allocator's slack — for SAM, whose journal is a few KB per step, "
                   "almost all of it. Time is the benchmark's "
                   f"{MEASURE_NAMES[payoff['measure']]}, the median of at least 5 runs.")
    else:
        st.info("No measurements of the NTM and SAM side by side from today's code in assets/bench/results.jsonl: "
                "make them with `python -m samviz.results run --only bench`. " + payoff["note"])
    scaled = _trained_at_scale()
    if scaled["rows"]:
        rows = scaled["rows"]
        n = rows[0]["slots"]
        st.markdown(f"**The same trained models at N = {n:,}** (trained with 128 slots; `python -m samviz.results "
                    f"run --only scale`, {rows[0]['episodes']} fresh episodes each, faiss and exact index on the same "
                    "episodes):")
        _table([{"model": f"`{r['model']}`", "errors/seq faiss": _cell(r["bit_errors_faiss"], ".3f"),
                 "errors/seq exact": _cell(r["bit_errors_exact"], ".3f"), "recall@K": _cell(r["recall"], ".4f"),
                 "ms/step faiss": _cell(r["faiss_ms_per_step"], ",.1f"),
                 "ms/step exact": _cell(r["exact_ms_per_step"], ",.1f")} for r in rows])
        st.caption("errors/seq: bit errors per sequence; ms/step: forward time per step, no gradient (wall clock).")
        st.caption(" ".join([*(story.index_sentence(r) for r in rows
                               if r["bit_errors_faiss"] != r["bit_errors_exact"]), scaled["note"]]))
        st.page_link(pages.page_objects()["player"], label=f"Watch sam-copy step by step with {n:,} slots",
                     icon=":material/play_circle:",
                     query_params={"model": "sam", "task": "copy", "slots": str(n), "index": "faiss"})
    filling = _filling()
    if filling["series"]:
        st.markdown("**A memory that fills.** "
                    + story.filling_sentence(filling, story.index_facts()["recent_rows"]))
        _chart(story.filling_figure(filling))
        st.caption(story.plain_markdown(story.filling_source(filling)))      # the file's words, shown as written
    else:
        st.info(story.plain_markdown(filling["note"]))
    objects = pages.page_objects()
    st.page_link(objects["player"], label="Episode player: watch a trained model step by step",
                 icon=":material/play_circle:")
    st.page_link(objects["compare"], label="Compare: dense and sparse side by side", icon=":material/compare_arrows:")
    st.page_link(objects["scaling_lab"], label="Scaling lab: measure the cost yourself", icon=":material/monitoring:")


FIGURES = {1: _figure_1, 2: _figure_2, 3: _figure_3, 4: _figure_4, 5: _figure_5, 6: _figure_6, 7: _figure_7,
           8: _figure_8}


# ------------------------------------------------------------------------------------------ page parts

def _question(chapter: story.Chapter) -> None:
    q = chapter.question
    n = chapter.number
    with st.container(border=True):
        choice = st.radio(f"**Predict, then check:** {q.prompt}", q.choices, index=None, key=f"story_answer_{n}",
                          on_change=_unchecked, args=(n,))
        st.button("Check", key=f"story_check_{n}", on_click=_checked, args=(n,))
        if st.session_state.get(f"story_checked_{n}"):
            if choice is None:
                st.info("Pick an answer first.")
            elif choice == q.right:
                st.success(f"Right. {q.explanation}")
            else:
                st.error(f"Not quite: the answer is “{q.right}”. {q.explanation}")


def _navigation(number: int, total: int, where: str) -> None:
    # one horizontal row (a flex box), not three columns and a progress bar: fewer elements for the browser to
    # draw on every view (issue 28); "Chapter k of n" is the Chapters menu's label at the top
    row = st.container(horizontal=True, horizontal_alignment="distribute", vertical_alignment="center")
    row.button("Previous", icon=":material/chevron_left:", key=f"story_prev{where}", on_click=_go,
               args=(number - 1,), disabled=number <= 1)
    row.button("Next", icon=":material/chevron_right:", icon_position="right", key=f"story_next{where}",
               on_click=_go, args=(number + 1,), disabled=number >= total)


def _folded(label: str, key: str, body: str) -> None:
    """An expander whose markdown is sent only once it is opened (opening reruns the page): a closed one costs the
    browser nothing to render — the glossary is long, and an equation's KaTeX is loaded only when asked for
    (issue 28: browser CPU per view)."""
    box = st.expander(label, key=key, on_change="rerun")
    if box.open:
        box.markdown(body)


def _glossary() -> None:
    _folded("Glossary: every symbol and term", "story_glossary",
            "\n".join(f"- **{term}**: {meaning}" for term, meaning in story.glossary()))


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

    # Header: the caption, a popover labelled "Chapter k of n" (the chapter select and presenter mode) and the player
    # link in one horizontal row (one flex box, not columns: fewer elements for the browser to draw). In a popover
    # the two widgets are drawn only once it is opened: a closed one loads none of their scripts, and each widget's
    # scripts add to every page view's browser CPU (issue 28). The chapter's number and title head the text below;
    # Previous and Next sit under every chapter.
    top = st.container(horizontal=True, vertical_alignment="center")
    if not presenter:
        top.caption("samviz · a guided story: from the Neural Turing Machine to Sparse Access Memory")
    menu = top.popover(f"Chapter {number} of {len(chapters)}", icon=":material/menu_book:", key="story_menu")
    if not presenter:
        top.page_link(pages.page_objects()["player"], label="Skip to the player", icon=":material/play_circle:",
                      help="The full Episode player: every read, write and neighbour of a trained model, "
                           "step by step.")
    st.session_state["story_select"] = number
    menu.radio("Chapter", [c.number for c in chapters], key="story_select", on_change=_on_select,
               format_func=lambda n: f"{n}. {chapters[n - 1].title}")        # all titles in full, one a line
    st.session_state["story_presenter"] = presenter
    menu.toggle("Presenter mode", key="story_presenter", on_change=_on_presenter,
                help="Big type, no sidebar, for a projector. The address keeps it (presenter=1).")
    if chapter_problem:
        notices.show(chapter_problem, "Link ignored: ", ". Showing chapter 1.")
    if presenter_problem:
        notices.show(presenter_problem, "Link ignored: ", ". Presenter mode is off.")

    st.markdown(f"## {chapter.number}. {chapter.title}\n\n{chapter.text}")      # one element: heading and text
    FIGURES[chapter.number]()
    _folded("The equation", "story_equation", chapter.equation)
    _question(chapter)
    _navigation(number, len(chapters), "")
    _glossary()
