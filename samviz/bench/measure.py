"""Measure ONE benchmark configuration — meant to run inside a fresh worker process.

    python -m samviz.bench.measure '{"model": "sam", "slots": 65536, "batch": 8, ...}'

prints one line ``SAMVIZ_BENCH_RESULT {json}`` on stdout. The runner (samviz.bench.runner) starts it with
one thread and a malloc configuration that returns freed memory to the OS (see WORKER_ENV).

What is timed (ms_per_step)
    One training step of the benchmark model of Rae et al. 2016, Fig. 1: LSTM controller (100 units),
    random 9-bit inputs x [T, B, 9], random 8-bit targets; forward over the T steps, BCE loss,
    backward. ms_per_step = median over `repeats` runs of (forward + backward time) / T.
    cpu_ms_per_step: the same with the process's CPU time (time.process_time) in place of the wall clock.
    Not timed: building the model and the memory's own initialisation (``core.initial_state(B)``: the
    N×W buffer, and for sparse cores their index and usage tracker). A fresh state is made before every
    run, so every run starts from the same memory (a sparse core's usage tracker is not rolled back).
    A short warm-up run (2 steps) comes first and is not counted.

What is measured (peak_mib) — training overhead, as in the paper's Fig. 1b
    peak_mib = (peak resident set size during forward + backward) − (resident set size just before it,
    i.e. with the model, the memory and its index already initialised).
    The peak is the kernel's own high-water mark VmHWM, reset to the current RSS right before the run by
    writing "5" to /proc/self/clear_refs (Linux ≥ 4.0), so nothing is missed between samples. Where that
    file cannot be written, a thread samples the RSS every millisecond instead ("memory_method" says
    which). Allocations ≥ 128 KiB are mmapped and freed memory is trimmed (MALLOC_MMAP_THRESHOLD_ and
    MALLOC_TRIM_THRESHOLD_, plus malloc_trim(0) before each baseline), so memory freed by an earlier run
    is returned to the OS and cannot hide the next run's allocations. peak_mib is the largest overhead
    over the timed runs. init_mib is the RSS growth from building the model and its memory state.
"""
import ctypes
import json
import os
import re
import statistics
import sys
import threading
import time

from samviz.kinds import DENSE_MODELS, INDEXES, SPARSE_MODELS, spec

RESULT_PREFIX = "SAMVIZ_BENCH_RESULT "
PARENT_ENV = "SAMVIZ_BENCH_PARENT"   # the runner's process id: the worker exits when that process is gone
PARENT_CHECK_S = 0.5
# Environment every worker starts with: one thread, freed memory goes back to the OS.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": "131072",
    "MALLOC_TRIM_THRESHOLD_": "131072",
}
DEFAULT_INDEX = "faiss"        # a sparse kind named without its index ("sam") is measured with this one
# model name -> (kind for samviz.build_model, index or None for dense cores):
# ntm, dam, dnc, sam, sam-exact, sam-faiss, sdnc, sdnc-exact, sdnc-faiss
MODEL_NAMES = {
    **{kind: (kind, None) for kind in DENSE_MODELS},
    **{name: (kind, index) for kind in SPARSE_MODELS
       for name, index in ((kind, DEFAULT_INDEX), *((f"{kind}-{i}", i) for i in INDEXES))},
}
INPUT_SIZE, OUTPUT_SIZE, CONTROLLER_SIZE = 9, 8, 100
WARMUP_STEPS = 2
DEFAULT_TIME_BUDGET_S = 3.0   # runs repeat until this much wall time (runs + fresh memory states) was spent
MIN_REPEATS = 3               # ... but at least this many when one run is shorter than a third of that budget
MAX_REPEATS = 15
MIB = 1 << 20


def split_model_name(name: str) -> tuple[str, str | None]:
    """"sam-exact" -> ("sam", "exact"); "ntm" -> ("ntm", None). Raises ValueError for unknown names."""
    try:
        return MODEL_NAMES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}") from None


# ---------------------------------------------------------------------------------------------- memory probes
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def current_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        return _status_kib("VmRSS") * 1024
    except OSError:
        import psutil
        return psutil.Process().memory_info().rss


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc), so the next baseline is honest."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakProbe:
    """Peak RSS over a block: the kernel's VmHWM after a reset, or a 1 ms sampling thread as a fallback."""

    def __init__(self):
        self.method = "VmHWM" if self._reset_hwm() else "sampled-1ms"

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return _status_kib("VmHWM") > 0
        except OSError:
            return False

    def __enter__(self):
        self.peak = current_rss()
        if self.method == "VmHWM":
            self._reset_hwm()
        else:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self.method == "VmHWM":
            self.peak = max(self.peak, _status_kib("VmHWM") * 1024)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, current_rss())
        return False


# ---------------------------------------------------------------------------------------------- measurement
def pin_threads() -> int:
    """One thread for torch and faiss (repeatable timings on a shared machine)."""
    import torch
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:      # already set in this process
        pass
    try:
        import faiss
        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    return 1


def release(core, state) -> None:
    """Drop a sparse memory's last autograd token after its run (core.end_episode; a no-op for dense cores).

    SparseMemory.token -> its grad_fn -> the custom Function's ctx.memory -> the SparseMemory is a reference
    cycle through autograd's C++ nodes that Python's gc does not collect, so without this every episode's
    memory buffer and index stayed allocated. MemoryModel.run calls the same hook after every forward; this
    stays as a guard (a no-op then) so a stale state never inflates the next baseline.
    """
    core.end_episode(state)


