"""The older written rows of a sparse memory, as one approximate nearest-neighbour graph per batch element.

FaissIndex (index.py) answers a SAM or SDNC query from three parts: the rows the memory started from
(index_parts.InitialRows), the rows written recently (index_parts.WrittenRows, searched exactly) and — once a
long episode has written more rows than the recent part holds — the older written rows, here. When a batch
element's recent part is full, its rows move here in one batch (`add`), so each row is inserted into the graph
once per stay, never once per write.

Structure, per batch element: a faiss `IndexHNSWFlat` (M = GRAPH_M, inner product over unit rows = cosine),
searched with a fixed candidate list (efSearch = GRAPH_EF_SEARCH) whatever the number of rows, so a search
costs ~log(rows); internal ids in insertion order, `slot_of` mapping them to slot ids and `graph_id` [B, N]
mapping slots back (−1: not in the graph). HNSW cannot remove a vector, so a row written again is deleted
lazily: its internal id goes into a bitmap the search excludes (a faiss IDSelector inside the graph walk),
and the row itself lives in the recent part until it moves here again under a new id. When deleted ids
outnumber live ones, the graph is rebuilt from its live rows (the paper rebuilt its ANN "every N
insertions"): O(live rows) insertions after at least as many deletions, so O(1) insertions amortised per
write. Nothing per step is O(N); `clear()` is O(rows in the graph).

Shapes: B batch, N slots, W word size, Q queries, n rows.
"""
from __future__ import annotations

import math

import numpy as np
import torch

GRAPH_M = 32                # links per row (twice that on the bottom layer)
GRAPH_EF_CONSTRUCTION = 100 # candidate list while inserting
GRAPH_EF_SEARCH = 256       # candidate list while searching: fixed, so the cost does not grow with the rows
REBUILD_FROM = 1024         # a graph is rebuilt only once it has at least this many deleted ids


