"""Every verifier reports whether the document is in the transparency log: the built-in one
(page, command, API) from the database, the standalone tool from a downloaded proof and the
log key the signed trust list carries; "not checked", with the reason, when there is no proof
yet (no signed checkpoint covers the document) or none at hand."""

import base64
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.test import Client

from guichet.audit.actions import do_sign_checkpoint
from guichet.documents import publication
from guichet.documents.models import Document
from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.tests.test_standalone import export, standalone
from guichet.documents.verify import verify_pdf, verify_qr
from guichet.identity.models import User

pytestmark = pytest.mark.django_db


def log_check(checks: Sequence[object]) -> tuple[str, str]:
    for check in checks:
        if isinstance(check, dict):
            if check["name"] == "transparency_log":
                return check["status"], check["detail"]
        elif getattr(check, "name", "") == "transparency_log":
            return check.status, check.detail  # type: ignore[attr-defined]
    raise AssertionError("no transparency_log check")


def proof_url(document: Document) -> str:
    return f"/transparency/documents/{document.sha256}.tlog-proof"


def qr_text(pdf: bytes) -> str:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    return str(PdfFileReader(io.BytesIO(pdf)).root["/GuichetQR"])


def test_before_a_checkpoint_the_log_is_not_checked_and_the_document_stays_valid(
    world: dict[str, User],
) -> None:
    document = issued(world)
    verdict = verify_pdf(own_pdf(document))
    assert verdict.result == "valid"
    status, detail = log_check(verdict.checks)
    assert status == "not_checked"
    assert "point de contrôle" in detail
    assert Client().get(proof_url(document)).status_code == 404


def test_after_a_checkpoint_every_built_in_verifier_reports_the_inclusion(
    world: dict[str, User],
) -> None:
    document = issued(world)
    do_sign_checkpoint()
    pdf = own_pdf(document)
    assert document.log_seq is not None
    verdict = verify_pdf(pdf)
    assert verdict.result == "valid"
    assert log_check(verdict.checks)[0] == "ok"
    assert f"{document.log_seq}" in log_check(verdict.checks)[1]
    assert log_check(verify_qr(qr_text(pdf)).checks)[0] == "ok"
    page = Client().post("/verifier", {"qr": qr_text(pdf)})
    assert "Transparency log" in page.content.decode() or "Journal" in page.content.decode()


def test_the_public_proof_carries_the_documents_entry(world: dict[str, User]) -> None:
    document = issued(world)
    do_sign_checkpoint()
    response = Client().get(proof_url(document))
    assert response.status_code == 200
    text = response.content.decode()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    event = json.loads(base64.b64decode(text.split("\n")[1][6:]))
    assert event["details"]["sha256"] == document.sha256
    assert event["details"]["number"] == document.number
    assert event["seq"] == document.log_seq
    # Only the file's hash opens it: an unknown one is a 404, never a listing.
    assert Client().get(f"/transparency/documents/{'0' * 64}.tlog-proof").status_code == 404


def test_the_trust_list_publishes_the_logs_key(world: dict[str, User]) -> None:
    from guichet.audit import keys

    issued(world)
    envelope = json.loads(publication.trust_list())
    payload = json.loads(base64.urlsafe_b64decode(envelope["payload"] + "=="))
    assert payload["transparency_log"]["vkey"] == keys.verifier_key()
    assert payload["transparency_log"]["proofs"].endswith("/transparency/documents/")


def test_the_standalone_tool_checks_a_downloaded_proof_offline(
    world: dict[str, User], tmp_path: Path
) -> None:
    document = issued(world)
    do_sign_checkpoint()
    pdf_path = tmp_path / "document.pdf"
    pdf_path.write_bytes(own_pdf(document))
    proof = tmp_path / "document.tlog-proof"
    proof.write_bytes(Client().get(proof_url(document)).content)
    lists = tmp_path / "lists"
    fingerprint = export(lists)

    without = standalone(str(pdf_path), lists, fingerprint)
    assert without["result"] == "valid"
    status, detail = log_check(without["checks"])
    assert status == "not_checked"
    assert "no inclusion proof" in detail and "/transparency/documents/" in detail

    report = standalone(str(pdf_path), lists, fingerprint, "--proof", str(proof))
    assert report["result"] == "valid"
    assert log_check(report["checks"])[0] == "ok"


def test_a_proof_of_another_document_or_a_tampered_one_makes_it_invalid(
    world: dict[str, User], tmp_path: Path
) -> None:
    first, second = issued(world), issued(world)
    do_sign_checkpoint()
    pdf_path = tmp_path / "first.pdf"
    pdf_path.write_bytes(own_pdf(first))
    lists = tmp_path / "lists"
    fingerprint = export(lists)

    other = tmp_path / "other.tlog-proof"
    other.write_bytes(Client().get(proof_url(second)).content)
    report = standalone(str(pdf_path), lists, fingerprint, "--proof", str(other))
    assert report["result"] == "invalid"
    assert "another file" in log_check(report["checks"])[1]

    lines = Client().get(proof_url(first)).content.decode().split("\n")
    hashes = [i for i, line in enumerate(lines) if i > 2 and line and not line.startswith("c2sp")]
    index = hashes[0]
    lines[index] = base64.b64encode(bytes(32)).decode()
    tampered = tmp_path / "tampered.tlog-proof"
    tampered.write_text("\n".join(lines))
    report = standalone(str(pdf_path), lists, fingerprint, "--proof", str(tampered))
    assert report["result"] == "invalid"
    assert log_check(report["checks"])[0] == "failed"


def test_a_proof_checked_against_another_logs_key_fails(
    world: dict[str, User], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from guichet.audit import keys, notes

    document = issued(world)
    do_sign_checkpoint()
    pdf_path = tmp_path / "document.pdf"
    pdf_path.write_bytes(own_pdf(document))
    proof = tmp_path / "document.tlog-proof"
    proof.write_bytes(Client().get(proof_url(document)).content)
    lists = tmp_path / "lists"
    fingerprint = export(lists)
    stranger = notes.verifier_key(
        keys.log_origin(), notes.public_bytes(Ed25519PrivateKey.generate().public_key())
    )
    report = standalone(
        str(pdf_path), lists, fingerprint, "--proof", str(proof), "--log-key", stranger
    )
    assert report["result"] == "invalid"
    assert "not signed by the log" in log_check(report["checks"])[1]
