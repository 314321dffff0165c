"""Under `make test` (SAMVIZ_TESTS_STRICT=1) a test never passes by skipping: a skip — a missing system package,
Python module or shipped file — is reported as a failure that says what is missing. Run on its own
(`pytest tests/...`), a test may still skip with that reason. Expected failures (xfail) are left as they are."""
from __future__ import annotations

import os

import pytest

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
