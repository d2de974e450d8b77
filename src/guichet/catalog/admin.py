"""Procedures in the admin: a stopgap for operators until the designer (its own issue) lands."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from guichet.catalog.forms import DefinitionError, check_definition
from guichet.catalog.models import Procedure, ProcedureVersion
from guichet.catalog.service import export_definition
from guichet.catalog.versions import compare, is_compatible


class ProcedureForm(forms.ModelForm[Procedure]):
    class Meta:
        model = Procedure
        fields = [
            "slug",
            "organisation",
            "title",
            "summary",
            "legal_basis",
            "applicant_kinds",
            "fee_amount",
            "deadline_days",
            "retention_days",
            "form",
            "fees",
            "eligibility",
            "data_protection",
            "status",
        ]

    def clean_form(self) -> Any:
        definition = self.cleaned_data.get("form")
        try:
            check_definition(definition)
        except DefinitionError as error:
            raise forms.ValidationError(str(error)) from error
        return definition


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin[Procedure]):
    form = ProcedureForm
    list_display = ["slug", "organisation", "status", "version", "updated_at"]
    list_filter = ["status", "organisation"]
    search_fields = ["slug", "search_text"]
    readonly_fields = ["version", "created_at", "updated_at"]

    def save_model(
        self, request: HttpRequest, obj: Procedure, form: forms.ModelForm[Procedure], change: bool
    ) -> None:
        versioned = {"form", "fees", "eligibility"} & set(form.changed_data)
        changes: list[dict[str, Any]] = []
        if change and versioned:
            old_form = Procedure.objects.values_list("form", flat=True).get(pk=obj.pk)
            changes = compare(old_form, obj.form)
            obj.version += 1  # dossiers already filed keep the version they were filed under
        if obj.fees:
            obj.fee_amount = int(obj.fees.get("amount") or 0)
        super().save_model(request, obj, form, change)
        ProcedureVersion.objects.update_or_create(
            procedure=obj,
            number=obj.version,
            defaults={
                "definition": export_definition(obj),
                "compatible": is_compatible(changes),
                "changes": changes,
            },
        )
