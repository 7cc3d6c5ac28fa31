"""A one-line progress bar on stderr (redrawn in place on a terminal, one line per report otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(
        self,
        total: int,
        initial: int = 0,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: int = 10,
        width: int = 24,
    ) -> None:
        self.total = max(1, total)
        self.step = initial
        self.start_step = initial
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = max(1, every)
        self.width = width
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._line_len = 0

    def rate(self) -> float:
        """Steps per second since this run started."""
        return (self.step - self.start_step) / max(time.monotonic() - self.t0, 1e-9)

    def update(self, step: int, loss: float, lr: float, samples_per_step: int, extra: str = "") -> None:
        self.step = step
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw < 0.2 and step < self.total:
                return
        elif step % self.every and step != self.total:
            return
        self._last_draw = now
        rate = self.rate()
        done = int(self.width * step / self.total)
        bar = "#" * done + "." * (self.width - done)
        eta = (self.total - step) / rate if rate > 0 else 0.0
        line = (
            f"step {step}/{self.total} [{bar}] loss {loss:.4f} lr {lr:.2e} "
            f"{rate:.2f} it/s {rate * samples_per_step:.1f} samples/s eta {_duration(eta)}"
        )
        if extra:
            line += f" {extra}"
        self._write(line)

    def message(self, text: str) -> None:
        """A line of its own (validation results, notes) that does not garble the bar."""
        if not self.enabled:
            return
        if self.tty and self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self._line_len = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def _write(self, line: str) -> None:
        if self.tty:
            pad = max(0, self._line_len - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._line_len = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self._line_len:
            self.stream.write("\n")
            self.stream.flush()
            self._line_len = 0
