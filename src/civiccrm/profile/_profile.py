"""The agency profile: an agency described in one TOML file."""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import re
import tomllib
import types
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import phonenumbers

from civiccrm.errors import NotFoundError, PolicyError, Problem, ValidationError
from civiccrm.models import (
    Case,
    CaseEvent,
    CaseType,
    Citizen,
    Department,
    Interaction,
    Organization,
    PersonalData,
    Priority,
    Queue,
    make_converter,
    personal_data_fields,
)
from civiccrm.models._common import _kind, language_tag, non_blank, slug
from civiccrm.models._convert import problems_of
from civiccrm.privacy.retention import RetentionSchedule, parse_retention
from civiccrm.profile._comms import (
    DEFAULT_COMMUNICATIONS,
    CommunicationsSettings,
    parse_communications,
)
from civiccrm.profile._mail import DEFAULT_MAIL, MailSettings, parse_mail
from civiccrm.profile._open311 import DEFAULT_OPEN311, Open311Settings, parse_open311
from civiccrm.routing.calendar import BusinessCalendar, Interval
from civiccrm.routing.settings import (
    Automations,
    DuplicateRule,
    RoutingSettings,
    parse_automations,
    parse_duplicates,
    parse_routing,
)
from civiccrm.routing.sla import (
    EscalationStep,
    SlaOverride,
    SlaPolicy,
    SlaStart,
    SlaTarget,
    SlaUnit,
    amount_problem,
    default_met_by,
    met_by_problem,
    pause_status_problem,
    repeat_problem,
    reset_problem,
    warnings_problems,
)

__all__ = [
    "ROLE_MODELS",
    "WRITE_KINDS",
    "Agency",
    "Profile",
    "Role",
    "Visibility",
    "load_profile",
    "parse_profile",
    "springfield_path",
]

T = TypeVar("T")


def _time_zone(_inst: object, field: attrs.Attribute[Any], value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the tz database ('America').
        raise ValidationError.at(
            field.name, f"{value!r} is not an IANA time zone (such as 'America/Chicago')"
        ) from None


def _region(_inst: object, field: attrs.Attribute[Any], value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError.at(
            field.name, f"{value!r} is not an ISO 3166 region code (such as 'US' or 'GB')"
        )


@attrs.frozen(kw_only=True)
class Agency:
    """
    Who the profile describes.

    .. versionadded:: 0.1.0
    """

    code: str = attrs.field(validator=slug)
    name: str = attrs.field(validator=non_blank)
    #: ISO 3166 region in which phone numbers without a country code are read.
    default_region: str = attrs.field(validator=_region)
    #: IANA time zone of the agency; calendars default to it.
    time_zone: str = attrs.field(validator=_time_zone)
    #: BCP 47 tag of the agency's default language.
    locale: str = attrs.field(
        default="en",
        converter=attrs.Converter(language_tag, takes_field=True),  # type: ignore[misc]
    )
    #: The code of the SLA policy for case types that name none; None for no SLA.
    default_sla_policy: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(slug)
    )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The agency's time zone."""
        return zoneinfo.ZoneInfo(self.time_zone)


class Visibility(enum.StrEnum):
    """
    How much of a personal data field a role sees.

    .. versionadded:: 0.1.0
    """

    #: The value as stored.
    CLEAR = "clear"
    #: The value with the identifying part taken out, by the masking rules of
    #: :mod:`civiccrm.privacy.access` (``j***@example.org``, ``J.``, ``[redacted]``).
    MASKED = "masked"
    #: Nothing: the field holds its empty value (None, an empty list, False).
    HIDDEN = "hidden"
    #: Free text with the personal data in it replaced by its type (``<PERSON 1>``,
    #: ``<PHONE>``), found by :mod:`civiccrm.privacy.detect`; other values masked.
    REDACTED = "redacted"


#: The models whose personal data fields a role names, by the name used in a role's
#: ``fields`` keys (``"Citizen.given_name"``).
ROLE_MODELS: Final[Mapping[str, type]] = types.MappingProxyType(
    {
        "Citizen": Citizen,
        "Organization": Organization,
        "Case": Case,
        "Interaction": Interaction,
        "CaseEvent": CaseEvent,
    }
)

#: The kinds of write a role may be allowed, with the facade calls each one covers.
WRITE_KINDS: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "citizen": "create and update citizens (crm.citizens.create, .update)",
        "organization": "create and update organizations (crm.organizations.create, .update)",
        "case": "open and edit cases, link them (crm.cases.open, .update, .link)",
        "interaction": "log interactions, internal notes included (crm.interactions.log)",
        "note": "add a note to a case's history (crm.cases.note)",
        "transition": "change a case's status, reopen it (crm.cases.transition, .reopen)",
        "assign": "assign and unassign cases (crm.cases.assign)",
        "erase": "erase a party's personal data (crm.citizens.erase, right to erasure)",
        "export": "export personal data (subject-access requests, data extracts)",
        "import": "bulk imports of parties and cases (crm.citizens.bulk_import, ...)",
        "hold": "place and release legal holds (crm.retention.place_hold, .release_hold)",
        "retention": "dispose of records under retention schedules (crm.retention.apply)",
    }
)

#: The field keys that name every field of one kind, in every model.
_CATEGORY_KEYS: Final = {kind.value: kind for kind in PersonalData}
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    """``key`` as written in a TOML path: bare if it can be, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _field_key_problem(key: str) -> str | None:
    """What is wrong with a role's field key, or None if it names personal data."""
    if key in _CATEGORY_KEYS:
        return None
    model, dot, field = key.partition(".")
    if not dot:
        return (
            f'{key!r} is not a field key: write "<Model>.<field>", "<Model>.*", "direct" or "quasi"'
        )
    cls = ROLE_MODELS.get(model)
    if cls is None:
        return f"no model {model!r} (roles name fields of {', '.join(ROLE_MODELS)})"
    if field == "*":
        return None
    personal = [f.name for f in personal_data_fields(cls)]
    if field in personal:
        return None
    listed = ", ".join(personal)
    if field in attrs.fields_dict(cls):
        return (
            f"{model}.{field} is not personal data; a role names only personal data "
            f"fields (those of {model}: {listed})"
        )
    return f"{model} has no field {field!r} (its personal data fields: {listed})"


def _visibility(value: object) -> Visibility:
    """``value`` as a :class:`Visibility`; raises ValueError saying what it may be."""
    if isinstance(value, Visibility):
        return value
    if isinstance(value, str):
        try:
            return Visibility(value)
        except ValueError:
            pass
    options = ", ".join(repr(v.value) for v in Visibility)
    raise ValueError(f"{value!r} is not one of {options}")


def _check_fields(raw: Mapping[Any, Any]) -> tuple[dict[str, Visibility], list[Problem]]:
    """A role's ``fields`` table checked: the good entries and every problem."""
    out: dict[str, Visibility] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            problems.append(Problem("fields", f"keys must be strings, got {_kind(key)}"))
            continue
        path = f"fields.{_toml_key(key)}"
        message = _field_key_problem(key)
        if message is not None:
            problems.append(Problem(path, message))
        try:
            out[key] = _visibility(value)
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
    return out, problems


