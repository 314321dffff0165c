"""What every command line of samviz does with an operating-system error: one line, a non-zero exit, no traceback.

    @cli.reports_os_errors("python -m samviz.bench")
    def main(argv=None) -> int: ...

A full disk (or /dev/full), a read-only or forbidden directory, a path the file system will not create
(/proc/self/x) raise OSError wherever a file is written or flushed — deep in a library call, in a `finally` that
closes the file (a chained second OSError), or when the interpreter flushes stdout at exit. `reports_os_errors`
catches it around the whole of main, prints "<prog>: error: <what and where>" on stderr and returns
EXIT_OS_ERROR. It also flushes stdout itself before returning, so a full stdout is reported the same way instead
of as Python's "Exception ignored" message at shutdown. The decorated function is what `python -m` and the console
scripts (pyproject.toml) both call, so the one place covers both.
"""
from __future__ import annotations

from collections.abc import Callable
import errno
import functools
import os
from pathlib import Path
import sys

EXIT_OS_ERROR = 1
MAX_SHOWN_PATH = 200        # characters of a path an error message quotes


def _shown(path) -> str:
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    return text if len(text) <= MAX_SHOWN_PATH else text[:MAX_SHOWN_PATH] + "…"


def os_error_message(error: OSError) -> str:
    """One line saying what failed and where, in words that are true for the case (no errno numbers)."""
    reason = error.strerror or str(error) or type(error).__name__
    path = error.filename
    if path is None:
        return f"{reason[0].lower()}{reason[1:]}" if error.errno == errno.ENOSPC else reason
    shown = _shown(path)
    if error.errno == errno.ENOENT:
        parent = Path(os.fsdecode(path)).parent
        try:
            parent_is_dir, virtual = parent.is_dir(), parent.resolve().parts[1:2] in (("proc",), ("sys",))
        except (OSError, RuntimeError):
            parent_is_dir = virtual = False
        if not parent_is_dir:
            return f"{shown}: the directory {_shown(parent)} does not exist"
        if virtual:
            # e.g. /proc/self/x: the directory exists, but its file system makes no new files (and says ENOENT)
            return f"cannot create {shown}: {_shown(parent)} is in a virtual file system that makes no new files"
    if error.errno == errno.ENOSPC:
        return f"cannot write {shown}: no space left on its device"
    return f"{shown}: {reason}"


def write_text(path, text: str) -> None:
    """Path(path).write_text(text) whose OSError names the file: a full disk fails on the last flush, where
    Python's error has no file name."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        if error.filename is None:
            raise OSError(error.errno, error.strerror, os.fsdecode(path)) from None
        raise


def _flush_stdout() -> None:
    """Flush stdout now (a full stdout raises here, inside the handler, not at interpreter exit)."""
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()
        raise


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's own flush at exit has nothing left to fail on."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def reports_os_errors(prog: str) -> Callable:
    """Decorator for a CLI's main: an OSError anywhere in it (or in flushing stdout afterwards) becomes
    "<prog>: error: ..." on stderr and the exit status EXIT_OS_ERROR."""
    def decorate(main: Callable) -> Callable:
        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                status = main(*args, **kwargs)
                _flush_stdout()
                return status
            except OSError as error:
                if isinstance(error, BrokenPipeError):     # `| head`: the reader left; nothing to tell it
                    _silence_stdout()
                    return EXIT_OS_ERROR
                try:
                    sys.stdout.flush()
                except OSError:
                    _silence_stdout()
                print(f"{prog}: error: {os_error_message(error)}", file=sys.stderr)
                return EXIT_OS_ERROR
        return run
    return decorate
