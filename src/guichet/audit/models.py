"""The transparency log: events, the Merkle tree over them, and signed checkpoints.

The audit app imports no domain app: actors, organisations, objects and subjects are plain
identifiers with name snapshots, so the log reads the same after the accounts are gone.
Rows here are append-only; `guichet audit verify` proves they were not altered.
"""

import json
from datetime import datetime
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from guichet.audit import encoding


class ActorKind(models.TextChoices):
    CITIZEN = "citizen", _("Citizen")
    AGENT = "agent", _("Public agent")
    SYSTEM = "system", _("The platform")
    PARTNER = "partner", _("Partner system")


class Action(models.IntegerChoices):
    """What an event records. The hundreds say the family; codes are never reused or renumbered
    because they are part of the hashed bytes."""

    # 1xx: changes to a dossier
    DOSSIER_CREATED = 101, _("Application started")
    DOSSIER_ANSWERS_SAVED = 102, _("Answers saved")
    ATTACHMENT_ADDED = 103, _("Document added")
    ATTACHMENT_REMOVED = 104, _("Document removed")
    DOSSIER_SUBMITTED = 105, _("Application submitted")
    DOSSIER_TAKEN = 106, _("Application taken for review")
    DOSSIER_ASSIGNED = 107, _("Application assigned to an agent")
    DOSSIER_CHANGES_REQUESTED = 108, _("Changes requested")
    DOSSIER_RESUBMITTED = 109, _("Application resubmitted")
    DOSSIER_ACCEPTED = 110, _("Application accepted")
    DOSSIER_REJECTED = 111, _("Application rejected")
    DOSSIER_WITHDRAWN = 112, _("Application withdrawn")
    MESSAGE_POSTED = 113, _("Message posted")
    DRAFT_DELETED = 114, _("Draft deleted")
    DOCUMENT_ISSUED = 115, _("Sealed document issued")
    DOCUMENT_REVOKED = 116, _("Sealed document revoked")
    DOSSIER_MOVED = 117, _("Application moved to another step")
    DOSSIER_OVERDUE = 118, _("Deadline passed: supervisors alerted")
    # 2xx: reads of personal data
    DOSSIER_OPENED = 201, _("Application opened by an agent")
    ATTACHMENT_DOWNLOADED = 202, _("Document downloaded")
    DATA_EXPORTED = 203, _("Data exported")
    REGISTRY_QUERIED = 204, _("Registry queried")
    # 3xx: accounts and identity
    LOGIN = 301, _("Signed in")
    LOGIN_FAILED = 302, _("Failed sign-in")
    TOKEN_CREATED = 303, _("API token created")
    TOKEN_REVOKED = 304, _("API token revoked")
    PROFILE_UPDATED = 305, _("Profile updated")
    MEMBERSHIP_GRANTED = 306, _("Role granted in an administration")
    MEMBERSHIP_REVOKED = 307, _("Role withdrawn in an administration")
    MFA_CHANGED = 308, _("Two-factor authentication changed")
    SECURITY_CONTACT_CHANGED = 309, _("Security contact of an administration changed")
    # The flags is_active, is_staff, is_superuser; details hold the new value of each changed.
    PRIVILEGES_CHANGED = 310, _("Account rights changed")
    # Changed by a platform admin: the sign-in address and the password, each able to hand an
    # account over. Details never hold an address or a password (311: none; 312: whether
    # password sign-in is on).
    EMAIL_CHANGED = 311, _("Sign-in email address changed")
    PASSWORD_CHANGED = 312, _("Password changed")
    # 4xx: security alerts
    ALERT_MANY_OPENINGS = 401, _("Alert: many applications opened")
    ALERT_OUTSIDE_HOURS = 402, _("Alert: access outside working hours")
    ALERT_BULK_EXPORT = 403, _("Alert: bulk export")
    ALERT_ACKNOWLEDGED = 404, _("Security alert acknowledged")
    # 5xx: procedures, changed from the designer pages
    PROCEDURE_SAVED = 501, _("Procedure definition saved")
    PROCEDURE_PUBLISHED = 502, _("Procedure published")
    PROCEDURE_UNPUBLISHED = 503, _("Procedure unpublished")
    PROCEDURE_CLOSED = 504, _("Procedure closed")
    TEST_DOSSIERS_PURGED = 505, _("Test dossiers purged")
    # 9xx: the platform itself
    SYSTEM_STARTED = 901, _("Log started")
    KEY_ROTATED = 902, _("Signing key rotated")
    DATA_ERASED = 903, _("Personal data erased")

    @classmethod
    def family(cls, hundred: int) -> list["Action"]:
        return [action for action in cls if action // 100 == hundred]


class ActionFamily(models.IntegerChoices):
    CHANGE = 1, _("Changes to your applications")
    READ = 2, _("Reads of your data")
    ACCOUNT = 3, _("Your account")
    ALERT = 4, _("Security alerts")
    SYSTEM = 9, _("Platform")


class AuditEvent(models.Model):
    """One thing that happened. `seq` is the leaf index in the Merkle tree: 0, 1, 2, ... with no
    gap, given out under the LogHead row lock."""

    seq = models.BigIntegerField(primary_key=True)
    # Kept as the canonical UTC text ("2026-03-12T09:30:00.000000Z"): fixed width, so it sorts
    # and filters like a date, and the hashed bytes are exactly what the database holds.
    time = models.CharField(_("time"), max_length=27)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    org_id = models.CharField(max_length=64, blank=True)
    org_name = models.CharField(max_length=200, blank=True)
    action = models.PositiveSmallIntegerField(choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    # Canonical JSON text (encoding.details_json), for the same reason as `time`.
    details = models.TextField(default="{}", blank=True)
    salt = models.CharField(max_length=32)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["subject_id", "-seq"], name="audit_event_subject"),
            models.Index(fields=["object_type", "object_id"], name="audit_event_object"),
            models.Index(fields=["actor_id", "-seq"], name="audit_event_actor"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    @property
    def at(self) -> datetime:
        return encoding.parse_time(self.time)

    @property
    def details_data(self) -> dict[str, Any]:
        return dict(json.loads(self.details))

    @property
    def action_label(self) -> str:
        return str(Action(self.action).label) if self.action in Action.values else str(self.action)


class TreeNode(models.Model):
    """A perfect subtree hash: MTH of entries [index * 2**level, (index + 1) * 2**level).

    Level 0 holds the leaf hashes. A node is written once, in the transaction that appends its
    last leaf, and never changes (see tlog.py).
    """

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = _("tree node")

    def __str__(self) -> str:
        return f"({self.level}, {self.index})"


class LogHead(models.Model):
    """The single row whose lock serialises appends: the tree size and its frontier (the hashes
    of the perfect subtrees that make up the tree, largest first, concatenated)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    frontier = models.BinaryField(default=b"")

    class Meta:
        verbose_name = _("log head")

    def __str__(self) -> str:
        return f"log of {self.size} events"


class Checkpoint(models.Model):
    """A signed tree head: the C2SP tlog-checkpoint note, kept verbatim as published."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField()
    signed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("checkpoint")
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"checkpoint at {self.tree_size}"


class AccessTally(models.Model):
    """What the security alerts count (alerts.py): one row per agent, kind and object, stamped
    with the last time the agent touched it. Not part of the log and not hashed: rows older than
    the alert window are deleted by the checkpoint task.

    One row per object (not per read) makes "how many different dossiers in the window" a count
    of rows on the (agent, kind, at) index, and keeps the table as small as the agents' recent
    activity.
    """

    class Kind(models.IntegerChoices):
        UNASSIGNED_OPENING = 1, _("Application opened, not assigned to the agent")
        EXPORT = 2, _("Item taken out of the platform")

    actor_id = models.CharField(max_length=64)
    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    object_id = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("access tally")
        constraints = [
            models.UniqueConstraint(
                fields=["actor_id", "kind", "object_id"], name="audit_tally_unique"
            )
        ]
        indexes = [models.Index(fields=["actor_id", "kind", "at"], name="audit_tally_window")]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.kind} {self.object_id}"


class SecurityAlert(models.Model):
    """A security alert as the platform admins handle it: who, what, how many, whom it was
    emailed to, and its acknowledgement. The alert itself and its acknowledgement are events of
    the log (`event_seq`, `acknowledged_seq`); this row holds what changes after the fact."""

    action = models.PositiveSmallIntegerField(_("kind"), choices=Action.choices)
    event_seq = models.BigIntegerField(unique=True)
    raised_at = models.DateTimeField(_("raised at"), db_index=True)
    agent_id = models.CharField(max_length=64)
    agent_name = models.CharField(_("agent"), max_length=200, blank=True)
    org_id = models.CharField(max_length=64, blank=True)
    org_name = models.CharField(_("administration"), max_length=200, blank=True)
    count = models.PositiveIntegerField(_("count"), default=0)
    threshold = models.PositiveIntegerField(_("threshold"), default=0)
    window_seconds = models.PositiveIntegerField(default=0)
    recipient = models.EmailField(_("emailed to"), blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.CharField(_("acknowledged by"), max_length=200, blank=True)
    acknowledged_seq = models.BigIntegerField(null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("security alert")
        verbose_name_plural = _("security alerts")
        indexes = [
            models.Index(fields=["agent_id", "action", "raised_at"], name="audit_alert_dedupe")
        ]

    def __str__(self) -> str:
        return f"alert #{self.pk} {self.action}"

    @property
    def action_label(self) -> str:
        return str(Action(self.action).label) if self.action in Action.values else str(self.action)