def _write_kind_problem(kind: object) -> str | None:
    """What is wrong with a write kind, or None."""
    if not isinstance(kind, str):
        return f"expected a string, got {_kind(kind)}"
    if kind not in WRITE_KINDS:
        return f"{kind!r} is not a write kind (one of {', '.join(map(repr, WRITE_KINDS))})"
    return None


def _role_fields(value: Mapping[str, Visibility | str]) -> Mapping[str, Visibility]:
    raw: object = value
    if not isinstance(raw, Mapping):
        raise ValidationError.at("fields", f"expected a mapping, got {_kind(raw)}")
    out, problems = _check_fields(raw)
    if problems:
        raise ValidationError(problems, record_type="Role")
    return types.MappingProxyType(out)


def _role_writes(value: Iterable[str]) -> frozenset[str]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("writes", f"expected a set of write kinds, got {_kind(raw)}")
    out = frozenset(raw)
    problems = [
        Problem("writes", message)
        for message in sorted(filter(None, map(_write_kind_problem, out)))
    ]
    if problems:
        raise ValidationError(problems, record_type="Role")
    return out


def _visibility_field(value: Visibility | str) -> Visibility:
    try:
        return _visibility(value)
    except ValueError as exc:
        raise ValidationError.at("default", str(exc)) from None


@attrs.frozen(kw_only=True)
class Role:
    """
    What staff in one role may see of personal data, and which writes they may make.

    ``fields`` maps field keys to a :class:`Visibility`; a personal data field not
    covered by any key gets ``default``. A key is one of, from the most to the least
    specific (the most specific key that covers a field wins):

    - ``"<Model>.<field>"``: one top-level personal data field of a model in
      :data:`ROLE_MODELS`, such as ``"Citizen.given_name"``;
    - ``"<Model>.*"``: every personal data field of that model;
    - ``"direct"`` or ``"quasi"``: every field of that kind, in every model.

    ``writes`` holds kinds from :data:`WRITE_KINDS`. Apply a role with
    :mod:`civiccrm.privacy.access`.

    .. versionadded:: 0.1.0
    """

    #: The role's code, as an agent's ``role`` names it.
    code: str = attrs.field(validator=slug)
    name: str = attrs.field(validator=non_blank)
    description: str | None = None
    #: The visibility of personal data fields that no key in ``fields`` covers.
    default: Visibility = attrs.field(default=Visibility.HIDDEN, converter=_visibility_field)
    fields: Mapping[str, Visibility] = attrs.field(factory=dict, converter=_role_fields, hash=False)
    writes: frozenset[str] = attrs.field(factory=frozenset, converter=_role_writes)

    def may_write(self, kind: str) -> bool:
        """Whether the role allows writes of ``kind`` (False for an unknown kind)."""
        return kind in self.writes


def _role_index(value: Mapping[str, Role]) -> Mapping[str, Role]:
    raw: object = value
    if not isinstance(raw, Mapping):
        raise ValidationError.at("roles", f"expected a mapping of roles, got {_kind(raw)}")
    problems = []
    for key, role in raw.items():
        if not isinstance(role, Role):
            problems.append(Problem(f"roles.{key}", f"expected a Role, got {_kind(role)}"))
        elif role.code != key:
            problems.append(Problem(f"roles.{key}", f"holds the role {role.code!r}"))
    if problems:
        raise ValidationError(problems, record_type="Profile")
    return types.MappingProxyType(dict(value))


def _coded_index(
    value: Mapping[str, Any], section: str, cls: type[Any], label: str
) -> Mapping[str, Any]:
    """A mapping of items by code as a read-only one, checked: each key is its item's code."""
    raw: object = value
    if not isinstance(raw, Mapping):
        raise ValidationError.at(section, f"expected a mapping of {label}s, got {_kind(raw)}")
    problems = []
    for key, item in raw.items():
        if not isinstance(item, cls):
            problems.append(
                Problem(f"{section}.{key}", f"expected a {cls.__name__}, got {_kind(item)}")
            )
        elif item.code != key:
            problems.append(Problem(f"{section}.{key}", f"holds the {label} {item.code!r}"))
    if problems:
        raise ValidationError(problems, record_type="Profile")
    return types.MappingProxyType(dict(value))


def _calendar_index(value: Mapping[str, BusinessCalendar]) -> Mapping[str, BusinessCalendar]:
    return _coded_index(value, "calendars", BusinessCalendar, "calendar")


def _policy_index(value: Mapping[str, SlaPolicy]) -> Mapping[str, SlaPolicy]:
    return _coded_index(value, "sla_policies", SlaPolicy, "SLA policy")


def _names(value: Mapping[str, str]) -> Mapping[str, str]:
    raw: object = value
    if not isinstance(raw, Mapping):
        raise ValidationError.at("calendar_names", f"expected a mapping, got {_kind(raw)}")
    return types.MappingProxyType(dict(value))


def _index(items: Sequence[Any]) -> Mapping[str, Any]:
    return {item.code: item for item in items}


@attrs.frozen(kw_only=True)
class Profile:
    """
    An agency's own policies as data: its departments, queues, case types, roles,
    business calendars and SLA policies (and, in later releases, routing rules and
    retention).

    Load one with :func:`load_profile`. A profile is immutable and checked as a whole
    when it loads: references between sections resolve, codes are unique.

    .. versionadded:: 0.1.0
    """

    agency: Agency
    departments: tuple[Department, ...] = ()
    queues: tuple[Queue, ...] = ()
    case_types: tuple[CaseType, ...] = ()
    #: The roles, by code.
    roles: Mapping[str, Role] = attrs.field(factory=dict, converter=_role_index, hash=False)
    #: The business calendars, by code.
    calendars: Mapping[str, BusinessCalendar] = attrs.field(
        factory=dict,
        converter=_calendar_index,
        hash=False,
    )
    #: The calendars' display names, by code.
    calendar_names: Mapping[str, str] = attrs.field(factory=dict, converter=_names, hash=False)
    #: The SLA policies, by code (see :mod:`civiccrm.routing.sla`).
    sla_policies: Mapping[str, SlaPolicy] = attrs.field(
        factory=dict,
        converter=_policy_index,
        hash=False,
    )
    #: Routing rules, assignment and districts (see :mod:`civiccrm.routing.settings`).
    routing: RoutingSettings = attrs.field(factory=RoutingSettings, eq=False)
    #: The built-in automations the agency switched on.
    automations: Automations = attrs.field(factory=Automations)
    #: Duplicate detection for place-based reports.
    duplicates: tuple[DuplicateRule, ...] = ()
    #: How the agency speaks Open311 GeoReport v2 (the optional ``[open311]`` section).
    open311: Open311Settings = attrs.field(default=DEFAULT_OPEN311, eq=False)
    #: Message templates, languages and surveys (the optional ``[communications]``).
    communications: CommunicationsSettings = attrs.field(default=DEFAULT_COMMUNICATIONS, eq=False)
    #: Inbound mailboxes (the optional ``[mail]`` section).
    mail: MailSettings = attrs.field(default=DEFAULT_MAIL, eq=False)
    #: The retention schedules (the ``[[retention]]`` tables; see
    #: :mod:`civiccrm.privacy.retention`).
    retention: tuple[RetentionSchedule, ...] = ()
    _departments: Mapping[str, Department] = attrs.field(init=False, repr=False, eq=False)
    _queues: Mapping[str, Queue] = attrs.field(init=False, repr=False, eq=False)
    _case_types: Mapping[str, CaseType] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_departments", _index(self.departments))
        object.__setattr__(self, "_queues", _index(self.queues))
        object.__setattr__(self, "_case_types", _index(self.case_types))
        problems = _reference_problems(self)
        if problems:
            raise ValidationError(problems, record_type="Profile")

    def duplicate_rule(self, case_type: str) -> DuplicateRule | None:
        """The duplicate-detection rule of a case type, if it has one."""
        for rule in self.duplicates:
            if case_type in rule.case_types:
                return rule
        return None

    def department(self, code: str) -> Department:
        """The department with this code. Raises NotFoundError."""
        try:
            return self._departments[code]
        except KeyError:
            raise NotFoundError("department", code) from None

    def queue(self, code: str) -> Queue:
        """The queue with this code. Raises NotFoundError."""
        try:
            return self._queues[code]
        except KeyError:
            raise NotFoundError("queue", code) from None

    def case_type(self, code: str) -> CaseType:
        """The case type with this service code. Raises NotFoundError."""
        try:
            return self._case_types[code]
        except KeyError:
            raise NotFoundError("case type", code) from None

    def role(self, code: str) -> Role:
        """The role with this code. Raises NotFoundError."""
        try:
            return self.roles[code]
        except KeyError:
            raise NotFoundError("role", code) from None

    def calendar(self, code: str) -> BusinessCalendar:
        """The business calendar with this code. Raises NotFoundError."""
        try:
            return self.calendars[code]
        except KeyError:
            raise NotFoundError("calendar", code) from None

    def sla_policy(self, code: str) -> SlaPolicy:
        """The SLA policy with this code. Raises NotFoundError."""
        try:
            return self.sla_policies[code]
        except KeyError:
            raise NotFoundError("SLA policy", code) from None


