"""Recall and speed of the faiss memory index against the exact one, on random memories.

Random rows are not one of initial.py's starts, so this measures FaissIndex's IVF structure (IVFIndex: the
structure for arbitrary memories and the fallback past WRITTEN_CAP written rows). The memories SAM and SDNC
actually hold (initial rows + written rows) are measured by scripts/index_recall_real.py.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/index_recall.py                 # recall at 100,000 rows + table
    OMP_NUM_THREADS=1 .venv/bin/python scripts/index_recall.py --sizes 1024,16384 --slots 20000

1. Recall@k of FaissIndex vs ExactIndex on one memory of --slots rows (rows and queries N(0, 1)), before
   and after updating 10 % of the rows one step (17 rows per index) at a time.
2. A table over --sizes: per-call time of search (--batch indexes × --heads queries, top --k) and of
   update (17 rows × --batch), for both indexes, with the recall of the searches timed (after the
   timed updates) and the rows faiss scanned per query.
Times are means per call, wall clock and CPU time of this process (the CPU figure is less distorted when
other work shares the machine); run with OMP_NUM_THREADS=1 to compare like with like.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import sys
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samviz.memory.index import ExactIndex, FaissIndex, recall_at_k  # noqa: E402

ROWS_PER_UPDATE = 17   # K·R + 1 rows written per step by SAM with 4 heads, K = 4


def random_updates(generator, batch, slots, width, per_index=ROWS_PER_UPDATE):
    batch_ids = torch.arange(batch).repeat_interleave(per_index)
    slot_ids = torch.randint(0, slots, (batch * per_index,), generator=generator)
    rows = torch.randn(batch * per_index, width, generator=generator)
    return batch_ids, slot_ids, rows


def apply(memory, indexes, updates):
    batch_ids, slot_ids, rows = updates
    memory[batch_ids, slot_ids] = rows
    for index in indexes:
        index.update(batch_ids, slot_ids, rows)


def faiss_options(args) -> dict:
    return {key: value for key, value in (("nlist", args.nlist), ("nprobe", args.nprobe)) if value}


def recall_section(args) -> None:
    generator = torch.Generator().manual_seed(args.seed)
    slots, width = args.slots, args.word_size
    memory = torch.randn(1, slots, width, generator=generator)
    exact, approximate = ExactIndex(1, slots, width), FaissIndex(1, slots, width, **faiss_options(args))
    exact.reset(memory)
    start = time.perf_counter()
    approximate.reset(memory)
    build = time.perf_counter() - start
    queries = torch.randn(1, args.queries, width, generator=generator)
    before = recall_at_k(approximate.search(queries, args.k), exact.search(queries, args.k))
    steps = max(1, slots // 10 // ROWS_PER_UPDATE)
    for _ in range(steps):
        apply(memory, (exact, approximate), random_updates(generator, 1, slots, width))
    after = recall_at_k(approximate.search(queries, args.k), exact.search(queries, args.k))
    print(f"recall@{args.k}, faiss vs exact, {slots:,} random N(0,1) rows, W={width}, {args.queries} random queries:")
    print(f"  {approximate.describe()}")
    print(f"  built in {build:.2f} s; rows scanned per query {approximate.last_stats['rows_scanned_per_query']:.0f}")
    print(f"  recall before updates: {before:.3f}")
    print(f"  recall after {steps * ROWS_PER_UPDATE:,} row updates ({steps} steps × {ROWS_PER_UPDATE}): {after:.3f}")


def timed(function, repeats: int) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) per call; CPU time is less distorted on a shared machine."""
    function()                                          # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        function()
    return ((time.perf_counter() - wall) / repeats * 1e3, (time.process_time() - cpu) / repeats * 1e3)


