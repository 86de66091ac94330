"""
Field encryption at rest, envelope key wrapping and blind indexes.

Personal data is encrypted field by field with AES-256-GCM under a per-party
:class:`DataKey`. Only the fields that :func:`~civiccrm.models.personal_data_fields`
names are encrypted; everything else in a stored document (ids, statuses, timestamps)
stays in clear so that it can be indexed and queried.

Each encrypted value is a *token*: ``c1.<generation>.<base64url(nonce + ciphertext)>``.
Its associated data binds it to the key (id and generation), the record and the field,
so that a token copied to another field, another record or another key's document fails
to decrypt instead of showing somebody else's data.

Destroying a party's data key erases its personal data everywhere at once
(crypto-shredding): :func:`unseal` with ``key=None`` gives each sealed field its erased
value (its default) and never any plaintext.

Data keys are stored wrapped (:func:`wrap_key`) under a key-encryption key that lives
outside the database. Exact-match look-ups on encrypted values (an email, a phone
number, an id in another system) go through :func:`blind_index`: a keyed hash of the
normalised value.

Nothing here does I/O: keys come from the caller (fresh ones from :func:`new_secret`).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import binascii
import copy
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any, Final

import attrs
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from civiccrm.errors import IntegrityError, ValidationError
from civiccrm.models._convert import make_converter
from civiccrm.models._party import normalize_email, normalize_phone
from civiccrm.models._pii import personal_data_fields

__all__ = [
    "SEAL_KEY",
    "DataKey",
    "blind_index",
    "decrypt_value",
    "encrypt_value",
    "external_id_for_index",
    "is_sealed",
    "new_secret",
    "normalize_email_for_index",
    "normalize_phone_for_index",
    "seal",
    "sealed_key_ref",
    "token_generation",
    "unseal",
    "unwrap_key",
    "wrap_key",
]

#: The document key of a sealed document that names the key that sealed it:
#: ``[key_id, generation]``.
SEAL_KEY: Final = "_k"

_KEY_SIZE: Final = 32
_NONCE_SIZE: Final = 12
_TAG_SIZE: Final = 16
_WRAP_VERSION: Final = b"\x01"
_TOKEN_PREFIX: Final = "c1."
# A plaintext that orjson cannot write (an integer over 64 bits, a lone surrogate) is
# written by the standard library after one space. orjson never writes leading
# whitespace, so the space tells the reader which parser reads the value back exactly
# (orjson would read a large integer as a float). Either way the plaintext is JSON.
_STDLIB_MARK: Final = b" "


def new_secret() -> bytes:
    """
    Make a fresh random 32-byte secret: a data key, a key-encryption key or an index key.

    .. versionadded:: 0.1.0
    """
    return os.urandom(_KEY_SIZE)


def _check_key(what: str, key: object) -> bytes:
    if not isinstance(key, bytes) or len(key) != _KEY_SIZE:
        size = f"{len(key)} bytes" if isinstance(key, bytes) else type(key).__name__
        raise ValueError(f"{what} must be {_KEY_SIZE} bytes, got {size}")
    return key


# --------------------------------------------------------------------------------------
# Key wrapping


def _wrap_aad(key_id: str) -> bytes:
    return _WRAP_VERSION + key_id.encode("utf-8")


def wrap_key(kek: bytes, secret: bytes, *, key_id: str) -> bytes:
    """
    Encrypt the data key ``secret`` under the key-encryption key ``kek`` for storage
    (envelope encryption).

    The result is ``b"\\x01" + nonce (12 bytes) + ciphertext and tag`` (61 bytes for a
    32-byte secret), encrypted with AES-256-GCM under a fresh nonce. Its associated data
    binds ``key_id``: :func:`unwrap_key` refuses it under any other id.

    Raises:
        ValueError: ``kek`` or ``secret`` is not 32 bytes.

    .. versionadded:: 0.1.0
    """
    aead = AESGCM(_check_key("the key-encryption key", kek))
    _check_key("the secret to wrap", secret)
    nonce = os.urandom(_NONCE_SIZE)
    return _WRAP_VERSION + nonce + aead.encrypt(nonce, secret, _wrap_aad(key_id))


def unwrap_key(kek: bytes, wrapped: bytes, *, key_id: str) -> bytes:
    """
    Decrypt a data key wrapped by :func:`wrap_key` and return its 32-byte secret.

    Raises:
        IntegrityError: the wrapped key does not open: ``kek`` is not the key it was
            wrapped with, it was wrapped for another ``key_id`` (moved), or it is damaged.
        ValueError: ``kek`` is not 32 bytes.

    .. versionadded:: 0.1.0
    """
    aead = AESGCM(_check_key("the key-encryption key", kek))
    expected = len(_WRAP_VERSION) + _NONCE_SIZE + _KEY_SIZE + _TAG_SIZE
    if not isinstance(wrapped, bytes) or len(wrapped) != expected:
        size = f"{len(wrapped)} bytes" if isinstance(wrapped, bytes) else type(wrapped).__name__
        raise IntegrityError(
            f"wrapped key {key_id!r} is damaged: expected {expected} bytes, got {size}"
        )
    if wrapped[:1] != _WRAP_VERSION:
        raise IntegrityError(
            f"wrapped key {key_id!r} is damaged or of an unknown format "
            f"(version byte {wrapped[0]:#04x})"
        )
    nonce = wrapped[1 : 1 + _NONCE_SIZE]
    try:
        return aead.decrypt(nonce, wrapped[1 + _NONCE_SIZE :], _wrap_aad(key_id))
    except InvalidTag:
        raise IntegrityError(
            f"wrapped key {key_id!r} does not open: wrong key-encryption key, "
            "a key wrapped for another id, or damaged"
        ) from None


# --------------------------------------------------------------------------------------
# Data keys


def _key_id(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError.at(field.name, "a key id is a non-empty string")
    if "|" in value:
        # The id is joined with '|' into every token's associated data.
        raise ValidationError.at(field.name, f"a key id cannot contain '|': {value!r}")


def _generation(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 1:
        raise ValidationError.at(
            field.name, f"a key generation is an integer from 1, got {value!r}"
        )


def _secret(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bytes) or len(value) != _KEY_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ValidationError.at(field.name, f"a data key's secret is {_KEY_SIZE} bytes, got {got}")


@attrs.frozen
class DataKey:
    """
    The key that encrypts one party's personal data (or any set of records that are
    erased together).

    Attributes:
        key_id: the key's id; stored in sealed documents (``"_k"``). Not ``|``.
        generation: 1 for a party's first key, then 2, 3 ... each time it is replaced;
            tokens name the generation that made them.
        secret: the 32-byte AES-256 key. Never shown by ``repr``.

    .. versionadded:: 0.1.0
    """

    key_id: str = attrs.field(validator=_key_id)
    generation: int = attrs.field(validator=_generation)
    secret: bytes = attrs.field(repr=False, validator=_secret)
    # Derived once: the cipher (its key schedule) and the constant parts of tokens and
    # associated data.
    _aead: AESGCM = attrs.field(init=False, repr=False, eq=False)
    _token_head: str = attrs.field(init=False, repr=False, eq=False)
    _aad_head: bytes = attrs.field(init=False, repr=False, eq=False)
    _nonce_key: bytes = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.secret))
        object.__setattr__(
            self,
            "_nonce_key",
            hmac.new(self.secret, b"civiccrm synthetic nonce", hashlib.sha256).digest(),
        )
        object.__setattr__(self, "_token_head", f"{_TOKEN_PREFIX}{self.generation}.")
        object.__setattr__(self, "_aad_head", f"{self.key_id}|{self.generation}|".encode())

    @property
    def ref(self) -> tuple[str, int]:
        """``(key_id, generation)``, as :func:`sealed_key_ref` gives it."""
        return (self.key_id, self.generation)


# --------------------------------------------------------------------------------------
# Field tokens


def _dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        return _STDLIB_MARK + text.encode("ascii")


def _loads(data: bytes) -> object:
    if data[:1] == _STDLIB_MARK:
        return json.loads(data)
    return orjson.loads(data)


# base64url without padding, through binascii (faster than the base64 module).
_TO_URL: Final = bytes.maketrans(b"+/", b"-_")
# '+', '/' and '=' are not base64url: they become '!', which strict decoding refuses.
_FROM_URL: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: The 6-bit value of each base64url character.
_SEXTET: Final = bytes(_URL_ALPHABET.find(bytes([b])) % 64 for b in range(256))
_PADDING: Final = (b"", b"", b"==", b"=")  # by len(text) % 4; 1 is never valid


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """
    Decode base64url without padding; None unless ``text`` is the one canonical
    spelling of some bytes (no padding, no stray characters, no '+' or '/', no set
    unused bits in the last character), so a changed character never decodes to the
    same bytes.
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    rem = len(raw) % 4
    if rem == 1:
        return None
    try:
        data = binascii.a2b_base64(raw.translate(_FROM_URL) + _PADDING[rem], strict_mode=True)
    except binascii.Error:
        return None
    # The last character of 2 (3) holds 4 (2) bits beyond the data: they must be zero.
    if rem and _SEXTET[raw[-1]] & (0x0F if rem == 2 else 0x03):
        return None
    return data


