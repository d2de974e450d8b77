"""The public verifier: no login, a PDF upload or the pasted QR text, a plain form POST."""

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from pyhanko.pdf_utils.reader import PdfFileReader

from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.tests.test_seal_pdfsig import flip_one_byte
from guichet.documents.views import CHECK_LABELS
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.models import User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db


def upload(pdf: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("document.pdf", pdf, content_type="application/pdf")


def test_an_anonymous_visitor_checks_a_pdf_and_a_qr_text(world: dict[str, User]) -> None:
    pdf = own_pdf(issued(world))
    visitor = client_for(None)
    with translation.override("fr"):
        log_label = str(CHECK_LABELS["transparency_log"])
        not_checked = translation.gettext("not checked")
    form = visitor.get("/verifier")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.content.decode()
    valid = visitor.post("/verifier", {"file": upload(pdf)}).content.decode()
    assert "Valid document" in valid or "Document valide" in valid
    assert "Awa Diop" in valid
    invalid = visitor.post("/verifier", {"file": upload(flip_one_byte(pdf))}).content.decode()
    assert "Invalid document" in invalid or "Document non valide" in invalid
    qr_text = str(PdfFileReader(io.BytesIO(pdf)).root["/GuichetQR"])
    by_qr = visitor.post("/verifier", {"qr": qr_text}).content.decode()
    assert "Valid document" in by_qr or "Document valide" in by_qr
    # The log line is there; no checkpoint is signed yet, so it says "not checked".
    log_line = next(line for line in by_qr.split("<li>") if f"<strong>{log_label}</strong>" in line)
    assert not_checked in log_line


@pytest.mark.parametrize(
    ("data", "field"),
    [({}, "file")],  # NUL characters: guichet/tests/test_bad_text.py
)
def test_a_form_without_a_document_is_a_clear_400(
    world: dict[str, User], data: dict[str, str], field: str
) -> None:
    response = client_for(None).post("/verifier", data)
    assert response.status_code == 400
    assert f'id="verify-{field}-error"' in response.content.decode()


def test_not_a_pdf_is_invalid_not_an_error(world: dict[str, User]) -> None:
    response = client_for(None).post("/verifier", {"file": upload(b"hello, not a PDF")})
    assert response.status_code == 200
    assert (
        "not a readable PDF" in response.content.decode()
        or "PDF lisible" in response.content.decode()
    )


def test_the_api_verifies_without_a_token(world: dict[str, User]) -> None:
    pdf = own_pdf(issued(world))
    qr_text = str(PdfFileReader(io.BytesIO(pdf)).root["/GuichetQR"])
    anonymous = ApiClient(None)
    assert anonymous.post("verify/qr", {"qr": qr_text}).json()["result"] == "valid"
    response = anonymous.client.post("/api/v1/verify/pdf", {"file": upload(pdf)})
    assert response.status_code == 200
    assert response.json()["result"] == "valid"
    assert anonymous.post("verify/qr", {"qr": "SN1:XYZ"}).json()["result"] == "invalid"


@pytest.mark.parametrize(
    "damage",
    [
        lambda pdf: pdf[: len(pdf) // 2],
        lambda pdf: pdf[:-200],
        lambda pdf: pdf.replace(b"/ByteRange", b"/ByteRangX"),
        lambda pdf: pdf.replace(b"/GuichetQR", b"/GuichetQX"),
        lambda pdf: b"%PDF-1.7\n" + bytes(range(256)) * 40,
        lambda pdf: pdf + pdf,
    ],
    ids=["half", "truncated", "no-byte-range", "no-qr", "garbage", "twice"],
)
def test_damaged_files_are_invalid_never_an_error(world: dict[str, User], damage: Any) -> None:
    pdf = own_pdf(issued(world))
    response = client_for(None).post("/verifier", {"file": upload(damage(pdf))})
    assert response.status_code == 200
    assert (
        "Invalid document" in response.content.decode()
        or "Document non valide" in response.content.decode()
    )
