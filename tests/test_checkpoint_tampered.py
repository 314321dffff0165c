"""Tampered and torn checkpoints (issue 29, items 2-4): every malformed meta.json is a CheckpointError naming the
file, refused before the model is built (RSS growth under 100 MB), and a reader racing a writer never pairs one
save's weights with another save's metadata."""
import json
import os
from pathlib import Path
import struct
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file, save_file
import torch

import samviz
from samviz import checkpoint
from samviz.pretrained import CheckpointError, load, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
TINY = dict(memory_slots=8, word_size=4, heads=1, controller_size=8)
MIB = 1 << 20


@pytest.fixture
def saved(tmp_path):
    model = samviz.build_model("ntm", seed=0, **TINY)
    return save_checkpoint(model, tmp_path / "ckpt", {"task": "copy", "level": 4, "metrics": {"id": 0}})


def edit_meta(path: Path, **config) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta["config"].update(config)
    (path / "meta.json").write_text(json.dumps(meta))


# ------------------------------------------------------------------------------------- sizes (item 2)

@pytest.mark.parametrize("field, value, says", [
    ("controller_size", 11_000, "controller_size must be an integer in [1, 4096]"),       # reached 2.13 GB RSS
    ("controller_size", 200_000, "controller_size must be an integer in [1, 4096]"),      # a RuntimeError before
    ("heads", 1_000_000, "heads must be an integer in [1, 64]"),
    ("word_size", 10_000_000, "word_size must be an integer in [1, 4096]"),
    ("input_size", 100_000_000, "input_size must be an integer in [1, 4096]"),
    ("memory_slots", 1 << 40, "memory_slots must be an integer in [2, 16777216]"),
    # within the bounds, but not the weights' shapes: refused from the header, before anything is built
    ("controller_size", 4096, "wrong shape for tensor controller."),
    ("heads", 64, "wrong shape for tensor"),
    ("output_size", 4096, "wrong shape for tensor"),
])
def test_a_tampered_size_is_refused_naming_the_file(saved, field, value, says):
    edit_meta(saved, **{field: value})
    with pytest.raises(CheckpointError) as refused:
        load(saved)
    assert says in str(refused.value) and str(saved) in str(refused.value)


@pytest.mark.parametrize("config, says", [
    ({"controller_size": "100"}, "controller_size must be an integer"),
    ({"controller_size": True}, "controller_size must be an integer"),
    ({"controller_size": 8.0}, "controller_size must be an integer"),
    ({"controller_size": None}, "controller_size must be an integer"),
    ({"heads": [1]}, "heads must be an integer"),
    ({"kind": ["ntm"]}, "unknown model kind"),
    ({"kind": {"a": 1}}, "unknown model kind"),
    ({"interface_clip": "big"}, "invalid model config"),
    ({"index": 3}, "invalid model config"),
])
def test_a_config_field_of_the_wrong_type_is_refused(saved, config, says):
    edit_meta(saved, **config)
    with pytest.raises(CheckpointError, match=r"meta\.json: ") as refused:
        load(saved)
    assert says in str(refused.value)


@pytest.mark.parametrize("field, value", [("task", 5), ("metrics", [1]), ("level", "4"), ("steps", True),
                                          ("wall_time_s", "1 h"), ("format_version", "1"), ("config", [1]),
                                          ("weights_sha256", 12), ("weights_sha256", "abc")])
def test_a_meta_field_of_the_wrong_type_is_refused(saved, field, value):
    meta = json.loads((saved / "meta.json").read_text())
    meta[field] = value
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"meta\.json: (invalid meta|unsupported format_version)"):
        samviz.pretrained.read_meta(saved)


