"""
The mail spool: large quarantined messages, encrypted, in files beside the database.

A file holds one message encrypted with AES-256-GCM under the quarantine entry's own
data key, in chunks (so that a message of any size is encrypted and decrypted in
constant memory): the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár
("Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015). Each
chunk's nonce is a random prefix, the chunk's number and a last-chunk flag; every chunk
is bound to the file's header (key id, generation, prefix), so that chunks cannot be
reordered, dropped, moved to another file, or the file cut short without decryption
failing. The key id names the entry (``mail:<entry id>``) and is checked against the
entry the file is read for, and the plaintext's SHA-256 against the entry's: a file
copied over another entry's is refused, not served as that entry's message.
Destroying the data key makes the file unreadable.

File layout::

    b"CCMAIL1\\n" | u16 length of the header JSON | header JSON | chunks ...
    header JSON: {"key": "<key id>", "gen": <generation>, "prefix": "<7 bytes, hex>",
                  "chunk": <plaintext bytes per chunk>}
    chunk: AES-GCM(plaintext chunk) with its 16-byte tag

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from civiccrm.errors import IntegrityError
from civiccrm.privacy.crypto import DataKey

__all__ = ["read_spooled", "write_spooled"]

_MAGIC: Final = b"CCMAIL1\n"
_CHUNK: Final = 1024 * 1024
_TAG: Final = 16


def _nonce(prefix: bytes, n: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", n, 1 if last else 0)


def write_spooled(path: Path, source: BinaryIO, key: DataKey) -> int:
    """
    Encrypt everything ``source`` holds into a new file at ``path`` (written under a
    temporary name, synced, then renamed: a crash leaves no half file under that
    name). Returns the bytes encrypted.
    """
    prefix = os.urandom(7)
    header = json.dumps(
        {"key": key.key_id, "gen": key.generation, "prefix": prefix.hex(), "chunk": _CHUNK},
        separators=(",", ":"),
    ).encode()
    head = _MAGIC + struct.pack(">H", len(header)) + header
    aead = AESGCM(key.secret)
    tmp = path.with_name(f".{path.name}.tmp")
    total = 0
    try:
        with tmp.open("wb") as out:
            out.write(head)
            n = 0
            chunk = source.read(_CHUNK)
            while True:
                following = source.read(_CHUNK) if len(chunk) == _CHUNK else b""
                last = not following
                out.write(aead.encrypt(_nonce(prefix, n, last), chunk, head))
                total += len(chunk)
                if last:
                    break
                chunk, n = following, n + 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return total


def read_spooled(
    path: Path,
    key_for: Callable[[str, int], DataKey | None],
    *,
    key_id: str,
    sha256: str = "",
) -> Iterator[bytes]:
    """
    The plaintext of a spool file, chunk by chunk. ``key_for(key_id, generation)``
    gives the data key (None: destroyed).

    The file must be the one written for ``key_id`` (its quarantine entry's key,
    ``mail:<id>``): the key id in its header is compared with it before any key is
    fetched, and every chunk is bound to that header. With ``sha256`` (the entry's
    hash of the message), the plaintext's hash is checked once the last chunk is
    read; a mismatch raises there, after the chunks before it were given, so a
    caller must not use what it received until the iteration ends.

    Raises:
        IntegrityError: the file is not a spool file, belongs to another entry, its
            key is destroyed, or it was changed, cut short or moved.
    """
    with path.open("rb") as f:
        magic = f.read(len(_MAGIC))
        size = f.read(2)
        if magic != _MAGIC or len(size) != 2:
            raise IntegrityError(f"{path.name} is not a civiccrm mail spool file")
        (n_header,) = struct.unpack(">H", size)
        header = f.read(n_header)
        try:
            meta = json.loads(header)
            found_id, generation = str(meta["key"]), int(meta["gen"])
            prefix, chunk_size = bytes.fromhex(meta["prefix"]), int(meta["chunk"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"{path.name}: the spool file's header is damaged") from None
        if found_id != key_id:
            raise IntegrityError(
                f"{path.name}: the spool file belongs to another quarantine entry "
                "(it was copied or moved over this entry's file)"
            )
        key = key_for(key_id, generation)
        if key is None:
            raise IntegrityError(f"{path.name}: its key was destroyed (the message is erased)")
        aead = AESGCM(key.secret)
        head = magic + size + header
        digest = hashlib.sha256()
        n = 0
        sealed = f.read(chunk_size + _TAG)
        while True:
            following = f.read(chunk_size + _TAG)
            last = not following
            try:
                chunk = aead.decrypt(_nonce(prefix, n, last), sealed, head)
            except InvalidTag:
                raise IntegrityError(
                    f"{path.name}: the spool file was changed, cut short or moved"
                ) from None
            if sha256:
                digest.update(chunk)
                if last and digest.hexdigest() != sha256:
                    raise IntegrityError(
                        f"{path.name}: the message it holds is not its entry's "
                        "(its SHA-256 differs from the one on record)"
                    )
            yield chunk
            if last:
                return
            sealed, n = following, n + 1
