"""Does a SAM step stay flat as the memory grows and fills? Two measurements, each printing ratios from one run.

    python -m samviz.bench.flat_cost stream --slots 65536,1048576 --steps 100000 [--recorder both]
    python -m samviz.bench.flat_cost update --slots 1024,1048576 --lengths 21,1000

stream: a shipped SAM (sam-associative_recall, the faiss index, zero rows) runs forward, batch 1, over one
    stream of random input bits, so it writes a new row almost every step and the memory fills with rows the
    model itself wrote. Per tenth of the stream: ms per step, the recall of its reads against an exact top-K
    over the memory as it is at that step (sampled every `--sample-every` steps; a found row tying the exact
    K-th cosine counts, evaluate_scale.compare_search), rows written, the index's clustered older rows, resident
    memory; wall time and this thread's CPU time (on a shared machine the CPU time is the steadier of the two).
    With the step recorder (details=True and an observer reading what the trace shows of each step)
    and without. Printed: last tenth ÷ first tenth (time), each tenth's recall (the mean over its sampled
    reads; the worst single read is in the row), RSS growth.
stream --compare-exact: the same stream through the exact index too (SAM linear); prints the fraction of
    steps whose output bits agree and the reads' agreement, per tenth.
update: one training update (forward + backward, batch 8, copy at 10 vectors for T 21, longer copies for
    longer T; untrained SAM, faiss, 4 heads, K 4, W 32, LSTM 100, one thread) INCLUDING the episode's
    set-up (core.initial_state), as the trainer pays it: the median of `--repeats` updates after two warm-up
    updates (which make the pooled store), per N and T; printed: each N's time ÷ the smallest N's.

Rows are JSON objects, one per line, on stdout (the summary lines start with "#").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

MAX_STREAM = 1_000_000
MAX_SLOTS = 1 << 21


def _pin_threads() -> None:
    import torch
    torch.set_num_threads(1)
    try:
        import faiss
        faiss.omp_set_num_threads(1)
    except ImportError:
        pass


def stream(slots: int, steps: int, recorder: bool, sample_every: int, seed: int, index: str = "faiss",
           name: str = "sam-associative_recall", keep_outputs: bool = False, inputs: str = "random",
           recent_rows: int | None = None) -> dict:
    """One stream; returns {"tenths": [...], ...} (see the module docstring). inputs: "random" bits on every
    input channel, or "task": one long episode of the model's own task (samviz.tasks.LongTask) of about `steps`
    steps, whose bit errors per sequence are reported too. recent_rows: the index's exact part, if not its
    default (a smaller one makes the clustered older rows take part at a small N)."""
    import torch

    from samviz import pretrained, tasks
    from samviz.bench.measure import current_rss, trim_heap
    from samviz.evaluate_scale import compare_search
    from samviz.memory.index import ExactIndex

    model = pretrained.load(name, index=index, memory_slots=slots).eval()
    core = model.core
    generator = torch.Generator().manual_seed(seed)
    episode = None
    if inputs == "task":
        task = tasks.get(model.meta["task"])
        level = max(task.min_level, min(task.longest_level, int(round(steps / (task.steps(1000) / 1000)))))
        episode = tasks.LongTask(task, level).sample(1, level, generator)
        stream_inputs = episode.inputs
        steps = int(stream_inputs.shape[0])
    else:
        stream_inputs = torch.randint(0, 2, (steps, 1, model.config.input_size), generator=generator).to(torch.float32)
    state = core.initial_state(1)
    memory = state.memory
    if recent_rows is not None:
        memory.index.recent_rows = recent_rows
    exact = ExactIndex(1, slots, core.word_size)
    tenth = max(1, steps // 10)
    checking = [0.0] * 11                                   # CPU seconds spent checking recall, per tenth
    clock = {"t": 0, "last": None}
    times: list[float] = []
    recalls: list[tuple[int, float]] = []
    found_reads: list[list[int]] = []
    search = memory.index.search

    def timed_search(queries, k):
        now = time.perf_counter()
        if clock["last"] is not None:
            times.append(now - clock["last"])          # one search per step: the time between two is one step
        clock["last"] = now
        found = search(queries, k)
        if keep_outputs:
            found_reads.append(found[0].flatten().tolist())
        if clock["t"] % sample_every == 0:                 # the check's own time is left out of the step times
            wall, thread = time.perf_counter(), time.thread_time()
            exact.reset(memory.buffer)
            truth = exact.search(queries, k)
            comparison = compare_search(found, truth, queries, memory.buffer)
            recalls.append((clock["t"], float(comparison.hits.sum()) / comparison.hits.numel() / k))
            del truth, comparison
            trim_heap()   # the check's N-sized temporaries, freed: otherwise the heap they fragment reads as RSS
            checking[clock["t"] // tenth] += time.thread_time() - thread
            clock["last"] += time.perf_counter() - wall
        clock["t"] += 1
        return found

    memory.index.search = timed_search
    rss: list[int] = []
    observed = {"least_used_age": 0}

    def observe(t, step):                               # what the trace shows of a step, for batch element 0
        observed["least_used_age"] += int(step.usage_before.age(0, int(step.least_used[0]))[0])
        observed["rows"] = step.rows_before[0].shape[0]

    cpu = [time.thread_time()]

    def chunk_hook(module, args):
        if clock["t"] and clock["t"] % tenth == 0:
            rss.append(current_rss())
            cpu.append(time.thread_time())

    trim_heap()
    rss_start = current_rss()
    handle = model.controller.register_forward_pre_hook(chunk_hook)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            logits, state = model.run(stream_inputs, memory_state=state, observe=observe if recorder else None)
    finally:
        handle.remove()
    total = time.perf_counter() - start
    rss.append(current_rss())
    cpu.append(time.thread_time())
    tenths = []
    for part in range(10):
        low, high = part * tenth, (part + 1) * tenth
        step_times = times[max(0, low - 1):high - 1]
        part_recalls = [r for t, r in recalls if low <= t < high]
        cpu_ms = (1e3 * (cpu[part + 1] - cpu[part] - checking[part]) / (high - low)) if part + 1 < len(cpu) else None
        tenths.append({"steps": [low, high], "ms_per_step": 1e3 * statistics.mean(step_times) if step_times else None,
                       "cpu_ms_per_step": cpu_ms,
                       "recall": statistics.mean(part_recalls) if part_recalls else None,
                       "worst_read_recall": min(part_recalls) if part_recalls else None,
                       "rss_mib": rss[part] / 2**20 if part < len(rss) else None})
    stats = memory.index.last_stats
    older = getattr(memory.index, "older", None)                   # the clustered older rows (faiss only)
    result = {"measure": "stream", "model": name, "index": index, "slots": slots, "steps": steps, "batch": 1,
              "recorder": recorder, "seconds": total, "tenths": tenths,
              "rows_written": int(stats.get("written_rows", 0)),
              "older_rows": int(older.live.sum()) if older else 0,
              "older_rebuilds": older.stats["rebuilds"] if older else 0,
              "older_lists": older.lists(0) if older else 0,
              "rss_start_mib": rss_start / 2**20, "rss_end_mib": rss[-1] / 2**20,
              "time_ratio_last_to_first": tenths[-1]["ms_per_step"] / tenths[0]["ms_per_step"],
              "cpu_ratio_last_to_first": tenths[-1]["cpu_ms_per_step"] / tenths[0]["cpu_ms_per_step"],
              "worst_tenth_recall": min(t["recall"] for t in tenths if t["recall"] is not None), "inputs": inputs}
    if episode is not None:
        result["level"] = int(episode.level)
        result["bit_errors_per_sequence"] = tasks.bit_errors_per_sequence(logits, episode)
    if keep_outputs:
        result["_bits"] = (logits > 0).squeeze(1)
        result["_reads"] = found_reads
    return result


def compare_indexes(slots: int, steps: int, seed: int) -> dict:
    """The same stream through the faiss and the exact index: per tenth, the fraction of steps whose output
    bits are identical, and of reads (found ids) that are identical."""
    faiss_run = stream(slots, steps, False, steps + 1, seed, "faiss", keep_outputs=True)
    exact_run = stream(slots, steps, False, steps + 1, seed, "exact", keep_outputs=True)
    tenth = max(1, steps // 10)
    same_bits = (faiss_run["_bits"] == exact_run["_bits"]).all(-1)
    same_reads = [a == b for a, b in zip(faiss_run["_reads"], exact_run["_reads"], strict=True)]
    parts = []
    for part in range(10):
        low, high = part * tenth, (part + 1) * tenth
        parts.append({"steps": [low, high], "same_output_bits": float(same_bits[low:high].float().mean()),
                      "same_reads": sum(same_reads[low:high]) / max(1, len(same_reads[low:high]))})
    return {"measure": "stream_faiss_vs_exact", "slots": slots, "steps": steps, "seed": seed, "tenths": parts,
            "first_differing_step": int((~same_bits).nonzero()[0]) if bool((~same_bits).any()) else None}


def update_time(slots: int, length: int, repeats: int, batch: int = 8) -> dict:
    """Median seconds of one training update, set-up included (see the module docstring)."""
    import torch

    import samviz
    from samviz import tasks

    torch.manual_seed(0)
    task = tasks.get("copy")
    level = (length - 1) // 2
    long_task = tasks.LongTask(task, max(task.max_level, level)) if level > task.max_level else task
    episode = long_task.sample(batch, level, torch.Generator().manual_seed(1))
    model = samviz.build_model("sam", input_size=9, output_size=8, memory_slots=slots, word_size=32, heads=4, k=4,
                               controller_size=100, index="faiss")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def update():
        logits = model(episode.inputs)                      # core.initial_state inside: the set-up is timed
        loss = tasks.loss(logits, episode)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    samples = []
    for repeat in range(repeats + 2):
        start = time.perf_counter()
        update()
        if repeat >= 2:                                     # the first makes the store, the second reuses it
            samples.append(time.perf_counter() - start)
    return {"measure": "training_update", "slots": slots, "steps": int(episode.inputs.shape[0]), "batch": batch,
            "median_ms": 1e3 * statistics.median(samples), "min_ms": 1e3 * min(samples),
            "max_ms": 1e3 * max(samples), "repeats": repeats}


def counts(text: str, low: int, high: int, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values or any(not low <= v <= high for v in values):
        raise argparse.ArgumentTypeError(f"each of {what} must be in [{low}, {high}], got {text!r}")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samviz.bench.flat_cost", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="measure", required=True)
    s = sub.add_parser("stream")
    s.add_argument("--slots", type=lambda t: counts(t, 4096, MAX_SLOTS, "--slots"), default=[65536, 1 << 20])
    s.add_argument("--steps", type=int, default=100_000)
    s.add_argument("--recorder", choices=("off", "on", "both"), default="both")
    s.add_argument("--sample-every", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--compare-exact", action="store_true")
    u = sub.add_parser("update")
    u.add_argument("--slots", type=lambda t: counts(t, 16, MAX_SLOTS, "--slots"), default=[1024, 1 << 20])
    u.add_argument("--lengths", type=lambda t: counts(t, 3, 20_001, "--lengths"), default=[21, 1001])
    u.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.measure == "stream" and not (100 <= args.steps <= MAX_STREAM and 1 <= args.sample_every <= args.steps):
        parser.error(f"--steps must be in [100, {MAX_STREAM}] and --sample-every in [1, --steps]")
    if args.measure == "update" and not 1 <= args.repeats <= 100:
        parser.error("--repeats must be in [1, 100]")
    _pin_threads()
    if args.measure == "stream":
        if args.compare_exact:
            for slots in args.slots:
                print(json.dumps(compare_indexes(slots, args.steps, args.seed)), flush=True)
            return 0
        modes = {"off": [False], "on": [True], "both": [False, True]}[args.recorder]
        for slots in args.slots:
            for recorder in modes:
                row = stream(slots, args.steps, recorder, args.sample_every, args.seed)
                print(json.dumps(row), flush=True)
                first, last = row["tenths"][0]["ms_per_step"], row["tenths"][-1]["ms_per_step"]
                cpu_first, cpu_last = row["tenths"][0]["cpu_ms_per_step"], row["tenths"][-1]["cpu_ms_per_step"]
                print(f"# N={slots} recorder={'on' if recorder else 'off'}: ms/step first tenth {first:.3f}, "
                      f"last {last:.3f} (×{row['time_ratio_last_to_first']:.2f}); CPU ms/step {cpu_first:.3f} -> "
                      f"{cpu_last:.3f} (×{row['cpu_ratio_last_to_first']:.2f}); recall per tenth "
                      f"{[round(t['recall'], 4) for t in row['tenths']]}; rows written {row['rows_written']}, in "
                      f"the clusters {row['older_rows']} ({row['older_rebuilds']} re-clusterings); RSS "
                      f"{row['rss_start_mib']:.0f} -> {row['rss_end_mib']:.0f} MiB", flush=True)
        return 0
    for length in args.lengths:
        rows = [update_time(slots, length, args.repeats) for slots in args.slots]
        for row in rows:
            print(json.dumps(row), flush=True)
        base = rows[0]["median_ms"]
        parts = [f"N={row['slots']}: {row['median_ms']:.1f} ms (×{row['median_ms'] / base:.2f})" for row in rows]
        print(f"# T={rows[0]['steps']}: " + ", ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
