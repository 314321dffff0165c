"""One training run per run directory (issue 29, item 1): a second run on the same --out is refused with one line
naming the run that holds it, --resume takes the same lock, and the lock goes with its process however it dies."""
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

from samviz import train
from samviz.training import run_lock

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
TINY = ["--model", "ntm", "--task", "copy", "--slots", "8", "--word-size", "4", "--controller", "8", "--batch", "2",
        "--eval-every", "10", "--val-batch", "4", "--log-every", "1000", "--checkpoint-every", "10"]
HOLD = ("import sys, time\nfrom samviz.training import run_lock\n"
        "run_lock.acquire(sys.argv[1], 'python -m samviz.train --seed 7')\nprint('held', flush=True)\n"
        "time.sleep(120)\n")


def holder_process(directory: Path) -> subprocess.Popen:
    """Another process holding `directory`'s lock (until killed)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True,
                               env=ENV, cwd=ROOT)
    assert process.stdout.readline().strip() == "held"
    return process


def train_process(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "samviz.train", *TINY, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def test_a_second_holder_is_refused_with_the_first_ones_pid_command_and_start(tmp_path):
    process = holder_process(tmp_path)
    try:
        with pytest.raises(run_lock.RunBusy) as refused:
            run_lock.acquire(tmp_path, "second")
        message = str(refused.value)
        assert f"pid {process.pid}" in message and "python -m samviz.train --seed 7" in message
        assert "started 20" in message and str(tmp_path) in message and "\n" not in message
    finally:
        process.kill()
        process.wait()
    # SIGKILL: the kernel dropped the flock with the process, nothing to clean up
    descriptor = run_lock.acquire(tmp_path, "third")
    try:
        assert json.loads((tmp_path / run_lock.LOCK_FILE).read_text())["command"] == "third"
        with pytest.raises(run_lock.RunBusy):        # another open file description in this process is refused too
            run_lock.acquire(tmp_path, "fourth")
    finally:
        run_lock.release(descriptor)
    run_lock.release(run_lock.acquire(tmp_path, "fifth"))


def test_the_cli_refuses_a_directory_in_use_for_a_new_run_and_for_resume(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    process = holder_process(out)
    try:
        for extra in ([], ["--resume"]):
            assert train.main([*TINY, "--steps", "3", "--out", str(out), *extra]) == 2
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1, lines
            assert lines[0].startswith("python -m samviz.train: error: ") and f"pid {process.pid}" in lines[0]
            assert "in use by another training run" in lines[0]
        assert sorted(p.name for p in out.iterdir()) == [run_lock.LOCK_FILE]     # nothing written
    finally:
        process.kill()
        process.wait()
    assert train.main([*TINY, "--steps", "3", "--out", str(out)]) == 0          # free again
    assert (out / "model.safetensors").is_file()


def test_two_runs_started_together_on_one_out_one_is_refused_and_nothing_is_lost(tmp_path):
    """The issue's case: two seeds started at once on one --out. Before the lock both ran, their log lines
    interleaved and the worse seed's checkpoint overwrote the better one's."""
    out = tmp_path / "conc"
    runs = [train_process(out, "--steps", "150", "--seed", str(seed)) for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.communicate()) for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, (_, err) in results if code == 2)
    assert "in use by another training run" in refused and "Traceback" not in refused
    winner = next(p.pid for p, (code, _) in zip(runs, results, strict=True) if code == 0)
    assert f"pid {winner}" in refused
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()
             if "step" in json.loads(line)]
    assert steps == sorted(set(steps)), "the log holds one run's rows, in order"
    meta = json.loads((out / "meta.json").read_text())
    assert f"--seed {1 if runs[0].pid == winner else 2}" in meta["command"]


def test_a_killed_run_leaves_the_directory_free_and_resumable(tmp_path):
    out = tmp_path / "run"
    process = train_process(out, "--steps", "100000")
    deadline = time.monotonic() + 120
    while not (out / "train_state.safetensors").is_file():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    with pytest.raises(run_lock.RunBusy):
        run_lock.acquire(out, "probe")
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = train_process(out, "--steps", "30", "--resume")
    assert done.wait(timeout=120) == 0, done.communicate()


def test_under_torchrun_only_rank_0_takes_the_lock(tmp_path, monkeypatch, capsys):
    """Ranks other than 0 write nothing (samviz.training.distributed) and must not fight rank 0 for the lock;
    tests/test_distributed.py runs two ranks on one --out."""
    out = tmp_path / "run"
    out.mkdir()
    process = holder_process(out)        # stands for rank 0
    try:
        monkeypatch.setenv("RANK", "1")
        assert train.rank_from_environment() == 1
        assert train.main([*TINY, "--steps", "2", "--out", str(out)]) == 0
        monkeypatch.setenv("RANK", "0")
        assert train.main([*TINY, "--steps", "2", "--out", str(tmp_path / "other")]) == 0
        assert train.main([*TINY, "--steps", "2", "--out", str(out), "--resume"]) == 2
        assert f"pid {process.pid}" in capsys.readouterr().err
    finally:
        process.kill()
        process.wait()


def test_main_puts_the_signal_handlers_back(tmp_path):
    """train.main stops a run cleanly on SIGINT/SIGTERM while it trains; a process that goes on afterwards (pytest
    calling main in-process) keeps its own handlers: before, the trainer's stayed and a later SIGTERM was ignored."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    assert train.main([*TINY, "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    assert {sig: signal.getsignal(sig) for sig in before} == before