class GraphRows:
    """Per batch element, an HNSW graph over written unit rows with lazy deletion and scheduled rebuilds."""

    def __init__(self, batch_size: int, slots: int, word_size: int):
        import faiss  # lazily: the exact index never needs it
        self.faiss = faiss
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        # filled now rather than np.full's lazily mapped pages: see SparseLinks in links.py
        self.graph_id = np.full((batch_size, slots), -1, dtype=np.int32)
        self.graphs = [self._new_graph() for _ in range(batch_size)]
        self.slot_of = [np.zeros(0, dtype=np.int64) for _ in range(batch_size)]
        self.deleted_bits = [np.zeros(0, dtype=np.uint8) for _ in range(batch_size)]
        self.live = np.zeros(batch_size, dtype=np.int64)
        self.deleted = np.zeros(batch_size, dtype=np.int64)
        self.stats = {"rows_added": 0, "rebuilds": 0, "rows_rebuilt": 0}

    def _new_graph(self):
        graph = self.faiss.IndexHNSWFlat(self.word_size, GRAPH_M, self.faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = GRAPH_EF_CONSTRUCTION
        graph.hnsw.efSearch = GRAPH_EF_SEARCH
        return graph

    def rows(self, b: int) -> int:
        """Rows batch element b's graph answers for (its live rows)."""
        return int(self.live[b])

    def contains(self, batch_ids: np.ndarray, slot_ids: np.ndarray) -> np.ndarray:
        return self.graph_id[batch_ids, slot_ids] >= 0

    def add(self, b: int, slot_ids: np.ndarray, unit_rows: torch.Tensor) -> None:
        """Distinct slots of batch element b, none in the graph now, with their unit rows [n, W] (float32)."""
        count = int(slot_ids.shape[0])
        if count == 0:
            return
        graph = self.graphs[b]
        first = graph.ntotal
        graph.add(np.ascontiguousarray(unit_rows.numpy(), dtype=np.float32))
        self.graph_id[b, slot_ids] = np.arange(first, first + count, dtype=np.int32)
        self.slot_of[b] = np.concatenate([self.slot_of[b], slot_ids.astype(np.int64)])
        need = (graph.ntotal + 7) // 8
        if self.deleted_bits[b].shape[0] < need:
            grown = np.zeros(max(need, 2 * self.deleted_bits[b].shape[0]), dtype=np.uint8)
            grown[:self.deleted_bits[b].shape[0]] = self.deleted_bits[b]
            self.deleted_bits[b] = grown
        self.live[b] += count
        self.stats["rows_added"] += count

    def delete(self, batch_ids: np.ndarray, slot_ids: np.ndarray) -> None:
        """These (batch, slot) pairs were written again: their graph entries no longer answer (distinct pairs)."""
        internal = self.graph_id[batch_ids, slot_ids]
        present = internal >= 0
        if not present.any():
            return
        batch_ids, slot_ids, internal = batch_ids[present], slot_ids[present], internal[present]
        self.graph_id[batch_ids, slot_ids] = -1
        for b in np.unique(batch_ids).tolist():
            ids = internal[batch_ids == b]
            np.bitwise_or.at(self.deleted_bits[b], ids >> 3, (1 << (ids & 7)).astype(np.uint8))
            self.live[b] -= ids.shape[0]
            self.deleted[b] += ids.shape[0]
            if self.deleted[b] >= max(REBUILD_FROM, self.live[b]):
                self.rebuild(b)

    def rebuild(self, b: int) -> None:
        """A new graph over batch element b's live rows (their vectors read back from the old graph)."""
        graph = self.graphs[b]
        total = graph.ntotal
        deleted = np.unpackbits(self.deleted_bits[b], bitorder="little")[:total].astype(bool)
        keep = np.flatnonzero(~deleted)
        vectors = graph.reconstruct_batch(keep.astype(np.int64)) if keep.size else np.zeros((0, self.word_size))
        slots = self.slot_of[b][keep]
        self.graphs[b] = self._new_graph()
        self.slot_of[b] = np.zeros(0, dtype=np.int64)
        self.deleted_bits[b] = np.zeros(0, dtype=np.uint8)
        self.live[b] = self.deleted[b] = 0
        self.graph_id[b, slots] = -1
        self.add(b, slots, torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
        self.stats["rows_added"] -= int(slots.shape[0])
        self.stats["rebuilds"] += 1
        self.stats["rows_rebuilt"] += int(slots.shape[0])

    def search(self, b: int, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit queries [Q, W] float32 of batch element b -> (cosines [Q, k], −inf where none; slot ids [Q, k],
        0 there), from the live rows of its graph (deleted ids excluded inside the walk)."""
        count = queries.shape[0]
        graph = self.graphs[b]
        scores = np.full((count, k), -np.inf, dtype=np.float32)
        ids = np.full((count, k), -1, dtype=np.int64)
        if self.live[b] == 0:
            return torch.from_numpy(scores), torch.zeros(count, k, dtype=torch.int64)
        faiss = self.faiss
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(k, GRAPH_EF_SEARCH)
        if self.deleted[b]:
            bits = self.deleted_bits[b]
            dead = faiss.IDSelectorBitmap(graph.ntotal, faiss.swig_ptr(bits))
            params.sel = selector = faiss.IDSelectorNot(dead)   # noqa: F841 (both must outlive the search)
        graph.search(np.ascontiguousarray(queries.numpy()), k, D=scores, I=ids, params=params)
        found = ids >= 0
        slots = np.where(found, self.slot_of[b][np.maximum(ids, 0)], 0)
        scores = np.where(found, scores, -math.inf).astype(np.float32)
        return torch.from_numpy(scores), torch.from_numpy(slots)

    def clear(self) -> None:
        """Empty every graph: O(rows ever added since the last clear)."""
        for b in range(self.batch_size):
            self.graph_id[b, self.slot_of[b]] = -1
            if self.graphs[b].ntotal:
                self.graphs[b] = self._new_graph()
            self.slot_of[b] = np.zeros(0, dtype=np.int64)
            self.deleted_bits[b] = np.zeros(0, dtype=np.uint8)
        self.live[:] = 0
        self.deleted[:] = 0
