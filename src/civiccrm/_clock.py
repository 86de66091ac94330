"""Clocks: where civiccrm gets the time. Nothing calls ``datetime.now()`` directly."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FixedClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """
    **Protocol:** a source of the current time.

    .. versionadded:: 0.1.0
    """

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    """
    The computer's clock, in UTC.

    .. versionadded:: 0.1.0
    """

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """
    A clock that stands still until moved: for tests, demos and replaying history.

    >>> clock = FixedClock(datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    >>> clock.advance(hours=2).isoformat()
    '2026-03-08T14:00:00+00:00'

    .. versionadded:: 0.1.0
    """

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        """Move the clock to ``at`` (aware)."""
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        with self._lock:
            self._now = at.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` or by ``timedelta(**kwargs)``; return the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"
