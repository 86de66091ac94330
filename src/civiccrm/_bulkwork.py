"""
Safe bulk case work for scripts: ``crm.bulk``.

Reassign a leaving worker's caseload, close or merge many cases, move a case type to
another queue. Every operation:

- is named by an **idempotency key**: a :class:`~civiccrm.models.BulkJob` record with
  that id is written when the job starts, its counts are updated in the transaction
  of each batch, and it is marked done at the end. Running again with the same key
  and the same parameters finishes what is left (a job stopped half-way is simply run
  again) and changes nothing already done; a finished job returns its stored result
  (``already_done``) without touching a case. The same key with another operation or
  other parameters is refused.
- can be a **dry run**: it selects and reports (counts, reasons, a sample) and
  writes nothing at all.
- works in **batches** (:attr:`BulkWork.batch_size` cases to a transaction). A case
  that cannot be changed (a refusal, a lifecycle rule, a conflict that persists) is
  skipped with its reason and does not stop the job; each case is changed with one
  write of the case and its events, so nothing is half-written for a case.
- leaves **one audit trail**: every case event the job writes carries
  ``"bulk": <key>`` in its data, and the job record says who ran it, when, with
  which parameters and with what counts.
- needs the actor's role to allow the writes it makes (``assign``, ``transition``
  or ``case``) and, as it changes many cases at once, ``import`` writes too (the
  ``system`` role may do everything).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm._progress import Progress
from civiccrm._records import KINDS, OPEN_STATUSES, micros
from civiccrm._work import RouteOutcome
from civiccrm.adapters._base import Filter, Query, Record
from civiccrm.errors import (
    ConflictError,
    NotFoundError,
    TransitionError,
    ValidationError,
)
from civiccrm.models import (
    Agent,
    BulkJob,
    Case,
    CaseStatus,
    EventKind,
    EventValue,
    format_utc,
)
from civiccrm.routing.assign import AssignmentDecision

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["BATCH_SIZE", "SAMPLE_SIZE", "BulkResult", "BulkWork"]

#: Cases changed in one transaction (a crash loses at most the batch in hand).
BATCH_SIZE: Final = 200
#: How many case references a result shows.
SAMPLE_SIZE: Final = 20
#: The longest idempotency key.
_KEY_MAX: Final = 200

#: The case columns a selection reads (no personal data, nothing decrypted).
_COLUMNS: Final = ("status", "reference", "case_type", "queue", "assignee", "duplicate_of")
#: Statuses a bulk close can select (open or resolved: not final yet).
_CLOSABLE: Final = (*OPEN_STATUSES, CaseStatus.RESOLVED.value)

#: What one step of the job adds to a case's history.
_Change = tuple[EventKind, dict[str, Any]]


@attrs.frozen
class BulkResult:
    """
    What a bulk operation did (or, in a dry run, would do).

    ``selected``, ``changed`` and ``skipped`` are the job's counts as its record holds
    them: ``selected`` and ``changed`` over every run of the job (a resumed job adds
    what it finishes to what earlier runs did), ``skipped`` those the last run left
    as they were (they are tried again by every run). ``waiting``, ``reasons`` and
    ``sample`` are of this run only (a finished job's stored result has none).

    .. versionadded:: 0.1.0
    """

    operation: str
    key: str
    dry_run: bool
    #: Cases the job selected.
    selected: int
    #: Cases changed (in a dry run: that would be changed).
    changed: int
    #: Cases left as they were (the reason of each is counted in ``reasons``).
    skipped: int
    #: Reassigned through the assignment pipeline, but nobody could take them: they
    #: wait in their queue (counted in ``changed`` too: they left the old owner).
    waiting: int = 0
    #: Why cases were skipped or left waiting (``waiting: ...``), with how many.
    reasons: dict[str, int] = attrs.field(factory=dict, hash=False)
    #: References (or ids) of up to 20 cases changed (in a dry run: to be changed).
    sample: tuple[str, ...] = ()
    #: The job had finished before: nothing was done now.
    already_done: bool = False


@attrs.frozen
class _Row:
    """A selected case, as its indexed columns say (read without decrypting anything)."""

    id: str
    status: CaseStatus
    reference: str | None
    case_type: str | None
    queue: str | None
    assignee: str | None
    duplicate_of: str | None

    @property
    def ref(self) -> str:
        return self.reference or self.id

    @classmethod
    def of(cls, record: Record) -> _Row:
        c = record.columns

        def text(name: str) -> str | None:
            value = c.get(name)
            return None if value is None else str(value)

        return cls(
            id=record.id,
            status=CaseStatus(str(c.get("status"))),
            reference=text("reference"),
            case_type=text("case_type"),
            queue=text("queue"),
            assignee=text("assignee"),
            duplicate_of=text("duplicate_of"),
        )


class _Done(enum.Enum):
    """What happened to one selected case."""

    CHANGED = "changed"
    SKIPPED = "skipped"
    WAITING = "waiting"
    #: Changed by this run already (moved along with the case it duplicates).
    COUNTED = "counted"
    #: Changed by an earlier run of the same job.
    EARLIER = "earlier"


@attrs.frozen
class _Outcome:
    done: _Done
    reason: str | None = None


_CHANGED: Final = _Outcome(_Done.CHANGED)
_COUNTED: Final = _Outcome(_Done.COUNTED)
_EARLIER: Final = _Outcome(_Done.EARLIER)


def _skip(reason: str) -> _Outcome:
    return _Outcome(_Done.SKIPPED, reason)


def _reason(exc: Exception) -> str:
    """One line saying why a case was refused."""
    if isinstance(exc, ValidationError):
        return "; ".join(p.message for p in exc.problems)
    if isinstance(exc, ConflictError):
        return "changed by someone else while the job ran (run the job again)"
    return str(exc)


@attrs.define
class _State:
    """What one run of a job remembers as it goes."""

    #: Accepted duplicates the run moved along with the case they duplicate (by id).
    moved_along: set[str] = attrs.field(factory=set)


@attrs.frozen
class _Job:
    """One operation, ready to run: its parameters and what to do per case."""

    operation: str
    key: str
    params: str
    state: _State
    #: Check that the work can be done now, and select the cases (not called for a
    #: job that is done already).
    select: Callable[[], list[_Row]]
    #: A dry run's verdict on a case: why it would be skipped, or None (changed).
    predict: Callable[[_Row], str | None]
    #: Change one case (inside the batch's transaction); ``resumed``: an earlier run
    #: of the job may have changed it already.
    apply: Callable[[_Row, bool], _Outcome]


class BulkWork:
    """
    Bulk case work for scripts: ``crm.bulk``.

    Each operation takes ``key`` (the idempotency key: required), ``dry_run`` (select
    and report, write nothing) and ``progress`` (a progress bar on stderr), and
    returns a :class:`BulkResult`. See the module documentation for the guarantees.

    .. versionadded:: 0.1.0
    """

    #: Cases changed in one transaction.
    batch_size: int = BATCH_SIZE

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    # --- operations ------------------------------------------------------------------

    def reassign(
        self,
        from_agent: Agent | uuid.UUID | str,
        *,
        to_agent: Agent | uuid.UUID | str | None = None,
        key: str,
        dry_run: bool = False,
        progress: bool = True,
    ) -> BulkResult:
        """
        Take every open case assigned to ``from_agent`` (an Agent, its id or its
        username) off them: a worker leaving, or going on long leave.

        With ``to_agent``, each case goes to that agent (``crm.cases.assign``): an
        agent at their capacity is never forced, so the cases they cannot take are
        skipped with the reason (run the job again once they have room, or with
        another key and another agent). Without ``to_agent``, each case is unassigned
        and goes back through the assignment pipeline (skills, language, availability,
        capacity, rotation); a case nobody can take waits in its queue, and is counted
        in ``waiting`` with the reason (also recorded in its history). For that,
        ``from_agent`` must be out of the pipeline first (inactive, or out of the
        rotation), or the cases could go straight back to them.

        Raises:
            ValidationError: an unknown agent, the same agent twice, an inactive
                ``to_agent``, a ``from_agent`` still in the rotation (without
                ``to_agent``), or a key used for other work.
            AccessDeniedError: the role may not assign, or may not do bulk work.
        """
        crm = self._crm
        self._check_key(key)
        self._may("assign")
        source = self._agent(from_agent, "from_agent")
        target = None if to_agent is None else self._agent(to_agent, "to_agent")
        if target is not None and target.id == source.id:
            raise ValidationError.at("to_agent", "give another agent than from_agent")
        params = {"from_agent": str(source.id), "to_agent": _str(target.id if target else None)}
        from_id = str(source.id)
        gone = f"no longer open and assigned to {source.username}"

        def select() -> list[_Row]:
            # Checked when there is work to do (not for a job that is done already).
            if target is not None and not target.active:
                raise ValidationError.at("to_agent", f"agent {target.username!r} is not active")
            if target is None and source.active and source.in_rotation and source.queues:
                raise ValidationError.at(
                    "from_agent",
                    f"agent {source.username!r} is still active and in the rotation, so the "
                    "assignment pipeline could give the cases straight back: deactivate them "
                    "(or take them out of the rotation) first, or name to_agent",
                )
            return self._query(
                Filter("status", "in", OPEN_STATUSES), Filter("assignee", "eq", from_id)
            )

        load = [-1]

        def predict(row: _Row) -> str | None:
            if target is None or target.capacity is None:
                return None
            if load[0] < 0:
                load[0] = self._load_of(target)
            if load[0] >= target.capacity:
                return _full(target)
            load[0] += 1
            return None

        def apply(row: _Row, resumed: bool) -> _Outcome:
            record = crm.storage.get("case", row.id)
            now_row = None if record is None else _Row.of(record)
            if now_row is None or not now_row.status.is_open or now_row.assignee != from_id:
                return _skip(gone)
            if target is not None:
                if target.capacity is not None and self._load_of(target) >= target.capacity:
                    return _skip(_full(target))
                crm.cases.assign(row.id, target.id, data={"bulk": key})
                return _CHANGED
            crm.cases.assign(row.id, None, data={"bulk": key})
            return self._route(row.id, key)

        job = _Job("reassign", key, _canonical(params), _State(), select, predict, apply)
        return self._run(job, dry_run=dry_run, progress=progress)

    def close(
        self,
        *,
        case_ids: Sequence[Case | uuid.UUID | str] | None = None,
        case_type: str | None = None,
        queue: str | None = None,
        status: CaseStatus | str | None = None,
        opened_before: datetime | None = None,
        resolution_code: str = "bulk_closed",
        note: str | None = None,
        key: str,
        dry_run: bool = False,
        progress: bool = True,
    ) -> BulkResult:
        """
        Close many cases: those of ``case_ids`` (ids or references), or every case
        matching all the filters given (``case_type``, ``queue``, ``status``: an open
        status or ``resolved``, ``opened_before``: an aware time). At least one
        selector is needed.

        An open case is resolved (with ``resolution_code``) then closed; a resolved one
        is closed (keeping its resolution code, or given ``resolution_code`` if it has
        none). ``note`` goes on the closing event. A listed case that is closed or
        cancelled already is skipped ("already final"); filters select only cases
        that are not final. The open duplicates of each closed case follow it, as
        with ``crm.cases.transition`` (their events carry the key too).

        Raises:
            ValidationError: no selector, both ids and filters, an unknown case, case
                type, queue or status, a naive time, or a key used for other work.
            AccessDeniedError: the role may not transition cases, or do bulk work.
        """
        crm = self._crm
        self._check_key(key)
        self._may("transition")
        filters = {
            "case_type": case_type,
            "queue": queue,
            "status": status,
            "opened_before": opened_before,
        }
        given = {k: v for k, v in filters.items() if v is not None}
        if case_ids is None and not given:
            raise ValidationError.at(
                "case_ids",
                "select the cases: give case ids, or a case type, queue, status or "
                "opened-before time",
            )
        if case_ids is not None and given:
            raise ValidationError.at("case_ids", "select by case ids or by filters, not both")
        if not isinstance(resolution_code, str) or not resolution_code.strip():
            raise ValidationError.at("resolution_code", "must not be empty")
        if note is not None and not note.strip():
            raise ValidationError.at("note", "must not be empty")
        ids = None if case_ids is None else self._case_ids(case_ids, "case_ids")
        if ids is not None and not ids:
            raise ValidationError.at("case_ids", "give at least one case")
        if case_type is not None:
            self._case_type(case_type)
        if queue is not None and queue not in crm.queues:
            raise ValidationError.at("queue", f"no queue {queue!r} in the profile")
        wanted = None if status is None else _status(status)
        if wanted is not None and wanted.is_final:
            raise ValidationError.at(
                "status", f"{wanted.value} cases are final already: nothing to close"
            )
        if opened_before is not None and (
            not isinstance(opened_before, datetime) or opened_before.tzinfo is None
        ):
            raise ValidationError.at("opened_before", "give an aware time (with a time zone)")
        params = {
            "case_ids": ids,
            "case_type": case_type,
            "queue": queue,
            "status": None if wanted is None else wanted.value,
            "opened_before": None if opened_before is None else format_utc(opened_before),
            "resolution_code": resolution_code,
            # The note may say things about people: the job record keeps its hash only.
            "note_sha256": None if note is None else _sha256(note),
        }
        state = _State()

        def select() -> list[_Row]:
            if ids is not None:
                return self._rows(ids)
            where = [
                Filter("status", "eq", wanted.value)
                if wanted is not None
                else Filter("status", "in", _CLOSABLE)
            ]
            if case_type is not None:
                where.append(Filter("case_type", "eq", case_type))
            if queue is not None:
                where.append(Filter("queue", "eq", queue))
            if opened_before is not None:
                where.append(Filter("opened_at", "lt", micros(opened_before)))
            return self._query(*where)

        def predict(row: _Row) -> str | None:
            return "already final" if row.status.is_final else None

        def apply(row: _Row, resumed: bool) -> _Outcome:
            record = crm.storage.get("case", row.id)
            if record is None:
                return _skip("no such case")
            if CaseStatus(str(record.columns.get("status"))).is_final:
                return self._already(
                    row.id, resumed=resumed, reason="already final", key=key, state=state
                )
            closed = crm.cases._change(row.id, _closing(key, resolution_code, note))
            self._follow(closed, key, state)
            return _CHANGED

        job = _Job("close", key, _canonical(params), state, select, predict, apply)
        return self._run(job, dry_run=dry_run, progress=progress)

    def merge(
        self,
        into: Case | uuid.UUID | str,
        cases: Sequence[Case | uuid.UUID | str],
        *,
        key: str,
        dry_run: bool = False,
        progress: bool = True,
    ) -> BulkResult:
        """
        Accept each of ``cases`` (ids or references) as a duplicate of ``into``, as
        ``crm.cases.accept_duplicate`` does: linked to it, and brought to its status
        if it is resolved or closed already, so that every requester hears what
        becomes of it. A case refused (of another case type, ``into`` itself) is
        skipped with the reason; one that is a duplicate of ``into`` already is
        skipped too.

        Raises:
            ValidationError: an unknown case, an ``into`` that is itself a duplicate
                of another case, no cases, or a key used for other work.
            AccessDeniedError: the role may not change cases, or do bulk work.
        """
        crm = self._crm
        self._check_key(key)
        self._may("case")
        (into_id,) = self._case_ids([into], "into")
        ids = self._case_ids(cases, "cases")
        if not ids:
            raise ValidationError.at("cases", "give at least one case")
        record = crm.storage.get("case", into_id)
        assert record is not None  # checked by _case_ids
        parent = _Row.of(record)
        if parent.duplicate_of is not None:
            raise ValidationError.at(
                "into",
                f"case {parent.ref} is itself a duplicate of {parent.duplicate_of}: merge "
                "into that case",
            )
        params = {"into": into_id, "cases": ids}
        state = _State()

        def refusal(row: _Row) -> str | None:
            if row.id == into_id:
                return "a case cannot duplicate itself"
            if row.case_type != parent.case_type:
                return (
                    f"case {parent.ref} is of case type {parent.case_type!r}, not {row.case_type!r}"
                )
            return None

        def predict(row: _Row) -> str | None:
            if row.duplicate_of == into_id:
                return f"already a duplicate of {parent.ref}"
            return refusal(row)

        def apply(row: _Row, resumed: bool) -> _Outcome:
            found = crm.storage.get("case", row.id)
            if found is None:
                return _skip("no such case")
            now_row = _Row.of(found)
            if now_row.duplicate_of == into_id:
                return self._already(
                    row.id,
                    resumed=resumed,
                    reason=f"already a duplicate of {parent.ref}",
                    key=key,
                    state=state,
                )
            refused = refusal(now_row)
            if refused is not None:
                return _skip(refused)
            target = crm.cases.get(into_id)
            if target.duplicate_of is not None:
                return _skip(f"case {parent.ref} has become a duplicate of another case")
            crm.cases._change(row.id, _linking(key, target))
            return _CHANGED

        job = _Job("merge", key, _canonical(params), state, lambda: self._rows(ids), predict, apply)
        return self._run(job, dry_run=dry_run, progress=progress)

    def move_case_type(
        self,
        case_type: str,
        *,
        to_queue: str,
        key: str,
        dry_run: bool = False,
        progress: bool = True,
    ) -> BulkResult:
        """
        Move every open case of ``case_type`` that is not in ``to_queue`` there (after
        a reorganisation; change the case type's queue in the profile too, for new
        cases). Each move is an ``updated`` event naming the queue, as
        ``crm.cases.update`` records it. Assignees are left as they are: reassign them
        with :meth:`reassign` if the new queue's team should take the cases over.

        Raises:
            ValidationError: an unknown case type or queue, or a key used for other work.
            AccessDeniedError: the role may not change cases, or do bulk work.
        """
        crm = self._crm
        self._check_key(key)
        self._may("case")
        code = self._case_type(case_type)
        if to_queue not in crm.queues:
            raise ValidationError.at("to_queue", f"no queue {to_queue!r} in the profile")
        params = {"case_type": code, "to_queue": to_queue}

        def select() -> list[_Row]:
            rows = self._query(
                Filter("status", "in", OPEN_STATUSES), Filter("case_type", "eq", code)
            )
            return [r for r in rows if r.queue != to_queue]

        def apply(row: _Row, resumed: bool) -> _Outcome:
            record = crm.storage.get("case", row.id)
            now_row = None if record is None else _Row.of(record)
            if now_row is None or not now_row.status.is_open or now_row.case_type != code:
                return _skip(f"no longer an open case of type {code}")
            if now_row.queue == to_queue:
                return _skip(f"already in queue {to_queue}")
            crm.cases._change(row.id, _moving(key, code, to_queue))
            return _CHANGED

        job = _Job(
            "move_case_type", key, _canonical(params), _State(), select, lambda r: None, apply
        )
        return self._run(job, dry_run=dry_run, progress=progress)

    # --- the job ---------------------------------------------------------------------

    def job(self, key: str) -> BulkJob | None:
        """The record of the job with this idempotency key, or None."""
        record = self._crm.storage.get("bulk_job", key)
        if record is None:
            return None
        found: BulkJob = self._crm._from_record(KINDS[BulkJob], record)
        return found

    def _run(self, job: _Job, *, dry_run: bool, progress: bool) -> BulkResult:
        crm = self._crm
        stored = self.job(job.key)
        if stored is not None and (stored.operation, stored.params) != (job.operation, job.params):
            raise ValidationError.at(
                "key",
                f"key {job.key!r} was used for {stored.operation} with other parameters "
                f"(started {_when(stored.started_at)}): choose another key",
            )
        if stored is not None and stored.status == "done":
            return BulkResult(
                operation=job.operation,
                key=job.key,
                dry_run=dry_run,
                selected=stored.selected,
                changed=stored.changed,
                skipped=stored.skipped,
                waiting=stored.waiting,
                reasons=_load_reasons(stored.reasons),
                already_done=True,
            )
        rows = job.select()
        if dry_run:
            return self._predict(job, rows)
        resumed = stored is not None
        previous = stored.changed if stored is not None else 0
        record = stored
        if record is None:
            record = BulkJob(
                id=job.key,
                operation=job.operation,
                params=job.params,
                selected=len(rows),
                actor=crm.actor.agent_id,
                actor_name=crm.actor.name,
                started_at=crm._now(),
            )
            record = self._write_job(record)
        changed = skipped = waiting = earlier = 0
        reasons: dict[str, int] = {}
        sample: list[str] = []
        selected_ids = {r.id for r in rows}
        job.state.moved_along.clear()
        batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        with _bar(len(rows), f"bulk {job.operation}", progress) as bar:
            for n, batch in enumerate(batches or [[]]):
                with crm.transaction():
                    for row in batch:
                        outcome = self._one(job, row, resumed)
                        if outcome.done is _Done.SKIPPED:
                            skipped += 1
                        elif outcome.done is _Done.EARLIER:
                            earlier += 1
                        elif outcome.done is not _Done.COUNTED:
                            changed += 1
                            if len(sample) < SAMPLE_SIZE:
                                sample.append(row.ref)
                            if outcome.done is _Done.WAITING:
                                waiting += 1
                        if outcome.reason is not None:
                            label = outcome.reason
                            if outcome.done is _Done.WAITING:
                                label = f"waiting: {label}"
                            reasons[label] = reasons.get(label, 0) + 1
                    # Cases moved along with a case they duplicate, that the job
                    # selected too: changed by this job (counted once, here).
                    along = job.state.moved_along & selected_ids
                    changed += len(along)
                    selected_ids -= along
                    last = n == len(batches) - 1 or not batches
                    record = self._write_job(
                        attrs.evolve(
                            record,
                            selected=previous + len(rows) - earlier,
                            changed=previous + changed,
                            skipped=skipped,
                            waiting=waiting,
                            # Why cases wait can name a skill a rule derived from
                            # the requester: kept in each case's encrypted history
                            # and in the result, not in the job's clear record.
                            reasons=json.dumps(
                                {k: v for k, v in reasons.items() if not k.startswith("waiting: ")},
                                sort_keys=True,
                            ),
                            status="done" if last else "running",
                            finished_at=crm._now() if last else None,
                        )
                    )
                if bar is not None:
                    bar.advance(len(batch))
        return BulkResult(
            operation=job.operation,
            key=job.key,
            dry_run=False,
            selected=record.selected,
            changed=record.changed,
            skipped=record.skipped,
            waiting=waiting,
            reasons=reasons,
            sample=tuple(sample),
        )

    def _one(self, job: _Job, row: _Row, resumed: bool) -> _Outcome:
        """Change one case, in a nested transaction of its own; a refusal skips it."""
        crm = self._crm

        def attempt() -> _Outcome:
            with crm.transaction():
                return job.apply(row, resumed)

        try:
            return crm.retry_on_conflict(attempt, attempts=3)
        except (ValidationError, TransitionError, ConflictError, NotFoundError) as exc:
            return _skip(_reason(exc))

    def _predict(self, job: _Job, rows: list[_Row]) -> BulkResult:
        """A dry run: what the job would do, read from the cases' columns alone."""
        changed = skipped = 0
        reasons: dict[str, int] = {}
        sample: list[str] = []
        for row in rows:
            reason = job.predict(row)
            if reason is None:
                changed += 1
                if len(sample) < SAMPLE_SIZE:
                    sample.append(row.ref)
            else:
                skipped += 1
                reasons[reason] = reasons.get(reason, 0) + 1
        return BulkResult(
            operation=job.operation,
            key=job.key,
            dry_run=True,
            selected=len(rows),
            changed=changed,
            skipped=skipped,
            reasons=reasons,
            sample=tuple(sample),
        )

    def _write_job(self, job: BulkJob) -> BulkJob:
        # BulkJob is keyed by a text id (the key), which CRM._write's bound (uuid ids)
        # does not express; it is stored like any other record.
        stored: BulkJob = self._crm._write(job)
        return stored

    def _already(
        self, case_id: str, *, resumed: bool, reason: str, key: str, state: _State
    ) -> _Outcome:
        """A case in the job's target state: done by this job already, or skipped."""
        if case_id in state.moved_along:
            return _COUNTED
        if resumed and self._changed_by(case_id, key):
            return _EARLIER
        return _skip(reason)

    def _changed_by(self, case_id: str, key: str) -> bool:
        """Whether the job with this key changed the case (one of its events says so)."""
        events = self._crm._stored_events(uuid.UUID(case_id))
        return any(e.data.get("bulk") == key for e in events)

    # --- what each case change writes ------------------------------------------------

    def _follow(self, parent: Case, key: str, state: _State) -> None:
        """Move the accepted duplicates of a closed ``parent`` along with it."""
        from civiccrm.crm import _follow_path

        crm = self._crm
        query = Query(
            "case",
            (Filter("duplicate_of", "eq", str(parent.id)),),
            limit=None,
            columns=("status",),
        )
        for record in list(crm.storage.stream(query)):
            path = _follow_path(CaseStatus(str(record.columns["status"])), parent.status)
            if not path:
                continue

            def change(
                c: Case, now: datetime, path: list[CaseStatus] = path
            ) -> tuple[Case, list[_Change]]:
                return _following(c, path, parent, now, key)

            crm.cases._change(record.id, change)
            state.moved_along.add(record.id)

    def _route(self, case_id: str, key: str) -> _Outcome:
        """Give an unassigned case to an agent through the assignment pipeline."""
        crm = self._crm
        decisions: list[AssignmentDecision] = []

        def change(c: Case, now: datetime) -> tuple[Case, list[_Change]]:
            if c.assignee is not None or not c.is_open:
                raise ValidationError.at("assignee", "assigned already, or no longer open")
            routed, changes, decision = crm.routing._assign(c, now, rule=None)
            decisions.append(decision)
            return routed, [(kind, _with_key(fields, key)) for kind, fields in changes]

        updated = crm.cases._change(case_id, change)
        decision = decisions[-1]
        crm.routing._tell(RouteOutcome(updated, None, decision))
        if decision.agent_id is None:
            return _Outcome(_Done.WAITING, str(decision.reason or "nobody can take it"))
        return _CHANGED

    # --- helpers ---------------------------------------------------------------------

    def _check_key(self, key: str) -> None:
        if not isinstance(key, str) or not key.strip():
            raise ValidationError.at(
                "key", "give an idempotency key: a name for this job, such as 'leaver-bob'"
            )
        if len(key) > _KEY_MAX or key != key.strip():
            raise ValidationError.at(
                "key", f"at most {_KEY_MAX} characters, with no space at either end"
            )

    def _may(self, write: str) -> None:
        """The role must allow the writes, and bulk work (``import``)."""
        self._crm._may(write)
        self._crm._may("import")

    def _agent(self, agent: Agent | uuid.UUID | str, field: str) -> Agent:
        """An agent given as an Agent, its id, or its username (re-read: the latest)."""
        crm = self._crm
        if isinstance(agent, Agent):
            agent_id = agent.id
        elif isinstance(agent, uuid.UUID):
            agent_id = agent
        else:
            try:
                agent_id = uuid.UUID(agent)
            except ValueError:
                found = crm.agents.find_by_username(agent)
                if found is None:
                    raise ValidationError.at(field, f"no agent {agent!r}") from None
                return found
        record = crm.storage.get("agent", str(agent_id))
        if record is None:
            raise ValidationError.at(field, f"no agent {agent_id}")
        by_id: Agent = crm._from_record(KINDS[Agent], record)
        return by_id

    def _case_type(self, code: str) -> str:
        try:
            return self._crm.profile.case_type(code).code
        except NotFoundError:
            raise ValidationError.at("case_type", f"no case type {code!r} in the profile") from None

    def _case_ids(self, cases: Sequence[Case | uuid.UUID | str], field: str) -> list[str]:
        """Case ids (sorted, each once) for ids, references or cases; all must exist."""
        crm = self._crm
        if isinstance(cases, str | uuid.UUID | Case):
            raise ValidationError.at(field, "give a list of cases")
        ids: set[str] = set()
        for n, given in enumerate(cases):
            where = field if field == "into" else f"{field}[{n}]"
            if isinstance(given, Case):
                ids.add(str(given.id))
                continue
            try:
                ids.add(str(uuid.UUID(str(given))))
                continue
            except ValueError:
                pass
            query = Query(
                "case", (Filter("reference", "eq", str(given)),), limit=1, columns=("status",)
            )
            found = crm.storage.query(query).records
            if not found:
                raise ValidationError.at(where, f"no case with reference {given!r}")
            ids.add(found[0].id)
        ordered = sorted(ids)
        have = {r.id for r in crm.storage.get_many("case", ordered)}
        missing = [i for i in ordered if i not in have]
        if missing:
            raise ValidationError.at(field, f"no case {missing[0]}")
        return ordered

    def _rows(self, ids: Sequence[str]) -> list[_Row]:
        return [_Row.of(r) for r in self._crm.storage.get_many("case", list(ids))]

    def _query(self, *where: Filter) -> list[_Row]:
        query = Query("case", tuple(where), limit=None, columns=_COLUMNS)
        return [_Row.of(r) for r in self._crm.storage.stream(query)]

    def _load_of(self, agent: Agent) -> int:
        """How many open cases ``agent`` holds."""
        counts = self._crm.storage.count(
            "case",
            (Filter("status", "in", OPEN_STATUSES), Filter("assignee", "eq", str(agent.id))),
        )
        return sum(counts.values())


# --- pure helpers ------------------------------------------------------------------------


def _canonical(params: dict[str, Any]) -> str:
    """An operation's parameters as canonical JSON: the same work gives the same text."""
    return json.dumps(params, sort_keys=True, ensure_ascii=False)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _when(at: datetime | None) -> str:
    return "at an unknown time" if at is None else format_utc(at)


def _full(agent: Agent) -> str:
    return f"agent {agent.username!r} is at capacity ({agent.capacity} open cases)"


def _status(value: CaseStatus | str) -> CaseStatus:
    try:
        return CaseStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in CaseStatus)
        raise ValidationError.at("status", f"{value!r} is not a case status ({known})") from None


