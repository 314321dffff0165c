"""The Trainer: one run's model, optimizer, curriculum, data generator, validation and checkpoints.

What one update does: the curriculum draws a level; a batch of that level is sampled; loss =
samviz.tasks.loss; Adam (or RMSProp) with gradient-norm clipping. Updates whose loss or gradient is not
finite are skipped; MAX_SKIPPED_IN_A_ROW in a row stop the run ("diverged"). Weights that become
non-finite all the same stop it at once, and are never saved.

Under torchrun (`group`), each process trains on its share of every batch and DDP averages the gradients
(samviz.training.distributed says how the processes agree); rank 0 alone writes files.

Every `eval_every` updates a fixed validation set covering level=None (the task's full default range: one
batch per level, equally weighted) is scored in bit errors per sequence; the best-scoring weights are the
checkpoint in `out` (model.safetensors + meta.json, samviz.checkpoint). "Scored" means the worst level's mean
(config.select "worst_level", the default: a model must solve every level) or the mean over levels ("mean").
Training stops early once the curriculum has reached task.max_level and that score is at or below the stop
target.

The learning study's options (docs/LEARNING_STUDY.md), off by default: config.min_level raises the lowest level
the curriculum draws (priority sort at n = 20 only, as the paper trains it); config.mark_every scores the model
at update 0, every mark_every updates and where a finished run ended, on a fixed set of fresh episodes of its
own seed (MARK_SEED), written to marks.jsonl and read by nothing in training.
"""
from __future__ import annotations

from collections import deque
import json
import math
from pathlib import Path
import time

import torch

from samviz import tasks as tasks_module
from samviz.checkpoint import WEIGHTS_FILE, read_tensors, save_checkpoint
from samviz.curriculum import Curriculum
from samviz.model import MemoryModel
from samviz.tasks import TARGETS

from . import distributed
from .config import MARK_EPISODES, MARK_SEED, TrainConfig
from .distributed import ProcessGroup
from .progress import Progress, format_seconds

LOG_FILE = "train_log.jsonl"
MARKS_FILE = "marks.jsonl"     # the learning study's marks (config.mark_every), one JSON object per line
MARK_CHUNK = 64                # episodes scored at once at a mark (bounds the memory of a large-N model)
VALIDATION_SEED = 999          # fixed validation set; training seeds are small ints, evaluation uses 1234
MAX_SKIPPED_IN_A_ROW = 100     # non-finite losses/gradients in a row: the run has diverged, stop it
WINDOW = 100                   # updates averaged in the progress line


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=0.9, alpha=0.95, eps=1e-8)
    raise ValueError(f"unknown optimizer {name!r}; choose adam or rmsprop")


@torch.no_grad()
def score(model: MemoryModel, episode: tasks_module.Episode) -> tuple[float, float]:
    """(mean bit errors per sequence, loss) of the model on one episode batch, without gradients."""
    was_training = model.training
    model.eval()
    logits = model(episode.inputs)
    model.train(was_training)
    return tasks_module.bit_errors_per_sequence(logits, episode), float(tasks_module.loss(logits, episode))


def validation_levels(task: tasks_module.Task) -> list[int]:
    """The levels the validation set spreads over: the task's range (samviz.tasks.range_levels)."""
    return tasks_module.range_levels(task)


def validation_set(task: tasks_module.Task, episodes: int) -> list[tasks_module.Episode]:
    """A fixed validation set for level=None: one batch per level of validation_levels(), about `episodes`
    episodes in all. The mean over batches is the expected score under level=None, without the noise of
    which levels a few random draws happen to pick (level=None draws one level per batch)."""
    levels = validation_levels(task)
    per_level = max(1, math.ceil(episodes / len(levels)))
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    return [task.sample(batch_size=per_level, level=level, generator=generator) for level in levels]


def mark_set(task: tasks_module.Task, episodes: int) -> list[tasks_module.Episode]:
    """The learning study's fixed episodes: one batch per level of validation_levels(), about `episodes` in all,
    from their own generator (config.MARK_SEED), so every model and seed of a task is scored on the same ones."""
    levels = validation_levels(task)
    per_level = max(1, math.ceil(episodes / len(levels)))
    generator = torch.Generator().manual_seed(MARK_SEED)
    return [task.sample(batch_size=per_level, level=level, generator=generator) for level in levels]


def score_in_chunks(model: MemoryModel, episode: tasks_module.Episode, chunk: int = MARK_CHUNK) -> tuple[float, float]:
    """score() of one level's batch, `chunk` episodes at a time: every episode of a level has the same scored
    steps, so the chunks' means weighted by their sizes are the whole batch's."""
    size = episode.inputs.shape[1]
    bits = loss = 0.0
    for start in range(0, size, chunk):
        part = tasks_module.Episode(*(tensor[:, start:start + chunk] for tensor in episode[:3]), episode.level)
        part_bits, part_loss = score(model, part)
        share = part.inputs.shape[1] / size
        bits, loss = bits + part_bits * share, loss + part_loss * share
    return bits, loss


