"""SDNC — the Sparse Differentiable Neural Computer (Rae et al. 2016, supplement D).

Reads, writes and usage are SAM's, exactly (samviz/memory/sam.py): one memory buffer modified in place
with sparse BPTT, K nearest neighbours per head from the index, least-recently-used slot for new writes,
and one write weighting w^W_t = α(γ·mean_h w^R_{h,t−1} + (1 − γ)·I^U_t) — the mean over heads is SAM's
choice of how several heads' previous reads combine. What the SDNC adds is temporal links, made sparse:

    N_t(i, j) = (1 − w^W_t(i)) N_{t−1}(i, j) + w^W_t(i) p_{t−1}(j)     forward:  "i was written right after j"
    P_t(i, j) = (1 − w^W_t(j)) P_{t−1}(i, j) + w^W_t(j) p_{t−1}(i)     backward: "i was written right before j"
    p_t       = (1 − Σ_i w^W_t(i)) p_{t−1} + w^W_t                     precedence, at most K_L non-zeros
    f_t = N_t w^r_{t−1},  b_t = P_t w^r_{t−1}                           per head, from the previous read weights
    w^r_t = π_b b_t + π_c c_t + π_f f_t,  π = softmax over [backward, content, forward] per head
    r_t = Σ w^r_t(i) M_t(i) over the union of ids (content K, forward K_L, backward K_L)

K_L = link_k (8 by default). Only the rows touched by the step change; per-step work is independent of N.
docs/PAPER_NOTES.md (#sdnc).

How the links are stored (choices the paper leaves open) is documented in links.py.
"""
from typing import NamedTuple

import torch

from . import addressing, sam
from .core import StepResult
from .initial import DEFAULT_INITIAL_ROWS
from .journal import SparseMemory
from .links import SparseLinks, merge_entries
from .sam import SAMMemory
from .usage import UsageBefore


class SDNCState(NamedTuple):
    memory: SparseMemory           # buffer, index, usage tracker (SAM's; mutable, shared across steps)
    links: SparseLinks             # sparse N_t, P_t and p_t (mutable)
    read_ids: torch.Tensor         # [B, R, K + 2·K_L] previous step's read slots: content, forward, backward
    read_weights: torch.Tensor     # [B, R, K + 2·K_L] their weights w^r_{t−1} (differentiable)
    time: int                      # steps taken so far


class SDNCStep(NamedTuple):
    """What one SDNC step did, for the whole batch. As SAMStep (whose fields come first, with the same
    meanings), plus the links; `read_ids`/`read_weights` are the content part (K per head), `slot_ids`/
    `mixed_weights` the union actually read. Details fields are None unless step(..., details=True)."""
    memory: SparseMemory               # the live memory (see SAMStep)
    write_ids: torch.Tensor            # [B, m'] distinct slots written (merged; weight 0 pads short rows)
    write_weights: torch.Tensor        # [B, m'] their total write weights
    least_used: torch.Tensor           # [B]
    read_ids: torch.Tensor             # [B, R, K] content neighbours found by the index
    read_weights: torch.Tensor         # [B, R, K] content weights c_t (before the read modes)
    reads: torch.Tensor                # [B, R, W]
    query: torch.Tensor                # [B, R, W]
    read_strength_raw: torch.Tensor    # [B, R]
    write_gate: torch.Tensor           # [B, 1] α
    interpolation_gate: torch.Tensor   # [B, 1] γ
    time: int
    rows_before: torch.Tensor | None   # details: [B, m', W]
    usage_before: UsageBefore | None   # details: steps since last access, before this step's accesses (usage.py)
    slot_ids: torch.Tensor             # [B, R, K + 2·K_L] every entry read: content | forward | backward (−1 -> 0)
    mixed_weights: torch.Tensor        # [B, R, K + 2·K_L] w^r_t = π_c c | π_f f | π_b b over slot_ids
    read_modes: torch.Tensor           # [B, R, 3] π per head: (backward, content, forward)
    forward_ids: torch.Tensor          # [B, R, K_L] f_t = N_t w^r_{t−1} as entries (−1: empty)
    forward_weights: torch.Tensor      # [B, R, K_L]
    backward_ids: torch.Tensor         # [B, R, K_L] b_t = P_t w^r_{t−1}
    backward_weights: torch.Tensor     # [B, R, K_L]
    precedence_ids: object             # numpy [B, K_L] p_t's entries after this step's write (−1: empty)
    precedence_values: object          # numpy [B, K_L]


