"""samviz as an installed package (issue 11, item 6): a plain install carries its data and runs from anywhere.

Builds a wheel from a copy of this checkout (pip, no network: --no-build-isolation uses this venv's
setuptools), installs it with --no-deps into a target folder, and runs it from an unrelated directory with
only that folder and this venv's third-party packages (torch, …) importable — never the checkout itself.
Then an editable install into a fresh venv. Slow (~30 s): it starts several interpreters and the app.
"""
import filecmp
import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("samviz", "pretrained", "assets", "app.py", "setup.py", "pyproject.toml", "MANIFEST.in", "README.md",
                "requirements.txt")
LOCAL_ONLY = shutil.ignore_patterns("__pycache__", "*.pyc", "train_state.*", "*.egg-info", "_data")
THIRD_PARTY = sysconfig.get_paths()["purelib"]        # this venv's site-packages: torch, numpy, streamlit …

pytestmark = pytest.mark.slow


def _copy_sources(target: Path) -> Path:
    target.mkdir()
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=LOCAL_ONLY)
        else:
            shutil.copy2(source, target / name)
    return target


def _run(command: list[str], cwd: Path, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def _isolated_env(**extra) -> dict:
    """No PYTHONPATH from the caller, one thread, no usage statistics."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return dict(env, OMP_NUM_THREADS="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", **extra)


def _shipped_files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("train_state.")}


CHECK_INSTALLED = """
import pathlib, sys
import samviz, samviz.paths as paths
from samviz.bench import SHIPPED_RESULTS
assert pathlib.Path(samviz.__file__).is_relative_to(sys.argv[1]), samviz.__file__
assert not paths.IN_CHECKOUT
model = samviz.pretrained.load("sam-copy")
assert model.config.memory_slots > 0 and "metrics" in model.meta
assert pathlib.Path(SHIPPED_RESULTS).is_file() and paths.APP_SCRIPT.is_file()
# the episode view's browser code ships inside the package (no CDN, no build at run time)
import samviz.app.episode_view as view
assert "export default function" in (view.HERE / "episode.js").read_text() and (view.HERE / "episode.css").is_file()
print(paths.PRETRAINED_DIR)
print(paths.ASSETS_DIR)
"""


def test_a_plain_install_carries_the_data_and_runs_from_anywhere(tmp_path):
    source = _copy_sources(tmp_path / "source")
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "installed", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _isolated_env()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(wheels), str(source)], cwd=tmp_path, env=env)
    (wheel,) = wheels.glob("samviz-*.whl")
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
          str(wheel)], cwd=tmp_path, env=env)
    shutil.rmtree(source)          # nothing may come from the sources any more

    run_env = _isolated_env(PYTHONPATH=os.pathsep.join([str(target), THIRD_PARTY]))
    done = _run([sys.executable, "-c", CHECK_INSTALLED, str(target)], cwd=elsewhere, env=run_env)
    pretrained_dir, assets_dir = (Path(line) for line in done.stdout.split())
    assert pretrained_dir == target / "samviz" / "_data" / "pretrained"
    # exactly the shipped files, byte for byte
    for installed, shipped in ((pretrained_dir, ROOT / "pretrained"), (assets_dir, ROOT / "assets")):
        assert _shipped_files(installed) == _shipped_files(shipped)
        for relative in _shipped_files(shipped):
            assert filecmp.cmp(installed / relative, shipped / relative, shallow=False), relative

    # console scripts: each starts (and the bench refuses nonsense with its usual exit status)
    scripts = target / "bin"
    for name in ("samviz-train", "samviz-evaluate", "samviz-bench"):
        assert "usage:" in _run([str(scripts / name), "--help"], cwd=elsewhere, env=run_env).stdout
    refused = subprocess.run([str(scripts / "samviz-bench"), "--models", "ntm", "--slots", "2^1..2^99"],
                             cwd=elsewhere, env=run_env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "out of range" in refused.stderr
    # a real (tiny) measurement: the worker process finds the installed package, whatever the cwd
    measured = _run([str(scripts / "samviz-bench"), "--models", "ntm", "--slots", "16", "--batch", "1", "--steps", "2",
                     "--repeat-time", "0.1"], cwd=elsewhere,
                    env=dict(run_env, SAMVIZ_BENCH_LOCK=str(tmp_path / "bench.lock")))
    assert '"status": "ok"' in measured.stdout, measured.stderr

    # the app: samviz-app starts streamlit on the installed app.py, which answers its health check
    port = 8600 + os.getpid() % 300
    app = subprocess.Popen([str(scripts / "samviz-app"), "--server.port", str(port), "--server.headless", "true"],
                           cwd=elsewhere, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and app.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    health = response.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert health == "ok", (app.poll(), app.stdout.read().decode() if app.poll() is not None else "")
    finally:
        app.kill()
        app.wait()


def test_an_editable_install_uses_the_checkout(tmp_path):
    source = _copy_sources(tmp_path / "source")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=_isolated_env())
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=tmp_path, env=_isolated_env()).stdout.strip()
    Path(purelib, "third_party.pth").write_text(THIRD_PARTY + "\n")    # torch & co. without reinstalling them
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", "-e", str(source)], cwd=tmp_path, env=_isolated_env())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = ("import samviz, samviz.paths as paths; samviz.pretrained.load('sam-copy'); "
             "print(samviz.__file__); print(paths.PRETRAINED_DIR); print(paths.IN_CHECKOUT)")
    module, pretrained_dir, in_checkout = _run([str(python), "-c", check], cwd=elsewhere,
                                               env=_isolated_env()).stdout.split()
    assert Path(module) == source / "samviz" / "__init__.py"
    assert Path(pretrained_dir) == source / "pretrained" and in_checkout == "True"
    assert not (source / "samviz" / "_data").exists()      # editable: the data stays where it is
