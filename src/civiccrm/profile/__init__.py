"""
Agency profiles: an agency's departments, queues, case types and roles (and later its
calendars, SLA targets, routing rules and retention schedules) in one TOML file.
"""

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
    "ROLE_MODELS",
    "WRITE_KINDS",
    "Agency",
    "Profile",
    "Role",
    "Visibility",
    "load_profile",
    "parse_profile",
    "springfield_path",
]
