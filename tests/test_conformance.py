"""
The storage conformance suite (civiccrm.testing), run against civiccrm's own backends:
the in-memory reference backend and SQLite (a file per test, reopened for the
persistence and multi-process tests).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from civiccrm.adapters._memory import MemoryStorage
from civiccrm.adapters._sqlite import SQLiteStorage
from civiccrm.testing import (
    AggregateConformance,
    AuditKeyConformance,
    BulkUpsertConformance,
    ConcurrencyConformance,
    CRUDConformance,
    PersistenceConformance,
    QueryConformance,
    StorageFactory,
    StorageFixtures,
    TransactionConformance,
    WorkQueueConformance,
)

# --------------------------------------------------------------------------------------
# memory://


class MemoryFixtures(StorageFixtures):
    """A new MemoryStorage per test; it is not persistent, so no reopener."""

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        return MemoryStorage


class TestMemoryCRUD(CRUDConformance, MemoryFixtures):
    pass


class TestMemoryTransactions(TransactionConformance, MemoryFixtures):
    pass


class TestMemoryQueries(QueryConformance, MemoryFixtures):
    pass


class TestMemoryBulkUpsert(BulkUpsertConformance, MemoryFixtures):
    pass


class TestMemoryConcurrency(ConcurrencyConformance, MemoryFixtures):
    pass


class TestMemoryWorkQueue(WorkQueueConformance, MemoryFixtures):
    pass


class TestMemoryAuditAndKeys(AuditKeyConformance, MemoryFixtures):
    pass


class TestMemoryPersistence(PersistenceConformance, MemoryFixtures):
    pass


class TestMemoryAggregates(AggregateConformance, MemoryFixtures):
    pass


# --------------------------------------------------------------------------------------
# sqlite:///


class SQLiteFixtures(StorageFixtures):
    """A new database file per test, opened again by the reopener."""

    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> StorageFactory:
        return lambda: SQLiteStorage(f"sqlite:///{tmp_path / 'crm.db'}")

    @pytest.fixture
    def storage_reopener(self, tmp_path: Path) -> StorageFactory:
        return lambda: SQLiteStorage(f"sqlite:///{tmp_path / 'crm.db'}")


class TestSQLiteCRUD(CRUDConformance, SQLiteFixtures):
    pass


class TestSQLiteTransactions(TransactionConformance, SQLiteFixtures):
    pass


class TestSQLiteQueries(QueryConformance, SQLiteFixtures):
    pass


class TestSQLiteBulkUpsert(BulkUpsertConformance, SQLiteFixtures):
    pass


class TestSQLiteConcurrency(ConcurrencyConformance, SQLiteFixtures):
    pass


class TestSQLiteWorkQueue(WorkQueueConformance, SQLiteFixtures):
    pass


class TestSQLiteAuditAndKeys(AuditKeyConformance, SQLiteFixtures):
    pass


class TestSQLitePersistence(PersistenceConformance, SQLiteFixtures):
    pass


class TestSQLiteAggregates(AggregateConformance, SQLiteFixtures):
    pass
