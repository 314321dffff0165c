"""Controller + memory core + output layer: the one model class every memory type shares.

    h_t, c_t = LSTM([x_t ; r_{t−1}], (h_{t−1}, c_{t−1}))
    interface_t = clip(Linear(h_t), ±20)            # Collier & Beel's stabiliser (ModelConfig.interface_clip)
    r_t, state_t, step_t = core.step(interface_t, state_{t−1})   # write, then read
    y_t = Linear([h_t ; r_t])                        # logits

What each kind is (its core class, sparse or dense, its options) comes from samviz/kinds.py.
"""
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
import importlib

import torch
from torch import nn

from .kinds import INDEXES, MODELS, SPARSE_MODELS, spec
from .memory.addressing import DEFAULT_KEY_STRENGTH, KEY_STRENGTHS
from .memory.initial import DEFAULT_INITIAL_ROWS, INITIAL_ROWS
from .memory.sam import DEFAULT_WRITE_COMBINATION, WRITE_COMBINATIONS
from .memory.usage import ACCESS_KINDS, ACCESS_THRESHOLD, DEFAULT_ACCESS_KIND, check_access_threshold

__all__ = ["INDEXES", "INTERFACE_CLIP", "MAX_SLOTS", "MODELS", "SPARSE_MODELS", "MemoryModel", "ModelConfig",
           "build_model", "make_core"]

