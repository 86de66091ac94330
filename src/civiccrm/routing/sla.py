"""
SLA policies and clocks: the agency's service-level targets, and where a case stands
against them at any moment.

An :class:`SlaPolicy` (a profile's ``[sla_policies.<code>]``, see ``docs/sla-policies.md``)
holds several :class:`SlaTarget` (first response, periodic update, resolution, any named
milestone), each an amount of business time on a named
:class:`~civiccrm.routing.calendar.BusinessCalendar` or of plain calendar time, with
warning thresholds, the statuses that pause the clock and the events that restart it,
and per-priority overrides.

:func:`clock` replays a case's events up to a moment and says, for each target, when it
started, when it is due, how much time is used and left, which intervals were paused,
whether it was met, and its state (:class:`SlaState`). It is a pure function of the case,
its events, the profile and the moment: recompute it for any past moment, or after a
policy change, and it gives the same answer every time.

Nothing here does I/O.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import math
import types
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from civiccrm.errors import NotFoundError, Problem, ValidationError
from civiccrm.models import Case, CaseEvent, CaseStatus, EventKind, Priority
from civiccrm.models._common import _kind, non_blank, slug

if TYPE_CHECKING:
    from civiccrm.profile import Profile

__all__ = [
    "MET_BY",
    "NOTIFY",
    "EscalationStep",
    "RESET_CONDITIONS",
    "SlaClock",
    "SlaOverride",
    "SlaPolicy",
    "SlaStart",
    "SlaState",
    "SlaTarget",
    "SlaUnit",
    "TargetClock",
    "clock",
    "policy_for",
]


class SlaUnit(enum.StrEnum):
    """
    What a target's amount counts. Business units count the open time of the policy's
    calendar; calendar units count real elapsed time (exact, in UTC: a calendar day is
    24 hours).

    .. versionadded:: 0.1.0
    """

    BUSINESS_MINUTES = "business_minutes"
    BUSINESS_HOURS = "business_hours"
    #: Whole working days, counted the way public-records laws count them
    #: (:meth:`BusinessCalendar.add_days <civiccrm.routing.calendar.BusinessCalendar.add_days>`).
    BUSINESS_DAYS = "business_days"
    CALENDAR_MINUTES = "calendar_minutes"
    CALENDAR_HOURS = "calendar_hours"
    CALENDAR_DAYS = "calendar_days"

    @property
    def is_business(self) -> bool:
        """True for the units measured on the policy's calendar."""
        return self.value.startswith("business_")

    @property
    def is_days(self) -> bool:
        """True for the units that take a whole number of days."""
        return self.value.endswith("_days")


_UNIT_SECONDS: Final = {"minutes": 60, "hours": 3600, "days": 86_400}


class SlaStart(enum.StrEnum):
    """
    When a case's SLA clock starts.

    .. versionadded:: 0.1.0
    """

    #: When the citizen reported it (``Case.reported_at``); retroactive when staff keyed
    #: it in later. Falls back to ``opened_at``.
    REPORTED = "reported"
    #: When it was keyed into the system (``Case.opened_at``).
    OPENED = "opened"


#: The conditions that meet a target (a target's ``met_by``), with what each means.
#: ``status:<status>`` and ``event:<kind>`` take any case status and event kind.
MET_BY: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "first_response": "the first response: an outbound interaction, the case moving "
        "into in_progress or resolved, or Case.first_response_at",
        "contact": "an outbound interaction logged on the case",
        "resolved": "the case resolved or closed",
        "status:<status>": "the case in that status",
        "event:<kind>": "an event of that kind",
    }
)

#: The events that restart every target of a policy (its ``reset_on``).
RESET_CONDITIONS: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "case_type_changed": "an updated event whose fields include case_type",
        "queue_changed": "an updated event whose fields include queue",
        "reopened": "the case reopened (resolved back to in_progress)",
        "priority_changed": "a priority_changed event (instead of re-planning)",
    }
)

#: met_by defaults by target name.
_DEFAULT_MET_BY: Final = {"first_response": "first_response", "resolution": "resolved"}
_RESOLVED: Final = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})
_FIRST_RESPONSE_STATUSES: Final = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED})
_OPEN_STATUSES: Final = tuple(s for s in CaseStatus if s.is_open)


