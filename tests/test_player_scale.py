"""The episode player at scale (issue 13 item 4; issue 12 item 8): SAM and SDNC up to 2^20 slots, dense kinds not.

Pure functions first (choices, links, the episode view's payload of a large trace), then the page under AppTest.
The large traces here use the exact index at 2^18 slots: the same payload code as 2^20, no index structure to
build.
The one test at 2^20 is marked slow (it records a real 2^20 episode: ~100 MiB of memory, an O(N) scan per step).
"""
from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from streamlit.testing.v1 import AppTest

from samviz.app import loaders, params
from samviz.app.episode_view import payload
from samviz.bench.measure import PeakProbe, current_rss, trim_heap
from samviz.kinds import DENSE_MODELS, SPARSE_MODELS, spec
from samviz.trace.schema import SPARSE_USAGE_LIMIT

APP_PLAYER = "from samviz.app import pages\npages.episode_player_page()\n"
TIMEOUT = 120
BIG = 1 << 18                 # above SPARSE_USAGE_LIMIT and MEMORY_CELLS_LIMIT: every view a 2^20 trace hides


# ------------------------------------------------------------------------------------------ choices and links

@pytest.mark.parametrize("kind", SPARSE_MODELS)
def test_sparse_kinds_are_offered_up_to_2_to_the_20(kind):
    choices = params.slot_choices(kind)
    assert 1 << 20 in choices and set(params.LARGE_SLOT_CHOICES) <= set(choices)
    assert max(c for c in choices if c != "default") == spec(kind).app_slot_limit == 1 << 20


@pytest.mark.parametrize("kind", DENSE_MODELS)
def test_dense_kinds_keep_their_limits(kind):
    choices = params.slot_choices(kind)
    assert not set(params.LARGE_SLOT_CHOICES) & set(choices)
    assert max(c for c in choices if c != "default") == spec(kind).app_slot_limit <= 4096


def test_a_dense_kind_beside_a_sparse_one_stops_at_the_dense_limit():
    for sparse in SPARSE_MODELS:
        for dense in DENSE_MODELS:
            assert max(c for c in params.slot_choices(dense, sparse) if c != "default") == spec(dense).app_slot_limit


@pytest.mark.parametrize("kind", SPARSE_MODELS)
def test_a_link_with_2_to_the_20_slots_opens_it_for_a_sparse_kind(kind):
    settings, problems = params.read_player({"model": kind, "slots": "1048576", "index": "faiss"})
    assert not problems and settings["slots"] == 1 << 20 and settings["index"] == "faiss"
    assert params.read_player(params.player_query(settings)) == (settings, [])


@pytest.mark.parametrize("kind", DENSE_MODELS)
def test_a_link_with_2_to_the_20_slots_names_the_refusal_for_a_dense_kind(kind):
    settings, problems = params.read_player({"model": kind, "slots": "1048576"})
    assert settings["slots"] == "default"
    assert len(problems) == 1
    message = problems[0].message
    assert kind.upper() in message and f"at most {spec(kind).app_slot_limit}" in message and "1048576" in message
    assert "using slots = default" in message


def test_large_choices_read_with_their_power_of_two():
    assert [params.slots_label(c) for c in params.LARGE_SLOT_CHOICES] == [
        "16,384 (2^14)", "65,536 (2^16)", "262,144 (2^18)", "1,048,576 (2^20)"]
    assert params.slots_label(4096) == "4096" and params.slots_label("default") == "default"


def test_a_size_between_the_choices_is_refused_with_the_choices():
    _, problems = params.read_player({"model": "sam", "slots": str(1 << 19)})
    assert len(problems) == 1 and "1048576" in problems[0].message and str(1 << 19) in problems[0].message


# ------------------------------------------------------------------------------------------ the view of a large trace

@pytest.fixture(scope="module")
def big_trace():
    """sam-copy (pretrained) at 2^18 slots, exact index, through the player's own loader."""
    return loaders.record_trace("sam", "copy", 10, 0, None, "exact", BIG)


def _lengths(value):
    """Every list's length inside a JSON-like value, and the count of numbers in each packed (base64) array."""
    if isinstance(value, dict):
        if "b64" in value and "shape" in value:
            size = 1
            for n in value["shape"]:
                size *= n
            yield size
            return
        for item in value.values():
            yield from _lengths(item)
    elif isinstance(value, (list, tuple)):
        yield len(value)
        for item in value:
            yield from _lengths(item)


