"""
Role-based access: the Springfield role matrix field by field, the masking rules, and
properties that hold for every valid record and every role.
"""

from __future__ import annotations

import doctest
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import AccessDeniedError, CivicCRMError
from civiccrm.models import (
    Agent,
    Case,
    CaseEvent,
    Channel,
    Citizen,
    Consent,
    ConsentStatus,
    ContactKind,
    ContactPoint,
    Direction,
    EventKind,
    Interaction,
    Location,
    Organization,
    PartyRef,
    PartyType,
    PersonalData,
    PostalAddress,
    make_converter,
    personal_data_fields,
)
from civiccrm.models._pii import PII_KEY
from civiccrm.privacy import access
from civiccrm.privacy.access import (
    REDACTED,
    check_write,
    default_redact,
    generalize,
    mask_coordinate,
    mask_email,
    mask_name,
    mask_phone,
    mask_text,
    view,
    visibility,
    visible_fields,
)
from civiccrm.profile import (
    ROLE_MODELS,
    WRITE_KINDS,
    Profile,
    Role,
    Visibility,
    load_profile,
    springfield_path,
)
from tests.strategies import case_events, cases, citizens, interactions, organizations

CLEAR, MASKED, HIDDEN = Visibility.CLEAR, Visibility.MASKED, Visibility.HIDDEN
CONV = make_converter()
SPRINGFIELD: Profile = load_profile(springfield_path())
ROLE_CODES = list(SPRINGFIELD.roles)
MODELS = list(ROLE_MODELS.values())
AT = datetime(2026, 4, 27, 14, 30, tzinfo=UTC)
CASE_ID = uuid.UUID("0196f0c8-0000-7000-8000-000000000001")


def doc(value: Any) -> Any:
    """A value as the JSON civiccrm stores for it (tuples as lists, dates as text)."""
    return json.loads(json.dumps(CONV.unstructure(value)))


# --------------------------------------------------------------------------------------
# Samples: each model with no personal data, and a filled value for every personal
# data field (long and distinctive enough that a leak of 4 characters is visible).

BASE: dict[type, Any] = {
    Citizen: Citizen(),
    Organization: Organization(name="Evergreen Property Holdings LLC"),
    Case: Case(
        case_type="001",
        reference="SR-2026-000123",
        requester=PartyRef(PartyType.CITIZEN, uuid.UUID(int=7)),
        queue="pw-streets",
        tags=(),
        opened_at=AT,
        external_ids={"open311": "tok-5521"},
    ),
    Interaction: Interaction(
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        occurred_at=AT,
        case_id=CASE_ID,
        duration_seconds=90,
    ),
    CaseEvent: CaseEvent(case_id=CASE_ID, kind=EventKind.NOTE_ADDED, at=AT, data={"n": 1}),
}

HOME = PostalAddress(
    lines=("1427 Evergreen Terrace", "Apartment 3B"),
    city="Springfield",
    region="Illinois",
    postal_code="62704",
    country="US",
    latitude=39.781721,
    longitude=-89.650148,
)
CONTACTS = (
    ContactPoint.email("jane.doe@example.org", preferred=True),
    ContactPoint.phone("(217) 555-0134", region="US", verified=True),
    ContactPoint.postal(HOME),
)
CONSENTS = (
    Consent(
        purpose="sms_updates",
        status=ConsentStatus.GRANTED,
        recorded_at=AT,
        channel=Channel.PHONE,
        note="Agreed on the phone; her son Bartholomew translated for her.",
    ),
)
LONG_TEXT = "Deep pothole in front of the house.\nMy neighbour Ned Flanders hit it twice."

