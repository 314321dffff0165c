"""Plain-language narration of one step of an EpisodeTrace, with the step's numbers.

Each sentence carries the anchor of the Learn-page section holding its equation (ANCHORS); the Learn
page (samviz/app/pages/learn.py) renders one section per anchor. Pure functions, no Streamlit. What is
narrated follows what the step recorded (its gates, read modes, links) and the kind's spec (sparse or
dense, what its usage means: samviz/kinds.py), never a list of kind names. The constants quoted (δ, λ)
are imported from the memory cores that use them.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

from samviz.app import trace_stats as stats
from samviz.memory.dam import USAGE_DISCOUNT  # λ
from samviz.memory.index_parts import TIE  # cosines this close are ties (the trace's recall counts them as found)
from samviz.memory.usage import ACCESS_THRESHOLD  # δ

# anchor id -> Learn-page section title. The Learn page renders exactly these sections (a test checks it).
ANCHORS = {
    "tasks": "Tasks and the bit-error metric",
    "ntm-content": "NTM · content addressing",
    "ntm-interpolation": "NTM · interpolation",
    "ntm-shift": "NTM · circular shift",
    "ntm-sharpen": "NTM · sharpening",
    "ntm-read": "NTM · reading",
    "ntm-erase-add": "NTM · writing: erase, then add",
    "sam-sparse-read": "SAM · sparse read",
    "sam-ann": "SAM · the nearest-neighbour index",
    "sam-sparse-write": "SAM · sparse write",
    "sam-usage": "SAM · usage and the least recently used slot",
    "sam-bptt": "SAM · sparse backpropagation through time (rollback)",
    "dam": "DAM · the dense twin of SAM",
    "dnc-usage": "DNC · usage",
    "dnc-allocation": "DNC · allocation",
    "dnc-write": "DNC · write weighting",
    "dnc-precedence": "DNC · precedence",
    "dnc-links": "DNC · temporal links",
    "dnc-read-modes": "DNC · read modes",
    "sdnc-links": "SDNC · sparse temporal links N_t, P_t",
    "why-sparse-scales": "Why sparse access scales",
}

LEARN_PATH = "learn"      # url_path of the Learn page (app.py)
# One symbol per meaning across models: γ is the NTM's sharpening exponent, g its interpolation gate, g^w and g^a
# the DNC's write and allocation gates; SAM's (and DAM's, SDNC's) interpolation gate, γ in the SAM paper, is
# written g^i here so that no symbol means two things.
INTERPOLATION = "g^i"
FLAT_CONTENT = 2.0        # a content match whose weights can differ by at most this factor is called nearly flat


@dataclass(frozen=True)
class Sentence:
    text: str
    anchor: str | None = None


def _f(value, digits: int = 2) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "?"


def _first(value):
    """A gate that may be recorded per head (a list) or as one number -> its first value."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _ids(slots, limit: int = 8) -> str:
    slots = list(slots)
    text = ", ".join(str(s) for s in slots[:limit])
    return text + (", …" if len(slots) > limit else "")


def _bits(row) -> str:
    return "".join("1" if float(v) > 0.5 else "0" for v in row)