def _encrypt(key: DataKey, nonce: bytes, plaintext: bytes, aad: str) -> str:
    sealed = nonce + key._aead.encrypt(nonce, plaintext, key._aad_head + aad.encode())
    return key._token_head + _b64encode(sealed)


def encrypt_value(value: object, *, key: DataKey, aad: str) -> str:
    """
    Encrypt a JSON-ready value (what :func:`~civiccrm.models.unstructure` makes) into a
    token ``c1.<generation>.<base64url, no padding>``.

    The value is written as compact UTF-8 JSON (orjson, as documents are stored) and
    encrypted with AES-256-GCM under ``key`` with a fresh 12-byte nonce, so the same
    value never gives the same token twice. The associated data is
    ``f"{key.key_id}|{key.generation}|{aad}"``: the token opens only with the same key
    and the same ``aad`` (by convention ``"<kind>/<record id>/<field>"``).

    Integers of any size and lone surrogates round-trip exactly. NaN and infinities are
    not JSON: orjson writes them as null (models refuse them in the first place).

    Raises:
        TypeError: the value is not JSON-ready.

    .. versionadded:: 0.1.0
    """
    return _encrypt(key, os.urandom(_NONCE_SIZE), _dumps(value), aad)


def _parse_generation(token: object) -> int | None:
    """The generation a token names, or None when it is not a token."""
    if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
        return None
    end = token.find(".", len(_TOKEN_PREFIX))
    digits = token[len(_TOKEN_PREFIX) : end]
    if (
        end < 0
        or end + 1 == len(token)
        or not digits.isascii()
        or not digits.isdigit()
        or digits.startswith("0")
        or len(digits) > 18
    ):
        return None
    return int(digits)


