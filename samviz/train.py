"""Train a memory model on a task with a curriculum: `python -m samviz.train --model sam --task copy`.

    python -m samviz.train --model ntm --task copy --out runs/ntm-copy            # per-task defaults
    python -m samviz.train --model ntm --task copy --out runs/ntm-copy --resume   # continue exactly

Each flag sets one samviz.training.config.TrainConfig field (its defaults per task and model, and why, are
there; --slots and --controller also answer to ModelConfig's names, --memory-slots and --controller-size).
The curriculum (samviz.curriculum) draws each batch's level uniformly from [task.min_level, h] and doubles
h when the mean training loss over `--window` updates falls below `--threshold`; copy and priority sort
start at h = max_level. Every `--eval-every` updates a fixed validation set is scored; the best weights
are the checkpoint in --out (model.safetensors + meta.json, see samviz.pretrained). Training stops early
once h = max_level and validation reaches the stop target (half the task's target).

Exact resumption: --out also holds train_state.safetensors (samviz.training.state). Same seed + same number
of updates → identical weights, whether or not the run was interrupted and resumed. A resumed run keeps the
settings it was started with: giving a different one (--model, --task, a model size, --lr, ...) is refused;
--steps, --log-every, --checkpoint-every, --threads and --time-limit may change.

One run per --out: the run holds an exclusive lock on <out>/run.lock for its whole life (--resume too;
samviz.training.run_lock), so a second run on a directory in use is refused with one line naming the run that
holds it (pid, start time, command) and exit status 2. The lock goes with its process, however it ends.

Every setting is checked before anything is allocated (ranges, finite numbers, memory against this
machine's); a refusal is an argparse-style message and exit status 2. Weights that become NaN or infinite
stop the run with a message and exit status 1; they are never saved.

More than one process: `torchrun --standalone --nproc_per_node=P -m samviz.train …` — each process trains on
B/P episodes of every batch of B with its own memories, DDP over gloo (samviz.training.distributed).
"""
from __future__ import annotations

import argparse
from dataclasses import fields
import errno
import os
from pathlib import Path
import shlex
import signal
import sys
import tempfile

from samviz import cli
from samviz.checkpoint import META_FILE, WEIGHTS_FILE, CheckpointError
from samviz.kinds import INDEXES, MODELS
from samviz.memory.addressing import KEY_STRENGTHS
from samviz.memory.initial import INITIAL_ROWS
from samviz.memory.sam import WRITE_COMBINATIONS
from samviz.memory.usage import ACCESS_KINDS
from samviz.tasks import NAMES
from samviz.training import distributed, run_lock, state
from samviz.training.config import CLI_FLAGS, OPTIMIZERS, SELECTIONS, InvalidSetting, TrainConfig
from samviz.training.progress import Progress
from samviz.training.trainer import Trainer

PROG = "python -m samviz.train"
CHOICES = {"kind": MODELS, "task": NAMES, "index": INDEXES, "optimizer": OPTIMIZERS, "initial_rows": INITIAL_ROWS,
           "write_combination": WRITE_COMBINATIONS, "key_strength": KEY_STRENGTHS, "accesses": ACCESS_KINDS,
           "select": SELECTIONS}
