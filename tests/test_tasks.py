"""Checks of samviz.tasks: each episode is decoded independently and compared with what the task says."""
import pytest
import torch

from samviz import tasks


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def perfect_logits(episode: tasks.Episode) -> torch.Tensor:
    """Logits whose thresholded bits equal the targets: +10 for a 1 bit, -10 for a 0 bit."""
    return (episode.targets * 2 - 1) * 10


# ---------------------------------------------------------------- copy

@pytest.mark.parametrize("length", [1, 5, 20])
def test_copy_layout(length):
    task = tasks.get("copy")
    episode = task.sample(batch_size=3, level=length, generator=seeded(1))
    inputs, targets, mask = episode.inputs, episode.targets, episode.mask
    assert episode.level == length
    assert inputs.shape == (2 * length + 1, 3, 9) and targets.shape == (2 * length + 1, 3, 8)

    # presentation: bits only, values 0/1, no delimiter
    assert set(inputs[:length, :, :8].unique().tolist()) <= {0.0, 1.0}
    assert torch.all(inputs[:length, :, 8] == 0)
    # the delimiter is exactly at step L, alone
    delimiter_steps = (inputs[:, 0, 8] == 1).nonzero().flatten().tolist()
    assert delimiter_steps == [length]
    assert torch.all(inputs[length, :, :8] == 0)
    # answer phase: zero input, mask 1 exactly there, targets = inputs in order
    assert torch.all(inputs[length + 1:] == 0)
    expected_mask = torch.zeros(2 * length + 1, 3)
    expected_mask[length + 1:] = 1
    assert torch.equal(mask, expected_mask)
    for step in range(length):
        assert torch.equal(targets[length + 1 + step], inputs[step, :, :8])
    assert torch.all(targets[:length + 1] == 0)


def test_copy_bits_are_roughly_fair():
    episode = tasks.get("copy").sample(batch_size=16, level=20, generator=seeded(2))
    ones = episode.inputs[:20, :, :8].mean().item()
    assert 0.4 < ones < 0.6


# ---------------------------------------------------------------- associative recall

def decode_recall(inputs: torch.Tensor, element: int):
    """Read items, query and the expected answer of one batch element from the raw inputs."""
    column = inputs[:, element]
    item_starts = (column[:, 6] == 1).nonzero().flatten().tolist()
    query_marks = (column[:, 7] == 1).nonzero().flatten().tolist()
    items = [column[start + 1:start + 4, :6] for start in item_starts]
    assert len(query_marks) == 2 and query_marks[1] - query_marks[0] == 4
    query = column[query_marks[0] + 1:query_marks[0] + 4, :6]
    return items, query, query_marks


@pytest.mark.parametrize("count", [2, 4, 6])
def test_associative_recall_answer_is_item_after_query(count):
    task = tasks.get("associative_recall")
    batch = 8
    episode = task.sample(batch_size=batch, level=count, generator=seeded(3))
    steps = 4 * count + 1 + 3 + 1 + 3
    assert episode.inputs.shape == (steps, batch, 8) and episode.targets.shape == (steps, batch, 6)
    expected_mask = torch.zeros(steps, batch)
    expected_mask[-3:] = 1
    assert torch.equal(episode.mask, expected_mask)
    assert torch.all(episode.inputs[-3:] == 0)
    assert torch.all(episode.targets[:-3] == 0)

    for element in range(batch):
        items, query, query_marks = decode_recall(episode.inputs, element)
        assert len(items) == count
        assert query_marks == [4 * count, 4 * count + 4]
        # item delimiters every 4 steps from 0
        assert (episode.inputs[:, element, 6] == 1).nonzero().flatten().tolist() == list(range(0, 4 * count, 4))
        # all items distinct
        for first in range(count):
            for second in range(first + 1, count):
                assert not torch.equal(items[first], items[second])
        matches = [index for index, item in enumerate(items) if torch.equal(item, query)]
        assert len(matches) == 1
        position = matches[0]
        assert position < count - 1, "the query must have a successor"
        assert torch.equal(episode.targets[-3:, element], items[position + 1])


