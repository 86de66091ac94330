"""
The trusted structurer: documents civiccrm wrote come back equal to what the strict
converter gives, with the same types inside; anything else raises, so that the caller
falls back to the strict converter.
"""

from __future__ import annotations

import copy
import enum
import json
import pickle
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm import ValidationError
from civiccrm._records import KINDS
from civiccrm.models import (
    AttributeValue,
    Case,
    CaseEvent,
    Citizen,
    EventKind,
    EventValue,
    Location,
    PartyRef,
    PartyType,
    PostalAddress,
    Priority,
    _trusted,
    make_converter,
)
from civiccrm.models._trusted import trusted_structurer
from tests.strategies import MODELS

try:
    import orjson
except ImportError:  # not a dependency; storage may use it when it is there
    orjson = None

CONV = make_converter()
MODEL_IDS = sorted(MODELS, key=lambda c: c.__name__)
STORED = sorted(KINDS, key=lambda c: c.__name__)
#: What the trusted structurer may raise for a document it cannot take.
FALLBACK = (KeyError, TypeError, ValueError)


def _doc(obj: object) -> dict[str, Any]:
    """The document civiccrm stores for ``obj``, parsed back."""
    doc: dict[str, Any] = json.loads(json.dumps(CONV.unstructure(obj)))
    return doc


