#!/usr/bin/env python3
"""Verify a sealed Guichet document, or the text of its QR code, offline and without Guichet.

Needs Python 3.10+, `cryptography`, `cbor2` and `base45`; PDFs also need `asn1crypto` (it comes
with pyHanko). Nothing here shares code with the server: the checks are written afresh from the
formats, so that this script and the server's verifier can be held against each other.

What it checks, answering VALID, INVALID or REVOKED (exit status 0, 1, 2):

  trust    the trust list and status list are JWS (flattened JSON, ES256) signed by the CA
           certificate they carry, and that CA is the one you pinned (--ca or --ca-fingerprint)
  PDF      exactly one signature, covering the whole file but its own signature value; the CMS
           message digest and ES256 signature; the signer certificate issued by the CA and on
           the trust list; the RFC 3161 time-stamp (imprint of the signature, TSA signature, TSA
           certificate issued by the CA with the timeStamping usage, listed in the trust list)
  QR       prefix SN1:, Base45, zlib, COSE_Sign1 ES256 under a key of the trust list; the claims;
           expiry; for a PDF, that the QR was made for this file's first revision (SHA-256) and
           by the key that sealed it
  status   the document number is not on the status list, the seal certificate not revoked

Transparency-log inclusion is not checked yet (the log is not published for documents).

Usage:
  verify_document.py FILE.pdf | 'SN1:...'  [--trust-list F] [--status-list F] [--cache DIR]
                     [--fetch https://guichet.example] [--ca ca.pem | --ca-fingerprint HEX]
                     [--json]

--fetch downloads both lists from the server's /.well-known/ into the cache directory (default
~/.cache/guichet-verify); later runs use the cached copies without a network.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import re
import sys
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import base45
import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID

TRUST_LIST = "guichet-trust-list.json"
STATUS_LIST = "guichet-status-list.json"
DEFAULT_CACHE = Path.home() / ".cache" / "guichet-verify"
OK, FAILED, NOT_CHECKED, REVOKED = "ok", "failed", "not_checked", "revoked"
EXIT = {"valid": 0, "invalid": 1, "revoked": 2}
MAX_INFLATED = 16 * 1024


class TrustError(Exception):
    """The lists cannot be trusted: nothing can be verified."""


@dataclass
class Report:
    checks: list[tuple[str, str, str]] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)
    revoked: bool = False

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append((name, status, detail))

    @property
    def result(self) -> str:
        if any(status == FAILED for _, status, _ in self.checks):
            return "invalid"
        return "revoked" if self.revoked else "valid"


# --- Trust list and status list ----------------------------------------------------------------


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def der_from_raw(raw: bytes) -> bytes:
    half = len(raw) // 2
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )


def verify_es256(public_key: Any, raw_signature: bytes, message: bytes) -> bool:
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or len(raw_signature) != 64:
        return False
    try:
        public_key.verify(der_from_raw(raw_signature), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def read_jws(
    raw: bytes, pinned: str | None, expected_type: str
) -> tuple[dict[str, Any], x509.Certificate]:
    try:
        envelope = json.loads(raw)
        header = json.loads(b64url_decode(envelope["protected"]))
        payload_bytes = b64url_decode(envelope["payload"])
        signature = b64url_decode(envelope["signature"])
        ca = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise TrustError(f"{expected_type}: not a signed list ({error})") from error
    if header.get("alg") != "ES256":
        raise TrustError(f"{expected_type}: not signed with ES256")
    fingerprint = hashlib.sha256(ca.public_bytes(_der())).hexdigest()
    if pinned is not None and fingerprint != pinned:
        raise TrustError(
            f"{expected_type}: signed by a CA other than the pinned one ({fingerprint})"
        )
    signing_input = f"{envelope['protected']}.{envelope['payload']}".encode("ascii")
    if not verify_es256(ca.public_key(), signature, signing_input):
        raise TrustError(f"{expected_type}: its signature does not verify")
    payload = json.loads(payload_bytes)
    if payload.get("type") != expected_type:
        raise TrustError(f"{expected_type}: wrong list type {payload.get('type')!r}")
    return payload, ca


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


@dataclass
class Seal:
    organisation: str
    name: str
    status: str
    certificate: x509.Certificate


@dataclass
class Trust:
    ca: x509.Certificate
    seals: dict[bytes, Seal]
    tsa_fingerprints: set[str]
    revoked: dict[str, dict[str, Any]]
    notes: list[str]
    pinned: bool


def _stale(payload: dict[str, Any], name: str) -> str | None:
    next_update = payload.get("next_update")
    if not next_update:
        return None
    due = datetime.datetime.fromisoformat(next_update.replace("Z", "+00:00"))
    if due < datetime.datetime.now(datetime.UTC):
        return (
            f"the cached {name} is older than its next update ({next_update}): "
            "refresh it with --fetch"
        )
    return None


def load_trust(trust_raw: bytes, status_raw: bytes, pinned: str | None) -> Trust:
    trust, ca = read_jws(trust_raw, pinned, "guichet-trust-list")
    status, status_ca = read_jws(status_raw, pinned, "guichet-status-list")
    if status_ca.public_bytes(_der()) != ca.public_bytes(_der()):
        raise TrustError("the trust list and the status list are signed by different CAs")
    seals = {}
    for entry in trust.get("seals", []):
        certificate = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
        seals[bytes.fromhex(entry["kid"])] = Seal(
            entry.get("organisation", ""),
            entry.get("name", ""),
            entry.get("status", ""),
            certificate,
        )
    tsa = {
        hashlib.sha256(base64.b64decode(entry["certificate"])).hexdigest()
        for entry in trust.get("timestamp_authorities", [])
        if entry.get("status") != "revoked"
    }
    revoked = {entry["number"]: entry for entry in status.get("revoked", [])}
    notes = [note for note in (_stale(trust, "trust list"), _stale(status, "status list")) if note]
    return Trust(ca, seals, tsa, revoked, notes, pinned is not None)


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- QR payload ----------------------------------------------------------------------------------


def _when(seconds: Any) -> str:
    if not isinstance(seconds, int):
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()


def parse_qr(text: str) -> tuple[bytes, bytes, bytes, bytes, dict[Any, Any]]:
    """(kid, protected, payload, signature, claims) or ValueError."""
    text = text.strip()
    if not text.startswith("SN1:"):
        raise ValueError("does not start with SN1:")
    inflater = zlib.decompressobj()
    message_bytes = inflater.decompress(base45.b45decode(text[4:]), MAX_INFLATED)
    if not inflater.eof:
        raise ValueError("truncated or oversized payload")
    message = cbor2.loads(message_bytes)
    if isinstance(message, cbor2.CBORTag):
        if message.tag != 18:
            raise ValueError("not a COSE_Sign1")
        message = message.value
    if not isinstance(message, (list, tuple)) or len(message) != 4:
        raise ValueError("not a COSE_Sign1")
    protected, _unprotected, payload, signature = message
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise ValueError("not a COSE_Sign1")
    header = cbor2.loads(protected)
    if header.get(1) != -7:
        raise ValueError("algorithm is not ES256")
    kid = header.get(4)
    claims = cbor2.loads(payload)
    if (
        not isinstance(kid, bytes)
        or not hasattr(claims, "get")
        or not hasattr(claims.get(-65537), "get")
    ):
        raise ValueError("malformed header or claims")
    return kid, protected, payload, signature, claims


def check_qr(
    text: str,
    trust: Trust,
    report: Report,
    *,
    rendition_sha256: bytes | None = None,
    signer_kid: bytes | None = None,
) -> None:
    try:
        kid, protected, payload, signature, claims = parse_qr(text)
    except (ValueError, KeyError, TypeError, zlib.error, cbor2.CBORDecodeError) as error:
        report.add("qr", FAILED, f"the QR code is not readable: {error}")
        return
    document = claims[-65537]
    seal = trust.seals.get(kid)
    report.document = {
        "number": document.get(2),
        "kind": document.get(1),
        "holder": document.get(3),
        "issuer": seal.name if seal else claims.get(1),
        "procedure": document.get(4),
        "issued_at": _when(claims.get(6)),
        "expires_at": _when(claims.get(4)),
    }
    if seal is None:
        report.add("qr", FAILED, "signed by a key that is not on the trust list")
        return
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    if not verify_es256(seal.certificate.public_key(), signature, to_be_signed):
        report.add("qr", FAILED, "the COSE signature does not match the claims")
        return
    if claims.get(1) != seal.organisation:
        report.add("qr", FAILED, "the claims name another issuer than the key's")
        return
    report.add("qr", OK, f"signed by {seal.name}")
    if signer_kid is None:
        if issued_by(seal.certificate, trust.ca):
            report.add("chain", OK, "the seal certificate was issued by the CA")
        else:
            report.add("chain", FAILED, "the seal certificate was not issued by the CA")
    if rendition_sha256 is None:
        report.add("hash", NOT_CHECKED, "no PDF given: compare the paper with the details above")
    elif rendition_sha256 == document.get(5):
        report.add("hash", OK, "the QR code was made for this document's content")
    else:
        report.add("hash", FAILED, "the QR code was made for another document")
    if signer_kid is not None:
        if signer_kid == kid:
            report.add("binding", OK, "the QR code and the PDF seal come from the same key")
        else:
            report.add("binding", FAILED, "the QR code and the PDF seal come from different keys")
    expires = claims.get(4)
    if isinstance(expires, int) and expires < datetime.datetime.now(datetime.UTC).timestamp():
        report.add("expiry", FAILED, f"expired on {_when(expires)[:10]}")
    entry = trust.revoked.get(str(document.get(2)))
    if entry is not None:
        report.revoked = True
        report.add(
            "revocation", REVOKED, f"revoked on {entry['revoked_at'][:10]}: {entry['reason']}"
        )
    elif seal.status == "revoked":
        report.revoked = True
        report.add("revocation", REVOKED, "the issuer's seal certificate was revoked")
    else:
        report.add("revocation", OK, "not on the status list")


# --- PDF -----------------------------------------------------------------------------------------

BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
QR_LITERAL = re.compile(rb"/GuichetQR\s*\(((?:[^()\\]|\\.)*)\)", re.DOTALL)
LITERAL_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_literal(raw: bytes) -> str:
    """The text of a PDF literal string's body (ISO 32000-1 §7.3.4.2 escapes)."""
    out = bytearray()
    index = 0
    while index < len(raw):
        byte = raw[index : index + 1]
        if byte != b"\\":
            out += byte
            index += 1
            continue
        following = raw[index + 1 : index + 2]
        octal = re.match(rb"[0-7]{1,3}", raw[index + 1 : index + 4])
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            index += 1 + len(octal.group())
        elif following in (b"\r", b"\n"):
            index += 2  # a line continuation
        else:
            out += LITERAL_ESCAPES.get(following, following)
            index += 2
    return out.decode("ascii", "replace")


