"""Benchmark runner, worker and CLI: real worker processes on tiny configurations (a few seconds each)."""
import json
import os
import subprocess
import sys
import time

import pytest

from samviz.bench import plots, runner
from samviz.bench.__main__ import main as cli_main
from samviz.bench.__main__ import parse_slots
from samviz.bench.paper import REFERENCE_POINTS, REFERENCE_RATIOS
from samviz.bench.runner import BenchConfig, BenchmarkBusy, bench_lock, estimate_bytes, run_config, run_configs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(slots=16, batch=1, heads=2, k=2, word_size=8, steps=2)


@pytest.fixture
def lock(tmp_path, monkeypatch):
    """A private lock file, so a benchmark running on the machine does not block the tests (and vice versa)."""
    path = str(tmp_path / "bench.lock")
    monkeypatch.setenv(runner.LOCK_ENV, path)
    return path


class SpyPopen:
    """Records every worker the runner starts (and lets it start)."""

    def __init__(self):
        self.started = []

    def __call__(self, *args, **kwargs):
        process = subprocess.Popen(*args, **kwargs)
        self.started.append(process)
        return process


def test_cli_prints_one_json_row_per_config(lock):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "samviz.bench", "--models", "ntm", "--slots", "16", "--batch", "1",
                           "--steps", "2", "--repeat-time", "0.2"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    for line in lines:
        row = json.loads(line)
        assert list(row)[:len(runner.SCHEMA_KEYS)] == list(runner.SCHEMA_KEYS)
        assert row["status"] == "ok", row
        assert (row["model"], row["index"], row["slots"], row["batch"], row["steps"]) == ("ntm", None, 16, 1, 2)
        assert row["ms_per_step"] > 0 and row["peak_mib"] >= 0
        assert row["threads"] == 1 and row["repeats"] >= 1 and row["machine"] and row["date"]
    assert "ntm" in done.stderr and "ms/step" in done.stderr      # the human summary goes to stderr


def test_runner_end_to_end_sparse_and_dense(lock):
    configs = [BenchConfig(model="sam-exact", **TINY), BenchConfig(model="ntm", **TINY)]
    rows = list(run_configs(configs, timeout_s=120, time_budget_s=0.2))
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    assert (rows[0]["model"], rows[0]["index"]) == ("sam", "exact")
    for row in rows:
        assert row["ms_per_step"] > 0 and row["peak_mib"] >= 0 and row["init_mib"] is not None
        assert row["memory_method"] in ("VmHWM", "sampled-1ms")
    table = plots.ratios(rows)
    assert table and table[0]["dense / sparse"] == "ntm / sam-exact"


def test_over_budget_is_refused_without_starting_a_worker(lock):
    spy = SpyPopen()
    start = time.monotonic()
    row = run_config(BenchConfig(model="ntm", slots=1 << 22, batch=8, steps=1000), popen=spy)
    assert time.monotonic() - start < 2
    assert spy.started == []
    assert row["status"] == "refused" and "memory" in row["reason"]
    assert row["ms_per_step"] is None and row["peak_mib"] is None
    # the same N is fine for SAM with the exact index on a few steps (estimate only: nothing runs here)
    assert estimate_bytes(BenchConfig(model="sam-exact", slots=1 << 22, batch=1, steps=10))["total"] < \
        estimate_bytes(BenchConfig(model="ntm", slots=1 << 22, batch=1, steps=10))["total"]


def test_timeout_kills_the_worker(lock):
    spy = SpyPopen()
    start = time.monotonic()
    row = run_config(BenchConfig(model="ntm", **TINY), timeout_s=0.5, popen=spy)
    assert row["status"] == "timeout" and "timeout" in row["reason"]
    assert time.monotonic() - start < 5
    assert len(spy.started) == 1 and spy.started[0].poll() is not None     # the worker is gone


def test_worker_over_its_memory_budget_is_stopped(lock, monkeypatch):
    monkeypatch.setattr(runner, "refusal_reason", lambda config, budget: None)   # let it start anyway
    spy = SpyPopen()
    row = run_config(BenchConfig(model="ntm", **TINY), budget_bytes=40 * runner.MIB, timeout_s=60, popen=spy)
    assert row["status"] == "failed" and "budget" in row["reason"], row
    assert spy.started[0].poll() is not None


