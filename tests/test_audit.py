"""The hash-chained audit log: chains verify, and every kind of tampering is caught."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from civiccrm.errors import IntegrityError, ValidationError
from civiccrm.privacy.audit import (
    AuditChain,
    AuditEvent,
    ChainHead,
    last_checkpoint,
    parse_entry,
    verify,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ZERO = "0" * 64
Log = list[tuple[int, str]]

# --------------------------------------------------------------------------------------
# Strategies

names = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() != "")
optional_names = st.none() | names
actions = st.sampled_from(["read", "create", "update", "erase", "export", "key_rotation"]) | (
    names.filter(lambda s: s != "checkpoint")
)
detail_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=40)
)
details = st.dictionaries(names, detail_values, max_size=4)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-5)), ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Kolkata")]
    ),
)


@st.composite
def events(draw: st.DrawFn) -> AuditEvent:
    return AuditEvent(
        at=draw(instants),
        actor=draw(optional_names),
        role=draw(optional_names),
        purpose=draw(optional_names),
        action=draw(actions),
        kind=draw(names),
        record_ids=draw(st.lists(names, max_size=4)),
        fields=draw(st.lists(names, max_size=4)),
        detail=draw(details),
    )


batches = st.lists(st.lists(events(), min_size=1, max_size=4), min_size=1, max_size=5)
every = st.sampled_from([3, 5, None])


def build(
    batches: list[list[AuditEvent]], every: int | None, *, first_seq: int = 10
) -> tuple[AuditChain, Log]:
    """A chain and its log as storage would hold it (sequence numbers 10, 20, 30 ...)."""
    chain = AuditChain(KEY, checkpoint_every=every)
    texts = [text for batch in batches for text in chain.append(batch)]
    return chain, [(first_seq + 10 * i, t) for i, t in enumerate(texts)]


def reseal(obj: dict[str, Any], key: bytes = KEY) -> str:
    """Re-hash an entry object with ``key`` (what an attacker holding the key could do)."""
    obj = {k: v for k, v in obj.items() if k != "h"}
    obj["h"] = hmac.new(key, orjson.dumps(obj, option=orjson.OPT_SORT_KEYS), "sha256").hexdigest()
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def checkpoint_positions(length: int, every: int | None) -> list[int]:
    return [n for n in range(1, length) if every and n % every == 0]


# --------------------------------------------------------------------------------------
# Valid chains


@given(batches, every)
def test_a_valid_chain_verifies(batches: list[list[AuditEvent]], every: int | None) -> None:
    chain, log = build(batches, every)
    n_events = sum(len(b) for b in batches)
    report = verify(log, KEY, expected_head=chain.head)
    assert report.ok, report.problem
    assert report.entries == len(log)
    assert report.head == chain.head == ChainHead(len(log) - 1, report.head.hash)
    assert (report.first_bad_seq, report.first_bad_n, report.problem) == (None, None, None)
    # Checkpoints sit exactly at the multiples of checkpoint_every; the rest are events.
    positions = checkpoint_positions(len(log), every)
    kinds = [parse_entry(t)[1].action == "checkpoint" for _, t in log]
    assert [i for i, is_cp in enumerate(kinds) if is_cp] == positions
    assert len(log) == n_events + len(positions)
    # Each checkpoint covers the entry just before it.
    for i in positions:
        _, cp, prev, _ = parse_entry(log[i][1])
        assert cp.kind == "audit"
        assert cp.detail["upto"] == i - 1
        assert cp.detail["hash"] == prev == parse_entry(log[i - 1][1])[3]


@given(batches, every, st.data())
def test_incremental_verification(
    batches: list[list[AuditEvent]], every: int | None, data: st.DataObject
) -> None:
    chain, log = build(batches, every)
    cut = data.draw(st.integers(0, len(log)), label="cut")
    first = verify(log[:cut], KEY)
    assert first.ok, first.problem
    assert first.entries == cut
    rest = verify(log[cut:], KEY, start=first.head, expected_head=chain.head)
    assert rest.ok, rest.problem
    assert rest.entries == len(log) - cut
    assert rest.head == chain.head
    # Resuming after the wrong head fails at the first entry read.
    if 0 < cut < len(log):
        wrong = ChainHead(first.head.n, "f" * 64) if first.head else None
        bad = verify(log[cut:], KEY, start=wrong)
        assert not bad.ok
        assert (bad.first_bad_seq, bad.first_bad_n) == (log[cut][0], cut)


@given(batches, batches, every)
def test_resume_continues_the_same_chain(
    first: list[list[AuditEvent]], second: list[list[AuditEvent]], every: int | None
) -> None:
    whole, whole_log = build(first + second, every)
    part, log = build(first, every)
    resumed = AuditChain.resume(KEY, log[-1][1], checkpoint_every=every)
    assert resumed.head == part.head
    more = [t for batch in second for t in resumed.append(batch)]
    texts = [t for _, t in log] + more
    # Entries are deterministic: resuming gives the very texts one chain would have.
    assert texts == [t for _, t in whole_log]
    assert resumed.head == whole.head
    report = verify(enumerate(texts), KEY, expected_head=resumed.head)
    assert report.ok, report.problem


def test_resume_from_nothing_and_from_a_head() -> None:
    ev = _event()
    assert AuditChain.resume(KEY, None).head is None
    chain = AuditChain(KEY)
    texts = chain.append([ev, ev])
    again = AuditChain(KEY, head=ChainHead(0, parse_entry(texts[0])[3]))
    assert again.append([ev]) == texts[1:]


@given(batches)
def test_entries_hold_only_what_was_passed(batches: list[list[AuditEvent]]) -> None:
    _, log = build(batches, None)
    sent = [ev for batch in batches for ev in batch]
    prev = ZERO
    for i, ((_, text), ev) in enumerate(zip(log, sent, strict=True)):
        n, parsed, got_prev, h = parse_entry(text)
        assert n == i
        assert parsed == ev
        assert parsed.at.tzinfo is UTC
        assert got_prev == prev
        prev = h
        obj = orjson.loads(text)
        assert set(obj) == {
            *("action", "actor", "at", "detail", "fields", "h", "kind", "n", "prev"),
            *("purpose", "record_ids", "role"),
        }
        assert obj["at"] == ev.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # Canonical: sorted keys, compact, UTF-8 kept.
        assert text == orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
        assert "\n" not in text


def test_event_times_are_stored_in_utc_with_microseconds() -> None:
    local = timezone(timedelta(hours=-5))
    ev = _event(at=datetime(2026, 3, 8, 7, 0, tzinfo=local))
    assert ev.at == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    text = AuditChain(KEY).append([ev])[0]
    assert '"at":"2026-03-08T12:00:00.000000Z"' in text
    assert "ñ" in AuditChain(KEY).append([_event(kind="niño")])[0]


# --------------------------------------------------------------------------------------
# Tampering

TAMPERED_FIELDS = [
    "actor",
    "role",
    "purpose",
    "action",
    "kind",
    "record_ids",
    "fields",
    "at",
    "n",
    "prev",
    "h",
    "detail",
]
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
new_values: dict[str, st.SearchStrategy[Any]] = {
    "actor": optional_names,
    "role": optional_names,
    "purpose": optional_names,
    "action": names,
    "kind": names,
    "record_ids": st.lists(names, max_size=3),
    "fields": st.lists(names, max_size=3),
    "at": instants.map(lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
    "n": st.integers(min_value=0, max_value=10**6),
    "prev": hex64,
    "h": hex64,
    "detail": details,
}


@st.composite
def tampered_logs(draw: st.DrawFn) -> tuple[Log, Log, ChainHead, str]:
    """A good log, a tampered copy of it, the good log's head, and what was done."""
    chain, log = build(draw(batches, label="batches"), draw(every, label="every"))
    assert chain.head is not None
    how = draw(
        st.sampled_from(
            ["field", "delete", "swap", "insert_copy", "insert_forged", "garble"]
            if len(log) > 1
            else ["field", "delete", "insert_copy", "insert_forged", "garble"]
        ),
        label="how",
    )
    bad = list(log)
    index = draw(st.integers(0, len(log) - 1), label="index")
    if how == "field":
        name = draw(st.sampled_from(TAMPERED_FIELDS), label="field")
        obj = orjson.loads(log[index][1])
        value = draw(new_values[name], label="value")
        assume(value != obj[name])
        obj[name] = value
        bad[index] = (log[index][0], orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode())
        how = f"field {name}"
    elif how == "delete":
        del bad[index]
    elif how == "swap":
        other = draw(st.integers(0, len(log) - 1).filter(lambda j: j != index), label="other")
        bad[index], bad[other] = bad[other], bad[index]
    elif how in ("insert_copy", "insert_forged"):
        at = draw(st.integers(0, len(log)), label="insert at")
        # A sequence number between its neighbours', as the backend could have given.
        seq = log[at - 1][0] + 5 if at else log[0][0] - 5
        if how == "insert_copy":
            text = log[index][1]
        else:
            # Made with a wrong key, but with the right position and prev hash.
            prev = ChainHead(at - 1, parse_entry(log[at - 1][1])[3]) if at else None
            text = AuditChain(OTHER_KEY, prev, checkpoint_every=None).append(
                [draw(events(), label="forged")]
            )[0]
        bad.insert(at, (seq, text))
    else:
        text = log[index][1]
        garbled = draw(
            st.sampled_from(
                [text[:-1], text + " ", " " + text, text.replace(":", ": ", 1), "[]", ""]
            ),
            label="garbled",
        )
        bad[index] = (log[index][0], garbled)
    return log, bad, chain.head, how


