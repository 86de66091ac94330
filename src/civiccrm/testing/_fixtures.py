"""
The fixtures every conformance mixin uses, the schema the suite migrates, and small
helpers shared by the mixins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final, Literal, TypeAlias

import attrs
import pytest

from civiccrm.adapters._base import (
    ColumnSpec,
    ColumnType,
    Filter,
    IndexSpec,
    KindSpec,
    Query,
    Record,
    Scalar,
    Schema,
    Storage,
)

__all__ = [
    "CONFORMANCE_SCHEMA",
    "OPEN_STATUSES",
    "Capability",
    "Reopener",
    "StorageFactory",
    "StorageFixtures",
    "StorageHandles",
    "case",
    "expected_order",
    "ids",
    "normalized",
    "paginate",
    "require",
]

#: A callable that opens a backend (no arguments).
StorageFactory: TypeAlias = Callable[[], Storage]

#: The name of a field of :class:`~civiccrm.adapters._base.Capabilities`.
Capability: TypeAlias = Literal["persistent", "thread_safe", "multi_process"]

#: The statuses the partial index of ``case`` covers.
OPEN_STATUSES: Final = ("new", "open", "in_progress")

#: The schema the suite migrates before every test: two kinds with a key column each,
#: TEXT, INTEGER and REAL columns, and a partial index.
CONFORMANCE_SCHEMA: Final = Schema(
    version=1,
    kinds=(
        KindSpec(
            "case",
            columns=(
                ColumnSpec("status", ColumnType.TEXT, indexed=True),
                ColumnSpec("queue", ColumnType.TEXT, indexed=True),
                ColumnSpec("priority", ColumnType.INTEGER),
                ColumnSpec("due_at", ColumnType.INTEGER),
                ColumnSpec("opened_at", ColumnType.INTEGER),
                ColumnSpec("requester", ColumnType.TEXT, indexed=True),
                ColumnSpec("score", ColumnType.REAL),
                ColumnSpec("external_id", ColumnType.TEXT),
            ),
            indexes=(
                IndexSpec(
                    "case_open_due",
                    ("due_at",),
                    where=(Filter("status", "in", OPEN_STATUSES),),
                ),
            ),
            key_column="external_id",
        ),
        KindSpec(
            "party",
            columns=(
                ColumnSpec("email_hash", ColumnType.TEXT, indexed=True),
                ColumnSpec("external_id", ColumnType.TEXT),
            ),
            key_column="external_id",
        ),
    ),
)

_GUIDE: Final = "see docs/plugins.md"


def require(storage: Storage, capability: Capability) -> None:
    """Skip the calling test unless ``storage`` declares ``capability``."""
    if not getattr(storage.capabilities, capability):
        pytest.skip(f"needs capabilities.{capability}; {type(storage).__name__} declares it False")


class StorageHandles:
    """The backend objects a test opened; whatever is still open is closed at teardown."""

    def __init__(self) -> None:
        self._open: list[Storage] = []

    def track(self, storage: Storage) -> Storage:
        """Close ``storage`` at teardown unless the test closes it through :meth:`close`."""
        self._open.append(storage)
        return storage

    def close(self, storage: Storage) -> None:
        """Close ``storage`` now (once)."""
        for i, s in enumerate(self._open):
            if s is storage:
                del self._open[i]
                s.close()
                return

    def close_all(self) -> None:
        """Close every backend still open, the last opened first."""
        while self._open:
            self._open.pop().close()


class Reopener:
    """
    Opens the database a test's ``storage`` uses once more, through the vendor's
    ``storage_reopener``; every handle it opens is migrated to
    :data:`CONFORMANCE_SCHEMA` and closed at teardown.
    """

    def __init__(
        self,
        storage: Storage,
        reopener: StorageFactory | None,
        handles: StorageHandles,
    ) -> None:
        self._storage = storage
        self._reopener = reopener
        self._handles = handles
        self._current: list[Storage] = [storage]

    def _open(self, capability: Capability) -> Storage:
        require(self._storage, capability)
        if self._reopener is None:
            pytest.skip(
                f"tests of capabilities.{capability} need the storage_reopener fixture: "
                "override it to return a callable that opens the same database again "
                f"({_GUIDE})"
            )
        storage = self._handles.track(self._reopener())
        storage.migrate(CONFORMANCE_SCHEMA)
        return storage

    def again(self) -> Storage:
        """
        Close every open handle on the database, open it again and return the new
        handle (skips unless the backend declares ``capabilities.persistent``).
        """
        for s in self._current:
            self._handles.close(s)
        fresh = self._open("persistent")
        self._current = [fresh]
        return fresh

    def another(self) -> Storage:
        """
        Open a second handle on the same database while the first stays open (skips
        unless the backend declares ``capabilities.multi_process``).
        """
        other = self._open("multi_process")
        self._current.append(other)
        return other


class StorageFixtures:
    """
    The fixtures of the conformance suite. Subclass it, override
    :meth:`storage_factory` (and :meth:`storage_reopener` for a persistent or
    multi-process backend), and combine the subclass with the mixins::

        class MyFixtures(StorageFixtures):
            @pytest.fixture
            def storage_factory(self, tmp_path):
                return lambda: MyStorage(f"my:///{tmp_path}/crm")

            @pytest.fixture
            def storage_reopener(self, tmp_path):
                return lambda: MyStorage(f"my:///{tmp_path}/crm")


        class TestMyCRUD(CRUDConformance, MyFixtures):
            pass

    .. versionadded:: 0.1.0
    """

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        """
        **Override this.** Return a callable that opens a fresh, empty backend each
        time the suite calls it (once per test).
        """
        raise NotImplementedError(
            "override storage_factory to return a callable that opens a fresh, empty "
            "backend (called once per test, with no arguments), for example "
            "`return lambda: MyStorage(url)` in a fixture method of your "
            f"StorageFixtures subclass; {_GUIDE}"
        )

    @pytest.fixture
    def storage_reopener(self) -> StorageFactory | None:
        """
        Override this for a backend that declares ``capabilities.persistent`` or
        ``capabilities.multi_process``: return a callable that opens the SAME database
        the test's ``storage_factory`` opened, once more. The default, None, skips the
        tests that need it.
        """
        return None

    @pytest.fixture
    def storage_handles(self) -> Iterator[StorageHandles]:
        """Every backend the test opened; the ones still open are closed afterwards."""
        handles = StorageHandles()
        yield handles
        handles.close_all()

    @pytest.fixture
    def storage(self, storage_factory: StorageFactory, storage_handles: StorageHandles) -> Storage:
        """A fresh backend from ``storage_factory``, migrated to :data:`CONFORMANCE_SCHEMA`."""
        storage = storage_handles.track(storage_factory())
        storage.migrate(CONFORMANCE_SCHEMA)
        return storage

    @pytest.fixture
    def reopen(
        self,
        storage: Storage,
        storage_reopener: StorageFactory | None,
        storage_handles: StorageHandles,
    ) -> Reopener:
        """Opens ``storage``'s database again (see :class:`Reopener`)."""
        return Reopener(storage, storage_reopener, storage_handles)


