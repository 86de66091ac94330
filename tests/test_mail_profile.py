"""The profile's ``[mail]`` section: settings, defaults, and every problem by its TOML path."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from civiccrm.errors import PolicyError
from civiccrm.profile import load_profile, springfield_path
from civiccrm.profile._mail import DEFAULT_MAIL, parse_mail
from civiccrm.profile._profile import parse_profile

CODES = {"010", "018"}


def problems(raw: Any) -> list[str]:
    settings, found = parse_mail(raw, case_types=CODES)
    assert (settings is None) == bool(found)
    return [str(p) for p in found]


def test_springfield_has_two_mailboxes() -> None:
    mail = load_profile(springfield_path()).mail
    assert sorted(mail.mailboxes) == ["water", "zoning"]
    zoning = mail.mailbox("zoning")
    assert (zoning.case_type, zoning.body_attribute, zoning.max_bytes) == (
        "018",
        "question",
        50 * 2**20,
    )
    assert mail.mailbox("water").max_bytes == 25 * 2**20
    assert "zoning@springfield.example.gov" in zoning.own_addresses
    assert "311@springfield.example.gov" in zoning.own_addresses
    assert zoning.reference_pattern.fullmatch("SR-2026-000123")


def test_no_section_no_mailboxes() -> None:
    assert parse_mail(None, case_types=CODES) == (DEFAULT_MAIL, [])
    assert dict(DEFAULT_MAIL.mailboxes) == {}


def test_defaults_and_overrides() -> None:
    settings, found = parse_mail(
        {
            "own_addresses": ["Info@City.example"],
            "unknown_senders": "anonymous",
            "mailboxes": {
                "a": {"case_type": "010"},
                "b": {"case_type": "010", "unknown_senders": "citizen", "max_bytes": 2048},
            },
        },
        case_types=CODES,
    )
    assert found == []
    assert settings is not None
    a, b = settings.mailbox("a"), settings.mailbox("b")
    assert (a.unknown_senders, b.unknown_senders) == ("anonymous", "citizen")
    assert (a.max_bytes, b.max_bytes) == (50 * 2**20, 2048)
    assert a.own_addresses == frozenset({"info@city.example"})
    assert (a.closed_cases, a.max_body_chars) == ("new_case", 200_000)


def test_every_problem_at_its_path() -> None:
    found = problems(
        {
            "max_bytes": 10,
            "unknown_senders": "guess",
            "reference_pattern": "SR-(",
            "own_addresses": ["not an address", 3],
            "colour": "blue",
            "mailboxes": {
                "ok": {"case_type": "018", "body_attribute": "question"},
                "no-type": {"address": "x@example.org"},
                "bad type": {"case_type": "999"},
                "box": {
                    "case_type": 18,
                    "closed_cases": "reopen",
                    "attributes": {"question": "x"},
                    "body_attribute": "question",
                    "max_body_chars": 0,
                    "whatever": 1,
                },
            },
        }
    )
    assert (
        "mail.colour: unknown field (known: own_addresses, max_bytes, max_body_chars, "
        "reference_pattern, unknown_senders, closed_cases, mailboxes)" in found
    )
    assert "mail.max_bytes: expected a whole number from 1024 to 2147483648, got 10" in found
    assert "mail.unknown_senders: 'guess' is not 'citizen' or 'anonymous'" in found
    assert any(p.startswith("mail.reference_pattern: not a regular expression") for p in found)
    assert any(
        p.startswith("mail.own_addresses[0]: 'not an address' is not a valid") for p in found
    )
    assert "mail.own_addresses[1]: expected an email address, got an integer" in found
    assert "mail.mailboxes.no-type.case_type: required: the case type a new message opens" in found
    assert (
        'mail.mailboxes."bad type": a mailbox name is letters, digits'
        ", '.', '_' or '-' (64 at most)" in found
    )
    assert "mail.mailboxes.\"bad type\".case_type: no case type '999'" in found
    assert (
        "mail.mailboxes.box.case_type: expected a service code (a string), got an integer" in found
    )
    assert "mail.mailboxes.box.closed_cases: 'reopen' is not 'new_case' or 'thread'" in found
    assert (
        "mail.mailboxes.box.attributes.question: is the body_attribute: it takes the text" in found
    )
    assert any(p.startswith("mail.mailboxes.box.max_body_chars: expected") for p in found)
    assert any(p.startswith("mail.mailboxes.box.whatever: unknown field") for p in found)
    assert not any(".ok." in p for p in found)


def test_a_reference_pattern_that_matches_nothing_in_particular() -> None:
    assert problems({"reference_pattern": ".*"}) == [
        "mail.reference_pattern: matches an empty subject: be more precise"
    ]


def test_not_a_table() -> None:
    assert problems("mail") == ["mail: expected a table ([mail]), got a string"]
    assert problems({"mailboxes": []}) == [
        "mail.mailboxes: expected a table of mailboxes, got a list"
    ]


def test_a_bad_section_fails_the_profile_load() -> None:
    data = tomllib.loads(springfield_path().read_text(encoding="utf-8"))
    data["mail"]["mailboxes"]["zoning"]["case_type"] = "404"
    with pytest.raises(
        PolicyError, match=r"mail\.mailboxes\.zoning\.case_type: no case type '404'"
    ):
        parse_profile(data, source=str(springfield_path()))
