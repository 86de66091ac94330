"""Redaction of personal data in free text: operators, policies and the logging filter."""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from civiccrm.errors import IntegrityError, PolicyError, ValidationError
from civiccrm.privacy.crypto import new_secret
from civiccrm.privacy.detect import Analyzer, Finding, KnownEntities, PiiType
from civiccrm.privacy.redact import (
    BUILTIN_POLICIES,
    OPERATORS,
    WITHHELD_MESSAGE,
    Encrypt,
    InstanceTag,
    Mask,
    Operator,
    Pseudonym,
    RedactingFilter,
    Redaction,
    RedactionPolicy,
    RedactionState,
    Redactor,
    Remove,
    Tag,
    analytics_policy,
    decrypt_tokens,
    install_log_redaction,
    policy_from_config,
    redact_findings,
)

KEY = new_secret()
OTHER_KEY = new_secret()

# --------------------------------------------------------------------------------------
# Fake detectors: tiny regexes, so these tests do not depend on the real ones.

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
NAME_RE = re.compile(r"[A-Z][a-z]+ [A-Z][a-z]+")


@attrs.define
class RegexDetector:
    name: str
    type: str
    pattern: re.Pattern[str]
    score: float = 0.9

    def detect(self, text: str, known: KnownEntities | None = None) -> Iterator[Finding]:
        for m in self.pattern.finditer(text):
            yield Finding(self.type, m.start(), m.end(), self.score, self.name)


@attrs.define
class KnownEmailDetector:
    name: str = "known"

    def detect(self, text: str, known: KnownEntities | None = None) -> Iterator[Finding]:
        for email in known.emails if known else ():
            for m in re.finditer(re.escape(email), text, re.IGNORECASE):
                yield Finding(PiiType.EMAIL, m.start(), m.end(), 1.0, self.name)


ANALYZER = Analyzer(
    [RegexDetector("email", PiiType.EMAIL, EMAIL_RE), RegexDetector("name", "PERSON", NAME_RE)]
)


def redactor(policy: RedactionPolicy | str = "public") -> Redactor:
    if isinstance(policy, str):
        policy = BUILTIN_POLICIES[policy]
    return Redactor(ANALYZER, policy)


def find(text: str, type: str, *values: str, score: float = 0.9) -> list[Finding]:
    """A finding for every occurrence of each of ``values`` in ``text``."""
    out = []
    for value in values:
        for m in re.finditer(re.escape(value), text):
            out.append(Finding(type, m.start(), m.end(), score, "test"))
    assert out, f"none of {values} in {text!r}"
    return out


def apply(op: Operator, text: str, findings: Iterable[Finding]) -> str:
    return redact_findings(text, list(findings), RedactionPolicy("test", op)).text


# --------------------------------------------------------------------------------------
# Operators


def test_tag() -> None:
    text = "Ana Lima wrote from ana@example.org"
    assert redactor(RedactionPolicy("t", Tag()))(text) == "<PERSON> wrote from <EMAIL>"
    assert Tag.kind == "tag"


def test_instance_tag_numbers_values_per_type_in_order_of_first_appearance() -> None:
    text = (
        "Bob Ray called about Ana Lima; later ANA  LIMA (ana@x.org) and bob ray again. "
        "cc ana@x.org, Cy Dee, ANA@X.ORG"
    )
    findings = [
        *find(text, "PERSON", "Bob Ray", "Ana Lima", "ANA  LIMA", "bob ray", "Cy Dee"),
        *find(text, "EMAIL", "ana@x.org", "ANA@X.ORG"),
    ]
    assert apply(InstanceTag(), text, findings) == (
        "<PERSON 1> called about <PERSON 2>; later <PERSON 2> (<EMAIL 1>) and <PERSON 1> "
        "again. cc <EMAIL 1>, <PERSON 3>, <EMAIL 1>"
    )


def test_instance_numbers_restart_with_each_document() -> None:
    r = redactor("public")
    assert r("Cy Dee and Ana Lima") == "<PERSON 1> and <PERSON 2>"
    assert r("Ana Lima and Cy Dee") == "<PERSON 1> and <PERSON 2>"


def test_instance_numbering_does_not_depend_on_the_order_findings_are_given() -> None:
    text = "Ana Lima, Bob Ray, Ana Lima, Cy Dee"
    findings = find(text, "PERSON", "Cy Dee", "Bob Ray", "Ana Lima")
    out = apply(InstanceTag(), text, findings)
    assert out == "<PERSON 1>, <PERSON 2>, <PERSON 1>, <PERSON 3>"
    assert apply(InstanceTag(), text, reversed(findings)) == out


