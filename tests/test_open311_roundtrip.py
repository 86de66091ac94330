"""
Open311 export then import keeps every field the format carries: generated service
requests (service codes with leading zeros, unicode text, optional fields missing) go
into a CRM, out as XML, JSON and the bulk CSV, into a second CRM, and out again the same.
"""

from __future__ import annotations

import json
import string
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import civiccrm
from civiccrm import FixedClock
from civiccrm.crm import CRM
from civiccrm.open311 import Open311, read_requests, write_document
from civiccrm.profile import Profile, parse_profile

PROFILE_TOML = """
[agency]
code = "roundtrip"
name = "Round Trip City"
default_region = "US"
time_zone = "America/Chicago"

[[departments]]
code = "works"
name = "Public Works Département"

[[case_types]]
code = "001"
name = "Pothole"
department = "works"

  [[case_types.attributes]]
  code = "size"
  datatype = "singlevaluelist"
  description = "How big?"
  required = false
  values = [{ key = "s", name = "Small" }, { key = "l", name = "Large" }]

  [[case_types.attributes]]
  code = "kinds"
  datatype = "multivaluelist"
  description = "What kinds?"
  values = [{ key = "a", name = "A" }, { key = "b", name = "B" }, { key = "c", name = "C" }]

  [[case_types.attributes]]
  code = "depth"
  datatype = "number"
  description = "How deep, in cm?"

  [[case_types.attributes]]
  code = "note"
  datatype = "text"
  description = "Anything else?"

[[case_types]]
code = "0070"
name = "Graffiti Ñandú"
department = "works"

[[case_types]]
code = "7"
name = "Seven"
department = "works"

[open311]
source = "peer"

  [open311.status_notes]
  closed = "Closed."

  [open311.service_notices]
  "0070" = "Cleaned within a week."
"""

PROFILE: Profile = parse_profile(PROFILE_TOML)
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)

# Text an XML document can carry (XML 1.0 has no NUL, most control characters or lone
# surrogates); everything else of Unicode is fair game, tabs and line ends included.
_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="".join(chr(c) for c in range(32) if c not in (9, 10, 13))
        + "\ufffe\uffff",
    ),
    min_size=1,
    max_size=40,
).filter(lambda t: t != "")
_MAYBE_TEXT = st.none() | _TEXT
_ID = st.text(
    string.ascii_letters + string.digits + "-_.", min_size=1, max_size=12
) | st.from_regex(r"\A0{1,3}[0-9]{1,4}\Z")
_TIME = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.just(UTC),
)
_LAT = st.floats(min_value=-90, max_value=90, allow_nan=False)
_LONG = st.floats(min_value=-180, max_value=180, allow_nan=False)


@st.composite
def _attributes(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        out.append({"code": "size", "value": draw(st.sampled_from(["s", "l"]))})
    kinds = draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3))
    out.extend({"code": "kinds", "value": k} for k in kinds)
    if draw(st.booleans()):
        out.append({"code": "depth", "value": draw(st.integers(0, 10_000))})
    if draw(st.booleans()):
        out.append({"code": "note", "value": draw(_TEXT.filter(str.strip))})
    return out


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    code = draw(st.sampled_from(["001", "0070", "7"]))
    requested = draw(_TIME)
    located = draw(st.sampled_from(["none", "coordinates", "address", "both", "id"]))
    item: dict[str, Any] = {
        "service_request_id": draw(_ID),
        "status": draw(st.sampled_from(["open", "closed"])),
        "status_notes": draw(_MAYBE_TEXT),
        "service_code": code,
        "description": draw(_MAYBE_TEXT),
        "requested_datetime": requested.isoformat().replace("+00:00", "Z"),
        "updated_datetime": draw(st.none() | st.just(requested)),
        "expected_datetime": draw(st.none() | _TIME),
        "address": draw(_TEXT.filter(str.strip)) if located in ("address", "both") else None,
        "address_id": draw(_ID) if located == "id" else None,
        "zipcode": draw(st.none() | st.from_regex(r"\A0[0-9]{4}\Z")),
        "lat": draw(_LAT) if located in ("coordinates", "both") else None,
        "long": None,
        "media_url": draw(st.none() | st.just("https://img.example/ñ/1.jpg")),
    }
    if item["lat"] is not None:
        item["long"] = draw(_LONG)
    for name in ("updated_datetime", "expected_datetime"):
        if isinstance(item[name], datetime):
            item[name] = item[name].isoformat()
    if code == "001" and draw(st.booleans()):
        item["extended_attributes"] = {"channel": "phone", "attributes": draw(_attributes())}
    return item


