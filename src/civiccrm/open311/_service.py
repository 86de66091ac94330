"""
Open311 GeoReport v2 on the CRM facade: service lists and definitions from the
profile's case types, service requests from cases, FixMyStreet's request updates, and
imports of requests and updates back into cases.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from civiccrm._records import KINDS, micros
from civiccrm.adapters._base import Cursor, Filter, Order, Query
from civiccrm.errors import NotFoundError, Problem, TransitionError, ValidationError
from civiccrm.models import (
    AttributeDatatype,
    Case,
    CaseEvent,
    CaseStatus,
    CaseType,
    Channel,
    Citizen,
    ContactPoint,
    EventKind,
    Location,
    format_utc,
)
from civiccrm.models._common import to_utc
from civiccrm.open311._formats import Item, has_surrogate
from civiccrm.profile import EXTENDED_STATUSES, Open311Settings

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["ImportResult", "Open311"]

#: The ``data`` marker of the events this module writes (notes given through Open311).
_MARK: Final = "open311"
_STATUS_EVENTS: Final = (EventKind.STATUS_CHANGED, EventKind.REOPENED)
#: The decimal places of lat and long in public documents (0.001 degree: about 100 m).
PUBLIC_COORDINATE_PLACES: Final = 3


@attrs.frozen
class ImportResult:
    """
    What an import of requests or updates did.

    Attributes:
        inserted: new cases (requests) or updates applied (updates).
        updated: existing cases changed.
        unchanged: items already there as they are (importing again changes nothing).
        rejected: a problem for every item not imported, its path starting with the
            item's index (``[3].service_code``).

    .. versionadded:: 0.1.0
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: tuple[Problem, ...] = ()


