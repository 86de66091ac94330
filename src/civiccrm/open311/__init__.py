"""
Open311 GeoReport v2: documents, import and a framework-agnostic handler.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

__all__: list[str] = []
