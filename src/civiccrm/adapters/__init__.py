"""
civiccrm.adapters: the edges: storage backends (and, in later releases, import/export
formats and notification channels).

The storage SPI (:class:`Storage` and the types it speaks) is what a vendor implements;
:class:`MemoryStorage` (the reference implementation and a test double) and
:class:`SQLiteStorage` (the default) are civiccrm's own.
"""

from civiccrm.adapters._base import (
    Capabilities,
    ColumnSpec,
    ColumnType,
    Cursor,
    Filter,
    IndexSpec,
    KindSpec,
    Op,
    Order,
    Page,
    Query,
    Record,
    Scalar,
    Schema,
    Storage,
    Task,
    UpsertResult,
)
from civiccrm.adapters._memory import MemoryStorage
from civiccrm.adapters._sqlite import SQLiteStorage

__all__ = [
    "Capabilities",
    "ColumnSpec",
    "ColumnType",
    "Cursor",
    "Filter",
    "IndexSpec",
    "KindSpec",
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
    "Task",
    "UpsertResult",
]