def _text(value: object, path: str, problems: list[Problem]) -> str | None:
    """A text field of an incoming item: None for missing or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(Problem(path, f"expected text, got {type(value).__name__}"))
        return None
    if isinstance(value, str) and has_surrogate(value):
        problems.append(Problem(path, "holds a lone surrogate (\\ud800-\\udfff), not text"))
        return None
    return str(value)


def _time(value: object, path: str, problems: list[Problem]) -> datetime | None:
    text = _text(value, path, problems)
    if text is None:
        return None
    try:
        return to_utc(text)
    except (ValueError, ValidationError):
        problems.append(Problem(path, f"{text!r} is not a date and time with a time zone"))
        return None


def _coordinate(
    value: object, path: str, low: float, high: float, problems: list[Problem]
) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        problems.append(Problem(path, f"{value!r} is not a number"))
        return None
    if not low <= number <= high:
        problems.append(Problem(path, f"{number} is not between {low:g} and {high:g}"))
        return None
    return number


class Open311:
    """
    Open311 GeoReport v2 documents of one CRM session: ``Open311(crm)``.

    The documents are lists of dicts (see :mod:`civiccrm.open311`); write them with
    :func:`~civiccrm.open311.to_xml` / :func:`~civiccrm.open311.to_json`.

    .. versionadded:: 0.1.0
    """

    def __init__(self, crm: CRM, *, public: bool = True) -> None:
        self.crm = crm
        #: Whether free text is redacted with the ``public`` policy.
        self.public = public
        self.settings: Open311Settings = crm.profile.open311

    # --- services ---------------------------------------------------------------------

    def case_types(self) -> list[CaseType]:
        """The published case types, in the profile's order."""
        listed = self.settings.services
        types = self.crm.profile.case_types
        if listed is None:
            return [ct for ct in types if ct.active]
        return [ct for ct in types if ct.code in listed and ct.active]

    def case_type(self, code: str) -> CaseType:
        """A published case type. Raises NotFoundError."""
        for ct in self.case_types():
            if ct.code == code:
                return ct
        raise NotFoundError("service", code)

    def services(self) -> list[Item]:
        """GET services: one item per published case type."""
        return [
            {
                "service_code": ct.code,
                "service_name": ct.name,
                "description": ct.description,
                "metadata": ct.has_metadata,
                "type": ct.type.value,
                "keywords": ", ".join(ct.keywords) or None,
                "group": ct.group,
            }
            for ct in self.case_types()
        ]

    def definition(self, code: str) -> Item:
        """GET services/{code}: the service definition. Raises NotFoundError."""
        ct = self.case_type(code)
        attributes = []
        for i, a in enumerate(ct.attributes):
            attributes.append(
                {
                    "variable": a.variable,
                    "code": a.code,
                    "datatype": a.datatype.value,
                    "required": a.required,
                    "datatype_description": a.datatype_description,
                    "order": a.order if a.order is not None else i + 1,
                    "description": a.description,
                    "values": [{"key": v.key, "name": v.name} for v in a.values],
                }
            )
        return {"service_code": ct.code, "attributes": attributes}

    # --- requests out -------------------------------------------------------------------

    def request_id(self, case: Case) -> str:
        """A case's ``service_request_id``: its Open311 id, else its reference, else its id."""
        return case.external_ids.get(self.settings.source) or case.reference or str(case.id)

    def _coarse(self, degrees: float | None) -> float | None:
        """A coordinate as published: to :data:`PUBLIC_COORDINATE_PLACES` decimal places
        when public (about 100 m), else exact."""
        if degrees is None or not self.public:
            return degrees
        return round(degrees, PUBLIC_COORDINATE_PLACES)

    def _redact(self, text: str | None, case: Case) -> str | None:
        if text is None or not self.public or not text.strip():
            return text
        return self.crm.redaction.redact(text, policy="public", case=case).text

    def _notes(self, case: Case, events: Sequence[CaseEvent]) -> list[CaseEvent]:
        """The case's public notes, oldest first: status changes with a note, notes
        given through Open311."""
        return [
            e
            for e in events
            if e.note
            and (e.kind in _STATUS_EVENTS or (e.kind is EventKind.NOTE_ADDED and _MARK in e.data))
        ]

    def status_notes(self, case: Case, events: Sequence[CaseEvent] | None = None) -> str | None:
        """The latest public note of the case, else the profile's text for its status."""
        notes = self._notes(case, self.crm.cases.events(case) if events is None else events)
        if notes:
            return notes[-1].note
        return self.settings.status_notes.get(case.status)

    def request(self, case: Case, *, extensions: bool = False) -> Item:
        """One case as a GET requests item (``extensions``: with attributes and notes)."""
        settings = self.settings
        ct = self.crm.profile.case_type(case.case_type)
        department = self.crm.profile.department(ct.department)
        events = self.crm.cases.events(case)
        loc = case.location
        item: Item = {
            "service_request_id": self.request_id(case),
            "status": settings.status[case.status],
            "status_notes": self._redact(self.status_notes(case, events), case),
            "service_name": ct.name,
            "service_code": ct.code,
            "description": self._redact(case.description, case),
            "agency_responsible": department.name,
            "service_notice": settings.service_notices.get(ct.code),
            "requested_datetime": _utc(case.reported_at or case.opened_at),
            "updated_datetime": _utc(case.updated_at),
            "expected_datetime": _utc(case.due_at),
            "address": None if loc is None else self._redact(loc.address, case),
            "address_id": None if loc is None else loc.address_id,
            "zipcode": None if loc is None else loc.postal_code,
            "lat": None if loc is None else self._coarse(loc.latitude),
            "long": None if loc is None else self._coarse(loc.longitude),
            "media_url": case.media_url,
        }
        if extensions:
            item["extended_attributes"] = {
                "channel": case.channel.value,
                "extended_status": settings.extended_status[case.status],
                "attributes": self._attributes(case, ct),
            }
            item["notes"] = [
                {
                    "type": e.kind.value,
                    "datetime": format_utc(e.at),
                    "summary": settings.extended_status[e.to_status]
                    if e.to_status is not None
                    else None,
                    "description": self._redact(e.note, case),
                }
                for e in self._notes(case, events)
            ]
        return item

    def _attributes(self, case: Case, ct: CaseType) -> list[Item]:
        out: list[Item] = []
        for code, value in case.attributes.items():
            definition = ct.attribute(code)
            free = definition is not None and definition.datatype in (
                AttributeDatatype.STRING,
                AttributeDatatype.TEXT,
            )
            for one in value if isinstance(value, tuple) else (value,):
                shown = self._redact(one, case) if free and isinstance(one, str) else one
                out.append({"code": code, "value": shown})
        return out

    def find_case(self, request_id: str) -> Case | None:
        """The published case with this ``service_request_id`` (or reference, or id)."""
        found = self._lookup(request_id)
        if found is None or found.case_type not in {ct.code for ct in self.case_types()}:
            return None
        return found

    def _lookup(self, request_id: str) -> Case | None:
        """The case with this ``service_request_id``, reference or id, published or not."""
        crm = self.crm
        found = crm.cases.find_by_external_id(self.settings.source, request_id)
        if found is None:
            found = crm.cases.find_by_reference(request_id)
        if found is None:
            try:
                found = crm.cases.get(uuid.UUID(request_id))
            except (ValueError, NotFoundError):
                found = None
        return found

    def _where(
        self,
        service_codes: Sequence[str] | None,
        statuses: Sequence[str] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> tuple[Filter, ...] | None:
        """The storage filters of GET requests' filters; None when nothing can match."""
        published = {ct.code for ct in self.case_types()}
        codes = published if service_codes is None else published & set(service_codes)
        where: list[Filter] = [Filter("case_type", "in", tuple(sorted(codes)))]
        if statuses is not None:
            wanted = set(statuses)
            ours = tuple(s.value for s, v in self.settings.status.items() if v in wanted)
            where.append(Filter("status", "in", ours))
        if start is not None:
            where.append(Filter("reported_at", "ge", micros(start)))
        if end is not None:
            where.append(Filter("reported_at", "le", micros(end)))
        if any(f.op == "in" and not f.value for f in where):
            return None
        return tuple(where)

    def find_cases(
        self,
        *,
        service_codes: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> list[Case]:
        """
        GET requests: the published cases matching every filter, newest request first,
        one page of them. ``statuses`` are Open311's (``open``, ``closed``).
        """
        size = page_size or self.settings.page_size
        where = self._where(service_codes, statuses, start, end)
        if where is None:
            return []
        order = Order("reported_at", descending=True)
        after: Cursor | None = None
        skip = (page - 1) * size
        if skip:
            ids = self.crm.storage.query(
                Query("case", where, order, skip, columns=("reported_at",))
            )
            if ids.next is None:
                return []
            after = ids.next
        return list(self.crm._page(Case, Query("case", where, order, size, after)).items)

    def all_cases(
        self,
        *,
        service_codes: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_size: int = 500,
    ) -> Iterator[Case]:
        """Every published case matching the filters, oldest request first, read a
        page at a time (for exports)."""
        where = self._where(service_codes, statuses, start, end)
        if where is None:
            return
        after: Cursor | None = None
        while True:
            page = self.crm._page(
                Case, Query("case", where, Order("reported_at"), batch_size, after)
            )
            yield from page.items
            if page.next is None:
                return
            after = page.next

    # --- requests in (POST) -----------------------------------------------------------

    def submit(self, form: Mapping[str, Any]) -> tuple[Case, Item]:
        """
        POST requests: open a case from the form's fields (``service_code``, ``lat`` and
        ``long`` or ``address_string`` or ``address_id``, ``description``, ``media_url``,
        ``attribute[code]`` answers, and the submitter's ``email``, ``phone``,
        ``first_name``, ``last_name``). The submitter is found through the blind index
        by email (else phone), or created.

        Raises:
            NotFoundError: the service code is not published.
            ValidationError: every problem with the fields, each by its name.
        """
        problems: list[Problem] = []
        code = _text(form.get("service_code"), "service_code", problems)
        if code is None:
            raise ValidationError.at("service_code", "is required")
        ct = self.case_type(code)
        lat = _coordinate(form.get("lat"), "lat", -90, 90, problems)
        lon = _coordinate(form.get("long"), "long", -180, 180, problems)
        if (lat is None) != (lon is None) and not any(p.path in ("lat", "long") for p in problems):
            problems.append(Problem("lat" if lat is None else "long", "give both lat and long"))
        address = _text(form.get("address_string"), "address_string", problems)
        address_id = _text(form.get("address_id"), "address_id", problems)
        if lat is None and lon is None and address is None and address_id is None and not problems:
            problems.append(
                Problem("lat", "a location is required: lat and long, address_string or address_id")
            )
        description = _text(form.get("description"), "description", problems)
        media_url = _text(form.get("media_url"), "media_url", problems)
        if media_url is not None and not media_url.startswith(("http://", "https://")):
            problems.append(Problem("media_url", f"{media_url!r} is not an http(s) URL"))
        answers = _attribute_answers(form)
        for name, answer in answers.items():
            given = answer if isinstance(answer, list) else [answer]
            if any(isinstance(one, str) and has_surrogate(one) for one in given):
                problems.append(
                    Problem(f"attribute[{name}]", "holds a lone surrogate (\\ud800-\\udfff)")
                )
        try:
            ct.validate_attributes(answers)
        except ValidationError as exc:
            for p in exc.problems:
                name = p.path.removeprefix("attributes.")
                problems.append(Problem(f"attribute[{name}]", p.message))
        submitter = self._submitter(form, problems)
        if problems:
            raise ValidationError(problems, record_type="request")
        location = None
        if lat is not None or address is not None or address_id is not None:
            location = Location(
                address=address,
                latitude=lat,
                longitude=lon if lat is not None else None,
                address_id=address_id,
            )
        requester = self._find_or_create(*submitter) if submitter is not None else None
        case = self.crm.cases.open(
            ct.code,
            description=description,
            channel=Channel.API,
            requester=requester,
            location=location,
            attributes=dict(answers),
            media_url=media_url or None,
        )
        item: Item = {
            "service_request_id": self.request_id(case),
            "token": str(case.id),
            "service_notice": self.settings.service_notices.get(ct.code),
            "account_id": None,
        }
        return case, item

    def _submitter(
        self, form: Mapping[str, Any], problems: list[Problem]
    ) -> tuple[str | None, str | None, str | None, str | None] | None:
        email = _text(form.get("email"), "email", problems)
        phone = _text(form.get("phone"), "phone", problems)
        first = _text(form.get("first_name"), "first_name", problems)
        last = _text(form.get("last_name"), "last_name", problems)
        region = self.crm.profile.agency.default_region
        for name, value in (("email", email), ("phone", phone)):
            if value is not None:
                try:
                    if name == "email":
                        ContactPoint.email(value)
                    else:
                        ContactPoint.phone(value, region=region)
                except ValidationError as exc:
                    problems.extend(Problem(name, p.message) for p in exc.problems)
        if email is None and phone is None and first is None and last is None:
            return None
        return email, phone, first, last

    def _find_or_create(
        self, email: str | None, phone: str | None, first: str | None, last: str | None
    ) -> Citizen:
        """The citizen with this email (else phone), or a new one."""
        crm = self.crm
        found: list[Citizen] = []
        if email is not None:
            found = crm.citizens.find(email=email)
        if not found and phone is not None:
            found = crm.citizens.find(phone=phone)
        if found:
            return found[0]
        region = crm.profile.agency.default_region
        points = []
        if email is not None:
            points.append(ContactPoint.email(email))
        if phone is not None:
            points.append(ContactPoint.phone(phone, region=region))
        return crm.citizens.create(
            Citizen(given_name=first, family_name=last, contact_points=points)
        )

    # --- updates out (FixMyStreet's servicerequestupdates) ------------------------------

    def updates(
        self, *, start: datetime | None = None, end: datetime | None = None, limit: int = 1000
    ) -> list[Item]:
        """
        GET servicerequestupdates: status changes with their notes, and notes given
        through Open311, of published cases, oldest first; statuses as extended codes.
        """
        where: list[Filter] = [
            Filter(
                "kind",
                "in",
                tuple(k.value for k in (*_STATUS_EVENTS, EventKind.NOTE_ADDED)),
            )
        ]
        if start is not None:
            where.append(Filter("at", "ge", micros(start)))
        if end is not None:
            where.append(Filter("at", "le", micros(end)))
        published = {ct.code for ct in self.case_types()}
        cases: dict[uuid.UUID, Case | None] = {}
        out: list[Item] = []
        for event in self.crm._stream(CaseEvent, Query("case_event", tuple(where), Order("at"))):
            if event.kind is EventKind.NOTE_ADDED and _MARK not in event.data:
                continue
            if event.case_id not in cases:
                try:
                    case: Case | None = self.crm.cases.get(event.case_id)
                except NotFoundError:
                    case = None
                cases[event.case_id] = case if case and case.case_type in published else None
            found = cases[event.case_id]
            if found is None:
                continue
            status = event.to_status
            if status is None:
                marked = event.data.get("status")
                status = CaseStatus(marked) if isinstance(marked, str) else found.status
            out.append(
                {
                    "update_id": str(event.data.get("update_id") or event.id),
                    "service_request_id": self.request_id(found),
                    "status": self.settings.extended_status[status],
                    "updated_datetime": format_utc(event.at),
                    "description": self._redact(event.note, found),
                    "media_url": event.data.get("media_url"),
                }
            )
            if len(out) >= limit:
                break
        return out

    # --- imports ------------------------------------------------------------------------

    def status_of(self, value: object, path: str, problems: list[Problem]) -> CaseStatus | None:
        """Our status for an Open311 status (``open``, ``closed``) or an extended code."""
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(path, f"expected a status, got {value!r}"))
            return None
        code = value.strip()
        settings = self.settings
        if code in ("open", "closed"):
            wanted = code
            ours = [s for s in CaseStatus if settings.status[s] == wanted]
            if wanted == "closed" and CaseStatus.CLOSED in ours:
                return CaseStatus.CLOSED
            if ours:
                return ours[0]
        upper = code.upper()
        mapped = [s for s in CaseStatus if settings.extended_status[s] == upper]
        if mapped:
            return mapped[0]
        if upper in EXTENDED_STATUSES:
            return EXTENDED_STATUSES[upper]
        problems.append(
            Problem(
                path,
                f"{code!r} is not a status (open, closed, or one of {', '.join(EXTENDED_STATUSES)})",
            )
        )
        return None

    def _incoming(self, raw: object, problems: list[Problem]) -> Case | None:
        """A GET requests item as a case to import (not stored), or None with problems."""
        item = raw
        if not isinstance(item, Mapping):
            problems.append(Problem("", f"expected an object, got {type(item).__name__}"))
            return None
        request_id = _text(item.get("service_request_id"), "service_request_id", problems)
        if request_id is None and not any(p.path == "service_request_id" for p in problems):
            problems.append(Problem("service_request_id", "is required"))
        code = _text(item.get("service_code"), "service_code", problems)
        ct: CaseType | None = None
        if code is None:
            problems.append(Problem("service_code", "is required"))
        else:
            try:
                ct = self.crm.profile.case_type(code)
            except NotFoundError:
                problems.append(Problem("service_code", f"no case type {code!r} in the profile"))
        status = self.status_of(item.get("status", "open"), "status", problems)
        requested = _time(item.get("requested_datetime"), "requested_datetime", problems)
        updated = _time(item.get("updated_datetime"), "updated_datetime", problems)
        expected = _time(item.get("expected_datetime"), "expected_datetime", problems)
        lat = _coordinate(item.get("lat"), "lat", -90, 90, problems)
        lon = _coordinate(item.get("long"), "long", -180, 180, problems)
        if (lat is None) != (lon is None) and not any(p.path in ("lat", "long") for p in problems):
            problems.append(Problem("lat", "give both lat and long, or neither"))
        address = _text(item.get("address"), "address", problems)
        address_id = _text(item.get("address_id"), "address_id", problems)
        zipcode = _text(item.get("zipcode"), "zipcode", problems)
        media_url = _text(item.get("media_url"), "media_url", problems)
        description = _text(item.get("description"), "description", problems)
        attributes: dict[str, Any] = {}
        extended = item.get("extended_attributes")
        channel = Channel.API
        if isinstance(extended, Mapping):
            raw_channel = extended.get("channel")
            if isinstance(raw_channel, str):
                try:
                    channel = Channel(raw_channel)
                except ValueError:
                    problems.append(
                        Problem("extended_attributes.channel", f"no channel {raw_channel!r}")
                    )
            answers = extended.get("attributes")
            if "attributes" in extended and not isinstance(answers, list | type(None)):
                problems.append(
                    Problem("extended_attributes.attributes", "expected a list of {code, value}")
                )
            if isinstance(answers, list) and ct is not None:
                attributes = _grouped(answers, ct)
                try:
                    attributes = dict(ct.validate_attributes(attributes))
                except ValidationError as exc:
                    problems.extend(p.prefixed("extended_attributes") for p in exc.problems)
        if problems or ct is None or status is None or request_id is None:
            return None
        opened = requested or self.crm._now()
        last = updated or opened
        external = {self.settings.source: request_id}
        location = None
        if address is not None or lat is not None or address_id is not None or zipcode is not None:
            location = Location(
                address=address,
                latitude=lat,
                longitude=lon,
                address_id=address_id,
                postal_code=zipcode,
            )
        return Case(
            case_type=ct.code,
            title=ct.name,
            description=description,
            status=status,
            priority=ct.default_priority,
            channel=channel,
            location=location,
            queue=ct.queue,
            attributes=attributes,
            reported_at=opened,
            opened_at=opened,
            updated_at=last,
            due_at=expected,
            resolved_at=last if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED) else None,
            closed_at=last if status.is_final else None,
            external_ids=external,
            media_url=media_url,
        )

    def import_requests(self, items: Iterable[Mapping[str, Any]]) -> ImportResult:
        """
        Import GET requests items as cases, idempotently by ``service_request_id`` (kept
        as the case's external id under the profile's ``open311.source``): a new one is
        imported with its times, status and due time as given; one already there is
        left alone if nothing changed, else updated (its status moved through the
        lifecycle, its notes added). Items with problems are rejected, each problem at
        ``[index].field``; the others go in.
        """
        from civiccrm.crm import _import_id

        crm = self.crm
        rejected: list[Problem] = []
        inserted = updated = unchanged = 0
        new: list[tuple[Case, str | None]] = []
        seen: set[str] = set()
        for n, item in enumerate(items):
            problems: list[Problem] = []
            case = self._incoming(item, problems)
            if case is None:
                rejected.extend(p.prefixed(f"[{n}]") for p in problems)
                continue
            request_id = case.external_ids[self.settings.source]
            if request_id in seen:
                rejected.append(
                    Problem(f"[{n}].service_request_id", f"{request_id!r} is given twice")
                )
                continue
            seen.add(request_id)
            notes = _text(item.get("status_notes"), "status_notes", [])
            existing = self._lookup(request_id)
            if existing is None:
                new.append((case, notes))
                continue
            try:
                changed = self._apply(existing, case, notes)
            except (ValidationError, TransitionError) as exc:
                rejected.extend(p.prefixed(f"[{n}]") for p in _problems(exc))
                continue
            if changed:
                updated += 1
            else:
                unchanged += 1
        if new:
            result = crm.cases.bulk_import([c for c, _ in new])
            inserted += result.inserted
            updated += result.updated
            unchanged += result.unchanged
            kind = KINDS[CaseEvent]
            records = []
            for case, notes in new:
                if notes is None or notes == self.settings.status_notes.get(case.status):
                    continue
                key = f"{self.settings.source}:{case.external_ids[self.settings.source]}"
                assert case.opened_at is not None
                stored = attrs.evolve(case, id=_import_id(key, case.opened_at))
                import_key = f"open311-notes:{key}"
                event = CaseEvent(
                    id=_import_id(import_key, case.opened_at),
                    case_id=stored.id,
                    kind=EventKind.NOTE_ADDED,
                    at=case.updated_at or case.opened_at,
                    note=notes,
                    data={_MARK: "status_notes", "import_key": import_key},
                )
                records.append(kind.to_record(event, crm.converter, key=crm._case_key(stored)))
            if records:
                with crm.transaction():
                    crm._audit_write("import", "case_event", [r.id for r in records])
                    crm.storage.bulk_upsert("case_event", records)
        return ImportResult(inserted, updated, unchanged, tuple(rejected))

    def _apply(self, existing: Case, incoming: Case, notes: str | None) -> bool:
        """Bring an existing case to what an imported item says; whether it changed."""
        crm = self.crm
        changes: dict[str, Any] = {}
        # A field the item leaves out is not said: it keeps what the case has.
        for name in ("description", "location", "due_at", "media_url"):
            given = getattr(incoming, name)
            if given is not None and getattr(existing, name) != given:
                changes[name] = given
        if incoming.attributes and incoming.attributes != existing.attributes:
            changes["attributes"] = incoming.attributes
        move = self.settings.status[existing.status] != self.settings.status[incoming.status]
        if move:
            self._path(existing.status, incoming.status)  # refused before anything is written
        changed = False
        case = existing
        if changes:
            case = crm.cases.update(attrs.evolve(existing, **changes))
            changed = True
        # A requests document says open or closed: a case already on that side stays
        # in its own status (a resolved case is not closed because a feed says closed).
        if move:
            case = self._move(case, incoming.status, note=None)
            changed = True
        current = self.status_notes(case)
        if notes is not None and notes != current:
            self._note(case, notes, {_MARK: "status_notes"})
            changed = True
        return changed

    @staticmethod
    def _path(current: CaseStatus, target: CaseStatus) -> list[CaseStatus]:
        """The moves through the lifecycle from ``current`` to ``target``.

        Raises:
            ValidationError: there is no way (a closed case does not open again).
        """
        from civiccrm.models import allowed_transitions

        if target is current:
            return []
        if target in allowed_transitions(current):
            return [target]
        if current.is_open and target is CaseStatus.CLOSED:
            return [CaseStatus.RESOLVED, CaseStatus.CLOSED]
        if current is CaseStatus.RESOLVED and target.is_open:
            return [CaseStatus.IN_PROGRESS, *([] if target is CaseStatus.IN_PROGRESS else [target])]
        if current.is_open and target.is_open:
            return [CaseStatus.IN_PROGRESS, target]
        raise ValidationError.at(
            "status", f"cannot move the case from {current.value} to {target.value}"
        )

    def _move(self, case: Case, target: CaseStatus, *, note: str | None) -> Case:
        """Move a case to ``target`` along the lifecycle (through resolved to closed)."""
        path = self._path(case.status, target)
        for i, step in enumerate(path):
            case = self.crm.cases.transition(case, step, note=note if i == len(path) - 1 else None)
        return case

    def _note(self, case: Case, text: str, data: dict[str, Any]) -> None:
        """Add a public note to the case's history, after every event it has (an
        imported note may carry a time later than now), so that it is the latest."""
        crm = self.crm
        crm._may("note")
        with crm.transaction():
            event = crm._make_event(case, EventKind.NOTE_ADDED, note=text, data=data)
            latest = max((e.at for e in crm.cases.events(case)), default=None)
            if latest is not None and event.at <= latest:
                event = attrs.evolve(event, at=latest + timedelta(microseconds=1))
            crm._write(event, key=crm._case_key(case))

    def import_updates(self, items: Iterable[Mapping[str, Any]]) -> ImportResult:
        """
        Import servicerequestupdates items: each moves its case (found by
        ``service_request_id``) to the update's status through the lifecycle and adds
        its description as a public note; an ``update_id`` already applied is skipped,
        so importing again changes nothing.
        """
        rejected: list[Problem] = []
        applied = unchanged = 0
        listed: Iterable[object] = items
        for n, item in enumerate(listed):
            problems: list[Problem] = []
            if not isinstance(item, Mapping):
                rejected.append(Problem(f"[{n}]", f"expected an object, got {type(item).__name__}"))
                continue
            update_id = _text(item.get("update_id"), "update_id", problems)
            request_id = _text(item.get("service_request_id"), "service_request_id", problems)
            for name, value in (("update_id", update_id), ("service_request_id", request_id)):
                if value is None and not any(p.path == name for p in problems):
                    problems.append(Problem(name, "is required"))
            status = self.status_of(item.get("status"), "status", problems)
            _time(item.get("updated_datetime"), "updated_datetime", problems)
            description = _text(item.get("description"), "description", problems)
            media_url = _text(item.get("media_url"), "media_url", problems)
            if media_url is not None and not media_url.startswith(("http://", "https://")):
                problems.append(Problem("media_url", f"{media_url!r} is not an http(s) URL"))
            case = None
            if request_id is not None:
                case = self.find_case(request_id)
                if case is None:
                    problems.append(
                        Problem("service_request_id", f"no service request {request_id!r}")
                    )
            if problems or case is None or status is None or update_id is None:
                rejected.extend(p.prefixed(f"[{n}]") for p in problems)
                continue
            events = self.crm.cases.events(case)
            if any(e.data.get("update_id") == update_id or str(e.id) == update_id for e in events):
                unchanged += 1
                continue
            try:
                case = self._move(case, status, note=None)
            except (ValidationError, TransitionError) as exc:
                rejected.extend(p.prefixed(f"[{n}]") for p in _problems(exc))
                continue
            data: dict[str, Any] = {_MARK: "update", "update_id": update_id, "status": status.value}
            if media_url is not None:
                data["media_url"] = media_url
            self._note(case, description or self.settings.extended_status[status], data)
            applied += 1
        return ImportResult(applied, 0, unchanged, tuple(rejected))