def test_worker_killed_by_the_os_is_reported_failed(lock, monkeypatch):
    monkeypatch.setattr(runner, "worker_command", lambda config, budget: [
        sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    row = run_config(BenchConfig(model="ntm", **TINY), timeout_s=30)
    assert row["status"] == "failed" and "signal 9" in row["reason"]
    monkeypatch.setattr(runner, "worker_command", lambda config, budget: [
        sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"])
    row = run_config(BenchConfig(model="ntm", **TINY), timeout_s=30)
    assert row["status"] == "failed" and "code 3" in row["reason"] and "boom" in row["reason"]


def test_lock_refuses_a_second_benchmark(lock):
    with bench_lock(lock):
        with pytest.raises(BenchmarkBusy, match="another benchmark is running"):
            with bench_lock(lock):
                pass
        with pytest.raises(BenchmarkBusy):
            next(run_configs([BenchConfig(model="ntm", **TINY)], lock=lock))
        done = subprocess.run([sys.executable, "-m", "samviz.bench", "--models", "ntm", "--slots", "16"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env=dict(os.environ))
        assert done.returncode == 3 and "another benchmark is running" in done.stderr
        assert done.stdout == ""
    with bench_lock(lock):          # released: free again
        pass


@pytest.mark.parametrize("args, message", [
    (["--models", "bogus", "--slots", "16"], "unknown model"),
    (["--models", "ntm", "--slots", "abc"], "not a memory size"),
    (["--models", "ntm", "--slots", "1"], "out of range"),
    (["--models", "ntm", "--slots", "16", "--steps", "0"], "must be in"),
    (["--models", "sam-exact", "--slots", "16", "--k", "32"], "cannot exceed"),
])
def test_cli_argument_errors_are_messages_not_tracebacks(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_parse_slots_forms():
    assert parse_slots("1024,2^16,64k,1M") == [1024, 65536, 64000, 1_000_000]
    assert parse_slots("2^10..2^12") == [1024, 2048, 4096]


def test_estimates_grow_like_the_models():
    def total(model, n, **kw):
        return estimate_bytes(BenchConfig(model=model, slots=n, **kw))["overhead"]
    assert total("ntm", 1 << 16) / total("ntm", 1 << 12) == pytest.approx(16, rel=0.01)     # linear in N
    assert total("ntm", 1 << 12, steps=100) == pytest.approx(10 * total("ntm", 1 << 12, steps=10))   # and in T
    assert total("sam-faiss", 1 << 20) == total("sam-faiss", 1 << 10)                      # flat
    assert total("dnc", 2048) > 3.9 * total("dnc", 1024)                                  # N² links


def test_plots_slopes_ratios_csv_and_figures():
    rows = []
    for n in (1024, 4096, 16384):
        base = dict(batch=8, heads=4, k=4, word_size=32, steps=10, status="ok")
        rows.append(dict(base, model="ntm", index=None, slots=n, ms_per_step=n / 100, peak_mib=n / 10))
        rows.append(dict(base, model="sam", index="faiss", slots=n, ms_per_step=2.0, peak_mib=1.0))
    rows.append(dict(rows[0], slots=1 << 20, status="refused", ms_per_step=None, peak_mib=None, reason="memory"))
    slopes = {s["model"]: s for s in plots.slopes(rows)}
    assert slopes["ntm"]["slope ms/step"] == pytest.approx(1.0) and slopes["sam-faiss"]["slope ms/step"] == 0
    assert "refused" in slopes["ntm"]["not measured"]
    ratio = {(r["N"], r["dense / sparse"]): r for r in plots.ratios(rows)}
    assert ratio[(16384, "ntm / sam-faiss")]["speed ratio"] == pytest.approx(81.9, abs=0.1)
    assert "1600" in ratio[(16384, "ntm / sam-faiss")]["paper"]
    csv_text = plots.to_csv(rows)
    assert csv_text.splitlines()[0].startswith("model,index,slots") and len(csv_text.splitlines()) == len(rows) + 1
    figure = plots.speed_figure(rows)
    names = [trace.name for trace in figure.data]
    assert "ntm" in names and "sam-faiss" in names and "paper (Rae et al. 2016)" in names
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"
    assert plots.memory_figure(rows).data
    again = dict(rows[1], ms_per_step=3.0)                       # a re-measurement appended later wins
    assert [r["ms_per_step"] for r in plots.latest(rows + [again]) if plots.label(r) == "sam-faiss"] == [2.0, 2.0, 3.0]
    assert any(p["value"] == 7.3 for p in REFERENCE_POINTS) and {r["ratio"] for r in REFERENCE_RATIOS} >= {1600, 3700}


def test_shipped_results_follow_the_schema():
    from samviz.bench import SHIPPED_RESULTS
    if not os.path.exists(SHIPPED_RESULTS):
        pytest.fail(f"no shipped results ({SHIPPED_RESULTS}): a shipped asset is missing")
    rows = runner.read_rows(SHIPPED_RESULTS)
    assert rows
    for row in rows:
        assert set(runner.SCHEMA_KEYS) <= set(row) and row["status"] in runner.STATUSES
        if row["status"] == "ok":
            assert row["ms_per_step"] > 0 and row["peak_mib"] is not None
        else:
            assert row.get("reason")


# ---------------------------------------------------------------------------------------------- cancelling
# A stand-in worker that runs for a minute, with a child of its own (the whole process group must go):
# it writes "worker_pid child_pid" to the file named by its argument, then sleeps.
SLOW_WORKER = ("import subprocess, sys, time; child = subprocess.Popen(['sleep', '60']); "
               "open(sys.argv[1], 'w').write(f'{__import__(\"os\").getpid()} {child.pid}'); time.sleep(60)")


def _alive(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _slow_worker(monkeypatch, tmp_path) -> str:
    pids = str(tmp_path / "pids")
    monkeypatch.setattr(runner, "worker_command", lambda config, budget: [sys.executable, "-c", SLOW_WORKER, pids])
    return pids


def _wait_for(path: str, seconds: float = 20) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path) and len(open(path).read().split()) == 2:
            return [int(p) for p in open(path).read().split()]
        time.sleep(0.02)
    raise AssertionError("the stand-in worker never started")


def test_a_raising_progress_callback_kills_the_worker_group_and_frees_the_lock(lock, monkeypatch, tmp_path):
    """What the Scaling lab relies on when its visitor leaves: Streamlit raises inside the progress tick."""
    pids_file = _slow_worker(monkeypatch, tmp_path)
    spy = SpyPopen()
    ticks, raised_at = [], []

    def progress(config, seconds):
        ticks.append(seconds)
        if os.path.exists(pids_file) and seconds > 0.5:
            raised_at.append(time.monotonic())
            raise runner.BenchmarkCancelled("the visitor left")

    monkeypatch.setattr(runner, "run_config", lambda *a, **kw: run_config(*a, popen=spy, **kw))
    rows = run_configs([BenchConfig(model="ntm", **TINY)] * 2, timeout_s=120, lock=lock, progress=progress)
    with pytest.raises(runner.BenchmarkCancelled):
        next(rows)
    stopped = time.monotonic() - raised_at[0]
    assert stopped < 2, stopped                                       # killed at once, not after the timeout
    worker_pid, child_pid = _wait_for(pids_file)
    assert len(spy.started) == 1 and spy.started[0].poll() is not None  # one worker started, and it is gone
    deadline = time.monotonic() + 2
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(worker_pid) and not _alive(child_pid)           # its own child too (the process group)
    assert len(ticks) >= 2 and all(b - a < 1.0 for a, b in zip(ticks, ticks[1:], strict=False))   # frequent ticks
    with bench_lock(lock):                                            # the lock is free again
        pass


def test_closing_the_rows_generator_between_rows_frees_the_lock(lock, monkeypatch):
    result = runner.RESULT_PREFIX + json.dumps({"status": "ok", "ms_per_step": 1.0, "peak_mib": 1.0})
    monkeypatch.setattr(runner, "worker_command", lambda config, budget: [sys.executable, "-c", f"print({result!r})"])
    rows = run_configs([BenchConfig(model="ntm", **TINY)] * 3, timeout_s=30, lock=lock)
    assert next(rows)["status"] == "ok"
    with pytest.raises(BenchmarkBusy):
        with bench_lock(lock):
            pass
    rows.close()
    with bench_lock(lock):
        pass


def test_a_worker_stops_when_its_runner_dies(lock, tmp_path):
    """A crashed or killed server leaves no benchmark running: the worker watches its parent."""
    import psutil
    script = ("import sys; from samviz.bench.runner import BenchConfig, run_config; "
              "run_config(BenchConfig(model='sam-exact', slots=1 << 16, batch=1, steps=1000), timeout_s=300, "
              "time_budget_s=600)")
    runner_process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ))
    try:
        deadline, workers = time.monotonic() + 30, []
        def command(child) -> str:          # a short-lived child (a zombie, or gone) has no command line to read
            try:
                return " ".join(child.cmdline())
            except psutil.Error:
                return ""

        while not workers and time.monotonic() < deadline:
            workers = [p for p in psutil.Process(runner_process.pid).children() if "samviz.bench.measure" in command(p)]
            time.sleep(0.05)
        assert workers, "the runner never started its worker"
        time.sleep(0.5)
        assert workers[0].is_running()
        runner_process.kill()
        runner_process.wait()
        deadline = time.monotonic() + 3
        while _alive(workers[0].pid) and time.monotonic() < deadline:    # a zombie has exited (nobody reaps it)
            time.sleep(0.05)
        assert not _alive(workers[0].pid), "the worker outlived its runner"
    finally:
        if runner_process.poll() is None:
            runner_process.kill()


def test_the_lock_dies_with_its_holder(lock):
    """A crashed server cannot keep the lock: the kernel drops an flock with the process that held it."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from samviz.bench.runner import bench_lock\n"
                               "with bench_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", lock],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BenchmarkBusy):
            with bench_lock(lock):
                pass
        holder.kill()
        holder.wait()
        with bench_lock(lock):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()


def test_the_worker_does_not_depend_on_the_working_directory(lock, tmp_path, monkeypatch):
    """Run from a directory whose own `samviz` package would break the worker, with no PYTHONPATH."""
    decoy = tmp_path / "samviz"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy samviz in the working directory')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    row = run_config(BenchConfig(model="ntm", **TINY), timeout_s=120, time_budget_s=0.1)
    assert row["status"] == "ok", row
