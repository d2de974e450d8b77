"""The QR payload: CBOR claims in a COSE_Sign1 (ES256), zlib, Base45, prefix "SN1:".

The EU digital COVID certificate's pattern (CWT claims, COSE_Sign1, zlib, Base45, a prefix), so
phones and tools that read those read most of this. Claims:

    1 iss      the issuing organisation's short name
    6 iat      issue time (seconds since the epoch)
    4 exp      expiry, when the document has one
    -65537     the document: {1: kind, 2: number, 3: holder's name, 4: procedure,
                              5: SHA-256 of the PDF as rendered, before the seal was appended}

The holder's full name is there on purpose: the QR is printed on the document that already shows
it, and initials would let a forged paper with another name of the same initials pass a scan.

COSE_Sign1 is written here rather than with pycose: the structure is four fields and one
Sig_structure (RFC 9052 §4.4), and the signature must come from a key store that may be an HSM,
where pycose wants key material in memory.
"""

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import base45  # type: ignore[import-untyped]
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from guichet.documents.keys import der_signature

PREFIX = "SN1:"
ES256 = -7
HEADER_ALG = 1
HEADER_KID = 4
CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_DOCUMENT = -65537
COSE_SIGN1_TAG = 18
# A QR code holds at most ~4 KB; anything inflating past this is not ours.
MAX_PAYLOAD = 16 * 1024
MAX_TEXT = 8 * 1024


class QrError(ValueError):
    """The text is not a well-formed Guichet QR payload."""


@dataclass(frozen=True)
class Claims:
    issuer: str
    issued_at: int
    expires_at: int | None
    kind: str
    number: str
    holder: str
    procedure: str
    pdf_sha256: bytes

    def to_cbor(self) -> bytes:
        claims: dict[int, Any] = {
            CLAIM_ISS: self.issuer,
            CLAIM_IAT: self.issued_at,
            CLAIM_DOCUMENT: {
                1: self.kind,
                2: self.number,
                3: self.holder,
                4: self.procedure,
                5: self.pdf_sha256,
            },
        }
        if self.expires_at is not None:
            claims[CLAIM_EXP] = self.expires_at
        return cbor2.dumps(claims)


@dataclass(frozen=True)
class Envelope:
    """A decoded but not yet verified COSE_Sign1."""

    kid: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    claims: Claims

    def signed_bytes(self) -> bytes:
        return sig_structure(self.protected, self.payload)

    def verify(self, public_key: ec.EllipticCurvePublicKey) -> bool:
        if len(self.signature) != 64:
            return False
        try:
            public_key.verify(
                der_signature(self.signature), self.signed_bytes(), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            return False
        return True


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def encode(claims: Claims, kid: bytes, sign_digest: Callable[[bytes], bytes]) -> str:
    """The QR text. `sign_digest` signs a SHA-256 digest and returns r || s."""
    import hashlib

    protected = cbor2.dumps({HEADER_ALG: ES256, HEADER_KID: kid})
    payload = claims.to_cbor()
    signature = sign_digest(hashlib.sha256(sig_structure(protected, payload)).digest())
    message = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    encoded: bytes = base45.b45encode(zlib.compress(message, 9))
    return PREFIX + encoded.decode("ascii")


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_PAYLOAD)
    except zlib.error as error:
        raise QrError("not zlib data") from error
    if inflater.unconsumed_tail or not inflater.eof:
        raise QrError("truncated or oversized payload")
    return out


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise QrError(f"claim {name} is not a short text")
    return value


def _claims(payload: bytes) -> Claims:
    try:
        raw = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as error:
        raise QrError("claims are not CBOR") from error
    if not isinstance(raw, Mapping) or not isinstance(raw.get(CLAIM_DOCUMENT), Mapping):
        raise QrError("no document claim")
    document = raw[CLAIM_DOCUMENT]
    issued_at, expires_at = raw.get(CLAIM_IAT), raw.get(CLAIM_EXP)
    digest = document.get(5)
    if not isinstance(issued_at, int) or (
        expires_at is not None and not isinstance(expires_at, int)
    ):
        raise QrError("dates are not integers")
    if not isinstance(digest, bytes) or len(digest) != 32:
        raise QrError("no SHA-256 of the PDF")
    return Claims(
        issuer=_text(raw.get(CLAIM_ISS), "iss"),
        issued_at=issued_at,
        expires_at=expires_at,
        kind=_text(document.get(1), "kind"),
        number=_text(document.get(2), "number"),
        holder=_text(document.get(3), "holder"),
        procedure=_text(document.get(4), "procedure"),
        pdf_sha256=digest,
    )


def decode(text: str) -> Envelope:
    """Parse the QR text; raises QrError for anything that is not a well-formed payload."""
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise QrError("too long")
    if not text.startswith(PREFIX):
        raise QrError(f"does not start with {PREFIX}")
    try:
        compressed = base45.b45decode(text[len(PREFIX) :])
    except (ValueError, KeyError) as error:
        raise QrError("not Base45") from error
    try:
        message = cbor2.loads(_inflate(compressed))
    except (cbor2.CBORDecodeError, ValueError, TypeError) as error:
        raise QrError("not CBOR") from error
    if isinstance(message, cbor2.CBORTag):
        if message.tag != COSE_SIGN1_TAG:
            raise QrError("not a COSE_Sign1")
        message = message.value
    # cbor2 gives arrays inside tags as tuples and maps as frozendicts.
    if not isinstance(message, list | tuple) or len(message) != 4:
        raise QrError("not a COSE_Sign1")
    protected, _unprotected, payload, signature = message
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise QrError("not a COSE_Sign1")
    try:
        header = cbor2.loads(protected)
    except (cbor2.CBORDecodeError, ValueError, TypeError) as error:
        raise QrError("protected header is not CBOR") from error
    if not isinstance(header, Mapping) or header.get(HEADER_ALG) != ES256:
        raise QrError("algorithm is not ES256")
    kid = header.get(HEADER_KID)
    if not isinstance(kid, bytes) or not kid:
        raise QrError("no key id")
    return Envelope(kid, protected, payload, signature, _claims(payload))