def assert_same(a: object, b: object, path: str = "$") -> None:
    """``a`` equals ``b`` all the way down, with the same types (not merely equal)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} is not {type(b).__name__}"
    if attrs.has(type(a)):
        for f in attrs.fields(type(a)):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, tuple):
        assert isinstance(b, tuple)
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict)
        assert list(a) == list(b), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, datetime):
        assert isinstance(b, datetime)
        assert a.tzinfo is UTC, path
        assert a.utcoffset() == timedelta(0), path
        assert (a, a.fold) == (b, b.fold), path
    elif isinstance(a, uuid.UUID):
        assert isinstance(b, uuid.UUID)
        assert (a, a.int, str(a), hash(a)) == (b, b.int, str(b), hash(b)), path
        assert a.is_safe is b.is_safe, path
    elif isinstance(a, enum.Enum):
        assert a is b, path
    else:
        assert a == b, path


def check_document(cls: type, obj: object, doc: Mapping[str, Any]) -> None:
    """Everything that must hold for ``doc``, the stored form of the valid ``obj``."""
    before = copy.deepcopy(doc)
    strict = CONV.structure(doc, cls)
    for build in (trusted_structurer(cls),):
        trusted = build(doc)
        assert trusted == obj == strict
        assert_same(trusted, strict)
        assert hash(trusted) == hash(strict)
        assert CONV.unstructure(trusted) == CONV.unstructure(obj)
        # A complete, valid instance: evolve runs __init__ with every validator.
        assert attrs.evolve(trusted) == obj
        assert pickle.loads(pickle.dumps(trusted)) == obj
    # The document is left as it was, and the model shares no container with it.
    assert doc == before
    trusted = trusted_structurer(cls)(doc)
    for f in attrs.fields(cls):
        value = getattr(trusted, f.name)
        if isinstance(value, dict | list):
            assert value is not doc[f.name]


# --------------------------------------------------------------------------------------
# Valid documents


@pytest.mark.parametrize("cls", MODEL_IDS, ids=lambda c: c.__name__)
@settings(max_examples=30)
@given(data=st.data())
def test_stored_documents_come_back_equal(cls: type, data: st.DataObject) -> None:
    obj = data.draw(MODELS[cls])
    check_document(cls, obj, _doc(obj))
    # Straight from unstructure, without the JSON round trip.
    check_document(cls, obj, CONV.unstructure(obj))


def test_every_stored_kind_is_covered() -> None:
    assert set(STORED) <= set(MODELS)
    for cls in STORED:
        assert callable(trusted_structurer(cls))


@pytest.mark.skipif(orjson is None, reason="orjson is not installed")
@settings(max_examples=30)
@given(case=MODELS[Case], event=MODELS[CaseEvent], citizen=MODELS[Citizen])
def test_orjson_documents(case: Case, event: CaseEvent, citizen: Citizen) -> None:
    for obj in (case, event, citizen):
        doc = orjson.loads(json.dumps(CONV.unstructure(obj)))
        check_document(type(obj), obj, doc)


def test_the_structurer_is_made_once_per_class() -> None:
    assert trusted_structurer(Case) is trusted_structurer(Case)
    assert trusted_structurer(Case) is not trusted_structurer(CaseEvent)


def test_custom_attribute_lists_become_tuples_of_strings() -> None:
    case = Case(case_type="pothole", attributes={"sides": ("north", "south"), "n": 2, "x": 1.5})
    got = trusted_structurer(Case)(_doc(case))
    assert got.attributes == {"sides": ("north", "south"), "n": 2, "x": 1.5}
    assert type(got.attributes["sides"]) is tuple
    assert_same(got, CONV.structure(_doc(case), Case))


def test_other_offsets_are_converted_to_utc_as_the_strict_converter_does() -> None:
    event = CaseEvent(
        case_id=uuid.uuid4(), kind=EventKind.OPENED, at=datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    )
    doc = _doc(event)
    for text in ("2026-03-08T03:30:00-05:00", "2026-03-08T08:30:00+00:00", "2026-03-08T08:30Z"):
        doc["at"] = text
        got = trusted_structurer(CaseEvent)(doc)
        assert_same(got, CONV.structure(doc, CaseEvent))
        assert got.at == event.at
        assert got.at.tzinfo is UTC


def test_an_int_in_a_float_field_becomes_a_float() -> None:
    doc = _doc(Location(latitude=40.5, longitude=-89.25))
    doc["latitude"], doc["longitude"] = 40, -89
    got = trusted_structurer(Location)(doc)
    assert_same(got, CONV.structure(doc, Location))
    assert type(got.latitude) is float


def test_a_plain_enum_member_is_found_by_value() -> None:
    doc = _doc(Case(case_type="pothole", priority=Priority.URGENT))
    assert doc["priority"] == "urgent"
    assert trusted_structurer(Case)(doc).priority is Priority.URGENT


def test_the_document_is_trusted_not_validated() -> None:
    # What civiccrm wrote passed validation when it was written, so it is not checked
    # again: a blank title or a half set of coordinates comes back as it is. (The
    # strict converter, which the trusted path is no substitute for, refuses them.)
    doc = _doc(Case(case_type="pothole", title="Hole"))
    doc["title"] = "   "
    assert trusted_structurer(Case)(doc).title == "   "
    with pytest.raises(ValidationError):
        CONV.structure(doc, Case)
    address = _doc(PostalAddress(lines=("1 Main St",)))
    address["latitude"] = 40.0
    assert trusted_structurer(PostalAddress)(address).latitude == 40.0


# --------------------------------------------------------------------------------------
# Documents that are not civiccrm's: an exception for the caller to fall back on


@pytest.mark.parametrize("cls", STORED, ids=lambda c: c.__name__)
@settings(max_examples=15)
@given(data=st.data())
def test_a_missing_key_raises(cls: type, data: st.DataObject) -> None:
    """A missing field without a default raises; one with a default takes it (a document
    written before the field existed), exactly as the strict converter does."""
    doc = _doc(data.draw(MODELS[cls]))
    key = data.draw(st.sampled_from(sorted(doc)))
    del doc[key]
    field = attrs.fields_dict(cls)[key]
    if field.default is attrs.NOTHING:
        with pytest.raises(KeyError):
            trusted_structurer(cls)(doc)
    elif not (isinstance(field.default, attrs.Factory) and key == "id"):  # type: ignore[arg-type]
        try:
            strict = CONV.structure(doc, cls)
        except ValidationError:
            return  # the default makes the record invalid (no party and no case, say)
        assert_same(trusted_structurer(cls)(dict(doc)), strict)


@pytest.mark.parametrize("cls", STORED, ids=lambda c: c.__name__)
@settings(max_examples=15)
@given(data=st.data(), extra=st.text(max_size=10))
def test_an_unknown_key_raises(cls: type, data: st.DataObject, extra: str) -> None:
    doc = _doc(data.draw(MODELS[cls]))
    if extra in doc:
        return
    doc[extra] = None
    for build in (trusted_structurer(cls),):
        with pytest.raises(ValueError, match="unknown keys"):
            build(doc)


def test_missing_and_unknown_keys_in_nested_models_raise() -> None:
    case = Case(
        case_type="pothole",
        location=Location(address="1 Main St"),
        requester=PartyRef(PartyType.CITIZEN, uuid.UUID(int=7)),
    )
    doc = _doc(case)
    del doc["requester"]["id"]
    with pytest.raises(KeyError):
        trusted_structurer(Case)(doc)
    doc = _doc(case)
    del doc["location"]["address_id"]  # has a default: taken, as the converter does
    assert trusted_structurer(Case)(doc) == case
    doc = _doc(case)
    doc["location"]["floor"] = 2
    with pytest.raises(ValueError, match="unknown keys 'floor'"):
        trusted_structurer(Case)(doc)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("id", 123),
        ("id", None),
        ("id", "not-a-uuid"),
        ("id", ["12345678-1234-5678-1234-567812345678"]),
        ("status", "lost"),
        ("status", ["new"]),
        ("status", None),
        ("opened_at", "2026-03-08T08:30:00"),  # no time zone
        ("opened_at", "2026-03-08"),
        ("opened_at", "yesterday"),
        ("opened_at", 1772958600),
        ("requester", "someone"),
        ("requester", {"type": "citizen"}),
        ("requester", {"type": "robot", "id": "12345678-1234-5678-1234-567812345678"}),
        ("location", []),
        ("tags", "pothole"),
        ("tags", {"a": 1}),
        ("tags", None),
        ("attributes", ["a"]),
        ("attributes", {"size": {"w": 1}}),
        ("attributes", {"size": [1, 2]}),
        ("attributes", {"size": True}),
        ("external_ids", ["x"]),
        ("external_ids", "x"),
    ],
)
def test_a_value_of_the_wrong_shape_raises(key: str, value: object) -> None:
    doc = _doc(Case(case_type="pothole", location=Location(address="1 Main St")))
    doc[key] = value
    for build in (trusted_structurer(Case),):
        with pytest.raises(FALLBACK):
            build(doc)
    with pytest.raises(ValidationError):
        CONV.structure(doc, Case)


def test_other_spellings_of_an_id_fall_back() -> None:
    # uuid.UUID takes braces and URNs, and so does the strict converter; documents
    # civiccrm writes never have them, so the trusted path refuses them.
    doc = _doc(Case(case_type="pothole"))
    for text in (
        "{12345678-1234-5678-1234-567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
    ):
        doc["id"] = text
        with pytest.raises(ValueError, match="not a UUID"):
            trusted_structurer(Case)(doc)
        assert CONV.structure(doc, Case).id == uuid.UUID(text)


@pytest.mark.parametrize(
    ("key", "value"),
    [("data", {"k": [1]}), ("data", {"k": {}}), ("data", [["k", 1]]), ("kind", "exploded")],
)
def test_event_values_of_the_wrong_shape_raise(key: str, value: object) -> None:
    doc = _doc(CaseEvent(case_id=uuid.uuid4(), kind=EventKind.OPENED, at=datetime.now(UTC)))
    doc[key] = value
    with pytest.raises(FALLBACK):
        trusted_structurer(CaseEvent)(doc)


@pytest.mark.parametrize("doc", [None, [], "text", 5, ["id"]])
def test_a_document_that_is_not_an_object_raises(doc: Any) -> None:
    with pytest.raises(FALLBACK):
        trusted_structurer(Case)(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@pytest.mark.parametrize("cls", STORED, ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data(), garbage=json_values)
def test_any_change_raises_or_agrees_with_the_strict_converter(
    cls: type, data: st.DataObject, garbage: object
) -> None:
    doc = _doc(data.draw(MODELS[cls]))
    key = data.draw(st.sampled_from(sorted(doc)))
    doc[key] = garbage
    try:
        trusted = trusted_structurer(cls)(doc)
    except FALLBACK:
        return  # the caller falls back to the strict converter
    try:
        strict = CONV.structure(doc, cls)
    except Exception:  # noqa: BLE001 - the strict converter refuses it: nothing to compare
        return
    if CONV.unstructure(strict) == doc:
        # A document in the form civiccrm writes: the trusted path must agree exactly.
        assert_same(trusted, strict)


# --------------------------------------------------------------------------------------
# UUIDs


@given(st.uuids())
def test_fast_uuids_are_exactly_uuid_of_their_text(u: uuid.UUID) -> None:
    for text in (str(u), str(u).upper(), u.hex):
        fast = _trusted._uuid_checked(text)
        assert_same(fast, uuid.UUID(text))
        assert_same(_trusted._uuid_cached(text), uuid.UUID(text))


def _mangled(u: uuid.UUID, trick: str) -> str:
    text = str(u)
    return {
        "braces": "{" + text + "}",
        "urn": "urn:uuid:" + text,
        "spaces": text.replace("-", " "),
        "space-pairs": text[:8] + " " + text[9:],
        "plus": "+" + text[1:],
        "underscore": text[:7] + "_" + text[8:],
        "short": text[:-1],
        "long": text + "0",
        "hyphens": text.replace("-", "--"),
        "0x": "0x" + text[2:],
        "non-hex": text[:-1] + "g",
    }[trick]


@given(
    u=st.uuids(),
    trick=st.sampled_from(
        [
            "braces",
            "urn",
            "spaces",
            "space-pairs",
            "plus",
            "underscore",
            "short",
            "long",
            "hyphens",
            "0x",
            "non-hex",
        ]
    ),
)
def test_fast_uuids_either_agree_or_raise(u: uuid.UUID, trick: str) -> None:
    text = _mangled(u, trick)
    try:
        fast = _trusted._uuid_checked(text)
    except ValueError as exc:
        assert "not a UUID" in str(exc)
        return
    assert_same(fast, uuid.UUID(text))


@given(st.text(max_size=40))
def test_fast_uuids_of_any_text_agree_or_raise(text: str) -> None:
    try:
        fast = _trusted._uuid_checked(text)
    except ValueError as exc:
        assert "not a UUID" in str(exc)
        return
    assert_same(fast, uuid.UUID(text))


def test_the_uuid_cache_is_bounded() -> None:
    for i in range(_trusted._UUID_CACHE_SIZE + 10):
        _trusted._uuid_cached(str(uuid.UUID(int=i)))
    assert len(_trusted._UUID_CACHE) <= _trusted._UUID_CACHE_SIZE
    text = str(uuid.UUID(int=7))
    assert _trusted._uuid_cached(text) == uuid.UUID(text)


# --------------------------------------------------------------------------------------
# Other attrs classes: what the generator supports and what it refuses


class Color(enum.Enum):
    RED = 1
    GREEN = 2


@attrs.frozen(kw_only=True, cache_hash=True)
class Hashed:
    id: uuid.UUID
    at: datetime
    tags: tuple[str, ...] = ()


@attrs.frozen(kw_only=True, slots=False)
class Unslotted:
    id: uuid.UUID
    day: date | None = None
    color: Color = Color.RED


@attrs.frozen(kw_only=True)
class Base:
    id: uuid.UUID


@attrs.frozen(kw_only=True)
class Derived(Base):
    colors: tuple[Color, ...] = ()
    when: tuple[datetime, ...] = ()
    grid: tuple[tuple[float, ...], ...] = ()
    maybe: dict[str, datetime | None] = attrs.field(factory=dict, hash=False)
    scores: dict[str, float] = attrs.field(factory=dict, hash=False)
    answers: dict[str, AttributeValue] | None = attrs.field(default=None, hash=False)
    facts: Mapping[str, EventValue] = attrs.field(factory=dict, hash=False)
    hashed: Hashed | None = None


@attrs.frozen(kw_only=True)
class Node:
    name: str
    children: tuple[Node, ...] = ()


@attrs.define(kw_only=True)
class Mutable:
    name: str
    count: int = 0


HASHED = Hashed(id=uuid.uuid4(), at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), tags=("a",))


@pytest.mark.parametrize(
    ("cls", "obj"),
    [
        (Hashed, HASHED),
        (Unslotted, Unslotted(id=uuid.uuid4(), day=date(2026, 2, 28), color=Color.GREEN)),
        (Derived, Derived(id=uuid.uuid4())),
        (
            Derived,
            Derived(
                id=uuid.uuid4(),
                colors=(Color.GREEN, Color.RED),
                when=(HASHED.at, datetime(1, 1, 1, tzinfo=UTC)),
                grid=((1.0, 2.5), (), (-0.0,)),
                maybe={"a": None, "b": HASHED.at},
                scores={"x": 1.5, "y": 2.0},
                answers={"size": ("s", "m"), "n": 3},
                facts={"ok": True, "n": None, "f": 0.5},
                hashed=HASHED,
            ),
        ),
        (Node, Node(name="root", children=(Node(name="a", children=(Node(name="b"),)),))),
        (Mutable, Mutable(name="m", count=3)),
    ],
    ids=["cache_hash", "no_slots", "empty", "nested_types", "recursive", "mutable"],
)
def test_other_attrs_classes(cls: type, obj: object) -> None:
    doc = _doc(obj)
    for build in (trusted_structurer(cls),):
        got = build(doc)
        assert got == obj
        assert_same(got, CONV.structure(doc, cls))
        if cls.__hash__ is not None:
            assert hash(got) == hash(obj)
            assert hash(got) == hash(obj)  # the cached hash, the second time
        assert attrs.evolve(got) == obj


def test_the_hash_cache_starts_empty() -> None:
    got = trusted_structurer(Hashed)(_doc(HASHED))
    assert got._attrs_cached_hash is None  # type: ignore[attr-defined]
    assert hash(got) == hash(HASHED)


@attrs.frozen
class WithList:
    items: list[int]


@attrs.frozen
class WithAny:
    value: Any


@attrs.frozen
class WithSet:
    keys: set[str]


@attrs.frozen
class WithPair:
    pair: tuple[int, str]


@attrs.frozen
class WithIntKeys:
    counts: dict[int, str]


@attrs.frozen
class WithUnion:
    value: int | str


@attrs.frozen
class WithBytes:
    data: bytes


@attrs.frozen
class WithBadNested:
    inner: WithList | None = None


@attrs.frozen
class WithNoInit:
    name: str
    size: int = attrs.field(init=False, default=0)


@pytest.mark.parametrize(
    ("cls", "where"),
    [
        (WithList, "WithList.items"),
        (WithAny, "WithAny.value"),
        (WithSet, "WithSet.keys"),
        (WithPair, "WithPair.pair"),
        (WithIntKeys, "WithIntKeys.counts"),
        (WithUnion, "WithUnion.value"),
        (WithBytes, "WithBytes.data"),
        (WithBadNested, "WithList.items"),
        (WithNoInit, "WithNoInit.size"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_unsupported_types_are_refused_when_generating(cls: type, where: str) -> None:
    with pytest.raises(TypeError, match=where):
        trusted_structurer(cls)
    # Refused every time, not cached as half made.
    with pytest.raises(TypeError):
        trusted_structurer(cls)


@pytest.mark.parametrize("cls", [dict, int, type("Plain", (), {})])
def test_only_attrs_classes(cls: type) -> None:
    with pytest.raises(TypeError, match="not an attrs class"):
        trusted_structurer(cls)
