"""Account pages: profile and API tokens. Sign-in, email and two-factor pages are allauth's."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guichet.identity.access import access_token
from guichet.identity.actions import do_create_token, do_revoke_token, do_update_profile
from guichet.identity.forms_web import ProfileForm, TokenForm
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
    initial = {
        "full_name": user.full_name,
        "phone": user.phone,
        "national_id": user.national_id,
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
