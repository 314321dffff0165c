"""The SDNC's sparse temporal links: N_t, P_t and the precedence p_t with at most K_L entries per row.

docs/PAPER_NOTES.md (#sdnc). The equations are in sdnc.py's module docstring (the core that uses them);
this module holds the tables (`SparseLinks`) and the small set helpers they
are built from (`coalesce`, `top_entries`, `merge_entries`): numpy on [B, ..., n] rows of (id, value)
entries, −1 marking an empty entry. Every per-step function touches only the rows it names.

How the links are stored (choices the paper leaves open — documented here and in the app):

* Both matrices are stored by rows, as fixed-size tables allocated once per episode:
  forward_ids/forward_values [B, N+1, K_L] hold row i of N_t (the slots j that precede i, with N_t(i, j));
  backward_ids [B, N+1, K_L] holds row i of P_t (the slots j that follow i). Row N is a scratch row
  that absorbs padding entries. Ids are int32 (−1: empty).
* Why two matrices: with zero initial state the paper's recursions give P_t = N_tᵀ exactly (P(i,j) and
  N(j,i) obey the same update). What differs is access: f = N w needs N's COLUMNS j ∈ supp(w), which are
  P's rows; b = P w needs P's columns, which are N's rows. So forward reads walk backward_ids and
  backward reads walk forward_ids: each direction follows the other matrix's rows.
* The update of P touches column j of P for every written j — entries P(i, j) in rows i anywhere in
  memory. Finding them without a scan: they are exactly the predecessors of j, i.e. row j of N. So a
  link i → j ("j written right after i") is ONE value, stored in row j of N (forward_values), and
  listed by id in row i of P (backward_ids). A link exists while it is listed in both rows; P(i, j) is
  looked up as N(j, i). Decaying row j of N therefore decays column j of P at the same time, without
  touching P's rows, and P_t = N_tᵀ always holds (no stale values in either direction).
* Row caps (each row at most K_L entries, keeping the largest): per step, the rows of N of the written
  slots are capped first (old links decayed + new links from p_{t−1}, keep the K_L largest), then the
  rows of P of the slots in supp(p_{t−1}) — the only rows of P that gain entries — keep their K_L
  largest links among those that survived. A link dropped from either row is gone from both (its id
  left in the other row is stale and reads as 0; stale ids are cleared when that row is next rebuilt).
  Equivalently, as a dense reference: N_t = colcap(rowcap(Ñ_t)) with Ñ_t the paper's formula applied
  to N_{t−1}, rowcap/colcap keeping the K_L largest non-zeros of each row/column, and P_t = N_tᵀ.
* The diagonal is excluded: no self links (a slot written while in supp(p) gets no link to itself).
* The precedence keeps its K_L largest entries after each update; (1 − Σ w^W) is clamped at 0.
* Write weights of slots named several times (several heads, or a read slot that is also the least
  used) are summed before the link update: w^W(i) is the total weight on slot i.
* f and b keep the K_L largest entries per head (duplicates summed first), so each head reads at most
  K + 2·K_L rows and the next step writes at most R·(K + 2·K_L) + 1 distinct rows (each slot once).
* No gradient flows through the link values (detached, as in the paper); gradients flow through the
  read modes, the content weights and the previous read weights that f and b are computed from.
"""
import functools
import math

import numpy as np
import torch

EMPTY = -1
_SENTINEL = np.iinfo(np.int64).max


@functools.lru_cache(maxsize=64)
def _row_starts(shape: tuple) -> np.ndarray:
    """Flat offsets of the rows of an array of this shape, shaped [..., 1] (so flat = start + column)."""
    starts = (np.arange(math.prod(shape[:-1]), dtype=np.int64) * shape[-1]).reshape(*shape[:-1], 1)
    starts.flags.writeable = False
    return starts