def test_associative_recall_query_covers_all_but_last():
    episode = tasks.get("associative_recall").sample(batch_size=64, level=3, generator=seeded(4))
    positions = set()
    for element in range(64):
        items, query, _ = decode_recall(episode.inputs, element)
        positions.add(next(index for index, item in enumerate(items) if torch.equal(item, query)))
    assert positions == {0, 1}


def test_associative_recall_items_distinct_when_collisions_are_forced(monkeypatch):
    # the first draw makes every item identical (all zeros); the task must redraw until all differ
    real_random_bits = tasks.random_bits
    calls = []

    def first_draw_all_zero(shape, generator):
        calls.append(shape)
        return torch.zeros(shape) if len(calls) == 1 else real_random_bits(shape, generator)

    monkeypatch.setattr(tasks, "random_bits", first_draw_all_zero)
    episode = tasks.get("associative_recall").sample(batch_size=3, level=6, generator=seeded(5))
    assert len(calls) > 1
    for element in range(3):
        items, _, _ = decode_recall(episode.inputs, element)
        assert len({tuple(item.flatten().tolist()) for item in items}) == 6


# ---------------------------------------------------------------- priority sort

@pytest.mark.parametrize("count", [2, 3, 7, 20])
def test_priority_sort_targets_are_top_m_by_priority(count):
    task = tasks.get("priority_sort")
    batch = 4
    episode = task.sample(batch_size=batch, level=count, generator=seeded(6))
    outputs = max(1, round(0.8 * count))
    steps = count + 1 + outputs
    assert episode.inputs.shape == (steps, batch, 10)
    expected_mask = torch.zeros(steps, batch)
    expected_mask[count + 1:] = 1
    assert torch.equal(episode.mask, expected_mask)
    assert torch.all(episode.inputs[count + 1:] == 0)
    assert (episode.inputs[:, 0, 9] == 1).nonzero().flatten().tolist() == [count]
    assert torch.all(episode.inputs[count, :, :9] == 0)

    for element in range(batch):
        pairs = [(episode.inputs[step, element, 8].item(), episode.inputs[step, element, :8].tolist())
                 for step in range(count)]
        assert all(-1.0 <= priority <= 1.0 for priority, _ in pairs)
        best = sorted(pairs, key=lambda pair: pair[0], reverse=True)[:outputs]
        expected = torch.tensor([vector for _, vector in best])
        assert torch.equal(episode.targets[count + 1:, element], expected)


def test_priority_sort_paper_setup():
    task = tasks.get("priority_sort")
    assert task.output_count(20) == 16
    episode = task.sample(batch_size=2, generator=seeded(7))  # level=None: always n = 20
    assert episode.level == 20
    assert episode.inputs.shape[0] == 20 + 1 + 16
    assert int(episode.mask[:, 0].sum()) == 16
    assert tasks.get("priority_sort").output_count(2) == 2 and task.output_count(1) == 1


# ---------------------------------------------------------------- sampling rules

@pytest.mark.parametrize("name", tasks.NAMES)
def test_same_seed_same_episode_different_seed_different(name):
    task = tasks.get(name)
    first = task.sample(batch_size=4, generator=seeded(11))
    second = task.sample(batch_size=4, generator=seeded(11))
    other = task.sample(batch_size=4, level=first.level, generator=seeded(12))
    assert first.level == second.level
    for a, b in zip(first[:3], second[:3], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first.inputs, other.inputs)


@pytest.mark.parametrize("name", ["copy", "associative_recall"])
def test_default_level_is_uniform_over_training_range(name):
    task = tasks.get(name)
    generator = seeded(13)
    levels = {task.sample(batch_size=1, generator=generator).level for _ in range(300)}
    assert levels == set(range(task.min_level, task.max_level + 1))


