"""
Outbound message channels: what carries a message from the outbox to a citizen.

A channel is any object with the :class:`MessageChannel` shape. civiccrm has two built
in, opened from a *spec* string:

- ``smtp://[user[:password]@]host[:port][?starttls=true&timeout=60&cafile=PATH&from=ADDR]``
  and ``smtps://...`` (TLS from the first byte, port 465): email through an SMTP
  server, with the standard library's :mod:`smtplib`. STARTTLS is on by default
  (``starttls=false`` for a relay on the same host); credentials come from the spec
  or from ``$CIVICCRM_SMTP_USERNAME`` and ``$CIVICCRM_SMTP_PASSWORD``, are never
  logged, and are never sent without TLS.
- ``files:/path/to/outbox``: one RFC 5322 ``.eml`` file per message, named by the
  outbox message's id and written atomically (for a pickup by another system, for
  demos and tests). Writing a message again writes the same file: it is idempotent.

Anything else (an SMS gateway, a letter printing service, an email API) is a plugin
implementing the ``civiccrm_message_channel(spec)`` hook; see ``docs/communications.md``.
:class:`CapturingChannel` is a test double that keeps what it is given.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import email.policy
import errno
import os
import smtplib
import socket
import ssl
import tempfile
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from civiccrm.errors import CivicCRMError, PluginError, ValidationError

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "MEDIA",
    "CapturingChannel",
    "ChannelError",
    "FileChannel",
    "MessageChannel",
    "OutgoingMessage",
    "SmtpChannel",
    "open_channel",
]

#: The media a message can go on.
MEDIA: Final = frozenset({"email", "sms"})

#: How messages are written: SMTP's CRLF, lines up to 998 characters.
_WIRE: Final = email.policy.SMTP.clone(max_line_length=998)

#: Where the SMTP channel finds credentials that its spec does not give.
SMTP_USERNAME_ENV: Final = "CIVICCRM_SMTP_USERNAME"
SMTP_PASSWORD_ENV: Final = "CIVICCRM_SMTP_PASSWORD"


class ChannelError(CivicCRMError):
    """
    Raised by a channel that could not take a message.

    ``code`` says why in a few characters that never quote the message (``smtp_550``,
    ``connection_refused``, ``timeout``), and is what the outbox keeps. ``permanent``:
    trying again will not help (the address does not exist), so the message fails at
    once. ``channel_down``: the channel itself is unusable (it cannot connect, log in
    or secure the connection), whatever the message; the attempt is not counted
    against the message and the dispatcher stops until its next run. A refusal of one
    message is never ``channel_down``: that would stop every run at that message.

    .. versionadded:: 0.1.0
    """

    def __init__(self, code: str, *, permanent: bool = False, channel_down: bool = False) -> None:
        self.code = code
        self.permanent = permanent
        self.channel_down = channel_down
        what = "permanent" if permanent else "channel down" if channel_down else "temporary"
        super().__init__(f"the channel did not take the message: {code} ({what})")


def ascii_domain(address: str) -> str:
    """
    ``address`` with an internationalised domain in its ASCII (IDNA) form, so that
    ``ana@bücher.example`` goes through servers without SMTPUTF8; a local part that
    is not ASCII is left to SMTPUTF8.

    >>> ascii_domain("ana@bücher.example")
    'ana@xn--bcher-kva.example'

    .. versionadded:: 0.1.0
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def _cte(body: str) -> str:
    """7bit for short ASCII lines, else quoted-printable (safe through any server)."""
    if body.isascii() and all(len(line) <= 78 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


@attrs.frozen(kw_only=True)
class OutgoingMessage:
    """
    One message as a channel receives it: rendered, addressed, and identified the same
    way on every attempt (``id``, ``message_id`` and ``date`` do not change), so that a
    repeat after a crash can be recognised.

    .. versionadded:: 0.1.0
    """

    #: The outbox message's id.
    id: uuid.UUID
    #: ``email`` or ``sms``.
    medium: str
    #: An email address, or an E.164 phone number. (Personal data: left out of reprs.)
    recipient: str = attrs.field(repr=False)
    subject: str | None = attrs.field(repr=False)
    body: str = attrs.field(repr=False)
    #: ``<c.{case uuid hex}.{random hex}@{domain}>`` for a message about a case.
    message_id: str
    #: When it was queued (the email's Date header).
    date: datetime
    #: The From header (the profile's ``from_address``); None: the channel's own.
    sender: str | None = None
    reply_to: str | None = None
    #: The case reference it is about, if any (also in the subject, in brackets).
    case_reference: str | None = None
    language: str | None = None
    #: Which attempt this is (1 for the first).
    attempt: int = 1

    def as_email(self, *, sender: str | None = None) -> EmailMessage:
        """
        The message as an RFC 5322 email (the same bytes on every attempt). A message
        for another medium carries its recipient in an ``X-Civiccrm-Recipient`` header.
        """
        msg = EmailMessage(policy=email.policy.SMTP)
        frm = self.sender or sender
        if frm:
            msg["From"] = frm
        if self.medium == "email":
            msg["To"] = ascii_domain(self.recipient)
        else:
            msg["X-Civiccrm-Medium"] = self.medium
            msg["X-Civiccrm-Recipient"] = self.recipient
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject or ""
        msg["Date"] = format_datetime(self.date)
        msg["Message-ID"] = self.message_id
        # RFC 3834: an automatic message, which auto-responders must not answer.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self.body, cte=_cte(self.body))
        if self.language:  # after set_content, which clears Content-* headers
            msg["Content-Language"] = self.language
        # Headers unfolded (up to RFC 5322's 998 characters): a Message-ID folded onto
        # a second line is valid, but some readers keep the fold's space in its value.
        msg.policy = _WIRE
        return msg


@runtime_checkable
class MessageChannel(Protocol):
    """
    **Protocol:** an outbound channel, as the dispatcher uses it.

    ``send`` hands one message over and returns the channel's id for it (or None), or
    raises :class:`ChannelError`; any other exception counts as a temporary failure
    and is kept by its type's name only. It is called from one thread at a time.
    ``close`` releases connections; the channel stays usable (a later ``send``
    connects again).

    A plugin provides one through the ``civiccrm_message_channel(spec)`` hook.

    .. versionadded:: 0.1.0
    """

    #: A short name for reports (``smtp``, ``files``, ``acme-sms``).
    name: str
    #: The media it carries: ``{"email"}``, ``{"sms"}``, or both.
    media: frozenset[str]
    #: Whether handing it the same message twice delivers it once (a file written
    #: again, an API that deduplicates by ``message_id``).
    idempotent: bool

    def send(self, message: OutgoingMessage) -> str | None:
        """Hand ``message`` over; raise :class:`ChannelError` if it was not taken."""
        ...

    def close(self) -> None:
        """Release connections (a later ``send`` opens them again)."""
        ...


# --------------------------------------------------------------------------------------
# SMTP


def _os_code(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, ssl.SSLError):
        return "tls_error"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "disconnected"
    if isinstance(exc, OSError) and exc.errno is not None:
        return "os_" + errno.errorcode.get(exc.errno, str(exc.errno)).lower()
    return type(exc).__name__


#: SMTP replies that mean the session was not secured or logged into as the server
#: requires (530: STARTTLS or a login first; 535, 538: the login), whatever the
#: message: the channel is down (a setting to fix), not the message refused.
_LOGIN_CODES: Final = frozenset({530, 535, 538})
#: The server is closing the connection (smtplib has closed it already).
_CLOSING: Final = 421


class SmtpChannel:
    """
    Email through an SMTP server (:mod:`smtplib`), with STARTTLS by default.

    One connection is kept for a dispatch run and closed by :meth:`close`; a
    connection the server dropped meanwhile (or closed with a 421) is opened again.
    Within one message's exchange (MAIL FROM, RCPT TO, DATA), a 5xx reply fails the
    message for good, and a 4xx reply (421 included) or a broken connection is a
    temporary failure of that message (tried again after its backoff). Only a
    connection that cannot be opened, secured or logged into, or a server asking for
    TLS or a login it did not get (530, 535, 538), is ``channel_down``.

    >>> SmtpChannel.from_spec("smtp://mailer:secret@mail.example.gov:587")
    SmtpChannel('mail.example.gov', 587, tls='starttls', credentials=True)

    .. versionadded:: 0.1.0
    """

    name = "smtp"
    media: frozenset[str] = frozenset({"email"})
    idempotent = False

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        tls: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        cafile: str | None = None,
        sender: str | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if tls not in ("starttls", "implicit", "none"):
            raise ValidationError.at("tls", f"{tls!r} is not starttls, implicit or none")
        if username and tls == "none":
            raise ValidationError.at(
                "channel",
                "SMTP credentials are never sent without TLS: use starttls=true or smtps://",
            )
        if not host:
            raise ValidationError.at("channel", "an SMTP spec needs a host")
        self.host = host
        self.port = port or (465 if tls == "implicit" else 587 if tls == "starttls" else 25)
        self.tls = tls
        self._username = username
        self._password = password
        self.timeout = timeout
        self.cafile = cafile
        #: The From header (and envelope sender) of messages that have none.
        self.sender = sender
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        # Never the credentials.
        return (
            f"SmtpChannel({self.host!r}, {self.port}, tls={self.tls!r}, "
            f"credentials={self._username is not None})"
        )

    @classmethod
    def from_spec(cls, spec: str) -> SmtpChannel:
        """
        The channel a ``smtp://`` or ``smtps://`` spec describes.

        Raises:
            ValidationError: a bad spec (the message never repeats the password).
        """
        try:
            parts = urlsplit(spec)
            port = parts.port
        except ValueError:
            raise ValidationError.at(
                "channel", "the SMTP spec's host or port is not valid"
            ) from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ValidationError.at("channel", "an SMTP spec starts with smtp:// or smtps://")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValidationError.at("channel", "an SMTP spec has no path: smtp://host:587?...")
        query = parse_qs(parts.query, keep_blank_values=True)
        known = ("starttls", "timeout", "cafile", "from", "helo")
        for key, values in query.items():
            if key not in known:
                raise ValidationError.at(
                    "channel", f"unknown SMTP spec option {key!r} (known: {', '.join(known)})"
                )
            if len(values) != 1:
                raise ValidationError.at("channel", f"SMTP spec option {key!r} is given twice")
        opts = {k: v[0] for k, v in query.items()}
        tls = "implicit" if parts.scheme == "smtps" else "starttls"
        if "starttls" in opts:
            flag = opts["starttls"].lower()
            if flag not in ("true", "false", "1", "0", "yes", "no"):
                raise ValidationError.at("channel", f"starttls={opts['starttls']!r}: true or false")
            on = flag in ("true", "1", "yes")
            if parts.scheme == "smtps" and on:
                raise ValidationError.at("channel", "smtps:// is TLS already: drop starttls")
            if parts.scheme == "smtp" and not on:
                tls = "none"
        timeout = 60.0
        if "timeout" in opts:
            try:
                timeout = float(opts["timeout"])
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 3600:
                raise ValidationError.at("channel", "timeout= is a number of seconds (0 to 3600)")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if username is None:
            username = os.environ.get(SMTP_USERNAME_ENV) or None
            password = os.environ.get(SMTP_PASSWORD_ENV) if username else None
        return cls(
            parts.hostname or "",
            port,
            tls=tls,
            username=username,
            password=password,
            timeout=timeout,
            cafile=opts.get("cafile") or None,
            sender=opts.get("from") or None,
            local_hostname=opts.get("helo") or None,
        )

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = None
        try:
            if self.tls == "implicit":
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            conn.ehlo()
            if self.tls == "starttls":
                if not conn.has_extn("starttls"):
                    raise ChannelError("starttls_unavailable", channel_down=True)
                conn.starttls(context=self._context())
                conn.ehlo()
            if self._username:
                conn.login(self._username, self._password or "")
        except ChannelError:
            _quietly_close(conn)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _quietly_close(conn)
            raise ChannelError(f"smtp_auth_{exc.smtp_code}", channel_down=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            raise ChannelError(_os_code(exc), channel_down=True) from None
        return conn

    def _live(self) -> smtplib.SMTP:
        """The open connection, or a new one if there is none or the server dropped it."""
        if self._conn is not None:
            try:
                if self._conn.noop()[0] == 250:
                    return self._conn
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()
        self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        _quietly_close(conn)

    def send(self, message: OutgoingMessage) -> str | None:
        """Send ``message`` by SMTP; returns its Message-ID."""
        if message.medium != "email":
            raise ChannelError("unsupported_medium", permanent=True)
        sender = message.sender or self.sender
        if not sender:
            # A setting missing, not the message's fault: nothing is sent.
            raise ChannelError("no_sender", channel_down=True)
        envelope = parseaddr(self.sender or sender)[1]
        msg = message.as_email(sender=sender)
        conn = self._live()
        try:
            conn.send_message(msg, from_addr=envelope, to_addrs=[ascii_domain(message.recipient)])
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            raise self._refused(code) from None
        except smtplib.SMTPNotSupportedError:
            raise ChannelError("smtputf8_unsupported", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            # MAIL FROM (SMTPSenderRefused) or DATA (SMTPDataError) refused.
            raise self._refused(exc.smtp_code) from None
        except (OSError, smtplib.SMTPException) as exc:
            # The connection broke: whether the server took the message is unknown.
            self._drop()
            raise ChannelError(_os_code(exc)) from None
        return message.message_id

    def _refused(self, code: int) -> ChannelError:
        """
        The error of a reply refusing one message: permanent for a 5xx, temporary
        for anything else (a 4xx, 421 included: this message is tried again after its
        backoff, the others go on); ``channel_down`` only for a server that wants TLS
        or a login first (a setting, the same for every message).
        """
        if code == _CLOSING or code in _LOGIN_CODES:
            self._drop()
        if code in _LOGIN_CODES:
            return ChannelError(f"smtp_{code}", channel_down=True)
        return ChannelError(f"smtp_{code}", permanent=500 <= code < 600)

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(conn)


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            conn.close()


# --------------------------------------------------------------------------------------
# Files


class FileChannel:
    """
    One ``{outbox id}.eml`` file per message in a folder, written atomically (a
    temporary file, flushed to disk, renamed into place): a reader never sees half a
    message, and a message written again replaces its own file (idempotent). The files
    hold personal data: the folder is made readable by its owner only.

    .. versionadded:: 0.1.0
    """

    name = "files"
    media: frozenset[str] = MEDIA
    idempotent = True

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"FileChannel({str(self.folder)!r})"

    def path(self, message_id: uuid.UUID) -> Path:
        """The file of the outbox message ``message_id``."""
        return self.folder / f"{message_id}.eml"

    def send(self, message: OutgoingMessage) -> str | None:
        """Write ``message`` to its file; returns its Message-ID."""
        data = message.as_email().as_bytes()
        tmp: str | None = None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{message.id}.", suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(message.id))
            tmp = None
            _fsync_dir(self.folder)
        except OSError as exc:
            down = isinstance(exc, PermissionError | FileNotFoundError | NotADirectoryError)
            raise ChannelError(_os_code(exc), channel_down=down) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return message.message_id

    def close(self) -> None:
        """Nothing to release."""


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------
# A test double


class CapturingChannel:
    """
    A channel that keeps what it is given in :attr:`sent` (for tests and previews).
    ``fail`` may return a :class:`ChannelError` for a message, which is then raised
    instead of keeping it.

    >>> channel = CapturingChannel()
    >>> channel.media == frozenset({"email", "sms"})
    True

    .. versionadded:: 0.1.0
    """

    name = "capture"
    idempotent = False

    def __init__(
        self,
        media: Iterable[str] = MEDIA,
        *,
        fail: Callable[[OutgoingMessage], ChannelError | None] | None = None,
    ) -> None:
        self.media: frozenset[str] = frozenset(media)
        self.fail = fail
        #: The messages taken, in order.
        self.sent: list[OutgoingMessage] = []
        #: How many times :meth:`close` was called.
        self.closed = 0

    def send(self, message: OutgoingMessage) -> str | None:
        """Keep ``message`` (or raise what ``fail`` returns for it)."""
        if self.fail is not None:
            error = self.fail(message)
            if error is not None:
                raise error
        self.sent.append(message)
        return message.message_id

    def close(self) -> None:
        """Count the call."""
        self.closed += 1


# --------------------------------------------------------------------------------------
# Opening a channel from its spec


def builtin_channel(spec: str) -> MessageChannel | None:
    """The built-in channel ``spec`` names (``smtp://``, ``smtps://``, ``files:``), or None."""
    if spec.startswith(("smtp://", "smtps://")):
        return SmtpChannel.from_spec(spec)
    if spec.startswith("files:"):
        rest = spec[len("files:") :]
        if rest.startswith("//"):
            parts = urlsplit(spec)
            if parts.netloc not in ("", "localhost"):
                raise ValidationError.at("channel", "a files: spec names a local folder")
            rest = unquote(parts.path)
        if not rest:
            raise ValidationError.at("channel", "give the outbox folder: files:/path/to/outbox")
        return FileChannel(rest)
    return None


def open_channel(spec: str, plugins: pluggy.PluginManager | None = None) -> MessageChannel:
    """
    Open the channel ``spec`` names: the plugins' ``civiccrm_message_channel`` hook is
    asked first, then the built-in channels.

    Raises:
        ValidationError: a built-in channel's spec is bad.
        PluginError: no channel understands the spec's scheme.

    .. versionadded:: 0.1.0
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError.at(
            "channel", "give a channel spec, such as smtp://host:587 or files:/path/to/outbox"
        )
    if plugins is not None:
        found = plugins.hook.civiccrm_message_channel(spec=spec)
        if found is not None:
            return _checked(found)
    channel = builtin_channel(spec)
    if channel is None:
        # The scheme only: a spec may carry credentials.
        scheme = spec.split(":", 1)[0] if ":" in spec else "(none)"
        raise PluginError(
            f"no message channel for {scheme!r} specs (built in: smtp://, smtps://, files:); "
            "is its plugin installed?"
        )
    return channel


def _checked(channel: object) -> MessageChannel:
    if not isinstance(channel, MessageChannel):
        raise PluginError(
            f"a civiccrm_message_channel plugin returned {type(channel).__name__}, which is "
            "not a MessageChannel (name, media, idempotent, send, close)"
        )
    return channel
