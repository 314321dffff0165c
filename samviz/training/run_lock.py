"""One training run per run directory: an exclusive lock held for the run's whole life.

    with run_lock.hold(out, command):     # RunBusy when another process holds it
        ... train, checkpoint, write the log ...

Two runs writing the same directory interleave their logs and overwrite each other's best checkpoint (a better
one from one run replaced by a worse one from the other). `hold` takes an exclusive, non-blocking
fcntl.flock on <out>/run.lock. The kernel drops an flock when the process holding it dies, however it dies
(SIGKILL included), so a crashed run never leaves the directory locked; the file itself stays and is reused.

While it holds the lock, the process writes who it is into the file (pid, start time, command) so that a run
refused for a busy directory can say which process holds it. Under torchrun only rank 0 takes the lock
(samviz.train): rank 0 is the process that writes the directory (samviz.training.distributed).
"""
from __future__ import annotations

from contextlib import contextmanager
import datetime
import fcntl
import json
import os
from pathlib import Path
import time

LOCK_FILE = "run.lock"
HOLDER_READ_TRIES = 20          # the holder writes its details right after taking the lock: a reader may be early
HOLDER_READ_PAUSE_S = 0.05
MAX_HOLDER_BYTES = 64 * 1024    # what a refused run reads of the holder's details at most
MAX_COMMAND_CHARS = 300         # what the refusal quotes of the holder's command


class RunBusy(RuntimeError):
    """Another process holds the run directory's lock; the message names it (pid, start time, command)."""


def holder(path: Path) -> dict | None:
    """The details the lock's holder wrote into `path` ({"pid", "started", "command"}), or None (not yet written,
    or unreadable)."""
    for _ in range(HOLDER_READ_TRIES):
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read(MAX_HOLDER_BYTES).decode("utf-8"))
            if isinstance(data, dict) and "pid" in data:
                return data
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            pass
        time.sleep(HOLDER_READ_PAUSE_S)
    return None


def describe(details: dict | None) -> str:
    """One line naming the holder: "pid 1234, started 2026-07-01T10:00:00+00:00: python -m samviz.train ..."."""
    if details is None:
        return "a process that has not said who it is yet"
    command = str(details.get("command") or "?")
    if len(command) > MAX_COMMAND_CHARS:
        command = command[:MAX_COMMAND_CHARS] + "…"
    return f"pid {details.get('pid')}, started {details.get('started', '?')}: {command}"


def acquire(directory: Path, command: str) -> int:
    """Take the lock of `directory` (which must exist) -> the open file descriptor that holds it (close it to
    release). RunBusy naming the holder when another process has it; OSError when the file cannot be made."""
    path = Path(directory) / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunBusy(f"{directory} is in use by another training run ({describe(holder(path))}); wait for it "
                      f"to finish or choose another --out") from None
    except BaseException:
        os.close(descriptor)
        raise
    try:
        started = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
        details = json.dumps({"pid": os.getpid(), "started": started, "command": command}).encode("utf-8")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, details + b"\n", 0)
    except BaseException:
        os.close(descriptor)       # closing drops the lock
        raise
    return descriptor


def release(descriptor: int) -> None:
    """Drop the lock (the file and its last holder's details stay: a later run reuses the file)."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


@contextmanager
def hold(directory: Path, command: str, take: bool = True):
    """Hold `directory`'s lock for the block (nothing when not `take`: a torchrun rank other than 0)."""
    if not take:
        yield
        return
    descriptor = acquire(directory, command)
    try:
        yield
    finally:
        release(descriptor)
