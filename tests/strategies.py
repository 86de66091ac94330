"""Hypothesis strategies for every civiccrm model."""

from __future__ import annotations

from datetime import UTC, date, datetime

import phonenumbers
from hypothesis import strategies as st

from civiccrm.models import (
    Agent,
    AttributeDatatype,
    AttributeDefinition,
    AttributeOption,
    BulkJob,
    Case,
    CaseEvent,
    CaseStatus,
    CaseType,
    Channel,
    Citizen,
    Consent,
    ConsentStatus,
    ContactKind,
    ContactPoint,
    ContactUse,
    DeliveryStatus,
    Department,
    Direction,
    Disposal,
    EventKind,
    Interaction,
    LegalHold,
    Location,
    MailAttachment,
    MailOutcome,
    MailReceipt,
    MessageStatus,
    Organization,
    OrganizationKind,
    OutboxMessage,
    PartyRef,
    PartyType,
    PostalAddress,
    Priority,
    QuarantinedMail,
    Queue,
    RetentionRun,
    Rotation,
    ServiceType,
    Survey,
)

# Extreme dates: from year 2 to year 9998, so that every time zone's offset still
# converts to UTC (year 1 at +05:00 is before the first representable UTC instant).
aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()
) | st.datetimes(
    timezones=st.just(UTC), min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
)
opt_datetimes = st.none() | aware_datetimes
dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
# Any text, non-ASCII included, with at least one visible character.
visible_text = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
opt_text = st.none() | st.text(max_size=200)
opt_visible = st.none() | visible_text
slugs = st.from_regex(r"[a-z0-9]{1,8}([-_][a-z0-9]{1,8}){0,2}", fullmatch=True)
codes = st.text(min_size=1, max_size=12).filter(lambda s: s == s.strip() and s != "")
language_tags = st.sampled_from(
    [
        "en",
        "es",
        "es-MX",
        "zh-Hant-TW",
        "sr-Latn-RS",
        "ar",
        "de-CH-1996",
        "vi",
        "x-klingon",
        "yue-Hant",
    ]
)
finite = st.floats(allow_nan=False, allow_infinity=False)
latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)

_local = st.from_regex(r"[a-z0-9](?:[a-z0-9_+-]|\.(?=[a-z0-9])){0,15}", fullmatch=True)
# Labels join with single hyphens: "ab--" is how punycode starts, which email-validator
# rightly refuses in a label that is not punycode.
_domain = st.from_regex(
    r"[a-z0-9]{1,6}(?:-[a-z0-9]{1,6}){0,2}(?:\.[a-z]{2,6}){1,2}", fullmatch=True
).filter(
    lambda d: (
        d.split(".")[-1]
        not in {
            "local",
            "localhost",
            "invalid",
            "test",
            "onion",
            "arpa",
            "example",
            "internal",
            "home",
            "lan",
            "corp",
            "alt",
        }
    )
)
emails = st.builds(lambda local, domain: f"{local}@{domain}.org", _local, _domain)


def _example_numbers() -> list[str]:
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                out.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return out


phones = st.sampled_from(_example_numbers()) | st.integers(100, 199).map(
    lambda n: f"+1217555{n:04d}"
)

postal_addresses = st.builds(
    PostalAddress,
    lines=st.lists(visible_text, min_size=1, max_size=3).map(tuple),
    city=opt_text,
    region=opt_text,
    postal_code=opt_text,
    country=st.none() | st.sampled_from(["US", "GB", "DE", "MX", "VN"]),
    latitude=st.none(),
    longitude=st.none(),
) | st.builds(
    PostalAddress,
    lines=st.lists(visible_text, min_size=1, max_size=3).map(tuple),
    latitude=latitudes,
    longitude=longitudes,
)

