"""Training on two processes (torchrun, DDP over gloo) computes what one process computes on the whole batch.

Gradients of one update and the weights after three updates, two processes with two episodes each against one
process with all four; the loss scaling that makes the shares add up; a batch that cannot be shared is refused.
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

from safetensors.torch import load_file
import torch

from samviz import tasks as tasks_module
from samviz.training import distributed

ROOT = Path(__file__).resolve().parent.parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
# Jittered rows, not the default zero rows: from zero rows SAM's writes make exactly parallel rows (one word
# added to several empty slots) whose cosines tie, so their top-K order is decided by rounding, and on some CPUs
# (an AMD EPYC) a controller matmul over 4 episodes rounds differently from one over 2: the gradients then
# differ by 1-5 %, a different but equally valid choice among tied rows, not a DDP error.
TINY = ["--task", "copy", "--slots", "16", "--word-size", "8", "--controller", "16", "--batch", "4",
        "--eval-every", "3", "--val-batch", "4", "--initial-rows", "jittered", "--seed", "5"]


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_two_shares_of_a_batch_add_up_to_its_loss_even_with_unequal_answer_phases():
    generator = torch.Generator().manual_seed(0)
    whole = tasks_module.Episode(torch.rand(5, 4, 3), (torch.rand(5, 4, 2) > 0.5).float(), torch.zeros(5, 4), 1)
    whole.mask[2:, 0] = 1          # episode 0: 3 scored steps, episode 1: 1, episodes 2 and 3: 1 each
    whole.mask[4, 1] = 1
    whole.mask[4, 2:] = 1
    logits = torch.randn(5, 4, 2, generator=generator)
    parts = [distributed.share(whole, distributed.ProcessGroup(rank, 2)) for rank in (0, 1)]
    assert [p.inputs.shape[1] for p in parts] == [2, 2] and torch.equal(parts[1].mask, whole.mask[:, 2:])
    scaled = [distributed.share_loss(logits[:, 2 * r:2 * r + 2], parts[r], whole, distributed.ProcessGroup(r, 2))
              for r in (0, 1)]
    # DDP averages over the 2 processes: (l0 + l1) / 2 must be the whole batch's loss
    assert torch.allclose((scaled[0] + scaled[1]) / 2, tasks_module.loss(logits, whole), atol=1e-7)
    # the plain mean of the shares' own losses would not be: 4 scored steps in the first share, 2 in the second
    plain = (tasks_module.loss(logits[:, :2], parts[0]) + tasks_module.loss(logits[:, 2:], parts[1])) / 2
    assert not torch.allclose(plain, tasks_module.loss(logits, whole), atol=1e-4)


def test_two_processes_compute_the_gradients_of_one_process_on_the_whole_batch(tmp_path):
    script = str(ROOT / "tests" / "ddp_gradients_script.py")
    for kind in ("sam",):          # sparse memories, one per process: the case that matters here
        run([sys.executable, script, kind, str(tmp_path / f"one-{kind}.safetensors")])
        run([*TORCHRUN, script, kind, str(tmp_path / f"two-{kind}.safetensors")])
        one, two = load_file(tmp_path / f"one-{kind}.safetensors"), load_file(tmp_path / f"two-{kind}.safetensors")
        assert one.keys() == two.keys() and len(one) >= 8
        for name in one:
            assert one[name].abs().max() > 0, name                      # every parameter has a gradient
            assert torch.allclose(one[name], two[name], rtol=1e-5, atol=1e-8), (kind, name)


def test_two_processes_train_like_one_on_the_combined_batch(tmp_path):
    """Three Adam updates: the same weights (to float summation order), the same losses in the log, and the
    files written once (by rank 0)."""
    one = run([sys.executable, "-m", "samviz.train", "--model", "sam", *TINY, "--steps", "3",
               "--out", str(tmp_path / "one")])
    two = run([*TORCHRUN, "-m", "samviz.train", "--model", "sam", *TINY, "--steps", "3",
               "--out", str(tmp_path / "two")])
    assert "training on 2 processes, 2 of the 4 episodes of each batch each" in two.stderr
    assert two.stderr.count("stopped (steps) at step 3") == 1 and "stopped (steps) at step 3" in one.stderr
    first = load_file(tmp_path / "one" / "train_state.safetensors")
    second = load_file(tmp_path / "two" / "train_state.safetensors")
    torch.manual_seed(5)
    from samviz.model import MemoryModel
    from samviz.training.config import TrainConfig
    config = TrainConfig.for_run("sam", "copy", memory_slots=16, word_size=8, controller_size=16,
                                 initial_rows="jittered").validate()
    start = MemoryModel(config.model_config(tasks_module.get("copy"))).state_dict()
    weights = [k for k in first if k.startswith("model/")]
    assert weights
    for name in weights:
        assert torch.allclose(first[name], second[name], atol=1e-5), name
    moved = max((first[name] - start[name[len("model/"):]]).abs().max().item() for name in weights)
    assert moved > 1e-3                         # the updates did change the weights (lr 1e-3, three steps)
    logs = [(tmp_path / d / "train_log.jsonl").read_text().splitlines() for d in ("one", "two")]
    assert len(logs[0]) == len(logs[1])


def test_a_batch_the_processes_cannot_share_equally_is_refused_before_anything_starts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "samviz.train", "--model", "sam", *TINY[:-6], "--batch", "3",
                           "--out", str(tmp_path / "x")], cwd=ROOT, env={**ENV, "WORLD_SIZE": "2"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--batch: 3 episodes cannot be shared equally by 2 processes; give a multiple of 2" in done.stderr
    assert not (tmp_path / "x").exists()