def _view(trace, **options) -> dict:
    return payload.model_view(trace, name=trace.model.upper(), **options)


def test_nothing_n_sized_is_sent_to_the_browser(big_trace):
    n = big_trace.config["memory_slots"]
    assert n == BIG
    data = payload.player(big_trace, name="SAM", episode="e", clock="c", step=0)
    largest = max(_lengths(data), default=0)
    assert largest < n // 16, largest
    assert len(json.dumps(data)) < 2_000_000


def test_the_touched_slot_scope_counts_what_the_view_draws(big_trace):
    weights = _view(big_trace)["weights"]
    drawn = weights["slots"]
    assert weights["scope"] == f"the {len(drawn):,} slots this episode touched out of {BIG:,}"
    assert weights["axis"] == f"memory slot: {len(drawn)} touched of {BIG:,}, not to scale"
    assert 0 < len(drawn) < 200 and weights["large"]
    assert all(panel["data"]["shape"] == [len(drawn), len(big_trace)] for panel in weights["panels"])


def test_a_zoomed_weights_view_says_it_shows_fewer_than_were_touched(big_trace):
    weights = payload.weights_view(big_trace, max_rows=10)
    touched = weights["touched"]
    assert len(weights["slots"]) == 10 < touched
    assert weights["scope"] == f"the 10 most weighted of the {touched:,} slots this episode touched, out of {BIG:,}"


def test_hidden_views_say_why(big_trace):
    view = _view(big_trace)
    assert view["memory"] is None and view["usage"]["values"] is None
    memory, usage = view["notes"]
    width = big_trace.config["word_size"]
    assert "Memory M_t" in memory and f"{BIG:,} × {width} = {BIG * width:,}" in memory
    assert "Usage is hidden" in usage and f"N ≤ {SPARSE_USAGE_LIMIT:,}" in usage and f"{BIG:,} slots" in usage


def test_a_dense_memory_zoomed_says_of_all_its_slots():
    trace = loaders.record_trace("ntm", "copy", 4, 0, None, "exact", 4096)
    weights = _view(trace)["weights"]
    assert weights["scope"] == (f"the {len(weights['slots']):,} most weighted of all 4,096 slots (a dense head weights "
                                "every slot)")


def test_a_small_memory_hides_nothing():
    trace = loaders.record_trace("sam", "copy", 4, 0, None, "exact", 64)
    view = _view(trace)
    assert view["notes"] == [] and view["memory"]["mode"] == "replay" and view["usage"]["values"]
    assert view["weights"]["scope"].startswith("the ")


# ------------------------------------------------------------------------------------- four heads (issue 12 item 8)

def test_four_heads_each_have_their_neighbours():
    """Four heads' neighbour sets, each head's own, as the record has them (the view wraps them in a grid)."""
    trace = loaders.record_trace("sam", "priority_sort", 5, 0, None, "faiss", 4096)
    assert trace.config["heads"] == 4
    heads = _view(trace)["neighbours"]["steps"][3]
    assert [h["found"] for h in heads] == [n["found"] for n in trace.steps[3]["neighbours"]]
    assert [h["exact"] for h in heads] == [n["exact"] for n in trace.steps[3]["neighbours"]]


# ------------------------------------------------------------------------------------------ the server's budget

def test_a_benchmark_refusal_names_every_part_and_they_add_up():
    """Issue 25 item 10: "109.68 GiB (memory state 2.38, overhead 81.66)" left a part and the margin unsaid."""
    import re

    from samviz.bench import runner
    for model in ("ntm", "sam-faiss", "sam-exact"):
        config = runner.BenchConfig(model=model, slots=1 << 20, steps=1000)
        text = runner.refusal_reason(config, 1 << 20)
        m = re.search(r"estimated memory ([\d.]+) GiB = ([\d.]+) \(margin\) × \(worker ([\d.]+) \+ memory state "
                      r"([\d.]+) \+ training overhead over 1000 steps ([\d.]+) GiB\)", text)
        total, margin, base, state, overhead = (float(m[i]) for i in range(1, 6))
        assert total == pytest.approx(margin * (base + state + overhead), abs=0.02), text
        # SAM's state is larger than the NTM's at the same N: the sentence says what it holds
        assert ("position map and a least-recently-used tracker" in text) == model.startswith("sam")
        assert ("faiss index's own normalised copy" in text) == (model == "sam-faiss")



