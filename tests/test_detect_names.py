"""People's names, US street addresses and a case's known parties in free text."""

from __future__ import annotations

import random
import re
import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.privacy._addresses import (
    _STREET_RE,
    _STREET_RE_ASCII,
    _STREET_SHORT_RE,
    UsAddressDetector,
    normalise_address,
)
from civiccrm.privacy._known import KnownEntityDetector
from civiccrm.privacy._names import (
    _CONTEXT_LAST_WORDS,
    _END,
    _NOT_RUN_START_ALTERNATION,
    _PARTICLE,
    _RUN_RE,
    _RUN_RE_ASCII,
    _TOKEN,
    _U,
    PersonNameDetector,
    _context_re,
    _last_word,
    given_names,
)
from civiccrm.privacy.detect import Analyzer, Detector, Finding, KnownEntities, PiiType

NAMES = PersonNameDetector()
ADDRESSES = UsAddressDetector()
KNOWN = KnownEntityDetector()

GIVEN = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew",
    "Betty", "Anthony", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca",
]  # fmt: skip
SURNAMES = [
    "Smith", "Johnson", "Williams", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Kowalczyk", "O'Brien", "McDonald", "Okafor",
]  # fmt: skip
NAME_TEMPLATES = [
    "I spoke with {name} today",
    "Dear {name},\nThank you for your request.",
    "my neighbour {name} keeps parking on the sidewalk",
    "{name} called about the pothole",
    "Caller: {name}. Reports a broken streetlight.",
    "Thanks,\n{name}",
    "Complaint filed by {name} regarding noise.",
]


def spans(detector: Detector, text: str, known: KnownEntities | None = None) -> list[str]:
    return [text[f.start : f.end] for f in detector.detect(text, known)]


def found(detector: Detector, text: str, known: KnownEntities | None = None) -> list[Finding]:
    return list(detector.detect(text, known))


def assert_exact(text: str, findings: list[Finding]) -> None:
    """Spans inside the text, never starting or ending on space or punctuation."""
    for f in findings:
        assert 0 <= f.start < f.end <= len(text)
        piece = text[f.start : f.end]
        assert piece == piece.strip(), repr(piece)
        assert piece[-1] not in ",;:", repr(piece)


# --------------------------------------------------------------------------------------
# Names


def test_the_gazetteer_is_loaded_and_large() -> None:
    table = given_names()
    assert len(table) > 10_000
    assert table["Jennifer"].english >= 5
    assert table["John"].is_word  # "john" is a word too; still a name
    assert "The" not in table  # dropped: a function word
    assert table["Will"].is_word  # kept, but taken only with a surname or context


@pytest.mark.parametrize(
    ("text", "expected", "score"),
    [
        ("I spoke with John Smith today.", "John Smith", 0.9),
        ("Anna K. Lee called about the pothole.", "Anna K. Lee", 0.85),
        ("Maria de la Cruz phoned twice.", "Maria de la Cruz", 0.85),
        ("Mary Ann Smith left a voicemail.", "Mary Ann Smith", 0.85),
        ("Dear Mrs. Okafor,\nYour permit is ready.", "Okafor", 0.9),
        ("Officer Dale Brown responded at 9pm.", "Dale Brown", 0.9),
        ("Mr. John Smith Jr. is the owner.", "John Smith Jr.", 0.9),
        ("my neighbour Zbigniew Brzezinski keeps parking there", "Zbigniew Brzezinski", 0.9),
        ("My landlord Kowalczyk never answers.", "Kowalczyk", 0.5),
        ("Regards,\n\nMaria Lopez", "Maria Lopez", 0.9),
        ("Thanks,\nMaria", "Maria", 0.6),
        ("Hi Sarah, thanks for the update.", "Sarah", 0.6),
        ("Jennifer said the bin was missed.", "Jennifer", 0.6),
        ("Caller: Tammy Jones", "Tammy Jones", 0.9),
        ("Report signed by J. R. Tolkien.", "J. R. Tolkien", 0.9),
        ("I met Mark Johnson at the hearing.", "Mark Johnson", 0.85),
        ("Please forward this to Tonya West in accounts.", "Tonya West", 0.9),
        ("John Smith's dog barks all night.", "John Smith", 0.85),
        ("Hi April Dorsey, your request was received.", "April Dorsey", 0.9),
        ("Hi Will, the crew comes Monday.", "Will", 0.6),
        ("I met Will Turner at the hearing.", "Will Turner", 0.85),
        ("Zoë Núñez wrote again.", "Zoë Núñez", 0.85),
    ],
)
def test_names_found(text: str, expected: str, score: float) -> None:
    findings = found(NAMES, text)
    assert [text[f.start : f.end] for f in findings] == [expected]
    assert findings[0].score == score
    assert findings[0].type == PiiType.PERSON
    assert findings[0].detector == "person_name"