FILLED: dict[type, dict[str, Any]] = {
    Citizen: {
        "contact_points": CONTACTS,
        "preferred_language": "es-MX",
        "consents": CONSENTS,
        "external_ids": {"benefits": "C-1043-7788", "tax": "TX-99881"},
        "given_name": "Jane",
        "family_name": "Doe-Whitaker",
        "preferred_name": "Janey",
        "date_of_birth": date(1984, 3, 14),
        "accessibility_needs": ("wheelchair", "interpreter"),
        "vulnerable": True,
    },
    Organization: {
        "contact_points": CONTACTS[:2],
        "preferred_language": "en-US",
        "consents": CONSENTS,
        "external_ids": {"license": "BL-2026-00412"},
        "contact_name": "Marjorie Bouvier",
    },
    Case: {
        "title": "Pothole outside 742 Evergreen Terrace",
        "description": LONG_TEXT,
        "media_url": "https://photos.springfield.example/742-evergreen.jpg",
        "location": Location(
            address="742 Evergreen Terrace",
            latitude=39.781721,
            longitude=-89.650148,
            address_id="ADDR-0042",
            postal_code="62704",
        ),
        "tags": ("hazard", "interpreter"),
        "required_skills": ("safeguarding",),
        "attributes": {
            "size": "large",
            "depth_cm": 12.5,
            "count": 3,
            "hazards": ("traffic", "bicycles"),
            "notes": "Near the Springfield Elementary crossing",
        },
    },
    Interaction: {
        "subject": "Re: pothole on Evergreen Terrace",
        "body": "Thanks Jane,\nthe crew will be there on Monday.",
        "external_id": "<20260427.1234@mail.springfield.gov>",
    },
    CaseEvent: {"note": "Called Mrs Simpson back about it"},
}

_POSTAL_MASKED = {
    "kind": "postal",
    "value": None,
    "address": {
        "lines": ["***"],
        "city": "Spr***",
        "region": "Ill***",
        "postal_code": "627***",
        "country": "US",
        "latitude": 39.78,
        "longitude": -89.65,
    },
    "use": None,
    "preferred": False,
    "verified": False,
}
_CONTACTS_MASKED = [
    {
        "kind": "email",
        "value": "j***@example.org",
        "address": None,
        "use": None,
        "preferred": True,
        "verified": False,
    },
    {
        "kind": "phone",
        "value": "***-**-0134",
        "address": None,
        "use": None,
        "preferred": False,
        "verified": True,
    },
    _POSTAL_MASKED,
]
_CONSENTS_MASKED = [{**doc(CONSENTS[0]), "note": REDACTED}]

#: What each filled field looks like masked, as stored JSON: the masking table applied.
MASKED_DOC: dict[type, dict[str, Any]] = {
    Citizen: {
        "contact_points": _CONTACTS_MASKED,
        "preferred_language": "es-***",
        "consents": _CONSENTS_MASKED,
        "external_ids": {"benefits": "C.", "tax": "T."},
        "given_name": "J.",
        "family_name": "D.",
        "preferred_name": "J.",
        "date_of_birth": None,
        "accessibility_needs": ["w.", "i."],
        "vulnerable": False,
    },
    Organization: {
        "contact_points": _CONTACTS_MASKED[:2],
        "preferred_language": "en-***",
        "consents": _CONSENTS_MASKED,
        "external_ids": {"license": "B."},
        "contact_name": "M.",
    },
    Case: {
        "title": "P.",
        "description": REDACTED,
        "media_url": REDACTED,
        "location": {
            "address": "742***",
            "latitude": 39.78,
            "longitude": -89.65,
            "address_id": "ADDR-0042",
            "postal_code": "627***",
        },
        "tags": ["haz***", "int***"],
        "required_skills": ["saf***"],
        "attributes": {
            "size": "l.",
            "depth_cm": REDACTED,
            "count": REDACTED,
            "hazards": ["t.", "b."],
            "notes": "N.",
        },
    },
    Interaction: {"subject": "R.", "body": REDACTED, "external_id": "<."},
    CaseEvent: {"note": "C."},
}


def filled(cls: type, field: str) -> Any:
    """The sample of ``cls`` with ``field`` filled and no other personal data."""
    return attrs.evolve(BASE[cls], **{field: FILLED[cls][field]})


def empty_value(cls: type, field: str) -> Any:
    default: Any = attrs.fields_dict(cls)[field].default
    if isinstance(default, attrs.Factory):
        return default.factory()
    return default


CELLS = [(cls, f.name) for cls in MODELS for f in personal_data_fields(cls)]
CELL_IDS = [f"{cls.__name__}.{name}" for cls, name in CELLS]


def test_samples_cover_every_personal_data_field() -> None:
    for cls in MODELS:
        names = [f.name for f in personal_data_fields(cls)]
        assert list(FILLED[cls]) == names, cls
        assert list(MASKED_DOC[cls]) == names, cls
        for name in names:
            assert getattr(BASE[cls], name) == empty_value(cls, name), (cls, name)
            assert FILLED[cls][name] != empty_value(cls, name), (cls, name)


# --------------------------------------------------------------------------------------
# The Springfield role matrix


