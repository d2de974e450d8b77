"""`guichet vault export-keys` and `import-keys`: the keys a backup needs, kept apart from it."""

import io
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django.core.management.base import CommandError

from guichet.testing import reset_vault_process_state
from guichet.vault import service
from guichet.vault.models import KekVersion

pytestmark = pytest.mark.django_db

PASSPHRASE = "deux tasses de café touba"
OWNER = "user:keys-test"


def _vault(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("vault", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n", encoding="utf-8")
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _move_to_new_keys_dir(settings: Any, tmp_path: Path, name: str) -> Path:
    directory = tmp_path / name
    settings.GUICHET_VAULT_KEYS_DIR = str(directory)
    reset_vault_process_state()
    return directory


def test_export_then_import_on_a_new_machine_reads_the_data_again(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path, settings: Any
) -> None:
    sealed = service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    export = tmp_path / "keys.json"

    out, _ = _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert "KEK locales v1 exportées dans" in out
    assert _mode(export) == 0o600
    content = json.loads(export.read_text())
    original = (vault_keys / "kek-v1.key").read_bytes()
    assert content["kind"] == "guichet-key-export" and content["versions"] == [1]
    assert content["provider"] == "local"
    assert "keks_in_key_service" not in content and "not_exported" not in content
    assert "ne sont pas dans cet export" not in out  # the KEKs are in it: nothing stayed behind
    assert original.strip().decode() not in export.read_text()
    new_keys = _move_to_new_keys_dir(settings, tmp_path, "new-machine-keys")
    with pytest.raises(service.KeyMissing):
        service.decrypt_field(OWNER, 1, "phone", sealed)

    out, _ = _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert f"KEK locales v1 installées dans {new_keys}." in out
    assert _mode(new_keys) == 0o700
    assert _mode(new_keys / "kek-v1.key") == 0o600
    assert (new_keys / "kek-v1.key").read_bytes() == original
    assert service.decrypt_field(OWNER, 1, "phone", sealed) == "+221771234567"


def test_every_version_is_exported_retired_ones_included(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path, settings: Any
) -> None:
    sealed = service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    call_command("vault", "rotate", stdout=io.StringIO())
    assert set(KekVersion.objects.values_list("version", "state")) == {
        (1, "retired"),
        (2, "active"),
    }
    export = tmp_path / "keys.json"
    _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))
    new_keys = _move_to_new_keys_dir(settings, tmp_path, "restored-keys")

    out, _ = _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert "KEK locales v1, v2 installées dans" in out
    assert sorted(p.name for p in new_keys.iterdir()) == ["kek-v1.key", "kek-v2.key"]
    assert service.decrypt_field(OWNER, 1, "phone", sealed) == "+221771234567"


