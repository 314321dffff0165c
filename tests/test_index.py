"""Memory indexes against exact top-K by cosine: slot ids (never offset), updates, duplicates, zero rows,
recall of the faiss IVF index, and that updates never rebuild (structurally: spies, no timing)."""
import math

import pytest
import torch
import torch.nn.functional as F

from samviz.memory.index import ExactIndex, FaissIndex, IVFIndex, make_index, recall_at_k


def true_top_k(memory, queries, k):
    """Exact top-k slot ids by torch's own cosine similarity: [B, Q, k]."""
    similarity = F.cosine_similarity(queries.unsqueeze(2), memory.unsqueeze(1), dim=-1)   # [B, Q, N]
    return torch.topk(similarity, k, dim=-1).indices


def random_updates(generator, batch, slots, width, per_index=17):
    batch_ids = torch.arange(batch).repeat_interleave(per_index)
    slot_ids = torch.randint(0, slots, (batch * per_index,), generator=generator)
    return batch_ids, slot_ids, torch.randn(batch * per_index, width, generator=generator)


def write(memory, index, batch_ids, slot_ids, rows):
    """What the model does: edit the memory in place, then tell the index (last duplicate wins in both)."""
    for b, s, row in zip(batch_ids.tolist(), slot_ids.tolist(), rows, strict=True):
        memory[b, s] = row
    index.update(batch_ids, slot_ids, rows)


@pytest.fixture(scope="module")
def ivf_case():
    """A faiss IVF index over 2 × 20,000 random rows (W = 32) and its exact twin, built once."""
    generator = torch.Generator().manual_seed(5)
    batch, slots, width = 2, 20_000, 32
    memory = torch.randn(batch, slots, width, generator=generator)
    approximate = FaissIndex(batch, slots, width)
    approximate.reset(memory)
    exact = ExactIndex(batch, slots, width)
    exact.reset(memory)
    return memory, approximate, exact, generator


@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_ids_are_exact_top_k_slot_ids_before_and_after_updates(kind):
    generator = torch.Generator().manual_seed(0)
    memory = torch.randn(2, 500, 16, generator=generator)
    index = make_index(kind, 2, 500, 16)          # 500 slots: faiss uses its exact flat fallback
    index.reset(memory)
    queries = torch.randn(2, 7, 16, generator=generator)
    found = index.search(queries, 4)
    assert found.shape == (2, 7, 4) and found.dtype == torch.int64
    assert torch.equal(found, true_top_k(memory, queries, 4))
    # plant queries equal to the first and the last slot (scaled: cosine ignores norms): catches ids offset by one
    planted = torch.stack([memory[:, 0] * 3.0, memory[:, -1] * 0.1], dim=1)
    assert index.search(planted, 1)[:, :, 0].tolist() == [[0, 499], [0, 499]]
    # in-place edits + update(), several rounds
    for _ in range(5):
        batch_ids, slot_ids, rows = random_updates(generator, 2, 500, 16, per_index=9)
        write(memory, index, batch_ids, slot_ids, rows)
        assert torch.equal(index.search(queries, 4), true_top_k(memory, queries, 4))
    # an edited row is found first, by its slot id, in its own batch element only
    row = torch.randn(16, generator=generator)
    write(memory, index, torch.tensor([1]), torch.tensor([499]), row.unsqueeze(0))
    planted = row.expand(2, 1, 16).clone()
    assert index.search(planted, 1)[1, 0, 0] == 499
    assert index.search(planted, 1)[0, 0, 0] == true_top_k(memory, planted, 1)[0, 0, 0]


def test_exact_index_uses_the_memory_it_was_given_and_refreshes_only_named_norms():
    generator = torch.Generator().manual_seed(1)
    memory = torch.randn(3, 300, 8, generator=generator, dtype=torch.float64)   # the model may run in float64
    index = ExactIndex(3, 300, 8)
    index.reset(memory)
    queries = torch.randn(3, 5, 8, generator=generator, dtype=torch.float64)
    assert torch.equal(index.search(queries, 6), true_top_k(memory, queries, 6))
    # a row made 1000× longer keeps its cosine: after update() the cached norm must follow
    memory[2, 17] *= 1000.0
    index.update(torch.tensor([2]), torch.tensor([17]), memory[2, 17:18])
    assert torch.equal(index.search(queries, 6), true_top_k(memory, queries, 6))


