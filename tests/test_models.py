"""Every model: gradients reach every parameter, the public API validates its arguments, traces round-trip."""
import pytest
import torch

import samviz
from samviz import kinds
from samviz.trace import EpisodeTrace

SMALL = dict(memory_slots=16, word_size=6, heads=2, k=3, controller_size=16)


@pytest.mark.parametrize("kind", samviz.MODELS)
def test_gradient_reaches_every_parameter(kind):
    model = samviz.build_model(kind, seed=0, **SMALL)
    x = torch.rand(8, 2, 9, generator=torch.Generator().manual_seed(0))
    model(x).pow(2).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"{kind}: no gradient for {name}"


@pytest.mark.parametrize("kind", samviz.MODELS)
def test_trace_records_every_step_and_round_trips(kind, tmp_path):
    model = samviz.build_model(kind, seed=0, **SMALL)
    x = torch.rand(5, 2, 9, generator=torch.Generator().manual_seed(0))
    trace = model.trace(x)
    assert len(trace) == 5
    # the trace's outputs are the model's own outputs for batch element 0
    assert torch.allclose(torch.tensor(trace.outputs), torch.sigmoid(model(x)[:, 0]), atol=1e-5)
    for step in trace.steps:
        assert len(step["read_weights"]) == SMALL["heads"]
        total = sum(step["read_weights"][0]["values"])
        if kinds.spec(kind).temporal_links:
            # π_c + π_f·Σf + π_b·Σb: the directional parts sum to less than one when links are weak
            assert 0 < total <= 1 + 1e-4
        else:
            assert abs(total - 1) < 1e-4      # content read weights are a distribution
        assert len(step["reads"]) == SMALL["heads"]
    path = tmp_path / "trace.json"
    trace.save(path)
    assert EpisodeTrace.load(path) == trace


def test_trace_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        EpisodeTrace.load(bad)
    bad.write_text('{"format_version": 1, "model": "ntm"}')
    with pytest.raises(ValueError, match="missing"):
        EpisodeTrace.load(bad)


def test_build_model_validates_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        samviz.build_model("lstm")
    with pytest.raises(ValueError, match="unknown index"):
        samviz.build_model("sam", index="annoy")
    with pytest.raises(ValueError, match="memory_slots"):
        samviz.build_model("ntm", memory_slots=1)
    with pytest.raises(ValueError, match="k="):
        samviz.build_model("sam", memory_slots=4, k=8)
    model = samviz.build_model("ntm")
    with pytest.raises(ValueError, match="expected input"):
        model(torch.rand(3, 2, 5))


def test_ntm_constant_memory_initialisation_and_start_on_slot_zero():
    model = samviz.build_model("ntm", **SMALL)
    state = model.core.initial_state(2)
    assert torch.all(state.memory == 1e-6)
    assert torch.equal(state.read_weights[:, :, 0], torch.ones(2, SMALL["heads"]))
