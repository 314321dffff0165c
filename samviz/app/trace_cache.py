"""Traces held compactly, in a cache bounded in bytes (least recently used first out).

Why: a traced episode is JSON-shaped Python lists, and a dense model at 4096 slots records 4096 ids and
weights per head per step: 35–50 MB of Python floats for one copy episode at level 40. An entry-counted
cache of 48 such traces let one visitor grow the server by 1.7 GB (issue 15, item 3).

Compact form (`compact`): every list of at least COMPACT_MIN numbers becomes an `array.array` (float32 when
that is exact — traces are recorded from float32 tensors, so it is — else float64; int32 or int64 ids), and
a list of numeric rows (memory [N][W], rows written [n][W], inputs [T][I]) becomes a list of arrays. Arrays
iterate, index, take len() and test empty like the lists they replace, so figures and narration read a
compact trace unchanged; `expand` gives the plain lists back (the JSON download). Shorter lists (gates,
K neighbours) stay lists. A compact trace takes 4–8 bytes per number instead of about 32.

`ByteBudgetLRU` keeps entries until their total size (`deep_bytes`, CPython's own object sizes, shared
objects counted once per reference: an over-estimate) would pass its budget, then drops the least recently
used. An entry larger than the whole budget is returned but not kept. Values are shared by every session:
they must be treated as read-only (the app's figures and narration only read). Thread-safe; concurrent
requests for the same key compute it once.
"""
from __future__ import annotations

import array
from collections import OrderedDict
from collections.abc import Callable, Hashable
import sys
import threading

import numpy as np

from samviz.trace import EpisodeTrace

COMPACT_MIN = 16                  # numeric lists at least this long become arrays
INT32 = (-(2**31), 2**31 - 1)


# ------------------------------------------------------------------------------------------ compact form

NUMBER_TYPES = frozenset({int, float})      # not bool: True/False stay what they are


def _numeric(values) -> bool:
    return set(map(type, values)) <= NUMBER_TYPES


def _array(values: list) -> array.array:
    """A list of numbers as the smallest array that gives the same numbers back."""
    types = set(map(type, values))
    if types == {int}:
        fits = INT32[0] <= min(values) and max(values) <= INT32[1]
        return array.array("i" if fits else "q", values)
    if types == {float}:                     # the common case, vectorised: float32 when that is exact
        doubles = np.asarray(values, dtype=np.float64)
        singles = doubles.astype(np.float32)
        if np.array_equal(singles, doubles):
            return array.array("f", singles.tobytes())
        return array.array("d", doubles.tobytes())
    single = array.array("f", values)        # ints and floats mixed (or empty)
    return single if single.tolist() == values else array.array("d", values)


def compact(value):
    """JSON-shaped data -> the same data with long numeric lists (and lists of numeric rows) as arrays."""
    if isinstance(value, dict):
        return {key: compact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) >= COMPACT_MIN and _numeric(value):
            return _array(list(value))
        rows = len(value) > 0 and all(isinstance(row, (list, tuple)) and _numeric(row) for row in value)
        if rows and sum(len(row) for row in value) >= COMPACT_MIN:
            return [_array(list(row)) for row in value]
        return [compact(item) for item in value]
    return value


def expand(value):
    """The inverse of `compact`: arrays back to plain lists (ints stay ints, float32 values as Python floats)."""
    if isinstance(value, array.array):
        return value.tolist()
    if isinstance(value, dict):
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def compact_trace(trace: EpisodeTrace) -> EpisodeTrace:
    return EpisodeTrace(**{name: compact(getattr(trace, name)) for name in EpisodeTrace.__dataclass_fields__})


def expand_trace(trace: EpisodeTrace) -> EpisodeTrace:
    return EpisodeTrace(**{name: expand(getattr(trace, name)) for name in EpisodeTrace.__dataclass_fields__})


def trace_json(trace: EpisodeTrace) -> str:
    """The trace's JSON (samviz/trace/episode.py's format), whether it is compact or not."""
    return expand_trace(trace).to_json()


def deep_bytes(value) -> int:
    """Bytes held by `value` and everything it references (dicts, lists, tuples, arrays, dataclass fields)."""
    total = sys.getsizeof(value)
    if isinstance(value, dict):
        total += sum(deep_bytes(key) + deep_bytes(item) for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        total += sum(deep_bytes(item) for item in value)
    elif hasattr(value, "__dataclass_fields__"):
        total += sum(deep_bytes(getattr(value, name)) for name in value.__dataclass_fields__)
    return total                  # arrays, numbers and strings: getsizeof already includes their data


# ------------------------------------------------------------------------------------------ the cache

class ByteBudgetLRU:
    """A least-recently-used cache whose entries together never hold more than `max_bytes` (by `size_of`)."""

    def __init__(self, max_bytes: int, size_of: Callable[[object], int] = deep_bytes):
        self.max_bytes = int(max_bytes)
        self.size_of = size_of
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    @property
    def total_bytes(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key) -> bool:
        return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0

    def get(self, key, default=None):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, value, size: int | None = None) -> bool:
        """Keep `value` (evicting the least recently used entries as needed) -> whether it was kept."""
        size = self.size_of(value) if size is None else int(size)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= old[1]
            if size > self.max_bytes:
                return False
            while self._entries and self._total + size > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._total -= dropped
            self._entries[key] = (value, size)
            self._total += size
            return True

    def get_or_compute(self, key, compute: Callable[[], object]):
        """The cached value of `key`, or compute() kept for next time; one computation per key at a time."""
        missing = object()
        value = self.get(key, missing)
        if value is not missing:
            return value
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        try:
            with gate:
                value = self.get(key, missing)     # another thread may have computed it while this one waited
                if value is missing:
                    value = compute()
                    self.put(key, value)
                return value
        finally:
            with self._lock:
                if self._computing.get(key) is gate and not gate.locked():
                    del self._computing[key]
