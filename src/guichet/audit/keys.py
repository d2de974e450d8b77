"""The log's name (checkpoint origin and signed-note key name) and its Ed25519 signing key.

The key is held by one of the vault's key providers (vault/providers/ed25519.py), chosen by
GUICHET_AUDIT_KEY_PROVIDER: "local" (default), a PKCS#8 PEM file at GUICHET_AUDIT_KEY_FILE
(VAR_DIR/keys/audit-ed25519.key), created 0600 on first use and included in `guichet vault
export-keys` when it lies in the vault's keys folder; or "pkcs11", a non-extractable key pair
labelled GUICHET_AUDIT_KEY_LABEL on the vault's HSM token (CKM_EDDSA). Choose before the first
checkpoint: another key is another log for witnesses.
"""

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from guichet.audit import notes
from guichet.vault.providers.ed25519 import Ed25519Key, ed25519_key


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
    return Path(getattr(settings, "GUICHET_AUDIT_KEY_FILE", "") or default)


def key_provider() -> str:
    return str(getattr(settings, "GUICHET_AUDIT_KEY_PROVIDER", "local") or "local")


def key_label() -> str:
    return str(getattr(settings, "GUICHET_AUDIT_KEY_LABEL", "guichet-audit-log"))


def signing_key() -> Ed25519Key:
    """The log's key, where GUICHET_AUDIT_KEY_PROVIDER keeps it: a local file (`key_path()`)
    or a key pair on the vault's PKCS#11 token (`key_label()`); made on first use."""
    return ed25519_key(key_provider(), path=key_path(), label=key_label())


def public_key() -> bytes:
    return signing_key().public_key_bytes()


def verifier_key() -> str:
    return notes.verifier_key(log_origin(), public_key())
