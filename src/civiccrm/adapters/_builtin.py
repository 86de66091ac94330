"""civiccrm's own storage backends, registered through the same hooks as any plugin."""

from __future__ import annotations

from civiccrm.adapters._base import Storage
from civiccrm.errors import StorageError
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
    if url.startswith(("postgresql://", "postgres://")):
        # psycopg is an optional extra: imported only when a PostgreSQL URL is opened.
        try:
            from civiccrm.adapters._postgresql import PostgreSQLStorage
        except ImportError as exc:
            hint = (
                "" if "civiccrm[postgresql]" in str(exc) else ": pip install 'civiccrm[postgresql]'"
            )
            raise StorageError(
                f"cannot open {url.split('://', 1)[0]}:// URLs: {exc}{hint}",
                backend="postgresql",
            ) from exc
        postgresql: Storage = PostgreSQLStorage(url)
        return postgresql
    return None


@hookimpl
def civiccrm_storage_schemes() -> list[str]:
    return ["memory", "sqlite", "postgresql"]
