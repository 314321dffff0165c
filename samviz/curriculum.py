"""The training curriculum: which difficulty level each training batch is drawn at.

The maximum level h starts at `start` and doubles (capped at max_level) when the mean training loss over
the last `window` updates falls below `threshold`; each batch's level is uniform in [min_level, h]
(docs/PAPER_NOTES.md, section "Training"; Rae et al. 2016 §4.3, Graves et al. 2016). The loss window
restarts after every advance, so h moves at most once per `window` updates.
"""
from __future__ import annotations

from collections import deque
import math

import torch


class Curriculum:
    """Maximum level h, the recent training losses that move it, and the record of its advances."""

    def __init__(self, min_level: int, max_level: int, start: int | None = None, threshold: float = 0.02,
                 window: int = 100, factor: int = 2):
        if not 1 <= min_level <= max_level:
            raise ValueError(f"need 1 ≤ min_level ≤ max_level (got {min_level}, {max_level})")
        self.min_level, self.max_level = int(min_level), int(max_level)
        self.level = int(min(max(start if start is not None else min_level, min_level), max_level))
        self.threshold, self.window, self.factor = float(threshold), int(window), int(factor)
        self.losses: deque = deque(maxlen=self.window)
        self.advances: list[tuple[int, int]] = []     # (update number, new h)

    @property
    def at_max(self) -> bool:
        return self.level >= self.max_level

    def sample_level(self, generator: torch.Generator) -> int:
        """One batch's level, uniform in [min_level, h] (one draw from `generator`)."""
        return int(torch.randint(self.min_level, self.level + 1, (1,), generator=generator).item())

    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else math.nan

    def update(self, loss: float, step: int | None = None) -> bool:
        """Record one update's training loss; returns True when h advanced. Non-finite losses are ignored."""
        if not math.isfinite(loss):
            return False
        self.losses.append(float(loss))
        if self.at_max or len(self.losses) < self.window or self.mean_loss() >= self.threshold:
            return False
        self.level = min(self.level * self.factor, self.max_level)
        self.losses.clear()
        self.advances.append((step if step is not None else -1, self.level))
        return True

    def state_dict(self) -> dict:
        """Everything needed to continue exactly, as JSON-able values."""
        return {"min_level": self.min_level, "max_level": self.max_level, "level": self.level,
                "threshold": self.threshold, "window": self.window, "factor": self.factor,
                "losses": list(self.losses), "advances": [list(a) for a in self.advances]}

    def load_state_dict(self, state: dict) -> None:
        self.min_level, self.max_level = int(state["min_level"]), int(state["max_level"])
        self.level, self.threshold = int(state["level"]), float(state["threshold"])
        self.window, self.factor = int(state["window"]), int(state["factor"])
        self.losses = deque((float(x) for x in state["losses"]), maxlen=self.window)
        self.advances = [tuple(a) for a in state.get("advances", [])]
