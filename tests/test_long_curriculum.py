"""python -m samviz.training.long_curriculum: the paper's long-sequence curriculum. Validation at the current level
h, the checkpoint is the latest validation's weights, and at the ceiling a validation at or below the target stops
the run only when a larger fixed set confirms it; the confirmation leaves the training as it was. Refused input
first, before anything is built."""
from __future__ import annotations

import contextlib
import json

import pytest
from safetensors.torch import load_file
import torch

from samviz import long_evaluation
from samviz.training import long_curriculum as lc
from samviz.training import state
from samviz.training.config import TrainConfig
from samviz.training.trainer import VALIDATION_SEED

CEILING = 4          # associative recall at 4 items: T = 4·4 + 8 = 24 steps
TINY = ["--model", "sam", "--ceiling", str(CEILING), "--slots", "64", "--word-size", "8", "--heads", "1",
        "--batch", "2", "--start-level", "2", "--window", "2", "--eval-every", "3", "--val-batch", "4",
        "--log-every", "1000", "--checkpoint-every", "4"]


START_LR = TrainConfig.for_run("sam", "associative_recall").lr      # what TINY runs start with


def run(out, *extra) -> int:
    return lc.main([*TINY, "--out", str(out), *extra])


def log_rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_h_doubles_to_the_ceiling_and_the_checkpoint_is_the_latest_validation(tmp_path):
    """A threshold no loss stays under (0.0001) keeps h at 2; one every loss is under (100) doubles it after each
    window of 2 updates, to the ceiling and no further. Validations score the fixed set AT h; the saved weights
    are those of the latest validation, not the best-looking one."""
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "9") == 0
    meta = json.loads((out / "meta.json").read_text())
    assert [list(a) for a in meta["curriculum"]["advances"]] == [[2, 4]]      # 2 → 4 after 2 updates, then capped
    validations = meta["validations"]
    assert [v["step"] for v in validations] == [3, 6, 9] and {v["level"] for v in validations} == {CEILING}
    assert meta["steps"] == 9 and meta["metrics"]["bit_errors_per_sequence"] == validations[-1]["bit_errors"]
    assert meta["level"] == CEILING and meta["max_level"] == CEILING and meta["finished"] == "steps"
    assert "confirmation_bit_errors" not in validations[-1]          # target 0: no reading reached it

    stuck = tmp_path / "stuck"
    assert run(stuck, "--threshold", "0.0001", "--target", "0", "--steps", "6") == 0
    assert json.loads((stuck / "meta.json").read_text())["level"] == 2


def test_a_reading_at_the_target_is_confirmed_on_a_larger_set_before_the_run_stops(tmp_path, monkeypatch):
    """Every validation is at or below a target of 100 bits; the confirmation says 1,000 at the first reading at
    the ceiling (the run trains on) and 0 at the second (it stops there, finished 'target'). Both confirmations
    are logged; the checkpoint's meta carries the one it stopped on."""
    said = iter([1000.0, 0.0])
    scored = []

    def confirmation(model, episode, chunk):
        scored.append((episode.inputs.shape[1], episode.level, chunk))
        return next(said), 0.0

    monkeypatch.setattr(lc, "score_in_chunks", confirmation)
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "100", "--steps", "30") == 0
    assert scored == [(lc.CONFIRMATION_EPISODES, CEILING, lc.CONFIRMATION_CHUNK)] * 2
    confirmations = [r for r in log_rows(out) if "confirmation_bit_errors" in r]
    assert [(r["step"], r["confirmation_bit_errors"]) for r in confirmations] == [(3, 1000.0), (6, 0.0)]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["finished"] == "target" and meta["training_steps"] == 6 and meta["steps"] == 6
    assert meta["validations"][-1]["confirmation_bit_errors"] == 0.0
    assert meta["validations"][0]["confirmation_bit_errors"] == 1000.0
    assert run(out, "--resume", "--steps", "30") == 0                 # finished: a resume has nothing to do
    assert json.loads((out / "meta.json").read_text())["training_steps"] == 6


