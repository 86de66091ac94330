"""Agency profiles: the Springfield example, and every problem of a bad profile at once."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civiccrm.errors import CivicCRMError, NotFoundError, PolicyError, ValidationError
from civiccrm.models import AttributeDatatype, CaseStatus, CaseType, Priority
from civiccrm.profile import (
    WRITE_KINDS,
    Profile,
    Role,
    Visibility,
    load_profile,
    parse_profile,
    springfield_path,
)
from civiccrm.routing.sla import SlaStart

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "springfield" / "agency.toml"

ALLOWED_DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")

MINIMAL = """\
[agency]
code = "testville"
name = "Testville"
default_region = "US"
time_zone = "America/Chicago"

[[departments]]
code = "roads"
name = "Roads"

[[departments]]
code = "parks"
name = "Parks"

[[queues]]
code = "roads-crew"
name = "Road crew"
department = "roads"

[[queues]]
code = "parks-crew"
name = "Park crew"
department = "parks"
"""


def problems_of(exc: PolicyError) -> dict[str, str]:
    """The problems as {path: message} (the paths in these tests are unique)."""
    return {p.path: p.message for p in exc.problems}


def parse_error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_profile(text, source="test.toml")
    return info.value


@pytest.fixture(scope="module")
def springfield() -> Profile:
    return load_profile(EXAMPLE)


# --------------------------------------------------------------------------------------
# The Springfield example


def test_example_is_the_shipped_profile() -> None:
    assert EXAMPLE.exists()
    assert EXAMPLE.resolve() == springfield_path().resolve()
    assert load_profile(springfield_path()) == load_profile(EXAMPLE)
    assert load_profile(str(EXAMPLE)) == load_profile(EXAMPLE)


def test_springfield_agency(springfield: Profile) -> None:
    agency = springfield.agency
    assert agency.code == "springfield"
    assert agency.name == "City of Springfield"
    assert agency.default_region == "US"
    assert agency.time_zone == "America/Chicago"
    assert agency.zone.key == "America/Chicago"
    assert agency.locale == "en-US"


def test_springfield_covers_the_main_departments(springfield: Profile) -> None:
    assert len(springfield.case_types) >= 25
    used = {ct.department for ct in springfield.case_types}
    for department in (
        "public-works",
        "planning-permits",
        "human-services",
        "public-health",
        "finance-revenue",
    ):
        assert department in used, department
        assert springfield.department(department).code == department
    names = {d.code: d.name.lower() for d in springfield.departments}
    assert "public works" in names["public-works"]
    assert "permits" in names["planning-permits"]
    assert "human services" in names["human-services"]
    assert "health" in names["public-health"]
    assert "finance" in names["finance-revenue"]
    # Benefits and tax case types exist, not just the departments.
    human = [ct for ct in springfield.case_types if ct.department == "human-services"]
    finance = [ct for ct in springfield.case_types if ct.department == "finance-revenue"]
    assert any("assistance" in (ct.name + " " + (ct.description or "")).lower() for ct in human)
    assert any("tax" in (ct.name + " " + (ct.description or "")).lower() for ct in finance)


def test_every_case_type_queue_exists_in_its_department(springfield: Profile) -> None:
    for ct in springfield.case_types:
        assert ct.queue is not None, ct.code
        queue = springfield.queue(ct.queue)
        assert queue.department == ct.department, ct.code
        assert springfield.department(ct.department).code == ct.department
    for queue in springfield.queues:
        assert springfield.department(queue.department).code == queue.department


def test_codes_are_unique(springfield: Profile) -> None:
    for items in (springfield.departments, springfield.queues, springfield.case_types):
        codes = [item.code for item in items]
        assert len(codes) == len(set(codes))


def test_service_codes_stay_strings(springfield: Profile) -> None:
    for ct in springfield.case_types:
        assert isinstance(ct.code, str)
    first = springfield.case_types[0]
    assert first.code == "001"
    assert springfield.case_type("001") is first
    assert first.name == "Pothole"
    # "001" is not 1: the lookup is by the exact string.
    with pytest.raises(NotFoundError):
        springfield.case_type("1")


def test_every_open311_datatype_is_used(springfield: Profile) -> None:
    used = {a.datatype for ct in springfield.case_types for a in ct.attributes}
    assert used == set(AttributeDatatype)
    assert {d.value for d in AttributeDatatype} == set(ALLOWED_DATATYPES)


def test_springfield_has_informational_and_required_attributes(springfield: Profile) -> None:
    attributes = [a for ct in springfield.case_types for a in ct.attributes]
    assert any(not a.variable for a in attributes)
    assert any(a.required for a in attributes)
    for a in attributes:
        assert not (a.required and not a.variable)
        if a.datatype.is_list:
            assert a.values
        else:
            assert not a.values


def test_lookups(springfield: Profile) -> None:
    for ct in springfield.case_types:
        assert springfield.case_type(ct.code) is ct
    for queue in springfield.queues:
        assert springfield.queue(queue.code) is queue
    for department in springfield.departments:
        assert springfield.department(department.code) is department


@pytest.mark.parametrize(
    ("method", "code", "record_type"),
    [
        ("case_type", "999", "case type"),
        ("case_type", "", "case type"),
        ("queue", "no-such-queue", "queue"),
        ("department", "no-such-department", "department"),
        ("department", "pw-streets", "department"),  # a queue code is not a department
    ],
)
def test_unknown_codes_raise_not_found(
    springfield: Profile, method: str, code: str, record_type: str
) -> None:
    with pytest.raises(NotFoundError) as info:
        getattr(springfield, method)(code)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, CivicCRMError)
    assert info.value.record_type == record_type
    assert info.value.key == code
    # A caller that only knows LookupError can catch it.
    with pytest.raises(LookupError):
        getattr(springfield, method)(code)


_EXAMPLE_VALUE = re.compile(r"(?:e\.g\.|like) (.+)$")


def test_datatype_description_examples_are_accepted(springfield: Profile) -> None:
    rejected = []
    for ct in springfield.case_types:
        for a in ct.attributes:
            match = _EXAMPLE_VALUE.search(a.datatype_description or "")
            if match is None:
                continue
            try:
                a.check(match.group(1))
            except ValueError as exc:
                rejected.append(f"{ct.code} {a.code}: {exc}")
    assert rejected == []


def test_parse_profile_takes_text_and_parsed_data() -> None:
    from_text = parse_profile(MINIMAL)
    from_data = parse_profile(tomllib.loads(MINIMAL))
    assert from_text == from_data
    assert [d.code for d in from_text.departments] == ["roads", "parks"]
    assert from_text.case_types == ()


# --------------------------------------------------------------------------------------
# Many mistakes, one error

FIVE_MISTAKES = """\
[agency]
code = "testville"
name = "Testville"
default_region = "US"
time_zone = "Mars/Olympus_Mons"

[[departments]]
code = "roads"
name = "Roads"

[[queues]]
code = "roads-crew"
name = "Road crew"
department = "roads"

[[queues]]
code = "ghost-crew"
name = "Ghost crew"
department = "nowhere"

[[case_types]]
code = "001"
name = "Pothole"
department = "roads"
queue = "roads-crew"

[[case_types]]
code = "001"
name = "Another pothole"
department = "roads"
queue = "roads-crew"

[[case_types]]
code = "003"
name = "Missing sign"
department = "roads"
queue = "roads-crew"

  [[case_types.attributes]]
  code = "count"
  datatype = "integer"
  description = "How many signs are missing?"

