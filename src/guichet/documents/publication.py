"""The signed trust list and status list that verifiers, online or offline, rely on.

Both are JWS in the flattened JSON serialization (RFC 7515 §7.2.2), ES256, signed by the platform
CA, whose certificate travels in the protected header (x5c). A verifier pins the CA by its SHA-256
fingerprint (shown on /verifier and by `guichet pki list`), then trusts what the list says:

- trust list: the CA, the time-stamping authorities and every organisation seal ever issued,
  with its COSE key id and status (active, superseded: still valid for what it sealed, revoked);
- status list: the numbers of revoked documents, with the date and a public reason code.

They are rebuilt when what they list changes, and at least hourly so `next_update` stays true.
"""

import base64
import datetime
import hashlib
import json
import threading
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from guichet.documents import actions, pki, transparency
from guichet.documents.models import CertificateKind, SealCertificate, StatusListEntry
from guichet.documents.tsa_trust import tsa_root_certificates, tsa_roots_version

TRUST_LIST_TYPE = "guichet-trust-list+jws"
STATUS_LIST_TYPE = "guichet-status-list+jws"
TRUST_LIST_HOURS = 24
STATUS_LIST_MINUTES = 15
REBUILD_SECONDS = 3600

_cache: dict[str, tuple[Any, float, bytes]] = {}
_cache_lock = threading.Lock()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z") if value else None


def sign_jws(payload: dict[str, Any], ca: pki.LoadedCertificate, media_type: str) -> bytes:
    header = {"alg": "ES256", "kid": ca.kid, "typ": media_type, "x5c": [b64(ca.der)]}
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    digest = hashlib.sha256(f"{protected}.{body}".encode("ascii")).digest()
    signature = ca.store.sign_digest(ca.label, digest)
    document = {"protected": protected, "payload": body, "signature": b64url(signature)}
    return json.dumps(document, indent=1).encode()


def ca_fingerprint(ca: pki.LoadedCertificate) -> str:
    return hashlib.sha256(ca.der).hexdigest()


def _certificate_entry(row: SealCertificate) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kid": row.kid,
        "certificate": b64(bytes(row.certificate_der)),
        "status": row.status,
        "not_before": _iso(row.not_before),
        "not_after": _iso(row.not_after),
        "revoked_at": _iso(row.revoked_at),
    }
    if row.organisation is not None:
        entry["organisation"] = row.organisation.slug
        entry["name"] = row.organisation.name
    return entry


def _trust_payload(ca: pki.LoadedCertificate) -> dict[str, Any]:
    log_name, _log_key = transparency.log_identity()
    now = timezone.now().replace(microsecond=0)
    rows = list(SealCertificate.objects.select_related("organisation").order_by("created_at"))
    return {
        "type": "guichet-trust-list",
        "version": 1,
        "issuer": settings.SITE_URL,
        "issued_at": _iso(now),
        "next_update": _iso(now + datetime.timedelta(hours=TRUST_LIST_HOURS)),
        "ca": {"kid": ca.kid, "certificate": b64(ca.der), "sha256": ca_fingerprint(ca)},
        "timestamp_authorities": [
            _certificate_entry(row) for row in rows if row.kind == CertificateKind.TSA
        ],
        "seals": [_certificate_entry(row) for row in rows if row.kind == CertificateKind.SEAL],
        # Roots of an outside time-stamping authority (GUICHET_TSA_TRUST_ROOTS): time-stamps
        # chaining to one of them are trusted too.
        "timestamp_roots": [
            {"certificate": b64(der), "sha256": hashlib.sha256(der).hexdigest()}
            for der in (
                root.public_bytes(serialization.Encoding.DER) for root in tsa_root_certificates()
            )
        ],
        # The transparency log the documents are recorded in, so an offline verifier can check
        # an inclusion proof's checkpoint with a key the pinned CA vouches for.
        "transparency_log": {
            "origin": log_name,
            "vkey": transparency.log_verifier_key(),
            "proofs": f"{settings.SITE_URL}/transparency/documents/",
        },
    }


def _status_payload() -> dict[str, Any]:
    now = timezone.now().replace(microsecond=0)
    return {
        "type": "guichet-status-list",
        "version": 1,
        "issuer": settings.SITE_URL,
        "issued_at": _iso(now),
        "next_update": _iso(now + datetime.timedelta(minutes=STATUS_LIST_MINUTES)),
        "revoked": [
            {"number": number, "revoked_at": _iso(at), "reason": reason}
            for number, at, reason in StatusListEntry.objects.values_list(
                "number", "revoked_at", "reason"
            )
        ],
    }


def _cached(name: str, version: Any, build: Any) -> bytes:
    with _cache_lock:
        hit = _cache.get(name)
        if hit is not None and hit[0] == version and time.monotonic() - hit[1] < REBUILD_SECONDS:
            return hit[2]
    body: bytes = build()
    with _cache_lock:
        _cache[name] = (version, time.monotonic(), body)
    return body


def forget_cached() -> None:
    with _cache_lock:
        _cache.clear()


def trust_list() -> bytes:
    ca, _tsa = actions.ensure_platform()
    version = SealCertificate.objects.aggregate(
        count=Count("id"), created=Max("created_at"), revoked=Max("revoked_at")
    )
    version["ca"] = ca.row_id
    version["tsa_roots"] = tsa_roots_version()
    return _cached("trust", version, lambda: sign_jws(_trust_payload(ca), ca, TRUST_LIST_TYPE))


def status_list() -> bytes:
    ca, _tsa = actions.ensure_platform()
    version = StatusListEntry.objects.aggregate(count=Count("id"), last=Max("revoked_at"))
    version["ca"] = ca.row_id
    return _cached("status", version, lambda: sign_jws(_status_payload(), ca, STATUS_LIST_TYPE))
