"""The on-disk formats: a checkpoint directory, and the training state a run resumes from. Never pickle.

A checkpoint is a directory with two files:

    model.safetensors   the weights (safetensors: plain tensors); its header metadata
                        {"samviz": <the same JSON as meta.json, less "weights_sha256">} makes the file
                        self-describing
    meta.json           {"format_version", "config": ModelConfig.to_dict(), "task", "level", "metrics",
                         "steps", "wall_time_s", "samviz_version", "torch_version", "command",
                         "weights_sha256", ...}

Weights and metadata are published together by a manifest, not by a directory rename: "weights_sha256" is the
SHA-256 of the weights file's data section (every tensor's bytes, as stored), written into meta.json and into
the weights file's own header. A save replaces the weights file, then meta.json (each atomically); `load`
reads both and accepts them only when meta.json's digest is that of the weights it read, so a reader never
pairs one save's weights with another save's metrics. A read that lands between a save's two replaces sees a
self-consistent weights file (its header's digest is its data's) beside another digest in meta.json, and reads
again (TORN_READ_TRIES). Why not a directory rename: a checkpoint is the run directory itself, which also holds
the training state and the log, and rename(2) cannot replace a non-empty directory; a symlink swap would change
what every existing path points at. Checkpoints saved before the digest existed (every meta.json without
"weights_sha256", and weights without one in their header) load as they always did; meta.json without a digest
beside weights that carry one is a torn read too.

Before anything is built or allocated, loading checks the metadata: meta.json is at most MAX_META_BYTES, its
nesting is bounded (a RecursionError is a refusal), its fields have the types they should, every model size is
an integer in MODEL_SIZE_LIMITS, and the shapes the configured model needs (computed on torch's "meta" device:
no memory) are the shapes in the weights file's header (read without loading a tensor). A tampered size
("controller_size": 200000) is a refusal, never an allocation.

A training state is one safetensors file whose tensors are named by role ("model/<name>",
"optim/<param id>/<key>", "rng/<name>") and whose header metadata {"train_state": JSON} holds the rest
(step, curriculum, optimizer hyper-parameters, ...). One file holds both halves, so a crash can never
pair mismatched ones. samviz.training.state says what the names mean; this module reads and writes.

Every problem with a file on disk raises `CheckpointError` (a ValueError) whose message names the file
and what is wrong with it. Weights that are not finite (NaN or ±inf) are refused both ways: never
written as a checkpoint, never loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import secrets
import struct
import time

import torch

import samviz

from .kinds import MODELS
from .memory.initial import INITIAL_ROWS_BEFORE_THE_SETTING
from .model import MAX_SLOTS, SIZE_RANGES, MemoryModel, ModelConfig

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024    # shipped models are < 1 MiB; refuse absurd files early
MAX_META_BYTES = 4 * 1024 * 1024            # shipped meta.json files are < 32 KiB
MAX_HEADER_BYTES = 16 * 1024 * 1024         # a safetensors header (names, shapes, offsets and the embedded meta)
STATE_HEADER_KEY = "train_state"             # header metadata key of a training-state file
DIGEST_KEY = "weights_sha256"                # meta.json (and the weights' header): SHA-256 of the weights' data
TORN_READ_TRIES = 20                         # reads of a checkpoint a save is replacing, before giving up
TORN_READ_PAUSE_S = 0.02                     # between them (a save replaces its two files within milliseconds)
MAX_IO_SIZE = 4096                           # a task's input or output vector (the tasks here: under 30)
# Every size of a model's config (inclusive bounds): what a training run may have (samviz.model.SIZE_RANGES, which
# samviz.training.config's bounds include, and MAX_SLOTS), so no checkpoint samviz wrote is refused.
MODEL_SIZE_LIMITS = {"input_size": (1, MAX_IO_SIZE), "output_size": (1, MAX_IO_SIZE), "memory_slots": (2, MAX_SLOTS),
                     **SIZE_RANGES}
# The types of meta.json's top-level fields that samviz reads (None: absent or null is allowed too).
META_FIELD_TYPES = {"task": str, "level": int, "max_level": int, "metrics": dict, "steps": int,
                    "training_steps": int, "wall_time_s": (int, float), "meets_target": bool, "command": str,
                    "invocation": str, "evaluation": dict, "training": dict, "curriculum": dict,
                    "validations": list, "target": (int, float), "finished": str, "threads": int,
                    DIGEST_KEY: str}
SAFETENSORS_FLOATS = ("F16", "BF16", "F32", "F64")


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


def data_digest(weights: bytes) -> str:
    """SHA-256 (hex) of a safetensors file's data section: every tensor's bytes as stored, not the header (so the
    header may carry it). CheckpointError-free: a file too short for its header digests what follows it."""
    size = struct.unpack("<Q", weights[:8])[0] if len(weights) >= 8 else 0
    return hashlib.sha256(memoryview(weights)[8 + size:] if 8 + size <= len(weights) else b"").hexdigest()


def save_checkpoint(model: MemoryModel, path_dir, meta: dict | None = None) -> Path:
    """Write <path_dir>/model.safetensors, then <path_dir>/meta.json (each atomically), both carrying the SHA-256
    of the weights' data (the module docstring: how a reader never pairs two saves). Returns the directory.

    `meta` holds what training knows: task, level, metrics, steps, wall_time_s, command, meets_target, ...
    Raises CheckpointError, writing nothing, when a weight is not finite.
    """
    from safetensors.torch import save
    directory = Path(path_dir)
    weights = model.state_dict()
    bad = non_finite(weights)
    if bad:
        raise CheckpointError(f"{directory / WEIGHTS_FILE}: not saved: tensor(s) {', '.join(bad)} hold NaN or "
                              f"infinite values")
    directory.mkdir(parents=True, exist_ok=True)
    full = {key: value for key, value in build_meta(model, meta).items() if key != DIGEST_KEY}
    json.loads(json.dumps(full))   # fail here, before anything is written, if meta is not JSON-serialisable
    plain = {name: t.detach().to("cpu").contiguous().clone() for name, t in weights.items()}
    full[DIGEST_KEY] = data_digest(save(plain))            # the data section does not depend on the header
    atomic_write_bytes(directory / WEIGHTS_FILE, save(plain, metadata={"samviz": json.dumps(full, sort_keys=False)}))
    atomic_write_json(directory / META_FILE, full)
    return directory


# ---------------------------------------------------------------------------------------------- reading

def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, refused (CheckpointError) when missing, unreadable or over `limit` bytes."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing file ({what})") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read it ({error.strerror or error})") from None
    if len(data) > limit:
        raise CheckpointError(f"{path}: file too large (over {limit} bytes)")
    return data


def parse_json(data: bytes, path: Path, what: str = "invalid JSON"):
    """json.loads with every failure a CheckpointError naming `path` (bad UTF-8, bad JSON, nesting too deep)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: {what} ({error})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: {what} (nested too deeply)") from None


