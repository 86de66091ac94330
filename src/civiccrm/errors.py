"""
Every exception civiccrm raises on purpose.

They live in one module so that every layer can import them without import loops.
A caller never sees a bare ``KeyError`` or a database driver's exception: whatever
goes wrong, it is one of these::

    CivicCRMError
    ├── ValidationError (ValueError)        bad input: one or more (path, message) problems
    ├── PolicyError                         a bad agency profile: every problem by its TOML path
    ├── NotFoundError (LookupError)         no record with that id or key
    ├── ConflictError                       a stale write lost to a newer version
    ├── TransitionError                     a case status change the lifecycle forbids
    ├── AccessDeniedError (PermissionError) the caller's role may not do or see this
    ├── IntegrityError                      audit chain broken, key missing, ciphertext moved
    ├── StorageError                        the backend failed (wraps the driver's exception)
    └── PluginError                         a plugin is broken or nothing handles a request

Catch ``CivicCRMError`` to handle everything civiccrm raises; catch a leaf to handle one
kind. Each carries structured context (``.problems``, ``.record_type``, ``.record_id``,
``.from_status`` ...) besides its message, so a front end can show it in its own words.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from civiccrm.models import CaseStatus

__all__ = [
    "AccessDeniedError",
    "CivicCRMError",
    "ConflictError",
    "IntegrityError",
    "NotFoundError",
    "PluginError",
    "PolicyError",
    "Problem",
    "StorageError",
    "TransitionError",
    "ValidationError",
]


class CivicCRMError(Exception):
    """
    The root of every exception civiccrm raises on purpose.

    .. versionadded:: 0.1.0
    """


@attrs.frozen
class Problem:
    """
    One thing wrong with an input: where it is and what is wrong with it.

    ``path`` is a dotted path with list indexes, relative to the value that was checked,
    such as ``contact_points[0].value`` or ``case_types[2].attributes[0].datatype``;
    an empty path means the value as a whole.

    .. versionadded:: 0.1.0
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def prefixed(self, prefix: str) -> Problem:
        """
        Return this problem with ``prefix`` put in front of its path.

        A prefix that starts with ``[`` (a list index) is joined without a dot.
        """
        if not prefix:
            return self
        if not self.path:
            return Problem(prefix, self.message)
        sep = "" if self.path.startswith("[") else "."
        return Problem(f"{prefix}{sep}{self.path}", self.message)


def _join(problems: tuple[Problem, ...], what: str) -> str:
    if len(problems) == 1:
        return f"{what}: {problems[0]}"
    listed = "\n".join(f"  - {p}" for p in problems)
    return f"{what}: {len(problems)} problems\n{listed}"


class ValidationError(CivicCRMError, ValueError):
    """
    Raised when input is not acceptable: a model field, a dict being structured, a
    case's custom attributes, a command-line argument.

    It lists every problem found, not just the first, each as a :class:`Problem`
    (path and message). ``str()`` gives a readable summary; :meth:`messages` gives
    ``"<message> @ $.<path>"`` strings for an API response or a form.

    Args:
        problems: the problems, or a single message string (the path is then empty).
        record_type: the name of the model being checked, if any.

    .. versionadded:: 0.1.0
    """

    problems: tuple[Problem, ...]
    record_type: str | None

    def __init__(
        self, problems: Iterable[Problem] | str, *, record_type: str | None = None
    ) -> None:
        if isinstance(problems, str):
            problems = (Problem("", problems),)
        self.problems = tuple(problems)
        if not self.problems:
            raise ValueError("ValidationError needs at least one problem")
        self.record_type = record_type
        super().__init__(_join(self.problems, f"invalid {record_type or 'input'}"))

    @classmethod
    def at(cls, path: str, message: str) -> ValidationError:
        """Make an error with one problem at ``path``."""
        return cls((Problem(path, message),))

    def prefixed(self, prefix: str) -> ValidationError:
        """Return the same problems with ``prefix`` put in front of every path."""
        return ValidationError(
            (p.prefixed(prefix) for p in self.problems), record_type=self.record_type
        )

    def messages(self) -> list[str]:
        """
        The problems as ``"<message> @ $.<path>"`` strings, one per problem.

        >>> ValidationError.at("emails[0]", "not an email address").messages()
        ['not an email address @ $.emails[0]']
        """
        out = []
        for p in self.problems:
            if not p.path:
                out.append(f"{p.message} @ $")
            else:
                sep = "" if p.path.startswith("[") else "."
                out.append(f"{p.message} @ ${sep}{p.path}")
        return out