@pytest.mark.parametrize("name", tasks.NAMES)
def test_level_validation(name):
    task = tasks.get(name)
    with pytest.raises(ValueError, match="level"):
        task.sample(batch_size=1, level=task.min_level - 1)
    with pytest.raises(ValueError, match="level"):
        task.sample(batch_size=1, level=10 * task.max_level + 1)
    with pytest.raises(ValueError, match="batch_size"):
        task.sample(batch_size=0)
    # generalisation: beyond the training range is allowed
    assert task.sample(batch_size=1, level=2 * task.max_level, generator=seeded(0)).level == 2 * task.max_level


def test_copy_twice_trained_length():
    episode = tasks.get("copy").sample(batch_size=1, level=40, generator=seeded(0))
    assert episode.inputs.shape[0] == 81 and int(episode.mask.sum()) == 40


def test_get_and_metadata():
    with pytest.raises(ValueError, match="copy"):
        tasks.get("sorting")
    sizes = {name: (tasks.get(name).input_size, tasks.get(name).output_size) for name in tasks.NAMES}
    assert sizes == {"copy": (9, 8), "associative_recall": (8, 6), "priority_sort": (10, 8)}
    for name in tasks.NAMES:
        task = tasks.get(name)
        assert task.name == name
        assert isinstance(task.describe(), str) and task.describe().endswith(".")


# ---------------------------------------------------------------- metrics

def test_bit_errors_per_sequence():
    episode = tasks.get("copy").sample(batch_size=2, level=5, generator=seeded(8))
    logits = perfect_logits(episode)
    assert tasks.bit_errors_per_sequence(logits, episode) == 0.0

    flipped = logits.clone()
    for step, bit in [(6, 0), (8, 3), (10, 7)]:  # three answer-phase bits of element 0
        flipped[step, 0, bit] = -flipped[step, 0, bit]
    assert tasks.bit_errors_per_sequence(flipped, episode) == 1.5

    per_step = tasks.bit_errors_per_step(flipped, episode)
    assert per_step.shape == (11,)
    expected = torch.zeros(11)
    expected[[6, 8, 10]] = 1
    assert torch.equal(per_step, expected)

    # errors outside the mask (presentation and delimiter steps) are not counted
    outside = logits.clone()
    outside[:6] = -outside[:6] + 5
    assert tasks.bit_errors_per_sequence(outside, episode) == 0.0
    assert tasks.bit_errors_per_step(outside, episode).sum() == 0


def test_bit_errors_threshold_is_logit_zero():
    episode = tasks.get("copy").sample(batch_size=1, level=1, generator=seeded(9))
    # logit 0 means probability 0.5, which predicts 0: wrong exactly on the target 1 bits
    zeros = torch.zeros_like(episode.targets)
    assert tasks.bit_errors_per_sequence(zeros, episode) == episode.targets.sum().item()


def test_loss_differentiable_and_ordered():
    episode = tasks.get("associative_recall").sample(batch_size=2, level=3, generator=seeded(10))
    good = perfect_logits(episode).requires_grad_(True)
    bad = (-perfect_logits(episode)).requires_grad_(True)
    good_loss, bad_loss = tasks.loss(good, episode), tasks.loss(bad, episode)
    assert good_loss.dim() == 0 and good_loss < bad_loss
    bad_loss.backward()
    assert bad.grad is not None and bad.grad.abs().sum() > 0
    assert torch.all(bad.grad[:-3] == 0)  # unmasked steps get no gradient
    # zero logits: every scored bit costs log 2
    uniform = tasks.loss(torch.zeros_like(episode.targets), episode)
    assert torch.isclose(uniform, torch.log(torch.tensor(2.0)))


# ---------------------------------------------------------------- long episodes (LongTask)