@pytest.mark.parametrize("slots", [300, 6000])          # faiss flat fallback and faiss IVF
@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_duplicate_pairs_in_one_update_last_wins(kind, slots):
    generator = torch.Generator().manual_seed(2)
    memory = torch.randn(2, slots, 16, generator=generator)
    index = make_index(kind, 2, slots, 16)
    index.reset(memory)
    first, last = torch.randn(16, generator=generator) * 50.0, torch.randn(16, generator=generator)
    other = torch.randn(16, generator=generator)
    batch_ids = torch.tensor([1, 0, 1, 1])
    slot_ids = torch.tensor([7, 7, 7, slots - 1])
    rows = torch.stack([first, other, last, other])
    memory[1, 7], memory[0, 7], memory[1, slots - 1] = last, other, other
    index.update(batch_ids, slot_ids, rows)
    assert index.search(last.expand(2, 1, 16).clone(), 1)[1, 0, 0] == 7
    # the overwritten value is gone: a query equal to it does not find slot 7 (its cosine to `last` is small)
    assert abs(F.cosine_similarity(first, last, dim=0)) < 0.5
    assert index.search(first.expand(2, 1, 16).clone(), 1)[1, 0, 0] != 7
    if kind == "exact" or slots < 4096:
        queries = torch.randn(2, 4, 16, generator=generator)
        assert torch.equal(index.search(queries, 3), true_top_k(memory, queries, 3))


