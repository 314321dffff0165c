"""Reading, classifying and writing result rows: what is current, what is stale, what is missing.

A row is CURRENT when its recorded code hash equals the hash today's files give for what it covers
(provenance.current_hash of its "code") and it was measured on this machine; STALE when the hashes differ or the
row carries no provenance at all (written before samviz.results); FOREIGN when its code is today's but another
machine measured it. A plan item is MISSING when one of the rows it produces is absent from the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
from pathlib import Path

from . import provenance

CURRENT, STALE, FOREIGN = "current", "stale", "foreign"


@dataclass(frozen=True)
class Item:
    """One unit of work of a part: the rows it produces (their keys), a label for progress, its parameters and a
    rough cost in seconds (for the progress line and the plans' stated times)."""
    part: str
    keys: tuple
    label: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    estimate_s: float = 1.0


def code_status(row: dict | None, machine: str | None = None) -> str | None:
    """CURRENT, STALE or FOREIGN (see the module docstring); None for no row. machine: the id counted as this
    machine (default: the one this process runs on)."""
    if row is None:
        return None
    code = row.get("code")
    if not isinstance(code, dict) or "code_hash" not in row:
        return STALE
    try:
        if provenance.current_hash(code) != row["code_hash"]:
            return STALE
    except (KeyError, TypeError, ValueError):
        return STALE
    return CURRENT if row.get("machine") == (machine or provenance.this_machine()) else FOREIGN


def is_current(row: dict | None, machine: str | None = None) -> bool:
    return code_status(row, machine) == CURRENT


# Looked at again by the next run: a worker that crashed or ran out of memory (measured again), and a configuration
# skipped as predicted too slow (the prediction is made again, from the rows and the plan's limit of that run).
RETRIED = ("failed", "skipped")


def is_done(row: dict | None, machine: str | None = None) -> bool:
    """Whether a run may leave this row as it is: current, and not a failure worth another try."""
    return is_current(row, machine) and row.get("status") not in RETRIED


def why_stale(row: dict) -> str:
    """A short reason for a stale row (for --check's listing and the pages' labels)."""
    if not isinstance(row.get("code"), dict) or "code_hash" not in row:
        return "no provenance (measured before samviz.results)"
    return (f"code hash {row['code_hash']} ≠ today's {provenance.current_hash(row['code'])} "
            f"({row['code'].get('part')}" + (f", {row['code']['kind']}" if row["code"].get("kind") else "") + ")")


# ---------------------------------------------------------------------------------------------- files
def atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def read_jsonl(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_json(path: Path, default):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def write_json(path: Path, data) -> None:
    atomic_write(path, json.dumps(data, indent=1) + "\n")
