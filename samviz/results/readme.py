"""What the READMEs derive from the rows: the README's benchmark table and its sentences, written between markers,
every number from the same rows the Scaling lab draws (one machine, today's code, one setting, one measure)."""
from __future__ import annotations

from pathlib import Path

from samviz.paths import IN_CHECKOUT, PACKAGE_DIR

README = PACKAGE_DIR.parent / "README.md"
BENCH_BEGIN = "<!-- samviz-results-bench:begin -->"
BENCH_END = "<!-- samviz-results-bench:end -->"
TABLE_MODELS = ("ntm", "dam", "sam-faiss", "sam-exact", "dnc", "sdnc-faiss", "sdnc-exact")
TABLE_SIZES = (1 << 5, 1 << 10, 1 << 14, 1 << 16, 1 << 17, 1 << 20)     # those the plan measured are shown
MEASURE = "cpu"
START = "zero"


def markdown_table(rows: list[dict[str, object]]) -> str:
    """Rows (the same keys, in order: the header) as a markdown table; "|" in a cell is escaped."""
    header = list(rows[0])

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")
    return "\n".join(["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(cell(row[key]) for key in header) + " |" for row in rows)])


def write_between(path: Path, begin: str, end: str, text: str) -> bool:
    """Replace what lies between the markers `begin` and `end` in `path` with text; False (nothing written) when
    the file or a marker is missing."""
    path = Path(path)
    if not path.is_file():
        return False
    content = path.read_text(encoding="utf-8")
    if begin not in content or end not in content:
        return False
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text.rstrip()}\n{end}{tail}", encoding="utf-8")
    return True


def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    if row.get("status") != "ok":
        return str(row.get("status"))
    return f"{_number(row['ms_per_step'])} ms · {_number(row['peak_mib'])} MiB"


def _number(value: float) -> str:
    """Three significant figures below 1,000, whole numbers with separators above ("1,262", never "1.26e+03")."""
    return f"{value:,.3g}" if value < 1000 else f"{value:,.0f}"


def bench_section(rows: list[dict], steps: int = 10) -> str:
    """The README's benchmark table (T = `steps`, memory from zero rows, CPU time) and sentences: the largest N where
    the NTM and SAM (faiss) were both measured, with their ratios, and where they cross; all from `rows`."""
    from samviz import results
    from samviz.bench import plots
    view = results.rows_for_app(rows)
    chosen = [r for r in plots.on_measure(view.shown, MEASURE)
              if r.get("steps") == steps and r.get("initial_rows") in (None, START)]
    if not chosen:
        return "_No benchmark rows of today's code: run `python -m samviz.results run --only bench`._"
    by = {(plots.label(r), r["slots"]): r for r in chosen}
    first = chosen[0]
    setting = plots.setting_text(plots.setting(first))
    lines = [f"Measured by `python -m samviz.results run` on {view.machine} ({setting}, DAM/SAM/SDNC memory from "
             f"zero rows; time: the median CPU time of at least 5 runs of forward + backward, per step; memory: the "
             "measured training overhead, peak RSS above the initialised memory):", "",
             "| N | " + " | ".join(plots.display_name(m) for m in TABLE_MODELS) + " |",
             "|---|" + "---|" * len(TABLE_MODELS)]
    for n in (n for n in TABLE_SIZES if any((m, n) in by for m in TABLE_MODELS)):
        lines.append(f"| 2^{n.bit_length() - 1} | " + " | ".join(_cell(by.get((m, n))) for m in TABLE_MODELS) + " |")
    text = []
    for pair, dense, sparse in (("ntm / sam-faiss", "NTM", "SAM (faiss)"), ("dnc / sdnc-faiss", "DNC", "SDNC (faiss)")):
        ratios = [r for r in plots.ratios(chosen) if r["dense / sparse"] == pair]
        if ratios:
            top = max(ratios, key=lambda r: r["N"])
            text.append(f"At N = {top['N']:,}, the largest size where the {dense} and {sparse} were both measured, "
                        f"{sparse} takes {top['sparse ms/step']:,.3g} ms per step against {top['dense ms/step']:,.0f} "
                        f"ms (**{top['speed ratio']:,}×** faster) and {top['sparse MiB']:,.3g} MiB of measured "
                        f"overhead against {top['dense MiB']:,.0f} MiB (**{top['memory ratio']:,}×** less).")
    for entry in plots.crossovers(chosen):
        if entry["dense"] == "ntm" and entry["sparse"] in ("sam-faiss", "sam-exact"):
            text.append(entry["text"])
    refused = sorted((r for r in chosen if plots.label(r) == "ntm" and r.get("status") != "ok"),
                     key=lambda r: r["slots"])
    if refused:
        text.append(f"The NTM is not measured from N = {refused[0]['slots']:,} on ({refused[0]['status']}: "
                    f"{refused[0].get('reason', '')}).")
    return "\n".join(lines) + "\n\n" + " ".join(text) + "\n"


PRETRAINED_README = PACKAGE_DIR.parent / "pretrained" / "README.md"
RECALL_BEGIN, RECALL_END = "<!-- samviz-results-index-recall:begin -->", "<!-- samviz-results-index-recall:end -->"
GENERALISATION_BEGIN = "<!-- samviz-results-generalisation:begin -->"
GENERALISATION_END = "<!-- samviz-results-generalisation:end -->"


def index_recall_section(rows: list[dict]) -> str:
    """pretrained/README.md's table of the faiss index on the models' own memories (samviz.results.index_recall)."""
    from samviz import results
    view = results.rows_for_app(rows)
    if not view.shown:
        return "_No index-recall rows of today's code: run `python -m samviz.results run --only index_recall`._"
    lines = [f"Measured by `python -m samviz.results run --only index_recall` on {view.machine} (one thread; index "
             "times are the index's own search + update per step, forward only, batches of up to 8 episodes):", "",
             "| model | N | level (steps) | episodes | recall@K | top-1 missed | found none of its written rows "
             "| bit errors/seq faiss / exact | index ms/step faiss / exact | older rows (clustered) at the end |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(view.shown, key=lambda r: (r["slots"], r["model"], r["level"])):
        older = (r.get("trace") or [{}])[-1].get("older")
        lines.append(f"| {r['model']} | {r['slots']:,} | {r['level']:,} ({r['steps_per_episode']:,}) | {r['episodes']} "
                     f"| {r['recall']:.4f} | {r['top1_missed']} | {r['found_none']} of {r['written_expected']} "
                     f"| {r['bit_errors_faiss']:.3f} / {r['bit_errors_exact']:.3f} "
                     f"| {r['faiss_index_ms_per_step']:.2f} / {r['exact_index_ms_per_step']:.2f} "
                     f"| {'–' if older is None else f'{older:,}'} |")
    return "\n".join(lines) + "\n"


def generalisation_section(rows: list[dict]) -> str:
    """pretrained/README.md's table of bit errors past the trained length (samviz.generalisation.markdown)."""
    from samviz import generalisation, results
    view = results.rows_for_app(rows)
    if not view.shown:
        return "_No generalisation rows of today's code: run `python -m samviz.results run --only generalisation`._"
    longest = max(r["level"] for r in view.shown)
    at = sorted((r for r in view.shown if r["level"] == longest), key=lambda r: r["bit_errors"])
    chance = at[0]["chance"]
    words = ", ".join(f"{r['name']} {r['bit_errors']:.2f}" for r in at)
    return (f"Measured on {view.machine}:\n\n{generalisation.markdown(view.shown)}\nAt {longest} items (chance "
            f"{chance:.1f}): {words}.\n")


def write_pretrained_section(begin: str, end: str, text: str) -> bool:
    return IN_CHECKOUT and write_between(PRETRAINED_README, begin, end, text)


def write_bench_section(rows: list[dict]) -> bool:
    """The README's benchmark section from rows (a checkout only: an installed package has no README)."""
    return IN_CHECKOUT and write_between(README, BENCH_BEGIN, BENCH_END, bench_section(rows))
