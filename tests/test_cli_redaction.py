"""
Database passwords never reach the output: no command prints the password of its
``--db`` URL, in its text, its JSON or its error messages, and neither does
``civiccrm.open``'s error for a database without a key-encryption key.

A fake backend stands in for a server database (its URL carries a password); with
CIVICCRM_TEST_POSTGRESQL_URL set (``eval "$(bash .ci/postgres)"``) a real PostgreSQL
server is tried too.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import pytest

import civiccrm
from civiccrm._urls import redact_url as _redact_url
from civiccrm._urls import scrub_url as _scrub_url
from civiccrm.adapters._memory import MemoryStorage
from civiccrm.cli import main
from civiccrm.errors import PolicyError, StorageError
from civiccrm.profile import springfield_path

SECRET = "S3cret-Pw"
URL = f"fakedb://admin:{SECRET}@db.example:5432/crm?sslmode=require"
SHOWN = "fakedb://admin:***@db.example:5432/crm?sslmode=require"
PG_URL = os.environ.get("CIVICCRM_TEST_POSTGRESQL_URL")
PEOPLE = Path(__file__).parent.parent / "examples" / "import"


# --------------------------------------------------------------------------------------
# The helpers


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, SHOWN),
        ("postgresql://user:PASSWORD@host/db", "postgresql://user:***@host/db"),
        ("postgresql://:pw@host/db", "postgresql://:***@host/db"),
        ("postgresql://us%40er:p%40ss@host/db", "postgresql://us%40er:***@host/db"),
        ("postgresql://user:p@ss:w/rd@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:p?w#d@host?x=1", "postgresql://user:***@host?x=1"),
        ("postgresql://user:pw@h1:5432,h2:5433/db", "postgresql://user:***@h1:5432,h2:5433/db"),
        (
            "postgresql://user@host/db?password=pw&sslmode=require",
            "postgresql://user@host/db?password=***&sslmode=require",
        ),
        (
            "postgresql://host/db?sslpassword=a&PassWord=b&schema=s",
            "postgresql://host/db?sslpassword=***&PassWord=***&schema=s",
        ),
        ("mydb://host/db?api_token=t0k&secret=x", "mydb://host/db?api_token=***&secret=***"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("postgresql://host:5432/db", "postgresql://host:5432/db"),
        ("sqlite:////var/lib/crm/c:rm@x.db", "sqlite:////var/lib/crm/c:rm@x.db"),
        ("sqlite:///civiccrm.db", "sqlite:///civiccrm.db"),
        ("memory://", "memory://"),
        ("/srv/crm/crm.db", "/srv/crm/crm.db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    """The password of the user part and of password-like parameters is masked."""
    assert shown == _redact_url(url)


def test_scrub_url_removes_the_password_in_any_form() -> None:
    """Whole, redacted, percent-encoded or decoded: the password is gone from a text."""
    url = "postgresql://ann:p%40ss%2Fword@host/db?password=other-secret"
    text = (
        f"cannot open {url}: server said: password 'p@ss/word' refused "
        "(also p%40ss%2Fword, and other-secret)"
    )
    scrubbed = _scrub_url(text, url)
    for secret in ("p@ss/word", "p%40ss%2Fword", "other-secret"):
        assert secret not in scrubbed
    assert "postgresql://ann:***@host/db?password=***" in scrubbed
    assert _scrub_url("plain text", url) == "plain text"
    assert _scrub_url("no url here", "sqlite:///x.db") == "no url here"


# --------------------------------------------------------------------------------------
# Every command, against a fake server database whose URL carries a password


class _FakeServer(MemoryStorage):
    """The in-memory backend, opened by a server URL with a password (as PostgreSQL)."""

    def __init__(self, url: str, *, persistent: bool) -> None:
        super().__init__("memory://fake-server")
        self.capabilities = attrs.evolve(self.capabilities, persistent=persistent)


@attrs.define
class _Plugin:
    persistent: bool = False
    fail: BaseException | None = None

    @civiccrm.hookimpl
    def civiccrm_storage_backend(self, url: str) -> _FakeServer | None:
        if not url.startswith("fakedb://"):
            return None
        if self.fail is not None:
            raise self.fail
        return _FakeServer(url, persistent=self.persistent)


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Plugin:
    """Every ``civiccrm.open`` of the commands gets the fake backend."""
    found = _Plugin()
    real = civiccrm.open

    def open_with_fake(url: str, **kw: Any) -> Any:
        return real(url, plugins=[found], load_entry_points=False, **kw)

    monkeypatch.setattr(civiccrm, "open", open_with_fake)
    for name in ("CIVICCRM_PROFILE", "CIVICCRM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIVICCRM_DB", URL)  # the environment's URL is redacted too
    monkeypatch.chdir(tmp_path)
    return found


def _commands(tmp: Path) -> list[list[str]]:
    """Commands that open the database, each with what it needs to run."""
    for name in ("people.csv", "people.toml"):
        shutil.copy(PEOPLE / name, tmp / name)
    return [
        ["report"],
        ["audit", "verify"],
        ["sla", "sweep"],
        ["route", "waiting"],
        ["automations", "run"],
        ["export", "cases", "--out", str(tmp / "cases.csv"), "--purpose", "test"],
        ["worker", "run", "--until-idle"],
        ["worker", "enqueue", "route", "--due"],
        ["cases", "bulk", "close", "--queue", "pw-streets", "--key", "job-1", "--dry-run"],
        ["import", str(tmp / "people.csv"), "--mapping", str(tmp / "people.toml")],
        ["open311", "export", "requests", "--out", str(tmp / "requests.json")],
        ["retention", "plan"],
        ["messages", "list"],
        ["mail", "quarantine", "list"],
        ["demo", "--cases", "3", "--db", URL],
        [
            "keys",
            "rotate",
            "--key",
            f"file:{tmp / 'old.kek'}",
            "--new-key",
            f"file:{tmp / 'new.kek'}",
            "--create",
        ],
    ]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    out = io.StringIO()
    status = main(argv, out=out)
    captured = capsys.readouterr()
    return status, out.getvalue() + captured.out + captured.err


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_no_command_prints_the_password(
    plugin: _Plugin, tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    """Each command succeeds on the fake database and shows its URL redacted."""
    from civiccrm._keys import provider_from_spec

    provider_from_spec(f"file:{tmp_path / 'old.kek'}", create=True)
    for argv in _commands(tmp_path):
        status, text = _run([*argv, *(["--json"] if as_json else [])], capsys)
        assert (argv, 0) == (argv, status), text
        assert SECRET not in text, argv
        assert "Traceback" not in text


def test_the_urls_echoed_are_redacted(
    plugin: _Plugin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where a command names its database, it names it redacted."""
    import json

    for argv in (["report"], ["audit", "verify"], ["sla", "sweep"], ["worker", "run"]):
        extra = ["--until-idle"] if argv[0] == "worker" else []
        status, text = _run([*argv, *extra, "--json"], capsys)
        assert status == 0, text
        assert json.loads(text.splitlines()[-1])["db"] == SHOWN, argv


