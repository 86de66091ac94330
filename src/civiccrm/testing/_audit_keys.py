"""Conformance: the append-only audit log and the store of wrapped data keys."""

from __future__ import annotations

import itertools

from civiccrm.adapters._base import Storage

__all__ = ["AuditKeyConformance"]

_ENTRIES = (
    '{"action": "case.opened", "case": "c1"}',
    "plain text",
    "unicode: 😀 مرحبا e\u0301",
    "'; DROP TABLE audit; --",
    "",
    "x" * 100_000,
)


class AuditKeyConformance:
    """
    ``append_audit``/``read_audit`` (increasing sequence numbers, entries unchanged),
    ``prune_audit`` (the oldest entries only, numbers never reused)
    and ``put_key``/``get_key``/``delete_key`` (bytes unchanged, replace, destroy).

    .. versionadded:: 0.1.0
    """

    def test_audit_starts_empty(self, storage: Storage) -> None:
        """A fresh backend has no audit entries."""
        assert storage.read_audit() == []

    def test_append_returns_increasing_sequence_numbers(self, storage: Storage) -> None:
        """Sequence numbers increase within a call and across calls."""
        first = storage.append_audit(list(_ENTRIES[:3]))
        second = storage.append_audit(list(_ENTRIES[3:]))
        seqs = first + second
        assert (len(first), len(second)) == (3, 3)
        assert all(s > 0 for s in seqs)
        assert all(a < b for a, b in itertools.pairwise(seqs))
        assert storage.append_audit([]) == []

    def test_read_returns_entries_unchanged_in_order(self, storage: Storage) -> None:
        """read_audit returns every entry as written, with its sequence number, in order."""
        seqs = storage.append_audit(list(_ENTRIES))
        assert list(zip(seqs, _ENTRIES, strict=True)) == storage.read_audit()

    def test_read_after_and_limit(self, storage: Storage) -> None:
        """after skips entries up to a sequence number; limit caps how many come back."""
        seqs = storage.append_audit([f"e{i}" for i in range(10)])
        everything = list(zip(seqs, [f"e{i}" for i in range(10)], strict=True))
        assert everything[:3] == storage.read_audit(limit=3)
        assert everything[4:] == storage.read_audit(after=seqs[3])
        assert everything[4:6] == storage.read_audit(after=seqs[3], limit=2)
        assert storage.read_audit(after=seqs[-1]) == []
        pages: list[tuple[int, str]] = []
        after = 0
        while chunk := storage.read_audit(after=after, limit=4):
            pages.extend(chunk)
            after = chunk[-1][0]
        assert everything == pages

    def test_audit_is_append_only(self, storage: Storage) -> None:
        """Appending never changes or renumbers earlier entries."""
        storage.append_audit(["a", "b"])
        before = storage.read_audit()
        storage.append_audit(["c"])
        after = storage.read_audit()
        assert before == after[:2]
        assert after[2][1] == "c"

    def test_prune_deletes_the_oldest_entries_and_never_reuses_numbers(
        self, storage: Storage
    ) -> None:
        """prune_audit deletes entries up to a sequence number (returning how many);
        the rest read as before, and later appends get higher numbers than any pruned."""
        seqs = storage.append_audit([f"e{i}" for i in range(6)])
        assert storage.prune_audit(seqs[2]) == 3
        assert storage.read_audit() == list(zip(seqs[3:], ["e3", "e4", "e5"], strict=True))
        assert storage.read_audit(after=seqs[1], limit=1) == [(seqs[3], "e3")]
        assert storage.prune_audit(seqs[2]) == 0
        assert storage.prune_audit(0) == 0
        later = storage.append_audit(["f"])
        assert later[0] > seqs[-1]
        assert storage.prune_audit(seqs[-1]) == 3
        assert storage.read_audit() == [(later[0], "f")]
        assert storage.prune_audit(later[0] + 1_000_000) == 1
        assert storage.read_audit() == []
        assert storage.append_audit(["g"])[0] > later[0]

    def test_prune_is_undone_with_its_transaction(self, storage: Storage) -> None:
        """A prune inside a transaction that rolls back deletes nothing."""
        seqs = storage.append_audit(["a", "b", "c"])

        class Boom(Exception):
            pass

        try:
            with storage.transaction():
                assert storage.prune_audit(seqs[1]) == 2
                raise Boom
        except Boom:
            pass
        assert [e for _, e in storage.read_audit()] == ["a", "b", "c"]

    def test_add_keys_stores_only_keys_not_there_yet(self, storage: Storage) -> None:
        """add_keys stores the keys of new ids (and says which) and never replaces one."""
        assert storage.add_keys([("k-new", b"first")]) == {"k-new"}
        assert storage.add_keys([("k-new", b"second"), ("k-other", b"o")]) == {"k-other"}
        assert storage.get_key("k-new") == b"first"
        assert storage.get_key("k-other") == b"o"
        storage.put_key("k-new", b"replaced")
        assert storage.add_keys([("k-new", b"third")]) == set()
        assert storage.get_key("k-new") == b"replaced"
        assert storage.delete_key("k-new")
        assert storage.add_keys([("k-new", b"again")]) == {"k-new"}
        assert storage.add_keys([]) == set()

    def test_put_keys_stores_many_at_once(self, storage: Storage) -> None:
        """put_keys stores (or replaces) every key given; an empty list is fine."""
        storage.put_key("k0", b"old")
        storage.put_keys([(f"k{i}", bytes([i % 256]) * 40) for i in range(300)])
        storage.put_keys([])
        assert [storage.get_key(f"k{i}") for i in range(300)] == [
            bytes([i % 256]) * 40 for i in range(300)
        ]
        assert len(storage.list_keys(limit=1000)) == 300
        wanted = [f"k{i}" for i in range(0, 300, 7)] + ["missing", "k7"]
        got = storage.get_keys(wanted)
        assert got == {k: bytes([int(k[1:]) % 256]) * 40 for k in wanted if k != "missing"}
        assert storage.get_keys([]) == {}

    def test_list_keys_pages_in_order(self, storage: Storage) -> None:
        """list_keys gives every key id once, in code point order, page by page."""
        ids = ["party:b", "party:a", "sys:index", "case:z", "party:\u00e9", "A", "a"]
        for i, key_id in enumerate(ids):
            storage.put_key(key_id, bytes([i]))
        assert storage.list_keys() == sorted(ids)
        seen: list[str] = []
        after = ""
        while page := storage.list_keys(after=after, limit=2):
            assert len(page) <= 2
            seen += page
            after = page[-1]
        assert seen == sorted(ids)
        assert storage.list_keys(after="party:a", limit=10) == [
            k for k in sorted(ids) if k > "party:a"
        ]
        storage.delete_key("party:a")
        assert "party:a" not in storage.list_keys()
        assert storage.list_keys(limit=0) == []

    def test_keys(self, storage: Storage) -> None:
        """A wrapped key is stored as given, replaced by a put with the same id, and destroyed."""
        every_byte = bytes(range(256))
        assert storage.get_key("k1") is None
        storage.put_key("k1", every_byte)
        storage.put_key("k2", b"")
        assert (every_byte, b"") == (storage.get_key("k1"), storage.get_key("k2"))
        storage.put_key("k1", b"\x00replaced\xff")
        assert storage.get_key("k1") == b"\x00replaced\xff"
        assert storage.delete_key("k1") is True
        assert storage.get_key("k1") is None
        assert storage.delete_key("k1") is False
        assert storage.delete_key("never") is False
        assert storage.get_key("k2") == b""
