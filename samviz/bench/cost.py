"""What one memory step computes, counted (no clock), and where a dense and a sparse time curve cross.

Pure functions, torch-free: the Compare page, the Scaling lab, the benchmark's memory estimate
(runner.estimate_bytes) and their tests all read these formulas, here and nowhere else.

step_cost(kind, slots, word_size, heads, ...) -> per step and per batch element:
    rows_touched     memory rows the step's arithmetic reads or writes (N for a dense kind)
    rows_scored      rows whose similarity to a query is computed: N per query for a dense head or an exact
                     scan; None for the faiss index (a fixed search budget that this module does not count)
    multiply_adds    multiply-adds on memory rows, each row operation counted as W of them:
                       scoring a row against a key (a dot product), reading a row into a weighted sum,
                       erasing or adding to a row; plus the DNC's N×N link arithmetic and the SDNC's sparse
                       links. Per-slot scalar work (softmax, sharpening, usage, the index's own search) is not
                       counted: it is the N·W terms that make a dense step grow with N.
    backprop_bytes   bytes autograd keeps for backward, per step: for a dense kind the benchmark's fitted
                     bytes per slot (DENSE_STEP_BYTES below, measured), plus the DNC's N×N link copies; for a
                     sparse kind the journal of the rows it writes (old row, float32, + its int64 id), the
                     rows it gathers for its reads, and the SDNC's journalled link rows.

Counted per kind (R read heads, K neighbours, K_L links per row, W word size, N slots):
    NTM   R + 1 heads score N rows (the write head addresses by content too), R heads read N rows, erase and
          add touch N rows:                          W·N·(2R + 3)
    DAM   R heads score and read N rows, the write adds to N rows (its erase hits one row):  W·N·(2R + 1)
    DNC   as the NTM, plus the links: the update of the N×N link matrix (2 per entry) and a forward and a
          backward weighting per read head (N² each):  W·N·(2R + 3) + N²·(2R + 2)
    SAM   each read head scores and reads its K rows (the fused sparse read), erase and add touch the
          K·R + 1 written rows:                       W·(2·K·R + 2·(K·R + 1)), plus W·N·R for an exact scan
    SDNC  reads K + 2·K_L rows per head (content, forward and backward links), writes R·(K + 2·K_L) + 1 rows,
          and updates K_L link entries (× 2: forward and backward) for each written row

kept_for_backprop(kind, slots, ..., steps, batch) -> the same bytes over T steps and a batch, with their parts
    (for a dense kind: how many N×W copies of the memory that is; for a sparse kind: the journal and the gathered
    rows). "Kept for backprop" is this model of what autograd holds; the benchmark's "measured overhead"
    (peak_mib) is a process's peak memory above its initialised state, which also holds temporaries, Python
    objects and the allocator's slack — for SAM, whose journal is a few KB per step, mostly those.

crossover(points) -> where a dense/sparse time ratio crosses 1, interpolated on log N between the two
measured sizes around the crossing (log-linear in the log of the ratio), or why there is none in the range.
extrapolate(points, n) -> a power-law fit through the largest measured sizes, evaluated at n (an estimate).
"""
from __future__ import annotations

from dataclasses import dataclass
import math

from samviz.kinds import KINDS, spec

# Training overhead of the dense cores, in bytes per (time step × batch element × slot), as
# a·W + b·(R + 1) + c for word size W and R read heads (+1 write head). Fitted on the benchmark machine from
# measured peak_mib at N = 8192, B = 2, T = 8 with (W, R) in {(32, 4), (64, 4), (32, 1), (16, 8)}
# (samviz.bench.measure, VmHWM method): the NTM keeps ~2.2 copies of the N×W memory per step plus ~6
# [B, R+1, N] weight tensors per head pass; DAM ~1.4 copies plus ~3 weight tensors.
DENSE_STEP_BYTES = {          # model: (a per W, b per head, c)
    "ntm": (8.8, 23.0, 126.0),
    "dam": (5.5, 13.0, 44.0),
    "dnc": (8.8, 23.0, 126.0),   # the N×W part; DNC's links are counted separately below
}
# DNC: the N×N temporal link matrix. Each step builds a new [B, N, N] link out of place and keeps it (and a
# few [B, N, N] intermediates) for backward: measured 2.3–2.4 link copies per step at N = 512, 1024 (B = 2, T = 5).
DENSE_LINK_COPIES_PER_STEP = {"dnc": 3.0}      # kinds with an N×N link matrix: copies kept per step
FLOAT_BYTES, ID_BYTES = 4, 8
# The SDNC keeps forward and backward sparse links: K_L float32 values + int64 ids per row, each direction.
SPARSE_LINK_BYTES_PER_ROW_PER_LINK = 2 * (FLOAT_BYTES + ID_BYTES)
MAX_COST_SLOTS = 1 << 30      # bounds of the formulas' inputs (far above anything the app or the bench runs)
MAX_COST_FIELD = 1 << 16


def _check(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}] (got {value!r})")
    return value


