"""
Assignment: which agent takes a case, once routing has chosen its queue and skills.

:func:`assign` runs one pipeline over the agents and says why at every step. An agent
is *eligible* when they pass every filter, in this order (the first one an agent fails
is the step they are excluded at, see :class:`Exclusion`):

1. ``queue``: a member of the case's queue; ``active``: active; ``rotation``: taking
   part in automatic assignment (supervisors usually are not).
2. ``skills``: every skill the routing rules require.
3. ``language``: serves the requester's preferred language, as the
   :class:`LanguagePolicy` says.
4. ``availability``: on shift now: their calendar, if they have one, is open at the
   request's ``at``.
5. ``capacity``: fewer open cases than their capacity (``None`` for no limit).

Then the :class:`Strategy` picks one of the eligible agents, in the rotation order of
the queue: agents by username, starting after the queue's rotation pointer (the
username of the agent given the queue's last case) and wrapping round. Nobody over
capacity is ever chosen. When nobody is eligible the case stays unassigned and the
decision says why.

Language tags (BCP 47) match the way RFC 4647 "basic filtering" does, with the agent's
tag as the range: an agent's tag serves a requester's tag when it equals it or is a
prefix of it at a ``-`` boundary, case-insensitively. So ``es`` serves ``es``, ``es-MX``
and ``es-419``; ``zh-Hant`` serves ``zh-Hant`` and ``zh-Hant-TW`` but not ``zh-Hans``;
an agent who lists only ``es-MX`` does not serve a plain ``es`` (list ``es`` for that).
A requester's language that is the agency's default language (one tag a prefix of the
other: ``en`` and ``en-US``) imposes nothing: every agent is taken to speak it.

The requester's language is personal data. It appears in :attr:`AssignmentDecision.notes`,
in language exclusions and so in :meth:`AssignmentDecision.explain` (a trace for staff
who can see the case); never in :attr:`AssignmentDecision.reason` nor in
:meth:`AssignmentDecision.summary` (the facts stored in the case's event).

:class:`AssignmentBoard` holds loads and rotation pointers in memory, to assign cases
one after another (tests, simulations, benchmarks).

Nothing here does I/O: the same inputs give the same decision, whatever the order of
the agents.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import types
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models import Agent
from civiccrm.models._common import _kind, aware_utc, check_language_tag, non_blank
from civiccrm.routing.calendar import BusinessCalendar

__all__ = [
    "STEPS",
    "AssignmentBoard",
    "AssignmentDecision",
    "AssignmentRequest",
    "Exclusion",
    "LanguagePolicy",
    "Strategy",
    "assign",
    "serves",
]

#: The steps of the pipeline, in order: :attr:`Exclusion.step` is one of them.
STEPS: Final = (
    "queue",
    "active",
    "rotation",
    "skills",
    "language",
    "availability",
    "capacity",
    "strategy",
)

#: With this many agents or more in all, the agents of other queues are not listed one
#: by one in :attr:`AssignmentDecision.excluded` but counted in one note.
LIST_OUTSIDERS_BELOW: Final = 50

E = TypeVar("E", bound=enum.StrEnum)

_NO_CALENDARS: Final[Mapping[str, BusinessCalendar]] = types.MappingProxyType({})


class Strategy(enum.StrEnum):
    """
    How the agent is picked among the eligible ones.

    .. versionadded:: 0.1.0
    """

    #: The next eligible agent after the rotation pointer, by username, wrapping round.
    ROUND_ROBIN = "round_robin"
    #: The eligible agent with the fewest open cases; among those tied, the first after
    #: the rotation pointer (as round robin would pick among them).
    LEAST_LOADED = "least_loaded"


class LanguagePolicy(enum.StrEnum):
    """
    What the requester's preferred language does to assignment.

    .. versionadded:: 0.1.0
    """

    #: Languages play no part.
    IGNORE = "ignore"
    #: If some agent who passes every other filter speaks it, only such agents are
    #: eligible; otherwise the preference is relaxed (and a note says so).
    PREFER = "prefer"
    #: Only agents who speak it are eligible; if none, the case stays unassigned.
    REQUIRE = "require"


# --------------------------------------------------------------------------------------
# Language tags


def _subtags(tag: str) -> list[str]:
    return tag.lower().split("-")


def serves(agent_tag: str, requester_tag: str) -> bool:
    """
    Whether an agent who lists ``agent_tag`` serves a requester who prefers
    ``requester_tag``: the agent's tag equals the requester's or is a prefix of it at a
    subtag boundary, case-insensitively (RFC 4647 basic filtering). ``es`` serves
    ``es-MX``; ``zh-Hant`` serves ``zh-Hant-TW`` but not ``zh-Hans``; ``es-MX`` does
    not serve ``es``.

    .. versionadded:: 0.1.0
    """
    agent = _subtags(agent_tag)
    return _subtags(requester_tag)[: len(agent)] == agent


def _is_default(default: str | None, requester: str) -> bool:
    """Whether ``requester`` is the agency's default language (one a prefix of the other)."""
    return default is not None and (serves(default, requester) or serves(requester, default))