def _phase(trace, step: int) -> list[Sentence]:
    total = stats.steps_count(trace)
    scored = trace.mask is not None and trace.mask[step] > 0
    if not scored:
        active = [i for i, v in enumerate(trace.inputs[step]) if float(v) != 0.0]
        what = f"input channels {_ids(active)} are on" if active else "the input is all zeros"
        return [Sentence(f"Step {step} of {total - 1} — input phase, not scored: {what}.", "tasks")]
    wrong = int(stats.bit_errors_per_step(trace)[step])
    size = len(trace.outputs[step])
    target = _bits(trace.targets[step]) if trace.targets is not None else "?"
    output = _bits(trace.outputs[step])
    verdict = "all bits right" if wrong == 0 else f"{wrong} of {size} bits wrong"
    return [Sentence(f"Step {step} of {total - 1} — answer phase: target {target}, output {output}: {verdict}.",
                     "tasks")]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _focus_text(weights: dict, preposition: str) -> str:
    """How a head's weight is distributed, in words the numbers earn (trace_stats.focus), e.g. with "to": "mostly to
    slot 3 (weight 0.91)", "evenly to 128 slots (about 0.0078 each)", "across about 37 slots (effective number
    of slots; the largest weight, 0.06, on slot 12)" or, when all of it is below WEIGHT_THRESHOLD, "almost
    nothing (a total weight of 0.0020 over 128 slots)"."""
    f = stats.focus(weights)
    total = f.total
    if 0 < total < stats.WEIGHT_THRESHOLD:
        # a closed gate: "evenly to 128 slots (about 1.6e-05 each)" would read as a write that happened
        return f"almost nothing (a total weight of {total:.4f} over {_plural(f.support, 'slot')})"
    if f.word == "mostly":
        return f"mostly {preposition} slot {f.slot} (weight {_f(f.weight)})"
    if f.word == "evenly":
        each = total / f.support
        # a DNC head's weights can sum to less than 1 (what follows a link may go nowhere): say the sum, so that
        # "about 0.0069 each" over 128 slots is not read as a whole head's weight
        whole = "" if abs(total - 1) < 0.005 else f", {total:.2f} in all"
        return f"evenly {preposition} {f.support} slots (about {each:.2g} each{whole})"
    if f.word == "spread":
        return (f"across about {f.effective:.0f} slots (effective number of slots; the largest weight, "
                f"{_f(f.weight)}, on slot {f.slot})")
    return "nothing (all weights are zero)"


def _written_text(record) -> str:
    """The count of written slots the memory view marks (trace_stats.written_slots, > WEIGHT_THRESHOLD)."""
    written = stats.written_slots(record)
    return f"{_plural(len(written), 'slot')} got write weight > {stats.WEIGHT_THRESHOLD:g}"


def _strength_text(beta, slots: int) -> str:
    """The NTM write head's key strength, in words its value earns: content weights are softmax(β·cosine) and a
    cosine lies in [−1, 1], so two slots' content weights differ by at most a factor e^(2β)."""
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        return "Write head: key strength β not recorded."
    ratio = math.exp(min(2 * beta, 700.0))
    said = f"{ratio:.2f}" if ratio < 10 else f"{ratio:,.0f}" if ratio < 1e6 else f"{ratio:.1e}"
    if ratio < FLAT_CONTENT:
        effect = "the content match alone is nearly flat"
    else:
        effect = "a large β focuses the content match on the best-matching slots"
    return (f"Write head: key strength β = {beta:.2f}: content weights softmax(β·cosine) of any two of the "
            f"{slots:,} slots differ by at most a factor e^(2β) = {said}, so {effect}.")


def _ntm(trace, record) -> list[Sentence]:
    g = record.get("gates", {})
    out = []
    write = stats.write_map(record)
    out.append(Sentence(_strength_text(g.get("write_strength"), stats.memory_slots(trace)), "ntm-content"))
    gate = g.get("write_interpolation")
    if gate is not None:
        out.append(Sentence(f"Interpolation gate g = {_f(gate)}: {float(gate) * 100:.0f}% content lookup, "
                            f"{100 - float(gate) * 100:.0f}% last step's write weights.", "ntm-interpolation"))
    shift = g.get("write_shift")
    if shift:
        out.append(Sentence(f"Shift by −1 / 0 / +1 with weights {_f(shift[0])} / {_f(shift[1])} / {_f(shift[2])}.",
                            "ntm-shift"))
    if g.get("write_sharpening") is not None:
        out.append(Sentence(f"Sharpening γ = {_f(g.get('write_sharpening'))} re-focuses the shifted weights.",
                            "ntm-sharpen"))
    if write:
        out.append(Sentence(f"Wrote {_focus_text(write, 'to')}; {_written_text(record)}; "
                            f"mean erase {_f(g.get('erase_mean'))}.", "ntm-erase-add"))
    strengths = g.get("read_strength")
    for h, head in enumerate(stats.read_maps(record)):
        if not head:
            continue
        strength = strengths[h] if isinstance(strengths, list) and h < len(strengths) else None
        out.append(Sentence(f"Read head {h + 1} read {_focus_text(head, 'from')}; strength β = {_f(strength)}.",
                            "ntm-read"))
    return out


def _age_text(age: int | None, step: int) -> str:
    if age is None:
        return ""
    if age > step:
        return "never accessed so far"
    return f"last accessed {age} step{'s' if age != 1 else ''} ago"


