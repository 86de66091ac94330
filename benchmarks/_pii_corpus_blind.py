"""
A second labelled corpus for the personal-data detectors, written blind to them.

    from _pii_corpus_blind import make_documents   # (with benchmarks/ on sys.path)
    docs = make_documents(1500, seed=2026)          # [Document(kind, template, text, ...)]

``benchmarks/_pii_corpus.py`` was in front of the detectors' authors while they tuned
them, so its figures are not a blind test. This generator was written afterwards without
looking at the detectors, their tests or that corpus's templates (only its public types,
which it reuses so that ``benchmarks/redaction.py --corpus blind`` scores it unchanged).
Its documents have other shapes and other wording, as the free text of a city's 311
centre, social-services office and tax office comes in:

* ``webform``: online service-request and contact forms, header fields and a run-on,
  often lower-case description, with the submitter's IP address and browser string;
* ``voicemail``: automatic transcriptions of voicemails (no punctuation, "um", a name
  spelled letter by letter now and then, one in Spanish);
* ``handover``: internal shift handovers and case notes full of abbreviations
  ("pt called re: benefits, cb 555 0199", "HH:", "LL", "f/u"), clients listed
  surname first;
* ``thread``: forwarded e-mail threads with headers, quoted replies ("> ") and
  signatures, staff and residents;
* ``inspection``: housing, code-enforcement and lead-hazard inspection reports;
* ``fieldnote``: outreach, adult-protective-services and water-shutoff field notes;
* ``letter``: letters with address blocks over several lines (agency to resident,
  resident to the tax office, a landlord's reference);
* ``sms``: SMS conversations with the city's text line and caseworkers.

Values: people from hand-written lists of given and family names of many origins
(Mexican, Central American, Black American, Somali, Nigerian, Vietnamese, Hmong,
Chinese, Korean, Indian, Arab, Polish, Ukrainian, Irish, Haitian, Ethiopian, Navajo,
Cajun ...) mixed with Faker's, with diacritics, hyphenated and two-word surnames,
middle initials, suffixes, nicknames, titles (outside the span), surname first, all in
capitals or all in lower case as residents type them; street addresses of real US cities
(own street lists and Faker's), with units, fractions, Queens-style numbers, PO boxes and
rural routes, on one line or split over two or three, in lower case, with or without
city, state and ZIP (the span runs from the house number through the ZIP code when
present); US phones in many formats (extensions inside the span), seven-digit local
numbers after "cb"/"call", foreign numbers; e-mails; SSNs and ITINs (groups 50-65,
70-88, 90-92, 94-99); Luhn-valid cards of 13 to 19 digits (Visa, Mastercard 51-55 and
2221-2720, Amex, Discover, JCB, Diners, UnionPay); IBANs of twenty countries with valid
check digits; IPv4 and IPv6 addresses; dates of birth in eighteen formats after many cues
("DOB", "D.O.B.", "b.", "born", "birthday", an age before them, in Spanish once);
driver's licence numbers in the formats of twenty-seven states; US and foreign passport
numbers.

Decoys, recorded in :attr:`Document.decoys` and never labelled: service-request, case,
ticket, permit, parcel, account, meter, badge, batch, form and confirmation numbers (some
phone- or SSN-shaped), amounts, appointment and other dates, times, SMS time stamps,
weekdays and years, street names without numbers and "the 1400 block of ...", business
and institution names containing given names ("Wendy's", "St. Mary's Hospital", "Mary
Ann's Daycare", "Dan Ryan Woods"), cities named like people ("Tyler", "Charlotte"), staff
roles, invalid (000-, 666-, -00-, -0000, 9xx non-ITIN), placeholder (999-99-9999) and
masked (XXX-XX-1234) SSNs, the last four digits of SSNs and cards, card expiry dates,
bad-Luhn card-like numbers, certified-mail and parcel tracking numbers, browser, app and
firmware version numbers (some shaped like IPv4 addresses), licence plates, contractor
licences, the agency's own phone numbers, mailboxes and office addresses (not personal
data, though shaped like it), code sections, ZIP codes alone, SWIFT/BIC codes.

Every span is recorded as the text is written and checked against the inserted value
(:func:`_pii_corpus.check_document` too). Deterministic for a seed and a Faker version.
"""

from __future__ import annotations

import ipaddress
import random
import re
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import NamedTuple

from _pii_corpus import Decoy, Doc, Document, Parties, Span, check_document, iban_ok, luhn_ok
from faker import Faker

from civiccrm.privacy.detect import PiiType

__all__ = ["KINDS", "TEMPLATES", "make_corpus", "make_documents"]

EMAIL = PiiType.EMAIL.value
PHONE = PiiType.PHONE.value
US_SSN = PiiType.US_SSN.value
US_ITIN = PiiType.US_ITIN.value
CREDIT_CARD = PiiType.CREDIT_CARD.value
IBAN = PiiType.IBAN.value
IP_ADDRESS = PiiType.IP_ADDRESS.value
DATE_OF_BIRTH = PiiType.DATE_OF_BIRTH.value
US_ADDRESS = PiiType.US_ADDRESS.value
DRIVER_LICENSE = PiiType.DRIVER_LICENSE.value
PASSPORT = PiiType.PASSPORT.value
PERSON = PiiType.PERSON.value

# --------------------------------------------------------------------------------------
# Word lists (written for this corpus)

# origin: (given names of women, of men, family names); most people get names of one
# origin, some of two (marriage, adoption, Americanised given names).
# fmt: off
_ORIGINS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "mexican": (
        ("María", "Maria", "Guadalupe", "Yesenia", "María José", "Ana Lucía", "Rosa", "Marisol",
         "Itzel", "Dolores", "Josefina", "Consuelo", "Mercedes", "Beatriz", "Araceli"),
        ("José", "Juan Carlos", "Luis", "Jesús", "Francisco", "Alejandro", "Ramón", "Héctor",
         "Joaquín", "Efraín", "Miguel Ángel", "Rogelio"),
        ("Hernández", "García", "Martínez", "Rodríguez", "López", "Ramírez", "Ortiz", "Flores",
         "De la Rosa", "Castañeda", "Peña", "Muñoz", "Gutiérrez", "Ramírez-Ortiz", "Saucedo"),
    ),
    "central_american": (
        ("Xiomara", "Yesenia", "Karla", "Wendy", "Glenda", "Dania"),
        ("Wilfredo", "Nelson", "Édgar", "Elmer", "Selvin", "Oswaldo"),
        ("Portillo", "Alvarado", "Reyes", "Mejía", "Chávez-Portillo", "Cruz", "Argueta"),
    ),
    "black_american": (
        ("Tasha", "LaToya", "Keisha", "Imani", "Aaliyah", "Shaniqua", "Ebony", "Precious", "Tamika",
         "Destiny", "Jasmine", "Dominique", "Tiara", "Alfreda"),
        ("DeShawn", "Jamal", "Tyrone", "Darnell", "Terrence", "Marquis", "DeAndre", "Willie",
         "Leroy", "Reginald", "Cedric", "Demetrius"),
        ("Washington", "Jefferson", "Jackson", "Johnson", "Williams", "Freeman", "Booker", "Brown",
         "Young", "King", "Hill", "Love", "Little", "Simmons", "Gaines"),
    ),
    "somali": (
        ("Hodan", "Amina", "Fadumo", "Ayaan", "Hibaq", "Sahra"),
        ("Abdirahman", "Abdi", "Mohamed", "Yusuf", "Abdullahi", "Mahad"),
        ("Warsame", "Farah", "Abdullahi", "Hassan", "Osman", "Jama", "Ali"),
    ),
    "west_african": (
        ("Ngozi", "Adaeze", "Chiamaka", "Folasade", "Akosua", "Abena"),
        ("Chukwuemeka", "Oluwaseun", "Babatunde", "Kwame", "Kofi", "Emeka"),
        ("Okafor", "Nwosu", "Adeyemi", "Olawale", "Mensah", "Owusu", "Okonkwo-Bello"),
    ),
    "vietnamese": (
        ("Lan", "Linh", "Huong", "Mai", "Thuy", "Ngoc Anh"),
        ("Minh", "Duc", "Tuan", "Quang", "Long", "Van Thanh"),
        ("Nguyen", "Nguyễn", "Tran", "Pham", "Le", "Vo", "Huynh"),
    ),
    "hmong": (
        ("Pa Houa", "Mai Nou", "Kia", "Bao", "Youa"),
        ("Tou", "Chue", "Pao", "Kou", "Neng"),
        ("Vang", "Xiong", "Yang", "Lor", "Thao", "Moua", "Her"),
    ),
    "chinese": (
        ("Mei", "Xiu Ying", "Li Na", "Jing", "Yan"),
        ("Wei", "Jian", "Hao", "Zhiwei", "Jun"),
        ("Zhang", "Li", "Wang", "Chen", "Liu", "Huang", "Wu"),
    ),
    "korean": (
        ("Ji-woo", "Soo-jin", "Hye-won", "Eun-ji"),
        ("Min-jun", "Seo-jun", "Dong-hyun", "Jae"),
        ("Park", "Kim", "Choi", "Lee", "Jung"),
    ),
    "indian": (
        ("Priya", "Lakshmi", "Anjali", "Deepa", "Kavya"),
        ("Raj", "Arjun", "Venkatesh", "Sanjay", "Harpreet", "Vikram"),
        ("Patel", "Shah", "Venkataraman", "Reddy", "Krishnan", "Singh", "Iyer"),
    ),
    "arab": (
        ("Fatima", "Aisha", "Nadia", "Layla", "Rania"),
        ("Mohammed", "Ahmed", "Omar", "Yusuf", "Khaled"),
        ("Haddad", "Al-Sayed", "Khalil", "Nasser", "Abdel-Rahman", "Saleh"),
    ),
    "polish": (
        ("Małgorzata", "Agnieszka", "Zofia", "Katarzyna"),
        ("Krzysztof", "Wojciech", "Piotr", "Grzegorz"),
        ("Nowak", "Kowalczyk", "Wiśniewski", "Zieliński", "Kowalski", "Lewandowski"),
    ),
    "ukrainian": (
        ("Olena", "Svetlana", "Oksana", "Iryna"),
        ("Oleksandr", "Dmitri", "Taras", "Mykola"),
        ("Shevchenko", "Petrenko", "Bondarenko", "Kovalenko", "Tkachuk"),
    ),
    "irish": (
        ("Siobhán", "Aoife", "Bríd", "Maeve", "Colleen"),
        ("Seán", "Pádraig", "Liam", "Declan", "Kieran"),
        ("O'Connor", "Ó Briain", "McCarthy", "Fitzgerald", "O'Neill", "Gallagher"),
    ),
    "haitian": (
        ("Marie-Claude", "Nadège", "Guerda", "Rose-Marie"),
        ("Jean-Baptiste", "Wilner", "Dieudonné", "Jean Robert", "Frantz"),
        ("Pierre", "Jean-Louis", "Baptiste", "Desrosiers", "Charles", "Joseph"),
    ),
    "ethiopian": (
        ("Tsehay", "Meseret", "Hirut", "Selam"),
        ("Tesfaye", "Dawit", "Yohannes", "Getachew"),
        ("Bekele", "Haile", "Tesfaye", "Gebremedhin", "Alemu"),
    ),
    "cajun": (
        ("Renée", "Chloé", "Mae", "Claudette"),
        ("Thibault", "Remy", "Alcide", "Beau"),
        ("Thibodeaux", "Boudreaux", "LeBlanc", "Guidry", "Hébert", "Fontenot"),
    ),
    "navajo": (
        ("Loretta", "Darlene", "Shaandiin", "Ramona"),
        ("Harrison", "Wilson", "Nelson", "Delbert"),
        ("Begay", "Yazzie", "Tsosie", "Benally", "Nez", "Two Bulls"),
    ),
    "filipino": (
        ("Maria Cristina", "Rowena", "Jocelyn", "Marites"),
        ("Rodel", "Jun", "Ferdinand", "Rommel"),
        ("Dela Cruz", "Santos", "Bautista", "Villanueva", "Macaraeg"),
    ),
    "anglo": (
        ("Deborah", "Patricia", "Dorothy", "Betty", "Shirley", "Gloria", "Brenda", "Kimberly",
         "Crystal", "Brittany", "Hope", "Grace", "June", "April", "Margaret", "Elizabeth",
         "Katherine", "Rebecca", "Barbara", "Zoë", "Mary Jo", "Billie"),
        ("Earl", "Randy", "Dale", "Wayne", "Robert", "William", "James", "Richard", "Thomas",
         "Joseph", "Charles", "Edward", "Chase", "Hunter", "Mark", "Will", "Bill", "Theodore",
         "Nathaniel", "Daniel", "Billy Ray"),
        ("Smith", "Brown", "Wood", "Rose", "Gray", "Price", "Cook", "Van Dyke", "DuBois", "Schmidt",
         "Müller", "Rossi", "Esposito", "Miller", "Parker", "St. John"),
    ),
}
# fmt: on
_ORIGIN_NAMES = tuple(_ORIGINS)
_MIDDLE_F = ("Ann", "Marie", "Lynn", "Elena", "Louise", "Jo", "Mae")
_MIDDLE_M = ("Lee", "James", "Ray", "Michael", "Antonio", "Earl", "Wayne")
_NICKS = {
    "Robert": ("Bobby", "Rob", "Bob"),
    "William": ("Billy", "Will"),
    "Elizabeth": ("Liz", "Beth", "Betsy"),
    "Margaret": ("Peggy", "Maggie"),
    "Katherine": ("Kathy", "Kate"),
    "James": ("Jimmy", "Jim"),
    "Richard": ("Rick", "Ricky"),
    "Michael": ("Mike",),
    "Jennifer": ("Jen", "Jenny"),
    "Christopher": ("Chris",),
    "Patricia": ("Patty", "Trish"),
    "Anthony": ("Tony",),
    "Deborah": ("Debbie", "Deb"),
    "Susan": ("Sue",),
    "Thomas": ("Tommy",),
    "Joseph": ("Joe", "Joey"),
    "José": ("Pepe",),
    "Guadalupe": ("Lupe",),
    "Francisco": ("Paco", "Pancho"),
    "Alejandro": ("Alex",),
    "Dolores": ("Lola",),
    "Jesús": ("Chuy",),
    "Oluwaseun": ("Seun",),
    "Chukwuemeka": ("Emeka",),
    "Abdirahman": ("Abdi",),
    "Wojciech": ("Wojtek",),
    "Oleksandr": ("Sasha",),
    "Dmitri": ("Dima",),
    "Venkatesh": ("Venky",),
    "Theodore": ("Teddy",),
    "Edward": ("Eddie",),
    "Charles": ("Chuck", "Charlie"),
    "Dorothy": ("Dottie",),
    "Barbara": ("Barb",),
    "Rebecca": ("Becky",),
    "Nathaniel": ("Nate",),
    "Daniel": ("Danny",),
}
_STREET_NICKS = ("Smokey", "Red", "Tiny", "Junior", "Peanut", "Shorty", "Tex", "Sarge")


class _City(NamedTuple):
    name: str
    state: str
    state_name: str
    zip3: str
    areas: tuple[str, ...]


