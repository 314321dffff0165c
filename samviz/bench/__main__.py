"""Benchmark CLI: one JSON object per line on stdout as each configuration finishes; a summary on stderr.

    python -m samviz.bench --models ntm,sam --slots 1024,65536 --batch 8 --heads 4 --steps 10
    python -m samviz.bench --models ntm,sam-exact --slots 2^10..2^16 --out results.jsonl

Models: ntm, dam, dnc (dense); sam / sam-faiss, sam-exact, sdnc / sdnc-faiss, sdnc-exact (sparse).
Every configuration runs in its own worker process (see samviz.bench.runner): refused when its estimated
memory exceeds the budget, stopped past the timeout. Exit status 0 when every row was produced (whatever
its status), 2 for bad arguments, 3 when another benchmark holds the lock.
"""
import argparse
import json
import re
import sys

from .measure import MODEL_NAMES
from .runner import (DEFAULT_TIME_BUDGET_S, DEFAULT_TIMEOUT_S, MAX_SLOTS, MAX_STEPS, MIB, BenchConfig, BenchmarkBusy,
                     bench_lock, default_budget_bytes, ordered_row, run_configs)


def parse_size(text: str) -> int:
    """"1024", "2^16", "64k", "1M", "1e6" -> int."""
    text = text.strip().lower().replace("_", "")
    match = re.fullmatch(r"2\^(\d+)", text) or re.fullmatch(r"2\*\*(\d+)", text)
    if match:
        return 1 << int(match.group(1))
    match = re.fullmatch(r"(\d+)([km])", text)
    if match:
        return int(match.group(1)) * (1000 if match.group(2) == "k" else 1_000_000)
    if re.fullmatch(r"\d+(\.\d+)?e\d+", text):
        value = float(text)
        if value != int(value):
            raise ValueError(text)
        return int(value)
    if re.fullmatch(r"\d+", text):
        return int(text)
    raise ValueError(text)


def parse_slots(text: str) -> list[int]:
    """Comma-separated sizes; "2^a..2^b" expands to every power of two from 2^a to 2^b."""
    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"2\^(\d+)\.\.2\^(\d+)", part)
        try:
            if match:
                low, high = int(match.group(1)), int(match.group(2))
                if low > high:
                    raise argparse.ArgumentTypeError(f"empty range {part!r} (the lower power comes first)")
                sizes.extend(1 << p for p in range(low, high + 1))
            else:
                sizes.append(parse_size(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a memory size: {part!r} (use e.g. 1024, 2^16, 64k, 1M)") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one memory size")
    for n in sizes:
        if not 2 <= n <= MAX_SLOTS:
            raise argparse.ArgumentTypeError(f"memory size {n} out of range [2, {MAX_SLOTS}]")
    return list(dict.fromkeys(sizes))


def parse_models(text: str) -> list[str]:
    models = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not models:
        raise argparse.ArgumentTypeError("give at least one model")
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    return list(dict.fromkeys(models))


def positive_int(limit: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be in [1, {limit}] (got {value})")
        return value
    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (got {value})")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m samviz.bench", description=__doc__.split("\n\n")[0],
        epilog="ms_per_step: one forward + backward, divided by T (median over repeats). peak_mib: training "
               "overhead = peak RSS during forward + backward minus the RSS with the memory already initialised.")
    parser.add_argument("--models", type=parse_models, required=True, help="comma-separated: " + ", ".join(MODEL_NAMES))
    parser.add_argument("--slots", type=parse_slots, required=True, help="memory sizes N, e.g. 1024,65536 or 2^10..2^16")
    parser.add_argument("--batch", type=positive_int(4096), default=8)
    parser.add_argument("--heads", type=positive_int(64), default=4)
    parser.add_argument("--k", type=positive_int(1024), default=4, help="neighbours per sparse read (default 4)")
    parser.add_argument("--word-size", type=positive_int(4096), default=32)
    parser.add_argument("--steps", type=positive_int(MAX_STEPS), default=10, help="sequence length T (default 10)")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds per configuration before the worker is stopped (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--budget-mib", type=positive_float, default=None,
                        help="memory budget per worker in MiB (default: min(8 GiB, 60%% of available RAM))")
    parser.add_argument("--repeat-time", type=positive_float, default=DEFAULT_TIME_BUDGET_S,
                        help=f"timed runs repeat until this many seconds were spent (default {DEFAULT_TIME_BUDGET_S:g})")
    parser.add_argument("--out", default=None, help="also write the rows to this JSON-lines file")
    parser.add_argument("--append", action="store_true", help="append to --out instead of overwriting it")
    parser.add_argument("--wait", action="store_true", help="wait for another running benchmark instead of exiting")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configs = []
    for n in args.slots:
        for model in args.models:
            config = BenchConfig(model=model, slots=n, batch=args.batch, heads=args.heads, k=args.k,
                                 word_size=args.word_size, steps=args.steps)
            try:
                configs.append(config.validate())
            except ValueError as error:
                parser.error(f"{model} at N={n}: {error}")
    budget = default_budget_bytes() if args.budget_mib is None else int(args.budget_mib * MIB)
    out = open(args.out, "a" if args.append else "w") if args.out else None
    rows = []
    try:
        if args.wait:
            print("waiting for the benchmark lock if another benchmark holds it…", file=sys.stderr, flush=True)
        with bench_lock(blocking=args.wait):
            print(f"{len(configs)} configuration(s), budget {budget / MIB:,.0f} MiB per worker, timeout "
                  f"{args.timeout:g} s, 1 thread", file=sys.stderr, flush=True)
            for row in run_configs(configs, timeout_s=args.timeout, budget_bytes=budget,
                                   time_budget_s=args.repeat_time, lock=False):
                line = json.dumps(ordered_row(row))
                print(line, flush=True)
                if out:
                    out.write(line + "\n")
                    out.flush()
                rows.append(row)
    except BenchmarkBusy as error:
        print(f"samviz.bench: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("samviz.bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if out:
            out.close()
    from .plots import summary_lines
    print("\n".join(summary_lines(rows)), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
