from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from relevance_site.envvars import ConfigurationError, env_bool, env_int, env_list, valid_ml_device

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ML_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("raw, expected", [("true", True), ("0", False), ("YES", True), ("off", False)])
def test_env_bool_accepts_the_usual_spellings(raw: str, expected: bool) -> None:
    assert env_bool("X", not expected, environ={"X": raw}) is expected


def test_env_bool_rejects_anything_else() -> None:
    with pytest.raises(ConfigurationError, match="X='maybe' is not a boolean"):
        env_bool("X", True, environ={"X": "maybe"})


def test_blank_values_mean_default() -> None:
    assert env_bool("X", True, environ={"X": "  "}) is True
    assert env_list("X", ["a"], environ={"X": ""}) == ["a"]


def test_env_int_checks_type_and_minimum() -> None:
    assert env_int("N", 5, environ={"N": "7"}) == 7
    with pytest.raises(ConfigurationError, match="not a whole number"):
        env_int("N", 5, environ={"N": "seven"})
    with pytest.raises(ConfigurationError, match="below the minimum"):
        env_int("N", 5, minimum=0, environ={"N": "-1"})


@pytest.mark.parametrize("device, ok", [("auto", True), ("cuda:1", True), ("cuda:x", False), ("gpu", False)])
def test_ml_device_values(device: str, ok: bool) -> None:
    assert valid_ml_device(device) is ok


def test_malformed_debug_stops_start_up_with_a_clear_message() -> None:
    result = manage("check", DJANGO_DEBUG="maybe")
    assert result.returncode == 2
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_requires_a_secret_key() -> None:
    result = manage("check", DJANGO_DEBUG="false")
    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_unknown_database_scheme_is_refused() -> None:
    result = manage("check", DATABASE_URL="mysql://db/x")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_check_deploy_is_clean_in_production_mode() -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