# --------------------------------------------------------------------------------------
# Records


def _optional_tag(value: object, field: attrs.Attribute[Any]) -> str | None:
    if value is None:
        return None
    return _tag(value, field.name)


def _tag(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValidationError.at(path, f"expected a BCP 47 language tag, got {_kind(value)}")
    try:
        return check_language_tag(value)
    except ValueError as exc:
        raise ValidationError.at(path, str(exc)) from None


def _skills(value: object, field: attrs.Attribute[Any]) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.at(field.name, f"expected a list of skills, got {_kind(value)}")
    out = tuple(value)
    for i, skill in enumerate(out):
        if not isinstance(skill, str) or not skill.strip():
            raise ValidationError.at(f"{field.name}[{i}]", "expected a non-empty string")
    return out


def _optional_str(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise ValidationError.at(field.name, f"expected a string, got {_kind(value)}")


@attrs.frozen(kw_only=True)
class AssignmentRequest:
    """
    A case to assign: what routing decided for it, and when.

    .. versionadded:: 0.1.0
    """

    #: The queue routing chose; ``None`` leaves the case unassigned.
    queue: str | None = attrs.field(validator=[_optional_str, non_blank])
    #: Skills every candidate must have (``gas``, ``spanish-legal``).
    skills: tuple[str, ...] = attrs.field(
        default=(),
        converter=attrs.Converter(_skills, takes_field=True),  # type: ignore[misc]
    )
    #: The requester's preferred language, a BCP 47 tag (canonical case is applied).
    language: str | None = attrs.field(
        default=None,
        converter=attrs.Converter(_optional_tag, takes_field=True),  # type: ignore[misc]
    )
    #: The moment of assignment, aware (normalised to UTC): agents' shifts are read then.
    at: datetime = attrs.field(
        converter=attrs.Converter(aware_utc, takes_field=True),  # type: ignore[misc]
    )
    #: The routing rule that chose the queue, for the trace.
    rule: str | None = attrs.field(default=None, validator=_optional_str)


@attrs.frozen(kw_only=True)
class Exclusion:
    """
    An agent of the pool who was not given the case, with the step that left them out
    (one of :data:`STEPS`) and why, in words.

    .. versionadded:: 0.1.0
    """

    agent_id: uuid.UUID
    username: str
    step: str
    reason: str


@attrs.frozen(kw_only=True)
class AssignmentDecision:
    """
    Who gets a case and why: every agent considered, where each one dropped out, the
    rotation pointer before and after.

    .. versionadded:: 0.1.0
    """

    #: The chosen agent, or None when the case stays unassigned.
    agent_id: uuid.UUID | None
    username: str | None
    strategy: Strategy
    rule: str | None
    #: Usernames that passed every filter, in rotation order (by username).
    eligible: tuple[str, ...]
    #: Every other agent of the pool, with the step that excluded them (by username); the
    #: eligible agents not chosen are here too, at step ``strategy``. Agents of other
    #: queues are listed when there are fewer than :data:`LIST_OUTSIDERS_BELOW` agents
    #: in all, and otherwise counted in a note.
    excluded: tuple[Exclusion, ...]
    #: The username the queue's rotation pointer was at.
    pointer_before: str | None
    #: The pointer after this decision: the chosen agent, or ``pointer_before`` if none.
    pointer_after: str | None
    #: Why nobody was chosen (None when somebody was). Never names the requester's
    #: language.
    reason: str | None
    #: Remarks for the trace: a language preference relaxed, agents of other queues not
    #: listed.
    notes: tuple[str, ...] = ()
    #: The case's queue.
    queue: str | None = None

    @property
    def assigned(self) -> bool:
        """Whether an agent was chosen."""
        return self.agent_id is not None

    def explain(self) -> str:
        """
        A readable, multi-line trace of the decision: the rule and queue, the pool, each
        exclusion with its step, the eligible agents, the pointer and the choice.
        """
        lines = [
            f"queue: {self.queue or '(none)'}"
            + (f" (chosen by rule {self.rule})" if self.rule else ""),
            f"strategy: {self.strategy.value}",
            f"pool: {len(self.eligible) + sum(e.step != 'strategy' for e in self.excluded)} "
            "agents considered",
        ]
        dropped = [e for e in self.excluded if e.step != "strategy"]
        if dropped:
            width = max(len(e.username) for e in dropped)
            lines.append("excluded:")
            lines += [f"  {e.username:<{width}}  {e.step}: {e.reason}" for e in dropped]
        lines.append(f"eligible: {', '.join(self.eligible) if self.eligible else '(nobody)'}")
        passed = [e for e in self.excluded if e.step == "strategy"]
        if passed:
            lines.append("not chosen:")
            lines += [f"  {e.username}: {e.reason.removeprefix('not chosen: ')}" for e in passed]
        lines.append(
            f"pointer: {self.pointer_before or '(none)'} -> {self.pointer_after or '(none)'}"
        )
        if self.username is not None:
            lines.append(f"assigned to: {self.username}")
        else:
            lines.append(f"unassigned: {self.reason}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def summary(self) -> dict[str, str | int | None]:
        """
        Flat, JSON-safe facts for an assignment event's data. Nothing about the
        requester (their language is personal data).
        """
        return {
            "assignee": self.username,
            "queue": self.queue,
            "strategy": self.strategy.value,
            "rule": self.rule,
            "eligible_count": len(self.eligible),
            "excluded_count": len(self.excluded),
            "pointer_before": self.pointer_before,
            "pointer_after": self.pointer_after,
            "reason": self.reason,
        }


# --------------------------------------------------------------------------------------
# The pipeline


def _z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _check_agents(agents: Sequence[Agent]) -> None:
    """Refuse duplicate ids and usernames: the rotation pointer is a username."""
    problems = []
    ids: dict[uuid.UUID, int] = {}
    names: dict[str, int] = {}
    for i, agent in enumerate(agents):
        if agent.id in ids:
            problems.append(
                Problem(f"agents[{i}].id", f"duplicate agent id (also agents[{ids[agent.id]}])")
            )
        else:
            ids[agent.id] = i
        if agent.username in names:
            problems.append(
                Problem(
                    f"agents[{i}].username",
                    f"duplicate username {agent.username!r} (also agents[{names[agent.username]}])",
                )
            )
        else:
            names[agent.username] = i
    if problems:
        raise ValidationError(problems)


def _enum(kind: type[E], value: str, path: str) -> E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise ValidationError.at(path, f"{value!r} is not one of {known}") from None


def _early(agent: Agent, queue: str, skills: Sequence[str]) -> tuple[str, str] | None:
    """Steps 1 and 2: the first one ``agent`` fails, with the reason; None if none."""
    if queue not in agent.queues:
        return "queue", f"not in queue {queue}"
    if not agent.active:
        return "active", "inactive"
    if not agent.in_rotation:
        return "rotation", "out of the rotation"
    lacking = [s for s in skills if s not in agent.skills]
    if lacking:
        return "skills", f"lacks skill{'s' if len(lacking) > 1 else ''} {', '.join(lacking)}"
    return None


def _late(
    agent: Agent,
    load: int,
    at: datetime,
    calendars: Mapping[str, BusinessCalendar],
) -> tuple[str, str] | None:
    """Steps 4 and 5: the first one ``agent`` fails, with the reason; None if none."""
    if agent.calendar is not None:
        calendar = calendars.get(agent.calendar)
        if calendar is None:
            return "availability", f"unknown calendar {agent.calendar}"
        if not calendar.is_open(at):
            return "availability", f"off shift: calendar {agent.calendar} is closed at {_z(at)}"
    if agent.capacity is not None and load >= agent.capacity:
        state = "over" if load > agent.capacity else "at"
        return "capacity", f"{state} capacity ({load} of {agent.capacity} open cases)"
    return None


def _why_nobody(step: str, queue: str, everyone: bool, skills: Sequence[str], at: datetime) -> str:
    """
    Why the case stays unassigned: ``step`` removed the last candidates (``everyone``:
    all the queue's agents were removed there).
    """
    if step == "queue":
        return f"no agent in queue {queue}"
    if step == "active":
        return f"no active agent in queue {queue}"
    if step == "rotation":
        return f"no active agent of {queue} is in the rotation"
    if step == "skills":
        return f"no agent of {queue} in the rotation has every required skill ({', '.join(skills)})"
    if step == "language":
        return f"no agent of {queue} who could take the case speaks the requester's language"
    if step == "availability":
        if everyone:
            return f"no agent of {queue} is on shift at {_z(at)}"
        return f"no agent of {queue} who could take the case is on shift at {_z(at)}"
    if everyone:
        return f"every agent of {queue} is at capacity"
    return f"every agent of {queue} who could take the case is at capacity"


def _rotation_key(pointer: str | None) -> Callable[[Agent], tuple[bool, str]]:
    """Sort key: rotation order starting after ``pointer``, wrapping round."""

    def key(agent: Agent) -> tuple[bool, str]:
        return (pointer is not None and agent.username <= pointer, agent.username)

    return key


def assign(
    request: AssignmentRequest,
    agents: Sequence[Agent],
    loads: Mapping[uuid.UUID, int],
    *,
    strategy: Strategy = Strategy.ROUND_ROBIN,
    pointer: str | None = None,
    language: LanguagePolicy = LanguagePolicy.PREFER,
    default_language: str | None = "en",
    calendars: Mapping[str, BusinessCalendar] = _NO_CALENDARS,
) -> AssignmentDecision:
    """
    Pick the agent for a case: the pipeline of the module docstring, every step
    explained in the decision.

    Args:
        request: the case's queue, required skills, requester's language and the moment.
        agents: the agents to consider; those of other queues are excluded at step
            ``queue``. Ids and usernames must be unique; order does not matter.
        loads: each agent's open cases by id; an agent missing has none.
        strategy: how to pick among the eligible agents.
        pointer: the username the queue's rotation pointer is at (the agent given its
            last case), or None to start from the first username.
        language: what the requester's language does.
        default_language: the agency's default language: a requester's language that is
            this one imposes nothing. None when the agency has none.
        calendars: business calendars by name, for the agents' ``calendar``. An agent
            whose calendar is missing is excluded (``unknown calendar X``), not an error.

    Raises:
        ValidationError: duplicate agent ids or usernames, a negative load, an unknown
            strategy or language policy, an ill-formed default language.

    .. versionadded:: 0.1.0
    """
    strategy = _enum(Strategy, strategy, "strategy")
    language = _enum(LanguagePolicy, language, "language")
    default = None if default_language is None else _tag(default_language, "default_language")
    _check_agents(agents)
    for agent_id, load in loads.items():
        if isinstance(load, bool) or not isinstance(load, int) or load < 0:
            raise ValidationError.at(
                f"loads[{agent_id}]", f"expected a count of open cases, got {load!r}"
            )
    queue = request.queue
    if queue is None:
        return AssignmentDecision(
            agent_id=None,
            username=None,
            strategy=strategy,
            rule=request.rule,
            eligible=(),
            excluded=(),
            pointer_before=pointer,
            pointer_after=pointer,
            reason="the case has no queue",
        )

    at = request.at
    skills = tuple(dict.fromkeys(request.skills))
    wanted = request.language
    if language is LanguagePolicy.IGNORE or wanted is None or _is_default(default, wanted):
        wanted = None
    ordered = sorted(agents, key=lambda a: a.username)

    # Every agent's first failure outside the language step, and whether they speak it.
    rows: list[tuple[Agent, tuple[str, str] | None, bool]] = []
    for agent in ordered:
        failed = _early(agent, queue, skills) or _late(agent, loads.get(agent.id, 0), at, calendars)
        speaks = wanted is None or any(serves(tag, wanted) for tag in agent.languages)
        rows.append((agent, failed, speaks))
    notes: list[str] = []
    enforce = wanted is not None
    if wanted is not None and language is LanguagePolicy.PREFER:
        otherwise = [speaks for _, failed, speaks in rows if failed is None]
        enforce = any(otherwise)
        if otherwise and not enforce:
            notes.append(
                f"language preference relaxed: nobody who could take the case speaks {wanted}"
            )

    outsiders = 0
    list_outsiders = len(agents) < LIST_OUTSIDERS_BELOW
    excluded: list[Exclusion] = []
    eligible: list[Agent] = []
    reached: dict[str, int] = dict.fromkeys(STEPS, 0)  # queue members excluded at each step
    for agent, failed, speaks in rows:
        if failed is not None and STEPS.index(failed[0]) < STEPS.index("language"):
            step, why = failed
        elif enforce and not speaks:
            spoken = ", ".join(agent.languages) or "no language listed"
            step, why = "language", f"does not speak {wanted} (speaks {spoken})"
        elif failed is not None:
            step, why = failed
        else:
            eligible.append(agent)
            continue
        if step == "queue":
            outsiders += 1
            if not list_outsiders:
                continue
        else:
            reached[step] += 1
        excluded.append(
            Exclusion(agent_id=agent.id, username=agent.username, step=step, reason=why)
        )
    if outsiders and not list_outsiders:
        notes.append(f"{_plural(outsiders, 'agent')} of other queues not considered")

    if not eligible:
        members = len(rows) - outsiders
        last = next((s for s in reversed(STEPS) if reached[s]), "queue")
        everyone = reached[last] == members
        return AssignmentDecision(
            agent_id=None,
            username=None,
            strategy=strategy,
            rule=request.rule,
            eligible=(),
            excluded=tuple(excluded),
            pointer_before=pointer,
            pointer_after=pointer,
            reason=_why_nobody(last, queue, everyone, skills, at),
            notes=tuple(notes),
            queue=queue,
        )

    after = _rotation_key(pointer)
    if strategy is Strategy.ROUND_ROBIN:
        chosen = min(eligible, key=after)
    else:
        chosen = min(eligible, key=lambda a: (loads.get(a.id, 0), after(a)))
    if pointer is None:
        where = "first in the rotation"
    elif chosen.username > pointer:
        where = f"next after {pointer}"
    else:
        where = f"next after {pointer}, wrapping round"
    least = loads.get(chosen.id, 0)

    def passed_over(agent: Agent) -> str:
        if strategy is Strategy.ROUND_ROBIN:
            return f"not chosen: round robin picked {chosen.username} ({where})"
        load = loads.get(agent.id, 0)
        if load > least:
            return (
                f"not chosen: least loaded picked {chosen.username} "
                f"({_plural(least, 'open case')}; this agent has {load})"
            )
        return (
            f"not chosen: least loaded picked {chosen.username} "
            f"(tied at {_plural(least, 'open case')}; {chosen.username} is {where})"
        )

    for agent in eligible:
        if agent is not chosen:
            excluded.append(
                Exclusion(
                    agent_id=agent.id,
                    username=agent.username,
                    step="strategy",
                    reason=passed_over(agent),
                )
            )
    excluded.sort(key=lambda e: e.username)
    return AssignmentDecision(
        agent_id=chosen.id,
        username=chosen.username,
        strategy=strategy,
        rule=request.rule,
        eligible=tuple(a.username for a in eligible),
        excluded=tuple(excluded),
        pointer_before=pointer,
        pointer_after=chosen.username,
        reason=None,
        notes=tuple(notes),
        queue=queue,
    )


# --------------------------------------------------------------------------------------
# In memory


class AssignmentBoard:
    """
    Loads and rotation pointers held in memory: assign cases one after another, close
    them. Each :meth:`assign` runs :func:`assign` with the board's loads and the
    queue's pointer, then counts the case against the chosen agent and moves the
    pointer to them.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        strategy: Strategy = Strategy.ROUND_ROBIN,
        language: LanguagePolicy = LanguagePolicy.PREFER,
        default_language: str | None = "en",
        calendars: Mapping[str, BusinessCalendar] = _NO_CALENDARS,
        loads: Mapping[uuid.UUID, int] | None = None,
        pointers: Mapping[str, str] | None = None,
    ) -> None:
        _check_agents(agents)
        self.agents: tuple[Agent, ...] = tuple(agents)
        self.strategy: Strategy = _enum(Strategy, strategy, "strategy")
        self.language: LanguagePolicy = _enum(LanguagePolicy, language, "language")
        self.default_language = default_language
        self.calendars = calendars
        #: Open cases by agent id.
        self.loads: dict[uuid.UUID, int] = {a.id: 0 for a in agents}
        self.loads.update(loads or {})
        #: Each queue's rotation pointer: the username given its last case.
        self.pointers: dict[str, str] = dict(pointers or {})

    def assign(self, request: AssignmentRequest) -> AssignmentDecision:
        """Decide, and when an agent is chosen count the case against them."""
        decision = assign(
            request,
            self.agents,
            self.loads,
            strategy=self.strategy,
            pointer=None if request.queue is None else self.pointers.get(request.queue),
            language=self.language,
            default_language=self.default_language,
            calendars=self.calendars,
        )
        queue = request.queue
        if decision.agent_id is not None and decision.username is not None and queue is not None:
            self.loads[decision.agent_id] = self.loads.get(decision.agent_id, 0) + 1
            self.pointers[queue] = decision.username
        return decision

    def release(self, agent_id: uuid.UUID) -> None:
        """A case of the agent's closed: one open case fewer (never below zero)."""
        self.loads[agent_id] = max(0, self.loads.get(agent_id, 0) - 1)
