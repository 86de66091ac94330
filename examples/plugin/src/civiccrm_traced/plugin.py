"""The plugin's hook implementations: what the ``civiccrm`` entry point names."""

from __future__ import annotations

import civiccrm
from civiccrm.adapters import Storage
from civiccrm_traced._storage import PREFIX, TracedStorage


@civiccrm.hookimpl
def civiccrm_storage_backend(url: str) -> Storage | None:
    """Open ``traced+<url>``; leave every other URL to other plugins."""
    if not url.startswith(PREFIX):
        return None
    return TracedStorage(url)


@civiccrm.hookimpl
def civiccrm_storage_schemes() -> list[str]:
    return ["traced+<scheme>"]
