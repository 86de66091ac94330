"""
civiccrm.privacy: pure policy and keys: classification, redaction, encryption, retention, audit, access (no I/O).

Nothing is public here yet; later releases fill it in.
"""

__all__: list[str] = []
