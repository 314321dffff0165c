"""Run benchmark configurations, one isolated worker process at a time, within a memory budget and a timeout.

Each configuration runs in a fresh ``python -m samviz.bench.measure`` process (a new interpreter, never a
fork: faiss can hang after fork). Before starting it, the runner ESTIMATES the worker's peak memory and
refuses configurations over the budget without allocating anything (status "refused"). While it runs, the
runner watches the worker's RSS with psutil and kills it above the budget (status "failed") or past the
timeout (status "timeout"). A worker killed by the OS, or one that raises, gives "failed" with the reason.
Whatever happens, the calling process (the Streamlit server or the CLI) carries on.

Only one benchmark runs at a time on a machine: `bench_lock` takes an exclusive, non-blocking file lock
(fcntl.flock) on a lock file in the temp directory; a second caller gets BenchmarkBusy. The kernel drops an
flock with the process that held it, so a crashed server cannot leave the lock behind.

Cancelling: while a worker runs, run_config calls `progress(seconds)` about every TICK_S seconds. Whatever
that callback raises (Streamlit's stop or rerun exception when the visitor leaves the page or presses Stop,
KeyboardInterrupt, BenchmarkCancelled) kills the worker's whole process group at once and propagates, so
the caller's `with bench_lock()` releases the lock on its way out. The worker also exits by itself when its
parent process dies (samviz.bench.measure watches it), so no worker outlives the server.

Rows (JSON-serialisable dicts), one per configuration:
    model, index, slots, batch, heads, k, word_size, steps, ms_per_step, peak_mib, status
    (+ reason, threads, repeats, machine, date, init_mib, estimate_mib, memory_method; initial_rows for DAM,
    SAM and SDNC, as the worker built them — rows from before this key started from "jittered" rows)
"""
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
import datetime
import fcntl
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

from samviz.kinds import is_sparse, spec
from samviz.paths import PACKAGE_DIR

from .cost import DENSE_LINK_COPIES_PER_STEP, DENSE_STEP_BYTES, dense_step_bytes  # noqa: F401
from .measure import MODEL_NAMES, PARENT_ENV, RESULT_PREFIX, WORKER_ENV, split_model_name

MIB = 1 << 20
GIB = 1 << 30
SCHEMA_KEYS = ("model", "index", "slots", "batch", "heads", "k", "word_size", "steps",
               "ms_per_step", "peak_mib", "status")
STATUSES = ("ok", "refused", "timeout", "failed", "skipped")   # skipped: not run, and why (samviz.results)
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_TIME_BUDGET_S = 3.0
MAX_BUDGET_BYTES = 8 * GIB
BUDGET_FRACTION_OF_AVAILABLE = 0.6
POLL_S = 0.02
TICK_S = 0.25                # progress(seconds) is called this often while a worker runs
LOCK_ENV = "SAMVIZ_BENCH_LOCK"
MAX_SLOTS = 1 << 24
MAX_STEPS = 100_000
# Bounds of every BenchConfig field (inclusive); the CLI parses its arguments against the same bounds.
LIMITS = {"slots": (2, MAX_SLOTS), "batch": (1, 4096), "heads": (1, 64), "k": (1, 1024), "word_size": (1, 4096),
          "steps": (1, MAX_STEPS)}

# ---------------------------------------------------------------------------------------------- estimates
# Resident memory of a worker after `import torch, samviz, faiss` and a tiny model (measured: ~250 MiB),
# with headroom.
WORKER_BASE_BYTES = 350 * MIB
# Training overhead of the dense cores per step (fitted, measured) and the DNC's link copies: samviz.bench.cost,
# the one place that counts what a step keeps for backward (the Compare page reads the same formulas).
# The sparse twin of a kind with links (the SDNC) keeps forward and backward sparse links: K_L = 8 float32
# values + int64 ids per row.
SPARSE_LINK_BYTES_PER_ROW = 2 * 8 * (4 + 8)
# Sparse cores: overhead independent of N, plus transients of an exact scan ([B, R, N] similarities and
# [B, N] row norms, several at a time).
SPARSE_OVERHEAD_BYTES = 64 * MIB
EXACT_SCAN_BYTES_PER_SLOT = 4 * 6       # × B × (R + 1)
SAFETY = 1.3                            # estimates are multiplied by this before comparing with the budget


