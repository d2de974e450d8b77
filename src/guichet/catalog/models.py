"""Procedures an organisation offers, with the form an applicant fills in."""

import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from guichet.catalog.text import fold, translated
from guichet.identity.models import Organisation

DEFAULT_RETENTION_DAYS = 5 * 365


class ApplicantKind(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")


class Procedure(models.Model):
    """A public service one can apply for.

    Texts are {"fr": ..., "en": ...} dictionaries. The form is a list of field definitions
    (see catalog/forms.py). The columns hold the current version; every version's whole
    definition is kept in ProcedureVersion, so a dossier keeps the version it was filed under.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(_("short name"), unique=True, max_length=80)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="procedures"
    )
    title = models.JSONField(_("title"))
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    legal_basis = models.JSONField(_("legal basis"), default=dict, blank=True)
    applicant_kinds = models.JSONField(_("who may apply"), default=list)
    # The base fee, shown in the catalog; `fees` holds the rules that add to it from answers.
    fee_amount = models.PositiveIntegerField(_("fee (CFA francs)"), default=0)
    fees = models.JSONField(_("fees"), default=dict, blank=True)
    eligibility = models.JSONField(_("eligibility rules"), default=list, blank=True)
    data_protection = models.JSONField(_("data protection notice"), default=dict, blank=True)
    deadline_days = models.PositiveIntegerField(_("statutory deadline (days)"), default=30)
    # Law 2008-12: keep personal data no longer than the purpose needs. A dossier is erased this
    # many days after it reached its final state (accepted, rejected, withdrawn); until then
    # the administration keeps it, even if the applicant closes their account.
    retention_days = models.PositiveIntegerField(
        _("retention after the decision (days)"), default=DEFAULT_RETENTION_DAYS
    )
    form = models.JSONField(_("form"), default=list)
    # The workflow section of the procedure's definition; empty means the default workflow.
    workflow = models.JSONField(_("workflow"), default=dict, blank=True)
    # A closed (archived) procedure may point applicants to the one that replaces it.
    replaced_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replaces",
        verbose_name=_("replaced by"),
    )
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    search_text = models.TextField(editable=False, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        ordering = ["slug"]
        indexes = [models.Index(fields=["status", "slug"])]

    def __str__(self) -> str:
        return self.display_title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_text = self.build_search_text()
        super().save(*args, **kwargs)

    def build_search_text(self) -> str:
        parts: list[str] = []
        for texts in (self.title, self.summary):
            if isinstance(texts, dict):
                parts.extend(str(v) for v in texts.values())
        parts.append(self.organisation.name)
        return fold(" ".join(parts))

    @property
    def display_title(self) -> str:
        return translated(self.title)

    @property
    def display_summary(self) -> str:
        return translated(self.summary)

    @property
    def display_legal_basis(self) -> str:
        return translated(self.legal_basis)

    @property
    def display_data_protection(self) -> str:
        return translated(self.data_protection)

    @property
    def file_fields(self) -> list[dict[str, Any]]:
        return [f for f in self.form if f.get("type") == "file"]


class ProcedureVersion(models.Model):
    """One version of a procedure's definition, as it was when it became current. Dossiers
    name their version by number; drafts move to a newer one only when `compatible` says the
    change keeps their answers valid (catalog/versions.py)."""

    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    # Whether drafts of the previous version may move to this one, and what changed for them.
    compatible = models.BooleanField(default=True)
    changes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("procedure version")
        verbose_name_plural = _("procedure versions")
        ordering = ["procedure", "number"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "number"], name="one_row_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.procedure.slug} v{self.number}"
