"""Settings as an operator meets them: production checks, headers, SQLite durability, secrets."""

import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from guichet.sqlite_backend.base import DatabaseWrapper
from guichet.tests.helpers import run_guichet

PRODUCTION = {
    "GUICHET_SECURE": "1",
    "GUICHET_DEBUG": "0",
    "GUICHET_ALLOWED_HOSTS": "guichet.example.sn",
    "EMAIL_HOST": "smtp.example.sn",
    "GUICHET_RESIDENCY_HOSTS": "127.0.0.1,localhost,::1,smtp.example.sn",
}


def _production(**extra: str) -> dict[str, str]:
    return {**PRODUCTION, "GUICHET_SECRET_KEY": secrets.token_urlsafe(60), **extra}


def test_check_deploy_is_clean_in_production_settings(tmp_path: Path) -> None:
    result = run_guichet(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **_production())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_check_deploy_flags_production_without_a_mail_server(tmp_path: Path) -> None:
    settings = _production()
    del settings["EMAIL_HOST"]  # the embedded default writes emails to files: nobody gets them

    result = run_guichet(tmp_path, "check", "--deploy", **settings)

    assert result.returncode != 0
    assert "mail.E001" in result.stderr


def test_check_deploy_flags_a_short_secret_key(tmp_path: Path) -> None:
    result = run_guichet(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **_production(GUICHET_SECRET_KEY="too-short"),
    )

    assert result.returncode != 0
    assert "security.W009" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/accounts/login/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def _pragma(wrapper: DatabaseWrapper, name: str) -> Any:
    with wrapper.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_sqlite_is_in_wal_mode_with_full_synchronous_writes(tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip(f"the database is {connection.vendor}: the SQLite PRAGMAs do not apply")
    # The test database lives in memory, where WAL cannot exist: open a file database with the
    # very settings of the default one.
    probe = DatabaseWrapper(
        {**connection.settings_dict, "NAME": str(tmp_path / "probe.sqlite3")}, alias="probe"
    )
    try:
        assert _pragma(probe, "journal_mode") == "wal"
        assert _pragma(probe, "synchronous") == 2  # FULL
        assert _pragma(probe, "foreign_keys") == 1
        assert _pragma(probe, "busy_timeout") == 20000
        assert _pragma(probe, "cache_size") == -512  # KiB: bounded per kept connection
    finally:
        probe.close()


def test_a_secret_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"  # missing: the settings create it

    first = run_guichet(var_dir, "check")
    assert first.returncode == 0, first.stderr

    key_file = var_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    key = key_file.read_text()
    assert len(key) >= 50
    assert run_guichet(var_dir, "check").returncode == 0
    assert key_file.read_text() == key  # kept, not replaced: sessions survive a restart


def test_the_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "key.txt"
    secret_file.write_text("from-a-file-" + secrets.token_urlsafe(40) + "\n")
    var_dir = tmp_path / "var"

    result = run_guichet(
        var_dir,
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        GUICHET_SECRET_KEY_FILE=str(secret_file),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == secret_file.read_text().strip()
    assert not (var_dir / "secret_key").exists()
