"""The learning study's statistics (docs/LEARNING_STUDY.md, "Statistics"): time to target with censoring, the
log-error area, bootstrap intervals, exact permutation tests, Holm's adjustment and the verdict words.

Plain Python and numpy, no torch: the app and the export use it. Every function here is fixed by the protocol;
change one and the study's results change, so each is tested on hand-computed cases (tests/test_learning_study.py).

    curve = [(0, 52.1), (500, 40.0), ..., (30000, 0.0)]      # a run's marks, carried forward to its budget
    time, reached = updates_to_target(curve, target=0.5)     # censored at the budget when never reached
    kaplan_meier([9000, 30000], [True, False])               # [(9000, 0.5)]: fraction not yet reached
    permutation_p([1, 2], [3, 4])                            # 1/3: exact, two-sided
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
import math

import numpy as np

LOG_OFFSET = 0.01           # log10(errors + this): a perfect mark stays finite (one wrong bit in 640 episodes: 0.0016)
RESAMPLES = 10_000          # bootstrap resamples
BOOTSTRAP_SEED = 2027       # numpy.random.default_rng(BOOTSTRAP_SEED), fresh for every interval
CONFIDENCE = 0.95
ALPHA = 0.05                # a (Holm-adjusted) p below this is a detected difference
MAX_PERMUTATIONS = 2_000_000  # splits enumerated by an exact test (C(20, 10) = 184,756; the study needs 12,870)
TIE_TOLERANCE = 1e-9        # |difference| within this (relative) of the observed one counts as "as extreme"


# ------------------------------------------------------------------------------------------ per run
def updates_to_target(curve: Sequence[tuple[int, float]], target: float) -> tuple[int, bool]:
    """(the first mark at or below `target`, True), or (the last mark — the budget —, False) when there is none:
    the run is censored there. `curve` is (updates, bit errors) in increasing updates."""
    if not curve:
        raise ValueError("a run without marks has no time to target")
    for step, errors in curve:
        if errors <= target:
            return int(step), True
    return int(curve[-1][0]), False


def mean_log_error(curve: Sequence[tuple[int, float]], budget: int, offset: float = LOG_OFFSET) -> float:
    """The area under log10(errors + offset) against updates from the first mark to `budget` (trapezoids),
    divided by the span: the mean log error over the budget. The curve must reach `budget` (carry a finished
    run's last value forward first)."""
    if len(curve) < 2 or curve[-1][0] != budget or budget <= curve[0][0]:
        raise ValueError(f"the curve must run from its first mark to the budget {budget} (got {len(curve)} marks "
                         f"ending at {curve[-1][0] if curve else None})")
    area = 0.0
    for (x0, y0), (x1, y1) in zip(curve, curve[1:], strict=False):
        if x1 <= x0:
            raise ValueError("marks must increase")
        area += (x1 - x0) * (math.log10(y0 + offset) + math.log10(y1 + offset)) / 2
    return area / (budget - curve[0][0])


# ------------------------------------------------------------------------------------------ across runs
def kaplan_meier(times: Sequence[float], reached: Sequence[bool]) -> list[tuple[float, float]]:
    """The Kaplan-Meier estimate of the fraction of runs that have NOT reached the target, as (time, fraction
    just after it) at each time a run reached it. A run censored at time c is at risk up to and including c
    (censored runs tied with an event still count at that event, the usual convention)."""
    if len(times) != len(reached):
        raise ValueError("times and reached must be as long as each other")
    surviving, steps = 1.0, []
    for time in sorted({t for t, r in zip(times, reached, strict=True) if r}):
        at_risk = sum(t >= time for t in times)
        events = sum(t == time and r for t, r in zip(times, reached, strict=True))
        surviving *= 1 - events / at_risk
        steps.append((time, surviving))
    return steps


def km_median(times: Sequence[float], reached: Sequence[bool]) -> float | None:
    """The first time at which the Kaplan-Meier fraction reached is at least one half; None when it never is
    (the median is "not reached within the budget")."""
    return next((time for time, surviving in kaplan_meier(times, reached) if surviving <= 0.5 + 1e-12), None)


def restricted_mean(times: Sequence[float], reached: Sequence[bool], horizon: float) -> float:
    """The area under the Kaplan-Meier curve (fraction not yet reached) from 0 to `horizon`: the mean time to
    target restricted to the horizon. When every censored run is followed to the horizon, it is the mean of
    min(time, horizon)."""
    area, previous, surviving = 0.0, 0.0, 1.0
    for time, after in kaplan_meier(times, reached):
        if time >= horizon:
            break
        area += surviving * (time - previous)
        previous, surviving = time, after
    return area + surviving * (horizon - previous)


# ------------------------------------------------------------------------------------------ intervals
def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile as an order statistic (numpy's "inverted_cdf": no interpolation), so a bound that falls on
    an infinite value (a resample whose median was not reached) is infinite, not NaN."""
    ordered = sorted(values)
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[index]


def bootstrap_interval(samples: Sequence, statistic: Callable[[list], float | None],
                       resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile bootstrap interval of `statistic` (a function of a list of samples; None counts as +inf):
    `resamples` resamples of the samples with replacement, from numpy.random.default_rng(seed)."""
    if not samples:
        raise ValueError("no samples to resample")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(samples), size=(resamples, len(samples)))
    values = [_finite_or_inf(statistic([samples[i] for i in row])) for row in picks]
    tail = (1 - confidence) / 2
    return quantile(values, tail), quantile(values, 1 - tail)


def bootstrap_mean_interval(samples: Sequence[float], resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED,
                            confidence: float = CONFIDENCE) -> tuple[float, float]:
    """bootstrap_interval(samples, mean) computed in one numpy step: the same resamples from the same generator,
    so the same interval, at a cost a page can pay on every render (10,000 resamples of 64 values: ~5 ms)."""
    if not len(samples):
        raise ValueError("no samples to resample")
    values = np.asarray(samples, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    means = [float(m) for m in values[picks].sum(axis=1) / len(values)]
    tail = (1 - confidence) / 2
    return quantile(means, tail), quantile(means, 1 - tail)


def bootstrap_difference(a: Sequence, b: Sequence, statistic: Callable[[list], float | None],
                         resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED,
                         confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile bootstrap interval of statistic(a) − statistic(b), each group resampled on its own (one
    generator, a's draws first). An infinite statistic makes the difference ±inf (or NaN, dropped: both inf)."""
    if not a or not b:
        raise ValueError("no samples to resample")
    rng = np.random.default_rng(seed)
    picks_a = rng.integers(0, len(a), size=(resamples, len(a)))
    picks_b = rng.integers(0, len(b), size=(resamples, len(b)))
    values = []
    for row_a, row_b in zip(picks_a, picks_b, strict=True):
        value = _finite_or_inf(statistic([a[i] for i in row_a])) - _finite_or_inf(statistic([b[i] for i in row_b]))
        if not math.isnan(value):
            values.append(value)
    tail = (1 - confidence) / 2
    return quantile(values, tail), quantile(values, 1 - tail)


def _finite_or_inf(value: float | None) -> float:
    return math.inf if value is None else float(value)


# ------------------------------------------------------------------------------------------ tests
def permutation_p(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """The exact permutation p of the difference in means mean(a) − mean(b): every split of the pooled values
    into groups of len(a) and len(b) is enumerated; p = the fraction whose difference is at least as extreme as
    the observed one (|d| ≥ |d_obs| two-sided; d ≥ d_obs for "greater", d ≤ d_obs for "less")."""
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative {alternative!r}")
    if not a or not b:
        raise ValueError("both groups need at least one value")
    pooled = [float(x) for x in (*a, *b)]
    n, total = len(a), sum(pooled)
    if math.comb(len(pooled), n) > MAX_PERMUTATIONS:
        raise ValueError(f"{math.comb(len(pooled), n):,} splits: too many to enumerate exactly")

    def difference(first_sum: float) -> float:
        return first_sum / n - (total - first_sum) / len(b)

    observed = difference(sum(pooled[:n]))
    tolerance = TIE_TOLERANCE * max(1.0, max(abs(x) for x in pooled))
    extreme = count = 0
    for chosen in combinations(range(len(pooled)), n):
        d = difference(sum(pooled[i] for i in chosen))
        count += 1
        if alternative == "two-sided":
            extreme += abs(d) >= abs(observed) - tolerance
        elif alternative == "greater":
            extreme += d >= observed - tolerance
        else:
            extreme += d <= observed + tolerance
    return extreme / count


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (same order as given), each capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# ------------------------------------------------------------------------------------------ verdicts
FASTER, SLOWER, NO_DIFFERENCE = "faster", "slower", "no difference detected"


def comparison_verdict(difference: float, p_adjusted: float, alpha: float = ALPHA) -> str:
    """For `difference` = the other model's mean minus the reference's (updates to target, or log error): the
    reference is FASTER (lower) when p < alpha and the difference is positive, SLOWER when negative, and
    otherwise NO_DIFFERENCE — which says the data do not separate them, not that they are equal."""
    if p_adjusted < alpha and difference > 0:
        return FASTER
    if p_adjusted < alpha and difference < 0:
        return SLOWER
    return NO_DIFFERENCE


def faster_claim(verdicts: Sequence[str]) -> str:
    """The paper's "SAM reaches its asymptotic error faster" against several dense models, from the verdicts
    against each: contradicted if slower than any; supported if faster than all; in part if faster than some;
    otherwise not supported (no difference detected)."""
    if not verdicts:
        raise ValueError("no comparisons")
    if SLOWER in verdicts:
        return "contradicted"
    if all(v == FASTER for v in verdicts):
        return "supported"
    if FASTER in verdicts:
        return "supported in part"
    return "not supported"


def comparable_claim(verdicts: Sequence[str]) -> str:
    """The paper's "SAM trains comparably" (copy): consistent when no difference is detected against any dense
    model; otherwise SAM was found faster or slower than one."""
    if not verdicts:
        raise ValueError("no comparisons")
    if all(v == NO_DIFFERENCE for v in verdicts):
        return "consistent (no difference detected)"
    if SLOWER in verdicts:
        return "not consistent: SAM slower"
    return "not consistent: SAM faster"
