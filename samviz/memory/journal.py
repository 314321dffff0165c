"""Sparse BPTT: one memory buffer modified in place, a per-step journal, and a rollback in backward.

Why: a naive autograd implementation keeps a copy of the N×W memory per step (O(T·N·W) memory)
however sparse the weights are. Here the memory lives in ONE buffer outside autograd. Each step:

    write(ids, weights, word, erase_ids)   zero the erased rows, add weights·word to the rows `ids`,
                                           and push (ids, old rows) onto the journal
    read_rows(ids)                         gather rows (a copy, so autograd saves only K·R rows)

Backward walks the steps in reverse. A read's backward adds its row gradients to a sparse gradient
store G (the gradient of the loss with respect to the memory rows at that step). A write's backward
reads G at the written rows to get the gradients of its weights and word, clears G on the erased rows
(their old value no longer matters), and restores the old rows (the rollback). Every operation touches
only the rows it names, so time and extra memory per step are independent of N.

Ordering: autograd must run these backwards in reverse time order. Every operation consumes the
previous operation's `token` (a scalar tensor) and produces a new one, so the autograd graph is a
chain write_1 → read_1 → write_2 → read_2 → … and the engine walks it backwards in order.

Shapes: B batch, N slots, W word size, n ids per call.
"""
import numpy as np
import torch

from .index import make_index

INITIAL_MEMORY_VALUE = 1e-6   # a small constant, as for the NTM (Collier & Beel 2018)
INITIAL_MEMORY_JITTER = 1e-2  # relative jitter so that rows differ: ties in top-K become deterministic and
                              # an IVF index can spread the rows over its lists (identical rows → one list)


class SparseGradients:
    """Gradients of the loss with respect to individual memory rows, stored only for rows that have one.

    `position` maps a flat row id (b·N + slot) to a row of a compact pool [capacity, W] (−1: no gradient).
    The map is an int32 array of B·N entries made once per episode with the memory (1/W of the memory's
    size); everything done per step touches only the rows named. Pool row 0 stays zero and is what a
    row without gradient reads.
    """

    def __init__(self, total_rows: int, word_size: int, dtype: torch.dtype):
        self.word_size, self.dtype = word_size, dtype
        self.position = np.full(total_rows, -1, dtype=np.int64)
        self.pool = torch.zeros(256, word_size, dtype=dtype)
        self.count = 1

    def _positions(self, flat_ids: np.ndarray, create: bool) -> torch.Tensor:
        positions = self.position[flat_ids]
        if create:
            missing = positions < 0
            if missing.any():
                # a repeated new id takes the last of its positions; the others stay unused (cheaper than unique)
                new_ids = flat_ids[missing]
                self.position[new_ids] = np.arange(self.count, self.count + len(new_ids))
                self.count += len(new_ids)
                if self.count > self.pool.shape[0]:
                    grown = torch.zeros(max(self.count, 2 * self.pool.shape[0]), self.word_size, dtype=self.dtype)
                    grown[: self.pool.shape[0]] = self.pool
                    self.pool = grown
                positions = self.position[flat_ids]
        return torch.from_numpy(np.maximum(positions, 0))

    def add(self, flat_ids: np.ndarray, gradients: torch.Tensor) -> None:
        """flat_ids [n], gradients [n, W] (duplicates accumulate)."""
        positions = self._positions(flat_ids, create=True)   # may grow the pool: look it up afterwards
        self.pool.index_add_(0, positions, gradients.to(self.dtype))

    def get(self, flat_ids: np.ndarray) -> torch.Tensor:
        """flat_ids [n] -> [n, W] (zeros where no gradient was stored)."""
        return self.pool[self._positions(flat_ids, create=False)]

    def discard(self, flat_ids: np.ndarray) -> None:
        """Forget the gradients of these rows (their old values were erased)."""
        self.pool[self._positions(flat_ids, create=False)] = 0


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
        # filled now rather than np.zeros (mapped lazily in huge pages): see SparseLinks in sdnc.py
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
        slot_ids, accessed = np.take_along_axis(slot_ids, order, 1), np.take_along_axis(accessed, order, 1)
        self.queue_slot[:, self.tail:self.tail + m] = slot_ids
        self.queue_time[:, self.tail:self.tail + m] = np.where(accessed, time, self.NEVER)
        self.tail += m
        rows = np.broadcast_to(self._rows, slot_ids.shape)
        self.last_access[rows[accessed], slot_ids[accessed]] = time

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


