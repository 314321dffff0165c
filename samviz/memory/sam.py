"""SAM — Sparse Access Memory (Rae et al. 2016), truly sparse in time and memory.

Per step, for batch B, R read heads, K neighbours, word size W:

    write   w^W_t = α_t (γ_t w^R_{t−1} + (1 − γ_t) I^U_t)
            where w^R_{t−1} combines the R heads' previous sparse read weights — their MEAN by default, or
            their SUM (write_combination="sum": each head's reads written at full weight; the paper leaves
            the combination open, docs/PAPER_NOTES.md #sam) — and I^U_t is one-hot on the least recently
            used slot (one write head either way).
            The least recently used row is erased (set to zero) first, then every written row gets
            w^W(i)·a_t added. At most K·R + 1 rows change.
    read    for each head: the K rows most cosine-similar to its query q (found by the index),
            weights = softmax_k(β · cos(q, M(s_k))), r = Σ_k w_k M(s_k), β = 1 + softplus(raw) (key_strength:
            or softplus(raw), or fixed at 1; addressing.KEY_STRENGTHS).
    usage   a slot is accessed at step t when w^W_t(i) + Σ_h w^R_{h,t}(i) > δ = 0.005 (reads count; for the
            ablation δ is access_threshold, and accesses="writes" leaves the reads out);
            the least recently used slot is the one accessed longest ago (usage.py).

The memory buffer is modified in place; samviz.memory.journal makes backpropagation sparse.
The interface layout and the write rule are module functions: DAM (dam.py) uses the same ones.
docs/PAPER_NOTES.md (#sam).
Interface per step: R·(W + 1) read values (query, strength) + W + 2 write values (word, α, γ).
"""
from typing import NamedTuple

import torch

from . import addressing
from .core import MemoryCore, StepResult
from .initial import DEFAULT_INITIAL_ROWS, INITIAL_ROWS
from .journal import SparseMemory
from .usage import (
    ACCESS_KINDS,
    ACCESS_THRESHOLD,
    DEFAULT_ACCESS_KIND,
    UsageBefore,
    accessed_slots,
    check_access_threshold,
)

__all__ = ["ACCESS_THRESHOLD", "DEFAULT_WRITE_COMBINATION", "WRITE_COMBINATIONS", "SAMMemory", "SAMState", "SAMStep",
           "accessed_slots", "interface_layout", "interface_size", "split_interface", "write_weighting"]

# How the R heads' previous read weights w^R_{t−1} enter the single write, w^W = α(γ·w^R_{t−1} + (1 − γ)·I^U):
#   "mean" — their mean over heads: the write's weights sum to α, as with one head (what every shipped model uses)
#   "sum"  — their sum: each head's previously read slots get its full weight γ·w^R_h (total α(γR + 1 − γ))
# The paper leaves the combination open; the ablation is in docs/LEARNING_CURVES.md.
WRITE_COMBINATIONS = ("mean", "sum")
DEFAULT_WRITE_COMBINATION = "mean"


# ---------------------------------------------------------------- SAM's interface and write rule (shared with DAM)

def interface_layout(word_size: int) -> tuple[dict, dict]:
    """-> (read sizes per head, write sizes): query W and strength 1 per head; word W, α 1, γ 1."""
    return {"query": word_size, "strength": 1}, {"word": word_size, "write_gate": 1, "interpolation_gate": 1}


def interface_size(heads: int, read_sizes: dict, write_sizes: dict) -> int:
    return heads * sum(read_sizes.values()) + sum(write_sizes.values())


def split_interface(interface: torch.Tensor, heads: int, read_sizes: dict, write_sizes: dict) -> tuple[dict, dict]:
    """interface [B, interface_size] -> (read pieces [B, R, size] by name, write pieces [B, size] by name)."""
    batch = interface.shape[0]
    per_head = sum(read_sizes.values())
    read_part, write_part = torch.split(interface, [heads * per_head, sum(write_sizes.values())], -1)
    read = addressing.split_interface(read_part.reshape(batch, heads, -1), read_sizes)
    write = addressing.split_interface(write_part, write_sizes)
    return read, write


def write_weighting(previous: torch.Tensor, least_used: torch.Tensor | None, write_gate: torch.Tensor,
                    interpolation_gate: torch.Tensor) -> torch.Tensor:
    """SAM's write rule w^W_t = α (γ·w̄^R_{t−1} + (1 − γ)·I^U_t), in either layout.

    previous w̄^R_{t−1}: the heads' previous read weights, combined (WRITE_COMBINATIONS); write_gate α and
    interpolation_gate γ [B, 1] (after the sigmoid); least_used I^U_t: the indicator of the least recently used slot.
    Dense (DAM): previous, least_used [B, N] -> [B, N].
    Entries (SAM, least_used=None): previous [B, m] over the previous read ids; I^U is then one more entry
    of weight 1 -> [B, m + 1], the weights of the slots [previous read ids ; least used slot].
    """
    if least_used is None:
        return write_gate * torch.cat([interpolation_gate * previous, 1 - interpolation_gate], dim=1)
    return write_gate * (interpolation_gate * previous + (1 - interpolation_gate) * least_used)


