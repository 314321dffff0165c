"""The state in the URL on every page (issue 12 item 6): params.py's pure functions, then the pages under AppTest.

Unit tests: every parameter of every page makes a valid round trip (settings -> query dict -> the same settings),
and every invalid value comes back as a Problem that names the parameter and the value used instead, with the
visitor's text only in `echoed`. AppTest: a page given a URL shows those settings; a refused value is a visible
message; the settings shared by the pages are carried when the visitor switches pages.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from samviz.app import params
from samviz.kinds import INDEXES, spec

TIMEOUT = 90


# ------------------------------------------------------------------------------------------ round trips

def _player(**changes) -> dict:
    return {**params.player_defaults(), **changes}


def _compare(**changes) -> dict:
    return {**params.compare_defaults(), **changes}


def _lab(**changes) -> dict:
    return {**params.lab_defaults(), **changes}


PLAYER_SETTINGS = [
    _player(),
    _player(model="sam", index="faiss"),
    _player(model="sdnc", index="exact"),
    _player(model="dam"),
    _player(model="dnc", slots=1024),
    _player(task="associative_recall", level=params.level_range("associative_recall")[1]),
    _player(task="priority_sort", level=3),
    _player(seed=params.MAX_SEED),
    _player(step=7),
    _player(step=params.MAX_STEP),
    _player(slots=4096),
    _player(slots=64, model="sam"),
    _player(bits="101100110\n011011010\n000000001"),
    _player(task="priority_sort", bits="1 0 1 1 0 0 1 0 0.5 0\n0000000001"),        # canonical: format_bits
]


@pytest.mark.parametrize("settings", PLAYER_SETTINGS, ids=range(len(PLAYER_SETTINGS)))
def test_player_settings_round_trip(settings):
    query = params.player_query(settings)
    assert all(isinstance(v, str) for v in query.values())
    assert params.read_player(query) == (settings, [])


def test_player_query_holds_every_setting():
    query = params.player_query(_player(model="sam", index="faiss", slots=256, step=4, seed=3, bits="101100110"))
    assert query == {"model": "sam", "task": "copy", "level": "10", "seed": "3", "step": "4", "slots": "256",
                     "index": "faiss", "bits": "101100110"}
    assert "index" not in params.player_query(_player(model="ntm"))          # a dense model has no index
    assert "bits" not in params.player_query(_player())                       # a random episode has no bits


COMPARE_SETTINGS = [
    _compare(),
    _compare(dense="dam", sparse="sam"),
    _compare(dense="dnc", sparse="sdnc", slots=1024),
    _compare(dense="ntm", sparse="sdnc", index="faiss"),
    _compare(task="priority_sort", level=40, seed=12),
    _compare(slots=4096, step=9),
    _compare(slots=64, step=0),
]


@pytest.mark.parametrize("settings", COMPARE_SETTINGS, ids=range(len(COMPARE_SETTINGS)))
def test_compare_settings_round_trip(settings):
    query = params.compare_query(settings)
    assert set(query) == set(params.COMPARE_KEYS)               # slots and step too, not only models and task
    assert params.read_compare(query) == (settings, [])


LAB_SETTINGS = [
    _lab(),
    _lab(models=list(params.LAB_MODELS)),
    _lab(models=["sdnc-faiss"]),
    _lab(models=[]),
    _lab(slots=(params.LAB_POWERS[0], params.LAB_POWERS[-1])),
    _lab(slots=(4096, 4096)),
    *[_lab(batch=b) for b in params.LAB_BATCHES],
    _lab(steps=1), _lab(steps=params.LAB_MAX_STEPS),
    _lab(heads=1), _lab(heads=params.LAB_MAX_HEADS),
    *[_lab(timeout=t) for t in params.LAB_TIMEOUTS],
]


@pytest.mark.parametrize("settings", LAB_SETTINGS, ids=range(len(LAB_SETTINGS)))
def test_lab_settings_round_trip(settings):
    query = params.lab_query(settings)
    assert set(query) == set(params.LAB_KEYS)
    assert params.read_lab(query) == (settings, [])


def test_lab_reads_a_single_size_and_a_model_list_with_spaces():
    settings, problems = params.read_lab({"slots": "2048", "models": " ntm , sam-exact,ntm"})
    assert not problems and settings["slots"] == (2048, 2048) and settings["models"] == ["ntm", "sam-exact"]


# ------------------------------------------------------------------------------------------ refused values

def _one_problem(problems, key: str, fallback: str) -> params.Problem:
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.message.startswith(key) or f" {key} " in problem.message or f"{key} in the link" in \
        problem.message or problem.message.startswith(key.upper()), problem.message
    assert fallback in problem.message and problem.message.endswith(" instead"), problem.message
    return problem


PLAYER_BAD = [
    ({"model": "bogus"}, "model", "using model = ntm"),
    ({"task": "sorting"}, "task", "using task = copy"),
    ({"level": "0"}, "level", "using level = 10"),
    ({"level": "41"}, "level", "using level = 10"),
    ({"task": "priority_sort", "level": "99"}, "level", f"using level = {params.default_level('priority_sort')}"),
    ({"level": "ten"}, "level", "using level = 10"),
    ({"seed": "-1"}, "seed", "using seed = 0"),
    ({"seed": str(params.MAX_SEED + 1)}, "seed", "using seed = 0"),
    ({"seed": "abc"}, "seed", "using seed = 0"),
    ({"step": "-5"}, "step", "using step = 0"),
    ({"step": str(params.MAX_STEP + 1)}, "step", "using step = 0"),
    ({"index": "l2", "model": "sam"}, "index", "using index = exact"),
    ({"index": "faiss", "model": "ntm"}, "index", "using index = exact"),           # a dense model has none
    ({"slots": "100"}, "slots", "using slots = default"),
    ({"slots": "99999999"}, "slots", "using slots = default"),
    ({"slots": "lots"}, "slots", "using slots = default"),
    ({"model": "dnc", "slots": "4096"}, "DNC", "using slots = default"),
    ({"bits": "10x"}, "bits", "showing a random episode"),
    ({"bits": "101"}, "bits", "showing a random episode"),
    ({"bits": "1" * (params.MAX_TYPED_CHARS + 1)}, "bits", "showing a random episode"),
    ({"bits": "\n".join(["101100110"] * (params.MAX_TYPED_STEPS + 1))}, "bits", "showing a random episode"),
]


@pytest.mark.parametrize("query,key,fallback", PLAYER_BAD, ids=[str(i) for i in range(len(PLAYER_BAD))])
def test_player_refuses_with_the_parameter_and_the_fallback(query, key, fallback):
    settings, problems = params.read_player(query)
    _one_problem(problems, key, fallback)
    name = "slots" if key == "DNC" else key
    if name == "bits":
        assert settings["bits"] == ""
    elif name == "level" and "task" in query:
        assert settings["level"] == params.default_level(query["task"])
    else:
        assert settings[name] == params.player_defaults()[name]


def test_a_dnc_link_with_4096_slots_says_the_limit_and_what_was_used():
    for settings, problems in (params.read_player({"model": "dnc", "slots": "4096"}),
                               params.read_compare({"dense": "dnc", "slots": "4096"})):
        limit = spec("dnc").app_slot_limit
        [problem] = problems
        assert f"at most {limit}" in problem.message and "not 4096" in problem.message
        assert "using slots = default" in problem.message
        assert settings["slots"] == "default"
    assert params.read_compare({"dense": "dnc", "slots": "4096"})[0]["sparse"] == "sdnc"


def test_compare_reads_a_players_model_as_one_of_its_pair():
    for query, pair in (({"model": "sam"}, ("ntm", "sam")), ({"model": "dnc"}, ("dnc", "sdnc")),
                        ({"model": "sdnc", "dense": "dam"}, ("dam", "sdnc")), ({"model": "dam", "sparse": "sdnc"},
                                                                               ("dam", "sdnc"))):
        settings, problems = params.read_compare(query)
        assert not problems and (settings["dense"], settings["sparse"]) == pair, query


COMPARE_BAD = [
    ({"dense": "sam"}, "dense", "using dense = ntm"),
    ({"sparse": "ntm"}, "sparse", "using sparse = sam"),
    ({"model": "bogus"}, "model", "using model = ntm"),
    ({"task": "x"}, "task", "using task = copy"),
    ({"level": "0"}, "level", "using level = 10"),
    ({"seed": "x"}, "seed", "using seed = 0"),
    ({"index": "annoy"}, "index", "using index = exact"),
    ({"slots": "3"}, "slots", "using slots = default"),
    ({"step": "-1"}, "step", "using step = 0"),
]


@pytest.mark.parametrize("query,key,fallback", COMPARE_BAD, ids=[str(i) for i in range(len(COMPARE_BAD))])
def test_compare_refuses_with_the_parameter_and_the_fallback(query, key, fallback):
    settings, problems = params.read_compare(query)
    _one_problem(problems, key, fallback)
    assert settings == params.compare_defaults()


LAB_BAD = [
    ({"models": "ntm,lstm"}, "models", "using models = ntm,sam-faiss"),
    ({"slots": "1000"}, "slots", "using slots = 1024-16384"),
    ({"slots": "16"}, "slots", "using slots = 1024-16384"),      # below 2^5, the smallest offered
    ({"slots": str(1 << 23)}, "slots", "using slots = 1024-16384"),
    ({"slots": "4096-1024"}, "slots", "using slots = 1024-16384"),
    ({"slots": "1024-2048-4096"}, "slots", "using slots = 1024-16384"),
    ({"slots": "a-b"}, "slots", "using slots = 1024-16384"),
    ({"batch": "3"}, "batch", "using batch = 8"),
    ({"batch": "x"}, "batch", "using batch = 8"),
    ({"steps": "0"}, "steps", "using steps = 10"),
    ({"steps": str(params.LAB_MAX_STEPS + 1)}, "steps", "using steps = 10"),
    ({"heads": "0"}, "heads", "using heads = 4"),
    ({"heads": str(params.LAB_MAX_HEADS + 1)}, "heads", "using heads = 4"),
    ({"timeout": "7"}, "timeout", "using timeout = 120"),
    ({"timeout": "1e9"}, "timeout", "using timeout = 120"),
]


@pytest.mark.parametrize("query,key,fallback", LAB_BAD, ids=[str(i) for i in range(len(LAB_BAD))])
def test_lab_refuses_with_the_parameter_and_the_fallback(query, key, fallback):
    settings, problems = params.read_lab(query)
    _one_problem(problems, key, fallback)
    assert settings == params.lab_defaults()


@pytest.mark.parametrize("reader,key", [(params.read_player, "model"), (params.read_compare, "dense"),
                                        (params.read_lab, "models"), (params.read_lab, "slots"),
                                        (params.read_player, "bits")])
def test_the_visitors_text_is_only_echoed(reader, key):
    text = "[LOG IN HERE](http://evil.example/login)"
    _, problems = reader({key: text})
    [problem] = problems
    assert "evil" not in problem.message and "evil" in problem.echoed


def test_lab_bounds_are_the_pages_bounds():
    """One place per constant: the lab's widgets are drawn from params' choices and bounds."""
    from samviz.app.pages import scaling_lab
    assert scaling_lab.MODEL_CHOICES is params.LAB_MODELS and scaling_lab.BATCHES is params.LAB_BATCHES
    assert scaling_lab.TIMEOUTS is params.LAB_TIMEOUTS and scaling_lab.POWERS == list(params.LAB_POWERS)
    assert (scaling_lab.MAX_STEPS, scaling_lab.MAX_HEADS) == (params.LAB_MAX_STEPS, params.LAB_MAX_HEADS)
    assert set(params.LAB_MODELS) <= set(scaling_lab.MODEL_HELP)


# ------------------------------------------------------------------------------------------ carried between pages

def test_compare_takes_the_players_model_as_one_of_its_pair():
    last = params.compare_defaults()
    for model, dense, sparse in (("ntm", "ntm", "sam"), ("sam", "ntm", "sam"), ("dnc", "dnc", "sdnc"),
                                 ("sdnc", "ntm", "sdnc"), ("dam", "dam", "sam")):
        shared = params.shared_from_player(_player(model=model, task="priority_sort", level=7, seed=5), {})
        settings = params.compare_from_shared(shared, last)
        assert (settings["dense"], settings["sparse"]) == (dense, sparse), model
        assert (settings["task"], settings["level"], settings["seed"]) == ("priority_sort", 7, 5)


def test_the_player_gets_back_what_compare_shares():
    player = _player(model="sam", task="associative_recall", level=4, seed=2, step=3, index="faiss")
    shared = params.shared_from_player(player, {})
    compare = params.compare_from_shared(shared, {})
    assert params.shared_from_compare(compare, shared) == shared
    assert params.player_from_shared(shared, player) == player            # nothing changed: the same step too
    compare["seed"] = 9
    back = params.player_from_shared(params.shared_from_compare(compare, shared), player)
    assert back == {**player, "seed": 9, "step": 0}                       # a new episode starts at step 0


def test_a_dense_players_index_does_not_overwrite_the_shared_one():
    shared = params.shared_from_player(_player(model="ntm"), {"index": "faiss"})
    assert shared["index"] == "faiss"
    assert params.player_from_shared({**shared, "model": "ntm"}, {})["index"] == INDEXES[0]


def test_typed_bits_are_kept_only_for_the_same_task():
    player = _player(bits="101100110")
    assert params.player_from_shared({"task": "copy"}, player)["bits"] == "101100110"
    assert params.player_from_shared({"task": "priority_sort", "level": 3}, player)["bits"] == ""


# ------------------------------------------------------------------------------------------ the pages (AppTest)

def _page(name: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_string(f"from samviz.app import pages\npages.{name}_page()\n", default_timeout=TIMEOUT)
    if query:
        at.query_params.update(query)
    return at.run()


def _query(at: AppTest) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _view_step(at: AppTest) -> int:
    """The step the page's episode view opens at (its payload: the browser steps from there)."""
    import json
    return json.loads(at.get("bidi_component")[0].proto.json)["step"]


