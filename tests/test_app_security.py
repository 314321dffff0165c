"""What a visitor types comes back as plain text, and no input falls back silently (issue 15, items 6 and 7).

AppTest gives each element's source text: markdown elements (warning, error, info, markdown, caption) are
rendered as markdown by Streamlit, text elements (st.text) never are. So "shown as plain text" is checked
as: the visitor's text is in a text element and in no markdown element.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from samviz.app import params
from samviz.kinds import KINDS, spec

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 90
LINK = "[LOG IN HERE](http://evil.example/login)"
STYLED = "**bold** :red[red]"


def player(query: dict | None = None) -> AppTest:
    """The Episode player. With a query: app.py at its landing address, as an old shared link /?model=… (a link
    carrying the player's settings opens the player). Without one "/" is the story, so the player page runs
    directly, as app.py's navigation runs it at /player."""
    if query:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update(query)
    else:
        at = AppTest.from_string("from samviz.app import pages\npages.episode_player_page()\n", default_timeout=TIMEOUT)
    return at.run()


def compare(query: dict) -> AppTest:
    at = AppTest.from_string("from samviz.app import pages\npages.compare_page()\n", default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


def markdown_sources(at: AppTest) -> list[str]:
    elements = [*at.warning, *at.error, *at.info, *at.success, *at.markdown, *at.caption,
                *at.sidebar.markdown, *at.sidebar.caption]
    return [e.value for e in elements]


def plain_texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ------------------------------------------------------------------------------------------ item 6: markdown injection

@pytest.mark.parametrize("value", [LINK, STYLED])
def test_a_link_value_is_echoed_as_plain_text_only(value):
    at = player({"model": value})
    no_exception(at)
    assert any("Link ignored" in w.value and "model" in w.value for w in at.warning)
    assert not any(value[:12] in source for source in markdown_sources(at))
    assert any(repr(value) in text for text in plain_texts(at))


def test_compare_link_values_are_plain_text_too():
    at = compare({"dense": LINK, "sparse": STYLED})
    no_exception(at)
    sources = markdown_sources(at)
    assert not any(LINK[:12] in source or STYLED[:8] in source for source in sources)
    texts = " ".join(plain_texts(at))
    assert repr(LINK) in texts and repr(STYLED) in texts


def test_typed_bits_errors_echo_plain_text():
    at = player()
    at.radio(key="keep_player_source").set_value("Typed bits").run()
    typed = "[x](http://evil.example) **b**"
    at.text_area(key="keep_player_bits").input(typed).run()
    no_exception(at)
    assert at.error and "Typed input" in at.error[0].value
    assert not any("evil.example" in source or "**b**" in source for source in markdown_sources(at))
    assert any("evil.example" in text for text in plain_texts(at))


def test_echo_shows_newlines_and_cuts_long_input():
    assert params.echo("a\n\nb") == repr("a\n\nb")                 # a blank line cannot start new markdown
    assert len(params.echo("x" * 1000)) < 50


# ------------------------------------------------------------------------------------------ item 7: clear messages

def test_typed_bits_name_the_bad_character_and_its_position():
    rows, problem = params.parse_bits("12001a101", "copy")
    assert rows is None
    assert "row 1" in problem.message
    assert "character 2 is '2'" in problem.message and "character 6 is 'a'" in problem.message
    assert "1 value" not in problem.message
    _, problem = params.parse_bits("101100110\n0110x1010", "copy")
    assert "row 2" in problem.message and "character 5 is 'x'" in problem.message
    _, problem = params.parse_bits("10110", "copy")
    assert "row 1 has 5 bits" in problem.message and "9 per row" in problem.message


def test_typed_bits_position_is_shown_in_the_player():
    at = player()
    at.radio(key="keep_player_source").set_value("Typed bits").run()
    at.text_area(key="keep_player_bits").input("12001a101").run()
    no_exception(at)
    assert at.error and "character 6 is 'a'" in at.error[0].value


def _limited_kind() -> str:
    """A kind whose app slot limit is below the largest slot choice (the dense kinds today: the NTM first)."""
    kinds = [k for k in KINDS if spec(k).app_slot_limit < params.MAX_APP_SLOTS]
    assert kinds, "every kind allows the largest memory: nothing to test"
    return kinds[0]


def _roomier_size(kind: str) -> int:
    """The smallest slot choice above `kind`'s limit that some other kind allows (4096 → 16384 for the NTM)."""
    return min(c for c in params.SLOT_CHOICES if c != "default" and spec(kind).app_slot_limit < c)


def _roomier_kind(size: int) -> str:
    return next(k for k in KINDS if spec(k).app_slot_limit >= size)


def test_slots_above_a_kinds_limit_are_refused_with_the_reason():
    kind = _limited_kind()
    limit = spec(kind).app_slot_limit
    values, problems = params.validate_params({"model": kind, "slots": str(params.MAX_APP_SLOTS)})
    assert values == {"model": kind}
    assert len(problems) == 1 and f"at most {limit}" in problems[0].message and kind.upper() in problems[0].message
    values, problems = params.validate_params({"model": kind, "slots": str(limit)})
    assert values == {"model": kind, "slots": limit} and not problems


def test_player_says_why_slots_fell_back():
    kind = _limited_kind()
    at = player({"model": kind, "slots": str(params.MAX_APP_SLOTS)})
    no_exception(at)
    assert any(f"at most {spec(kind).app_slot_limit}" in w.value for w in at.warning)
    assert at.selectbox(key="keep_player_slots").value == "default"


def test_compare_says_why_slots_fell_back():
    kind = _limited_kind()
    at = compare({"dense": kind, "slots": str(params.MAX_APP_SLOTS)})
    no_exception(at)
    assert any(f"at most {spec(kind).app_slot_limit}" in w.value for w in at.warning)


def test_switching_to_a_kind_with_a_smaller_limit_says_so():
    kind = _limited_kind()
    size = _roomier_size(kind)
    at = player({"model": _roomier_kind(size), "slots": str(size), "index": "faiss"})
    assert at.selectbox(key="keep_player_slots").value == size
    at.selectbox(key="keep_player_model").set_value(kind).run()
    no_exception(at)
    assert any("back to 'default'" in i.value and f"at most {spec(kind).app_slot_limit}" in i.value for i in at.info)


@pytest.mark.parametrize("task", params.TASKS)
def test_a_link_with_a_task_opens_at_that_tasks_default_level(task):
    values, problems = params.validate_params({"task": task})
    assert not problems and values["level"] == params.default_level(task)
    at = player({"task": task})
    no_exception(at)
    assert at.number_input(key="keep_player_level").value == params.default_level(task)


def test_priority_sort_link_opens_at_its_default_not_copys():
    assert params.default_level("priority_sort") != params.default_level("copy")   # else the test proves nothing
    at = player({"task": "priority_sort"})
    assert at.number_input(key="keep_player_level").value == params.default_level("priority_sort")


def test_a_step_past_the_episode_says_so():
    at = player({"level": "2", "step": "4000"})                     # copy level 2: 5 steps
    no_exception(at)
    assert __import__("json").loads(at.get("bidi_component")[0].proto.json)["step"] == 4
    assert any("Step 4000 is past the end" in i.value and "4" in i.value for i in at.info)
    at = compare({"level": "2", "step": "4000"})
    no_exception(at)
    assert any("Step 4000 is past the end" in i.value for i in at.info)


def test_named_bad_characters_cannot_pair_into_markup():
    """Two '*' (or '`', '$', '_') named in one message would otherwise make emphasis, code or LaTeX of the text
    between them: every ASCII punctuation character is backslash-escaped, so CommonMark shows it as typed."""
    _, problem = params.parse_bits("1*0$1_`01", "copy")
    for c in "*$_":
        assert f"'\\{c}'" in problem.message
    assert "'*'" not in problem.message and "'$'" not in problem.message
    assert params.character("a") == "'a'"


# ------------------------------------------------------------------------------------------ issue 29, cosmetic

def test_too_long_bits_in_a_link_are_named_once():
    """Before: "bits in the link: bits in the link are too long"."""
    _, problems = params.read_player({"bits": "1" * (params.MAX_TYPED_CHARS + 1)})
    (problem,) = problems
    assert problem.message == (f"bits in the link: too long ({params.MAX_TYPED_CHARS + 1} characters; at most "
                               f"{params.MAX_TYPED_CHARS}); showing a random episode instead")
    _, problems = params.read_player({"bits": "12"})
    assert problems[0].message.count("bits in the link") == 1


def test_a_key_given_twice_says_which_value_is_read():
    """Before: ?model=sam&model=ntm silently showed the NTM."""
    (problem,) = params.repeated_keys({"model": ["sam", "ntm"], "task": ["copy"]})
    assert problem.message == "model is given 2 times in the link; only the last one is read"
    assert problem.echoed == repr("model=sam & model=ntm")
    (odd,) = params.repeated_keys({"[x](http://evil.example)": ["1", "2"]})
    assert "evil" not in odd.message and "evil" in odd.echoed          # a visitor's key is echoed, never markdown
    at = player({"model": ["sam", "ntm"], "task": "copy"})           # a link opening the player
    no_exception(at)
    assert any("model is given 2 times in the link; only the last one is read" in w.value for w in at.warning)
    assert "You gave: 'model=sam & model=ntm'" in plain_texts(at)
    assert at.selectbox(key="keep_player_model").value == "ntm"