_CITIES = (
    _City("Chicago", "IL", "Illinois", "606", ("312", "773", "872")),
    _City("Springfield", "IL", "Illinois", "627", ("217",)),
    _City("Dayton", "OH", "Ohio", "454", ("937",)),
    _City("Columbus", "OH", "Ohio", "432", ("614", "380")),
    _City("Tucson", "AZ", "Arizona", "857", ("520",)),
    _City("Fresno", "CA", "California", "937", ("559",)),
    _City("Sacramento", "CA", "California", "958", ("916", "279")),
    _City("Santa Clara", "CA", "California", "950", ("408", "669")),
    _City("Lake Charles", "LA", "Louisiana", "706", ("337",)),
    _City("Virginia Beach", "VA", "Virginia", "234", ("757",)),
    _City("Richmond", "VA", "Virginia", "232", ("804",)),
    _City("Milwaukee", "WI", "Wisconsin", "532", ("414",)),
    _City("Albuquerque", "NM", "New Mexico", "871", ("505",)),
    _City("Gallup", "NM", "New Mexico", "873", ("505",)),
    _City("Jacksonville", "FL", "Florida", "322", ("904",)),
    _City("Charlotte", "NC", "North Carolina", "282", ("704", "980")),
    _City("Minneapolis", "MN", "Minnesota", "554", ("612",)),
    _City("Saint Paul", "MN", "Minnesota", "551", ("651",)),
    _City("Baltimore", "MD", "Maryland", "212", ("410", "443")),
    _City("Newark", "NJ", "New Jersey", "071", ("973", "862")),
    _City("Elizabeth", "NJ", "New Jersey", "072", ("908",)),
    _City("Providence", "RI", "Rhode Island", "029", ("401",)),
    _City("Hartford", "CT", "Connecticut", "061", ("860",)),
    _City("Spokane", "WA", "Washington", "992", ("509",)),
    _City("Tacoma", "WA", "Washington", "984", ("253",)),
    _City("El Paso", "TX", "Texas", "799", ("915",)),
    _City("San Antonio", "TX", "Texas", "782", ("210", "726")),
    _City("Fort Worth", "TX", "Texas", "761", ("817", "682")),
    _City("Detroit", "MI", "Michigan", "482", ("313",)),
    _City("Flint", "MI", "Michigan", "485", ("810",)),
    _City("Rochester", "NY", "New York", "146", ("585",)),
    _City("Bronx", "NY", "New York", "104", ("718", "347", "929")),
    _City("Pittsburgh", "PA", "Pennsylvania", "152", ("412",)),
    _City("Allentown", "PA", "Pennsylvania", "181", ("610", "484")),
    _City("Kansas City", "MO", "Missouri", "641", ("816",)),
    _City("St. Louis", "MO", "Missouri", "631", ("314",)),
    _City("Tulsa", "OK", "Oklahoma", "741", ("918",)),
    _City("Savannah", "GA", "Georgia", "314", ("912",)),
    _City("Jackson", "MS", "Mississippi", "392", ("601", "769")),
    _City("Portland", "OR", "Oregon", "972", ("503", "971")),
    _City("Honolulu", "HI", "Hawaii", "968", ("808",)),
    _City("Burlington", "VT", "Vermont", "054", ("802",)),
)

# fmt: off
_STREET_NAMES = (
    "Maple", "Oak", "Cedar", "Elm", "Walnut", "Washington", "Lincoln", "Jefferson", "Madison",
    "Park", "Lake", "Hill", "Main", "Church", "Pleasant", "Highland", "Sunset", "Ridge", "Kedzie",
    "Halsted", "Pulaski", "Ashland", "Cottage Grove", "Martin Luther King Jr", "Cesar Chavez",
    "Frederick Douglass", "Rosa Parks", "Grand River", "Euclid", "Prospect", "Mulberry", "Magnolia",
    "Bayou", "Mesa Verde", "Calle Ocho", "Dakota", "Florissant", "Gravois", "Woodward", "Livernois",
    "Harlem", "Kinnickinnic", "Lyndale", "Nicollet", "Pacific", "Alameda", "Broadway", "Central",
    "Market", "Mission", "Belmont", "Division",
)
# fmt: on
_ORDINALS = tuple(
    f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
    for n in range(1, 125)
)
# fmt: off
_SUFFIXES = (
    "St", "St", "St.", "Street", "Ave", "Ave", "Ave.", "Avenue", "Blvd", "Rd", "Road", "Dr",
    "Drive", "Ln", "Ct", "Pl", "Way", "Pkwy", "Ter", "Cir", "Hwy",
)
# fmt: on
_DIRS = ("N", "S", "E", "W", "N.", "W.", "North", "South", "East", "West", "NE", "SW")
# fmt: off
_UNITS = (
    "Apt 3B", "Apt. 12", "Apt 1", "Apt #4", "#210", "# 2F", "Unit 7", "Unit 1407", "Ste 100",
    "Fl 2", "2nd Floor", "Rear", "Bsmt", "Lot 17", "Trlr 4", "Apt 2R", "Apt. 5C", "Unit B",
)
# fmt: on

# fmt: off
_BUSINESSES = {
    "hospital": (
        "St. Mary's Hospital", "St. Jude Medical Center", "Mercy Hospital", "Johns Hopkins",
        "Lurie Children's", "Harriet Tubman Health Center", "St. Luke's", "Mount Sinai",
        "St. Francis", "Cook County Health", "Shriners Children's",
    ),
    "school": (
        "Jefferson Elementary", "Lincoln Elementary", "Roosevelt High School",
        "Frank Lloyd Wright Middle School", "Mary Ann's Daycare", "Sojourner Truth Academy",
        "Cesar Chavez Elementary", "Mary McLeod Bethune School", "Thurgood Marshall High",
        "Head Start on Kedzie",
    ),
    "shop": (
        "Wendy's", "McDonald's", "Trader Joe's", "Jimmy John's", "Walgreens", "Kroger",
        "Dave's Auto Body", "Tony's Pizza", "Lupe's Taqueria", "Hector's Tire Shop", "Sam's Club",
        "Joe's Liquors", "Victor's Laundromat", "Popeyes", "Dollar General", "Marshalls",
    ),
    "service": (
        "Catholic Charities", "Mary Ann's Daycare", "Ronald McDonald House",
        "Grace Lutheran Church", "Rosa Parks Senior Apartments", "Sojourner Truth Shelter",
        "Salvation Army", "Martin Luther King Jr. Library", "St. Vincent de Paul",
        "Jane Addams Resource Corp", "Legal Aid Society",
    ),
    "rent": (
        "Catholic Charities", "Salvation Army", "St. Vincent de Paul", "Legal Aid Society",
        "Jane Addams Resource Corp", "Sojourner Truth Shelter", "Habitat for Humanity",
    ),
    "childcare": (
        "Mary Ann's Daycare", "Head Start on Kedzie", "Little Angels Learning Center",
        "Miss Lucy's Child Care", "Abuelita Rosa's Home Daycare", "YMCA Early Learning",
    ),
    "park": (
        "Jackson Park", "Washington Park", "Dan Ryan Woods", "Lincoln Park", "Douglass Park",
    ),
}
# fmt: on
# fmt: off
_PLACES = (
    "Lake Charles", "Virginia Beach", "Charlotte", "Elizabeth", "Santa Clara", "Fort Worth",
    "St. Louis", "San Antonio", "Jackson", "Austin", "Madison", "Lafayette", "Marion", "Florence",
    "Victoria", "Mount Vernon", "Georgetown", "Warren", "Tyler", "Beverly Hills",
)
# fmt: on
# fmt: off
_ROLES = (
    "caseworker", "Intake Specialist", "Code Enforcement Officer", "Eligibility Specialist",
    "supervisor", "Housing Inspector", "Outreach Worker", "Deputy Assessor", "Revenue Agent",
    "Sanitarian", "Customer Service Rep", "APS Investigator",
)
# fmt: on
# fmt: off
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
# fmt: on
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# fmt: off
_MAIL_DOMAINS = (
    "gmail.com", "gmail.com", "gmail.com", "yahoo.com", "yahoo.com", "hotmail.com", "outlook.com",
    "icloud.com", "aol.com", "comcast.net", "att.net", "sbcglobal.net", "protonmail.com",
    "live.com", "msn.com", "ymail.com", "verizon.net", "charter.net",
)
# fmt: on

# --------------------------------------------------------------------------------------
# Values


def _fold(s: str) -> str:
    """ASCII letters only, as a mailbox is spelled: "Ó Briain" -> "obriain"."""
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z\-]", "", s.lower())


