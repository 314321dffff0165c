"""One spec per model kind (samviz/kinds.py): the model is built from it, and the old names still work."""
import pytest
import torch

import samviz
from samviz import kinds
from samviz import model as model_module
from samviz.memory.core import MemoryCore

SMALL = dict(memory_slots=16, word_size=6, heads=2, k=3, controller_size=16, link_k=4)


@pytest.mark.parametrize("kind", kinds.MODELS)
def test_model_builds_the_core_its_spec_names_with_the_options_it_lists(kind):
    spec = kinds.spec(kind)
    model = samviz.build_model(kind, seed=0, **SMALL)
    module_name, class_name = spec.core
    assert type(model.core).__module__ == module_name and type(model.core).__name__ == class_name
    assert isinstance(model.core, MemoryCore) and model.core.sparse == spec.sparse
    for option in spec.core_options:                                 # k, index, link_k reach the core
        attribute = {"index": "index_kind"}.get(option, option)
        assert getattr(model.core, attribute) == getattr(model.config, option)


def test_compatibility_names_are_the_specs():
    assert samviz.MODELS == model_module.MODELS == kinds.MODELS == ("ntm", "dam", "sam", "dnc", "sdnc")
    assert samviz.INDEXES == model_module.INDEXES == kinds.INDEXES
    assert model_module.SPARSE_MODELS == kinds.SPARSE_MODELS == ("sam", "sdnc")
    with pytest.raises(ValueError, match="unknown model 'lstm'; choose one of ntm, dam, sam, dnc, sdnc"):
        samviz.build_model("lstm")


@pytest.mark.parametrize("kind", kinds.MODELS)
def test_run_calls_end_episode_and_sparse_cores_release_their_last_token(kind):
    model = samviz.build_model(kind, seed=0, **SMALL)
    calls = []
    original = model.core.end_episode
    model.core.end_episode = lambda state: (calls.append(state), original(state))
    logits, state = model.run(torch.rand(4, 2, 9))
    assert len(calls) == 1 and calls[0] is state
    if kinds.spec(kind).sparse:
        assert state.memory.token is None            # the autograd cycle through the memory is broken
    logits.sum().backward()                          # and backward still works after it


@pytest.mark.parametrize("kind", kinds.MODELS)
def test_observe_sees_every_step_with_details_and_training_runs_without(kind):
    model = samviz.build_model(kind, seed=0, **SMALL)
    x = torch.rand(5, 2, 9, generator=torch.Generator().manual_seed(0))
    seen = []
    with torch.no_grad():
        observed_logits, _ = model.run(x, observe=lambda t, step: seen.append((t, step)))
        plain_logits, _ = model.run(x)
    assert [t for t, _ in seen] == list(range(5))
    assert torch.equal(observed_logits, plain_logits)          # observing changes nothing the model computes
    if kinds.spec(kind).sparse:                                  # the extras exist only when observed
        assert all(step.rows_before is not None and step.usage_before is not None for _, step in seen)
        details = []
        model.core.step, original = (lambda *a, **k: details.append(k.get("details")) or original(*a, **k),
                                     model.core.step)
        model.run(x)
        assert details == [False] * 5
