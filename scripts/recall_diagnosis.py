"""Why does a long-curriculum SAM err on associative recall far past its trained length? One reading per episode.

For each episode this follows the rows that hold the queried item and the item after it (the answer): the slots
the least-recently-used write put them in while the list was read (one fresh slot per step, 8 steps). At the
three answer steps, where the answer is read out, it splits each read's weight by the rows it lands on — those
rows, rows written during the query, rows of a near-duplicate of the queried item (within NEAR_BITS), of the item
before it, of any other item — and records the query's cosine with the best of those rows and with the best other
row read, how many list rows outscore them, and the raw read strength the controller asks for before the
interface clip (and the key strength β applied after it). So an error can be placed: the index missing the rows,
other rows ranking above them, or the read's softmax blending them with rows that score almost as high. Per
episode it also keeps whether those rows changed after they were written (the γ path writes into rows read the
step before; by design, not necessarily interference).

Prints a summary per length (right / wrong episodes side by side) and writes the per-episode rows as JSON.
`--k` and `--interface-clip` are interventions on the same weights. Diagnostic only (docs/MEASUREMENT_HISTORY.md,
"Why the long-curriculum SAM errs at 10× its trained length", records what it found), run from the repository root:

    python scripts/recall_diagnosis.py \\
        --checkpoint experiments/long_curriculum/evaluated/sam-faiss-65536-update-30125 \\
        --levels 1024,10240 --episodes 64,32 --slots 65536 --out /tmp/recall_diagnosis.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
import statistics
import sys
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from samviz import tasks as tasks_module  # noqa: E402
from samviz.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from samviz.memory import addressing  # noqa: E402
from samviz.memory.index import normalise  # noqa: E402

ITEM_SPAN = 4          # associative recall: a delimiter step and three vectors per item (samviz/tasks.py)
MAX_EPISODES = 256
MAX_LEVEL = 20_000
ANSWER_STEPS = (5, 6, 7)    # steps after the first query delimiter at which the answer is read out (tasks.py)
NEAR_BITS = 2          # "near-duplicate" key: another list item within this many bits of the queried one


def query_positions(inputs: torch.Tensor, level: int, bits: int = 6) -> list[int]:
    """inputs [T, B, I] of an associative-recall episode with `level` items -> each batch element's queried item
    (its place in the list, 0-based): the item whose three vectors equal the query's (items are distinct)."""
    span, batch = ITEM_SPAN, inputs.shape[1]
    query = inputs[span * level + 1:span * level + span, :, :bits]                          # [3, B, bits]
    items = inputs[:span * level].reshape(level, span, batch, -1)[:, 1:, :, :bits]         # [n, 3, B, bits]
    same = (items == query.unsqueeze(0)).all(-1).all(1)                                     # [n, B]
    found = same.float().argmax(0)
    if not bool(same[found, torch.arange(batch)].all()):
        raise ValueError("an episode's query item is not in its list: not an associative-recall episode")
    return [int(v) for v in found]


def list_items(inputs: torch.Tensor, level: int, bits: int = 6) -> torch.Tensor:
    """inputs [T, B, I] -> the list's items [B, n, 18] (3 vectors of `bits` bits each, flattened)."""
    batch = inputs.shape[1]
    items = inputs[:ITEM_SPAN * level].reshape(level, ITEM_SPAN, batch, -1)[:, 1:, :, :bits]   # [n, 3, B, bits]
    return items.permute(2, 0, 1, 3).reshape(batch, level, -1)


def near_items(items: torch.Tensor, places: list[int]) -> list[tuple[int, int]]:
    """items [B, n, 18] -> per batch element (the Hamming distance from the queried item to the nearest other
    item of its list, how many other items lie within NEAR_BITS of it). Items are 3 × 6 = 18 bits: in a list of
    n the expected number of other items within 2 bits of the query is about n · 171 / 2^18 (0.7 at 1,024 items,
    6.7 at 10,240): long lists hold near-duplicates of the key."""
    result = []
    for b, place in enumerate(places):
        distance = (items[b] != items[b, place]).sum(dim=1)
        distance[place] = items.shape[-1] + 1                                              # not its own
        result.append((int(distance.min()), int((distance <= NEAR_BITS).sum())))
    return result


