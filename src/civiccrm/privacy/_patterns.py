"""
Pattern detectors: personal data that has a shape (emails, phone numbers, US SSN and
ITIN, payment cards, IBAN, IP addresses) or that a shape plus its context words give
away (dates of birth, driver-licence and passport numbers).

Free text in a CRM is full of numbers that are not personal data: case and service
request numbers (``SR-2026-004512``, ``CASE 2026-0042-17``), amounts, appointment
dates, parcel ids, order numbers, times and zip codes. The detectors here are tuned for
precision as much as recall: checksums (Luhn, mod 97) and numbering rules (SSN ranges,
card issuer prefixes, IBAN lengths, phone number metadata) reject look-alikes, numbers
attached to an id label (``SR-``, ``case``, ``ticket``, ``#``, ``No.``) are never
phones, and the context-bound kinds match only next to their context words, with
nothing but connecting words in between.

They are also fast. Each detector makes one or two passes over the text with compiled
patterns that start on a digit or a literal (``@``, ``+``, ``:``, a context word in
the lowercased text), so the regular expression engine skips ahead in C; everything
else (checksums, context, labels) runs on the few candidates only. Detectors never
raise and are deterministic: the same text gives the same findings, in text order.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Final

import attrs
import phonenumbers
from phonenumbers import Leniency, PhoneNumber, PhoneNumberMatcher

from civiccrm.privacy.detect import Detector, Finding, KnownEntities, PiiType

__all__ = [
    "IBAN_LENGTHS",
    "CreditCardDetector",
    "DateOfBirthDetector",
    "DriverLicenseDetector",
    "EmailDetector",
    "IbanDetector",
    "IpAddressDetector",
    "PassportDetector",
    "PhoneDetector",
    "UsItinDetector",
    "UsSsnDetector",
    "pattern_detectors",
]

_HAS_DIGIT: Final = re.compile(r"[0-9]")


# --- shared helpers -------------------------------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """
    ``list(pattern.finditer(text))`` for a ``pattern`` that never matches the empty
    string: one search after another, cheaper than an iterator for a text where it
    finds nothing or little (the common case of each detector).
    """
    m = pattern.search(text)
    if m is None:
        return []
    found = [m]
    while (m := pattern.search(text, m.end())) is not None:
        found.append(m)
    return found


# The types, bound once (an enum's attribute is slower to read than a module's).
_T_EMAIL: Final = PiiType.EMAIL
_T_PHONE: Final = PiiType.PHONE
_T_US_SSN: Final = PiiType.US_SSN
_T_US_ITIN: Final = PiiType.US_ITIN
_T_CREDIT_CARD: Final = PiiType.CREDIT_CARD
_T_IBAN: Final = PiiType.IBAN
_T_IP_ADDRESS: Final = PiiType.IP_ADDRESS
_T_DATE_OF_BIRTH: Final = PiiType.DATE_OF_BIRTH
_T_DRIVER_LICENSE: Final = PiiType.DRIVER_LICENSE
_T_PASSPORT: Final = PiiType.PASSPORT


def _findings(kind: str, name: str, spans: Iterable[tuple[int, int, float]]) -> list[Finding]:
    """Findings in text order, one per span (the highest score if two coincide)."""
    if isinstance(spans, list):
        if not spans:
            return []
        if len(spans) == 1:
            start, end, score = spans[0]
            return [Finding(kind, start, end, score, name)]
    best: dict[tuple[int, int], float] = {}
    for start, end, score in spans:
        if best.get((start, end), -1.0) < score:
            best[start, end] = score
    return [Finding(kind, s, e, best[s, e], name) for s, e in sorted(best)]


def _context_before(
    pattern: re.Pattern[str], text: str, start: int, window: int
) -> tuple[int, int] | None:
    """The last match of ``pattern`` ending at most ``window`` characters before ``start``."""
    found = None
    for m in pattern.finditer(text, max(0, start - window - 24), start):
        if m.end() >= start - window:
            found = m.span()
    return found


def _context_after(
    pattern: re.Pattern[str], text: str, end: int, window: int
) -> tuple[int, int] | None:
    """The first match of ``pattern`` starting at most ``window`` characters after ``end``."""
    m = pattern.search(text, end, min(len(text), end + window + 24))
    if m is None or m.start() > end + window:
        return None
    if m.end() == end + window + 24:
        m = pattern.match(text, m.start())  # cut by the window: match it whole
    return None if m is None else m.span()


def _near(
    pattern: re.Pattern[str], text: str, start: int, end: int, before: int, after: int
) -> bool:
    return (
        _context_before(pattern, text, start, before) is not None
        or _context_after(pattern, text, end, after) is not None
    )


#: The last text lowercased and its lowercase form: the detectors that look for context
#: words run one after another on the same text (a tuple: one atomic assignment).
_LAST_LOWERED: tuple[str, str] = ("", "")


#: The last text asked about digits, and the answer (see :data:`_LAST_LOWERED`).
_LAST_DIGITS: tuple[str, bool] = ("", False)


def _has_digit(text: str) -> bool:
    """Whether ``text`` holds an ASCII digit, found once for the detectors that ask."""
    global _LAST_DIGITS
    last = _LAST_DIGITS
    if last[0] is text:
        return last[1]
    found = _HAS_DIGIT.search(text) is not None
    _LAST_DIGITS = (text, found)
    return found


def _lowered(text: str) -> str:
    """``text.lower()``, computed once for the detectors that run on the same text."""
    global _LAST_LOWERED
    last = _LAST_LOWERED
    if last[0] is text:
        return last[1]
    low = text.lower()
    _LAST_LOWERED = (text, low)
    return low


class _Keywords:
    """
    Context words found quickly: the literals' occurrences in the lowercased text, each
    confirmed by ``pattern`` (case-insensitive) in a window around it. Gives the same
    spans as ``pattern.finditer(text)`` when every match of ``pattern`` contains one of
    the literals within ``reach`` characters of its ends; with ``word_start``, at the
    start of a word (then "age" inside "message" or "page" opens no window).
    ``first``: the letters a match can start with, in any case; the windows are
    searched with a copy of ``pattern`` that looks ahead for one of them first (the
    engine then skips to them, where a ``\\b`` first is tried at every position).

    ``checks``: for some literals, what must follow an occurrence (matched at it in the
    text) for it to be part of a match of ``pattern`` ("age" in "Agent" is not): a
    window around occurrences none of which passes is not searched. The spans are the
    same: a match the window search keeps holds an occurrence inside the window, and
    that occurrence's check reads nothing the match did not read (the same characters,
    to the same word boundary), so it passes.
    """

    __slots__ = ("checks", "fast", "literals", "pattern", "plan", "reach", "word_start")

    def __init__(
        self,
        literals: tuple[str, ...],
        pattern: re.Pattern[str],
        reach: int,
        *,
        first: str,
        word_start: bool = False,
        checks: Mapping[str, re.Pattern[str]] | None = None,
    ) -> None:
        self.literals = literals
        self.pattern = pattern
        self.reach = reach
        self.word_start = word_start
        self.checks: Mapping[str, re.Pattern[str]] = checks or {}
        self.plan = tuple((literal, self.checks.get(literal)) for literal in literals)
        body = pattern.pattern.removeprefix("(?i)")
        self.fast = re.compile(f"(?=(?i:[{first}]))(?:{body})", pattern.flags)

    def spans(self, text: str) -> list[tuple[int, int]]:
        low = _lowered(text)
        if len(low) != len(text):  # a few characters lowercase to two: no shortcut
            return [m.span() for m in self.pattern.finditer(text)]
        hits: list[int] = []
        failed: set[int] = set()  # the occurrences that fail their check
        word_start = self.word_start
        find = low.find
        for literal, check in self.plan:
            i = find(literal)
            while i >= 0:
                if not (word_start and i and (low[i - 1].isalnum() or low[i - 1] == "_")):
                    hits.append(i)
                    if check is not None and check.match(text, i) is None:
                        failed.add(i)
                i = find(literal, i + 1)
        if not hits:
            return []
        hits.sort()
        n, reach = len(text), self.reach
        spans: list[tuple[int, int]] = []
        last = 0
        i = 0
        while i < len(hits):
            ws, we = max(last, hits[i] - reach), min(n, hits[i] + reach * 2)
            passed = hits[i] not in failed
            i += 1
            while i < len(hits) and hits[i] - reach <= we:
                we = min(n, hits[i] + reach * 2)
                passed = passed or hits[i] not in failed
                i += 1
            if not passed:
                last = max(last, we)
                continue
            for m in self.fast.finditer(text, ws, we):
                span = m.span()
                if m.end() == we and we < n:
                    whole = self.pattern.match(text, m.start())
                    if whole is None:
                        continue
                    span = whole.span()
                if span[0] >= last and span[1] > span[0]:
                    spans.append(span)
                    last = span[1]
            last = max(last, we)
        return spans


class _Spans:
    """Sorted spans, for "the nearest one before or after a position" by bisection."""

    __slots__ = ("ends", "spans", "starts")

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = spans
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]

    def before(self, pos: int, window: int) -> tuple[int, int] | None:
        i = bisect.bisect_right(self.ends, pos) - 1
        if i >= 0 and pos - self.ends[i] <= window:
            return self.spans[i]
        return None

    def after(self, pos: int, window: int) -> tuple[int, int] | None:
        i = bisect.bisect_left(self.starts, pos)
        if i < len(self.starts) and self.starts[i] - pos <= window:
            return self.spans[i]
        return None


#: Words that may stand between a context word and its value ("driver's license
#: number is D123...", "passport no. of the applicant: ...").
_CONNECTORS: Final = _word_set(
    "number num nbr no is was of the my his her their its our your s id on file reads "
    "shows shown listed as card and or issued by in state us usa u a an valid current "
    "copy security social ssn itin taxpayer identification sure yes yeah yep it that ok "
    "okay um uh so well"
)
#: Words that label some other number: a value after them belongs to that label.
_ID_WORDS: Final = _word_set(
    "case sr ticket tkt order ref reference request req confirmation conf invoice inv "
    "claim permit parcel pin account acct tracking docket incident receipt po wo job "
    "item sku serial model policy application appointment appt renewal plate "
    "registration vin"
)
_GAP_WORD: Final = re.compile(r"[^\W\d_]+")
_GAP_BAD: Final = re.compile(r"[0-9@;!?]|[.]\s+[A-Z]|\n\s*\n")
#: A turn in a call transcript: a question, then the next speaker's label
#: ("date of birth?\nCaller: 03/14/1985"). The answer belongs to the question.
_TURN: Final = re.compile(r"\?[ \t]*\r?\n[ \t]*[A-Z][\w .'\-]{0,24}:[ \t]*")


def _gap_ok(gap: str, *, capitals: bool = True) -> bool:
    """
    True when only connecting words and light punctuation stand between a context word
    and a value: no digits, no sentence break, no label of another number. Capitalised
    words (a state, a country, an agency) are let through when ``capitals`` is set. A
    question and the next speaker's label ("license number?\nCaller: ") are fine.
    """
    gap = _TURN.sub(" ", gap, count=1)
    if _GAP_BAD.search(gap):
        return False
    capitalised = 0
    for word in _GAP_WORD.findall(gap):
        lower = word.lower()
        if lower in _CONNECTORS:
            continue
        if lower in _ID_WORDS or not capitals or not word[0].isupper():
            return False
        capitalised += 1
        if capitalised > 3:
            return False
    return True


# --- email ----------------------------------------------------------------------------

_EMAIL: Final = re.compile(
    r"""
    (?<![\w%+.\-/])                             # not inside a longer token or a path
    (?P<local>\w(?:[\w%+\-]|[.'](?=[\w%+\-]))*)
    @
    (?P<domain>(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+)
    (?P<tld>[^\W\d_]{2,63})
    (?![\w\-]|\.[\w\-])
    """,
    re.VERBOSE,
)
#: The local part's characters, run back from an ``@``.
_LOCAL_RUN: Final = re.compile(r"[\w%+.'\-]{1,64}\Z")
#: The ASCII characters of :data:`_LOCAL_RUN`'s class.
_LOCAL_ASCII: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_%+.'-"


def _local_run_start(text: str, at: int) -> int:
    """
    Where ``_LOCAL_RUN.search(text, max(0, at - 64), at)`` starts, -1 if nowhere: the
    start of the run of its characters right before ``at``, 64 at most, found by
    stripping the ASCII ones (the regex itself when a word character beyond ASCII
    stops that).
    """
    lo = at - 64 if at > 64 else 0
    segment = text[lo:at]
    k = len(segment.rstrip(_LOCAL_ASCII))
    if k and segment[k - 1].isalnum():  # a word character beyond ASCII: ask the regex
        run = _LOCAL_RUN.search(text, lo, at)
        return -1 if run is None else run.start()
    return lo + k if k < len(segment) else -1


#: Generic and sponsored top-level domains seen in citizens' mail (any two-letter
#: country code is accepted too).
_KNOWN_TLDS: Final = _word_set(
    "com org net edu gov mil int info biz name pro aero coop museum mobi jobs travel tel "
    "asia cat post xxx app dev io ai co me tv cloud online site website store shop tech "
    "email page blog news live life world today space xyz top club city town county "
    "church law legal health care family help social solutions services agency center "
    "community network systems support team work works zone global digital media "
    "studio design art school college university academy institute foundation charity "
    "ngo ong fund gives bank insurance finance money llc inc ltd company business "
    "google gmail icloud apple microsoft amazon yahoo outlook london nyc paris berlin "
    "tokyo moscow swiss"
)
_URL_BEFORE: Final = re.compile(r"://\S*\Z")
#: File extensions that look like top-level domains in ``logo@2x.png``.
_FILE_EXTENSIONS: Final = _word_set(
    "png jpg jpeg gif bmp svg webp tif tiff ico heic pdf doc docx xls xlsx ppt pptx odt "
    "ods txt csv tsv json xml yaml yml html htm css js ts rb java exe dll bin log tar gz "
    "tgz rar mov avi wav mkv eml msg"
)


@attrs.define
class EmailDetector:
    """
    Email addresses: a dot-atom local part (letters, digits, ``._%+-`` and inner
    apostrophes, any script) and a domain of well-formed labels ending in an alphabetic
    top-level domain. Score 1.0 for a known or two-letter TLD, 0.6 for another alphabetic one;
    file names such as ``logo@2x.png`` and the user-info part of URLs
    (``https://user:pw@host``) are not emails.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="email", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        spans: list[tuple[int, int, float]] = []
        n, last, at = len(text), 0, text.find("@")
        while at >= 0:
            if at >= last:
                m = self._around(text, at, n)
                if m is not None:
                    last = m.end()
                    tld = m.group("tld").lower()
                    if tld not in _FILE_EXTENSIONS and not _URL_BEFORE.search(
                        text, max(0, m.start() - 200), m.start()
                    ):
                        score = 1.0 if len(tld) == 2 or tld in _KNOWN_TLDS else 0.6
                        spans.append((m.start(), m.end(), score))
            at = text.find("@", at + 1)
        return _findings(_T_EMAIL, self.name, spans) if spans else []

    @staticmethod
    def _around(text: str, at: int, n: int) -> re.Match[str] | None:
        """The email whose ``@`` is at ``at``, if any."""
        start = _local_run_start(text, at)
        if start < 0:
            return None
        m = _EMAIL.search(text, start, min(n, at + 256))
        if m is None or m.start() >= at or m.end() <= at or m.end() == at + 256:
            return None
        return m


# --- phone ----------------------------------------------------------------------------

#: A national NANP number, as people write them: 217-555-0134, (217) 555-0134,
#: 217.555.0134, 217/555-0134, 2175550134. The pattern starts on the area code (so the
#: engine scans fast); an opening parenthesis, a ``+1`` or ``1`` trunk prefix and an
#: extension are taken in around it.
_NANP: Final = re.compile(r"[2-9][0-9]{2}(?P<sep>\)[ .\-]?|[ .\-/]?)[2-9][0-9]{2}[ .\-]?[0-9]{4}")
_NANP_PREFIX: Final = re.compile(r"(?:\+1|1)[ .\-]?\Z")
_EXTENSION: Final = re.compile(r" ?(?i:ext\.?|extension|x) ?[0-9]{1,6}")
#: A number written with its country code: ``+44 20 7946 0958``, ``011 44 20 ...``.
_INTERNATIONAL: Final = re.compile(r"\+[1-9](?:[ .\-()/]{0,2}[0-9]){5,16}")
_INTERNATIONAL_011: Final = re.compile(r"011[ .\-]?[1-9](?:[ .\-()/]{0,2}[0-9]){5,16}")
#: A seven-digit local number: 555-0134, 555 0134.
_LOCAL_PHONE: Final = re.compile(
    r"[2-9](?<![\w+(./,\-][2-9])(?<![0-9][ .)\-][2-9])(?<!\)\s[2-9])"
    r"[0-9]{2}[\- ][0-9]{4}(?![0-9A-Za-z_]|[\-./,:][0-9]|\s[0-9])"
)
#: Runs of at least 7 digits with phone punctuation between them (other regions).
_PHONE_RUN: Final = re.compile(r"[0-9](?:[ \t\u00a0().\-/\u2010-\u2015]{0,3}[0-9]){6,}")
_RUN_MARGIN_BEFORE: Final = 8
_RUN_MARGIN_AFTER: Final = 24
_ATTACHED_BEFORE: Final = re.compile(r"(?:[^\W_][\-_/.]?|[0-9] |\+)\Z")
_ATTACHED_AFTER: Final = re.compile(r"[\-_/.]?[^\W_]")
_LABEL_PUNCTUATION: Final = " \t\r\n.:#-"
_GENERIC_LABELS: Final = _word_set("no num nbr number numbers")
#: Words after which ``#``, ``No.`` or "number" labels a phone: "phone number",
#: "call back number", "cell #", "my number".
_PHONE_LABEL_WORDS: Final = _word_set(
    "call calls called calling back callback cb phone phones cell cellphone cellular mobile "
    "tel telephone text sms whatsapp reach contact fax ph home work office business "
    "daytime evening direct main best alternate alt emergency landline my your his her "
    "their our the this that same new old a"
)
_PHONE_CONTEXT: Final = re.compile(
    r"(?i)\b(?:call(?:ed|ing|s)?|phone[ds]?|cell(?:phone|ular)?|mobile|tel|telephone|"
    r"text(?:ed|ing)?|reach(?:ed)?|numbers?|fax|ph|cb|c/b)\b|\u260e|\U0001f4de"
)
_DIGIT_GROUPS: Final = re.compile(r"[0-9]+")
#: What :data:`_NANP` matches besides digits, deleted by ``str.translate``.
_NANP_SEPARATORS: Final = str.maketrans("", "", ") .-/")
#: How people group the digits of a NANP number written without ``+``.
_NANP_GROUPINGS: Final = frozenset(
    {(10,), (3, 7), (3, 3, 4), (1, 3, 3, 4), (1, 10), (11,), (1, 3, 7)}
)


_ASCII_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _last_word(text: str) -> tuple[str, str]:
    """The word ``text`` ends with (lowercased, maybe empty) and what comes before it:
    its last letters (``str.isalpha``), 20 at most."""
    if not text or not text[-1].isalpha():
        return "", text
    tail = text[-20:]
    k = len(tail.rstrip(_ASCII_LETTERS))
    if k and tail[k - 1].isalpha():  # a letter beyond ASCII: letter by letter
        i = len(text)
        while i > 0 and len(text) - i < 20 and text[i - 1].isalpha():
            i -= 1
        return text[i:].lower(), text[:i]
    return tail[k:].lower(), text[: len(text) - len(tail) + k]


def _labelled(text: str, start: int) -> bool:
    """
    True when the value at ``start`` is attached to a word or another number (``SR-``,
    ``A12``), or labelled as another kind of number (``case``, ``ticket #``, ``order
    no.``, a bare ``#`` or ``No.``), but not as a phone ("phone number:", "cell #").
    """
    if _ATTACHED_BEFORE.search(text, max(0, start - 2), start):
        return True
    tail = text[max(0, start - 40) : start]
    body = tail.rstrip(_LABEL_PUNCTUATION)
    generic = "#" in tail[len(body) :]
    word, rest = _last_word(body)
    if word in _GENERIC_LABELS:
        generic = True
        word, _ = _last_word(rest.rstrip(_LABEL_PUNCTUATION))
    if word in _ID_WORDS:
        return True
    return generic and word not in _PHONE_LABEL_WORDS


def _nanp_grouped(raw: str) -> bool:
    """True when the digits of a national NANP number are grouped the way people do."""
    groups: list[int] = []
    total = 0
    national = 11 if raw.lstrip("(").startswith("1") else 10
    for g in _DIGIT_GROUPS.findall(raw):
        if total >= national:
            break  # the extension
        groups.append(len(g))
        total += len(g)
    return tuple(groups) in _NANP_GROUPINGS


_NUMBER_TYPE_DESCS: Final = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip


def _desc_pattern(desc: object, length: int) -> str | None:
    """The national number pattern of a ``phonenumbers`` number description if a number
    of ``length`` digits may match it (its possible lengths allow it), else None."""
    if desc is None:
        return None
    pattern = getattr(desc, "national_number_pattern", None)
    lengths = getattr(desc, "possible_length", ()) or ()
    if not pattern or (len(lengths) > 0 and length not in lengths):
        return None
    return str(pattern)


@functools.cache
def _in_nanp(region: str) -> bool:
    """Whether ``region`` dials with country code 1 (the North American Numbering Plan)."""
    return bool(phonenumbers.country_code_for_region(region) == 1)


@functools.cache
def _nanp_validity(region: str) -> _NanpValidity:
    return _NanpValidity(region)


class _NanpValidity:
    """
    Whether a ten-digit NANP national number is valid for ``region`` or valid at all,
    exactly as ``phonenumbers.is_valid_number_for_region(n, region) or
    phonenumbers.is_valid_number(n)`` decides it from the same metadata, several times
    faster: a region's number types (premium rate, toll free, ..., fixed line, mobile)
    are joined into one pattern, matched once, where ``phonenumbers`` matches them one
    by one through its generic code. The regions are tried in ``phonenumbers``' order,
    a region with leading digits claiming the numbers that start with them.
    """

    __slots__ = ("_checks", "_home", "_leading", "_regions")

    def __init__(self, region: str) -> None:
        self._regions: list[str] = [
            r for r in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ()) if r != "001"
        ]
        self._checks: dict[str, tuple[re.Pattern[str], re.Pattern[str]] | None] = {}
        self._leading: dict[str, re.Pattern[str] | None] = {}
        for code in {region, *self._regions}:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(code, None)
            if metadata is None or metadata.country_code != 1:
                self._checks[code] = None
                self._leading[code] = None
                continue
            general = _desc_pattern(metadata.general_desc, 10)
            typed = [
                p
                for p in (_desc_pattern(getattr(metadata, a), 10) for a in _NUMBER_TYPE_DESCS)
                if p is not None
            ]
            self._checks[code] = (
                None
                if general is None or not typed
                else (
                    re.compile(f"(?:{general})"),
                    re.compile("|".join(f"(?:{p})" for p in typed)),
                )
            )
            leading = metadata.leading_digits
            self._leading[code] = re.compile(leading) if leading else None
        self._home = region

    def _typed(self, code: str, national: str) -> bool:
        check = self._checks.get(code)
        return (
            check is not None
            and check[0].fullmatch(national) is not None
            and check[1].fullmatch(national) is not None
        )

    def __call__(self, national: str) -> bool:
        if len(national) != 10:
            return False
        if self._typed(self._home, national):
            return True
        for code in self._regions:
            leading = self._leading[code]
            if leading is not None:
                if leading.match(national):
                    return self._typed(code, national)
            elif self._typed(code, national):
                return True
        return False


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    """True when ``start..end`` overlaps one of the sorted, disjoint spans ``taken``."""
    i = bisect.bisect_left(taken, (end, end))
    return i > 0 and taken[i - 1][1] > start


@attrs.define
class PhoneDetector:
    """
    Phone numbers that ``phonenumbers`` holds valid, score 0.9: numbers of ``region``
    and international ones written with ``+`` (or ``011`` from a NANP region). In NANP
    regions, seven-digit local numbers (``555-0134``, ``555 0134``) within 30 characters
    of a phone word (call, phone, cell, mobile, tel, text, reach, number, fax, cb for
    "call back", ☎) too,
    score 0.6.

    A number attached to letters or labelled as another kind of number (``SR-``,
    ``CASE``, ``#``, ``No.``, ``ref``, ``ticket``, ``order``...) is never a phone,
    whatever ``phonenumbers`` says; ``#``, ``No.`` and "number" are fine after a phone
    word ("phone number: ...", "call back number", "my number is ..."). A national
    NANP number must be grouped as people group phone digits (3-3-4, 1-3-3-4, 3-7 or
    unbroken), which rules out ``2026-004512`` and ``2026-0042-17``.

    Speed: in NANP regions, national numbers are found by pattern and checked against
    the ``phonenumbers`` metadata directly, and numbers with a country code are parsed
    directly, the checks ``PhoneNumberMatcher`` makes with ``Leniency.VALID``, many
    times faster; ``PhoneNumberMatcher`` reads what those cannot settle, and the text
    around digit runs in other regions.

    .. versionadded:: 0.1.0
    """

    region: str = "US"
    name: str = attrs.field(default="phone", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        if not _has_digit(text):
            return []
        if _in_nanp(self.region):
            spans = self._nanp(text)
            if "+" in text or "011" in text:  # what _international needs
                spans.extend(self._international(text, sorted([(s, e) for s, e, _ in spans])))
            spans.extend(self._local(text, sorted([(s, e) for s, e, _ in spans])))
        else:
            spans = list(self._matched(text))
        return _findings(_T_PHONE, self.name, spans) if spans else []

    def _nanp(self, text: str) -> list[tuple[int, int, float]]:
        found: list[tuple[int, int, float]] = []
        valid = _nanp_validity(self.region)
        for m in _matches(_NANP, text):
            start, end = m.span()
            if text[start + 3] == ")":  # the separator after the area code (see _NANP)
                if start == 0 or text[start - 1] != "(":
                    continue
                start -= 1
            if text.find("1", max(0, start - 3), start) >= 0:  # what _NANP_PREFIX needs
                prefix = _NANP_PREFIX.search(text, max(0, start - 3), start)
                if prefix is not None:
                    start = prefix.start()
            extension = _EXTENSION.match(text, end)
            if extension is not None:
                end = extension.end()
            if _ATTACHED_AFTER.match(text, end) or _labelled(text, start):
                continue
            # A match is digits and the separators ") .-/": its digits, as
            # "".join(_DIGIT_GROUPS.findall(...)) gives them.
            if valid(m.group().translate(_NANP_SEPARATORS)):
                found.append((start, end, 0.9))
        return found

    def _accept(
        self, text: str, start: int, end: int, match: phonenumbers.PhoneNumberMatch
    ) -> bool:
        if _labelled(text, start) or _ATTACHED_AFTER.match(text, end):
            return False
        raw = match.raw_string
        return not (
            match.number.country_code == 1
            and not raw.startswith(("+", "\uff0b"))
            and not _nanp_grouped(raw)
        )

    def _parsed(self, raw: str) -> PhoneNumber | None:
        try:
            number = phonenumbers.parse(raw, self.region)
        except phonenumbers.NumberParseException:
            return None
        return number if phonenumbers.is_valid_number(number) else None

    def _international(
        self, text: str, taken: list[tuple[int, int]]
    ) -> Iterator[tuple[int, int, float]]:
        hits = [*_INTERNATIONAL.finditer(text)]
        if "011" in text:
            hits.extend(
                m
                for m in _INTERNATIONAL_011.finditer(text)
                if not text[m.start() - 1 : m.start()].isdigit()
            )
            hits.sort(key=lambda m: m.start())
        last = 0
        for hit in hits:
            start, end = hit.span()
            if start < last or _overlaps(taken, start, end):
                continue
            if self._parsed(hit.group()) is not None:
                extension = _EXTENSION.match(text, end)
                if extension is not None:
                    end = extension.end()
                if not (_labelled(text, start) or _ATTACHED_AFTER.match(text, end)):
                    last = end
                    yield start, end, 0.9
                continue
            # Digits run on past the number, or an odd format: let the matcher read it.
            ws = max(0, start - _RUN_MARGIN_BEFORE)
            for match in PhoneNumberMatcher(
                text[ws : end + 24], self.region, leniency=Leniency.VALID
            ):
                s, e = ws + match.start, ws + match.end
                if s == start and not _overlaps(taken, s, e) and self._accept(text, s, e, match):
                    last = e
                    yield s, e, 0.9
                break

    def _local(self, text: str, taken: list[tuple[int, int]]) -> Iterator[tuple[int, int, float]]:
        for m in _matches(_LOCAL_PHONE, text):
            start, end = m.span()
            if _overlaps(taken, start, end):
                continue
            if _near(_PHONE_CONTEXT, text, start, end, 30, 30) and not _labelled(text, start):
                yield start, end, 0.6

    def _windows(self, text: str) -> Iterator[tuple[int, int, int]]:
        """(window start, window end, first run start) around merged digit runs."""
        first = win_start = win_end = -1
        for m in _PHONE_RUN.finditer(text):
            s, e = m.span()
            ws, we = max(0, s - _RUN_MARGIN_BEFORE), min(len(text), e + _RUN_MARGIN_AFTER)
            if first >= 0 and ws <= win_end:
                win_end = max(win_end, we)
                continue
            if first >= 0:
                yield win_start, win_end, first
            first, win_start, win_end = max(0, s - 2), ws, we
        if first >= 0:
            yield win_start, win_end, first

    def _matched(self, text: str) -> Iterator[tuple[int, int, float]]:
        """Other regions: ``PhoneNumberMatcher`` over the text around digit runs."""
        for ws, we, first in self._windows(text):
            for match in PhoneNumberMatcher(text[ws:we], self.region, leniency=Leniency.VALID):
                start, end = ws + match.start, ws + match.end
                if start >= first and self._accept(text, start, end, match):
                    yield start, end, 0.9


# --- US SSN and ITIN ------------------------------------------------------------------

#: Nine digits, as ddd-dd-dddd, ddd dd dddd or unbroken (then only with context).
_NINE: Final = re.compile(
    r"[0-9](?<![\w\-][0-9])(?<![0-9][ ./\-][0-9])[0-9]{2}"
    r"(?:(?P<sep>[\- ])[0-9]{2}(?P=sep)[0-9]{4}|[0-9]{6})"
    r"(?![\w\-]|[ ./\-][0-9])"
)
_ITIN_SHAPE: Final = re.compile(
    r"9(?<![\w\-]9)(?<![0-9][ ./\-]9)[0-9]{2}"
    r"(?:(?P<sep>[\- ])(?:5[0-9]|6[0-5]|7[0-9]|8[0-8]|9[0-24-9])(?P=sep)[0-9]{4}"
    r"|(?:5[0-9]|6[0-5]|7[0-9]|8[0-8]|9[0-24-9])[0-9]{4})"
    r"(?![\w\-]|[ ./\-][0-9])"
)
_SSN_CONTEXT: Final = re.compile(r"(?i)\bssns?\b|\bss\s?#|\bss\s?no\b|\bsocial\b|\bsoc\.?\s?sec\b")
_ITIN_CONTEXT: Final = re.compile(
    r"(?i)\bitins?\b|\bindividual\s+taxpayer\b|\btaxpayer\s+id(?:entification)?\b|\btin\b"
)
#: The IRS's ITIN group digits (the fourth and fifth): 50-65 (added in 2011), 70-88,
#: 90-92 and 94-99.
_ITIN_GROUPS: Final = frozenset([*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)])


def _ssn_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _itin_valid(digits: str) -> bool:
    return digits[0] == "9" and int(digits[3:5]) in _ITIN_GROUPS


def _may_hold(low: str | None, literals: tuple[str, ...], start: int, end: int) -> bool:
    """False when none of ``literals`` occurs in ``low[start:end]`` (``low`` None: no
    lowercase text to look in, so maybe)."""
    if low is None:
        return True
    for literal in literals:  # noqa: SIM110 - a loop: faster than any() over a generator
        if low.find(literal, start, end) >= 0:
            return True
    return False


def _nine_digit_spans(
    text: str,
    shape: re.Pattern[str],
    context: re.Pattern[str],
    check: Callable[[str], bool],
    literals: tuple[str, ...],
) -> list[tuple[int, int, float]]:
    """
    Formatted nine-digit numbers always (0.95 near context), bare ones after context.
    ``literals``: what every match of ``context`` holds, in lower case: where none is,
    the context is not looked for (in ASCII text only: beyond it, case-insensitive
    matching knows more letters than ``str.lower`` gives, such as "\u017f" for "s").
    """
    spans: list[tuple[int, int, float]] = []
    low: str | None = None
    for m in _matches(shape, text):
        raw = m.group()
        if not check(raw.replace(raw[3], "") if m.group("sep") else raw):
            continue
        if low is None and text.isascii():
            low = _lowered(text)
        start, end = m.span()
        # The windows _context_before and _context_after search.
        before_lo, after_hi = max(0, start - 64), min(len(text), end + 44)
        if m.group("sep"):
            near = (
                _may_hold(low, literals, before_lo, start)
                and _context_before(context, text, start, 40) is not None
            ) or (
                _may_hold(low, literals, end, after_hi)
                and _context_after(context, text, end, 20) is not None
            )
            spans.append((start, end, 0.95 if near else 0.85))
            continue
        if not _may_hold(low, literals, before_lo, start):
            continue
        before = _context_before(context, text, start, 40)
        if before is not None and _gap_ok(text[before[1] : start], capitals=False):
            spans.append((start, end, 0.95))
    return spans


@attrs.define
class UsSsnDetector:
    """
    US Social Security numbers: ``123-45-6789`` or ``123 45 6789`` (score 0.85, 0.95
    with "SSN", "social security" or "social" within 40 characters before or 20 after),
    and nine bare digits only right after such a context word (0.95). The never-issued
    ranges never match: area 000, 666 and 900-999, group 00, serial 0000.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="us_ssn", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        spans = _nine_digit_spans(text, _NINE, _SSN_CONTEXT, _ssn_valid, ("ss", "soc"))
        return _findings(_T_US_SSN, self.name, spans) if spans else []


@attrs.define
class UsItinDetector:
    """
    US Individual Taxpayer Identification Numbers: ``9xx-gg-xxxx`` with the group in
    50-65, 70-88, 90-92 or 94-99 (score 0.85, 0.95 with "ITIN", "TIN" or "taxpayer
    identification" within 40 characters before or 20 after), and nine bare digits only
    right after such a context word (0.95).

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="us_itin", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        spans = _nine_digit_spans(
            text, _ITIN_SHAPE, _ITIN_CONTEXT, _itin_valid, ("tin", "taxpayer")
        )
        return _findings(_T_US_ITIN, self.name, spans) if spans else []


# --- payment cards --------------------------------------------------------------------

_CARD: Final = re.compile(
    r"[0-9](?<![\w.,\-][0-9])(?<![0-9][ \-][0-9])"
    r"(?:[0-9]{3,5}(?P<sep>[ \-])[0-9]{3,6}(?:(?P=sep)[0-9]{3,6}){1,4}|[0-9]{12,18})"
    r"(?![\w\-]|[.,][0-9])"
)
_LUHN_DOUBLE: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        k = ord(ch) - 48
        total += _LUHN_DOUBLE[k] if i & 1 else k
    return total % 10 == 0


def _issuer_ok(d: str) -> bool:
    """True when the number's prefix and length are those of a card network."""
    n = len(d)
    p2, p3, p4 = int(d[:2]), int(d[:3]), int(d[:4])
    if d[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 3528 <= p4 <= 3589 or p2 == 62:
        return 16 <= n <= 19  # Discover, JCB, UnionPay
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    return False


def _card_ok(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _issuer_ok(digits) and _luhn(digits)


@attrs.define
class CreditCardDetector:
    """
    Payment card numbers: 13 to 19 digits, unbroken or in groups split by single
    spaces or hyphens, that pass the Luhn check and carry a network's prefix and length
    (Visa, Mastercard incl. 2221-2720, Amex, Discover, JCB, Diners Club, UnionPay).
    When a trailing group (a CVV, a year) spoils the check, the number without it is
    tried. Score 1.0.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="credit_card", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        spans: list[tuple[int, int, float]] = []
        for m in _matches(_CARD, text):
            raw, sep = m.group(), m.group("sep")
            start = m.start()
            if sep is None:
                if _card_ok(raw):
                    spans.append((start, m.end(), 1.0))
                continue
            groups = raw.split(sep)
            if _card_ok("".join(groups)):
                spans.append((start, m.end(), 1.0))
            elif len(groups) > 3 and _card_ok("".join(groups[:-1])):
                spans.append((start, start + len(raw) - len(groups[-1]) - 1, 1.0))
        return _findings(_T_CREDIT_CARD, self.name, spans) if spans else []


# --- IBAN -----------------------------------------------------------------------------

#: IBAN length by country (the ISO 13616 registry).
IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
#: From the check digits on (a pattern starting on a digit scans fast); the two
#: letters of the country code stand right before.
_IBAN_REST: Final = re.compile(
    r"[0-9](?<=[A-Za-z]{2}[0-9])[0-9](?: ?[A-Za-z0-9]{4}){2,8}(?: ?[A-Za-z0-9]{1,3})?"
)


def _iban_checksum_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


@attrs.define
class IbanDetector:
    """
    International Bank Account Numbers: a country code, two check digits and the BBAN,
    unbroken or in groups of four, of the country's length (a table of 77 countries)
    and passing the mod-97 check. Score 1.0.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="iban", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        spans: list[tuple[int, int, float]] = []
        for m in _matches(_IBAN_REST, text):
            start = m.start() - 2
            if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_-"):
                continue
            length = IBAN_LENGTHS.get(text[start : start + 2].upper())
            if length is None:
                continue
            raw = text[start : m.end()]
            # Cut the candidate at the country's length, on a group boundary.
            count, cut = 0, -1
            for i, ch in enumerate(raw):
                if ch != " ":
                    count += 1
                    if count == length:
                        cut = i + 1
                        break
            if cut < 0:
                continue
            end = start + cut
            if end < len(text) and (text[end].isalnum() or text[end] in "-_"):
                continue
            compact = raw[:cut].replace(" ", "").upper()
            if compact.isascii() and _iban_checksum_ok(compact):
                spans.append((start, end, 1.0))
        return _findings(_T_IBAN, self.name, spans) if spans else []


# --- IP addresses ---------------------------------------------------------------------

_IPV4: Final = re.compile(
    r"[0-9](?<![\w.\-][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9A-Za-z_]|\.[0-9]|-[0-9])"
)
_IPV6_HINT: Final = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6: Final = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|(?=::))(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:\.[0-9]{1,3}){0,3}(?![\w:])"
)
_IP_CONTEXT: Final = re.compile(r"(?i)\bip(?:v[46])?\b|\baddress(?:es)?\b|\blogged\s+in\s+from\b")
_VERSION_BEFORE: Final = re.compile(
    r"(?i)(?:\b(?:v|ver|version|build|release|firmware|rev|revision|section|sec|"
    r"chapter|ch|para|rule|step|item|oid)\.?|§)\s*\Z"
)


#: A dot between two digits: where the first dot of a dotted IPv4 address can be. A
#: literal first: the regex engine skips to dots, fewer than digits in most texts.
_DIGIT_DOT_DIGIT: Final = re.compile(r"\.(?<=[0-9]\.)(?=[0-9])")


def _ipv4_matches(text: str) -> list[re.Match[str]]:
    """
    ``list(_IPV4.finditer(text))``, found from the dots: a match starts on the first of
    the one to three digits before its first dot (no digit stands before it), so each
    dot between digits gives one place to try, in text order.
    """
    found: list[re.Match[str]] = []
    last = 0
    for dot in _matches(_DIGIT_DOT_DIGIT, text):
        d = dot.start()
        start = d - 1
        while start > 0 and start > d - 3 and "0" <= text[start - 1] <= "9":
            start -= 1
        if start < last or (start > 0 and "0" <= text[start - 1] <= "9"):
            continue  # inside the last match, or four digits or more before the dot
        m = _IPV4.match(text, start)
        if m is not None:
            found.append(m)
            last = m.end()
    return found


def _ipv4_ok(candidate: str) -> bool:
    return all(
        int(octet) <= 255 and (octet == "0" or octet[0] != "0") for octet in candidate.split(".")
    )


def _ipv6_ok(candidate: str) -> bool:
    if not _HAS_DIGIT.search(candidate):
        return False
    groups = [g for g in candidate.split(":") if g]
    if not any(len(g) >= 3 for g in groups):
        return False  # 1:2::3, timecodes such as 00:01:02:03:04:05:06:07
    if len(groups) < 2 and "." not in candidate:
        return False  # ::1 and the like
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


@attrs.define
class IpAddressDetector:
    """
    IP addresses: dotted IPv4 (octets 0-255 without leading zeros, not part of a longer
    dotted number such as a version ``1.2.3.4.5``, not after "version", "build",
    "section"...) and IPv6 as the ``ipaddress`` module accepts it (with a digit, two
    groups at least and one of three hex digits or more). Score 0.8, or 0.95 with "IP",
    "address" or "logged in from" within 30 characters before or 15 after.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="ip_address", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        candidates: list[tuple[int, int]] = []
        last = 0
        for hint in _matches(_IPV6_HINT, text) if ":" in text else ():
            if hint.start() < last:
                continue
            endpos = min(len(text), hint.end() + 45)
            for m in _IPV6.finditer(text, max(last, hint.start() - 45), endpos):
                if m.end() <= hint.start():
                    continue
                if m.end() == endpos < len(text):
                    break  # cut by the window: not the address around this hint
                raw, end = m.group(), m.end()
                if raw.endswith(":") and not raw.endswith("::"):
                    raw, end = raw[:-1], end - 1
                if _ipv6_ok(raw):
                    candidates.append((m.start(), end))
                last = m.end()
                break
        ipv6 = list(candidates)
        for m in _ipv4_matches(text) if "." in text else ():
            if (
                _ipv4_ok(m.group())
                and not _VERSION_BEFORE.search(text, max(0, m.start() - 20), m.start())
                and not _overlaps(ipv6, m.start(), m.end())  # ::ffff:192.0.2.128
            ):
                candidates.append(m.span())
        if not candidates:
            return []
        spans = [
            (s, e, 0.95 if _near(_IP_CONTEXT, text, s, e, 30, 15) else 0.8) for s, e in candidates
        ]
        return _findings(_T_IP_ADDRESS, self.name, spans)


# --- dates of birth -------------------------------------------------------------------

_MONTH_NAMES: Final = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH: Final = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORDINAL: Final = r"(?:st|nd|rd|th)?"
_DATE: Final = re.compile(
    rf"""
    (?=[0-9JFMASONDjfmasond])  # a digit or a month's first letter: the engine skips ahead
    (?<![\w/.\-])
    (?:
        (?P<a>[0-9]{{1,2}})(?P<s1>[/.\-])(?P<b>[0-9]{{1,2}})(?P=s1)(?P<c>[0-9]{{4}}|[0-9]{{2}})
      | (?P<iy>[0-9]{{4}})(?P<s2>[/.\-])(?P<im>[0-9]{{1,2}})(?P=s2)(?P<id>[0-9]{{1,2}})
      | (?P<mm>{_MONTH})\.?[ ]{{1,2}}(?P<md>[0-9]{{1,2}}){_ORDINAL},?[ ]{{1,2}}(?P<my>[0-9]{{4}})
      | (?P<dd>[0-9]{{1,2}}){_ORDINAL}[ ]{{1,2}}(?:of[ ])?(?P<dm>{_MONTH})\.?,?[ ]{{1,2}}(?P<dy>[0-9]{{4}})
      | (?P<ad>[0-9]{{1,2}})(?P<s3>[\- ])(?P<am>{_MONTH})(?P=s3)(?P<ay>[0-9]{{4}}|[0-9]{{2}})
      | (?P<k>[0-9]{{8}})
    )
    (?!\w|[/.\-][0-9])
    """,
    re.IGNORECASE | re.VERBOSE,
)
#: The same for a text of ASCII characters only (``str.isascii``): there ``\w`` and
#: case-insensitive letters mean what they mean for any text, and are tested faster.
_DATE_ASCII: Final = re.compile(_DATE.pattern, re.IGNORECASE | re.VERBOSE | re.ASCII)
_DOB_CONTEXT: Final = _Keywords(
    ("birth", "born", "dob", "d.o.b", "bday", "b-day", "age"),
    re.compile(
        r"(?i)\bdate\s+of\s+birth\b|\bbirth(?:day|date)?\b(?!\s+(?:certificates?|certs?|"
        r"records?|control|rates?|parents?|mothers?|fathers?|weights?|defects?))|\bborn\b|"
        r"\bdob\b|\bd\.o\.b\b\.?|\bb-?day\b|\baged?\b"
    ),
    reach=16,
    first="dba",
    word_start=True,
    checks={"age": re.compile(r"(?i)aged?\b")},  # not "Agent", "agency", "ages"
)
_DOB_BLOCKERS: Final = re.compile(
    r"(?i)\b(?:appointments?|appt|visits?|due|scheduled?|hearing|deadline|meeting|filed|"
    r"received|issued|expires?|expiry|expiration|exp|as\s+of|today|since|until|from|"
    r"effective|moved|opened|closed|submitted|reported|renew\w*|follow[\- ]up|next|last|"
    r"paid|payment|inspection|called|starting|starts|ends?|by)\b|[.!?;]\s|\n\s*\n"
)
_SENTENCE_BREAK: Final = re.compile(r"[.!?;]\s|\n")
#: Right before an eight-digit date of birth ("DOB 03141985"): a birth word, not "age"
#: ("age 67, SR 20240115" is a service request).
_COMPACT_DOB_BEFORE_RE: Final = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.?|born(?:\s+on)?|birth(?:date|day)?|date\s+of\s+birth)"
    r"[\s:#.\-]*(?:is[\s:]+)?$"
)
_DOB_AFTER_GAP: Final = re.compile(
    r"(?i)(?:\s|[(\[\-\u2013\u2014:']|\b(?:is|was|her|his|my|their|the|s)\b)*"
)


def _year(raw: str) -> tuple[int, ...]:
    y = int(raw)
    if len(raw) == 2:
        return (1900 + y, 2000 + y)
    return (y,) if 1900 <= y <= 2100 else ()


def _real_date(years: tuple[int, ...], month: int, day: int) -> bool:
    for y in years:
        try:
            date(y, month, day)
        except ValueError:
            continue
        return True
    return False


def _date_ok(m: re.Match[str]) -> bool:
    g = m.group
    if g("a") is not None:
        a, b, years = int(g("a")), int(g("b")), _year(g("c"))
        return _real_date(years, a, b) or _real_date(years, b, a)
    if g("iy") is not None:
        return _real_date(_year(g("iy")), int(g("im")), int(g("id")))
    if g("k") is not None:  # eight digits: MMDDYYYY or YYYYMMDD
        k = g("k")
        return _real_date(_year(k[4:]), int(k[:2]), int(k[2:4])) or _real_date(
            _year(k[:4]), int(k[4:6]), int(k[6:])
        )
    for month, day, year in (("mm", "md", "my"), ("dm", "dd", "dy"), ("am", "ad", "ay")):
        if g(month) is not None:
            number = _MONTH_NAMES[g(month)[:3].lower()]
            return _real_date(_year(g(year)), number, int(g(day)))
    return False


@attrs.define
class DateOfBirthDetector:
    """
    Dates of birth: a date (``03/14/1985``, ``3-14-85``, ``1985-03-14``, ``March 14,
    1985``, ``14 March 1985``, ``Mar. 14th 1985``, ``14-MAR-1985``, ``03141985``,
    ``19850314``) that is a real
    calendar date, only next to a birth context word (born, birth, birthday, birthdate,
    date of birth, DOB, D.O.B., age). The context must come within 40 characters
    before the date with no other date, sentence break or scheduling word
    (appointment, visit, due, hearing, issued, expires...) in between, or right after it
    ("3/14/85 (DOB)", "3/14/85 is her birthday"). "Birth certificate" is no context,
    and appointment or due dates are not dates of birth. Score 0.85.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="date_of_birth", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        if not _has_digit(text):
            return []
        found = _DOB_CONTEXT.spans(text)
        if not found:
            return []
        context = _Spans(found)
        dates = [
            m
            for m in self._dates(text, found)
            if _date_ok(m)
            and (
                m.group("k") is None
                or _COMPACT_DOB_BEFORE_RE.search(text, max(0, m.start() - 24), m.start())
            )
        ]
        spans: list[tuple[int, int, float]] = []
        for i, m in enumerate(dates):
            start, end = m.span()
            previous_end = dates[i - 1].end() if i else 0
            before = context.before(start, 40)
            if (
                before is not None
                and before[1] >= previous_end
                and not _DOB_BLOCKERS.search(_TURN.sub(" ", text[before[1] : start], count=1))
            ):
                spans.append((start, end, 0.85))
                continue
            next_start = dates[i + 1].start() if i + 1 < len(dates) else len(text)
            after = context.after(end, 20)
            if (
                after is not None
                and after[0] <= next_start
                and _DOB_AFTER_GAP.fullmatch(text, end, after[0])
                and not _DOB_BLOCKERS.search(
                    _SENTENCE_BREAK.split(text[max(0, start - 25) : start])[-1]
                )
            ):
                spans.append((start, end, 0.85))
        return _findings(_T_DATE_OF_BIRTH, self.name, spans) if spans else []

    @staticmethod
    def _dates(text: str, found: list[tuple[int, int]]) -> Iterator[re.Match[str]]:
        """Date candidates in merged windows of 60 characters around the context words."""
        n = len(text)
        date_re = _DATE_ASCII if text.isascii() else _DATE
        windows: list[list[int]] = []
        for s, e in found:
            ws, we = max(0, s - 60), min(n, e + 60)
            if windows and ws <= windows[-1][1]:
                windows[-1][1] = we
            else:
                windows.append([ws, we])
        last = 0
        for ws, we in windows:
            # A date is far shorter than 40 characters: one starting in the window is
            # matched whole. The look-behind sees before ``ws``: none starts mid-way.
            for m in date_re.finditer(text, max(ws, last), min(n, we + 40)):
                if m.start() >= we:
                    break
                last = m.end()
                yield m


# --- driver's licence and passport numbers --------------------------------------------

_DL_CONTEXT: Final = _Keywords(
    ("lic", "dl", "d.l.", "state"),
    re.compile(
        r"(?i:\b(?:driver|drivers|driving|operator|operators)(?:['\u2019]s|s['\u2019])?\s*"
        r"licen[cs]es?(?:\s*(?:no\b\.?|num\b\.?|nbr\b\.?|number\b|\#))?|"
        r"\blicen[cs]e\s*(?:no\b\.?|num\b\.?|nbr\b\.?|number\b|\#)|"
        r"\blic\.?\s*(?:no\b\.?|\#)|\bstate\s+id\b(?:\s*(?:no\b\.?|number\b|\#))?)|"
        r"\bC?DL\b(?:\s*\#)?|\bD\.L\.(?:\s*\#)?"
    ),
    reach=16,
    first="dolsc",
    # not "public", "police", "handle", "middle", "estate", "state of"
    checks={
        "lic": re.compile(r"(?i)lic(?:en[cs]e|\.?\s*(?:no\b|\#))"),
        "dl": re.compile(r"DL\b"),
        "d.l.": re.compile(r"D\.L\."),
        "state": re.compile(r"(?i)state\s+id\b"),
    },
)
_DL_TOKEN: Final = re.compile(
    r"(?<![\w/.\-])(?:[0-9]{3}(?: [0-9]{3}){2,3}(?![ ]?[0-9])|"
    r"[A-Za-z][0-9]{4} [0-9]{5} [0-9]{5}(?![ ]?[0-9])|"  # New Jersey: A1234 56789 01234
    r"(?=[A-Za-z\-]*[0-9])[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){3,27})"
    r"(?![\w/\-]|\.[A-Za-z0-9])"
)
_NOT_A_LICENCE: Final = re.compile(
    r"\(?[0-9]{3}\)?[\-. ]?[0-9]{3}[\-. ][0-9]{4}"  # a phone number
    r"|[0-9]{1,4}[\-/.][0-9]{1,2}[\-/.][0-9]{1,4}"  # a date
    r"|[A-Za-z]{1,5}-(?:19|20)[0-9]{2}-[0-9\-]+"  # a case number: SR-2026-004512
)
_PASSPORT_CONTEXT: Final = _Keywords(
    ("passport",),
    re.compile(
        r"(?i)\bpassports?(?:\s*(?:card|book))?(?:\s*(?:no\b\.?|num\b\.?|nbr\b\.?|number\b|#))?"
    ),
    reach=16,
    first="p",
    word_start=True,
)
_PASSPORT_TOKEN: Final = re.compile(
    r"(?<![\w/.\-])(?=[A-Za-z]*[0-9])[A-Za-z0-9]{6,9}(?![\w/\-]|\.[A-Za-z0-9])"
)


def _context_bound(
    text: str,
    context: _Keywords,
    token: re.Pattern[str],
    window: int,
    check: Callable[[str], bool],
) -> list[tuple[int, int]]:
    """
    For each context word, the first number-like token within ``window`` characters
    after it, when only connecting words stand between them and ``check`` accepts it.
    """
    found: list[tuple[int, int]] = []
    n = len(text)
    for _, c_end in context.spans(text):
        endpos = min(n, c_end + window + 30)
        m = token.search(text, c_end, endpos)
        if m is None or m.start() - c_end > window:
            continue
        if m.end() == endpos < n:
            m = token.match(text, m.start())  # re-match a token cut by the window
            if m is None:
                continue
        if _gap_ok(text[c_end : m.start()]) and check(m.group()):
            found.append(m.span())
    return found


def _licence_ok(value: str) -> bool:
    alnum = sum(ch.isalnum() for ch in value)
    return 5 <= alnum <= 20 and not _NOT_A_LICENCE.fullmatch(value)


def _passport_ok(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= 4 and (value.isdigit() or not value.islower())


@attrs.define
class DriverLicenseDetector:
    """
    Driver's licence numbers: an id of 5 to 20 letters and digits with at least one
    digit, hyphens allowed between them (Illinois ``A123-4567-8901``, a letter and 11
    digits, ``123 456 789``, New Jersey ``A1234 56789 01234``), within 30 characters
    after "driver's license", "driver
    license", "drivers licence", "DL", "DL#", "CDL", "licence no.", "license number" or
    "state ID", with only connecting words between. Phone numbers, dates and case
    numbers are not licences. Score 0.8.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="driver_license", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        if not _has_digit(text):
            return []
        spans = _context_bound(text, _DL_CONTEXT, _DL_TOKEN, 30, _licence_ok)
        if not spans:
            return []
        return _findings(_T_DRIVER_LICENSE, self.name, [(s, e, 0.8) for s, e in spans])


@attrs.define
class PassportDetector:
    """
    Passport numbers: 6 to 9 letters and digits with at least four digits (US: nine
    digits, or a letter and eight digits; others such as ``C01X00T47``) within 30
    characters after "passport", "passport no." or "passport number", with only
    connecting words (or a nationality) between. Score 0.8.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field(default="passport", init=False)

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        if not _has_digit(text):
            return []
        spans = _context_bound(text, _PASSPORT_CONTEXT, _PASSPORT_TOKEN, 30, _passport_ok)
        if not spans:
            return []
        return _findings(_T_PASSPORT, self.name, [(s, e, 0.8) for s, e in spans])


def pattern_detectors(*, region: str = "US") -> list[Detector]:
    """
    One detector of each pattern kind: ``email``, ``phone`` (numbers of ``region`` and
    international ones), ``us_ssn``, ``us_itin``, ``credit_card``, ``iban``,
    ``ip_address``, ``date_of_birth``, ``driver_license`` and ``passport``.

    ``region`` is a two-letter region code (``"US"``, ``"GB"``); ``ValueError`` if
    ``phonenumbers`` does not know it.

    .. versionadded:: 0.1.0
    """
    code = region.upper()
    if phonenumbers.country_code_for_region(code) == 0:
        raise ValueError(f"unknown phone region {region!r}")
    return [
        EmailDetector(),
        PhoneDetector(code),
        UsSsnDetector(),
        UsItinDetector(),
        CreditCardDetector(),
        IbanDetector(),
        IpAddressDetector(),
        DateOfBirthDetector(),
        DriverLicenseDetector(),
        PassportDetector(),
    ]
