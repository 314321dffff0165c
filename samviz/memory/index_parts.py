"""The two parts of FaissIndex's main structure (samviz/memory/index.py): the rows an episode starts from, and
the rows written since.

A SAM or SDNC memory at any step is its known start (initial.py: every batch element and every episode
starts from the same seeded jittered rows, or from zero rows) plus the rows written so far, at most
(K·R + 1)·T of them. So FaissIndex keeps

* `InitialRows`: ONE nearest-neighbour structure over the start's rows, shared by the whole batch and
  cached across episodes (in-process, keyed by N, W, dtype and the start; on disk for the slow builds).
  It is never updated: a written slot is excluded inside the search (a faiss IDSelector over the batch
  element's written slots), because its current row lives in
* `WrittenRows`: per batch element, a compact buffer of the written slot ids and their current unit rows,
  searched exactly by one small matmul; an update overwrites or appends, O(n).

Both parts work on unit rows in float32 (faiss' precision); inputs are normalised by the caller.
Shapes: B batch, N slots, W word size, Q queries per batch element, n rows.
"""
from __future__ import annotations

from collections import OrderedDict
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .initial import INITIAL_MEMORY_JITTER, INITIAL_MEMORY_VALUE, JITTER_SEED, jittered_memory

HNSW_M = 16                 # graph degree of the initial rows' HNSW (2·M links per row on the bottom layer)
HNSW_EF_CONSTRUCTION = 80   # candidate list while building
HNSW_EF_SEARCH = 256        # candidate list while searching (fixed: the cost does not grow with N)
DISK_CACHE_FROM = 1 << 15   # initial-row structures of at least this many slots are also cached on disk
CACHE_ENV = "SAMVIZ_INDEX_CACHE"   # directory of the disk cache; "off" disables it


def _cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                       # not Linux
        return os.cpu_count() or 1


def _cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV)
    if value is not None and value.strip().lower() in ("", "off", "0", "none"):
        return None
    return Path(value) if value else Path.home() / ".cache" / "samviz" / "index"