# --------------------------------------------------------------------------------------
# Checks shared with the profile loader: each returns a message, or None if all is well.


def met_by_problem(value: object) -> str | None:
    """What is wrong with a target's ``met_by``, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {_kind(value)}"
    head, colon, tail = value.partition(":")
    if colon and head == "status":
        if tail not in CaseStatus.__members__.values():
            statuses = ", ".join(s.value for s in CaseStatus)
            return f"{tail!r} is not a case status (one of {statuses})"
        return None
    if colon and head == "event":
        if tail not in EventKind.__members__.values():
            kinds = ", ".join(k.value for k in EventKind)
            return f"{tail!r} is not an event kind (one of {kinds})"
        return None
    if not colon and value in MET_BY:
        return None
    return f"{value!r} is not a met_by condition (one of {', '.join(map(repr, MET_BY))})"


def repeat_problem(met_by: str) -> str | None:
    """Why a target met by ``met_by`` cannot repeat, or None if it can."""
    if met_by == "contact" or met_by.startswith("event:"):
        return None
    return f"only a target met by 'contact' or 'event:<kind>' repeats, not {met_by!r}"


def reset_problem(value: object) -> str | None:
    """What is wrong with a ``reset_on`` condition, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {_kind(value)}"
    if value not in RESET_CONDITIONS:
        return (
            f"{value!r} is not a reset condition (one of {', '.join(map(repr, RESET_CONDITIONS))})"
        )
    return None


def pause_status_problem(value: object) -> str | None:
    """What is wrong with a pause status, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {_kind(value)}"
    if value not in {s.value for s in _OPEN_STATUSES}:
        listed = ", ".join(s.value for s in _OPEN_STATUSES)
        return f"{value!r} is not an open case status (one of {listed})"
    return None


def warnings_problems(values: Sequence[object]) -> list[Problem]:
    """The problems of a ``warnings`` list, each at ``warnings[i]``."""
    problems = []
    previous: float | None = None
    for i, value in enumerate(values):
        path = f"warnings[{i}]"
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem(path, f"expected a number, got {_kind(value)}"))
            previous = None
            continue
        if not (math.isfinite(value) and 0 < value < 1):
            problems.append(Problem(path, f"{value} is not a fraction strictly between 0 and 1"))
        elif previous is not None and value <= previous:
            problems.append(
                Problem(path, f"{value} does not come after {previous}: list them increasing")
            )
        previous = value
    return problems


def amount_problem(unit: SlaUnit, value: object) -> str | None:
    """What is wrong with a target's amount in ``unit``, or None."""
    if unit.is_days:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected a whole number of days, got {_kind(value)}"
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {_kind(value)}"
    if not (math.isfinite(value) and value > 0):
        return f"must be more than 0, got {value}"
    if value * _UNIT_SECONDS[unit.value.rpartition("_")[2]] > 3_650 * 86_400:
        return f"{value} is more than ten years"
    return None


def default_met_by(name: str) -> str | None:
    """The ``met_by`` of a target named ``name`` when none is given, or None."""
    return _DEFAULT_MET_BY.get(name)


# --------------------------------------------------------------------------------------
# Policies


def _unit(value: SlaUnit | str) -> SlaUnit:
    try:
        return SlaUnit(value)
    except ValueError:
        units = ", ".join(u.value for u in SlaUnit)
        raise ValidationError.at("unit", f"{value!r} is not a unit (one of {units})") from None


def _default_met_by(target: SlaTarget) -> str:
    return _DEFAULT_MET_BY.get(target.name, "")


def _check_met_by(target: SlaTarget, _field: attrs.Attribute[Any], value: str) -> None:
    if value == "":
        raise ValidationError.at(
            "met_by",
            f"is required for a target named {target.name!r} (only "
            "first_response and resolution have a default)",
        )
    message = met_by_problem(value)
    if message is not None:
        raise ValidationError.at("met_by", message)


def _check_amount(target: SlaTarget, _field: attrs.Attribute[Any], value: float) -> None:
    message = amount_problem(target.unit, value)
    if message is not None:
        raise ValidationError.at("amount", message)


