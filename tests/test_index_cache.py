"""The disk cache of the initial rows' HNSW (samviz/memory/index_cache.py; issue 29, items 6, 7 and 9): an entry is
used only when it is verified to be the structure asked for, anything else is rebuilt and said to be, no
temporary file outlives a failed write, and a build in a worker stops when its caller says so."""
import errno
import json
import os
from pathlib import Path
import time

import numpy as np
import psutil
import pytest
import torch

from samviz.memory import index_cache, index_parts
from samviz.memory.initial import jittered_memory

faiss = pytest.importorskip("faiss")
SLOTS, WIDTH = 2048, 8


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty disk cache, used from SLOTS up."""
    monkeypatch.setenv(index_parts.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(index_parts, "DISK_CACHE_FROM", 1024)
    return tmp_path


def rows(slots=SLOTS, width=WIDTH) -> torch.Tensor:
    return jittered_memory(1, slots, width)[0].contiguous()


def structure(slots=SLOTS, width=WIDTH) -> index_parts.InitialRows:
    return index_parts.InitialRows("jittered", rows(slots, width), faiss)


def entry(cache: Path) -> tuple[Path, Path]:
    (index_file,) = cache.glob("initial-hnsw-*.faiss")
    return index_file, index_file.with_suffix(".json")


def exact_neighbours(initial: index_parts.InitialRows, queries: torch.Tensor, k: int) -> torch.Tensor:
    unit = torch.nn.functional.normalize(initial.rows.to(torch.float32), dim=-1)
    return torch.topk(queries @ unit.T, k, dim=-1).indices


def queries(count=16, width=WIDTH) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(count, width, generator=torch.Generator().manual_seed(3)), dim=-1)


def recall(initial: index_parts.InitialRows) -> float:
    q = queries()
    found = initial.search(q, 4)[1]
    exact = exact_neighbours(initial, q, 4)
    return sum(len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact, strict=True)) / exact.numel()


def no_temporaries(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------ read back, verified

def test_a_built_structure_is_stored_with_what_it_was_built_from_and_read_back(cache):
    first = structure()
    assert first.disk_cache.outcome == "built" and first.disk_cache.stored and not first.from_disk
    index_file, description = entry(cache)
    described = json.loads(description.read_text())
    assert described["slots"] == SLOTS and described["width"] == WIDTH and described["dtype"] == "float32"
    assert described["index_type"] == "IndexHNSWFlat" and described["metric"] == "inner_product"
    assert described["M"] == index_parts.HNSW_M and described["ef_construction"] == index_parts.HNSW_EF_CONSTRUCTION
    assert described["start"] == "jittered" and described["seed"] == 0
    assert described["rows_sha256"] == index_cache.rows_digest(first.rows)
    assert (described["file_bytes"], described["file_sha256"]) == index_cache.file_digest(index_file)
    second = structure()
    assert second.disk_cache.outcome == "read" and second.from_disk and second.build_seconds == 0
    q = queries()
    assert torch.equal(first.search(q, 4)[1], second.search(q, 4)[1])
    assert index_cache.status(SLOTS, WIDTH) == "on disk" and no_temporaries(cache)


# ------------------------------------------------------------------------------------------ poisoned entries (6)

def write_flat_ip_over(index_file: Path) -> None:
    """The issue's poison: a valid faiss file of another type, of the same number of vectors and width."""
    flat = faiss.IndexFlatIP(WIDTH)
    flat.add(np.random.default_rng(0).random((SLOTS, WIDTH), dtype=np.float32))
    faiss.write_index(flat, str(index_file))


def forge_description(description: Path, index_file: Path) -> None:
    """Rewrite the description so that its size and digest match whatever is in the index file now."""
    described = json.loads(description.read_text())
    described["file_bytes"], described["file_sha256"] = index_cache.file_digest(index_file)
    description.write_text(json.dumps(described))


@pytest.mark.parametrize("forged", [False, True])
def test_a_faiss_file_of_another_type_is_discarded_and_rebuilt(cache, forged):
    """Before: the IndexFlatIP passed the size check, then every visit failed on .hnsw (AttributeError)."""
    structure()
    index_file, description = entry(cache)
    write_flat_ip_over(index_file)
    if forged:
        forge_description(description, index_file)
    rebuilt = structure()
    assert rebuilt.disk_cache.outcome == "rebuilt" and not rebuilt.from_disk
    assert ("IndexFlatIP" if forged else "not the one described") in rebuilt.disk_cache.reason
    assert isinstance(rebuilt.hnsw, faiss.IndexHNSWFlat) and recall(rebuilt) > 0.9
    assert structure().disk_cache.outcome == "read"          # the rebuilt entry replaced the poisoned one


