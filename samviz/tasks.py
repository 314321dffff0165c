"""The three algorithmic tasks of the Neural Turing Machine paper (Graves et al. 2014), time-major.

Every task draws a batch as an `Episode`:

    inputs   float32 [T, B, input_size]
    targets  float32 [T, B, output_size]   zero wherever mask is 0
    mask     float32 [T, B]                1.0 on the steps whose output is scored (the answer phase)
    level    int                           the difficulty the whole batch was drawn at

T is the number of time steps and B the batch size. All batch elements share one level, so the
tensors are rectangular. All randomness comes from the `generator` passed to `Task.sample`, so the
same seed gives identical episodes.

Tasks:
    copy                 see a sequence of 8-bit vectors, then write it back out
    associative_recall   see a list of items, then a query item; answer the item that followed it
    priority_sort        see 8-bit vectors with priorities; answer the highest-priority ones, sorted

Metrics over logits [T, B, output_size]: `loss` (masked binary cross-entropy),
`bit_errors_per_sequence` and `bit_errors_per_step`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as functional

NAMES = ("copy", "associative_recall", "priority_sort")
# What a shipped model must reach on fresh episodes, in bit errors per sequence, at every level of its range.
TARGETS = {"copy": 0.1, "associative_recall": 0.5, "priority_sort": 8.0}

# sample(level=...) accepts levels up to this many times max_level, for generalisation tests.
GENERALISATION_FACTOR = 10
# A batch holds at most this many (time step, batch element) pairs: inputs, targets and mask then stay under
# ~300 MB whatever level and batch size are asked for (checked before anything is allocated).
MAX_STEP_ELEMENTS = 1 << 22


class Episode(NamedTuple):
    """One batch of one task.

    inputs:  float32 [T, B, input_size]
    targets: float32 [T, B, output_size], zeros where mask is 0
    mask:    float32 [T, B], 1.0 on the answer-phase steps (the scored ones)
    level:   the difficulty this batch was drawn at
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    level: int