def token_generation(token: str) -> int:
    """
    The key generation a token was made with (so the caller can fetch that key).

    Raises:
        IntegrityError: ``token`` is not a token.

    .. versionadded:: 0.1.0
    """
    generation = _parse_generation(token)
    if generation is None:
        raise IntegrityError("not an encrypted value (malformed token)")
    return generation


def _decrypt(token: object, key: DataKey, aad: str) -> object:
    head = key._token_head
    if not isinstance(token, str) or not token.startswith(head):
        generation = _parse_generation(token)
        if generation is None:
            raise IntegrityError(f"{aad}: not an encrypted value (malformed token)")
        raise IntegrityError(
            f"{aad}: encrypted with generation {generation} of the key, "
            f"not generation {key.generation} ({key.key_id})"
        )
    sealed = _b64decode(token[len(head) :])
    if sealed is None or len(sealed) < _NONCE_SIZE + _TAG_SIZE:
        raise IntegrityError(f"{aad}: not an encrypted value (malformed token)")
    nonce = sealed[:_NONCE_SIZE]
    try:
        plaintext = key._aead.decrypt(nonce, sealed[_NONCE_SIZE:], key._aad_head + aad.encode())
    except InvalidTag:
        raise IntegrityError(
            f"{aad}: encrypted value does not open with key {key.key_id} generation "
            f"{key.generation}: another key, moved from another record or field, or damaged"
        ) from None
    try:
        return _loads(plaintext)
    except ValueError:  # cannot happen for a value we encrypted; guard all the same
        raise IntegrityError(f"{aad}: encrypted value is not JSON") from None


def decrypt_value(token: str, *, key: DataKey, aad: str) -> object:
    """
    Decrypt a token made by :func:`encrypt_value` with the same ``key`` and ``aad``,
    and return the JSON value.

    Raises:
        IntegrityError: the token is malformed, was made with another generation of the
            key, or fails authentication (another key, another ``aad``: moved to another
            record or field, or damaged). Nothing is returned that was not encrypted
            under exactly this key and ``aad``.

    .. versionadded:: 0.1.0
    """
    return _decrypt(token, key, aad)


