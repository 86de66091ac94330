"""
Where the SQLite backend keeps wrapped data keys: a small SQLite file of its own beside
the database (``<database>.keys``), never inside it.

Keys live apart from the records so that crypto-shredding reaches every copy of the
records: a copy of the database file (a backup, a stolen laptop's disk) holds only
ciphertext, and once a party's key is deleted from the key file, no copy of the
database taken before or after can be decrypted with what is left. Key writes are not
part of the records' transactions: :meth:`SQLiteKeyStore.put` is durable when it returns
(the facade writes a key before any record sealed with it), and
:meth:`SQLiteKeyStore.delete` overwrites the key's bytes (``secure_delete``) and
truncates the key file's write-ahead log, so the deleted key is in neither file.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Final

from civiccrm.adapters._evaluate import wrapped_keys
from civiccrm.errors import StorageError, ValidationError

__all__ = ["SQLiteKeyStore", "key_file_path"]

_BACKEND: Final = "sqlite"
_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS civiccrm_keys (key_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL)"
)


def key_file_path(database_path: str) -> str:
    """The key file of the database at ``database_path``."""
    return database_path + ".keys"


class SQLiteKeyStore:
    """
    Wrapped data keys in their own SQLite file (``path``), or in memory (``path`` None,
    for ``sqlite:///:memory:`` databases). Thread-safe: one connection behind a lock,
    reopened in a child process after ``fork``.
    """

    def __init__(self, path: str | None, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._memory: dict[str, bytes] = {}
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        # The file is opened (and created) when first used.

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - a file system without WAL
                raise StorageError(
                    f"{self.path}: the key file cannot use WAL ({mode})", backend=_BACKEND
                )
            # A key must be on disk before records sealed with it are committed.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute(_DDL)
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open the key file {self.path}: {exc}", backend=_BACKEND
            ) from exc
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"{self.path}: the key store is closed", backend=_BACKEND)
        if self._pid != os.getpid():
            # Never use a connection inherited across fork: open our own.
            self._pid = os.getpid()
            self._conn = None
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def put(self, key_id: str, wrapped: bytes) -> None:
        """Store ``wrapped`` under ``key_id`` (replacing it), durably, now."""
        if not isinstance(key_id, str) or not key_id:
            raise ValidationError.at("key_id", "a key id is a non-empty string")
        if not isinstance(wrapped, bytes | bytearray | memoryview):
            raise ValidationError.at("wrapped", f"a wrapped key is bytes, not {type(wrapped)}")
        with self._lock:
            if self.path is None:
                self._check_open()
                self._memory[key_id] = bytes(wrapped)
                return
            self._run(
                "store a key",
                "INSERT INTO civiccrm_keys (key_id, wrapped) VALUES (?, ?)"
                " ON CONFLICT (key_id) DO UPDATE SET wrapped = excluded.wrapped",
                (key_id, bytes(wrapped)),
            )

    def add_many(self, keys: Sequence[tuple[str, bytes]]) -> set[str]:
        """Store each key of an id not stored yet (not even an erased one), in one
        transaction, durably, now; the ids stored. Atomic across processes: of two
        sessions adding the same key at once, one stores it."""
        items = wrapped_keys(keys)
        if not items:
            return set()
        with self._lock:
            added: set[str] = set()
            if self.path is None:
                self._check_open()
                for key_id, wrapped in items:
                    if key_id not in self._memory:
                        self._memory[key_id] = bytes(wrapped)
                        added.add(key_id)
                return added
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for key_id, wrapped in items:
                        cur = conn.execute(
                            "INSERT INTO civiccrm_keys (key_id, wrapped) VALUES (?, ?)"
                            " ON CONFLICT (key_id) DO NOTHING",
                            (key_id, bytes(wrapped)),
                        )
                        if cur.rowcount:
                            added.add(key_id)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(
                    f"storing keys in {self.path} failed: {exc}", backend=_BACKEND
                ) from exc
            return added

    def put_many(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Store many wrapped keys in one transaction, durably, now."""
        items = wrapped_keys(keys)
        if not items:
            return
        with self._lock:
            if self.path is None:
                self._check_open()
                self._memory.update((k, bytes(w)) for k, w in items)
                return
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        "INSERT INTO civiccrm_keys (key_id, wrapped) VALUES (?, ?)"
                        " ON CONFLICT (key_id) DO UPDATE SET wrapped = excluded.wrapped",
                        [(k, bytes(w)) for k, w in items],
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(
                    f"storing keys in {self.path} failed: {exc}", backend=_BACKEND
                ) from exc

    def get_many(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        """The keys that exist among ``key_ids``, by id."""
        wanted = list(dict.fromkeys(key_ids))
        with self._lock:
            if self.path is None:
                self._check_open()
                return {k: self._memory[k] for k in wanted if k in self._memory}
            out: dict[str, bytes] = {}
            conn = self._connection()
            try:
                # One read transaction: a consistent view, one lock.
                conn.execute("BEGIN")
                try:
                    for i in range(0, len(wanted), 500):
                        chunk = wanted[i : i + 500]
                        marks = ", ".join("?" * len(chunk))
                        for key_id, wrapped in conn.execute(
                            f"SELECT key_id, wrapped FROM civiccrm_keys WHERE key_id IN ({marks})",
                            chunk,
                        ):
                            out[key_id] = bytes(wrapped)
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(
                    f"reading keys from {self.path} failed: {exc}", backend=_BACKEND
                ) from exc
            return out

    def get(self, key_id: str) -> bytes | None:
        """The wrapped key stored under ``key_id``, or None."""
        with self._lock:
            if self.path is None:
                self._check_open()
                return self._memory.get(key_id)
            try:
                row = (
                    self._connection()
                    .execute("SELECT wrapped FROM civiccrm_keys WHERE key_id = ?", (key_id,))
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise StorageError(
                    f"reading a key from {self.path} failed: {exc}", backend=_BACKEND
                ) from exc
            return None if row is None else bytes(row[0])

    def list(self, *, after: str = "", limit: int = 1000) -> list[str]:
        """Key ids greater than ``after``, in code point order, at most ``limit``."""
        if limit <= 0:
            return []
        with self._lock:
            if self.path is None:
                self._check_open()
                return sorted(k for k in self._memory if k > after)[:limit]
            try:
                rows = (
                    self._connection()
                    .execute(
                        "SELECT key_id FROM civiccrm_keys WHERE key_id > ? ORDER BY key_id LIMIT ?",
                        (after, limit),
                    )
                    .fetchall()
                )
            except sqlite3.Error as exc:
                raise StorageError(
                    f"listing keys in {self.path} failed: {exc}", backend=_BACKEND
                ) from exc
            return [r[0] for r in rows]

    def delete(self, key_id: str) -> bool:
        """Destroy the key: overwritten in the file, the log truncated. True if it existed."""
        with self._lock:
            if self.path is None:
                self._check_open()
                return self._memory.pop(key_id, None) is not None
            conn = self._connection()
            try:
                cur = conn.execute("DELETE FROM civiccrm_keys WHERE key_id = ?", (key_id,))
                existed = cur.rowcount > 0
                # The old page (with the key) is in the WAL until a checkpoint: copy the
                # overwritten page back into the file and empty the WAL now.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StorageError(
                    f"deleting a key from {self.path} failed: {exc}", backend=_BACKEND
                ) from exc
            return existed

    def _run(self, action: str, sql: str, params: tuple[object, ...]) -> None:
        try:
            self._connection().execute(sql, params)
        except sqlite3.Error as exc:
            raise StorageError(f"{action} in {self.path} failed: {exc}", backend=_BACKEND) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the key store is closed", backend=_BACKEND)

    def close(self) -> None:
        """Close the key file."""
        with self._lock:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
            self._conn = None
