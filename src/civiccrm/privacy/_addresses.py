"""
US street addresses in free text, by a grammar: no model, no gazetteer of streets.

An address is a house number, an optional direction, one to five street-name words, a
street suffix from the USPS list (``Street``, ``St``, ``Ave.``, ``Haven``, ``Mountains``
...), an optional direction after it and an optional unit (``Apt. 194``, ``Suite 200``,
``# 3B``), then, when present, the city, state and ZIP code (``, Springfield, IL 62704``
or on the next line). PO boxes, rural routes (``RR 5 Box 61``) and military addresses
(``PSC 1234, Box 5678`` /
``Unit 0930 Box 0211`` / ``USNS Smith`` with their ``APO``/``FPO``/``DPO`` line) count too.
Intersections ("the corner of 5th and Monroe") do not: they have no house number.

The suffix and state tables are shared with the known-entity detector, which compares
stored address lines with the text whatever the abbreviations.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from typing import Final

from civiccrm.privacy._patterns import _matches
from civiccrm.privacy.detect import Finding, KnownEntities, PiiType, detector_failed

__all__ = ["UsAddressDetector"]


def _words(text: str) -> frozenset[str]:
    """The words of a whitespace-separated list."""
    return frozenset(text.split())


# --------------------------------------------------------------------------------------
# Tables (facts from USPS Publication 28: street suffixes, secondary unit designators and
# state abbreviations).

#: Street suffixes, by their full form, with the USPS standard abbreviation first and
#: common variants after it. Abbreviations that are ordinary words or times in running
#: text ("Est", "Is", "Un", "Via", "Pr") are left out.
STREET_SUFFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    "Alley": ("Aly", "Allee"),
    "Annex": ("Anx",),
    "Arcade": ("Arc",),
    "Avenue": ("Ave", "Av", "Aven"),
    "Bayou": ("Byu",),
    "Beach": ("Bch",),
    "Bend": ("Bnd",),
    "Bluff": ("Blf",),
    "Bluffs": ("Blfs",),
    "Bottom": ("Btm",),
    "Boulevard": ("Blvd", "Boul"),
    "Branch": ("Br",),
    "Bridge": ("Brg",),
    "Brook": ("Brk",),
    "Brooks": ("Brks",),
    "Burg": ("Bg",),
    "Burgs": ("Bgs",),
    "Bypass": ("Byp",),
    "Camp": ("Cp",),
    "Canyon": ("Cyn",),
    "Cape": ("Cpe",),
    "Causeway": ("Cswy",),
    "Center": ("Ctr", "Centre", "Cntr"),
    "Centers": ("Ctrs",),
    "Circle": ("Cir", "Circ"),
    "Circles": ("Cirs",),
    "Cliff": ("Clf",),
    "Cliffs": ("Clfs",),
    "Club": ("Clb",),
    "Common": ("Cmn",),
    "Commons": ("Cmns",),
    "Corner": ("Cor",),
    "Corners": ("Cors",),
    "Course": ("Crse",),
    "Court": ("Ct",),
    "Courts": ("Cts",),
    "Cove": ("Cv",),
    "Coves": ("Cvs",),
    "Creek": ("Crk",),
    "Crescent": ("Cres",),
    "Crest": ("Crst",),
    "Crossing": ("Xing",),
    "Crossroad": ("Xrd",),
    "Crossroads": ("Xrds",),
    "Curve": ("Curv",),
    "Dale": ("Dl",),
    "Dam": ("Dm",),
    "Divide": ("Dv", "Dvd"),
    "Drive": ("Dr", "Drv"),
    "Drives": ("Drs",),
    "Estate": (),
    "Estates": ("Ests",),
    "Expressway": ("Expy", "Expwy"),
    "Extension": ("Ext",),
    "Extensions": ("Exts",),
    "Fall": (),
    "Falls": ("Fls",),
    "Ferry": ("Fry",),
    "Field": ("Fld",),
    "Fields": ("Flds",),
    "Flat": ("Flt",),
    "Flats": ("Flts",),
    "Ford": ("Frd",),
    "Fords": ("Frds",),
    "Forest": ("Frst",),
    "Forge": ("Frg",),
    "Forges": ("Frgs",),
    "Fork": ("Frk",),
    "Forks": ("Frks",),
    "Fort": ("Ft",),
    "Freeway": ("Fwy",),
    "Garden": ("Gdn",),
    "Gardens": ("Gdns",),
    "Gateway": ("Gtwy",),
    "Glen": ("Gln",),
    "Glens": ("Glns",),
    "Green": ("Grn",),
    "Greens": ("Grns",),
    "Grove": ("Grv",),
    "Groves": ("Grvs",),
    "Harbor": ("Hbr",),
    "Harbors": ("Hbrs",),
    "Haven": ("Hvn",),
    "Heights": ("Hts",),
    "Highway": ("Hwy",),
    "Hill": ("Hl",),
    "Hills": ("Hls",),
    "Hollow": ("Holw",),
    "Inlet": ("Inlt",),
    "Island": (),
    "Islands": (),
    "Isle": (),
    "Junction": ("Jct",),
    "Junctions": ("Jcts",),
    "Key": (),
    "Keys": ("Kys",),
    "Knoll": ("Knl",),
    "Knolls": ("Knls",),
    "Lake": ("Lk",),
    "Lakes": ("Lks",),
    "Land": (),
    "Landing": ("Lndg",),
    "Lane": ("Ln",),
    "Light": ("Lgt",),
    "Lights": ("Lgts",),
    "Loaf": (),
    "Lock": ("Lck",),
    "Locks": ("Lcks",),
    "Lodge": ("Ldg",),
    "Loop": (),
    "Mall": (),
    "Manor": ("Mnr",),
    "Manors": ("Mnrs",),
    "Meadow": ("Mdw",),
    "Meadows": ("Mdws",),
    "Mews": (),
    "Mill": (),
    "Mills": (),
    "Mission": ("Msn",),
    "Motorway": ("Mtwy",),
    "Mount": ("Mt",),
    "Mountain": ("Mtn",),
    "Mountains": ("Mtns",),
    "Neck": ("Nck",),
    "Orchard": ("Orch",),
    "Oval": (),
    "Overpass": ("Opas",),
    "Park": ("Pk",),
    "Parks": (),
    "Parkway": ("Pkwy", "Pky"),
    "Parkways": ("Pkwys",),
    "Pass": (),
    "Passage": ("Psge",),
    "Path": (),
    "Pike": (),
    "Pine": ("Pne",),
    "Pines": ("Pnes",),
    "Place": ("Pl",),
    "Plain": ("Pln",),
    "Plains": ("Plns",),
    "Plaza": ("Plz",),
    "Point": ("Pt",),
    "Points": ("Pts",),
    "Port": ("Prt",),
    "Ports": ("Prts",),
    "Prairie": (),
    "Radial": ("Radl",),
    "Ramp": (),
    "Ranch": ("Rnch",),
    "Rapid": ("Rpd",),
    "Rapids": ("Rpds",),
    "Rest": ("Rst",),
    "Ridge": ("Rdg",),
    "Ridges": ("Rdgs",),
    "River": ("Riv",),
    "Road": ("Rd",),
    "Roads": ("Rds",),
    "Route": ("Rte",),
    "Row": (),
    "Rue": (),
    "Run": (),
    "Shoal": ("Shl",),
    "Shoals": ("Shls",),
    "Shore": ("Shr",),
    "Shores": ("Shrs",),
    "Skyway": ("Skwy",),
    "Spring": ("Spg",),
    "Springs": ("Spgs",),
    "Spur": (),
    "Spurs": (),
    "Square": ("Sq",),
    "Squares": ("Sqs",),
    "Station": ("Sta",),
    "Stravenue": ("Stra",),
    "Stream": ("Strm",),
    "Street": ("St", "Str"),
    "Streets": ("Sts",),
    "Summit": ("Smt",),
    "Terrace": ("Ter", "Terr"),
    "Throughway": ("Trwy",),
    "Trace": ("Trce",),
    "Track": ("Trak",),
    "Trafficway": ("Trfy",),
    "Trail": ("Trl",),
    "Trailer": ("Trlr",),
    "Tunnel": ("Tunl",),
    "Turnpike": ("Tpke",),
    "Underpass": ("Upas",),
    "Union": (),
    "Unions": (),
    "Valley": ("Vly",),
    "Valleys": ("Vlys",),
    "Viaduct": ("Vdct", "Via"),
    "View": ("Vw",),
    "Views": ("Vws",),
    "Village": ("Vlg",),
    "Villages": ("Vlgs",),
    "Ville": (),
    "Vista": ("Vis", "Vst"),
    "Walk": (),
    "Walks": (),
    "Wall": (),
    "Way": ("Wy",),
    "Ways": (),
    "Well": (),
    "Wells": ("Wls",),
}

#: Suffixes that make an address on their own, even in lower case ("12 elm st"); the
#: others ("Park", "View", "Run", "Point" ...) are ordinary words too, and count only
#: capitalised and where an address ends (a comma, a unit, a line end, a city).
STRONG_SUFFIXES: Final = frozenset(
    {
        "Alley", "Avenue", "Boulevard", "Circle", "Court", "Drive", "Expressway",
        "Freeway", "Highway", "Lane", "Parkway", "Place", "Plaza", "Road", "Street",
        "Terrace", "Trail", "Turnpike", "Way", "Square", "Crescent", "Causeway",
    }
)  # fmt: skip

#: Every spelling of a suffix (lower case, no period) -> its full form.
SUFFIX_CANONICAL: Final[Mapping[str, str]] = {
    spelling.lower(): full
    for full, abbrevs in STREET_SUFFIXES.items()
    for spelling in (full, *abbrevs)
}

DIRECTIONS: Final[Mapping[str, str]] = {
    "n": "N", "north": "N", "s": "S", "south": "S", "e": "E", "east": "E", "w": "W",
    "west": "W", "ne": "NE", "northeast": "NE", "nw": "NW", "northwest": "NW",
    "se": "SE", "southeast": "SE", "sw": "SW", "southwest": "SW",
}  # fmt: skip

#: Secondary unit designators, each spelling -> the USPS abbreviation.
UNIT_DESIGNATORS: Final[Mapping[str, str]] = {
    "apartment": "APT", "apt": "APT", "unit": "UNIT", "suite": "STE", "ste": "STE",
    "floor": "FL", "fl": "FL", "room": "RM", "rm": "RM", "building": "BLDG",
    "bldg": "BLDG", "lot": "LOT", "space": "SPC", "spc": "SPC", "trailer": "TRLR",
    "trlr": "TRLR", "department": "DEPT", "dept": "DEPT", "#": "#", "rear": "REAR",
    "basement": "BSMT", "bsmt": "BSMT", "front": "FRNT", "frnt": "FRNT", "upper": "UPPR",
    "uppr": "UPPR", "lower": "LOWR", "lowr": "LOWR", "penthouse": "PH", "ph": "PH",
    "lobby": "LBBY", "lbby": "LBBY", "hangar": "HNGR", "hngr": "HNGR",
    "slip": "SLIP", "pier": "PIER", "stop": "STOP",
}  # fmt: skip

#: US states, DC and territories: USPS abbreviation -> name.
STATES: Final[Mapping[str, str]] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas",
    "CA": "California", "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware",
    "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia", "HI": "Hawaii",
    "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah",
    "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia",
    "WI": "Wisconsin", "WY": "Wyoming", "AS": "American Samoa", "GU": "Guam",
    "MP": "Northern Mariana Islands", "PR": "Puerto Rico", "VI": "Virgin Islands",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific", "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands", "PW": "Palau",
}  # fmt: skip


def _alternation(words: set[str]) -> str:
    # Longest first, so that "Streets" is tried before "Street" before "St"; grouped by
    # the first letter ("S(?:treets|treet|t)"), which the regex engine tries much faster
    # than a flat list and which matches the same.
    groups: dict[str, list[str]] = {}
    for word in sorted(words, key=lambda w: (-len(w), w)):
        groups.setdefault(word[0], []).append(word[1:])
    return "|".join(
        re.escape(first) + "(?:" + "|".join(map(re.escape, rests)) + ")"
        for first, rests in sorted(groups.items())
    )


def _suffix_spellings() -> tuple[set[str], set[str]]:
    """(spellings that take a period, full words): Title and UPPER case of each,
    lower case of the strong suffixes and their abbreviations."""
    abbrevs: set[str] = set()
    fulls: set[str] = set()
    for full, short in STREET_SUFFIXES.items():
        fulls.update({full, full.upper()})
        abbrevs.update(s for a in short for s in (a, a.upper()))
        if full in STRONG_SUFFIXES:
            fulls.add(full.lower())
            abbrevs.update(a.lower() for a in short)
    return abbrevs - fulls, fulls


_ABBREVS, _FULLS = _suffix_spellings()
_STATE_ABBR = _alternation({a for a in STATES if a not in {"AA", "AE", "AP"}})
_STATE_NAME = _alternation(set(STATES.values()) - {n for n in STATES.values() if "Armed" in n})

# House number: 1-6 digits, a range (12-14), a letter (12B) or a half (12 1/2).
_NUMBER_TAIL = r"(?:[ \t]?-[ \t]?\d{1,6})?(?:-?[A-Za-z](?![A-Za-z]))?(?:[ \t]+1/2|½)?"
_NUMBER = rf"(?P<num>\d{{1,6}}{_NUMBER_TAIL})"
_DIRECTION = (
    r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)"
)
# A street-name word: capitalised (O'Neil, McKinley, St.), numbered (5th, 21st), a lone
# capital (K Street) or lower case (checked after the match).
_NAME_WORD = (
    r"(?:\d{1,3}(?:st|nd|rd|th|ST|ND|RD|TH)"
    r"|[A-Z](?:[A-Za-z'\u2019]*[A-Za-z])?(?:-[A-Za-z]+)?\.?"
    r"|[a-z][a-z'\u2019]*[a-z](?:-[a-z]+)?)"
)
_SUFFIX = rf"(?P<suffix>(?:{_alternation(_ABBREVS)})(?![\w'\u2019-])\.?|(?:{_alternation(_FULLS)})(?![\w'\u2019-]))"
_UNIT = (
    r"(?P<unit>[ \t]*,?[ \t]*"
    r"(?:(?:Apartment|Apt|APT|apt|Unit|UNIT|unit|Suite|SUITE|suite|Ste|STE|ste|Fl|FL|fl"
    r"|Floor|FLOOR|floor|Rm|RM|rm|Room|ROOM|room|Bldg|BLDG|bldg|Building|building|Lot|LOT"
    r"|lot|Spc|SPC|spc|Space|space|Trlr|TRLR|trlr|Trailer|trailer|Dept|DEPT|dept"
    r"|Hngr|Slip|Pier|Stop)\.?[ \t]*#?[ \t]*"
    r"|\#[ \t]*)"
    r"(?:\d{1,6}(?:-?[A-Za-z]\b)?|[A-Za-z](?:-?\d{1,5})?)(?![\w-])"
    # USPS designators that take no number: "Rear", "Bsmt", "Frnt", "Uppr", "Lowr", "Ph".
    # (Capitalised only: "at 1 Main Street, basement" is where in the building.)
    r"|[ \t]*,?[ \t]*(?:Rear|REAR|Bsmt|BSMT|Basement|Frnt|FRNT|Front"
    r"|Uppr|UPPR|Upper|Lowr|LOWR|Lower|Ph|PH|Penthouse|Lbby|Lobby)\.?(?![\w-])"
    r"|[ \t]*,?[ \t]+\d{1,2}(?:st|nd|rd|th)[ \t]+(?:Floor|FLOOR|floor|Fl|FL|fl)\b\.?)"
)
_CITY_WORD = r"[A-Z][a-z'\u2019]*(?:[A-Z][a-z'\u2019]+)?(?:[-.][ \t]?[A-Z]?[a-z'\u2019]+)*\.?"
_ZIP = r"\d{5}(?:-\d{4})?"
# ", Springfield, IL 62704" / "\nWest Corey, CA 90152" / " Springfield IL 62704" /
# ", Springfield, Illinois": a comma before the state, or a ZIP code after it.
_TAIL = (
    rf"(?P<tail>(?:[ \t]*,[ \t]*(?:\r?\n[ \t]*)?|[ \t]*\r?\n[ \t]*|[ \t]+)"
    rf"(?P<city>{_CITY_WORD}(?:[ \t]+{_CITY_WORD}){{0,3}})"
    rf"(?:[ \t]*,[ \t]*(?:(?:{_STATE_ABBR})|(?:{_STATE_NAME}))(?![\w-])(?:[ \t]+{_ZIP}(?![\w-]))?"
    rf"|[ \t]+(?:(?:{_STATE_ABBR})|(?:{_STATE_NAME}))[ \t]+{_ZIP}(?![\w-])))"
)

# Each pattern starts with a lookahead for its first character: the regex engine then
# skips ahead to it fast, where a lookbehind first would try every position. The one
# run over every text starts with the house number's first digit itself (a character
# class first: faster still), the look-behinds after it; and its street-name words are
# atomic groups: a word is only ever followed by a space or tab, which no shorter match
# of the word is, so the engine need not try them (the same matches, found faster).
_STREET_RE: Final = re.compile(
    rf"(?P<num>\d(?<![\w$#.,/+\-]\d)(?<!\d:\d)\d{{0,5}}{_NUMBER_TAIL})"
    rf"(?![ \t]*(?:[AaPp]\.?[Mm]\b|[AaPp]\.[Mm]\.))[ \t]+"
    rf"(?:(?P<predir>{_DIRECTION})\.?[ \t]+)?"
    rf"(?P<name>(?>{_NAME_WORD})(?:[ \t]+(?>{_NAME_WORD})){{0,4}})[ \t]+"
    rf"{_SUFFIX}"
    rf"(?:[ \t]+(?P<postdir>(?:N|S|E|W|NE|NW|SE|SW)\.?(?![\w-])"
    rf"|(?:North|South|East|West)(?=[ \t]*(?:,|\r?\n|$|Apt|Unit|Suite|Ste|\#))))?"
    rf"{_UNIT}?"
    rf"{_TAIL}?"
)
#: The same for a text of ASCII characters only (``str.isascii``): there ``\d``, ``\w``
#: and ``\b`` mean what they mean for any text, and the regex engine tests them faster.
_STREET_RE_ASCII: Final = re.compile(_STREET_RE.pattern, re.ASCII)
#: The same with the shortest street name first: tried where the longest scores 0
#: ("55 Main St Trlr 4": Trlr is a suffix too, and a unit designator).
_STREET_SHORT_RE: Final = re.compile(
    rf"(?=\d)(?<![\w$#.,/+\-])(?<!\d:){_NUMBER}(?![ \t]*(?:[AaPp]\.?[Mm]\b|[AaPp]\.[Mm]\.))[ \t]+"
    rf"(?:(?P<predir>{_DIRECTION})\.?[ \t]+)?"
    rf"(?P<name>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,4}}?)[ \t]+"
    rf"{_SUFFIX}"
    rf"(?:[ \t]+(?P<postdir>(?:N|S|E|W|NE|NW|SE|SW)\.?(?![\w-])"
    rf"|(?:North|South|East|West)(?=[ \t]*(?:,|\r?\n|$|Apt|Unit|Suite|Ste|\#))))?"
    rf"{_UNIT}?"
    rf"{_TAIL}?"
)

_PO_BOX_RE: Final = re.compile(
    rf"(?=[Pp])(?<![\w])(?:P\.?[ \t]?O\.?|p\.?[ \t]?o\.?|Post[ \t]+Office|POST[ \t]+OFFICE)[ \t]*"
    rf"(?:Box|BOX|box)[ \t]*(?:\#|No\.?)?[ \t]*\d{{1,8}}(?![\w-]){_TAIL}?"
)

#: Rural routes and highway contract routes: "RR 5 Box 61", "Rural Route 2, Box 14A",
#: "HC 3 Box 12".
_RURAL_RE: Final = re.compile(
    r"(?=[RrHS])(?<![\w])(?:RR|R\.R\.|Rural[ \t]+Route|RURAL[ \t]+ROUTE|rural[ \t]+route|HC"
    r"|Highway[ \t]+Contract|Star[ \t]+Route)[ \t]*\#?[ \t]*\d{1,3}[ \t]*,?[ \t]*"
    rf"(?:Box|BOX|box)[ \t]*\d{{1,5}}[A-Za-z]?(?![\w-]){_TAIL}?"
)


def _match_start(m: re.Match[str]) -> int:
    return m.start()


_MILITARY_RE: Final = re.compile(
    r"(?=[PCUADF])(?<![\w])(?:"
    r"(?P<box>(?:PSC|CMR|Unit|UNIT)[ \t]+\d{3,5},?[ \t]+(?:Box|BOX)[ \t]+\d{1,5})"
    r"(?P<line>[ \t]*,?[ \t]*(?:\r?\n[ \t]*)?(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?:-\d{4})?)?"
    r"|(?:USS|USNS|USNV|USCGC)[ \t]+[A-Z][\w'\u2019-]*(?:[ \t]+[A-Z][\w'\u2019-]*){0,2}"
    r"[ \t]*,?[ \t]*(?:\r?\n[ \t]*)?FPO[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?:-\d{4})?"
    r"|(?P<lone>(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?:-\d{4})?)"
    r")(?![\w-])"
)


# Words that are never part of a lower-case street name ("walked 5 miles down the road").
_FUNCTION_WORDS: Final = _words(
    """a an the and or but of to in on at by for from with into onto over under up down
    off out about near past along across through via this that these those my our your
    his her their its i we you he she they it is are was were be been am has have had do
    does did not no so as if then than just very more most some any all each every many
    much few other another same such only own too also miles mile blocks block feet foot
    minutes hours days weeks months years times people cars houses homes dogs cats
    kids children who which what when where why how new old big small long short"""
)

_YEAR_CONTEXT_RE: Final = re.compile(
    r"(?:(?P<sure>\b(?:in|since|during|until|till|circa|around|between|through|before|by"
    r"|after|year|years|January|February|March|April|May|June|July|August|September"
    r"|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec))"
    r"|\b(?:from|and|to|of)|[,/-])[ \t]*$",
    re.IGNORECASE,
)
_YEAR_RE: Final = re.compile(r"\b(?:1[89]|20)\d\d\b")
_ADDRESS_CONTEXT_RE: Final = re.compile(
    r"\b(?:at|on|live|lives|living|reside|resides|located|address|addr|is|from|to|of"
    r"|for|near|behind|outside|opposite|across\s+from|next\s+to|front\s+of|moved\s+to"
    r"|file|home|house|property|residence|location|premises)"
    r"[ \t]*:?[ \t]*$",
    re.IGNORECASE,
)
_CORNER_BEFORE_RE: Final = re.compile(r"(?=[ci])\b(?:corner|intersection)\s+of\s+$", re.IGNORECASE)
_NEXT_WORD_RE: Final = re.compile(r"[ \t]+([A-Za-z]+)")
# Words that follow an address in a sentence, not a noun it qualifies ("3 Oak Park
# residents").
_WORDS_AFTER_ADDRESS: Final = _words(
    """on in at and or but for by to from near since until before after when where
    which who that is was has had have will would should could can may might must
    needs need needed requested reported says said called asked wants has because
    with without about as if so then yesterday today tonight tomorrow this last next
    every around across behind between"""
)
_ENDS_ADDRESS_RE: Final = re.compile(r"[ \t]*(?:[,;:()\[\]\"'\u2019.!?/|-]|\r?\n|$)")


_T_US_ADDRESS: Final = PiiType.US_ADDRESS


class UsAddressDetector:
    """
    Finds US street addresses (``742 Evergreen Terrace``, ``4759 William Haven Apt. 194
    West Corey, CA 90152``), PO boxes, rural routes (``RR 5 Box 61``) and military
    addresses. The span takes the unit
    and the city, state and ZIP code when they follow the street line. Score 0.9 for a
    number and a suffix, 0.95 with a city and state or ZIP, 0.8 for a street written
    in lower case.

    .. versionadded:: 0.1.0
    """

    name = "us_address"

    def detect(self, text: str, known: KnownEntities | None = None) -> list[Finding]:
        """The addresses in ``text``; ``known`` is not used. Never raises."""
        try:
            return self._detect(text)
        except Exception as exc:  # noqa: BLE001 - a detector never raises (detect.Detector)
            detector_failed(self.name, exc)
            return []

    def _detect(self, text: str) -> list[Finding]:
        if not isinstance(text, str) or not text:
            return []
        out: list[Finding] = []
        taken: list[tuple[int, int]] = []  # PO boxes and military addresses, in order
        # Cheap tests before the slower scans: a military address holds "PO" (APO, FPO,
        # DPO), "US" (USS, USNS ...), "PSC", "CMR", "Unit" or "UNIT"; a PO box or a rural
        # route holds "Box", "BOX" or "box".
        if (
            "PO" in text
            or "US" in text
            or "PSC" in text
            or "CMR" in text
            or "Unit" in text
            or "UNIT" in text
        ):
            for m in _MILITARY_RE.finditer(text):
                if m.group("box") and not m.group("line"):
                    score = 0.85  # "Unit 0930 Box 0211" without its DPO line
                elif m.group("lone"):
                    score = 0.9  # "APO AE 09012" alone
                else:
                    score = 0.95
                taken.append((m.start(), m.end()))
                out.append(self._finding(text, m.start(), m.end(), score))
        if "Box" in text or "BOX" in text or "box" in text:
            po_boxes = [*_PO_BOX_RE.finditer(text), *_RURAL_RE.finditer(text)]
            for m in sorted(po_boxes, key=_match_start):
                score = 0.95 if m.group("tail") else 0.9
                taken.append((m.start(), m.end()))
                out.append(self._finding(text, m.start(), m.end(), score))
        taken.sort()
        starts = [s for s, _ in taken]
        for m in _matches(_STREET_RE_ASCII if text.isascii() else _STREET_RE, text):
            start, end = m.span()
            if starts:
                k = bisect.bisect_left(starts, end)
                if k and taken[k - 1][1] > start:
                    continue  # inside a PO box or military address
            score = self._street_score(text, m)
            if not score and " " in m.group("name"):
                short = _STREET_SHORT_RE.match(text, start)
                if short is not None and short.end("name") < m.end("name"):
                    m, end = short, short.end()
                    score = self._street_score(text, m)
            if score:
                out.append(self._finding(text, start, end, score))
        return out

    @staticmethod
    def _street_score(text: str, m: re.Match[str]) -> float:
        start = m.start()
        num = m.group("num")
        before = text[max(0, start - 24) : start]
        # "in 2019 Lincoln Park reopened": a year, not a house number; "from 2018 to 2019
        # Oak Park" too, but "send it to 2019 Oak Street" is an address.
        if len(num) == 4 and num[:2] in {"18", "19", "20"}:
            year = _YEAR_CONTEXT_RE.search(before)
            if (
                year is not None
                and not (m.group("unit") or m.group("tail"))
                and (year.group("sure") is not None or _YEAR_RE.search(before) is not None)
            ):
                return 0.0
        stripped = before.rstrip()
        if (
            len(stripped) < len(before)
            and stripped[-2:].lower() == "of"  # what _CORNER_BEFORE_RE needs: a cheap test
            and _CORNER_BEFORE_RE.search(before)
        ):
            return 0.0
        suffix_text = m.group("suffix").rstrip(".")
        full = SUFFIX_CANONICAL.get(suffix_text.lower(), "")
        words = m.group("name").split()
        lower = [w for w in words if w[0].islower()]
        if lower or suffix_text.islower():
            # "12 elm st": strong suffixes only, and no sentence words in the name.
            if full not in STRONG_SUFFIXES or len(words) > 3:
                return 0.0
            if any(w.lower().rstrip(".") in _FUNCTION_WORDS for w in words):
                return 0.0
            if m.group("tail"):
                return 0.9
            return 0.8
        if any(w.rstrip(".").lower() in _FUNCTION_WORDS for w in words[1:]):
            # "5 Things The City Should Fix": a title, not a street.
            return 0.0
        if m.group("tail"):
            return 0.95
        if full in STRONG_SUFFIXES or m.group("unit"):
            return 0.9
        # A weak suffix ("3 Oak Park residents") counts where an address ends, or after
        # "at", "on", "live at" ...
        if _ENDS_ADDRESS_RE.match(text, m.end()) or _ADDRESS_CONTEXT_RE.search(before):
            return 0.9
        after = _NEXT_WORD_RE.match(text, m.end())
        if after is not None and after.group(1).lower() in _WORDS_AFTER_ADDRESS:
            return 0.9  # "... 8683 Gillespie Cliff on Monday"
        return 0.0

    def _finding(self, text: str, start: int, end: int, score: float) -> Finding:
        # A span never ends on the sentence's period (a lone "St." at the end of a
        # sentence loses its period too) nor on spaces, and never starts on one.
        while end > start and text[end - 1] in " \t\r\n.,":
            end -= 1
        return Finding(_T_US_ADDRESS, start, end, score, self.name)


#: A token of an address line: a word or number, "#" or a fraction.
ADDRESS_TOKEN_RE: Final = re.compile(r"#|[^\W_]+(?:['\u2019][^\W_]+)*|\d+/\d+")


def canonical_token(token: str, index: int) -> str:
    """
    One token of an address line (lower case) in its canonical form: a suffix (not in
    first place, where it is a house number or a name), direction or unit designator
    by its USPS abbreviation, anything else as it is.

    .. versionadded:: 0.1.0
    """
    if index > 0:
        full = SUFFIX_CANONICAL.get(token)
        if full is not None:
            return full.lower()
    if token in DIRECTIONS:
        return DIRECTIONS[token].lower()
    return UNIT_DESIGNATORS.get(token, token).lower()


def normalise_address(line: str) -> list[str]:
    """
    The tokens of an address line in one canonical form (see :func:`canonical_token`):
    ``"742 Evergreen Ter."`` and ``"742 evergreen terrace"`` give the same tokens.

    .. versionadded:: 0.1.0
    """
    tokens = ADDRESS_TOKEN_RE.findall(line.lower())
    return [canonical_token(t, i) for i, t in enumerate(tokens)]
