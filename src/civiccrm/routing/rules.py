"""
Routing rules: which queue, priority, tags and skills a case gets, and why.

An agency writes its rules in its profile (``[[routing.rules]]``, read by
:func:`parse_rules`); each :class:`Rule` has conditions (``when``), all of which must
hold, and actions (``then``)::

    [[routing.rules]]
    name = "gas-leak"
    description = "Gas smell reports go to the water crews at once"
    score = 100
    when.case_type = ["012", "013"]
    when.keywords = ["gas leak", "smell of gas"]
    then.queue = "pw-water"
    then.priority = "urgent"
    then.tags = ["hazard", "gas"]

A :class:`RuleSet` routes the :class:`RoutingFacts` of one case to a
:class:`RoutingDecision`: in :attr:`RoutingMode.FIRST_MATCH` the first rule (in order)
whose conditions all hold wins; in :attr:`RoutingMode.HIGHEST_SCORE` the matching rule
with the highest ``score`` wins, the earlier one on a tie. The decision explains itself
(:meth:`RoutingDecision.explain`, :meth:`RoutingDecision.outcomes`): which rule won on
what evidence, and, for every other rule, whether it matched too or why it did not.
Its :meth:`~RoutingDecision.summary` holds no personal data, so it can be stored in a
case event.

Rules are compiled when the set is built: each case only looks at the rules that can
apply to its case type, its text is split into words once, and keywords are looked up
in sets. The explanations of the rules that lost are worked out only when asked for.

The set also says which rules can never fire (:attr:`RuleSet.warnings`): a rule that an
earlier (or, by score, stronger) rule always beats.

Keywords are matched on words: the text and the keywords are normalised (Unicode NFC,
case folded) and split into runs of word characters (``\\w+``); a keyword of several
words matches those words in a row. ``"gas leak"`` matches ``"Gas  leak!"`` but not
``"gasleak"`` or ``"gas leaks"``.

Nothing here does I/O.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import abc
import enum
import functools
import math
import re
import types
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, TypeAlias, TypeVar

import attrs

from civiccrm.errors import Problem, ValidationError
from civiccrm.models import Channel, Priority
from civiccrm.models._case_type import AttributeValue
from civiccrm.models._common import _kind, check_language_tag, to_utc
from civiccrm.routing.calendar import BusinessCalendar

__all__ = [
    "CONDITIONS",
    "AccessibilityCondition",
    "AllKeywordsCondition",
    "AttributesCondition",
    "CaseTypeCondition",
    "ChannelCondition",
    "Condition",
    "DepartmentCondition",
    "DistrictCondition",
    "KeywordsCondition",
    "LanguageCondition",
    "MinPriorityCondition",
    "NoneKeywordsCondition",
    "OutsideHoursCondition",
    "PriorityCondition",
    "RoutingDecision",
    "RoutingFacts",
    "RoutingMode",
    "Rule",
    "RuleOutcome",
    "RuleSet",
    "Tokens",
    "VulnerableCondition",
    "WithinHoursCondition",
    "parse_rules",
    "tokenize",
]

#: A value an ``attributes`` condition compares with: text or a number.
Pattern: TypeAlias = str | int | float

_WORD: Final = re.compile(r"\w+")
_SLUG: Final = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_NUMBER: Final = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
_PRIORITIES: Final = ", ".join(p.value for p in Priority)
_CHANNELS: Final = ", ".join(c.value for c in Channel)


class RoutingMode(enum.StrEnum):
    """
    How a rule set picks the winning rule among those that match.

    .. versionadded:: 0.1.0
    """

    #: The first rule in order whose conditions all hold wins.
    FIRST_MATCH = "first_match"
    #: Among the matching rules, the one with the highest ``score`` wins; on a tie, the
    #: earlier one.
    HIGHEST_SCORE = "highest_score"


# --------------------------------------------------------------------------------------
# Words


def _fold(text: str) -> str:
    """``text`` normalised for matching: NFC, case folded (and NFC again)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


#: For ASCII text: word characters (``[A-Za-z0-9_]``, what ``\w`` is in ASCII) lower
#: cased, every other character a space.
_ASCII_WORDS: Final = bytes(
    (ord(chr(c).lower()) if chr(c).isalnum() or c == 0x5F else 0x20) if c < 128 else c
    for c in range(256)
)


def _words(text: str) -> list[str]:
    """The words of ``text``: the ``\\w+`` runs of it normalised and case folded."""
    if text.isascii():
        # The same words as the regular expression, several times faster.
        return text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _WORD.findall(_fold(text))


def tokenize(text: str) -> tuple[str, ...]:
    """
    The words of ``text`` as keywords see them: the runs of word characters (``\\w+``)
    of the text normalised to NFC and case folded.

    >>> tokenize("Gas  LEAK! near 5th-Ave.")
    ('gas', 'leak', 'near', '5th', 'ave')

    .. versionadded:: 0.1.0
    """
    return tuple(_words(text))


class Tokens:
    """
    The words of one case's text, worked out once per case and shared by every keyword
    condition: the set of words, and the words joined by single spaces with a space at
    each end (a keyword of several words is found by looking for it, spaced the same
    way, in that string). Treat it as immutable.

    (A plain class rather than an attrs one: one is made for every case routed, and
    this is the cheapest to make.)

    .. versionadded:: 0.1.0
    """

    __slots__ = ("joined", "words")

    def __init__(self, words: frozenset[str], joined: str) -> None:
        #: Every word of the text.
        self.words = words
        #: The words in order, each between single spaces: ``" gas leak near 5th "``.
        self.joined = joined

    def __repr__(self) -> str:
        return f"Tokens({self.joined.strip()!r})"

    @classmethod
    def of(cls, text: str) -> Tokens:
        """The tokens of ``text``."""
        words = _words(text)
        return cls(frozenset(words), f" {' '.join(words)} ")


_NO_TOKENS: Final = Tokens(frozenset(), "  ")


# --------------------------------------------------------------------------------------
# What rules look at


def _priority(value: object) -> Priority:
    if isinstance(value, Priority):
        return value
    try:
        return Priority(value)
    except ValueError:
        raise ValidationError.at("priority", f"{value!r} is not a priority") from None


def _channel(value: object) -> Channel:
    if isinstance(value, Channel):
        return value
    try:
        return Channel(value if isinstance(value, str) else "")
    except ValueError:
        raise ValidationError.at("channel", f"{value!r} is not a channel") from None


