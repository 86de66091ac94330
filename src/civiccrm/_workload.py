"""
A realistic, seeded workload of citizens, organizations and cases for an agency
profile: what the demo, the examples and the benchmarks run on.

Everything is fictional: names from short mixed lists, phone numbers in the 555-01xx
range reserved for fiction, email addresses at the reserved example domains.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from civiccrm.errors import PolicyError
from civiccrm.models import (
    AttributeDatatype,
    AttributeDefinition,
    Case,
    CaseType,
    Channel,
    Citizen,
    Consent,
    ConsentStatus,
    ContactKind,
    ContactPoint,
    ContactUse,
    Location,
    Organization,
    OrganizationKind,
    PostalAddress,
    Priority,
    new_id,
)
from civiccrm.profile import Profile

__all__ = ["WorkloadGenerator"]

GIVEN_NAMES: Final = (
    "Ana",
    "James",
    "Maria",
    "Robert",
    "Aisha",
    "Wei",
    "José",
    "Linda",
    "Mohammed",
    "Zoë",
    "Patricia",
    "Darnell",
    "Priya",
    "Michael",
    "Nguyễn",
    "Olumide",
    "Siobhán",
    "Carlos",
    "Fatima",
    "David",
    "Emily",
    "Søren",
    "Keisha",
    "Hiroshi",
    "Grace",
    "Luis",
    "Mei",
    "Jennifer",
    "Tomás",
    "Yusuf",
    "Elizabeth",
    "Andre",
    "Chloé",
    "Samuel",
    "Guadalupe",
    "Kwame",
    "Barbara",
    "Ravi",
    "Noah",
    "Ingrid",
)
FAMILY_NAMES: Final = (
    "Smith",
    "Johnson",
    "García",
    "Williams",
    "Nguyen",
    "Brown",
    "Okafor",
    "Martínez",
    "Davis",
    "Kowalski",
    "Lopez",
    "Patel",
    "Wilson",
    "O'Brien",
    "Anderson",
    "Kim",
    "Thomas",
    "Hernández",
    "Jackson",
    "Müller",
    "White",
    "Haddad",
    "Harris",
    "Chen",
    "Martin",
    "Rossi",
    "Thompson",
    "Ivanova",
    "Moore",
    "Yamamoto",
    "Clark",
    "Mensah",
)
STREETS: Final = (
    "Monroe St",
    "Capitol Ave",
    "Adams St",
    "Washington St",
    "Jefferson St",
    "Grand Ave",
    "MacArthur Blvd",
    "Wabash Ave",
    "Lawrence Ave",
    "Ash St",
    "Cook St",
    "Peoria Rd",
    "Sangamon Ave",
    "Walnut St",
    "Spring St",
    "Lincoln Ave",
    "Dirksen Pkwy",
    "Stevenson Dr",
    "Chatham Rd",
    "Iles Ave",
    "Laurel St",
    "Converse Ave",
    "Clear Lake Ave",
    "Pasfield St",
)
ZIP_CODES: Final = ("62701", "62702", "62703", "62704", "62707", "62711", "62712")
BUSINESS_WORDS: Final = (
    "Prairie",
    "Capitol",
    "Lincoln",
    "Sangamon",
    "Riverside",
    "Northgate",
    "Heritage",
    "Union",
    "Lakeside",
    "Midtown",
)
BUSINESS_KINDS: Final = (
    "Bakery",
    "Property Management",
    "Construction",
    "Food Truck",
    "Auto Repair",
    "Diner",
    "Daycare",
    "Landscaping",
    "Hardware",
    "Dental Clinic",
)
CHANNEL_WEIGHTS: Final = (
    (Channel.PHONE, 35),
    (Channel.WEB, 25),
    (Channel.MOBILE_APP, 15),
    (Channel.EMAIL, 10),
    (Channel.WALK_IN, 5),
    (Channel.CHAT, 3),
    (Channel.SMS, 3),
    (Channel.SOCIAL, 2),
    (Channel.MAIL, 2),
)
DETAILS: Final = (
    "It has been like this for about a week.",
    "Neighbours have complained too.",
    "This is the second time I am reporting this.",
    "Please call me back before noon if possible.",
    "It is getting worse after the rain.",
    "Children walk past here on the way to school.",
    "I can be reached by email during the day.",
    "",
)
SPRINGFIELD_BOX: Final = (39.70, 39.85, -89.75, -89.55)

# Case types reported about a place rather than about the requester's own affairs;
# those may be anonymous and carry a location.
PLACE_DEPARTMENTS: Final = frozenset({"public-works", "public-health", "animal-services"})


class WorkloadGenerator:
    """
    Generate a seeded, realistic workload for ``profile``.

    The same seed and ``now`` give the same records, ids included.

    Args:
        profile: the agency profile whose case types to use.
        seed: the random seed.
        now: the end of the period the cases fall in (aware).
        days: how many days before ``now`` the cases spread over.
    """

    def __init__(
        self, profile: Profile, *, seed: int = 2026, now: datetime, days: int = 90
    ) -> None:
        self.profile = profile
        self.rng = random.Random(seed)
        self.now = now.astimezone(UTC)
        self.days = days
        self.case_types = [ct for ct in profile.case_types if ct.active]
        if not self.case_types:
            raise PolicyError("the profile has no active case types to generate cases of")
        channels, weights = zip(*CHANNEL_WEIGHTS, strict=True)
        self._channels: tuple[Channel, ...] = channels
        self._channel_weights: tuple[int, ...] = weights
        self._sequence = 0

    # ----------------------------------------------------------------------------------
    # Parties

    def _address(self) -> PostalAddress:
        rng = self.rng
        lat_lo, lat_hi, lon_lo, lon_hi = SPRINGFIELD_BOX
        return PostalAddress(
            lines=(f"{rng.randint(100, 3999)} {rng.choice(STREETS)}",),
            city="Springfield",
            region="IL",
            postal_code=rng.choice(ZIP_CODES),
            country="US",
            latitude=round(rng.uniform(lat_lo, lat_hi), 6),
            longitude=round(rng.uniform(lon_lo, lon_hi), 6),
        )

    def _phone(self) -> str:
        return f"+1217555{self.rng.randint(100, 199):04d}"

    def _past(self) -> datetime:
        return self.now - timedelta(seconds=self.rng.uniform(0, self.days * 86400))

    def citizen(self) -> Citizen:
        """One citizen with contact points, a language preference and consents."""
        rng = self.rng
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        created = self._past() - timedelta(days=rng.randint(0, 2000))
        handle = f"{given}.{family}".lower().replace("'", "")
        contacts = [
            ContactPoint(
                kind=ContactKind.PHONE, value=self._phone(), use=ContactUse.MOBILE, preferred=True
            )
        ]
        if rng.random() < 0.7:
            domain = rng.choice(("example.org", "example.com", "example.net"))
            contacts.append(ContactPoint.email(f"{handle}{rng.randint(1, 999)}@{domain}"))
        if rng.random() < 0.6:
            contacts.append(ContactPoint.postal(self._address(), use=ContactUse.HOME))
        consents = []
        if rng.random() < 0.5:
            consents.append(
                Consent(
                    purpose="sms_updates",
                    status=ConsentStatus.GRANTED,
                    recorded_at=created,
                    channel=Channel.WEB,
                )
            )
        language = rng.choices(("en", "es", "zh-Hans", "vi", "ar"), (80, 12, 3, 3, 2))[0]
        return Citizen(
            id=new_id(created, rng=rng),
            given_name=given,
            family_name=family,
            date_of_birth=None
            if rng.random() < 0.5
            else (self.now - timedelta(days=rng.randint(18 * 365, 90 * 365))).date(),
            contact_points=contacts,
            preferred_language=language,
            preferred_channel=rng.choice((Channel.PHONE, Channel.EMAIL, Channel.SMS, None)),
            consents=consents,
            accessibility_needs=("interpreter",) if language != "en" and rng.random() < 0.3 else (),
            vulnerable=rng.random() < 0.02,
            created_at=created,
            updated_at=created,
        )

    def citizens(self, n: int) -> Iterator[Citizen]:
        """``n`` citizens."""
        for _ in range(n):
            yield self.citizen()

    def organization(self) -> Organization:
        """One organization (a business, landlord or contractor)."""
        rng = self.rng
        kind = rng.choice(
            (
                OrganizationKind.BUSINESS,
                OrganizationKind.LANDLORD,
                OrganizationKind.CONTRACTOR,
                OrganizationKind.NONPROFIT,
            )
        )
        created = self._past() - timedelta(days=rng.randint(0, 3000))
        name = f"{rng.choice(BUSINESS_WORDS)} {rng.choice(BUSINESS_KINDS)}"
        return Organization(
            id=new_id(created, rng=rng),
            name=name,
            kind=kind,
            contact_name=f"{rng.choice(GIVEN_NAMES)} {rng.choice(FAMILY_NAMES)}",
            contact_points=[
                ContactPoint(kind=ContactKind.PHONE, value=self._phone(), use=ContactUse.WORK)
            ],
            external_ids={"business_licence": f"BL-{rng.randint(10000, 99999)}"},
            created_at=created,
            updated_at=created,
        )

    # ----------------------------------------------------------------------------------
    # Cases

    def form_value(self, attribute: AttributeDefinition) -> object:
        """A value for one intake question, as a web form would send it."""
        rng = self.rng
        dt = attribute.datatype
        if dt is AttributeDatatype.NUMBER:
            n = rng.randint(1, 12) if rng.random() < 0.8 else round(rng.uniform(10, 5000), 2)
            return str(n) if rng.random() < 0.5 else n
        if dt is AttributeDatatype.DATETIME:
            when = self.now + timedelta(days=rng.randint(-20, 30), hours=rng.randint(8, 17))
            return when.astimezone(self.profile.agency.zone).replace(microsecond=0).isoformat()
        if dt is AttributeDatatype.SINGLEVALUELIST:
            return rng.choice(attribute.values).key
        if dt is AttributeDatatype.MULTIVALUELIST:
            k = rng.randint(1, min(3, len(attribute.values)))
            return [o.key for o in rng.sample(attribute.values, k)]
        if dt is AttributeDatatype.TEXT:
            return rng.choice(DETAILS[:-1]) + " " + rng.choice(DETAILS)
        return f"{rng.choice(STREETS)} {rng.randint(1, 99)}"

    def form(self, case_type: CaseType) -> dict[str, object]:
        """Answers to a case type's intake questions: all required, some optional."""
        answers: dict[str, object] = {}
        for attribute in case_type.attributes:
            if not attribute.variable:
                continue
            if attribute.required or self.rng.random() < 0.6:
                answers[attribute.code] = self.form_value(attribute)
        return answers

    def case(self, parties: Sequence[Citizen] = ()) -> Case:
        """
        One new case of a random case type, its attributes validated against the type,
        requested by one of ``parties``. Place-based reports (public works, public
        health, animal services) are anonymous about a quarter of the time.
        """
        rng = self.rng
        case_type = rng.choice(self.case_types)
        place = case_type.department in PLACE_DEPARTMENTS
        requester = self.pick_requester(parties, anonymous_share=0.25 if place else 0.0)
        reported = self._past()
        channel = rng.choices(self._channels, self._channel_weights)[0]
        delay = timedelta(minutes=rng.uniform(0, 30 if channel is Channel.PHONE else 240))
        opened = min(reported + delay, self.now)
        priority = case_type.default_priority
        if priority is not Priority.URGENT and rng.random() < 0.05:
            priority = Priority(list(Priority)[priority.rank + 1])
        self._sequence += 1
        location = None
        if place:
            lat_lo, lat_hi, lon_lo, lon_hi = SPRINGFIELD_BOX
            location = Location(
                address=f"{rng.randint(100, 3999)} {rng.choice(STREETS)}",
                latitude=round(rng.uniform(lat_lo, lat_hi), 6),
                longitude=round(rng.uniform(lon_lo, lon_hi), 6),
            )
        detail = rng.choice(DETAILS)
        where = f" at {location.address}" if location and location.address else ""
        return Case(
            id=new_id(opened, rng=rng),
            case_type=case_type.code,
            reference=f"SR-{opened.year}-{self._sequence:06d}",
            title=f"{case_type.name}{where}",
            description=f"{case_type.name}{where}. {detail}".strip(),
            priority=priority,
            channel=channel,
            requester=requester.ref if requester is not None else None,
            location=location,
            queue=case_type.queue,
            attributes=case_type.validate_attributes(self.form(case_type)),
            reported_at=reported,
            opened_at=opened,
            updated_at=opened,
        )

    def pick_requester(
        self, parties: Sequence[Citizen], *, anonymous_share: float = 0.2
    ) -> Citizen | None:
        """
        A requester from ``parties``, skewed so that a few people report often (as in
        any 311 centre), or None for an anonymous report.
        """
        if not parties or self.rng.random() < anonymous_share:
            return None
        # Half the picks come from the first tenth of the pool: repeat reporters.
        if self.rng.random() < 0.5:
            return parties[self.rng.randrange(max(1, len(parties) // 10))]
        return self.rng.choice(parties)
