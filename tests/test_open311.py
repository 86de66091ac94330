"""Open311 GeoReport v2: documents, the profile section, the handler's endpoints."""

from __future__ import annotations

import json
import tomllib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import civiccrm
from civiccrm import FixedClock
from civiccrm.crm import CRM
from civiccrm.errors import PolicyError, ValidationError
from civiccrm.models import CaseStatus, Citizen, ContactPoint, Location
from civiccrm.open311 import (
    Open311,
    Open311Handler,
    Response,
    from_json,
    from_xml,
    read_requests,
    to_json,
    to_xml,
    write_document,
)
from civiccrm.profile import Profile, load_profile, parse_profile, springfield_path

# The fields of the GeoReport v2 documents, written out here from the specification
# (not imported from the code under test).
SPEC_SERVICE = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
SPEC_DEFINITION = ["service_code", "attributes"]
SPEC_ATTRIBUTE = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
]
SPEC_VALUE = ["key", "name"]
SPEC_REQUEST = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
SPEC_POST_RESPONSE = ["service_request_id", "service_notice", "account_id"]
SPEC_UPDATE = [
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
]
SPEC_DISCOVERY = ["changeset", "contact", "key_service", "endpoints"]
SPEC_ENDPOINT = ["specification", "url", "changeset", "type", "formats"]

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
SSN = "078-05-1120"
PHONE = "217-555-0134"


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(springfield_path())


@pytest.fixture
def crm(profile: Profile) -> Iterator[CRM]:
    with civiccrm.open("memory://", profile=profile, clock=FixedClock(NOW)) as session:
        yield session


@pytest.fixture
def handler(crm: CRM) -> Open311Handler:
    return Open311Handler(crm)


def _xml(response: Response) -> ET.Element:
    assert response.content_type.startswith("text/xml")
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.body)


def _json(response: Response) -> Any:
    assert response.content_type.startswith("application/json")
    return json.loads(response.body)


def _post(handler: Open311Handler, fmt: str = "json", **fields: str) -> Response:
    return handler.handle("POST", f"/requests.{fmt}", body=dict(fields))


POTHOLE = {"service_code": "001", "lat": "39.7817", "long": "-89.6501", "attribute[size]": "large"}


def _errors(response: Response) -> list[dict[str, Any]]:
    if response.content_type.startswith("application/json"):
        found = _json(response)
        assert isinstance(found, list)
        return found
    root = _xml(response)
    assert root.tag == "errors"
    return [
        {"code": int(e.findtext("code") or 0), "description": e.findtext("description")}
        for e in root
    ]


# --------------------------------------------------------------------------------------
# Documents carry every field of the spec


def test_service_list_carries_every_field(handler: Open311Handler, profile: Profile) -> None:
    root = _xml(handler.handle("GET", "/services.xml"))
    assert root.tag == "services"
    published = profile.open311.services
    assert published is not None
    assert [s.findtext("service_code") for s in root] == list(published)
    for service in root:
        assert [child.tag for child in service] == SPEC_SERVICE
    items = _json(handler.handle("GET", "/services.json"))
    assert [list(item) for item in items] == [SPEC_SERVICE] * len(published)
    pothole = items[0]
    assert pothole["service_code"] == "001"  # a string: "001" is not 1
    assert pothole["metadata"] is True
    assert pothole["type"] == "realtime"
    assert "pothole" in pothole["keywords"]
    # Benefits are not published.
    assert "019" not in [i["service_code"] for i in items]


def test_service_definition_carries_every_field(handler: Open311Handler) -> None:
    root = _xml(handler.handle("GET", "/services/001.xml"))
    assert root.tag == "service_definition"
    assert [c.tag for c in root] == SPEC_DEFINITION
    attributes = root.find("attributes")
    assert attributes is not None
    for attribute in attributes:
        assert attribute.tag == "attribute"
        assert [c.tag for c in attribute] == SPEC_ATTRIBUTE
    size = attributes[0]
    assert size.findtext("code") == "size"
    assert size.findtext("required") == "true"
    values = size.find("values")
    assert values is not None
    assert [[c.tag for c in v] for v in values] == [SPEC_VALUE] * 3
    definition = _json(handler.handle("GET", "/services/001.json"))
    assert list(definition) == SPEC_DEFINITION
    assert definition["service_code"] == "001"
    assert [list(a) for a in definition["attributes"]] == [SPEC_ATTRIBUTE] * 3
    notice = definition["attributes"][2]
    assert notice["variable"] is False
    assert notice["order"] == 3
    assert notice["values"] == []


