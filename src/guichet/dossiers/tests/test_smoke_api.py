"""The shortest journey through the API: draft, attach, submit, take, accept."""

import pytest
from django.core import mail

from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_citizen_files_and_an_instructor_decides(api: dict[str, ApiClient]) -> None:
    citizen, instructor = api["citizen_a"], api["instructor"]
    created = citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
    assert created.status_code == 201, created.content
    dossier_id = created.json()["id"]
    assert created.json()["state"] == "draft"
    upload = citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
    assert upload.status_code == 201, upload.content
    submitted = citizen.post(f"dossiers/{dossier_id}/submit")
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["number"].startswith("SN-")
    taken = instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "take"})
    assert taken.json()["state"] == "in_review"
    accepted = instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "accept"})
    assert accepted.json()["state"] == "accepted"
    assert any(
        "acceptée" in m.subject.lower() or "accepted" in m.subject.lower() for m in mail.outbox
    )
