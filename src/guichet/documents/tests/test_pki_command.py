"""`guichet pki init|issue|revoke|list|export`: the platform CA, the embedded TSA, seals."""

import json
import stat
from io import StringIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.management import CommandError, call_command

from guichet.documents.models import SealCertificate
from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.verify import verify_pdf
from guichet.identity.models import User

pytestmark = pytest.mark.django_db


def pki(*arguments: str) -> str:
    out = StringIO()
    call_command("pki", *arguments, stdout=out)
    return out.getvalue()


def certificate(kind: str, status: str = "active") -> x509.Certificate:
    row = SealCertificate.objects.get(kind=kind, status=status)
    return x509.load_der_x509_certificate(bytes(row.certificate_der))


def test_init_makes_the_ca_and_the_labelled_tsa_once(
    world: dict[str, User], vault_keys: Path
) -> None:
    assert "Créés." in pki("init")
    assert "Déjà initialisée\u00a0; rien n’a changé." in pki("init")
    assert SealCertificate.objects.count() == 2
    ca, tsa = certificate("ca"), certificate("tsa")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    tsa.verify_directly_issued_by(ca)
    usage = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert "not a qualified TSA" in tsa.subject.rfc4514_string()
    signing = vault_keys / "signing"
    assert stat.S_IMODE(signing.stat().st_mode) == 0o700
    files = list(signing.glob("*.pem"))
    assert len(files) == 2
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)


def test_issue_supersedes_and_old_documents_stay_valid(world: dict[str, User]) -> None:
    document = issued(world)
    first = SealCertificate.objects.get(kind="seal")
    output = pki("issue", "commune-dakar-plateau")
    assert "Délivré\u00a0:" in output
    first.refresh_from_db()
    assert first.status == "superseded"
    second = SealCertificate.objects.get(kind="seal", status="active")
    assert second.kid != first.kid
    assert verify_pdf(own_pdf(document)).result == "valid"
    assert issued(world).seal_id == second.pk
    listing = pki("list")
    assert "superseded" in listing and "Empreinte SHA-256 de l’AC\u00a0:" in listing


def test_unknown_organisation_and_nothing_to_revoke_are_clear_errors(
    world: dict[str, User],
) -> None:
    with pytest.raises(CommandError, match="Aucune organisation n’a le nom court"):
        pki("issue", "no-such-org")
    with pytest.raises(CommandError, match=r"no seal certificate|aucun certificat de cachet"):
        pki("revoke", "ansd")


def test_a_key_file_others_can_read_is_refused(world: dict[str, User], vault_keys: Path) -> None:
    from guichet.documents.service import issue_decision_document, reset_process_state
    from guichet.documents.tests.conftest import decided
    from guichet.vault.errors import VaultMisconfigured

    pki("issue", "commune-dakar-plateau")
    seal = SealCertificate.objects.get(kind="seal")
    path = vault_keys / "signing" / f"{seal.key_label}.pem"
    path.chmod(0o644)
    reset_process_state()
    dossier = decided(world)
    with pytest.raises(VaultMisconfigured, match="chmod 600"):
        issue_decision_document(dossier.pk)
    assert not dossier.documents.exists()


def test_export_writes_what_offline_verifiers_cache(world: dict[str, User], tmp_path: Path) -> None:
    pki("init")
    pki("export", str(tmp_path))
    trust = json.loads((tmp_path / "guichet-trust-list.json").read_bytes())
    assert set(trust) == {"protected", "payload", "signature"}
    assert (tmp_path / "guichet-status-list.json").exists()
    assert (tmp_path / "guichet-ca.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