def _luhn_fill(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def _group(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(digits[i : i + n])
        i += n
    if i < len(digits):
        out.append(digits[i:])
    return sep.join(x for x in out if x)


def _card(rng: random.Random) -> str:
    """A Luhn-valid card number, formatted as people write them."""
    brand = rng.choices(
        ("visa", "visa13", "visa19", "mc", "mc2", "amex", "disc", "jcb", "diners", "cup"),
        weights=(30, 2, 2, 16, 8, 10, 8, 3, 3, 3),
    )[0]
    if brand == "visa":
        digits, sizes = _luhn_fill(rng, "4", 16), (4, 4, 4, 4)
    elif brand == "visa13":
        digits, sizes = _luhn_fill(rng, "4", 13), (4, 3, 3, 3)
    elif brand == "visa19":
        digits, sizes = _luhn_fill(rng, "4", 19), (4, 4, 4, 4, 3)
    elif brand == "mc":
        digits, sizes = _luhn_fill(rng, str(rng.randint(51, 55)), 16), (4, 4, 4, 4)
    elif brand == "mc2":
        digits, sizes = _luhn_fill(rng, str(rng.randint(2221, 2720)), 16), (4, 4, 4, 4)
    elif brand == "amex":
        digits, sizes = _luhn_fill(rng, rng.choice(("34", "37")), 15), (4, 6, 5)
    elif brand == "disc":
        pre = rng.choice(("6011", "65", str(rng.randint(644, 649))))
        digits, sizes = _luhn_fill(rng, pre, 16), (4, 4, 4, 4)
    elif brand == "jcb":
        digits, sizes = _luhn_fill(rng, str(rng.randint(3528, 3589)), 16), (4, 4, 4, 4)
    elif brand == "diners":
        digits, sizes = _luhn_fill(rng, "36", 14), (4, 6, 4)
    else:
        n = rng.choice((16, 17, 18, 19))
        digits, sizes = _luhn_fill(rng, "62" + str(rng.randint(2126, 9925)), n), (4, 4, 4, 4)
    sep = rng.choices((" ", "-", ""), weights=(55, 20, 25))[0]
    return _group(digits, sizes, sep)


def _bad_card(rng: random.Random) -> str:
    """Sixteen digits that fail the Luhn check, grouped like a card."""
    good = _luhn_fill(rng, rng.choice(("4", "5", "6")), 16)
    bad = good[:-1] + str((int(good[-1]) + rng.randint(1, 9)) % 10)
    assert not luhn_ok(bad)
    return _group(bad, (4, 4, 4, 4), rng.choice((" ", "-", "")))


# country: BBAN layout, n digits / a letters / c digits-or-letters
# fmt: off
_IBAN_LAYOUT = {
    "DE": "18n", "GB": "4a14n", "FR": "10n11c2n", "ES": "20n", "IT": "1a10n12c", "NL": "4a10n",
    "IE": "4a14n", "PL": "24n", "PT": "21n", "BE": "12n", "CH": "5n12c", "AT": "16n", "SE": "20n",
    "NO": "11n", "RO": "4a16c", "GR": "7n16c", "TR": "5n1n16c", "UA": "6n19c", "BR": "23n1a1c",
    "SA": "2n18c",
}
# fmt: on


def _iban(rng: random.Random, country: str | None = None) -> str:
    country = country or rng.choice(tuple(_IBAN_LAYOUT))
    bban = []
    for count, kind in re.findall(r"(\d+)([nac])", _IBAN_LAYOUT[country]):
        for _ in range(int(count)):
            if kind == "n" or (kind == "c" and rng.random() < 0.8):
                bban.append(str(rng.randrange(10)))
            else:
                bban.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
    body = "".join(bban)
    moved = body + country + "00"
    check = 98 - int("".join(str(int(ch, 36)) for ch in moved)) % 97
    iban = f"{country}{check:02d}{body}"
    assert iban_ok(iban)
    if rng.random() < 0.7:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _ipv4(rng: random.Random) -> str:
    first = rng.choice((24, 50, 64, 67, 68, 69, 71, 73, 75, 76, 96, 97, 98, 99, 107, 108, 174))
    if rng.random() < 0.1:
        return f"192.168.{rng.randint(0, 10)}.{rng.randint(2, 254)}"
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> str:
    prefix = rng.choice(((0x2601,), (0x2600, 0x1700), (0x2603,), (0x2A02,), (0x2607, 0xFB90)))
    groups = list(prefix) + [rng.randrange(0x10000) for _ in range(4 - len(prefix))]
    style = rng.random()
    if style < 0.4:  # SLAAC, EUI-64
        mac = [rng.randrange(256) for _ in range(6)]
        groups += [
            (mac[0] ^ 2) << 8 | mac[1],
            mac[2] << 8 | 0xFF,
            0xFE << 8 | mac[3],
            mac[4] << 8 | mac[5],
        ]
    elif style < 0.7:  # a small interface id: compresses to "::1b"
        groups += [0, 0, 0, rng.randrange(1, 0x200)]
    else:
        groups += [rng.randrange(0x10000) for _ in range(4)]
    addr = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    text = addr.exploded if rng.random() < 0.15 else addr.compressed
    return text.upper() if rng.random() < 0.15 else text


def _ordinal(n: int) -> str:
    return _ORDINALS[n - 1]


def _fmt_date(rng: random.Random, d: date, style: str | None = None) -> str:
    style = style or rng.choice(
        (
            "mdY",
            "mdY",
            "mdY_nz",
            "mdy",
            "iso",
            "long",
            "long_th",
            "abbr",
            "dmy_long",
            "dmy_abbr",
            "mdY_dash",
            "mdY_dot",
            "mdy_dash",
            "long_nocomma",
        )
    )
    m, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    return {
        "mdY": f"{d.month:02d}/{d.day:02d}/{d.year}",
        "mdY_nz": f"{d.month}/{d.day}/{d.year}",
        "mdy": f"{d.month}/{d.day}/{d.year % 100:02d}",
        "iso": d.isoformat(),
        "long": f"{m} {d.day}, {d.year}",
        "long_th": f"{m} {_ordinal(d.day)}, {d.year}",
        "long_nocomma": f"{m} {d.day} {d.year}",
        "abbr": f"{mon}{'.' if m != mon and rng.random() < 0.5 else ''} {d.day}, {d.year}",
        "dmy_long": f"{d.day} {m} {d.year}",
        "dmy_abbr": f"{d.day:02d}-{mon.upper() if rng.random() < 0.5 else mon}-{d.year}",
        "mdY_dash": f"{d.month:02d}-{d.day:02d}-{d.year}",
        "mdY_dot": f"{d.month:02d}.{d.day:02d}.{d.year}",
        "mdy_dash": f"{d.month}-{d.day}-{d.year % 100:02d}",
        "compact6": f"{d.month:02d}{d.day:02d}{d.year % 100:02d}",
        "compact8": f"{d.month:02d}{d.day:02d}{d.year}",
        "spoken": f"{m.lower()} {_ordinal(d.day) if rng.random() < 0.5 else d.day} {d.year}",
        "spoken_num": f"{d.month} {d.day} {d.year % 100:02d}",
        "dmY": f"{d.day:02d}/{d.month:02d}/{d.year}",
    }[style]


def _rand_date(rng: random.Random, start: int, end: int) -> date:
    return date(start, 1, 1) + timedelta(
        days=rng.randrange((date(end, 12, 31) - date(start, 1, 1)).days)
    )


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _letter(rng: random.Random) -> str:
    return rng.choice("ABCDEFGHJKLMNPRSTWXYZ")


def _dl_number(rng: random.Random, state: str) -> str:
    L, d = _letter, _digits
    r = rng
    forms: dict[str, Callable[[], str]] = {
        "IL": lambda: rng.choice((f"{L(r)}{d(r, 3)}-{d(r, 4)}-{d(r, 4)}", f"{L(r)}{d(r, 11)}")),
        "OH": lambda: f"{L(r)}{L(r)}{d(r, 6)}",
        "AZ": lambda: rng.choice((f"{L(r)}{d(r, 8)}", d(r, 9))),
        "CA": lambda: f"{L(r)}{d(r, 7)}",
        "LA": lambda: f"00{d(r, 7)}",
        "VA": lambda: f"{L(r)}{d(r, 8)}",
        "WI": lambda: f"{L(r)}{d(r, 3)}-{d(r, 4)}-{d(r, 4)}-{d(r, 2)}",
        "NM": lambda: d(r, 9),
        "FL": lambda: rng.choice(
            (f"{L(r)}{d(r, 3)}-{d(r, 3)}-{d(r, 2)}-{d(r, 3)}-{d(r, 1)}", f"{L(r)}{d(r, 12)}")
        ),
        "NC": lambda: d(r, rng.randint(8, 12)),
        "MN": lambda: f"{L(r)}{d(r, 12)}",
        "MD": lambda: f"{L(r)}-{d(r, 3)}-{d(r, 3)}-{d(r, 3)}-{d(r, 3)}",
        "NJ": lambda: f"{L(r)}{d(r, 4)} {d(r, 5)} {d(r, 5)}",
        "RI": lambda: rng.choice((d(r, 7), f"V{d(r, 6)}")),
        "CT": lambda: d(r, 9),
        "WA": lambda: (
            "WDL" + "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(9))
        ),
        "TX": lambda: d(r, 8),
        "MI": lambda: f"{L(r)} {d(r, 3)} {d(r, 3)} {d(r, 3)} {d(r, 3)}",
        "NY": lambda: rng.choice((f"{d(r, 3)} {d(r, 3)} {d(r, 3)}", d(r, 9))),
        "PA": lambda: rng.choice((f"{d(r, 2)} {d(r, 3)} {d(r, 3)}", d(r, 8))),
        "MO": lambda: f"{L(r)}{d(r, 9)}",
        "OK": lambda: f"{L(r)}{d(r, 9)}",
        "GA": lambda: d(r, 9),
        "MS": lambda: d(r, 9),
        "OR": lambda: d(r, 7),
        "HI": lambda: f"H{d(r, 8)}",
        "VT": lambda: d(r, 8),
    }
    return forms.get(state, forms["CA"])()


# fmt: off
_DL_STATES = (
    "IL", "OH", "AZ", "CA", "LA", "VA", "WI", "NM", "FL", "NC", "MN", "MD", "NJ", "RI", "CT", "WA",
    "TX", "MI", "NY", "PA", "MO", "OK", "GA", "MS", "OR", "HI", "VT",
)
# fmt: on


def _passport(rng: random.Random) -> tuple[str, str]:
    """(issuing country as written, number)."""
    d = _digits
    country = rng.choices(
        (
            "US",
            "US",
            "Mexico",
            "UK",
            "Canada",
            "India",
            "Philippines",
            "China",
            "Nigeria",
            "Germany",
            "Ukraine",
            "Guatemala",
        ),
        weights=(30, 15, 12, 5, 5, 6, 5, 5, 4, 3, 4, 3),
    )[0]
    if country == "US":
        num = d(rng, 9) if rng.random() < 0.6 else f"{rng.choice('AZ')}{d(rng, 8)}"
        if num[0] == "0":
            num = str(rng.randint(1, 9)) + num[1:]
    elif country in ("Mexico", "Nigeria", "Guatemala"):
        num = f"{rng.choice('GNEA')}{d(rng, 8)}"
    elif country == "UK":
        num = d(rng, 9)
    elif country == "Canada":
        num = f"{_letter(rng)}{_letter(rng)}{d(rng, 6)}"
    elif country == "India":
        num = f"{_letter(rng)}{d(rng, 7)}"
    elif country == "Philippines":
        num = f"P{d(rng, 7)}{_letter(rng)}"
    elif country == "China":
        num = f"E{d(rng, 8)}"
    elif country == "Germany":
        num = "C" + "".join(rng.choice("CFGHJKLMNPRTVWXYZ0123456789") for _ in range(8))
    else:
        num = f"{_letter(rng)}{_letter(rng)}{d(rng, 6)}"
    return country, num


def _ssn(rng: random.Random, fmt: str | None = None) -> str:
    area = rng.randint(1, 899)
    while area == 666:
        area = rng.randint(1, 899)
    g, s = rng.randint(1, 99), rng.randint(1, 9999)
    fmt = fmt or rng.choices(("dash", "space", "bare"), weights=(70, 15, 15))[0]
    return {
        "dash": f"{area:03d}-{g:02d}-{s:04d}",
        "space": f"{area:03d} {g:02d} {s:04d}",
        "bare": f"{area:03d}{g:02d}{s:04d}",
    }[fmt]


_ITIN_GROUPS = (*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100))


def _itin(rng: random.Random) -> str:
    a, g, s = rng.randint(900, 999), rng.choice(_ITIN_GROUPS), rng.randint(1, 9999)
    fmt = rng.choices(("dash", "space", "bare"), weights=(75, 15, 10))[0]
    return {"dash": f"{a}-{g}-{s:04d}", "space": f"{a} {g} {s:04d}", "bare": f"{a}{g}{s:04d}"}[fmt]


def _tracking(rng: random.Random) -> str:
    """A USPS certified-mail or tracking number, or a UPS one."""
    k = rng.randrange(3)
    if k == 0:
        return _group("7019" + _digits(rng, 16), (4, 4, 4, 4, 4), " ")
    if k == 1:
        return _group(rng.choice(("9400", "9407", "9205")) + _digits(rng, 18), (4,) * 5, " ")
    return f"1Z{_digits(rng, 3)}{rng.choice(('AA', 'E2', 'X4'))}{_digits(rng, 10)}"


def _bad_ssn(rng: random.Random) -> str:
    a, g, s = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
    which = rng.randrange(5)
    if which == 0:
        a = 0
    elif which == 1:
        a = 666
    elif which == 2:
        g = 0
    elif which == 3:
        s = 0
    else:
        a, g = rng.randint(900, 999), rng.choice((*range(50), 66, 67, 68, 69, 89, 93))
    return f"{a:03d}-{g:02d}-{s:04d}"


# --------------------------------------------------------------------------------------
# People


class _Person:
    def __init__(
        self,
        given: str,
        family: str,
        female: bool,
        title: str,
        middle: str | None,
        suffix: str | None,
        nick: str | None,
        party: bool,
        origin: str | None,
    ) -> None:
        self.given, self.family, self.female, self.title = given, family, female, title
        self.middle, self.suffix, self.nick, self.party = middle, suffix, nick, party
        self.origin = origin
        self.initial = "A."  # the middle initial written when the text gives one
        self.emails: list[str] = []

    def rel(self, kind: str) -> str:
        """A relation word for this person: rel("child") -> "son" or "daughter"."""
        words = {
            "child": ("daughter", "son"),
            "parent": ("mother", "father"),
            "sibling": ("sister", "brother"),
            "grandchild": ("granddaughter", "grandson"),
            "nibling": ("niece", "nephew"),
            "spouse": ("wife", "husband"),
            "short_child": ("dtr", "son"),
            "pibling": ("aunt", "uncle"),
        }[kind]
        return words[0] if self.female else words[1]

    def he(self, cap: bool = False) -> str:
        w = "she" if self.female else "he"
        return w.capitalize() if cap else w

    def his(self, cap: bool = False) -> str:
        w = "her" if self.female else "his"
        return w.capitalize() if cap else w

    def him(self) -> str:
        return "her" if self.female else "him"

    @property
    def stored(self) -> str:
        return f"{self.given} {self.family}"

    def value(self, style: str) -> str:
        g, f = self.given, self.family
        mid = self.middle or self.initial
        return {
            "full": f"{g} {f}",
            "mid": f"{g} {mid} {f}",
            "suffix": f"{g} {f} {self.suffix}" if self.suffix else f"{g} {f}",
            "list": f"{f}, {g}",
            "list_mid": f"{f}, {g} {mid}",
            "LIST": f"{f.upper()}, {g}",
            "CAPSLIST": f"{f.upper()}, {g.upper()}",
            "caps": f"{g} {f}".upper(),
            "lower": f"{g} {f}".lower(),
            "given": g,
            "given_lower": g.lower(),
            "nick": self.nick or g,
            "family": f,
            "init": f"{g[0]}. {f}",
        }[style]


class _P(NamedTuple):  # a span
    value: str
    type: str


class _D(NamedTuple):  # a decoy
    value: str
    kind: str


class _N(NamedTuple):  # a person's name, in a style (a title is written outside the span)
    person: _Person
    style: str


Slot = str | _P | _D | _N | Callable[[], None]
_SLOT = re.compile(r"\{(\w+)\}")


# --------------------------------------------------------------------------------------
# One document being written


class _Doc:
    def __init__(self, rng: random.Random, fake: Faker, kind: str) -> None:
        self.r, self.fake, self.kind = rng, fake, kind
        self.city = rng.choice(_CITIES)
        self.domain = (
            re.sub(r"[^a-z]", "", self.city.name.lower()) + self.city.state.lower() + ".gov"
        )
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Span] = []
        self.values: list[str] = []
        self.decoys: list[Decoy] = []
        self.decoy_values: list[str] = []
        self.names: list[str] = []
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.addresses: list[str] = []
        self.clock = 0
        self.age = 0  # the age of the last date of birth made

    # -- writing ---------------------------------------------------------------------
    def t(self, *texts: str) -> None:
        for s in texts:
            self.parts.append(s)
            self.pos += len(s)

    def p(self, value: str, typ: str) -> None:
        assert value, "empty value"
        assert value == value.strip(), repr(value)
        self.spans.append(Span(self.pos, self.pos + len(value), typ))
        self.values.append(value)
        self.t(value)

    def d(self, value: str, kind: str) -> None:
        assert value, "empty value"
        assert value == value.strip(), repr(value)
        self.decoys.append(Decoy(self.pos, self.pos + len(value), kind))
        self.decoy_values.append(value)
        self.t(value)

    def n(self, person: _Person, style: str) -> None:
        """A person's name; ``title_*`` styles put the title before, outside the span."""
        if style.startswith("title_"):
            title = person.title
            if self.kind in ("handover", "fieldnote", "sms") and self.r.random() < 0.5:
                title = title.rstrip(".")
            self.t(title + " ")
            style = style[len("title_") :]
        self.p(person.value(style), PERSON)
        self.mention(person)

    def w(self, fmt: str, **slots: Slot) -> None:
        for i, piece in enumerate(_SLOT.split(fmt)):
            if i % 2 == 0:
                self.t(piece)
                continue
            v = slots[piece]
            if isinstance(v, _P):
                self.p(v.value, v.type)
            elif isinstance(v, _D):
                self.d(v.value, v.kind)
            elif isinstance(v, _N):
                self.n(v.person, v.style)
            elif isinstance(v, str):
                self.t(v)
            else:
                v()

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, *options: str) -> str:
        return self.r.choice(options)

    # -- people ----------------------------------------------------------------------
    def person(
        self,
        female: bool | None = None,
        family: str | None = None,
        party: bool = True,
        origin: str | None = None,
    ) -> _Person:
        r = self.r
        if female is None:
            female = r.random() < 0.55
        if r.random() < 0.35 and origin is None:  # Faker's names
            given = self.fake.first_name_female() if female else self.fake.first_name_male()
            fam = self.fake.last_name()
        else:
            origin = origin or r.choice(_ORIGIN_NAMES)
            women, men, families = _ORIGINS[origin]
            given = r.choice(women if female else men)
            if r.random() < 0.15:  # given and family names of two origins
                families = _ORIGINS[r.choice(_ORIGIN_NAMES)][2]
            fam = r.choice(families)
        if family is None:
            family = fam
            if r.random() < 0.04 and " " not in family and "-" not in family:
                other = self.fake.last_name() if r.random() < 0.5 else fam
                if other != family:
                    family = f"{family}-{other}"
        middle = None
        if r.random() < 0.25 and " " not in given:
            middle = (
                r.choice(_MIDDLE_F if female else _MIDDLE_M)
                if r.random() < 0.3
                else f"{r.choice('ABCDEFGHJKLMPRSTW')}."
            )
        suffix = r.choice(("Jr.", "Sr.", "III", "II")) if not female and r.random() < 0.06 else None
        nick = r.choice(_NICKS[given]) if given in _NICKS else None
        if female:
            title = r.choices(("Ms.", "Mrs.", "Miss", "Dr."), weights=(50, 35, 8, 7))[0]
        else:
            title = r.choices(("Mr.", "Dr."), weights=(92, 8))[0]
        p = _Person(given, family, female, title, middle, suffix, nick, party, origin)
        p.initial = f"{r.choice('ABCDEFGHJKLMPRSTW')}."
        return p

    def mention(self, person: _Person) -> None:
        """A party named in the text is one the CRM stores, as "Given Family"."""
        if person.party and person.stored not in self.names:
            self.names.append(person.stored)

    def relative(self, of: _Person, female: bool | None = None) -> _Person:
        family = of.family if self.r.random() < 0.75 else None
        while True:
            p = self.person(female=female, family=family, origin=of.origin)
            if p.given != of.given:
                return p

    def staff(self) -> _Person:
        return self.person(party=False)

    def staff_email(self, s: _Person) -> str:
        g, f = _fold(s.given).replace("-", ""), _fold(s.family)
        local = self.pick(f"{g[0]}{f}", f"{g}.{f}", f"{g[0]}.{f}", f"{g}{f[0]}")
        return f"{local}@{self.domain}"

    def email(self, who: _Person) -> str:
        r = self.r
        g, f = _fold(who.given).replace("-", ""), _fold(who.family)
        yy = f"{r.randint(50, 99) if r.random() < 0.6 else r.randint(0, 12):02d}"
        local = r.choice(
            (
                f"{g}.{f}",
                f"{g[0]}{f}",
                f"{g}{f}{r.randint(1, 99)}",
                f"{g}_{f}",
                f"{f}.{g}",
                f"{g}{yy}",
                f"{g[0]}.{f}{r.randint(1, 999)}",
                f"{g}.{f}{yy}",
                f"{r.choice(('mamaof', 'nana', 'proud', 'the'))}{g}{r.randint(1, 9)}",
                f"{g}{f[:3]}{r.randint(10, 99)}",
                f"{f}{g[0]}",
                f"{g}+{r.choice(('city', '311', 'benefits'))}",
            )
        )
        domain = r.choice(_MAIL_DOMAINS) if r.random() < 0.8 else self.fake.free_email_domain()
        addr = f"{local}@{domain}"
        if r.random() < 0.08:
            addr = f"{local.capitalize()}@{domain.capitalize()}"
        if who.party and addr.lower() not in self.emails:
            self.emails.append(addr.lower())
        who.emails.append(addr)
        return addr

    # -- phones ----------------------------------------------------------------------
    def _nanp(self, area: str | None = None) -> tuple[str, str, str]:
        r = self.r
        area = area or (
            r.choice(self.city.areas) if r.random() < 0.8 else r.choice(r.choice(_CITIES).areas)
        )
        if r.random() < 0.25:
            return area, "555", f"01{r.randint(0, 99):02d}"
        exch = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
        while exch[1:] == "11" or exch == "555":
            exch = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
        return area, exch, _digits(r, 4)

    def phone(self, party: bool = True, style: str | None = None, ext: float = 0.0) -> str:
        """A US number as written; ``style`` "local" for seven digits, "intl" foreign."""
        r = self.r
        style = (
            style
            or r.choices(
                (
                    "paren",
                    "dash",
                    "dot",
                    "space",
                    "bare",
                    "plus_space",
                    "plus_paren",
                    "plus_dash",
                    "e164",
                    "one_dash",
                    "one_paren",
                    "paren_tight",
                    "slash",
                    "one_dot",
                ),
                weights=(22, 25, 8, 8, 6, 5, 3, 3, 3, 5, 2, 4, 1, 1),
            )[0]
        )
        if style == "intl":
            text, e164 = self._intl()
        else:
            a, e, n = self._nanp(self.city.areas[0] if style == "local" else None)
            text = {
                "paren": f"({a}) {e}-{n}",
                "dash": f"{a}-{e}-{n}",
                "dot": f"{a}.{e}.{n}",
                "space": f"{a} {e} {n}",
                "bare": f"{a}{e}{n}",
                "plus_space": f"+1 {a} {e} {n}",
                "plus_paren": f"+1 ({a}) {e}-{n}",
                "plus_dash": f"+1-{a}-{e}-{n}",
                "e164": f"+1{a}{e}{n}",
                "one_dash": f"1-{a}-{e}-{n}",
                "one_paren": f"1 ({a}) {e}-{n}",
                "paren_tight": f"({a}){e}-{n}",
                "slash": f"{a}/{e}-{n}",
                "one_dot": f"1.{a}.{e}.{n}",
                "local": f"{e}{r.choice(('-', '-', ' '))}{n}",
            }[style]
            e164 = f"+1{a}{e}{n}"
        if ext and r.random() < ext:
            text += r.choice((" ext. ", " x", " ext ", " Ext. ", " x ")) + str(r.randint(2, 4999))
        if party and e164 not in self.phones:
            self.phones.append(e164)
        return text

    def _intl(self) -> tuple[str, str]:
        r = self.r
        d = _digits
        which = r.randrange(12)
        if which == 0:
            t = f"+44 7700 900{d(r, 3)}"
        elif which == 1:
            t = f"+44 20 7946 0{d(r, 3)}"
        elif which == 2:
            t = f"+52 {r.choice(('55', '33', '81'))} {d(r, 4)} {d(r, 4)}"
        elif which == 3:
            t = f"011 52 664 {d(r, 3)} {d(r, 4)}"
        elif which == 4:
            t = f"+91 98{d(r, 3)} {d(r, 5)}"
        elif which == 5:
            t = f"+234 803 {d(r, 3)} {d(r, 4)}"
        elif which == 6:
            t = f"+63 917 {d(r, 3)} {d(r, 4)}"
        elif which == 7:
            t = f"+503 7{d(r, 3)} {d(r, 4)}"
        elif which == 8:
            t = f"+252 61 {d(r, 7)}"
        elif which == 9:
            t = f"+84 90 {d(r, 3)} {d(r, 4)}"
        elif which == 10:
            t = f"+509 3{d(r, 3)} {d(r, 4)}"
        else:
            t = f"+380 67 {d(r, 3)} {d(r, 4)}"
        digits = re.sub(r"\D", "", t)
        e164 = "+" + (digits[3:] if t.startswith("011") else digits)
        return t, e164

    # -- addresses ---------------------------------------------------------------------
    def street(self) -> str:
        r = self.r
        if r.random() < 0.22:
            return self.fake.street_name()
        name = r.choice(_ORDINALS[:90]) if r.random() < 0.3 else r.choice(_STREET_NAMES)
        pre = f"{r.choice(_DIRS)} " if r.random() < 0.35 else ""
        return f"{pre}{name} {r.choice(_SUFFIXES)}"

    def address(
        self,
        form: str | None = None,
        unit: float = 0.3,
        party: bool = True,
        lower: bool = False,
        city: _City | None = None,
    ) -> str:
        """A street address as written: "line" (number, street, unit), "city" (with city
        and state), "full" (with ZIP), "nocomma", "two" and "three" lines, "pobox"."""
        r = self.r
        city = city or (self.city if r.random() < 0.85 else r.choice(_CITIES))
        form = (
            form
            or r.choices(("line", "city", "full", "nocomma", "two"), weights=(35, 10, 35, 8, 12))[0]
        )
        zip5 = f"{city.zip3}{r.randint(1, 99):02d}"
        zipc = zip5 + (f"-{_digits(r, 4)}" if r.random() < 0.12 else "")
        state = city.state if r.random() < 0.92 else city.state_name
        if form == "pobox":
            box = str(r.randint(1, 29999))
            line = (
                r.choice(("PO Box", "P.O. Box", "P O Box", "PO BOX", "Post Office Box")) + " " + box
            )
            stored = f"PO Box {box}"
            if r.random() < 0.08:
                line = f"RR {r.randint(1, 9)} Box {r.randint(1, 400)}"
                stored = line
            text = f"{line}, {city.name}, {state} {zipc}"
            if r.random() < 0.3:
                text = f"{line}\n{city.name}, {state} {zipc}"
        else:
            x = r.random()
            if x < 0.15:
                num = str(r.randint(1, 99))
            elif x < 0.55:
                num = str(r.randint(100, 999))
            elif x < 0.92:
                num = str(r.randint(1000, 9999))
            else:
                num = str(r.randint(10000, 39999))
            if r.random() < 0.02:
                num += " 1/2"
            elif city.name == "Bronx" and r.random() < 0.3:
                num = f"{r.randint(10, 250)}-{r.randint(1, 60):02d}"
            street = self.street()
            apt = r.choice(_UNITS) if r.random() < unit else None
            if apt and apt.startswith(("Lot", "Trlr")):
                apt = None if r.random() < 0.5 else apt
            sep = ", " if apt and r.random() < 0.4 else " "
            line = f"{num} {street}" + (f"{sep}{apt}" if apt else "")
            stored = f"{num} {street}" + (f" {apt}" if apt else "")
            if form == "line":
                text = line
            elif form == "city":
                text = f"{line}, {city.name}, {state}"
            elif form == "full":
                text = f"{line}, {city.name}, {state} {zipc}"
            elif form == "nocomma":
                text = f"{line} {city.name} {state} {zipc}"
            elif form == "two":
                text = f"{line}\n{city.name}, {state} {zipc}"
            else:  # three: the unit on a line of its own, as a letter's address block
                first = f"{num} {street}"
                text = f"{first}\n{apt}\n" if apt else f"{first}\n"
                text += f"{city.name}, {state}  {zipc}"
        if lower:
            text = text.lower()
        if party and stored not in self.addresses:
            self.addresses.append(stored)
        return text

    # -- other values -----------------------------------------------------------------
    def dob(self, style: str | None = None, old: bool = False) -> str:
        start = 1928 if old else 1935
        end = 1958 if old else 2011
        d = _rand_date(self.r, start, end)
        self.age = 2025 - d.year - self.r.randint(0, 1)
        return _fmt_date(self.r, d, style)

    def dl(self) -> tuple[str, str]:
        state = self.city.state if self.r.random() < 0.7 else self.r.choice(_DL_STATES)
        return state, _dl_number(self.r, state)

    def later(self, style: str | None = None) -> str:
        """A date of the recent past or near future (appointments, letters)."""
        return _fmt_date(self.r, _rand_date(self.r, 2024, 2026), style)

    def time(self) -> str:
        r = self.r
        h, m = r.randint(7, 18), r.choice((0, 0, 15, 30, 45, 10, 20, 50))
        style = r.randrange(3)
        if style == 0:
            return f"{(h - 1) % 12 + 1}:{m:02d} {'AM' if h < 12 else 'PM'}"
        if style == 1:
            return f"{(h - 1) % 12 + 1}:{m:02d}{'am' if h < 12 else 'pm'}"
        return f"{h:02d}{m:02d}"

    def time_range(self) -> None:
        """Two times, "9:00 AM and 11:00 AM", as decoys."""
        r = self.r
        h = r.randint(8, 15)
        m = r.choice((0, 0, 30))
        style = r.randrange(3)
        out = []
        for hh in (h, h + r.choice((1, 2, 2, 3))):
            if style == 0:
                out.append(f"{(hh - 1) % 12 + 1}:{m:02d} {'AM' if hh < 12 else 'PM'}")
            elif style == 1:
                out.append(f"{(hh - 1) % 12 + 1}:{m:02d}{'am' if hh < 12 else 'pm'}")
            else:
                out.append(f"{(hh - 1) % 12 + 1}{'am' if hh < 12 else 'pm'}")
        self.d(out[0], "time")
        self.t(" and ")
        self.d(out[1], "time")

    def start_clock(self) -> None:
        d = _rand_date(self.r, 2024, 2026)
        self.clock = d.toordinal() * 1440 + self.r.randint(7 * 60, 20 * 60)

    def stamp(self) -> str:
        """An SMS time stamp, a few minutes after the last one."""
        self.clock += self.r.choice((0, 1, 1, 2, 3, 5, 8, 15, 40))
        d = date.fromordinal(self.clock // 1440)
        h, m = divmod(self.clock % 1440, 60)
        return f"[{d.month}/{d.day} {(h - 1) % 12 + 1}:{m:02d} {'AM' if h < 12 else 'PM'}]"

    # -- decoy values -----------------------------------------------------------------
    def sr(self) -> str:
        r = self.r
        return r.choice(
            (
                f"SR{r.randint(24, 26)}-{_digits(r, 8)}",
                f"SR-{r.randint(2024, 2026)}-{_digits(r, 6)}",
                f"311-{_digits(r, 8)}",
                f"{r.randint(2024, 2026)}-{_digits(r, 6)}",
                f"INC{_digits(r, 7)}",
                f"CS{_digits(r, 7)}",
                f"#{_digits(r, 7)}",
                f"{r.choice(('1', '2', '3'))}-{_digits(r, 10)}",
            )
        )

    def case(self) -> str:
        r = self.r
        return r.choice(
            (
                f"{r.randint(2019, 2026)}-{_digits(r, 5)}",
                f"{_digits(r, 9)}",
                f"C-{_digits(r, 6)}-{r.randint(1, 9)}",
                f"{self.city.state}{_digits(r, 8)}",
                f"{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 3)}",
                f"APS-{r.randint(24, 26)}-{_digits(r, 4)}",
            )
        )

    def parcel(self) -> str:
        r = self.r
        return r.choice(
            (
                f"{_digits(r, 2)}-{_digits(r, 2)}-{_digits(r, 3)}-{_digits(r, 3)}-0000",
                f"{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 2)}",
                f"{_digits(r, 10)}",
                f"R{_digits(r, 9)}",
                f"{_digits(r, 4)}-{_digits(r, 3)}-{_digits(r, 3)}",
            )
        )

    def amount(self) -> str:
        r = self.r
        v = r.choice((r.randint(5, 99), r.randint(100, 999), r.randint(1000, 12000)))
        cents = r.choice((0, 0, r.randint(1, 99)))
        return f"${v:,}" if not cents and r.random() < 0.5 else f"${v:,}.{cents:02d}"

    def version(self) -> str:
        r = self.r
        return r.choice(
            (
                f"{r.randint(110, 128)}.0.{r.randint(5000, 6999)}.{r.randint(10, 220)}",
                f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 99)}",
                f"{r.randint(14, 17)}.{r.randint(0, 7)}.{r.randint(1, 3)}",
                f"v{r.randint(1, 6)}.{r.randint(0, 12)}.{r.randint(0, 30)}",
            )
        )

    def plate(self) -> str:
        r = self.r
        return r.choice(
            (
                f"{r.randint(1, 9)}{_letter(r)}{_letter(r)}{_letter(r)}{_digits(r, 3)}",
                f"{_letter(r)}{_letter(r)}{_letter(r)} {_digits(r, 4)}",
                f"{_letter(r)}{_letter(r)}{_digits(r, 5)}",
                f"{_digits(r, 3)}-{_letter(r)}{_letter(r)}{_letter(r)}",
            )
        )

    def agency_phone(self) -> str:
        r = self.r
        return r.choice(
            (
                "311",
                f"1-800-{r.randint(200, 999)}-{_digits(r, 4)}",
                f"(866) {r.randint(200, 999)}-{_digits(r, 4)}",
                f"{self.city.areas[0]}-{r.randint(200, 999)}-{r.choice(('1000', '5000', '3110', '2489'))}",
                "2-1-1",
            )
        )

    def agency_address(self) -> str:
        r = self.r
        c = self.city
        return (
            f"{r.randint(100, 999)} {r.choice(('N', 'S', 'E', 'W'))} {r.choice(_STREET_NAMES)} "
            f"{r.choice(('St', 'Ave', 'Blvd'))}, {r.choice(('Room', 'Suite', 'Floor'))} "
            f"{r.randint(1, 9)}{r.randint(0, 9)}{r.randint(1, 9)}, {c.name}, {c.state} "
            f"{c.zip3}{r.randint(1, 99):02d}"
        )

    def bare_street(self) -> str:
        r = self.r
        name = r.choice(_ORDINALS[:90]) if r.random() < 0.35 else r.choice(_STREET_NAMES)
        pre = f"{r.choice(('N', 'S', 'E', 'W'))} " if r.random() < 0.3 else ""
        return f"{pre}{name} {r.choice(('St', 'Ave', 'Street', 'Avenue', 'Blvd', 'Rd'))}"


