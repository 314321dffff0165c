"""Nearest-neighbour indexes over memory rows, by cosine similarity (SAM's read: the K most similar rows).

Shapes: B batch (one index per batch element), N slots, W word size, Q queries per index, n updated rows.

Two backends behind one interface (`MemoryIndex`):

* `ExactIndex` ("exact", the paper's "SAM linear"): keeps a reference to the model's memory and cached
  inverse row norms; a search is one bmm + scale + topk, O(N) per query, exact.
* `FaissIndex` ("faiss"): exact `IndexFlatIP` below 4096 slots; from 4096 slots, for a memory that starts
  from initial.py's rows (every SAM/SDNC episode), three parts whose answers are merged: the initial rows
  (zero rows need no structure; jittered rows one shared, cached faiss HNSW: index_parts.InitialRows), the
  last RECENT_ROWS rows written per batch element, searched exactly (index_parts.WrittenRows), and the older
  written rows in an inverted file per batch element (k-means lists, a fixed number scanned), updated in
  batches, with O(1) removal and scheduled re-clustering (index_clusters.ClusteredRows) — however full the
  memory gets, with no switch. Any other memory (random
  rows, a test's own start) uses an inverted-file index per batch element (`IVFIndex`: faiss IVF over float16
  unit rows, adaptive probing, O(n) list edits). See their docstrings for the structures.

Search cost (what tests and benchmarks measure): exact O(N) per query; faiss on a SAM/SDNC memory: a fixed
number of lists of older rows (CLUSTER_PROBES lists of ~CLUSTER_ROWS rows, after one comparison per list
centre) plus at most RECENT_ROWS rows scanned exactly, independent of N and of the episode's length;
IVFIndex ~√N per query (a budget of SCAN_PER_SQRT_N·√N rows in whole lists).
The measurements behind the choices: docs/PAPER_NOTES.md, #index.

Similarity, the same for both (and for `F.cosine_similarity`): addressing.cosine_similarity with
floor_norms=True — each vector is divided by max(‖v‖, NORM_FLOOR), so a zero row or query scores 0 against
everything, never NaN, and a tiny row (SAM's 1e-6 start) counts by its direction alone. Use `cosine_scores`
for the exact reference the indexes agree with. The model's own read uses the same function's other
convention (ε added to ‖q‖·‖r‖, which ranks tiny rows lower); its docstring says why both remain.

Non-finite values (NaN, ±inf): a query or a row holding one is indexed and searched as a zero vector — it
scores 0 against everything, like an erased row — so the indexes never hold or rank a non-finite vector and
a search always returns valid slot ids. A poisoned batch element cannot disturb the others (one index per
batch element). The model refuses non-finite inputs before that (MemoryModel.run); this is the guarantee
below it, for a non-finite interface (e.g. non-finite weights). Checking costs one isfinite pass per call.
"""
from __future__ import annotations

from collections import OrderedDict
import math
import zlib

import numpy as np
import torch

from .addressing import NORM_FLOOR, cosine_similarity, unit_rows
from .index_clusters import CLUSTER_PROBES, CLUSTER_ROWS, ClusteredRows
from .index_parts import HNSW_EF_SEARCH, HNSW_M, InitialRows, WrittenRows, initial_rows_of

EPSILON = NORM_FLOOR   # norm floor of the indexes' cosine (addressing.cosine_similarity, floor_norms=True)


def all_finite(x: torch.Tensor) -> bool:
    """True when x holds no NaN or ±inf: one sum (a few times cheaper per call than isfinite + all, and this
    runs on every search and update). A sum that overflows only sends the caller down its slow path."""
    return math.isfinite(float(x.detach().sum()))


