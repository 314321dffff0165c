"""DAM — Dense Access Memory: SAM's dense twin and baseline (Rae et al. 2016).

Same controller interface and write rule as SAM (samviz/memory/sam.py), but:
    read    weights = softmax over ALL N slots of β·cos(q, M(i)); r = Σ_i w(i) M(i)
    usage   discounted: U_t = λ·U_{t−1} + w^W_t + Σ_h w^R_{h,t} (λ = 0.99, not given by the paper);
            the least used slot is argmin U (an O(N) scan: DAM is dense anyway)
    write   w^W_t = α (γ·mean_h w^R_{t−1} + (1 − γ)·one-hot(argmin U_{t−1})); the least used row is
            erased, then every row gets w^W(i)·a added — an O(N·W) out-of-place update, so autograd
            keeps a copy of the memory per step, like the NTM.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import addressing
from .core import MemoryCore, StepResult, dense_record
from .journal import INITIAL_MEMORY_JITTER, INITIAL_MEMORY_VALUE
from .sam import SAMMemory

USAGE_DISCOUNT = 0.99
RECORD_MEMORY_LIMIT = 16384


class DAMState(NamedTuple):
    memory: torch.Tensor          # [B, N, W]
    usage: torch.Tensor           # [B, N] discounted usage
    read_weights: torch.Tensor    # [B, R, N]


class DAMMemory(MemoryCore):
    kind = "dam"

    def __init__(self, slots: int, word_size: int, heads: int):
        super().__init__(slots, word_size, heads)
        # the same interface layout as SAM: reuse its splitter rather than repeating it
        self._layout = SAMMemory(slots, word_size, heads, k=1)
        self.interface_size = self._layout.interface_size

    def initial_state(self, batch_size: int) -> DAMState:
        jitter = torch.rand(self.slots, self.word_size, generator=torch.Generator().manual_seed(0))
        memory = (INITIAL_MEMORY_VALUE * (1 + INITIAL_MEMORY_JITTER * jitter)).expand(batch_size, -1, -1).clone()
        usage = torch.zeros(batch_size, self.slots)
        read_weights = torch.zeros(batch_size, self.heads, self.slots)
        return DAMState(memory, usage, read_weights)

    def step(self, interface: torch.Tensor, state: DAMState, record: bool = False) -> StepResult:
        batch = interface.shape[0]
        read, write = self._layout.split(interface)
        write_gate = torch.sigmoid(write["write_gate"])
        interpolation = torch.sigmoid(write["interpolation_gate"])
        least_used = torch.argmin(state.usage, dim=1)
        one_hot = F.one_hot(least_used, self.slots).to(interface.dtype)
        write_weights = write_gate * (interpolation * state.read_weights.mean(1) + (1 - interpolation) * one_hot)
        memory = state.memory * (1 - one_hot).unsqueeze(-1) + write_weights.unsqueeze(-1) * write["word"].unsqueeze(1)

        strength = addressing.strength(read["strength"].squeeze(-1))
        read_weights = addressing.content_weights(read["query"], memory, strength)       # [B, R, N]
        reads = torch.bmm(read_weights, memory)
        usage = USAGE_DISCOUNT * state.usage + (write_weights + read_weights.sum(1)).detach()

        step_record = None
        if record:
            written = torch.topk(write_weights[0].detach(), min(4, self.slots)).indices
            step_record = {
                "read_weights": [dense_record(read_weights[0, h]) for h in range(self.heads)],
                "write_weights": dense_record(write_weights[0]),
                "rows_written": {"ids": written.tolist(), "before": state.memory[0, written].tolist(),
                                 "after": memory[0, written].tolist()},
                "reads": reads[0].tolist(),
                "gates": {"write_gate": write_gate[0].item(), "interpolation_gate": interpolation[0].item(),
                          "read_strength": strength[0].tolist()},
                "usage": usage[0].tolist(),
                "least_used": int(least_used[0]),
                "memory": memory[0].tolist() if self.slots * self.word_size <= RECORD_MEMORY_LIMIT else None,
            }
        return StepResult(reads.reshape(batch, -1), DAMState(memory, usage, read_weights), step_record)
