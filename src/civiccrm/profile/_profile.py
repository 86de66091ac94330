"""The agency profile: an agency described in one TOML file."""

from __future__ import annotations

import enum
import json
import re
import tomllib
import types
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
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
    Queue,
    make_converter,
    personal_data_fields,
)
from civiccrm.models._common import _kind, language_tag, non_blank, slug
from civiccrm.models._convert import problems_of

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


def _index(items: Sequence[Any]) -> Mapping[str, Any]:
    return {item.code: item for item in items}


@attrs.frozen(kw_only=True)
class Profile:
    """
    An agency's own policies as data: its departments, queues, case types and roles
    (and, in later releases, calendars, SLA targets, routing rules and retention).

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
    _departments: Mapping[str, Department] = attrs.field(init=False, repr=False, eq=False)
    _queues: Mapping[str, Queue] = attrs.field(init=False, repr=False, eq=False)
    _case_types: Mapping[str, CaseType] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_departments", _index(self.departments))
        object.__setattr__(self, "_queues", _index(self.queues))
        object.__setattr__(self, "_case_types", _index(self.case_types))

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


_SECTIONS: Final = ("agency", "departments", "queues", "case_types", "roles")


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
    if problems or agency is None:
        raise PolicyError(problems, source=source)
    return Profile(
        agency=agency,
        departments=tuple(d for _, d in departments),
        queues=tuple(q for _, q in queues),
        case_types=tuple(c for _, c in case_types),
        roles=roles,
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