@dataclass(frozen=True)
class BenchConfig:
    """One configuration. model is a bench model name (see MODEL_NAMES: "sam" means SAM with faiss)."""
    model: str
    slots: int
    batch: int = 8
    heads: int = 4
    k: int = 4
    word_size: int = 32
    steps: int = 10

    def validate(self) -> "BenchConfig":
        split_model_name(self.model)
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}] (got {value!r})")
        if is_sparse(self.kind) and self.k > self.slots:
            raise ValueError(f"k={self.k} cannot exceed slots={self.slots}")
        return self

    @property
    def kind(self) -> str:
        return split_model_name(self.model)[0]

    @property
    def index(self) -> str | None:
        return split_model_name(self.model)[1]

    def to_dict(self) -> dict:
        return asdict(self)


def expand(models: Iterable[str], slots: Iterable[int], **fields) -> list[BenchConfig]:
    """Every (slots, model) combination, ordered by N then model, validated."""
    return [BenchConfig(model=m, slots=n, **fields).validate() for n in slots for m in models]


def estimate_bytes(config: BenchConfig) -> dict:
    """Estimated resident bytes of a worker: {"base", "state", "overhead", "total"} (total includes SAFETY).

    state: the memory's own initialisation (not part of peak_mib); overhead: training over T steps.
    """
    b, n, w, r, t = config.batch, config.slots, config.word_size, config.heads, config.steps
    kind, index = config.kind, config.index
    memory = b * n * w * 4
    if not is_sparse(kind):
        state = memory + b * (r + 2) * n * 4
        overhead = t * b * dense_step_bytes(kind, n, w, r)
        if kind in DENSE_LINK_COPIES_PER_STEP:
            state += 2 * b * n * n * 4
    else:
        # buffer + sparse-gradient position map (int64) + least-recently-used tracker (int64 last access
        # and a 2N queue of slot and time entries)
        state = memory + b * n * (8 + 8 + 2 * 2 * 8)
        if index == "faiss":
            # the index keeps its own (normalised) copy of the rows, built from a normalised numpy copy,
            # plus ids and a direct map (int64 each) for IVF
            state += 2 * memory + b * n * 16
        if spec(kind).dense_twin in DENSE_LINK_COPIES_PER_STEP:
            state += b * n * SPARSE_LINK_BYTES_PER_ROW
        overhead = SPARSE_OVERHEAD_BYTES
        if index == "exact":
            overhead += b * n * (r + 1) * EXACT_SCAN_BYTES_PER_SLOT
    total = SAFETY * (WORKER_BASE_BYTES + state + overhead)
    return {"base": WORKER_BASE_BYTES, "state": int(state), "overhead": int(overhead), "total": int(total)}


def available_bytes() -> int:
    import psutil
    return int(psutil.virtual_memory().available)


def default_budget_bytes() -> int:
    """min(8 GiB, 60% of the RAM available now)."""
    return int(min(MAX_BUDGET_BYTES, BUDGET_FRACTION_OF_AVAILABLE * available_bytes()))


def refusal_reason(config: BenchConfig, budget_bytes: int) -> str | None:
    """Why a configuration is refused (memory estimate over the budget), or None when it may run."""
    estimate = estimate_bytes(config)
    if estimate["total"] <= budget_bytes:
        return None
    # every part of the total, so that the numbers add up (issue 25 item 10), and what a sparse state holds
    kept = ("; a sparse memory's state is its rows plus a position map and a least-recently-used tracker, "
            "48 bytes per slot" + (", and the faiss index's own normalised copy of the rows" if config.index == "faiss"
                                   else "") if is_sparse(config.kind) else "")
    return (f"estimated memory {estimate['total'] / GIB:.2f} GiB = {SAFETY:g} (margin) × (worker "
            f"{estimate['base'] / GIB:.2f} + memory state {estimate['state'] / GIB:.2f} + training overhead over "
            f"{config.steps} steps {estimate['overhead'] / GIB:.2f} GiB) exceeds the budget of "
            f"{budget_bytes / GIB:.2f} GiB{kept}; try fewer slots, steps or batch")


