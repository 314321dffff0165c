"""SAM's usage: which slot is least recently used, without scanning N per step (docs/PAPER_NOTES.md, #sam).

    a slot is accessed at step t when w^W_t(i) + Σ_h w^R_{h,t}(i) > δ           (reads count as well as writes)
    U_t(i) = steps since slot i was last accessed;  the least recently used slot = argmax_i U_t(i)

δ = ACCESS_THRESHOLD. `accessed_slots` applies the threshold to one step's entries; `LeastRecentlyUsed`
keeps the bookkeeping in O(1) amortised per access. Shared by SAM (sam.py) and the SDNC (sdnc.py).
"""
from __future__ import annotations

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

    The paper keeps slots in a ring in access order. Here, per batch element:
      * a cursor below which every slot has been accessed: while a slot was never accessed, the least
        recently used slot is the lowest such slot (never accessed ranks oldest; ties break towards the lower
        slot id, like argmin), found by moving the cursor forward over accessed slots — it never moves back;
      * once every slot has been accessed, a queue of (slot, time) entries in access order: accessing a slot
        appends an entry and makes its older entries stale (their time ≠ last_access[slot]); the least
        recently used slot is the first non-stale entry, stale entries being popped as they reach the front.
    Each slot and entry is looked at a bounded number of times: O(1) amortised per access. The queue holds
    accesses only (it grows by doubling, compacting stale entries first), never N entries up front, so
    set-up is one last-access table, and `clear()` forgets an episode in O(its accesses).
    Integer bookkeeping with no gradient, so it runs on numpy (much lower per-call overhead than torch).
    """

    SCAN_WINDOW = 16
    NEVER = -2          # time of an entry that can never be valid
    FIRST_CAPACITY = 4096

    def __init__(self, batch_size: int, slots: int):
        self.batch_size, self.slots = batch_size, slots
        # filled now rather than np.zeros (mapped lazily in huge pages): see SparseLinks in links.py
        self.last_access = np.full((batch_size, slots), -1, dtype=np.int64)
        self.queue_slot = np.full((batch_size, self.FIRST_CAPACITY), 0, dtype=np.int64)
        self.queue_time = np.full((batch_size, self.FIRST_CAPACITY), self.NEVER, dtype=np.int64)
        self.head = np.zeros(batch_size, dtype=np.int64)
        self.tail = 0                        # every batch element appends the same number of entries per step
        self.cursor = np.zeros(batch_size, dtype=np.int64)
        self.version = 0                     # accesses recorded so far (UsageBefore checks it)
        self.changed: tuple | None = None    # the last access's (batch rows, slots, their previous last access)
        self._rows = np.arange(batch_size)[:, None]
        self._window = np.arange(self.SCAN_WINDOW)          # queue entries looked at per round

    def clear(self) -> None:
        """Nothing accessed, in O(accesses): every accessed slot has its valid entry in queue[head:tail]."""
        for b in range(self.batch_size):
            self.last_access[b, self.queue_slot[b, self.head[b]:self.tail]] = -1
        self.queue_time[:, :self.tail] = self.NEVER
        self.head[:] = 0
        self.tail = 0
        self.cursor[:] = 0
        self.changed = None
        self.version += 1

    def _never_accessed(self) -> np.ndarray:
        """-> [B] each batch element's lowest never-accessed slot, or N when every slot has been accessed. The
        cursor only moves forward (slots only become accessed until `clear`): a plain loop over the few slots
        it passes, cheaper than numpy calls' fixed overhead at such sizes (this runs on every step)."""
        for b in range(self.batch_size):
            row, slot, end = self.last_access[b], int(self.cursor[b]), self.slots
            while slot < end and row[slot] >= 0:
                slot += 1
            self.cursor[b] = slot
        return self.cursor.copy()

    def least_recently_used(self) -> torch.Tensor:
        """-> slot ids [B]: each batch element's slot with the oldest last access."""
        result = self._never_accessed()
        rows = np.flatnonzero(result >= self.slots)[:, None]
        while rows.size:
            offsets = np.minimum(self.head[rows[:, 0], None] + self._window, self.tail - 1)
            slots = self.queue_slot[rows, offsets]
            valid = self.last_access[rows, slots] == self.queue_time[rows, offsets]
            first = valid.argmax(axis=1)
            found = valid[np.arange(len(rows)), first]
            done = rows[found, 0]
            result[done] = slots[found, first[found]]
            self.head[done] = offsets[found, first[found]]          # pop the stale entries before it
            stuck = ~found
            self.head[rows[stuck, 0]] = offsets[stuck, -1] + 1
            rows = rows[stuck]
        return torch.from_numpy(result)

    def access(self, time: int, slot_ids: torch.Tensor, accessed: torch.Tensor) -> None:
        """Record that at step `time` the slots slot_ids [B, m] were accessed where accessed [B, m] is True.

        Entries naming the same slot must agree on `accessed`.
        """
        slot_ids, accessed = slot_ids.numpy(), accessed.numpy()
        m = slot_ids.shape[1]
        if self.tail + m > self.queue_slot.shape[1]:
            self._compact(m)
        # sort so that slots accessed at the same step queue in slot order (argmin's tie-break)
        order = np.argsort(np.where(accessed, slot_ids, slot_ids + self.slots), axis=1, kind="stable")
        rows = self._rows[:slot_ids.shape[0]]                 # fancy indexing: take_along_axis's checks cost more
        slot_ids, accessed = slot_ids[rows, order], accessed[rows, order]
        self.queue_slot[:, self.tail:self.tail + m] = slot_ids
        self.queue_time[:, self.tail:self.tail + m] = np.where(accessed, time, self.NEVER)
        self.tail += m
        batch_rows, slots = np.broadcast_to(rows, slot_ids.shape)[accessed], slot_ids[accessed]
        self.changed = (batch_rows, slots, self.last_access[batch_rows, slots])
        self.last_access[batch_rows, slots] = time
        self.version += 1

    def _compact(self, room: int) -> None:
        """Drop stale entries in place once the queue is full, and double it when that leaves less than half
        free (amortised O(1) per access)."""
        kept_counts = []
        for b in range(self.batch_size):
            start = int(self.head[b])
            slots = self.queue_slot[b, start:self.tail]
            times = self.queue_time[b, start:self.tail]
            keep = self.last_access[b, slots] == times
            kept = int(keep.sum())
            self.queue_slot[b, :kept] = slots[keep]
            self.queue_time[b, :kept] = times[keep]
            self.queue_time[b, kept:self.tail] = self.NEVER
            self.head[b] = 0
            kept_counts.append(kept)
        self.tail = max(kept_counts)    # shorter queues are padded with never-valid entries
        capacity = self.queue_slot.shape[1]
        if 2 * (self.tail + room) > capacity:
            grown = max(2 * capacity, 2 * (self.tail + room))
            slot_table = np.full((self.batch_size, grown), 0, dtype=np.int64)
            time_table = np.full((self.batch_size, grown), self.NEVER, dtype=np.int64)
            slot_table[:, :self.tail], time_table[:, :self.tail] = self.queue_slot[:, :self.tail], \
                self.queue_time[:, :self.tail]
            self.queue_slot, self.queue_time = slot_table, time_table

    def steps_since_access(self, time: int) -> torch.Tensor:
        """Usage U_t(i) = steps since the last access [B, N] (O(N): for traces only). Never accessed: time + 1."""
        return torch.from_numpy(time - self.last_access)

    def before_last_access(self, time: int) -> UsageBefore:
        """The usage as it was before the last `access` call, at step `time` (see UsageBefore)."""
        return UsageBefore(self, time)


