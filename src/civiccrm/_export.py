"""
The facade's export service: ``crm.export``.

Cases are streamed from storage a page at a time (keyset pagination, constant memory),
read through the facade as the session's actor with a stated purpose (so every page is
audited like any other read and shown as the actor's role sees it), their free text
redacted by a redaction policy with the case's own requester found with certainty, and
written as CSV or JSON Lines.

A file is written beside its target under a temporary name and renamed into place only
when it is complete: a failed export leaves nothing half-written, and an older file at
the target stays as it was.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import csv
import enum
import io
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Literal, TextIO, TypeAlias, cast
from zoneinfo import ZoneInfo

import attrs
import orjson

from civiccrm._records import KINDS, OPEN_STATUSES, micros
from civiccrm.adapters._base import Cursor, Filter, Op, Query
from civiccrm.errors import AccessDeniedError, Problem, StorageError, ValidationError
from civiccrm.models import (
    Case,
    CaseStatus,
    Citizen,
    ContactKind,
    Organization,
    Party,
    PartyRef,
    PartyType,
    format_utc,
)
from civiccrm.privacy.access import check_write, visibility
from civiccrm.privacy.detect import KnownEntities
from civiccrm.privacy.redact import RedactionPolicy, Redactor
from civiccrm.profile import Visibility

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "FORMULA_PREFIXES",
    "PERSONAL_FIELDS",
    "ExportResult",
    "ExportService",
]

#: What a cell value becomes before it is written: JSON-ready.
Plain: TypeAlias = str | int | float | bool | list[str] | None

#: A CSV cell whose text begins with one of these gets a leading ``'``, so that a
#: spreadsheet shows it as text instead of running it as a formula.
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")

#: A formula prefix right after a semicolon (a cell boundary in semicolon locales).
_AFTER_SEMICOLON_RE: Final = re.compile(";(?=[=+\\-@\t\r])")

#: How an erased party's record (a tombstone) begins.
_TOMBSTONE: Final = '{"_erased"'

#: Party look-ups kept for redaction before the cache is emptied (constant memory).
_KNOWN_CACHE: Final = 10_000

#: The keys ``where`` understands.
WHERE_KEYS: Final = (
    "case_type",
    "status",
    "open",
    "queue",
    "department",
    "opened_from",
    "opened_to",
)


@attrs.frozen
class _Row:
    """One case on its way out: the case as the role sees it, and its requester."""

    case: Case
    party: Party | None
    case_type_name: str | None
    department: str | None


@attrs.frozen
class _Column:
    name: str
    get: Callable[[_Row], Plain]
    #: Free text: the redaction policy applies to it.
    text: bool = False
    #: Personal data: exported only when listed, as the role sees it.
    personal: bool = False
    #: Needs the case's requester.
    party: bool = False
    #: The personal-data field of Case it reads, if any.
    case_field: str | None = None


def _plain(value: object) -> Plain:
    """A model value as a JSON-ready value: times in UTC with a Z, enums by value."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple | list):
        return [str(v) for v in value]
    return str(value)


def _case_attr(name: str) -> Callable[[_Row], Plain]:
    return lambda row: _plain(getattr(row.case, name))


def _location(name: str) -> Callable[[_Row], Plain]:
    def get(row: _Row) -> Plain:
        loc = row.case.location
        return None if loc is None else _plain(getattr(loc, name))

    return get


def _requester_name(row: _Row) -> Plain:
    party = row.party
    if isinstance(party, Citizen):
        return " ".join(p for p in (party.given_name, party.family_name) if p) or None
    if isinstance(party, Organization):
        return party.name
    return None


def _citizen(name: str) -> Callable[[_Row], Plain]:
    def get(row: _Row) -> Plain:
        return _plain(getattr(row.party, name)) if isinstance(row.party, Citizen) else None

    return get


