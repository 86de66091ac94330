"""
Usage that must pass ``mypy --strict``: how an agency developer writes against civiccrm.
CI type-checks this file; it is also imported by a test so that it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import civiccrm
from civiccrm.models import (
    Case,
    CaseStatus,
    Channel,
    Citizen,
    ContactPoint,
    Location,
    PersonalData,
    Priority,
    personal_data_fields,
    structure,
    to_json,
    unstructure,
)
from civiccrm.profile import Profile, load_profile, springfield_path


def open_pothole_case(profile: Profile, citizen: Citizen, size: str) -> Case:
    case_type = profile.case_type("001")
    answers = case_type.validate_attributes({"size": size})
    return Case(
        case_type=case_type.code,
        channel=Channel.MOBILE_APP,
        priority=Priority.HIGH if size == "large" else case_type.default_priority,
        requester=citizen.ref,
        location=Location(address="1200 Monroe St", latitude=39.80, longitude=-89.65),
        attributes=answers,
        opened_at=datetime(2026, 3, 8, 14, 0, tzinfo=UTC),
    )


def direct_fields(cls: type) -> list[str]:
    return [f.name for f in personal_data_fields(cls) if f.kind is PersonalData.DIRECT]


def run() -> str:
    profile = load_profile(springfield_path())
    citizen = Citizen(
        given_name="Ana",
        contact_points=[
            ContactPoint.email("ana@example.org"),
            ContactPoint.phone("217-555-0134", region="US"),
        ],
    )
    case = open_pothole_case(profile, citizen, "large")
    case = case.transition(CaseStatus.IN_PROGRESS, at=datetime(2026, 3, 8, 15, 0, tzinfo=UTC))
    raw: dict[str, object] = unstructure(case)
    again: Case = structure(raw, Case)
    assert again == case
    try:
        structure({"case_type": 1}, Case)
    except civiccrm.ValidationError as exc:
        problems: list[str] = exc.messages()
        assert problems
    return to_json(case)
