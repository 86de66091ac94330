"""Time-ordered record ids (UUID version 7, RFC 9562)."""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import UTC, datetime

__all__ = ["id_time", "new_id"]

_VERSION_7: int = 0x7 << 76
_VARIANT_RFC: int = 0b10 << 62
_RAND_A_MASK: int = (1 << 12) - 1
_RAND_B_MASK: int = (1 << 62) - 1


def new_id(
    at: datetime | None = None,
    *,
    rng: random.Random | None = None,
    random_bits: int | None = None,
) -> uuid.UUID:
    """
    Make a new record id: a UUID version 7 whose first 48 bits are the Unix time in
    milliseconds, so ids made later sort later and database indexes stay local.

    Args:
        at: the time to embed (aware); now if omitted. Imports pass the record's own
            creation time so that migrated records keep their order.
        rng: a seeded random source, for reproducible ids in tests and demos; the
            operating system's secure random source if omitted.
        random_bits: the 74 random bits themselves (ids derived from a key).

    .. versionadded:: 0.1.0
    """
    if at is None:
        ms = time.time_ns() // 1_000_000
    else:
        if at.tzinfo is None:
            raise ValueError("new_id needs an aware datetime")
        ms = int(at.timestamp() * 1000)
    ms &= (1 << 48) - 1
    if random_bits is not None:
        rand = random_bits & ((1 << 74) - 1)
    elif rng is not None:
        rand = rng.getrandbits(74)
    else:
        rand = int.from_bytes(os.urandom(10)) >> 6
    rand_a = (rand >> 62) & _RAND_A_MASK
    rand_b = rand & _RAND_B_MASK
    return uuid.UUID(int=(ms << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b)


def id_time(record_id: uuid.UUID) -> datetime:
    """
    The creation time embedded in a version 7 id, to the millisecond.

    Raises:
        ValueError: the id is not a version 7 UUID.

    .. versionadded:: 0.1.0
    """
    if record_id.version != 7:
        raise ValueError(f"{record_id} is not a time-ordered (version 7) id")
    return datetime.fromtimestamp((record_id.int >> 80) / 1000, tz=UTC)
