"""Statistics of an EpisodeTrace: pure functions over its per-step records (no plotly, no Streamlit, no torch).

What the figures draw and the narration says is computed here, once: the weights of a step as {slot: weight}
maps, wrong bits, how focused a head is (effective number of slots, "mostly" / "evenly" / "spread"), the
slots written above WEIGHT_THRESHOLD, rows touched, the usage the least-used slot was chosen from, the
least-used slot's age, the slots worth drawing and the colour ranges of an episode. A trace follows
samviz/trace/schema.py (batch element 0); its numeric lists may be compact arrays (samviz/app/trace_cache.py):
everything here only iterates, indexes and takes len() of them.
"""
from __future__ import annotations

from dataclasses import dataclass
import heapq
import math
import weakref

import numpy as np

from samviz.kinds import KINDS

WEIGHT_THRESHOLD = 0.01      # a slot counts as written (marked, counted in a sentence) when its weight exceeds this
MOSTLY = 0.5                 # a head reads or writes "mostly" slot s when s holds at least this share of its weight
EVENLY = 0.9                 # ... "evenly" when its effective number of slots is at least this share of the slots
                             # holding weight (and there are at least two)
BIT_THRESHOLD = 0.5          # an output bit is 1 when p(bit = 1) > this (the same as logit > 0, samviz.tasks)


# ------------------------------------------------------------------------------------------ the trace and its kind

def steps_count(trace) -> int:
    return len(trace.steps)


def clamp_step(trace, step: int) -> int:
    return max(0, min(int(step), steps_count(trace) - 1))


def is_sparse(trace) -> bool:
    """Whether the trace's model reads and writes K rows found by an index (kinds.py; unknown kinds: dense)."""
    kind = KINDS.get(trace.model)
    return bool(kind and kind.sparse)


def usage_smaller_is_older(trace) -> bool:
    """True when the least-used slot has the smallest usage value (DAM, DNC); False for SAM-style ages."""
    kind = KINDS.get(trace.model)
    return True if kind is None else kind.usage_smaller_is_older


def usage_meaning(trace) -> str:
    kind = KINDS.get(trace.model)
    return (kind.usage_meaning if kind else None) or "usage"


def memory_slots(trace) -> int:
    return int(trace.config.get("memory_slots", 0))



# ------------------------------------------------------------------------------------------ weights

def weight_map(record: dict | None) -> dict[int, float]:
    """A {"ids", "values"} record as {slot: weight}; a slot listed twice gets the sum of its entries."""
    if not record:
        return {}
    ids, values = record.get("ids", []), record.get("values", [])
    if len(ids) != len(values):
        raise ValueError(f"weights record: {len(ids)} ids but {len(values)} values")
    out = dict(zip(map(int, ids), map(float, values), strict=True))
    if len(out) < len(ids):                  # a slot listed twice: the sum of its entries
        out = {}
        for slot, value in zip(map(int, ids), map(float, values), strict=True):
            out[slot] = out.get(slot, 0.0) + value
    return out


def read_maps(step_record: dict) -> list[dict[int, float]]:
    return [weight_map(head) for head in step_record.get("read_weights") or []]


def write_map(step_record: dict) -> dict[int, float]:
    return weight_map(step_record.get("write_weights"))


def read_heads(trace) -> int:
    return max((len(s.get("read_weights") or []) for s in trace.steps), default=0)


def top_slots(weights: dict[int, float], count: int = 3) -> list[tuple[int, float]]:
    """The `count` heaviest (slot, weight) pairs, heaviest first (ties: lower slot first)."""
    if len(weights) <= 64:
        return heapq.nsmallest(count, weights.items(), key=lambda kv: (-kv[1], kv[0]))
    slots = np.fromiter(weights.keys(), dtype=np.int64, count=len(weights))
    values = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    order = np.lexsort((slots, -values))[:count]          # by weight descending, then slot ascending
    return [(int(slots[i]), float(values[i])) for i in order]


def above(weights: dict[int, float], threshold: float = WEIGHT_THRESHOLD) -> list[int]:
    """The slots whose weight exceeds the threshold, in slot order."""
    if len(weights) <= 64:
        return sorted(s for s, v in weights.items() if v > threshold)
    slots = np.fromiter(weights.keys(), dtype=np.int64, count=len(weights))
    values = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    return sorted(slots[values > threshold].tolist())


