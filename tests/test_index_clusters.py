"""The older written rows' inverted file (index_clusters.ClusteredRows), against an exact top-k: the number of
lists by hand, answers equal to exact while every list is scanned, removals that never answer again, the
re-clustering schedule (rows added since the last clustering), a search budget that does not grow with the
rows, and clearing that touches only the rows held."""
import math

import numpy as np
import pytest
import torch

from samviz.memory import index_clusters
from samviz.memory.index_clusters import CLUSTER_PROBES, CLUSTER_ROWS, ClusteredRows, lists_for

faiss = pytest.importorskip("faiss")
WIDTH = 8


def unit(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(dim=-1, keepdim=True)


def exact_top(rows: dict, query: torch.Tensor, k: int) -> tuple[list[int], float]:
    """rows: {slot: unit row}; -> the k best slots by cosine (ties by slot), and the k-th best cosine."""
    slots = sorted(rows)
    scores = torch.stack([rows[s] for s in slots]) @ query
    order = sorted(range(len(slots)), key=lambda i: (-float(scores[i]), slots[i]))[:k]
    return [slots[i] for i in order], float(scores[order[-1]])


def clustered_rows(count: int, centres: int, generator: torch.Generator) -> torch.Tensor:
    """`count` unit rows around `centres` random directions, as a trained model's keys are (not uniform)."""
    middle = unit(torch.randn(centres, WIDTH, generator=generator))
    which = torch.randint(0, centres, (count,), generator=generator)
    return unit(middle[which] + 0.3 * torch.randn(count, WIDTH, generator=generator))


def test_lists_follow_the_rows_in_powers_of_two():
    assert CLUSTER_ROWS == 64 and CLUSTER_PROBES == 64      # the hand-computed cases below assume these
    assert lists_for(0) == 1 and lists_for(127) == 1          # too few rows to be worth clustering
    assert lists_for(128) == 2 and lists_for(1024) == 16      # 1024 / 64 = 16
    assert lists_for(8192) == 128 and lists_for(11_000) == 128   # 171.9 is nearer 2^7 than 2^8 in log scale
    assert lists_for(12_000) == 256                           # 187.5: log2 = 7.55, rounds up
    assert lists_for(10 ** 9) == index_clusters.MAX_LISTS


def test_while_every_list_is_scanned_the_answer_is_exact():
    """At most CLUSTER_PROBES lists: every list is scanned, so the top-k is the exact one (slot ids, not places)."""
    generator = torch.Generator().manual_seed(1)
    older = ClusteredRows(1, 10_000, WIDTH)
    slots = np.array(sorted(torch.randperm(10_000, generator=generator)[:3000].tolist()))
    rows = unit(torch.randn(3000, WIDTH, generator=generator))
    older.add(0, slots, rows)
    # 3000 / 64 = 46.9 lists, log2 5.55: 64, no more than a search scans
    assert older.lists(0) == lists_for(3000) == 64 <= CLUSTER_PROBES and older.rows(0) == 3000
    held = dict(zip(slots.tolist(), rows, strict=True))
    queries = unit(torch.randn(20, WIDTH, generator=generator))
    scores, ids = older.search(0, queries, 4)
    for q in range(20):
        best, kth = exact_top(held, queries[q], 4)
        assert ids[q].tolist() == best
        assert float(scores[q, 3]) == pytest.approx(kth, abs=1e-6)


def test_a_removed_row_never_answers_and_the_rest_still_do():
    generator = torch.Generator().manual_seed(2)
    older = ClusteredRows(2, 5000, WIDTH)
    rows = unit(torch.randn(2, 1000, WIDTH, generator=generator))
    for b in range(2):
        older.add(b, np.arange(1000) + 1000 * b, rows[b])
    gone = np.arange(0, 1000, 3)
    older.delete(np.zeros(gone.shape[0], dtype=np.int64), gone)                   # batch element 0 only
    assert older.rows(0) == 1000 - gone.shape[0] and older.rows(1) == 1000
    assert not older.contains(np.zeros(3, dtype=np.int64), np.array([0, 3, 999])).any()
    assert older.contains(np.array([0, 1]), np.array([1, 1000])).all()
    scores, ids = older.search(0, rows[0][gone[:50]].contiguous(), 4)              # the removed rows' own content
    assert not np.isin(ids.numpy(), gone).any()
    held = {s: rows[0][s] for s in range(1000) if s % 3}
    for q in range(50):
        assert ids[q].tolist() == exact_top(held, rows[0][gone[q]], 4)[0]           # 16 lists: every one scanned
    older.delete(np.array([0, 1]), np.array([0, 1000]))                               # gone already, and present
    assert older.rows(0) == 1000 - gone.shape[0] and older.rows(1) == 999
    _, own = older.search(1, rows[1][:1].contiguous(), 1)
    assert own.item() != 1000


def test_lists_are_reclustered_once_as_many_rows_were_added_as_they_were_made_from():
    generator = torch.Generator().manual_seed(3)
    older = ClusteredRows(1, 1 << 16, WIDTH)
    rows = clustered_rows(12_000, 40, generator)
    older.add(0, np.arange(2000), rows[:2000])                    # the first clustering: 2,000 rows, 32 lists
    assert (older.lists(0), int(older.clustered_from[0]), older.stats["rebuilds"]) == (32, 2000, 0)
    older.add(0, np.arange(2000, 3999), rows[2000:3999])           # 1,999 added since: not yet
    assert older.stats["rebuilds"] == 0 and older.lists(0) == 32
    older.delete(np.zeros(500, dtype=np.int64), np.arange(500))    # removals do not count as additions
    older.add(0, np.arange(3999, 4000), rows[3999:4000])           # the 2,000th: re-clustered over the 3,500 held
    assert older.stats["rebuilds"] == 1 and older.stats["rows_rebuilt"] == 3500
    assert int(older.clustered_from[0]) == 3500 and older.lists(0) == lists_for(3500) == 64
    assert older.rows(0) == 3500 and int(older.added_since[0]) == 0
    fresh = ClusteredRows(1, 1 << 16, WIDTH)                       # the same rows clustered at once: same answers
    fresh.add(0, np.arange(500, 4000), rows[500:4000])
    queries = unit(torch.randn(30, WIDTH, generator=generator))
    assert torch.equal(older.search(0, queries, 4)[1], fresh.search(0, queries, 4)[1])


def test_on_clustered_rows_the_fixed_budget_keeps_recall_and_scans_a_bounded_number_of_rows():
    """Many more lists than CLUSTER_PROBES: recall against exact (ties within 1e-6 count) ≥ 0.99, and the rows
    compared per query (faiss's own counter) stay near CLUSTER_PROBES × CLUSTER_ROWS at 16,000 and 64,000 rows."""
    generator = torch.Generator().manual_seed(4)
    compared = {}
    for count in (16_000, 64_000):
        older = ClusteredRows(1, 1 << 17, WIDTH)
        rows = clustered_rows(count, 200, generator)
        older.add(0, np.arange(count), rows)
        assert older.lists(0) == lists_for(count) > CLUSTER_PROBES
        queries = unit(rows[:200] + 0.2 * torch.randn(200, WIDTH, generator=generator))
        faiss.cvar.indexIVF_stats.reset()
        scores, ids = older.search(0, queries, 4)
        compared[count] = faiss.cvar.indexIVF_stats.ndis / 200
        exact = queries @ rows.T
        kth = exact.topk(4, dim=-1).values[:, -1:]
        found = torch.gather(exact, 1, ids)
        assert float((found >= kth - 1e-6).float().mean()) >= 0.99
    for rows_compared in compared.values():
        assert rows_compared <= 3 * CLUSTER_PROBES * CLUSTER_ROWS, compared       # lists vary in size
    assert compared[64_000] <= 1.5 * compared[16_000], compared                   # 4× the rows, not 4× the work


def test_clear_empties_only_the_rows_held_and_the_lists_start_again():
    generator = torch.Generator().manual_seed(5)
    older = ClusteredRows(2, 1 << 15, WIDTH)
    older.add(1, np.arange(100, 1100), unit(torch.randn(1000, WIDTH, generator=generator)))
    spied = older.held
    older.clear()
    assert older.held is spied and not older.held.any()            # the same array: nothing O(N) made anew
    assert older.rows(1) == 0 and older.lists(1) == 0 and older.files == [None, None]
    scores, ids = older.search(1, unit(torch.randn(3, WIDTH, generator=generator)), 4)
    assert torch.isinf(scores).all() and (ids == 0).all()          # nothing held: no answer
    older.add(1, np.arange(10), unit(torch.randn(10, WIDTH, generator=generator)))
    assert older.rows(1) == 10 and older.lists(1) == 1


def test_fewer_rows_than_k_leave_the_rest_empty():
    older = ClusteredRows(1, 100, WIDTH)
    older.add(0, np.array([7, 9]), unit(torch.randn(2, WIDTH, generator=torch.Generator().manual_seed(6))))
    scores, ids = older.search(0, unit(torch.ones(1, WIDTH)), 4)
    assert sorted(ids[0, :2].tolist()) == [7, 9] and ids[0, 2:].tolist() == [0, 0]
    assert torch.isinf(scores[0, 2:]).all() and bool(torch.isfinite(scores[0, :2]).all())
    assert not math.isnan(float(scores[0, 0]))