def _reference_problems(profile: Profile) -> list[Problem]:
    """References between calendars, SLA policies and case types that do not resolve."""
    problems = []
    for code in profile.calendar_names:
        if code not in profile.calendars:
            problems.append(Problem(f"calendar_names.{code}", f"no calendar {code!r}"))
    for code, policy in profile.sla_policies.items():
        path = f"sla_policies.{_toml_key(code)}"
        for i, step in enumerate(policy.escalation):
            if step.queue is not None and step.queue not in {q.code for q in profile.queues}:
                problems.append(
                    Problem(f"{path}.escalation[{i}].queue", f"no queue {step.queue!r}")
                )
        if policy.calendar not in profile.calendars:
            problems.append(Problem(f"{path}.calendar", f"no calendar {policy.calendar!r}"))
        for priority, override in policy.priorities.items():
            if override.calendar is not None and override.calendar not in profile.calendars:
                problems.append(
                    Problem(
                        f"{path}.priorities.{priority.value}.calendar",
                        f"no calendar {override.calendar!r}",
                    )
                )
    for i, ct in enumerate(profile.case_types):
        if ct.sla_policy is not None and ct.sla_policy not in profile.sla_policies:
            problems.append(
                Problem(f"case_types[{i}].sla_policy", f"no SLA policy {ct.sla_policy!r}")
            )
    default = profile.agency.default_sla_policy
    if default is not None and default not in profile.sla_policies:
        problems.append(Problem("agency.default_sla_policy", f"no SLA policy {default!r}"))
    return problems


_SECTIONS: Final = (
    "agency",
    "departments",
    "queues",
    "case_types",
    "roles",
    "calendars",
    "sla_policies",
    "routing",
    "automations",
    "duplicates",
    "open311",
    "communications",
    "mail",
    "retention",
)


def _structure(value: object, cls: type[T], path: str, problems: list[Problem]) -> T | None:
    try:
        return _CONVERTER.structure(value, cls)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a Problem
        problems.extend(p.prefixed(path) for p in problems_of(exc))
        return None


def _items(
    data: Mapping[str, Any], key: str, cls: type[T], problems: list[Problem]
) -> tuple[list[tuple[int, T]], bool]:
    """The items of one section that structure cleanly, and whether all of them did."""
    raw = data.get(key, [])
    if not isinstance(raw, list):
        problems.append(Problem(key, f"expected an array of tables ([[{key}]])"))
        return [], False
    _unique(raw, key, problems)
    out = []
    for i, item in enumerate(raw):
        obj = _structure(item, cls, f"{key}[{i}]", problems)
        if obj is not None:
            out.append((i, obj))
    return out, len(out) == len(raw)


def _unique(raw: list[Any], section: str, problems: list[Problem]) -> None:
    # On the raw items, so that a duplicate is found even when one of the pair has
    # other problems too.
    first: dict[str, int] = {}
    for i, item in enumerate(raw):
        code = item.get("code") if isinstance(item, Mapping) else None
        if not isinstance(code, str):
            continue
        if code in first:
            problems.append(
                Problem(
                    f"{section}[{i}].code",
                    f"duplicate code {code!r} (also {section}[{first[code]}])",
                )
            )
        else:
            first[code] = i


_ROLE_KEYS: Final = ("name", "description", "default", "writes", "fields")


def _roles(data: Mapping[str, Any], problems: list[Problem]) -> dict[str, Role]:
    """The roles that load cleanly; a problem for everything else, by its TOML path."""
    raw = data.get("roles", {})
    if not isinstance(raw, Mapping):
        problems.append(
            Problem("roles", f"expected a table of roles ([roles.<code>]), got {_kind(raw)}")
        )
        return {}
    out: dict[str, Role] = {}
    for code, table in raw.items():
        if not isinstance(code, str):
            problems.append(Problem("roles", f"role codes must be strings, got {_kind(code)}"))
            continue
        path = f"roles.{_toml_key(code)}"
        found: list[Problem] = []
        try:
            slug(None, attrs.fields(Role).code, code)
        except ValidationError as exc:
            found.extend(Problem("", p.message) for p in exc.problems)
        if not isinstance(table, Mapping):
            found.append(Problem("", f"expected a table ([{path}]), got {_kind(table)}"))
        else:
            role = _role(code, table, found)
            if role is not None and not found:
                out[code] = role
        problems.extend(p.prefixed(path) for p in found)
    return out