def test_redaction_state_numbers() -> None:
    state = RedactionState("irrelevant")
    assert state.instance_number("PERSON", "Ana Lima") == 1
    assert state.instance_number("EMAIL", "Ana Lima") == 1
    assert state.instance_number("PERSON", " ana\tlima ") == 1
    assert state.instance_number("PERSON", "Bob Ray") == 2


@pytest.mark.parametrize(
    ("value", "op", "expected"),
    [
        ("4111-1111-1111-1111", Mask(), "****-****-****-1111"),
        ("4111 1111 1111 1111", Mask(keep_last=2, char="#"), "#### #### #### ##11"),
        ("+1 (217) 555-0134", Mask(), "+* (***) ***-0134"),
        ("DE89 3704 0044 0532 0130 00", Mask(), "**** **** **** **** **30 00"),
        ("12345", Mask(), "***45"),
        ("1234", Mask(), "**34"),
        ("ab", Mask(), "*b"),
        ("a", Mask(), "*"),
        ("---", Mask(), "***"),
        ("4111-1111", Mask(keep_last=0), "****-****"),
    ],
)
def test_mask(value: str, op: Mask, expected: str) -> None:
    text = f"card {value} on file"
    finding = Finding("CREDIT_CARD", 5, 5 + len(value), 0.9, "test")
    assert apply(op, text, [finding]) == f"card {expected} on file"


@given(
    value=st.text(min_size=1, max_size=40),
    keep_last=st.integers(0, 50),
    char=st.sampled_from("*#x"),
)
def test_mask_never_reveals_more_than_half(value: str, keep_last: int, char: str) -> None:
    assume(char not in value)  # a masked "x" would look like a revealed one
    out = Mask(keep_last, char).apply(
        value, Finding("X", 0, len(value), 1.0, "t"), RedactionState(value)
    )
    assert len(out) == len(value)
    alnum = [i for i, c in enumerate(value) if c.isalnum()]
    revealed = [i for i in alnum if out[i] == value[i]]
    assert len(revealed) <= len(alnum) // 2
    assert len(revealed) <= keep_last
    # What is revealed is a tail of the letters and digits.
    assert revealed == alnum[len(alnum) - len(revealed) :]
    if not alnum:
        assert out == char * len(value)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"keep_last": -1}, "keep_last"),
        ({"keep_last": True}, "keep_last"),
        ({"keep_last": 2.0}, "keep_last"),
        ({"char": ""}, "char"),
        ({"char": "**"}, "char"),
    ],
)
def test_mask_validation(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        Mask(**kwargs)
    assert info.value.problems[0].path == path


def test_pseudonym_is_stable_normalised_and_keyed() -> None:
    op = Pseudonym(KEY)
    one = apply(op, "Ana Lima called", find("Ana Lima called", "PERSON", "Ana Lima"))
    two = apply(op, "then ana   LIMA wrote", find("then ana   LIMA wrote", "PERSON", "ana   LIMA"))
    token = one.removesuffix(" called")
    assert re.fullmatch(r"<PERSON:[0-9a-f]{8}>", token)
    assert two == f"then {token} wrote"
    # Another value, another type or another key: another token.
    assert op.token("PERSON", "Bob Ray") != op.token("PERSON", "Ana Lima")
    assert op.token("EMAIL", "Ana Lima") != op.token("PERSON", "Ana Lima")
    assert Pseudonym(OTHER_KEY).token("PERSON", "Ana Lima") != op.token("PERSON", "Ana Lima")
    assert len(Pseudonym(KEY, length=16).token("PERSON", "Ana Lima")) == 16
    assert Pseudonym(KEY, length=16).token("PERSON", "Ana Lima").startswith(token[8:16])
    assert "key" not in repr(op)


def test_pseudonym_lets_analysts_count_repeat_callers() -> None:
    r = redactor(analytics_policy(KEY))
    tokens = [r(f"call from {who}") for who in ("Ana Lima", "Bob Ray", "Ana Lima")]
    assert len(set(tokens)) == 2
    assert tokens[0] == tokens[2]
    # Under another agency's key the same callers are unrelated tokens.
    other = redactor(analytics_policy(OTHER_KEY))
    assert not set(tokens) & {other(f"call from {w}") for w in ("Ana Lima", "Bob Ray")}


@given(a=st.text(min_size=1, max_size=20), b=st.text(min_size=1, max_size=20))
def test_pseudonyms_differ_between_keys(a: str, b: str) -> None:
    p, q = Pseudonym(KEY, length=32), Pseudonym(OTHER_KEY, length=32)
    assert p.token("PERSON", a) != q.token("PERSON", b)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"key": b"short"}, "key"),
        ({"key": "a string of 32 characters, not b"}, "key"),
        ({"key": KEY, "length": 3}, "length"),
        ({"key": KEY, "length": 65}, "length"),
    ],
)
def test_pseudonym_validation(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        Pseudonym(**kwargs)
    assert info.value.problems[0].path == path


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("Write to ana@x.org today", ["ana@x.org"], "Write to today"),
        ("ana@x.org wrote", ["ana@x.org"], " wrote"),
        ("Write to ana@x.org", ["ana@x.org"], "Write to "),
        ("Write to ana@x.org.", ["ana@x.org"], "Write to ."),
        ("to ana@x.org bo@y.org today", ["ana@x.org", "bo@y.org"], "to today"),
        ("to ana@x.orgbo@y.org today", ["ana@x.org", "bo@y.org"], "to today"),
        ("to  ana@x.org  today", ["ana@x.org"], "to   today"),
    ],
)
def test_remove(text: str, values: list[str], expected: str) -> None:
    assert apply(Remove(), text, find(text, "EMAIL", *values)) == expected


