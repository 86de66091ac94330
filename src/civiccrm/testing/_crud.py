"""Conformance: records, versions and optimistic concurrency."""

from __future__ import annotations

import json
from typing import Final

import attrs
import pytest

from civiccrm.adapters._base import (
    Capabilities,
    ColumnSpec,
    ColumnType,
    Filter,
    Query,
    Record,
    Scalar,
    Schema,
    Storage,
)
from civiccrm.errors import CivicCRMError, ConflictError, ValidationError
from civiccrm.testing._fixtures import CONFORMANCE_SCHEMA, case, ids, normalized

__all__ = ["CRUDConformance"]

#: Text a backend must store and return unchanged: non-BMP characters, right-to-left
#: text and marks, combining characters, a BOM, control characters (no NUL).
UNICODE_SAMPLES: Final = (
    "😀🏛️🇺🇦 👩🏽‍⚕️ \U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 𐍈",
    "مرحبا بالعالم \u200f(RTL)\u200e שלום",
    "e\u0301 n\u0303 Å Å ﬁ",
    "\ufeffstarts with a BOM",
    "tab\there\r\nnewline \x01\x1f\x7f \u2028\u2029 end",
    "   leading and trailing spaces   ",
    "",
)

#: Strings that break code which builds queries by pasting text.
INJECTION_SAMPLES: Final = (
    "'; DROP TABLE records; --",
    "Robert'); DROP TABLE students;--",
    '" OR "1"="1',
    "' OR 1=1 --",
    "%",
    "_",
    "a%b_c",
    "\\",
    "\\'",
    "*",
    "?",
    "$1",
    ":name",
    "{{ x }}",
)


def _party_with(*added: ColumnSpec) -> Schema:
    """The conformance schema, one version on, with ``added`` columns on ``party``."""
    party = CONFORMANCE_SCHEMA.kind("party")
    return attrs.evolve(
        CONFORMANCE_SCHEMA,
        version=CONFORMANCE_SCHEMA.version + 1,
        kinds=tuple(
            attrs.evolve(k, columns=(*k.columns, *added)) if k is party else k
            for k in CONFORMANCE_SCHEMA.kinds
        ),
    )


