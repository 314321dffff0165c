"""Dense Differentiable Neural Computer memory (Graves et al. 2016; DeepMind's `dnc/addressing.py`).

R read heads and one write head over an N×W memory. Per step, in this order (write, then read):

    usage       u_t = (u_{t−1} + w^W_{t−1} − u_{t−1} ⊙ w^W_{t−1}) ⊙ Π_i (1 − f^i w^{r,i}_{t−1})
                (as DeepMind: no gradient through w^W_{t−1} here; the free gates f^i get one)
    allocation  φ = slots sorted by usage, ascending; a[φ_j] = (1 − u[φ_j]) Π_{i<j} u[φ_i],
                with u ← ε + (1 − ε)u (ε = 1e-6) before the exclusive cumulative product, as DeepMind
    write       c^w = content_weights(k^w, M_{t−1}, β^w);  w^W = g^w (g^a a + (1 − g^a) c^w)
    memory      M_t = M_{t−1} ⊙ (1 − w^W eᵀ) + w^W vᵀ
    links       L_t[i,j] = (1 − w^W[i] − w^W[j]) L_{t−1}[i,j] + w^W[i] p_{t−1}[j],  L_t[i,i] = 0
                (L[i,j] ≈ "slot i was written right after slot j")
    precedence  p_t = (1 − Σ_i w^W[i]) p_{t−1} + w^W
    read        f = L_t w^r_{t−1} (forward), b = L_tᵀ w^r_{t−1} (backward), c^r = content_weights(k^r, M_t, β^r),
                w^r = π_b b + π_c c^r + π_f f with π = softmax over [backward, content, forward] per head;
                r = w^r M_t

Interface (controller outputs per step, in order): read keys R·W, read strengths R, write key W, write
strength 1, erase W (sigmoid), write vector W (linear), free gates R (sigmoid), allocation gate 1
(sigmoid), write gate 1 (sigmoid), read modes 3R (softmax per head). Strengths β = 1 + softplus.

Memory starts at zeros, as in the DNC (cosine similarity of a zero row is 0, so the first content
weights are uniform and the first writes go where allocation sends them). Read and write weights,
usage, links and precedence start at zero. Cost: O(N² + N·W) per step — the N×N link matrix is what
the SDNC (samviz/memory/sdnc.py) makes sparse. docs/PAPER_NOTES.md (#dnc).
"""
from typing import NamedTuple

import torch

from . import addressing
from .core import MemoryCore, StepResult

ALLOCATION_EPSILON = 1e-6      # DeepMind's _EPSILON: keeps the cumulative product of usages above zero


class DNCState(NamedTuple):
    memory: torch.Tensor          # [B, N, W]
    usage: torch.Tensor           # [B, N]   u_{t−1} in [0, 1]
    link: torch.Tensor            # [B, N, N] L[i, j]: i written after j; zero diagonal
    precedence: torch.Tensor      # [B, N]
    read_weights: torch.Tensor    # [B, R, N]
    write_weights: torch.Tensor   # [B, N]


class DNCStep(NamedTuple):
    """What one DNC step did, for the whole batch (references to the step's own tensors; nothing is copied)."""
    read_weights: torch.Tensor     # [B, R, N] w^r_t
    write_weights: torch.Tensor    # [B, N] w^W_t
    memory_before: torch.Tensor    # [B, N, W] M_{t−1}
    memory: torch.Tensor           # [B, N, W] M_t
    reads: torch.Tensor            # [B, R, W]
    usage: torch.Tensor            # [B, N] u_t in [0, 1]: the usage allocation saw, BEFORE this step's write
    read_modes: torch.Tensor       # [B, R, 3] π per head in addressing.READ_MODES order (backward, content, forward)
    forward: torch.Tensor          # [B, R, N] f_t = L_t w^r_{t−1}
    backward: torch.Tensor         # [B, R, N] b_t = L_tᵀ w^r_{t−1}
    write_gate: torch.Tensor       # [B, 1] g^w
    allocation_gate: torch.Tensor  # [B, 1] g^a
    free_gates: torch.Tensor       # [B, R] f^i
    read_strength: torch.Tensor    # [B, R] β^r
    write_strength: torch.Tensor   # [B, 1] β^w
    erase: torch.Tensor            # [B, W] e


# ---------------------------------------------------------------- the DNC equations (batched, pure)

def usage_update(usage: torch.Tensor, write_weights: torch.Tensor, free_gates: torch.Tensor,
                 read_weights: torch.Tensor) -> torch.Tensor:
    """u_t = (u + w^W − u ⊙ w^W) ⊙ Π_i (1 − f^i w^{r,i}).

    usage, write_weights [B, N] (previous step's), free_gates [B, R], read_weights [B, R, N] (previous) -> [B, N].
    Like DeepMind's Freeness, the usage is not differentiable with respect to the previous write weights.
    """
    write_weights = write_weights.detach()
    usage = usage + write_weights - usage * write_weights
    retention = torch.prod(1 - free_gates.unsqueeze(-1) * read_weights, dim=1)
    return usage * retention


def allocation(usage: torch.Tensor) -> torch.Tensor:
    """a[φ_j] = (1 − u[φ_j]) Π_{i<j} u[φ_i] with φ the slots in ascending usage. usage [B, N] -> [B, N].

    Ties keep slot order (a stable sort), so among equally used slots the lowest id is allocated first.
    """
    usage = ALLOCATION_EPSILON + (1 - ALLOCATION_EPSILON) * usage
    sorted_usage, order = torch.sort(usage, dim=-1, stable=True)
    exclusive = torch.cumprod(torch.cat([torch.ones_like(sorted_usage[:, :1]), sorted_usage[:, :-1]], dim=-1), dim=-1)
    sorted_allocation = (1 - sorted_usage) * exclusive
    return torch.zeros_like(usage).scatter(-1, order, sorted_allocation)


