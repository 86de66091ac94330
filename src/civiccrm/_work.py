"""
The facade's routing, assignment, automation and duplicate-detection services.

Pure decisions live in :mod:`civiccrm.routing` (rules, assignment, geography); this
module reads what they need from storage, writes what they decide (the case, its
events with the explanation, the queue's rotation) in one transaction, and tells
observers after the commit.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm._progress import Progress
from civiccrm._records import KINDS, OPEN_STATUSES, from_micros, geo_cell_value, micros
from civiccrm.adapters._base import Filter, Query
from civiccrm.errors import ValidationError
from civiccrm.models import (
    Agent,
    Case,
    CaseEvent,
    CaseStatus,
    Citizen,
    EventKind,
    EventValue,
    Organization,
    PartyType,
    Rotation,
)
from civiccrm.routing.assign import AssignmentDecision, AssignmentRequest, assign
from civiccrm.routing.geo import cells_near, distance_m
from civiccrm.routing.rules import RoutingDecision, RoutingFacts

if TYPE_CHECKING:
    from civiccrm.comms._outbound import PlannedMessage
    from civiccrm.crm import CRM

__all__ = [
    "AutomationReport",
    "AutomationService",
    "DuplicateCandidate",
    "RouteOutcome",
    "RoutingReport",
    "RoutingService",
]

#: What one routing or assignment step adds to a case's history.
Change = tuple[EventKind, dict[str, Any]]

#: Event kinds whose notes explain a routing or assignment decision.
_EXPLAINED: Final = frozenset({EventKind.ROUTED, EventKind.ASSIGNED, EventKind.WAITING})


@attrs.frozen
class RouteOutcome:
    """
    A routing decision and, when assignment ran, its decision (both explain
    themselves with ``explain()``).

    .. versionadded:: 0.1.0
    """

    case: Case
    routing: RoutingDecision | None
    assignment: AssignmentDecision | None


@attrs.frozen
class RoutingReport:
    """
    What a batch routing run did.

    .. versionadded:: 0.1.0
    """

    routed: int
    assigned: int
    waiting: int


@attrs.frozen
class DuplicateCandidate:
    """
    An open case that may be the same report as another: same case type, within the
    profile's radius and time window.

    .. versionadded:: 0.1.0
    """

    case_id: uuid.UUID
    reference: str | None
    distance_m: float
    hours_apart: float


@attrs.frozen
class AutomationReport:
    """
    What a run of the built-in automations did.

    .. versionadded:: 0.1.0
    """

    closed: int
    reminded: int


class _AgentCache:
    """
    The active agents, read again only when one was added, changed or deactivated:
    the ids and versions are read each time (an index-only projection, nothing
    decoded), the agents themselves only when those differ.
    """

    def __init__(self) -> None:
        self._stamp: tuple[tuple[str, int], ...] | None = None
        self._agents: list[Agent] = []

    def get(self, crm: CRM) -> list[Agent]:
        query = Query("agent", (Filter("active", "eq", 1),), limit=None, columns=("active",))
        stamp = tuple(sorted((r.id, r.version) for r in crm.storage.stream(query)))
        if stamp != self._stamp:
            full = Query("agent", (Filter("active", "eq", 1),), limit=None)
            kind = KINDS[Agent]
            self._agents = [crm._from_record(kind, r) for r in crm.storage.stream(full)]
            self._stamp = tuple(sorted((str(a.id), a.version) for a in self._agents))
        return self._agents


class RoutingService:
    """
    Routing and assignment: ``crm.routing``.

    Each decision is recorded in the case's history: a ``routed`` event whose data
    names the rule and its actions and whose note (encrypted like every note) holds the
    full explanation, and an ``assigned`` event explaining who was eligible, why each
    other agent was not, and where the rotation stood.
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
        self._agent_cache = _AgentCache()

    # --- decisions (no writes) -----------------------------------------------------

    def facts(self, case: Case, *, at: datetime | None = None) -> RoutingFacts:
        """What the rules see of ``case``: read as the system, never audited as a view."""
        crm = self._crm
        language, vulnerable, needs = self._requester(case)
        districts: frozenset[str] = frozenset()
        loc = case.location
        if loc is not None and loc.latitude is not None and loc.longitude is not None:
            districts = crm.profile.routing.districts.locate(loc.latitude, loc.longitude)
        try:
            department: str | None = crm.profile.case_type(case.case_type).department
        except Exception:  # noqa: BLE001 - a case type since removed from the profile
            department = None
        text = "\n".join(t for t in (case.title, case.description) if t)
        return RoutingFacts(
            case_type=case.case_type,
            department=department,
            priority=case.priority,
            channel=case.channel,
            text=text,
            attributes=case.attributes,
            language=language,
            vulnerable=vulnerable,
            accessibility_needs=needs,
            districts=districts,
            at=at or crm._now(),
        )

    def decide(
        self, case: Case | uuid.UUID | str, *, at: datetime | None = None
    ) -> RoutingDecision:
        """The routing rules' decision for a case now, without changing anything."""
        found = case if isinstance(case, Case) else self._crm.cases.get(case)
        return self._crm.profile.routing.rules.route(self.facts(found, at=at))

    # --- writes --------------------------------------------------------------------

    def route(self, case: Case | uuid.UUID | str, *, assign: bool | None = None) -> RouteOutcome:
        """
        Route a case again now: apply the matching rule's actions (queue, priority,
        tags, required skills) and, if ``assign`` (default: the profile's
        ``assign_on_open``) and the case is new and unassigned, give it to an agent.

        Raises:
            ConflictError: the case changed since it was loaded (pass an id for the
                latest).
        """
        crm = self._crm
        crm._may("assign")
        want = crm.profile.routing.assign_on_open if assign is None else assign
        outcome = self._route_in_tx(case, want)
        self._tell(outcome)
        return outcome

    def assign(self, case: Case | uuid.UUID | str) -> RouteOutcome:
        """
        Give a case to an agent through the assignment pipeline (skills, language,
        availability, capacity, rotation). A case no agent can take stays in its queue
        and the reason is recorded in its history.
        """
        crm = self._crm
        crm._may("assign")
        out: list[RouteOutcome] = []

        def change(c: Case, now: datetime) -> tuple[Case, list[Change]]:
            if c.assignee is not None or not c.is_open:
                raise ValidationError.at(
                    "assignee", "the case is assigned already or not open: nothing to assign"
                )
            updated, changes, decision = self._assign(c, now, rule=None)
            out.append(RouteOutcome(updated, None, decision))
            return updated, changes

        updated = crm.cases._change(case, change)
        outcome = attrs.evolve(out[-1], case=updated)
        self._tell(outcome)
        return outcome

    def route_many(
        self,
        cases: Iterable[uuid.UUID | str],
        *,
        assign: bool | None = None,
        batch: int = 200,
        total: int | None = None,
        progress: bool = True,
    ) -> RoutingReport:
        """
        Route many cases, ``batch`` to a transaction (a crash loses at most the batch
        in hand; routing them again only adds another explained decision). Agents are
        read once per batch.
        """
        crm = self._crm
        crm._may("assign")
        want = crm.profile.routing.assign_on_open if assign is None else assign
        routed = assigned = waiting = 0
        ids = list(cases) if total is None else cases
        count = len(ids) if isinstance(ids, list) else total
        pending: list[RouteOutcome] = []
        chunk: list[uuid.UUID | str] = []

        def flush(bar: Progress) -> None:
            nonlocal routed, assigned, waiting
            with crm.transaction(), self._bulk_run():
                self._pool_cache = self._agent_cache.get(crm)
                try:
                    for cid in chunk:
                        result = self._route_in_tx(cid, want)
                        pending.append(result)
                        routed += 1
                        if result.assignment is not None:
                            if result.assignment.agent_id is not None:
                                assigned += 1
                            else:
                                waiting += 1
                finally:
                    self._pool_cache = None
            for result in pending:
                self._tell(result)
            pending.clear()
            bar.advance(len(chunk))
            chunk.clear()

        with Progress(count or 0, "routing", enabled=None if progress else False) as bar:
            for cid in ids:
                chunk.append(cid)
                if len(chunk) >= batch:
                    flush(bar)
            if chunk:
                flush(bar)
        return RoutingReport(routed=routed, assigned=assigned, waiting=waiting)

    def waiting(self, *, queue: str | None = None) -> Iterable[uuid.UUID]:
        """Ids of new, unassigned cases (optionally of one queue): work waiting for someone."""
        where = [Filter("status", "eq", CaseStatus.NEW.value), Filter("assignee", "is_null")]
        if queue is not None:
            where.append(Filter("queue", "eq", queue))
        query = Query("case", tuple(where), limit=None, columns=("status",))
        for record in self._crm.storage.stream(query):
            yield uuid.UUID(record.id)

    def explain(self, case: Case | uuid.UUID | str) -> str:
        """
        Every routing and assignment decision of a case, oldest first, as recorded when
        it was made (the text ``civiccrm route explain`` prints).
        """
        found = case if isinstance(case, Case) else self._crm.cases.get(case)
        parts = []
        for event in self._crm.cases.events(found):
            if event.kind in _EXPLAINED and event.note:
                when = event.at.strftime("%Y-%m-%d %H:%M:%S UTC")
                parts.append(f"[{when}] {event.kind.value}\n{event.note}")
        if not parts:
            return f"case {found.reference or found.id} has no recorded routing decision"
        return "\n\n".join(parts)

    # --- internals -----------------------------------------------------------------

    #: Requester facts by party id, kept only while a bulk run lasts (None otherwise).
    _requester_cache: dict[uuid.UUID, tuple[str | None, bool, tuple[str, ...]]] | None = None

    def _requester(self, case: Case) -> tuple[str | None, bool, tuple[str, ...]]:
        """The requester's preferred language, vulnerability and accessibility needs."""
        ref = case.requester
        if ref is None:
            return None, False, ()
        cache = self._requester_cache
        if cache is not None and ref.id in cache:
            return cache[ref.id]
        crm = self._crm
        facts: tuple[str | None, bool, tuple[str, ...]] = (None, False, ())
        cls: type[Any] = Citizen if ref.type is PartyType.CITIZEN else Organization
        record = crm.storage.get(KINDS[cls].name, str(ref.id))
        if record is not None and not record.doc.startswith('{"_erased"'):
            party = crm._from_record(KINDS[cls], record)
            fields: tuple[str, ...] = ("preferred_language",)
            if isinstance(party, Citizen):
                fields = ("preferred_language", "vulnerable", "accessibility_needs")
                facts = (party.preferred_language, party.vulnerable, party.accessibility_needs)
            else:
                facts = (party.preferred_language, False, ())
            # Read as the system for routing: audited with its reason, no purpose asked.
            crm._audit_system_read(KINDS[cls].name, [record.id], fields, "routing")
        if cache is not None:
            if len(cache) >= 10_000:
                cache.clear()
            cache[ref.id] = facts
        return facts

    @contextlib.contextmanager
    def _bulk_run(self) -> Iterator[None]:
        """Remember requester facts while a bulk run (an import, a batch) lasts."""
        outer = self._requester_cache is not None
        if not outer:
            self._requester_cache = {}
        try:
            yield
        finally:
            if not outer:
                self._requester_cache = None

    _pool_cache: list[Agent] | None = None

    def _route(
        self, case: Case, now: datetime, *, assign: bool, fixed: frozenset[str] = frozenset()
    ) -> tuple[Case, list[Change], RouteOutcome]:
        """
        Apply the routing rules to ``case`` and, if ``assign`` and it is new and
        unassigned, run the assignment pipeline: the case, its events, the decisions.
        """
        routed, changes, decision = self._apply(case, now, fixed=fixed)
        assignment = None
        if assign and routed.status is CaseStatus.NEW and routed.assignee is None:
            routed, more, assignment = self._assign(
                routed, now, rule=decision.rule if decision.queue else None
            )
            changes.extend(more)
        return routed, changes, RouteOutcome(routed, decision, assignment)

    def _route_in_tx(self, case_id: Case | uuid.UUID | str, want: bool) -> RouteOutcome:
        out: list[RouteOutcome] = []

        def change(c: Case, now: datetime) -> tuple[Case, list[Change]]:
            routed, changes, outcome = self._route(c, now, assign=want)
            out.append(outcome)
            return routed, changes

        updated = self._crm.cases._change(case_id, change)
        return attrs.evolve(out[-1], case=updated)

    def on_open(
        self, case: Case, now: datetime, *, fixed: frozenset[str] = frozenset()
    ) -> tuple[Case, list[Change], RouteOutcome | None]:
        """
        Route (and assign) a case being opened, inside the opening transaction. Fields
        in ``fixed`` (``queue``, ``priority``) were chosen by the caller and are kept.
        """
        settings = self._crm.profile.routing
        if not settings.route_on_open:
            return case, [], None
        return self._route(case, now, assign=settings.assign_on_open, fixed=fixed)

    def on_import(self, case: Case, at: datetime) -> tuple[Case, list[Change]]:
        """
        Route a case being bulk-imported, as of ``at`` (when it was opened, so that
        importing it again decides the same): the case with the rule's actions and the
        events to record (no assignment: a migration brings its own assignees).
        """
        routed, changes, _decision = self._apply(case, at)
        return routed, changes

    def on_retype(self, case: Case, now: datetime) -> tuple[Case, list[Change], RouteOutcome]:
        """Route a case whose type just changed (and assign it if it waits for someone)."""
        return self._route(case, now, assign=self._crm.profile.routing.assign_on_open)

    def _apply(
        self, case: Case, now: datetime, *, fixed: frozenset[str] = frozenset()
    ) -> tuple[Case, list[Change], RoutingDecision]:
        """``case`` with the routing decision's actions applied, and the events to record."""
        decision = self._crm.profile.routing.rules.route(self.facts(case, at=now))
        changes: dict[str, Any] = {}
        kept = []
        if decision.queue is not None and decision.queue != case.queue:
            if "queue" in fixed:
                kept.append("queue")
            else:
                changes["queue"] = decision.queue
        if decision.priority is not None and decision.priority != case.priority:
            if "priority" in fixed:
                kept.append("priority")
            else:
                changes["priority"] = decision.priority
        if decision.tags:
            tags = tuple(dict.fromkeys((*case.tags, *decision.tags)))
            if tags != case.tags:
                changes["tags"] = tags
        if decision.rule is not None and decision.skills != case.required_skills:
            changes["required_skills"] = decision.skills
        routed = attrs.evolve(case, **changes) if changes else case
        # In clear only what the case's own columns show anyway: which rule matched, its
        # evidence, tags and skills can reveal personal facts (a rule on vulnerability,
        # on what the description says), so they are in the note, encrypted.
        data: dict[str, EventValue] = {
            "mode": decision.mode.value,
            "changed": ",".join(sorted(changes)),
            "queue": routed.queue,
            "priority": routed.priority.value,
        }
        note = decision.explain()
        if kept:
            data["kept"] = ",".join(kept)
            note += f"\nKept as the caller gave them: {', '.join(kept)}."
        events: list[Change] = []
        if "priority" in changes:
            events.append(
                (
                    EventKind.PRIORITY_CHANGED,
                    {
                        "data": {
                            "from": case.priority.value,
                            "to": routed.priority.value,
                            "by": "routing",
                        }
                    },
                )
            )
        events.append((EventKind.ROUTED, {"data": data, "note": note}))
        return routed, events, decision

    def _assign(
        self, case: Case, now: datetime, *, rule: str | None
    ) -> tuple[Case, list[Change], AssignmentDecision]:
        """Run the assignment pipeline for ``case`` (inside a transaction)."""
        crm = self._crm
        settings = crm.profile.routing
        agents = self._pool_cache if self._pool_cache is not None else self._agent_cache.get(crm)
        pool = [a for a in agents if case.queue is not None and case.queue in a.queues]
        loads = self._loads(pool)
        rotation = self._rotation(case.queue)
        request = AssignmentRequest(
            queue=case.queue,
            skills=case.required_skills,
            language=self._language(case),
            at=now,
            rule=rule,
        )
        decision = assign(
            request,
            agents,
            loads,
            strategy=settings.strategy,
            pointer=rotation.pointer if rotation is not None else None,
            language=settings.language,
            default_language=crm.profile.agency.locale.split("-")[0] or None,
            calendars=crm.profile.calendars,
        )
        # The reason and the rule stay in the (encrypted) note: "lacks skill
        # safeguarding" says something about the requester.
        data: dict[str, EventValue] = {
            k: v for k, v in decision.summary().items() if k not in ("rule", "reason")
        }
        if decision.agent_id is None:
            # The case stays in its queue; the reason goes in the history.
            return case, [(EventKind.WAITING, {"data": data, "note": decision.explain()})], decision
        assert case.queue is not None
        crm._write(
            Rotation(
                id=case.queue,
                pointer=decision.pointer_after,
                assigned=(rotation.assigned if rotation is not None else 0) + 1,
                updated_at=now,
                version=rotation.version if rotation is not None else 0,
            )
        )
        moved = (
            case.transition(CaseStatus.ASSIGNED, at=now) if case.status is CaseStatus.NEW else case
        )
        moved = attrs.evolve(moved, assignee=decision.agent_id)
        data["assignee"] = str(decision.agent_id)
        return (
            moved,
            [
                (
                    EventKind.ASSIGNED,
                    {
                        "from_status": case.status,
                        "to_status": moved.status,
                        "data": data,
                        "note": decision.explain(),
                    },
                )
            ],
            decision,
        )

    def _loads(self, pool: Sequence[Agent]) -> dict[uuid.UUID, int]:
        """Open cases per agent of ``pool``, read inside the assigning transaction."""
        if not pool:
            return {}
        counts = self._crm.storage.count(
            "case",
            (
                Filter("status", "in", OPEN_STATUSES),
                Filter("assignee", "in", tuple(str(a.id) for a in pool)),
            ),
            group_by="assignee",
        )
        return {uuid.UUID(str(k)): v for k, v in counts.items() if k is not None}

    def _rotation(self, queue: str | None) -> Rotation | None:
        if queue is None:
            return None
        record = self._crm.storage.get("rotation", queue)
        return None if record is None else self._crm._from_record(KINDS[Rotation], record)

    def _language(self, case: Case) -> str | None:
        return self._requester(case)[0]

    def _tell(self, outcome: RouteOutcome) -> None:
        crm = self._crm
        if outcome.routing is None and outcome.assignment is None:
            return
        crm._after_commit(
            functools.partial(
                crm.plugins.hook.civiccrm_case_routed,
                crm=crm,
                case=outcome.case,
                decision=outcome.routing,
                assignment=outcome.assignment,
            )
        )


