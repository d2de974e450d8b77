"""The platform administrator's console: organisations, agents and their roles.

Writes go through identity.actions so the admin follows the same rules as everything else: a
role granted, changed or withdrawn, an account's flags (active, staff, superuser), its sign-in
email and its password changed, are entries of the transparency log naming the admin, in the
transaction of the change.
Dossiers are deliberately absent: operators run the platform, they do not read citizens' files.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext

from guichet.identity.actions import (
    PRIVILEGE_FLAGS,
    check_sign_in_email,
    do_add_membership,
    do_change_email,
    do_change_membership,
    do_delete_organisation,
    do_revoke_membership,
    do_set_password,
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


class AccountChangeForm(UserChangeForm):  # type: ignore[type-arg]
    def clean_email(self) -> str:
        # The action's own rules, so a refusal shows beside the field instead of as an error page.
        return check_sign_in_email(self.instance, self.cleaned_data.get("email") or "")


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
    form = AccountChangeForm
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
        # The form has set the flags and the email on the object; they are saved by the actions,
        # which log them, and the rest of the form by the usual save, with them as stored. The
        # change page's view runs in one transaction: a failing entry undoes the whole save.
        wanted = {name: bool(getattr(obj, name)) for name in PRIVILEGE_FLAGS}
        email = obj.email
        if change:
            stored = User.objects.filter(pk=obj.pk).values(*PRIVILEGE_FLAGS, "email").get()
        else:
            stored = {"is_active": True, "is_staff": False, "is_superuser": False}
        for name, value in stored.items():
            setattr(obj, name, value)
        super().save_model(request, obj, form, change)
        if change:
            do_change_email(_admin(request), obj, email)
        do_set_privileges(_admin(request), obj, **wanted)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """The console's "change password" page: a valid form is saved by the action, which logs
        it naming the admin; everything else (the page, its refusals) is Django's own view."""
        if request.method != "POST":
            return super().user_change_password(request, id, form_url)
        user = self.get_object(request, unquote(id))
        if user is None or not self.has_change_permission(request, user):
            return super().user_change_password(request, id, form_url)  # its 404 or 403
        form = self.change_password_form(user, request.POST)
        usable = form.is_valid() and form.cleaned_data["set_usable_password"]
        # As Django's view: turning passwords off must come from its own button.
        if not form.is_valid() or not (usable or "unset-password" in request.POST):
            return super().user_change_password(request, id, form_url)
        password = form.cleaned_data["password1"] if usable else None
        with transaction.atomic():
            do_set_password(_admin(request), user, password)
            self.log_change(request, user, self.construct_change_message(request, form, []))
        if usable:
            messages.success(request, gettext("Password changed successfully."))
        else:
            messages.success(request, gettext("Password-based authentication was disabled."))
        update_session_auth_hash(request, user)  # an admin changing their own stays signed in
        return HttpResponseRedirect(reverse("admin:identity_user_change", args=(user.pk,)))

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