def _sam_write(trace, record, step: int) -> list[Sentence]:
    """The SAM write rule (SAM, SDNC; DAM, its dense twin, with a discounted usage)."""
    g = record.get("gates", {})
    alpha, gamma = _first(g.get("write_gate")), _first(g.get("interpolation_gate"))
    least = record.get("least_used")
    sparse = stats.is_sparse(trace)
    age = stats.least_used_age(trace, step)
    write = stats.write_map(record)
    anchor = "sam-sparse-write" if sparse else "dam"
    out = []
    if alpha is not None and gamma is not None and least is not None:
        alpha, gamma = float(alpha), float(gamma)
        others = sorted(s for s in write if s != least)
        untouched = f", {_age_text(age, step)}" if age is not None else ""
        which = "least used" if stats.usage_smaller_is_older(trace) else "least recently used"
        if not others:
            rest = "and nothing else"
        elif step == 0:
            # the first write's "previous reads" are the heads' initial read weights: nothing was read yet
            where = f"{_ids(others)}: " if sparse else ""
            rest = (f"and {sum(write[s] for s in others):.2f} in all to the {_plural(len(others), 'other slot')} "
                    f"it addressed ({where}the heads' initial read weights, nothing was read yet)")
        else:
            rest = (f"and {sum(write[s] for s in others):.2f} in all to the {_plural(len(others), 'other slot')} "
                    f"it addressed (read at the previous step)")
        out.append(Sentence(
            f"Write gate α = {alpha:.2f}, interpolation gate {INTERPOLATION} = {gamma:.2f}: wrote "
            f"{write.get(least, 0.0):.2f} to slot {least} (the {which}{untouched}; erased first) {rest}; "
            f"{_written_text(record)}.", anchor))
    elif write:
        out.append(Sentence(f"Wrote {_focus_text(write, 'to')}; {_written_text(record)}.", anchor))
    if least is not None and not sparse:
        usage = stats.usage_values(trace, step, [least]) or {}
        if least in usage:
            # DAM picks the SMALLEST number, SAM the LARGEST: two different quantities, said in words
            out.append(Sentence(
                f"DAM's usage of a slot is the weight it has received, discounted by λ = {USAGE_DISCOUNT:g} at "
                f"every step (so old accesses fade), and the least used slot is the one with the smallest: slot "
                f"{least}, {_f(usage[least], 3)} before this step. This step erased and wrote it.", "dam"))
    elif least is not None and sparse:
        when = f" ({_age_text(age, step)})" if age is not None else ""
        # the model's own δ and accesses (every shipped model has the paper's: reads and writes above 0.005)
        delta = trace.config.get("access_threshold", ACCESS_THRESHOLD)
        counted = "write" if trace.config.get("accesses") == "writes" else "read or write"
        out.append(Sentence(f"SAM's usage of a slot counts the steps since its last {counted} above "
                            f"δ = {delta:g}, so the least recently used slot is the one with the LARGEST count: "
                            f"slot {least}{when}.", "sam-usage"))
    return out


def _recall_text(index: str, n: dict) -> str:
    """The index's answer for one head against the exact top K, with recall made up of what the numbers show:
    found slots in the exact list, found slots tying its K-th cosine (counted as found), exact slots not found."""
    match = stats.neighbour_match(n, TIE)
    k = match["k"]
    recall = float(n.get("recall", 0.0))
    text = (f"The {index} index found them with recall {recall:.2f} against the exact top-{k}: "
            f"{len(match['hits'])} of the {k} found slots are in the exact list")
    if match["ties"]:
        text += (f", and {len(match['ties'])} more ({_ids(match['ties'])}) tie its {k}-th cosine within {TIE:g}, "
                 f"which recall counts as found")
    if match["missed"]:
        one = len(match["missed"]) == 1
        text += (f"; the exact list's slot{'' if one else 's'} {_ids(match['missed'])} {'was' if one else 'were'} "
                 "not returned")
        if match["ties"]:
            text += " (tied with those found instead)"
    similarities = [float(v) for v in [*n.get("found_similarity", []), *n.get("exact_similarity", [])]]
    if similarities and all(v == 0.0 for v in similarities):
        text += (". Every cosine here is 0: these rows are still all zeros (nothing written there yet), so any "
                 "of the unwritten rows would do as well")
    return text + "."


