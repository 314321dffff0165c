"""Training: determinism under a seed, exact resumption (also of the first trainer's runs), the curriculum,
the settings and their defaults, and that copy actually learns."""
import io
import json
from pathlib import Path
import shlex
import shutil

import pytest
from safetensors.torch import load_file
import torch

import samviz
from samviz import train
from samviz.checkpoint import config_from_meta, optimizer_from_tensors, optimizer_to_tensors
from samviz.curriculum import Curriculum
from samviz.tasks import TARGETS
from samviz.training import state
from samviz.training.config import STOP_FRACTION, TrainConfig
from samviz.training.progress import Progress
from samviz.training.trainer import Trainer, make_optimizer

TINY_RUN = ["--model", "ntm", "--task", "copy", "--slots", "8", "--word-size", "4", "--controller", "8",
            "--batch", "2", "--eval-every", "5", "--val-batch", "4", "--window", "3", "--threshold", "0.8",
            "--log-every", "1000", "--checkpoint-every", "4"]
OLD_RUN = Path(__file__).parent / "data" / "train_state_v1"     # the first trainer's run of TINY_RUN, at step 7


def run_cli(out, *extra):
    assert train.main([*TINY_RUN, "--out", str(out), *extra]) == 0
    return load_file(str(out / state.STATE_FILE))


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_resume_continues_identically(tmp_path):
    first = run_cli(tmp_path / "a", "--steps", "12")
    second = run_cli(tmp_path / "b", "--steps", "12")
    assert same_tensors(first, second)                       # weights, optimizer moments, RNG state
    other_seed = run_cli(tmp_path / "s", "--steps", "12", "--seed", "1")
    assert not torch.equal(first["model/output.weight"], other_seed["model/output.weight"])

    run_cli(tmp_path / "c", "--steps", "7")                   # interrupted at 7 (between checkpoints) ...
    resumed = run_cli(tmp_path / "c", "--steps", "12", "--resume")   # ... and resumed to 12
    assert same_tensors(first, resumed)
    saved = json.loads((tmp_path / "c" / state.STATE_JSON).read_text())
    straight = json.loads((tmp_path / "a" / state.STATE_JSON).read_text())
    assert saved["step"] == 12 and saved["curriculum"] == straight["curriculum"]
    # validations on schedule are the same; each session's end adds one more (step 7 here, and 12)
    assert [v for v in saved["validations"] if v["scheduled"]] == [v for v in straight["validations"] if v["scheduled"]]
    assert [v["step"] for v in saved["validations"] if not v["scheduled"]] == [7, 12]
    # the shipped checkpoint (best validation) is loadable and says where it came from
    model = samviz.pretrained.load(tmp_path / "c")
    assert model.meta["task"] == "copy" and model.meta["steps"] in {v["step"] for v in saved["validations"]}
    assert "--steps" in model.meta["command"] and model.meta["training_steps"] == 12


def test_a_run_of_the_first_trainer_resumes_identically(tmp_path):
    """Format 1 (run settings named model/slots/controller) resumes to the same tensors as a straight run.

    The stored run was written on another machine. Where this CPU's float kernels round differently (its own
    7 updates differ from the stored ones in the last bit: 1.5e-7 on an AMD EPYC), the straight run and the
    resumed one can only agree to that rounding; anything the resume got wrong (optimizer moments, learning
    rate, curriculum, data stream) would differ by orders of magnitude more.
    """
    straight = run_cli(tmp_path / "straight", "--steps", "12")
    same_machine = same_tensors(run_cli(tmp_path / "seven", "--steps", "7"),
                                load_file(str(OLD_RUN / state.STATE_FILE)))
    old = tmp_path / "old"
    shutil.copytree(OLD_RUN, old)
    assert json.loads((OLD_RUN / "meta.json").read_text())["training"]["slots"] == 8      # the old names
    resumed = run_cli(old, "--steps", "12", "--resume")
    if same_machine:
        assert same_tensors(straight, resumed)
    else:
        assert straight.keys() == resumed.keys()
        for name, tensor in straight.items():
            if tensor.dtype.is_floating_point:
                assert torch.allclose(tensor, resumed[name], rtol=0, atol=1e-5), name
            else:
                assert torch.equal(tensor, resumed[name]), name       # the data stream and the step counters
    assert json.loads((old / state.STATE_JSON).read_text())["format"] == state.STATE_FORMAT


