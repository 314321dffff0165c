"""SAM — Sparse Access Memory (Rae et al. 2016), truly sparse in time and memory.

Per step, for batch B, R read heads, K neighbours, word size W:

    write   w^W_t = α_t (γ_t w^R_{t−1} + (1 − γ_t) I^U_t)
            where w^R_{t−1} is the MEAN of the R heads' previous sparse read weights (one write head;
            the paper leaves the combination open) and I^U_t is one-hot on the least recently used slot.
            The least recently used row is erased (set to zero) first, then every written row gets
            w^W(i)·a_t added. At most K·R + 1 rows change.
    read    for each head: the K rows most cosine-similar to its query q (found by the index),
            weights = softmax_k(β · cos(q, M(s_k))), r = Σ_k w_k M(s_k).
    usage   a slot is accessed at step t when w^W_t(i) + Σ_h w^R_{h,t}(i) > δ = 0.005 (reads count);
            the least recently used slot is the one accessed longest ago (journal.LeastRecentlyUsed).

The memory buffer is modified in place; samviz.memory.journal makes backpropagation sparse.
Interface per step: R·(W + 1) read values (query, strength) + W + 2 write values (word, α, γ).
"""
from typing import NamedTuple

import torch

from . import addressing
from .core import MemoryCore, StepResult, sparse_record
from .index import cosine_scores
from .journal import SparseMemory

ACCESS_THRESHOLD = 0.005          # δ in the paper
USAGE_RECORD_LIMIT = 1 << 16      # traces keep the full usage vector only up to this many slots


