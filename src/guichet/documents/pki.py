"""Certificates of the platform's small PKI, built with `cryptography` and signed by a key store.

`cryptography` can only sign a certificate with a private key object it holds, and an HSM's key
never leaves the token. So the to-be-signed part is built by `cryptography` (signed with a
throwaway key, then that signature is dropped), its SHA-256 is signed by the key store, and the
final certificate is assembled with asn1crypto. The result is checked against the issuer's public
key before anyone stores it.

Profiles (all EC P-256, ecdsa-with-SHA256):
- CA: self-signed, basicConstraints CA pathlen 0, keyCertSign + cRLSign + digitalSignature (it
  also signs the trust list and the status list), 20 years;
- TSA: issued by the CA, critical extendedKeyUsage timeStamping only (RFC 3161 §2.3), 10 years,
  named "Guichet embedded TSA — not a qualified TSA" so nobody mistakes it for one;
- seal: issued by the CA to one organisation, digitalSignature + nonRepudiation, 5 years.
"""

import datetime
import hashlib
import threading
from dataclasses import dataclass, replace
from uuid import UUID

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.utils import timezone

from guichet.documents.keys import SigningKeyStore, der_signature, key_store
from guichet.documents.models import CertificateKind, SealCertificate
from guichet.vault.errors import VaultError

CA_DAYS = 20 * 366
TSA_DAYS = 10 * 366
SEAL_DAYS = 5 * 366
CA_NAME = "Guichet platform CA"
TSA_NAME = "Guichet embedded TSA — not a qualified TSA"
# The embedded TSA's policy. An OID under 2.25 is derived from a UUID (ITU-T X.667) and needs no
# registration; this one is Guichet's own, so no timestamp claims another authority's policy.
TSA_POLICY_OID = "2.25.198314207946372049170736187315836373841"


class PkiError(VaultError):
    """The PKI is not in a state that allows the operation (no CA yet, revoked seal...)."""


@dataclass(frozen=True)
class Issuer:
    name: x509.Name
    public_key: ec.EllipticCurvePublicKey
    store: SigningKeyStore
    label: str


@dataclass(frozen=True)
class LoadedCertificate:
    """A certificate row with its parsed forms and where its private key is."""

    row_id: UUID
    kind: str
    status: str
    organisation_id: UUID | None
    certificate: x509.Certificate
    asn1: asn1_x509.Certificate
    kid: str
    store: SigningKeyStore
    label: str

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def as_issuer(self) -> Issuer:
        public_key = self.certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        return Issuer(self.certificate.subject, public_key, self.store, self.label)


def kid_for(certificate_der: bytes) -> str:
    """Key id as in the EU DCC: the first 8 bytes of SHA-256 of the DER certificate."""
    return hashlib.sha256(certificate_der).digest()[:8].hex()


def subject_name(common_name: str, organisation: str = "", unit: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "SN")]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]))
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit[:64]))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]))
    return x509.Name(attributes)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def build_certificate(
    kind: str,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: Issuer,
    serial: int,
) -> x509.Certificate:
    now = timezone.now().replace(microsecond=0)
    days = {str(CertificateKind.CA): CA_DAYS, str(CertificateKind.TSA): TSA_DAYS}.get(
        kind, SEAL_DAYS
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.BasicConstraints(
                ca=kind == CertificateKind.CA, path_length=0 if kind == CertificateKind.CA else None
            ),
            critical=True,
        )
        .add_extension(_key_usage(ca=kind == CertificateKind.CA), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key), critical=False
        )
    )
    if kind == CertificateKind.TSA:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    throwaway = ec.generate_private_key(ec.SECP256R1())
    draft = builder.sign(throwaway, hashes.SHA256())
    tbs = draft.tbs_certificate_bytes
    signature = issuer.store.sign_digest(issuer.label, hashlib.sha256(tbs).digest())
    assembled = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs),
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": der_signature(signature),
        }
    ).dump()
    certificate = x509.load_der_x509_certificate(assembled)
    issuer.public_key.verify(
        certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256())
    )
    return certificate


# --- Loaded once per process ------------------------------------------------------------------

_loaded: dict[UUID, LoadedCertificate] = {}
_loaded_lock = threading.Lock()


def load(row: SealCertificate) -> LoadedCertificate:
    """The parsed certificate of a row, kept per process; its status is the row's, fresh."""
    cached = _loaded.get(row.id)
    if cached is None:
        der = bytes(row.certificate_der)
        cached = LoadedCertificate(
            row_id=row.id,
            kind=row.kind,
            status=row.status,
            organisation_id=row.organisation_id,
            certificate=x509.load_der_x509_certificate(der),
            asn1=asn1_x509.Certificate.load(der),
            kid=row.kid,
            store=key_store(row.key_provider),
            label=row.key_label,
        )
        with _loaded_lock:
            _loaded[row.id] = cached
    if cached.status != row.status:
        cached = replace(cached, status=row.status)
    return cached


def forget_loaded() -> None:
    with _loaded_lock:
        _loaded.clear()


def active(kind: str, organisation_id: UUID | None = None) -> LoadedCertificate | None:
    rows = SealCertificate.objects.filter(kind=kind, status="active")
    if organisation_id is None:
        rows = rows.filter(organisation__isnull=True)
    else:
        rows = rows.filter(organisation_id=organisation_id)
    row = rows.first()
    return load(row) if row is not None else None


def certificate_authority() -> LoadedCertificate:
    ca = active(CertificateKind.CA)
    if ca is None:
        raise PkiError("The platform CA does not exist yet: run `guichet pki init`.")
    return ca