# --------------------------------------------------------------------------------------
# Pieces shared by templates


def _d_street_pair(c: _Doc) -> None:
    a, b = c.bare_street(), c.bare_street()
    c.w(
        c.pick("the corner of {a} and {b}", "{a} & {b}", "{a} near {b}", "{a} at {b}"),
        a=_D(a, "street_name"),
        b=_D(b, "street_name"),
    )


def _d_block(c: _Doc) -> None:
    c.d(f"{c.r.randint(1, 79)}00 block of {c.bare_street()}", "block_location")


def _d_place(c: _Doc, lower: bool = False) -> None:
    v = c.r.choice(_PLACES)
    c.d(v.lower() if lower else v, "place_name")


def _d_business(c: _Doc, lower: bool = False, cat: str | None = None) -> None:
    v = c.r.choice(_BUSINESSES[cat or c.r.choice(("shop", "shop", "service", "park"))])
    if lower:
        v = v.lower().replace("'", "") if c.chance(0.5) else v.lower()
    c.d(v, "business_name")


def _dob(c: _Doc, cues: tuple[str, ...], old: bool = False, style: str | None = None) -> None:
    """A cue ("DOB", "born", ...) and a date of birth."""
    cue = c.r.choice(cues)
    c.w(cue + "{d}", d=_P(c.dob(style=style, old=old), DATE_OF_BIRTH))


_FORMAL_CUES = ("DOB: ", "Date of Birth: ", "D.O.B. ", "Birthdate: ", "DOB ")
_NOTE_CUES = ("DOB ", "dob ", "DOB: ", "b. ", "D.O.B. ", "DOB/", "born ")


def _issue(c: _Doc) -> None:
    """A resident's run-on, lower-case description of a problem, with decoys in it."""
    k = c.r.randrange(9)
    if k == 0:
        c.w(
            "trash hasnt been picked up in {n} weeks, the cans are overflowing and theres rats "
            "running from the alley behind the {b} its disgusting my kids cant even play outside",
            n=str(c.r.randint(2, 4)),
            b=lambda: _d_business(c, lower=True, cat="shop"),
        )
    elif k == 1:
        c.w(
            "there is a huge pothole on {s} right in front of my driveway, already blew a tire "
            "and paid {a} to fix it at {b} i want to be reimbursed",
            s=_D(c.bare_street().lower(), "street_name"),
            a=_D(c.amount(), "amount"),
            b=lambda: _d_business(c, lower=True, cat="shop"),
        )
    elif k == 2:
        c.w(
            "the street light at {x} has been out since {m} and it is pitch dark when i walk "
            "home from the bus, somebody got robbed there last week",
            x=lambda: _d_street_pair(c),
            m=c.pick(*_MONTHS).lower(),
        )
    elif k == 3:
        c.w(
            "no heat in the building since {d}!!! landlord wont answer, we are using the oven "
            "to stay warm. my daughter has asthma and she missed school at {s}",
            d=_D(c.pick(*_WEEKDAYS).lower(), "weekday"),
            s=lambda: _d_business(c, cat="school"),
        )
    elif k == 4:
        c.w(
            "my water bill went from {a} to {b} in one month and nothing changed at my house, "
            "i think the meter ({m}) is broken",
            a=_D(c.amount(), "amount"),
            b=_D(c.amount(), "amount"),
            m=_D(_digits(c.r, 8), "meter_number"),
        )
    elif k == 5:
        c.w(
            "somebody dumped a couch, tires and a mattress on the {b}, been there since {d}",
            b=lambda: _d_block(c),
            d=_D(c.later("mdy"), "other_date"),
        )
    elif k == 6:
        c.w(
            "the bar next door plays loud music till 3am every weekend, i called the police "
            "twice (report {r}) and nothing",
            r=_D(f"{c.r.choice('ABHJ')}{_digits(c.r, 6)}", "case_number"),
        )
    elif k == 7:
        c.w(
            "the tree in the parkway is dead and a big branch fell on my car, the city "
            "tree crew said ticket {t} but nobody came",
            t=_D(c.sr(), "service_request"),
        )
    else:
        c.w(
            "people keep parking in front of the hydrant by {s} and the fire trucks from "
            "{pl} cant get through, i have pictures",
            s=_D(c.bare_street(), "street_name"),
            pl=c.pick("engine 18", "the station", "station 7"),
        )


def _ua(c: _Doc) -> None:
    """A browser's user-agent string, with its version numbers as decoys."""
    if c.chance(0.5):
        c.w(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/{v} Safari/537.36",
            v=_D(
                f"{c.r.randint(110, 128)}.0.{c.r.randint(5000, 6999)}.{c.r.randint(10, 220)}",
                "version_number",
            ),
        )
    else:
        v = f"{c.r.randint(15, 17)}.{c.r.randint(0, 7)}.{c.r.randint(1, 3)}"
        c.w(
            "Mozilla/5.0 (iPhone; CPU iPhone OS {u} like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/{v} Mobile/15E148 Safari/604.1",
            u=v.replace(".", "_"),
            v=_D(v, "version_number"),
        )


_DEPTS = (
    "Department of Human Services",
    "Office of the Treasurer",
    "Dept. of Buildings",
    "311 Customer Service",
    "Department of Public Health",
    "Water Department",
    "Assessor's Office",
)