def test_surname_first_in_lists() -> None:
    text = "Attendees: Okafor, Anna; Lee, John\nO'Brien, Patrick\n"
    assert spans(NAMES, text) == ["Okafor, Anna", "Lee, John", "O'Brien, Patrick"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My name is Romero, Joseph as it appears on the bill.", ["Romero, Joseph"]),
        ("Caller: Yes, Lopez, Amy.", ["Lopez, Amy"]),
        ("Benefits overpayment: Thompson, Matthew, DOB 6/25/1992.", ["Thompson, Matthew"]),
        ("CLIENT: WOOD, STEPHANIE\nDOB: 1949-05-21", ["WOOD, STEPHANIE"]),
        ("Client Barry S. White reported it.", ["Barry S. White"]),
        ("Caller: Yes, Jordan, Allison.", ["Jordan, Allison"]),
        ("Benefits overpayment: White, Joshua, DOB Apr. 17, 1936.", ["White, Joshua"]),
        ("CLIENT: OBRIEN, TYLER\nDOB: 2 October 1977", ["OBRIEN, TYLER"]),
        ("Caller: It's Latoya Walsh.", ["Latoya Walsh"]),
        ("Please call me back.\n\nBrooke\n", ["Brooke"]),
        (
            "Clients: WHITEHEAD, Cody (DOB 1/2/1990) and LEE, Anna.",
            ["WHITEHEAD, Cody", "LEE, Anna"],
        ),
        ("NOTE, Maria called back.", ["Maria"]),
        ("Meet at CITY HALL, Anna said.", ["Anna"]),
    ],
)
def test_surname_first_and_middle_initials(text: str, expected: list[str]) -> None:
    assert spans(NAMES, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "We met in Springfield, Jennifer said.",
        "A branch from a tree in Douglas Park fell onto the sidewalk.",
        "Dear Springfield Parks and Recreation,",
        "Kevin's Auto Body is on the vendor list.",
        "Springfield, May 5: the office is closed.",
        "Dear Springfield Animal Control,\n\nMy name is withheld.",
        "Patton, Alexander and Moore will handle the repairs.",
        "Washington, Georgia is a small town.",
    ],
)
def test_more_name_decoys(text: str) -> None:
    assert spans(NAMES, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Will you fix it?",
        "Will Springfield fix the road?",
        "In May the park closes early.",
        "In April Springfield Public Works repaves Main.",
        "Oak Street Park is closed for renovation.",
        "Springfield Public Works will repair the road.",
        "Lincoln Park reopened after the flood.",
        "Grant County Health Services sent a letter.",
        "Jefferson Elementary School needs a crosswalk.",
        "The pothole on Jennifer Road is getting worse.",
        "Hope Street and Faith Avenue are flooded.",
        "Chase Bank is near the library.",
        "Amber Alert issued on Sunday.",
        "Mark the form as urgent.",
        "Don't call after 9pm.",
        "Lake Jennifer is lovely in June.",
        "Dr. Martin Luther King Jr. Boulevard is closed.",
        "Deputy Director of Public Works",
        "The meeting with Planning and Zoning is on Thursday.",
        "Martin PLC will handle the repairs.",
        "Monday through Friday the office is open.",
        "Summer Camp registration opens in April.",
        "The June meeting was cancelled.",
        "Mercedes Benz of Springfield donated a van.",
        "Ask about the Sara Hill closure.",
        "Meet at Brown Creek and Susan Dale on Monday.",
        "4759 William Haven Apt. 194\nWest Corey, CA 90152",
        "USS Henry\nFPO AP 74065",
        "Thomas-Hamilton will handle the repairs.",
        "The Kindle and the Echo were stolen.",
    ],
)
def test_name_decoys(text: str) -> None:
    assert spans(NAMES, text) == []


# --------------------------------------------------------------------------------------
# Addresses


@pytest.mark.parametrize(
    ("text", "expected", "score"),
    [
        ("send it to 742 Evergreen Terrace.", "742 Evergreen Terrace", 0.9),
        (
            "I live at 4759 William Haven Apt. 194\nWest Corey, CA 90152 and the bins...",
            "4759 William Haven Apt. 194\nWest Corey, CA 90152",
            0.95,
        ),
        (
            "Mail: 123 N Main St, Springfield, IL 62704-1234 please",
            "123 N Main St, Springfield, IL 62704-1234",
            0.95,
        ),
        (
            "1600 Pennsylvania Ave NW, Washington, DC 20500",
            "1600 Pennsylvania Ave NW, Washington, DC 20500",
            0.95,
        ),
        (
            "123 1/2 W 21st Street Suite 200, Chicago, Illinois 60616",
            "123 1/2 W 21st Street Suite 200, Chicago, Illinois 60616",
            0.95,
        ),
        ("12-14 Market Square #3B is vacant", "12-14 Market Square #3B", 0.9),
        ("the leak at 12 elm st. is back", "12 elm st", 0.8),
        ("1 Dr. Martin Luther King Jr. Blvd.", "1 Dr. Martin Luther King Jr. Blvd", 0.9),
        ("4759 Mill Run Road", "4759 Mill Run Road", 0.9),
        ("Inspection at 8683 Gillespie Cliff on Monday.", "8683 Gillespie Cliff", 0.9),
        ("Address on file: 16734 Mary Cape (verified)", "16734 Mary Cape", 0.9),
        ("PO Box 123, Springfield, IL 62704", "PO Box 123, Springfield, IL 62704", 0.95),
        ("Send to P.O. Box 55.", "P.O. Box 55", 0.9),
        ("Unit 0930 Box 0211\nDPO AE 05842", "Unit 0930 Box 0211\nDPO AE 05842", 0.95),
        ("USNS Smith\nFPO AP 12345", "USNS Smith\nFPO AP 12345", 0.95),
        ("PSC 1234, Box 5678\nAPO AA 12345", "PSC 1234, Box 5678\nAPO AA 12345", 0.95),
        ("582 Leslie Park\nRiveraberg, FM 18866", "582 Leslie Park\nRiveraberg, FM 18866", 0.95),
    ],
)
def test_addresses_found(text: str, expected: str, score: float) -> None:
    findings = found(ADDRESSES, text)
    assert [text[f.start : f.end] for f in findings] == [expected]
    assert findings[0].score == score
    assert findings[0].type == PiiType.US_ADDRESS
    assert findings[0].detector == "us_address"


@pytest.mark.parametrize(
    "text",
    [
        "The corner of 5th and Monroe has a broken light.",
        "In 2019 Lincoln Park reopened.",
        "We had 3 Oak Park residents complain.",
        "Oak Street Park is closed.",
        "Springfield Public Works",
        "I saw 5 rats on elm st",
        "5 Things The City Street Should Fix",
        "Take Highway 101 to Exit 12, then left on Maple.",
        "Main Street is closed between 5th and Monroe.",
        "Call 311 for non-emergency issues.",
        "Over 300 residents signed the petition.",
        "the 4th of July parade route",
        "Visited at 7:30 AM. Client Dr. Jason Wu was home.",
        "Home visit 11-01-2027, 10:00 AM. Fields, Benjamin was there.",
        "Route 66 traffic is heavy during the Fall Festival.",
    ],
)
def test_address_decoys(text: str) -> None:
    assert spans(ADDRESSES, text) == []


# --------------------------------------------------------------------------------------
# Known parties