class SparseMemory:
    """The memory buffer [B, N, W], its index, its least-recently-used tracker, and the sparse BPTT journal."""

    def __init__(self, batch_size: int, slots: int, word_size: int, index: str = "exact",
                 dtype: torch.dtype = torch.float32, initial_memory: torch.Tensor | None = None):
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        if initial_memory is None:
            jitter = torch.rand(slots, word_size, generator=torch.Generator().manual_seed(0), dtype=dtype)
            initial_memory = (INITIAL_MEMORY_VALUE * (1 + INITIAL_MEMORY_JITTER * jitter)).expand(batch_size, -1, -1)
        self.buffer = initial_memory.to(dtype).clone().contiguous()
        self.index = make_index(index, batch_size, slots, word_size)
        self.index.reset(self.buffer)
        self.usage = LeastRecentlyUsed(batch_size, slots)
        self.gradients = SparseGradients(batch_size * slots, word_size, dtype)
        self._batch = torch.arange(batch_size).unsqueeze(1)
        self._row_offsets = np.arange(batch_size)[:, None] * slots
        self.token = None

    def _current_token(self) -> torch.Tensor:
        """The last operation's token; a fresh leaf when a forward pass starts (or restarts after backward
        rolled the buffer back, which is how benchmarks reuse one memory without rebuilding its index)."""
        if self.token is None:
            self.token = torch.zeros((), dtype=self.buffer.dtype, requires_grad=True)
        return self.token

    def end_forward(self) -> None:
        """Forget the last token. The autograd graph holds this memory (for backward) and the memory held
        the graph's last node through its token: a cycle through C++ that Python's collector cannot see,
        which leaked every episode's graph. The graph keeps the memory alive for backward on its own."""
        self.token = None

    def flat(self, ids: torch.Tensor) -> np.ndarray:
        """ids [B, n] -> flat row ids [B·n] (b·N + slot)."""
        return (self._row_offsets + ids.numpy()).reshape(-1)

    def read_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, n] -> rows [B, n, W], differentiable with respect to every earlier write."""
        rows, self.token = _ReadRows.apply(self._current_token(), ids, self)
        return rows

    def write(self, ids: torch.Tensor, weights: torch.Tensor, word: torch.Tensor, erase_ids: torch.Tensor) -> None:
        """Erase rows erase_ids [B] (set to zero), then add weights [B, m] · word [B, W] to rows ids [B, m]."""
        self.token = _WriteRows.apply(self._current_token(), weights, word, ids, erase_ids, self)

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        """queries [B, Q, W] -> slot ids [B, Q, k] of the most cosine-similar rows (no gradient)."""
        return self.index.search(queries.detach().to(self.buffer.dtype), k)


class _ReadRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, token, ids, memory):
        ctx.memory, ctx.ids = memory, ids
        rows = memory.buffer[memory._batch, ids]          # advanced indexing copies: [B, n, W]
        return rows, token.clone()

    @staticmethod
    def backward(ctx, grad_rows, grad_token):
        memory = ctx.memory
        memory.gradients.add(memory.flat(ctx.ids), grad_rows.reshape(-1, memory.word_size))
        return grad_token, None, None


class _WriteRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, token, weights, word, ids, erase_ids, memory):
        batch = memory._batch
        changed = torch.cat([erase_ids.unsqueeze(1), ids], dim=1)          # [B, 1 + m]
        old_rows = memory.buffer[batch, changed]                            # the journal entry
        memory.buffer[batch, changed[:, :1]] = 0
        additions = (weights.detach().unsqueeze(-1) * word.detach().unsqueeze(1)).to(memory.buffer.dtype)
        memory.buffer.index_put_((batch.expand_as(ids), ids), additions, accumulate=True)
        memory.index.update(batch.expand_as(changed).reshape(-1), changed.reshape(-1),
                            memory.buffer[batch, changed].reshape(-1, memory.word_size))
        ctx.memory = memory
        ctx.journal = (ids, changed, old_rows)
        ctx.save_for_backward(weights, word)
        return token.clone()

    @staticmethod
    def backward(ctx, grad_token):
        memory = ctx.memory
        weights, word = ctx.saved_tensors
        ids, changed, old_rows = ctx.journal
        row_gradients = memory.gradients.get(memory.flat(ids)).reshape(*ids.shape, -1).to(word.dtype)   # [B, m, W]
        grad_weights = (row_gradients * word.unsqueeze(1)).sum(-1)
        grad_word = (row_gradients * weights.unsqueeze(-1)).sum(1)
        memory.gradients.discard(memory.flat(changed[:, :1]))     # the erased rows' old values did not matter
        # rollback: every row changed at this step gets its value from before the step back
        # (a slot listed twice holds the same old value twice, so the order of the copies does not matter)
        memory.buffer[memory._batch.expand_as(changed), changed] = old_rows
        return grad_token, grad_weights, grad_word, None, None, None
