"""
The facade's retention service: ``crm.retention`` (schedules, legal holds, dispositions).

The decisions are :mod:`civiccrm.privacy.retention`'s (pure policy); this module reads
the facts they need from storage (indexed columns only: no document is opened to plan),
carries out the dispositions in atomic batches, and keeps the disposition certificate.

A case is disposed of as a case file: with its history (events) and the interactions
logged on it. Interactions logged on no case follow the ``interaction`` schedule.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import attrs
import orjson

from civiccrm._keys import case_key_id
from civiccrm._records import KINDS, from_micros
from civiccrm._retention_audit import AuditCut
from civiccrm._retention_audit import archive_name as audit_archive_name
from civiccrm._retention_audit import left_behind as audit_left_behind
from civiccrm._retention_audit import prune as audit_prune
from civiccrm._retention_audit import scan as audit_scan
from civiccrm.adapters._base import Filter, Query, Record
from civiccrm.errors import NotFoundError, Problem, ValidationError
from civiccrm.models import (
    Case,
    CaseEvent,
    Disposal,
    Interaction,
    LegalHold,
    Location,
    MailReceipt,
    OutboxMessage,
    RetentionRun,
    Survey,
    format_utc,
    personal_data_fields,
)
from civiccrm.privacy.retention import (
    UNAPPLIED_CLASSES,
    Decision,
    Disposition,
    RecordClass,
    RetentionFacts,
    RetentionSchedule,
    RetentionStatus,
    check_schedules,
    covers,
    decide,
    digest_ids,
)

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["RetentionPlan", "RetentionService"]

_CASE_COLUMNS: Final = ("case_type", "opened_at", "closed_at", "updated_at", "requester_id")
_INTERACTION_COLUMNS: Final = ("case_id", "party_id", "occurred_at")
#: The columns of a plan's CSV file: no personal data.
PLAN_FIELDS: Final = (
    "record_class",
    "record_id",
    "case_type",
    "status",
    "schedule",
    "disposition",
    "due_at",
    "holds",
)


@attrs.frozen
class RetentionPlan:
    """
    What ``crm.retention.apply`` would do as of ``as_of``: counts by schedule and
    status (``due``, ``held``, ``not_due``, ``not_triggered``; ``no_schedule`` under the
    schedule code ``""``), records already disposed of left out.
    """

    as_of: datetime
    counts: dict[str, dict[str, int]]
    #: The CSV file written, if one was asked for.
    path: Path | None = None

    @property
    def due(self) -> int:
        """Records due for disposition."""
        return sum(c.get(RetentionStatus.DUE, 0) for c in self.counts.values())

    @property
    def held(self) -> int:
        """Records past their period but held."""
        return sum(c.get(RetentionStatus.HELD, 0) for c in self.counts.values())


def _schedules_json(schedules: Sequence[RetentionSchedule]) -> str:
    return json.dumps(
        [
            {
                "code": s.code,
                "record_class": s.record_class.value,
                "trigger": s.trigger.value,
                "cutoff": s.cutoff.value,
                "period": str(s.period),
                "disposition": s.disposition.value,
                "authority": s.authority,
                "case_types": list(s.case_types),
            }
            for s in schedules
        ],
        sort_keys=True,
        separators=(",", ":"),
    )


class RetentionService:
    """Retention schedules, legal holds and dispositions (see the module's docstring)."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    # ----------------------------------------------------------------------------------
    # Schedules

    @property
    def schedules(self) -> tuple[RetentionSchedule, ...]:
        """The profile's retention schedules."""
        return self._crm.profile.retention

    @property
    def time_zone(self) -> ZoneInfo:
        """The agency's time zone: periods count in its calendar."""
        return ZoneInfo(self._crm.profile.agency.time_zone)

    def _checked(self, schedules: Sequence[RetentionSchedule] | None) -> list[RetentionSchedule]:
        chosen = list(self.schedules if schedules is None else schedules)
        problems = check_schedules(chosen)
        problems += [
            Problem(
                f"retention[{i}].record_class",
                f"{s.record_class.value!r} schedules are not applied yet: this release "
                "disposes of cases, interactions and the audit trail",
            )
            for i, s in enumerate(chosen)
            if s.record_class.value in UNAPPLIED_CLASSES
        ]
        if problems:
            raise ValidationError(problems, record_type="retention schedules")
        return chosen

    # ----------------------------------------------------------------------------------
    # Legal holds

    def place_hold(
        self,
        *,
        reason: str,
        authority: str,
        cases: Sequence[uuid.UUID | str] = (),
        parties: Sequence[uuid.UUID | str] = (),
        case_type: str | None = None,
        created_from: datetime | None = None,
        created_until: datetime | None = None,
    ) -> LegalHold:
        """
        Place a legal hold on cases, on everything of some parties, or on the cases of a
        type created in ``[created_from, created_until)`` (see
        :class:`~civiccrm.models.LegalHold`). From now until it is released,
        nothing it covers is disposed of. Audited.

        Raises:
            ValidationError: no reason or authority, or not exactly one scope.
            AccessDeniedError: the role may not make ``hold`` writes.
        """
        crm = self._crm
        crm._may("hold")
        if case_type is not None and case_type not in {ct.code for ct in crm.profile.case_types}:
            raise ValidationError.at("case_type", f"{case_type!r} is not a case type")
        case_ids = _uuids(cases, "cases")
        party_ids = _uuids(parties, "parties")
        found = {r.id for r in crm.storage.get_many("case", case_ids)}
        for i, cid in enumerate(case_ids):
            if cid not in found:
                raise NotFoundError("case", f"{cid} (cases[{i}])")
        found = {
            r.id for k in ("citizen", "organization") for r in crm.storage.get_many(k, party_ids)
        }
        for i, pid in enumerate(party_ids):
            if pid not in found:
                raise NotFoundError("party", f"{pid} (parties[{i}])")
        now = crm._now()
        hold = LegalHold(
            id=str(crm._new_id(now)),
            reason=reason,
            authority=authority,
            placed_at=now,
            placed_by=self._actor_name(),
            cases=case_ids,
            parties=party_ids,
            case_type=case_type,
            created_from=created_from,
            created_until=created_until,
        )
        with crm.transaction():
            self._put(hold)
            crm._audit_write(
                "hold",
                "legal_hold",
                [hold.id],
                detail={"cases": len(hold.cases), "parties": len(hold.parties)},
            )
        return hold

    def release_hold(self, hold: LegalHold | str, *, reason: str) -> LegalHold:
        """
        Release a legal hold: what it covered follows its schedules again (a record
        already past its period is due at the next run). Audited.

        Raises:
            NotFoundError: there is no such hold.
            ValidationError: no reason, or the hold is released already.
        """
        crm = self._crm
        crm._may("hold")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError.at("reason", "say why the hold is released")
        hold_id = hold.id if isinstance(hold, LegalHold) else str(hold)
        with crm.transaction():
            current = self._get_hold(hold_id)
            if current.released_at is not None:
                raise ValidationError.at("", f"legal hold {hold_id} is released already")
            released = attrs.evolve(
                current,
                released_at=crm._now(),
                released_by=self._actor_name(),
                release_reason=reason.strip(),
            )
            self._put(released)
            crm._audit_write("release_hold", "legal_hold", [hold_id])
        return attrs.evolve(released, version=current.version + 1)

    def holds(self, *, in_force: bool | None = None) -> list[LegalHold]:
        """The legal holds (only those in force now, or only the released ones)."""
        kind = KINDS[LegalHold]
        out = [
            kind.from_record(r, self._crm.converter)
            for r in self._crm.storage.stream(Query("legal_hold"))
        ]
        if in_force is None:
            return out
        now = self._crm._now()
        return [h for h in out if h.in_force(now) == in_force]

    def _get_hold(self, hold_id: str) -> LegalHold:
        record = self._crm.storage.get("legal_hold", hold_id)
        if record is None:
            raise NotFoundError("legal hold", hold_id)
        hold: LegalHold = KINDS[LegalHold].from_record(record, self._crm.converter)
        return hold

    # ----------------------------------------------------------------------------------
    # Facts, plan

    def facts(self) -> Iterator[RetentionFacts]:
        """Every case, and every interaction logged on no case, as retention sees them
        (from indexed columns: no personal data is read)."""
        storage = self._crm.storage
        for r in storage.stream(Query("case", columns=_CASE_COLUMNS)):
            yield _case_facts(r)
        query = Query("interaction", (Filter("case_id", "is_null"),), columns=_INTERACTION_COLUMNS)
        for r in storage.stream(query):
            yield _interaction_facts(r)

    def _decisions(
        self, schedules: Sequence[RetentionSchedule], as_of: datetime, page: int = 500
    ) -> Iterator[tuple[Decision, bool]]:
        """Each record's decision as of ``as_of`` (holds judged now), and whether it was
        disposed of already (anonymised or flagged: a destroyed record is not met again,
        unless an import brought it back, and then it is due again)."""
        holds = self.holds()
        by_party = any(h.parties for h in holds)
        tz = self.time_zone
        now = self._crm._now()
        batch: list[RetentionFacts] = []

        def flush() -> Iterator[tuple[Decision, bool]]:
            ids = [f"{f.record_class}:{f.record_id}" for f in batch]
            done = {
                r.id
                for r in self._crm.storage.get_many("disposal", ids)
                if r.columns.get("disposition") in _LASTING
            }
            for facts, mark in zip(batch, ids, strict=True):
                decision = decide(schedules, facts, holds, now=as_of, tz=tz, holds_at=now)
                if by_party and decision.status is RetentionStatus.DUE:
                    # Someone else's call on the case may be held evidence.
                    decision = decide(
                        schedules, self._extended(facts), holds, now=as_of, tz=tz, holds_at=now
                    )
                yield decision, mark in done
            batch.clear()

        for facts in self.facts():
            batch.append(facts)
            if len(batch) >= page:
                yield from flush()
        yield from flush()

    def _extended(self, facts: RetentionFacts) -> RetentionFacts:
        """A case's facts with the parties of the interactions logged on it."""
        if facts.record_class is not RecordClass.CASE:
            return facts
        query = Query(
            "interaction", (Filter("case_id", "eq", facts.record_id),), columns=("party_id",)
        )
        parties = {
            str(r.columns["party_id"])
            for r in self._crm.storage.stream(query)
            if r.columns.get("party_id") is not None
        }
        if parties <= set(facts.party_ids):
            return facts
        return attrs.evolve(facts, party_ids=tuple(sorted({*facts.party_ids, *parties})))

    def plan(
        self,
        *,
        as_of: datetime | None = None,
        schedules: Sequence[RetentionSchedule] | None = None,
        out: str | os.PathLike[str] | None = None,
    ) -> RetentionPlan:
        """
        What :meth:`apply` would do as of ``as_of`` (default now): counts by schedule and
        status, and with ``out`` a CSV file listing each record that is due or held
        (:data:`PLAN_FIELDS`: ids, codes and dates, no personal data). Writes nothing
        else.
        """
        chosen = self._checked(schedules)
        when = self._crm._now() if as_of is None else as_of
        counts: dict[str, Counter[str]] = {}
        with _csv_out(out) as writer:
            for decision, done in self._decisions(chosen, when):
                if done:
                    continue
                code = decision.schedule.code if decision.schedule else ""
                counts.setdefault(code, Counter())[decision.status.value] += 1
                if writer is not None and decision.status in (
                    RetentionStatus.DUE,
                    RetentionStatus.HELD,
                ):
                    writer.writerow(_plan_row(decision))
            audit = self._audit_schedule(chosen)
            if audit is not None:
                cut = self._audit_scan(audit, when)
                per = counts.setdefault(audit.code, Counter())
                for status, n in (
                    (RetentionStatus.DUE, cut.due),
                    (RetentionStatus.HELD, cut.held),
                    (RetentionStatus.NOT_DUE, cut.not_due),
                ):
                    if n:
                        per[status.value] += n
                if writer is not None and cut.due:
                    writer.writerow(
                        [
                            "audit",
                            f"{cut.first_n}-{cut.last_n}",
                            "",
                            "due",
                            audit.code,
                            audit.disposition.value,
                            "",
                            "",
                        ]
                    )
        return RetentionPlan(
            when,
            {code: dict(c) for code, c in sorted(counts.items())},
            Path(out) if out is not None else None,
        )

    # ----------------------------------------------------------------------------------
    # Apply

    def apply(
        self,
        *,
        key: str,
        as_of: datetime | None = None,
        schedules: Sequence[RetentionSchedule] | None = None,
        batch: int = 200,
        archive_dir: str | os.PathLike[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RetentionRun:
        """
        Dispose of every record due as of ``as_of`` (default now; never later) and not
        held, in
        atomic batches of ``batch``: each batch's dispositions, the marks they leave
        (:class:`~civiccrm.models.Disposal`), its audit entries and the run's counts
        commit together. ``key`` is the run's idempotency key: running it again (after
        a crash, say) finishes what is left as of the same instant, and disposes of
        nothing twice; a finished run is returned as it is. The run is the disposition
        certificate (:meth:`certificate`).

        ``archive_dir`` is where ``archive`` dispositions write their files
        (``<key>-<batch>.jsonl``, one per batch, complete before the batch commits).

        Raises:
            ValidationError: no key; the schedules conflict; a schedule archives and no
                ``archive_dir`` is given; the key was used with other schedules.
            AccessDeniedError: the role may not make ``retention`` writes.
        """
        crm = self._crm
        crm._may("retention")
        if not isinstance(key, str) or not key.strip():
            raise ValidationError.at("key", "give the run an idempotency key")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValidationError.at("batch", f"must be 1 or more, got {batch!r}")
        if as_of is not None and as_of > crm._now():
            raise ValidationError.at(
                "as_of", "is in the future: records are never disposed of before they are due"
            )
        chosen = self._checked(schedules)
        fingerprint = _schedules_json(chosen)
        if archive_dir is None and any(s.disposition is Disposition.ARCHIVE for s in chosen):
            record = crm.storage.get("retention_run", key)
            if record is None or record.columns.get("status") != "done":
                raise ValidationError.at(
                    "archive_dir", "a schedule archives records: say where the archive files go"
                )
        run = self._start_run(key, fingerprint, as_of)
        if run.status == "done":
            return run
        folder = Path(archive_dir) if archive_dir is not None else None
        if folder is not None:
            _remove_partial_files(folder, run.id)
        pending: list[Decision] = []
        for decision, done in self._decisions(chosen, run.as_of):
            if done or decision.status is not RetentionStatus.DUE:
                continue
            pending.append(decision)
            if len(pending) >= batch:
                run = self._dispose(run, pending, folder, chosen)
                if progress is not None:
                    progress(len(pending))
                pending = []
        if pending:
            run = self._dispose(run, pending, folder, chosen)
            if progress is not None:
                progress(len(pending))
        audit = self._audit_schedule(chosen)
        if audit is not None:
            run = self._dispose_audit(run, audit, folder)
        marks = self.disposals(run.id)
        # Keys a crash kept from being shredded after their batch committed.
        now = crm._now()
        for mark in marks:
            if mark.key_id is not None:
                crm.keys.erase(mark.key_id, at=now)
        with crm.transaction():
            finished = attrs.evolve(
                run,
                status="done",
                finished_at=crm._now(),
                digest=digest_ids(m.id for m in marks),
            )
            self._put(finished)
            crm._audit_write(
                "retention_run",
                "retention_run",
                [run.id],
                detail={"disposed": finished.disposed, "digest": finished.digest},
            )
        return attrs.evolve(finished, version=run.version + 1)

    def run(self, key: str) -> RetentionRun:
        """A retention run by its key.

        Raises:
            NotFoundError: there is no run of that key.
        """
        record = self._crm.storage.get("retention_run", key)
        if record is None:
            raise NotFoundError("retention run", key)
        found: RetentionRun = KINDS[RetentionRun].from_record(record, self._crm.converter)
        return found

    def certificate(self, key: str) -> dict[str, Any]:
        """
        The disposition certificate of a run, as JSON-ready data: what (counts per
        schedule and disposition, with each schedule's legal authority), when (the
        instant the records were judged against, start and end), by whom, and a digest
        of the disposed-of records' ids (``<class>:<id>``). No personal data.
        """
        run = self.run(key)
        schedules = {s["code"]: s for s in json.loads(run.schedules)}
        counts: dict[str, dict[str, int]] = json.loads(run.counts)
        return {
            "run": run.id,
            "status": run.status,
            "as_of": format_utc(run.as_of),
            "started_at": format_utc(run.started_at) if run.started_at else None,
            "finished_at": format_utc(run.finished_at) if run.finished_at else None,
            "by": run.actor_name,
            "disposed": run.disposed,
            "digest": {"algorithm": "sha256 of the sorted ids, one per line", "value": run.digest},
            "schedules": [
                {
                    "code": code,
                    "authority": schedules[code]["authority"],
                    "period": schedules[code]["period"],
                    "counts": counts[code],
                }
                for code in sorted(counts)
            ],
        }

    def disposals(self, run: str | None = None) -> list[Disposal]:
        """The marks dispositions left (of one run, or of all)."""
        where = (Filter("run", "eq", run),) if run is not None else ()
        kind = KINDS[Disposal]
        return [
            kind.from_record(r, self._crm.converter)
            for r in self._crm.storage.stream(Query("disposal", where))
        ]

    # --- internals ----------------------------------------------------------------------

    def _actor_name(self) -> str:
        actor = self._crm.actor
        return str(actor.agent_id) if actor.agent_id is not None else actor.name

    def _put(self, obj: LegalHold | RetentionRun | Disposal) -> None:
        record = KINDS[type(obj)].to_record(obj, self._crm.converter)
        self._crm.storage.put(record, expected_version=obj.version)

    def _start_run(self, key: str, fingerprint: str, as_of: datetime | None) -> RetentionRun:
        crm = self._crm
        with crm.transaction():
            record = crm.storage.get("retention_run", key)
            if record is not None:
                run: RetentionRun = KINDS[RetentionRun].from_record(record, crm.converter)
                if run.schedules != fingerprint:
                    raise ValidationError.at(
                        "key", f"retention run {key!r} was started under other schedules"
                    )
                if as_of is not None and as_of != run.as_of:
                    raise ValidationError.at(
                        "as_of",
                        f"retention run {key!r} disposes as of {format_utc(run.as_of)}",
                    )
                return run
            now = crm._now()
            run = RetentionRun(
                id=key,
                as_of=now if as_of is None else as_of,
                schedules=fingerprint,
                actor=crm.actor.agent_id,
                actor_name=self._actor_name(),
                started_at=now,
            )
            self._put(run)
        return attrs.evolve(run, version=1)

    def _dispose(
        self,
        run: RetentionRun,
        decisions: list[Decision],
        folder: Path | None,
        schedules: Sequence[RetentionSchedule],
    ) -> RetentionRun:
        """One batch: each record judged again inside the transaction (a hold placed, a
        case reopened since the decision keeps it), archived, disposed of and marked,
        with the run's counts, atomically."""
        crm = self._crm
        storage = crm.storage
        number = run.batches + 1
        now = crm._now()
        shred: list[str] = []
        counts: dict[str, dict[str, int]] = json.loads(run.counts)
        with crm.transaction():
            current = self._recheck(decisions, schedules, run.as_of, now)
            archived = [d for d in current if _disposition(d) is Disposition.ARCHIVE]
            if archived:
                assert folder is not None
                self._archive(folder / _archive_name(run.id, number), archived)
            keys: dict[str, str] = {}
            for d in current:
                rid, disposition = d.facts.record_id, _disposition(d)
                if d.facts.record_class is RecordClass.CASE:
                    if disposition in (Disposition.DESTROY, Disposition.ARCHIVE):
                        if self._destroy_case(rid):
                            keys[rid] = case_key_id(rid)
                    elif disposition is Disposition.ANONYMISE:
                        self._anonymise_case(rid)
                elif disposition in (Disposition.DESTROY, Disposition.ARCHIVE):
                    _delete(storage, "interaction", rid)
                elif disposition is Disposition.ANONYMISE:
                    self._anonymise_interaction(rid)
            marks = []
            groups: dict[tuple[str, str, str], list[str]] = {}
            for d in current:
                assert d.schedule is not None
                cls, rid = d.facts.record_class.value, d.facts.record_id
                code, done_as = d.schedule.code, d.schedule.disposition.value
                marks.append(
                    Disposal(
                        id=f"{cls}:{rid}",
                        record_class=cls,
                        record_id=rid,
                        schedule=code,
                        disposition=done_as,
                        run=run.id,
                        at=now,
                        key_id=keys.get(rid),
                    )
                )
                groups.setdefault((cls, code, done_as), []).append(rid)
                per = counts.setdefault(code, {})
                per[done_as] = per.get(done_as, 0) + 1
            # A record an import brought back after it was destroyed has a mark already.
            versions = {
                r.id: r.version for r in storage.get_many("disposal", [m.id for m in marks])
            }
            for mark in marks:
                self._put(attrs.evolve(mark, version=versions.get(mark.id, 0)))
            for (cls, code, done_as), ids in groups.items():
                crm._audit_write(
                    "dispose",
                    cls,
                    ids,
                    detail={"schedule": code, "disposition": done_as, "run": run.id},
                )
            updated = attrs.evolve(
                run,
                counts=json.dumps(counts, sort_keys=True, separators=(",", ":")),
                disposed=run.disposed + len(current),
                batches=number,
            )
            self._put(updated)
            shred = list(keys.values())
        # After the commit (the marks keep the key ids: a crash here is caught up on
        # when the run finishes).
        for key_id in shred:
            crm.keys.erase(key_id, at=now)
        return attrs.evolve(updated, version=run.version + 1)

    def _audit_schedule(self, schedules: Sequence[RetentionSchedule]) -> RetentionSchedule | None:
        return next((s for s in schedules if s.record_class is RecordClass.AUDIT), None)

    def _held_ids(self) -> frozenset[str]:
        """The ids of every record a hold in force covers (cases, with their events and
        interactions, and parties): audit entries naming them are kept."""
        crm = self._crm
        now = crm._now()
        holds = [h for h in self.holds() if h.in_force(now)]
        if not holds:
            return frozenset()
        ids: set[str] = set()
        cases: set[str] = set()
        for h in holds:
            cases.update(h.cases)
            ids.update(h.parties)
        if any(not h.cases and not h.parties for h in holds) or any(h.parties for h in holds):
            for facts in self.facts():
                if any(covers(h, facts) for h in holds):
                    if facts.record_class is RecordClass.CASE:
                        cases.add(facts.record_id)
                    else:
                        ids.add(facts.record_id)
        ids.update(cases)
        ordered = sorted(cases)
        for i in range(0, len(ordered), 500):
            chunk = tuple(ordered[i : i + 500])
            for kind in ("case_event", "interaction"):
                query = Query(kind, (Filter("case_id", "in", chunk),), columns=("case_id",))
                ids.update(r.id for r in crm.storage.stream(query))
        return frozenset(ids)

    def _audit_scan(self, schedule: RetentionSchedule, as_of: datetime) -> AuditCut:
        crm = self._crm
        return audit_scan(
            crm.storage,
            crm.keys.system_key,
            schedule,
            as_of=as_of,
            tz=self.time_zone,
            held_ids=self._held_ids(),
        )

    def _dispose_audit(
        self, run: RetentionRun, schedule: RetentionSchedule, folder: Path | None
    ) -> RetentionRun:
        """Cut the audit trail's oldest entries (see :mod:`civiccrm._retention_audit`),
        with their mark, the run's counts and an audit entry, atomically."""
        crm = self._crm
        with crm.transaction():
            # Entries a crash left behind the base of an earlier cut: deleted now, and
            # accounted for in this run.
            behind = audit_left_behind(crm.storage, crm.keys.system_key)
            if behind is not None:
                count, first_n, last_n, digest = behind
                run = self._audit_mark(run, schedule, count, first_n, last_n, digest)
        with crm.transaction():
            cut = self._audit_scan(schedule, run.as_of)
            if cut.seq is None:
                return run
            archive = None
            if schedule.disposition is Disposition.ARCHIVE:
                assert folder is not None
                archive = folder / audit_archive_name(run.id, cut)
            digest = audit_prune(crm.storage, crm.keys.system_key, cut, archive=archive)
            assert cut.first_n is not None
            assert cut.last_n is not None
            return self._audit_mark(run, schedule, cut.due, cut.first_n, cut.last_n, digest)

    def _audit_mark(
        self,
        run: RetentionRun,
        schedule: RetentionSchedule,
        count: int,
        first_n: int,
        last_n: int,
        digest: str,
    ) -> RetentionRun:
        """The mark, counts and audit entry of audit entries pruned (in a transaction)."""
        crm = self._crm
        span = f"{first_n}-{last_n}"
        done_as = schedule.disposition.value
        mark = Disposal(
            id=f"audit:{span}",
            record_class="audit",
            record_id=span,
            schedule=schedule.code,
            disposition=done_as,
            run=run.id,
            at=crm._now(),
        )
        existing = crm.storage.get("disposal", mark.id)
        self._put(attrs.evolve(mark, version=existing.version if existing else 0))
        counts: dict[str, dict[str, int]] = json.loads(run.counts)
        per = counts.setdefault(schedule.code, {})
        per[done_as] = per.get(done_as, 0) + count
        crm._audit_write(
            "dispose",
            "audit",
            [mark.id],
            detail={
                "schedule": schedule.code,
                "disposition": done_as,
                "run": run.id,
                "entries": count,
                "sha256": digest,
            },
        )
        updated = attrs.evolve(
            run,
            counts=json.dumps(counts, sort_keys=True, separators=(",", ":")),
            disposed=run.disposed + count,
            batches=run.batches + 1,
        )
        self._put(updated)
        return attrs.evolve(updated, version=run.version + 1)

    def _recheck(
        self,
        decisions: list[Decision],
        schedules: Sequence[RetentionSchedule],
        as_of: datetime,
        now: datetime,
    ) -> list[Decision]:
        """The decisions still DUE, judged again on the records as they are now."""
        storage = self._crm.storage
        holds = self.holds()
        tz = self.time_zone
        out: list[Decision] = []
        for cls, kind, make in (
            (RecordClass.CASE, "case", _case_facts),
            (RecordClass.INTERACTION, "interaction", _interaction_facts),
        ):
            ids = [d.facts.record_id for d in decisions if d.facts.record_class is cls]
            if not ids:
                continue
            records = {r.id: r for r in storage.get_many(kind, ids)}
            for rid in ids:
                record = records.get(rid)
                if record is None or record.doc.startswith('{"_erased"'):
                    continue
                if kind == "interaction" and record.columns.get("case_id") is not None:
                    continue  # logged on a case since: it goes with the case
                facts = self._extended(make(record))
                decision = decide(schedules, facts, holds, now=as_of, tz=tz, holds_at=now)
                if decision.status is RetentionStatus.DUE:
                    out.append(decision)
        return out

    def _destroy_case(self, case_id: str) -> bool:
        """Delete a case with its events and interactions; whether it was anonymous (its
        own key is then shredded)."""
        storage = self._crm.storage
        for kind in ("case_event", "interaction", "outbox", "survey"):
            query = Query(kind, (Filter("case_id", "eq", case_id),), columns=("case_id",))
            for r in list(storage.stream(query)):
                storage.delete(kind, r.id, expected_version=r.version)
        self._strip_mail_receipts(case_id)
        record = storage.get("case", case_id)
        if record is None:
            return False
        anonymous = record.columns.get("requester_id") is None
        storage.delete("case", case_id, expected_version=record.version)
        return anonymous

    def _anonymise_case(self, case_id: str) -> None:
        """Drop a case's personal data (title, description, media URL, requester,
        attributes, tags, required skills, external ids and the import keys that
        carry them; its location generalised to about a kilometre and its
        postal code, its address dropped), its events' notes, and its interactions' personal data."""
        crm = self._crm
        record = crm.storage.get("case", case_id)
        if record is None:
            return
        case = crm._from_record(KINDS[Case], record)
        location = case.location
        if location is not None:
            if location.latitude is None and location.postal_code is None:
                location = None
            else:
                location = Location(
                    latitude=None if location.latitude is None else round(location.latitude, 2),
                    longitude=None if location.longitude is None else round(location.longitude, 2),
                    postal_code=location.postal_code,
                )
        plain = attrs.evolve(
            case,
            title=None,
            description=None,
            media_url=None,
            requester=None,
            tags=(),
            required_skills=(),
            attributes={},
            external_ids={},
            location=location,
        )
        key = crm.keys.current(case_key_id(case_id), create=True)
        crm.storage.put(crm._to_record(plain, key), expected_version=record.version)
        query = Query("case_event", (Filter("case_id", "eq", case_id),))
        event_kind = KINDS[CaseEvent]
        for r in list(crm.storage.stream(query)):
            event = crm._from_record(event_kind, r)
            if event.note is not None or "import_key" in event.data:
                data = {k: v for k, v in event.data.items() if k != "import_key"}
                crm.storage.put(
                    crm._to_record(attrs.evolve(event, note=None, data=data), key),
                    expected_version=r.version,
                )
        for r in list(
            crm.storage.stream(Query("interaction", (Filter("case_id", "eq", case_id),)))
        ):
            self._anonymise_interaction(r.id, r)
        # Its messages keep their state (for counts), not their text or address; its
        # surveys keep their score, not the comment; its mail receipts, not the
        # attachments' names.
        about = (Filter("case_id", "eq", case_id),)
        for r in list(crm.storage.stream(Query("outbox", about))):
            message = crm._from_record(KINDS[OutboxMessage], r)
            self._put_plain(
                attrs.evolve(
                    message, recipient="", subject=None, body="", message_id=None, party=None
                ),
                r,
            )
        for r in list(crm.storage.stream(Query("survey", about))):
            survey = crm._from_record(KINDS[Survey], r)
            self._put_plain(attrs.evolve(survey, comment=None, party=None), r)
        self._strip_mail_receipts(case_id)

    def _strip_mail_receipts(self, case_id: str) -> None:
        """A case's mail receipts without their attachments' metadata or party: a
        receipt stays, so that the same message polled again is not taken again."""
        crm = self._crm
        query = Query("mail_receipt", (Filter("case_id", "eq", case_id),))
        for r in list(crm.storage.stream(query)):
            receipt = crm._from_record(KINDS[MailReceipt], r)
            self._put_plain(attrs.evolve(receipt, attachments=(), party_id=None), r)

    def _put_plain(self, obj: OutboxMessage | Survey | MailReceipt, record: Record) -> None:
        """Store ``obj``, which holds no personal data any more, unsealed."""
        crm = self._crm
        plain = KINDS[type(obj)].to_record(obj, crm.converter)
        crm.storage.put(plain, expected_version=record.version)

    def _anonymise_interaction(self, interaction_id: str, record: Record | None = None) -> None:
        crm = self._crm
        record = record or crm.storage.get("interaction", interaction_id)
        if record is None:
            return
        item = crm._from_record(KINDS[Interaction], record)
        plain = attrs.evolve(item, subject=None, body=None, external_id=None, party=None)
        crm.storage.put(crm._to_record(plain), expected_version=record.version)

    def _archive(self, path: Path, decisions: list[Decision]) -> None:
        """Write the records to archive to ``path`` in full, atomically (a temporary
        file renamed into place), before the batch that destroys them commits."""
        crm = self._crm
        storage = crm.storage
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for d in decisions:
                    rid = d.facts.record_id
                    assert d.schedule is not None
                    head: dict[str, Any] = {
                        "record_class": d.facts.record_class.value,
                        "record_id": rid,
                        "schedule": d.schedule.code,
                        "authority": d.schedule.authority,
                    }
                    if d.facts.record_class is RecordClass.CASE:
                        record = storage.get("case", rid)
                        if record is None:
                            continue
                        head["case"] = crm.converter.unstructure(
                            crm._from_record(KINDS[Case], record), Case
                        )
                        events = storage.stream(
                            Query("case_event", (Filter("case_id", "eq", rid),))
                        )
                        head["events"] = [
                            crm.converter.unstructure(
                                crm._from_record(KINDS[CaseEvent], r), CaseEvent
                            )
                            for r in events
                        ]
                        for name, cls in (("messages", OutboxMessage), ("surveys", Survey)):
                            rows = storage.stream(
                                Query(KINDS[cls].name, (Filter("case_id", "eq", rid),))
                            )
                            head[name] = [
                                crm.converter.unstructure(crm._from_record(KINDS[cls], r), cls)
                                for r in rows
                            ]
                        items = storage.stream(
                            Query("interaction", (Filter("case_id", "eq", rid),))
                        )
                    else:
                        items = iter([r] if (r := storage.get("interaction", rid)) else [])
                    head["interactions"] = [
                        crm.converter.unstructure(
                            crm._from_record(KINDS[Interaction], r), Interaction
                        )
                        for r in items
                    ]
                    out.write(orjson.dumps(head) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            _sync_folder(path.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        ids = [d.facts.record_id for d in decisions]
        crm._audit_system_read(
            "case", ids, [f.name for f in personal_data_fields(Case)], "retention archive"
        )


#: Dispositions that leave the record in place (its mark says it is done).
_LASTING: Final = frozenset({Disposition.ANONYMISE.value, Disposition.REVIEW.value})


def _disposition(decision: Decision) -> Disposition:
    assert decision.schedule is not None
    return decision.schedule.disposition


def _archive_name(key: str, number: int) -> str:
    """A batch's archive file: the key made safe for a file name, with a hash of the key
    so that two keys never share files (``2016/02`` and ``2016:02``)."""
    tag = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{_safe(key)[:60]}-{tag}-{number:06d}.jsonl"


def _remove_partial_files(folder: Path, key: str) -> None:
    """Delete this run's unfinished archive files (a crash while one was written: they
    hold decrypted personal data)."""
    if not folder.is_dir():
        return
    stem = _archive_name(key, 0).rsplit("-", 1)[0]
    for part in folder.glob(f".{stem}-*.part"):
        with contextlib.suppress(OSError):
            part.unlink()


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere a no-op)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _uuids(values: Sequence[uuid.UUID | str], field: str) -> list[str]:
    """Record ids in their canonical form (a hold must name what it holds exactly)."""
    if isinstance(values, str):
        raise ValidationError.at(field, "expected a list of ids, got one string")
    out = []
    for i, value in enumerate(values):
        try:
            out.append(str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))))
        except ValueError:
            raise ValidationError.at(f"{field}[{i}]", f"{value!r} is not a record id") from None
    return out


def _delete(storage: Any, kind: str, record_id: str) -> None:
    record = storage.get(kind, record_id)
    if record is not None:
        storage.delete(kind, record_id, expected_version=record.version)


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


def _time(value: object) -> datetime | None:
    return from_micros(value) if isinstance(value, int) else None


def _case_facts(r: Record) -> RetentionFacts:
    c = r.columns
    opened = _time(c.get("opened_at"))
    requester = c.get("requester_id")
    return RetentionFacts(
        record_class=RecordClass.CASE,
        record_id=r.id,
        created_at=opened or from_micros(0),
        closed_at=_time(c.get("closed_at")),
        last_activity_at=_time(c.get("updated_at")),
        case_type=c.get("case_type") if isinstance(c.get("case_type"), str) else None,  # type: ignore[arg-type]
        case_id=r.id,
        party_ids=(str(requester),) if requester is not None else (),
    )


def _interaction_facts(r: Record) -> RetentionFacts:
    c = r.columns
    party = c.get("party_id")
    at = _time(c.get("occurred_at")) or from_micros(0)
    return RetentionFacts(
        record_class=RecordClass.INTERACTION,
        record_id=r.id,
        created_at=at,
        last_activity_at=at,
        party_ids=(str(party),) if party is not None else (),
    )


def _plan_row(d: Decision) -> list[str]:
    return [
        d.facts.record_class.value,
        d.facts.record_id,
        d.facts.case_type or "",
        d.status.value,
        d.schedule.code if d.schedule else "",
        d.schedule.disposition.value if d.schedule else "",
        format_utc(d.due_at) if d.due_at else "",
        ";".join(d.holds),
    ]


@contextlib.contextmanager
def _csv_out(out: str | os.PathLike[str] | None) -> Iterator[Any]:
    """A CSV writer to ``out`` written atomically (or None without ``out``)."""
    if out is None:
        yield None
        return
    path = Path(out)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(PLAN_FIELDS)
            yield writer
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