def dense_step_bytes(kind: str, slots: int, word_size: int, heads: int) -> int:
    """Bytes a dense kind keeps for backward per step and batch element (the benchmark's fitted estimate)."""
    a, per_head, c = DENSE_STEP_BYTES[kind]
    kept = slots * (a * word_size + per_head * (heads + 1) + c)
    if kind in DENSE_LINK_COPIES_PER_STEP:
        kept += DENSE_LINK_COPIES_PER_STEP[kind] * slots * slots * FLOAT_BYTES
    return int(kept)


def journal_bytes(rows: int, word_size: int) -> int:
    """Bytes of `rows` rows copied for backward: float32 values + an int64 id each."""
    return rows * (word_size * FLOAT_BYTES + ID_BYTES)


@dataclass(frozen=True)
class StepCost:
    kind: str
    slots: int
    rows_touched: int
    rows_scored: int | None       # None: the faiss index's fixed budget, not counted here
    multiply_adds: int
    backprop_bytes: int
    estimated_bytes: bool         # True when backprop_bytes comes from the fitted (measured) dense constants


def step_cost(kind: str, slots: int, word_size: int, heads: int, k: int = 4, index: str | None = None,
              link_k: int = 8) -> StepCost:
    """One step of `kind` with N = slots, per batch element (see the module docstring for every term)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose from {', '.join(KINDS)}")
    n = _check("slots", slots, 1, MAX_COST_SLOTS)
    w = _check("word_size", word_size, 1, MAX_COST_FIELD)
    r = _check("heads", heads, 1, MAX_COST_FIELD)
    if not spec(kind).sparse:
        madds = {"ntm": w * n * (2 * r + 3), "dam": w * n * (2 * r + 1),
                 "dnc": w * n * (2 * r + 3) + n * n * (2 * r + 2)}[kind]
        return StepCost(kind, n, n, n, madds, dense_step_bytes(kind, n, w, r), True)
    k = _check("k", k, 1, MAX_COST_FIELD)
    if index not in ("exact", "faiss"):
        raise ValueError(f"a sparse kind needs index 'exact' or 'faiss' (got {index!r})")
    links = spec(kind).temporal_links
    link_k = _check("link_k", link_k, 1, MAX_COST_FIELD) if links else 0
    read_per_head = k + 2 * link_k
    written = r * read_per_head + 1
    touched = min(n, r * read_per_head + written)
    madds = w * (2 * r * read_per_head + 2 * written)
    kept = journal_bytes(written, w) + journal_bytes(r * read_per_head, w)
    if links:
        madds += 2 * written * link_k + 2 * r * k * link_k
        kept += written * link_k * SPARSE_LINK_BYTES_PER_ROW_PER_LINK
    scored = None
    if index == "exact":
        madds += w * n * r
        scored = n
    return StepCost(kind, n, touched, scored, madds, kept, False)


@dataclass(frozen=True)
class KeptForBackprop:
    """What `kind` keeps for backward over `steps` steps and `batch` episodes (the cost model, not a measurement).

    per_step: bytes per step and batch element (StepCost.backprop_bytes); memory_copy: one N×W float32 copy of the
    memory; copies_per_step: for a dense kind, how many such copies per_step holds (the fitted per-W term: the
    memory itself and tensors of its shape), the rest being weight vectors over the N slots (and the DNC's links);
    journal, gathered: for a sparse kind, the journal of its written rows and the rows its reads gathered."""
    kind: str
    slots: int
    steps: int
    batch: int
    per_step: int
    memory_copy: int
    copies_per_step: float
    journal: int
    gathered: int
    fitted: bool

    @property
    def total(self) -> int:
        return self.per_step * self.steps * self.batch


def kept_for_backprop(kind: str, slots: int, word_size: int, heads: int, k: int = 4, index: str | None = "faiss",
                      link_k: int = 8, steps: int = 1, batch: int = 1) -> KeptForBackprop:
    """step_cost's backprop bytes over `steps` steps and `batch` episodes, with their parts (KeptForBackprop)."""
    steps = _check("steps", steps, 1, MAX_COST_SLOTS)
    batch = _check("batch", batch, 1, MAX_COST_FIELD)
    sparse = spec(kind).sparse if kind in KINDS else False
    step = step_cost(kind, slots, word_size, heads, k=k, index=index if sparse else None, link_k=link_k)
    copy = slots * word_size * FLOAT_BYTES
    if not sparse:
        return KeptForBackprop(kind, slots, steps, batch, step.backprop_bytes, copy,
                               DENSE_STEP_BYTES[kind][0] / FLOAT_BYTES, 0, 0, True)
    read_per_head = k + (2 * link_k if spec(kind).temporal_links else 0)
    written = heads * read_per_head + 1
    return KeptForBackprop(kind, slots, steps, batch, step.backprop_bytes, copy, 0.0,
                           journal_bytes(written, word_size), journal_bytes(heads * read_per_head, word_size), False)


# ---------------------------------------------------------------------------------------------- crossover
@dataclass(frozen=True)
class Crossover:
    """Where dense ms ÷ sparse ms crosses 1 over the measured sizes.

    status: "crosses" (n is the interpolated size, between `below` and `above`, the measured sizes around it),
            "sparse_faster" (ratio > 1 at every measured size), "dense_faster" (ratio < 1 at every size),
            "none" (fewer than 2 sizes measured for both). low/high: the measured range.
    """
    status: str
    n: float | None = None
    below: int | None = None
    above: int | None = None
    low: int | None = None
    high: int | None = None
    points: int = 0
    against: tuple = ()           # measured sizes below the crossing (or, for "dense_faster", anywhere) where the
                                  # sparse model was already faster: noise, or curves that run close


def crossover(points) -> Crossover:
    """points: (N, dense ms, sparse ms) at each size both were measured (any order; non-positive or non-finite
    times are dropped). The sparse model overtakes after the LAST measured size at which dense ÷ sparse ≤ 1, if a
    larger size was measured: from there on it is faster at every measured size. N is interpolated linearly on
    log N against log(ratio) between that size and the next:
        log N* = log N₁ + (log N₂ − log N₁) · (0 − log ρ₁) / (log ρ₂ − log ρ₁)
    (N* = N₁ when ρ₁ = 1). Smaller sizes where the sparse model was already faster (noise, or curves that run
    close together) are listed in `against`. Status "dense_faster": the dense model is faster at the largest
    measured size (and `against` lists the sizes where it was not)."""
    clean = {}
    for n, dense, sparse in points:
        if n and dense and sparse and n > 0 and dense > 0 and sparse > 0 \
                and all(math.isfinite(v) for v in (n, dense, sparse)):
            clean[int(n)] = math.log(dense / sparse)
    sizes = sorted(clean)
    if len(sizes) < 2:
        return Crossover("none", points=len(sizes),
                         low=sizes[0] if sizes else None, high=sizes[-1] if sizes else None)
    low, high = sizes[0], sizes[-1]
    behind = [n for n in sizes if clean[n] <= 0]
    if not behind:
        return Crossover("sparse_faster", low=low, high=high, points=len(sizes))
    if behind[-1] == high:
        return Crossover("dense_faster", low=low, high=high, points=len(sizes),
                         against=tuple(n for n in sizes if clean[n] > 0))
    a = behind[-1]
    b = sizes[sizes.index(a) + 1]
    ra, rb = clean[a], clean[b]
    la, lb = math.log(a), math.log(b)
    n = math.exp(la + (lb - la) * (0 - ra) / (rb - ra))
    return Crossover("crosses", n, a, b, low, high, len(sizes), tuple(x for x in sizes if x < a and clean[x] > 0))


def power_text(n: int) -> str:
    """2^k for a power of two, else the number with thousands separators."""
    return f"2^{n.bit_length() - 1}" if n > 0 and n & (n - 1) == 0 else f"{n:,}"


def crossover_sentence(result: Crossover, dense: str, sparse: str) -> str:
    """One sentence, every number in it from `result`."""
    if result.status == "none":
        return (f"Not enough measured sizes to place a crossover between {dense} and {sparse} "
                f"({result.points} size(s) measured for both).")
    span = f"{power_text(result.low)}..{power_text(result.high)}"
    if result.status == "sparse_faster":
        return (f"No crossover within the measured range {span}: {sparse} is faster than {dense} at every measured "
                "size, so the curves cross below it.")
    sizes = ", ".join(f"{n:,}" for n in result.against)
    if result.status == "dense_faster":
        if not result.against:
            return (f"No crossover within the measured range {span}: {dense} is faster than {sparse} at every "
                    "measured size, so the curves cross above it, if at all.")
        return (f"No lasting crossover within the measured range {span}: {dense} is faster than {sparse} at the "
                f"largest measured size, {result.high:,} ({sparse} was faster at N = {sizes}: the curves run close "
                "and the timings are noisy).")
    text = (f"{sparse} overtakes {dense} at N ≈ {round(result.n):,}, between the measured sizes "
            f"{result.below:,} and {result.above:,}, and is faster at every larger measured size (interpolated on "
            f"log N; measured over {span}).")
    if result.against:
        text += (f" It was also faster at the smaller N = {sizes}: the curves run close there and the timings "
                 "are noisy.")
    return text


# ---------------------------------------------------------------------------------------------- extrapolation
def extrapolate(points, n: int, fit_points: int = 3) -> dict:
    """An ESTIMATE of the time at size n from measured (N, ms) points: the least-squares line of log ms
    against log N through the `fit_points` largest measured sizes, evaluated at n.
    -> {"ms", "slope", "from_slots": [sizes used]}. Raises ValueError with fewer than 2 usable sizes."""
    clean = sorted({int(x): float(y) for x, y in points if x and y and x > 0 and y > 0 and math.isfinite(y)}.items())
    if fit_points < 2:
        raise ValueError("fit_points must be at least 2")
    used = clean[-fit_points:]
    if len(used) < 2:
        raise ValueError("at least 2 measured sizes are needed to extrapolate")
    xs = [math.log(x) for x, _ in used]
    ys = [math.log(y) for _, y in used]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    ms = math.exp(my + slope * (math.log(n) - mx))
    return {"ms": ms, "slope": slope, "from_slots": [x for x, _ in used]}
