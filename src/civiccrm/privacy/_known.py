"""
The parties a case is known to have, found in that case's text with certainty.

Given a :class:`~civiccrm.privacy.detect.KnownEntities` (the requester's and other
parties' names, emails, phones and street addresses as the CRM stores them), finds each
in the forms people write them:

- names in any casing, with or without diacritics (``Zoë Núñez`` ~ ``zoe nunez``), with
  initials (``A. Kowalczyk``, ``A Kowalczyk``, ``Kowalczyk, Anastasia``), after a title
  (``Ms Kowalczyk``), by a common nickname (``Bob`` for ``Robert``), and the given name
  or surname alone where it is capitalised or the full name is also in the text;
- emails in any casing;
- phones in any formatting: the digits are compared (the last ten for a North
  American number, so ``(217) 555-0134`` ~ ``+12175550134``; a national number with
  its trunk zero for others);
- street address lines in any casing and spacing, with suffixes, directions and unit
  designators in any of their USPS spellings (``742 evergreen ter.`` ~ ``742 Evergreen
  Terrace``).

Every finding scores 1.0. Nothing is compiled per case: each known surname, given name,
email and house number is looked for with ``str.find`` in the text folded to lower
case without diacritics, and the forms around each place it occurs are read from
there.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, NamedTuple

from civiccrm.privacy._addresses import (
    ADDRESS_TOKEN_RE,
    _words,
    canonical_token,
    normalise_address,
)
from civiccrm.privacy._names import (
    AMBIGUOUS_GIVEN_NAMES,
    COMMON_CAPITALISED_WORDS,
    NOT_GIVEN_NAMES,
    PLACE_GIVEN_NAMES,
    given_names,
)
from civiccrm.privacy.detect import Finding, KnownEntities, PiiType, detector_failed

__all__ = ["NICKNAMES", "KnownEntityDetector"]

#: Common English given names and their usual short forms. Used both ways: a known
#: ``Robert`` is found as ``Bob``, a known ``Bob`` as ``Robert``.
NICKNAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "abigail": ("abby", "abbie", "gail"),
    "albert": ("al", "bert", "albie"),
    "alexander": ("alex", "xander", "sandy", "lex"),
    "alexandra": ("alex", "lexi", "sandra", "sasha"),
    "alfred": ("alf", "alfie", "fred"),
    "allison": ("ally", "allie"),
    "amanda": ("mandy", "manda"),
    "anastasia": ("ana", "stacy", "stacey", "tasia", "stasia"),
    "andrew": ("andy", "drew"),
    "angela": ("angie",),
    "anthony": ("tony",),
    "barbara": ("barb", "barbie", "babs"),
    "benjamin": ("ben", "benny", "benji"),
    "bradley": ("brad",),
    "cassandra": ("cassie", "sandra"),
    "catherine": ("cathy", "cate", "kate", "katie", "cat"),
    "charles": ("charlie", "chuck", "chas", "chaz"),
    "christina": ("chris", "tina", "chrissy"),
    "christine": ("chris", "tina", "chrissy"),
    "christopher": ("chris", "topher", "kit"),
    "clifford": ("cliff",),
    "cynthia": ("cindy",),
    "daniel": ("dan", "danny"),
    "deborah": ("debbie", "deb", "debby"),
    "dominic": ("dom",),
    "donald": ("don", "donnie"),
    "dorothy": ("dot", "dottie", "dolly"),
    "douglas": ("doug",),
    "edward": ("ed", "eddie", "ted", "ned"),
    "eleanor": ("ellie", "nora", "nell"),
    "elizabeth": ("liz", "beth", "betty", "eliza", "lizzie", "libby", "betsy"),
    "ernest": ("ernie",),
    "eugene": ("gene",),
    "florence": ("flo",),
    "frances": ("fran", "frankie"),
    "francis": ("frank", "frankie", "fran"),
    "frederick": ("fred", "freddie", "freddy"),
    "gabriel": ("gabe",),
    "gabrielle": ("gabby", "gabi"),
    "gerald": ("jerry", "gerry"),
    "gregory": ("greg",),
    "gwendolyn": ("gwen",),
    "harold": ("hal", "harry"),
    "henry": ("hank", "harry", "hal"),
    "herbert": ("herb", "bert"),
    "isabella": ("bella", "izzy", "isa"),
    "jacob": ("jake",),
    "jacqueline": ("jackie", "jacqui"),
    "james": ("jim", "jimmy", "jamie"),
    "jeffrey": ("jeff",),
    "jennifer": ("jen", "jenny", "jenn"),
    "jeremy": ("jerry",),
    "jessica": ("jess", "jessie"),
    "john": ("johnny", "jack"),
    "jonathan": ("jon", "johnny"),
    "joseph": ("joe", "joey"),
    "josephine": ("jo", "josie"),
    "joshua": ("josh",),
    "judith": ("judy",),
    "katherine": ("kate", "katie", "kathy", "kat", "kay"),
    "kathleen": ("kathy", "kate", "kath"),
    "kenneth": ("ken", "kenny"),
    "kimberly": ("kim",),
    "lawrence": ("larry",),
    "leonard": ("len", "lenny", "leo"),
    "louis": ("lou",),
    "madeline": ("maddie", "maddy"),
    "margaret": ("maggie", "peggy", "meg", "marge", "margie", "greta"),
    "matthew": ("matt",),
    "melissa": ("missy", "mel"),
    "michael": ("mike", "mikey", "mick"),
    "mitchell": ("mitch",),
    "nancy": ("nan",),
    "nathaniel": ("nate", "nat", "nathan"),
    "nicholas": ("nick", "nicky"),
    "pamela": ("pam",),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "philip": ("phil",),
    "phillip": ("phil",),
    "raymond": ("ray",),
    "rebecca": ("becky", "becca"),
    "richard": ("rick", "dick", "rich", "ricky", "richie"),
    "robert": ("bob", "rob", "bobby", "robbie", "bert"),
    "ronald": ("ron", "ronnie"),
    "russell": ("russ",),
    "samantha": ("sam", "sammy"),
    "samuel": ("sam", "sammy"),
    "sandra": ("sandy",),
    "stephanie": ("steph",),
    "stephen": ("steve",),
    "steven": ("steve",),
    "susan": ("sue", "susie", "suzy"),
    "teresa": ("terry", "tess"),
    "theodore": ("ted", "teddy", "theo"),
    "theresa": ("terry", "tess"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "valerie": ("val",),
    "victoria": ("vicky", "vickie", "tori"),
    "vincent": ("vince", "vinny"),
    "virginia": ("ginny",),
    "walter": ("walt",),
    "william": ("bill", "will", "billy", "willie", "liam"),
    "zachary": ("zach", "zack"),
}

_NICK_TO_FULL: Final[Mapping[str, tuple[str, ...]]] = {
    nick: tuple(sorted(full for full, nicks in NICKNAMES.items() if nick in nicks))
    for nick in sorted({n for nicks in NICKNAMES.values() for n in nicks})
}

_PARTICLES: Final = _words(
    "van von der den de del della da di du dos das le la ter ten bin ibn al st"
)
_TITLES: Final = _words(
    """mr mrs ms miss mx dr prof professor rev officer sgt sergeant judge det detective
    deputy captain capt lt mayor councilmember councilman councilwoman commissioner"""
)
#: Surnames that are common words: alone, they count only capitalised in mid-sentence.
_WORD_SURNAMES: Final = _words(
    """brown white green black gray grey young long little small rich wise hall hill
    wood woods stone rose price page lane park king bell cook baker walker rice bush
    moss frost snow rivers banks mills wells fields hunt read reed cross ward webb
    sharp sweet swift strong best good free friend hope joy love day noble major
    sterling street church field ford marsh lake brook brooks branch bird fox wolf lamb
    crane hawk swan drake fish bass pike glass steel gold silver mason carter cooper
    hunter turner porter potter fisher farmer gardner miller waters north south east
    west winter summer spring may march early short late bond cash chase grant case
    page booth burns dean bishop knight chance"""
)
_FOLD_EXTRA: Final[Mapping[str, str]] = {
    "ł": "l", "đ": "d", "ø": "o", "æ": "ae", "œ": "oe", "\u0131": "i", "þ": "th", "ð": "d",
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-", "\u2013": "-", "\u2014": "-",
}  # fmt: skip
_SEGMENTS_RE: Final = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]")


@functools.lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    lower = ch.lower()
    if lower in _FOLD_EXTRA:
        return _FOLD_EXTRA[lower]
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fold(text: str) -> tuple[str, list[int] | None]:
    """
    ``text`` in lower case without diacritics, and for each of its characters the
    index of the character of ``text`` it came from (None when that is the identity,
    as for ASCII text).

    .. versionadded:: 0.1.0
    """
    if text.isascii():
        return text.lower(), None
    pieces: list[str] = []
    origin: list[int] = []
    for m in _SEGMENTS_RE.finditer(text):
        segment = m.group(0)
        if segment.isascii():
            pieces.append(segment.lower())
            origin.extend(range(m.start(), m.end()))
        else:
            folded = _fold_char(segment)
            pieces.append(folded)
            origin.extend([m.start()] * len(folded))
    return "".join(pieces), origin


class _Person(NamedTuple):
    """A known name, folded: its given name with its nicknames (or the names it is a
    nickname of), its middle names, its surname and the ways that is written."""

    givens: frozenset[str]
    initial: str
    middles: frozenset[str]
    surname: str  # "" for a single name


class _Anchor(NamedTuple):
    person: int
    role: str  # "surname" or "given" (a given name or nickname alone)
    wordy: bool  # alone, also a common word: capitalised and mid-sentence only


class _Matchers(NamedTuple):
    persons: tuple[_Person, ...]
    anchors: Mapping[str, tuple[_Anchor, ...]]
    emails: tuple[str, ...]
    phones: tuple[tuple[str, bool], ...]  # (digits, North American)
    addresses: Mapping[str, tuple[tuple[str, ...], ...]]  # first token -> token lists


def _person(name: str) -> _Person | None:
    tokens = [t.strip(".") for t in re.split(r"[\s,]+", fold(name)[0])]
    tokens = [t for t in tokens if t.strip("'-")]
    if not tokens:
        return None
    if len(tokens) == 1:
        return _Person(frozenset(tokens), tokens[0][0], frozenset(), "")
    cut = next((k for k in range(1, len(tokens) - 1) if tokens[k] in _PARTICLES), None)
    if cut is None:
        cut = len(tokens) - 1
    given = tokens[0]
    givens = {given, *NICKNAMES.get(given, ()), *_NICK_TO_FULL.get(given, ())}
    return _Person(frozenset(givens), given[0], frozenset(tokens[1:cut]), " ".join(tokens[cut:]))


def _spellings(word: str) -> set[str]:
    """A folded name as it may be written: "smith-jones" / "smith jones" / "smithjones",
    "o'brien" / "obrien"."""
    out = {word}
    if "-" in word:
        out |= {word.replace("-", " "), word.replace("-", "")}
    if "'" in word:
        out |= {word.replace("'", ""), word.replace("'", " ")}
    return out


@functools.cache
def _common_given_words() -> frozenset[str]:
    return frozenset(n.lower() for n, info in given_names().items() if info.is_word)


def _wordy(form: str) -> bool:
    cap = form.capitalize()
    return (
        form in _WORD_SURNAMES
        or cap in AMBIGUOUS_GIVEN_NAMES
        or cap in NOT_GIVEN_NAMES
        or cap in PLACE_GIVEN_NAMES
        or form in _common_given_words()
    )


def _strings(values: Iterable[object]) -> Iterator[str]:
    """The strings among ``values`` (a caller may pass anything)."""
    return (v for v in values if isinstance(v, str))


@functools.lru_cache(maxsize=1024)
def _matchers(known: KnownEntities) -> _Matchers:
    persons: list[_Person] = []
    anchors: dict[str, list[_Anchor]] = {}
    for name in _strings(known.names):
        p = _person(name)
        if p is None:
            continue
        n = len(persons)
        persons.append(p)
        if p.surname:
            for spelling in _spellings(p.surname):
                anchors.setdefault(spelling, []).append(_Anchor(n, "surname", _wordy(spelling)))
        for g in p.givens:
            if len(g) >= 3:
                anchors.setdefault(g, []).append(_Anchor(n, "given", _wordy(g)))
    emails = tuple(sorted({e.strip().lower() for e in _strings(known.emails) if "@" in e}))
    phones: list[tuple[str, bool]] = []
    for phone in _strings(known.phones):
        digits = re.sub(r"\D", "", phone)
        if phone.strip().startswith("00"):
            digits = digits[2:]
        if len(digits) == 10 and not phone.strip().startswith("+"):
            digits = "1" + digits  # a North American number stored without +1
        if len(digits) >= 7:
            phones.append((digits, len(digits) == 11 and digits[0] == "1"))
    addresses: dict[str, set[tuple[str, ...]]] = {}
    for line in _strings(known.addresses):
        for part in {line, line.split(",", 1)[0]}:  # with its city and without
            tokens = tuple(normalise_address(part))
            if len(tokens) >= 2:
                addresses.setdefault(tokens[0], set()).add(tokens)
    return _Matchers(
        tuple(persons),
        {k: tuple(v) for k, v in anchors.items()},
        emails,
        tuple(phones),
        {k: tuple(sorted(v, key=len, reverse=True)) for k, v in addresses.items()},
    )


def _occurrences(folded: str, needle: str) -> Iterator[tuple[int, int]]:
    """Where ``needle`` is a whole word (or words) of ``folded``."""
    start = folded.find(needle)
    while start != -1:
        end = start + len(needle)
        before = folded[start - 1] if start else " "
        if not (before.isalnum() or before in "_'@.-") and not _WORD_AFTER_RE.match(folded, end):
            yield start, end
        start = folded.find(needle, start + 1)


#: What may not follow a name: more of a word, "@", "-x", ".x" (an email), "'xx".
_WORD_AFTER_RE: Final = re.compile(r"[\w@]|[-.]\w|'\w\w")
# Before a surname: up to three words (a given name, middle names or initials, a title).
_WORDS_BEFORE_RE: Final = re.compile(
    r"(?<![^\W\d_])(?:[^\W\d_]+(?:['-][^\W\d_]+)*\.?[ \t\r\n]+){1,3}$"
)
_WORD_RE: Final = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
# After a surname: ", Given" or ", G." and perhaps a middle name or initial.
_GIVEN_AFTER_RE: Final = re.compile(
    r"[ \t]*,[ \t]*(?P<g>[^\W\d_]+(?:['-][^\W\d_]+)*)(?P<gdot>\.)?"
    r"(?:[ \t]+(?P<m>[^\W\d_]+)(?P<mdot>\.)?(?![\w'-]))?"
)
_ADDRESS_SEPARATOR_RE: Final = re.compile(r"[\s,.]*")
_EMAIL_BEFORE: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.+-@")
_EMAIL_AFTER_RE: Final = re.compile(r"[\w@-]|\.\w")
_PHONE_RE: Final = re.compile(
    r"(?=[+(\d])(?<![\w+])(?:\+[ \t]?)?\(?\d(?:(?:[ \t.\-/]|\)[ \t]?|[ \t]?\()?\d)+(?![\w])"
)
_DIGITS_RE: Final = re.compile(r"\d+")
#: A phone number is written in at most this many groups of digits ("+1 (217) 555 01 34").
_MAX_PHONE_GROUPS: Final = 6
_SENTENCE_START_RE: Final = re.compile(
    r"(?:^|[.!?:;\"\u201c\u201d(\[\n>*•|-])[ \t\"\u201c'\u2018(]*$"
)
_CAP_WORD_AFTER_RE: Final = re.compile(
    r"[ \t]([A-Z][a-z]+(?:['\u2019-][A-Za-z]+)?)\b(?!['\u2019]\w\w)"
)
_CAP_WORD_BEFORE_RE: Final = re.compile(r"\b([A-Z][a-z]+)[ \t]$")
_SAINT_BEFORE_RE: Final = re.compile(r"\b(?:St\.?|Saint|Ste\.?)[ \t]+$")
_BUSINESS_AFTER_RE: Final = re.compile(r"['\u2019]s[ \t]+[A-Z]")


class KnownEntityDetector:
    """
    Finds a case's known parties in its text: names (type ``PERSON``), emails,
    phones and street address lines, with score 1.0 (see the module's docstring for
    the forms). Without ``known`` it finds nothing.

    .. versionadded:: 0.1.0
    """

    name = "known_entity"

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        """The known entities in ``text``, in text order. Never raises."""
        try:
            if not known or not isinstance(text, str) or not text:
                return []
            try:
                hash(known)
            except TypeError:  # lists where tuples belong: build without the cache
                matchers = _matchers.__wrapped__(known)
            else:
                matchers = _matchers(known)
            folded, origin = fold(text)
            found = {
                (f.type, f.start, f.end): f
                for f in (
                    *self._names(text, folded, origin, matchers),
                    *self._emails(folded, origin, matchers),
                    *self._phones(text, matchers),
                    *self._addresses(folded, origin, matchers),
                )
            }
        except Exception as exc:  # noqa: BLE001 - a detector never raises (detect.Detector)
            detector_failed(self.name, exc)
            return []
        return sorted(found.values(), key=lambda f: (f.start, f.end, f.type))

    def _finding(self, kind: str, start: int, end: int) -> Finding:
        return Finding(kind, start, end, 1.0, self.name)

    def _span(self, kind: str, origin: list[int] | None, start: int, end: int) -> Finding:
        """A finding from a span of the folded text."""
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        return self._finding(kind, start, end)

    def _names(
        self, text: str, folded: str, origin: list[int] | None, matchers: _Matchers
    ) -> Iterator[Finding]:
        certain: list[tuple[int, int, int]] = []  # (start, end, person), folded
        alone: list[tuple[int, int, _Anchor]] = []
        for needle, anchors in matchers.anchors.items():
            for start, end in _occurrences(folded, needle):
                for anchor in anchors:
                    if anchor.role == "surname":
                        person = matchers.persons[anchor.person]
                        span = _around_surname(folded, start, end, person)
                        if span is not None:
                            certain.append((*span, anchor.person))
                            continue
                    alone.append((start, end, anchor))
        seen = {person for _, _, person in certain}
        taken = _Spans()
        reach = -1
        for start, end, _ in sorted(certain, key=lambda c: (c[0], -c[1])):
            if end > reach:  # not inside a longer full name found before
                reach = end
                taken.add(start, end)
                yield self._span(PiiType.PERSON, origin, start, end)
        for start, end, anchor in sorted(alone, key=lambda a: a[:2]):
            if taken.overlaps(start, end):
                continue  # part of a full name found above
            o_start, o_end = (
                (start, end) if origin is None else (origin[start], origin[end - 1] + 1)
            )
            capitalised = text[o_start].isupper()
            if capitalised and self._next_to_other_name(text, o_start, o_end):
                continue  # "Anna Kowalski" is not the known Anna Lee
            if anchor.wordy:
                ok = capitalised and (
                    anchor.person in seen
                    or not _SENTENCE_START_RE.search(text, max(0, o_start - 6), o_start)
                )
            else:
                ok = capitalised or anchor.person in seen
            if ok:
                yield self._finding(PiiType.PERSON, o_start, o_end)

    @staticmethod
    def _next_to_other_name(text: str, start: int, end: int) -> bool:
        """Whether a given name or surname alone is part of another name or a place's:
        "Anna Kowalski", "Maria Lee", "St. John's Hospital", "Kevin's Auto Body"."""
        if _SAINT_BEFORE_RE.search(text, max(0, start - 8), start) or _BUSINESS_AFTER_RE.match(
            text, end
        ):
            return True
        after = _CAP_WORD_AFTER_RE.match(text, end)
        if after is not None and after.group(1) not in COMMON_CAPITALISED_WORDS:
            return True
        before = _CAP_WORD_BEFORE_RE.search(text, max(0, start - 30), start)
        return before is not None and before.group(1) not in COMMON_CAPITALISED_WORDS

    def _emails(
        self, folded: str, origin: list[int] | None, matchers: _Matchers
    ) -> Iterator[Finding]:
        if not matchers.emails or "@" not in folded:
            return
        for email in matchers.emails:
            start = folded.find(email)
            while start != -1:
                end = start + len(email)
                if (start == 0 or folded[start - 1] not in _EMAIL_BEFORE) and not (
                    _EMAIL_AFTER_RE.match(folded, end)
                ):
                    yield self._span(PiiType.EMAIL, origin, start, end)
                start = folded.find(email, start + 1)

    def _phones(self, text: str, matchers: _Matchers) -> Iterator[Finding]:
        if not matchers.phones:
            return
        for m in _PHONE_RE.finditer(text):
            run = _DigitRun(text, m, matchers.phones)
            if run.digits < 7:
                continue
            if run.is_known(0, len(run.groups) - 1):
                yield self._phone(text, m.start(), m.end())
                continue
            # Else the longest runs of up to six digit groups that are a known number,
            # left to right ("call 217 555 0134 2 times").
            i = 0
            while i < len(run.groups):
                last = min(len(run.groups), i + _MAX_PHONE_GROUPS) - 1
                if run.count(i, last) < 7:
                    i += 1  # too few digits from here
                    continue
                j = next((j for j in range(last, i - 1, -1) if run.is_known(i, j)), None)
                if j is None:
                    i += 1
                    continue
                start = m.start() if i == 0 else run.groups[i][0]  # with its "+" or "("
                yield self._phone(text, start, run.groups[j][1])
                i = j + 1

    def _phone(self, text: str, start: int, end: int) -> Finding:
        if text[start] == "(" and ")" not in text[start:end]:
            start += 1
        return self._finding(PiiType.PHONE, start, end)

    def _addresses(
        self, folded: str, origin: list[int] | None, matchers: _Matchers
    ) -> Iterator[Finding]:
        for first, lines in matchers.addresses.items():
            for start, end in _occurrences(folded, first):
                for tokens in lines:  # the longest first: with its city, then without
                    stop = _address_at(folded, end, tokens)
                    if stop is not None:
                        yield self._span(PiiType.US_ADDRESS, origin, start, stop)
                        break


class _Spans:
    """Spans added in order of their starts; which of them a span overlaps, in log
    time."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []  # the greatest end so far, at each index

    def add(self, start: int, end: int) -> None:
        self.starts.append(start)
        self.ends.append(max(end, self.ends[-1]) if self.ends else end)

    def overlaps(self, start: int, end: int) -> bool:
        k = bisect.bisect_left(self.starts, end)  # the spans that start before ``end``
        return k > 0 and self.ends[k - 1] > start