class InitialRows:
    """The rows an episode starts from, as one structure for every batch element and every episode.

    kind "zero": every row is 0, so every untouched slot scores exactly 0 against any query: no structure.
    kind "jittered": initial.py's rows c·(1 + 0.01·u), u ~ U[0, 1)^W seeded. Their unit vectors all lie in
    one narrow cone around their mean m, so cos(q, r_i) = q̂·m + q̂·(r̂_i − m): the ranking is maximum inner
    product over the tangent vectors t_i = r̂_i − m (norm ~3e-3). They are scaled to unit RMS and held by a
    faiss `IndexHNSWFlat(M=16, METRIC_INNER_PRODUCT)`, searched with a fixed efSearch; a search returns
    cosines q̂·m + scale·(q̂·t_i/scale). Indexing the unit rows themselves (L2 HNSW) lost recall: their
    differences are 1e-3 of their length (measured in FaissIndex's docstring).
    """

    def __init__(self, kind: str, rows: torch.Tensor | None = None, faiss=None):
        self.kind = kind
        self.rows = rows                      # [N, W] in the memory's dtype (what reset compares against)
        self.hnsw = None
        self.build_seconds = 0.0
        self.from_disk = False
        if kind == "jittered":
            self._build(faiss)

    # ---------------------------------------------------------------- building
    def _build(self, faiss) -> None:
        # the structure itself, its disk cache (verified on read) and a build that a leaving visitor can stop:
        # index_cache.py
        from . import index_cache
        self.mean, self.scale, vectors = index_cache.tangent_vectors(self.rows)     # [W] float64, float, [N, W]
        loaded = index_cache.load_or_build(self.rows, vectors, faiss)
        self.hnsw, self.build_seconds = loaded.index, loaded.build_seconds
        self.from_disk = loaded.outcome == "read"
        self.disk_cache = loaded                  # what happened: read back, built or rebuilt (and why), stored
        self.hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        self.mean32 = self.mean.to(torch.float32)

    def search(self, queries: torch.Tensor, k: int,
               exclude: np.ndarray | SlotBitmap | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit queries [M, W] float32 -> (cosines [M, k] float32, −inf where none; slot ids [M, k] int64, −1 =
        none), searched with efSearch max(k, HNSW_EF_SEARCH). exclude: the slots never to answer (the
        written slots of the queries' batch element), as slot ids [n] int64 (an O(n) hash set built per call)
        or a SlotBitmap (WrittenRows keeps one per batch element: read in place, nothing built): the graph is
        still walked through them, but only other rows fill the answer, so a query whose nearest rows were all
        written still gets the best unwritten ones within the fixed budget."""
        import faiss
        count = queries.shape[0]
        scores = np.empty((count, k), dtype=np.float32)
        ids = np.empty((count, k), dtype=np.int64)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(k, HNSW_EF_SEARCH)
        if isinstance(exclude, SlotBitmap):
            if exclude.size:
                written = faiss.IDSelectorBitmap(exclude.bits.shape[0], faiss.swig_ptr(exclude.bits))
                params.sel = selector = faiss.IDSelectorNot(written)   # noqa: F841 (both must outlive the search)
        elif exclude is not None and exclude.size:
            written = faiss.IDSelectorBatch(np.ascontiguousarray(exclude, dtype=np.int64))
            params.sel = selector = faiss.IDSelectorNot(written)   # noqa: F841 (both must outlive the search)
        self.hnsw.search(np.ascontiguousarray(queries.numpy()), k, D=scores, I=ids, params=params)
        cosines = torch.from_numpy(scores) * self.scale + (queries * self.mean32).sum(-1, keepdim=True)
        return cosines.masked_fill(torch.from_numpy(ids) < 0, -math.inf), torch.from_numpy(ids)


# Built structures over initial rows, most recently used last: (slots, width, dtype, kind) -> InitialRows.
_INITIAL_CACHE: OrderedDict[tuple, InitialRows] = OrderedDict()
_INITIAL_CACHE_SIZE = 2


def _looks_jittered(memory: torch.Tensor) -> bool:
    """A cheap first test on one row before the exact comparison (initial.py's value and jitter range)."""
    row = memory[0, 0]
    low, high = INITIAL_MEMORY_VALUE, INITIAL_MEMORY_VALUE * (1 + INITIAL_MEMORY_JITTER)
    return bool(((row >= low * 0.999) & (row <= high * 1.001)).all())


def initial_rows_of(memory: torch.Tensor, faiss) -> InitialRows | None:
    """The shared structure over memory's rows when every batch element holds one of initial.py's starts
    (jittered with JITTER_SEED in memory's dtype, or zero); None otherwise. O(B·N·W) comparisons (a memcmp,
    no k-means); the HNSW over the jittered rows is built once per (N, W, dtype) and cached."""
    batch, slots, width = memory.shape
    memory = memory.detach()
    if _looks_jittered(memory):
        key = (slots, width, memory.dtype, "jittered", JITTER_SEED)
        cached = _INITIAL_CACHE.get(key)
        rows = cached.rows if cached is not None else jittered_memory(1, slots, width, memory.dtype)[0].contiguous()
        if not all(torch.equal(memory[b], rows) for b in range(batch)):
            return None
        if cached is None:
            cached = InitialRows("jittered", rows, faiss)
            _INITIAL_CACHE[key] = cached
            while len(_INITIAL_CACHE) > _INITIAL_CACHE_SIZE:
                _INITIAL_CACHE.popitem(last=False)
        _INITIAL_CACHE.move_to_end(key)
        return cached
    if not bool(memory[:, 0].eq(0).all()) or bool(memory.count_nonzero()):
        return None
    return InitialRows("zero")


# Two cosines within TIE of each other are a tie: a found row tying the exact K-th one counts as found (such rows
# are interchangeable for the read; the trace's recall and samviz.evaluate_scale both count so)
TIE = 1e-6
SEARCH_BLOCK = 64   # WrittenRows: its buffers' capacity and the columns it searches come in whole blocks of this


class SlotBitmap(NamedTuple):
    """A set of slots as faiss' IDSelectorBitmap reads it: slot s is in the set when bit s & 7 of bits[s >> 3]
    is 1 (little-endian bit order)."""
    bits: np.ndarray      # [⌈N/8⌉] uint8, read in place by the search (a row of WrittenRows.bits)
    size: int             # how many slots are in the set


class WrittenRows:
    """Per batch element, the rows written recently, searched exactly, and the set of every slot written so far.

    The recent rows: a compact buffer of slot ids and their current unit rows, position [B, N] int32 mapping a
    slot to its place there (−1: not a recent row). FaissIndex moves a batch element's recent rows to its
    clustered older rows (index_clusters.py) when they reach its recent capacity (`drain`), so the exact search here
    costs at most that capacity per query, whatever the episode's length.
    Every slot written since the start: bits [B, ⌈N/8⌉] uint8 (set at a slot's first write; `excluded`, what
    the jittered start's filtered HNSW walk skips), the same as flags [B, N] bool (what `is_written` and
    `lowest_unwritten` read), `total` [B], and the slots in first-write order (for `clear`). All [B, N] tables
    are made once per index; `clear()` resets only the entries written (O(written)); the buffers grow by
    doubling with the rows held, never with N.
    The bitmap rather than a set of ids built per search: a hash lookup per visited node made the walk ~1.5×
    slower than a bit test (docs/PAPER_NOTES.md, #index).
    """

    def __init__(self, batch_size: int, slots: int, word_size: int):
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        self.position = np.full((batch_size, slots), -1, dtype=np.int32)
        # filled now rather than np.zeros (mapped lazily in huge pages): see SparseLinks in links.py
        self.bits = np.full((batch_size, (slots + 7) // 8), 0, dtype=np.uint8)
        self.flags = np.full((batch_size, slots), False)              # the same set, a byte per slot (lowest_unwritten)
        self.count = np.zeros(batch_size, dtype=np.int64)            # recent rows
        self.total = np.zeros(batch_size, dtype=np.int64)            # slots written since the start
        self.first_writes: list[tuple[np.ndarray, np.ndarray]] = []   # (batch ids, slot ids) per update
        # every slot below cursor[b] is written: the lowest unwritten slots are searched for from there, so
        # finding them costs the slots passed since the last call, not the written count (lowest_unwritten)
        self.cursor = np.zeros(batch_size, dtype=np.int64)
        self.ids = torch.zeros(batch_size, SEARCH_BLOCK, dtype=torch.int64)
        # the unit rows stored as columns [B, W, capacity]: the search's bmm (queries [Q, W] @ [W, n]) runs
        # ~1.5× faster on this layout than on rows [n, W] transposed (measured at n 2,500, B 8, Q 4, W 32)
        self.columns = torch.zeros(batch_size, word_size, SEARCH_BLOCK, dtype=torch.float32)

    @property
    def rows(self) -> torch.Tensor:
        """[B, capacity, W] the recent unit rows in place order (a view of the columns)."""
        return self.columns.transpose(1, 2)

    @property
    def largest(self) -> int:
        """The most recent rows any batch element holds."""
        return int(self.count.max()) if self.batch_size else 0

    @property
    def most_written(self) -> int:
        """The most slots any batch element has written since the start."""
        return int(self.total.max()) if self.batch_size else 0

    def clear(self) -> None:
        for b in range(self.batch_size):
            recent = self.ids[b, :self.count[b]].numpy()
            self.position[b, recent] = -1
        for batch_ids, slot_ids in self.first_writes:
            self.bits[batch_ids, slot_ids >> 3] = 0      # every bit set in these bytes is a written slot
            self.flags[batch_ids, slot_ids] = False
        self.first_writes = []
        self.count[:] = 0
        self.total[:] = 0
        self.cursor[:] = 0

    def drain(self, b: int) -> tuple[np.ndarray, torch.Tensor]:
        """Batch element b's recent rows -> (slot ids [n] int64, unit rows [n, W] float32), leaving none recent;
        they stay written."""
        count = int(self.count[b])
        slots = self.ids[b, :count].numpy().copy()
        rows = self.columns[b, :, :count].T.contiguous()
        self.position[b, slots] = -1
        self.count[b] = 0
        return slots, rows

    def is_written(self, batch_ids: np.ndarray, slot_ids: np.ndarray) -> np.ndarray:
        """Whether each (batch, slot) pair has been written since the start (bool array of their shape)."""
        return self.flags[batch_ids, slot_ids]

    def lowest_unwritten(self, k: int) -> np.ndarray:
        """-> slot ids [B, k] int64: each batch element's k lowest never-written slots, ascending; −1 where fewer
        than k remain (a full memory).

        Each batch element's scan starts at cursor[b] (every slot below it is written) and moves the cursor to the
        first unwritten slot it meets. Slots only become written between clears, so the cursor never moves back:
        O(k + slots passed) per call, never O(N) and not O(written). A plain loop: it looks at a few slots per
        batch element, fewer than one numpy call's fixed overhead is worth (this runs on most steps).
        """
        found = np.full((self.batch_size, k), -1, dtype=np.int64)
        for b in range(self.batch_size):
            row, slot, end = self.flags[b], int(self.cursor[b]), self.slots
            while slot < end and row[slot]:
                slot += 1
            self.cursor[b] = slot
            got = 0
            while got < k and slot < end:
                if not row[slot]:
                    found[b, got] = slot
                    got += 1
                slot += 1
        return found

    def excluded(self, b: int) -> SlotBitmap:
        """Batch element b's written slots as a bitmap for InitialRows.search (a view: no copy)."""
        return SlotBitmap(self.bits[b], int(self.total[b]))

    def update(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, unit_rows: torch.Tensor) -> None:
        """Distinct (batch, slot) pairs [n], [n] now hold unit_rows [n, W] (float32): recent rows from now on."""
        b_np, s_np = batch_ids.numpy(), slot_ids.numpy()
        places = self.position[b_np, s_np].astype(np.int64)
        new = places < 0
        if new.any():
            first = new & ~self.is_written(b_np, s_np)                  # never written since the start
            if first.any():
                first_b, first_s = b_np[first], s_np[first]
                np.bitwise_or.at(self.bits, (first_b, first_s >> 3), (1 << (first_s & 7)).astype(np.uint8))
                self.flags[first_b, first_s] = True
                self.total += np.bincount(first_b, minlength=self.batch_size)
                self.first_writes.append((first_b, first_s))
                if len(self.first_writes) >= 256:                # few large arrays, not one per step
                    self.first_writes = [tuple(map(np.concatenate, zip(*self.first_writes, strict=True)))]
            new_b = b_np[new]
            order = np.argsort(new_b, kind="stable")
            per_batch = np.bincount(new_b, minlength=self.batch_size)
            starts = np.cumsum(per_batch) - per_batch
            rank = np.empty(len(new_b), dtype=np.int64)
            rank[order] = np.arange(len(new_b)) - starts[new_b[order]]
            assigned = self.count[new_b] + rank
            places[new] = assigned
            self.position[new_b, s_np[new]] = assigned
            self.count += per_batch
            if self.largest > self.ids.shape[1]:
                self._grow(-(-max(self.largest, 2 * self.ids.shape[1]) // SEARCH_BLOCK) * SEARCH_BLOCK)
            self.ids[torch.from_numpy(new_b), torch.from_numpy(assigned)] = slot_ids[torch.from_numpy(new)]
        self.columns[batch_ids, :, torch.from_numpy(places)] = unit_rows

    def _grow(self, capacity: int) -> None:
        ids = torch.zeros(self.batch_size, capacity, dtype=torch.int64)
        columns = torch.zeros(self.batch_size, self.word_size, capacity, dtype=torch.float32)
        old = self.ids.shape[1]
        ids[:, :old], columns[:, :, :old] = self.ids, self.columns
        self.ids, self.columns = ids, columns

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit queries [B, Q, W] -> (cosines [B, Q, k], −inf where fewer rows were written; slot ids [B, Q, k],
        0 there); exact. One bmm over the first `largest` places of every batch element, the places past a
        batch element's own count masked to −inf (they may hold stale rows from before a clear), then one
        topk: a loop of B matmuls and topks cost ~45 µs per batch element per step in call overhead (0.35 ms
        per step at B 8, T 1,000). A batch element's scores come from its own rows only; the padding can
        change a score's last bit when the width changes with other batch elements; searching whole blocks
        (below) keeps the bits (measured for widths 64 to 1,024 columns: W 8-64 with 1-16 queries, not W 4
        with one query)."""
        batch, count = queries.shape[0], queries.shape[1]
        used = self.largest
        if used == 0:
            return torch.full((batch, count, k), -math.inf), torch.zeros(batch, count, k, dtype=torch.int64)
        # whole blocks of SEARCH_BLOCK columns: the BLAS kernel then computes every column the same way however
        # many rows the fullest batch element holds, so other batch elements never change a score's last bit
        # (which decides near-ties: a non-finite batch element writing more rows changed the others' reads)
        used = min(-(-used // SEARCH_BLOCK) * SEARCH_BLOCK, self.columns.shape[2])
        scores = torch.bmm(queries, self.columns[:, :, :used])                                 # [B, Q, used]
        if int(self.count.min()) < used:                     # places past a batch element's count: stale rows
            unused = torch.arange(used) >= torch.from_numpy(self.count).unsqueeze(1)         # [B, used]
            scores.masked_fill_(unused.unsqueeze(1), -math.inf)
        top, places = torch.topk(scores, min(k, used), dim=-1)                               # [B, Q, ≤k]
        ids = torch.gather(self.ids[:, :used].unsqueeze(1).expand(-1, count, -1), 2, places)
        ids.masked_fill_(top == -math.inf, 0)
        if used < k:
            top = torch.cat([top, torch.full((batch, count, k - used), -math.inf)], -1)
            ids = torch.cat([ids, torch.zeros(batch, count, k - used, dtype=torch.int64)], -1)
        return top, ids