_flags = {
    "use": st.none() | st.sampled_from(ContactUse),
    "preferred": st.booleans(),
    "verified": st.booleans(),
}
contact_points = (
    st.builds(ContactPoint, kind=st.just(ContactKind.EMAIL), value=emails, **_flags)
    | st.builds(ContactPoint, kind=st.just(ContactKind.PHONE), value=phones, **_flags)
    | st.builds(ContactPoint, kind=st.just(ContactKind.POSTAL), address=postal_addresses, **_flags)
)
consents = st.builds(
    Consent,
    purpose=slugs,
    status=st.sampled_from(ConsentStatus),
    recorded_at=aware_datetimes,
    channel=st.none() | st.sampled_from(Channel),
    expires_at=opt_datetimes,
    note=opt_text,
)
external_ids = st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3)
_party = {
    "id": st.uuids(),
    "contact_points": st.lists(contact_points, max_size=3).map(tuple),
    "preferred_language": st.none() | language_tags,
    "preferred_channel": st.none() | st.sampled_from(Channel),
    "consents": st.lists(consents, max_size=2).map(tuple),
    "external_ids": external_ids,
    "created_at": opt_datetimes,
    "updated_at": opt_datetimes,
    "version": st.integers(0, 2**31),
}
citizens = st.builds(
    Citizen,
    given_name=opt_visible,
    family_name=opt_visible,
    preferred_name=opt_visible,
    date_of_birth=st.none() | dates,
    accessibility_needs=st.lists(st.text(max_size=12), max_size=3).map(tuple),
    vulnerable=st.booleans(),
    **_party,
)
organizations = st.builds(
    Organization,
    name=visible_text,
    kind=st.sampled_from(OrganizationKind),
    contact_name=opt_visible,
    **_party,
)
party_refs = st.builds(PartyRef, type=st.sampled_from(PartyType), id=st.uuids())
locations = st.builds(
    Location,
    address=visible_text,
    latitude=st.none(),
    longitude=st.none(),
    address_id=st.none() | st.text(),
    postal_code=opt_visible,
) | st.builds(Location, address=opt_visible, latitude=latitudes, longitude=longitudes)
attribute_values = (
    st.text(max_size=50)
    | st.integers(-(2**53), 2**53)
    | finite
    | st.lists(st.text(max_size=10), max_size=4).map(tuple)
)
cases = st.builds(
    Case,
    id=st.uuids(),
    case_type=visible_text,
    reference=st.none() | st.text(max_size=20),
    title=opt_visible,
    description=opt_text,
    media_url=opt_visible,
    status=st.sampled_from(CaseStatus),
    priority=st.sampled_from(Priority),
    channel=st.sampled_from(Channel),
    requester=st.none() | party_refs,
    location=st.none() | locations,
    queue=st.none() | slugs,
    assignee=st.none() | st.uuids(),
    tags=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    required_skills=st.lists(slugs, max_size=3).map(tuple),
    attributes=st.dictionaries(st.text(max_size=10), attribute_values, max_size=4),
    parent_id=st.none(),
    duplicate_of=st.none(),
    reported_at=opt_datetimes,
    opened_at=opt_datetimes,
    first_response_at=opt_datetimes,
    resolved_at=opt_datetimes,
    closed_at=opt_datetimes,
    updated_at=opt_datetimes,
    response_due_at=opt_datetimes,
    due_at=opt_datetimes,
    district=st.none() | slugs,
    response_seconds=st.none() | st.integers(0, 10**9),
    response_met=st.none() | st.booleans(),
    resolution_seconds=st.none() | st.integers(0, 10**9),
    resolution_met=st.none() | st.booleans(),
    resolution_code=st.none() | st.text(max_size=10),
    satisfaction=st.none() | st.integers(1, 5),
    reopen_count=st.integers(0, 10),
    external_ids=external_ids,
    version=st.integers(0, 2**31),
)
interactions = st.builds(
    Interaction,
    id=st.uuids(),
    channel=st.sampled_from(Channel),
    direction=st.sampled_from([Direction.INBOUND, Direction.INTERNAL]),
    occurred_at=aware_datetimes,
    party=st.none() | party_refs,
    case_id=st.uuids(),
    author_id=st.none() | st.uuids(),
    subject=opt_text,
    body=opt_text,
    external_id=st.none() | st.text(max_size=30),
    duration_seconds=st.none() | st.integers(0, 86400),
) | st.builds(
    Interaction,
    channel=st.sampled_from(Channel),
    direction=st.just(Direction.OUTBOUND),
    occurred_at=aware_datetimes,
    party=party_refs,
    body=opt_text,
    delivery_status=st.none() | st.sampled_from(DeliveryStatus),
)
agents = st.builds(
    Agent,
    id=st.uuids(),
    username=visible_text,
    display_name=visible_text,
    email=st.none() | emails,
    role=slugs,
    queues=st.lists(slugs, max_size=3).map(tuple),
    skills=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    languages=st.lists(language_tags, max_size=3).map(tuple),
    capacity=st.none() | st.integers(0, 1000),
    active=st.booleans(),
    in_rotation=st.booleans(),
    calendar=st.none() | st.text(max_size=10),
    created_at=opt_datetimes,
    version=st.integers(0, 100),
)
departments = st.builds(Department, code=slugs, name=visible_text, description=opt_text)
queues = st.builds(Queue, code=slugs, name=visible_text, department=slugs, description=opt_text)
attribute_options = st.builds(AttributeOption, key=codes, name=visible_text)


