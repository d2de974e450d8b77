"""The seal's CMS signature and the embedded TSA's RFC 3161 token, written as DER directly.

Why not pyHanko's CMS builder: it assembles every SignedData as a tree of asn1crypto objects and
serialises it again each time, certificates included; profiling showed that taking about half of
the CPU time of issuing a document (some 20 ms of 48). Everything here that does not change from
one document to the next (certificates, issuer-and-serial, ESS signing-certificate attributes,
algorithm identifiers) is encoded once per process, and a signature is a few byte joins around
one ECDSA signature. pyHanko still writes the PDF side (signature field, appearance, byte range)
and still validates what comes out (the built-in verifier, and the tests with pdfsig).

Structures, DER (X.690) throughout:

- seal, RFC 5652 SignedData, detached (no eContent), one SignerInfo: IssuerAndSerialNumber,
  SHA-256, signed attributes content-type, message-digest and signing-certificate-v2 (PAdES
  baseline B: no signing-time attribute, the time is the signature dictionary's /M), ES256,
  and the unsigned signature-time-stamp-token (PAdES baseline T);
- time-stamp token, RFC 3161 §2.4.2 TSTInfo in a SignedData (eContentType id-ct-TSTInfo),
  signed attributes content-type, signing-time, message-digest, signing-certificate-v2
  (RFC 5816), ES256, the TSA and CA certificates attached.
"""

import datetime
import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509

# --- DER encoding -------------------------------------------------------------------------------

SEQUENCE, SET = 0x30, 0x31
INTEGER, OCTET_STRING, OID, UTC_TIME, GENERALIZED_TIME = 0x02, 0x04, 0x06, 0x17, 0x18


def tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(items: Iterable[bytes], tag: int = SET) -> bytes:
    # DER orders the elements of a SET OF by their encodings (X.690 §11.6).
    return tlv(tag, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    size = value.bit_length() // 8 + 1  # room for the sign bit: positive values stay positive
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def oid(dotted: str) -> bytes:
    numbers = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * numbers[0] + numbers[1]])
    for number in numbers[2:]:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def octets(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def explicit(number: int, content: bytes) -> bytes:
    return tlv(0xA0 | number, content)


def utc_time(moment: datetime.datetime) -> bytes:
    return tlv(UTC_TIME, moment.astimezone(datetime.UTC).strftime("%y%m%d%H%M%SZ").encode())


def generalized_time(moment: datetime.datetime) -> bytes:
    moment = moment.astimezone(datetime.UTC)
    text = moment.strftime("%Y%m%d%H%M%S")
    if moment.microsecond:
        # Fractions without trailing zeros, as DER requires (X.690 §11.7.3).
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return tlv(GENERALIZED_TIME, (text + "Z").encode())


# --- Object identifiers and fixed pieces --------------------------------------------------------

ID_DATA = oid("1.2.840.113549.1.7.1")
ID_SIGNED_DATA = oid("1.2.840.113549.1.7.2")
ID_CT_TST_INFO = oid("1.2.840.113549.1.9.16.1.4")
ID_CONTENT_TYPE = oid("1.2.840.113549.1.9.3")
ID_MESSAGE_DIGEST = oid("1.2.840.113549.1.9.4")
ID_SIGNING_TIME = oid("1.2.840.113549.1.9.5")
ID_SIGNING_CERTIFICATE_V2 = oid("1.2.840.113549.1.9.16.2.47")
ID_TIME_STAMP_TOKEN = oid("1.2.840.113549.1.9.16.2.14")
# With an explicit NULL, as asn1crypto writes it: RFC 5754 allows both, and asn1crypto, which
# pyHanko and the standalone verifier read CMS with, "repairs" an absent one on parsing, which
# marks the whole structure changed and makes every later read re-encode it (0.5 s a file).
SHA256 = sequence(oid("2.16.840.1.101.3.4.2.1"), b"\x05\x00")
ECDSA_SHA256 = sequence(oid("1.2.840.10045.4.3.2"))


def attribute(kind: bytes, value: bytes) -> bytes:
    return sequence(kind, tlv(SET, value))


@dataclass(frozen=True)
class SignerCertificate:
    """A signer's certificate and what every SignerInfo of it repeats, encoded once."""

    der: bytes
    issuer_and_serial: bytes
    signing_certificate_v2: bytes  # the whole signed attribute

    @classmethod
    def of(cls, certificate: x509.Certificate, der: bytes) -> "SignerCertificate":
        issuer = certificate.issuer.public_bytes()
        issuer_and_serial = sequence(issuer, integer(certificate.serial_number))
        # ESSCertIDv2 with the default hash (SHA-256, so hashAlgorithm is omitted) and the
        # issuerSerial (GeneralNames with the issuer's directoryName [4], and the serial).
        issuer_serial = sequence(sequence(explicit(4, issuer)), integer(certificate.serial_number))
        cert_id = sequence(octets(hashlib.sha256(der).digest()), issuer_serial)
        value = sequence(sequence(cert_id))
        return cls(der, issuer_and_serial, attribute(ID_SIGNING_CERTIFICATE_V2, value))


SignDigest = Callable[[bytes], bytes]  # SHA-256 digest -> DER ECDSA-Sig-Value


def _signed_attributes(attributes: list[bytes], sign_digest: SignDigest) -> tuple[bytes, bytes]:
    """The signed attributes as the SET OF the signature covers (RFC 5652 §5.4), and that
    signature."""
    signed_set = set_of(attributes)
    return signed_set, sign_digest(hashlib.sha256(signed_set).digest())


def _signer_info(
    signer: SignerCertificate, signed_set: bytes, signature: bytes, unsigned: list[bytes]
) -> bytes:
    parts = [
        integer(1),
        signer.issuer_and_serial,
        SHA256,
        b"\xa0" + signed_set[1:],  # the same SET under its [0] IMPLICIT tag
        ECDSA_SHA256,
        octets(signature),
    ]
    if unsigned:
        parts.append(set_of(unsigned, tag=0xA1))
    return sequence(*parts)


def _signed_data(
    version: int, content_info: bytes, certificates: list[bytes], signer_info: bytes
) -> bytes:
    body = sequence(
        integer(version),
        tlv(SET, SHA256),
        content_info,
        set_of(certificates, tag=0xA0),
        tlv(SET, signer_info),
    )
    return sequence(ID_SIGNED_DATA, explicit(0, body))


# --- The two structures -------------------------------------------------------------------------


def seal_signature(
    document_digest: bytes,
    signer: SignerCertificate,
    chain: list[bytes],
    sign_digest: SignDigest,
    time_stamp: Callable[[bytes], bytes],
) -> bytes:
    """The PAdES-T CMS over a PDF byte range's SHA-256. `time_stamp` gets the SHA-256 of the
    signature value (the imprint RFC 3161 asks for) and returns a token's DER."""
    signed_attributes = [
        attribute(ID_CONTENT_TYPE, ID_DATA),
        attribute(ID_MESSAGE_DIGEST, octets(document_digest)),
        signer.signing_certificate_v2,
    ]
    signed_set, signature = _signed_attributes(signed_attributes, sign_digest)
    token = time_stamp(hashlib.sha256(signature).digest())
    unsigned = [attribute(ID_TIME_STAMP_TOKEN, token)]
    signer_info = _signer_info(signer, signed_set, signature, unsigned)
    return _signed_data(1, sequence(ID_DATA), [signer.der, *chain], signer_info)


def tst_info(policy: bytes, imprint: bytes, moment: datetime.datetime, serial: int) -> bytes:
    return sequence(
        integer(1),
        policy,
        sequence(SHA256, octets(imprint)),
        integer(serial),
        generalized_time(moment),
    )


def time_stamp_token(
    imprint: bytes,
    moment: datetime.datetime,
    policy: bytes,
    tsa: SignerCertificate,
    chain: list[bytes],
    sign_digest: SignDigest,
) -> bytes:
    """An RFC 3161 TimeStampToken for a SHA-256 imprint, at `moment`, with a random serial."""
    info = tst_info(policy, imprint, moment, secrets.randbits(63) | 1)
    signed_attributes = [
        attribute(ID_CONTENT_TYPE, ID_CT_TST_INFO),
        attribute(ID_SIGNING_TIME, utc_time(moment)),
        attribute(ID_MESSAGE_DIGEST, octets(hashlib.sha256(info).digest())),
        tsa.signing_certificate_v2,
    ]
    signed_set, signature = _signed_attributes(signed_attributes, sign_digest)
    signer_info = _signer_info(tsa, signed_set, signature, [])
    content = sequence(ID_CT_TST_INFO, explicit(0, octets(info)))
    return _signed_data(3, content, [tsa.der, *chain], signer_info)
