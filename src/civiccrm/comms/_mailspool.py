"""
The mail spool: large quarantined messages, encrypted, in files beside the database.

A file holds one message encrypted with AES-256-GCM under the quarantine entry's own
data key, in chunks (so that a message of any size is encrypted and decrypted in
constant memory): the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár
("Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015). Each
chunk's nonce is a random prefix, the chunk's number and a last-chunk flag; every chunk
is bound to the file's header (key id, generation, prefix), so that chunks cannot be
reordered, dropped, moved to another file, or the file cut short without decryption
failing. Destroying the data key makes the file unreadable.

File layout::

    b"CCMAIL1\\n" | u16 length of the header JSON | header JSON | chunks ...
    header JSON: {"key": "<key id>", "gen": <generation>, "prefix": "<7 bytes, hex>",
                  "chunk": <plaintext bytes per chunk>}
    chunk: AES-GCM(plaintext chunk) with its 16-byte tag

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
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


def read_spooled(path: Path, key_for: Callable[[str, int], DataKey | None]) -> Iterator[bytes]:
    """
    The plaintext of a spool file, chunk by chunk. ``key_for(key_id, generation)``
    gives the data key (None: destroyed).

    Raises:
        IntegrityError: the file is not a spool file, its key is destroyed, or it was
            changed, cut short or moved.
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
            key_id, generation = str(meta["key"]), int(meta["gen"])
            prefix, chunk_size = bytes.fromhex(meta["prefix"]), int(meta["chunk"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"{path.name}: the spool file's header is damaged") from None
        key = key_for(key_id, generation)
        if key is None:
            raise IntegrityError(f"{path.name}: its key was destroyed (the message is erased)")
        aead = AESGCM(key.secret)
        head = magic + size + header
        n = 0
        sealed = f.read(chunk_size + _TAG)
        while True:
            following = f.read(chunk_size + _TAG)
            last = not following
            try:
                yield aead.decrypt(_nonce(prefix, n, last), sealed, head)
            except InvalidTag:
                raise IntegrityError(
                    f"{path.name}: the spool file was changed, cut short or moved"
                ) from None
            if last:
                return
            sealed, n = following, n + 1
