"""Trust roots of outside time-stamping authorities (GUICHET_TSA_TRUST_ROOTS).

When GUICHET_TSA_URL sends seals to an outside RFC 3161 service, that service's certificate
chains to a root the platform CA did not issue. The operator puts that root (or several, PEM,
one after the other) in a file and names it in GUICHET_TSA_TRUST_ROOTS; the built-in verifier
then accepts time-stamps chaining to it, and the signed trust list publishes it so offline
verifiers do too. Seals themselves still chain to the platform CA only.

The file is read once per process and again when its modification time or size changes.
"""

import threading
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

_lock = threading.Lock()
_cache: dict[Any, list[x509.Certificate]] = {}


class TsaTrustError(ValueError):
    """The configured file is missing or holds no certificate."""


def roots_path() -> Path | None:
    value = getattr(settings, "GUICHET_TSA_TRUST_ROOTS", None)
    return Path(value) if value else None


def tsa_roots_version() -> Any:
    path = roots_path()
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def tsa_root_certificates() -> list[x509.Certificate]:
    """The configured roots; an unreadable or empty file is an error, not an empty list, so a
    misconfiguration cannot pass for "no outside TSA"."""
    path = roots_path()
    if path is None:
        return []
    version = tsa_roots_version()
    with _lock:
        cached = _cache.get(version)
    if cached is not None:
        return cached
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as error:
        raise TsaTrustError(f"GUICHET_TSA_TRUST_ROOTS ({path}): {error}") from error
    with _lock:
        _cache.clear()
        _cache[version] = certificates
    return certificates


def tsa_roots() -> list[asn1_x509.Certificate]:
    return [
        asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        for certificate in tsa_root_certificates()
    ]
