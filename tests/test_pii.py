"""The one declaration of personal data."""

from __future__ import annotations

import attrs
import pytest

from civiccrm.models import (
    DIRECT,
    MODEL_CLASSES,
    QUASI,
    Agent,
    Case,
    CaseEvent,
    Citizen,
    ContactPoint,
    Interaction,
    Location,
    Organization,
    PersonalData,
    PostalAddress,
    personal_data_fields,
)
from civiccrm.models._pii import PII_KEY

D, Q = PersonalData.DIRECT, PersonalData.QUASI


def _decl(cls: type) -> dict[str, tuple[PersonalData, bool]]:
    return {f.name: (f.kind, f.declared) for f in personal_data_fields(cls)}


def test_citizen_declaration() -> None:
    assert _decl(Citizen) == {
        "contact_points": (D, False),
        "preferred_language": (Q, True),
        "external_ids": (D, True),
        "given_name": (D, True),
        "family_name": (D, True),
        "preferred_name": (D, True),
        "date_of_birth": (D, True),
        "accessibility_needs": (D, True),
        "vulnerable": (D, True),
        # consents hold a free-text note
        "consents": (D, False),
    }


def test_organization_name_is_public_record_but_contact_person_is_not() -> None:
    decl = _decl(Organization)
    assert "name" not in decl
    assert decl["contact_name"] == (D, True)


def test_case_free_text_and_location() -> None:
    assert _decl(Case) == {
        "title": (D, True),
        "description": (D, True),
        "media_url": (D, True),
        "location": (Q, False),
        "tags": (Q, True),
        "required_skills": (Q, True),
        "attributes": (D, True),
    }


def test_interaction_and_event_free_text() -> None:
    assert set(_decl(Interaction)) == {"subject", "body", "external_id"}
    assert set(_decl(CaseEvent)) == {"note"}


def test_nested_kinds() -> None:
    assert _decl(ContactPoint) == {"value": (D, True), "address": (D, False)}
    assert _decl(PostalAddress)["city"] == (Q, True)
    assert _decl(PostalAddress)["lines"] == (D, True)
    assert set(_decl(Location)) == {"address", "latitude", "longitude", "postal_code"}


def test_staff_records_declare_nothing() -> None:
    assert personal_data_fields(Agent) == ()


def test_status_type_and_codes_are_never_personal() -> None:
    for cls in MODEL_CLASSES:
        names = {f.name for f in personal_data_fields(cls)}
        assert not names & {"id", "status", "case_type", "priority", "channel", "kind", "version"}


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_declared_metadata_uses_the_shared_markers(cls: type) -> None:
    for f in attrs.fields(cls):
        if PII_KEY in f.metadata:
            assert f.metadata in (DIRECT, QUASI)


def test_not_an_attrs_class() -> None:
    with pytest.raises(TypeError):
        personal_data_fields(int)
