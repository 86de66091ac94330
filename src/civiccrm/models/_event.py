"""Case events: a case's own history."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import attrs

from civiccrm.models._case import CaseStatus
from civiccrm.models._common import aware_utc
from civiccrm.models._ids import new_id
from civiccrm.models._pii import DIRECT

__all__ = ["CaseEvent", "EventKind", "EventValue"]

#: A value in an event's ``data``: facts about the change, never personal data.
EventValue = str | int | float | bool | None


class EventKind(enum.StrEnum):
    """
    What happened to a case.

    .. versionadded:: 0.1.0
    """

    OPENED = "opened"
    UPDATED = "updated"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    ROUTED = "routed"
    #: Assignment found no agent who could take the case: it waits in its queue.
    WAITING = "waiting"
    PRIORITY_CHANGED = "priority_changed"
    NOTE_ADDED = "note_added"
    LINKED = "linked"
    UNLINKED = "unlinked"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    INTERACTION_LOGGED = "interaction_logged"
    #: A possible duplicate was found (an open case of the same type nearby).
    DUPLICATE_PROPOSED = "duplicate_proposed"
    #: An automation reminded the owner (a case pending too long).
    REMINDED = "reminded"
    #: The requester was told their request was received.
    ACKNOWLEDGED = "acknowledged"


@attrs.frozen(kw_only=True)
class CaseEvent:
    """
    One entry in a case's history. Events are appended, never changed.

    ``data`` holds the facts of the change (``{"field": "priority", "from": "normal",
    "to": "high"}``, a rule name, a queue code) and must not hold personal data; free
    text goes in ``note``, which is declared personal data.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    case_id: uuid.UUID
    kind: EventKind
    at: datetime = attrs.field(converter=attrs.Converter(aware_utc, takes_field=True))  # type: ignore[misc]
    #: The agent who did it; None for the system (a sweep, a rule, an import).
    actor: uuid.UUID | None = None
    from_status: CaseStatus | None = None
    to_status: CaseStatus | None = None
    note: str | None = attrs.field(default=None, metadata=DIRECT)
    data: dict[str, EventValue] = attrs.field(factory=dict, hash=False)
    #: Storage version: 1 once stored (events are never changed afterwards).
    version: int = 0