class PolicyError(CivicCRMError):
    """
    Raised when an agency profile cannot be used: it cannot be read, is not valid TOML,
    or describes something impossible (an unknown time zone, a queue in a department
    that does not exist, a datatype Open311 does not have).

    Every problem is listed at once by its TOML path, such as
    ``case_types[2].attributes[0].datatype: 'integer' is not one of ...``.

    .. versionadded:: 0.1.0
    """

    problems: tuple[Problem, ...]
    source: str | None

    def __init__(self, problems: Iterable[Problem] | str, *, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = (Problem("", problems),)
        self.problems = tuple(problems)
        self.source = source
        where = f"profile {source}" if source else "profile"
        super().__init__(_join(self.problems, f"bad {where}"))


class NotFoundError(CivicCRMError, LookupError):
    """
    Raised when no record has the id or key asked for.

    .. versionadded:: 0.1.0
    """

    def __init__(self, record_type: str, key: object) -> None:
        self.record_type = record_type
        self.key = key
        shown = key if isinstance(key, uuid.UUID) else repr(key)
        super().__init__(f"no {record_type} {shown}")


class ConflictError(CivicCRMError):
    """
    Raised when a write was based on a version of a record that is no longer current:
    somebody else changed it first. Reload the record and try again; a stale write
    never silently wins.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        record_type: str,
        record_id: object,
        *,
        expected_version: int | None = None,
        actual_version: int | None = None,
    ) -> None:
        self.record_type = record_type
        self.record_id = record_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        detail = ""
        if expected_version is not None:
            detail = f": expected version {expected_version}, found {actual_version}"
        super().__init__(f"{record_type} {record_id} was changed by someone else{detail}")


class TransitionError(CivicCRMError):
    """
    Raised when a case is asked to move between two statuses that the case lifecycle
    does not connect (for example ``closed`` to ``in_progress``).

    ``from_status`` and ``to_status`` name the two; ``allowed`` lists where the case
    could go instead.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        from_status: CaseStatus,
        to_status: CaseStatus,
        *,
        allowed: Iterable[CaseStatus] = (),
        reason: str | None = None,
    ) -> None:
        self.from_status = from_status
        self.to_status = to_status
        self.allowed = tuple(allowed)
        options = ", ".join(s.value for s in self.allowed) or "nothing (final status)"
        why = reason or f"allowed from {from_status.value}: {options}"
        super().__init__(
            f"cannot move a case from {from_status.value} to {to_status.value} ({why})"
        )


class AccessDeniedError(CivicCRMError, PermissionError):
    """
    Raised when the caller's role does not allow the read or write asked for.

    .. versionadded:: 0.1.0
    """


class IntegrityError(CivicCRMError):
    """
    Raised when stored data fails a check that proves it is whole and authentic: a
    broken audit chain, a missing or wrong key, a ciphertext moved to another record.

    .. versionadded:: 0.1.0
    """


class StorageError(CivicCRMError):
    """
    Raised when a storage backend fails for a reason of its own (disk full, database
    unreachable, a file written by a newer civiccrm). ``backend`` names the backend;
    the driver's exception is chained as ``__cause__``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, *, backend: str | None = None) -> None:
        self.backend = backend
        super().__init__(f"{backend}: {message}" if backend else message)


class PluginError(CivicCRMError):
    """
    Raised when a plugin cannot be used (it implements a hook that does not exist, or
    with the wrong arguments) or when no plugin handles a request (no storage backend
    for a URL scheme). ``plugin`` names the plugin when one is at fault.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)
