"""
civiccrm.routing: pure policy: business calendars, SLA clocks, routing rules, assignment (no I/O).

Nothing is public here yet; later releases fill it in.
"""

__all__: list[str] = []
