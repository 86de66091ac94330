"""
Keys: the agency's key-encryption key (from a key provider) and the data keys it wraps.

Every party (citizen or organization) has its own data key, ``party:<id>``; an
anonymous case has one of its own, ``case:<id>``. Two system keys, ``sys:index`` (blind
indexes) and ``sys:audit`` (the audit chain), are made the same way. Each is stored in
the backend's key store (apart from the records) as a small JSON blob::

    {"v": 1, "kek": "<provider's key id>", "current": 2,
     "gens": {"1": "<wrapped, base64>", "2": "<wrapped, base64>"}}

or, once erased, ``{"v": 1, "erased": "<when>"}``: a marker with no key material, so
that a read of erased data is told apart from a missing key (an error).

A :class:`KeyProvider` wraps and unwraps data keys with the key-encryption key; the
built-in :class:`LocalKeyProvider` holds it in memory, read from a key file (0600) or
an environment variable. Vendors provide KMS or HSM providers through the
``civiccrm_key_provider`` hook.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from civiccrm.adapters._base import Storage
from civiccrm.errors import IntegrityError, PolicyError
from civiccrm.models import format_utc
from civiccrm.privacy.crypto import DataKey, new_secret, unwrap_key, wrap_key

__all__ = [
    "KEY_ENV",
    "KeyProvider",
    "KeyRing",
    "LocalKeyProvider",
    "RotationReport",
    "case_key_id",
    "party_key_id",
]

#: The environment variable naming the key provider (``file:/path`` or ``env:VAR``).
KEY_ENV: Final = "CIVICCRM_KEY"
INDEX_KEY: Final = "sys:index"
AUDIT_KEY: Final = "sys:audit"
#: Not a key: the audit trail's signed anchor, kept in the key store (apart from the
#: log it vouches for). Key rotation leaves it alone.
ANCHOR_KEY: Final = "sys:audit-anchor"
#: Not a key either: where the audit trail starts once retention has pruned its oldest
#: entries (the last pruned checkpoint, signed). Key rotation leaves it alone.
BASE_KEY: Final = "sys:audit-base"
_BLOB_VERSION: Final = 1
#: Unwrapped keys kept in memory (about 1 KB each), the least recently used dropped.
_CACHE_SIZE: Final = 10_000


class _LRU(OrderedDict[str, "tuple[int, dict[int, DataKey]] | None"]):
    """A dict that forgets its least recently used entries beyond ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: str, value: tuple[int, dict[int, DataKey]] | None) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def party_key_id(party_id: object) -> str:
    """The data key of a party (citizen or organization)."""
    return f"party:{party_id}"


def case_key_id(case_id: object) -> str:
    """The data key of an anonymous case (no requester)."""
    return f"case:{case_id}"


@runtime_checkable
class KeyProvider(Protocol):
    """
    Holds the agency's key-encryption key (KEK) and wraps data keys with it. A KMS or
    HSM provider never lets the KEK leave the device: ``wrap``/``unwrap`` are calls to it.

    .. versionadded:: 0.1.0
    """

    #: Names this KEK (not secret): stored beside every key it wraps, so that rotation
    #: knows which keys are done.
    kek_id: str

    def wrap(self, secret: bytes, *, key_id: str) -> bytes:
        """``secret`` wrapped for storage under ``key_id``."""
        ...

    def unwrap(self, wrapped: bytes, *, key_id: str) -> bytes:
        """The secret; :class:`~civiccrm.errors.IntegrityError` if this KEK cannot open it."""
        ...


