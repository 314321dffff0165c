"""Build hook only — the project's metadata lives in pyproject.toml.

A plain install (`pip install .`, a wheel) must carry the shipped data, which the repository keeps at the
top level: pretrained/ (checkpoints), assets/ (benchmark results) and app.py (the Streamlit entry). This
build step copies them into the package as samviz/_data/…, where samviz.paths looks for them outside a
checkout. An editable install skips the copy: samviz.paths finds them in the checkout itself.
"""
from pathlib import Path
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("pretrained", "assets", "app.py")
NOT_SHIPPED = ("train_state.*", "*.pyc", "__pycache__")      # resumable training state is local only


def shipped_files() -> list[Path]:
    """Every file to install as package data, relative to the repository root."""
    files = []
    for name in SHIPPED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            relative = file.relative_to(ROOT)
            if not any(part_matches for part in relative.parts
                       for part_matches in (Path(part).match(pattern) for pattern in NOT_SHIPPED)):
                files.append(relative)
    return files


class BuildWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for relative in shipped_files():
            target = Path(self.build_lib, "samviz", "_data", relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(Path(self.build_lib, "samviz", "_data", r)) for r in shipped_files()]


setup(cmdclass={"build_py": BuildWithData})
