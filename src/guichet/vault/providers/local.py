"""The embedded default: KEKs in 0600 files under VAR_DIR/keys (or GUICHET_VAULT_KEYS_DIR).

This is for a single server whose disk the State controls. Data keys are wrapped with AES key wrap
with padding (RFC 5649), the same mechanism the HSM provider uses, so the two behave alike. A key
file that group or others may read is refused, at use and by the system check, because anyone who
can read it can unwrap every data key; a missing file is never silently recreated, because a new
key would make every existing data key unreadable.
"""

import base64
import binascii
import os
import stat
import threading
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from django.conf import settings

from guichet.vault.errors import KeyMissing, TamperedCiphertext, VaultMisconfigured
from guichet.vault.providers.base import KeyProvider, register_provider

KEK_BYTES = 32


def keys_dir() -> Path:
    configured = getattr(settings, "GUICHET_VAULT_KEYS_DIR", None)
    if configured:
        return Path(configured)
    return Path(settings.VAR_DIR) / "keys"


def insecure_mode(mode: int) -> bool:
    return bool(stat.S_IMODE(mode) & 0o077)


@register_provider
class LocalKeyProvider(KeyProvider):
    name = "local"

    def __init__(self) -> None:
        self.directory = keys_dir()
        self._keks: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def path(self, version: int) -> Path:
        return self.directory / f"kek-v{version}.key"

    def create_version(self, version: int) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        material = os.urandom(KEK_BYTES)
        try:
            fd = os.open(self.path(version), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            # Another process created it first (first-run race): reuse theirs, never overwrite.
            return
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(material) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def has_version(self, version: int) -> bool:
        return self.path(version).exists()

    def wrap(self, version: int, dek: bytes) -> bytes:
        return aes_key_wrap_with_padding(self._kek(version), dek)

    def unwrap(self, version: int, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap_with_padding(self._kek(version), wrapped)
        except InvalidUnwrap as error:
            raise TamperedCiphertext(
                f"The wrapped data key does not unwrap under local KEK v{version}."
            ) from error

    def problems(self, versions_in_use: list[int]) -> list[str]:
        found = super().problems(versions_in_use)
        if self.directory.is_dir():
            for path in sorted(self.directory.glob("*.key")):
                if insecure_mode(path.stat().st_mode):
                    found.append(insecure_message(path))
        return found

    def _kek(self, version: int) -> bytes:
        kek = self._keks.get(version)
        if kek is None:
            with self._lock:
                kek = self._keks[version] = self._read(version)
        return kek

    def _read(self, version: int) -> bytes:
        path = self.path(version)
        content = read_private_file(
            path,
            f"Local KEK v{version} is missing ({path}); restore it from the key export. "
            "It is never recreated, since a new key could not unwrap existing data keys.",
        )
        try:
            material = base64.b64decode(content.strip(), validate=True)
        except binascii.Error:
            material = b""
        if len(material) != KEK_BYTES:
            raise VaultMisconfigured(f"Local KEK file {path} is not a base64 256-bit key.")
        return material


def fsync_directory(directory: Path) -> None:
    """Make a file just created (or renamed) in `directory` survive a power cut: its entry in
    the folder is data too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private_file(path: Path, missing: str) -> bytes:
    """A key file's bytes, refused when it is a link, missing (KeyMissing with `missing`) or
    readable by anyone but its owner. Checked on the open descriptor, so the file checked is the
    file read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as error:
        raise KeyMissing(missing) from error
    with os.fdopen(fd, "rb") as handle:
        if insecure_mode(os.fstat(handle.fileno()).st_mode):
            raise VaultMisconfigured(insecure_message(path))
        return handle.read()


def insecure_message(path: Path) -> str:
    return (
        f"Key file {path} is readable by group or others; "
        f"run `chmod 600 {path}` (and check who could have copied it)."
    )