def documented(role: str, cls: type, field: str) -> Visibility:
    """The Springfield roles as docs/profile.md describes them."""
    model = cls.__name__
    kind = {f.name: f.kind for f in personal_data_fields(cls)}[field]
    if role == "caseworker":
        masked = {"Citizen.external_ids", "Organization.external_ids", "Interaction.external_id"}
        return MASKED if f"{model}.{field}" in masked else CLEAR
    if role == "supervisor":
        return CLEAR
    if role == "analyst":
        return HIDDEN if kind is PersonalData.DIRECT else MASKED
    if role == "auditor":
        return MASKED
    if role == "public_portal":
        if f"{model}.{field}" in {"Case.title", "Case.description"}:
            return Visibility.REDACTED
        return MASKED if f"{model}.{field}" == "Case.location" else HIDDEN
    raise AssertionError(f"undocumented role {role}")


def configured(role: Role, cls: type, field: str) -> Visibility:
    """The visibility the profile gives, read straight from the role's keys."""
    kind = {f.name: f.kind for f in personal_data_fields(cls)}[field]
    keys = [f"{cls.__name__}.{field}", f"{cls.__name__}.*", kind.value]
    for key in keys:
        if key in role.fields:
            return role.fields[key]
    return role.default


def test_springfield_has_the_five_roles() -> None:
    assert ROLE_CODES == ["caseworker", "supervisor", "analyst", "auditor", "public_portal"]


@pytest.mark.parametrize("role_code", ROLE_CODES)
def test_profile_matches_the_documented_matrix(role_code: str) -> None:
    role = SPRINGFIELD.role(role_code)
    for cls, field in CELLS:
        expected = documented(role_code, cls, field)
        assert configured(role, cls, field) is expected, (cls.__name__, field)
        assert visibility(role, cls, field) is expected, (cls.__name__, field)
    for cls in MODELS:
        assert visible_fields(role, cls) == {
            f.name: documented(role_code, cls, f.name) for f in personal_data_fields(cls)
        }


def personal_leaves(obj: Any, field: str) -> Iterator[Any]:
    """The personal data values one top-level field holds, nested models included."""
    f = attrs.fields_dict(type(obj))[field]
    yield from _leaves(getattr(obj, field), declared=PII_KEY in f.metadata)


def _leaves(value: Any, *, declared: bool) -> Iterator[Any]:
    if attrs.has(type(value)):
        for f in attrs.fields(type(value)):
            inner = getattr(value, f.name)
            if PII_KEY in f.metadata:
                yield from _leaves(inner, declared=True)
            elif any(attrs.has(type(x)) for x in _items(inner)):
                yield from _leaves(inner, declared=False)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _leaves(item, declared=declared)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item, declared=declared)
    elif declared and value is not None:
        yield value


def _items(value: Any) -> list[Any]:
    if isinstance(value, tuple | list):
        return list(value)
    return [value]


def kept_on_purpose(obj: Any) -> set[str]:
    """What the masking rules keep of ``obj``'s contact points: domains, last 4 digits."""
    keep: set[str] = set()
    for cp in getattr(obj, "contact_points", ()):
        if cp.kind is ContactKind.EMAIL:
            keep.add("@" + cp.value.rpartition("@")[2])
        elif cp.kind is ContactKind.PHONE:
            keep.add(re.sub(r"\D", "", cp.value)[-4:])
    return keep


_MASK_TOKENS = re.compile(r"\[redacted\]|\*+-\*+-|\*+")


def revealed(masked: str) -> list[str]:
    """The parts of a masked string that come from the original (mask tokens removed)."""
    return [part for part in _MASK_TOKENS.split(masked) if part]


def assert_reveals_only_what_is_kept(clear: Any, seen: Any, field: str) -> None:
    keep = kept_on_purpose(clear)
    originals = [v for v in personal_leaves(clear, field) if isinstance(v, str)]
    masked = [v for v in personal_leaves(seen, field) if isinstance(v, str)]
    shown = [part for m in masked for part in revealed(m)]
    # No 4-character piece of an original value survives, but for what is kept.
    for original in originals:
        for i in range(len(original) - 3):
            piece = original[i : i + 4]
            if not any(piece in k for k in keep):
                assert not any(piece in part for part in shown), (field, piece, masked)
    # And what a masked value shows is at most 3 characters at a time, or kept on purpose.
    for m in masked:
        for part in revealed(m):
            assert len(part) <= 3 or part in keep, (field, m, part)
    # Coordinates keep 2 decimal places.
    for value in personal_leaves(seen, field):
        if isinstance(value, float):
            assert round(value, 2) == value, (field, value)