def test_encrypt_round_trip_and_format() -> None:
    text = "Ana Lima (ana@x.org) called Ana Lima"
    op = Encrypt(KEY)
    out = redactor(RedactionPolicy("e", op))(text)
    tokens = re.findall(r"<enc:([A-Z]+):(c1\.1\.[A-Za-z0-9_-]+)>", out)
    assert [t for t, _ in tokens] == ["PERSON", "EMAIL", "PERSON"]
    assert tokens[0][1] != tokens[2][1]  # a random nonce each time
    assert "Ana" not in out
    assert "ana@x.org" not in out
    assert decrypt_tokens(out, KEY) == text
    assert "key" not in repr(op)


def test_encrypted_tokens_do_not_open_with_another_key_type_or_change() -> None:
    out = apply(Encrypt(KEY), "mail ana@x.org", find("mail ana@x.org", "EMAIL", "ana@x.org"))
    with pytest.raises(IntegrityError):
        decrypt_tokens(out, OTHER_KEY)
    with pytest.raises(IntegrityError):
        decrypt_tokens(out.replace("<enc:EMAIL:", "<enc:PHONE:"), KEY)
    head, _, rest = out.partition("c1.1.")
    flipped = head + "c1.1." + ("A" if rest[0] != "A" else "B") + rest[1:]
    with pytest.raises(IntegrityError):
        decrypt_tokens(flipped, KEY)


def test_encrypt_refuses_bad_keys_and_types() -> None:
    with pytest.raises(ValidationError):
        Encrypt(b"0123456789abcdef")
    with pytest.raises(ValidationError):
        decrypt_tokens("<enc:EMAIL:c1.1.AAAA>", b"short")
    with pytest.raises(ValueError, match="cannot encrypt"):
        apply(Encrypt(KEY), "a:b", [Finding("WEIRD:TYPE", 0, 3, 1.0, "t")])


def test_decrypt_tokens_leaves_other_text_alone() -> None:
    text = "nothing <enc:here> to see"
    assert decrypt_tokens(text, KEY) == text
    plain = "no tokens at all"
    assert decrypt_tokens(plain, KEY) is plain


def test_builtin_operator_names() -> None:
    assert dict(OPERATORS) == {
        "tag": Tag,
        "instance_tag": InstanceTag,
        "mask": Mask,
        "pseudonym": Pseudonym,
        "remove": Remove,
        "encrypt": Encrypt,
    }
    for op in (Tag(), InstanceTag(), Mask(), Pseudonym(KEY), Remove(), Encrypt(KEY)):
        assert isinstance(op, Operator)
        assert OPERATORS[type(op).kind] is type(op)


# --------------------------------------------------------------------------------------
# Properties


