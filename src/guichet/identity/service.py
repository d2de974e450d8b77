"""What other apps may ask of identity: who is an agent, of which organisations, which roles."""

import hashlib
from collections.abc import Iterable
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from guichet.identity.models import ApiToken, Membership, Organisation, Role, User

AGENT_ROLES = frozenset(Role)
INSTRUCTION_ROLES = frozenset({Role.INSTRUCTOR, Role.SUPERVISOR})

AnyUser = User | AnonymousUser


def _roles_by_organisation(user: User) -> dict[UUID, set[str]]:
    """Roles per organisation, read once per request and kept on the user object."""
    cached: dict[UUID, set[str]] | None = getattr(user, "_guichet_roles", None)
    if cached is None:
        cached = {}
        for organisation_id, role in Membership.objects.filter(user=user).values_list(
            "organisation_id", "role"
        ):
            cached.setdefault(organisation_id, set()).add(role)
        user._guichet_roles = cached  # type: ignore[attr-defined]
    return cached


def is_agent(user: AnyUser) -> bool:
    return isinstance(user, User) and user.is_active and bool(_roles_by_organisation(user))


def organisations_with_role(user: AnyUser, roles: Iterable[str]) -> set[UUID]:
    if not isinstance(user, User) or not user.is_active:
        return set()
    wanted = set(roles)
    return {org for org, held in _roles_by_organisation(user).items() if held & wanted}


def roles_in(user: AnyUser, organisation_id: UUID) -> set[str]:
    if not isinstance(user, User) or not user.is_active:
        return set()
    return set(_roles_by_organisation(user).get(organisation_id, set()))


def has_mfa(user: User) -> bool:
    from allauth.mfa.models import Authenticator

    return bool(Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists())


def colleagues(organisation_id: UUID, roles: Iterable[str] = INSTRUCTION_ROLES) -> list[User]:
    """Agents of an organisation holding one of the roles: the people a dossier may go to."""
    return list(
        User.objects.filter(
            is_active=True,
            memberships__organisation_id=organisation_id,
            memberships__role__in=list(roles),
        )
        .distinct()
        .order_by("full_name", "email")
    )


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def user_for_token(raw: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a write per API call would double the cost of every read.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def organisation_by_slug(slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug).first()
