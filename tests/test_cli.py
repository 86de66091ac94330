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
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIVICCRM_PROFILE", raising=False)
    monkeypatch.delenv("CIVICCRM_DB", raising=False)


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


def test_demo_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, text = run("demo", "--cases", "200", "--seed", "7")
    assert status == 0
    lines = text.splitlines()
    assert lines[0].startswith("City of Springfield: 36 case types in 6 departments")
    assert "generated 50 citizens and 200 cases" in text
    assert "0 rejected" in text
    assert "cases by department:" in text
    assert "public-works" in text
    assert "attributes.colour: not an attribute of case type '001'" in text
    # The progress summary goes to stderr, never into the output.
    assert "citizens" in capsys.readouterr().err


def test_demo_json_numbers_add_up() -> None:
    status, data = run_json("demo", "--cases", "200", "--json")
    assert status == 0
    assert data["cases"] == 200
    assert data["citizens"] == 50
    assert data["rejected"] == 0
    assert data["agency"] == "City of Springfield"
    assert Path(data["profile"]) == SPRINGFIELD
    for key in ("by_department", "by_channel", "by_priority"):
        assert sum(data[key].values()) == 200, key
        assert all(n > 0 for n in data[key].values())
    departments = {d.code for d in load_profile(SPRINGFIELD).departments}
    assert set(data["by_department"]) <= departments
    assert set(data["by_priority"]) <= {"low", "normal", "high", "urgent"}
    assert 0 <= data["anonymous_cases"] <= 200
    assert 0 <= data["cases_with_attributes"] <= 200
    assert 0 <= data["repeat_requesters"] <= data["citizens"]
    # Counts are sorted from most to least common.
    counts = list(data["by_department"].values())
    assert counts == sorted(counts, reverse=True)
    assert data["example_rejection"]
    assert all(line.startswith("attributes.") for line in data["example_rejection"])


def test_demo_same_seed_same_counts() -> None:
    def counts(seed: str) -> dict[str, Any]:
        status, data = run_json("demo", "--cases", "150", "--seed", seed, "--json")
        assert status == 0
        data.pop("seconds")
        return data

    first = counts("11")
    assert counts("11") == first
    for key in ("by_department", "by_channel", "by_priority"):
        assert sum(first[key].values()) == 150


def test_demo_options_after_the_subcommand() -> None:
    status, data = run_json("demo", "--json", "--cases", "50")
    assert status == 0
    assert data["cases"] == 50
    assert sum(data["by_department"].values()) == 50


def test_demo_options_before_the_subcommand(mini_profile: Path) -> None:
    status, data = run_json("--json", "--profile", str(mini_profile), "demo", "--cases", "40")
    assert status == 0
    assert data["agency"] == "Testville"
    assert data["by_department"] == {"roads": 40}


def test_demo_with_profile_option(mini_profile: Path) -> None:
    status, data = run_json("demo", "--profile", str(mini_profile), "--cases", "30", "--json")
    assert status == 0
    assert data["profile"] == str(mini_profile)
    assert data["agency"] == "Testville"
    assert data["by_department"] == {"roads": 30}
    assert data["rejected"] == 0


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
        f"{SPRINGFIELD}: ok: City of Springfield, 6 departments, 15 queues, 36 case types\n"
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
    }


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
    assert data["cases"] == 20
    assert data["rejected"] == 0
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