@pytest.mark.parametrize("kind,slots,level", [("sam", BIG, 10), ("sdnc", BIG, 10), ("sam", SPARSE_USAGE_LIMIT, 40)])
def test_a_large_run_stays_within_its_estimate(kind, slots, level):
    """The kernel's peak RSS while recording a large episode (exact index: the O(N) temporaries; at 2^16 the
    longest copy episode, whose trace keeps the usage of every slot at every step) stays under
    loaders.run_bytes, the estimate the app refuses a model by."""
    model, _ = loaders.load_model(kind, "copy", "exact", slots)
    loaders.record_trace(kind, "copy", 2, 1, None, "exact", 4096)          # warm-up: code paths, allocator
    trim_heap()
    before = current_rss()
    with PeakProbe() as probe:
        trace = loaders.record_trace(kind, "copy", level, 1, None, "exact", slots)
    used = probe.peak - before
    estimate = loaders.run_bytes(model.config, steps=len(trace))
    assert used <= estimate, (kind, used / loaders.MIB, estimate / loaders.MIB)
    assert len(trace) <= loaders.longest_episode()
    assert loaders.run_bytes(model.config) <= loaders.LARGE_RUN_BYTES


def test_the_large_memory_budget_adds_up():
    for name in ("sam-copy", "sam-associative_recall", "sdnc-associative_recall", "sdnc-priority_sort"):
        kind, task = name.split("-", 1)
        model, _ = loaders.load_model(kind, task, "faiss", 1 << 16)
        config = dataclasses.replace(model.config, memory_slots=1 << 20)
        assert loaders.run_bytes(config) <= loaders.LARGE_RUN_BYTES, name
        assert config.word_size <= loaders.LARGEST_WORD
    assert loaders.LARGE_MEMORY_BYTES == loaders.LARGE_RUN_BYTES + loaders.LARGE_INDEX_BYTES
    # the figure loaders' docstring states
    assert (loaders.LARGE_MEMORY_BYTES // loaders.MIB, loaders.LARGE_RUN_BYTES // loaders.MIB,
            loaders.LARGE_INDEX_BYTES // loaders.MIB) == (1296, 896, 400)
    assert "1,296 MiB: 896 for one run, 400 for one resident index structure" in " ".join(loaders.__doc__.split())


def test_one_large_run_at_a_time_and_a_clear_refusal_when_held_too_long(monkeypatch):
    monkeypatch.setattr(loaders, "LARGE_RUN_WAIT_S", 0.2)
    assert loaders.LARGE_RUN.acquire(timeout=5)
    try:
        with pytest.raises(loaders.ServerBusy, match="another visitor's large-memory episode"):
            with loaders.large_run("sam", 1 << 16):
                pass
        with loaders.large_run("sam", 4096):          # not large: never waits
            pass
        with loaders.large_run("ntm", 4096):
            pass
        assert "waiting for it" in loaders.run_message("sam", "copy", "exact", 1 << 16)
        with pytest.raises(loaders.ServerBusy):                # the player's step times never wait
            loaders.get_step_times("sam", "copy", 2, 0, "exact", 1 << 16, None, wait=False)
    finally:
        loaders.LARGE_RUN.release()
    done = threading.Event()

    def run():
        with loaders.large_run("sam", 1 << 16):
            done.set()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    assert done.is_set() and not loaders.LARGE_RUN.locked()


def test_the_spinner_says_what_is_built_and_why(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMVIZ_INDEX_CACHE", str(tmp_path))
    from samviz.memory import index_parts
    monkeypatch.setattr(index_parts, "_INITIAL_CACHE", type(index_parts._INITIAL_CACHE)())
    # sam-priority_sort starts from jittered rows: faiss needs a graph over them
    model, _ = loaders.load_model("sam", "priority_sort", "faiss", 1 << 20)
    assert loaders.index_structure(model.config) == "build"
    text = loaders.run_message("sam", "priority_sort", "faiss", 1 << 20)
    assert text.startswith("Building the faiss index") and "1,048,576 initial rows" in text
    assert "first time at this size on this server, then cached on disk for every visitor" in text
    assert "then cached in this server's memory" in loaders.run_message("sam", "priority_sort", "faiss", 1 << 14)
    # a file of a matching name is no promise (issue 29): an entry must describe itself as this size's structure
    from samviz.memory import index_cache
    stem = index_cache.size_prefix(1 << 20, model.config.word_size, "float32") + "0" * 16
    (tmp_path / f"{stem}.faiss").write_bytes(b"")
    assert loaders.index_structure(model.config) == "build"
    described = index_cache.description(1 << 20, model.config.word_size, "float32", "0" * 64)
    (tmp_path / f"{stem}.json").write_text(__import__("json").dumps({**described, "file_bytes": 0}))
    assert loaders.index_structure(model.config) == "on disk"
    assert "Reading the cached faiss index" in loaders.run_message("sam", "priority_sort", "faiss", 1 << 20)
    assert "every step scans all 1,048,576 rows" in loaders.run_message("sam", "priority_sort", "exact", 1 << 20)
    # sam-copy starts from zero rows: nothing to build at any size, and the spinner says why
    copy, _ = loaders.load_model("sam", "copy", "faiss", 1 << 20)
    assert copy.config.initial_rows == "zero" and loaders.index_structure(copy.config) is None
    assert "nothing to build" in loaders.run_message("sam", "copy", "faiss", 1 << 20)
    assert loaders.run_message("sam", "copy", "faiss", 4096) == "Running the episode…"


def test_only_one_large_index_structure_stays_resident(monkeypatch):
    from collections import OrderedDict

    from samviz.memory import index_parts
    cache = OrderedDict([((1 << 16, 20, "f", "jittered", 0), "a"), ((4096, 20, "f", "jittered", 0), "small"),
                         ((1 << 20, 24, "f", "jittered", 0), "b"), ((1 << 20, 20, "f", "jittered", 0), "c")])
    monkeypatch.setattr(index_parts, "_INITIAL_CACHE", cache)
    monkeypatch.setattr(loaders, "_on_disk", lambda slots, width: True)
    loaders.keep_one_large_structure()
    assert list(cache.values()) == ["small", "c"]


def test_a_model_too_big_for_a_large_run_is_refused_before_it_runs(monkeypatch):
    monkeypatch.setattr(loaders, "LARGE_RUN_BYTES", 1 << 20)
    loaders.load_model.clear()
    try:
        with pytest.raises(ValueError, match="this server runs large memories within 1 MiB"):
            loaders.load_model("sam", "copy", "exact", 1 << 16)
    finally:
        loaders.load_model.clear()


# ------------------------------------------------------------------------------------------ the page

def _player(query: dict) -> AppTest:
    at = AppTest.from_string(APP_PLAYER, default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


def _payload(at: AppTest) -> dict:
    return json.loads(at.get("bidi_component")[0].proto.json)


def test_the_player_opens_a_large_sparse_memory_and_says_what_it_shows():
    at = _player({"model": "sam", "task": "copy", "slots": str(BIG), "index": "exact", "step": "3"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="keep_player_slots").value == BIG
    assert "1,048,576 (2^20)" in at.selectbox(key="keep_player_slots").options
    view = _payload(at)["models"][0]
    assert f"slots this episode touched out of {BIG:,}" in view["weights"]["scope"] and view["weights"]["large"]
    assert all(line.startswith("Rows touched at this step: ") and f" of {BIG:,}" in line and "forward time" in line
               and " ms " in line for line in view["cost"])
    assert any("Memory M_t" in note and "hidden" in note for note in view["notes"])
    assert any("Usage is hidden" in note for note in view["notes"])
    assert any(f"{BIG:,} slots: this episode took" in i.value and f"The exact index scans all {BIG:,} rows" in i.value
               for i in at.info)


def test_the_player_refuses_2_to_the_20_for_a_dense_model_by_name():
    at = _player({"model": "ntm", "slots": str(1 << 20)})
    assert not at.exception
    assert any("NTM runs with at most 4096" in w.value for w in at.warning)
    assert at.selectbox(key="keep_player_slots").value == "default"
    options = at.selectbox(key="keep_player_slots").options
    assert not any("1,048,576" in str(o) or str(o) == str(1 << 20) for o in options)


@pytest.mark.slow
def test_the_player_runs_sam_copy_at_2_to_the_20_with_the_exact_index():
    """A real 2^20-slot episode (no index structure to build: the exact index scans the 2^20 rows each step)."""
    at = _player({"model": "sam", "task": "copy", "slots": str(1 << 20), "index": "exact"})
    assert not at.exception, [e.value for e in at.exception]
    assert "out of 1,048,576" in _payload(at)["models"][0]["weights"]["scope"]
    assert any("1,048,576 slots: this episode took" in i.value for i in at.info)