def test_request_document_carries_every_field(handler: Open311Handler, crm: CRM) -> None:
    created = _json(
        _post(
            handler, **POTHOLE, address_string="100 N 5th St", media_url="https://img.example/1.jpg"
        )
    )
    assert set(SPEC_POST_RESPONSE) <= set(created[0])
    request_id = created[0]["service_request_id"]
    root = _xml(handler.handle("GET", f"/requests/{request_id}.xml"))
    assert root.tag == "service_requests"
    (request,) = list(root)
    assert [c.tag for c in request] == SPEC_REQUEST
    assert request.findtext("service_code") == "001"
    assert request.findtext("status") == "open"
    assert request.findtext("agency_responsible") == "Department of Public Works"
    assert request.findtext("expected_datetime") == "2026-03-12T22:00:00Z"  # the SLA's due time
    assert request.findtext("media_url") == "https://img.example/1.jpg"
    assert "5th St" not in (request.findtext("address") or "")  # public: redacted
    (item,) = _json(handler.handle("GET", f"/requests/{request_id}.json"))
    assert list(item) == SPEC_REQUEST
    assert item["lat"] == 39.782  # public: to 3 decimal places
    # Not public (an export with --policy none): as stored.
    internal = Open311(crm, public=False)
    case = internal.find_case(request_id)
    assert case is not None
    exact = internal.request(case)
    assert (exact["address"], exact["lat"], exact["long"]) == ("100 N 5th St", 39.7817, -89.6501)
    assert item["service_notice"].startswith("Potholes")


def test_codes_stay_strings_with_their_leading_zeros() -> None:
    # The spec's own JSON examples have unquoted codes such as 001: not JSON, but met
    # in the wild. They are read as the text they are.
    items = from_json(b'[{"service_code": 001, "service_request_id": 0042, "lat": 39.5}]')
    assert items == [{"service_code": "001", "service_request_id": "0042", "lat": 39.5}]
    assert json.loads(to_json([{"service_code": "001"}])) == [{"service_code": "001"}]
    root = ET.fromstring(to_xml("services", [{"service_code": "007"}]))
    assert root.findtext("service/service_code") == "007"


def test_xml_parsing_refuses_entities_and_dtds() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<service_requests><request><description>&lol2;</description></request>"
        b"</service_requests>"
    )
    with pytest.raises(ValidationError, match="refused"):
        from_xml(bomb, "requests")
    external = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<service_requests><request><description>&x;</description></request></service_requests>"
    )
    with pytest.raises(ValidationError):
        from_xml(external, "requests")
    with pytest.raises(ValidationError, match="not well-formed"):
        from_xml(b"<service_requests><request>", "requests")
    with pytest.raises(ValidationError, match="expected a <service_requests>"):
        from_xml(b"<services/>", "requests")


def test_xml_is_built_safely_from_untrusted_text() -> None:
    nasty = "</description><injected>1</injected> & <x> \"q\" 'a' \r\n\t end"
    data = to_xml("requests", [{"service_request_id": "1", "description": nasty}])
    root = ET.fromstring(data)
    assert root.find(".//injected") is None
    assert root.findtext("request/description") == nasty
    assert from_xml(data, "requests") == [{"service_request_id": "1", "description": nasty}]


# --------------------------------------------------------------------------------------
# The profile's [open311] section


def _springfield_data() -> dict[str, Any]:
    data = tomllib.loads(springfield_path().read_text(encoding="utf-8"))
    # Districts are read from a file beside the profile; the text alone has no folder.
    data["routing"].pop("districts", None)
    data["routing"]["rules"] = [
        r for r in data["routing"]["rules"] if "district" not in r.get("when", {})
    ]
    return data


