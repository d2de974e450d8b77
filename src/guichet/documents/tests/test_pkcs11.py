"""Seals signed inside an HSM: SoftHSM2 through PKCS#11, with Debian's raw CKM_ECDSA (pyHanko's
use_raw_mechanism). Skipped with the reason when SoftHSM2 is missing, except in CI, where the
HSM path must be exercised."""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from guichet.documents import pki
from guichet.documents.models import SealCertificate
from guichet.documents.service import reset_process_state
from guichet.documents.tests.conftest import issued, nss_database, own_pdf, require_tool, run
from guichet.documents.verify import verify_pdf
from guichet.identity.models import User
from guichet.testing import reset_vault_process_state
from guichet.vault.tests.test_pkcs11_provider import PIN, TOKEN, softhsm  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture
def token(softhsm: Path) -> Path:  # noqa: F811 (the imported fixture, requested by name)
    """The vault tests' SoftHSM2 token (session-wide): SoftHSM reads its configuration once per
    process, so every test of the run must share one token directory."""
    return softhsm


@pytest.fixture(autouse=True)
def required_in_ci() -> None:
    if os.environ.get("CI") == "true" and not (
        Path(MODULE).exists() and shutil.which("softhsm2-util")
    ):
        pytest.fail("SoftHSM2 is missing: CI must test HSM-backed seals (apt-get install softhsm2)")


@pytest.fixture
def hsm(token: Path, settings: Any) -> Iterator[None]:
    """Every key in the token: the vault's KEK and the CA, TSA and seal keys, under labels
    unique to this test."""
    unique = uuid.uuid4().hex[:8]
    settings.GUICHET_KEY_PROVIDER = "pkcs11"
    settings.GUICHET_PKCS11_MODULE = MODULE
    settings.GUICHET_PKCS11_TOKEN_LABEL = TOKEN
    settings.GUICHET_PKCS11_PIN = PIN
    settings.GUICHET_PKCS11_KEY_PREFIX = f"kek-{unique}"
    settings.GUICHET_PKCS11_SIGNING_PREFIX = f"sign-{unique}"
    reset_vault_process_state()
    reset_process_state()
    yield
    reset_process_state()
    reset_vault_process_state()


def test_a_document_sealed_in_the_hsm_verifies(
    hsm: None, world: dict[str, User], tmp_path: Path, vault_keys: Path, settings: Any
) -> None:
    import pkcs11

    document = issued(world)
    rows = list(SealCertificate.objects.all())
    assert {row.kind for row in rows} == {"ca", "tsa", "seal"}
    assert {row.key_provider for row in rows} == {"pkcs11"}
    assert not (vault_keys / "signing").exists(), "no signing key may be written to disk"
    pdf = own_pdf(document)
    assert verify_pdf(pdf).result == "valid"

    # The process is already logged in to the token (login is per application): a plain
    # session sees the private keys' attributes.
    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open() as session:
        private = list(
            session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})
        )
        ours = [
            key
            for key in private
            if str(key.label).startswith(settings.GUICHET_PKCS11_SIGNING_PREFIX)  # type: ignore[attr-defined]
        ]
        assert len(ours) == 3  # CA, TSA, the commune's seal
        for key in ours:
            assert key[pkcs11.Attribute.EXTRACTABLE] is False
            assert key[pkcs11.Attribute.SENSITIVE] is True

    pdfsig = shutil.which("pdfsig")
    if pdfsig is not None or os.environ.get("CI") == "true":
        pdfsig = require_tool("pdfsig", "poppler-utils")
        path = tmp_path / "hsm.pdf"
        path.write_bytes(pdf)
        ca_pem = pki.certificate_authority().certificate.public_bytes(serialization.Encoding.PEM)
        result = run(pdfsig, "-nssdir", nss_database(tmp_path / "nss", ca_pem), str(path))
        assert "Signature Validation: Signature is Valid." in result.stdout
        assert "Certificate Validation: Certificate is Trusted." in result.stdout
