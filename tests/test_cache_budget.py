"""The app's caches are bounded in bytes, not entries, and compact traces show exactly what plain ones do.

Issue 15, item 3: 60 loads of the player with new seeds at 4096 slots grew the server by 1.7 GB, because
the trace cache held 48 traces of 35–75 MB each. Now traces are stored compactly and the cache drops the
least recently used ones once their total passes TRACE_CACHE_BYTES (samviz/app/loaders.py documents the
whole budget).
"""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

import samviz
from samviz.app import explain, loaders, params, trace_cache
from samviz.app.episode_view import payload
from samviz.kinds import spec

MIB = 1 << 20


def _raw_trace(kind: str, slots: int, level: int, seed: int = 0, task: str = "copy"):
    t = samviz.tasks.get(task)
    model = samviz.build_model(kind, input_size=t.input_size, output_size=t.output_size, memory_slots=slots,
                               heads=spec(kind).untrained_heads, seed=0, **loaders.UNTRAINED)
    ep = t.sample(1, level=level, generator=torch.Generator().manual_seed(seed))
    return model.trace(ep.inputs, ep.targets, ep.mask, task=task)


# ------------------------------------------------------------------------------------------ the cache under load

def test_many_distinct_traces_keep_the_cache_under_its_byte_budget(monkeypatch):
    """Distinct player loads (new seed each, alternating models, 1024 slots) through loaders.get_trace: the
    cache's byte total never passes its budget, old entries make room, and the total is what its entries hold."""
    budget = 4 * MIB
    cache = trace_cache.ByteBudgetLRU(budget)
    monkeypatch.setattr(loaders, "TRACES", cache)
    kinds = ("ntm", "dam", "sam")
    loads = 18
    sizes = []
    for seed in range(loads):
        kind = kinds[seed % len(kinds)]
        trace = loaders.get_trace(kind, "copy", 20, seed, None, "exact", 1024)
        sizes.append(trace_cache.deep_bytes(trace))
        assert cache.total_bytes <= budget
        assert cache.get((kind, "copy", 20, seed, None, "exact", 1024)) is trace   # the newest is kept
        held = [cache.get(key) for key in list(cache._entries)]
        assert cache.total_bytes == sum(trace_cache.deep_bytes(t) for t in held)
    assert sum(sizes) > 2 * budget                     # the loads did not fit: eviction was exercised
    assert len(cache) < loads
    assert (kinds[0], "copy", 20, 0, None, "exact", 1024) not in cache      # the oldest went first
    # a repeated visit is served from the cache: the very same (shared, read-only) object
    last = (kinds[(loads - 1) % 3], "copy", 20, loads - 1, None, "exact", 1024)
    assert loaders.get_trace(*last) is cache.get(last)


def test_the_largest_player_traces_are_small_when_compact():
    """The settings of the issue (copy level 40, 4096 slots): the compact trace is several times smaller than
    the plain one, and small enough that the real budget holds a dozen."""
    for kind in ("ntm", "dam"):
        raw = _raw_trace(kind, spec(kind).app_slot_limit, level=40)
        compact = trace_cache.compact_trace(raw)
        raw_bytes, compact_bytes = trace_cache.deep_bytes(raw), trace_cache.deep_bytes(compact)
        assert compact_bytes * 5 < raw_bytes, (kind, raw_bytes, compact_bytes)
        assert compact_bytes * 12 < loaders.TRACE_CACHE_BYTES


def test_the_budget_adds_up_and_shipped_models_fit_it():
    caches = (loaders.TRACE_CACHE_BYTES + loaders.MODEL_CACHE_ENTRIES * loaders.MODEL_BYTES_LIMIT
              + loaders.TIMING_CACHE_ENTRIES * loaders.TIMING_ENTRY_BYTES)
    assert caches <= loaders.CACHE_BUDGET_BYTES < loaders.SERVER_BUDGET_BYTES
    import samviz.pretrained as pretrained
    names = pretrained.available()
    assert names
    for name in names:
        model = pretrained.load(name, memory_slots=params.slot_limit(name.split("-")[0]))
        assert loaders.model_bytes(model) <= loaders.MODEL_BYTES_LIMIT, name


# ------------------------------------------------------------------------------------------ compact = plain

@pytest.mark.parametrize("kind,slots", [("ntm", 32), ("dam", 64), ("sam", 64), ("dnc", 32), ("sdnc", 64)])
def test_a_compact_trace_shows_exactly_what_the_plain_one_shows(kind, slots):
    raw = _raw_trace(kind, slots, level=4, seed=3)
    compact = trace_cache.compact_trace(raw)
    assert trace_cache.trace_json(compact) == raw.to_json()          # the download is unchanged, bit for bit
    assert trace_cache.deep_bytes(compact) < trace_cache.deep_bytes(raw)      # something was packed
    for step in (0, len(raw) // 2, len(raw) - 1):
        assert [s.text for s in explain.narrate(compact, step)] == [s.text for s in explain.narrate(raw, step)]
    # what the browser draws (the episode view's payload) is the same, every view of every step
    assert json.dumps(payload.model_view(compact, name=kind)) == json.dumps(payload.model_view(raw, name=kind))
    assert params.format_bits(compact.inputs, "copy") == params.format_bits(raw.inputs, "copy")


def test_compact_keeps_numbers_exact_and_small_lists_as_lists():
    floats32 = torch.rand(40).tolist()                    # float32 values, as every trace records them
    doubles = [0.1 * i for i in range(40)]                # not float32-exact: kept as float64
    ids = list(range(100_000, 100_040))
    big_ids = [2**40 + i for i in range(20)]
    data = {"a": floats32, "b": doubles, "c": ids, "d": big_ids, "gates": [0.5, 0.25], "flags": [True] * 20,
            "rows": [[1.0, 2.0, 3.0]] * 10}
    packed = trace_cache.compact(data)
    assert packed["a"].typecode == "f" and packed["b"].typecode == "d"
    assert packed["c"].typecode == "i" and packed["d"].typecode == "q"
    assert isinstance(packed["gates"], list) and isinstance(packed["flags"], list)
    assert all(row.typecode == "f" for row in packed["rows"])
    assert trace_cache.expand(packed) == data
    assert [type(v) for v in trace_cache.expand(packed)["c"]] == [int] * 40


# ------------------------------------------------------------------------------------------ LRU semantics

def test_least_recently_used_goes_first_and_oversized_entries_are_not_kept():
    cache = trace_cache.ByteBudgetLRU(100, size_of=len)
    assert cache.put("a", "x" * 40) and cache.put("b", "x" * 40)
    assert cache.get("a") == "x" * 40                     # a is now the most recently used
    assert cache.put("c", "x" * 40)                       # 120 > 100: b goes, not a
    assert "b" not in cache and "a" in cache and "c" in cache and cache.total_bytes == 80
    assert not cache.put("huge", "x" * 101)               # larger than the budget: returned, never kept
    assert "huge" not in cache and cache.total_bytes == 80
    assert cache.get_or_compute("huge", lambda: "y" * 101) == "y" * 101 and "huge" not in cache
    cache.put("a", "x" * 10)                              # replacing an entry replaces its size
    assert cache.total_bytes == 50


def test_concurrent_requests_for_one_key_compute_it_once():
    cache = trace_cache.ByteBudgetLRU(1000, size_of=lambda v: 8)
    calls = []
    started = threading.Event()

    def compute():
        calls.append(1)
        started.wait(1.0)
        return np.arange(3)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute))) for _ in range(6)]
    for t in threads:
        t.start()
    started.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(results) == 6 and all(r is results[0] for r in results)