def test_the_confirmation_set_is_fixed_apart_from_the_validation_and_leaves_training_unchanged(tmp_path,
                                                                                            monkeypatch):
    """The confirmation's episodes: CONFIRMATION_EPISODES at the level, the same each time, not the validation's.
    A run whose confirmations really run the model forward (and then fail) ends with the same weights, optimizer
    and generator state as one whose confirmations return at once: the stop rule costs time, never a different
    training."""
    real = lc.score_in_chunks
    monkeypatch.setattr(lc, "score_in_chunks", lambda model, episode, chunk: (real(model, episode, chunk)[0] + 1e3, 0))
    assert run(tmp_path / "forward", "--threshold", "100", "--target", "100", "--steps", "10") == 0
    monkeypatch.setattr(lc, "score_in_chunks", lambda model, episode, chunk: (1e3, 0.0))
    assert run(tmp_path / "none", "--threshold", "100", "--target", "100", "--steps", "10") == 0
    with_forward = load_file(str(tmp_path / "forward" / state.STATE_FILE))
    without = load_file(str(tmp_path / "none" / state.STATE_FILE))
    assert with_forward.keys() == without.keys()
    assert all(torch.equal(with_forward[k], without[k]) for k in with_forward)

    saved = state.read(tmp_path / "none")
    trainer = state.restore(saved, saved.config, trainer_class=lc.LongCurriculumTrainer.configured(CEILING))
    confirmation, validation = trainer.confirmation_at(CEILING), trainer.validation_at(CEILING)
    assert confirmation.inputs.shape[1] == lc.CONFIRMATION_EPISODES and confirmation.level == CEILING
    assert torch.equal(trainer.confirmation_at(CEILING).inputs, confirmation.inputs)
    assert not torch.equal(confirmation.inputs[:, :validation.inputs.shape[1]], validation.inputs)

    def drawn(seed):
        return trainer.task.sample(lc.CONFIRMATION_EPISODES, CEILING,
                                   torch.Generator().manual_seed(seed * 1_000_003 + CEILING)).inputs
    assert torch.equal(confirmation.inputs, drawn(lc.CONFIRMATION_SEED))
    for other in (VALIDATION_SEED, long_evaluation.SEED):          # the validation's and the evaluation's episodes
        assert not torch.equal(confirmation.inputs, drawn(other))


@pytest.mark.parametrize("extra, message", [
    ([], "a new run needs --model and --ceiling"),
    (["--model", "sam"], "a new run needs --model and --ceiling"),
    (["--model", "sam", "--ceiling", "0"], "must be a positive integer"),
    (["--model", "sam", "--ceiling", "10000000"], "ceiling"),
    (["--model", "sam", "--ceiling", "4", "--init-from", "pretrained/ntm-associative_recall"],
     "holds a ntm model, not sam"),
])
def test_bad_input_is_a_clear_error_before_anything_is_built(extra, message, tmp_path, capsys):
    with pytest.raises(SystemExit) if "positive" in message else contextlib.nullcontext():
        assert lc.main(["--out", str(tmp_path / "run"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / state.STATE_FILE).exists()


def test_a_continuation_starts_h_above_the_base_range_and_resumes_there(tmp_path, capsys):
    """A run continued past an earlier ceiling (--init-from that run, --start-level at its ceiling): h starts at
    the given level although associative recall's own range ends at 6, the weights start as the earlier run's,
    validations score episodes at that h, and a resume restores it (the saved settings are checked against the
    long task's range, [2, ceiling]). A start above the ceiling is refused naming that range."""
    first = tmp_path / "first"
    assert run(first, "--threshold", "100", "--target", "0", "--steps", "3") == 0
    second = tmp_path / "second"
    continued = ["--ceiling", "16", "--start-level", "8", "--init-from", str(first), "--threshold", "0.0001",
                 "--target", "0", "--lr", "1e-12"]
    assert run(second, *continued, "--steps", "3") == 0
    meta = json.loads((second / "meta.json").read_text())
    assert meta["level"] == 8 and meta["training"]["start_level"] == 8 and meta["max_level"] == 16
    assert {v["level"] for v in meta["validations"]} == {8}
    settings = json.loads((second / lc.SETTINGS_FILE).read_text())
    assert settings["init_from"] == str(first) and settings["continues"] == {"run": str(first), "step": 3}
    # at a learning rate of 1e-12 three updates leave the weights as they were loaded: the first run's
    before, after = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert lc.main(["--out", str(second), "--resume", "--steps", "6"]) == 0
    meta = json.loads((second / "meta.json").read_text())
    assert meta["steps"] == 6 and meta["level"] == 8 and {v["level"] for v in meta["validations"]} == {8}
    # the report: the sentence says where the weights came from, the figure draws it after the first run's updates
    from samviz.app.pages import learning_curves as page
    log = long_evaluation.curriculum_log(second)
    assert log["continues"] == {"run": "first", "step": 3}
    (sentence,) = long_evaluation.curriculum_sentences({"runs": [log]})
    assert sentence.startswith("SAM (second: 64 slots, exact), continuing first from its update 3 (its weights, a "
                               "fresh optimizer; updates counted from there), is at h = 8 of 16 items after 6 updates")
    (trace,) = page.long_curriculum_figure({"runs": [log]}).data
    assert list(trace.x) == [3, 9] and list(trace.y) == [8, 8] and trace.name == "SAM (second, continued)"
    assert trace.line.dash == "dot"
    assert long_evaluation.curriculum_log(first)["continues"] is None       # a fresh run continues nothing
    clipped = tmp_path / "clipped"
    assert run(clipped, *continued, "--interface-clip", "50", "--steps", "3") == 0
    (sentence,) = long_evaluation.curriculum_sentences({"runs": [long_evaluation.curriculum_log(clipped)]})
    assert sentence.endswith("; interface clip ±50 throughout (the default is ±20).")       # its setting, not a change
    capsys.readouterr()
    assert run(tmp_path / "too-high", "--ceiling", "16", "--start-level", "32", "--steps", "3") == 2
    assert "argument --start-level: must be an integer in [2, 16]" in capsys.readouterr().err


def test_an_existing_run_needs_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "4") == 0
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "8") == 2
    assert "already holds a run; give --resume to continue it" in capsys.readouterr().err



