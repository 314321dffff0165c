"""Checkpoint format and the registry of shipped models (pretrained/<model>-<task>/).

A checkpoint is a directory with two files:

    model.safetensors   the weights (safetensors: plain tensors, never pickle); its header metadata
                        {"samviz": <the same JSON as meta.json>} makes the file self-describing
    meta.json           {"format_version", "config": ModelConfig.to_dict(), "task", "level", "metrics",
                         "steps", "wall_time_s", "samviz_version", "torch_version", "command", ...}

`load()` never unpickles anything: it reads JSON, validates the config, builds the model and fills it
with `safetensors.torch.load_file`, checking every tensor's name and shape first. Anything wrong with
a checkpoint raises `CheckpointError` (a ValueError) whose message names the file and the problem.
Checkpoints are index-agnostic: a SAM trained with index="exact" loads with index="faiss" and back.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
import tempfile

import torch

import samviz
from .model import MemoryModel, ModelConfig

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024    # shipped models are < 1 MiB; refuse absurd files early
PRETRAINED_DIR = Path(samviz.__file__).resolve().parent.parent / "pretrained"


_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: the message names the file and what is wrong with it."""


# ---------------------------------------------------------------------------------------------- writing

def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, then os.replace: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    _atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors.torch.save (bytes) + atomic replace. Tensors are made contiguous and unshared."""
    from safetensors.torch import save
    plain = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    _atomic_write_bytes(path, save(plain, metadata=metadata))


def build_meta(model: MemoryModel, meta: dict | None = None) -> dict:
    """The meta.json content: format and versions, the model config, then whatever the caller adds."""
    full = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "samviz_version": samviz.__version__,
        "torch_version": torch.__version__,
    }
    for key, value in (meta or {}).items():
        if key not in ("format_version", "config"):
            full[key] = value
    return full


def save_checkpoint(model: MemoryModel, path_dir, meta: dict | None = None) -> Path:
    """Write <path_dir>/model.safetensors and <path_dir>/meta.json (each atomically). Returns the directory.

    `meta` holds what training knows: task, level, metrics, steps, wall_time_s, command, meets_target, ...
    """
    directory = Path(path_dir)
    directory.mkdir(parents=True, exist_ok=True)
    full = build_meta(model, meta)
    text = json.dumps(full, sort_keys=False)
    json.loads(text)   # fail here, before anything is written, if meta is not JSON-serialisable
    atomic_save_tensors(directory / WEIGHTS_FILE, model.state_dict(), metadata={"samviz": text})
    atomic_write_json(directory / META_FILE, full)
    return directory


# ---------------------------------------------------------------------------------------------- reading

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
    """meta.json of a checkpoint, parsed and checked for the fields load() needs."""
    directory = resolve(name_or_path)
    path = directory / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing file (a checkpoint needs {META_FILE} beside {WEIGHTS_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: invalid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: invalid meta — expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported format_version {version!r} (this samviz reads {FORMAT_VERSION})")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: invalid meta — no model \"config\" object")
    return meta


def _config_from_meta(meta: dict, path: Path, overrides: dict) -> ModelConfig:
    data = dict(meta["config"])
    data.update({k: v for k, v in overrides.items() if v is not None})
    kind = data.get("kind")
    if kind not in samviz.MODELS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r} (known: {', '.join(samviz.MODELS)})")
    try:
        return ModelConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid model config: {error}") from None


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    if not path.is_file():
        raise CheckpointError(f"{path}: missing file (the checkpoint has no weights)")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: file too large ({size} bytes > {MAX_CHECKPOINT_BYTES})")
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:   # SafetensorError, OSError, ...: a corrupt or truncated file
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({type(error).__name__}: {error})") from None


def check_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path | str = "checkpoint") -> None:
    """Every tensor the model expects is present with the right shape, and nothing else is there."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise CheckpointError(f"{path}: missing tensor(s) {', '.join(missing)} for a {model.config.kind} model")
    if unexpected:
        raise CheckpointError(f"{path}: unexpected tensor(s) {', '.join(unexpected)} for a {model.config.kind} model")
    for name, tensor in tensors.items():
        want = tuple(expected[name].shape)
        if tuple(tensor.shape) != want:
            raise CheckpointError(
                f"{path}: wrong shape for tensor {name}: {list(tensor.shape)} in the file, the config "
                f"({model.config.kind}, heads={model.config.heads}, word_size={model.config.word_size}, "
                f"memory_slots={model.config.memory_slots}) needs {list(want)}")
        if not tensor.is_floating_point() and expected[name].is_floating_point():
            raise CheckpointError(f"{path}: tensor {name} has dtype {tensor.dtype}, expected floating point")


def load(name_or_path, index: str | None = None, **overrides) -> MemoryModel:
    """Load a shipped model by name (see available()) or a checkpoint directory.

    index: override the nearest-neighbour index of a sparse model ("exact" | "faiss"); weights do not
    depend on it. Other keyword overrides replace config fields that do not change tensor shapes
    (e.g. memory_slots for models whose weights do not depend on N).
    Returns the model in eval mode with `model.meta` (task, level, metrics, ..., name, path).
    """
    directory = resolve(name_or_path)
    meta = read_meta(directory)
    config = _config_from_meta(meta, directory / META_FILE, {"index": index, **overrides})
    tensors = _read_tensors(directory / WEIGHTS_FILE)
    try:
        model = MemoryModel(config)
    except ModuleNotFoundError as error:
        raise CheckpointError(f"{directory}: model kind {config.kind!r} is not available in this samviz ({error})") from None
    check_tensors(model, tensors, directory / WEIGHTS_FILE)
    model.load_state_dict(tensors, strict=True)
    model.meta = {**meta, "name": directory.name, "path": str(directory)}
    model.eval()
    return model