def test_an_hnsw_built_over_other_data_is_discarded_even_with_a_matching_description(cache):
    """Before: used silently, with wrong neighbours (logits 3.1e-6 from exact instead of 7.5e-9)."""
    structure()
    index_file, description = entry(cache)
    other = index_cache.build_hnsw(np.ascontiguousarray(np.random.default_rng(1).standard_normal(
        (SLOTS, WIDTH)).astype(np.float32)), faiss)
    faiss.write_index(other, str(index_file))
    forge_description(description, index_file)
    assert index_cache.status(SLOTS, WIDTH) == "on disk"      # it looks right from the outside
    rebuilt = structure()
    assert rebuilt.disk_cache.outcome == "rebuilt" and "other vectors" in rebuilt.disk_cache.reason
    assert recall(rebuilt) > 0.9


@pytest.mark.parametrize("damage", ["truncate", "no description", "nested description", "other settings",
                                    "description of a list", "empty index"])
def test_any_other_damage_is_rebuilt(cache, damage):
    structure()
    index_file, description = entry(cache)
    if damage == "truncate":
        index_file.write_bytes(index_file.read_bytes()[:1000])
    elif damage == "no description":
        description.unlink()
    elif damage == "nested description":
        description.write_text("[" * 100_000)
    elif damage == "other settings":
        described = json.loads(description.read_text())
        described["M"] = 32
        description.write_text(json.dumps(described))
    elif damage == "description of a list":
        description.write_text("[1, 2]")
    else:
        index_file.write_bytes(b"")
    assert index_cache.status(SLOTS, WIDTH) is None           # the app does not promise a read back (item 7)
    rebuilt = structure()
    assert rebuilt.disk_cache.outcome == "rebuilt" and rebuilt.disk_cache.reason
    assert recall(rebuilt) > 0.9 and structure().disk_cache.outcome == "read"


def test_the_page_status_promises_a_read_only_for_an_entry_that_describes_itself(cache):
    assert index_cache.status(SLOTS, WIDTH) is None
    stem = index_cache.size_prefix(SLOTS, WIDTH, "float32") + "0" * 16
    (cache / f"{stem}.faiss").write_bytes(b"")                    # a matching name was enough before
    assert index_cache.status(SLOTS, WIDTH) is None
    structure()
    assert index_cache.status(SLOTS, WIDTH) == "on disk"
    assert index_cache.status(SLOTS, WIDTH + 1) is None and index_cache.status(SLOTS * 2, WIDTH) is None


# ------------------------------------------------------------------------------------------ temporary files (9)

def test_no_temporary_file_is_left_when_the_destination_is_a_directory(cache):
    """The issue's case: a directory where the cache file should be left a 7.3 MB .tmp beside it."""
    digest = index_cache.rows_digest(rows())
    index_file, _ = index_cache.entry_paths(cache, SLOTS, WIDTH, "float32", digest)
    index_file.mkdir()
    built = structure()
    assert built.disk_cache.outcome == "rebuilt" and not built.disk_cache.stored and recall(built) > 0.9
    assert no_temporaries(cache) and index_file.is_dir() and not index_file.with_suffix(".json").exists()


@pytest.mark.parametrize("failing", ["write_index", "description"])
def test_no_temporary_file_is_left_when_the_disk_is_full(cache, monkeypatch, failing):
    if failing == "write_index":
        def full(index, path):
            Path(path).write_bytes(b"\0" * 4096)           # part of the file made it to disk
            raise RuntimeError("Error: 'ret == (n)' failed: write error in <file>: 4096 != 16384 (No space left)")
        monkeypatch.setattr(faiss, "write_index", full)
    else:
        def full(index_file, path, expected, seconds=None):
            Path(path).write_text("{")
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(index_cache, "write_description", full)
    built = structure()
    assert built.disk_cache.outcome == "built" and not built.disk_cache.stored and recall(built) > 0.9
    assert list(cache.iterdir()) == []                    # nothing: no temporary file, no index without description


def test_temporary_files_of_a_dead_process_are_swept(cache):
    dead = psutil.Popen(["true"])
    dead.wait()
    stale = cache / f".initial-hnsw-{SLOTS}x{WIDTH}-float32-M16-efc80-x.faiss.{dead.pid}.abcd1234.tmp"
    stale.write_bytes(b"\0" * 1000)
    alive = cache / f".initial-hnsw-{SLOTS}x{WIDTH}-float32-M16-efc80-x.faiss.{os.getppid()}.abcd1234.tmp"
    alive.write_bytes(b"\0")
    structure()
    assert not stale.exists() and alive.exists()