def _around_surname(folded: str, start: int, end: int, person: _Person) -> tuple[int, int] | None:
    """The span of a full name around a known surname at ``start:end`` of the folded
    text: with the given name (or nickname, or initial) and middle names or initials
    before it, or ", Given" after it. None if there is no such full name; then a title
    before it ("Ms Kowalczyk") still makes the surname alone certain."""

    def initial_or_middle(word: str) -> bool:
        return len(word) == 1 or word in person.middles

    window_start = max(0, start - 48)
    before = _WORDS_BEFORE_RE.search(folded, window_start, start)
    if before is not None:
        words = [(w.start(), w.group(0)) for w in _WORD_RE.finditer(folded, before.start(), start)]
        for k in range(len(words)):  # the longest form first
            first_start, first = words[k]
            if all(initial_or_middle(w) for _, w in words[k + 1 :]) and (
                first in person.givens or first == person.initial
            ):
                return first_start, end
        if words and words[-1][1] in _TITLES:
            return start, end
    after = _GIVEN_AFTER_RE.match(folded, end)
    if after is not None:
        given = after.group("g")
        if given in person.givens:
            stop = after.end("g")
        elif given == person.initial:
            stop = after.end("gdot") if after.group("gdot") else after.end("g")
        else:
            return None
        middle = after.group("m")
        if middle is not None and initial_or_middle(middle):
            stop = after.end("mdot") if after.group("mdot") else after.end("m")
        return start, stop
    return None


