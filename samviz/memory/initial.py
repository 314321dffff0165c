"""How a memory starts: every row a small constant, slightly jittered (docs/PAPER_NOTES.md, #ntm and #sam).

A small constant converges faster than random initialisation (Collier & Beel 2018). The sparse memories
and DAM add a relative jitter so that rows differ: ties in top-K become deterministic and an IVF index
can spread the rows over its lists (identical rows all land in one list). The DNC starts at zeros instead.
"""
import torch

INITIAL_MEMORY_VALUE = 1e-6   # every row's entries start here (NTM: exactly; DAM, SAM, SDNC: jittered)
INITIAL_MEMORY_JITTER = 1e-2  # relative jitter of the jittered start
JITTER_SEED = 0               # the same start for every episode and batch element (index builds are cached)


def jittered_memory(batch_size: int, slots: int, word_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """-> [B, N, W]: INITIAL_MEMORY_VALUE·(1 + INITIAL_MEMORY_JITTER·u), u ~ U[0, 1) seeded, the same for every b.

    An expanded view (no copy); callers clone it when they modify it.
    """
    jitter = torch.rand(slots, word_size, generator=torch.Generator().manual_seed(JITTER_SEED), dtype=dtype)
    return (INITIAL_MEMORY_VALUE * (1 + INITIAL_MEMORY_JITTER * jitter)).expand(batch_size, -1, -1)