[colour]
favourite = "red"
"""

FIVE_PATHS = (
    "agency.time_zone",
    "queues[1].department",
    "case_types[1].code",
    "case_types[2].attributes[0].datatype",
    "colour",
)


def test_five_mistakes_in_one_error() -> None:
    error = parse_error(FIVE_MISTAKES)
    found = problems_of(error)
    assert set(found) == set(FIVE_PATHS)
    assert len(error.problems) == 5
    assert error.source == "test.toml"
    text = str(error)
    assert "test.toml" in text
    assert "5 problems" in text
    for path in FIVE_PATHS:
        assert path in text
        assert f"{path}: {found[path]}" in text
    assert "Mars/Olympus_Mons" in found["agency.time_zone"]
    assert "nowhere" in found["queues[1].department"]
    assert "duplicate" in found["case_types[1].code"]
    assert "case_types[0]" in found["case_types[1].code"]
    assert "unknown section" in found["colour"]


def test_five_mistakes_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "agency.toml"
    path.write_text(FIVE_MISTAKES, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_profile(path)
    assert {p.path for p in info.value.problems} == set(FIVE_PATHS)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)


def test_bad_datatype_path_and_allowed_values() -> None:
    error = parse_error(FIVE_MISTAKES)
    message = problems_of(error)["case_types[2].attributes[0].datatype"]
    assert "'integer'" in message
    for datatype in ALLOWED_DATATYPES:
        assert repr(datatype) in message
    assert f"  - case_types[2].attributes[0].datatype: {message}" in str(error).splitlines()


def test_unknown_key_in_a_table() -> None:
    text = MINIMAL.replace(
        'time_zone = "America/Chicago"', 'time_zone = "America/Chicago"\nmayor = "Quimby"'
    )
    error = parse_error(text)
    assert problems_of(error) == {"agency.mayor": "unknown field"}


def test_unknown_key_in_a_case_type_attribute() -> None:
    text = (
        MINIMAL
        + """
[[case_types]]
code = "R1"
name = "Pothole"
department = "roads"
queue = "roads-crew"

  [[case_types.attributes]]
  code = "size"
  datatype = "string"
  description = "How big?"
  colour = "red"
