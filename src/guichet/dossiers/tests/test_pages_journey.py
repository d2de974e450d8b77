"""The whole journey through the pages, as a citizen and two agents would click through it."""

from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from guichet.dossiers import access
from guichet.dossiers.models import Attachment, Dossier, Message
from guichet.dossiers.tasks import flush_notifications
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    answers_of,
    client_for,
    draft_for,
    snapshot,
    strict_html,
    stylesheet_bytes,
    submitted_for,
)
from guichet.identity.models import User
from guichet.testing import BIRTH, pdf_file

pytestmark = pytest.mark.django_db

ANSWERS = {
    "full_name": "Awa Diop",
    "birth_date": "1994-03-12",
    "register_number": "",
    "copy_kind": "extract",
    "copies": "2",
    "phone": "77 123 45 67",
}


def html(response: Any) -> str:
    return str(response.content.decode())


def test_citizen_files_instructor_asks_for_changes_then_accepts(
    world: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    citizen = client_for(world["citizen_a"])
    instructor = client_for(world["instructor"])

    page = citizen.get(f"/procedures/{BIRTH}/")
    assert page.status_code == 200
    assert f'action="/procedures/{BIRTH}/start/"' in html(page)

    started = citizen.post(f"/procedures/{BIRTH}/start/")
    assert started.status_code == 302
    dossier = Dossier.objects.get(applicant=world["citizen_a"])
    assert started["Location"] == f"/dossiers/{dossier.pk}/"
    assert dossier.state == "draft"
    first_step = citizen.get(started["Location"])  # a new draft starts at its first step
    assert first_step["Location"] == f"/dossiers/{dossier.pk}/?step=1"
    detail = citizen.get(first_step["Location"])
    assert detail.status_code == 200
    assert "Étape 1 sur 4\u00a0: La personne concernée" in html(detail)
    assert 'id="field-birth_date"' in html(detail)
    assert len(detail.content) + stylesheet_bytes() < 60 * 1024
    answers = f"/dossiers/{dossier.pk}/answers/"

    # A wrong phone number on step 2: 400, the error next to the field, everything typed there.
    person = {k: ANSWERS[k] for k in ("full_name", "birth_date", "register_number")}
    request = {k: ANSWERS[k] for k in ("copy_kind", "copies", "phone")}
    assert citizen.post(answers, {**person, "page": "0", "intent": "next"}).status_code == 302
    bad = citizen.post(
        answers, {**request, "phone": "12345", "copies": "4", "page": "1", "intent": "next"}
    )
    assert bad.status_code == 400
    body = html(bad)
    assert 'id="field-phone-error"' in body
    assert 'aria-describedby="field-phone-hint field-phone-error"' in body
    assert 'aria-invalid="true"' in body
    assert 'value="12345"' in body
    assert 'value="4"' in body
    assert "77 123 45 67" in body  # the hint; the error message is the engine's
    assert "copies" not in answers_of(dossier)

    # Saving a step accepts missing answers; submitting does not, and says which step to fix.
    emptied = citizen.post(answers, {**person, "full_name": "", "page": "0", "intent": "next"})
    assert emptied.status_code == 302
    assert citizen.post(answers, {**request, "page": "1", "intent": "next"}).status_code == 302
    refused = citizen.post(answers, {"page": "review", "intent": "submit"})
    assert refused.status_code == 400
    body = html(refused)
    assert 'id="field-full_name-error"' in body
    assert "Ce champ est obligatoire." in body
    assert 'id="field-id_document-error"' in body  # the document is missing too
    assert "12 mars 1994" in body
    assert f'<a href="/dossiers/{dossier.pk}/?step=1#field-full_name">' in body
    saved = Dossier.objects.get(pk=dossier.pk)
    assert saved.state == "draft"
    assert answers_of(saved)["birth_date"] == "1994-03-12"
    assert citizen.post(answers, {**person, "page": "0", "intent": "review"}).status_code == 302

    # A PDF goes in from its step; a text file named .pdf does not.
    uploaded = citizen.post(
        answers, {"page": "2", "intent": "next", "upload-id_document": pdf_file("cni-awa.pdf")}
    )
    assert uploaded.status_code == 302
    attachment = Attachment.objects.get(dossier=dossier)
    assert attachment.file.storage.exists(str(attachment.file.name))
    fake = SimpleUploadedFile("faux.pdf", b"just some text, not a PDF", "application/pdf")
    rejected = citizen.post(answers, {"page": "2", "intent": "next", "upload-id_document": fake})
    assert rejected.status_code == 400
    assert 'id="field-id_document-error"' in html(rejected)
    assert list(Attachment.objects.filter(dossier=dossier)) == [attachment]

    with django_capture_on_commit_callbacks(execute=True):
        submitted = citizen.post(answers, {"page": "review", "intent": "submit"})
    assert submitted.status_code == 302
    assert submitted["Location"] == f"/dossiers/{dossier.pk}/receipt/"
    dossier.refresh_from_db()
    assert dossier.state == "submitted"
    assert answers_of(dossier)["phone"] == "+221771234567"
    receipt = citizen.get(submitted["Location"])
    assert receipt.status_code == 200
    assert dossier.number and dossier.number in html(receipt)
    assert "Date prévue de la décision" in html(receipt)

    queue = instructor.get("/agent/")
    assert queue.status_code == 200
    assert f"/agent/dossiers/{dossier.pk}/" in html(queue)
    instruction = instructor.get(f"/agent/dossiers/{dossier.pk}/")
    assert instruction.status_code == 200
    assert "12 mars 1994" in html(instruction)  # answers shown as read, not as stored
    assert f"/agent/dossiers/{dossier.pk}/attachments/{attachment.pk}/" in html(instruction)
    download = instructor.get(f"/agent/dossiers/{dossier.pk}/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download.getvalue().startswith(b"%PDF")

    taken = instructor.post(f"/agent/dossiers/{dossier.pk}/actions/", {"action": "take"})
    assert taken.status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "in_review"
    assert dossier.assigned_to == world["instructor"]

    before = snapshot(dossier)
    no_reason = instructor.post(
        f"/agent/dossiers/{dossier.pk}/actions/", {"action": "request_changes", "comment": " "}
    )
    assert no_reason.status_code == 400
    assert 'id="request_changes-comment-error"' in html(no_reason)
    assert snapshot(dossier) == before

    request_text = "La copie de la pièce est illisible."
    with django_capture_on_commit_callbacks(execute=True):
        asked = instructor.post(
            f"/agent/dossiers/{dossier.pk}/actions/",
            {"action": "request_changes", "comment": request_text},
        )
    assert asked.status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "changes_requested"

    asked_page = citizen.get(f"/dossiers/{dossier.pk}/")
    assert request_text in html(asked_page)
    assert 'value="resubmit"' in html(asked_page)
    with django_capture_on_commit_callbacks(execute=True):
        message = citizen.post(
            f"/dossiers/{dossier.pk}/messages/", {"body": "Voici une copie plus nette."}
        )
    assert message.status_code == 302
    assert Message.objects.filter(dossier=dossier, from_administration=False).count() == 1
    corrected = citizen.post(answers, {**request, "copies": "3", "page": "1", "intent": "review"})
    assert corrected.status_code == 302
    resent = citizen.post(answers, {"page": "review", "intent": "resubmit"})
    assert resent.status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "in_review"
    assert answers_of(dossier)["copies"] == 3

    # The notifications so far wait for a batch: the steps above ran no on-commit callback.
    flush_notifications.call()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        accepted = instructor.post(
            f"/agent/dossiers/{dossier.pk}/actions/",
            {"action": "accept", "comment": "Extrait à retirer à la mairie."},
        )
    assert accepted.status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "accepted"
    # The decision, then the sealed certificate made after commit.
    assert [m.to for m in mail.outbox] == [[world["citizen_a"].email]] * 2
    assert mail.outbox[0].subject.endswith("\u00a0: Acceptée")  # French typography kept
    assert mail.outbox[1].subject.startswith("Votre document")
    final = citizen.get(f"/dossiers/{dossier.pk}/")
    assert "Extrait à retirer à la mairie." in html(final)
    assert 'name="intent"' not in html(final)  # nothing left to edit


def test_a_second_decision_gets_a_clear_conflict_not_an_error(world: dict[str, User]) -> None:
    dossier = submitted_for(world["citizen_a"])
    instructor = client_for(world["instructor"])
    supervisor = client_for(world["supervisor"])
    assert (
        instructor.post(f"/agent/dossiers/{dossier.pk}/actions/", {"action": "take"}).status_code
        == 302
    )
    stale_page = supervisor.get(f"/agent/dossiers/{dossier.pk}/")
    assert 'value="reject"' in html(stale_page)

    assert (
        instructor.post(f"/agent/dossiers/{dossier.pk}/actions/", {"action": "accept"}).status_code
        == 302
    )
    before = snapshot(dossier)
    late = supervisor.post(
        f"/agent/dossiers/{dossier.pk}/actions/", {"action": "reject", "comment": "Incomplet."}
    )
    assert late.status_code == 409
    assert "Un autre agent a déjà décidé" in html(late)
    assert snapshot(dossier) == before
    assert Dossier.objects.get(pk=dossier.pk).state == "accepted"


def test_withdraw_asks_for_confirmation_and_delete_removes_the_draft(
    world: dict[str, User],
) -> None:
    citizen = client_for(world["citizen_a"])
    dossier = submitted_for(world["citizen_a"])
    confirm = citizen.get(f"/dossiers/{dossier.pk}/withdraw/")
    assert confirm.status_code == 200
    assert Dossier.objects.get(pk=dossier.pk).state == "submitted"
    done = citizen.post(f"/dossiers/{dossier.pk}/withdraw/", {"comment": "Plus besoin."})
    assert done.status_code == 302
    withdrawn = Dossier.objects.get(pk=dossier.pk)
    assert withdrawn.state == "withdrawn"
    assert access.read_history(world["citizen_a"], withdrawn)[-1].comment == "Plus besoin."
    again = citizen.post(f"/dossiers/{dossier.pk}/withdraw/")
    assert again.status_code == 403

    draft = draft_for(world["citizen_a"])
    assert citizen.get(f"/dossiers/{draft.pk}/delete/").status_code == 200
    deleted = citizen.post(f"/dossiers/{draft.pk}/delete/")
    assert deleted.status_code == 302
    assert deleted["Location"] == "/dossiers/"
    assert not Dossier.objects.filter(pk=draft.pk).exists()
    listing = citizen.get("/dossiers/")
    assert listing.status_code == 200
    assert withdrawn.number and withdrawn.number in html(listing)


def test_messages_thread_keeps_an_empty_or_long_message_out(world: dict[str, User]) -> None:
    dossier = submitted_for(world["citizen_a"])
    citizen = client_for(world["citizen_a"])
    empty = citizen.post(f"/dossiers/{dossier.pk}/messages/", {"body": "   "})
    assert empty.status_code == 400
    assert 'id="message-body-error"' in html(empty)
    long_text = "x" * 5001
    too_long = citizen.post(f"/dossiers/{dossier.pk}/messages/", {"body": long_text})
    assert too_long.status_code == 400
    assert long_text in html(too_long)  # what was typed is not lost
    assert Message.objects.filter(dossier=dossier).count() == 0

    instructor = client_for(world["instructor"])
    answer = instructor.post(f"/agent/dossiers/{dossier.pk}/messages/", {"body": "Bien reçu."})
    assert answer.status_code == 302
    thread = citizen.get(f"/dossiers/{dossier.pk}/")
    assert "Bien reçu." in html(thread)
