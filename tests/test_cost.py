"""samviz.bench.cost: per-step counts and the crossover, against hand-computed small cases."""
import math

import pytest

from samviz.bench import cost
from samviz.bench.runner import BenchConfig, estimate_bytes


def test_ntm_step_cost_by_hand():
    c = cost.step_cost("ntm", 10, word_size=2, heads=1)
    assert c.rows_touched == 10 and c.rows_scored == 10
    assert c.multiply_adds == 2 * 10 * (2 * 1 + 3) == 100      # W·N·(2R + 3)
    assert c.backprop_bytes == int(10 * (8.8 * 2 + 23.0 * 2 + 126.0)) == 1896
    assert c.estimated_bytes


def test_dam_step_cost_by_hand():
    c = cost.step_cost("dam", 10, word_size=2, heads=1)
    assert c.multiply_adds == 60                                # 2·10·(2 + 1)
    assert c.backprop_bytes == 810                              # 10·(5.5·2 + 13·2 + 44)


def test_dnc_adds_its_links():
    c = cost.step_cost("dnc", 4, word_size=2, heads=1)
    assert c.multiply_adds == 2 * 4 * 5 + 4 * 4 * 4 == 104      # W·N·(2R+3) + N²·(2R+2)
    assert c.backprop_bytes == int(4 * (8.8 * 2 + 23 * 2 + 126) + 3 * 16 * 4) == 950


def test_sam_step_cost_by_hand():
    faiss = cost.step_cost("sam", 100, word_size=2, heads=1, k=4, index="faiss")
    assert faiss.rows_touched == 9                              # K·R read + K·R + 1 written
    assert faiss.rows_scored is None                            # the index's budget is not counted
    assert faiss.multiply_adds == 2 * (2 * 4 + 2 * 5) == 36
    assert faiss.backprop_bytes == 5 * (2 * 4 + 8) + 4 * (2 * 4 + 8) == 144
    assert not faiss.estimated_bytes
    exact = cost.step_cost("sam", 100, word_size=2, heads=1, k=4, index="exact")
    assert exact.rows_scored == 100 and exact.multiply_adds == 36 + 2 * 100
    assert exact.backprop_bytes == faiss.backprop_bytes


def test_sdnc_step_cost_by_hand():
    c = cost.step_cost("sdnc", 100, word_size=2, heads=1, k=4, index="faiss", link_k=8)
    assert c.rows_touched == 20 + 21                            # K + 2·K_L read, R·(K + 2·K_L) + 1 written
    assert c.multiply_adds == 2 * (2 * 20 + 2 * 21) + 2 * 21 * 8 + 2 * 1 * 4 * 8 == 564
    assert c.backprop_bytes == 21 * 16 + 20 * 16 + 21 * 8 * 24 == 4688


def test_sparse_cost_is_flat_and_dense_cost_linear_in_n():
    small, big = (cost.step_cost("sam", n, 20, 2, index="faiss") for n in (1 << 10, 1 << 20))
    assert (small.multiply_adds, small.backprop_bytes, small.rows_touched) == \
           (big.multiply_adds, big.backprop_bytes, big.rows_touched)
    d_small, d_big = (cost.step_cost("ntm", n, 20, 1) for n in (1 << 10, 1 << 20))
    assert d_big.multiply_adds == 1024 * d_small.multiply_adds


def test_touched_rows_never_exceed_n():
    assert cost.step_cost("sam", 5, 2, 2, k=4, index="faiss").rows_touched == 5


@pytest.mark.parametrize("args, message", [
    (("ntm", 0, 2, 1), "slots"), (("ntm", 10, 2, 0), "heads"), (("ntm", 10.5, 2, 1), "slots"),
    (("lstm", 10, 2, 1), "unknown model kind"), (("sam", 10, 2, 1), "index"), (("ntm", True, 2, 1), "slots"),
    (("ntm", cost.MAX_COST_SLOTS + 1, 2, 1), "slots"),
])
def test_step_cost_refuses_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        cost.step_cost(*args)


def test_benchmark_estimate_uses_the_same_dense_bytes():
    config = BenchConfig(model="ntm", slots=1024, batch=2, heads=4, word_size=32, steps=3).validate()
    per_step = cost.step_cost("ntm", 1024, 32, 4).backprop_bytes
    assert estimate_bytes(config)["overhead"] == 3 * 2 * per_step


def test_crossover_symmetric_case():
    result = cost.crossover([(100, 1.0, 2.0), (10_000, 4.0, 2.0)])   # ratio 1/2 then 2: midway on log N
    assert result.status == "crosses" and result.below == 100 and result.above == 10_000
    assert result.n == pytest.approx(1000.0)


