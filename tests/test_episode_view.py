"""The episode view's payloads (samviz/app/episode_view/payload.py): what the browser steps through is what the
server computed, with nothing N-sized, in encodings that give back the numbers; and the story's stepped chapters
(5 and 7) send every step's numbers and sentence, the same ones the chapter's data functions give.

Browser behaviour (stepping, play, hover, the address) is in tests/test_episode_view_browser.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from samviz.app import colours, episode_view, story
from samviz.app.episode_view import HERE, payload

APP = str(HERE.parent.parent.parent / "app.py")
TIMEOUT = 90


def test_quantize_gives_the_numbers_back_within_its_step():
    values = np.array([[0.0, 0.25, 1.0], [0.5, 0.123456, 0.999]])
    packed = payload.quantize(values, 0.0, 1.0)
    assert packed["shape"] == [2, 3] and (packed["lo"], packed["hi"]) == (0.0, 1.0)
    back = payload.dequantize(packed)
    assert np.max(np.abs(back - values)) <= 0.5 / 65535 + 1e-12
    assert back[0, 0] == 0.0 and back[0, 2] == 1.0                  # the ends are exact
    signed = payload.quantize(np.array([-2.0, 0.0, 2.0]), -2.0, 2.0)
    assert np.allclose(payload.dequantize(signed), [-2.0, 0.0, 2.0], atol=4 / 65535)
    flat = payload.quantize(np.zeros(4), 0.0, 0.0)                  # an empty range: zeros, not a division by 0
    assert payload.dequantize(flat).tolist() == [0.0] * 4


def test_ids_change_with_the_settings_they_name():
    assert payload.episode_id("copy", 10, 0) == payload.episode_id("copy", 10, 0)
    assert payload.episode_id("copy", 10, 0) != payload.episode_id("copy", 10, 1)


def test_one_colour_per_model_from_one_place():
    assert len(set(colours.MODEL_COLOURS.values())) == len(colours.MODEL_COLOURS)
    roles = {colours.READ, colours.WRITE, colours.MARK, colours.EXACT, colours.ANSWER}
    assert not roles & set(colours.MODEL_COLOURS.values())          # no model wears a role's colour
    for name in ("sam", "SAM", "sam-faiss", "SAM (exact)", "sam-copy"):
        assert colours.model_colour(name) == colours.MODEL_COLOURS["sam"]
    assert colours.model_colour("unknown") == colours.OTHER_MODEL
    assert payload.roles()["read"] == colours.READ


def test_the_scaling_lab_and_learning_curves_wear_the_same_model_colours():
    """Issue 25 item 13: the benchmark charts (Scaling lab, story chapter 8) and the Learning curves page draw each
    kind in its colours.py colour; a kind's exact index differs from its faiss index by dash, not colour."""
    from samviz.app.pages import learning_curves
    from samviz.bench import plots
    for label in ("ntm", "dam", "dnc", "sam-faiss", "sam-exact", "sdnc-faiss", "sdnc-exact"):
        assert plots.COLOURS[label] == colours.model_colour(label), label
    rows = [{"model": m, "index": i, "slots": n, "ms_per_step": 1.0, "peak_mib": 1.0, "status": "ok", "batch": 8,
             "steps": 10, "heads": 4, "k": 4, "word_size": 32} for m, i in (("sam", "faiss"), ("sam", "exact"))
            for n in (1024, 2048)]
    lines = {t.name: t.line for t in plots.speed_figure(rows, references=False).data if t.mode == "lines+markers"}
    assert lines["sam-faiss"].color == lines["sam-exact"].color == colours.MODEL_COLOURS["sam"]
    assert lines["sam-faiss"].dash != lines["sam-exact"].dash
    assert learning_curves.COLOURS is colours.MODEL_COLOURS


# ------------------------------------------------------------------------------------------ the story's chapters

def _chapter(number: int) -> dict:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["chapter"] = str(number)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    views = [c for c in at.get("bidi_component") if c.proto.component_name.endswith(episode_view.NAME)]
    assert len(views) == 1                                  # (chapter 5's figure is another component)
    return json.loads(views[0].proto.json)


def test_chapter_5_steps_the_usage_its_run_recorded():
    episode = story.sam_episode()
    data = _chapter(5)
    assert data["view"] == "story_usage" and data["url"] is None          # the story's address holds its chapter
    steps = episode["steps"]
    assert data["steps"] == len(steps) and data["step"] == 3
    usage, least, sentences = (data["story"][k] for k in ("usage", "least", "sentences"))
    assert usage == [r["usage_before"] for r in steps] and least == [r["least_used"] for r in steps]
    for t, values in enumerate(usage):
        oldest = max(range(len(values)), key=values.__getitem__)
        assert oldest == least[t]                                   # the red bar is the longest (ties: lower slot)
        assert sentences[t].startswith(f"Before step {t},") and f"The largest is slot {oldest} " in sentences[t]
        assert f"(slot {least[t]})" in sentences[t]


def test_chapter_7_steps_the_rollback_with_one_colour_scale():
    episode = story.sam_episode()
    data = _chapter(7)
    assert data["view"] == "story_rollback" and data["step"] == 0
    total = len(episode["steps"])
    view = data["story"]
    assert data["steps"] == total + 1 and view["scale"] == pytest.approx(story.colour_bound(episode))
    for undone in range(total + 1):
        state = story.rollback(episode, undone)
        assert np.allclose(view["memory"][undone], state["memory"])
        assert [o["slots"] for o in view["outlines"][undone]] == [u["changed"] for u in state["restored"]]
        assert [o["last"] for o in view["outlines"][undone]] == [i == undone - 1 for i in range(undone)]
        assert all(abs(v) <= view["scale"] for row in view["memory"][undone] for v in row)
        if undone:
            assert f"before step {total - undone} " in view["sentences"][undone]
            assert view["titles"][undone] == (f"Memory rolled back to before step {total - undone}: the rows it "
                                              "restored outlined")
    assert view["titles"][0] == f"Memory at the end of the forward pass (after step {total - 1})"


def test_usage_is_read_at_the_slots_drawn_whatever_the_trace_kept():
    """The recorder may keep the whole usage vector or only some slots' entries (the slots a trace shows and the
    least-used one): the view reads the slots it draws, and a slot the trace did not keep is not drawn as a number."""
    from samviz.app import trace_stats as stats
    from samviz.trace import EpisodeTrace

    def trace(usage):
        step = {"read_weights": [{"ids": [3], "values": [1.0]}], "write_weights": {"ids": [3, 9], "values": [0.1, 0.9]},
                "rows_written": {"ids": [3, 9], "before": [[0.0], [0.0]], "after": [[1.0], [1.0]]}, "reads": [[1.0]],
                "gates": {}, "least_used": 9, "least_used_age": 5, "usage": usage}
        return EpisodeTrace(model="sam", config={"memory_slots": 16}, inputs=[[0.0]], outputs=[[0.5]], steps=[step])

    whole = trace([float(i) for i in range(16)])
    entries = trace({"ids": [3, 9], "values": [3.0, 9.0]})
    gaps = trace([None] * 3 + [3.0] + [float("nan")] * 5 + [9.0] + [None] * 6)
    for t in (whole, entries, gaps):
        assert stats.usage_values(t, 0, [3, 9, 12]) == ({3: 3.0, 9: 9.0, 12: 12.0} if t is whole else {3: 3.0, 9: 9.0})
        view = payload.usage_view(t, [3, 9])
        assert view["values"][0] == {"3": 3.0, "9": 9.0}
    assert payload.usage_view(trace(None), [3, 9])["values"] is None          # nothing kept: the view says so
