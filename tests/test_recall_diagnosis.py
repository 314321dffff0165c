"""scripts/recall_diagnosis.py: where a long-curriculum SAM's recall reads land. The queried item is found from the
episode alone, every read weight is accounted for (the query/answer rows, the rows written during the query, the
other rows), and observing the steps does not change the answers."""
from __future__ import annotations

import importlib.util
from pathlib import Path
import subprocess
import sys

import pytest
import torch

from samviz import tasks as tasks_module
from samviz.model import build_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("recall_diagnosis_script", ROOT / "scripts" / "recall_diagnosis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("level", [2, 3, 17])
def test_the_queried_item_is_the_one_before_the_answer(script, level):
    task = tasks_module.get("associative_recall")
    episode = task.sample(6, level, torch.Generator().manual_seed(40 + level))
    places = script.query_positions(episode.inputs, level)
    assert all(0 <= p < level - 1 for p in places)              # never the last item: it has no successor
    answer_step = 4 * level + 5
    for b, place in enumerate(places):
        following = episode.inputs[4 * (place + 1) + 1:4 * (place + 2), b, :6]           # [3, 6] its successor
        assert torch.equal(following, episode.targets[answer_step:answer_step + 3, b])


def test_an_episode_whose_query_is_not_in_its_list_is_refused(script):
    episode = tasks_module.get("associative_recall").sample(2, 4, torch.Generator().manual_seed(1))
    inputs = episode.inputs.clone()
    inputs[4 * 4 + 1, 1, :6] = 1 - inputs[4 * 4 + 1, 1, :6]       # batch element 1's query item: not in its list
    with pytest.raises(ValueError, match="not in its list"):
        script.query_positions(inputs, 4)


def test_every_read_weight_is_placed_and_observing_leaves_the_answers_alone(script):
    model = build_model("sam", input_size=8, output_size=6, memory_slots=4096, word_size=8, heads=2, k=4,
                        controller_size=16, index="faiss", initial_rows="zero", seed=5).eval()
    level = 6
    episode = tasks_module.get("associative_recall").sample(3, level, torch.Generator().manual_seed(9))
    records = script.diagnose_batch(model, episode, level)
    with torch.no_grad():
        plain = tasks_module.wrong_bits(model.run(episode.inputs)[0], episode).sum(dim=(0, 2))
    assert [r["bit_errors"] for r in records] == [float(v) for v in plain]
    places = script.query_positions(episode.inputs, level)
    for record, place in zip(records, places, strict=True):
        assert record["place"] == place / level
        assert [s["t"] for s in record["steps"]] == list(range(8))      # query delimiters, query item, answer
        for step in record["steps"]:
            total = step["weight_on_target"] + step["weight_on_own"] + step["weight_on_other"]
            assert total == pytest.approx(step["weight_on_target"] + step["weight_on_own"] + sum(
                step[f"weight_on_{kind}"] for kind in ("near", "before", "far", "unlisted")), abs=1e-5)
            assert total == pytest.approx(1.0, abs=1e-5)                 # each head's K weights sum to 1
            assert len(step["changed"]) == 8                             # two items' fresh rows, one per step
            assert all(-1e-6 <= c <= 2 + 1e-6 for c in step["changed"])
        assert record["weight_on_target"] == pytest.approx(sum(s["weight_on_target"] for s in record["steps"][5:]) / 3)


def test_bad_arguments_are_one_clear_line(script):
    done = subprocess.run([sys.executable, "scripts/recall_diagnosis.py", "--checkpoint", "nowhere", "--levels",
                           "0", "--episodes", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--levels: each in [1, 20000]" in done.stderr and "Traceback" not in done.stderr


def test_the_raw_read_strength_is_read_before_the_clip_and_the_key_strength_after_it(script):
    """A clip that binds (±0.01): β = 1 + softplus(clamp(raw)) lies in [1 + softplus(-0.01), 1 + softplus(0.01)]
    (1.6882, 1.6982 by hand) while the raw value recorded is the controller's own, past the clip somewhere."""
    model = build_model("sam", input_size=8, output_size=6, memory_slots=4096, word_size=8, heads=2, k=4,
                        controller_size=16, index="faiss", initial_rows="zero", seed=5, interface_clip=0.01).eval()
    level = 5
    episode = tasks_module.get("associative_recall").sample(2, level, torch.Generator().manual_seed(3))
    records = script.diagnose_batch(model, episode, level)
    raws = [v for r in records for s in r["steps"] for v in s["raw_strength"]]
    betas = [v for r in records for s in r["steps"] for v in s["strength"]]
    assert len(raws) == len(betas) == 2 * 8 * 2                       # episodes × query/answer steps × heads
    assert any(abs(v) > 0.01 for v in raws)
    for raw, beta in zip(raws, betas, strict=True):
        expected = 1.6982 if raw >= 0.01 else 1.6882 if raw <= -0.01 else None
        assert 1.6882 - 1e-4 <= beta <= 1.6982 + 1e-4
        if expected is not None:
            assert beta == pytest.approx(expected, abs=1e-4)
    assert records[0]["raw_strength"] == [v for s in records[0]["steps"][5:] for v in s["raw_strength"]]