def finite_rows(x: torch.Tensor) -> torch.Tensor:
    """x [..., W] with every row that holds a NaN or ±inf replaced by zeros (x itself when all are finite)."""
    if all_finite(x):
        return x
    return x.masked_fill(~torch.isfinite(x).all(-1, keepdim=True), 0)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by max(norm, EPSILON): unit rows, zero rows stay zero, non-finite rows become zero."""
    return unit_rows(finite_rows(x))


def cosine_scores(queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """The similarity both indexes rank by: queries [B, Q, W], memory [B, N, W] -> [B, Q, N]."""
    return cosine_similarity(finite_rows(queries), finite_rows(memory), floor_norms=True)


def last_occurrence(batch_ids: torch.Tensor, slot_ids: torch.Tensor, slots: int) -> torch.Tensor:
    """Positions of the last occurrence of each distinct (batch, slot) pair, O(n log n) in the n pairs:
    arange(n) when all are distinct, else in ascending (batch, slot) order. numpy's unique over the reversed
    keys (its first index there is the last one here): this runs on every write, and torch.unique + a
    scatter cost ~2× as much per call at n = 144."""
    keys = batch_ids.numpy().astype(np.int64) * slots + slot_ids.numpy()
    count = keys.shape[0]
    unique, first_from_end = np.unique(keys[::-1], return_index=True)
    if unique.shape[0] == count:
        return torch.arange(count)
    return torch.from_numpy(count - 1 - first_from_end)


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

    def restart(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        """The memory given to `reset` is back at its start: the rows (batch_ids[i], slot_ids[i]) — every row
        changed since — were restored to rows[i] (distinct pairs). A new episode reuses the index this way in
        O(rows changed) instead of an O(N) reset (samviz/memory/store.py)."""
        self.update(batch_ids, slot_ids, rows)

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
        # rows holding a NaN or ±inf score 0 (the model's buffer keeps them: the bmm sees them, so they are
        # masked after it); the [B, N] mask exists only once such a row has been seen
        finite = torch.isfinite(memory.detach()).all(-1)                                 # [B, N]
        self.nonfinite = None if bool(finite.all()) else ~finite
        if self.nonfinite is not None:
            self.inverse_norms[self.nonfinite] = 0

    def update(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        if batch_ids.numel() == 0:
            return
        keep = last_occurrence(batch_ids, slot_ids, self.slots)
        rows = rows.detach()[keep]
        batch_ids, slot_ids = batch_ids[keep].long(), slot_ids[keep].long()
        if self.nonfinite is not None or not all_finite(rows):       # rare: mark the rows that score 0
            finite = torch.isfinite(rows).all(-1)
            if self.nonfinite is None:
                self.nonfinite = torch.zeros(self.batch_size, self.slots, dtype=torch.bool)
            self.nonfinite[batch_ids, slot_ids] = ~finite
            rows = finite_rows(rows)
        norms = torch.linalg.vector_norm(rows, dim=-1).clamp_min(EPSILON)
        self.inverse_norms[batch_ids, slot_ids] = (1.0 / norms).to(self.inverse_norms.dtype)

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        self._check_search(queries, k)
        memory = self.memory.detach()
        scores = torch.bmm(normalise(queries.detach().to(memory.dtype)), memory.transpose(1, 2))
        scores.mul_(self.inverse_norms.unsqueeze(1))
        if self.nonfinite is not None:
            scores.masked_fill_(self.nonfinite.unsqueeze(1), 0.0)
        return torch.topk(scores, k, dim=-1).indices

    def describe(self) -> str:
        return f"exact (torch bmm + topk over all {self.slots} rows)"


# --------------------------------------------------------------------------------------------- faiss

def _faiss():
    import faiss  # imported lazily: the exact path and the app's UI never need it
    return faiss


FLAT_BELOW = 4096      # below this many slots FaissIndex is an exact IndexFlatIP per batch element, not an IVF
CONCENTRATED = 0.9     # |mean of the unit rows| above which the memory counts as one narrow cone
SCAN_PER_SQRT_N = 48   # rows scanned per query = 48·√N (the nprobe default below); see FaissIndex


def default_nlist(slots: int) -> int:
    """Inverted lists: 4·√N rounded to a power of two (10^5 -> 1024, 2^20 -> 4096), at least 16."""
    return max(16, 2 ** round(math.log2(4 * math.sqrt(slots))))


def default_nprobe(slots: int, nlist: int) -> int:
    """Lists probed per query so that about 48·√N rows are scanned (10^5 -> 156 of 1024, 2^20 -> 192 of 4096)."""
    return int(min(nlist, max(1, math.ceil(SCAN_PER_SQRT_N * math.sqrt(slots) / math.ceil(slots / nlist)))))


# Built centroids and list assignments for recently indexed memories, keyed by their content. SAM starts
# every episode (and every batch element) from the same jittered initial memory: a new episode then costs a
# copy, not a k-means and an O(N·nlist) assignment. Only list choices come from the cache, the vectors
# always come from the memory itself, so a stale entry could only cost recall, never correctness.
_BUILD_CACHE: OrderedDict[tuple, tuple] = OrderedDict()
_BUILD_CACHE_SIZE = 2


class IVFIndex(MemoryIndex):
    """Approximate top-k by cosine with faiss: one inverted-file (IVF) index per batch element. FaissIndex's
    structure for a memory that does not start from initial.py's rows, and its fallback once more rows were
    written than WRITTEN_CAP (see FaissIndex); tuned on random rows.

    Structure (N ≥ `flat_below` = 4096; below it an exact `IndexFlatIP` per batch element, whose rows are
    overwritten in place through a numpy view of its storage):
      * rows are L2-normalised (zero rows stay zero) and stored as float16 in a faiss
        `IndexIVFScalarQuantizer(QT_fp16, METRIC_INNER_PRODUCT, by_residual=False)`, so inner product =
        cosine to ~1e-3; ids are slot ids (rows added in slot order, no id map). float16 scans twice as fast
        as `IndexIVFFlat` here at the same recall (storage="float32" gives IndexIVFFlat);
      * nlist = 4·√N lists, a power of two (1024 at 10^5, 4096 at 2^20). One set of centroids is shared by
        the B indexes (spherical k-means, faiss.Kmeans, 10 iterations, ≤ 32·nlist rows pooled over the
        batch), so coarse quantisation of all B·Q queries and of all updated rows is one torch matmul;
        faiss only scans lists (`search_preassigned`) and moves rows between lists;
      * adaptive probing: each query visits lists in order of centroid similarity until it has covered
        its scan budget nprobe·⌈N/nlist⌉ ≈ 48·√N rows (nprobe ≈ 192 at 2^20; at most 2·nprobe lists and
        2× the budget in rows): empty lists are ranked last, a swollen list cannot make a query O(N);
      * update(): a changed row is re-assigned to its nearest centroid (n·nlist·W multiply-adds) and moved
        with `DirectMap(Array).update_codes` (swap-remove from its old list, append to the new one): O(n)
        list edits, nothing touches all N rows (tests/test_index.py spies on every O(N) method);
      * centroids go stale as the memory drifts, so the index is rebuilt (retrain + refill, O(N·nlist·W))
        after `rebuild_every` = N row updates per index on average, as the paper rebuilt after N
        insertions: O(nlist·W) amortised per update. `last_stats` counts builds, rebuilds, cache hits;
      * degenerate memories: zero rows are spread over lists by slot id; at a build a list over 8× its
        share keeps 8× and the rest is spread by slot id (identical rows tie, any is a right answer); with
        fewer distinct rows than lists (all zero, a constant) the centroids are those rows + random
        directions; a memory in one narrow cone (SAM's tiny jittered start, initial.py) gets half its
        centroids from k-means and half random, where the rows written later land;
      * reset() is O(N·nlist·W) (train + assign); builds are cached by memory content (crc32 + adler32),
        so episodes and batch elements that start from the same memory reuse centroids and lists;
      * a query whose visited lists hold fewer than k rows falls back to an exhaustive scan (never seen
        outside tiny or degenerate memories; counted in last_stats["exhaustive_queries"]).

    Why (random N(0,1) rows and queries, W = 32, k = 4, one thread, on a shared 2-core machine at load
    ~7-8, so wall times run 1.5-3× the CPU times and both are inflated; `python scripts/index_recall.py`):
      * recall@4 vs exact at N = 10^5: 0.935 with the defaults (15,238 rows scanned per query), 0.931
        after 10^4 row updates; 0.987 at 2^14, 0.915 at 2^17, 0.885 at 2^20 (49,275 rows per query).
      * per step (8 indexes × 4 queries; 17 rows × 8 indexes updated), CPU ms: at 2^20 search 20.9,
        update 2.3 (~2.9 ms per index per step) against 383 for the exact search; at 2^17 search 9.5,
        update 1.4; at 2^14 search 4.9 (the exact bmm, 3.6, is as cheap there). Search grows as √N
        (a budget of 48·√N rows), update as √N (nlist), never as N. One build at 2^20 took 160 s wall
        here (k-means on 131k rows + 2^20 × 4096 assignment, once for 8 identical batch elements).
      * Gaussian 32-d data has no cluster structure, so every partition scans many rows for recall 0.9:
        at 2^20 with 4096 lists, recall 0.82 / 0.92 / 0.98 for 32k / 65k / 131k rows scanned per query;
        8192 lists gain ~0.02 at 2× the build and update cost. At 10^5, 2048 lists need ~10k rows and 1024
        lists ~12.5k for 0.9. Isotropic random rows are the hardest case for any partition.
      * HNSW (IndexHNSWFlat, M = 16) at 10^5 needs efSearch ≈ 128 for recall 0.95, and costs ~0.2-0.4 ms
        per inserted row and cannot delete (lazy invalidation + rebuild); at 17 writes and 4 queries per
        step the IVF list edits win. An HNSW coarse quantizer did not beat one matmul over ≤ 8192
        centroids for assignment either (measured at nlist 2048..8192).
    """

    name = "faiss"

    def __init__(self, batch_size: int, slots: int, word_size: int, *, nlist: int | None = None,
                 nprobe: int | None = None, flat_below: int = FLAT_BELOW, rebuild_every: int | None = None,
                 train_per_list: int = 32, kmeans_iterations: int = 10, seed: int = 0, use_cache: bool = True,
                 storage: str = "float16"):
        super().__init__(batch_size, slots, word_size)
        self.faiss = _faiss()
        self.flat = slots < flat_below or (nlist is not None and nlist <= 1)
        self.nlist = 1 if self.flat else int(nlist or default_nlist(slots))
        self.nprobe = self.nlist if self.flat else int(min(self.nlist, nprobe or default_nprobe(slots, self.nlist)))
        self.max_codes_factor, self.max_probe_factor = 2, 2
        self.rebuild_every = int(rebuild_every or slots)
        self.train_per_list, self.kmeans_iterations, self.seed = train_per_list, kmeans_iterations, seed
        self.use_cache = use_cache
        if storage not in ("float16", "float32"):
            raise ValueError(f"storage must be 'float16' or 'float32', got {storage!r}")
        self.storage = storage
        self.indexes: list = []
        self.last_stats = {"builds": 0, "scheduled_rebuilds": 0, "cache_hits": 0, "updates": 0,
                           "updates_since_build": 0, "spread_rows": 0, "degenerate_builds": 0,
                           "concentrated_builds": 0, "exhaustive_queries": 0, "rows_scanned_per_query": 0.0,
                           "largest_list": 0}

    # ---------------------------------------------------------------- building
    def reset(self, memory: torch.Tensor) -> None:
        self._check_memory(memory)
        self.last_stats["updates_since_build"] = 0
        if self.flat:
            self._build_flat(memory)
        else:
            self._build_ivf(lambda b, ids=None: self._rows32(memory[b] if ids is None else memory[b, ids]),
                            content=lambda b: memory[b].detach().contiguous().numpy())

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
            ids = torch.randperm(self.slots, generator=generator)[:per_batch].sort().values
            sample.append(row_source(b, ids))
        sample = torch.from_numpy(np.concatenate(sample))
        sample = sample[torch.linalg.vector_norm(sample, dim=-1) > 0.5]        # zero rows carry no direction
        distinct = torch.unique(sample, dim=0) if sample.shape[0] < 4 * self.nlist else sample
        # concentrated memory (every row in a narrow cone, like SAM's jittered constant start): the rows
        # written later point anywhere, so half of the centroids are random directions for them to land on
        concentrated = distinct.shape[0] > 0 and float(torch.linalg.vector_norm(sample.mean(0))) > CONCENTRATED
        fitted = self.nlist // 2 if concentrated else self.nlist
        if distinct.shape[0] < fitted:
            # degenerate memory (all zero, identical or too few distinct rows): k-means is meaningless, so
            # take the distinct rows and fill up with random directions, where future writes will land
            centroids = torch.cat([distinct, torch.randn(self.nlist, self.word_size, generator=generator)])
            centroids = centroids[:self.nlist]
            self.last_stats["degenerate_builds"] += 1
        else:
            kmeans = faiss.Kmeans(self.word_size, fitted, niter=self.kmeans_iterations, spherical=True,
                                  seed=self.seed + 1, max_points_per_centroid=10 ** 9, verbose=False)
            kmeans.cp.min_points_per_centroid = 1          # a small pool is fine (no warning spam)
            kmeans.train(np.ascontiguousarray(sample.numpy()))
            centroids = torch.from_numpy(kmeans.centroids.copy())
            if fitted < self.nlist:
                spare = torch.randn(self.nlist - fitted, self.word_size, generator=generator)
                centroids = torch.cat([centroids, spare])
                self.last_stats["concentrated_builds"] += 1
        broken = ~torch.isfinite(centroids).all(-1) | (torch.linalg.vector_norm(centroids, dim=-1) < 1e-6)
        if bool(broken.any()):
            centroids[broken] = torch.randn(int(broken.sum()), self.word_size, generator=generator)
        return normalise(centroids).contiguous()

    def _nearest_centroids(self, vectors: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """vectors [n, W] -> index of the most similar centroid [n], `chunk` rows at a time, so the score
        matrix never exceeds chunk·nlist (one [648, 4096] block was 10 MiB of SDNC step overhead at 2^20)."""
        lists = torch.empty(vectors.shape[0], dtype=torch.int64)
        for start in range(0, vectors.shape[0], chunk):
            lists[start:start + chunk] = (vectors[start:start + chunk] @ self.centroids.T).argmax(-1)
        return lists

    def _assign_all(self, vectors: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """Nearest centroid of every row (N·nlist·W, at a build only), then the degenerate-list guard."""
        x = torch.from_numpy(vectors)
        assign = self._nearest_centroids(x, chunk)
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
        return assign.to(torch.int32).numpy()

    def _build_ivf(self, row_source, content=None, built=None) -> None:
        """Train (or reuse) the shared centroids and fill the B inverted-file indexes: O(N·nlist·W).

        row_source(b, ids=None) -> normalised float32 rows [len(ids) or N, W] of batch element b;
        content(b) -> the raw rows of b as a numpy array, to key the build cache (None: no cache);
        built(b) is called once index b is filled. The B indexes are filled one at a time, so at most one
        extra copy of one batch element is alive.
        """
        faiss = self.faiss
        cache = content is not None and self.use_cache
        if cache:
            keys = []
            for b in range(self.batch_size):
                raw = content(b)
                keys.append((str(raw.dtype), zlib.crc32(raw), zlib.adler32(raw)))
            keys = tuple(keys)
        else:
            keys = tuple(range(self.batch_size))
        cache_key = (self.slots, self.word_size, self.nlist, self.train_per_list, self.kmeans_iterations,
                     self.seed, keys)
        cached = _BUILD_CACHE.get(cache_key) if cache else None
        if cached is not None:
            _BUILD_CACHE.move_to_end(cache_key)
            self.centroids, assignments = cached
            self.last_stats["cache_hits"] += 1
        else:
            self.centroids, assignments = self._train(row_source), {}
        quantizer = faiss.IndexFlatIP(self.word_size)      # shared; used only by the exhaustive fallback
        quantizer.add(self.centroids.numpy())
        indexes, lists, sizes = [], [], []
        for b, key in enumerate(keys):
            vectors = row_source(b)
            if key not in assignments:
                assignments[key] = self._assign_all(vectors)
            index = self._new_ivf(quantizer)
            assign = assignments[key].astype(np.int64)
            index.add_core(self.slots, faiss.swig_ptr(vectors), None, faiss.swig_ptr(assign))
            self._configure(index)
            lists.append(assign.astype(np.int32))               # our own copy: which list holds each slot
            sizes.append(np.bincount(assign, minlength=self.nlist))
            indexes.append(index)
            if built is not None:
                built(b)
        if cache and cached is None:
            _BUILD_CACHE[cache_key] = (self.centroids, assignments)
            while len(_BUILD_CACHE) > _BUILD_CACHE_SIZE:
                _BUILD_CACHE.popitem(last=False)
        self.quantizer, self.indexes = quantizer, indexes
        self.list_of_slot = np.stack(lists)                      # [B, N] int32
        self.list_sizes = np.stack(sizes).astype(np.int64)       # [B, nlist]
        self.last_stats["builds"] += 1
        self.last_stats["largest_list"] = self.largest_list()

    def _new_ivf(self, quantizer):
        """An empty inverted-file index over the shared quantizer: float16 rows (or float32 for "float32")."""
        faiss = self.faiss
        if self.storage == "float32":
            index = faiss.IndexIVFFlat(quantizer, self.word_size, self.nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFScalarQuantizer(quantizer, self.word_size, self.nlist,
                                                  faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False)
            index.train(self.centroids.numpy())    # the quantizer is trained already; fp16 learns nothing
        index.set_direct_map_type(faiss.DirectMap.Array)
        return index

    def _encode(self, index, vectors: np.ndarray) -> np.ndarray:
        """Codes stored in the inverted lists for normalised float32 rows [n, W]."""
        if self.storage == "float32":
            return vectors.view(np.uint8)
        return np.ascontiguousarray(index.sq.compute_codes(vectors))

    def _rebuild(self) -> None:
        """Scheduled rebuild: retrain the centroids on the rows as they are now and refill every list (O(N))."""
        old, self.indexes = self.indexes, []

        def rows(b, ids=None):
            if ids is None:
                return old[b].reconstruct_n(0, self.slots)
            return old[b].reconstruct_batch(ids.numpy().astype(np.int64))

        def release(b):                                    # the old index of b is no longer needed
            old[b] = None

        self._build_ivf(rows, built=release)
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
            if not bool((b_np[1:] >= b_np[:-1]).all()):      # group by batch element (writes come grouped)
                order = np.argsort(b_np, kind="stable")
                b_np, s_np, v_np = b_np[order], s_np[order], v_np[order]
            bounds = np.searchsorted(b_np, np.arange(self.batch_size + 1))
            for b in range(self.batch_size):
                if bounds[b + 1] > bounds[b]:
                    self.vectors[b][s_np[bounds[b]:bounds[b + 1]]] = v_np[bounds[b]:bounds[b + 1]]
            return
        lists = self._nearest_centroids(vectors)
        zero = torch.linalg.vector_norm(vectors, dim=-1) < 0.5
        lists = torch.where(zero, slot_ids % self.nlist, lists)
        order = torch.argsort(batch_ids, stable=True)
        batch_sorted = batch_ids[order]
        ids = slot_ids[order].contiguous().numpy()
        lists = lists[order].contiguous().numpy()
        codes = self._encode(self.indexes[0], vectors[order].contiguous().numpy())
        counts = torch.bincount(batch_sorted, minlength=self.batch_size).tolist()
        swig_ptr, start = self.faiss.swig_ptr, 0
        for b, count in enumerate(counts):
            if count:
                index = self.indexes[b]
                index.direct_map.update_codes(index.invlists, count, swig_ptr(ids[start:]),
                                              swig_ptr(lists[start:]), swig_ptr(codes[start:]))
                mine, moved_to = ids[start:start + count], lists[start:start + count]
                np.subtract.at(self.list_sizes[b], self.list_of_slot[b, mine], 1)
                np.add.at(self.list_sizes[b], moved_to, 1)
                self.list_of_slot[b, mine] = moved_to
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
            # search_c on raw pointers: faiss' Python wrapper re-checks and reshapes its arguments per call
            # (~2 µs of each ~15 µs search at 2^10 × 4 queries); q_np, scores and found are C-contiguous
            swig_ptr = faiss.swig_ptr
            for b, index in enumerate(self.indexes):
                index.search_c(count, swig_ptr(q_np[b]), k, swig_ptr(scores[b]), swig_ptr(found[b]))
            return torch.from_numpy(found)
        # adaptive probing: non-empty lists in order of centroid similarity until nprobe·N/nlist rows are
        # covered, at most max_probe lists; the rest are passed as -1, which faiss skips. Empty lists are
        # ranked last: a concentrated memory keeps half its centroids empty (see the class docstring), and a
        # query nearest to them would otherwise cover fewer than k rows and fall back to a scan of all N
        # rows — measured on 9 of 32 queries per step of an untrained SAM at 2^18 slots.
        budget = self.scan_budget
        sizes = torch.from_numpy(self.list_sizes)                                         # [B, nlist]
        scores_all = (q @ self.centroids.T).masked_fill((sizes == 0).unsqueeze(1), -math.inf)   # [B, Q, nlist]
        coarse_scores, coarse_lists = torch.topk(scores_all, self.max_probe, dim=-1)       # [B, Q, P]
        probed = torch.gather(sizes.unsqueeze(1).expand(-1, count, -1), 2, coarse_lists)  # [B, Q, P]
        covered_before = torch.cumsum(probed, dim=-1) - probed
        coarse_lists = coarse_lists.masked_fill((covered_before >= budget) | (probed == 0), -1)
        coarse_scores = coarse_scores.masked_fill(probed == 0, 0.0)                       # no −inf into faiss
        coarse_scores = coarse_scores.numpy()
        coarse_lists = coarse_lists.numpy()
        swig_ptr = faiss.swig_ptr
        stats = faiss.cvar.indexIVF_stats
        stats.reset()
        for b, index in enumerate(self.indexes):
            index.search_preassigned_c(count, swig_ptr(q_np[b]), k, swig_ptr(coarse_lists[b]),
                                       swig_ptr(coarse_scores[b]), swig_ptr(scores[b]), swig_ptr(found[b]), False)
        self.last_stats["rows_scanned_per_query"] = stats.ndis / max(1, batch * count)
        missing = np.argwhere((found < 0).any(-1))
        for b, i in missing:          # probed lists held fewer than k rows: scan everything for this query
            index = self.indexes[b]
            index.nprobe, index.max_codes = self.nlist, 0
            try:
                index.search(q_np[b, i:i + 1], k, D=scores[b, i:i + 1], I=found[b, i:i + 1])
            finally:
                self._configure(index)
            self.last_stats["exhaustive_queries"] += 1
        return torch.from_numpy(found)

    # ---------------------------------------------------------------- reporting
    @property
    def nprobe(self) -> int:
        """Nominal lists probed per query (IVF): the scan budget is nprobe·⌈N/nlist⌉ rows per query."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = int(min(self.nlist, max(1, value)))
        if not self.flat:
            for index in getattr(self, "indexes", []):
                self._configure(index)

    def _configure(self, index) -> None:
        """The faiss index reads one coarse assignment of max_probe lists per query and stops at max_codes."""
        index.nprobe, index.max_codes = self.max_probe, self.max_codes

    @property
    def lists(self) -> int:
        """Number of inverted lists (1 for the flat fallback)."""
        return self.nlist

    @property
    def scan_budget(self) -> int:
        """Rows a query scans (IVF): whole lists, best first, until this many rows are covered."""
        return self.slots if self.flat else self.nprobe * math.ceil(self.slots / self.nlist)

    @property
    def max_probe(self) -> int:
        """Most lists a query may visit to cover its scan budget (empty and small lists are skipped over)."""
        return self.nlist if self.flat else min(self.nlist, self.max_probe_factor * self.nprobe)

    @property
    def max_codes(self) -> int:
        """Most rows one query scans (IVF): max_codes_factor · scan budget; 0 = no cap (flat)."""
        return 0 if self.flat else self.max_codes_factor * self.scan_budget

    def largest_list(self) -> int:
        """Rows in the fullest inverted list over all batch elements (N for the flat fallback)."""
        if self.flat or not self.indexes:
            return self.slots if self.indexes else 0
        return int(self.list_sizes.max())

    def describe(self) -> str:
        if self.flat:
            return (f"faiss IndexFlatIP ×{self.batch_size} (exact: {self.slots} slots < flat threshold), "
                    "cosine = inner product of L2-normalised rows")
        s = self.last_stats
        kind = "IndexIVFFlat" if self.storage == "float32" else "IndexIVFScalarQuantizer(fp16)"
        return (f"faiss {kind} ×{self.batch_size}, inner product of L2-normalised rows: "
                f"{self.nlist} lists (~{self.slots // self.nlist} rows each, shared centroids), "
                f"probing best lists until {self.scan_budget} rows are covered (nprobe {self.nprobe}); "
                f"rebuilt every {self.rebuild_every} updates per index "
                f"({s['builds']} builds, {s['scheduled_rebuilds']} scheduled, {s['cache_hits']} from cache)")


RECENT_ROWS = 4096    # FaissIndex: recent written rows per batch element searched exactly; older ones clustered


class FaissIndex(IVFIndex):
    """Approximate top-k by cosine with faiss, built for the memories SAM and SDNC actually hold.

    Below `flat_below` = 4096 slots: an exact `IndexFlatIP` per batch element (IVFIndex's flat fallback).
    From 4096 slots, when the memory given to `reset` is one of initial.py's starts in every batch element
    (the jittered rows of JITTER_SEED in the memory's dtype, or zero rows — what every SAM/SDNC episode
    starts from), the memory is "initial rows + rows written since", answered by three parts whose top-k
    are merged (cosines of unit rows, float32):
      * initial rows (index_parts.InitialRows): zero rows need no structure — an untouched slot scores
        exactly 0, so the lowest unwritten slot ids fill an answer only when fewer than k written rows score
        above 0; jittered rows: ONE faiss HNSW over their tangent vectors, shared by the batch and cached
        across episodes (and on disk), searched with the batch element's written slots excluded inside the
        walk (a bitmap IDSelector);
      * recent written rows (index_parts.WrittenRows): per batch element, the last `recent_rows` rows
        written (RECENT_ROWS), searched exactly by one matmul; a write overwrites or appends, O(n);
      * older written rows (index_clusters.ClusteredRows): when a batch element's recent rows reach
        `recent_rows` they move, in one batch, into its inverted file (k-means lists of ~CLUSTER_ROWS rows,
        CLUSTER_PROBES lists scanned per search); a row written again is removed from its list (O(1)) and
        lives in the recent part; the lists are re-clustered once as many rows were added as they were made
        from.
    So the cost per search is bounded whatever N and however full the memory gets: a fixed number of lists,
    at most `recent_rows` rows scanned exactly. The O(N) state — the slot -> place map [B, N] int32, the
    held-slots map [B, N] bool, the written-slots bitmap — is made once per index; `restart` (a new episode from
    the pooled store, samviz/memory/store.py) and `reset` clear only what was written. The HNSW over
    jittered rows is built the first time an (N, W, dtype) is seen without a disk copy, on every core.
    A memory that is not a known start (random rows, a test's own initial memory) uses IVFIndex's structure.
    Why this structure, and what it measures on the shipped models' memories: docs/PAPER_NOTES.md, #index.
    """

    def __init__(self, batch_size: int, slots: int, word_size: int, **options):
        super().__init__(batch_size, slots, word_size, **options)
        self.mode = "flat" if self.flat else "ivf"
        self.initial: InitialRows | None = None
        self.written: WrittenRows | None = None
        self.older: ClusteredRows | None = None
        self.recent_rows = RECENT_ROWS
        self.last_stats.update(written_rows=0, initial_build_s=0.0, initial_filled=0, older_moves=0)

    def reset(self, memory: torch.Tensor) -> None:
        self._check_memory(memory)
        if not self.flat:
            initial = initial_rows_of(memory, self.faiss)
            if initial is not None:
                self.memory, self.initial, self.mode, self.indexes = memory, initial, initial.kind, []
                if self.written is None:
                    self.written = WrittenRows(self.batch_size, self.slots, self.word_size)
                    self.older = ClusteredRows(self.batch_size, self.slots, self.word_size)
                else:
                    self.written.clear()
                    self.older.clear()
                self.last_stats["builds"] += 1
                self.last_stats["initial_build_s"] = initial.build_seconds
                self.last_stats["written_rows"] = 0
                return
        self.mode, self.initial, self.written, self.older = ("flat" if self.flat else "ivf"), None, None, None
        super().reset(memory)

    def update(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        if self.initial is None:
            return super().update(batch_ids, slot_ids, rows)
        if batch_ids.numel() == 0:
            return
        keep = last_occurrence(batch_ids, slot_ids, self.slots)
        batch_ids, slot_ids = batch_ids[keep].long(), slot_ids[keep].long()
        self.older.delete(batch_ids.numpy(), slot_ids.numpy())        # written again: recent from now on
        self.written.update(batch_ids, slot_ids, normalise(rows.detach()[keep].to(torch.float32)))
        self.last_stats["updates"] += int(slot_ids.numel())
        self.last_stats["written_rows"] = self.written.most_written
        if self.written.largest >= self.recent_rows:
            for b in np.flatnonzero(self.written.count >= self.recent_rows).tolist():
                self.older.add(b, *self.written.drain(b))         # the recent rows become older rows, in one go
                self.last_stats["older_moves"] += 1

    def restart(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor, rows: torch.Tensor) -> None:
        if self.initial is None:
            return super().restart(batch_ids, slot_ids, rows)
        self.written.clear()                        # O(written): the start's own structure never changed
        self.older.clear()
        self.last_stats["builds"] += 1
        self.last_stats["written_rows"] = 0

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        if self.initial is None:
            return super().search(queries, k)
        self._check_search(queries, k)
        q = normalise(queries.detach().to(torch.float32)).contiguous()
        batch, count, width = q.shape
        written_scores, written_ids = self.written.search(q, k)                     # [B, Q, k] recent rows
        parts_scores, parts_ids = [written_scores], [written_ids]
        if self.initial.kind != "zero":
            initial_scores, initial_ids = self._initial_neighbours(q, k)
            parts_scores.append(initial_scores)
            parts_ids.append(initial_ids)
        if self.older.live.any():                                                   # older rows, from the lists
            older_scores = torch.full((batch, count, k), -math.inf)
            older_ids = torch.zeros(batch, count, k, dtype=torch.int64)
            for b in np.flatnonzero(self.older.live).tolist():
                older_scores[b], older_ids[b] = self.older.search(b, q[b], k)
            parts_scores.append(older_scores)
            parts_ids.append(older_ids)
        scores = torch.cat(parts_scores, -1) if len(parts_scores) > 1 else written_scores
        ids = torch.cat(parts_ids, -1) if len(parts_ids) > 1 else written_ids
        best, top = torch.topk(scores, k, dim=-1)
        found = torch.gather(ids, 2, top)
        short = best[..., -1] <= 0                                                  # [B, Q]
        if self.initial.kind == "zero" and bool(short.any()):
            # a query with fewer than k written rows above 0: unwritten zero rows (each scoring exactly 0) join
            # its search. Only those queries take the joined answer, so one batch element's queries never
            # change another's (ties among zero scores would otherwise reorder with the joined columns).
            zero_scores, zero_ids = self._unwritten_zero_rows(count, k)
            scores, ids = torch.cat([scores, zero_scores], -1), torch.cat([ids, zero_ids], -1)
            joined = torch.gather(ids, 2, torch.topk(scores, k, dim=-1).indices)
            found = torch.where(short.unsqueeze(-1), joined, found)
        return found

    def _unwritten_zero_rows(self, count: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero start: k unwritten slot ids per batch element (the lowest), each scoring exactly 0 (−inf and slot 0
        where a full memory has fewer than k unwritten slots)."""
        lowest = torch.from_numpy(self.written.lowest_unwritten(k)).unsqueeze(1).expand(-1, count, -1)
        scores = torch.zeros(lowest.shape, dtype=torch.float32).masked_fill(lowest < 0, -math.inf)
        return scores, lowest.clamp_min(0)

    def _initial_neighbours(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Jittered start: the k best unwritten initial rows per query, from the shared HNSW searched with the
        batch element's written slots excluded (written rows are answered by the written part). Excluding
        them inside the search, rather than over-fetching and dropping them, matters: a model writes the
        initial rows nearest to its own queries, so after t steps the best unwritten row of a query can be
        ~17·t deep — found by the filtered graph walk within its fixed budget, where a deeper unfiltered
        search (measured before: 4× re-searches up to 1,024 neighbours) cost ~100 ms per step."""
        batch, count, width = q.shape
        best_scores = torch.full((batch, count, k), -math.inf)
        best_ids = torch.full((batch, count, k), -1, dtype=torch.int64)
        clean = [b for b in range(batch) if self.written.total[b] == 0]
        if clean:                                    # nothing written yet: one call for all these queries
            scores, ids = self.initial.search(q[clean].reshape(-1, width).contiguous(), k)
            best_scores[clean] = scores.reshape(len(clean), count, k)
            best_ids[clean] = ids.reshape(len(clean), count, k)
        for b in range(batch):
            if 0 < self.written.total[b] < self.slots:          # a full memory has no initial row left
                scores, ids = self.initial.search(q[b].contiguous(), k, exclude=self.written.excluded(b))
                best_scores[b], best_ids[b] = scores, ids
        best_scores, best_ids = best_scores.reshape(-1, k), best_ids.reshape(-1, k)
        flat = q.reshape(-1, width)
        short = (best_scores == -math.inf).any(-1).nonzero().flatten()
        for row in short.tolist():      # the graph walk found fewer than k unwritten rows (rare): the lowest ones
            b = row // count
            span = np.arange(min(self.slots, 2 * k + self.written.most_written))
            taken = best_ids[row][best_scores[row] > -math.inf].numpy()
            free = span[~self.written.is_written(np.full(span.shape, b), span) & ~np.isin(span, taken)][:k]
            vectors = torch.from_numpy(self.initial.hnsw.reconstruct_batch(free.astype(np.int64)))
            cosines = (flat[row] * self.initial.mean32).sum() + self.initial.scale * (vectors @ flat[row])
            missing = (best_scores[row] == -math.inf).nonzero().flatten()
            order = torch.argsort(cosines, descending=True)[:missing.numel()]   # fewer when the memory is full
            places = missing[:order.numel()]
            best_scores[row, places], best_ids[row, places] = cosines[order], torch.from_numpy(free)[order]
            self.last_stats["initial_filled"] += 1
        best_ids.masked_fill_(best_scores == -math.inf, 0)         # no row there: never among a union's top k
        return best_scores.reshape(batch, count, k), best_ids.reshape(batch, count, k)

    def describe(self) -> str:
        if self.initial is None:
            return super().describe()
        if self.initial.kind == "zero":
            start = "zero initial rows (each scores 0: no structure)"
        else:
            start = (f"one shared faiss IndexHNSWFlat(M={HNSW_M}, efSearch={HNSW_EF_SEARCH}) over the "
                     f"{self.slots} jittered initial rows")
        return (f"faiss: {start} + exact search over the last {self.recent_rows} rows written per batch element + "
                f"a faiss IndexIVFFlat per batch element over the older written rows (k-means lists of "
                f"~{CLUSTER_ROWS} rows, the {CLUSTER_PROBES} nearest lists scanned; rows written again removed, "
                f"re-clustered as rows are added), cosine = inner product of L2-normalised rows")


INDEXES = {"exact": ExactIndex, "faiss": FaissIndex}


def make_index(kind: str, batch_size: int, slots: int, word_size: int, **options) -> MemoryIndex:
    """"exact" | "faiss" -> a MemoryIndex; options go to the FaissIndex constructor (nlist, nprobe, ...)."""
    if kind not in INDEXES:
        raise ValueError(f"unknown index {kind!r}; choose one of {sorted(INDEXES)}")
    return INDEXES[kind](batch_size, slots, word_size, **options)
