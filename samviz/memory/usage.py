"""SAM's usage: which slot is least recently used, without scanning N per step (docs/PAPER_NOTES.md, #sam).

    a slot is accessed at step t when w^W_t(i) + Σ_h w^R_{h,t}(i) > δ           (reads count as well as writes)
    U_t(i) = steps since slot i was last accessed;  the least recently used slot = argmax_i U_t(i)

δ = ACCESS_THRESHOLD. `accessed_slots` applies the threshold to one step's entries; `LeastRecentlyUsed`
keeps the bookkeeping in O(1) amortised per access. Shared by SAM (sam.py) and the SDNC (sdnc.py).
"""
import numpy as np
import torch

ACCESS_THRESHOLD = 0.005          # δ: the paper's value (the default of SAM's and the SDNC's access_threshold)
# What counts as an access: the paper's reads and writes (reading a word protects it from being overwritten), or,
# for the ablation, writes only (the least recently WRITTEN slot is overwritten, whatever has been read since).
ACCESS_KINDS = ("reads_and_writes", "writes")
DEFAULT_ACCESS_KIND = "reads_and_writes"
MAX_ACCESS_THRESHOLD = 0.99       # a read's weights sum to 1: with δ ≥ 1 no single read could count as an access


def check_access_threshold(threshold: float) -> float:
    """δ (SAM's and the SDNC's access_threshold) must be a number in [0, MAX_ACCESS_THRESHOLD]."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 <= threshold <= MAX_ACCESS_THRESHOLD:
        raise ValueError(f"access_threshold must be a number in [0, {MAX_ACCESS_THRESHOLD:g}] (got {threshold!r})")
    return threshold


def accessed_slots(ids: torch.Tensor, weights: torch.Tensor, threshold: float = ACCESS_THRESHOLD) -> torch.Tensor:
    """Which entries name an accessed slot: w^W(i) + Σ_h w^R_h(i) > δ (= threshold), summing entries that share
    a slot.

    ids, weights [B, m] (a slot may appear several times: several heads, or read and write) -> bool [B, m].
    The pairwise comparison is O(m²) with m = 2·R·K + 1, independent of N. In numpy (one matmul): this runs
    every step of SAM and the SDNC, and the torch version's four small ops cost ~2× as much per call.
    """
    ids_np, weights_np = ids.numpy(), weights.detach().numpy()
    same_slot = (ids_np[:, :, None] == ids_np[:, None, :]).astype(weights_np.dtype)            # [B, m, m]
    total = np.matmul(same_slot, weights_np[:, :, None])[:, :, 0]        # summed weight of each entry's slot
    return torch.from_numpy(total > threshold)


class LeastRecentlyUsed:
    """Finds the least recently accessed slot per batch element without scanning N each step.

    The paper keeps slots in a ring in access order. Here: a queue per batch element of (slot, time)
    entries in the order they were accessed, initially every slot with time −1 in slot order. Accessing
    a slot appends a new entry and makes its older entries stale (their time ≠ last_access[slot]). The
    least recently used slot is the first non-stale entry; stale entries are popped as they reach the
    front, so each entry is looked at a bounded number of times: O(1) amortised per access.
    Ties (slots last accessed at the same step) break towards the lower slot id, like argmin.
    Integer bookkeeping with no gradient, so it runs on numpy (much lower per-call overhead than torch).
    """

    SCAN_WINDOW = 16
    NEVER = -2          # time of an entry that can never be valid

    def __init__(self, batch_size: int, slots: int):
        self.batch_size, self.slots = batch_size, slots
        self.last_access = np.full((batch_size, slots), -1, dtype=np.int64)
        capacity = 2 * slots + 4096
        # filled now rather than np.zeros (mapped lazily in huge pages): see SparseLinks in links.py
        self.queue_slot = np.full((batch_size, capacity), 0, dtype=np.int64)
        self.queue_slot[:, :slots] = np.arange(slots)
        self.queue_time = np.full((batch_size, capacity), self.NEVER, dtype=np.int64)
        self.queue_time[:, :slots] = -1
        self.head = np.zeros(batch_size, dtype=np.int64)
        self.tail = slots                    # every batch element appends the same number of entries per step
        self._rows = np.arange(batch_size)[:, None]
        self._window = np.arange(self.SCAN_WINDOW)

    def least_recently_used(self) -> torch.Tensor:
        """-> slot ids [B]: each batch element's slot with the oldest last access."""
        result = np.empty(self.batch_size, dtype=np.int64)
        rows = self._rows
        while True:
            offsets = np.minimum(self.head[rows[:, 0], None] + self._window, self.tail - 1)
            slots = self.queue_slot[rows, offsets]
            valid = self.last_access[rows, slots] == self.queue_time[rows, offsets]
            first = valid.argmax(axis=1)
            found = valid[np.arange(len(rows)), first]
            done = rows[found, 0]
            result[done] = slots[found, first[found]]
            self.head[done] = offsets[found, first[found]]          # pop the stale entries before it
            if found.all():
                return torch.from_numpy(result)
            stuck = ~found
            self.head[rows[stuck, 0]] = offsets[stuck, -1] + 1
            rows = rows[stuck]

    def access(self, time: int, slot_ids: torch.Tensor, accessed: torch.Tensor) -> None:
        """Record that at step `time` the slots slot_ids [B, m] were accessed where accessed [B, m] is True.

        Entries naming the same slot must agree on `accessed`.
        """
        slot_ids, accessed = slot_ids.numpy(), accessed.numpy()
        m = slot_ids.shape[1]
        if self.tail + m > self.queue_slot.shape[1]:
            self._compact()
        # sort so that slots accessed at the same step queue in slot order (argmin's tie-break)
        order = np.argsort(np.where(accessed, slot_ids, slot_ids + self.slots), axis=1, kind="stable")
        rows = self._rows[:slot_ids.shape[0]]                 # fancy indexing: take_along_axis's checks cost more
        slot_ids, accessed = slot_ids[rows, order], accessed[rows, order]
        self.queue_slot[:, self.tail:self.tail + m] = slot_ids
        self.queue_time[:, self.tail:self.tail + m] = np.where(accessed, time, self.NEVER)
        self.tail += m
        self.last_access[np.broadcast_to(rows, slot_ids.shape)[accessed], slot_ids[accessed]] = time

    def _compact(self) -> None:
        """Drop stale entries in place once the queue is full (amortised O(1) per access)."""
        kept_counts = []
        for b in range(self.batch_size):
            start = int(self.head[b])
            slots = self.queue_slot[b, start:self.tail]
            times = self.queue_time[b, start:self.tail]
            keep = self.last_access[b, slots] == times
            kept = int(keep.sum())
            self.queue_slot[b, :kept] = slots[keep]
            self.queue_time[b, :kept] = times[keep]
            self.queue_time[b, kept:] = self.NEVER
            self.head[b] = 0
            kept_counts.append(kept)
        self.tail = max(kept_counts)    # shorter queues are padded with never-valid entries

    def steps_since_access(self, time: int) -> torch.Tensor:
        """Usage U_t(i) = steps since the last access [B, N] (O(N): for traces only). Never accessed: time + 1."""
        return torch.from_numpy(time - self.last_access)