"""
    )
    error = parse_error(text)
    assert problems_of(error) == {"case_types[0].attributes[0].colour": "unknown field"}


# --------------------------------------------------------------------------------------
# One mistake at a time


def test_not_toml() -> None:
    error = parse_error("[agency\ncode = ")
    assert len(error.problems) == 1
    assert error.problems[0].path == ""
    assert "not valid TOML" in error.problems[0].message
    assert "line" in error.problems[0].message


def test_top_level_not_a_table() -> None:
    with pytest.raises(PolicyError) as info:
        parse_profile(["agency"])  # type: ignore[arg-type]
    assert "top level" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(PolicyError) as info:
        load_profile(path)
    assert len(info.value.problems) == 1
    assert "cannot read" in info.value.problems[0].message
    assert str(path) in info.value.problems[0].message
    assert info.value.source == str(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_profile(tmp_path)
    assert "cannot read" in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL.replace("Testville", "Sant\xe9 City").encode("latin-1"))
    with pytest.raises(PolicyError) as info:
        load_profile(path)
    assert "UTF-8" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_top_level_section() -> None:
    error = parse_error(MINIMAL + '\n[mayor]\nname = "x"\n')
    found = problems_of(error)
    assert list(found) == ["mayor"]
    assert "unknown section" in found["mayor"]
    for section in ("agency", "departments", "queues", "case_types", "calendars", "sla_policies"):
        assert section in found["mayor"]


def test_missing_agency() -> None:
    text = MINIMAL.split("[[departments]]", 1)[1]
    error = parse_error("[[departments]]" + text)
    assert problems_of(error) == {"agency": "is required"}


def test_agency_missing_fields() -> None:
    error = parse_error('[agency]\ncode = "x"\n')
    found = problems_of(error)
    assert found == {
        "agency.name": "is required",
        "agency.default_region": "is required",
        "agency.time_zone": "is required",
    }


AGENCY = {
    "code": '"testville"',
    "name": '"Testville"',
    "default_region": '"US"',
    "time_zone": '"America/Chicago"',
}


def agency_toml(**overrides: str) -> str:
    fields = {**AGENCY, **overrides}
    return "[agency]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())


@pytest.mark.parametrize(
    ("field", "value", "path", "fragment"),
    [
        ("time_zone", '"Mars/Olympus_Mons"', "agency.time_zone", "IANA time zone"),
        ("time_zone", '""', "agency.time_zone", "IANA time zone"),
        ("time_zone", "5", "agency.time_zone", "expected a string"),
        ("default_region", '"XX"', "agency.default_region", "ISO 3166"),
        ("locale", '"not a tag!"', "agency.locale", "BCP 47"),
        ("code", '"Test Ville"', "agency.code", "not a code"),
        ("name", '"   "', "agency.name", "must not be empty"),
    ],
)
def test_bad_agency_field(field: str, value: str, path: str, fragment: str) -> None:
    error = parse_error(agency_toml(**{field: value}))
    found = problems_of(error)
    assert list(found) == [path]
    assert fragment in found[path]


def test_agency_alone_is_a_valid_profile() -> None:
    profile = parse_profile(agency_toml(locale='"es-mx"'))
    assert profile.agency.locale == "es-MX"
    assert profile.departments == profile.queues == profile.case_types == ()


def test_time_zone_that_is_a_tzdata_directory() -> None:
    text = MINIMAL.replace('"America/Chicago"', '"America"')
    error = parse_error(text)
    found = problems_of(error)
    assert list(found) == ["agency.time_zone"]
    assert "is not an IANA time zone" in found["agency.time_zone"]


def test_queue_in_missing_department() -> None:
    text = MINIMAL + '\n[[queues]]\ncode = "ghost"\nname = "Ghost"\ndepartment = "nowhere"\n'
    error = parse_error(text)
    assert problems_of(error) == {"queues[2].department": "no department 'nowhere'"}


def test_case_type_with_missing_department_and_queue() -> None:
    text = (
        MINIMAL
        + '\n[[case_types]]\ncode = "X1"\nname = "X"\ndepartment = "nowhere"\nqueue = "no-queue"\n'
    )
    found = problems_of(parse_error(text))
    assert found == {
        "case_types[0].department": "no department 'nowhere'",
        "case_types[0].queue": "no queue 'no-queue'",
    }


def test_case_type_queue_of_another_department() -> None:
    text = (
        MINIMAL
        + '\n[[case_types]]\ncode = "R1"\nname = "Pothole"\ndepartment = "roads"\n'
        + 'queue = "parks-crew"\n'
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].queue"]
    message = found["case_types[0].queue"]
    assert "'parks-crew'" in message
    assert "'parks'" in message
    assert "'roads'" in message


def test_case_type_without_queue_is_fine() -> None:
    text = MINIMAL + '\n[[case_types]]\ncode = "R1"\nname = "Pothole"\ndepartment = "roads"\n'
    profile = parse_profile(text)
    assert profile.case_type("R1").queue is None


def test_service_code_must_be_a_string() -> None:
    text = MINIMAL + '\n[[case_types]]\ncode = 1\nname = "Pothole"\ndepartment = "roads"\n'
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].code"]
    assert "expected a string" in found["case_types[0].code"]


def test_service_code_with_leading_zeros_is_kept() -> None:
    text = MINIMAL + '\n[[case_types]]\ncode = "007"\nname = "Spy"\ndepartment = "roads"\n'
    profile = parse_profile(text)
    assert profile.case_type("007").code == "007"
    assert isinstance(profile.case_types[0], CaseType)


def test_duplicate_department_and_queue_codes() -> None:
    text = (
        MINIMAL
        + '\n[[departments]]\ncode = "roads"\nname = "Roads again"\n'
        + '\n[[queues]]\ncode = "roads-crew"\nname = "Crew again"\ndepartment = "roads"\n'
    )
    found = problems_of(parse_error(text))
    assert set(found) == {"departments[2].code", "queues[2].code"}
    assert "departments[0]" in found["departments[2].code"]
    assert "queues[0]" in found["queues[2].code"]


def test_section_that_is_not_an_array_of_tables() -> None:
    # A key before the first table header is a top-level key.
    text = 'case_types = "none"\n' + MINIMAL
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types"]
    assert "[[case_types]]" in found["case_types"]


@pytest.mark.parametrize(
    "line", ["departments = 5", "queues = true", "departments = 1.5", "queues = 1979-05-27"]
)
def test_scalar_section_is_a_policy_error(line: str) -> None:
    error = parse_error(line + "\n" + agency_toml())
    section = line.split(" ", 1)[0]
    assert section in {p.path for p in error.problems}


def _attribute_profile(attribute: str) -> str:
    return (
        MINIMAL
        + '\n[[case_types]]\ncode = "R1"\nname = "Pothole"\ndepartment = "roads"\n'
        + 'queue = "roads-crew"\n\n  [[case_types.attributes]]\n'
        + attribute
    )


def test_list_attribute_without_values() -> None:
    text = _attribute_profile(
        'code = "size"\ndatatype = "singlevaluelist"\ndescription = "Size?"\n'
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].attributes[0].values"]
    assert "at least one value" in found["case_types[0].attributes[0].values"]


def test_multivaluelist_with_empty_values() -> None:
    text = _attribute_profile(
        'code = "size"\ndatatype = "multivaluelist"\ndescription = "Size?"\nvalues = []\n'
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].attributes[0].values"]


def test_values_on_a_non_list_attribute() -> None:
    text = _attribute_profile(
        'code = "note"\ndatatype = "string"\ndescription = "Note?"\n'
        'values = [{ key = "a", name = "A" }]\n'
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].attributes[0].values"]
    message = found["case_types[0].attributes[0].values"]
    assert "singlevaluelist" in message
    assert "string" in message


def test_duplicate_option_keys() -> None:
    text = _attribute_profile(
        'code = "size"\ndatatype = "singlevaluelist"\ndescription = "Size?"\n'
        'values = [{ key = "a", name = "A" }, { key = "a", name = "Also A" }]\n'
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].attributes[0].values[1].key"]
    assert "duplicate" in found["case_types[0].attributes[0].values[1].key"]


def test_duplicate_attribute_codes() -> None:
    text = _attribute_profile(
        'code = "a"\ndatatype = "text"\ndescription = "A?"\n'
        '\n  [[case_types.attributes]]\ncode = "a"\ndatatype = "text"\ndescription = "A again?"\n'
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].attributes[1].code"]


def test_required_informational_attribute() -> None:
    text = _attribute_profile(
        'code = "notice"\ndatatype = "string"\ndescription = "Read this."\n'
        "required = true\nvariable = false\n"
    )
    found = problems_of(parse_error(text))
    assert list(found) == ["case_types[0].attributes[0].required"]
    assert "variable = false" in found["case_types[0].attributes[0].required"]


def test_attribute_problems_in_several_case_types_are_all_listed() -> None:
    text = _attribute_profile('code = "size"\ndatatype = "singlevaluelist"\ndescription = "S"\n')
    text += (
        '\n[[case_types]]\ncode = "R2"\nname = "Sign"\ndepartment = "roads"\n'
        '\n  [[case_types.attributes]]\ncode = "n"\ndatatype = "integer"\ndescription = "N"\n'
        '\n  [[case_types.attributes]]\ncode = "m"\ndatatype = "number"\ndescription = ""\n'
    )
    found = problems_of(parse_error(text))
    assert set(found) == {
        "case_types[0].attributes[0].values",
        "case_types[1].attributes[0].datatype",
        "case_types[1].attributes[1].description",
    }


# --------------------------------------------------------------------------------------
# Property: whatever the input, a failure is a PolicyError

SECTIONS = ("agency", "departments", "queues", "case_types")
FIELD_NAMES = (
    "code",
    "name",
    "description",
    "department",
    "queue",
    "group",
    "keywords",
    "default_priority",
    "type",
    "active",
    "attributes",
    "datatype",
    "required",
    "variable",
    "order",
    "datatype_description",
    "values",
    "key",
    "default_region",
    "time_zone",
    "locale",
)

toml_scalars = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "001",
            "roads",
            "America/Chicago",
            "US",
            "en-US",
            "string",
            "singlevaluelist",
            "multivaluelist",
            "normal",
            "realtime",
        ]
    ),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))),
    st.dates(),
    st.times(),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
toml_values = st.recursive(
    toml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=20,
)
# A section is a table or an array of tables (or, rarely, a string).
# NOTE: non-list scalars other than strings under departments/queues are left out here:
# they hit the TypeError bug of test_scalar_section_is_a_policy_error.
section_values = st.one_of(
    st.dictionaries(keys, toml_values, max_size=6),
    st.lists(st.dictionaries(keys, toml_values, max_size=6), max_size=4),
    st.text(max_size=5),
)
toml_documents = st.dictionaries(
    st.one_of(st.sampled_from(SECTIONS), st.text(max_size=8)), section_values, max_size=5
)


def _check_policy_error_only(data: Any) -> None:
    try:
        profile = parse_profile(data)
    except PolicyError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert isinstance(problem.path, str)
            assert isinstance(problem.message, str)
            assert problem.message
        str(exc)
    else:
        assert isinstance(profile, Profile)


@settings(max_examples=150, deadline=None, database=None)
@given(toml_documents)
def test_arbitrary_toml_data_raises_only_policy_error(data: dict[str, Any]) -> None:
    _check_policy_error_only(data)


def _valid_base() -> dict[str, Any]:
    return tomllib.loads(
        MINIMAL
        + '\n[[case_types]]\ncode = "R1"\nname = "Pothole"\ndepartment = "roads"\n'
        + 'queue = "roads-crew"\n\n  [[case_types.attributes]]\ncode = "size"\n'
        + 'datatype = "singlevaluelist"\ndescription = "Size?"\n'
        + 'values = [{ key = "small", name = "Small" }]\n'
    )


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    section=st.sampled_from(("agency", "departments", "queues", "case_types", "attribute")),
    field=st.sampled_from(FIELD_NAMES),
    value=toml_values,
)
def test_one_bad_field_in_a_valid_profile_raises_only_policy_error(
    section: str, field: str, value: Any
) -> None:
    data = _valid_base()
    if section == "agency":
        data["agency"][field] = value
    elif section == "attribute":
        data["case_types"][0]["attributes"][0][field] = value
    else:
        data[section][0][field] = value
    _check_policy_error_only(data)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text())
def test_arbitrary_text_raises_only_policy_error(text: str) -> None:
    _check_policy_error_only(text)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.sampled_from(MINIMAL.splitlines()), max_size=30))
def test_shuffled_profile_lines_raise_only_policy_error(lines: list[str]) -> None:
    _check_policy_error_only("\n".join(lines))


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 3000 + "]" * 3000,
        "x = " + "1" * 5000,
    ],
    ids=["deeply-nested-array", "huge-integer"],
)
def test_pathological_toml_raises_policy_error(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_profile(text)


def test_datetime_scalars_are_not_strings() -> None:
    # TOML has date and time values; a time zone is text, not a local date.
    text = MINIMAL.replace('"America/Chicago"', "1979-05-27")
    found = problems_of(parse_error(text))
    assert list(found) == ["agency.time_zone"]
    assert "expected a string" in found["agency.time_zone"]
    # And Python data with such values fails the same way.
    data = tomllib.loads(MINIMAL)
    for value in (
        date(2026, 1, 1),
        time(12, 0),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
    ):
        data["agency"]["time_zone"] = value
        with pytest.raises(PolicyError) as info:
            parse_profile(data)
        assert {p.path for p in info.value.problems} == {"agency.time_zone"}


def test_duplicate_found_even_when_one_of_the_pair_has_other_problems() -> None:
    text = (
        MINIMAL
        + """
[[case_types]]
code = "001"
name = "Pothole"
department = "roads"