def _staff_sig(c: _Doc, s: _Person, role: str) -> None:
    c.w("{n}\n", n=_N(s, c.pick("full", "mid", "full")))
    c.w("{role}, {dept}\n", role=_D(role, "role"), dept=c.pick(*_DEPTS))
    if c.chance(0.8):
        c.w(
            "{lbl}{ph}\n",
            lbl=c.pick("Direct: ", "Tel ", "O: ", "Phone: ", "p. "),
            ph=_P(c.phone(party=False, ext=0.35), PHONE),
        )
    if c.chance(0.6):
        c.w("{e}\n", e=_P(c.staff_email(s), EMAIL))
    if c.chance(0.4):
        c.w("Main line: {a}\n", a=_D(c.agency_phone(), "agency_phone"))


# --------------------------------------------------------------------------------------
# webform


def _wf_fields(c: _Doc) -> None:
    """An online service request: header fields, a description, the client's trace."""
    lower = c.chance(0.5)
    me = c.person()
    c.w(
        "{src}\n",
        src=c.pick(
            "311 Online Service Request",
            "New request via city website",
            "Web intake form - Service Request",
            "MyCity App submission",
        ),
    )
    c.w("Request #: {sr}\n", sr=_D(c.sr(), "service_request"))
    c.w(
        "Category: {cat}\n",
        cat=c.pick(
            "Sanitation > Missed Pickup",
            "Streets > Pothole",
            "Housing > No Heat",
            "Water > Billing Dispute",
            "Street Lights > Out",
            "Rodent Baiting",
            "Forestry > Tree Emergency",
        ),
    )
    c.w("Submitted: {d} {t}\n", d=_D(c.later("mdY"), "other_date"), t=_D(c.time(), "time"))
    if c.chance(0.5):
        c.w(
            "First Name: {g}\nLast Name: {f}\n",
            g=_P(me.given.lower() if lower else me.given, PERSON),
            f=_P(me.family.lower() if lower else me.family, PERSON),
        )
        c.mention(me)
    else:
        c.w("Name: {n}\n", n=_N(me, "lower" if lower else c.pick("full", "mid", "caps")))
    if c.chance(0.85):
        c.w("Email: {e}\n", e=_P(c.email(me), EMAIL))
    if c.chance(0.8):
        c.w("Phone: {p}\n", p=_P(c.phone(), PHONE))
    else:
        c.t("Phone: \n")
    c.w(
        "Address: {a}\n",
        a=_P(c.address(form=c.pick("line", "full", "city"), lower=lower), US_ADDRESS),
    )
    c.t("Description:\n")
    if c.chance(0.3):
        c.t("hello, ")
    _issue(c)
    if c.chance(0.35):
        ll = c.person()
        c.w(
            ". the landlord is {n}{x}",
            n=_N(ll, "lower" if lower else "full"),
            x=c.pick(f" and {ll.he()} never picks up", f" {ll.he()} lives in {c.city.name}", ""),
        )
        if c.chance(0.6):
            c.w(" {h} number is {p}", h=ll.his(), p=_P(c.phone(), PHONE))
    c.t(c.pick(" please help", ". thank you", "!!", " ty", ". please call me back", ""))
    c.t("\n\n--\n")
    ip = _ipv4(c.r) if c.chance(0.7) else _ipv6(c.r)
    c.w("Client IP: {ip}\nUser agent: ", ip=_P(ip, IP_ADDRESS))
    _ua(c)
    c.t("\n")


def _wf_contact(c: _Doc) -> None:
    """A 'contact us' message typed in one breath."""
    lower = c.chance(0.7)
    me = c.person()
    c.w(
        "Contact form ({sec})\nFrom: {e}\n",
        sec=c.pick("Mayor's Office", "Aldermanic office", "Council District 4", "Public Works"),
        e=_P(c.email(me), EMAIL),
    )
    c.t("Message: ")
    c.t(c.pick("hi ", "hello ", "to whom it may concern ", "", "good morning "))
    if c.chance(0.5):
        c.w(
            "my name is {n} and i live at {a} ",
            n=_N(me, "lower" if lower else "full"),
            a=_P(c.address(form=c.pick("line", "line", "city"), lower=lower), US_ADDRESS),
        )
    else:
        c.w(
            "this is {n} from {a} ",
            n=_N(me, "lower" if lower else "title_full"),
            a=_P(c.address(form="line", lower=lower), US_ADDRESS),
        )
    c.t(c.pick("and ", "i am writing because ", "", "again, "))
    _issue(c)
    c.t(". ")
    c.t(c.pick("i already called ", "i called ", "ive called "))
    c.w("{a} like {n} times ", a=_D(c.agency_phone(), "agency_phone"), n=str(c.r.randint(3, 9)))
    if c.chance(0.6):
        c.w("and talked to a {r} ", r=_D(c.pick(*_ROLES).lower(), "role"))
    if c.chance(0.5):
        c.w("who said someone would come out by {d}", d=_D(c.pick(*_WEEKDAYS), "weekday"))
    c.t(". ")
    k = c.r.randrange(3)
    if k == 0:
        c.w("you can reach me at {p} ", p=_P(c.phone(ext=0.05), PHONE))
    elif k == 1:
        c.w(
            "call me {p} or my cell {q} ",
            p=_P(c.phone(style="local"), PHONE),
            q=_P(c.phone(), PHONE),
        )
    else:
        c.w("text me at {p} anytime after {t} ", p=_P(c.phone(), PHONE), t=_D(c.time(), "time"))
    c.w(
        "{s}\n{n}\n",
        s=c.pick("thanks", "Thank you", "-", "regards"),
        n=_N(me, c.pick("given", "given_lower", "full", "lower")),
    )


def _wf_payment(c: _Doc) -> None:
    """A billing dispute where the resident types their card number."""
    lower = c.chance(0.5)
    me = c.person()
    c.w(
        "Online Payment Help Request\nAccount holder: {n}\nService address: {a}\n",
        n=_N(me, c.pick("full", "caps", "list")),
        a=_P(c.address(form="full"), US_ADDRESS),
    )
    c.w(
        "Account number: {u}\nParcel / PIN: {pin}\n",
        u=_D(f"{_digits(c.r, 6)}-{_digits(c.r, 5)}", "utility_account"),
        pin=_D(c.parcel(), "parcel"),
    )
    if c.chance(0.35):
        c.w("Bill / lockbox ref: {x}\n", x=_D(_bad_ssn(c.r), "invalid_ssn"))
    c.t("Question:\n")
    card = _card(c.r)
    if lower:
        c.w(
            "i paid the {a} bill online on {d} with my {b}card {cc} and got confirmation "
            "{conf} but the website still shows it due and now theres a late fee of {f}. "
            "please fix this and refund the fee to the same card",
            a=_D(c.amount(), "amount"),
            d=_D(c.later("mdy"), "other_date"),
            b=c.pick("debit ", "credit ", "bank ", "", "capital one "),
            cc=_P(card, CREDIT_CARD),
            conf=_D(_digits(c.r, 10), "confirmation_number"),
            f=_D(c.amount(), "amount"),
        )
    else:
        c.w(
            "On {d} I paid {a} by card ({cc}, exp {x}). Transaction ID {tid}. The payment does "
            "not appear on my account and a shutoff notice was mailed to me. Please advise.",
            d=_D(c.later("long"), "other_date"),
            a=_D(c.amount(), "amount"),
            cc=_P(card, CREDIT_CARD),
            x=_D(f"{c.r.randint(1, 12):02d}/{c.r.randint(25, 31)}", "card_expiry"),
            tid=_D(_bad_card(c.r), "invalid_card"),
        )
    if c.chance(0.2):
        c.w(
            " I am a student from abroad, a refund can also go to my home bank, IBAN {ib}.",
            ib=_P(_iban(c.r), IBAN),
        )
    c.w("\nBest number: {p}\n", p=_P(c.phone(), PHONE))
    if c.chance(0.6):
        c.w("Submitted from {ip}\n", ip=_P(_ipv4(c.r) if c.chance(0.6) else _ipv6(c.r), IP_ADDRESS))


def _wf_for_parent(c: _Doc) -> None:
    """A grown child writing for a parent about benefits, with identifiers."""
    me = c.person()
    mom = c.relative(me, female=c.chance(0.7))
    rel = mom.rel("parent")
    c.w(
        "Subject: help with my {rel}'s {prog}\n\n",
        rel=rel,
        prog=c.pick(
            "SNAP benefits",
            "Medicaid renewal",
            "senior tax exemption",
            "LIHEAP application",
            "property tax freeze",
        ),
    )
    c.w(
        "Hi, I am writing for my {rel}, {n}. ",
        rel=rel,
        n=_N(mom, c.pick("title_full", "full", "mid")),
    )
    k = c.r.randrange(4)
    dob = c.dob(old=True)
    if k == 0:
        c.w("{pr} was born {d}", pr=mom.he(True), d=_P(dob, DATE_OF_BIRTH))
    elif k == 1:
        c.w("Date of birth {d}", d=_P(dob, DATE_OF_BIRTH))
    elif k == 2:
        c.w(
            "{pr} is {age} (DOB {d})",
            pr=mom.he(True),
            age=str(c.age),
            d=_P(dob, DATE_OF_BIRTH),
        )
    else:
        c.w("{pr} birthday is {d}", pr=mom.his(True), d=_P(dob, DATE_OF_BIRTH))
    if c.chance(0.45):
        c.w(" and {pr} Social Security number is {s}", pr=mom.his(), s=_P(_ssn(c.r), US_SSN))
    elif c.chance(0.25):
        c.w(" and {pr} ITIN is {s}", pr=mom.his(), s=_P(_itin(c.r), US_ITIN))
    c.t(". ")
    c.w(
        "{pr} lives with me at {a}. ",
        pr=mom.he(True),
        a=_P(c.address(form=c.pick("full", "line", "nocomma")), US_ADDRESS),
    )
    c.w(
        "{pr} got a letter saying the case {cn} was closed on {d} but nobody told us why. ",
        pr=mom.he(True),
        cn=_D(c.case(), "case_number"),
        d=_D(c.later("mdY"), "other_date"),
    )
    if c.chance(0.4):
        c.w(
            "{pr} was in {h} for two weeks in {m}. ",
            pr=mom.he(True),
            h=lambda: _d_business(c, cat="hospital"),
            m=c.pick(*_MONTHS),
        )
    c.w("\nPlease call me, {n}, at {p}", n=_N(me, "full"), p=_P(c.phone(ext=0.05), PHONE))
    if c.chance(0.6):
        c.w(" or email {e}", e=_P(c.email(me), EMAIL))
    c.t(".\n")


def _wf_lost_id(c: _Doc) -> None:
    """An online police report after a wallet theft."""
    lower = c.chance(0.6)
    me = c.person()
    c.w(
        "Non-emergency police report (online)\nReporting party: {n}\n",
        n=_N(me, c.pick("full", "list", "caps")),
    )
    _dob(c, _FORMAL_CUES)
    c.w(
        "\nHome address: {a}\nPhone: {p}\n",
        a=_P(c.address(form=c.pick("full", "nocomma")), US_ADDRESS),
        p=_P(c.phone(), PHONE),
    )
    c.t("Narrative: ")
    state, num = c.dl()
    c.w(
        (
            "my wallet was stolen at the {b} on {s} on {d} around {t}. it had my drivers license "
            "({st}) {dl}"
            if lower
            else "My wallet was stolen at the {b} on {s} on {d} at about {t}. It had my driver's "
            "license ({st}) {dl}"
        ),
        b=lambda: _d_business(c, cat="shop"),
        s=_D(c.bare_street(), "street_name"),
        d=_D(c.later("mdY_nz"), "other_date"),
        t=_D(c.time(), "time"),
        st=state,
        dl=_P(num, DRIVER_LICENSE),
    )
    if c.chance(0.6):
        country, pp = _passport(c.r)
        c.w(", my {co} passport {pp}", co=country, pp=_P(pp, PASSPORT))
    if c.chance(0.5):
        c.w(
            " and my {b} card {cc}",
            b=c.pick("debit", "Visa", "credit union", "Chase"),
            cc=_P(_card(c.r), CREDIT_CARD),
        )
    c.t(". ")
    c.t(
        "i need a report number for the bank and the DMV"
        if lower
        else "I need a report number for my bank and the Secretary of State."
    )
    c.w("\nIP: {ip}\n", ip=_P(_ipv4(c.r) if c.chance(0.5) else _ipv6(c.r), IP_ADDRESS))


def _wf_vehicle(c: _Doc) -> None:
    """An abandoned-vehicle report naming a neighbour by first name."""
    me = c.person()
    nb = c.person(party=False)
    c.w("Abandoned Vehicle Report {sr}\n", sr=_D(c.sr(), "service_request"))
    c.w(
        "Vehicle: {col} {mk}, plate {pl} ({st})\n",
        col=c.pick("white", "silver", "black", "red", "green"),
        mk=c.pick("Chevy Impala", "Ford van", "Honda Civic", "Nissan Altima", "pickup"),
        pl=_D(c.plate(), "license_plate"),
        st=c.city.state,
    )
    c.w(
        "Location: in front of {a}\n",
        a=_P(c.address(form="line", unit=0.1, lower=c.chance(0.4)), US_ADDRESS),
    )
    c.w(
        "Details: been parked here {n} weeks, flat tires, {who} the {g} in {u} "
        "{ih} name is {nm} something, {he} said {he} would move it but never did. ",
        n=str(c.r.randint(2, 8)),
        who=c.pick("i think it belongs to", "owner is prob"),
        g="lady" if nb.female else "guy",
        u=c.pick("2B", "the basement", "the coach house", "#3"),
        ih=nb.his(),
        he=nb.he(),
        nm=_N(nb, c.pick("given_lower", "given", "nick")),
    )
    if c.chance(0.5):
        c.w("also theres oil leaking all over the {b}. ", b=lambda: _d_block(c))
    c.w(
        "\nReporter: {n} / {p}",
        n=_N(me, c.pick("full", "lower", "init")),
        p=_P(c.phone(), PHONE),
    )
    if c.chance(0.5):
        c.w(" / {e}", e=_P(c.email(me), EMAIL))
    c.t("\n")


# --------------------------------------------------------------------------------------
# voicemail


def _vm_header(c: _Doc, caller: str | None) -> None:
    c.w(
        "Voicemail to {box} - received {d} {t} ({dur})\n",
        box=c.pick(
            "311 after-hours",
            "DHS intake line",
            "Treasurer's Office",
            "Ext. 4410",
            "Housing hotline",
            "Water Dept billing",
        ),
        d=_D(c.later("mdY_nz"), "other_date"),
        t=_D(c.time(), "time"),
        dur=f"0:{c.r.randint(12, 59):02d}" if c.chance(0.7) else f"1:{c.r.randint(0, 59):02d}",
    )
    if caller:
        c.w("From: {cid}\n", cid=_P(caller, PHONE))
    else:
        c.t(c.pick("From: WIRELESS CALLER\n", "From: Unknown\n", "From: PRIVATE\n"))
    c.t(
        c.pick(
            "Transcription:\n", "Transcript (automatic, may contain errors):\n", "Voice-to-text:\n"
        )
    )


def _vm_callback(c: _Doc) -> None:
    me = c.person()
    caller = c.phone(style=c.pick("e164", "paren", "plus_space")) if c.chance(0.7) else None
    _vm_header(c, caller)
    c.t(c.pick("hi ", "hey ", "yes hello ", "hi good morning ", ""))
    c.w("this is {n} ", n=_N(me, c.pick("lower", "lower", "full", "given_lower")))
    if c.chance(0.15):
        spelled = " ".join(re.sub(r"[^a-z]", "", _fold(me.family)))
        c.w("that's {s} ", s=_P(spelled, PERSON))
    c.t(c.pick("um ", "uh ", "", "i'm "))
    c.w(
        "calling about {what} ",
        what=c.pick(
            "the garbage pickup",
            "my water bill",
            "the pothole i reported",
            "my heat",
            "a letter i got from you guys",
            "my property taxes",
            "the rats",
        ),
    )
    if c.chance(0.5):
        c.w("the reference number they gave me was {sr} ", sr=_D(c.sr(), "service_request"))
    if c.chance(0.6):
        c.w(
            "i'm at {a} ",
            a=_P(c.address(form=c.pick("line", "line", "city"), unit=0.2, lower=True), US_ADDRESS),
        )
    c.t(
        c.pick(
            "and nobody ever came out ",
            "and i still haven't heard anything ",
            "and it's been two weeks ",
            "",
        )
    )
    ph = c.phone(style=c.pick("space", "dash", "bare", "local", "local"))
    c.w("um please call me back at {p} ", p=_P(ph, PHONE))
    if c.chance(0.5):
        c.w("again that's {p} ", p=_P(ph, PHONE))
    c.t(c.pick("thank you bye", "thanks", "ok bye", "have a good day"))
    c.t("\n")