class LocalKeyProvider:
    """
    A key-encryption key held in this process: 32 bytes, read from a key file (base64
    text, readable by its owner only) or from an environment variable (base64).

    .. versionadded:: 0.1.0
    """

    def __init__(self, kek: bytes, *, source: str) -> None:
        if not isinstance(kek, bytes) or len(kek) != 32:
            raise PolicyError(f"{source}: a key-encryption key is 32 bytes")
        self._kek = kek
        self.source = source
        digest = hmac.new(kek, b"civiccrm key-encryption key id", hashlib.sha256).hexdigest()
        self.kek_id = f"local:{digest[:16]}"

    def __repr__(self) -> str:
        return f"LocalKeyProvider(source={self.source!r}, kek_id={self.kek_id!r})"

    def wrap(self, secret: bytes, *, key_id: str) -> bytes:
        return wrap_key(self._kek, secret, key_id=key_id)

    def unwrap(self, wrapped: bytes, *, key_id: str) -> bytes:
        return unwrap_key(self._kek, wrapped, key_id=key_id)

    @classmethod
    def generate(cls) -> LocalKeyProvider:
        """A fresh random key held only in memory (for ``memory://`` sessions and tests)."""
        return cls(new_secret(), source="a random key in memory")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, create: bool = False) -> LocalKeyProvider:
        """
        Read the key file at ``path`` (or make one, readable by its owner only, when
        ``create`` and it does not exist).

        Raises:
            PolicyError: the file is missing (and not to be created), readable or
                writable by group or others, or does not hold a 32-byte base64 key.
        """
        p = Path(path)
        if create and not p.exists():
            text = base64.b64encode(new_secret()).decode() + "\n"
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # made by someone else meanwhile: read theirs
            except OSError as exc:
                raise PolicyError(f"cannot create the key file {p}: {exc.strerror}") from exc
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
        try:
            st = p.stat()
        except FileNotFoundError:
            raise PolicyError(
                f"the key file {p} does not exist: give the key this database was made "
                f"with (key=..., or {KEY_ENV}=file:/path/to/key), or restore the key file"
            ) from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise PolicyError(
                f"the key file {p} can be read or written by others "
                f"(mode {stat.S_IMODE(st.st_mode):o}); run: chmod 600 {p}"
            )
        return cls(_decode_key(p.read_text(), str(p)), source=str(p))

    @classmethod
    def from_env(cls, variable: str) -> LocalKeyProvider:
        """Read the key (base64) from the environment variable ``variable``."""
        value = os.environ.get(variable)
        if not value:
            raise PolicyError(f"the environment variable {variable} holding the key is not set")
        return cls(_decode_key(value, f"${variable}"), source=f"${variable}")


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PolicyError(f"{source} does not hold a base64 key") from None
    if len(key) != 32:
        raise PolicyError(f"{source} holds a {len(key)}-byte key; a key is 32 bytes")
    return key


def provider_from_spec(spec: str, *, create: bool = False) -> LocalKeyProvider | None:
    """The built-in providers: ``file:<path>`` and ``env:<VARIABLE>``; None otherwise."""
    if spec.startswith("file:"):
        path = spec[len("file:") :]
        if path.startswith("//"):
            path = path[2:]
        return LocalKeyProvider.from_file(path, create=create)
    if spec.startswith("env:"):
        return LocalKeyProvider.from_env(spec[len("env:") :])
    return None


@attrs.frozen
class RotationReport:
    """
    What a key rotation did: keys rewrapped now, keys already under the new KEK (a
    resumed rotation), erased markers (nothing to rewrap).

    .. versionadded:: 0.1.0
    """

    rewrapped: int
    already: int
    erased: int


