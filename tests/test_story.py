"""The guided story: its pure functions against hand computations and the library, and its page through AppTest."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from samviz.app import episode_view, pages, story

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 90


# ------------------------------------------------------------------------------------------ pure functions

def test_content_weights_of_a_three_slot_toy_match_a_hand_softmax():
    rows, key, beta = [[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]], [2.0, 0.0], 2.0
    # cosines 1, 0, −1 (the model's ε = 1e-6 in the denominator changes them by < 1e-6)
    logits = [beta * 1.0, 0.0, -beta]
    expected = [math.exp(v) / sum(math.exp(u) for u in logits) for v in logits]
    assert story.content_weights(rows, key, beta) == pytest.approx(expected, abs=1e-5)
    assert sum(story.content_weights(rows, key, 7.0)) == pytest.approx(1.0)


def test_a_larger_beta_focuses_the_weights():
    soft, sharp = story.content_read(40, 1.0), story.content_read(40, 50.0)
    assert sharp["best"] == soft["best"]
    assert max(sharp["weights"]) > max(soft["weights"])
    assert len(soft["weights"]) == story.TOY_SLOTS


def test_spotlight_names_its_brightest_slot():
    data = story.spotlight()
    assert data["weights"][data["brightest"]] == max(data["weights"])
    assert sum(data["weights"]) == pytest.approx(1.0)


def flat(rows) -> list[float]:
    return [v for row in rows for v in row]


def test_write_erases_then_adds_on_the_target_only():
    data = story.write_step(2, 1.0)
    w = data["weights"][2]
    for j, (old, new) in enumerate(zip(data["before"][2], data["after"][2], strict=True)):
        assert new == pytest.approx(old * (1 - w) + w * data["add"][j])            # hand erase-and-add
    assert data["after"][2] == pytest.approx(data["add"], abs=1e-6)                # w ≈ 1, e = 1: wiped, then a
    for other in (0, 5):
        assert data["after"][other] == pytest.approx(data["before"][other], abs=1e-6)
    kept = story.write_step(2, 0.0)
    assert flat(kept["erased"]) == pytest.approx(flat(kept["before"]))            # no erase: nothing wiped


def test_constants_come_from_the_library():
    from samviz.memory.usage import ACCESS_THRESHOLD
    from samviz.model import ModelConfig
    assert story.access_threshold() == ACCESS_THRESHOLD
    assert story.neighbours() == ModelConfig().k


def test_sam_episode_reads_k_writes_at_most_kr_plus_one_and_rolls_back():
    episode = story.sam_episode()
    k, r = episode["k"], episode["heads"]
    assert episode["max_written"] == k * r + 1
    for record in episode["steps"]:
        assert [len(ids) for ids in record["read_ids"]] == [k] * r
        assert len(record["write_ids"]) == k * r + 1 and record["least_used"] in record["write_ids"]
        usage = record["usage_before"]
        assert usage[record["least_used"]] == max(usage)                 # the LRU slot has the largest usage
    assert episode["rollback_difference"] == 0.0                        # a real backward restored the start
    for undone in range(len(episode["steps"]) + 1):
        assert story.rollback(episode, undone)["difference"] == 0.0     # the journal replays every state


def test_every_chapter_has_a_question_whose_answer_is_one_of_its_choices():
    chapters = story.chapters()
    assert [c.number for c in chapters] == list(range(1, len(chapters) + 1)) and len(chapters) == 8
    for c in chapters:
        assert c.title and c.text and c.equation and c.question.explanation
        assert 0 <= c.question.answer < len(c.question.choices) and len(set(c.question.choices)) >= 2
        assert c.question.right in c.question.choices


def test_glossary_defines_every_symbol():
    terms = " ".join(term for term, _ in story.glossary())
    for symbol in ("β", "γ", "g^i", "α", "K", "δ", "λ", "usage", "recall", "RSS", "ANN", "slot", "head",
                   "controller", "read weight", "write weight"):
        assert symbol in terms, symbol
    from samviz.memory.dam import USAGE_DISCOUNT
    assert f"λ = {USAGE_DISCOUNT:g}" in dict(story.glossary())["λ (lambda)"]       # the constant, from its module


def test_plain_markdown_shows_the_files_words_as_written():
    assert story.plain_markdown("a_b *c* [x](http://e.x) <b>$1$ `y` :red[z]") == \
        r"a\_b \*c\* \[x\]\(http\:\/\/e\.x\) \<b\>\$1\$ \`y\` \:red\[z\]"
    assert story.plain_markdown("65536 slots") == "65536 slots"                  # letters and digits untouched


def test_the_source_of_the_memory_that_fills_is_shortened_and_kept_plain():
    row = {"command": "python -m samviz.long_evaluation evaluate --checkpoint " + "d/" * 40 + "run --factors 100 "
                      "--slots 65536", "commit": "0123456789abcdef", "machine": "Linux, <b>CPU</b>, 2 CPUs, 8 GiB, "
                      "Python 3.11", "interim": False}
    source = story.filling_source({"series": [{"row": row}]})
    assert "Measured by python -m samviz.long_evaluation evaluate --checkpoint d/" in source
    assert "run … (commit 0123456;" in source                                  # cut before an option, never inside
    assert "(commit 0123456; Linux, <b>CPU</b>, 2 CPUs, 8 GiB)" in source and "Interim" not in source
    assert r"\<b\>CPU\<\/b\>" in story.plain_markdown(source)                # what the page shows: escaped


@pytest.mark.parametrize("value, number, problem", [
    (None, 1, False), ("3", 3, False), ("8", 8, False), ("0", 1, True), ("9", 1, True), ("abc", 1, True),
    ("[x](http://evil.example)", 1, True)])
def test_parse_chapter(value, number, problem):
    got, found = story.parse_chapter(value)
    assert got == number and (found is not None) == problem
    if found is not None and found.echoed is not None:
        assert value not in found.message                  # the visitor's text only in `echoed`


def test_old_player_links_open_the_player():
    assert pages.opens_player(["model", "task"]) and pages.opens_player(["step"])
    assert not pages.opens_player([]) and not pages.opens_player(["chapter", "presenter"])
    # only at the root: /player?model=… names its page (the player as default page would make it "Page not found")
    assert pages.opens_player(["model"], "http://host:8501") and pages.opens_player(["model"], "http://host/")
    assert pages.opens_player(["model"], "http://host/samviz")                      # a server under a base path
    assert not pages.opens_player(["model"], "http://host:8501/player")
    assert not pages.opens_player(["model"], "http://host/samviz/player/")
    assert not pages.opens_player(["model"], "http://host/compare")
    assert pages.opens_player(["model"], None)                                      # no browser (AppTest): the root
    from samviz.app import params
    assert all(pages.opens_player([key]) for key in params.PLAYER_KEYS)             # every key of the player's link


# ------------------------------------------------------------------------------------------ the page (AppTest)

def landing(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params.update(query)
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def svg_charts(at: AppTest) -> list[str]:
    """The story's charts on the page, each one static SVG (no plotly, issue 28): a markdown element, or the figure
    component (samviz/app/episode_view/figure.js) in a chapter that shows the episode view."""
    import json
    figures = [json.loads(c.proto.json)["svg"] for c in at.get("bidi_component")
               if c.proto.component_name.endswith(episode_view.FIGURE_NAME)]
    return [m.value for m in at.markdown if 'class="samviz-chart"' in m.value] + figures


def headers(at: AppTest) -> str:
    """The page's level-2 headings: a chapter's number and title head its text's markdown element."""
    return " ".join(line[3:] for m in at.markdown for line in m.value.splitlines() if line.startswith("## "))


