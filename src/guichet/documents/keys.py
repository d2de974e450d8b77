"""Signing keys (EC P-256) for the CA, the time-stamping authority and organisation seals.

One small interface, two places a key can live, chosen like the vault's key-encryption keys by
GUICHET_KEY_PROVIDER:

- local: a PKCS#8 PEM file per key under GUICHET_VAULT_KEYS_DIR/signing/, 0600 in a 0700
  folder; a file group or others may read is refused, as the vault refuses its KEK files;
- pkcs11: a non-extractable key pair on the token the vault uses (SoftHSM2 in tests). Debian's
  SoftHSM2 has no CKM_ECDSA_SHA256, only raw CKM_ECDSA, so everything here hashes first and signs
  the digest (documents/cms.py writes the seal's CMS around that signature).

(The vault's third provider, a transit key service, has no signing here: new keys then go to
local files, and each certificate row records the store its key is in.)

Keys are loaded once per process and kept: a worker issuing twenty documents a second must not
reread a PEM file or look a key up on the token each time.
"""

import contextlib
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from asn1crypto import core as asn1_core  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from django.conf import settings

from guichet.vault.errors import KeyMissing, VaultMisconfigured
from guichet.vault.providers.local import (
    keys_dir,
    read_private_file,
)

if TYPE_CHECKING:
    from pkcs11 import Session

CURVE = ec.SECP256R1()
COORDINATE_BYTES = 32


