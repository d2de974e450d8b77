"""Per-user language, and mandatory MFA for agents before they reach the back office."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _

from guichet.identity.models import User
from guichet.identity.service import has_mfa, is_agent

LANGUAGE_COOKIE = "django_language"


class UserLanguageMiddleware:
    """A signed-in user's chosen language beats the browser's, unless they just switched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, User) and LANGUAGE_COOKIE not in request.COOKIES:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


class AgentMfaMiddleware:
    """Agents and operators hold other people's data: no back office until TOTP is set up."""

    PROTECTED_PREFIXES = ("/agent/", "/admin/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            isinstance(user, User)
            and request.path.startswith(self.PROTECTED_PREFIXES)
            and (is_agent(user) or user.is_staff)
            and not has_mfa(user)
        ):
            messages.warning(
                request, _("Agents must set up two-factor authentication before going on.")
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)