def diagnose_batch(model, episode, level: int) -> list[dict]:
    """Run one batch with step details and return one record per episode (see the module docstring)."""
    batch = episode.inputs.shape[1]
    places = query_positions(episode.inputs, level)
    items = list_items(episode.inputs, level)                                          # [B, n, 18]
    near = near_items(items, places)
    # the steps of the queried item and of the item after it, per batch element
    watched = [set(range(ITEM_SPAN * p, ITEM_SPAN * (p + 2))) for p in places]
    slots = [[] for _ in range(batch)]             # the fresh (least recently used) slot of each watched step
    snapshots = [[] for _ in range(batch)]         # that row right after its step
    first_query_step = ITEM_SPAN * level
    per_step = [[] for _ in range(batch)]

    own = [[] for _ in range(batch)]               # the fresh slots written during the query and answer steps
    listed = [[] for _ in range(batch)]            # every fresh slot written while the list was read
    item_of_slot: dict[int, dict[int, int]] = {}   # per batch element: a listed slot -> the item whose step wrote it

    def observe(t, step):
        buffer = step.memory.buffer
        if t < first_query_step:
            for b in range(batch):
                listed[b].append(int(step.least_used[b]))
                if t in watched[b]:
                    slot = int(step.least_used[b])
                    slots[b].append(slot)
                    snapshots[b].append(buffer[b, slot].detach().clone())
            return
        for b in range(batch):
            own[b].append(int(step.least_used[b]))   # written this step, before the read: searchable now
            target, mine = torch.tensor(slots[b]), torch.tensor(own[b])
            now = buffer[b, target]                                              # [8, W]
            ids, weights = step.read_ids[b], step.read_weights[b]               # [R, K]
            on_target, on_own = torch.isin(ids, target), torch.isin(ids, mine)
            other = ~on_target & ~on_own
            query = normalise(step.query[b].detach().float())                        # [R, W]
            target_cos = query @ normalise(now.float()).T                            # [R, 8]
            read_cos = (query.unsqueeze(1) * normalise(buffer[b, ids].float())).sum(-1)   # [R, K]
            heads = weights.shape[0]
            # every list row against the query: how many outscore the best query/answer row (per head; the head
            # that ranks them best), and the typical list row's cosine
            # the other rows read, by the item whose steps wrote them: a near-duplicate of the queried item
            # (within NEAR_BITS), the item before it, any other item, or no list item's row
            if b not in item_of_slot:
                item_of_slot[b] = {slot: index // ITEM_SPAN for index, slot in enumerate(listed[b])}
            kinds = {"near": 0.0, "before": 0.0, "far": 0.0, "unlisted": 0.0}
            distances, listed_weight = [0.0, 0.0], 0.0    # weighted bits to the queried / the answer item
            for (head, column) in other.nonzero().tolist():
                item = item_of_slot[b].get(int(ids[head, column]))
                if item is None:
                    kind = "unlisted"
                elif item == places[b] - 1:
                    kind = "before"
                else:
                    kind = "near" if int((items[b, item] != items[b, places[b]]).sum()) <= NEAR_BITS else "far"
                kinds[kind] += float(weights[head, column]) / weights.shape[0]
                if item is not None:
                    weight = float(weights[head, column])
                    listed_weight += weight
                    for side, other_place in enumerate((places[b], places[b] + 1)):
                        distances[side] += weight * int((items[b, item] != items[b, other_place]).sum())
            list_cos = query @ normalise(buffer[b, torch.tensor(listed[b])].float()).T         # [R, n·4]
            above = (list_cos > target_cos.max(dim=1, keepdim=True).values).sum(dim=1)     # [R]
            per_step[b].append({
                "t": t - first_query_step,
                "weight_on_target": float((weights * on_target).sum() / heads),
                "weight_on_own": float((weights * on_own).sum() / heads),
                "weight_on_other": float((weights * other).sum() / heads),
                **{f"weight_on_{kind}": value for kind, value in kinds.items()},
                "other_bits_to_query": distances[0] / listed_weight if listed_weight else None,
                "other_bits_to_answer": distances[1] / listed_weight if listed_weight else None,
                "best_target_cos": float(target_cos.max()),
                "best_other_cos": float(read_cos[other].max()) if bool(other.any()) else -1.0,
                "rows_above_target": int(above.min()),
                "median_list_cos": float(list_cos.median(dim=1).values.max()),
                "changed": [float(1 - v) for v in (normalise(torch.stack(snapshots[b]).float())
                                                  * normalise(now.float())).sum(-1)],
            })

    # the controller's interface before the clip, at the query and answer steps: the raw read strength the model
    # asks for (the clip caps the key strength β = 1 + softplus(raw) at 1 + softplus(clip))
    unclipped, position = {}, {"t": 0}

    def interface_hook(module, inputs, output):
        if position["t"] >= first_query_step:
            unclipped[position["t"]] = model.core.split(output.detach())[0]["strength"].squeeze(-1)   # [B, R]
        position["t"] += 1

    handle = model.interface.register_forward_hook(interface_hook)
    try:
        with torch.no_grad():
            logits, _ = model.run(episode.inputs, observe=observe)
    finally:
        handle.remove()
    for b in range(batch):
        for entry in per_step[b]:
            raw = unclipped[first_query_step + entry["t"]][b]
            entry["raw_strength"] = [float(v) for v in raw]
            entry["strength"] = [float(v) for v in addressing.strength(raw.clamp(-model.config.interface_clip,
                                                                                 model.config.interface_clip),
                                                                       model.core.key_strength)]
    wrong = tasks_module.wrong_bits(logits, episode).sum(dim=(0, 2))
    records = []
    for b in range(batch):
        steps = per_step[b]
        answering = [s for s in steps if s["t"] in ANSWER_STEPS]
        records.append({"bit_errors": float(wrong[b]), "place": places[b] / level,
                        "nearest_item_bits": near[b][0], "near_items": near[b][1],
                        "weight_on_target": sum(s["weight_on_target"] for s in answering) / len(answering),
                        **{f"weight_on_{kind}": sum(s[f"weight_on_{kind}"] for s in answering) / len(answering)
                           for kind in ("own", "near", "before", "far", "unlisted")},
                        **{key: statistics.mean(v) if (v := [s[key] for s in answering if s[key] is not None])
                           else None for key in ("other_bits_to_query", "other_bits_to_answer")},
                        "target_cos": sum(s["best_target_cos"] for s in answering) / len(answering),
                        "other_cos": sum(s["best_other_cos"] for s in answering) / len(answering),
                        "rows_above_target": min(s["rows_above_target"] for s in answering),
                        "median_list_cos": statistics.median(s["median_list_cos"] for s in answering),
                        "raw_strength": [v for s in answering for v in s["raw_strength"]],
                        "strength": [v for s in answering for v in s["strength"]],
                        "steps": steps})
    return records


def summarise(level: int, records: list[dict]) -> str:
    count = len(records)

    def mean(key, chosen=records):
        return sum(r[key] for r in chosen) / len(chosen) if chosen else float("nan")
    def mean_known(key, chosen):
        known = [r[key] for r in chosen if r[key] is not None]
        return f"{statistics.mean(known):.2f}" if known else "-"

    def median_of(key, chosen):
        return f"{statistics.median(r[key] for r in chosen):g}" if chosen else "-"
    raws = [v for r in records for v in r["raw_strength"]]
    betas = [v for r in records for v in r["strength"]]
    right = [r for r in records if r["bit_errors"] == 0]
    wrong = [r for r in records if r["bit_errors"] > 0]
    lines = [f"{level:,} items, {count} episodes: bit errors/query {mean('bit_errors'):.3f}; "
             f"{len(wrong)} episodes wrong. At the answer steps (means over them; right / wrong episodes):",
             f"  read weight on the query's and answer's rows {mean('weight_on_target', right):.3f} / "
             f"{mean('weight_on_target', wrong):.3f}; on rows written during the query "
             f"{mean('weight_on_own', right):.3f} / {mean('weight_on_own', wrong):.3f}",
             f"  read weight on other rows, by the item that wrote them: a near-duplicate (within {NEAR_BITS} bits) "
             f"{mean('weight_on_near', right):.3f} / {mean('weight_on_near', wrong):.3f}; the item before the "
             f"query {mean('weight_on_before', right):.3f} / {mean('weight_on_before', wrong):.3f}; any other item "
             f"{mean('weight_on_far', right):.3f} / {mean('weight_on_far', wrong):.3f}; no list item "
             f"{mean('weight_on_unlisted', right):.3f} / {mean('weight_on_unlisted', wrong):.3f}",
             f"  bits by which the other rows' items differ from the queried item (weighted by read weight; random "
             f"items: 9) {mean_known('other_bits_to_query', right)} / {mean_known('other_bits_to_query', wrong)}; "
             f"from the answer item {mean_known('other_bits_to_answer', right)} / "
             f"{mean_known('other_bits_to_answer', wrong)}",
             f"  query cosine of the best of those rows {mean('target_cos', right):.3f} / "
             f"{mean('target_cos', wrong):.3f}; of the best other row read {mean('other_cos', right):.3f} / "
             f"{mean('other_cos', wrong):.3f}; of the median list row {mean('median_list_cos'):.3f}",
             f"  list rows scoring above the best query/answer row (the step and head ranking it best): median "
             f"{median_of('rows_above_target', right)} / {median_of('rows_above_target', wrong)}; none above in "
             f"{sum(r['rows_above_target'] == 0 for r in right)}/{len(right)} / "
             f"{sum(r['rows_above_target'] == 0 for r in wrong)}/{len(wrong)}",
             f"  raw read strength before the clip (every head): min {min(raws):.1f}, median "
             f"{statistics.median(raws):.1f}, max {max(raws):.1f}; key strength β applied: min {min(betas):.1f}, "
             f"max {max(betas):.1f} (the clip caps it at 1 + softplus(clip))",
             "  bit errors by the number of other items within "
             f"{NEAR_BITS} bits of the queried one: " + ", ".join(
                 f"{label} {mean('bit_errors', chosen):.2f} ({len(chosen)} episodes)"
                 for label, chosen in ((label, [r for r in records if low <= r["near_items"] <= high])
                                       for label, low, high in (("0", 0, 0), ("1", 1, 1), ("2-3", 2, 3),
                                                                ("4-6", 4, 6), (">= 7", 7, 10 ** 9)))
                 if chosen) + f" (mean count {mean('near_items'):.2f})",
             f"  bit errors by the queried item's place: first half "
             f"{mean('bit_errors', [r for r in records if r['place'] < 0.5]):.3f}, second half "
             f"{mean('bit_errors', [r for r in records if r['place'] >= 0.5]):.3f}"]
    return "\n".join(lines)


def integers(text: str, bound: int, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: comma-separated integers, got {text!r}") from None
    if not values or any(not 1 <= v <= bound for v in values):
        raise argparse.ArgumentTypeError(f"{what}: each in [1, {bound}], got {text!r}")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--levels", required=True, type=lambda s: integers(s, MAX_LEVEL, "--levels"))
    parser.add_argument("--episodes", required=True, type=lambda s: integers(s, MAX_EPISODES, "--episodes"))
    parser.add_argument("--slots", type=int, default=65536, choices=[2 ** p for p in range(10, 21)])
    parser.add_argument("--batch", type=int, default=16, choices=range(1, 65), metavar="1..64")
    parser.add_argument("--seed", type=int, default=7001)
    parser.add_argument("--k", type=int, choices=range(1, 17), metavar="1..16",
                        help="read K rows per head instead of the model's own (an intervention: the write rule's "
                             "previous-read slots change with it)")
    parser.add_argument("--interface-clip", type=float, metavar="CLIP",
                        help="clip the controller's interface to ± this instead of the model's own (an intervention: "
                             "the key strength β = 1 + softplus(raw) is capped at 1 + softplus(clip))")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if len(args.levels) != len(args.episodes):
        parser.error("--levels and --episodes need the same number of values")
    torch.set_num_threads(1)
    try:
        model = load_checkpoint(args.checkpoint, {"memory_slots": args.slots, "k": args.k,
                                                  "interface_clip": args.interface_clip})
    except (CheckpointError, OSError, ValueError) as error:
        parser.error(str(error))
    if model.meta.get("task") != "associative_recall" or model.config.kind not in ("sam", "sdnc"):
        parser.error("a sparse model trained on associative_recall is needed")
    base = tasks_module.get("associative_recall")
    results = {}
    for level, episodes in zip(args.levels, args.episodes, strict=True):
        task = tasks_module.LongTask(base, min(max(level, base.min_level), base.longest_level))
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + level)     # long_evaluation's episodes
        records, remaining, start = [], episodes, time.perf_counter()
        while remaining > 0:
            size = min(args.batch, remaining)
            records += diagnose_batch(model, task.sample(size, level, generator), level)
            remaining -= size
            print(f"{level:,} items: {len(records)}/{episodes} episodes, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
        print(summarise(level, records), flush=True)
        results[str(level)] = records
    if args.out:
        args.out.write_text(json.dumps({"checkpoint": str(args.checkpoint), "slots": args.slots, "seed": args.seed,
                                        "k": model.config.k, "interface_clip": model.config.interface_clip,
                                        "levels": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
