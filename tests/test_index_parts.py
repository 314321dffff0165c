"""FaissIndex's main structure (index_parts.py): a shared structure over the rows an episode starts from +
an exact search over the rows written since. Checked against ExactIndex on small hand-made cases: written
rows beat initial rows, a written slot is never answered from the initial rows, the zero start's fill,
a memory that fills (recent rows, the clustered older rows, removals and re-clustering), non-finite rows, and that
nothing per step is O(N)."""
import math

import pytest
import torch

from samviz.memory import index as index_module
from samviz.memory import index_parts
from samviz.memory.index import ExactIndex, FaissIndex, IVFIndex, cosine_scores, recall_at_k
from samviz.memory.initial import initial_memory

NAN, INF = float("nan"), float("inf")
SLOTS = 4096                    # the smallest size that is not the exact flat fallback


def start(kind: str, batch: int, slots: int = SLOTS, width: int = 8, dtype=torch.float32) -> torch.Tensor:
    return initial_memory(kind, batch, slots, width, dtype).clone().contiguous()


def pair(memory):
    approximate, exact = FaissIndex(*memory.shape), ExactIndex(*memory.shape)
    approximate.reset(memory)
    exact.reset(memory)
    return approximate, exact


def write(memory, indexes, batch_ids, slot_ids, rows):
    memory[batch_ids, slot_ids] = rows
    for index in indexes:
        index.update(batch_ids, slot_ids, rows)


def matches_exact(memory, queries, found, exact, tie=1e-6) -> bool:
    """Every found id is in the exact top-k or ties the exact k-th cosine within `tie`; ids distinct."""
    scores = cosine_scores(queries.double(), memory.double())                     # [B, Q, N]
    kth = torch.gather(scores, 2, exact).min(-1, keepdim=True).values
    found_scores = torch.gather(scores, 2, found)
    member = (found.unsqueeze(-1) == exact.unsqueeze(-2)).any(-1)
    distinct = all(len(set(row)) == row.__len__() for row in found.reshape(-1, found.shape[-1]).tolist())
    return bool((member | (found_scores >= kth - tie)).all()) and distinct


@pytest.mark.parametrize("kind", ["jittered", "zero"])
def test_a_known_start_uses_the_initial_rows_and_written_rows(kind):
    memory = start(kind, 2)
    index, exact = pair(memory)
    assert index.mode == kind and index.initial is not None and index.indexes == []
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(2, 9, 8, generator=generator)
    assert matches_exact(memory, queries, index.search(queries, 4), exact.search(queries, 4))
    for _ in range(20):                                   # 20 steps × 17 rows per batch element
        batch_ids = torch.arange(2).repeat_interleave(17)
        slot_ids = torch.randint(0, SLOTS, (34,), generator=generator)
        write(memory, (index, exact), batch_ids, slot_ids, torch.randn(34, 8, generator=generator))
        assert matches_exact(memory, queries, index.search(queries, 4), exact.search(queries, 4))
    # a written row is found first, by its slot id, in its own batch element
    assert index.search(memory[:, slot_ids[-1:]].clone(), 1)[1, 0, 0] == slot_ids[-1]


def test_written_rows_beat_initial_rows_and_a_written_slot_is_not_answered_from_the_initial_rows():
    memory = start("jittered", 1)
    index, exact = pair(memory)
    query = torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(1))
    before = index.search(query, 4)
    assert torch.equal(before, exact.search(query, 4))            # initial rows only: the HNSW's answer
    best = int(before[0, 0, 0])
    # the best initial row now points away from the query: it must leave the answer, replaced by the next
    write(memory, (index, exact), torch.tensor([0]), torch.tensor([best]), -query[0])
    after = index.search(query, 4)
    assert best not in after[0, 0].tolist()
    assert matches_exact(memory, query, after, exact.search(query, 4))
    # a row written near the query beats every initial row; a written slot whose row did not change
    # (a write of weight 0) is answered once, by the written part
    write(memory, (index, exact), torch.tensor([0, 0]), torch.tensor([77, int(before[0, 0, 1])]),
          torch.stack([query[0, 0] + 0.01, memory[0, int(before[0, 0, 1])]]))
    found = index.search(query, 4)
    assert found[0, 0, 0] == 77 and len(set(found[0, 0].tolist())) == 4
    assert matches_exact(memory, query, found, exact.search(query, 4))