def _contact(kind: ContactKind) -> Callable[[_Row], Plain]:
    def get(row: _Row) -> Plain:
        if row.party is None:
            return None
        points = [cp for cp in row.party.contact_points if cp.kind is kind and cp.value]
        points.sort(key=lambda cp: not cp.preferred)
        return points[0].value if points else None

    return get


def _requester_ref(name: str) -> Callable[[_Row], Plain]:
    def get(row: _Row) -> Plain:
        ref = row.case.requester
        return None if ref is None else _plain(getattr(ref, name))

    return get


_COLUMNS: Final[tuple[_Column, ...]] = (
    _Column("id", _case_attr("id")),
    _Column("reference", _case_attr("reference")),
    _Column("case_type", _case_attr("case_type")),
    _Column("case_type_name", lambda row: row.case_type_name),
    _Column("department", lambda row: row.department),
    _Column("queue", _case_attr("queue")),
    _Column("status", _case_attr("status")),
    _Column("priority", _case_attr("priority")),
    _Column("channel", _case_attr("channel")),
    _Column("reported_at", _case_attr("reported_at")),
    _Column("opened_at", _case_attr("opened_at")),
    _Column("first_response_at", _case_attr("first_response_at")),
    _Column("response_due_at", _case_attr("response_due_at")),
    _Column("due_at", _case_attr("due_at")),
    _Column("resolved_at", _case_attr("resolved_at")),
    _Column("closed_at", _case_attr("closed_at")),
    _Column("updated_at", _case_attr("updated_at")),
    _Column("resolution_code", _case_attr("resolution_code")),
    _Column("satisfaction", _case_attr("satisfaction")),
    _Column("reopen_count", _case_attr("reopen_count")),
    _Column("assignee", _case_attr("assignee")),
    _Column("parent_id", _case_attr("parent_id")),
    _Column("duplicate_of", _case_attr("duplicate_of")),
    _Column("requester_type", _requester_ref("type")),
    _Column("title", _case_attr("title"), text=True, case_field="title"),
    _Column("description", _case_attr("description"), text=True, case_field="description"),
    # Personal data: only when listed, as the role sees it.
    _Column("tags", _case_attr("tags"), personal=True, case_field="tags"),
    _Column(
        "location_address",
        _location("address"),
        text=True,
        personal=True,
        case_field="location",
    ),
    _Column("latitude", _location("latitude"), personal=True, case_field="location"),
    _Column("longitude", _location("longitude"), personal=True, case_field="location"),
    # A requester's id links every case of one person: personal data too.
    _Column("requester_id", _requester_ref("id"), personal=True),
    _Column("requester_name", _requester_name, personal=True, party=True),
    _Column("requester_given_name", _citizen("given_name"), personal=True, party=True),
    _Column("requester_family_name", _citizen("family_name"), personal=True, party=True),
    _Column("requester_email", _contact(ContactKind.EMAIL), personal=True, party=True),
    _Column("requester_phone", _contact(ContactKind.PHONE), personal=True, party=True),
)
_BY_NAME: Final[Mapping[str, _Column]] = {c.name: c for c in _COLUMNS}

#: Every field an export can hold, in a sensible order.
FIELDS: Final[tuple[str, ...]] = tuple(c.name for c in _COLUMNS)
#: The fields that hold personal data: exported only when listed in ``fields``, as the
#: actor's role sees them, by a role that may export personal data.
PERSONAL_FIELDS: Final[tuple[str, ...]] = tuple(c.name for c in _COLUMNS if c.personal)
#: The fields of an export when none are given: no personal data but the cases' free
#: text (title and description), which the redaction policy redacts.
DEFAULT_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "reference",
    "case_type",
    "case_type_name",
    "department",
    "queue",
    "status",
    "priority",
    "channel",
    "opened_at",
    "first_response_at",
    "response_due_at",
    "due_at",
    "resolved_at",
    "closed_at",
    "title",
    "description",
)

Format = Literal["csv", "jsonl"]
_FORMATS: Final = ("csv", "jsonl")