def first_difference(good: Log, bad: Log) -> int:
    """Where the tampered log first holds another text than the good one."""
    for i, (_, text) in enumerate(bad):
        if i >= len(good) or good[i][1] != text:
            return i
    return len(bad)


@given(tampered_logs())
def test_tampering_is_always_caught_at_the_first_bad_entry(
    case: tuple[Log, Log, ChainHead, str],
) -> None:
    good, bad, head, how = case
    k = first_difference(good, bad)
    report = verify(bad, KEY, expected_head=head)
    assert not report.ok, how
    assert report.problem
    assert report.first_bad_n == k, (how, report.problem)
    assert report.entries == k
    if k < len(bad):
        assert report.first_bad_seq == bad[k][0], (how, report.problem)
        # The anchor is not needed for anything but a log cut short at its end.
        alone = verify(bad, KEY)
        assert not alone.ok
        assert (alone.first_bad_seq, alone.first_bad_n, alone.problem) == (
            report.first_bad_seq,
            report.first_bad_n,
            report.problem,
        )
    else:
        # The last entries were removed: only the anchor tells.
        assert report.first_bad_seq is None
        assert report.problem == (
            f"the log ends at entry {k - 1} but the anchor says {head.n}"
            if k
            else f"the log is empty but the anchor says entry {head.n}"
        )
        assert verify(bad, KEY).ok
    # The report's head is the last good entry.
    assert report.head == (ChainHead(k - 1, parse_entry(good[k - 1][1])[3]) if k else None)