def test_tampered_sizes_allocate_under_100_mb_before_they_are_refused(saved, tmp_path):
    """In a fresh process: load the intact checkpoint once (imports, the first model), then each tampered copy;
    ru_maxrss may grow by less than 100 MB over all of them."""
    cases = [{"controller_size": 11_000}, {"controller_size": 200_000}, {"heads": 1_000_000},
             {"word_size": 10_000_000}, {"input_size": 100_000_000}, {"controller_size": 4096},
             {"heads": 64, "word_size": 4096}, {"controller_size": 4096, "input_size": 4096, "output_size": 4096}]
    folders = []
    for i, config in enumerate(cases):
        folder = tmp_path / f"tampered{i}"
        folder.mkdir()
        for name in ("model.safetensors", "meta.json"):
            (folder / name).write_bytes((saved / name).read_bytes())
        edit_meta(folder, **config)
        folders.append(str(folder))
    script = ("import json, resource, sys\nimport samviz.pretrained as p\np.load(sys.argv[1])\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nrefused = 0\n"
              "for folder in sys.argv[2:]:\n"
              "    try:\n        p.load(folder)\n    except p.CheckpointError:\n        refused += 1\n"
              "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "print(json.dumps({'refused': refused, 'growth_kib': after - before}))\n")
    done = subprocess.run([sys.executable, "-c", script, str(saved), *folders], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{result['refused']} tampered checkpoints refused; ru_maxrss grew {result['growth_kib'] / 1024:.1f} MiB")
    assert result["refused"] == len(cases)
    assert result["growth_kib"] * 1024 < 100 * MIB, result


def test_evaluate_says_one_line_for_a_tampered_checkpoint(saved):
    edit_meta(saved, controller_size=200_000)
    done = subprocess.run([sys.executable, "-m", "samviz.evaluate", str(saved), "--batches", "1"],
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(saved / "meta.json") in lines[0] and "controller_size" in lines[0], lines


# ------------------------------------------------------------------------------------- nesting (item 3)

@pytest.mark.parametrize("text", ["[" * 100_000, '{"config": ' + "[" * 100_000, '{"a": ' * 100_000])
def test_deeply_nested_meta_is_a_checkpoint_error(saved, text):
    (saved / "meta.json").write_text(text)
    with pytest.raises(CheckpointError, match=r"meta\.json: invalid JSON"):
        load(saved)


def test_deeply_nested_meta_gives_no_traceback_on_the_command_line(saved):
    (saved / "meta.json").write_text("[" * 100_000)
    done = subprocess.run([sys.executable, "-m", "samviz.evaluate", str(saved)], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    assert "meta.json: invalid JSON (nested too deeply)" in done.stderr


def test_a_deeply_nested_or_oversized_weights_header_is_refused(saved):
    weights = saved / "model.safetensors"
    header = b"[" * 100_000
    weights.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated"):
        load(saved)
    weights.write_bytes(struct.pack("<Q", 1 << 60) + b"{}")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated"):
        load(saved)
    (saved / "meta.json").write_bytes(b" " * (checkpoint.MAX_META_BYTES + 1))
    with pytest.raises(CheckpointError, match=r"meta\.json: file too large"):
        load(saved)


# ------------------------------------------------------------------------------------- torn reads (item 4)

WRITER = """
import sys, torch, samviz
from samviz.checkpoint import save_checkpoint
folder, stop = sys.argv[1], sys.argv[2]
import os
i = 0
model = samviz.build_model("ntm", seed=0, memory_slots=8, word_size=4, heads=1, controller_size=8)
while not os.path.exists(stop):
    i += 1
    with torch.no_grad():
        model.output.bias.fill_(float(i))          # the weights say which save they are
    save_checkpoint(model, folder, {"task": "copy", "metrics": {"id": i}})
print(i)
"""


def test_a_reader_racing_a_writer_never_pairs_two_saves(saved, tmp_path):
    """A writer process saves new weights and metadata into one directory as fast as it can; this process loads
    it 500 times. Every load must pair weights and metadata of one save (0 torn reads). A naive reader (meta.json,
    then the weights file, as load() read them before the digest) is run in the same race to show the race is
    real."""
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(saved), str(stop)], stdout=subprocess.PIPE,
                              text=True, env=ENV, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while json.loads((saved / "meta.json").read_text())["metrics"]["id"] < 5:
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.05)
        loads = torn = naive_loads = naive_torn = 0
        seen = set()
        while loads < 500:
            model = load(saved)
            loads += 1
            seen.add(model.meta["metrics"]["id"])
            torn += float(model.output.bias[0].detach()) != model.meta["metrics"]["id"]
            meta = json.loads((saved / "meta.json").read_text())
            naive_loads += 1
            naive_torn += float(load_file(str(saved / "model.safetensors"))["output.bias"][0]) != meta["metrics"]["id"]
    finally:
        stop.touch()
        saves = int(writer.communicate(timeout=60)[0])
    print(f"{loads} loads during {saves} saves: {torn} torn; naive reader: {naive_torn} torn of {naive_loads}")
    assert torn == 0
    assert len(seen) > 50, "the loads saw the writer's saves go by"
    assert naive_torn > 0, "the race this test runs pairs two saves for a reader without the digest check"


def test_weights_from_another_save_are_refused(saved, tmp_path):
    other = save_checkpoint(samviz.build_model("ntm", seed=1, **TINY), tmp_path / "other", {"task": "copy"})
    (saved / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match=r"model\.safetensors: these weights are not the ones meta\.json "
                                              r"describes .*different saves"):
        load(saved)


def test_checkpoints_from_before_the_digest_still_load(saved):
    """A checkpoint saved before weights_sha256 existed (as every shipped one was: tests/test_pretrained.py loads
    them all) loads; but old metadata beside new weights that carry a digest is a torn pair."""
    tensors = load_file(str(saved / "model.safetensors"))
    meta = json.loads((saved / "meta.json").read_text())
    new_weights = (saved / "model.safetensors").read_bytes()
    del meta["weights_sha256"]
    (saved / "meta.json").write_text(json.dumps(meta))
    embedded = {k: v for k, v in meta.items()}
    save_file(tensors, str(saved / "model.safetensors"), metadata={"samviz": json.dumps(embedded)})
    assert float(load(saved).output.bias[0].detach()) == float(tensors["output.bias"][0])
    (saved / "model.safetensors").write_bytes(new_weights)
    with pytest.raises(CheckpointError, match="different saves"):
        load(saved)


def test_a_shipped_checkpoint_loads_with_the_same_outputs_through_the_header_checks():
    name = samviz.pretrained.available()[0]
    model = load(name)
    meta = samviz.pretrained.read_meta(name)
    assert "weights_sha256" not in meta             # shipped before the digest: backwards compatible
    reference = samviz.MemoryModel(model.config)
    reference.load_state_dict(load_file(str(samviz.pretrained.resolve(name) / "model.safetensors")))
    x = torch.rand(5, 2, model.config.input_size, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(x), reference.eval()(x))
