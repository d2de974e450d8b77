"""Accounts through the real pages: sign-up with email confirmation, login throttling, and
two-factor authentication that agents cannot skip."""

import re
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS
from django.test import Client

from guichet.demo import ACCOUNTS, DEMO_PASSWORD
from guichet.identity.access import read_own_profile
from guichet.identity.actions import do_add_membership
from guichet.identity.models import Organisation, Role, User
from guichet.testing import totp_code

pytestmark = pytest.mark.django_db

SECRETS = {account.email: account.totp_secret for account in ACCOUNTS}


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    # Throttling and used TOTP codes live in the cache: each test starts with a clean one.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


def _login(client: Client, email: str, password: str = DEMO_PASSWORD) -> Any:
    return client.post("/accounts/login/", {"login": email, "password": password})


def test_a_citizen_signs_up_confirms_the_email_and_is_signed_in() -> None:
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "khady.sow@example.sn",
            "password1": "Teranga-2026!",
            "password2": "Teranga-2026!",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="khady.sow@example.sn")
    # The password is stored hashed, never in clear.
    assert user.password != "Teranga-2026!" and user.check_password("Teranga-2026!")
    assert len(mail.outbox) == 1
    link = re.search(r"/accounts/confirm-email/[^\s]+/", str(mail.outbox[0].body))
    assert link is not None, mail.outbox[0].body
    # Before confirming, signing in is refused: the address must be proven first.
    assert "_auth_user_id" not in Client().session
    confirmed = client.post(link.group(0))
    assert confirmed.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_refuses_a_weak_password_and_says_why() -> None:
    response = Client().post(
        "/accounts/signup/",
        {"email": "weak@example.sn", "password1": "12345678", "password2": "12345678"},
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="weak@example.sn").exists()
    assert response.context["form"].errors["password1"]


def test_repeated_failed_logins_are_throttled(world: dict[str, User]) -> None:
    client = Client()
    for _ in range(5):
        assert _login(client, "awa.diop@example.sn", "wrong-password").status_code == 200
    # Even the right password is refused now: a guesser cannot tell when they found it.
    throttled = _login(client, "awa.diop@example.sn")
    assert throttled.context["form"].has_error(NON_FIELD_ERRORS, "too_many_login_attempts")
    assert "_auth_user_id" not in client.session
    # Another account from elsewhere is not locked out by Awa's attacker.
    assert _login(Client(REMOTE_ADDR="10.9.9.9"), "moussa.fall@example.sn").status_code == 302


def test_a_citizen_signs_in_with_a_password_alone(world: dict[str, User]) -> None:
    client = Client()
    response = _login(client, "awa.diop@example.sn")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world["citizen_a"].pk)


def test_an_agent_needs_the_totp_code_after_the_password(world: dict[str, User]) -> None:
    client = Client()
    email = "fatou.ndiaye@dakarplateau.sn"
    response = _login(client, email)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/authenticate")
    assert "_auth_user_id" not in client.session
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200
    assert "_auth_user_id" not in client.session
    right = client.post("/accounts/2fa/authenticate/", {"code": totp_code(SECRETS[email])})
    assert right.status_code == 302
    assert client.session["_auth_user_id"] == str(world["instructor"].pk)


def test_a_new_agent_without_totp_is_sent_to_set_it_up(world: dict[str, User]) -> None:
    agent = User.objects.create_user("nouvel.agent@dakarplateau.sn", DEMO_PASSWORD)
    do_add_membership(
        agent, Organisation.objects.get(slug="commune-dakar-plateau"), Role.INSTRUCTOR
    )
    client = Client()
    client.force_login(agent)
    response = client.get("/agent/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    # The API refuses the agent's token too until MFA is on.
    from guichet.identity.actions import do_create_token

    _, raw = do_create_token(agent, "cli")
    api = Client().get("/api/v1/queue", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 401


def test_the_admin_site_needs_mfa_for_operators(world: dict[str, User]) -> None:
    operator = User.objects.create_superuser("ops@guichet.sn", DEMO_PASSWORD)
    client = Client()
    client.force_login(operator)
    assert client.get("/admin/")["Location"] == "/accounts/2fa/totp/activate/"
    admin_client = Client()
    admin_client.force_login(world["admin"])
    assert admin_client.get("/admin/").status_code == 200


def test_a_national_id_must_match_the_configured_pattern(world: dict[str, User]) -> None:
    from django.core.exceptions import ValidationError

    from guichet.identity.actions import do_update_profile

    citizen = world["citizen_a"]
    with pytest.raises(ValidationError) as error:
        do_update_profile(
            citizen, full_name="Awa Diop", phone="", national_id="12AB", language="fr"
        )
    assert "national_id" in error.value.message_dict
    do_update_profile(
        citizen, full_name="Awa Diop", phone="", national_id="1751199401234", language="fr"
    )
    citizen.refresh_from_db()
    assert read_own_profile(citizen).national_id == "1751199401234"
