"""The Scaling lab page under Streamlit's AppTest: shipped results, a tiny live run, the lock, bad input."""
import json
import sys
import time

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from samviz.bench import runner

TIMEOUT = 120


def _script():
    from samviz.app.pages import scaling_lab
    scaling_lab.render()


@pytest.fixture
def lock(tmp_path, monkeypatch):
    path = str(tmp_path / "bench.lock")
    monkeypatch.setenv(runner.LOCK_ENV, path)
    return path


def _app() -> AppTest:
    at = AppTest.from_function(_script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def _tiny(at: AppTest) -> None:
    at.multiselect(key="keep_scaling_models").set_value(["ntm", "sam-exact"])
    at.select_slider(key="keep_scaling_slots").set_range(256, 256)
    at.selectbox(key="keep_scaling_batch").set_value(1)
    at.number_input(key="keep_scaling_steps").set_value(2)
    at.number_input(key="keep_scaling_heads").set_value(1)


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_page_shows_shipped_results_before_any_run(lock):
    at = _app()
    assert at.title[0].value == "Scaling lab"
    assert any("Nothing measured in this session yet" in info.value for info in at.info)
    from samviz.app.pages import scaling_lab
    if scaling_lab.shipped_view().shown:
        charts = _charts(at)
        assert len(charts) >= 2
        text = " ".join(m.value for m in at.markdown)
        view = scaling_lab.shipped_view()
        assert f"({view.machine})" in text and ("**this machine**" in text) == view.this_machine
        names = {trace.get("name") for chart in charts for trace in chart["data"]}
        assert "paper (Rae et al. 2016)" in names


def test_tiny_run_streams_rows_into_plots_and_tables(lock):
    at = _app()
    _tiny(at)
    at.run()
    at.button(key="scaling_run").click()
    at.run()
    assert not at.exception, at.exception
    rows = at.session_state["scaling_lab_rows"]
    assert [(r["model"], r["index"], r["slots"], r["status"]) for r in rows] == \
        [("ntm", None, 256, "ok"), ("sam", "exact", 256, "ok")], rows
    names = {trace.get("name") for chart in _charts(at) for trace in chart["data"]}
    assert {"ntm", "sam-exact"} <= names
    assert not at.warning
    assert any("ntm / sam-exact" in str(frame.value) for frame in at.dataframe)   # the ratio table
    # the results survive a rerun (session state), and the CSV download is offered
    at.run()
    assert len(at.session_state["scaling_lab_rows"]) == 2
    assert at.get("download_button")


def test_a_second_benchmark_is_told_to_wait(lock):
    at = _app()
    _tiny(at)
    at.run()
    with runner.bench_lock(lock):
        at.button(key="scaling_run").click()
        at.run()
    assert not at.exception
    assert any("another benchmark is running" in w.value.lower() for w in at.warning)
    assert not at.session_state["scaling_lab_rows"] if "scaling_lab_rows" in at.session_state else True


def test_no_model_picked_is_an_error_and_run_is_disabled(lock):
    at = _app()
    at.multiselect(key="keep_scaling_models").set_value([])
    at.run()
    assert not at.exception
    assert any("at least one model" in e.value for e in at.sidebar.error)
    assert at.button(key="scaling_run").disabled


def test_plan_marks_what_the_budget_refuses(lock):
    at = _app()
    at.multiselect(key="keep_scaling_models").set_value(["ntm"])
    at.select_slider(key="keep_scaling_slots").set_range(1 << 22, 1 << 22)
    at.number_input(key="keep_scaling_steps").set_value(1000)
    at.run()
    assert not at.exception
    plans = [frame.value for frame in at.sidebar.dataframe if "runs" in frame.value.columns]
    assert len(plans) == 1 and list(plans[0]["runs"]) == ["refused (memory)"]


def test_leaving_during_a_run_kills_the_worker_and_frees_the_lock(lock, monkeypatch, tmp_path):
    """Issue 15: a visitor who leaves mid-run must not leave the worker running and the lock held.

    AppTest stops a script that runs past its timeout the way Streamlit does when a visitor leaves (a stop
    request, raised at the script's next Streamlit call). The worker is a stand-in that would run 60 s.
    """
    pids = tmp_path / "pid"
    worker = f"import os, time; open({str(pids)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    monkeypatch.setattr(runner, "worker_command", lambda config, budget: [sys.executable, "-c", worker])
    at = _app()
    _tiny(at)
    at.multiselect(key="keep_scaling_models").set_value(["ntm"])
    at.selectbox(key="keep_scaling_timeout").set_value(30)
    at.run()
    at.button(key="scaling_run").click()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out"):
        at.run(timeout=4)                        # the visitor "leaves" after 4 s
    assert time.monotonic() - start < 4 + 2      # stopped within a tick, not after the 30 s timeout
    assert pids.exists()
    pid = int(pids.read_text())
    try:
        alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        alive = False
    assert not alive, "the worker still runs"
    with runner.bench_lock(lock):                # another visitor may measure now
        pass
    at.button(key="scaling_run").set_value(False)   # the stopped run never returned the unclicked button
    at.run()                                     # back on the page: it says what happened
    assert not at.exception, at.exception
    assert any("stopped before it finished" in info.value for info in at.info)
    at.run()
    assert not any("stopped before it finished" in info.value for info in at.info)    # said once


def _stamped(model, index, slots, ms, machine=None, **extra):
    from samviz.results import provenance
    row = {"model": model, "index": index, "slots": slots, "batch": 8, "heads": 4, "k": 4, "word_size": 32,
           "steps": 10, "ms_per_step": 3 * ms, "ms_min": 2 * ms, "ms_max": 4 * ms, "cpu_ms_per_step": ms,
           "cpu_ms_min": ms * 0.9, "cpu_ms_max": ms * 1.2, "peak_mib": ms, "status": "ok",
           **({"initial_rows": "zero"} if index else {})}
    row = provenance.stamp(row, "bench", model, "test", {"model": 0})
    return {**row, **({"machine": machine} if machine else {}), **extra}


def test_the_shipped_tab_draws_only_todays_code_from_one_machine_and_labels_the_rest(lock, tmp_path, monkeypatch):
    """Issue 25: rows from another machine or stale code are never mixed into the curves or tables, and are
    labelled where shown."""
    from samviz.app.pages import scaling_lab
    rows = [_stamped("ntm", None, n, n / 10) for n in (32, 64, 128, 256)]
    rows += [_stamped("sam", "faiss", n, 5.0) for n in (32, 64, 128, 256)]
    rows.append(_stamped("ntm", None, 512, 999.0, machine="Linux x86_64, Another CPU, 64 CPUs"))
    rows.append(_stamped("sam", "faiss", 512, 0.5, code_hash="0" * 16))                # stale code
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(scaling_lab, "SHIPPED_RESULTS", str(path))
    at = _app()
    charts = _charts(at)
    speed = next(c for c in charts if "Time per training step" in json.dumps(c["layout"]["title"]))
    drawn = {t["name"]: t["x"] for t in speed["data"] if t.get("name") in ("ntm", "sam-faiss")}
    assert drawn == {"ntm": [32, 64, 128, 256], "sam-faiss": [32, 64, 128, 256]}       # 512 from neither
    text = " ".join(m.value for m in at.markdown)
    assert "**this machine**" in text and "overtakes NTM at N ≈ " in text and "on one measure: CPU time" in text
    assert drawn and speed["data"][0]["y"] == [3.2, 6.4, 12.8, 25.6]                   # the CPU times
    ratios = next(f.value for f in at.dataframe if "time ×" in f.value.columns)
    assert sorted(ratios["N"]) == [32, 64, 128, 256]
    left_out = next(f.value for f in at.dataframe if "why not drawn" in f.value.columns)
    assert sorted(left_out["why not drawn"]) == ["another machine", "stale: other code"]
    assert any("2 shipped row(s) not drawn" in e.label for e in at.expander)
    # the crossover it states is the one its own rows give (NTM 3.2, 6.4, 12.8, 25.6 ms against SAM's 5 ms)
    from samviz.bench import cost
    result = cost.crossover([(n, n / 10, 5.0) for n in (32, 64, 128, 256)])
    assert f"N ≈ {round(result.n):,}" in text


def test_the_lab_offers_memories_from_32_slots():
    from samviz.app import params
    from samviz.app.pages import scaling_lab
    assert scaling_lab.POWERS[0] == 32 == params.LAB_POWERS[0]
    settings, problems = params.read_lab({"slots": "32-256"})
    assert settings["slots"] == (32, 256) and not problems


def test_one_view_holds_one_measure():
    from samviz.bench import plots
    rows = [{"model": "ntm", "slots": 32, "status": "ok", "ms_per_step": 9.0, "ms_min": 8.0, "ms_max": 10.0,
             "cpu_ms_per_step": 3.0, "cpu_ms_min": 2.0, "cpu_ms_max": 4.0},
            {"model": "ntm", "slots": 64, "status": "ok", "ms_per_step": 5.0},           # measured before CPU time
            {"model": "ntm", "slots": 128, "status": "refused", "ms_per_step": None}]
    cpu = plots.on_measure(rows, "cpu")
    assert [(r["slots"], r["ms_per_step"], r["ms_min"], r["ms_max"]) for r in cpu if r["status"] == "ok"] == \
        [(32, 3.0, 2.0, 4.0)]                                                        # the wall-only row is left out
    assert [r["slots"] for r in cpu] == [32, 128]
    assert plots.on_measure(rows, "wall") == rows
    with pytest.raises(ValueError):
        plots.on_measure(rows, "guess")
