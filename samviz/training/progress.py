"""One status line for a training run on stderr: rewritten in place on a terminal, one line per report otherwise."""
from __future__ import annotations

import math
import sys


class Progress:
    """show() replaces the status line; message() prints a line that stays."""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.inplace = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = 0

    def show(self, text: str) -> None:
        if self.inplace:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.inplace and self.width:
            self.stream.write("\n")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.inplace and self.width:
            self.stream.write("\n")
            self.stream.flush()


def format_seconds(seconds: float) -> str:
    """"1h02m" or "3m07s"; "?" when unknown (not finite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
