"""samviz.results: the code hash (exactly which files, docstrings and comments not counted), current / stale /
foreign rows, a tiny plan run end to end (provenance in every row, resumable, the budget stop, --check)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from samviz.results import PARTS, AppRows, parts, provenance, store
from samviz.results import __main__ as cli

THIS = provenance.this_machine()


# ------------------------------------------------------------------------------------------ the code hash

def test_docstrings_comments_and_formatting_do_not_count_but_code_does():
    base = 'def f(x):\n    """Measured 3.2 ms on a Xeon."""\n    return x + 1  # why\n'
    reworded = 'def f(x):\n    """Measured 2.9 ms on an EPYC; see docs/."""\n\n    return x+1\n'
    changed = 'def f(x):\n    """Measured 3.2 ms on a Xeon."""\n    return x + 2  # why\n'
    assert provenance.strip_docstrings(base) == provenance.strip_docstrings(reworded)
    assert provenance.strip_docstrings(base) != provenance.strip_docstrings(changed)
    only_doc = 'class A:\n    """Only a docstring."""\n'
    assert provenance.strip_docstrings(only_doc) == "class A:\n    pass"


def test_every_listed_file_exists_and_each_kind_covers_its_core():
    from samviz.kinds import KINDS
    for part in provenance.PART_CODE:
        for kind in (None, *KINDS):
            for name in provenance.code_files(part, kind):
                assert (provenance.ROOT / name).is_file(), name
    for kind, spec in KINDS.items():
        core = spec.core[0].replace(".", "/") + ".py"
        assert core in provenance.code_files("bench", kind), (kind, core)
    # a dense kind's rows do not depend on the sparse index; a sparse kind's do
    assert "samviz/memory/index.py" not in provenance.code_files("bench", "ntm")
    assert "samviz/memory/index.py" in provenance.code_files("bench", "sam")
    assert "samviz/memory/links.py" in provenance.code_files("bench", "sdnc")
    with pytest.raises(ValueError):
        provenance.code_files("nonsense")


def test_the_hash_changes_with_a_covered_file_and_only_then(tmp_path, monkeypatch):
    for name in provenance.code_files("bench", "ntm") + ("samviz/memory/index.py",):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((provenance.ROOT / name).read_text())
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    before = provenance.code_hash("bench", "ntm")
    ntm = tmp_path / "samviz/memory/ntm.py"
    ntm.write_text(ntm.read_text() + "\n# a comment\n")
    assert provenance.code_hash("bench", "ntm") == before                  # a comment: same code
    index = tmp_path / "samviz/memory/index.py"
    index.write_text(index.read_text() + "\nEXTRA = 1\n")
    assert provenance.code_hash("bench", "ntm") == before                  # not a file the NTM runs
    assert provenance.code_hash("bench", "sam") != provenance.code_hash("bench", "ntm")
    ntm.write_text(ntm.read_text() + "\nEXTRA = 1\n")
    assert provenance.code_hash("bench", "ntm") != before                  # code the NTM runs


def test_a_checkpoint_counts_by_its_weights_and_config(tmp_path, monkeypatch):
    folder = tmp_path / "sam-copy"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "meta.json").write_text(json.dumps({"config": {"kind": "sam"}, "metrics": {"bit_errors": 1}}))
    monkeypatch.setattr(provenance, "PRETRAINED_DIR", tmp_path)
    first = provenance.checkpoint_digest("sam-copy")
    (folder / "meta.json").write_text(json.dumps({"config": {"kind": "sam"}, "metrics": {"bit_errors": 0}}))
    assert provenance.checkpoint_digest("sam-copy") == first               # evaluation results: not counted
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert provenance.checkpoint_digest("sam-copy") != first


# ------------------------------------------------------------------------------------------ row status

def stamped(machine=THIS, **extra) -> dict:
    row = provenance.stamp({"model": "ntm", "slots": 32}, "bench", "ntm", "test", {"model": 0})
    return {**row, "machine": machine, **extra}


def test_current_stale_and_foreign_rows():
    assert store.code_status(stamped()) == store.CURRENT
    assert store.code_status(stamped(code_hash="0" * 16)) == store.STALE
    assert store.code_status({"model": "ntm", "slots": 32}) == store.STALE          # no provenance at all
    assert store.code_status(stamped(machine="another CPU")) == store.FOREIGN
    assert "no provenance" in store.why_stale({"model": "ntm"})
    row = stamped()
    assert row["commit"] == provenance.commit() and row["machine_info"]["cores"] >= 1
    assert {"cpu", "torch", "faiss", "python"} <= set(row["machine_info"])


def test_app_rows_keep_one_machine_and_count_the_rest():
    rows = [stamped(), stamped(machine="another CPU"), stamped(machine="another CPU"), stamped(code_hash="0" * 16)]
    view = AppRows(rows)
    assert view.machine == THIS and view.this_machine
    assert len(view.shown) == 1 and len(view.other_machines) == 2 and len(view.stale) == 1
    note = view.note()
    assert "this machine" in note and "1 rows from other code" in note and "2 rows measured on other" in note
    elsewhere = AppRows(rows[1:])                              # nothing from this machine: the other one, labelled
    assert elsewhere.machine == "another CPU" and not elsewhere.this_machine
    assert "another machine" in elsewhere.note()


# ------------------------------------------------------------------------------------------ a tiny plan, end to end

@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """The bench part on a tiny plan (NTM and exact SAM at 32 and 64 slots, T = 2), writing into tmp_path."""
    monkeypatch.setitem(parts.BENCH_PLANS, "quick", {"sizes": {2: (5, 6)}, "limit_s": 30.0})
    monkeypatch.setattr(parts, "BENCH_MODELS", ("ntm", "sam-exact"))
    monkeypatch.setattr(parts, "REPEAT_TIME_S", 0.01)
    monkeypatch.setattr(PARTS["bench"], "path", tmp_path / "results.jsonl")
    monkeypatch.setattr(parts, "MANIFEST", tmp_path / "manifest.json")
    monkeypatch.setattr(cli, "MANIFEST", tmp_path / "manifest.json")
    import samviz.results as results
    from samviz.results import readme
    monkeypatch.setattr(results, "MANIFEST", tmp_path / "manifest.json")
    monkeypatch.setattr(readme, "README", tmp_path / "README.md")          # a finished part writes its table here
    monkeypatch.setattr(readme, "PRETRAINED_README", tmp_path / "pretrained-README.md")
    return tmp_path


@pytest.mark.slow
def test_a_tiny_plan_runs_resumes_and_checks(tiny, capsys):
    assert cli.run("quick", ["bench"], None, False, "python -m samviz.results run --plan quick") == 0
    rows = store.read_jsonl(tiny / "results.jsonl")
    keys = {PARTS["bench"].key(r) for r in rows}
    assert keys == {k for item in PARTS["bench"].items("quick") for k in item.keys} and len(rows) == 6
    for row in rows:
        assert store.is_current(row) and row["status"] == "ok" and row["repeats"] >= parts.MIN_REPEATS
        assert row["ms_min"] <= row["ms_per_step"] <= row["ms_max"]
        assert row["command"] == "python -m samviz.results run --plan quick" and row["seeds"] == {"model": 0,
                                                                                                 "inputs": 0}
        assert (row.get("initial_rows") in parts.STARTS) == (row["model"] == "sam")
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert manifest["plan"] == "quick" and manifest["parts"]["bench"]["complete"]
    # every row carries the time its item took, and the plan's time is their sum
    assert all(r["item_seconds"] > 0 for r in rows)
    seconds, unknown = cli.plan_seconds(PARTS["bench"], "quick")
    assert unknown == 0 and seconds == pytest.approx(sum(r["item_seconds"] for r in rows))

    # nothing left to do: a second run measures nothing and leaves the rows as they were
    capsys.readouterr()
    assert cli.run("quick", ["bench"], None, False, "again") == 0
    assert "0 item(s) to measure" in capsys.readouterr().err
    assert store.read_jsonl(tiny / "results.jsonl") == rows

    # --check: nothing stale, nothing missing; then one stale row and one missing row, both listed
    capsys.readouterr()
    assert cli.check("quick", 5, ["bench"]) == 0
    assert "0 stale, 0 missing" in capsys.readouterr().out
    rows[0]["code_hash"] = "0" * 16
    store.write_jsonl(tiny / "results.jsonl", rows[:-1])
    assert cli.check("quick", 5, ["bench"]) == 1
    out = capsys.readouterr().out
    assert "1 stale, 1 missing" in out and "stale: ('ntm', 32" in out and "missing: ('sam-exact', 64" in out

    # the budget: a run stopped before its first item says so (exit 4) and leaves the rest to the next run
    assert cli.run("quick", ["bench"], 1e-9, False, "budget") == cli.BUDGET_STOP
    assert "item(s) left" in capsys.readouterr().err
    assert cli.run("quick", ["bench"], None, False, "resume") == 0
    resumed = store.read_jsonl(tiny / "results.jsonl")
    assert len(resumed) == 6 and all(store.is_current(r) for r in resumed)
    assert sorted(r["command"] for r in resumed).count("resume") == 2        # only the stale and the missing row


def test_a_size_predicted_too_slow_or_after_a_failure_is_skipped_with_its_reason(tiny, monkeypatch):
    measured = [stamped(model="ntm", index=None, slots=n, steps=2, status="ok", ms_per_step=ms, batch=8,
                        heads=4, k=4, word_size=32) for n, ms in ((32, 10.0), (64, 20.0))]
    bench = PARTS["bench"]
    context = parts.Context(plan="quick", command="test")
    monkeypatch.setitem(parts.BENCH_PLANS, "quick", {"sizes": {2: (5, 6, 7)}, "limit_s": 0.15})
    item = next(i for i in bench.items("quick") if i.params["label"] == "ntm" and i.params["slots"] == 128)
    # 5 runs × 2 steps × 40 ms (slope 1 through 10 and 20 ms) = 0.4 s > 0.15 s: not run
    row, = bench.run(item, context, {bench.key(r): r for r in measured})
    assert row["status"] == parts.SKIPPED and "5 timed runs predicted to take 0.4 s" in row["reason"]
    assert "20 ms/step at N = 64, log-log slope 1.00" in row["reason"] and "0.15 s per configuration" in row["reason"]
    failed = [measured[0], {**measured[1], "status": "timeout", "ms_per_step": None}]
    row, = bench.run(item, context, {bench.key(r): r for r in failed})
    assert row["status"] == parts.SKIPPED and "the smaller N = 64 was timeout" in row["reason"]
    assert store.is_current(row)


def test_the_cli_refuses_bad_arguments(capsys):
    for argv in (["run", "--only", "nonsense"], ["run", "--budget-min", "-3"], ["run", "--budget-min", "nan"],
                 ["run", "--plan", "huge"], []):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2
    assert "unknown part(s) nonsense" in capsys.readouterr().err


def test_every_part_plans_rows_with_distinct_keys():
    for name, part in PARTS.items():
        for plan in parts.PLANS:
            keys = [k for item in part.items(plan) for k in item.keys]
            assert keys and len(keys) == len(set(keys)), (name, plan)
    full, quick = (len(PARTS["bench"].items(p)) for p in ("full", "quick"))
    assert quick < full
    # the full grid: every power of two from 2^5 to 2^20, T 10/100/1000, both starts where a kind has the choice
    sizes = {(i.params["steps"], i.params["slots"]) for i in PARTS["bench"].items("full")}
    assert sizes == {(t, 1 << p) for t in (10, 100, 1000) for p in range(5, 21)}
    starts = {i.params["start"] for i in PARTS["bench"].items("full") if i.params["label"].startswith("sdnc")}
    assert starts == {"zero", "jittered"}


def test_the_learning_grid_summaries_are_the_learning_curves_modules_figures(tmp_path, monkeypatch):
    from samviz import learning_curves
    monkeypatch.setattr(PARTS["learning_grids"], "path", tmp_path / "grids.json")
    monkeypatch.setattr(cli, "MANIFEST", tmp_path / "manifest.json")       # never the shipped manifest
    assert cli.run("full", ["learning_grids"], None, False, "test") == 0
    rows = json.loads((tmp_path / "grids.json").read_text())
    grids = learning_curves.exported_grids()
    assert {r["grid"] for r in rows} == set(grids)
    for row in rows:
        group = next(g for g in learning_curves.group(grids[row["grid"]])
                     if (g.model, g.task, g.variant) == (row["model"], row["task"], row["variant"]))
        assert row["median_updates_to_target"] == group.median_updates_to_target
        assert row["reached"] == group.reached and row["seeds"] == [r.seed for r in group.runs]
        assert store.is_current(row) and row["code"]["data"] == [f"assets/learning_curves/{row['grid']}.jsonl"]


def test_paths_in_the_manifest_are_relative():
    assert cli._relative(provenance.ROOT / "assets" / "x.json") == "assets/x.json"
    assert cli._relative(Path("/somewhere/else.json")) == "/somewhere/else.json"


def test_the_parts_write_where_the_evaluation_modules_and_the_app_read():
    from samviz import bench, evaluate_scale, generalisation, per_level
    assert PARTS["bench"].path == Path(bench.SHIPPED_RESULTS)
    assert PARTS["forward"].path == Path(bench.FORWARD_RESULTS)
    assert PARTS["scale"].path == evaluate_scale.SCALE_JSON
    assert PARTS["per_level"].path == per_level.JSON_PATH
    assert PARTS["generalisation"].path == generalisation.CURVES_DIR / f"{parts.GENERALISATION_TASK}.json"


def test_a_failed_or_skipped_row_is_looked_at_again_but_a_refused_one_is_not():
    assert store.is_done(stamped(status="ok")) and store.is_done(stamped(status="refused"))
    assert store.is_done(stamped(status="timeout"))
    assert not store.is_done(stamped(status="failed"))           # a crash or an out-of-memory kill: try again
    assert not store.is_done(stamped(status=parts.SKIPPED))      # predicted again, with that run's limit
    assert not store.is_done(stamped(code_hash="0" * 16, status="ok")) and not store.is_done(None)


def test_match_picks_items_by_label(tiny, capsys):
    assert cli.main(["run", "--plan", "quick", "--only", "bench", "--match", "^ntm N=2\\^5 ", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "would measure ntm N=2^5 T=2" in err and err.count("would measure") == 1
    with pytest.raises(SystemExit):
        cli.main(["run", "--match", "(unclosed"])


def test_the_readme_benchmark_section_is_the_rows(tmp_path):
    from samviz.results import readme

    def row(model, index, slots, ms, **extra):
        base = {"model": model, "index": index, "slots": slots, "batch": 8, "heads": 4, "k": 4, "word_size": 32,
                "steps": 10, "ms_per_step": ms and 3 * ms, "cpu_ms_per_step": ms, "peak_mib": ms and ms / 2,
                "status": "ok",
                **({"initial_rows": "zero"} if model in ("dam", "sam", "sdnc") else {})}
        return {**provenance.stamp(base, "bench", model, "test", {}), **extra}
    rows = [row("ntm", None, n, n / 100) for n in (32, 1024)] + [row("sam", "faiss", n, 2.0) for n in (32, 1024)]
    rows.append(row("ntm", None, 1 << 20, None, status="refused", reason="estimated memory 55 GiB", peak_mib=None))
    rows.append(row("sam", "faiss", 1024, 0.001, code_hash="0" * 16))           # stale: not in the table
    text = readme.bench_section(rows)
    assert "| 2^5 | 0.32 ms · 0.16 MiB | – | 2 ms · 1 MiB |" in text
    assert "| 2^10 | 10.2 ms · 5.12 MiB | – | 2 ms · 1 MiB |" in text and "| 2^20 | refused |" in text
    assert "At N = 1,024, the largest size where the NTM and SAM (faiss) were both measured" in text
    assert "(**5.1×** faster)" in text
    assert "SAM (faiss) overtakes NTM at N ≈ " in text and "not measured from N = 1,048,576 on (refused" in text
    target = tmp_path / "README.md"
    target.write_text(f"intro\n{readme.BENCH_BEGIN}\nold\n{readme.BENCH_END}\nrest\n")
    assert readme.write_between(target, readme.BENCH_BEGIN, readme.BENCH_END, "new table")
    assert target.read_text() == f"intro\n{readme.BENCH_BEGIN}\nnew table\n{readme.BENCH_END}\nrest\n"
    assert not readme.write_between(tmp_path / "absent.md", readme.BENCH_BEGIN, readme.BENCH_END, "x")


def test_every_memory_module_is_in_some_kinds_code():
    """A new file in samviz/memory/ must be counted by the kinds whose steps run it (provenance.MODEL_CODE)."""
    covered = set(provenance.COMMON_MODEL_CODE) | {f for files in provenance.MODEL_CODE.values() for f in files}
    modules = {f"samviz/memory/{p.name}" for p in (provenance.ROOT / "samviz" / "memory").glob("*.py")}
    assert modules <= covered, sorted(modules - covered)


def test_plan_times_come_from_the_rows_item_times():
    """Hand-computed: a current row counts its item_seconds (an older row its seconds); a stale row and a missing
    one count as not yet timed. (test_a_tiny_plan_runs_resumes_and_checks checks a real run's rows add up.)"""
    rows = [stamped(k="a", item_seconds=1.5, seconds=9.0), stamped(k="b", seconds=2.0),
            stamped(k="c", item_seconds=4.0, code_hash="0" * 16)]

    class Part:
        def read(self):
            return rows

        def key(self, row):
            return row["k"]

        def items(self, plan):
            assert plan == "quick"
            return [parts.Item("fake", ("a", "b"), "a and b", {}, 1.0), parts.Item("fake", ("c",), "c", {}, 1.0),
                    parts.Item("fake", ("d",), "d", {}, 1.0)]

    assert cli.plan_seconds(Part(), "quick") == (3.5, 2)


def test_a_measured_bench_row_depends_on_the_worker_a_refused_one_on_the_runners_estimate_too(tiny, monkeypatch):
    assert "samviz/bench/runner.py" not in provenance.code_files("bench", "ntm")
    assert {"samviz/bench/runner.py", "samviz/bench/cost.py"} <= set(provenance.code_files("bench_estimate", "ntm"))
    bench = PARTS["bench"]
    context = parts.Context(plan="quick", command="test")
    monkeypatch.setitem(parts.BENCH_PLANS, "quick", {"sizes": {2: (5,)}, "limit_s": 30.0})
    item = next(i for i in bench.items("quick") if i.params["label"] == "ntm")
    from samviz.bench import runner
    monkeypatch.setattr(runner, "refusal_reason", lambda config, budget: "estimated memory over the budget")
    row, = bench.run(item, context, {})
    assert row["status"] == "refused" and row["code"]["part"] == "bench_estimate" and store.is_current(row)


def test_a_sparse_prediction_does_not_extrapolate_a_jump_and_a_skip_does_not_cascade(tiny, monkeypatch):
    def sam(n, ms, status="ok"):
        return stamped(model="sam", index="faiss", slots=n, steps=2, status=status, ms_per_step=ms, batch=8, heads=4,
                       k=4, word_size=32, initial_rows="jittered")
    bench = PARTS["bench"]
    monkeypatch.setitem(parts.BENCH_PLANS, "quick", {"sizes": {2: (12, 14, 16)}, "limit_s": 1.0})
    monkeypatch.setattr(parts, "BENCH_MODELS", ("sam-faiss",))
    item = next(i for i in bench.items("quick") if i.params["label"] == "sam-faiss" and i.params["slots"] == 1 << 16
                and i.params["start"] == "jittered")
    rows = [sam(2048, 8.5), sam(4096, 61.3), sam(1 << 14, None, status=parts.SKIPPED)]   # the flat -> graph jump
    predicted = bench.predict(rows, 1 << 16, parts.MAX_SLOPE.get("sam", 1.0))
    assert predicted[0] == pytest.approx(61.3 * 16) and "slope 1.00" in predicted[1]   # not 2.8 from the jump
    row, = bench.run(item, parts.Context(plan="quick", command="test"), {bench.key(r): r for r in rows})
    assert row["status"] == parts.SKIPPED and "predicted" in row["reason"]              # not "the smaller N was …"


def test_a_long_t_with_one_measured_size_borrows_the_shorter_ts_slope(tiny, monkeypatch):
    """At T = 1,000 a sparse model measured only at N = 32 is predicted with its own slope at T = 100 (flat here),
    not the cap (1: in proportion to N) — the quick plan had skipped SAM-faiss at 2^20, T = 1,000 as 822,018 s."""
    def sam(n, ms, steps):
        return stamped(model="sam", index="faiss", slots=n, steps=steps, status="ok", ms_per_step=ms, batch=8,
                       heads=4, k=4, word_size=32, initial_rows="zero")
    bench = PARTS["bench"]
    monkeypatch.setitem(parts.BENCH_PLANS, "quick", {"sizes": {1000: (20,)}, "limit_s": 60.0})
    monkeypatch.setattr(parts, "BENCH_MODELS", ("sam-faiss",))
    item = next(i for i in bench.items("quick") if i.params["start"] == "zero")
    rows = [sam(32, 4.0, 1000), sam(1 << 15, 4.0, 100), sam(1 << 20, 4.1, 100), sam(1 << 20, 50.0, 10)]
    slope = bench.slope_below([r for r in rows if r["steps"] == 100], (1 << 20) + 1)
    assert slope == pytest.approx(math.log(4.1 / 4.0) / math.log(32))
    predicted = bench.predict([rows[0]], 1 << 20, parts.MAX_SLOPE.get("sam", 1.0), slope)
    assert predicted[0] == pytest.approx(4.0 * 32768 ** slope)                   # ~4.4 ms, not 131,072 ms
    predicted_alone = bench.predict([rows[0]], 1 << 20, parts.MAX_SLOPE.get("sam", 1.0))
    assert predicted_alone[0] == pytest.approx(4.0 * 32768)                       # the old default: slope 1
    ran = []
    from samviz.bench import runner
    monkeypatch.setattr(runner, "run_config", lambda config, **kw: ran.append(config) or
                        {"model": "sam", "index": "faiss", "slots": config.slots, "steps": config.steps, "status": "ok",
                         "ms_per_step": 4.2, "batch": 8, "heads": 4, "k": 4, "word_size": 32})
    row, = bench.run(item, parts.Context(plan="quick", command="test"), {bench.key(r): r for r in rows})
    assert ran and row["status"] == "ok"                  # 5 × 1,000 × ~4.4 ms = 22 s < 60 s: measured, not skipped
