"""The documents' signing keys travel in `guichet vault export-keys`: a platform restored on a
new machine goes on sealing under the same CA, so documents keep verifying offline against the
certificate already published. Under the transit provider too, whose KEKs stay in the key
service while the documents' keys are local files."""

import json
import stat
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from guichet.documents.models import CertificateKind, SealCertificate
from guichet.documents.service import reset_process_state
from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.verify import verify_pdf
from guichet.identity.models import User
from guichet.testing import export_vault_keys, reset_vault_process_state
from guichet.vault.passphrase import seal, unseal
from guichet.vault.tests.fake_transit import FakeTransit

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
        verdict = verify_pdf(own_pdf(document))
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


# --- The transit provider: its KEKs stay in the key service, the documents' keys are files ------

TOKEN = "s.test-token"


@pytest.fixture
def transit(settings: Any) -> Iterator[FakeTransit]:
    """Transit from the start, before `world` seals its first data: ask for it first."""
    with FakeTransit(TOKEN) as fake:
        settings.GUICHET_TRANSIT_URL = fake.url
        settings.GUICHET_TRANSIT_TOKEN = TOKEN
        settings.GUICHET_KEY_PROVIDER = "transit"
        reset_vault_process_state()
        reset_process_state()
        yield fake


def _manifest(export: Path) -> dict[str, Any]:
    envelope = json.loads(export.read_text(encoding="utf-8"))
    return {k: v for k, v in envelope.items() if k not in ("kdf", "cipher", "nonce", "ciphertext")}


STAYS_IN_TRANSIT = (
    "Les clés de chiffrement de clés (KEK) des données du fournisseur transit ne sont pas dans "
    "cet export : elles restent dans le service de clés, non extractibles. Conservez-les selon "
    "sa propre procédure de sauvegarde ; restaurer une sauvegarde demande l\u2019accès aux "
    "mêmes clés."
)


def test_under_transit_the_documents_keys_travel_and_the_keks_stay_in_the_service(
    transit: FakeTransit, world: dict[str, User], vault_keys: Path, tmp_path: Path, settings: Any
) -> None:
    first = issued(world)
    assert set(transit.keys) == {"guichet-kek-v1"}  # the data keys are the engine's to wrap
    assert not list(vault_keys.glob("kek-v*.key"))
    originals = {p.name: p.read_bytes() for p in (vault_keys / "signing").iterdir()}
    assert sorted(name.split("-")[0] for name in originals) == ["ca", "seal", "tsa"]

    export, passphrase, printed = export_vault_keys(tmp_path)

    assert (
        f"Les clés de signature gardées dans des fichiers locaux sont exportées dans {export} "
        "(0600)."
    ) in printed
    for name in originals:
        assert f"signing/{name}" in printed
    assert STAYS_IN_TRANSIT in printed
    assert "Exported local KEK" not in printed  # there is none: nothing local to claim
    manifest = _manifest(export)
    assert manifest["provider"] == "transit"
    assert manifest["keks_in_key_service"] == "transit"
    assert manifest["not_exported"] == STAYS_IN_TRANSIT
    assert manifest["versions"] == [] and manifest["seal_keys"] == sorted(originals)
    for pem in originals.values():
        assert pem.decode().splitlines()[1] not in export.read_text()  # sealed, not in clear

    new_keys = tmp_path / "new-machine-keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(new_keys)
    settings.GUICHET_AUDIT_KEY_FILE = str(new_keys / "audit-ed25519.key")
    reset_vault_process_state()
    reset_process_state()
    out, err = StringIO(), StringIO()
    call_command(
        "vault",
        "import-keys",
        str(export),
        "--passphrase-file",
        str(passphrase),
        stdout=out,
        stderr=err,
    )

    names = ", ".join(f"signing/{name}" for name in sorted(originals))
    assert out.getvalue() == (
        f"Fichiers de clés de signature {names} installés dans {new_keys}.\n{STAYS_IN_TRANSIT}\n"
    )
    assert err.getvalue() == ""  # this machine is configured for the same key service
    restored = new_keys / "signing"
    assert {p.name: p.read_bytes() for p in restored.iterdir()} == originals
    assert stat.S_IMODE(new_keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(restored.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in restored.iterdir()} == {0o600}
    assert not list(new_keys.glob("kek-v*.key"))

    certificates = set(SealCertificate.objects.values_list("pk", flat=True))
    second = issued(world, "reject", "La pièce est illisible.")
    assert set(SealCertificate.objects.values_list("pk", flat=True)) == certificates  # no new CA
    for document in (first, second):
        verdict = verify_pdf(own_pdf(document))
        assert verdict.result == "valid", [(c.name, c.status, c.detail) for c in verdict.checks]


def test_under_transit_an_export_naming_a_key_outside_its_folder_installs_nothing(
    transit: FakeTransit, world: dict[str, User], tmp_path: Path, settings: Any
) -> None:
    """The same path checks as a local export: names are checked before they become paths."""
    issued(world)
    export, passphrase, _ = export_vault_keys(tmp_path)
    secret = passphrase.read_text(encoding="utf-8").strip()
    envelope = json.loads(export.read_text(encoding="utf-8"))
    content = json.loads(unseal(envelope, secret))
    assert content["keks"] == {}
    pem = next(iter(content["seals"].values()))
    public = _manifest(export)
    new_keys = tmp_path / "new-machine-keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(new_keys)
    reset_vault_process_state()
    for where, name in (("seals", "../escaped.pem"), ("ed25519", "../escaped.key")):
        forged_content = {**content, where: {**content[where], name: pem}}
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(seal(json.dumps(forged_content).encode(), secret, public)))
        with pytest.raises(CommandError, match="malformed signing key"):
            call_command("vault", "import-keys", str(forged), "--passphrase-file", str(passphrase))
        assert not new_keys.exists() or not any(new_keys.iterdir())
        assert not (tmp_path / "escaped.pem").exists() and not (tmp_path / "escaped.key").exists()
