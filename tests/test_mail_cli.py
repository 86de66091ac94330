"""``civiccrm mail ...``: poll a maildir, list, save, retry and dismiss the quarantine."""

from __future__ import annotations

import io
import json
import mailbox
import stat
from pathlib import Path

import pytest

import civiccrm
from civiccrm.cli import main
from civiccrm.profile import springfield_path
from tests.test_mail_shapes import no_headers, plain, truncated

PROFILE = str(springfield_path())


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main([*argv], out=out)
    return code, out.getvalue()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "crm.db"
    with civiccrm.open(f"sqlite:///{path}", profile=springfield_path()):
        pass
    return str(path)


def test_poll_then_work_the_quarantine(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    box = mailbox.Maildir(str(tmp_path / "md"), create=True)
    secret = plain("my neighbour's address is 12 Elm", subject="Private matter")
    for m in (secret, no_headers(), truncated()):
        box.add(m)
    spec = f"maildir:{tmp_path / 'md'}"
    code, out = run("mail", "poll", spec, "--mailbox", "zoning", "--db", db, "--profile", PROFILE)
    assert code == 0
    assert f"{spec} -> mailbox zoning: 3 seen, 1 taken (1 opened a case, 0 threaded), " in out
    assert "2 quarantined" in out
    assert "no header fields: not an email message" in out
    for private in ("Elm", "Private", "chris.doe", "neighbour"):
        assert private not in out
    err = capsys.readouterr().err
    assert "taking mail from" in err  # progress on stderr
    assert "Elm" not in err

    code, out = run("mail", "quarantine", "--db", db, "--json")
    assert code == 0
    rows = json.loads(out)["quarantine"]
    assert len(rows) == 2
    headerless = next(r for r in rows if r["reason"].startswith("no header fields"))
    cut = next(r for r in rows if r["reason"].startswith("truncated"))

    saved = tmp_path / "saved.eml"
    code, out = run("mail", "quarantine", "save", headerless["id"], "--out", str(saved), "--db", db)
    assert code == 0
    assert saved.read_bytes() == no_headers()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    code, out = run("mail", "quarantine", "retry", headerless["id"], "--db", db)
    assert (code, out.strip()) == (
        0,
        f"quarantined message {headerless['id']} stays quarantined: "
        "no header fields: not an email message",
    )
    code, out = run("mail", "quarantine", "retry", headerless["id"], "--force", "--db", db)
    assert code == 0
    assert "opened: case " in out

    code, out = run("mail", "quarantine", "dismiss", cut["id"], "--reason", "broken", "--db", db)
    assert (code, "dismissed: broken" in out) == (0, True)
    code, out = run("mail", "quarantine", "list", "--db", db)
    assert out.strip() == "0 quarantined messages"
    code, out = run("mail", "quarantine", "list", "--all", "--db", db)
    assert out.startswith("2 quarantined messages")
    assert "[taken]" in out
    assert "[dismissed: broken]" in out

    # Polling again takes nothing.
    code, out = run("mail", "poll", spec, "--mailbox", "zoning", "--db", db, "--json")
    assert json.loads(out)["seen"] == 0


def test_errors_are_one_clear_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("mail", "poll", f"maildir:{tmp_path}/none", "--mailbox", "zoning", "--db", db)
    assert code == 2
    assert "no maildir at" in capsys.readouterr().err
    code, _ = run("mail", "poll", "imaps://x", "--mailbox", "zoning", "--db", db)
    assert code == 2
    assert "no mailbox poller for 'imaps'" in capsys.readouterr().err
    code, _ = run("mail", "poll", f"maildir:{tmp_path}", "--mailbox", "nope", "--db", db)
    assert code == 2
    assert "no mailbox 'nope'" in capsys.readouterr().err
    code, _ = run("mail", "quarantine", "retry", "not-an-id", "--db", db)
    assert code == 2
    assert "'not-an-id' is not an id" in capsys.readouterr().err
    code, _ = run(
        "mail", "poll", f"maildir:{tmp_path}", "--mailbox", "zoning", "--db", str(tmp_path / "x.db")
    )
    assert code == 2
    assert "no database at" in capsys.readouterr().err
