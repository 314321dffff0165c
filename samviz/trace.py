"""EpisodeTrace: what a model did at every step of one episode (batch element 0), for the app.

Each entry of `steps` is the record a memory core returned for that step (a plain JSON-able dict).
Keys every core fills (see samviz/memory/*.py):
    read_weights   list over read heads of {"ids": [n], "values": [n]} — sparse cores keep only K ids
    write_weights  {"ids": [n], "values": [n]}
    rows_written   {"ids": [n], "before": [n][W], "after": [n][W]}
    reads          [R][W] read vectors
    gates          {name: float or list}
Optional keys: usage [N] (and least_used: int), memory [N][W] (small memories only),
neighbours (ANN vs exact top-K per head), read_modes and links (DNC/SDNC).
Saved as JSON — never pickle — so a trace can be downloaded, shared and loaded safely.
"""
from dataclasses import asdict, dataclass, field
import json
from pathlib import Path

import torch

FORMAT_VERSION = 1
MAX_TRACE_BYTES = 200 * 1024 * 1024


@dataclass
class EpisodeTrace:
    model: str                       # "ntm", "sam", ...
    config: dict                     # ModelConfig.to_dict()
    inputs: list                     # [T][I]
    outputs: list                    # [T][O] output probabilities (sigmoid of the logits)
    steps: list                      # [T] per-step records (see module docstring)
    targets: list | None = None      # [T][O]
    mask: list | None = None         # [T]
    task: str | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.steps)

    def to_json(self) -> str:
        return json.dumps({"format_version": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> "EpisodeTrace":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not a trace: invalid JSON ({error})") from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a samviz trace of format version {FORMAT_VERSION}")
        data.pop("format_version")
        required = {"model", "config", "inputs", "outputs", "steps"}
        missing = required - set(data)
        if missing:
            raise ValueError(f"trace is missing {', '.join(sorted(missing))}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"trace has unknown fields {', '.join(sorted(unknown))}")
        trace = cls(**data)
        if not (len(trace.inputs) == len(trace.outputs) == len(trace.steps)):
            raise ValueError("trace is inconsistent: inputs, outputs and steps differ in length")
        return trace

    def save(self, path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path) -> "EpisodeTrace":
        path = Path(path)
        if path.stat().st_size > MAX_TRACE_BYTES:
            raise ValueError(f"trace file is larger than {MAX_TRACE_BYTES >> 20} MiB")
        return cls.from_json(path.read_text())


def record_episode(model, x: torch.Tensor, targets: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                   task: str | None = None) -> EpisodeTrace:
    """Run `model` on x [T, B, I] without gradients and record batch element 0 step by step."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, records = model.run(x, record=True)
    finally:
        model.train(was_training)
    return EpisodeTrace(
        model=model.kind,
        config=model.config.to_dict(),
        inputs=x[:, 0].tolist(),
        outputs=torch.sigmoid(logits[:, 0]).tolist(),
        steps=records,
        targets=None if targets is None else targets[:, 0].tolist(),
        mask=None if mask is None else mask[:, 0].tolist(),
        task=task,
        meta=dict(getattr(model, "meta", {}) or {}),
    )
