"""TrainConfig: every setting of a training run, with ModelConfig's names, and the defaults per task and model.

    config = TrainConfig.for_run("sam", "copy", lr=3e-3).validate()
    config.model_config(task)        -> the ModelConfig to build
    config.defining()                -> the settings fixed at a run's start (a resume must not change them)

Defaults are written once: the dataclass's own defaults, then TASK_OVERRIDES[task], then
MODEL_OVERRIDES[(model, "*")] and MODEL_OVERRIDES[(model, task)], then what the caller gives.
`validate()` bounds every field before anything is allocated (ranges, finite floats, and an estimate of
the memory a run needs against this machine's), raising `InvalidSetting` that names the field.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
import math
import os
import shlex

import torch

from samviz import tasks as tasks_module
from samviz.kinds import INDEXES, KINDS, MODELS, spec
from samviz.memory.addressing import DEFAULT_KEY_STRENGTH, KEY_STRENGTHS
from samviz.memory.initial import DEFAULT_INITIAL_ROWS, INITIAL_ROWS, INITIAL_ROWS_BEFORE_THE_SETTING
from samviz.memory.sam import DEFAULT_WRITE_COMBINATION, WRITE_COMBINATIONS
from samviz.memory.usage import ACCESS_KINDS, ACCESS_THRESHOLD, DEFAULT_ACCESS_KIND, MAX_ACCESS_THRESHOLD
from samviz.model import INTERFACE_CLIP, MAX_INTERFACE_CLIP, SIZE_RANGES, ModelConfig
from samviz.tasks import TARGETS

# Training stops early below this fraction of the task's target on the validation set (a margin for the
# fresh episodes the shipped model is later scored on).
STOP_FRACTION = 0.5
OPTIMIZERS = ("adam", "rmsprop")
# How validation picks the checkpoint and meets the stop target: the worst level of the task's range (a model
# must solve every level, samviz.per_level) or, as runs did before the setting existed, the mean over levels
# (which let a copy model that failed its longest sequences through).
SELECTIONS = ("worst_level", "mean")
SELECTION_BEFORE_THE_SETTING = "mean"
# The learning study's marks (docs/LEARNING_STUDY.md): a fixed set of fresh episodes, its own seed (never a
# training or validation seed of this project), scored every mark_every updates and driving nothing.
MARK_EPISODES = 640
MARK_SEED = 270270


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Model fields keep ModelConfig's names; see TASK_OVERRIDES for the per-task values."""
    kind: str                      # model kind, samviz.kinds.MODELS
    task: str                      # samviz.tasks.NAMES
    # -- the model (ModelConfig's fields)
    memory_slots: int = 128        # N
    word_size: int = 20            # W
    heads: int = 2                 # read heads R
    k: int = 4                     # neighbours per sparse read (sparse kinds)
    controller_size: int = 100     # LSTM units
    index: str = "exact"           # nearest-neighbour index of sparse kinds
    link_k: int = 8                # SDNC: entries kept per sparse link row
    initial_rows: str = DEFAULT_INITIAL_ROWS  # DAM, SAM, SDNC: how memory starts, see memory/initial.py
    write_combination: str = DEFAULT_WRITE_COMBINATION  # SAM, SDNC: the heads' previous reads in the write
    key_strength: str = DEFAULT_KEY_STRENGTH      # SAM, SDNC: β of the sparse read
    access_threshold: float = ACCESS_THRESHOLD    # SAM, SDNC: δ
    accesses: str = DEFAULT_ACCESS_KIND           # SAM, SDNC: what counts as an access
    interface_clip: float = INTERFACE_CLIP        # the interface is clipped to ±this
    # -- the optimisation, fixed for the run
    batch: int = 16                # episodes per update
    lr: float = 1e-3
    optimizer: str = "adam"        # OPTIMIZERS
    clip: float = 10.0             # gradient-norm clipping
    seed: int = 0                  # weights and training episodes
    start_level: int = 20          # curriculum: first maximum level h
    threshold: float = 0.02        # curriculum: mean training loss (BCE per scored bit, nats) that doubles h
    window: int = 100              # curriculum: updates averaged for the threshold
    eval_every: int = 250          # updates between validations
    val_batch: int = 64            # validation episodes, spread over the levels of level=None
    target: float | None = None    # early stop at ≤ this many validation bit errors/seq; None: STOP_FRACTION × TARGETS
    select: str = "worst_level"    # SELECTIONS: what "validation bit errors" means for the checkpoint and the stop
    # -- the learning study's options (docs/LEARNING_STUDY.md); None is off, and an option that is off is left
    #    out of defining(), so the records and commands of every other run stay as they were (STUDY_FIELDS)
    min_level: int | None = None   # curriculum: lowest level a training batch is drawn at; None: the task's own
    mark_every: int | None = None  # updates between marks: scores on a fixed set of fresh episodes (marks.jsonl)
    mark_episodes: int | None = None  # that set's size; None: trainer.MARK_EPISODES when mark_every is set
    # -- this session only: a resumed run may change these
    steps: int = 50_000            # total updates (a resumed run continues up to this number)
    log_every: int = 50
    checkpoint_every: int = 1000   # updates between training-state saves
    threads: int = 1               # torch.set_num_threads
    time_limit: float | None = None  # seconds; stop cleanly with a checkpoint

    MODEL_FIELDS = ("memory_slots", "word_size", "heads", "k", "controller_size", "index", "link_k", "initial_rows",
                    "write_combination", "key_strength", "access_threshold", "accesses",
                    "interface_clip")
    SESSION_FIELDS = ("steps", "log_every", "checkpoint_every", "threads", "time_limit")
    STUDY_FIELDS = ("min_level", "mark_every", "mark_episodes")

    # ------------------------------------------------------------------------------------ construction
    @classmethod
    def for_run(cls, kind: str, task: str, **given) -> TrainConfig:
        """The defaults for (kind, task) with `given` (field name → value; None means "the default") on top."""
        if task not in TASK_OVERRIDES:
            raise InvalidSetting("task", f"unknown task {task!r}; choose one of {', '.join(TASK_OVERRIDES)}")
        values = {**TASK_OVERRIDES[task], **MODEL_OVERRIDES.get((kind, "*"), {}),
                  **MODEL_OVERRIDES.get((kind, task), {}), **{k: v for k, v in given.items() if v is not None}}
        config = cls(kind=kind, task=task, **values)
        return config if config.target is not None else replace(config, target=TARGETS[task] * STOP_FRACTION)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """From to_dict()'s output, or a run saved by the first trainer (its names: model, slots, controller)."""
        renamed = {LEGACY_NAMES.get(key, key): value for key, value in data.items()}
        # a run saved before the setting existed started from the rows of its time, whatever today's default
        renamed.setdefault("initial_rows", INITIAL_ROWS_BEFORE_THE_SETTING)
        renamed.setdefault("select", SELECTION_BEFORE_THE_SETTING)
        unknown = sorted(set(renamed) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training setting(s) {', '.join(unknown)}")
        return cls(**renamed)

    def to_dict(self) -> dict:
        return asdict(self)

    def defining(self) -> dict:
        """The settings that define the run (everything but SESSION_FIELDS, and STUDY_FIELDS that are off), in
        field order."""
        return {k: v for k, v in self.to_dict().items()
                if k not in self.SESSION_FIELDS and not (k in self.STUDY_FIELDS and v is None)}

    def with_session(self, other: TrainConfig) -> TrainConfig:
        """This run's defining settings with `other`'s session settings (steps, threads, ...)."""
        return replace(self, **{name: getattr(other, name) for name in self.SESSION_FIELDS})

    def model_config(self, task: tasks_module.Task) -> ModelConfig:
        return ModelConfig(kind=self.kind, input_size=task.input_size, output_size=task.output_size,
                           **{name: getattr(self, name) for name in self.MODEL_FIELDS})

    def reproduce_command(self, steps: int, out: str) -> str:
        """A command that reproduces this run's weights exactly (same torch build and thread count): every
        defining setting spelled out — defaults change between versions — plus the number of updates done."""
        parts = ["python", "-m", "samviz.train", "--model", self.kind, "--task", self.task]
        for name, value in self.defining().items():
            if name in ("kind", "task", "seed"):
                continue
            if name in KIND_OPTIONS and name not in spec(self.kind).core_options:
                continue     # the model's shapes and results do not depend on it
            parts += [CLI_FLAGS[name][0], str(value)]
        parts += ["--seed", str(self.seed), "--steps", str(steps), "--out", out]
        return shlex.join(parts)

    def differences(self, given: dict) -> list[tuple[str, object, object]]:
        """(field, given value, this run's value) for each defining setting in `given` (field → value, None
        meaning "not given") that differs from this run's."""
        return [(name, value, getattr(self, name)) for name, value in given.items()
                if value is not None and name not in self.SESSION_FIELDS and value != getattr(self, name)]

    # -------------------------------------------------------------------------------------- validation
    def validate(self, task: tasks_module.Task | None = None) -> TrainConfig:
        """Raise InvalidSetting (naming the field) unless every setting is in range and the run fits in memory.
        task: the task the run trains on when it is not the named task's own range (a long curriculum's
        tasks.LongTask, whose levels reach its ceiling); the levels and the memory estimate are checked against it."""
        if self.kind not in MODELS:
            raise InvalidSetting("kind", f"unknown model {self.kind!r}; choose one of {', '.join(MODELS)}")
        if self.task not in TASK_OVERRIDES:
            raise InvalidSetting("task", f"unknown task {self.task!r}; choose one of {', '.join(TASK_OVERRIDES)}")
        if task is None:
            task = tasks_module.get(self.task)
        elif task.name != self.task:
            raise InvalidSetting("task", f"the run's task is {self.task!r}, not {task.name!r}")
        for name, choices in (("index", INDEXES), ("optimizer", OPTIMIZERS), ("initial_rows", INITIAL_ROWS),
                               ("write_combination", WRITE_COMBINATIONS), ("key_strength", KEY_STRENGTHS),
                               ("accesses", ACCESS_KINDS), ("select", SELECTIONS)):
            if getattr(self, name) not in choices:
                raise InvalidSetting(name, f"invalid choice {getattr(self, name)!r} (choose from {', '.join(choices)})")
        ranges = {**INTEGER_RANGES, "start_level": (task.min_level, task.max_level),
                  "min_level": (task.min_level, task.max_level)}
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if value is None and name in self.STUDY_FIELDS:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidSetting(name, f"must be an integer in [{low}, {high}] (got {value!r})")
        for name, (low, high, low_open) in FLOAT_RANGES.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL_FLOATS:
                continue
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                and (low < value if low_open else low <= value) and value <= high
            if not ok:
                bracket = "(" if low_open else "["
                raise InvalidSetting(name, f"must be a finite number in {bracket}{low:g}, {high:g}] (got {value!r})")
        if self.min_level is not None and self.start_level < self.min_level:
            raise InvalidSetting("start_level", f"must be at least min_level {self.min_level} (got {self.start_level})")
        if self.mark_episodes is not None and self.mark_every is None:
            raise InvalidSetting("mark_episodes", "sets the size of the marks' episode set: give mark_every too")
        try:
            self.model_config(task).validate()
        except ValueError as error:
            name = str(error).split(" ", 1)[0]
            raise InvalidSetting(name if name in self.MODEL_FIELDS else None, str(error)) from None
        needed, available = estimated_bytes(self, task), memory_budget_bytes()
        if needed > available:
            raise InvalidSetting(None, f"this run needs about {needed / 2**30:,.1f} GiB of memory (batch × "
                                       f"memory_slots × word_size × steps per episode, plus the weights); this "
                                       f"machine has {available / 2**30:,.1f} GiB")
        return self


class InvalidSetting(ValueError):
    """A training setting out of range: `field` names it (None when several settings are at fault together)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------------------------------- defaults
# Chosen from a sweep (7–8 min per run, 1 thread each, 15 runs at once on a 16-core Xeon, torch 2.11):
#   copy  — starting the curriculum at h=4 trained a short-sequence solution that did not transfer
#           (NTM: still h=8 and 24 bit errors/seq after 12k updates, 4 variants of lr/threshold/optimizer);
#           starting at the full range converged in 1.75k–3.5k updates (NTM two seeds, SAM, DAM: ≤ 0.05
#           bit errors/seq), so copy starts at h = max_level. SAM copy diverged from that at lr 3e-3.
#   recall — lr 3e-3 with the curriculum from 2: NTM 0.0 bit errors/seq in 2.5k updates (seed 0),
#           DAM 0.2 in 9.5k; lr 1e-3 was slower; starting at 6 was worse. Seed-sensitive.
#   sort  — from h=4 every NTM variant stalled at h=4 (loss 0.13–0.17 > threshold); from the full range
#           DAM reached 9.1 bit errors/seq in 10k updates and was still improving; NTM lr 3e-3 diverged.
# The dataclass defaults are copy's; these change them per task, then per model ("*" = every task).
TASK_OVERRIDES: dict[str, dict] = {
    "copy": {},
    "associative_recall": dict(word_size=24, lr=3e-3, start_level=2, threshold=0.03),
    "priority_sort": dict(heads=4, steps=100_000, threshold=0.1),
}
MODEL_OVERRIDES: dict[tuple[str, str], dict] = {
    ("ntm", "*"): dict(heads=1),
    ("ntm", "priority_sort"): dict(heads=2),
    ("dnc", "*"): dict(memory_slots=64),   # O(N²) links: a smaller memory keeps the dense DNC trainable on CPU
}
# The command-line flags of each field (`python -m samviz.train`): the first is the one commands are written
# with; the others are accepted too (ModelConfig's names as flags).
CLI_FLAGS: dict[str, tuple[str, ...]] = {
    "kind": ("--model",), "task": ("--task",),
    "memory_slots": ("--slots", "--memory-slots"), "word_size": ("--word-size",), "heads": ("--heads",),
    "k": ("--k",), "controller_size": ("--controller", "--controller-size"), "index": ("--index",),
    "link_k": ("--link-k",), "initial_rows": ("--initial-rows",),
    "write_combination": ("--write-combination",), "key_strength": ("--key-strength",),
    "access_threshold": ("--access-threshold",), "accesses": ("--accesses",),
    "interface_clip": ("--interface-clip",), "batch": ("--batch",),
    "lr": ("--lr",),
    "optimizer": ("--optimizer",),
    "clip": ("--clip",), "seed": ("--seed",), "start_level": ("--start-level",), "threshold": ("--threshold",),
    "window": ("--window",), "eval_every": ("--eval-every",), "val_batch": ("--val-batch",),
    "target": ("--target",), "select": ("--select",), "steps": ("--steps",), "log_every": ("--log-every",),
    "checkpoint_every": ("--checkpoint-every",), "threads": ("--threads",), "time_limit": ("--time-limit",),
    "min_level": ("--min-level",), "mark_every": ("--mark-every",), "mark_episodes": ("--mark-episodes",),
}
# The first trainer's names for three fields (its saved runs, and meta.json's "training" section).
LEGACY_NAMES = {"model": "kind", "slots": "memory_slots", "controller": "controller_size"}

# ------------------------------------------------------------------------------------------- bounds
MAX_COUNT = 10**12                 # updates, and updates between events
INTEGER_RANGES = {                 # field: (lowest, highest); memory_slots is bounded by ModelConfig
    **SIZE_RANGES,                 # the model's sizes: samviz.model, where checkpoints read them too
    "batch": (1, 4096), "seed": (-(2**63), 2**64 - 1), "window": (1, 1_000_000), "eval_every": (1, MAX_COUNT),
    "val_batch": (1, 65_536), "steps": (1, MAX_COUNT), "log_every": (1, MAX_COUNT),
    "checkpoint_every": (1, MAX_COUNT), "threads": (1, 1024), "mark_every": (1, MAX_COUNT),
    "mark_episodes": (1, 65_536),
}
FLOAT_RANGES = {                   # field: (lowest, highest, lowest excluded)
    "lr": (0.0, 1.0, True), "clip": (0.0, 1e6, True), "threshold": (0.0, 1e6, False),
    "target": (0.0, 1e9, False), "time_limit": (0.0, 1e9, False),
    "access_threshold": (0.0, MAX_ACCESS_THRESHOLD, False), "interface_clip": (0.0, MAX_INTERFACE_CLIP, True),
}
OPTIONAL_FLOATS = ("target", "time_limit")
# ModelConfig fields only some kinds read (their KindSpec.core_options): the others leave them out of their
# reproduce command.
KIND_OPTIONS = frozenset(name for kind in KINDS.values() for name in kind.core_options)
FLOAT_BYTES = 4


def episode_steps(task: tasks_module.Task, level: int) -> int:
    """T of one episode at `level` (draws a single tiny episode)."""
    return int(task.sample(batch_size=1, level=level, generator=torch.Generator().manual_seed(0)).inputs.shape[0])


def estimated_bytes(config: TrainConfig, task: tasks_module.Task) -> int:
    """A lower estimate of the memory a run needs, in bytes (float32), from its settings alone.

    memory    batch × N × W, kept for every step T of the longest episode by the dense kinds (backpropagation
              through time), once by the sparse ones; plus batch × N × N per step for the DNC's links
    weights   the LSTM's 4C(C + I + R·W) and the output layer's (C + R·W)·O, four times (weights, gradients,
              Adam's two moments)
    data      the validation set: val_batch × T × (input + output + mask), and the marks' set likewise
    """
    steps = episode_steps(task, task.max_level)
    n, w, batch = config.memory_slots, config.word_size, config.batch
    kind = spec(config.kind)
    memory = batch * n * w * (1 if kind.sparse else steps)
    if kind.temporal_links and not kind.sparse:      # the DNC's N×N link matrix
        memory += batch * n * n * steps
    reads = config.heads * w
    weights = 4 * config.controller_size * (config.controller_size + task.input_size + reads) \
        + (config.controller_size + reads) * task.output_size
    episodes = config.val_batch + ((config.mark_episodes or MARK_EPISODES) if config.mark_every else 0)
    data = episodes * steps * (task.input_size + task.output_size + 1)
    return FLOAT_BYTES * (memory + 4 * weights + data)


def memory_budget_bytes() -> int:
    """Physical memory of this machine (16 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30
