"""Every write of the documents app: PKI provisioning, recording an issued document, revoking.

One transaction each, with its history event. Keys are made before the rows that name them: a
transaction that rolls back leaves an unused key behind (harmless), never a row naming a key that
does not exist.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guichet import outbox
from guichet.audit.models import Action as LogAction
from guichet.audit.service import Actor, record_event
from guichet.documents import access, pki
from guichet.documents.keys import key_store, new_key_store_name
from guichet.documents.models import (
    CertificateKind,
    CertificateStatus,
    Document,
    DocumentEvent,
    Issuance,
    IssuanceStatus,
    RevocationReason,
    SealCertificate,
    StatusListEntry,
)
from guichet.errors import ActionError, Conflict, refuse_nul
from guichet.identity.models import Organisation, User
from guichet.identity.service import agent_actor
from guichet.vault.service import encrypt_field, owner_for, seal_attachment

logger = logging.getLogger(__name__)

MAX_REVOCATION_COMMENT = 2000


# --- PKI ---------------------------------------------------------------------------------------


def _serial() -> tuple[int, str]:
    serial = x509.random_serial_number()
    return serial, f"{serial:x}"


def _store_certificate(
    kind: str,
    certificate: x509.Certificate,
    store_name: str,
    label: str,
    organisation: Organisation | None = None,
) -> SealCertificate:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return SealCertificate.objects.create(
        kind=kind,
        organisation=organisation,
        serial=f"{certificate.serial_number:x}",
        subject=certificate.subject.rfc4514_string()[:300],
        certificate_der=der,
        kid=pki.kid_for(der),
        key_provider=store_name,
        key_label=label,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


def _make(
    kind: str,
    subject: x509.Name,
    issuer: pki.Issuer | None,
    label_stem: str,
    organisation: Organisation | None = None,
) -> SealCertificate:
    store_name = new_key_store_name()
    store = key_store(store_name)
    serial, serial_hex = _serial()
    label = f"{label_stem}-{serial_hex[:16]}"
    public_key = store.create(label)
    if issuer is None:  # self-signed: the CA
        issuer = pki.Issuer(subject, public_key, store, label)
    certificate = pki.build_certificate(kind, subject, public_key, issuer, serial)
    return _store_certificate(kind, certificate, store_name, label, organisation)


@transaction.atomic
def do_init_pki() -> tuple[SealCertificate, SealCertificate, bool]:
    """The platform CA and the embedded TSA; returns them and whether anything was made."""
    made = False
    ca_row = SealCertificate.objects.filter(kind=CertificateKind.CA, status="active").first()
    if ca_row is None:
        ca_row = _make(CertificateKind.CA, pki.subject_name(pki.CA_NAME, "Guichet"), None, "ca")
        made = True
    ca = pki.load(ca_row).as_issuer()
    tsa_row = SealCertificate.objects.filter(kind=CertificateKind.TSA, status="active").first()
    if tsa_row is None:
        tsa_row = _make(CertificateKind.TSA, pki.subject_name(pki.TSA_NAME, "Guichet"), ca, "tsa")
        made = True
    return ca_row, tsa_row, made


def _seal_subject(organisation: Organisation) -> x509.Name:
    parent = organisation.parent.name if organisation.parent else ""
    return pki.subject_name(organisation.name, organisation.name, parent)


@transaction.atomic
def do_issue_seal_certificate(organisation: Organisation) -> SealCertificate:
    """A new seal certificate for the organisation; the previous one is superseded (still valid
    for the documents it sealed, no longer used)."""
    ca_row, _tsa, _made = do_init_pki()
    SealCertificate.objects.filter(
        kind=CertificateKind.SEAL, organisation=organisation, status=CertificateStatus.ACTIVE
    ).update(status=CertificateStatus.SUPERSEDED)
    return _make(
        CertificateKind.SEAL,
        _seal_subject(organisation),
        pki.load(ca_row).as_issuer(),
        f"seal-{organisation.slug}",
        organisation,
    )


@transaction.atomic
def do_revoke_seal_certificate(organisation: Organisation) -> SealCertificate:
    """Revoke the organisation's seal (a compromised key): every document it sealed then
    verifies as revoked, and the next document gets a new seal."""
    row = (
        SealCertificate.objects.select_for_update()
        .filter(kind=CertificateKind.SEAL, organisation=organisation)
        .exclude(status=CertificateStatus.REVOKED)
        .order_by("-created_at")
        .first()
    )
    if row is None:
        raise ActionError(_("This organisation has no seal certificate to revoke."))
    row.status = CertificateStatus.REVOKED
    row.revoked_at = timezone.now()
    row.save(update_fields=["status", "revoked_at"])
    return row


def ensure_platform() -> tuple[pki.LoadedCertificate, pki.LoadedCertificate]:
    """The CA and TSA, made on first use: the embedded default works without a setup step."""
    ca, tsa = pki.active(CertificateKind.CA), pki.active(CertificateKind.TSA)
    if ca is None or tsa is None:
        try:
            ca_row, tsa_row, _made = do_init_pki()
        except IntegrityError:  # another worker made them first
            return ensure_platform()
        logger.info("documents: platform CA and embedded TSA created")
        ca, tsa = pki.load(ca_row), pki.load(tsa_row)
    return ca, tsa


def ensure_seal(organisation: Organisation) -> pki.LoadedCertificate:
    seal = pki.active(CertificateKind.SEAL, organisation.pk)
    if seal is None:
        try:
            row = do_issue_seal_certificate(organisation)
        except IntegrityError:
            return ensure_seal(organisation)
        logger.info("documents: seal certificate created for %s", organisation.slug)
        seal = pki.load(row)
    return seal


# --- Documents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """What the service rendered and sealed, for do_record_document to keep."""

    dossier_id: UUID
    organisation_id: UUID
    procedure_id: UUID
    kind: str
    number: str
    language: str
    issued_at: datetime
    expires_at: datetime | None
    pdf: bytes
    rendition_sha256: str
    seal_id: UUID


def _log_issued(document: Document) -> int:
    """Append the issued document's hash to the transparency log, in the issuing transaction: a
    document exists if and only if its log entry does. No personal data: number, kind,
    organisation and the PDF's SHA-256 are enough for anyone to check a copy against the log."""
    dossier = document.dossier
    event = record_event(
        LogAction.DOCUMENT_ISSUED,
        actor=Actor.system(),
        object_type="document",
        object_id=document.pk,
        subject_id=dossier.applicant_id,
        purpose="Decision on the application",
        details={
            "number": document.number,
            "kind": document.kind,
            "dossier": dossier.number or "",
            "organisation": str(dossier.organisation_id),
            "sha256": document.sha256,
        },
    )
    return event.seq


