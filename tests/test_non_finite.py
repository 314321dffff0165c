"""Non-finite values (issue 15, item 7): the model refuses a non-finite input with a clear ValueError, and
the nearest-neighbour indexes search a non-finite row or query as a zero vector (samviz/memory/index.py),
so a NaN in one batch element never reaches faiss as an invalid id and never disturbs the other elements."""
import pytest
import torch

import samviz
from samviz.memory.index import make_index

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("kind", samviz.MODELS)
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_run_refuses_a_non_finite_input_with_a_clear_error(kind, bad):
    model = samviz.build_model(kind, memory_slots=16, word_size=4, heads=1, k=2, controller_size=8, seed=0)
    x = torch.rand(5, 4, 9)
    x[3, 2, 7] = bad
    with pytest.raises(ValueError, match=r"non-finite.*\[3, 2, 7\]"):
        model.run(x)
    with pytest.raises(ValueError, match="non-finite"):
        model.trace(x)


@pytest.mark.parametrize("index", ["exact", "faiss"])
@pytest.mark.parametrize("kind", ["sam", "sdnc"])
def test_faiss_sized_model_refuses_nan_in_one_of_four_batch_elements(kind, index):
    """The reported case: 4,096 slots (faiss IVF), a NaN in one input element of one batch element."""
    model = samviz.build_model(kind, memory_slots=4096, word_size=8, heads=2, index=index, controller_size=16,
                               seed=0)
    x = torch.rand(6, 4, 9, generator=torch.Generator().manual_seed(0))
    x[2, 1, 3] = NAN
    with pytest.raises(ValueError, match="non-finite"):
        model(x)


@pytest.mark.parametrize("index", ["exact", "faiss"])
@pytest.mark.parametrize("kind", ["sam", "sdnc"])
def test_non_finite_interface_in_one_batch_element_leaves_the_others_exactly_unchanged(kind, index):
    """Below the model's input check: a non-finite interface (as non-finite weights would give) poisons its
    own batch element only; faiss never sees a non-finite row or query, and every id stays in range."""
    model = samviz.build_model(kind, memory_slots=4096, word_size=8, heads=2, index=index, controller_size=16,
                               seed=0)
    core = model.core
    interfaces = torch.randn(6, 4, core.interface_size, generator=torch.Generator().manual_seed(1)) * 3

    def run(poison: bool):
        state = core.initial_state(4)
        reads, ids = [], []
        for t in range(6):
            interface = interfaces[t].clone()
            if poison and t in (1, 2):
                interface[1] = NAN if t == 1 else INF
            step_reads, state, step = core.step(interface, state)
            reads.append(step_reads)
            ids.append(step.read_ids)
        return torch.stack(reads), torch.stack(ids)

    clean_reads, clean_ids = run(poison=False)
    with torch.no_grad():
        poisoned_reads, poisoned_ids = run(poison=True)
    others = [0, 2, 3]
    assert torch.equal(poisoned_reads[:, others], clean_reads[:, others].detach())
    assert torch.equal(poisoned_ids[:, others], clean_ids[:, others])
    assert ((poisoned_ids >= 0) & (poisoned_ids < 4096)).all()          # valid ids in the poisoned element too


@pytest.mark.parametrize("index,slots", [("exact", 64), ("faiss", 64), ("faiss", 4096)])
def test_index_searches_non_finite_rows_and_queries_as_zero_vectors(index, slots):
    """A row or query holding NaN/±inf gives exactly the ids that a zero row or query gives."""
    generator = torch.Generator().manual_seed(2)
    memory = torch.randn(2, slots, 8, generator=generator)
    queries = torch.randn(2, 3, 8, generator=generator)
    bad_slots = torch.tensor([5, 9, 17])

    def searched(poison: bool):
        buffer = memory.clone()
        built = make_index(index, 2, slots, 8)
        built.reset(buffer)
        rows = torch.randn(3, 8, generator=torch.Generator().manual_seed(3))
        rows[:, 0] = torch.tensor([NAN, INF, -INF]) if poison else 0.0
        if not poison:
            rows.zero_()
        buffer[1, bad_slots] = rows                                    # the model's buffer holds them too
        built.update(torch.ones(3, dtype=torch.long), bad_slots, rows)
        q = queries.clone()
        q[1, 0] = NAN if poison else 0.0
        return built.search(q, 4)

    poisoned, zeroed = searched(True), searched(False)
    assert ((poisoned >= 0) & (poisoned < slots)).all()
    assert torch.equal(poisoned, zeroed)


def test_exact_index_built_on_a_memory_with_a_non_finite_row_ranks_it_as_zero():
    memory = torch.tensor([[[1.0, 0.0], [NAN, 1.0], [-1.0, 0.0], [0.5, 0.5]]])
    index = make_index("exact", 1, 4, 2)
    index.reset(memory)
    assert index.search(torch.tensor([[[1.0, 0.0]]]), 4).tolist() == [[[0, 3, 1, 2]]]   # cos 1, 0.71, 0 (NaN), −1
    memory[0, 1] = torch.tensor([0.9, 0.1])                                                 # overwritten: finite again
    index.update(torch.tensor([0]), torch.tensor([1]), memory[0, 1:2])
    assert index.search(torch.tensor([[[1.0, 0.0]]]), 4).tolist() == [[[0, 1, 3, 2]]]
