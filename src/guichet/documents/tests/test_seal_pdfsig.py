"""The seal checked by an independent implementation: poppler's pdfsig (NSS underneath).

pdfsig checks the CMS signature over the signed byte ranges ("Signature is Valid"), that those
ranges cover the whole file ("Total document signed"), and the signer's certificate chain against
an NSS database in which only our platform CA is trusted ("Certificate is Trusted"). It does not
check the RFC 3161 time-stamp; the built-in and standalone verifiers do.
"""

import io
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from guichet.documents import pki
from guichet.documents.tests.conftest import (
    empty_nss_database,
    issued,
    nss_database,
    own_pdf,
    require_tool,
    run,
)
from guichet.documents.verify import verify_pdf, verify_qr
from guichet.identity.models import User

pytestmark = pytest.mark.django_db


def _ca_pem() -> bytes:
    return pki.certificate_authority().certificate.public_bytes(serialization.Encoding.PEM)


def flip_one_byte(pdf: bytes) -> bytes:
    """Change one byte inside the rendered page, well within the signed range."""
    position = len(pdf) // 3
    return pdf[:position] + bytes([pdf[position] ^ 0x01]) + pdf[position + 1 :]


def test_pdfsig_reports_the_seal_valid_and_trusted(world: dict[str, User], tmp_path: Path) -> None:
    pdfsig = require_tool("pdfsig", "poppler-utils")
    pdf = own_pdf(issued(world))
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    database = nss_database(tmp_path / "nss", _ca_pem())
    result = run(pdfsig, "-nssdir", database, str(path))
    assert result.returncode == 0, result.stderr
    assert "Signature Type: ETSI.CAdES.detached" in result.stdout
    assert "Total document signed" in result.stdout
    assert "Signature Validation: Signature is Valid." in result.stdout
    assert "Certificate Validation: Certificate is Trusted." in result.stdout
    assert "Commune de Dakar-Plateau" in result.stdout


def test_one_changed_byte_makes_pdfsig_and_our_verifier_say_invalid(
    world: dict[str, User], tmp_path: Path
) -> None:
    pdfsig = require_tool("pdfsig", "poppler-utils")
    pdf = own_pdf(issued(world))
    assert verify_pdf(pdf).result == "valid"
    tampered = flip_one_byte(pdf)
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tampered)
    database = nss_database(tmp_path / "nss", _ca_pem())
    result = run(pdfsig, "-nssdir", database, str(path))
    assert "Signature Validation: Signature is Valid." not in result.stdout
    assert "Signature Validation: Digest Mismatch." in result.stdout, result.stdout
    verdict = verify_pdf(tampered)
    assert verdict.result == "invalid"
    assert ("signature", "failed") in {(c.name, c.status) for c in verdict.checks}


def test_without_our_ca_pdfsig_still_checks_the_signature_but_not_the_issuer(
    world: dict[str, User], tmp_path: Path
) -> None:
    pdfsig = require_tool("pdfsig", "poppler-utils")
    path = tmp_path / "certificate.pdf"
    path.write_bytes(own_pdf(issued(world)))
    result = run(pdfsig, "-nssdir", empty_nss_database(tmp_path / "empty"), str(path))
    assert "Signature Validation: Signature is Valid." in result.stdout
    assert "Certificate is Trusted" not in result.stdout


def test_the_qr_code_on_the_page_scans_to_the_sealed_qr_text(
    world: dict[str, User], tmp_path: Path
) -> None:
    """What a phone reads off the printed page is the payload the seal carries. zbarimg is an
    extra witness, not part of CI's tool set: skipped when missing."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("zbarimg is not installed (apt-get install zbar-tools)")
    pdftoppm = require_tool("pdftoppm", "poppler-utils")
    pdf = own_pdf(issued(world))
    (tmp_path / "certificate.pdf").write_bytes(pdf)
    assert (
        run(
            pdftoppm, "-r", "200", "-png", str(tmp_path / "certificate.pdf"), str(tmp_path / "page")
        ).returncode
        == 0
    )
    scanned = run(zbarimg, "-q", "--raw", str(next(tmp_path.glob("page*.png"))))
    qr_text = scanned.stdout.strip()
    assert qr_text.startswith("SN1:")
    assert verify_qr(qr_text).result == "valid"
    assert PdfFileReader(io.BytesIO(pdf)).root["/GuichetQR"] == qr_text
