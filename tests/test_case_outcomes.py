"""
What the CRM stamps on a case for reports: its district (from the profile's district
map) and its SLA outcome (business time to first response and to resolution, and
whether each was on time), kept in step with the SLA clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import civiccrm
from civiccrm import CRM, FixedClock
from civiccrm.adapters._base import Query
from civiccrm.models import Case, CaseStatus, Location
from civiccrm.profile import load_profile, springfield_path

PROFILE = load_profile(springfield_path())
#: Tuesday 3 February 2026, 09:00 in Springfield (CST, UTC-6): City Hall is open 08-12
#: and 13-17 on working days.
TUESDAY_9 = datetime(2026, 2, 3, 15, 0, tzinfo=UTC)
POTHOLE = {"size": "small"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TUESDAY_9)


@pytest.fixture(params=["memory", "sqlite"])
def crm(request: pytest.FixtureRequest, clock: FixedClock, tmp_path: object) -> Iterator[CRM]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/crm.db"
    with civiccrm.open(url, profile=PROFILE, clock=clock) as session:
        yield session


def _inside_a_district() -> tuple[float, float, str]:
    districts = PROFILE.routing.districts
    for lat10 in range(3970, 3990):
        for lon10 in range(-8975, -8955):
            lat, lon = lat10 / 100, lon10 / 100
            found = districts.locate(lat, lon)
            if found:
                return lat, lon, min(found)
    raise AssertionError("the Springfield districts cover none of the grid")


def _columns(crm: CRM, case: Case) -> dict[str, object]:
    record = next(r for r in crm.storage.stream(Query("case")) if r.id == str(case.id))
    return dict(record.columns)


def test_a_case_gets_the_district_its_location_lies_in(crm: CRM) -> None:
    lat, lon, district = _inside_a_district()
    case = crm.cases.open("001", attributes=POTHOLE, location=Location(latitude=lat, longitude=lon))
    assert case.district == district
    assert _columns(crm, case)["district"] == district
    nowhere = crm.cases.open("001", attributes=POTHOLE, location=Location(address="1 Elm"))
    assert nowhere.district is None


def test_business_time_to_first_response_and_resolution(crm: CRM, clock: FixedClock) -> None:
    case = crm.cases.open("001", attributes=POTHOLE)
    assert (case.response_seconds, case.response_met) == (None, None)
    clock.set(TUESDAY_9 + timedelta(hours=4, minutes=30))  # 13:30 local, lunch 12-13
    worked = crm.cases.transition(case, CaseStatus.IN_PROGRESS)
    assert worked.response_seconds == int(timedelta(hours=3, minutes=30).total_seconds())
    assert worked.response_met is True
    assert worked.resolution_seconds is None
    # Resolved on Wednesday 10:00 local: 7 h on Tuesday from 09:00, 2 h on Wednesday.
    clock.set(TUESDAY_9 + timedelta(days=1, hours=1))
    done = crm.cases.transition(worked, CaseStatus.RESOLVED, resolution_code="repaired")
    assert done.resolution_seconds == int(timedelta(hours=9).total_seconds())
    assert done.resolution_met is True
    sla = crm.sla.clock(done)
    assert sla is not None
    target = sla.target("resolution")
    assert target is not None
    assert done.resolution_seconds == int(target.elapsed.total_seconds())
    columns = _columns(crm, done)
    assert columns["response_seconds"] == worked.response_seconds
    assert columns["resolution_met"] == 1
    # Reopened: resolution runs again, and the outcome is cleared until it is met again.
    reopened = crm.cases.reopen(done, note="came back")
    assert (reopened.resolution_seconds, reopened.resolution_met) == (None, None)
    assert reopened.response_seconds == worked.response_seconds


def test_a_late_response_is_recorded_as_late(crm: CRM, clock: FixedClock) -> None:
    case = crm.cases.open("001", attributes=POTHOLE)  # first response: 1 business day
    clock.set(TUESDAY_9 + timedelta(days=2))  # Thursday 09:00, past the end of Wednesday
    worked = crm.cases.transition(case, CaseStatus.IN_PROGRESS)
    assert worked.response_met is False
    assert worked.response_seconds == int(timedelta(hours=16).total_seconds())
