"""The account's pages and API, persona by persona: each person reaches their own profile,
tokens, closure and export, and nothing of anyone else's, whatever their role (the agents who
handle Awa's dossier included); anonymous visitors are sent to sign in (401 on the API). The
console's list of accounts: test_admin_log.py (the console's own pages are not checked by
strict_html)."""

import io
import json
import re
import zipfile
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from guichet.demo import DEMO_PASSWORD
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
    submitted_for,
)
from guichet.identity.access import read_own_profile
from guichet.identity.actions import do_create_token
from guichet.identity.models import ApiToken, User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "citizen_a",
    "citizen_b",
    "instructor",
    "supervisor",
    "other_agent",
    "admin",
)
NAMES = {
    "citizen_a": "Awa Diop",
    "citizen_b": "Moussa Fall",
    "instructor": "Fatou Ndiaye",
    "supervisor": "Ibrahima Sarr",
    "other_agent": "Ousmane Sy",
    "admin": "Administrateur de la plateforme",
}
AWA_TOKEN = "Jeton d'Awa"


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    # allauth keeps rate limits in the cache.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


@pytest.fixture
def awa_has_things(world: dict[str, User]) -> dict[str, Any]:
    """A dossier of Awa's that the commune's agents are instructing, and an API token of hers."""
    dossier = submitted_for(world["citizen_a"])
    token, _ = do_create_token(world["citizen_a"], AWA_TOKEN)
    return {"dossier": dossier, "token": token}


def _client(world: dict[str, User], persona: str) -> Client:
    return client_for(None if persona == "anonymous" else world[persona])


def _sent_to_sign_in(response: Any) -> bool:
    return bool(response.status_code == 302) and str(response["Location"]).startswith(
        "/accounts/login/"
    )


def _others(persona: str) -> list[str]:
    return [name for other, name in NAMES.items() if other != persona]


