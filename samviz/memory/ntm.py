"""Dense Neural Turing Machine memory (Graves et al. 2014).

R read heads and one write head. Each head addresses by content with a strength, interpolates with
its previous weighting, shifts circularly by −1/0/+1 and sharpens. Cost O(N·W) per step per head,
and autograd keeps a copy of the N×W memory per step: this is the dense baseline.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import addressing
from .core import MemoryCore, StepResult
from .initial import INITIAL_MEMORY_VALUE


class NTMState(NamedTuple):
    memory: torch.Tensor          # [B, N, W]
    read_weights: torch.Tensor    # [B, R, N]
    write_weights: torch.Tensor   # [B, 1, N]


class NTMStep(NamedTuple):
    """What one NTM step did, for the whole batch (references to the step's own tensors; nothing is copied)."""
    read_weights: torch.Tensor         # [B, R, N] final read weightings (after shift and sharpening)
    write_weights: torch.Tensor        # [B, N] final write weighting
    memory_before: torch.Tensor        # [B, N, W] M_{t−1}
    memory: torch.Tensor               # [B, N, W] M_t (after the write)
    reads: torch.Tensor                # [B, R, W]
    erase: torch.Tensor                # [B, W] erase vector e in (0, 1)
    write_strength: torch.Tensor       # [B] β of the write head
    write_interpolation: torch.Tensor  # [B] g
    write_shift: torch.Tensor          # [B, 3] distribution over shifts (−1, 0, +1)
    write_sharpening: torch.Tensor     # [B] γ ≥ 1
    read_strength: torch.Tensor        # [B, R]
    read_interpolation: torch.Tensor   # [B, R]
    read_shift: torch.Tensor           # [B, R, 3]
    read_sharpening: torch.Tensor      # [B, R]


class NTMMemory(MemoryCore):
    kind = "ntm"

    def __init__(self, slots: int, word_size: int, heads: int):
        super().__init__(slots, word_size, heads)
        w = word_size
        # per head: key, strength, interpolation gate, shift (3), sharpening
        self.head_sizes = {"key": w, "strength": 1, "gate": 1, "shift": 3, "sharpen": 1}
        per_head = sum(self.head_sizes.values())
        self.interface_size = (heads + 1) * per_head + 2 * w   # + erase and add of the write head
        self.per_head = per_head

    def initial_state(self, batch_size: int) -> NTMState:
        n, w, r = self.slots, self.word_size, self.heads
        memory = torch.full((batch_size, n, w), INITIAL_MEMORY_VALUE)
        # Start every head on slot 0 so location-based addressing has a place to shift from.
        read_weights = torch.zeros(batch_size, r, n)
        read_weights[:, :, 0] = 1
        write_weights = torch.zeros(batch_size, 1, n)
        write_weights[:, :, 0] = 1
        return NTMState(memory, read_weights, write_weights)

    def _address(self, params: torch.Tensor, memory: torch.Tensor, previous: torch.Tensor) -> tuple:
        """params [B, H, per_head], memory [B, N, W], previous [B, H, N] -> (weights [B, H, N], gates)."""
        p = addressing.split_interface(params, self.head_sizes)
        strength = F.softplus(p["strength"].squeeze(-1))
        gate = torch.sigmoid(p["gate"].squeeze(-1))
        shift = torch.softmax(p["shift"], dim=-1)
        gamma = 1 + F.softplus(p["sharpen"].squeeze(-1))
        weights = addressing.content_weights(p["key"], memory, strength)
        weights = addressing.interpolate(weights, previous, gate)
        weights = addressing.circular_shift(weights, shift)
        weights = addressing.sharpen(weights, gamma)
        return weights, {"strength": strength, "gate": gate, "shift": shift, "sharpen": gamma}

    def step(self, interface: torch.Tensor, state: NTMState, details: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult(reads [B, R·W], NTMState, NTMStep). Nothing extra for details."""
        batch = interface.shape[0]
        r, w = self.heads, self.word_size
        heads_part, erase, add = torch.split(interface, [(r + 1) * self.per_head, w, w], dim=-1)
        heads_part = heads_part.reshape(batch, r + 1, self.per_head)

        write_weights, write_gates = self._address(heads_part[:, r:], state.memory, state.write_weights)
        erase = torch.sigmoid(erase)
        memory = addressing.erase_and_add(state.memory, write_weights[:, 0], erase, add)

        read_weights, read_gates = self._address(heads_part[:, :r], memory, state.read_weights)
        reads = torch.bmm(read_weights, memory)                      # [B, R, W]

        step = NTMStep(read_weights, write_weights[:, 0], state.memory, memory, reads, erase,
                       write_gates["strength"][:, 0], write_gates["gate"][:, 0], write_gates["shift"][:, 0],
                       write_gates["sharpen"][:, 0], read_gates["strength"], read_gates["gate"],
                       read_gates["shift"], read_gates["sharpen"])
        return StepResult(reads.reshape(batch, r * w), NTMState(memory, read_weights, write_weights), step)