def _vm_benefits(c: _Doc) -> None:
    me = c.person()
    _vm_header(c, c.phone(style="e164") if c.chance(0.5) else None)
    c.w("yes hello my name is {n} ", n=_N(me, c.pick("lower", "full")))
    c.t(
        c.pick(
            "i'm calling to check on my case ",
            "i need to reschedule my interview ",
            "my card got stolen and i need a new one ",
            "i got a letter that my benefits stop ",
        )
    )
    if c.chance(0.6):
        c.w("my case number is {cn} ", cn=_D(c.case(), "case_number"))
    _dob(
        c,
        ("my date of birth is ", "birthday ", "i was born ", "date of birth "),
        style=c.pick("spoken", "spoken", "spoken_num", "mdY_nz"),
    )
    c.t(" ")
    if c.chance(0.35):
        c.w("and the last four of my social is {l} ", l=_D(_digits(c.r, 4), "ssn_last4"))
    elif c.chance(0.3):
        c.w("social security {s} ", s=_P(_ssn(c.r, c.pick("space", "bare")), US_SSN))
    c.w(
        "my appointment was supposed to be {d} at {t} ",
        d=_D(c.later(c.pick("spoken", "mdY_nz")), "appointment_date"),
        t=_D(c.time(), "time"),
    )
    c.w("you can call me at {p} ", p=_P(c.phone(style=c.pick("space", "dash", "bare")), PHONE))
    if c.chance(0.3):
        kid = c.relative(me)
        c.w(
            "or my {rel} {n} at {p} ",
            rel=kid.rel(c.pick("child", "grandchild", "nibling")),
            n=_N(kid, c.pick("given_lower", "lower")),
            p=_P(c.phone(style=c.pick("space", "dash")), PHONE),
        )
    c.t("thank you\n")


def _vm_tax(c: _Doc) -> None:
    me = c.person()
    _vm_header(c, c.phone(style=c.pick("e164", "paren")) if c.chance(0.6) else None)
    c.w(
        "hi this is {n} calling about the property tax bill for {a} ",
        n=_N(me, c.pick("lower", "full", "title_family")),
        a=_P(c.address(form=c.pick("line", "city"), unit=0.1, lower=True), US_ADDRESS),
    )
    c.w("the pin number is {pin} ", pin=_D(c.parcel(), "parcel"))
    c.w("it says i owe {a} but i have the senior exemption ", a=_D(c.amount(), "amount"))
    if c.chance(0.5):
        c.w("i don't have a social i use my itin {i} ", i=_P(_itin(c.r), US_ITIN))
    if c.chance(0.35):
        c.w(
            "i want to pay the first installment by card the number is {cc} ",
            cc=_P(_card(c.r), CREDIT_CARD),
        )
    c.w(
        "please call me back {p} ",
        p=_P(c.phone(style=c.pick("space", "dash", "local")), PHONE),
    )
    c.w("or my email is {e} ", e=_P(c.email(me).lower(), EMAIL))
    c.t("thanks\n")


def _vm_spanish(c: _Doc) -> None:
    me = c.person(origin=c.pick("mexican", "central_american"))
    _vm_header(c, c.phone(style="e164") if c.chance(0.6) else None)
    c.w("hola buenas tardes mi nombre es {n} ", n=_N(me, c.pick("lower", "full")))
    c.w(
        "le llamo por {what} ",
        what=c.pick("la basura", "el recibo del agua", "la calefacción", "mi caso de estampillas"),
    )
    c.w(
        "vivo en {a} ",
        a=_P(c.address(form=c.pick("line", "city"), unit=0.3, lower=True), US_ADDRESS),
    )
    if c.chance(0.5):
        _dob(c, ("mi fecha de nacimiento es ",), style=c.pick("mdY_nz", "dmY"))
        c.t(" ")
    c.w("mi número es {p} ", p=_P(c.phone(style=c.pick("space", "dash")), PHONE))
    c.t("gracias\n")


# --------------------------------------------------------------------------------------
# handover


def _ho_shift(c: _Doc) -> None:
    """A shift handover list."""
    c.w(
        "HANDOVER {d} ({sh})\n",
        d=_D(c.later("mdy"), "other_date"),
        sh=c.pick("days->eves", "AM to PM", "nights", "Fri -> weekend on-call"),
    )
    for i in range(c.r.randint(2, 4)):
        cl = c.person()
        c.t(f"{i + 1}) ")
        c.n(cl, c.pick("LIST", "CAPSLIST", "list", "list_mid", "full"))
        c.w(" ({cn}) - ", cn=_D(c.case(), "case_number"))
        k = c.r.randrange(6)
        if k == 0:
            c.w(
                "pt called re: benefits, cb {p}. says LIHEAP appl still pending. ",
                p=_P(c.phone(style=c.pick("local", "local", "dash")), PHONE),
            )
            _dob(c, _NOTE_CUES, style=c.pick("mdy", "mdY_nz", "compact6", "compact8"))
            c.t(" verified. f/u tmrw")
        elif k == 1:
            c.w(
                "walk-in, addr chg to {a}, new ph {p}. needs new EBT card mailed",
                a=_P(c.address(form=c.pick("line", "full"), lower=c.chance(0.5)), US_ADDRESS),
                p=_P(c.phone(style=c.pick("dash", "dot", "bare")), PHONE),
            )
        elif k == 2:
            ll = c.person()
            c.w(
                "LL {n} still refusing repairs. cl wants hearing. LL ph {p}",
                n=_N(ll, c.pick("title_family", "full", "title_full")),
                p=_P(c.phone(), PHONE),
            )
        elif k == 3:
            c.w(
                "cl on hold {m} min, dropped. left VM @ {p}. appt {d} {t} w/ {r}",
                m=str(c.r.randint(10, 50)),
                p=_P(c.phone(style=c.pick("dash", "paren")), PHONE),
                d=_D(c.later("mdy"), "appointment_date"),
                t=_D(c.time(), "time"),
                r=_D(c.pick("sup", "CW", "Sup.", "intake"), "role"),
            )
        elif k == 4:
            c.w(
                "ID verified ({st} DL {dl}), {lbl} {s} entered, pending mgr approval",
                st=c.city.state,
                dl=_P(_dl_number(c.r, c.city.state), DRIVER_LICENSE),
                lbl="SSN" if c.chance(0.7) else "SS#",
                s=_P(_ssn(c.r), US_SSN),
            )
        else:
            c.w(
                "pt paid {a} over the phone, card {cc} exp {x}, conf {conf}. "
                "DO NOT store card # - pls redact",
                a=_D(c.amount(), "amount"),
                cc=_P(_card(c.r), CREDIT_CARD),
                x=_D(f"{c.r.randint(1, 12):02d}/{c.r.randint(25, 31)}", "card_expiry"),
                conf=_D(_digits(c.r, c.pick(8, 10, 12)), "confirmation_number"),
            )
        c.t("\n")
    if c.chance(0.5):
        c.w(
            "Also: printer on 3 jammed again, ticket {t}. {b} referral list updated.\n",
            t=_D(c.sr(), "service_request"),
            b=lambda: _d_business(c, cat="service"),
        )
    c.w("- {ini}\n", ini=c.pick("KM", "jr", "T.W.", "mg", "DL"))


def _ho_casenote(c: _Doc) -> None:
    """A social-services case note."""
    cl = c.person()
    c.w(
        "Case note - {cn} - {d}\n",
        cn=_D(c.case(), "case_number"),
        d=_D(c.later("mdY"), "other_date"),
    )
    c.w("Cl: {n}    ", n=_N(cl, c.pick("LIST", "CAPSLIST", "list", "list_mid")))
    _dob(c, ("DOB: ", "DOB ", "D.O.B.: "))
    k = c.r.randrange(5)
    if k <= 1:
        c.w("    SSN: {s}", s=_P(_ssn(c.r), US_SSN))
    elif k == 2:
        c.w("    ITIN: {s}", s=_P(_itin(c.r), US_ITIN))
    elif k == 3:
        c.w(
            "    SSN: {s} (declined)",
            s=_D(c.pick("000-00-0000", "999-99-9999", "111-11-1111"), "placeholder_ssn"),
        )
    c.t("\n")
    sp = c.relative(cl, female=not cl.female)
    kid = c.relative(cl)
    c.w(
        "HH: self, {sp} (sp), {k} ({rel}, {age})\n",
        sp=_N(sp, c.pick("full", "given")),
        k=_N(kid, "given"),
        rel=kid.rel("short_child"),
        age=str(c.r.randint(1, 17)),
    )
    c.w("Contact: {p} (cell)", p=_P(c.phone(), PHONE))
    if c.chance(0.6):
        c.w(", {e}", e=_P(c.email(cl), EMAIL))
    c.t("\n")
    c.w(
        "Addr: {a}\n",
        a=_P(c.address(form=c.pick("full", "two", "nocomma"), lower=c.chance(0.3)), US_ADDRESS),
    )
    if c.chance(0.25):
        country, pp = _passport(c.r)
        c.w("ID on file: {co} passport {pp}\n", co=country, pp=_P(pp, PASSPORT))
    c.t("Note: ")
    c.w(
        "CW rec'd call from cl re: {what}. ",
        what=c.pick("SNAP recert", "TANF sanction", "childcare subsidy", "Medicaid spend-down"),
    )
    c.w(
        "Cl states {pr} {event} on {d}. ",
        pr=cl.he(),
        event=c.pick("lost job", "was evicted", "moved in w/ sister", "started at Amazon"),
        d=_D(c.later("mdy"), "other_date"),
    )
    if c.chance(0.5):
        doc = c.person(party=False)
        c.w(
            "Med verif from Dr. {f} at {h} rec'd. ",
            f=_P(doc.family, PERSON),
            h=lambda: _d_business(c, cat="hospital"),
        )
    if c.chance(0.5):
        if c.chance(0.6):
            c.w("Ref'd to {b} for rent asst. ", b=lambda: _d_business(c, cat="rent"))
        else:
            c.w(
                "Ref'd {k} to {b} for childcare. ",
                k=_N(kid, "given") if c.chance(0.5) else "kids",
                b=lambda: _d_business(c, cat="childcare"),
            )
    c.w(
        "CW to mail {f} to cl. Next appt {d} @ {t}.\n",
        f=_D(f"Form {c.pick('DHS', 'HFS', 'W')}-{c.r.randint(100, 4999)}", "form_number"),
        d=_D(c.later("mdy"), "appointment_date"),
        t=_D(c.time(), "time"),
    )
    c.w(
        "{s}, {r}\n",
        s=_N(c.staff(), c.pick("init", "full", "given")),
        r=_D(c.pick(*_ROLES), "role"),
    )


def _ho_tax_counter(c: _Doc) -> None:
    """A tax-office counter note about a refund abroad."""
    tp = c.person(origin=c.pick("polish", "ukrainian", "irish", "anglo", "filipino", "arab"))
    c.w(
        "Counter log {d} {t} - {r}\n",
        d=_D(c.later("mdY_nz"), "other_date"),
        t=_D(c.time(), "time"),
        r=_D(c.pick("Revenue Agent", "Deputy Assessor", "Customer Service Rep"), "role"),
    )
    c.w("TP: {n}", n=_N(tp, c.pick("full", "LIST", "mid")))
    if c.chance(0.6):
        c.w(" / ITIN {i}", i=_P(_itin(c.r), US_ITIN))
    else:
        c.w(" / SSN {s}", s=_P(_ssn(c.r), US_SSN))
    c.t("\n")
    if c.chance(0.5):
        c.w(
            "Receipt # {x} (batch {b})\n",
            x=_D(_bad_ssn(c.r), "invalid_ssn"),
            b=_D(_digits(c.r, 5), "batch_number"),
        )
    country, code, bic = c.r.choice(
        (
            ("Poland", "PL", "BPKOPLPW"),
            ("Germany", "DE", "DEUTDEFF"),
            ("Portugal", "PT", "CGDIPTPL"),
            ("Brazil", "BR", "BRASBRRJ"),
            ("Ukraine", "UA", "PBANUA2X"),
            ("Italy", "IT", "UNCRITMM"),
            ("Spain", "ES", "BSCHESMM"),
            ("Ireland", "IE", "AIBKIE2D"),
            ("the UK", "GB", "NWBKGB2L"),
            ("Turkey", "TR", "TCZBTR2A"),
        )
    )
    c.w(
        "TP came in re: refund of overpayment {a} on acct {acct}. ",
        a=_D(c.amount(), "amount"),
        acct=_D(f"{_digits(c.r, 4)}-{_digits(c.r, 6)}", "utility_account"),
    )
    c.w(
        "Moving back to {co}, wants refund by wire to IBAN {ib} (BIC {bic}). ",
        co=country,
        ib=_P(_iban(c.r, code), IBAN),
        bic=_D(bic, "bic"),
    )
    country, pp = _passport(c.r)
    c.w("Verified ID: {co} passport {pp}", co=country, pp=_P(pp, PASSPORT))
    if c.chance(0.4):
        c.w(", exp {x}", x=_D(c.later("mdY"), "other_date"))
    c.t(". ")
    c.w("Forwarding address {a}. ", a=_P(c.address(form="full", unit=0.4), US_ADDRESS))
    c.w(
        "cb {p}. Told TP 6-8 wks.\n",
        p=_P(c.phone(style=c.pick("local", "intl", "dash")), PHONE),
    )


# --------------------------------------------------------------------------------------
# thread


def _wrote_line(c: _Doc, who: _Person, addr: str) -> None:
    d = _rand_date(c.r, 2024, 2026)
    c.w(
        "On {wd}, {md} at {t} {n} <{e}> wrote:\n",
        wd=_WEEKDAYS[d.weekday()][:3],
        md=_D(f"{_MONTHS[d.month - 1][:3]} {d.day}, {d.year}", "other_date"),
        t=_D(c.time(), "time"),
        n=_N(who, "full"),
        e=_P(addr, EMAIL),
    )


def _th_forward(c: _Doc) -> None:
    """A supervisor forwards a resident's e-mail to a caseworker."""
    res, sup, cw = c.person(), c.staff(), c.staff()
    res_mail, sup_mail, cw_mail = c.email(res), c.staff_email(sup), c.staff_email(cw)
    c.w("From: {n} <{e}>\n", n=_N(sup, "full"), e=_P(sup_mail, EMAIL))
    c.w("To: {n} <{e}>\n", n=_N(cw, "full"), e=_P(cw_mail, EMAIL))
    c.w(
        "Subject: FW: {subj}\n\n",
        subj=c.pick(
            "question about my case", "Urgent - heat", "hardship exemption", "Re: your letter"
        ),
    )
    c.w(
        "{g}, can you take this one? {x}\n\n",
        g=_N(cw, "given"),
        x=c.pick(
            "Resident called twice already.",
            "Looks like a recert issue.",
            "Please reply by EOD.",
            "Not sure this is ours.",
        ),
    )
    c.w("{s}\n", s=_N(sup, c.pick("given", "init")))
    c.t("\n---------- Forwarded message ---------\n")
    c.w("From: {n} <{e}>\n", n=_N(res, c.pick("full", "lower", "caps")), e=_P(res_mail, EMAIL))
    c.w("Date: {d}\n", d=_D(c.later("long"), "other_date"))
    c.w(
        "To: {a}\n\n",
        a=_D(
            c.pick(f"info@{c.domain}", f"311@{c.domain}", f"dhs.intake@{c.domain}"), "agency_email"
        ),
    )
    c.t(c.pick("Hello,\n\n", "To whom it may concern,\n\n", "Good afternoon\n\n"))
    c.w(
        "My name is {n} and I live at {a}. ",
        n=_N(res, c.pick("full", "mid", "suffix")),
        a=_P(c.address(form=c.pick("full", "line", "city")), US_ADDRESS),
    )
    _issue(c)
    c.t(". ")
    if c.chance(0.4):
        _dob(c, ("My DOB is ", "I was born ", "My date of birth is "))
        c.t(" if you need it to find my file. ")
    if c.chance(0.3):
        kid = c.relative(res)
        c.w(
            "My {rel} {n} ({e}) can also speak for me. ",
            rel=kid.rel(c.pick("child", "grandchild")),
            n=_N(kid, "full"),
            e=_P(c.email(kid), EMAIL),
        )
    if c.chance(0.12):
        c.w(
            "I am in {co} until spring, any refund please to IBAN {ib}. ",
            co=c.pick("Portugal", "Poland", "Ireland", "Brazil", "Turkey"),
            ib=_P(_iban(c.r), IBAN),
        )
    c.t("\n\nThank you,\n")
    c.w("{n}\n", n=_N(res, c.pick("full", "given", "nick")))
    if c.chance(0.7):
        c.w("{p}\n", p=_P(c.phone(ext=0.05), PHONE))
    c.t(c.pick("Sent from my iPhone\n", "Sent from Yahoo Mail on Android\n", "", ""))


