"""The log's name (checkpoint origin and signed-note key name) and its Ed25519 signing key.

Today the key is a PKCS#8 PEM file, VAR_DIR/keys/audit-ed25519.key, created 0600 on first use.
The vault's key providers will take this over: `signing_key()` is the only function that knows
where the key lives.
"""

import contextlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from django.conf import settings

from guichet.audit import notes


def log_origin() -> str:
    """The checkpoint origin: the publication URL without scheme, e.g. guichet.sn/transparency.

    Configured, or else chosen once from SITE_URL when the log first needs it and kept beside
    the key: a log's name must not change with the environment of whichever process asks (the
    server on another port, a command run from another shell), or its own checkpoints would
    stop verifying.
    """
    configured = getattr(settings, "GUICHET_AUDIT_ORIGIN", "")
    if configured:
        return str(notes.check_key_name(configured))
    kept = key_path().with_suffix(".origin")
    if kept.exists():
        return str(notes.check_key_name(kept.read_text(encoding="utf-8").strip()))
    site = urlsplit(str(getattr(settings, "SITE_URL", "http://localhost")))
    origin = notes.check_key_name(f"{site.netloc}{site.path.rstrip('/')}/transparency")
    kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept.write_text(origin + "\n", encoding="utf-8")
    return str(origin)


def key_path() -> Path:
    default = Path(settings.VAR_DIR) / "keys" / "audit-ed25519.key"
    return Path(getattr(settings, "GUICHET_AUDIT_KEY_FILE", default))


def signing_key() -> Ed25519PrivateKey:
    return _load_or_create(key_path())


def public_key() -> bytes:
    return notes.public_bytes(signing_key().public_key())


def verifier_key() -> str:
    return notes.verifier_key(log_origin(), public_key())


@lru_cache(maxsize=4)
def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        _create(path)
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} does not hold an Ed25519 private key")
    return key


def _create(path: Path) -> None:
    # Written to a temporary file, then linked into place: two processes starting at once end
    # up with the same key, and a half-written key file is never seen.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # If another process won the race, its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
