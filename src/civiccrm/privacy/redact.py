"""
Redaction of personal data in free text: operators, policies and a logging filter.

An :class:`~civiccrm.privacy.detect.Analyzer` says where the personal data in a text
is; a :class:`RedactionPolicy` says what becomes of each kind of it; a
:class:`Redactor` puts the two together::

    redactor = Redactor(Analyzer(default_detectors()), BUILTIN_POLICIES["public"])
    redactor("Ana Lima (ana@example.org) called") == "<PERSON 1> (<EMAIL>) called"

Each finding's text is replaced by what its type's :class:`Operator` makes of it (the
name in brackets is the operator's name in configuration files):

* :class:`Tag` (``tag``): ``<EMAIL>``.
* :class:`InstanceTag` (``instance_tag``): ``<PERSON 1>``, ``<PERSON 2>``, the same
  value keeping its number within a document.
* :class:`Mask` (``mask``): ``****-****-****-1111``.
* :class:`Pseudonym` (``pseudonym``): ``<PERSON:3f9a1c2e>``, the same for the same
  value under one key, so that repeat values can be counted.
* :class:`Remove` (``remove``): nothing.
* :class:`Encrypt` (``encrypt``): ``<enc:EMAIL:c1.1.…>``, which
  :func:`decrypt_tokens` reverses with the key.

:func:`redact_findings` applies a policy to findings the caller already has;
:func:`policy_from_config` reads a policy from a TOML table; :class:`RedactingFilter`
and :func:`install_log_redaction` keep personal data out of log files.

Nothing here does I/O; keys come from the caller.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

import attrs

from civiccrm.errors import IntegrityError, PolicyError, Problem, ValidationError
from civiccrm.privacy.crypto import DataKey, decrypt_value, encrypt_value
from civiccrm.privacy.detect import Analyzer, Finding, KnownEntities, PiiType, resolve_overlaps

__all__ = [
    "BUILTIN_POLICIES",
    "OPERATORS",
    "Encrypt",
    "InstanceTag",
    "Mask",
    "Operator",
    "Pseudonym",
    "RedactingFilter",
    "Redaction",
    "RedactionPolicy",
    "RedactionState",
    "Redactor",
    "Remove",
    "Tag",
    "WITHHELD_MESSAGE",
    "analytics_policy",
    "decrypt_tokens",
    "install_log_redaction",
    "normalize_for_matching",
    "policy_from_config",
    "redact_findings",
]

_KEY_SIZE: Final = 32


def normalize_for_matching(value: str) -> str:
    """
    The form of a value that decides whether two findings are "the same value": Unicode
    NFKC, case-folded, runs of whitespace made one space, stripped. ``"Ana  LIMA"`` and
    ``"ana lima"`` are the same.

    .. versionadded:: 0.1.0
    """
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


# --------------------------------------------------------------------------------------
# State and operators


@attrs.define
class RedactionState:
    """
    What the operators share while one document is redacted: the document itself and
    the instance numbers handed out so far (per type, in order of first appearance).

    A fresh state is made for each document; operators are called in text order.

    .. versionadded:: 0.1.0
    """

    text: str
    _numbers: dict[tuple[str, str], int] = attrs.field(factory=dict, init=False, repr=False)
    _counters: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)

    def instance_number(self, type: str, value: str) -> int:
        """
        The number of ``value`` among the values of ``type`` in this document: 1 for
        the first one seen, 2 for the next different one ...; the same value (see
        :func:`normalize_for_matching`) keeps its number.
        """
        key = (str(type), normalize_for_matching(value))
        number = self._numbers.get(key)
        if number is None:
            number = self._counters.get(key[0], 0) + 1
            self._counters[key[0]] = number
            self._numbers[key] = number
        return number


@runtime_checkable
class Operator(Protocol):
    """
    What replaces one piece of personal data: ``apply`` gets the finding's text
    (``value``), the finding and the document's :class:`RedactionState`, and returns
    the replacement. The built-in operators are frozen attrs classes with a ``kind``,
    their name in configuration files.

    .. versionadded:: 0.1.0
    """

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str: ...


@attrs.frozen
class Tag:
    """
    Replaces a value by its type: ``<EMAIL>``, ``<PERSON>``.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "tag"

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str:
        return f"<{finding.type}>"