PARTIES = KnownEntities(
    names=("Anastasia Kowalczyk", "Zoë Núñez", "Robert J. Smith", "Maria de la Cruz"),
    emails=("Anna.K@Example.org",),
    phones=("+12175550134", "+442079460958"),
    addresses=("742 Evergreen Terrace", "12 N Main St Apt 4, Springfield, IL 62704"),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A. Kowalczyk called", ["A. Kowalczyk"]),
        ("A Kowalczyk called", ["A Kowalczyk"]),
        ("Kowalczyk, Anastasia", ["Kowalczyk, Anastasia"]),
        ("Ms Kowalczyk wrote", ["Kowalczyk"]),
        ("note from ms kowalczyk", ["kowalczyk"]),
        ("ANASTASIA KOWALCZYK", ["ANASTASIA KOWALCZYK"]),
        ("zoe nunez said hi", ["zoe nunez"]),
        ("Zoë Núñez", ["Zoë Núñez"]),
        ("Hi Stacy!", ["Stacy"]),
        ("Bob Smith called; Bob said", ["Bob Smith", "Bob"]),
        ("robert smith, then smith", ["robert smith", "smith"]),
        ("R. J. Smith", ["R. J. Smith"]),
        ("Maria de la Cruz and De la Cruz, Maria", ["Maria de la Cruz", "De la Cruz, Maria"]),
        ("Anastasia wrote", ["Anastasia"]),
    ],
)
def test_known_names(text: str, expected: list[str]) -> None:
    findings = found(KNOWN, text, PARTIES)
    assert [text[f.start : f.end] for f in findings] == expected
    assert all(f.score == 1.0 and f.type == PiiType.PERSON for f in findings)


def test_known_name_with_a_middle_initial_and_places() -> None:
    known = KnownEntities(names=("Heather White", "John Griffith"))
    text = "I am Heather D. White; the visit is at St. John's Hospital, and John's dog barks."
    assert spans(KNOWN, text, known) == ["Heather D. White", "John"]


@pytest.mark.parametrize(
    "text",
    [
        "anastasia wrote",  # alone, lower case, the full name not in the text
        "Stacy Brown called",  # another Stacy
        "Will you call?",  # no William here
        "Smithson and Kowalczyki",  # parts of other words
    ],
)
def test_known_name_decoys(text: str) -> None:
    assert spans(KNOWN, text, PARTIES) == []


def test_known_contacts() -> None:
    text = (
        "mail ANNA.K@example.ORG or call (217) 555-0134, 555-0134, +1 217 555 0134, "
        "217.555.0134 or 020 7946 0958; not 217-555-0199. Lives at 742 evergreen ter. "
        "and 12 north main street, apt 4"
    )
    got = [(f.type, text[f.start : f.end]) for f in found(KNOWN, text, PARTIES)]
    assert got == [
        (PiiType.EMAIL, "ANNA.K@example.ORG"),
        (PiiType.PHONE, "(217) 555-0134"),
        (PiiType.PHONE, "555-0134"),
        (PiiType.PHONE, "+1 217 555 0134"),
        (PiiType.PHONE, "217.555.0134"),
        (PiiType.PHONE, "020 7946 0958"),
        (PiiType.US_ADDRESS, "742 evergreen ter"),
        (PiiType.US_ADDRESS, "12 north main street, apt 4"),
    ]


def test_known_phone_inside_other_digits() -> None:
    text = "call 217 555 0134 2 times, or 5 217 555 0134"
    got = spans(KNOWN, text, PARTIES)
    assert got == ["217 555 0134", "217 555 0134"]


def test_detectors_follow_the_protocol() -> None:
    for detector, name in (
        (NAMES, "person_name"),
        (ADDRESSES, "us_address"),
        (KNOWN, "known_entity"),
    ):
        assert isinstance(detector, Detector)
        assert detector.name == name


def test_known_needs_known() -> None:
    assert found(KNOWN, "Anastasia Kowalczyk, 742 Evergreen Terrace") == []
    assert found(KNOWN, "Anastasia Kowalczyk", KnownEntities()) == []


def test_known_takes_lists_and_garbage() -> None:
    odd = KnownEntities(names=["Anna Lee", None, "", "  "], phones=[42, "+1"])  # type: ignore[arg-type]
    assert spans(KNOWN, "Anna Lee called", odd) == ["Anna Lee"]


def test_normalised_address_lines_compare_equal() -> None:
    assert normalise_address("742 Evergreen Ter.") == normalise_address("742 evergreen terrace")
    assert normalise_address("12 N. Main St, Apt 4") == normalise_address(
        "12 north main street apartment 4"
    )


def test_analyzer_prefers_known_parties() -> None:
    analyzer = Analyzer([NAMES, ADDRESSES, KNOWN])
    text = "Anastasia Kowalczyk of 742 Evergreen Terrace called."
    kept = analyzer.analyze(text, known=PARTIES)
    assert [(f.type, text[f.start : f.end], f.detector) for f in kept] == [
        (PiiType.PERSON, "Anastasia Kowalczyk", "known_entity"),
        (PiiType.US_ADDRESS, "742 Evergreen Terrace", "known_entity"),
    ]


