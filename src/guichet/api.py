"""API v1: one NinjaAPI, routers from each app, errors always {code, message, fields?}."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from guichet.errors import ActionError
from guichet.identity.models import User
from guichet.identity.service import has_mfa, is_agent, user_for_token


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_token(token)
        if user is None:
            return None
        # Agents reach other people's data: their account must have MFA, whatever the channel.
        if is_agent(user) and not has_mfa(user):
            return None
        request.user = user
        return user


api = NinjaAPI(
    title="Guichet API",
    version="1",
    description="Public procedures online: catalog, dossiers, instruction.",
    auth=[BearerToken()],
    urls_namespace="api-v1",
)


def _error(
    request: HttpRequest, status: int, code: str, message: str, fields: Any = None
) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return api.create_response(request, body, status=status)


@api.exception_handler(ActionError)
def on_action_error(request: HttpRequest, error: ActionError) -> HttpResponse:
    return _error(request, error.status, error.code, error.message, error.fields)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", _("Not found."))


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, error: PermissionDenied) -> HttpResponse:
    return _error(request, 403, "forbidden", _("You may not do this."))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _error(
        request, 401, "unauthenticated", _("Send a valid token: Authorization: Bearer <token>.")
    )


@api.exception_handler(ValidationError)
def on_invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for item in error.errors:
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "payload")]
        fields.setdefault(".".join(location) or "body", []).append(str(item.get("msg", "")))
    return _error(request, 400, "invalid", _("The request is not valid."), fields)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    code = "malformed" if error.status_code == 400 else "error"
    return _error(request, error.status_code, code, str(error))


def register_routers() -> None:
    from guichet.catalog.api import router as catalog_router
    from guichet.dossiers.api import router as dossiers_router
    from guichet.identity.api import router as identity_router

    api.add_router("/", catalog_router)
    api.add_router("/", dossiers_router)
    api.add_router("/", identity_router)


register_routers()
