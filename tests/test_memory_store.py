"""The memory store: a finished episode's O(N) tables are reused by the next episode, restored in O(rows touched).

Specifications: a reused store gives the same logits and gradients as a new one (SAM and SDNC, zero and jittered
starts, exact and faiss indexes); a restart restores exactly the start (every row, every table entry) and works only
on the rows the last episode touched; a live episode's store is never lent to another; the least-recently-used
tracker's clear() is a fresh tracker; a step's usage_before is the usage before the step's accesses.
"""
import numpy as np
import pytest
import torch

import samviz
from samviz.memory import store as store_module
from samviz.memory.initial import initial_memory
from samviz.memory.usage import LeastRecentlyUsed


@pytest.fixture(autouse=True)
def empty_pool():
    store_module.clear_pool()
    yield
    store_module.clear_pool()


def model_of(kind, slots, index="faiss", initial_rows="zero"):
    torch.manual_seed(0)
    return samviz.build_model(kind, memory_slots=slots, word_size=8, heads=2, k=4, controller_size=16, index=index,
                              initial_rows=initial_rows)


def loss_and_gradients(model, x):
    model.zero_grad()
    logits = model(x)
    logits.pow(2).mean().backward()
    return logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("kind,slots,index,start", [
    ("sam", 64, "exact", "zero"), ("sam", 4096, "faiss", "zero"), ("sam", 4096, "faiss", "jittered"),
    ("sam", 1024, "faiss", "jittered"), ("sdnc", 4096, "faiss", "zero"), ("sdnc", 64, "exact", "jittered")])
def test_a_reused_store_gives_the_same_logits_and_gradients_as_a_new_one(kind, slots, index, start):
    model = model_of(kind, slots, index, start)
    first, second = torch.rand(30, 3, 9, generator=torch.Generator().manual_seed(1)), torch.rand(
        30, 3, 9, generator=torch.Generator().manual_seed(2))
    fresh = loss_and_gradients(model, first)            # a new store
    store_module.clear_pool()
    loss_and_gradients(model, second)                   # a new store, then pooled
    reused_store = next(iter(store_module._POOL.values()))
    again = loss_and_gradients(model, first)            # the pooled store, restarted
    assert reused_store.restarts == 1
    assert torch.equal(fresh[0], again[0])
    for name in fresh[1]:
        assert torch.equal(fresh[1][name], again[1][name]), name