def _with_key(fields: dict[str, Any], key: str) -> dict[str, Any]:
    """An event's fields with ``"bulk": key`` added to its data."""
    data: dict[str, EventValue] = dict(fields.get("data") or {})
    data["bulk"] = key
    return {**fields, "data": data}


def _status_change(
    from_status: CaseStatus, to_status: CaseStatus, key: str, *, note: str | None = None
) -> _Change:
    reopen = from_status is CaseStatus.RESOLVED and to_status is CaseStatus.IN_PROGRESS
    kind = EventKind.REOPENED if reopen else EventKind.STATUS_CHANGED
    data: dict[str, EventValue] = {"bulk": key}
    return kind, {"from_status": from_status, "to_status": to_status, "note": note, "data": data}


def _following(
    c: Case, path: Sequence[CaseStatus], parent: Case, now: datetime, key: str
) -> tuple[Case, list[_Change]]:
    """A duplicate moved along ``path`` to its parent's status, as followers are."""
    changes: list[_Change] = []
    moved = c
    for step in path:
        before = moved
        moved = moved.transition(step, at=now)
        if step is CaseStatus.RESOLVED and parent.resolution_code is not None:
            moved = attrs.evolve(moved, resolution_code=parent.resolution_code)
        kind, fields = _status_change(before.status, step, key)
        fields["data"]["follows"] = str(parent.id)
        changes.append((kind, fields))
    return moved, changes