def measure(config: dict, time_budget_s: float = DEFAULT_TIME_BUDGET_S, max_repeats: int = MAX_REPEATS) -> dict:
    """Build the configured model, time forward + backward over `steps` steps; -> result fields.

    config: model, slots, batch, heads, k, word_size, steps (see samviz.bench.runner.BenchConfig); optional
    "min_repeats" (at least this many timed runs, whatever the time budget) and "initial_rows" (how the memory
    starts, for the kinds that have the choice; default: the library's).
    Returns {"ms_per_step" (median), "ms_min", "ms_max", "cpu_ms_per_step", "cpu_ms_min", "cpu_ms_max" (the
    process's CPU time, the same way), "peak_mib", "init_mib", "repeats", "threads", "memory_method"} (+
    "initial_rows" for the kinds whose memory has a start to choose).
    """
    threads = pin_threads()
    import torch

    import samviz

    kind, index = split_model_name(config["model"])
    batch, steps = int(config["batch"]), int(config["steps"])
    forced = max(0, int(config.get("min_repeats") or 0))   # timed runs required whatever the time budget
    max_repeats = max(max_repeats, forced)
    start = {"initial_rows": str(config["initial_rows"])} \
        if config.get("initial_rows") and "initial_rows" in spec(kind).core_options else {}
    rss_start = current_rss()
    model = samviz.build_model(kind, input_size=INPUT_SIZE, output_size=OUTPUT_SIZE,
                               memory_slots=int(config["slots"]), word_size=int(config["word_size"]),
                               heads=int(config["heads"]), k=int(config["k"]), controller_size=CONTROLLER_SIZE,
                               index=index or "exact", seed=0, **start)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (steps, batch, INPUT_SIZE), generator=generator).float()
    targets = torch.randint(0, 2, (steps, batch, OUTPUT_SIZE), generator=generator).float()

    def train_step(inputs, state):
        logits, _ = model.run(inputs, memory_state=state)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets[: inputs.shape[0]])
        loss.backward()

    state = model.core.initial_state(batch)
    init_bytes = current_rss() - rss_start
    train_step(x[:WARMUP_STEPS], state)          # warm-up: lazy initialisation, allocator, index code paths
    model.zero_grad(set_to_none=True)

    release(model.core, state)

    times, cpu_times, overheads, probe = [], [], [], PeakProbe()
    started = time.perf_counter()

    def more() -> bool:
        if len(times) >= max_repeats:
            return False
        if len(times) < forced or not times or time.perf_counter() - started < time_budget_s:
            return True
        return len(times) < MIN_REPEATS and statistics.median(times) < time_budget_s / MIN_REPEATS

    while more():
        del state
        state = model.core.initial_state(batch)   # the memory's own initialisation: neither timed nor counted
        trim_heap()
        baseline = current_rss()
        with probe:
            start, cpu_start = time.perf_counter(), time.process_time()
            train_step(x, state)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        release(model.core, state)
        model.zero_grad(set_to_none=True)
        times.append(elapsed)
        cpu_times.append(cpu)
        overheads.append(probe.peak - baseline)
    return {
        "ms_per_step": round(1000 * statistics.median(times) / steps, 4),
        "ms_min": round(1000 * min(times) / steps, 4),
        "ms_max": round(1000 * max(times) / steps, 4),
        # CPU time of this process over the same runs: on a machine shared with other work it leaves out the time
        # spent waiting for a core (one thread: on an idle machine it equals the wall time)
        "cpu_ms_per_step": round(1000 * statistics.median(cpu_times) / steps, 4),
        "cpu_ms_min": round(1000 * min(cpu_times) / steps, 4),
        "cpu_ms_max": round(1000 * max(cpu_times) / steps, 4),
        "peak_mib": round(max(overheads) / MIB, 3),
        "init_mib": round(init_bytes / MIB, 2),
        "repeats": len(times),
        "threads": threads,
        "memory_method": probe.method,
        # how the memory started (DAM, SAM, SDNC: today's default; rows measured before this key: jittered)
        **({"initial_rows": model.config.initial_rows} if "initial_rows" in spec(kind).core_options else {}),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(argv[0])
    try:
        result = measure(config, time_budget_s=float(config.get("time_budget_s", DEFAULT_TIME_BUDGET_S)))
        result["status"] = "ok"
    except MemoryError:
        result = {"status": "failed", "reason": "out of memory (MemoryError in the worker)"}
    except Exception as error:   # report, never crash silently: the runner turns this into a "failed" row
        result = {"status": "failed", "reason": f"{type(error).__name__}: {error}"[:500]}
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def exit_with_parent(parent_pid: int, every_s: float = PARENT_CHECK_S) -> threading.Thread:
    """A daemon thread that ends this process when `parent_pid` is no longer its parent (the runner died:
    the worker was re-parented), so a crashed or killed server never leaves a benchmark running."""
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        sys.stderr.write("samviz.bench.measure: the runner is gone; stopping\n")
        sys.stderr.flush()
        os._exit(70)
    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    for name, value in WORKER_ENV.items():   # threads must be pinned before torch loads
        os.environ.setdefault(name, value)
    if os.environ.get(PARENT_ENV, "").isdigit():
        exit_with_parent(int(os.environ[PARENT_ENV]))
    sys.exit(main())
