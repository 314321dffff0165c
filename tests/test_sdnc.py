"""Sparse DNC (samviz/memory/sdnc.py, links.py): sparse links against the dense formulas of docs/PAPER_NOTES.md
(#sdnc), caps, reads along the links, gradients, stability, and per-step work independent of N."""
import tracemalloc

import numpy as np
import pytest
import torch

import samviz
from samviz.memory.links import SparseLinks, coalesce, merge_entries, top_entries
from samviz.memory.sdnc import SDNCMemory
from samviz.trace.recorders import record_step

BIG = 20.0


# ---------------------------------------------------------------- helpers

def dense_weights(ids: torch.Tensor, weights: torch.Tensor, slots: int) -> torch.Tensor:
    """Entries [..., n] -> dense weightings [..., N] (repeated ids summed; id −1 ignored)."""
    ids, weights = ids.long(), weights.detach().to(torch.float64)
    valid = ids >= 0
    return torch.zeros(*ids.shape[:-1], slots, dtype=torch.float64).scatter_add(
        -1, ids.clamp_min(0), torch.where(valid, weights, 0))


def forward_formula(previous: torch.Tensor, precedence: torch.Tensor, write: torch.Tensor) -> torch.Tensor:
    """docs/PAPER_NOTES.md (#sdnc): N_t(i,j) = (1 − w(i)) N_{t−1}(i,j) + w(i) p_{t−1}(j), no self links."""
    result = (1 - write)[:, None] * previous + write[:, None] * precedence[None, :]
    return result.fill_diagonal_(0)


def backward_formula(previous: torch.Tensor, precedence: torch.Tensor, write: torch.Tensor) -> torch.Tensor:
    """docs/PAPER_NOTES.md (#sdnc): P_t(i,j) = (1 − w(j)) P_{t−1}(i,j) + w(j) p_{t−1}(i), no self links."""
    result = (1 - write)[None, :] * previous + write[None, :] * precedence[:, None]
    return result.fill_diagonal_(0)


