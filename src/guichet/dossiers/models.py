"""Dossiers: an application to a procedure, its attachments, its history and its messages.

Whatever a person wrote or sent is personal data and is stored sealed under the dossier's own
data key (vault owner "dossier:<id>"): answers, attachment files and names, messages and history
comments. The applicant's name is never copied into the history or the thread: their entries
refer to them (the applicant's sealed profile gives the name); agents' names, which are not
secret, are kept in clear as a snapshot. The `*_sealed` columns hold ciphertext only; the clear
values exist on an instance once dossiers/access.py has opened them (the annotated attributes
below, never stored), so code that forgot to go through access fails instead of showing bytes.
Erasure destroys that one key, deletes the rows and files, and leaves a DossierTombstone.
"""

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from guichet.catalog.models import ApplicantKind, Procedure
from guichet.dossiers.workflow import State
from guichet.identity.models import Organisation


def queue_unit() -> Coalesce:
    """Whose queue a dossier is in: its team's once routed to one, else its organisation's."""
    return Coalesce("team", "organisation")


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
    # A state of the procedure's workflow (dossiers/workflow.py): names vary by procedure.
    state = models.CharField(max_length=20, default=State.DRAFT)
    # Set on reaching a final state: accepted, rejected, withdrawn or closed, whatever the
    # workflow calls that state. Documents and retention read this, not the state's name.
    outcome = models.CharField(max_length=16, blank=True, default="")
    # The team (a child organisation) the workflow's routing sent it to; None: the whole
    # organisation. Agents of the team, and supervisors of the organisation, instruct it.
    team = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answers_sealed = models.BinaryField(null=True, editable=False)
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
    # When the current step is overdue (the state's deadline_days); None if the step has none.
    step_due_at = models.DateTimeField(null=True, blank=True)
    # When the administration's silence becomes its decision (workflow tacit_decision).
    tacit_at = models.DateTimeField(null=True, blank=True)
    # The deadlines already escalated: a breach is escalated once; a deadline moved later
    # (pause) and breached again is a new breach.
    escalated_due_at = models.DateTimeField(null=True, blank=True)
    escalated_step_due_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # When it reached a final state (accepted, rejected, withdrawn): the retention clock starts.
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the applicant was told of the coming erasure (once per retention period).
    retention_notified_at = models.DateTimeField(null=True, blank=True)
    # Filed by a procedure's designer to try a draft version: kept out of queues and figures
    # unless asked for, and purged from the designer pages.
    is_test = models.BooleanField(_("test dossier"), default=False)

    # Opened by access.read_answers; never stored in clear.
    answers: dict[str, Any]

    class Meta:
        verbose_name = _("dossier")
        verbose_name_plural = _("dossiers")
        indexes = [
            models.Index(fields=["organisation", "state", "due_at", "id"], name="dossier_queue"),
            models.Index(fields=["assigned_to", "state", "due_at", "id"], name="dossier_mine"),
            models.Index(fields=["applicant", "-updated_at"], name="dossier_applicant"),
            # The default queue (every open state, soonest deadline first) read in index order:
            # with the state in the index's middle, PostgreSQL had to sort all of an
            # organisation's open dossiers (300,000 at national scale) for each page of 25.
            models.Index(
                fields=["organisation", "due_at", "id"],
                name="dossier_open_queue",
                # Open in any workflow: submitted (a due date) and not closed.
                condition=models.Q(closed_at__isnull=True, due_at__isnull=False),
            ),
            models.Index(fields=["team", "state", "due_at", "id"], name="dossier_team_queue"),
            # The agent's queue, one unit (an organisation's untaken dossiers, or a team's) read
            # in (due_at, id) order: "organisation = X AND team IS NULL OR team = X" let no index
            # give that order, so PostgreSQL sorted all of an organisation's open dossiers
            # (250,000 at national scale) for each page of 25. See access.instruction_queue.
            models.Index(
                queue_unit(),
                "due_at",
                "id",
                name="dossier_unit_open_queue",
                condition=models.Q(closed_at__isnull=True, due_at__isnull=False),
            ),
            # The same with a state filter (decided dossiers included).
            models.Index(queue_unit(), "state", "due_at", "id", name="dossier_unit_state_queue"),
        ]

    def __str__(self) -> str:
        return self.number or str(self.id)

    def get_state_display(self) -> str:
        """The state's label from the dossier's own workflow (names vary by procedure)."""
        from guichet.dossiers.workflow import state_label

        return state_label(self)


