"""
How models become storage records and back: the schema of every kind, the indexed
columns taken from each model, and the JSON documents.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, Protocol, TypeVar

import cattrs
import orjson

from civiccrm.adapters._base import (
    ColumnSpec,
    ColumnType,
    Filter,
    IndexSpec,
    KindSpec,
    Record,
    Scalar,
    Schema,
)
from civiccrm.errors import IntegrityError, StorageError, ValidationError
from civiccrm.models import (
    Agent,
    BulkJob,
    Case,
    CaseEvent,
    CaseStatus,
    CaseSummary,
    Channel,
    Citizen,
    Disposal,
    Interaction,
    LegalHold,
    MailReceipt,
    Organization,
    OutboxMessage,
    Priority,
    QuarantinedMail,
    RetentionRun,
    Rotation,
    Survey,
    format_utc,
)
from civiccrm.models._trusted import _uuid_cached as _uuid
from civiccrm.models._trusted import trusted_structurer
from civiccrm.privacy.crypto import SEAL_KEY, DataKey, seal, sealed_key_ref, unseal
from civiccrm.routing.geo import cell_of

__all__ = [
    "KINDS",
    "OPEN_STATUSES",
    "SCHEMA",
    "SUMMARY_COLUMNS",
    "Kind",
    "case_summary",
    "from_micros",
    "micros",
]


class Stored(Protocol):
    """What every stored model has."""

    @property
    def id(self) -> uuid.UUID | str: ...

    @property
    def version(self) -> int: ...


M = TypeVar("M", bound=Stored)
T, INT = ColumnType.TEXT, ColumnType.INTEGER
OPEN_STATUSES: Final = tuple(s.value for s in CaseStatus if s.is_open)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


def micros(value: datetime | None) -> int | None:
    """An aware datetime as integer microseconds since the Unix epoch (exact)."""
    if value is None:
        return None
    return (value - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    """Integer microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + value * _MICRO


def dump_doc(data: object) -> str:
    """A document as compact JSON text (UTF-8 characters as they are)."""
    try:
        return orjson.dumps(data).decode()
    except (orjson.JSONEncodeError, TypeError):
        # What orjson refuses (an integer over 64 bits, a lone surrogate) the standard
        # library writes, or refuses in its own words, after a space: orjson never
        # writes one, and it would read a large integer back as a float, so the space
        # tells _loads to use the standard library.
        return " " + json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _loads(doc: str) -> Any:
    """A document as dump_doc wrote it."""
    if doc.startswith(" "):
        return json.loads(doc)
    return orjson.loads(doc)


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _external_key(external_ids: Mapping[str, str]) -> str | None:
    """The import key: the first external id, as ``source:id``."""
    for source, value in external_ids.items():
        return f"{source}:{value}"
    return None


def _case_columns(c: Case) -> dict[str, Scalar]:
    return {
        "status": c.status.value,
        "reference": c.reference,
        "case_type": c.case_type,
        "queue": c.queue,
        "assignee": _id(c.assignee),
        "requester_id": _id(c.requester.id) if c.requester else None,
        "priority": c.priority.rank,
        "channel": c.channel.value,
        "parent_id": _id(c.parent_id),
        "duplicate_of": _id(c.duplicate_of),
        "reported_at": micros(c.reported_at),
        "opened_at": micros(c.opened_at),
        "updated_at": micros(c.updated_at),
        "resolved_at": micros(c.resolved_at),
        "closed_at": micros(c.closed_at),
        "response_due_at": micros(c.response_due_at),
        "due_at": micros(c.due_at),
        "sla_check_at": micros(c.sla_check_at),
        "external_key": _external_key(c.external_ids),
        "geo_cell": geo_cell_key(c),
        "district": c.district,
        "first_response_at": micros(c.first_response_at),
        "response_seconds": c.response_seconds,
        "response_met": None if c.response_met is None else int(c.response_met),
        "resolution_seconds": c.resolution_seconds,
        "resolution_met": None if c.resolution_met is None else int(c.resolution_met),
        "satisfaction": c.satisfaction,
        "reopen_count": c.reopen_count,
    }


