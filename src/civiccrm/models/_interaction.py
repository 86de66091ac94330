"""Interactions: one contact on a channel, or an internal note."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models._common import Channel, aware_utc
from civiccrm.models._ids import new_id
from civiccrm.models._party import PartyRef
from civiccrm.models._pii import DIRECT

__all__ = ["DeliveryStatus", "Direction", "Interaction"]


class Direction(enum.StrEnum):
    """
    Which way an interaction went.

    .. versionadded:: 0.1.0
    """

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    #: A note staff wrote for each other; the citizen never saw it.
    INTERNAL = "internal"


class DeliveryStatus(enum.StrEnum):
    """
    What became of an outbound message.

    .. versionadded:: 0.1.0
    """

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"


def _non_negative(_inst: object, field: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 0:
        raise ValidationError.at(field.name, "cannot be negative")


@attrs.frozen(kw_only=True)
class Interaction:
    """
    One contact with a party on a channel (a call, an email, a walk-in visit, a letter),
    inbound or outbound, or an internal note on a case. It concerns a party, a case,
    or both.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    channel: Channel
    direction: Direction
    occurred_at: datetime = attrs.field(
        converter=attrs.Converter(aware_utc, takes_field=True)  # type: ignore[misc]
    )
    party: PartyRef | None = None
    case_id: uuid.UUID | None = None
    #: The agent who took or sent it; None for a system message.
    author_id: uuid.UUID | None = None
    subject: str | None = attrs.field(default=None, metadata=DIRECT)
    body: str | None = attrs.field(default=None, metadata=DIRECT)
    #: Only for outbound messages.
    delivery_status: DeliveryStatus | None = None
    #: The channel's own id: an email's Message-ID, a telephony call id. Declared personal
    #: data because Message-IDs often carry an email address.
    external_id: str | None = attrs.field(default=None, metadata=DIRECT)
    #: Length of a call or visit.
    duration_seconds: int | None = attrs.field(default=None, validator=_non_negative)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        if self.party is None and self.case_id is None:
            problems.append(Problem("party", "an interaction concerns a party, a case, or both"))
        if self.direction is Direction.INTERNAL and self.case_id is None:
            problems.append(Problem("case_id", "an internal note belongs to a case"))
        if self.delivery_status is not None and self.direction is not Direction.OUTBOUND:
            problems.append(
                Problem("delivery_status", "only outbound interactions have a delivery status")
            )
        if problems:
            raise ValidationError(problems, record_type="Interaction")