def _sparse_reads(trace, record, step: int) -> list[Sentence]:
    g = record.get("gates", {})
    strengths = g.get("read_strength")
    index = record.get("index", trace.config.get("index", "exact"))
    out = []
    neighbours = record.get("neighbours") or []
    for h, head in enumerate(stats.read_maps(record)):
        top = stats.top_slots(head, 1)
        if not top:
            continue
        slot, value = top[0]
        strength = strengths[h] if isinstance(strengths, list) and h < len(strengths) else strengths
        k = trace.config.get("k", len(head))
        if record.get("links"):
            what = (f"Read head {h + 1} read only {len(head)} slots ({_ids(sorted(head))}): K = {k} by content "
                    f"plus those its links lead to; the largest weight {_f(value)} is on slot {slot} "
                    f"(β = {_f(strength)}).")
        else:
            what = (f"Read head {h + 1} read only K = {len(head)} slots ({_ids(sorted(head))}); the largest weight "
                    f"{_f(value)} is on slot {slot} (softmax of β·cosine over the K, β = {_f(strength)}).")
        out.append(Sentence(what, "sam-sparse-read"))
        if h < len(neighbours):
            out.append(Sentence(_recall_text(index, neighbours[h]), "sam-ann"))
    read, written = stats.touched_sets(record)
    touched = stats.rows_touched(trace)[step]
    n = stats.memory_slots(trace)
    both = len(set(read) & set(written))
    if touched:
        out.append(Sentence(
            f"Only {touched:,} of {n:,} rows were touched at this step: {len(read)} read ({_ids(read)}) and "
            f"{len(written)} written ({_ids(written)}), {both} of them both.", "why-sparse-scales"))
        above = len(stats.written_slots(record))
        out.append(Sentence(
            f"Backpropagation will roll back just the {_plural(len(written), 'row')} this write journalled: every "
            f"row it addressed, whatever its weight ({above} of them with weight > {stats.WEIGHT_THRESHOLD:g}).",
            "sam-bptt"))
    return out


def _dense_reads(trace, record) -> list[Sentence]:
    g = record.get("gates", {})
    strengths = g.get("read_strength")
    out = []
    for h, head in enumerate(stats.read_maps(record)):
        top = stats.top_slots(head, 1)
        if not top:
            continue
        strength = strengths[h] if isinstance(strengths, list) and h < len(strengths) else strengths
        n = stats.memory_slots(trace)
        if not record.get("read_modes"):
            text = (f"Read head {h + 1}: softmax over all {n:,} slots (β = {_f(strength)}); it read "
                    f"{_focus_text(head, 'from')}.")
        else:
            text = (f"Read head {h + 1}: its weights cover all {n:,} slots (content β = {_f(strength)} mixed with "
                    f"the links by the read modes); it read {_focus_text(head, 'from')}.")
        out.append(Sentence(text, "dnc-read-modes" if record.get("read_modes") else "dam"))
    return out


def _dnc_write(trace, record, step: int) -> list[Sentence]:
    g = record.get("gates", {})
    out = []
    alloc, write_gate = _first(g.get("allocation_gate")), _first(g.get("write_gate"))
    write = stats.write_map(record)
    if write_gate is not None and alloc is not None:
        share = float(alloc) * 100
        out.append(Sentence(f"Write gate g^w = {_f(write_gate)}, allocation gate g^a = {_f(alloc)}: "
                            f"{share:.0f}% of the write goes to free slots, {100 - share:.0f}% "
                            f"to the content match.", "dnc-write"))
    if write:
        out.append(Sentence(f"Wrote {_focus_text(write, 'to')}; {_written_text(record)}.", "dnc-write"))
    least = record.get("least_used")
    usage = stats.usage_values(trace, step, [least]) if least is not None else None
    if least is not None and usage and least in usage:
        out.append(Sentence(f"Slot {least} has the lowest usage ({_f(usage[least], 3)}; a DNC's usage is between 0, "
                            f"free, and 1, in use): allocation points there.", "dnc-allocation"))
    free = g.get("free_gates")                          # [R]: one per read head
    if free is not None:
        values = list(free) if isinstance(free, (list, tuple)) else [free]
        out.append(Sentence(f"Free gates {', '.join(_f(v) for v in values)}: how much each read head releases the "
                            f"slots it read.", "dnc-usage"))
    return out