# --------------------------------------------------------------------------------------
# Documents


_MISSING: Final = object()


@attrs.frozen
class _Plan:
    """What sealing needs to know about a model class, worked out once."""

    #: The personal data fields by name, each with its aad suffix ``"/<name>"``.
    fields: tuple[tuple[str, str], ...]
    #: Each field's erased value: its default, unstructured.
    erased: Mapping[str, Any]


@functools.cache
def _plan(cls: type) -> _Plan:
    conv = make_converter()
    by_name = {f.name: f for f in attrs.fields(cls)}
    fields: list[tuple[str, str]] = []
    erased: dict[str, Any] = {}
    for pf in personal_data_fields(cls):
        fields.append((pf.name, f"/{pf.name}"))
        default = by_name[pf.name].default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            factory: Any = default
            value = None if factory.takes_self else factory.factory()
        elif default is attrs.NOTHING:
            value = None
        else:
            value = default
        erased[pf.name] = None if value is None else conv.unstructure(value, by_name[pf.name].type)
    return _Plan(tuple(fields), erased)


def is_sealed(doc: Mapping[str, Any]) -> bool:
    """
    Whether ``doc`` was sealed by :func:`seal` (it names its key in ``"_k"``). Documents
    written before encryption was turned on are not.

    .. versionadded:: 0.1.0
    """
    return SEAL_KEY in doc


def sealed_key_ref(doc: Mapping[str, Any]) -> tuple[str, int] | None:
    """
    The ``(key_id, generation)`` of the key that sealed ``doc``; None if it is not sealed.

    Raises:
        IntegrityError: ``"_k"`` is not a ``[key_id, generation]`` pair.

    .. versionadded:: 0.1.0
    """
    ref = doc.get(SEAL_KEY, _MISSING)
    if ref is _MISSING:
        return None
    if (
        isinstance(ref, list | tuple)
        and len(ref) == 2
        and isinstance(ref[0], str)
        and type(ref[1]) is int
    ):
        return (ref[0], ref[1])
    raise IntegrityError(f"sealed document names its key badly: {SEAL_KEY}={ref!r}")


def seal(doc: Mapping[str, Any], cls: type, *, key: DataKey, aad_prefix: str) -> dict[str, Any]:
    """
    Encrypt the personal data in the unstructured document ``doc`` of model ``cls``.

    Returns a new dict: ``"_k": [key_id, generation]`` first, then the fields of ``doc``
    in order, each field of :func:`~civiccrm.models.personal_data_fields` that is present
    and not None replaced by its token (as :func:`encrypt_value` makes them, with aad
    ``f"{aad_prefix}/{field}"``). Empty lists and dicts are encrypted too: that there is
    nothing is itself information. ``aad_prefix`` is ``f"{kind}/{record_id}"``.

    Sealing is deterministic (a synthetic nonce, see :func:`_synthetic_nonce`): the
    same document seals to the same text, which tells a storage backend that a
    re-imported record did not change. It reveals only that a field of a record kept
    its value between two versions.

    Each value is authenticated on its own: a token cannot be moved or altered, but
    sealing does not stop a personal field being removed or set to None, nor protect
    the fields left in clear.

    Raises:
        ValueError: ``doc`` is sealed already.

    .. versionadded:: 0.1.0
    """
    if SEAL_KEY in doc:
        raise ValueError("the document is sealed already")
    plan = _plan(cls)
    out: dict[str, Any] = {SEAL_KEY: [key.key_id, key.generation]}
    out.update(doc)
    for name, suffix in plan.fields:
        value = out.get(name)
        if value is not None:
            plaintext = _dumps(value)
            aad = aad_prefix + suffix
            out[name] = _encrypt(key, _synthetic_nonce(key, aad, plaintext), plaintext, aad)
    return out


def _synthetic_nonce(key: DataKey, aad: str, plaintext: bytes) -> bytes:
    """
    The nonce of a sealed value: a keyed hash (under a key derived from the data key)
    of its associated data and plaintext. The same value in the same field of the same
    record seals to the same token, so that importing the same data again changes
    nothing; any other value, field or record gets another nonce, so a nonce never
    meets a second plaintext (the danger of AES-GCM nonce reuse).
    """
    return hmac.digest(key._nonce_key, aad.encode() + b"\x00" + plaintext, "sha256")[:_NONCE_SIZE]