def test_existing_run_needs_resume_and_time_limit_stops_cleanly(tmp_path, capsys):
    out = tmp_path / "run"
    run_cli(out, "--steps", "3")
    assert train.main([*TINY_RUN, "--out", str(out), "--steps", "6"]) == 2       # refuses to overwrite
    assert "--resume" in capsys.readouterr().err
    run_cli(out, "--steps", "1000", "--resume", "--time-limit", "0")             # stops at once, checkpoints
    saved = json.loads((out / state.STATE_JSON).read_text())
    assert saved["step"] == 3 and saved["finished"] != "target"


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
    optimizer = make_optimizer(name, model.parameters(), 1e-3)
    model(torch.rand(3, 2, 9)).sum().backward()
    optimizer.step()
    tensors, info = optimizer_to_tensors(optimizer)
    other = make_optimizer(name, model.parameters(), 1e-3)
    optimizer_from_tensors(other, tensors, json.loads(json.dumps(info)))
    again, again_info = optimizer_to_tensors(other)
    assert same_tensors(tensors, again) and again_info == json.loads(json.dumps(info))


def test_defaults_cover_the_grid():
    for model in samviz.MODELS:
        for task in samviz.tasks.NAMES:
            config = TrainConfig.for_run(model, task).validate()
            assert config.threads == 1 and config.index == "exact" and config.optimizer == "adam"
            assert config.start_level <= samviz.tasks.get(task).max_level
            assert 0 < config.target == TARGETS[task] * STOP_FRACTION < TARGETS[task]
            config.model_config(samviz.tasks.get(task)).validate()


def test_defaults_are_written_once_and_layered():
    """Dataclass defaults (copy's), then the task's, then the model's, then the caller's."""
    assert TrainConfig.for_run("sam", "copy").defining() == {
        "kind": "sam", "task": "copy", "memory_slots": 128, "word_size": 20, "heads": 2, "k": 4,
        "controller_size": 100, "index": "exact", "link_k": 8, "initial_rows": "zero", "write_combination": "mean",
        "key_strength": "one_plus_softplus", "access_threshold": 0.005, "accesses": "reads_and_writes",
        "interface_clip": 20.0, "batch": 16, "lr": 1e-3,
        "optimizer": "adam", "clip": 10.0, "seed": 0, "start_level": 20, "threshold": 0.02, "window": 100,
        "eval_every": 250, "val_batch": 64, "target": 0.05, "select": "worst_level"}
    recall = TrainConfig.for_run("dam", "associative_recall")
    assert (recall.word_size, recall.lr, recall.start_level, recall.threshold) == (24, 3e-3, 2, 0.03)
    assert TrainConfig.for_run("sdnc", "priority_sort").heads == 4
    assert TrainConfig.for_run("sdnc", "priority_sort").steps == 100_000
    assert TrainConfig.for_run("ntm", "copy").heads == 1                   # ("ntm", "*")
    assert TrainConfig.for_run("ntm", "priority_sort").heads == 2          # ("ntm", "priority_sort") wins
    assert TrainConfig.for_run("dnc", "copy").memory_slots == 64
    assert TrainConfig.for_run("dnc", "copy", memory_slots=32, lr=None).memory_slots == 32   # None: the default
    assert TrainConfig.for_run("dnc", "copy", lr=None).lr == 1e-3
    assert TrainConfig.for_run("ntm", "copy", target=1.5).target == 1.5


def test_flags_map_onto_fields_and_old_names_still_work(tmp_path):
    """--slots/--controller (the first trainer's flags) and --memory-slots/--controller-size set the same field."""
    parser = train.build_parser()
    old = parser.parse_args(["--model", "sam", "--task", "copy", "--slots", "16", "--controller", "12"])
    new = parser.parse_args(["--model", "sam", "--task", "copy", "--memory-slots", "16", "--controller-size", "12"])
    assert (old.memory_slots, old.controller_size, old.kind) == (new.memory_slots, new.controller_size, new.kind) \
        == (16, 12, "sam")


@pytest.mark.parametrize("name", samviz.pretrained.available())
def test_shipped_training_sections_load_and_reproduce_their_command(name):
    """Each shipped meta.json's "training" section (the first trainer's names) is a valid TrainConfig that
    builds the shipped model's config and writes the very command recorded beside it."""
    meta = samviz.pretrained.read_meta(name)
    config = TrainConfig.from_dict({"kind": meta["config"]["kind"], "task": meta["task"], **meta["training"]})
    config.validate()
    shipped = config_from_meta(meta, Path(name), {}).to_dict()    # as samviz.pretrained.load reads it
    assert config.model_config(samviz.tasks.get(meta["task"])).to_dict() == shipped
    out = shlex.split(meta["command"])[-1]
    # settings added after these models shipped, at the value they were trained with, are spelled out now
    # (a model trained since records them itself: sam-associative_recall's --initial-rows zero)
    added_since = [("--initial-rows", "jittered"), ("--select", "mean"), ("--write-combination", "mean"),
                   ("--key-strength", "one_plus_softplus"), ("--access-threshold", "0.005"),
                   ("--accesses", "reads_and_writes"), ("--interface-clip", "20.0")]
    command = shlex.split(config.reproduce_command(meta["steps"], out))
    for flag, value in added_since:
        if flag in command and flag not in shlex.split(meta["command"]):
            at = command.index(flag)
            assert command[at + 1] == value
            del command[at:at + 2]
    assert shlex.join(command) == meta["command"]


