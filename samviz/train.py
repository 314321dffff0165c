"""Train a memory model on a task with a curriculum: `python -m samviz.train --model sam --task copy`.

    python -m samviz.train --model ntm --task copy --out runs/ntm-copy            # per-task defaults
    python -m samviz.train --model ntm --task copy --out runs/ntm-copy --resume   # continue exactly

What one update does: the curriculum draws a level uniformly from [task.min_level, h]; a batch of
that level is sampled; loss = samviz.tasks.loss; Adam (or RMSProp) with gradient-norm clipping.
The curriculum's maximum level h doubles (capped at task.max_level) when the mean training loss over
the last `window` updates falls below `threshold` (Rae et al. 2016 §4.3, Graves et al. 2016).
Per-task defaults (TASK_DEFAULTS, and why) are below; copy and priority sort start at h = max_level
because a sweep showed the short-level start slowing them down; --start-level turns it back on.
Updates whose loss or gradient is not finite are skipped; 100 in a row stop the run ("diverged").

Every `eval_every` updates a fixed validation set covering level=None (the task's full default range:
one batch per level, equally weighted) is scored in bit errors per sequence; the best-scoring weights
are the checkpoint in --out (model.safetensors + meta.json, see samviz.pretrained). Training stops early once the curriculum has
reached task.max_level and validation is at or below the stop target.

Exact resumption: --out also holds train_state.safetensors — current weights, optimizer moments,
the data generator's and torch's RNG state, and (in its JSON header, copied to train_state.json for
reading) step, curriculum, validation history and hyperparameters. Same seed + same number of
updates → identical weights, whether or not the run was interrupted and resumed. Never pickle.
"""
from __future__ import annotations

import argparse
from collections import deque
import json
import math
from pathlib import Path
import shlex
import signal
import sys
import time

import torch

import samviz
from samviz import tasks as tasks_module
from samviz.model import MemoryModel, ModelConfig
from samviz.pretrained import (META_FILE, WEIGHTS_FILE, CheckpointError, atomic_save_tensors,
                               atomic_write_json, save_checkpoint)

STATE_FILE = "train_state.safetensors"
STATE_JSON = "train_state.json"
LOG_FILE = "train_log.jsonl"
STATE_FORMAT = 1
VALIDATION_SEED = 999          # fixed validation set; training seeds are small ints, evaluation uses 1234

from samviz.tasks import TARGETS  # noqa: E402
# Training stops early below this fraction of the target on the validation set (margin for fresh episodes).
STOP_FRACTION = 0.5
MAX_SKIPPED_IN_A_ROW = 100     # non-finite losses/gradients in a row: the run has diverged, stop it

# Per-task defaults; MODEL_DEFAULTS overrides per (model, task) or per model ("*" = every task).
# curriculum: start_level = first h, threshold = mean training loss (samviz.tasks.loss: BCE per scored
# bit, nats) over `window` updates.
# Chosen from a sweep (7–8 min per run, 1 thread each, 15 runs at once on a 16-core Xeon, torch 2.11):
#   copy  — starting the curriculum at h=4 trained a short-sequence solution that did not transfer
#           (NTM: still h=8 and 24 bit errors/seq after 12k updates, 4 variants of lr/threshold/optimizer);
#           starting at the full range converged in 1.75k–3.5k updates (NTM two seeds, SAM, DAM: ≤ 0.05
#           bit errors/seq), so copy starts at h = max_level. SAM copy diverged from that at lr 3e-3.
#   recall — lr 3e-3 with the curriculum from 2: NTM 0.0 bit errors/seq in 2.5k updates (seed 0),
#           DAM 0.2 in 9.5k; lr 1e-3 was slower; starting at 6 was worse. Seed-sensitive.
#   sort  — from h=4 every NTM variant stalled at h=4 (loss 0.13–0.17 > threshold); from the full range
#           DAM reached 9.1 bit errors/seq in 10k updates and was still improving; NTM lr 3e-3 diverged.
TASK_DEFAULTS: dict[str, dict] = {
    "copy": dict(slots=128, word_size=20, heads=2, k=4, controller=100, batch=16, lr=1e-3, steps=50_000,
                 start_level=20, threshold=0.02, window=100, eval_every=250, val_batch=64),
    "associative_recall": dict(slots=128, word_size=24, heads=2, k=4, controller=100, batch=16, lr=3e-3,
                               steps=50_000, start_level=2, threshold=0.03, window=100, eval_every=250,
                               val_batch=64),
    "priority_sort": dict(slots=128, word_size=20, heads=4, k=4, controller=100, batch=16, lr=1e-3,
                          steps=100_000, start_level=20, threshold=0.1, window=100, eval_every=250,
                          val_batch=64),
}
MODEL_DEFAULTS: dict[tuple[str, str], dict] = {
    ("ntm", "*"): dict(heads=1),
    ("ntm", "priority_sort"): dict(heads=2),
    ("dnc", "*"): dict(slots=64),        # O(N²) links: a smaller memory keeps the dense DNC trainable on CPU
}
COMMON_DEFAULTS = dict(index="exact", link_k=8, optimizer="adam", clip=10.0, seed=0, log_every=50,
                       checkpoint_every=1000, threads=1, time_limit=None, target=None)