def _role(code: str, table: Mapping[Any, Any], found: list[Problem]) -> Role | None:
    """One ``[roles.<code>]`` table as a Role, or None with its problems in ``found``."""
    problems: list[Problem] = []
    for key in table:
        if key not in _ROLE_KEYS:
            problems.append(Problem(_toml_key(str(key)), "unknown field"))
    name = table.get("name")
    role_name = ""
    if "name" not in table:
        problems.append(Problem("name", "is required"))
    elif not isinstance(name, str):
        problems.append(Problem("name", f"expected a string, got {_kind(name)}"))
    elif not name.strip():
        problems.append(Problem("name", "must not be empty"))
    else:
        role_name = name
    description = table.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(Problem("description", f"expected a string, got {_kind(description)}"))
    default = Visibility.HIDDEN
    if "default" in table:
        try:
            default = _visibility(table["default"])
        except ValueError as exc:
            problems.append(Problem("default", str(exc)))
    writes: list[str] = []
    raw_writes = table.get("writes", [])
    if not isinstance(raw_writes, list | tuple):
        problems.append(Problem("writes", f"expected a list, got {_kind(raw_writes)}"))
    else:
        first: dict[str, int] = {}
        for i, kind in enumerate(raw_writes):
            message = _write_kind_problem(kind)
            if message is not None:
                problems.append(Problem(f"writes[{i}]", message))
            elif kind in first:
                problems.append(
                    Problem(f"writes[{i}]", f"duplicate {kind!r} (also writes[{first[kind]}])")
                )
            else:
                first[kind] = i
                writes.append(kind)
    fields: dict[str, Visibility] = {}
    raw_fields = table.get("fields", {})
    if not isinstance(raw_fields, Mapping):
        problems.append(Problem("fields", f"expected a table, got {_kind(raw_fields)}"))
    else:
        fields, field_problems = _check_fields(raw_fields)
        problems.extend(field_problems)
    found.extend(problems)
    if problems or found:
        return None
    try:
        return Role(
            code=code,
            name=role_name,
            description=description,
            default=default,
            fields=fields,
            writes=writes,
        )
    except ValidationError as exc:  # pragma: no cover - checked above, kept as a safety net
        found.extend(exc.problems)
        return None


# --------------------------------------------------------------------------------------
# Calendars

_CALENDAR_KEYS: Final = (
    "name",
    "description",
    "time_zone",
    "hours",
    "holidays",
    "extra_holidays",
    "half_days",
    "closures",
)
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOLIDAY_KEYS: Final = ("country", "subdivision", "categories")
_CLOSURE_KEYS: Final = ("start", "end", "reason")
_ALWAYS: Final = "24x7"
_SPAN: Final = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")

#: Hours, holidays ... as the calendar is built from them: hashable, for the cache.
_Hours = tuple[tuple[int, tuple[Interval, ...]], ...]
_HalfDays = tuple[tuple[date, tuple[Interval, ...]], ...]


def _interval(value: object) -> Interval | str:
    """A ``"HH:MM-HH:MM"`` working interval, or a message saying what is wrong with it."""
    if not isinstance(value, str):
        return f'expected an interval "HH:MM-HH:MM", got {_kind(value)}'
    match = _SPAN.fullmatch(value)
    if match is None:
        return f'{value!r} is not an interval "HH:MM-HH:MM" (such as "08:00-17:00")'
    oh, om, ch, cm = map(int, match.groups())
    if oh > 23 or om > 59 or ch > 24 or cm > 59 or (ch == 24 and cm):
        return f"{value!r} has a time that is not on a clock (00:00 to 24:00)"
    opening = time(oh, om)
    closing = None if ch == 24 else time(ch, cm)
    if closing == opening:
        return f'{value!r} opens and closes at the same time (a whole day is "00:00-24:00")'
    return opening, closing


def _day_intervals(
    value: object, path: str, found: list[Problem]
) -> tuple[tuple[Interval, ...], list[int]] | None:
    """
    A day's intervals sorted by opening time, with the TOML index of each; None (and
    problems in ``found``) if any is wrong.
    """
    if not isinstance(value, list | tuple):
        found.append(
            Problem(path, f'expected a list of "HH:MM-HH:MM" intervals, got {_kind(value)}')
        )
        return None
    parsed: list[tuple[Interval, int]] = []
    ok = True
    for i, item in enumerate(value):
        got = _interval(item)
        if isinstance(got, str):
            found.append(Problem(f"{path}[{i}]", got))
            ok = False
        else:
            parsed.append((got, i))
    if not ok:
        return None
    parsed.sort(key=lambda pair: pair[0][0])
    return tuple(iv for iv, _ in parsed), [i for _, i in parsed]


