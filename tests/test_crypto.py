"""Field encryption, key wrapping, sealed documents and blind indexes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from civiccrm.errors import IntegrityError, ValidationError
from civiccrm.models import (
    Agent,
    Case,
    CaseEvent,
    Citizen,
    ContactPoint,
    EventKind,
    Interaction,
    Location,
    Organization,
    PostalAddress,
    make_converter,
    personal_data_fields,
    structure,
)
from civiccrm.privacy.crypto import (
    DataKey,
    blind_index,
    decrypt_value,
    encrypt_value,
    external_id_for_index,
    is_sealed,
    new_secret,
    normalize_email_for_index,
    normalize_phone_for_index,
    seal,
    sealed_key_ref,
    token_generation,
    unseal,
    unwrap_key,
    wrap_key,
)
from tests.strategies import MODELS

CONV = make_converter()
KEY = DataKey("party-7", 1, new_secret())
AAD = "case/0b8e1c52/title"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flips(text: str) -> list[str]:
    """``text`` with one bit of one character flipped, every way."""
    return [
        text[:i] + chr(ord(text[i]) ^ (1 << bit)) + text[i + 1 :]
        for i in range(len(text))
        for bit in range(8)
    ]


# --------------------------------------------------------------------------------------
# Field tokens


@given(json_values)
def test_any_json_value_round_trips(value: object) -> None:
    token = encrypt_value(value, key=KEY, aad=AAD)
    assert token.startswith("c1.1.")
    assert token_generation(token) == 1
    assert decrypt_value(token, key=KEY, aad=AAD) == value


@pytest.mark.parametrize(
    "value",
    [2**70, -(2**64), [1, 2**100], {"a": "\ud800"}, "\udfff x", 0.1, -0.0, "Núñez 漢字 🙂", {}],
    ids=repr,
)
def test_values_orjson_cannot_write_round_trip_exactly(value: object) -> None:
    back = decrypt_value(encrypt_value(value, key=KEY, aad=AAD), key=KEY, aad=AAD)
    assert back == value
    assert type(back) is type(value)
    assert json.dumps(back) == json.dumps(value)  # -0.0 stays -0.0, big ints stay exact


def test_token_format_is_nonce_then_ciphertext_bound_to_key_generation_and_aad() -> None:
    key = DataKey("party-7", 3, new_secret())
    token = encrypt_value({"a": [1, "x"]}, key=key, aad="citizen/42/given_name")
    prefix, generation, body = token.split(".")
    assert (prefix, generation) == ("c1", "3")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", body)
    raw = _unb64(body)
    plain = AESGCM(key.secret).decrypt(raw[:12], raw[12:], b"party-7|3|citizen/42/given_name")
    assert json.loads(plain) == {"a": [1, "x"]}


def test_two_encryptions_of_one_value_differ() -> None:
    tokens = {encrypt_value("Ana Núñez", key=KEY, aad=AAD) for _ in range(20)}
    assert len(tokens) == 20
    nonces = {_unb64(t.split(".")[2])[:12] for t in tokens}
    assert len(nonces) == 20


@pytest.mark.parametrize(
    "other_aad",
    ["case/0b8e1c52/description", "case/0b8e1c53/title", "citizen/0b8e1c52/title", ""],
    ids=["other field", "other record", "other kind", "empty"],
)
def test_a_token_moved_elsewhere_does_not_open(other_aad: str) -> None:
    token = encrypt_value("call me on 217 555 0134", key=KEY, aad=AAD)
    with pytest.raises(IntegrityError, match="does not open"):
        decrypt_value(token, key=KEY, aad=other_aad)


def test_a_token_does_not_open_with_another_key() -> None:
    token = encrypt_value("secret", key=KEY, aad=AAD)
    other_secret = DataKey(KEY.key_id, KEY.generation, new_secret())
    same_secret_other_id = DataKey("party-8", KEY.generation, KEY.secret)
    for key in (other_secret, same_secret_other_id):
        with pytest.raises(IntegrityError, match="does not open"):
            decrypt_value(token, key=key, aad=AAD)


def test_a_token_of_another_generation_is_refused() -> None:
    old = DataKey("party-7", 1, new_secret())
    new = DataKey("party-7", 2, old.secret)  # even with the same secret
    token = encrypt_value("x", key=old, aad=AAD)
    with pytest.raises(IntegrityError, match="generation 1 of the key, not generation 2"):
        decrypt_value(token, key=new, aad=AAD)
    # The generation is bound in the associated data, not only named in the text.
    forged = "c1.2." + token.split(".", 2)[2]
    with pytest.raises(IntegrityError, match="does not open"):
        decrypt_value(forged, key=new, aad=AAD)


@given(json_values)
@settings(max_examples=15)
def test_any_flipped_bit_in_a_token_is_detected(value: object) -> None:
    token = encrypt_value(value, key=KEY, aad=AAD)
    for bad in _flips(token):
        with pytest.raises(IntegrityError):
            decrypt_value(bad, key=KEY, aad=AAD)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "c1",
        "c1.",
        "c1.1",
        "c1.1.",
        "c1..AAAA",
        "c1.01.AAAA",
        "c1.x.AAAA",
        "c1.+1.AAAA",
        "c1.\u0661.AAAA",  # an Arabic-Indic digit one
        "c2.1.AAAA",
        "C1.1.AAAA",
        "plain text",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        token_generation(token)
    with pytest.raises(IntegrityError, match=r"malformed|generation"):
        decrypt_value(token, key=KEY, aad=AAD)


def test_truncated_padded_or_extended_tokens_are_refused() -> None:
    token = encrypt_value("Ana", key=KEY, aad=AAD)
    body = token[len("c1.1.") :]
    variants = [token[:n] for n in range(len(token))]
    variants += [token + "=", token + "==", token + "A", token + "\n", " " + token]
    variants += (
        ["c1.1." + body.replace("-", "+").replace("_", "/")] if "-" in body or "_" in body else []
    )
    for bad in variants:
        with pytest.raises(IntegrityError):
            decrypt_value(bad, key=KEY, aad=AAD)


def test_non_text_tokens_are_refused() -> None:
    for bad in (None, 7, b"c1.1.AAAA", ["c1.1.AAAA"]):
        with pytest.raises(IntegrityError, match="malformed"):
            decrypt_value(bad, key=KEY, aad=AAD)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Data keys


def test_data_key_repr_hides_the_secret() -> None:
    secret = bytes(range(32))
    key = DataKey("party-7", 2, secret)
    for shown in (repr(key), str(key)):
        assert "party-7" in shown
        assert "2" in shown
        assert secret.hex() not in shown
        assert secret.hex().upper() not in shown
        assert repr(secret) not in shown
        assert repr(secret)[2:-1][:20] not in shown
        assert "secret" not in shown


def test_data_key_equality_and_ref() -> None:
    secret = new_secret()
    assert DataKey("k", 1, secret) == DataKey("k", 1, secret)
    assert DataKey("k", 1, secret) != DataKey("k", 1, new_secret())
    assert DataKey("k", 4, secret).ref == ("k", 4)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"secret": b"\x00" * 31}, "secret"),
        ({"secret": b"\x00" * 33}, "secret"),
        ({"secret": "0" * 32}, "secret"),
        ({"generation": 0}, "generation"),
        ({"generation": True}, "generation"),
        ({"key_id": ""}, "key_id"),
        ({"key_id": "a|b"}, "key_id"),
    ],
)
def test_data_key_is_validated(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"key_id": "k", "generation": 1, "secret": new_secret()}
    args.update(kwargs)
    with pytest.raises(ValidationError) as info:
        DataKey(**args)
    assert info.value.problems[0].path == field


def test_new_secret_is_32_fresh_bytes() -> None:
    secrets = {new_secret() for _ in range(10)}
    assert len(secrets) == 10
    assert all(len(s) == 32 for s in secrets)


# --------------------------------------------------------------------------------------
# Key wrapping


def test_wrap_unwrap_round_trip() -> None:
    kek, secret = new_secret(), new_secret()
    wrapped = wrap_key(kek, secret, key_id="party-7/1")
    assert wrapped[:1] == b"\x01"
    assert len(wrapped) == 1 + 12 + 32 + 16
    assert secret not in wrapped
    assert unwrap_key(kek, wrapped, key_id="party-7/1") == secret
    assert wrap_key(kek, secret, key_id="party-7/1") != wrapped  # fresh nonce


def test_unwrap_with_the_wrong_kek_or_id_fails() -> None:
    kek, secret = new_secret(), new_secret()
    wrapped = wrap_key(kek, secret, key_id="party-7/1")
    with pytest.raises(IntegrityError, match="does not open"):
        unwrap_key(new_secret(), wrapped, key_id="party-7/1")
    with pytest.raises(IntegrityError, match="does not open"):
        unwrap_key(kek, wrapped, key_id="party-8/1")


def test_damaged_wrapped_keys_are_refused() -> None:
    kek = new_secret()
    wrapped = wrap_key(kek, new_secret(), key_id="k")
    damaged = [wrapped[:n] for n in range(len(wrapped))]
    damaged += [wrapped + b"\x00", b"\x02" + wrapped[1:]]
    damaged += [
        wrapped[:i] + bytes([wrapped[i] ^ (1 << bit)]) + wrapped[i + 1 :]
        for i in range(len(wrapped))
        for bit in range(8)
    ]
    for bad in damaged:
        with pytest.raises(IntegrityError, match="'k'"):
            unwrap_key(kek, bad, key_id="k")


def test_wrapping_needs_32_byte_keys() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_key(b"short", new_secret(), key_id="k")
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_key(new_secret(), b"short", key_id="k")
    with pytest.raises(ValueError, match="32 bytes"):
        unwrap_key(b"\x00" * 16, b"\x01" + b"\x00" * 60, key_id="k")


# --------------------------------------------------------------------------------------
# Sealed documents

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def _strings(value: object) -> list[str]:
    """Every string in a JSON value, dict keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _in_json(s: str, text: str) -> bool:
    return json.dumps(s, ensure_ascii=False)[1:-1] in text


