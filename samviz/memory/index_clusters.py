"""The older written rows of a sparse memory, as one inverted file (clusters of rows) per batch element.

FaissIndex (index.py) answers a SAM or SDNC query from three parts: the rows the memory started from
(index_parts.InitialRows), the rows written recently (index_parts.WrittenRows, searched exactly) and — once a
long episode has written more rows than the recent part holds — the older written rows, here. When a batch
element's recent part is full, its rows move here in one batch (`add`).

Structure, per batch element: a faiss `IndexIVFFlat` (inner product over unit rows = cosine) whose ids are the
slot ids themselves, with a hash-table direct map so that a row written again is removed from its list in
O(1) (`delete`: swapped with its list's last entry). Its rows are grouped into ~rows / CLUSTER_ROWS lists by
k-means; a search compares the query with every list's centroid and scans the CLUSTER_PROBES best lists
exactly: lists hold CLUSTER_ROWS/√2 to CLUSTER_ROWS·√2 rows each when they are made (`lists_for` rounds to a
power of two) and up to twice that before they are made again, so a search reads a bounded number of rows
whatever the number of rows (up to MAX_LISTS × CLUSTER_ROWS rows), from contiguous arrays (an HNSW walk over
the same rows reads as many rows at random places, and waits on memory for each: docs/MEASUREMENT_HISTORY.md,
"Clusters instead of a graph"). The lists are re-clustered from their live rows
(`rebuild`) once as many rows have been added since the last clustering as it was made from — the paper
rebuilt its ANN "every N insertions" — so k-means sees the rows the memory holds now and a rebuild's
O(rows) work is paid once per as many insertions. Nothing per step is O(N); `clear()` is O(rows held).

Shapes: B batch, N slots, W word size, Q queries, n rows.
"""
from __future__ import annotations

import math

import numpy as np
import torch

CLUSTER_ROWS = 64       # rows per list the clustering aims at: lists = rows / CLUSTER_ROWS (a power of two)
CLUSTER_PROBES = 64     # lists scanned per search (all of them while there are fewer): a fixed budget
MAX_LISTS = 4096        # k-means cost grows with rows × lists; past ~260,000 rows the lists grow instead
KMEANS_ITERATIONS = 10
KMEANS_SAMPLE_PER_LIST = 32  # k-means runs on at most this many rows per list (a random sample, fixed seed)


def lists_for(rows: int) -> int:
    """The number of lists for a clustering of `rows` rows: the power of two nearest rows / CLUSTER_ROWS,
    between 1 and MAX_LISTS."""
    if rows < 2 * CLUSTER_ROWS:
        return 1
    return min(MAX_LISTS, 1 << round(math.log2(rows / CLUSTER_ROWS)))