def geo_cell_key(c: Case) -> str | None:
    """
    The plain value of a case's ``geo_cell`` column: its type and the grid cell of its
    coordinates (stored only as a blind index, so the column says nothing about where
    anyone is to someone without the index key).
    """
    loc = c.location
    if loc is None or loc.latitude is None or loc.longitude is None:
        return None
    return geo_cell_value(c.case_type, cell_of(loc.latitude, loc.longitude))


def geo_cell_value(case_type: str, cell: tuple[int, int]) -> str:
    """The plain ``geo_cell`` value of a case type and a grid cell."""
    return f"{case_type}|{cell[0]}|{cell[1]}"


def _party_columns(p: Citizen | Organization) -> dict[str, Scalar]:
    return {
        "created_at": micros(p.created_at),
        "updated_at": micros(p.updated_at),
        "external_key": _external_key(p.external_ids),
    }


def _interaction_columns(i: Interaction) -> dict[str, Scalar]:
    return {
        "party_id": _id(i.party.id) if i.party else None,
        "case_id": _id(i.case_id),
        "occurred_at": micros(i.occurred_at),
        "channel": i.channel.value,
        "direction": i.direction.value,
    }


def _event_columns(e: CaseEvent) -> dict[str, Scalar]:
    key = e.data.get("import_key")
    return {
        "case_id": str(e.case_id),
        "at": micros(e.at),
        "kind": e.kind.value,
        "import_key": key if isinstance(key, str) else None,
    }


def _agent_columns(a: Agent) -> dict[str, Scalar]:
    return {"username": a.username, "active": int(a.active)}


_OPEN = (Filter("status", "in", OPEN_STATUSES),)

