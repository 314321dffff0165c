"""Recorders: one per kind of step result, turning a core's step tensors into one JSON step of the trace.

A recorder is called right after its step (MemoryModel.run(observe=...)), while a sparse memory's buffer
still holds that step's state, and reads batch element 0. Keys, shapes and meanings: schema.py; the
size limits it applies are defined there too. Work here may be O(N) (exact neighbours, whole usage and
memory copies): traces are for the app, never for training.
"""
from __future__ import annotations

import numpy as np
import torch

from ..memory import addressing
from ..memory.dam import DAMStep
from ..memory.dnc import ALLOCATION_EPSILON, DNCStep
from ..memory.index import cosine_scores
from ..memory.index_parts import TIE
from ..memory.links import coalesce
from ..memory.ntm import NTMStep
from ..memory.sam import SAMStep
from ..memory.sdnc import SDNCStep
from .schema import (
    DENSE_WEIGHTS_LIMIT,
    DENSE_WEIGHTS_TOP,
    LINKS_TOP,
    MEMORY_CELLS_LIMIT,
    ROWS_WRITTEN_DENSE,
    SPARSE_USAGE_LIMIT,
)


def entries(ids: torch.Tensor, values: torch.Tensor) -> dict:
    """ids [n], values [n] -> {"ids": [...], "values": [...]}."""
    return {"ids": ids.detach().reshape(-1).tolist(), "values": values.detach().reshape(-1).tolist()}


def dense_entries(weights: torch.Tensor, keep: int | None = None) -> dict:
    """A dense weighting [N] as entries: every slot in order, or only its `keep` largest, largest first."""
    weights = weights.detach()
    if keep is not None and keep < weights.numel():
        values, ids = torch.topk(weights, keep)
        return entries(ids, values)
    return entries(torch.arange(weights.numel()), weights)


def largest_entries(weights: torch.Tensor, keep: int) -> dict:
    """The `keep` largest entries of a weighting [N], largest first (keep ≤ N)."""
    values, ids = torch.topk(weights.detach(), keep)
    return entries(ids, values)


def coalesced_entries(ids, values) -> dict:
    """Entries with repeated ids summed and empty ones (−1 or weight 0) dropped, in slot order (SDNC)."""
    ids, values = coalesce(np.asarray(ids), values.detach().numpy() if torch.is_tensor(values) else values)
    kept = ids >= 0
    return {"ids": ids[kept].tolist(), "values": values[kept].tolist()}


def _rows_written_dense(write_weights: torch.Tensor, before: torch.Tensor, after: torch.Tensor, slots: int) -> dict:
    written = torch.topk(write_weights.detach(), min(ROWS_WRITTEN_DENSE, slots)).indices
    return {"ids": written.tolist(), "before": before[written].tolist(), "after": after[written].tolist()}


def _memory(core, memory: torch.Tensor):
    return memory.tolist() if core.slots * core.word_size <= MEMORY_CELLS_LIMIT else None


def record_ntm(core, step: NTMStep) -> dict:
    return {
        "read_weights": [dense_entries(step.read_weights[0, h]) for h in range(core.heads)],
        "write_weights": dense_entries(step.write_weights[0]),
        "rows_written": _rows_written_dense(step.write_weights[0], step.memory_before[0], step.memory[0], core.slots),
        "reads": step.reads[0].tolist(),
        "gates": {
            "write_strength": step.write_strength[0].item(),
            "write_interpolation": step.write_interpolation[0].item(),
            "write_shift": step.write_shift[0].tolist(),
            "write_sharpening": step.write_sharpening[0].item(),
            "erase_mean": step.erase[0].mean().item(),
            "read_strength": step.read_strength[0].tolist(),
            "read_interpolation": step.read_interpolation[0].tolist(),
            "read_shift": step.read_shift[0].tolist(),
            "read_sharpening": step.read_sharpening[0].tolist(),
        },
        "memory": _memory(core, step.memory[0]),
    }


def record_dam(core, step: DAMStep) -> dict:
    return {
        "read_weights": [dense_entries(step.read_weights[0, h]) for h in range(core.heads)],
        "write_weights": dense_entries(step.write_weights[0]),
        "rows_written": _rows_written_dense(step.write_weights[0], step.memory_before[0], step.memory[0], core.slots),
        "reads": step.reads[0].tolist(),
        "gates": {"write_gate": step.write_gate[0].item(), "interpolation_gate": step.interpolation_gate[0].item(),
                  "read_strength": step.read_strength[0].tolist()},
        "usage": step.usage[0].tolist(),
        "least_used": int(step.least_used[0]),
        "memory": _memory(core, step.memory[0]),
    }


def record_dnc(core, step: DNCStep) -> dict:
    keep = None if core.slots <= DENSE_WEIGHTS_LIMIT else DENSE_WEIGHTS_TOP
    links_top = min(LINKS_TOP, core.slots)
    usage = step.usage[0]
    return {
        "read_weights": [dense_entries(step.read_weights[0, h], keep) for h in range(core.heads)],
        "write_weights": dense_entries(step.write_weights[0], keep),
        "rows_written": _rows_written_dense(step.write_weights[0], step.memory_before[0], step.memory[0], core.slots),
        "reads": step.reads[0].tolist(),
        "gates": {
            "write_gate": step.write_gate[0].item(),
            "allocation_gate": step.allocation_gate[0].item(),
            "free_gates": step.free_gates[0].tolist(),
            "read_strength": step.read_strength[0].tolist(),
            "write_strength": step.write_strength[0].item(),
            "erase_mean": step.erase[0].mean().item(),
        },
        "usage": usage.tolist(),
        # where allocation sends the write: argmin of the ε-adjusted usage that allocation sorts
        # (float32 rounds tiny usages to a tie there, and ties go to the lowest slot)
        "least_used": int(torch.argmin(ALLOCATION_EPSILON + (1 - ALLOCATION_EPSILON) * usage)),
        "read_modes": step.read_modes[0].tolist(),
        "links": [{"forward": largest_entries(step.forward[0, h], links_top),
                   "backward": largest_entries(step.backward[0, h], links_top)} for h in range(core.heads)],
        "memory": _memory(core, step.memory[0]),
    }