def query(at: AppTest, key: str):
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def test_landing_page_is_the_story():
    at = landing()
    no_exception(at)
    assert "1. Memory is a table" in headers(at)
    assert len(svg_charts(at)) == 1 and not at.get("plotly_chart")
    assert query(at, "chapter") == "1"                      # the address always names the chapter (shareable)


@pytest.mark.parametrize("number", range(1, 9))
def test_each_chapter_renders_and_its_question_answers(number):
    at = landing({"chapter": str(number)})
    no_exception(at)
    chapter = story.chapters()[number - 1]
    assert f"{number}. {chapter.title}" in headers(at)
    assert not at.get("plotly_chart")                     # the story loads no plotly.js (issue 28)
    for chart in svg_charts(at):                          # one line each: markdown keeps it one HTML block
        assert "\n" not in chart and chart.count("<svg") == 1 and 'role="img"' in chart
    radio = at.radio(key=f"story_answer_{number}")
    assert radio.label == f"**Predict, then check:** {chapter.question.prompt}"       # the question is its label
    radio.set_value(chapter.question.right).run()
    at.button(key=f"story_check_{number}").click().run()
    no_exception(at)
    assert any(chapter.question.explanation in s.value for s in at.success)
    wrong = next(c for c in chapter.question.choices if c != chapter.question.right)
    at.radio(key=f"story_answer_{number}").set_value(wrong).run()
    at.button(key=f"story_check_{number}").click().run()
    assert any("Not quite" in e.value for e in at.error)


