"""
civiccrm: a framework-agnostic CRM core for government.

Citizen and organization records, cases from intake to resolution, interactions on
every channel, agency profiles, and the personal-data declaration everything else
reads. See https://civiccrm.readthedocs.io (docs/ in the source tree).
"""

from typing import Any

from civiccrm._clock import Clock, FixedClock, SystemClock
from civiccrm._dsr import AccessExport, ErasureDecision, Refusal
from civiccrm._export import ExportResult
from civiccrm._import import ImportMapping, ImportResult, load_mapping
from civiccrm._keys import KeyProvider, LocalKeyProvider, RotationReport
from civiccrm._retention import RetentionPlan
from civiccrm._workers import (
    BatchHandler,
    BatchReport,
    TopicHandler,
    WorkBatch,
    WorkerReport,
    WorkerTopic,
    WorkTask,
)
from civiccrm.crm import CRM, Actor, open
from civiccrm.errors import (
    AccessDeniedError,
    CivicCRMError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    PluginError,
    PolicyError,
    Problem,
    StorageError,
    TransitionError,
    ValidationError,
)
from civiccrm.hookspecs import hookimpl
from civiccrm.profile import Profile, load_profile, parse_profile
from civiccrm.reporting import Dimension, KpiReport

__all__ = [
    "CRM",
    "AccessDeniedError",
    "AccessExport",
    "Actor",
    "BatchHandler",
    "BatchReport",
    "CivicCRMError",
    "Clock",
    "ConflictError",
    "Dimension",
    "ErasureDecision",
    "ExportResult",
    "FixedClock",
    "ImportMapping",
    "ImportResult",
    "IntegrityError",
    "KeyProvider",
    "KpiReport",
    "LocalKeyProvider",
    "NotFoundError",
    "PluginError",
    "PolicyError",
    "Problem",
    "Profile",
    "Refusal",
    "RetentionPlan",
    "RotationReport",
    "StorageError",
    "SystemClock",
    "TopicHandler",
    "TransitionError",
    "ValidationError",
    "WorkBatch",
    "WorkTask",
    "WorkerReport",
    "WorkerTopic",
    "hookimpl",
    "load_mapping",
    "load_profile",
    "open",
    "parse_profile",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("civiccrm")
    raise AttributeError(f"module 'civiccrm' has no attribute {name!r}")
