"""Text the database or the vault cannot take is refused at the door with a 400 and a message,
never a 500: NUL characters (PostgreSQL cannot store or even compare them) anywhere in a page's
path, query string or form, or in a cookie; lone surrogates in the API's JSON (they are not
text: the vault and the database driver cannot encode them). The answers are the same on SQLite
and PostgreSQL: CI runs this file on both."""

from typing import Any

import pytest
from django.test import Client

from guichet.audit.models import AuditEvent
from guichet.dossiers.models import Dossier, Message
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    draft_for,
    strict_html,
    submitted_for,
)
from guichet.identity.access import read_own_profile
from guichet.identity.models import ApiToken, User
from guichet.testing import BIRTH, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

NUL_FR = "Les caractères nuls ne sont pas autorisés."
SURROGATE_FR = "Le texte contient un caractère non valide (un demi-codet UTF-16 isolé)."


def _refused(response: Any, message: str = NUL_FR) -> None:
    assert response.status_code == 400, response.content[:500]
    assert message in response.content.decode()


@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("anonymous", "/?q=%00"),
        ("anonymous", "/?q=naissance%00"),
        ("anonymous", "/?%00=1"),
        ("citizen_a", "/dossiers/?page=%00"),
        ("instructor", "/agent/?procedure=%00"),
        ("instructor", "/agent/?find=a%00@b.sn"),
        ("supervisor", "/agent/?state=%00"),
        ("citizen_a", "/account/data-accesses/?organisation=%00"),
        ("admin", "/admin/security-alerts/?organisation=%00"),
        ("anonymous", "/procedures/extrait%00/"),
    ],
)
def test_a_nul_in_a_page_address_is_a_400_with_a_message(
    world: dict[str, User], persona: str, url: str
) -> None:
    client = client_for(None if persona == "anonymous" else world[persona])
    response = client.get(url)
    _refused(response)
    assert response["Content-Type"].startswith("text/html")


def test_the_message_follows_the_persons_language(world: dict[str, User]) -> None:
    client = client_for(None)
    client.cookies["django_language"] = "en"
    _refused(client.get("/?q=%00"), "Null characters are not allowed.")


