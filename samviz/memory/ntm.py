"""Dense Neural Turing Machine memory (Graves et al. 2014).

R read heads and one write head. Each head addresses by content with a strength, interpolates with
its previous weighting, shifts circularly by −1/0/+1 and sharpens. Cost O(N·W) per step per head,
and autograd keeps a copy of the N×W memory per step: this is the dense baseline.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import addressing
from .core import MemoryCore, StepResult, dense_record

INITIAL_MEMORY_VALUE = 1e-6   # Collier & Beel 2018: a small constant converges faster than random init
RECORD_MEMORY_LIMIT = 16384   # record the full memory in traces only up to N·W cells


class NTMState(NamedTuple):
    memory: torch.Tensor          # [B, N, W]
    read_weights: torch.Tensor    # [B, R, N]
    write_weights: torch.Tensor   # [B, 1, N]


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

    def step(self, interface: torch.Tensor, state: NTMState, record: bool = False) -> StepResult:
        batch = interface.shape[0]
        r, w = self.heads, self.word_size
        heads_part, erase, add = torch.split(interface, [(r + 1) * self.per_head, w, w], dim=-1)
        heads_part = heads_part.reshape(batch, r + 1, self.per_head)

        write_weights, write_gates = self._address(heads_part[:, r:], state.memory, state.write_weights)
        erase = torch.sigmoid(erase)
        memory = addressing.erase_and_add(state.memory, write_weights[:, 0], erase, add)

        read_weights, read_gates = self._address(heads_part[:, :r], memory, state.read_weights)
        reads = torch.bmm(read_weights, memory)                      # [B, R, W]

        step_record = None
        if record:
            written = torch.topk(write_weights[0, 0].detach(), min(4, self.slots)).indices
            step_record = {
                "read_weights": [dense_record(read_weights[0, h]) for h in range(r)],
                "write_weights": dense_record(write_weights[0, 0]),
                "rows_written": {"ids": written.tolist(),
                                 "before": state.memory[0, written].tolist(),
                                 "after": memory[0, written].tolist()},
                "reads": reads[0].tolist(),
                "gates": {
                    "write_strength": write_gates["strength"][0, 0].item(),
                    "write_interpolation": write_gates["gate"][0, 0].item(),
                    "write_shift": write_gates["shift"][0, 0].tolist(),
                    "write_sharpening": write_gates["sharpen"][0, 0].item(),
                    "erase_mean": erase[0].mean().item(),
                    "read_strength": read_gates["strength"][0].tolist(),
                    "read_interpolation": read_gates["gate"][0].tolist(),
                    "read_shift": read_gates["shift"][0].tolist(),
                    "read_sharpening": read_gates["sharpen"][0].tolist(),
                },
                "memory": memory[0].tolist() if self.slots * w <= RECORD_MEMORY_LIMIT else None,
            }
        return StepResult(reads.reshape(batch, r * w), NTMState(memory, read_weights, write_weights), step_record)
