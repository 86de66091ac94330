"""
The profile's routing, automation and duplicate-detection settings.

These are the ``[routing]``, ``[automations]`` and ``[[duplicates]]`` sections of an
agency profile::

    [routing]
    mode = "first_match"          # or "highest_score"
    route_on_open = true          # route each new case as it is opened
    assign_on_open = true         # and give it to an agent (else it waits in its queue)
    reroute_on_type_change = true
    strategy = "round_robin"      # or "least_loaded"
    language = "prefer"           # or "require", "ignore"
    districts = "springfield-districts.geojson"   # beside the profile file

    [[routing.rules]]             # see civiccrm.routing.rules
    ...

    [automations]
    acknowledge.channels = ["web", "mobile_app", "email", "sms", "api"]
    auto_close.after_business_days = 5
    auto_close.calendar = "city-hall"
    remind_pending.after_business_days = 10
    remind_pending.calendar = "city-hall"

    [[duplicates]]
    case_types = ["001", "005"]
    radius_m = 50
    hours = 72

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from civiccrm.errors import PolicyError, Problem
from civiccrm.models import Channel
from civiccrm.routing.assign import LanguagePolicy, Strategy
from civiccrm.routing.calendar import BusinessCalendar
from civiccrm.routing.geo import DistrictMap, load_districts, parse_districts
from civiccrm.routing.rules import RuleSet, parse_rules

__all__ = [
    "AutoClose",
    "Automations",
    "DuplicateRule",
    "PendingReminder",
    "RoutingSettings",
    "parse_automations",
    "parse_duplicates",
    "parse_routing",
]

_ROUTING_KEYS: Final = frozenset(
    {
        "mode",
        "rules",
        "route_on_open",
        "assign_on_open",
        "reroute_on_type_change",
        "strategy",
        "language",
        "districts",
    }
)

_NO_DISTRICTS: Final = DistrictMap(districts=())


@attrs.frozen(kw_only=True)
class RoutingSettings:
    """
    How cases find their queue and their agent (the ``[routing]`` section).

    .. versionadded:: 0.1.0
    """

    rules: RuleSet = attrs.field(factory=lambda: RuleSet(rules=()))
    #: Route each case as it is opened through the facade.
    route_on_open: bool = True
    #: Give a routed case to an agent at once (else it waits in its queue).
    assign_on_open: bool = True
    #: Route a case again when its case type changes.
    reroute_on_type_change: bool = True
    strategy: Strategy = Strategy.ROUND_ROBIN
    language: LanguagePolicy = LanguagePolicy.PREFER
    #: The districts rules may name, from the profile's GeoJSON.
    districts: DistrictMap = _NO_DISTRICTS

    @property
    def warnings(self) -> tuple[str, ...]:
        """Rules that can never fire because of their order."""
        return self.rules.warnings


@attrs.frozen(kw_only=True)
class AutoClose:
    """Close a resolved case after some business days without a reopen."""

    after_business_days: int
    calendar: str


@attrs.frozen(kw_only=True)
class PendingReminder:
    """Remind the owner of a case pending for more than some business days."""

    after_business_days: int
    calendar: str


@attrs.frozen(kw_only=True)
class Automations:
    """
    The built-in automations (the ``[automations]`` section); each is off unless the
    profile configures it.

    .. versionadded:: 0.1.0
    """

    #: Acknowledge new cases that came in on these channels (empty: never).
    acknowledge_channels: frozenset[Channel] = frozenset()
    auto_close: AutoClose | None = None
    remind_pending: PendingReminder | None = None


@attrs.frozen(kw_only=True)
class DuplicateRule:
    """
    An open case of one of ``case_types`` within ``radius_m`` metres and ``hours``
    hours of a new one is proposed as its parent (a ``[[duplicates]]`` entry).

    .. versionadded:: 0.1.0
    """

    case_types: frozenset[str]
    radius_m: float
    hours: float


def _kind(value: object) -> str:
    return type(value).__name__


def _bool(table: Mapping[str, Any], key: str, default: bool, found: list[Problem]) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        found.append(Problem(key, f"expected true or false, got {value!r}"))
        return default
    return value


def _enum(
    table: Mapping[str, Any], key: str, cls: type[enum.StrEnum], default: Any, found: list[Problem]
) -> Any:
    value = table.get(key, default.value)
    try:
        return cls(value)
    except ValueError:
        options = ", ".join(repr(m.value) for m in cls)
        found.append(Problem(key, f"{value!r} is not one of {options}"))
        return default


def parse_routing(
    raw: object,
    *,
    source: str | None,
    case_types: Mapping[str, str],
    departments: Collection[str],
    queues: Collection[str],
    calendars: Mapping[str, BusinessCalendar],
    attributes: Collection[str],
) -> tuple[RoutingSettings | None, list[Problem]]:
    """
    The ``[routing]`` table as settings, or None with every problem (paths start with
    ``routing``). ``districts`` names a GeoJSON file relative to the folder of the
    profile file ``source`` (its real folder, if it is a symbolic link), or is the
    GeoJSON itself, as a table.
    """
    if raw is None:
        return RoutingSettings(), []
    if not isinstance(raw, Mapping):
        return None, [Problem("routing", f"expected a table ([routing]), got {_kind(raw)}")]
    found: list[Problem] = []
    for key in raw:
        if key not in _ROUTING_KEYS:
            known = ", ".join(sorted(_ROUTING_KEYS))
            found.append(Problem(str(key), f"unknown setting (known: {known})"))
    districts = _NO_DISTRICTS
    if "districts" in raw:
        districts = _districts(raw["districts"], source, found)
    route_on_open = _bool(raw, "route_on_open", True, found)
    assign_on_open = _bool(raw, "assign_on_open", True, found)
    reroute = _bool(raw, "reroute_on_type_change", True, found)
    strategy = _enum(raw, "strategy", Strategy, Strategy.ROUND_ROBIN, found)
    language = _enum(raw, "language", LanguagePolicy, LanguagePolicy.PREFER, found)
    problems = [p.prefixed("routing") for p in found]
    rules, rule_problems = parse_rules(
        raw,
        path="routing",
        case_types=case_types,
        departments=departments,
        queues=queues,
        calendars=calendars,
        districts=districts.codes(),
        attributes=attributes,
    )
    problems.extend(rule_problems)
    if problems or rules is None:
        return None, problems
    return (
        RoutingSettings(
            rules=rules,
            route_on_open=route_on_open,
            assign_on_open=assign_on_open,
            reroute_on_type_change=reroute,
            strategy=strategy,
            language=language,
            districts=districts,
        ),
        [],
    )


def _districts(raw: object, source: str | None, found: list[Problem]) -> DistrictMap:
    try:
        if isinstance(raw, str):
            path = Path(raw)
            if not path.is_absolute() and source is not None:
                # Beside the profile file itself (a symlinked profile's real folder).
                path = Path(source).resolve().parent / path
            return load_districts(path)
        if isinstance(raw, Mapping):
            return parse_districts(raw, source=source)
    except PolicyError as exc:
        found.extend(p.prefixed("districts") for p in exc.problems)
        if not exc.problems:
            found.append(Problem("districts", str(exc)))
        return _NO_DISTRICTS
    found.append(
        Problem("districts", f"expected a GeoJSON file name or a GeoJSON table, got {_kind(raw)}")
    )
    return _NO_DISTRICTS


_AUTOMATION_KEYS: Final = ("acknowledge", "auto_close", "remind_pending")


def _business_days(
    raw: object,
    name: str,
    calendars: Collection[str],
    found: list[Problem],
) -> tuple[int, str] | None:
    if not isinstance(raw, Mapping):
        found.append(Problem(name, f"expected a table, got {_kind(raw)}"))
        return None
    for key in raw:
        if key not in ("after_business_days", "calendar"):
            found.append(
                Problem(f"{name}.{key}", "unknown setting (known: after_business_days, calendar)")
            )
    days = raw.get("after_business_days")
    ok = True
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        found.append(
            Problem(f"{name}.after_business_days", f"expected a whole number >= 1, got {days!r}")
        )
        ok = False
    calendar = raw.get("calendar")
    if not isinstance(calendar, str):
        found.append(Problem(f"{name}.calendar", "is required: the calendar to count days on"))
        ok = False
    elif calendar not in calendars:
        found.append(Problem(f"{name}.calendar", f"no calendar {calendar!r}"))
        ok = False
    if not ok:
        return None
    assert isinstance(days, int)
    assert isinstance(calendar, str)
    return days, calendar


def parse_automations(
    raw: object, *, calendars: Collection[str]
) -> tuple[Automations | None, list[Problem]]:
    """The ``[automations]`` table, or None with every problem (paths start there)."""
    if raw is None:
        return Automations(), []
    if not isinstance(raw, Mapping):
        return None, [Problem("automations", f"expected a table, got {_kind(raw)}")]
    found: list[Problem] = []
    for key in raw:
        if key not in _AUTOMATION_KEYS:
            found.append(
                Problem(str(key), f"unknown automation (known: {', '.join(_AUTOMATION_KEYS)})")
            )
    channels: frozenset[Channel] = frozenset()
    if "acknowledge" in raw:
        ack = raw["acknowledge"]
        if not isinstance(ack, Mapping) or set(ack) - {"channels"}:
            found.append(Problem("acknowledge", "expected a table with channels = [...]"))
        else:
            values = ack.get("channels", [])
            if not isinstance(values, list):
                found.append(Problem("acknowledge.channels", "expected a list of channels"))
            else:
                ok: set[Channel] = set()
                for i, value in enumerate(values):
                    try:
                        ok.add(Channel(value))
                    except ValueError:
                        options = ", ".join(c.value for c in Channel)
                        found.append(
                            Problem(
                                f"acknowledge.channels[{i}]",
                                f"{value!r} is not a channel (one of {options})",
                            )
                        )
                channels = frozenset(ok)
    auto_close = remind = None
    if "auto_close" in raw:
        got = _business_days(raw["auto_close"], "auto_close", calendars, found)
        if got is not None:
            auto_close = AutoClose(after_business_days=got[0], calendar=got[1])
    if "remind_pending" in raw:
        got = _business_days(raw["remind_pending"], "remind_pending", calendars, found)
        if got is not None:
            remind = PendingReminder(after_business_days=got[0], calendar=got[1])
    if found:
        return None, [p.prefixed("automations") for p in found]
    return Automations(
        acknowledge_channels=channels, auto_close=auto_close, remind_pending=remind
    ), []


def parse_duplicates(
    raw: object, *, case_types: Collection[str]
) -> tuple[tuple[DuplicateRule, ...] | None, list[Problem]]:
    """The ``[[duplicates]]`` array, or None with every problem."""
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        return None, [Problem("duplicates", f"expected an array of tables, got {_kind(raw)}")]
    found: list[Problem] = []
    rules: list[DuplicateRule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        path = f"duplicates[{i}]"
        if not isinstance(item, Mapping):
            found.append(Problem(path, f"expected a table, got {_kind(item)}"))
            continue
        at: list[Problem] = []
        for key in item:
            if key not in ("case_types", "radius_m", "hours"):
                at.append(Problem(str(key), "unknown setting (known: case_types, radius_m, hours)"))
        types = item.get("case_types")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            at.append(Problem("case_types", "expected a non-empty list of case type codes"))
            types = []
        for j, code in enumerate(types):
            if code not in case_types:
                at.append(Problem(f"case_types[{j}]", f"no case type {code!r}"))
            elif code in seen:
                at.append(
                    Problem(f"case_types[{j}]", f"{code!r} is in duplicates[{seen[code]}] too")
                )
            else:
                seen[code] = i
        numbers: dict[str, float] = {}
        for key, low, high in (("radius_m", 1.0, 5000.0), ("hours", 0.0, 24.0 * 365)):
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                at.append(Problem(key, f"is required: a number from {low:g} to {high:g}"))
            elif not low <= value <= high:
                at.append(Problem(key, f"{value!r} is not from {low:g} to {high:g}"))
            else:
                numbers[key] = float(value)
        if at:
            found.extend(p.prefixed(path) for p in at)
            continue
        rules.append(
            DuplicateRule(
                case_types=frozenset(types), radius_m=numbers["radius_m"], hours=numbers["hours"]
            )
        )
    if found:
        return None, found
    return tuple(rules), []
