"""Indexes against exact top-K: ids (slot ids, not offset), updates, recall."""
import pytest
import torch
import torch.nn.functional as F

from samviz.memory.index import ExactIndex, FaissIndex, make_index, recall_at_k


def true_top_k(memory, queries, k):
    similarity = F.cosine_similarity(queries.unsqueeze(2), memory.unsqueeze(1), dim=-1)   # [B, Q, N]
    return torch.topk(similarity, k, dim=-1).indices


@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_ids_are_exact_top_k_slot_ids_before_and_after_updates(kind):
    generator = torch.Generator().manual_seed(0)
    memory = torch.randn(2, 500, 16, generator=generator)
    index = make_index(kind, 2, 500, 16)
    index.reset(memory)
    queries = torch.randn(2, 7, 16, generator=generator)
    assert torch.equal(index.search(queries, 4), true_top_k(memory, queries, 4))
    # plant queries equal to the first and the last slot: catches ids offset by one
    planted = torch.stack([memory[:, 0], memory[:, -1]], dim=1)
    assert index.search(planted, 1)[:, :, 0].tolist() == [[0, 499], [0, 499]]
    # in-place edits + update(): the changed rows are found, duplicates keep the last value
    batch_ids = torch.tensor([0, 0, 1, 1])
    slot_ids = torch.tensor([3, 3, 42, 499])
    rows = torch.randn(4, 16, generator=generator)
    memory[1, 42], memory[1, 499], memory[0, 3] = rows[2], rows[3], rows[1]
    index.update(batch_ids, slot_ids, rows)
    assert torch.equal(index.search(queries, 4), true_top_k(memory, queries, 4))
    assert index.search(rows[1].expand(2, 1, 16), 1)[0, 0, 0] == 3


def test_zero_rows_and_queries_give_valid_ids_without_nan():
    memory = torch.zeros(1, 50, 8)
    for kind in ("exact", "faiss"):
        index = make_index(kind, 1, 50, 8)
        index.reset(memory)
        ids = index.search(torch.zeros(1, 2, 8), 4)
        assert ids.min() >= 0 and ids.max() < 50


def test_unknown_index_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown index"):
        make_index("bogus", 1, 10, 4)


def test_faiss_recall_on_random_memories_of_100000_rows():
    generator = torch.Generator().manual_seed(1)
    batch, slots, width = 1, 100_000, 32
    memory = torch.randn(batch, slots, width, generator=generator)
    queries = torch.randn(batch, 200, width, generator=generator)
    exact = ExactIndex(batch, slots, width)
    exact.reset(memory)
    truth = exact.search(queries, 4)
    approximate = FaissIndex(batch, slots, width)
    approximate.reset(memory)
    lists = approximate.lists
    default_recall = recall_at_k(approximate.search(queries, 4), truth)
    for index in approximate.indexes:
        index.nprobe = lists // 4
    wide_recall = recall_at_k(approximate.search(queries, 4), truth)
    print(f"\nfaiss IVF recall@4 on 100,000 random rows, random queries: default nprobe "
          f"{approximate.nprobe}/{lists} -> {default_recall:.3f}; nprobe {lists // 4}/{lists} -> {wide_recall:.3f}")
    assert wide_recall >= 0.9
    assert default_recall >= 0.5          # the fast default is approximate, not broken


def test_ivf_updates_never_rebuild_before_n_updates(monkeypatch):
    generator = torch.Generator().manual_seed(2)
    memory = torch.randn(1, 20_000, 16, generator=generator)
    index = FaissIndex(1, 20_000, 16)
    index.reset(memory)
    rebuilds = []
    monkeypatch.setattr(index, "reset", lambda memory: rebuilds.append(1))
    for step in range(300):
        slots = torch.randint(0, 20_000, (17,), generator=generator)
        rows = torch.randn(17, 16, generator=generator)
        memory[0, slots] = rows
        index.update(torch.zeros(17, dtype=torch.long), slots, rows)
    assert rebuilds == []
    assert index.search(rows[-1].reshape(1, 1, 16), 1)[0, 0, 0] == slots[-1]


def test_recall_at_k():
    found = torch.tensor([[1, 2, 3, 4]])
    assert recall_at_k(found, torch.tensor([[4, 3, 9, 8]])) == 0.5