def do_record_document(issued: Issued) -> Document:
    """Store the sealed PDF (encrypted under the dossier's key), then its row and event.

    The file is written before the transaction: encrypting and writing it inside would hold the
    database's write lock for that long, and two workers would then take turns instead of
    working side by side. A row that fails to commit takes its file away with it.
    """
    document = Document(
        dossier_id=issued.dossier_id,
        organisation_id=issued.organisation_id,
        procedure_id=issued.procedure_id,
        kind=issued.kind,
        number=issued.number,
        language=issued.language,
        issued_at=issued.issued_at,
        expires_at=issued.expires_at,
        sha256=hashlib.sha256(issued.pdf).hexdigest(),
        rendition_sha256=issued.rendition_sha256,
        size=len(issued.pdf),
        seal_id=issued.seal_id,
    )
    owner = owner_for("dossier", issued.dossier_id)
    sealed = seal_attachment(owner, document.id, "pdf", ContentFile(issued.pdf), issued.number)
    document.file.save(document.id.hex, sealed, save=False)
    try:
        _insert_document(document)
    except BaseException:
        document.file.storage.delete(str(document.file.name))
        raise
    return document


@transaction.atomic
def _insert_document(document: Document) -> None:
    document.save(force_insert=True)
    DocumentEvent.objects.create(document=document, kind=DocumentEvent.Kind.ISSUED)
    # Recorded last (it takes the log's lock until commit), then kept on the row: where the
    # document's inclusion proof is found.
    document.log_seq = _log_issued(document)
    document.save(update_fields=["log_seq"])


def _check_revocation(reason: str, comment: str) -> str:
    if reason not in RevocationReason.values:
        raise ActionError(
            _("Choose the reason for the revocation."),
            {"reason": [_("Choose one of the listed reasons.")]},
        )
    comment = comment.strip()
    if not comment:
        raise ActionError(
            _("Please explain the revocation."), {"comment": [_("An explanation is required.")]}
        )
    if len(comment) > MAX_REVOCATION_COMMENT:
        raise ActionError(
            _("The explanation is too long."),
            {"comment": [_("At most %(limit)d characters.") % {"limit": MAX_REVOCATION_COMMENT}]},
        )
    refuse_nul(comment, "comment")
    return comment