def _th_reply(c: _Doc) -> None:
    """A staff reply with a quoted resident message below it."""
    res, cw = c.person(), c.staff()
    res_mail = c.email(res)
    c.w(
        "Subject: RE: {cn} - {what}\n\n",
        cn=_D(c.sr() if c.chance(0.5) else c.case(), "case_number"),
        what=c.pick("missed pickup", "inspection request", "payment plan", "benefits"),
    )
    c.w("Dear {n},\n\n", n=_N(res, c.pick("title_family", "title_full", "given")))
    c.w(
        "Thank you for your message. I have scheduled {what} for {d} between {t}{t2}. "
        "Please make sure someone over 18 is home. If you need to reschedule call {ap}.\n\n",
        what=c.pick("an inspection", "a crew", "a callback"),
        d=_D(c.later(c.pick("long", "mdY", "abbr")), "appointment_date"),
        t=lambda: c.time_range(),
        t2="",
        ap=_D(c.agency_phone(), "agency_phone"),
    )
    c.t("Regards,\n")
    _staff_sig(c, cw, c.pick(*_ROLES))
    c.t("\n")
    _wrote_line(c, res, res_mail)
    c.t("> Hi,\n")
    c.w(
        "> I reported this on {d} and nobody came. The address is {a}.\n",
        d=_D(c.later("mdy"), "other_date"),
        a=_P(c.address(form=c.pick("full", "line", "nocomma"), lower=c.chance(0.3)), US_ADDRESS),
    )
    c.w(
        "> My neighbor {n} at {a} has the same problem.\n",
        n=_N(c.person(), c.pick("title_family", "full", "given")),
        a=_P(c.address(form="line", unit=0.2), US_ADDRESS),
    )
    c.w(
        "> Call me at {p}.\n> {n}\n",
        p=_P(c.phone(ext=0.1), PHONE),
        n=_N(res, c.pick("given", "full", "nick", "lower")),
    )


def _th_portal(c: _Doc) -> None:
    """An IT ticket about a resident locked out of the benefits portal."""
    res, it = c.person(), c.staff()
    c.w("Ticket {t} - Benefits portal lockout\n", t=_D(f"INC{_digits(c.r, 7)}", "service_request"))
    c.w("Opened by: {n} ({e})\n\n", n=_N(it, "full"), e=_P(c.staff_email(it), EMAIL))
    c.w(
        "User {n} ({e}) cannot log in since {d}. ",
        n=_N(res, c.pick("full", "caps")),
        e=_P(c.email(res), EMAIL),
        d=_D(c.later("mdY"), "other_date"),
    )
    c.w(
        "Audit log shows {k} failed attempts from {ip1}",
        k=str(c.r.randint(3, 12)),
        ip1=_P(_ipv4(c.r), IP_ADDRESS),
    )
    if c.chance(0.7):
        c.w(" and {ip2}", ip2=_P(_ipv6(c.r), IP_ADDRESS))
    c.w(
        " (app {v}, server {srv}). ",
        v=_D(c.version(), "version_number"),
        srv=c.pick("prd-web-02", "portal-app-1", "iis04"),
    )
    c.w("User verified identity by phone ({p}) with ", p=_P(c.phone(), PHONE))
    _dob(c, ("DOB ", "date of birth "), style=c.pick("mdY", "iso", "mdY_nz"))
    if c.chance(0.5):
        c.w(" and last 4 SSN {l}", l=_D(_digits(c.r, 4), "ssn_last4"))
    c.t(". Password reset sent.\n\n")
    c.w(
        "> {n} wrote: it still says my account is locked, i'm using firmware {fw} on "
        "my router if that matters\n",
        n=_N(res, "given"),
        fw=_D(
            f"{c.r.randint(1, 9)}.{c.r.randint(0, 9)}.{c.r.randint(0, 9)}.{c.r.randint(0, 99)}",
            "version_number",
        ),
    )


# --------------------------------------------------------------------------------------
# inspection


def _code_section(c: _Doc) -> str:
    r = c.r
    return c.pick(
        f"Sec. {r.randint(5, 18)}-{r.randint(1, 9)}-{r.randint(100, 990)}",
        f"IPMC {r.randint(302, 704)}.{r.randint(1, 14)}",
        f"§ {r.randint(10, 40)}.{r.randint(10, 99)}",
    )


def _in_rental(c: _Doc) -> None:
    owner, tenant, insp = c.person(), c.person(), c.staff()
    c.w(
        "CITY OF {city} - DEPARTMENT OF BUILDINGS\nRENTAL HOUSING INSPECTION REPORT\n",
        city=c.city.name.upper(),
    )
    c.w(
        "Inspection No.: {n}        Date: {d}\n",
        n=_D(f"HI-{c.r.randint(2024, 2026)}-{_digits(c.r, 5)}", "case_number"),
        d=_D(c.later("mdY"), "other_date"),
    )
    c.w("Property: {a}\n", a=_P(c.address(form=c.pick("full", "nocomma"), unit=0.7), US_ADDRESS))
    c.w(
        "Parcel: {p}    Permit on file: {pm}\n",
        p=_D(c.parcel(), "parcel"),
        pm=_D(f"{c.pick('BLD', 'ELE', 'PLM')}{c.r.randint(19, 26)}-{_digits(c.r, 5)}", "permit"),
    )
    if c.chance(0.4):
        c.w(
            "Owner of record: {llc}, c/o {n}\n",
            llc=_D(
                c.pick(
                    "Lakeview Holdings LLC",
                    "Jefferson Property Group",
                    "Grace Realty Trust",
                    "Marshall & Sons Management",
                ),
                "business_name",
            ),
            n=_N(owner, c.pick("full", "caps")),
        )
    else:
        c.w("Owner of record: {n}\n", n=_N(owner, c.pick("LIST", "CAPSLIST", "full", "mid")))
    c.w(
        "Owner mailing address: {a}\n",
        a=_P(c.address(form=c.pick("pobox", "full", "two")), US_ADDRESS),
    )
    c.w("Owner phone: {p}\n", p=_P(c.phone(ext=0.1), PHONE))
    c.w(
        "Tenant: {n}, tel. {p}\n",
        n=_N(tenant, c.pick("full", "title_full", "list")),
        p=_P(c.phone(), PHONE),
    )
    c.w(
        "Inspector: {n}, Badge #{b}\n\n",
        n=_N(insp, c.pick("full", "init")),
        b=_D(_digits(c.r, 4), "badge_number"),
    )
    c.t("Findings:\n")
    for i in range(c.r.randint(2, 4)):
        c.w(
            "{i}. {what} - {sec}\n",
            i=str(i + 1),
            what=c.pick(
                "No heat in unit, thermostat reads 54F",
                "Smoke detector missing in hallway",
                "Evidence of rodent activity in kitchen",
                "Peeling paint on window sills",
                "Rear porch guardrail loose",
                "Water leak under bathroom sink",
                "Mold on ceiling",
            ),
            sec=_D(_code_section(c), "code_section"),
        )
    c.w(
        "\nRe-inspection scheduled {d} between {t}. ",
        d=_D(c.later(c.pick("mdY", "long")), "appointment_date"),
        t=lambda: c.time_range(),
    )
    c.w(
        "Tenant states {pr} has lived in the unit since {d}",
        pr=tenant.he(),
        d=_D(str(c.r.randint(2005, 2023)), "year"),
    )
    if c.chance(0.4):
        c.w(
            " and that the owner's manager, {n}, was notified by text to {p}",
            n=_N(c.person(), c.pick("full", "title_family")),
            p=_P(c.phone(), PHONE),
        )
    c.t(".\n")


def _in_code(c: _Doc) -> None:
    owner, insp = c.person(), c.staff()
    c.w(
        "Code Enforcement - Complaint Inspection\nComplaint {sr} received {d} via 311\n",
        sr=_D(c.sr(), "service_request"),
        d=_D(c.later("mdY_nz"), "other_date"),
    )
    c.w(
        "Site: {a}\n",
        a=_P(c.address(form=c.pick("line", "city", "full"), unit=0.05), US_ADDRESS),
    )
    c.w(
        "Zoning: {z}   Ward {w}   ZIP {zip}\n",
        z=c.pick("RS-3", "RT-4", "B3-2", "R-1"),
        w=str(c.r.randint(1, 50)),
        zip=_D(f"{c.city.zip3}{c.r.randint(1, 99):02d}", "zip_code"),
    )
    c.w(
        "Observed: {what} visible from {s}. ",
        what=c.pick(
            "tall weeds and debris",
            "open and vacant structure, rear door off hinges",
            "junk vehicles in side yard",
            "illegal dumping, approx. 15 tires",
        ),
        s=_D(c.bare_street(), "street_name"),
    )
    c.w("Photos 1-{n} taken. ", n=str(c.r.randint(3, 14)))
    c.w(
        "Owner per assessor: {n}, mailing {a}. ",
        n=_N(owner, c.pick("LIST", "CAPSLIST", "full", "list_mid")),
        a=_P(c.address(form=c.pick("pobox", "full"), city=c.r.choice(_CITIES)), US_ADDRESS),
    )
    if c.chance(0.5):
        ct = c.person(party=False)
        c.w(
            "Contractor on site, {n} ({lic}), said work starts {d}. ",
            n=_N(ct, c.pick("full", "given")),
            lic=_D(f"Lic. #{c.pick('104', 'TACLA', 'EC')}-{_digits(c.r, 6)}", "contractor_license"),
            d=_D(c.pick(*_WEEKDAYS), "weekday"),
        )
    c.w(
        "Notice of violation mailed, fine {a}, hearing {d}.\n",
        a=_D(c.amount(), "amount"),
        d=_D(c.later("mdY"), "appointment_date"),
    )
    c.w(
        "- {n}, {r}\n",
        n=_N(insp, c.pick("full", "init")),
        r=_D("Code Enforcement Officer", "role"),
    )


def _in_lead(c: _Doc) -> None:
    parent, insp = c.person(female=c.chance(0.8)), c.staff()
    child = c.relative(parent)
    c.w(
        "LEAD HAZARD INVESTIGATION - {dept}\nCase {cn}\n",
        dept=c.pick("Dept. of Public Health", "Childhood Lead Poisoning Prevention Program"),
        cn=_D(c.case(), "case_number"),
    )
    c.w("Child: {n}    ", n=_N(child, c.pick("full", "list", "LIST")))
    c.w(
        "{cue}{d}    EBLL {v} ug/dL ({dt})\n",
        cue=c.pick("DOB: ", "D.O.B. ", "Date of birth: "),
        d=_P(_fmt_date(c.r, _rand_date(c.r, 2018, 2024)), DATE_OF_BIRTH),
        v=str(c.r.randint(5, 40)),
        dt=_D(c.later("mdY_nz"), "other_date"),
    )
    c.w(
        "Parent/guardian: {n}, {p}\n",
        n=_N(parent, c.pick("full", "title_full", "list")),
        p=_P(c.phone(), PHONE),
    )
    c.w("Residence: {a}\n", a=_P(c.address(form=c.pick("full", "two"), unit=0.5), US_ADDRESS))
    c.w(
        "Year built {y}. XRF readings: window sill {x1} mg/cm2, door jamb {x2} mg/cm2. ",
        y=_D(str(c.r.randint(1890, 1977)), "year"),
        x1=f"{c.r.randint(1, 9)}.{c.r.randint(0, 9)}",
        x2=f"{c.r.randint(0, 9)}.{c.r.randint(0, 9)}",
    )
    c.w(
        "{pr} attends {s}. ",
        pr=child.he(True),
        s=lambda: _d_business(c, cat="school"),
    )
    c.w("Inspector {n}.\n", n=_N(insp, c.pick("full", "init", "family")))


# --------------------------------------------------------------------------------------
# fieldnote


def _fn_outreach(c: _Doc) -> None:
    cl = c.person()
    c.w(
        "Outreach {d} {t}, {team}\n",
        d=_D(c.later("mdy"), "other_date"),
        t=_D(c.time(), "time"),
        team=c.pick("Team 2", "van 3", "PM shift", "w/ PD liaison"),
    )
    c.t("Loc: ")
    _d_street_pair(c)
    if c.chance(0.4):
        c.t(", under the viaduct")
    else:
        c.t(c.pick(", by the ", ", behind the "))
        _d_business(c, cat=c.pick("shop", "park"))
    c.t("\n")
    c.w('Engaged client who goes by "{nk}"', nk=_P(c.pick(*_STREET_NICKS), PERSON))
    if c.chance(0.7):
        c.w(", legal name {n}", n=_N(cl, c.pick("full", "mid", "LIST")))
    c.w(". Approx age {a}", a=str(c.r.randint(25, 70)))
    if c.chance(0.6):
        c.t(", states ")
        _dob(c, ("DOB ", "dob ", "b. ", "born "), style=c.pick("mdy", "mdY_nz", "long_nocomma"))
    c.t(". ")
    c.t(
        c.pick(
            "Declined shelter, accepted blanket + hygiene kit. ",
            "Wants help w/ ID, lost everything in a sweep. ",
            f"Reports {cl.he()} was staying at a cousin's until last month. ",
            f"Says {cl.he()} has a Section 8 voucher but can't find a unit. ",
        )
    )
    if c.chance(0.25):
        c.w(
            "Old {st} DL # {dl} (expired), will request copy. ",
            st=c.city.state,
            dl=_P(_dl_number(c.r, c.city.state), DRIVER_LICENSE),
        )
    if c.chance(0.5):
        c.w(
            "Last address {a}. ",
            a=_P(c.address(form=c.pick("line", "city"), unit=0.3), US_ADDRESS),
        )
    if c.chance(0.5):
        c.w(
            "Has phone, # {p}. ",
            p=_P(c.phone(style=c.pick("dash", "bare", "local", "dot")), PHONE),
        )
    if c.chance(0.35):
        sib = c.relative(cl)
        c.w(
            "{rel} {n} in {pl} may take {him} in, {p}. ",
            rel=sib.rel("sibling").capitalize(),
            n=_N(sib, c.pick("given", "full")),
            pl=lambda: _d_place(c),
            him=cl.him(),
            p=_P(c.phone(style=c.pick("paren", "dash")), PHONE),
        )
    c.w("F/u {d}.\n", d=_D(c.pick(*_WEEKDAYS)[:3], "weekday"))


