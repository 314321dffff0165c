"""Where samviz's shipped data lives: the pretrained checkpoints, the assets (benchmark results) and app.py.

In a source checkout (and an editable install) they are the top-level `pretrained/`, `assets/` and `app.py`;
a plain `pip install .` copies them into the package as `samviz/_data/pretrained`, `samviz/_data/assets`
and `samviz/_data/app.py` (setup.py's build step). Code asks here instead of walking up from `__file__`.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = PACKAGE_DIR.parent
_INSTALLED_DATA = PACKAGE_DIR / "_data"
# A checkout has the project file beside the package; site-packages does not (and may hold other
# distributions' top-level folders called "assets").
IN_CHECKOUT = (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "app.py").is_file()


def _shipped(name: str) -> Path:
    """A top-level file or folder of the checkout, or its installed copy under samviz/_data."""
    return _SOURCE_ROOT / name if IN_CHECKOUT else _INSTALLED_DATA / name


PRETRAINED_DIR = _shipped("pretrained")
ASSETS_DIR = _shipped("assets")
BENCH_RESULTS_DIR = ASSETS_DIR / "bench"
APP_SCRIPT = _shipped("app.py")          # what `streamlit run` starts (samviz-app, samviz.app.launch)