@st.composite
def attribute_definitions(draw: st.DrawFn) -> AttributeDefinition:
    datatype = draw(st.sampled_from(AttributeDatatype))
    values: tuple[AttributeOption, ...] = ()
    if datatype.is_list:
        options = draw(
            st.lists(attribute_options, min_size=1, max_size=5, unique_by=lambda o: o.key)
        )
        values = tuple(options)
    variable = draw(st.booleans())
    return AttributeDefinition(
        code=draw(codes),
        datatype=datatype,
        description=draw(visible_text),
        required=variable and draw(st.booleans()),
        variable=variable,
        order=draw(st.none() | st.integers(0, 100)),
        datatype_description=draw(opt_text),
        values=values,
    )


case_types = st.builds(
    CaseType,
    code=codes,
    name=visible_text,
    description=opt_text,
    department=slugs,
    queue=st.none() | slugs,
    group=opt_text,
    keywords=st.lists(st.text(max_size=10), max_size=3).map(tuple),
    default_priority=st.sampled_from(Priority),
    type=st.sampled_from(ServiceType),
    active=st.booleans(),
    attributes=st.lists(attribute_definitions(), max_size=4, unique_by=lambda a: a.code).map(tuple),
)
event_values = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=20)
case_events = st.builds(
    CaseEvent,
    id=st.uuids(),
    case_id=st.uuids(),
    kind=st.sampled_from(EventKind),
    at=aware_datetimes,
    actor=st.none() | st.uuids(),
    from_status=st.none() | st.sampled_from(CaseStatus),
    to_status=st.none() | st.sampled_from(CaseStatus),
    note=opt_text,
    data=st.dictionaries(st.text(max_size=10), event_values, max_size=4),
)

rotations = st.builds(
    Rotation,
    id=slugs,
    pointer=st.none() | visible_text,
    assigned=st.integers(0, 10**6),
    updated_at=opt_datetimes,
    version=st.integers(0, 100),
)
bulk_jobs = st.builds(
    BulkJob,
    id=visible_text,
    operation=slugs,
    params=st.text(max_size=40),
    status=st.sampled_from(["running", "done"]),
    selected=st.integers(0, 10**6),
    changed=st.integers(0, 10**6),
    skipped=st.integers(0, 10**6),
    waiting=st.integers(0, 10**6),
    reasons=st.text(max_size=40),
    actor=st.none() | st.uuids(),
    actor_name=st.none() | visible_text,
    started_at=opt_datetimes,
    finished_at=opt_datetimes,
    version=st.integers(0, 100),
)

retention_runs = st.builds(
    RetentionRun,
    id=visible_text,
    as_of=aware_datetimes,
    schedules=st.text(max_size=40),
    status=st.sampled_from(["running", "done"]),
    counts=st.text(max_size=40),
    disposed=st.integers(0, 10**6),
    digest=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    batches=st.integers(0, 10**4),
    actor=st.none() | st.uuids(),
    actor_name=st.none() | visible_text,
    started_at=opt_datetimes,
    finished_at=opt_datetimes,
)
disposals = st.builds(
    Disposal,
    id=visible_text,
    record_class=st.sampled_from(["case", "interaction"]),
    record_id=visible_text,
    schedule=slugs,
    disposition=st.sampled_from(["destroy", "anonymise", "archive", "review"]),
    run=visible_text,
    at=aware_datetimes,
)
legal_holds = st.builds(
    LegalHold,
    id=visible_text,
    reason=visible_text,
    authority=visible_text,
    placed_at=aware_datetimes,
    placed_by=st.text(max_size=20),
    cases=st.lists(st.uuids().map(str), min_size=1, max_size=3),
    release_reason=st.text(max_size=20),
)