def test_profile_without_open311_section_publishes_every_active_case_type() -> None:
    data = _springfield_data()
    del data["open311"]
    profile = parse_profile(data)
    assert profile.open311.services is None
    assert profile.open311.status[CaseStatus.PENDING] == "open"
    assert profile.open311.status[CaseStatus.CANCELLED] == "closed"
    with civiccrm.open("memory://", profile=profile, clock=FixedClock(NOW)) as crm:
        codes = [s["service_code"] for s in Open311(crm).services()]
    assert codes == [ct.code for ct in profile.case_types if ct.active]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"status": {"pending": "opened"}}, "open311.status.pending", "is not 'open' or 'closed'"),
        ({"status": {"stalled": "open"}}, "open311.status.stalled", "is not a status"),
        (
            {"extended_status": {"resolved": "DONE"}},
            "open311.extended_status.resolved",
            "extended status",
        ),
        ({"services": ["001", "999"]}, "open311.services[1]", "no case type '999'"),
        ({"services": ["001", 2]}, "open311.services[1]", "expected a code"),
        ({"services": "001"}, "open311.services", "expected a list"),
        ({"page_size": 0}, "open311.page_size", "whole number"),
        ({"page_size": 2000}, "open311.page_size", "above max_page_size"),
        ({"discovery": {"url": "ftp://x"}}, "open311.discovery.url", "http(s) URL"),
        ({"discovery": {"type": "staging"}}, "open311.discovery.type", "'production' or 'test'"),
        ({"discovery": {"changeset": "2026-03-01"}}, "open311.discovery.changeset", "offset"),
        ({"service_notices": {"999": "x"}}, 'open311.service_notices."999"', "no case type"),
        ({"colour": "red"}, "open311.colour", "unknown field"),
        ({"source": "a:b"}, "open311.source", "must not contain ':'"),
    ],
)
def test_a_bad_open311_section_fails_at_load_with_its_path(
    change: dict[str, Any], path: str, message: str
) -> None:
    data = _springfield_data()
    data["open311"].update(change)
    with pytest.raises(PolicyError) as raised:
        parse_profile(data)
    found = {p.path: p.message for p in raised.value.problems}
    assert path in found, found
    assert message in found[path]


def test_a_section_that_is_not_a_table_fails() -> None:
    data = _springfield_data()
    data["open311"] = ["001"]
    with pytest.raises(PolicyError, match="open311"):
        parse_profile(data)


# --------------------------------------------------------------------------------------
# The handler: every endpoint


def test_discovery(handler: Open311Handler) -> None:
    root = _xml(handler.handle("GET", "/discovery.xml"))
    assert root.tag == "discovery"
    assert [c.tag for c in root] == SPEC_DISCOVERY
    endpoint = root.find("endpoints/endpoint")
    assert endpoint is not None
    assert [c.tag for c in endpoint] == SPEC_ENDPOINT
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in endpoint.iter("format")] == ["text/xml", "application/json"]
    document = _json(handler.handle("GET", "/discovery.json"))
    assert document["endpoints"][0]["url"] == "https://api.springfield.example.gov/open311/v2"
    assert document["changeset"] == "2026-03-01T00:00:00Z"


def test_post_then_get_request_and_token(handler: Open311Handler, crm: CRM) -> None:
    response = _post(handler, "xml", **POTHOLE, description="Deep one")
    assert response.status == 200
    root = _xml(response)
    request_id = root.findtext("request/service_request_id")
    token = root.findtext("request/token")
    assert request_id
    assert token
    case = crm.cases.get(uuid.UUID(token))
    assert case.case_type == "001"
    assert case.channel.value == "api"
    assert case.attributes == {"size": "large"}
    assert case.location == Location(latitude=39.7817, longitude=-89.6501)
    (found,) = _json(handler.handle("GET", f"/tokens/{token}.json"))
    assert found == {"service_request_id": request_id, "token": token}
    tokens = _xml(handler.handle("GET", f"/tokens/{token}.xml"))
    assert tokens.findtext("request/service_request_id") == request_id
    (item,) = _json(handler.handle("GET", f"/requests/{request_id}.json"))
    assert item["description"] == "Deep one"
    assert handler.handle("GET", f"/tokens/{uuid.uuid4()}.json").status == 404