def test_player_page_shows_the_settings_of_its_url():
    settings = _player(model="sam", task="copy", level=6, seed=4, step=3, index="faiss", slots=256)
    at = _page("episode_player", params.player_query(settings))
    _no_exception(at)
    assert at.selectbox(key="keep_player_model").value == "sam"
    assert at.number_input(key="keep_player_level").value == 6
    assert at.number_input(key="keep_player_seed").value == 4
    assert at.selectbox(key="keep_player_index").value == "faiss"
    assert at.selectbox(key="keep_player_slots").value == 256
    assert _view_step(at) == 3
    assert _query(at) == params.player_query(settings)                  # the page writes back the same link


def test_player_page_opens_typed_bits_from_its_url():
    bits = "101100110\n011011010\n000000001\n000000000\n000000000"
    at = _page("episode_player", {"bits": bits, "step": "2"})
    _no_exception(at)
    assert at.radio(key="keep_player_source").value == "Typed bits"
    assert at.text_area(key="keep_player_bits").value == bits
    assert _view_step(at) == 2
    assert _query(at)["bits"] == bits
    at.text_area(key="keep_player_bits").input("101100110\n011011010").run()     # typing updates the URL
    assert _query(at)["bits"] == "101100110\n011011010"


def test_player_page_names_a_bad_bits_value():
    at = _page("episode_player", {"bits": "10x"})
    _no_exception(at)
    assert any("Link ignored" in w.value and "bits" in w.value and "random episode" in w.value for w in at.warning)
    assert at.radio(key="keep_player_source").value == "Random episode"
    assert "bits" not in _query(at)