@pytest.mark.parametrize("slots", [50, 6000])
@pytest.mark.parametrize("kind", ["exact", "faiss"])
def test_zero_rows_and_queries_give_valid_ids_without_nan(kind, slots):
    memory = torch.zeros(2, slots, 8)
    index = make_index(kind, 2, slots, 8)
    index.reset(memory)                                   # all-zero memory: no NaN in norms or centroids
    queries = torch.cat([torch.zeros(2, 2, 8), torch.randn(2, 2, 8, generator=torch.Generator().manual_seed(3))], 1)
    ids = index.search(queries, 4)
    assert ids.shape == (2, 4, 4) and ids.min() >= 0 and ids.max() < slots
    assert all(len(set(row)) == 4 for row in ids.reshape(-1, 4).tolist())     # k distinct rows
    # a written row among zero rows is found; zeroing it again is accepted
    row = torch.randn(8, generator=torch.Generator().manual_seed(4))
    write(memory, index, torch.tensor([0, 1]), torch.tensor([slots // 2, 1]), torch.stack([row, torch.zeros(8)]))
    assert index.search(row.expand(2, 1, 8).clone(), 1)[0, 0, 0] == slots // 2
    if kind == "exact":
        assert not torch.isnan(index.inverse_norms).any()
    elif not index.flat:
        assert index.mode == "zero"                       # a zero start: exact over written rows + zero fill
        ivf = IVFIndex(2, slots, 8)                        # the structure for other memories and the fallback
        ivf.reset(torch.zeros(2, slots, 8))
        assert not torch.isnan(ivf.centroids).any()
        assert ivf.largest_list() <= 2 * math.ceil(slots / ivf.nlist)        # zero rows are spread over lists


def test_identical_rows_do_not_pile_into_one_list():
    """A memory of identical rows (e.g. a constant initialisation) must not make every search O(N)."""
    slots = 8000
    memory = torch.full((1, slots, 16), 1e-6)
    index = FaissIndex(1, slots, 16)
    index.reset(memory)
    assert not index.flat
    assert index.largest_list() <= 9 * math.ceil(slots / index.nlist)       # 8× its share + the spread
    assert index.last_stats["spread_rows"] > 0
    ids = index.search(torch.randn(1, 3, 16), 4)
    assert ids.min() >= 0 and ids.max() < slots
    row = torch.randn(16)
    write(memory, index, torch.tensor([0]), torch.tensor([1234]), row.unsqueeze(0))
    assert index.search(row.reshape(1, 1, 16), 1)[0, 0, 0] == 1234


def test_sam_like_start_small_jittered_rows_then_writes():
    """SAM's initial memory: tiny near-constant rows (one narrow cone). Written rows must be found, and no
    query may fall back to an exhaustive O(N) scan because its best lists are still empty."""
    generator = torch.Generator().manual_seed(10)
    batch, slots, width = 2, 8192, 16
    jitter = torch.rand(slots, width, generator=generator)
    memory = (1e-6 * (1 + 1e-2 * jitter)).expand(batch, -1, -1).contiguous()
    index, exact = FaissIndex(batch, slots, width), ExactIndex(batch, slots, width)
    index.reset(memory)
    exact.reset(memory)
    assert index.last_stats["concentrated_builds"] == 1
    # before any write half the lists (the random centroids) are empty: queries nearest to them must probe
    # the populated lists, not fall back to scanning all N rows (at 2^18 slots a query visits at most 768
    # of 2048 lists; a small nprobe recreates that proportion here)
    narrow = FaissIndex(batch, slots, width, nprobe=16)
    narrow.reset(memory)
    assert narrow.max_probe < (narrow.list_sizes == 0).sum(-1).min()
    fresh = narrow.search(torch.randn(batch, 32, width, generator=generator), 4)
    assert narrow.last_stats["exhaustive_queries"] == 0 and (fresh >= 0).all()
    assert 0 < narrow.last_stats["rows_scanned_per_query"] <= narrow.max_codes
    for _ in range(40):
        updates = random_updates(generator, batch, slots, width)
        write(memory, index, *updates)
        exact.update(*updates)
    batch_ids, slot_ids, rows = updates
    queries = torch.stack([rows[batch_ids == b] for b in range(batch)])          # [B, 17, W]
    assert torch.equal(index.search(queries, 1)[..., 0], torch.stack([slot_ids[batch_ids == b] for b in range(batch)]))
    noisy = queries + 0.3 * torch.randn(queries.shape, generator=generator)
    assert recall_at_k(index.search(noisy, 4), exact.search(noisy, 4)) >= 0.8
    assert index.last_stats["exhaustive_queries"] == 0


def test_faiss_flat_fallback_is_exact_and_ivf_is_used_above_the_threshold():
    small = FaissIndex(1, 1000, 8)
    large = FaissIndex(1, 5000, 8)
    assert small.flat and not large.flat and large.nlist > 1
    assert "IndexFlatIP" in (small.reset(torch.randn(1, 1000, 8)) or small.describe())
    assert "IVF" in (large.reset(torch.randn(1, 5000, 8)) or large.describe())


def test_faiss_ivf_recall_before_and_after_many_updates(ivf_case):
    memory, approximate, exact, generator = ivf_case
    batch, slots, width = memory.shape
    queries = torch.randn(batch, 200, width, generator=generator)
    before = recall_at_k(approximate.search(queries, 4), exact.search(queries, 4))
    planted = []
    for _ in range(150):                                   # 150 steps × 17 rows × 2 indexes
        updates = random_updates(generator, batch, slots, width)
        write(memory, approximate, *updates)
        exact.update(*updates)
        planted.append(updates)
    after = recall_at_k(approximate.search(queries, 4), exact.search(queries, 4))
    print(f"\nfaiss IVF recall@4, 2×20,000 random rows: {before:.3f} before, {after:.3f} after 5,100 updates "
          f"({approximate.describe()})")
    assert before >= 0.9 and after >= 0.9
    # every row written in the last steps is found first, by its slot id (queries equal to the rows)
    batch_ids, slot_ids, rows = planted[-1]
    for b in range(batch):
        mine = batch_ids == b
        last = {s: r for s, r in zip(slot_ids[mine].tolist(), rows[mine], strict=True)}        # duplicates: last wins
        queries = torch.stack(list(last.values())).unsqueeze(0).expand(batch, -1, -1).contiguous()
        assert approximate.search(queries, 1)[b, :, 0].tolist() == list(last)


@pytest.mark.slow
def test_faiss_recall_on_random_memories_of_100000_rows():
    """The target: recall@4 ≥ 0.9 against exact top-4 on 100,000 random N(0, 1) rows, random queries."""
    generator = torch.Generator().manual_seed(11)
    slots, width = 100_000, 32
    memory = torch.randn(1, slots, width, generator=generator)
    queries = torch.randn(1, 300, width, generator=generator)
    exact, approximate = ExactIndex(1, slots, width), FaissIndex(1, slots, width)
    exact.reset(memory)
    approximate.reset(memory)
    recall = recall_at_k(approximate.search(queries, 4), exact.search(queries, 4))
    print(f"\nfaiss recall@4 on 100,000 random rows: {recall:.3f} ({approximate.describe()})")
    assert recall >= 0.9
    assert approximate.last_stats["rows_scanned_per_query"] <= 0.2 * slots         # not a disguised flat scan


def test_faiss_nprobe_all_lists_is_exhaustive(ivf_case):
    memory, approximate, exact, generator = ivf_case
    queries = torch.randn(memory.shape[0], 50, memory.shape[2], generator=generator)
    default = approximate.nprobe
    try:
        approximate.nprobe = approximate.lists
        wide = recall_at_k(approximate.search(queries, 4), exact.search(queries, 4))
        assert approximate.last_stats["rows_scanned_per_query"] == memory.shape[1]
    finally:
        approximate.nprobe = default
    assert wide >= 0.98                                  # float16 rows: only near-ties may swap
    approximate.search(queries, 4)
    scanned = approximate.last_stats["rows_scanned_per_query"]
    assert approximate.scan_budget <= scanned <= approximate.max_codes     # the adaptive probe's budget


def test_updates_never_rebuild_or_touch_all_rows_before_the_schedule(monkeypatch):
    generator = torch.Generator().manual_seed(6)
    batch, slots, width = 2, 20_000, 16
    memory = torch.randn(batch, slots, width, generator=generator)
    index = FaissIndex(batch, slots, width)
    index.reset(memory)
    calls = []
    for name in ("reset", "_rebuild", "_build_ivf", "_assign_all", "_train", "largest_list"):
        monkeypatch.setattr(index, name, lambda *args, name=name, **kwargs: calls.append(name))
    for _ in range(300):                                   # 300 steps × 17 rows per index < N updates
        write(memory, index, *random_updates(generator, batch, slots, width))
    assert calls == []
    assert index.last_stats["updates_since_build"] <= 300 * 17 * batch


def test_scheduled_rebuild_happens_after_n_updates_and_keeps_rows_findable():
    generator = torch.Generator().manual_seed(7)
    batch, slots, width = 2, 5000, 16
    memory = torch.randn(batch, slots, width, generator=generator)
    index = FaissIndex(batch, slots, width, rebuild_every=200)
    index.reset(memory)
    exact = ExactIndex(batch, slots, width)
    exact.reset(memory)
    for _ in range(15):                                    # 15 × 17 > 200 updates per index
        updates = random_updates(generator, batch, slots, width)
        write(memory, index, *updates)
        exact.update(*updates)
    assert index.last_stats["scheduled_rebuilds"] == 1 and index.last_stats["builds"] == 2
    assert index.last_stats["updates_since_build"] < 200 * batch
    queries = memory[:, :100:7].clone()                     # rows as they are now, written or not
    assert index.search(queries, 1)[:, :, 0].tolist() == [list(range(0, 100, 7))] * batch
    queries = torch.randn(batch, 100, width, generator=generator)
    assert recall_at_k(index.search(queries, 4), exact.search(queries, 4)) >= 0.9


def test_reset_of_the_same_memory_reuses_the_build():
    memory = torch.randn(3, 6000, 8, generator=torch.Generator().manual_seed(8))
    memory[1] = memory[0]
    first, second = FaissIndex(3, 6000, 8), FaissIndex(3, 6000, 8)
    first.reset(memory)
    second.reset(memory.clone())
    assert second.last_stats["cache_hits"] == 1
    queries = torch.randn(3, 20, 8, generator=torch.Generator().manual_seed(9))
    assert torch.equal(first.search(queries, 4), second.search(queries, 4))


def test_search_arguments_are_checked():
    index = make_index("exact", 1, 10, 4)
    index.reset(torch.randn(1, 10, 4))
    with pytest.raises(ValueError):
        index.search(torch.randn(1, 2, 4), 11)
    with pytest.raises(ValueError):
        index.search(torch.randn(2, 2, 4), 1)
    with pytest.raises(ValueError):
        index.reset(torch.randn(1, 11, 4))


def test_unknown_index_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown index"):
        make_index("bogus", 1, 10, 4)
    assert make_index("exact", 1, 10, 4).name == "exact"
    assert make_index("faiss", 1, 10, 4).name == "faiss"


def test_recall_at_k():
    found = torch.tensor([[1, 2, 3, 4]])
    assert recall_at_k(found, torch.tensor([[4, 3, 9, 8]])) == 0.5
    assert recall_at_k(torch.tensor([[[0, 1], [2, 3]]]), torch.tensor([[[1, 0], [3, 5]]])) == 0.75