def test_post_with_multivalue_and_form_encoded_body(handler: Open311Handler, crm: CRM) -> None:
    body = (
        b"service_code=002&address_string=Elm+%26+5th&attribute%5Bproblem%5D=out"
        b"&attribute%5Bpole_number%5D=SL-04217&description=Caf%C3%A9+corner"
    )
    response = handler.handle(
        "POST", "/requests.json", body=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status == 200, response.body
    case = crm.cases.get(uuid.UUID(_json(response)[0]["token"]))
    assert case.description == "Café corner"
    assert case.location is not None
    assert case.location.address == "Elm & 5th"
    assert case.attributes == {"pole_number": "SL-04217", "problem": "out"}


def test_post_finds_or_creates_the_citizen(handler: Open311Handler, crm: CRM) -> None:
    first = _json(
        _post(
            handler,
            **POTHOLE,
            email="Ana.K@Example.org",
            first_name="Ana",
            last_name="Kowalczyk",
            phone="(217) 555-0134",
        )
    )
    second = _json(_post(handler, **POTHOLE, email="ana.k@example.org"))
    found = crm.citizens.find(email="ana.k@example.org")
    assert len(found) == 1
    ana = found[0]
    assert (ana.given_name, ana.family_name) == ("Ana", "Kowalczyk")
    one = crm.cases.get(uuid.UUID(first[0]["token"]))
    two = crm.cases.get(uuid.UUID(second[0]["token"]))
    assert one.requester == two.requester == ana.ref
    # By phone when no email is given.
    third = _json(_post(handler, **POTHOLE, phone="217-555-0134"))
    assert crm.cases.get(uuid.UUID(third[0]["token"])).requester == ana.ref
    # Someone new is created.
    fourth = _json(_post(handler, **POTHOLE, email="new@example.org"))
    newcomer = crm.cases.get(uuid.UUID(fourth[0]["token"])).requester
    assert newcomer is not None
    assert newcomer != ana.ref
    assert len(crm.citizens.find(email="new@example.org")) == 1
    # Anonymous without submitter fields.
    fifth = _json(_post(handler, **POTHOLE))
    assert crm.cases.get(uuid.UUID(fifth[0]["token"])).requester is None


def test_get_requests_filters_and_pages(handler: Open311Handler, crm: CRM) -> None:
    clock = crm.clock
    assert isinstance(clock, FixedClock)
    ids = []
    for day in range(5):
        clock.set(NOW + timedelta(days=day))
        ids.append(_json(_post(handler, **POTHOLE))[0]["service_request_id"])
    clock.set(NOW + timedelta(days=5))
    light = _json(
        _post(
            handler, service_code="002", lat="39.8", long="-89.6", **{"attribute[problem]": "out"}
        )
    )
    crm.cases.transition(uuid.UUID(light[0]["token"]), CaseStatus.RESOLVED, note="Bulb replaced")
    everything = _json(handler.handle("GET", "/requests.json"))
    assert len(everything) == 6
    assert everything[0]["service_code"] == "002"  # newest first
    potholes = _json(handler.handle("GET", "/requests.json", {"service_code": "001"}))
    assert [i["service_request_id"] for i in potholes] == ids[::-1]
    closed = _json(handler.handle("GET", "/requests.json", {"status": "closed"}))
    assert [(i["service_code"], i["status"], i["status_notes"]) for i in closed] == [
        ("002", "closed", "Bulb replaced")
    ]
    both = _json(handler.handle("GET", "/requests.json", {"status": "open,closed"}))
    assert len(both) == 6
    window = _json(
        handler.handle(
            "GET",
            "/requests.json",
            "start_date=2026-03-11T00:00:00Z&end_date=2026-03-13T00:00:00%2B00:00",
        )
    )
    assert [i["service_request_id"] for i in window] == [ids[2], ids[1]]
    page1 = _json(handler.handle("GET", "/requests.json", {"page_size": "4"}))
    page2 = _json(handler.handle("GET", "/requests.json", {"page_size": "4", "page": "2"}))
    page3 = _json(handler.handle("GET", "/requests.json", {"page_size": "4", "page": "3"}))
    assert (len(page1), len(page2), page3) == (4, 2, [])
    assert {i["service_request_id"] for i in page1 + page2} == {
        i["service_request_id"] for i in everything
    }
    chosen = _json(
        handler.handle("GET", "/requests.json", {"service_request_id": f"{ids[0]},{ids[3]},nope"})
    )
    assert [i["service_request_id"] for i in chosen] == [ids[0], ids[3]]
    xml_list = _xml(handler.handle("GET", "/requests.xml", {"page_size": "2"}))
    assert [r.tag for r in xml_list] == ["request", "request"]


def test_extensions_carry_attributes_and_notes(handler: Open311Handler, crm: CRM) -> None:
    token = _json(_post(handler, **POTHOLE, **{"attribute[position]": "curb"}))[0]["token"]
    crm.cases.transition(uuid.UUID(token), CaseStatus.IN_PROGRESS, note="Crew on the way")
    plain = _json(handler.handle("GET", f"/requests/{token}.json"))[0]
    assert "notes" not in plain
    assert "extended_attributes" not in plain
    (item,) = _json(handler.handle("GET", f"/requests/{token}.json", {"extensions": "true"}))
    assert item["extended_attributes"]["channel"] == "api"
    assert item["extended_attributes"]["extended_status"] == "IN_PROGRESS"
    assert item["extended_attributes"]["attributes"] == [
        {"code": "size", "value": "large"},
        {"code": "position", "value": "curb"},
    ]
    assert [(n["type"], n["summary"], n["description"]) for n in item["notes"]] == [
        ("status_changed", "IN_PROGRESS", "Crew on the way")
    ]
    root = _xml(handler.handle("GET", f"/requests/{token}.xml", {"extensions": "true"}))
    assert root.findtext("request/notes/note/description") == "Crew on the way"
    assert root.findtext("request/extended_attributes/channel") == "api"


def test_bulk_csv(handler: Open311Handler) -> None:
    _post(handler, **POTHOLE, description='=HYPERLINK("http://evil.example")')
    response = handler.handle("GET", "/requests.csv")
    assert response.status == 200
    assert response.content_type.startswith("text/csv")
    (item,) = read_requests(response.body, "csv")
    assert item["description"] == '=HYPERLINK("http://evil.example")'
    assert "'=HYPERLINK" in response.body.decode()  # neutralised for spreadsheets
    assert item["service_code"] == "001"
    assert item["extended_attributes"] == {"channel": "api"}


def test_service_request_updates(crm: CRM) -> None:
    handler = Open311Handler(crm, api_keys={"k-fms": "FixMyStreet"})
    token = _json(_post(handler, **POTHOLE, api_key="k-fms"))[0]["token"]
    case_id = uuid.UUID(token)
    crm.cases.transition(case_id, CaseStatus.IN_PROGRESS, note=f"Crew sent; SSN {SSN}")
    root = _xml(handler.handle("GET", "/servicerequestupdates.xml"))
    assert root.tag == "service_request_updates"
    (update,) = list(root)
    assert [c.tag for c in update] == SPEC_UPDATE
    assert update.findtext("status") == "IN_PROGRESS"
    assert SSN not in (update.findtext("description") or "")
    # A client posts an update (FixMyStreet's extension), with an extended status.
    form = {
        "service_request_id": token,
        "update_id": "fms-1",
        "status": "FIXED",
        "updated_datetime": "2026-03-10T16:00:00Z",
        "description": "Filled with cold mix",
        "api_key": "k-fms",
    }
    posted = handler.handle("POST", "/servicerequestupdates.json", body=form)
    assert posted.status == 200, posted.body
    assert _json(posted) == [{"update_id": "fms-1"}]
    assert crm.cases.get(case_id).status is CaseStatus.RESOLVED
    events = len(crm.cases.events(case_id))
    again = handler.handle("POST", "/servicerequestupdates.json", body=form)
    assert again.status == 200
    assert len(crm.cases.events(case_id)) == events  # applied once
    updates = _json(
        handler.handle("GET", "/servicerequestupdates.json", {"start_date": "2026-03-10T00:00:00Z"})
    )
    assert [u["status"] for u in updates] == ["IN_PROGRESS", "FIXED", "FIXED"]
    assert updates[-1]["description"] == "Filled with cold mix"
    assert updates[-1]["update_id"] == "fms-1"
    (item,) = _json(handler.handle("GET", f"/requests/{token}.json"))
    assert (item["status"], item["status_notes"]) == ("closed", "Filled with cold mix")
    bad = handler.handle(
        "POST", "/servicerequestupdates.xml", body={**form, "update_id": "2", "status": "DONE"}
    )
    assert bad.status == 400
    assert "status" in _errors(bad)[0]["description"]


# --------------------------------------------------------------------------------------
# Errors: the spec's error document with the right status, never a bare 500


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({}, 400, "service_code: is required"),
        ({"service_code": "999", "lat": "1", "long": "1"}, 404, "no service '999'"),
        ({"service_code": "019", "lat": "1", "long": "1"}, 404, "no service '019'"),  # not public
        ({**POTHOLE, "lat": "ninety"}, 400, "lat: 'ninety' is not a number"),
        ({**POTHOLE, "lat": "91"}, 400, "lat: 91.0 is not between -90 and 90"),
        ({**POTHOLE, "long": "-200"}, 400, "long: -200.0 is not between -180 and 180"),
        (
            {"service_code": "001", "lat": "39.7", "attribute[size]": "large"},
            400,
            "give both lat and long",
        ),
        ({"service_code": "001", "attribute[size]": "large"}, 400, "a location is required"),
        ({**POTHOLE, "attribute[size]": ""}, 400, "attribute[size]: is required"),
        ({**POTHOLE, "attribute[size]": "huge"}, 400, "attribute[size]: 'huge' is not one of"),
        ({**POTHOLE, "attribute[colour]": "red"}, 400, "attribute[colour]: not an attribute"),
        ({**POTHOLE, "email": "not-an-email"}, 400, "email:"),
        ({**POTHOLE, "phone": "12"}, 400, "phone:"),
        ({**POTHOLE, "media_url": "javascript:alert(1)"}, 400, "media_url:"),
        (
            {**POTHOLE, "jurisdiction_id": "elsewhere.gov"},
            404,
            "jurisdiction_id 'elsewhere.gov' not found",
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_bad_post_gets_an_error_document(
    handler: Open311Handler, crm: CRM, fields: dict[str, str], status: int, words: str, fmt: str
) -> None:
    response = handler.handle("POST", f"/requests.{fmt}", body=fields)
    assert response.status == status
    errors = _errors(response)
    assert all(set(e) == {"code", "description"} and e["code"] == status for e in errors)
    assert any(words in e["description"] for e in errors), errors
    assert crm.cases.find().items == ()  # nothing was opened


def test_api_keys(crm: CRM) -> None:
    handler = Open311Handler(crm, api_keys={"k-123": "FixMyStreet"})
    missing = handler.handle("POST", "/requests.xml", body=POTHOLE)
    assert missing.status == 403
    assert _errors(missing)[0]["description"] == "api_key is required"
    wrong = handler.handle("POST", "/requests.json", body={**POTHOLE, "api_key": "k-124"})
    assert (wrong.status, _errors(wrong)[0]["description"]) == (403, "invalid api_key")
    right = handler.handle("POST", "/requests.json", body={**POTHOLE, "api_key": "k-123"})
    assert right.status == 200
    # GETs need no key.
    assert handler.handle("GET", "/services.json").status == 200


@pytest.mark.parametrize(
    ("method", "path", "query", "status"),
    [
        ("GET", "/nothing.xml", None, 404),
        ("GET", "/", None, 404),
        ("GET", "/services.yaml", None, 404),
        ("GET", "/services/999.xml", None, 404),
        ("GET", "/requests/does-not-exist.json", None, 404),
        ("GET", "/services.csv", None, 404),
        ("DELETE", "/requests.json", None, 405),
        ("POST", "/services.json", None, 405),
        ("GET", "/requests.json", {"page_size": "5000"}, 400),
        ("GET", "/requests.json", {"page": "0"}, 400),
        ("GET", "/requests.json", {"page": "two"}, 400),
        ("GET", "/requests.json", {"status": "done"}, 400),
        ("GET", "/requests.json", {"start_date": "yesterday"}, 400),
        ("GET", "/requests.json", {"start_date": "2026-03-01T00:00:00"}, 400),  # no zone
        ("GET", "/servicerequestupdates.json", {"end_date": "soon"}, 400),
        ("GET", "/services.json", {"jurisdiction_id": "elsewhere.gov"}, 404),
    ],
)
def test_errors_on_gets(
    handler: Open311Handler, method: str, path: str, query: dict[str, str] | None, status: int
) -> None:
    response = handler.handle(method, path, query)
    assert response.status == status
    errors = _errors(response)
    assert errors
    assert all(e["code"] == status and e["description"] for e in errors)
    if status == 405:
        assert "Allow" in dict(response.headers)


def test_a_request_of_an_unpublished_case_type_is_not_found(
    handler: Open311Handler, crm: CRM
) -> None:
    snap = crm.cases.open("019", attributes={"household_size": 3, "monthly_income": 1200})
    assert handler.handle("GET", f"/requests/{snap.id}.json").status == 404
    assert _json(handler.handle("GET", "/requests.json")) == []


def test_bad_bodies_are_answered_with_error_documents(handler: Open311Handler) -> None:
    too_big = handler.handle("POST", "/requests.json", body=b"x" * 1_000_001)
    assert too_big.status == 413
    as_json = handler.handle("POST", "/requests.json", body=b"{}", content_type="application/json")
    assert as_json.status == 400
    not_utf8 = handler.handle(
        "POST",
        "/requests.json",
        body=b"description=\xff\xfe",
        content_type="application/x-www-form-urlencoded",
    )
    assert not_utf8.status == 400


def test_too_many_parameters_is_a_bad_request(handler: Open311Handler) -> None:
    response = handler.handle("GET", "/requests.json", "&".join(f"p{i}=1" for i in range(1001)))
    assert response.status == 400
    assert "too many query parameters" in _errors(response)[0]["description"]


def test_the_wsgi_application_serves_the_handler(handler: Open311Handler) -> None:
    import io as _io

    from civiccrm.open311 import wsgi_app

    app = wsgi_app(handler)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"service_code=001&lat=39.78&long=-89.65&attribute%5Bsize%5D=small"
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/open311/v2/requests.xml",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": _io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "example.test",
    }
    prefixed = wsgi_app(Open311Handler(handler.crm, prefix="/open311/v2/"))
    chunks = prefixed(environ, lambda status, headers: started.append((status, headers)))
    assert started[0][0] == "200 OK"
    assert ET.fromstring(b"".join(chunks)).tag == "service_requests"
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/services/999.json", "QUERY_STRING": ""}
    chunks = app(environ, lambda status, headers: started.append((status, headers)))
    assert started[1][0] == "404 Not Found"
    assert json.loads(b"".join(chunks))[0]["code"] == 404


def test_an_unexpected_error_is_still_an_error_document(handler: Open311Handler) -> None:
    # A caller handing over something that is not a body at all: a bug on their side,
    # answered with a 500 error document, not a traceback.
    response = handler.handle("POST", "/requests.json", body=12345)  # type: ignore[arg-type]
    assert response.status == 500
    assert _errors(response) == [
        {"code": 500, "description": "internal error: the request could not be completed"}
    ]


# --------------------------------------------------------------------------------------
# Redaction of public GETs


def test_public_gets_redact_descriptions_and_notes(handler: Open311Handler, crm: CRM) -> None:
    text = f"Pothole by my house. Call Stacy on {PHONE}, my SSN is {SSN}."
    token = _json(
        _post(
            handler,
            **POTHOLE,
            description=text,
            first_name="Anastasia",
            last_name="Kowalczyk",
            email="ana.k@example.org",
        )
    )[0]["token"]
    crm.cases.transition(uuid.UUID(token), CaseStatus.RESOLVED, note=f"Told Anastasia on {PHONE}")
    for query in ({}, {"extensions": "true"}):
        for fmt in ("xml", "json", "csv"):
            path = "/requests.csv" if fmt == "csv" else f"/requests/{token}.{fmt}"
            body = handler.handle("GET", path, query).body.decode()
            assert SSN not in body
            assert PHONE not in body
            assert "555-0134" not in body
            assert "Anastasia" not in body
            assert "Stacy" not in body
            assert "Pothole by my house" in body
    updates = handler.handle("GET", "/servicerequestupdates.json").body.decode()
    assert PHONE not in updates
    assert "Anastasia" not in updates
    # The case itself keeps what was said.
    assert crm.cases.get(uuid.UUID(token)).description == text


# --------------------------------------------------------------------------------------
# Import


def test_import_is_idempotent_and_rejects_bad_items(crm: CRM) -> None:
    service = Open311(crm, public=False)
    items = [
        {
            "service_request_id": "0001",
            "service_code": "001",
            "status": "open",
            "requested_datetime": "2026-03-01T08:00:00Z",
            "lat": "39.78",
            "long": "-89.65",
        },
        {"service_request_id": "0002", "service_code": "999", "status": "open"},
        {
            "service_request_id": "0003",
            "service_code": "002",
            "status": "closed",
            "status_notes": "Replaced",
            "address": "5th & Elm",
            "zipcode": "62701",
        },
        {"service_request_id": "0001", "service_code": "001", "status": "open"},
        {"service_code": "001", "lat": "100", "long": "0", "status": "weird"},
    ]
    result = service.import_requests(items)
    assert (result.inserted, result.updated, result.unchanged) == (2, 0, 0)
    paths = [p.path for p in result.rejected]
    assert paths == [
        "[1].service_code",
        "[3].service_request_id",
        "[4].service_request_id",
        "[4].status",
        "[4].lat",
    ]
    again = service.import_requests(items[:1] + items[2:3])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    closed = service.find_case("0003")
    assert closed is not None
    assert closed.status is CaseStatus.CLOSED
    item = service.request(closed)
    assert (item["status_notes"], item["zipcode"], item["address"]) == (
        "Replaced",
        "62701",
        "5th & Elm",
    )
    # A changed item updates the case.
    changed = service.import_requests(
        [{**items[2], "description": "Lamp head replaced", "status_notes": "Done for good"}]
    )
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 0)
    case = service.find_case("0003")
    assert case is not None
    assert case.description == "Lamp head replaced"
    assert service.request(case)["status_notes"] == "Done for good"
    # What an item leaves out is not said: the case keeps it.
    silent = service.import_requests(
        [{"service_request_id": "0003", "service_code": "002", "status": "closed"}]
    )
    assert (silent.updated, silent.unchanged) == (0, 1)
    kept = service.find_case("0003")
    assert kept is not None
    assert (kept.description, service.request(kept)["zipcode"]) == ("Lamp head replaced", "62701")
    # A closed case cannot be made open again by a feed: rejected, nothing changed.
    refused = service.import_requests([{**items[2], "status": "open", "description": "x"}])
    assert [p.path for p in refused.rejected] == ["[0].status"]
    assert "cannot move the case from closed" in refused.rejected[0].message
    after = service.find_case("0003")
    assert after is not None
    assert after.description == "Lamp head replaced"
    # An open one that a feed says is closed is resolved, then closed.
    moved = service.import_requests([{**items[0], "status": "closed"}])
    assert moved.updated == 1
    pothole = service.find_case("0001")
    assert pothole is not None
    assert pothole.status is CaseStatus.CLOSED