def check_meta(meta, path: Path) -> dict:
    """meta.json's content checked for what a load and the pages read: an object, a known format, a "config"
    object, and the right type for every known field (META_FIELD_TYPES)."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: invalid meta — expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise CheckpointError(f"{path}: unsupported format_version {str(version)[:40]!r} "
                              f"(this samviz reads {FORMAT_VERSION})")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: invalid meta — no model \"config\" object")
    for name, kind in META_FIELD_TYPES.items():
        value = meta.get(name)
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise CheckpointError(f"{path}: invalid meta — \"{name}\" must be {expected}, got "
                                  f"{type(value).__name__}")
    digest = meta.get(DIGEST_KEY)
    if digest is not None and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise CheckpointError(f"{path}: invalid meta — \"{DIGEST_KEY}\" is not a SHA-256 in hex")
    return meta


def read_meta(directory: Path) -> dict:
    """meta.json of a checkpoint directory, parsed (bounded in size and nesting) and checked (check_meta)."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing file (a checkpoint needs {META_FILE} beside {WEIGHTS_FILE})")
    data = read_bounded(path, MAX_META_BYTES, f"a checkpoint needs {META_FILE} beside {WEIGHTS_FILE}")
    return check_meta(parse_json(data, path), path)


def config_from_meta(meta: dict, path: Path, overrides: dict) -> ModelConfig:
    """meta["config"] with the non-None overrides applied, validated: every size an integer within
    MODEL_SIZE_LIMITS (checked before ModelConfig sees it); CheckpointError naming `path` otherwise."""
    data = dict(meta["config"])
    # a checkpoint saved before the setting existed was trained from the rows of its time, not today's default
    data.setdefault("initial_rows", INITIAL_ROWS_BEFORE_THE_SETTING)
    data.update({k: v for k, v in overrides.items() if v is not None})
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in MODELS:
        raise CheckpointError(f"{path}: unknown model kind {str(kind)[:40]!r} (known: {', '.join(MODELS)})")
    for name, (low, high) in MODEL_SIZE_LIMITS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(f"{path}: invalid model config: {name} must be an integer in [{low}, {high}] "
                                  f"(got {str(value)[:40]})")
    try:
        return ModelConfig.from_dict(data)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid model config: {error}") from None


