"""samviz — see, step by step, how NTM, SAM, DNC and SDNC read and write memory.

Public API (stable):
    samviz.MODELS, samviz.build_model(...), samviz.tasks.get(name), samviz.pretrained.load(name)
    samviz.kinds.spec(kind)                    what a model kind is (one spec per kind)
    model.trace(x), samviz.trace.record_episode(model, x)   an EpisodeTrace (keys: samviz/trace/schema.py)

Importing samviz itself loads nothing heavy: the names below are imported on first use (PEP 562), so a
command that only validates its arguments (python -m samviz.bench --slots ...) refuses bad input without
paying for torch.
"""
import importlib

from .kinds import INDEXES, MODELS

__version__ = "0.2.0"   # keep in step with pyproject.toml
__all__ = ["MODELS", "INDEXES", "MemoryModel", "ModelConfig", "build_model", "tasks", "pretrained", "__version__"]

_LAZY = {   # public name -> (module, attribute or None for the module itself)
    "MemoryModel": (".model", "MemoryModel"),
    "ModelConfig": (".model", "ModelConfig"),
    "build_model": (".model", "build_model"),
    "tasks": (".tasks", None),
    "pretrained": (".pretrained", None),
    "trace": (".trace", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'samviz' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    return module if attribute is None else getattr(module, attribute)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
