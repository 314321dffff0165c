"""samviz.evaluate_scale (issue 13 item 1): argument checks before anything is loaded, the metrics on hand-made
searches (recall with ties, the share of the top-K similarity, "found none of its written rows"), the
table / JSON / README round trip, and one small real run (exact compared with exact)."""
import json

import pytest
import torch

from samviz import evaluate
from samviz import evaluate_scale as scale


# ----------------------------------------------------------------------------- arguments
@pytest.fixture
def nothing_loaded(monkeypatch):
    """Fail the test if a checkpoint or an index is touched."""
    import samviz.pretrained as pretrained

    def refuse(*args, **kwargs):
        raise AssertionError("loaded something before the arguments were checked")
    monkeypatch.setattr(pretrained, "load", refuse)
    monkeypatch.setattr(scale, "measure_build", refuse)
    monkeypatch.setattr(scale, "run_model", refuse)


@pytest.mark.parametrize("argv, message", [
    (["--slots", "100"], "--slots: each must be in [128, 1,048,576] (got 100)"),
    (["--slots", "2^21"], "--slots: each must be in [128, 1,048,576] (got 2,097,152)"),
    (["--slots", "4096,abc"], "--slots: 'abc' is not an integer"),
    (["--slots", "4096,,8192"], "--slots: a comma-separated list of integers"),
    (["--slots", "4096,4096"], "--slots: a value is repeated"),
    (["--slots", ",".join(str(4096 + i) for i in range(9))], "--slots: at most 8 values"),
    (["--episodes", "0"], "--episodes: each must be in [1, 1,024] (got 0)"),
    (["--episodes", "1,2"], "--episodes: give one value or one per --slots value (3), got 2"),
    (["--batch-size", "0"], "--batch-size: must be in [1, 64] (got 0)"),
    (["--batch-size", "x"], "--batch-size: 'x' is not an integer"),
    (["--batch-size", "16"], "--batch-size 16 × N 1,048,576 = 16,777,216 memory rows per pass; at most"),
    (["--seed", "-1"], "--seed: must be in [0,"),
    (["--models", "ntm-copy"], "--models: ntm-copy not among the shipped sparse models"),
    (["--models", ","], "--models: none given"),
])
def test_bad_arguments_are_refused_before_anything_is_loaded(argv, message, capsys, nothing_loaded):
    with pytest.raises(SystemExit) as exit_info:
        scale.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unwritable_output_is_refused_before_the_run(tmp_path, capsys, nothing_loaded, monkeypatch):
    (tmp_path / "a-file").write_text("")
    for argv, message in ((["--json", str(tmp_path)], "is a directory"),
                          (["--json", str(tmp_path / "a-file" / "scale.json")], "--json: cannot write")):
        with pytest.raises(SystemExit):
            scale.main(argv)
        assert message in capsys.readouterr().err
    monkeypatch.setattr(scale, "README_PATH", tmp_path / "missing" / "README.md")
    with pytest.raises(SystemExit):
        scale.main(["--write-readme"])
    assert "--write-readme: cannot write" in capsys.readouterr().err


def test_evaluate_scale_flag_forwards_its_arguments(capsys, nothing_loaded):
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--scale", "--slots", "64"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "python -m samviz.evaluate --scale" in err and "--slots: each must be in" in err


def test_defaults_and_per_n_episodes():
    args = scale.parse_args([])
    assert args.slots == [4096, 1 << 16, 1 << 20] and args.episodes == list(scale.EPISODES)
    assert set(args.models) == set(scale.sparse_models()) and args.models
    assert all(name.split("-")[0] in ("sam", "sdnc") for name in args.models)
    args = scale.parse_args(["--slots", "2^12,2^13", "--episodes", "3", "--models", "sam-copy"])
    assert args.slots == [4096, 8192] and args.episodes == [3, 3] and args.models == ["sam-copy"]


# ----------------------------------------------------------------------------- metrics
def _memory():
    """One batch element, 6 slots, W 2: rows at known angles. Slot 2 ties slot 1's cosine exactly."""
    rows = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]])
    return rows.unsqueeze(0)


def test_recall_counts_ids_and_ties_with_the_kth_similarity():
    memory = _memory()
    query = torch.tensor([[[1.0, 0.0]]])                          # cosines: 1, .8, .8, 0, -1, .6
    exact = torch.tensor([[[0, 1, 5]]])                            # exact top-3 (slot 1 and 2 tie at .8)
    same = scale.compare_search(exact, exact, query, memory)
    assert same.hits.tolist() == [[3]] and same.top1.tolist() == [[True]]
    tie = scale.compare_search(torch.tensor([[[0, 2, 5]]]), exact, query, memory)    # 2 ties 1: found
    assert tie.hits.tolist() == [[3]]
    miss = scale.compare_search(torch.tensor([[[0, 2, 3]]]), exact, query, memory)   # 3 (cos 0) < K-th .6
    assert miss.hits.tolist() == [[2]] and miss.top1.tolist() == [[True]]
    no_top = scale.compare_search(torch.tensor([[[1, 5, 3]]]), exact, query, memory)
    assert no_top.top1.tolist() == [[False]] and no_top.hits.tolist() == [[2]]