[[case_types]]
code = "001"
name = "Another"
department = "roads"
default_priority = "extreme"
"""
    )
    with pytest.raises(PolicyError) as info:
        parse_profile(text)
    paths = {p.path for p in info.value.problems}
    assert {"case_types[1].code", "case_types[1].default_priority"} <= paths


def test_not_found_names_the_code_as_given() -> None:
    profile = load_profile(springfield_path())
    with pytest.raises(NotFoundError, match=r"no case type '999'"):
        profile.case_type("999")


# --------------------------------------------------------------------------------------
# Roles


def test_springfield_roles(springfield: Profile) -> None:
    assert list(springfield.roles) == [
        "caseworker",
        "supervisor",
        "analyst",
        "auditor",
        "public_portal",
    ]
    for code, role in springfield.roles.items():
        assert springfield.role(code) is role
        assert role.code == code
        assert role.name.strip()
        assert role.description
    assert springfield.role("supervisor").default is Visibility.CLEAR
    assert springfield.role("supervisor").writes == frozenset(WRITE_KINDS)
    assert springfield.role("analyst").fields == {
        "direct": Visibility.HIDDEN,
        "quasi": Visibility.MASKED,
    }
    assert springfield.role("public_portal").writes == {"case"}
    # Only supervisors erase; exports are for supervisors and auditors.
    assert {r.code for r in springfield.roles.values() if "erase" in r.writes} == {"supervisor"}
    assert {r.code for r in springfield.roles.values() if "export" in r.writes} == {
        "supervisor",
        "auditor",
    }


def test_unknown_role_raises_not_found(springfield: Profile) -> None:
    with pytest.raises(NotFoundError) as info:
        springfield.role("janitor")
    assert info.value.record_type == "role"
    assert info.value.key == "janitor"
    assert str(info.value) == "no role 'janitor'"


def test_a_profile_without_roles_has_none() -> None:
    profile = parse_profile(MINIMAL)
    assert profile.roles == {}
    with pytest.raises(NotFoundError):
        profile.role("caseworker")


def test_a_minimal_role() -> None:
    profile = parse_profile(MINIMAL + '\n[roles.clerk]\nname = "Clerk"\n')
    role = profile.role("clerk")
    assert role == Role(code="clerk", name="Clerk")
    assert role.default is Visibility.HIDDEN
    assert role.fields == {}
    assert role.writes == frozenset()
    assert role.description is None


def test_role_keys() -> None:
    text = (
        MINIMAL
        + """
[roles.clerk]
name = "Clerk"
description = "Front desk."
default = "masked"
writes = ["case", "note"]

  [roles.clerk.fields]
  direct = "hidden"
  "Citizen.*" = "masked"
  "Case.location" = "clear"
"""
    )
    role = parse_profile(text).role("clerk")
    assert role.description == "Front desk."
    assert role.default is Visibility.MASKED
    assert role.writes == {"case", "note"}
    assert dict(role.fields) == {
        "direct": Visibility.HIDDEN,
        "Citizen.*": Visibility.MASKED,
        "Case.location": Visibility.CLEAR,
    }
    # Roles are immutable.
    with pytest.raises(TypeError):
        role.fields["direct"] = Visibility.CLEAR  # type: ignore[index]


ROLE_MISTAKES = """\
[roles.analyst]
name = "Analyst"
default = "blurred"
writes = ["case", "delete", "case", 5]

  [roles.analyst.fields]
  "Citizen.shoe_size" = "hidden"
  "Citizn.given_name" = "hidden"
  "Case.status" = "clear"
  "Citizen.given_name" = "visible"
  "Citizen.contact_points.value" = "masked"
  everything = "clear"
  quasi = "masked"

[roles.clerk]
description = "Has no name"
colour = "red"

[roles."Front Desk"]
name = "Front desk"