class SDNCMemory(SAMMemory):
    kind = "sdnc"
    sparse = True

    def __init__(self, slots: int, word_size: int, heads: int, k: int = 4, index: str = "exact",
                 link_k: int = 8, initial_rows: str = DEFAULT_INITIAL_ROWS,
                 write_combination: str = sam.DEFAULT_WRITE_COMBINATION,
                 key_strength: str = addressing.DEFAULT_KEY_STRENGTH, access_threshold: float = sam.ACCESS_THRESHOLD,
                 accesses: str = sam.DEFAULT_ACCESS_KIND, dtype: torch.dtype = torch.float32):
        super().__init__(slots, word_size, heads, k=k, index=index, initial_rows=initial_rows,
                         write_combination=write_combination, key_strength=key_strength,
                         access_threshold=access_threshold, accesses=accesses, dtype=dtype)
        if link_k < 1:
            raise ValueError(f"link_k must be ≥ 1; got {link_k}")
        self.link_k = link_k
        self.span = k + 2 * link_k                       # read entries per head
        self.read_sizes = {**self.read_sizes, "read_modes": 3}       # SAM's read pieces + π per head
        self.interface_size = sam.interface_size(heads, self.read_sizes, self.write_sizes)

    def describe(self) -> str:
        return (f"{self.kind} ({self.index_kind} index): {self.slots} slots × {self.word_size}, {self.heads} heads, "
                f"K={self.k}, K_L={self.link_k}")

    def initial_state(self, batch_size: int) -> SDNCState:
        memory = self.new_memory(batch_size)
        links = memory.store.attach(f"links-{self.link_k}",
                                    lambda: SparseLinks(batch_size, self.slots, self.link_k, self.dtype))
        # nothing read before the first step: zero weights (which write nothing and follow no links)
        read_ids = (torch.arange(self.span) % self.slots).expand(batch_size, self.heads, self.span).contiguous()
        read_weights = torch.zeros(batch_size, self.heads, self.span, dtype=self.dtype)
        return SDNCState(memory, links, read_ids, read_weights, 0)

    def step(self, interface: torch.Tensor, state: SDNCState, details: bool = False) -> StepResult:
        """interface [B, interface_size] -> StepResult(reads [B, R·W], SDNCState, SDNCStep).

        details: also copy the rows about to be written and keep the usage before the step (SDNCStep's details
        fields; neither is O(N)).
        """
        memory, links = state.memory, state.links
        batch, heads, k = interface.shape[0], self.heads, self.k
        read, write = self.split(interface.to(self.dtype))

        # write (SAM's rule), then the links and the precedence
        least_used = memory.usage.least_recently_used()                            # [B]
        write_ids, write_weights, write_gate, interpolation = self.write_weights(write, state, least_used)
        # the previous reads name slots several times (heads, content and links, empty entries): write
        # each slot once, so the journal and the index update only the distinct rows
        write_ids, write_weights = merge_entries(write_ids, write_weights)            # [B, m']
        rows_before = memory.buffer[memory._batch, write_ids].clone() if details else None
        memory.write(write_ids, write_weights, write["word"], least_used)
        links.update(write_ids, write_weights, merged=True)

        # read: K content neighbours + K_L forward + K_L backward entries per head, one gather
        query = read["query"]
        content_ids = memory.search(query, k)                                       # [B, R, K]
        forward_ids, forward_weights, backward_ids, backward_weights = links.follow(state.read_ids, state.read_weights)
        slot_ids = torch.cat([content_ids, forward_ids.clamp_min(0), backward_ids.clamp_min(0)], -1)   # [B, R, S]
        rows = memory.read_rows(slot_ids.reshape(batch, -1)).reshape(batch, heads, self.span, self.word_size)
        content_weights, _ = addressing.sparse_read(query.to(rows.dtype), read["strength"].squeeze(-1).to(rows.dtype),
                                                    rows[:, :, :k], self.key_strength)
        modes = torch.softmax(read["read_modes"], dim=-1)                           # [B, R, 3]: b, c, f
        read_weights = addressing.mix_read_modes(modes, backward_weights, content_weights, forward_weights,
                                                 concatenate=True)                  # [B, R, S]
        reads = torch.matmul(read_weights.unsqueeze(-2), rows).squeeze(-2)          # [B, R, W]

        # usage: SAM's least-recently-used bookkeeping over every slot written or read
        self.record_accesses(memory, state.time, write_ids, write_weights, slot_ids, read_weights)
        usage_before = memory.usage.before_last_access(state.time) if details else None   # as the write saw it

        step = SDNCStep(memory, write_ids, write_weights, least_used, content_ids, content_weights, reads, query,
                        read["strength"].squeeze(-1), write_gate, interpolation, state.time, rows_before, usage_before,
                        slot_ids, read_weights, modes, forward_ids, forward_weights, backward_ids, backward_weights,
                        links.precedence_ids, links.precedence_values)
        new_state = SDNCState(memory, links, slot_ids, read_weights, state.time + 1)
        return StepResult(reads.reshape(batch, -1).to(interface.dtype), new_state, step)
