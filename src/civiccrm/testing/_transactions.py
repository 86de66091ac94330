"""Conformance: transactions are atomic, and nested ones join the outer one."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from civiccrm.adapters._base import Storage, UpsertResult
from civiccrm.errors import ConflictError
from civiccrm.testing._fixtures import case

__all__ = ["TransactionConformance"]


class _Boom(Exception):
    """The exception the tests raise inside a transaction."""


def _in_transaction(storage: Storage, body: Callable[[], object]) -> None:
    """Run ``body`` inside ``storage.transaction()``."""
    with storage.transaction():
        body()


def _doc_of(storage: Storage, record_id: str) -> object:
    got = storage.get("case", record_id)
    return None if got is None else json.loads(got.doc)


class TransactionConformance:
    """
    ``transaction()``: all of it is committed or none of it, for records, the work
    queue, the audit log and the key store; nested transactions join the outer one.

    .. versionadded:: 0.1.0
    """

    def _prepare(self, storage: Storage) -> None:
        storage.put(case("b", {"n": 1}), expected_version=0)
        storage.put(case("c", {"n": 1}), expected_version=0)
        storage.put_key("k-old", b"old")
        storage.append_audit(["before"])

    def _change_everything(self, storage: Storage) -> None:
        storage.put(case("a", {"n": 1}), expected_version=0)
        storage.put(case("b", {"n": 2}), expected_version=1)
        storage.delete("case", "c", expected_version=1)
        result = storage.bulk_upsert("case", [case("x", external_id="ext-x")])
        assert UpsertResult(inserted=1) == result
        assert storage.enqueue("topic", ["t1", "t2"]) == 2
        storage.append_audit(["inside-1", "inside-2"])
        storage.put_key("k-new", b"new")
        assert storage.delete_key("k-old")

    def test_commit_makes_everything_visible(self, storage: Storage) -> None:
        """After the block ends normally, every change made inside it is there."""
        self._prepare(storage)
        with storage.transaction():
            self._change_everything(storage)
        assert tuple(_doc_of(storage, i) for i in "abc") == ({"n": 1}, {"n": 2}, None)
        x = storage.get_by_key("case", "ext-x")
        assert x is not None
        assert x.id == "x"
        claimed = storage.claim("topic", worker="w", limit=10, lease_us=1_000, now_us=0)
        assert sorted(t.key for t in claimed) == ["t1", "t2"]
        assert [e for _, e in storage.read_audit()] == ["before", "inside-1", "inside-2"]
        assert (storage.get_key("k-new"), storage.get_key("k-old")) == (b"new", None)

    def test_exception_rolls_back_everything(self, storage: Storage) -> None:
        """If the block raises, nothing it did remains, and the exception propagates."""
        self._prepare(storage)
        boom = _Boom()

        def body() -> None:
            self._change_everything(storage)
            raise boom

        with pytest.raises(_Boom) as info:
            _in_transaction(storage, body)
        assert info.value is boom
        assert tuple(_doc_of(storage, i) for i in "abc") == (None, {"n": 1}, {"n": 1})
        b = storage.get("case", "b")
        assert b is not None
        assert b.version == 1
        assert storage.get("case", "x") is None
        assert storage.get_by_key("case", "ext-x") is None
        assert storage.claim("topic", worker="w", limit=10, lease_us=1_000, now_us=0) == []
        assert [e for _, e in storage.read_audit()] == ["before"]
        # Keys are not part of transactions: what was stored or destroyed stays so.
        assert (storage.get_key("k-new"), storage.get_key("k-old")) == (b"new", None)
        assert storage.count("case") == {None: 2}

    def test_reads_inside_see_the_transactions_own_writes(self, storage: Storage) -> None:
        """Inside a transaction, reads see what the same transaction wrote."""
        with storage.transaction():
            storage.put(case("a", {"n": 1}, status="open"), expected_version=0)
            storage.put(case("a", {"n": 2}, status="open"), expected_version=1)
            got = storage.get("case", "a")
            assert got is not None
            assert got.version == 2
            assert storage.count("case") == {None: 1}
            assert storage.enqueue("q", ["1", "2"]) == 2
            assert storage.enqueue("q", ["1", "2"]) == 0

    def test_nested_transaction_joins_the_outer_one(self, storage: Storage) -> None:
        """An inner block that ended normally is still undone when the outer one raises."""

        def body() -> None:
            storage.put(case("outer"), expected_version=0)
            with storage.transaction():
                storage.put(case("inner"), expected_version=0)
                storage.append_audit(["inner"])
            assert storage.get("case", "inner") is not None
            raise _Boom

        with pytest.raises(_Boom):
            _in_transaction(storage, body)
        assert storage.get("case", "outer") is None
        assert storage.get("case", "inner") is None
        assert storage.read_audit() == []

    def test_exception_in_a_nested_transaction_rolls_back_the_outer_one(
        self, storage: Storage
    ) -> None:
        """An exception raised in the inner block and not caught undoes the whole transaction."""

        def body() -> None:
            storage.put(case("outer"), expected_version=0)
            with storage.transaction():
                storage.put(case("inner"), expected_version=0)
                raise _Boom

        with pytest.raises(_Boom):
            _in_transaction(storage, body)
        assert storage.get("case", "outer") is None
        assert storage.get("case", "inner") is None

    def test_nested_commit(self, storage: Storage) -> None:
        """Nested blocks that end normally commit together when the outer one ends."""
        with storage.transaction():
            with storage.transaction():
                storage.put(case("inner"), expected_version=0)
                with storage.transaction():
                    storage.put(case("inner"), expected_version=1)
            storage.put(case("outer"), expected_version=0)
        inner = storage.get("case", "inner")
        assert inner is not None
        assert inner.version == 2
        assert storage.get("case", "outer") is not None

    def test_conflict_inside_a_transaction_rolls_it_back(self, storage: Storage) -> None:
        """A ConflictError that escapes the block undoes the writes made before it."""
        storage.put(case("b"), expected_version=0)

        def body() -> None:
            storage.put(case("a"), expected_version=0)
            storage.put(case("b", {"stale": True}), expected_version=7)

        with pytest.raises(ConflictError):
            _in_transaction(storage, body)
        assert storage.get("case", "a") is None
        b = storage.get("case", "b")
        assert b is not None
        assert b.version == 1

    def test_usable_after_a_rollback(self, storage: Storage) -> None:
        """After a rolled-back transaction, the next one works and commits."""

        def body() -> None:
            storage.put(case("a"), expected_version=0)
            raise _Boom

        with pytest.raises(_Boom):
            _in_transaction(storage, body)
        with storage.transaction():
            storage.put(case("a"), expected_version=0)
        a = storage.get("case", "a")
        assert a is not None
        assert a.version == 1

    def test_work_outside_a_transaction_is_committed_per_call(self, storage: Storage) -> None:
        """Without a transaction, a failing call does not undo the calls before it."""
        storage.put(case("a"), expected_version=0)
        with pytest.raises(ConflictError):
            storage.put(case("a"), expected_version=0)
        assert storage.get("case", "a") is not None
