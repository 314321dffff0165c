"""The trace schema (samviz/trace/schema.py) against what the recorders write, for every kind and index."""
from collections import defaultdict
import json

import pytest
import torch

import samviz
from samviz import kinds
from samviz.memory.usage import ACCESS_THRESHOLD
from samviz.trace import GATES, STEP_KEYS, EpisodeTrace, check_step, record_episode, schema

CASES = [(kind, index) for kind in kinds.MODELS for index in (kinds.INDEXES if kinds.is_sparse(kind) else ("exact",))]


def _episode(kind, index, slots=24, word_size=5, heads=2, steps=7, **options):
    model = samviz.build_model(kind, memory_slots=slots, word_size=word_size, heads=heads, k=3, link_k=4,
                               index=index, controller_size=12, seed=1, **options)
    x = torch.rand(steps, 2, 9, generator=torch.Generator().manual_seed(4)).round()
    return model, record_episode(model, x)


@pytest.mark.parametrize("kind,index", CASES)
def test_every_recorded_step_follows_the_schema(kind, index):
    model, trace = _episode(kind, index)
    spec = kinds.spec(kind)
    assert len(trace.steps) == 7
    for t, step in enumerate(trace.steps):
        assert check_step(step, spec, trace.config) == [], f"{kind}/{index} step {t}"
        json.dumps(step)                                              # plain JSON, nothing else
    # round trip through the file format keeps the steps
    assert EpisodeTrace.from_json(trace.to_json()) == trace


@pytest.mark.parametrize("kind,index", [("sam", "exact"), ("sdnc", "faiss"), ("dnc", "exact"), ("ntm", "exact")])
def test_size_limits_are_applied_as_documented(kind, index, monkeypatch):
    """Over the limits, the schema's "written" rules change (memory and usage leave the step) and still hold."""
    monkeypatch.setattr(schema, "MEMORY_CELLS_LIMIT", 16)
    monkeypatch.setattr(schema, "SPARSE_USAGE_LIMIT", 8)
    from samviz.trace import recorders
    monkeypatch.setattr(recorders, "MEMORY_CELLS_LIMIT", 16)
    monkeypatch.setattr(recorders, "SPARSE_USAGE_LIMIT", 8)
    monkeypatch.setattr(recorders, "DENSE_WEIGHTS_LIMIT", 8)
    monkeypatch.setattr(recorders, "DENSE_WEIGHTS_TOP", 5)
    model, trace = _episode(kind, index)
    spec = kinds.spec(kind)
    for step in trace.steps:
        assert check_step(step, spec, trace.config) == []
        if spec.sparse:
            assert "memory" not in step and "usage" not in step and "least_used_age" in step
        else:
            assert step["memory"] is None
        if spec.temporal_links and not spec.sparse:             # DNC: only the top entries of its weightings
            for weights in [*step["read_weights"], step["write_weights"]]:
                assert len(weights["ids"]) == 5 and weights["values"] == sorted(weights["values"], reverse=True)


def test_checker_rejects_what_the_schema_does_not_document():
    model, trace = _episode("sdnc", "exact")
    spec, config = kinds.spec("sdnc"), trace.config
    step = dict(trace.steps[2])
    assert check_step({**step, "free_gate": 0.5}, spec, config) == ["undocumented key 'free_gate'"]
    assert "missing key 'precedence'" in check_step({k: v for k, v in step.items() if k != "precedence"}, spec, config)
    assert any("usage" in p for p in check_step({**step, "usage": step["usage"][:-1]}, spec, config))
    assert any("gate" in p for p in check_step({**step, "gates": {**step["gates"], "free_gate": 1.0}}, spec, config))
    wrong_rows = {**step["rows_written"], "after": step["rows_written"]["after"][:-1]}
    assert any("rows_written" in p for p in check_step({**step, "rows_written": wrong_rows}, spec, config))
    dense = kinds.spec("dnc")
    assert any("not written by dnc" in p for p in check_step(step, dense, {**config, "k": 3}))


def test_schema_documents_every_key_and_gate_with_a_meaning():
    assert all(key.meaning and key.shape for key in STEP_KEYS.values())
    assert all(shape and meaning for shape, meaning in GATES.values())
    # the usage meanings the schema relies on are the specs' (one place for "what the numbers mean")
    assert kinds.spec("sam").usage_meaning == kinds.spec("sdnc").usage_meaning == kinds.SPARSE_USAGE_MEANING
    assert "before" in kinds.SPARSE_USAGE_MEANING


@pytest.mark.parametrize("kind,access_threshold,accesses", [
    *((kind, ACCESS_THRESHOLD, "reads_and_writes") for kind in kinds.SPARSE_MODELS),
    ("sam", 0.3, "reads_and_writes"), ("sam", ACCESS_THRESHOLD, "writes"), ("sdnc", ACCESS_THRESHOLD, "writes")])
def test_sparse_usage_is_counted_before_the_step_as_documented(kind, access_threshold, accesses):
    """usage[t] = steps since last access counted at step t before its own accesses: the slots accessed at
    step t − 1 show exactly 1, every other slot its previous value + 1, and never-accessed slots t + 1."""
    model, trace = _episode(kind, "exact", access_threshold=access_threshold, accesses=accesses)
    for t in range(1, len(trace.steps)):
        previous, now = trace.steps[t - 1], trace.steps[t]
        total = defaultdict(float)                  # w^W(i) + Σ_h w^R_h(i) of step t − 1, per slot
        reads = previous["read_weights"] if accesses == "reads_and_writes" else []
        for weights in [*reads, previous["write_weights"]]:
            for slot, value in zip(weights["ids"], weights["values"], strict=True):
                total[slot] += value
        accessed = {slot for slot, value in total.items() if value > access_threshold}
        assert accessed, "nothing was accessed: the test would prove nothing"
        for slot, age in enumerate(now["usage"]):
            assert age == (1 if slot in accessed else previous["usage"][slot] + 1), (t, slot)
        assert now["least_used_age"] == now["usage"][now["least_used"]]
    assert trace.steps[0]["usage"] == [1] * len(trace.steps[0]["usage"])     # never accessed at step 0: t + 1


@pytest.mark.parametrize("key_strength", ["one_plus_softplus", "softplus", "fixed"])
def test_the_recorded_key_strength_is_the_models(key_strength):
    """β in the trace is the one the read used: ≥ 1, > 0 or exactly 1 by the model's key_strength."""
    _, trace = _episode("sam", "exact", key_strength=key_strength)
    strengths = [beta for step in trace.steps for beta in step["gates"]["read_strength"]]
    assert len(strengths) == 7 * 2
    if key_strength == "fixed":
        assert strengths == [1.0] * 14
    else:
        assert all(beta > 0 for beta in strengths) and (min(strengths) >= 1) == (key_strength == "one_plus_softplus")