def test_crossover_asymmetric_case_by_hand():
    # log ratios −ln 4 and +ln 2: the crossing is 2/3 of the way from log 10 to log 1000 -> 10^(7/3)
    result = cost.crossover([(1000, 2.0, 1.0), (10, 1.0, 4.0)])       # any order
    assert result.n == pytest.approx(10 ** (7 / 3))
    assert (result.low, result.high, result.points) == (10, 1000, 2)


def test_crossover_at_a_measured_size_and_the_last_of_several():
    assert cost.crossover([(10, 1.0, 2.0), (20, 2.0, 2.0), (40, 4.0, 2.0)]).n == pytest.approx(20)
    noisy = cost.crossover([(10, 1.0, 2.0), (20, 4.0, 2.0), (40, 1.0, 2.0), (80, 8.0, 2.0)])
    assert (noisy.below, noisy.above, noisy.against) == (40, 80, (20,))     # from 80 on, the sparse model stays ahead


def test_no_crossover_in_range():
    faster = cost.crossover([(32, 3.0, 1.0), (1024, 30.0, 1.0)])
    assert faster.status == "sparse_faster" and faster.n is None and (faster.low, faster.high) == (32, 1024)
    assert "2^5..2^10" in cost.crossover_sentence(faster, "NTM", "SAM")
    slower = cost.crossover([(32, 1.0, 3.0), (1024, 1.0, 2.0)])
    assert slower.status == "dense_faster"
    assert "No crossover within the measured range 2^5..2^10" in cost.crossover_sentence(slower, "NTM", "SAM")


def test_crossover_drops_unusable_points():
    assert cost.crossover([]).status == "none"
    assert cost.crossover([(64, 1.0, 2.0), (128, None, 1.0), (256, 0.0, 1.0), (512, math.nan, 1.0)]).status == "none"


def test_crossover_sentence_numbers_come_from_the_result():
    result = cost.crossover([(100, 1.0, 2.0), (10_000, 4.0, 2.0)])
    text = cost.crossover_sentence(result, "NTM", "SAM (faiss)")
    assert "N ≈ 1,000" in text and "100 and 10,000" in text and "100..10,000" in text


def test_extrapolate_power_law_by_hand():
    estimate = cost.extrapolate([(10, 1.0), (100, 10.0), (1000, 100.0), (1, 50.0)], 10_000)
    assert estimate["ms"] == pytest.approx(1000.0) and estimate["slope"] == pytest.approx(1.0)
    assert estimate["from_slots"] == [10, 100, 1000]     # the three largest sizes
    with pytest.raises(ValueError, match="at least 2"):
        cost.extrapolate([(10, 1.0)], 100)


def test_crossover_names_the_sizes_that_disagree():
    result = cost.crossover([(32, 3.0, 2.0), (64, 1.0, 2.0), (128, 4.0, 2.0), (256, 1.0, 2.0), (512, 8.0, 2.0)])
    assert (result.below, result.above, result.against) == (256, 512, (32, 128))
    assert "also faster at the smaller N = 32, 128" in cost.crossover_sentence(result, "NTM", "SAM")
    clean = cost.crossover([(32, 1.0, 2.0), (64, 4.0, 2.0)])
    assert clean.against == () and "also faster" not in cost.crossover_sentence(clean, "NTM", "SAM")
    behind = cost.crossover([(32, 3.0, 2.0), (64, 1.0, 2.0)])
    assert behind.status == "dense_faster" and behind.against == (32,)
    assert "No lasting crossover within the measured range 2^5..2^6" in cost.crossover_sentence(behind, "NTM", "SAM")


def test_kept_for_backprop_by_hand_and_in_step_with_step_cost():
    ntm = cost.kept_for_backprop("ntm", 1 << 16, 32, 4, steps=10, batch=8)
    per_slot = 8.8 * 32 + 23.0 * 5 + 126.0                        # a·W + b·(R + 1) + c = 522.6 bytes
    assert ntm.per_step == int((1 << 16) * per_slot) == cost.step_cost("ntm", 1 << 16, 32, 4).backprop_bytes
    assert ntm.total == 10 * 8 * ntm.per_step
    assert ntm.memory_copy == (1 << 16) * 32 * 4 and ntm.copies_per_step == pytest.approx(2.2)
    assert ntm.fitted and ntm.journal == ntm.gathered == 0
    sam = cost.kept_for_backprop("sam", 1 << 16, 32, 4, k=4, steps=10, batch=8)
    assert sam.journal == 17 * (32 * 4 + 8) and sam.gathered == 16 * (32 * 4 + 8)    # K·R + 1 written, K·R read
    step = cost.step_cost("sam", 1 << 16, 32, 4, index="faiss")
    assert sam.per_step == sam.journal + sam.gathered == step.backprop_bytes
    assert not sam.fitted and sam.copies_per_step == 0
    assert cost.kept_for_backprop("sam", 1 << 20, 32, 4).per_step == sam.per_step        # flat in N
    with pytest.raises(ValueError, match="steps"):
        cost.kept_for_backprop("ntm", 64, 32, 4, steps=0)