class AutomationService:
    """
    The built-in automations the profile switches on: ``crm.automations``.

    Acknowledgement happens as a case is opened; closing resolved cases and reminding
    owners of long-pending ones happen when :meth:`run` is called (a nightly job, or
    ``civiccrm automations run``).
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def acknowledge(self, case: Case, now: datetime) -> tuple[list[Change], PlannedMessage | None]:
        """
        The acknowledgement of a new case, if the profile asks for one on its channel
        and it has a requester: the ``opened`` message, rendered from the profile's
        templates in the requester's language (see :mod:`civiccrm.comms`), and an
        ``acknowledged`` event. The caller stores the message (its outbound Interaction,
        queued, and its outbox row) in the opening transaction; it is sent after the
        commit. A message the requester may not be sent (an opt-out, no address) is
        stored as cancelled with the reason. It is not a first response: the SLA clock
        does not count it.
        """
        crm = self._crm
        if (
            case.requester is None
            or case.channel not in crm.profile.automations.acknowledge_channels
        ):
            return [], None
        planned = crm.messages._plan(case, "opened", now, key=f"opened:{case.id}")
        if planned is None:
            return [], None
        data: dict[str, EventValue] = {
            "interaction": str(planned.interaction.id),
            "channel": planned.interaction.channel.value,
            "message": str(planned.message.id),
        }
        # Whether it may be sent, and why not, stays in the outbox (event data is in
        # clear, and an opt-out is the requester's business).
        return [(EventKind.ACKNOWLEDGED, {"data": data})], planned

    def run(self, *, now: datetime | None = None, batch: int = 500) -> AutomationReport:
        """
        Close resolved cases past the profile's auto-close period and remind owners of
        cases pending too long (once per pending spell). Safe to run again: a case is
        closed once, a reminder is given once per spell.
        """
        crm = self._crm
        at = now or crm._now()
        closed = reminded = 0
        config = crm.profile.automations
        if config.auto_close is not None:
            closed = self._auto_close(
                at, config.auto_close.after_business_days, config.auto_close.calendar, batch
            )
        if config.remind_pending is not None:
            reminded = self._remind(
                at, config.remind_pending.after_business_days, config.remind_pending.calendar, batch
            )
        return AutomationReport(closed=closed, reminded=reminded)

    def _auto_close(self, at: datetime, days: int, calendar_code: str, batch: int) -> int:
        crm = self._crm
        calendar = crm.profile.calendar(calendar_code)
        # N business days span at least N calendar days: a superset, checked exactly below.
        query = Query(
            "case",
            (
                Filter("status", "eq", CaseStatus.RESOLVED.value),
                Filter("resolved_at", "le", micros(at - timedelta(days=days))),
            ),
            limit=None,
            columns=("resolved_at",),
        )
        due = []
        for record in crm.storage.stream(query):
            resolved = record.columns.get("resolved_at")
            if isinstance(resolved, int):
                resolved_at = _from_micros(resolved)
                if calendar.add_days(resolved_at, days) <= at:
                    due.append(record.id)
        closed = 0
        for start in range(0, len(due), batch):
            with crm.transaction():
                for case_id in due[start : start + batch]:
                    case = crm.cases.get(case_id)
                    if case.status is not CaseStatus.RESOLVED:
                        continue
                    crm.cases._change(
                        case,
                        lambda c, now: (
                            c.transition(CaseStatus.CLOSED, at=now),
                            [
                                (
                                    EventKind.STATUS_CHANGED,
                                    {
                                        "from_status": c.status,
                                        "to_status": CaseStatus.CLOSED,
                                        "data": {"automation": "auto_close", "business_days": days},
                                    },
                                )
                            ],
                        ),
                    )
                    closed += 1
        return closed

    def _remind(self, at: datetime, days: int, calendar_code: str, batch: int) -> int:
        crm = self._crm
        calendar = crm.profile.calendar(calendar_code)
        query = Query(
            "case",
            (Filter("status", "eq", CaseStatus.PENDING.value),),
            limit=None,
            columns=("updated_at",),
        )
        ids = [r.id for r in crm.storage.stream(query)]
        reminded = 0
        for start in range(0, len(ids), batch):
            with crm.transaction():
                for case_id in ids[start : start + batch]:
                    events = crm._stored_events(uuid.UUID(case_id))
                    since = _pending_since(events)
                    if since is None or calendar.add_days(since, days) > at:
                        continue
                    if any(e.kind is EventKind.REMINDED and e.at >= since for e in events):
                        continue
                    case = crm.cases.get(case_id)
                    data: dict[str, EventValue] = {
                        "automation": "remind_pending",
                        "business_days": days,
                        "pending_since": since.isoformat(),
                    }
                    if case.assignee is not None:
                        data["assignee"] = str(case.assignee)
                    crm.cases._change(case, functools.partial(_remind_change, data=data))
                    reminded += 1
        return reminded


def _remind_change(
    case: Case, now: datetime, *, data: dict[str, EventValue]
) -> tuple[Case, list[Change]]:
    return case, [(EventKind.REMINDED, {"data": data})]


def _pending_since(events: Sequence[CaseEvent]) -> datetime | None:
    """When the case last went pending (None if it is not pending by its history)."""
    since = None
    for e in events:
        if e.to_status is CaseStatus.PENDING:
            since = e.at
        elif e.to_status is not None:
            since = None
    return since


def _from_micros(value: int) -> datetime:
    return from_micros(value)


def find_duplicates(crm: CRM, case: Case) -> list[DuplicateCandidate]:
    """
    Open cases that may report the same thing as ``case``: same type, within the
    profile's radius and window, nearest first. Looked up through the blind-indexed
    grid cell column, so only a handful of nearby cases are read and decrypted.
    """
    rule = crm.profile.duplicate_rule(case.case_type)
    loc = case.location
    if rule is None or loc is None or loc.latitude is None or loc.longitude is None:
        return []
    at = case.opened_at or crm._now()
    tokens = tuple(
        crm._blind("geo_cell", geo_cell_value(case.case_type, cell))
        for cell in cells_near(loc.latitude, loc.longitude, rule.radius_m)
    )
    window = timedelta(hours=rule.hours)
    query = Query(
        "case",
        (
            Filter("geo_cell", "in", tokens),
            Filter("status", "in", OPEN_STATUSES),
            Filter("opened_at", "ge", micros(at - window)),
            Filter("opened_at", "le", micros(at + window)),
        ),
        limit=None,
    )
    kind = KINDS[Case]
    found = []
    for record in crm.storage.stream(query):
        if record.id == str(case.id):
            continue
        other: Case = crm._from_record(kind, record)
        oloc = other.location
        if oloc is None or oloc.latitude is None or oloc.longitude is None:
            continue
        metres = distance_m(loc.latitude, loc.longitude, oloc.latitude, oloc.longitude)
        if metres > rule.radius_m or other.opened_at is None:
            continue
        hours = abs((other.opened_at - at).total_seconds()) / 3600
        found.append(DuplicateCandidate(other.id, other.reference, metres, hours))
    found.sort(key=lambda d: (d.distance_m, d.hours_apart, str(d.case_id)))
    return found