# --------------------------------------------------------------------------------------
# Properties

names_st = st.builds(lambda g, s: f"{g} {s}", st.sampled_from(GIVEN), st.sampled_from(SURNAMES))


@settings(max_examples=300)
@given(name=names_st, template=st.sampled_from(NAME_TEMPLATES))
def test_common_names_in_sentences_are_found(name: str, template: str) -> None:
    text = template.format(name=name)
    start = text.index(name)
    assert (start, start + len(name)) in {(f.start, f.end) for f in NAMES.detect(text)}


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


@settings(max_examples=200)
@given(
    given_name=st.sampled_from(["Robert", "William", "Elizabeth", "Margaret", "Anastasia", "Zoë"]),
    surname=st.sampled_from(["Núñez", "Kowalczyk", "Smith", "O'Brien", "Łukasiewicz"]),
    form=st.sampled_from(["full", "nickname", "initial", "reversed", "title"]),
    casing=st.sampled_from(["as is", "upper", "lower", "random"]),
    strip=st.booleans(),
    seed=st.randoms(use_true_random=False),
    template=st.sampled_from(["Report from {x} today.", "{x}: leaking pipe", "cc {x}\n"]),
)
def test_known_names_in_any_form_are_found(
    given_name: str,
    surname: str,
    form: str,
    casing: str,
    strip: bool,
    seed: random.Random,
    template: str,
) -> None:
    nick = {"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Margaret": "Peggy"}
    if form == "nickname" and given_name in nick:
        written = f"{nick[given_name]} {surname}"
    elif form == "initial":
        written = f"{given_name[0]}. {surname}"
    elif form == "reversed":
        written = f"{surname}, {given_name}"
    elif form == "title":
        written = f"Ms {surname}"
    else:
        written = f"{given_name} {surname}"
    if strip:
        written = _strip_accents(written).replace("Ł", "L")
    if casing == "upper":
        written = written.upper()
    elif casing == "lower":
        written = written.lower()
    elif casing == "random":
        written = "".join(c.upper() if seed.random() < 0.5 else c.lower() for c in written)
    text = template.format(x=written)
    start = text.index(written)
    expected_start = start + (3 if form == "title" else 0)
    known = KnownEntities(names=(f"{given_name} {surname}",))
    findings = KNOWN.detect(text, known)
    assert (expected_start, start + len(written)) in {(f.start, f.end) for f in findings}
    assert all(f.score == 1.0 for f in findings)


STREET_NAMES = ["Main", "Oak", "Maple", "Evergreen", "Martin Luther King", "5th", "21st", "Elm"]
SUFFIXES = ["Street", "St", "Avenue", "Ave.", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln",
            "Drive", "Dr.", "Court", "Ct", "Place", "Terrace", "Way", "Circle", "Parkway",
            "Highway", "Trail", "Haven", "Mountains"]  # fmt: skip
CITIES = ["Springfield, IL 62704", "West Corey, CA 90152", "Lake Jennifer, Texas 73301-1234"]


@settings(max_examples=300)
@given(
    number=st.integers(1, 99_999),
    direction=st.sampled_from(["", "N ", "SE ", "West "]),
    street=st.sampled_from(STREET_NAMES),
    suffix=st.sampled_from(SUFFIXES),
    unit=st.sampled_from(["", " Apt. 194", " Suite 200", " #3B", ", Unit 7"]),
    city=st.sampled_from(["", *(f", {c}" for c in CITIES), *(f"\n{c}" for c in CITIES)]),
    template=st.sampled_from(
        ["I live at {a}.", "Send it to {a} please", "{a}", "Water leak at {a}, basement."]
    ),
)
def test_addresses_in_sentences_are_found_exactly(
    number: int, direction: str, street: str, suffix: str, unit: str, city: str, template: str
) -> None:
    address = f"{number} {direction}{street} {suffix}{unit}{city}"
    text = template.format(a=address)
    # An abbreviation's period at the end of an address may be the sentence's: left out.
    expected = address.removesuffix(".")
    start = text.index(address)
    got = {(f.start, f.end) for f in ADDRESSES.detect(text)}
    assert (start, start + len(expected)) in got, (text, [text[s:e] for s, e in got])


