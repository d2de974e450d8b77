"""The QR payload: it decodes, verifies with the key published in the signed trust list, and
fails with a modified claim or with another key."""

import base64
import hashlib
import io
import json
import zlib

import base45  # type: ignore[import-untyped]
import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from django.test import Client
from pyhanko.pdf_utils.reader import PdfFileReader

from guichet.documents import qr
from guichet.documents.keys import raw_signature
from guichet.documents.models import Document
from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.verify import verify_qr
from guichet.identity.models import User

pytestmark = pytest.mark.django_db


def qr_text_of(document: Document) -> str:
    return str(PdfFileReader(io.BytesIO(own_pdf(document))).root["/GuichetQR"])


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def published_trust_list() -> dict[str, object]:
    """The trust list as anyone fetches it, its JWS signature checked against its CA."""
    response = Client().get("/.well-known/guichet-trust-list.json")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"]
    jws = json.loads(response.content)
    header = json.loads(b64url(jws["protected"]))
    ca = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    raw = b64url(jws["signature"])
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        der, f"{jws['protected']}.{jws['payload']}".encode(), ec.ECDSA(hashes.SHA256())
    )
    payload: dict[str, object] = json.loads(b64url(jws["payload"]))
    return payload


def unpack(text: str) -> list[object]:
    message = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    assert isinstance(message, cbor2.CBORTag) and message.tag == 18
    return list(message.value)


def pack(parts: list[object]) -> str:
    message = cbor2.dumps(cbor2.CBORTag(18, parts))
    encoded: bytes = base45.b45encode(zlib.compress(message))
    return "SN1:" + encoded.decode()


def test_the_qr_decodes_and_verifies_with_the_published_key(world: dict[str, User]) -> None:
    document = issued(world)
    text = qr_text_of(document)
    envelope = qr.decode(text)
    assert envelope.claims.number == document.number
    assert envelope.claims.holder == "Awa Diop"
    assert envelope.claims.issuer == "commune-dakar-plateau"
    assert envelope.claims.pdf_sha256.hex() == document.rendition_sha256
    trust = published_trust_list()
    seals = {entry["kid"]: entry for entry in trust["seals"]}  # type: ignore[attr-defined]
    certificate = x509.load_der_x509_certificate(
        base64.b64decode(seals[envelope.kid.hex()]["certificate"])
    )
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert envelope.verify(public_key)
    assert verify_qr(text).result == "valid"


def test_a_modified_claim_fails(world: dict[str, User]) -> None:
    text = qr_text_of(issued(world))
    protected, unprotected, payload, signature = unpack(text)
    claims = cbor2.loads(payload)  # type: ignore[arg-type]
    claims = {
        key: dict(value) if key == qr.CLAIM_DOCUMENT else value for key, value in claims.items()
    }
    claims[qr.CLAIM_DOCUMENT][3] = "Moussa Fall"
    forged = pack([protected, unprotected, cbor2.dumps(claims), signature])
    envelope = qr.decode(forged)
    assert envelope.claims.holder == "Moussa Fall"
    verdict = verify_qr(forged)
    assert verdict.result == "invalid"
    assert ("qr", "failed") in {(c.name, c.status) for c in verdict.checks}


def test_another_key_fails_even_under_the_right_key_id(world: dict[str, User]) -> None:
    text = qr_text_of(issued(world))
    protected, unprotected, payload, _signature = unpack(text)
    intruder = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(qr.sig_structure(protected, payload)).digest()  # type: ignore[arg-type]
    signature = raw_signature(intruder.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    forged = pack([protected, unprotected, payload, signature])
    assert verify_qr(forged).result == "invalid"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "HC1:6BF",
        "SN1:",
        "SN1:%%%%",
        "SN1:" + base45.b45encode(b"not zlib").decode(),
        "SN1:" + "A" * 9000,
    ],
)
def test_garbage_is_invalid_never_an_error(world: dict[str, User], text: str) -> None:
    verdict = verify_qr(text)
    assert verdict.result == "invalid"
