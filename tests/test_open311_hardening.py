"""Open311: the public face hides what it must, and bad or hostile input is a 4xx."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm import FixedClock
from civiccrm._export import FORMULA_PREFIXES
from civiccrm._export import neutralise as export_neutralise
from civiccrm.cli import main
from civiccrm.crm import CRM
from civiccrm.errors import ValidationError
from civiccrm.models import Case, CaseEvent, CaseStatus
from civiccrm.open311 import (
    Open311,
    Open311Handler,
    Response,
    from_json,
    from_xml,
    read_requests,
    to_json,
    write_document,
)
from civiccrm.open311._formats import neutralise, unneutralise
from civiccrm.profile import Profile, load_profile, springfield_path

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
POTHOLE = {"service_code": "001", "lat": "39.7817", "long": "-89.6501", "attribute[size]": "large"}
PROFILE: Profile = load_profile(springfield_path())


@pytest.fixture
def crm() -> Iterator[CRM]:
    with civiccrm.open("memory://", profile=PROFILE, clock=FixedClock(NOW)) as session:
        yield session


def _json(response: Response) -> Any:
    assert response.content_type.startswith("application/json"), response
    return json.loads(response.body)


def _descriptions(response: Response) -> list[str]:
    return [e["description"] for e in _json(response)]


# --------------------------------------------------------------------------------------
# 1. The public address is redacted, public coordinates coarse


def test_public_responses_redact_the_address_and_coarsen_coordinates(crm: CRM) -> None:
    handler = Open311Handler(crm)
    address = "Ana Lima, 12 Elm St, call 217-555-0134, ana.lima@example.org"
    posted = handler.handle(
        "POST",
        "/requests.json",
        body={
            **POTHOLE,
            "lat": "39.781749",
            "long": "-89.650149",
            "address_string": address,
            "first_name": "Ana",
            "last_name": "Lima",
            "email": "ana.lima@example.org",
        },
    )
    assert posted.status == 200, posted.body
    token = _json(posted)[0]["token"]
    for query in ({}, {"extensions": "true"}):
        for path in (f"/requests/{token}.json", f"/requests/{token}.xml", "/requests.csv"):
            body = handler.handle("GET", path, query).body.decode()
            for secret in ("217-555-0134", "555-0134", "ana.lima@example.org", "Ana Lima"):
                assert secret not in body, (path, secret)
            assert "39.781749" not in body
            assert "89.650149" not in body
    (item,) = _json(handler.handle("GET", f"/requests/{token}.json"))
    assert (item["lat"], item["long"]) == (39.782, -89.65)
    (row,) = read_requests(handler.handle("GET", "/requests.csv").body, "csv")
    assert (float(row["lat"]), float(row["long"])) == (39.782, -89.65)
    # Not public (exports with --policy none, imports): exact, as stored.
    internal = Open311(crm, public=False)
    exact = internal.request(crm.cases.get(uuid.UUID(token)))
    assert (exact["address"], exact["lat"], exact["long"]) == (address, 39.781749, -89.650149)


@settings(max_examples=200)
@given(st.floats(-90, 90), st.floats(-180, 180))
def test_public_coordinates_are_within_about_100_m(lat: float, lon: float) -> None:
    public, internal = Open311.__new__(Open311), Open311.__new__(Open311)
    public.public, internal.public = True, False
    for degrees in (lat, lon):
        coarse = public._coarse(degrees)
        assert coarse is not None
        assert abs(coarse - degrees) <= 0.0005 + 1e-12
        assert coarse == round(coarse, 3)
        assert internal._coarse(degrees) == degrees


# --------------------------------------------------------------------------------------
# 2. The bulk CSV neutralises formulas after a semicolon too, and reads back exactly

_CELL_TEXT = st.text(alphabet=st.sampled_from(list("ab ;'=+-@\t\r,\"\n")), max_size=30)


@settings(max_examples=500)
@given(_CELL_TEXT)
def test_neutralise_is_the_shared_one_and_unneutralise_its_exact_inverse(text: str) -> None:
    cell = neutralise(text)
    assert unneutralise(cell) == text
    # Nothing a spreadsheet would run: no part (split at ;) begins with a formula prefix.
    assert not any(part.startswith(FORMULA_PREFIXES) for part in cell.split(";"))
    assert export_neutralise(cell) == cell  # nothing left for the shared rule to do
    if not any(part.startswith("'") for part in text.split(";")):
        assert cell == export_neutralise(text)  # the shared rule, unchanged


def test_bulk_csv_neutralises_after_a_semicolon_and_reads_back(crm: CRM) -> None:
    handler = Open311Handler(crm)
    text = 'pipes;=HYPERLINK("http://evil.example");\'@x'
    posted = handler.handle("POST", "/requests.json", body={**POTHOLE, "description": text})
    assert posted.status == 200, posted.body
    body = handler.handle("GET", "/requests.csv").body
    assert b"pipes;'=HYPERLINK" in body
    (item,) = read_requests(body, "csv")
    assert item["description"] == text
    data = write_document("requests", [{"description": text, "service_code": "001"}], "csv")
    assert read_requests(data, "csv")[0]["description"] == text


# --------------------------------------------------------------------------------------
# 3. Posted updates need a key; their media_url is http(s)


def test_updates_cannot_be_posted_to_a_handler_without_keys(crm: CRM) -> None:
    handler = Open311Handler(crm)
    token = _json(handler.handle("POST", "/requests.json", body=POTHOLE))[0]["token"]
    for fmt in ("json", "xml"):
        refused = handler.handle(
            "POST",
            f"/servicerequestupdates.{fmt}",
            body={"service_request_id": token, "update_id": "x-1", "status": "closed"},
        )
        assert refused.status == 403
        assert b"api_key" in refused.body
    assert crm.cases.get(uuid.UUID(token)).status is CaseStatus.NEW
    # Requests are still taken without a key.
    assert handler.handle("POST", "/requests.json", body=POTHOLE).status == 200


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://x/y.jpg"])
def test_an_update_media_url_must_be_http(crm: CRM, url: str) -> None:
    handler = Open311Handler(crm, api_keys={"k": "FixMyStreet"})
    token = _json(handler.handle("POST", "/requests.json", body={**POTHOLE, "api_key": "k"}))[0][
        "token"
    ]
    form = {"service_request_id": token, "update_id": "u-1", "status": "IN_PROGRESS"}
    bad = handler.handle(
        "POST", "/servicerequestupdates.json", body={**form, "media_url": url, "api_key": "k"}
    )
    assert bad.status == 400
    assert any(d.startswith("media_url:") for d in _descriptions(bad))
    assert crm.cases.get(uuid.UUID(token)).status is CaseStatus.NEW
    result = Open311(crm, public=False).import_updates([{**form, "media_url": url}])
    assert [p.path for p in result.rejected] == ["[0].media_url"]
    good = handler.handle(
        "POST",
        "/servicerequestupdates.json",
        body={**form, "media_url": "https://img.example/u.jpg", "api_key": "k"},
    )
    assert good.status == 200, good.body


# --------------------------------------------------------------------------------------
# 4. attribute[x] and attribute[x][] together


def test_a_field_given_both_plain_and_as_a_list_is_merged_not_a_500(crm: CRM) -> None:
    handler = Open311Handler(crm)
    many = handler.handle(
        "POST",
        "/requests.json",
        body={
            "service_code": "009",
            "lat": "39.78",
            "long": "-89.65",
            "attribute[blocking]": "street",
            "attribute[blocking][]": ["sidewalk", "alley"],
        },
    )
    assert many.status == 200, many.body
    case = crm.cases.get(uuid.UUID(_json(many)[0]["token"]))
    assert set(case.attributes["blocking"]) == {"street", "sidewalk", "alley"}
    one = handler.handle("POST", "/requests.json", body={**POTHOLE, "attribute[size][]": "small"})
    assert one.status == 400
    assert any(d.startswith("attribute[size]") for d in _descriptions(one))


_ATTRIBUTE_NAMES = st.sampled_from(
    ["attribute[size]", "attribute[size][]", "attribute[size]x", "attribute[]", "attribute[[]]"]
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        _ATTRIBUTE_NAMES,
        st.one_of(st.sampled_from(["large", "small", ""]), st.lists(st.just("large"))),
        max_size=4,
    )
)
def test_attribute_fields_in_any_shape_are_never_a_500(fields: dict[str, Any]) -> None:
    with civiccrm.open("memory://", profile=PROFILE, clock=FixedClock(NOW)) as crm:
        body = {"service_code": "001", "lat": "39.78", "long": "-89.65", **fields}
        response = Open311Handler(crm).handle("POST", "/requests.json", body=body)
        assert response.status in (200, 400), response.body


# --------------------------------------------------------------------------------------
# 5. A concurrent change is a 409, not a 500


class _MeddlingClerk:
    """Another writer: changes the case as soon as it is resolved, so that whoever moves
    it on from what they read loses (resolved -> closed is a second write)."""

    def __init__(self) -> None:
        self.done = False

    @civiccrm.hookimpl
    def civiccrm_case_changed(self, crm: CRM, case: Case, event: CaseEvent) -> None:
        if not self.done and event.to_status is CaseStatus.RESOLVED:
            self.done = True
            crm.cases.update(attrs.evolve(case, description="edited"))


def test_a_concurrent_change_is_a_409_error_document() -> None:
    clerk = _MeddlingClerk()
    with civiccrm.open("memory://", profile=PROFILE, clock=FixedClock(NOW), plugins=[clerk]) as crm:
        handler = Open311Handler(crm, api_keys={"k": "FixMyStreet"})
        for fmt in ("json", "xml"):
            posted = handler.handle("POST", "/requests.json", body={**POTHOLE, "api_key": "k"})
            token = _json(posted)[0]["token"]
            clerk.done = False
            update = {
                "service_request_id": token,
                "update_id": f"u-{fmt}",
                "status": "CLOSED",
                "api_key": "k",
            }
            response = handler.handle("POST", f"/servicerequestupdates.{fmt}", body=update)
            assert clerk.done
            assert response.status == 409, response.body
            assert b"<code>409</code>" in response.body or b'"code":409' in response.body
            assert b"changed" in response.body
            # Sent again, it goes through from where the case is now.
            again = handler.handle("POST", f"/servicerequestupdates.{fmt}", body=update)
            assert again.status == 200, again.body
            assert crm.cases.get(uuid.UUID(token)).status is CaseStatus.CLOSED


# --------------------------------------------------------------------------------------
# 6. Lone surrogates are refused on the way in, and never break a response


def test_from_json_refuses_a_lone_surrogate_naming_where() -> None:
    with pytest.raises(ValidationError) as caught:
        from_json('[{"service_request_id": "1", "description": "bad \\ud800 text"}]')
    assert [p.path for p in caught.value.problems] == ["json[0].description"]
    assert from_json('[{"description": "ok \\ud83d\\ude00"}]') == [{"description": "ok \U0001f600"}]


def test_imports_and_posts_refuse_lone_surrogates_and_gets_still_answer(crm: CRM) -> None:
    result = Open311(crm, public=False).import_requests(
        [{"service_request_id": "s-1", "service_code": "001", "description": "x\ud800"}]
    )
    assert [p.path for p in result.rejected] == ["[0].description"]
    handler = Open311Handler(crm)
    for fields in (
        {"description": "hole \udfff"},
        {"address_string": "\ud800"},
        {"attribute[size]": "large\ud800"},
        {"first_name": "\ud800"},
    ):
        response = handler.handle("POST", "/requests.json", body={**POTHOLE, **fields})
        assert response.status == 400, response.body
        (name,) = fields
        assert any(d.startswith(name) for d in _descriptions(response)), response.body
    bad_query = handler.handle("GET", "/requests.json", {"service_code": "00\ud8001"})
    assert bad_query.status == 400
    assert crm.cases.find().items == ()
    assert handler.handle("GET", "/requests.json").status == 200


@given(st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=8))
def test_documents_are_always_written_as_utf8(text: str) -> None:
    body = to_json([{"description": text, text: 1}])
    assert json.loads(body.decode("utf-8"))  # never UnicodeEncodeError
    write_document("requests", [{"description": text}], "csv").decode("utf-8")
    write_document("requests", [{"description": text}], "xml").decode("utf-8")


# --------------------------------------------------------------------------------------
# 7. Deeply nested XML is a clear ValidationError


def _deep(levels: int) -> bytes:
    return (
        b"<service_requests><request><extended_attributes>"
        + b"<a>" * levels
        + b"x"
        + b"</a>" * levels
        + b"</extended_attributes></request></service_requests>"
    )


def test_deep_xml_is_refused_with_a_depth_limit() -> None:
    with pytest.raises(ValidationError, match="nested too deeply"):
        from_xml(_deep(100_000), "requests")
    with pytest.raises(ValidationError, match="nested too deeply"):
        read_requests(_deep(40), "xml")
    assert from_xml(_deep(5), "requests")  # ordinary nesting reads as before


def test_cli_import_of_deep_xml_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.xml"
    deep.write_bytes(_deep(100_000))
    db = f"sqlite:///{tmp_path / 'city.db'}"
    status = main(["open311", "import", "requests", str(deep), "--db", db], out=io.StringIO())
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "nested too deeply" in err
    assert "internal error" not in err