def cap(matrix: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Keep the k largest non-zeros of every row (dim=1) or column (dim=0)."""
    keep = torch.zeros_like(matrix, dtype=torch.bool).scatter(dim, matrix.topk(k, dim=dim).indices, True)
    return torch.where(keep & (matrix > 0), matrix, 0)


def top_dense(vector: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest non-zeros of a dense vector [..., N], the rest zero."""
    return cap(vector.reshape(-1, vector.shape[-1]), k, dim=1).reshape(vector.shape)


class Spy:
    """Records the arguments of SparseLinks.update and the results of SparseLinks.follow."""

    def __init__(self, monkeypatch):
        self.writes, self.follows = [], []
        update, follow = SparseLinks.update, SparseLinks.follow

        def spy_update(links, ids, weights, **kwargs):
            self.writes.append((ids.clone(), weights.detach().clone()))
            return update(links, ids, weights, **kwargs)

        def spy_follow(links, ids, weights):
            result = follow(links, ids, weights)
            self.follows.append(tuple(x.detach().clone() for x in result))
            return result

        monkeypatch.setattr(SparseLinks, "update", spy_update)
        monkeypatch.setattr(SparseLinks, "follow", spy_follow)


def run_against_dense_reference(monkeypatch, slots, link_k, steps, batch=2, heads=2, k=2, seed=0):
    """Run an SDNC core on random interfaces; after every step compare the sparse state with the dense
    reference computed from the previous (densified) state, the same write weights and the same p."""
    torch.manual_seed(seed)
    # jittered rows: zero rows all score 0, and the tie at the K_L cap would leave the dense reference's choice
    # of entries to keep undetermined (this compares the link caps, not the start)
    core = SDNCMemory(slots, word_size=4, heads=heads, k=k, index="exact", link_k=link_k, dtype=torch.float64,
                      initial_rows="jittered")
    spy = Spy(monkeypatch)
    state = core.initial_state(batch)
    interfaces = torch.randn(steps, batch, core.interface_size, dtype=torch.float64) * 2
    uncapped = link_k >= slots
    for t in range(steps):
        previous = [state.links.dense(b) for b in range(batch)]
        previous_reads = dense_weights(state.read_ids, state.read_weights, slots)             # [B, R, N]
        reads, state, _ = core.step(interfaces[t], state)
        write_ids, write_weights = spy.writes[-1]
        forward_ids, forward_weights, backward_ids, backward_weights = spy.follows[-1]
        for b in range(batch):
            forward_before, backward_before, precedence_before = previous[b]
            write = dense_weights(write_ids[b], write_weights[b], slots)
            forward, backward, precedence = state.links.dense(b)
            expected_forward = forward_formula(forward_before, precedence_before, write)
            expected_precedence = (1 - write.sum()).clamp_min(0) * precedence_before + write
            if uncapped:
                # the paper's two recursions, each on its own previous matrix
                assert torch.allclose(forward, expected_forward, atol=1e-12), f"N, step {t}"
                assert torch.allclose(backward, backward_formula(backward_before, precedence_before, write),
                                      atol=1e-12), f"P, step {t}"
            else:
                # rows of N first, then rows of P (= columns of N) among the survivors
                expected_forward = cap(cap(expected_forward, link_k, dim=1), link_k, dim=0)
                expected_precedence = top_dense(expected_precedence, link_k)
                assert torch.allclose(forward, expected_forward, atol=1e-12), f"capped N, step {t}"
                assert ((forward > 0).sum(1) <= link_k).all() and ((backward > 0).sum(1) <= link_k).all()
                assert (precedence > 0).sum() <= link_k
            assert torch.equal(backward, forward.T), f"P_t = N_tᵀ, step {t}"
            assert torch.allclose(precedence, expected_precedence, atol=1e-12), f"p, step {t}"
            assert torch.diagonal(forward).abs().sum() == 0
            # reads along the links: f = N_t w^r_{t−1}, b = P_t w^r_{t−1}, K_L largest entries per head
            f = dense_weights(forward_ids[b], forward_weights[b], slots)
            back = dense_weights(backward_ids[b], backward_weights[b], slots)
            assert torch.allclose(f, top_dense(previous_reads[b] @ forward.T, link_k), atol=1e-12), f"f, step {t}"
            assert torch.allclose(back, top_dense(previous_reads[b] @ backward.T, link_k), atol=1e-12), f"b, step {t}"
        # the reads are the mixed weights times the memory after the write, over the union of ids
        read_weights = dense_weights(state.read_ids, state.read_weights, slots)              # [B, R, N]
        expected_reads = torch.bmm(read_weights, state.memory.buffer.to(torch.float64)).reshape(batch, -1)
        assert torch.allclose(reads, expected_reads, atol=1e-12)
    return state


# ---------------------------------------------------------------- building blocks

def test_coalesce_sums_repeated_ids_and_top_entries_keeps_the_largest():
    ids = np.array([[3, 1, 3, -1, 2, 1], [5, 5, 5, 0, -1, 4]])
    values = np.array([[0.1, 0.2, 0.3, 0.9, 0.0, 0.4], [1.0, 2.0, 3.0, 0.5, 0.7, 0.1]])
    unique, summed = coalesce(ids, values)
    # row 0: id −1 and the zero-valued id 2 are empty; 1 -> 0.6, 3 -> 0.4
    assert unique[0].tolist() == [1, 3, -1, -1, -1, -1] and np.allclose(summed[0], [0.6, 0.4, 0, 0, 0, 0])
    assert unique[1].tolist() == [0, 4, 5, -1, -1, -1] and np.allclose(summed[1], [0.5, 0.1, 6, 0, 0, 0])
    top_ids, top_values = top_entries(unique, summed, 2)
    assert top_ids.tolist() == [[1, 3], [5, 0]] and np.allclose(top_values, [[0.6, 0.4], [6, 0.5]])
    top_ids, _ = top_entries(unique, summed, 4)
    assert top_ids[0].tolist() == [1, 3, -1, -1]                 # fewer than k: padded with empty


def test_merge_entries_writes_each_slot_once_with_summed_weights_and_gradients():
    ids = torch.tensor([[4, 1, 4, 0, 1], [2, 2, 2, 2, 2]])
    weights = torch.tensor([[0.1, 0.2, 0.3, 0.0, 0.4], [0.1, 0.1, 0.1, 0.1, 0.1]], requires_grad=True)
    merged_ids, merged = merge_entries(ids, weights)
    assert merged_ids.tolist() == [[0, 1, 4], [2, 2, 2]]                    # short rows repeat a slot at weight 0
    assert torch.allclose(merged, torch.tensor([[0.0, 0.6, 0.4], [0.5, 0.0, 0.0]]))
    (merged * torch.tensor([[1.0, 2.0, 3.0], [5.0, 7.0, 7.0]])).sum().backward()
    assert weights.grad.tolist() == [[3.0, 2.0, 3.0, 1.0, 2.0], [5.0] * 5]   # each entry gets its slot's gradient


def write(links: SparseLinks, ids, weights):
    links.update(torch.tensor([ids]), torch.tensor([weights], dtype=torch.float64))


def follow(links: SparseLinks, ids, weights) -> tuple[dict, dict]:
    """-> ({slot: forward weight}, {slot: backward weight}) for one head reading ids with weights."""
    f_ids, f_w, b_ids, b_w = links.follow(torch.tensor([[ids]]), torch.tensor([[weights]], dtype=torch.float64))

    def as_dict(i, w):
        return {int(a): round(float(b), 12) for a, b in zip(i[0, 0], w[0, 0], strict=True) if a >= 0}

    return as_dict(f_ids, f_w), as_dict(b_ids, b_w)


def test_links_by_hand_values_decay_and_reads_in_both_directions():
    links = SparseLinks(1, 6, 4, torch.float64)
    write(links, [0], [0.5])                  # p = {0: .5}
    write(links, [1], [0.5])                  # N(1,0) = .5·.5;  p = .5·p + w = {0: .25, 1: .5}
    write(links, [2], [1.0])                  # N(2,0) = .25, N(2,1) = .5;  p = {2: 1}
    forward, backward, precedence = links.dense()
    expected = torch.zeros(6, 6, dtype=torch.float64)
    expected[1, 0], expected[2, 0], expected[2, 1] = 0.25, 0.25, 0.5
    assert torch.allclose(forward, expected) and torch.equal(backward, forward.T)
    assert precedence.tolist() == [0, 0, 1, 0, 0, 0]
    assert follow(links, [0], [1.0]) == ({1: 0.25, 2: 0.25}, {})            # after 0 came 1 and 2
    assert follow(links, [2], [1.0]) == ({}, {1: 0.5, 0: 0.25})             # before 2 came 1 and 0
    # two entries in one head: f = .5·N(·,1) + .5·N(·,0) = {2: .25 + .125, 1: .125}
    assert follow(links, [1, 0], [0.5, 0.5])[0] == {2: 0.375, 1: 0.125}
    # gradients reach the read weights (not the links): ∂Σf/∂w(i) = Σ_y N(y, i), ∂Σb/∂w(j) = Σ_x N(j, x)
    weights = torch.tensor([[[0.5, 0.5]]], dtype=torch.float64, requires_grad=True)
    _, f, _, b = links.follow(torch.tensor([[[1, 0]]]), weights)
    (f.sum() + 10 * b.sum()).backward()
    assert torch.allclose(weights.grad[0, 0], torch.tensor([0.5 + 10 * 0.25, 0.5 + 10 * 0.0], dtype=torch.float64))
    # rewriting slot 1 with weight 1: its row of N decays to zero and links to 2 (the precedence)
    write(links, [1], [1.0])
    forward, backward, _ = links.dense()
    expected[1, 0], expected[1, 2] = 0.0, 1.0
    assert torch.allclose(forward, expected) and torch.equal(backward, forward.T)
    assert follow(links, [0], [1.0]) == ({2: 0.25}, {})                      # 0 -> 1 is gone
    assert follow(links, [2], [1.0]) == ({1: 1.0}, {1: 0.5, 0: 0.25})
    assert follow(links, [1], [1.0]) == ({2: 0.5}, {2: 1.0})


def test_capped_rows_keep_their_largest_links_and_a_dropped_link_leaves_both_matrices():
    links = SparseLinks(1, 6, 2, torch.float64)                             # K_L = 2
    write(links, [0], [1.0])                                                # p = {0: 1}
    write(links, [1, 2, 3], [0.2, 0.3, 0.5])                               # three successors of 0
    forward, backward, precedence = links.dense()
    # P's row 0 keeps its 2 largest links (to 3 and 2); 0 -> 1 is dropped from N as well
    assert forward[:, 0].tolist() == [0, 0, 0.3, 0.5, 0, 0] and torch.equal(backward, forward.T)
    assert precedence.tolist() == [0, 0, 0.3, 0.5, 0, 0]                    # p capped at its 2 largest
    assert follow(links, [0], [1.0])[0] == {3: 0.5, 2: 0.3}
    assert follow(links, [1], [1.0])[1] == {}
    write(links, [4], [1.0])                  # N(4, ·) = p = {3: .5, 2: .3};  p = {4: 1}
    write(links, [5], [0.5])                  # N(5, 4) = .5;  p = {4: .5, 5: .5}
    write(links, [3], [0.6])                  # row 3: {0: .5·.4 = .2} + {4: .3, 5: .3} -> keeps 4 and 5
    forward, backward, _ = links.dense()
    assert forward[3].tolist() == [0, 0, 0, 0, 0.3, 0.3] and torch.equal(backward, forward.T)
    assert follow(links, [0], [1.0])[0] == {2: 0.3}                         # 0 -> 3 is gone
    assert follow(links, [4], [1.0])[0] == {5: 0.5, 3: 0.3}
    assert ((forward > 0).sum(1) <= 2).all() and ((backward > 0).sum(1) <= 2).all()


# ---------------------------------------------------------------- the core against the dense formulas

def test_uncapped_sparse_links_equal_the_dense_formulas(monkeypatch):
    """K_L ≥ N and the exact index: N_t, P_t, p_t, f and b equal docs/PAPER_NOTES.md's formulas (float64)."""
    run_against_dense_reference(monkeypatch, slots=8, link_k=8, steps=30)


def test_capped_links_keep_the_largest_entries(monkeypatch):
    """Small K_L: every row of N and P and the precedence hold at most K_L entries, the largest."""
    state = run_against_dense_reference(monkeypatch, slots=24, link_k=3, steps=40)
    forward, _, _ = state.links.dense(0)
    assert (forward > 0).sum() > 24                                          # the caps were exercised


def interface_for(core: SDNCMemory, word=None, write_gate=-BIG, interpolation=-BIG, query=None,
                  strength=BIG, modes=(-BIG, BIG, -BIG)) -> torch.Tensor:
    """One head: [query W, strength, read modes (b, c, f)] + [word W, write gate, interpolation gate]."""
    w = core.word_size
    query = torch.zeros(w) if query is None else query
    word = torch.zeros(w) if word is None else word
    return torch.cat([query, torch.tensor([strength, *modes]), word,
                      torch.tensor([write_gate, interpolation])]).unsqueeze(0)


def test_core_reads_forward_and_backward_along_the_order_of_writes():
    core = SDNCMemory(slots=16, word_size=4, heads=1, k=2, index="exact", link_k=4)
    state = core.initial_state(1)
    words = torch.eye(4)[:3] * 2
    written = []
    for t in range(3):            # α = 1, γ = 0: each word goes to the least recently used slot
        _, state, step = core.step(interface_for(core, word=words[t], write_gate=BIG, query=words[t]), state,
                                   details=True)
        written.append(record_step(core, step)["least_used"])
    first, second, third = written
    assert len(set(written)) == 3
    backward_mode, content_mode, forward_mode = (BIG, -BIG, -BIG), (-BIG, BIG, -BIG), (-BIG, -BIG, BIG)

    def read(**kwargs):
        nonlocal state
        reads, state, step = core.step(interface_for(core, **kwargs), state, details=True)
        record = record_step(core, step)
        union = record["read_weights"][0]
        return reads[0], union["ids"][int(np.argmax(union["values"]))], max(union["values"]), record

    reads, slot, weight, _ = read(query=words[0], modes=content_mode)
    assert slot == first and weight > 0.99 and torch.allclose(reads, words[0], atol=1e-3)
    reads, slot, weight, record = read(modes=forward_mode)
    assert slot == second and weight > 0.99 and torch.allclose(reads, words[1], atol=1e-3)
    forward = record["links"][0]["forward"]
    assert forward["ids"][int(np.argmax(forward["values"]))] == second
    assert record["read_modes"][0][2] > 0.999                              # [backward, content, forward]
    reads, slot, weight, _ = read(modes=forward_mode)
    assert slot == third and weight > 0.99 and torch.allclose(reads, words[2], atol=1e-3)
    reads, slot, weight, record = read(modes=backward_mode)
    assert slot == second and weight > 0.99 and torch.allclose(reads, words[1], atol=1e-3)
    backward = record["links"][0]["backward"]
    assert backward["ids"][int(np.argmax(backward["values"]))] == second


def test_gradient_reaches_every_parameter_and_every_interface_output_and_memory_rolls_back():
    model = samviz.build_model("sdnc", memory_slots=16, word_size=6, heads=2, k=3, link_k=4, controller_size=16,
                               seed=0)
    holder = {}
    original = model.core.initial_state

    def capture(batch_size):
        state = original(batch_size)
        holder["state"] = state
        holder["initial"] = state.memory.buffer.clone()
        return state

    model.core.initial_state = capture
    x = torch.rand(8, 2, 9, generator=torch.Generator().manual_seed(0))
    model(x).pow(2).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    # queries, strengths, read modes, word, write and interpolation gates all influence the loss
    per_output = model.interface.weight.grad.abs().sum(1)
    assert (per_output > 0).all(), (per_output == 0).nonzero().flatten().tolist()
    assert torch.equal(holder["state"].memory.buffer, holder["initial"]), "backward did not roll the memory back"


def test_trace_has_sam_and_sdnc_keys():
    model = samviz.build_model("sdnc", memory_slots=32, word_size=4, heads=2, k=2, link_k=3, controller_size=16,
                               seed=0)
    trace = model.trace(torch.rand(6, 1, 9, generator=torch.Generator().manual_seed(1)))
    for step in trace.steps:
        assert {"read_weights", "write_weights", "rows_written", "reads", "gates", "usage", "least_used",
                "neighbours", "index", "read_modes", "links", "precedence"} <= set(step)
        for h in range(2):
            assert abs(sum(step["read_modes"][h]) - 1) < 1e-5
            assert len(step["neighbours"][h]["found"]) == 2
            # the exact index's neighbours are the exact top-K (by the index's cosine, as the trace ranks)
            assert step["neighbours"][h]["recall"] == 1.0, (step["neighbours"][h])
            for direction in ("forward", "backward"):
                assert len(step["links"][h][direction]["ids"]) <= 3
            ids = step["read_weights"][h]["ids"]
            assert len(ids) == len(set(ids)) <= 2 + 2 * 3                  # K + 2·K_L distinct slots at most
            # w^r = π_b b + π_c c + π_f f with c summing to 1
            backward_mode, content_mode, forward_mode = step["read_modes"][h]
            expected = (content_mode + forward_mode * sum(step["links"][h]["forward"]["values"])
                        + backward_mode * sum(step["links"][h]["backward"]["values"]))
            assert abs(sum(step["read_weights"][h]["values"]) - expected) < 1e-5
        assert len(step["precedence"]["ids"]) <= 3
        assert len(step["write_weights"]["ids"]) == len(step["rows_written"]["ids"])


# ---------------------------------------------------------------- stability and cost

def test_links_stay_finite_and_bounded_over_ten_thousand_steps():
    """10,000 steps of the SDNC's own state (links, precedence, reads along the links) under extreme
    writes: weights of exactly 1 and 0, tiny ones, repeated slots. (The full core: next test; SAM's
    memory, index and usage over 10,000 steps: tests/test_sam.py.)"""
    generator = torch.Generator().manual_seed(0)
    links = SparseLinks(2, 16, 2)
    steps, m = 10_000, 7
    ids = torch.randint(0, 16, (steps, 2, m), generator=generator)
    raw = torch.rand(steps, 2, m, generator=generator)
    scale = torch.tensor([1.0, 0.0, 1e-30, 0.5])[torch.randint(0, 4, (steps, 2, 1), generator=generator)]
    weights = (raw / raw.sum(-1, keepdim=True) * scale).float()
    weights[::97, :, 0], weights[::97, :, 1:] = 1.0, 0.0                      # now and then one full write
    read_ids = torch.randint(0, 16, (steps, 2, 1, 6), generator=generator)
    read_weights = torch.softmax(torch.randn(steps, 2, 1, 6, generator=generator) * 5, -1)
    for t in range(steps):
        links.update(ids[t], weights[t])
        _, f, _, b = links.follow(read_ids[t], read_weights[t])
        if t % 1000 == 999:
            assert torch.isfinite(f).all() and torch.isfinite(b).all() and f.sum(-1).max() <= 1 + 1e-5
            assert np.isfinite(links.forward_values).all() and np.isfinite(links.precedence_values).all()
            for batch in range(2):
                forward, backward, precedence = links.dense(batch)
                assert forward.min() >= 0 and forward.max() <= 1 and 0 <= precedence.sum() <= 1 + 1e-5
                assert torch.equal(backward, forward.T) and torch.diagonal(forward).abs().sum() == 0
                assert ((forward > 0).sum(1) <= 2).all() and ((forward > 0).sum(0) <= 2).all()


def test_no_nan_or_inf_in_the_core_over_two_thousand_steps():
    """The full core on random interfaces spanning the controller's whole ±20 range."""
    core = SDNCMemory(slots=16, word_size=8, heads=1, k=2, index="exact", link_k=2)
    state = core.initial_state(1)
    interfaces = (torch.randn(2000, 1, core.interface_size, generator=torch.Generator().manual_seed(0)) * 8)
    interfaces = interfaces.clamp(-20, 20)
    reads = []
    with torch.no_grad():
        for t in range(2000):
            step_reads, state, _ = core.step(interfaces[t], state)
            reads.append(step_reads)
    assert torch.isfinite(torch.stack(reads)).all()
    assert torch.isfinite(state.read_weights).all() and torch.isfinite(state.memory.buffer).all()
    forward, backward, precedence = state.links.dense(0)
    assert forward.min() >= 0 and forward.max() <= 1 and precedence.sum() <= 1 + 1e-5
    assert torch.equal(backward, forward.T)


class _StubIndex:
    """Random neighbours: keeps the O(N) exact search out of a probe of the SDNC's own per-step work."""

    def __init__(self, slots):
        self.slots, self.generator = slots, torch.Generator().manual_seed(0)

    def update(self, *args):
        pass

    def search(self, queries, k):
        return torch.randint(0, self.slots, (*queries.shape[:-1], k), generator=self.generator)


def probe_steps(slots: int, steps: int = 20) -> tuple[int, int]:
    """Run an SDNC model at `slots` (stub index) -> (largest torch tensor a step creates, in elements;
    peak of numpy/Python allocations during as many further steps, in bytes). Then backward."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LargestNewTensor(TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            inputs = {a.untyped_storage().data_ptr() for a in tree_leaves((args, kwargs))
                      if isinstance(a, torch.Tensor)}
            for tensor in tree_leaves(out):          # new storage only: in-place writes return their input
                if isinstance(tensor, torch.Tensor) and tensor.untyped_storage().data_ptr() not in inputs:
                    LargestNewTensor.largest = max(LargestNewTensor.largest, tensor.numel())
            return out

    torch.manual_seed(0)
    model = samviz.build_model("sdnc", memory_slots=slots, word_size=8, heads=2, k=4, link_k=8, controller_size=16)
    core = model.core
    state = core.initial_state(1)                 # O(N) set-up, once per episode, outside the probes
    state.memory.index = _StubIndex(slots)
    tables = state.links.tables()
    hidden, cell = torch.zeros(1, 16), torch.zeros(1, 16)
    reads = torch.zeros(1, core.read_size)
    x = torch.rand(2 * steps, 1, 9)

    def run(times):
        nonlocal hidden, cell, reads, state
        for _ in range(times):
            hidden, cell = model.controller(torch.cat([x[state.time], reads], -1), (hidden, cell))
            reads, state, _ = core.step(model.interface(hidden), state)

    with LargestNewTensor():                      # torch: the largest tensor a step creates
        run(steps)
    tracemalloc.start()                           # numpy and Python: the peak of what steps allocate
    baseline = tracemalloc.get_traced_memory()[0]
    run(steps)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    reads.sum().backward()
    assert model.interface.weight.grad.abs().sum() > 0
    assert all(a is b for a, b in zip(state.links.tables(), tables, strict=True)), "link tables were reallocated"
    assert state.links.forward_ids.shape == (1, slots + 1, 8)
    return LargestNewTensor.largest, peak


def test_per_step_work_is_independent_of_the_number_of_slots():
    """From N = 2^10 to 2^18 the allocations of a step do not grow: no torch tensor and no numpy array
    anywhere near N elements is created, and the link tables allocated with the episode stay in use."""
    small_tensor, small_peak = probe_steps(1 << 10)
    slots = 1 << 18
    large_tensor, large_peak = probe_steps(slots)
    # the largest is SAM's O(m²) access check over the m = 2·R·(K + 2·K_L) + 1 ids of a step
    assert large_tensor == small_tensor and large_tensor < slots // 16, (small_tensor, large_tensor)
    # what grows over the steps is the O(T) journal (autograd nodes, saved link weights), not O(N):
    # the same at both sizes, and far below one of the O(N) link tables (4·K_L bytes per slot)
    assert large_peak < 1.25 * small_peak + 32 * 1024, (small_peak, large_peak)
    assert large_peak < 4 * 8 * slots / 16, large_peak


@pytest.mark.parametrize("options", [{"key_strength": "fixed"}, {"key_strength": "softplus"},
                                     {"access_threshold": 0.3}, {"accesses": "writes"}])
def test_the_sdnc_takes_sams_read_and_usage_options(options):
    """The SDNC's content read and usage are SAM's: the ablation's options reach its core and change the run
    (their equations are checked against SAM's dense reference in test_sam.py)."""
    def build(**extra):
        torch.manual_seed(0)
        # 8 slots for 20 steps: the least recently used slot is chosen among accessed ones, where what
        # counts as an access matters
        return samviz.build_model("sdnc", memory_slots=8, word_size=6, heads=2, k=3, link_k=4, controller_size=16,
                                  initial_rows="jittered", **extra)
    default, changed = build(), build(**options)
    for name, value in options.items():
        assert getattr(changed.core, name) == value
    x = torch.rand(20, 3, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (default(x) - changed(x)).abs().max() > 1e-6
