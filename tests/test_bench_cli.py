"""The benchmark CLI refuses every out-of-bounds argument before it allocates anything (issue 15, item 1).

A refusal is an argparse message on stderr and exit status 2 — never a traceback, never an out-of-memory kill.
"""
import os
import re
import resource
import subprocess
import sys
import time

import pytest

from samviz.bench import runner
from samviz.bench.__main__ import MAX_SIZES, parse_size, parse_slots
from samviz.bench.__main__ import main as cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
REFUSAL_EXTRA_BYTES = 20 * MIB    # what refusing may cost beyond starting the CLI (it allocates nothing)
REFUSAL_EXTRA_S = 1.0


@pytest.fixture
def lock(tmp_path, monkeypatch):
    path = str(tmp_path / "bench.lock")
    monkeypatch.setenv(runner.LOCK_ENV, path)
    return path


def _vm_peak_of_started_cli() -> int:
    """Virtual memory high-water mark of an interpreter that imported the CLI (torch included, today)."""
    code = ("import samviz.bench.__main__, re; "
            "print(re.search(r'VmPeak:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout) * 1024


# The CLI runs under a wrapper that prints its own VmHWM (peak RSS) at exit: the kernel's ru_maxrss of a forked child
# also counts the pages it shared with this (large) pytest process before exec, so it would measure pytest, not the CLI.
_WRAPPER = ("import atexit, re, runpy, sys\n"
            "def _peak():\n"
            "    hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
            "    sys.stderr.write('\\nPEAK_RSS_KB=' + hwm + '\\n')\n"
            "atexit.register(_peak)\n"
            "sys.argv = ['samviz.bench'] + sys.argv[1:]\n"
            "runpy.run_module('samviz.bench', run_name='__main__', alter_sys=True)\n")


def _run_cli(args: list[str], address_space_cap: int | None = None) -> tuple[int, str, float, int]:
    """Run `python -m samviz.bench ARGS` -> (exit status, stderr, seconds, peak RSS bytes of that process)."""
    def cap():
        if address_space_cap:
            resource.setrlimit(resource.RLIMIT_AS, (address_space_cap, address_space_cap))

    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *args], cwd=ROOT, capture_output=True, preexec_fn=cap,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=60)
    seconds = time.monotonic() - start
    err = done.stderr.decode(errors="replace")
    peak = re.search(r"PEAK_RSS_KB=(\d+)", err)
    assert peak, err
    return done.returncode, err[:peak.start()], seconds, int(peak.group(1)) * 1024


def test_a_huge_range_is_refused_at_once_under_a_memory_cap():
    """"2^1..2^100000000" used to be expanded into a list first (22.8 GB, then the OOM killer)."""
    base_status, base_err, base_seconds, base_rss = _run_cli(["--help"])
    assert base_status == 0, base_err
    cap = _vm_peak_of_started_cli() + 256 * MIB          # room for the CLI itself, not for a huge list
    status, err, seconds, rss = _run_cli(["--models", "sam", "--slots", "2^1..2^100000000"], address_space_cap=cap)
    assert status == 2, err
    assert "Traceback" not in err and "MemoryError" not in err
    assert "2^100000000" in err and "out of range" in err and "2^24" in err
    # nothing beyond what starting the CLI costs, and that start imports no torch (samviz loads it lazily)
    assert rss - base_rss <= REFUSAL_EXTRA_BYTES, (rss, base_rss)
    assert seconds - base_seconds < REFUSAL_EXTRA_S, (seconds, base_seconds)
    assert rss <= 200 * MIB and seconds < 1.0, (rss, seconds)


@pytest.mark.parametrize("slots, message", [
    ("1e400", "out of range"),                  # was an OverflowError traceback (float infinity -> int)
    ("2^99999999999", "out of range"),          # would build a 12 GB integer before the range check
    ("2^25", "out of range"),
    ("2^20..2^30", "out of range"),
    ("2^0..2^4", "out of range"),
    ("2^5..2^3", "empty range"),
    ("1e9", "out of range"),
    ("1.5e3", None),                            # a whole number in scientific notation is fine
    ("1.0001e3", "not a whole number"),
    ("9" * 30, "too long"),
    ("9" * 5000, "characters long"),
    (",".join(str(n) for n in range(2, 2 + MAX_SIZES + 1)), f"more than {MAX_SIZES}"),
    ("16," * 600, "characters long"),
    ("", "at least one memory size"),
])
def test_bad_memory_sizes_are_argparse_errors(slots, message, capsys, lock):
    if message is None:
        assert parse_slots(slots) == [1500]
        return
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--models", "ntm", "--slots", slots])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err) < 1000                     # the visitor's text is echoed cut short


@pytest.mark.parametrize("extra, message", [
    (["--timeout", "inf"], "finite"),
    (["--timeout", "nan"], "finite"),
    (["--timeout", "-1"], "must be > 0"),
    (["--timeout", "1e9"], "at most 86400"),
    (["--budget-mib", "1e400"], "finite"),
    (["--budget-mib", "0"], "must be > 0"),
    (["--repeat-time", "nan"], "finite"),
    (["--repeat-time", "abc"], "not a number"),
    (["--batch", "1e9"], "not an integer"),
    (["--batch", "5000"], "must be in [1, 4096]"),
    (["--steps", "9" * 30], "not an integer"),
    (["--word-size", "0"], "must be in [1, 4096]"),
    (["--heads", "65"], "must be in [1, 64]"),
    (["--k", "-3"], "must be in [1, 1024]"),
    (["--out", "/proc/nope/rows.jsonl"], "cannot write"),
])
def test_bad_numbers_and_paths_are_argparse_errors(extra, message, capsys, lock):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--models", "ntm", "--slots", "16", "--repeat-time", "0.1", *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_model_lists_are_argparse_errors(capsys, lock):
    for models, message in ((",".join(["x"] * 2000), "characters long"), ("a,b,c,d,e,f,g", "unknown model(s)")):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["--models", models, "--slots", "16"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and len(err) < 1000


def test_parse_size_forms_and_bounds():
    assert [parse_size(t) for t in ("1024", "2^16", "2**16", "64k", "1M", "1e6", "1_024", "16777216")] == \
        [1024, 65536, 65536, 64000, 1_000_000, 1_000_000, 1024, 1 << 24]
    assert parse_slots("2^22..2^24, 16, 2^4") == [1 << 22, 1 << 23, 1 << 24, 16]     # duplicates dropped