def _assert_no_personal_text(doc: dict[str, Any], sealed: dict[str, Any], cls: type) -> None:
    personal = {f.name for f in personal_data_fields(cls)}
    clear = json.dumps({k: v for k, v in sealed.items() if k not in personal}, ensure_ascii=False)
    whole = json.dumps(sealed, ensure_ascii=False)
    for name in personal & doc.keys():
        for s in _strings(doc[name]):
            # Text that is also in a field left in clear (a UUID, an enum value, a date)
            # is not the sealing's to hide. A short base64url-like string can turn up by
            # chance inside a token (a 4-character one about once in 10**5 tokens).
            if len(s) < 4 or _in_json(s, clear) or (len(s) < 8 and _BASE64URL.fullmatch(s)):
                continue
            assert not _in_json(s, whole), f"{name}: {s!r} left in clear"


MODEL_IDS = sorted(MODELS, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", MODEL_IDS, ids=lambda c: c.__name__)
@settings(max_examples=30)
@given(data=st.data())
def test_seal_unseal_round_trip(cls: type, data: st.DataObject) -> None:
    doc = CONV.unstructure(data.draw(MODELS[cls]))
    prefix = f"{cls.__name__.lower()}/{uuid.uuid4()}"
    sealed = seal(doc, cls, key=KEY, aad_prefix=prefix)
    assert next(iter(sealed)) == "_k"
    assert sealed["_k"] == ["party-7", 1]
    assert is_sealed(sealed)
    assert sealed_key_ref(sealed) == ("party-7", 1)
    personal = {f.name for f in personal_data_fields(cls)}
    for name, value in doc.items():
        if name in personal and value is not None:
            assert isinstance(sealed[name], str)
            assert sealed[name].startswith("c1.1.")
        else:
            assert sealed[name] == value
    assert sealed.keys() - {"_k"} == doc.keys()
    json.dumps(sealed, allow_nan=False)  # still JSON-ready
    _assert_no_personal_text(doc, sealed, cls)
    assert unseal(sealed, cls, key=KEY, aad_prefix=prefix) == doc
    assert doc == CONV.unstructure(structure(doc, cls))  # the input was not changed


# The models stored as records of their own (the others are only ever nested in these).
RECORD_CLASSES = [Agent, Case, CaseEvent, Citizen, Interaction, Organization]


@pytest.mark.parametrize("cls", RECORD_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=20)
@given(data=st.data())
def test_unseal_without_key_erases_to_a_valid_record(cls: type, data: st.DataObject) -> None:
    obj = data.draw(MODELS[cls])
    doc = CONV.unstructure(obj)
    sealed = seal(doc, cls, key=KEY, aad_prefix="x/1")
    erased = unseal(sealed, cls, key=None, aad_prefix="x/1")
    assert "_k" not in erased
    assert erased.keys() == doc.keys()
    personal = {f.name for f in personal_data_fields(cls)}
    for name, value in doc.items():
        if name not in personal:
            assert erased[name] == value
        else:
            assert not isinstance(erased[name], str) or erased[name] != sealed[name]
    _assert_no_personal_text(doc, erased, cls)
    assert "c1." not in json.dumps(
        {k: v for k, v in erased.items() if k in personal}, ensure_ascii=False
    )
    # What is left is still a record of its kind (a None title, no contact points ...).
    again: object = structure(erased, cls)
    assert type(again) is cls


def _citizen() -> Citizen:
    return Citizen(
        given_name="Ana",
        family_name="Núñez",
        preferred_name="Anita",
        date_of_birth=date(1980, 5, 17),
        contact_points=[
            ContactPoint.email("ana@example.org"),
            ContactPoint.phone("(217) 555-0134", region="US"),
            ContactPoint.postal(PostalAddress(lines=["12 Elm Street"], city="Springfield")),
        ],
        external_ids={"benefits": "C-1043-7"},
        accessibility_needs=["interpreter"],
        vulnerable=True,
        preferred_language="es",
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
    )


def test_erased_values_are_the_defaults() -> None:
    citizen = _citizen()
    doc = CONV.unstructure(citizen)
    erased = unseal(
        seal(doc, Citizen, key=KEY, aad_prefix="citizen/1"),
        Citizen,
        key=None,
        aad_prefix="citizen/1",
    )
    assert {f.name: erased[f.name] for f in personal_data_fields(Citizen)} == {
        "contact_points": [],
        "preferred_language": None,
        "consents": [],
        "external_ids": {},
        "given_name": None,
        "family_name": None,
        "preferred_name": None,
        "date_of_birth": None,
        "accessibility_needs": [],
        "vulnerable": False,
    }
    assert erased["id"] == str(citizen.id)
    assert erased["created_at"] == doc["created_at"]
    # Each erased container is a fresh one: changing it changes nothing else.
    erased["external_ids"]["x"] = "y"
    erased["contact_points"].append(1)
    again = unseal(
        seal(doc, Citizen, key=KEY, aad_prefix="c/1"), Citizen, key=None, aad_prefix="c/1"
    )
    assert again["external_ids"] == {}
    assert again["contact_points"] == []


def test_empty_containers_are_sealed_and_none_is_not() -> None:
    case = Case(case_type="pothole", title="Pothole", description=None)
    doc = CONV.unstructure(case)
    assert doc["attributes"] == {}
    sealed = seal(doc, Case, key=KEY, aad_prefix="case/1")
    assert sealed["attributes"].startswith("c1.1.")
    assert sealed["description"] is None
    assert sealed["location"] is None
    assert unseal(sealed, Case, key=KEY, aad_prefix="case/1") == doc


def test_absent_fields_stay_absent() -> None:
    doc = {"id": "1", "case_type": "pothole", "title": "Pothole on Elm"}
    sealed = seal(doc, Case, key=KEY, aad_prefix="case/1")
    assert list(sealed) == ["_k", "id", "case_type", "title"]
    assert unseal(sealed, Case, key=KEY, aad_prefix="case/1") == doc
    assert unseal(sealed, Case, key=None, aad_prefix="case/1") == {
        "id": "1",
        "case_type": "pothole",
        "title": None,
    }


def _sealed_case() -> tuple[dict[str, Any], dict[str, Any]]:
    case = Case(
        case_type="welfare_check",
        title="Neighbour not seen for days",
        description="Mrs Ortega at 4 Oak Lane, lives alone",
        location=Location(address="4 Oak Lane"),
        attributes={"caller": "her son Luis"},
    )
    doc = CONV.unstructure(case)
    return doc, seal(doc, Case, key=KEY, aad_prefix=f"case/{case.id}")


def test_sealed_values_cannot_be_moved_between_fields_or_records() -> None:
    doc, sealed = _sealed_case()
    prefix = f"case/{doc['id']}"
    swapped = {**sealed, "title": sealed["description"], "description": sealed["title"]}
    with pytest.raises(IntegrityError, match="/title"):
        unseal(swapped, Case, key=KEY, aad_prefix=prefix)
    _, other = _sealed_case()
    moved = {**sealed, "title": other["title"]}
    with pytest.raises(IntegrityError, match="does not open"):
        unseal(moved, Case, key=KEY, aad_prefix=prefix)
    # The same document read as another record's.
    with pytest.raises(IntegrityError, match="does not open"):
        unseal(sealed, Case, key=KEY, aad_prefix="case/another")


def test_plaintext_injected_into_a_sealed_document_is_refused() -> None:
    doc, sealed = _sealed_case()
    for value in ("Injected title", {"caller": "x"}, 7, True):
        with pytest.raises(IntegrityError, match="malformed"):
            unseal({**sealed, "title": value}, Case, key=KEY, aad_prefix=f"case/{doc['id']}")


@pytest.mark.parametrize(
    "ref",
    [["party-8", 1], ["party-7", 2], ["party-7", "1"], ["party-7"], "party-7", None, [1, 1]],
    ids=repr,
)
def test_unseal_refuses_a_document_of_another_key(ref: object) -> None:
    doc, sealed = _sealed_case()
    with pytest.raises(IntegrityError, match="key"):
        unseal({**sealed, "_k": ref}, Case, key=KEY, aad_prefix=f"case/{doc['id']}")


@pytest.mark.parametrize("ref", [["party-7"], "party-7", None, ["party-7", True]], ids=repr)
def test_a_badly_named_key_is_an_integrity_error(ref: object) -> None:
    with pytest.raises(IntegrityError, match="names its key badly"):
        sealed_key_ref({"_k": ref})
    with pytest.raises(IntegrityError, match="names its key badly"):
        unseal({"_k": ref, "title": "c1.1.AAAA"}, Case, key=None, aad_prefix="case/1")


def test_documents_written_before_encryption_pass_through() -> None:
    doc, _ = _sealed_case()
    assert not is_sealed(doc)
    assert sealed_key_ref(doc) is None
    for key in (KEY, None):
        out = unseal(doc, Case, key=key, aad_prefix="case/1")
        assert out == doc
        assert out is not doc


def test_a_sealed_document_is_not_sealed_twice() -> None:
    _, sealed = _sealed_case()
    with pytest.raises(ValueError, match="sealed already"):
        seal(sealed, Case, key=KEY, aad_prefix="case/1")


def test_sealing_covers_nested_personal_data() -> None:
    event = CaseEvent(
        case_id=uuid.uuid4(),
        kind=EventKind.NOTE_ADDED,
        at=datetime.now(UTC),
        note="Spoke to Mr Diaz",
    )
    doc = CONV.unstructure(event)
    sealed = seal(doc, CaseEvent, key=KEY, aad_prefix="event/1")
    assert "Diaz" not in json.dumps(sealed)
    assert sealed["kind"] == "note_added"

    org = Organization(
        name="Acme Plumbing",
        contact_name="Jo Bloggs",
        contact_points=[ContactPoint.email("jo@acme-plumbing.com")],
    )
    doc = CONV.unstructure(org)
    sealed = seal(doc, Organization, key=KEY, aad_prefix="organization/1")
    text = json.dumps(sealed)
    assert "Acme Plumbing" in text  # public record, not personal data
    assert "Bloggs" not in text
    assert "jo@acme" not in text


# --------------------------------------------------------------------------------------
# Blind indexes

INDEX_KEY = new_secret()


def test_blind_index_is_hmac_sha256_of_purpose_nul_value() -> None:
    expected = hmac.new(INDEX_KEY, b"email\x00ana@example.org", hashlib.sha256).digest()
    got = blind_index(INDEX_KEY, "email", "ana@example.org")
    assert _unb64(got) == expected
    assert len(got) == 43
    assert "=" not in got


def test_blind_index_is_deterministic_and_separates_keys_purposes_values() -> None:
    base = blind_index(INDEX_KEY, "email", "ana@example.org")
    assert blind_index(INDEX_KEY, "email", "ana@example.org") == base
    assert blind_index(new_secret(), "email", "ana@example.org") != base
    assert blind_index(INDEX_KEY, "phone", "ana@example.org") != base
    assert blind_index(INDEX_KEY, "email", "ana@example.com") != base
    # The separator keeps purpose and value apart.
    assert blind_index(INDEX_KEY, "ab", "c") != blind_index(INDEX_KEY, "a", "bc")
    assert "ana" not in base


def test_blind_index_refuses_weak_keys_and_ambiguous_purposes() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        blind_index(b"k" * 16, "email", "x")
    with pytest.raises(ValueError, match="NUL"):
        blind_index(INDEX_KEY, "a\x00b", "c")


def test_emails_that_differ_in_case_and_spaces_index_the_same() -> None:
    assert normalize_email_for_index(" Ana@Example.ORG ") == "ana@example.org"
    a = blind_index(INDEX_KEY, "email", normalize_email_for_index(" Ana@Example.ORG "))
    b = blind_index(INDEX_KEY, "email", normalize_email_for_index("ana@example.org"))
    assert a == b
    # A stored contact point and a look-up typed differently meet.
    stored = ContactPoint.email("Ana@EXAMPLE.org").value
    assert stored is not None
    assert normalize_email_for_index(stored) == normalize_email_for_index("ANA@example.ORG\n")


def test_bad_emails_are_validation_errors() -> None:
    for bad in ("", "ana", "ana@", "@example.org", "ana@@example.org"):
        with pytest.raises(ValidationError, match="not a valid email address"):
            normalize_email_for_index(bad)


def test_phones_index_by_e164() -> None:
    assert normalize_phone_for_index("(217) 555-0134", "US") == "+12175550134"
    assert normalize_phone_for_index(" +1 217 555 0134 ", None) == "+12175550134"
    assert normalize_phone_for_index("+12175550134", "GB") == "+12175550134"
    with pytest.raises(ValidationError, match="must start with \\+"):
        normalize_phone_for_index("(217) 555-0134", None)
    with pytest.raises(ValidationError, match="not a valid phone number"):
        normalize_phone_for_index("+1 000 000 0000", None)
    with pytest.raises(ValidationError, match="not a phone number"):
        normalize_phone_for_index("call me", "US")


def test_external_ids_index_with_their_source() -> None:
    assert external_id_for_index("benefits", " C-1043-7 ") == "benefits:C-1043-7"
    assert external_id_for_index("benefits", "C-1") != external_id_for_index("permits", "C-1")


def test_sealing_is_deterministic_per_record_and_field() -> None:
    """The same document seals to the same text (re-imports change nothing); another
    record, field or key gives other tokens."""
    from civiccrm.models import Case as _Case
    from civiccrm.models import make_converter as _mc

    key = DataKey(key_id="party:1", generation=1, secret=new_secret())
    doc = _mc().unstructure(_Case(case_type="001", title="Pothole", description="Pothole"))
    a = seal(doc, _Case, key=key, aad_prefix="case/1")
    assert a == seal(doc, _Case, key=key, aad_prefix="case/1")
    assert a["title"] != a["description"]  # same text, other field
    b = seal(doc, _Case, key=key, aad_prefix="case/2")
    assert a["title"] != b["title"]  # same text, other record
    other = DataKey(key_id="party:1", generation=1, secret=new_secret())
    assert seal(doc, _Case, key=other, aad_prefix="case/1")["title"] != a["title"]
    changed = dict(doc, title="Pothole!")
    assert seal(changed, _Case, key=key, aad_prefix="case/1")["title"] != a["title"]
