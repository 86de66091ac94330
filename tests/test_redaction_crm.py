"""Redaction through the facade: role views, a case's known parties, plugin detectors."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import civiccrm
from civiccrm import hookimpl
from civiccrm._clock import FixedClock
from civiccrm.crm import CRM, Actor
from civiccrm.models import Citizen, ContactPoint
from civiccrm.privacy.detect import Finding, KnownEntities
from civiccrm.privacy.redact import install_log_redaction
from civiccrm.profile import load_profile, springfield_path

SPRINGFIELD = load_profile(springfield_path())
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


class BenefitsId:
    """An agency's own identifier: BEN- and 6 digits whose last is a check digit."""

    name = "benefits_id"

    def detect(self, text: str, known: KnownEntities | None = None) -> Iterable[Finding]:
        for m in re.finditer(r"\bBEN-(\d{5})(\d)\b", text):
            if sum(int(d) for d in m.group(1)) % 10 == int(m.group(2)):
                yield Finding("BENEFITS_ID", m.start(), m.end(), 1.0, self.name)


class Plugin:
    @hookimpl
    def civiccrm_pii_detectors(self, region: str) -> list[Any]:
        return [BenefitsId()]


@pytest.fixture
def crm() -> Iterator[CRM]:
    with civiccrm.open(
        "memory://", profile=SPRINGFIELD, clock=FixedClock(T0), plugins=[Plugin()]
    ) as session:
        yield session


def _ana(crm: CRM) -> Citizen:
    return crm.citizens.create(
        Citizen(
            given_name="Anastasia",
            family_name="Kowalczyk",
            contact_points=[
                ContactPoint.email("ana.k@example.org"),
                ContactPoint.phone("+12175550134"),
            ],
        )
    )


def test_redact_finds_a_cases_parties_with_certainty(crm: CRM) -> None:
    ana = _ana(crm)
    case = crm.cases.open("035", requester=ana)
    text = "Stacy K. called back from 217 555 0134; write to ANA.K@EXAMPLE.ORG please."
    out = crm.redaction.redact(text, case=case)
    for leaked in ("Stacy", "555 0134", "ANA.K@EXAMPLE.ORG"):
        assert leaked not in out.text
    assert out.counts()["PERSON"] >= 1


def test_plugin_detectors_run_with_the_built_in_ones(crm: CRM) -> None:
    out = crm.redaction.redact("Client BEN-123455 and BEN-123456 came in.")
    assert "BEN-123455" not in out.text  # 1+2+3+4+5 = 15 -> check digit 5
    assert "BEN-123456" in out.text  # a bad check digit is not an id
    assert out.counts() == {"BENEFITS_ID": 1}


