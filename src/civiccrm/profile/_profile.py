"""The agency profile: an agency described in one TOML file."""

from __future__ import annotations

import tomllib
import zoneinfo
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import phonenumbers

from civiccrm.errors import NotFoundError, PolicyError, Problem, ValidationError
from civiccrm.models import CaseType, Department, Queue, make_converter
from civiccrm.models._common import language_tag, non_blank, slug
from civiccrm.models._convert import problems_of

__all__ = ["Agency", "Profile", "load_profile", "parse_profile", "springfield_path"]

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


def _index(items: Sequence[Any]) -> Mapping[str, Any]:
    return {item.code: item for item in items}


@attrs.frozen(kw_only=True)
class Profile:
    """
    An agency's own policies as data: its departments, queues and case types (and, in
    later releases, calendars, SLA targets, routing rules, roles and retention).

    Load one with :func:`load_profile`. A profile is immutable and checked as a whole
    when it loads: references between sections resolve, codes are unique.

    .. versionadded:: 0.1.0
    """

    agency: Agency
    departments: tuple[Department, ...] = ()
    queues: tuple[Queue, ...] = ()
    case_types: tuple[CaseType, ...] = ()
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


_SECTIONS: Final = ("agency", "departments", "queues", "case_types")


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
