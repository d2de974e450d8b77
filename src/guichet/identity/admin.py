"""The platform administrator's console: organisations, agents and their roles.

Writes go through identity.actions so the admin follows the same rules as everything else: a
role granted, changed or withdrawn, and an account's flags (active, staff, superuser) changed,
are entries of the transparency log naming the admin, in the transaction of the change.
Dossiers are deliberately absent: operators run the platform, they do not read citizens' files.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest

from guichet.identity.actions import (
    PRIVILEGE_FLAGS,
    do_add_membership,
    do_change_membership,
    do_delete_organisation,
    do_revoke_membership,
    do_set_privileges,
    do_set_security_contact,
)
from guichet.identity.models import Membership, Organisation, User


def _admin(request: HttpRequest) -> User:
    """The acting admin, whom the log names."""
    if not isinstance(request.user, User):  # the admin site lets only staff accounts in
        raise PermissionDenied
    return request.user


def _save_membership(request: HttpRequest, membership: Membership, change: bool) -> None:
    by = _admin(request)
    if change:
        do_change_membership(
            by,
            membership.pk,
            user=membership.user,
            organisation=membership.organisation,
            role=membership.role,
        )
    else:
        saved = do_add_membership(membership.user, membership.organisation, membership.role, by=by)
        membership.pk = saved.pk


class MembershipInline(admin.TabularInline[Membership, Any]):
    """The roles on the account's page; UserAdmin.save_formset saves them through the actions."""

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
        ("Permissions", {"fields": PRIVILEGE_FLAGS}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [MembershipInline]
    readonly_fields = ["last_login", "date_joined"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deleting a row would skip what closing an account does (erasure of the profile and its
        # key, what the law keeps) and drop its roles without a log entry. To take an agent's
        # access away, withdraw their roles or clear "active": both are logged.
        return False

    def save_model(
        self, request: HttpRequest, obj: User, form: ModelForm[User], change: bool
    ) -> None:
        # The form has set the flags on the object; they are saved by the action, which logs
        # them, and the rest of the form by the usual save, with the flags as stored.
        wanted = {name: bool(getattr(obj, name)) for name in PRIVILEGE_FLAGS}
        if change:
            stored = User.objects.filter(pk=obj.pk).values(*PRIVILEGE_FLAGS).get()
        else:
            stored = {"is_active": True, "is_staff": False, "is_superuser": False}
        for name, value in stored.items():
            setattr(obj, name, value)
        super().save_model(request, obj, form, change)
        do_set_privileges(_admin(request), obj, **wanted)

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[User],
        formset: BaseModelFormSet[Any, Any],
        change: bool,
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # sorts the rows into new, changed and deleted; saves none
        for membership in formset.deleted_objects:
            do_revoke_membership(_admin(request), membership.pk)
        for membership, _fields in formset.changed_objects:
            _save_membership(request, membership, change=True)
        for membership in formset.new_objects:
            _save_membership(request, membership, change=False)


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

    def delete_model(self, request: HttpRequest, obj: Organisation) -> None:
        # Its roles would go by cascade, unlogged: the action withdraws each through the log.
        do_delete_organisation(_admin(request), obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        with transaction.atomic():
            for organisation in queryset:
                do_delete_organisation(_admin(request), organisation)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation"]
    search_fields = ["user__email", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]

    def save_model(
        self, request: HttpRequest, obj: Membership, form: ModelForm[Membership], change: bool
    ) -> None:
        _save_membership(request, obj, change)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        do_revoke_membership(_admin(request), obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        with transaction.atomic():
            for membership_id in queryset.values_list("pk", flat=True):
                do_revoke_membership(_admin(request), membership_id)
