from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router, Schema, Status

from guichet.identity.access import access_token, read_own_profile
from guichet.identity.actions import do_close_account, do_create_token, do_revoke_token
from guichet.identity.models import ApiToken, User
from guichet.identity.views import export_response

router = Router(tags=["account"])


class TokenIn(Schema):
    name: str = "API"


class TokenOut(Schema):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str


class MeOut(Schema):
    id: UUID
    email: str
    full_name: str
    language: str


class KeptOut(Schema):
    what: str
    reason: str
    until: date | None


class ClosedOut(Schema):
    closed: bool
    kept: list[KeptOut]


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    profile = read_own_profile(user)
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": profile.full_name,
        "language": user.language,
    }


@router.delete("/me", response=ClosedOut)
def close_account(request: HttpRequest) -> dict[str, Any]:
    """Close the caller's account: drafts and dossiers nothing obliges to keep are erased now, the
    profile too; what the law keeps is listed with the reason, and erased when its time ends."""
    kept = do_close_account(_user(request))
    return {"closed": True, "kept": kept}


@router.get("/me/export")
def export_account(request: HttpRequest) -> StreamingHttpResponse:
    """Everything the platform holds about the caller: one ZIP (account.json and their files)."""
    return export_response(_user(request))


@router.get("/me/tokens", response=list[TokenOut])
def list_tokens(request: HttpRequest) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=_user(request)))


@router.post("/me/tokens", response={201: NewTokenOut})
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    token, raw = do_create_token(_user(request), payload.name[:100])
    return Status(201, {**TokenOut.from_orm(token).dict(), "token": raw})


@router.delete("/me/tokens/{token_id}", response={204: None})
def revoke_token(request: HttpRequest, token_id: UUID) -> Status[None]:
    token = access_token(_user(request), token_id)
    do_revoke_token(_user(request), token.pk)
    return Status(204, None)