@attrs.frozen(kw_only=True)
class SlaTarget:
    """
    One target of a policy: ``amount`` of ``unit`` from the start of the clock until the
    ``met_by`` condition happens (see :data:`MET_BY`).

    A target with ``repeat`` (met by ``contact`` or ``event:<kind>``: a periodic update)
    starts again each time it is met, while the case is open; resolving the case meets
    the running round.

    .. versionadded:: 0.1.0
    """

    #: A code: ``first_response``, ``resolution``, ``update``, ``plan_review`` ...
    name: str = attrs.field(validator=slug)
    unit: SlaUnit = attrs.field(converter=_unit)
    #: A positive number of ``unit`` (a whole number of days for the day units).
    amount: int | float = attrs.field(validator=_check_amount)
    #: Defaults to ``first_response`` for a target named first_response and to
    #: ``resolved`` for one named resolution; required for any other name.
    met_by: str = attrs.field(
        default=attrs.Factory(_default_met_by, takes_self=True), validator=_check_met_by
    )
    repeat: bool = False

    def __attrs_post_init__(self) -> None:
        if self.repeat:
            message = repeat_problem(self.met_by)
            if message is not None:
                raise ValidationError.at("repeat", message)

    @property
    def duration(self) -> timedelta | None:
        """The amount as a timedelta; None for business days (they are counted as days)."""
        if self.unit is SlaUnit.BUSINESS_DAYS:
            return None
        return timedelta(seconds=self.amount * _UNIT_SECONDS[self.unit.value.rpartition("_")[2]])

    @property
    def resolution_like(self) -> bool:
        """True for a target met by the case being resolved (re-planned on a reopen)."""
        return self.met_by in ("resolved", "status:resolved", "status:closed")


def _targets(value: Iterable[SlaTarget]) -> tuple[SlaTarget, ...]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("targets", f"expected a list of targets, got {_kind(raw)}")
    out = tuple(raw)
    problems = []
    first: dict[str, int] = {}
    for i, target in enumerate(out):
        if not isinstance(target, SlaTarget):
            problems.append(Problem(f"targets[{i}]", f"expected an SlaTarget, got {_kind(target)}"))
        elif target.name in first:
            problems.append(
                Problem(
                    f"targets[{i}].name",
                    f"duplicate target {target.name!r} (also targets[{first[target.name]}])",
                )
            )
        else:
            first[target.name] = i
    if problems:
        raise ValidationError(problems, record_type="SlaPolicy")
    return out


@attrs.frozen(kw_only=True)
class SlaOverride:
    """
    What one priority changes in a policy: its calendar, and targets that replace the
    policy's targets of the same name (or add new ones).

    .. versionadded:: 0.1.0
    """

    calendar: str | None = attrs.field(default=None, validator=attrs.validators.optional(slug))
    targets: tuple[SlaTarget, ...] = attrs.field(default=(), converter=_targets)


def _start(value: SlaStart | str) -> SlaStart:
    try:
        return SlaStart(value)
    except ValueError:
        raise ValidationError.at("start", f"{value!r} is not 'reported' or 'opened'") from None


def _warnings(value: Iterable[float]) -> tuple[float, ...]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("warnings", f"expected a list of fractions, got {_kind(raw)}")
    out = tuple(raw)
    problems = warnings_problems(out)
    if problems:
        raise ValidationError(problems, record_type="SlaPolicy")
    return tuple(float(f) for f in out)


def _pause_statuses(value: Iterable[CaseStatus | str]) -> frozenset[CaseStatus]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("pause_statuses", f"expected a list of statuses, got {_kind(raw)}")
    out = []
    for i, status in enumerate(raw):
        message = pause_status_problem(status)
        if message is not None:
            raise ValidationError.at(f"pause_statuses[{i}]", message)
        out.append(CaseStatus(status))
    return frozenset(out)


def _reset_on(value: Iterable[str]) -> frozenset[str]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("reset_on", f"expected a list of conditions, got {_kind(raw)}")
    out = []
    for i, condition in enumerate(raw):
        message = reset_problem(condition)
        if message is not None:
            raise ValidationError.at(f"reset_on[{i}]", message)
        out.append(condition)
    return frozenset(out)