def coalesce(ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the values of repeated ids along the last axis.

    ids [..., n] int (−1: empty), values [..., n] -> (ids int64, values) [..., n]: each id once, in
    ascending order, then empty entries (−1, 0). Entries with value 0 count as empty.
    Cost O(n log n) per row (a sort), independent of the number of slots.
    """
    keys = np.where((ids < 0) | (values == 0), _SENTINEL, ids).astype(np.int64, copy=False)
    starts = _row_starts(keys.shape)
    order = (np.argsort(keys, axis=-1, kind="stable") + starts).reshape(-1)
    keys = keys.reshape(-1)[order].reshape(keys.shape)
    empty = keys == _SENTINEL
    values = np.where(empty, 0, values.reshape(-1)[order].reshape(keys.shape))
    first = np.ones(keys.shape, dtype=bool)
    first[..., 1:] = keys[..., 1:] != keys[..., :-1]
    flat = (np.cumsum(first, axis=-1) - 1 + starts).reshape(-1)
    summed = np.bincount(flat, weights=values.reshape(-1), minlength=keys.size).astype(values.dtype, copy=False)
    unique = np.full(keys.size, EMPTY, dtype=np.int64)
    unique[flat] = np.where(empty, EMPTY, keys).reshape(-1)
    return unique.reshape(keys.shape), summed.reshape(keys.shape)


def top_entries(ids: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest entries (values > 0) along the last axis, largest first (ties: first listed); the
    rest (−1, 0). ids, values [..., n] with each id at most once per row -> ([..., k], [..., k])."""
    if values.shape[-1] < k:
        pad = [(0, 0)] * (values.ndim - 1) + [(0, k - values.shape[-1])]
        ids, values = np.pad(ids, pad, constant_values=EMPTY), np.pad(values, pad)
    starts = _row_starts(values.shape)
    position = (np.argsort(-values, axis=-1, kind="stable")[..., :k] + starts).reshape(-1)
    shape = (*values.shape[:-1], k)
    top = values.reshape(-1)[position].reshape(shape)
    kept = top > 0
    return (np.where(kept, np.ascontiguousarray(ids).reshape(-1)[position].reshape(shape), EMPTY),
            np.where(kept, top, 0).astype(values.dtype, copy=False))


def merge_entries(ids: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each slot once per batch element, its weights summed — differentiably (a scatter-add).

    ids [B, m] (slot ids, may repeat), weights [B, m] -> (ids [B, m'], weights [B, m']) with m' the largest
    number of distinct slots in a row; shorter rows repeat their smallest slot with weight 0. The
    gradient of an entry is that of its slot, exactly as before merging.
    """
    ids_np = ids.numpy()
    starts = _row_starts(ids_np.shape)
    order = (np.argsort(ids_np, axis=-1, kind="stable") + starts).reshape(-1)
    sorted_ids = ids_np.reshape(-1)[order].reshape(ids_np.shape)
    first = np.ones(sorted_ids.shape, dtype=bool)
    first[:, 1:] = sorted_ids[:, 1:] != sorted_ids[:, :-1]
    sorted_position = np.cumsum(first, axis=-1) - 1
    position = np.empty(ids_np.size, dtype=np.int64)
    position[order] = sorted_position.reshape(-1)
    width = int(sorted_position[:, -1].max()) + 1
    unique = np.repeat(sorted_ids[:, :1], width, axis=1)
    unique.reshape(-1)[(sorted_position + starts // ids_np.shape[1] * width).reshape(-1)] = sorted_ids.reshape(-1)
    position = position.reshape(ids_np.shape)
    merged = weights.new_zeros(ids.shape[0], width).scatter_add(1, torch.from_numpy(position), weights)
    return torch.from_numpy(unique), merged


class SparseLinks:
    """The SDNC's sparse temporal links and precedence for a batch (mutable; one per episode).

    See the module docstring for the layout. Integer bookkeeping without gradient, so it runs on numpy
    (far lower per-call overhead than torch for these small arrays, like usage.LeastRecentlyUsed);
    `follow` hands torch a small [K_L × S] mixing matrix per head so gradients reach the read weights.
    Every per-step method touches only the rows it names.
    """

    def __init__(self, batch_size: int, slots: int, link_k: int, dtype: torch.dtype = torch.float32):
        self.batch_size, self.slots, self.link_k, self.dtype = batch_size, slots, link_k, dtype
        value_type = torch.empty((), dtype=dtype).numpy().dtype
        rows = slots + 1                                             # + the scratch row
        self.forward_ids = np.full((batch_size, rows, link_k), EMPTY, dtype=np.int32)    # row i of N: j before i
        # np.full, not np.zeros: zeros would be mapped lazily (in 2 MiB huge pages, which numpy requests for
        # large arrays), so the first steps' scattered writes would fault in the whole O(N) table during
        # training — measured as 62 MiB of step overhead at 2^18 slots. Filled here, it is paid at set-up.
        self.forward_values = np.full((batch_size, rows, link_k), 0, dtype=value_type)   # N(i, j)
        self.backward_ids = np.full((batch_size, rows, link_k), EMPTY, dtype=np.int32)   # row i of P: j after i
        self.precedence_ids = np.full((batch_size, link_k), EMPTY, dtype=np.int64)
        self.precedence_values = np.zeros((batch_size, link_k), dtype=value_type)
        self._batch_views = [np.arange(batch_size).reshape(-1, *([1] * (d - 1))) for d in range(1, 6)]
        self._batch_views.insert(0, None)

    # -- row access
    def _index(self, ids: np.ndarray) -> tuple:
        """Advanced index of the rows ids [B, ...] (−1 -> the scratch row)."""
        return self._batch_views[ids.ndim], np.where(ids >= 0, ids, self.slots)

    def _rows(self, table: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """table [B, N+1, K_L], ids [B, ...] -> rows [B, ..., K_L] (a copy)."""
        return table[self._index(ids)]

    def link_values(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Value of the link source -> target (target written right after source), i.e. N(target, source).

        sources, targets [B, ...] (sources may broadcast against targets) -> [B, ...]; 0 where either is
        empty or the target's row lacks the source.
        """
        rows = self._index(targets)
        match = (self.forward_ids[rows] == sources[..., None]) & (targets >= 0)[..., None] & (sources >= 0)[..., None]
        return np.where(match, self.forward_values[rows], 0).sum(-1)

    # -- the per-step update
    def update(self, write_ids: torch.Tensor, write_weights: torch.Tensor, merged: bool = False) -> None:
        """Apply one write: write_ids, write_weights [B, m] (ids may repeat; weights are summed per slot).

        merged: the caller already wrote each slot once (merge_entries): only zero weights are dropped.
        """
        k, batch = self.link_k, self.batch_size
        ids, w = write_ids.numpy(), write_weights.detach().numpy().astype(self.forward_values.dtype, copy=False)
        if merged:
            ids, w = np.where(w > 0, ids, EMPTY), np.where(w > 0, w, 0)
        else:
            ids, w = coalesce(ids, w)                                                         # [B, m], unique
        m = ids.shape[1]
        p_ids, p_values = self.precedence_ids, self.precedence_values                          # p_{t−1}

        # 1. rows of N of the written slots s: (1 − w(s))·N(s, ·) + w(s)·p_{t−1}, keep the K_L largest
        written = self._index(ids)
        old_ids = self.forward_ids[written].astype(np.int64)                                   # [B, m, K_L]
        old_values = self.forward_values[written]
        listed = (self._rows(self.backward_ids, old_ids) == ids[:, :, None, None]).any(-1)    # also in P's row?
        valid = (old_ids >= 0) & listed
        old_ids = np.where(valid, old_ids, EMPTY)
        old_values = np.where(valid, old_values * (1 - w)[..., None], 0)
        usable = (p_ids >= 0)[:, None, :] & (p_ids[:, None, :] != ids[:, :, None]) & (ids >= 0)[:, :, None]
        new_values = np.where(usable, w[:, :, None] * p_values[:, None, :], 0)                  # [B, m, K_L]
        same = (old_ids[..., None] == p_ids[:, None, None, :]) & usable[:, :, None, :]         # [B, m, old, new]
        old_values = old_values + np.where(same, new_values[:, :, None, :], 0).sum(-1)
        new_values = np.where(same.any(2), 0, new_values)
        candidates = np.empty((batch, m, 2 * k), dtype=np.int64)
        candidates[..., :k], candidates[..., k:] = old_ids, p_ids[:, None, :]
        row_ids, row_values = top_entries(candidates, np.concatenate([old_values, new_values], -1), k)
        self.forward_ids[written] = row_ids
        self.forward_values[written] = row_values

        # 2. rows of P of the slots x in supp(p_{t−1}): they gain the links x -> s kept in step 1;
        #    keep their K_L largest links (values looked up in N, already updated)
        old_next = self._rows(self.backward_ids, p_ids).astype(np.int64)                       # [B, x, K_L]
        old_next_values = self.link_values(p_ids[:, :, None], old_next)
        gained = (row_ids[:, None] == p_ids[:, :, None, None]) & (p_ids >= 0)[:, :, None, None]   # [B, x, m, K_L]
        gained_values = np.where(gained, row_values[:, None], 0).sum(-1)                          # [B, x, m]
        already = (old_next[..., None] == ids[:, None, None, :]).any(2)                           # [B, x, m]
        gained_values = np.where(already, 0, gained_values)
        candidates = np.empty((batch, k, k + m), dtype=np.int64)
        candidates[..., :k], candidates[..., k:] = old_next, ids[:, None, :]
        next_ids, _ = top_entries(candidates, np.concatenate([old_next_values, gained_values], -1), k)
        self.backward_ids[self._index(p_ids)] = next_ids

        # 3. precedence p_t = (1 − Σ w)·p_{t−1} + w, keep the K_L largest
        kept = np.clip(1 - w.sum(-1, keepdims=True), 0, None) * p_values                          # [B, K_L]
        overlap = (p_ids[:, :, None] == ids[:, None, :]) & (p_ids >= 0)[:, :, None]               # [B, K_L, m]
        merged_values = np.concatenate([np.where(overlap.any(2), 0, kept),
                                        w + np.where(overlap, kept[:, :, None], 0).sum(1)], -1)
        self.precedence_ids, self.precedence_values = top_entries(np.concatenate([p_ids, ids], -1), merged_values, k)

        # padding entries wrote into the scratch row: clear it
        self.forward_ids[:, self.slots] = EMPTY
        self.forward_values[:, self.slots] = 0
        self.backward_ids[:, self.slots] = EMPTY

    # -- reads along the links
    def follow(self, ids: torch.Tensor, weights: torch.Tensor) -> tuple:
        """Forward f = N_t w and backward b = P_t w of read weightings given as entries.

        ids [B, R, S] (slot ids, may repeat), weights [B, R, S] (differentiable) ->
        (forward_ids, forward_weights, backward_ids, backward_weights), each [B, R, K_L]: the K_L largest
        entries of f and of b (ids −1, weight 0 where there are fewer). f = A_f w with a detached mixing
        matrix A_f [B, R, K_L, S] of link values, so gradients reach w but not the links.
        """
        ids_np, w = ids.numpy(), weights.detach().numpy()
        rows = self._index(ids_np)
        # f(y) = Σ_i N(y, i) w(i): the successors y of each i are P's row i
        after = self.backward_ids[rows].astype(np.int64)                                       # [B, R, S, K_L]
        after_values = self.link_values(ids_np[..., None], after)
        # b(x) = Σ_j P(x, j) w(j) = Σ_j N(j, x) w(j): the predecessors x of each j are N's row j
        before = self.forward_ids[rows].astype(np.int64)
        listed = (self._rows(self.backward_ids, before) == ids_np[..., None, None]).any(-1)
        before_values = np.where((before >= 0) & listed, self.forward_values[rows], 0)
        # both directions at once: [2, B, R, S, K_L] -> the K_L largest targets and their mixing matrices
        targets, values = np.stack([after, before]), np.stack([after_values, before_values])
        shape = targets.shape[:-2]                                                              # [2, B, R]
        contributions = (w[..., None] * values).reshape(*shape, -1)
        chosen, _ = top_entries(*coalesce(targets.reshape(*shape, -1), contributions), self.link_k)   # [2, B, R, K_L]
        match = (targets[..., None, :, :] == chosen[..., :, None, None]) & (chosen >= 0)[..., :, None, None]
        mix = torch.from_numpy(np.where(match, values[..., None, :, :], 0).sum(-1)).to(weights.dtype)  # [2,B,R,K_L,S]
        mixed = torch.matmul(mix, weights.unsqueeze(-1)).squeeze(-1)                          # [2, B, R, K_L]
        chosen = torch.from_numpy(chosen)
        return chosen[0], mixed[0], chosen[1], mixed[1]

    # -- dense views (O(N·K_L²): tests and small traces only)
    def dense(self, batch: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (N_t [N, N], P_t [N, N], p_t [N]) of one batch element; P is read from P's own rows."""
        n = self.slots
        slots = np.arange(n)
        before_ids = self.forward_ids[batch, :n].astype(np.int64)        # row j of N: predecessors i
        before_values = self.forward_values[batch, :n]
        after_ids = self.backward_ids[batch, :n].astype(np.int64)         # row i of P: successors j
        # a link i -> j exists while i is in N's row j and j is in P's row i
        listed = (after_ids[np.maximum(before_ids, 0)] == slots[:, None, None]).any(-1)
        valid = (before_ids >= 0) & listed
        forward = np.zeros((n, n), dtype=before_values.dtype)
        forward[np.broadcast_to(slots[:, None], before_ids.shape)[valid], before_ids[valid]] = before_values[valid]
        match = before_ids[np.maximum(after_ids, 0)] == slots[:, None, None]   # is i in N's row j?
        values = np.where(match, before_values[np.maximum(after_ids, 0)], 0).sum(-1)
        present = after_ids >= 0
        backward = np.zeros((n, n), dtype=before_values.dtype)
        backward[np.broadcast_to(slots[:, None], after_ids.shape)[present], after_ids[present]] = values[present]
        precedence = np.zeros(n, dtype=before_values.dtype)
        kept = self.precedence_ids[batch] >= 0
        precedence[self.precedence_ids[batch][kept]] = self.precedence_values[batch][kept]
        return torch.from_numpy(forward), torch.from_numpy(backward), torch.from_numpy(precedence)

    def tables(self) -> tuple:
        """The O(N) tables, allocated once per store (tests check they are never reallocated)."""
        return (self.forward_ids, self.forward_values, self.backward_ids)

    def restart(self, batch_ids: torch.Tensor, slot_ids: torch.Tensor) -> None:
        """No links and no precedence, as at the start; batch_ids, slot_ids [n]: every slot written since the
        last restart (the only rows an update changes: N's rows of written slots, P's rows of slots in the
        precedence, which were written). O(rows written): the pooled store's restart calls it."""
        rows = (batch_ids.numpy(), slot_ids.numpy())
        self.forward_ids[rows] = EMPTY
        self.forward_values[rows] = 0
        self.backward_ids[rows] = EMPTY
        self.precedence_ids[:] = EMPTY
        self.precedence_values[:] = 0