def test_written_slots_crowding_the_answer_are_excluded_inside_the_search():
    """The 300 initial rows nearest the query are overwritten with rows pointing away from it: the answer is
    the exact top-4 among the unwritten rows, 300 deep, from one filtered graph walk (no deeper re-search)."""
    memory = start("jittered", 1)
    index, exact = pair(memory)
    query = torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(2))
    crowd = exact.search(query, 300)[0, 0]
    write(memory, (index, exact), torch.zeros(300, dtype=torch.long), crowd, -query[0].expand(300, -1))
    calls = []
    original = index.initial.search
    index.initial.search = lambda *args, **kwargs: calls.append(kwargs) or original(*args, **kwargs)
    found = index.search(query, 4)
    assert len(calls) == 1 and calls[0]["exclude"].size == 300
    assert not set(found[0, 0].tolist()) & set(crowd.tolist())
    assert matches_exact(memory, query, found, exact.search(query, 4))


def test_a_walk_that_finds_fewer_than_k_unwritten_rows_still_gets_k_distinct_unwritten_slots():
    memory = start("jittered", 1)
    index, exact = pair(memory)
    query = torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(7))
    crowd = exact.search(query, 40)[0, 0]
    write(memory, (index, exact), torch.zeros(40, dtype=torch.long), crowd, -query[0].expand(40, -1))
    original = index.initial.search

    def short_walk(*args, **kwargs):                    # as if the walk had found only 2 of the k rows
        scores, ids = original(*args, **kwargs)
        return scores.index_fill(1, torch.tensor([2, 3]), -math.inf), ids.index_fill(1, torch.tensor([2, 3]), -1)

    index.initial.search = short_walk
    found = index.search(query, 4)[0, 0].tolist()
    assert index.last_stats["initial_filled"] >= 1
    assert len(set(found)) == 4 and not set(found) & set(crowd.tolist()) and min(found) >= 0


def test_zero_start_fills_with_unwritten_slots_that_score_zero():
    memory = start("zero", 2)
    index, exact = pair(memory)
    row = torch.tensor([1.0, 0, 0, 0, 0, 0, 0, 0])
    write(memory, (index, exact), torch.tensor([0, 0, 1]), torch.tensor([0, 1, 5]), torch.stack([row, -row, row]))
    found = index.search(row.expand(2, 1, 8).clone(), 4)
    assert found[0, 0, 0] == 0 and found[1, 0, 0] == 5
    assert 1 not in found[0, 0].tolist()                          # cosine −1 < 0: the zero rows come first
    assert matches_exact(memory, row.expand(2, 1, 8), found, exact.search(row.expand(2, 1, 8).clone(), 4))
    opposite = index.search(-row.expand(2, 1, 8).clone(), 4)
    assert opposite[0, 0, 0] == 1 and 0 not in opposite[0, 0].tolist() and 5 not in opposite[1, 0].tolist()


@pytest.mark.parametrize("kind", ["jittered", "zero"])
def test_a_memory_that_fills_keeps_its_parts_and_its_recall(kind):
    """Every slot written, many rows written again: the recent rows move to the clustered older rows in batches,
    rows written again are removed from them and answered from the recent part, the lists are re-clustered as
    rows are added — and every search matches the exact index (ties aside), with no switch."""
    generator = torch.Generator().manual_seed(3)
    memory = start(kind, 2)
    index, exact = pair(memory)
    index.recent_rows = 256
    recalls = []
    for step in range(0, 2 * SLOTS, 64):                          # every slot, then every slot again
        slot_ids = (torch.arange(step, step + 64) % SLOTS).repeat(2)
        batch_ids = torch.arange(2).repeat_interleave(64)
        write(memory, (index, exact), batch_ids, slot_ids, torch.randn(128, 8, generator=generator))
        if step % 512 == 0:
            queries = torch.randn(2, 50, 8, generator=generator)
            recalls.append(recall_at_k(index.search(queries, 4), exact.search(queries, 4)))
    assert index.mode == kind and index.initial is not None          # no switch to another structure
    assert index.written.most_written == SLOTS and index.written.largest < 256
    assert index.older.stats["rebuilds"] >= 1 and index.last_stats["older_moves"] >= 2 * 2 * SLOTS // 256 - 2
    assert int(index.older.live.sum() + index.written.count.sum()) == 2 * SLOTS    # each row answered once
    assert min(recalls) >= 0.98 and sum(recalls) / len(recalls) >= 0.99, recalls
    queries = torch.randn(2, 400, 8, generator=generator)
    assert recall_at_k(index.search(queries, 4), exact.search(queries, 4)) >= 0.99
    own = memory[:, [100, 2000, 4095]].clone()                     # a row's own content finds the row
    assert index.search(own, 1)[:, :, 0].tolist() == [[100, 2000, 4095]] * 2
    index.reset(start(kind, 2))                                   # a new episode: nothing written, no older rows
    assert index.written.most_written == 0 and int(index.older.live.sum()) == 0
    assert not index.older.held.any() and (index.written.position == -1).all()


