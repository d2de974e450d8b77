"""The platform administrator's console: organisations, agents and their roles.

Writes go through identity.actions so the admin follows the same rules as everything else.
Dossiers are deliberately absent: operators run the platform, they do not read citizens' files.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.forms import ModelForm
from django.http import HttpRequest

from guichet.identity.actions import do_add_membership, do_set_security_contact
from guichet.identity.models import Membership, Organisation, User


class MembershipInline(admin.TabularInline[Membership, Any]):
    model = Membership
    extra = 1
    autocomplete_fields = ["organisation"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
    ordering = ["email"]
    # Names, phones and national ids are sealed (identity/access.py opens them): the console
    # shows and searches accounts by email only.
    list_display = ["email", "is_active", "is_staff", "date_joined"]
    search_fields = ["email"]
    list_filter = ["is_active", "is_staff", "memberships__role"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("language",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [MembershipInline]
    readonly_fields = ["last_login", "date_joined"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin[Organisation]):
    list_display = ["name", "slug", "kind", "parent"]
    list_filter = ["kind"]
    search_fields = ["name", "slug"]
    autocomplete_fields = ["parent"]
    prepopulated_fields = {"slug": ("name",)}

    def save_model(
        self, request: HttpRequest, obj: Organisation, form: ModelForm[Organisation], change: bool
    ) -> None:
        obj.full_clean()
        super().save_model(request, obj, form, change)
        if change and "security_email" in form.changed_data and isinstance(request.user, User):
            # Through the action, so the change of contact is in the log like an org admin's.
            do_set_security_contact(request.user, obj, obj.security_email)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation"]
    search_fields = ["user__email", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]

    def save_model(
        self, request: HttpRequest, obj: Membership, form: ModelForm[Membership], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            saved = do_add_membership(obj.user, obj.organisation, obj.role)
            obj.pk = saved.pk