def test_no_key_error_hides_the_password(
    plugin: _Plugin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server database without a key: every command's one-line error is redacted."""
    plugin.persistent = True
    for argv in _commands(tmp_path):
        if argv[0] == "keys":
            continue  # gives its keys
        status, text = _run(argv, capsys)
        assert (argv, 2) == (argv, status), text
        assert "give the key-encryption key" in text, argv
        assert SHOWN in text, argv
        assert SECRET not in text, argv


@pytest.mark.parametrize(
    "fail",
    [
        StorageError(f"cannot connect to {URL}: password {SECRET!r} refused"),
        RuntimeError(f"driver bug while opening {URL}"),
    ],
    ids=["storage-error", "internal-error"],
)
def test_errors_naming_the_url_are_scrubbed(
    plugin: _Plugin, capsys: pytest.CaptureFixture[str], fail: BaseException
) -> None:
    """A backend's error that names the URL or its password is shown without it."""
    plugin.fail = fail
    status, text = _run(["report"], capsys)
    assert status in (2, 3)
    assert text.count("\n") == 1
    assert SECRET not in text
    assert "***" in text


def test_open_without_a_key_hides_the_password() -> None:
    """``civiccrm.open``'s error for a server database with no key shows the URL redacted."""
    with pytest.raises(PolicyError) as info:
        civiccrm.open(
            URL,
            profile=springfield_path(),
            plugins=[_Plugin(persistent=True)],
            load_entry_points=False,
        )
    assert SECRET not in str(info.value)
    assert SHOWN in str(info.value)


# --------------------------------------------------------------------------------------
# A real PostgreSQL server


def _with_password(url: str, password: str, *, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    user, _, hosts = parts.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0] or 'civiccrm'}:{password}@{hosts}"
    path = parts.path if dbname is None else f"/{dbname}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


@pytest.mark.skipif(PG_URL is None, reason="CIVICCRM_TEST_POSTGRESQL_URL not set")
def test_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    A PostgreSQL URL with a password: not in the error of a failed connection, of a
    database without a key, nor in a report's output.
    """
    import psycopg

    assert PG_URL is not None
    for name in ("CIVICCRM_PROFILE", "CIVICCRM_KEY", "CIVICCRM_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    # No such database: the connection fails.
    missing = _with_password(PG_URL, SECRET, dbname=f"no_db_{uuid.uuid4().hex[:8]}")
    status, text = _run(["--json", "report", "--db", missing], capsys)
    assert status == 2
    assert "cannot connect" in text
    assert SECRET not in text
    schema = f"civiccrm_redact_{uuid.uuid4().hex[:12]}"
    base = _with_password(PG_URL, SECRET)
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    try:
        # The server trusts local connections, so the password is not checked: the
        # database opens, and wants a key.
        status, text = _run(["--json", "report", "--db", url], capsys)
        assert status == 2
        assert "give the key-encryption key" in text
        assert SECRET not in text
        key = tmp_path / "pg.kek"
        monkeypatch.setenv("CIVICCRM_KEY", f"file:{key}")
        from civiccrm._keys import provider_from_spec

        provider_from_spec(f"file:{key}", create=True)
        for argv in (["report"], ["audit", "verify"], ["sla", "sweep"]):
            for extra in ([], ["--json"]):
                status, text = _run([*argv, "--db", url, *extra], capsys)
                assert status == 0, text
                assert SECRET not in text
                if extra or argv != ["report"]:  # the report's table names no database
                    assert ":***@" in text
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
