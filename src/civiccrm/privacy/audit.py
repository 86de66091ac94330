"""
The audit log: an append-only, hash-chained record of every read and write of personal
data.

An :class:`AuditEvent` says who (``actor``, ``role``), why (``purpose``), did what
(``action``) to which records (``kind``, ``record_ids``) and which personal-data fields
(``fields``). It never holds a personal value: ``record_ids`` are opaque ids, ``fields``
are field *names*, and ``detail`` holds short non-personal facts (a reason code, a count).

:class:`AuditChain` turns events into entry texts for the storage layer's append-only
audit store. Each entry is one line of canonical JSON (keys sorted, no spaces, UTF-8 kept
as is) holding the event, its chain position ``n``, the hash of the entry before it
(``prev``) and its own hash ``h``::

    {"action":"read","actor":"agent-17","at":"2026-03-08T12:00:00.000000Z",
     "detail":{"reason":"case_review"},"fields":["email","name"],"h":"<64 hex>",
     "kind":"citizen","n":0,"prev":"<64 zeros>","purpose":"casework",
     "record_ids":["c-1"],"role":"agent"}

(shown wrapped; an entry is a single line). ``h`` is the hex HMAC-SHA256, under the audit
key, of the canonical text of the entry without ``h``. ``prev`` is the ``h`` of entry
``n - 1``, or 64 zeros for entry 0. ``at`` is always UTC, with microseconds and a ``Z``.
Changing, removing, reordering or inserting an entry breaks the chain, and
:func:`verify` names the first entry where it breaks. Removing the *last* entries leaves
a shorter chain that is still whole: to catch that, keep the chain's head somewhere else
(an anchor) and pass it to :func:`verify` as ``expected_head``.

Every ``checkpoint_every`` positions the chain adds a signed checkpoint entry
(``action="checkpoint"``, ``kind="audit"``) right after the entry that completes the
block: checkpoints sit at positions ``k * checkpoint_every`` (k = 1, 2, ...) and cover the
entry just before them. Its ``detail`` is ``{"upto": n, "hash": <h of entry n>, "sig":
<hex HMAC-SHA256 over "n:hash">}``. The signature uses a separate checkpoint key: by
default one derived from the audit key as ``HMAC-SHA256(audit_key, b"civiccrm audit
checkpoint")``, or a key of its own passed as ``checkpoint_key`` (held by someone other
than whoever holds the audit key, it lets a checkpoint vouch for the log independently).
A verifier that trusts a checkpoint can start there (:func:`last_checkpoint`, then
:func:`verify` with ``start=``) instead of at entry 0; it then checks only what follows.

Everything here is pure: texts in, texts and reports out, no I/O and no clock (a
checkpoint takes the time of the entry it covers).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

import attrs
import orjson

from civiccrm.errors import IntegrityError, Problem, ValidationError

__all__ = [
    "AuditChain",
    "AuditEvent",
    "ChainHead",
    "DetailValue",
    "VerifyReport",
    "last_checkpoint",
    "parse_entry",
    "verify",
]

#: A value allowed in :attr:`AuditEvent.detail`: a scalar, never a nested structure.
DetailValue: TypeAlias = str | int | bool | None

#: The longest string allowed in an event (ids, names, codes and detail values): long
#: enough for any id or code, too short to carry a document.
MAX_TEXT: Final = 200

#: The action of a checkpoint entry; :meth:`AuditChain.append` refuses it in events.
CHECKPOINT_ACTION: Final = "checkpoint"
#: The record kind of a checkpoint entry.
CHECKPOINT_KIND: Final = "audit"

_ZERO_HASH: Final = "0" * 64
_CHECKPOINT_LABEL: Final = b"civiccrm audit checkpoint"
_MIN_KEY: Final = 16
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1
_SORT: Final = orjson.OPT_SORT_KEYS
_SHA256: Final = hashlib.sha256
_ENTRY_KEYS: Final = frozenset(
    (
        "action",
        "actor",
        "at",
        "detail",
        "fields",
        "h",
        "kind",
        "n",
        "prev",
        "purpose",
        "record_ids",
        "role",
    )
)
_CHECKPOINT_DETAIL_KEYS: Final = frozenset(("upto", "hash", "sig"))
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_AT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_CHECKPOINT_PREFIX: Final = '{"action":"checkpoint",'


# --------------------------------------------------------------------------------------
# Events


def _to_utc(value: datetime) -> datetime:
    """Converter: an aware datetime in UTC; anything else is left for the check."""
    if (
        isinstance(value, datetime)
        and value.tzinfo is not UTC
        and value.tzinfo is not None
        and value.utcoffset() is not None
    ):
        try:
            return value.astimezone(UTC)
        except OverflowError:
            return value  # the check reports it
    return value


def _to_tuple(value: Iterable[str]) -> tuple[str, ...]:
    """Converter: a list or other iterable of strings as a tuple (a lone string is kept)."""
    if isinstance(value, tuple | str):
        return value  # type: ignore[return-value]  # a lone string: the check reports it
    try:
        return tuple(value)
    except TypeError:
        return value  # type: ignore[return-value]  # the check reports it


def _to_dict(value: Mapping[str, DetailValue]) -> Mapping[str, DetailValue]:
    """Converter: a private copy of the detail mapping, so the caller cannot change it."""
    return dict(value) if isinstance(value, Mapping) else value


def _text_problem(value: object) -> str | None:
    """Why ``value`` is not an acceptable string, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_TEXT:
        return f"is {len(value)} characters long; at most {MAX_TEXT} are allowed"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def _detail_value_problem(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            return "is outside the range of a 64-bit integer"
        return None
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return f"is {len(value)} characters long; at most {MAX_TEXT} are allowed"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "is not valid Unicode text (it holds a lone surrogate)"
        return None
    return f"must be a string, integer, boolean or None, not {type(value).__name__}"


@attrs.frozen(kw_only=True)
class AuditEvent:
    """
    One read or write of personal data, as the audit log records it.

    It names records and fields, never their values: ``record_ids`` are opaque ids and
    ``fields`` are the names of the personal-data fields touched (``"email"``, not the
    address). ``detail`` carries short non-personal facts (a reason code, a count, a
    flag): each value is a string of at most 200 characters, an integer, a boolean or
    None. Every string in an event is at most 200 characters long, so no document can
    hide in one.

    Attributes:
        at: when it happened (aware; stored in UTC).
        actor: the agent id or script name that did it; None for civiccrm itself.
        role: the role the actor acted in, if any.
        purpose: the purpose the access served (``"casework"``), if stated.
        action: what was done: ``"read"``, ``"create"``, ``"update"``, ``"erase"``,
            ``"export"``, ``"key_rotation"`` ...
        kind: the kind of record: ``"citizen"``, ``"case"`` ...
        record_ids: the ids of the records touched.
        fields: the names of the personal-data fields touched.
        detail: non-personal facts about the event.

    Raises:
        ValidationError: every problem at once (a naive ``at``, an empty ``action``, a
            detail value that is not a short scalar ...).

    .. versionadded:: 0.1.0
    """

    at: datetime = attrs.field(converter=_to_utc)
    actor: str | None
    role: str | None
    purpose: str | None
    action: str
    kind: str
    record_ids: tuple[str, ...] = attrs.field(converter=_to_tuple)
    fields: tuple[str, ...] = attrs.field(converter=_to_tuple)
    detail: Mapping[str, DetailValue] = attrs.field(factory=dict, converter=_to_dict, hash=False)

    def __attrs_post_init__(self) -> None:
        problems = _event_problems(self)
        if problems:
            raise ValidationError(problems, record_type="AuditEvent")


def _event_problems(ev: AuditEvent) -> list[Problem]:
    problems: list[Problem] = []
    at: object = ev.at
    if not isinstance(at, datetime):
        problems.append(Problem("at", f"expected an aware datetime, got {type(at).__name__}"))
    elif at.tzinfo is not UTC:
        if at.tzinfo is None or at.utcoffset() is None:
            problems.append(Problem("at", "naive datetime has no time zone; give it one"))
        else:
            problems.append(Problem("at", "is outside the range of dates in UTC"))
    for name in ("actor", "role", "purpose"):
        value = getattr(ev, name)
        if value is not None and (why := _text_problem(value)) is not None:
            problems.append(Problem(name, why))
    for name in ("action", "kind"):
        if (why := _text_problem(getattr(ev, name))) is not None:
            problems.append(Problem(name, why))
    for name in ("record_ids", "fields"):
        items: object = getattr(ev, name)
        if not isinstance(items, tuple):
            problems.append(
                Problem(name, f"expected a sequence of strings, got {type(items).__name__}")
            )
            continue
        for i, item in enumerate(items):
            if (why := _text_problem(item)) is not None:
                problems.append(Problem(f"{name}[{i}]", why))
    detail: object = ev.detail
    if not isinstance(detail, dict):
        problems.append(Problem("detail", f"expected a mapping, got {type(detail).__name__}"))
    else:
        for k, v in detail.items():
            if (why := _text_problem(k)) is not None:
                problems.append(Problem("detail", f"key {str(k)[:40]!r} {why}"))
            elif (why := _detail_value_problem(v)) is not None:
                problems.append(Problem(f"detail.{k}", why))
    return problems


# --------------------------------------------------------------------------------------
# Heads and reports


def _check_head_n(_inst: object, _field: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError.at("n", "must be an integer >= 0")


def _check_head_hash(_inst: object, _field: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValidationError.at("hash", "must be 64 lowercase hex digits")


@attrs.frozen
class ChainHead:
    """
    The last entry of a chain: its position ``n`` and its hash ``h`` (64 hex digits).

    Kept by the facade to continue a chain, used as an anchor (``expected_head``) to
    detect a log cut short, and as a starting point (``start``) to verify incrementally.

    .. versionadded:: 0.1.0
    """

    n: int = attrs.field(validator=_check_head_n)
    hash: str = attrs.field(validator=_check_head_hash)


@attrs.frozen(kw_only=True)
class VerifyReport:
    """
    What :func:`verify` found.

    Attributes:
        ok: True if every entry checked out (and the anchor, if given, was reached).
        entries: how many entries were checked and found good.
        head: the last good entry (the ``start`` head if none was read; None if none).
        first_bad_seq: the storage sequence number of the first bad entry, or of the
            entry found where a missing one should have been; None if the log is good,
            or when entries are missing from its end (there is no entry to point at).
        first_bad_n: the chain position where the first problem was found (the position
            the bad entry should have had; for a log cut short, the first missing one).
        problem: the first problem, in plain English; None if the log is good.

    .. versionadded:: 0.1.0
    """

    ok: bool
    entries: int
    head: ChainHead | None
    first_bad_seq: int | None = None
    first_bad_n: int | None = None
    problem: str | None = None


# --------------------------------------------------------------------------------------
# Keys, serialization and parsing


def _check_key(key: object, name: str = "key") -> bytes:
    if not isinstance(key, bytes):
        raise ValidationError.at(name, f"expected bytes, got {type(key).__name__}")
    if len(key) < _MIN_KEY:
        raise ValidationError.at(name, f"must be at least {_MIN_KEY} bytes long")
    return key


def _checkpoint_key(key: bytes, checkpoint_key: bytes | None) -> bytes:
    if checkpoint_key is not None:
        return _check_key(checkpoint_key, "checkpoint_key")
    return hmac.new(key, _CHECKPOINT_LABEL, _SHA256).digest()


def _sign_checkpoint(cp_key: bytes, upto: int, hash_: str) -> str:
    return hmac.new(cp_key, f"{upto}:{hash_}".encode(), _SHA256).hexdigest()


def _format_at(at: datetime) -> str:
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - fastest here
        at.year,
        at.month,
        at.day,
        at.hour,
        at.minute,
        at.second,
        at.microsecond,
    )


class _Malformed(Exception):
    """An entry text that cannot be read as an entry; the message says why."""


def _load(text: object) -> dict[str, Any]:
    """The JSON object of an entry text, with its shape checked."""
    if not isinstance(text, str):
        raise _Malformed(f"is not text (got {type(text).__name__})")
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _Malformed("is not valid JSON") from None
    if not isinstance(obj, dict):
        raise _Malformed("is not a JSON object")
    keys = obj.keys()
    if keys != _ENTRY_KEYS:
        missing = sorted(_ENTRY_KEYS - keys)
        extra = sorted(keys - _ENTRY_KEYS)
        why = []
        if missing:
            why.append("missing " + ", ".join(missing))
        if extra:
            why.append("unexpected " + ", ".join(extra))
        raise _Malformed(f"is not an audit entry ({'; '.join(why)})")
    n = obj["n"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise _Malformed("is not an audit entry (n is not an integer >= 0)")
    for name in ("prev", "h"):
        value = obj[name]
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise _Malformed(f"is not an audit entry ({name} is not 64 hex digits)")
    return obj


def _to_event(obj: dict[str, Any]) -> AuditEvent:
    at = obj["at"]
    if not isinstance(at, str) or not _AT.fullmatch(at):
        raise _Malformed("is not an audit entry (at is not YYYY-MM-DDTHH:MM:SS.ffffffZ)")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise _Malformed(f"is not an audit entry (at {at!r} is not a date)") from None
    record_ids = obj["record_ids"]
    fields = obj["fields"]
    detail = obj["detail"]
    if not isinstance(record_ids, list) or not isinstance(fields, list):
        raise _Malformed("is not an audit entry (record_ids and fields must be lists)")
    if not isinstance(detail, dict):
        raise _Malformed("is not an audit entry (detail must be an object)")
    try:
        return AuditEvent(
            at=when,
            actor=obj["actor"],
            role=obj["role"],
            purpose=obj["purpose"],
            action=obj["action"],
            kind=obj["kind"],
            record_ids=record_ids,
            fields=fields,
            detail=detail,
        )
    except ValidationError as exc:
        raise _Malformed(f"is not a valid audit event ({exc.problems[0]})") from None


def _hash_problem(obj: dict[str, Any], text: str, key: bytes) -> str | None:
    """Why the entry's ``h`` is wrong (or its text not canonical), or None."""
    claimed = obj.pop("h")
    body = orjson.dumps(obj, option=_SORT)
    obj["h"] = claimed
    if orjson.dumps(obj, option=_SORT) != text.encode():
        return "was changed (it is not in canonical form)"
    if not hmac.compare_digest(hmac.new(key, body, _SHA256).hexdigest(), claimed):
        return "was changed (its hash does not match)"
    return None


def _checkpoint_problem(event: AuditEvent, n: int, prev: str, cp_key: bytes) -> str | None:
    """Why a checkpoint entry is wrong, or None."""
    d = event.detail
    if (
        event.kind != CHECKPOINT_KIND
        or event.record_ids
        or event.fields
        or d.keys() != _CHECKPOINT_DETAIL_KEYS
    ):
        return "is not a well-formed checkpoint"
    upto, hash_, sig = d["upto"], d["hash"], d["sig"]
    if (
        not isinstance(upto, int)
        or isinstance(upto, bool)
        or not isinstance(hash_, str)
        or not isinstance(sig, str)
    ):
        return "is not a well-formed checkpoint"
    if not hmac.compare_digest(_sign_checkpoint(cp_key, upto, hash_), sig):
        return "is a checkpoint with a bad signature"
    if upto != n - 1 or hash_ != prev:
        return (
            f"is a checkpoint that does not match the chain (it covers entry {upto}, "
            f"but follows entry {n - 1} with another hash)"
            if upto == n - 1
            else f"is a checkpoint that does not match the chain (it covers entry {upto}, "
            f"not entry {n - 1})"
        )
    return None


def parse_entry(text: str) -> tuple[int, AuditEvent, str, str]:
    """
    Read one entry text: its position ``n``, its event, ``prev`` and ``h``.

    Only the form is checked, not the hashes (that needs the key: see :func:`verify`).

    Raises:
        IntegrityError: the text is not an audit entry.

    .. versionadded:: 0.1.0
    """
    try:
        obj = _load(text)
        event = _to_event(obj)
    except _Malformed as exc:
        raise IntegrityError(f"audit entry {exc}") from None
    return obj["n"], event, obj["prev"], obj["h"]


# --------------------------------------------------------------------------------------
# The chain


class AuditChain:
    """
    Turns audit events into chained entry texts, and keeps the chain's head.

    ``AuditChain(key)`` starts a new chain (the first entry is ``n = 0``);
    ``AuditChain(key, head)`` continues after ``head``; :meth:`resume` continues after a
    stored entry text, checking it first.

    :meth:`append` returns the texts to store, in order, and moves the head past them.
    Store them all in the same transaction as the data write they describe. If that
    transaction rolls back, put the head back with :meth:`reset` (the texts were never
    stored, so the next entries must take their place).

    Args:
        key: the audit key (at least 16 bytes).
        head: the last entry already stored, or None for an empty log.
        checkpoint_every: add a signed checkpoint at every position that is a multiple
            of this (at least 2); None for no checkpoints.
        checkpoint_key: the key that signs checkpoints (at least 16 bytes); None derives
            one from the audit key (``HMAC-SHA256(key, b"civiccrm audit checkpoint")``).

    Not thread-safe: the caller serialises calls to :meth:`append` (they must happen in
    the order the entries are stored anyway).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_cp_key", "_every", "_hash", "_key", "_n")

    def __init__(
        self,
        key: bytes,
        head: ChainHead | None = None,
        *,
        checkpoint_every: int | None = 1000,
        checkpoint_key: bytes | None = None,
    ) -> None:
        self._key = _check_key(key)
        self._cp_key = _checkpoint_key(key, checkpoint_key)
        if checkpoint_every is not None and (
            not isinstance(checkpoint_every, int)
            or isinstance(checkpoint_every, bool)
            or checkpoint_every < 2
        ):
            raise ValidationError.at("checkpoint_every", "must be an integer >= 2, or None")
        self._every = checkpoint_every or 0
        self._n = 0
        self._hash = _ZERO_HASH
        self.reset(head)

    @classmethod
    def resume(
        cls,
        key: bytes,
        last_entry_text: str | None,
        *,
        checkpoint_every: int | None = 1000,
        checkpoint_key: bytes | None = None,
    ) -> AuditChain:
        """
        A chain that continues after a stored entry (the last one in the log).

        The entry's own hash is checked (and its signature, if it is a checkpoint); the
        entries before it are not: that is :func:`verify`'s job. None starts a new chain.

        Raises:
            IntegrityError: the text is not an entry, or not one made with this key.
        """
        chain = cls(key, checkpoint_every=checkpoint_every, checkpoint_key=checkpoint_key)
        if last_entry_text is None:
            return chain
        try:
            obj = _load(last_entry_text)
            event = _to_event(obj)
        except _Malformed as exc:
            raise IntegrityError(f"cannot resume the audit chain: the entry {exc}") from None
        n: int = obj["n"]
        why = _hash_problem(obj, last_entry_text, chain._key)
        if why is None and event.action == CHECKPOINT_ACTION:
            why = _checkpoint_problem(event, n, obj["prev"], chain._cp_key)
        if why is not None:
            raise IntegrityError(f"cannot resume the audit chain: entry {n} {why}")
        chain.reset(ChainHead(n, obj["h"]))
        return chain

    @property
    def key(self) -> bytes:
        """The audit key."""
        return self._key

    @property
    def checkpoint_every(self) -> int | None:
        """How often checkpoints are added (in positions), or None for never."""
        return self._every or None

    @property
    def head(self) -> ChainHead | None:
        """The last entry produced (or resumed from); None for an empty log."""
        return ChainHead(self._n - 1, self._hash) if self._n else None

    def reset(self, head: ChainHead | None) -> None:
        """Put the head back to ``head`` (after a rolled-back transaction); None = empty."""
        if head is None:
            self._n, self._hash = 0, _ZERO_HASH
        elif not isinstance(head, ChainHead):
            raise ValidationError.at("head", f"expected a ChainHead, got {type(head).__name__}")
        else:
            self._n, self._hash = head.n + 1, head.hash

    def append(self, events: Sequence[AuditEvent]) -> list[str]:
        """
        The entry texts for ``events``, in order (with any checkpoints due), to store.

        The head moves past them only if every event could be turned into an entry.

        Raises:
            ValidationError: an item is not an :class:`AuditEvent`, or its action is
                ``"checkpoint"`` (reserved for the chain's own entries).
        """
        key, every = self._key, self._every
        n, prev = self._n, self._hash
        new = hmac.new
        dumps = orjson.dumps
        out: list[str] = []
        for i, ev in enumerate(events):
            if not isinstance(ev, AuditEvent):
                raise ValidationError.at(
                    f"[{i}]", f"expected an AuditEvent, got {type(ev).__name__}"
                )
            if ev.action == CHECKPOINT_ACTION:
                raise ValidationError.at(
                    f"[{i}].action", "'checkpoint' is reserved for the chain's checkpoints"
                )
            d = {
                "action": ev.action,
                "actor": ev.actor,
                "at": _format_at(ev.at),
                "detail": ev.detail,
                "fields": ev.fields,
                "kind": ev.kind,
                "n": n,
                "prev": prev,
                "purpose": ev.purpose,
                "record_ids": ev.record_ids,
                "role": ev.role,
            }
            prev = new(key, dumps(d, option=_SORT), _SHA256).hexdigest()
            d["h"] = prev
            out.append(dumps(d, option=_SORT).decode())
            n += 1
            if every and n % every == 0:
                cp = {
                    "action": CHECKPOINT_ACTION,
                    "actor": None,
                    "at": d["at"],
                    "detail": {
                        "upto": n - 1,
                        "hash": prev,
                        "sig": _sign_checkpoint(self._cp_key, n - 1, prev),
                    },
                    "fields": (),
                    "kind": CHECKPOINT_KIND,
                    "n": n,
                    "prev": prev,
                    "purpose": None,
                    "record_ids": (),
                    "role": None,
                }
                prev = new(key, dumps(cp, option=_SORT), _SHA256).hexdigest()
                cp["h"] = prev
                out.append(dumps(cp, option=_SORT).decode())
                n += 1
        self._n, self._hash = n, prev
        return out

    def __repr__(self) -> str:
        return f"AuditChain(head={self.head!r}, checkpoint_every={self.checkpoint_every!r})"


# --------------------------------------------------------------------------------------
# Verification


def verify(
    entries: Iterable[tuple[int, str]],
    key: bytes,
    *,
    expected_head: ChainHead | None = None,
    start: ChainHead | None = None,
    checkpoint_key: bytes | None = None,
) -> VerifyReport:
    """
    Check an audit log, entry by entry, and name the first entry that is wrong.

    ``entries`` are ``(storage sequence number, text)`` pairs in storage order, as the
    storage layer's ``read_audit`` gives them; they are read once, as a stream, in
    constant memory. Each entry must be well formed and in canonical form; its ``h``
    must be its HMAC under ``key``; its ``prev`` must be the ``h`` of the entry before
    (64 zeros for entry 0); its ``n`` must be one more than the entry before; storage
    sequence numbers must increase; a checkpoint's signature (under ``checkpoint_key``,
    or the key derived from ``key``) must be valid and its hash must be the chain's.

    Args:
        entries: the log (or the part after ``start``), in storage order.
        key: the audit key.
        expected_head: an anchor kept apart from the log: the log must reach that entry
            and have that hash there. It may go on past it. Without an anchor, removing
            the last entries cannot be detected. An anchor at or before ``start`` is
            taken as already checked, unless it is ``start``'s own entry with another
            hash.
        start: a head verified before: the first entry read must then follow it.
        checkpoint_key: the key checkpoints were signed with, if not derived from ``key``.

    .. versionadded:: 0.1.0
    """
    key = _check_key(key)
    cp_key = _checkpoint_key(key, checkpoint_key)
    if start is not None:
        n_next, prev = start.n + 1, start.hash
    else:
        n_next, prev = 0, _ZERO_HASH
    anchor_n = expected_head.n if expected_head is not None else -1
    count = 0
    last_seq: int | None = None

    def report(seq: int | None, problem: str) -> VerifyReport:
        return VerifyReport(
            ok=False,
            entries=count,
            head=ChainHead(n_next - 1, prev) if n_next else None,
            first_bad_seq=seq,
            first_bad_n=n_next,
            problem=problem,
        )

    if (
        expected_head is not None
        and start is not None
        and start.n == expected_head.n
        and start.hash != expected_head.hash
    ):
        return VerifyReport(
            ok=False,
            entries=0,
            head=None,
            first_bad_n=start.n,
            problem=f"entry {start.n} does not match the anchor (its hash differs)",
        )

    for seq, text in entries:
        if not isinstance(seq, int) or isinstance(seq, bool):
            return report(None, f"entry {n_next} has no integer storage sequence number")
        if last_seq is not None and seq <= last_seq:
            return report(
                seq,
                f"entry {n_next} is out of order in storage "
                f"(sequence number {seq} comes after {last_seq})",
            )
        last_seq = seq
        try:
            obj = _load(text)
        except _Malformed as exc:
            return report(seq, f"entry {n_next} {exc}")
        why = _hash_problem(obj, text, key)
        if why is not None:
            if count == 0:
                why += " — or the key is wrong"
            return report(seq, f"entry {n_next} {why}")
        n: int = obj["n"]
        if n != n_next:
            return report(
                seq,
                f"entry {n_next} is missing or out of order (expected n={n_next}, found n={n})",
            )
        if obj["prev"] != prev:
            if n == 0:
                return report(seq, "entry 0 does not start a chain (its prev is not all zeros)")
            return report(
                seq,
                f"entry {n} does not follow entry {n - 1} (its prev hash does not match)",
            )
        try:
            event = _to_event(obj)
        except _Malformed as exc:
            return report(seq, f"entry {n} {exc}")
        if event.action == CHECKPOINT_ACTION:
            why = _checkpoint_problem(event, n, prev, cp_key)
            if why is not None:
                return report(seq, f"entry {n} {why}")
        h: str = obj["h"]
        if n == anchor_n and expected_head is not None and h != expected_head.hash:
            return report(seq, f"entry {n} does not match the anchor (its hash differs)")
        prev = h
        n_next = n + 1
        count += 1

    if expected_head is not None and n_next <= expected_head.n:
        if n_next == 0:
            return report(None, f"the log is empty but the anchor says entry {expected_head.n}")
        return report(
            None, f"the log ends at entry {n_next - 1} but the anchor says {expected_head.n}"
        )
    return VerifyReport(
        ok=True, entries=count, head=ChainHead(n_next - 1, prev) if n_next else None
    )


def last_checkpoint(
    entries: Iterable[tuple[int, str]],
    key: bytes,
    *,
    checkpoint_key: bytes | None = None,
) -> tuple[int, ChainHead] | None:
    """
    The storage sequence number and head of the last good checkpoint in ``entries``.

    A checkpoint is good if its own hash and its signature check out; the entries around
    it are not checked (only checkpoint entries are hashed, so this is much faster than
    :func:`verify`). Pass the head to :func:`verify` as ``start`` to check the log from
    there on, trusting the checkpoint for everything before it. None if there is none.

    .. versionadded:: 0.1.0
    """
    key = _check_key(key)
    cp_key = _checkpoint_key(key, checkpoint_key)
    found: tuple[int, ChainHead] | None = None
    for seq, text in entries:
        if not isinstance(text, str) or not text.startswith(_CHECKPOINT_PREFIX):
            continue
        try:
            obj = _load(text)
            event = _to_event(obj)
        except _Malformed:
            continue
        if _hash_problem(obj, text, key) is not None:
            continue
        if _checkpoint_problem(event, obj["n"], obj["prev"], cp_key) is None:
            found = (seq, ChainHead(obj["n"], obj["h"]))
    return found