class ClusteredRows:
    """Per batch element, an inverted file over written unit rows: O(1) removals, re-clustered as it grows."""

    def __init__(self, batch_size: int, slots: int, word_size: int):
        import faiss  # lazily: the exact index never needs it
        self.faiss = faiss
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        self.held = np.zeros((batch_size, slots), dtype=bool)     # slot in batch element b's lists now
        self.files = [None] * batch_size                            # faiss IndexIVFFlat per batch element
        self.probes = [None] * batch_size                           # its search parameters (lists scanned)
        self.live = np.zeros(batch_size, dtype=np.int64)            # rows held
        self.clustered_from = np.zeros(batch_size, dtype=np.int64)  # rows the current clustering was made from
        self.added_since = np.zeros(batch_size, dtype=np.int64)     # rows added since that clustering
        self.stats = {"rows_added": 0, "rebuilds": 0, "rows_rebuilt": 0}

    def rows(self, b: int) -> int:
        """Rows batch element b's lists answer for."""
        return int(self.live[b])

    def contains(self, batch_ids: np.ndarray, slot_ids: np.ndarray) -> np.ndarray:
        return self.held[batch_ids, slot_ids]

    def lists(self, b: int) -> int:
        """Batch element b's number of lists (0 while it holds nothing)."""
        return 0 if self.files[b] is None else int(self.files[b].nlist)

    def _cluster(self, b: int, slot_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Batch element b's lists made anew by k-means over these rows (all it holds), then filled with them."""
        faiss = self.faiss
        count = int(slot_ids.shape[0])
        nlist = lists_for(count)
        quantizer = faiss.IndexFlatIP(self.word_size)
        inverted = faiss.IndexIVFFlat(quantizer, self.word_size, nlist, faiss.METRIC_INNER_PRODUCT)
        inverted.cp.niter = KMEANS_ITERATIONS
        inverted.cp.min_points_per_centroid = 1                      # a small clustering is fine, not a warning
        inverted.cp.max_points_per_centroid = KMEANS_SAMPLE_PER_LIST
        inverted.cp.seed = 1234 + b                                  # the same rows always give the same lists
        inverted.train(vectors)
        inverted.set_direct_map_type(faiss.DirectMap.Hashtable)
        inverted.add_with_ids(vectors, slot_ids.astype(np.int64))
        self.files[b] = inverted
        self.probes[b] = self.faiss.SearchParametersIVF()
        self.probes[b].nprobe = min(nlist, CLUSTER_PROBES)
        self.clustered_from[b], self.added_since[b] = count, 0

    def _held_rows(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch element b's held (slot ids [n], unit rows [n, W]), read from its lists: O(rows + lists)."""
        inverted = self.files[b]
        if inverted is None:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.word_size), dtype=np.float32)
        lists = inverted.invlists
        ids, rows = [], []
        for number in range(inverted.nlist):
            size = lists.list_size(number)
            if size:
                ids.append(self.faiss.rev_swig_ptr(lists.get_ids(number), size).copy())
                codes = self.faiss.rev_swig_ptr(lists.get_codes(number), size * inverted.code_size)
                rows.append(np.frombuffer(codes, dtype=np.float32).reshape(size, self.word_size).copy())
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.word_size), dtype=np.float32)
        return np.concatenate(ids), np.concatenate(rows)

    def add(self, b: int, slot_ids: np.ndarray, unit_rows: torch.Tensor) -> None:
        """Distinct slots of batch element b, none held now, with their unit rows [n, W] (float32)."""
        count = int(slot_ids.shape[0])
        if count == 0:
            return
        vectors = np.ascontiguousarray(unit_rows.numpy(), dtype=np.float32)
        self.held[b, slot_ids] = True
        self.live[b] += count
        self.stats["rows_added"] += count
        if self.files[b] is None:
            self._cluster(b, slot_ids, vectors)
            return
        self.added_since[b] += count
        if self.added_since[b] >= self.clustered_from[b]:           # as many new rows as it was made from
            self.rebuild(b, extra=(slot_ids, vectors))
            return
        self.files[b].add_with_ids(vectors, slot_ids.astype(np.int64))

    def delete(self, batch_ids: np.ndarray, slot_ids: np.ndarray) -> None:
        """These (batch, slot) pairs were written again: removed from their lists (distinct pairs)."""
        present = self.held[batch_ids, slot_ids]
        if not present.any():
            return
        batch_ids, slot_ids = batch_ids[present], slot_ids[present]
        self.held[batch_ids, slot_ids] = False
        for b in np.unique(batch_ids).tolist():
            ids = np.ascontiguousarray(slot_ids[batch_ids == b], dtype=np.int64)
            self.files[b].remove_ids(self.faiss.IDSelectorArray(ids.shape[0], self.faiss.swig_ptr(ids)))
            self.live[b] -= ids.shape[0]

    def rebuild(self, b: int, extra: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Batch element b's lists re-clustered from the rows they hold (and `extra` (slot ids, rows) to add)."""
        slot_ids, vectors = self._held_rows(b)
        if extra is not None:
            slot_ids, vectors = np.concatenate([slot_ids, extra[0]]), np.concatenate([vectors, extra[1]])
        self.files[b] = self.probes[b] = None
        if slot_ids.shape[0]:
            self._cluster(b, slot_ids, np.ascontiguousarray(vectors))
        self.stats["rebuilds"] += 1
        self.stats["rows_rebuilt"] += int(slot_ids.shape[0])

    def search(self, b: int, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit queries [Q, W] float32 of batch element b -> (cosines [Q, k], −inf where none; slot ids [Q, k],
        0 there), from the rows its lists hold (the CLUSTER_PROBES lists nearest each query)."""
        count = queries.shape[0]
        inverted = self.files[b]
        if self.live[b] == 0 or inverted is None:
            return torch.full((count, k), -math.inf), torch.zeros(count, k, dtype=torch.int64)
        scores, ids = inverted.search(np.ascontiguousarray(queries.numpy()), k, params=self.probes[b])
        missing = ids < 0                                # fewer than k rows held: faiss pads with −1
        if missing.any():
            scores[missing], ids[missing] = -math.inf, 0
        return torch.from_numpy(scores), torch.from_numpy(ids)

    def clear(self) -> None:
        """Empty every batch element's lists: O(rows held)."""
        for b in range(self.batch_size):
            if self.files[b] is not None:
                slot_ids, _ = self._held_rows(b)
                self.held[b, slot_ids] = False
                self.files[b] = self.probes[b] = None
        self.live[:] = 0
        self.clustered_from[:] = 0
        self.added_since[:] = 0
