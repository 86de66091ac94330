"""
The facade's file import service: ``crm.imports`` (streaming CSV and JSON Lines).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["ImportService"]


class ImportService:
    """Streaming import of CSV and JSON Lines files through a mapping."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
