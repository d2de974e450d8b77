"""Dossiers: an application to a procedure, its attachments, its history and its messages."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guichet.catalog.models import ApplicantKind, Procedure
from guichet.dossiers.workflow import State
from guichet.identity.models import Organisation


class Dossier(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("number"), max_length=32, unique=True, null=True, blank=True)
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="dossiers")
    procedure_version = models.PositiveIntegerField()
    # Copied from the procedure so the back-office queue filters on one table.
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dossiers"
    )
    applicant_kind = models.CharField(
        max_length=16, choices=ApplicantKind.choices, default=ApplicantKind.PERSON
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    data = models.JSONField(default=dict)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_dossiers",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The statutory deadline; it moves later by the time the dossier waited on the applicant.
    due_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dossier")
        verbose_name_plural = _("dossiers")
        indexes = [
            models.Index(fields=["organisation", "state", "due_at", "id"], name="dossier_queue"),
            models.Index(fields=["assigned_to", "state", "due_at", "id"], name="dossier_mine"),
            models.Index(fields=["applicant", "-updated_at"], name="dossier_applicant"),
        ]

    def __str__(self) -> str:
        return self.number or str(self.id)


def attachment_path(instance: "Attachment", filename: str) -> str:
    # The stored name never contains the user's file name: no path tricks, no personal data.
    return f"dossiers/{instance.dossier_id}/{instance.id}"


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="attachments")
    field = models.CharField(max_length=64)
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.original_name


class DossierEvent(models.Model):
    """The dossier's history: who did what, when, with which comment. Append-only."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Draft started")
        SAVED = "saved", _("Answers saved")
        ATTACHMENT_ADDED = "attachment_added", _("Document added")
        ATTACHMENT_REMOVED = "attachment_removed", _("Document removed")
        TRANSITION = "transition", _("Status changed")
        MESSAGE = "message", _("Message")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # A snapshot, so the history still says who acted after the account is gone.
    actor_name = models.CharField(max_length=200)
    by_administration = models.BooleanField(default=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    action = models.CharField(max_length=24, blank=True)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.action}".strip()


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_name = models.CharField(max_length=200)
    from_administration = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:40]


class NumberCounter(models.Model):
    """The last dossier number given out per year; its row lock serialises numbering."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"