def test_share_of_the_top_k_similarity_and_its_summary():
    memory = _memory()
    query = torch.tensor([[[1.0, 0.0]]])
    exact = torch.tensor([[[0, 1, 5]]])                            # Σ = 1 + .8 + .6 = 2.4
    found = torch.tensor([[[0, 3, 5]]])                            # Σ = 1 + 0 + .6 = 1.6
    comparison = scale.compare_search(found, exact, query, memory)
    assert comparison.found_sum.item() == pytest.approx(1.6)
    assert comparison.exact_sum.item() == pytest.approx(2.4)
    stats = scale.new_stats()
    scale.add_comparison(stats, comparison, 3)
    # a second query whose exact top-K sums below zero is left out of the share (counted apart)
    negative = scale.compare_search(torch.tensor([[[4, 3, 2]]]), torch.tensor([[[4, 3, 2]]]),
                                    torch.tensor([[[-1.0, 0.0]]]), memory)     # Σ = 1 + 0 − .8 > 0
    assert negative.exact_sum.item() == pytest.approx(0.2)
    opposite = scale.compare_search(torch.tensor([[[3, 4, 2]]]), torch.tensor([[[3, 4, 2]]]),
                                    torch.tensor([[[0.0, -1.0]]]), memory)     # Σ = −1 + 0 + .6 < 0
    scale.add_comparison(stats, opposite, 3)
    summary = scale.summarise([stats])
    assert summary["queries"] == 2 and summary["similarity_queries"] == 1
    assert summary["similarity_share"] == pytest.approx(1.6 / 2.4)
    assert summary["recall"] == pytest.approx((2 + 3) / 6) and summary["top1_missed"] == 0


def test_found_none_of_the_written_rows_it_should_have_found():
    memory = _memory()
    query = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    exact = torch.tensor([[[0, 1, 5], [3, 5, 1], [0, 1, 5]]])
    found = torch.tensor([[[0, 3, 4], [3, 5, 1], [0, 2, 4]]])
    written = torch.zeros(1, 6, dtype=torch.bool)
    written[0, 1] = True                                           # slot 1 written; slot 2 ties it (not written)
    comparison = scale.compare_search(found, exact, query, memory, written)
    # query 0 should find slot 1 and found no written row: found none; query 1 found it; query 2 found
    # slot 2, whose cosine ties slot 1's: interchangeable for the read, so not "none"
    assert comparison.should.tolist() == [[True, True, True]]
    assert comparison.found_none.tolist() == [[True, False, False]]
    nothing_written = scale.compare_search(found, exact, query, memory, torch.zeros(1, 6, dtype=torch.bool))
    assert not nothing_written.should.any() and not nothing_written.found_none.any()


# ----------------------------------------------------------------------------- output
def _row(**changes):
    row = {"model": "sam-copy", "kind": "sam", "task": "copy", "slots": 4096, "episodes": 2, "batch_size": 2,
           "seed": 1, "bit_errors_exact": 0.5, "bit_errors_faiss": 0.75, "recall": 0.9876, "top1": 1.0,
           "top1_missed": 0, "similarity_share": 0.99991, "written_expected": 10, "found_none": 1,
           "exact_ms_per_step": 3.21, "faiss_ms_per_step": 4.56, "exact_index_ms_per_step": 1.0,
           "faiss_index_ms_per_step": 2.0, "build_cold_s": 2.5, "build_from_disk_s": 2.4, "build_reset_s": 0.01}
    return {**row, **changes}


def test_table_json_and_readme_round_trip(tmp_path):
    rows = [_row(), _row(model="sdnc-copy", slots=1 << 20, recall=None, similarity_share=None)]
    settings = {"command": "python -m samviz.evaluate_scale --slots 4096", "seed": 1, "batch_size": 2,
                "created": "now", "wall_s": 60}
    table = scale.markdown_table(rows, settings)
    assert "| sam-copy | 4,096 | 2 | 0.750 / 0.500 | 0.988 | 1.000 (0) | 0.9999 | 1 of 10 | 4.6 / 3.2 " in table
    assert "| sdnc-copy | 1,048,576 | 2 | 0.750 / 0.500 | – |" in table
    path = tmp_path / "bench" / "scale.json"
    scale.write_json(rows, settings, path)
    loaded, loaded_settings = scale.load_rows(path)
    assert loaded == rows and loaded_settings == settings
    assert scale.markdown_table(loaded, loaded_settings) == table
    readme = tmp_path / "README.md"
    readme.write_text(f"# Models\n\n{evaluate.README_BEGIN}\nthe other table\n{evaluate.README_END}\n\ntail\n")
    scale.write_readme(table, readme)
    scale.write_readme(table, readme)                              # twice: replaced, not appended again
    text = readme.read_text()
    assert text.count(scale.README_BEGIN) == 1 and text.count(table) == 1
    assert f"{evaluate.README_BEGIN}\nthe other table\n{evaluate.README_END}\n\ntail\n" in text


