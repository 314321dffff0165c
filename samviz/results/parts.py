"""The parts of the evidence base: each one plans its work, calls the evaluation module that measures it, and
keeps its rows in the data file the app (or a README) reads.

    part            data file                                   calls
    bench           assets/bench/results.jsonl                  samviz.bench.runner.run_config (a worker each)
    forward         assets/bench/forward.jsonl                  samviz.bench.forward.measure_one
    scale           assets/bench/scale.json                     samviz.evaluate_scale.run_model, measure_build
    index_recall    assets/bench/index_recall.jsonl             samviz.results.index_recall.measure
    per_level       assets/evaluation/per_level.json            samviz.per_level.score_checkpoint
    generalisation  assets/generalisation/associative_recall.json  samviz.generalisation.run
    learning_grids  assets/results/learning_grids.json          samviz.learning_curves (read_runs, group)

Two plans: "full" (`make results`: the whole grid) and "quick" (`make results PLAN=quick`: fewer sizes and
episodes, the budgeted form). Every row is stamped with its provenance (samviz.results.provenance).
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import os
from pathlib import Path
import time

from samviz.paths import ASSETS_DIR, BENCH_RESULTS_DIR

from . import provenance, store
from .store import Item

PLANS = ("full", "quick")
RESULTS_DIR = ASSETS_DIR / "results"
MANIFEST = RESULTS_DIR / "manifest.json"
SKIPPED = "skipped"       # a row whose configuration was not run, and why (predicted too slow, or a smaller failed)


@dataclass
class Context:
    """What a part's run needs besides its item: the plan, the command (recorded in every row), a log function and
    a place for state shared between items (e.g. an index build measured once per size)."""
    plan: str
    command: str
    log: object = print
    shared: dict | None = None

    def __post_init__(self):
        self.shared = {} if self.shared is None else self.shared


class Part:
    name = ""
    title = ""
    path: Path

    def read(self) -> list[dict]:
        return store.read_jsonl(self.path)

    def write(self, rows: list[dict]) -> None:
        store.write_jsonl(self.path, rows)

    def key(self, row: dict) -> tuple:
        raise NotImplementedError

    def items(self, plan: str) -> list[Item]:
        raise NotImplementedError

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        """Measure one item -> its rows (stamped). rows: the part's rows so far, by key (current or not)."""
        raise NotImplementedError

    def finish(self, rows: list[dict], context: Context) -> None:
        """After every item of the plan is current: write what is derived from the rows (README tables)."""

    def order(self, rows: list[dict], plan: str) -> list[dict]:
        """Rows in the plan's order (rows outside the plan after them, in file order)."""
        position = {key: i for i, item in enumerate(self.items(plan)) for key in item.keys}
        return sorted(rows, key=lambda row: position.get(self.key(row), len(position)))


# ---------------------------------------------------------------------------------------------- the benchmark grid
BENCH_MODELS = ("ntm", "dam", "dnc", "sam-exact", "sam-faiss", "sdnc-exact", "sdnc-faiss")
BENCH_SETTING = {"batch": 8, "heads": 4, "k": 4, "word_size": 32}     # the paper's benchmark model (Fig. 1)
STARTS = ("zero", "jittered")             # samviz.memory.initial: both starts, for the kinds that have the choice
MIN_REPEATS = 5
REPEAT_TIME_S = 2.0                        # runs repeat until this much time was spent (at least MIN_REPEATS)
BENCH_PLANS = {   # sizes: T -> the exponents of N measured at that T; starts: T -> the initial rows measured (for the
    # kinds that have the choice); limit_s: the longest MIN_REPEATS timed runs of one configuration allowed
    "full": {"sizes": {10: tuple(range(5, 21)), 100: tuple(range(5, 21)), 1000: tuple(range(5, 21))},
             "starts": {10: STARTS, 100: STARTS, 1000: STARTS}, "limit_s": 600.0},
    "quick": {"sizes": {10: (*range(5, 13), 14, 16, 18, 20), 100: (5, 8, 11, 14, 17, 20), 1000: (5, 10, 15, 20)},
              "starts": {10: STARTS, 100: ("zero",), 1000: ("zero",)}, "limit_s": 360.0},
}
# The steepest growth a prediction assumes: the DNC's links are N², the NTM's and DAM's rows N; a sparse kind's cost
# grows at most like N (an exact scan), and a jump between two sizes (faiss switching from a flat index to a graph
# at FLAT_BELOW) must not be extrapolated as a trend.
MAX_SLOPE = {"dnc": 2.5, "ntm": 1.2, "dam": 1.2}
SETUP_ALLOWANCE_S = 90.0                   # a worker's start, model and memory set-up (not timed)
GRAPH_BUILD_ALLOWANCE_S = 900.0            # + a cold faiss graph over 2^20 initial rows (jittered starts)