@settings(max_examples=300)
@given(st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12), max_size=60))
def test_lower_case_words_are_no_names_or_addresses(words: list[str]) -> None:
    text = " ".join(words)
    assert NAMES.detect(text) == []
    assert ADDRESSES.detect(text) == []


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_any_text_gives_exact_spans_and_never_raises(text: str) -> None:
    known = KnownEntities(names=("Anna Lee",), phones=("+12175550134",), addresses=("1 Main St",))
    for detector in (NAMES, ADDRESSES, KNOWN):
        findings = found(detector, text, known)
        assert_exact(text, findings)


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            [
                "John",
                "Smith",
                "Mr.",
                "Dr",
                "12",
                "Main",
                "St",
                "Apt",
                "#",
                ",",
                "\n",
                "CA",
                "90210",
                "PO",
                "Box",
                "Dear",
                "Hi",
                "K.",
                "van",
                "de",
                "-",
                "'s",
                "Street",
                "Ave.",
            ]
        ),
        max_size=30,
    )
)
def test_shuffled_name_and_address_parts_give_exact_spans(parts: list[str]) -> None:
    text = " ".join(parts)
    for detector in (NAMES, ADDRESSES):
        assert_exact(text, found(detector, text))


def test_not_strings_give_nothing() -> None:
    for detector in (NAMES, ADDRESSES, KNOWN):
        assert found(detector, None, PARTIES) == []  # type: ignore[arg-type]
        assert found(detector, "", PARTIES) == []


def test_the_gazetteers_licence_and_notices_ship_beside_it() -> None:
    """The GFDL-derived gazetteer is distributed with its licence text and sources."""
    from importlib import resources

    data = resources.files("civiccrm.privacy").joinpath("data")
    header = data.joinpath("given_names.tsv").read_text("utf-8").split("\nAad")[0]
    assert "GNU Free Documentation License" in header
    assert "GFDL-1.2.txt" in header
    licence = data.joinpath("GFDL-1.2.txt").read_text("utf-8")
    assert "GNU Free Documentation License" in licence
    assert "Version 1.2" in licence
    assert "Kevin Atkinson" in data.joinpath("SCOWL-COPYRIGHT.txt").read_text("utf-8")
    assert "given_names.tsv" in data.joinpath("README.md").read_text("utf-8")