def test_problems_are_named_in_plain_english() -> None:
    _, log = build([[_event()] * 6], None)
    changed = orjson.loads(log[2][1])
    changed["actor"] = "mallory"
    tampered = [*log[:2], (log[2][0], orjson.dumps(changed, option=orjson.OPT_SORT_KEYS).decode())]
    assert verify(tampered, KEY).problem == "entry 2 was changed (its hash does not match)"
    missing = verify([*log[:3], *log[4:]], KEY)
    assert missing.problem == "entry 3 is missing or out of order (expected n=3, found n=4)"
    assert missing.first_bad_seq == log[4][0]
    assert verify([*log[:1], (log[1][0], "{")], KEY).problem == "entry 1 is not valid JSON"
    anchor = ChainHead(5, parse_entry(log[5][1])[3])
    short = verify(log[:4], KEY, expected_head=anchor)
    assert short.problem == "the log ends at entry 3 but the anchor says 5"
    assert (short.first_bad_seq, short.first_bad_n) == (None, 4)
    empty = verify([], KEY, expected_head=anchor)
    assert not empty.ok
    assert empty.problem == "the log is empty but the anchor says entry 5"


def test_a_wrong_key_fails_at_entry_0() -> None:
    _, log = build([[_event()] * 4], 3)
    report = verify(log, OTHER_KEY)
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_n, report.entries) == (log[0][0], 0, 0)
    assert report.head is None
    assert report.problem is not None
    assert "key" in report.problem
    with pytest.raises(IntegrityError):
        AuditChain.resume(OTHER_KEY, log[-1][1])