def test_the_public_portal_sees_descriptions_redacted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with civiccrm.open(url, profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        ana = _ana(crm)
        case = crm.cases.open(
            "035",
            requester=ana,
            title="Dead raccoon outside 742 Evergreen Terrace",
            description="Anastasia Kowalczyk reported it; call her on 217-555-0134.",
        )
    with civiccrm.open(
        url,
        profile=SPRINGFIELD,
        clock=FixedClock(T0),
        actor=Actor("portal", None, "public_portal"),
        purpose="public map",
    ) as portal:
        seen = portal.cases.get(case.id)
    assert seen.description is not None
    assert seen.title is not None
    for leaked in ("Anastasia", "Kowalczyk", "555-0134", "742 Evergreen"):
        assert leaked not in seen.description + seen.title
    assert "reported it" in seen.description
    assert "Dead raccoon" in seen.title


def test_log_records_never_carry_personal_data() -> None:
    stream = io.StringIO()
    logger = logging.getLogger(f"civiccrm.test.{uuid.uuid4().hex}")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        install_log_redaction(logger)
        logger.info("callback for %s at %s", "jane.doe@example.org", "(217) 555-0134")
        logger.info("card 4111 1111 1111 1111 declined")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "jane.doe@example.org" not in text
    assert "555-0134" not in text
    assert "4111 1111 1111 1111" not in text
    assert "callback for" in text


# --- the whole pipeline, property-tested --------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from civiccrm.privacy.access import default_redact  # noqa: E402


def _luhn_complete(prefix: str, length: int, body: str) -> str:
    digits = (prefix + body)[: length - 1]
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def _iban_de(bban: str) -> str:
    rearranged = bban + "DE00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"DE{98 - number % 97:02d}{bban}"


_FIRST = ["Maria", "James", "Patricia", "Robert", "Linda", "Michael", "Barbara", "David"]
_LAST = ["Garcia", "Johnson", "Martinez", "Anderson", "Thompson", "Robinson", "Walker"]
_STREETS = ["Maple", "Lincoln", "Jefferson", "Walnut", "Cedar", "Monroe", "Adams"]
_SUFFIXES = ["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard"]

values = st.one_of(
    st.tuples(
        st.just("email"),
        st.from_regex(r"[a-z]{3,8}\.[a-z]{2,8}@example\.(org|com)", fullmatch=True),
    ),
    st.tuples(st.just("phone"), st.integers(200, 999).map(lambda n: f"(217) {n}-0{n % 900 + 100}")),
    st.tuples(
        st.just("ssn"),
        st.tuples(st.integers(1, 665), st.integers(1, 99), st.integers(1, 9999)).map(
            lambda t: f"{t[0]:03d}-{t[1]:02d}-{t[2]:04d}"
        ),
    ),
    st.tuples(
        st.just("card"),
        st.tuples(
            st.sampled_from(["4", "51", "2221", "2720", "37"]),
            st.from_regex(r"[0-9]{18}", fullmatch=True),
        ).map(lambda t: _luhn_complete(t[0], 15 if t[0] == "37" else 16, t[1])),
    ),
    st.tuples(st.just("iban"), st.from_regex(r"[0-9]{18}", fullmatch=True).map(_iban_de)),
    st.tuples(
        st.just("ip"),
        st.tuples(*[st.integers(1, 254)] * 4).map(lambda t: ".".join(map(str, t))),
    ),
    st.tuples(
        st.just("person"),
        st.tuples(st.sampled_from(_FIRST), st.sampled_from(_LAST)).map(" ".join),
    ),
    st.tuples(
        st.just("address"),
        st.tuples(st.integers(10, 9999), st.sampled_from(_STREETS), st.sampled_from(_SUFFIXES)).map(
            lambda t: f"{t[0]} {t[1]} {t[2]}"
        ),
    ),
)

_TEMPLATES = {
    "email": "Please write to me at {v} about the request.",
    "phone": "You can call me at {v} after five.",
    "ssn": "My SSN is {v} if you need it.",
    "card": "I paid with card {v} yesterday.",
    "iban": "Refund to IBAN {v} please.",
    "ip": "I was logged in from {v} when it failed.",
    "person": "I spoke with {v} about the pothole.",
    "address": "The light outside {v} is out again.",
}


@settings(max_examples=150, deadline=None)
@given(st.lists(values, min_size=1, max_size=4))
def test_redacted_text_contains_none_of_the_embedded_values(items: list[tuple[str, str]]) -> None:
    text = " ".join(_TEMPLATES[kind].format(v=value) for kind, value in items)
    out = default_redact(text)
    for _kind, value in items:
        assert value not in out, (value, out)


_WORDS = st.sampled_from(
    [
        "the",
        "a",
        "pothole",
        "light",
        "is",
        "out",
        "on",
        "our",
        "street",
        "near",
        "school",
        "please",
        "fix",
        "it",
        "soon",
        "thanks",
        "water",
        "leak",
        "again",
        "week",
        "rain",
        "noon",
        "trash",
        "bin",
        "missed",
        "pickup",
    ]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=30), st.sampled_from([". ", ", ", " ", "! "]))
def test_text_with_no_personal_data_comes_back_unchanged(words: list[str], sep: str) -> None:
    text = sep.join(words)
    assert default_redact(text) == text


def test_reading_a_cases_parties_for_redaction_is_audited(tmp_path: Path) -> None:
    """Finding a case's parties with certainty reads their names and contacts: the read
    is in the audit trail with its reason and the fields read, never their values."""
    import json
    import sqlite3

    db = tmp_path / "crm.db"
    with civiccrm.open(f"sqlite:///{db}", profile=SPRINGFIELD, clock=FixedClock(T0)) as crm:
        ana = _ana(crm)
        case = crm.cases.open("035", requester=ana)
        crm.redaction.redact("Stacy K. called back.", case=case)
    conn = sqlite3.connect(db)
    try:
        entries = [json.loads(e) for (e,) in conn.execute("SELECT entry FROM civiccrm_audit")]
    finally:
        conn.close()
    reads = [
        e
        for e in entries
        if e["action"] == "read" and (e.get("detail") or {}).get("by") == "redaction"
    ]
    assert reads
    assert all(str(ana.id) in e["record_ids"] for e in reads)
    assert {"given_name", "family_name", "contact_points"} <= set(reads[0]["fields"])
    assert "Anastasia" not in json.dumps(entries)
    assert "ana.k@example.org" not in json.dumps(entries)
