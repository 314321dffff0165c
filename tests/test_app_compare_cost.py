"""Compare states its own crossover, shows the counted cost per step, and refuses a dense model above its limit
(showing the counts and an extrapolated estimate instead); the Scaling lab states its crossovers."""
from __future__ import annotations

import dataclasses
import json

import pytest
from streamlit.testing.v1 import AppTest

from samviz import kinds
from samviz.bench import FORWARD_RESULTS, cost, plots
from samviz.bench.forward import read_forward_rows

TIMEOUT = 120


def _compare():
    from samviz.app.pages import compare
    compare.render()


def _lab():
    from samviz.app.pages import scaling_lab
    scaling_lab.render()


def _text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def _metrics(at: AppTest, label: str) -> list[str]:
    return [m.value for m in at.metric if m.label == label]


def _has_sweep(task: str, *models: tuple[str, str | None]) -> bool:
    rows = read_forward_rows(FORWARD_RESULTS)
    return all(any(r["task"] == task and r["model"] == m and r["index"] == i and r["status"] == "ok" for r in rows)
               for m, i in models)


def test_compare_states_its_crossover_and_the_counted_cost():
    at = AppTest.from_function(_compare, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    # the default view: the NTM (copy: W 20, 1 head) and SAM (copy: W 20, 2 heads, K 4, exact index), 128 slots
    ntm = cost.step_cost("ntm", 128, 20, 1)
    sam = cost.step_cost("sam", 128, 20, 2, k=4, index="exact")
    assert _metrics(at, "multiply-adds / step") == [f"{ntm.multiply_adds:,}", f"{sam.multiply_adds:,}"]
    assert ntm.multiply_adds == 20 * 128 * 5
    kept = _metrics(at, "kept for backprop / step")
    assert len(kept) == 2 and kept[0].endswith("KiB")
    text = _text(at)
    assert "Why the [Scaling lab](scaling_lab) finds its crossover at a different N" in text
    assert "forward + backward" in text and "batch 8" in text
    if _has_sweep("copy", ("ntm", None), ("sam", "exact")):
        rows = read_forward_rows(FORWARD_RESULTS)
        pick = {(r["model"], r["index"]): {} for r in rows}
        for r in rows:
            if r["task"] == "copy" and r["status"] == "ok":
                pick[(r["model"], r["index"])][r["slots"]] = r["ms_per_step"]
        d, s = pick[("ntm", None)], pick[("sam", "exact")]
        expected = cost.crossover_sentence(cost.crossover([(n, d[n], s[n]) for n in sorted(set(d) & set(s))]),
                                           "NTM", "SAM (exact)")
        assert expected in text
        figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                      if "stored sweep" in json.loads(c.proto.spec)["layout"]["title"]["text"])
        names = {t.get("name") for t in figure["data"]}
        assert {"NTM (measured)", "SAM (exact) (measured)"} <= names
    else:
        assert "python -m samviz.bench.forward" in text


@pytest.fixture
def small_dense_limit(monkeypatch):
    """The NTM's app limit lowered to 64 slots, so 128 slots is above it (a small, fast stand-in for 2^20)."""
    limited = dataclasses.replace(kinds.KINDS["ntm"], app_slot_limit=64)
    monkeypatch.setitem(kinds.KINDS, "ntm", limited)
    from samviz.app import loaders
    ran = []
    real = loaders.get_trace

    def recording(kind, *args, **kwargs):
        ran.append(kind)
        return real(kind, *args, **kwargs)
    monkeypatch.setattr(loaders, "get_trace", recording)
    return ran


def test_compare_above_the_dense_limit_shows_the_refusal_and_an_estimate(small_dense_limit):
    at = AppTest.from_function(_compare, default_timeout=TIMEOUT).run()
    small_dense_limit.clear()
    at.sidebar.selectbox(key="keep_compare_slots").set_value(128).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "ntm" not in small_dense_limit and "sam" in small_dense_limit      # the dense model never ran
    assert any("NTM runs with at most 64 memory slots here, not 128" in w.value and "estimate" in w.value
               for w in at.warning)
    assert any("NTM — not run" in h.value for h in at.subheader)
    ntm = cost.step_cost("ntm", 128, 20, 1)
    assert _metrics(at, "rows / step") == ["128"]
    assert _metrics(at, "multiply-adds / step")[0] == f"{ntm.multiply_adds:,}"
    from samviz.app.pages.compare import dense_estimate
    estimate = dense_estimate("copy", "ntm", 128)
    shown = _metrics(at, "forward ms / step (estimate)")
    assert shown == (["—"] if estimate is None else [f"{estimate['ms']:.3g}"])
    if estimate is not None:       # 128 slots is in the stored sweep: its measurement there, drawn on its curve
        assert estimate["measured"]
        figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                      if "stored sweep" in json.loads(c.proto.spec)["layout"]["title"]["text"])
        curve = next(t for t in figure["data"] if t.get("name") == "NTM (measured)")
        assert estimate["ms"] == curve["y"][curve["x"].index(128)]


