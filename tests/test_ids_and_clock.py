"""Time-ordered ids and clocks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civiccrm import Clock, FixedClock, SystemClock
from civiccrm.models import id_time, new_id

moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(8000, 1, 1), timezones=st.just(UTC)
)


@given(moments)
def test_id_is_version_7_and_carries_its_time(at: datetime) -> None:
    rid = new_id(at)
    assert rid.version == 7
    assert rid.variant == "specified in RFC 4122"
    assert abs(id_time(rid) - at) < timedelta(milliseconds=1)


@given(moments, moments)
def test_ids_sort_by_time(a: datetime, b: datetime) -> None:
    if a.replace(microsecond=a.microsecond // 1000 * 1000) < b.replace(
        microsecond=b.microsecond // 1000 * 1000
    ):
        assert new_id(a) < new_id(b)


def test_seeded_ids_repeat() -> None:
    at = datetime(2026, 11, 25, tzinfo=UTC)
    assert new_id(at, rng=random.Random(1)) == new_id(at, rng=random.Random(1))
    assert new_id(at) != new_id(at)


def test_naive_time_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        new_id(datetime(2026, 1, 1))


def test_id_time_needs_v7() -> None:
    import uuid

    with pytest.raises(ValueError, match="version 7"):
        id_time(uuid.uuid4())


def test_clocks() -> None:
    assert isinstance(SystemClock(), Clock)
    now = SystemClock().now()
    assert now.tzinfo is UTC
    fixed = FixedClock(datetime(2026, 3, 8, 1, 0, tzinfo=timezone(timedelta(hours=-6))))
    assert fixed.now() == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert fixed.now().tzinfo is UTC
    assert fixed.advance(minutes=90) == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    fixed.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert fixed.now().year == 2027
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 1, 1))