[roles.porter]
name = "   "
fields = ["direct"]
writes = "case"
"""

ROLE_MISTAKE_PATHS = {
    "roles.analyst.default": "'blurred' is not one of 'clear', 'masked', 'hidden'",
    "roles.analyst.writes[1]": "'delete' is not a write kind",
    "roles.analyst.writes[2]": "duplicate 'case' (also writes[0])",
    "roles.analyst.writes[3]": "expected a string, got an integer",
    'roles.analyst.fields."Citizen.shoe_size"': "Citizen has no field 'shoe_size'",
    'roles.analyst.fields."Citizn.given_name"': "no model 'Citizn'",
    'roles.analyst.fields."Case.status"': "Case.status is not personal data",
    'roles.analyst.fields."Citizen.given_name"': "'visible' is not one of",
    'roles.analyst.fields."Citizen.contact_points.value"': "no field 'contact_points.value'",
    "roles.analyst.fields.everything": "'everything' is not a field key",
    "roles.clerk.name": "is required",
    "roles.clerk.colour": "unknown field",
    'roles."Front Desk"': "'Front Desk' is not a code",
    "roles.porter.name": "must not be empty",
    "roles.porter.fields": "expected a table, got a list",
    "roles.porter.writes": "expected a list, got a string",
}


def test_every_role_mistake_in_one_error() -> None:
    error = parse_error(MINIMAL + "\n" + ROLE_MISTAKES)
    found = problems_of(error)
    assert set(found) == set(ROLE_MISTAKE_PATHS)
    assert len(error.problems) == len(ROLE_MISTAKE_PATHS)
    for path, fragment in ROLE_MISTAKE_PATHS.items():
        assert fragment in found[path], (path, found[path])
        assert f"  - {path}: {found[path]}" in str(error).splitlines()
    # The messages say what would be right.
    for write_kind in WRITE_KINDS:
        assert repr(write_kind) in found["roles.analyst.writes[1]"]
    assert (
        "title, description, media_url, location, tags, required_skills, attributes"
        in found['roles.analyst.fields."Case.status"']
    )
    assert (
        "Citizen, Organization, Case, Interaction, CaseEvent"
        in (found['roles.analyst.fields."Citizn.given_name"'])
    )


def test_role_mistakes_come_with_the_other_sections_mistakes() -> None:
    error = parse_error(FIVE_MISTAKES + "\n" + ROLE_MISTAKES)
    assert {p.path for p in error.problems} == set(FIVE_PATHS) | set(ROLE_MISTAKE_PATHS)


@pytest.mark.parametrize(
    ("role", "path", "fragment"),
    [
        ('name = "A"\ndefault = "visible"', "roles.r.default", "'visible' is not one of"),
        ('name = "A"\ndefault = 1', "roles.r.default", "1 is not one of"),
        ("description = 'x'", "roles.r.name", "is required"),
        ("name = 5", "roles.r.name", "expected a string, got an integer"),
        ('name = "A"\ndescription = 5', "roles.r.description", "expected a string"),
        ('name = "A"\nwrites = ["read"]', "roles.r.writes[0]", "'read' is not a write kind"),
        ('name = "A"\nwrites = ["Case"]', "roles.r.writes[0]", "'Case' is not a write kind"),
        ('name = "A"\ncode = "r"', "roles.r.code", "unknown field"),
        (
            'name = "A"\n[roles.r.fields]\n"Agent.email" = "clear"',
            'roles.r.fields."Agent.email"',
            "no model 'Agent'",
        ),
        (
            'name = "A"\n[roles.r.fields]\n"ContactPoint.value" = "clear"',
            'roles.r.fields."ContactPoint.value"',
            "no model 'ContactPoint'",
        ),
        (
            'name = "A"\n[roles.r.fields]\n"Organization.name" = "clear"',
            'roles.r.fields."Organization.name"',
            "is not personal data",
        ),
        (
            'name = "A"\n[roles.r.fields]\n"Case.shoe_size" = "clear"',
            'roles.r.fields."Case.shoe_size"',
            "Case has no field 'shoe_size'",
        ),
        (
            'name = "A"\n[roles.r.fields]\nCitizen = "clear"',
            "roles.r.fields.Citizen",
            "is not a field key",
        ),
        (
            'name = "A"\n[roles.r.fields]\n"Citizen.given_name" = "masked "',
            'roles.r.fields."Citizen.given_name"',
            "'masked ' is not one of",
        ),
        (
            'name = "A"\n[roles.r.fields]\n"Citizen.given_name" = { a = 1 }',
            'roles.r.fields."Citizen.given_name"',
            "is not one of",
        ),
        (
            'name = "A"\n[roles.r.fields]\n"Case.\\"title\\"" = "clear"',
            'roles.r.fields."Case.\\"title\\""',
            "Case has no field",
        ),
    ],
)
def test_one_role_mistake(role: str, path: str, fragment: str) -> None:
    error = parse_error(MINIMAL + "\n[roles.r]\n" + role + "\n")
    found = problems_of(error)
    assert list(found) == [path]
    assert fragment in found[path]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('roles = "caseworker"\n', "roles"),
        ("roles = [1, 2]\n", "roles"),
        ('[roles]\nclerk = "Clerk"\n', "roles.clerk"),
        ('[roles]\nCaseworker = { name = "Caseworker" }\n', "roles.Caseworker"),
        ('[[roles]]\nname = "Clerk"\n', "roles"),
    ],
)
def test_roles_section_of_the_wrong_shape(text: str, path: str) -> None:
    # A top-level key must come before the first table header.
    body = text + MINIMAL if not text.startswith("[") else MINIMAL + "\n" + text
    assert list(problems_of(parse_error(body))) == [path]


def test_role_codes_that_are_not_bare_keys_are_quoted_in_paths() -> None:
    data = tomllib.loads(MINIMAL)
    data["roles"] = {"café desk": {"name": "Desk"}, "a.b": {"name": "AB"}}
    with pytest.raises(PolicyError) as info:
        parse_profile(data)
    assert {p.path for p in info.value.problems} == {'roles."café desk"', 'roles."a.b"'}


def test_roles_in_python() -> None:
    role = Role(code="desk", name="Desk", fields={"quasi": "clear"}, writes=["case", "case"])
    assert role.fields == {"quasi": Visibility.CLEAR}
    assert role.writes == {"case"}
    assert hash(role) == hash(Role(code="desk", name="Desk", writes={"case"}))
    with pytest.raises(ValidationError) as info:
        Role(
            code="desk",
            name="Desk",
            default="murky",  # type: ignore[arg-type]
        )
    assert [p.path for p in info.value.problems] == ["default"]
    with pytest.raises(ValidationError) as info:
        Role(code="desk", name="Desk", fields={"Citizen.id": "clear", "x": "clear"})
    assert [p.path for p in info.value.problems] == ['fields."Citizen.id"', "fields.x"]
    with pytest.raises(ValidationError) as info:
        Role(code="desk", name="Desk", writes={"case", "rewrite"})
    assert [p.path for p in info.value.problems] == ["writes"]
    with pytest.raises(ValidationError):
        Role(code="Desk", name="Desk")


def test_profile_roles_are_indexed_by_their_codes() -> None:
    profile = parse_profile(MINIMAL)
    desk = Role(code="desk", name="Desk")
    with_roles = Profile(agency=profile.agency, roles={"desk": desk})
    assert with_roles.role("desk") is desk
    assert hash(with_roles) == hash(Profile(agency=profile.agency, roles={"desk": desk}))
    with pytest.raises(ValidationError, match="holds the role 'desk'"):
        Profile(agency=profile.agency, roles={"counter": desk})
    with pytest.raises(TypeError):
        with_roles.roles["other"] = desk  # type: ignore[index]


def test_unknown_section_message_lists_roles() -> None:
    found = problems_of(parse_error(MINIMAL + '\n[mayor]\nname = "x"\n'))
    assert "roles" in found["mayor"]


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.dictionaries(st.one_of(keys, st.sampled_from(["clerk", "desk"])), toml_values, max_size=4)
)
def test_arbitrary_roles_raise_only_policy_error(roles: dict[str, Any]) -> None:
    data = _valid_base()
    data["roles"] = roles
    _check_policy_error_only(data)


@settings(max_examples=200, deadline=None, database=None)
@given(
    field=st.sampled_from(["name", "description", "default", "writes", "fields", "other"]),
    value=toml_values,
)
def test_one_bad_key_in_a_valid_role_raises_only_policy_error(field: str, value: Any) -> None:
    data = _valid_base()
    data["roles"] = {
        "clerk": {
            "name": "Clerk",
            "default": "masked",
            "writes": ["case"],
            "fields": {"direct": "hidden", "Case.title": "clear"},
        }
    }
    data["roles"]["clerk"][field] = value
    _check_policy_error_only(data)


# --------------------------------------------------------------------------------------
# Calendars and SLA policies

CHICAGO = ZoneInfo("America/Chicago")


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO)


def test_springfield_calendars(springfield: Profile) -> None:
    assert list(springfield.calendars) == ["city-hall", "federal", "around-the-clock"]
    assert springfield.calendar_names["city-hall"] == "City Hall business hours"
    city = springfield.calendar("city-hall")
    federal = springfield.calendar("federal")
    always = springfield.calendar("around-the-clock")
    for calendar in (city, federal, always):
        assert calendar.zone == "America/Chicago"  # the agency's
    assert always.hours is None
    assert city.hours is not None
    assert len(city.hours[0]) == 2
    # US federal, observed: July 4, 2026 is a Saturday, so Friday July 3 is closed.
    for calendar in (city, federal):
        assert not calendar.is_open(chicago(2026, 7, 3, 10))
        assert calendar.is_open(chicago(2026, 7, 2, 10))
    # Illinois: Lincoln's Birthday and Casimir Pulaski Day close City Hall only.
    for day in ((2026, 2, 12), (2026, 3, 2)):
        assert not city.is_open(chicago(*day, 10))
        assert federal.is_open(chicago(*day, 10))
    # The profile's own: the day after Thanksgiving, New Year's Eve afternoon, a snow
    # morning.
    assert not city.is_open(chicago(2026, 11, 27, 10))
    assert federal.is_open(chicago(2026, 11, 27, 10))
    assert city.is_open(chicago(2026, 12, 31, 10))
    assert not city.is_open(chicago(2026, 12, 31, 14))
    assert not city.is_open(chicago(2025, 1, 6, 10))
    assert city.is_open(chicago(2025, 1, 6, 13))
    assert always.is_open(chicago(2026, 12, 25, 3))
    # Business time: Thursday July 2 at 16:00 plus 2 business hours on City Hall's
    # calendar is Monday July 6 at 09:00.
    assert city.add(chicago(2026, 7, 2, 16), timedelta(hours=2)) == chicago(2026, 7, 6, 9)


def test_springfield_sla_policies(springfield: Profile) -> None:
    assert springfield.agency.default_sla_policy == "standard"
    for ct in springfield.case_types:
        assert ct.sla_policy is not None, ct.code
        policy = springfield.sla_policy(ct.sla_policy)
        assert policy.calendar in springfield.calendars
        assert policy.target("resolution") is not None, ct.code
    pothole = springfield.sla_policy(springfield.case_type("001").sla_policy or "")
    assert pothole.code == "street-repair"
    assert [(t.name, t.unit.value, t.amount) for t in pothole.targets] == [
        ("first_response", "business_days", 1),
        ("resolution", "business_days", 5),
    ]
    assert pothole.warnings == (0.5, 0.75)
    assert pothole.pause_statuses == {CaseStatus.PENDING}
    assert pothole.reset_on == {"case_type_changed"}
    assert pothole.start is SlaStart.REPORTED
    assert pothole.for_priority(Priority.URGENT).calendar == "around-the-clock"
    for code in ("009", "010", "011", "012", "034"):
        policy = springfield.sla_policy(springfield.case_type(code).sla_policy or "")
        assert springfield.calendar(policy.calendar).hours is None, code
    with pytest.raises(NotFoundError) as info:
        springfield.sla_policy("gold")
    assert (info.value.record_type, info.value.key) == ("SLA policy", "gold")
    with pytest.raises(NotFoundError, match="no calendar 'moon'"):
        springfield.calendar("moon")


def test_calendar_keys() -> None:
    profile = parse_profile(
        MINIMAL
        + """
