"""The evidence base's command line (see samviz/results/__init__.py).

    python -m samviz.results run [--plan full|quick] [--only PART,...] [--budget-min M] [--dry-run]
    python -m samviz.results --check [--plan full|quick]       (also: python -m samviz.results check)
    python -m samviz.results plan [--plan full|quick]

Exit status: run 0 (everything planned is current), 4 (stopped at the time budget: run it again to go on);
--check 0 when no row is stale, none is missing and no part mixes machines, else 1; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import re
import shlex
import sys
import time

from . import PARTS, PLANS, manifest, provenance, shipped_plan, store
from .parts import MANIFEST, Context

MAX_BUDGET_MIN = 7 * 24 * 60
BUDGET_STOP = 4


def _parts(text: str | None) -> list[str]:
    if not text:
        return list(PARTS)
    names = [n.strip() for n in text[:500].split(",") if n.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(unknown)[:200] or '(none)'}; "
                                         f"choose from {', '.join(PARTS)}")
    return names


def _pattern(text: str) -> str:
    if len(text) > 200:
        raise argparse.ArgumentTypeError("--match is longer than 200 characters")
    try:
        re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"--match is not a regular expression: {error}") from None
    return text


def _budget(text: str) -> float:
    try:
        value = float(text) if len(text) < 20 else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text[:20]!r}") from None
    if not 0 < value <= MAX_BUDGET_MIN:
        raise argparse.ArgumentTypeError(f"--budget-min must be in (0, {MAX_BUDGET_MIN}]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m samviz.results", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=("run", "check", "plan"), default=None)
    parser.add_argument("--check", action="store_true", help="list stale and missing rows (same as `check`)")
    parser.add_argument("--plan", choices=PLANS, default=None,
                        help="full (default for run) or quick (the budgeted form); --check: the manifest's plan")
    parser.add_argument("--only", type=_parts, default=None, help=f"parts: {', '.join(PARTS)}")
    parser.add_argument("--budget-min", type=_budget, default=None,
                        help="stop starting new work after this many minutes (resume by running again)")
    parser.add_argument("--match", type=_pattern, default=None,
                        help="run: only the items whose label matches this regular expression (e.g. '^ntm ')")
    parser.add_argument("--dry-run", action="store_true", help="run: list what would be measured, measure nothing")
    parser.add_argument("--show", type=int, default=5, help="--check: rows listed per part and kind (default 5)")
    return parser


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run(plan: str, only: list[str], budget_min: float | None, dry_run: bool, command: str,
        match: str | None = None) -> int:
    started = time.monotonic()
    deadline = started + budget_min * 60 if budget_min else None
    context = Context(plan=plan, command=command, log=_log)
    work = []
    for name in only:
        part = PARTS[name]
        rows = part.read()
        by_key = {part.key(r): r for r in rows}
        todo = [item for item in part.items(plan) if not all(store.is_done(by_key.get(k)) for k in item.keys)
                and (match is None or re.search(match, item.label))]
        work.append((part, rows, by_key, todo))
    total = sum(len(todo) for *_, todo in work)
    _log(f"samviz.results: plan {plan}, machine {provenance.this_machine()}, commit {provenance.commit()[:12]}; "
         f"{total} item(s) to measure in {len(only)} part(s)"
         + (f", budget {budget_min:g} min" if budget_min else ""))
    done = 0
    stopped = False
    summary = {}
    for part, _rows, by_key, todo in work:
        _log(f"— {part.name}: {part.title} -> {part.path} ({len(todo)} to measure)")
        part_started = time.monotonic()
        for item in todo:
            if dry_run:
                _log(f"  would measure {item.label}")
                continue
            if deadline and time.monotonic() > deadline:
                stopped = True
                break
            began = time.monotonic()
            new = part.run(item, context, by_key)
            spent = time.monotonic() - began
            for row in new:
                row["item_seconds"] = round(spent / len(new), 2)     # what producing it took here (plan times)
                by_key[part.key(row)] = row
            keys_in_plan = {k for i in part.items(plan) for k in i.keys}
            kept = [r for r in by_key.values() if part.key(r) in keys_in_plan or store.is_current(r)]
            part.write(part.order(kept, plan))
            done += 1
            elapsed = time.monotonic() - started
            outcome = ", ".join(_outcome(r) for r in new[:3]) + (f" (+{len(new) - 3} rows)" if len(new) > 3 else "")
            _log(f"  [{done}/{total}] {item.label}: {outcome} · {_minutes(time.monotonic() - began)}"
                 f" · {_minutes(elapsed)} in" + (f", {_minutes(max(0, deadline - time.monotonic()))} of budget left"
                                                   if deadline else ""))
        if stopped:
            break
        if not dry_run:
            final = part.read()
            by_key = {part.key(r): r for r in final}
            complete = all(store.is_current(by_key.get(k)) for i in part.items(plan) for k in i.keys)
            if complete:
                part.finish(part.order(final, plan), context)
            summary[part.name] = {"file": _relative(part.path), "rows": len(final), "complete": complete,
                                  "seconds": round(time.monotonic() - part_started, 1)}
    if dry_run:
        return 0
    data = manifest()
    data.update(plan=plan, machine=provenance.this_machine(), machine_info=provenance.machine_info(),
                commit=provenance.commit(), command=command)
    data.setdefault("parts", {}).update(summary)
    store.write_json(MANIFEST, data)
    elapsed = time.monotonic() - started
    if stopped:
        left = total - done
        _log(f"stopped at the budget after {_minutes(elapsed)}: {left} item(s) left; run the same command again to "
             "go on")
        return BUDGET_STOP
    _log(f"done in {_minutes(elapsed)}: {done} item(s) measured")
    return 0


def _relative(path) -> str:
    path = path.resolve()
    return str(path.relative_to(provenance.ROOT)) if path.is_relative_to(provenance.ROOT) else str(path)


def _outcome(row: dict) -> str:
    status = row.get("status", "ok")
    if status != "ok":
        return f"{status} ({str(row.get('reason', ''))[:80]})"
    for key, text in (("ms_per_step", "{:.4g} ms/step"), ("recall", "recall {:.3f}"),
                      ("bit_errors", "{:.3f} bit errors/seq"), ("reached", "{} reached")):
        if row.get(key) is not None:
            return text.format(row[key])
    return "ok"


def check(plan: str, show: int, only: list[str] | None = None) -> int:
    this = provenance.this_machine()
    print(f"samviz.results --check: plan {plan}; this machine: {this}")
    totals = {"stale": 0, "missing": 0, "mixed": 0, "foreign": 0}
    for part in (PARTS[name] for name in only or PARTS):
        rows = part.read()
        by_key = {part.key(r): r for r in rows}
        stale = [r for r in rows if store.code_status(r) == store.STALE]
        foreign = [r for r in rows if store.code_status(r) == store.FOREIGN]
        missing = [(item, k) for item in part.items(plan) for k in item.keys if k not in by_key]
        machines = sorted({r.get("machine") or "unrecorded" for r in rows})
        totals["stale"] += len(stale)
        totals["missing"] += len(missing)
        totals["foreign"] += len(foreign)
        totals["mixed"] += len(machines) > 1
        print(f"{part.name:>15}  {_relative(part.path):<46} {len(rows):>5} rows  {len(stale):>4} stale  "
              f"{len(missing):>4} missing  {len(foreign):>4} from another machine  "
              f"{len(machines)} machine(s)")
        for row in stale[:show]:
            print(f"{'':>17}stale: {part.key(row)}: {store.why_stale(row)}")
        if len(stale) > show:
            print(f"{'':>17}… and {len(stale) - show} more stale")
        for item, key in missing[:show]:
            print(f"{'':>17}missing: {key} ({item.label})")
        if len(missing) > show:
            print(f"{'':>17}… and {len(missing) - show} more missing")
        if len(machines) > 1:
            print(f"{'':>17}mixed machines: {'; '.join(machines)}")
    print(f"{totals['stale']} stale, {totals['missing']} missing, {totals['mixed']} part(s) mixing machines, "
          f"{totals['foreign']} row(s) measured on another machine than this one")
    return 0 if not (totals["stale"] or totals["missing"] or totals["mixed"]) else 1


def plan_seconds(part, plan: str) -> tuple[float, int]:
    """(seconds the plan's current rows of `part` took to produce on this machine, rows without a time)."""
    by_key = {part.key(r): r for r in part.read()}
    seconds, unknown = 0.0, 0
    for item in part.items(plan):
        for key in item.keys:
            row = by_key.get(key)
            spent = None if row is None else row.get("item_seconds", row.get("seconds"))
            if store.is_current(row) and spent is not None:
                seconds += spent
            else:
                unknown += 1
    return seconds, unknown


def show_plan(plan: str) -> int:
    total, missing = 0.0, 0
    for part in PARTS.values():
        items = part.items(plan)
        seconds, unknown = plan_seconds(part, plan)
        total, missing = total + seconds, missing + unknown
        print(f"{part.name}: {len(items)} item(s), {sum(len(i.keys) for i in items)} row(s) -> {_relative(part.path)}; "
              f"{_minutes(seconds)} measured here" + (f" ({unknown} row(s) not yet timed here)" if unknown else ""))
    print(f"plan {plan}: {_minutes(total)} of measuring on this machine, from its current rows"
          + (f"; {missing} row(s) not yet timed" if missing else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    action = "check" if args.check else args.action
    if action is None:
        parser.error("say what to do: run, --check (or check), or plan")
    if not 0 <= args.show <= 10_000:
        parser.error("--show must be in [0, 10000]")
    if action == "check":
        return check(args.plan or shipped_plan(), args.show, args.only)
    if action == "plan":
        return show_plan(args.plan or "full")
    command = "python -m samviz.results " + shlex.join(sys.argv[1:] if argv is None else argv)
    return run(args.plan or "full", args.only or list(PARTS), args.budget_min, args.dry_run, command, args.match)


if __name__ == "__main__":
    sys.exit(main())
