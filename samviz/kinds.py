"""One spec per model kind: everything the library, the benchmark and the app need to know about a kind.

This module is plain data and imports no torch, so the app's figure code can read it cheaply. The memory
core class is named here as (module, class) and imported only when a model is built.

    KINDS["sam"].sparse          -> True
    KINDS["sam"].dense_twin      -> "dam"   (same equations, dense memory: the fair baseline)
    spec("sdnc").usage_meaning   -> what the "usage" numbers in its traces mean
"""
from __future__ import annotations

from dataclasses import dataclass

INDEXES = ("exact", "faiss")      # nearest-neighbour indexes a sparse core can use (samviz/memory/index.py)

# SAM and the SDNC record usage as the write saw it: step t's vector counts from step t, before step t's own
# reads and writes, so a slot accessed at step t − 1 shows 1, never 0 (samviz/trace/schema.py, "usage")
SPARSE_USAGE_MEANING = "steps since last access, before this step's reads and writes"

# The sparse kinds touch K rows per head per step, so the player records them up to 2^20 slots (issue 13 item 4);
# what such a memory costs the server (its N×W buffer, the index over its initial rows) is bounded in
# samviz/app/loaders.py. Dense kinds stop at 4096: every step of theirs reads and writes all N rows.
SPARSE_APP_SLOTS = 1 << 20


@dataclass(frozen=True)
class KindSpec:
    name: str                 # "sam"
    label: str                # "SAM (sparse access memory)"
    core: tuple[str, str]     # (module, class) of its MemoryCore, imported lazily
    sparse: bool              # reads and writes touch K rows found by an index, not all N
    dense_twin: str | None    # the dense kind with the same equations (compare pages pair them)
    usage_meaning: str | None  # what the recorded usage vector is; None when the kind records no usage
    usage_smaller_is_older: bool  # True when the least-used slot has the smallest usage value
    untrained_heads: int      # read heads of an untrained model in the app
    app_slot_limit: int       # largest memory the app's player offers for this kind
    paper: str                # where the kind comes from
    core_options: tuple[str, ...] = ()  # ModelConfig fields passed to the core's constructor besides N, W, R
    temporal_links: bool = False        # DNC-style read modes and links (forward/backward) in its traces


KINDS: dict[str, KindSpec] = {spec.name: spec for spec in (
    KindSpec("ntm", "NTM (Neural Turing Machine)", ("samviz.memory.ntm", "NTMMemory"), sparse=False,
             dense_twin=None, usage_meaning=None, usage_smaller_is_older=True, untrained_heads=1,
             app_slot_limit=4096, paper="Graves et al. 2014"),
    KindSpec("dam", "DAM (dense access memory)", ("samviz.memory.dam", "DAMMemory"), sparse=False,
             dense_twin=None, usage_meaning="discounted usage, after this step (smallest = least used)",
             usage_smaller_is_older=True, untrained_heads=2, app_slot_limit=4096, paper="Rae et al. 2016",
             core_options=("initial_rows",)),
    KindSpec("sam", "SAM (sparse access memory)", ("samviz.memory.sam", "SAMMemory"), sparse=True,
             dense_twin="dam", usage_meaning=SPARSE_USAGE_MEANING,
             usage_smaller_is_older=False, untrained_heads=2, app_slot_limit=SPARSE_APP_SLOTS, paper="Rae et al. 2016",
             core_options=("k", "index", "initial_rows", "write_combination", "key_strength", "access_threshold",
                           "accesses")),
    # the DNC's N×N link matrix makes a step O(N²): at 4096 slots one traced episode takes ~30 s of CPU
    KindSpec("dnc", "DNC (differentiable neural computer)", ("samviz.memory.dnc", "DNCMemory"), sparse=False,
             dense_twin=None, usage_meaning="usage u_t in [0, 1] before this step's write",
             usage_smaller_is_older=True, untrained_heads=1, app_slot_limit=1024, paper="Graves et al. 2016",
             temporal_links=True),
    KindSpec("sdnc", "SDNC (sparse DNC)", ("samviz.memory.sdnc", "SDNCMemory"), sparse=True,
             dense_twin="dnc", usage_meaning=SPARSE_USAGE_MEANING,
             usage_smaller_is_older=False, untrained_heads=2, app_slot_limit=SPARSE_APP_SLOTS, paper="Rae et al. 2016",
             core_options=("k", "index", "link_k", "initial_rows", "write_combination", "key_strength",
                           "access_threshold", "accesses"), temporal_links=True),
)}

MODELS = tuple(KINDS)                                          # ("ntm", "dam", "sam", "dnc", "sdnc")
SPARSE_MODELS = tuple(name for name, s in KINDS.items() if s.sparse)
DENSE_MODELS = tuple(name for name, s in KINDS.items() if not s.sparse)


def spec(name: str) -> KindSpec:
    """The spec of a kind; a clear ValueError naming the choices for an unknown one."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def is_sparse(name: str) -> bool:
    return spec(name).sparse
