"""samviz — see, step by step, how NTM, SAM, DNC and SDNC read and write memory.

Public API (stable):
    samviz.MODELS, samviz.build_model(...), samviz.tasks.get(name), samviz.pretrained.load(name)
    samviz.kinds.spec(kind)                    what a model kind is (one spec per kind)
    model.trace(x), samviz.trace.record_episode(model, x)   an EpisodeTrace (keys: samviz/trace/schema.py)
"""
from . import tasks
from .model import INDEXES, MODELS, MemoryModel, ModelConfig, build_model

__version__ = "0.1.0"
__all__ = ["MODELS", "INDEXES", "MemoryModel", "ModelConfig", "build_model", "tasks", "pretrained", "__version__"]


def __getattr__(name):
    # samviz.pretrained pulls in safetensors; import it on first use
    if name == "pretrained":
        import importlib
        return importlib.import_module(".pretrained", __name__)
    raise AttributeError(f"module 'samviz' has no attribute {name!r}")