def random_bits(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Independent fair coin flips (Bernoulli 0.5) as float32 0.0/1.0, of the given shape."""
    return torch.randint(0, 2, shape, generator=generator).to(torch.float32)


class Task:
    """Base class of the tasks. Subclasses set the class attributes and implement `build`.

    name:        the task's name, one of NAMES
    input_size:  number of input channels
    output_size: number of output (target) channels
    min_level, max_level: the curriculum range of `level` (the paper's training range)
    """

    name: str = ""
    input_size: int = 0
    output_size: int = 0
    min_level: int = 1
    max_level: int = 1

    def sample(self, batch_size: int, level: int | None = None,
               generator: torch.Generator | None = None) -> Episode:
        """Draw one batch.

        batch_size: B >= 1.
        level: None draws the paper's default (`default_level`: uniform in [min_level, max_level],
            one level for the whole batch); an int asks for exactly that difficulty, which may go up to
            10 x max_level for generalisation tests.
        generator: the source of all randomness (same seed, same episode).
        Returns an Episode with inputs [T, B, input_size], targets [T, B, output_size], mask [T, B].
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if level is None:
            level = self.default_level(generator)
        else:
            self.check_level(level)
        if batch_size * self.steps(int(level)) > MAX_STEP_ELEMENTS:
            raise ValueError(f"{self.name}: {batch_size} episodes of {self.steps(int(level)):,} steps are more than "
                             f"{MAX_STEP_ELEMENTS:,} steps in one batch; use a smaller batch")
        return self.build(batch_size, int(level), generator)

    def steps(self, level: int) -> int:
        """T, the number of time steps of an episode at this level. Implemented by each task."""
        raise NotImplementedError

    def default_level(self, generator: torch.Generator | None) -> int:
        """The paper's default: a level drawn uniformly from [min_level, max_level]."""
        return int(torch.randint(self.min_level, self.max_level + 1, (1,), generator=generator).item())

    def check_level(self, level: int) -> None:
        """Raise ValueError unless min_level <= level <= 10 x max_level."""
        highest = GENERALISATION_FACTOR * self.max_level
        if isinstance(level, bool) or not isinstance(level, int):
            raise ValueError(f"{self.name}: level must be an integer, got {level!r}")
        if not self.min_level <= level <= highest:
            raise ValueError(f"{self.name}: level must be in [{self.min_level}, {highest}] "
                             f"(training range [{self.min_level}, {self.max_level}], up to "
                             f"{GENERALISATION_FACTOR}x for generalisation tests), got {level}")

    def build(self, batch_size: int, level: int, generator: torch.Generator | None) -> Episode:
        """Make the episode for a validated level. Implemented by each task."""
        raise NotImplementedError

    def describe(self) -> str:
        """One plain-English sentence describing the task, for the app."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, output_size={self.output_size}, "
                f"levels={self.min_level}..{self.max_level})")


class CopyTask(Task):
    """Copy: read L random 8-bit vectors, then a delimiter, then write the L vectors back in order.

    level = L, the sequence length. T = 2L + 1.
    Input channels 0..7 are the bits, channel 8 is the delimiter.
        steps 0..L-1:   the bit vectors (channel 8 is 0)
        step L:         delimiter only (channel 8 = 1)
        steps L+1..2L:  zero input; answer phase (mask 1), targets = the L vectors in order
    """

    name = "copy"
    bits = 8
    input_size = 9
    output_size = 8
    min_level = 1
    max_level = 20
    longest_level = 100_000        # LongTask: the longest sequence a long episode may copy (T = 200,001)

    def steps(self, level: int) -> int:
        return 2 * level + 1

    def build(self, batch_size: int, level: int, generator: torch.Generator | None) -> Episode:
        length = level
        steps = self.steps(length)
        sequence = random_bits((length, batch_size, self.bits), generator)  # [L, B, 8]
        inputs = torch.zeros(steps, batch_size, self.input_size)
        inputs[:length, :, :self.bits] = sequence
        inputs[length, :, self.bits] = 1.0
        targets = torch.zeros(steps, batch_size, self.output_size)
        targets[length + 1:] = sequence
        mask = torch.zeros(steps, batch_size)
        mask[length + 1:] = 1.0
        return Episode(inputs, targets, mask, level)

    def describe(self) -> str:
        return ("Copy: the model reads a sequence of random 8-bit vectors followed by a delimiter, "
                "then must write the same sequence back out in the same order.")


class AssociativeRecallTask(Task):
    """Associative recall: read a list of items, then a query item; answer the item after it.

    An item is 3 vectors of 6 bits. level = n, the number of items (all distinct). T = 4n + 8.
    Input channels 0..5 are the bits, channel 6 the item delimiter, channel 7 the query delimiter.
        for each item i: step 4i has channel 6 set, steps 4i+1..4i+3 hold its 3 bit vectors
        step 4n:              channel 7 set (query delimiter)
        steps 4n+1..4n+3:     the query item, a random one among the first n-1 items
        step 4n+4:            channel 7 set again
        steps 4n+5..4n+7:     zero input; answer phase (mask 1), targets = the item after the query
    """

    name = "associative_recall"
    bits = 6
    item_length = 3
    input_size = 8
    output_size = 6
    min_level = 2
    max_level = 6
    item_delimiter = 6
    query_delimiter = 7
    distinct_items = 2 ** (item_length * bits)   # 262,144 different items exist
    longest_level = 100_000        # LongTask: the most items a long episode may hold (T = 400,008)

    def steps(self, level: int) -> int:
        return (self.item_length + 1) * level + 1 + self.item_length + 1 + self.item_length

    def draw_distinct_items(self, count: int, batch_size: int,
                            generator: torch.Generator | None) -> torch.Tensor:
        """`count` random items per batch element, all different from each other.

        Returns float32 [count, B, item_length, bits]. All items are drawn at once; then, in item order, an
        item equal to an earlier one of the same batch element is drawn again (for every batch element where
        it repeats, in one draw) until it differs. Membership is a set lookup on each item's 18-bit code, so a
        batch costs O(count · B), not O(count²): long episodes (samviz.tasks.LongTask) hold 10^5 items.
        """
        if count > self.distinct_items:
            raise ValueError(f"{self.name}: at most {self.distinct_items} distinct items exist, asked for {count}")
        items = random_bits((count, batch_size, self.item_length, self.bits), generator)
        weights = 2 ** torch.arange(self.item_length * self.bits, dtype=torch.int64)
        codes = (items.flatten(2).to(torch.int64) * weights).sum(-1).numpy().copy()      # [count, B]
        seen = [set() for _ in range(batch_size)]
        elements = range(batch_size)
        for index in range(count):
            row = codes[index]
            repeated = np.array([int(row[b]) in seen[b] for b in elements])
            while repeated.any():
                redraw = random_bits((int(repeated.sum()), self.item_length, self.bits), generator)
                items[index, torch.from_numpy(repeated)] = redraw
                row[repeated] = (redraw.flatten(1).to(torch.int64) * weights).sum(-1).numpy()
                repeated = np.array([bool(repeated[b]) and int(row[b]) in seen[b] for b in elements])
            for b in elements:
                seen[b].add(int(row[b]))
        return items

    def build(self, batch_size: int, level: int, generator: torch.Generator | None) -> Episode:
        count = level
        span = self.item_length + 1  # a delimiter step plus the item's vectors
        steps = self.steps(count)
        items = self.draw_distinct_items(count, batch_size, generator)  # [n, B, 3, 6]
        query = torch.randint(0, count - 1, (batch_size,), generator=generator)  # [B], never the last
        batch = torch.arange(batch_size)
        query_item = items[query, batch]  # [B, 3, 6]
        answer_item = items[query + 1, batch]  # [B, 3, 6]

        inputs = torch.zeros(steps, batch_size, self.input_size)
        listed = inputs[:span * count].view(count, span, batch_size, self.input_size)   # one row per item
        listed[:, 0, :, self.item_delimiter] = 1.0
        listed[:, 1:, :, :self.bits] = items.transpose(1, 2)
        query_start = span * count
        inputs[query_start, :, self.query_delimiter] = 1.0
        inputs[query_start + 1:query_start + span, :, :self.bits] = query_item.transpose(0, 1)
        inputs[query_start + span, :, self.query_delimiter] = 1.0
        answer_start = query_start + span + 1

        targets = torch.zeros(steps, batch_size, self.output_size)
        targets[answer_start:] = answer_item.transpose(0, 1)
        mask = torch.zeros(steps, batch_size)
        mask[answer_start:] = 1.0
        return Episode(inputs, targets, mask, level)

    def describe(self) -> str:
        return ("Associative recall: the model reads a list of items (each three 6-bit vectors), then a "
                "query item from the list, and must answer with the item that came right after it.")


class PrioritySortTask(Task):
    """Priority sort: read n random 8-bit vectors with priorities; write the top m in priority order.

    level = n, the number of input vectors; m = max(1, round(0.8 n)) outputs. T = n + 1 + m.
    Input channels 0..7 are the bits, channel 8 the priority (uniform in [-1, 1]), channel 9 the
    delimiter.
        steps 0..n-1:       a bit vector with its priority on channel 8
        step n:             delimiter only (channel 9 = 1)
        steps n+1..n+m:     zero input; answer phase (mask 1), targets = the m highest-priority
                            vectors, highest first
    level=None is the paper's fixed setup, n = 20 (so m = 16), not a random range.
    """

    name = "priority_sort"
    bits = 8
    input_size = 10
    output_size = 8
    min_level = 2
    max_level = 20
    priority_channel = 8
    delimiter_channel = 9
    longest_level = GENERALISATION_FACTOR * max_level   # no long sort: its answer needs every input at once

    def steps(self, level: int) -> int:
        return level + 1 + self.output_count(level)

    @staticmethod
    def output_count(level: int) -> int:
        """m, the number of sorted outputs for n = level inputs: max(1, round(0.8 n))."""
        return max(1, round(0.8 * level))

    def default_level(self, generator: torch.Generator | None) -> int:
        """The paper's fixed setup: always n = 20 (max_level); draws no randomness."""
        return self.max_level

    def build(self, batch_size: int, level: int, generator: torch.Generator | None) -> Episode:
        count = level
        outputs = self.output_count(count)
        steps = self.steps(count)
        vectors = random_bits((count, batch_size, self.bits), generator)  # [n, B, 8]
        priorities = torch.rand(count, batch_size, generator=generator) * 2.0 - 1.0  # [n, B] in [-1, 1)
        order = torch.argsort(priorities, dim=0, descending=True, stable=True)[:outputs]  # [m, B]
        batch = torch.arange(batch_size)
        sorted_vectors = vectors[order, batch]  # [m, B, 8]

        inputs = torch.zeros(steps, batch_size, self.input_size)
        inputs[:count, :, :self.bits] = vectors
        inputs[:count, :, self.priority_channel] = priorities
        inputs[count, :, self.delimiter_channel] = 1.0
        targets = torch.zeros(steps, batch_size, self.output_size)
        targets[count + 1:] = sorted_vectors
        mask = torch.zeros(steps, batch_size)
        mask[count + 1:] = 1.0
        return Episode(inputs, targets, mask, level)

    def describe(self) -> str:
        return ("Priority sort: the model reads random 8-bit vectors, each with a priority between -1 and "
                "1, and must write out the highest-priority 80% of them, highest priority first.")


class LongTask(Task):
    """A task's episodes far past its training range: the paper's long-sequence curriculum (Rae et al. 2016,
    Fig. 3, supplementary F: the level h doubles when the training loss is low; associative recall past
    4,000 steps) and the long tests after it.

    The same episodes as the base task (same channels, same layout, same draws for the same generator), with
    levels in [base.min_level, base.longest_level] instead of up to 10× the training range; `max_level` is
    the curriculum's ceiling. Generated in time and memory linear in T (associative recall's distinct items
    by a set lookup), and bounded by MAX_STEP_ELEMENTS per batch like every task.
    """

    def __init__(self, base: Task, max_level: int):
        if not isinstance(max_level, int) or isinstance(max_level, bool) \
                or not base.min_level <= max_level <= base.longest_level:
            raise ValueError(f"{base.name}: a long curriculum's ceiling must be an integer in "
                             f"[{base.min_level}, {base.longest_level}], got {max_level!r}")
        self.base = base
        self.name, self.input_size, self.output_size = base.name, base.input_size, base.output_size
        self.min_level, self.max_level, self.longest_level = base.min_level, max_level, base.longest_level

    def check_level(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) \
                or not self.min_level <= level <= self.longest_level:
            raise ValueError(f"{self.name}: a long episode's level must be an integer in "
                             f"[{self.min_level}, {self.longest_level}], got {level!r}")

    def steps(self, level: int) -> int:
        return self.base.steps(level)

    def build(self, batch_size: int, level: int, generator: torch.Generator | None) -> Episode:
        return self.base.build(batch_size, level, generator)

    def describe(self) -> str:
        return self.base.describe()


TASKS: dict[str, type[Task]] = {
    "copy": CopyTask,
    "associative_recall": AssociativeRecallTask,
    "priority_sort": PrioritySortTask,
}


def range_levels(task: Task) -> list[int]:
    """The levels that level=None draws from, each equally likely: [min_level..max_level] for tasks whose
    default is uniform over the range (copy, associative recall); [max_level] for priority sort (n = 20).
    Validation spreads its episodes over them, and samviz.per_level checks a model at each."""
    if type(task).default_level is Task.default_level:
        return list(range(task.min_level, task.max_level + 1))
    generator = torch.Generator().manual_seed(0)
    return sorted({int(task.default_level(generator)) for _ in range(64)})


def get(name: str) -> Task:
    """The task called `name` (one of NAMES); ValueError listing the valid names otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(NAMES)}")
    return TASKS[name]()


def loss(logits: torch.Tensor, episode: Episode) -> torch.Tensor:
    """Mean binary cross-entropy (with logits) over the masked steps and all output bits.

    logits: [T, B, output_size]. Returns a differentiable scalar.
    """
    per_bit = functional.binary_cross_entropy_with_logits(logits, episode.targets, reduction="none")
    weights = episode.mask.unsqueeze(-1).to(per_bit.dtype)  # [T, B, 1]
    scored_bits = weights.sum() * logits.shape[-1]
    return (per_bit * weights).sum() / scored_bits.clamp(min=1.0)


def wrong_bits(logits: torch.Tensor, episode: Episode) -> torch.Tensor:
    """Per-bit errors on the masked steps: float32 [T, B, output_size], 1.0 where a bit is wrong.

    A bit's prediction is sigmoid(logit) > 0.5, i.e. logit > 0.
    """
    predictions = (logits.detach() > 0).to(torch.float32)
    wrong = (predictions != episode.targets).to(torch.float32)
    return wrong * episode.mask.unsqueeze(-1)


def bit_errors_per_sequence(logits: torch.Tensor, episode: Episode) -> float:
    """Wrong bits on the masked steps, summed over the batch and divided by the batch size.

    logits: [T, B, output_size]. Returns a Python float.
    """
    return float(wrong_bits(logits, episode).sum()) / logits.shape[1]


def bit_errors_per_step(logits: torch.Tensor, episode: Episode) -> torch.Tensor:
    """Wrong bits at each step for batch element 0 (zero outside the mask): float32 [T]."""
    return wrong_bits(logits, episode)[:, 0].sum(dim=-1)
