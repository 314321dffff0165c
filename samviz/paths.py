"""Where samviz's shipped data lives: the pretrained checkpoints and the assets (benchmark results, images).

In a source checkout (and an editable install) they are the top-level folders `pretrained/` and `assets/`;
a plain `pip install .` copies them into the package as `samviz/_data/pretrained` and `samviz/_data/assets`
(see pyproject.toml). Code asks here instead of walking up from `__file__`.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = PACKAGE_DIR.parent
_INSTALLED_DATA = PACKAGE_DIR / "_data"


def _data_dir(name: str) -> Path:
    source = _SOURCE_ROOT / name
    if (_SOURCE_ROOT / "samviz" / "paths.py").exists() and source.is_dir():
        return source
    return _INSTALLED_DATA / name


PRETRAINED_DIR = _data_dir("pretrained")
ASSETS_DIR = _data_dir("assets")
BENCH_RESULTS_DIR = ASSETS_DIR / "bench"