def rendition(data: bytes) -> bytes:
    end = data.find(b"%%EOF")
    if end < 0:
        return b""
    end += 5
    if data[end : end + 2] == b"\r\n":
        return data[: end + 2]
    if data[end : end + 1] in (b"\n", b"\r"):
        return data[: end + 1]
    return data[:end]


def _signed_attrs_bytes(signer_info: Any) -> bytes:
    # Signed attributes are hashed as a SET OF, not with the [0] tag they carry in SignerInfo.
    encoded = signer_info["signed_attrs"].dump()
    return b"\x31" + encoded[1:]


def _attribute(signer_info: Any, name: str, unsigned: bool = False) -> Any:
    from asn1crypto import core

    attributes = signer_info["unsigned_attrs" if unsigned else "signed_attrs"]
    # Absent is Void. Not `.native is None`: that converts every attribute, time-stamp token
    # included, and asn1crypto then re-encodes parts it filled with defaults, again and again.
    if isinstance(attributes, core.Void):
        return None
    for attribute in attributes:
        if attribute["type"].native == name:
            return attribute["values"][0]
    return None


def _signer_certificate(signed_data: Any, signer_info: Any) -> x509.Certificate | None:
    sid = signer_info["sid"]
    for choice in signed_data["certificates"]:
        candidate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                candidate.issuer == wanted["issuer"]
                and candidate.serial_number == wanted["serial_number"].native
            ):
                return x509.load_der_x509_certificate(candidate.dump())
        elif candidate.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(candidate.dump())
    return None


