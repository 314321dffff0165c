"""The trace schema, written down once: every key a recorder writes into a step, its shape and its meaning.

A trace (samviz.trace.EpisodeTrace) holds one JSON object per step of batch element 0. This module is
plain data and imports no torch, so the app's figure code can read it (and its size limits) cheaply.
`check_step` tests a recorded step against it (tests/test_trace_schema.py runs it on every kind).

Shapes: R read heads, W word size, N slots, K neighbours per head (sparse kinds), K_L link entries (SDNC),
n a number of entries. "entries" is {"ids": [n] int slot ids, "values": [n] float weights}, same length.

Which steps carry a key is decided by the kind's spec (samviz/kinds.py): `sparse`, `usage_meaning`,
`temporal_links`; and for sizes, by the limits below (the trace layer owns every UI size limit).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..kinds import KindSpec

# ---------------------------------------------------------------- UI size limits (what a trace keeps)
MEMORY_CELLS_LIMIT = 16384        # "memory" holds the whole N×W memory only while N·W ≤ this (else null/absent)
SPARSE_USAGE_LIMIT = 1 << 16      # SAM/SDNC "usage" is kept only while N ≤ this (it is an O(N) copy per step)
DENSE_WEIGHTS_LIMIT = 4096        # DNC weightings over more slots keep only their DENSE_WEIGHTS_TOP largest entries
DENSE_WEIGHTS_TOP = 64
LINKS_TOP = 8                     # DNC forward/backward weightings: their LINKS_TOP largest entries
ROWS_WRITTEN_DENSE = 4            # dense kinds: "rows_written" shows the 4 slots with the largest write weight


@dataclass(frozen=True)
class Key:
    shape: str                                   # JSON shape, in the notation above
    meaning: str
    written: Callable[[KindSpec, dict], str]     # (spec, model config) -> "always" | "maybe" | "never"


def _always(spec, config) -> str:
    return "always"


def _sparse(spec, config) -> str:
    return "always" if spec.sparse else "never"


def _links(spec, config) -> str:
    return "always" if spec.temporal_links else "never"


def _usage(spec, config) -> str:
    if spec.usage_meaning is None:
        return "never"
    if spec.sparse and config["memory_slots"] > SPARSE_USAGE_LIMIT:
        return "never"
    return "always"


def _least_used(spec, config) -> str:
    return "never" if spec.usage_meaning is None else "always"


def _memory(spec, config) -> str:
    small = config["memory_slots"] * config["word_size"] <= MEMORY_CELLS_LIMIT
    if spec.sparse:                                # sparse kinds leave the key out when the memory is large
        return "always" if small else "never"
    return "always"                                # dense kinds write it, null when the memory is large


STEP_KEYS: dict[str, Key] = {
    "read_weights": Key("[R] entries", "each read head's weighting after this step's write. Dense kinds: every "
                        "slot in slot order (DNC above DENSE_WEIGHTS_LIMIT slots: its DENSE_WEIGHTS_TOP largest, "
                        "largest first); SAM: the K slots the index found; SDNC: the union it read (content, "
                        "forward and backward entries, each slot once, weights after the read modes)", _always),
    "write_weights": Key("entries", "the write weighting w^W_t. Dense kinds as read_weights; SAM: R·K + 1 entries "
                         "(previous read slots, then the least used slot; a slot may repeat); SDNC: each written "
                         "slot once with its total weight", _always),
    "rows_written": Key('{"ids": [n], "before": [n][W], "after": [n][W]}', "rows the write changed, before and "
                        "after this step's write. Dense kinds: the ROWS_WRITTEN_DENSE slots with the largest "
                        "write weight; sparse kinds: exactly write_weights' ids", _always),
    "reads": Key("[R][W]", "the read vectors r_t (after this step's write)", _always),
    "gates": Key("{name: float | [R] | [3] | [R][3]}", "the step's gates, after their activation; names in GATES",
                 _always),
    "memory": Key("[N][W] | null", "the whole memory after this step; only while N·W ≤ MEMORY_CELLS_LIMIT (dense "
                  "kinds then write null, sparse kinds leave the key out)", _memory),
    "usage": Key("[N]", "per slot, what the kind's spec.usage_meaning says (samviz/kinds.py): DAM its discounted "
                 "usage after this step; DNC u_t before this step's write; SAM and SDNC the steps since each slot's "
                 "last access counted at this step BEFORE its reads and writes (the ages the write saw: ≥ 1; a "
                 "never-accessed slot shows t + 1). Sparse kinds keep it only while N ≤ SPARSE_USAGE_LIMIT", _usage),
    "least_used": Key("int", "the slot the write treated as least used: DAM and SAM/SDNC the row erased and "
                      "written this step; DNC where allocation points (argmin of its ε-adjusted usage)", _least_used),
    "least_used_age": Key("int", "SAM/SDNC: steps since least_used was last accessed, counted before this step "
                          "(usage[least_used] when usage is kept; > t means never accessed)", _sparse),
    "neighbours": Key('[R] {"found": [K], "found_similarity": [K], "exact": [K], "exact_similarity": [K], '
                      '"recall": float}', "per head: the K slots the index returned, the exact top K by the "
                      "indexes' cosine (unit rows, samviz.memory.index.cosine_scores) over the memory after the "
                      "write, their similarities, and recall = the share of found slots in the exact top K or tying "
                      "its K-th cosine within samviz.memory.index_parts.TIE", _sparse),
    "index": Key('"exact" | "faiss"', "the nearest-neighbour index the sparse core searched with", _sparse),
    "read_modes": Key("[R][3]", "per head π = softmax over (backward, content, forward)", _links),
    "links": Key('[R] {"forward": entries, "backward": entries}', "per head the weightings found by following "
                 "the temporal links from the previous read weights, before π: DNC f = L w^r_{t−1} and b = Lᵀ "
                 "w^r_{t−1}, their LINKS_TOP largest entries, largest first; SDNC f = N_t w^r_{t−1} and b = P_t "
                 "w^r_{t−1}, at most K_L entries each, in slot order", _links),
    "precedence": Key("entries", "SDNC: the precedence p_t after this step's write, at most K_L entries",
                      lambda spec, config: "always" if spec.sparse and spec.temporal_links else "never"),
}

GATES: dict[str, tuple[str, str]] = {            # name -> (shape, meaning); every gate any recorder writes
    "write_gate": ("float", "α (DAM, SAM, SDNC) or g^w (DNC): how much is written"),
    "interpolation_gate": ("float", "γ (DAM, SAM, SDNC): previous read slots (1) vs the least used slot (0)"),
    "allocation_gate": ("float", "g^a (DNC): allocation (1) vs content (0) for the write"),
    "free_gates": ("[R]", "f^i (DNC): how much each head's previous read frees its slots"),
    "read_strength": ("[R]", "β ≥ 1 of each read head's content addressing"),
    "write_strength": ("float", "β of the write head's content addressing (NTM, DNC)"),
    "erase_mean": ("float", "mean of the erase vector e (NTM, DNC)"),
    "write_interpolation": ("float", "NTM write head's g: content (1) vs previous weighting (0)"),
    "write_shift": ("[3]", "NTM write head's shift distribution over (−1, 0, +1)"),
    "write_sharpening": ("float", "NTM write head's γ ≥ 1"),
    "read_interpolation": ("[R]", "NTM read heads' g"),
    "read_shift": ("[R][3]", "NTM read heads' shift distributions"),
    "read_sharpening": ("[R]", "NTM read heads' γ"),
}


def _is_entries(value, problems: list, where: str) -> bool:
    if not (isinstance(value, dict) and set(value) == {"ids", "values"}
            and isinstance(value["ids"], list) and isinstance(value["values"], list)
            and len(value["ids"]) == len(value["values"])):
        problems.append(f"{where}: not entries of equal length")
        return False
    if not all(isinstance(i, int) for i in value["ids"]):
        problems.append(f"{where}: ids are not integers")
        return False
    return True


def _matrix(value, rows: int, columns: int) -> bool:
    return (isinstance(value, list) and len(value) == rows
            and all(isinstance(row, list) and len(row) == columns for row in value))


def check_step(step: dict, spec: KindSpec, config: dict) -> list[str]:
    """Problems with one recorded step (an empty list when it follows the schema). config: ModelConfig.to_dict()."""
    problems = []
    heads, word, slots = config["heads"], config["word_size"], config["memory_slots"]
    for name in step:
        if name not in STEP_KEYS:
            problems.append(f"undocumented key {name!r}")
    for name, key in STEP_KEYS.items():
        written = key.written(spec, config)
        if written == "always" and name not in step:
            problems.append(f"missing key {name!r}")
        if written == "never" and name in step:
            problems.append(f"key {name!r} is not written by {spec.name} at this size")
    if not (isinstance(step.get("read_weights"), list) and len(step["read_weights"]) == heads):
        problems.append("read_weights: not one entries per head")
    else:
        for h, weights in enumerate(step["read_weights"]):
            if _is_entries(weights, problems, f"read_weights[{h}]") and not all(
                    0 <= i < slots for i in weights["ids"]):
                problems.append(f"read_weights[{h}]: slot id out of range")
    if "write_weights" in step:
        _is_entries(step["write_weights"], problems, "write_weights")
    rows = step.get("rows_written")
    if isinstance(rows, dict) and set(rows) == {"ids", "before", "after"}:
        n = len(rows["ids"])
        if not (_matrix(rows["before"], n, word) and _matrix(rows["after"], n, word)):
            problems.append("rows_written: before/after are not [n][W] for its n ids")
        if spec.sparse and rows["ids"] != step["write_weights"]["ids"]:
            problems.append("rows_written: ids differ from write_weights' ids")
    else:
        problems.append("rows_written: not {ids, before, after}")
    if not _matrix(step.get("reads"), heads, word):
        problems.append("reads: not [R][W]")
    for name, value in (step.get("gates") or {}).items():
        if name not in GATES:
            problems.append(f"undocumented gate {name!r}")
            continue
        shape = GATES[name][0]
        ok = {"float": isinstance(value, float), "[R]": isinstance(value, list) and len(value) == heads,
              "[3]": isinstance(value, list) and len(value) == 3,
              "[R][3]": _matrix(value, heads, 3)}[shape]
        if not ok:
            problems.append(f"gate {name!r} is not {shape}")
    if step.get("memory") is not None and not _matrix(step["memory"], slots, word):
        problems.append("memory: not [N][W]")
    if "usage" in step and not (isinstance(step["usage"], list) and len(step["usage"]) == slots):
        problems.append("usage: not [N]")
    for name in ("least_used", "least_used_age"):
        if name in step and not isinstance(step[name], int):
            problems.append(f"{name}: not an int")
    if "least_used" in step and not 0 <= step["least_used"] < slots:
        problems.append("least_used: out of range")
    if "usage" in step and "least_used_age" in step and step["least_used_age"] != step["usage"][step["least_used"]]:
        problems.append("least_used_age differs from usage[least_used]")
    k = config.get("k")
    for h, found in enumerate(step.get("neighbours") or []):
        fields = {"found", "found_similarity", "exact", "exact_similarity", "recall"}
        if not (isinstance(found, dict) and set(found) == fields
                and all(len(found[f]) == k for f in fields - {"recall"}) and 0 <= found["recall"] <= 1):
            problems.append(f"neighbours[{h}]: not K found/exact ids and similarities with a recall")
    if "neighbours" in step and len(step["neighbours"]) != heads:
        problems.append("neighbours: not one per head")
    if "index" in step and step["index"] != config.get("index"):
        problems.append("index: not the model's index")
    if "read_modes" in step and not _matrix(step["read_modes"], heads, 3):
        problems.append("read_modes: not [R][3]")
    if "links" in step:
        if not (isinstance(step["links"], list) and len(step["links"]) == heads):
            problems.append("links: not one per head")
        else:
            for h, link in enumerate(step["links"]):
                if not (isinstance(link, dict) and set(link) == {"forward", "backward"}):
                    problems.append(f"links[{h}]: not {{forward, backward}}")
                    continue
                for direction in ("forward", "backward"):
                    _is_entries(link[direction], problems, f"links[{h}].{direction}")
    if "precedence" in step and _is_entries(step["precedence"], problems, "precedence"):
        if len(step["precedence"]["ids"]) > config.get("link_k", 0):
            problems.append("precedence: more than K_L entries")
    return problems
