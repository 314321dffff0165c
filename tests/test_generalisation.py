"""python -m samviz.generalisation: bit errors past the trained length, against chance, refused input first."""
from __future__ import annotations

import json

import pytest
import torch

from samviz import evaluate, generalisation
from samviz import tasks as tasks_module
import samviz.pretrained as pretrained


def test_chance_is_half_the_scored_bits_per_sequence():
    mask = torch.zeros(6, 2)
    mask[3:, 0] = 1                 # 3 answer steps in the first sequence, 1 in the second
    mask[5, 1] = 1
    episode = tasks_module.Episode(torch.zeros(6, 2, 3), torch.zeros(6, 2, 8), mask, 1)
    assert generalisation.chance_bit_errors(episode) == (4 * 8 / 2) / 2     # 16 guessed-wrong bits over 2 sequences


def test_recall_chance_is_one_item_of_three_six_bit_vectors_guessed():
    task = tasks_module.get("associative_recall")
    episode = task.sample(batch_size=4, level=12, generator=torch.Generator().manual_seed(0))
    assert generalisation.chance_bit_errors(episode) == 3 * 6 / 2


def test_score_is_the_evaluation_s_bit_errors_on_the_same_episodes():
    model = pretrained.load("ntm-associative_recall")
    task = tasks_module.get("associative_recall")
    errors, _ = generalisation.score(model, task, 4, episodes=16, seed=5, batch_size=16)
    reference = evaluate.bit_errors(model, task, 4, batches=1, batch_size=16, seed=5 + 4)
    assert errors == pytest.approx(reference)


def test_a_small_run_writes_the_table_and_the_rows(tmp_path, capsys):
    out = tmp_path / "curve.json"
    assert generalisation.main(["--levels", "2,12", "--models", "sam-associative_recall", "--slots", "sam=256",
                                "--episodes", "4", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["level"], r["memory_slots"], r["episodes"]) for r in rows] == [(2, 256, 4), (12, 256, 4)]
    assert all(0 <= r["bit_errors"] <= 2 * r["chance"] for r in rows)
    table = capsys.readouterr().out
    assert "| sam-associative_recall | 256 | " in table and "| chance (guessing) | | 9.0 | 9.0 |" in table


@pytest.mark.parametrize("arguments, message", [
    (["--levels", "2,61"], "level must be in [2, 60]"),                  # past 10× the trained 6 items
    (["--levels", "x"], "whole numbers"),
    (["--levels", "2", "--slots", "sam=4194304"], "memory slots must be"),
    (["--levels", "2", "--slots", "ntm=65536"], "ntm is dense"),
    (["--levels", "2", "--slots", "rnn=16"], "unknown model kind"),
    (["--levels", "2", "--models", "sam-copy"], "not a shipped associative_recall checkpoint"),
    (["--levels", "2", "--episodes", "0"], "must be an integer"),
])
def test_bad_input_is_refused_with_a_message_before_anything_loads(arguments, message, capsys):
    with pytest.raises(SystemExit) as stop:
        generalisation.main(arguments)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