_PHRASE_PIECES = [
    *sorted(_CONTEXT_LAST_WORDS), "my", "our", "the", "next-door", "next door", "elderly",
    "spoke", "talked", "signed", "on behalf", "good", "thank", "caller's", "Caller's",
    "MY", "Neighbour", "x", "_my", "9", "co-worker", "c/o", "'", "(", ":", ",", "-", "\u2014",
    " ", "  ", "\t", "\n", "\r\n", "\u017f", "\u212a", "_",
]  # fmt: skip


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_PHRASE_PIECES), max_size=24), st.integers(0, 60))
def test_context_finds_what_the_phrase_regex_finds(pieces: list[str], cut: int) -> None:
    """The fast look-up of the phrase before a name gives exactly the match of a plain
    search of the phrase regex in the 48 characters before it (span and groups)."""
    text = "".join(pieces) + " Anna"
    pos = len(text) - len("Anna")
    text = text[min(cut, pos) :]  # windows cut at the start of the text too
    pos = len(text) - len("Anna")
    word = _last_word(text, pos)
    ours = PersonNameDetector._context(text, pos, word)
    if word not in _CONTEXT_LAST_WORDS:
        assert ours is None
        return
    plain = _context_re(word).search(text, pos - 48, pos)
    assert (ours is None) == (plain is None)
    if ours is not None and plain is not None:
        assert ours.span() == plain.span()
        assert ours.groupdict() == plain.groupdict()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hey this is erica harvey um calling about the fence", ["erica harvey"]),
        ("hi my name is latoya and i live on oak", ["latoya"]),
        ("this is carlos calling back about my bill", ["carlos"]),
        ("my name: dave okafor.", ["dave okafor"]),
        ("i am brandon from apartment 4", ["brandon"]),
        ("this is about the trash", []),
        ("i am sorry to bother you", []),
        ("i am will", []),  # also an English word: too uncertain in lower case
        ("my name is on the lease", []),
        ("[5/8 2:53 PM] Resident: latoya okafor", ["latoya okafor"]),
        ("Caller: keith.garcia@yahoo.com.", []),  # an email's local part is no name here
        ("[12/22 9:14 AM] Resident: ty", []),  # "thank you"
        ("\u0130stanbul office: this is erica harvey calling", ["erica harvey"]),
        ("hi this is Emeka Owusu calling about the permit", ["Emeka Owusu"]),
        ("Hello, this is Springfield Parks and Recreation", []),
    ],
)
def test_names_typed_in_lower_case_after_a_self_introduction(
    text: str, expected: list[str]
) -> None:
    assert spans(NAMES, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "I live at 12 Oak Street Rear, Tulsa, OK 74128 since May",
            ["12 Oak Street Rear, Tulsa, OK 74128"],
        ),
        ("Leak reported at 455 Pine Ave Bsmt today", ["455 Pine Ave Bsmt"]),
        ("Tenant at 742 Evergreen Terrace 2nd floor called", ["742 Evergreen Terrace 2nd floor"]),
        ("Mail: 55 Main St Trlr 4, Macon, GA 31201", ["55 Main St Trlr 4, Macon, GA 31201"]),
        ("RR 5 Box 61, Dover, DE 19901", ["RR 5 Box 61, Dover, DE 19901"]),
        ("send it to Rural Route 2, Box 14A please", ["Rural Route 2, Box 14A"]),
        ("Send to P.O. Box 5 and HC 2 Box 3", ["P.O. Box 5", "HC 2 Box 3"]),
        ("Water leak at 1 Main Street, basement.", ["1 Main Street"]),
        ("the box in room 2 is empty", []),
    ],
)
def test_address_units_without_numbers_and_rural_routes(text: str, expected: list[str]) -> None:
    assert spans(ADDRESSES, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Engaged client who goes by "Tex". Approx age 54.', ["Tex"]),
        ("He is known as Smokey on the block.", ["Smokey"]),
        ("the park known as Lincoln Park", []),
        ("went by Main Street", []),
        ("Occupant cb 230-0426. Technician Tesfaye #708", ["Tesfaye"]),
        ("Tech Ops team on site", []),
        ("Caseworker: Anna Lee", ["Anna Lee"]),
        ("Tech Support will call", []),
    ],
)
def test_nicknames_and_staff_named_by_their_role(text: str, expected: list[str]) -> None:
    assert spans(NAMES, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Fine $63.00, hearing 09/11/2025.\n- S. Tesfaye, Code Enforcement Officer",
            ["S. Tesfaye"],
        ),
        ("Next appt 6/25/26.\nJ. Joseph, Sanitarian\n", ["J. Joseph"]),
        ("Regards,\nK. Okafor\n", ["K. Okafor"]),
        ("Report\nC. Findings, Section 2\n", []),  # an outline item
        ("- A. Background\n", []),
        ("\nJ. Crew, Store 12", []),
    ],
)
def test_initials_and_surname_signing_a_line(text: str, expected: list[str]) -> None:
    assert spans(NAMES, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("From: Hirut Haile <hhaile@stlouismo.gov>", ["Hirut Haile"]),
        ("User EDWARD WAGNER (wagner.edward@yahoo.com)", ["EDWARD WAGNER"]),
        ("From: ANJALI PATEL <anjali.patel@att.net>", ["ANJALI PATEL"]),
        ("To: City of Tulsa <info@tulsa.gov>", []),
        ("Contact Springfield Parks (parks@springfield.gov)", []),
        ("From: Springfield 311 <311@springfield.gov>", []),
    ],
)
def test_display_names_before_an_email_address(text: str, expected: list[str]) -> None:
    assert spans(NAMES, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HH: self, Akosua Mensah (sp), Ngozi (dtr, 17)\nContact: ", ["Akosua Mensah", "Ngozi"]),
        ("HH: self, Oksana (sp), Mykola (son, 12)", ["Oksana", "Mykola"]),
        ("> Harrison wrote: it still says pending", ["Harrison"]),
        ("Springfield Parks (sp) office", []),
        ("The Clinic (child care) is open", []),
        ("Results (son of a gun) were fine", []),
        ("Household (self), Wages (self), SSI (child)", []),
        ("Coverage: Medicaid (self); Lead (ch) test", []),
    ],
)
def test_names_made_by_a_relation_in_brackets_or_wrote(text: str, expected: list[str]) -> None:
    assert spans(NAMES, text) == expected


