"""The `guichet` console command and `guichet token`, as an operator types them."""

import io
import re
import sys
from pathlib import Path

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.test import Client

from guichet.identity.models import ApiToken, User
from guichet.tests.helpers import run_guichet

pytestmark = pytest.mark.django_db


def _token(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _me(raw: str) -> tuple[int, dict[str, object]]:
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    return response.status_code, response.json()


def test_token_create_prints_a_token_that_opens_the_api(world: dict[str, User]) -> None:
    out, err = _token("create", "Awa.Diop@example.sn", "--name", "tax office sync")

    raw = out.strip()
    assert raw.startswith("gch_") and "\n" not in raw  # stdout holds the token and nothing else
    assert "Il n’est affiché que cette fois" in err
    token = ApiToken.objects.get(user=world["citizen_a"])
    assert token.name == "tax office sync"
    assert raw not in (token.digest, token.prefix)  # only a digest is stored
    status, me = _me(raw)
    assert status == 200
    assert me["email"] == "awa.diop@example.sn"


def test_token_create_for_an_unknown_email_fails_and_creates_nothing(
    world: dict[str, User],
) -> None:
    with pytest.raises(
        CommandError, match=re.escape("Aucun compte n’a l’adresse électronique nobody@example.sn.")
    ):
        _token("create", "nobody@example.sn")
    assert not ApiToken.objects.exists()


def test_an_unknown_email_exits_with_status_1_and_a_clear_message(
    world: dict[str, User], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["guichet", "token", "create", "nobody@example.sn"]).execute()

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "Aucun compte n’a l’adresse électronique nobody@example.sn." in captured.err
    assert captured.out == ""


def test_token_create_refuses_a_deactivated_account(world: dict[str, User]) -> None:
    world["citizen_b"].is_active = False
    world["citizen_b"].save()
    with pytest.raises(CommandError, match="est désactivé"):
        _token("create", "moussa.fall@example.sn")
    assert not ApiToken.objects.exists()


def test_token_list_shows_each_token_without_its_secret(world: dict[str, User]) -> None:
    first, _ = _token("create", "awa.diop@example.sn", "--name", "first")
    _token("create", "awa.diop@example.sn", "--name", "second")

    out, _ = _token("list", "awa.diop@example.sn")

    lines = out.splitlines()
    assert len(lines) == 2
    assert any("first" in line and "active" in line for line in lines)
    assert first.strip() not in out
    _, err = _token("list", "moussa.fall@example.sn")
    assert "n’a aucun jeton d’API" in err


def test_token_revoke_shuts_the_token_out(world: dict[str, User]) -> None:
    raw = _token("create", "awa.diop@example.sn")[0].strip()
    token = ApiToken.objects.get(user=world["citizen_a"])
    assert _me(raw)[0] == 200

    _, err = _token("revoke", str(token.pk))

    assert "révoqué" in err
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert _me(raw)[0] == 401
    assert "revoked" in _token("list", "awa.diop@example.sn")[0]


def test_token_revoke_twice_or_unknown_fails(world: dict[str, User]) -> None:
    _token("create", "awa.diop@example.sn")
    token = ApiToken.objects.get()
    _token("revoke", str(token.pk))
    with pytest.raises(CommandError, match="était déjà révoqué"):
        _token("revoke", str(token.pk))
    with pytest.raises(CommandError, match="Aucun jeton n’a l’identifiant"):
        _token("revoke", "6f1c1f4e-0000-4000-8000-000000000000")
    with pytest.raises(CommandError, match="n’est pas un identifiant de jeton"):
        _token("revoke", "not-a-uuid")


def test_the_console_script_is_installed_and_runs_help(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("guichet")
    assert script.is_file(), f"{script} is missing: reinstall with pip install -e ."

    result = run_guichet(tmp_path, "help")

    assert result.returncode == 0, result.stderr
    for command in ("token", "demo", "migrate", "db_worker"):
        assert command in result.stdout