INTERFACE_CLIP = 20.0              # the default of ModelConfig.interface_clip
MAX_INTERFACE_CLIP = 1e6
MAX_SLOTS = 1 << 24
# The largest sizes a model may have (inclusive), beside memory_slots ≤ MAX_SLOTS: what a training run accepts
# (samviz.training.config) and what a checkpoint's meta.json is checked against before anything is built.
SIZE_RANGES = {"word_size": (1, 4096), "heads": (1, 64), "k": (1, 1024), "controller_size": (1, 4096),
               "link_k": (1, 1024)}


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (saved as JSON beside its weights)."""
    kind: str = "ntm"
    input_size: int = 9
    output_size: int = 8
    memory_slots: int = 128
    word_size: int = 20
    heads: int = 1
    k: int = 4                     # neighbours per sparse read (SAM, SDNC)
    controller_size: int = 100
    index: str = "exact"           # "exact" | "faiss" (sparse models only)
    link_k: int = 8                # SDNC: entries kept per sparse link row
    initial_rows: str = DEFAULT_INITIAL_ROWS  # DAM, SAM, SDNC: how memory starts, samviz.memory.initial
    write_combination: str = DEFAULT_WRITE_COMBINATION  # SAM, SDNC: the heads' previous reads in the write (sam.py)
    key_strength: str = DEFAULT_KEY_STRENGTH   # SAM, SDNC: β of the sparse read (addressing.KEY_STRENGTHS)
    access_threshold: float = ACCESS_THRESHOLD  # SAM, SDNC: δ, the weight above which a slot counts as accessed
    accesses: str = DEFAULT_ACCESS_KIND         # SAM, SDNC: what counts as an access (usage.ACCESS_KINDS)
    interface_clip: float = INTERFACE_CLIP      # every kind: the interface is clipped to ±this
    extra: dict = field(default_factory=dict)

    def validate(self) -> "ModelConfig":
        kind = spec(self.kind)             # a clear ValueError for an unknown kind
        if self.initial_rows not in INITIAL_ROWS:
            raise ValueError(f"unknown initial_rows {self.initial_rows!r}; choose one of {', '.join(INITIAL_ROWS)}")
        if self.write_combination not in WRITE_COMBINATIONS:
            raise ValueError(f"unknown write_combination {self.write_combination!r}; choose one of "
                             f"{', '.join(WRITE_COMBINATIONS)}")
        if self.key_strength not in KEY_STRENGTHS:
            raise ValueError(f"unknown key_strength {self.key_strength!r}; choose one of {', '.join(KEY_STRENGTHS)}")
        check_access_threshold(self.access_threshold)
        if self.accesses not in ACCESS_KINDS:
            raise ValueError(f"unknown accesses {self.accesses!r}; choose one of {', '.join(ACCESS_KINDS)}")
        clip = self.interface_clip
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0 < clip <= MAX_INTERFACE_CLIP:
            raise ValueError(f"interface_clip must be a number in (0, {MAX_INTERFACE_CLIP:g}] (got {clip!r})")
        if self.index not in INDEXES:
            raise ValueError(f"unknown index {self.index!r}; choose one of {', '.join(INDEXES)}")
        for name in ("input_size", "output_size", "word_size", "heads", "k", "controller_size", "link_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer (got {value!r})")
        if not isinstance(self.memory_slots, int) or not 2 <= self.memory_slots <= MAX_SLOTS:
            raise ValueError(f"memory_slots must be an integer in [2, {MAX_SLOTS}] (got {self.memory_slots!r})")
        if kind.sparse and self.k > self.memory_slots:
            raise ValueError(f"k={self.k} neighbours cannot exceed memory_slots={self.memory_slots}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {', '.join(sorted(unknown))}")
        return cls(**data).validate()


def make_core(config: ModelConfig) -> nn.Module:
    """The memory core of config.kind (its class imported only now), with the options its spec names."""
    kind = spec(config.kind)
    module_name, class_name = kind.core
    core_class = getattr(importlib.import_module(module_name), class_name)
    options = {name: getattr(config, name) for name in kind.core_options}
    return core_class(config.memory_slots, config.word_size, config.heads, **options)


class MemoryModel(nn.Module):
    """An LSTM controller driving one memory core. Time-major: x [T, B, input_size]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config.validate()
        self.core = make_core(config)
        read_size = self.core.read_size
        self.controller = nn.LSTMCell(config.input_size + read_size, config.controller_size)
        self.interface = nn.Linear(config.controller_size, self.core.interface_size)
        self.output = nn.Linear(config.controller_size + read_size, config.output_size)
        self.meta: dict = {}   # filled by samviz.pretrained.load: task, level, metrics

    @property
    def kind(self) -> str:
        return self.config.kind

    def run(self, x: torch.Tensor, memory_state=None, observe: Callable | None = None) -> tuple[torch.Tensor, object]:
        """x [T, B, I] -> (logits [T, B, O], the memory state after the last step).

        memory_state: a state from `self.core.initial_state(B)` to start from (benchmarks pass one so the
        memory's O(N) set-up is not timed); by default a fresh one is made.
        observe: called as observe(t, step) right after step t with the core's per-kind step tensors (computed
        with details=True), while a sparse memory's buffer still holds that step's state. The trace recorder
        (samviz/trace/) passes one; training never does.
        A non-finite x raises ValueError (checked once, before any step: a NaN would otherwise reach the
        nearest-neighbour index through the queries).
        """
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(f"expected input [T, B, {self.config.input_size}], got {list(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            bad = (~torch.isfinite(x)).nonzero()[0].tolist()
            raise ValueError(f"input holds a non-finite value (NaN or ±inf), first at [step, batch, feature] = {bad}")
        steps, batch, _ = x.shape
        hidden = x.new_zeros(batch, self.config.controller_size)
        cell = x.new_zeros(batch, self.config.controller_size)
        reads = x.new_zeros(batch, self.core.read_size)
        state = self.core.initial_state(batch) if memory_state is None else memory_state
        details = observe is not None
        outputs = []
        for t in range(steps):
            hidden, cell = self.controller(torch.cat([x[t], reads], dim=-1), (hidden, cell))
            interface = self.interface(hidden).clamp(-self.config.interface_clip, self.config.interface_clip)
            reads, state, step = self.core.step(interface, state, details=details)
            outputs.append(self.output(torch.cat([hidden, reads], dim=-1)))
            if details:
                observe(t, step)
        self.core.end_episode(state)
        return torch.stack(outputs), state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]

    def trace(self, x: torch.Tensor, targets: torch.Tensor | None = None, mask: torch.Tensor | None = None,
              task: str | None = None):
        """Run without gradients and record every step of batch element 0 -> samviz.trace.EpisodeTrace."""
        from .trace import record_episode
        return record_episode(self, x, targets=targets, mask=mask, task=task)


def build_model(kind: str, input_size: int = 9, output_size: int = 8, memory_slots: int = 128,
                word_size: int = 20, heads: int = 1, k: int = 4, controller_size: int = 100,
                index: str = "exact", link_k: int = 8, initial_rows: str = DEFAULT_INITIAL_ROWS,
                write_combination: str = DEFAULT_WRITE_COMBINATION, key_strength: str = DEFAULT_KEY_STRENGTH,
                access_threshold: float = ACCESS_THRESHOLD, accesses: str = DEFAULT_ACCESS_KIND,
                interface_clip: float = INTERFACE_CLIP,
                seed: int | None = None) -> MemoryModel:
    """Build a model by kind (one of samviz.kinds.MODELS); see ModelConfig for the fields."""
    config = ModelConfig(kind=kind, input_size=input_size, output_size=output_size, memory_slots=memory_slots,
                         word_size=word_size, heads=heads, k=k, controller_size=controller_size,
                         index=index, link_k=link_k, initial_rows=initial_rows,
                         write_combination=write_combination, key_strength=key_strength,
                         access_threshold=access_threshold, accesses=accesses, interface_clip=interface_clip)
    if seed is not None:
        torch.manual_seed(seed)
    return MemoryModel(config)
