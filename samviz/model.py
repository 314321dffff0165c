"""Controller + memory core + output layer: the one model class every memory type shares.

    h_t, c_t = LSTM([x_t ; r_{t−1}], (h_{t−1}, c_{t−1}))
    interface_t = clip(Linear(h_t), ±20)            # Collier & Beel's stabiliser
    r_t, state_t = core.step(interface_t, state_{t−1})   # write, then read
    y_t = Linear([h_t ; r_t])                        # logits
"""
from dataclasses import asdict, dataclass, field
import importlib

import torch
from torch import nn

MODELS = ("ntm", "dam", "sam", "dnc", "sdnc")
SPARSE_MODELS = ("sam", "sdnc")
INDEXES = ("exact", "faiss")
INTERFACE_CLIP = 20.0
MAX_SLOTS = 1 << 24

# kind -> (module, class); imported lazily so a core's heavy dependencies load only when used
_CORES = {
    "ntm": ("samviz.memory.ntm", "NTMMemory"),
    "dam": ("samviz.memory.dam", "DAMMemory"),
    "sam": ("samviz.memory.sam", "SAMMemory"),
    "dnc": ("samviz.memory.dnc", "DNCMemory"),
    "sdnc": ("samviz.memory.sdnc", "SDNCMemory"),
}


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
    extra: dict = field(default_factory=dict)

    def validate(self) -> "ModelConfig":
        if self.kind not in MODELS:
            raise ValueError(f"unknown model {self.kind!r}; choose one of {', '.join(MODELS)}")
        if self.index not in INDEXES:
            raise ValueError(f"unknown index {self.index!r}; choose one of {', '.join(INDEXES)}")
        for name in ("input_size", "output_size", "word_size", "heads", "k", "controller_size", "link_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer (got {value!r})")
        if not isinstance(self.memory_slots, int) or not 2 <= self.memory_slots <= MAX_SLOTS:
            raise ValueError(f"memory_slots must be an integer in [2, {MAX_SLOTS}] (got {self.memory_slots!r})")
        if self.kind in SPARSE_MODELS and self.k > self.memory_slots:
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
    module_name, class_name = _CORES[config.kind]
    core_class = getattr(importlib.import_module(module_name), class_name)
    if config.kind in SPARSE_MODELS:
        extra = {"k": config.k, "index": config.index}
        if config.kind == "sdnc":
            extra["link_k"] = config.link_k
        return core_class(config.memory_slots, config.word_size, config.heads, **extra)
    return core_class(config.memory_slots, config.word_size, config.heads)


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

    def run(self, x: torch.Tensor, record: bool = False, memory_state=None) -> tuple[torch.Tensor, list]:
        """x [T, B, I] -> (logits [T, B, O], per-step records of batch element 0 if `record`).

        memory_state: a state from `self.core.initial_state(B)` to start from (benchmarks pass one so the
        memory's O(N) set-up is not timed); by default a fresh one is made.
        """
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(f"expected input [T, B, {self.config.input_size}], got {list(x.shape)}")
        steps, batch, _ = x.shape
        hidden = x.new_zeros(batch, self.config.controller_size)
        cell = x.new_zeros(batch, self.config.controller_size)
        reads = x.new_zeros(batch, self.core.read_size)
        state = self.core.initial_state(batch) if memory_state is None else memory_state
        outputs, records = [], []
        for t in range(steps):
            hidden, cell = self.controller(torch.cat([x[t], reads], dim=-1), (hidden, cell))
            interface = self.interface(hidden).clamp(-INTERFACE_CLIP, INTERFACE_CLIP)
            reads, state, step_record = self.core.step(interface, state, record=record)
            outputs.append(self.output(torch.cat([hidden, reads], dim=-1)))
            if record:
                records.append(step_record)
        memory = getattr(state, "memory", None)
        if hasattr(memory, "end_forward"):
            memory.end_forward()
        return torch.stack(outputs), records

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]

    def trace(self, x: torch.Tensor, targets: torch.Tensor | None = None, mask: torch.Tensor | None = None,
              task: str | None = None):
        """Run without gradients and record every step of batch element 0 -> samviz.trace.EpisodeTrace."""
        from .trace import record_episode
        return record_episode(self, x, targets=targets, mask=mask, task=task)


def build_model(kind: str, input_size: int = 9, output_size: int = 8, memory_slots: int = 128,
                word_size: int = 20, heads: int = 1, k: int = 4, controller_size: int = 100,
                index: str = "exact", link_k: int = 8, seed: int | None = None) -> MemoryModel:
    """Build a model by name ("ntm", "dam", "sam", "dnc", "sdnc"); see ModelConfig for the fields."""
    config = ModelConfig(kind=kind, input_size=input_size, output_size=output_size, memory_slots=memory_slots,
                         word_size=word_size, heads=heads, k=k, controller_size=controller_size,
                         index=index, link_k=link_k)
    if seed is not None:
        torch.manual_seed(seed)
    return MemoryModel(config)