def _neighbours(core, step) -> list:
    """Per head: the K slots the index found against the exact top K by the indexes' own cosine."""
    buffer = step.memory.buffer
    query = step.query[0].detach()
    # rank by the similarity the indexes rank by (unit rows, no ε in the denominator): with ε, SAM's tiny
    # initial rows would be ordered by norm rather than direction and an exact index would show recall < 1
    exact_similarity = cosine_scores(query.unsqueeze(0).to(buffer.dtype), buffer[:1])[0]    # [R, N]
    exact = torch.topk(exact_similarity, core.k, dim=-1)
    out = []
    for h in range(core.heads):
        found = step.read_ids[0, h]
        exact_ids = set(exact.indices[h].tolist())
        kth = float(exact.values[h, -1])
        # a found row tying the exact K-th cosine within TIE is as good for the read as the one topk picked
        hits = sum(1 for slot, similarity in zip(found.tolist(), exact_similarity[h, found].tolist(), strict=True)
                   if slot in exact_ids or similarity >= kth - TIE)
        out.append({
            "found": found.tolist(),
            "found_similarity": exact_similarity[h, found].tolist(),
            "exact": exact.indices[h].tolist(),
            "exact_similarity": exact.values[h].tolist(),
            "recall": min(hits, core.k) / core.k,
        })
    return out


def _record_sparse(core, step, write_ids: torch.Tensor, write_weights: torch.Tensor,
                   rows_before: torch.Tensor) -> dict:
    """The keys SAM and the SDNC share; write_ids, write_weights [n], rows_before [n, W] of batch element 0."""
    if step.rows_before is None:
        raise ValueError("a sparse step was recorded without details=True (MemoryModel.run(observe=...))")
    buffer = step.memory.buffer
    least = int(step.least_used[0])
    record = {
        "read_weights": [entries(step.read_ids[0, h], step.read_weights[0, h]) for h in range(core.heads)],
        "write_weights": entries(write_ids, write_weights),
        "rows_written": {"ids": write_ids.tolist(), "before": rows_before.tolist(),
                         "after": buffer[0, write_ids].tolist()},
        "reads": step.reads[0].tolist(),
        "gates": {
            "write_gate": step.write_gate[0].item(),
            "interpolation_gate": step.interpolation_gate[0].item(),
            "read_strength": addressing.strength(step.read_strength_raw[0], core.key_strength).tolist(),
        },
        "least_used": least,
        "least_used_age": int(step.usage_before.age(0, least)[0]),
        "neighbours": _neighbours(core, step),
        "index": core.index_kind,
    }
    if core.slots <= SPARSE_USAGE_LIMIT:
        record["usage"] = step.usage_before.vector(0).tolist()
    if core.slots * core.word_size <= MEMORY_CELLS_LIMIT:
        record["memory"] = buffer[0].tolist()
    return record


def record_sam(core, step: SAMStep) -> dict:
    return _record_sparse(core, step, step.write_ids[0], step.write_weights[0],
                          None if step.rows_before is None else step.rows_before[0])


def record_sdnc(core, step: SDNCStep) -> dict:
    kept = step.write_weights[0].detach() > 0            # merged rows are padded with weight-0 entries
    rows_before = None if step.rows_before is None else step.rows_before[0, kept]
    record = _record_sparse(core, step, step.write_ids[0, kept], step.write_weights[0, kept], rows_before)
    record.update({
        # the union read by each head (duplicates summed): content, forward and backward entries
        "read_weights": [coalesced_entries(step.slot_ids[0, h].numpy(), step.mixed_weights[0, h])
                         for h in range(core.heads)],
        "read_modes": step.read_modes[0].detach().tolist(),                   # per head [b, c, f]
        # the weightings f = N_t w^r_{t−1} and b = P_t w^r_{t−1} found by following the links (before π)
        "links": [{"forward": coalesced_entries(step.forward_ids[0, h].numpy(), step.forward_weights[0, h]),
                   "backward": coalesced_entries(step.backward_ids[0, h].numpy(), step.backward_weights[0, h])}
                  for h in range(core.heads)],
        "precedence": coalesced_entries(step.precedence_ids[0], step.precedence_values[0]),   # p_t, ≤ K_L entries
    })
    return record


RECORDERS = {NTMStep: record_ntm, DAMStep: record_dam, SAMStep: record_sam, DNCStep: record_dnc,
             SDNCStep: record_sdnc}


def record_step(core, step) -> dict:
    """One step's JSON object (batch element 0) from a core's step result."""
    try:
        recorder = RECORDERS[type(step)]
    except KeyError:
        raise TypeError(f"no trace recorder for {type(step).__name__}") from None
    return recorder(core, step)
