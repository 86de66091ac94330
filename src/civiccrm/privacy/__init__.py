"""
Personal data at rest and in use: field encryption and blind indexes (``crypto``), the
hash-chained audit log (``audit``) and role-based views (``access``).

Everything here is pure policy: no I/O. The facade (:mod:`civiccrm.crm`) wires it to
storage, keys and the caller.
"""

__all__: list[str] = []