def _profiles() -> dict[str, tuple[str, str, str, str]]:
    profiles = {}
    for user in User.objects.all():
        opened = read_own_profile(user)
        profiles[user.email] = (opened.full_name, opened.phone, opened.national_id, user.language)
    return profiles


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_profile_page_is_the_persons_own(world: dict[str, User], persona: str) -> None:
    client = _client(world, persona)
    shown = client.get("/account/profile/")
    before = _profiles()
    saved = client.post(
        "/account/profile/",
        {"full_name": "Nom changé", "phone": "", "national_id": "", "language": "fr"},
    )
    after = _profiles()
    if persona == "anonymous":
        assert _sent_to_sign_in(shown) and _sent_to_sign_in(saved)
        assert after == before
        return
    assert shown.status_code == 200
    html = shown.content.decode()
    assert f'value="{NAMES[persona]}"' in html
    assert not any(name in html for name in _others(persona))
    assert saved.status_code == 302
    mine = world[persona].email
    assert after[mine][0] == "Nom changé"
    assert {k: v for k, v in after.items() if k != mine} == {
        k: v for k, v in before.items() if k != mine
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_tokens_page_lists_and_creates_the_persons_own(
    world: dict[str, User], awa_has_things: dict[str, Any], persona: str
) -> None:
    client = _client(world, persona)
    shown = client.get("/account/tokens/")
    count = ApiToken.objects.count()
    created = client.post("/account/tokens/", {"name": "Mon jeton"})
    if persona == "anonymous":
        assert _sent_to_sign_in(shown) and _sent_to_sign_in(created)
        assert ApiToken.objects.count() == count
        return
    assert shown.status_code == 200
    html = shown.content.decode()
    assert (AWA_TOKEN.replace("'", "&#x27;") in html) is (persona == "citizen_a")
    assert awa_has_things["token"].prefix not in html or persona == "citizen_a"
    assert created.status_code == 302
    new = ApiToken.objects.exclude(pk__in=[awa_has_things["token"].pk]).get(name="Mon jeton")
    assert new.user_id == world[persona].pk
    # The secret is shown once, to its owner, on the next page.
    secret = re.search(r'<p class="secret">([^<]+)</p>', client.get("/account/tokens/").text)
    assert secret is not None and secret.group(1).startswith(new.prefix)


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_the_owner_revokes_a_token(
    world: dict[str, User], awa_has_things: dict[str, Any], persona: str
) -> None:
    token = awa_has_things["token"]
    response = _client(world, persona).post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    if persona == "anonymous":
        assert _sent_to_sign_in(response)
    elif persona == "citizen_a":
        assert response.status_code == 302 and response["Location"] == "/account/tokens/"
        assert token.revoked_at is not None
        return
    else:
        assert response.status_code == 404  # as for a token that does not exist
        assert AWA_TOKEN not in response.content.decode()
    assert token.revoked_at is None


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_closure_page_shows_the_persons_own_plan_and_closes_only_them(
    world: dict[str, User], awa_has_things: dict[str, Any], persona: str
) -> None:
    client = _client(world, persona)
    number = str(awa_has_things["dossier"].number)
    shown = client.get("/account/close/")
    wrong = client.post("/account/close/", {"password": "pas-le-bon"})
    assert User.objects.filter(closed_at__isnull=False).count() == 0
    if persona == "anonymous":
        assert _sent_to_sign_in(shown) and _sent_to_sign_in(wrong)
        assert _sent_to_sign_in(client.post("/account/close/", {"password": DEMO_PASSWORD}))
        assert User.objects.filter(closed_at__isnull=False).count() == 0
        return
    assert shown.status_code == 200
    # Awa's dossier is kept while it is instructed: her plan says so; nobody else's mentions it.
    assert (number in shown.content.decode()) is (persona == "citizen_a")
    assert wrong.status_code == 400

    closed = client.post("/account/close/", {"password": DEMO_PASSWORD})
    assert closed.status_code == 200
    gone = User.objects.filter(closed_at__isnull=False)
    assert list(gone.values_list("pk", flat=True)) == [world[persona].pk]
    assert Dossier.objects.filter(pk=awa_has_things["dossier"].pk).exists()  # kept by law


def _archive(response: Any) -> tuple[dict[str, Any], bytes]:
    assert response.status_code == 200, response.content[:300]
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document = json.loads(archive.read("account.json"))
        everything = b"".join(archive.read(name) for name in archive.namelist())
    return document, everything


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_export_is_the_persons_own_on_the_page_and_the_api(
    world: dict[str, User],
    api: dict[str, ApiClient],
    awa_has_things: dict[str, Any],
    persona: str,
) -> None:
    page = _client(world, persona).get("/account/export/")
    through_api = api[persona].get("me/export")
    if persona == "anonymous":
        assert _sent_to_sign_in(page)
        assert through_api.status_code == 401
        assert through_api.json()["code"] == "unauthenticated"
        return
    for response in (page, through_api):
        document, everything = _archive(response)
        assert document["profile"]["email"] == world[persona].email
        assert document["profile"]["full_name"] == NAMES[persona]
        numbers = [dossier["number"] for dossier in document["dossiers"]]
        mine = persona == "citizen_a"
        assert numbers == ([awa_has_things["dossier"].number] if mine else [])
        assert (b"Awa Diop" in everything) is mine  # her name, in her profile and her answers
        assert (AWA_TOKEN.encode() in everything) is mine


@pytest.mark.parametrize("persona", PERSONAS)
def test_me_answers_about_the_caller_only(
    world: dict[str, User], api: dict[str, ApiClient], persona: str
) -> None:
    response = api[persona].get("me")
    if persona == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    assert response.json() == {
        "id": str(world[persona].pk),
        "email": world[persona].email,
        "full_name": NAMES[persona],
        "language": "fr",
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_deleting_me_closes_the_callers_account_only(
    world: dict[str, User],
    api: dict[str, ApiClient],
    awa_has_things: dict[str, Any],
    persona: str,
) -> None:
    response = api[persona].delete("me")
    gone = list(User.objects.filter(closed_at__isnull=False).values_list("pk", flat=True))
    if persona == "anonymous":
        assert response.status_code == 401
        assert gone == []
        return
    assert response.status_code == 200
    assert response.json()["closed"] is True
    kept = [item["what"] for item in response.json()["kept"]]
    assert any(str(awa_has_things["dossier"].number) in what for what in kept) is (
        persona == "citizen_a"
    )
    assert gone == [world[persona].pk]
