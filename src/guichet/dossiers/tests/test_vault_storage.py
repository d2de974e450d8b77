"""Dossiers at rest: every piece of personal data sealed under the dossier's data key, opened only
through access.py (which notes each read), and the pages and API behaving exactly as before."""

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from guichet.dossiers import access
from guichet.dossiers.models import Attachment, Dossier, DossierEvent, Message
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, PDF_BYTES, ApiClient
from guichet.vault.errors import ProviderUnavailable
from guichet.vault.providers.local import LocalKeyProvider

pytestmark = pytest.mark.django_db

REASON = "Pièce illisible : merci de renvoyer la CNI de Mme Awa Diop."
MESSAGE = "Mon numéro est le 77 123 45 67, appelez-moi."
FILE_NAME = "cni-awa-diop.pdf"
# Large enough to span several 64 KiB chunks of the stream format.
BIG_PDF = PDF_BYTES + b"%" + b"A" * 200_000 + b"\n%%EOF\n"


def _filed(api: dict[str, ApiClient]) -> str:
    """A dossier of Awa's, with a document, submitted, taken, changes requested, a message."""
    citizen = api["citizen_a"]
    created = citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
    assert created.status_code == 201, created.content
    dossier_id = str(created.json()["id"])
    upload = SimpleUploadedFile(FILE_NAME, BIG_PDF, "application/pdf")
    assert (
        citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", upload).status_code
        == 201
    )
    assert citizen.post(f"dossiers/{dossier_id}/submit").status_code == 200
    fatou = api["instructor"]
    assert fatou.post(f"dossiers/{dossier_id}/transitions", {"action": "take"}).status_code == 200
    changes = {"action": "request_changes", "comment": REASON}
    assert fatou.post(f"dossiers/{dossier_id}/transitions", changes).status_code == 200
    assert citizen.post(f"dossiers/{dossier_id}/messages", {"body": MESSAGE}).status_code == 201
    return dossier_id


def _raw_rows(dossier_id: str) -> bytes:
    """Every column of every row of this dossier, as the database returns it."""
    key = Dossier._meta.pk.get_db_prep_value(dossier_id, connection)
    found = b""
    with connection.cursor() as cursor:
        for model in (Dossier, Attachment, DossierEvent, Message):
            column = "id" if model is Dossier else "dossier_id"
            table = model._meta.db_table
            cursor.execute(f"SELECT * FROM {table} WHERE {column} = %s", [key])  # noqa: S608
            for row in cursor.fetchall():
                for cell in row:
                    is_bytes = isinstance(cell, bytes | memoryview)
                    found += bytes(cell) if is_bytes else str(cell).encode()
    return found


