"""The shipped models (pretrained/<model>-<task>/) and `load()`, which builds a model from any checkpoint.

    samviz.pretrained.available()          -> ["dam-copy", "ntm-copy", ...]
    samviz.pretrained.load("sam-copy")     -> a MemoryModel in eval mode, with model.meta

The file format (model.safetensors + meta.json) and its writers live in samviz.checkpoint; their names
are re-exported here. `load()` (samviz.checkpoint.load_checkpoint) never unpickles anything: it reads JSON,
validates the config's sizes against bounds and against the shapes in the weights file's header, and only
then builds the model and fills it from safetensors, checking every tensor's finiteness and that the weights
are the ones meta.json describes (its weights_sha256). Anything wrong with a checkpoint raises
`CheckpointError` (a ValueError) whose message names the file and the problem. Checkpoints are
index-agnostic: a SAM trained with index="exact" loads with index="faiss" and back.
"""
from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import (  # noqa: F401  (re-exported: the checkpoint format's public names)
    FORMAT_VERSION,
    MAX_CHECKPOINT_BYTES,
    META_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    atomic_save_tensors,
    atomic_write_json,
    build_meta,
    check_tensors,
    load_checkpoint,
    save_checkpoint,
)
from .checkpoint import read_meta as _read_meta_of_directory
from .model import MemoryModel
from .paths import PRETRAINED_DIR


def available() -> list[str]:
    """Names of the shipped checkpoints: directories under pretrained/ holding model.safetensors + meta.json."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(d.name for d in PRETRAINED_DIR.iterdir()
                  if d.is_dir() and not d.name.startswith(".")
                  and (d / WEIGHTS_FILE).is_file() and (d / META_FILE).is_file())


def resolve(name_or_path) -> Path:
    """A shipped name ("sam-copy") or a checkpoint directory (or its model.safetensors / meta.json) -> directory."""
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.is_file() and candidate.name in (WEIGHTS_FILE, META_FILE):
        candidate = candidate.parent
    if candidate.is_dir():
        return candidate
    if "/" not in text and os.sep not in text and text not in ("", ".", ".."):
        shipped = PRETRAINED_DIR / text
        if shipped.is_dir():
            return shipped
    names = available()
    raise CheckpointError(
        f"no checkpoint {text!r}: not a directory, and not a shipped model "
        f"(available: {', '.join(names) if names else 'none yet'})")


def read_meta(name_or_path) -> dict:
    """meta.json of a checkpoint (shipped name or directory), parsed and checked for the fields load() needs."""
    return _read_meta_of_directory(resolve(name_or_path))


def load(name_or_path, index: str | None = None, **overrides) -> MemoryModel:
    """Load a shipped model by name (see available()) or a checkpoint directory.

    index: override the nearest-neighbour index of a sparse model ("exact" | "faiss"); weights do not
    depend on it. Other keyword overrides replace config fields that do not change tensor shapes
    (e.g. memory_slots for models whose weights do not depend on N).
    Returns the model in eval mode with `model.meta` (task, level, metrics, ..., name, path).
    """
    return load_checkpoint(resolve(name_or_path), {"index": index, **overrides})