def _fn_aps(c: _Doc) -> None:
    cl = c.person(female=c.chance(0.7))
    rp = c.relative(cl)
    c.w("APS home visit - {cn}\n", cn=_D(c.case(), "case_number"))
    c.w(
        "Date/time: {d} {t}\n",
        d=_D(c.later("mdY_nz"), "other_date"),
        t=_D(c.time(), "time"),
    )
    c.w("Visited {n}", n=_N(cl, c.pick("title_full", "title_family", "full")))
    dob = c.dob(old=True, style=c.pick("mdY", "mdY_nz", "iso", "abbr"))
    c.w(
        " ({age} y/o, {cue}{d}",
        age=str(c.age),
        cue=c.pick("DOB ", "b. ", "DOB: "),
        d=_P(dob, DATE_OF_BIRTH),
    )
    c.w(
        ") at {pr} home, {a}. ",
        pr=cl.his(),
        a=_P(c.address(form=c.pick("line", "full")), US_ADDRESS),
    )
    c.t(
        c.pick(
            "Home cluttered, no food in fridge. ",
            "Pt alert and oriented x3. ",
            "Strong urine odor, pt in same clothes as last visit. ",
            "Pt reports missing checks. ",
        )
    )
    c.w(
        "{rel} {n} present, {pr} is listed as rep payee. ",
        rel=rp.rel(c.pick("nibling", "grandchild", "child")).capitalize(),
        n=_N(rp, c.pick("full", "given")),
        pr=rp.he(),
    )
    if c.chance(0.6):
        c.w("{pr} cell {p}. ", pr=rp.his(True), p=_P(c.phone(), PHONE))
    if c.chance(0.5):
        c.w(
            "Bank stmt shows ATM withdrawals on card {cc} at {b}. ",
            cc=_P(_card(c.r), CREDIT_CARD),
            b=lambda: _d_business(c, cat="shop"),
        )
    if c.chance(0.4):
        c.w("SSA claim # {s} (same as SSN). ", s=_P(_ssn(c.r), US_SSN))
    c.w(
        "PCP is Dr. {f} at {h}. ",
        f=_P(c.person(party=False).family, PERSON),
        h=lambda: _d_business(c, cat="hospital"),
    )
    c.w("Next visit {d}.\n", d=_D(c.later("mdy"), "appointment_date"))


def _fn_water(c: _Doc) -> None:
    occ = c.person()
    c.w(
        "Field order {fo} - {what}\n",
        fo=_D(f"FO{_digits(c.r, 7)}", "case_number"),
        what=c.pick("non-pay shutoff", "meter change", "high bill re-read", "leak check"),
    )
    c.w(
        "Svc addr: {a}\n",
        a=_P(c.address(form=c.pick("line", "city"), unit=0.2, lower=c.chance(0.4)), US_ADDRESS),
    )
    c.w(
        "Meter {m}, read {rd}, prev {pv}\n",
        m=_D(_digits(c.r, 8), "meter_number"),
        rd=str(c.r.randint(1000, 99999)),
        pv=str(c.r.randint(1000, 99999)),
    )
    c.w("Spoke w/ occupant {n}", n=_N(occ, c.pick("full", "title_family", "given", "lower")))
    c.w(
        ", says paid {a} {when}",
        a=_D(c.amount(), "amount"),
        when=c.pick("yesterday", "last wk", "this am"),
    )
    if c.chance(0.5):
        c.w(" w/ card ending {l}", l=_D(_digits(c.r, 4), "card_last4"))
    c.t(". ")
    c.w(
        "Left door hanger. Occupant cb {p}. ",
        p=_P(c.phone(style=c.pick("local", "dash", "bare")), PHONE),
    )
    if c.chance(0.4):
        c.w("Curb box at {s} buried, need crew. ", s=_D(c.bare_street(), "street_name"))
    c.w(
        "Tech {n} #{b}\n",
        n=_N(c.staff(), c.pick("init", "given", "family")),
        b=_D(_digits(c.r, 3), "badge_number"),
    )


# --------------------------------------------------------------------------------------
# letter


def _lt_agency(c: _Doc) -> None:
    res = c.person()
    c.w(
        "{dept}\n{a}\n",
        dept=c.pick(
            f"City of {c.city.name}\nDepartment of Finance",
            f"{c.city.name} Housing Authority",
            f"{c.city.state_name} Department of Human Services",
        ),
        a=_D(c.agency_address(), "agency_address"),
    )
    c.w("{d}\n\n", d=_D(c.later(c.pick("long", "mdY")), "other_date"))
    c.n(res, c.pick("caps", "full", "title_full", "mid"))
    c.t("\n")
    c.p(c.address(form=c.pick("two", "three", "three", "pobox")), US_ADDRESS)
    c.t("\n\n")
    c.w(
        "RE: {what}\nAccount No.: {acct}\n",
        what=c.pick(
            "Notice of Overpayment",
            "Renewal of your benefits",
            "Past Due Water/Sewer Charges",
            "Homestead Exemption Decision",
        ),
        acct=_D(c.case(), "case_number"),
    )
    if c.chance(0.4):
        c.w("Control No.: {x}\n", x=_D(_bad_ssn(c.r), "invalid_ssn"))
    if c.chance(0.3):
        c.w("CERTIFIED MAIL {x}\n", x=_D(_tracking(c.r), "tracking_number"))
    if c.chance(0.5):
        c.w(
            "SSN: {m}\n",
            m=_D(c.pick(f"XXX-XX-{_digits(c.r, 4)}", f"***-**-{_digits(c.r, 4)}"), "masked_ssn"),
        )
    c.w("\nDear {n}:\n\n", n=_N(res, c.pick("title_family", "title_full", "full")))
    c.w(
        "Our records show a balance of {a} due by {d}. ",
        a=_D(c.amount(), "amount"),
        d=_D(c.later(c.pick("long", "mdY")), "appointment_date"),
    )
    c.w(
        "If you believe this is an error, call {ph} Monday through Friday, {t1} to {t2}, "
        "or visit us in person. ",
        ph=_D(c.agency_phone(), "agency_phone"),
        t1=_D(c.pick("8:30 a.m.", "9:00 AM", "8 am"), "time"),
        t2=_D(c.pick("4:30 p.m.", "5:00 PM", "4 pm"), "time"),
    )
    c.w(
        "Please bring this letter and a photo ID.\n\nSincerely,\n\n{n}\n{r}\n",
        n=_N(c.staff(), c.pick("full", "mid")),
        r=_D(c.pick(*_ROLES), "role"),
    )


def _lt_resident(c: _Doc) -> None:
    me = c.person()
    c.n(me, c.pick("full", "mid", "suffix"))
    c.t("\n")
    c.p(c.address(form=c.pick("two", "three", "pobox")), US_ADDRESS)
    c.t("\n")
    c.w("{p}\n", p=_P(c.phone(), PHONE))
    if c.chance(0.5):
        c.w("{e}\n", e=_P(c.email(me), EMAIL))
    c.w("\n{d}\n\n", d=_D(c.later("long"), "other_date"))
    c.w(
        "{off}\n",
        off=_D(
            c.pick(
                f"{c.city.name} County Assessor's Office",
                "Board of Review",
                "Office of the Treasurer",
            ),
            "business_name",
        ),
    )
    c.w("Re: Appeal, PIN {pin}\n", pin=_D(c.parcel(), "parcel"))
    if c.chance(0.4):
        c.w("Sent certified mail, tracking {x}\n", x=_D(_tracking(c.r), "tracking_number"))
    c.t("\n")
    c.t("Dear Sir or Madam,\n\n")
    c.w(
        "I am writing to appeal the assessment of my home. I bought it on {d} for {a} and the "
        "new value is much higher than what I paid. ",
        d=_D(c.later("mdY"), "other_date"),
        a=_D(c.amount(), "amount"),
    )
    k = c.r.randrange(3)
    if k == 0:
        c.w("My ITIN is {i}. ", i=_P(_itin(c.r), US_ITIN))
    elif k == 1:
        c.w("My Social Security number is {s}. ", s=_P(_ssn(c.r), US_SSN))
    else:
        c.t("I was born on ")
        c.p(c.dob(old=True, style=c.pick("long", "mdY", "dmy_long")), DATE_OF_BIRTH)
        c.t(" and qualify for the senior exemption. ")
    if c.chance(0.45):
        c.w(
            "If a refund is due, I now live part of the year abroad; please send it to my "
            "account IBAN {ib}. ",
            ib=_P(_iban(c.r), IBAN),
        )
    if c.chance(0.35):
        country, pp = _passport(c.r)
        c.w("A copy of my {co} passport (No. {pp}) is enclosed. ", co=country, pp=_P(pp, PASSPORT))
    if c.chance(0.35):
        state, dl = c.dl()
        c.w(
            "A copy of my {st} driver license, number {dl}, is enclosed. ",
            st=state,
            dl=_P(dl, DRIVER_LICENSE),
        )
    c.w("\n\nSincerely,\n\n{n}\n", n=_N(me, c.pick("full", "mid", "init")))


def _lt_landlord(c: _Doc) -> None:
    ll, tenant = c.person(), c.person()
    c.t("To whom it may concern:\n\n")
    c.w(
        "{n} has been my tenant at {a} since {d}. ",
        n=_N(tenant, c.pick("full", "title_full", "mid")),
        a=_P(c.address(form=c.pick("full", "line")), US_ADDRESS),
        d=_D(c.later(c.pick("long", "mdY")), "other_date"),
    )
    c.w(
        "The rent is {a} per month and {pr} has always paid on time. ",
        a=_D(c.amount(), "amount"),
        pr=tenant.he(),
    )
    if c.chance(0.5):
        kid = c.relative(tenant)
        c.w(
            "{pr} {rel} {n} lives there too. ",
            pr=tenant.his(True),
            rel=kid.rel(c.pick("child", "grandchild")),
            n=_N(kid, c.pick("full", "given")),
        )
    c.w("I can be reached at {p}", p=_P(c.phone(ext=0.1), PHONE))
    if c.chance(0.6):
        c.w(" or {e}", e=_P(c.email(ll), EMAIL))
    c.t(".\n\n")
    c.w("{n}\n", n=_N(ll, c.pick("full", "mid", "caps")))
    if c.chance(0.5):
        c.w(
            "{biz}\n",
            biz=_D(
                c.pick("Owner, Jackson Street Apartments", "Manager, Virginia Court Apts"),
                "business_name",
            ),
        )
    c.p(c.address(form=c.pick("pobox", "two")), US_ADDRESS)
    c.t("\n")


# --------------------------------------------------------------------------------------
# sms


def _sms_311(c: _Doc) -> None:
    me = c.person()
    c.start_clock()
    c.w(
        "SMS thread: {line} <-> {p}\n",
        line=_D(c.pick(f"{c.city.name} 311 Text", "TXT311", "short code 31100"), "agency_phone"),
        p=_P(c.phone(style=c.pick("e164", "paren", "dash")), PHONE),
    )
    c.w(
        "{s} Resident: {hi}\n",
        s=_D(c.stamp(), "timestamp"),
        hi=c.pick(
            "hi the heat is off again in our building",
            "theres a dead raccoon in front of my house",
            "garbage not picked up AGAIN",
            "street light out",
            "water coming up from the street",
        ),
    )
    c.w(
        "{s} 311: Thanks for texting 311. What is the address of the problem?\n",
        s=_D(c.stamp(), "timestamp"),
    )
    c.w(
        "{s} Resident: {a}\n",
        s=_D(c.stamp(), "timestamp"),
        a=_P(
            c.address(form=c.pick("line", "line", "city"), unit=0.4, lower=c.chance(0.7)),
            US_ADDRESS,
        ),
    )
    c.w(
        "{s} 311: Got it. Your request number is {sr}. Can we have a name for follow up?\n",
        s=_D(c.stamp(), "timestamp"),
        sr=_D(c.sr(), "service_request"),
    )
    c.w(
        "{s} Resident: {n}",
        s=_D(c.stamp(), "timestamp"),
        n=_N(me, c.pick("lower", "full", "given_lower", "title_family")),
    )
    if c.chance(0.5):
        c.w(" {e}", e=_P(c.email(me), EMAIL))
    c.t("\n")
    if c.chance(0.5):
        rel = c.relative(me, female=True)
        c.w(
            "{s} Resident: also pls call my {r} {n} {p} she handles this stuff\n",
            s=_D(c.stamp(), "timestamp"),
            r=c.pick("mom", "sister", "aunt"),
            n=_N(rel, c.pick("given_lower", "lower", "given")),
            p=_P(c.phone(style=c.pick("dash", "bare", "local")), PHONE),
        )
    c.w(
        "{s} 311: Thank you {n}. A crew is scheduled for {d}.\n",
        s=_D(c.stamp(), "timestamp"),
        n=_N(me, c.pick("given", "title_family")),
        d=_D(c.later("mdy"), "appointment_date"),
    )
    c.w(
        "{s} Resident: {x}\n",
        s=_D(c.stamp(), "timestamp"),
        x=c.pick("ty", "ok thx", "k", "thank u!!", "finally"),
    )


def _sms_caseworker(c: _Doc) -> None:
    cl, cw = c.person(), c.staff()
    c.w("Text messages - {cn}\n", cn=_D(c.case(), "case_number"))
    c.w(
        "To {p}: Hi {n}, this is {s} from {dept}. Reminder: your appointment is {d} at {t}. "
        "Bring pay stubs and ID. Reply C to confirm.\n",
        p=_P(c.phone(style=c.pick("paren", "dash", "e164")), PHONE),
        n=_N(cl, c.pick("given", "title_family")),
        s=_N(cw, c.pick("given", "full")),
        dept=c.pick("DHS", "the Housing Authority", "Workforce Services"),
        d=_D(c.later(c.pick("mdy", "abbr", "long")), "appointment_date"),
        t=_D(c.time(), "time"),
    )
    c.w(
        "From client: {x}\n",
        x=c.pick("C", "c thank you", "cant make it can we do next week", "who is this"),
    )
    if c.chance(0.6):
        c.w(
            "From client: my new address is {a} pls update\n",
            a=_P(
                c.address(form=c.pick("line", "city", "full"), lower=c.chance(0.6), unit=0.5),
                US_ADDRESS,
            ),
        )
    if c.chance(0.4):
        c.w("From client: and my email changed to {e}\n", e=_P(c.email(cl), EMAIL))
    if c.chance(0.3):
        c.t("From client: my ")
        _dob(
            c,
            ("dob is ", "birthday is ", "date of birth "),
            style=c.pick("mdy", "mdY_nz", "mdy_dash"),
        )
        c.t(" if u need it\n")
    if c.chance(0.3):
        c.w(
            "From client: sending pic of my {what} {num}\n",
            what=c.pick("dl", "license", "drivers license"),
            num=_P(_dl_number(c.r, c.city.state), DRIVER_LICENSE),
        )
    elif c.chance(0.2):
        country, pp = _passport(c.r)
        c.w(
            "From client: i only have my {co} passport {pp} is that ok\n",
            co=country.lower() if country != "US" else "us",
            pp=_P(pp, PASSPORT),
        )
    c.w("To client: Thanks, updated. See you {wd}.\n", wd=_D(c.pick(*_WEEKDAYS), "weekday"))


# --------------------------------------------------------------------------------------

TEMPLATES: dict[str, tuple[Callable[[_Doc], None], ...]] = {
    "webform": (_wf_fields, _wf_contact, _wf_payment, _wf_for_parent, _wf_lost_id, _wf_vehicle),
    "voicemail": (_vm_callback, _vm_benefits, _vm_tax, _vm_spanish),
    "handover": (_ho_shift, _ho_casenote, _ho_tax_counter),
    "thread": (_th_forward, _th_reply, _th_portal),
    "inspection": (_in_rental, _in_code, _in_lead),
    "fieldnote": (_fn_outreach, _fn_aps, _fn_water),
    "letter": (_lt_agency, _lt_resident, _lt_landlord),
    "sms": (_sms_311, _sms_caseworker),
}
KINDS = tuple(TEMPLATES)
_WEIGHTS = {"voicemail": (4, 4, 3, 1)}


def make_documents(n_docs: int, seed: int) -> list[Document]:
    """``n_docs`` documents, with their decoys and parties, deterministic for ``seed``."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(rng.randrange(2**32))
    docs: list[Document] = []
    for i in range(n_docs):
        kind = KINDS[i % len(KINDS)]
        templates = TEMPLATES[kind]
        weights = _WEIGHTS.get(kind, (1,) * len(templates))
        which = rng.choices(range(len(templates)), weights=weights)[0]
        c = _Doc(rng, fake, kind)
        templates[which](c)
        text = "".join(c.parts)
        for span, value in zip(c.spans, c.values, strict=True):
            assert text[span.start : span.end] == value, (span, value)
        for decoy, value in zip(c.decoys, c.decoy_values, strict=True):
            assert text[decoy.start : decoy.end] == value, (decoy, value)
        check_document(text, c.spans, c.decoys)
        parties = Parties(
            names=tuple(c.names),
            emails=tuple(c.emails),
            phones=tuple(c.phones),
            addresses=tuple(c.addresses),
        )
        docs.append(Document(kind, which, text, list(c.spans), list(c.decoys), parties))
    return docs


def make_corpus(n_docs: int, seed: int) -> list[Doc]:
    """``n_docs`` labelled documents ``(text, [(start, end, type), ...])``."""
    return [d.doc() for d in make_documents(n_docs, seed)]
