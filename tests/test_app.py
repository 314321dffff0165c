"""The Streamlit app through streamlit.testing (AppTest): pages render, widgets work, bad input gives messages.

Pages are registered as callables in app.py, which AppTest.switch_page cannot select (it needs page files),
so the non-default pages run through tiny scripts that call the same page functions app.py registers.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 90


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


def page(name: str) -> AppTest:
    return AppTest.from_string(f"from samviz.app import pages\npages.{name}_page()\n", default_timeout=TIMEOUT).run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def view(at: AppTest) -> dict:
    """The payload of the page's episode view (samviz/app/episode_view): what the browser draws and steps."""
    import json
    views = at.get("bidi_component")
    assert len(views) == 1, len(views)
    return json.loads(views[0].proto.json)


def view_text(at: AppTest, step: int | None = None) -> str:
    """The narration the episode view shows at `step` (its payload's step by default)."""
    data = view(at)
    model = data["models"][0]
    step = data["step"] if step is None else step
    return " ".join(sentence[0] for sentence in model["narration"][step])


def query(at: AppTest, key: str):
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def narration(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_player_sends_the_whole_episode_to_the_browser_once():
    """The player's script builds one episode view: every step's narration is in it, so stepping needs no rerun;
    a new seed is a new episode at step 0, and the URL follows."""
    at = player()
    no_exception(at)
    assert not at.error
    assert charts(at) == 0                                   # no plotly: the view draws itself
    data = view(at)
    assert data["view"] == "player" and data["step"] == 0 and data["url"] == "step"
    model = data["models"][0]
    assert model["kind"] == "ntm" and len(model["narration"]) == data["steps"] == model["steps"]
    assert all(f"Step {t} of {data['steps'] - 1}" in " ".join(s[0] for s in model["narration"][t])
               for t in range(data["steps"]))
    first = data["episode"]
    at.number_input(key="keep_player_seed").set_value(7).run()
    no_exception(at)
    assert view(at)["episode"] != first and view(at)["clock"] != data["clock"] and view(at)["step"] == 0
    assert query(at, "seed") == "7" and query(at, "step") == "0"


def test_player_model_and_task_changes():
    at = player()
    clock = view(at)["clock"]
    at.selectbox(key="keep_player_model").set_value("sam").run()
    no_exception(at)
    data = view(at)
    model = data["models"][0]
    assert model["kind"] == "sam" and model["neighbours"] and model["usage"] and model["rows"]
    assert data["clock"] == clock                           # the same inputs: the browser keeps its step
    assert "learn#sam-sparse-write" in [s[1] for s in model["narration"][0]]
    assert query(at, "model") == "sam"
    at.selectbox(key="keep_player_task").set_value("associative_recall").run()
    no_exception(at)
    assert at.number_input(key="keep_player_level").value == 5
    assert query(at, "task") == "associative_recall" and view(at)["clock"] != clock
    at.number_input(key="keep_player_level").set_value(12).run()     # 2 × max_level: generalisation
    no_exception(at)
    assert view(at)["models"][0]["bits"]["answer"]


def test_typed_input_valid_and_invalid():
    at = player()
    at.radio(key="keep_player_source").set_value("Typed bits").run()
    no_exception(at)
    assert at.error and "empty" in at.error[0].value
    at.text_area(key="keep_player_bits").input("101\n01x").run()
    no_exception(at)
    assert at.error and "Typed input" in at.error[0].value and "row 1" in at.error[0].value
    at.text_area(key="keep_player_bits").input("\n".join(["101100112"] * 2)).run()
    assert at.error and "0 or 1" in at.error[0].value
    at.text_area(key="keep_player_bits").input("\n".join(["101100110"] * 61)).run()
    assert at.error and "at most 60" in at.error[0].value
    at.text_area(key="keep_player_bits").input("101100110\n011011010\n000000001\n000000000\n000000000").run()
    no_exception(at)
    assert not at.error
    assert "Step 0 of 4" in view_text(at)
    bits = view(at)["models"][0]["bits"]               # typed input is not scored: no count of wrong bits at all
    assert bits["errors"] is None and "no answer phase" in bits["title"]


def test_edit_this_episode_copies_its_bits():
    at = player({"level": "3"})
    at.button(key="player_fill").click().run()
    at.radio(key="keep_player_source").set_value("Typed bits").run()
    no_exception(at)
    assert not at.error
    assert len(at.text_area(key="keep_player_bits").value.splitlines()) == 7     # copy level 3: T = 7
    assert "Step 0 of 6" in view_text(at)


def test_bad_query_params_give_messages_not_tracebacks():
    at = player({"model": "bogus", "step": "-5", "seed": "abc", "level": "999"})
    no_exception(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "model" in warnings and "seed" in warnings and "step" in warnings and "level" in warnings
    assert "You gave: 'bogus'" in [t.value for t in at.text]       # what the link said, as plain text
    assert view(at)["step"] == 0
    assert at.selectbox(key="keep_player_model").value == "ntm"


def test_good_query_params_open_that_view():
    at = player({"model": "sam", "task": "copy", "level": "6", "seed": "4", "step": "3", "index": "faiss"})
    no_exception(at)
    assert at.selectbox(key="keep_player_model").value == "sam"
    assert at.number_input(key="keep_player_level").value == 6
    assert at.selectbox(key="keep_player_index").value == "faiss"
    assert view(at)["step"] == 3 and query(at, "step") == "3"
    assert "faiss index found them" in view_text(at)


def test_step_beyond_the_episode_is_clamped():
    at = player({"level": "2", "step": "4000"})
    no_exception(at)
    assert view(at)["step"] == 4                               # copy level 2: T = 5 steps
    assert any("past the end of this episode" in i.value for i in at.info)


def test_download_and_the_keys_are_explained():
    at = player()
    assert at.get("download_button")
    assert any("← →" in c.value and "address bar" in c.value for c in at.sidebar.caption)


def test_compare_page():
    at = page("compare")
    no_exception(at)
    assert charts(at) == 1                      # the stored sweep's crossover; the episode is the view's
    data = view(at)
    assert data["view"] == "compare" and [m["name"] for m in data["models"]] == ["NTM", "SAM (exact)"]
    assert all(m["series"]["touched"] and m["weights"] and m["bits"] and m["narration"] for m in data["models"])
    metrics = {m.label: m.value for m in at.metric}
    assert "forward ms / step (mean)" in metrics and "rows / step (mean)" in metrics
    ntm_rows, sam_rows = [float(m.value) for m in at.metric if m.label == "rows / step (mean)"]
    assert ntm_rows == 128.0                                       # the NTM's every step touches all 128 rows
    assert sam_rows <= 4 * 2 + 4 * 2 + 1                           # SAM: K·R read + K·R + 1 written, K = 4, R = 2
    assert "slots read (effective)" in metrics
    text = narration(at)
    assert "per-step overhead" in text and "(scaling_lab)" in text and "forward + backward" in text
    # the shipped NTM (copy) has 1 read head, the shipped SAM 2: the page says so instead of "the same model twice"
    assert any("NTM 1 read head, SAM 2 read heads" in i.value for i in at.info)
    at.sidebar.selectbox(key="keep_compare_dense").set_value("dam").run()
    no_exception(at)
    assert query(at, "dense") == "dam"


def test_learn_page_has_every_section():
    from samviz.app.explain import ANCHORS
    at = page("learn")
    no_exception(at)
    assert len(at.latex) >= len(ANCHORS)
    anchors = {h.proto.anchor for h in at.subheader}
    assert set(ANCHORS) <= anchors


def test_scaling_lab_page_renders():
    at = page("scaling_lab")
    no_exception(at)


@pytest.mark.parametrize("params,problem", [
    ({"model": "bogus"}, "model"), ({"seed": "abc"}, "seed"), ({"step": "-5"}, "step"),
    ({"level": "41"}, "level"), ({"slots": "99999999"}, "slots"), ({"index": "l2"}, "index"),
])
def test_validate_params_rejects(params, problem):
    from samviz.app import params as validation
    values, problems = validation.validate_params(params)
    assert not values and len(problems) == 1 and problem in problems[0].message


def test_validate_params_accepts():
    from samviz.app import params as validation
    values, problems = validation.validate_params({"model": "sdnc", "task": "priority_sort", "level": "40", "seed": "9",
                                              "step": "3", "slots": "1024", "unknown": "x"})
    assert not problems
    assert values == {"model": "sdnc", "task": "priority_sort", "level": 40, "seed": 9, "step": 3, "slots": 1024}


def test_parse_bits_formats():
    from samviz.app import params as validation
    rows, problem = validation.parse_bits("1 0 1 1 0 0 1 0 0.5 0\n0000000001", "priority_sort")
    assert problem is None and rows[0][8] == 0.5 and rows[1][9] == 1.0
    assert validation.parse_bits("1 0 1 1 0 0 1 0 1.5 0", "priority_sort")[1]
    assert validation.parse_bits("1 0 1 1 0 0 1 0 nan 0", "priority_sort")[1]
    assert validation.parse_bits(validation.format_bits(rows, "priority_sort"), "priority_sort")[0] == rows
    assert "at most" in validation.parse_bits("0" * 20_000, "copy")[1].message


def test_player_warns_when_a_pretrained_model_misses_its_target(monkeypatch):
    """A shipped model below its target is labelled as such, not presented as a success."""
    import importlib

    from samviz.app import loaders
    pretrained = importlib.import_module("samviz.pretrained")
    real_load = pretrained.load

    def load_below_target(name, **kwargs):
        model = real_load(name, **kwargs)
        model.meta = {**model.meta, "meets_target": False}
        return model

    monkeypatch.setattr(pretrained, "load", load_below_target)
    loaders.load_model.clear()
    try:
        at = player({"model": "ntm", "task": "copy"})
        no_exception(at)
        assert any("not reached its target" in w.value and "ntm-copy" in w.value for w in at.warning)
        assert not any("ntm-copy" in s.value for s in at.success)
    finally:
        monkeypatch.undo()
        loaders.load_model.clear()
    at = player({"model": "ntm", "task": "copy"})          # the real ntm-copy meets its target
    assert any("ntm-copy" in s.value for s in at.success)


def test_compare_pairs_each_dense_model_with_its_sparse_twin():
    from samviz.app.pages.compare import sparse_partner
    from samviz.kinds import DENSE_MODELS, spec
    assert {dense: sparse_partner(dense) for dense in DENSE_MODELS} == {"ntm": "sam", "dam": "sam", "dnc": "sdnc"}
    for dense in DENSE_MODELS:
        partner = spec(sparse_partner(dense))
        assert partner.sparse and partner.dense_twin in (dense, "dam")      # its twin, or SAM for the NTM
    at = page("compare")
    at.sidebar.selectbox(key="keep_compare_dense").set_value("dnc").run()
    no_exception(at)
    assert at.sidebar.selectbox(key="keep_compare_sparse").value == "sdnc"


def _readme_scores() -> dict:
    """pretrained/README.md's table: (model, task) -> the 'bit errors/seq (default range)' cell, as printed."""
    readme = (Path(APP).parent / "pretrained" / "README.md").read_text()
    rows = [line.split("|")[1:-1] for line in readme.splitlines() if line.startswith("| ") and line.count("|") >= 11]
    return {(r[0].strip(), r[1].strip()): r[3].strip() for r in rows}


def test_measured_metric_matches_the_readme_for_every_shipped_model():
    from samviz.app.explain import measured_metric
    from samviz.kinds import spec
    import samviz.pretrained as pretrained
    scores = _readme_scores()
    for name in pretrained.available():
        meta = pretrained.read_meta(name)
        model, task = name.split("-", 1)
        slots, index = meta["config"]["memory_slots"], meta["config"]["index"]
        sparse = spec(model).sparse
        here = measured_metric(meta, slots, index if sparse else None)
        assert f"bit errors per sequence {scores[(model, task)]} " in here, (name, here)
        setting = f"{slots} slots, {index} index" if sparse else f"{slots} slots)"      # a dense model has no index
        assert f"measured at this setting: {setting}" in here and ("index" in here) == sparse
        there = measured_metric(meta, 4096, "faiss" if sparse else None)
        assert f"measured at {slots} slots{f', {index} index' if sparse else ''} (" in there
        assert f"not at this setting (4096 slots{', faiss index' if sparse else ''})" in there


def test_player_banner_is_for_the_setting_on_screen():
    score = _readme_scores()[("sam", "copy")]
    at = player({"model": "sam", "task": "copy"})
    banner = " ".join(s.value for s in at.success)
    assert f"bit errors per sequence {score}" in banner and "measured at this setting: 128 slots, exact index" in banner
    at = player({"model": "sam", "task": "copy", "slots": "1024", "index": "faiss"})
    no_exception(at)
    banner = " ".join(s.value for s in at.success)
    assert f"bit errors per sequence {score}, measured at 128 slots, exact index" in banner
    assert "not at this setting (1024 slots, faiss index)" in banner
    import re
    wrong = int(re.search(r"This episode: (\d+) wrong bit", banner)[1])       # the bits view's own count
    bits = view(at)["models"][0]["bits"]
    assert bits["errors"] == wrong == len(bits["wrong"])
    assert bits["title"] == f"Bits over time — {wrong} wrong bit{'s' if wrong != 1 else ''} in this episode"