[calendars.night-desk]
name = "Night desk"
description = "Overnight phone line"
time_zone = "America/New_York"
hours = { mon = ["22:00-06:00"], tue = ["08:00-24:00"], sun = [] }
extra_holidays = [2026-06-01, "2026-06-02"]
half_days = { "2026-06-09" = ["09:00-10:00"], 2026-06-16 = [] }
closures = [
  { start = 2026-06-23T08:00:00, end = "2026-06-23T12:00", reason = "Drill" },
  { start = 2026-06-30T13:00:00Z, end = "2026-06-30T15:00:00-05:00" },
]
"""
    )
    night = profile.calendar("night-desk")
    assert night.zone == "America/New_York"
    assert profile.calendar_names == {"night-desk": "Night desk"}
    ny = ZoneInfo("America/New_York")

    def at(month: int, day: int, hour: int) -> datetime:
        return datetime(2026, month, day, hour, tzinfo=ny)

    assert night.is_open(at(5, 4, 23))  # Monday night ...
    assert night.is_open(at(5, 5, 5))  # ... into Tuesday morning
    assert night.is_open(at(5, 5, 23))  # Tuesday until 24:00
    assert not night.is_open(at(5, 6, 0))
    assert not night.is_open(at(5, 6, 10))  # Wednesday: closed
    assert night.holidays == {date(2026, 6, 1), date(2026, 6, 2)}
    assert night.is_open(at(6, 9, 9))  # a half day
    assert not night.is_open(at(6, 9, 10))
    assert not night.is_open(at(6, 16, 9))
    assert not night.is_open(at(6, 23, 9))  # a closure in local time
    assert night.is_open(at(6, 23, 12))
    assert night.closures[1] == (
        datetime(2026, 6, 30, 13, tzinfo=UTC),
        datetime(2026, 6, 30, 20, tzinfo=UTC),
    )


def test_calendar_time_zone_defaults_to_the_agency() -> None:
    profile = parse_profile(MINIMAL + '\n[calendars.always]\nname = "24x7"\nhours = "24x7"\n')
    assert profile.calendar("always").zone == "America/Chicago"
    assert profile.calendar("always").hours is None
    assert profile.sla_policies == {}


CALENDAR_MISTAKES = (
    MINIMAL
    + """
[calendars.office]
time_zone = "Mars/Base"
hours = { mon = ["8-12", "13:00-25:00", 9], funday = ["08:00-09:00"], tue = "08:00-17:00", wed = ["08:00-08:00"] }
holidays = { country = "US", region = "IL" }
extra_holidays = ["2026-02-30", 5]
half_days = { "tomorrow" = ["08:00-12:00"], "2026-12-24" = "08:00-12:00" }
closures = [
  { start = "2026-01-05", end = "2026-01-05T17:00" },
  { start = "2026-01-06T17:00", end = "2026-01-06T08:00" },
  "snow",
  { start = 2026-01-07T08:00:00, why = "x" },
]
colour = "blue"

[calendars.Office]
name = "Capital"
hours = "9 to 5"

[calendars.overlap]
name = "Overlap"
hours = { fri = ["11:00-13:00", "08:00-12:00"] }
half_days = { "2026-07-02" = ["16:00-02:00"] }
holidays = { country = "US", subdivision = "ZZ" }
"""
)


def test_every_calendar_mistake_in_one_error() -> None:
    found = problems_of(parse_error(CALENDAR_MISTAKES))
    expected = {
        "calendars.office.name": "is required",
        "calendars.office.time_zone": "Mars/Base",
        "calendars.office.hours.mon[0]": "not an interval",
        "calendars.office.hours.mon[1]": "not on a clock",
        "calendars.office.hours.mon[2]": "got an integer",
        "calendars.office.hours.funday": "unknown day",
        "calendars.office.hours.tue": "expected a list",
        "calendars.office.hours.wed[0]": "same time",
        "calendars.office.holidays.region": "unknown field",
        "calendars.office.extra_holidays[0]": "not a date",
        "calendars.office.extra_holidays[1]": "expected a date",
        "calendars.office.half_days.tomorrow": "not a date",
        "calendars.office.half_days.2026-12-24": "expected a list",
        "calendars.office.closures[0].start": "not a date and time",
        "calendars.office.closures[1].end": "after start",
        "calendars.office.closures[2]": "expected a table",
        "calendars.office.closures[3].end": "is required",
        "calendars.office.closures[3].why": "unknown field",
        "calendars.office.colour": "unknown field",
        "calendars.Office": "is not a code",
        "calendars.Office.hours": "24x7",
    }
    for path, fragment in expected.items():
        assert path in found, path
        assert fragment in found[path], (path, found[path])
    # A calendar whose every key is well formed but which cannot be built: the problems
    # of its hours and of its holidays, at their TOML paths (Friday's [1] is 08-12).
    assert found["calendars.overlap.holidays.subdivision"].startswith("'ZZ' is not")
    assert found["calendars.overlap.hours.fri[0]"] == "overlaps hours.fri[1]"
    assert set(found) == {
        *expected,
        "calendars.overlap.holidays.subdivision",
        "calendars.overlap.hours.fri[0]",
    }


def test_overlapping_hours_are_reported_at_their_toml_paths() -> None:
    text = (
        MINIMAL
        + """
[calendars.overlap]
name = "Overlap"
hours = { thu = ["20:00-02:00"], fri = ["11:00-13:00", "01:00-12:00"] }
"""
    )
    found = problems_of(parse_error(text))
    # Friday's intervals in the file's order: [0] is 11-13, [1] is 01-12 (which the
    # Thursday night shift runs into).
    assert found == {
        "calendars.overlap.hours.fri[1]": "overlaps hours.thu[0]",
        "calendars.overlap.hours.fri[0]": "overlaps hours.fri[1]",
    }


def test_half_day_overlapping_the_next_morning() -> None:
    text = (
        MINIMAL
        + """
[calendars.office]
name = "Office"
hours = { fri = ["08:00-17:00"] }
half_days = { "2026-07-09" = ["16:00-09:00"] }
"""
    )
    error = parse_error(text)
    assert len(error.problems) == 1
    # Either is said to overlap the other, each by its TOML path.
    (problem,) = error.problems
    paths = {"calendars.office.hours.fri[0]", "calendars.office.half_days.2026-07-09[0]"}
    assert problem.path in paths
    other = (paths - {problem.path}).pop().removeprefix("calendars.office.")
    assert problem.message == f"overlaps {other}"


POLICY_BASE = (
    MINIMAL
    + """
[calendars.office]
name = "Office"
hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"] }
"""
)


def test_sla_policy_keys() -> None:
    profile = parse_profile(
        POLICY_BASE.replace(
            'time_zone = "America/Chicago"',
            'time_zone = "America/Chicago"\ndefault_sla_policy = "p"',
        )
        + """
[[case_types]]
code = "R1"
name = "Pothole"
department = "roads"
sla_policy = "p"

[calendars.always]
name = "24x7"
hours = "24x7"

