"""tools/verify_document.py, the verifier without Django, agrees with the built-in one: on a
valid PDF, a tampered one, a QR text, a forged QR and a revoked document, offline from the
exported (cached) trust and status lists."""

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from pyhanko.pdf_utils.reader import PdfFileReader

from guichet.documents import pki, publication
from guichet.documents.actions import do_revoke_document
from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.tests.test_qr import pack, unpack
from guichet.documents.tests.test_seal_pdfsig import flip_one_byte
from guichet.documents.verify import Verdict, verify_pdf, verify_qr
from guichet.identity.models import User

pytestmark = pytest.mark.django_db

TOOL = Path(settings.BASE_DIR) / "tools" / "verify_document.py"
# Run the tool with Django and Guichet made unimportable: it must not lean on either.
ISOLATED = (
    "import runpy, sys; sys.modules['django'] = None; sys.modules['guichet'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def standalone(subject: str, lists: Path, fingerprint: str, *extra: str) -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603 (fixed arguments)
        [
            sys.executable,
            "-c",
            ISOLATED,
            str(TOOL),
            subject,
            "--trust-list",
            str(lists / "guichet-trust-list.json"),
            "--status-list",
            str(lists / "guichet-status-list.json"),
            "--ca-fingerprint",
            fingerprint,
            "--cache",
            str(lists / "cache"),
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode in (0, 1, 2), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == {"valid": 0, "invalid": 1, "revoked": 2}[report["result"]]
    return report


def failed(checks: list[Any]) -> set[str]:
    return {
        c["name"] if isinstance(c, dict) else c.name
        for c in checks
        if (c["status"] if isinstance(c, dict) else c.status) == "failed"
    }


def agree(built_in: Verdict, offline: dict[str, Any]) -> None:
    assert offline["result"] == built_in.result, (offline, built_in)
    assert failed(offline["checks"]) == failed(built_in.checks)
    if built_in.document:
        assert offline["document"]["number"] == built_in.document["number"]


def export(directory: Path) -> str:
    publication.forget_cached()
    call_command("pki", "export", str(directory), stdout=io.StringIO())
    return publication.ca_fingerprint(pki.certificate_authority())


def test_both_verifiers_agree(world: dict[str, User], tmp_path: Path) -> None:
    document = issued(world)
    pdf = own_pdf(document)
    qr_text = str(PdfFileReader(io.BytesIO(pdf)).root["/GuichetQR"])
    lists = tmp_path / "lists"
    fingerprint = export(lists)
    (tmp_path / "good.pdf").write_bytes(pdf)
    (tmp_path / "tampered.pdf").write_bytes(flip_one_byte(pdf))
    (tmp_path / "appended.pdf").write_bytes(pdf + b"\n% appended after sealing\n")
    protected, unprotected, payload, _signature = unpack(qr_text)
    forged_qr = pack([protected, unprotected, payload, b"\x01" * 64])

    valid = standalone(str(tmp_path / "good.pdf"), lists, fingerprint)
    agree(verify_pdf(pdf), valid)
    assert valid["result"] == "valid"
    assert {c["name"] for c in valid["checks"] if c["status"] == "ok"} >= {
        "signature",
        "chain",
        "timestamp",
        "qr",
        "hash",
        "binding",
        "revocation",
    }
    agree(
        verify_pdf(flip_one_byte(pdf)),
        standalone(str(tmp_path / "tampered.pdf"), lists, fingerprint),
    )
    appended = standalone(str(tmp_path / "appended.pdf"), lists, fingerprint)
    assert appended["result"] == "invalid"
    assert verify_pdf(pdf + b"\n% appended after sealing\n").result == "invalid"
    agree(verify_qr(qr_text), standalone(qr_text, lists, fingerprint))
    agree(verify_qr(forged_qr), standalone(forged_qr, lists, fingerprint))

    do_revoke_document(world["supervisor"], document.pk, "issued_in_error", "Erreur de date.")
    stale = standalone(str(tmp_path / "good.pdf"), lists, fingerprint)
    assert stale["result"] == "valid", "the old cached status list does not know yet"
    fingerprint = export(lists)
    revoked = standalone(str(tmp_path / "good.pdf"), lists, fingerprint)
    agree(verify_pdf(pdf), revoked)
    assert revoked["result"] == "revoked"
    agree(verify_qr(qr_text), standalone(qr_text, lists, fingerprint))


def test_the_standalone_verifier_refuses_lists_from_another_ca(
    world: dict[str, User], tmp_path: Path
) -> None:
    document = issued(world)
    lists = tmp_path / "lists"
    export(lists)
    (tmp_path / "good.pdf").write_bytes(own_pdf(document))
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(TOOL),
            str(tmp_path / "good.pdf"),
            "--cache",
            str(lists),
            "--ca-fingerprint",
            "00" * 32,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3
    assert "pinned" in result.stderr
