"""Training on several processes: `torchrun --nproc_per_node=P -m samviz.train …` (PyTorch DDP, gloo on CPU).

Every process draws the same whole batch of `--batch` episodes from the same seeded generator (drawing
episodes is cheap) and trains on its own share of it — episodes [rank·B/P, (rank+1)·B/P) — with its own
memories, sparse or dense. DistributedDataParallel averages the gradients over the processes; each share's
loss is scaled so that the average is exactly the gradient of the whole batch's loss (`share_loss`): P
processes on a batch of B compute what one process computes on B, up to float summation order
(tests/test_distributed.py checks gradients and the weights after a few updates).

Everything that decides what happens next is agreed on: the training loss that moves the curriculum is the
whole batch's (summed over the processes), a stop (Ctrl-C, time limit) is taken when any process asks for
it, at the same update everywhere. Validation runs in every process on the same weights and episodes
(identical results; it keeps the processes in step without a broadcast); only rank 0 writes the checkpoint,
the training state and the log, so `--resume` works as for one process.

When to use it: a batch that one process takes long over — large memories, long episodes, a large --batch —
on a machine with cores to spare. Each process is given --threads threads (default 1). On this project's
2-core machine two processes halve the time per update at best.
"""
from __future__ import annotations

import gc
import os
from typing import NamedTuple

import torch
import torch.distributed as dist

from samviz import tasks as tasks_module


class ProcessGroup(NamedTuple):
    rank: int          # this process, 0 … world_size − 1
    world_size: int    # processes training together

    @property
    def writes(self) -> bool:
        """Rank 0 writes the run's files and prints its progress."""
        return self.rank == 0


def world_size_from_environment() -> int:
    """WORLD_SIZE as torchrun sets it (1 when absent or not a positive whole number)."""
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() and int(value) >= 1 else 1


def join_from_environment() -> ProcessGroup | None:
    """Join the process group torchrun started (gloo backend); None when this is a single process."""
    if world_size_from_environment() <= 1:
        return None
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return ProcessGroup(dist.get_rank(), dist.get_world_size())


def leave(group: ProcessGroup | None, trainer=None) -> None:
    """Close the process group cleanly. `trainer`: its DDP wrapper is dropped first.

    Why the care: a process whose gloo group outlived destroy_process_group (DDP's reducer keeps a reference)
    destroyed it during interpreter shutdown, and its worker threads then aborted the process ("terminate called
    without an active exception", SIGABRT: seen in about 1 of 10 two-process runs on a loaded 2-core machine).
    So: drop DDP and collect it, wait for every process, destroy the group, and collect again while Python is
    still fully alive."""
    if group is not None and dist.is_initialized():
        if trainer is not None:
            trainer.network = trainer.model
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def share(episode: tasks_module.Episode, group: ProcessGroup) -> tasks_module.Episode:
    """This process's share of a whole batch: episodes [rank·B/P, (rank+1)·B/P) along the batch axis (dim 1)."""
    size = episode.inputs.shape[1] // group.world_size
    part = slice(group.rank * size, (group.rank + 1) * size)
    return tasks_module.Episode(episode.inputs[:, part], episode.targets[:, part], episode.mask[:, part],
                                episode.level)


def scored_bits(logits_width: int, episode: tasks_module.Episode) -> float:
    """The bits tasks.loss averages over: masked steps × output bits, over the episode's whole batch."""
    return float(episode.mask.sum()) * logits_width


def share_loss(logits: torch.Tensor, part: tasks_module.Episode, whole: tasks_module.Episode,
               group: ProcessGroup) -> torch.Tensor:
    """This share's part of the whole batch's loss, times P (DDP divides the summed gradients by P).

    tasks.loss(part) is the share's summed BCE / the share's scored bits; rescaled to / the whole batch's
    scored bits, the P shares sum to tasks.loss(whole) exactly, whatever each share's number of scored bits.
    """
    width = logits.shape[-1]
    weight = scored_bits(width, part) / max(scored_bits(width, whole), 1.0)
    return tasks_module.loss(logits, part) * (weight * group.world_size)


def all_sum(values: list[float]) -> list[float]:
    """The element-wise sum of `values` over every process (float64)."""
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def any_process(flag: bool) -> bool:
    """True when `flag` is True in at least one process (every process gets the same answer)."""
    return all_sum([1.0 if flag else 0.0])[0] > 0
