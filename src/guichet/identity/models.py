"""People and administrations: users, organisations, memberships, API tokens."""

import re
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

PROFILE_FIELDS = ("full_name", "national_id", "phone")
FULL_NAME_MAX = 150
PHONE_MAX = 32
NATIONAL_ID_MAX = 32


def validate_national_id(value: str) -> None:
    if not re.fullmatch(settings.NATIONAL_ID_PATTERN, value):
        raise ValidationError(_("This national identification number is not valid."))


class GuichetUserManager(UserManager["User"]):
    """Users are known by their email; there is no username."""

    def _create(self, email: str, password: str | None, **extra: Any) -> "User":
        # Contact details are sealed by identity.actions, never stored as given: the manager
        # takes them for convenience (demo, admin scripts, tests) and hands them over.
        profile = {name: extra.pop(name) for name in PROFILE_FIELDS if name in extra}
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        if profile:
            from guichet.identity.actions import seal_profile

            seal_profile(user, **profile)
        user.save(using=self._db)
        return user

    def create_user(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """Anyone who signs in: a citizen, a company's representative, an agent or an operator."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    # The email stays in clear: it is the sign-in identifier allauth looks accounts up by, and
    # the address notifications go to. Everything else about the person is sealed under the
    # user's own data key (owner "user:<id>"), opened only by identity/access.py.
    email = models.EmailField(_("email address"), unique=True)
    full_name_sealed = models.BinaryField(null=True, editable=False)
    national_id_sealed = models.BinaryField(null=True, editable=False)
    phone_sealed = models.BinaryField(null=True, editable=False)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="fr"
    )
    # Set when the person closed their account: the profile is erased and sign-in refused.
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    # The full name once identity.access has opened it for this instance; never stored. The
    # model never decrypts by itself, so an ORM query (the admin, a list, a debug page) cannot
    # put a name on screen without going through the access module.
    opened_name: str | None = None

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = GuichetUserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.closed_at is not None:
            return str(_("Closed account"))
        return self.opened_name or self.email

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name


class Organisation(models.Model):
    """A ministry, an agency or a commune; organisations nest (a directorate inside a ministry)."""

    class Kind(models.TextChoices):
        MINISTRY = "ministry", _("Ministry")
        AGENCY = "agency", _("Agency")
        COMMUNE = "commune", _("Commune")
        DIRECTORATE = "directorate", _("Directorate")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(_("short name"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent organisation"),
    )
    # Where security alerts about this organisation's agents go (unusual reads, bulk exports).
    # Blank: the alerts still reach the platform admins' page, and the parent's contact if any.
    security_email = models.EmailField(_("security contact email"), blank=True, default="")

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        node = self.parent
        while node is not None:
            if node.pk == self.pk:
                raise ValidationError({"parent": _("An organisation cannot be its own ancestor.")})
            node = node.parent


class Role(models.TextChoices):
    INSTRUCTOR = "instructor", _("Instructor")
    SUPERVISOR = "supervisor", _("Supervisor")
    DESIGNER = "designer", _("Procedure designer")
    ORG_ADMIN = "org_admin", _("Organisation administrator")


class Membership(models.Model):
    """An agent's role in one organisation; an agent may hold several roles."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"], name="unique_membership_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.organisation} ({self.get_role_display()})"


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the secret is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