def test_a_nul_in_a_form_field_is_refused_and_changes_nothing(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    before = read_own_profile(User.objects.get(pk=awa.pk))
    citizen = client_for(awa)
    profile = {"full_name": "Awa\x00", "phone": "", "national_id": "", "language": "fr"}
    _refused(citizen.post("/account/profile/", profile))
    _refused(citizen.post("/account/tokens/", {"na\x00me": "script"}))
    submitted = submitted_for(awa)
    _refused(citizen.post(f"/dossiers/{submitted.pk}/messages/", {"body": "Bonjour\x00"}))
    draft = draft_for(awa, with_document=False)
    upload = {"field": "id_document\x00", "file": pdf_file()}  # a multipart form
    _refused(citizen.post(f"/dossiers/{draft.pk}/attachments/", upload))
    agent = client_for(world["supervisor"])
    _refused(agent.post(f"/agent/dossiers/{submitted.pk}/actions/", {"action": "take\x00"}))
    revoke = {"reason": "fraud", "comment": "nul\x00"}
    _refused(agent.post("/agent/documents/00000000-0000-4000-8000-000000000000/revoke/", revoke))
    _refused(client_for(None).post("/verifier", {"qr": "SN1:\x00"}))

    assert read_own_profile(User.objects.get(pk=awa.pk)) == before
    assert not ApiToken.objects.filter(user=awa).exists()
    assert not Message.objects.filter(dossier=submitted).exists()
    assert not Dossier.objects.get(pk=draft.pk).attachments.exists()
    assert Dossier.objects.get(pk=submitted.pk).state == "submitted"


def test_a_nul_in_a_cookie_is_ignored_not_a_500(world: dict[str, User]) -> None:
    """Django's cookie parser turns a quoted \\000 into a NUL; the session backend would look it
    up in the database. Such a cookie counts as absent."""
    forged = Client(HTTP_COOKIE='sessionid="\\000abcdefghijklmnop"')
    response = forged.get("/dossiers/")
    assert response.status_code == 302  # no session: sent to sign in
    assert response["Location"].startswith("/accounts/login/")
    api = Client(HTTP_COOKIE='sessionid="\\000abcdefghijklmnop"')
    assert api.get("/api/v1/procedures").status_code == 200

    signed_in = client_for(world["citizen_a"])
    signed_in.cookies["tracker"] = "a\x00b"  # another cookie does not sign the person out
    assert signed_in.get("/dossiers/").status_code == 200


def test_the_api_keeps_its_own_refusal_in_json(world: dict[str, User]) -> None:
    response = ApiClient(None).get("procedures", q="naissance\x00")
    assert response.status_code == 400
    assert response.json() == {"code": "malformed", "message": NUL_FR}


def test_a_form_with_an_encoded_surrogate_is_read_as_replacement_characters(
    world: dict[str, User],
) -> None:
    """Browsers cannot send a lone surrogate; its UTF-8-like bytes (ED A0 80) are not UTF-8, and
    Django decodes form data with replacement characters, so the page stores what it got."""
    citizen = client_for(world["citizen_a"])
    response = citizen.post(
        "/account/tokens/",
        "name=A%ED%A0%80B",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(user=world["citizen_a"]).name == "A\ufffd\ufffd\ufffdB"


LONE = "A\ud800B"


def _api_writes(world: dict[str, User]) -> list[tuple[str, str, str, Any]]:
    """(persona, method, path, body) of every API write that takes free text."""
    awa = world["citizen_a"]
    draft = draft_for(awa)
    submitted = submitted_for(awa)
    return [
        ("citizen_a", "post", "dossiers", {"procedure": BIRTH, "data": {"full_name": LONE}}),
        ("citizen_a", "post", "dossiers", {"procedure": LONE}),
        ("citizen_a", "patch", f"dossiers/{draft.pk}", {"data": {"full_name": LONE}}),
        ("citizen_a", "patch", f"dossiers/{draft.pk}", {"data": {LONE: 1}}),
        ("citizen_a", "post", f"dossiers/{submitted.pk}/messages", {"body": LONE}),
        ("supervisor", "post", f"dossiers/{submitted.pk}/messages", {"body": LONE}),
        (
            "supervisor",
            "post",
            f"dossiers/{submitted.pk}/transitions",
            {"action": "take", "comment": LONE},
        ),
        ("supervisor", "post", f"dossiers/{submitted.pk}/transitions", {"action": LONE}),
        ("citizen_a", "post", "me/tokens", {"name": LONE}),
        ("anonymous", "post", "verify/qr", {"qr": LONE}),
    ]


def test_a_lone_surrogate_in_the_apis_json_is_a_400_and_changes_nothing(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    writes = _api_writes(world)
    dossiers, tokens = Dossier.objects.count(), ApiToken.objects.count()
    messages, events = Message.objects.count(), AuditEvent.objects.count()
    for persona, method, path, body in writes:
        response = getattr(api[persona], method)(path, body)
        assert response.status_code == 400, (path, body, response.content)
        assert response.json() == {"code": "malformed", "message": SURROGATE_FR}
    assert (Dossier.objects.count(), ApiToken.objects.count()) == (dossiers, tokens)
    assert (Message.objects.count(), AuditEvent.objects.count()) == (messages, events)
    assert not Dossier.objects.filter(state="in_review").exists()


def test_a_surrogate_pair_is_text_and_is_kept(api: dict[str, ApiClient]) -> None:
    """A character outside the BMP arrives in JSON as a pair of escapes: that is text."""
    response = api["citizen_a"].post("me/tokens", {"name": "Clé 🔑"})
    assert response.status_code == 201
    assert response.json()["name"] == "Clé 🔑"


def test_json_nested_as_deep_as_the_decoder_allows_is_no_500(api: dict[str, ApiClient]) -> None:
    depth = 900
    body = '{"procedure": "x", "data": {"a": ' + "[" * depth + "]" * depth + "}}"
    client = api["citizen_a"]
    response = client.client.post(
        "/api/v1/dossiers", body, content_type="application/json", headers=client.headers
    )
    assert response.status_code < 500
