"""The contract between the controller (samviz/model.py) and a memory core.

A core turns the controller's interface vector into reads, and keeps its own state.
Every core follows the same per-step order: write first, then read, so the read at step t
sees what step t wrote and the output y_t = Linear([h_t ; r_t]) can use it.
"""
from typing import Any, NamedTuple

import torch
from torch import nn


class StepResult(NamedTuple):
    reads: torch.Tensor          # [B, heads * word_size] — fed to the output layer now and the controller next step
    state: Any                   # the core's next state (a NamedTuple of tensors, plus buffers for sparse cores)
    record: dict | None          # what happened, for batch element 0, when asked (see samviz/trace.py)


class MemoryCore(nn.Module):
    """Base class. Subclasses set `interface_size` and implement `initial_state` and `step`.

    Attributes: slots N, word_size W, heads R (read heads), interface_size (controller outputs per step).
    `sparse` tells the trace and the app whether weights are naturally stored as (ids, values).
    """

    kind = "base"
    sparse = False

    def __init__(self, slots: int, word_size: int, heads: int):
        super().__init__()
        if slots < 2 or word_size < 1 or heads < 1:
            raise ValueError(f"need slots ≥ 2, word_size ≥ 1, heads ≥ 1 (got {slots}, {word_size}, {heads})")
        self.slots, self.word_size, self.heads = slots, word_size, heads
        self.interface_size = 0

    @property
    def read_size(self) -> int:
        return self.heads * self.word_size

    def initial_state(self, batch_size: int):
        raise NotImplementedError

    def step(self, interface: torch.Tensor, state, record: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.kind}: {self.slots} slots × {self.word_size}, {self.heads} read heads"


def sparse_record(ids: torch.Tensor, values: torch.Tensor) -> dict:
    """A weighting of batch element 0 as {"ids": [...], "values": [...]} (ids [n], values [n])."""
    return {"ids": ids.detach().reshape(-1).tolist(), "values": values.detach().reshape(-1).tolist()}


def dense_record(weights: torch.Tensor, keep: int | None = None) -> dict:
    """A dense weighting [N] as a sparse record: all slots, or only the `keep` largest (for big memories)."""
    weights = weights.detach()
    if keep is not None and keep < weights.numel():
        values, ids = torch.topk(weights, keep)
        return sparse_record(ids, values)
    return sparse_record(torch.arange(weights.numel()), weights)