def test_storage_sequence_numbers_must_increase() -> None:
    _, log = build([[_event()] * 4], None)
    swapped = [log[0], (log[2][0], log[1][1]), (log[1][0], log[2][1]), log[3]]
    report = verify(swapped, KEY)
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_n) == (log[1][0], 2)
    repeated = verify([log[0], (log[0][0], log[1][1])], KEY)
    assert (repeated.ok, repeated.first_bad_n) == (False, 1)


def test_the_log_may_run_past_the_anchor_but_not_differ_there() -> None:
    chain, log = build([[_event()] * 8], 3)
    anchor = ChainHead(4, parse_entry(log[4][1])[3])
    assert verify(log, KEY, expected_head=anchor).ok
    wrong = verify(log, KEY, expected_head=ChainHead(4, "a" * 64))
    assert not wrong.ok
    assert (wrong.first_bad_seq, wrong.first_bad_n) == (log[4][0], 4)
    assert wrong.problem == "entry 4 does not match the anchor (its hash differs)"
    # Verified up to the anchor before: only the rest is read.
    rest = verify(log[5:], KEY, start=anchor, expected_head=chain.head)
    assert rest.ok


# --------------------------------------------------------------------------------------
# Checkpoints


def _forge_checkpoint(log: Log, position: int, **detail: Any) -> Log:
    obj = orjson.loads(log[position][1])
    obj["detail"] = {**obj["detail"], **detail}
    return [*log[:position], (log[position][0], reseal(obj)), *log[position + 1 :]]


def test_a_forged_checkpoint_signature_is_caught() -> None:
    _, log = build([[_event()] * 10], 3)
    position = 6
    assert parse_entry(log[position][1])[1].action == "checkpoint"
    forged = _forge_checkpoint(log, position, sig="0" * 64)
    report = verify(forged, KEY)
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_n) == (log[position][0], position)
    assert report.problem == f"entry {position} is a checkpoint with a bad signature"


def test_a_checkpoint_must_match_the_chain() -> None:
    _, log = build([[_event()] * 10], 3)
    cp_key = hmac.new(KEY, b"civiccrm audit checkpoint", hashlib.sha256).digest()
    position = 3
    wrong_hash = "b" * 64
    sig = hmac.new(cp_key, f"2:{wrong_hash}".encode(), hashlib.sha256).hexdigest()
    forged = _forge_checkpoint(log, position, hash=wrong_hash, sig=sig)
    report = verify(forged, KEY)
    assert not report.ok
    assert report.first_bad_n == position
    assert report.problem is not None
    assert "does not match the chain" in report.problem


def test_events_cannot_pose_as_checkpoints() -> None:
    chain = AuditChain(KEY)
    with pytest.raises(ValidationError):
        chain.append([_event(), _event(action="checkpoint")])
    assert chain.head is None  # nothing moved
    # Nor can an entry sealed with the audit key but without a checkpoint signature.
    obj = orjson.loads(AuditChain(KEY).append([_event()])[0])
    obj["action"] = "checkpoint"
    report = verify([(1, reseal(obj))], KEY)
    assert not report.ok
    assert report.first_bad_n == 0