def _a_date(value: object) -> date | str:
    """A TOML local date or ``"YYYY-MM-DD"`` text as a date, or what is wrong with it."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
        return f"{value!r} is not a date YYYY-MM-DD"
    return f"expected a date YYYY-MM-DD, got {_kind(value)}"


def _an_instant(value: object, zone: str) -> datetime | str:
    """
    A TOML date-time (an offset one, or a local one read in ``zone``) or the same as
    ISO 8601 text, as an aware datetime in UTC; or what is wrong with it.
    """
    if isinstance(value, str):
        text = value.strip()
        parsed = None
        if len(text) > 10:
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(text)
        if parsed is None:
            return f'{value!r} is not a date and time "YYYY-MM-DDTHH:MM" (an offset is optional)'
        value = parsed
    if not isinstance(value, datetime):
        return f"expected a date and time, got {_kind(value)}"
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=zoneinfo.ZoneInfo(zone))
        return value.astimezone(UTC)
    except (OverflowError, ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
        return f"{value.isoformat()} is out of range"


@functools.lru_cache(maxsize=128)
def _build_calendar(
    code: str,
    zone: str,
    hours: _Hours | None,
    country: str | None,
    subdivision: str | None,
    categories: tuple[str, ...],
    extra: tuple[date, ...],
    half_days: _HalfDays,
    closures: tuple[tuple[datetime, datetime], ...],
) -> BusinessCalendar:
    """
    Build a calendar; cached, because expanding fifty years of public holidays takes a
    while and profiles are loaded again and again (calendars are immutable).
    """
    return BusinessCalendar.build(
        code=code,
        zone=zone,
        hours=None if hours is None else dict(hours),
        holiday_country=country,
        holiday_subdivision=subdivision,
        holiday_categories=categories,
        extra_holidays=extra,
        half_days=dict(half_days),
        closures=closures,
    )


_BUILD_PATH: Final = re.compile(r"(hours|half_days)\[([^\]]+)\](?:\[(\d+)\])?")
_BUILD_KEYS: Final = {
    "holiday_country": "holidays.country",
    "holiday_subdivision": "holidays.subdivision",
    "holiday_categories": "holidays.categories",
    "zone": "time_zone",
}


class _CalendarPaths:
    """Translates the paths of :meth:`BusinessCalendar.build` problems to TOML paths."""

    def __init__(self) -> None:
        self.hours: dict[int, list[int]] = {}
        self.half_days: dict[date, tuple[str, list[int]]] = {}

    def path(self, path: str) -> str:
        match = _BUILD_PATH.match(path)
        if match is not None:
            section, key, index = match.groups()
            if section == "hours" and key.isdigit() and int(key) < 7:
                wd = int(key)
                order = self.hours.get(wd)
                if order is None or index is None or int(index) >= len(order):
                    return "hours"
                return f"hours.{_WEEKDAYS[wd]}[{order[int(index)]}]"
            if section == "half_days":
                try:
                    toml_key, order = self.half_days[date.fromisoformat(key)]
                except (ValueError, KeyError):
                    return "half_days"
                if index is None or int(index) >= len(order):
                    return f"half_days.{_toml_key(toml_key)}"
                return f"half_days.{_toml_key(toml_key)}[{order[int(index)]}]"
            return section
        head = re.match(r"[a-z_]+(\[\d+\])?", path)
        if head is None:
            return ""
        word = head.group(0).partition("[")[0]
        if word in _BUILD_KEYS:
            return _BUILD_KEYS[word]
        if word in ("closures", "extra_holidays"):
            return head.group(0)
        return ""

    def problem(self, problem: Problem) -> Problem:
        message = problem.message
        if message.startswith("overlaps "):
            message = "overlaps " + self.path(message[len("overlaps ") :])
        return Problem(self.path(problem.path), message)


def _text(table: Mapping[Any, Any], key: str, found: list[Problem], *, required: bool) -> str:
    """A string key of a table ('' when missing or wrong, with a problem)."""
    if key not in table:
        if required:
            found.append(Problem(key, "is required"))
        return ""
    value = table[key]
    if not isinstance(value, str):
        found.append(Problem(key, f"expected a string, got {_kind(value)}"))
        return ""
    if not value.strip():
        found.append(Problem(key, "must not be empty"))
        return ""
    return value


def _unknown_keys(
    table: Mapping[Any, Any], known: Sequence[str], prefix: str = ""
) -> list[Problem]:
    return [
        Problem(f"{prefix}{_toml_key(str(key))}", "unknown field")
        for key in table
        if key not in known
    ]


def _code_problem(code: str, found: list[Problem]) -> None:
    try:
        slug(None, attrs.fields(Role).code, code)
    except ValidationError as exc:
        found.extend(Problem("", p.message) for p in exc.problems)


def _calendars(
    data: Mapping[str, Any], default_zone: str, problems: list[Problem]
) -> tuple[dict[str, BusinessCalendar], dict[str, str], bool]:
    """
    The calendars that load cleanly, their names, and whether all of them did; a
    problem for everything else, by its TOML path.
    """
    raw = data.get("calendars", {})
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(
                "calendars", f"expected a table of calendars ([calendars.<code>]), got {_kind(raw)}"
            )
        )
        return {}, {}, False
    out: dict[str, BusinessCalendar] = {}
    names: dict[str, str] = {}
    whole = True
    for code, table in raw.items():
        if not isinstance(code, str):
            problems.append(
                Problem("calendars", f"calendar codes must be strings, got {_kind(code)}")
            )
            whole = False
            continue
        path = f"calendars.{_toml_key(code)}"
        found: list[Problem] = []
        _code_problem(code, found)
        if not isinstance(table, Mapping):
            found.append(Problem("", f"expected a table ([{path}]), got {_kind(table)}"))
        else:
            got = _calendar(code, table, default_zone, found)
            if got is not None and not found:
                out[code], names[code] = got
        if found:
            whole = False
        problems.extend(p.prefixed(path) for p in found)
    return out, names, whole


def _calendar(
    code: str, table: Mapping[Any, Any], default_zone: str, found: list[Problem]
) -> tuple[BusinessCalendar, str] | None:
    """One ``[calendars.<code>]`` table as a calendar and its name, or None."""
    problems = _unknown_keys(table, _CALENDAR_KEYS)
    name = _text(table, "name", problems, required=True)
    _text(table, "description", problems, required=False)
    zone = default_zone
    if "time_zone" in table:
        zone = _text(table, "time_zone", problems, required=True)
        if zone:
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                problems.append(
                    Problem(
                        "time_zone",
                        f"{zone!r} is not an IANA time zone (such as 'America/Chicago')",
                    )
                )
                zone = ""
    paths = _CalendarPaths()
    hours = _hours(table, paths, problems)
    country, subdivision, categories = _holidays(table.get("holidays"), problems)
    extra = _extra_holidays(table.get("extra_holidays", []), problems)
    half_days = _half_days(table.get("half_days", {}), paths, problems)
    closures = _closures(table.get("closures", []), zone or "UTC", problems)
    found.extend(problems)
    if problems or hours is False:
        return None
    try:
        calendar = _build_calendar(
            code, zone, hours, country, subdivision, categories, extra, half_days, closures
        )
    except Exception as exc:  # noqa: BLE001 - the holidays package, say: a Problem too
        # The builder stops at its first problem: build the hours and the holidays
        # apart, to list the problems of both.
        parts = (
            (code, zone, hours, None, None, (), extra, half_days, closures),
            (code, zone, None, country, subdivision, categories, (), (), ()),
        )
        built: list[Problem] = []
        for args in parts:
            try:
                _build_calendar(*args)
            except ValidationError as part:
                for problem in map(paths.problem, part.problems):
                    if problem not in built and _mirror(problem) not in built:
                        built.append(problem)
            except Exception:  # noqa: BLE001 - reported below
                pass
        if not built:
            if isinstance(exc, ValidationError):
                built.extend(paths.problem(p) for p in exc.problems)
            else:
                built.append(Problem("", f"cannot build the calendar: {exc}"))
        found.extend(built)
        return None
    return calendar, name


def _mirror(problem: Problem) -> Problem | None:
    """For "A: overlaps B", the same overlap said the other way round ("B: overlaps A")."""
    prefix = "overlaps "
    if not problem.message.startswith(prefix):
        return None
    return Problem(problem.message[len(prefix) :], prefix + problem.path)


def _hours(
    table: Mapping[Any, Any], paths: _CalendarPaths, problems: list[Problem]
) -> _Hours | bool | None:
    """The weekly hours (None for 24x7); False, with problems, if they are wrong."""
    if "hours" not in table:
        problems.append(Problem("hours", f'is required: "{_ALWAYS}" or a table of days'))
        return False
    raw = table["hours"]
    if isinstance(raw, str):
        if raw == _ALWAYS:
            return None
        problems.append(
            Problem("hours", f'{raw!r} is not "{_ALWAYS}"; give "{_ALWAYS}" or a table of days')
        )
        return False
    if not isinstance(raw, Mapping):
        problems.append(
            Problem("hours", f'expected "{_ALWAYS}" or a table of days, got {_kind(raw)}')
        )
        return False
    out: list[tuple[int, tuple[Interval, ...]]] = []
    ok = True
    for day, value in raw.items():
        path = f"hours.{_toml_key(str(day))}"
        if day not in _WEEKDAYS:
            problems.append(Problem(path, f"unknown day (one of {', '.join(_WEEKDAYS)})"))
            ok = False
            continue
        got = _day_intervals(value, path, problems)
        if got is None:
            ok = False
            continue
        wd = _WEEKDAYS.index(day)
        paths.hours[wd] = got[1]
        out.append((wd, got[0]))
    if not ok:
        return False
    if not any(intervals for _, intervals in out):
        problems.append(Problem("hours", 'the calendar is never open: give some hours (or "24x7")'))
        return False
    return tuple(sorted(out))


def _holidays(
    raw: object, problems: list[Problem]
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """A calendar's ``holidays`` table: country, subdivision, categories."""
    if raw is None:
        return None, None, ()
    if not isinstance(raw, Mapping):
        problems.append(
            Problem("holidays", f'expected a table {{ country = "US", ... }}, got {_kind(raw)}')
        )
        return None, None, ()
    found = _unknown_keys(raw, _HOLIDAY_KEYS)
    country = _text(raw, "country", found, required=True) or None
    subdivision = _text(raw, "subdivision", found, required=False) or None
    categories: list[str] = []
    value = raw.get("categories", [])
    if not isinstance(value, list | tuple):
        found.append(Problem("categories", f"expected a list of strings, got {_kind(value)}"))
    else:
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                found.append(Problem(f"categories[{i}]", f"expected a category, got {_kind(item)}"))
            else:
                categories.append(item)
    problems.extend(p.prefixed("holidays") for p in found)
    return country, subdivision, tuple(categories)