@st.composite
def texts_and_findings(draw: st.DrawFn, alphabet: st.SearchStrategy[str] | None = None) -> Any:
    text = draw(
        st.text(alphabet, min_size=1, max_size=40) if alphabet else st.text(min_size=1, max_size=40)
    )
    n = len(text)

    @st.composite
    def finding(draw: st.DrawFn) -> Finding:
        start = draw(st.integers(0, n - 1))
        return Finding(
            draw(st.sampled_from(["EMAIL", "PHONE", "IBAN", "PERSON", "US_SSN", "IP_ADDRESS"])),
            start,
            draw(st.integers(start + 1, n)),
            draw(st.sampled_from([0.1, 0.3, 0.5, 0.9, 1.0])),
            draw(st.sampled_from(["a", "b"])),
        )

    findings = draw(st.lists(finding(), max_size=12))
    return text, findings, draw(st.permutations(findings))


MIXED = RedactionPolicy(
    "mixed",
    InstanceTag(),
    {"EMAIL": Pseudonym(KEY), "PHONE": Mask(2), "IBAN": Remove(), "PERSON": Tag()},
    min_score=0.3,
    keep_types=frozenset({"IP_ADDRESS"}),
)


@given(texts_and_findings())
def test_overlaps_are_resolved_the_same_whatever_the_order(case: Any) -> None:
    text, findings, shuffled = case
    one = redact_findings(text, findings, MIXED)
    assert redact_findings(text, shuffled, MIXED) == one
    assert redact_findings(text, findings[::-1], MIXED) == one
    applied = one.findings
    assert list(applied) == sorted(applied, key=lambda f: (f.start, f.end))
    for a, b in itertools.pairwise(applied):
        assert a.end <= b.start
    for f in applied:
        # Overlapping findings merge into one span: the union, with the type and score
        # of the one among them that wins.
        inside = [g for g in findings if f.start <= g.start and g.end <= f.end]
        assert any(g.type == f.type and g.score == f.score for g in inside)
        assert f.start == min(g.start for g in inside)
        assert f.end == max(g.end for g in inside)
        assert f.score >= MIXED.min_score
        assert f.type != "IP_ADDRESS"


@given(texts_and_findings())
def test_tag_replaces_exactly_the_applied_spans(case: Any) -> None:
    text, findings, _ = case
    result = redact_findings(text, findings, RedactionPolicy("t", Tag(), min_score=0.0))
    expected, pos = [], 0
    for f in result.findings:
        expected += [text[pos : f.start], f"<{f.type}>"]
        pos = f.end
    expected.append(text[pos:])
    assert result.text == "".join(expected)
    assert sum(result.counts().values()) == len(result.findings)


@given(texts_and_findings())
def test_encrypt_round_trips_any_text(case: Any) -> None:
    text, findings, _ = case
    assume("<enc:" not in text)
    result = redact_findings(text, findings, RedactionPolicy("e", Encrypt(KEY), min_score=0))
    assert decrypt_tokens(result.text, KEY) == text