def _seconds(value: float) -> str:
    return f"{value:,.0f} s" if value >= 10 else f"{value:.2g} s"


def bench_label(row: dict) -> str:
    return row["model"] if not row.get("index") else f"{row['model']}-{row['index']}"


class BenchPart(Part):
    name = "bench"
    title = "benchmark grid (forward + backward per training step, dense and sparse, over N)"
    path = BENCH_RESULTS_DIR / "results.jsonl"

    def key(self, row: dict) -> tuple:
        return (bench_label(row), row.get("slots"), row.get("steps"), row.get("initial_rows"),
                *(row.get(k) for k in BENCH_SETTING))

    @staticmethod
    def starts(label: str, plan: str = "full", steps: int = 10) -> tuple:
        from samviz.kinds import spec
        if "initial_rows" not in spec(label.split("-")[0]).core_options:
            return (None,)
        return BENCH_PLANS[plan].get("starts", {}).get(steps, STARTS)

    def items(self, plan: str) -> list[Item]:
        items = []
        for steps, exponents in BENCH_PLANS[plan]["sizes"].items():
            for exponent in exponents:
                for label in BENCH_MODELS:
                    for start in self.starts(label, plan, steps):
                        key = (label, 1 << exponent, steps, start, *BENCH_SETTING.values())
                        text = f"{label} N=2^{exponent} T={steps}" + (f" {start} rows" if start else "")
                        items.append(Item(self.name, (key,), text, {"label": label, "slots": 1 << exponent,
                                                                   "steps": steps, "start": start}, 8.0))
        return items

    @staticmethod
    def series(rows: dict, label: str, steps: int, start: str | None) -> list[dict]:
        """The current rows of one model label, T and initial-row start, at this grid's other settings."""
        return [r for r in rows.values() if bench_label(r) == label and r.get("steps") == steps
                and r.get("initial_rows") == start and store.is_current(r)
                and all(r.get(k) == v for k, v in BENCH_SETTING.items())]

    @staticmethod
    def slope_below(series: list[dict], slots: int) -> float | None:
        """The log-log slope through the series' two largest measured sizes below `slots` (None with fewer)."""
        below = sorted((r for r in series if r.get("status") == "ok" and r["slots"] < slots), key=lambda r: r["slots"])
        if len(below) < 2 or below[-2]["ms_per_step"] <= 0 or below[-1]["ms_per_step"] <= 0:
            return None
        a, b = below[-2], below[-1]
        return math.log(b["ms_per_step"] / a["ms_per_step"]) / math.log(b["slots"] / a["slots"])

    @staticmethod
    def predict(series: list[dict], slots: int, max_slope: float = 2.5,
                default_slope: float = 1.0) -> tuple[float, str] | None:
        """ms per step at `slots` from the series' two largest measured sizes below it (a power law through
        them, its slope at most `max_slope`), with the words saying so; None with no measured size below. With
        one measured size, `default_slope` (run() passes the model's slope at a shorter T: a sparse model measured
        only at N = 32 at T = 1,000 is not extrapolated as growing in proportion to N)."""
        below = sorted((r for r in series if r.get("status") == "ok" and r["slots"] < slots), key=lambda r: r["slots"])
        if not below:
            return None
        last = below[-1]
        slope = BenchPart.slope_below(series, slots)
        slope = default_slope if slope is None else slope
        slope = min(max_slope, max(0.0, slope))
        ms = last["ms_per_step"] * (slots / last["slots"]) ** slope
        return ms, f"{last['ms_per_step']:.4g} ms/step at N = {last['slots']:,}, log-log slope {slope:.2f}"

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        from samviz.bench.runner import BenchConfig, base_row, default_budget_bytes, refusal_reason, run_config
        p = item.params
        limit = BENCH_PLANS[context.plan]["limit_s"]
        config = BenchConfig(model=p["label"], slots=p["slots"], steps=p["steps"], **BENCH_SETTING).validate()
        series = self.series(rows, p["label"], p["steps"], p["start"])
        budget = context.shared.setdefault("bench_budget", default_budget_bytes())
        row = None
        if refusal_reason(config, budget) is None:
            # a smaller size refused, stopped or failed: this one would be too (a skipped one is predicted anew)
            failed = sorted((r for r in series if r["slots"] < p["slots"] and r.get("status") not in ("ok", SKIPPED)),
                            key=lambda r: r["slots"])
            max_slope = MAX_SLOPE.get(config.kind, 1.0)
            # the same model and start at other T (the nearest T first): its slope stands in where this T has only
            # one measured size below (per-step cost against N does not depend much on T)
            others = sorted({r["steps"] for r in rows.values() if r.get("steps") and r["steps"] != p["steps"]},
                            key=lambda t: abs(math.log(t / p["steps"])))
            default_slope = max_slope
            for steps in others:
                slope = self.slope_below(self.series(rows, p["label"], steps, p["start"]), p["slots"] + 1)
                if slope is not None:
                    default_slope = slope
                    break
            predicted = self.predict(series, p["slots"], max_slope, default_slope)
            if failed:
                row = dict(base_row(config), status=SKIPPED,
                           reason=f"not run: the smaller N = {failed[0]['slots']:,} was {failed[0]['status']}")
            elif predicted and MIN_REPEATS * p["steps"] * predicted[0] / 1000 > limit:
                seconds = MIN_REPEATS * p["steps"] * predicted[0] / 1000
                row = dict(base_row(config), status=SKIPPED,
                           reason=f"not run: {MIN_REPEATS} timed runs predicted to take {_seconds(seconds)} ("
                                  f"{predicted[1]}), over this plan's {limit:g} s per configuration")
        if row is None:
            allowance = SETUP_ALLOWANCE_S + (GRAPH_BUILD_ALLOWANCE_S if p["label"].endswith("faiss")
                                             and p["start"] == "jittered" and p["slots"] >= 1 << 16 else 0)
            options = {"min_repeats": MIN_REPEATS, **({"initial_rows": p["start"]} if p["start"] else {})}
            row = run_config(config, timeout_s=3 * limit + allowance, budget_bytes=budget,
                             time_budget_s=REPEAT_TIME_S, machine=provenance.this_machine(), options=options)
        row.pop("date", None)
        if p["start"]:
            row["initial_rows"] = p["start"]
        row["min_repeats"] = MIN_REPEATS
        # a measured row depends on the worker and the model; a refused or stopped one on the runner's estimate too
        code = self.name if row.get("status") == "ok" else "bench_estimate"
        return [provenance.stamp(row, code, config.kind, context.command, {"model": 0, "inputs": 0})]

    def finish(self, rows: list[dict], context: Context) -> None:
        from . import readme
        readme.write_bench_section(rows)


