"""Case types: Open311 custom attributes and their validation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import ValidationError
from civiccrm.models import (
    AttributeDatatype,
    AttributeDefinition,
    AttributeOption,
    CaseType,
    Priority,
    ServiceType,
    format_utc,
)

D = AttributeDatatype

SIZES = ("small", "medium", "large")
HAZARDS = ("glass", "needles", "chemicals", "animals")


def attribute(code: str, datatype: AttributeDatatype, **kwargs: Any) -> AttributeDefinition:
    kwargs.setdefault("description", f"What is the {code}?")
    return AttributeDefinition(code=code, datatype=datatype, **kwargs)


def options(*keys: str) -> list[AttributeOption]:
    return [AttributeOption(key=k, name=k.title()) for k in keys]


CASE_TYPE = CaseType(
    code="001",
    name="Illegal dumping",
    department="public-works",
    queue="pw-sanitation",
    attributes=[
        attribute("pole", D.STRING),
        attribute("details", D.TEXT),
        attribute("bags", D.NUMBER),
        attribute("seen_at", D.DATETIME),
        attribute("size", D.SINGLEVALUELIST, required=True, values=options(*SIZES)),
        attribute("hazards", D.MULTIVALUELIST, values=options(*HAZARDS)),
        attribute("notice", D.STRING, variable=False, description="Photos come later."),
    ],
)
OPTIONAL_CODES = ("pole", "details", "bags", "seen_at", "hazards")


def valid(values: dict[str, Any]) -> dict[str, Any]:
    """Validate with the required size filled in; return the other normalised values."""
    out = CASE_TYPE.validate_attributes({"size": "small", **values})
    assert out.pop("size") == "small"
    return out


def problems(values: object, case_type: CaseType = CASE_TYPE) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        case_type.validate_attributes(values)  # type: ignore[arg-type]
    found = {p.path: p.message for p in info.value.problems}
    assert len(found) == len(info.value.problems), "one problem per path"
    return found


def one_problem(code: str, value: object) -> str:
    found = problems({"size": "small", code: value})
    assert list(found) == [f"attributes.{code}"]
    return found[f"attributes.{code}"]


# --------------------------------------------------------------------------------------
# The case type itself


def test_case_type_basics() -> None:
    ct = CASE_TYPE
    assert ct.has_metadata
    assert ct.attribute("size") is ct.attributes[4]
    assert ct.attribute("nope") is None
    assert ct.default_priority is Priority.NORMAL
    assert ct.type is ServiceType.REALTIME
    assert ct.active
    assert isinstance(ct.attributes, tuple)
    assert isinstance(ct.attributes[4].values, tuple)
    assert not CaseType(code="002", name="Other", department="x").has_metadata


def test_no_values_at_all() -> None:
    ct = CaseType(code="002", name="Other", department="x")
    assert ct.validate_attributes({}) == {}
    found = problems({"size": "small"}, ct)
    assert found == {"attributes.size": "not an attribute of case type '002'"}


def test_values_must_be_a_mapping() -> None:
    for bad in (["size"], "size=small", None, 3):
        found = problems(bad)
        assert list(found) == ["attributes"]
        assert "expected an object" in found["attributes"]


def test_result_is_in_case_type_order() -> None:
    out = CASE_TYPE.validate_attributes(
        {"hazards": ["glass"], "bags": 2, "size": "large", "pole": "SL-1"}
    )
    assert list(out) == ["pole", "bags", "size", "hazards"]


# --------------------------------------------------------------------------------------
# string and text


def test_string_is_one_line() -> None:
    assert valid({"pole": "SL-04217"}) == {"pole": "SL-04217"}
    assert valid({"pole": "  spaced  "}) == {"pole": "  spaced  "}
    assert valid({"pole": "Ünïcödé ✓"}) == {"pole": "Ünïcödé ✓"}


@pytest.mark.parametrize("text", ["two\nlines", "carriage\rreturn", "crlf\r\n", "\n"])
def test_string_rejects_line_breaks(text: str) -> None:
    message = one_problem("pole", text)
    assert "one line" in message
    assert "text" in message


@pytest.mark.parametrize("value", [5, 1.5, True, ["a"], {"a": 1}, b"bytes"])
def test_string_and_text_reject_non_text(value: object) -> None:
    for code in ("pole", "details"):
        assert "expected text" in one_problem(code, value)


def test_text_takes_many_lines() -> None:
    text = "Three bags by the alley.\nSome broken glass.\r\nPlease hurry."
    assert valid({"details": text}) == {"details": text}


@given(st.text(min_size=1).filter(lambda s: "\n" not in s and "\r" not in s))
def test_any_single_line_string_is_kept(text: str) -> None:
    assert valid({"pole": text}) == {"pole": text}


@given(st.text(min_size=1))
def test_any_text_is_kept(text: str) -> None:
    assert valid({"details": text}) == {"details": text}


# --------------------------------------------------------------------------------------
# number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (3, 3),
        (-7, -7),
        (10**30, 10**30),
        (2.5, 2.5),
        (-0.25, -0.25),
        ("4", 4),
        ("  12 ", 12),
        ("-3", -3),
        ("3.75", 3.75),
        ("1e3", 1000.0),
        ("007", 7),
    ],
)
def test_number_accepts_and_normalises(value: object, expected: float) -> None:
    out = valid({"bags": value})["bags"]
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (True, "boolean"),
        (False, "boolean"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("-Infinity", "finite"),
        ("1e999", "finite"),
        ("twelve", "not a number"),
        ("12 bags", "not a number"),
        ("   ", "not a number"),
        ([1], "expected a number"),
        ({"n": 1}, "expected a number"),
        (b"12", "expected a number"),
    ],
)
def test_number_rejects(value: object, fragment: str) -> None:
    assert fragment in one_problem("bags", value)


def test_zero_is_a_value_not_missing() -> None:
    required = CaseType(
        code="n",
        name="N",
        department="x",
        attributes=[attribute("n", D.NUMBER, required=True)],
    )
    assert required.validate_attributes({"n": 0}) == {"n": 0}
    assert required.validate_attributes({"n": "0"}) == {"n": 0}


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_any_finite_number_is_kept(number: float) -> None:
    out = valid({"bags": number})["bags"]
    assert out == number
    assert type(out) is type(number)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_integer_strings_become_integers(number: int) -> None:
    assert valid({"bags": str(number)})["bags"] == number
    assert valid({"bags": f" {number} "})["bags"] == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_strings_become_the_same_float(number: float) -> None:
    out = valid({"bags": repr(number)})["bags"]
    assert out == number
    assert not (isinstance(out, float) and math.isnan(out))


# --------------------------------------------------------------------------------------
# datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T09:00:00-05:00", "2026-05-01T14:00:00Z"),
        ("2026-05-01T09:00:00Z", "2026-05-01T09:00:00Z"),
        ("2026-05-01T09:00:00+00:00", "2026-05-01T09:00:00Z"),
        ("2026-05-01T01:30:00+05:30", "2026-04-30T20:00:00Z"),
        ("2026-12-31T23:00:00-02:00", "2027-01-01T01:00:00Z"),
        ("2026-05-01T09:00:00.250000-05:00", "2026-05-01T14:00:00.250000Z"),
    ],
)
def test_datetime_is_normalised_to_utc(text: str, expected: str) -> None:
    assert valid({"seen_at": text}) == {"seen_at": expected}


@pytest.mark.parametrize("text", ["2026-05-01", "1950-12-31", "0001-01-01"])
def test_datetime_attribute_takes_a_date_alone_as_that_day(text: str) -> None:
    # A date names a day, not an instant: it is kept as written, with no time zone to
    # shift it into the day before.
    assert valid({"seen_at": text}) == {"seen_at": text}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2026-05-01T09:00:00", "no time zone"),
        ("2026-02-30", "not an ISO 8601"),
        ("yesterday", "not an ISO 8601"),
        ("2026-13-01T00:00:00Z", "not an ISO 8601"),
        ("", None),  # empty is missing, not wrong: see the missing tests
        ("0001-01-01T00:00:00+01:00", "outside the range"),
        ("9999-12-31T23:30:00-05:00", "outside the range"),
        (datetime(2026, 5, 1, tzinfo=UTC), "expected text"),
        (1714557600, "expected text"),
    ],
)
def test_datetime_rejects(value: object, fragment: str | None) -> None:
    if fragment is None:
        assert valid({"seen_at": value}) == {}
        return
    assert fragment in one_problem("seen_at", value)


aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.one_of(
        st.timezones(),
        st.builds(
            timezone,
            st.timedeltas(
                min_value=timedelta(hours=-23, minutes=-59),
                max_value=timedelta(hours=23, minutes=59),
            ).map(lambda d: timedelta(minutes=round(d.total_seconds() / 60))),
        ),
    ),
)


@settings(max_examples=200, deadline=None)
@given(aware_datetimes)
def test_any_aware_datetime_round_trips_to_the_same_instant(moment: datetime) -> None:
    out = valid({"seen_at": moment.isoformat()})["seen_at"]
    assert isinstance(out, str)
    assert out.endswith("Z")
    back = datetime.fromisoformat(out.removesuffix("Z") + "+00:00")
    # The same instant, computed without astimezone: the local time minus its offset.
    offset = moment.utcoffset()
    assert offset is not None
    expected = (moment.replace(tzinfo=None) - offset).replace(tzinfo=UTC)
    assert back == expected
    assert back.tzinfo == UTC
    # Normalising twice changes nothing.
    assert valid({"seen_at": out})["seen_at"] == out
    assert format_utc(back) == out


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_any_naive_datetime_is_rejected(moment: datetime) -> None:
    assert "no time zone" in one_problem("seen_at", moment.isoformat())


def test_format_utc() -> None:
    minus5 = timezone(timedelta(hours=-5))
    assert format_utc(datetime(2026, 3, 8, 3, 30, tzinfo=minus5)) == "2026-03-08T08:30:00Z"
    assert (
        format_utc(datetime(2026, 3, 8, 3, 30, 0, 5, tzinfo=UTC)) == "2026-03-08T03:30:00.000005Z"
    )


# --------------------------------------------------------------------------------------
# singlevaluelist


@pytest.mark.parametrize("key", SIZES)
def test_singlevaluelist_takes_an_option_key(key: str) -> None:
    assert CASE_TYPE.validate_attributes({"size": key}) == {"size": key}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("huge", "'huge' is not one of 'small', 'medium', 'large'"),
        ("Small", "is not one of"),
        (" small", "is not one of"),
        ("Smaller than a dinner plate", "is not one of"),
        (["small"], "expected an option key"),
        (1, "expected an option key"),
        (True, "expected an option key"),
    ],
)
def test_singlevaluelist_rejects(value: object, fragment: str) -> None:
    found = problems({"size": value})
    assert list(found) == ["attributes.size"]
    assert fragment in found["attributes.size"]


@given(st.sampled_from(SIZES))
def test_any_option_key_is_accepted(key: str) -> None:
    assert CASE_TYPE.validate_attributes({"size": key}) == {"size": key}


@given(st.text().filter(lambda s: s not in SIZES and s != ""))
def test_any_other_text_is_not_an_option(text: str) -> None:
    found = problems({"size": text})
    assert list(found) == ["attributes.size"]


# --------------------------------------------------------------------------------------
# multivaluelist


def test_multivaluelist_takes_a_list_of_keys() -> None:
    assert valid({"hazards": ["needles", "glass"]}) == {"hazards": ("needles", "glass")}
    assert valid({"hazards": ("animals",)}) == {"hazards": ("animals",)}


def test_multivaluelist_removes_duplicates_keeping_order() -> None:
    out = valid({"hazards": ["chemicals", "glass", "chemicals", "animals", "glass"]})
    assert out == {"hazards": ("chemicals", "glass", "animals")}


def test_multivaluelist_takes_one_key_as_a_string() -> None:
    assert valid({"hazards": "glass"}) == {"hazards": ("glass",)}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (["glass", "lava"], "'lava' is not one of"),
        ("lava", "'lava' is not one of"),
        (["glass", 3], "expected an option key"),
        ([["glass"]], "expected an option key"),
        ({"glass"}, "expected a list"),
        ({"glass": True}, "expected a list"),
        (7, "expected a list"),
    ],
)
def test_multivaluelist_rejects(value: object, fragment: str) -> None:
    assert fragment in one_problem("hazards", value)


@given(st.lists(st.sampled_from(HAZARDS)))
def test_any_list_of_option_keys_is_accepted(keys: list[str]) -> None:
    out = valid({"hazards": keys})
    if not keys:
        assert out == {}  # an empty list is missing
        return
    assert out["hazards"] == tuple(dict.fromkeys(keys))
    assert set(out["hazards"]) == set(keys)


# --------------------------------------------------------------------------------------
# Missing, informational, unknown


@pytest.mark.parametrize("empty", [None, "", [], ()])
def test_required_missing_is_reported(empty: object) -> None:
    found = problems({"size": empty})
    assert found == {"attributes.size": "is required"}


def test_required_absent_is_reported() -> None:
    assert problems({}) == {"attributes.size": "is required"}


@pytest.mark.parametrize("empty", [None, "", [], ()])
def test_optional_missing_is_left_out(empty: object) -> None:
    values = dict.fromkeys(OPTIONAL_CODES, empty)
    assert valid(values) == {}


@pytest.mark.parametrize("value", ["anything", 0, ["x"], "  "])
def test_informational_attribute_takes_no_value(value: object) -> None:
    found = problems({"size": "small", "notice": value})
    assert found == {"attributes.notice": "is informational and takes no value"}


@pytest.mark.parametrize("empty", [None, "", []])
def test_informational_attribute_may_be_sent_empty(empty: object) -> None:
    assert valid({"notice": empty}) == {}


def test_unknown_codes_are_reported() -> None:
    found = problems({"size": "small", "colour": "red", "Size": "small"})
    assert found == {
        "attributes.colour": "not an attribute of case type '001'",
        "attributes.Size": "not an attribute of case type '001'",
    }


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        CASE_TYPE.validate_attributes(
            {
                "colour": "red",
                "pole": "a\nb",
                "details": 5,
                "bags": "many",
                "seen_at": "2026-05-01T09:00:00",
                "hazards": ["lava"],
                "notice": "hi",
            }
        )
    error = info.value
    assert isinstance(error, ValueError)
    assert error.record_type == "Case"
    paths = [p.path for p in error.problems]
    assert sorted(paths) == sorted(
        [
            "attributes.colour",
            "attributes.pole",
            "attributes.details",
            "attributes.bags",
            "attributes.seen_at",
            "attributes.size",
            "attributes.hazards",
            "attributes.notice",
        ]
    )
    text = str(error)
    assert "8 problems" in text
    for path in paths:
        assert path in text
    assert "is required @ $.attributes.size" in error.messages()


# --------------------------------------------------------------------------------------
# Property: nothing but ValidationError, whatever comes in

anything = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.sampled_from([*SIZES, *HAZARDS, "2026-05-01T09:00:00Z", "12", "nan"]),
        st.binary(max_size=4),
        st.datetimes(),
        st.decimals(),
        st.complex_numbers(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.frozensets(st.text(max_size=3), max_size=3),
        st.dictionaries(st.text(max_size=5), children, max_size=3),
    ),
    max_leaves=10,
)
codes = st.sampled_from([*(a.code for a in CASE_TYPE.attributes), "colour", ""])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(codes, anything, max_size=8))
def test_arbitrary_values_give_validation_error_or_valid_values(values: dict[str, Any]) -> None:
    try:
        out = CASE_TYPE.validate_attributes(values)
    except ValidationError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.path.startswith("attributes.")
            assert problem.message
        return
    assert set(out) <= set(values)
    for code, value in out.items():
        datatype = CASE_TYPE.attribute(code).datatype  # type: ignore[union-attr]
        if datatype is D.NUMBER:
            assert isinstance(value, int | float)
            assert not isinstance(value, bool)
            assert math.isfinite(value)
        elif datatype is D.MULTIVALUELIST:
            assert isinstance(value, tuple)
            assert set(value) <= set(HAZARDS)
        elif datatype is D.SINGLEVALUELIST:
            assert value in SIZES
        elif datatype is D.DATETIME:
            assert isinstance(value, str)
            assert value.endswith("Z")
        else:
            assert value == values[code]


# --------------------------------------------------------------------------------------
# Construction errors


def test_duplicate_attribute_codes() -> None:
    with pytest.raises(ValidationError) as info:
        CaseType(
            code="001",
            name="Pothole",
            department="public-works",
            attributes=[
                attribute("size", D.TEXT),
                attribute("where", D.TEXT),
                attribute("size", D.STRING),
            ],
        )
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("attributes[2].code", "duplicate code 'size' (also attributes[0])")
    ]


def test_duplicate_option_keys() -> None:
    with pytest.raises(ValidationError) as info:
        attribute(
            "size",
            D.MULTIVALUELIST,
            values=[
                AttributeOption(key="a", name="A"),
                AttributeOption(key="b", name="B"),
                AttributeOption(key="a", name="A again"),
            ],
        )
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("values[2].key", "duplicate key 'a' (also values[0])")
    ]


@pytest.mark.parametrize("datatype", [D.SINGLEVALUELIST, D.MULTIVALUELIST])
def test_list_attribute_needs_values(datatype: AttributeDatatype) -> None:
    with pytest.raises(ValidationError) as info:
        attribute("size", datatype)
    assert [p.path for p in info.value.problems] == ["values"]


@pytest.mark.parametrize("datatype", [D.STRING, D.TEXT, D.NUMBER, D.DATETIME])
def test_values_only_on_list_attributes(datatype: AttributeDatatype) -> None:
    with pytest.raises(ValidationError) as info:
        attribute("size", datatype, values=options("a"))
    assert [p.path for p in info.value.problems] == ["values"]
    assert datatype.value in info.value.problems[0].message


def test_required_informational_attribute() -> None:
    with pytest.raises(ValidationError) as info:
        attribute("notice", D.STRING, required=True, variable=False)
    assert [p.path for p in info.value.problems] == ["required"]


def test_several_definition_problems_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        attribute(
            "notice",
            D.TEXT,
            required=True,
            variable=False,
            values=options("a"),
        )
    assert sorted(p.path for p in info.value.problems) == ["required", "values"]


@pytest.mark.parametrize("code", ["", " size", "size ", "\tx"])
def test_attribute_code_must_be_a_code(code: str) -> None:
    with pytest.raises(ValidationError) as info:
        attribute(code, D.TEXT)
    assert [p.path for p in info.value.problems] == ["code"]


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"key": "", "name": "A"}, "key"),
        ({"key": "a ", "name": "A"}, "key"),
        ({"key": "a", "name": "  "}, "name"),
    ],
)
def test_bad_option(kwargs: dict[str, str], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        AttributeOption(**kwargs)
    assert [p.path for p in info.value.problems] == [path]


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"code": " 001", "name": "P", "department": "pw"}, "code"),
        ({"code": "001", "name": "", "department": "pw"}, "name"),
        ({"code": "001", "name": "P", "department": "Public Works"}, "department"),
    ],
)
def test_bad_case_type(kwargs: dict[str, str], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        CaseType(**kwargs)
    assert [p.path for p in info.value.problems] == [path]


def test_datatype_is_list() -> None:
    assert {d for d in AttributeDatatype if d.is_list} == {D.SINGLEVALUELIST, D.MULTIVALUELIST}