def _extra_holidays(raw: object, problems: list[Problem]) -> tuple[date, ...]:
    if not isinstance(raw, list | tuple):
        problems.append(Problem("extra_holidays", f"expected a list of dates, got {_kind(raw)}"))
        return ()
    out = []
    for i, item in enumerate(raw):
        got = _a_date(item)
        if isinstance(got, str):
            problems.append(Problem(f"extra_holidays[{i}]", got))
        else:
            out.append(got)
    return tuple(out)


def _half_days(raw: object, paths: _CalendarPaths, problems: list[Problem]) -> _HalfDays:
    if not isinstance(raw, Mapping):
        problems.append(
            Problem("half_days", f'expected a table {{ "YYYY-MM-DD" = [...] }}, got {_kind(raw)}')
        )
        return ()
    out: dict[date, tuple[Interval, ...]] = {}
    for key, value in raw.items():
        path = f"half_days.{_toml_key(str(key))}"
        day = _a_date(key)
        if isinstance(day, str):
            problems.append(Problem(path, day))
            continue
        if day in out:
            problems.append(Problem(path, f"{day} is given twice"))
            continue
        got = _day_intervals(value, path, problems)
        if got is not None:
            out[day] = got[0]
            paths.half_days[day] = (str(key), got[1])
    return tuple(sorted(out.items()))


def _closures(
    raw: object, zone: str, problems: list[Problem]
) -> tuple[tuple[datetime, datetime], ...]:
    if not isinstance(raw, list | tuple):
        problems.append(
            Problem("closures", f"expected an array of tables ({{ start, end }}), got {_kind(raw)}")
        )
        return ()
    out = []
    for i, item in enumerate(raw):
        path = f"closures[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(path, f"expected a table {{ start, end }}, got {_kind(item)}"))
            continue
        found = _unknown_keys(item, _CLOSURE_KEYS)
        _text(item, "reason", found, required=False)
        ends: list[datetime] = []
        for key in ("start", "end"):
            if key not in item:
                found.append(Problem(key, "is required"))
                continue
            got = _an_instant(item[key], zone)
            if isinstance(got, str):
                found.append(Problem(key, got))
            else:
                ends.append(got)
        if len(ends) == 2 and not found:
            if ends[1] <= ends[0]:
                found.append(Problem("end", "must be after start"))
            else:
                out.append((ends[0], ends[1]))
        problems.extend(p.prefixed(path) for p in found)
    return tuple(out)


# --------------------------------------------------------------------------------------
# SLA policies

_POLICY_KEYS: Final = (
    "name",
    "description",
    "calendar",
    "start",
    "warnings",
    "pause_statuses",
    "reset_on",
    "targets",
    "priorities",
    "escalation",
)
_ESCALATION_KEYS: Final = ("after_minutes", "after_hours", "raise_priority", "queue", "notify")
_UNITS: Final = tuple(u.value for u in SlaUnit)
_TARGET_KEYS: Final = ("name", "met_by", "repeat", *_UNITS)
_OVERRIDE_KEYS: Final = ("calendar", "targets")


def _sla_policies(
    data: Mapping[str, Any], calendars: set[str] | None, problems: list[Problem]
) -> tuple[dict[str, SlaPolicy], bool]:
    """
    The SLA policies that load cleanly, and whether all of them did. References to
    calendars are checked when ``calendars`` (the codes of a whole section) is given.
    """
    raw = data.get("sla_policies", {})
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(
                "sla_policies",
                f"expected a table of SLA policies ([sla_policies.<code>]), got {_kind(raw)}",
            )
        )
        return {}, False
    out: dict[str, SlaPolicy] = {}
    whole = True
    for code, table in raw.items():
        if not isinstance(code, str):
            problems.append(
                Problem("sla_policies", f"policy codes must be strings, got {_kind(code)}")
            )
            whole = False
            continue
        path = f"sla_policies.{_toml_key(code)}"
        found: list[Problem] = []
        _code_problem(code, found)
        if not isinstance(table, Mapping):
            found.append(Problem("", f"expected a table ([{path}]), got {_kind(table)}"))
        else:
            policy = _sla_policy(code, table, calendars, found)
            if policy is not None and not found:
                out[code] = policy
        if found:
            whole = False
        problems.extend(p.prefixed(path) for p in found)
    return out, whole


def _calendar_ref(
    table: Mapping[Any, Any], calendars: set[str] | None, found: list[Problem], *, required: bool
) -> str | None:
    code = _text(table, "calendar", found, required=required)
    if not code:
        return None
    if calendars is not None and code not in calendars:
        found.append(Problem("calendar", f"no calendar {code!r}"))
    return code


def _choices(
    table: Mapping[Any, Any], key: str, check: Any, found: list[Problem]
) -> list[str] | None:
    """A list of distinct strings, each checked by ``check`` (None if the key is absent)."""
    if key not in table:
        return None
    raw = table[key]
    if not isinstance(raw, list | tuple):
        found.append(Problem(key, f"expected a list of strings, got {_kind(raw)}"))
        return None
    out: list[str] = []
    first: dict[str, int] = {}
    for i, item in enumerate(raw):
        message = check(item)
        if message is not None:
            found.append(Problem(f"{key}[{i}]", message))
        elif item in first:
            found.append(Problem(f"{key}[{i}]", f"duplicate {item!r} (also {key}[{first[item]}])"))
        else:
            first[item] = i
            out.append(item)
    return out