def _address_at(folded: str, pos: int, tokens: tuple[str, ...]) -> int | None:
    """Where the known address line ``tokens`` ends if the rest of it (all but its first
    token) follows ``pos`` of the folded text, else None."""
    for index, token in enumerate(tokens[1:], start=1):
        pos = _ADDRESS_SEPARATOR_RE.match(folded, pos).end()  # type: ignore[union-attr]
        m = ADDRESS_TOKEN_RE.match(folded, pos)
        if m is None or canonical_token(m.group(0), index) != token:
            return None
        pos = m.end()
    return pos


class _DigitRun:
    """The groups of digits of a phone-like run in a text."""

    def __init__(self, text: str, m: re.Match[str], phones: tuple[tuple[str, bool], ...]) -> None:
        self.text = text
        self.phones = phones
        self.groups = [(g.start(), g.end()) for g in _DIGITS_RE.finditer(text, *m.span())]
        self.counts = list(itertools.accumulate((e - s for s, e in self.groups), initial=0))
        self.digits = self.counts[-1]

    def count(self, i: int, j: int) -> int:
        """How many digits groups ``i`` to ``j`` hold."""
        return self.counts[j + 1] - self.counts[i]

    def is_known(self, i: int, j: int) -> bool:
        """Whether groups ``i`` to ``j`` are one of the known numbers."""
        if not 7 <= self.count(i, j) <= 16:
            return False
        digits = "".join(self.text[s:e] for s, e in self.groups[i : j + 1])
        return any(_same_phone(digits, known, nanp) for known, nanp in self.phones)


def _same_phone(digits: str, known: str, nanp: bool) -> bool:
    """Whether the digits of a number in the text are the known number."""
    if digits in (known, "00" + known, "011" + known):
        return True
    if nanp:
        if len(digits) == 10 or (len(digits) == 11 and digits[0] == "1"):
            return digits[-10:] == known[-10:]
        return len(digits) == 7 and digits == known[-7:]
    national = digits.lstrip("0")
    return (
        len(national) >= 7
        and known.endswith(national)
        and 1 <= len(known) - len(national) <= 3
        and digits != national
    )
