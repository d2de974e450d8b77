"""Ed25519 signing keys held by a key provider (the transparency log's checkpoint key).

- local: a PKCS#8 PEM file, 0600 in a 0700 folder, created on first use; refused, like the KEK
  files, when group or others may read it or when it is a link;
- pkcs11: a non-extractable Ed25519 key pair on the vault's token, created on first use, signing
  with CKM_EDDSA. Debian's SoftHSM2 2.6.1 (built on OpenSSL 3) lists CKM_EC_EDWARDS_KEY_PAIR_GEN
  and CKM_EDDSA, and its signatures verify with `cryptography` (tests/test_ed25519_keys.py).
  The session is the vault provider's own (one logged-in session per process, under its lock):
  a second login on the same token would fail with UserAlreadyLoggedIn.

The transit provider has no signing here. Nothing in this module knows who uses the key: the
caller names it (a path, or a token label).
"""

import contextlib
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from guichet.vault.errors import KeyMissing, VaultMisconfigured
from guichet.vault.providers.local import read_private_file

PROVIDERS = ("local", "pkcs11")
# RFC 8410's id-Ed25519, DER-encoded: the EC_PARAMS PKCS#11 3.0 gives for edwards25519.
ED25519_OID = bytes.fromhex("06032b6570")


class Ed25519Key(ABC):
    @abstractmethod
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""

    @abstractmethod
    def sign(self, data: bytes) -> bytes:
        """A 64-byte Ed25519 signature of `data` (pure Ed25519, no pre-hash)."""


class LocalEd25519Key(Ed25519Key):
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            _create_pem(path)
        pem = read_private_file(path, f"The Ed25519 key file {path} is missing.")
        key = load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise VaultMisconfigured(f"{path} does not hold an Ed25519 private key.")
        self._key = key

    def public_key_bytes(self) -> bytes:
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def _create_pem(path: Path) -> None:
    # Written to a temporary file, then linked into place: two processes starting at once end
    # up with the same key, and a half-written key file is never seen.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".ed25519-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key is the key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


class Pkcs11Ed25519Key(Ed25519Key):
    def __init__(self, label: str) -> None:
        if not label:
            raise VaultMisconfigured("An HSM key needs a label.")
        self.label = label
        self._public: bytes | None = None
        self._lock = threading.Lock()

    def public_key_bytes(self) -> bytes:
        if self._public is None:
            with self._session() as session:
                self._public = _raw_point(self._pair(session)[0])
        return self._public

    def sign(self, data: bytes) -> bytes:
        import pkcs11

        with self._session() as session:
            private = self._pair(session)[1]
            return bytes(private.sign(data, mechanism=pkcs11.Mechanism.EDDSA))

    def _pair(self, session: Any) -> tuple[Any, Any]:
        """The key pair on the token, made on first use (public, private)."""
        import pkcs11

        public = _find(session, pkcs11.ObjectClass.PUBLIC_KEY, self.label)
        private = _find(session, pkcs11.ObjectClass.PRIVATE_KEY, self.label)
        if public is not None and private is not None:
            return public, private
        if public is not None or private is not None:
            raise KeyMissing(f"Half of the HSM key pair {self.label!r} is missing.")
        return tuple(
            session.generate_keypair(
                pkcs11.KeyType.EC_EDWARDS,
                mechanism=pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                store=True,
                public_template={
                    pkcs11.Attribute.EC_PARAMS: ED25519_OID,
                    pkcs11.Attribute.VERIFY: True,
                    pkcs11.Attribute.LABEL: self.label,
                },
                private_template={
                    pkcs11.Attribute.SIGN: True,
                    pkcs11.Attribute.SENSITIVE: True,
                    pkcs11.Attribute.EXTRACTABLE: False,
                    pkcs11.Attribute.PRIVATE: True,
                    pkcs11.Attribute.LABEL: self.label,
                },
            )
        )

    @contextlib.contextmanager
    def _session(self) -> Any:
        from guichet.vault.providers import get_provider
        from guichet.vault.providers.pkcs11 import Pkcs11KeyProvider

        provider = get_provider("pkcs11")
        assert isinstance(provider, Pkcs11KeyProvider)
        with self._lock, provider._open() as session:
            yield session


def _find(session: Any, object_class: Any, label: str) -> Any:
    import pkcs11

    found = list(
        session.get_objects({pkcs11.Attribute.CLASS: object_class, pkcs11.Attribute.LABEL: label})
    )
    return found[0] if found else None


def _raw_point(public: Any) -> bytes:
    """CKA_EC_POINT of an Edwards key: the 32 bytes, or (SoftHSM2) a DER OCTET STRING of them."""
    import pkcs11

    point = bytes(public[pkcs11.Attribute.EC_POINT])
    if len(point) == 34 and point[:2] == b"\x04\x20":
        return point[2:]
    if len(point) != 32:
        raise VaultMisconfigured("The HSM returned an Ed25519 public key of an unexpected size.")
    return point


_keys: dict[tuple[str, str], Ed25519Key] = {}
_keys_lock = threading.Lock()


def ed25519_key(provider: str, *, path: Path | None = None, label: str = "") -> Ed25519Key:
    """The Ed25519 key held by `provider` ("local": the file at `path`; "pkcs11": the key pair
    labelled `label` on the vault's token), made on first use and kept for the process."""
    if provider not in PROVIDERS:
        raise VaultMisconfigured(
            f"Ed25519 keys live with the local or pkcs11 provider, not {provider!r}."
        )
    where = str(path) if provider == "local" else label
    with _keys_lock:
        key = _keys.get((provider, where))
        if key is None:
            if provider == "local":
                if path is None:
                    raise VaultMisconfigured("A local Ed25519 key needs a file path.")
                key = LocalEd25519Key(path)
            else:
                key = Pkcs11Ed25519Key(label)
            _keys[(provider, where)] = key
        return key


def reset_ed25519_keys() -> None:
    """Forget loaded keys (tests, settings changes, a key file restored)."""
    with _keys_lock:
        _keys.clear()
