"""A person's own data: the profile sealed at rest, account closure (what goes now, what the law
keeps and why) and the download of everything the platform holds about them."""

import io
import json
import os
import zipfile
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core.cache import cache
from django.db import connection
from django.test import Client

from guichet.catalog.models import Procedure
from guichet.demo import DEMO_PASSWORD
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier, DossierTombstone
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.models import ApiToken, User
from guichet.testing import BIRTH, BIRTH_ANSWERS, PDF_BYTES, ApiClient, pdf_file
from guichet.vault.models import DataKey
from guichet.vault.service import owner_for

pytestmark = pytest.mark.django_db

NIN = "1751199401234"


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


def _user_row(user: User) -> bytes:
    key = User._meta.pk.get_db_prep_value(user.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {User._meta.db_table} WHERE id = %s", [key])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    return b"".join(
        bytes(cell) if isinstance(cell, bytes | memoryview) else str(cell).encode() for cell in row
    )


def _dossier(user: User, *steps: tuple[User, str]) -> Dossier:
    dossier = actions.do_create_draft(user, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(user, dossier.pk, "id_document", pdf_file("cni-awa.pdf"))
    for actor, action in steps:
        comment = "Motif." if action in ("reject", "request_changes") else ""
        actions.do_transition(actor, dossier.pk, action, comment)
    return Dossier.objects.get(pk=dossier.pk)


def test_the_profile_is_stored_sealed_and_shown_back_to_its_owner(
    world: dict[str, User], api: dict[str, ApiClient]
) -> None:
    awa = world["citizen_a"]
    saved = client_for(awa).post(
        "/account/profile/",
        {"full_name": "Awa Diop", "phone": "77 123 45 67", "national_id": NIN, "language": "fr"},
    )
    assert saved.status_code == 302

    raw = _user_row(awa)
    for clear in (b"Awa Diop", b"77 123 45 67", NIN.encode()):
        assert clear not in raw
    assert b"awa.diop@example.sn" in raw  # the sign-in identifier stays in clear, on purpose
    page = client_for(awa).get("/account/profile/").content.decode()
    assert 'value="Awa Diop"' in page and f'value="{NIN}"' in page
    assert api["citizen_a"].get("me").json()["full_name"] == "Awa Diop"


def _section(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</ul>", start)]


def test_closing_says_first_what_goes_and_what_the_law_keeps(world: dict[str, User]) -> None:
    awa, fatou = world["citizen_a"], world["instructor"]
    _dossier(awa)  # a draft
    open_ = _dossier(awa, (awa, "submit"))
    decided = _dossier(awa, (awa, "submit"), (fatou, "take"), (fatou, "accept"))
    withdrawn = _dossier(awa, (awa, "submit"), (awa, "withdraw"))

    page = client_for(awa).get("/account/close/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="password"' in html and 'autocomplete="current-password"' in html
    erased, kept = _section(html, "erased-now"), _section(html, "kept")
    assert str(withdrawn.number) in erased and "Brouillon" in erased
    assert str(open_.number) in kept and "instruction" in kept  # why the open one stays
    assert str(decided.number) in kept and "365" in kept  # the procedure's retention period
    assert str(decided.number) not in erased and str(open_.number) not in erased
    assert Dossier.objects.filter(applicant=awa).count() == 4  # looking changes nothing


def test_a_wrong_password_closes_nothing(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    draft = _dossier(awa)

    refused = client_for(awa).post("/account/close/", {"password": "not-it"})

    assert refused.status_code == 400
    assert 'id="close-password-error"' in refused.content.decode()
    fresh = User.objects.get(pk=awa.pk)
    assert fresh.is_active and fresh.closed_at is None and fresh.email == "awa.diop@example.sn"
    assert Dossier.objects.filter(pk=draft.pk).exists()


def test_closing_erases_the_profile_and_what_may_go_keeps_the_rest_until_its_time(
    world: dict[str, User], api: dict[str, ApiClient], django_capture_on_commit_callbacks: Any
) -> None:
    awa, fatou = world["citizen_a"], world["instructor"]
    draft = _dossier(awa)
    withdrawn = _dossier(awa, (awa, "submit"), (awa, "withdraw"))
    open_ = _dossier(awa, (awa, "submit"))
    decided = _dossier(awa, (awa, "submit"), (fatou, "take"), (fatou, "reject"))
    draft_file = draft.attachments.get().file.path
    client = client_for(awa)
    client.post(
        "/account/profile/",
        {"full_name": "Awa Diop", "phone": "771234567", "national_id": NIN, "language": "fr"},
    )

    with django_capture_on_commit_callbacks(execute=True):
        closed = client.post("/account/close/", {"password": DEMO_PASSWORD})

    assert closed.status_code == 200
    html = closed.content.decode()
    assert str(decided.number) in html and str(open_.number) in html
    assert "_auth_user_id" not in client.session  # signed out
    gone = User.objects.get(pk=awa.pk)
    assert not gone.is_active and gone.closed_at is not None
    assert gone.email.endswith("@closed.invalid") and not gone.has_usable_password()
    assert gone.full_name_sealed is None and gone.phone_sealed is None
    assert gone.national_id_sealed is None
    assert b"Awa" not in _user_row(gone) and b"awa.diop" not in _user_row(gone)
    key = DataKey.objects.get(owner=owner_for("user", awa.pk))
    assert key.destroyed_at is not None and key.wrapped is None
    assert not EmailAddress.objects.filter(user=gone).exists()
    assert not ApiToken.objects.filter(user=gone).exists()
    # Erased now: the draft and the withdrawn application, files included; tombstones remain.
    assert not Dossier.objects.filter(pk__in=[draft.pk, withdrawn.pk]).exists()
    assert set(DossierTombstone.objects.values_list("id", "reason")) == {
        (draft.pk, "account_closed"),
        (withdrawn.pk, "account_closed"),
    }
    assert not os.path.exists(draft_file)
    # Kept: the open one goes on being instructed, the decision stays for its retention period.
    assert set(Dossier.objects.filter(applicant=gone).values_list("pk", flat=True)) == {
        open_.pk,
        decided.pk,
    }
    seen = api["instructor"].get(f"dossiers/{open_.pk}").json()
    assert seen["applicant"] == "Compte fermé" and seen["data"]["full_name"] == "Awa Diop"
    assert {e["actor"] for e in seen["history"]} == {"Compte fermé"}  # named by reference
    # The account no longer opens.
    relogin = Client().post(
        "/accounts/login/", {"login": "awa.diop@example.sn", "password": DEMO_PASSWORD}
    )
    assert "_auth_user_id" not in Client().session and relogin.status_code != 302


def test_the_api_closes_the_callers_account_and_lists_what_is_kept(
    world: dict[str, User], api: dict[str, ApiClient]
) -> None:
    moussa, fatou = world["citizen_b"], world["instructor"]
    _dossier(moussa)
    decided = _dossier(moussa, (moussa, "submit"), (fatou, "take"), (fatou, "accept"))

    response = api["citizen_b"].delete("me")

    assert response.status_code == 200
    body = response.json()
    assert body["closed"] is True
    assert [item["what"].split(" ")[0] for item in body["kept"]] == [decided.number]
    assert body["kept"][0]["until"] is not None
    assert api["citizen_b"].get("me").status_code == 401  # the token went with the account
    assert not Authenticator.objects.filter(user=moussa).exists()
    assert User.objects.get(pk=world["citizen_a"].pk).is_active  # nobody else is touched
    assert api["anonymous"].delete("me").status_code == 401


def _archive(response: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("account.json")), files


def test_the_export_holds_everything_about_the_person_and_their_files(
    world: dict[str, User], api: dict[str, ApiClient]
) -> None:
    awa, fatou = world["citizen_a"], world["instructor"]
    dossier = _dossier(awa, (awa, "submit"), (fatou, "take"), (fatou, "request_changes"))
    actions.do_post_message(awa, dossier.pk, "Je renvoie la pièce demain.")
    _dossier(world["citizen_b"], (world["citizen_b"], "submit"))

    for response in (
        client_for(awa).get("/account/export/"),
        api["citizen_a"].get("me/export"),
    ):
        document, files = _archive(response)
        assert document["profile"]["email"] == "awa.diop@example.sn"
        assert document["profile"]["full_name"] == "Awa Diop"
        (exported,) = document["dossiers"]
        assert exported["number"] == dossier.number
        assert exported["answers"]["phone"] == "+221771234567"
        assert [m["body"] for m in exported["messages"]] == ["Je renvoie la pièce demain."]
        assert any(e["comment"] == "Motif." for e in exported["history"])
        (doc,) = exported["documents"]
        assert doc["name"] == "cni-awa.pdf"
        assert files == {doc["file"]: PDF_BYTES}  # decrypted into the archive


def test_only_the_person_themself_gets_their_export(
    world: dict[str, User], api: dict[str, ApiClient]
) -> None:
    awa, fatou = world["citizen_a"], world["instructor"]
    _dossier(awa, (awa, "submit"), (fatou, "take"))

    for persona in ("citizen_b", "instructor"):  # the instructor handles Awa's dossier
        document, files = _archive(api[persona].get("me/export"))
        assert document["dossiers"] == [] and files == {}
        assert "Awa" not in json.dumps(document)
    assert api["anonymous"].get("me/export").status_code == 401
    anonymous = Client().get("/account/export/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert Client().get("/account/close/").status_code == 302


def test_a_key_service_out_of_reach_gives_a_clean_503_not_a_blank_profile(
    world: dict[str, User], api: dict[str, ApiClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from guichet.testing import reset_vault_process_state
    from guichet.vault.errors import ProviderUnavailable
    from guichet.vault.providers.local import LocalKeyProvider

    reset_vault_process_state()

    def down(self: Any, version: int, wrapped: bytes) -> bytes:
        raise ProviderUnavailable("HSM unreachable")

    monkeypatch.setattr(LocalKeyProvider, "unwrap", down)
    page = client_for(world["citizen_a"]).get("/account/profile/")
    assert page.status_code == 503
    me = api["citizen_a"].get("me")
    assert me.status_code == 503 and me.json()["code"] == "unavailable"
