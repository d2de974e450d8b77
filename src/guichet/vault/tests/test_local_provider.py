"""The local key provider: 0600 files made at first use, loose modes refused at use and by the
system check, and a lost key file never silently replaced."""

import base64
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from guichet.vault import service
from guichet.vault.checks import check_keys
from guichet.vault.models import KekVersion
from guichet.vault.tests.conftest import reset_vault_process_state

pytestmark = pytest.mark.django_db

OWNER = f"user:{uuid.uuid4()}"


def test_first_use_creates_a_private_key_file(vault_keys: Path) -> None:
    assert not vault_keys.exists()
    sealed = service.encrypt_field(OWNER, 1, "email", "awa.diop@example.sn")
    kek = vault_keys / "kek-v1.key"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault_keys.stat().st_mode) == 0o700
    assert list(KekVersion.objects.values_list("provider", "version", "state")) == [
        ("local", 1, "active")
    ]
    assert check_keys() == []
    reset_vault_process_state()
    assert service.decrypt_field(OWNER, 1, "email", sealed) == "awa.diop@example.sn"


def test_a_key_file_readable_by_others_is_refused(vault_keys: Path) -> None:
    sealed = service.encrypt_field(OWNER, 1, "email", "awa.diop@example.sn")
    reset_vault_process_state()
    os.chmod(vault_keys / "kek-v1.key", 0o644)
    with pytest.raises(service.VaultMisconfigured, match="chmod 600"):
        service.decrypt_field(OWNER, 1, "email", sealed)
    errors = check_keys()
    assert [e.id for e in errors] == ["vault.E002"]
    assert "readable by group or others" in errors[0].msg
    with pytest.raises(SystemCheckError, match=r"vault\.E002"):
        call_command("check")
    os.chmod(vault_keys / "kek-v1.key", 0o600)
    assert service.decrypt_field(OWNER, 1, "email", sealed) == "awa.diop@example.sn"


def test_a_missing_key_file_is_an_error_and_never_recreated(vault_keys: Path) -> None:
    sealed = service.encrypt_field(OWNER, 1, "email", "awa.diop@example.sn")
    reset_vault_process_state()
    saved = (vault_keys / "kek-v1.key").read_bytes()
    (vault_keys / "kek-v1.key").unlink()
    with pytest.raises(service.KeyMissing, match="never recreated"):
        service.decrypt_field(OWNER, 1, "email", sealed)
    with pytest.raises(service.KeyMissing):
        service.encrypt_field(f"user:{uuid.uuid4()}", 1, "email", "new@example.sn")
    assert not (vault_keys / "kek-v1.key").exists()
    errors = check_keys()
    assert [e.id for e in errors] == ["vault.E002"]
    assert "local KEK version 1 is missing" in errors[0].msg
    (vault_keys / "kek-v1.key").write_bytes(saved)
    os.chmod(vault_keys / "kek-v1.key", 0o600)
    assert service.decrypt_field(OWNER, 1, "email", sealed) == "awa.diop@example.sn"


def test_a_corrupt_key_file_is_refused(vault_keys: Path) -> None:
    sealed = service.encrypt_field(OWNER, 1, "email", "awa.diop@example.sn")
    reset_vault_process_state()
    (vault_keys / "kek-v1.key").write_bytes(b"not a key\n")
    with pytest.raises(service.VaultMisconfigured, match="not a base64 256-bit key"):
        service.decrypt_field(OWNER, 1, "email", sealed)


def test_an_unknown_provider_is_refused(settings: Any) -> None:
    settings.GUICHET_KEY_PROVIDER = "floppy"
    reset_vault_process_state()
    with pytest.raises(service.VaultMisconfigured, match="Unknown key provider 'floppy'"):
        service.encrypt_field(OWNER, 1, "email", "x")
    assert [e.id for e in check_keys()] == ["vault.E001"]


def test_a_wrong_key_file_is_refused_not_used(vault_keys: Path) -> None:
    sealed = service.encrypt_field(OWNER, 1, "email", "awa.diop@example.sn")
    reset_vault_process_state()
    original = (vault_keys / "kek-v1.key").read_bytes()
    (vault_keys / "kek-v1.key").write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    with pytest.raises(service.TamperedCiphertext, match="does not unwrap under local KEK v1"):
        service.decrypt_field(OWNER, 1, "email", sealed)
    (vault_keys / "kek-v1.key").write_bytes(original)
    reset_vault_process_state()
    assert service.decrypt_field(OWNER, 1, "email", sealed) == "awa.diop@example.sn"