def test_a_separate_checkpoint_key() -> None:
    cp_key = b"c" * 32
    chain = AuditChain(KEY, checkpoint_every=3, checkpoint_key=cp_key)
    log = list(enumerate(chain.append([_event()] * 7)))
    assert verify(log, KEY, checkpoint_key=cp_key, expected_head=chain.head).ok
    wrong = verify(log, KEY)  # the derived key did not sign these
    assert not wrong.ok
    assert (wrong.first_bad_n, wrong.problem) == (3, "entry 3 is a checkpoint with a bad signature")
    with pytest.raises(IntegrityError):
        AuditChain.resume(KEY, log[3][1], checkpoint_key=b"d" * 32)
    assert AuditChain.resume(KEY, log[3][1], checkpoint_key=cp_key).head == ChainHead(
        3, parse_entry(log[3][1])[3]
    )


def test_verification_can_start_at_the_last_checkpoint() -> None:
    chain, log = build([[_event()] * 12], 5)
    found = last_checkpoint(log, KEY)
    assert found is not None
    seq, head = found
    assert head.n == 10
    assert seq == log[10][0]
    rest = [(s, t) for s, t in log if s > seq]
    report = verify(rest, KEY, start=head, expected_head=chain.head)
    assert report.ok, report.problem
    assert report.entries == len(log) - 11
    assert last_checkpoint(log, OTHER_KEY) is None
    assert last_checkpoint(log[:5], KEY) is None


# --------------------------------------------------------------------------------------
# Events and entries that are not acceptable


def _event(**changes: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "at": datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
        "actor": "agent-17",
        "role": "agent",
        "purpose": "casework",
        "action": "read",
        "kind": "citizen",
        "record_ids": ("c-1",),
        "fields": ("name", "email"),
        "detail": {"reason": "case_review"},
    }
    fields.update(changes)
    return AuditEvent(**fields)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"at": datetime(2026, 3, 8, 12, 0)}, "at"),
        ({"action": ""}, "action"),
        ({"kind": "  "}, "kind"),
        ({"actor": ""}, "actor"),
        ({"record_ids": "c-1"}, "record_ids"),
        ({"fields": ("name", 3)}, "fields[1]"),
        ({"detail": {"note": "x" * 201}}, "detail.note"),
        ({"detail": {"nested": {"a": 1}}}, "detail.nested"),
        ({"detail": {"ratio": 0.5}}, "detail.ratio"),
        ({"detail": {"big": 2**64}}, "detail.big"),
        ({"detail": {"": 1}}, "detail"),
        ({"record_ids": ("x" * 201,)}, "record_ids[0]"),
    ],
)
def test_bad_events_are_refused(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError) as info:
        _event(**changes)
    assert path in [p.path for p in info.value.problems]


def test_events_are_immutable_and_keep_their_own_detail() -> None:
    detail: dict[str, Any] = {"reason": "case_review"}
    ev = _event(detail=detail, record_ids=["c-1", "c-2"])
    detail["reason"] = "changed"
    assert ev.detail == {"reason": "case_review"}
    assert ev.record_ids == ("c-1", "c-2")
    assert hash(ev) == hash(_event(detail={"other": 1}, record_ids=("c-1", "c-2")))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1, 2]",
        '{"n": 0}',
        AuditChain(KEY).append([_event()])[0].replace('"n":0', '"n":-1'),
        AuditChain(KEY).append([_event()])[0].replace(".000000Z", "Z"),
        AuditChain(KEY).append([_event()])[0].replace('"role":"agent"', '"role":7'),
    ],
)
def test_parse_entry_refuses_what_is_not_an_entry(text: str) -> None:
    with pytest.raises(IntegrityError):
        parse_entry(text)


def test_bad_keys_and_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        AuditChain(b"short")
    with pytest.raises(ValidationError):
        AuditChain(KEY, checkpoint_every=1)
    with pytest.raises(ValidationError):
        ChainHead(-1, ZERO)
    with pytest.raises(ValidationError):
        ChainHead(0, "xyz")


def test_reset_after_a_rollback() -> None:
    chain = AuditChain(KEY)
    before = chain.head
    lost = chain.append([_event()])
    chain.reset(before)
    assert chain.append([_event()]) == lost
    assert "key" not in repr(chain).lower().replace("checkpoint", "")