def _sla_policy(
    code: str, table: Mapping[Any, Any], calendars: set[str] | None, found: list[Problem]
) -> SlaPolicy | None:
    """One ``[sla_policies.<code>]`` table as an SlaPolicy, or None with its problems."""
    problems = _unknown_keys(table, _POLICY_KEYS)
    name = _text(table, "name", problems, required=True)
    description = _text(table, "description", problems, required=False) or None
    calendar = _calendar_ref(table, calendars, problems, required=True)
    start = SlaStart.REPORTED
    if "start" in table:
        value = table["start"]
        if value in ("reported", "opened"):
            start = SlaStart(value)
        else:
            problems.append(Problem("start", f"{value!r} is not 'reported' or 'opened'"))
    warnings: tuple[float, ...] = (0.5, 0.75)
    if "warnings" in table:
        raw = table["warnings"]
        if not isinstance(raw, list | tuple):
            problems.append(Problem("warnings", f"expected a list of fractions, got {_kind(raw)}"))
        else:
            problems.extend(warnings_problems(raw))
            warnings = tuple(raw)
    pause = _choices(table, "pause_statuses", pause_status_problem, problems)
    reset = _choices(table, "reset_on", reset_problem, problems)
    targets: list[SlaTarget] = []
    if "targets" not in table:
        problems.append(Problem("targets", "is required: a policy needs at least one target"))
    else:
        targets = _target_list(table["targets"], "targets", {}, problems, required=True)
    # Targets by name, to check that a priority's target is met as the policy's target of
    # that name (or another priority's) is.
    known = {t.name: t for t in targets}
    priorities: dict[Priority, SlaOverride] = {}
    raw_priorities = table.get("priorities", {})
    if not isinstance(raw_priorities, Mapping):
        problems.append(
            Problem(
                "priorities",
                f"expected a table of priorities ([...priorities.<priority>]), "
                f"got {_kind(raw_priorities)}",
            )
        )
    else:
        for key, value in raw_priorities.items():
            path = f"priorities.{_toml_key(str(key))}"
            if key not in {p.value for p in Priority}:
                options = ", ".join(p.value for p in Priority)
                problems.append(Problem(path, f"{key!r} is not a priority (one of {options})"))
                continue
            at_path: list[Problem] = []
            override = _override(value, calendars, known, at_path)
            problems.extend(p.prefixed(path) for p in at_path)
            if override is not None:
                priorities[Priority(key)] = override
                for target in override.targets:
                    known.setdefault(target.name, target)
    escalation = _escalation(table.get("escalation", []), problems)
    found.extend(problems)
    if problems or calendar is None:
        return None
    try:
        return SlaPolicy(
            code=code,
            name=name,
            description=description,
            calendar=calendar,
            start=start,
            warnings=warnings,
            pause_statuses=frozenset({"pending"}) if pause is None else pause,
            reset_on=frozenset({"case_type_changed"}) if reset is None else reset,
            targets=targets,
            priorities=priorities,
            escalation=escalation,
        )
    except ValidationError as exc:  # pragma: no cover - checked above, kept as a safety net
        found.extend(exc.problems)
        return None


