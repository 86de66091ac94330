"""Cases and their lifecycle."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from civiccrm.errors import Problem, TransitionError, ValidationError
from civiccrm.models._case_type import AttributeValue
from civiccrm.models._common import (
    Channel,
    Priority,
    as_tuple,
    finite_in_range,
    non_blank,
    optional_datetime_field,
)
from civiccrm.models._ids import new_id
from civiccrm.models._party import PartyRef
from civiccrm.models._pii import DIRECT, QUASI

__all__ = [
    "TRANSITIONS",
    "Case",
    "CaseStatus",
    "CaseSummary",
    "Location",
    "allowed_transitions",
    "check_transition",
]


class CaseStatus(enum.StrEnum):
    """
    Where a case is in its lifecycle.

    ::

        new ──> assigned ──> in_progress <──> pending
         │  \\      │  ^          │               │
         │   \\     v  └── new   v               │
         │    └─> in_progress ─> resolved <──────┘
         │                        │    │
         │                        │    └─> in_progress   (reopen)
         │                        v
         └──> cancelled         closed

    The full table is :data:`TRANSITIONS`; every open status (new, assigned,
    in_progress, pending) may also go to ``cancelled``. A resolved case is closed or
    reopened, not cancelled.

    .. versionadded:: 0.1.0
    """

    #: Received, not yet given to anyone.
    NEW = "new"
    #: Given to an agent who has not started.
    ASSIGNED = "assigned"
    #: Being worked.
    IN_PROGRESS = "in_progress"
    #: Waiting on the citizen or a third party; the SLA clock is paused.
    PENDING = "pending"
    #: The work is done; the citizen may still reopen it within the reopen window.
    RESOLVED = "resolved"
    #: Final: resolved and past reopening.
    CLOSED = "closed"
    #: Final: withdrawn, a duplicate, or raised in error.
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """True while work remains: not resolved, closed or cancelled."""
        return self in _OPEN

    @property
    def is_final(self) -> bool:
        """True for closed and cancelled, which no transition leaves."""
        return not TRANSITIONS[self]

    @property
    def pauses_clock(self) -> bool:
        """True for statuses that stop the SLA clock (pending)."""
        return self is CaseStatus.PENDING


_S = CaseStatus
_OPEN: Final = frozenset({_S.NEW, _S.ASSIGNED, _S.IN_PROGRESS, _S.PENDING})

#: The case lifecycle: for each status, the statuses a case may move to next. This is
#: the one place the lifecycle is written down; everything else asks it.
TRANSITIONS: Final[Mapping[CaseStatus, frozenset[CaseStatus]]] = MappingProxyType(
    {
        # Resolved straight from new: answered on first contact, or a duplicate.
        _S.NEW: frozenset({_S.ASSIGNED, _S.IN_PROGRESS, _S.RESOLVED, _S.CANCELLED}),
        # Back to new: returned to the queue unworked.
        _S.ASSIGNED: frozenset({_S.NEW, _S.IN_PROGRESS, _S.PENDING, _S.RESOLVED, _S.CANCELLED}),
        _S.IN_PROGRESS: frozenset({_S.PENDING, _S.RESOLVED, _S.CANCELLED}),
        _S.PENDING: frozenset({_S.IN_PROGRESS, _S.RESOLVED, _S.CANCELLED}),
        # Back to in_progress: reopened (within the reopen window, a policy decision).
        _S.RESOLVED: frozenset({_S.CLOSED, _S.IN_PROGRESS}),
        _S.CLOSED: frozenset(),
        _S.CANCELLED: frozenset(),
    }
)


def allowed_transitions(status: CaseStatus) -> frozenset[CaseStatus]:
    """
    The statuses a case in ``status`` may move to.

    .. versionadded:: 0.1.0
    """
    return TRANSITIONS[status]


def check_transition(from_status: CaseStatus, to_status: CaseStatus) -> None:
    """
    Raise :class:`~civiccrm.errors.TransitionError` unless the lifecycle allows moving
    from ``from_status`` to ``to_status``.

    >>> check_transition(CaseStatus.NEW, CaseStatus.ASSIGNED)
    >>> check_transition(CaseStatus.CLOSED, CaseStatus.IN_PROGRESS)
    Traceback (most recent call last):
    ...
    civiccrm.errors.TransitionError: cannot move a case from closed to in_progress (allowed from closed: nothing (final status))

    .. versionadded:: 0.1.0
    """
    allowed = TRANSITIONS[from_status]
    if to_status not in allowed:
        raise TransitionError(from_status, to_status, allowed=sorted(allowed, key=_order))


def _order(status: CaseStatus) -> int:
    return list(CaseStatus).index(status)


@attrs.frozen(kw_only=True)
class Location:
    """
    Where a case is: an address as given, coordinates (WGS 84), or both.

    It is declared quasi-identifying: the place of a pothole says little about anyone,
    but the place of a welfare check says where someone lives.

    .. versionadded:: 0.1.0
    """

    #: The address as given ("corner of 5th and Monroe").
    address: str | None = attrs.field(default=None, validator=non_blank, metadata=QUASI)
    latitude: float | None = attrs.field(
        default=None, validator=finite_in_range(-90, 90), metadata=QUASI
    )
    longitude: float | None = attrs.field(
        default=None, validator=finite_in_range(-180, 180), metadata=QUASI
    )
    #: An id of the place in the agency's address or asset registry.
    address_id: str | None = None
    #: The postal (ZIP) code, as given.
    postal_code: str | None = attrs.field(default=None, validator=non_blank, metadata=QUASI)

    def __attrs_post_init__(self) -> None:
        if (self.latitude is None) != (self.longitude is None):
            raise ValidationError.at("latitude", "give both latitude and longitude, or neither")
        if (
            self.address is None
            and self.latitude is None
            and self.address_id is None
            and self.postal_code is None
        ):
            raise ValidationError.at(
                "address",
                "a location needs an address, coordinates, an address id or a postal code",
            )


def _not_negative(_inst: object, field: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 0:
        raise ValidationError.at(field.name, f"{value} is negative")


def _satisfaction(_inst: object, field: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 1 <= value <= 5:
        raise ValidationError.at(field.name, f"{value} is not a score from 1 to 5")


@attrs.frozen(kw_only=True)
class Case:
    """
    One piece of work for the agency, from intake to closure (a 311 service request,
    a social-services case, a permit application).

    Cases are immutable: a change makes a new version through the CRM facade, which
    checks the lifecycle, records a :class:`~civiccrm.models.CaseEvent` and bumps
    ``version``. Custom ``attributes`` are checked against the case type with
    :meth:`CaseType.validate_attributes <civiccrm.models.CaseType.validate_attributes>`.

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID = attrs.field(factory=new_id)
    #: The case type's service code.
    case_type: str = attrs.field(validator=non_blank)
    #: A human reference for letters and phone calls, such as ``SR-2026-000123``.
    reference: str | None = None
    title: str | None = attrs.field(default=None, validator=non_blank, metadata=DIRECT)
    description: str | None = attrs.field(default=None, metadata=DIRECT)
    #: A photo or document the requester gave with the request (a URL: it may show a
    #: person or their home).
    media_url: str | None = attrs.field(default=None, validator=non_blank, metadata=DIRECT)
    status: CaseStatus = CaseStatus.NEW
    priority: Priority = Priority.NORMAL
    #: How the request came in.
    channel: Channel = Channel.WEB
    #: Who asked; None for an anonymous report.
    requester: PartyRef | None = None
    location: Location | None = None
    queue: str | None = None
    #: The code of the district (ward, service area) its location lies in, the first by
    #: code where districts overlap; set by the CRM from the profile's district map.
    #: An area of thousands of households, not an address: not declared personal, and
    #: kept for statistics when a case is anonymised.
    district: str | None = None
    #: The agent who owns the case now.
    assignee: uuid.UUID | None = None
    #: Labels (set by staff and by routing rules). Declared quasi-identifying: a tag a
    #: rule derives from the requester or the text ("interpreter", "safeguarding")
    #: says something about a person.
    tags: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, metadata=QUASI)
    #: Skills an agent needs to work it (set by routing rules, such as ``gas``);
    #: quasi-identifying for the same reason as tags.
    required_skills: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, metadata=QUASI)
    #: Answers to the case type's intake questions, by attribute code.
    attributes: dict[str, AttributeValue] = attrs.field(factory=dict, hash=False, metadata=DIRECT)
    parent_id: uuid.UUID | None = None
    #: The case this one reports again (the same pothole).
    duplicate_of: uuid.UUID | None = None
    #: When the citizen reported it; the SLA clock may start here (defaults to opened_at).
    reported_at: datetime | None = optional_datetime_field()
    #: When it was keyed into the system.
    opened_at: datetime | None = optional_datetime_field()
    first_response_at: datetime | None = optional_datetime_field()
    resolved_at: datetime | None = optional_datetime_field()
    closed_at: datetime | None = optional_datetime_field()
    updated_at: datetime | None = optional_datetime_field()
    #: When the first response is due under the SLA (set by the SLA policy).
    response_due_at: datetime | None = optional_datetime_field()
    #: When resolution is due under the SLA; Open311's ``expected_datetime``.
    due_at: datetime | None = optional_datetime_field()
    #: When the SLA state next changes (a warning threshold or a due time): the
    #: escalation sweep looks at open cases whose time has come. Set by the CRM.
    sla_check_at: datetime | None = optional_datetime_field()
    #: The time its first-response target took (business time on the policy's calendar,
    #: less pauses), in whole seconds, once met; None while running or with no target.
    #: Set by the CRM from the SLA clock, for reports.
    response_seconds: int | None = attrs.field(default=None, validator=_not_negative)
    #: Whether the first response was on time (None: not met yet, or no target).
    response_met: bool | None = None
    #: The time its resolution target took, like ``response_seconds``; cleared when the
    #: case is reopened.
    resolution_seconds: int | None = attrs.field(default=None, validator=_not_negative)
    #: Whether it was resolved on time (None: not resolved, or no target).
    resolution_met: bool | None = None
    resolution_code: str | None = None
    #: The citizen's satisfaction score, 1 (very unhappy) to 5 (very happy).
    satisfaction: int | None = attrs.field(default=None, validator=_satisfaction)
    reopen_count: int = 0
    #: Ids of this case in other systems (a legacy system, an Open311 token).
    external_ids: dict[str, str] = attrs.field(factory=dict, hash=False)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        if self.parent_id is not None and self.parent_id == self.id:
            problems.append(Problem("parent_id", "a case cannot be its own parent"))
        if self.duplicate_of is not None and self.duplicate_of == self.id:
            problems.append(Problem("duplicate_of", "a case cannot be a duplicate of itself"))
        if self.reopen_count < 0:
            problems.append(Problem("reopen_count", "cannot be negative"))
        if problems:
            raise ValidationError(problems, record_type="Case")

    @property
    def is_open(self) -> bool:
        """True while work remains."""
        return self.status.is_open

    def transition(self, to_status: CaseStatus, *, at: datetime) -> Case:
        """
        Return this case moved to ``to_status`` at ``at``, with the timestamps that go
        with it: ``resolved_at`` on resolving, ``closed_at`` on closing or cancelling,
        and on reopening (resolved to in_progress) ``resolved_at`` cleared and
        ``reopen_count`` raised. ``version`` is left to the storage layer.

        Raises:
            TransitionError: the lifecycle does not allow the move.

        .. versionadded:: 0.1.0
        """
        check_transition(self.status, to_status)
        changes: dict[str, Any] = {"status": to_status, "updated_at": at}
        if to_status is CaseStatus.RESOLVED:
            changes["resolved_at"] = at
        elif to_status in (CaseStatus.CLOSED, CaseStatus.CANCELLED):
            changes["closed_at"] = at
        elif self.status is CaseStatus.RESOLVED and to_status is CaseStatus.IN_PROGRESS:
            changes["resolved_at"] = None
            changes["reopen_count"] = self.reopen_count + 1
        if to_status is CaseStatus.NEW:
            changes["assignee"] = None
        return attrs.evolve(self, **changes)


@attrs.frozen(kw_only=True)
class CaseSummary:
    """
    The operational fields of a case, with no personal data: what work lists and SLA
    sweeps need (which case, where it stands, who has it, when it is due).

    Summaries are read from the indexed columns alone, never from the case document,
    so listing them neither reads nor decrypts anyone's personal data. Get the whole
    case with ``crm.cases.get(summary.id)``. A summary is a snapshot: act on it with
    its ``version`` (a stale one raises ``ConflictError``).

    .. versionadded:: 0.1.0
    """

    id: uuid.UUID
    version: int
    reference: str | None
    case_type: str
    status: CaseStatus
    priority: Priority
    channel: Channel
    queue: str | None
    assignee: uuid.UUID | None
    opened_at: datetime | None
    updated_at: datetime | None
    response_due_at: datetime | None
    due_at: datetime | None

    @property
    def is_open(self) -> bool:
        """True while work remains."""
        return self.status.is_open
