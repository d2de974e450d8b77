"""The account through the API: who am I, my tokens (created, listed, revoked), and who may use
a token at all (agents need two-factor authentication on the account, whatever the channel)."""

import uuid

import pytest
from allauth.mfa.models import Authenticator

from guichet.identity.actions import do_add_membership
from guichet.identity.models import ApiToken, Organisation, Role, User
from guichet.identity.service import token_digest
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db


def test_me(api: dict[str, ApiClient], world: dict[str, User]) -> None:
    response = api["citizen_a"].get("me")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(world["citizen_a"].pk),
        "email": "awa.diop@example.sn",
        "full_name": "Awa Diop",
        "language": "fr",
    }
    assert api["anonymous"].get("me").status_code == 401


def test_a_new_token_is_shown_once_and_works(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    citizen = api["citizen_a"]
    created = citizen.post("me/tokens", {"name": "  Mon script  "})
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith("gch_") and body["prefix"] == secret[:10]
    assert body["name"] == "Mon script"
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.digest == token_digest(secret) and secret not in stored.digest  # only a hash

    listed = citizen.get("me/tokens").json()
    assert body["id"] in [t["id"] for t in listed]
    assert all("token" not in t and "digest" not in t for t in listed)

    fresh = ApiClient(None)
    fresh.headers["Authorization"] = f"Bearer {secret}"
    assert fresh.get("me").json()["email"] == "awa.diop@example.sn"
    assert ApiToken.objects.get(pk=body["id"]).last_used_at is not None


def test_revoking_a_token(api: dict[str, ApiClient], world: dict[str, User]) -> None:
    citizen = api["citizen_a"]
    body = citizen.post("me/tokens", {"name": "cron"}).json()
    other = ApiClient(None)
    other.headers["Authorization"] = f"Bearer {body['token']}"
    assert other.get("me").status_code == 200

    assert citizen.delete(f"me/tokens/{body['id']}").status_code == 204
    refused = other.get("me")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
    listed = {t["id"]: t for t in citizen.get("me/tokens").json()}
    assert listed[body["id"]]["revoked_at"] is not None
    # Revoking again is harmless; the token stays revoked.
    assert citizen.delete(f"me/tokens/{body['id']}").status_code == 204
    assert citizen.get("me").status_code == 200  # the caller's own token still works


def test_nobody_touches_anyone_else_s_tokens(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    theirs = api["citizen_b"].post("me/tokens", {"name": "moussa"}).json()
    for persona in ("citizen_a", "instructor", "admin"):
        response = api[persona].delete(f"me/tokens/{theirs['id']}")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert theirs["id"] not in [t["id"] for t in api[persona].get("me/tokens").json()]
    assert ApiToken.objects.get(pk=theirs["id"]).revoked_at is None
    assert api["citizen_a"].delete(f"me/tokens/{uuid.uuid4()}").status_code == 404
    malformed = api["citizen_a"].delete("me/tokens/not-a-uuid")
    assert malformed.status_code == 400 and set(malformed.json()["fields"]) == {"token_id"}
    assert api["anonymous"].post("me/tokens", {"name": "x"}).status_code == 401
    assert ApiToken.objects.filter(name="x").count() == 0


def test_an_agent_without_two_factor_cannot_use_the_api(world: dict[str, User]) -> None:
    newcomer = User.objects.create_user("aissatou.kane@dakarplateau.sn", full_name="Aïssatou Kane")
    citizen_client = ApiClient(newcomer)
    assert citizen_client.get("me").status_code == 200  # a citizen needs no second factor
    do_add_membership(
        newcomer, Organisation.objects.get(slug="commune-dakar-plateau"), Role.INSTRUCTOR
    )
    refused = citizen_client.get("queue")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"

    # The demo instructor loses her authenticator: her token stops working too.
    Authenticator.objects.filter(user=world["instructor"]).delete()
    assert ApiClient(world["instructor"]).get("queue").status_code == 401