def _priorities(value: Mapping[Priority, SlaOverride]) -> Mapping[Priority, SlaOverride]:
    raw: object = value
    if not isinstance(raw, Mapping):
        raise ValidationError.at("priorities", f"expected a mapping, got {_kind(raw)}")
    out = {}
    for key, override in raw.items():
        try:
            priority = key if isinstance(key, Priority) else Priority(key)
        except ValueError:
            raise ValidationError.at("priorities", f"{key!r} is not a priority") from None
        if not isinstance(override, SlaOverride):
            raise ValidationError.at(
                f"priorities.{priority.value}", f"expected an SlaOverride, got {_kind(override)}"
            )
        out[priority] = override
    return types.MappingProxyType({p: out[p] for p in Priority if p in out})


def _nonempty_targets(
    _policy: SlaPolicy, _field: attrs.Attribute[Any], value: tuple[Any, ...]
) -> None:
    if not value:
        raise ValidationError.at("targets", "a policy needs at least one target")


#: Who an escalation step notifies.
NOTIFY: Final = ("assignee", "supervisor", "department_head")


def _notify(value: Iterable[str]) -> tuple[str, ...]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("notify", f"expected a list of recipients, got {raw!r}")
    out = tuple(raw)
    for who in out:
        if who not in NOTIFY:
            raise ValidationError.at("notify", f"{who!r} is not one of {', '.join(NOTIFY)}")
    return out


@attrs.frozen(kw_only=True)
class EscalationStep:
    """
    One level of a policy's escalation chain, taken once per breached target: ``after``
    the target's due time (calendar time), raise the case's priority one step, move it
    to ``queue``, and notify people (through the ``civiccrm_sla_escalated`` hook).

    .. versionadded:: 0.1.0
    """

    after: timedelta = timedelta(0)
    raise_priority: bool = False
    queue: str | None = None
    notify: tuple[str, ...] = attrs.field(default=(), converter=_notify)

    def __attrs_post_init__(self) -> None:
        if self.after < timedelta(0):
            raise ValidationError.at("after", "cannot be negative")