class KeyRing:
    """
    The data keys of one database, unwrapped on first use and kept in memory.

    ``previous`` providers open keys still wrapped under an older KEK (during and after
    an interrupted rotation); new keys are always wrapped by ``provider``.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, storage: Storage, provider: KeyProvider, *, previous: Sequence[KeyProvider] = ()
    ) -> None:
        self.storage = storage
        self.provider = provider
        self._providers = {p.kek_id: p for p in (*previous, provider)}
        self._lock = threading.RLock()
        #: key id -> {generation: DataKey} and current generation; None when erased.
        self._cache: _LRU = _LRU(_CACHE_SIZE)

    # --- blobs -----------------------------------------------------------------------

    def _blob(self, key_id: str) -> dict[str, Any] | None:
        raw = self.storage.get_key(key_id)
        if raw is None:
            return None
        return self._parse(key_id, raw)

    @staticmethod
    def _parse(key_id: str, raw: bytes) -> dict[str, Any]:
        try:
            blob = json.loads(raw)
            if not isinstance(blob, dict) or blob.get("v") != _BLOB_VERSION:
                raise ValueError("unknown format")
        except ValueError as exc:
            raise IntegrityError(f"the stored key {key_id} is damaged: {exc}") from None
        return blob

    def _open_blob(
        self, key_id: str, blob: dict[str, Any]
    ) -> tuple[int, dict[int, DataKey]] | None:
        if "erased" in blob:
            return None
        provider = self._providers.get(str(blob.get("kek")))
        if provider is None:
            raise IntegrityError(
                f"the key {key_id} is wrapped by key-encryption key {blob.get('kek')!r}, "
                f"but this session holds {sorted(self._providers)}: wrong key file or "
                f"{KEY_ENV}? (a rotation in progress needs the old key as well)"
            )
        try:
            gens = {
                int(g): DataKey(
                    key_id=key_id,
                    generation=int(g),
                    secret=provider.unwrap(base64.b64decode(w), key_id=key_id),
                )
                for g, w in blob["gens"].items()
            }
            current = int(blob["current"])
        except IntegrityError as exc:
            raise IntegrityError(
                f"the key-encryption key ({provider.kek_id}) does not open the stored key "
                f"{key_id}: wrong key, or the key store was tampered with ({exc})"
            ) from None
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise IntegrityError(f"the stored key {key_id} is damaged: {exc!r}") from None
        if current not in gens:
            raise IntegrityError(f"the stored key {key_id} lacks its current generation")
        return current, gens

    def _store(self, key_id: str, current: int, gens: dict[int, DataKey]) -> None:
        self.storage.put_key(key_id, self._blob_bytes(key_id, current, gens))

    def _blob_bytes(self, key_id: str, current: int, gens: dict[int, DataKey]) -> bytes:
        blob = {
            "v": _BLOB_VERSION,
            "kek": self.provider.kek_id,
            "current": current,
            "gens": {
                str(g): base64.b64encode(self.provider.wrap(k.secret, key_id=key_id)).decode()
                for g, k in sorted(gens.items())
            },
        }
        return json.dumps(blob, sort_keys=True).encode()

    def _entry(self, key_id: str) -> tuple[int, dict[int, DataKey]] | bool | None:
        """Cached entry; False when there is no key at all."""
        with self._lock:
            if key_id in self._cache:
                self._cache.move_to_end(key_id)
                return self._cache[key_id]
            blob = self._blob(key_id)
            if blob is None:
                return False
            entry = self._open_blob(key_id, blob)
            self._cache[key_id] = entry
            return entry

    # --- use -------------------------------------------------------------------------

    def current(self, key_id: str, *, create: bool = False) -> DataKey:
        """
        The key to seal new data with. ``create``: make it if there is none yet.

        Raises:
            IntegrityError: there is no such key (and ``create`` is False).
            PolicyError: the key was erased (the party's data was crypto-shredded).
        """
        with self._lock:
            entry = self._entry(key_id)
            if entry is False:
                if not create:
                    raise IntegrityError(f"there is no key {key_id}")
                return self.current_many([key_id])[key_id]
            if entry is None:
                raise PolicyError(f"{key_id} was erased: its data can no longer be written")
            assert not isinstance(entry, bool)
            current, gens = entry
            return gens[current]

    def current_many(self, key_ids: Iterable[str]) -> dict[str, DataKey]:
        """
        The current keys of ``key_ids``, the missing ones made and stored together (one
        ``add_keys``): what a bulk import needs for a batch. A key another session made
        meanwhile is used as it is, never replaced.

        Raises:
            PolicyError: one of them was erased.
        """
        out: dict[str, DataKey] = {}
        new: dict[str, DataKey] = {}
        with self._lock:
            ids = list(dict.fromkeys(key_ids))
            unknown = [k for k in ids if k not in self._cache]
            missing: set[str] = set()
            if unknown:
                stored = self.storage.get_keys(unknown)
                for key_id, raw in stored.items():
                    self._cache[key_id] = self._open_blob(key_id, self._parse(key_id, raw))
                missing = {k for k in unknown if k not in stored}
            for key_id in ids:
                entry = False if key_id in missing else self._entry(key_id)
                if entry is None:
                    raise PolicyError(f"{key_id} was erased: its data can no longer be written")
                if entry is False:
                    new[key_id] = DataKey(key_id=key_id, generation=1, secret=new_secret())
                    continue
                assert not isinstance(entry, bool)
                out[key_id] = entry[1][entry[0]]
            if new:
                blobs = [(k, self._blob_bytes(k, 1, {1: v})) for k, v in new.items()]
                add = getattr(self.storage, "add_keys", None)
                if add is None:  # a backend older than add_keys
                    self.storage.put_keys(blobs)
                    added = set(new)
                else:
                    added = add(blobs)
                for k in added:
                    self._cache[k] = (1, {1: new[k]})
                    out[k] = new[k]
                # Keys another session made a moment ago: seal with theirs, never
                # replace them (what they sealed would be lost).
                lost = [k for k in new if k not in added]
                if lost:
                    theirs = self.storage.get_keys(lost)
                    for k in lost:
                        if k not in theirs:
                            raise IntegrityError(
                                f"the key store refused to add {k}, yet has no such key"
                            )
                        self._cache[k] = self._open_blob(k, self._parse(k, theirs[k]))
                        entry = self._cache[k]
                        if entry is None:
                            raise PolicyError(f"{k} was erased: its data can no longer be written")
                        out[k] = entry[1][entry[0]]
        return out

    def prefetch(self, key_ids: Iterable[str]) -> None:
        """Load (in one read) the keys among ``key_ids`` that are not in memory yet."""
        with self._lock:
            unknown = [k for k in dict.fromkeys(key_ids) if k not in self._cache]
            if not unknown:
                return
            for key_id, raw in self.storage.get_keys(unknown).items():
                self._cache[key_id] = self._open_blob(key_id, self._parse(key_id, raw))

    def get(self, key_id: str, generation: int) -> DataKey | None:
        """
        The key that sealed a document, or None if it was erased.

        Raises:
            IntegrityError: no such key or generation (lost, or never made).
        """
        entry = self._entry(key_id)
        if entry is None:
            return None
        if entry is False:
            raise IntegrityError(
                f"the key {key_id} is missing from the key store: the data sealed with it "
                "cannot be read (was the key file restored from an older backup?)"
            )
        assert not isinstance(entry, bool)
        key = entry[1].get(generation)
        if key is None:
            raise IntegrityError(f"the key {key_id} has no generation {generation}")
        return key

    def is_erased(self, key_id: str) -> bool:
        """Whether ``key_id`` was erased."""
        return self._entry(key_id) is None

    def system_key(self, key_id: str) -> bytes:
        """The secret of a system key (``sys:index``, ``sys:audit``), made on first use."""
        return self.current(key_id, create=True).secret

    def erase(self, key_id: str, *, at: datetime) -> bool:
        """
        Destroy the key (crypto-shredding) and leave an erased marker; True if a key
        was destroyed.
        """
        with self._lock:
            existed = self.storage.delete_key(key_id)
            marker = {"v": _BLOB_VERSION, "erased": format_utc(at)}
            self.storage.put_key(key_id, json.dumps(marker).encode())
            self._cache[key_id] = None
            return existed

    def new_generation(self, key_id: str) -> tuple[DataKey, DataKey]:
        """Add a new generation to ``key_id`` and make it current; (old, new) keys."""
        with self._lock:
            self._cache.pop(key_id, None)
            entry = self._entry(key_id)
            if entry is False or entry is None:
                raise PolicyError(f"{key_id} has no key to replace")
            assert not isinstance(entry, bool)
            current, gens = entry
            new = DataKey(key_id=key_id, generation=current + 1, secret=new_secret())
            gens = {**gens, new.generation: new}
            self._store(key_id, new.generation, gens)
            self._cache[key_id] = (new.generation, gens)
            return gens[current], new

    def drop_older_generations(self, key_id: str) -> None:
        """Destroy every generation of ``key_id`` but the current one."""
        with self._lock:
            self._cache.pop(key_id, None)
            entry = self._entry(key_id)
            if entry is False or entry is None:
                return
            assert not isinstance(entry, bool)
            current, gens = entry
            # Delete first (overwrites the old blob in the key file), then store.
            self.storage.delete_key(key_id)
            self._store(key_id, current, {current: gens[current]})
            self._cache[key_id] = (current, {current: gens[current]})

    def check(self) -> None:
        """
        Fail early, with a clear message, if this session's key-encryption key does not
        open the keys already stored (a wrong key file or variable).
        """
        for key_id in (INDEX_KEY, AUDIT_KEY):
            if self._entry(key_id) is not False:
                return

    def rotate(
        self, new: KeyProvider, *, progress: Callable[[int], None] | None = None
    ) -> RotationReport:
        """
        Rewrap every stored key under the new key-encryption key ``new`` (data is not
        re-encrypted). Resumable: keys already under ``new`` are skipped, so an
        interrupted rotation is finished by running it again (with the old key still
        given as ``previous``). Afterwards this ring wraps new keys with ``new``.
        """
        with self._lock:
            self._providers[new.kek_id] = new
            old_provider = self.provider
            self.provider = new
            rewrapped = already = erased = 0
            try:
                for key_id in _all_key_ids(self.storage):
                    if key_id in (ANCHOR_KEY, BASE_KEY):
                        continue
                    blob = self._blob(key_id)
                    if blob is None:
                        continue
                    if "erased" in blob:
                        erased += 1
                    elif blob.get("kek") == new.kek_id:
                        already += 1
                    else:
                        self._cache.pop(key_id, None)
                        entry = self._open_blob(key_id, blob)
                        assert entry is not None
                        self._store(key_id, entry[0], entry[1])
                        rewrapped += 1
                    if progress is not None:
                        progress(rewrapped + already + erased)
            except BaseException:
                self.provider = old_provider
                raise
            self._cache.clear()
            return RotationReport(rewrapped, already, erased)


def _all_key_ids(storage: Storage, page: int = 1000) -> Iterator[str]:
    after = ""
    while True:
        ids = storage.list_keys(after=after, limit=page)
        if not ids:
            return
        yield from ids
        after = ids[-1]


def has_keys(storage: Storage) -> bool:
    """Whether the backend holds any key (a database that has been written to)."""
    return bool(storage.list_keys(limit=1))
