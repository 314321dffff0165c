"""samviz.results: one command regenerates every result the app and the READMEs show, from today's code, on the
machine it runs on — and says which shipped rows are stale.

    python -m samviz.results run                  # the full plan (make results); resumable: run it again to go on
    python -m samviz.results run --plan quick     # the budgeted form (make results PLAN=quick)
    python -m samviz.results run --budget-min 30  # stop starting new work after 30 minutes (the rest stays missing)
    python -m samviz.results run --only bench,forward
    python -m samviz.results --check              # stale rows (other code) and missing ones; exit status 1 if any
    python -m samviz.results plan                 # what a plan measures, part by part

The parts (parts.py) call the evaluation modules — samviz.bench (runner, forward), samviz.evaluate_scale,
samviz.per_level, samviz.generalisation, samviz.learning_curves and index_recall.py here — and keep their rows in
the data files the app reads. Every row carries its provenance (provenance.py): the commit, a hash of exactly the
library code that produced it, the machine (CPU, cores, torch and faiss versions), its seeds and the command.
A row is current when that hash is today's and this machine measured it (store.py); a run measures what is not
current, item by item, writing the file after each one, so it can be stopped and resumed. When a part is complete
it also writes what the READMEs derive from it (the tables in pretrained/README.md and the README's benchmark
table). The manifest (assets/results/manifest.json) records the plan the shipped files follow, what --check
compares with.

The app reads rows through `rows_for_app`: current rows of one machine, with the others counted so a page can
label them (never mixing them into its curves).
"""
from __future__ import annotations

from .parts import MANIFEST, PARTS, PLANS  # noqa: F401
from .store import CURRENT, FOREIGN, STALE, code_status, is_current, why_stale  # noqa: F401


def manifest() -> dict:
    """The manifest of the shipped results ({} when there is none)."""
    from . import store
    data = store.read_json(MANIFEST, {})
    return data if isinstance(data, dict) else {}


def shipped_plan() -> str:
    """The plan the shipped data files follow (the manifest's; "full" when there is no manifest)."""
    plan = manifest().get("plan")
    return plan if plan in PLANS else "full"


def split_by_status(rows: list[dict], machine: str | None = None) -> dict[str, list[dict]]:
    """{CURRENT: [...], STALE: [...], FOREIGN: [...]} (see store.code_status)."""
    out: dict[str, list[dict]] = {CURRENT: [], STALE: [], FOREIGN: []}
    for row in rows:
        out[code_status(row, machine)].append(row)
    return out


def machines(rows: list[dict]) -> list[str]:
    """The machines of rows, the one with the most rows first."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.get("machine") or "an unrecorded machine"] = counts.get(row.get("machine") or
                                                                          "an unrecorded machine", 0) + 1
    return sorted(counts, key=lambda m: -counts[m])


class AppRows:
    """The rows a page may draw, and what it must say about the others.

    shown: rows whose code is today's, all from ONE machine (`machine`): this machine when it measured any,
    otherwise the machine with the most such rows. stale: rows from other code (never drawn). other_machines:
    rows of today's code from other machines (never mixed into `shown`). this_machine: whether `machine` is the
    one this process runs on."""

    def __init__(self, rows: list[dict], this: str | None = None):
        from . import provenance
        this = this or provenance.this_machine()
        fresh, self.stale = [], []
        for row in rows:
            (self.stale if code_status(row, this) == STALE else fresh).append(row)
        candidates = machines(fresh)
        self.machine = this if this in candidates else (candidates[0] if candidates else None)
        self.this_machine = self.machine == this and self.machine is not None
        self.shown = [r for r in fresh if (r.get("machine") or "an unrecorded machine") == self.machine]
        self.other_machines = [r for r in fresh if (r.get("machine") or "an unrecorded machine") != self.machine]

    def note(self, what: str = "rows") -> str:
        """A sentence for the page: which machine the shown rows come from, and what was left out and why."""
        parts = []
        if self.machine:
            parts.append(f"Measured on {'this machine' if self.this_machine else 'another machine'}: "
                         f"{self.machine}, by today's code.")
        if self.stale:
            parts.append(f"{len(self.stale)} {what} from other code (stale: `python -m samviz.results --check` "
                         "lists them) are not shown.")
        if self.other_machines:
            parts.append(f"{len(self.other_machines)} {what} measured on other machines are not mixed in.")
        return " ".join(parts)


def rows_for_app(rows: list[dict], this: str | None = None) -> AppRows:
    return AppRows(rows, this)


# The data files the app reads, by part: which pages show them and whether those pages label rows from other code
# or another machine (AppRows) — tests/test_results_stale.py fails when a file whose pages do not label them holds a
# stale row. A page that learns to label (through AppRows) turns its entry to True, with a test that it does.
APP_FILES = {
    "bench": {"pages": ("Scaling lab", "Story, chapter 8"), "labelled": True},
    "scale": {"pages": ("Story, chapter 8",), "labelled": True},
    "index_recall": {"pages": ("Story, chapter 6",), "labelled": True},
    "forward": {"pages": ("Compare",), "labelled": False},
    "generalisation": {"pages": ("Learning curves", "Episode player (long episodes)"), "labelled": False},
}
