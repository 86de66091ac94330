"""Every model round-trips through the converter and through JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.models import MODEL_CLASSES, from_json, structure, to_json, unstructure
from tests.strategies import MODELS

JSON_SCALARS = (str, int, float, bool, type(None))


def _is_json_ready(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_ready(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_json_ready(v) for v in value)
    # Exact types: an enum member that happens to be a str subclass is not JSON-ready data.
    return type(value) in JSON_SCALARS


def test_every_model_has_a_strategy() -> None:
    assert set(MODELS) == set(MODEL_CLASSES)


@pytest.mark.parametrize("cls", sorted(MODELS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
@settings(max_examples=60)
@given(data=st.data())
def test_structure_unstructure_round_trip(cls: type, data: st.DataObject) -> None:
    obj = data.draw(MODELS[cls])
    raw = unstructure(obj)
    assert _is_json_ready(raw)
    assert structure(raw, cls) == obj


@pytest.mark.parametrize("cls", sorted(MODELS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data())
def test_json_round_trip(cls: type, data: st.DataObject) -> None:
    obj = data.draw(MODELS[cls])
    text = to_json(obj)
    assert from_json(text, cls) == obj
    # Serializing again gives the same document: the normal form is stable.
    assert to_json(from_json(text, cls)) == text


@settings(max_examples=30)
@given(MODELS[next(c for c in MODELS if c.__name__ == "Case")])
def test_datetimes_are_iso_utc_with_z(case: object) -> None:
    raw = unstructure(case)
    for key in ("opened_at", "due_at", "reported_at"):
        if raw[key] is not None:
            assert raw[key].endswith("Z")
            assert "+" not in raw[key]


def test_json_keeps_non_ascii_names_verbatim() -> None:
    from civiccrm.models import Citizen

    c = Citizen(given_name="Zoë", family_name="Nguyễn 阮")
    text = to_json(c)
    assert "Zoë" in text
    assert "Nguyễn 阮" in text
    assert json.loads(text)["family_name"] == "Nguyễn 阮"
