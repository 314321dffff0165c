"""Training: determinism under a seed, exact resumption, the curriculum, and that copy actually learns."""
import io
import json

import pytest
import torch
from safetensors.torch import load_file

import samviz
from samviz import train
from samviz.train import Curriculum, Progress, Trainer

TINY_RUN = ["--model", "ntm", "--task", "copy", "--slots", "8", "--word-size", "4", "--controller", "8",
            "--batch", "2", "--eval-every", "5", "--val-batch", "4", "--window", "3", "--threshold", "0.8",
            "--log-every", "1000", "--checkpoint-every", "4"]


def run_cli(out, *extra):
    assert train.main([*TINY_RUN, "--out", str(out), *extra]) == 0
    return load_file(str(out / train.STATE_FILE))


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_resume_continues_identically(tmp_path):
    first = run_cli(tmp_path / "a", "--steps", "12")
    second = run_cli(tmp_path / "b", "--steps", "12")
    assert same_tensors(first, second)                       # weights, optimizer moments, RNG state
    assert not torch.equal(first["model/output.weight"], run_cli(tmp_path / "s", "--steps", "12", "--seed", "1")["model/output.weight"])

    run_cli(tmp_path / "c", "--steps", "7")                   # interrupted at 7 (between checkpoints) ...
    resumed = run_cli(tmp_path / "c", "--steps", "12", "--resume")   # ... and resumed to 12
    assert same_tensors(first, resumed)
    state = json.loads((tmp_path / "c" / train.STATE_JSON).read_text())
    straight = json.loads((tmp_path / "a" / train.STATE_JSON).read_text())
    assert state["step"] == 12 and state["curriculum"] == straight["curriculum"]
    # validations on schedule are the same; each session's end adds one more (step 7 here, and 12)
    assert [v for v in state["validations"] if v["scheduled"]] == [v for v in straight["validations"] if v["scheduled"]]
    assert [v["step"] for v in state["validations"] if not v["scheduled"]] == [7, 12]
    # the shipped checkpoint (best validation) is loadable and says where it came from
    model = samviz.pretrained.load(tmp_path / "c")
    assert model.meta["task"] == "copy" and model.meta["steps"] in {v["step"] for v in state["validations"]}
    assert "--steps" in model.meta["command"] and model.meta["training_steps"] == 12


def test_existing_run_needs_resume_and_time_limit_stops_cleanly(tmp_path, capsys):
    out = tmp_path / "run"
    run_cli(out, "--steps", "3")
    assert train.main([*TINY_RUN, "--out", str(out), "--steps", "6"]) == 2       # refuses to overwrite
    assert "--resume" in capsys.readouterr().err
    run_cli(out, "--steps", "1000", "--resume", "--time-limit", "0")             # stops at once, checkpoints
    state = json.loads((out / train.STATE_JSON).read_text())
    assert state["step"] == 3 and state["finished"] != "target"


def test_curriculum_doubles_when_loss_is_below_threshold():
    curriculum = Curriculum(min_level=1, max_level=20, start=2, threshold=0.1, window=3)
    for loss in (0.5, 0.05, 0.05):          # mean 0.2 ≥ 0.1: stays
        assert not curriculum.update(loss)
    assert curriculum.level == 2
    assert curriculum.update(0.05)          # window (0.05, 0.05, 0.05) < 0.1: doubles
    assert curriculum.level == 4 and len(curriculum.losses) == 0
    assert not curriculum.update(0.01) and not curriculum.update(0.01)   # the window restarts after an advance
    assert curriculum.update(0.01) and curriculum.level == 8
    for _ in range(6):
        curriculum.update(0.0)
    assert curriculum.level == 20 and curriculum.at_max                 # capped at max_level
    for _ in range(6):
        assert not curriculum.update(0.0)
    assert not curriculum.update(float("nan"))
    restored = Curriculum(1, 20)
    restored.load_state_dict(json.loads(json.dumps(curriculum.state_dict())))
    assert restored.state_dict() == curriculum.state_dict()


def test_curriculum_samples_levels_uniformly_up_to_h():
    curriculum = Curriculum(min_level=2, max_level=20, start=5)
    generator = torch.Generator().manual_seed(0)
    levels = [curriculum.sample_level(generator) for _ in range(500)]
    assert set(levels) == {2, 3, 4, 5}
    assert Curriculum(min_level=3, max_level=20).level == 3            # starts at min_level by default
    assert Curriculum(min_level=1, max_level=8, start=50).level == 8
    with pytest.raises(ValueError):
        Curriculum(min_level=5, max_level=2)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_optimizer_state_round_trips_without_pickle(name):
    model = samviz.build_model("ntm", seed=0, memory_slots=8, word_size=4, controller_size=8)
    optimizer = train.make_optimizer(name, model.parameters(), 1e-3)
    model(torch.rand(3, 2, 9)).sum().backward()
    optimizer.step()
    tensors, info = train.optimizer_to_tensors(optimizer)
    other = train.make_optimizer(name, model.parameters(), 1e-3)
    train.optimizer_from_tensors(other, tensors, json.loads(json.dumps(info)))
    again, again_info = train.optimizer_to_tensors(other)
    assert same_tensors(tensors, again) and again_info == json.loads(json.dumps(info))


def test_defaults_cover_the_grid():
    for model in samviz.MODELS:
        for task in samviz.tasks.NAMES:
            defaults = train.defaults_for(model, task)
            assert defaults["threads"] == 1 and defaults["index"] == "exact" and defaults["optimizer"] == "adam"
            assert defaults["start_level"] <= samviz.tasks.get(task).max_level
            assert 0 < defaults["target"] < train.TARGETS[task]
            samviz.model.ModelConfig(kind=model, memory_slots=defaults["slots"], word_size=defaults["word_size"],
                                     heads=defaults["heads"], k=defaults["k"]).validate()


def test_copy_loss_decreases_over_200_updates():
    task = samviz.tasks.get("copy")
    run = {**train.defaults_for("ntm", "copy"), "model": "ntm", "task": "copy", "slots": 12, "word_size": 8,
           "controller": 32, "batch": 8, "start_level": 2, "eval_every": 10_000, "lr": 3e-3}
    session = {"steps": 200, "log_every": 10_000, "checkpoint_every": 10_000, "threads": 1, "time_limit": None}
    trainer = Trainer(run, session, out=None, progress=Progress(io.StringIO()))
    trainer.curriculum.min_level = trainer.curriculum.level = trainer.curriculum.max_level = max(2, task.min_level)
    losses = [trainer.update() for _ in range(200)]
    start, end = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert end < 0.75 * start, f"copy loss did not fall enough: {start:.3f} → {end:.3f}"
