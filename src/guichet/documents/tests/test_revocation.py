"""Revocation by a supervisor of the issuing organisation: with reasons, once, and then every
verifier says revoked (the page, the API, `guichet verify`, the status list)."""

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from guichet.documents.models import Document, StatusListEntry
from guichet.documents.tests.conftest import account_export, issued, own_pdf
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.models import User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db

EXPLANATION = "La date de naissance imprimée est fausse ; un nouvel extrait sera délivré."


def revoke_through_the_page(world: dict[str, User], document: Document) -> Any:
    return client_for(world["supervisor"]).post(
        f"/agent/documents/{document.pk}/revoke/",
        {"reason": "issued_in_error", "comment": EXPLANATION},
    )


def status_numbers(client: Any) -> list[str]:
    import base64

    jws = json.loads(client.get("/.well-known/guichet-status-list.json").content)
    payload = json.loads(
        base64.urlsafe_b64decode(jws["payload"] + "=" * (-len(jws["payload"]) % 4))
    )
    return [entry["number"] for entry in payload["revoked"]]


def test_a_revoked_document_is_reported_revoked_everywhere(
    world: dict[str, User], tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    document = issued(world)
    pdf = own_pdf(document)
    public = client_for(None)
    assert document.number not in status_numbers(public)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = revoke_through_the_page(world, document)
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.revoked_at is not None
    assert document.revocation_reason == "issued_in_error"
    assert document.revoked_by == world["supervisor"]
    # The reasons are sealed, and the applicant finds them in their account export.
    (exported,) = account_export(client_for(world["citizen_a"]).get("/account/export/"))[0]
    assert exported["number"] == document.number
    assert exported["revocation_reason"] == "issued_in_error"
    assert exported["revocation_comment"] == EXPLANATION
    assert document.revocation_comment_sealed is not None
    assert EXPLANATION.encode() not in bytes(document.revocation_comment_sealed)
    assert [m.to for m in mail.outbox] == [[world["citizen_a"].email]]
    assert document.number in mail.outbox[0].subject

    assert document.number in status_numbers(public)
    page = public.post("/verifier", {"file": SimpleUploadedFile("d.pdf", pdf, "application/pdf")})
    assert page.status_code == 200
    assert (
        "Revoked document" in page.content.decode() or "Document révoqué" in page.content.decode()
    )
    api = ApiClient(None).client.post(
        "/api/v1/verify/pdf", {"file": SimpleUploadedFile("d.pdf", pdf)}
    )
    assert api.json()["result"] == "revoked"
    path = tmp_path / "revoked.pdf"
    path.write_bytes(pdf)
    with pytest.raises(SystemExit) as exit_status:
        call_command("verify", str(path), stdout=StringIO())
    assert exit_status.value.code == 2


def test_revoking_through_the_api(world: dict[str, User]) -> None:
    document = issued(world)
    response = ApiClient(world["supervisor"]).post(
        f"documents/{document.pk}/revoke", {"reason": "fraud", "comment": EXPLANATION}
    )
    assert response.status_code == 200, response.content
    assert response.json()["revocation_reason"] == "fraud"
    assert StatusListEntry.objects.get(number=document.number).reason == "fraud"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reason": "", "comment": EXPLANATION}, "reason"),
        ({"reason": "because", "comment": EXPLANATION}, "reason"),
        ({"reason": "fraud", "comment": "  "}, "comment"),
        ({"reason": "fraud", "comment": "x" * 2001}, "comment"),
    ],
)
def test_bad_revocations_are_refused_with_the_field_named(
    world: dict[str, User], data: dict[str, str], field: str
) -> None:
    document = issued(world)
    page = client_for(world["supervisor"]).post(f"/agent/documents/{document.pk}/revoke/", data)
    assert page.status_code == 400
    assert f'id="revoke-{field}-error"' in page.content.decode()
    api = ApiClient(world["supervisor"]).post(f"documents/{document.pk}/revoke", data)
    assert api.status_code == 400
    # The API refuses NUL characters for the whole body before any field is looked at.
    assert field in api.json().get("fields", {}) or api.json()["code"] == "malformed"
    document.refresh_from_db()
    assert document.revoked_at is None
    assert not StatusListEntry.objects.exists()


def test_a_document_is_revoked_once(world: dict[str, User]) -> None:
    document = issued(world)
    assert revoke_through_the_page(world, document).status_code == 302
    again = ApiClient(world["supervisor"]).post(
        f"documents/{document.pk}/revoke", {"reason": "fraud", "comment": EXPLANATION}
    )
    assert again.status_code == 409
    assert StatusListEntry.objects.get().reason == "issued_in_error"


def test_after_revocation_a_new_document_can_be_issued(world: dict[str, User]) -> None:
    from guichet.documents.service import issue_decision_document

    document = issued(world)
    revoke_through_the_page(world, document)
    replacement = issue_decision_document(document.dossier_id)
    assert replacement.pk != document.pk
    assert replacement.number.endswith("-A2")
    assert issue_decision_document(document.dossier_id).pk == replacement.pk


def test_revoking_a_seal_certificate_revokes_what_it_sealed(world: dict[str, User]) -> None:
    from guichet.documents.verify import verify_pdf

    document = issued(world)
    call_command("pki", "revoke", "commune-dakar-plateau", stdout=StringIO())
    verdict = verify_pdf(own_pdf(document))
    assert verdict.result == "revoked"
    assert any(
        "seal certificate was revoked" in check.detail or "émetteur a été révoqué" in check.detail
        for check in verdict.checks
    )
