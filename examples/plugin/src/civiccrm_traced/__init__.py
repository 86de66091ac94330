"""An example civiccrm storage plugin: ``traced+<url>`` times every storage operation."""

from civiccrm_traced._storage import TracedStorage

__all__ = ["TracedStorage"]
