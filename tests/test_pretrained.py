"""Checkpoint format: round trip, every way a checkpoint can be broken, and the shipped models' metrics."""
import json
from pathlib import Path
import re

import pytest
from safetensors.torch import load_file, save_file
import torch

import samviz
import samviz.pretrained as pretrained  # (not `from samviz import pretrained`: see samviz.__getattr__)
from samviz.pretrained import CheckpointError, load, save_checkpoint

TINY = dict(memory_slots=8, word_size=4, heads=1, controller_size=8)
SHIPPED_SEED = 4321          # fresh episodes: not a training (0..), validation (999) or evaluation (1234) seed
SHIPPED_EPISODES = 64
SHIPPED_BATCHES = 8
TARGETS = {"copy": 0.1, "associative_recall": 0.5, "priority_sort": 8.0}   # bit errors per sequence


def tiny_model(seed=0, **overrides):
    return samviz.build_model("ntm", seed=seed, **{**TINY, **overrides})


@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model()
    path = save_checkpoint(model, tmp_path / "ckpt",
                           {"task": "copy", "level": 4, "metrics": {"bit_errors_per_sequence": 1.5}})
    return model, path


def test_round_trip_gives_identical_outputs(checkpoint):
    model, path = checkpoint
    loaded = load(path)
    x = torch.rand(7, 3, 9, generator=torch.Generator().manual_seed(1))
    model.eval()
    assert torch.equal(model(x), loaded(x))
    assert loaded.config == model.config
    assert not loaded.training
    assert loaded.meta["task"] == "copy" and loaded.meta["level"] == 4
    assert loaded.meta["metrics"]["bit_errors_per_sequence"] == 1.5
    assert loaded.meta["samviz_version"] == samviz.__version__ and loaded.meta["torch_version"] == torch.__version__
    # the weights file describes itself too, and stays small
    from safetensors import safe_open
    with safe_open(str(path / "model.safetensors"), "pt") as handle:
        assert json.loads(handle.metadata()["samviz"])["config"] == model.config.to_dict()
    assert (path / "model.safetensors").stat().st_size < 1 << 20
    # loading accepts the weights file's path as well as the directory
    assert torch.equal(load(path / "model.safetensors")(x), loaded(x))


def test_load_never_unpickles(checkpoint, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load must never be used on checkpoints")
    monkeypatch.setattr(torch, "load", forbidden)
    load(checkpoint[1])


def test_corrupt_file_is_refused(checkpoint):
    _, path = checkpoint
    (path / "model.safetensors").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8,
                                                           generator=torch.Generator().manual_seed(0)).numpy().tobytes())
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated"):
        load(path)


def test_truncated_file_is_refused(checkpoint):
    _, path = checkpoint
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load(path)


def test_invalid_meta_json_is_refused(checkpoint):
    _, path = checkpoint
    (path / "meta.json").write_text('{"config": {"kind": "ntm",')
    with pytest.raises(CheckpointError, match=r"meta\.json: invalid JSON"):
        load(path)
    (path / "meta.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="expected a JSON object"):
        load(path)


def test_unknown_model_kind_is_refused(checkpoint):
    _, path = checkpoint
    meta = json.loads((path / "meta.json").read_text())
    meta["config"]["kind"] = "lstm9000"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unknown model kind 'lstm9000'"):
        load(path)


def test_unknown_config_field_is_refused(checkpoint):
    _, path = checkpoint
    meta = json.loads((path / "meta.json").read_text())
    meta["config"]["wings"] = 2
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="invalid model config.*wings"):
        load(path)


def test_wrong_shape_is_refused(checkpoint):
    _, path = checkpoint      # trained with heads=1; the meta now claims heads=2
    meta = json.loads((path / "meta.json").read_text())
    meta["config"]["heads"] = 2
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"wrong shape for tensor [\w.]+: \[.*\] in the file.*heads=2.*needs"):
        load(path)


def test_missing_and_unexpected_tensors_are_refused(checkpoint):
    _, path = checkpoint
    tensors = load_file(str(path / "model.safetensors"))
    removed = tensors.pop("output.bias")
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing tensor\(s\) output\.bias"):
        load(path)
    tensors["output.bias"] = removed
    tensors["stowaway"] = torch.zeros(3)
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"unexpected tensor\(s\) stowaway"):
        load(path)


