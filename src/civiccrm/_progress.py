"""A small progress bar for long work, written to stderr."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """
    A progress bar with count, rate and time left, redrawn in place on a terminal.

    When the stream is not a terminal (a log file, CI), nothing is drawn while the work
    runs; one summary line is written at the end, so logs stay readable.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._live = self._stream.isatty() if enabled is None else enabled
        self._start = time.perf_counter()
        self._last_draw = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=exc_type is not None)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        self.done += n
        if self._live:
            now = time.perf_counter()
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self._draw(now)

    @property
    def rate(self) -> float:
        """Items per second so far."""
        elapsed = time.perf_counter() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _draw(self, now: float) -> None:
        width = 30
        frac = self.done / self.total if self.total else 1.0
        filled = int(width * frac)
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(
            f"\r{self.label} [{bar}] {self.done:,}/{self.total:,} {rate:,.0f}/s ~{left:,.0f}s left "
        )
        self._stream.flush()

    def close(self, *, failed: bool = False) -> None:
        """Finish the bar with a summary line."""
        elapsed = time.perf_counter() - self._start
        if self._live:
            self._stream.write("\r" + " " * 78 + "\r")
        status = "stopped" if failed else "done"
        self._stream.write(
            f"{self.label}: {status}, {self.done:,} in {elapsed:.1f}s ({self.rate:,.0f}/s)\n"
        )
        self._stream.flush()
