"""
The facade's data-subject request service: ``crm.subjects`` (access, rectification,
erasure).

A person may ask an agency what it holds about them (**access**), to correct it
(**rectification**), or to erase it (**erasure**). Access gathers everything held about
a party across every record type, decrypted: the party's own record, the cases they
requested with those cases' histories, and the interactions logged with them or on
their cases with no other party, plus the log of who processed their data (the audit
entries naming their records; those hold no personal data). It is written as JSON and
as a readable HTML summary. Rectification is an update with the request recorded in
the audit trail. Erasure is crypto-shredding (``crm.citizens.erase``), refused, with its
legal ground, while a legal hold covers the person or their cases (legal claims), while
a records schedule still requires their cases to be kept (a legal obligation), or while
a case of theirs is still being worked (a task in the public interest).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import enum
import html
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from civiccrm._records import KINDS, OPEN_STATUSES
from civiccrm._retention import (
    _CASE_COLUMNS,
    _INTERACTION_COLUMNS,
    _case_facts,
    _interaction_facts,
)
from civiccrm.adapters._base import Filter, Query
from civiccrm.errors import AccessDeniedError, NotFoundError, ValidationError
from civiccrm.models import (
    Case,
    CaseEvent,
    Citizen,
    Interaction,
    MailReceipt,
    Organization,
    OutboxMessage,
    Party,
    Survey,
    format_utc,
)
from civiccrm.privacy.audit import parse_entry
from civiccrm.privacy.retention import RetentionStatus, covers, decide
from civiccrm.profile import Visibility

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["AccessExport", "ErasureDecision", "Ground", "Refusal", "SubjectService"]


class Ground(enum.StrEnum):
    """The legal grounds on which an erasure request is refused (GDPR art. 17(3) and
    the like: an agency names the law in ``Refusal.detail``)."""

    #: A law requires the records to be kept (a records schedule).
    LEGAL_OBLIGATION = "legal_obligation"
    #: The data are needed for a task carried out in the public interest (a request
    #: still being worked).
    PUBLIC_TASK = "public_task"
    #: The establishment, exercise or defence of legal claims (a legal hold).
    LEGAL_CLAIMS = "legal_claims"


@attrs.frozen
class Refusal:
    """One reason an erasure cannot be carried out now."""

    ground: Ground
    #: What it rests on, naming no one: a schedule and its authority, a hold's
    #: authority, a case reference.
    detail: str
    #: When this reason ends, if known (a schedule's due time).
    until: datetime | None = None


@attrs.frozen
class ErasureDecision:
    """The answer to an erasure request: carried out, or refused with its grounds."""

    party_id: str
    erased: bool
    refusals: tuple[Refusal, ...] = ()


@attrs.frozen
class AccessExport:
    """A subject-access export: where its files are and what they hold."""

    party_id: str
    json_path: Path
    html_path: Path
    counts: Mapping[str, int]


#: What the HTML summary shows of each record type, in order.
_SECTIONS: Final = (
    ("subject", "Your record"),
    ("cases", "Your requests"),
    ("case_events", "What happened on your requests"),
    ("interactions", "Contacts with you"),
    ("messages", "Messages we sent you"),
    ("surveys", "Your satisfaction surveys"),
    ("mail_receipts", "Emails we received from you"),
    ("processing", "Who processed your data"),
)


class SubjectService:
    """Data-subject requests (see the module's docstring)."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    # ----------------------------------------------------------------------------------
    # Access

    def collect(self, party: Party | uuid.UUID | str) -> dict[str, Any]:
        """Everything held about a party, decrypted, as JSON-ready data (see the
        module's docstring). Audited as reads with the session's purpose.

        Raises:
            AccessDeniedError: the role may not make ``export`` writes, or does not see
                personal data in clear (a subject-access answer must be complete).
        """
        crm = self._crm
        self._may_answer()
        subject = self._party(party, shown=False)
        pid = str(subject.id)
        conv = crm.converter
        storage = crm.storage
        cases: list[Case] = [
            crm._from_record(KINDS[Case], r)
            for r in storage.stream(Query("case", (Filter("requester_id", "eq", pid),)))
        ]
        case_ids = [str(c.id) for c in cases]
        events: list[CaseEvent] = []
        mine: dict[str, Interaction] = {}
        for cid in case_ids:
            for r in storage.stream(Query("case_event", (Filter("case_id", "eq", cid),))):
                events.append(crm._from_record(KINDS[CaseEvent], r))
            for r in storage.stream(Query("interaction", (Filter("case_id", "eq", cid),))):
                item = crm._from_record(KINDS[Interaction], r)
                if item.party is None or str(item.party.id) == pid:
                    mine[r.id] = item
        for r in storage.stream(Query("interaction", (Filter("party_id", "eq", pid),))):
            mine.setdefault(r.id, crm._from_record(KINDS[Interaction], r))
        interactions = sorted(mine.values(), key=lambda i: (i.occurred_at, str(i.id)))
        # Messages to them or about their cases, surveys of their cases, receipts of
        # the emails they sent.
        extra: dict[str, dict[str, Any]] = {"messages": {}, "surveys": {}, "mail_receipts": {}}
        for name, cls, by_party in (
            ("messages", OutboxMessage, True),
            ("surveys", Survey, False),
            ("mail_receipts", MailReceipt, True),
        ):
            kind = KINDS[cls]
            wheres = [(Filter("case_id", "eq", cid),) for cid in case_ids]
            if by_party:
                wheres.append((Filter("party_id", "eq", pid),))
            for where in wheres:
                for r in storage.stream(Query(kind.name, where)):
                    if r.id not in extra[name]:
                        extra[name][r.id] = conv.unstructure(crm._from_record(kind, r), cls)
        ids = {pid, *case_ids, *(str(e.id) for e in events), *mine}
        for found in extra.values():
            ids.update(found)
        processing = []
        for _, text in _audit_entries(crm):
            _, entry, _, _ = parse_entry(text)
            if ids.intersection(entry.record_ids):
                processing.append(
                    {
                        "at": format_utc(entry.at),
                        "actor": entry.actor,
                        "role": entry.role,
                        "action": entry.action,
                        "kind": entry.kind,
                        "purpose": entry.purpose,
                        "fields": list(entry.fields),
                    }
                )
        crm._audit_read(_kind(subject), [pid])
        crm._audit_read("case", case_ids)
        crm._audit_read("interaction", list(mine))
        for name, found in extra.items():
            if found:
                crm._audit_read(
                    {"messages": "outbox", "surveys": "survey"}.get(name, "mail_receipt"),
                    list(found),
                )
        return {
            "party_id": pid,
            "generated_at": format_utc(crm._now()),
            "subject": conv.unstructure(subject, type(subject)),
            "cases": [conv.unstructure(c, Case) for c in cases],
            "case_events": [conv.unstructure(e, CaseEvent) for e in events],
            "interactions": [conv.unstructure(i, Interaction) for i in interactions],
            **{name: [found[k] for k in sorted(found)] for name, found in extra.items()},
            "processing": processing,
        }

    def access(
        self,
        party: Party | uuid.UUID | str,
        out_dir: str | os.PathLike[str],
        *,
        request: str,
    ) -> AccessExport:
        """
        Answer a subject-access request: write ``<party id>.json`` (everything held,
        see :meth:`collect`) and ``<party id>.html`` (a readable summary of the same)
        into ``out_dir``, each written whole or not at all. ``request`` is the
        request's reference, kept in the audit trail.

        Raises:
            NotFoundError: there is no such party (or it was erased).
            AccessDeniedError: the role may not make ``export`` writes.
            ValidationError: no request reference.
        """
        crm = self._crm
        self._may_answer()
        ref = _reference(request)
        subject = self._party(party, shown=False)
        data = self.collect(subject)
        data["request"] = ref
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        pid = data["party_id"]
        json_path = folder / f"{pid}.json"
        html_path = folder / f"{pid}.html"
        body = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        with _atomic(json_path) as f:
            f.write(body)
        with _atomic(html_path) as f:
            f.write(_html(data).encode("utf-8"))
        with crm.transaction():
            crm._audit_write("subject_access", _kind(subject), [pid], {"request": ref})
        counts = {name: len(data[name]) for name, _ in _SECTIONS if name != "subject"}
        return AccessExport(pid, json_path, html_path, counts)

    # ----------------------------------------------------------------------------------
    # Rectification

    def rectify(
        self, party: Party | uuid.UUID | str, changes: Mapping[str, Any], *, request: str
    ) -> Party:
        """
        Correct a party's record: ``changes`` maps field names to their new values
        (validated as any update is). The update is audited with the request's
        reference and the names of the fields changed (never their values).

        Raises:
            ValidationError: an unknown field, a bad value, or no request reference.
        """
        crm = self._crm
        ref = _reference(request)
        current = self._party(party)
        names = {f.name for f in attrs.fields(type(current))}
        for name in changes:
            if name not in names or name in ("id", "version", "created_at", "updated_at"):
                raise ValidationError.at(name, "is not a field a rectification may change")
        try:
            updated = attrs.evolve(current, **changes)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError.at("", str(exc)) from None
        service = crm.citizens if isinstance(current, Citizen) else crm.organizations
        with crm.transaction():
            stored: Party = service.update(updated)  # type: ignore[arg-type]
            crm._audit_write(
                "rectify",
                _kind(current),
                [str(current.id)],
                {"request": ref, "fields": ",".join(sorted(changes))},
            )
        return stored

    # ----------------------------------------------------------------------------------
    # Erasure

    def erasure_refusals(self, party: Party | uuid.UUID | str) -> list[Refusal]:
        """Why a party's erasure would be refused now (empty: it may go ahead)."""
        crm = self._crm
        subject = self._party(party)
        pid = str(subject.id)
        now = crm._now()
        refusals: list[Refusal] = []
        case_query = Query(
            "case", (Filter("requester_id", "eq", pid),), columns=(*_CASE_COLUMNS, "status")
        )
        case_records = list(crm.storage.stream(case_query))
        statuses = {r.id: r.columns.get("status") for r in case_records}
        loose_query = Query(
            "interaction",
            (Filter("party_id", "eq", pid), Filter("case_id", "is_null")),
            columns=_INTERACTION_COLUMNS,
        )
        facts = [_case_facts(r) for r in case_records]
        facts += [_interaction_facts(r) for r in crm.storage.stream(loose_query)]
        # Cases of others they took part in (a call, a witness statement): erasing them
        # shreds what they said there, which those cases' holds and schedules protect.
        involved_query = Query(
            "interaction",
            (Filter("party_id", "eq", pid), Filter("case_id", "not_null")),
            columns=("case_id",),
        )
        involved = sorted(
            {str(r.columns["case_id"]) for r in crm.storage.stream(involved_query)} - set(statuses)
        )
        for r in crm.storage.get_many("case", involved):
            statuses[r.id] = r.columns.get("status")
            facts.append(_case_facts(r))
        holds = crm.retention.holds(in_force=True)
        held_by: set[str] = set()
        for f in facts:
            for h in holds:
                if covers(h, f) and h.id not in held_by:
                    held_by.add(h.id)
                    refusals.append(
                        Refusal(Ground.LEGAL_CLAIMS, f"legal hold {h.id} ordered by {h.authority}")
                    )
        for h in holds:
            if pid in h.parties and h.id not in held_by:
                held_by.add(h.id)
                refusals.append(
                    Refusal(Ground.LEGAL_CLAIMS, f"legal hold {h.id} ordered by {h.authority}")
                )
        open_cases = 0
        kept: dict[str, datetime | None] = {}
        unknown: set[str] = set()
        tz = crm.retention.time_zone
        schedules = crm.retention.schedules
        for f in facts:
            if f.record_class.value == "case" and statuses.get(f.record_id) in OPEN_STATUSES:
                open_cases += 1
                continue
            decision = decide(schedules, f, [], now=now, tz=tz)
            if decision.status is RetentionStatus.NOT_TRIGGERED and decision.schedule is not None:
                # (a resolved case not yet closed: its period has not even started)
                unknown.add(decision.schedule.code)
            if decision.status is RetentionStatus.NOT_DUE and decision.schedule is not None:
                s = decision.schedule
                until = kept.get(s.code)
                if until is None or (decision.due_at is not None and decision.due_at > until):
                    kept[s.code] = decision.due_at
        if open_cases:
            refusals.append(
                Refusal(
                    Ground.PUBLIC_TASK,
                    f"{open_cases} case(s) of theirs, or that they took part in, still being worked",
                )
            )
        by_code = {s.code: s for s in schedules}
        for code in unknown:
            kept[code] = None  # until a time not known yet
        for code, until in sorted(kept.items()):
            refusals.append(
                Refusal(
                    Ground.LEGAL_OBLIGATION,
                    f"records schedule {code!r} ({by_code[code].authority}) keeps their "
                    "cases until its period ends",
                    until,
                )
            )
        return refusals

    def erase(self, party: Party | uuid.UUID | str, *, request: str) -> ErasureDecision:
        """
        Answer an erasure request: refused with its grounds (:meth:`erasure_refusals`;
        the refusal is audited), or carried out by crypto-shredding
        (``crm.citizens.erase`` with the request's reference as the reason).

        Raises:
            AccessDeniedError: the role may not make ``erase`` writes.
            ValidationError: no request reference.
        """
        crm = self._crm
        crm._may("erase")
        ref = _reference(request)
        subject = self._party(party)
        pid = str(subject.id)
        refusals = self.erasure_refusals(subject)
        if refusals:
            with crm.transaction():
                crm._audit_write(
                    "erasure_refused",
                    _kind(subject),
                    [pid],
                    {"request": ref, "grounds": ",".join(sorted({r.ground for r in refusals}))},
                )
            return ErasureDecision(pid, False, tuple(refusals))
        service = crm.citizens if isinstance(subject, Citizen) else crm.organizations
        service.erase(pid, reason=f"erasure request {ref}")
        return ErasureDecision(pid, True)

    # --- internals ----------------------------------------------------------------------

    def _may_answer(self) -> None:
        crm = self._crm
        crm._may("export")
        role = crm.role
        if role is not None and (
            role.default is not Visibility.CLEAR
            or any(v is not Visibility.CLEAR for v in role.fields.values())
        ):
            raise AccessDeniedError(
                f"role {role.code!r} does not see every personal data field in clear: a "
                "subject-access answer must hold all of it (use a role that does)"
            )

    def _party(
        self, party: Party | uuid.UUID | str, *, shown: bool = True
    ) -> Citizen | Organization:
        pid = str(party.id) if isinstance(party, Party) else str(party)
        if not shown:
            for cls in (Citizen, Organization):
                record = self._crm.storage.get(KINDS[cls].name, pid)
                if record is not None and not record.doc.startswith('{"_erased"'):
                    found: Citizen | Organization = self._crm._from_record(KINDS[cls], record)
                    return found
            raise NotFoundError("party", pid)
        for service in (self._crm.citizens, self._crm.organizations):
            with contextlib.suppress(NotFoundError):
                shown_party: Citizen | Organization = service.get(pid)
                return shown_party
        raise NotFoundError("party", pid)


def _kind(party: Party) -> str:
    return "citizen" if isinstance(party, Citizen) else "organization"


def _reference(request: str) -> str:
    if not isinstance(request, str) or not request.strip():
        raise ValidationError.at("request", "give the request's reference (e.g. DSR-2026-0042)")
    return request.strip()[:100]


def _audit_entries(crm: CRM) -> Iterator[tuple[int, str]]:
    after = 0
    while True:
        page = crm.storage.read_audit(after=after, limit=1000)
        if not page:
            return
        yield from page
        after = page[-1][0]


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Any]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cell(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items() if _cell(v))
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value if _cell(v))
    return str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in columns and _cell(value):
                columns.append(key)
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(data: dict[str, Any]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Your personal data</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;"
        "padding:.3em;text-align:left;vertical-align:top}</style></head><body>",
        "<h1>Your personal data</h1>",
        f"<p>Request {html.escape(str(data.get('request', '')))}, "
        f"prepared {html.escape(data['generated_at'])}. "
        "The JSON file beside this one holds the same data in full.</p>",
    ]
    for name, title in _SECTIONS:
        rows = data[name] if isinstance(data[name], list) else [data[name]]
        parts.append(f"<h2>{html.escape(title)} ({len(rows)})</h2>")
        parts.append(_table(rows))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
