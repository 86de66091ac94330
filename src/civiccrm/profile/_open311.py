"""
The profile's optional ``[open311]`` section: how the agency speaks Open311 GeoReport v2.

::

    [open311]
    jurisdiction_id = "springfield.example.gov"   # optional
    source = "open311"              # the external-id source of service_request_id
    services = ["001", "002"]       # the public case types (default: every active one)
    page_size = 50                  # GET requests: default page size
    max_page_size = 1000            # ... and the largest a client may ask for

    [open311.status]                # our status -> "open" or "closed"
    pending = "open"

    [open311.extended_status]       # our status -> FixMyStreet's extended code
    resolved = "FIXED"

    [open311.status_notes]          # public text for a status, when no note says more
    resolved = "Repaired."

    [open311.service_notices]       # service code -> service_notice
    "001" = "Potholes are filled within two working days."

    [open311.discovery]
    url = "https://api.springfield.example.gov/open311/v2"
    contact = "311@springfield.example.gov"
    key_service = "https://springfield.example.gov/open311/keys"
    changeset = 2026-03-01T00:00:00Z
    type = "production"

Every key is optional; a profile without the section gets :data:`DEFAULT_OPEN311`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from civiccrm.errors import Problem
from civiccrm.models import CaseStatus
from civiccrm.models._common import _kind
from civiccrm.profile._values import optional_text as _text

__all__ = [
    "DEFAULT_OPEN311",
    "EXTENDED_STATUSES",
    "Open311Discovery",
    "Open311Settings",
    "parse_open311",
]

#: FixMyStreet's extended status codes (its "Open311 FMS" extension to
#: ``servicerequestupdates``), each with the status an incoming one moves a case to.
EXTENDED_STATUSES: Final[Mapping[str, CaseStatus]] = types.MappingProxyType(
    {
        "OPEN": CaseStatus.NEW,
        "ACTION_SCHEDULED": CaseStatus.ASSIGNED,
        "IN_PROGRESS": CaseStatus.IN_PROGRESS,
        "INVESTIGATING": CaseStatus.PENDING,
        "FIXED": CaseStatus.RESOLVED,
        "CLOSED": CaseStatus.CLOSED,
        "DUPLICATE": CaseStatus.CANCELLED,
        "NOT_COUNCILS_RESPONSIBILITY": CaseStatus.CANCELLED,
        "NO_FURTHER_ACTION": CaseStatus.CANCELLED,
        "INTERNAL_REFERRAL": CaseStatus.CANCELLED,
    }
)

_S = CaseStatus
_DEFAULT_STATUS: Final = types.MappingProxyType(
    {s: ("open" if s.is_open else "closed") for s in CaseStatus}
)
_DEFAULT_EXTENDED: Final = types.MappingProxyType(
    {
        _S.NEW: "OPEN",
        _S.ASSIGNED: "ACTION_SCHEDULED",
        _S.IN_PROGRESS: "IN_PROGRESS",
        _S.PENDING: "INVESTIGATING",
        _S.RESOLVED: "FIXED",
        _S.CLOSED: "CLOSED",
        _S.CANCELLED: "NO_FURTHER_ACTION",
    }
)


@attrs.frozen(kw_only=True)
class Open311Discovery:
    """
    What the discovery document says of the endpoint.

    .. versionadded:: 0.1.0
    """

    #: The endpoint's base URL (``.../services.xml`` lives under it); None: the handler
    #: uses the URL it was asked on.
    url: str | None = None
    contact: str | None = None
    key_service: str | None = None
    #: When the endpoint last changed.
    changeset: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    #: ``production`` or ``test``.
    type: str = "production"


@attrs.frozen(kw_only=True)
class Open311Settings:
    """
    The ``[open311]`` section of an agency profile.

    .. versionadded:: 0.1.0
    """

    #: The jurisdiction this endpoint serves; a request naming another gets 404.
    jurisdiction_id: str | None = None
    #: The external-id source under which a service request's id is kept on its case.
    source: str = "open311"
    #: The service codes published (listed, accepted by POST, shown by GET requests);
    #: None: every active case type.
    services: tuple[str, ...] | None = None
    #: Our statuses as Open311's ``open`` or ``closed``.
    status: Mapping[CaseStatus, str] = attrs.field(default=_DEFAULT_STATUS, hash=False)
    #: Our statuses as FixMyStreet's extended codes (``servicerequestupdates``).
    extended_status: Mapping[CaseStatus, str] = attrs.field(default=_DEFAULT_EXTENDED, hash=False)
    #: Public ``status_notes`` for a status when the case's history has no note.
    status_notes: Mapping[CaseStatus, str] = attrs.field(factory=dict, hash=False)
    #: ``service_notice`` by service code.
    service_notices: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    page_size: int = 50
    max_page_size: int = 1000
    discovery: Open311Discovery = attrs.field(factory=Open311Discovery)


#: The settings of a profile without an ``[open311]`` section.
DEFAULT_OPEN311: Final = Open311Settings()

_KEYS: Final = (
    "jurisdiction_id",
    "source",
    "services",
    "status",
    "extended_status",
    "status_notes",
    "service_notices",
    "page_size",
    "max_page_size",
    "discovery",
)
_DISCOVERY_KEYS: Final = ("url", "contact", "key_service", "changeset", "type")
_STATUSES: Final = ", ".join(s.value for s in CaseStatus)


def _status_table(
    raw: object, key: str, problems: list[Problem], check: Any
) -> dict[CaseStatus, str] | None:
    """A table of our statuses to strings, each value checked by ``check``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append(Problem(key, f"expected a table of statuses, got {_kind(raw)}"))
        return None
    out: dict[CaseStatus, str] = {}
    for name, value in raw.items():
        path = f"{key}.{name}"
        try:
            status = CaseStatus(name)
        except ValueError:
            problems.append(Problem(path, f"{name!r} is not a status (one of {_STATUSES})"))
            continue
        message = check(value)
        if message is not None:
            problems.append(Problem(path, message))
        else:
            out[status] = value
    return out


