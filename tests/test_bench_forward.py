"""python -m samviz.bench.forward: Compare's measure swept over N — bounded input, rows the pages can read."""
import json

import pytest

from samviz.bench import forward


@pytest.mark.parametrize("argv, message", [
    (["--models", "lstm"], "choose models from"),
    (["--tasks", "sorting"], "choose tasks from"),
    (["--slots", "2^21"], "sizes up to 1,048,576"),
    (["--slots", "2^100000"], "out of range"),
    (["--max-seconds", "0"], "--max-seconds must be in"),
    (["--max-seconds", "nan"], "--max-seconds must be in"),
])
def test_bad_arguments_are_refused_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        forward.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_tiny_sweep_writes_rows_the_pages_read(tmp_path):
    out = tmp_path / "forward.jsonl"
    assert forward.main(["--models", "ntm,sam-exact", "--tasks", "copy", "--slots", "32,64", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["model"], r["index"], r["slots"]) for r in rows] == [
        ("ntm", None, 32), ("ntm", None, 64), ("sam", "exact", 32), ("sam", "exact", 64)]
    assert all(r["status"] == "ok" and r["ms_per_step"] > 0 and r["batch"] == 1 and r["measure"] == "forward"
               and r["task"] == "copy" and r["command"].startswith("python -m samviz.bench.forward") for r in rows)
    assert len(forward.read_forward_rows(out)) == 4
    assert forward.read_forward_rows(tmp_path / "missing.jsonl") == []


def test_the_dnc_stops_at_its_sweep_limit(tmp_path):
    out = tmp_path / "forward.jsonl"
    big = forward.DEFAULT_MAX_SLOTS["dnc"] * 2
    forward.main(["--models", "dnc", "--tasks", "copy", "--slots", str(big), "--out", str(out)])
    row = json.loads(out.read_text())
    assert row["status"] == "skipped" and "limit" in row["reason"] and "ms_per_step" not in row
