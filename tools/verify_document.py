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

  log      the document's inclusion in Guichet's transparency log, from its proof (a C2SP
           tlog-proof of its DOCUMENT_ISSUED entry, entry included): the checkpoint signed by
           the log's Ed25519 key (from the trust list, or --log-key), the RFC 9162 inclusion
           path to its root, and an entry naming this file's SHA-256 (or, for a QR code, its
           number). The proof comes from --proof, or from the cache where --fetch puts it;
           without one the check says "not checked" and where to get it.

Usage:
  verify_document.py FILE.pdf | 'SN1:...'  [--trust-list F] [--status-list F] [--cache DIR]
                     [--fetch https://guichet.example] [--ca ca.pem | --ca-fingerprint HEX]
                     [--proof FILE.tlog-proof] [--log-key VKEY] [--json]

--fetch downloads both lists from the server's /.well-known/ into the cache directory (default
~/.cache/guichet-verify), and for a PDF its inclusion proof from /transparency/documents/; later
runs use the cached copies without a network.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import re
import sys
import urllib.error
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
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
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
    # Roots of an outside time-stamping authority the operator trusts (GUICHET_TSA_URL).
    tsa_roots: list[x509.Certificate] = field(default_factory=list)
    # The transparency log: its checkpoint name and Ed25519 key, and where proofs are served.
    log_name: str | None = None
    log_key: bytes | None = None
    proofs_url: str = ""


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
    roots = [
        x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
        for entry in trust.get("timestamp_roots", [])
    ]
    result = Trust(ca, seals, tsa, revoked, notes, pinned is not None, roots)
    log = trust.get("transparency_log") or {}
    if log.get("vkey"):
        result.log_name, result.log_key = parse_vkey(log["vkey"])
        result.proofs_url = str(log.get("proofs", ""))
    return result


def parse_vkey(vkey: str) -> tuple[str, bytes]:
    """A signed-note verifier key "<name>+<hex key id>+<base64(0x01 || Ed25519 key)>"."""
    try:
        name, key_id, encoded = vkey.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as error:
        raise TrustError(f"the log key is malformed ({error})") from error
    if len(raw) != 33 or raw[0] != 1:
        raise TrustError("the log key is not an Ed25519 key")
    if _note_key_id(name, raw[1:]).hex() != key_id:
        raise TrustError("the log key's id does not match its name and key")
    return name, raw[1:]


def _note_key_id(name: str, key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + key).digest()[:4]


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
    if not verify_signature(
        certificate.public_key(), signer_info["signature"].native, _signed_attrs_bytes(signer_info)
    ):
        return None, "the signature does not verify"
    return certificate, ""