def test_an_index_file_without_a_description_is_removed(cache):
    """Entries of the cache's first format (a crc32 in the name, no description) would stay on disk for ever."""
    old = cache / (index_cache.size_prefix(SLOTS, WIDTH, "float32") + "0123abcd.faiss")
    old.write_bytes(b"\0" * 1000)
    other_size = cache / (index_cache.size_prefix(SLOTS * 2, WIDTH, "float32") + "0123abcd.faiss")
    other_size.write_bytes(b"\0")
    structure()
    assert not old.exists() and other_size.exists() and len(list(cache.glob("*.json"))) == 1


# ------------------------------------------------------------------------------------------ the worker (item 8)

def test_a_watched_build_runs_in_a_worker_and_is_verified(cache):
    ticks = []
    with index_cache.watched(ticks.append):
        built = structure()
    assert built.disk_cache.outcome == "built" and built.disk_cache.stored and recall(built) > 0.9
    assert ticks and ticks == sorted(ticks)
    assert structure().disk_cache.outcome == "read" and no_temporaries(cache)


def test_what_a_tick_raises_kills_the_worker_and_leaves_nothing(cache):
    """A large build (2^17 rows: tens of seconds on 2 cores) stopped one second in: the worker is gone at once,
    nothing is written, and the caller sees the exception."""
    workers = []

    class Left(Exception):
        pass

    def tick(seconds: float) -> None:
        workers.extend(c for c in psutil.Process().children() if c not in workers)
        if seconds > 1.0:
            raise Left

    started = time.monotonic()
    with pytest.raises(Left), index_cache.watched(tick):
        structure(1 << 17, 20)
    assert time.monotonic() - started < 5
    assert workers and not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    assert list(cache.iterdir()) == []


# ------------------------------------------------------------------------------------------ what the app says (7)

RECORD = """
import sys
from samviz.memory import index_parts
index_parts.DISK_CACHE_FROM = 4096
from samviz.app import loaders
assert loaders.load_model("sdnc", "copy", "faiss", 16384)[0].config.initial_rows == "jittered"
print(loaders.record_trace("sdnc", "copy", 2, 0, None, "faiss", 16384).meta["app"]["index_structure"])
"""


@pytest.mark.slow
def test_the_player_records_what_the_run_did_with_the_cache(cache):
    """The player's sentence ("read back from this server's disk cache", "building", "rebuilding") comes from
    trace.meta["app"]["index_structure"], which loaders sets from what the run did, not from a file's name.
    Before: "read back" whenever a file of a matching name existed, while a truncated one was rebuilt for 25 s.
    Each recording is a fresh server process (nothing resident) on a 16,384-slot SDNC (a large memory for the
    player; the shipped sdnc-copy starts from jittered rows) with the cache used from 4,096 slots."""
    import subprocess
    import sys

    def recorded() -> str:
        done = subprocess.run([sys.executable, "-c", RECORD], capture_output=True, text=True, timeout=300,
                              cwd=Path(__file__).resolve().parent.parent,
                              env={**os.environ, index_parts.CACHE_ENV: str(cache), "OMP_NUM_THREADS": "1",
                                   "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert recorded() == "build"
    (index_file,) = cache.glob("initial-hnsw-*.faiss")
    index_file.write_bytes(index_file.read_bytes()[:4096])                   # truncated: the name still matches
    assert recorded() == "rebuilt"
    assert recorded() == "on disk"


def test_a_long_episode_build_stops_when_its_visitor_leaves(cache, monkeypatch):
    """The player's long episodes hold the same lock and build the same structure: loaders.long_run runs the build
    in a worker watched by a page ticker (here one that raises as Streamlit does for a visitor who left)."""
    from samviz.app import loaders, long_episode

    class Left(Exception):
        pass

    def page_ticker(what: str):
        def tick(seconds: float) -> None:
            if seconds > 1.0:
                raise Left
        return tick

    monkeypatch.setattr(loaders, "page_ticker", page_ticker)
    model, _ = loaders.load_model("sdnc", "copy", "faiss", 1 << 16)
    episode = long_episode.sample("copy", 40, 0, 1)
    started = time.monotonic()
    with pytest.raises(Left), loaders.long_run():
        long_episode.run(model, episode)
    assert time.monotonic() - started < 10 and not loaders.LARGE_RUN.locked()
    assert list(cache.iterdir()) == []
