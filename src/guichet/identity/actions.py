"""Every write to identity data. One transaction each."""

import secrets
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from guichet.identity.models import ApiToken, Membership, Organisation, User
from guichet.identity.service import token_digest

TOKEN_PREFIX = "gch_"  # noqa: S105 (a public prefix, not a secret)


@transaction.atomic
def do_create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and its secret, which is never stored and cannot be shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip() or "API", prefix=raw[:10], digest=token_digest(raw)
    )
    return token, raw


@transaction.atomic
def do_revoke_token(user: User, token_id: UUID) -> bool:
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return revoked == 1


@transaction.atomic
def do_update_profile(
    user: User, *, full_name: str, phone: str, national_id: str, language: str
) -> User:
    user.full_name = full_name
    user.phone = phone
    user.national_id = national_id
    user.language = language
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name", "phone", "national_id", "language"])
    return user


@transaction.atomic
def do_create_organisation(
    *, slug: str, name: str, kind: str, parent: Organisation | None = None
) -> Organisation:
    organisation = Organisation(slug=slug, name=name, kind=kind, parent=parent)
    organisation.full_clean()
    organisation.save()
    return organisation


@transaction.atomic
def do_add_membership(user: User, organisation: Organisation, role: str) -> Membership:
    membership, _ = Membership.objects.get_or_create(
        user=user, organisation=organisation, role=role
    )
    return membership
