"""Finding and loading plugins."""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from civiccrm import hookspecs
from civiccrm.adapters._base import Storage
from civiccrm.errors import PluginError

__all__ = ["ENTRY_POINT_GROUP", "make_plugin_manager", "open_storage"]

#: The entry-point group through which third-party plugins are found.
ENTRY_POINT_GROUP = "civiccrm"


def make_plugin_manager(
    plugins: Sequence[object] = (), *, load_entry_points: bool = True
) -> pluggy.PluginManager:
    """
    A plugin manager with civiccrm's hooks, its built-in plugins, the plugins installed
    under the ``civiccrm`` entry-point group, and ``plugins`` (objects or modules with
    hook implementations).

    Raises:
        PluginError: a plugin implements a hook that does not exist (a misspelling) or
            with arguments the hook does not have.

    .. versionadded:: 0.1.0
    """
    from civiccrm.adapters import _builtin
    from civiccrm.comms import _builtin as _channels
    from civiccrm.comms import _mailboxes

    pm = pluggy.PluginManager("civiccrm")
    pm.add_hookspecs(hookspecs)
    pm.register(_builtin, name="civiccrm.builtin")
    pm.register(_channels, name="civiccrm.builtin.channels")
    pm.register(_mailboxes, name="civiccrm.builtin.mailboxes")
    try:
        if load_entry_points:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        for plugin in plugins:
            pm.register(plugin)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) if exc.plugin is not None else None
        raise PluginError(
            f"plugin {name or exc.plugin!r} is not valid: {exc}", plugin=name
        ) from exc
    return pm


def open_storage(url: str, pm: pluggy.PluginManager | None = None) -> Storage:
    """
    Open the storage backend for ``url`` through the plugins.

    Raises:
        PluginError: no installed plugin handles the URL's scheme.
        StorageError: the backend could not open it.

    .. versionadded:: 0.1.0
    """
    pm = pm or make_plugin_manager()
    storage: Storage | None = pm.hook.civiccrm_storage_backend(url=url)
    if storage is None:
        schemes = sorted({s for found in pm.hook.civiccrm_storage_schemes() for s in found})
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise PluginError(
            f"no storage backend for {scheme!r} URLs (installed: {', '.join(schemes)}); "
            "is its plugin installed?"
        )
    return storage
