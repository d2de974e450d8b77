"""Sealed decision documents and the platform's small PKI.

A Document is the PDF an administration issues on a decision: the certificate the procedure
promises on acceptance, or the decision letter on rejection. Its file holds personal data, so it
is stored stream-encrypted under the dossier's own data key (vault owner "dossier:<id>"): erasing
the dossier by destroying that key makes the document unreadable too. What stays in clear is
what the public status list and the transparency log need anyway: number, kind, dates, hashes.

SealCertificate rows are the PKI's state: the platform CA, the embedded time-stamping authority
and one seal certificate per organisation (a new one supersedes the old, which stays valid for
the documents it sealed). Private keys are never here: they live in a key store (documents/keys.py,
a 0600 file or an HSM) under `key_label`.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guichet.catalog.models import Procedure
from guichet.dossiers.models import Dossier
from guichet.identity.models import Organisation


class DocumentKind(models.TextChoices):
    CERTIFICATE = "certificate", _("Certificate")
    DECISION_LETTER = "decision_letter", _("Decision letter")


class RevocationReason(models.TextChoices):
    """Public: shown by every verifier, so a code and never a free text with personal data."""

    ISSUED_IN_ERROR = "issued_in_error", _("Issued in error")
    SUPERSEDED = "superseded", _("Replaced by a new document")
    DECISION_WITHDRAWN = "decision_withdrawn", _("Decision withdrawn")
    FRAUD = "fraud", _("Obtained by fraud")


class CertificateKind(models.TextChoices):
    CA = "ca", _("Platform certificate authority")
    TSA = "tsa", _("Embedded time-stamping authority")
    SEAL = "seal", _("Organisation seal")


class CertificateStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    # Replaced by a newer certificate: no longer used, still valid for what it sealed.
    SUPERSEDED = "superseded", _("Superseded")
    REVOKED = "revoked", _("Revoked")


class SealCertificate(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=8, choices=CertificateKind.choices)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    serial = models.CharField(max_length=40, unique=True)
    subject = models.CharField(max_length=300)
    certificate_der = models.BinaryField()
    # The COSE key id of a seal: the first 8 bytes of SHA-256 of the certificate, in hex.
    kid = models.CharField(max_length=16, unique=True)
    key_provider = models.CharField(max_length=16)
    key_label = models.CharField(max_length=100)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=CertificateStatus.choices, default=CertificateStatus.ACTIVE
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("seal certificate")
        verbose_name_plural = _("seal certificates")
        ordering = ["kind", "created_at"]
        constraints = [
            # Two workers provisioning at once must not both win: one active CA, one active TSA
            # and one active seal per organisation.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(status="active", organisation__isnull=True),
                name="documents_single_active_platform_cert",
            ),
            models.UniqueConstraint(
                fields=["kind", "organisation"],
                condition=Q(status="active"),
                name="documents_single_active_seal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.serial} ({self.status})"


def document_path(instance: "Document", filename: str) -> str:
    return f"documents/{instance.dossier_id}/{instance.id}"


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="documents")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    number = models.CharField(_("number"), max_length=48, unique=True)
    language = models.CharField(max_length=8)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    # Of the whole sealed file, as downloaded: what the transparency log records.
    sha256 = models.CharField(max_length=64, db_index=True)
    # Of the rendered document before the seal was appended: what the QR code carries.
    rendition_sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    # Stream-encrypted (vault format 2) under the dossier's data key.
    file = models.FileField(upload_to=document_path, max_length=200)
    seal = models.ForeignKey(SealCertificate, on_delete=models.PROTECT, related_name="documents")
    # Sequence number of its "issued" entry in the transparency log: where its inclusion proof
    # is found (audit.service.inclusion_proof).
    log_seq = models.BigIntegerField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(
        max_length=24, choices=RevocationReason.choices, blank=True
    )
    # The agent's explanation may name the person: sealed under the dossier's key, never public.
    revocation_comment_sealed = models.BinaryField(null=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-issued_at"]
        constraints = [
            # Issuing is idempotent: one live document of each kind per dossier, even when two
            # workers run the same task at once.
            models.UniqueConstraint(
                fields=["dossier", "kind"],
                condition=Q(revoked_at__isnull=True),
                name="documents_one_live_per_kind",
            )
        ]
        indexes = [models.Index(fields=["revoked_at"], name="documents_revoked")]

    def __str__(self) -> str:
        return self.number


class IssuanceStatus(models.TextChoices):
    PENDING = "pending", _("Being issued")
    RETRYING = "retrying", _("Failed, will be tried again")
    FAILED = "failed", _("Failed, needs an operator")
    ISSUED = "issued", _("Issued")


class Issuance(models.Model):
    """The issuing of one dossier's decision document, as the operator follows it: attempts,
    the last error, when the next try is due. One per dossier and kind, like the document.

    The error is the exception's kind and message from the sealing machinery (time-stamping
    authority, key store, storage): never the dossier's content.
    """

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices)
    status = models.CharField(
        max_length=10, choices=IssuanceStatus.choices, default=IssuanceStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("document issuance")
        verbose_name_plural = _("document issuances")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["dossier", "kind"], name="documents_one_issuance")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="documents_issuance_due")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dossier_id} ({self.status})"


class DocumentEvent(models.Model):
    """A document's history: issued, revoked. Append-only, no personal data."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("Issued")
        REVOKED = "revoked", _("Revoked")

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.document_id}"


class StatusListEntry(models.Model):
    """One revoked document on the public status list. Kept apart from Document so the
    revocation outlives the dossier's erasure: a revoked paper must never verify again."""

    number = models.CharField(max_length=48, unique=True)
    revoked_at = models.DateTimeField()
    reason = models.CharField(max_length=24, choices=RevocationReason.choices)
    document = models.OneToOneField(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="status_entry"
    )

    class Meta:
        verbose_name = _("revoked document")
        verbose_name_plural = _("revoked documents")
        ordering = ["revoked_at", "number"]

    def __str__(self) -> str:
        return self.number
