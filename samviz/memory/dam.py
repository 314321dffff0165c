"""DAM — Dense Access Memory: SAM's dense twin and baseline (Rae et al. 2016).

Same controller interface and write rule as SAM (samviz/memory/sam.py), but:
    read    weights = softmax over ALL N slots of β·cos(q, M(i)); r = Σ_i w(i) M(i)
    usage   discounted: U_t = λ·U_{t−1} + w^W_t + Σ_h w^R_{h,t} (λ = USAGE_DISCOUNT = 0.99, not given by the paper);
            the least used slot is argmin U (an O(N) scan: DAM is dense anyway)
    write   w^W_t = α (γ·mean_h w^R_{t−1} + (1 − γ)·one-hot(argmin U_{t−1})); the least used row is
            erased, then every row gets w^W(i)·a added — an O(N·W) out-of-place update, so autograd
            keeps a copy of the memory per step, like the NTM.
The interface layout and the write weighting are SAM's own functions (sam.split_interface, sam.write_weighting).
docs/PAPER_NOTES.md (#dam).
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import addressing, sam
from .core import MemoryCore, StepResult
from .initial import DEFAULT_INITIAL_ROWS, INITIAL_ROWS, initial_memory

USAGE_DISCOUNT = 0.99             # λ: not given by the paper


class DAMState(NamedTuple):
    memory: torch.Tensor          # [B, N, W]
    usage: torch.Tensor           # [B, N] discounted usage
    read_weights: torch.Tensor    # [B, R, N]


class DAMStep(NamedTuple):
    """What one DAM step did, for the whole batch (references to the step's own tensors; nothing is copied)."""
    read_weights: torch.Tensor        # [B, R, N]
    write_weights: torch.Tensor       # [B, N]
    memory_before: torch.Tensor       # [B, N, W] M_{t−1}
    memory: torch.Tensor              # [B, N, W] M_t
    reads: torch.Tensor               # [B, R, W]
    write_gate: torch.Tensor          # [B, 1] α
    interpolation_gate: torch.Tensor  # [B, 1] γ
    read_strength: torch.Tensor       # [B, R] β ≥ 1
    usage: torch.Tensor               # [B, N] U_t, AFTER this step's write and reads (smallest = least used)
    least_used: torch.Tensor          # [B] the slot this step erased and wrote: argmin U_{t−1}


class DAMMemory(MemoryCore):
    kind = "dam"

    def __init__(self, slots: int, word_size: int, heads: int, initial_rows: str = DEFAULT_INITIAL_ROWS):
        super().__init__(slots, word_size, heads)
        if initial_rows not in INITIAL_ROWS:
            raise ValueError(f"unknown initial rows {initial_rows!r}; choose one of {', '.join(INITIAL_ROWS)}")
        self.initial_rows = initial_rows
        self.read_sizes, self.write_sizes = sam.interface_layout(word_size)      # SAM's interface
        self.interface_size = sam.interface_size(heads, self.read_sizes, self.write_sizes)

    def initial_state(self, batch_size: int) -> DAMState:
        memory = initial_memory(self.initial_rows, batch_size, self.slots, self.word_size).clone()
        usage = torch.zeros(batch_size, self.slots)
        read_weights = torch.zeros(batch_size, self.heads, self.slots)
        return DAMState(memory, usage, read_weights)

    def step(self, interface: torch.Tensor, state: DAMState, details: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult(reads [B, R·W], DAMState, DAMStep). Nothing extra for details."""
        batch = interface.shape[0]
        read, write = sam.split_interface(interface, self.heads, self.read_sizes, self.write_sizes)
        write_gate = torch.sigmoid(write["write_gate"])
        interpolation = torch.sigmoid(write["interpolation_gate"])
        least_used = torch.argmin(state.usage, dim=1)
        one_hot = F.one_hot(least_used, self.slots).to(interface.dtype)
        write_weights = sam.write_weighting(state.read_weights.mean(1), one_hot, write_gate, interpolation)
        memory = state.memory * (1 - one_hot).unsqueeze(-1) + write_weights.unsqueeze(-1) * write["word"].unsqueeze(1)

        strength = addressing.strength(read["strength"].squeeze(-1))
        read_weights = addressing.content_weights(read["query"], memory, strength)       # [B, R, N]
        reads = torch.bmm(read_weights, memory)
        usage = USAGE_DISCOUNT * state.usage + (write_weights + read_weights.sum(1)).detach()

        step = DAMStep(read_weights, write_weights, state.memory, memory, reads, write_gate, interpolation,
                       strength, usage, least_used)
        return StepResult(reads.reshape(batch, -1), DAMState(memory, usage, read_weights), step)
