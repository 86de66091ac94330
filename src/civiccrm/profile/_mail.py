"""
The profile's optional ``[mail]`` section: the agency's inbound mailboxes.

::

    [mail]
    own_addresses = ["311@springfield.example.gov"]  # never taken as senders (mail loops)
    max_bytes = 52428800            # larger messages are quarantined (default 50 MiB)
    max_body_chars = 200000         # a longer text is quarantined
    reference_pattern = "SR-[0-9]{4}-[0-9]{6}"      # case references in subjects
    unknown_senders = "citizen"     # or "anonymous"
    closed_cases = "new_case"       # a reply to a closed case opens a new one; or "thread"

    [mail.mailboxes.zoning]
    address = "zoning@springfield.example.gov"      # also never taken as a sender
    case_type = "018"               # what a message that answers no case opens
    body_attribute = "question"     # the case type's attribute that takes the text
    attributes = { parcel_id = "" } # fixed attribute values for the cases it opens
    max_bytes = 26214400            # overrides [mail]; so may own_addresses,
                                    # unknown_senders and closed_cases

Every key but a mailbox's ``case_type`` is optional; a profile without the section
gets :data:`DEFAULT_MAIL` (no mailboxes).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Any, Final

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models._common import _kind
from civiccrm.models._party import normalize_email

__all__ = [
    "CLOSED_CASES",
    "DEFAULT_MAIL",
    "UNKNOWN_SENDERS",
    "MailSettings",
    "MailboxSettings",
    "parse_mail",
]

#: What to do with a sender no party has: make a citizen with that email address,
#: or leave the case anonymous.
UNKNOWN_SENDERS: Final = ("citizen", "anonymous")
#: What to do with a reply to a closed or cancelled case: open a new case linked to
#: it (its parent), or log the reply on the closed case.
CLOSED_CASES: Final = ("new_case", "thread")

#: The default size limit: 50 MiB (larger messages are quarantined).
DEFAULT_MAX_BYTES: Final = 50 * 1024 * 1024
DEFAULT_MAX_BODY_CHARS: Final = 200_000
#: A case reference such as ``SR-2026-000123``: letters, the year, a number.
DEFAULT_REFERENCE_PATTERN: Final = r"[A-Z]{1,6}-[0-9]{4}-[0-9]{3,10}"

_MIN_BYTES: Final = 1024
_MAX_BYTES: Final = 2 * 1024 * 1024 * 1024
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@attrs.frozen(kw_only=True)
class MailboxSettings:
    """
    One inbound mailbox (``[mail.mailboxes.<name>]``), with the section's defaults
    filled in.

    .. versionadded:: 0.1.0
    """

    #: The mailbox's name (``zoning``): in receipts, the quarantine and reports.
    name: str
    #: The case type a message that answers no case opens.
    case_type: str
    #: The mailbox's own address, if given (never taken as a sender).
    address: str | None = None
    #: The case type's attribute that takes the message's text (a required text
    #: attribute, such as a zoning request's question), if any.
    body_attribute: str | None = None
    #: Fixed attribute values for the cases it opens.
    attributes: Mapping[str, object] = attrs.field(factory=dict, hash=False)
    #: Larger messages are quarantined.
    max_bytes: int = DEFAULT_MAX_BYTES
    #: A longer text is quarantined.
    max_body_chars: int = DEFAULT_MAX_BODY_CHARS
    #: The agency's own addresses (normalised): mail from them is skipped.
    own_addresses: frozenset[str] = frozenset()
    #: ``citizen`` or ``anonymous`` (see :data:`UNKNOWN_SENDERS`).
    unknown_senders: str = "citizen"
    #: ``new_case`` or ``thread`` (see :data:`CLOSED_CASES`).
    closed_cases: str = "new_case"
    #: Case references in subjects.
    reference_pattern: re.Pattern[str] = attrs.field(
        default=re.compile(DEFAULT_REFERENCE_PATTERN), eq=False, hash=False
    )


@attrs.frozen(kw_only=True)
class MailSettings:
    """
    The ``[mail]`` section of an agency profile: its inbound mailboxes.

    .. versionadded:: 0.1.0
    """

    #: The mailboxes by name.
    mailboxes: Mapping[str, MailboxSettings] = attrs.field(factory=dict, hash=False)
    #: The agency's own addresses (normalised), for every mailbox.
    own_addresses: frozenset[str] = frozenset()

    def mailbox(self, name: str) -> MailboxSettings:
        """
        The mailbox called ``name``.

        Raises:
            ValidationError: the profile's ``[mail]`` section has no such mailbox
                (at ``mailbox``).
        """
        found = self.mailboxes.get(name) if isinstance(name, str) else None
        if found is None:
            known = ", ".join(sorted(self.mailboxes)) or "none: add [mail.mailboxes.<name>]"
            raise ValidationError.at(
                "mailbox", f"no mailbox {name!r} in the profile's [mail] section (known: {known})"
            )
        return found


#: The settings of a profile without a ``[mail]`` section.
DEFAULT_MAIL: Final = MailSettings(mailboxes=types.MappingProxyType({}))

_KEYS: Final = (
    "own_addresses",
    "max_bytes",
    "max_body_chars",
    "reference_pattern",
    "unknown_senders",
    "closed_cases",
    "mailboxes",
)
_BOX_KEYS: Final = (
    "address",
    "case_type",
    "body_attribute",
    "attributes",
    "max_bytes",
    "max_body_chars",
    "own_addresses",
    "unknown_senders",
    "closed_cases",
)


def _int(
    table: Mapping[str, Any], key: str, default: int, low: int, high: int, problems: list[Problem]
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(
            Problem(key, f"expected a whole number from {low} to {high}, got {value!r}")
        )
        return default
    return value


def _choice(
    table: Mapping[str, Any], key: str, default: str, options: tuple[str, ...], p: list[Problem]
) -> str:
    value = table.get(key, default)
    if value not in options:
        shown = " or ".join(repr(o) for o in options)
        p.append(Problem(key, f"{value!r} is not {shown}"))
        return default
    return str(value)


def _address(value: object, path: str, problems: list[Problem]) -> str | None:
    if not isinstance(value, str):
        problems.append(Problem(path, f"expected an email address, got {_kind(value)}"))
        return None
    try:
        return normalize_email(value).lower()
    except ValueError as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _addresses(table: Mapping[str, Any], key: str, problems: list[Problem]) -> frozenset[str]:
    value = table.get(key, [])
    if not isinstance(value, list):
        problems.append(Problem(key, f"expected a list of email addresses, got {_kind(value)}"))
        return frozenset()
    found = (_address(v, f"{key}[{i}]", problems) for i, v in enumerate(value))
    return frozenset(a for a in found if a is not None)


def _pattern(table: Mapping[str, Any], problems: list[Problem]) -> re.Pattern[str]:
    text = table.get("reference_pattern", DEFAULT_REFERENCE_PATTERN)
    if not isinstance(text, str) or not text.strip():
        problems.append(
            Problem("reference_pattern", f"expected a regular expression, got {_kind(text)}")
        )
        return re.compile(DEFAULT_REFERENCE_PATTERN)
    try:
        pattern = re.compile(text)
    except re.error as exc:
        problems.append(Problem("reference_pattern", f"not a regular expression: {exc}"))
        return re.compile(DEFAULT_REFERENCE_PATTERN)
    if pattern.search("") is not None:
        problems.append(Problem("reference_pattern", "matches an empty subject: be more precise"))
    return pattern


def _mailbox(
    name: str,
    raw: object,
    defaults: dict[str, Any],
    case_types: set[str] | None,
    problems: list[Problem],
) -> MailboxSettings | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem("", f"expected a table, got {_kind(raw)}"))
        return None
    for key in raw:
        if key not in _BOX_KEYS:
            problems.append(Problem(str(key), f"unknown field (known: {', '.join(_BOX_KEYS)})"))
    code = raw.get("case_type")
    if code is None:
        problems.append(Problem("case_type", "required: the case type a new message opens"))
    elif not isinstance(code, str) or not code.strip():
        problems.append(
            Problem("case_type", f"expected a service code (a string), got {_kind(code)}")
        )
        code = None
    elif case_types is not None and code not in case_types:
        problems.append(Problem("case_type", f"no case type {code!r}"))
    address = None
    if "address" in raw:
        address = _address(raw["address"], "address", problems)
    body_attribute = raw.get("body_attribute")
    if body_attribute is not None and (not isinstance(body_attribute, str) or not body_attribute):
        problems.append(
            Problem("body_attribute", f"expected an attribute code, got {_kind(body_attribute)}")
        )
        body_attribute = None
    attributes = raw.get("attributes", {})
    if not isinstance(attributes, Mapping):
        problems.append(Problem("attributes", f"expected a table, got {_kind(attributes)}"))
        attributes = {}
    elif body_attribute is not None and body_attribute in attributes:
        problems.append(
            Problem(f"attributes.{body_attribute}", "is the body_attribute: it takes the text")
        )
    own = defaults["own_addresses"] | _addresses(raw, "own_addresses", problems)
    if address is not None:
        own = own | {address}
    max_bytes = _int(raw, "max_bytes", defaults["max_bytes"], _MIN_BYTES, _MAX_BYTES, problems)
    max_body_chars = _int(
        raw, "max_body_chars", defaults["max_body_chars"], 1, 100_000_000, problems
    )
    unknown = _choice(
        raw, "unknown_senders", defaults["unknown_senders"], UNKNOWN_SENDERS, problems
    )
    closed = _choice(raw, "closed_cases", defaults["closed_cases"], CLOSED_CASES, problems)
    if not isinstance(code, str):
        return None
    return MailboxSettings(
        name=name,
        case_type=code,
        address=address,
        body_attribute=body_attribute,
        attributes=types.MappingProxyType(dict(attributes)),
        max_bytes=max_bytes,
        max_body_chars=max_body_chars,
        own_addresses=own,
        unknown_senders=unknown,
        closed_cases=closed,
        reference_pattern=defaults["reference_pattern"],
    )


def parse_mail(
    raw: object, *, case_types: set[str] | None
) -> tuple[MailSettings | None, list[Problem]]:
    """
    The ``[mail]`` table as settings (None if it has problems), and its problems, each
    by its TOML path (``mail.mailboxes.zoning.case_type``). Case types are checked
    against ``case_types`` when given (the codes of a cleanly loaded section); whether
    a mailbox's attributes suit its case type is checked when the mailbox is used.

    .. versionadded:: 0.1.0
    """
    if raw is None:
        return DEFAULT_MAIL, []
    if not isinstance(raw, Mapping):
        return None, [Problem("mail", f"expected a table ([mail]), got {_kind(raw)}")]
    problems: list[Problem] = []
    for key in raw:
        if key not in _KEYS:
            problems.append(Problem(str(key), f"unknown field (known: {', '.join(_KEYS)})"))
    own = _addresses(raw, "own_addresses", problems)
    defaults: dict[str, Any] = {
        "own_addresses": own,
        "max_bytes": _int(raw, "max_bytes", DEFAULT_MAX_BYTES, _MIN_BYTES, _MAX_BYTES, problems),
        "max_body_chars": _int(
            raw, "max_body_chars", DEFAULT_MAX_BODY_CHARS, 1, 100_000_000, problems
        ),
        "unknown_senders": _choice(raw, "unknown_senders", "citizen", UNKNOWN_SENDERS, problems),
        "closed_cases": _choice(raw, "closed_cases", "new_case", CLOSED_CASES, problems),
        "reference_pattern": _pattern(raw, problems),
    }
    boxes: dict[str, MailboxSettings] = {}
    raw_boxes = raw.get("mailboxes", {})
    if not isinstance(raw_boxes, Mapping):
        problems.append(
            Problem("mailboxes", f"expected a table of mailboxes, got {_kind(raw_boxes)}")
        )
        raw_boxes = {}
    for name, table in raw_boxes.items():
        path = f"mailboxes.{name}" if _NAME.fullmatch(name) else f'mailboxes."{name}"'
        found: list[Problem] = []
        if not _NAME.fullmatch(name):
            found.append(
                Problem("", "a mailbox name is letters, digits, '.', '_' or '-' (64 at most)")
            )
        box = _mailbox(name, table, defaults, case_types, found)
        problems.extend(p.prefixed(path) for p in found)
        if box is not None and not found:
            boxes[name] = box
    if problems:
        return None, [p.prefixed("mail") for p in problems]
    return MailSettings(mailboxes=types.MappingProxyType(boxes), own_addresses=own), []