[sla_policies.p]
name = "Policy"
description = "All of it"
calendar = "office"
start = "opened"
warnings = [0.25, 0.5, 0.9]
pause_statuses = ["pending", "assigned"]
reset_on = ["case_type_changed", "reopened", "queue_changed", "priority_changed"]
targets = [
  { name = "first_response", business_minutes = 90 },
  { name = "update", calendar_hours = 1.5, met_by = "contact", repeat = true },
  { name = "visit", business_hours = 4, met_by = "status:in_progress" },
  { name = "signoff", calendar_minutes = 30, met_by = "event:escalated" },
  { name = "resolution", calendar_days = 3 },
]

  [sla_policies.p.priorities.urgent]
  calendar = "always"

    [[sla_policies.p.priorities.urgent.targets]]
    name = "resolution"
    business_hours = 8

    [[sla_policies.p.priorities.urgent.targets]]
    name = "callback"
    business_minutes = 15
    met_by = "contact"

  [sla_policies.p.priorities.low]
  targets = [{ name = "update", business_days = 2 }]
"""
    )
    policy = profile.sla_policy("p")
    assert profile.agency.default_sla_policy == "p"
    assert profile.case_type("R1").sla_policy == "p"
    assert policy.description == "All of it"
    assert policy.start is SlaStart.OPENED
    assert policy.warnings == (0.25, 0.5, 0.9)
    assert policy.pause_statuses == {CaseStatus.PENDING, CaseStatus.ASSIGNED}
    assert policy.reset_on == {"case_type_changed", "reopened", "queue_changed", "priority_changed"}
    assert [(t.name, t.duration) for t in policy.targets] == [
        ("first_response", timedelta(minutes=90)),
        ("update", timedelta(minutes=90)),
        ("visit", timedelta(hours=4)),
        ("signoff", timedelta(minutes=30)),
        ("resolution", timedelta(days=3)),
    ]
    assert [t.met_by for t in policy.targets] == [
        "first_response",
        "contact",
        "status:in_progress",
        "event:escalated",
        "resolved",
    ]
    assert list(policy.priorities) == [Priority.LOW, Priority.URGENT]
    urgent = policy.for_priority(Priority.URGENT)
    assert urgent.calendar == "always"
    assert [(t.name, t.unit.value, t.amount) for t in urgent.targets][-2:] == [
        ("resolution", "business_hours", 8),
        ("callback", "business_minutes", 15),
    ]
    low = policy.for_priority(Priority.LOW)
    update = low.target("update")
    # An override inherits met_by and repeat from the policy's target of the same name.
    assert update is not None
    assert (update.unit.value, update.amount, update.met_by, update.repeat) == (
        "business_days",
        2,
        "contact",
        True,
    )
    assert low.calendar == "office"
    assert policy.for_priority(Priority.NORMAL).targets == policy.targets


POLICY_MISTAKES = (
    POLICY_BASE.replace(
        'time_zone = "America/Chicago"',
        'time_zone = "America/Chicago"\ndefault_sla_policy = "gold"',
    )
    + """
[[case_types]]
code = "R1"
name = "Pothole"
department = "roads"
sla_policy = "silver"

[sla_policies.p]
calendar = "moon"
start = "whenever"
warnings = [0.5, 0.5, 1.5, "x"]
pause_statuses = ["pending", "resolved", "pending"]
reset_on = ["full_moon"]
colour = "red"
targets = [
  { name = "first_response" },
  { name = "resolution", business_days = 2.5, calendar_days = 1 },
  { name = "callback", business_hours = 2 },
  { name = "visit", business_hours = -1, met_by = "status:sleeping" },
  { name = "x", business_hours = 1, met_by = "event:party" },
  { name = "y", business_hours = 1, met_by = "whenever" },
  { name = "resolution", calendar_hours = 4, met_by = "resolved", repeat = true },
  { name = "Big Name", calendar_hours = 4, met_by = "contact", repeat = "yes" },
  "thirty days",
  { name = "inspect", business_days = 2, met_by = "status:in_progress" },
]

  [sla_policies.p.priorities.extreme]
  targets = []

  [sla_policies.p.priorities.urgent]
  calendar = "sun"
  colour = "red"
  targets = [{ name = "inspect", business_hours = 1, met_by = "contact" }]

[sla_policies.q]
name = "Q"
calendar = "office"
targets = []

[sla_policies.r]
name = "R"
calendar = "office"
"""
)


def test_every_sla_policy_mistake_in_one_error() -> None:
    found = problems_of(parse_error(POLICY_MISTAKES))
    p = "sla_policies.p"
    expected = {
        f"{p}.name": "is required",
        f"{p}.calendar": "no calendar 'moon'",
        f"{p}.start": "'whenever' is not 'reported' or 'opened'",
        f"{p}.warnings[1]": "increasing",
        f"{p}.warnings[2]": "strictly between 0 and 1",
        f"{p}.warnings[3]": "expected a number",
        f"{p}.pause_statuses[1]": "not an open case status",
        f"{p}.pause_statuses[2]": "duplicate 'pending'",
        f"{p}.reset_on[0]": "not a reset condition",
        f"{p}.colour": "unknown field",
        f"{p}.targets[0]": "needs an amount",
        f"{p}.targets[1]": "has 2 amounts",
        f"{p}.targets[2].met_by": "is required for a target named 'callback'",
        f"{p}.targets[3].business_hours": "more than 0",
        f"{p}.targets[3].met_by": "'sleeping' is not a case status",
        f"{p}.targets[4].met_by": "'party' is not an event kind",
        f"{p}.targets[5].met_by": "'whenever' is not a met_by condition",
        f"{p}.targets[6].name": "duplicate target 'resolution'",
        f"{p}.targets[6].repeat": "only a target met by 'contact' or 'event:<kind>' repeats",
        f"{p}.targets[7].name": "is not a code",
        f"{p}.targets[7].repeat": "expected true or false",
        f"{p}.targets[8]": "expected a table",
        f"{p}.priorities.extreme": "not a priority",
        f"{p}.priorities.urgent.calendar": "no calendar 'sun'",
        f"{p}.priorities.urgent.colour": "unknown field",
        f"{p}.priorities.urgent.targets[0].met_by": "must be 'status:in_progress'",
        "sla_policies.q.targets": "at least one target",
        "sla_policies.r.targets": "is required",
    }
    for path, fragment in expected.items():
        assert path in found, path
        assert fragment in found[path], (path, found[path])
    # References into a section with broken entries are not checked: no echo for the
    # case type's "silver" or the agency's "gold".
    assert set(found) == set(expected)


def test_references_to_policies_and_calendars() -> None:
    text = (
        POLICY_BASE.replace(
            'time_zone = "America/Chicago"',
            'time_zone = "America/Chicago"\ndefault_sla_policy = "gold"',
        )
        + """
[[case_types]]
code = "R1"
name = "Pothole"
department = "roads"
sla_policy = "silver"

