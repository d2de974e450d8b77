"""What the vault stores: wrapped data keys, key-encryption key versions and rotation progress.

No table here ever holds an unwrapped key: `DataKey.wrapped` is the DEK encrypted under a KEK that
lives outside the database (a 0600 file, an HSM), and KEK material is never stored at all.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class KekState(models.TextChoices):
    ACTIVE = "active", _("active")
    RETIRING = "retiring", _("retiring")
    RETIRED = "retired", _("retired")


class KekVersion(models.Model):
    """One key-encryption key of one provider; only the active one wraps new data keys."""

    provider = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=KekState.choices, default=KekState.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("key-encryption key version")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "version"], name="vault_kek_unique_version"
            ),
            # Two processes racing to create the first key, or two rotations started at once,
            # must not both win: the database keeps a single active KEK.
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="active"), name="vault_kek_single_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:v{self.version} ({self.state})"


class DataKey(models.Model):
    """The data key (DEK) of one owner, such as "dossier:<uuid>" or "user:<uuid>", wrapped.

    The owner is an opaque string so the vault depends on no domain app. Rotation rewraps
    `wrapped` under a new KEK and moves `kek`; the DEK itself never changes, so ciphertexts that
    name this row stay readable throughout. Crypto-shredding nulls `wrapped` and keeps the row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=200, unique=True)
    wrapped = models.BinaryField(null=True, editable=False)
    kek = models.ForeignKey(KekVersion, on_delete=models.PROTECT, related_name="data_keys")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("data key")
        indexes = [models.Index(fields=["kek", "id"], name="vault_datakey_kek_id")]
        constraints = [
            models.CheckConstraint(
                condition=Q(wrapped__isnull=True, destroyed_at__isnull=False)
                | Q(wrapped__isnull=False, destroyed_at__isnull=True),
                name="vault_datakey_wrapped_xor_destroyed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner} ({self.id})"

    @property
    def kek_provider(self) -> str:
        return self.kek.provider

    @property
    def kek_version(self) -> int:
        return self.kek.version


class RotationState(models.TextChoices):
    RUNNING = "running", _("running")
    DONE = "done", _("done")


class Rotation(models.Model):
    """Progress of one `guichet vault rotate`, committed per batch so a killed run resumes."""

    target = models.ForeignKey(KekVersion, on_delete=models.PROTECT, related_name="rotations")
    state = models.CharField(
        max_length=16, choices=RotationState.choices, default=RotationState.RUNNING
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    rewrapped = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    last_id = models.UUIDField(null=True, blank=True)

    class Meta:
        verbose_name = _("key rotation")
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="running"), name="vault_single_running_rotation"
            )
        ]

    def __str__(self) -> str:
        return f"rotation to {self.target} ({self.state})"