def write_weighting(allocation_weights: torch.Tensor, content: torch.Tensor, allocation_gate: torch.Tensor,
                    write_gate: torch.Tensor) -> torch.Tensor:
    """w^W = g^w (g^a a + (1 − g^a) c^w). allocation_weights, content [B, N]; gates [B, 1] -> [B, N]."""
    return write_gate * (allocation_gate * allocation_weights + (1 - allocation_gate) * content)


def link_update(link: torch.Tensor, precedence: torch.Tensor, write_weights: torch.Tensor) -> torch.Tensor:
    """L_t[i,j] = (1 − w[i] − w[j]) L_{t−1}[i,j] + w[i] p_{t−1}[j] with a zero diagonal.

    link [B, N, N], precedence p_{t−1} [B, N], write_weights [B, N] -> [B, N, N].
    """
    w_i = write_weights.unsqueeze(2)
    w_j = write_weights.unsqueeze(1)
    new_link = link * (1 - w_i - w_j)
    new_link = new_link.addcmul_(w_i, precedence.unsqueeze(1))     # in place on a fresh tensor: autograd-safe
    new_link.diagonal(dim1=1, dim2=2).zero_()
    return new_link


def precedence_update(precedence: torch.Tensor, write_weights: torch.Tensor) -> torch.Tensor:
    """p_t = (1 − Σ_i w[i]) p_{t−1} + w. precedence, write_weights [B, N] -> [B, N]."""
    return (1 - write_weights.sum(-1, keepdim=True)) * precedence + write_weights


def directional_weights(link: torch.Tensor, read_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward f = L w and backward b = Lᵀ w for every head. link [B, N, N], read_weights [B, R, N] -> two [B, R, N].

    f[i] = Σ_j L[i, j] w[j] moves each head to the slots written right after the ones it read;
    b[j] = Σ_i L[i, j] w[i] to the slots written right before.
    """
    forward = torch.bmm(read_weights, link.transpose(1, 2))
    backward = torch.bmm(read_weights, link)
    return forward, backward


# ---------------------------------------------------------------- the core

class DNCMemory(MemoryCore):
    kind = "dnc"

    def __init__(self, slots: int, word_size: int, heads: int):
        super().__init__(slots, word_size, heads)
        r, w = heads, word_size
        self.sizes = {
            "read_keys": r * w, "read_strengths": r, "write_key": w, "write_strength": 1,
            "erase": w, "write_vector": w, "free_gates": r, "allocation_gate": 1, "write_gate": 1,
            "read_modes": 3 * r,
        }
        self.interface_size = sum(self.sizes.values())

    def initial_state(self, batch_size: int) -> DNCState:
        n, w, r = self.slots, self.word_size, self.heads
        return DNCState(memory=torch.zeros(batch_size, n, w), usage=torch.zeros(batch_size, n),
                        link=torch.zeros(batch_size, n, n), precedence=torch.zeros(batch_size, n),
                        read_weights=torch.zeros(batch_size, r, n), write_weights=torch.zeros(batch_size, n))

    def split(self, interface: torch.Tensor) -> dict:
        """interface [B, interface_size] -> named, activated pieces (keys [B, R, W], modes [B, R, 3], gates [B, ·])."""
        batch = interface.shape[0]
        r, w = self.heads, self.word_size
        p = addressing.split_interface(interface, self.sizes)
        return {
            "read_keys": p["read_keys"].reshape(batch, r, w),
            "read_strengths": addressing.strength(p["read_strengths"]),
            "write_key": p["write_key"].unsqueeze(1),
            "write_strength": addressing.strength(p["write_strength"]),
            "erase": torch.sigmoid(p["erase"]),
            "write_vector": p["write_vector"],
            "free_gates": torch.sigmoid(p["free_gates"]),
            "allocation_gate": torch.sigmoid(p["allocation_gate"]),
            "write_gate": torch.sigmoid(p["write_gate"]),
            "read_modes": torch.softmax(p["read_modes"].reshape(batch, r, 3), dim=-1),
        }

    def step(self, interface: torch.Tensor, state: DNCState, details: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult(reads [B, R·W], DNCState, DNCStep). Nothing extra for details."""
        batch = interface.shape[0]
        x = self.split(interface)

        usage = usage_update(state.usage, state.write_weights, x["free_gates"], state.read_weights)
        allocation_weights = allocation(usage)
        write_content = addressing.content_weights(x["write_key"], state.memory, x["write_strength"])[:, 0]
        write_weights = write_weighting(allocation_weights, write_content, x["allocation_gate"], x["write_gate"])
        memory = addressing.erase_and_add(state.memory, write_weights, x["erase"], x["write_vector"])

        link = link_update(state.link, state.precedence, write_weights)
        precedence = precedence_update(state.precedence, write_weights)

        forward, backward = directional_weights(link, state.read_weights)
        content = addressing.content_weights(x["read_keys"], memory, x["read_strengths"])
        read_weights = addressing.mix_read_modes(x["read_modes"], backward, content, forward)
        reads = torch.bmm(read_weights, memory)                                   # [B, R, W]

        step = DNCStep(read_weights, write_weights, state.memory, memory, reads, usage, x["read_modes"], forward,
                       backward, x["write_gate"], x["allocation_gate"], x["free_gates"], x["read_strengths"],
                       x["write_strength"], x["erase"])
        new_state = DNCState(memory, usage, link, precedence, read_weights, write_weights)
        return StepResult(reads.reshape(batch, -1), new_state, step)
