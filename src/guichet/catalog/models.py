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
    (see catalog/forms.py); it is versioned so a dossier keeps the version it was filed under.
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
    summary = models.JSONField(_("summary"), default=dict)
    legal_basis = models.JSONField(_("legal basis"), default=dict, blank=True)
    applicant_kinds = models.JSONField(_("who may apply"), default=list)
    fee_amount = models.PositiveIntegerField(_("fee (CFA francs)"), default=0)
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
    def file_fields(self) -> list[dict[str, Any]]:
        return [f for f in self.form if f.get("type") == "file"]
