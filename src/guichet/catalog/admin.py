"""Procedures in the admin: read only.

Procedures are written by their designers (the designer pages) or by `guichet procedure import`,
both through catalog.actions: the definition's checks, the versioning rule and the transparency
log's events live there. An edit here would skip all three (it once did), so platform
administrators can look procedures up, not change, add or delete them.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from guichet.catalog.models import Procedure


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin[Procedure]):
    list_display = ["slug", "organisation", "status", "version", "updated_at"]
    list_filter = ["status", "organisation"]
    search_fields = ["slug", "search_text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