def test_the_checkpoint_is_chosen_by_the_worst_level_unless_the_run_says_mean():
    """Hand-made validations: A is better on the mean (0.10) but fails one level (0.90); B is worse on the mean
    (0.30) but within 0.4 everywhere. The default picks B and stops on it; select="mean" (the rule before the
    setting, which old runs keep) picks A."""
    a = {"step": 1, "bit_errors": 0.10, "worst_level_bit_errors": 0.90, "loss": 0.0, "level": 20}
    b = {"step": 2, "bit_errors": 0.30, "worst_level_bit_errors": 0.40, "loss": 0.0, "level": 20}
    small = dict(memory_slots=8, word_size=4, controller_size=8, batch=2, target=0.5)
    worst = Trainer(TrainConfig.for_run("ntm", "copy", **small).validate(), out=None, progress=Progress(io.StringIO()))
    mean = Trainer(TrainConfig.for_run("ntm", "copy", select="mean", **small).validate(), out=None,
                   progress=Progress(io.StringIO()))
    assert min([a, b], key=worst.selected) is b and min([a, b], key=mean.selected) is a
    assert not worst.target_met(a) and worst.target_met(b)          # copy starts at its max level: at_max
    assert mean.target_met(a) and mean.target_met(b)
    assert TrainConfig.from_dict({"kind": "ntm", "task": "copy"}).select == "mean"      # a run saved before


def test_copy_loss_decreases_over_200_updates():
    task = samviz.tasks.get("copy")
    config = TrainConfig.for_run("ntm", "copy", memory_slots=12, word_size=8, controller_size=32, batch=8,
                                 start_level=2, eval_every=10_000, lr=3e-3, steps=200, log_every=10_000,
                                 checkpoint_every=10_000).validate()
    trainer = Trainer(config, out=None, progress=Progress(io.StringIO()))
    trainer.curriculum.min_level = trainer.curriculum.level = trainer.curriculum.max_level = max(2, task.min_level)
    losses = [trainer.update() for _ in range(200)]
    start, end = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert end < 0.75 * start, f"copy loss did not fall enough: {start:.3f} → {end:.3f}"


