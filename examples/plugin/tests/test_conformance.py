"""civiccrm's conformance suite against this plugin: the whole vendor bootstrap."""

from __future__ import annotations

from pathlib import Path

import pytest
from civiccrm_traced import TracedStorage

import civiccrm
from civiccrm.plugins import open_storage
from civiccrm.testing import *  # noqa: F403
from civiccrm.testing import StorageFactory, StorageFixtures


class TracedFixtures(StorageFixtures):
    # Opened through civiccrm's plugins, by URL: this proves the entry point works.
    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> StorageFactory:
        return lambda: open_storage(f"traced+sqlite:///{tmp_path / 'crm.db'}")

    @pytest.fixture
    def storage_reopener(self, tmp_path: Path) -> StorageFactory:
        return lambda: open_storage(f"traced+sqlite:///{tmp_path / 'crm.db'}")


class TestTracedCRUD(CRUDConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedTransactions(TransactionConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedQueries(QueryConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedBulkUpsert(BulkUpsertConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedConcurrency(ConcurrencyConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedWorkQueue(WorkQueueConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedAuditAndKeys(AuditKeyConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedPersistence(PersistenceConformance, TracedFixtures):  # noqa: F405
    pass


class TestTracedAggregates(AggregateConformance, TracedFixtures):  # noqa: F405
    pass


def test_found_through_the_entry_point(tmp_path: Path) -> None:
    profile = civiccrm.profile.springfield_path()
    with civiccrm.open(f"traced+sqlite:///{tmp_path / 'x.db'}", profile=profile) as crm:
        assert isinstance(crm.storage, TracedStorage)
        crm.cases.open("001", attributes={"size": "small"})
        assert crm.storage.calls["put"] >= 2
        assert "put" in crm.storage.report()
