"""Traces: what a model did at every step of one episode, as JSON for the app.

    trace = samviz.trace.record_episode(model, x)      # or model.trace(x); x [T, B, I], batch element 0 kept
    trace.steps[t]["read_weights"] ...                  # keys: samviz/trace/schema.py

episode.py  EpisodeTrace and its JSON file format (torch-free)
schema.py   every key a step holds, its shape and meaning, and the UI size limits (torch-free)
recorders.py one recorder per kind of core step result -> one JSON step (imported on first recording)
"""
from .episode import FORMAT_VERSION, MAX_TRACE_BYTES, EpisodeTrace
from .schema import GATES, STEP_KEYS, check_step

__all__ = ["EpisodeTrace", "FORMAT_VERSION", "GATES", "MAX_TRACE_BYTES", "STEP_KEYS", "check_step", "record_episode"]


def record_episode(model, x, targets=None, mask=None, task: str | None = None) -> EpisodeTrace:
    """Run `model` on x [T, B, I] without gradients and record batch element 0 step by step.

    targets [T, B, O] and mask [T, B] are kept (batch element 0) for the app's error display.
    """
    import torch

    from .recorders import record_step

    steps = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, _ = model.run(x, observe=lambda t, step: steps.append(record_step(model.core, step)))
    finally:
        model.train(was_training)
    return EpisodeTrace(
        model=model.kind,
        config=model.config.to_dict(),
        inputs=x[:, 0].tolist(),
        outputs=torch.sigmoid(logits[:, 0]).tolist(),
        steps=steps,
        targets=None if targets is None else targets[:, 0].tolist(),
        mask=None if mask is None else mask[:, 0].tolist(),
        task=task,
        meta=dict(getattr(model, "meta", {}) or {}),
    )
