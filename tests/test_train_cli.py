"""The training and evaluation CLIs refuse nonsense with argparse-style messages (exit status 2, no
traceback, nothing allocated or written), resume only the run they were given, and never save
non-finite weights."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest
from safetensors.torch import load_file
import torch

import samviz
from samviz import evaluate, train
from samviz.training import state, trainer

ROOT = Path(__file__).resolve().parent.parent
TINY_RUN = ["--model", "ntm", "--task", "copy", "--slots", "8", "--word-size", "4", "--controller", "8",
            "--batch", "2", "--eval-every", "5", "--val-batch", "4", "--window", "3", "--threshold", "0.8",
            "--log-every", "1000", "--checkpoint-every", "4"]


def run(module: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m samviz.") and ": error: " in last, result.stderr
    for word in words:
        assert word in last, result.stderr


# ---------------------------------------------------------------------------- settings, in a subprocess

@pytest.mark.parametrize("extra, named", [
    (["--clip", "nan"], "--clip"),                     # trained NaN weights and saved them as the best
    (["--clip", "-1"], "--clip"),                      # trained uphill
    (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--batch", "1000000000"], "--batch"),
    (["--val-batch", "1000000000"], "--val-batch"),
    (["--word-size", "1000000000"], "--word-size"),
    (["--slots", "16777216", "--word-size", "4096"], "GiB of memory"),   # each in range, together too big
])
def test_nonsense_settings_are_refused_before_anything_is_made(tmp_path, extra, named):
    out = tmp_path / "run"
    assert_refused(run("samviz.train", *TINY_RUN, "--steps", "3", "--out", str(out), *extra), named)
    assert not out.exists()


def test_an_unwritable_out_is_a_clear_error(tmp_path):
    assert_refused(run("samviz.train", *TINY_RUN, "--steps", "3", "--out", "/proc/nope"), "--out", "/proc/nope")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_refused(run("samviz.train", *TINY_RUN, "--steps", "3", "--out", str(blocker / "run")), "--out")


def test_an_out_the_file_system_cannot_name_is_a_clear_error(tmp_path, capsys):
    assert train.main([*TINY_RUN, "--steps", "3", "--out", str(tmp_path / ("x" * 300))]) == 2
    assert "argument --out: cannot use" in capsys.readouterr().err.strip().splitlines()[-1]


def test_evaluate_bounds_its_arguments(tmp_path):
    assert_refused(run("samviz.evaluate", "ntm-copy", "--batch-size", "1000000000"), "--batch-size")


# ---------------------------------------------------------------------------- settings, in this process

@pytest.mark.parametrize("extra, named", [
    (["--threshold", "inf"], "--threshold"), (["--target", "-1"], "--target"),
    (["--time-limit", "nan"], "--time-limit"), (["--steps", "0"], "--steps"), (["--threads", "0"], "--threads"),
    (["--window", "0"], "--window"), (["--start-level", "50"], "--start-level"),
    (["--seed", str(2**64)], "--seed"), (["--heads", "65"], "--heads"), (["--k", "9"], "k=9"),
    (["--slots", "1"], "--slots"), (["--eval-every", "-3"], "--eval-every"), (["--log-every", "0"], "--log-every"),
    (["--access-threshold", "1"], "--access-threshold"), (["--access-threshold", "-0.1"], "--access-threshold"),
    (["--interface-clip", "0"], "--interface-clip"), (["--interface-clip", "inf"], "--interface-clip"),
])
def test_every_setting_is_bounded(tmp_path, capsys, extra, named):
    model = ["--model", "sam"] if "--k" in extra else []
    out = tmp_path / "run"
    assert train.main([*TINY_RUN, *model, "--steps", "3", "--out", str(out), *extra]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("python -m samviz.train: error: ") and named in message
    assert not out.exists()


@pytest.mark.parametrize("extra", [["--batches", "0"], ["--jobs", "0"], ["--threads", "100000"], ["--seed", "x"]])
def test_evaluate_refuses_out_of_range_counts(capsys, extra):
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["ntm-copy", *extra])
    assert stop.value.code == 2 and extra[0] in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- resuming

@pytest.fixture
def started(tmp_path):
    out = tmp_path / "run"
    assert train.main([*TINY_RUN, "--steps", "3", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("change, named", [
    (["--model", "sam"], "--model sam (the run has ntm)"),
    (["--task", "associative_recall"], "--task associative_recall (the run has copy)"),
    (["--slots", "16"], "--slots 16 (the run has 8)"),
    (["--controller-size", "9"], "--controller 9 (the run has 8)"),
    (["--lr", "0.01"], "--lr 0.01 (the run has 0.001)"),
])
def test_resume_refuses_a_run_with_other_settings(started, capsys, change, named):
    before = load_file(str(started / state.STATE_FILE))
    assert train.main([*TINY_RUN, "--steps", "6", "--out", str(started), "--resume", *change]) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds a run with other settings" in message and named in message
    after = load_file(str(started / state.STATE_FILE))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_resume_may_change_the_session_settings(started):
    assert train.main([*TINY_RUN, "--steps", "6", "--out", str(started), "--resume", "--threads", "2",
                       "--log-every", "2", "--checkpoint-every", "3", "--time-limit", "600"]) == 0
    assert json.loads((started / state.STATE_JSON).read_text())["step"] == 6


def test_resume_on_a_truncated_state_is_a_clear_error(started):
    path = started / state.STATE_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_refused(run("samviz.train", *TINY_RUN, "--steps", "6", "--out", str(started), "--resume"),
                   "cannot resume", str(path))


def test_resume_refuses_a_state_with_non_finite_weights(started, capsys):
    from samviz.checkpoint import read_state_file, write_state_file
    tensors, info = read_state_file(started / state.STATE_FILE)
    tensors["model/output.bias"][0] = float("nan")
    write_state_file(started / state.STATE_FILE, tensors, info)
    assert train.main([*TINY_RUN, "--steps", "6", "--out", str(started), "--resume"]) == 2
    assert "model/output.bias hold NaN" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- non-finite weights

def test_weights_that_go_non_finite_stop_the_run_and_are_never_saved(tmp_path, capsys, monkeypatch):
    """An optimizer that writes NaN into a weight at update 7: the run stops there with a clear message and
    exit status 1; the checkpoint (best at update 5) and the training state (update 4) stay finite."""
    make = trainer.make_optimizer

    def poisoning(name, params, lr):
        optimizer = make(name, params, lr)
        step, updates = optimizer.step, [0]

        def poisoned_step(*args, **kwargs):
            result = step(*args, **kwargs)
            updates[0] += 1
            if updates[0] == 7:
                with torch.no_grad():
                    optimizer.param_groups[0]["params"][0].view(-1)[0] = float("nan")
            return result
        optimizer.step = poisoned_step
        return optimizer

    monkeypatch.setattr(trainer, "make_optimizer", poisoning)
    out = tmp_path / "run"
    assert train.main([*TINY_RUN, "--steps", "12", "--out", str(out)]) == 1
    message = capsys.readouterr().err
    assert "stopped at step 7: the weights became NaN or infinite" in message and "--lr" in message
    model = samviz.pretrained.load(out)                     # refuses non-finite weights: these are finite
    assert model.meta["steps"] == 5
    saved = json.loads((out / state.STATE_JSON).read_text())
    assert saved["step"] == 4
    tensors = load_file(str(out / state.STATE_FILE))
    assert all(bool(torch.isfinite(t).all()) for name, t in tensors.items() if name.startswith("model/"))


def test_evaluate_names_a_checkpoint_it_cannot_score(tmp_path, capsys):
    model = samviz.build_model("ntm", seed=0, memory_slots=8, word_size=4, controller_size=8)
    samviz.pretrained.save_checkpoint(model, tmp_path / "no-task", {"level": 3})
    assert evaluate.main([str(tmp_path / "no-task"), "--batches", "1", "--batch-size", "2"]) == 1
    message = capsys.readouterr().err
    assert "no-task/meta.json: no task to score it on" in message and "Traceback" not in message
