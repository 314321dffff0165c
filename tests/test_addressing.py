"""Hand-computed cases for the NTM addressing equations (samviz/memory/addressing.py)."""
import math

import pytest
import torch

from samviz.memory import addressing


def test_content_weights_cosine_with_strength():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])          # [1, 3, 2]
    key = torch.tensor([[[1.0, 0.0]]])                                      # [1, 1, 2]
    strength = torch.tensor([[2.0]])
    # cosines: 1, 0, 1/√2 -> softmax(2·cos)
    logits = torch.tensor([2.0, 0.0, 2 / math.sqrt(2)])
    expected = torch.exp(logits) / torch.exp(logits).sum()
    got = addressing.content_weights(key, memory, strength)[0, 0]
    assert torch.allclose(got, expected, atol=1e-5)


def test_cosine_of_zero_row_is_zero_not_nan():
    memory = torch.zeros(1, 2, 3)
    key = torch.ones(1, 1, 3)
    assert torch.equal(addressing.cosine_similarity(key, memory), torch.zeros(1, 1, 2))


def test_interpolation():
    content = torch.tensor([[[0.0, 1.0, 0.0]]])
    previous = torch.tensor([[[1.0, 0.0, 0.0]]])
    got = addressing.interpolate(content, previous, torch.tensor([[0.25]]))
    assert torch.allclose(got, torch.tensor([[[0.75, 0.25, 0.0]]]))


def test_circular_shift_wraps_around_both_ends():
    weights = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])          # all on slot 0
    forward = torch.tensor([[[0.0, 0.0, 1.0]]])               # shift +1
    backward = torch.tensor([[[1.0, 0.0, 0.0]]])              # shift −1
    assert torch.equal(addressing.circular_shift(weights, forward), torch.tensor([[[0.0, 1.0, 0.0, 0.0]]]))
    # −1 from slot 0 wraps to the last slot
    assert torch.equal(addressing.circular_shift(weights, backward), torch.tensor([[[0.0, 0.0, 0.0, 1.0]]]))
    last = torch.tensor([[[0.0, 0.0, 0.0, 1.0]]])
    # +1 from the last slot wraps to slot 0
    assert torch.equal(addressing.circular_shift(last, forward), torch.tensor([[[1.0, 0.0, 0.0, 0.0]]]))
    mixed = torch.tensor([[[0.5, 0.25, 0.25]]])               # s(−1)=.5, s(0)=.25, s(+1)=.25
    got = addressing.circular_shift(torch.tensor([[[0.0, 1.0, 0.0, 0.0]]]), mixed)
    assert torch.allclose(got, torch.tensor([[[0.5, 0.25, 0.25, 0.0]]]))


def test_sharpening():
    weights = torch.tensor([[[0.5, 0.25, 0.25]]])
    got = addressing.sharpen(weights, torch.tensor([[2.0]]))
    expected = torch.tensor([0.25, 0.0625, 0.0625]) / 0.375
    assert torch.allclose(got[0, 0], expected, atol=1e-5)


def test_erase_and_add_on_a_3x4_memory():
    memory = torch.tensor([[[1.0, 2.0, 3.0, 4.0],
                            [5.0, 6.0, 7.0, 8.0],
                            [9.0, 10.0, 11.0, 12.0]]])
    weights = torch.tensor([[1.0, 0.5, 0.0]])
    erase = torch.tensor([[1.0, 0.0, 0.5, 1.0]])
    add = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    expected = torch.tensor([[[0.0 + 10, 2.0 + 20, 1.5 + 30, 0.0 + 40],
                              [2.5 + 5, 6.0 + 10, 5.25 + 15, 4.0 + 20],
                              [9.0, 10.0, 11.0, 12.0]]])
    assert torch.allclose(addressing.erase_and_add(memory, weights, erase, add), expected)


def test_sparse_read_weights_softmax_over_k():
    similarity = torch.tensor([[[1.0, 0.5, 0.0]]])
    got = addressing.sparse_read_weights(similarity, torch.tensor([[3.0]]))
    expected = torch.softmax(torch.tensor([3.0, 1.5, 0.0]), 0)
    assert torch.allclose(got[0, 0], expected)


@pytest.mark.parametrize("key_strength", addressing.KEY_STRENGTHS)
def test_fused_sparse_read_equals_the_composition_values_and_gradients(key_strength):
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(3, 2, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    strength_raw = torch.randn(3, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    rows = torch.randn(3, 2, 4, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    torch.autograd.gradcheck(lambda q, s, m: addressing.sparse_read(q, s, m, key_strength), (query, strength_raw, rows))
    with torch.no_grad():
        rows[0, 0, 1] = 0          # a zero row (|m| not differentiable there): same subgradient, no NaN

    weights, reads = addressing.sparse_read(query, strength_raw, rows, key_strength)
    composed_weights = addressing.sparse_read_weights(addressing.cosine_similarity_rows(query, rows),
                                                      addressing.strength(strength_raw, key_strength))
    composed_reads = (composed_weights.unsqueeze(-1) * rows).sum(2)
    assert torch.allclose(weights, composed_weights) and torch.allclose(reads, composed_reads)
    upstream_w, upstream_r = torch.randn_like(weights), torch.randn_like(reads)
    fused = torch.autograd.grad((weights * upstream_w).sum() + (reads * upstream_r).sum(), (query, strength_raw, rows))
    composed = torch.autograd.grad((composed_weights * upstream_w).sum() + (composed_reads * upstream_r).sum(),
                                   (query, strength_raw, rows), allow_unused=True)
    for a, b in zip(fused, composed, strict=True):
        b = torch.zeros_like(a) if b is None else b        # "fixed": β does not depend on the raw value
        assert torch.isfinite(a).all() and torch.allclose(a, b, atol=1e-10)
    assert (fused[1].abs().max() == 0) == (key_strength == "fixed")


def test_key_strength_forms_by_hand():
    """β at raw = 0 and raw = 2: 1 + ln(1 + e^raw), ln(1 + e^raw), and 1 whatever raw is."""
    raw = torch.tensor([0.0, 2.0], dtype=torch.float64)
    softplus = torch.tensor([math.log(2.0), math.log(1 + math.exp(2.0))], dtype=torch.float64)
    assert torch.allclose(addressing.strength(raw), 1 + softplus)                       # the default
    assert torch.allclose(addressing.strength(raw, "one_plus_softplus"), 1 + softplus)
    assert torch.allclose(addressing.strength(raw, "softplus"), softplus)
    assert torch.equal(addressing.strength(raw, "fixed"), torch.ones(2, dtype=torch.float64))
    # the read with β fixed at 1 is softmax_k(cos): cosines 1, 0 (orthogonal), −1 give e, 1, 1/e over their sum
    query = torch.tensor([[[1.0, 0.0]]])
    rows = torch.tensor([[[[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]]]])
    weights, _ = addressing.sparse_read(query, torch.tensor([[5.0]]), rows, "fixed")
    expected = torch.tensor([math.e, 1.0, 1 / math.e]) / (math.e + 1 + 1 / math.e)
    assert torch.allclose(weights[0, 0], expected, atol=1e-6)
    with pytest.raises(ValueError, match="unknown key strength 'linear'"):
        addressing.sparse_read(query, torch.tensor([[5.0]]), rows, "linear")
