"""
civiccrm.adapters: the edges: storage backends, import/export formats, notification channels.

Nothing is public here yet; later releases fill it in.
"""

__all__: list[str] = []
