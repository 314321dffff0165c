"""`make test` installs every system package its tests need, each checked on its own, and under it a test that
would skip for a missing prerequisite fails instead (issue 29, item 10). Before: Debian's packages were installed
only when chromium was missing, so a machine with chromium but no nginx skipped the 8 replica tests, and a missing
shipped asset skipped its test: 819 passed, 8 skipped, and nothing said so loudly. And the tests' torch runs on one
thread unless the caller sets OMP_NUM_THREADS (conftest.py says why)."""
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install_system_packages.sh"


def fake_dpkg(tmp_path: Path, installed: list[str]) -> dict:
    """An environment whose dpkg-query says exactly `installed` are installed (PATH first), and no sudo/apt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    query = bin_dir / "dpkg-query"
    query.write_text("#!/bin/sh\n# dpkg-query -W -f=... PACKAGE\nfor last; do :; done\ncase \" $INSTALLED \" in\n"
                     "  *\" $last \"*) printf 'install ok installed' ;;\n  *) exit 1 ;;\nesac\n")
    query.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "INSTALLED": " ".join(installed)}


def script(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def test_a_machine_with_chromium_but_without_nginx_gets_nginx(tmp_path):
    env = fake_dpkg(tmp_path, ["chromium", "fonts-dejavu-core"])
    checked = script(env, "--check")
    assert checked.returncode == 1 and checked.stdout.split() == ["missing:", "nginx"]
    planned = script(env, "--dry-run")
    assert planned.returncode == 0 and planned.stdout.strip() == "would install: nginx"


def test_each_package_is_checked_on_its_own(tmp_path):
    env = fake_dpkg(tmp_path, ["nginx"])
    assert script(env, "--dry-run").stdout.strip() == "would install: chromium fonts-dejavu-core"
    (tmp_path / "all").mkdir()
    everything = fake_dpkg(tmp_path / "all", ["chromium", "fonts-dejavu-core", "nginx"])
    done = script(everything, "--check")
    assert done.returncode == 0 and "every system package the tests need is installed" in done.stdout
    assert script(everything).returncode == 0          # nothing to install: no sudo, no apt-get
    assert script(everything, "--bogus").returncode == 2


def test_the_former_script_name_runs_the_same_checks(tmp_path):
    env = fake_dpkg(tmp_path, ["chromium", "fonts-dejavu-core"])
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install_chromium.sh"), "--dry-run"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.stdout.strip() == "would install: nginx"


def test_make_test_always_runs_the_package_check_and_runs_the_tests_strictly():
    make = shutil.which("make")
    assert make, "make is needed to read the Makefile's recipe"
    recipe = subprocess.run([make, "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert recipe.returncode == 0, recipe.stderr
    lines = recipe.stdout.splitlines()
    install = next(i for i, line in enumerate(lines) if "scripts/install_system_packages.sh" in line)
    tests = next(i for i, line in enumerate(lines) if "pytest" in line)
    assert install < tests and "command -v" not in lines[install]      # not only when chromium is missing
    assert "SAMVIZ_TESTS_STRICT=1" in lines[tests]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


SKIPPING = '''
import pytest
pytestmark = []

def test_skips():
    pytest.skip("nginx is not installed")

@pytest.mark.skipif(True, reason="chromium is missing")
def test_skipif():
    pass

@pytest.mark.xfail(reason="an expected failure stays one", strict=True)
def test_xfail():
    assert False

def test_passes():
    pass
'''
MODULE_SKIP = "import pytest\npytest.importorskip('no_such_module_here')\n\ndef test_never():\n    pass\n"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_under_make_test_a_skip_is_a_failure_that_says_what_is_missing(tmp_path, workers):
    """In one process and in make test's pytest-xdist workers (where the reports are made in the workers)."""
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "--continue-on-collection-errors",
               "-n", workers, str(tmp_path)]

    def run(strict: bool) -> str:
        env = {k: v for k, v in os.environ.items() if k != "SAMVIZ_TESTS_STRICT"}
        if strict:
            env["SAMVIZ_TESTS_STRICT"] = "1"
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120).stdout

    relaxed = run(False)
    assert "1 passed, 3 skipped, 1 xfailed" in relaxed, relaxed
    strict = run(True)
    summary = strict.strip().splitlines()[-1]
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", summary)}
    assert "skipped" not in counts and counts.get("passed") == 1 and counts.get("xfailed") == 1, strict
    assert counts.get("failed", 0) + counts.get("errors", 0) + counts.get("error", 0) == 3, strict
    for reason in ("nginx is not installed", "chromium is missing", "no_such_module_here"):
        assert reason in strict, strict


THREADS = '''
import os
import torch

def test_threads():
    print("threads", torch.get_num_threads(), os.environ["OMP_NUM_THREADS"])
'''


@pytest.mark.slow
def test_the_tests_run_torch_on_one_thread_unless_the_caller_says_otherwise(tmp_path):
    """conftest.py sets OMP_NUM_THREADS=1 before a test module imports torch, and leaves a caller's setting alone."""
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_threads.py").write_text(THREADS)

    def threads(**extra: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tmp_path)],
                              cwd=tmp_path, capture_output=True, text=True, env={**env, **extra}, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith("threads"))

    assert threads() == "threads 1 1"
    assert threads(OMP_NUM_THREADS="2") == "threads 2 2"