def _documents(crm: CRM, fmt: str, extensions: bool) -> bytes:
    service = Open311(crm, public=False)
    items = [service.request(c, extensions=extensions) for c in service.all_cases()]
    return write_document("requests", items, fmt)


def _comparable(data: bytes, fmt: str) -> list[dict[str, Any]]:
    """The items of a document, parsed with a real parser, in a stable order."""
    items = read_requests(data, fmt)
    if fmt == "xml":
        ET.fromstring(data)  # well-formed for the standard library's parser too
    elif fmt == "json":
        assert json.loads(data) is not None
    return sorted(items, key=lambda i: str(i["service_request_id"]))


def _fresh() -> CRM:
    return civiccrm.open("memory://", profile=PROFILE, clock=FixedClock(NOW))


@settings(max_examples=30)
@given(
    st.lists(requests(), min_size=1, max_size=4, unique_by=lambda r: r["service_request_id"]),
    st.sampled_from(
        [("xml", False), ("json", False), ("json", True), ("xml", True), ("csv", False)]
    ),
)
def test_export_then_import_keeps_every_field(
    items: list[dict[str, Any]], format_: tuple[str, bool]
) -> None:
    fmt, extensions = format_
    with _fresh() as first:
        result = Open311(first, public=False).import_requests(items)
        assert result.rejected == ()
        assert result.inserted == len(items)
        exported = _documents(first, fmt, extensions)
    with _fresh() as second:
        service = Open311(second, public=False)
        imported = service.import_requests(read_requests(exported, fmt))
        assert imported.rejected == ()
        assert imported.inserted == len(items)
        again = _documents(second, fmt, extensions)
        assert _comparable(again, fmt) == _comparable(exported, fmt)
        # Importing the same document again changes nothing.
        twice = service.import_requests(read_requests(exported, fmt))
        assert (twice.inserted, twice.updated, twice.unchanged) == (0, 0, len(items))
    # What went in came out, field by field.
    out = {str(i["service_request_id"]): i for i in read_requests(exported, fmt)}
    for item in items:
        got = out[item["service_request_id"]]
        assert got["service_code"] == item["service_code"]
        assert got["status"] == item["status"]
        for name in ("description", "address", "address_id", "zipcode", "media_url"):
            assert got[name] == item[name], name
        for name in ("lat", "long"):
            value = got[name]
            assert (None if value is None else float(value)) == item[name], name
        expected_notes = item["status_notes"]
        if expected_notes is None and item["status"] == "closed":
            expected_notes = "Closed."  # the profile's text for the status
        assert got["status_notes"] == expected_notes
        requested = datetime.fromisoformat(item["requested_datetime"])
        assert datetime.fromisoformat(got["requested_datetime"]) == requested
        if item["expected_datetime"] is not None:
            assert datetime.fromisoformat(got["expected_datetime"]) == datetime.fromisoformat(
                item["expected_datetime"]
            )
        else:
            assert got["expected_datetime"] is None
        if fmt != "csv":
            assert got["service_notice"] == (
                "Cleaned within a week." if item["service_code"] == "0070" else None
            )
        if extensions and "extended_attributes" in item:
            answers = got["extended_attributes"]["attributes"] or []
            sent = item["extended_attributes"]["attributes"]
            assert sorted((a["code"], str(a["value"])) for a in answers) == sorted(
                (a["code"], str(a["value"])) for a in sent
            )
