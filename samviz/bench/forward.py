"""Compare's measure over N: forward time per step of the models Compare runs, batch 1, stored as JSON lines.

    python -m samviz.bench.forward --out assets/bench/forward.jsonl

For each task, model and memory size N: the model Compare shows (its pretrained weights when samviz ships
them, with memory_slots = N, otherwise an untrained model built as the app builds it), one episode of the
task at its default level (seed 0), samviz.app.timing.step_times_ms (the function Compare's "forward ms /
step" uses: a plain forward, no recording, no gradients, the best of 3 runs per step), averaged over the
steps. One torch/faiss thread, in this process, sizes from small to large. Not timed: loading the model and
the memory's (and the index's) set-up.

Rows: measure "forward", model, index, task, level, seed, slots, batch (1), heads, word_size, k, steps,
ms_per_step, source ("pretrained" | "untrained"), threads, machine, date, command.
A size whose one run would take more than --max-seconds (estimated from the previous size) is skipped,
and so are the sizes after it for that model: the row says so (status "skipped").
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

from .__main__ import MAX_ARGUMENT_CHARS, parse_slots

DEFAULT_MODELS = ("ntm", "dam", "dnc", "sam-exact", "sam-faiss", "sdnc-exact", "sdnc-faiss")
DEFAULT_SLOTS = "2^5..2^16"
DEFAULT_MAX_SLOTS = {"dnc": 1 << 11}        # the DNC's N×N links: a bigger one is hours of CPU for this sweep
MAX_FORWARD_SLOTS = 1 << 20
MAX_SECONDS = 600.0
DEFAULT_COMMAND = "python -m samviz.bench.forward --out assets/bench/forward.jsonl"
SEED = 0


def _models(text: str) -> list[str]:
    from .measure import MODEL_NAMES
    if len(text) > MAX_ARGUMENT_CHARS:
        raise argparse.ArgumentTypeError(f"--models is too long (at most {MAX_ARGUMENT_CHARS} characters)")
    models = list(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    bad = [m for m in models if m not in MODEL_NAMES]
    if bad or not models:
        raise argparse.ArgumentTypeError(f"choose models from {', '.join(MODEL_NAMES)}")
    return models


def _tasks(text: str) -> list[str]:
    from samviz.app import params
    tasks = list(dict.fromkeys(t.strip() for t in text[:MAX_ARGUMENT_CHARS].split(",") if t.strip()))
    if not tasks or any(t not in params.TASKS for t in tasks):
        raise argparse.ArgumentTypeError(f"choose tasks from {', '.join(params.TASKS)}")
    return tasks


def build(kind: str, task: str, index: str, slots: int):
    """The model Compare would show at this size -> (model, "pretrained" | "untrained")."""
    import samviz
    from samviz.app import params
    from samviz.app.loaders import UNTRAINED, pretrained_name
    from samviz.kinds import spec
    import samviz.pretrained as pretrained
    name = pretrained_name(kind, task)
    sparse = spec(kind).sparse
    if name in pretrained.available():
        return pretrained.load(name, index=index if sparse else None, memory_slots=slots), "pretrained"
    t = params.task_info(task)
    return samviz.build_model(kind, input_size=t.input_size, output_size=t.output_size, memory_slots=slots,
                              heads=spec(kind).untrained_heads, index=index if sparse else "exact", seed=0,
                              **UNTRAINED), "untrained"


def measure_one(model_name: str, task: str, slots: int) -> dict:
    import torch

    from samviz.app import params, timing

    from .measure import split_model_name
    kind, index = split_model_name(model_name)
    model, source = build(kind, task, index or "exact", slots)
    level = params.default_level(task)
    episode = params.task_info(task).sample(batch_size=1, level=level, generator=torch.Generator().manual_seed(SEED))
    times = timing.step_times_ms(model, episode.inputs)
    c = model.config
    return {"measure": "forward", "model": kind, "index": index, "task": task, "level": level, "seed": SEED,
            "slots": slots, "batch": 1, "heads": c.heads, "word_size": c.word_size, "k": c.k,
            "steps": len(times), "ms_per_step": round(sum(times) / len(times), 5), "status": "ok",
            "source": source}


def read_forward_rows(path) -> list[dict]:
    """The stored sweep's rows (later rows for the same model, index, task and N win); [] when absent."""
    rows: dict = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                if row.get("measure") == "forward":
                    rows[(row.get("model"), row.get("index"), row.get("task"), row.get("slots"))] = row
    except FileNotFoundError:
        return []
    return list(rows.values())


def build_parser() -> argparse.ArgumentParser:
    from samviz.app import params
    parser = argparse.ArgumentParser(prog="python -m samviz.bench.forward", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=_models, default=list(DEFAULT_MODELS))
    parser.add_argument("--tasks", type=_tasks, default=list(params.TASKS))
    parser.add_argument("--slots", type=parse_slots, default=parse_slots(DEFAULT_SLOTS),
                        help=f"memory sizes (default {DEFAULT_SLOTS}; at most 2^20; the DNC stops at "
                             f"{DEFAULT_MAX_SLOTS['dnc']})")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="skip a size whose run is estimated above this (default 60)")
    parser.add_argument("--out", default=None, help="write the rows to this JSON-lines file")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 < args.max_seconds <= MAX_SECONDS:
        parser.error(f"--max-seconds must be in (0, {MAX_SECONDS:g}]")
    if max(args.slots) > MAX_FORWARD_SLOTS:
        parser.error(f"sizes up to {MAX_FORWARD_SLOTS:,} (2^20)")
    from .measure import pin_threads
    from .runner import machine_description
    threads = pin_threads()
    machine = machine_description()
    command = "python -m samviz.bench.forward " + " ".join(sys.argv[1:] if argv is None else argv)
    out = open(args.out, "w") if args.out else None
    try:
        for task in args.tasks:
            for model_name in args.models:
                last_seconds, last_slots, skipping = None, None, None
                for slots in sorted(args.slots):
                    kind = model_name.split("-")[0]
                    row = {"measure": "forward", "model": kind, "index": None if "-" not in model_name
                           else model_name.split("-", 1)[1], "task": task, "slots": slots, "batch": 1}
                    limit = DEFAULT_MAX_SLOTS.get(kind)
                    predicted = None if last_seconds is None else last_seconds * (slots / last_slots) ** (
                        2 if kind == "dnc" else 1)
                    if skipping:
                        row.update(status="skipped", reason=skipping)
                    elif limit and slots > limit:
                        skipping = f"above this sweep's limit of {limit:,} slots for {kind}"
                        row.update(status="skipped", reason=skipping)
                    elif predicted is not None and predicted > args.max_seconds:
                        skipping = f"estimated {predicted:.0f} s for one run, over --max-seconds {args.max_seconds:g}"
                        row.update(status="skipped", reason=skipping)
                    else:
                        started = time.perf_counter()
                        try:
                            row = measure_one(model_name, task, slots)
                        except Exception as error:    # report it as a row, carry on with the others
                            row.update(status="failed", reason=f"{type(error).__name__}: {error}"[:300])
                        last_seconds, last_slots = (time.perf_counter() - started) / 4, slots  # 3 runs + set-up
                    row.update(threads=threads, machine=machine, command=command,
                               date=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat())
                    line = json.dumps(row)
                    print(line, flush=True)
                    if out:
                        out.write(line + "\n")
                        out.flush()
    finally:
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