def _problems(exc: ValidationError | TransitionError) -> list[Problem]:
    if isinstance(exc, ValidationError):
        return list(exc.problems)
    return [Problem("status", str(exc))]


def _utc(value: datetime | None) -> str | None:
    return None if value is None else format_utc(value)


def _attribute_answers(form: Mapping[str, Any]) -> dict[str, Any]:
    """``attribute[code]=v`` and ``attribute[code][]=v`` fields as answers by code; a
    code given more than once (``attribute[size]`` and ``attribute[size][]``) has all
    its values, as a list."""
    values_of: dict[str, list[Any]] = {}
    many: set[str] = set()
    for name, value in form.items():
        if not name.startswith("attribute[") or "]" not in name:
            continue
        code = name[len("attribute[") : name.index("]")]
        values = list(value) if isinstance(value, list | tuple) else [value]
        if name.endswith("[]") or len(values) > 1 or code in values_of:
            many.add(code)
        values_of.setdefault(code, []).extend(values)
    return {
        code: values if code in many else (values[0] if values else None)
        for code, values in values_of.items()
    }


def _grouped(answers: list[Any], ct: CaseType) -> dict[str, Any]:
    """``[{code, value}, ...]`` (a multivaluelist repeated per option) as answers by code."""
    out: dict[str, Any] = {}
    for entry in answers:
        if not isinstance(entry, Mapping):
            continue
        code = entry.get("code")
        value = entry.get("value")
        if not isinstance(code, str):
            continue
        definition = ct.attribute(code)
        if definition is not None and definition.datatype is AttributeDatatype.MULTIVALUELIST:
            out.setdefault(code, []).append(value)
        else:
            out[code] = value
    return out
