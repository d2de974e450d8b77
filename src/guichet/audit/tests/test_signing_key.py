"""The log's Ed25519 key under the vault's key providers: a 0600 local file by default, or a
non-extractable key pair on the PKCS#11 token (SoftHSM2, CKM_EDDSA); checkpoints signed with
either verify, with the built-in and the standalone verifier alike."""

import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from guichet.audit import keys, notes, service
from guichet.audit.actions import do_sign_checkpoint
from guichet.audit.models import Action
from guichet.audit.service import Actor, record_event
from guichet.testing import export_vault_keys, reset_vault_process_state
from guichet.vault.errors import VaultMisconfigured
from guichet.vault.tests.test_pkcs11_provider import PIN, TOKEN, softhsm  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def _append(count: int = 3) -> None:
    with transaction.atomic():
        for _ in range(count):
            record_event(Action.LOGIN, actor=Actor.system(), subject_id="someone")


def _verifies() -> str:
    out = StringIO()
    call_command("audit", "verify", "--key", keys.verifier_key(), stdout=out, stderr=out)
    return out.getvalue()


def test_the_local_key_is_a_0600_file_made_on_first_use(settings: Any) -> None:
    path = keys.key_path()
    assert not path.exists()
    _append()
    checkpoint = do_sign_checkpoint()
    assert checkpoint is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    name, public = notes.parse_verifier_key(keys.verifier_key())
    assert notes.open_note(checkpoint.note, name, public)
    assert _verifies().startswith("OK\u00a0: ")


def test_a_local_key_others_may_read_is_refused(settings: Any) -> None:
    _append()
    do_sign_checkpoint()
    os.chmod(keys.key_path(), 0o644)
    reset_vault_process_state()  # a new process reads the file again
    _append()
    with pytest.raises(VaultMisconfigured, match="readable by group or others"):
        do_sign_checkpoint()


def test_another_provider_is_refused(settings: Any) -> None:
    settings.GUICHET_AUDIT_KEY_PROVIDER = "transit"
    _append()
    with pytest.raises(VaultMisconfigured, match="local or pkcs11"):
        do_sign_checkpoint()


@pytest.fixture
def hsm(softhsm: Path, settings: Any) -> Iterator[str]:  # noqa: F811 (the imported fixture)
    if os.environ.get("CI") == "true" and not (
        Path(MODULE).exists() and shutil.which("softhsm2-util")
    ):
        pytest.fail("SoftHSM2 is missing: CI must test the HSM-held log key")
    label = f"audit-{uuid.uuid4().hex[:8]}"
    settings.GUICHET_PKCS11_MODULE = MODULE
    settings.GUICHET_PKCS11_TOKEN_LABEL = TOKEN
    settings.GUICHET_PKCS11_PIN = PIN
    settings.GUICHET_AUDIT_KEY_PROVIDER = "pkcs11"
    settings.GUICHET_AUDIT_KEY_LABEL = label
    reset_vault_process_state()
    yield label
    reset_vault_process_state()


def test_the_key_can_live_in_the_hsm_non_extractable(hsm: str, tmp_path: Path) -> None:
    import pkcs11

    _append()
    first = do_sign_checkpoint()
    _append(5)
    second = do_sign_checkpoint()
    assert first is not None and second is not None
    assert not keys.key_path().exists(), "no key file when the HSM holds the key"
    name, public = notes.parse_verifier_key(keys.verifier_key())
    assert notes.open_note(second.note, name, public)
    assert _verifies().startswith("OK\u00a0: ")
    # The standalone verifier agrees.
    export = tmp_path / "export"
    call_command("audit", "export", str(export), stdout=StringIO())
    import subprocess
    import sys

    from guichet.audit.tests.test_verify import STANDALONE

    done = subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, str(STANDALONE), str(export), "--key", keys.verifier_key()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert service.tree_size() == 8
    # On the token, the private key may sign and never leave.
    token = pkcs11.lib(MODULE).get_token(token_label=TOKEN)
    with token.open() as session:
        [private] = list(
            session.get_objects(
                {
                    pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                    pkcs11.Attribute.LABEL: hsm,
                }
            )
        )
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.KEY_TYPE] == pkcs11.KeyType.EC_EDWARDS


def test_the_local_log_key_travels_in_the_vault_key_export(
    vault_keys: Path, tmp_path: Path, settings: Any
) -> None:
    """`guichet vault export-keys` carries the log's key file (in the vault's keys folder), and
    `import-keys` on a new machine puts it back: the same log goes on under the same key."""
    from guichet.vault import service as vault

    settings.GUICHET_AUDIT_KEY_FILE = str(vault_keys / "audit-ed25519.key")
    reset_vault_process_state()
    vault.encrypt_field("user:export-test", 1, "phone", "+221770000000")  # makes the KEK
    _append()
    do_sign_checkpoint()
    published = keys.verifier_key()
    original = (vault_keys / "audit-ed25519.key").read_bytes()
    export, passphrase, printed = export_vault_keys(tmp_path)
    assert "audit-ed25519.key" in printed
    assert original.decode().splitlines()[1] not in export.read_text()  # sealed, not in clear

    new_keys = tmp_path / "new-machine-keys"
    settings.GUICHET_VAULT_KEYS_DIR = str(new_keys)
    settings.GUICHET_AUDIT_KEY_FILE = str(new_keys / "audit-ed25519.key")
    reset_vault_process_state()
    call_command(
        "vault", "import-keys", str(export), "--passphrase-file", str(passphrase), stdout=StringIO()
    )
    restored = new_keys / "audit-ed25519.key"
    assert restored.read_bytes() == original
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    assert keys.verifier_key() == published
    _append()
    assert do_sign_checkpoint() is not None
    assert _verifies().startswith("OK\u00a0: ")
