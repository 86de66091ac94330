"""
Agency profiles: an agency's departments, queues and case types (and later its
calendars, SLA targets, routing rules, roles and retention schedules) in one TOML file.
"""

from civiccrm.profile._profile import Agency, Profile, load_profile, parse_profile, springfield_path

__all__ = [
    "Agency",
    "Profile",
    "load_profile",
    "parse_profile",
    "springfield_path",
]
