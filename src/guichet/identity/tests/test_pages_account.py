"""Account pages: profile, API tokens, and allauth's pages inside the site's layout."""

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from guichet.demo import DEMO_PASSWORD
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.access import read_own_profile
from guichet.identity.models import ApiToken, User
from guichet.identity.service import user_for_token

pytestmark = pytest.mark.django_db

LAYOUT_MARKERS = ('<a class="skip" href="#main">', "/static/guichet/site.css", '<main id="main"')


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    # allauth keeps rate limits and used TOTP codes in the cache.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


def text(response: Any) -> str:
    return str(response.content.decode())


def profile_of(user: User) -> tuple[str, str, str, str]:
    fresh = User.objects.get(pk=user.pk)
    opened = read_own_profile(fresh)  # the profile is sealed
    return opened.full_name, opened.phone, opened.national_id, fresh.language


def test_profile_is_saved_and_the_language_follows(world: dict[str, User]) -> None:
    citizen = client_for(world["citizen_a"])
    page = citizen.get("/account/profile/")
    assert page.status_code == 200
    assert 'value="Awa Diop"' in text(page)
    saved = citizen.post(
        "/account/profile/",
        {
            "full_name": "Awa Diop Sarr",
            "phone": "77 000 11 22",
            "national_id": "1234567890123",
            "language": "en",
        },
    )
    assert saved.status_code == 302
    assert profile_of(world["citizen_a"]) == (
        "Awa Diop Sarr",
        "77 000 11 22",
        "1234567890123",
        "en",
    )
    after = text(citizen.get("/account/profile/"))
    assert "Votre profil est enregistré." in after  # said in the language of the request
    assert '<html lang="en">' in after  # the next pages follow the new choice


def test_a_wrong_national_id_is_refused_next_to_its_field(world: dict[str, User]) -> None:
    citizen = client_for(world["citizen_a"])
    before = profile_of(world["citizen_a"])
    refused = citizen.post(
        "/account/profile/",
        {"full_name": "Autre Nom", "phone": "", "national_id": "12AB", "language": "fr"},
    )
    assert refused.status_code == 400
    body = text(refused)
    assert 'id="id_national_id_error"' in body
    assert re.search(r'id="id_national_id"[^>]*aria-invalid="true"', body) or re.search(
        r'aria-invalid="true"[^>]*id="id_national_id"', body
    )
    assert "numéro d&#x27;identification nationale" in body.lower()
    assert 'value="12AB"' in body and 'value="Autre Nom"' in body
    assert profile_of(world["citizen_a"]) == before


def test_a_token_secret_is_shown_once_and_works(world: dict[str, User]) -> None:
    citizen = client_for(world["citizen_a"])
    created = citizen.post("/account/tokens/", {"name": "Mon script"})
    assert created.status_code == 302
    shown = citizen.get("/account/tokens/")
    secret = re.search(r'<p class="secret">([^<]+)</p>', text(shown))
    assert secret is not None
    assert shown["Cache-Control"] == "no-store"
    assert user_for_token(secret.group(1)) == world["citizen_a"]
    again = citizen.get("/account/tokens/")
    assert secret.group(1) not in text(again)
    assert "Mon script" in text(again)


def test_a_token_needs_a_name(world: dict[str, User]) -> None:
    refused = client_for(world["citizen_a"]).post("/account/tokens/", {"name": "  "})
    assert refused.status_code == 400
    assert 'id="id_name_error"' in text(refused)
    assert not ApiToken.objects.exists()


def test_only_the_owner_revokes_a_token(world: dict[str, User]) -> None:
    owner = client_for(world["citizen_a"])
    owner.post("/account/tokens/", {"name": "A"})
    token = ApiToken.objects.get()
    for persona in ("citizen_b", "instructor", "admin"):
        response = client_for(world[persona]).post(f"/account/tokens/{token.pk}/revoke/")
        assert response.status_code == 404
        assert ApiToken.objects.get().revoked_at is None
    assert client_for(None).post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get().revoked_at is None
    assert owner.get(f"/account/tokens/{token.pk}/revoke/").status_code == 405
    assert owner.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get().revoked_at is not None


@pytest.mark.parametrize("path", ["/account/profile/", "/account/tokens/"])
def test_account_pages_need_to_sign_in(world: dict[str, User], path: str) -> None:
    response = client_for(None).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
)
def test_allauth_entrance_pages_use_the_site_layout(world: dict[str, User], path: str) -> None:
    response = client_for(None).get(path)
    assert response.status_code == 200
    for marker in LAYOUT_MARKERS:
        assert marker in text(response)


def test_totp_activation_page_uses_the_layout_and_an_image_qr_code(world: dict[str, User]) -> None:
    client = Client()
    signed_in = client.post(
        "/accounts/login/", {"login": world["citizen_a"].email, "password": DEMO_PASSWORD}
    )
    assert signed_in.status_code == 302
    for path in ("/accounts/2fa/", "/accounts/email/", "/accounts/password/change/"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<nav class="subnav"' in text(page)
    asked = client.get("/accounts/2fa/totp/activate/")
    if asked.status_code == 302:  # allauth asks for the password again before changing MFA
        assert asked["Location"].startswith("/accounts/reauthenticate/")
        reauth = client.get(asked["Location"])
        for marker in LAYOUT_MARKERS:
            assert marker in text(reauth)
        client.post(asked["Location"], {"password": DEMO_PASSWORD})
    activation = client.get("/accounts/2fa/totp/activate/")
    assert activation.status_code == 200
    body = text(activation)
    for marker in LAYOUT_MARKERS:
        assert marker in body
    assert '<img src="data:image/svg+xml' in body


def test_an_agent_login_page_then_back_office_link(world: dict[str, User]) -> None:
    agent_page = text(client_for(world["instructor"]).get("/"))
    assert 'href="/agent/"' in agent_page
    citizen_page = text(client_for(world["citizen_a"]).get("/"))
    assert 'href="/agent/"' not in citizen_page
    assert 'href="/dossiers/"' in citizen_page


def test_an_agent_enters_the_second_factor_on_a_page_of_the_site(world: dict[str, User]) -> None:
    client = Client()
    step_one = client.post(
        "/accounts/login/", {"login": world["instructor"].email, "password": DEMO_PASSWORD}
    )
    assert step_one.status_code == 302
    assert step_one["Location"] == "/accounts/2fa/authenticate/"
    second_factor = client.get(step_one["Location"])
    assert second_factor.status_code == 200
    for marker in LAYOUT_MARKERS:
        assert marker in text(second_factor)
    assert 'name="code"' in text(second_factor)
    assert "_auth_user_id" not in client.session
