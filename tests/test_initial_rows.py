"""How a sparse memory starts: the shipped "jittered" rows, or zero rows (ModelConfig.initial_rows).

Zero rows score exactly 0 against any query (the cosine's ε keeps 0/0 away), so a query's top-K holds every
written row that points its way before any untouched slot; SAM with zero rows still equals its dense reference.
"""
import pytest
from test_sam import reference_run
import torch

import samviz
from samviz.memory import addressing
from samviz.memory.initial import INITIAL_MEMORY_VALUE, initial_memory


def test_starts_are_what_they_say():
    zero = initial_memory("zero", 2, 5, 3)
    assert zero.shape == (2, 5, 3) and torch.count_nonzero(zero) == 0
    jittered = initial_memory("jittered", 2, 5, 3)
    assert torch.all(jittered >= INITIAL_MEMORY_VALUE) and torch.all(jittered < INITIAL_MEMORY_VALUE * 1.01)
    assert torch.equal(jittered[0], jittered[1])          # the same start for every batch element
    with pytest.raises(ValueError, match="initial rows"):
        initial_memory("random", 1, 2, 2)
    with pytest.raises(ValueError, match="initial_rows"):
        samviz.build_model("sam", initial_rows="random")


def test_zero_rows_score_zero_and_lose_to_any_written_row_in_the_same_direction():
    memory = torch.zeros(1, 6, 4)
    memory[0, 4] = torch.tensor([0.3, 0.1, 0.0, 0.2])       # one written row
    query = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
    scores = addressing.cosine_similarity(query, memory)     # [1, 1, 6]
    assert scores[0, 0, 4] == pytest.approx(0.3 / (0.14 ** 0.5), rel=1e-4)
    assert torch.all(scores[0, 0, [0, 1, 2, 3, 5]] == 0)
    # the jittered start: every untouched row points the same way and scores about 0.5 against this query
    jittered = initial_memory("jittered", 1, 6, 4).clone()
    assert torch.all(addressing.cosine_similarity(query, jittered) > 0.3)


@pytest.mark.parametrize("kind", ["sam", "sdnc"])
def test_zero_start_is_used_by_every_episode_and_both_indexes(kind):
    for index in samviz.INDEXES:
        model = samviz.build_model(kind, memory_slots=64, heads=2, index=index, initial_rows="zero", seed=0)
        state = model.core.initial_state(3)
        assert torch.count_nonzero(state.memory.buffer) == 0
        logits = model(torch.rand(6, 3, 9, generator=torch.Generator().manual_seed(0)))
        assert torch.isfinite(logits).all()


def test_sam_from_zero_rows_equals_its_dense_reference():
    torch.manual_seed(0)
    model = samviz.build_model("sam", memory_slots=32, word_size=6, heads=2, k=3, controller_size=16,
                               initial_rows="zero").double()
    model.core.dtype = torch.float64
    x = torch.rand(10, 3, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target = torch.rand(10, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).round()

    def loss_of(logits):
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)

    chosen = []
    logits, _ = model.run(x, observe=lambda t, step: chosen.append(step.read_ids.clone()))
    # the zero rows tie at score 0: many slots are a correct K-th neighbour, and which one is read decides
    # which slots count as accessed — so the reference reads the same ones, after checking they are a top-K
    sparse_loss = loss_of(logits)
    sparse_loss.backward()
    sparse_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    dense_logits, _ = reference_run(model, x, torch.zeros(3, 32, 6, dtype=torch.float64), chosen_ids=chosen)
    dense_loss = loss_of(dense_logits)
    dense_loss.backward()
    assert abs(sparse_loss.item() - dense_loss.item()) <= 1e-10
    for name, parameter in model.named_parameters():
        assert (sparse_grads[name] - parameter.grad).abs().max().item() <= 1e-6, name