def _open_closed(value: object) -> str | None:
    if value in ("open", "closed"):
        return None
    return f"{value!r} is not 'open' or 'closed'"


def _extended(value: object) -> str | None:
    if isinstance(value, str) and value in EXTENDED_STATUSES:
        return None
    return f"{value!r} is not an extended status (one of {', '.join(EXTENDED_STATUSES)})"


def _note(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    return f"expected a non-empty string, got {_kind(value)}"


def _size(table: Mapping[str, Any], key: str, default: int, problems: list[Problem]) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        problems.append(Problem(key, f"expected a whole number from 1 to 100000, got {value!r}"))
        return default
    return value


def _discovery(raw: object, problems: list[Problem]) -> Open311Discovery:
    if raw is None:
        return Open311Discovery()
    if not isinstance(raw, Mapping):
        problems.append(Problem("discovery", f"expected a table, got {_kind(raw)}"))
        return Open311Discovery()
    found: list[Problem] = [
        Problem(str(k), "unknown field") for k in raw if k not in _DISCOVERY_KEYS
    ]
    url = _text(raw, "url", found)
    if url is not None and not url.startswith(("http://", "https://")):
        found.append(Problem("url", f"{url!r} is not an http(s) URL"))
        url = None
    changeset = Open311Discovery().changeset
    if "changeset" in raw:
        value = raw["changeset"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = datetime.fromisoformat(value)
        if not isinstance(value, datetime) or value.utcoffset() is None:
            found.append(
                Problem("changeset", f"expected a date and time with an offset, got {value!r}")
            )
        else:
            changeset = value.astimezone(UTC)
    kind = raw.get("type", "production")
    if kind not in ("production", "test"):
        found.append(Problem("type", f"{kind!r} is not 'production' or 'test'"))
        kind = "production"
    problems.extend(p.prefixed("discovery") for p in found)
    return Open311Discovery(
        url=url,
        contact=_text(raw, "contact", problems),
        key_service=_text(raw, "key_service", problems),
        changeset=changeset,
        type=kind,
    )


def parse_open311(
    raw: object, *, case_types: set[str] | None
) -> tuple[Open311Settings | None, list[Problem]]:
    """
    The ``[open311]`` table as settings (None if it has problems), and its problems,
    each by its TOML path (``open311.status.pending``). Service codes are checked
    against ``case_types`` when given (the codes of a cleanly loaded section).
    """
    if raw is None:
        return DEFAULT_OPEN311, []
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        return None, [Problem("open311", f"expected a table ([open311]), got {_kind(raw)}")]
    for key in raw:
        if key not in _KEYS:
            problems.append(Problem(str(key), f"unknown field (known: {', '.join(_KEYS)})"))
    jurisdiction = _text(raw, "jurisdiction_id", problems)
    source = _text(raw, "source", problems) or "open311"
    if ":" in source:
        problems.append(Problem("source", f"{source!r} must not contain ':'"))
    services: tuple[str, ...] | None = None
    if "services" in raw:
        value = raw["services"]
        if not isinstance(value, list):
            problems.append(Problem("services", f"expected a list of codes, got {_kind(value)}"))
        else:
            listed: list[str] = []
            for i, code in enumerate(value):
                if not isinstance(code, str):
                    problems.append(
                        Problem(f"services[{i}]", f"expected a code (a string), got {_kind(code)}")
                    )
                elif case_types is not None and code not in case_types:
                    problems.append(Problem(f"services[{i}]", f"no case type {code!r}"))
                elif code in listed:
                    problems.append(Problem(f"services[{i}]", f"{code!r} is listed twice"))
                else:
                    listed.append(code)
            services = tuple(listed)
    status = dict(_DEFAULT_STATUS)
    status.update(_status_table(raw.get("status"), "status", problems, _open_closed) or {})
    extended = dict(_DEFAULT_EXTENDED)
    extended.update(
        _status_table(raw.get("extended_status"), "extended_status", problems, _extended) or {}
    )
    notes = _status_table(raw.get("status_notes"), "status_notes", problems, _note) or {}
    notices: dict[str, str] = {}
    raw_notices = raw.get("service_notices", {})
    if not isinstance(raw_notices, Mapping):
        problems.append(
            Problem("service_notices", f"expected a table of codes, got {_kind(raw_notices)}")
        )
    else:
        for code, text in raw_notices.items():
            path = f'service_notices."{code}"'
            if case_types is not None and code not in case_types:
                problems.append(Problem(path, f"no case type {code!r}"))
            elif _note(text) is not None:
                problems.append(Problem(path, f"expected a non-empty string, got {_kind(text)}"))
            else:
                notices[code] = text
    page_size = _size(raw, "page_size", 50, problems)
    max_page_size = _size(raw, "max_page_size", 1000, problems)
    if page_size > max_page_size:
        problems.append(Problem("page_size", f"{page_size} is above max_page_size"))
    discovery = _discovery(raw.get("discovery"), problems)
    if problems:
        return None, [p.prefixed("open311") for p in problems]
    return (
        Open311Settings(
            jurisdiction_id=jurisdiction,
            source=source,
            services=services,
            status=types.MappingProxyType(status),
            extended_status=types.MappingProxyType(extended),
            status_notes=types.MappingProxyType(notes),
            service_notices=types.MappingProxyType(notices),
            page_size=page_size,
            max_page_size=max_page_size,
            discovery=discovery,
        ),
        [],
    )