[sla_policies.p]
name = "P"
calendar = "office"
targets = [{ name = "resolution", business_days = 3 }]
"""
    )
    assert problems_of(parse_error(text)) == {
        "agency.default_sla_policy": "no SLA policy 'gold'",
        "case_types[0].sla_policy": "no SLA policy 'silver'",
    }
    # A broken calendar: the policy's reference to it is not checked (one mistake, one
    # problem).
    broken = text.replace('hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"] }', "")
    broken = broken.replace('"gold"', '"p"').replace('"silver"', '"p"')
    assert problems_of(parse_error(broken)) == {"calendars.office.hours": ANY_MESSAGE}


class _AnyMessage(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    __hash__ = str.__hash__


ANY_MESSAGE = _AnyMessage()


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('calendars = "office"', "calendars"),
        ("calendars = [1, 2]", "calendars"),
        ('[calendars]\noffice = "x"', "calendars.office"),
        ('sla_policies = "p"', "sla_policies"),
        ("[sla_policies]\np = 3", "sla_policies.p"),
        ('[sla_policies.p]\nname = "P"\ncalendar = "c"\ntargets = {}', "sla_policies.p.targets"),
        ('[sla_policies.p]\nname = "P"\ncalendar = 3\ntargets = []', "sla_policies.p.calendar"),
        (
            '[sla_policies.p]\nname = "P"\ncalendar = "c"\npriorities = 1\n'
            'targets = [{ name = "resolution", calendar_days = 1 }]',
            "sla_policies.p.priorities",
        ),
        ('[calendars.c]\nname = "C"\nhours = "24x7"\nholidays = "US"', "calendars.c.holidays"),
        ('[calendars.c]\nname = "C"\nhours = "24x7"\nclosures = {}', "calendars.c.closures"),
        ('[calendars.c]\nname = "C"\nhours = "24x7"\nhalf_days = []', "calendars.c.half_days"),
        ('[calendars.c]\nname = "C"\nhours = 24', "calendars.c.hours"),
        (
            '[calendars.c]\nname = "C"\nhours = "24x7"\nholidays = { country = "XX" }',
            "calendars.c.holidays.country",
        ),
        (
            '[calendars.c]\nname = "C"\nhours = "24x7"\n'
            'holidays = { country = "US", categories = ["parties"] }',
            "calendars.c.holidays.categories",
        ),
    ],
)
def test_calendar_and_policy_sections_of_the_wrong_shape(text: str, path: str) -> None:
    # Top-level keys go before the first table.
    document = text + "\n" + MINIMAL if not text.startswith("[") else MINIMAL + "\n" + text
    found = problems_of(parse_error(document + "\n"))
    assert path in found, found


def test_profiles_made_in_python_check_their_references() -> None:
    profile = parse_profile(
        POLICY_BASE
        + '\n[sla_policies.p]\nname = "P"\ncalendar = "office"\n'
        + 'targets = [{ name = "resolution", business_days = 3 }]\n'
    )
    office = profile.calendar("office")
    policy = profile.sla_policy("p")
    assert Profile(agency=profile.agency, calendars={"office": office}, sla_policies={"p": policy})
    with pytest.raises(ValidationError, match="no calendar 'office'"):
        Profile(agency=profile.agency, sla_policies={"p": policy})
    with pytest.raises(ValidationError, match="holds the calendar 'office'"):
        Profile(agency=profile.agency, calendars={"desk": office})
    with pytest.raises(ValidationError, match="holds the SLA policy 'p'"):
        Profile(agency=profile.agency, calendars={"office": office}, sla_policies={"q": policy})
    with pytest.raises(ValidationError, match="no SLA policy 'p'"):
        Profile(agency=attrs.evolve(profile.agency, default_sla_policy="p"))
    assert parse_profile(POLICY_BASE) == parse_profile(POLICY_BASE)


calendar_keys = st.sampled_from(
    [
        "name",
        "time_zone",
        "hours",
        "holidays",
        "extra_holidays",
        "half_days",
        "closures",
        "mon",
        "fri",
        "country",
        "subdivision",
        "categories",
        "start",
        "end",
        "2026-07-03",
    ]
)
calendar_scalars = st.one_of(
    toml_scalars,
    st.sampled_from(
        [
            "24x7",
            "08:00-12:00",
            "22:00-06:00",
            "13:00-24:00",
            "US",
            "GB",
            "IL",
            "ENG",
            "2026-07-03",
            "2026-07-03T08:00",
            "Europe/London",
            "government",
        ]
    ),
)
calendar_values = st.recursive(
    calendar_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(calendar_keys, children, max_size=4)
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(["office", "Bad", "24x7"]), calendar_values, max_size=3))
def test_arbitrary_calendars_raise_only_policy_error(calendars: dict[str, Any]) -> None:
    data = _valid_base()
    data["calendars"] = calendars
    _check_policy_error_only(data)


@settings(max_examples=200, deadline=None, database=None)
@given(
    field=st.sampled_from(
        [
            "name",
            "time_zone",
            "hours",
            "holidays",
            "extra_holidays",
            "half_days",
            "closures",
            "other",
        ]
    ),
    value=calendar_values,
)
def test_one_bad_key_in_a_valid_calendar_raises_only_policy_error(field: str, value: Any) -> None:
    data = _valid_base()
    data["calendars"] = {
        "office": {
            "name": "Office",
            "hours": {"mon": ["08:00-12:00", "13:00-17:00"]},
            "holidays": {"country": "US", "subdivision": "IL"},
        }
    }
    data["calendars"]["office"][field] = value
    _check_policy_error_only(data)


policy_keys = st.sampled_from(
    [
        "name",
        "calendar",
        "start",
        "warnings",
        "pause_statuses",
        "reset_on",
        "targets",
        "priorities",
        "met_by",
        "repeat",
        "business_days",
        "business_hours",
        "calendar_minutes",
        "urgent",
    ]
)
policy_scalars = st.one_of(
    toml_scalars,
    st.sampled_from(
        [
            "office",
            "first_response",
            "resolution",
            "resolved",
            "contact",
            "status:pending",
            "event:assigned",
            "pending",
            "reopened",
            "reported",
            "opened",
        ]
    ),
    st.floats(0, 1),
)
policy_values = st.recursive(
    policy_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(policy_keys, children, max_size=4)
    ),
    max_leaves=15,
)


def _policy_base() -> dict[str, Any]:
    data = _valid_base()
    data["calendars"] = {"office": {"name": "Office", "hours": "24x7"}}
    data["sla_policies"] = {
        "p": {
            "name": "P",
            "calendar": "office",
            "targets": [
                {"name": "first_response", "business_hours": 8},
                {"name": "resolution", "business_days": 5},
            ],
            "priorities": {"urgent": {"targets": [{"name": "resolution", "business_hours": 4}]}},
        }
    }
    data["case_types"][0]["sla_policy"] = "p"
    return data


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(["p", "Q", "r"]), policy_values, max_size=3))
def test_arbitrary_sla_policies_raise_only_policy_error(policies: dict[str, Any]) -> None:
    data = _policy_base()
    data["sla_policies"] = policies
    _check_policy_error_only(data)


@settings(max_examples=300, deadline=None, database=None)
@given(
    where=st.sampled_from(["policy", "target", "override", "override_target"]),
    field=policy_keys | st.just("other"),
    value=policy_values,
)
def test_one_bad_key_in_a_valid_policy_raises_only_policy_error(
    where: str, field: str, value: Any
) -> None:
    data = _policy_base()
    policy = data["sla_policies"]["p"]
    table = {
        "policy": policy,
        "target": policy["targets"][0],
        "override": policy["priorities"]["urgent"],
        "override_target": policy["priorities"]["urgent"]["targets"][0],
    }[where]
    table[field] = value
    _check_policy_error_only(data)


def test_a_target_is_met_the_same_way_at_every_priority() -> None:
    text = (
        POLICY_BASE
        + """
[sla_policies.p]
name = "P"
calendar = "office"
targets = [{ name = "resolution", business_days = 3 }]

  [sla_policies.p.priorities.urgent]
  targets = [{ name = "callback", business_minutes = 30, met_by = "contact" }]

  [sla_policies.p.priorities.high]
  targets = [{ name = "callback", business_hours = 2, met_by = "event:escalated" }]

  [sla_policies.p.priorities.low]
  targets = [{ name = "resolution", business_days = 10, met_by = "contact" }]
"""
    )
    assert problems_of(parse_error(text)) == {
        "sla_policies.p.priorities.high.targets[0].met_by": (
            "must be 'contact', as for the policy's 'callback' target"
        ),
        "sla_policies.p.priorities.low.targets[0].met_by": (
            "must be 'resolved', as for the policy's 'resolution' target"
        ),
    }


def test_a_calendar_that_never_opens_is_refused() -> None:
    text = MINIMAL + '\n[calendars.never]\nname = "Never"\nhours = { mon = [], sat = [] }\n'
    assert problems_of(parse_error(text)) == {
        "calendars.never.hours": 'the calendar is never open: give some hours (or "24x7")'
    }