def test_the_passphrase_is_asked_twice_and_must_match(
    vault_keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    export = tmp_path / "keys.json"
    answers = iter([PASSPHRASE, PASSPHRASE + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(
        CommandError, match=r"^Les deux phrases secrètes diffèrent\u00a0; rien n’a été écrit\.$"
    ):
        _vault("export-keys", str(export))

    assert not export.exists()
    answers = iter([PASSPHRASE, PASSPHRASE])
    _vault("export-keys", str(export))
    assert export.exists()


@pytest.mark.parametrize("passphrase", ["short", "eleven char", "  padded  "])
def test_a_short_passphrase_is_refused_before_anything_is_written(
    vault_keys: Path, tmp_path: Path, passphrase: str
) -> None:
    service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    source = tmp_path / "weak.txt"
    source.write_text(passphrase + "\n")
    export = tmp_path / "keys.json"

    with pytest.raises(CommandError, match="at least 12 characters"):
        _vault("export-keys", str(export), "--passphrase-file", str(source))

    assert not export.exists()


@pytest.mark.parametrize("provider", ["pkcs11", "transit"])
def test_nothing_is_exported_when_every_key_is_in_the_key_service(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path, settings: Any, provider: str
) -> None:
    settings.GUICHET_KEY_PROVIDER = provider
    export = tmp_path / "keys.json"

    with pytest.raises(CommandError, match="non-extractable") as refused:
        _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert f"GUICHET_KEY_PROVIDER is {provider!r}" in str(refused.value)
    assert "no key is kept in local files" in str(refused.value)
    assert "HSM's (or OpenBao's) own backup procedure" in str(refused.value)
    assert not export.exists()


def _document_key(keys: Path, name: str) -> bytes:
    """A documents' signing key as their local store writes it (documents/keys.py)."""
    folder = keys / "signing"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / name).write_bytes(pem)
    os.chmod(folder / name, 0o600)
    return pem


def _manifest(export: Path) -> dict[str, Any]:
    envelope = json.loads(export.read_text())
    return {k: v for k, v in envelope.items() if k not in ("kdf", "cipher", "nonce", "ciphertext")}


STAYS_ON_THE_HSM = (
    "Les clés de chiffrement de clés (KEK) des données du fournisseur pkcs11 ne sont pas dans "
    "cet export : elles restent dans le service de clés, non extractibles. Conservez-les selon "
    "sa propre procédure de sauvegarde ; restaurer une sauvegarde demande l\u2019accès aux "
    "mêmes clés."
)


def test_after_a_move_to_an_hsm_what_is_still_local_is_exported(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path, settings: Any
) -> None:
    """Moving to pkcs11 leaves files behind: the local KEK that data (and older backups) still
    need until a rotation, the documents' keys made before the move. The export carries them,
    says the HSM's keys are not in it, and needs no token to do so."""
    sealed = service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    ca = _document_key(vault_keys, "ca-1.pem")
    settings.GUICHET_KEY_PROVIDER = "pkcs11"
    settings.GUICHET_PKCS11_MODULE = str(tmp_path / "no-such-module.so")  # never loaded
    reset_vault_process_state()
    export = tmp_path / "keys.json"

    out, err = _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert f"KEK locales v1 exportées dans {export} (0600)." in out
    assert "Avec les fichiers de clés de signature des documents\u00a0: signing/ca-1.pem." in out
    assert STAYS_ON_THE_HSM in out
    manifest = _manifest(export)
    assert (manifest["provider"], manifest["keks_in_key_service"]) == ("pkcs11", "pkcs11")
    assert (manifest["versions"], manifest["seal_keys"]) == ([1], ["ca-1.pem"])
    assert manifest["not_exported"] == STAYS_ON_THE_HSM

    settings.GUICHET_KEY_PROVIDER = "local"
    new_keys = _move_to_new_keys_dir(settings, tmp_path, "new-machine-keys")
    out, err = _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert out == (
        f"KEK locales v1 installées dans {new_keys}.\n"
        f"Fichiers de clés de signature signing/ca-1.pem installés dans {new_keys}.\n"
        f"{STAYS_ON_THE_HSM}\n"
    )
    assert err == (
        "Attention : GUICHET_KEY_PROVIDER vaut local ici, mais cet export a été fait sous "
        "pkcs11, dont le service de clés garde les KEK des données : donnez à cette machine "
        "l\u2019accès à ce service avant `guichet restore`.\n"
    )
    assert (new_keys / "signing" / "ca-1.pem").read_bytes() == ca
    assert service.decrypt_field(OWNER, 1, "phone", sealed) == "+221771234567"


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.update(provider="local"),
        lambda e: e.pop("keks_in_key_service"),
        lambda e: e.update(not_exported="Les clés sont toutes dans ce fichier."),
    ],
)
def test_the_manifest_of_a_key_service_export_cannot_be_rewritten(
    vault_keys: Path,
    passphrase_file: Path,
    tmp_path: Path,
    settings: Any,
    change: Callable[[dict[str, Any]], Any],
) -> None:
    """Whoever edits the manifest to say the KEKs are in the file (or anything else) breaks
    the seal, since the manifest is authenticated with the keys."""
    _document_key(vault_keys, "ca-1.pem")
    settings.GUICHET_KEY_PROVIDER = "transit"
    export = tmp_path / "keys.json"
    _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))
    envelope = json.loads(export.read_text())
    change(envelope)
    export.write_text(json.dumps(envelope))
    new_keys = _move_to_new_keys_dir(settings, tmp_path, "target")

    with pytest.raises(CommandError, match="Wrong passphrase, or the file was altered"):
        _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert not new_keys.exists()


def test_nothing_to_export_before_the_first_key_exists(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="No local key-encryption key"):
        _vault(
            "export-keys", str(tmp_path / "keys.json"), "--passphrase-file", str(passphrase_file)
        )


def test_an_export_is_never_overwritten(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path
) -> None:
    service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    export = tmp_path / "keys.json"
    export.write_text("the only copy of last year's keys")

    with pytest.raises(CommandError, match=r"existe déjà\u00a0; un export n’est jamais écrasé\.$"):
        _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert export.read_text() == "the only copy of last year's keys"


def _flip_first(text: str) -> str:
    # Always a different first character: "A" in place of an "A" would alter nothing.
    return ("B" if text[0] == "A" else "A") + text[1:]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update(versions=[1, 2]), "Wrong passphrase, or the file was altered."),
        (lambda e: e.update(ciphertext=_flip_first(e["ciphertext"])), "Wrong passphrase"),
        (lambda e: e["kdf"].update(n=2**30), "outside the safe range"),
        (lambda e: e.update(kind="something-else"), "is not a Guichet key export"),
    ],
)
def test_an_altered_export_is_refused_and_installs_nothing(
    vault_keys: Path,
    passphrase_file: Path,
    tmp_path: Path,
    settings: Any,
    change: Any,
    message: str,
) -> None:
    service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    export = tmp_path / "keys.json"
    _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))
    envelope = json.loads(export.read_text())
    change(envelope)
    export.write_text(json.dumps(envelope))
    new_keys = _move_to_new_keys_dir(settings, tmp_path, "target")

    with pytest.raises(CommandError, match=message):
        _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert not new_keys.exists()


def test_import_refuses_a_keys_directory_that_is_not_empty(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path
) -> None:
    service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    export = tmp_path / "keys.json"
    _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))
    before = {p.name: p.read_bytes() for p in vault_keys.iterdir()}

    with pytest.raises(CommandError, match="is not empty"):
        _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert {p.name: p.read_bytes() for p in vault_keys.iterdir()} == before