# Hyperparameters that define a run: fixed at its start, restored by --resume.
RUN_KEYS = ("model", "task", "slots", "word_size", "heads", "k", "controller", "index", "link_k", "batch",
            "lr", "optimizer", "clip", "seed", "start_level", "threshold", "window", "eval_every",
            "val_batch", "target")
# Knobs a resumed run may change.
SESSION_KEYS = ("steps", "log_every", "checkpoint_every", "threads", "time_limit")


def defaults_for(model: str, task: str) -> dict:
    """The effective defaults for one (model, task): common, then task, then model-wide, then model+task."""
    if task not in TASK_DEFAULTS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASK_DEFAULTS)}")
    merged = {**COMMON_DEFAULTS, **TASK_DEFAULTS[task]}
    merged.update(MODEL_DEFAULTS.get((model, "*"), {}))
    merged.update(MODEL_DEFAULTS.get((model, task), {}))
    merged["target"] = TARGETS[task] * STOP_FRACTION
    return merged


# -------------------------------------------------------------------------------------------- curriculum

class Curriculum:
    """Maximum level h starts at `start` and doubles (capped at max_level) when the mean of the last
    `window` training losses falls below `threshold`; each batch's level is uniform in [min_level, h].
    The loss window restarts after every advance, so h moves at most once per `window` updates."""

    def __init__(self, min_level: int, max_level: int, start: int | None = None, threshold: float = 0.02,
                 window: int = 100, factor: int = 2):
        if not 1 <= min_level <= max_level:
            raise ValueError(f"need 1 ≤ min_level ≤ max_level (got {min_level}, {max_level})")
        self.min_level, self.max_level = int(min_level), int(max_level)
        self.level = int(min(max(start if start is not None else min_level, min_level), max_level))
        self.threshold, self.window, self.factor = float(threshold), int(window), int(factor)
        self.losses: deque = deque(maxlen=self.window)
        self.advances: list[tuple[int, int]] = []     # (update number, new h)

    @property
    def at_max(self) -> bool:
        return self.level >= self.max_level

    def sample_level(self, generator: torch.Generator) -> int:
        return int(torch.randint(self.min_level, self.level + 1, (1,), generator=generator).item())

    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else math.nan

    def update(self, loss: float, step: int | None = None) -> bool:
        """Record one update's training loss; returns True when h advanced."""
        if not math.isfinite(loss):
            return False
        self.losses.append(float(loss))
        if self.at_max or len(self.losses) < self.window or self.mean_loss() >= self.threshold:
            return False
        self.level = min(self.level * self.factor, self.max_level)
        self.losses.clear()
        self.advances.append((step if step is not None else -1, self.level))
        return True

    def state_dict(self) -> dict:
        return {"min_level": self.min_level, "max_level": self.max_level, "level": self.level,
                "threshold": self.threshold, "window": self.window, "factor": self.factor,
                "losses": list(self.losses), "advances": [list(a) for a in self.advances]}

    def load_state_dict(self, state: dict) -> None:
        self.min_level, self.max_level = int(state["min_level"]), int(state["max_level"])
        self.level, self.threshold = int(state["level"]), float(state["threshold"])
        self.window, self.factor = int(state["window"]), int(state["factor"])
        self.losses = deque((float(x) for x in state["losses"]), maxlen=self.window)
        self.advances = [tuple(a) for a in state.get("advances", [])]