def test_resume_with_lr_changes_the_rate_from_that_update_and_records_it(tmp_path, capsys):
    """--resume --lr: every parameter group's rate is the new one from the update the run resumed at, the state
    saved at once holds it (a later plain resume keeps it), and the change is in long_curriculum.json, in the
    checkpoint's meta and in the curriculum log's sentence. The same rate again changes nothing."""
    from samviz import long_evaluation as le
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "6") == 0
    assert state.read(out).info["optimizer"]["param_groups"][0]["lr"] == START_LR
    assert lc.main(["--out", str(out), "--resume", "--lr", "0.0003", "--steps", "9", "--log-every", "1000"]) == 0
    assert "learning rate 0.0003 from update 6" in capsys.readouterr().err
    assert [g["lr"] for g in state.read(out).info["optimizer"]["param_groups"]] == [0.0003]
    settings = json.loads((out / lc.SETTINGS_FILE).read_text())
    assert settings["lr_changes"] == [[6, 0.0003]] and settings["ceiling"] == CEILING
    meta = json.loads((out / "meta.json").read_text())
    assert meta["long_curriculum"]["lr_changes"] == [[6, 0.0003]] and meta["training"]["lr"] == START_LR
    assert lc.main(["--out", str(out), "--resume", "--steps", "12", "--log-every", "1000"]) == 0
    assert lc.main(["--out", str(out), "--resume", "--lr", "0.0003", "--steps", "12", "--log-every", "1000"]) == 0
    assert state.read(out).info["optimizer"]["param_groups"][0]["lr"] == 0.0003
    assert json.loads((out / lc.SETTINGS_FILE).read_text())["lr_changes"] == [[6, 0.0003]]
    (sentence,) = le.curriculum_sentences({"runs": [le.curriculum_log(out)]})
    assert sentence.endswith("; learning rate 0.0003 from update 6.")

    # the change is in the saved state before a single update runs (a run killed then resumes at the new rate)
    saved = state.read(out)
    trainer = state.restore(saved, saved.config, trainer_class=lc.LongCurriculumTrainer.configured(CEILING))
    settings = json.loads((out / lc.SETTINGS_FILE).read_text())
    trainer.lr_changes = settings["lr_changes"]
    lc.change_learning_rate(trainer, 0.0001, settings, out / lc.SETTINGS_FILE)
    assert state.read(out).info["optimizer"]["param_groups"][0]["lr"] == 0.0001 and state.read(out).info["step"] == 12
    assert json.loads((out / lc.SETTINGS_FILE).read_text())["lr_changes"] == [[6, 0.0003], [12, 0.0001]]


def test_the_new_rate_is_what_the_updates_use(tmp_path):
    """Two runs resumed at update 4, one with 0.0003 and one with the rate it started with (no change), part at
    update 5; the unchanged one is the straight run's: the rate set on resume is the one the optimizer steps with."""
    for name, lr in (("slow", "0.0003"), ("same", str(START_LR))):
        assert run(tmp_path / name, "--threshold", "100", "--target", "0", "--steps", "4") == 0
        assert lc.main(["--out", str(tmp_path / name), "--resume", "--lr", lr, "--steps", "5",
                        "--log-every", "1000"]) == 0
    slow, same = (load_file(str(tmp_path / name / state.STATE_FILE)) for name in ("slow", "same"))
    straight = tmp_path / "straight"
    assert run(straight, "--threshold", "100", "--target", "0", "--steps", "5") == 0
    assert all(torch.equal(same[k], v) for k, v in load_file(str(straight / state.STATE_FILE)).items())
    moved = {k: (slow[k] - same[k]).abs().max().item() for k in slow if k.startswith("model/")}
    assert max(moved.values()) > 0