SCHEMA: Final = Schema(
    # 2: case.reference (filled in from the documents of an older file).
    # 3: party_lookup (blind indexes of parties' emails, phones and external ids).
    # 4: case.sla_check_at (the escalation sweep's partial index).
    # 5: case.geo_cell (duplicate detection), indexes on reference and duplicate_of,
    #    the rotation and bulk_job kinds.
    # 6: the legal_hold, retention_run and disposal kinds (retention).
    # 7: case columns for reports (district, first_response_at, business-time measures,
    #    satisfaction, reopen_count); the outbox, survey, mail_receipt and
    #    mail_quarantine kinds (communications).
    version=7,
    kinds=(
        KindSpec(
            "citizen",
            (
                ColumnSpec("created_at", INT),
                ColumnSpec("updated_at", INT),
                ColumnSpec("external_key", T),
            ),
            key_column="external_key",
        ),
        KindSpec(
            "organization",
            (
                ColumnSpec("created_at", INT),
                ColumnSpec("updated_at", INT),
                ColumnSpec("external_key", T),
            ),
            key_column="external_key",
        ),
        KindSpec(
            "case",
            (
                # Open-case queries use the partial indexes below; a count by status
                # reads the whole table anyway.
                ColumnSpec("status", T),
                ColumnSpec("reference", T, indexed=True, source="reference"),
                ColumnSpec("case_type", T, indexed=True),
                ColumnSpec("queue", T),
                ColumnSpec("assignee", T, indexed=True),
                ColumnSpec("requester_id", T, indexed=True),
                ColumnSpec("priority", INT),
                ColumnSpec("channel", T),
                ColumnSpec("parent_id", T),
                ColumnSpec("duplicate_of", T, indexed=True),
                ColumnSpec("reported_at", INT),
                ColumnSpec("opened_at", INT, indexed=True),
                ColumnSpec("updated_at", INT),
                ColumnSpec("resolved_at", INT),
                ColumnSpec("closed_at", INT),
                ColumnSpec("response_due_at", INT),
                ColumnSpec("due_at", INT),
                ColumnSpec("sla_check_at", INT),
                ColumnSpec("external_key", T),
                # A blind index of (case type, grid cell): duplicate detection.
                ColumnSpec("geo_cell", T),
                # Reports (schema 7): slices and measures that aggregate queries read.
                ColumnSpec("district", T),
                ColumnSpec("first_response_at", INT),
                ColumnSpec("response_seconds", INT),
                ColumnSpec("response_met", INT),
                ColumnSpec("resolution_seconds", INT),
                ColumnSpec("resolution_met", INT),
                ColumnSpec("satisfaction", INT, source="satisfaction"),
                ColumnSpec("reopen_count", INT, source="reopen_count"),
            ),
            indexes=(
                # The overdue sweep and "most overdue open cases": open cases only.
                IndexSpec("case_open_due", ("due_at",), where=_OPEN),
                IndexSpec("case_open_response_due", ("response_due_at",), where=_OPEN),
                # Open counts per queue.
                IndexSpec("case_open_queue", ("queue",), where=_OPEN),
                # The escalation sweep: open cases whose SLA state changes by now.
                IndexSpec("case_open_sla_check", ("sla_check_at",), where=_OPEN),
                # Duplicate detection: open cases of a type in nearby cells.
                IndexSpec("case_open_geo_cell", ("geo_cell", "opened_at"), where=_OPEN),
            ),
            key_column="external_key",
        ),
        KindSpec(
            "interaction",
            (
                ColumnSpec("party_id", T, indexed=True),
                ColumnSpec("case_id", T, indexed=True),
                ColumnSpec("occurred_at", INT),
                ColumnSpec("channel", T),
                ColumnSpec("direction", T),
            ),
        ),
        KindSpec(
            "case_event",
            (
                ColumnSpec("case_id", T, indexed=True),
                ColumnSpec("at", INT),
                ColumnSpec("kind", T),
                # Set only by bulk imports, so that importing again adds nothing twice.
                ColumnSpec("import_key", T),
            ),
            key_column="import_key",
        ),
        KindSpec(
            "agent",
            (ColumnSpec("username", T), ColumnSpec("active", INT)),
            key_column="username",
        ),
        # A queue's assignment rotation, by queue code.
        KindSpec("rotation", ()),
        # Bulk case work by idempotency key.
        KindSpec("bulk_job", (ColumnSpec("operation", T), ColumnSpec("status", T))),
        # Retention: legal holds, runs (disposition certificates) and the mark each
        # disposed-of record leaves (by "<record class>:<record id>").
        KindSpec("legal_hold", ()),
        KindSpec("retention_run", (ColumnSpec("status", T),)),
        KindSpec(
            "disposal",
            (ColumnSpec("run", T, indexed=True), ColumnSpec("disposition", T)),
        ),
        # Communications: the outbox (by idempotency key), satisfaction surveys (by the
        # hash of their token), inbound mail receipts (by a blind index of the
        # Message-ID) and the quarantine of mail that could not be taken.
        KindSpec(
            "outbox",
            (
                ColumnSpec("key", T),
                ColumnSpec("status", T),
                ColumnSpec("next_attempt_at", INT),
                ColumnSpec("case_id", T, indexed=True),
                ColumnSpec("party_id", T, indexed=True),
            ),
            indexes=(
                IndexSpec(
                    "outbox_pending",
                    ("next_attempt_at",),
                    where=(Filter("status", "eq", "pending"),),
                ),
                # Messages claimed by a dispatcher: their leases' ends.
                IndexSpec(
                    "outbox_sending",
                    ("next_attempt_at",),
                    where=(Filter("status", "eq", "sending"),),
                ),
            ),
            key_column="key",
        ),
        KindSpec(
            "survey",
            (
                ColumnSpec("token_hash", T),
                ColumnSpec("case_id", T, indexed=True),
                ColumnSpec("issued_at", INT),
                ColumnSpec("responded_at", INT),
                ColumnSpec("withdrawn_at", INT),
                ColumnSpec("score", INT),
            ),
            key_column="token_hash",
        ),
        KindSpec(
            "mail_receipt",
            (
                ColumnSpec("key", T),
                ColumnSpec("mailbox", T),
                ColumnSpec("case_id", T, indexed=True),
                ColumnSpec("party_id", T, indexed=True),
                ColumnSpec("received_at", INT),
            ),
            key_column="key",
        ),
        KindSpec(
            "mail_quarantine",
            (
                ColumnSpec("mailbox", T),
                ColumnSpec("received_at", INT, indexed=True),
                ColumnSpec("reason", T),
                ColumnSpec("resolved_at", INT),
            ),
        ),
        # One row per (blind index token, party): exact look-ups of encrypted emails,
        # phones and external ids. The id is "<token>|<party id>"; the doc is empty.
        KindSpec(
            "party_lookup",
            (ColumnSpec("token", T, indexed=True), ColumnSpec("party_id", T, indexed=True)),
        ),
    ),
)