def test_import_updates_into_transitions_and_notes(crm: CRM) -> None:
    service = Open311(crm, public=False)
    service.import_requests(
        [
            {
                "service_request_id": "7",
                "service_code": "001",
                "status": "open",
                "lat": "39.7",
                "long": "-89.6",
            }
        ]
    )
    updates = [
        {
            "update_id": "u1",
            "service_request_id": "7",
            "status": "INVESTIGATING",
            "updated_datetime": "2026-03-10T10:00:00Z",
            "description": "Inspector booked",
        },
        {
            "update_id": "u2",
            "service_request_id": "7",
            "status": "CLOSED",
            "updated_datetime": "2026-03-11T10:00:00Z",
            "description": "Filled",
        },
        {
            "update_id": "u3",
            "service_request_id": "404",
            "status": "OPEN",
            "updated_datetime": "2026-03-11T10:00:00Z",
        },
    ]
    result = service.import_updates(updates)
    assert (result.inserted, result.unchanged) == (2, 0)
    assert [p.path for p in result.rejected] == ["[2].service_request_id"]
    case = service.find_case("7")
    assert case is not None
    assert case.status is CaseStatus.CLOSED
    statuses = [e.to_status for e in crm.cases.events(case) if e.to_status is not None]
    assert statuses[-3:] == [CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED]
    assert service.status_notes(case) == "Filled"
    assert service.import_updates(updates[:2]).unchanged == 2


def test_write_document_formats() -> None:
    services = [{"service_code": "001", "service_name": "Pothole"}]
    assert b"<services>" in write_document("services", services, "xml")
    assert write_document("services", services, "csv").startswith(b"service_code,")
    with pytest.raises(ValidationError, match="no format 'yaml'"):
        write_document("services", services, "yaml")
    with pytest.raises(ValidationError, match="no CSV form"):
        write_document("discovery", {"changeset": "x"}, "csv")


def test_citizens_made_by_post_are_real_parties(handler: Open311Handler, crm: CRM) -> None:
    crm.citizens.create(
        Citizen(given_name="Bo", contact_points=[ContactPoint.email("bo@example.org")])
    )
    token = _json(_post(handler, **POTHOLE, email="BO@example.org"))[0]["token"]
    case = crm.cases.get(uuid.UUID(token))
    assert case.requester is not None
    assert crm.citizens.get(case.requester.id).given_name == "Bo"