FLOAT_FIELDS = ("lr", "clip", "threshold", "target", "time_limit", "access_threshold", "interface_clip")
HELP = {
    "kind": "model kind", "task": "task to train on", "memory_slots": "memory slots N",
    "word_size": "word size W", "heads": "read heads R", "k": "neighbours per sparse read (sam, sdnc)",
    "controller_size": "LSTM controller units", "index": "nearest-neighbour index of sparse models",
    "link_k": "SDNC: entries kept per sparse link row",
    "initial_rows": ("DAM/SAM/SDNC: memory starts as zero rows (default) or tiny jittered rows "
                     "(the default before 2026-12)"),
    "write_combination": ("SAM/SDNC: the read heads' previous weights enter the write as their mean (default) "
                          "or their sum"),
    "key_strength": ("SAM/SDNC: the sparse read's key strength β = 1 + softplus(raw) (default), softplus(raw), "
                     "or fixed at 1 (no learned strength)"),
    "access_threshold": "SAM/SDNC: δ, the weight above which a slot counts as accessed (default 0.005)",
    "accesses": ("SAM/SDNC: what counts as an access for the least recently used slot: reads and writes "
                 "(default, the paper's) or writes only"),
    "interface_clip": "the controller's interface is clipped to ±this (default 20)",
    "batch": "episodes per update",
    "lr": "learning rate (default 1e-3)", "optimizer": "optimizer (default adam)",
    "clip": "gradient-norm clipping (default 10)",
    "seed": "seed of the weights and of the training episodes (default 0)",
    "start_level": "first curriculum maximum h", "threshold": "curriculum: mean training loss that doubles h",
    "window": "curriculum: updates averaged for the threshold", "eval_every": "updates between validations",
    "val_batch": "validation episodes (spread over the levels of level=None)",
    "target": "stop when validation bit errors/seq ≤ this at max level",
    "select": ("validation bit errors = the worst level of the range (default: every level must be solved) or "
               "the mean over levels (runs before 2026-12)"),
    "steps": "total updates (a resumed run continues up to this number)",
    "log_every": "updates between progress lines", "checkpoint_every": "updates between training-state checkpoints",
    "threads": "torch.set_num_threads (default 1)",
    "time_limit": "stop cleanly (with a checkpoint) after this many seconds",
    "min_level": "curriculum: lowest level a training batch is drawn at (default: the task's)",
    "mark_every": "learning study: score a fixed set of fresh episodes every this many updates (marks.jsonl)",
    "mark_episodes": "learning study: episodes in that set (default 640)",
}
SETTINGS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("kind", "task"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, flags in CLI_FLAGS.items():
        kind = {"choices": CHOICES[name]} if name in CHOICES else {"type": float if name in FLOAT_FIELDS else int}
        metavar = None if name in CHOICES else flags[0].lstrip("-").replace("-", "_").upper()
        parser.add_argument(*flags, dest=name, required=name in ("kind", "task"), help=HELP[name], metavar=metavar,
                            **kind)
    parser.add_argument("--out", help="run directory (default runs/<model>-<task>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out if there is one")
    return parser


def flag(name: str) -> str:
    return CLI_FLAGS[name][0]


def error(parser: argparse.ArgumentParser, message: str) -> int:
    """argparse's refusal (usage, then "prog: error: message"), returned as exit status 2."""
    parser.print_usage(sys.stderr)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def writable(directory: Path) -> str | None:
    """None when `directory` exists or can be made, and a file can be written in it; the reason otherwise."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as problem:
        if problem.errno == errno.ENOENT and directory.is_dir():
            # e.g. /proc/self: a directory whose file system makes no new files, and says ENOENT
            return "the file system does not let new files be made in this directory"
        return problem.strerror or str(problem)
    return None


def rank_from_environment() -> int:
    """RANK as torchrun sets it (0 when absent: a single process)."""
    value = os.environ.get("RANK", "0")
    return int(value) if value.isdigit() else 0


@cli.reports_os_errors(PROG)
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    given = {name: getattr(args, name) for name in SETTINGS}
    try:
        config = TrainConfig.for_run(args.kind, args.task, **given).validate()
    except InvalidSetting as problem:
        return error(parser, f"argument {'/'.join(CLI_FLAGS[problem.field])}: {problem}"
                     if problem.field in CLI_FLAGS else str(problem))
    processes = distributed.world_size_from_environment()
    if config.batch % processes:
        return error(parser, f"argument --batch: {config.batch} episodes cannot be shared equally by {processes} "
                             f"processes; give a multiple of {processes}")
    out = Path(args.out) if args.out else Path("runs") / f"{args.kind}-{args.task}"
    command = shlex.join(["python", "-m", "samviz.train", *(sys.argv[1:] if argv is None else argv)])
    try:
        (out / state.STATE_FILE).is_file()
    except OSError as problem:          # e.g. a name too long for the file system
        return error(parser, f"argument --out: cannot use {out} ({problem.strerror or problem})")
    problem = writable(out)
    if problem:
        return error(parser, f"argument --out: cannot write to {out} ({problem})")
    # one run per directory, for the run's whole life (run_lock); under torchrun rank 0 holds it for every process
    try:
        lock = run_lock.acquire(out, command) if rank_from_environment() == 0 else None
    except run_lock.RunBusy as busy:
        print(f"{PROG}: error: {busy}", file=sys.stderr)
        return 2
    except OSError as problem:
        return error(parser, f"argument --out: cannot lock {out} ({problem.strerror or problem})")
    try:
        return run(parser, args, config, given, out, command)
    finally:
        if lock is not None:
            run_lock.release(lock)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, config: TrainConfig, given: dict, out: Path,
        command: str) -> int:
    """The run in `out` (whose lock this process holds): a fresh one, or --resume's continuation."""
    progress = Progress()
    try:
        has_state = (out / state.STATE_FILE).is_file()
        has_checkpoint = (out / WEIGHTS_FILE).exists() or (out / META_FILE).exists()
    except OSError as problem:
        return error(parser, f"argument --out: cannot use {out} ({problem.strerror or problem})")
    if has_state:
        if not args.resume:
            return error(parser, f"{out} already holds a training run; pass --resume to continue it "
                                 f"or choose another --out")
        try:
            saved = state.read(out)
        except CheckpointError as problem:
            return error(parser, f"cannot resume: {problem}")
        differences = saved.config.differences({"kind": args.kind, "task": args.task, **given})
        if differences:
            listed = "; ".join(f"{flag(name)} {value} (the run has {had})" for name, value, had in differences)
            return error(parser, f"{out} holds a run with other settings: {listed}. A resumed run keeps the "
                                 f"settings it started with: leave these out, or choose another --out")
    elif has_checkpoint:
        # e.g. a shipped checkpoint whose training state was not kept: never overwrite it
        return error(parser, f"{out} already holds a checkpoint without a training state ({state.STATE_FILE}); "
                             f"it cannot be resumed — choose another --out")
    else:
        saved = None
    group = distributed.join_from_environment()     # under torchrun: every process checked the same things above
    if group is not None and not group.writes:
        progress = Progress(stream=open(os.devnull, "w"))       # rank 0 prints the progress
    try:
        if saved is not None:
            trainer = state.restore(saved, config, command=command, progress=progress, group=group)
            progress.message(f"resuming {out} at step {trainer.step} (curriculum h {trainer.curriculum.level})")
        else:
            trainer = Trainer(config, out, command=command, progress=progress, group=group)
            if group is not None:
                progress.message(f"training on {group.world_size} processes, {config.batch // group.world_size} "
                                 f"of the {config.batch} episodes of each batch each")
    except CheckpointError as problem:
        return error(parser, f"cannot resume: {problem}")
    except ImportError as problem:     # e.g. --index faiss without faiss installed
        return error(parser, f"cannot build the model: {problem}")
    # Ctrl-C and SIGTERM stop the run cleanly; the handlers before are put back after (main may be called in a
    # process that goes on: tests, scripts)
    previous = {sig: signal.signal(sig, trainer.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = trainer.train()      # an OSError (a full disk) is main's one-line message (samviz.cli)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        distributed.leave(group, trainer)
    return 1 if summary["reason"] == "weights not finite" else 0

if __name__ == "__main__":
    sys.exit(main())
