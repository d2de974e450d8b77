"""The drills' checks (bench/checks.py): they must catch a lost, altered or half-written
submission, and stay silent when everything is in order."""

import hashlib
from typing import Any

import pytest
from bench.checks import Receipt, check_consistency, check_receipts

from guichet.dossiers.models import Attachment, Dossier, DossierEvent
from guichet.dossiers.workflow import State
from guichet.testing import BIRTH, BIRTH_ANSWERS, PDF_BYTES, ApiClient, pdf_file
from guichet.vault.service import encrypt_json

pytestmark = pytest.mark.django_db
PDF_SHA256 = hashlib.sha256(PDF_BYTES).hexdigest()


def _submit(client: ApiClient, answers: dict[str, Any]) -> Receipt:
    created = client.post("dossiers", {"procedure": BIRTH, "data": answers})
    assert created.status_code == 201
    dossier_id = created.json()["id"]
    assert (
        client.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()).status_code
        == 201
    )
    submitted = client.post(f"dossiers/{dossier_id}/submit")
    assert submitted.status_code == 200
    return Receipt(dossier_id, submitted.json()["number"], answers, PDF_SHA256)


@pytest.fixture
def receipts(api: dict[str, ApiClient]) -> list[Receipt]:
    return [
        _submit(api["citizen_a"], BIRTH_ANSWERS),
        _submit(api["citizen_b"], {**BIRTH_ANSWERS, "full_name": "Moussa Fall", "copies": 3}),
    ]


def test_all_is_well_after_normal_submissions(receipts: list[Receipt]) -> None:
    assert check_receipts(receipts) == []
    assert check_consistency() == []


def test_a_lost_submission_is_reported(receipts: list[Receipt]) -> None:
    Dossier.objects.filter(pk=receipts[0].dossier_id).delete()

    problems = check_receipts(receipts)

    assert len(problems) == 1
    assert receipts[0].number in problems[0]
    assert "missing" in problems[0]


def test_different_answers_are_reported(receipts: list[Receipt]) -> None:
    dossier = Dossier.objects.get(pk=receipts[1].dossier_id)
    changed = {**BIRTH_ANSWERS, "full_name": "Someone Else"}
    sealed = encrypt_json(f"dossier:{dossier.pk}", dossier.pk, "answers", changed)
    Dossier.objects.filter(pk=dossier.pk).update(answers_sealed=sealed)

    problems = check_receipts(receipts)

    assert any("full_name" in p and receipts[1].number in p for p in problems)


def test_answers_that_do_not_decrypt_are_reported(receipts: list[Receipt]) -> None:
    # The first dossier's ciphertext on the second: bound to another dossier, it must not open.
    first = Dossier.objects.get(pk=receipts[0].dossier_id)
    Dossier.objects.filter(pk=receipts[1].dossier_id).update(answers_sealed=first.answers_sealed)

    assert any("do not decrypt" in p for p in check_receipts(receipts))


def test_a_changed_number_or_a_dossier_back_to_draft_is_reported(receipts: list[Receipt]) -> None:
    Dossier.objects.filter(pk=receipts[0].dossier_id).update(number="SN-1999-000001")
    Dossier.objects.filter(pk=receipts[1].dossier_id).update(state=State.DRAFT)

    problems = check_receipts(receipts)

    assert any("number is now SN-1999-000001" in p for p in problems)
    assert any("back to draft" in p for p in problems)


def test_a_document_that_changed_or_vanished_is_reported(receipts: list[Receipt]) -> None:
    other = Receipt(receipts[0].dossier_id, receipts[0].number, receipts[0].answers, "0" * 64)
    assert any("document bytes differ" in p for p in check_receipts([other]))

    attachment = Attachment.objects.get(dossier_id=receipts[1].dossier_id)
    attachment.file.storage.delete(attachment.file.name)
    assert any("document does not decrypt" in p for p in check_receipts([receipts[1]]))
    assert any("not on disk" in p for p in check_consistency())


def test_half_written_dossiers_are_reported(receipts: list[Receipt]) -> None:
    Dossier.objects.filter(pk=receipts[0].dossier_id).update(number=None, due_at=None)
    DossierEvent.objects.filter(dossier_id=receipts[1].dossier_id, action="submit").delete()
    Attachment.objects.filter(dossier_id=receipts[1].dossier_id).delete()

    problems = check_consistency()

    assert "1 dossier(s) past the draft without a number" in problems
    assert "1 dossier(s) past the draft without a deadline" in problems
    assert "1 dossier(s) past the draft without the history event of their submission" in problems
    assert any("submitted without its id_document" in p for p in problems)


def test_a_long_list_of_problems_is_capped(api: dict[str, ApiClient]) -> None:
    missing = [Receipt(f"00000000-0000-0000-0000-{i:012d}", f"SN-{i}", {}) for i in range(30)]

    problems = check_receipts(missing)

    assert len(problems) == 21
    assert problems[-1] == "... and 10 more"