class Trainer:
    """Owns one run. `config` must be validated; `out` is the run directory (None: nothing is written)."""

    def __init__(self, config: TrainConfig, out: Path | None, command: str | None = None,
                 progress: Progress | None = None, group: ProcessGroup | None = None):
        self.config = config
        self.out = Path(out) if out is not None else None
        self.command = command                 # the invocation, recorded in meta.json
        self.group = group                     # None: one process
        self.writes = group is None or group.writes
        self.progress = progress or Progress()
        self.task = tasks_module.get(config.task)
        torch.manual_seed(config.seed)         # the initial weights
        self.model = MemoryModel(config.model_config(self.task))
        self.model.train()
        self.network = self.model              # what an update calls: the model, or DDP around it
        if group is not None:
            from torch.nn.parallel import DistributedDataParallel
            self.network = DistributedDataParallel(self.model)
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config.lr)
        lowest = config.min_level if config.min_level is not None else self.task.min_level
        self.curriculum = Curriculum(lowest, self.task.max_level, config.start_level, config.threshold, config.window)
        self.generator = torch.Generator().manual_seed(config.seed)   # the training episodes
        self.step = 0
        self.wall_time = 0.0
        self.validations: list[dict] = []
        self.best: dict | None = None          # {"step", "bit_errors", "loss", "level", ...} of model.safetensors
        self.finished: str | None = None       # why training ended: "target", "steps", "diverged"
        self.skipped = 0                       # updates skipped for a non-finite loss or gradient
        self.skipped_in_a_row = 0
        self.weights_finite = True
        self.bits_window: deque = deque(maxlen=WINDOW)
        self.loss_window: deque = deque(maxlen=WINDOW)
        self._validation = None
        self._marks = None
        self.last_mark: int | None = None      # the update of the last line in marks.jsonl
        self._stop_requested = False

    # -- validation
    def validation_batches(self) -> list[tasks_module.Episode]:
        if self._validation is None:
            self._validation = validation_set(self.task, self.config.val_batch)
        return self._validation

    def validate(self) -> dict:
        scores = [score(self.model, episode) for episode in self.validation_batches()]   # one per level
        bits = sum(s[0] for s in scores) / len(scores)
        loss = sum(s[1] for s in scores) / len(scores)
        entry = {"step": self.step, "bit_errors": bits, "worst_level_bit_errors": max(s[0] for s in scores),
                 "loss": loss, "level": self.curriculum.level,
                 "scheduled": self.step % self.config.eval_every == 0}   # False: the end of a session
        self.validations.append(entry)
        if self.best is None or self.selected(entry) < self.selected(self.best):
            self.best = dict(entry)
            if self.writes:
                save_checkpoint(self.model, self.out, self.meta(self.best))
        return entry

    # -- the learning study's marks (config.mark_every; docs/LEARNING_STUDY.md)
    def mark(self) -> dict:
        """Score the model on the fixed mark episodes and append the result to marks.jsonl. Nothing else reads
        it: not the checkpoint, the curriculum or the stop (validate() does those, on its own set)."""
        if self._marks is None:
            self._marks = mark_set(self.task, self.config.mark_episodes or MARK_EPISODES)
        scores = {episode.level: score_in_chunks(self.model, episode) for episode in self._marks}
        entry = {"step": self.step, "bit_errors": sum(s[0] for s in scores.values()) / len(scores),
                 "loss": sum(s[1] for s in scores.values()) / len(scores),
                 "per_level": {str(level): s[0] for level, s in scores.items()},
                 "episodes": sum(episode.inputs.shape[1] for episode in self._marks), "seed": MARK_SEED,
                 "scheduled": self.step % self.config.mark_every == 0,      # False: where the run ended
                 "level": self.curriculum.level, "wall_time_s": round(self.wall_time, 2)}
        if self.writes:
            mode = "w" if self.step == 0 else "a"          # a fresh run's first mark starts the file
            with open(self.out / MARKS_FILE, mode) as handle:
                handle.write(json.dumps(entry) + "\n")
        self.last_mark = self.step
        return entry

    def selected(self, entry: dict) -> float:
        """The validation figure the checkpoint is chosen by and the stop target compared with (config.select):
        the worst level's bit errors per sequence, or the mean over levels (an entry saved before the worst
        level was recorded falls back to its mean)."""
        if self.config.select == "worst_level":
            return entry.get("worst_level_bit_errors", entry["bit_errors"])
        return entry["bit_errors"]

    def target_met(self, entry: dict) -> bool:
        return self.curriculum.at_max and self.selected(entry) <= self.config.target

    # -- the checkpoint's meta.json
    def meta(self, best: dict) -> dict:
        target = TARGETS[self.config.task]
        return {
            "task": self.config.task,
            "level": best["level"],                      # curriculum h when these weights were validated
            "max_level": self.task.max_level,
            "metrics": {"bit_errors_per_sequence": best["bit_errors"], "loss": best["loss"],
                        "worst_level_bit_errors": best.get("worst_level_bit_errors"), "select": self.config.select,
                        "episodes": sum(e.inputs.shape[1] for e in self.validation_batches()),
                        "levels": validation_levels(self.task), "seed": VALIDATION_SEED,
                        "source": "training validation set (level=None: every level of the range, equally weighted)"},
            "target": target,
            "meets_target": bool(self.selected(best) <= target),
            "steps": best["step"],
            "training_steps": self.step,
            "wall_time_s": round(self.wall_time, 1),
            "finished": self.finished,
            "training": {k: v for k, v in self.config.defining().items() if k not in ("kind", "task")},
            "curriculum": {"advances": [list(a) for a in self.curriculum.advances],
                           "level_final": self.curriculum.level},
            "validations": self.validations[-200:],
            "command": self.config.reproduce_command(best["step"], str(self.out)),
            "invocation": self.command,
            "threads": self.config.threads,
        }

    def refresh_best_meta(self) -> None:
        """Rewrite meta.json (and the weights file's header) of the best weights with the final totals."""
        path = self.out / WEIGHTS_FILE
        if not self.writes or self.best is None or not path.is_file():
            return
        model = MemoryModel(self.config.model_config(self.task))
        model.load_state_dict(read_tensors(path))
        save_checkpoint(model, self.out, self.meta(self.best))

    # -- the learning curve
    def log(self, record: dict) -> None:
        if not self.writes:
            return
        with open(self.out / LOG_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def truncate_log(self) -> None:
        """Drop log and mark lines past the resumed step (written after the last state save)."""
        for name in (LOG_FILE, MARKS_FILE):
            path = self.out / name
            if not self.writes or not path.is_file():
                continue
            kept = []
            for line in path.read_text().splitlines():
                try:
                    step = json.loads(line).get("step", 0)
                except json.JSONDecodeError:
                    continue
                if step <= self.step:
                    kept.append(line)
                    if name == MARKS_FILE:
                        self.last_mark = step
            path.write_text("".join(line + "\n" for line in kept))

    # -- training
    def skip(self) -> None:
        self.skipped += 1
        self.skipped_in_a_row += 1

    def update(self) -> float:
        """One update; returns its training loss (NaN or inf when the update was skipped)."""
        level = self.curriculum.sample_level(self.generator)
        whole = self.task.sample(batch_size=self.config.batch, level=level, generator=self.generator)
        if self.group is None:
            episode = whole
            logits = self.network(episode.inputs)
            loss = tasks_module.loss(logits, episode)
            value = float(loss.item())
            bits = tasks_module.bit_errors_per_sequence(logits.detach(), episode)
        else:                                  # this process's share; the whole batch's loss and bit errors
            episode = distributed.share(whole, self.group)
            logits = self.network(episode.inputs)
            loss = distributed.share_loss(logits, episode, whole, self.group)
            share_bits = tasks_module.bit_errors_per_sequence(logits.detach(), episode) * episode.inputs.shape[1]
            value, bits = distributed.all_sum([float(loss.item()) / self.group.world_size, share_bits])
            bits /= whole.inputs.shape[1]
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if not math.isfinite(value):
            self.skip()
            return value
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        if not torch.isfinite(norm):
            # a NaN/inf gradient would poison every weight through Adam: skip this update instead
            self.optimizer.zero_grad(set_to_none=True)
            self.skip()
            return value
        self.skipped_in_a_row = 0
        self.optimizer.step()
        self.weights_finite = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        self.loss_window.append(value)
        self.bits_window.append(bits)
        if self.curriculum.update(value, self.step):
            self.progress.message(f"step {self.step}: curriculum level h → {self.curriculum.level}")
        return value

    def request_stop(self, *_args) -> None:
        self._stop_requested = True

    def train(self) -> dict:
        """Run until steps, early stop, time limit or a stop signal. Returns a summary dict."""
        from . import state
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(self.config.threads)
        steps, time_limit = self.config.steps, self.config.time_limit
        name = f"{self.config.kind}-{self.config.task}"
        if self.finished in ("target", "diverged"):
            self.progress.message(f"{name}: already finished ({self.finished}; best at step "
                                  f"{self.best and self.best['step']}); nothing to do")
            return self.summary("already finished")
        self.finished = None                   # a run that had reached its old --steps goes on
        start = time.monotonic()
        session_start_step, last_time = self.step, start
        stop_reason = None
        marking = self.config.mark_every is not None
        if marking and self.step == 0:
            self.mark()                        # the untrained model: where every curve starts
        while self.step < steps:
            if self._stop_requested:
                stop_reason = "interrupted"
            elif time_limit is not None and time.monotonic() - start >= time_limit:
                stop_reason = "time limit"
            if self.group is not None and distributed.any_process(stop_reason is not None):
                stop_reason = stop_reason or "stopped by another process"    # every process stops here
            if stop_reason:
                break
            self.update()
            if not self.weights_finite:
                return self.stop_non_finite(name)
            if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                self.finished = "diverged"
                stop_reason = f"diverged ({self.skipped_in_a_row} non-finite updates in a row)"
                break
            now = time.monotonic()
            self.wall_time += now - last_time
            last_time = now
            if self.step % self.config.eval_every == 0:
                entry = self.validate()
                self.log({"step": self.step, "validation_bit_errors": entry["bit_errors"],
                          "validation_loss": entry["loss"], "level": self.curriculum.level})
                if self.target_met(entry):
                    self.finished, stop_reason = "target", "target met"
            if marking and self.step % self.config.mark_every == 0:
                self.mark()
            if self.step % self.config.log_every == 0 or stop_reason:
                self.report(steps, now - start, self.step - session_start_step)
            if stop_reason:
                break
            if self.step % self.config.checkpoint_every == 0:
                state.save(self)
        if stop_reason is None:
            stop_reason = "steps"
            self.finished = "steps"
        if not self.validations or self.validations[-1]["step"] != self.step:
            entry = self.validate()
            if self.target_met(entry) and stop_reason == "steps":
                self.finished = "target"
        if marking and self.finished is not None and self.last_mark != self.step:
            self.mark()                        # where a finished run ended: the study carries it forward
        state.save(self)
        self.refresh_best_meta()
        self.progress.close()
        best = self.best or {}
        # self.best is the checkpoint the run saved: the best validation for a plain run, the latest weights for a
        # long curriculum (which never picks a checkpoint at a validation dip)
        self.progress.message(f"{name}: stopped ({stop_reason}) at step {self.step}; the saved checkpoint's "
                              f"validation {best.get('bit_errors', math.nan):.3f} bit errors/seq at step "
                              f"{best.get('step')} (the run stops at ≤ {self.config.target:g}, the task's target "
                              f"{TARGETS[self.config.task]:g}); checkpoint in {self.out}")
        return self.summary(stop_reason)

    def stop_non_finite(self, name: str) -> dict:
        """The weights hold NaN or inf: write nothing more (the last saved state and checkpoint stay as they are)."""
        self.finished = "diverged"
        self.progress.close()
        best = f"update {self.best['step']}" if self.best else "none yet"
        self.progress.message(
            f"{name}: stopped at step {self.step}: the weights became NaN or infinite (learning rate "
            f"{self.config.lr:g}, clip {self.config.clip:g}). Nothing of this step was saved: {self.out} keeps "
            f"its best checkpoint ({best}) and the training state of its last save. Try a smaller --lr or "
            f"--clip, or another --seed.")
        return self.summary("weights not finite")

    def report(self, steps: int, elapsed: float, done: int) -> None:
        """The progress line and a learning-curve record."""
        rate = done / elapsed if elapsed > 0 else math.nan
        remaining = (steps - self.step) / rate if rate and rate > 0 else math.inf
        if self.config.time_limit is not None:
            remaining = min(remaining, max(0.0, self.config.time_limit - elapsed))
        loss = sum(self.loss_window) / len(self.loss_window) if self.loss_window else math.nan
        bits = sum(self.bits_window) / len(self.bits_window) if self.bits_window else math.nan
        val = self.validations[-1]["bit_errors"] if self.validations else math.nan
        self.progress.show(f"{self.config.kind}-{self.config.task} step {self.step}/{steps} loss {loss:.4f} "
                           f"bits/seq {bits:.2f} val {val:.2f} h {self.curriculum.level}/{self.task.max_level} "
                           f"{rate:.2f} steps/s ETA {format_seconds(remaining)}")
        self.log({"step": self.step, "loss": loss, "bit_errors": bits, "level": self.curriculum.level,
                  "steps_per_s": rate, "wall_time_s": round(self.wall_time, 2)})

    def summary(self, reason: str) -> dict:
        return {"reason": reason, "step": self.step, "level": self.curriculum.level, "best": self.best,
                "wall_time_s": self.wall_time, "finished": self.finished}
