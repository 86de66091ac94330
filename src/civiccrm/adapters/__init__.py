"""
civiccrm.adapters: the edges: storage backends (and, in later releases, import/export
formats and notification channels).

The storage SPI (:class:`Storage` and the types it speaks) is what a vendor implements;
:class:`MemoryStorage` (the reference implementation and a test double),
:class:`SQLiteStorage` (the default) and ``PostgreSQLStorage`` are civiccrm's own.
``PostgreSQLStorage`` needs the ``postgresql`` extra (``pip install
'civiccrm[postgresql]'``): it is imported when first used, so that importing civiccrm
never imports psycopg.
"""

from typing import TYPE_CHECKING

from civiccrm.adapters._base import (
    Aggregate,
    AggregateFunction,
    AggregateRow,
    Capabilities,
    ColumnSpec,
    ColumnType,
    Cursor,
    Filter,
    GroupBy,
    IndexSpec,
    KindSpec,
    Measure,
    Op,
    Order,
    Page,
    Query,
    Record,
    Scalar,
    Schema,
    Storage,
    SupportsAggregates,
    Task,
    TimeBucket,
    UpsertResult,
)
from civiccrm.adapters._memory import MemoryStorage
from civiccrm.adapters._sqlite import SQLiteStorage

if TYPE_CHECKING:
    from civiccrm.adapters._postgresql import PostgreSQLStorage as PostgreSQLStorage

__all__ = [
    "Aggregate",
    "AggregateFunction",
    "AggregateRow",
    "Capabilities",
    "ColumnSpec",
    "ColumnType",
    "Cursor",
    "Filter",
    "GroupBy",
    "IndexSpec",
    "KindSpec",
    "Measure",
    "MemoryStorage",
    "Op",
    "Order",
    "Page",
    "Query",
    "Record",
    "SQLiteStorage",
    "Scalar",
    "Schema",
    "Storage",
    "SupportsAggregates",
    "Task",
    "TimeBucket",
    "UpsertResult",
]


def __getattr__(name: str) -> object:
    # PostgreSQLStorage, imported on first use (psycopg is an optional extra).
    if name == "PostgreSQLStorage":
        from civiccrm.adapters._postgresql import PostgreSQLStorage

        return PostgreSQLStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
