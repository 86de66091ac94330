"""
Personal data in free text: what it is, where it is, and who found it.

A :class:`Detector` looks at text and reports :class:`Finding` objects (a type, a
span, a score and its own name). An :class:`Analyzer` runs several detectors over one
text and resolves overlapping findings deterministically. Detectors are pure: no I/O,
no model downloads, no global state.

The built-in detectors live in private modules (patterns such as emails, phones and
card numbers; people's names; US street addresses; the parties a case is known to
have); :func:`default_detectors` assembles them, and plugins add their own through
the ``civiccrm_pii_detectors`` hook.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import logging
import operator
from collections.abc import Iterable, Sequence
from typing import Final, Protocol, runtime_checkable

import attrs

__all__ = [
    "detector_failed",
    "Analyzer",
    "Detector",
    "Finding",
    "KnownEntities",
    "PiiType",
    "default_detectors",
    "resolve_overlaps",
]


class PiiType(enum.StrEnum):
    """
    The kinds of personal data civiccrm detects. Plugins may report their own types as
    plain strings (``"BENEFITS_CLIENT_ID"``); these are the built-in ones.

    .. versionadded:: 0.1.0
    """

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    US_SSN = "US_SSN"
    US_ITIN = "US_ITIN"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    IP_ADDRESS = "IP_ADDRESS"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    US_ADDRESS = "US_ADDRESS"
    DRIVER_LICENSE = "DRIVER_LICENSE"
    PASSPORT = "PASSPORT"
    PERSON = "PERSON"


@attrs.frozen(order=False, init=False)
class Finding:
    """
    One piece of personal data found in a text: ``text[start:end]`` is it.

    ``score`` is the detector's confidence from 0 to 1 (1: certain, such as a known
    party's email or a card number that passes its checksum). ``type`` is a
    :class:`PiiType` value or a plugin's own type name.

    .. versionadded:: 0.1.0
    """

    type: str
    start: int
    end: int
    score: float
    detector: str

    def __init__(self, type: str, start: int, end: int, score: float, detector: str) -> None:
        # Written out rather than generated: detectors make one per finding, and this
        # checks first (as _check does, inlined), then sets the frozen slots directly.
        if not (0 <= start < end and 0.0 <= score <= 1.0):
            _check(start, end, score)
        _SET_TYPE(self, type)
        _SET_START(self, start)
        _SET_END(self, end)
        _SET_SCORE(self, score)
        _SET_DETECTOR(self, detector)

    def __attrs_post_init__(self) -> None:
        # What attrs calls from the __init__ it writes for a subclass.
        _check(self.start, self.end, self.score)

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end


def _check(start: int, end: int, score: float) -> None:
    if not 0 <= start < end:
        raise ValueError(f"a finding needs 0 <= start < end, got {start}..{end}")
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"a finding's score is from 0 to 1, got {score}")


# The slots' own setters (a frozen class's __setattr__ refuses).
_SET_TYPE = Finding.__dict__["type"].__set__
_SET_START = Finding.__dict__["start"].__set__
_SET_END = Finding.__dict__["end"].__set__
_SET_SCORE = Finding.__dict__["score"].__set__
_SET_DETECTOR = Finding.__dict__["detector"].__set__


@attrs.frozen(kw_only=True)
class KnownEntities:
    """
    What the CRM knows about the people of one case (its requester and other parties):
    their names, emails, phones and street addresses, as stored. A known-entity detector
    finds them in that case's text with certainty, in the forms people write them
    (initials, nicknames, other casing, with or without diacritics).

    .. versionadded:: 0.1.0
    """

    #: Full names as stored ("Anastasia Kowalczyk"), one per person.
    names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    #: Phone numbers, ideally E.164 ("+12175550134").
    phones: tuple[str, ...] = ()
    #: Street address lines ("742 Evergreen Terrace").
    addresses: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names or self.emails or self.phones or self.addresses)


@runtime_checkable
class Detector(Protocol):
    """
    Something that finds personal data in text.

    ``detect`` must be pure and must not raise on any text (garbage in, no findings
    out); ``known`` is given when the caller knows the case's parties.

    .. versionadded:: 0.1.0
    """

    #: A short unique name, reported in each finding (``"email"``, ``"us_ssn"``).
    name: str

    def detect(self, text: str, known: KnownEntities | None = None) -> Iterable[Finding]: ...


_log = logging.getLogger("civiccrm.privacy")
_REPORTED: set[tuple[str, str]] = set()


def detector_failed(detector: str, exc: BaseException) -> None:
    """
    Report that ``detector`` failed on a text (a bug: a built-in detector never raises,
    it returns no findings instead, so that redaction and logging go on). Logged once
    per detector and exception type as a warning on the ``civiccrm.privacy`` logger,
    with the exception's type only: never the text nor the exception's message, which
    could quote it. The text it failed on is then redacted by the other detectors only.

    .. versionadded:: 0.1.0
    """
    key = (detector, type(exc).__name__)
    if key in _REPORTED:
        return
    _REPORTED.add(key)
    _log.warning(
        "the %s detector failed (%s); texts it fails on lose its findings: please report",
        detector,
        type(exc).__name__,
    )


_BY_SPAN: Final = operator.attrgetter("start", "end")


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """
    Non-overlapping findings, deterministically, covering every character any finding
    covers: findings that overlap (directly or through a chain) become one finding
    spanning them all, with the type, score and detector of the one that wins among
    them: the higher score, then the longer span, then the earlier start, then the
    type and detector names in order. Returned in text order.

    Taking the union rather than dropping the losers is what redaction needs: a known
    party's street line (certain) inside a longer address with its city and ZIP code
    (likely) must not leave the city and ZIP code in clear.

    .. versionadded:: 0.1.0
    """
    ordered = sorted(findings, key=_BY_SPAN)
    out: list[Finding] = []
    n = len(ordered)
    i = 0
    while i < n:
        first = ordered[i]
        end = first.end
        j = i + 1
        while j < n and ordered[j].start < end:
            end = max(end, ordered[j].end)
            j += 1
        out.append(first if j == i + 1 else _merge(ordered[i:j]))
        i = j
    return out


def _merge(group: list[Finding]) -> Finding:
    if len(group) == 1:
        return group[0]
    best = min(group, key=lambda f: (-f.score, -f.length, f.start, f.type, f.detector, f.end))
    start = min(f.start for f in group)
    end = max(f.end for f in group)
    if (start, end) == (best.start, best.end):
        return best
    return Finding(type=best.type, start=start, end=end, score=best.score, detector=best.detector)


class Analyzer:
    """
    Runs detectors over text. ``analyze`` returns non-overlapping findings in text
    order (see :func:`resolve_overlaps`); ``findings`` returns every raw finding.

    .. versionadded:: 0.1.0
    """

    def __init__(self, detectors: Sequence[Detector]) -> None:
        names = [d.name for d in detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"detector names must be unique, got {names}")
        self.detectors: tuple[Detector, ...] = tuple(detectors)

    def findings(
        self,
        text: str,
        *,
        known: KnownEntities | None = None,
        types: Iterable[str] | None = None,
    ) -> list[Finding]:
        out: list[Finding] = []
        if types is None:
            for detector in self.detectors:
                out.extend(detector.detect(text, known))
            return out
        wanted = frozenset(types)
        for detector in self.detectors:
            out.extend(f for f in detector.detect(text, known) if f.type in wanted)
        return out

    def analyze(
        self,
        text: str,
        *,
        known: KnownEntities | None = None,
        types: Iterable[str] | None = None,
    ) -> list[Finding]:
        return resolve_overlaps(self.findings(text, known=known, types=types))


def default_detectors(*, region: str = "US") -> list[Detector]:
    """
    civiccrm's built-in detectors: patterns (emails, phones of ``region`` and
    international ones, US SSN and ITIN, payment cards, IBAN, IP addresses, dates of
    birth, driver-licence and passport numbers near their context words), people's
    names, US street addresses, and the parties a case is known to have.

    .. versionadded:: 0.1.0
    """
    from civiccrm.privacy._addresses import UsAddressDetector
    from civiccrm.privacy._known import KnownEntityDetector
    from civiccrm.privacy._names import PersonNameDetector
    from civiccrm.privacy._patterns import pattern_detectors

    return [
        *pattern_detectors(region=region),
        PersonNameDetector(),
        UsAddressDetector(),
        KnownEntityDetector(),
    ]
