"""The contract between the controller (samviz/model.py) and a memory core.

A core turns the controller's interface vector into reads, and keeps its own state.
Every core follows the same per-step order: write first, then read, so the read at step t
sees what step t wrote and the output y_t = Linear([h_t ; r_t]) can use it.

What a step did is returned as a typed, per-kind NamedTuple of tensors (NTMStep, DAMStep, SAMStep,
DNCStep, SDNCStep; each documented in its core's module): the whole batch, holding references to
tensors the step computed anyway, so returning it costs nothing in training. A few things cost extra
(copies of rows before an in-place write, an O(N) usage vector); a core computes them only when
`step(..., details=True)`, which only the trace recorder (samviz/trace/) asks for, and leaves those
fields None otherwise. Turning a step into what the app shows (lists, UI size limits, what the numbers
mean) is the trace layer's job, never a core's.
"""
from typing import Any, NamedTuple

import torch
from torch import nn


class StepResult(NamedTuple):
    reads: torch.Tensor          # [B, heads * word_size] — fed to the output layer now and the controller next step
    state: Any                   # the core's next state (a NamedTuple of tensors, plus buffers for sparse cores)
    step: Any                    # what the step did: the core's per-kind NamedTuple (whole batch; see its module)


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

    def step(self, interface: torch.Tensor, state, details: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult(reads, next state, per-kind step tensors).

        details: also compute the step's extra tensors for a trace (copies, O(N) vectors); training never does.
        """
        raise NotImplementedError

    def end_episode(self, state) -> None:
        """Called by the model once an episode's forward pass is over (state: the last state). Dense cores keep
        nothing between episodes; sparse cores release what ties their buffers to the autograd graph."""

    def describe(self) -> str:
        return f"{self.kind}: {self.slots} slots × {self.word_size}, {self.heads} read heads"