@pytest.mark.parametrize(("cls", "field"), CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("role_code", ROLE_CODES)
def test_role_matrix(role_code: str, cls: type, field: str) -> None:
    role = SPRINGFIELD.role(role_code)
    obj = filled(cls, field)
    seen = view(obj, role)
    assert type(seen) is cls
    # Every other field is untouched: non-personal fields, and the empty personal ones.
    for f in attrs.fields(cls):
        if f.name != field:
            assert getattr(seen, f.name) == getattr(obj, f.name), f.name
    expected = documented(role_code, cls, field)
    value = getattr(seen, field)
    if expected is CLEAR:
        assert value == FILLED[cls][field]
        assert seen == obj
    elif expected is HIDDEN:
        assert value == empty_value(cls, field)
    elif expected is Visibility.REDACTED:
        assert value == default_redact(FILLED[cls][field])
        assert value != FILLED[cls][field]
    else:
        assert value != FILLED[cls][field]
        assert doc(value) == MASKED_DOC[cls][field]
        assert_reveals_only_what_is_kept(obj, seen, field)
    # A view is a model that serializes as usual, and viewing it again changes nothing.
    json.dumps(CONV.unstructure(seen))
    assert view(seen, role) == seen


@pytest.mark.parametrize("role_code", ROLE_CODES)
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_all_fields_at_once(role_code: str, cls: type) -> None:
    role = SPRINGFIELD.role(role_code)
    obj = attrs.evolve(BASE[cls], **FILLED[cls])
    seen = view(obj, role)
    for name, shown in visible_fields(role, cls).items():
        value = getattr(seen, name)
        if shown is CLEAR:
            assert value == FILLED[cls][name]
        elif shown is HIDDEN:
            assert value == empty_value(cls, name)
        elif shown is Visibility.REDACTED:
            assert value == default_redact(FILLED[cls][name])
        else:
            assert doc(value) == MASKED_DOC[cls][name]
            assert_reveals_only_what_is_kept(obj, seen, name)


def test_a_role_that_sees_everything_gets_the_record_itself() -> None:
    obj = attrs.evolve(BASE[Citizen], **FILLED[Citizen])
    assert view(obj, SPRINGFIELD.role("supervisor")) is obj


def test_masked_contact_points_keep_their_flags() -> None:
    obj = attrs.evolve(BASE[Citizen], **FILLED[Citizen])
    seen = view(obj, SPRINGFIELD.role("auditor"))
    assert [cp.kind for cp in seen.contact_points] == [cp.kind for cp in obj.contact_points]
    assert [cp.preferred for cp in seen.contact_points] == [True, False, False]
    assert [cp.verified for cp in seen.contact_points] == [False, True, False]
    postal = seen.contact_points[2].address
    assert postal is not None
    assert postal.lines == ("***",)
    assert postal.country == "US"
    assert isinstance(postal.latitude, float)
    assert seen.consents[0].purpose == "sms_updates"
    assert seen.consents[0].recorded_at == AT


def test_public_portal_sees_a_coarse_report() -> None:
    case = attrs.evolve(BASE[Case], **FILLED[Case])
    seen = view(case, SPRINGFIELD.role("public_portal"))
    assert (seen.case_type, seen.status, seen.queue) == (case.case_type, case.status, case.queue)
    assert seen.title == "Pothole outside <US_ADDRESS>"
    assert seen.location is not None
    assert (seen.location.latitude, seen.location.longitude) == (39.78, -89.65)
    assert seen.description == default_redact(LONG_TEXT)
    assert seen.attributes == {}


# --------------------------------------------------------------------------------------
# Writes

DOCUMENTED_WRITES = {
    "caseworker": set(WRITE_KINDS) - {"erase", "export", "hold", "retention"},
    "supervisor": set(WRITE_KINDS),
    "analyst": set(),
    "auditor": {"export"},
    "public_portal": {"case"},
}


def test_write_kinds_are_the_documented_twelve() -> None:
    assert list(WRITE_KINDS) == [
        "citizen",
        "organization",
        "case",
        "interaction",
        "note",
        "transition",
        "assign",
        "erase",
        "export",
        "import",
        "hold",
        "retention",
    ]


@pytest.mark.parametrize("kind", list(WRITE_KINDS))
@pytest.mark.parametrize("role_code", ROLE_CODES)
def test_check_write(role_code: str, kind: str) -> None:
    role = SPRINGFIELD.role(role_code)
    assert role.writes == DOCUMENTED_WRITES[role_code]
    if kind in DOCUMENTED_WRITES[role_code]:
        check_write(role, kind)
        assert role.may_write(kind)
    else:
        with pytest.raises(AccessDeniedError) as info:
            check_write(role, kind)
        assert isinstance(info.value, PermissionError)
        assert isinstance(info.value, CivicCRMError)
        assert repr(role_code) in str(info.value)
        assert repr(kind) in str(info.value)
        assert not role.may_write(kind)


@pytest.mark.parametrize("kind", ["delete", "", "Case", "agent"])
def test_check_write_of_an_unknown_kind(kind: str) -> None:
    with pytest.raises(ValueError, match="is not a write kind"):
        check_write(SPRINGFIELD.role("supervisor"), kind)


# --------------------------------------------------------------------------------------
# Visibility precedence

PRECEDENCE = Role(
    code="test",
    name="Test",
    default=Visibility.CLEAR,
    fields={
        "Citizen.given_name": "clear",
        "Citizen.*": "masked",
        "direct": "hidden",
        "quasi": "masked",
        "Case.location": "hidden",
    },
)


@pytest.mark.parametrize(
    ("cls", "field", "expected"),
    [
        (Citizen, "given_name", CLEAR),  # the exact key beats Citizen.*
        (Citizen, "family_name", MASKED),  # Citizen.* beats direct
        (Citizen, "preferred_language", MASKED),  # Citizen.* (quasi says the same)
        (Organization, "contact_name", HIDDEN),  # direct
        (Organization, "preferred_language", MASKED),  # quasi
        (Case, "location", HIDDEN),  # the exact key beats quasi
        (Case, "title", HIDDEN),  # direct
        (Case, "status", CLEAR),  # not personal data: always clear
        (Interaction, "channel", CLEAR),
    ],
)
def test_precedence(cls: type, field: str, expected: Visibility) -> None:
    assert visibility(PRECEDENCE, cls, field) is expected


def test_default_covers_what_no_key_does() -> None:
    role = Role(code="t", name="T", default=Visibility.MASKED, fields={"quasi": "clear"})
    assert visibility(role, Citizen, "given_name") is MASKED
    assert visibility(role, Citizen, "preferred_language") is CLEAR
    assert Role(code="t", name="T").default is HIDDEN


def test_visibility_of_an_unknown_field_or_model() -> None:
    with pytest.raises(ValueError, match="no field 'shoe_size'"):
        visibility(PRECEDENCE, Citizen, "shoe_size")
    for cls in (Agent, ContactPoint, PostalAddress, dict):
        with pytest.raises(TypeError, match="roles do not cover"):
            visibility(PRECEDENCE, cls, "id")
        with pytest.raises(TypeError):
            visible_fields(PRECEDENCE, cls)
    agent = Agent(username="ed", display_name="Ed")
    with pytest.raises(TypeError):
        view(agent, PRECEDENCE)


# --------------------------------------------------------------------------------------
# The masking functions


@pytest.mark.parametrize(
    ("mask", "value", "expected"),
    [
        (mask_email, "jane.doe@example.org", "j***@example.org"),
        (mask_email, "j@example.org", "j***@example.org"),
        (mask_email, "not an address", "***"),
        (mask_phone, "+12175550134", "***-**-0134"),
        (mask_phone, "+442079460000", "***-**-0000"),
        (mask_phone, "+12", "***-**-****"),
        (mask_name, "Jane", "J."),
        (mask_name, " Núñez ", "N."),
        (mask_name, "  ", ""),
        (mask_text, "Ana", "A."),
        (mask_text, "x" * 40, "x."),
        (mask_text, "x" * 41, REDACTED),
        (mask_text, "one\ntwo", REDACTED),
        (mask_text, "one\rtwo", REDACTED),
        (mask_text, "one\u2028two", REDACTED),
        (mask_text, "", ""),
        (mask_text, REDACTED, REDACTED),
        (generalize, "62704", "627***"),
        (generalize, "Springfield", "Spr***"),
        (generalize, "IL", "IL***"),
        (generalize, "a**b", "a***"),
        (generalize, "", ""),
        (mask_coordinate, 39.781721, 39.78),
        (mask_coordinate, -89.655, -89.66),
    ],
)
def test_masking_functions(mask: Any, value: Any, expected: Any) -> None:
    assert mask(value) == expected
    assert mask(mask(value)) == mask(value)


@settings(max_examples=300)
@given(st.text())
def test_text_masks_are_idempotent_and_short(text: str) -> None:
    for mask in (mask_text, mask_name, generalize, mask_phone, mask_email):
        once = mask(text)
        assert mask(once) == once
        if mask in (mask_text, mask_name, generalize):
            assert all(len(part) <= 3 for part in revealed(once)), (mask, text, once)
    assert mask_text(text) == REDACTED or len(mask_text(text)) <= 2
    assert revealed(mask_phone(text)) in ([], [re.sub(r"[^0-9]", "", text)[-4:]])
    assert mask_email(text) == "***" or mask_email(text).endswith(text.rpartition("@")[2])


def test_module_doctests() -> None:
    result = doctest.testmod(access, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


# --------------------------------------------------------------------------------------
# Properties: any valid record, any role

records = st.one_of(citizens, organizations, cases, interactions, case_events)
_KEYS = [
    *(kind.value for kind in PersonalData),
    *(f"{name}.*" for name in ROLE_MODELS),
    *(f"{name}.{f.name}" for name, cls in ROLE_MODELS.items() for f in personal_data_fields(cls)),
]
roles = st.builds(
    Role,
    code=st.just("random"),
    name=st.just("Random"),
    default=st.sampled_from(Visibility),
    fields=st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(Visibility), max_size=8),
    writes=st.frozensets(st.sampled_from(list(WRITE_KINDS))),
)
any_role = st.sampled_from(list(SPRINGFIELD.roles.values())) | roles


@settings(max_examples=400)
@given(obj=records, role=any_role)
def test_views_of_any_record(obj: Any, role: Role) -> None:
    cls = type(obj)
    seen = view(obj, role)
    assert type(seen) is cls
    shown = visible_fields(role, cls)
    for f in attrs.fields(cls):
        value, original = getattr(seen, f.name), getattr(obj, f.name)
        how = shown.get(f.name, CLEAR)
        if how is CLEAR:
            assert value == original, f.name
        elif how is HIDDEN:
            assert value == empty_value(cls, f.name), f.name
        elif how is Visibility.REDACTED:
            # Free text loses the personal data the detectors find (tests of its own);
            # other values are masked.
            if isinstance(original, str):
                assert value == default_redact(original), f.name
        else:
            assert_reveals_only_what_is_kept(obj, seen, f.name)
    # Masking a masked view reveals nothing new: it is the same view.
    assert view(seen, role) == seen
    json.dumps(CONV.unstructure(seen))


@settings(max_examples=100)
@given(obj=records)
def test_stricter_roles_never_show_more(obj: Any) -> None:
    cls = type(obj)
    everything = view(obj, Role(code="all", name="All", default=CLEAR))
    masked = view(obj, Role(code="m", name="M", default=MASKED))
    nothing = view(obj, Role(code="none", name="None", default=HIDDEN))
    assert everything is obj
    for f in personal_data_fields(cls):
        assert getattr(nothing, f.name) == empty_value(cls, f.name)
    # Hiding a masked view gives the hidden view: masking kept nothing else.
    assert view(masked, Role(code="n", name="N", default=HIDDEN)) == nothing
    assert view(masked, Role(code="m", name="M", default=MASKED)) == masked


def test_docs_list_the_personal_data_fields() -> None:
    """docs/profile.md's table of personal data fields matches the models."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "profile.md").read_text("utf-8")
    rows = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\| `(\w+)` \|([^|]*)\|([^|]*)\|", line)
        if match and match.group(1) in ROLE_MODELS:
            rows[match.group(1)] = (
                re.findall(r"`(\w+)`", match.group(2)),
                re.findall(r"`(\w+)`", match.group(3)),
            )
    assert list(rows) == list(ROLE_MODELS)
    for name, cls in ROLE_MODELS.items():
        fields = personal_data_fields(cls)
        direct = [f.name for f in fields if f.kind is PersonalData.DIRECT]
        quasi = [f.name for f in fields if f.kind is PersonalData.QUASI]
        assert rows[name] == (direct, quasi), name