@pytest.mark.parametrize("start", ["zero", "jittered"])
def test_a_restart_restores_every_row_and_table_and_touches_only_the_rows_written(start):
    model = model_of("sam", 4096, "faiss", start)
    x = torch.rand(25, 2, 9, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():                               # forward only: nothing rolls the buffer back
        _, state = model.run(x)
    store = state.memory.store
    changed = (store.buffer != initial_memory(start, 2, 4096, 8)).any(-1).flatten().nonzero().flatten().numpy()
    touched = np.sort(store.touched_rows())
    assert set(changed.tolist()) <= set(touched.tolist())            # every changed row was recorded
    assert len(touched) <= 25 * 2 * (2 * 4 + 1)                       # and no more than the rows written
    accessed = (store.usage.last_access >= 0).sum()
    assert accessed > 0 and store.index.written.largest > 0
    del state
    restored_rows = []
    original = store_module.MemoryStore.restart

    def spy(self):
        restored_rows.append(len(self.touched_rows()))
        return original(self)

    store_module.MemoryStore.restart = spy
    try:
        again = model.core.initial_state(2)
    finally:
        store_module.MemoryStore.restart = original
    assert again.memory.store is store and restored_rows == [len(touched)]
    assert torch.equal(store.buffer, initial_memory(start, 2, 4096, 8))
    assert (store.usage.last_access == -1).all() and store.usage.tail == 0 and (store.usage.cursor == 0).all()
    assert (store.gradients.position == -1).all() and store.gradients.count == 1
    assert store.index.written.largest == 0 and (store.index.written.position == -1).all()
    assert not store.touched_bits.any() and store.touched == []


def test_a_live_episode_never_shares_its_store():
    model = model_of("sam", 4096)
    x = torch.rand(10, 2, 9)
    logits = model(x)                                   # its graph keeps the episode's memory alive
    other = model.core.initial_state(2)
    assert other.memory.store is not logits.grad_fn.next_functions and len(store_module._POOL) == 0
    logits.sum().backward()
    del logits                                          # the graph is gone: the store goes back to the pool
    assert len(store_module._POOL) == 1
    reused = model.core.initial_state(2)
    assert reused.memory.store is not other.memory.store


def test_training_updates_reuse_one_store():
    model = model_of("sam", 4096)
    optimizer = torch.optim.Adam(model.parameters())

    def update(seed):                          # as Trainer.update: the graph dies with the function's locals
        x = torch.rand(12, 2, 9, generator=torch.Generator().manual_seed(seed))
        logits, state = model.run(x)
        optimizer.zero_grad()
        logits.pow(2).mean().backward()
        optimizer.step()
        return state.memory.store

    stores = [update(seed) for seed in range(4)]
    assert len({id(store) for store in stores}) == 1 and stores[0].restarts == 3


def test_a_test_memory_of_its_own_is_never_pooled():
    model = model_of("sam", 64, "exact")
    model.core.initial_memory = torch.randn(2, 64, 8)
    with torch.no_grad():
        model(torch.rand(5, 2, 9))
    assert len(store_module._POOL) == 0


def test_least_recently_used_clear_is_a_fresh_tracker():
    generator = torch.Generator().manual_seed(7)
    batch, slots = 3, 40
    used, fresh = LeastRecentlyUsed(batch, slots), None
    for episode in range(4):
        fresh = LeastRecentlyUsed(batch, slots)
        if episode:
            used.clear()
        for t in range(150):                         # past the first capacity's compaction and growth at m = 30
            assert torch.equal(used.least_recently_used(), fresh.least_recently_used()), (episode, t)
            ids = torch.randint(0, slots, (batch, 30), generator=generator)
            accessed = torch.rand(batch, 30, generator=generator) > 0.5
            accessed = ((ids.unsqueeze(2) == ids.unsqueeze(1)) & accessed.unsqueeze(1)).any(-1)
            used.access(t, ids, accessed)
            fresh.access(t, ids, accessed)
        assert torch.equal(used.steps_since_access(150), fresh.steps_since_access(150))


def test_least_recently_used_before_every_slot_is_accessed_is_the_lowest_never_accessed():
    tracker = LeastRecentlyUsed(1, 10)
    assert int(tracker.least_recently_used()[0]) == 0
    tracker.access(0, torch.tensor([[0, 1, 5]]), torch.tensor([[True, True, True]]))
    assert int(tracker.least_recently_used()[0]) == 2
    tracker.access(1, torch.tensor([[2, 3, 4, 6, 7, 8, 9]]), torch.ones(1, 7, dtype=torch.bool))
    assert int(tracker.least_recently_used()[0]) == 0       # all accessed: the oldest access, lowest slot first
    tracker.access(2, torch.tensor([[0, 1]]), torch.tensor([[True, False]]))
    assert int(tracker.least_recently_used()[0]) == 1


def test_usage_before_is_the_usage_before_the_steps_accesses_and_only_valid_until_the_next():
    model = model_of("sam", 64, "exact")
    seen = []

    def observe(t, step):
        tracker = step.memory.usage
        full = step.usage_before.vector(0)
        now = tracker.steps_since_access(t)[0]
        accessed = {int(s) for s in step.write_ids[0]} | {int(s) for s in step.read_ids[0].flatten()}
        # slots this step did not access: unchanged; the ones it did: now 0 steps since, before that older
        untouched = torch.tensor([s not in accessed for s in range(64)])
        assert torch.equal(full[untouched], now[untouched])
        assert int(step.usage_before.age(0, int(step.least_used[0]))[0]) == int(full[int(step.least_used[0])])
        seen.append(step.usage_before)

    with torch.no_grad():
        model.run(torch.rand(6, 1, 9), observe=observe)
    assert int(seen[0].tracker.last_access.max()) == 5
    with pytest.raises(RuntimeError, match="right after the step"):
        seen[0].vector(0)


@pytest.mark.parametrize("kind", ["sam", "sdnc"])
def test_a_second_episodes_set_up_allocates_nothing_of_the_memorys_size(kind, monkeypatch):
    """At 2^20 slots: after one episode, the next one's set-up (core.initial_state) makes no numpy array or torch
    tensor with as many elements as N/16 — every O(N) table comes from the pooled store — and touches no more
    rows than the last episode wrote."""
    slots = 1 << 20
    torch.manual_seed(0)
    model = samviz.build_model(kind, memory_slots=slots, word_size=8, heads=2, k=4, controller_size=16,
                               index="faiss")
    with torch.no_grad():
        model(torch.rand(12, 1, 9))
    large = []

    def spy(make):
        def made(*args, **kwargs):
            out = make(*args, **kwargs)
            if out.size > slots // 16 if isinstance(out, np.ndarray) else out.numel() > slots // 16:
                large.append((make.__name__, out.shape))
            return out
        return made

    for module, names in ((np, ("full", "zeros", "empty", "ones", "arange", "concatenate")),
                          (torch, ("zeros", "full", "empty", "ones", "arange", "cat"))):
        for name in names:
            monkeypatch.setattr(module, name, spy(getattr(module, name)))
    state = model.core.initial_state(1)
    monkeypatch.undo()
    assert large == [] and state.memory.store.restarts == 1