def size_row(args, slots: int) -> dict:
    generator = torch.Generator().manual_seed(args.seed + slots)
    batch, width, k = args.batch, args.word_size, args.k
    if args.distinct_batches:
        memory = torch.randn(batch, slots, width, generator=generator)
    else:                                               # one random memory per batch element, like SAM's start
        memory = torch.randn(1, slots, width, generator=generator).expand(batch, -1, -1).contiguous()
    exact, approximate = ExactIndex(batch, slots, width), FaissIndex(batch, slots, width, **faiss_options(args))
    start = time.perf_counter()
    exact.reset(memory)
    exact_build = time.perf_counter() - start
    start = time.perf_counter()
    approximate.reset(memory)
    faiss_build = time.perf_counter() - start
    query_sets = [torch.randn(batch, args.heads, width, generator=generator) for _ in range(args.repeats + 1)]
    update_sets = [random_updates(generator, batch, slots, width) for _ in range(args.repeats + 1)]
    row = {"slots": slots, "exact_build_s": exact_build, "faiss_build_s": faiss_build}
    for name, index in (("exact", exact), ("faiss", approximate)):
        queries = iter(query_sets)
        row[f"{name}_search_ms"] = timed(lambda index=index, queries=queries: index.search(next(queries), k),
                                         args.repeats)
        updates = iter(update_sets)                     # the same row updates for both, in the same order
        row[f"{name}_update_ms"] = timed(lambda index=index, updates=updates: index.update(*next(updates)),
                                         args.repeats)
    for batch_ids, slot_ids, rows in update_sets:       # the memory catches up: all three agree again
        memory[batch_ids, slot_ids] = rows
    found, truth = [], []
    for queries in query_sets:
        found.append(approximate.search(queries, k))
        truth.append(exact.search(queries, k))
    row["recall"] = recall_at_k(torch.stack(found), torch.stack(truth))
    row["scanned"] = approximate.last_stats["rows_scanned_per_query"]
    row["structure"] = "flat" if approximate.flat else f"IVF {approximate.nlist}/{approximate.nprobe}"
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=100_000, help="rows for the recall measurement")
    parser.add_argument("--word-size", type=int, default=32)
    parser.add_argument("--queries", type=int, default=1000, help="queries for the recall measurement")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8, help="indexes (batch elements) in the timing table")
    parser.add_argument("--heads", type=int, default=4, help="queries per index per search in the table")
    parser.add_argument("--sizes", default="1024,16384,131072,1048576", help="comma-separated N for the table")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per measurement")
    parser.add_argument("--nlist", type=int, default=None, help="override the number of IVF lists")
    parser.add_argument("--nprobe", type=int, default=None, help="override the lists probed per query")
    parser.add_argument("--skip-recall", action="store_true", help="only the timing table")
    parser.add_argument("--distinct-batches", action="store_true",
                        help="a different random memory per batch element in the table (default: one memory "
                             "copied to every batch element, as SAM starts; faiss then builds once)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if not args.skip_recall:
        recall_section(args)
        print()
    print(f"per call: search = {args.batch} indexes × {args.heads} queries, top {args.k}; "
          f"update = {ROWS_PER_UPDATE} rows × {args.batch} indexes; W={args.word_size}")
    print("times in ms per call, wall / CPU of this process; 'build s' = faiss reset() wall seconds")
    header = (f"{'N':>9} {'faiss':>13} {'build s':>8} {'exact search':>15} {'faiss search':>15} "
              f"{'exact update':>15} {'faiss update':>15} {'recall':>7} {'scanned/q':>10}")
    print(header)
    print("-" * len(header))

    def pair(value):
        return f"{value[0]:>7.2f}/{value[1]:<7.2f}"

    for slots in (int(s) for s in args.sizes.split(",") if s):
        r = size_row(args, slots)
        print(f"{r['slots']:>9,} {r['structure']:>13} {r['faiss_build_s']:>8.2f} {pair(r['exact_search_ms'])} "
              f"{pair(r['faiss_search_ms'])} {pair(r['exact_update_ms'])} {pair(r['faiss_update_ms'])} "
              f"{r['recall']:>7.3f} {r['scanned']:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