def test_chapter_5_draws_its_chart_through_the_figure_component_and_no_raw_html():
    """Chapter 5 shows the episode view, so its chart goes through the figure component (one component runtime)
    and no markdown element asks for raw HTML: the page loads no markdown HTML parser (issue 28). Chapter 1 has no
    component: its chart stays markdown."""
    at = landing({"chapter": "5"})
    no_exception(at)
    assert svg_charts(at) == [story.sam_figure(story.sam_episode()).svg()]
    assert not [m for m in at.markdown if m.proto.allow_html]
    at = landing({"chapter": "1"})
    assert not at.get("bidi_component") and len(svg_charts(at)) == 1
    assert [m.proto.allow_html for m in at.markdown if 'class="samviz-chart"' in m.value] == [True]


def test_the_equation_and_the_glossary_are_sent_when_opened():
    """Closed, they send nothing for the browser to render (issue 28: the glossary is long and an equation needs
    KaTeX); opening one reruns the page with its content."""
    at = landing({"chapter": "2"})
    chapter = story.chapters()[1]
    assert [e.label for e in at.expander] == ["The equation", "Glossary: every symbol and term"]
    text = " ".join(m.value for m in at.markdown)
    assert chapter.equation not in text and "**lazy deletion**" not in text
    at.session_state["story_equation"] = True
    at.session_state["story_glossary"] = True
    at.run()
    no_exception(at)
    text = " ".join(m.value for m in at.markdown)
    assert chapter.equation in text
    assert all(f"**{term}**: {meaning}" in text for term, meaning in story.glossary())


def test_next_and_previous_move_the_chapter_in_the_url():
    at = landing({"chapter": "2"})
    at.button(key="story_check_2").click().run()
    assert any("Pick an answer first" in i.value for i in at.info)
    at.button(key="story_next").click().run()
    no_exception(at)
    assert query(at, "chapter") == "3" and "3. Writing" in headers(at)
    at.button(key="story_prev").click().run()
    at.button(key="story_prev").click().run()
    assert query(at, "chapter") == "1" and "1. Memory" in headers(at)
    assert at.button(key="story_prev").disabled
    at.button(key="story_next").click().run()
    assert "2. Reading" in headers(at) and not any("Pick an answer" in i.value for i in at.info)  # asked afresh
    at.radio(key="story_select").set_value(7).run()
    assert query(at, "chapter") == "7" and "7. Sparse backprop" in headers(at)


@pytest.mark.parametrize("value", ["99", "abc", "[LOG IN](http://evil.example)"])
def test_invalid_chapter_gives_a_message_and_chapter_1(value):
    at = landing({"chapter": value})
    no_exception(at)
    assert any("chapter" in w.value for w in at.warning)
    assert all("evil.example" not in w.value for w in at.warning)           # echoed only as plain text
    assert "1. Memory is a table" in headers(at)


def test_presenter_mode_is_kept_between_chapters_and_toggles():
    at = landing({"chapter": "4", "presenter": "1"})
    no_exception(at)
    assert at.toggle(key="story_presenter").value
    assert any("stSidebar" in m.value for m in at.markdown)                  # the fixed stylesheet
    at.button(key="story_next").click().run()
    assert query(at, "chapter") == "5" and query(at, "presenter") == "1"
    at.toggle(key="story_presenter").set_value(False).run()
    no_exception(at)
    assert query(at, "presenter") is None and query(at, "chapter") == "5"
    assert not any("stSidebar" in m.value for m in at.markdown)


def test_landing_link_with_player_settings_opens_the_player():
    at = landing({"model": "sam", "task": "copy", "level": "6", "seed": "4", "step": "3"})
    no_exception(at)
    assert at.selectbox(key="keep_player_model").value == "sam"
    assert "Memory is a table" not in headers(at)


def test_the_story_drops_another_pages_settings_from_its_address():
    at = AppTest.from_string("from samviz.app import pages\npages.story_page()\n", default_timeout=TIMEOUT)
    at.query_params.update({"model": "sam", "step": "2", "chapter": "2", "presenter": "1"})
    at.run()
    no_exception(at)
    assert "2. Reading by content" in headers(at)
    assert query(at, "model") is None and query(at, "step") is None
    assert query(at, "chapter") == "2" and query(at, "presenter") == "1"


def test_bad_presenter_value_gives_a_message_and_presenter_off():
    assert story.parse_presenter("1") == (True, None) and story.parse_presenter(None) == (False, None)
    at = landing({"chapter": "2", "presenter": "**yes**"})
    no_exception(at)
    assert any("presenter" in w.value for w in at.warning) and "You gave: '**yes**'" in [t.value for t in at.text]
    assert not at.toggle(key="story_presenter").value and "2. Reading" in headers(at)


