"""
The facade's worker service: ``crm.workers`` (claimed batches from many processes).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["WorkerService"]


class WorkerService:
    """Work claimed in batches under expiring leases, from many processes or hosts."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