class SAMState(NamedTuple):
    memory: SparseMemory           # buffer, index, usage tracker (mutable, shared across steps)
    read_ids: torch.Tensor         # [B, R, K] slots read at the previous step
    read_weights: torch.Tensor     # [B, R, K] their weights (differentiable)
    time: int                      # steps taken so far


class SAMStep(NamedTuple):
    """What one SAM step did, for the whole batch.

    The memory is one buffer changed in place, so `memory` is that live object: read it (rows after the
    write, the index) when the step is observed, before the next step runs. The fields marked "details"
    are None unless step(..., details=True).
    """
    memory: SparseMemory               # the live memory: .buffer [B, N, W] as after this step
    write_ids: torch.Tensor            # [B, m] slots written (m = R·K + 1; a slot may repeat)
    write_weights: torch.Tensor        # [B, m] their write weights w^W_t
    least_used: torch.Tensor           # [B] the slot erased before the write (least recently used)
    read_ids: torch.Tensor             # [B, R, K] slots read, found by the index
    read_weights: torch.Tensor         # [B, R, K] their read weights
    reads: torch.Tensor                # [B, R, W]
    query: torch.Tensor                # [B, R, W] the read queries the index searched with
    read_strength_raw: torch.Tensor    # [B, R] before β = addressing.strength(raw, core.key_strength)
    write_gate: torch.Tensor           # [B, 1] α
    interpolation_gate: torch.Tensor   # [B, 1] γ
    time: int                          # this step's index t
    rows_before: torch.Tensor | None   # details: [B, m, W] the written rows before this step
    usage_before: UsageBefore | None   # details: steps since last access, before this step's accesses (usage.py)


