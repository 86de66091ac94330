"""Conformance: data survives closing and reopening (``capabilities.persistent``)."""

from __future__ import annotations

import json

import pytest

from civiccrm.adapters._base import Query, Storage
from civiccrm.errors import ConflictError
from civiccrm.testing._fixtures import Reopener, case, require

__all__ = ["PersistenceConformance"]


class _Rollback(Exception):
    """Raised on purpose to roll a transaction back."""


def _fail_inside(storage: Storage) -> None:
    with storage.transaction():
        storage.put(case("rolled-back"), expected_version=0)
        storage.append_audit(["rolled back"])
        raise _Rollback


class PersistenceConformance:
    """
    A persistent backend keeps records, versions, keys, the audit log and the work queue
    across close and reopen (needs ``capabilities.persistent`` and ``storage_reopener``).

    .. versionadded:: 0.1.0
    """

    def test_everything_survives_reopen(self, storage: Storage, reopen: Reopener) -> None:
        """Records with their versions, keys, audit entries and queued tasks survive."""
        require(storage, "persistent")
        storage.put(case("c1", {"n": 1}, status="open", external_id="x1"), expected_version=0)
        storage.put(case("c1", {"n": 2}, status="open", external_id="x1"), expected_version=1)
        storage.put(case("c2", {"n": 1}, priority=3, score=0.5), expected_version=0)
        storage.put(case("gone"), expected_version=0)
        storage.delete("case", "gone", expected_version=1)
        storage.bulk_upsert("party", [case("p1", kind="party", external_id="px")])
        seqs = storage.append_audit(["one", "two 😀"])
        storage.put_key("kept", b"\x00key\xff")
        storage.put_key("destroyed", b"x")
        storage.delete_key("destroyed")
        storage.enqueue("sla", ["t1"], payload="p")
        with pytest.raises(_Rollback):
            _fail_inside(storage)
        before = list(storage.stream(Query("case")))

        again = reopen.again()
        assert before == list(again.stream(Query("case")))
        c1 = again.get_by_key("case", "x1")
        assert c1 is not None
        assert (c1.version, json.loads(c1.doc)) == (2, {"n": 2})
        assert again.get("case", "rolled-back") is None
        party = again.get_by_key("party", "px")
        assert party is not None
        assert party.id == "p1"
        assert list(zip(seqs, ["one", "two 😀"], strict=True)) == again.read_audit()
        assert (again.get_key("kept"), again.get_key("destroyed")) == (b"\x00key\xff", None)
        tasks = again.claim("sla", worker="w", limit=5, lease_us=1_000, now_us=0)
        assert [(t.key, t.payload) for t in tasks] == [("t1", "p")]

    def test_versions_still_guard_writes_after_reopen(
        self, storage: Storage, reopen: Reopener
    ) -> None:
        """After reopening, a stale write still raises ConflictError; audit numbers go on."""
        require(storage, "persistent")
        storage.put(case("c1"), expected_version=0)
        storage.put(case("c1", {"n": 2}), expected_version=1)
        last = storage.append_audit(["before"])[-1]
        again = reopen.again()
        with pytest.raises(ConflictError):
            again.put(case("c1", {"n": "stale"}), expected_version=1)
        assert again.put(case("c1", {"n": 3}), expected_version=2).version == 3
        assert last < again.append_audit(["after"])[0]
        third = reopen.again()
        got = third.get("case", "c1")
        assert got is not None
        assert got.version == 3
