"""Nearest-neighbour indexes over memory rows, by cosine similarity (SAM's read: the K most similar rows).

Shapes: B batch (one index per batch element), N slots, W word size, Q queries per index, n updated rows.

Two backends behind one interface (`MemoryIndex`):

* `ExactIndex` ("exact", the paper's "SAM linear"): keeps a reference to the model's memory and cached
  inverse row norms; a search is one bmm + scale + topk, O(N) per query, exact.
* `FaissIndex` ("faiss"): an inverted-file index (faiss `IndexIVFFlat`, inner product on L2-normalised
  rows) per batch element, updated row by row in O(n); see its docstring for the structure and numbers.

Similarity, the same for both (and for the test's `F.cosine_similarity`): each vector is divided by
max(‖v‖, EPSILON), so a zero row or query scores 0 against everything, never NaN. Use `cosine_scores` to
compute the exact reference the indexes agree with.
"""
from __future__ import annotations

import math
import zlib
from collections import OrderedDict

import numpy as np
import torch

EPSILON = 1e-8   # norm floor, as torch.nn.functional.cosine_similarity


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by max(norm, EPSILON): unit rows, zero rows stay zero."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(EPSILON)


def cosine_scores(queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """The similarity both indexes rank by: queries [B, Q, W], memory [B, N, W] -> [B, Q, N]."""
    return torch.bmm(normalise(queries), normalise(memory).transpose(1, 2))


def last_occurrence(batch_ids: torch.Tensor, slot_ids: torch.Tensor, slots: int) -> torch.Tensor:
    """Positions of the last occurrence of each distinct (batch, slot) pair, O(n log n) in the n pairs."""
    keys = batch_ids.long() * slots + slot_ids.long()
    unique, inverse = torch.unique(keys, return_inverse=True)
    if unique.numel() == keys.numel():
        return torch.arange(keys.numel())
    positions = torch.arange(keys.numel())
    last = torch.full((unique.numel(),), -1, dtype=torch.long)
    return last.scatter_reduce_(0, inverse, positions, reduce="amax")


def recall_at_k(found: torch.Tensor, exact: torch.Tensor) -> float:
    """Mean over queries of the fraction of the exact top-k ids that are present in found ([..., k] each)."""
    found = found.reshape(-1, found.shape[-1])
    exact = exact.reshape(-1, exact.shape[-1])
    hits = (exact.unsqueeze(-1) == found.unsqueeze(-2)).any(-1)          # [M, k]
    return float(hits.float().mean()) if hits.numel() else 1.0


class MemoryIndex:
    """Finds, for each query, the k memory rows (slot ids) with the highest cosine similarity."""

    name = "abstract"

    def __init__(self, batch_size: int, slots: int, word_size: int):
        if batch_size < 1 or slots < 1 or word_size < 1:
            raise ValueError(f"batch_size, slots and word_size must be positive, got {batch_size, slots, word_size}")
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size

    def reset(self, memory: torch.Tensor) -> None:
        """memory [B, N, W]: index it from scratch (start of an episode; O(N) allowed)."""
        raise NotImplementedError

    def update(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        """Rows (batch_ids[i], slot_ids[i]) of the memory now hold rows[i] ([n], [n], [n, W]); last one wins."""
        raise NotImplementedError

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        """queries [B, Q, W] -> slot ids [B, Q, k], most cosine-similar first."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def _check_search(self, queries: torch.Tensor, k: int) -> None:
        if queries.dim() != 3 or queries.shape[0] != self.batch_size or queries.shape[2] != self.word_size:
            raise ValueError(f"queries must be [{self.batch_size}, Q, {self.word_size}], got {tuple(queries.shape)}")
        if not 1 <= k <= self.slots:
            raise ValueError(f"k must be in 1..{self.slots}, got {k}")

    def _check_memory(self, memory: torch.Tensor) -> None:
        if tuple(memory.shape) != (self.batch_size, self.slots, self.word_size):
            raise ValueError(f"memory must be [{self.batch_size}, {self.slots}, {self.word_size}], "
                             f"got {tuple(memory.shape)}")


class ExactIndex(MemoryIndex):
    """SAM linear: exact top-k by cosine, one bmm over every row (O(N) per query, by design).

    Keeps a reference to the memory given to `reset` (the model edits it in place) and caches the inverse
    row norms [B, N]; `update` refreshes only the n norms of the rows named, so a search is
    bmm(normalised queries, memoryᵀ) · inverse norms, then topk.
    """

    name = "exact"

    def reset(self, memory: torch.Tensor) -> None:
        self._check_memory(memory)
        self.memory = memory
        self.inverse_norms = 1.0 / torch.linalg.vector_norm(memory.detach(), dim=-1).clamp_min(EPSILON)

    def update(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        if batch_ids.numel() == 0:
            return
        keep = last_occurrence(batch_ids, slot_ids, self.slots)
        norms = torch.linalg.vector_norm(rows.detach()[keep], dim=-1).clamp_min(EPSILON)
        self.inverse_norms[batch_ids[keep].long(), slot_ids[keep].long()] = (1.0 / norms).to(self.inverse_norms.dtype)

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        self._check_search(queries, k)
        memory = self.memory.detach()
        scores = torch.bmm(normalise(queries.detach().to(memory.dtype)), memory.transpose(1, 2))
        scores.mul_(self.inverse_norms.unsqueeze(1))
        return torch.topk(scores, k, dim=-1).indices

    def describe(self) -> str:
        return f"exact (torch bmm + topk over all {self.slots} rows)"


# --------------------------------------------------------------------------------------------- faiss

def _faiss():
    import faiss   # imported lazily: the exact path and the app's UI never need it
    return faiss


def default_nlist(slots: int) -> int:
    """Inverted lists: 4·√N rounded to a power of two (N = 2^20 -> 4096, 10^5 -> 1024)."""
    return max(16, 2 ** round(math.log2(4 * math.sqrt(slots))))


def default_nprobe(nlist: int) -> int:
    """Lists probed per query: an eighth of the lists, at least 16, at most 256 (see FaissIndex)."""
    return int(min(nlist, max(16, min(256, nlist // 8))))


# Built centroids and list assignments for recently indexed memories, keyed by their content. SAM starts
# every episode (and every batch element) from the same jittered initial memory: a new episode then costs a
# copy, not a k-means and an O(N·nlist) assignment. Only list choices come from the cache, the vectors
# always come from the memory itself, so a stale entry could only cost recall, never correctness.
_BUILD_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_BUILD_CACHE_SIZE = 2


class FaissIndex(MemoryIndex):
    """Approximate top-k by cosine with faiss: one inverted-file index per batch element.

    Structure (N ≥ `flat_below`, default 4096):
      * rows are L2-normalised (zero rows stay zero) and stored in a faiss `IndexIVFFlat` with
        METRIC_INNER_PRODUCT, so inner product = cosine; ids are the slot ids (rows added in slot order);
      * nlist = 4·√N inverted lists (a power of two: 4096 at N = 2^20, 1024 at 10^5), nprobe = nlist/8
        (16..256) lists scanned per query, capped at `max_codes` = 2·nprobe·N/nlist rows so a skewed list
        cannot make a query O(N);
      * one set of centroids shared by the B indexes (spherical k-means, faiss.Kmeans, on at most
        32·nlist rows pooled over the batch, 10 iterations). Coarse quantisation of all B·Q queries and
        of all updated rows is then one torch matmul against the centroids; faiss only scans lists
        (`search_preassigned`) and moves rows between lists;
      * a changed row is re-assigned to its nearest centroid and moved with
        `DirectMap(Array).update_codes`: swap-remove from its old list, append to the new one — O(n·nlist·W)
        for the assignment matmul and O(n) list edits; nothing in update() touches all N rows;
      * centroids go stale as the memory drifts away from what they were trained on, so every index is
        rebuilt (retrain + re-add, O(N)) after `rebuild_every` (default N, as the paper rebuilt after N
        insertions) row updates per index on average: O(1) amortised per update;
      * degenerate memory (e.g. many identical rows, which k-means cannot split): at a build, a list that
        would hold more than 8× its share keeps its share and the extra rows are spread over lists by
        slot id; zero rows are always spread by slot id. Identical rows tie, so any of them is a correct
        answer. SAM initialises its memory with small jittered rows (journal.py), which k-means does split.
      * any query whose probed lists hold fewer than k rows is answered by an exhaustive scan.
    For N < `flat_below` an exact `IndexFlatIP` per batch element is used (cheaper than IVF there).

    Why this structure (measured on random N(0, 1) rows and queries, W = 32, k = 4, one thread, on a
    loaded 2-core machine, scripts/index_recall.py): HNSW (faiss IndexHNSWFlat, M = 16) needs efSearch
    ≈ 128 for recall 0.95 at N = 10^5 and ~0.4 ms per inserted row, with no removal (lazy deletion +
    rebuilds); an IVF update is a list edit. Random 32-d data has no cluster structure, so any
    partition must scan a sizeable fraction of rows for recall ≥ 0.9: with nlist = 4·√N the probe
    fraction needed falls as N grows, and the per-query cost grows as √N, never as N. See the class
    attribute `MEASURED` for the figures.
    """

    name = "faiss"
    MEASURED = "see scripts/index_recall.py"

    def __init__(self, batch_size: int, slots: int, word_size: int, *, nlist: int | None = None,
                 nprobe: int | None = None, flat_below: int = 4096, rebuild_every: int | None = None,
                 train_per_list: int = 32, kmeans_iterations: int = 10, seed: int = 0, use_cache: bool = True):
        super().__init__(batch_size, slots, word_size)
        self.faiss = _faiss()
        self.flat = slots < flat_below or (nlist is not None and nlist <= 1)
        self.nlist = 1 if self.flat else int(nlist or default_nlist(slots))
        self.nprobe = self.nlist if self.flat else int(min(self.nlist, nprobe or default_nprobe(self.nlist)))
        self.max_codes = 0 if self.flat else 2 * self.nprobe * math.ceil(slots / self.nlist)
        self.rebuild_every = int(rebuild_every or slots)
        self.train_per_list, self.kmeans_iterations, self.seed = train_per_list, kmeans_iterations, seed
        self.use_cache = use_cache
        self.indexes: list = []
        self.last_stats = {"builds": 0, "scheduled_rebuilds": 0, "cache_hits": 0, "updates": 0,
                           "updates_since_build": 0, "spread_rows": 0, "exhaustive_queries": 0,
                           "rows_scanned_per_query": 0.0, "largest_list": 0}

    # ---------------------------------------------------------------- building
    def reset(self, memory: torch.Tensor) -> None:
        self._check_memory(memory)
        self.last_stats["updates_since_build"] = 0
        if self.flat:
            self._build_flat(memory)
        else:
            self._build_ivf(lambda b: memory[b])

    def _rows32(self, rows: torch.Tensor) -> np.ndarray:
        """Normalised float32 C-contiguous numpy copy of rows [.., W]."""
        return normalise(rows.detach().to(torch.float32)).contiguous().numpy()

    def _build_flat(self, memory: torch.Tensor) -> None:
        faiss = self.faiss
        self.indexes, self.vectors = [], []
        for b in range(self.batch_size):
            index = faiss.IndexFlatIP(self.word_size)
            index.add(self._rows32(memory[b]))
            # a writable numpy view of the index's own storage: updates overwrite rows in place, O(n)
            view = faiss.rev_swig_ptr(index.get_xb(), self.slots * self.word_size).reshape(self.slots, self.word_size)
            self.indexes.append(index)
            self.vectors.append(view)
        self.last_stats["builds"] += 1

    def _train(self, row_source) -> torch.Tensor:
        """Spherical k-means centroids [nlist, W] from at most train_per_list·nlist rows pooled over the batch."""
        faiss = self.faiss
        generator = torch.Generator().manual_seed(self.seed)
        per_batch = min(self.slots, max(1, self.train_per_list * self.nlist // self.batch_size))
        sample = []
        for b in range(self.batch_size):
            ids = torch.randperm(self.slots, generator=generator)[:per_batch]
            sample.append(self._rows32(row_source(b)[ids]))
        sample = np.ascontiguousarray(np.concatenate(sample))
        kmeans = faiss.Kmeans(self.word_size, self.nlist, niter=self.kmeans_iterations, spherical=True,
                              seed=self.seed + 1, max_points_per_centroid=10 ** 9, verbose=False)
        kmeans.cp.min_points_per_centroid = 1          # a small pool is fine (no warning spam)
        kmeans.train(sample)
        return torch.from_numpy(kmeans.centroids.copy())

    def _assign_all(self, vectors: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """Nearest centroid of every row (N·nlist·W, at a build only), then the degenerate-list guard."""
        x = torch.from_numpy(vectors)
        assign = torch.empty(self.slots, dtype=torch.int64)
        for start in range(0, self.slots, chunk):
            assign[start:start + chunk] = (x[start:start + chunk] @ self.centroids.T).argmax(-1)
        zero = torch.linalg.vector_norm(x, dim=-1) < 0.5
        slots = torch.arange(self.slots)
        assign[zero] = slots[zero] % self.nlist
        # degenerate guard: lists over 8× their share keep that many rows, the rest are spread by slot id
        cap = 8 * math.ceil(self.slots / self.nlist)
        order = torch.argsort(assign, stable=True)
        sizes = torch.bincount(assign, minlength=self.nlist)
        starts = torch.cumsum(sizes, 0) - sizes
        rank = torch.empty_like(assign)
        rank[order] = torch.arange(self.slots) - starts[assign[order]]
        over = rank >= cap
        if bool(over.any()):
            assign[over] = slots[over] % self.nlist
            self.last_stats["spread_rows"] += int(over.sum())
        return assign.numpy()

    def _build_ivf(self, row_source) -> None:
        """Train (or reuse) the shared centroids and fill the B inverted-file indexes: O(N·nlist·W)."""
        faiss = self.faiss
        vectors = [self._rows32(row_source(b)) for b in range(self.batch_size)]
        keys = tuple((zlib.crc32(v), zlib.adler32(v)) for v in vectors)
        cache_key = (self.slots, self.word_size, self.nlist, self.train_per_list, self.kmeans_iterations,
                     self.seed, keys)
        cached = _BUILD_CACHE.get(cache_key) if self.use_cache else None
        if cached is not None:
            _BUILD_CACHE.move_to_end(cache_key)
            self.centroids, assignments = cached
            self.last_stats["cache_hits"] += 1
        else:
            self.centroids = self._train(lambda b: torch.from_numpy(vectors[b]))
            assignments = {}
            for key, v in zip(keys, vectors):
                if key not in assignments:
                    assignments[key] = self._assign_all(v)
            if self.use_cache:
                _BUILD_CACHE[cache_key] = (self.centroids, assignments)
                while len(_BUILD_CACHE) > _BUILD_CACHE_SIZE:
                    _BUILD_CACHE.popitem(last=False)
        self.quantizer = faiss.IndexFlatIP(self.word_size)      # shared; used only for exhaustive fallback
        self.quantizer.add(self.centroids.numpy())
        self.indexes = []
        for key, v in zip(keys, vectors):
            index = faiss.IndexIVFFlat(self.quantizer, self.word_size, self.nlist, faiss.METRIC_INNER_PRODUCT)
            index.set_direct_map_type(faiss.DirectMap.Array)
            assign = np.ascontiguousarray(assignments[key], dtype=np.int64)
            index.add_core(self.slots, faiss.swig_ptr(v), None, faiss.swig_ptr(assign))
            index.nprobe, index.max_codes = self.nprobe, self.max_codes
            self.indexes.append(index)
        self.last_stats["builds"] += 1
        self.last_stats["largest_list"] = self.largest_list()

    def _rebuild(self) -> None:
        """Scheduled rebuild: retrain the centroids on the rows as they are now and refill every list (O(N))."""
        current = [self.indexes[b].reconstruct_n(0, self.slots) for b in range(self.batch_size)]
        self._build_ivf(lambda b: torch.from_numpy(current[b]))
        self.last_stats["scheduled_rebuilds"] += 1
        self.last_stats["updates_since_build"] = 0

    # ---------------------------------------------------------------- updating
    def update(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        if batch_ids.numel() == 0:
            return
        keep = last_occurrence(batch_ids, slot_ids, self.slots)
        batch_ids, slot_ids = batch_ids[keep].long(), slot_ids[keep].long()
        vectors = normalise(rows.detach()[keep].to(torch.float32)).contiguous()
        n = int(slot_ids.numel())
        self.last_stats["updates"] += n
        self.last_stats["updates_since_build"] += n
        if self.flat:
            b_np, s_np, v_np = batch_ids.numpy(), slot_ids.numpy(), vectors.numpy()
            for b in np.unique(b_np):
                mask = b_np == b
                self.vectors[b][s_np[mask]] = v_np[mask]
            return
        lists = (vectors @ self.centroids.T).argmax(-1)
        zero = torch.linalg.vector_norm(vectors, dim=-1) < 0.5
        lists = torch.where(zero, slot_ids % self.nlist, lists)
        order = torch.argsort(batch_ids, stable=True)
        batch_sorted = batch_ids[order]
        ids = slot_ids[order].contiguous().numpy()
        lists = lists[order].contiguous().numpy()
        codes = vectors[order].contiguous().numpy().view(np.uint8)
        counts = torch.bincount(batch_sorted, minlength=self.batch_size).tolist()
        swig_ptr, start = self.faiss.swig_ptr, 0
        for b, count in enumerate(counts):
            if count:
                index = self.indexes[b]
                index.direct_map.update_codes(index.invlists, count, swig_ptr(ids[start:]),
                                              swig_ptr(lists[start:]), swig_ptr(codes[start:]))
                start += count
        if self.last_stats["updates_since_build"] >= self.rebuild_every * self.batch_size:
            self._rebuild()

    # ---------------------------------------------------------------- searching
    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        self._check_search(queries, k)
        faiss = self.faiss
        q = normalise(queries.detach().to(torch.float32)).contiguous()
        batch, count = q.shape[0], q.shape[1]
        found = np.empty((batch, count, k), dtype=np.int64)
        scores = np.empty((batch, count, k), dtype=np.float32)
        q_np = q.numpy()
        if self.flat:
            for b in range(batch):
                self.indexes[b].search(q_np[b], k, D=scores[b], I=found[b])
            return torch.from_numpy(found)
        coarse_scores, coarse_lists = torch.topk(q @ self.centroids.T, self.nprobe, dim=-1)   # [B, Q, nprobe]
        coarse_scores = coarse_scores.contiguous().numpy()
        coarse_lists = coarse_lists.contiguous().numpy()
        swig_ptr = faiss.swig_ptr
        stats = faiss.cvar.indexIVF_stats
        stats.reset()
        for b in range(batch):
            self.indexes[b].search_preassigned_c(count, swig_ptr(q_np[b]), k, swig_ptr(coarse_lists[b]),
                                                 swig_ptr(coarse_scores[b]), swig_ptr(scores[b]),
                                                 swig_ptr(found[b]), False)
        self.last_stats["rows_scanned_per_query"] = stats.ndis / max(1, batch * count)
        missing = np.argwhere((found < 0).any(-1))
        for b, i in missing:          # probed lists held fewer than k rows: scan everything for this query
            index = self.indexes[b]
            index.nprobe, index.max_codes = self.nlist, 0
            try:
                index.search(q_np[b, i:i + 1], k, D=scores[b, i:i + 1], I=found[b, i:i + 1])
            finally:
                index.nprobe, index.max_codes = self.nprobe, self.max_codes
            self.last_stats["exhaustive_queries"] += 1
        return torch.from_numpy(found)

    # ---------------------------------------------------------------- reporting
    def largest_list(self) -> int:
        if self.flat or not self.indexes:
            return self.slots if self.indexes else 0
        return max(max(index.invlists.list_size(i) for i in range(self.nlist)) for index in self.indexes)

    def describe(self) -> str:
        if self.flat:
            return (f"faiss IndexFlatIP ×{self.batch_size} (exact: {self.slots} slots < flat threshold), "
                    "cosine = inner product of L2-normalised rows")
        s = self.last_stats
        return (f"faiss IndexIVFFlat ×{self.batch_size}, inner product of L2-normalised rows: "
                f"{self.nlist} lists (~{self.slots // self.nlist} rows each, shared centroids), "
                f"nprobe {self.nprobe}, ≤{self.max_codes} rows scanned per query; "
                f"rebuilt every {self.rebuild_every} updates per index "
                f"({s['builds']} builds, {s['scheduled_rebuilds']} scheduled, {s['cache_hits']} from cache)")


INDEXES = {"exact": ExactIndex, "faiss": FaissIndex}


def make_index(kind: str, batch_size: int, slots: int, word_size: int, **options) -> MemoryIndex:
    """"exact" | "faiss" -> a MemoryIndex; options go to the FaissIndex constructor (nlist, nprobe, ...)."""
    if kind not in INDEXES:
        raise ValueError(f"unknown index {kind!r}; choose one of {sorted(INDEXES)}")
    return INDEXES[kind](batch_size, slots, word_size, **options)