def test_a_full_zero_memory_answers_from_written_rows_only():
    memory = start("zero", 1, slots=SLOTS)
    index, exact = pair(memory)
    index.recent_rows = 512
    rows = torch.randn(SLOTS, 8, generator=torch.Generator().manual_seed(2))
    write(memory, (index, exact), torch.zeros(SLOTS, dtype=torch.long), torch.arange(SLOTS), rows)
    queries = torch.randn(1, 100, 8, generator=torch.Generator().manual_seed(4))
    found = index.search(queries, 4)
    assert (found >= 0).all() and (found < SLOTS).all()
    assert recall_at_k(found, exact.search(queries, 4)) >= 0.99


@pytest.mark.parametrize("kind", ["jittered", "zero"])
def test_non_finite_rows_and_queries_are_zero_vectors(kind):
    def searched(poison: bool):
        memory = start(kind, 2)
        index = FaissIndex(2, SLOTS, 8)
        index.reset(memory)
        rows = torch.randn(3, 8, generator=torch.Generator().manual_seed(4))
        rows[:, 0] = torch.tensor([NAN, INF, -INF]) if poison else 0.0
        if not poison:
            rows.zero_()
        write(memory, (index,), torch.ones(3, dtype=torch.long), torch.tensor([5, 9, 17]), rows)
        queries = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(5))
        queries[1, 0] = NAN if poison else 0.0
        return index.search(queries, 4)

    poisoned, zeroed = searched(True), searched(False)
    assert ((poisoned >= 0) & (poisoned < SLOTS)).all()
    assert torch.equal(poisoned, zeroed)


def test_the_initial_structure_is_built_once_and_shared(monkeypatch):
    memory = start("jittered", 3, width=6)
    first = FaissIndex(3, SLOTS, 6)
    first.reset(memory)
    builds = []
    monkeypatch.setattr(index_parts.InitialRows, "_build", lambda self, faiss: builds.append(1))
    second = FaissIndex(3, SLOTS, 6)
    second.reset(memory.clone())
    first.reset(memory)
    assert builds == [] and second.initial is first.initial
    other = start("jittered", 3, width=6, dtype=torch.float64)   # another dtype is another start
    other_index = FaissIndex(3, SLOTS, 6)
    other_index.reset(other)
    assert builds == [1]
    changed = memory.clone()
    changed[2, 4000, 3] += 1e-9                                   # not the known start: the IVF
    third = FaissIndex(3, SLOTS, 6)
    third.reset(changed)
    assert third.mode == "ivf" and third.initial is None


def test_steps_do_no_o_n_work(monkeypatch):
    """After reset, updates and searches touch only the rows written: no build, no comparison with the
    start, no IVF, nothing that scans the N slots (spies on every O(N) method)."""
    generator = torch.Generator().manual_seed(6)
    memory = start("jittered", 2, slots=1 << 14)
    index = FaissIndex(2, 1 << 14, 8)
    index.reset(memory)
    index.recent_rows = 256                                       # the clustered older rows take part too
    calls = []
    for owner, names in ((index_module, ("initial_rows_of",)), (index_parts, ("initial_rows_of", "jittered_memory")),
                         (IVFIndex, ("reset", "_build_ivf", "_train", "_assign_all", "_rebuild", "_build_flat")),
                         (index_parts.InitialRows, ("_build",))):
        for name in names:
            monkeypatch.setattr(owner, name, lambda *args, name=name, **kwargs: calls.append(name))
    for _ in range(100):
        batch_ids = torch.arange(2).repeat_interleave(17)
        write(memory, (index,), batch_ids, torch.randint(0, 1 << 14, (34,), generator=generator),
              torch.randn(34, 8, generator=generator))
        index.search(torch.randn(2, 4, 8, generator=generator), 4)
    assert calls == [] and index.mode == "jittered" and index.last_stats["older_moves"] >= 2
    assert index.written.rows.shape[1] <= 2 * 100 * 17            # the buffer grows with writes, not with N