def attachment_path(instance: "Attachment", filename: str) -> str:
    # The stored name never contains the user's file name: no path tricks, no personal data.
    return f"dossiers/{instance.dossier_id}/{instance.id}"


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="attachments")
    field = models.CharField(max_length=64)
    # The file's bytes are stream-encrypted (vault format 2); size and sha256 are the plaintext's.
    file = models.FileField(upload_to=attachment_path, max_length=200)
    name_sealed = models.BinaryField(editable=False)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Opened by dossiers/access.py; never stored in clear.
    original_name: str

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return str(self.pk)


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
    # What the event's ciphertexts are bound to: known before the insert, unlike the id.
    uid = models.UUIDField(default=uuid.uuid4, editable=False)
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # An agent's name, as a snapshot, so the history still says who acted after they left.
    # Empty for the applicant's own actions: their name is personal data and is shown from
    # their (sealed) profile, by reference, never copied here.
    actor_name = models.CharField(max_length=200, blank=True)
    by_administration = models.BooleanField(default=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    action = models.CharField(max_length=24, blank=True)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    # Reasons and file names can hold personal data. NULL when there is no comment.
    comment_sealed = models.BinaryField(null=True, editable=False)

    # Set by dossiers/access.py; never stored.
    actor_display: str
    comment: str

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
    # As DossierEvent.actor_name: an agent's name, empty for the applicant.
    author_name = models.CharField(max_length=200, blank=True)
    from_administration = models.BooleanField(default=False)
    body_sealed = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    # Set by dossiers/access.py; never stored.
    author_display: str
    body: str

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return str(self.pk)


class DossierIndex(models.Model):
    """Blind indexes of a dossier's answers (national id, email, phone) for exact search.

    The digest is a keyed HMAC of the normalised value (vault/blind.py): equal values give equal
    digests, and nothing here can be turned back into the value without the vault's index key.
    """

    class Kind(models.TextChoices):
        NATIONAL_ID = "national_id", _("National identification number")
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="index_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    digest = models.CharField(max_length=32)

    class Meta:
        indexes = [models.Index(fields=["kind", "digest"], name="dossier_blind_index")]
        constraints = [
            models.UniqueConstraint(
                fields=["dossier", "kind", "digest"], name="dossier_index_unique_entry"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.digest}"


class DossierTombstone(models.Model):
    """What remains of an erased dossier: no personal data, enough for statistics.

    It keeps the dossier's id (so a late link says "erased" rather than nothing), number,
    procedure, organisation, dates and the state it ended in; no applicant, no answers.
    """

    class Reason(models.TextChoices):
        RETENTION = "retention", _("Retention period over")
        ABANDONED_DRAFT = "abandoned_draft", _("Draft left untouched")
        ACCOUNT_CLOSED = "account_closed", _("Account closed by the applicant")

    id = models.UUIDField(primary_key=True, editable=False)
    number = models.CharField(max_length=32, blank=True, default="")  # "" for a draft
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="+")
    procedure_version = models.PositiveIntegerField()
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    applicant_kind = models.CharField(max_length=16, choices=ApplicantKind.choices)
    state = models.CharField(max_length=20)
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField()
    reason = models.CharField(max_length=20, choices=Reason.choices)

    class Meta:
        verbose_name = _("erased dossier")
        verbose_name_plural = _("erased dossiers")
        indexes = [models.Index(fields=["organisation", "state"], name="tombstone_org_state")]

    def __str__(self) -> str:
        return self.number or str(self.id)


class NumberCounter(models.Model):
    """The last dossier number given out per year; its row lock serialises numbering."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Notification(models.Model):
    """An email owed to someone about a dossier: written in the action's own transaction (so it
    exists if and only if the change does) and sent in batches by tasks.flush_notifications,
    which deletes it once sent. A sender claims rows until `claimed_until`: if it dies
    meanwhile, the next flush after that time sends them."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=20)
    action = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["claim"], name="notification_claim")]

    def __str__(self) -> str:
        return f"{self.kind} {self.action} to {self.recipient_id}"