def unseal(
    doc: Mapping[str, Any], cls: type, *, key: DataKey | None, aad_prefix: str
) -> dict[str, Any]:
    """
    Decrypt a document sealed by :func:`seal`; the result has no ``"_k"``.

    With ``key=None`` (the key was destroyed: the party's data is erased), every sealed
    field gets its erased value instead: the field's default as stored (None, ``[]``,
    ``{}``, ``False``), or None for a field without a default. A document that is not
    sealed (written before encryption) comes back as it is.

    Raises:
        IntegrityError: ``doc`` was sealed with another key or generation than ``key``;
            a personal field holds something other than a token that opens with ``key``
            for this record and field.

    .. versionadded:: 0.1.0
    """
    if SEAL_KEY not in doc:
        return dict(doc)
    ref = sealed_key_ref(doc)
    if key is not None and ref != (key.key_id, key.generation):
        raise IntegrityError(
            f"{aad_prefix}: sealed with key {doc[SEAL_KEY]!r}, "
            f"not {key.key_id} generation {key.generation}"
        )
    plan = _plan(cls)
    out = dict(doc)
    del out[SEAL_KEY]
    if key is None:
        for name, _ in plan.fields:
            if out.get(name) is not None:
                out[name] = copy.copy(plan.erased[name])
        return out
    for name, suffix in plan.fields:
        token = out.get(name)
        if token is not None:
            out[name] = _decrypt(token, key, aad_prefix + suffix)
    return out


# --------------------------------------------------------------------------------------
# Blind indexes


def blind_index(index_key: bytes, purpose: str, value: str) -> str:
    """
    A keyed hash of ``value`` for exact-match look-ups on encrypted data: HMAC-SHA256
    under ``index_key`` over ``purpose + "\\0" + value`` (UTF-8), in base64url without
    padding (43 characters).

    The same value gives the same index for the same key and purpose, and nothing about
    the value can be learnt from it without the key. ``purpose`` (``"email"``,
    ``"phone"``, ``"external_id"``) keeps indexes of different kinds of value apart.
    Normalise the value first (:func:`normalize_email_for_index` ...), on writes and on
    look-ups alike.

    Raises:
        ValueError: ``index_key`` is shorter than 32 bytes, or ``purpose`` contains NUL.

    .. versionadded:: 0.1.0
    """
    if not isinstance(index_key, bytes) or len(index_key) < _KEY_SIZE:
        raise ValueError(f"an index key must be at least {_KEY_SIZE} bytes")
    if "\x00" in purpose:
        raise ValueError("an index purpose cannot contain NUL")
    digest = hmac.digest(index_key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256)
    return _b64encode(digest)


def normalize_email_for_index(value: str) -> str:
    """
    The form of an email address that its blind index is made from.

    The address is stripped, checked and normalised as contact points are
    (:func:`~civiccrm.models.normalize_email`: Unicode NFC, internationalised domains in
    Unicode), then lower-cased as a whole. Strictly the part before the ``@`` may be
    case-sensitive, but no mail system in practice treats ``Ana@`` and ``ana@`` as two
    people, while residents type their address in every case: a look-up that found
    nothing for ``ANA@EXAMPLE.ORG`` would be the worse error.

    Raises:
        ValidationError: ``value`` is not an email address; the message says why.

    .. versionadded:: 0.1.0
    """
    try:
        return normalize_email(value.strip()).lower()
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def normalize_phone_for_index(value: str, default_region: str | None) -> str:
    """
    The form of a phone number that its blind index is made from: E.164
    (``+12175550134``), as contact points store it.

    Args:
        value: the number as written.
        default_region: ISO 3166 region for numbers written without a country code (the
            agency profile's ``default_region``); None requires a leading ``+``.

    Raises:
        ValidationError: ``value`` is not a valid phone number; the message says why.

    .. versionadded:: 0.1.0
    """
    try:
        return normalize_phone(value.strip(), default_region)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def external_id_for_index(source: str, value: str) -> str:
    """
    The form of an id in another system that its blind index is made from:
    ``f"{source}:{value}"`` with the value stripped (the store's import key).

    .. versionadded:: 0.1.0
    """
    return f"{source}:{value.strip()}"