def read_header(weights: bytes, path: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict]:
    """A safetensors file's header, without loading a tensor -> ({name: (dtype, shape)}, header metadata).
    CheckpointError when the header is malformed or its tensors do not tile the data section."""
    corrupt = f"{path}: corrupt or truncated safetensors file"
    if len(weights) < 8:
        raise CheckpointError(f"{corrupt} (shorter than its header's length)")
    size = struct.unpack("<Q", weights[:8])[0]
    if size > MAX_HEADER_BYTES or 8 + size > len(weights):
        raise CheckpointError(f"{corrupt} (a header of {size} bytes in a file of {len(weights)})")
    header = parse_json(bytes(weights[8:8 + size]), path, "corrupt or truncated safetensors file: invalid header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{corrupt} (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{corrupt} (its header's metadata is not a JSON object)")
    data_size = len(weights) - 8 - size
    entries = {}
    for name, entry in header.items():
        ok = isinstance(entry, dict) and isinstance(entry.get("dtype"), str) and isinstance(entry.get("shape"), list) \
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in entry["shape"]) \
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2 \
            and all(isinstance(o, int) and not isinstance(o, bool) and 0 <= o <= data_size
                    for o in entry["data_offsets"])
        if not ok:
            raise CheckpointError(f"{corrupt} (tensor {name[:80]!r}: malformed entry in the header)")
        entries[name] = (entry["dtype"], tuple(entry["shape"]))
    return entries, metadata


def expected_tensors(config: ModelConfig) -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
    """{name: (dtype, shape)} of the state dict a model of `config` has, from a model built on torch's "meta"
    device (shapes only: nothing is allocated, whatever the sizes)."""
    with torch.device("meta"):
        model = MemoryModel(config)
    return {name: (t.dtype, tuple(t.shape)) for name, t in model.state_dict().items()}


def check_header(config: ModelConfig, entries: dict, path: Path) -> None:
    """The weights file holds exactly the tensors a `config` model has, with their shapes and a float dtype."""
    expected = expected_tensors(config)
    missing = sorted(set(expected) - set(entries))
    unexpected = sorted(set(entries) - set(expected))
    if missing:
        raise CheckpointError(f"{path}: missing tensor(s) {', '.join(missing)} for a {config.kind} model")
    if unexpected:
        shown = ", ".join(name[:80] for name in unexpected[:10]) + (" …" if len(unexpected) > 10 else "")
        raise CheckpointError(f"{path}: unexpected tensor(s) {shown} for a {config.kind} model")
    for name, (dtype, shape) in entries.items():
        want = expected[name][1]
        if shape != want:
            raise CheckpointError(
                f"{path}: wrong shape for tensor {name}: {list(shape)} in the file, the config "
                f"({config.kind}, heads={config.heads}, word_size={config.word_size}, "
                f"controller_size={config.controller_size}, input_size={config.input_size}, "
                f"output_size={config.output_size}, memory_slots={config.memory_slots}) needs {list(want)}")
        if expected[name][0].is_floating_point and dtype not in SAFETENSORS_FLOATS:
            raise CheckpointError(f"{path}: tensor {name} has dtype {dtype[:20]}, expected floating point")


