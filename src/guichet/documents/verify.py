"""The built-in verifier behind /verifier, `guichet verify` and the API: valid, invalid or revoked,
with one line per check.

A PDF is checked with pyHanko (the seal's signature over the whole file, its chain to the platform
CA, its RFC 3161 time-stamp) and then through the QR text the seal carries (its COSE signature,
and that it was made for this very rendition and this seal). QR text alone (scanned from paper)
is checked against the trust list; the content of the paper can then only be compared by eye with
what the verifier shows. Revocation comes from the status list (the database, here).

tools/verify_document.py does the same offline from the published lists, with code of its own.
"""

import datetime
import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from guichet.documents import qr, transparency
from guichet.documents.models import (
    CertificateKind,
    CertificateStatus,
    Document,
    DocumentKind,
    RevocationReason,
    SealCertificate,
    StatusListEntry,
)
from guichet.documents.seal import QR_CATALOG_KEY, SealError, rendition_of
from guichet.documents.tsa_trust import tsa_roots, tsa_roots_version

logger = logging.getLogger(__name__)

VALID, INVALID, REVOKED = "valid", "invalid", "revoked"
OK, FAILED, NOT_CHECKED = "ok", "failed", "not_checked"
MAX_PDF_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


@dataclass
class Verdict:
    result: str
    checks: list[Check]
    document: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "checks": [check.__dict__ for check in self.checks],
            "document": self.document,
        }


@dataclass(frozen=True)
class _Seal:
    organisation: str
    name: str
    status: str
    certificate: x509.Certificate
    revoked_at: datetime.datetime | None


class _Trust:
    """What the built-in verifier trusts: the database's PKI rows and status list.

    Built once per process and PKI version (see `_trust()`): parsing every certificate and
    setting pyHanko's validation contexts up again for each verification was a good part of
    its cost, for lists that change a few times a year.
    """

    def __init__(self) -> None:
        rows = list(SealCertificate.objects.select_related("organisation"))
        ca_rows = [row for row in rows if row.kind == CertificateKind.CA]
        self.ca_certificates = [
            x509.load_der_x509_certificate(bytes(r.certificate_der)) for r in ca_rows
        ]
        self.ca_asn1 = [asn1_x509.Certificate.load(bytes(r.certificate_der)) for r in ca_rows]
        self.seals = {
            bytes.fromhex(row.kid): _Seal(
                organisation=row.organisation.slug,
                name=row.organisation.name,
                status=row.status,
                certificate=x509.load_der_x509_certificate(bytes(row.certificate_der)),
                revoked_at=row.revoked_at,
            )
            for row in rows
            if row.kind == CertificateKind.SEAL and row.organisation is not None
        }

        self.signer_context = _validation_context(self.ca_asn1)
        # Time-stamps may also come from an outside authority (GUICHET_TSA_URL) whose roots
        # the operator configured; seals chain to the platform CA only.
        self.timestamp_context = _validation_context([*self.ca_asn1, *tsa_roots()])

    def issued_by_ca(self, certificate: x509.Certificate) -> bool:
        for ca in self.ca_certificates:
            try:
                certificate.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
        return False

    @staticmethod
    def revocation(number: str) -> StatusListEntry | None:
        return StatusListEntry.objects.filter(number=number).first()


def _validation_context(roots: list[asn1_x509.Certificate]) -> Any:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")


_cached_trust: tuple[Any, _Trust] | None = None


def _trust() -> _Trust:
    """The process's _Trust, rebuilt when a certificate is added or revoked (one small query
    tells) or the configured TSA roots change."""
    global _cached_trust
    version = (
        tuple(
            SealCertificate.objects.aggregate(
                count=Count("id"), created=Max("created_at"), revoked=Max("revoked_at")
            ).values()
        ),
        tsa_roots_version(),
    )
    if _cached_trust is None or _cached_trust[0] != version:
        _cached_trust = (version, _Trust())
    return _cached_trust[1]


def forget_trust() -> None:
    global _cached_trust
    _cached_trust = None


