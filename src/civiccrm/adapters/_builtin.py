"""civiccrm's own storage backends, registered through the same hooks as any plugin."""

from __future__ import annotations

from civiccrm.adapters._base import Storage
from civiccrm.hookspecs import hookimpl


@hookimpl
def civiccrm_storage_backend(url: str) -> Storage | None:
    if url == "memory://" or url.startswith("memory://"):
        from civiccrm.adapters._memory import MemoryStorage

        storage: Storage = MemoryStorage(url)
        return storage
    if url.startswith("sqlite://"):
        from civiccrm.adapters._sqlite import SQLiteStorage

        sqlite: Storage = SQLiteStorage(url)
        return sqlite
    return None


@hookimpl
def civiccrm_storage_schemes() -> list[str]:
    return ["memory", "sqlite"]
