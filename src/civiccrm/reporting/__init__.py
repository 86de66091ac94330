"""
civiccrm.reporting: KPIs over any period and slice (``crm.reports``).

Volume and weekly trend, backlog and aging, first-response and resolution times
(median and p90 in business time), SLA compliance, reopen rate, cases per agent,
satisfaction and channel mix: computed by the storage backend's aggregate queries
where it has them, from streamed columns otherwise, and returned as typed results
(:class:`KpiReport`) that turn into CSV, JSON, a text table and PNG charts.
``docs/reporting.md`` defines every figure.

Reports read indexed columns only, never a record's document: they read and decrypt
no personal data.

.. versionadded:: 0.1.0
"""

from civiccrm.reporting._model import (
    AGING_BUCKETS,
    AgentCount,
    AgingCount,
    ChannelCount,
    Dimension,
    GroupKpis,
    KpiReport,
    Kpis,
    ReportSlice,
    Satisfaction,
    TimeKpi,
    WeekCount,
)
from civiccrm.reporting._service import ReportService

__all__ = [
    "AGING_BUCKETS",
    "AgentCount",
    "AgingCount",
    "ChannelCount",
    "Dimension",
    "GroupKpis",
    "KpiReport",
    "Kpis",
    "ReportService",
    "ReportSlice",
    "Satisfaction",
    "TimeKpi",
    "WeekCount",
]