def test_answers_comments_messages_names_and_files_are_stored_sealed(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier_id = _filed(api)

    raw = _raw_rows(dossier_id)
    for clear in ("Awa Diop", "1994-03-12", "+221771234567", "illisible", "appelez", FILE_NAME):
        assert clear.encode() not in raw, clear
    # The applicant's name is never copied into the history or the thread; agents' names, which
    # are not secret, are kept there as snapshots.
    assert b"Fatou Ndiaye" in raw
    attachment = Attachment.objects.get(dossier_id=dossier_id)
    on_disk = Path(attachment.file.path).read_bytes()
    assert not on_disk.startswith(b"%PDF") and b"AAAAAAAA" not in on_disk
    assert on_disk[0] == 0x02  # the vault's stream format
    # Size and digest still describe the document itself, as before.
    assert attachment.size == len(BIG_PDF)
    assert attachment.sha256 == hashlib.sha256(BIG_PDF).hexdigest()

    # Through the API everything reads as before.
    detail = api["instructor"].get(f"dossiers/{dossier_id}").json()
    assert detail["data"]["full_name"] == "Awa Diop"
    assert detail["data"]["phone"] == "+221771234567"
    assert detail["applicant"] == "Awa Diop" and detail["assigned_to"] == "Fatou Ndiaye"
    assert detail["attachments"][0]["name"] == FILE_NAME
    asked = [e for e in detail["history"] if e["action"] == "request_changes"]
    assert [e["comment"] for e in asked] == [REASON]
    assert detail["history"][0]["actor"] == "Awa Diop"
    thread = api["instructor"].get(f"dossiers/{dossier_id}/messages").json()
    assert [(m["author"], m["body"]) for m in thread] == [("Awa Diop", MESSAGE)]


def test_downloads_are_decrypted_as_they_stream_with_the_plaintext_length(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier_id = _filed(api)
    url = api["citizen_a"].get(f"dossiers/{dossier_id}").json()["attachments"][0]["url"]

    for persona in ("citizen_a", "instructor"):
        response = api[persona].get(url)
        assert response.status_code == 200
        assert response.streaming
        assert int(response["Content-Length"]) == len(BIG_PDF)
        assert FILE_NAME in response["Content-Disposition"]
        assert b"".join(response.streaming_content) == BIG_PDF
    assert api["other_agent"].get(url).status_code == 404

    attachment = Attachment.objects.get(dossier_id=dossier_id)
    page = client_for(world["instructor"]).get(
        f"/agent/dossiers/{dossier_id}/attachments/{attachment.pk}/"
    )
    assert page.status_code == 200 and b"".join(page.streaming_content) == BIG_PDF  # type: ignore[attr-defined]


def test_a_ciphertext_moved_to_another_dossier_does_not_open(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    first = _filed(api)
    second = api["citizen_a"].post("dossiers", {"procedure": BIRTH, "data": {}}).json()["id"]
    stolen = Dossier.objects.get(pk=first).answers_sealed
    Dossier.objects.filter(pk=second).update(answers_sealed=stolen)

    response = api["citizen_a"].get(f"dossiers/{second}")

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "Awa Diop" not in response.content.decode()


def test_every_read_goes_through_the_hook_the_transparency_log_will_use(
    api: dict[str, ApiClient], world: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    dossier_id = _filed(api)
    reads: list[tuple[str, str, str]] = []

    def note(user: Any, dossier: Any, what: str) -> None:
        reads.append((user.email, str(dossier.pk) if dossier else "", what))

    monkeypatch.setattr(access, "_note_read", note)
    page = client_for(world["instructor"]).get(f"/agent/dossiers/{dossier_id}/")
    assert page.status_code == 200
    assert "Awa Diop" in page.content.decode()

    fatou = "fatou.ndiaye@dakarplateau.sn"
    what = {entry[2] for entry in reads if entry[:2] == (fatou, dossier_id)}
    assert {"answers", "history", "messages", "documents", "applicant_profile"} <= what
    reads.clear()
    api["instructor"].get("queue")
    assert (fatou, dossier_id, "names") in reads


def test_a_key_service_out_of_reach_fails_the_request_cleanly_and_the_next_one_recovers(
    api: dict[str, ApiClient], world: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    from guichet.testing import reset_vault_process_state

    dossier_id = _filed(api)
    before = bytes(Dossier.objects.get(pk=dossier_id).answers_sealed or b"")
    reset_vault_process_state()  # a cold process: every key must be unwrapped again

    def down(self: Any, version: int, wrapped: bytes) -> bytes:
        raise ProviderUnavailable("HSM unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(LocalKeyProvider, "unwrap", down)
        refused = api["citizen_a"].patch(f"dossiers/{dossier_id}", {"data": {"copies": 5}})
        assert refused.status_code == 503 and refused.json()["code"] == "unavailable"
        page = client_for(world["instructor"]).get(f"/agent/dossiers/{dossier_id}/")
        assert page.status_code == 503
        assert "Awa Diop" not in page.content.decode()
    assert bytes(Dossier.objects.get(pk=dossier_id).answers_sealed or b"") == before

    recovered = api["citizen_a"].patch(f"dossiers/{dossier_id}", {"data": {"copies": 5}})
    assert recovered.status_code == 200 and recovered.json()["data"]["copies"] == 5


def test_a_request_unwraps_each_data_key_at_most_once(
    api: dict[str, ApiClient], world: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    from guichet.testing import reset_vault_process_state

    citizen = api["citizen_a"]
    dossier_id = citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}).json()["id"]
    reset_vault_process_state()
    unwrapped: list[bytes] = []
    original = LocalKeyProvider.unwrap

    def counting(self: LocalKeyProvider, version: int, wrapped: bytes) -> bytes:
        unwrapped.append(wrapped)
        return original(self, version, wrapped)

    monkeypatch.setattr(LocalKeyProvider, "unwrap", counting)
    # Read, decrypt, merge, re-encrypt, reindex and record, all in one transaction.
    assert citizen.patch(f"dossiers/{dossier_id}", {"data": {"copies": 4}}).status_code == 200
    assert unwrapped, "the cold request had to unwrap its keys"
    assert len(unwrapped) == len(set(unwrapped))  # the dossier's, Awa's, the index key: once each