# ---------------------------------------------------------------------------------------------- machine
def machine_description() -> str:
    """e.g. "Linux x86_64, AMD EPYC 7B13, 2 CPUs, 23.4 GiB RAM, Python 3.11.2, torch 2.13.0, faiss 1.15.1"."""
    import psutil
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for package, label in (("torch", "torch"), ("faiss-cpu", "faiss")):
        try:
            from importlib.metadata import version
            versions.append(f"{label} {version(package)}")
        except Exception:
            pass
    ram = psutil.virtual_memory().total / GIB
    return ", ".join([f"{platform.system()} {platform.machine()}", cpu, f"{psutil.cpu_count()} CPUs",
                      f"{ram:.1f} GiB RAM", f"Python {platform.python_version()}", *versions])


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------------------------- the lock
class BenchmarkBusy(RuntimeError):
    """Another benchmark holds the lock."""


def lock_path() -> str:
    return os.environ.get(LOCK_ENV) or os.path.join(tempfile.gettempdir(), "samviz-bench.lock")


@contextmanager
def bench_lock(path: str | None = None, blocking: bool = False):
    """Hold the machine-wide benchmark lock; raises BenchmarkBusy when it is taken (unless `blocking`: wait)."""
    path = path or lock_path()
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BenchmarkBusy("another benchmark is running, try again in a moment") from None
        try:
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


# ---------------------------------------------------------------------------------------------- one worker
class BenchmarkCancelled(RuntimeError):
    """Raised by a progress callback (or by the caller) to stop a running benchmark."""


def _package_parent() -> str:
    """The directory that holds the samviz package (a source checkout's root, or site-packages)."""
    return str(PACKAGE_DIR.parent)


WORKER_OPTIONS = ("min_repeats", "initial_rows")   # extra worker settings a caller may pass (measure.measure)


