"""Benchmark CLI: one JSON object per line on stdout as each configuration finishes; a summary on stderr.

    python -m samviz.bench --models ntm,sam --slots 1024,65536 --batch 8 --heads 4 --steps 10
    python -m samviz.bench --models ntm,sam-exact --slots 2^10..2^16 --out results.jsonl

Models: ntm, dam, dnc (dense); sam / sam-faiss, sam-exact, sdnc / sdnc-faiss, sdnc-exact (sparse).
Every configuration runs in its own worker process (see samviz.bench.runner): refused when its estimated
memory exceeds the budget, stopped past the timeout. Exit status 0 when every row was produced (whatever
its status), 2 for bad arguments, 3 when another benchmark holds the lock, 1 for an operating-system error
(a full disk, an unwritable --out: one line, samviz.cli).

Every argument is checked against a bound before anything is built from it: a range of powers of two is
checked by its exponents (never expanded first), numbers are parsed from bounded text, floats must be
finite. A refusal is an argparse message and exit status 2, never a traceback.
"""
import argparse
from decimal import Decimal, InvalidOperation
import json
import math
import re
import sys

from samviz import cli

from .measure import MODEL_NAMES
from .runner import (
    DEFAULT_TIME_BUDGET_S,
    DEFAULT_TIMEOUT_S,
    LIMITS,
    MAX_SLOTS,
    MIB,
    BenchConfig,
    BenchmarkBusy,
    bench_lock,
    default_budget_bytes,
    ordered_row,
    run_configs,
)

MAX_ARGUMENT_CHARS = 1000       # a --slots or --models list longer than this is refused unread
MAX_SIZE_CHARS = 24             # one memory size ("1048576", "2^20", "1.5e6") is never longer than this
MAX_POWER = MAX_SLOTS.bit_length() - 1     # 2^MAX_POWER = MAX_SLOTS
MAX_SIZES = 64                  # distinct memory sizes in one run
MAX_CONFIGS = 256               # models × sizes in one run
MAX_TIMEOUT_S = 24 * 3600.0
MAX_REPEAT_TIME_S = 3600.0
MAX_BUDGET_MIB = float(1 << 20)          # 1 TiB: more than any machine this runs on
SIZE_FORMS = "use e.g. 1024, 2^16, 64k, 1M, 1e6"