def test_load_rows_refuses_other_files(tmp_path):
    assert scale.load_rows(tmp_path / "absent.json") == ([], {})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not readable as JSON"):
        scale.load_rows(bad)
    bad.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="not a samviz.evaluate_scale result"):
        scale.load_rows(bad)
    bad.write_text(json.dumps({"format": scale.FORMAT, "rows": [{"model": "sam-copy"}]}))
    with pytest.raises(ValueError, match="row 0 lacks slots"):
        scale.load_rows(bad)


def test_the_shipped_results_load():
    rows, settings = scale.load_rows()
    if not scale.SCALE_JSON.is_file():
        pytest.fail("assets/bench/scale.json is missing: a shipped asset (python -m samviz.evaluate --scale)")
    assert rows and {row["model"] for row in rows} <= set(scale.sparse_models())
    # made by the evidence base's command (samviz.results, part "scale") or by the module's own CLI
    assert settings["command"].startswith(("python -m samviz.results", "python -m samviz.evaluate"))


# ----------------------------------------------------------------------------- a real run
def test_exact_compared_with_exact_finds_everything():
    """The measurement on a real model's memory: the exact index checked against an exact index finds every
    row (recall 1, share 1, found none 0), and the checked pass's bit errors are the plain pass's."""
    torch.set_num_threads(1)
    result = scale.run_exact_vs_exact("sam-copy", 256, episodes=2, batch_size=2)
    assert result["queries"] > 0 and result["written_expected"] > 0
    assert result["recall"] == 1.0 and result["top1"] == 1.0 and result["similarity_share"] == pytest.approx(1.0)
    assert result["found_none"] == 0
    assert result["bit_errors_checked"] == result["bit_errors"]


def test_a_small_real_run_end_to_end(tmp_path, capsys):
    """One model at 4,096 slots, one episode: the CLI writes a table and a JSON that load back (a few
    seconds: the cold build at 4,096 slots is small)."""
    path = tmp_path / "scale.json"
    assert scale.main(["--models", "sam-copy", "--slots", "4096", "--episodes", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    rows, settings = scale.load_rows(path)
    assert len(rows) == 1 and rows[0]["slots"] == 4096 and rows[0]["episodes"] == 1
    assert 0 <= rows[0]["recall"] <= 1 and rows[0]["build_cold_s"] > 0
    assert scale.markdown_table(rows, settings) == out


def test_build_is_measured_cold_then_from_disk_then_in_process(tmp_path, monkeypatch):
    """The cold stage builds into a temporary directory, the second reads it back, the third is in process;
    $SAMVIZ_INDEX_CACHE is left as it was and the shared cache untouched. With the shared cache, a structure
    found there counts as a read. (4,096 slots of word size 4, cached on disk from that size for the test.)"""
    from samviz.memory import index_parts
    monkeypatch.setenv(index_parts.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(index_parts, "DISK_CACHE_FROM", 4096)
    cold = scale.measure_build(4096, 4, batch_size=1)
    assert cold["build_cache"] == "cold" and cold["build_cold_s"] > 0 and cold["build_from_disk_s"] > 0
    assert cold["build_reset_s"] >= 0 and "HNSW" in cold["index"]
    assert list(tmp_path.iterdir()) == [] and str(tmp_path) == __import__("os").environ[index_parts.CACHE_ENV]
    shared = scale.measure_build(4096, 4, batch_size=1, cache="shared")     # builds into tmp_path
    assert shared["build_cold_s"] > 0 and shared["build_from_disk_s"] is None and list(tmp_path.iterdir())
    again = scale.measure_build(4096, 4, batch_size=1, cache="shared")      # reads it back
    assert again["build_cold_s"] is None and again["build_from_disk_s"] > 0


def test_every_row_key_has_a_meaning():
    row = scale.run_model("sam-copy", 256, episodes=1, batch_size=1)
    row.update(scale.measure_build(256, row["word_size"], batch_size=1))
    assert set(row) <= set(scale.COLUMNS), set(row) - set(scale.COLUMNS)
    assert set(scale.ROW_KEYS) <= set(row)


def test_a_zero_rows_start_builds_nothing(tmp_path, monkeypatch):
    """A model whose memory starts from zero rows (the shipped sam-associative_recall) needs no structure over
    its untouched rows: the measured reset writes nothing to the disk cache and describes no graph over the
    initial rows (the graph over older *written* rows is part of every faiss index, built only once rows age)."""
    from samviz.memory import index_parts
    monkeypatch.setenv(index_parts.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(index_parts, "DISK_CACHE_FROM", 4096)
    zero = scale.measure_build(4096, 4, batch_size=1, cache="shared", start="zero")
    initial_part = zero["index"].split(" + ")[0]
    assert list(tmp_path.iterdir()) == [] and "zero initial rows" in initial_part and "HNSW" not in initial_part
    jittered = scale.measure_build(4096, 4, batch_size=1, cache="shared")
    assert list(tmp_path.iterdir()) and "HNSW" in jittered["index"].split(" + ")[0]
