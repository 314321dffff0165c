"""The long-sequence curriculum (Rae et al. 2016, Fig. 3 and supplementary F): train on a task's episodes far
past its usual range, the level h doubling whenever the training loss is low.

    python -m samviz.training.long_curriculum --out experiments/long_curriculum/sam-faiss-65536 \\
        --model sam --task associative_recall --slots 65536 --index faiss --ceiling 1024 \\
        --init-from pretrained/sam-associative_recall
    python -m samviz.training.long_curriculum --out experiments/long_curriculum/sam-faiss-65536 --resume

The same Trainer as `samviz.train` (update, curriculum, optimizer, exact resumption), with three changes:

* the task is a `samviz.tasks.LongTask`: levels up to `--ceiling` (1,024 items of associative recall are
  4,104 steps), each batch's level uniform in [min_level, h] (samviz.curriculum), h doubling when the mean
  training loss over `--window` updates is below `--threshold`;
* validation scores a fixed set of `--val-batch` episodes drawn AT THE CURRENT h (a set per h, seeded), so
  every validation says how the model does on the longest episodes it trains on;
* the checkpoint is the weights of the latest validation — no selection among validations (which would pick
  a lucky dip) — and the run stops once h is at the ceiling and that validation is at or below `--target`,
  CONFIRMED on a larger fixed set: a validation of a few one-query episodes is noisy enough for one lucky
  reading to end the run, so at the ceiling a reading at or below the target is scored again on
  CONFIRMATION_EPISODES other episodes (seeded apart from the validation's and the evaluation's), and the run
  stops only when that score is at or below the target too; otherwise it trains on (the reading and its
  confirmation are both logged). The confirmation is forward only on its own generator: the training itself
  (updates, episodes, checkpoints) is the same with or without it.

`--init-from DIR` starts the weights from a checkpoint of the same architecture (word size, heads,
controller); the memory size and index are this run's. `--start-level` (the first h) may be any level up to the
ceiling: a continuation past a finished run's ceiling starts from its weights at that ceiling (a fresh optimizer).
The run directory holds `long_curriculum.json` (ceiling, init_from and, for a continuation of another
long-curriculum run, continues: that run and its update; lr_changes, interface_clip_changes) beside the usual
files; `--resume` continues exactly. Two changes a resumed run accepts, each recorded from the update it resumes at:
* `--resume --lr X`: the optimizer's learning rate is X (a run at its ceiling whose validation has stopped
  improving at the starting rate; the optimizer's moments are kept); appended to lr_changes as [update, lr] and
  kept in the checkpoint's meta.json; the training state carries the rate on to later resumes.
* `--resume --interface-clip X`: the controller's interface is clipped to ±X (every piece of it; in practice it
  lifts the cap the ±20 clip puts on the read key strength β = 1 + softplus(raw): a clamped value has no
  gradient, so a model pushing β past the cap gets none for it); appended to interface_clip_changes as
  [update, clip] and carried by the saved config.
Another value for a flag that defines the run is refused.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
import json
from pathlib import Path
import shlex
import signal
import sys

import torch

from samviz import tasks as tasks_module
from samviz.checkpoint import WEIGHTS_FILE, CheckpointError, atomic_write_json, read_meta, read_tensors
from samviz.kinds import INDEXES, MODELS
from samviz.model import MAX_INTERFACE_CLIP

from . import run_lock, state
from .config import CLI_FLAGS, InvalidSetting, TrainConfig
from .trainer import VALIDATION_SEED, Trainer, score, score_in_chunks

PROG = "python -m samviz.training.long_curriculum"
SETTINGS_FILE = "long_curriculum.json"
LONG_TASKS = ("copy", "associative_recall")     # no long priority sort (tasks.PrioritySortTask.longest_level)
CONFIRMATION_EPISODES = 128   # 8× the validation's 16: the mean's noise ~1/3 of the validation's
CONFIRMATION_SEED = 5005      # fresh: not a training (small ints), validation (999), evaluation (7001) seed
CONFIRMATION_CHUNK = 16       # episodes scored at once (memory: chunk × N × W floats)


class LongCurriculumTrainer(Trainer):
    """A Trainer on a LongTask whose curriculum runs up to `ceiling`; validation at the current level h."""

    ceiling: int = 0          # set by `configured` before construction (the Trainer's constructor signature stays)

    @classmethod
    def configured(cls, ceiling: int) -> type[LongCurriculumTrainer]:
        """This class with its ceiling fixed (what state.restore builds)."""
        return type(cls.__name__, (cls,), {"ceiling": int(ceiling)})

    def __init__(self, config: TrainConfig, out, **options):
        super().__init__(config, out, **options)
        self.task = tasks_module.LongTask(self.task, self.ceiling)
        self.curriculum.max_level = self.ceiling
        # the base Trainer's curriculum clamped the first h to the base task's range; a long run may start higher
        # (a continuation past an earlier ceiling: --start-level, checked against [min_level, ceiling])
        self.curriculum.level = min(max(config.start_level, self.curriculum.min_level), self.ceiling)
        self._validation_sets: dict[int, tasks_module.Episode] = {}
        self.lr_changes: list[list] = []     # [[update, lr], ...] as in long_curriculum.json (run() sets it)
        self.interface_clip_changes: list[list] = []     # [[update, clip], ...] likewise

    def validation_at(self, level: int) -> tasks_module.Episode:
        """The fixed validation episodes at `level` (seeded by VALIDATION_SEED and the level)."""
        if level not in self._validation_sets:
            generator = torch.Generator().manual_seed(VALIDATION_SEED * 1_000_003 + level)
            self._validation_sets = {level: self.task.sample(self.config.val_batch, level, generator)}
        return self._validation_sets[level]

    def validation_batches(self) -> list[tasks_module.Episode]:
        return [self.validation_at(self.curriculum.level)]

    def validate(self) -> dict:
        from samviz.checkpoint import save_checkpoint
        level = self.curriculum.level
        bits, loss = score(self.model, self.validation_at(level))
        entry = {"step": self.step, "bit_errors": bits, "worst_level_bit_errors": bits, "loss": loss,
                 "level": level, "scheduled": self.step % self.config.eval_every == 0}
        self.validations.append(entry)
        self.best = dict(entry)                  # the latest weights, not the best-looking validation
        if self.writes:
            save_checkpoint(self.model, self.out, self.meta(self.best))
        return entry

    def confirmation_at(self, level: int) -> tasks_module.Episode:
        """CONFIRMATION_EPISODES fixed episodes at `level` (seeded by CONFIRMATION_SEED and the level), drawn when
        first needed and kept while h stays."""
        if getattr(self, "_confirmation_level", None) != level:
            generator = torch.Generator().manual_seed(CONFIRMATION_SEED * 1_000_003 + level)
            self._confirmation_set = self.task.sample(CONFIRMATION_EPISODES, level, generator)
            self._confirmation_level = level
        return self._confirmation_set

    def target_met(self, entry: dict) -> bool:
        """At the ceiling, a validation at or below the target is confirmed on the larger set before the run
        stops; the confirmation is recorded in the entry (and in self.best, the checkpoint's meta) once."""
        if not super().target_met(entry):
            return False
        if "confirmation_bit_errors" not in entry:
            bits, _ = score_in_chunks(self.model, self.confirmation_at(entry["level"]), CONFIRMATION_CHUNK)
            entry.update(confirmation_bit_errors=bits, confirmation_episodes=CONFIRMATION_EPISODES)
            if self.best is not None and self.best.get("step") == entry["step"]:
                self.best.update(confirmation_bit_errors=bits, confirmation_episodes=CONFIRMATION_EPISODES)
            self.log({"step": entry["step"], "confirmation_bit_errors": bits,
                      "confirmation_episodes": CONFIRMATION_EPISODES, "level": entry["level"]})
            self.progress.message(f"validation {entry['bit_errors']:.3f} at or below the target "
                                  f"{self.config.target:g} at the ceiling; confirmation on "
                                  f"{CONFIRMATION_EPISODES} episodes: {bits:.3f} bit errors/seq")
        return entry["confirmation_bit_errors"] <= self.config.target

    def meta(self, best: dict) -> dict:
        meta = super().meta(best)
        meta["max_level"] = self.ceiling
        meta["metrics"].update(levels=[best["level"]], seed=VALIDATION_SEED * 1_000_003 + best["level"],
                               source="long-curriculum validation: fixed episodes at the curriculum level h")
        meta["long_curriculum"] = {"ceiling": self.ceiling, "settings_file": SETTINGS_FILE,
                                   "lr_changes": [list(change) for change in self.lr_changes],
                                   "interface_clip_changes": [list(change) for change in self.interface_clip_changes]}
        meta["command"] = f"{PROG} --out {self.out} --resume"
        return meta


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--model", choices=MODELS, help="model kind (a fresh run)")
    parser.add_argument("--task", choices=LONG_TASKS, default="associative_recall")
    parser.add_argument("--ceiling", type=positive, help="the curriculum's highest level (a fresh run)")
    parser.add_argument("--init-from", help="start the weights from this checkpoint directory (same architecture)")
    parser.add_argument("--slots", type=positive, help="memory slots N")
    parser.add_argument("--index", choices=INDEXES)
    for name in ("batch", "start_level", "window", "eval_every", "val_batch", "seed", "word_size", "heads"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=positive)
    for name in ("lr", "threshold", "target", "clip"):
        parser.add_argument(f"--{name}", dest=name, type=float)
    parser.add_argument("--interface-clip", dest="interface_clip", type=float,
                        help="clip the controller's interface to ± this (a new run's setting, or a recorded change on "
                             "--resume)")
    parser.add_argument("--steps", type=positive, default=1_000_000, help="total updates (default: until stopped)")
    parser.add_argument("--time-limit", type=float, help="stop cleanly after this many seconds")
    parser.add_argument("--checkpoint-every", type=positive, default=100, help="updates between state saves")
    parser.add_argument("--log-every", type=positive, default=10)
    parser.add_argument("--threads", type=positive, default=1)
    return parser


def fresh_config(args: argparse.Namespace) -> tuple[TrainConfig, dict]:
    """The run's TrainConfig and its long-curriculum settings, from the flags (and --init-from's config)."""
    if args.model is None or args.ceiling is None:
        raise InvalidSetting(None, "a new run needs --model and --ceiling")
    base = tasks_module.get(args.task)
    tasks_module.LongTask(base, args.ceiling)                 # the ceiling's bounds, before anything is built
    given = {name: getattr(args, name) for name in ("batch", "start_level", "window", "eval_every", "val_batch",
                                                     "seed", "word_size", "heads", "lr", "threshold", "target",
                                                     "clip", "interface_clip")}
    given.update(memory_slots=args.slots, index=args.index, steps=args.steps, time_limit=args.time_limit,
                 checkpoint_every=args.checkpoint_every, log_every=args.log_every, threads=args.threads)
    init_from = None
    if args.init_from:
        directory = Path(args.init_from)
        init_meta = read_meta(directory)
        model = init_meta["config"]
        if model["kind"] != args.model:
            raise InvalidSetting(None, f"--init-from {directory} holds a {model['kind']} model, not {args.model}")
        for name in ("word_size", "heads", "k", "controller_size", "initial_rows", "link_k"):
            if given.get(name) is None and name in model:
                given[name] = model[name]
        init_from = str(directory)
    config = TrainConfig.for_run(args.model, args.task, **given).validate(tasks_module.LongTask(base, args.ceiling))
    settings = {"ceiling": args.ceiling, "init_from": init_from, "task": args.task}
    if init_from and (Path(init_from) / SETTINGS_FILE).is_file():
        # a continuation of another long-curriculum run: where it took the weights (the curriculum's figure
        # draws this run after that one's updates)
        settings["continues"] = {"run": init_from, "step": int(init_meta.get("steps") or 0)}
    return config, settings


# the flags that define a run -> (argparse dest, the saved setting): given with --resume, a value other than the
# run's own is refused (--lr is the one change a resume accepts); the same value, as in a repeated command, is not
RUN_FLAGS = {"--model": ("model", "kind"), "--ceiling": ("ceiling", "ceiling"),
             "--init-from": ("init_from", "init_from"), "--slots": ("slots", "memory_slots"),
             "--index": ("index", "index"),
             **{f"--{name.replace('_', '-')}": (name, name) for name in (
                 "batch", "start_level", "window", "eval_every", "val_batch", "seed", "word_size", "heads",
                 "threshold", "target", "clip")}}


def change_learning_rate(trainer: LongCurriculumTrainer, lr: float, settings: dict, settings_path: Path) -> None:
    """Set every parameter group's learning rate to `lr` from the trainer's current update on, and record the
    change in long_curriculum.json (lr_changes) and so in every later checkpoint's meta. No-op when it is the
    rate already in use."""
    if all(group["lr"] == lr for group in trainer.optimizer.param_groups):
        return
    for group in trainer.optimizer.param_groups:
        group["lr"] = lr
    trainer.lr_changes.append([trainer.step, lr])
    settings["lr_changes"] = trainer.lr_changes
    atomic_write_json(settings_path, settings)
    state.save(trainer)               # the training state holds the new rate at once: a later resume agrees
    trainer.progress.message(f"learning rate {lr:g} from update {trainer.step:,} (recorded in {settings_path})")


def change_interface_clip(trainer: LongCurriculumTrainer, clip: float, settings: dict, settings_path: Path) -> None:
    """Record that from the trainer's current update its interface is clipped to ±clip (the trainer was built with
    it: run() replaces the saved config's value before restoring), and save the state at once so a later resume
    agrees."""
    trainer.interface_clip_changes.append([trainer.step, clip])
    settings["interface_clip_changes"] = trainer.interface_clip_changes
    atomic_write_json(settings_path, settings)
    state.save(trainer)
    trainer.progress.message(f"interface clip ±{clip:g} from update {trainer.step:,} (recorded in {settings_path})")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    command = shlex.join([*PROG.split(), *(sys.argv[1:] if argv is None else argv)])
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = run_lock.acquire(out, command)
    except run_lock.RunBusy as busy:
        print(f"{PROG}: error: {busy}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"{PROG}: error: cannot use {out} ({problem.strerror or problem})", file=sys.stderr)
        return 2
    try:
        return run(parser, args, out, command)
    except (InvalidSetting, CheckpointError, ValueError) as problem:
        field = getattr(problem, "field", None)
        named = f"argument {'/'.join(CLI_FLAGS[field])}: " if field in CLI_FLAGS else ""
        print(f"{PROG}: error: {named}{problem}", file=sys.stderr)
        return 2
    finally:
        run_lock.release(lock)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, out: Path, command: str) -> int:
    settings_path = out / SETTINGS_FILE
    if args.resume and (out / state.STATE_FILE).is_file():
        if args.lr is not None and not (0 < args.lr <= 1):
            raise InvalidSetting(None, f"--lr must be in (0, 1] (got {args.lr:g})")
        if args.interface_clip is not None and not (0 < args.interface_clip <= MAX_INTERFACE_CLIP):
            raise InvalidSetting(None, f"--interface-clip must be in (0, {MAX_INTERFACE_CLIP:g}] "
                                       f"(got {args.interface_clip:g})")
        settings = json.loads(settings_path.read_text())
        long_task = tasks_module.LongTask(tasks_module.get(settings.get("task", args.task)), settings["ceiling"])
        saved = state.read(out, long_task)
        clip_changes = args.interface_clip is not None and args.interface_clip != saved.config.interface_clip
        if clip_changes:
            saved = saved._replace(config=replace(saved.config, interface_clip=args.interface_clip))
        kept = {**saved.config.to_dict(), "ceiling": settings.get("ceiling"), "init_from": settings.get("init_from")}
        changed = [flag for flag, (dest, field) in RUN_FLAGS.items()
                   if getattr(args, dest) is not None and getattr(args, dest) != kept.get(field)]
        if changed:
            raise InvalidSetting(None, f"{', '.join(changed)}: a resumed run keeps the settings it started with; "
                                       "only --lr and --interface-clip may change on --resume")
        session = TrainConfig.for_run(saved.config.kind, saved.config.task, steps=args.steps,
                                      time_limit=args.time_limit, checkpoint_every=args.checkpoint_every,
                                      log_every=args.log_every, threads=args.threads)
        trainer = state.restore(saved, session, command=command,
                                trainer_class=LongCurriculumTrainer.configured(settings["ceiling"]))
        trainer.lr_changes = [list(change) for change in settings.get("lr_changes", [])]
        trainer.interface_clip_changes = [list(change) for change in settings.get("interface_clip_changes", [])]
        if args.lr is not None:
            change_learning_rate(trainer, args.lr, settings, settings_path)
        if clip_changes:
            change_interface_clip(trainer, args.interface_clip, settings, settings_path)
    else:
        if (out / state.STATE_FILE).is_file():
            print(f"{PROG}: error: {out} already holds a run; give --resume to continue it", file=sys.stderr)
            return 2
        config, settings = fresh_config(args)
        trainer = LongCurriculumTrainer.configured(settings["ceiling"])(config, out, command=command)
        if settings["init_from"]:
            tensors = read_tensors(Path(settings["init_from"]) / WEIGHTS_FILE)
            trainer.model.load_state_dict(tensors)
        atomic_write_json(settings_path, settings)
    for sig in (signal.SIGINT, signal.SIGTERM):            # stop at the end of the update, saving the state
        signal.signal(sig, trainer.request_stop)
    summary = trainer.train()
    print(json.dumps({k: summary[k] for k in ("reason", "step", "level", "finished")}))
    return 0 if summary["finished"] != "diverged" else 1


if __name__ == "__main__":
    sys.exit(main())
