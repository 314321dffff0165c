"""Wall time of each step of a model's plain forward pass (no recording, no gradients). No Streamlit."""
from __future__ import annotations

import copy
import time


def step_times_ms(model, x, repeats: int = 3) -> list[float]:
    """x [T, B, I] -> [T] milliseconds: the wall time of each step, the best of `repeats` runs.

    Times are taken with time.perf_counter at every call of the controller (one per step) on a private
    copy of the model, so a shared cached model is never touched (not even by a hook).
    """
    import torch
    clone = copy.deepcopy(model).eval()
    stamps: list[float] = []
    handle = clone.controller.register_forward_pre_hook(lambda module, args: stamps.append(time.perf_counter()))
    best: list[float] | None = None
    try:
        with torch.no_grad():
            for _ in range(repeats):
                stamps.clear()
                clone.run(x)
                marks = stamps + [time.perf_counter()]
                times = [(b - a) * 1000.0 for a, b in zip(marks, marks[1:], strict=False)]
                best = times if best is None else [min(a, b) for a, b in zip(best, times, strict=True)]
    finally:
        handle.remove()
    return best or []