# --------------------------------------------------------------------------------------
# Helpers for the mixins


def case(
    record_id: str,
    doc: object = None,
    *,
    kind: str = "case",
    version: int = 0,
    **columns: Scalar,
) -> Record:
    """A record of ``kind`` (``case`` by default) whose doc is ``doc`` as JSON."""
    text = json.dumps({"id": record_id} if doc is None else doc, ensure_ascii=False)
    return Record(kind, record_id, version, text, columns)


def normalized(record: Record, kind: str | None = None) -> dict[str, Scalar]:
    """``record``'s columns as a backend returns them: every column of the kind, NULL if missing."""
    spec = CONFORMANCE_SCHEMA.kind(kind or record.kind)
    return {c.name: record.columns.get(c.name) for c in spec.columns}


def expected_order(records: Iterable[Record], column: str | None, descending: bool) -> list[str]:
    """
    The ids of ``records`` in the contract's order, computed the plain way: non-NULL
    values sorted by value (then id ascending), then NULLs by id.
    """
    rows = sorted(records, key=lambda r: r.id)
    if column is None:
        return [r.id for r in rows]
    present = [r for r in rows if r.columns.get(column) is not None]
    nulls = [r for r in rows if r.columns.get(column) is None]
    # A stable sort keeps the id order among equal values, in either direction.
    present.sort(key=lambda r: r.columns[column], reverse=descending)  # type: ignore[arg-type,return-value]
    return [r.id for r in present] + [r.id for r in nulls]


def paginate(storage: Storage, query: Query, *, max_pages: int) -> list[list[str]]:
    """Follow ``next`` cursors from ``query``; the ids of each page. Fails after ``max_pages``."""
    pages: list[list[str]] = []
    while True:
        page = storage.query(query)
        pages.append([r.id for r in page.records])
        if page.next is None:
            return pages
        assert len(pages) < max_pages, f"still paginating after {max_pages} pages"
        assert page.records, "an empty page must not have a next cursor"
        query = attrs.evolve(query, after=page.next)


def ids(records: Sequence[Record]) -> list[str]:
    """The ids of ``records``, in order."""
    return [r.id for r in records]
