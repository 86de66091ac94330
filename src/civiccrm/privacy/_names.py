"""
People's names in free text without a model: a gazetteer of given names, and context.

A name is found where

- a title comes before one or two capitalised words (``Mrs. Okafor``, ``Officer Dale
  Brown``): score 0.9;
- a phrase that introduces a person comes before them (``my neighbour``, ``my
  landlord``, ``spoke with``, ``signed by``, ``Dear``, ``Hi``, ``Thanks,`` and other
  sign-offs): 0.9 for two words, 0.6 for a known given name alone, 0.5 for another
  single word after the strongest phrases;
- a known given name comes before a capitalised word, perhaps with a middle name or
  initial between (``Anna K. Lee``): 0.85 (0.9 with context); or surname first,
  ``Okafor, Anna`` or ``OKAFOR, ANNA``: 0.8;
- a known given name stands alone on a message's last line (a signature): 0.6;
- a frequent given name that is no common word stands alone: 0.5, or 0.6 before a
  verb of speech (``Jennifer said``).

Surnames need no list: they are the capitalised word after a given name or a title.
Words that only look like names are left out: the first word of a sentence unless it is
a known given name, given names that are common words (``Will``, ``May``, ``Grant``,
``Hope``) unless context confirms them, and names of places and bodies: a capitalised
run that goes on with ``Street``, ``Park``, ``County``, ``Department``, ``School`` ...,
or that follows a house number, or that is a city before its state.

The given names come from ``data/given_names.tsv`` (see its header), made from the
first-name dictionary that the ``gender-guesser`` package ships by
:func:`build_given_names`.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import Final, NamedTuple

from civiccrm.privacy._addresses import STATES, STREET_SUFFIXES, _words
from civiccrm.privacy._patterns import _lowered, _matches
from civiccrm.privacy.detect import Finding, KnownEntities, PiiType, detector_failed

__all__ = [
    "AMBIGUOUS_GIVEN_NAMES",
    "COMMON_CAPITALISED_WORDS",
    "NOT_GIVEN_NAMES",
    "PLACE_GIVEN_NAMES",
    "WORDLIKE_GIVEN_NAMES",
    "GivenName",
    "PersonNameDetector",
    "build_given_names",
    "given_names",
]


# --------------------------------------------------------------------------------------
# The gazetteer


class GivenName(NamedTuple):
    """
    What the gazetteer says of a given name: its frequency class in the English-speaking
    countries of the source (Great Britain, Ireland, the USA; 0 = absent, 1 = rare ...
    13 = extremely common), its highest class in any country, and whether it is also a
    lower-case English word (``rose``, ``frank``, ``will``).

    .. versionadded:: 0.1.0
    """

    english: int
    anywhere: int
    is_word: bool


#: Given names that are common English words or months ("Will", "May", "Grant",
#: "Hope"): taken as names only with a surname after them in mid-sentence, or after a
#: title or a phrase that introduces a person; alone, only after a greeting or sign-off.
AMBIGUOUS_GIVEN_NAMES: Final = _words(
    """Will May Grant Bill Mark Hope Joy Rose June Long Page Price April August Winter
    Spring Chase Major Royal Sterling King Prince Rich Christian Angel Justice Liberty
    Harmony Trinity Genesis Miracle Precious Heaven Unity Charity Patience Prudence
    Mercy Noble Sunny Sky Star Rain Art Bud Chip Clay Cliff Miles Ward Reed Van Wolf
    Rusty Candy Honey Sue Pat Rob Rod Guy Buck Stormy Storm Bay Brook Forest River Lake
    Stone Golden Blue Hero Baby"""
)

#: Given names that are also words but seldom start a sentence before a capitalised
#: word unless they are names ("Heather Lopez"): fine with a surname anywhere, alone only
#: after a greeting or sign-off.
WORDLIKE_GIVEN_NAMES: Final = _words(
    """Crystal Heather Amber Destiny Hunter Holly Misty Ruby Summer Autumn Dawn Melody
    Jade Sandy Violet Hazel Olive Iris Daisy Ivy Pearl Ginger Penny Sage Jesus Jack
    Frank Dean Drew Earl Gene Lance Wade Dale Glen Robin Roger Ray Don Lee Sherry
    Brandy Faith Grace"""
)

#: Given names that are also places, brands or products ("Austin", "Alexa",
#: "Mercedes"): fine with a surname, never alone without context.
PLACE_GIVEN_NAMES: Final = _words(
    """Jordan Austin Dallas Houston Phoenix Denver Orlando Paris London Florence Georgia
    Virginia Carolina Dakota Montana Nevada Indiana Sydney Chelsea Lincoln Washington
    Jackson Madison Jefferson Franklin Hamilton Clinton Kennedy Monroe Columbus
    Charlotte Raleigh Marion Aurora Alexandria Augusta Savannah Victoria Beverly Salem
    Camden Chester Eugene Troy Orange Regina Trenton Cleveland Warren Lafayette
    Alexa Siri Mercedes Tesla Kia Dell Lexus Chevy Ford Mack Cadillac Kindle Echo Pixel
    Camry Jetta Wendy Porsche Sierra Israel America Asia Africa India China Kenya Cuba
    Jersey Dover Hampton Harlem Brighton Devon Albany"""
)

#: Given names in the source that are English function words or too common as words to
#: be names ("The", "Son", "Thanks"): never taken from the gazetteer.
NOT_GIVEN_NAMES: Final = _words(
    """A An And Are As At Be But By Can Could Did Do Does Done Due Each Else Ever For
    From Had Has Have He Her Here Him His How I If In Into Is It Its Just Let Like Me
    Mine More Most My No Non Nor Not Now Of Off Oh On Once One Only Or Our Out Over Own
    Per Said Same See She So Some Such Than That The Then There These They This Those
    Through Thus To Too Under Until Up Upon Us Very Was We Were What When Where Which
    While Who Why With Would Yet You Your Man Son Sun Moon Line
    Lean Edit Era Ear Odd Owe Ran Sin Sub Sup Tea Ton Tone Won Anti Ante Ha Hi Ho Mi
    Mu Xi Ye Yon Unto Ah Hey Ok Okay Yes Dear Thanks Hello Please Sorry Best Regards
    Sincerely Cheers Today Tomorrow Yesterday Tonight Call Called Caller Street Road
    Avenue Park City County Department Public Works Service Services Office Police Fire
    Water Trash Bus Car Home House Room Case Note Notes Date Time Day Week Month Year
    North South East West New Old Big Little Great Grand Saint"""
)

_DATA_FILE: Final = "data/given_names.tsv"


@functools.cache
def given_names() -> Mapping[str, GivenName]:
    """
    The gazetteer of given names, read once from ``data/given_names.tsv``: name (as
    written, capitalised) -> :class:`GivenName`. Empty if the file cannot be read.

    .. versionadded:: 0.1.0
    """
    try:
        content = resources.files("civiccrm.privacy").joinpath(_DATA_FILE).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    table: dict[str, GivenName] = {}
    for line in content.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, codes = line.partition("\t")
        if len(codes) != 3 or name in NOT_GIVEN_NAMES:
            continue
        try:
            table[name] = GivenName(int(codes[0], 16), int(codes[1], 16), codes[2] == "w")
        except ValueError:
            continue
    for name, info in list(table.items()):
        table.setdefault(name.capitalize(), info)  # "LaToya" is also written "Latoya"
    return table


def build_given_names(nam_dict: str, dictionary_words: Iterable[str] = ()) -> str:
    """
    Make the content of ``data/given_names.tsv`` from gender-guesser's ``nam_dict.txt``
    (its text) and a list of English words (``/usr/share/dict/american-english`` of
    Debian's ``wamerican``; only its lower-case entries count). Keeps the names that
    occur in Great Britain, Ireland or the USA, or are fairly frequent (class 4 or
    more) in some country, or common (class 3 or more) in three countries or more; drops
    the joined Asian forms (``Jun+Wei``) and the expanded-umlaut duplicates. Each line:
    ``Name<TAB><english class><anywhere class><w if a lower-case word, else ->``, the
    classes as one hexadecimal digit each.

    To regenerate (gender-guesser installed, not a civiccrm dependency)::

        import importlib.util, pathlib
        from civiccrm.privacy._names import build_given_names
        spec = importlib.util.find_spec("gender_guesser")
        src = pathlib.Path(spec.origin).parent / "data" / "nam_dict.txt"
        words = pathlib.Path("/usr/share/dict/american-english").read_text().split()
        print(build_given_names(src.read_text("utf-8"), words), end="")

    .. versionadded:: 0.1.0
    """
    words = {w for w in dictionary_words if w.islower()}
    classes: dict[str, list[int]] = {}
    for line in nam_dict.splitlines():
        # Columns: 0-1 gender, 3-28 name, 29 '+' for a duplicate, 30.. one frequency
        # digit per country (30 Great Britain, 31 Ireland, 32 USA).
        if not line or line[0] in "#=" or len(line) < 31 or line[29] == "+":
            continue
        name = line[3:29].strip()
        if not name or "+" in name or not _NAME_WORD_RE.fullmatch(name):
            continue
        digits = [int(c, 16) if c in "0123456789ABCDEFabcdef" else 0 for c in line[30:85]]
        old = classes.get(name)
        classes[name] = (
            digits if old is None else [max(a, b) for a, b in zip(old, digits, strict=False)]
        )
    out = []
    for name in sorted(classes):
        digits = classes[name]
        english, anywhere = max(digits[:3], default=0), max(digits, default=0)
        if not (english >= 1 or anywhere >= 4 or sum(d >= 3 for d in digits) >= 3):
            continue
        flag = "w" if name.lower() in words else "-"
        out.append(f"{name}\t{english:X}{anywhere:X}{flag}\n")
    return "".join(out)


# --------------------------------------------------------------------------------------
# Tokens

_U: Final = "A-ZÀ-ÖØ-Þ\u0100-\u017f"  # upper case (Latin-1 and Latin Extended-A)
_L: Final = "a-zß-öø-ÿ\u0100-\u017f"  # lower case
_WORD_PART = rf"(?:[{_U}]['\u2019])?[{_U}][{_L}]+(?:[{_U}][{_L}]+)?"
#: A capitalised name word: Smith, O'Brien, McDonald, DeShawn, Mary-Kate, Núñez.
_NAME_WORD = rf"{_WORD_PART}(?:-{_WORD_PART})?"
_NAME_WORD_RE: Final = re.compile(_NAME_WORD)
_TITLE_ABBRS = r"Mr|Mrs|Ms|Mx|Dr|Prof|Rev|Sgt|Det|Lt|Capt|Hon|Gov|Sen|Rep|Insp|Supt|Jr|Sr|St"


def _by_first_letter(words: Iterable[str]) -> str:
    """An alternation of ``words`` grouped by their first letter (faster to try)."""
    groups: dict[str, set[str]] = {}
    for word in words:
        groups.setdefault(word[0], set()).add(word[1:])
    return "|".join(
        re.escape(first) + "(?:" + "|".join(map(re.escape, sorted(rests))) + ")"
        for first, rests in sorted(groups.items())
    )


_TITLE_ALTERNATION = _by_first_letter(_TITLE_ABBRS.split("|"))
_TOKEN = rf"(?:(?:{_TITLE_ALTERNATION})\.|{_NAME_WORD}|[{_U}]\.|[{_U}]|III|II|IV)"
# A token ends at a word boundary; "John's" is fine, "Don't" and "john.smith@" are not.
_END = r"(?![\w@]|['\u2019](?:t|ll|re|ve|d|m)\b|-\w|\.\w)"
_PARTICLE = r"(?:van|von|der|den|de|del|della|da|di|du|dos|das|le|la|ter|ten|bin|ibn|al)"
# Capitalised sentence words that start no name: a run does not start with them. (The
# lookahead for a capital first lets the engine skip to capitals fast.)
_NOT_RUN_STARTS = (
    "The|This|That|These|Those|There|Then|They|It|Its|If|In|On|At|For|Please|We|He|She"
    "|I|You|Our|My|Your|His|Her|Their|A|An|And|But|Or|So|As|When|What|Where|Which|Who"
    "|Why|How|Is|Are|Was|Were|Do|Does|Did|Can|Could|Would|Should|No|Not|Yes|Also"
    "|After|Before|Today|Tomorrow|Yesterday|Monday|Tuesday|Wednesday|Thursday|Friday"
    "|Saturday|Sunday|January|February|March|July|September|October|November|December"
)
_NOT_RUN_START_ALTERNATION = _by_first_letter(_NOT_RUN_STARTS.split("|"))


def _title_after_first_letter(titles: Iterable[str]) -> str:
    """``(?:{titles})\\.`` for a position right after the title's first letter (each title
    a capital and lower-case letters): the lower-case letters and the period, then
    look-behinds (one per length) that read the whole title. A look-behind of another
    length than the title's reads a capital amid lower-case letters or a lower-case
    letter first, which no title has."""
    by_length: dict[int, list[str]] = {}
    for title in titles:
        by_length.setdefault(len(title), []).append(re.escape(title) + r"\.")
    firsts = "".join(sorted({title[0] for title in titles}))
    longest = max(by_length) - 1
    behinds = "|".join(f"(?<={'|'.join(sorted(group))})" for _, group in sorted(by_length.items()))
    return rf"(?<=[{firsts}])[a-z]{{1,{longest}}}\.(?:{behinds})"


#: :data:`_TOKEN` with its first letter already matched (every alternative starts with
#: one capital): the same alternatives, in the same order, from the second character.
_TOKEN_AFTER_FIRST = (
    rf"(?:{_title_after_first_letter(_TITLE_ABBRS.split('|'))}"
    rf"|(?:['\u2019][{_U}])?[{_L}]+(?:[{_U}][{_L}]+)?(?:-{_WORD_PART})?"
    r"|\.|(?:)|(?<=I)(?:II|I|V))"
)
#: A run of capitalised tokens (and particles) between spaces and tabs. It starts with
#: the first capital itself, checked afterwards by look-behinds (not a capital after a
#: word character, no sentence word of :data:`_NOT_RUN_STARTS`), so that the regex
#: engine skips ahead to capitals fast; it matches what ``(?=[{_U}])(?!(?:...)\b)
#: (?<![\w'\u2019@.\-]){_TOKEN}{_END}...`` would, the same spans.
_RUN_RE: Final = re.compile(
    rf"[{_U}](?<![\w'\u2019@.\-][{_U}])(?<!(?=(?:{_NOT_RUN_START_ALTERNATION})\b)[{_U}])"
    rf"{_TOKEN_AFTER_FIRST}{_END}"
    rf"(?:[ \t]{{1,3}}(?:{_PARTICLE}[ \t]{{1,3}}){{0,2}}{_TOKEN}{_END})*"
)
#: The same for a text of ASCII characters only (``str.isascii``): there ``\w`` and
#: ``\b`` mean what they mean for any text, and the regex engine tests them faster.
_RUN_RE_ASCII: Final = re.compile(_RUN_RE.pattern, re.ASCII)
_GENERATIONAL: Final = frozenset({"Jr", "Sr", "II", "III", "IV"})

# "Okafor, Anna" / "Lee, Anna K." in a list: found from the comma, then the surname
# before it.
_COMMA_GIVEN_RE: Final = re.compile(
    rf",[ \t]*(?P<given>{_NAME_WORD})(?:[ \t]+[{_U}]\.?)?(?![\w@'\u2019-])"
)
_CAPS_SURNAME_GIVEN_RE: Final = re.compile(
    r"(?=[A-Z]{2})(?<![\w'\u2019@.\-])(?P<sur>[A-Z][A-Z'\u2019-]*[A-Z]),[ \t]*(?P<given>[A-Z][A-Z-]*[A-Z])"
    r"(?:[ \t]+[A-Z]\.?)?(?![\w@'\u2019-])"
)
# A cheap test before :data:`_CAPS_SURNAME_GIVEN_RE` (a literal first: a fast scan).
_CAPS_GATE_RE: Final = re.compile(r",[ \t]*[A-Z][A-Z-]")
_DIGIT_AFTER_RE: Final = re.compile(r"[ \t]*\d")
_STATE_NAMES: Final = frozenset(n for v in STATES.values() for n in (v, *v.split()))
# The searches of a window before a position start with a lookahead for their first
# character: the engine skips ahead to it, where a \b or a look-behind first is tried at
# every position of the window.
_CAP_WORD_BEFORE_RE: Final = re.compile(r"(?=[A-Z])\b([A-Z][a-z]+)[ \t]+$")
_PLACE_PREPOSITIONS: Final = _words(
    """in at from to near of on for with by outside across around since after before
    during like than into through"""
)
_SURNAME_BEFORE_RE: Final = re.compile(
    rf"(?=[{_U}])(?<![\w'\u2019@.\-])"
    rf"(?P<sur>{_NAME_WORD}|[A-Z][A-Z'\u2019]*[A-Z](?:-[A-Z][A-Z'\u2019]*[A-Z])?)[ \t]*$"
)
_CAPS_WORD_BEFORE_RE: Final = re.compile(r"(?=[A-Z])\b[A-Z]{2,}[ \t]+$")
#: Where a lower-case self-introduction puts the name: after the key, when the word
#: before it is one of these ("this is", "my name is", "i am", "i'm", "it's").
_LOWER_INTROS: Final = (
    "this is ", "name is ", "i am ", "i'm ", "i\u2019m ",
    # A label in a form, a transcript or a text thread: "Resident: akosua mensah".
    "resident: ", "caller: ", "name: ",
)  # fmt: skip
_LOWER_NAME_RE: Final = re.compile(
    r"[ \t]*(?P<given>[a-z][a-z'\u2019-]*[a-z])"
    r"(?:[ \t]+(?P<sur>[a-z][a-z'\u2019-]*[a-z]))?(?![\w@'\u2019-]|\.\w)"
)
#: A name followed by a household relation in brackets or by "wrote:".
_RELATIONS_IN_BRACKETS = (
    "sp|spouse|wife|husband|partner|dtr|daughter|son|child|kid|mother|mom|mum|father"
    "|dad|bro|brother|sis|sister|gf|bf|girlfriend|boyfriend|grandson|granddaughter|gs|gd"
    "|grandmother|grandfather|niece|nephew|aunt|uncle|cousin|stepson|stepdaughter"
    "|roommate|hh member"
)
#: A household relation in brackets (found first: a literal starts it, a fast scan).
_RELATION_RE: Final = re.compile(
    rf"\((?i:{_RELATIONS_IN_BRACKETS})\b[ \t]*(?:[,;)/]|\d)"  # "(dtr, 17)", "(sp)", not "(son of"
)
#: The name right before a follower.
_NAME_BEFORE_FOLLOWER_RE: Final = re.compile(
    rf"(?=[{_U}])(?<![\w'\u2019@.\-])(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD})?)[ \t]*$"
)
#: An email address in angle brackets or parentheses, as after a display name.
_BRACKETED_EMAIL_RE: Final = re.compile(
    r"[<(][ \t]*(?:mailto:)?(?P<local>[^\s@<>()\[\],;:\"]+)@[^\s<>()]+[ \t]*[>)]"
)
#: Labels that may stand before a display name on its line.
_DISPLAY_LABELS: Final = _words(
    """user username name client contact customer resident caller applicant sender
    requester from to cc bcc by attn reply"""
)
#: The display name before it: one to four capitalised or all-capitals words.
_DISPLAY_NAME_RE: Final = re.compile(
    rf"(?:^|(?<=[\s:,;\"']))(?P<name>(?:[{_U}][\w'\u2019.-]*[ \t]+){{0,3}}[{_U}][\w'\u2019-]*)"
    r"[\"']?[ \t]*$"
)
#: Words that follow a name in speech and are no surname ("this is maria calling").
_LOWER_NOT_SURNAMES: Final = _words(
    """calling called call again here speaking and i um uh er from at with about
    regarding returning the my your on in to for of is was just so hi hello hey too
    also back over ok okay again yes no please thanks thank you sir maam ma'am who
    that this it and or but if when what how why where there here now today tonight
    yesterday tomorrow um hmm well like actually"""
)
#: Words in capitals before a comma that are no surname ("NOTE, Maria called").
_CAPS_NOT_SURNAMES: Final = _words(
    """NOTE NOTES FYI ATTN ATTENTION URGENT UPDATE UPDATED RE FW FWD CC BCC PS NB OK OKAY
    HI HELLO HEY DEAR THANKS YES NO ASAP TODO IMPORTANT REMINDER WARNING ALERT SUBJECT
    TO FROM DATE SENT CASE CLIENT CALLER AGENT STAFF USER NAME ADDRESS PHONE EMAIL DOB
    SSN ITIN ID NEW OLD CLOSED OPEN PENDING DONE YESTERDAY TODAY TOMORROW AM PM AND OR
    THE CITY STATE COUNTY DEPT DEPARTMENT OFFICE TEAM UNIT RESIDENT TENANT LANDLORD
    OWNER APPLICANT REQUESTER COMPLAINANT SR TICKET REF REQUEST"""
)

_WORD, _INITIAL, _TITLE, _PART, _ROMAN = range(5)


class _Tok(NamedTuple):
    start: int
    end: int
    text: str  # without a final period
    kind: int


_TITLES: Final = _words(
    """mr mrs ms miss mx dr prof professor rev reverend officer sgt sergeant judge det
    detective lt lieutenant capt captain deputy sheriff mayor councilmember councilman
    councilwoman councillor councilor commissioner senator sen rep representative gov
    governor hon pastor father sister nurse coach inspector insp trooper supt
    superintendent aunt uncle"""
)
#: Titles that are also common nouns in job names ("Deputy Director"): a following role
#: word is no name.
_ROLE_WORDS: Final = _words(
    """Director Manager Chief Officer Assistant Administrator Coordinator Supervisor
    Clerk Secretary Attorney General Executive Financial Operating Technology
    Information Public Works Council Staff Commissioner Mayor Judge Sheriff Deputy
    Inspector Program Project Services Service Department Division Team Unit Court
    Desk Duty Report Training Advocate Recorder Marshal Treasurer Controller Auditor
    Engineer Planner Specialist Analyst Liaison President Vice"""
)
#: Capitalised words that are never part of a person's name.
COMMON_CAPITALISED_WORDS: Final = _words(
    """However Unfortunately Meanwhile Finally Additionally Otherwise Therefore Anyway
    Again Instead Sadly Luckily Honestly Recently Currently Apparently Well Sure Actually
    Now Sometimes Later Earlier Hopefully Thankfully Obviously Basically Overall
    A An And Are As At Be But By Can Could Did Do Does For From Had Has Have He Her Here
    Hers Him His How I If In Into Is It Its Me My No Nor Not Of On Or Our Ours She
    So Than That The Their Them Then There These They This Those To Too Us Was We
    Were What When Where Which While Who Whom Why With Would You Your Yours Yes Yeah
    Ok Okay Also Just Only Even Still Please Thanks Thank Hi Hello Hey Dear Regards
    Sincerely Best Cheers Kind Warm Respectfully Cordially Sorry Re Fwd Fw Subject
    Attn Note Notes Today Tomorrow Yesterday Tonight Morning Afternoon Evening Night
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mon Tue Tues Wed Thu
    Thur Thurs Fri Sat Sun January February March April May June July August
    September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov
    Dec Christmas Easter Thanksgiving Halloween North South East West Northeast
    Northwest Southeast Southwest Central Upper Lower New Old Mr Mrs Ms Miss Mx Dr
    Prof Jr Sr Caller Resident Tenant Citizen Customer Client Applicant Requester
    Complainant Owner Landlord Neighbor Neighbour Staff Team Admin Agent Operator
    Unknown Anonymous Sir Madam Ma'am Everyone All Any Some None Nobody Somebody
    Someone Anyone Everybody American English Spanish Chinese Mexican African Asian
    European Indian Latino Hispanic Black White Catholic Jewish Muslim Baptist
    Methodist God Lord Internet Email Phone Online Website Portal App Text Call
    Voicemail Message Request Ticket Case Issue Complaint Report Status Update
    Reference Ref Number Alert Emergency Urgent Important Warning Notice Info
    Information Hours Tel Fax"""
)
_CAP_STOP: Final = COMMON_CAPITALISED_WORDS
#: Words that make a capitalised run the name of a place, body or thing.
_ORG_WORDS: Final = _words(
    """Department Dept Departments Services Service Office Offices County City Town
    Township Village Borough District Districts Center Centre Centers School Schools
    Academy Elementary Middle High College University Institute Hospital Hospitals
    Clinic Medical Library Museum Church Cathedral Chapel Temple Mosque Synagogue
    Ministry Ministries Zoo Stadium Arena Courthouse Building Buildings Tower Towers
    Mall Market Bank Inc Incorporated LLC Llc Ltd Corp Corporation Company Co
    Companies Hall Group Foundation Association Society Council Committee Commission
    Board Authority Agency Bureau Division Program Programs Project Projects Fund
    Trust Partners Associates Works Utilities Utility Transit Transportation Police
    Fire Sheriff's Rescue Emergency Health Housing Properties Property Realty
    Management Homes Rentals Apartments Condos Condominiums Motors Auto Airport
    Station Depot Bridge Tunnel Pool Gym Cafe Café Restaurant Grill Bar Pub Diner
    Pizza Bakery Pharmacy Store Stores Shop Supermarket Hotel Inn Motel Lodge Club
    League Alliance Coalition Network Media News Times Post Herald Tribune Journal
    Gazette Radio Press Studios Studio Theater Theatre Cinema Festival Fair Parade
    Week Month Year Act Law Plan Policy Code Ordinance Bill Amendment Court Courts
    Jail Prison Detention Precinct Ward Unit Lab Laboratory Labs Systems System
    Solutions Technologies Tech Software Industries International National Federal
    State Regional Municipal Community Public Memorial Cemetery Garden Gardens
    Estates Commons Plaza Square Park Parks Recreation Rec Avenue Street Road
    Boulevard Lane Drive Way Highway Expressway Freeway Parkway Alert Alerts Award
    Awards Prize Scholarship Fellowship Trophy Cup Series Show Awareness Foods Farms
    Farm Ranch Dairy Water Power Energy Electric Gas Oil Cable Wireless Meeting
    Meetings Conference Session Sessions Hearing Workshop Event Events Newsletter
    Edition Budget Election Deadline Schedule Calendar Sale Cleanup Tour Class
    Classes Concert Marathon Race Game Games Tournament Challenge Campaign
    Initiative Celebration Holiday Break Vacation Term Semester Quarter Day Benz
    Model
    Control Enforcement Compliance Relations Affairs Resources Safety Protection
    Assistance Support Operations Development Planning Zoning Permits Licensing Billing
    Collections Records Sanitation Recycling Maintenance Facilities Welfare Benefits
    Aging Veterans Revenue Finance Treasury Assessor Clerk"""
)
#: Street suffixes in full, and the abbreviations that running text uses ("Fry" for
#: Ferry is a surname more often than a street).
_STREET_WORDS: Final = frozenset(STREET_SUFFIXES) | _words(
    "St Str Ave Av Rd Blvd Ln Dr Ct Pl Ter Hwy Pkwy Cir Trl Sq Expy Fwy Xing Tpke Via"
)
#: Street suffixes that are also common surnames: fine after a given name.
_SURNAME_SUFFIXES: Final = _words(
    """Brooks Wells Mills Banks Hill Hills Park Parks Lane Hall Church Ward Field Fields
    Ford Green Greene Rivers Rose Stone Wood Woods Walls Wall Marsh Meadows Cross Branch
    Bridges Dale Gates Pike Knight Shore Day"""
)
# Words after which a name never follows in the same run: a place's first word.
_PLACE_PREFIXES: Final = _words(
    """North South East West New Lake Port Fort Ft Mount Mt Saint St San Santa Los Las
    El Glen Palm Grand Little Upper Lower Old Point Cape Camp Isle"""
)
#: Capitalised sentence words that are also common surnames ("Tonya West", "Pamela
#: May"): fine right after a given name.
_SURNAME_STOP_WORDS: Final = _words(
    "West North South East Black White May English Young Little Day Best Love Long"
)
_NON_SURNAMES: Final = ((_STREET_WORDS | _ORG_WORDS) - _SURNAME_SUFFIXES) | _CAP_STOP
# A word after a name that makes the name part of a place or body.
_PLACE_WORDS: Final = _STREET_WORDS | _ORG_WORDS
_GENERATIONAL_RE: Final = re.compile(r",?[ \t]+(?:Jr\.?|Sr\.?|III|II|IV)(?![\w'\u2019-])")

# Context before a name: a phrase that introduces a person ("s", strong), or a greeting,
# a verb or a preposition after which a known given name is one ("w", weak). Each entry:
# (strength, what comes before the last word, the last words).
_RELATIVES: Final = _words(
    """neighbour neighbor neighbours neighbors landlord landlady tenant tenants son
    daughter husband wife partner spouse ex-husband ex-wife ex-partner mother father
    mom mum dad brother sister grandson granddaughter grandmother grandfather grandma
    grandpa aunt uncle cousin nephew niece roommate flatmate boyfriend girlfriend fiance
    fiancee fiancé fiancée caregiver carer guardian child kid friend colleague coworker
    co-worker caseworker worker employer boss manager supervisor attorney lawyer doctor
    physician therapist nurse client contractor realtor agent stepson stepdaughter
    stepfather stepmother stepmom stepdad sons daughters children kids"""
)
_PARTIES: Final = _words(
    """caller resident requester requestor complainant applicant claimant tenant
    homeowner owner customer contact patient victim witness petitioner respondent
    defendant plaintiff constituent reporter submitter"""
)
#: Each entry: strength, the regex of what comes before the last word, the last words.
_CONTEXT_PHRASES: Final[tuple[tuple[str, str, frozenset[str]], ...]] = (
    (
        "s",
        r"\b(?:my|our|her|his|their|your|the|a|this)\s+(?:(?:next[- ]door|elderly|late"
        r"|former|new|upstairs|downstairs|adult|older|younger|oldest|youngest)\s+)?",
        _RELATIVES,
    ),
    (
        "s",
        r"\b",
        _PARTIES
        | {f"{p}'s" for p in _PARTIES}
        | _words(
            """name named attn attention cc dear from to sincerely regards respectfully
            cheers thanks best c/o"""
        ),
    ),
    ("s", r"\b(?:" + "|".join(sorted(_PARTIES)) + r")(?:'s)?\s+", frozenset({"name"})),
    (
        "s",
        r"\b(?:spoke|speaking|talked|talking|met|meeting|visited|interviewed)\s+",
        frozenset({"with", "to"}),
    ),
    (
        "s",
        r"\b(?:signed|submitted|reported|filed|sent|written|prepared|requested|referred"
        r"|assigned|approved|entered)\s+",
        frozenset({"by"}),
    ),
    ("s", r"\bon\s+behalf\s+", frozenset({"of"})),
    # Staff named after their role in reports and logs: "Inspector: Y. Her",
    # "Technician Tesfaye". (Not "Tech": "Tech Ops", "Tech Support".)
    (
        "s",
        r"\b",
        frozenset({"inspector", "technician", "sanitarian", "caseworker", "clerk"}),
    ),
    # Nicknames: "goes by Tex", "known as Smokey", "a.k.a. Junior".
    ("s", r"\b(?:goes|go|went|going|known|also\s+known)\s+", frozenset({"by", "as"})),
    ("s", r"\b", frozenset({"aka", "a.k.a", "a.k.a.", "nicknamed", "alias"})),
    ("s", r"\b(?:name|this)\s+", frozenset({"is"})),
    ("s", r"\bthank\s+", frozenset({"you"})),
    (
        "w",
        r"\b",
        _words(
            """hi hello hey welcome congratulations called emailed phoned texted told
            asked thanked with per by mr ms mrs"""
        ),
    ),
    ("w", r"\bgood\s+", frozenset({"morning", "afternoon", "evening"})),
)
#: The last words of the phrases: a cheap test before any regex.
_CONTEXT_LAST_WORDS: Final = frozenset(w for _, _, words in _CONTEXT_PHRASES for w in words)


@functools.cache
def _context_re(word: str) -> re.Pattern[str]:
    """The phrases that end with ``word``, as a regex anchored at the end."""
    alternatives: dict[str, list[str]] = {"s": [], "w": []}
    for strength, before, words in _CONTEXT_PHRASES:
        if word in words:
            alternatives[strength].append(before + re.escape(word))
    groups = "|".join(f"(?P<{k}>{'|'.join(v) if v else '(?!)'})" for k, v in alternatives.items())
    return re.compile(
        rf"(?:{groups})[ \t]*[,:.\-\u2013\u2014]?[ \t]*(?:\r?\n[ \t]*){{0,3}}"
        "[\"\u201c'\u2018(]?$",
        re.IGNORECASE,
    )


#: The phrases above that also end a message: a name on its own line after them.
_SIGN_OFF_RE: Final = re.compile(
    r"\b(?:sincerely|regards|respectfully|cheers|thanks|thank\s+you|best)[ \t]*,?[ \t]*"
    r"(?:\r?\n[ \t]*){1,3}$",
    re.IGNORECASE,
)
_GREETING_RE: Final = re.compile(
    r"\b(?:dear|hi|hello|hey|good\s+(?:morning|afternoon|evening)|attn\.?|attention|cc"
    r"|c/o|sincerely|regards|respectfully|cheers|thanks|thank\s+you|best)"
    r"[ \t]*[,:\-\u2013\u2014]?[ \t]*(?:\r?\n[ \t]*){0,3}$",
    re.IGNORECASE,
)
_VERB_AFTER_RE: Final = re.compile(
    r"(?:['\u2019]s\b|[ \t]+(?:said|says|called|calls|wrote|writes|told|asked|reported"
    r"|mentioned|stated|explained|complained|emailed|phoned|texted|replied|confirmed"
    r"|agreed|noted|left|came|stopped|dropped|brought|will\s+call|called\s+back"
    r"|is\s+(?:the|my|a|our|her|his)|was\s+(?:the|my|a|our|her|his)))\b"
)
_MONTH_NAMES: Final = frozenset({"April", "May", "June", "August"})
_BEFORE_MONTHS: Final = _words(
    """in on since until till by during of early late mid last next this from through
    before after between and or to"""
)
#: Endings of English nouns that are seldom surnames: a capitalised word ending so
#: after "met with" is a body ("Planning", "Sanitation"), not a person.
_NOUN_ENDINGS: Final = (
    "ing", "tion", "sion", "ment", "ness", "ity", "ance", "ence", "ure", "ics", "ism",
    "ship", "hood", "ogy", "ery", "ry", "age", "als", "ers", "ies", "ees",
)  # fmt: skip
_STREET_AND_RE: Final = re.compile(
    r"\b(?:"
    + "|".join(sorted(w for w in _STREET_WORDS if len(w) > 2))
    + r")\.?[ \t]+(?:and|&)[ \t]+$"
)
_MILITARY_AROUND_RE: Final = re.compile(r"[ \t]*,?[ \t]*\r?\n?[ \t]*(?:APO|FPO|DPO)\b")
_SHIP_BEFORE_RE: Final = re.compile(r"(?=U)\b(?:USS|USNS|USNV|USCGC)[ \t]+$")
_BUSINESS_AFTER_RE: Final = re.compile(r"['\u2019]s(?:[ \t]+[A-Z]|[ \t]*[,.;:!?)]|[ \t]*$)")
#: Before a name at the start of a line: nothing but a dash, a bullet, a quote mark or
#: a bracket.
_LINE_START_RE: Final = re.compile(r"(?:^|\n)[ \t]*(?:[-\u2013\u2014*\u2022>][ \t]*)?\[?$")
#: After initials and a surname on a signature line: a comma and a role. Either the line
#: starts with a dash ("- S. Tesfaye, Code Enforcement Officer") or the role is a staff
#: role ("J. Joseph, Sanitarian"); an outline item ("C. Findings, Section 2") is neither.
_SIGNATURE_ROLE_RE: Final = re.compile(r"\]?,[ \t]*(?P<role>[A-Z][a-z]+)")
_STAFF_ROLES: Final = _words(
    """Inspector Officer Sanitarian Caseworker Manager Supervisor Director Clerk Technician
    Specialist Coordinator Analyst Assessor Investigator Agent Worker Nurse Engineer
    Planner Counselor Counsellor Advocate Navigator Dispatcher Deputy Chief"""
)
_DASH_LINE_START_RE: Final = re.compile(r"(?:^|\n)[ \t]*[-\u2013\u2014][ \t]*\[?$")
# A message's signature: a given name alone on the last line.
_SIGNATURE_BEFORE_RE: Final = re.compile(r"\n[ \t]*$")
_SIGNATURE_AFTER_RE: Final = re.compile(r"[ \t]*(?:\r?\n[ \t]*)*\Z")
_AND_AFTER_RE: Final = re.compile(r"[ \t]+(?:and|&)[ \t]+[A-Z]")
_LIST_AROUND_RE: Final = re.compile(r"(?:[ \t]*,[ \t]*|[ \t]+(?:and|&)[ \t]+)[A-Z]")
_LIST_BEFORE_RE: Final = re.compile(
    r"(?=[A-Z])\b[A-Z][a-z]+(?:[ \t]*,[ \t]*|[ \t]+(?:and|&)[ \t]+)$"
)
_COMPANY_AFTER_RE: Final = re.compile(
    r",?[ \t]+(?:PLC|LLC|LLP|L\.L\.C\.|Inc\b|Ltd\b|Co\.|Corp\b|& Sons|and Sons|& Co\b)"
)
_ADDRESS_BEFORE_RE: Final = re.compile(
    r"\d[\dA-Za-z/-]*[ \t]+(?:(?:N|S|E|W|NE|NW|SE|SW)\.?[ \t]+)?$"
)
_STREET_BEFORE_RE: Final = re.compile(
    r"\b(?:on|at|along|down|up|off|onto|near|via|past|of|corner\s+of|cross\s+street|in"
    r"|inside|around|behind|across|through|outside|within|throughout|into)"
    r"[ \t]+$",
    re.IGNORECASE,
)
_STATE_AFTER_RE: Final = re.compile(
    r"[ \t]*,[ \t]*(?:(?:"
    + "|".join(sorted(STATES, key=len, reverse=True))
    + r")(?![\w'\u2019-])(?:[ \t]+\d{5})?|(?:"
    + "|".join(re.escape(n) for n in sorted(STATES.values(), key=len, reverse=True))
    + r")\b)|[ \t]+(?:"
    + "|".join(STATES)
    + r")[ \t]+\d{5}\b"
)
#: What after a name makes it a firm, a ship or a place (any of the three above).
_PLACE_AFTER_RE: Final = re.compile(
    "|".join(f"(?:{r.pattern})" for r in (_COMPANY_AFTER_RE, _MILITARY_AROUND_RE, _STATE_AFTER_RE))
)
_SENTENCE_START_RE: Final = re.compile(
    r"(?:^|[.!?:;\"\u201c\u201d(\[\n>*•|-])[ \t\"\u201c'\u2018(]*$"
)


_T_PERSON: Final = PiiType.PERSON
_START: Final = operator.attrgetter("start")


class PersonNameDetector:
    """
    Finds people's names (type ``PERSON``) by a gazetteer of given names, titles and
    the phrases that introduce people; see the module's docstring for the rules and
    scores. The span is the name alone (``Mrs. Anna Lee`` -> ``Anna Lee``), with a
    generational suffix when one follows (``John Smith Jr.``). ``known`` is not used.

    .. versionadded:: 0.1.0
    """

    name = "person_name"

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        """The names in ``text``, in text order, not overlapping. Never raises."""
        try:
            return self._detect(text)
        except Exception as exc:  # noqa: BLE001 - a detector never raises (detect.Detector)
            detector_failed(self.name, exc)
            return []

    # ----------------------------------------------------------------------------------

    def _detect(self, text: str) -> list[Finding]:
        if not isinstance(text, str) or not text:
            return []
        names = given_names()
        listed = sorted(self._surname_first(text, names), key=_START)
        listed_starts = [f.start for f in listed]
        found = list(listed)
        context_words = _CONTEXT_LAST_WORDS
        punctuation = _PUNCTUATION
        known_runs = _RUN_INFO.get
        scan = self._scan
        for run in (_RUN_RE_ASCII if text.isascii() else _RUN_RE).finditer(text):
            # Most capitalised runs hold no given name, title or context word, and follow
            # no context: skip them before any per-token work.
            run_text = run.group()
            kind, street, toks = known_runs(run_text) or _run_info(run_text)
            if kind == _SKIP_RUN:
                continue
            start = run.start()
            if kind == _RUN_AFTER_CONTEXT:
                # (_last_word, inlined: this runs for most capitalised words of a text)
                before = text[start - 32 if start > 32 else 0 : start].rstrip(punctuation)
                if (
                    not before
                    or before.rsplit(None, 1)[-1].lower().strip(punctuation) not in context_words
                ) and not (
                    # initials on a signature line: "- S. Tesfaye, Code Enforcement Officer"
                    run_text[1:3] == ". "
                    and _SIGNATURE_ROLE_RE.match(text, run.end())
                    and _LINE_START_RE.search(text, max(0, start - 8), start)
                ):
                    continue
            if listed_starts:
                k = bisect.bisect_left(listed_starts, run.end())
                if k and max(f.end for f in listed[max(0, k - 2) : k]) > start:
                    continue  # "Okafor, Anna" already taken
            scan(found, text, toks, start, names, street)
        found.extend(self._lower_case_intros(text, names))
        extra: list[Finding] = []
        if "@" in text:
            extra.extend(self._display_names(text, names))
        extra.extend(self._named_by_what_follows(text))
        if extra:
            # Keep the extra findings that overlap none found so far (in linear time:
            # the found ones sorted by start with the running maximum of their ends).
            found.sort(key=_START)
            starts = [f.start for f in found]
            reach: list[int] = []
            for f in found:
                reach.append(max(reach[-1], f.end) if reach else f.end)
            last_end = -1
            for f in sorted(extra, key=lambda f: (f.start, -f.end)):
                k = bisect.bisect_left(starts, f.end)
                if (k and reach[k - 1] > f.start) or last_end > f.start:
                    continue
                found.append(f)
                last_end = max(last_end, f.end)
        found.sort(key=_START)
        return found

    def _named_by_what_follows(self, text: str) -> list[Finding]:
        """One or two capitalised words that what follows makes a person: a relation
        in brackets, as household lists write them ("Ngozi (dtr, 17)", "Akosua Mensah
        (sp)"), or "wrote:" opening a quoted reply ("Harrison wrote:"). Score 0.8."""
        out: list[Finding] = []
        followers = [m.start() for m in _matches(_RELATION_RE, text)] if "(" in text else []
        at = text.find(" wrote:")
        while at >= 0:
            followers.append(at + 1)
            at = text.find(" wrote:", at + 7)
        for at in followers:
            m = _NAME_BEFORE_FOLLOWER_RE.search(text, max(0, at - 48), at)
            if m is None:
                continue
            words = m.group("name").split()
            if any(
                w in _NON_SURNAMES or w in _PLACE_WORDS or w in _ROLE_WORDS or w in _TITLES_CAP
                for w in words
            ):
                continue
            out.append(Finding(_T_PERSON, m.start("name"), m.end("name"), 0.8, self.name))
        return out

    def _display_names(self, text: str, names: Mapping[str, GivenName]) -> list[Finding]:
        """The name before an email address in angle brackets or parentheses, as mail
        headers and user lists write it ("From: Hirut Haile <hhaile@...>", "User
        EDWARD WAGNER (wagner.edward@...)"): one to four capitalised or all-capitals
        words, one of which is in the address's local part, or the first of which is
        a listed given name that is no English word. Score 0.85."""
        out: list[Finding] = []
        for m in _matches(_BRACKETED_EMAIL_RE, text):
            local = m.group("local").lower()
            line_start = text.rfind("\n", 0, m.start()) + 1
            before = _DISPLAY_NAME_RE.search(text, max(line_start, m.start() - 80), m.start())
            if before is None:
                continue
            start, name = before.start("name"), before.group("name")
            words = name.split()
            while len(words) > 1 and words[0].lower().strip(".:") in _DISPLAY_LABELS:
                start = text.index(words[1], start + len(words[0]))
                words = words[1:]  # "User EDWARD WAGNER (...)"
            plain = [w.strip(".").capitalize() for w in words]
            if any(w in _NON_SURNAMES or w in _ROLE_WORDS or w in _PLACE_WORDS for w in plain):
                continue  # "City of Tulsa <info@...>", "Springfield Parks (parks@...)"
            first = names.get(plain[0])
            in_local = any(len(w) >= 3 and w.lower() in local for w in plain)
            listed = (
                first is not None
                and not first.is_word
                and plain[0] not in NOT_GIVEN_NAMES
                and plain[0] not in AMBIGUOUS_GIVEN_NAMES
            )
            if in_local or listed:
                end = before.end("name")
                out.append(Finding(_T_PERSON, start, end, 0.85, self.name))
        return out

    def _lower_case_intros(self, text: str, names: Mapping[str, GivenName]) -> list[Finding]:
        """A name typed or transcribed in lower case right after "this is", "my name
        is", "i am", "i'm" or a label such as "Resident:" ("hey this is erica
        harvey um calling about"): a listed given name that is no English word, and
        the next word as its surname unless it is a common word. Score 0.8 with a
        surname, 0.7 without."""
        low = _lowered(text)
        if len(low) != len(text):  # "İ" lowercases to two characters: keep the offsets
            low = "".join(c.lower()[:1] for c in text)
        matches: list[re.Match[str]] = []
        find = low.find
        for phrase in _LOWER_INTROS:
            k = find(phrase)
            if k < 0:
                continue
            size = len(phrase)
            while k >= 0:
                at = k + size
                start, k = k, find(phrase, at)
                if not "a" <= text[at : at + 1] <= "z":
                    continue  # no lower-case word after it ("Caller: Yes")
                if start and (low[start - 1].isalnum() or low[start - 1] == "_"):
                    continue  # inside a word ("visit is ...")
                m = _LOWER_NAME_RE.match(text, at)
                if m is not None:
                    matches.append(m)
        found: list[Finding] = []
        for m in matches:
            given = m.group("given")
            cap = given.capitalize()
            info = names.get(cap)
            if (
                len(given) < 3  # "Resident: ty" (thank you)
                or info is None
                or info.is_word
                or cap in NOT_GIVEN_NAMES
                or cap in AMBIGUOUS_GIVEN_NAMES
                or cap in WORDLIKE_GIVEN_NAMES
            ):
                continue
            sur = m.group("sur")
            if sur is not None and (
                sur in _LOWER_NOT_SURNAMES or sur.capitalize() in _NON_SURNAMES
            ):
                sur = None
            end = m.end("sur") if sur is not None else m.end("given")
            score = 0.8 if sur else 0.7
            found.append(Finding(_T_PERSON, m.start("given"), end, score, self.name))
        return found

    def _scan(
        self,
        out: list[Finding],
        text: str,
        toks: tuple[_Tok, ...],
        off: int,
        names: Mapping[str, GivenName],
        street: bool,
    ) -> None:
        """Append to ``out`` the names in one capitalised run, which starts at ``off``
        in ``text``: its tokens ``toks`` (offsets from the run's start, see
        :func:`_run_info`); ``street``: whether one of them is a street word."""
        # "4759 William Haven Apt. 194": a street after its house number.
        if street and _ADDRESS_BEFORE_RE.search(text, off - 16, off):
            return
        n = len(toks)
        i = 0
        while i < n:
            tok = toks[i]
            kind = tok.kind
            found: tuple[Finding, int] | None = None
            if kind == _WORD:
                word = tok.text
                if word not in _CAP_STOP or word in _MONTH_NAMES:
                    info = (
                        names.get(word)
                        or names.get(word.partition("-")[0])
                        or names.get(_plain(word))
                    )
                    if info is not None and word not in NOT_GIVEN_NAMES:
                        found = self._given_name(text, toks, off, i, info, names)
                    elif i == 0 or toks[i - 1].kind == _WORD:
                        found = self._after_context(text, toks, off, i)
            elif kind == _TITLE:
                # "Oak Dr Springfield": a street suffix, not a title.
                if not (
                    tok.text == "Dr"
                    and i > 0
                    and toks[i - 1].kind == _WORD
                    and toks[i - 1].text not in _CAP_STOP
                ):
                    end = self._title_name(toks, i + 1)
                    if end is not None and self._not_place(text, toks, off, i + 1, end):
                        found = (
                            self._finding(text, off + toks[i + 1].start, off + toks[end].end, 0.9),
                            end,
                        )
            elif kind == _INITIAL:
                found = self._initials(text, toks, off, i)
            if found is None:
                i += 1
            else:
                out.append(found[0])
                i = found[1] + 1

    def _title_name(self, toks: tuple[_Tok, ...], j: int) -> int | None:
        """The last token of a name that starts at ``j`` after a title or a phrase:
        one or two words, or initials and a word; None if there is none."""
        n = len(toks)
        k = j
        while k < n and k - j < 2 and toks[k].kind == _INITIAL:
            k += 1
        if k > j:  # "Dr. A. Smith", "J. R. Tolkien"
            w = self._next_word(toks, k)
            return w if w is not None and self._surname_ok(toks[w].text) else None
        if j >= n or toks[j].kind != _WORD or toks[j].text in _ROLE_WORDS:
            return None  # "Deputy Director", "Officer Training"
        if not (self._surname_ok(toks[j].text) or toks[j].text in _SURNAME_STOP_WORDS):
            return None
        k = j + 1
        if k < n and toks[k].kind == _INITIAL:
            w = self._next_word(toks, k + 1)
            if w is not None and self._surname_ok(toks[w].text):
                return w
        w = self._next_word(toks, k)
        if w is not None and (
            self._surname_ok(toks[w].text) or toks[w].text in _SURNAME_STOP_WORDS
        ):
            return w
        return j

    @staticmethod
    def _next_word(toks: tuple[_Tok, ...], k: int) -> int | None:
        """The index of the word at ``k``, past particles ("van", "de la"), or None."""
        while k < len(toks) and toks[k].kind == _PART:
            k += 1
        if k < len(toks) and toks[k].kind == _WORD:
            return k
        return None

    @staticmethod
    def _surname_ok(word: str) -> bool:
        return word not in _NON_SURNAMES and word not in _TITLES_CAP

    def _given_name(
        self,
        text: str,
        toks: tuple[_Tok, ...],
        off: int,
        i: int,
        info: GivenName,
        names: Mapping[str, GivenName],
    ) -> tuple[Finding, int] | None:
        """A name starting with the listed given name at ``i`` (see :meth:`_scan`)."""
        first = toks[i]
        first_text = first.text
        first_start, first_end = off + first.start, off + first.end
        end = i
        k = i + 1
        if k < len(toks) and toks[k].kind == _INITIAL:
            w = self._next_word(toks, k + 1)
            if w is not None and (
                self._surname_ok(toks[w].text) or toks[w].text in _SURNAME_STOP_WORDS
            ):
                end = w  # "Anna K. Lee", "Barry S. White"
        before = _last_word(text, first_start)
        if first_text in _MONTH_NAMES and before in _BEFORE_MONTHS:
            return None  # "in April Springfield will ..."
        context = self._context(text, first_start, before)
        if end == i:
            w = self._next_word(toks, k)
            if w is not None:
                word = toks[w].text
                # "Jennifer Road", "Lincoln Park", "Crystal Lake", "the Sara Hill closure",
                # "Brown Creek and Susan Dale"; but "Crystal Hall emailed"
                if self._place_not_person(text, toks, off, i, w, info, before, context):
                    return None
                if self._surname_ok(word) or word in _SURNAME_STOP_WORDS:
                    end = w
                    w3 = self._next_word(toks, w + 1)
                    if (
                        w3 is not None
                        and word in names
                        and word not in AMBIGUOUS_GIVEN_NAMES
                        and self._surname_ok(toks[w3].text)
                    ):
                        end = w3  # "Mary Ann Smith", "John Paul Jones"
        if not self._not_place(text, toks, off, i, end):
            return None
        strict = first_text in AMBIGUOUS_GIVEN_NAMES
        if before == "the" and (strict or first_text in WORDLIKE_GIVEN_NAMES or info.is_word):
            return None  # "the June meeting", "the Grace Church bake sale"
        if end > i:
            if toks[end].text in _STREET_WORDS and _STREET_BEFORE_RE.search(
                text, first_start - 16, first_start
            ):
                return None  # "the pothole on Kevin Hill"
            if (
                context is None
                and (strict or (info.is_word and info.english < 3))
                and self._sentence_start(text, first_start)
            ):
                return None  # "Will Springfield fix it?", "Hope Springs Eternal"
            score = 0.85 if context is None else 0.9
            return self._finding(text, first_start, off + toks[end].end, score), end
        # A given name alone.
        wordy = (
            strict
            or first_text in WORDLIKE_GIVEN_NAMES
            or first_text in PLACE_GIVEN_NAMES
            or (info.is_word and info.english < 6)
        )
        if context is not None:
            if wordy and not _GREETING_RE.search(text, first_start - 40, first_start):
                return None  # "with Grace" may be a word; "Hi Grace," is not
            return self._finding(text, first_start, first_end, 0.6), end
        if (
            not strict
            and len(toks) == 1
            and _SIGNATURE_BEFORE_RE.search(text, first_start - 4, first_start)
            and _SIGNATURE_AFTER_RE.match(text, first_end)
        ):
            return self._finding(text, first_start, first_end, 0.6), end  # "...\n\nBrooke"
        if strict or len(first_text) < 3 or info.english < (6 if info.is_word else 5):
            return None
        if "-" in first_text and first_text not in names:
            return None  # "Thomas-Hamilton", a firm's name
        if i > 0 and toks[i - 1].kind == _WORD and toks[i - 1].text not in _CAP_STOP:
            return None  # inside a longer capitalised run ("Springfield Jennifer Fund")
        if _LIST_AROUND_RE.match(text, first_end) or _LIST_BEFORE_RE.search(
            text, first_start - 24, first_start
        ):
            return None  # "Patton, Alexander and Moore", a firm's name
        if _BUSINESS_AFTER_RE.match(text, first_end):
            return None  # "Kevin's Auto Body", "Wendy's"
        verb = _VERB_AFTER_RE.match(text, first_end)
        if verb:
            return self._finding(text, first_start, first_end, 0.6), end
        if wordy:
            return None
        return self._finding(text, first_start, first_end, 0.5), end

    @staticmethod
    def _place_not_person(
        text: str,
        toks: tuple[_Tok, ...],
        off: int,
        i: int,
        w: int,
        info: GivenName,
        before: str,
        context: re.Match[str] | None,
    ) -> bool:
        """Whether a given name at ``i`` with the word at ``w`` names a place."""
        first, word = toks[i].text, toks[w].text
        if word not in _PLACE_WORDS:
            return False
        if word not in _SURNAME_SUFFIXES or first in PLACE_GIVEN_NAMES:
            return True
        wordy = (
            first in AMBIGUOUS_GIVEN_NAMES
            or first in WORDLIKE_GIVEN_NAMES
            or (info.is_word and info.english < 6)
            or before == "the"
            or _STREET_AND_RE.search(text, off + toks[i].start - 24, off + toks[i].start)
        )
        return context is None and bool(wordy) and not _VERB_AFTER_RE.match(text, off + toks[w].end)

    def _after_context(
        self, text: str, toks: tuple[_Tok, ...], off: int, i: int
    ) -> tuple[Finding, int] | None:
        """A name that is not in the gazetteer, after a phrase that introduces one."""
        tok = toks[i]
        if not self._surname_ok(tok.text) or tok.text in _ROLE_WORDS:
            return None
        if tok.text.endswith(_NOUN_ENDINGS):
            return None  # "met with Planning and Zoning"
        tok_start = off + tok.start
        m = self._context(text, tok_start)
        if m is None or m.group("s") is None:
            return None
        phrase = " ".join(m.group("s").lower().split())
        if phrase in {"from", "to", "name"}:
            return None  # "from Springfield", "to Public Works"
        end = self._title_name(toks, i)
        if end is None or not self._not_place(text, toks, off, i, end):
            return None
        if phrase == "this is" and end == i:
            return None  # "this is Springfield"; "this is Emeka Owusu" is a person
        if any(t.text in _PLACE_WORDS for t in toks[i : end + 1]):
            return None  # "Dear Springfield Parks and Recreation"
        if end == i:
            if phrase in {"cc", "dear"} or _SIGN_OFF_RE.search(m.group(0)):
                return None  # "Dear Neighbors", "Thanks,\nSpringfield"
            return self._finding(text, tok_start, off + tok.end, 0.5), end
        return self._finding(text, tok_start, off + toks[end].end, 0.9), end

    def _initials(
        self, text: str, toks: tuple[_Tok, ...], off: int, i: int
    ) -> tuple[Finding, int] | None:
        """A name in initials ("J. R. Tolkien") after a phrase that introduces one."""
        if i > 0 and toks[i - 1].kind in (_WORD, _INITIAL):
            return None
        if text[off + toks[i].end - 1] != ".":
            return None  # "A Smith" may be "A Smith & Co": only "A. Smith"
        end = self._title_name(toks, i)
        if end is None:
            return None
        start, end_pos = off + toks[i].start, off + toks[end].end
        if self._context(text, start) is None and not self._signature(text, start, end_pos):
            return None
        if not self._not_place(text, toks, off, i, end):
            return None
        return self._finding(text, start, end_pos, 0.9), end

    @staticmethod
    def _signature(text: str, start: int, end: int) -> bool:
        """Whether the name from ``start`` to ``end`` signs a line (see
        :data:`_SIGNATURE_ROLE_RE`)."""
        role = _SIGNATURE_ROLE_RE.match(text, end)
        if role is None or not _LINE_START_RE.search(text, max(0, start - 8), start):
            return False
        return role.group("role") in _STAFF_ROLES or bool(
            _DASH_LINE_START_RE.search(text, max(0, start - 8), start)
        )

    def _not_place(self, text: str, toks: tuple[_Tok, ...], off: int, i: int, end: int) -> bool:
        """False when tokens ``i..end`` (of a run at ``off``) name a place or body, not a
        person."""
        # "Jefferson Elementary", "Kevin Hill Road", "Martin Luther King Jr. Boulevard"
        if end + 1 < len(toks):  # (most names end their run)
            for k in range(end + 1, min(end + 4, len(toks))):
                if toks[k].kind not in (_WORD, _ROMAN, _INITIAL):
                    break
                if toks[k].kind == _WORD and toks[k].text in _PLACE_WORDS:
                    return False
        if i > 0 and toks[i - 1].kind == _WORD and toks[i - 1].text in _PLACE_PREFIXES:
            return False  # "Lake Jennifer", "West Corey"
        # "Martin PLC", "Smith & Sons", "Henry\nFPO AP 74065", "Corey, CA 90152"
        if _PLACE_AFTER_RE.match(text, off + toks[end].end):
            return False
        start = off + toks[i].start
        # "USS Henry" (each ship prefix holds "US": a cheap test first)
        return text.find("US", max(0, start - 8), start) < 0 or not _SHIP_BEFORE_RE.search(
            text, start - 8, start
        )

    @staticmethod
    def _context(text: str, pos: int, word: str | None = None) -> re.Match[str] | None:
        """The phrase before ``pos`` that introduces a person, if any: its group ``s``
        is set for a strong one, ``w`` for a weak one. ``word``: the last word before
        ``pos`` if known (see :func:`_last_word`)."""
        if word is None:
            word = _last_word(text, pos)
        if word not in _CONTEXT_LAST_WORDS:
            return None
        # (A plain search of the window: measured faster on the benchmark corpora than
        # trying only the last few word starts, found in the reversed window.)
        return _context_re(word).search(text, pos - 48 if pos > 48 else 0, pos)

    @staticmethod
    def _sentence_start(text: str, pos: int) -> bool:
        return pos == 0 or bool(_SENTENCE_START_RE.search(text, pos - 6, pos))

    def _surname_first(self, text: str, names: Mapping[str, GivenName]) -> Iterator[Finding]:
        """Surname first: "Okafor, Anna", "Lee, Anna K.", "OKAFOR, ANNA", "OKAFOR, Anna"."""
        if "," not in text:
            return
        reach = 0  # no two findings overlap ("Lee, Anna, Maria")
        for m in _matches(_COMMA_GIVEN_RE, text):
            given = m.group("given")
            if not self._listed_given(given, names) or _DIGIT_AFTER_RE.match(text, m.end()):
                continue  # "Springfield, May 5"
            sur_m = _SURNAME_BEFORE_RE.search(text, max(0, m.start() - 40), m.start())
            if sur_m is None:
                continue
            sur = sur_m.group("sur")
            if sur.isupper():  # "WHITEHEAD, Cody"
                if sur in _CAPS_NOT_SURNAMES or _CAPS_WORD_BEFORE_RE.search(
                    text, max(0, sur_m.start() - 24), sur_m.start()
                ):
                    continue  # "NOTE, Maria"; "CITY HALL, Maria": a longer name in capitals
                sur = sur.capitalize()
            if not self._listed_surname(text, sur, sur_m.start()):
                continue
            if _AND_AFTER_RE.match(text, m.end()) or sur_m.start() < reach:
                continue  # "Patton, Alexander and Moore", a firm; "John, Mary and Peter"
            reach = m.end()
            yield Finding(_T_PERSON, sur_m.start(), m.end(), 0.8, self.name)
        gate = _CAPS_GATE_RE.search(text, 1)
        while gate is not None and not "A" <= text[gate.start() - 1] <= "Z":
            gate = _CAPS_GATE_RE.search(text, gate.end())
        if gate is None:
            return  # no "X, YZ" for the slower regex below
        for m in _CAPS_SURNAME_GIVEN_RE.finditer(text):
            given, sur = m.group("given").capitalize(), m.group("sur").capitalize()
            if self._listed_given(given, names) and self._listed_surname(text, sur, m.start()):
                yield Finding(_T_PERSON, m.start(), m.end(), 0.8, self.name)

    @staticmethod
    def _listed_given(given: str, names: Mapping[str, GivenName]) -> bool:
        # Not a state: "Washington, Georgia" is a place.
        return given in names and given not in NOT_GIVEN_NAMES and given not in _STATE_NAMES

    def _listed_surname(self, text: str, sur: str, start: int) -> bool:
        if (
            sur in NOT_GIVEN_NAMES
            or sur in _PLACE_PREFIXES
            or sur in _ROLE_WORDS
            or sur in _MONTH_NAMES
            or not (self._surname_ok(sur) or sur in _SURNAME_STOP_WORDS)
        ):
            return False
        if _last_word(text, start) in _PLACE_PREPOSITIONS:
            return False  # "in Springfield, Jennifer said"
        before = _CAP_WORD_BEFORE_RE.search(text, start - 24, start)
        # "Springfield Parks, Anna": part of a longer capitalised name.
        return before is None or before.group(1) in _CAP_STOP

    def _finding(self, text: str, start: int, end: int, score: float) -> Finding:
        """From ``start`` to ``end`` (the end of the name's last token), with "Jr." or
        "III" after it."""
        m = _GENERATIONAL_RE.match(text, end)
        return Finding(_T_PERSON, start, m.end() if m else end, score, self.name)


_TITLES_CAP: Final = frozenset(t.capitalize() for t in _TITLES)
#: Words in a capitalised run that may start or introduce a name.
_TRIGGERS: Final = _TITLES | _CONTEXT_LAST_WORDS
_PUNCTUATION: Final = " \t\r\n,.:;!?-\u2013\u2014()[]\"'\u201c\u201d\u2018\u2019*•|>"


@functools.lru_cache(maxsize=4096)
def _plain(word: str) -> str:
    """``word`` without diacritics ("Zoë" -> "Zoe")."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_SKIP_RUN, _RUN_AFTER_CONTEXT, _SCAN_RUN = range(3)


_RunInfo = tuple[int, bool, tuple[_Tok, ...]]
#: :func:`_run_info`'s answers by run (a plain dict, emptied when full: read for every
#: capitalised run of a text, faster than a least-recently-used cache).
_RUN_INFO: dict[str, _RunInfo] = {}
_RUN_INFO_SIZE: Final = 16384


def _run_info(run_text: str) -> _RunInfo:
    """What :meth:`PersonNameDetector._detect` needs of the capitalised run
    ``run_text``, whatever its place in the text: its kind (see :func:`_run_kind`), and
    unless it is skipped, whether one of its tokens is a street word and its tokens
    (offsets from the run's start). Remembered (see :data:`_RUN_INFO`)."""
    info = _RUN_INFO.get(run_text)
    if info is not None:
        return info
    kind = _run_kind(run_text)
    if kind == _SKIP_RUN:
        info = (kind, False, ())
    else:
        toks = _run_tokens(run_text)
        info = (kind, not _STREET_WORDS.isdisjoint([t.text for t in toks]), toks)
    if len(_RUN_INFO) >= _RUN_INFO_SIZE:
        _RUN_INFO.clear()
    _RUN_INFO[run_text] = info
    return info


def _run_kind(run_text: str) -> int:
    """What :meth:`PersonNameDetector._detect` does with the capitalised run
    ``run_text``: skip it (:data:`_SKIP_RUN`); scan it only after a word that may
    introduce a person (:data:`_RUN_AFTER_CONTEXT`: it holds no given name, title or
    context word); or scan it (:data:`_SCAN_RUN`)."""
    if not _may_hold_name(run_text):
        return _SKIP_RUN
    if "." in run_text or "-" in run_text:
        run_text = run_text.replace(".", " ").replace("-", " ")
    words = run_text.split()
    if not run_text.isascii():
        words = [_plain(w) for w in words]  # "Zoë" -> "Zoe"
    if words[0] not in given_names() if len(words) == 1 else _triggers().isdisjoint(words):
        return _RUN_AFTER_CONTEXT
    return _SCAN_RUN


def _may_hold_name(run_text: str) -> bool:
    """Whether :meth:`PersonNameDetector._scan` may find a name in the capitalised run
    ``run_text``, whatever its context: False if it is one word that is no name alone
    (see :func:`_may_name_alone`), or if all its words are common words, particles or
    "Jr", "III" (no title, no initial, no possible given name or surname)."""
    words = run_text.split()
    if len(words) == 1:
        return _may_name_alone(words[0])
    for word in words:
        if word[0].islower():
            continue  # a particle
        bare = word.rstrip(".")
        if bare.lower() in _TITLES or (len(bare) == 1 and bare not in _GENERATIONAL):
            return True  # a title or an initial
        if _may_name_alone(word):
            return True
    return False


def _may_name_alone(word: str) -> bool:
    """Whether a capitalised run of the one token ``word`` may be a name: False for the
    runs in which :meth:`PersonNameDetector._scan` finds none whatever the context (a
    title, an initial or a common word alone)."""
    bare = word.rstrip(".")
    if bare.lower() in _TITLES or bare in _GENERATIONAL or len(bare) == 1:
        return False
    if bare in _CAP_STOP and bare not in _MONTH_NAMES:
        return False
    names = given_names()
    info = names.get(bare) or names.get(bare.partition("-")[0]) or names.get(_plain(bare))
    if info is not None and bare not in NOT_GIVEN_NAMES:
        return True  # _given_name
    # _after_context
    return (
        PersonNameDetector._surname_ok(bare)
        and bare not in _ROLE_WORDS
        and not bare.endswith(_NOUN_ENDINGS)
    )


def _last_word(text: str, pos: int) -> str:
    """The last word before ``pos``, lower case, without punctuation around it."""
    before = text[pos - 32 if pos > 32 else 0 : pos].rstrip(_PUNCTUATION)
    if not before:
        return ""
    return before.rsplit(None, 1)[-1].lower().strip(_PUNCTUATION)


@functools.cache
def _triggers() -> frozenset[str]:
    """The words of a capitalised run that make it worth a look: given names, titles
    and context words, as written in a run."""
    return frozenset(given_names()) | {w.capitalize() for w in _TRIGGERS}


def _run_tokens(run_text: str) -> tuple[_Tok, ...]:
    """The tokens of a capitalised run (which :data:`_RUN_RE` made of tokens between
    spaces and tabs), with offsets in ``run_text``."""
    out = []
    pos = 0
    for word in run_text.split():
        start = run_text.index(word, pos)
        pos = start + len(word)
        bare = word.rstrip(".")
        if word[0].islower():
            kind = _PART
        elif bare.lower() in _TITLES:
            kind = _TITLE
        elif bare in _GENERATIONAL:
            kind = _ROMAN
        elif len(bare) == 1:
            kind = _INITIAL
        else:
            kind = _WORD
        out.append(_Tok(start, pos, bare, kind))
    return tuple(out)
