"""What the browser's episode view draws, computed once per episode on the server (pure: no Streamlit, no plotly).

The server turns one traced episode (samviz/trace, through trace_stats and explain) into a JSON payload; the
page's component (episode.js) draws every step of it, steps, scrubs and plays with no script rerun. So
everything the browser shows at any step is here: the narration sentences of every step (explain.narrate,
precomputed), the step's cost line, the bits, the weights over the slots drawn × time, the usage, neighbours,
read modes, links, rows written and the memory. Every number a sentence says is the number drawn beside it
because both come from the same record here (tests/test_episode_view.py checks them against each other).

Size: nothing N-sized is sent. The weights view draws at most MAX_SLOT_ROWS slots (all the touched ones when
they fit); the usage is read only at those slots and the least-used slot (trace_stats.usage_values); the whole
memory M_t is sent only while the trace kept it, and only within MAX_MEMORY_CELLS numbers over the episode
(a sparse model's memory is sent once and replayed from its rows written). Large numeric arrays travel as
base64 uint16 over a stated range (`quantize`): colours need far less, and a hover's three decimals are exact
to within (hi − lo) / 131,070.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math

import numpy as np

from samviz.app import colours, explain
from samviz.app import trace_stats as stats
from samviz.app.figures import SLOT_AXIS
from samviz.kinds import KINDS
from samviz.trace.schema import MEMORY_CELLS_LIMIT, SPARSE_USAGE_LIMIT

VERSION = 1
MAX_SLOT_ROWS = 256          # slots drawn in the weights view (rows of every panel, the same at every step)
MAX_MEMORY_CELLS = 400_000   # numbers of M_t sent for a whole episode (T × N × W, or N × W + the rows written)
DIGITS = 4                   # decimals of the small numbers sent as JSON (rows, reads, cosines)
LINKS_TOP = 8                # link entries drawn per head and direction
READ_MARKS = 4               # per head, its heaviest slots are marked "read" on the memory view


# ------------------------------------------------------------------------------------------ encodings

def quantize(values, lo: float, hi: float) -> dict:
    """A numeric array -> {"shape", "lo", "hi", "b64"}: uint16 little-endian, value = lo + (hi − lo)·q/65535.
    Values outside [lo, hi] are clipped (callers pass the array's own range)."""
    array = np.asarray(values, dtype=np.float64)
    span = hi - lo
    if not span > 0:
        q = np.zeros(array.shape, dtype="<u2")
    else:
        q = np.rint(np.clip((array - lo) / span, 0.0, 1.0) * 65535).astype("<u2")
    return {"shape": list(array.shape), "lo": float(lo), "hi": float(hi),
            "b64": base64.b64encode(q.tobytes()).decode("ascii")}


def dequantize(packed: dict) -> np.ndarray:
    """The inverse of `quantize` (the tests read payloads back with it, as the browser does)."""
    q = np.frombuffer(base64.b64decode(packed["b64"]), dtype="<u2").astype(np.float64)
    values = packed["lo"] + (packed["hi"] - packed["lo"]) * q / 65535
    return values.reshape(packed["shape"])


def _round(rows, digits: int = DIGITS) -> list:
    return np.round(np.asarray(rows, dtype=np.float64), digits).tolist()


def episode_id(*parts) -> str:
    """A short stable id for an episode's settings (the browser keeps its clock while the id is the same)."""
    return hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ one model's episode

def _narration(trace, learn_path: str) -> list[list[list]]:
    """Per step, its sentences as [text, link or None, link label or None] (explain.narrate)."""
    out = []
    for step in range(stats.steps_count(trace)):
        sentences = []
        for sentence in explain.narrate(trace, step):
            anchor = sentence.anchor if sentence.anchor in explain.ANCHORS else None
            sentences.append([sentence.text, f"{learn_path}#{anchor}" if anchor else None,
                              explain.ANCHORS[anchor].split(" · ")[-1] if anchor else None])
        out.append(sentences)
    return out


def cost_lines(trace, step_times: list[float] | None, times_note: str | None) -> list[str]:
    """Per step: the exact count of rows touched out of N, and the measured forward time on this server."""
    touched = stats.rows_touched(trace)
    n = stats.memory_slots(trace)
    out = []
    for step, count in enumerate(touched):
        text = f"Rows touched at this step: {count:,} of {n:,}"
        if step_times is not None and step < len(step_times):
            text += (f" · forward time {step_times[step]:.2f} ms (measured on this server: the plain forward pass "
                     "of this episode, no recording, best of 3 runs)")
        elif times_note:
            text += f" · {times_note}"
        out.append(text)
    return out


def bits_view(trace) -> dict:
    """Inputs, targets and outputs over time, the wrong output bits and the answer phase; its title's count is
    the crosses it draws (none at all, and no count, without an answer phase: typed input is not scored)."""
    outputs = np.asarray(trace.outputs, dtype=np.float64)
    wrong = np.argwhere(stats.wrong_bits(trace))
    answer = stats.answer_steps(trace)
    scored = trace.targets is not None and bool(answer)
    errors = int(stats.bit_errors_per_step(trace).sum()) if scored else None
    if scored:
        title = f"Bits over time — {errors} wrong bit{'s' if errors != 1 else ''} in this episode"
        subtitle = "answer phase: inside the green frame (scored steps); ✕ a wrong output bit"
    else:
        title = "Bits over time — no answer phase: this input is not scored"
        subtitle = ("typed input has no target, so no bit is right or wrong" if trace.targets is None
                    else "no step of this episode is scored")
    return {"inputs": _round(trace.inputs, 3), "targets": None if trace.targets is None else _round(trace.targets, 3),
            "outputs": _round(outputs, 3), "wrong": wrong.tolist() if scored else [],
            "answer": [answer[0], answer[-1]] if scored else None, "errors": errors,
            "title": title, "subtitle": subtitle}


def _scope(shown: int, touched: int, n: int) -> tuple[str, str]:
    """(the weights view's scope sentence, its slot axis title), from the counts it draws."""
    if shown >= n:
        return f"all {n:,} slots", SLOT_AXIS
    if shown < touched == n:
        return (f"the {shown:,} most weighted of all {n:,} slots (a dense head weights every slot)",
                f"{SLOT_AXIS}: {shown:,} of {n:,}, not to scale")
    if shown < touched:
        return (f"the {shown:,} most weighted of the {touched:,} slots this episode touched, out of {n:,}",
                f"{SLOT_AXIS}: {shown:,} of {n:,}, not to scale")
    return (f"the {shown:,} slots this episode touched out of {n:,}",
            f"{SLOT_AXIS}: {touched:,} touched of {n:,}, not to scale")


def weights_view(trace, max_rows: int = MAX_SLOT_ROWS) -> dict:
    """Each read head's weights and the write weights over the slots drawn × time (one slot order and one colour
    range, the episode's largest weight, for every panel and step), and each step's least-used slot."""
    heads = stats.read_heads(trace)
    t_count = stats.steps_count(trace)
    slots, total = stats.episode_slots(trace, max_rows)
    slot_array = np.asarray(slots, dtype=np.int64)
    top = stats.weight_range(trace)
    panels = []
    names = [f"read head {h + 1}" for h in range(heads)] + ["write"]
    for panel, records in enumerate(stats.panel_records(trace)):
        z = np.zeros((len(slots), t_count))
        for t, record in enumerate(records):
            ids, values = stats.ids_values(record)
            if not len(ids) or not len(slot_array):
                continue
            rows = np.minimum(np.searchsorted(slot_array, ids), len(slot_array) - 1)
            shown = slot_array[rows] == ids
            np.add.at(z[:, t], rows[shown], values[shown])        # a slot listed twice gets the sum
        panels.append({"name": names[panel], "role": "read" if panel < heads else "write",
                       "data": quantize(z, 0.0, top)})
    n = stats.memory_slots(trace)
    scope, axis = _scope(len(slots), total, n)
    least = [s.get("least_used") for s in trace.steps]
    return {"slots": slots, "touched": total, "panels": panels, "top": top, "least": least,
            "scope": scope, "axis": axis, "large": n > LARGE_MEMORY_NOTE_SLOTS}


LARGE_MEMORY_NOTE_SLOTS = 4096     # above this, the view says a memory this large is never drawn whole


def usage_view(trace, slots: list[int]) -> dict | None:
    """The usage each step's write chose its least-used slot from, at the slots drawn and the least-used slot
    (trace_stats.usage_values), with what the number means and which end is "least used". None without usage."""
    kind = KINDS.get(trace.model)
    if kind is None or not kind.usage_meaning:
        return None
    values, ages = [], []
    any_usage = False
    for step, record in enumerate(trace.steps):
        least = record.get("least_used")
        wanted = list(slots) + ([least] if least is not None and least not in slots else [])
        usage = stats.usage_values(trace, step, wanted)
        if usage is None:
            values.append(None)
        else:
            any_usage = True
            values.append({str(s): round(v, 6) for s, v in usage.items()})
        ages.append(stats.least_used_age(trace, step))
    smaller = stats.usage_smaller_is_older(trace)
    meaning = stats.usage_meaning(trace)
    if "after this step" in meaning:
        meaning = "discounted usage before this step (the previous step's, after its write; 0 before step 0)"
    if smaller:
        rule = "the least used slot has the SMALLEST usage"
    else:
        rule = "the least recently used slot has the LARGEST count (it has waited longest)"
    return {"values": values if any_usage else None, "ages": ages, "smaller_is_older": smaller,
            "meaning": meaning, "rule": rule}


def neighbours_view(trace) -> dict | None:
    """Sparse models: per step and head, the K slots the index found beside the exact top K, their cosines and
    what recall is made of (trace_stats.neighbour_match: in the exact list, tied with its K-th, missed)."""
    if not any(s.get("neighbours") for s in trace.steps):
        return None
    steps = []
    for record in trace.steps:
        heads = []
        for n in record.get("neighbours") or []:
            match = stats.neighbour_match(n, explain.TIE)
            heads.append({"found": [int(i) for i in n.get("found", [])],
                          "fs": _round(n.get("found_similarity", [])), "exact": [int(i) for i in n.get("exact", [])],
                          "es": _round(n.get("exact_similarity", [])), "recall": float(n.get("recall", 0.0)),
                          "hits": len(match["hits"]), "ties": match["ties"], "missed": match["missed"]})
        steps.append(heads)
    index = trace.steps[0].get("index", trace.config.get("index", "?"))
    return {"steps": steps, "index": index, "tie": explain.TIE}


def modes_view(trace) -> list | None:
    if not any(s.get("read_modes") for s in trace.steps):
        return None
    return [_round(s.get("read_modes") or [], 3) for s in trace.steps]


def links_view(trace) -> list | None:
    if not any(s.get("links") for s in trace.steps):
        return None
    out = []
    for record in trace.steps:
        heads = []
        for head in record.get("links") or []:
            heads.append({d: [[s, round(v, 4)] for s, v in stats.top_slots(stats.weight_map(head.get(d)), LINKS_TOP)]
                          for d in ("forward", "backward")})
        out.append(heads)
    return out


def _unique_rows(ids, rows, keep: str) -> tuple[list[int], list]:
    order: dict[int, int] = {}
    for i, slot in enumerate(ids):
        if keep == "first" and int(slot) in order:
            continue
        order[int(slot)] = i
    slots = sorted(order)
    return slots, [list(rows[order[s]]) for s in slots]


def rows_view(trace) -> list[dict]:
    """Per step: the rows the write changed, before and after (each slot once: its first 'before' and last 'after'),
    the read vectors r_t, the slots written above WEIGHT_THRESHOLD and the heaviest read slots (the memory marks)."""
    out = []
    for record in trace.steps:
        written = record.get("rows_written") or {}
        ids = written.get("ids", [])
        slots, before = _unique_rows(ids, written.get("before", []), "first")
        _, after = _unique_rows(ids, written.get("after", []), "last")
        read = sorted({s for head in stats.read_maps(record) for s, _ in stats.top_slots(head, READ_MARKS)})
        out.append({"ids": slots, "before": _round(before), "after": _round(after),
                    "reads": _round(record.get("reads") or []), "written": stats.written_slots(record),
                    "read": read})
    return out


def memory_view(trace) -> dict | None:
    """The whole memory M_t after each step, when the trace kept it and it fits MAX_MEMORY_CELLS: "full" (every
    step's N × W) or, when every step changed only the rows it wrote (a sparse model), "replay" (step 0's memory;
    each later step is the one before with its rows_written 'after' rows: the browser replays them)."""
    memories = [s.get("memory") for s in trace.steps]
    if not memories or any(m is None or not len(m) for m in memories):
        return None
    scale = stats.memory_range(trace)
    first = np.asarray(memories[0], dtype=np.float64)
    n, width = first.shape
    if stats.is_sparse(trace):
        current = first.copy()
        replayable = True
        for record, memory in zip(trace.steps[1:], memories[1:], strict=True):
            written = record.get("rows_written") or {}
            for slot, row in zip(written.get("ids", []), written.get("after", []), strict=True):
                current[int(slot)] = row
            if not np.array_equal(current, np.asarray(memory, dtype=np.float64)):
                replayable = False
                break
        if replayable and first.size <= MAX_MEMORY_CELLS:
            return {"mode": "replay", "slots": n, "width": width, "scale": scale,
                    "data": quantize(first, -scale, scale)}
    if len(memories) * first.size > MAX_MEMORY_CELLS:
        return {"mode": "omitted", "slots": n, "width": width, "scale": scale, "cells": len(memories) * first.size}
    return {"mode": "full", "slots": n, "width": width, "scale": scale,
            "data": quantize(np.asarray(memories, dtype=np.float64), -scale, scale)}


def hidden_notes(trace, memory: dict | None) -> list[str]:
    """Why a view the player can show is not shown for this episode (our own words, plain sentences)."""
    n = stats.memory_slots(trace)
    width = int(trace.config.get("word_size", 0) or 0)
    out = []
    if memory is None:
        out.append(f"Memory M_t is hidden: a trace keeps the whole memory only while N × W ≤ {MEMORY_CELLS_LIMIT:,} "
                   f"numbers, and this one is {n:,} × {width} = {n * width:,}. The rows each step wrote are shown; "
                   f"its reads are the read vectors r_t.")
    elif memory["mode"] == "omitted":
        out.append(f"Memory M_t is hidden: over this episode it is {memory['cells']:,} numbers, more than this page "
                   f"sends ({MAX_MEMORY_CELLS:,}). The rows each step wrote are shown.")
    kind = KINDS.get(trace.model)
    if (kind is not None and kind.usage_meaning and all(stats._usage_record(s) is None for s in trace.steps)):
        limit = f" only while N ≤ {SPARSE_USAGE_LIMIT:,}" if kind.sparse and n > SPARSE_USAGE_LIMIT else ""
        out.append(f"Usage is hidden: {kind.name.upper()} traces keep the usage{limit}; this memory has {n:,} "
                   f"slots. The least-used slot each write chose is still marked ○ in the weights view.")
    return out


def model_view(trace, *, name: str, learn_path: str = explain.LEARN_PATH, step_times: list[float] | None = None,
               times_note: str | None = None, parts: tuple[str, ...] | None = None,
               max_slot_rows: int = MAX_SLOT_ROWS) -> dict:
    """One model's episode, everything its views draw at every step. `parts` limits what is sent (Compare shows
    the narration, weights and bits only); None sends every view the trace has."""
    def wanted(part: str) -> bool:
        return parts is None or part in parts

    weights = weights_view(trace, max_slot_rows)
    view = {"name": name, "kind": trace.model, "colour": colours.model_colour(trace.model),
            "slots": stats.memory_slots(trace), "width": int(trace.config.get("word_size", 0) or 0),
            "heads": stats.read_heads(trace), "steps": stats.steps_count(trace), "sparse": stats.is_sparse(trace),
            "touched": stats.rows_touched(trace), "weights": weights, "threshold": stats.WEIGHT_THRESHOLD}
    if wanted("narration"):
        view["narration"] = _narration(trace, learn_path)
        view["cost"] = cost_lines(trace, step_times, times_note)
    if wanted("bits"):
        view["bits"] = bits_view(trace)
    if wanted("usage"):
        view["usage"] = usage_view(trace, weights["slots"])
    if wanted("neighbours"):
        view["neighbours"] = neighbours_view(trace)
    if wanted("modes"):
        view["modes"] = modes_view(trace)
    if wanted("links"):
        view["links"] = links_view(trace)
    if wanted("rows"):
        view["rows"] = rows_view(trace)
    if wanted("memory"):
        memory = memory_view(trace)
        view["memory"] = memory if memory is None or memory["mode"] != "omitted" else None
        view["notes"] = hidden_notes(trace, memory)
    return view


# ------------------------------------------------------------------------------------------ pages

def player(trace, *, name: str, episode: str, clock: str, step: int, step_times=None, times_note=None,
           learn_path: str = explain.LEARN_PATH) -> dict:
    """The player's payload: one model's episode on one clock; the URL's `step` follows the clock."""
    return {"version": VERSION, "view": "player", "episode": episode, "clock": clock,
            "step": stats.clamp_step(trace, step), "steps": stats.steps_count(trace), "url": "step",
            "colours": roles(), "models": [model_view(trace, name=name, learn_path=learn_path, step_times=step_times,
                                                      times_note=times_note)]}


def compare_series(trace, times_ms: list[float] | None) -> dict:
    """Compare's over-time lines of one model: effective slots read, rows touched, wrong bits (None without an
    answer phase), measured forward ms per step (None when not measured)."""
    scored = trace.targets is not None and bool(stats.answer_steps(trace))
    return {"spread": [round(v, 3) for v in stats.attention_spread(trace)], "touched": stats.rows_touched(trace),
            "wrong": stats.bit_errors_per_step(trace).astype(int).tolist() if scored else None,
            "ms": [round(float(v), 4) for v in times_ms] if times_ms else None}


def compare(traces: dict[str, object], times: dict[str, list[float] | None], *, episode: str, clock: str, step: int,
            learn_path: str = explain.LEARN_PATH) -> dict:
    """Compare's payload: two models' episodes of the same inputs on one clock (the shorter one sets its end)."""
    last = min(stats.steps_count(t) for t in traces.values()) - 1
    models = []
    for name, trace in traces.items():
        view = model_view(trace, name=name, learn_path=learn_path, parts=("narration", "bits"))
        view["series"] = compare_series(trace, times.get(name))
        models.append(view)
    return {"version": VERSION, "view": "compare", "episode": episode, "clock": clock,
            "step": max(0, min(int(step), last)), "steps": last + 1, "url": "step", "colours": roles(),
            "models": models}


def roles() -> dict:
    """The role colours the browser draws with (samviz/app/colours.py: one definition)."""
    return {"read": colours.READ, "write": colours.WRITE, "mark": colours.MARK, "exact": colours.EXACT,
            "answer": colours.ANSWER, "backward": colours.BACKWARD, "forward": colours.FORWARD}


def nice_max(value: float) -> float:
    """An axis top at or above `value` (at least 1): 1, 2 or 5 × a power of ten."""
    value = max(float(value), 1.0)
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return float(factor * power)
    return float(10 * power)


# ---------------------------------------------------------------------------------------- the story's stepped chapters

def story_usage(usage: list[list[float]], least: list[int], sentences: list[str], *, episode: str,
                step: int) -> dict:
    """Chapter 5: the toy SAM's usage before each step (steps since each slot's last use), the least recently used
    slot each step's write chose marked, and the chapter's sentence for each step, on one clock."""
    steps = len(usage)
    return {"version": VERSION, "view": "story_usage", "episode": episode, "clock": episode, "steps": steps,
            "step": max(0, min(int(step), steps - 1)), "url": None, "label": "Before step {t} of {last}",
            "colours": roles(), "story": {"usage": usage, "least": least, "sentences": sentences}}


def story_rollback(memories: list, outlines: list[list[dict]], sentences: list[str], *, steps: int, scale: float,
                   episode: str, step: int = 0) -> dict:
    """Chapter 7: the toy memory after undoing 0, 1, … `steps` journal entries (newest first), one colour scale for
    the whole episode (±scale), the rows each undo changed outlined ({"slots", "last": the latest undo}), and the
    chapter's sentence for each position."""
    positions = len(memories)
    titles = [f"Memory at the end of the forward pass (after step {steps - 1})" if undone == 0 else
              f"Memory rolled back to before step {steps - undone}: the rows it restored outlined"
              for undone in range(positions)]
    return {"version": VERSION, "view": "story_rollback", "episode": episode, "clock": episode, "steps": positions,
            "step": max(0, min(int(step), positions - 1)), "url": None, "label": "Undone {t} of {last}",
            "colours": roles(), "story": {"memory": memories, "outlines": outlines, "sentences": sentences,
                                          "titles": titles, "scale": scale, "slots": len(memories[0]),
                                          "width": len(memories[0][0])}}