def _escalation(raw: object, problems: list[Problem]) -> tuple[EscalationStep, ...]:
    """``escalation = [{ after_hours = 0, raise_priority = true, queue = ..., notify = [...] }]``."""
    if not isinstance(raw, list | tuple):
        problems.append(Problem("escalation", f"expected a list of steps, got {_kind(raw)}"))
        return ()
    steps: list[EscalationStep] = []
    previous: timedelta | None = None
    for i, item in enumerate(raw):
        path = f"escalation[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(path, f"expected a table, got {_kind(item)}"))
            continue
        at = [p.prefixed(path) for p in _unknown_keys(item, _ESCALATION_KEYS)]
        after = timedelta(0)
        for key, unit in (("after_minutes", 60), ("after_hours", 3600)):
            if key in item:
                value = item[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    at.append(Problem(f"{path}.{key}", f"expected a number >= 0, got {value!r}"))
                else:
                    after = timedelta(seconds=value * unit)
        if "after_minutes" in item and "after_hours" in item:
            at.append(Problem(path, "give after_minutes or after_hours, not both"))
        if previous is not None and after <= previous:
            at.append(Problem(path, "each step must come after the one before"))
        previous = after
        raise_priority = item.get("raise_priority", False)
        if not isinstance(raise_priority, bool):
            at.append(Problem(f"{path}.raise_priority", "expected true or false"))
        queue = item.get("queue")
        if queue is not None and not isinstance(queue, str):
            at.append(Problem(f"{path}.queue", f"expected a queue code, got {_kind(queue)}"))
        notify = item.get("notify", [])
        try:
            step = EscalationStep(
                after=after,
                raise_priority=bool(raise_priority),
                queue=queue if isinstance(queue, str) else None,
                notify=notify,
            )
        except ValidationError as exc:
            at.extend(p.prefixed(path) for p in exc.problems)
        else:
            if not at:
                steps.append(step)
        problems.extend(at)
    return tuple(steps)


def _override(
    raw: object, calendars: set[str] | None, base: Mapping[str, SlaTarget], found: list[Problem]
) -> SlaOverride | None:
    """One ``[sla_policies.<code>.priorities.<priority>]`` table, or None."""
    if not isinstance(raw, Mapping):
        found.append(Problem("", f"expected a table (calendar, targets), got {_kind(raw)}"))
        return None
    problems = _unknown_keys(raw, _OVERRIDE_KEYS)
    calendar = _calendar_ref(raw, calendars, problems, required=False)
    targets: list[SlaTarget] = []
    if "targets" in raw:
        targets = _target_list(raw["targets"], "targets", base, problems, required=False)
    found.extend(problems)
    if problems:
        return None
    return SlaOverride(calendar=calendar, targets=targets)


def _target_list(
    raw: object,
    key: str,
    base: Mapping[str, SlaTarget],
    found: list[Problem],
    *,
    required: bool,
) -> list[SlaTarget]:
    if not isinstance(raw, list | tuple):
        found.append(Problem(key, f"expected an array of tables ([[...{key}]]), got {_kind(raw)}"))
        return []
    if required and not raw:
        found.append(Problem(key, "a policy needs at least one target"))
    out = []
    first: dict[str, int] = {}
    for i, item in enumerate(raw):
        path = f"{key}[{i}]"
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            name = item["name"]
            if name in first:
                found.append(
                    Problem(f"{path}.name", f"duplicate target {name!r} ({key}[{first[name]}])")
                )
            else:
                first[name] = i
        at_path: list[Problem] = []
        target = _target(item, base, at_path)
        found.extend(p.prefixed(path) for p in at_path)
        if target is not None:
            out.append(target)
    return out


def _target(item: object, base: Mapping[str, SlaTarget], found: list[Problem]) -> SlaTarget | None:
    """One target table, or None with its problems."""
    if not isinstance(item, Mapping):
        found.append(Problem("", f"expected a table {{ name, <amount> }}, got {_kind(item)}"))
        return None
    problems = _unknown_keys(item, _TARGET_KEYS)
    name = _text(item, "name", problems, required=True)
    if name:
        try:
            slug(None, attrs.fields(SlaTarget).name, name)
        except ValidationError as exc:
            problems.extend(exc.problems)
            name = ""
    units = [u for u in SlaUnit if u.value in item]
    unit: SlaUnit | None = None
    amount: Any = None
    if not units:
        problems.append(Problem("", f"needs an amount: one of {', '.join(_UNITS)}"))
    elif len(units) > 1:
        listed = ", ".join(u.value for u in units)
        problems.append(Problem("", f"has {len(units)} amounts ({listed}): give exactly one"))
    else:
        unit = units[0]
        amount = item[unit.value]
        message = amount_problem(unit, amount)
        if message is not None:
            problems.append(Problem(unit.value, message))
    same = base.get(name)
    met_by: str | None = None
    if "met_by" in item:
        value = item["met_by"]
        message = met_by_problem(value)
        if message is not None:
            problems.append(Problem("met_by", message))
        else:
            met_by = value
            if same is not None and value != same.met_by:
                problems.append(
                    Problem(
                        "met_by", f"must be {same.met_by!r}, as for the policy's {name!r} target"
                    )
                )
    elif same is not None:
        met_by = same.met_by
    elif name:
        met_by = default_met_by(name)
        if met_by is None:
            problems.append(
                Problem(
                    "met_by",
                    f"is required for a target named {name!r} "
                    "(only first_response and resolution have a default)",
                )
            )
    repeat = same.repeat if same is not None else False
    if "repeat" in item:
        value = item["repeat"]
        if not isinstance(value, bool):
            problems.append(Problem("repeat", f"expected true or false, got {_kind(value)}"))
        else:
            if same is not None and value != same.repeat:
                problems.append(
                    Problem(
                        "repeat",
                        f"must be {str(same.repeat).lower()}, as for the policy's {name!r} target",
                    )
                )
            repeat = value
    if repeat and met_by is not None:
        message = repeat_problem(met_by)
        if message is not None:
            problems.append(Problem("repeat", message))
    found.extend(problems)
    if problems or unit is None or met_by is None:
        return None
    try:
        return SlaTarget(name=name, unit=unit, amount=amount, met_by=met_by, repeat=repeat)
    except ValidationError as exc:  # pragma: no cover - checked above, kept as a safety net
        found.extend(exc.problems)
        return None


def parse_profile(data: str | Mapping[str, Any], *, source: str | None = None) -> Profile:
    """
    Build a :class:`Profile` from TOML text or from already parsed data.

    Every problem is collected before anything is raised, so one error lists them all,
    each by its TOML path.

    Args:
        data: TOML text, or the dict ``tomllib`` makes of it.
        source: where it came from (a file name), for error messages.

    Raises:
        PolicyError: listing every problem.

    .. versionadded:: 0.1.0
    """
    if isinstance(data, str):
        try:
            data = tomllib.loads(data)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"not valid TOML: {exc}", source=source) from None
        except RecursionError:
            raise PolicyError("not usable TOML: nested too deeply", source=source) from None
        except ValueError as exc:  # an integer literal too long to convert, say
            raise PolicyError(f"not usable TOML: {exc}", source=source) from None
    if not isinstance(data, Mapping):
        raise PolicyError("expected a table at the top level", source=source)
    problems: list[Problem] = []
    for key in data:
        if key not in _SECTIONS:
            problems.append(Problem(str(key), f"unknown section (known: {', '.join(_SECTIONS)})"))
    agency = None
    if "agency" not in data:
        problems.append(Problem("agency", "is required"))
    else:
        agency = _structure(data["agency"], Agency, "agency", problems)
    departments, departments_whole = _items(data, "departments", Department, problems)
    queues, queues_whole = _items(data, "queues", Queue, problems)
    case_types, _ = _items(data, "case_types", CaseType, problems)
    roles = _roles(data, problems)
    zone = agency.time_zone if agency is not None else "UTC"
    calendars, calendar_names, calendars_whole = _calendars(data, zone, problems)
    policies, policies_whole = _sla_policies(
        data, set(calendars) if calendars_whole else None, problems
    )
    department_codes = {d.code for _, d in departments}
    queue_department = {q.code: q.department for _, q in queues}
    # Only check references into sections that structured cleanly, so that one mistake
    # does not echo as many.
    for i, q in queues:
        if departments_whole and q.department not in department_codes:
            problems.append(Problem(f"queues[{i}].department", f"no department {q.department!r}"))
    for i, ct in case_types:
        if departments_whole and ct.department not in department_codes:
            problems.append(
                Problem(f"case_types[{i}].department", f"no department {ct.department!r}")
            )
        if ct.queue is not None and queues_whole:
            owner = queue_department.get(ct.queue)
            if owner is None:
                problems.append(Problem(f"case_types[{i}].queue", f"no queue {ct.queue!r}"))
            elif owner != ct.department:
                problems.append(
                    Problem(
                        f"case_types[{i}].queue",
                        f"queue {ct.queue!r} belongs to department {owner!r}, not {ct.department!r}",
                    )
                )
        if ct.sla_policy is not None and policies_whole and ct.sla_policy not in policies:
            problems.append(
                Problem(f"case_types[{i}].sla_policy", f"no SLA policy {ct.sla_policy!r}")
            )
    default = agency.default_sla_policy if agency is not None else None
    if default is not None and policies_whole and default not in policies:
        problems.append(Problem("agency.default_sla_policy", f"no SLA policy {default!r}"))
    queue_codes = {q.code for _, q in queues}
    for code, policy in policies.items():
        for j, step in enumerate(policy.escalation):
            if step.queue is not None and step.queue not in queue_codes:
                problems.append(
                    Problem(
                        f"sla_policies.{_toml_key(code)}.escalation[{j}].queue",
                        f"no queue {step.queue!r}",
                    )
                )
    routing, found = parse_routing(
        data.get("routing"),
        source=source,
        case_types={ct.code: ct.department for _, ct in case_types},
        departments=department_codes,
        queues=queue_codes,
        calendars=calendars,
        attributes={a.code for _, ct in case_types for a in ct.attributes},
    )
    problems.extend(found)
    automations, found = parse_automations(data.get("automations"), calendars=set(calendars))
    problems.extend(found)
    duplicates, found = parse_duplicates(
        data.get("duplicates"), case_types={ct.code for _, ct in case_types}
    )
    problems.extend(found)
    raw_case_types = data.get("case_types", [])
    case_types_whole = isinstance(raw_case_types, list) and len(case_types) == len(raw_case_types)
    open311, found = parse_open311(
        data.get("open311"),
        case_types={ct.code for _, ct in case_types} if case_types_whole else None,
    )
    problems.extend(found)
    communications, found = parse_communications(
        data.get("communications"),
        case_types={ct.code for _, ct in case_types} if case_types_whole else None,
    )
    problems.extend(found)
    mail, found = parse_mail(
        data.get("mail"),
        case_types={ct.code for _, ct in case_types} if case_types_whole else None,
    )
    problems.extend(found)
    retention, found = parse_retention(
        data.get("retention"),
        case_types={ct.code for _, ct in case_types} if case_types_whole else None,
    )
    problems.extend(found)
    if (
        problems
        or retention is None
        or agency is None
        or routing is None
        or automations is None
        or duplicates is None
        or open311 is None
        or communications is None
        or mail is None
    ):
        raise PolicyError(problems, source=source)
    return Profile(
        agency=agency,
        departments=tuple(d for _, d in departments),
        queues=tuple(q for _, q in queues),
        case_types=tuple(c for _, c in case_types),
        roles=roles,
        calendars=calendars,
        calendar_names=calendar_names,
        sla_policies=policies,
        routing=routing,
        automations=automations,
        duplicates=duplicates,
        open311=open311,
        retention=retention,
        communications=communications,
        mail=mail,
    )


def load_profile(path: str | Path) -> Profile:
    """
    Load an agency profile from a TOML file.

    >>> profile = load_profile(springfield_path())
    >>> profile.agency.name, profile.case_type("001").name
    ('City of Springfield', 'Pothole')

    Raises:
        PolicyError: the file cannot be read, is not TOML, or describes something
            impossible; every problem is listed by its TOML path.

    .. versionadded:: 0.1.0
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror or exc}", source=str(path)) from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not UTF-8 text", source=str(path)) from None
    return parse_profile(text, source=str(path))


def springfield_path() -> Path:
    """
    The path of the example profile shipped with civiccrm: the City of Springfield,
    a mid-size US city with 311 public works, permits and licensing, human services,
    public health, tax inquiries and animal services.

    .. versionadded:: 0.1.0
    """
    return Path(str(resources.files("civiccrm.profile").joinpath("springfield.toml")))


_CONVERTER: Final = make_converter()
