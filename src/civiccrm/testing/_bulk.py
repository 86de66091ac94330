"""Conformance: bulk upsert by key column, idempotent and atomic."""

from __future__ import annotations

import pytest

from civiccrm.adapters._base import Query, Record, Storage, UpsertResult
from civiccrm.errors import ValidationError
from civiccrm.testing._fixtures import case, normalized

__all__ = ["BulkUpsertConformance"]


def _batch(n: int, *, tag: str = "v1", prefix: str = "r") -> list[Record]:
    return [
        case(f"{prefix}{i:04d}", {"i": i, "tag": tag}, status="open", external_id=f"ext-{i}")
        for i in range(n)
    ]


def _snapshot(storage: Storage) -> list[Record]:
    return list(storage.stream(Query("case")))


class BulkUpsertConformance:
    """
    ``bulk_upsert``: insert or update by key column, keeping stored ids; the same batch
    twice changes nothing; a batch with one bad record changes nothing at all.

    .. versionadded:: 0.1.0
    """

    def test_inserts_new_keys(self, storage: Storage) -> None:
        """New keys are inserted with the given ids, as version 1."""
        batch = _batch(5)
        assert UpsertResult(inserted=5) == storage.bulk_upsert("case", batch)
        for record in batch:
            key = record.columns["external_id"]
            assert isinstance(key, str)
            expected = Record("case", record.id, 1, record.doc, normalized(record))
            assert expected == storage.get_by_key("case", key)
            assert expected == storage.get("case", record.id)

    def test_same_batch_twice_changes_nothing(self, storage: Storage) -> None:
        """Upserting the same batch again reports every record unchanged and keeps versions."""
        storage.bulk_upsert("case", _batch(5))
        before = _snapshot(storage)
        assert UpsertResult(unchanged=5) == storage.bulk_upsert("case", _batch(5))
        assert before == _snapshot(storage)
        assert {1} == {r.version for r in before}

    def test_changed_records_are_updated_and_keep_their_ids(self, storage: Storage) -> None:
        """
        A record whose doc or columns changed gets the next version under its stored id,
        whatever id the incoming record has.
        """
        storage.bulk_upsert("case", _batch(4))
        incoming = _batch(4, prefix="other")
        incoming[1] = case("other0001", {"i": 1, "tag": "v2"}, status="open", external_id="ext-1")
        incoming[2] = case("other0002", {"i": 2, "tag": "v1"}, status="closed", external_id="ext-2")
        assert UpsertResult(updated=2, unchanged=2) == storage.bulk_upsert("case", incoming)
        got = [storage.get_by_key("case", f"ext-{i}") for i in range(4)]
        assert all(r is not None for r in got)
        assert [r.id for r in got if r is not None] == ["r0000", "r0001", "r0002", "r0003"]
        assert [r.version for r in got if r is not None] == [1, 2, 2, 1]
        one, two = got[1], got[2]
        assert one is not None
        assert two is not None
        assert (incoming[1].doc, "closed") == (one.doc, two.columns["status"])
        assert storage.get_many("case", [r.id for r in incoming]) == []
        assert storage.count("case") == {None: 4}

    def test_mixed_batch(self, storage: Storage) -> None:
        """One batch may insert, update and leave records alone; the counts say which."""
        storage.bulk_upsert("case", _batch(3))
        batch = [
            *_batch(2),
            case("r0002", {"i": 2, "tag": "v2"}, status="open", external_id="ext-2"),
            case("new1", status="new", external_id="ext-new-1"),
            case("new2", status="new", external_id="ext-new-2"),
        ]
        assert UpsertResult(inserted=2, updated=1, unchanged=2) == storage.bulk_upsert(
            "case", batch
        )
        assert storage.count("case") == {None: 5}

    def test_accepts_any_iterable_and_an_empty_batch(self, storage: Storage) -> None:
        """A generator works as a batch, and an empty batch does nothing."""
        assert UpsertResult() == storage.bulk_upsert("case", [])
        assert UpsertResult(inserted=3) == storage.bulk_upsert("case", (r for r in _batch(3)))
        assert UpsertResult(unchanged=3) == storage.bulk_upsert("case", iter(_batch(3)))

    def test_versions_agree_with_put(self, storage: Storage) -> None:
        """After an upsert, put with the stored version works, and upsert sees its result."""
        storage.bulk_upsert("case", _batch(1))
        changed = case("r0000", {"by": "put"}, status="closed", external_id="ext-0")
        stored = storage.put(changed, expected_version=1)
        assert stored.version == 2
        assert UpsertResult(unchanged=1) == storage.bulk_upsert("case", [changed])
        again = case("r0000", {"by": "upsert"}, status="closed", external_id="ext-0")
        assert UpsertResult(updated=1) == storage.bulk_upsert("case", [again])
        got = storage.get("case", "r0000")
        assert got is not None
        assert (3, again.doc) == (got.version, got.doc)

    @pytest.mark.parametrize("missing", ["none", "absent"])
    def test_a_bad_record_changes_nothing(self, storage: Storage, missing: str) -> None:
        """A batch with one record without a key raises ValidationError and writes nothing."""
        storage.bulk_upsert("case", _batch(3))
        before = _snapshot(storage)
        bad = (
            case("bad", status="open", external_id=None)
            if missing == "none"
            else case("bad", status="open")
        )
        batch = [
            case("new1", status="new", external_id="ext-new-1"),
            case("r0001", {"changed": True}, status="open", external_id="ext-1"),
            bad,
            case("new2", status="new", external_id="ext-new-2"),
        ]
        with pytest.raises(ValidationError):
            storage.bulk_upsert("case", batch)
        assert before == _snapshot(storage)
        assert storage.get_by_key("case", "ext-new-1") is None
        assert storage.get("case", "bad") is None

    def test_larger_batch(self, storage: Storage) -> None:
        """A batch of 500 inserts once and is unchanged the second time."""
        assert UpsertResult(inserted=500) == storage.bulk_upsert("case", _batch(500))
        assert UpsertResult(unchanged=500) == storage.bulk_upsert("case", _batch(500))
        assert UpsertResult(updated=500) == storage.bulk_upsert("case", _batch(500, tag="v2"))
        assert {2} == {r.version for r in _snapshot(storage)}
        assert storage.count("case") == {None: 500}

    def test_other_kinds(self, storage: Storage) -> None:
        """Upsert works on every kind with a key column, each kind on its own."""
        parties = [
            case(f"p{i}", kind="party", email_hash=f"h{i}", external_id=f"ext-{i}")
            for i in range(3)
        ]
        storage.bulk_upsert("case", _batch(3))
        assert UpsertResult(inserted=3) == storage.bulk_upsert("party", parties)
        party = storage.get_by_key("party", "ext-1")
        assert party is not None
        assert (party.id, party.columns["email_hash"]) == ("p1", "h1")
        case_one = storage.get_by_key("case", "ext-1")
        assert case_one is not None
        assert case_one.id == "r0001"
