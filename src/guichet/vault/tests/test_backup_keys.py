"""`guichet vault export-keys` and `import-keys`: the keys a backup needs, kept apart from it."""

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
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

    assert "Exported local KEK v1" in out
    assert _mode(export) == 0o600
    content = json.loads(export.read_text())
    original = (vault_keys / "kek-v1.key").read_bytes()
    assert content["kind"] == "guichet-key-export" and content["versions"] == [1]
    assert original.strip().decode() not in export.read_text()
    new_keys = _move_to_new_keys_dir(settings, tmp_path, "new-machine-keys")
    with pytest.raises(service.KeyMissing):
        service.decrypt_field(OWNER, 1, "phone", sealed)

    out, _ = _vault("import-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert f"Installed local KEK v1 in {new_keys}" in out
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

    assert "Installed local KEK v1, v2" in out
    assert sorted(p.name for p in new_keys.iterdir()) == ["kek-v1.key", "kek-v2.key"]
    assert service.decrypt_field(OWNER, 1, "phone", sealed) == "+221771234567"


def test_the_passphrase_is_asked_twice_and_must_match(
    vault_keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.encrypt_field(OWNER, 1, "phone", "+221771234567")
    export = tmp_path / "keys.json"
    answers = iter([PASSPHRASE, PASSPHRASE + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(CommandError, match="The two passphrases differ"):
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


def test_keys_in_an_hsm_are_not_exported(
    vault_keys: Path, passphrase_file: Path, tmp_path: Path, settings: Any
) -> None:
    settings.GUICHET_KEY_PROVIDER = "pkcs11"
    export = tmp_path / "keys.json"

    with pytest.raises(CommandError, match="non-extractable") as refused:
        _vault("export-keys", str(export), "--passphrase-file", str(passphrase_file))

    assert "HSM's (or OpenBao's) own backup procedure" in str(refused.value)
    assert not export.exists()


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

    with pytest.raises(CommandError, match="already exists"):
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
