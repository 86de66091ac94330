"""Reports: KPIs over any period and slice (stub; being built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["ReportService"]


class ReportService:
    """``crm.reports``."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