outbox_messages = st.builds(
    OutboxMessage,
    id=st.uuids(),
    key=visible_text,
    channel=slugs,
    recipient=st.text(max_size=40),
    party=st.none() | party_refs,
    case_id=st.none() | st.uuids(),
    reference=st.none() | st.text(max_size=20),
    event=st.none() | slugs,
    template=st.none() | slugs,
    language=st.none() | st.sampled_from(["en", "es", "zh-Hant"]),
    subject=opt_text,
    body=st.text(max_size=200),
    status=st.sampled_from(MessageStatus),
    attempts=st.integers(0, 10),
    created_at=aware_datetimes,
    next_attempt_at=opt_datetimes,
    attempted_at=opt_datetimes,
    sent_at=opt_datetimes,
    error=st.none() | slugs,
    interaction_id=st.none() | st.uuids(),
    survey_id=st.none() | st.uuids(),
    message_id=opt_visible,
    version=st.integers(0, 100),
)
surveys = st.builds(
    Survey,
    id=st.uuids(),
    case_id=st.uuids(),
    party=st.none() | party_refs,
    token_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    issued_at=aware_datetimes,
    expires_at=opt_datetimes,
    score=st.none() | st.integers(1, 5),
    comment=opt_text,
    responded_at=opt_datetimes,
    withdrawn_at=opt_datetimes,
    version=st.integers(0, 100),
)
mail_attachments = st.builds(
    MailAttachment,
    filename=opt_visible,
    content_type=st.sampled_from(["image/jpeg", "application/pdf", "text/plain"]),
    size=st.integers(0, 10**9),
    sha256=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
mail_receipts = st.builds(
    MailReceipt,
    id=st.uuids(),
    key=visible_text,
    mailbox=slugs,
    received_at=aware_datetimes,
    outcome=st.sampled_from(MailOutcome),
    case_id=st.none() | st.uuids(),
    interaction_id=st.none() | st.uuids(),
    party_id=st.none() | st.uuids(),
    quarantine_id=st.none() | st.uuids(),
    opened_case=st.booleans(),
    threaded_by=st.none() | slugs,
    reason=opt_text,
    digest=st.text(alphabet="0123456789abcdef", max_size=64),
    notes=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    attachments=st.lists(mail_attachments, max_size=3).map(tuple),
    version=st.integers(0, 100),
)
quarantined_mail = st.builds(
    QuarantinedMail,
    id=st.uuids(),
    mailbox=slugs,
    received_at=aware_datetimes,
    reason=visible_text,
    size=st.integers(0, 10**9),
    raw=st.text(max_size=100),
    notes=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    retries=st.integers(0, 10),
    resolved_at=opt_datetimes,
    version=st.integers(0, 100),
)

#: Every model with its strategy.
MODELS = {
    MailAttachment: mail_attachments,
    MailReceipt: mail_receipts,
    OutboxMessage: outbox_messages,
    QuarantinedMail: quarantined_mail,
    Survey: surveys,
    Agent: agents,
    BulkJob: bulk_jobs,
    Disposal: disposals,
    LegalHold: legal_holds,
    RetentionRun: retention_runs,
    Rotation: rotations,
    AttributeDefinition: attribute_definitions(),
    AttributeOption: attribute_options,
    Case: cases,
    CaseEvent: case_events,
    CaseType: case_types,
    Citizen: citizens,
    Consent: consents,
    ContactPoint: contact_points,
    Department: departments,
    Interaction: interactions,
    Location: locations,
    Organization: organizations,
    PartyRef: party_refs,
    PostalAddress: postal_addresses,
    Queue: queues,
}
