"""Procedures in the admin: a stopgap for operators until the designer (its own issue) lands."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from guichet.catalog.forms import DefinitionError, check_definition
from guichet.catalog.models import Procedure


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
        if change and "form" in form.changed_data:
            obj.version += 1  # dossiers already filed keep the version they were filed under
        super().save_model(request, obj, form, change)
