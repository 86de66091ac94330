"""``civiccrm report``: the table, JSON, CSV and PNG charts, on the demo database."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from civiccrm.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CIVICCRM_PROFILE", raising=False)
    monkeypatch.delenv("CIVICCRM_DB", raising=False)
    monkeypatch.delenv("CIVICCRM_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small demo database (cases imported, a share worked through the lifecycle)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    status, _ = run("demo", "--cases", "300", "--seed", "11", "--db", f"sqlite:///{path}")
    assert status == 0
    return str(path)


def test_report_prints_a_table(demo: str) -> None:
    status, text = run("report", "--db", demo)
    assert status == 0
    assert text.startswith("KPI report ")
    for words in (
        "cases opened",
        "backlog at end",
        "first response, median",
        "resolution, p90",
        "resolved on time (SLA)",
        "reopen rate",
        "CSAT (scores 4-5)",
        "survey response rate",
        "week of",
        "backlog age",
        "channel",
        "agent",
    ):
        assert words in text, words
    assert "Traceback" not in text


def test_report_json_is_one_object(demo: str) -> None:
    status, text = run("report", "--db", demo, "--by", "queue", "--json")
    assert status == 0
    lines = text.splitlines()
    assert len(lines) == 1
    data: dict[str, Any] = json.loads(lines[0])
    assert data["by"] == "queue"
    assert data["computed"] == "database"
    assert data["total"]["opened"] == sum(g["opened"] for g in data["groups"])
    assert data["total"]["backlog"] == sum(g["backlog"] for g in data["groups"])
    assert len(data["weeks"]) == 13
    assert data["charts"] == []


def test_report_streamed_gives_the_same_figures(demo: str) -> None:
    # The demo works cases by the computer's clock: end the period at the end of today.
    today = datetime.now(ZoneInfo("America/Chicago")).date().isoformat()
    args = ("report", "--db", demo, "--by", "department", "--until", today, "--json")
    _, a = run(*args)
    _, b = run(*args, "--stream")
    da, db = json.loads(a), json.loads(b)
    assert (da.pop("computed"), db.pop("computed")) == ("database", "stream")
    assert da == db


def test_report_slice_and_csv(demo: str, tmp_path: Path) -> None:
    out = tmp_path / "kpis.csv"
    status, text = run(
        "report",
        "--db",
        demo,
        "--department",
        "public-works",
        "--channel",
        "phone",
        "web",
        "--since",
        "2020-01-01",
        "--csv",
        str(out),
    )
    assert status == 0
    assert "slice: departments: public-works; channels: phone, web" in text
    assert f"figures written to {out}" in text
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    channels = {r["key"] for r in rows if r["metric"] == "channel.opened"}
    assert channels <= {"phone", "web"}
    assert rows[0]["since"].startswith("2020-01-01T00:00:00-06:00")


def test_report_plot_writes_charts(demo: str, tmp_path: Path) -> None:
    """On the demo database, --plot writes PNG charts (and says where)."""
    charts = tmp_path / "charts"
    status, text = run("report", "--db", demo, "--by", "department", "--plot", str(charts))
    assert status == 0
    written = sorted(p.name for p in charts.iterdir())
    assert written == [
        "agents.png",
        "backlog-aging.png",
        "channel-mix.png",
        "response-resolution-times.png",
        "weekly-volume.png",
    ]
    for name in written:
        data = (charts / name).read_bytes()
        assert data.startswith(PNG)
        assert 5_000 < len(data) < 200_000
        assert str(charts / name) in text


def test_report_plot_without_matplotlib_names_the_extra(
    demo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As if matplotlib were not installed: importing it fails.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, text = run("report", "--db", demo, "--plot", str(tmp_path / "charts"))
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "civiccrm[plot]" in err
    assert "Traceback" not in err
    assert not (tmp_path / "charts").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--queue", "nope"], "queues[0]: no queue 'nope'"),
        (["--agent", "ghost"], "agents[0]: no agent with username 'ghost'"),
        (["--since", "yesterday"], "since"),
        (["--since", "2026-03-01", "--until", "2026-02-01"], "until: must be after since"),
        (["--until", "2026-03-01T10:00"], "time zone"),
        (["--until", "9999-12-31"], "until: must be 2099-12-31 or before"),
        (
            ["--since", "2026-03-01", "--until", "9999-12-31T23:59:59+14:00"],
            "until: must end by the end of 2099",
        ),
        (["--since", "0001-01-01"], "since: must be 1970-01-01 or later"),
        (["--since", "2000-01-01", "--until", "2020-12-31"], "at most 10 years"),
        (["--csv", "/nonexistent/x.csv"], "--csv: cannot write /nonexistent/x.csv"),
        (["--csv", "."], "--csv: cannot write .: it is a directory"),
        (["--plot", "/dev/null"], "--plot: cannot write /dev/null: it is not a directory"),
        (["--plot", "/dev/null/charts"], "/dev/null is not a directory"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    demo: str, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, text = run("report", "--db", demo, *argv)
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err
    assert words in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_no_database_is_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = run("report", "--db", str(tmp_path / "missing.db"))
    assert status == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()


def test_output_paths_are_checked_before_the_report(
    demo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A path that cannot be written fails at once: no report is computed for nothing."""
    from civiccrm.reporting import ReportService

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report was computed")

    monkeypatch.setattr(ReportService, "kpis", never)
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    for argv in (["--csv", str(tmp_path / "no" / "x.csv")], ["--plot", str(a_file)]):
        status, text = run("report", "--db", demo, *argv)
        assert (status, text) == (2, "")
        err = capsys.readouterr().err
        assert f"civiccrm: error: {argv[0]}: cannot write {argv[1]}" in err
        assert err.count("\n") == 1
    assert a_file.read_text(encoding="utf-8") == "x"


def test_a_failed_write_is_one_line_and_status_2(
    demo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An OSError while writing the CSV or the charts (a full disk) is one line, status 2."""
    from civiccrm.reporting import ReportService

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ReportService, "plot", full)
    status, _ = run("report", "--db", demo, "--plot", str(tmp_path / "charts"))
    err = capsys.readouterr().err
    assert (status, err.count("\n")) == (2, 1)
    assert "--plot: cannot write" in err
    assert "No space left on device" in err
    monkeypatch.setattr("builtins.open", full)
    status, _ = run("report", "--db", demo, "--csv", str(tmp_path / "kpis.csv"))
    err = capsys.readouterr().err
    assert (status, err.count("\n")) == (2, 1)
    assert "--csv: cannot write" in err
