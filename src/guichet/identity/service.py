"""What other apps may ask of identity: who is an agent, of which organisations, which roles;
people's names and profiles (opened by identity/access.py after the caller's own permission
check); and the registry of apps that hold a person's data, for account closure and export."""

import datetime
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from guichet import rows
from guichet.audit.models import ActorKind
from guichet.audit.service import Actor
from guichet.identity.access import Profile, open_names, open_profile
from guichet.identity.models import ApiToken, Membership, Organisation, Role, User

__all__ = [
    "AGENT_ROLES",
    "INSTRUCTION_ROLES",
    "AccountData",
    "AnyUser",
    "ClosurePlan",
    "ExportFile",
    "ExportPart",
    "Kept",
    "Profile",
    "account_data",
    "agent_actor",
    "colleagues",
    "has_mfa",
    "is_agent",
    "open_names",
    "open_profile",
    "organisation_by_slug",
    "organisations_with_role",
    "register_account_data",
    "roles_in",
    "token_digest",
    "user_for_token",
]

AGENT_ROLES = frozenset(Role)
INSTRUCTION_ROLES = frozenset({Role.INSTRUCTOR, Role.SUPERVISOR})

AnyUser = User | AnonymousUser


def _roles_by_organisation(user: User) -> dict[UUID, set[str]]:
    """Roles per organisation, read once per request and kept on the user object."""
    cached: dict[UUID, set[str]] | None = getattr(user, "_guichet_roles", None)
    if cached is None:
        cached = {}
        for membership in _MEMBERSHIPS.all(user.pk):
            cached.setdefault(membership.organisation_id, set()).add(membership.role)
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
    """Agents of an organisation holding one of the roles: the people a dossier may go to, by
    name. Agents' names are not secret among colleagues; they are sealed like everyone's, so
    they are opened here to be shown and sorted."""
    agents = list(
        User.objects.filter(
            is_active=True,
            memberships__organisation_id=organisation_id,
            memberships__role__in=list(roles),
        ).distinct()
    )
    open_names(agents)
    return sorted(agents, key=lambda agent: (agent.display_name.casefold(), agent.email))


def agent_actor(user: User, organisation_id: object = "", organisation_name: str = "") -> Actor:
    """The transparency log's actor for an agent or a platform admin acting in an official
    capacity, with the administration they act for when there is one: the one way to name them.

    The log names them by their name, which is sealed like anyone's: without opening it,
    `display_name` falls back to the sign-in email, which is not who citizens should read
    acted, and an entry can never be corrected. Free when the name is already open (an earlier
    read or history row of the request); otherwise one key lookup, then the process's cache."""
    open_names([user])
    return Actor(
        ActorKind.AGENT, user.pk, user.display_name[:200], organisation_id, organisation_name[:200]
    )


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# Every API call signs in with its token: the statement is built once (guichet/rows.py).
_TOKEN = rows.Select(
    ApiToken,
    ("user",),
    where="{digest} = %s AND {revoked_at} IS NULL AND {user.is_active} = %s",
    params=("digest", "user.is_active"),
)
_MEMBERSHIPS = rows.Select(Membership, where="{user} = %s", params=("user",))


def user_for_token(raw: str) -> User | None:
    token = _TOKEN.one(token_digest(raw), True)
    if token is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a write per API call would double the cost of every read.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def organisation_by_slug(slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug).first()


# --- Apps holding a person's data: account closure and data export ------------------------------


@dataclass(frozen=True)
class Kept:
    """Something account closure keeps, why, and until when (None: not known yet)."""

    what: str
    reason: str
    until: datetime.date | None = None


@dataclass(frozen=True)
class ClosurePlan:
    erased: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


@dataclass(frozen=True)
class ExportFile:
    """A file of the export: its path in the archive and how to read it, chunk by chunk."""

    path: str
    chunks: Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class ExportPart:
    data: Any
    files: list[ExportFile] = field(default_factory=list)


@dataclass(frozen=True)
class AccountData:
    """What an app holding a person's data does for their account: say what closing it would
    erase and keep (`plan`), erase what may go inside the closure's transaction and return what
    stays (`close`), and give everything it holds about them (`export`)."""

    plan: Callable[[User], ClosurePlan]
    close: Callable[[User], list[Kept]]
    export: Callable[[User], ExportPart]


_account_data: dict[str, AccountData] = {}


def register_account_data(name: str, participant: AccountData) -> None:
    """Called from an app's AppConfig.ready(); identity cannot import the apps above it."""
    _account_data[name] = participant


def account_data() -> dict[str, AccountData]:
    return dict(_account_data)