# ---------------------------------------------------------------------------------- optimizer (de)serialise

def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=0.9, alpha=0.95, eps=1e-8)
    raise ValueError(f"unknown optimizer {name!r}; choose adam or rmsprop")


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """optimizer.state_dict() -> (tensors for safetensors, JSON-able rest). No pickle anywhere."""
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


# ------------------------------------------------------------------------------------------------ helpers

def build(run: dict, task) -> MemoryModel:
    return samviz.build_model(run["model"], input_size=task.input_size, output_size=task.output_size,
                              memory_slots=run["slots"], word_size=run["word_size"], heads=run["heads"],
                              k=run["k"], controller_size=run["controller"], index=run["index"],
                              link_k=run["link_k"], seed=run["seed"])


def mean_value(x) -> float:
    """bit_errors_per_sequence may return a float or a tensor per sequence: its mean as a float."""
    return float(torch.as_tensor(x, dtype=torch.float64).mean().item())


@torch.no_grad()
def score(model: MemoryModel, episode) -> tuple[float, float]:
    """(mean bit errors per sequence, loss) of the model on one episode batch, without gradients."""
    was_training = model.training
    model.eval()
    logits = model(episode.inputs)
    model.train(was_training)
    return mean_value(tasks_module.bit_errors_per_sequence(logits, episode)), float(tasks_module.loss(logits, episode))


def validation_levels(task) -> list[int]:
    """The levels that level=None draws from, each equally likely: [min_level..max_level] for tasks whose
    default is uniform over the range (copy, associative recall); [max_level] for priority sort (n = 20)."""
    if type(task).default_level is tasks_module.Task.default_level:
        return list(range(task.min_level, task.max_level + 1))
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    return sorted({int(task.default_level(generator)) for _ in range(64)})


def validation_set(task, episodes: int) -> list:
    """A fixed validation set for level=None: one batch per level of validation_levels(), about
    `episodes` episodes in all. The mean over batches is the expected score under level=None,
    without the noise of which levels a few random draws happen to pick (level=None draws one level
    per batch)."""
    levels = validation_levels(task)
    per_level = max(1, math.ceil(episodes / len(levels)))
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    return [task.sample(batch_size=per_level, level=level, generator=generator) for level in levels]


RUN_FLAGS = {"slots": "--slots", "word_size": "--word-size", "heads": "--heads", "k": "--k",
             "controller": "--controller", "index": "--index", "link_k": "--link-k", "batch": "--batch",
             "lr": "--lr", "optimizer": "--optimizer", "clip": "--clip", "start_level": "--start-level",
             "threshold": "--threshold", "window": "--window", "eval_every": "--eval-every",
             "val_batch": "--val-batch", "target": "--target"}
SPARSE_ONLY = {"k": ("sam", "sdnc"), "index": ("sam", "sdnc"), "link_k": ("sdnc",)}


def reproduce_command(run: dict, steps: int, out: str) -> str:
    """A command that reproduces this run's weights exactly (same torch build and thread count): every
    hyperparameter spelled out — defaults change between versions — plus the number of updates done."""
    parts = ["python", "-m", "samviz.train", "--model", run["model"], "--task", run["task"]]
    for key, flag in RUN_FLAGS.items():
        if key in SPARSE_ONLY and run["model"] not in SPARSE_ONLY[key]:
            continue     # shapes and results of dense models do not depend on it
        parts += [flag, str(run[key])]
    parts += ["--seed", str(run["seed"]), "--steps", str(steps), "--out", out]
    return shlex.join(parts)


class Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per report otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.inplace = hasattr(stream, "isatty") and stream.isatty()
        self.width = 0

    def show(self, text: str) -> None:
        if self.inplace:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.inplace and self.width:
            self.stream.write("\n")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.inplace and self.width:
            self.stream.write("\n")
            self.stream.flush()


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# ------------------------------------------------------------------------------------------------ trainer

class Trainer:
    """Owns one run: model, optimizer, curriculum, generators, validation, checkpoints."""

    def __init__(self, run: dict, session: dict, out: Path, command: str | None = None, progress: Progress | None = None):
        self.run, self.session = dict(run), dict(session)
        self.out = Path(out) if out is not None else None
        self.command = command
        self.progress = progress or Progress()
        self.task = tasks_module.get(run["task"])
        self.model = build(run, self.task)
        self.model.train()
        self.optimizer = make_optimizer(run["optimizer"], self.model.parameters(), run["lr"])
        self.curriculum = Curriculum(self.task.min_level, self.task.max_level, run["start_level"],
                                     run["threshold"], run["window"])
        self.generator = torch.Generator().manual_seed(run["seed"])
        self.step = 0
        self.wall_time = 0.0
        self.validations: list[dict] = []
        self.best: dict | None = None          # {"step", "bit_errors", "loss", "level"} of model.safetensors
        self.finished: str | None = None       # why training ended: "target", "steps", "diverged"
        self.skipped = 0                       # updates skipped for a non-finite loss or gradient
        self.skipped_in_a_row = 0
        self.bits_window: deque = deque(maxlen=100)
        self.loss_window: deque = deque(maxlen=100)
        self._validation = None
        self._stop_requested = False

    # -- validation
    def validation_batches(self) -> list:
        if self._validation is None:
            self._validation = validation_set(self.task, self.run["val_batch"])
        return self._validation

    def validate(self) -> dict:
        scores = [score(self.model, episode) for episode in self.validation_batches()]
        bits = sum(s[0] for s in scores) / len(scores)
        loss = sum(s[1] for s in scores) / len(scores)
        entry = {"step": self.step, "bit_errors": bits, "loss": loss, "level": self.curriculum.level,
                 "scheduled": self.step % self.run["eval_every"] == 0}   # False: the end of a session
        self.validations.append(entry)
        if self.best is None or bits < self.best["bit_errors"]:
            self.best = dict(entry)
            self.save_best()
        return entry

    def target_met(self, entry: dict) -> bool:
        return self.curriculum.at_max and entry["bit_errors"] <= self.run["target"]

    # -- checkpoints
    def meta(self, best: dict) -> dict:
        target = TARGETS[self.run["task"]]
        return {
            "task": self.run["task"],
            "level": best["level"],                      # curriculum h when these weights were validated
            "max_level": self.task.max_level,
            "metrics": {"bit_errors_per_sequence": best["bit_errors"], "loss": best["loss"],
                        "episodes": sum(e.inputs.shape[1] for e in self.validation_batches()),
                        "levels": validation_levels(self.task), "seed": VALIDATION_SEED,
                        "source": "training validation set (level=None: every level of the range, equally weighted)"},
            "target": target,
            "meets_target": bool(best["bit_errors"] <= target),
            "steps": best["step"],
            "training_steps": self.step,
            "wall_time_s": round(self.wall_time, 1),
            "finished": self.finished,
            "training": {k: self.run[k] for k in RUN_KEYS if k not in ("model", "task")},
            "curriculum": {"advances": [list(a) for a in self.curriculum.advances],
                           "level_final": self.curriculum.level},
            "validations": self.validations[-200:],
            "command": reproduce_command(self.run, best["step"], str(self.out)),
            "invocation": self.command,
            "threads": self.session["threads"],
        }

    def save_best(self) -> None:
        save_checkpoint(self.model, self.out, self.meta(self.best))

    def refresh_best_meta(self) -> None:
        """Rewrite meta.json (and the weights file's header) of the best weights with the final totals."""
        from safetensors.torch import load_file
        path = self.out / WEIGHTS_FILE
        if self.best is None or not path.is_file():
            return
        model = build(self.run, self.task)
        model.load_state_dict(load_file(str(path)))
        save_checkpoint(model, self.out, self.meta(self.best))

    def state_json(self) -> dict:
        return {"format": STATE_FORMAT, "run": self.run, "step": self.step, "wall_time_s": self.wall_time,
                "curriculum": self.curriculum.state_dict(), "validations": self.validations, "best": self.best,
                "finished": self.finished, "skipped": self.skipped, "skipped_in_a_row": self.skipped_in_a_row,
                "bits_window": list(self.bits_window), "loss_window": list(self.loss_window),
                "samviz_version": samviz.__version__, "torch_version": torch.__version__}

    def save_state(self) -> None:
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        optim_tensors, optim_info = optimizer_to_tensors(self.optimizer)
        tensors.update(optim_tensors)
        tensors["rng/data"] = self.generator.get_state()
        tensors["rng/torch"] = torch.get_rng_state()
        info = {**self.state_json(), "optimizer": optim_info}
        self.out.mkdir(parents=True, exist_ok=True)
        # one file holds everything (its JSON header included), so a crash can never pair mismatched halves
        atomic_save_tensors(self.out / STATE_FILE, tensors, metadata={"train_state": json.dumps(info)})
        atomic_write_json(self.out / STATE_JSON, info)   # a readable copy; never read back

    @classmethod
    def resume(cls, out: Path, session: dict, command: str | None = None, progress: Progress | None = None) -> "Trainer":
        from safetensors import safe_open
        from safetensors.torch import load_file
        path = Path(out) / STATE_FILE
        try:
            with safe_open(str(path), "pt") as handle:
                info = json.loads(handle.metadata()["train_state"])
            tensors = load_file(str(path))
        except Exception as error:
            raise CheckpointError(f"{path}: cannot resume from this training state ({type(error).__name__}: {error})") from None
        if info.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path}: unsupported training state format {info.get('format')!r}")
        trainer = cls(info["run"], session, out, command=command, progress=progress)
        trainer.model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
        optimizer_from_tensors(trainer.optimizer, tensors, info["optimizer"])
        trainer.generator.set_state(tensors["rng/data"])
        torch.set_rng_state(tensors["rng/torch"])
        trainer.curriculum.load_state_dict(info["curriculum"])
        trainer.step, trainer.wall_time = int(info["step"]), float(info["wall_time_s"])
        trainer.validations, trainer.best = info["validations"], info["best"]
        trainer.finished, trainer.skipped = info.get("finished"), int(info.get("skipped", 0))
        trainer.skipped_in_a_row = int(info.get("skipped_in_a_row", 0))
        trainer.bits_window.extend(info.get("bits_window", []))
        trainer.loss_window.extend(info.get("loss_window", []))
        trainer.truncate_log()
        return trainer

    def truncate_log(self) -> None:
        """Drop log lines past the resumed step (written after the last state save)."""
        path = self.out / LOG_FILE
        if not path.is_file():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= self.step:
                    kept.append(line)
            except json.JSONDecodeError:
                pass
        path.write_text("".join(line + "\n" for line in kept))

    def log(self, record: dict) -> None:
        with open(self.out / LOG_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    # -- training
    def update(self) -> float:
        level = self.curriculum.sample_level(self.generator)
        episode = self.task.sample(batch_size=self.run["batch"], level=level, generator=self.generator)
        logits = self.model(episode.inputs)
        loss = tasks_module.loss(logits, episode)
        self.optimizer.zero_grad(set_to_none=True)
        value = float(loss.item())
        self.step += 1
        if not math.isfinite(value):
            self.skipped += 1
            self.skipped_in_a_row += 1
            return value
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.run["clip"])
        if not torch.isfinite(norm):
            # a NaN/inf gradient would poison every weight through Adam: skip this update instead
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            self.skipped_in_a_row += 1
            return value
        self.skipped_in_a_row = 0
        self.optimizer.step()
        self.loss_window.append(value)
        self.bits_window.append(mean_value(tasks_module.bit_errors_per_sequence(logits.detach(), episode)))
        if self.curriculum.update(value, self.step):
            self.progress.message(f"step {self.step}: curriculum level h → {self.curriculum.level}")
        return value

    def request_stop(self, *_args) -> None:
        self._stop_requested = True

    def train(self) -> dict:
        """Run until steps, early stop, time limit or a stop signal. Returns a summary dict."""
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(self.session["threads"])
        steps, time_limit = self.session["steps"], self.session["time_limit"]
        name = f"{self.run['model']}-{self.run['task']}"
        if self.finished in ("target", "diverged"):
            self.progress.message(f"{name}: already finished ({self.finished}; best at step "
                                  f"{self.best and self.best['step']}); nothing to do")
            return self.summary("already finished")
        self.finished = None                   # a run that had reached its old --steps goes on
        start = time.monotonic()
        session_start_step, last_time = self.step, start
        stop_reason = None
        while self.step < steps:
            if self._stop_requested:
                stop_reason = "interrupted"
                break
            if time_limit is not None and time.monotonic() - start >= time_limit:
                stop_reason = "time limit"
                break
            self.update()
            if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                self.finished, stop_reason = "diverged", f"diverged ({self.skipped_in_a_row} non-finite updates in a row)"
                break
            now = time.monotonic()
            self.wall_time += now - last_time
            last_time = now
            if self.step % self.run["eval_every"] == 0:
                entry = self.validate()
                self.log({"step": self.step, "validation_bit_errors": entry["bit_errors"],
                          "validation_loss": entry["loss"], "level": self.curriculum.level})
                if self.target_met(entry):
                    self.finished, stop_reason = "target", "target met"
            if self.step % self.session["log_every"] == 0 or stop_reason:
                elapsed = now - start
                rate = (self.step - session_start_step) / elapsed if elapsed > 0 else math.nan
                remaining = (steps - self.step) / rate if rate and rate > 0 else math.inf
                if time_limit is not None:
                    remaining = min(remaining, max(0.0, time_limit - elapsed))
                loss = sum(self.loss_window) / len(self.loss_window) if self.loss_window else math.nan
                bits = sum(self.bits_window) / len(self.bits_window) if self.bits_window else math.nan
                val = self.validations[-1]["bit_errors"] if self.validations else math.nan
                self.progress.show(f"{name} step {self.step}/{steps} loss {loss:.4f} bits/seq {bits:.2f} "
                                   f"val {val:.2f} h {self.curriculum.level}/{self.task.max_level} "
                                   f"{rate:.2f} steps/s ETA {format_seconds(remaining)}")
                self.log({"step": self.step, "loss": loss, "bit_errors": bits, "level": self.curriculum.level,
                          "steps_per_s": rate, "wall_time_s": round(self.wall_time, 2)})
            if stop_reason:
                break
            if self.step % self.session["checkpoint_every"] == 0:
                self.save_state()
        if stop_reason is None:
            stop_reason = "steps"
            self.finished = "steps"
        if not self.validations or self.validations[-1]["step"] != self.step:
            entry = self.validate()
            if self.target_met(entry) and stop_reason == "steps":
                self.finished = "target"
        self.save_state()
        self.refresh_best_meta()
        self.progress.close()
        best = self.best or {}
        self.progress.message(f"{name}: stopped ({stop_reason}) at step {self.step}; best validation "
                              f"{best.get('bit_errors', math.nan):.3f} bit errors/seq at step {best.get('step')} "
                              f"(target {TARGETS[self.run['task']]}); checkpoint in {self.out}")
        return self.summary(stop_reason)

    def summary(self, reason: str) -> dict:
        return {"reason": reason, "step": self.step, "level": self.curriculum.level, "best": self.best,
                "wall_time_s": self.wall_time, "finished": self.finished}