@attrs.frozen
class InstanceTag:
    """
    Replaces a value by its type and its number in the document: ``<PERSON 1>``,
    ``<PERSON 2>``. The same value (compared case-insensitively, whitespace
    normalised) gets the same number everywhere in one document; each type is numbered
    on its own, in order of first appearance. Numbers mean nothing across documents.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "instance_tag"

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str:
        return f"<{finding.type} {state.instance_number(finding.type, value)}>"


def _keep_last(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or value < 0:
        raise ValidationError.at(field.name, f"expected an integer from 0, got {value!r}")


def _mask_char(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or len(value) != 1:
        raise ValidationError.at(field.name, f"expected one character, got {value!r}")


@attrs.frozen
class Mask:
    """
    Masks a value character by character, keeping its last ``keep_last`` letters and
    digits and its separators: ``4111-1111-1111-1111`` becomes ``****-****-****-1111``.

    Never more than half of the value's letters and digits are kept (``"12345"`` keeps
    ``"45"`` at most). A value without letters or digits is masked entirely.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "mask"
    keep_last: int = attrs.field(default=4, validator=_keep_last)
    char: str = attrs.field(default="*", validator=_mask_char)

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str:
        alnum = [i for i, c in enumerate(value) if c.isalnum()]
        if not alnum:
            return self.char * len(value)
        keep = min(self.keep_last, len(alnum) // 2)
        first_kept = alnum[len(alnum) - keep] if keep else len(value)
        return "".join(
            c if not c.isalnum() or i >= first_kept else self.char for i, c in enumerate(value)
        )


def _hmac_key(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bytes) or len(value) < _KEY_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ValidationError.at(field.name, f"a key is at least {_KEY_SIZE} bytes, got {got}")


def _token_length(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not int or not 4 <= value <= 64:
        raise ValidationError.at(field.name, f"expected an integer from 4 to 64, got {value!r}")


@attrs.frozen
class Pseudonym:
    """
    Replaces a value by a keyed pseudonym: ``<PERSON:3f9a1c2e>``, the first ``length``
    hex digits of HMAC-SHA256 under ``key`` of the type and the normalised value (see
    :func:`normalize_for_matching`).

    The same value of the same type gives the same token in every document under one
    key, so that analysts can count repeat callers without seeing who they are; another
    key gives unrelated tokens. Without the key, a token tells nothing about its value
    (short tokens can collide: 8 hex digits are 32 bits).

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "pseudonym"
    key: bytes = attrs.field(repr=False, validator=_hmac_key)
    length: int = attrs.field(default=8, validator=_token_length)

    def token(self, type: str, value: str) -> str:
        """The pseudonym of ``value`` as a ``type``, without the brackets."""
        message = b"civiccrm redact pseudonym\x00%s\x00%s" % (
            str(type).encode("utf-8", "surrogatepass"),
            normalize_for_matching(value).encode("utf-8", "surrogatepass"),
        )
        return hmac.digest(self.key, message, hashlib.sha256).hex()[: self.length]

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str:
        return f"<{finding.type}:{self.token(finding.type, value)}>"


@attrs.frozen
class Remove:
    """
    Removes a value. When that leaves two spaces side by side, one of them goes too:
    ``"write to ana@x.org today"`` becomes ``"write to today"``.

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "remove"

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str:
        return ""


_ENC_KEY_ID: Final = "redaction"
# A type goes into the token as it is, so it cannot hold what delimits the token.
_ENC_TYPE: Final = re.compile(r"[^\s:<>]+")
_ENC_TOKEN: Final = re.compile(r"<enc:([^\s:<>]+):(c1\.[1-9][0-9]*\.[A-Za-z0-9_-]+)>")


def _enc_aad(type: str) -> str:
    return f"redact/{type}"


def _data_key(key: bytes) -> DataKey:
    try:
        return DataKey(_ENC_KEY_ID, 1, key)
    except ValidationError as exc:
        raise ValidationError.at("key", exc.problems[0].message) from None


def _enc_key(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bytes) or len(value) != _KEY_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ValidationError.at(field.name, f"an encryption key is {_KEY_SIZE} bytes, got {got}")


@attrs.frozen
class Encrypt:
    """
    Replaces a value by its encryption: ``<enc:EMAIL:c1.1.…>``, where ``c1.1.…`` is a
    token of :func:`~civiccrm.privacy.crypto.encrypt_value` (AES-256-GCM under ``key``
    with a fresh random nonce, base64url). The finding's type is bound as associated
    data, so a token relabelled as another type does not open. :func:`decrypt_tokens`
    restores the values.

    The same value encrypts differently each time: the output is not deterministic.
    A type containing whitespace, ``:``, ``<`` or ``>`` cannot be encrypted
    (``ValueError``).

    .. versionadded:: 0.1.0
    """

    kind: ClassVar[str] = "encrypt"
    key: bytes = attrs.field(repr=False, validator=_enc_key)
    _data_key: DataKey = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_data_key", _data_key(self.key))

    def apply(self, value: str, finding: Finding, state: RedactionState) -> str:
        type_ = str(finding.type)
        if not _ENC_TYPE.fullmatch(type_):
            raise ValueError(
                f"cannot encrypt a finding of type {type_!r} (whitespace, ':', '<' or '>')"
            )
        token = encrypt_value(value, key=self._data_key, aad=_enc_aad(type_))
        return f"<enc:{type_}:{token}>"


def decrypt_tokens(text: str, key: bytes) -> str:
    """
    Restore the values that :class:`Encrypt` with ``key`` replaced in ``text``. Text
    without tokens comes back as it is.

    Raises:
        IntegrityError: a token does not open with ``key`` (another key, relabelled
            with another type, or damaged). Nothing is restored then.
        ValidationError: ``key`` is not 32 bytes.

    .. versionadded:: 0.1.0
    """
    if "<enc:" not in text:
        return text
    data_key = _data_key(key)

    def restore(match: re.Match[str]) -> str:
        value = decrypt_value(match[2], key=data_key, aad=_enc_aad(match[1]))
        if not isinstance(value, str):
            raise IntegrityError(f"{_enc_aad(match[1])}: the encrypted value is not text")
        return value

    return _ENC_TOKEN.sub(restore, text)


#: The built-in operators by their configuration name.
OPERATORS: Final[Mapping[str, type]] = MappingProxyType(
    {op.kind: op for op in (Tag, InstanceTag, Mask, Pseudonym, Remove, Encrypt)}
)


# --------------------------------------------------------------------------------------
# Policies


def _freeze_operators(value: Mapping[str, Operator]) -> Mapping[str, Operator]:
    return MappingProxyType({str(k): v for k, v in dict(value).items()})


def _freeze_types(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise ValidationError.at("keep_types", f"expected a set of type names, got {value!r}")
    return frozenset(str(t) for t in value)


def _operator(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Operator):
        raise ValidationError.at(field.name, f"expected an operator, got {type(value).__name__}")


def _operators(_inst: object, field: attrs.Attribute[Any], value: Mapping[str, object]) -> None:
    for k, op in value.items():
        if not k:
            raise ValidationError.at(field.name, "a type name cannot be empty")
        if not isinstance(op, Operator):
            raise ValidationError.at(
                f"{field.name}.{k}", f"expected an operator, got {type(op).__name__}"
            )


def _score(_inst: object, field: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValidationError.at(field.name, f"expected a number from 0 to 1, got {value!r}")


@attrs.frozen
class RedactionPolicy:
    """
    What becomes of each type of personal data.

    Attributes:
        name: the policy's name (``"public"``).
        default: the operator of every type not in ``per_type``.
        per_type: operators by type name.
        min_score: findings scored below this are left alone.
        keep_types: types never redacted (for a role allowed to see them).

    .. versionadded:: 0.1.0
    """

    name: str
    default: Operator = attrs.field(factory=Tag, validator=_operator)
    per_type: Mapping[str, Operator] = attrs.field(
        factory=dict, converter=_freeze_operators, validator=_operators, hash=False
    )
    min_score: float = attrs.field(default=0.5, validator=_score)
    keep_types: frozenset[str] = attrs.field(factory=frozenset, converter=_freeze_types)

    def operator_for(self, type: str) -> Operator | None:
        """The operator for ``type``; None when the type is kept."""
        if type in self.keep_types:
            return None
        return self.per_type.get(type, self.default)


@attrs.frozen
class Redaction:
    """
    A redacted text and the findings that were redacted in it, in text order.

    .. versionadded:: 0.1.0
    """

    text: str
    findings: tuple[Finding, ...]

    def counts(self) -> dict[str, int]:
        """How many findings of each type were redacted, by type name in order."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.type] = out.get(f.type, 0) + 1
        return dict(sorted(out.items()))


def redact_findings(text: str, findings: Sequence[Finding], policy: RedactionPolicy) -> Redaction:
    """
    Apply ``policy`` to ``findings`` in ``text``.

    Findings scored below ``policy.min_score`` and findings of kept types are dropped
    first (so that a kept finding never shields an overlapping one from redaction);
    overlaps among the rest are resolved with
    :func:`~civiccrm.privacy.detect.resolve_overlaps`. The result depends on the set of
    findings, never on their order. Operators are called in text order (so that
    instance numbers follow first appearance) and each span is replaced in the
    original text, so spans never shift. Text with nothing to redact comes back as the
    same string.

    Raises:
        ValueError: a finding ends beyond the text.

    .. versionadded:: 0.1.0
    """
    size = len(text)
    candidates: list[Finding] = []
    for f in findings:
        if f.end > size:
            raise ValueError(f"a finding at {f.start}..{f.end} is beyond the text ({size})")
        if f.score >= policy.min_score and policy.operator_for(f.type) is not None:
            candidates.append(f)
    if not candidates:
        return Redaction(text, ())
    applied = resolve_overlaps(candidates)
    state = RedactionState(text)
    replacements: list[str] = []
    for f in applied:
        operator = policy.operator_for(f.type)
        assert operator is not None
        replacements.append(operator.apply(text[f.start : f.end], f, state))

    pieces: list[str] = []
    last = ""  # the last character written
    removed = False  # the last thing written was a removal
    pos = 0
    for f, replacement in zip(applied, replacements, strict=True):
        gap = text[pos : f.start]
        if removed and last == " " and gap.startswith(" "):
            gap = gap[1:]
        for piece in (gap, replacement):
            if piece:
                pieces.append(piece)
                last = piece[-1]
        removed = replacement == ""
        pos = f.end
    tail = text[pos:]
    if removed and last == " " and tail.startswith(" "):
        tail = tail[1:]
    pieces.append(tail)
    return Redaction("".join(pieces), tuple(applied))


class Redactor:
    """
    Finds personal data with ``analyzer`` and redacts it by ``policy``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, analyzer: Analyzer, policy: RedactionPolicy) -> None:
        self.analyzer = analyzer
        self.policy = policy

    def redact(self, text: str, *, known: KnownEntities | None = None) -> Redaction:
        """Redact ``text``; ``known`` names the parties of the case it belongs to."""
        return redact_findings(text, self.analyzer.findings(text, known=known), self.policy)

    def __call__(self, text: str) -> str:
        return self.redact(text).text

    def __repr__(self) -> str:
        names = [d.name for d in self.analyzer.detectors]
        return f"Redactor(detectors={names!r}, policy={self.policy.name!r})"


# --------------------------------------------------------------------------------------
# Built-in policies

_LAST_FOUR: Final = Mask(keep_last=4)

#: ``public``: every type tagged, people's names numbered (``<PERSON 1>``).
#: ``export``: every type tagged; payment cards, IBANs and phone numbers masked but
#: for their last 4 digits. For analytics (pseudonyms need the agency's key) see
#: :func:`analytics_policy`.
BUILTIN_POLICIES: Final[Mapping[str, RedactionPolicy]] = MappingProxyType(
    {
        "public": RedactionPolicy("public", Tag(), {PiiType.PERSON: InstanceTag()}),
        "export": RedactionPolicy(
            "export",
            Tag(),
            {
                PiiType.CREDIT_CARD: _LAST_FOUR,
                PiiType.IBAN: _LAST_FOUR,
                PiiType.PHONE: _LAST_FOUR,
            },
        ),
    }
)


def analytics_policy(key: bytes, *, length: int = 8) -> RedactionPolicy:
    """
    The ``analytics`` policy: every type replaced by its :class:`Pseudonym` under the
    agency's ``key``, so that repeat values can be counted and joined but not read.

    .. versionadded:: 0.1.0
    """
    return RedactionPolicy("analytics", Pseudonym(key, length))


# --------------------------------------------------------------------------------------
# Configuration

_NO_KEYS: Final[Mapping[str, bytes]] = MappingProxyType({})
# Stands in for a key that is missing while the other options are checked.
_PLACEHOLDER_KEY: Final = bytes(_KEY_SIZE)
_TOP_LEVEL: Final = ("default", "types", "min_score", "keep", "key")
_OPTIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "tag": (),
        "instance_tag": (),
        "mask": ("keep_last", "char"),
        "pseudonym": ("key", "length"),
        "remove": (),
        "encrypt": ("key",),
    }
)


def _kind(value: object) -> str:
    return type(value).__name__


class _Reader:
    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self.keys = keys
        #: The policy's key name, once found in ``keys``.
        self.key_name: str | None = None
        #: Whether the policy names a key (found or not).
        self.key_given = False
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def operator(self, path: str, raw: object) -> Operator | None:
        options: dict[str, object]
        name_path = path
        if isinstance(raw, str):
            name, options = raw, {}
        elif isinstance(raw, Mapping):
            options = dict(raw)
            name_path = f"{path}.operator"
            raw_name = options.pop("operator", None)
            if raw_name is None:
                self.problem(path, "an operator table needs operator = <name>")
                return None
            if not isinstance(raw_name, str):
                self.problem(name_path, f"expected an operator name, got {_kind(raw_name)}")
                return None
            name = raw_name
        else:
            self.problem(path, f"expected an operator name or table, got {_kind(raw)}")
            return None
        allowed = _OPTIONS.get(name)
        if allowed is None:
            choices = ", ".join(_OPTIONS)
            self.problem(name_path, f"unknown operator {name!r}; expected one of {choices}")
            return None
        ok = True
        for option in list(options):
            if option not in allowed:
                what = f"one of {', '.join(allowed)}" if allowed else "no options"
                self.problem(f"{path}.{option}", f"{name} takes {what}")
                del options[option]
                ok = False
        key_path = f"{path}.key" if "key" in options else "key"
        if "key" in allowed:
            key = self.key(key_path, options.get("key"), name, path)
            if key is None:  # reported; check the other options all the same
                key, ok = _PLACEHOLDER_KEY, False
            options["key"] = key
        try:
            op: Operator = OPERATORS[name](**options)
        except ValidationError as exc:
            for p in exc.problems:
                self.problems.append(
                    Problem(key_path, p.message) if p.path == "key" else p.prefixed(path)
                )
            return None
        if not ok:
            return None
        return op

    def key(self, path: str, raw: object, name: str, op_path: str) -> bytes | None:
        if raw is None:
            if self.key_name is None:
                if self.key_given:  # the policy's key is wrong: reported at "key"
                    return None
                self.problem(
                    op_path,
                    f'{name} needs a key: add key = "<name>" to the policy or to '
                    f'{{operator = "{name}", key = "<name>"}}',
                )
                return None
            return self.keys.get(self.key_name)  # checked by the caller
        if not isinstance(raw, str):
            self.problem(path, f"expected the name of a key, got {_kind(raw)}")
            return None
        return self.lookup(path, raw)

    def lookup(self, path: str, name: str) -> bytes | None:
        if name not in self.keys:
            given = ", ".join(repr(k) for k in sorted(self.keys)) or "none"
            self.problem(path, f"no key named {name!r} (keys given: {given})")
            return None
        return self.keys[name]


def policy_from_config(
    name: str, raw: Mapping[str, Any], *, keys: Mapping[str, bytes] = _NO_KEYS
) -> RedactionPolicy:
    """
    Read a redaction policy from a TOML table such as::

        default = "tag"
        min_score = 0.6
        keep = ["IP_ADDRESS"]
        key = "agency"              # the key of pseudonym and encrypt
        [types]
        EMAIL = "pseudonym"
        PERSON = "instance_tag"
        CREDIT_CARD = {operator = "mask", keep_last = 4}
        PHONE = {operator = "pseudonym", key = "phones", length = 12}

    Operators are named ``tag``, ``instance_tag``, ``mask`` (``keep_last``, ``char``),
    ``pseudonym`` (``key``, ``length``), ``remove`` and ``encrypt`` (``key``); as a bare
    name or as a table with ``operator`` and its options. ``pseudonym`` and ``encrypt``
    need a key: ``key`` names one of ``keys`` (the secrets themselves never appear in a
    configuration file), in the operator's table or once for the whole policy.

    Raises:
        PolicyError: every problem at once, each by its path in ``raw``
            (``types.CREDIT_CARD.keep_last: expected an integer from 0, got -1``).

    .. versionadded:: 0.1.0
    """
    if not isinstance(raw, Mapping):
        raise PolicyError((Problem("", f"expected a table, got {_kind(raw)}"),))
    reader = _Reader(keys)
    for k in raw:
        if k not in _TOP_LEVEL:
            reader.problem(str(k), f"unknown setting; expected one of {', '.join(_TOP_LEVEL)}")

    key_name = raw.get("key")
    if key_name is not None:
        reader.key_given = True
        if not isinstance(key_name, str):
            reader.problem("key", f"expected the name of a key, got {_kind(key_name)}")
        elif reader.lookup("key", key_name) is not None:
            reader.key_name = key_name

    default: Operator | None = Tag()
    if "default" in raw:
        default = reader.operator("default", raw["default"])

    per_type: dict[str, Operator] = {}
    types = raw.get("types", {})
    if not isinstance(types, Mapping):
        reader.problem("types", f"expected a table of type = operator, got {_kind(types)}")
        types = {}
    for type_name, spec in types.items():
        if not isinstance(type_name, str) or not type_name:
            reader.problem("types", f"a type name is a non-empty string, got {type_name!r}")
            continue
        op = reader.operator(f"types.{type_name}", spec)
        if op is not None:
            per_type[type_name] = op

    min_score = raw.get("min_score", 0.5)
    try:
        _score(None, attrs.fields(RedactionPolicy).min_score, min_score)
    except ValidationError as exc:
        reader.problems.extend(exc.problems)

    keep: list[str] = []
    raw_keep = raw.get("keep", [])
    if not isinstance(raw_keep, list | tuple):
        reader.problem("keep", f"expected a list of type names, got {_kind(raw_keep)}")
        raw_keep = []
    for i, type_name in enumerate(raw_keep):
        if not isinstance(type_name, str) or not type_name:
            reader.problem(f"keep[{i}]", f"expected a type name, got {type_name!r}")
        elif type_name in types:
            reader.problem(
                f"keep[{i}]", f"{type_name} is kept, but types.{type_name} names an operator"
            )
        else:
            keep.append(type_name)

    if not isinstance(name, str) or not name:
        reader.problem("", f"a policy needs a name, got {name!r}")
    if reader.problems:
        raise PolicyError(reader.problems)
    assert default is not None
    return RedactionPolicy(name, default, per_type, min_score, frozenset(keep))


# --------------------------------------------------------------------------------------
# Logging

#: What a log record says when its message could not be redacted.
WITHHELD_MESSAGE: Final = "<log message withheld: redaction failed>"
_MARK: Final = "_civiccrm_redacted"


class RedactingFilter(logging.Filter):
    """
    A logging filter that redacts personal data in log records' messages and args
    before any handler formats them, so personal data never reaches log files.

    ``filter`` always returns True. It replaces ``record.msg`` by the redacted,
    fully formatted message and ``record.args`` by None, so that personal data passed
    as ``%``-arguments is covered as well as f-strings. An exception's traceback is
    formatted here (unless already formatted), redacted and stored as
    ``record.exc_text``, which formatters then print instead of formatting the
    exception again; ``record.stack_info`` is redacted too.

    It never raises: if redaction fails, the message becomes
    :data:`WITHHELD_MESSAGE` and the exception and stack are dropped. A record already
    redacted by this filter (it is on both a logger and its handlers) is not redacted
    twice.

    .. versionadded:: 0.1.0
    """

    def __init__(self, redactor: Redactor | Callable[[str], str]) -> None:
        super().__init__()
        self.redactor: Callable[[str], str] = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            mark = record.__dict__.get(_MARK)
            if (
                mark is not None
                and mark[0] == id(self)
                and record.msg is mark[1]
                and record.args is None
            ):
                return True
            message = self._redact(record.getMessage())
            exc_text = record.exc_text
            if not exc_text and record.exc_info and record.exc_info[0] is not None:
                exc_text = self._formatter.formatException(record.exc_info)
            exc_text = self._redact(exc_text) if exc_text else exc_text
            stack_info = self._redact(record.stack_info) if record.stack_info else None
        except Exception:  # noqa: BLE001 - a log call must never fail, nor leak on failure
            message, exc_text, stack_info = WITHHELD_MESSAGE, None, None
            record.exc_info = None
        record.msg = message
        record.args = None
        record.exc_text = exc_text
        record.stack_info = stack_info
        record.__dict__[_MARK] = (id(self), message)
        return True

    def _redact(self, text: str) -> str:
        out = self.redactor(text)
        if not isinstance(out, str):
            raise TypeError(f"the redactor returned {type(out).__name__}, not str")
        return out


def install_log_redaction(
    logger: logging.Logger | None = None,
    redactor: Redactor | Callable[[str], str] | None = None,
) -> RedactingFilter:
    """
    Redact personal data in everything ``logger`` (the root logger by default) logs:
    add one :class:`RedactingFilter` to the logger and to each of its handlers.

    Filters on a logger do not see records that its child loggers propagate to its
    handlers; filters on the handlers do. Handlers added to the logger later are not
    covered: add the returned filter to them. Without ``redactor``, the default
    detectors with the ``public`` policy are used.

    .. versionadded:: 0.1.0
    """
    if redactor is None:
        from civiccrm.privacy.detect import default_detectors

        redactor = Redactor(Analyzer(default_detectors()), BUILTIN_POLICIES["public"])
    target = logger if logger is not None else logging.getLogger()
    redacting = RedactingFilter(redactor)
    target.addFilter(redacting)
    for handler in target.handlers:
        handler.addFilter(redacting)
    return redacting