def _closing(
    key: str, resolution_code: str, note: str | None
) -> Callable[[Case, datetime], tuple[Case, list[_Change]]]:
    """Resolve (if open) and close a case, as two transitions would."""

    def change(c: Case, now: datetime) -> tuple[Case, list[_Change]]:
        changes: list[_Change] = []
        moved = c
        if c.status.is_open:
            moved = c.transition(CaseStatus.RESOLVED, at=now)
            moved = attrs.evolve(moved, resolution_code=resolution_code)
            if moved.first_response_at is None:
                moved = attrs.evolve(moved, first_response_at=now)
            changes.append(_status_change(c.status, CaseStatus.RESOLVED, key))
        elif moved.resolution_code is None:
            moved = attrs.evolve(moved, resolution_code=resolution_code)
        closed = moved.transition(CaseStatus.CLOSED, at=now)
        changes.append(_status_change(moved.status, CaseStatus.CLOSED, key, note=note))
        return closed, changes

    return change


def _linking(key: str, parent: Case) -> Callable[[Case, datetime], tuple[Case, list[_Change]]]:
    """Link a case as an accepted duplicate of ``parent`` and bring it to its status."""
    from civiccrm.crm import _follow_path, check_duplicate

    def change(c: Case, now: datetime) -> tuple[Case, list[_Change]]:
        check_duplicate(c, parent)
        data: dict[str, EventValue] = {
            "duplicate_of": str(parent.id),
            "accepted": True,
            "bulk": key,
        }
        linked = attrs.evolve(c, duplicate_of=parent.id)
        changes: list[_Change] = [(EventKind.LINKED, {"data": data})]
        linked, steps = _following(
            linked, _follow_path(linked.status, parent.status), parent, now, key
        )
        return linked, [*changes, *steps]

    return change


def _moving(
    key: str, case_type: str, to_queue: str
) -> Callable[[Case, datetime], tuple[Case, list[_Change]]]:
    """Move an open case of ``case_type`` to ``to_queue``, as ``cases.update`` records it."""

    def change(c: Case, now: datetime) -> tuple[Case, list[_Change]]:
        if not c.is_open or c.case_type != case_type:
            raise ValidationError.at("case", f"no longer an open case of type {case_type}")
        data: dict[str, EventValue] = {
            "fields": "queue",
            "from": c.queue,
            "to": to_queue,
            "bulk": key,
        }
        return attrs.evolve(c, queue=to_queue), [(EventKind.UPDATED, {"data": data})]

    return change


@contextlib.contextmanager
def _bar(total: int, label: str, enabled: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr, or None when progress is off (then nothing is written)."""
    if not enabled:
        yield None
        return
    with Progress(total, label) as bar:
        yield bar


def _load_reasons(text: str) -> dict[str, int]:
    """A job's stored reasons (JSON) as a dict; {} if unreadable."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}