# ---------------------------------------------------------------------------------------------------- CLI

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m samviz.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=samviz.MODELS)
    parser.add_argument("--task", required=True, choices=sorted(TASK_DEFAULTS))
    parser.add_argument("--slots", type=int, help="memory slots N")
    parser.add_argument("--word-size", type=int, help="word size W")
    parser.add_argument("--heads", type=int, help="read heads R")
    parser.add_argument("--k", type=int, help="neighbours per sparse read (sam, sdnc)")
    parser.add_argument("--index", choices=samviz.INDEXES, help="nearest-neighbour index of sparse models")
    parser.add_argument("--link-k", type=int, help="SDNC: entries kept per sparse link row")
    parser.add_argument("--controller", type=int, help="LSTM controller units")
    parser.add_argument("--batch", type=int, help="episodes per update")
    parser.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    parser.add_argument("--optimizer", choices=("adam", "rmsprop"))
    parser.add_argument("--clip", type=float, help="gradient-norm clipping (default 10)")
    parser.add_argument("--steps", type=int, help="total updates (a resumed run continues up to this number)")
    parser.add_argument("--seed", type=int, help="seed of the weights and of the training episodes (default 0)")
    parser.add_argument("--start-level", type=int, help="first curriculum maximum h")
    parser.add_argument("--threshold", type=float, help="curriculum: mean training loss that doubles h")
    parser.add_argument("--window", type=int, help="curriculum: updates averaged for the threshold")
    parser.add_argument("--eval-every", type=int, help="updates between validations")
    parser.add_argument("--val-batch", type=int, help="validation episodes (spread over the levels of level=None)")
    parser.add_argument("--target", type=float, help="stop when validation bit errors/seq ≤ this at max level")
    parser.add_argument("--out", help="run directory (default runs/<model>-<task>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out if there is one")
    parser.add_argument("--log-every", type=int, help="updates between progress lines")
    parser.add_argument("--checkpoint-every", type=int, help="updates between training-state checkpoints")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default 1)")
    parser.add_argument("--time-limit", type=float, help="stop cleanly (with a checkpoint) after this many seconds")
    return parser.parse_args(argv)