def worker_command(config: BenchConfig, time_budget_s: float, options: dict | None = None) -> list[str]:
    unknown = set(options or {}) - set(WORKER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown worker option(s) {sorted(unknown)}; choose from {', '.join(WORKER_OPTIONS)}")
    payload = dict(config.to_dict(), time_budget_s=time_budget_s, **(options or {}))
    # -P: the working directory is not put on sys.path, so what the caller's cwd holds cannot shadow a module
    return [sys.executable, "-P", "-m", "samviz.bench.measure", json.dumps(payload)]


def worker_env() -> dict:
    """The caller's environment + WORKER_ENV, this process id (the worker exits if it dies) and, unless samviz
    is installed in site-packages, the directory that holds it on PYTHONPATH: the worker never depends on cwd."""
    import site
    env = dict(os.environ, **WORKER_ENV)
    env[PARENT_ENV] = str(os.getpid())
    parent = _package_parent()
    installed = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if os.path.realpath(parent) not in installed:
        env["PYTHONPATH"] = parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def base_row(config: BenchConfig) -> dict:
    return {"model": config.kind, "index": config.index, "slots": config.slots, "batch": config.batch,
            "heads": config.heads, "k": config.k, "word_size": config.word_size, "steps": config.steps,
            "ms_per_step": None, "peak_mib": None, "status": "failed"}


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)      # the worker runs in its own session: its group is its own
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def run_config(config: BenchConfig, timeout_s: float = DEFAULT_TIMEOUT_S, budget_bytes: int | None = None,
               time_budget_s: float = DEFAULT_TIME_BUDGET_S, machine: str | None = None,
               popen: Callable = subprocess.Popen, progress: Callable[[float], None] | None = None,
               options: dict | None = None) -> dict:
    """Measure one configuration in a fresh worker process -> one row (never raises for a bad run).

    options: WORKER_OPTIONS for the worker ({"min_repeats": 5, "initial_rows": "zero"}).

    progress(seconds_elapsed), when given, is called about every TICK_S s while the worker runs. An exception
    it raises stops the run: the worker's process group is killed before the exception propagates.
    """
    import psutil
    config.validate()
    budget_bytes = default_budget_bytes() if budget_bytes is None else int(budget_bytes)
    row = base_row(config)
    estimate = estimate_bytes(config)
    row.update(threads=1, estimate_mib=round(estimate["total"] / MIB, 1),
               machine=machine or machine_description(), date=_now())
    reason = refusal_reason(config, budget_bytes)
    if reason:
        row.update(status="refused", reason=reason)
        return row

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        command = worker_command(config, time_budget_s, options) if options else worker_command(config, time_budget_s)
        process = popen(command, stdout=out, stderr=err, env=worker_env(),
                        start_new_session=True)
        killed_for = None
        try:
            watched = psutil.Process(process.pid)
            next_tick = start + TICK_S
            while process.poll() is None:
                now = time.monotonic()
                if now - start > timeout_s:
                    killed_for = ("timeout", f"ran past the timeout of {timeout_s:g} s; the worker was stopped")
                    break
                try:
                    rss = watched.memory_info().rss
                except psutil.Error:
                    rss = 0
                if rss > budget_bytes:
                    killed_for = ("failed", f"memory {rss / GIB:.2f} GiB exceeded the budget of "
                                            f"{budget_bytes / GIB:.2f} GiB; the worker was stopped")
                    break
                if progress is not None and now >= next_tick:
                    next_tick = now + TICK_S
                    progress(now - start)          # may raise: cancels this run (see the finally below)
                time.sleep(POLL_S)
        finally:
            if process.poll() is None:
                _kill(process)          # also when the caller is interrupted (a Streamlit rerun, Ctrl-C, cancel)
        row["seconds"] = round(time.monotonic() - start, 2)
        if killed_for:
            row.update(status=killed_for[0], reason=killed_for[1])
            return row
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")

    result = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
    if result is None:
        code = process.returncode
        if code is not None and code < 0:
            why = f"the worker was killed by signal {-code}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
        else:
            tail = stderr.strip().splitlines()[-1:] or ["no output"]
            why = f"the worker exited with code {code}: {tail[0][:300]}"
        row.update(status="failed", reason=why)
        return row
    row.update(result)
    if row["status"] != "ok":
        row["ms_per_step"] = row["peak_mib"] = None
    return row


def run_configs(configs: Iterable[BenchConfig], timeout_s: float = DEFAULT_TIMEOUT_S,
                budget_bytes: int | None = None, time_budget_s: float = DEFAULT_TIME_BUDGET_S,
                lock: bool | str = True, progress: Callable[[BenchConfig, float], None] | None = None
                ) -> Iterator[dict]:
    """Run configurations one after the other, yielding one row as each finishes.

    lock: True takes the machine-wide lock (raises BenchmarkBusy on the first next() when it is taken),
    a string is a lock file path, False runs without it (the caller holds it).
    progress(config, seconds): called about every TICK_S s while a worker runs; what it raises stops the
    worker and propagates (the lock is released on the way out). Closing the generator between rows
    releases the lock too.
    """
    configs = [c.validate() for c in configs]
    machine = machine_description()

    def rows() -> Iterator[dict]:
        for config in configs:
            tick = None if progress is None else (lambda seconds, config=config: progress(config, seconds))
            yield run_config(config, timeout_s, budget_bytes, time_budget_s, machine, progress=tick)

    if lock:
        with bench_lock(lock if isinstance(lock, str) else None):
            yield from rows()
    else:
        yield from rows()


def ordered_row(row: dict) -> dict:
    """The schema keys first, then the optional ones (stable JSON output)."""
    return {**{key: row.get(key) for key in SCHEMA_KEYS}, **{k: v for k, v in row.items() if k not in SCHEMA_KEYS}}


def read_rows(path: str) -> list[dict]:
    """Rows of a JSON-lines results file (blank lines skipped)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


__all__ = ["BenchConfig", "BenchmarkBusy", "BenchmarkCancelled", "LIMITS", "MODEL_NAMES", "SCHEMA_KEYS", "STATUSES",
           "bench_lock", "default_budget_bytes", "estimate_bytes", "expand", "machine_description", "read_rows",
           "refusal_reason", "run_config", "run_configs", "ordered_row"]
