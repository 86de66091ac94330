"""
Agency profiles: an agency's departments, queues, case types, roles, business calendars
and SLA policies (and later its routing rules and retention schedules) in one TOML file.

The calendars are :class:`civiccrm.routing.calendar.BusinessCalendar` and the policies
:class:`civiccrm.routing.sla.SlaPolicy`.
"""

from civiccrm.profile._open311 import (
    DEFAULT_OPEN311,
    EXTENDED_STATUSES,
    Open311Discovery,
    Open311Settings,
)
from civiccrm.profile._profile import (
    ROLE_MODELS,
    WRITE_KINDS,
    Agency,
    Profile,
    Role,
    Visibility,
    load_profile,
    parse_profile,
    springfield_path,
)

__all__ = [
    "DEFAULT_OPEN311",
    "EXTENDED_STATUSES",
    "ROLE_MODELS",
    "WRITE_KINDS",
    "Agency",
    "Open311Discovery",
    "Open311Settings",
    "Profile",
    "Role",
    "Visibility",
    "load_profile",
    "parse_profile",
    "springfield_path",
]