FILLER = st.from_regex(r"[a-z0-9]{1,8}|[,.;:!?()-]", fullmatch=True)
NAMES = st.from_regex(r"[A-Z][a-z]{1,7} [A-Z][a-z]{1,7}", fullmatch=True)
EMAILS = st.from_regex(r"[a-z][a-z0-9._]{0,7}@[a-z]{2,8}\.(org|gov|com|io)", fullmatch=True)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A text of lower-case filler with names and emails embedded, and those values."""
    segments = draw(
        st.lists(
            st.one_of(
                FILLER.map(lambda s: (s, False)),
                NAMES.map(lambda s: (s, True)),
                EMAILS.map(lambda s: (s, True)),
            ),
            max_size=15,
        )
    )
    seps = draw(st.lists(st.sampled_from([" ", "  ", "\n", ", "]), min_size=len(segments)))
    text = "".join(sep + s for sep, (s, _) in zip(seps, segments, strict=False))
    return text, [s for s, is_value in segments if is_value]


@pytest.mark.parametrize(
    "op",
    [Tag(), InstanceTag(), Pseudonym(KEY), Pseudonym(KEY, length=4), Remove(), Encrypt(KEY)],
    ids=lambda op: type(op).kind,
)
@given(doc=documents())
def test_no_embedded_value_survives(op: Operator, doc: tuple[str, list[str]]) -> None:
    text, values = doc
    result = redactor(RedactionPolicy("p", op)).redact(text)
    assert len(result.findings) == len(values)
    for value in values:
        assert value not in result.text
    if isinstance(op, Encrypt):
        assert decrypt_tokens(result.text, KEY) == text
    if not values:
        assert result.text is text


@given(st.lists(FILLER, max_size=20).map(" ".join))
def test_text_without_personal_data_comes_back_unchanged(text: str) -> None:
    for name in BUILTIN_POLICIES:
        result = redactor(name).redact(text)
        assert result.text is text
        assert result.findings == ()
        assert result.counts() == {}


def test_findings_below_min_score_or_of_kept_types_are_left_alone() -> None:
    text = "Ana Lima at ana@x.org"
    findings = [
        *find(text, "PERSON", "Ana Lima", score=0.4),
        *find(text, "EMAIL", "ana@x.org", score=0.7),
    ]
    assert redact_findings(text, findings, RedactionPolicy("p")).text == "Ana Lima at <EMAIL>"
    low = RedactionPolicy("p", min_score=0.4)
    assert redact_findings(text, findings, low).text == "<PERSON> at <EMAIL>"
    keep = RedactionPolicy("p", min_score=0.4, keep_types=frozenset({"EMAIL"}))
    result = redact_findings(text, findings, keep)
    assert result.text == "<PERSON> at ana@x.org"
    assert result.findings == (findings[0],)
    nothing = RedactionPolicy("p", min_score=0.8)
    assert redact_findings(text, findings, nothing).text is text


def test_a_kept_type_does_not_shield_an_overlapping_finding() -> None:
    text = "host ana@10.0.0.1 up"
    findings = [
        Finding("IP_ADDRESS", 9, 17, 1.0, "ip"),
        Finding("EMAIL", 5, 17, 0.6, "email"),
    ]
    policy = RedactionPolicy("p", keep_types=frozenset({"IP_ADDRESS"}))
    assert redact_findings(text, findings, policy).text == "host <EMAIL> up"


def test_findings_beyond_the_text_are_refused() -> None:
    with pytest.raises(ValueError, match="beyond the text"):
        redact_findings("short", [Finding("EMAIL", 2, 9, 1.0, "t")], RedactionPolicy("p"))


# --------------------------------------------------------------------------------------
# Policies, the redactor and the result


def test_policy_operator_for() -> None:
    policy = RedactionPolicy(
        "p", Remove(), {PiiType.EMAIL: Mask()}, keep_types=frozenset({"IP_ADDRESS"})
    )
    assert policy.operator_for("EMAIL") == Mask()
    assert policy.operator_for(PiiType.EMAIL) == Mask()
    assert policy.operator_for("PERSON") == Remove()
    assert policy.operator_for("IP_ADDRESS") is None
    assert list(policy.per_type) == ["EMAIL"]
    with pytest.raises(TypeError):
        policy.per_type["PERSON"] = Tag()  # type: ignore[index]
    assert hash(policy) == hash(attrs.evolve(policy))


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": math.nan}, "min_score"),
        ({"min_score": True}, "min_score"),
        ({"default": "tag"}, "default"),
        ({"per_type": {"EMAIL": "tag"}}, "per_type.EMAIL"),
        ({"per_type": {"": Tag()}}, "per_type"),
        ({"keep_types": "EMAIL"}, "keep_types"),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        RedactionPolicy("p", **kwargs)
    assert info.value.problems[0].path == path


def test_builtin_policies() -> None:
    assert set(BUILTIN_POLICIES) == {"public", "export"}
    text = "Ana Lima, Bob Ray, Ana Lima: ana@x.org"
    assert redactor("public")(text) == "<PERSON 1>, <PERSON 2>, <PERSON 1>: <EMAIL>"
    export = BUILTIN_POLICIES["export"]
    card = "pay 4111 1111 1111 1111, call +1 217 555 0134, IBAN DE89370400440532013000"
    findings = [
        *find(card, "CREDIT_CARD", "4111 1111 1111 1111"),
        *find(card, "PHONE", "+1 217 555 0134"),
        *find(card, "IBAN", "DE89370400440532013000"),
    ]
    assert redact_findings(card, findings, export).text == (
        "pay **** **** **** 1111, call +* *** *** 0134, IBAN ******************3000"
    )
    assert redactor("export")(text) == "<PERSON>, <PERSON>, <PERSON>: <EMAIL>"
    analytics = analytics_policy(KEY)
    assert analytics.name == "analytics"
    assert re.fullmatch(r"<EMAIL:[0-9a-f]{8}>", redactor(analytics)("ana@x.org"))


def test_redactor_result_and_known_entities() -> None:
    analyzer = Analyzer([*ANALYZER.detectors, KnownEmailDetector()])
    r = Redactor(analyzer, BUILTIN_POLICIES["public"])
    text = "Ana Lima and Bob Ray wrote from ana@x.org; Bob Ray again"
    result = r.redact(text)
    assert isinstance(result, Redaction)
    assert result.text == "<PERSON 1> and <PERSON 2> wrote from <EMAIL>; <PERSON 2> again"
    assert result.counts() == {"EMAIL": 1, "PERSON": 3}
    assert [text[f.start : f.end] for f in result.findings] == [
        "Ana Lima",
        "Bob Ray",
        "ana@x.org",
        "Bob Ray",
    ]
    assert r(text) == result.text
    # The known-entity detector finds what the regexes do not ...
    known = KnownEntities(emails=("ANA AT X DOT ORG",))
    assert r("mail ana at x dot org") == "mail ana at x dot org"
    assert r.redact("mail ana at x dot org", known=known).text == "mail <EMAIL>"
    assert "public" in repr(r)


# --------------------------------------------------------------------------------------
# Configuration


def test_policy_from_config_happy_path() -> None:
    raw = {
        "default": "tag",
        "types": {
            "EMAIL": "pseudonym",
            "CREDIT_CARD": {"operator": "mask", "keep_last": 4},
            "PERSON": "instance_tag",
            "PHONE": {"operator": "pseudonym", "key": "phones", "length": 12},
            "US_SSN": "remove",
            "IBAN": {"operator": "encrypt"},
            "PASSPORT": {"operator": "mask", "keep_last": 2, "char": "#"},
        },
        "min_score": 0.6,
        "keep": ["IP_ADDRESS"],
        "key": "agency",
    }
    policy = policy_from_config("internal", raw, keys={"agency": KEY, "phones": OTHER_KEY})
    assert policy == RedactionPolicy(
        "internal",
        Tag(),
        {
            "EMAIL": Pseudonym(KEY),
            "CREDIT_CARD": Mask(4),
            "PERSON": InstanceTag(),
            "PHONE": Pseudonym(OTHER_KEY, 12),
            "US_SSN": Remove(),
            "IBAN": Encrypt(KEY),
            "PASSPORT": Mask(2, "#"),
        },
        0.6,
        frozenset({"IP_ADDRESS"}),
    )
    assert policy_from_config("empty", {}) == RedactionPolicy("empty")
    assert policy_from_config("rm", {"default": {"operator": "remove"}}).default == Remove()


def problems_of(raw: Any, keys: dict[str, bytes] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        policy_from_config("p", raw, keys=keys or {"agency": KEY})
    return [(p.path, p.message) for p in info.value.problems]


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        (["tag"], "", "expected a table"),
        ({"defualt": "tag"}, "defualt", "unknown setting"),
        ({"default": "nope"}, "default", "unknown operator 'nope'"),
        ({"default": {"keep_last": 3}}, "default", "needs operator"),
        ({"default": {"operator": 3}}, "default.operator", "expected an operator name"),
        ({"default": {"operator": "zap"}}, "default.operator", "unknown operator 'zap'"),
        ({"types": "tag"}, "types", "expected a table"),
        ({"types": {"EMAIL": 3}}, "types.EMAIL", "expected an operator name or table"),
        (
            {"types": {"EMAIL": {"operator": "tag", "keep_last": 2}}},
            "types.EMAIL.keep_last",
            "tag takes no options",
        ),
        (
            {"types": {"CARD": {"operator": "mask", "keep_last": -1}}},
            "types.CARD.keep_last",
            "from 0",
        ),
        (
            {"types": {"CARD": {"operator": "mask", "keep_last": True}}},
            "types.CARD.keep_last",
            "from 0",
        ),
        (
            {"types": {"CARD": {"operator": "mask", "char": "ab"}}},
            "types.CARD.char",
            "one character",
        ),
        (
            {"types": {"CARD": {"operator": "mask", "kep_last": 2}}},
            "types.CARD.kep_last",
            "one of keep_last, char",
        ),
        ({"types": {"EMAIL": "pseudonym"}}, "types.EMAIL", "needs a key"),
        ({"types": {"EMAIL": "encrypt"}}, "types.EMAIL", "needs a key"),
        (
            {"types": {"EMAIL": {"operator": "pseudonym", "key": 1}}},
            "types.EMAIL.key",
            "name of a key",
        ),
        (
            {"types": {"EMAIL": {"operator": "pseudonym", "key": "x"}}},
            "types.EMAIL.key",
            "no key named 'x'",
        ),
        (
            {"types": {"EMAIL": {"operator": "pseudonym", "key": "short"}}},
            "types.EMAIL.key",
            "at least 32 bytes",
        ),
        (
            {"types": {"EMAIL": {"operator": "encrypt", "key": "short"}}},
            "types.EMAIL.key",
            "32 bytes",
        ),
        ({"key": "short", "types": {"EMAIL": "pseudonym"}}, "key", "at least 32 bytes"),
        (
            {"types": {"EMAIL": {"operator": "pseudonym", "key": "agency", "length": 100}}},
            "types.EMAIL.length",
            "from 4 to 64",
        ),
        ({"key": "nope"}, "key", "no key named 'nope'"),
        ({"key": ["agency"]}, "key", "name of a key"),
        ({"min_score": 1.5}, "min_score", "from 0 to 1"),
        ({"min_score": "high"}, "min_score", "from 0 to 1"),
        ({"min_score": True}, "min_score", "from 0 to 1"),
        ({"min_score": math.nan}, "min_score", "from 0 to 1"),
        ({"keep": "IP_ADDRESS"}, "keep", "expected a list"),
        ({"keep": ["IP_ADDRESS", 7]}, "keep[1]", "expected a type name"),
        (
            {"keep": ["EMAIL"], "types": {"EMAIL": "tag"}},
            "keep[0]",
            "types.EMAIL names an operator",
        ),
        ({"types": {"": "tag"}}, "types", "non-empty"),
    ],
)
def test_policy_from_config_errors(raw: Any, path: str, fragment: str) -> None:
    problems = problems_of(raw, {"agency": KEY, "short": b"0123456789abcdef"})
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert fragment in problems[0][1]


def test_policy_from_config_reports_every_problem_at_once() -> None:
    raw = {
        "default": "nope",
        "key": "missing",
        "types": {
            "EMAIL": "pseudonym",  # no second complaint: the policy's key is reported
            "CARD": {"operator": "mask", "keep_last": -1, "colour": "red"},
        },
        "min_score": 2,
        "keep": [3],
    }
    paths = [path for path, _ in problems_of(raw)]
    assert paths == [
        "key",
        "default",
        "types.CARD.colour",
        "types.CARD.keep_last",
        "min_score",
        "keep[0]",
    ]
    with pytest.raises(PolicyError, match="no key named 'missing'"):
        policy_from_config("p", raw)


def test_policy_from_config_never_shows_key_bytes() -> None:
    secret = b"\x00TOP-SECRET-KEY\x00"
    with pytest.raises(PolicyError) as info:
        policy_from_config("p", {"key": "agency", "default": "pseudonym"}, keys={"agency": secret})
    assert "TOP-SECRET" not in str(info.value)
    assert [p.path for p in info.value.problems] == ["key"]


# --------------------------------------------------------------------------------------
# Logging


@pytest.fixture
def logs() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A fresh logger, the top of its own tree of loggers, writing to a StringIO."""
    # It propagates to the root logger: pytest attaches its capturing handlers to loggers
    # that do not, and filters added to those would outlive the test.
    logger = logging.getLogger(f"redact-test-{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)
    for f in list(logger.filters):
        logger.removeFilter(f)


def test_log_percent_args_are_redacted(logs: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logs
    install_log_redaction(logger, redactor("public"))
    logger.info("call from %s at %s (%d)", "Ana Lima", "ana@x.org", 3)
    logger.info("%(who)s wrote", {"who": "Bob Ray"})
    logger.info("100%% done for %s", "Ana Lima")
    out = stream.getvalue()
    assert "INFO" in out
    assert "call from <PERSON 1> at <EMAIL> (3)" in out
    assert "<PERSON 1> wrote" in out
    assert "100% done for <PERSON 1>" in out
    for value in ("Ana", "ana@", "Bob"):
        assert value not in out


def test_log_record_is_rewritten_before_handlers_see_it() -> None:
    f = RedactingFilter(redactor("public"))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi %s", ("Ana Lima",), None)
    assert f.filter(record) is True
    assert record.msg == "hi <PERSON 1>"
    assert record.args is None
    assert record.getMessage() == "hi <PERSON 1>"


def test_log_f_strings_are_redacted(logs: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logs
    install_log_redaction(logger, redactor("public"))
    email, name = "ana@x.org", "Ana Lima"
    logger.warning(f"{name} <{email}> asked for 50% off")
    assert stream.getvalue().endswith(": <PERSON 1> <<EMAIL>> asked for 50% off\n")


def test_log_exceptions_are_redacted(logs: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logs
    install_log_redaction(logger, redactor("public"))
    try:
        raise LookupError("no account for ana@x.org (Ana Lima)")
    except LookupError:
        logger.exception("lookup failed for %s", "Bob Ray")
    out = stream.getvalue()
    assert "lookup failed for <PERSON 1>" in out
    assert "Traceback (most recent call last)" in out
    assert "LookupError: no account for <EMAIL> (<PERSON 1>)" in out
    for value in ("ana@x.org", "Ana Lima", "Bob Ray"):
        assert value not in out


def test_log_preformatted_exception_text_and_stack_are_redacted() -> None:
    f = RedactingFilter(redactor("public"))
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    record.exc_text = "ValueError: bad ana@x.org"
    record.stack_info = "Stack (most recent call last):\n  greeting Ana Lima"
    f.filter(record)
    assert record.exc_text == "ValueError: bad <EMAIL>"
    assert record.stack_info == "Stack (most recent call last):\n  greeting <PERSON 1>"


def test_log_child_loggers_propagating_to_the_root_handler_are_redacted(
    logs: tuple[logging.Logger, io.StringIO],
) -> None:
    root, stream = logs
    child = logging.getLogger(f"{root.name}.intake.email")
    filter_ = install_log_redaction(root, redactor("public"))
    assert filter_ in root.filters
    assert all(filter_ in h.filters for h in root.handlers)
    child.info("new case from %s", "ana@x.org")
    root.info("and %s", "Ana Lima")
    out = stream.getvalue()
    assert f"INFO {child.name}: new case from <EMAIL>" in out
    assert f"INFO {root.name}: and <PERSON 1>" in out
    assert "ana@" not in out
    assert "Ana" not in out


def test_a_filter_on_the_logger_alone_misses_child_records(
    logs: tuple[logging.Logger, io.StringIO],
) -> None:
    # Why install_log_redaction filters the handlers too.
    root, stream = logs
    root.addFilter(RedactingFilter(redactor("public")))
    logging.getLogger(f"{root.name}.child").info("from %s", "ana@x.org")
    assert "ana@x.org" in stream.getvalue()


def test_log_redaction_on_the_real_root_logger() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    filter_ = install_log_redaction(redactor=redactor("public"))
    try:
        logging.getLogger(f"redact-test-{uuid.uuid4().hex}.child").warning(
            "escalated by %s", "Ana Lima"
        )
    finally:
        root.removeHandler(handler)
        root.removeFilter(filter_)
        for h in root.handlers:
            h.removeFilter(filter_)
    assert stream.getvalue() == "escalated by <PERSON 1>\n"


def test_each_record_is_redacted_once(logs: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logs
    calls: list[str] = []

    def counting(text: str) -> str:
        calls.append(text)
        return text.replace("secret", "<X>")

    install_log_redaction(logger, counting)
    logger.info("a %s b", "secret")
    assert calls == ["a secret b"]
    assert stream.getvalue().endswith(": a <X> b\n")


@pytest.mark.parametrize(
    "bad_redactor",
    [
        pytest.param(lambda text: 1 / 0, id="raises"),
        pytest.param(lambda text: None, id="returns-none"),
    ],
)
def test_a_failing_redactor_withholds_the_message(
    logs: tuple[logging.Logger, io.StringIO], bad_redactor: Callable[[str], str]
) -> None:
    logger, stream = logs
    install_log_redaction(logger, bad_redactor)
    logger.info("call from %s", "ana@x.org")
    try:
        raise ValueError("ana@x.org")
    except ValueError:
        logger.exception("failed for %s", "ana@x.org")
    out = stream.getvalue()
    assert out.count(WITHHELD_MESSAGE) == 2
    assert "ana@x.org" not in out
    assert "Traceback" not in out


def test_bad_format_args_are_withheld_not_raised(
    logs: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = logs
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    install_log_redaction(logger, redactor("public"))
    logger.info("%d calls from %s", "many", "ana@x.org")
    assert stream.getvalue().endswith(f": {WITHHELD_MESSAGE}\n")
    assert stderr.getvalue() == ""  # logging had nothing to complain about