def _aware(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError.at("at", f"expected an aware datetime, got {_kind(value)}")
    try:
        return to_utc(value)
    except ValueError as exc:
        raise ValidationError.at("at", str(exc)) from None


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else tuple(value)


def _str_frozenset(value: Iterable[str]) -> frozenset[str]:
    return value if isinstance(value, frozenset) else frozenset(value)


def _frozen_attributes(value: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    if isinstance(value, types.MappingProxyType):
        return value
    return types.MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class RoutingFacts:
    """
    What rules may look at, about one case at one moment.

    .. versionadded:: 0.1.0
    """

    #: The case type's code.
    case_type: str
    #: The case's department code.
    department: str | None = None
    priority: Priority = attrs.field(converter=_priority)
    channel: Channel = attrs.field(converter=_channel)
    #: Free text: the title and the description (``title + "\n" + description``).
    text: str = ""
    #: The case's custom attributes (validated values).
    attributes: Mapping[str, AttributeValue] = attrs.field(
        factory=dict, converter=_frozen_attributes, hash=False
    )
    #: The requester's preferred language (BCP 47, such as ``"es-MX"``), if known.
    language: str | None = None
    #: The requester is flagged as vulnerable.
    vulnerable: bool = False
    #: The requester's accessibility needs (``"interpreter"``, ``"wheelchair"`` ...).
    accessibility_needs: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: The codes of the districts containing the case's location (the caller finds them).
    districts: frozenset[str] = attrs.field(default=frozenset(), converter=_str_frozenset)
    #: When the case is routed (aware; kept in UTC).
    at: datetime = attrs.field(converter=_aware)


# --------------------------------------------------------------------------------------
# Conditions


class Condition(abc.ABC):
    """
    One test of a rule's ``when`` table. Each kind is its own class, named by its TOML
    key (:attr:`name`); :data:`CONDITIONS` lists them.

    The engine calls :meth:`holds` (a plain yes or no, as fast as can be); :meth:`test`
    gives the evidence of a condition that holds, :meth:`why_not` the reason one fails.
    Neither repeats the case's free text, attribute values or language: they name what
    the profile asked for. ``tokens`` are the words of the case's text
    (:meth:`Tokens.of`); only the keyword conditions (:attr:`reads_text`) look at them.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()

    #: The TOML key of the condition (``"keywords"``).
    name: ClassVar[str]
    #: Whether the condition reads the case's words (:class:`Tokens`).
    reads_text: ClassVar[bool] = False
    #: A rough cost rank: the engine tries cheap conditions first.
    cost: ClassVar[int] = 0

    @abc.abstractmethod
    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        """Whether the condition holds for ``facts`` (``tokens``: the words of its text)."""

    @abc.abstractmethod
    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        """Why the condition holds (call only when it does)."""

    @abc.abstractmethod
    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        """Why the condition does not hold (call only when it does not)."""

    def test(self, facts: RoutingFacts, tokens: Tokens) -> str | None:
        """The evidence if the condition holds, else None."""
        return self.evidence(facts, tokens) if self.holds(facts, tokens) else None

    def covers(self, other: Condition) -> bool:
        """
        True only if every case ``other`` accepts, this condition accepts too. False
        when unsure.
        """
        return False


def _listed(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _strings(value: object, what: str) -> tuple[str, ...]:
    """
    A string or a non-empty list of strings, as a tuple without duplicates (a set is
    sorted, so that the words that name it are the same from run to run).
    """
    items = [value] if isinstance(value, str) else value
    if isinstance(items, frozenset | set):
        items = sorted(items, key=str)
    if not isinstance(items, list | tuple):
        raise ValidationError.at(what, f"expected a list of strings, got {_kind(value)}")
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise ValidationError.at(f"{what}[{i}]", "expected a non-empty string")
        if item not in out:
            out.append(item)
    if not out:
        raise ValidationError.at(what, "must not be empty")
    return tuple(out)


def _codes(value: object) -> tuple[str, ...]:
    return _strings(value, "values")


@attrs.frozen
class _SetCondition(Condition):
    """A condition that holds when a value of the case is one of ``values``."""

    values: tuple[str, ...] = attrs.field(converter=_codes)
    _set: frozenset[str] = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(lambda s: frozenset(s.values), True)
    )

    def covers(self, other: Condition) -> bool:
        return (
            isinstance(other, _SetCondition)
            and type(other) is type(self)
            and self._set >= other._set
        )


@attrs.frozen
class CaseTypeCondition(_SetCondition):
    """
    ``when.case_type``: the case type is one of ``values``. The engine indexes rules by
    it: a case only looks at the rules naming its type (and those with no case type).

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "case_type"

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return facts.case_type in self._set

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"case_type: {facts.case_type} is one of {_listed(self.values)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"case_type: {facts.case_type} is not one of {_listed(self.values)}"


def _departments_of(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@attrs.frozen
class DepartmentCondition(_SetCondition):
    """
    ``when.department``: the case's department is one of ``values``.

    ``case_type_departments`` (each case type's department, from the profile) is only
    used by :meth:`covers`: a department condition covers a case type condition whose
    case types all belong to its departments.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "department"

    case_type_departments: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=_departments_of,
        eq=False,
        hash=False,
        repr=False,
        kw_only=True,
    )

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return facts.department in self._set

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"department: {facts.department} is one of {_listed(self.values)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        if facts.department is None:
            return "department: the case has no department"
        return f"department: {facts.department} is not one of {_listed(self.values)}"

    def covers(self, other: Condition) -> bool:
        if isinstance(other, CaseTypeCondition):
            known = self.case_type_departments
            return all(known.get(code) in self._set for code in other.values)
        return super().covers(other)


def _priorities(value: object) -> tuple[Priority, ...]:
    items = [value] if isinstance(value, str | Priority) else value
    if not isinstance(items, list | tuple | frozenset | set) or not items:
        raise ValidationError.at("values", "expected a non-empty list of priorities")
    out: list[Priority] = []
    for item in items:
        p = _priority(item)
        if p not in out:
            out.append(p)
    return tuple(sorted(out))


@attrs.frozen
class PriorityCondition(Condition):
    """
    ``when.priority``: the case's priority is one of ``values``.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "priority"

    values: tuple[Priority, ...] = attrs.field(converter=_priorities)

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return facts.priority in self.values

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        listed = _listed(p.value for p in self.values)
        return f"priority: {facts.priority.value} is one of {listed}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        listed = _listed(p.value for p in self.values)
        return f"priority: {facts.priority.value} is not one of {listed}"

    def covers(self, other: Condition) -> bool:
        if isinstance(other, PriorityCondition | MinPriorityCondition):
            return set(self.values) >= set(other.allowed)
        return False

    @property
    def allowed(self) -> tuple[Priority, ...]:
        """The priorities that pass."""
        return self.values


@attrs.frozen
class MinPriorityCondition(Condition):
    """
    ``when.min_priority``: the case's priority is ``value`` or higher.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "min_priority"

    value: Priority = attrs.field(converter=_priority)
    _allowed: tuple[Priority, ...] = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(lambda s: tuple(p for p in Priority if p >= s.value), True),
    )

    @property
    def allowed(self) -> tuple[Priority, ...]:
        """The priorities that pass."""
        return self._allowed

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return facts.priority in self._allowed

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"min_priority: {facts.priority.value} is at least {self.value.value}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"min_priority: {facts.priority.value} is below {self.value.value}"

    def covers(self, other: Condition) -> bool:
        if isinstance(other, PriorityCondition | MinPriorityCondition):
            return set(self._allowed) >= set(other.allowed)
        return False


def _channels(value: object) -> tuple[Channel, ...]:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, frozenset | set):
        items = sorted(items, key=str)
    if not isinstance(items, list | tuple | frozenset | set) or not items:
        raise ValidationError.at("values", "expected a non-empty list of channels")
    out: list[Channel] = []
    for item in items:
        c = _channel(item)
        if c not in out:
            out.append(c)
    return tuple(out)


@attrs.frozen
class ChannelCondition(Condition):
    """
    ``when.channel``: the case came in on one of ``values``.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "channel"

    values: tuple[Channel, ...] = attrs.field(converter=_channels)
    _set: frozenset[Channel] = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(lambda s: frozenset(s.values), True)
    )

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return facts.channel in self._set

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"channel: {facts.channel.value} is one of {_listed(self.values)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"channel: {facts.channel.value} is not one of {_listed(self.values)}"

    def covers(self, other: Condition) -> bool:
        return isinstance(other, ChannelCondition) and self._set >= other._set


# Keywords


def _phrase(keyword: str) -> tuple[str, ...]:
    return tuple(_words(keyword))


def _spaced(words: tuple[str, ...]) -> str:
    return f" {' '.join(words)} "


def _keywords(value: object) -> tuple[str, ...]:
    out = _strings(value, "keywords")
    for i, keyword in enumerate(out):
        if not _phrase(keyword):
            raise ValidationError.at(f"keywords[{i}]", f"{keyword!r} has no letters or digits")
    return out


def _contained(inner: str, outer: str) -> bool:
    """Whether the phrase ``inner`` (spaced) appears in every text with ``outer`` (spaced)."""
    return inner in outer


@attrs.frozen
class _KeywordCondition(Condition):
    """Keywords or phrases, matched on whole words (see the module's docstring)."""

    reads_text: ClassVar[bool] = True
    cost: ClassVar[int] = 3

    #: As written in the profile (named in the evidence).
    keywords: tuple[str, ...] = attrs.field(converter=_keywords)
    #: Each keyword's words, spaced: ``" gas leak "``.
    _spaced: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)
    #: The keywords of one word.
    _singles: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    #: The keywords of several words, each as (its first word, its words spaced).
    _phrases: tuple[tuple[str, str], ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        phrases = [_phrase(k) for k in self.keywords]
        object.__setattr__(self, "_spaced", tuple(_spaced(p) for p in phrases))
        object.__setattr__(self, "_singles", frozenset(p[0] for p in phrases if len(p) == 1))
        object.__setattr__(
            self, "_phrases", tuple((p[0], _spaced(p)) for p in phrases if len(p) > 1)
        )

    def _found(self, tokens: Tokens) -> list[str]:
        """The keywords found, in the profile's order."""
        return [
            keyword
            for keyword, spaced in zip(self.keywords, self._spaced, strict=True)
            if spaced in tokens.joined
        ]

    def _any(self, tokens: Tokens) -> bool:
        words = tokens.words
        if not words.isdisjoint(self._singles):
            return True
        for first, spaced in self._phrases:  # noqa: SIM110 - a plain loop is faster
            # The set lookup spares most scans of the text.
            if first in words and spaced in tokens.joined:
                return True
        return False


@attrs.frozen
class KeywordsCondition(_KeywordCondition):
    """
    ``when.keywords``: any of the keywords (words or phrases) appears in the text.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "keywords"

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return self._any(tokens)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f'keywords: found "{self._found(tokens)[0]}"'

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"keywords: none of {_quoted(self.keywords)} found"

    def covers(self, other: Condition) -> bool:
        mine = self._spaced
        if isinstance(other, KeywordsCondition):
            # Each of the other's keywords contains one of mine.
            return all(any(_contained(m, o) for m in mine) for o in other._spaced)
        if isinstance(other, AllKeywordsCondition):
            # One of the other's required keywords contains one of mine.
            return any(_contained(m, o) for m in mine for o in other._spaced)
        return False


@attrs.frozen
class AllKeywordsCondition(_KeywordCondition):
    """
    ``when.all_keywords``: every one of the keywords appears in the text.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "all_keywords"

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        words = tokens.words
        if not self._singles <= words:
            return False
        for first, spaced in self._phrases:
            if first not in words or spaced not in tokens.joined:
                return False
        return True

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"all_keywords: found {_quoted(self.keywords)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        found = set(self._found(tokens))
        missing = [k for k in self.keywords if k not in found]
        return f"all_keywords: {_quoted(missing)} not found"

    def covers(self, other: Condition) -> bool:
        mine = self._spaced
        if isinstance(other, AllKeywordsCondition):
            # Each of mine is inside one the other requires.
            return all(any(_contained(m, o) for o in other._spaced) for m in mine)
        if isinstance(other, KeywordsCondition):
            # Each of mine is inside every keyword the other may find.
            return all(all(_contained(m, o) for o in other._spaced) for m in mine)
        return False


@attrs.frozen
class NoneKeywordsCondition(_KeywordCondition):
    """
    ``when.none_keywords``: none of the keywords appears in the text.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "none_keywords"

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return not self._any(tokens)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"none_keywords: none of {_quoted(self.keywords)} found"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f'none_keywords: found "{self._found(tokens)[0]}"'

    def covers(self, other: Condition) -> bool:
        if isinstance(other, NoneKeywordsCondition):
            # Each of mine contains one the other forbids: absent whenever that one is.
            return all(any(_contained(o, m) for o in other._spaced) for m in self._spaced)
        return False


# Attributes


def _as_number(text: str) -> int | float | None:
    """``text`` as a number if it reads as one (ASCII digits), else None."""
    if not _NUMBER.fullmatch(text):
        return None
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        number = float(text)
    return number if math.isfinite(number) else None


def _pattern_keys(value: Pattern) -> set[str | int | float]:
    """What an attribute value is compared with: the value, and a string's number."""
    keys: set[str | int | float] = {value}
    if isinstance(value, str):
        number = _as_number(value)
        if number is not None:
            keys.add(number)
    return keys


def _patterns(value: object, code: str) -> tuple[Pattern, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValidationError.at(code, "must not be empty")
    out: list[Pattern] = []
    for i, item in enumerate(items):
        where = f"{code}[{i}]" if isinstance(value, list | tuple) else code
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValidationError.at(where, f"expected a string or a number, got {_kind(item)}")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError.at(where, f"{item} is not a finite number")
        if item not in out:
            out.append(item)
    return tuple(out)


def _attribute_patterns(value: object) -> tuple[tuple[str, tuple[Pattern, ...]], ...]:
    pairs = value.items() if isinstance(value, Mapping) else value
    if not isinstance(pairs, Iterable) or isinstance(pairs, str):
        raise ValidationError.at("values", f"expected a table of attributes, got {_kind(value)}")
    out: list[tuple[str, tuple[Pattern, ...]]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2 or not isinstance(pair[0], str):
            raise ValidationError.at("values", "expected attribute codes with their values")
        code, patterns = pair
        out.append((code, _patterns(patterns, code)))
    if not out:
        raise ValidationError.at("values", "must not be empty")
    return tuple(out)


def _matches(value: object, keys: frozenset[str | int | float], numeric: bool) -> bool:
    if isinstance(value, tuple):
        return any(_matches(v, keys, numeric) for v in value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    if value in keys:
        return True
    if numeric and isinstance(value, str):
        number = _as_number(value)
        return number is not None and number in keys
    return False


@attrs.frozen
class AttributesCondition(Condition):
    """
    ``when.attributes``: each named custom attribute equals the value, or one of the
    values, given for it. A multi-value attribute matches if any of its values does;
    numbers compare by value (an attribute ``3`` matches ``"3"`` and ``3``); a missing
    attribute fails. The evidence names the attributes, never their values.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "attributes"
    cost: ClassVar[int] = 2

    #: ``(code, accepted values)`` pairs, in the profile's order (a mapping is accepted).
    values: tuple[tuple[str, tuple[Pattern, ...]], ...] = attrs.field(converter=_attribute_patterns)
    _keys: tuple[tuple[str, frozenset[str | int | float], bool], ...] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        keys = []
        for code, patterns in self.values:
            accepted = frozenset().union(*(_pattern_keys(p) for p in patterns))
            numeric = any(not isinstance(k, str) for k in accepted)
            keys.append((code, accepted, numeric))
        object.__setattr__(self, "_keys", tuple(keys))

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        attributes = facts.attributes
        for code, accepted, numeric in self._keys:
            value = attributes.get(code)
            if value is None:
                return False
            if value.__class__ is str and value in accepted:
                continue  # the common case, without a call
            if not _matches(value, accepted, numeric):
                return False
        return True

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"attributes: {_listed(f'{code} matched' for code, _ in self.values)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        for (code, patterns), (_, accepted, numeric) in zip(self.values, self._keys, strict=True):
            value = facts.attributes.get(code)
            if value is None:
                return f"attributes: {code} is missing"
            if not _matches(value, accepted, numeric):
                return f"attributes: {code} is not {_listed(patterns)}"
        raise AssertionError("why_not() of a condition that holds")  # pragma: no cover

    def covers(self, other: Condition) -> bool:
        if not isinstance(other, AttributesCondition):
            return False
        theirs = {code: accepted for code, accepted, _ in other._keys}
        return all(code in theirs and theirs[code] <= accepted for code, accepted, _ in self._keys)


# The requester


def _language_tags(value: object) -> tuple[str, ...]:
    out = _strings(value, "values")
    tags = []
    for i, tag in enumerate(out):
        try:
            tags.append(check_language_tag(tag))
        except ValueError as exc:
            raise ValidationError.at(f"values[{i}]", str(exc)) from None
    return tuple(dict.fromkeys(tags))


def _tag_within(tag: str, prefix: str) -> bool:
    """Whether the lowercase ``tag`` is the lowercase ``prefix`` or starts with it plus ``-``."""
    return tag == prefix or tag.startswith(prefix + "-")


@attrs.frozen
class LanguageCondition(Condition):
    """
    ``when.language``: the requester's preferred language is one of ``values``, each
    matching itself and its subtags, case-insensitively (``"es"`` matches ``"es-MX"``;
    ``"zh-Hans"`` matches ``"zh-Hans-CN"`` but not ``"zh"`` or ``"zh-Hant"``). No
    preferred language fails.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "language"
    cost: ClassVar[int] = 1

    values: tuple[str, ...] = attrs.field(converter=_language_tags)
    _exact: frozenset[str] = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(lambda s: frozenset(t.lower() for t in s.values), True),
    )
    _prefixes: tuple[str, ...] = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(lambda s: tuple(t.lower() + "-" for t in s.values), True),
    )

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        language = facts.language
        if language is None:
            return False
        language = language.lower()
        return language in self._exact or language.startswith(self._prefixes)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"language: requester's language is one of {_listed(self.values)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        if facts.language is None:
            return "language: the requester has no preferred language"
        return f"language: requester's language is not one of {_listed(self.values)}"

    def covers(self, other: Condition) -> bool:
        if not isinstance(other, LanguageCondition):
            return False
        return all(any(_tag_within(o, m) for m in self._exact) for o in other._exact)


@attrs.frozen
class VulnerableCondition(Condition):
    """
    ``when.vulnerable``: the requester's vulnerable flag is ``value``.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "vulnerable"

    value: bool = attrs.field(validator=attrs.validators.instance_of(bool))

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return facts.vulnerable == self.value

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        marked = "marked" if self.value else "not marked"
        return f"vulnerable: the requester is {marked} vulnerable"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        marked = "marked" if facts.vulnerable else "not marked"
        return f"vulnerable: the requester is {marked} vulnerable"

    def covers(self, other: Condition) -> bool:
        return isinstance(other, VulnerableCondition) and other.value is self.value


@attrs.frozen
class AccessibilityCondition(_SetCondition):
    """
    ``when.accessibility``: the requester has any of these accessibility needs.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "accessibility"
    cost: ClassVar[int] = 1

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return not self._set.isdisjoint(facts.accessibility_needs)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"accessibility: the requester has one of the needs {_listed(self.values)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"accessibility: the requester has none of the needs {_listed(self.values)}"


# Place and time


@attrs.frozen
class DistrictCondition(_SetCondition):
    """
    ``when.district``: the case's location is in any of these districts.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "district"
    cost: ClassVar[int] = 1

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return not self._set.isdisjoint(facts.districts)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        first = next(code for code in self.values if code in facts.districts)
        return f"district: location in {first}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        if not facts.districts:
            return "district: the location is in no district"
        return f"district: the location is in none of {_listed(self.values)}"


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _calendar(value: object) -> BusinessCalendar:
    if not isinstance(value, BusinessCalendar):
        raise ValidationError.at("calendar", f"expected a BusinessCalendar, got {_kind(value)}")
    return value


@attrs.frozen
class WithinHoursCondition(Condition):
    """
    ``when.within_hours``: the calendar is open when the case is routed.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "within_hours"
    cost: ClassVar[int] = 4

    calendar: BusinessCalendar = attrs.field(converter=_calendar)

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return self.calendar.is_open(facts.at)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"within_hours: {self.calendar.code} is open at {_utc(facts.at)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"within_hours: {self.calendar.code} is closed at {_utc(facts.at)}"

    def covers(self, other: Condition) -> bool:
        return isinstance(other, WithinHoursCondition) and other.calendar == self.calendar


@attrs.frozen
class OutsideHoursCondition(Condition):
    """
    ``when.outside_hours``: the calendar is closed when the case is routed.

    .. versionadded:: 0.1.0
    """

    name: ClassVar[str] = "outside_hours"
    cost: ClassVar[int] = 4

    calendar: BusinessCalendar = attrs.field(converter=_calendar)

    def holds(self, facts: RoutingFacts, tokens: Tokens) -> bool:
        return not self.calendar.is_open(facts.at)

    def evidence(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"outside_hours: {self.calendar.code} is closed at {_utc(facts.at)}"

    def why_not(self, facts: RoutingFacts, tokens: Tokens) -> str:
        return f"outside_hours: {self.calendar.code} is open at {_utc(facts.at)}"

    def covers(self, other: Condition) -> bool:
        return isinstance(other, OutsideHoursCondition) and other.calendar == self.calendar


#: Every condition kind by its TOML key (``when.<key>``).
CONDITIONS: Final[Mapping[str, type[Condition]]] = types.MappingProxyType(
    {
        cls.name: cls
        for cls in (
            CaseTypeCondition,
            DepartmentCondition,
            PriorityCondition,
            MinPriorityCondition,
            ChannelCondition,
            KeywordsCondition,
            AllKeywordsCondition,
            NoneKeywordsCondition,
            AttributesCondition,
            LanguageCondition,
            VulnerableCondition,
            AccessibilityCondition,
            DistrictCondition,
            WithinHoursCondition,
            OutsideHoursCondition,
        )
    }
)

_KEYWORD_KINDS: Final[Mapping[str, type[_KeywordCondition]]] = {
    c.name: c for c in (KeywordsCondition, AllKeywordsCondition, NoneKeywordsCondition)
}
_ACTIONS: Final = ("queue", "priority", "tags", "skills")
_RULE_KEYS: Final = ("name", "description", "score", "when", "then")


# --------------------------------------------------------------------------------------
# Rules


def _check_name(_inst: object, field: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ValidationError.at(
            field.name,
            f"{value!r} is not a rule name: use lowercase letters and digits joined by - or _",
        )


def _check_slugs(_inst: object, field: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for i, item in enumerate(value):
        if not isinstance(item, str) or not _SLUG.fullmatch(item):
            raise ValidationError.at(
                f"{field.name}[{i}]",
                f"{item!r} is not a code: use lowercase letters and digits joined by - or _",
            )


def _conditions(value: Iterable[Condition]) -> tuple[Condition, ...]:
    out = tuple(value)
    for i, item in enumerate(out):
        if not isinstance(item, Condition):
            raise ValidationError.at(f"conditions[{i}]", f"expected a Condition, got {_kind(item)}")
    return out


def _optional_priority(value: object) -> Priority | None:
    return None if value is None else _priority(value)


def _check_score(_inst: object, field: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.at(field.name, f"expected a whole number, got {_kind(value)}")


@attrs.frozen(kw_only=True)
class Rule:
    """
    One routing rule: when all its conditions hold, its actions apply.

    .. versionadded:: 0.1.0
    """

    #: A code unique in its set (lowercase letters and digits joined by ``-`` or ``_``).
    name: str = attrs.field(validator=_check_name)
    description: str | None = None
    #: What the rule weighs in :attr:`RoutingMode.HIGHEST_SCORE` mode.
    score: int = attrs.field(default=0, validator=_check_score)
    #: All must hold; none matches every case.
    conditions: tuple[Condition, ...] = attrs.field(default=(), converter=_conditions)
    #: The queue to put the case in.
    queue: str | None = None
    #: The priority to give the case.
    priority: Priority | None = attrs.field(default=None, converter=_optional_priority)
    #: Tags to add to the case.
    tags: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, validator=_check_slugs)
    #: Skills an agent needs to take the case.
    skills: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, validator=_check_slugs)
    #: Where the rule was defined (``"routing.rules[3]"``), for messages.
    path: str = ""

    def __attrs_post_init__(self) -> None:
        if self.queue is None and self.priority is None and not self.tags and not self.skills:
            raise ValidationError.at(
                "then", "a rule needs at least one action in then (queue, priority, tags, skills)"
            )

    def covers(self, other: Rule) -> bool:
        """
        True only if this rule matches every case ``other`` matches: each of this rule's
        conditions covers one of the other's (a rule with no conditions covers all).
        """
        return all(
            any(mine.covers(theirs) for theirs in other.conditions) for mine in self.conditions
        )


@attrs.frozen
class RuleOutcome:
    """
    What one rule made of one case.

    .. versionadded:: 0.1.0
    """

    rule: str
    matched: bool
    #: One per condition when matched (``'keywords: found "gas leak"'``).
    evidence: tuple[str, ...] = ()
    #: When not matched: the first failing condition's reason, or ``"not evaluated:
    #: rule X already matched"`` for the rules after the winner in first_match mode.
    reason: str | None = None


@attrs.frozen(kw_only=True)
class RoutingDecision:
    """
    Where a rule set routes one case: the winning rule and its actions, with the
    evidence it matched on. :meth:`outcomes` and :meth:`explain` tell what every rule
    of the set made of the case (worked out on first use, then kept).

    .. versionadded:: 0.1.0
    """

    mode: RoutingMode
    #: The winning rule's name; None if no rule matched.
    rule: str | None
    queue: str | None = None
    priority: Priority | None = None
    tags: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    _ruleset: RuleSet = attrs.field(alias="ruleset", eq=False, repr=False)
    _facts: RoutingFacts = attrs.field(alias="facts", eq=False, repr=False)
    #: The winner's position in the set.
    _index: int | None = attrs.field(alias="index", default=None, eq=False, repr=False)

    @functools.cached_property
    def evidence(self) -> tuple[str, ...]:
        """
        The winning rule's evidence, one line per condition (``()`` when no rule won).
        Worked out on first use.
        """
        if self._index is None:
            return ()
        facts = self._facts
        conditions = self._ruleset.rules[self._index].conditions
        reads_text = any(c.reads_text for c in conditions)
        tokens = Tokens.of(facts.text) if reads_text else _NO_TOKENS
        return tuple(c.evidence(facts, tokens) for c in conditions)

    @property
    def _stop(self) -> int:
        """How many rules were evaluated: up to the winner in first_match mode, else all."""
        if self.mode is RoutingMode.FIRST_MATCH and self._index is not None:
            return self._index + 1
        return len(self._ruleset.rules)

    @functools.cached_property
    def _evaluated(self) -> tuple[RuleOutcome, ...]:
        """The outcomes of the rules evaluated (see :attr:`_stop`)."""
        facts = self._facts
        tokens = Tokens.of(facts.text)
        out = []
        for rule in self._ruleset.rules[: self._stop]:
            # Words only for the first condition that fails, or for a rule that matched.
            for condition in rule.conditions:
                if not condition.holds(facts, tokens):
                    out.append(RuleOutcome(rule.name, False, (), condition.why_not(facts, tokens)))
                    break
            else:
                evidence = tuple(c.evidence(facts, tokens) for c in rule.conditions)
                out.append(RuleOutcome(rule.name, True, evidence, None))
        return tuple(out)

    @functools.cached_property
    def _skipped(self) -> str:
        return f"not evaluated: rule {self.rule} already matched"

    @functools.cached_property
    def _outcomes(self) -> tuple[RuleOutcome, ...]:
        skipped = self._skipped
        rest = self._ruleset.rules[self._stop :]
        return self._evaluated + tuple(RuleOutcome(r.name, False, (), skipped) for r in rest)

    def outcomes(self) -> tuple[RuleOutcome, ...]:
        """
        What every rule of the set made of the case, in the set's order: whether it
        matched, its evidence if it did, else the reason it did not (its first failing
        condition in the profile's order; in first_match mode, the rules after the
        winner are ``"not evaluated: rule <winner> already matched"``).
        """
        return self._outcomes

    def summary(self) -> dict[str, str | int | None]:
        """
        The decision as flat, JSON-safe facts for an event's data: ``rule``, ``mode``,
        ``queue``, ``priority``, ``tags`` and ``skills`` (comma-joined), and ``matched``
        (the names of every rule whose conditions held, comma-joined; in first_match
        mode the rules after the winner are not evaluated, so that is the winner alone).
        It holds no personal data: no text, attribute values, language or flags.
        """
        return {
            "rule": self.rule,
            "mode": self.mode.value,
            "queue": self.queue,
            "priority": None if self.priority is None else self.priority.value,
            "tags": ",".join(self.tags),
            "skills": ",".join(self.skills),
            "matched": ",".join(self._ruleset._matching(self._facts, self._index)),
        }

    def explain(self) -> str:
        """
        The decision in words: the winner with its evidence and actions, then each
        other rule, matched (and why it lost) or skipped (and why).
        """
        rules = self._ruleset.rules
        lines: list[str] = []
        winner = rules[self._index] if self._index is not None else None
        if winner is None:
            lines.append(f"no rule matched ({self.mode.value}): no routing actions")
        else:
            lines.append(f'rule "{winner.name}" won ({self.mode.value}); it matched on:')
            lines.extend(f"  - {line}" for line in self.evidence)
            if not self.evidence:
                lines.append("  - no conditions: it matches every case")
            actions = []
            if self.queue is not None:
                actions.append(f"queue {self.queue}")
            if self.priority is not None:
                actions.append(f"priority {self.priority.value}")
            if self.tags:
                actions.append(f"tags {', '.join(self.tags)}")
            if self.skills:
                actions.append(f"skills {', '.join(self.skills)}")
            lines.append(f"actions: {'; '.join(actions)}")
        evaluated = self._evaluated
        rest = rules[len(evaluated) :]
        if len(rules) > (0 if winner is None else 1):
            lines.append("other rules:" if winner is not None else "rules:")
        for i, outcome in enumerate(evaluated):
            if i == self._index:
                continue
            label = f'  - "{outcome.rule}" ({rules[i].path or f"rules[{i}]"}): '
            if not outcome.matched:
                lines.append(f"{label}skipped: {outcome.reason}")
                continue
            assert winner is not None  # a rule matched, so one won
            if rules[i].score < winner.score:
                why = f"lower score ({rules[i].score} < {winner.score})"
            else:
                why = f"same score ({winner.score}) and comes after it"
            lines.append(f'{label}matched too, but lost to "{winner.name}": {why}')
            lines.extend(f"      {line}" for line in outcome.evidence)
        skipped = self._skipped
        for i, rule in enumerate(rest, len(evaluated)):
            lines.append(f'  - "{rule.name}" ({rule.path or f"rules[{i}]"}): skipped: {skipped}')
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Rule sets

#: A condition's test (its bound :meth:`Condition.holds`).
_Test: TypeAlias = Callable[[RoutingFacts, Tokens], bool]
#: A compiled rule: its position, the tests of its conditions that do not read the
#: text, then those that do (case type conditions left out: the index took care).
_Entry: TypeAlias = tuple[int, tuple[_Test, ...], tuple[_Test, ...]]


def _rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    raw: object = value
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise ValidationError.at("rules", f"expected a list of rules, got {_kind(raw)}")
    out: tuple[object, ...] = tuple(raw)
    problems = []
    first: dict[str, int] = {}
    for i, rule in enumerate(out):
        if not isinstance(rule, Rule):
            problems.append(Problem(f"rules[{i}]", f"expected a Rule, got {_kind(rule)}"))
        elif rule.name in first:
            problems.append(
                Problem(
                    f"rules[{i}].name",
                    f"duplicate rule name {rule.name!r} (also rules[{first[rule.name]}])",
                )
            )
        else:
            first[rule.name] = i
    if problems:
        raise ValidationError(problems, record_type="RuleSet")
    return tuple(r for r in out if isinstance(r, Rule))


def _mode(value: RoutingMode | str) -> RoutingMode:
    try:
        return RoutingMode(value)
    except ValueError:
        modes = ", ".join(m.value for m in RoutingMode)
        raise ValidationError.at("mode", f"{value!r} is not a routing mode ({modes})") from None


def _case_types(rule: Rule) -> frozenset[str] | None:
    """The case types a rule can match (all of them: None)."""
    found = [frozenset(c.values) for c in rule.conditions if isinstance(c, CaseTypeCondition)]
    return frozenset.intersection(*found) if found else None


@attrs.frozen
class RuleSet:
    """
    An agency's routing rules, in order, compiled for routing many cases.

    Building the set indexes the rules by the case types they name (a case only tries
    the rules naming its type and those naming none), orders each index for the mode
    (by score, then position, in highest_score mode, so that the first match wins in
    both modes), puts each rule's cheap conditions before those that read the text, and
    works out :attr:`warnings`. :meth:`route` then splits a case's text into words at
    most once, and only if a rule gets as far as a keyword condition.

    .. versionadded:: 0.1.0
    """

    rules: tuple[Rule, ...] = attrs.field(converter=_rules)
    mode: RoutingMode = attrs.field(default=RoutingMode.FIRST_MATCH, converter=_mode)
    #: Rules that can never fire, one message each (worked out when the set is built).
    warnings: tuple[str, ...] = attrs.field(init=False, eq=False)
    #: By case type: the rules it looks at, in the order they are tried.
    _buckets: Mapping[str, tuple[_Entry, ...]] = attrs.field(init=False, eq=False, repr=False)
    #: The rules a case type no rule names looks at.
    _anything: tuple[_Entry, ...] = attrs.field(init=False, eq=False, repr=False)
    _outputs: tuple[
        tuple[str, str | None, Priority | None, tuple[str, ...], tuple[str, ...]], ...
    ] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        rules = self.rules
        types_of = [_case_types(rule) for rule in rules]
        by_type: dict[str, list[int]] = {}
        for i, found in enumerate(types_of):
            for code in sorted(found or ()):
                by_type.setdefault(code, []).append(i)
        generic = [i for i, found in enumerate(types_of) if found is None]
        object.__setattr__(
            self,
            "_buckets",
            {code: self._bucket(generic + found) for code, found in by_type.items()},
        )
        object.__setattr__(self, "_anything", self._bucket(generic))
        object.__setattr__(
            self,
            "_outputs",
            tuple((r.name, r.queue, r.priority, r.tags, r.skills) for r in rules),
        )
        object.__setattr__(self, "warnings", self._never_fire(types_of, by_type, generic))

    def _bucket(self, indexes: list[int]) -> tuple[_Entry, ...]:
        if self.mode is RoutingMode.HIGHEST_SCORE:
            # The first match in this order is the highest score, the earliest on a tie.
            indexes = sorted(indexes, key=lambda i: (-self.rules[i].score, i))
        else:
            indexes = sorted(indexes)
        entries = []
        for i in indexes:
            tests = [c for c in self.rules[i].conditions if not isinstance(c, CaseTypeCondition)]
            tests.sort(key=lambda c: c.cost)
            entries.append(
                (
                    i,
                    tuple(c.holds for c in tests if not c.reads_text),
                    tuple(c.holds for c in tests if c.reads_text),
                )
            )
        return tuple(entries)

    def _never_fire(
        self,
        types_of: list[frozenset[str] | None],
        by_type: Mapping[str, list[int]],
        generic: list[int],
    ) -> tuple[str, ...]:
        rules = self.rules
        first_match = self.mode is RoutingMode.FIRST_MATCH
        out = []
        for b, rule in enumerate(rules):
            found = types_of[b]
            # A rule limited to case types only covers rules within them (see covers).
            candidates = set(generic)
            if found:
                candidates.update(by_type[min(found)])
            for a in sorted(candidates):
                other = rules[a]
                if a == b or (first_match and a > b):
                    continue
                if not first_match and not (
                    other.score > rule.score or (other.score == rule.score and a < b)
                ):
                    continue
                if not other.covers(rule):
                    continue
                if first_match or other.score == rule.score:
                    why = "comes first"
                else:
                    why = f"has a higher score ({other.score} > {rule.score})"
                out.append(
                    f'{rule.path or f"rules[{b}]"} "{rule.name}" can never fire: '
                    f'{other.path or f"rules[{a}]"} "{other.name}" matches every case it '
                    f"matches and {why}"
                )
                break
        return tuple(out)

    def route(self, facts: RoutingFacts) -> RoutingDecision:
        """
        Route one case: the winning rule and its actions, or a decision with no rule
        when none matches.
        """
        tokens: Tokens | None = None  # the text is split on first need only
        for index, tests, text_tests in self._buckets.get(facts.case_type, self._anything):
            for holds in tests:
                if not holds(facts, _NO_TOKENS):
                    break
            else:
                if text_tests:
                    if tokens is None:
                        tokens = Tokens.of(facts.text)
                    for holds in text_tests:
                        if not holds(facts, tokens):
                            break
                    else:
                        return self._decision(index, facts)
                else:
                    return self._decision(index, facts)
        return RoutingDecision(mode=self.mode, rule=None, ruleset=self, facts=facts)

    def _matching(self, facts: RoutingFacts, winner: int | None) -> list[str]:
        """
        The names of the rules that matched, in order, given the winner ``route`` found:
        in first_match mode the winner alone (the rules after it are not evaluated),
        in highest_score mode every rule whose conditions hold.
        """
        if self.mode is RoutingMode.FIRST_MATCH or winner is None:
            return [] if winner is None else [self.rules[winner].name]
        tokens = Tokens.of(facts.text)
        found = [
            index
            for index, tests, text_tests in self._buckets.get(facts.case_type, self._anything)
            if all(holds(facts, tokens) for holds in tests + text_tests)
        ]
        return [self.rules[i].name for i in sorted(found)]

    def _decision(self, index: int, facts: RoutingFacts) -> RoutingDecision:
        name, queue, priority, tags, skills = self._outputs[index]
        return RoutingDecision(
            mode=self.mode,
            rule=name,
            queue=queue,
            priority=priority,
            tags=tags,
            skills=skills,
            ruleset=self,
            facts=facts,
            index=index,
        )


# --------------------------------------------------------------------------------------
# Reading the profile


def _never() -> Condition:
    raise AssertionError("a condition with problems is never made")  # pragma: no cover


_E = TypeVar("_E", bound=enum.Enum)


class _Reader:
    """Reads one ``[[routing.rules]]`` table, collecting every problem."""

    def __init__(
        self,
        problems: list[Problem],
        *,
        case_types: Mapping[str, str],
        departments: Collection[str],
        queues: Collection[str],
        calendars: Mapping[str, BusinessCalendar],
        districts: Collection[str],
        attributes: Collection[str],
    ) -> None:
        self.problems = problems
        self.case_types = case_types
        self.departments = departments
        self.queues = queues
        self.calendars = calendars
        self.districts = districts
        self.attributes = attributes

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def strings(self, value: object, path: str) -> list[tuple[str, str]]:
        """
        A string or a non-empty list of strings: each string with its path (the good
        ones; a problem for each bad one).
        """
        if isinstance(value, str):
            return [(path, value)]
        if not isinstance(value, list | tuple):
            self.problem(path, f"must be a string or a list of strings, got {_kind(value)}")
            return []
        if not value:
            self.problem(path, "must not be empty")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append((f"{path}[{i}]", item))
            else:
                self.problem(f"{path}[{i}]", f"must be a string, got {_kind(item)}")
        return out

    def known(self, value: object, path: str, known: Collection[str], what: str) -> tuple[str, ...]:
        """Strings that must each be in ``known`` ("no <what> 'x' in the profile")."""
        out = []
        for where, item in self.strings(value, path):
            if item in known:
                out.append(item)
            else:
                self.problem(where, f"no {what} {item!r} in the profile")
        return tuple(out)

    def enums(self, value: object, path: str, cls: type[_E], listed: str) -> tuple[_E, ...]:
        out = []
        for where, item in self.strings(value, path):
            try:
                out.append(cls(item))
            except ValueError:
                self.problem(where, f"{item!r} is not a {cls.__name__.lower()} (one of {listed})")
        return tuple(out)

    def slugs(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            self.problem(path, f"must be a list of strings, got {_kind(value)}")
            return ()
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.problem(f"{path}[{i}]", f"must be a string, got {_kind(item)}")
            elif not _SLUG.fullmatch(item):
                self.problem(
                    f"{path}[{i}]",
                    f"{item!r} is not a code: use lowercase letters and digits joined by - or _",
                )
            else:
                out.append(item)
        return tuple(out)

    def condition(self, key: str, value: object, path: str) -> Condition | None:
        """The condition ``when.<key> = value``, or None after noting its problems."""
        if key not in CONDITIONS:
            known = ", ".join(CONDITIONS)
            self.problem(path, f"unknown condition {key!r} (known: {known})")
            return None
        before = len(self.problems)
        make = self.read(key, value, path)
        return make() if len(self.problems) == before else None

    def read(self, key: str, value: object, path: str) -> Callable[[], Condition]:
        """Check ``when.<key> = value``; the returned maker is called only if it is good."""
        if key == "case_type":
            codes = self.known(value, path, self.case_types, "case type")
            return lambda: CaseTypeCondition(codes)
        if key == "department":
            codes = self.known(value, path, self.departments, "department")
            mapping = self.case_types
            return lambda: DepartmentCondition(codes, case_type_departments=mapping)
        if key in ("priority", "min_priority"):
            if key == "min_priority" and not isinstance(value, str):
                self.problem(path, f"must be a priority ({_PRIORITIES}), got {_kind(value)}")
                return _never
            priorities = self.enums(value, path, Priority, _PRIORITIES)
            if key == "priority":
                return lambda: PriorityCondition(priorities)
            return lambda: MinPriorityCondition(priorities[0])
        if key == "channel":
            channels = self.enums(value, path, Channel, _CHANNELS)
            return lambda: ChannelCondition(channels)
        if key in ("keywords", "all_keywords", "none_keywords"):
            keywords = self.keywords(value, path)
            kind = _KEYWORD_KINDS[key]
            return lambda: kind(keywords)
        if key == "attributes":
            pairs = self.attribute_patterns(value, path)
            return lambda: AttributesCondition(pairs)
        if key == "language":
            tags = []
            for where, item in self.strings(value, path):
                try:
                    tags.append(check_language_tag(item))
                except ValueError as exc:
                    self.problem(where, str(exc))
            return lambda: LanguageCondition(tuple(tags))
        if key == "vulnerable":
            if not isinstance(value, bool):
                self.problem(path, f"must be true or false, got {_kind(value)}")
            return lambda: VulnerableCondition(bool(value))
        if key == "accessibility":
            needs = []
            for where, item in self.strings(value, path):
                if item.strip():
                    needs.append(item)
                else:
                    self.problem(where, "must not be blank")
            return lambda: AccessibilityCondition(tuple(needs))
        if key == "district":
            codes = self.known(value, path, self.districts, "district")
            return lambda: DistrictCondition(codes)
        # within_hours, outside_hours
        if not isinstance(value, str):
            self.problem(path, f"must be the name of a calendar, got {_kind(value)}")
            return _never
        if value not in self.calendars:
            known = ", ".join(sorted(self.calendars)) or "none"
            self.problem(path, f"no calendar {value!r} in the profile (known: {known})")
            return _never
        calendar = self.calendars[value]
        if key == "within_hours":
            return lambda: WithinHoursCondition(calendar)
        return lambda: OutsideHoursCondition(calendar)

    def keywords(self, value: object, path: str) -> tuple[str, ...]:
        out = []
        for where, item in self.strings(value, path):
            if not item.strip():
                self.problem(where, "a keyword must not be empty")
            elif not _phrase(item):
                self.problem(where, f"keyword {item!r} has no letters or digits")
            else:
                out.append(item)
        return tuple(out)

    def attribute_patterns(
        self, value: object, path: str
    ) -> tuple[tuple[str, tuple[Pattern, ...]], ...]:
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a table of attribute codes to values, got {_kind(value)}")
            return ()
        if not value:
            self.problem(path, "must not be empty")
            return ()
        out = []
        for code, patterns in value.items():
            where = f"{path}.{code}"
            if code not in self.attributes:
                self.problem(where, f"no attribute {code!r} in any case type")
                continue
            try:
                out.append((code, _patterns(patterns, "")))
            except ValidationError as exc:
                for p in exc.problems:
                    self.problem(f"{where}{p.path}", p.message)
        return tuple(out)

    def rule(self, raw: object, path: str) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.problem(path, f"expected a table ([[routing.rules]]), got {_kind(raw)}")
            return None
        before = len(self.problems)
        for key in raw:
            if key not in _RULE_KEYS:
                self.problem(
                    f"{path}.{key}", f"unknown key {key!r} (known: {', '.join(_RULE_KEYS)})"
                )
        name = raw.get("name")
        if name is None:
            self.problem(f"{path}.name", "a rule needs a name")
        elif not isinstance(name, str) or not _SLUG.fullmatch(name):
            self.problem(
                f"{path}.name",
                f"{name!r} is not a rule name: use lowercase letters and digits joined by - or _",
            )
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            self.problem(f"{path}.description", f"must be a string, got {_kind(description)}")
        score = raw.get("score", 0)
        if isinstance(score, bool) or not isinstance(score, int):
            self.problem(f"{path}.score", f"must be a whole number, got {_kind(score)}")
        conditions = self.when(raw.get("when", {}), f"{path}.when")
        actions = self.then(raw.get("then"), f"{path}.then")
        if len(self.problems) > before or conditions is None or actions is None:
            return None
        assert isinstance(name, str)
        assert isinstance(score, int)
        return Rule(
            name=name,
            description=description,
            score=score,
            conditions=conditions,
            path=path,
            **actions,
        )

    def when(self, raw: object, path: str) -> tuple[Condition, ...] | None:
        if not isinstance(raw, Mapping):
            self.problem(path, f"must be a table of conditions, got {_kind(raw)}")
            return None
        out = []
        ok = True
        for key, value in raw.items():
            condition = self.condition(str(key), value, f"{path}.{key}")
            if condition is None:
                ok = False
            else:
                out.append(condition)
        return tuple(out) if ok else None

    def then(self, raw: object, path: str) -> dict[str, Any] | None:
        needs = "a rule needs at least one action in then (queue, priority, tags, skills)"
        if raw is None:
            self.problem(path, needs)
            return None
        if not isinstance(raw, Mapping):
            self.problem(path, f"must be a table of actions, got {_kind(raw)}")
            return None
        before = len(self.problems)
        out: dict[str, Any] = {}
        for key, value in raw.items():
            where = f"{path}.{key}"
            if key == "queue":
                if not isinstance(value, str):
                    self.problem(where, f"must be a queue code, got {_kind(value)}")
                elif value not in self.queues:
                    self.problem(where, f"no queue {value!r} in the profile")
                else:
                    out["queue"] = value
            elif key == "priority":
                if not isinstance(value, str):
                    self.problem(where, f"must be a priority ({_PRIORITIES}), got {_kind(value)}")
                else:
                    out["priority"] = next(
                        iter(self.enums(value, where, Priority, _PRIORITIES)), None
                    )
            elif key in ("tags", "skills"):
                out[key] = self.slugs(value, where)
            else:
                self.problem(where, f"unknown action {key!r} (known: {', '.join(_ACTIONS)})")
        if len(self.problems) > before:
            return None
        if not any(out.get(key) for key in _ACTIONS):
            self.problem(path, needs)
            return None
        return out


def parse_rules(
    raw: object,
    *,
    path: str = "routing",
    case_types: Mapping[str, str],
    departments: Collection[str],
    queues: Collection[str],
    calendars: Mapping[str, BusinessCalendar],
    districts: Collection[str],
    attributes: Collection[str],
) -> tuple[RuleSet | None, list[Problem]]:
    """
    Read the rules of a profile's ``[routing]`` table (already parsed from TOML): its
    ``mode`` (default ``first_match``) and its ``[[routing.rules]]``. The table's other
    keys belong to other settings and are left alone.

    Args:
        raw: the ``[routing]`` table.
        path: where the table is, for the problems' paths.
        case_types: each case type's code with its department's code.
        departments: the department codes.
        queues: the queue codes.
        calendars: the business calendars by name.
        districts: the district codes.
        attributes: every custom attribute code of any case type.

    Returns:
        The rule set and no problems; or None and every problem found, each at its TOML
        path (``routing.rules[2].when.case_type[0]: no case type '999' in the profile``).

    .. versionadded:: 0.1.0
    """
    if not isinstance(raw, Mapping):
        return None, [Problem(path, f"expected a table ([routing]), got {_kind(raw)}")]
    problems: list[Problem] = []
    mode = RoutingMode.FIRST_MATCH
    if "mode" in raw:
        try:
            mode = RoutingMode(raw["mode"])
        except ValueError:
            modes = ", ".join(m.value for m in RoutingMode)
            problems.append(
                Problem(f"{path}.mode", f"{raw['mode']!r} is not a routing mode (one of {modes})")
            )
    items = raw.get("rules", [])
    if not isinstance(items, list | tuple):
        problems.append(
            Problem(
                f"{path}.rules", f"must be a list of tables ([[routing.rules]]), got {_kind(items)}"
            )
        )
        return None, problems
    reader = _Reader(
        problems,
        case_types=case_types,
        departments=departments,
        queues=queues,
        calendars=calendars,
        districts=districts,
        attributes=attributes,
    )
    rules: list[Rule] = []
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"{path}.rules[{i}]"
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str):
            if name in first:
                problems.append(
                    Problem(
                        f"{where}.name",
                        f"duplicate rule name {name!r} (also {path}.rules[{first[name]}])",
                    )
                )
            else:
                first[name] = i
        rule = reader.rule(item, where)
        if rule is not None:
            rules.append(rule)
    if problems:
        return None, problems
    return RuleSet(tuple(rules), mode), []
