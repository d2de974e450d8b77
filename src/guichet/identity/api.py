from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Schema, Status

from guichet.identity.access import access_token
from guichet.identity.actions import do_create_token, do_revoke_token
from guichet.identity.models import ApiToken, User

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


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> User:
    return _user(request)


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