# ---------------------------------------------------------------------------------------------- Compare's sweep
FORWARD_PLANS = {"full": {"sizes": tuple(range(5, 19)), "max_seconds": 60.0},
                 "quick": {"sizes": tuple(range(5, 17)), "max_seconds": 30.0}}


class ForwardPart(Part):
    name = "forward"
    title = "Compare's sweep (forward only, batch 1, the models Compare runs, over N)"
    path = BENCH_RESULTS_DIR / "forward.jsonl"

    def key(self, row: dict) -> tuple:
        return (row.get("model"), row.get("index"), row.get("task"), row.get("slots"))

    def items(self, plan: str) -> list[Item]:
        from samviz.app import params
        from samviz.bench.forward import DEFAULT_MODELS
        items = []
        for task in params.TASKS:
            for name in DEFAULT_MODELS:
                kind, _, index = name.partition("-")
                for exponent in FORWARD_PLANS[plan]["sizes"]:
                    key = (kind, index or None, task, 1 << exponent)
                    items.append(Item(self.name, (key,), f"{name} {task} N=2^{exponent}",
                                      {"name": name, "task": task, "slots": 1 << exponent}, 3.0))
        return items

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        from samviz.app.loaders import pretrained_name
        from samviz.bench.forward import DEFAULT_MAX_SLOTS, SEED, measure_one
        from samviz.bench.measure import pin_threads
        import samviz.pretrained as pretrained
        p = item.params
        kind, _, index = p["name"].partition("-")
        threads = pin_threads()
        row = {"measure": "forward", "model": kind, "index": index or None, "task": p["task"],
               "slots": p["slots"], "batch": 1}
        series = sorted((r for r in rows.values() if (r.get("model"), r.get("index"), r.get("task"))
                         == (kind, index or None, p["task"]) and r.get("slots", 0) < p["slots"]
                         and store.is_current(r)), key=lambda r: r["slots"])
        limit = DEFAULT_MAX_SLOTS.get(kind)
        max_seconds = FORWARD_PLANS[context.plan]["max_seconds"]
        not_run = [r for r in series if r.get("status") != "ok"]
        last = series[-1] if series and series[-1].get("status") == "ok" else None
        predicted = None if last is None or not last.get("seconds") else \
            last["seconds"] * (p["slots"] / last["slots"]) ** (2 if kind == "dnc" else 1)
        if limit and p["slots"] > limit:
            row.update(status=SKIPPED, reason=f"above this sweep's limit of {limit:,} slots for {kind}")
        elif not_run:
            row.update(status=SKIPPED, reason=f"not run: the smaller N = {not_run[0]['slots']:,} was "
                                              f"{not_run[0].get('status')}")
        elif predicted is not None and predicted > max_seconds:
            row.update(status=SKIPPED, reason=f"not run: predicted {predicted:.0f} s from N = {last['slots']:,}, "
                                              f"over this plan's {max_seconds:g} s")
        else:
            started = time.perf_counter()
            try:
                row = measure_one(p["name"], p["task"], p["slots"])
            except Exception as error:          # reported as a row, the sweep carries on
                row.update(status="failed", reason=f"{type(error).__name__}: {error}"[:300])
            row["seconds"] = round(time.perf_counter() - started, 2)
        row["threads"] = threads
        name = pretrained_name(kind, p["task"])
        checkpoints = (name,) if row.get("source") == "pretrained" or (
            row.get("source") is None and name in pretrained.available()) else ()
        return [provenance.stamp(row, self.name, kind, context.command, {"episode": SEED}, checkpoints)]