@attrs.frozen
class ExportResult:
    """
    What an export wrote.

    Attributes:
        count: how many cases (rows of CSV after its header, lines of JSON Lines).
        path: the file written, or None when the export went to a file object.
        format: ``"csv"`` or ``"jsonl"``.
        policy: the name of the redaction policy applied to free text (None: none).
        seconds: how long it took.
        fields: the fields of each row, in order.

    .. versionadded:: 0.1.0
    """

    count: int
    path: Path | None
    format: str
    policy: str | None
    seconds: float
    fields: tuple[str, ...] = ()


def neutralise(text: str) -> str:
    """
    ``text`` as a CSV cell a spreadsheet shows as text: with a leading ``'`` when it
    begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (formula
    injection), else unchanged. The same goes for each part after a ``;``: a
    spreadsheet set up for a locale whose list separator is the semicolon splits a
    line there, so ``"a;=1+1"`` would give a cell ``=1+1`` (it becomes ``a;'=1+1``).

    >>> neutralise('=HYPERLINK("http://evil.example","click")')
    '\\'=HYPERLINK("http://evil.example","click")'
    >>> neutralise("Pothole on Elm St")
    'Pothole on Elm St'
    >>> neutralise("pipes;@burst")
    "pipes;'@burst"

    .. versionadded:: 0.1.0
    """
    if ";" in text:
        text = _AFTER_SEMICOLON_RE.sub(";'", text)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv_cell(value: Plain) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value  # a number is never a formula: -89.65 stays a number
    if isinstance(value, list):
        return neutralise(";".join(value))
    return neutralise(value)


class _Writer:
    """Rows out in one format."""

    def __init__(self, out: TextIO, fmt: str, fields: Sequence[str]) -> None:
        self._out = out
        self._fields = fields
        self._csv = csv.writer(out, quoting=csv.QUOTE_MINIMAL) if fmt == "csv" else None

    def header(self) -> None:
        if self._csv is not None:
            self._csv.writerow(self._fields)

    def rows(self, rows: Iterable[dict[str, Plain]]) -> None:
        if self._csv is not None:
            self._csv.writerows([_csv_cell(r[f]) for f in self._fields] for r in rows)
        else:
            self._out.write("".join(orjson.dumps(r).decode("utf-8") + "\n" for r in rows))