def resolve_args(args: argparse.Namespace) -> tuple[dict, dict, Path]:
    defaults = defaults_for(args.model, args.task)
    given = {k: v for k, v in vars(args).items() if v is not None}
    merged = {**defaults, **given}
    run = {k: merged[k] for k in RUN_KEYS}
    session = {k: merged[k] if k in merged else None for k in SESSION_KEYS}
    for key in ("steps", "log_every", "checkpoint_every", "threads", "batch", "eval_every", "val_batch", "window"):
        value = run.get(key, session.get(key))
        if not isinstance(value, int) or value < 1:
            raise SystemExit(f"--{key.replace('_', '-')} must be a positive integer (got {value!r})")
    ModelConfig(kind=run["model"], memory_slots=run["slots"], word_size=run["word_size"], heads=run["heads"],
                k=run["k"], controller_size=run["controller"], index=run["index"], link_k=run["link_k"]).validate()
    out = Path(args.out) if args.out else Path("runs") / f"{args.model}-{args.task}"
    return run, session, out


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run, session, out = resolve_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = shlex.join(["python", "-m", "samviz.train", *(sys.argv[1:] if argv is None else argv)])
    progress = Progress()
    if (out / STATE_FILE).is_file():
        if not args.resume:
            print(f"error: {out} already holds a training run; pass --resume to continue it "
                  f"or choose another --out", file=sys.stderr)
            return 2
        trainer = Trainer.resume(out, session, command=command, progress=progress)
        changed = [k for k in RUN_KEYS if k in vars(args) and getattr(args, k) is not None
                   and getattr(args, k) != trainer.run[k]]
        if changed:
            progress.message(f"note: resuming keeps the run's own {', '.join(changed)} (from {out / STATE_FILE})")
        progress.message(f"resuming {out} at step {trainer.step} (curriculum h {trainer.curriculum.level})")
    else:
        if (out / WEIGHTS_FILE).exists() or (out / META_FILE).exists():
            # e.g. a shipped checkpoint whose training state was not kept: never overwrite it
            print(f"error: {out} already holds a checkpoint without a training state ({STATE_FILE}); "
                  f"it cannot be resumed — choose another --out", file=sys.stderr)
            return 2
        trainer = Trainer(run, session, out, command=command, progress=progress)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, trainer.request_stop)
    trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