def quadratic_distinct_items(task, count, batch_size, generator):
    """The reference: the O(count²) redraw loop the task used before its set lookup (same draws, same order)."""
    items = tasks.random_bits((count, batch_size, task.item_length, task.bits), generator)
    for index in range(1, count):
        while True:
            repeated = (items[:index] == items[index]).flatten(2).all(dim=2).any(dim=0)
            if not repeated.any():
                break
            items[index, repeated] = tasks.random_bits((int(repeated.sum()), task.item_length, task.bits), generator)
    return items


@pytest.mark.parametrize("count,batch,seed", [(6, 3, 0), (60, 8, 1), (3000, 2, 2)])
def test_distinct_items_equal_the_quadratic_reference(count, batch, seed):
    task = tasks.get("associative_recall")
    fast = task.draw_distinct_items(count, batch, seeded(seed))
    assert torch.equal(fast, quadratic_distinct_items(task, count, batch, seeded(seed)))
    if count == 3000:      # 3000 of 2^18 items: about 17 collisions per element were redrawn
        for element in range(batch):
            assert len({tuple(item.flatten().tolist()) for item in fast[:, element]}) == count


def test_distinct_items_equal_the_reference_when_collisions_are_forced(monkeypatch):
    # every first draw all zeros: each redraw loop runs; both versions must draw the same numbers in the same order
    real = tasks.random_bits

    def zeros_first(shape, generator):
        return torch.zeros(shape) if len(shape) == 4 else real(shape, generator)

    monkeypatch.setattr(tasks, "random_bits", zeros_first)
    task = tasks.get("associative_recall")
    assert torch.equal(task.draw_distinct_items(40, 4, seeded(9)), quadratic_distinct_items(task, 40, 4, seeded(9)))


def test_long_task_is_the_base_task_in_its_range_and_goes_far_past_it():
    base = tasks.get("associative_recall")
    long = tasks.LongTask(base, 1024)
    assert (long.min_level, long.max_level, long.longest_level) == (2, 1024, 100_000)
    for level in (2, 6, 60):
        a, b = base.sample(3, level, seeded(level)), long.sample(3, level, seeded(level))
        assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
    episode = long.sample(2, 2000, seeded(4))
    assert episode.inputs.shape == (4 * 2000 + 8, 2, 8) == (long.steps(2000), 2, 8)
    for element in range(2):
        items, query, marks = decode_recall(episode.inputs, element)
        assert len(items) == 2000 and len({tuple(i.flatten().tolist()) for i in items}) == 2000
        position = next(i for i, item in enumerate(items) if torch.equal(item, query))
        answer = episode.targets[marks[1] + 1:, element]
        assert torch.equal(answer, items[position + 1]) and int(episode.mask[:, element].sum()) == 3
    copy = tasks.LongTask(tasks.get("copy"), 1000).sample(1, 50_000, seeded(0))
    assert copy.inputs.shape == (100_001, 1, 9) and torch.equal(copy.targets[50_001:, 0], copy.inputs[:50_000, 0, :8])


def test_long_task_bounds_are_checked_before_anything_is_allocated():
    recall = tasks.get("associative_recall")
    with pytest.raises(ValueError, match="ceiling"):
        tasks.LongTask(recall, 100_001)
    with pytest.raises(ValueError, match="ceiling"):
        tasks.LongTask(recall, 1)
    long = tasks.LongTask(recall, 1024)
    with pytest.raises(ValueError, match="level"):
        long.sample(1, 100_001)
    with pytest.raises(ValueError, match="smaller batch"):       # 64 × 400,008 steps: 25.6 M step-elements
        long.sample(64, 100_000)
    with pytest.raises(ValueError, match="distinct items"):
        recall.draw_distinct_items(recall.distinct_items + 1, 1, seeded(0))
    with pytest.raises(ValueError, match="ceiling"):               # no long sort
        tasks.LongTask(tasks.get("priority_sort"), 201)
