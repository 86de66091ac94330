"""
Keys made by two sessions at once: exactly one is stored and both seal with it (a key
replaced after data was sealed with it would make that data unreadable for good).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import civiccrm
from civiccrm import LocalKeyProvider
from civiccrm._keys import INDEX_KEY
from civiccrm.profile import load_profile, springfield_path

PROFILE = load_profile(springfield_path())


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    pg = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL")
    if not pg:
        pytest.skip('no PostgreSQL server configured: run `eval "$(bash .ci/postgres)"`')
    return pg


KEK = LocalKeyProvider.generate()


def _at_once(url: str, sessions: int, key_id: str) -> list[bytes]:
    """``sessions`` sessions, each in a thread, make ``key_id`` at the same moment."""
    kek = KEK if url.startswith("postgresql") else None
    crms = [civiccrm.open(url, profile=PROFILE, key=kek) for _ in range(sessions)]
    barrier = threading.Barrier(sessions, timeout=60)
    secrets: list[bytes] = []
    lock = threading.Lock()

    def make(crm: civiccrm.CRM) -> None:
        barrier.wait()
        key = crm.keys.current(key_id, create=True)
        with lock:
            secrets.append(key.secret)

    try:
        threads = [threading.Thread(target=make, args=(c,)) for c in crms]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for crm in crms:
            crm.close()
    return secrets


@pytest.mark.parametrize("sessions", [2, 4])
def test_sessions_making_one_key_at_once_all_use_the_same(url: str, sessions: int) -> None:
    key_id = f"party:race-{sessions}-{os.getpid()}-{threading.get_ident()}"
    secrets = _at_once(url, sessions, key_id)
    assert len(secrets) == sessions
    assert len(set(secrets)) == 1
    kek = KEK if url.startswith("postgresql") else None
    with civiccrm.open(url, profile=PROFILE, key=kek) as fresh:
        assert fresh.keys.current(key_id).secret == secrets[0]


def test_the_blind_index_key_made_at_once_is_one_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    secrets = _at_once(url, 4, INDEX_KEY)
    assert len(set(secrets)) == 1


def test_a_batch_of_keys_never_replaces_one_made_meanwhile() -> None:
    """A bulk import's keys (``current_many``): one made by another session between
    this session's read and its write is used as it is, not replaced."""
    from civiccrm._keys import KeyRing
    from civiccrm.adapters import MemoryStorage

    storage = MemoryStorage()
    a = KeyRing(storage, KEK)
    b = KeyRing(storage, KEK)
    real = storage.get_keys
    reads = 0

    def read_before_a_wrote(ids: object) -> dict[str, bytes]:
        nonlocal reads
        reads += 1
        if reads == 1:
            made = a.current("party:x", create=True)
            assert made.secret
            return {}  # what b read, a moment before a stored its key
        return real(ids)  # type: ignore[arg-type]

    storage.get_keys = read_before_a_wrote  # type: ignore[method-assign]
    keys = b.current_many(["party:x", "party:y"])
    storage.get_keys = real  # type: ignore[method-assign]
    assert keys["party:x"].secret == a.current("party:x").secret
    assert KeyRing(storage, KEK).current("party:x").secret == keys["party:x"].secret
    assert KeyRing(storage, KEK).current("party:y").secret == keys["party:y"].secret
