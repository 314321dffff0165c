"""The shipped sparse models at large N, exact vs faiss index: `python -m samviz.evaluate_scale` (issue 13, item 1).

Also reachable as `python -m samviz.evaluate --scale ...` (same arguments). A module of its own because it
measures something else than samviz.evaluate (the index and the step cost at each N, not a checkpoint's
score), with its own probes and table; evaluate.py only forwards to it.

For every shipped SAM and SDNC checkpoint (trained at 128 slots; weights do not depend on N) and every N in
--slots, on the SAME fresh seeded episodes of the model's own task (default level range; seed --seed, used
neither in training, nor by samviz.evaluate, nor by the index tests), three forward passes (no gradient):

1. index="exact", timed: the reference bit errors per sequence and its time per step;
2. index="faiss", timed: bit errors per sequence with faiss and its time per step;
3. index="faiss" again, every search also answered by an ExactIndex over the same live memory (untimed):
   how the ids faiss returned compare with the exact top-K on the memory as the faiss run wrote it.

Per model and N it reports (`compare_search` defines each, per query):
* recall@K by ids: share of the K found ids that are in the exact top-K or whose cosine ties the exact K-th
  one within TIE (such rows are interchangeable for the read); top-1: share of queries whose exact top-1 was
  found (or tied);
* similarity share: Σ cosine of the found rows / Σ cosine of the exact top-K, summed over the queries whose
  exact top-K sum is positive (a ratio of negative sums would mean nothing; their count is in the JSON);
* found none: queries whose exact top-K holds at least one row written in this episode, and whose found
  set holds none of those rows (nor a row tying one of them within TIE) — the reads that lost the memory;
* time per step (ms): the forward pass's wall time over its steps, memory set-up (and so the index's reset)
  not timed; and the part of it spent inside the index (search + update), per index. One thread (torch and
  faiss searches), on whatever else the machine runs: the figures are this machine's, at that moment;
* index build (s), per (N, word size), measured before the runs with the on-disk cache pointed at a fresh
  temporary directory: "cold" (nothing cached: faiss builds the initial rows' HNSW on every core),
  "from disk" (the in-process cache emptied, the structure read back from that directory) and "reset"
  (another episode's reset in the same process: what every later episode pays). Below 4,096 slots faiss
  is an exact flat index per batch element: the three are the same small cost.

Defaults: N 4,096 / 2^16 / 2^20 with 16 / 16 / 8 episodes per model (batches of 8). Most of a default run on a
small machine is the two cold 2^20 builds (word sizes 20 and 24; pretrained/README.md gives the measured
run time); `--index-cache shared` times a read of the usual disk cache instead, once the structures are there.
No --jobs (unlike samviz.evaluate): every pass times itself on one thread, and processes in parallel would
share the cores being timed, and could not share the in-process index cache.

Rows go to the markdown table (`markdown_table`), to pretrained/README.md between this module's own marker
comments (--write-readme) and to a JSON file (--json; assets/bench/scale.json is the shipped one, read with
`load_rows`). Arguments are checked before anything is loaded or allocated.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
import json
import math
import os
from pathlib import Path
import shlex
import sys
import tempfile
import time
from typing import NamedTuple

import torch

from .kinds import SPARSE_MODELS as SPARSE_KINDS
from .memory.index_parts import TIE
from .memory.initial import INITIAL_ROWS_BEFORE_THE_SETTING
from .paths import BENCH_RESULTS_DIR, PRETRAINED_DIR

SEED = 20_261_202               # far from training seeds, samviz.evaluate's 1234 and the index tests' seeds
SLOTS = (4096, 1 << 16, 1 << 20)
EPISODES = (16, 16, 8)          # per N in SLOTS (batches of --batch-size)
BATCH_SIZE = 8
LIMITS = {"slots": (128, 1 << 20), "episodes": (1, 1024), "batch_size": (1, 64), "seed": (0, 2**63 - 1),
          "values": 8}
MAX_BATCH_ROWS = 1 << 23        # batch size × N: the memory buffer (and the exact check) at 8 × 2^20 rows
FORMAT = 1
SCALE_JSON = BENCH_RESULTS_DIR / "scale.json"
README_PATH = PRETRAINED_DIR / "README.md"
README_BEGIN = "<!-- samviz-evaluate-scale:begin -->"
README_END = "<!-- samviz-evaluate-scale:end -->"


def sparse_models() -> list[str]:
    """The shipped checkpoints of sparse kinds (sam-*, sdnc-*), by directory name; nothing is loaded."""
    from . import pretrained
    return [name for name in pretrained.available() if name.split("-", 1)[0] in SPARSE_KINDS]


# ------------------------------------------------------------------------------------------ metrics
def unit_rows64(x: torch.Tensor) -> torch.Tensor:
    """Rows in float64 divided by max(norm, the indexes' norm floor); non-finite rows become zero rows."""
    from .memory import index as index_module
    x = index_module.finite_rows(x.to(torch.float64))
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(index_module.EPSILON)


class Comparison(NamedTuple):
    """One search compared with the exact one, per query [B, Q]."""
    hits: torch.Tensor           # found ids in the exact top-K or tying its K-th cosine within TIE (≤ K)
    top1: torch.Tensor           # bool: the exact top-1 found (or a found row ties it)
    found_sum: torch.Tensor      # Σ cosine of the K found rows (float64)
    exact_sum: torch.Tensor      # Σ cosine of the exact top-K rows
    should: torch.Tensor         # bool: the exact top-K holds a written row
    found_none: torch.Tensor     # bool: should, and no found row is (or ties) one of those written rows


def compare_search(found: torch.Tensor, exact: torch.Tensor, queries: torch.Tensor, memory: torch.Tensor,
                   written: torch.Tensor | None = None) -> Comparison:
    """found, exact: slot ids [B, Q, K]; queries [B, Q, W]; memory [B, N, W]; written: bool [B, N] (the
    slots written this episode; None: none) -> Comparison. Cosines are float64, of the rows as they are."""
    batch = torch.arange(memory.shape[0]).view(-1, 1, 1)
    q = unit_rows64(queries).unsqueeze(2)                                     # [B, Q, 1, W]
    sim_found = (q * unit_rows64(memory[batch, found])).sum(-1)              # [B, Q, K]
    sim_exact = (q * unit_rows64(memory[batch, exact])).sum(-1)
    kth = sim_exact.min(-1).values
    best = sim_exact.max(-1).values
    member = (found.unsqueeze(-1) == exact.unsqueeze(-2)).any(-1)            # [B, Q, K]
    hits = (member | (sim_found >= kth.unsqueeze(-1) - TIE)).sum(-1).clamp_max(found.shape[-1])
    top1 = (found == exact[..., :1]).any(-1) | (sim_found.max(-1).values >= best - TIE)
    if written is None:
        should = found_none = torch.zeros(hits.shape, dtype=torch.bool)
    else:
        exact_written = written[batch, exact]                                 # [B, Q, K]
        should = exact_written.any(-1)
        same = found.unsqueeze(-1) == exact.unsqueeze(-2)                     # [B, Q, K found, K exact]
        tied = (sim_found.unsqueeze(-1) - sim_exact.unsqueeze(-2)).abs() <= TIE
        found_one = ((same | tied) & exact_written.unsqueeze(-2)).any(-1).any(-1)
        found_none = should & ~found_one
    return Comparison(hits, top1, sim_found.sum(-1), sim_exact.sum(-1), should, found_none)


def new_stats() -> dict:
    return {"queries": 0, "hits": 0, "top1": 0, "k": 0, "searches": 0, "found_sim": 0.0, "exact_sim": 0.0,
            "positive_queries": 0, "should_written": 0, "found_none": 0,
            "search_s": 0.0, "update_s": 0.0, "reset_s": 0.0, "resets": 0}


def add_comparison(stats: dict, comparison: Comparison, k: int) -> None:
    """Accumulate one Comparison into stats (new_stats' keys)."""
    positive = comparison.exact_sum > 0
    stats["queries"] += comparison.hits.numel()
    stats["hits"] += int(comparison.hits.sum())
    stats["top1"] += int(comparison.top1.sum())
    stats["k"] = k
    stats["searches"] += 1
    stats["found_sim"] += float(comparison.found_sum[positive].sum())
    stats["exact_sim"] += float(comparison.exact_sum[positive].sum())
    stats["positive_queries"] += int(positive.sum())
    stats["should_written"] += int(comparison.should.sum())
    stats["found_none"] += int(comparison.found_none.sum())


def summarise(stats: list[dict]) -> dict:
    """The Probes' stats of one pass -> recall, top1, top1_missed, similarity_share, found_none, ..."""
    total = {key: sum(s[key] for s in stats) for key in new_stats() if key != "k"}
    k = max((s["k"] for s in stats), default=0)
    queries = total["queries"]
    return {
        "queries": queries, "k": k,
        "recall": total["hits"] / (queries * k) if queries else None,
        "top1": total["top1"] / queries if queries else None,
        "top1_missed": queries - total["top1"],
        "similarity_share": total["found_sim"] / total["exact_sim"] if total["exact_sim"] > 0 else None,
        "similarity_queries": total["positive_queries"],
        "written_expected": total["should_written"], "found_none": total["found_none"],
    }


# ------------------------------------------------------------------------------------------ the probe
class Probe:
    """A MemoryIndex standing in for the model's own: the index under test answers; its search and update
    are timed; with check=True (and kind != "exact") every search is also answered by an ExactIndex on the
    same live memory and compared (compare_search), the written slots tracked for "found none"
    (check_exact=True checks the exact index against itself too: the measurement's own test).
    Every Probe made while `probing()` is active appends its stats to `Probe.log`."""

    name = "probe"
    log: list = []

    def __init__(self, kind, batch_size, slots, word_size, check=True, check_exact=False, **options):
        from .memory import index as index_module
        self.inner = index_module.make_index(kind, batch_size, slots, word_size, **options)
        self.batch_size, self.slots, self.word_size = batch_size, slots, word_size
        self.exact = (index_module.ExactIndex(batch_size, slots, word_size)
                      if check and (kind != "exact" or check_exact) else None)
        self.written = None
        self.stats = new_stats()
        Probe.log.append(self.stats)

    def reset(self, memory):
        self.memory = memory
        start = time.perf_counter()
        self.inner.reset(memory)
        self.stats["reset_s"] += time.perf_counter() - start
        self.stats["resets"] += 1
        if self.exact is not None:
            self.exact.reset(memory)
            self.written = torch.zeros(memory.shape[:2], dtype=torch.bool)

    def update(self, batch_ids, slot_ids, rows):
        start = time.perf_counter()
        self.inner.update(batch_ids, slot_ids, rows)
        self.stats["update_s"] += time.perf_counter() - start
        if self.exact is not None:
            self.exact.update(batch_ids, slot_ids, rows)
            self.written[batch_ids.long(), slot_ids.long()] = True

    def restart(self, batch_ids, slot_ids, rows):
        start = time.perf_counter()
        self.inner.restart(batch_ids, slot_ids, rows)
        self.stats["reset_s"] += time.perf_counter() - start
        self.stats["resets"] += 1
        if self.exact is not None:
            self.exact.restart(batch_ids, slot_ids, rows)
            self.written[batch_ids.long(), slot_ids.long()] = False

    def search(self, queries, k):
        start = time.perf_counter()
        found = self.inner.search(queries, k)
        self.stats["search_s"] += time.perf_counter() - start
        if self.exact is not None:
            exact = self.exact.search(queries, k)
            add_comparison(self.stats, compare_search(found, exact, queries, self.memory, self.written), k)
        return found

    def describe(self) -> str:
        return self.inner.describe()

    def __getattr__(self, name):          # anything else (last_stats, mode, ...) is the inner index's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


@contextmanager
def probing(check: bool = True, check_exact: bool = False):
    """While active, every sparse memory built gets a Probe (store.make_index: the pool of finished memories is
    emptied first, so no store made without one is reused); yields Probe.log."""
    from .memory import store as journal
    journal.clear_pool()
    original = journal.make_index

    def probed(kind, batch, slots, width, **options):
        return Probe(kind, batch, slots, width, check=check, check_exact=check_exact, **options)

    Probe.log = []
    journal.make_index = probed
    try:
        yield Probe.log
    finally:
        journal.make_index = original
        journal.clear_pool()


# ------------------------------------------------------------------------------------------ runs
def _batches(episodes: int, batch_size: int) -> list[int]:
    return [min(batch_size, episodes - start) for start in range(0, episodes, batch_size)]


def run_pass(model, task, episodes: int, batch_size: int, seed: int, check: bool, check_exact: bool = False) -> dict:
    """One pass over the seeded episodes with the model's own index wrapped in Probes -> bit errors, times."""
    from . import tasks as tasks_module
    generator = torch.Generator().manual_seed(seed)
    total, steps, wall = 0.0, 0, 0.0
    with probing(check, check_exact) as log, torch.no_grad():
        for size in _batches(episodes, batch_size):
            episode = task.sample(batch_size=size, level=None, generator=generator)
            state = model.core.initial_state(size)                  # memory set-up + index reset: not timed
            start = time.perf_counter()
            logits, _ = model.run(episode.inputs, memory_state=state)
            wall += time.perf_counter() - start
            steps += episode.inputs.shape[0]
            total += tasks_module.bit_errors_per_sequence(logits, episode) * size
    return {"bit_errors": total / episodes, "steps": steps, "ms_per_step": wall / steps * 1e3,
            "index_ms_per_step": sum(s["search_s"] + s["update_s"] for s in log) / steps * 1e3,
            "stats": list(log)}


def run_model(name: str, slots: int, episodes: int, batch_size: int = BATCH_SIZE, seed: int = SEED,
              check: bool = True) -> dict:
    """One shipped sparse model at N slots: the exact and faiss passes (and the checked faiss pass) -> a row."""
    from . import pretrained
    from . import tasks as tasks_module
    models = {kind: pretrained.load(name, index=kind, memory_slots=slots) for kind in ("exact", "faiss")}
    config = models["exact"].config
    task = tasks_module.get(models["exact"].meta["task"])
    exact = run_pass(models["exact"], task, episodes, batch_size, seed, check=False)
    faiss = run_pass(models["faiss"], task, episodes, batch_size, seed, check=False)
    row = {"model": name, "kind": config.kind, "task": task.name, "slots": slots, "word_size": config.word_size,
           "heads": config.heads, "k": config.k, "episodes": episodes, "batch_size": batch_size, "seed": seed,
           "steps": exact["steps"],
           "bit_errors_exact": exact["bit_errors"], "bit_errors_faiss": faiss["bit_errors"],
           "exact_ms_per_step": exact["ms_per_step"], "faiss_ms_per_step": faiss["ms_per_step"],
           "exact_index_ms_per_step": exact["index_ms_per_step"],
           "faiss_index_ms_per_step": faiss["index_ms_per_step"],
           "faiss_reset_s": _mean([s["reset_s"] / s["resets"] for s in faiss["stats"] if s["resets"]])}
    if check:
        checked = run_pass(models["faiss"], task, episodes, batch_size, seed, check=True)
        row.update(summarise(checked["stats"]))
        row["bit_errors_faiss_checked"] = checked["bit_errors"]     # same ids as pass 2: the same errors
    return row


def run_exact_vs_exact(name: str, slots: int, episodes: int, batch_size: int = BATCH_SIZE, seed: int = SEED) -> dict:
    """The measurement's own check: the exact index compared with an exact index (recall must be 1, nothing
    found none) -> summarise()'s keys + bit errors of the checked and of a plain pass."""
    from . import pretrained
    from . import tasks as tasks_module
    model = pretrained.load(name, index="exact", memory_slots=slots)
    task = tasks_module.get(model.meta["task"])
    checked = run_pass(model, task, episodes, batch_size, seed, check=True, check_exact=True)
    plain = run_pass(model, task, episodes, batch_size, seed, check=False)
    return {**summarise(checked["stats"]), "bit_errors_checked": checked["bit_errors"],
            "bit_errors": plain["bit_errors"]}


def _mean(values):
    values = list(values)
    return sum(values) / len(values) if values else None


def measure_build(slots: int, word_size: int, batch_size: int = BATCH_SIZE, cache: str = "cold",
                  start: str = "jittered") -> dict:
    """The faiss index's reset on a fresh SAM/SDNC memory [batch, N, W] that starts as `start` (the model's
    initial rows: "jittered" needs the HNSW over them, "zero" needs no structure), in stages, each with this (N, W)'s
    structure dropped from the in-process cache first (other structures stay):
    cache "cold": the on-disk cache is an empty temporary directory: "cold" (faiss builds the initial rows'
    structure), then "from disk" (read back from that directory; below index_parts.DISK_CACHE_FROM slots
    nothing is written to disk, so this is a second build);
    cache "shared": the usual on-disk cache ($SAMVIZ_INDEX_CACHE or ~/.cache/samviz/index): one stage, counted
    as "from disk" when the structure was read from it and as "cold" when it had to be built (then None for
    the stage not seen).
    Then "reset": another reset in the same process (what every later episode pays). Leaves the structure in
    the in-process cache (which keeps two, so both shipped word sizes stay built for the runs at this N), and
    $SAMVIZ_INDEX_CACHE as it was. -> {"build_cold_s", "build_from_disk_s", "build_reset_s", "build_cache",
    "index" (the index's description)}."""
    from .memory import index as index_module
    from .memory import index_parts
    from .memory.initial import initial_memory
    if cache not in ("cold", "shared"):
        raise ValueError(f"cache must be 'cold' or 'shared', got {cache!r}")
    memory = initial_memory(start, batch_size, slots, word_size, torch.float32)
    previous = os.environ.get(index_parts.CACHE_ENV)
    seconds = {"cold": None, "from_disk": None}

    def timed_reset(forget: bool) -> tuple:
        if forget:                    # forget this (N, W)'s structure only (others stay cached)
            in_process = index_parts._INITIAL_CACHE      # noqa: SLF001 (the measurement needs it gone)
            for key in [key for key in in_process if key[:2] == (slots, word_size)]:
                del in_process[key]
        index = index_module.make_index("faiss", batch_size, slots, word_size)
        start = time.perf_counter()
        index.reset(memory)
        return time.perf_counter() - start, index

    with tempfile.TemporaryDirectory(prefix="samviz-scale-index-") as directory:
        if cache == "cold":
            os.environ[index_parts.CACHE_ENV] = directory
        try:
            if cache == "cold":
                seconds["cold"], _ = timed_reset(True)
                seconds["from_disk"], _ = timed_reset(True)
            else:
                first, index = timed_reset(True)
                initial = getattr(index, "initial", None)
                seconds["from_disk" if initial is not None and initial.from_disk else "cold"] = first
            reset, index = timed_reset(False)
        finally:
            if previous is None:
                os.environ.pop(index_parts.CACHE_ENV, None)
            else:
                os.environ[index_parts.CACHE_ENV] = previous
    return {"build_cold_s": seconds["cold"], "build_from_disk_s": seconds["from_disk"], "build_reset_s": reset,
            "build_cache": cache, "index": index.describe()}


# ------------------------------------------------------------------------------------------ output
def _number(value, digits=3) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def markdown_table(rows: list[dict], settings: dict | None = None) -> str:
    """The rows as a markdown table (with a sentence saying what was measured)."""
    if not rows:
        return "_No rows: run `python -m samviz.evaluate_scale`._\n"
    lines = []
    if settings:
        lines += [f"Measured by `{settings.get('command', 'python -m samviz.evaluate_scale')}` "
                  f"({settings.get('created', '?')}, {settings.get('wall_s', 0) / 60:.0f} min; seed "
                  f"{settings.get('seed')}, batches of {settings.get('batch_size')}, one thread). "
                  "Exact and faiss run the same episodes; recall and the similarity share are measured in a "
                  "third, faiss pass that also answers every search exactly on the same live memory. "
                  f"A found row tying the exact K-th cosine within {TIE:g} counts as found. Times are forward "
                  "only, no gradient, memory set-up not timed; \"index\" is the part spent in the index's search "
                  "+ update. Build: the faiss index's reset on a fresh memory, cold (nothing cached: the initial "
                  "rows' HNSW built on every core) / read from the disk cache / in the same process (what every "
                  "later episode pays); below 4,096 slots faiss is an exact flat index."
                  + (" This run used the shared disk cache (--index-cache shared): a structure found there "
                     "shows – as cold, one built shows – as disk." if settings.get("index_cache") == "shared"
                     else ""), ""]
    lines += ["| model | N | episodes | bit errors/seq faiss / exact | recall@K | top-1 found (missed) "
              "| share of top-K similarity | found none of its written rows | ms/step faiss / exact "
              "| index ms/step faiss / exact | faiss build s cold / disk / reset |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        none = (f"{r['found_none']} of {r['written_expected']}" if r.get("written_expected") is not None
                else "–")
        lines.append(
            f"| {r['model']} | {r['slots']:,} | {r['episodes']} "
            f"| {_number(r['bit_errors_faiss'])} / {_number(r['bit_errors_exact'])} | {_number(r.get('recall'))} "
            f"| {_number(r.get('top1'))} ({r.get('top1_missed', '–')}) | {_number(r.get('similarity_share'), 4)} "
            f"| {none} | {_number(r['faiss_ms_per_step'], 1)} / {_number(r['exact_ms_per_step'], 1)} "
            f"| {_number(r['faiss_index_ms_per_step'], 2)} / {_number(r['exact_index_ms_per_step'], 2)} "
            f"| {_number(r.get('build_cold_s'), 2)} / {_number(r.get('build_from_disk_s'), 2)} "
            f"/ {_number(r.get('build_reset_s'), 2)} |")
    return "\n".join(lines) + "\n"


def write_readme(table: str, path: Path = README_PATH) -> None:
    """Put table into path between README_BEGIN and README_END (appended with a heading the first time);
    nothing else in the file changes."""
    text = path.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        section = ("## The sparse models at large N, exact vs faiss\n\n"
                   "Regenerated by `python -m samviz.evaluate_scale --write-readme --json assets/bench/scale.json` "
                   "(see its docstring for each column).\n\n")
        text = text.rstrip("\n") + f"\n\n{section}{README_BEGIN}\n{README_END}\n"
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    temporary = path.with_suffix(".md.scale.tmp")
    temporary.write_text(f"{head}{README_BEGIN}\n{table}{README_END}{tail}", encoding="utf-8")
    temporary.replace(path)


def write_json(rows: list[dict], settings: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps({"format": FORMAT, "settings": settings, "rows": rows}, indent=1) + "\n",
                         encoding="utf-8")
    temporary.replace(path)


COLUMNS = {   # what each key of a row means (the JSON's rows; a page can label its columns from this)
    "model": "shipped checkpoint (sam-*, sdnc-*)", "kind": "model kind", "task": "the checkpoint's task",
    "slots": "N, memory slots", "word_size": "W", "heads": "read heads", "k": "K, rows read per head",
    "episodes": "fresh episodes (the same for every pass)", "batch_size": "episodes per batch", "seed": "seed",
    "steps": "time steps summed over the batches",
    "bit_errors_exact": "bit errors per sequence, exact index", "bit_errors_faiss": "same, faiss index",
    "bit_errors_faiss_checked": "same, the checked faiss pass (the same ids: the same errors)",
    "exact_ms_per_step": "forward ms per step, exact index (memory set-up not timed)",
    "faiss_ms_per_step": "forward ms per step, faiss index",
    "exact_index_ms_per_step": "of which in the exact index (search + update)",
    "faiss_index_ms_per_step": "of which in the faiss index (search + update)",
    "faiss_reset_s": "mean faiss reset per batch during the runs (structure already built)",
    "queries": "searches × batch × heads compared", "recall": "recall@K by ids, K-th ties within TIE count",
    "top1": "share of queries whose exact top-1 was found", "top1_missed": "queries that missed it",
    "similarity_share": "Σ found cosines / Σ exact top-K cosines (queries with a positive exact sum)",
    "similarity_queries": "queries in that share", "written_expected": "queries whose exact top-K held a "
    "row written in the episode", "found_none": "of those, queries that found none of those rows",
    "build_cold_s": "faiss reset with nothing cached (None: not measured)",
    "build_from_disk_s": "faiss reset reading the disk cache (None: not measured)",
    "build_reset_s": "faiss reset in the same process", "build_cache": "cold | shared (--index-cache)",
    "index": "the faiss index's own description at this N",
}
ROW_KEYS = ("model", "slots", "episodes", "bit_errors_exact", "bit_errors_faiss", "exact_ms_per_step",
            "faiss_ms_per_step", "exact_index_ms_per_step", "faiss_index_ms_per_step")


def load_rows(path: str | Path | None = None) -> tuple[list[dict], dict]:
    """The measured rows and their settings from a --json file (default: the shipped assets/bench/scale.json)
    -> (rows, settings); ([], {}) when the file does not exist. A file that is not this module's output
    raises ValueError naming the file and the problem (never a KeyError later)."""
    path = Path(path) if path is not None else SCALE_JSON
    if not path.is_file():
        return [], {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not readable as JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("rows"), list):
        raise ValueError(f"{path}: not a samviz.evaluate_scale result (format {FORMAT} with a list of rows)")
    for number, row in enumerate(data["rows"]):
        missing = [key for key in ROW_KEYS if not isinstance(row, dict) or key not in row]
        if missing:
            raise ValueError(f"{path}: row {number} lacks {', '.join(missing)}")
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    return data["rows"], settings


# ------------------------------------------------------------------------------------------ CLI
def _exponent(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 62:
        raise ValueError(text)
    return value


def _int_list(name: str, low: int, high: int):
    def parse(text: str) -> list[int]:
        parts = [part.strip().replace("_", "") for part in text.split(",")]
        if not parts or any(not part for part in parts):
            raise argparse.ArgumentTypeError(f"{name}: a comma-separated list of integers (got {text!r})")
        values = []
        for part in parts:
            try:
                value = int(part) if not part.startswith("2^") else 1 << _exponent(part[2:])
            except ValueError:
                raise argparse.ArgumentTypeError(f"{name}: {part!r} is not an integer") from None
            if not low <= value <= high:
                raise argparse.ArgumentTypeError(f"{name}: each must be in [{low:,}, {high:,}] (got {value:,})")
            values.append(value)
        if len(values) > LIMITS["values"]:
            raise argparse.ArgumentTypeError(f"{name}: at most {LIMITS['values']} values (got {len(values)})")
        return values
    parse.__name__ = name
    return parse


def _bounded(name: str, low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: {text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name}: must be in [{low:,}, {high:,}] (got {value:,})")
        return value
    parse.__name__ = name
    return parse


def _writable(path: Path) -> bool:
    """Whether path can be written: the file itself if it exists, else its nearest existing folder."""
    path = path.absolute()
    if path.exists():
        return os.access(path, os.W_OK)
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def parse_args(argv=None, prog: str = "python -m samviz.evaluate_scale") -> argparse.Namespace:
    """Parse and check every argument (exit status 2 with a message on a bad one); loads nothing."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None,
                        help="comma-separated shipped sparse models (default: every sam-* and sdnc-*)")
    parser.add_argument("--slots", type=_int_list("--slots", *LIMITS["slots"]), default=list(SLOTS),
                        help="comma-separated N (or 2^k), default " + ",".join(map(str, SLOTS)))
    parser.add_argument("--episodes", type=_int_list("--episodes", *LIMITS["episodes"]), default=None,
                        help="episodes per model at each N: one value, or one per --slots value "
                             f"(default {','.join(map(str, EPISODES))} for the default N, else {EPISODES[0]})")
    parser.add_argument("--batch-size", type=_bounded("--batch-size", *LIMITS["batch_size"]), default=BATCH_SIZE)
    parser.add_argument("--seed", type=_bounded("--seed", *LIMITS["seed"]), default=SEED)
    parser.add_argument("--index-cache", choices=("cold", "shared"), default="cold",
                        help="cold (default): time the faiss index's build with an empty temporary disk cache; "
                             "shared: use the usual disk cache (~/.cache/samviz/index), timing a read where it "
                             "holds the structure (a 2^20 build takes minutes on a small machine)")
    parser.add_argument("--no-check", action="store_true", help="skip the checked faiss pass (no recall columns)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here (e.g. assets/bench/scale.json)")
    parser.add_argument("--write-readme", action="store_true",
                        help="put the table into pretrained/README.md between its own markers")
    args = parser.parse_args(argv)
    if len(set(args.slots)) != len(args.slots):
        parser.error(f"--slots: a value is repeated ({args.slots})")
    if args.episodes is None:
        args.episodes = list(EPISODES) if args.slots == list(SLOTS) else [EPISODES[0]] * len(args.slots)
    elif len(args.episodes) == 1:
        args.episodes = args.episodes * len(args.slots)
    elif len(args.episodes) != len(args.slots):
        parser.error(f"--episodes: give one value or one per --slots value ({len(args.slots)}), "
                     f"got {len(args.episodes)}")
    largest = max(args.slots)
    if args.batch_size * largest > MAX_BATCH_ROWS:
        parser.error(f"--batch-size {args.batch_size} × N {largest:,} = {args.batch_size * largest:,} memory rows "
                     f"per pass; at most {MAX_BATCH_ROWS:,} (lower --batch-size or N)")
    shipped = sparse_models()
    if args.models is None:
        args.models = shipped
    else:
        args.models = [name.strip() for name in args.models.split(",") if name.strip()]
        unknown = [name for name in args.models if name not in shipped]
        if not args.models or unknown:
            parser.error(f"--models: {', '.join(unknown) or 'none given'} not among the shipped sparse models "
                         f"({', '.join(shipped) or 'none shipped'})")
    if not args.models:
        parser.error("no shipped sparse model (sam-*, sdnc-*) in " + str(PRETRAINED_DIR))
    if args.json is not None:                  # refused now, not after a run of many minutes
        if args.json.is_dir():
            parser.error(f"--json: {args.json} is a directory")
        if not _writable(args.json):
            parser.error(f"--json: cannot write {args.json}")
    if args.write_readme and not (README_PATH.is_file() and _writable(README_PATH)):
        parser.error(f"--write-readme: cannot write {README_PATH}")
    return args


def main(argv=None, prog: str = "python -m samviz.evaluate_scale") -> int:
    args = parse_args(argv, prog)
    started = time.monotonic()
    torch.set_num_threads(1)
    try:
        import faiss
        faiss.omp_set_num_threads(1)          # searches on one thread (the cold HNSW build uses every core)
    except ImportError:
        pass
    from . import pretrained
    configs = {name: pretrained.read_meta(name)["config"] for name in args.models}
    # (word size, initial rows) of each model: what its index has to build at each N
    starts = {name: (c["word_size"], c.get("initial_rows", INITIAL_ROWS_BEFORE_THE_SETTING))
              for name, c in configs.items()}
    rows = []
    for slots, episodes in zip(args.slots, args.episodes, strict=True):
        builds = {}
        for word, start in sorted(set(starts.values())):
            build = measure_build(slots, word, min(args.batch_size, episodes), args.index_cache, start)
            builds[word, start] = build
            print(f"N={slots:,} W={word} {start} rows: build cold {_number(build['build_cold_s'], 2)} s, from disk "
                  f"{_number(build['build_from_disk_s'], 2)} s, reset {build['build_reset_s']:.2f} s",
                  file=sys.stderr, flush=True)
        for name in args.models:
            row = run_model(name, slots, episodes, args.batch_size, args.seed, check=not args.no_check)
            row.update({key: value for key, value in builds[starts[name]].items()})
            rows.append(row)
            print(markdown_table([row]).splitlines()[-1], file=sys.stderr, flush=True)
    settings = {"command": f"{prog} " + shlex.join(argv if argv is not None else sys.argv[1:]),
                "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "wall_s": time.monotonic() - started,
                "seed": args.seed, "batch_size": args.batch_size, "slots": args.slots, "episodes": args.episodes,
                "models": args.models, "index_cache": args.index_cache, "tie": TIE, "torch_threads": 1,
                "cpu_cores": os.cpu_count()}
    table = markdown_table(rows, settings)
    print(table, end="")
    try:
        if args.json is not None:
            write_json(rows, settings, args.json)
            print(f"wrote {args.json}", file=sys.stderr)
        if args.write_readme:
            write_readme(table)
            print(f"wrote {README_PATH}", file=sys.stderr)
    except OSError as error:
        print(f"error: cannot write {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