def test_missing_files_are_refused(checkpoint, tmp_path):
    _, path = checkpoint
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing file"):
        load(path)
    (path / "meta.json").unlink()
    with pytest.raises(CheckpointError, match=r"meta\.json: missing file"):
        load(path)
    with pytest.raises(CheckpointError, match="no checkpoint 'no-such-model'"):
        load("no-such-model")
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(checkpoint, bad):
    """A checkpoint holding NaN (a diverged run) or inf loads as an error naming the file and the tensor."""
    _, path = checkpoint
    tensors = load_file(str(path / "model.safetensors"))
    tensors["output.bias"][1] = bad
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor\(s\) output\.bias hold NaN or infinite"):
        load(path)
    every = {name: torch.full_like(t, float("nan")) for name, t in tensors.items()}   # the all-NaN checkpoint
    save_file(every, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor\(s\) .*hold NaN or infinite"):
        load(path)


def test_non_finite_weights_are_never_saved(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.output.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match=r"not saved: tensor\(s\) output\.weight hold NaN"):
        save_checkpoint(model, tmp_path / "ckpt", {"task": "copy"})
    assert not (tmp_path / "ckpt").exists()


def test_import_leaves_the_umask_alone_and_files_follow_it(tmp_path):
    """Importing samviz.pretrained changes nothing in the process; a saved file gets 0o666 minus the umask."""
    import subprocess
    import sys
    probe = ("import os, sys; calls = []; os.umask = lambda *a: calls.append(a) or 0o022; "
             "import samviz.pretrained as p; from samviz.model import MemoryModel, ModelConfig; "
             "p.save_checkpoint(MemoryModel(ModelConfig(memory_slots=8, word_size=4, controller_size=8)), "
             "sys.argv[1]); print(calls)")
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "probe")], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr     # os.umask never called
    import os
    old = os.umask(0o027)
    try:
        save_checkpoint(tiny_model(), tmp_path / "ckpt", {"task": "copy"})
    finally:
        os.umask(old)
    for name in ("model.safetensors", "meta.json"):
        assert (tmp_path / "ckpt" / name).stat().st_mode & 0o777 == 0o640
    assert not [p.name for p in (tmp_path / "ckpt").iterdir() if p.name.endswith(".tmp")]


def test_shipped_models_are_found_through_samviz_paths():
    from samviz.paths import PRETRAINED_DIR
    assert pretrained.PRETRAINED_DIR == PRETRAINED_DIR


def test_available_lists_complete_checkpoint_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    save_checkpoint(tiny_model(), tmp_path / "ntm-copy", {"task": "copy"})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "meta.json").write_text("{}")
    (tmp_path / "README.md").write_text("hello")
    assert pretrained.available() == ["ntm-copy"]
    assert load("ntm-copy").meta["name"] == "ntm-copy"


def test_index_override_for_sparse_models(tmp_path):
    try:
        model = samviz.build_model("sam", seed=0, memory_slots=16, word_size=4, heads=1, k=2, controller_size=8)
        import faiss  # noqa: F401
    except ModuleNotFoundError as missing:
        pytest.fail(f"needs sam and faiss, which requirements.txt installs ({missing})")
    save_checkpoint(model, tmp_path / "sam", {"task": "copy"})
    loaded = load(tmp_path / "sam", index="faiss")
    assert loaded.config.index == "faiss"
    pairs = zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_readme_table_is_rewritten_between_markers(tmp_path):
    from samviz import evaluate
    readme = tmp_path / "README.md"
    readme.write_text(f"# Intro\n\n{evaluate.README_BEGIN}\nold table\n{evaluate.README_END}\n\nOutro\n")
    row = {"name": "ntm-copy", "path": "x", "model": "ntm", "task": "copy", "level": 20, "max_level": 20,
           "bit_errors": 0.05, "generalisation": 3.0, "generalisation_level": 40, "target": 0.1,
           "meets_target": True, "wall_time_s": 1800, "steps": 9000, "training_steps": 9000,
           "command": "python -m samviz.train --model ntm --task copy", "episodes": 640, "seed": 1234}
    evaluate.write_readme(evaluate.markdown_table([row]), readme)
    text = readme.read_text()
    assert text.startswith("# Intro") and text.rstrip().endswith("Outro") and "old table" not in text
    assert "| ntm | copy | 20/20 | 0.050 | 3.000 | ≤ 0.1 | yes | 30 min | 9000 |" in text


# ------------------------------------------------------------------------------ the shipped checkpoints

def _readme_says_misses_target(name: str) -> bool:
    """True when pretrained/README.md's table row for this checkpoint says "no" under "meets target"."""
    from samviz import evaluate
    readme = pretrained.PRETRAINED_DIR / "README.md"
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8")
    model, _, task = name.partition("-")
    row = re.search(rf"^\| {re.escape(model)} \| {re.escape(task)} \|.*$", text, re.MULTILINE)
    return bool(row) and evaluate.README_BEGIN in text and "| no |" in row.group(0)


@pytest.mark.parametrize("name", pretrained.available())
def test_shipped_checkpoint_meets_its_target(name):
    model = load(name)
    meta = model.meta
    task = samviz.tasks.get(meta["task"])
    generator = torch.Generator().manual_seed(SHIPPED_SEED)
    errors = 0.0
    with torch.no_grad():      # level=None draws one level per batch: several small batches cover the range
        for _ in range(SHIPPED_BATCHES):
            episode = task.sample(batch_size=SHIPPED_EPISODES // SHIPPED_BATCHES, level=None, generator=generator)
            errors += samviz.tasks.bit_errors_per_sequence(model(episode.inputs), episode) / SHIPPED_BATCHES
    target = TARGETS[meta["task"]]
    if errors > target and meta.get("meets_target") is False and _readme_says_misses_target(name):
        pytest.xfail(f"{name} is documented as missing its target in pretrained/README.md "
                     f"(meta.json meets_target=false; {errors:.3f} > {target} bit errors/seq)")
    assert errors <= target, f"{name}: {errors:.3f} bit errors per sequence on fresh episodes > target {target}"
