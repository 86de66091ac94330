"""
civiccrm's own message channels (``smtp://``, ``smtps://``, ``files:``), as a plugin
that answers the ``civiccrm_message_channel`` hook after every other plugin.

:func:`civiccrm.comms.channels.open_channel` falls back to them without this module
being registered; registering it (as ``civiccrm.adapters._builtin`` is for storage)
only makes them visible to ``pm.hook.civiccrm_message_channel`` callers too.
"""

from __future__ import annotations

from civiccrm.comms.channels import MessageChannel, builtin_channel
from civiccrm.hookspecs import hookimpl


@hookimpl(trylast=True)
def civiccrm_message_channel(spec: str) -> MessageChannel | None:
    return builtin_channel(spec)
