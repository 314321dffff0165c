"""The training state in a run directory: what `--resume` continues from, exactly.

    <out>/train_state.safetensors   tensors "model/<name>" (current weights), "optim/<param>/<key>"
                                    (optimizer moments), "rng/data" and "rng/torch" (generator states);
                                    its header (samviz.checkpoint.write_state_file) holds the JSON below
    <out>/train_state.json          a readable copy of that JSON; never read back

The JSON: {"format", "config": TrainConfig.to_dict(), "step", "wall_time_s", "curriculum", "validations",
"best", "finished", "skipped", "skipped_in_a_row", "bits_window", "loss_window", "optimizer", versions}.
Format 1 (the first trainer) has "run" instead of "config", with its names (model, slots, controller);
both are read. Same seed + same number of updates → identical weights, whether or not the run was
interrupted and resumed.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

import samviz
from samviz.checkpoint import (
    CheckpointError,
    atomic_write_json,
    non_finite,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_state_file,
    write_state_file,
)

from .config import InvalidSetting, TrainConfig
from .trainer import Trainer

STATE_FILE = "train_state.safetensors"
STATE_JSON = "train_state.json"
STATE_FORMAT = 2
READABLE_FORMATS = (1, 2)


class SavedRun(NamedTuple):
    """A training state read from disk: its run settings (session fields are defaults), tensors and JSON."""
    config: TrainConfig
    tensors: dict[str, torch.Tensor]
    info: dict
    path: Path


def save(trainer: Trainer) -> None:
    """Write the trainer's whole state to <out>/train_state.safetensors (atomically), and its readable copy.
    Under torchrun only rank 0 writes (every process holds the same state)."""
    if not trainer.writes:
        return
    tensors = {f"model/{k}": v for k, v in trainer.model.state_dict().items()}
    optim_tensors, optim_info = optimizer_to_tensors(trainer.optimizer)
    tensors.update(optim_tensors)
    tensors["rng/data"] = trainer.generator.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    info = {"format": STATE_FORMAT, "config": trainer.config.to_dict(), "step": trainer.step,
            "wall_time_s": trainer.wall_time, "curriculum": trainer.curriculum.state_dict(),
            "validations": trainer.validations, "best": trainer.best, "finished": trainer.finished,
            "skipped": trainer.skipped, "skipped_in_a_row": trainer.skipped_in_a_row,
            "bits_window": list(trainer.bits_window), "loss_window": list(trainer.loss_window),
            "samviz_version": samviz.__version__, "torch_version": torch.__version__, "optimizer": optim_info}
    trainer.out.mkdir(parents=True, exist_ok=True)
    write_state_file(trainer.out / STATE_FILE, tensors, info)
    atomic_write_json(trainer.out / STATE_JSON, info)


def read(out: Path, task=None) -> SavedRun:
    """The training state in `out`; CheckpointError naming the file when it is unreadable or inconsistent.
    task: the task its settings are checked against when it is not the named task's own range (a long
    curriculum's tasks.LongTask; TrainConfig.validate)."""
    path = Path(out) / STATE_FILE
    tensors, info = read_state_file(path)
    if info.get("format") not in READABLE_FORMATS:
        raise CheckpointError(f"{path}: unsupported training state format {info.get('format')!r} "
                              f"(this samviz reads {', '.join(map(str, READABLE_FORMATS))})")
    settings = info.get("config" if info["format"] >= 2 else "run")
    if not isinstance(settings, dict):
        raise CheckpointError(f"{path}: inconsistent training state (no run settings)")
    try:
        config = TrainConfig.from_dict(settings).validate(task)
    except (TypeError, ValueError) as error:
        field = f" ({error.field})" if isinstance(error, InvalidSetting) and error.field else ""
        raise CheckpointError(f"{path}: invalid run settings{field}: {error}") from None
    bad = non_finite({k: v for k, v in tensors.items() if k.startswith("model/")})
    if bad:
        raise CheckpointError(f"{path}: tensor(s) {', '.join(bad)} hold NaN or infinite values; cannot resume")
    return SavedRun(config, tensors, info, path)


def restore(saved: SavedRun, session: TrainConfig, command: str | None = None, progress=None,
            group=None, trainer_class: type[Trainer] = Trainer) -> Trainer:
    """A Trainer continuing `saved` exactly, with `session`'s session settings (steps, threads, ...).
    trainer_class: Trainer or a subclass that is built from the same arguments (the long curriculum's)."""
    trainer = trainer_class(saved.config.with_session(session), saved.path.parent, command=command,
                            progress=progress, group=group)
    tensors, info = saved.tensors, saved.info
    try:
        trainer.model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
        optimizer_from_tensors(trainer.optimizer, tensors, info["optimizer"])
        trainer.generator.set_state(tensors["rng/data"])
        torch.set_rng_state(tensors["rng/torch"])
        trainer.curriculum.load_state_dict(info["curriculum"])
        trainer.step, trainer.wall_time = int(info["step"]), float(info["wall_time_s"])
        trainer.validations, trainer.best = list(info["validations"]), info["best"]
        trainer.finished, trainer.skipped = info.get("finished"), int(info.get("skipped", 0))
        trainer.skipped_in_a_row = int(info.get("skipped_in_a_row", 0))
        trainer.bits_window.extend(info.get("bits_window", []))
        trainer.loss_window.extend(info.get("loss_window", []))
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{saved.path}: inconsistent training state ({type(error).__name__}: {error})") from None
    trainer.truncate_log()
    return trainer