@transaction.atomic
def do_revoke_document(user: User, document_id: Any, reason: str, comment: str) -> Document:
    """A supervisor of the issuing organisation withdraws a document; every verifier then
    reports it revoked. The reason code is public (status list); the explanation is sealed."""
    document = access.access_document(user, document_id, access.REVOKE, for_update=True)
    if document.revoked_at is not None:
        raise Conflict(_("This document is already revoked."))
    comment = _check_revocation(reason, comment)
    now = timezone.now()
    document.revoked_at = now
    document.revocation_reason = reason
    document.revoked_by = user
    document.revocation_comment_sealed = encrypt_field(
        owner_for("dossier", document.dossier_id), document.id, "revocation_comment", comment
    )
    document.save(
        update_fields=[
            "revoked_at",
            "revocation_reason",
            "revoked_by",
            "revocation_comment_sealed",
        ]
    )
    StatusListEntry.objects.create(
        number=document.number, revoked_at=now, reason=reason, document=document
    )
    DocumentEvent.objects.create(document=document, kind=DocumentEvent.Kind.REVOKED, actor=user)
    record_event(
        LogAction.DOCUMENT_REVOKED,
        actor=agent_actor(
            user, document.dossier.organisation_id, document.dossier.organisation.name
        ),
        object_type="document",
        object_id=document.pk,
        subject_id=document.dossier.applicant_id,
        purpose="Revocation of a document",
        details={"number": document.number, "reason": reason},
    )
    from guichet.documents.tasks import notify_document_revoked

    outbox.enqueue(notify_document_revoked, document_id=str(document.pk))
    return document


# --- Issuing, as the operator follows it ---------------------------------------------------------

# Attempts in all, and the wait before each retry: a time-stamping authority or key service that
# is down for maintenance gets about three quarters of an hour before a person is needed.
MAX_ISSUE_ATTEMPTS = 5
RETRY_DELAYS = (30, 120, 600, 1800)
MAX_ERROR_CHARS = 300


def _issuance(dossier_id: UUID, kind: str) -> Issuance:
    issuance, _created = Issuance.objects.get_or_create(dossier_id=dossier_id, kind=kind)
    return issuance


@transaction.atomic
def do_start_issuance(dossier_id: UUID, kind: str) -> Issuance:
    """Count an attempt before it runs, so a worker killed mid-way still counts against the
    bound. Operational bookkeeping only: what the citizen's data went through is logged by
    issuing itself (the document and its log entry)."""
    issuance = _issuance(dossier_id, kind)
    issuance = Issuance.objects.select_for_update().get(pk=issuance.pk)
    issuance.attempts += 1
    if issuance.status != IssuanceStatus.ISSUED:
        issuance.status = IssuanceStatus.PENDING
    issuance.save(update_fields=["attempts", "status", "updated_at"])
    return issuance


def retry_delay(attempts: int) -> datetime | None:
    """When attempt `attempts + 1` is due, or None when the bound is reached."""
    if attempts >= MAX_ISSUE_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return timezone.now() + timedelta(seconds=delay)


@transaction.atomic
def do_record_issue_failure(issuance: Issuance, error: BaseException, *, final: bool) -> Issuance:
    """The attempt failed: retry later (RETRYING, with the time) or leave it to an operator
    (FAILED) once the attempts are spent or when retrying cannot help (`final`)."""
    issuance = Issuance.objects.select_for_update().get(pk=issuance.pk)
    if issuance.status == IssuanceStatus.ISSUED:  # another run succeeded meanwhile
        return issuance
    due = None if final else retry_delay(issuance.attempts)
    issuance.status = IssuanceStatus.RETRYING if due else IssuanceStatus.FAILED
    issuance.next_attempt_at = due
    issuance.last_error = f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]
    issuance.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
    return issuance


def do_record_issued(dossier_id: UUID, kind: str, document: Document) -> None:
    Issuance.objects.filter(dossier_id=dossier_id, kind=kind).update(
        status=IssuanceStatus.ISSUED,
        document=document,
        next_attempt_at=None,
        last_error="",
        updated_at=timezone.now(),
    )


@transaction.atomic
def do_rearm_issuances(
    *, failed: bool, due: bool, overdue_by: timedelta = timedelta(0)
) -> list[Issuance]:
    """Issuances to send to the task queue again (`guichet documents retry`): those that
    spent their attempts (`failed`, given a fresh set) and those whose retry is due but was
    not run (`due`: a queue without delayed tasks, a lost task), `overdue_by` late at least."""
    wanted = Q(pk__in=[])
    if failed:
        wanted |= Q(status=IssuanceStatus.FAILED)
    if due:
        latest = timezone.now() - overdue_by
        wanted |= Q(status=IssuanceStatus.RETRYING, next_attempt_at__lte=latest)
    issuances = list(Issuance.objects.select_for_update().filter(wanted))
    for issuance in issuances:
        if issuance.status == IssuanceStatus.FAILED:
            issuance.attempts = 0
        issuance.status = IssuanceStatus.PENDING
        issuance.next_attempt_at = None
        issuance.save(update_fields=["attempts", "status", "next_attempt_at", "updated_at"])
    return issuances