def embedded_digest(metadata: dict) -> str | None:
    """The weights digest the weights file's own header carries (None for files saved before it existed)."""
    try:
        embedded = json.loads(metadata.get("samviz", "null"))
    except (TypeError, ValueError, RecursionError):
        return None
    return embedded.get(DIGEST_KEY) if isinstance(embedded, dict) else None


def read_pair(directory: Path) -> tuple[dict, bytes, dict, dict]:
    """meta.json and the weights of ONE save -> (meta, weights bytes, header entries, header metadata).

    Reads both; when meta.json's digest is not that of the weights read while the weights file is itself whole
    (its header's digest is its data's: a save replaced it and has not yet replaced meta.json, or meta.json
    is older than the digest), reads both again, up to TORN_READ_TRIES times. What stays mismatched is left to
    `load_checkpoint` to name, after the checks that say more (a weights file replaced by hand)."""
    weights_path = directory / WEIGHTS_FILE
    for attempt in range(TORN_READ_TRIES):
        meta = read_meta(directory)
        weights = read_bounded(weights_path, MAX_CHECKPOINT_BYTES, "the checkpoint has no weights")
        entries, metadata = read_header(weights, weights_path)
        digest = data_digest(weights)
        if meta.get(DIGEST_KEY) == digest or embedded_digest(metadata) != digest:
            break           # one save's pair, or weights that no save wrote as they are (nothing to wait for)
        time.sleep(TORN_READ_PAUSE_S * (1 + attempt % 4))
    return meta, weights, entries, metadata


def load_checkpoint(directory: Path, overrides: dict | None = None) -> MemoryModel:
    """The model saved in `directory`, in eval mode, with model.meta = meta.json's content (plus "name" and
    "path"). Everything is checked before the model is built (the module docstring); CheckpointError naming the
    file otherwise."""
    from safetensors.torch import load as load_bytes
    directory = Path(directory)
    weights_path = directory / WEIGHTS_FILE
    meta, weights, entries, metadata = read_pair(directory)
    config = config_from_meta(meta, directory / META_FILE, overrides or {})
    try:
        check_header(config, entries, weights_path)
    except ModuleNotFoundError as error:
        raise CheckpointError(f"{directory}: model kind {config.kind!r} is not available in this samviz "
                              f"({error})") from None
    try:
        tensors = load_bytes(bytes(weights))
    except Exception as error:   # SafetensorError: offsets that do not tile the data, a bad dtype, ...
        raise CheckpointError(f"{weights_path}: corrupt or truncated safetensors file "
                              f"({type(error).__name__}: {error})") from None
    bad = non_finite(tensors)
    if bad:
        raise CheckpointError(f"{weights_path}: tensor(s) {', '.join(bad)} hold NaN or infinite values "
                              f"(a diverged training run?); refusing to load them")
    digest, actual = meta.get(DIGEST_KEY), data_digest(weights)
    if (digest is not None and digest != actual) or (digest is None and embedded_digest(metadata) is not None):
        raise CheckpointError(f"{weights_path}: these weights are not the ones {META_FILE} describes (its "
                              f"{DIGEST_KEY} is {str(digest)[:12]}…, the file's data {actual[:12]}…): the two "
                              f"files come from different saves, or one was replaced by hand")
    del weights
    try:
        model = MemoryModel(config)
    except ModuleNotFoundError as error:
        raise CheckpointError(f"{directory}: model kind {config.kind!r} is not available in this samviz "
                              f"({error})") from None
    check_tensors(model, tensors, weights_path)
    model.load_state_dict(tensors, strict=True)
    model.meta = {**meta, "name": directory.name, "path": str(directory)}
    model.eval()
    return model


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
