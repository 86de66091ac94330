"""The civiccrm command: exit statuses, text and JSON output, options and environment."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from civiccrm.cli import main
from civiccrm.profile import load_profile, springfield_path

SPRINGFIELD = springfield_path()

MINI = """\
[agency]
code = "testville"
name = "Testville"
default_region = "GB"
time_zone = "Europe/London"

[[departments]]
code = "roads"
name = "Roads"

[[queues]]
code = "roads-crew"
name = "Road crew"
department = "roads"

[[case_types]]
code = "R1"
name = "Pothole"
department = "roads"
queue = "roads-crew"
"""

BAD = """\
[agency]
code = "testville"
name = "Testville"
default_region = "GB"
time_zone = "Mars/Olympus_Mons"

[[departments]]
code = "roads"
name = "Roads"

[[queues]]
code = "ghost"
name = "Ghost"
department = "nowhere"

[[case_types]]
code = "R1"
name = "Sign"
department = "roads"

  [[case_types.attributes]]
  code = "count"
  datatype = "integer"
  description = "How many?"
"""
BAD_PATHS = {
    "agency.time_zone",
    "queues[0].department",
    "case_types[0].attributes[0].datatype",
}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    status, text = run(*argv)
    lines = text.splitlines()
    assert len(lines) == 1, "one JSON object on one line"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return status, data


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CIVICCRM_PROFILE", raising=False)
    monkeypatch.delenv("CIVICCRM_DB", raising=False)
    # The demo writes ./civiccrm-demo.db: keep it out of the source tree.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def bad_profile(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    return path


@pytest.fixture
def mini_profile(tmp_path: Path) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(MINI, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# Version, help, usage errors


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"], out=io.StringIO())
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"civiccrm {version('civiccrm')}"


def test_no_command_prints_help_and_returns_2() -> None:
    status, text = run()
    assert status == 2
    assert text.startswith("usage: civiccrm")
    assert "demo" in text
    assert "profile" in text
    assert "--profile" in text


def test_profile_without_subcommand_returns_2() -> None:
    status, text = run("profile")
    assert status == 2
    assert "usage:" in text


@pytest.mark.parametrize("cases", ["0", "x", "-3", "1.5"])
def test_demo_bad_cases_is_a_usage_error(cases: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    with pytest.raises(SystemExit) as info:
        main(["demo", "--cases", cases], out=out)
    assert info.value.code == 2
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert "--cases" in err
    assert repr(cases) in err
    assert "Traceback" not in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"], out=io.StringIO())
    assert info.value.code == 2
    assert "frobnicate" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# demo


def test_demo_text_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, text = run("demo", "--cases", "200", "--seed", "7")
    assert status == 0
    lines = text.splitlines()
    assert lines[0].startswith("City of Springfield: 36 case types in 6 departments")
    assert lines[1].startswith("built sqlite:///civiccrm-demo.db")
    assert "records: 50 citizens, 200 cases" in text
    assert "cases by status:" in text
    assert "open cases by queue:" in text
    assert "export CIVICCRM_DB=sqlite:///civiccrm-demo.db" in text
    # It built the database in the working folder, and the progress went to stderr.
    assert (tmp_path / "civiccrm-demo.db").exists()
    assert "cases" in capsys.readouterr().err


def test_demo_json_numbers_add_up() -> None:
    status, data = run_json("demo", "--cases", "200", "--json")
    assert status == 0
    assert data["created"] is True
    assert data["records"]["case"] == 200
    assert data["records"]["citizen"] == 50
    assert data["records"]["agent"] > 0
    # Every case has its opened event, and worked cases more.
    assert data["records"]["case_event"] > 200
    assert data["agency"] == "City of Springfield"
    assert Path(data["profile"]) == SPRINGFIELD
    assert sum(data["cases_by_status"].values()) == 200
    open_statuses = {"new", "assigned", "in_progress", "pending"}
    open_total = sum(v for k, v in data["cases_by_status"].items() if k in open_statuses)
    assert sum(data["open_cases_by_queue"].values()) == open_total
    queues = {q.code for q in load_profile(SPRINGFIELD).queues}
    assert set(data["open_cases_by_queue"]) <= queues
    # Some cases were worked to the end.
    assert data["cases_by_status"].get("closed", 0) > 0


def test_demo_twice_is_safe() -> None:
    status, first = run_json("demo", "--cases", "120", "--json")
    assert status == 0
    status, second = run_json("demo", "--cases", "120", "--json")
    assert status == 0
    assert second["created"] is False
    assert second["records"] == first["records"]
    assert second["cases_by_status"] == first["cases_by_status"]


def test_demo_same_seed_same_counts(tmp_path: Path) -> None:
    def counts(name: str) -> dict[str, Any]:
        db = f"sqlite:///{tmp_path / name}"
        status, data = run_json("demo", "--cases", "150", "--seed", "11", "--db", db, "--json")
        assert status == 0
        return {k: data[k] for k in ("records", "cases_by_status", "open_cases_by_queue")}

    assert counts("a.db") == counts("b.db")


def test_demo_uses_db_option_but_never_civiccrm_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real.db"
    monkeypatch.setenv("CIVICCRM_DB", f"sqlite:///{real}")
    status, data = run_json("demo", "--cases", "30", "--json")
    assert status == 0
    assert not real.exists()
    assert data["db"] == "sqlite:///civiccrm-demo.db"
    chosen = tmp_path / "chosen.db"
    status, data = run_json("demo", "--cases", "30", "--json", "--db", f"sqlite:///{chosen}")
    assert status == 0
    assert chosen.exists()


def test_demo_options_after_the_subcommand() -> None:
    status, data = run_json("demo", "--json", "--cases", "50")
    assert status == 0
    assert data["records"]["case"] == 50


def test_demo_options_before_the_subcommand(mini_profile: Path) -> None:
    status, data = run_json("--json", "--profile", str(mini_profile), "demo", "--cases", "40")
    assert status == 0
    assert data["agency"] == "Testville"
    assert data["records"]["case"] == 40


def test_demo_with_profile_option(mini_profile: Path) -> None:
    status, data = run_json("demo", "--profile", str(mini_profile), "--cases", "30", "--json")
    assert status == 0
    assert data["profile"] == str(mini_profile)
    assert data["agency"] == "Testville"
    assert set(data["open_cases_by_queue"]) <= {"roads-crew"}


def test_demo_honours_civiccrm_profile(mini_profile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICCRM_PROFILE", str(mini_profile))
    status, data = run_json("demo", "--cases", "30", "--json")
    assert status == 0
    assert data["agency"] == "Testville"


def test_demo_profile_option_beats_environment(
    mini_profile: Path, bad_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICCRM_PROFILE", str(bad_profile))
    status, data = run_json("demo", "--profile", str(mini_profile), "--cases", "20", "--json")
    assert status == 0
    assert data["agency"] == "Testville"


def test_demo_with_bad_profile_is_one_readable_error(
    bad_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, text = run("demo", "--profile", str(bad_profile), "--cases", "10")
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err
    assert err.startswith("civiccrm: error: bad profile")
    assert "Traceback" not in err
    for path in BAD_PATHS:
        assert path in err


def test_demo_with_profile_without_case_types_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(MINI.split("[[departments]]", 1)[0], encoding="utf-8")
    status, _ = run("demo", "--profile", str(path), "--cases", "10")
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert status == 2


# --------------------------------------------------------------------------------------
# profile check


def test_profile_check_springfield() -> None:
    status, text = run("profile", "check", str(SPRINGFIELD))
    assert status == 0
    assert text == (
        f"{SPRINGFIELD}: ok: City of Springfield, 6 departments, 15 queues, 36 case types, "
        "12 routing rules\n"
    )


def test_profile_check_springfield_json() -> None:
    profile = load_profile(SPRINGFIELD)
    status, data = run_json("profile", "check", "--json", str(SPRINGFIELD))
    assert status == 0
    assert data == {
        "ok": True,
        "path": str(SPRINGFIELD),
        "agency": "City of Springfield",
        "departments": len(profile.departments),
        "queues": len(profile.queues),
        "case_types": len(profile.case_types),
        "routing_rules": len(profile.routing.rules.rules),
        "warnings": [],
    }


def test_profile_check_lists_rules_that_can_never_fire(tmp_path: Path) -> None:
    text = SPRINGFIELD.read_text(encoding="utf-8").replace(
        'districts = "springfield-districts.geojson"',
        f'districts = "{SPRINGFIELD.parent / "springfield-districts.geojson"}"',
    )
    text += '\n[[routing.rules]]\nname = "late"\nwhen.case_type = ["002"]\n'
    text += 'when.attributes = { problem = "exposed_wires" }\nthen.tags = ["x"]\n'
    path = tmp_path / "agency.toml"
    path.write_text(text, encoding="utf-8")
    status, out = run("profile", "check", str(path))
    assert status == 0
    assert "warning:" in out
    assert '"late"' in out
    assert "exposed-wires" in out


def test_profile_check_example_symlink() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "springfield" / "agency.toml"
    status, text = run("profile", "check", str(example))
    assert status == 0
    assert ": ok: City of Springfield" in text


def test_profile_check_bad_profile(bad_profile: Path) -> None:
    status, text = run("profile", "check", str(bad_profile))
    assert status == 1
    assert str(bad_profile) in text
    assert "3 problems" in text
    for path in BAD_PATHS:
        assert f"  - {path}: " in text
    assert "'integer' is not one of" in text


def test_profile_check_bad_profile_json(bad_profile: Path) -> None:
    status, data = run_json("--json", "profile", "check", str(bad_profile))
    assert status == 1
    assert data["ok"] is False
    assert data["path"] == str(bad_profile)
    assert {p["path"] for p in data["problems"]} == BAD_PATHS
    for problem in data["problems"]:
        assert set(problem) == {"path", "message"}
        assert problem["message"]


def test_profile_check_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    status, data = run_json("profile", "check", str(missing), "--json")
    assert status == 1
    assert data["ok"] is False
    assert len(data["problems"]) == 1
    assert "cannot read" in data["problems"][0]["message"]


def test_profile_check_without_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    status, text = run("profile", "check")
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert err.startswith("civiccrm: error:")
    assert "CIVICCRM_PROFILE" in err


def test_profile_check_honours_civiccrm_profile(
    bad_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICCRM_PROFILE", str(SPRINGFIELD))
    status, text = run("profile", "check")
    assert status == 0
    assert text.startswith(f"{SPRINGFIELD}: ok:")
    monkeypatch.setenv("CIVICCRM_PROFILE", str(bad_profile))
    status, data = run_json("profile", "check", "--json")
    assert status == 1
    assert {p["path"] for p in data["problems"]} == BAD_PATHS


def test_profile_check_path_beats_profile_option(bad_profile: Path) -> None:
    status, _ = run("profile", "check", "--profile", str(bad_profile), str(SPRINGFIELD))
    assert status == 0
    status, _ = run("--profile", str(bad_profile), "profile", "check")
    assert status == 1


# --------------------------------------------------------------------------------------
# The real entry point


def test_module_entry_point(tmp_path: Path) -> None:
    env = {"PATH": "", "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "civiccrm.cli", "demo", "--cases", "20", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["records"]["case"] == 20
    assert (tmp_path / "civiccrm-demo.db").exists()
    assert "Traceback" not in result.stderr


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "civiccrm"
    if not script.exists():
        pytest.skip("the civiccrm console script is not installed next to this Python")
    result = subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"civiccrm {version('civiccrm')}"
    result = subprocess.run(
        [str(script), "profile", "check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": ""},
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
