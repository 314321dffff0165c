"""The disk cache of the HNSW over a memory's jittered initial rows (InitialRows in index_parts.py).

    loaded = index_cache.load_or_build(rows, vectors, faiss)     # -> Loaded(index, outcome, build_seconds, ...)
    with index_cache.watched(tick): ...                           # builds in that block run in a killable worker

Building the structure takes minutes at 2^20 slots on a small machine, so from index_parts.DISK_CACHE_FROM slots
it is kept on disk ($SAMVIZ_INDEX_CACHE, default ~/.cache/samviz/index; "off" disables it) and read back by later
processes. Each entry is two files:

    initial-hnsw-<N>x<W>-<dtype>-M<M>-efc<ef>-<rows digest>.faiss   the faiss index (faiss.write_index)
    initial-hnsw-<N>x<W>-<dtype>-M<M>-efc<ef>-<rows digest>.json    what it was built from: sizes, index type,
                                                                    metric, M, efConstruction, the start and its
                                                                    seed, how rows became vectors, the SHA-256 of
                                                                    the initial rows and the faiss file's size and
                                                                    SHA-256

Nothing is trusted by its name. A read checks, cheapest first: the description matches what this process would
build; the faiss file has the recorded size and digest; faiss reads it as an IndexHNSWFlat of N vectors of W with
inner-product metric and M links per upper-layer node; and the vectors it stores are exactly the ones this
process computed from its rows (a graph built over other data fails here even beside a forged description).
Anything else is deleted and rebuilt, and `Loaded.outcome` says which happened ("read", "built", "rebuilt" with
its reason), so what the app says about the cache is true.

Writes go to temporary files in the cache directory (".<name>.<pid>.<token>.tmp"), published by rename, index
first and description last (a reader that sees a description finds its index); a failure at any step (a full
disk, a directory where the file should be, an interrupt) removes them, and temporary files left by a process
that no longer exists (SIGKILL) are removed by the next process that uses the cache, and so are index files
without a description (the entries written before descriptions existed).

Cancelling: inside `watched(tick)`, a build that is not in the cache runs in a worker process
(`python -P -m samviz.memory.index_cache SPEC`, a fresh interpreter: faiss can hang after fork), which recomputes
the rows from the start's seed, builds, and writes the temporary files; the caller polls it and calls tick(seconds)
about every TICK_S. Whatever tick raises (Streamlit's stop when the visitor who started the build leaves the page)
kills the worker's process group, removes its files and propagates — the mechanism samviz.bench.runner uses for
the Scaling lab's benchmarks. The worker also exits when its parent dies. Outside `watched`, builds run in the
calling process, as a library call should.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import contextvars
from dataclasses import dataclass
import hashlib
import json
import os
from pathlib import Path
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

from . import index_parts
from .initial import INITIAL_MEMORY_JITTER, INITIAL_MEMORY_VALUE, JITTER_SEED, jittered_memory

FORMAT = 1
NAME_PREFIX = "initial-hnsw-"
INDEX_TYPE = "IndexHNSWFlat"
METRIC = "inner_product"
# how InitialRows turns rows into the vectors it indexes (tangent_vectors); a change here must change this text
VECTORS = "unit rows minus their mean, scaled to unit root-mean-square norm, float32"
MAX_DESCRIPTION_BYTES = 64 * 1024
DIGEST_CHARS = 16            # of the rows' SHA-256 in the file name
TICK_S = 0.25                # how often tick(seconds) is called while a worker builds
POLL_S = 0.02
PARENT_CHECK_S = 0.5         # how often a worker checks that its parent is alive
WORKER_TIMEOUT_S = 3600.0


class CacheMismatch(ValueError):
    """A cache entry that is not the structure asked for; the message says how it differs."""


@dataclass
class Loaded:
    index: object                 # the faiss IndexHNSWFlat
    outcome: str                  # "read" (from the disk cache, verified), "built", or "rebuilt" (the entry was bad)
    build_seconds: float = 0.0    # time spent building (0 for a read)
    reason: str | None = None     # why an entry was rebuilt
    stored: bool = False          # whether the structure is now in the disk cache


# ------------------------------------------------------------------------------------------ the structure

def tangent_vectors(rows: torch.Tensor) -> tuple[torch.Tensor, float, np.ndarray]:
    """rows [N, W] -> (mean unit row [W] float64, scale, vectors [N, W] float32): what InitialRows indexes (its
    docstring says why: the unit rows lie in a narrow cone around their mean)."""
    unit = rows.to(torch.float64)
    unit = unit / torch.linalg.vector_norm(unit, dim=-1, keepdim=True)
    mean = unit.mean(0)
    tangent = unit - mean
    scale = float(torch.sqrt((tangent ** 2).sum(-1).mean())) or 1.0
    return mean, scale, np.ascontiguousarray((tangent / scale).to(torch.float32).numpy())


def build_hnsw(vectors: np.ndarray, faiss):
    """The HNSW (inner product, M = index_parts.HNSW_M, efConstruction = index_parts.HNSW_EF_CONSTRUCTION) over
    `vectors`. A one-off build (then cached): it uses every core even where searches are pinned to one thread
    (benchmark workers, OMP_NUM_THREADS=1) — 2^20 × 32 rows take ~70 s on 2 cores, twice that on one."""
    index = faiss.IndexHNSWFlat(vectors.shape[1], index_parts.HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = index_parts.HNSW_EF_CONSTRUCTION
    pinned = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(pinned, index_parts._cores()))
    try:
        index.add(vectors)
    finally:
        faiss.omp_set_num_threads(pinned)
    return index


def rows_digest(rows: torch.Tensor) -> str:
    return hashlib.sha256(rows.contiguous().numpy().tobytes()).hexdigest()


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def description(slots: int, width: int, dtype: str, rows_sha256: str) -> dict:
    """What an entry for these rows must say it was built from (the file's size and digest are added on write)."""
    return {"format": FORMAT, "index_type": INDEX_TYPE, "metric": METRIC, "M": index_parts.HNSW_M,
            "ef_construction": index_parts.HNSW_EF_CONSTRUCTION, "slots": slots, "width": width, "dtype": dtype,
            "start": "jittered", "seed": JITTER_SEED, "value": INITIAL_MEMORY_VALUE, "jitter": INITIAL_MEMORY_JITTER,
            "vectors": VECTORS, "rows_sha256": rows_sha256}


# ------------------------------------------------------------------------------------------ the files

def cache_dir() -> Path | None:
    return index_parts._cache_dir()


def size_prefix(slots: int, width: int, dtype: str) -> str:
    return (f"{NAME_PREFIX}{slots}x{width}-{dtype}-M{index_parts.HNSW_M}-efc{index_parts.HNSW_EF_CONSTRUCTION}-")


def entry_paths(directory: Path, slots: int, width: int, dtype: str, rows_sha256: str) -> tuple[Path, Path]:
    """(index file, description file) of the entry for these rows in `directory`."""
    stem = size_prefix(slots, width, dtype) + rows_sha256[:DIGEST_CHARS]
    return directory / f"{stem}.faiss", directory / f"{stem}.json"


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a file, read in 8 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def temporary_path(final: Path) -> Path:
    return final.parent / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _unlink(*paths: Path | None) -> None:
    for path in paths:
        if path is None:
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            pass                 # not ours to remove
        except OSError:
            pass


def sweep_temporaries(directory: Path) -> list[Path]:
    """Remove the temporary files of processes that no longer exist (a write cut short by SIGKILL) -> removed."""
    removed = []
    try:
        candidates = list(directory.glob(f".{NAME_PREFIX}*.tmp"))
    except OSError:
        return removed
    for path in candidates:
        parts = path.name.rsplit(".", 3)          # [".<name>", "<pid>", "<token>", "tmp"]
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue                               # alive: its write may be under way
        except ProcessLookupError:
            pass
        except PermissionError:
            continue                               # alive, another user's
        _unlink(path)
        removed.append(path)
    return removed


def sweep_orphans(directory: Path, slots: int, width: int, dtype: str, keep: Path) -> list[Path]:
    """Remove the index files of this size that have no description beside them (but `keep`): entries written
    before descriptions existed (their names carry a crc32), or an index whose description failed to publish."""
    removed = []
    try:
        candidates = list(directory.glob(size_prefix(slots, width, dtype) + "*.faiss"))
    except OSError:
        return removed
    for path in candidates:
        if path != keep and path.is_file() and not path.with_suffix(".json").exists():
            _unlink(path)
            removed.append(path)
    return removed


def read_description(path: Path) -> dict:
    """An entry's description file; CacheMismatch when it is missing, too large or not a JSON object."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DESCRIPTION_BYTES + 1)
    except FileNotFoundError:
        raise CacheMismatch("no description beside the index file") from None
    except OSError as error:
        raise CacheMismatch(f"its description cannot be read ({error.strerror or error})") from None
    if len(data) > MAX_DESCRIPTION_BYTES:
        raise CacheMismatch("its description is too large")
    try:
        described = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CacheMismatch("its description is not valid JSON") from None
    if not isinstance(described, dict):
        raise CacheMismatch("its description is not a JSON object")
    return described


def verify(index_path: Path, description_path: Path, expected: dict, vectors: np.ndarray, faiss):
    """The faiss index in `index_path` when it is exactly the structure `expected` describes over `vectors`;
    CacheMismatch saying how it differs otherwise (the module docstring lists the checks)."""
    described = read_description(description_path)
    for key, value in expected.items():
        if described.get(key) != value:
            raise CacheMismatch(f"built from other settings ({key}: {str(described.get(key))[:80]!r}, "
                                f"expected {str(value)[:80]!r})")
    if not index_path.is_file():
        raise CacheMismatch("no index file beside its description")
    size, digest = file_digest(index_path)
    if size != described.get("file_bytes") or digest != described.get("file_sha256"):
        raise CacheMismatch(f"the index file is not the one described ({size:,} bytes, SHA-256 {digest[:12]}…; "
                            f"described: {described.get('file_bytes')} bytes, "
                            f"{str(described.get('file_sha256'))[:12]}…)")
    try:
        index = faiss.read_index(str(index_path))         # already its own class (IndexHNSWFlat, IndexFlatIP, ...)
    except (RuntimeError, MemoryError) as error:
        raise CacheMismatch(f"faiss cannot read the index file ({str(error).splitlines()[0][:120]})") from None
    slots, width = vectors.shape
    if not isinstance(index, faiss.IndexHNSWFlat):
        raise CacheMismatch(f"the index file holds a {type(index).__name__}, not an {INDEX_TYPE}")
    if index.ntotal != slots or index.d != width or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise CacheMismatch(f"the index holds {index.ntotal} vectors of {index.d} (metric {index.metric_type}), "
                            f"not {slots} of {width} with inner product")
    if index.hnsw.nb_neighbors(1) != index_parts.HNSW_M:
        raise CacheMismatch(f"the graph has {index.hnsw.nb_neighbors(1)} links per node, not M = {index_parts.HNSW_M}")
    storage = faiss.downcast_index(index.storage)
    stored = faiss.rev_swig_ptr(storage.get_xb(), slots * width) if slots else np.empty(0, np.float32)
    if not np.array_equal(np.asarray(stored).reshape(slots, width), vectors):
        raise CacheMismatch("the index was built over other vectors than these initial rows'")
    return index


def write_entry(index, index_path: Path, description_path: Path, expected: dict, faiss,
                build_seconds: float | None = None) -> None:
    """Write `index` and its description to their temporary files, then publish both by rename (index first).
    On any failure (OSError, faiss' RuntimeError, an interrupt) nothing of this write is left and the error
    propagates."""
    temporary_index, temporary_description = temporary_path(index_path), temporary_path(description_path)
    published = False
    try:
        faiss.write_index(index, str(temporary_index))
        write_description(temporary_index, temporary_description, expected, build_seconds)
        os.replace(temporary_index, index_path)
        published = True
        os.replace(temporary_description, description_path)
    except BaseException:
        if published:
            _unlink(index_path)      # an index without its description would be rebuilt anyway: drop it now
        raise
    finally:
        _unlink(temporary_index, temporary_description)


def write_description(index_file: Path, description_path: Path, expected: dict,
                      build_seconds: float | None = None) -> None:
    """The description of the index in `index_file` (its size and digest added) -> `description_path`."""
    import faiss
    size, digest = file_digest(index_file)
    described = {**expected, "file_bytes": size, "file_sha256": digest, "faiss_version": faiss.__version__,
                 "build_seconds": None if build_seconds is None else round(build_seconds, 2)}
    with open(description_path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(described, indent=1) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def discard(index_path: Path, description_path: Path) -> None:
    """Remove an entry that failed verification (a later write replaces it)."""
    _unlink(description_path, index_path)


def status(slots: int, width: int, dtype: str = "float32") -> str | None:
    """"on disk" when the cache holds an entry for this size whose description says it is the structure this
    process would build and whose index file has the described size (the digests are checked when it is read);
    None otherwise. Cheap: no rows are computed and no index file is read."""
    directory = cache_dir()
    if directory is None or slots < index_parts.DISK_CACHE_FROM:
        return None
    try:
        descriptions = sorted(directory.glob(size_prefix(slots, width, dtype) + "*.json"))
    except OSError:
        return None
    for path in descriptions:
        try:
            described = read_description(path)
        except CacheMismatch:
            continue
        wanted = description(slots, width, dtype, str(described.get("rows_sha256")))
        if any(described.get(key) != value for key, value in wanted.items()):
            continue
        try:
            if path.with_suffix(".faiss").stat().st_size == described.get("file_bytes"):
                return "on disk"
        except OSError:
            continue
    return None


# ------------------------------------------------------------------------------------------ cancelling

_TICK: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar("samviz_index_tick",
                                                                                      default=None)


@contextlib.contextmanager
def watched(tick: Callable[[float], None] | None) -> Iterator[None]:
    """Builds inside this block run in a worker process, and tick(seconds) is called about every TICK_S while
    one runs; what tick raises kills the worker and propagates. tick None: builds run in this process."""
    token = _TICK.set(tick)
    try:
        yield
    finally:
        _TICK.reset(token)


def _package_parent() -> str:
    return str(Path(__file__).resolve().parent.parent.parent)


def _worker_env() -> dict:
    env = dict(os.environ, SAMVIZ_INDEX_PARENT=str(os.getpid()))
    parent = _package_parent()
    env["PYTHONPATH"] = parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)      # the worker runs in its own session: its group is its own
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def build_in_worker(spec: dict, tick: Callable[[float], None]) -> tuple[float, str | None]:
    """Run the worker on `spec` (its "index" and "description" paths are temporary files the caller removes),
    calling tick(seconds) about every TICK_S -> (seconds, None) when it wrote both files, (seconds, reason)
    when it failed. What tick raises kills the worker and propagates."""
    command = [sys.executable, "-P", "-m", "samviz.memory.index_cache", json.dumps(spec)]
    with tempfile.TemporaryFile() as errors:
        start = time.monotonic()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                   env=_worker_env(), start_new_session=True)
        try:
            next_tick = start + TICK_S
            while process.poll() is None:
                now = time.monotonic()
                if now - start > WORKER_TIMEOUT_S:
                    return now - start, f"the build worker ran past {WORKER_TIMEOUT_S:g} s"
                if now >= next_tick:
                    next_tick = now + TICK_S
                    tick(now - start)             # may raise: the finally below kills the worker
                time.sleep(POLL_S)
        finally:
            if process.poll() is None:
                _kill(process)
        seconds = time.monotonic() - start
        if process.returncode == 0:
            return seconds, None
        errors.seek(0)
        tail = errors.read().decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return seconds, f"the build worker exited with code {process.returncode}: {tail[0][:200]}"


def _watch_parent() -> None:
    """Exit this worker when the process that started it is gone (it can no longer use the result)."""
    parent = int(os.environ.get("SAMVIZ_INDEX_PARENT", "0") or 0)
    if parent <= 0:
        return

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def worker_main(spec: dict) -> int:
    """The worker: recompute the jittered rows from the start's seed, check their digest, build, write the index
    and its description to the temporary paths of `spec`."""
    import faiss
    _watch_parent()
    dtype = getattr(torch, spec["dtype"])
    rows = jittered_memory(1, int(spec["slots"]), int(spec["width"]), dtype)[0].contiguous()
    digest = rows_digest(rows)
    if digest != spec["rows_sha256"]:
        print(f"these are not the jittered rows of seed {JITTER_SEED}: {digest[:12]}…", file=sys.stderr)
        return 2
    _, _, vectors = tangent_vectors(rows)
    start = time.perf_counter()
    index = build_hnsw(vectors, faiss)
    seconds = time.perf_counter() - start
    expected = description(int(spec["slots"]), int(spec["width"]), spec["dtype"], digest)
    faiss.write_index(index, spec["index"])
    write_description(Path(spec["index"]), Path(spec["description"]), expected, seconds)
    return 0


# ------------------------------------------------------------------------------------------ the one call

def load_or_build(rows: torch.Tensor, vectors: np.ndarray, faiss) -> Loaded:
    """The HNSW over `vectors` (tangent_vectors(rows)): read back from the disk cache when a verified entry is
    there, else built (in a worker inside `watched`, else here) and stored when the cache is on and the size is
    at least index_parts.DISK_CACHE_FROM slots. Never raises for a cache problem (a read-only or full disk: the
    structure is still returned, stored=False); what a `watched` tick raises propagates."""
    slots, width = vectors.shape
    directory = cache_dir() if slots >= index_parts.DISK_CACHE_FROM else None
    if directory is None:
        start = time.perf_counter()
        index = build_hnsw(vectors, faiss)
        return Loaded(index, "built", time.perf_counter() - start)
    dtype = dtype_name(rows.dtype)
    digest = rows_digest(rows)
    expected = description(slots, width, dtype, digest)
    index_path, description_path = entry_paths(directory, slots, width, dtype, digest)
    sweep_temporaries(directory)
    sweep_orphans(directory, slots, width, dtype, keep=index_path)
    reason = None
    if index_path.exists() or description_path.exists():
        try:
            return Loaded(verify(index_path, description_path, expected, vectors, faiss), "read")
        except CacheMismatch as mismatch:
            reason = str(mismatch)
            discard(index_path, description_path)
    outcome = "built" if reason is None else "rebuilt"
    tick = _TICK.get()
    if tick is not None and dtype in ("float32", "float64"):
        built = _build_watched(directory, index_path, description_path, expected, vectors, faiss, tick)
        if built is not None:
            index, seconds, stored = built
            return Loaded(index, outcome, seconds, reason, stored)
    start = time.perf_counter()
    index = build_hnsw(vectors, faiss)
    seconds = time.perf_counter() - start
    stored = True
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_entry(index, index_path, description_path, expected, faiss, seconds)
    except (OSError, RuntimeError):
        stored = False                              # a read-only home or a full disk: the in-process copy remains
    return Loaded(index, outcome, seconds, reason, stored)


def _build_watched(directory: Path, index_path: Path, description_path: Path, expected: dict,
                   vectors: np.ndarray, faiss, tick) -> tuple[object, float, bool] | None:
    """Build in a worker into temporary files (in the cache directory, or a private temporary directory when the
    cache directory cannot be written), verify them, publish them -> (index, seconds, stored); None when the
    worker failed (the caller builds in this process)."""
    private = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{NAME_PREFIX}probe.{os.getpid()}.",
                                         suffix=".tmp"):
            pass
        place = directory
    except OSError:
        private = Path(tempfile.mkdtemp(prefix="samviz-index-"))
        place = private
    temporary_index = temporary_path(place / index_path.name)
    temporary_description = temporary_path(place / description_path.name)
    try:
        spec = {"slots": int(expected["slots"]), "width": int(expected["width"]), "dtype": expected["dtype"],
                "rows_sha256": expected["rows_sha256"], "index": str(temporary_index),
                "description": str(temporary_description)}
        seconds, failure = build_in_worker(spec, tick)
        if failure is not None:
            return None
        try:
            index = verify(temporary_index, temporary_description, expected, vectors, faiss)
        except CacheMismatch:
            return None
        stored = False
        if private is None:
            try:
                os.replace(temporary_index, index_path)
                try:
                    os.replace(temporary_description, description_path)
                    stored = True
                except OSError:
                    _unlink(index_path)
            except OSError:
                pass
        return index, seconds, stored
    finally:
        _unlink(temporary_index, temporary_description)
        if private is not None:
            with contextlib.suppress(OSError):
                private.rmdir()


if __name__ == "__main__":
    sys.exit(worker_main(json.loads(sys.argv[1])))
