"""Issue 25: a file the app reads never holds a row from other code unless the page that shows it labels it.

Pages that label (the Scaling lab, the story's chapters 6 and 8: through samviz.results.AppRows) are tested with a
stale row put into a copy of their file (here and in test_app_scaling.py / test_story_figures.py); for the files
whose pages do not label, the shipped file itself must hold none: regenerate it with `python -m samviz.results run
--only PART` (or say on the page what is stale, and mark the file labelled in samviz.results.APP_FILES).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from samviz.results import APP_FILES, PARTS, provenance, store

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.mark.parametrize("part", [name for name, entry in APP_FILES.items() if not entry["labelled"]])
def test_files_shown_without_labels_hold_no_stale_row(part):
    rows = PARTS[part].read()
    stale = [PARTS[part].key(r) for r in rows if store.code_status(r) == store.STALE]
    assert not stale, (f"{PARTS[part].path} holds {len(stale)} row(s) from other code, shown unlabelled on "
                       f"{', '.join(APP_FILES[part]['pages'])} (first: {stale[:3]}): regenerate them with "
                       f"`python -m samviz.results run --only {part}`")
    machines = {r.get("machine") for r in rows}
    assert len(machines) <= 1, f"{PARTS[part].path} mixes machines: {sorted(map(str, machines))}"


def test_every_file_the_app_reads_is_a_part():
    assert set(APP_FILES) <= set(PARTS)
    assert all(entry["pages"] for entry in APP_FILES.values())


def test_chapter_8_labels_stale_scale_rows(tmp_path, monkeypatch):
    import streamlit as st

    from samviz import evaluate_scale

    def row(name, **extra):
        base = {"model": name, "kind": "sam", "task": name.split("-", 1)[1], "slots": 1 << 20, "episodes": 8,
                "bit_errors_exact": 1.0, "bit_errors_faiss": 1.0, "exact_ms_per_step": 9.0, "faiss_ms_per_step": 1.0,
                "exact_index_ms_per_step": 8.0, "faiss_index_ms_per_step": 0.2, "recall": 1.0}
        return {**provenance.stamp(base, "scale", "sam", "test", {"episodes": 1}), **extra}
    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"format": evaluate_scale.FORMAT, "settings": {},
                                "rows": [row("sam-copy"), row("sam-associative_recall", code_hash="0" * 16)]}))
    monkeypatch.setattr(evaluate_scale, "SCALE_JSON", path)
    st.cache_data.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=90)
        at.query_params.update({"chapter": "8"})
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        table = next(m.value for m in at.markdown if m.value.startswith("|") and "errors/seq faiss" in m.value)
        assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == ["`sam-copy`"]  # stale: not drawn
        assert any("1 scale rows from other code" in c.value for c in at.caption)   # ... and it is said
    finally:
        st.cache_data.clear()