class UsageBefore:
    """A step's usage as its write saw it — steps since each slot's last access, before the step's own accesses —
    without copying the [B, N] table: the table as it is now, with the m slots the step accessed given back
    their previous last access. Valid until the tracker records its next access (a step's details are read
    right after the step); reading it later raises.

    age(b, slots) is O(len(slots)); vector(b) and [b] give a whole row [N] (O(N): small memories only).
    """

    def __init__(self, tracker: LeastRecentlyUsed, time: int):
        self.tracker, self.time, self.version = tracker, time, tracker.version
        rows, slots, previous = tracker.changed if tracker.changed is not None else ((), (), ())
        self.previous: dict[tuple[int, int], int] = {(int(b), int(s)): int(p)
                                                     for b, s, p in zip(rows, slots, previous, strict=True)}

    def _check(self) -> None:
        if self.tracker.version != self.version:
            raise RuntimeError("a step's usage_before was read after a later step; read it right after the step")

    def age(self, b: int, slots) -> np.ndarray:
        """Steps since the last access of each of `slots` (ints) of batch element b, before the step."""
        self._check()
        slots = np.atleast_1d(np.asarray(slots, dtype=np.int64))
        last = self.tracker.last_access[b, slots].copy()
        for i, slot in enumerate(slots.tolist()):
            last[i] = self.previous.get((b, slot), last[i])
        return self.time - last

    def vector(self, b: int) -> torch.Tensor:
        """[N] int64 steps since each slot's last access, before the step (O(N))."""
        self._check()
        last = self.tracker.last_access[b].copy()
        for (row, slot), previous in self.previous.items():
            if row == b:
                last[slot] = previous
        return torch.from_numpy(self.time - last)

    def __getitem__(self, b: int) -> torch.Tensor:
        return self.vector(b)