class SAMMemory(MemoryCore):
    kind = "sam"
    sparse = True

    def __init__(self, slots: int, word_size: int, heads: int, k: int = 4, index: str = "exact",
                 initial_rows: str = DEFAULT_INITIAL_ROWS, write_combination: str = DEFAULT_WRITE_COMBINATION,
                 key_strength: str = addressing.DEFAULT_KEY_STRENGTH, access_threshold: float = ACCESS_THRESHOLD,
                 accesses: str = DEFAULT_ACCESS_KIND, dtype: torch.dtype = torch.float32):
        super().__init__(slots, word_size, heads)
        if not 1 <= k <= slots:
            raise ValueError(f"k must be in [1, slots]; got k={k} with {slots} slots")
        if initial_rows not in INITIAL_ROWS:
            raise ValueError(f"unknown initial rows {initial_rows!r}; choose one of {', '.join(INITIAL_ROWS)}")
        if write_combination not in WRITE_COMBINATIONS:
            raise ValueError(f"unknown write combination {write_combination!r}; choose one of "
                             f"{', '.join(WRITE_COMBINATIONS)}")
        if key_strength not in addressing.KEY_STRENGTHS:
            raise ValueError(f"unknown key strength {key_strength!r}; choose one of "
                             f"{', '.join(addressing.KEY_STRENGTHS)}")
        check_access_threshold(access_threshold)
        if accesses not in ACCESS_KINDS:
            raise ValueError(f"unknown accesses {accesses!r}; choose one of {', '.join(ACCESS_KINDS)}")
        self.accesses = accesses
        self.k, self.index_kind, self.initial_rows, self.dtype = k, index, initial_rows, dtype
        self.write_combination, self.key_strength, self.access_threshold = (write_combination, key_strength,
                                                                            access_threshold)
        self.read_sizes, self.write_sizes = interface_layout(word_size)
        self.interface_size = interface_size(heads, self.read_sizes, self.write_sizes)
        self.initial_memory: torch.Tensor | None = None   # tests may set a [B, N, W] start

    def describe(self) -> str:
        return (f"{self.kind} ({self.index_kind} index): {self.slots} slots × {self.word_size}, {self.heads} heads, "
                f"K={self.k}")

    def new_memory(self, batch_size: int) -> SparseMemory:
        """An episode's memory: initial.py's rows from the pool of finished episodes' stores (set-up in O(rows
        the last episode touched)), or a test's own `initial_memory` (a store of its own)."""
        if self.initial_memory is not None:
            return SparseMemory(batch_size, self.slots, self.word_size, self.index_kind, self.dtype,
                                initial_memory=self.initial_memory)
        return SparseMemory(batch_size, self.slots, self.word_size, self.index_kind, self.dtype,
                            start=self.initial_rows)

    def initial_state(self, batch_size: int) -> SAMState:
        memory = self.new_memory(batch_size)
        # Before the first step nothing has been read: zero weights on slots 0..K−1 write nothing.
        read_ids = torch.arange(self.k).expand(batch_size, self.heads, self.k).contiguous()
        read_weights = torch.zeros(batch_size, self.heads, self.k, dtype=self.dtype)
        return SAMState(memory, read_ids, read_weights, 0)

    def end_episode(self, state) -> None:
        state.memory.end_forward()

    def split(self, interface: torch.Tensor) -> tuple[dict, dict]:
        """interface [B, interface_size] -> (read pieces with [B, R, ·], write pieces with [B, ·])."""
        return split_interface(interface, self.heads, self.read_sizes, self.write_sizes)

    def write_weights(self, write: dict, state, least_used: torch.Tensor) -> tuple:
        """-> (slot ids [B, R·S + 1], weights [B, R·S + 1], α [B, 1], γ [B, 1]) of SAM's write rule over the
        previous read entries (S per head) and the least used slot."""
        batch = least_used.shape[0]
        write_gate = torch.sigmoid(write["write_gate"])             # α [B, 1]
        interpolation = torch.sigmoid(write["interpolation_gate"])  # γ [B, 1]
        previous = state.read_weights.reshape(batch, -1)
        if self.write_combination == "mean":
            previous = previous / self.heads
        ids = torch.cat([state.read_ids.reshape(batch, -1), least_used.unsqueeze(1)], dim=1)
        weights = write_weighting(previous, None, write_gate, interpolation)
        return ids, weights, write_gate, interpolation

    def read(self, memory: SparseMemory, read: dict) -> tuple:
        """-> (ids [B, R, K], weights [B, R, K], rows [B, R, K, W], reads [B, R, W]) for the queries."""
        batch = read["query"].shape[0]
        query = read["query"]
        ids = memory.search(query, self.k)                          # [B, R, K], no gradient
        rows = memory.read_rows(ids.reshape(batch, -1)).reshape(batch, self.heads, self.k, self.word_size)
        weights, reads = addressing.sparse_read(query.to(rows.dtype), read["strength"].squeeze(-1).to(rows.dtype), rows,
                                                self.key_strength)
        return ids, weights, rows, reads

    def record_accesses(self, memory: SparseMemory, time: int, write_ids: torch.Tensor, write_weights: torch.Tensor,
                        read_ids: torch.Tensor, read_weights: torch.Tensor) -> None:
        """Tell the least-recently-used tracker which slots step `time` accessed: w^W(i) + Σ_h w^R_h(i) > δ, with
        the reads left out when accesses="writes". write ids/weights [B, m]; read ids/weights [B, R, S]."""
        batch = write_ids.shape[0]
        ids, weights = write_ids, write_weights.detach()
        if self.accesses == "reads_and_writes":
            ids = torch.cat([write_ids, read_ids.reshape(batch, -1)], dim=1)
            weights = torch.cat([write_weights, read_weights.reshape(batch, -1)], dim=1).detach()
        memory.usage.access(time, ids, accessed_slots(ids, weights, self.access_threshold))

    def step(self, interface: torch.Tensor, state: SAMState, details: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult(reads [B, R·W], SAMState, SAMStep).

        details: also copy the rows about to be written and keep the usage before the step (SAMStep's details
        fields; neither is O(N)).
        """
        memory = state.memory
        batch = interface.shape[0]
        read, write = self.split(interface.to(self.dtype))

        least_used = memory.usage.least_recently_used()              # [B]
        write_ids, write_weights, write_gate, interpolation = self.write_weights(write, state, least_used)
        rows_before = memory.buffer[memory._batch, write_ids].clone() if details else None
        memory.write(write_ids, write_weights, write["word"], least_used)

        read_ids, read_weights, rows, reads = self.read(memory, read)

        self.record_accesses(memory, state.time, write_ids, write_weights, read_ids, read_weights)
        # usage as the write saw it (before this step's accesses)
        usage_before = memory.usage.before_last_access(state.time) if details else None

        step = SAMStep(memory, write_ids, write_weights, least_used, read_ids, read_weights, reads, read["query"],
                       read["strength"].squeeze(-1), write_gate, interpolation, state.time, rows_before, usage_before)
        new_state = SAMState(memory, read_ids, read_weights, state.time + 1)
        return StepResult(reads.reshape(batch, -1).to(interface.dtype), new_state, step)