# ---------------------------------------------------------------------------------------------- the scale table
SCALE_PLANS = {"full": {"slots": (4096, 1 << 16, 1 << 20), "episodes": (16, 16, 8), "cache": "cold"},
               "quick": {"slots": (4096, 1 << 20), "episodes": (8, 8), "cache": "shared"}}


class ScalePart(Part):
    name = "scale"
    title = "the shipped sparse models at large N, exact vs faiss on the same episodes"
    path = BENCH_RESULTS_DIR / "scale.json"

    def read(self) -> list[dict]:
        data = store.read_json(self.path, {})
        return list(data.get("rows", [])) if isinstance(data, dict) else []

    def write(self, rows: list[dict]) -> None:
        from samviz import evaluate_scale
        settings = self.settings(rows)
        store.write_json(self.path, {"format": evaluate_scale.FORMAT, "settings": settings, "rows": rows})

    @staticmethod
    def settings(rows: list[dict]) -> dict:
        from samviz import evaluate_scale
        return {"command": rows[0]["command"] if rows else "python -m samviz.results run --only scale",
                "wall_s": sum(r.get("seconds", 0) for r in rows), "seed": evaluate_scale.SEED,
                "batch_size": evaluate_scale.BATCH_SIZE, "slots": sorted({r["slots"] for r in rows}),
                "models": sorted({r["model"] for r in rows}), "tie": evaluate_scale.TIE, "torch_threads": 1,
                "cpu_cores": os.cpu_count(), "index_cache": rows[0].get("build_cache") if rows else None,
                "created": "", "machine": rows[0].get("machine") if rows else None}

    def key(self, row: dict) -> tuple:
        return (row.get("model"), row.get("slots"))

    def items(self, plan: str) -> list[Item]:
        from samviz import evaluate_scale
        plan_ = SCALE_PLANS[plan]
        return [Item(self.name, ((name, slots),), f"{name} N={slots:,}", {"name": name, "slots": slots,
                                                                          "episodes": episodes}, 60.0)
                for slots, episodes in zip(plan_["slots"], plan_["episodes"], strict=True)
                for name in evaluate_scale.sparse_models()]

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        import torch

        from samviz import evaluate_scale
        from samviz.bench.measure import pin_threads
        from samviz.memory.initial import INITIAL_ROWS_BEFORE_THE_SETTING
        import samviz.pretrained as pretrained
        p = item.params
        pin_threads()
        config = pretrained.read_meta(p["name"])["config"]
        start = config.get("initial_rows", INITIAL_ROWS_BEFORE_THE_SETTING)
        builds = context.shared.setdefault("scale_builds", {})
        build_key = (p["slots"], config["word_size"], start)
        if build_key not in builds:
            builds[build_key] = evaluate_scale.measure_build(
                p["slots"], config["word_size"], min(evaluate_scale.BATCH_SIZE, p["episodes"]),
                SCALE_PLANS[context.plan]["cache"], start)
        started = time.perf_counter()
        with torch.no_grad():
            row = evaluate_scale.run_model(p["name"], p["slots"], p["episodes"], evaluate_scale.BATCH_SIZE,
                                           evaluate_scale.SEED, check=True)
        row.update(builds[build_key], seconds=round(time.perf_counter() - started, 1))
        return [provenance.stamp(row, self.name, config["kind"], context.command,
                                 {"episodes": evaluate_scale.SEED}, (p["name"],))]

    def finish(self, rows: list[dict], context: Context) -> None:
        from samviz import evaluate_scale
        settings = self.settings(rows)
        settings["created"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        evaluate_scale.write_readme(evaluate_scale.markdown_table(rows, settings))


# ---------------------------------------------------------------------------------------------- index recall
class IndexRecallPart(Part):
    name = "index_recall"
    title = "the faiss index on the memories the shipped models write (recall, its cost, what it searched)"
    path = BENCH_RESULTS_DIR / "index_recall.jsonl"

    def key(self, row: dict) -> tuple:
        return (row.get("model"), row.get("slots"), row.get("level"))

    def items(self, plan: str) -> list[Item]:
        from . import index_recall
        return [Item(self.name, ((name, slots, level),), f"{name} N={slots:,} level {level}",
                     {"name": name, "slots": slots, "level": level, "episodes": episodes}, 30.0)
                for name, slots, level, episodes in index_recall.plan(plan)]

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        from samviz.bench.measure import pin_threads
        import samviz.pretrained as pretrained

        from . import index_recall
        pin_threads()
        p = item.params
        row = index_recall.measure(p["name"], p["slots"], p["level"], p["episodes"])
        kind = pretrained.read_meta(p["name"])["config"]["kind"]
        return [provenance.stamp(row, self.name, kind, context.command, {"episodes": index_recall.SEED},
                                 (p["name"],))]

    def finish(self, rows: list[dict], context: Context) -> None:
        from . import readme
        readme.write_pretrained_section(readme.RECALL_BEGIN, readme.RECALL_END, readme.index_recall_section(rows))


# ---------------------------------------------------------------------------------------------- per level
PER_LEVEL_EPISODES = {"full": 640, "quick": 640}


class PerLevelPart(Part):
    name = "per_level"
    title = "every shipped model at each level of its task's range"

    path = ASSETS_DIR / "evaluation" / "per_level.json"     # samviz.per_level.JSON_PATH (a test checks they agree)

    def read(self) -> list[dict]:
        data = store.read_json(self.path, [])
        return data if isinstance(data, list) else []

    def write(self, rows: list[dict]) -> None:
        store.write_json(self.path, rows)

    def key(self, row: dict) -> tuple:
        return (row.get("name"), row.get("level"))

    def items(self, plan: str) -> list[Item]:
        from samviz import per_level
        import samviz.pretrained as pretrained
        names = sorted(pretrained.available(), key=lambda n: (pretrained.read_meta(n)["task"], n))
        items = []
        for name in names:
            levels = per_level.levels_of(pretrained.read_meta(name)["task"])
            items.append(Item(self.name, tuple((name, level) for level in levels), name,
                              {"name": name, "episodes": PER_LEVEL_EPISODES[plan]}, 60.0))
        return items

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        import torch

        from samviz import per_level
        import samviz.pretrained as pretrained
        torch.set_num_threads(1)
        p = item.params
        kind = pretrained.read_meta(p["name"])["config"]["kind"]
        return [provenance.stamp(row, self.name, kind, context.command, {"episodes": f"{per_level.SEED} + level"},
                                 (p["name"],))
                for row in per_level.score_checkpoint(p["name"], p["episodes"], per_level.SEED)]

    def finish(self, rows: list[dict], context: Context) -> None:
        from samviz import per_level
        per_level.write_readme(per_level.markdown(rows))


# ---------------------------------------------------------------------------------------------- generalisation
GENERALISATION_TASK = "associative_recall"
GENERALISATION_LEVELS = (2, 3, 4, 5, 6, 12, 24, 36, 48, 60)
GENERALISATION_SLOTS = {"sam": 1 << 16, "sdnc": 1 << 16}     # the dense models run at the size they were trained at
GENERALISATION_EPISODES = {"full": 64, "quick": 64}


class GeneralisationPart(Part):
    name = "generalisation"
    title = "bit errors past the trained length (associative recall to 10x its items), against chance"

    path = ASSETS_DIR / "generalisation" / f"{GENERALISATION_TASK}.json"   # samviz.generalisation.CURVES_DIR's

    def read(self) -> list[dict]:
        data = store.read_json(self.path, [])
        return data if isinstance(data, list) else []

    def write(self, rows: list[dict]) -> None:
        store.write_json(self.path, rows)

    def key(self, row: dict) -> tuple:
        return (row.get("name"), row.get("level"))

    def items(self, plan: str) -> list[Item]:
        import samviz.pretrained as pretrained
        names = [n for n in pretrained.available() if pretrained.read_meta(n).get("task") == GENERALISATION_TASK]
        return [Item(self.name, tuple((name, level) for level in GENERALISATION_LEVELS), name,
                     {"name": name, "episodes": GENERALISATION_EPISODES[plan]}, 60.0) for name in names]

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        import io

        import torch

        from samviz import generalisation
        import samviz.pretrained as pretrained
        torch.set_num_threads(1)
        p = item.params
        kind = pretrained.read_meta(p["name"])["config"]["kind"]
        found = generalisation.run(GENERALISATION_TASK, [p["name"]], list(GENERALISATION_LEVELS),
                                   GENERALISATION_SLOTS, p["episodes"], generalisation.SEED, "exact",
                                   progress=io.StringIO())
        return [provenance.stamp(row, self.name, kind, context.command,
                                 {"episodes": f"{generalisation.SEED} + level"}, (p["name"],)) for row in found]

    def finish(self, rows: list[dict], context: Context) -> None:
        from . import readme
        readme.write_pretrained_section(readme.GENERALISATION_BEGIN, readme.GENERALISATION_END,
                                        readme.generalisation_section(rows))


# ---------------------------------------------------------------------------------------------- learning grids
class LearningGridsPart(Part):
    name = "learning_grids"
    title = "the learning-curve grids summarised per (model, task, variant) from their committed run logs"
    path = RESULTS_DIR / "learning_grids.json"

    def read(self) -> list[dict]:
        data = store.read_json(self.path, [])
        return data if isinstance(data, list) else []

    def write(self, rows: list[dict]) -> None:
        store.write_json(self.path, rows)

    def key(self, row: dict) -> tuple:
        return (row.get("grid"), row.get("model"), row.get("task"), row.get("variant"))

    def items(self, plan: str) -> list[Item]:
        from samviz import learning_curves
        items = []
        for path in sorted(Path(learning_curves.CURVES_DIR).glob("*.jsonl")):
            groups = learning_curves.group(learning_curves.read_runs(path))
            keys = tuple((path.stem, g.model, g.task, g.variant) for g in groups)
            items.append(Item(self.name, keys, path.stem, {"path": str(path)}, 0.2))
        return items

    def run(self, item: Item, context: Context, rows: dict) -> list[dict]:
        from samviz import learning_curves
        path = Path(item.params["path"])
        out = []
        for g in learning_curves.group(learning_curves.read_runs(path)):
            row = {"grid": path.stem, "model": g.model, "task": g.task, "variant": g.variant,
                   "target": g.runs[0].target, "seeds": [r.seed for r in g.runs],
                   "reached": g.reached, "runs": len(g.runs),
                   "median_updates_to_target": g.median_updates_to_target,
                   "median_updates_to_held_target": g.median_updates_to_held_target,
                   "updates_to_target": [r.updates_to_target for r in g.runs],
                   "updates_to_held_target": [r.updates_to_held_target for r in g.runs],
                   "updates_done": [r.updates_done for r in g.runs], "best": [r.best for r in g.runs]}
            out.append(provenance.stamp(row, self.name, None, context.command, [r.seed for r in g.runs],
                                        data=(path,)))
        return out


PARTS: dict[str, Part] = {part.name: part for part in (
    LearningGridsPart(), BenchPart(), ForwardPart(), ScalePart(), IndexRecallPart(), PerLevelPart(),
    GeneralisationPart())}
