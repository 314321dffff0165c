"""Under `make test` (SAMVIZ_TESTS_STRICT=1) a test never passes by skipping: a skip — a missing system package,
Python module or shipped file — is reported as a failure that says what is missing. Run on its own
(`pytest tests/...`), a test may still skip with that reason. Expected failures (xfail) are left as they are.

The tests run torch (and the processes they start) on one thread, OMP_NUM_THREADS=1 unless the caller set it:
the project measures on one thread (samviz.bench.measure.pin_threads, the trainer's default), the tests' tensors
are small, and on a 2-core machine shared with other work (training runs, browsers) a second OpenMP thread per
process spins waiting for a core instead of helping. Set here, before any test module imports torch, so every
test sees the same thread count whatever ran before it (the trainer sets one thread for the rest of the process).
faiss's HNSW builds still use every core (samviz.memory.index_cache.build_hnsw)."""
from __future__ import annotations

import os
import sys

import pytest

THREADS_ENV = "OMP_NUM_THREADS"
os.environ.setdefault(THREADS_ENV, "1")
if "torch" in sys.modules:                      # imported before this file (a plugin): pin it the same way
    sys.modules["torch"].set_num_threads(int(os.environ[THREADS_ENV]))

STRICT_ENV = "SAMVIZ_TESTS_STRICT"


def strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report) -> None:
    report.outcome = "failed"
    report.longrepr = (f"skipped, and `make test` ({STRICT_ENV}=1) runs every test: {_reason(report)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if strict() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if strict() and report.skipped:
        _fail(report)