def effective_slots(weights: dict[int, float]) -> float:
    """exp(entropy) of the weights normalised to sum to 1: how many slots the weight is spread over.

    One slot holding everything -> 1; n slots with equal weight -> n; a dense head that is nearly uniform over
    N slots -> close to N. 0 when no slot has positive weight. It cannot read backwards: spreading weight over
    more slots always raises it (unlike counting slots above a threshold, which a diffuse head fails).
    """
    w = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    w = w[w > 0]
    total = w.sum()
    if total <= 0:
        return 0.0
    p = w / total
    return float(math.exp(-(p * np.log(p)).sum()))


@dataclass(frozen=True)
class Focus:
    """How a head's weight is distributed, in the words the narration uses (from `focus`)."""
    word: str            # "mostly" | "evenly" | "spread" | "none"
    slot: int | None     # the heaviest slot (lowest id on ties)
    weight: float        # its weight
    share: float         # its share of the head's total weight
    effective: float     # effective_slots
    support: int         # slots with positive weight
    total: float = 0.0   # the sum of the positive weights


def focus(weights: dict[int, float]) -> Focus:
    """'evenly' when the effective number of slots is ≥ EVENLY × the slots holding weight (at least two),
    else 'mostly' when the heaviest slot holds ≥ MOSTLY of the weight, else 'spread'."""
    values = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    positive = values[values > 0]
    support = int(positive.size)
    total = float(positive.sum())
    if total <= 0:
        return Focus("none", None, 0.0, 0.0, 0.0, 0)
    slot, weight = top_slots(weights, 1)[0]
    effective = effective_slots(weights)
    share = weight / total
    if support >= 2 and effective >= EVENLY * support:
        word = "evenly"
    elif share >= MOSTLY:
        word = "mostly"
    else:
        word = "spread"
    return Focus(word, slot, float(weight), float(share), effective, support, total)


def written_slots(step_record: dict, threshold: float = WEIGHT_THRESHOLD) -> list[int]:
    """The slots this step wrote with weight > threshold: the ones marked "written" and counted in sentences."""
    return above(write_map(step_record), threshold)


def panel_records(trace) -> list[list[dict | None]]:
    """Per panel (read heads, then write), the {"ids", "values"} record of every step."""
    heads = read_heads(trace)
    panels = []
    for h in range(heads):
        panels.append([(s.get("read_weights") or [])[h] if h < len(s.get("read_weights") or []) else None
                       for s in trace.steps])
    panels.append([s.get("write_weights") for s in trace.steps])
    return panels