@pytest.mark.parametrize("name,query", [("episode_player", {"model": "dnc", "slots": "4096"})])
def test_a_dnc_link_with_4096_slots_is_a_visible_message(name, query):
    at = _page(name, query)
    _no_exception(at)
    warnings = [w.value for w in at.warning]
    assert any("at most 1024" in w and "not 4096" in w and "using slots = default" in w for w in warnings), warnings
    assert _query(at)["slots"] == "default"


def test_a_compare_link_with_4096_slots_runs_the_sdnc_and_says_why_the_dnc_is_not_run():
    """Compare takes the sparse model's sizes (issue 13 item 4): above the DNC's limit the SDNC runs and the page
    says, visibly, that the DNC does not (its counts and an estimate stand in for it)."""
    at = _page("compare", {"dense": "dnc", "slots": "4096"})
    _no_exception(at)
    warnings = [w.value for w in at.warning]
    assert any("at most 1024" in w and "not 4096" in w and "estimate" in w for w in warnings), warnings
    assert _query(at)["slots"] == "4096"


def test_compare_page_keeps_slots_and_step_in_its_url():
    settings = _compare(dense="dam", sparse="sam", task="copy", level=4, seed=3, slots=256, step=5, index="exact")
    at = _page("compare", params.compare_query(settings))
    _no_exception(at)
    assert at.sidebar.selectbox(key="keep_compare_dense").value == "dam"
    assert at.sidebar.selectbox(key="keep_compare_slots").value == 256
    assert _view_step(at) == 5                         # the episode view opens at the link's step (and steps there)
    assert _query(at) == params.compare_query(settings)
    at.sidebar.selectbox(key="keep_compare_slots").set_value(512).run()
    assert _query(at)["slots"] == "512"


