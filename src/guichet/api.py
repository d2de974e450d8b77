"""API v1: one NinjaAPI, routers from each app, errors always {code, message, fields?}."""

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
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


def _refusal(data: Any) -> str | None:
    """Why a decoded body or query cannot be taken, or None: a NUL character, which PostgreSQL
    cannot store or even compare, or a lone surrogate (JSON's "\\ud800"), which is not text and
    makes the vault or the database driver fail to encode it. Walked with a stack, not recursion:
    JSON nested as deep as the decoder allows must not overflow the interpreter's stack here."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return _("Null characters are not allowed.")
            if value.isascii():  # the common case: no surrogate possible, nothing to encode
                continue
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return _("The text holds an invalid character (a lone UTF-16 surrogate).")
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return None


class RefusedText(HttpError):
    """Raised by the parser. Ninja turns any error of parse_body into a 400 "Cannot parse request
    body" raised from it; on_http_error gives this one's message instead, which says why."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class NulRefusingParser(Parser):
    """Refuse text that cannot be stored at the door, where it is a 400 with a message, rather
    than deep in a query or the vault, where it would be a 500."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        reason = _refusal(data)
        if reason is not None:
            raise RefusedText(reason)
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        parsed = super().parse_querydict(data, list_fields, request)
        reason = _refusal(parsed)
        if reason is not None:
            raise RefusedText(reason)
        return parsed


api = NinjaAPI(
    title="Guichet API",
    version="1",
    description="Public procedures online: catalog, dossiers, instruction.",
    auth=[BearerToken()],
    urls_namespace="api-v1",
    parser=NulRefusingParser(),
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
    # Refusals that say why (the workflow gives a step to another role) keep their message.
    return _error(request, 403, "forbidden", str(error) or _("You may not do this."))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return _error(
        request, 401, "unauthenticated", _("Send a valid token: Authorization: Bearer <token>.")
    )


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "too_large", _("The request is too large."))


# Where ninja says a value came from; the client only needs the field's own name.
PARAMETER_SOURCES = {"body", "query", "path", "form", "file", "header", "cookie"}


@api.exception_handler(ValidationError)
def on_invalid(request: HttpRequest, error: ValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for item in error.errors:
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in PARAMETER_SOURCES:
            location.pop(0)
        if location[:1] == ["payload"]:
            location.pop(0)
        fields.setdefault(".".join(location) or "body", []).append(str(item.get("msg", "")))
    return _error(request, 400, "invalid", _("The request is not valid."), fields)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    if isinstance(error.__cause__, RefusedText):
        error = error.__cause__
    code = "malformed" if error.status_code == 400 else "error"
    return _error(request, error.status_code, code, str(error))


# Added last, so it only catches what no endpoint matched: a JSON 404, not Django's HTML page.
unknown_paths = Router()


@unknown_paths.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", auth=None, include_in_schema=False
)
def no_such_endpoint(request: HttpRequest, rest: str) -> HttpResponse:
    raise Http404


def register_routers() -> None:
    from guichet.audit.api import router as audit_router
    from guichet.catalog.api import router as catalog_router
    from guichet.documents.api import router as documents_router
    from guichet.dossiers.api import router as dossiers_router
    from guichet.identity.api import router as identity_router

    api.add_router("/", catalog_router)
    api.add_router("/", dossiers_router)
    api.add_router("/", identity_router)
    api.add_router("/", documents_router)
    api.add_router("/", audit_router)
    api.add_router("/", unknown_paths)


register_routers()