class Kind(Generic[M]):
    """One model class stored as one kind of record."""

    def __init__(
        self,
        name: str,
        cls: type[M],
        columns: Callable[[M], dict[str, Scalar]],
        *,
        blind_columns: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.cls = cls
        self.columns = columns
        self.spec = SCHEMA.kind(name)
        self._trusted = trusted_structurer(cls)
        #: Columns holding values that are stored as blind indexes (keyed hashes).
        self.blind_columns: tuple[str, ...] = blind_columns

    def _unseal(
        self,
        record: Record,
        data: dict[str, Any],
        keys: Callable[[str, int], DataKey | None] | None,
    ) -> dict[str, Any]:
        ref = sealed_key_ref(data)
        assert ref is not None
        if keys is None:
            raise IntegrityError(f"{self.name} {record.id} is sealed, and no keys were given")
        return unseal(data, self.cls, key=keys(*ref), aad_prefix=f"{self.name}/{record.id}")

    def to_record(
        self,
        obj: M,
        converter: cattrs.Converter,
        *,
        key: DataKey | None = None,
        blind: Callable[[str, str], str] | None = None,
        record_id: uuid.UUID | None = None,
        times: Mapping[str, datetime] | None = None,
    ) -> Record:
        """
        The record for ``obj`` (its version as it is now).

        ``key`` seals the personal-data fields (each encrypted on its own, bound to this
        record and field); ``blind`` turns the columns of :attr:`blind_columns` into
        blind indexes. ``record_id`` and ``times`` (datetime fields by name) replace the
        object's own values in the record, for bulk imports: the same as storing an
        evolved copy, without building and validating that copy.
        """
        raw = converter.unstructure(obj, self.cls)
        columns = self.columns(obj)
        rid = str(obj.id)
        if record_id is not None:
            rid = raw["id"] = str(record_id)
        if times:
            for name, value in times.items():
                raw[name] = format_utc(value)
                if name in columns:
                    columns[name] = micros(value)
        for name in self.blind_columns:
            plain = columns.get(name)
            if isinstance(plain, str):
                if blind is None:
                    raise ValueError(f"{self.name} records need a blind index for {name}")
                columns[name] = blind(name, plain)
        if key is not None:
            raw = seal(raw, self.cls, key=key, aad_prefix=f"{self.name}/{rid}")
        return Record(self.name, rid, obj.version, dump_doc(raw), columns)

    def from_record(
        self,
        record: Record,
        converter: cattrs.Converter,
        keys: Callable[[str, int], DataKey | None] | None = None,
    ) -> M:
        """
        The model stored in ``record``, with the record's version.

        A sealed document is opened with the key ``keys(key_id, generation)`` returns;
        None there means the key was erased, and the personal fields come back empty.

        Documents civiccrm wrote were validated then, so they are read back by the
        trusted structurer (no validators run again); a document it cannot take (from
        an older or newer writer, or damaged) goes through the strict converter, which
        raises StorageError saying what is wrong.

        Raises:
            IntegrityError: a sealed field does not open with its key (moved from
                another record or field, or altered), or the key is missing.
        """
        try:
            data: dict[str, Any] = _loads(record.doc)
        except ValueError:
            data = {}
        if SEAL_KEY in data:
            data = self._unseal(record, data, keys)
        try:
            data["version"] = record.version
            return self._trusted(data)
        except (KeyError, TypeError, ValueError):
            pass
        try:
            data = json.loads(record.doc)
            if SEAL_KEY in data:
                data = self._unseal(record, data, keys)
            data["version"] = record.version
            return converter.structure(data, self.cls)
        except (ValueError, TypeError, ValidationError, cattrs.BaseValidationError) as exc:
            raise StorageError(
                f"stored {self.name} {record.id} cannot be read back: {exc}", backend=None
            ) from exc


KINDS: Final[dict[type, Kind[Any]]] = {
    Citizen: Kind("citizen", Citizen, _party_columns, blind_columns=("external_key",)),
    Organization: Kind(
        "organization", Organization, _party_columns, blind_columns=("external_key",)
    ),
    Case: Kind("case", Case, _case_columns, blind_columns=("geo_cell",)),
    Interaction: Kind("interaction", Interaction, _interaction_columns),
    CaseEvent: Kind("case_event", CaseEvent, _event_columns),
    Agent: Kind("agent", Agent, _agent_columns),
    Rotation: Kind("rotation", Rotation, lambda r: {}),
    BulkJob: Kind("bulk_job", BulkJob, lambda j: {"operation": j.operation, "status": j.status}),
    LegalHold: Kind("legal_hold", LegalHold, lambda h: {}),
    RetentionRun: Kind("retention_run", RetentionRun, lambda r: {"status": r.status}),
    Disposal: Kind("disposal", Disposal, lambda d: {"run": d.run, "disposition": d.disposition}),
    OutboxMessage: Kind(
        "outbox",
        OutboxMessage,
        lambda m: {
            "key": m.key,
            "status": m.status.value,
            "next_attempt_at": micros(m.next_attempt_at),
            "case_id": _id(m.case_id),
            "party_id": _id(m.party.id) if m.party else None,
        },
    ),
    Survey: Kind(
        "survey",
        Survey,
        lambda v: {
            "token_hash": v.token_hash,
            "case_id": str(v.case_id),
            "issued_at": micros(v.issued_at),
            "responded_at": micros(v.responded_at),
            "withdrawn_at": micros(v.withdrawn_at),
            "score": v.score,
        },
    ),
    MailReceipt: Kind(
        "mail_receipt",
        MailReceipt,
        lambda r: {
            "key": r.key,
            "mailbox": r.mailbox,
            "case_id": _id(r.case_id),
            "party_id": _id(r.party_id),
            "received_at": micros(r.received_at),
        },
    ),
    QuarantinedMail: Kind(
        "mail_quarantine",
        QuarantinedMail,
        lambda q: {
            "mailbox": q.mailbox,
            "received_at": micros(q.received_at),
            "reason": q.reason,
            "resolved_at": micros(q.resolved_at),
        },
    ),
}


#: The case columns a :class:`~civiccrm.models.CaseSummary` is read from.
SUMMARY_COLUMNS: Final = (
    "reference",
    "case_type",
    "status",
    "priority",
    "channel",
    "queue",
    "assignee",
    "opened_at",
    "updated_at",
    "response_due_at",
    "due_at",
)
_STATUS: Final = {s.value: s for s in CaseStatus}
_CHANNEL: Final = {c.value: c for c in Channel}
_PRIORITY: Final = {p.rank: p for p in Priority}


def case_summary(record: Record) -> CaseSummary:
    """
    The :class:`~civiccrm.models.CaseSummary` of a case record, from its columns alone
    (a projection on :data:`SUMMARY_COLUMNS` is enough: ``Query(columns=...)``).
    """
    c = record.columns
    try:
        assignee = c["assignee"]
        opened, updated, response_due, due = (
            c["opened_at"],
            c["updated_at"],
            c["response_due_at"],
            c["due_at"],
        )
        return CaseSummary(
            id=_uuid(record.id),
            version=record.version,
            reference=c["reference"],  # type: ignore[arg-type]
            case_type=c["case_type"],  # type: ignore[arg-type]
            status=_STATUS[c["status"]],  # type: ignore[index]
            priority=_PRIORITY[c["priority"]],  # type: ignore[index]
            channel=_CHANNEL[c["channel"]],  # type: ignore[index]
            queue=c["queue"],  # type: ignore[arg-type]
            assignee=None if assignee is None else _uuid(assignee),  # type: ignore[arg-type]
            opened_at=None if opened is None else _EPOCH + opened * _MICRO,  # type: ignore[operator]
            updated_at=None if updated is None else _EPOCH + updated * _MICRO,  # type: ignore[operator]
            response_due_at=(
                None if response_due is None else _EPOCH + response_due * _MICRO  # type: ignore[operator]
            ),
            due_at=None if due is None else _EPOCH + due * _MICRO,  # type: ignore[operator]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError(
            f"stored case {record.id} has bad summary columns: {exc!r}", backend=None
        ) from exc