def test_scaling_lab_page_shows_the_settings_of_its_url(tmp_path, monkeypatch):
    from samviz.bench import runner
    monkeypatch.setenv(runner.LOCK_ENV, str(tmp_path / "bench.lock"))
    settings = _lab(models=["dam", "sdnc-exact"], slots=(2048, 8192), batch=2, steps=20, heads=2, timeout=60)
    at = _page("scaling_lab", params.lab_query(settings))
    _no_exception(at)
    assert at.sidebar.multiselect(key="keep_scaling_models").value == ["dam", "sdnc-exact"]
    assert tuple(at.sidebar.select_slider(key="keep_scaling_slots").value) == (2048, 8192)
    assert at.sidebar.selectbox(key="keep_scaling_batch").value == 2
    assert at.sidebar.number_input(key="keep_scaling_steps").value == 20
    assert at.sidebar.number_input(key="keep_scaling_heads").value == 2
    assert at.sidebar.selectbox(key="keep_scaling_timeout").value == 60
    assert _query(at) == params.lab_query(settings)
    at.sidebar.number_input(key="keep_scaling_heads").set_value(3).run()
    assert _query(at)["heads"] == "3"


def test_scaling_lab_page_names_a_bad_value(tmp_path, monkeypatch):
    from samviz.bench import runner
    monkeypatch.setenv(runner.LOCK_ENV, str(tmp_path / "bench.lock"))
    at = _page("scaling_lab", {"heads": "99", "models": "ntm,[x](http://evil.example)"})
    _no_exception(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "heads must be between 1 and 8" in warnings and "using heads = 4 instead" in warnings
    assert "using models = ntm,sam-faiss instead" in warnings and "evil" not in warnings
    assert any("evil.example" in t.value for t in at.text)
    assert at.sidebar.number_input(key="keep_scaling_heads").value == 4


SWITCH = """
from samviz.app import pages
import streamlit as st
getattr(pages, st.session_state.get("which", "episode_player") + "_page")()
"""


def test_switching_pages_carries_model_and_task():
    """A script that runs the page named in session state, as app.py's navigation does; Streamlit's navigation
    clears the query on a page change, and so does this test."""
    at = AppTest.from_string(SWITCH, default_timeout=TIMEOUT)
    at.query_params.update(params.player_query(_player(model="dnc", task="associative_recall", level=3, seed=8,
                                                       step=4)))
    at.run()
    _no_exception(at)
    assert _view_step(at) == 4

    def go(page: str) -> None:
        at.session_state["which"] = page
        at.query_params.clear()
        at.run()
        _no_exception(at)

    go("compare")
    assert at.sidebar.selectbox(key="keep_compare_dense").value == "dnc"
    assert at.sidebar.selectbox(key="keep_compare_sparse").value == "sdnc"
    assert at.sidebar.selectbox(key="keep_compare_task").value == "associative_recall"
    assert at.sidebar.number_input(key="keep_compare_level").value == 3
    assert at.sidebar.number_input(key="keep_compare_seed").value == 8
    assert _query(at)["dense"] == "dnc" and _query(at)["task"] == "associative_recall"
    go("learn")
    go("episode_player")
    assert at.selectbox(key="keep_player_model").value == "dnc"
    assert at.selectbox(key="keep_player_task").value == "associative_recall"
    assert _view_step(at) == 4                                           # the same episode: the same step
    assert _query(at)["model"] == "dnc" and _query(at)["step"] == "4"


def test_typed_bits_of_another_task_are_not_carried_back():
    at = AppTest.from_string(SWITCH, default_timeout=TIMEOUT)
    at.query_params.update({"bits": "101100110\n011011010"})
    at.run()
    assert at.radio(key="keep_player_source").value == "Typed bits"
    at.session_state["which"] = "compare"
    at.query_params.clear()
    at.run()
    at.sidebar.selectbox(key="keep_compare_task").set_value("associative_recall").run()
    _no_exception(at)
    at.session_state["which"] = "episode_player"
    at.query_params.clear()
    at.run()
    _no_exception(at)
    assert at.selectbox(key="keep_player_task").value == "associative_recall"
    assert at.radio(key="keep_player_source").value == "Random episode"
    assert at.session_state["keep_player_bits"] == ""                   # (no copy bits left for another task)
    assert "bits" not in _query(at) and _query(at)["task"] == "associative_recall"
