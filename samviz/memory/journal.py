"""The sparse memory: one buffer modified in place, a per-step journal, and a rollback in backward (sparse BPTT).

docs/PAPER_NOTES.md (#sparse-bptt). The least-recently-used tracker it carries is in usage.py.

Why: a naive autograd implementation keeps a copy of the N×W memory per step (O(T·N·W) memory)
however sparse the weights are. Here the memory lives in ONE buffer outside autograd. Each step:

    write(ids, weights, word, erase_ids)   zero the erased rows, add weights·word to the rows `ids`,
                                           and push (ids, old rows) onto the journal
    read_rows(ids)                         gather rows (a copy, so autograd saves only K·R rows)

Backward walks the steps in reverse. A read's backward adds its row gradients to a sparse gradient
store G (the gradient of the loss with respect to the memory rows at that step). A write's backward
reads G at the written rows to get the gradients of its weights and word, clears G on the erased rows
(their old value no longer matters), and restores the old rows (the rollback). Every operation touches
only the rows it names, so time and extra memory per step are independent of N.

Ordering: autograd must run these backwards in reverse time order. Every operation consumes the
previous operation's `token` (a scalar tensor) and produces a new one, so the autograd graph is a
chain write_1 → read_1 → write_2 → read_2 → … and the engine walks it backwards in order.

Shapes: B batch, N slots, W word size, n ids per call.
"""
import weakref

import numpy as np
import torch

from . import store as store_module
from .initial import jittered_memory
from .store import MemoryStore


class SparseMemory:
    """One episode's memory: the buffer [B, N, W], its index, its least-recently-used tracker and its gradient
    store (borrowed from a store.MemoryStore), and the sparse BPTT journal (this episode's token chain).

    start: initial.py's rows ("zero" or "jittered") — the store comes from the pool (store.take: set-up in
    O(rows the last episode touched)) and goes back to it when this object is garbage-collected, i.e. when
    neither a model state nor an autograd graph refers to the episode any more. initial_memory [B, N, W]:
    rows of the caller's instead (a store of its own, not pooled). Neither: jittered rows, not pooled.
    """

    def __init__(self, batch_size: int, slots: int, word_size: int, index: str = "exact",
                 dtype: torch.dtype = torch.float32, initial_memory: torch.Tensor | None = None,
                 start: str | None = None):
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        if start is not None and initial_memory is None:
            self.store = store_module.take(batch_size, slots, word_size, index, dtype, start)
            weakref.finalize(self, store_module.give_back, self.store)
        else:
            if initial_memory is None:
                initial_memory = jittered_memory(batch_size, slots, word_size, dtype)
            self.store = MemoryStore(batch_size, slots, word_size, index, dtype, None, initial_memory)
        self.buffer, self.index = self.store.buffer, self.store.index
        self.usage, self.gradients = self.store.usage, self.store.gradients
        self._batch = torch.arange(batch_size).unsqueeze(1)
        self._row_offsets = np.arange(batch_size)[:, None] * slots
        self.token = None

    def _current_token(self) -> torch.Tensor:
        """The last operation's token; a fresh leaf when a forward pass starts (or restarts after backward
        rolled the buffer back, which is how benchmarks reuse one memory without rebuilding its index)."""
        if self.token is None:
            self.token = torch.zeros((), dtype=self.buffer.dtype, requires_grad=True)
        return self.token

    def end_forward(self) -> None:
        """Forget the last token. The autograd graph holds this memory (for backward) and the memory held
        the graph's last node through its token: a cycle through C++ that Python's collector cannot see,
        which leaked every episode's graph. The graph keeps the memory alive for backward on its own."""
        self.token = None

    def flat(self, ids: torch.Tensor) -> np.ndarray:
        """ids [B, n] -> flat row ids [B·n] (b·N + slot)."""
        return (self._row_offsets + ids.numpy()).reshape(-1)

    def read_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, n] -> rows [B, n, W], differentiable with respect to every earlier write."""
        rows, self.token = _ReadRows.apply(self._current_token(), ids, self)
        return rows

    def write(self, ids: torch.Tensor, weights: torch.Tensor, word: torch.Tensor, erase_ids: torch.Tensor) -> None:
        """Erase rows erase_ids [B] (set to zero), then add weights [B, m] · word [B, W] to rows ids [B, m]."""
        self.token = _WriteRows.apply(self._current_token(), weights, word, ids, erase_ids, self)

    def search(self, queries: torch.Tensor, k: int) -> torch.Tensor:
        """queries [B, Q, W] -> slot ids [B, Q, k] of the most cosine-similar rows (no gradient)."""
        return self.index.search(queries.detach().to(self.buffer.dtype), k)


class _ReadRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, token, ids, memory):
        ctx.memory, ctx.ids = memory, ids
        rows = memory.buffer[memory._batch, ids]          # advanced indexing copies: [B, n, W]
        return rows, token.clone()

    @staticmethod
    def backward(ctx, grad_rows, grad_token):
        memory = ctx.memory
        memory.gradients.add(memory.flat(ctx.ids), grad_rows.reshape(-1, memory.word_size))
        return grad_token, None, None


class _WriteRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, token, weights, word, ids, erase_ids, memory):
        batch = memory._batch
        changed = torch.cat([erase_ids.unsqueeze(1), ids], dim=1)          # [B, 1 + m]
        memory.store.touch(memory.flat(changed))                            # what the next episode restores
        old_rows = memory.buffer[batch, changed]                            # the journal entry
        memory.buffer[batch, changed[:, :1]] = 0
        additions = (weights.detach().unsqueeze(-1) * word.detach().unsqueeze(1)).to(memory.buffer.dtype)
        memory.buffer.index_put_((batch.expand_as(ids), ids), additions, accumulate=True)
        memory.index.update(batch.expand_as(changed).reshape(-1), changed.reshape(-1),
                            memory.buffer[batch, changed].reshape(-1, memory.word_size))
        ctx.memory = memory
        ctx.journal = (ids, changed, old_rows)
        ctx.save_for_backward(weights, word)
        return token.clone()

    @staticmethod
    def backward(ctx, grad_token):
        memory = ctx.memory
        weights, word = ctx.saved_tensors
        ids, changed, old_rows = ctx.journal
        row_gradients = memory.gradients.get(memory.flat(ids)).reshape(*ids.shape, -1).to(word.dtype)   # [B, m, W]
        grad_weights = (row_gradients * word.unsqueeze(1)).sum(-1)
        grad_word = (row_gradients * weights.unsqueeze(-1)).sum(1)
        memory.gradients.discard(memory.flat(changed[:, :1]))     # the erased rows' old values did not matter
        # rollback: every row changed at this step gets its value from before the step back
        # (a slot listed twice holds the same old value twice, so the order of the copies does not matter)
        memory.buffer[memory._batch.expand_as(changed), changed] = old_rows
        return grad_token, grad_weights, grad_word, None, None, None
