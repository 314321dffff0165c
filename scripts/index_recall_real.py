"""Recall of the faiss memory index on the memories the shipped sparse models actually write (issue 13).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/index_recall_real.py           # every SAM/SDNC, 4096 and 2^16
    OMP_NUM_THREADS=1 .venv/bin/python scripts/index_recall_real.py --models sam-copy --slots 4096 --batches 1

For each shipped sparse checkpoint and each N, on fresh seeded episodes of the model's own task (default
level range, batch --batch-size, seed --seed + batch number: never a training or evaluation seed):

* the model runs once with index="exact" (its bit errors per sequence are the reference) and once with
  index="faiss"; in the faiss run every search is also answered by an ExactIndex over the same live memory,
  so recall is measured on the memory as the faiss run wrote it;
* recall@K by ids: per query, the share of K found ids that are in the exact top-K or whose cosine
  similarity ties the K-th exact one within 1e-6 (float64 cosine of the rows as they are);
* top-1: the share of queries whose exact top-1 was found (or a found row ties it within 1e-6);
* bit errors per sequence with faiss and with exact on the same episodes;
* ms per step: the whole faiss run's wall time / T (forward only, no gradient), not counting the index
  resets (their seconds are reported apart: the first one may build a structure, later ones reuse it), and
  the faiss index's own search + update time per step; the same for the exact run.

Threads are pinned to one (torch and faiss). Prints a markdown table; --json writes the rows.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import sys
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samviz import cli  # noqa: E402
from samviz import tasks as tasks_module  # noqa: E402
from samviz.evaluate_scale import TIE, compare_search, probing  # noqa: E402
import samviz.pretrained as pretrained  # noqa: E402

SPARSE_MODELS = ("sam-copy", "sam-associative_recall", "sam-priority_sort",
                 "sdnc-copy", "sdnc-associative_recall", "sdnc-priority_sort")
SEED = 7_000_000      # far from training seeds and from samviz.evaluate's 1234


def compare(found: torch.Tensor, exact: torch.Tensor, queries: torch.Tensor, memory: torch.Tensor) -> tuple:
    """found, exact [B, Q, K] ids; queries [B, Q, W]; memory [B, N, W] -> (hits [B, Q], top1 [B, Q] bool)
    (samviz.evaluate_scale.compare_search, which defines them)."""
    comparison = compare_search(found, exact, queries, memory)
    return comparison.hits, comparison.top1


def run_model(name: str, slots: int, batches: int, batch_size: int, seed: int) -> dict:
    row = {"model": name, "slots": slots, "episodes": batches * batch_size, "seed": seed}
    errors = {}
    timing = {}
    for kind in ("exact", "faiss"):
        model = pretrained.load(name, index=kind, memory_slots=slots)
        task = tasks_module.get(model.meta["task"])
        generator = torch.Generator().manual_seed(seed)
        total, steps, wall = 0.0, 0, 0.0
        with probing(check=True) as log, torch.no_grad():
            for _ in range(batches):
                episode = task.sample(batch_size=batch_size, level=None, generator=generator)
                start = time.perf_counter()
                logits = model(episode.inputs)
                wall += time.perf_counter() - start
                steps += episode.inputs.shape[0]
                total += tasks_module.bit_errors_per_sequence(logits, episode) * batch_size
        errors[kind] = total / (batches * batch_size)
        index_s = sum(s["search_s"] + s["update_s"] for s in log)
        resets = [s["reset_s"] for s in log]
        timing[kind] = {"ms_per_step": (wall - sum(resets)) / steps * 1e3, "index_ms_per_step": index_s / steps * 1e3,
                        "reset_s": max(resets), "last_reset_s": resets[-1]}
        if kind == "faiss":
            queries = sum(s["queries"] for s in log)
            k = log[0]["k"]
            row.update(queries=queries, recall=sum(s["hits"] for s in log) / (queries * k),
                       top1=sum(s["top1"] for s in log) / queries,
                       top1_missed=queries - sum(s["top1"] for s in log),
                       describe=getattr(model.core, "describe", lambda: "")())
    row.update(bit_errors_faiss=errors["faiss"], bit_errors_exact=errors["exact"],
               faiss_ms_per_step=timing["faiss"]["ms_per_step"], exact_ms_per_step=timing["exact"]["ms_per_step"],
               faiss_index_ms_per_step=timing["faiss"]["index_ms_per_step"],
               exact_index_ms_per_step=timing["exact"]["index_ms_per_step"],
               faiss_first_reset_s=timing["faiss"]["reset_s"], faiss_last_reset_s=timing["faiss"]["last_reset_s"])
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| model | N | queries | recall@K | top-1 found (missed) | bit errors faiss / exact "
             "| ms/step faiss / exact (index part) | faiss reset s, first / last |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['slots']:,} | {r['queries']} | {r['recall']:.3f} | {r['top1']:.3f} "
                     f"({r['top1_missed']}) | {r['bit_errors_faiss']:.3f} / {r['bit_errors_exact']:.3f} "
                     f"| {r['faiss_ms_per_step']:.1f} / {r['exact_ms_per_step']:.1f} "
                     f"({r['faiss_index_ms_per_step']:.2f} / {r['exact_index_ms_per_step']:.2f}) "
                     f"| {r['faiss_first_reset_s']:.2f} / {r['faiss_last_reset_s']:.2f} |")
    return "\n".join(lines) + "\n"


@cli.reports_os_errors("scripts/index_recall_real.py")
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(SPARSE_MODELS))
    parser.add_argument("--slots", default="4096,65536", help="comma-separated N")
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON-lines file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import faiss
        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    rows = []
    for slots in (int(s) for s in args.slots.split(",") if s):
        for name in (m for m in args.models.split(",") if m):
            row = run_model(name, slots, args.batches, args.batch_size, args.seed)
            rows.append(row)
            print(markdown([row]).splitlines()[-1], flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
    print()
    print(f"seed {args.seed}, {args.batches} × {args.batch_size} episodes per model and N; K-th-similarity ties "
          f"within {TIE} count as found")
    print(markdown(rows), end="")


if __name__ == "__main__":
    sys.exit(main())
