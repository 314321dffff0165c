"""The on-disk formats: a checkpoint directory, and the training state a run resumes from. Never pickle.

A checkpoint is a directory with two files:

    model.safetensors   the weights (safetensors: plain tensors); its header metadata
                        {"samviz": <the same JSON as meta.json>} makes the file self-describing
    meta.json           {"format_version", "config": ModelConfig.to_dict(), "task", "level", "metrics",
                         "steps", "wall_time_s", "samviz_version", "torch_version", "command", ...}

A training state is one safetensors file whose tensors are named by role ("model/<name>",
"optim/<param id>/<key>", "rng/<name>") and whose header metadata {"train_state": JSON} holds the rest
(step, curriculum, optimizer hyper-parameters, ...). One file holds both halves, so a crash can never
pair mismatched ones. samviz.training.state says what the names mean; this module reads and writes.

Every problem with a file on disk raises `CheckpointError` (a ValueError) whose message names the file
and what is wrong with it. Weights that are not finite (NaN or ±inf) are refused both ways: never
written as a checkpoint, never loaded.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
import secrets

import torch

import samviz

from .kinds import MODELS
from .memory.initial import INITIAL_ROWS_BEFORE_THE_SETTING
from .model import MemoryModel, ModelConfig

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024    # shipped models are < 1 MiB; refuse absurd files early
STATE_HEADER_KEY = "train_state"             # header metadata key of a training-state file


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded or saved: the message names the file and what is wrong with it."""


# ---------------------------------------------------------------------------------------------- writing

def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a new file in the same directory, then os.replace: readers never see half a file.

    The temporary file is created with mode 0o666 and the process umask applies, as for open(path, "w"):
    the finished file gets the usual permissions without reading (or changing) the umask.
    """
    path = Path(path)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors.torch.save (bytes) + atomic replace. Tensors are made contiguous and unshared."""
    from safetensors.torch import save
    plain = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    atomic_write_bytes(path, save(plain, metadata=metadata))


def non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or ±inf, in order."""
    return [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


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
    Raises CheckpointError, writing nothing, when a weight is not finite.
    """
    directory = Path(path_dir)
    weights = model.state_dict()
    bad = non_finite(weights)
    if bad:
        raise CheckpointError(f"{directory / WEIGHTS_FILE}: not saved: tensor(s) {', '.join(bad)} hold NaN or "
                              f"infinite values")
    directory.mkdir(parents=True, exist_ok=True)
    full = build_meta(model, meta)
    text = json.dumps(full, sort_keys=False)
    json.loads(text)   # fail here, before anything is written, if meta is not JSON-serialisable
    atomic_save_tensors(directory / WEIGHTS_FILE, weights, metadata={"samviz": text})
    atomic_write_json(directory / META_FILE, full)
    return directory


# ---------------------------------------------------------------------------------------------- reading

def read_meta(directory: Path) -> dict:
    """meta.json of a checkpoint directory, parsed and checked for the fields a load needs."""
    path = Path(directory) / META_FILE
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


def config_from_meta(meta: dict, path: Path, overrides: dict) -> ModelConfig:
    """meta["config"] with the non-None overrides applied, validated; CheckpointError naming `path` otherwise."""
    data = dict(meta["config"])
    # a checkpoint saved before the setting existed was trained from the rows of its time, not today's default
    data.setdefault("initial_rows", INITIAL_ROWS_BEFORE_THE_SETTING)
    data.update({k: v for k, v in overrides.items() if v is not None})
    kind = data.get("kind")
    if kind not in MODELS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r} (known: {', '.join(MODELS)})")
    try:
        return ModelConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid model config: {error}") from None


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file (bounded in size), on the CPU; CheckpointError if unreadable."""
    from safetensors.torch import load_file
    if not path.is_file():
        raise CheckpointError(f"{path}: missing file (the checkpoint has no weights)")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: file too large ({size} bytes > {MAX_CHECKPOINT_BYTES})")
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:   # SafetensorError, OSError, ...: a corrupt or truncated file
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file "
                              f"({type(error).__name__}: {error})") from None


def check_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path | str = "checkpoint") -> None:
    """Every tensor the model expects is present with the right shape and finite values, and nothing else is there."""
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
    bad = non_finite(tensors)
    if bad:
        raise CheckpointError(f"{path}: tensor(s) {', '.join(bad)} hold NaN or infinite values "
                              f"(a diverged training run?); refusing to load them")


# ------------------------------------------------------------------------------ optimizer state (codec)

def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """optimizer.state_dict() -> (tensors named "optim/<param id>/<key>", JSON-able rest). No pickle."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim/{param_id}/{key}"] = value
            else:
                scalars[f"{param_id}/{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict, info: dict) -> None:
    """The inverse of optimizer_to_tensors: load (tensors, info) into `optimizer` (other tensor names are ignored)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, param_id, key = name.split("/", 2)
            state.setdefault(int(param_id), {})[key] = value
    for name, value in info.get("scalars", {}).items():
        param_id, key = name.split("/", 1)
        state.setdefault(int(param_id), {})[key] = value
    groups = []
    for group in info["param_groups"]:
        group = dict(group)
        if "betas" in group and isinstance(group["betas"], list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------------------------- training-state file

def write_state_file(path: Path, tensors: dict[str, torch.Tensor], info: dict) -> None:
    """One safetensors file: the tensors, and `info` as JSON in its header (atomically replaced)."""
    atomic_save_tensors(path, tensors, metadata={STATE_HEADER_KEY: json.dumps(info)})


def read_state_file(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, info) of a training-state file; CheckpointError naming the file if it cannot be read."""
    from safetensors import safe_open
    path = Path(path)
    try:
        with safe_open(str(path), "pt") as handle:
            info = json.loads((handle.metadata() or {})[STATE_HEADER_KEY])
        tensors = read_tensors(path)
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(f"{path}: cannot resume from this training state "
                              f"({type(error).__name__}: {error})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: cannot resume from this training state (its header is not a JSON object)")
    return tensors, info