def test_dense_estimate_beyond_the_sweep_is_an_extrapolation(monkeypatch):
    from samviz.app.pages import compare
    monkeypatch.setattr(compare, "_sweep", lambda task, kind, index: [(1024, 1.0), (2048, 2.0), (4096, 4.0)])
    beyond = compare.dense_estimate("copy", "ntm", 1 << 20)
    assert not beyond["measured"] and beyond["slope"] == pytest.approx(1)
    assert beyond["ms"] == pytest.approx(4.0 * 2 ** 20 / 4096)
    assert beyond["start"] == (4096, 4.0)
    assert compare.dense_estimate("copy", "ntm", 2048)["measured"]
    monkeypatch.setattr(compare, "_sweep", lambda task, kind, index: [])
    assert compare.dense_estimate("copy", "ntm", 1 << 20) is None
    figure = plots.crossover_figure({"NTM": [(1024, 1.0), (4096, 4.0)]},
                                    estimates={"NTM": (1 << 20, beyond["ms"], beyond["start"])})
    drawn = [t for t in figure.data if t.name == "NTM: estimate (not run)"]
    assert drawn and drawn[0].x[-1] == 1 << 20 and drawn[0].y[-1] == pytest.approx(1024.0)


def test_a_link_above_the_dense_limit_opens_that_view(small_dense_limit):
    at = AppTest.from_string("from samviz.app import pages\npages.compare_page()\n", default_timeout=TIMEOUT)
    at.query_params.update({"dense": "ntm", "sparse": "sam", "slots": "128"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w.value for w in at.warning if "Link ignored" in w.value]
    assert at.session_state["keep_compare_slots"] == 128
    assert "ntm" not in small_dense_limit and any("NTM — not run" in h.value for h in at.subheader)
    at = AppTest.from_string("from samviz.app import pages\npages.compare_page()\n", default_timeout=TIMEOUT)
    at.query_params.update({"dense": "ntm", "sparse": "sam", "slots": "3"})          # still validated
    at.run()
    assert any("slots" in w.value for w in at.warning) and at.session_state["keep_compare_slots"] == "default"


@pytest.mark.slow
def test_compare_at_a_large_sparse_memory_does_not_run_the_dense_model():
    from samviz.app import params
    large = [c for c in params.slot_choices("sam") if c != "default" and c > kinds.spec("ntm").app_slot_limit]
    if not large:
        pytest.fail("the sparse kinds are not offered above the dense limit (params.slot_choices)")
    at = AppTest.from_function(_compare, default_timeout=600).run()
    at.sidebar.selectbox(key="keep_compare_slots").set_value(large[0]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("NTM — not run" in h.value for h in at.subheader)
    assert _metrics(at, "rows / step") == [f"{large[0]:,}"]


SETTING = {"batch": 8, "steps": 10, "heads": 4, "k": 4, "word_size": 32, "peak_mib": 1.0}


def test_crossovers_never_mix_machines():
    rows = [{"model": "ntm", "index": None, "slots": n, "ms_per_step": ms, "status": "ok", "machine": m, **SETTING}
            for n, ms, m in ((32, 1.0, "A"), (64, 4.0, "A"), (1024, 10.0, "B"), (2048, 20.0, "B"))]
    rows += [{"model": "sam", "index": "exact", "slots": n, "ms_per_step": 2.0, "status": "ok", "machine": m, **SETTING}
             for n, m in ((32, "A"), (64, "A"), (1024, "B"), (2048, "B"))]
    table = plots.crossovers(rows)
    assert [(e["machine"], e["result"].status) for e in table] == [("A", "crosses"), ("B", "sparse_faster")]
    assert table[0]["result"].n == pytest.approx(45.254833995939045)      # sqrt(32·64): ratios 1/2 and 2
    assert table[0]["ms"] == pytest.approx(2.0)                              # where the curves meet: 1·√4
    figure = plots.speed_figure(rows, references=False, crossings=table)
    marks = [t for t in figure.data if t.name == "crossover (hover)"]
    assert list(marks[0].x) == [pytest.approx(45.254834)] and list(marks[0].y) == [pytest.approx(2.0)]


def test_scaling_lab_states_the_crossover_of_its_shipped_curves(tmp_path, monkeypatch):
    """The crossovers stated are those of the rows the page draws: today's code, one machine (AppRows.shown);
    rows from other code are counted in the page's note, never drawn or crossed."""
    from samviz.app.pages.scaling_lab import _starts, shipped_rows, shipped_view
    from samviz.bench import runner
    monkeypatch.setenv(runner.LOCK_ENV, str(tmp_path / "bench.lock"))
    if not shipped_rows():
        pytest.fail("no shipped results (assets/bench/results.jsonl): a shipped asset is missing")
    view = shipped_view()
    at = AppTest.from_function(_lab, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    text = _text(at)
    hidden = len(view.stale) + len(view.other_machines)
    if hidden:
        assert f"{hidden} shipped row(s) not drawn" in " ".join(e.label for e in at.expander)
    rows = view.shown
    if not rows:
        return
    rows = plots.on_measure(rows, next(iter(plots.MEASURES)))  # the page opens on its first measure (CPU time)
    first = plots.settings(rows)[0]
    shown = [r for r in rows if plots.setting(r) == first]
    start = _starts(shown)[0]                            # the page opens on the first start (jittered before zero)
    crossings = plots.crossovers([r for r in shown if r.get("initial_rows") in (None, start)])
    for entry in crossings:
        assert entry["text"] in text
    if crossings:
        assert "Why [Compare](compare) finds a different N" in text   # said wherever a crossover is stated
    else:
        assert "No dense and sparse model measured at two or more common sizes here." in text