def test_a_failing_detector_is_reported_once_and_never_quotes_the_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a built-in detector must not pass silently (its findings go missing),
    nor put the text it failed on into a log file."""
    import logging

    from civiccrm.privacy import detect

    def broken(self: PersonNameDetector, text: str) -> list[Finding]:
        raise RuntimeError(f"cannot read {text}")

    monkeypatch.setattr(PersonNameDetector, "_detect", broken)
    monkeypatch.setattr(detect, "_REPORTED", set())
    with caplog.at_level(logging.WARNING, logger="civiccrm.privacy"):
        assert NAMES.detect("Anna Lee lives at 12 Oak Street") == []
        assert NAMES.detect("Anna Lee called again") == []
    messages = [r.getMessage() for r in caplog.records if r.name == "civiccrm.privacy"]
    assert len(messages) == 1
    assert "person_name" in messages[0]
    assert "RuntimeError" in messages[0]
    assert "Anna" not in messages[0]


# --------------------------------------------------------------------------------------
# The regexes written for speed match what their plain forms match

#: Capitalised runs as first written: a look-ahead for a capital, then the look-behinds.
_PLAIN_RUN_RE = re.compile(
    rf"(?=[{_U}])(?!(?:{_NOT_RUN_START_ALTERNATION})\b)(?<![\w'\u2019@.\-]){_TOKEN}{_END}"
    rf"(?:[ \t]{{1,3}}(?:{_PARTICLE}[ \t]{{1,3}}){{0,2}}{_TOKEN}{_END})*"
)
_RUN_PIECES = [
    "John", "Smith", "Mr.", "Mrs", "Dr", "St.", "Capt.", "Prof.", "Insp", "Supt.", "Sgt",
    "Mrsx.", "Mr", "rs.", "s.", "The", "This", "Then", "Thanks",
    "Agent", "Caller", "III", "II", "IV", "Jr.", "O'Brien", "D\u2019Souza", "McDonald",
    "Mary-Kate", "Núñez", "Zoë", "ÉLodie", "de", "van", "la", "A.", "J", "I", "It",
    "Springfield", "U.S.", "@", "-", ".", "'", "\u2019", ",", ":", "5", " ", "  ", "\t",
    "\n", "x", "don't", "İ", "ß", "_", "\x1c",
]  # fmt: skip


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_RUN_PIECES), max_size=30))
def test_capitalised_runs_are_the_plain_regex_own(pieces: list[str]) -> None:
    """The run regex that starts with the capital itself (and its ASCII-only twin, on
    ASCII text) finds exactly the runs of the plain look-ahead form."""
    text = "".join(pieces)
    plain = [m.span() for m in _PLAIN_RUN_RE.finditer(text)]
    assert [m.span() for m in _RUN_RE.finditer(text)] == plain
    if text.isascii():
        assert [m.span() for m in _RUN_RE_ASCII.finditer(text)] == plain


#: Street lines as first written: the longest street name first, its words not atomic
#: (the shortest-first regex with its lazy repetition made greedy again).
_PLAIN_STREET_RE = re.compile(_STREET_SHORT_RE.pattern.replace("){0,4}?)", "){0,4})", 1))
_STREET_PIECES = [
    "12", "4759", "2019", "1/2", "½", "12B", "12-14", "5:", " ", "  ", "\t", "\n", ",", ".",
    "#", "$", "N", "NE", "North", "Main", "Oak", "O'Neil", "Smith-Jones", "elm", "days",
    "the", "St", "St.", "Street", "street", "Ave", "Avenue", "Park", "Hill", "Apt", "Apt.",
    "Suite", "4", "B", "Rear", "Springfield", "IL", "62704", "Illinois", "am", "pm", "5th",
    "21st", "\u0663", "é", "\x1c",
]  # fmt: skip


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_STREET_PIECES), max_size=30))
def test_street_lines_are_the_plain_regex_own(pieces: list[str]) -> None:
    """The street regex that starts with the house number's digit and reads street-name
    words atomically (and its ASCII-only twin, on ASCII text) finds exactly the plain
    form's matches, groups included."""
    text = "".join(pieces)
    plain = [(m.span(), m.groupdict()) for m in _PLAIN_STREET_RE.finditer(text)]
    assert [(m.span(), m.groupdict()) for m in _STREET_RE.finditer(text)] == plain
    if text.isascii():
        assert [(m.span(), m.groupdict()) for m in _STREET_RE_ASCII.finditer(text)] == plain