class CRUDConformance:
    """
    put/get/get_many/get_by_key/delete: versions, ConflictError on every stale write,
    and documents and columns stored exactly as given.

    .. versionadded:: 0.1.0
    """

    def test_implements_the_protocol(self, storage: Storage) -> None:
        """The backend is a Storage, with a URL and a Capabilities object."""
        assert isinstance(storage, Storage)
        assert isinstance(storage.url, str)
        assert isinstance(storage.capabilities, Capabilities)

    def test_migrate_is_idempotent(self, storage: Storage) -> None:
        """Migrating the same schema again changes nothing and keeps the data."""
        stored = storage.put(case("c1", status="open", external_id="x1"), expected_version=0)
        storage.migrate(CONFORMANCE_SCHEMA)
        storage.migrate(CONFORMANCE_SCHEMA)
        assert stored == storage.get("case", "c1")
        assert stored == storage.get_by_key("case", "x1")

    def test_migrate_fills_a_new_column_from_its_source(self, storage: Storage) -> None:
        """
        A column added with a ``source`` is filled from each stored document's field
        (the right JSON type only); records keep their versions and documents, and new
        writes set the column as usual.
        """
        docs: dict[str, object] = {
            "p1": {"ref": "SR-1", "n": 7, "x": 2.5},
            "p2": {"ref": 12, "n": "7", "x": 3},
            "p3": {"ref": None, "n": True, "x": "no"},
            "p4": {"other": "SR-4"},
            "p5": {"ref": {"nested": "SR-5"}, "n": [1], "x": None},
            "p6": {"ref": "'; DROP TABLE rec_party; --", "n": -3, "x": -0.5},
        }
        before = {
            rid: storage.put(case(rid, doc, kind="party", external_id=rid), expected_version=0)
            for rid, doc in docs.items()
        }
        v2 = _party_with(
            ColumnSpec("ref", ColumnType.TEXT, indexed=True, source="ref"),
            ColumnSpec("n", ColumnType.INTEGER, source="n"),
            ColumnSpec("x", ColumnType.REAL, source="x"),
            ColumnSpec("plain", ColumnType.TEXT),
        )
        storage.migrate(v2)
        expected: dict[str, tuple[Scalar, Scalar, Scalar]] = {
            "p1": ("SR-1", 7, 2.5),
            "p2": (None, None, 3.0),
            "p3": (None, None, None),
            "p4": (None, None, None),
            "p5": (None, None, None),
            "p6": ("'; DROP TABLE rec_party; --", -3, -0.5),
        }
        for rid, (ref, n, x) in expected.items():
            got = storage.get("party", rid)
            assert got is not None
            assert (got.version, got.doc) == (before[rid].version, before[rid].doc)
            assert (got.columns["ref"], got.columns["n"], got.columns["x"]) == (ref, n, x)
            assert got.columns["plain"] is None
            if x is not None:
                assert type(got.columns["x"]) is float
        found = storage.query(Query("party", (Filter("ref", "eq", "SR-1"),)))
        assert ids(found.records) == ["p1"]
        # Migrating again fills nothing twice; new writes set the column themselves.
        p4 = storage.put(
            case("p4", {"ref": "SR-4"}, kind="party", version=1, ref="given"),
            expected_version=1,
        )
        storage.migrate(v2)
        assert storage.get("party", "p4") == p4
        assert p4.columns["ref"] == "given"

    def test_a_bad_source_is_refused(self, storage: Storage) -> None:
        """A source that is not a plain field name is a ValidationError naming it."""
        bad = _party_with(ColumnSpec("ref", ColumnType.TEXT, source='a"b'))
        with pytest.raises(ValidationError, match="source"):
            storage.migrate(bad)

    def test_put_inserts_version_1(self, storage: Storage) -> None:
        """An insert (expected version 0) stores version 1 and returns the record as stored."""
        record = case("c1", {"title": "pothole"}, status="open", priority=2)
        stored = storage.put(record, expected_version=0)
        assert Record("case", "c1", 1, record.doc, normalized(record)) == stored
        assert stored == storage.get("case", "c1")

    def test_put_updates_version_by_one(self, storage: Storage) -> None:
        """Each update with the current version writes the next version."""
        v1 = storage.put(case("c1", {"n": 1}, status="new"), expected_version=0)
        v2 = storage.put(case("c1", {"n": 2}, status="open"), expected_version=v1.version)
        v3 = storage.put(case("c1", {"n": 3}, status="closed"), expected_version=v2.version)
        assert [v1.version, v2.version, v3.version] == [1, 2, 3]
        got = storage.get("case", "c1")
        assert got is not None
        assert (got.version, json.loads(got.doc), got.columns["status"]) == (3, {"n": 3}, "closed")

    def test_get_missing_is_none(self, storage: Storage) -> None:
        """get of an id that was never stored returns None."""
        assert storage.get("case", "nope") is None

    def test_stale_put_raises_conflict(self, storage: Storage) -> None:
        """A put based on an old version raises ConflictError and changes nothing."""
        storage.put(case("c1", {"n": 1}), expected_version=0)
        current = storage.put(case("c1", {"n": 2}), expected_version=1)
        with pytest.raises(ConflictError) as info:
            storage.put(case("c1", {"n": "stale"}), expected_version=1)
        err = info.value
        assert (
            err.record_type,
            err.record_id,
            err.expected_version,
            err.actual_version,
        ) == ("case", "c1", 1, 2)
        assert current == storage.get("case", "c1")

    def test_put_with_a_future_version_raises_conflict(self, storage: Storage) -> None:
        """A put with a version the record never had raises ConflictError."""
        current = storage.put(case("c1"), expected_version=0)
        with pytest.raises(ConflictError) as info:
            storage.put(case("c1", {"n": "ahead"}), expected_version=5)
        assert (info.value.expected_version, info.value.actual_version) == (5, 1)
        assert current == storage.get("case", "c1")

    def test_insert_of_an_existing_id_raises_conflict(self, storage: Storage) -> None:
        """An insert (expected version 0) of an id that exists raises ConflictError."""
        current = storage.put(case("c1", {"first": True}), expected_version=0)
        with pytest.raises(ConflictError) as info:
            storage.put(case("c1", {"second": True}), expected_version=0)
        err = info.value
        assert (
            err.record_type,
            err.record_id,
            err.expected_version,
            err.actual_version,
        ) == ("case", "c1", 0, 1)
        assert current == storage.get("case", "c1")

    def test_update_of_a_missing_record_raises_conflict(self, storage: Storage) -> None:
        """An update (expected version above 0) of a missing record raises ConflictError."""
        with pytest.raises(ConflictError) as info:
            storage.put(case("ghost"), expected_version=3)
        assert (
            info.value.record_type,
            info.value.record_id,
            info.value.expected_version,
            info.value.actual_version,
        ) == ("case", "ghost", 3, None)
        assert storage.get("case", "ghost") is None

    def test_delete_with_current_version(self, storage: Storage) -> None:
        """delete with the current version removes the record; the id can be inserted again."""
        storage.put(case("c1", external_id="x1"), expected_version=0)
        storage.put(case("c1", {"n": 2}, external_id="x1"), expected_version=1)
        storage.delete("case", "c1", expected_version=2)
        assert storage.get("case", "c1") is None
        assert storage.get_by_key("case", "x1") is None
        assert storage.count("case") == {None: 0}
        again = storage.put(case("c1", external_id="x1"), expected_version=0)
        assert again.version == 1

    def test_stale_delete_raises_conflict(self, storage: Storage) -> None:
        """delete with an old version raises ConflictError and keeps the record."""
        storage.put(case("c1"), expected_version=0)
        current = storage.put(case("c1", {"n": 2}), expected_version=1)
        with pytest.raises(ConflictError) as info:
            storage.delete("case", "c1", expected_version=1)
        assert (
            info.value.record_type,
            info.value.record_id,
            info.value.expected_version,
            info.value.actual_version,
        ) == ("case", "c1", 1, 2)
        assert current == storage.get("case", "c1")

    def test_delete_of_a_missing_record_raises_conflict(self, storage: Storage) -> None:
        """delete of a record that does not exist raises ConflictError (actual version None)."""
        with pytest.raises(ConflictError) as info:
            storage.delete("case", "ghost", expected_version=1)
        assert (
            info.value.record_type,
            info.value.record_id,
            info.value.expected_version,
            info.value.actual_version,
        ) == ("case", "ghost", 1, None)

    def test_get_many_keeps_the_order_of_ids(self, storage: Storage) -> None:
        """get_many returns the existing records in the order asked, skipping missing ids."""
        for rid in ("c1", "c2", "c3", "c4"):
            storage.put(case(rid), expected_version=0)
        assert ids(storage.get_many("case", ["c3", "nope", "c1", "c4"])) == ["c3", "c1", "c4"]
        assert storage.get_many("case", []) == []
        assert storage.get_many("case", ["nope"]) == []
        many = storage.get_many("case", ["c2"])
        assert [storage.get("case", "c2")] == many

    def test_get_by_key(self, storage: Storage) -> None:
        """get_by_key finds a record by its key column and follows changes of the key."""
        stored = storage.put(case("c1", status="open", external_id="legacy-1"), expected_version=0)
        storage.put(case("c2", external_id=None), expected_version=0)
        assert stored == storage.get_by_key("case", "legacy-1")
        assert storage.get_by_key("case", "legacy-2") is None
        moved = storage.put(case("c1", external_id="legacy-9"), expected_version=1)
        assert storage.get_by_key("case", "legacy-1") is None
        assert moved == storage.get_by_key("case", "legacy-9")
        assert storage.get_by_key("party", "legacy-9") is None

    def test_key_column_is_unique(self, storage: Storage) -> None:
        """
        A second record with a key that is taken is refused with a CivicCRMError and
        changes nothing; any number of records may have a NULL key.
        """
        first = storage.put(case("c1", external_id="k"), expected_version=0)
        with pytest.raises(CivicCRMError):
            storage.put(case("c2", external_id="k"), expected_version=0)
        assert storage.get("case", "c2") is None
        assert first == storage.get_by_key("case", "k")
        storage.put(case("c3"), expected_version=0)
        storage.put(case("c4", external_id=None), expected_version=0)
        assert storage.count("case") == {None: 3}

    def test_kinds_are_separate(self, storage: Storage) -> None:
        """The same id in two kinds names two records."""
        a = storage.put(case("same", {"k": "case"}, status="open"), expected_version=0)
        b = storage.put(case("same", {"k": "party"}, kind="party"), expected_version=0)
        assert a == storage.get("case", "same")
        assert b == storage.get("party", "same")
        storage.delete("party", "same", expected_version=1)
        assert a == storage.get("case", "same")
        assert storage.get("party", "same") is None

    def test_missing_columns_are_null(self, storage: Storage) -> None:
        """A column missing from the record is stored as NULL and returned as None."""
        stored = storage.put(case("c1", status="open"), expected_version=0)
        expected: dict[str, Scalar] = {
            c.name: None for c in CONFORMANCE_SCHEMA.kind("case").columns
        }
        expected["status"] = "open"
        assert expected == dict(stored.columns)
        got = storage.get("case", "c1")
        assert got is not None
        assert expected == dict(got.columns)
        assert storage.count("case", [Filter("priority", "is_null")]) == {None: 1}

    def test_unicode_is_stored_verbatim(self, storage: Storage) -> None:
        """Documents, text columns and ids come back exactly as written."""
        for i, text in enumerate(UNICODE_SAMPLES):
            rid = f"u{i}-{text}" if text else f"u{i}"
            doc = json.dumps({"text": text}, ensure_ascii=False)
            record = Record("case", rid, 0, doc, {"requester": text, "external_id": f"ext-{text}"})
            stored = storage.put(record, expected_version=0)
            got = storage.get("case", rid)
            assert got is not None
            assert (doc, text, rid) == (got.doc, got.columns["requester"], got.id)
            assert stored == got
            assert got == storage.get_by_key("case", f"ext-{text}")
            found = storage.query(Query("case", (Filter("requester", "eq", text),)))
            assert [rid] == ids(found.records)

    def test_injection_looking_strings_are_plain_data(self, storage: Storage) -> None:
        """Quotes, wildcards and placeholders in ids, docs, columns and keys are just text."""
        for i, text in enumerate(INJECTION_SAMPLES):
            doc = json.dumps({"text": text})
            storage.put(
                Record("case", text, 0, doc, {"requester": text, "external_id": text}),
                expected_version=0,
            )
            storage.put_key(text, text.encode())
            storage.put(case(f"plain{i}", requester=f"x{text}x"), expected_version=0)
        for text in INJECTION_SAMPLES:
            got = storage.get("case", text)
            assert got is not None
            assert (json.dumps({"text": text}), text) == (got.doc, got.columns["requester"])
            assert got == storage.get_by_key("case", text)
            assert text.encode() == storage.get_key(text)
            found = storage.query(Query("case", (Filter("requester", "eq", text),)))
            assert [text] == ids(found.records)
        total = len(INJECTION_SAMPLES) * 2
        assert {None: total} == storage.count("case")
        some = storage.query(Query("case", (Filter("requester", "in", INJECTION_SAMPLES[:3]),)))
        assert sorted(INJECTION_SAMPLES[:3]) == sorted(ids(some.records))

    def test_large_document(self, storage: Storage) -> None:
        """A 5 MB document is stored and returned whole."""
        doc = json.dumps({"notes": "x" * (5 * 1024 * 1024), "tail": "ü😀"}, ensure_ascii=False)
        storage.put(Record("case", "big", 0, doc, {"status": "open"}), expected_version=0)
        got = storage.get("case", "big")
        assert got is not None
        assert doc == got.doc
        page = storage.query(Query("case", (Filter("status", "eq", "open"),)))
        assert [doc] == [r.doc for r in page.records]

    def test_number_columns_keep_value_and_type(self, storage: Storage) -> None:
        """INTEGER columns return ints, REAL columns floats, NULLs None, without rounding."""
        integers = (0, -1, 1, 1_700_000_000_000_000, 2**63 - 1, -(2**63))
        reals = (0.0, 0.1, -2.5, 1e300, -1e-300, 5e-324, 123456789.123456789)
        for i, (n, x) in enumerate(zip(integers, reals, strict=False)):
            storage.put(case(f"n{i}", priority=n, due_at=n, score=x), expected_version=0)
        storage.put(case("nulls", priority=None, due_at=None, score=None), expected_version=0)
        for i, (n, x) in enumerate(zip(integers, reals, strict=False)):
            got = storage.get("case", f"n{i}")
            assert got is not None
            assert (n, n, x) == (
                got.columns["priority"],
                got.columns["due_at"],
                got.columns["score"],
            )
            assert type(got.columns["priority"]) is int
            assert type(got.columns["score"]) is float
        got = storage.get("case", "nulls")
        assert got is not None
        assert (
            got.columns["priority"],
            got.columns["due_at"],
            got.columns["score"],
        ) == (None, None, None)
        big = storage.query(Query("case", (Filter("priority", "eq", 2**63 - 1),)))
        assert ids(big.records) == ["n4"]

    def test_unknown_kind_raises_a_civiccrm_error(self, storage: Storage) -> None:
        """A kind the schema does not declare is refused with a CivicCRMError, never a driver's."""
        with pytest.raises(CivicCRMError):
            storage.put(case("c1", kind="nope"), expected_version=0)
        with pytest.raises(CivicCRMError):
            storage.get("nope", "c1")
        with pytest.raises(CivicCRMError):
            storage.query(Query("nope"))

    def test_unknown_column_in_a_record_raises_a_civiccrm_error(self, storage: Storage) -> None:
        """A record with a column its kind does not declare is refused, not silently cut."""
        with pytest.raises(CivicCRMError):
            storage.put(case("c1", colour="red"), expected_version=0)
        assert storage.get("case", "c1") is None