def _when(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat()


def _document_info(claims: qr.Claims, seal: _Seal | None) -> dict[str, Any]:
    kind = DocumentKind(claims.kind).label if claims.kind in DocumentKind.values else claims.kind
    return {
        "number": claims.number,
        "kind": str(kind),
        "holder": claims.holder,
        "issuer": seal.name if seal else claims.issuer,
        "procedure": claims.procedure,
        "issued_at": _when(claims.issued_at),
        "expires_at": _when(claims.expires_at),
    }


def _verdict(
    checks: list[Check],
    revoked: bool,
    document: dict[str, Any],
    log: Callable[[], Check] | None = None,
) -> Verdict:
    if any(check.status == FAILED for check in checks):
        # The log is asked about documents that are what they claim: an invalid one is
        # invalid whatever the log says.
        message = _("Transparency log: not checked, the document is not valid.")
        checks.append(Check("transparency_log", NOT_CHECKED, message))
        result = INVALID
    else:
        checks.append(log() if log is not None else _log_check(None))
        failed = checks[-1].status == FAILED
        result = INVALID if failed else REVOKED if revoked else VALID
    return Verdict(result, checks, document)


def _log_check(number: str | None, sha256: str | None = None) -> Check:
    """The document's inclusion in the transparency log, from its proof (transparency.py)."""
    if not number:
        message = _("Transparency log: not checked, the document could not be identified.")
        return Check("transparency_log", NOT_CHECKED, message)
    row = Document.objects.filter(number=number).first()
    outcome = transparency.document_inclusion(row, sha256=sha256)
    if outcome.status == transparency.OK:
        detail = _(
            "Recorded in the transparency log (entry %(index)d, signed checkpoint of "
            "%(size)d entries)."
        ) % {"index": outcome.index, "size": outcome.size}
    elif outcome.status == transparency.NOT_CHECKED and row is None:
        detail = _("Transparency log: not checked, this document is not known here.")
    elif outcome.status == transparency.NOT_CHECKED:
        detail = _(
            "Transparency log: not checked yet, no signed checkpoint covers this document "
            "(one is signed every minute or so). Try again later."
        )
    elif sha256 is not None and "another file" in outcome.reason:
        detail = _("The transparency log records another file under this document's number.")
    else:
        detail = _("Not proven in the transparency log: %(reason)s.") % {"reason": outcome.reason}
    return Check("transparency_log", outcome.status, detail)


def _qr_checks(
    text: str,
    trust: _Trust,
    *,
    rendition_sha256: bytes | None,
    pdf_signer_kid: bytes | None,
) -> tuple[list[Check], bool, dict[str, Any]]:
    checks: list[Check] = []
    try:
        envelope = qr.decode(text)
    except qr.QrError as error:
        return (
            [Check("qr", FAILED, _("The QR code is not readable: %(error)s.") % {"error": error})],
            False,
            {},
        )
    seal = trust.seals.get(envelope.kid)
    claims = envelope.claims
    document = _document_info(claims, seal)
    public_key = seal.certificate.public_key() if seal else None
    if seal is None or not isinstance(public_key, ec.EllipticCurvePublicKey):
        checks.append(
            Check("qr", FAILED, _("The QR code was signed by a key that is not on the trust list."))
        )
        return checks, False, document
    if not envelope.verify(public_key):
        checks.append(Check("qr", FAILED, _("The QR code's signature does not match its content.")))
        return checks, False, document
    if claims.issuer != seal.organisation:
        checks.append(Check("qr", FAILED, _("The QR code names another issuer than its key's.")))
        return checks, False, document
    checks.append(Check("qr", OK, _("QR code signed by %(issuer)s.") % {"issuer": seal.name}))
    if trust.issued_by_ca(seal.certificate):
        checks.append(Check("chain", OK, _("The seal certificate was issued by the platform CA.")))
    else:
        checks.append(
            Check("chain", FAILED, _("The seal certificate was not issued by the platform CA."))
        )
    if rendition_sha256 is None:
        checks.append(
            Check("hash", NOT_CHECKED, _("No PDF given: compare the paper with the details shown."))
        )
    elif rendition_sha256 == claims.pdf_sha256:
        checks.append(Check("hash", OK, _("The QR code was made for this document's content.")))
    else:
        checks.append(Check("hash", FAILED, _("The QR code was made for another document.")))
    if pdf_signer_kid is not None:
        if pdf_signer_kid == envelope.kid:
            checks.append(
                Check("binding", OK, _("The QR code and the PDF seal come from the same key."))
            )
        else:
            checks.append(
                Check(
                    "binding", FAILED, _("The QR code and the PDF seal come from different keys.")
                )
            )
    now = int(timezone.now().timestamp())
    if claims.expires_at is not None and claims.expires_at < now:
        checks.append(
            Check(
                "expiry",
                FAILED,
                _("The document expired on %(date)s.") % {"date": document["expires_at"][:10]},
            )
        )
    revoked = False
    entry = trust.revocation(claims.number)
    if entry is not None:
        revoked = True
        reason = (
            RevocationReason(entry.reason).label
            if entry.reason in RevocationReason.values
            else entry.reason
        )
        checks.append(
            Check(
                "revocation",
                REVOKED,
                _("Revoked on %(date)s: %(reason)s.")
                % {"date": entry.revoked_at.date().isoformat(), "reason": reason},
            )
        )
    elif seal.status == CertificateStatus.REVOKED:
        revoked = True
        checks.append(Check("revocation", REVOKED, _("The issuer's seal certificate was revoked.")))
    else:
        checks.append(Check("revocation", OK, _("Not on the list of revoked documents.")))
    return checks, revoked, document


def verify_qr(text: str) -> Verdict:
    checks, revoked, document = _qr_checks(
        text, _trust(), rendition_sha256=None, pdf_signer_kid=None
    )
    number = document.get("number")
    return _verdict(checks, revoked, document, lambda: _log_check(number))


def _pdf_signature_checks(
    data: bytes, trust: _Trust
) -> tuple[list[Check], bytes | None, str | None]:
    """pyHanko's view of the seal; returns the checks, the signer's key id and the QR text."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception as error:  # any file at all is uploaded here: unreadable is an answer
        logger.info("verify: unreadable PDF (%s: %s)", type(error).__name__, error)
        return [Check("signature", FAILED, _("This file is not a readable PDF."))], None, None
    if len(signatures) != 1:
        return (
            [Check("signature", FAILED, _("This PDF does not carry exactly one Guichet seal."))],
            None,
            None,
        )
    try:
        status = validate_pdf_signature(
            signatures[0],
            signer_validation_context=trust.signer_context,
            ts_validation_context=trust.timestamp_context,
            skip_diff=True,
        )
    except Exception as error:  # pyHanko raises many kinds on hostile input; all mean "invalid"
        logger.info("verify: signature validation error (%s)", error)
        return (
            [Check("signature", FAILED, _("The seal could not be checked: the file is damaged."))],
            None,
            None,
        )
    # A seal that does not match the file says it all: nothing it carries can be believed.
    if not (status.intact and status.valid):
        return (
            [Check("signature", FAILED, _("The file was changed after it was sealed."))],
            None,
            None,
        )
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        message = _("Content was added to the file after it was sealed.")
        return [Check("signature", FAILED, message)], None, None
    checks = [Check("signature", OK, _("The seal's signature matches the whole file."))]
    if status.trusted:
        checks.append(Check("chain", OK, _("The seal certificate chains to the platform CA.")))
    else:
        checks.append(
            Check("chain", FAILED, _("The seal certificate does not chain to the platform CA."))
        )
    stamp = status.timestamp_validity
    if stamp is not None and stamp.intact and stamp.valid and stamp.trusted:
        checks.append(
            Check(
                "timestamp",
                OK,
                _("Time-stamped on %(time)s.")
                % {"time": stamp.timestamp.isoformat(timespec="seconds")},
            )
        )
    elif stamp is None:
        checks.append(Check("timestamp", FAILED, _("The seal has no time-stamp.")))
    else:
        checks.append(Check("timestamp", FAILED, _("The seal's time-stamp is not valid.")))
    signer_kid = hashlib.sha256(status.signing_cert.dump()).digest()[:8]
    try:
        qr_text = reader.root.get(QR_CATALOG_KEY)
    except Exception:  # a damaged catalog: treated as no QR text
        qr_text = None
    return checks, signer_kid, str(qr_text) if isinstance(qr_text, str) else None


def verify_pdf(data: bytes) -> Verdict:
    trust = _trust()
    checks, signer_kid, qr_text = _pdf_signature_checks(data, trust)
    if signer_kid is None:
        return _verdict(checks, False, {})
    if qr_text is None:
        checks.append(Check("qr", FAILED, _("The seal carries no QR code text.")))
        return _verdict(checks, False, {})
    try:
        rendition = hashlib.sha256(rendition_of(data)).digest()
    except SealError:
        rendition = b""
    more, revoked, document = _qr_checks(
        qr_text, trust, rendition_sha256=rendition, pdf_signer_kid=signer_kid
    )
    # The QR's chain check repeats the PDF's; keep the PDF's (it also covers the time-stamp).
    checks.extend(check for check in more if check.name != "chain")
    number = document.get("number")
    return _verdict(
        checks, revoked, document, lambda: _log_check(number, hashlib.sha256(data).hexdigest())
    )