def raw_signature(der: bytes) -> bytes:
    """DER ECDSA-Sig-Value to r || s, the form COSE and JWS use."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")


def der_signature(raw: bytes) -> bytes:
    """r || s to DER ECDSA-Sig-Value, the form X.509 and CMS use."""
    half = len(raw) // 2
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


class SigningKeyStore(ABC):
    name: ClassVar[str]

    @abstractmethod
    def create(self, label: str) -> ec.EllipticCurvePublicKey:
        """Make a new P-256 key pair under `label`; an existing label is an error."""

    @abstractmethod
    def public_key(self, label: str) -> ec.EllipticCurvePublicKey: ...

    @abstractmethod
    def sign_digest(self, label: str, digest: bytes) -> bytes:
        """ECDSA over a SHA-256 digest; the signature as r || s (64 bytes)."""

    def close(self) -> None:  # noqa: B027 (the local store holds nothing to release)
        """Release sessions; called when the stores are reset."""


class LocalKeyStore(SigningKeyStore):
    name = "local"

    def __init__(self) -> None:
        self.directory = keys_dir() / "signing"
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._lock = threading.Lock()

    def path(self, label: str) -> Path:
        if not label or "/" in label or label.startswith("."):
            raise VaultMisconfigured(f"Not a valid key label: {label!r}.")
        return self.directory / f"{label}.pem"

    def create(self, label: str) -> ec.EllipticCurvePublicKey:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(CURVE)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # O_EXCL: a label is never overwritten, since the certificate naming it would then
        # point at a key that cannot have made its signatures.
        fd = os.open(self.path(label), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with self._lock:
            self._keys[label] = key
        return key.public_key()

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        return self._key(label).public_key()

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        der = self._key(label).sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return raw_signature(der)

    def _key(self, label: str) -> ec.EllipticCurvePrivateKey:
        key = self._keys.get(label)
        if key is None:
            with self._lock:
                key = self._keys[label] = self._read(label)
        return key

    def _read(self, label: str) -> ec.EllipticCurvePrivateKey:
        path = self.path(label)
        pem = read_private_file(
            path,
            f"Signing key {label!r} is missing ({path}); restore it from a backup of the "
            "keys folder, or issue a new certificate with `guichet pki`.",
        )
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
            raise VaultMisconfigured(f"Signing key file {path} is not an EC P-256 key.")
        return key


class Pkcs11KeyStore(SigningKeyStore):
    """Key pairs on the vault's PKCS#11 token, through the vault provider's own session.

    PKCS#11 login is per application and token: a second session logging in fails with
    UserAlreadyLoggedIn, and the vault's provider would then fail too. So this store opens no
    session of its own; it borrows the provider's (one logged-in session per process) under the
    provider's lock, and keeps it for the whole of a PDF signature, during which the embedded
    time-stamping authority signs through the same session.
    """

    name = "pkcs11"

    def __init__(self) -> None:
        self.prefix = str(getattr(settings, "GUICHET_PKCS11_SIGNING_PREFIX", "guichet-sign"))
        self._private: dict[str, Any] = {}
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}
        self._lock = threading.RLock()
        self._held: Session | None = None
        self._session_seen: Session | None = None

    def token_key_label(self, label: str) -> str:
        return f"{self.prefix}-{label}"

    def create(self, label: str) -> ec.EllipticCurvePublicKey:
        import pkcs11
        from pkcs11.util.ec import encode_named_curve_parameters

        with self._session() as session:
            if self._find(session, pkcs11.ObjectClass.PRIVATE_KEY, label) is not None:
                raise VaultMisconfigured(f"HSM key {self.token_key_label(label)!r} already exists.")
            parameters = session.create_domain_parameters(
                pkcs11.KeyType.EC,
                {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, _ = parameters.generate_keypair(
                store=True,
                label=self.token_key_label(label),
                public_template={pkcs11.Attribute.VERIFY: True},
                private_template={
                    pkcs11.Attribute.SIGN: True,
                    pkcs11.Attribute.SENSITIVE: True,
                    pkcs11.Attribute.EXTRACTABLE: False,
                    pkcs11.Attribute.PRIVATE: True,
                },
            )
            return self._remember_public(label, public)

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        cached = self._public.get(label)
        if cached is not None:
            return cached
        import pkcs11

        with self._session() as session:
            public = self._find(session, pkcs11.ObjectClass.PUBLIC_KEY, label)
            if public is None:
                raise KeyMissing(f"HSM key {self.token_key_label(label)!r} is not on the token.")
            return self._remember_public(label, public)

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        import pkcs11

        with self._session() as session:
            key = self._private_key(session, label)
            return bytes(key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA))

    def close(self) -> None:
        with self._lock:
            self._private.clear()
            self._public.clear()

    def _remember_public(self, label: str, public: Any) -> ec.EllipticCurvePublicKey:
        import pkcs11

        point = asn1_core.OctetString.load(bytes(public[pkcs11.Attribute.EC_POINT])).native
        key = ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)
        self._public[label] = key
        return key

    def _private_key(self, session: "Session", label: str) -> Any:
        import pkcs11

        key = self._private.get(label)
        if key is None:
            key = self._find(session, pkcs11.ObjectClass.PRIVATE_KEY, label)
            if key is None:
                raise KeyMissing(f"HSM key {self.token_key_label(label)!r} is not on the token.")
            self._private[label] = key
        return key

    def _find(self, session: "Session", object_class: Any, label: str) -> Any:
        import pkcs11

        found = list(
            session.get_objects(
                {
                    pkcs11.Attribute.CLASS: object_class,
                    pkcs11.Attribute.LABEL: self.token_key_label(label),
                }
            )
        )
        return found[0] if found else None

    @contextlib.contextmanager
    def _session(self) -> Iterator["Session"]:
        with self._lock:
            if self._held is not None:  # nested: the time-stamp inside a PDF signature
                yield self._held
                return
            from guichet.vault.providers import get_provider

            provider = get_provider("pkcs11")
            # The vault provider's session context: its lock, its error handling (a failing
            # token drops the session and raises ProviderUnavailable).
            with provider._open() as session:  # type: ignore[attr-defined]
                if session is not self._session_seen:
                    self._private.clear()  # object handles belong to the session they came from
                    self._session_seen = session
                self._held = session
                try:
                    yield session
                finally:
                    self._held = None


_STORES: dict[str, type[SigningKeyStore]] = {"local": LocalKeyStore, "pkcs11": Pkcs11KeyStore}
_instances: dict[str, SigningKeyStore] = {}
_instances_lock = threading.Lock()


def new_key_store_name() -> str:
    """Where new signing keys go: the vault's provider when it can sign, else local files."""
    configured = str(getattr(settings, "GUICHET_KEY_PROVIDER", "local") or "local")
    return configured if configured in _STORES else "local"


def key_store(name: str) -> SigningKeyStore:
    """The store instance for `name`, built once per process."""
    with _instances_lock:
        store = _instances.get(name)
        if store is None:
            cls = _STORES.get(name)
            if cls is None:
                raise VaultMisconfigured(f"Unknown signing key store {name!r}.")
            store = _instances[name] = cls()
        return store


def reset_key_stores() -> None:
    """Forget loaded keys and sessions (tests, settings changes)."""
    with _instances_lock:
        for store in _instances.values():
            store.close()
        _instances.clear()
