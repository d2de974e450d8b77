"""The documents' signing keys travel in `guichet vault export-keys`: a platform restored on a
new machine goes on sealing under the same CA, so documents keep verifying offline against the
certificate already published."""

import json
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from guichet.documents.access import read_pdf
from guichet.documents.models import CertificateKind, SealCertificate
from guichet.documents.service import reset_process_state
from guichet.documents.tests.conftest import issued
from guichet.documents.verify import verify_pdf
from guichet.identity.models import User
from guichet.testing import export_vault_keys, reset_vault_process_state
from guichet.vault.passphrase import seal, unseal

pytestmark = pytest.mark.django_db


def test_a_restored_machine_seals_under_the_same_keys(
    world: dict[str, User], vault_keys: Path, tmp_path: Path, settings: Any
) -> None:
    first = issued(world)
    originals = {p.name: p.read_bytes() for p in (vault_keys / "signing").iterdir()}
    kinds = sorted(name.split("-")[0] for name in originals)
    assert kinds == ["ca", "seal", "tsa"]  # the CA, the time-stamping authority, the commune
    export, passphrase, printed = export_vault_keys(tmp_path)
    for name, pem in originals.items():
        assert f"signing/{name}" in printed
        assert pem.decode().splitlines()[1] not in export.read_text()  # sealed, not in clear

    new_keys = tmp_path / "new-machine-keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(new_keys)
    settings.GUICHET_AUDIT_KEY_FILE = str(new_keys / "audit-ed25519.key")
    reset_vault_process_state()
    reset_process_state()
    call_command(
        "vault", "import-keys", str(export), "--passphrase-file", str(passphrase), stdout=StringIO()
    )
    restored = new_keys / "signing"
    assert {p.name: p.read_bytes() for p in restored.iterdir()} == originals
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in restored.iterdir()} == {0o600}

    certificates = set(SealCertificate.objects.values_list("pk", flat=True))
    second = issued(world, "reject", "La pièce est illisible.")
    assert set(SealCertificate.objects.values_list("pk", flat=True)) == certificates  # no new CA
    for document in (first, second):
        verdict = verify_pdf(read_pdf(document))
        assert verdict.result == "valid", [(c.name, c.status, c.detail) for c in verdict.checks]
    assert SealCertificate.objects.filter(kind=CertificateKind.CA).count() == 1


def test_an_export_naming_a_seal_key_outside_its_folder_installs_nothing(
    world: dict[str, User], tmp_path: Path, settings: Any
) -> None:
    """File names come from the export, sealed under the passphrase, but are still checked before
    they become paths: an export made to write "../" is refused and nothing is installed."""
    issued(world)
    export, passphrase, _ = export_vault_keys(tmp_path)
    secret = passphrase.read_text(encoding="utf-8").strip()
    envelope = json.loads(export.read_text(encoding="utf-8"))
    content = json.loads(unseal(envelope, secret))
    content["seals"]["../escaped.pem"] = next(iter(content["seals"].values()))
    public = {k: v for k, v in envelope.items() if k in ("kind", "format", "provider")}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(seal(json.dumps(content).encode(), secret, public)))
    new_keys = tmp_path / "new-machine-keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(new_keys)
    reset_vault_process_state()
    with pytest.raises(CommandError, match="malformed signing key"):
        call_command("vault", "import-keys", str(forged), "--passphrase-file", str(passphrase))
    assert not new_keys.exists() or not any(new_keys.iterdir())
    assert not (tmp_path / "escaped.pem").exists()