class ExportService:
    """
    Exports of cases for agency scripts and analysts: ``crm.export``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def cases(
        self,
        out: str | os.PathLike[str] | IO[str],
        *,
        format: Format = "csv",
        fields: Sequence[str] | str | None = None,
        where: Mapping[str, object] | None = None,
        policy: str | RedactionPolicy | None = "export",
        purpose: str | None = None,
        batch_size: int = 1000,
        progress: Callable[[int, int | None], object] | None = None,
    ) -> ExportResult:
        """
        Export cases to ``out`` as CSV (a header row, then a row per case) or JSON Lines
        (an object per line), streaming them from storage ``batch_size`` at a time.

        Args:
            out: a path (written under a temporary name in the same folder and renamed
                into place when complete: nothing half-written is left on failure) or a
                text file object (open CSV files with ``newline=""``).
            format: ``"csv"`` or ``"jsonl"``.
            fields: the fields of each row (see :data:`FIELDS`; a list, or names
                separated by commas); default :data:`DEFAULT_FIELDS`. The fields in
                :data:`PERSONAL_FIELDS` (the requester's name and contacts, the
                location, tags) are exported only when listed, as the role sees them.
            where: filters, all of which a case must match: ``case_type`` (a code or
                codes), ``status`` (a status or statuses), ``open`` (True or False),
                ``queue`` and ``department`` (a code or codes), ``opened_from``
                (opened at or after) and ``opened_to`` (opened before): aware times, or
                dates (midnight in the agency's time zone).
            policy: the redaction policy for free text (title, description, a
                location's address): a built-in policy's name (``"export"``,
                ``"public"``) or a :class:`~civiccrm.privacy.redact.RedactionPolicy`.
                None exports free text as the role sees it, and only for a role that
                sees it in clear and may export personal data.
            purpose: why the cases are read, recorded with every read in the audit
                trail (default: the session's purpose). Required but for the
                ``system`` role.
            batch_size: cases read, redacted and written at a time.
            progress: called after each batch with the cases done so far and how many
                there are in all (None if unknown); an exception it raises stops the
                export (and nothing is left at a target path).

        Raises:
            ValidationError: an unknown field, format, filter, case type, status,
                queue, department or policy, a naive time, or a target that cannot be
                written; every problem at once, before anything is written.
            AccessDeniedError: no stated purpose for a role that needs one; personal
                data (listed personal fields, or ``policy=None``) for a role that may
                not export it or does not see it in clear.
            StorageError: writing the file failed (a full disk).
        """
        started = time.perf_counter()
        crm = self._crm
        problems: list[Problem] = []
        if format not in _FORMATS:
            problems.append(
                Problem("format", f"no format {format!r} (choose from: {', '.join(_FORMATS)})")
            )
        names = self._fields(fields, problems)
        query_where = self._where(where, problems)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            problems.append(
                Problem("batch_size", f"expected a whole number >= 1, got {batch_size!r}")
            )
        redaction: RedactionPolicy | None = None
        if policy is not None:
            try:
                redaction = crm.redaction.policy(policy)
            except ValidationError as exc:
                problems.extend(exc.problems)
        target: Path | None = None
        if isinstance(out, str | os.PathLike):
            target = Path(os.fspath(out)).absolute()
            if target.is_dir():
                problems.append(Problem("out", f"{target} is a folder: give a file name"))
            elif not target.parent.is_dir():
                problems.append(Problem("out", f"no folder {target.parent} to write into"))
        elif not callable(getattr(out, "write", None)):
            problems.append(
                Problem("out", f"expected a path or a text file, got {type(out).__name__}")
            )
        elif _binary(out):
            problems.append(Problem("out", "the file is open in binary mode: open it as text"))
        if purpose is not None and (
            not isinstance(purpose, str) or not purpose.strip() or len(purpose) > 200
        ):
            problems.append(
                Problem(
                    "purpose", f"say why the cases are read, in 1 to 200 characters: {purpose!r}"
                )
            )
        if problems:
            raise ValidationError(problems, record_type="case export")
        columns = [_BY_NAME[n] for n in names]
        stated = purpose if purpose is not None else crm.purpose
        self._check_access(
            columns,
            policy_given=redaction is not None,
            purpose=stated,
            custom_policy=redaction is not None and not isinstance(policy, str),
        )
        reader = self._reader(stated)
        rows = self._rows(reader, columns, redaction, query_where, batch_size, progress)
        fmt = str(format)
        count = 0
        try:
            if target is None:
                count = self._write(cast(TextIO, out), fmt, names, rows)
                self._audit_export(reader, columns, fmt, redaction, count)
            else:
                count = self._write_file(target, fmt, names, rows)
                try:
                    self._audit_export(reader, columns, fmt, redaction, count)
                except BaseException:
                    # No export without its audit entry: take the file back.
                    with contextlib.suppress(FileNotFoundError):
                        target.unlink()
                    raise
        finally:
            rows.close()
            if reader is not crm:
                reader.auditor.flush()
        return ExportResult(
            count=count,
            path=target,
            format=fmt,
            policy=None if redaction is None else redaction.name,
            seconds=time.perf_counter() - started,
            fields=tuple(names),
        )

    # --- checks -------------------------------------------------------------------

    def _fields(self, fields: Sequence[str] | str | None, problems: list[Problem]) -> list[str]:
        if fields is None:
            return list(DEFAULT_FIELDS)
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",")]
        elif not _is_sequence(fields):
            problems.append(Problem("fields", f"expected a list of field names, got {fields!r}"))
            return []
        names: list[str] = []
        for i, name in enumerate(fields):
            if not isinstance(name, str) or name not in _BY_NAME:
                problems.append(
                    Problem(
                        f"fields[{i}]",
                        f"no field {name!r} (choose from: {', '.join(FIELDS)})",
                    )
                )
            elif name in names:
                problems.append(Problem(f"fields[{i}]", f"{name!r} is listed twice"))
            else:
                names.append(name)
        if not fields:
            problems.append(Problem("fields", "list at least one field"))
        return names

    def _where(
        self, where: Mapping[str, object] | None, problems: list[Problem]
    ) -> tuple[Filter, ...] | None:
        """The storage filters of ``where``; None when nothing can match."""
        if not where:
            return ()
        if not _is_mapping(where):
            problems.append(Problem("where", f"expected a mapping of filters, got {where!r}"))
            return ()
        profile = self._crm.profile
        out: list[Filter] = []
        unknown = [k for k in where if k not in WHERE_KEYS]
        for key in unknown:
            problems.append(
                Problem(f"where.{key}", f"no filter {key!r} (choose from: {', '.join(WHERE_KEYS)})")
            )
        codes: set[str] | None = None
        if "case_type" in where:
            known = {ct.code for ct in profile.case_types}
            given = _codes(where["case_type"], "where.case_type", problems)
            for code in given:
                if code not in known:
                    problems.append(
                        Problem("where.case_type", f"no case type {code!r} in the profile")
                    )
            codes = set(given)
        if "department" in where:
            known = {d.code for d in profile.departments}
            given = _codes(where["department"], "where.department", problems)
            for code in given:
                if code not in known:
                    problems.append(
                        Problem(
                            "where.department",
                            f"no department {code!r} in the profile "
                            f"(choose from: {', '.join(sorted(known))})",
                        )
                    )
            of_departments = {ct.code for ct in profile.case_types if ct.department in given}
            codes = of_departments if codes is None else codes & of_departments
        if codes is not None:
            out.append(Filter("case_type", "in", tuple(sorted(codes))))
        if "status" in where:
            statuses: list[str] = []
            for value in _codes(where["status"], "where.status", problems, enums=True):
                try:
                    statuses.append(CaseStatus(value).value)
                except ValueError:
                    choices = ", ".join(s.value for s in CaseStatus)
                    problems.append(
                        Problem("where.status", f"no status {value!r} (choose from: {choices})")
                    )
            out.append(Filter("status", "in", tuple(statuses)))
        if "open" in where:
            is_open = where["open"]
            if not isinstance(is_open, bool):
                problems.append(Problem("where.open", f"expected True or False, got {is_open!r}"))
            else:
                out.append(Filter("status", "in" if is_open else "not_in", OPEN_STATUSES))
        if "queue" in where:
            given = _codes(where["queue"], "where.queue", problems)
            for code in given:
                if code not in self._crm.queues:
                    problems.append(Problem("where.queue", f"no queue {code!r} in the profile"))
            out.append(Filter("queue", "in", tuple(given)))
        zone = ZoneInfo(profile.agency.time_zone)
        bounds: tuple[tuple[str, Op], ...] = (("opened_from", "ge"), ("opened_to", "lt"))
        for key, op in bounds:
            if key in where:
                at = _instant(where[key], zone, f"where.{key}", problems)
                if at is not None:
                    out.append(Filter("opened_at", op, micros(at)))
        if any(f.op == "in" and not f.value for f in out):
            return None  # an empty set of case types or statuses: nothing matches
        return tuple(out)

    def _check_access(
        self,
        columns: Sequence[_Column],
        *,
        policy_given: bool,
        purpose: str | None,
        custom_policy: bool = False,
    ) -> None:
        role = self._crm.role
        if role is None:
            return  # the system role: everything in clear
        if not purpose:
            raise AccessDeniedError(
                f"role {role.code!r}: exporting cases reads personal data and needs a stated "
                "purpose: crm.export.cases(..., purpose='...')"
            )
        personal = [c.name for c in columns if c.personal]
        reasons: list[str] = []
        advice: list[str] = []
        if personal:
            reasons.append(
                f"{', '.join(personal)} {'is' if len(personal) == 1 else 'are'} personal data"
            )
            advice.append(f"leave out {', '.join(personal)}")
        if custom_policy:
            # A policy of one's own may keep any type in clear: as much as none.
            reasons.append("a policy of one's own may leave personal data in clear")
            advice.append("use a built-in policy (policy='export')")
        if not policy_given:
            reasons.append("policy=None exports free text without redaction")
            advice.append("give a redaction policy (policy='export')")
            unclear = [
                c.name
                for c in columns
                if c.text
                and c.case_field is not None
                and visibility(role, Case, c.case_field) is not Visibility.CLEAR
            ]
            if unclear:
                raise AccessDeniedError(
                    f"role {role.code!r} ({role.name}) does not see {', '.join(unclear)} in "
                    "clear, so it may not export it without redaction: give a redaction "
                    "policy (policy='export')"
                )
        if reasons:
            try:
                check_write(role, "export")
            except AccessDeniedError as exc:
                raise AccessDeniedError(
                    f"{exc}; {' and '.join(reasons)}: {' and '.join(advice)}"
                ) from None

    def _reader(self, purpose: str | None) -> CRM:
        """A session reading as the CRM's actor, with ``purpose`` in the audit trail."""
        crm = self._crm
        if purpose == crm.purpose:
            return crm
        from civiccrm.crm import CRM

        return CRM(
            crm.storage,
            crm.profile,
            actor=crm.actor,
            clock=crm.clock,
            plugins=crm.plugins,
            keys=crm.keys,
            purpose=purpose,
        )

    # --- reading ------------------------------------------------------------------

    def _rows(
        self,
        reader: CRM,
        columns: Sequence[_Column],
        policy: RedactionPolicy | None,
        where: tuple[Filter, ...] | None,
        batch_size: int,
        progress: Callable[[int, int | None], object] | None,
    ) -> Generator[list[dict[str, Plain]], None, None]:
        """Batches of rows, read a page at a time."""
        if where is None:
            return
        crm = self._crm
        types = {ct.code: ct for ct in crm.profile.case_types}
        redactor = None if policy is None else Redactor(crm.redaction.analyzer, policy)
        texts = [c for c in columns if c.text]
        needs_party = any(c.party for c in columns)
        known: dict[PartyRef, KnownEntities | None] = {}
        total: int | None = sum(crm.storage.count("case", where).values())
        done = 0
        after: Cursor | None = None
        while True:
            page = reader._page(Case, Query("case", where, None, batch_size, after))
            if page.items:
                parties = self._parties(reader, page.items) if needs_party else {}
                batch: list[dict[str, Plain]] = []
                for case in page.items:
                    ctype = types.get(case.case_type)
                    row = _Row(
                        case,
                        None if case.requester is None else parties.get(case.requester.id),
                        None if ctype is None else ctype.name,
                        None if ctype is None else ctype.department,
                    )
                    values = {c.name: c.get(row) for c in columns}
                    if redactor is not None and texts:
                        entities = self._known(case.requester, known)
                        for c in texts:
                            value = values[c.name]
                            if isinstance(value, str) and value:
                                values[c.name] = redactor.redact(value, known=entities).text
                    batch.append(values)
                yield batch
                done += len(batch)
                if total is not None and done > total:
                    total = None  # cases were added while the export ran
                if progress is not None:
                    progress(done, total)
            if page.next is None:
                return
            after = page.next

    def _known(
        self, ref: PartyRef | None, cache: dict[PartyRef, KnownEntities | None]
    ) -> KnownEntities | None:
        """What the CRM knows of a case's requester, looked up once per requester."""
        if ref is None:
            return None
        if ref not in cache:
            if len(cache) >= _KNOWN_CACHE:
                cache.clear()
            cache[ref] = self._crm.redaction.known(ref)
        return cache[ref]

    def _parties(self, reader: CRM, cases: Sequence[Case]) -> dict[uuid.UUID, Party]:
        """The requesters of a page of cases, in two reads, as the role sees them (audited)."""
        found: dict[uuid.UUID, Party] = {}
        for cls, type_ in ((Citizen, PartyType.CITIZEN), (Organization, PartyType.ORGANIZATION)):
            ids = sorted(
                {
                    str(c.requester.id)
                    for c in cases
                    if c.requester is not None and c.requester.type is type_
                }
            )
            if not ids:
                continue
            kind = KINDS[cls]
            records = [
                r
                for r in reader.storage.get_many(kind.name, ids)
                if not r.doc.startswith(_TOMBSTONE)
            ]
            reader._prefetch_keys(records)
            parties = [reader._from_record(kind, r) for r in records]
            reader._audit_read(kind.name, [r.id for r in records])
            for party in parties:
                found[party.id] = reader._shown(party)
        return found

    # --- writing ------------------------------------------------------------------

    def _write(
        self,
        out: TextIO,
        fmt: str,
        names: Sequence[str],
        rows: Iterator[list[dict[str, Plain]]],
    ) -> int:
        writer = _Writer(out, fmt, names)
        writer.header()
        count = 0
        for batch in rows:
            writer.rows(batch)
            count += len(batch)
        return count

    def _write_file(
        self,
        target: Path,
        fmt: str,
        names: Sequence[str],
        rows: Iterator[list[dict[str, Plain]]],
    ) -> int:
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as exc:
            raise ValidationError.at(
                "out", f"cannot write in {target.parent}: {exc.strerror}"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                try:
                    count = self._write(f, fmt, names, rows)
                    f.flush()
                    os.fsync(f.fileno())
                except OSError as exc:
                    raise StorageError(f"writing {target} failed: {exc.strerror or exc}") from exc
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise StorageError(
                    f"cannot put the export at {target}: {exc.strerror or exc}"
                ) from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return count

    def _audit_export(
        self,
        reader: CRM,
        columns: Sequence[_Column],
        fmt: str,
        policy: RedactionPolicy | None,
        count: int,
    ) -> None:
        """One ``export`` entry in the audit trail: what went out, never a value."""
        fields = tuple(dict.fromkeys(c.case_field for c in columns if c.case_field is not None))
        event = reader._audit_event(
            "export",
            "case",
            (),
            fields=fields,
            detail={
                "format": fmt,
                "policy": None if policy is None else policy.name[:200],
                "count": count,
                "requester_fields": ",".join(c.name for c in columns if c.party)[:200] or None,
            },
        )
        with reader.transaction():
            reader._local.audit.append(event)


def _binary(out: object) -> bool:
    """Whether ``out`` is a file open in binary mode."""
    return isinstance(out, io.RawIOBase | io.BufferedIOBase) or "b" in str(getattr(out, "mode", ""))


def _is_mapping(value: object) -> bool:
    return isinstance(value, Mapping)


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence)


def _codes(value: object, path: str, problems: list[Problem], *, enums: bool = False) -> list[str]:
    """A code or a sequence of codes, as a list of strings."""
    if isinstance(value, str | enum.Enum):
        listed: list[object] = [value]
    elif isinstance(value, Iterable):
        listed = list(value)
    else:
        problems.append(Problem(path, f"expected a code or a list of codes, got {value!r}"))
        return []
    out: list[str] = []
    for item in listed:
        if isinstance(item, enum.Enum) and enums:
            out.append(str(item.value))
        elif isinstance(item, str):
            out.append(item)
        else:
            problems.append(Problem(path, f"expected a code, got {item!r}"))
    return out


def _instant(value: object, zone: ZoneInfo, path: str, problems: list[Problem]) -> datetime | None:
    """An aware time, or a date's midnight in the agency's time zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            problems.append(Problem(path, "give an aware time (with a time zone)"))
            return None
        return value
    if isinstance(value, date):
        return datetime.combine(value, clock_time(), tzinfo=zone)
    problems.append(Problem(path, f"expected a date or an aware time, got {value!r}"))
    return None
