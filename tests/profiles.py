"""Profiles for tests."""

from __future__ import annotations

import attrs

from civiccrm.profile import Profile
from civiccrm.routing.settings import Automations


def without_automation(profile: Profile) -> Profile:
    """
    ``profile`` with routing on open and the built-in automations switched off: for
    tests of the lifecycle, the SLA and storage, which count the events a change makes.
    """
    return attrs.evolve(
        profile,
        routing=attrs.evolve(profile.routing, route_on_open=False),
        automations=Automations(),
        duplicates=(),
    )