def verify_signature(public_key: Any, der_signature: bytes, message: bytes) -> bool:
    """ES256, as Guichet signs, or RSA PKCS#1 v1.5 with SHA-256, as many outside TSAs do."""
    if isinstance(public_key, rsa.RSAPublicKey):
        try:
            public_key.verify(der_signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True
    return verify_es256(public_key, _raw_from_der(der_signature), message)


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
    embedded = issued_by(tsa_certificate, trust.ca) and fingerprint in trust.tsa_fingerprints
    if ExtendedKeyUsageOID.TIME_STAMPING not in usages or not (
        embedded or chains_to(tsa_certificate, _token_certificates(signed_data), trust.tsa_roots)
    ):
        report.add("timestamp", FAILED, "the time-stamping authority is not on the trust list")
        return
    when = tst_info["gen_time"].native
    if not seal.not_valid_before_utc <= when <= seal.not_valid_after_utc:
        report.add("timestamp", FAILED, "time-stamped outside the seal certificate's validity")
        return
    report.add("timestamp", OK, f"time-stamped on {when.isoformat(timespec='seconds')}")


def _token_certificates(signed_data: Any) -> list[x509.Certificate]:
    return [
        x509.load_der_x509_certificate(choice.chosen.dump())
        for choice in signed_data["certificates"]
        if choice.name == "certificate"
    ]


def chains_to(
    certificate: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: list[x509.Certificate],
    depth: int = 5,
) -> bool:
    """Whether `certificate` is one of `roots` or is issued, through at most `depth` of the
    token's own certificates, by one of them (signatures and validity dates checked)."""
    now = datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return False
    root_ders = {root.public_bytes(_der()) for root in roots}
    if certificate.public_bytes(_der()) in root_ders:
        return True
    if any(issued_by(certificate, root) for root in roots):
        return True
    if depth == 0:
        return False
    return any(
        issued_by(certificate, parent) and chains_to(parent, intermediates, roots, depth - 1)
        for parent in intermediates
        if parent.subject == certificate.issuer and parent != certificate
    )


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


# --- Transparency log -----------------------------------------------------------------------------


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _hash_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root that `path` leads to from leaf `index` of a `size` tree."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            node = _hash_node(sibling, node)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = _hash_node(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return node if sn == 0 else None


def read_checkpoint(note: str, name: str, key: bytes) -> tuple[int, bytes]:
    """(size, root) of a C2SP signed checkpoint, if signed by the log's key."""
    body, _, signature_block = note.rpartition("\n\n")
    body += "\n"
    wanted = _note_key_id(name, key)
    for line in signature_block.splitlines():
        fields = line.split(" ")
        if len(fields) == 3 and fields[0] == "\u2014" and fields[1] == name:
            raw = _b64(fields[2])
            if raw[:4] != wanted:
                continue
            try:
                Ed25519PublicKey.from_public_bytes(key).verify(raw[4:], body.encode())
            except InvalidSignature:
                raise ValueError("the checkpoint's signature does not verify") from None
            origin, size, root = body.split("\n")[:3]
            if origin != name or not size.isdigit():
                raise ValueError("the checkpoint names another log")
            return int(size), _b64(root)
    raise ValueError("the checkpoint is not signed by the log's key")


def check_inclusion(
    proof_text: str,
    trust: Trust,
    report: Report,
    *,
    sha256: str | None,
    number: str | None,
) -> None:
    """A c2sp.org/tlog-proof@v1 of the document's DOCUMENT_ISSUED entry (event in `extra`)."""
    if trust.log_name is None or trust.log_key is None:
        report.add("transparency_log", NOT_CHECKED, "no log key: give --log-key")
        return
    try:
        head, _, checkpoint = proof_text.partition("\n\n")
        lines = head.split("\n")
        if lines[0] != "c2sp.org/tlog-proof@v1" or not lines[1].startswith("extra "):
            raise ValueError("not a document's tlog-proof")
        entry = _b64(lines[1][6:])
        if not lines[2].startswith("index "):
            raise ValueError("no index")
        index = int(lines[2][6:])
        path = [_b64(line) for line in lines[3:]]
        size, root = read_checkpoint(checkpoint, trust.log_name, trust.log_key)
        event = json.loads(entry)
        details = event["details"]
    except (ValueError, IndexError, KeyError, TypeError) as error:
        report.add("transparency_log", FAILED, f"the log proof is not valid: {error}")
        return
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    if inclusion_root(index, size, leaf, path) != root:
        report.add("transparency_log", FAILED, "the log proof does not lead to the checkpoint")
    elif event.get("action") != 115 or event.get("seq") != index:
        report.add("transparency_log", FAILED, "the log entry is not a document's issuing")
    elif sha256 is not None and details.get("sha256") != sha256:
        report.add("transparency_log", FAILED, "the log records another file for this entry")
    elif number is not None and details.get("number") != number:
        report.add("transparency_log", FAILED, "the log entry is about another document")
    else:
        report.add(
            "transparency_log",
            OK,
            f"recorded in the transparency log (entry {index}, checkpoint of {size} entries)",
        )


def _log_check(
    report: Report, trust: Trust, proof: Path | None, cache: Path, sha256: str | None
) -> None:
    number = report.document.get("number")
    if proof is None and sha256 is not None:
        cached = cache / "proofs" / f"{sha256}.tlog-proof"
        proof = cached if cached.exists() else None
    if proof is None:
        where = f"{trust.proofs_url}<SHA-256 of the file>.tlog-proof" if trust.proofs_url else ""
        hint = f" (download it from {where}, or use --fetch)" if where else ""
        report.add(
            "transparency_log", NOT_CHECKED, f"not checked: no inclusion proof at hand{hint}"
        )
        return
    check_inclusion(
        proof.read_text(encoding="utf-8"),
        trust,
        report,
        sha256=sha256,
        number=str(number) if number else None,
    )


# --- Command line --------------------------------------------------------------------------------


def _download(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise TrustError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 (checked above)
        body: bytes = response.read()
    return body


def fetch(base_url: str, cache: Path, subject: str | None = None) -> None:
    """Both lists, and for a PDF its inclusion proof when the log covers it already."""
    cache.mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")
    for name in (TRUST_LIST, STATUS_LIST):
        (cache / name).write_bytes(_download(f"{base}/.well-known/{name}"))
    if subject is None or subject.strip().startswith("SN1:"):
        return
    sha256 = hashlib.sha256(Path(subject).read_bytes()).hexdigest()
    try:
        proof = _download(f"{base}/transparency/documents/{sha256}.tlog-proof")
    except urllib.error.HTTPError as error:
        if error.code == 404:  # not covered by a checkpoint yet, or unknown: said later
            return
        raise
    (cache / "proofs").mkdir(exist_ok=True)
    (cache / "proofs" / f"{sha256}.tlog-proof").write_bytes(proof)


def pinned_fingerprint(arguments: argparse.Namespace) -> str | None:
    if arguments.ca:
        certificate = x509.load_pem_x509_certificate(Path(arguments.ca).read_bytes())
        return hashlib.sha256(certificate.public_bytes(_der())).hexdigest()
    if arguments.ca_fingerprint:
        return arguments.ca_fingerprint.replace(":", "").lower()
    return None


def verify(
    subject: str, trust: Trust, proof: Path | None = None, cache: Path = DEFAULT_CACHE
) -> Report:
    report = Report()
    sha256 = None
    try:
        if subject.strip().startswith("SN1:"):
            check_qr(subject, trust, report)
        else:
            data = Path(subject).read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            check_pdf(data, trust, report)
    except OSError:
        raise
    except Exception as error:  # a damaged or hostile file is an answer, not a crash
        report.add("signature", FAILED, f"the file is damaged ({type(error).__name__})")
    if any(status == FAILED for _, status, _ in report.checks):
        report.add("transparency_log", NOT_CHECKED, "not checked: the seal is not valid")
    else:
        _log_check(report, trust, proof, cache, sha256)
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
    parser.add_argument("--proof", type=Path, help="the document's .tlog-proof (log inclusion)")
    parser.add_argument("--log-key", help="the log's verifier key, if not the trust list's")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args(argv)
    try:
        if arguments.fetch:
            fetch(arguments.fetch, arguments.cache, arguments.subject)
        trust_path = arguments.trust_list or arguments.cache / TRUST_LIST
        status_path = arguments.status_list or arguments.cache / STATUS_LIST
        trust = load_trust(
            trust_path.read_bytes(), status_path.read_bytes(), pinned_fingerprint(arguments)
        )
        if arguments.log_key:
            trust.log_name, trust.log_key = parse_vkey(arguments.log_key)
    except (OSError, TrustError, ValueError) as error:
        print(f"cannot verify: {error}", file=sys.stderr)  # noqa: T201
        return 3
    try:
        report = verify(arguments.subject, trust, arguments.proof, arguments.cache)
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
