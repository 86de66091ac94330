"""
Database URLs as they may be shown: a URL can carry a password (``postgresql://user:
secret@host/db``, ``?password=...``), which must never reach output, errors or logs.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import Final

__all__ = ["redact_url", "scrub_url"]

#: Parts of query-parameter names whose values are secrets (``password``,
#: ``sslpassword``, ``api_token`` ...), in a database URL of any scheme.
_SECRET_PARAMS: Final = ("password", "passwd", "pwd", "secret", "token")


def _url_secrets(url: str) -> tuple[str, list[str]]:
    """
    ``url`` with its secrets masked, and the secrets: the password of its user part
    (``scheme://user:***@host``) and the values of password-like query parameters
    (``?password=***``). A URL without ``://`` (a file path) has none.
    """
    from urllib.parse import unquote

    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, []
    secrets: list[str] = []
    # The user part ends at the last "@" (none when the path starts at once, as in
    # sqlite:///path): a password with an unencoded "@", "/", "?" or "#" is masked
    # whole. An "@" in the path or query may mask more than the password; never less.
    at = -1 if rest.startswith("/") else rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:
        user, _, password = rest[:at].partition(":")
        secrets.append(password)
        rest = f"{user}:***{rest[at:]}"
    head, question, query = rest.partition("?")
    if question:
        items = []
        for item in query.split("&"):
            name, equals, value = item.partition("=")
            if equals and value and any(s in unquote(name).lower() for s in _SECRET_PARAMS):
                secrets.append(value)
                item = f"{name}=***"
            items.append(item)
        rest = f"{head}?{'&'.join(items)}"
    return f"{scheme}://{rest}", secrets


def redact_url(url: str) -> str:
    """``url`` as it may be shown: its password and password-like parameters masked."""
    return _url_secrets(url)[0]


def scrub_url(text: str, url: str) -> str:
    """``text`` (an error message, say) with ``url`` redacted and its secrets removed."""
    from urllib.parse import unquote

    shown, secrets = _url_secrets(url)
    if not secrets:
        return text
    text = text.replace(url, shown)
    for secret in sorted({s for raw in secrets for s in (raw, unquote(raw)) if s}, key=len)[::-1]:
        text = text.replace(secret, "***")
    return text
