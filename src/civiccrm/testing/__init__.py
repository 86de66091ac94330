"""
civiccrm.testing: the storage conformance suite, shipped with civiccrm so that a vendor
proves a backend with the very tests civiccrm runs against its own.

The suite is a set of pytest mixins, one per concern, plus :class:`StorageFixtures`,
whose ``storage_factory`` fixture you override to open your backend. Tests ask the
backend's :class:`~civiccrm.adapters._base.Capabilities` what it can do (``persistent``,
``thread_safe``, ``multi_process``, ``aggregates``) and skip, naming the capability,
when it cannot; they never look at backend names. The whole bootstrap is one test
file::

    # tests/test_conformance.py in your plugin's repository
    import pytest

    from civiccrm.testing import *  # noqa: F403
    from my_backend import MyStorage


    class MyFixtures(StorageFixtures):
        @pytest.fixture
        def storage_factory(self, tmp_path):
            # Called once per test: open a fresh, empty backend.
            return lambda: MyStorage(f"my:///{tmp_path}/crm")

        @pytest.fixture
        def storage_reopener(self, tmp_path):
            # Only for capabilities.persistent / multi_process: open the SAME database again.
            return lambda: MyStorage(f"my:///{tmp_path}/crm")


    class TestMyCRUD(CRUDConformance, MyFixtures): pass
    class TestMyTransactions(TransactionConformance, MyFixtures): pass
    class TestMyQueries(QueryConformance, MyFixtures): pass
    class TestMyBulkUpsert(BulkUpsertConformance, MyFixtures): pass
    class TestMyConcurrency(ConcurrencyConformance, MyFixtures): pass
    class TestMyWorkQueue(WorkQueueConformance, MyFixtures): pass
    class TestMyAuditAndKeys(AuditKeyConformance, MyFixtures): pass
    class TestMyPersistence(PersistenceConformance, MyFixtures): pass
    class TestMyAggregates(AggregateConformance, MyFixtures): pass

Before each test the suite migrates :data:`CONFORMANCE_SCHEMA` into the fresh backend,
and it closes every backend it opened afterwards. New releases of civiccrm add tests to
these mixins: run the suite against each release you support. See ``docs/plugins.md``.

This package imports pytest: import it from test code only.

.. versionadded:: 0.1.0
"""

import pytest

# The mixins' plain asserts should explain themselves in a vendor's test run, as a test
# module's do: ask pytest to rewrite them (before the submodules are imported).
pytest.register_assert_rewrite(
    "civiccrm.testing._aggregate",
    "civiccrm.testing._audit_keys",
    "civiccrm.testing._bulk",
    "civiccrm.testing._concurrency",
    "civiccrm.testing._crud",
    "civiccrm.testing._fixtures",
    "civiccrm.testing._persistence",
    "civiccrm.testing._query",
    "civiccrm.testing._queue",
    "civiccrm.testing._transactions",
)

from civiccrm.testing._aggregate import AggregateConformance  # noqa: E402
from civiccrm.testing._audit_keys import AuditKeyConformance  # noqa: E402
from civiccrm.testing._bulk import BulkUpsertConformance  # noqa: E402
from civiccrm.testing._concurrency import ConcurrencyConformance  # noqa: E402
from civiccrm.testing._crud import CRUDConformance  # noqa: E402
from civiccrm.testing._fixtures import (  # noqa: E402
    CONFORMANCE_SCHEMA,
    Reopener,
    StorageFactory,
    StorageFixtures,
    require,
)
from civiccrm.testing._persistence import PersistenceConformance  # noqa: E402
from civiccrm.testing._query import QueryConformance  # noqa: E402
from civiccrm.testing._queue import WorkQueueConformance  # noqa: E402
from civiccrm.testing._transactions import TransactionConformance  # noqa: E402

__all__ = [
    "AggregateConformance",
    "AuditKeyConformance",
    "BulkUpsertConformance",
    "CONFORMANCE_SCHEMA",
    "CRUDConformance",
    "ConcurrencyConformance",
    "PersistenceConformance",
    "QueryConformance",
    "Reopener",
    "StorageFactory",
    "StorageFixtures",
    "TransactionConformance",
    "WorkQueueConformance",
    "require",
]