def _verify_signer_info(signed_data: Any, content: bytes) -> tuple[x509.Certificate | None, str]:
    """The signer's certificate if the SignerInfo verifies over `content`, else why not."""
    if len(signed_data["signer_infos"]) != 1:
        return None, "not exactly one signer"
    signer_info = signed_data["signer_infos"][0]
    if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
        return None, "digest is not SHA-256"
    digest = _attribute(signer_info, "message_digest")
    if digest is None or digest.native != hashlib.sha256(content).digest():
        return None, "the message digest does not match the content"
    certificate = _signer_certificate(signed_data, signer_info)
    if certificate is None:
        return None, "the signer's certificate is missing"
    if not verify_es256(
        certificate.public_key(),
        _raw_from_der(signer_info["signature"].native),
        _signed_attrs_bytes(signer_info),
    ):
        return None, "the signature does not verify"
    return certificate, ""


def _raw_from_der(der: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        return b""
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _check_timestamp(
    signer_info: Any, trust: Trust, seal: x509.Certificate, report: Report
) -> None:
    from asn1crypto import cms, tsp

    del tsp  # imported for its side effect: it teaches cms the tst_info content type

    token = _attribute(signer_info, "signature_time_stamp_token", unsigned=True)
    if token is None:
        report.add("timestamp", FAILED, "the seal has no time-stamp")
        return
    token = cms.ContentInfo.load(token.dump())
    signed_data = token["content"]
    encapsulated = signed_data["encap_content_info"]
    if encapsulated["content_type"].native != "tst_info":
        report.add("timestamp", FAILED, "not an RFC 3161 time-stamp token")
        return
    tst_bytes = encapsulated["content"].contents
    tsa_certificate, problem = _verify_signer_info(signed_data, tst_bytes)
    if tsa_certificate is None:
        report.add("timestamp", FAILED, f"time-stamp: {problem}")
        return
    tst_info = encapsulated["content"].parsed
    imprint = tst_info["message_imprint"]
    signature_value = signer_info["signature"].native
    if (
        imprint["hash_algorithm"]["algorithm"].native != "sha256"
        or imprint["hashed_message"].native != hashlib.sha256(signature_value).digest()
    ):
        report.add("timestamp", FAILED, "the time-stamp is for another signature")
        return
    fingerprint = hashlib.sha256(tsa_certificate.public_bytes(_der())).hexdigest()
    try:
        usages = tsa_certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if (
        not issued_by(tsa_certificate, trust.ca)
        or ExtendedKeyUsageOID.TIME_STAMPING not in usages
        or fingerprint not in trust.tsa_fingerprints
    ):
        report.add("timestamp", FAILED, "the time-stamping authority is not on the trust list")
        return
    when = tst_info["gen_time"].native
    if not seal.not_valid_before_utc <= when <= seal.not_valid_after_utc:
        report.add("timestamp", FAILED, "time-stamped outside the seal certificate's validity")
        return
    report.add("timestamp", OK, f"time-stamped on {when.isoformat(timespec='seconds')}")


def check_pdf(data: bytes, trust: Trust, report: Report) -> None:
    from asn1crypto import cms

    ranges = BYTE_RANGE.findall(data)
    if len(ranges) != 1:
        report.add("signature", FAILED, "the PDF does not carry exactly one signature")
        return
    a, b, c, d = (int(value) for value in ranges[0])
    gap = data[b:c]
    if a != 0 or c + d != len(data) or b >= c or not (gap[:1] == b"<" and gap[-1:] == b">"):
        report.add("signature", FAILED, "content was added to the file after it was sealed")
        return
    try:
        contents = bytes.fromhex(gap[1:-1].decode("ascii"))
        # The reserved space is zero-padded after the DER; load() ignores what follows it.
        signed_data = cms.ContentInfo.load(contents)["content"]
        signer_info = signed_data["signer_infos"][0]
        certificate, problem = _verify_signer_info(signed_data, data[a:b] + data[c : c + d])
    except (ValueError, KeyError, TypeError, IndexError) as error:
        report.add("signature", FAILED, f"the signature is damaged ({error})")
        return
    if certificate is None:
        report.add("signature", FAILED, f"the file was changed after it was sealed ({problem})")
        return
    report.add("signature", OK, "the seal's signature matches the whole file")
    signer_kid = hashlib.sha256(certificate.public_bytes(_der())).digest()[:8]
    if issued_by(certificate, trust.ca) and signer_kid in trust.seals:
        report.add(
            "chain", OK, "the seal certificate was issued by the CA and is on the trust list"
        )
    else:
        report.add("chain", FAILED, "the seal certificate is not one the trust list vouches for")
    _check_timestamp(signer_info, trust, certificate, report)
    found = QR_LITERAL.findall(data)
    if len(found) != 1:
        report.add("qr", FAILED, "the seal carries no QR code text")
        return
    check_qr(
        pdf_literal(found[0]),
        trust,
        report,
        rendition_sha256=hashlib.sha256(rendition(data)).digest(),
        signer_kid=signer_kid,
    )


# --- Command line --------------------------------------------------------------------------------


def fetch(base_url: str, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for name in (TRUST_LIST, STATUS_LIST):
        url = f"{base_url.rstrip('/')}/.well-known/{name}"
        if not url.startswith(("https://", "http://")):
            raise TrustError(f"not an http(s) URL: {url}")
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 (checked above)
            (cache / name).write_bytes(response.read())


def pinned_fingerprint(arguments: argparse.Namespace) -> str | None:
    if arguments.ca:
        certificate = x509.load_pem_x509_certificate(Path(arguments.ca).read_bytes())
        return hashlib.sha256(certificate.public_bytes(_der())).hexdigest()
    if arguments.ca_fingerprint:
        return arguments.ca_fingerprint.replace(":", "").lower()
    return None


def verify(subject: str, trust: Trust) -> Report:
    report = Report()
    try:
        if subject.strip().startswith("SN1:"):
            check_qr(subject, trust, report)
        else:
            check_pdf(Path(subject).read_bytes(), trust, report)
    except OSError:
        raise
    except Exception as error:  # a damaged or hostile file is an answer, not a crash
        report.add("signature", FAILED, f"the file is damaged ({type(error).__name__})")
    report.add("transparency_log", NOT_CHECKED, "transparency-log inclusion: not yet available")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("subject", metavar="FILE.pdf|SN1:...")
    parser.add_argument("--trust-list", type=Path)
    parser.add_argument("--status-list", type=Path)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--fetch", metavar="URL", help="download both lists into the cache first")
    parser.add_argument("--ca", help="the platform CA certificate (PEM) to pin")
    parser.add_argument("--ca-fingerprint", help="SHA-256 of the platform CA certificate to pin")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args(argv)
    try:
        if arguments.fetch:
            fetch(arguments.fetch, arguments.cache)
        trust_path = arguments.trust_list or arguments.cache / TRUST_LIST
        status_path = arguments.status_list or arguments.cache / STATUS_LIST
        trust = load_trust(
            trust_path.read_bytes(), status_path.read_bytes(), pinned_fingerprint(arguments)
        )
    except (OSError, TrustError, ValueError) as error:
        print(f"cannot verify: {error}", file=sys.stderr)  # noqa: T201
        return 3
    try:
        report = verify(arguments.subject, trust)
    except OSError as error:
        print(f"cannot verify: {error}", file=sys.stderr)  # noqa: T201
        return 3
    notes = list(trust.notes)
    if not trust.pinned:
        notes.append(
            "the CA is not pinned (--ca or --ca-fingerprint): the lists vouch for themselves"
        )
    if arguments.json:
        print(  # noqa: T201
            json.dumps(
                {
                    "result": report.result,
                    "checks": [{"name": n, "status": s, "detail": d} for n, s, d in report.checks],
                    "document": report.document,
                    "notes": notes,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(report.result.upper())  # noqa: T201
        for key, value in report.document.items():
            if value:
                print(f"  {key}: {value}")  # noqa: T201
        for name, status, detail in report.checks:
            print(f"  [{status}] {name}: {detail}")  # noqa: T201
        for note in notes:
            print(f"  note: {note}")  # noqa: T201
    return EXIT[report.result]


if __name__ == "__main__":
    sys.exit(main())
