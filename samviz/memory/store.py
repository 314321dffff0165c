"""The O(N) part of a sparse memory, made once and reused by every episode: set-up in O(rows touched).

A SAM or SDNC episode needs tables as large as the memory: the buffer [B, N, W], the index's maps, the
least-recently-used tracker's last-access table [B, N], the sparse gradient store's position map [B·N] and,
for the SDNC, its link tables [B, N, K_L] (attached to the store).
Making them costs O(B·N·W) — at 2^20 slots and batch 8 about ten times the steps of a short episode — while
an episode touches only (K·R + 1)·T rows. So a `MemoryStore` holds them, a pool keeps the stores of finished
episodes, and the next episode of the same shape takes one and `restart()`s it: the rows it touched go back
to the start (zero or jittered rows), and every table forgets them, in O(rows touched).

When is a store free? Its episode's `SparseMemory` (journal.py) lends it and gives it back to the pool when
it is garbage-collected — when neither the model's state nor an autograd graph (whose backward would roll
the buffer back) refers to it. A store is therefore never shared by two live episodes. A memory that starts
from rows of its own (a test's `initial_memory`) is not pooled.

Shapes: B batch, N slots, W word size.
"""
from __future__ import annotations

from collections import OrderedDict
import threading

import numpy as np
import torch

from .index import make_index
from .initial import initial_memory
from .usage import LeastRecentlyUsed

POOL_SIZE = 2     # finished stores kept per process (a training batch and a validation batch, say), newest last


class SparseGradients:
    """Gradients of the loss with respect to individual memory rows, stored only for rows that have one.

    `position` maps a flat row id (b·N + slot) to a row of a compact pool [capacity, W] (−1: no gradient).
    The map is an int64 array of B·N entries made once with the store; everything done per step touches
    only the rows named, and `clear()` forgets only the rows that got a place. Pool row 0 stays zero and is
    what a row without gradient reads.
    """

    def __init__(self, total_rows: int, word_size: int, dtype: torch.dtype):
        self.word_size, self.dtype = word_size, dtype
        # filled now rather than np.full's lazily mapped zero pages: see SparseLinks in links.py
        self.position = np.full(total_rows, -1, dtype=np.int64)
        self.pool = torch.zeros(256, word_size, dtype=dtype)
        self.count = 1
        self.placed: list[np.ndarray] = []       # the flat ids given a place, for clear()

    def _positions(self, flat_ids: np.ndarray, create: bool) -> torch.Tensor:
        positions = self.position[flat_ids]
        if create:
            missing = positions < 0
            if missing.any():
                # a repeated new id takes the last of its positions; the others stay unused (cheaper than unique)
                new_ids = flat_ids[missing]
                self.position[new_ids] = np.arange(self.count, self.count + len(new_ids))
                self.placed.append(new_ids)
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

    def clear(self) -> None:
        """No row has a gradient: O(rows that had one)."""
        for ids in self.placed:
            self.position[ids] = -1
        self.placed = []
        self.pool[:self.count] = 0
        self.count = 1


class MemoryStore:
    """The buffer [B, N, W], its index, its least-recently-used tracker and its gradient store, for one shape.

    `start` names initial.py's rows the buffer starts from ("zero" or "jittered"), or is None for rows of
    the caller's (`initial_memory`; such a store is never pooled). `touch(flat ids)` records the rows an
    episode changes (a bitmap plus the list of rows touched once), so `restart()` restores exactly those.
    """

    def __init__(self, batch_size: int, slots: int, word_size: int, index: str, dtype: torch.dtype,
                 start: str | None, initial_memory_rows: torch.Tensor | None = None):
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        self.index_kind, self.dtype, self.start = index, dtype, start
        if start is not None:
            initial_memory_rows = initial_memory(start, batch_size, slots, word_size, dtype)
        self.start_rows = initial_memory_rows[0] if start == "jittered" else None    # [N, W], every b the same
        self.buffer = initial_memory_rows.to(dtype).clone().contiguous()
        self.index = make_index(index, batch_size, slots, word_size)
        self.index.reset(self.buffer)
        self.usage = LeastRecentlyUsed(batch_size, slots)
        self.gradients = SparseGradients(batch_size * slots, word_size, dtype)
        self.touched_bits = np.full(batch_size * slots, 0, dtype=np.uint8)   # filled now: resident at set-up
        self.touched: list[np.ndarray] = []
        self.restarts = 0                       # episodes this store served after its first
        self.attached: dict = {}                # a core's own O(N) tables (the SDNC's links), see attach()

    def attach(self, name: str, make):
        """The table a core keeps beside the memory under `name` (made by make() the first time): it lives as
        long as the store, and the store's restart calls its restart(batch_ids, slot_ids) with the rows
        written since the last one."""
        if name not in self.attached:
            self.attached[name] = make()
        return self.attached[name]

    @property
    def key(self) -> tuple:
        return (self.batch_size, self.slots, self.word_size, self.index_kind, self.dtype, self.start)

    def nbytes(self) -> int:
        return self.buffer.numel() * self.buffer.element_size() + self.usage.last_access.nbytes \
            + self.gradients.position.nbytes + self.touched_bits.nbytes

    def touch(self, flat_ids: np.ndarray) -> None:
        """Rows (flat ids b·N + slot) about to change: remember the ones not seen since the last restart."""
        new = flat_ids[self.touched_bits[flat_ids] == 0]
        if new.size:                          # a row named twice here is listed twice: restored twice, harmlessly
            self.touched_bits[new] = 1
            self.touched.append(new)

    def touched_rows(self) -> np.ndarray:
        """Flat ids of every row changed since the last restart (each once, ascending)."""
        return np.unique(np.concatenate(self.touched)) if self.touched else np.zeros(0, dtype=np.int64)

    def restart(self) -> None:
        """Back to the start, in O(rows touched): rows, index, least-recently-used tracker, gradients."""
        flat = self.touched_rows()
        if flat.size:
            rows = self.buffer.view(-1, self.word_size)
            ids = torch.from_numpy(flat)
            if self.start_rows is None:
                rows[ids] = 0
            else:
                rows[ids] = self.start_rows[ids % self.slots]
            self.touched_bits[flat] = 0
            self.touched = []
            batch_ids, slot_ids = ids // self.slots, ids % self.slots
            self.index.restart(batch_ids, slot_ids, rows[ids])
            for table in self.attached.values():
                table.restart(batch_ids, slot_ids)
        self.usage.clear()
        self.gradients.clear()
        self.restarts += 1


_POOL: OrderedDict[int, MemoryStore] = OrderedDict()
_POOL_LOCK = threading.Lock()


def take(batch_size: int, slots: int, word_size: int, index: str, dtype: torch.dtype, start: str) -> MemoryStore:
    """A store of this shape starting from initial.py's `start`: a finished one restarted, or a new one."""
    key = (batch_size, slots, word_size, index, dtype, start)
    with _POOL_LOCK:
        found = next((ident for ident, store in _POOL.items() if store.key == key), None)
        store = _POOL.pop(found) if found is not None else None
    if store is None:
        return MemoryStore(batch_size, slots, word_size, index, dtype, start)
    store.restart()
    return store


def give_back(store: MemoryStore) -> None:
    """A finished episode's store, for the next episode of its shape (the oldest beyond POOL_SIZE is dropped)."""
    if store.start is None:
        return
    with _POOL_LOCK:
        _POOL[id(store)] = store
        while len(_POOL) > POOL_SIZE:
            _POOL.popitem(last=False)


def clear_pool() -> None:
    """Drop every finished store (frees their memory)."""
    with _POOL_LOCK:
        _POOL.clear()
