"""Arbitrary garbage in: a ValidationError out, never another exception."""

from __future__ import annotations

import contextlib
import json

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm import ValidationError
from civiccrm.models import from_json, make_converter, structure, unstructure
from tests.strategies import MODELS

_CONVERTER = make_converter()
MODEL_IDS = sorted(MODELS, key=lambda c: c.__name__)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _structure_or_validation_error(data: object, cls: type) -> object | None:
    try:
        return structure(data, cls)
    except ValidationError as exc:
        assert exc.problems
        assert str(exc)
        assert all(isinstance(m, str) for m in exc.messages())
        return None


@pytest.mark.parametrize("cls", MODEL_IDS, ids=lambda c: c.__name__)
@settings(max_examples=50)
@given(garbage=json_values)
def test_arbitrary_data_gives_validation_error(cls: type, garbage: object) -> None:
    _structure_or_validation_error(garbage, cls)


@pytest.mark.parametrize("cls", MODEL_IDS, ids=lambda c: c.__name__)
@settings(max_examples=60)
@given(data=st.data(), garbage=json_values)
def test_one_bad_field_is_reported_at_its_path(
    cls: type, data: st.DataObject, garbage: object
) -> None:
    raw = unstructure(data.draw(MODELS[cls]))
    key = data.draw(st.sampled_from(sorted(raw)))
    raw[key] = garbage
    try:
        structure(raw, cls)
    except ValidationError as exc:
        paths = [p.path for p in exc.problems]
        field_names = {f.alias for f in attrs.fields(cls)}
        assert all(p.split(".")[0].split("[")[0] in field_names for p in paths), paths
        field = next(f for f in attrs.fields(cls) if f.alias == key)
        try:
            _CONVERTER.structure(garbage, field.type)
            value_alone_ok = True
        except Exception:  # noqa: BLE001 - any failure means the value alone is bad
            value_alone_ok = False
        if not value_alone_ok:
            # A value that is wrong on its own is reported at its own path; a value that
            # is fine alone can only fail a cross-field check, which names its partner.
            assert any(p == key or p.startswith((f"{key}.", f"{key}[")) for p in paths), paths


@pytest.mark.parametrize("cls", MODEL_IDS, ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data(), extra=st.text(min_size=1, max_size=10))
def test_unknown_keys_are_rejected(cls: type, data: st.DataObject, extra: str) -> None:
    raw = unstructure(data.draw(MODELS[cls]))
    if extra in raw:
        return
    raw[extra] = 1
    with pytest.raises(ValidationError) as info:
        structure(raw, cls)
    assert extra in [p.path for p in info.value.problems]


@pytest.mark.parametrize("cls", MODEL_IDS, ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(text=st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_arbitrary_json_text_gives_validation_error(cls: type, text: str) -> None:
    with contextlib.suppress(ValidationError):
        from_json(text, cls)


@given(garbage=json_values)
def test_garbage_documents_through_json(garbage: object) -> None:
    from civiccrm.models import Case

    with contextlib.suppress(ValidationError):
        from_json(json.dumps(garbage), Case)


def test_every_problem_at_once_with_paths() -> None:
    from civiccrm.models import Citizen

    bad = {
        "given_name": 5,
        "date_of_birth": "1990-02-30",
        "created_at": "2026-01-01T10:00:00",
        "preferred_language": "not a tag!",
        "contact_points": [
            {"kind": "email", "value": "no-at-sign"},
            {"kind": "phone", "value": "12"},
            {"kind": "pager", "value": "x"},
        ],
        "consents": [
            {"purpose": "Bad Purpose", "status": "granted", "recorded_at": "2026-01-01T00:00:00Z"}
        ],
        "external_ids": {"benefits": 12},
        "vulnerable": "yes",
        "shoe_size": 44,
    }
    with pytest.raises(ValidationError) as info:
        structure(bad, Citizen)
    paths = {p.path for p in info.value.problems}
    assert paths == {
        "given_name",
        "date_of_birth",
        "created_at",
        "preferred_language",
        "contact_points[0].value",
        "contact_points[1].value",
        "contact_points[2].kind",
        "consents[0].purpose",
        "external_ids.benefits",
        "vulnerable",
        "shoe_size",
    }
    assert info.value.record_type == "Citizen"
    assert "shoe_size: unknown field" in str(info.value)
    assert "unknown field @ $.shoe_size" in info.value.messages()


def test_naive_datetime_rejected_in_python_too() -> None:
    from datetime import datetime

    from civiccrm.models import CaseEvent, EventKind, new_id

    with pytest.raises(ValidationError) as info:
        CaseEvent(case_id=new_id(), kind=EventKind.OPENED, at=datetime(2026, 1, 1))
    assert info.value.problems[0].path == "at"
    assert "time zone" in info.value.problems[0].message


def test_strings_are_not_coerced() -> None:
    from civiccrm.models import Agent

    with pytest.raises(ValidationError) as info:
        structure({"username": "a", "display_name": "A", "capacity": "12", "active": "true"}, Agent)
    assert {p.path for p in info.value.problems} == {"capacity", "active"}


def test_consent_needs_its_time() -> None:
    from civiccrm.models import Consent, ConsentStatus

    with pytest.raises(ValidationError) as info:
        Consent(purpose="sms_updates", status=ConsentStatus.GRANTED, recorded_at=None)
    assert info.value.problems[0].path == "recorded_at"
