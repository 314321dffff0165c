"""How a memory starts: every row a small constant, slightly jittered (docs/PAPER_NOTES.md, #ntm and #sam).

A small constant converges faster than random initialisation (Collier & Beel 2018). The sparse memories
and DAM add a relative jitter so that rows differ: ties in top-K become deterministic and an IVF index
can spread the rows over its lists (identical rows all land in one list). The DNC starts at zeros instead.
"""
import torch

INITIAL_ROWS = ("jittered", "zero")   # the starts a DAM, SAM or SDNC memory may take (ModelConfig.initial_rows)
# What a new model or training run starts from. Zero rows, for the index first: an untouched zero row scores 0
# against any query, so faiss has nothing to build at reset and searches only the rows written so far (an
# exact answer at a cost flat in N until the memory fills; docs/ARCHITECTURE.md). And in learning: SAM from
# zero rows met the associative-recall target on 3 seeds of 3 within 16,000 updates (median 10,000), the
# jittered start on none, the NTM on 1 (docs/LEARNING_CURVES.md, fifth look).
DEFAULT_INITIAL_ROWS = "zero"
# What a checkpoint or saved run that predates the setting started from (their config has no "initial_rows").
INITIAL_ROWS_BEFORE_THE_SETTING = "jittered"

INITIAL_MEMORY_VALUE = 1e-6   # every row's entries start here (NTM: exactly; DAM, SAM, SDNC: jittered)
INITIAL_MEMORY_JITTER = 1e-2  # relative jitter of the jittered start
JITTER_SEED = 0               # the same start for every episode and batch element (index builds are cached)


def jittered_memory(batch_size: int, slots: int, word_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """-> [B, N, W]: INITIAL_MEMORY_VALUE·(1 + INITIAL_MEMORY_JITTER·u), u ~ U[0, 1) seeded, the same for every b.

    An expanded view (no copy); callers clone it when they modify it.
    """
    jitter = torch.rand(slots, word_size, generator=torch.Generator().manual_seed(JITTER_SEED), dtype=dtype)
    return (INITIAL_MEMORY_VALUE * (1 + INITIAL_MEMORY_JITTER * jitter)).expand(batch_size, -1, -1)


def initial_memory(start: str, batch_size: int, slots: int, word_size: int,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """-> [B, N, W] the start of a memory: "jittered" (above) or "zero" (every row 0, as DeepMind's DNC).

    Why "zero" exists: a jittered row is tiny but points in almost the same direction as every other
    untouched row, so every query's cosine sees all N of them as candidates; a zero row scores exactly 0
    against any query (addressing.cosine_similarity), so untouched slots never compete with written ones.
    An expanded view (no copy); callers clone it when they modify it.
    """
    if start == "jittered":
        return jittered_memory(batch_size, slots, word_size, dtype)
    if start == "zero":
        return torch.zeros(1, 1, 1, dtype=dtype).expand(batch_size, slots, word_size)
    raise ValueError(f"unknown initial rows {start!r}; choose one of {', '.join(INITIAL_ROWS)}")
