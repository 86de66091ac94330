"""``crm.mail`` (stub; being built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["MailService"]


class MailService:
    """``crm.mail``."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm
