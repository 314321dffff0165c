"""EpisodeTrace: what a model did at every step of one episode (batch element 0), for the app.

Each entry of `steps` is a plain JSON object made by a recorder (samviz/trace/recorders.py) from a core's
step result; every key, its shape and meaning is in samviz/trace/schema.py (STEP_KEYS, GATES).
Saved as JSON — never pickle — so a trace can be downloaded, shared and loaded safely.
"""
from dataclasses import asdict, dataclass, field
import json
from pathlib import Path

FORMAT_VERSION = 1
MAX_TRACE_BYTES = 200 * 1024 * 1024


@dataclass
class EpisodeTrace:
    model: str                       # "ntm", "sam", ...
    config: dict                     # ModelConfig.to_dict()
    inputs: list                     # [T][I]
    outputs: list                    # [T][O] output probabilities (sigmoid of the logits)
    steps: list                      # [T] per-step JSON objects (samviz/trace/schema.py)
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