@pytest.mark.parametrize("flag, value", [("--batch", "4"), ("--threshold", "0.5"), ("--slots", "128"),
                                         ("--target", "1")])
def test_a_resume_refuses_to_change_what_defines_the_run(flag, value, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "3") == 0
    before = (out / state.STATE_FILE).read_bytes()
    assert lc.main(["--out", str(out), "--resume", flag, value, "--steps", "6"]) == 2
    assert (f"{flag}: a resumed run keeps the settings it started with; only --lr and --interface-clip may change"
            in capsys.readouterr().err)
    assert (out / state.STATE_FILE).read_bytes() == before


@pytest.mark.parametrize("lr", ["0", "-0.1", "2"])
def test_a_learning_rate_out_of_range_is_refused(lr, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "3") == 0
    assert lc.main(["--out", str(out), "--resume", "--lr", lr, "--steps", "6"]) == 2
    assert f"error: --lr must be in (0, 1] (got {float(lr):g})" in capsys.readouterr().err
    assert "lr_changes" not in json.loads((out / lc.SETTINGS_FILE).read_text())


def test_resume_with_interface_clip_changes_the_clip_from_that_update_and_records_it(tmp_path, capsys):
    """--resume --interface-clip: the saved config (so every later resume), the checkpoint's config (so every
    evaluation) and long_curriculum.json carry the new clip from the update the run resumed at; the curriculum
    sentence names it; the same clip again records nothing."""
    from samviz import long_evaluation as le
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "4") == 0
    assert state.read(out).config.interface_clip == 20.0
    assert lc.main(["--out", str(out), "--resume", "--interface-clip", "50", "--steps", "6", "--log-every",
                    "1000"]) == 0
    assert "interface clip ±50 from update 4" in capsys.readouterr().err
    assert state.read(out).config.interface_clip == 50.0
    assert json.loads((out / lc.SETTINGS_FILE).read_text())["interface_clip_changes"] == [[4, 50.0]]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["interface_clip"] == 50.0
    assert meta["long_curriculum"]["interface_clip_changes"] == [[4, 50.0]]
    assert lc.main(["--out", str(out), "--resume", "--interface-clip", "50", "--steps", "8", "--log-every",
                    "1000"]) == 0
    assert lc.main(["--out", str(out), "--resume", "--steps", "9", "--log-every", "1000"]) == 0
    assert state.read(out).config.interface_clip == 50.0
    assert json.loads((out / lc.SETTINGS_FILE).read_text())["interface_clip_changes"] == [[4, 50.0]]
    (sentence,) = le.curriculum_sentences({"runs": [le.curriculum_log(out)]})
    assert sentence.endswith("; interface clip ±50 from update 4.")


def test_the_new_clip_is_what_the_steps_use(tmp_path):
    """Runs started with a clip that binds (±0.01), resumed at update 4 with ±50 or with ±0.01 again, part at
    update 5: the unchanged one is the straight run's, the changed one's weights moved otherwise."""
    binding = ("--threshold", "100", "--target", "0", "--interface-clip", "0.01")
    for name, clip in (("wide", "50"), ("same", "0.01")):
        assert run(tmp_path / name, *binding, "--steps", "4") == 0
        assert lc.main(["--out", str(tmp_path / name), "--resume", "--interface-clip", clip, "--steps", "5",
                        "--log-every", "1000"]) == 0
    wide, same = (load_file(str(tmp_path / name / state.STATE_FILE)) for name in ("wide", "same"))
    straight = tmp_path / "straight"
    assert run(straight, *binding, "--steps", "5") == 0
    assert all(torch.equal(same[k], v) for k, v in load_file(str(straight / state.STATE_FILE)).items())
    assert max((wide[k] - same[k]).abs().max().item() for k in wide if k.startswith("model/")) > 0


@pytest.mark.parametrize("clip", ["0", "-1", "1e7"])
def test_an_interface_clip_out_of_range_is_refused(clip, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--threshold", "100", "--target", "0", "--steps", "3") == 0
    before = (out / state.STATE_FILE).read_bytes()
    assert lc.main(["--out", str(out), "--resume", "--interface-clip", clip, "--steps", "6"]) == 2
    assert "error: --interface-clip must be in (0, 1e+06]" in capsys.readouterr().err
    assert (out / state.STATE_FILE).read_bytes() == before