def _shown(text: str, limit: int = 40) -> str:
    """The visitor's text for an error message, cut short (it may be megabytes long)."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _out_of_range(shown: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"memory size {shown} out of range [2, {MAX_SLOTS}] (2^1 … 2^{MAX_POWER})")


def parse_size(text: str) -> int:
    """"1024", "2^16", "64k", "1M", "1e6" -> int in [2, MAX_SLOTS]; anything else -> ArgumentTypeError.

    Bounds are checked on the written form before a number is built: "2^100000000" is refused by its
    exponent, "1e400" by its decimal exponent (no float infinity, no huge integer).
    """
    raw = text
    text = text.strip().lower().replace("_", "")
    if len(text) > MAX_SIZE_CHARS:
        raise argparse.ArgumentTypeError(f"not a memory size: {_shown(raw)} (too long; {SIZE_FORMS})")
    power = re.fullmatch(r"2(?:\^|\*\*)(\d+)", text)
    suffixed = re.fullmatch(r"(\d+)([km])", text)
    scientific = re.fullmatch(r"\d+(?:\.\d+)?e\+?\d+", text)
    if power:
        exponent = int(power.group(1))
        if not 1 <= exponent <= MAX_POWER:
            raise _out_of_range(_shown(raw))
        value = 1 << exponent
    elif suffixed:
        value = int(suffixed.group(1)) * (1000 if suffixed.group(2) == "k" else 1_000_000)
    elif scientific:
        try:
            number = Decimal(text)          # exact: "1.5e3" is 1500, "1.0000001e3" is not an integer
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"not a memory size: {_shown(raw)} ({SIZE_FORMS})") from None
        if number.adjusted() > len(str(MAX_SLOTS)):       # more digits than any allowed size: don't build it
            raise _out_of_range(_shown(raw))
        if number != number.to_integral_value():
            raise argparse.ArgumentTypeError(f"not a whole number of slots: {_shown(raw)}")
        value = int(number)
    elif re.fullmatch(r"\d+", text):
        value = int(text)
    else:
        raise argparse.ArgumentTypeError(f"not a memory size: {_shown(raw)} ({SIZE_FORMS})")
    if not 2 <= value <= MAX_SLOTS:
        raise _out_of_range(_shown(raw))
    return value


def parse_slots(text: str) -> list[int]:
    """Comma-separated sizes; "2^a..2^b" means every power of two from 2^a to 2^b (a, b ≤ MAX_POWER).

    The exponents of a range are checked before it is expanded, and the list is capped at MAX_SIZES.
    """
    if len(text) > MAX_ARGUMENT_CHARS:
        raise argparse.ArgumentTypeError(f"--slots is {len(text):,} characters long (at most {MAX_ARGUMENT_CHARS})")
    sizes: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"2\^(\d+)\s*\.\.\s*2\^(\d+)", part)
        if match:
            low, high = match.group(1), match.group(2)
            for exponent in (low, high):
                if len(exponent) > 3 or not 1 <= int(exponent) <= MAX_POWER:
                    raise _out_of_range(_shown(f"2^{exponent}") + f" in the range {_shown(part)}")
            low, high = int(low), int(high)
            if low > high:
                raise argparse.ArgumentTypeError(f"empty range {_shown(part)} (the lower power comes first)")
            sizes.extend(1 << p for p in range(low, high + 1))     # at most MAX_POWER entries
        else:
            sizes.append(parse_size(part))
        sizes = list(dict.fromkeys(sizes))
        if len(sizes) > MAX_SIZES:
            raise argparse.ArgumentTypeError(f"more than {MAX_SIZES} distinct memory sizes")
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one memory size")
    return sizes


def parse_models(text: str) -> list[str]:
    if len(text) > MAX_ARGUMENT_CHARS:
        raise argparse.ArgumentTypeError(f"--models is {len(text):,} characters long (at most {MAX_ARGUMENT_CHARS})")
    models = list(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    if not models:
        raise argparse.ArgumentTypeError("give at least one model")
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        shown = ", ".join(_shown(m, 20) for m in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise argparse.ArgumentTypeError(f"unknown model(s) {shown}; choose from {', '.join(MODEL_NAMES)}")
    return models


def bounded_int(field: str):
    """An integer within runner.LIMITS[field] (the same bounds BenchConfig.validate checks)."""
    low, high = LIMITS[field]

    def parse(text: str) -> int:
        if len(text.strip()) > 12 or not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise argparse.ArgumentTypeError(f"not an integer in [{low}, {high}]: {_shown(text)}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}] (got {value})")
        return value
    return parse


def bounded_float(high: float):
    """A finite number in (0, high]: "nan", "inf", "1e400" and negatives are refused."""
    def parse(text: str) -> float:
        try:
            value = float(text) if len(text) <= 40 else math.nan
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {_shown(text)}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number (got {_shown(text)})")
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"must be > 0 and at most {high:g} (got {value:g})")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m samviz.bench", description=__doc__.split("\n\n")[0],
        epilog="ms_per_step: one forward + backward, divided by T (median over repeats). peak_mib: training "
               "overhead = peak RSS during forward + backward minus the RSS with the memory already initialised.")
    parser.add_argument("--models", type=parse_models, required=True,
                        help="comma-separated: " + ", ".join(MODEL_NAMES))
    parser.add_argument("--slots", type=parse_slots, required=True,
                        help=f"memory sizes N in [2, 2^{MAX_POWER}], e.g. 1024,65536 or 2^10..2^16")
    parser.add_argument("--batch", type=bounded_int("batch"), default=8)
    parser.add_argument("--heads", type=bounded_int("heads"), default=4)
    parser.add_argument("--k", type=bounded_int("k"), default=4, help="neighbours per sparse read (default 4)")
    parser.add_argument("--word-size", type=bounded_int("word_size"), default=32)
    parser.add_argument("--steps", type=bounded_int("steps"), default=10, help="sequence length T (default 10)")
    parser.add_argument("--timeout", type=bounded_float(MAX_TIMEOUT_S), default=DEFAULT_TIMEOUT_S,
                        help=f"seconds per configuration before the worker is stopped (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--budget-mib", type=bounded_float(MAX_BUDGET_MIB), default=None,
                        help="memory budget per worker in MiB (default: min(8 GiB, 60%% of available RAM))")
    parser.add_argument("--repeat-time", type=bounded_float(MAX_REPEAT_TIME_S), default=DEFAULT_TIME_BUDGET_S,
                        help="timed runs repeat until this many seconds were spent "
                             f"(default {DEFAULT_TIME_BUDGET_S:g})")
    parser.add_argument("--out", default=None, help="also write the rows to this JSON-lines file")
    parser.add_argument("--append", action="store_true", help="append to --out instead of overwriting it")
    parser.add_argument("--wait", action="store_true", help="wait for another running benchmark instead of exiting")
    return parser


def plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[BenchConfig]:
    """Every (N, model) configuration, validated; a refusal goes through parser.error (exit status 2)."""
    count = len(args.slots) * len(args.models)
    if count > MAX_CONFIGS:
        parser.error(f"{count} configurations ({len(args.models)} models × {len(args.slots)} sizes) is more than "
                     f"{MAX_CONFIGS} in one run")
    configs = []
    for n in args.slots:
        for model in args.models:
            config = BenchConfig(model=model, slots=n, batch=args.batch, heads=args.heads, k=args.k,
                                 word_size=args.word_size, steps=args.steps)
            try:
                configs.append(config.validate())
            except ValueError as error:
                parser.error(f"{model} at N={n}: {error}")
    return configs


@cli.reports_os_errors("python -m samviz.bench")
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configs = plan(parser, args)
    budget = default_budget_bytes() if args.budget_mib is None else int(args.budget_mib * MIB)
    try:
        out = open(args.out, "a" if args.append else "w") if args.out else None
    except OSError as error:
        parser.error(f"argument --out: cannot write {_shown(args.out, 200)}: {error.strerror or error}")
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
                    try:
                        out.write(line + "\n")
                        out.flush()
                    except OSError as error:     # a full disk: samviz.cli reports it, naming the file
                        raise OSError(error.errno, error.strerror, args.out) from None
                rows.append(row)
    except BenchmarkBusy as error:
        print(f"samviz.bench: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("samviz.bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if out:
            try:
                out.close()
            except OSError:
                pass            # what could not be written was reported where it failed
    from .plots import summary_lines
    print("\n".join(summary_lines(rows)), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