def test_nothing_but_the_training_cli_imports_the_trainer():
    """evaluate, pretrained and the app's modules load without samviz.train or samviz.training."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    probe = ("import sys, samviz.evaluate, samviz.pretrained, samviz.checkpoint, samviz.curriculum; "
             "print(sorted(m for m in sys.modules if m == 'samviz.train' or m.startswith('samviz.training')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=root)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    importers = [str(path.relative_to(root)) for path in (root / "samviz").rglob("*.py")
                 if path.name != "train.py" and "training" not in path.parts
                 and any(f"{word} samviz.train" in line or f"{word} .train" in line
                         for line in path.read_text(encoding="utf-8").splitlines()
                         for word in ("import", "from"))]
    assert importers == []


# ---------------------------------------------------------------------- the learning study's options (issue 27)
MARKED = ["--mark-every", "5", "--mark-episodes", "8"]


def read_marks(out):
    from samviz.training.trainer import MARKS_FILE
    return [json.loads(line) for line in (out / MARKS_FILE).read_text().splitlines()]


def test_marks_are_scored_on_schedule_and_change_nothing_else(tmp_path):
    """A run with marks trains exactly as one without (same weights, optimizer moments and RNG states): the
    marks drive nothing. Marks fall at 0 and every 5 updates, plus where a run ended off the schedule; an
    interrupted and resumed run records the same scheduled marks as a straight one."""
    plain = run_cli(tmp_path / "plain", "--steps", "12")
    marked = run_cli(tmp_path / "marked", "--steps", "12", *MARKED)
    assert same_tensors(plain, marked)
    straight = read_marks(tmp_path / "marked")
    assert [(m["step"], m["scheduled"]) for m in straight] == [(0, True), (5, True), (10, True), (12, False)]
    # copy's 20 levels, the 8 episodes asked for rounded up to one per level; the mean is the levels' mean
    assert all(m["episodes"] == 20 and len(m["per_level"]) == 20 for m in straight)
    assert straight[1]["bit_errors"] == pytest.approx(sum(straight[1]["per_level"].values()) / 20)
    run_cli(tmp_path / "resumed", "--steps", "7", *MARKED)
    run_cli(tmp_path / "resumed", "--steps", "12", "--resume")
    resumed = read_marks(tmp_path / "resumed")
    def scheduled(marks):        # the training time differs between sessions; everything else must not
        return [{k: v for k, v in m.items() if k != "wall_time_s"} for m in marks if m["scheduled"]]
    assert scheduled(resumed) == scheduled(straight)
    assert [m["step"] for m in resumed] == [0, 5, 7, 10, 12]     # 7: where the first session ended
    saved = json.loads((tmp_path / "marked" / state.STATE_JSON).read_text())
    assert saved["config"]["mark_every"] == 5 and "--mark-every 5" in json.loads(
        (tmp_path / "marked" / "meta.json").read_text())["command"]


def test_a_resumed_run_drops_marks_past_its_saved_state(tmp_path):
    """Marks written after the last state save (a crash between saves) are dropped on resume and scored again."""
    out = tmp_path / "run"
    run_cli(out, "--steps", "10", *MARKED)                     # marks 0, 5, 10; the state is at 10
    from samviz.training.trainer import MARKS_FILE
    with open(out / MARKS_FILE, "a") as handle:                # as if update 15 had been marked before a crash
        handle.write(json.dumps({"step": 15, "bit_errors": 1.0, "scheduled": True}) + "\n")
    run_cli(out, "--steps", "15", "--resume")
    marks = read_marks(out)
    assert [m["step"] for m in marks] == [0, 5, 10, 15] and marks[-1]["bit_errors"] != 1.0


def test_the_mark_set_is_fixed_and_not_the_validation_set():
    """The same episodes for every model and seed (a function of the task alone), one batch per level, and
    other episodes than the selection set's."""
    from samviz.training.trainer import mark_set, validation_set
    sort, recall = samviz.tasks.get("priority_sort"), samviz.tasks.get("associative_recall")
    first, again = mark_set(recall, 640), mark_set(recall, 640)
    assert [e.level for e in first] == [2, 3, 4, 5, 6] and all(e.inputs.shape[1] == 128 for e in first)
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(first, again, strict=True))
    selection = validation_set(recall, 640)
    assert not any(torch.equal(a.inputs, b.inputs) for a, b in zip(first, selection, strict=True))
    assert [(e.level, e.inputs.shape[1]) for e in mark_set(sort, 640)] == [(20, 640)]


def test_scoring_in_chunks_is_scoring_at_once():
    from samviz.training.trainer import score, score_in_chunks
    model = samviz.build_model("ntm", seed=0, memory_slots=8, word_size=4, controller_size=8)
    episode = samviz.tasks.get("copy").sample(10, level=3, generator=torch.Generator().manual_seed(1))
    whole = score(model, episode)
    assert score_in_chunks(model, episode, chunk=3) == pytest.approx(whole, rel=1e-6)


def test_min_level_trains_priority_sort_at_n_20_only():
    config = TrainConfig.for_run("sam", "priority_sort", min_level=20, memory_slots=8, word_size=4,
                                 controller_size=8, batch=2).validate()
    trainer = Trainer(config, out=None, progress=Progress(io.StringIO()))
    generator = torch.Generator().manual_seed(0)
    assert {trainer.curriculum.sample_level(generator) for _ in range(50)} == {20}
    assert config.defining()["min_level"] == 20 and "--min-level 20" in config.reproduce_command(1, "x")
    assert "min_level" not in TrainConfig.for_run("sam", "priority_sort").defining()     # off: as before
    default = Trainer(TrainConfig.for_run("sam", "priority_sort", memory_slots=8, word_size=4, controller_size=8,
                                          batch=2).validate(), out=None, progress=Progress(io.StringIO()))
    assert len({default.curriculum.sample_level(generator) for _ in range(200)}) > 10     # n ~ U{2..20}


@pytest.mark.parametrize("given, field", [
    (dict(min_level=21), "min_level"), (dict(min_level=1), "min_level"),
    (dict(min_level=20, start_level=10), "start_level"), (dict(mark_every=0), "mark_every"),
    (dict(mark_episodes=640), "mark_episodes"), (dict(mark_every=5, mark_episodes=70_000), "mark_episodes")])
def test_the_study_options_are_bounded(given, field):
    with pytest.raises(samviz.training.config.InvalidSetting) as refused:
        TrainConfig.for_run("ntm", "priority_sort", **given).validate()
    assert refused.value.field == field
