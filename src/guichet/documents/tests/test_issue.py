"""Issuing: a decision produces a sealed document, stored encrypted, announced by email."""

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from guichet.documents.models import Document, DocumentKind
from guichet.documents.tasks import issue_document_task
from guichet.documents.tests.conftest import REASONS, decided, issued, own_pdf, require_tool, run
from guichet.documents.verify import verify_pdf
from guichet.identity.models import User

pytestmark = pytest.mark.django_db


def test_accepting_issues_a_sealed_certificate_stored_encrypted(world: dict[str, User]) -> None:
    mail.outbox.clear()
    document = issued(world)
    assert document.kind == DocumentKind.CERTIFICATE
    stored = document.file.read()
    assert not stored.startswith(b"%PDF"), "the file on disk must be ciphertext"
    pdf = own_pdf(document)
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == document.sha256
    verdict = verify_pdf(pdf)
    assert verdict.result == "valid", [(c.name, c.status, c.detail) for c in verdict.checks]
    assert [m.to for m in mail.outbox] == [[world["citizen_a"].email]]
    assert document.number in mail.outbox[0].subject


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    pdftotext = require_tool("pdftotext", "poppler-utils")
    (tmp_path / "document.pdf").write_bytes(pdf)
    result = run(pdftotext, "-layout", str(tmp_path / "document.pdf"), "-")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_certificate_says_what_is_granted_in_french(
    world: dict[str, User], tmp_path: Path
) -> None:
    document = issued(world)
    text = pdf_text(own_pdf(document), tmp_path)
    for expected in (
        "RÉPUBLIQUE DU SÉNÉGAL",
        "Commune de Dakar-Plateau",
        "Ministère des Collectivités territoriales",
        "EXTRAIT D'ACTE DE NAISSANCE",
        document.number,
        document.dossier.number,
        "Awa Diop",
        "12 mars 1994",
        "Code de la famille, articles 29 à 51",
        "Pour le Maire",
        "/verifier",
        "Guichet embedded TSA — not a qualified TSA",
    ):
        assert expected and expected in text, expected
    assert document.language == "fr"


def test_a_rejection_gives_a_decision_letter_with_the_reasons_in_english(
    world: dict[str, User], tmp_path: Path
) -> None:
    applicant = world["citizen_a"]
    applicant.language = "en"
    applicant.save(update_fields=["language"])
    mail.outbox.clear()
    document = issued(world, "reject", REASONS)
    assert document.kind == DocumentKind.DECISION_LETTER
    assert document.expires_at is None
    text = pdf_text(own_pdf(document), tmp_path)
    for expected in (
        "DECISION OF REJECTION",
        "REPUBLIC OF SENEGAL",
        "Reasons",
        "within two months",
    ):
        assert expected in text, expected
    # Reasons wrap over lines: compare without the layout.
    assert " ".join(REASONS.split()) in " ".join(text.split())
    assert document.language == "en"
    assert "ready" in mail.outbox[0].subject


def test_issuing_twice_gives_one_document_and_one_email(world: dict[str, User]) -> None:
    dossier = decided(world)
    mail.outbox.clear()
    issue_document_task.enqueue(dossier_id=str(dossier.pk))
    issue_document_task.enqueue(dossier_id=str(dossier.pk))
    assert Document.objects.filter(dossier=dossier).count() == 1
    assert len(mail.outbox) == 1


def test_a_dossier_not_decided_gets_no_document(world: dict[str, User]) -> None:
    from guichet.documents.service import issue_decision_document
    from guichet.dossiers.tests.test_pages_support import submitted_for
    from guichet.errors import ActionError

    dossier = submitted_for(world["citizen_a"])
    with pytest.raises(ActionError):
        issue_decision_document(dossier.pk)
    assert not Document.objects.exists()


def test_the_criminal_record_certificate_expires(world: dict[str, User]) -> None:
    """Per-procedure wording: bulletin n°3 is valid three months, and says so."""
    from guichet.catalog.service import published_procedure
    from guichet.documents.service import issue_decision_document
    from guichet.dossiers import actions as dossier_actions
    from guichet.testing import pdf_file

    procedure = published_procedure("bulletin-casier-judiciaire")
    assert procedure is not None
    answers = {
        "full_name": "Awa Diop",
        "birth_date": "1994-03-12",
        "birth_place": "Kaolack",
        "father_name": "Mamadou",
        "mother_name": "Fatou Sow",
    }
    citizen, agent = world["citizen_a"], User.objects.get(email="aminata.ba@justice.gouv.sn")
    dossier = dossier_actions.do_create_draft(citizen, procedure, answers)
    dossier_actions.do_add_attachment(citizen, dossier.pk, "id_document", pdf_file())
    dossier_actions.do_transition(citizen, dossier.pk, "submit")
    dossier_actions.do_transition(agent, dossier.pk, "take")
    dossier_actions.do_transition(agent, dossier.pk, "accept")
    document = issue_decision_document(dossier.pk)
    assert document.expires_at is not None
    assert (document.expires_at - document.issued_at).days == 90
    assert (
        verify_pdf(own_pdf(document))
        .document["expires_at"]
        .startswith(document.expires_at.date().isoformat())
    )


def test_erasing_the_dossier_removes_the_document_file(
    world: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    document = issued(world)
    storage, name = document.file.storage, str(document.file.name)
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        document.dossier.delete()
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not storage.exists(name)