def ids_values(record: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """A {"ids", "values"} record -> (int64 [n], float64 [n])."""
    if not record:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.asarray(record.get("ids", []), dtype=np.int64), np.asarray(record.get("values", []), dtype=float)


def episode_slots(trace, max_rows: int, per_step: int = 4) -> tuple[list[int], int]:
    """The slots the weights-over-time view draws, the same rows at every step -> (sorted slot ids, number of slots
    that hold weight at some step or were some step's least-used slot).

    All of them when they fit in `max_rows`. Otherwise, first the slots that matter at each step (each panel's
    `per_step` heaviest and the least-used slot), then the most weighted at any step, until `max_rows`.
    """
    ids, values = [], []
    for panel in panel_records(trace):
        for record in panel:
            i, v = ids_values(record)
            ids.append(i)
            values.append(v)
    least = [int(s["least_used"]) for s in trace.steps if s.get("least_used") is not None]
    ids.append(np.asarray(least, dtype=np.int64))
    values.append(np.zeros(len(least)))
    ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    values = np.concatenate(values) if values else np.zeros(0)
    unique, inverse = np.unique(ids, return_inverse=True)
    total = len(unique)
    if total <= max_rows:
        return unique.tolist(), total
    peak = np.full(total, -np.inf)
    np.maximum.at(peak, inverse, values)
    wanted: dict[int, None] = {}
    for record in trace.steps:
        for weights in [*read_maps(record), write_map(record)]:
            wanted.update((s, None) for s, _ in top_slots(weights, per_step))
        if record.get("least_used") is not None:
            wanted[int(record["least_used"])] = None
    chosen = set(list(wanted)[:max_rows])
    for index in np.argsort(-peak, kind="stable"):
        if len(chosen) >= max_rows:
            break
        chosen.add(int(unique[index]))
    return sorted(chosen), total


def attention_spread(trace) -> list[float]:
    """Per step: the effective number of slots read (effective_slots), averaged over the read heads."""
    out = []
    for record in trace.steps:
        counts = [effective_slots(h) for h in read_maps(record)]
        out.append(float(np.mean(counts)) if counts else 0.0)
    return out


def read_entropy(trace) -> list[float]:
    """Per step: entropy (nats) of the read weights, averaged over heads (0 = one slot, log N = uniform)."""
    out = []
    for record in trace.steps:
        values = []
        for head in read_maps(record):
            w = np.array([v for v in head.values() if v > 0], dtype=float)
            total = w.sum()
            if total <= 0:
                values.append(0.0)
                continue
            p = w / total
            values.append(float(-(p * np.log(p)).sum()))
        out.append(float(np.mean(values)) if values else 0.0)
    return out


def touched_sets(record: dict) -> tuple[list[int], list[int]]:
    """A sparse step's (rows read, rows written), each sorted and each slot once: the rows its read heads gathered
    (every head's K, or the SDNC's union) and the rows its write addressed and journalled, whatever their weight
    (write_weights' ids and rows_written's ids: the same slots for sparse kinds)."""
    read = set()
    for head in read_maps(record):
        read |= set(head)
    written = set(write_map(record)) | {int(i) for i in (record.get("rows_written") or {}).get("ids", [])}
    return sorted(read), sorted(written)


def rows_touched(trace) -> list[int]:
    """Per step: memory rows the step's computation reads or writes.

    Dense models (NTM, DAM, DNC) weight every row in the read sum and in the erase/add: N rows.
    Sparse models (SAM, SDNC) touch only the rows their records name: the union of touched_sets.
    """
    if not is_sparse(trace):
        return [memory_slots(trace)] * steps_count(trace)
    out = []
    for record in trace.steps:
        read, written = touched_sets(record)
        out.append(len(set(read) | set(written)))
    return out


def neighbour_match(neighbours: dict, tie: float) -> dict:
    """One head's neighbour record -> how its recall is made up: {"hits": found slots in the exact top K, "ties":
    found slots outside it whose cosine ties the exact K-th within `tie` (recall counts them as found), "missed":
    exact slots the index did not return, in the exact list's order, "k"}. hits + ties (at most K) over K is the
    recorded recall."""
    found = [int(i) for i in neighbours.get("found", [])]
    exact = [int(i) for i in neighbours.get("exact", [])]
    similarity = [float(v) for v in neighbours.get("found_similarity", [])]
    exact_similarity = [float(v) for v in neighbours.get("exact_similarity", [])]
    kth = min(exact_similarity) if exact_similarity else float("-inf")
    hits = [s for s in found if s in exact]
    ties = [s for s, v in zip(found, similarity, strict=False) if s not in exact and v >= kth - tie]
    return {"hits": hits, "ties": ties, "missed": [s for s in exact if s not in found], "k": len(exact)}


def least_used_age(trace, step: int) -> int | None:
    """Steps since the least-used slot of `step` was last accessed, counted before this step's accesses, as the
    core recorded it ("least_used_age"; SAM/SDNC). A value > step means "never accessed". None when not recorded.
    """
    age = trace.steps[step].get("least_used_age")
    return None if age is None else int(age)


def _usage_record(record: dict | None) -> dict[int, float] | list | None:
    """A step's recorded usage: the whole [N] vector, or (a trace that keeps only some slots' usage) its
    {"ids", "values"} entries as {slot: value}; None when the step has none."""
    usage = (record or {}).get("usage")
    if usage is None:
        return None
    if isinstance(usage, dict):
        return weight_map(usage)
    return usage if len(usage) else None


def usage_values(trace, step: int, slots) -> dict[int, float] | None:
    """The usage the step's write chose its least-used slot from, at `slots` only: {slot: value} for each of them
    the trace recorded; None when the trace has no usage for this step. Reads only the slots asked for, whether
    the trace kept the whole vector or some slots' entries.

    DNC ("before this step's write") and SAM/SDNC (ages counted before this step's accesses) record exactly that.
    DAM records its usage AFTER the step (its kind's usage_meaning says "after this step"), and its least-used slot
    is argmin U_{t−1}: the previous step's record, or the initial usage (zeros) at step 0.
    """
    record = trace.steps[step]
    if _usage_record(record) is None:
        return None
    if "after this step" in usage_meaning(trace):          # DAM: the previous step's, zeros before step 0
        if step == 0:
            return {int(s): 0.0 for s in slots}
        record = trace.steps[step - 1]
    usage = _usage_record(record)
    if usage is None:
        return None
    if isinstance(usage, dict):
        found = {int(s): usage[int(s)] for s in slots if int(s) in usage}
    else:
        found = {int(s): usage[int(s)] for s in slots if 0 <= int(s) < len(usage)}
    # a slot the trace did not keep (None, or NaN) is left out, never drawn as a number
    return {s: float(v) for s, v in found.items() if v is not None and math.isfinite(float(v))}


# ------------------------------------------------------------------------------------------ colour ranges
# One colour scale per episode: computed over every step, so a colour means the same value at every step.

_RANGES: dict[int, tuple[weakref.ref, dict]] = {}


def _episode_cache(trace) -> dict:
    entry = _RANGES.get(id(trace))
    if entry is None or entry[0]() is not trace:
        for key in [k for k, (ref, _) in _RANGES.items() if ref() is None]:
            del _RANGES[key]
        entry = (weakref.ref(trace), {})
        _RANGES[id(trace)] = entry
    return entry[1]


def weight_range(trace) -> float:
    """The largest read or write weight of the episode (at least 1e-6): the top of every weights colour scale."""
    cache = _episode_cache(trace)
    if "weights" not in cache:
        top = 0.0
        for panel in panel_records(trace):
            for record in panel:
                _, values = ids_values(record)
                if len(values):
                    top = max(top, float(values.max()))
        cache["weights"] = max(top, 1e-6)
    return cache["weights"]


def memory_range(trace) -> float:
    """The largest |value| of the episode's memory contents (whole memory, rows before and after each write, read
    vectors): the ± end of every memory colour scale (at least 1e-6)."""
    cache = _episode_cache(trace)
    if "memory" not in cache:
        top = 0.0
        for record in trace.steps:
            written = record.get("rows_written") or {}
            for rows in (record.get("memory"), written.get("before"), written.get("after"), record.get("reads")):
                if rows is not None and len(rows):
                    top = max(top, float(np.abs(np.asarray(rows, dtype=float)).max()))
        cache["memory"] = max(top, 1e-6)
    return cache["memory"]


# ------------------------------------------------------------------------------------------ bits

def wrong_bits_of(outputs, targets, mask=None) -> np.ndarray:
    """The one definition of a wrong bit, torch-free: outputs p [T, O], targets [T, O], mask [T] or None ->
    bool [T, O], True on scored steps (mask > 0) where (p > 0.5) differs from (target > 0.5).

    samviz.tasks.wrong_bits is the tensor version over logits (logit > 0 ⇔ p > 0.5); a test checks that
    both agree on the same episode.
    """
    outputs = np.asarray(outputs, dtype=float)
    targets = np.asarray(targets, dtype=float)
    scored = np.ones(len(outputs)) if mask is None else np.asarray(mask, dtype=float)
    return ((outputs > BIT_THRESHOLD) != (targets > BIT_THRESHOLD)) & (scored[:, None] > 0)


def wrong_bits(trace) -> np.ndarray:
    """bool [T, O]: the trace's wrong output bits; all False for a trace without targets (typed input)."""
    if trace.targets is None:
        return np.zeros(np.asarray(trace.outputs, dtype=float).shape, dtype=bool)
    return wrong_bits_of(trace.outputs, trace.targets, trace.mask)


def bit_errors_per_step(trace) -> np.ndarray:
    """int [T]: wrong bits at each step (zero outside the scored steps)."""
    return wrong_bits(trace).sum(axis=1)


def answer_steps(trace) -> list[int]:
    if trace.mask is None:
        return []
    return [t for t, m in enumerate(trace.mask) if m > 0]
