"""Account pages: profile, API tokens, closing the account and downloading one's data.
Sign-in, email and two-factor pages are allauth's."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guichet.errors import ActionError, Unavailable
from guichet.identity.access import (
    access_organisation_settings,
    access_token,
    closure_plan,
    export_archive,
    read_own_profile,
)
from guichet.identity.actions import (
    do_close_account,
    do_create_token,
    do_revoke_token,
    do_set_security_contact,
    do_update_profile,
)
from guichet.identity.forms_web import ProfileForm, SecurityContactForm, TokenForm
from guichet.identity.models import ApiToken, User

# The new token's secret travels from the POST to the page that shows it through the session
# (stored server-side), never through a cookie or a URL.
NEW_TOKEN_KEY = "guichet_new_token"  # noqa: S105 (a session key, not a secret)


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # login_required has already sent anonymous visitors away
        raise PermissionDenied
    return user


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    try:
        opened = read_own_profile(user)
    except Unavailable as error:
        unavailable = {"message": error.message}
        return render(request, "dossiers/unavailable.html", unavailable, status=503)
    initial = {
        "full_name": opened.full_name,
        "phone": opened.phone,
        "national_id": opened.national_id,
        "language": user.language,
    }
    form = ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            do_update_profile(user, **form.cleaned_data)
        except ValidationError as error:
            user.refresh_from_db()  # the action changed the object before the model refused it
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, _("Your profile is saved."))
            return redirect("profile")
    status = 400 if form.errors else 200
    context = {"form": form, "has_errors": bool(form.errors), "page_url": reverse("profile")}
    return render(request, "identity/profile.html", context, status=status)


def _tokens_page(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    context = {
        "tokens": ApiToken.objects.filter(user=_user(request)),
        "form": form,
        "new_token": request.session.pop(NEW_TOKEN_KEY, None),
        "has_errors": bool(form.errors),
        "page_url": reverse("tokens"),
    }
    response = render(request, "identity/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a secret shown once
    return response


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _tokens_page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    token, raw = do_create_token(_user(request), form.cleaned_data["name"])
    request.session[NEW_TOKEN_KEY] = {"name": token.name, "secret": raw}
    return redirect("tokens")


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: UUID) -> HttpResponse:
    user = _user(request)
    token = access_token(user, token_id)
    if do_revoke_token(user, token.pk):
        messages.success(request, _("Token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("tokens")


@login_required
@require_http_methods(["GET", "POST"])
def close_account(request: HttpRequest) -> HttpResponse:
    """Says first what closing erases now and what the law keeps, and why; closes only with the
    password, since nothing can be undone."""
    user = _user(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if user.check_password(request.POST.get("password", "")):
            kept = do_close_account(user)
            logout(request)
            return render(request, "identity/closed.html", {"kept": kept})
        errors["password"] = [_("This is not your password.")]
    context = {
        "plan": closure_plan(user),
        "errors": errors,
        "has_errors": bool(errors),
        "page_url": reverse("account_close"),
    }
    return render(request, "identity/close.html", context, status=400 if errors else 200)


def export_response(user: User) -> StreamingHttpResponse:
    """The ZIP of everything about `user`, streamed; shared with the API."""
    name = f"guichet-{timezone.localdate():%Y-%m-%d}.zip"
    response = StreamingHttpResponse(export_archive(user), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def export_account(request: HttpRequest) -> StreamingHttpResponse:
    return export_response(_user(request))


@login_required
@require_http_methods(["GET", "POST"])
def security_contact(request: HttpRequest, organisation_id: UUID) -> HttpResponse:
    """An org admin sets where their organisation's security alerts are emailed."""
    user = _user(request)
    organisation = access_organisation_settings(user, organisation_id)
    initial = {"security_email": organisation.security_email}
    form = SecurityContactForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            do_set_security_contact(user, organisation, form.cleaned_data["security_email"])
        except ActionError as error:
            for field, problems in error.fields.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, _("The security contact is saved."))
            return redirect("organisation_security_contact", organisation_id=organisation.pk)
    status = 400 if form.errors else 200
    context = {"form": form, "organisation": organisation}
    return render(request, "identity/security_contact.html", context, status=status)