def _modes_and_links(trace, record) -> list[Sentence]:
    out = []
    names = ("backward", "content", "forward")
    for h, mode in enumerate(record.get("read_modes") or []):
        f = stats.focus({m: float(mode[m]) for m in range(3)})
        verdict = {"mostly": f"mostly {names[f.slot]} reading",
                   "evenly": "an even mix: no mode dominates",
                   "spread": f"leaning to {names[f.slot]} reading, but no mode holds half"}.get(f.word, "no mode")
        out.append(Sentence(f"Read head {h + 1} mixes backward {_f(mode[0])}, content {_f(mode[1])}, forward "
                            f"{_f(mode[2])}: {verdict}.", "dnc-read-modes"))
    anchor = "sdnc-links" if stats.is_sparse(trace) else "dnc-links"
    for h, head in enumerate(record.get("links") or []):
        parts = []
        for direction in ("forward", "backward"):
            top = stats.top_slots(stats.weight_map(head.get(direction)), 1)
            if top and top[0][1] > stats.WEIGHT_THRESHOLD:
                parts.append(f"{direction} link leads to slot {top[0][0]} ({_f(top[0][1])})")
        if parts:
            out.append(Sentence(f"Read head {h + 1}: " + "; ".join(parts) + ".", anchor))
    return out


def narrate(trace, step: int) -> list[Sentence]:
    """What happened at `step`, in sentences with the step's numbers, each linked to its equation.

    The write is told by the rule whose gates the step recorded: NTM addressing (shift, sharpening), the
    DNC's allocation, or SAM's write rule (SAM, SDNC and DAM); the reads by the kind's spec (sparse or
    dense); read modes and temporal links whenever the step recorded them.
    """
    step = stats.clamp_step(trace, step)
    record = trace.steps[step]
    gates = record.get("gates", {})
    sentences = _phase(trace, step)
    if "write_shift" in gates or "write_interpolation" in gates:
        sentences += _ntm(trace, record)                     # NTM: its write and reads in one account
    else:
        if "allocation_gate" in gates:
            sentences += _dnc_write(trace, record, step)
        elif "interpolation_gate" in gates:
            sentences += _sam_write(trace, record, step)
        else:
            write = stats.write_map(record)
            if write:
                sentences.append(Sentence(f"Wrote {_focus_text(write, 'to')}; {_written_text(record)}."))
        sentences += _sparse_reads(trace, record, step) if stats.is_sparse(trace) else _dense_reads(trace, record)
    if record.get("read_modes") or record.get("links"):
        sentences += _modes_and_links(trace, record)
    return sentences


def to_markdown(sentences: list[Sentence], learn_path: str = LEARN_PATH) -> str:
    """A markdown bullet list; each sentence ends with a link to its equation on the Learn page."""
    lines = []
    for sentence in sentences:
        link = f" [→ {ANCHORS[sentence.anchor].split(' · ')[-1]}]({learn_path}#{sentence.anchor})" \
            if sentence.anchor in ANCHORS else ""
        lines.append(f"- {sentence.text}{link}")
    return "\n".join(lines)


def measured_metric(meta: dict | None, memory_slots: int, index: str | None) -> str | None:
    """The shipped model's score as pretrained/README.md has it (meta.json "evaluation", written by
    samviz.evaluate), said for the setting on screen: "for this setting" when the model runs as it was measured,
    else labelled with the setting it was measured at. `index` is None for a dense model (it has no index, so
    none is named). None when the meta holds no score."""
    meta = meta or {}
    config = meta.get("config") or {}
    evaluation = meta.get("evaluation") or {}
    score = evaluation.get("bit_errors")
    source = f"{evaluation.get('episodes', '?')} fresh episodes, pretrained/README.md"
    if not isinstance(score, (int, float)):
        score = (meta.get("metrics") or {}).get("bit_errors_per_sequence")
        source = "validation during training"
        if not isinstance(score, (int, float)):
            return None
    slots = config.get("memory_slots")
    measured_index = config.get("index", "exact") if index is not None else None
    same = slots == memory_slots and measured_index == index

    def setting(n, which) -> str:
        return f"{n} slots" + (f", {which} index" if which is not None else "")

    if same:
        return f"bit errors per sequence {score:.3f} ({source}; measured at this setting: {setting(slots, index)})"
    return (f"bit errors per sequence {score:.3f}, measured at {setting(slots, measured_index)} ({source}), not at "
            f"this setting ({setting(memory_slots, index)})")