def _steps(value: Iterable[EscalationStep]) -> tuple[EscalationStep, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class SlaPolicy:
    """
    An SLA policy: the targets a case is held to, on which calendar, and what pauses
    and restarts the clock. Case types name one (``CaseType.sla_policy``), the agency
    names a default (``Agency.default_sla_policy``).

    :meth:`for_priority` gives the plan for one priority: the policy with that
    priority's overrides applied.

    .. versionadded:: 0.1.0
    """

    code: str = attrs.field(validator=slug)
    name: str = attrs.field(validator=non_blank)
    description: str | None = None
    #: The code of the profile calendar business time is counted on.
    calendar: str = attrs.field(validator=slug)
    start: SlaStart = attrs.field(default=SlaStart.REPORTED, converter=_start)
    #: Fractions of each target at which it warns (at risk), strictly increasing in (0, 1).
    warnings: tuple[float, ...] = attrs.field(default=(0.5, 0.75), converter=_warnings)
    #: The statuses during which the clock stands still.
    pause_statuses: frozenset[CaseStatus] = attrs.field(
        default=frozenset({CaseStatus.PENDING}), converter=_pause_statuses
    )
    #: Conditions (:data:`RESET_CONDITIONS`) that restart every target.
    reset_on: frozenset[str] = attrs.field(
        default=frozenset({"case_type_changed"}), converter=_reset_on
    )
    targets: tuple[SlaTarget, ...] = attrs.field(converter=_targets, validator=_nonempty_targets)
    #: Per-priority overrides.
    priorities: Mapping[Priority, SlaOverride] = attrs.field(
        factory=dict, converter=_priorities, hash=False
    )
    #: What happens after a target is breached, level by level (``after`` increasing).
    escalation: tuple[EscalationStep, ...] = attrs.field(default=(), converter=_steps)

    def __attrs_post_init__(self) -> None:
        # A target is met the same way whatever the priority: only its amount (and the
        # calendar) change.
        seen = {t.name: t for t in self.targets}
        problems = []
        for priority, override in self.priorities.items():
            for i, target in enumerate(override.targets):
                same = seen.setdefault(target.name, target)
                if (same.met_by, same.repeat) != (target.met_by, target.repeat):
                    problems.append(
                        Problem(
                            f"priorities.{priority.value}.targets[{i}]",
                            f"met_by and repeat must be those of the policy's other "
                            f"{target.name!r} target ({same.met_by!r}, repeat {same.repeat})",
                        )
                    )
        if problems:
            raise ValidationError(problems, record_type="SlaPolicy")

    def target(self, name: str) -> SlaTarget | None:
        """The target with this name, or None."""
        for target in self.targets:
            if target.name == name:
                return target
        return None

    def for_priority(self, priority: Priority) -> SlaPolicy:
        """
        The plan for cases of ``priority``: the override's calendar if it has one, its
        targets in place of the policy's targets of the same name, new ones after them;
        no overrides left.
        """
        override = self.priorities.get(priority)
        if override is None:
            return attrs.evolve(self, priorities={}) if self.priorities else self
        replaced = {t.name: t for t in override.targets}
        targets = [replaced.pop(t.name, t) for t in self.targets]
        targets += [t for t in override.targets if t.name in replaced]
        return attrs.evolve(
            self,
            calendar=override.calendar or self.calendar,
            targets=tuple(targets),
            priorities={},
        )


def policy_for(profile: Profile, case_type: str, priority: Priority) -> SlaPolicy | None:
    """
    The plan that holds for a case of ``case_type`` and ``priority``: the case type's
    ``sla_policy``, else the agency's ``default_sla_policy`` (also for a case type the
    profile does not have), with the priority's overrides applied. None when neither
    names a policy.

    .. versionadded:: 0.1.0
    """
    policy = _policy(profile, case_type)
    return None if policy is None else policy.for_priority(priority)


def _policy(profile: Profile, case_type: str) -> SlaPolicy | None:
    try:
        code = profile.case_type(case_type).sla_policy
    except NotFoundError:
        code = None
    if code is None:
        code = profile.agency.default_sla_policy
    return None if code is None else profile.sla_policy(code)


# --------------------------------------------------------------------------------------
# Clocks


class SlaState(enum.StrEnum):
    """
    Where one target stands.

    .. versionadded:: 0.1.0
    """

    #: Running, no warning threshold crossed.
    ON_TRACK = "on_track"
    #: Running, past a warning threshold.
    AT_RISK = "at_risk"
    #: Due time passed and not met (also while paused).
    BREACHED = "breached"
    #: Met by the due time.
    MET = "met"
    #: Met after the due time.
    MET_LATE = "met_late"
    #: Not breached, and the case is in a pause status: the clock stands still.
    PAUSED = "paused"
    #: The case was cancelled before the target was met.
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class TargetClock:
    """
    One target of a case at one moment.

    .. versionadded:: 0.1.0
    """

    name: str
    #: When this round of the target started: the start of the clock, a reset, a
    #: reopen (for resolution) or the last time a repeating target was met.
    started_at: datetime
    #: When it is due, counting the pauses so far and assuming no more (a running
    #: pause is taken to end at the moment of the clock).
    due_at: datetime
    #: When each warning threshold is (or was) crossed, in the policy's order.
    warn_at: tuple[datetime, ...]
    #: Time used so far (business time for business units), up to the moment of the
    #: clock, or to when the target was met or cancelled.
    elapsed: timedelta
    #: Time left until due; negative once past due.
    remaining: timedelta
    #: The paused intervals since ``started_at``; a running pause ends at the moment of
    #: the clock.
    paused: tuple[tuple[datetime, datetime], ...]
    met_at: datetime | None
    state: SlaState
    #: 0 before the first warning; 1 to ``len(warnings)`` as warnings are crossed;
    #: ``len(warnings) + 1`` once breached (or met late).
    level: int


@attrs.frozen(kw_only=True)
class SlaClock:
    """
    Where a case stands against its SLA policy at one moment.

    .. versionadded:: 0.1.0
    """

    #: The policy's code.
    policy: str
    #: The priority the running targets are planned by (the case's at that moment).
    priority: Priority
    targets: tuple[TargetClock, ...]
    #: Whether the case is in a pause status at that moment.
    paused: bool
    #: The earliest instant after the moment at which a target's state or level changes
    #: by the passing of time alone (a warning or a due time); None if nothing is pending.
    #: Events change the state too: recompute after each one.
    next_change_at: datetime | None

    def target(self, name: str) -> TargetClock | None:
        """The target with this name, or None."""
        for target in self.targets:
            if target.name == name:
                return target
        return None


class _Measure(Protocol):
    def elapsed(
        self,
        start: datetime,
        end: datetime,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = ...,
    ) -> timedelta: ...

    def add(
        self,
        start: datetime,
        duration: timedelta,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = ...,
    ) -> datetime: ...


class _RealTime:
    """Calendar time: every instant counts, but for the pauses."""

    def elapsed(
        self,
        start: datetime,
        end: datetime,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> timedelta:
        if end <= start:
            return timedelta(0)
        total = end - start
        for a, b in _merged(pauses):
            overlap = min(b, end) - max(a, start)
            if overlap > timedelta(0):
                total -= overlap
        return total

    def add(
        self,
        start: datetime,
        duration: timedelta,
        *,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        t, left = start, duration
        for a, b in _merged(pauses):
            if b <= t:
                continue
            if a > t:
                if a - t >= left:
                    return (t + left).astimezone(UTC)
                left -= a - t
            t = b
        return (t + left).astimezone(UTC)


_REAL_TIME: Final = _RealTime()


def _merged(pauses: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(pauses):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        elif a < b:
            out.append((a, b))
    return out


@attrs.define
class _Run:
    """One target's round, as the replay goes."""

    origin: datetime
    pauses: list[tuple[datetime, datetime]] = attrs.field(factory=list)
    pause_from: datetime | None = None
    met_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.met_at is None and self.cancelled_at is None

    def restart(self, at: datetime, paused: bool) -> None:
        self.origin = at
        self.pauses = []
        self.pause_from = at if paused else None
        self.met_at = None
        self.cancelled_at = None

    def stop_pause(self, at: datetime) -> None:
        if self.pause_from is not None:
            if at > self.pause_from:
                self.pauses.append((self.pause_from, at))
            self.pause_from = None

    def stop(self, at: datetime, *, met: bool) -> None:
        self.stop_pause(at)
        if met:
            self.met_at = at
        else:
            self.cancelled_at = at


def _aware(value: object, path: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError.at(path, f"expected an aware datetime, got {_kind(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.at(path, f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


def _start_of(case: Case, events: Sequence[CaseEvent], start: SlaStart) -> datetime:
    opened = next((e.at for e in events if e.kind is EventKind.OPENED), None)
    if start is SlaStart.REPORTED:
        order = (case.reported_at, case.opened_at, opened)
    else:
        order = (case.opened_at, opened, case.reported_at)
    for candidate in order:
        if candidate is not None:
            return candidate
    raise ValidationError.at(
        "case.reported_at", "the case has no reported_at or opened_at, and no opened event"
    )


def _fields(event: CaseEvent) -> set[str]:
    value = event.data.get("fields")
    if not isinstance(value, str):
        return set()
    return {f.strip() for f in value.split(",")}


def _resets(event: CaseEvent, reopen: bool, conditions: frozenset[str]) -> bool:
    if not conditions:
        return False
    if event.kind is EventKind.UPDATED:
        fields = _fields(event)
        return ("case_type_changed" in conditions and "case_type" in fields) or (
            "queue_changed" in conditions and "queue" in fields
        )
    if event.kind is EventKind.PRIORITY_CHANGED:
        return "priority_changed" in conditions
    return reopen and "reopened" in conditions


def _outbound(event: CaseEvent) -> bool:
    return event.kind is EventKind.INTERACTION_LOGGED and event.data.get("direction") == "outbound"


def _met_by_event(met_by: str, event: CaseEvent, before: CaseStatus, after: CaseStatus) -> bool:
    """Whether ``event`` (moving the case from ``before`` to ``after``) meets ``met_by``."""
    if met_by == "first_response":
        return _outbound(event) or (before is not after and after in _FIRST_RESPONSE_STATUSES)
    if met_by == "contact":
        return _outbound(event)
    if met_by.startswith("event:"):
        return event.kind.value == met_by[6:]
    return _met_by_status(met_by, after)


def _met_by_status(met_by: str, status: CaseStatus) -> bool:
    """Whether being in ``status`` meets ``met_by`` (the conditions on a state)."""
    if met_by == "resolved":
        return status in _RESOLVED
    if met_by.startswith("status:"):
        return status.value == met_by[7:]
    return False


class _Priorities:
    """The case's priority at any instant, walked back from its current one."""

    def __init__(self, case: Case, events: Sequence[CaseEvent]) -> None:
        changes = []
        for event in events:
            if event.kind is EventKind.PRIORITY_CHANGED:
                try:
                    changes.append((event.at, Priority(event.data.get("from"))))
                except ValueError:
                    continue  # not a priority: the change cannot be read, skip it
        self._changes = changes  # in time order
        self._now = case.priority

    def at(self, instant: datetime) -> Priority:
        """The ``from`` of the first change after ``instant``, else the case's priority."""
        for when, before in self._changes:
            if when > instant:
                return before
        return self._now


def clock(
    case: Case, events: Sequence[CaseEvent], profile: Profile, *, at: datetime
) -> SlaClock | None:
    """
    Where ``case`` stands against its SLA policy at ``at``, replayed from ``events``
    (its history, in any order; those after ``at`` are ignored). None if the case type
    has no policy and the agency no default.

    The replay, in short (``docs/sla-policies.md`` has the details):

    - The clock starts at ``case.reported_at`` (policy ``start = "reported"``, the
      default; retroactive) or ``case.opened_at``, each falling back to the other and to
      the opened event.
    - The status starts as new and follows the events' ``to_status``. While it is one of
      the policy's ``pause_statuses`` every running target is paused.
    - A target is met by the first event, at or after its start, that meets its
      ``met_by``; ``first_response`` also by ``case.first_response_at`` (if at or
      before ``at``). A state condition (``resolved``, ``status:<s>``) that already
      holds when a target starts again meets it at once.
    - The case cancelled: every target not met is cancelled.
    - A ``reset_on`` event restarts every target at its time (pauses and met targets
      forgotten); the event itself meets nothing of the new round.
    - A reopen re-plans the targets met by resolution from the reopen, with their full
      amount; other met targets (first response) stay met.
    - A priority change re-plans: running targets take the amounts (and calendar) of
      the priority at ``at``, measured from their start with their pauses; a met or
      cancelled target is judged by the plan of the priority it had then. The priority
      at an instant is ``case.priority`` walked back through later ``priority_changed``
      events (their ``data["from"]``).

    Raises:
        ValidationError: ``at`` is naive, an event belongs to another case, or the case
            has no start time.
        NotFoundError: the policy names a calendar the profile does not have.

    .. versionadded:: 0.1.0
    """
    at = _aware(at, "at")
    policy = _policy(profile, case.case_type)
    if policy is None:
        return None
    for i, event in enumerate(events):
        if event.case_id != case.id:
            raise ValidationError.at(
                f"events[{i}].case_id", f"belongs to case {event.case_id}, not {case.id}"
            )
    ordered = sorted(events, key=lambda e: e.at)  # stable: same-instant events keep order
    start = _start_of(case, ordered, policy.start)
    priorities = _Priorities(case, ordered)
    specs = _specs(policy)
    runs, status = _replay(case, ordered, policy, specs, start, at)
    now = policy.for_priority(priorities.at(at))
    paused = status in policy.pause_statuses
    targets = [
        _judge(runs[target.name], target, now, policy, priorities, profile, at, paused)
        for target in now.targets
    ]
    pending = [
        instant
        for t in targets
        if t.state in (SlaState.ON_TRACK, SlaState.AT_RISK)
        for instant in (*t.warn_at, t.due_at)
        if instant > at
    ]
    return SlaClock(
        policy=policy.code,
        priority=priorities.at(at),
        targets=tuple(targets),
        paused=paused,
        next_change_at=min(pending, default=None),
    )


def _specs(policy: SlaPolicy) -> dict[str, SlaTarget]:
    """One definition per target name (met_by and repeat are the same in every plan)."""
    specs = {t.name: t for t in policy.targets}
    for override in policy.priorities.values():
        for target in override.targets:
            specs.setdefault(target.name, target)
    return specs


def _replay(
    case: Case,
    ordered: Sequence[CaseEvent],
    policy: SlaPolicy,
    specs: Mapping[str, SlaTarget],
    start: datetime,
    at: datetime,
) -> tuple[dict[str, _Run], CaseStatus]:
    """Every target's round at ``at``, and the status then."""
    pausing = policy.pause_statuses
    status = CaseStatus.NEW
    runs = {name: _Run(origin=start) for name in specs}
    for name, run in runs.items():
        run.restart(start, status in pausing)
        if not specs[name].repeat and _met_by_status(specs[name].met_by, status):
            run.stop(start, met=True)
    # (instant, position, event); None stands for case.first_response_at.
    items: list[tuple[datetime, int, CaseEvent | None]] = [
        (e.at, i, e) for i, e in enumerate(ordered) if e.at <= at
    ]
    first = case.first_response_at
    if first is not None and first <= at:
        items.append((first, len(ordered), None))
        items.sort(key=lambda item: (item[0], item[1]))
    for instant, _, event in items:
        t = max(instant, start)
        if event is None:
            for name, run in runs.items():
                if run.running and specs[name].met_by == "first_response" and run.origin <= t:
                    run.stop(t, met=True)
            continue
        before = status
        after = event.to_status if event.to_status is not None else status
        reopen = event.kind is EventKind.REOPENED or (
            (event.from_status or before) is CaseStatus.RESOLVED and after is CaseStatus.IN_PROGRESS
        )
        status = after
        paused = status in pausing
        restarted: set[str] = set()
        if _resets(event, reopen, policy.reset_on):
            restarted = set(runs)
        elif reopen:
            restarted = {n for n in runs if specs[n].resolution_like or specs[n].repeat}
        for name in restarted:
            run = runs[name]
            run.restart(t, paused)
            if not specs[name].repeat and _met_by_status(specs[name].met_by, status):
                run.stop(t, met=True)
        for name, run in runs.items():
            if name in restarted or not run.running:
                continue
            if paused and run.pause_from is None:
                run.pause_from = t
            elif not paused:
                run.stop_pause(t)
            spec = specs[name]
            if _met_by_event(spec.met_by, event, before, after):
                if spec.repeat and status.is_open:
                    run.restart(t, paused)
                else:
                    run.stop(t, met=True)
            elif spec.repeat and status in _RESOLVED:
                run.stop(t, met=True)  # resolving the case is the last update
            elif status is CaseStatus.CANCELLED:
                run.stop(t, met=False)
    return runs, status


def _judge(
    run: _Run,
    target: SlaTarget,
    now: SlaPolicy,
    policy: SlaPolicy,
    priorities: _Priorities,
    profile: Profile,
    at: datetime,
    paused_now: bool,
) -> TargetClock:
    """
    One target's clock at ``at`` from its round: judged by the plan of the priority at
    ``at``, or, for a target met or cancelled, at that time (if that plan has it).
    """
    stopped = run.met_at or run.cancelled_at
    plan = now
    if stopped is not None:
        then = policy.for_priority(priorities.at(stopped))
        found = then.target(target.name)
        if found is not None:
            plan, target = then, found
    until = stopped if stopped is not None else at
    pauses = list(run.pauses)
    if run.pause_from is not None and until > run.pause_from:
        pauses.append((run.pause_from, until))
    measure: _Measure = profile.calendar(plan.calendar) if target.unit.is_business else _REAL_TIME
    duration = target.duration
    if duration is None:
        calendar = profile.calendar(plan.calendar)
        due = calendar.add_days(run.origin, int(target.amount), pauses=pauses)
        budget = calendar.elapsed(run.origin, due, pauses=pauses)
    else:
        due = measure.add(run.origin, duration, pauses=pauses)
        budget = duration
    warn_at = tuple(measure.add(run.origin, budget * f, pauses=pauses) for f in plan.warnings)
    elapsed = measure.elapsed(run.origin, until, pauses=pauses)
    crossed = sum(1 for w in warn_at if w <= until)
    breach = len(warn_at) + 1
    if run.cancelled_at is not None:
        state = SlaState.CANCELLED
        level = breach if until >= due else crossed
    elif run.met_at is not None:
        late = run.met_at > due
        state = SlaState.MET_LATE if late else SlaState.MET
        level = breach if late else crossed
    elif at >= due:
        state, level = SlaState.BREACHED, breach
    else:
        level = crossed
        if paused_now:
            state = SlaState.PAUSED
        else:
            state = SlaState.AT_RISK if crossed else SlaState.ON_TRACK
    return TargetClock(
        name=target.name,
        started_at=run.origin,
        due_at=due,
        warn_at=warn_at,
        elapsed=elapsed,
        remaining=budget - elapsed,
        paused=tuple(pauses),
        met_at=run.met_at,
        state=state,
        level=level,
    )