def accessed_slots(ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Which entries name an accessed slot: w^W(i) + Σ_h w^R_h(i) > δ, summing entries that share a slot.

    ids, weights [B, m] (a slot may appear several times: several heads, or read and write) -> bool [B, m].
    The pairwise comparison is O(m²) with m = 2·R·K + 1, independent of N.
    """
    same_slot = ids.unsqueeze(2) == ids.unsqueeze(1)                       # [B, m, m]
    total = (same_slot.to(weights.dtype) * weights.unsqueeze(1)).sum(-1)   # summed weight of each entry's slot
    return total > ACCESS_THRESHOLD


class SAMState(NamedTuple):
    memory: SparseMemory           # buffer, index, usage tracker (mutable, shared across steps)
    read_ids: torch.Tensor         # [B, R, K] slots read at the previous step
    read_weights: torch.Tensor     # [B, R, K] their weights (differentiable)
    time: int                      # steps taken so far


class SAMMemory(MemoryCore):
    kind = "sam"
    sparse = True

    def __init__(self, slots: int, word_size: int, heads: int, k: int = 4, index: str = "exact",
                 dtype: torch.dtype = torch.float32):
        super().__init__(slots, word_size, heads)
        if not 1 <= k <= slots:
            raise ValueError(f"k must be in [1, slots]; got k={k} with {slots} slots")
        self.k, self.index_kind, self.dtype = k, index, dtype
        self.read_sizes = {"query": word_size, "strength": 1}
        self.write_sizes = {"word": word_size, "write_gate": 1, "interpolation_gate": 1}
        self.interface_size = heads * (word_size + 1) + word_size + 2
        self.initial_memory: torch.Tensor | None = None   # tests may set a [B, N, W] start

    def describe(self) -> str:
        return f"{self.kind} ({self.index_kind} index): {self.slots} slots × {self.word_size}, {self.heads} heads, K={self.k}"

    def initial_state(self, batch_size: int) -> SAMState:
        memory = SparseMemory(batch_size, self.slots, self.word_size, self.index_kind, self.dtype,
                              initial_memory=self.initial_memory)
        # Before the first step nothing has been read: zero weights on slots 0..K−1 write nothing.
        read_ids = torch.arange(self.k).expand(batch_size, self.heads, self.k).contiguous()
        read_weights = torch.zeros(batch_size, self.heads, self.k, dtype=self.dtype)
        return SAMState(memory, read_ids, read_weights, 0)

    def split(self, interface: torch.Tensor) -> tuple[dict, dict]:
        """interface [B, interface_size] -> (read pieces with [B, R, ·], write pieces with [B, ·])."""
        batch = interface.shape[0]
        per_head = sum(self.read_sizes.values())          # subclasses (SDNC) add read pieces per head
        read_part, write_part = torch.split(interface, [self.heads * per_head, sum(self.write_sizes.values())], -1)
        read = addressing.split_interface(read_part.reshape(batch, self.heads, -1), self.read_sizes)
        write = addressing.split_interface(write_part, self.write_sizes)
        return read, write

    def write_weights(self, write: dict, state: SAMState, least_used: torch.Tensor) -> tuple:
        """-> (slot ids [B, R·K + 1], weights [B, R·K + 1]) of w^W_t = α(γ·mean_h w^R_{t−1} + (1 − γ)·I^U)."""
        batch = least_used.shape[0]
        write_gate = torch.sigmoid(write["write_gate"])             # α [B, 1]
        interpolation = torch.sigmoid(write["interpolation_gate"])  # γ [B, 1]
        previous = state.read_weights.reshape(batch, -1) / self.heads
        ids = torch.cat([state.read_ids.reshape(batch, -1), least_used.unsqueeze(1)], dim=1)
        weights = write_gate * torch.cat([interpolation * previous, 1 - interpolation], dim=1)
        return ids, weights

    def read(self, memory: SparseMemory, read: dict) -> tuple:
        """-> (ids [B, R, K], weights [B, R, K], rows [B, R, K, W], reads [B, R, W]) for the queries."""
        batch = read["query"].shape[0]
        query = read["query"]
        ids = memory.search(query, self.k)                          # [B, R, K], no gradient
        rows = memory.read_rows(ids.reshape(batch, -1)).reshape(batch, self.heads, self.k, self.word_size)
        weights, reads = addressing.sparse_read(query.to(rows.dtype), read["strength"].squeeze(-1).to(rows.dtype), rows)
        return ids, weights, rows, reads

    def step(self, interface: torch.Tensor, state: SAMState, record: bool = False) -> StepResult:
        memory = state.memory
        batch = interface.shape[0]
        read, write = self.split(interface.to(self.dtype))

        least_used = memory.usage.least_recently_used()              # [B]
        write_ids, write_weights = self.write_weights(write, state, least_used)
        before = memory.buffer[0, write_ids[0]].clone() if record else None
        memory.write(write_ids, write_weights, write["word"], least_used)

        read_ids, read_weights, rows, reads = self.read(memory, read)

        # usage as the write saw it (before this step's accesses), for the trace
        age = memory.usage.steps_since_access(state.time)[0].clone() if record else None
        accessed_ids = torch.cat([write_ids, read_ids.reshape(batch, -1)], dim=1)
        access_weights = torch.cat([write_weights, read_weights.reshape(batch, -1)], dim=1).detach()
        memory.usage.access(state.time, accessed_ids, accessed_slots(accessed_ids, access_weights))

        step_record = None
        if record:
            step_record = self.record(memory, read, write, state, least_used, write_ids, write_weights,
                                      before, read_ids, read_weights, reads, age)
        new_state = SAMState(memory, read_ids, read_weights, state.time + 1)
        return StepResult(reads.reshape(batch, -1).to(interface.dtype), new_state, step_record)

    def record(self, memory, read, write, state, least_used, write_ids, write_weights, before,
               read_ids, read_weights, reads, age) -> dict:
        """What happened to batch element 0 (O(N) work allowed: traces are for the app, not training)."""
        query = read["query"][0].detach()
        # rank by the similarity the indexes rank by (unit rows, no ε in the denominator): with ε, SAM's tiny
        # initial rows would be ordered by norm rather than direction and an exact index would show recall < 1
        exact_similarity = cosine_scores(query.unsqueeze(0).to(memory.buffer.dtype), memory.buffer[:1])[0]   # [R, N]
        exact = torch.topk(exact_similarity, self.k, dim=-1)
        neighbours = []
        for h in range(self.heads):
            found = read_ids[0, h]
            neighbours.append({
                "found": found.tolist(),
                "found_similarity": exact_similarity[h, found].tolist(),
                "exact": exact.indices[h].tolist(),
                "exact_similarity": exact.values[h].tolist(),
                "recall": len(set(found.tolist()) & set(exact.indices[h].tolist())) / self.k,
            })
        record = {
            "read_weights": [sparse_record(read_ids[0, h], read_weights[0, h]) for h in range(self.heads)],
            "write_weights": sparse_record(write_ids[0], write_weights[0]),
            "rows_written": {"ids": write_ids[0].tolist(), "before": before.tolist(),
                             "after": memory.buffer[0, write_ids[0]].tolist()},
            "reads": reads[0].tolist(),
            "gates": {
                "write_gate": torch.sigmoid(write["write_gate"][0]).item(),
                "interpolation_gate": torch.sigmoid(write["interpolation_gate"][0]).item(),
                "read_strength": addressing.strength(read["strength"][0].squeeze(-1)).tolist(),
            },
            "least_used": int(least_used[0]),
            "least_used_age": int(age[least_used[0]]),
            "neighbours": neighbours,
            "index": self.index_kind,
        }
        if self.slots <= USAGE_RECORD_LIMIT:
            record["usage"] = age.tolist()
        if self.slots * self.word_size <= 16384:
            record["memory"] = memory.buffer[0].tolist()
        return record
