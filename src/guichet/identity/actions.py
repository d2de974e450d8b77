"""Every write to identity data. One transaction each; contact details are sealed here."""

import secrets
from uuid import UUID

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from guichet.audit.models import Action as LogAction
from guichet.audit.models import ActorKind
from guichet.audit.service import Actor, NewEvent, record_event, record_events
from guichet.errors import ActionError
from guichet.identity.models import (
    FULL_NAME_MAX,
    NATIONAL_ID_MAX,
    PHONE_MAX,
    PROFILE_FIELDS,
    ApiToken,
    Membership,
    Organisation,
    Role,
    User,
    validate_national_id,
)
from guichet.identity.service import Kept, account_data, agent_actor, token_digest
from guichet.vault.service import destroy_key, encrypt_field, owner_for

TOKEN_PREFIX = "gch_"  # noqa: S105 (a public prefix, not a secret)


@transaction.atomic
def do_create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Returns the token row and its secret, which is never stored and cannot be shown again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip() or "API", prefix=raw[:10], digest=token_digest(raw)
    )
    _log_account(user, LogAction.TOKEN_CREATED, {"token": str(token.pk)})
    return token, raw


@transaction.atomic
def do_revoke_token(user: User, token_id: UUID) -> bool:
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        _log_account(user, LogAction.TOKEN_REVOKED, {"token": str(token_id)})
    return revoked == 1


# Why an entry about an account was written: the person's own request, or a platform admin's
# administration of agents.
OWN_REQUEST = "Request of the data subject"
ADMINISTRATION_PURPOSE = "Administration of agents"


def _account_event(
    action: LogAction,
    actor: Actor,
    user_id: object,
    details: dict[str, object],
    purpose: str = ADMINISTRATION_PURPOSE,
) -> NewEvent:
    """An entry about an account, naming its person by id only as object and subject."""
    return NewEvent(
        action,
        actor,
        object_type="account",
        object_id=user_id,
        subject_id=user_id,
        purpose=purpose,
        details=details,
    )


def _log_account(user: User, action: LogAction, details: dict[str, str]) -> None:
    """Changes to an account go into the transparency log, in the same transaction."""
    actor = Actor(ActorKind.CITIZEN, user.pk)
    record_events([_account_event(action, actor, user.pk, dict(details), OWN_REQUEST)])


def seal_profile(user: User, **values: str) -> None:
    """Set the sealed profile columns from clear values ("" clears one); the caller saves."""
    owner = owner_for("user", user.pk)
    for name, value in values.items():
        if name not in PROFILE_FIELDS:
            raise TypeError(f"{name!r} is not a profile field.")
        sealed = encrypt_field(owner, user.pk, name, value) if value else None
        setattr(user, f"{name}_sealed", sealed)
    if "full_name" in values:
        user.opened_name = values["full_name"]


def _check_profile(full_name: str, phone: str, national_id: str, language: str) -> None:
    """The rules a model field would have applied, since sealed columns cannot check them."""
    errors: dict[str, list[str]] = {}
    for name, value, limit in (
        ("full_name", full_name, FULL_NAME_MAX),
        ("phone", phone, PHONE_MAX),
        ("national_id", national_id, NATIONAL_ID_MAX),
    ):
        if len(value) > limit:
            errors.setdefault(name, []).append(
                _("At most %(limit)d characters.") % {"limit": limit}
            )
        if "\x00" in value:
            errors.setdefault(name, []).append(_("Null characters are not allowed."))
    if national_id and "national_id" not in errors:
        try:
            validate_national_id(national_id)
        except ValidationError as error:
            errors.setdefault("national_id", []).extend(error.messages)
    if language not in dict(settings.LANGUAGES):
        errors.setdefault("language", []).append(_("Choose a language from the list."))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def do_update_profile(
    user: User, *, full_name: str, phone: str, national_id: str, language: str
) -> User:
    _check_profile(full_name, phone, national_id, language)
    seal_profile(user, full_name=full_name, phone=phone, national_id=national_id)
    user.language = language
    user.save(update_fields=["full_name_sealed", "phone_sealed", "national_id_sealed", "language"])
    _log_account(user, LogAction.PROFILE_UPDATED, {})
    return user


@transaction.atomic
def do_close_account(user: User) -> list[Kept]:
    """Close the account: every app erases what it may (drafts, dossiers no obligation keeps),
    then the profile goes: its data key is destroyed, the email becomes a placeholder, the
    password unusable, second factors, tokens and roles deleted. What a legal obligation keeps
    is returned, with the reason, and erased when its retention ends."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.closed_at is not None:
        return []
    kept: list[Kept] = []
    for participant in account_data().values():
        kept.extend(participant.close(locked))
    _erase_profile(locked)
    user.closed_at, user.is_active = locked.closed_at, False
    return kept


def _erase_profile(user: User) -> None:
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator

    ended = _access_ended_at_closure(user)
    EmailAddress.objects.filter(user=user).delete()
    Authenticator.objects.filter(user=user).delete()
    ApiToken.objects.filter(user=user).delete()
    Membership.objects.filter(user=user).delete()
    user.full_name_sealed = user.national_id_sealed = user.phone_sealed = None
    user.opened_name = None
    # A placeholder in the reserved .invalid domain: unique, never deliverable, and the old
    # address is free for a new account.
    user.email = f"closed-{user.pk.hex}@closed.invalid"
    user.set_unusable_password()
    user.is_active = user.is_staff = user.is_superuser = False
    user.closed_at = timezone.now()
    user.save()
    destroy_key(owner_for("user", user.pk))
    record_events(ended)


def _access_ended_at_closure(user: User) -> list[NewEvent]:
    """An agent's roles and an operator's console rights end with their account: entries like
    an admin's withdrawal, with the person as the actor, so the log says when their access to
    others' data ended."""
    actor = Actor(ActorKind.CITIZEN, user.pk)
    held = Membership.objects.filter(user=user).values_list("organisation_id", "role")
    events = [
        _membership_event(LogAction.MEMBERSHIP_REVOKED, actor, user.pk, org, role, OWN_REQUEST)
        for org, role in held
    ]
    dropped: dict[str, object] = {
        name: False for name in ("is_staff", "is_superuser") if getattr(user, name)
    }
    if dropped:
        events.append(
            _account_event(LogAction.PRIVILEGES_CHANGED, actor, user.pk, dropped, OWN_REQUEST)
        )
    return events


@transaction.atomic
def do_create_organisation(
    *, slug: str, name: str, kind: str, parent: Organisation | None = None
) -> Organisation:
    organisation = Organisation(slug=slug, name=name, kind=kind, parent=parent)
    organisation.full_clean()
    organisation.save()
    return organisation


# Roles decide who sees citizens' dossiers, and the platform flags who runs the console: every
# change of either is an entry of the log, naming the platform admin who made it (or the system,
# for the demo and scripts), with the person whose access changed as its subject.
PRIVILEGE_FLAGS = ("is_active", "is_staff", "is_superuser")


def _admin_actor(by: User | None) -> Actor:
    if by is None:
        return Actor.system()
    return agent_actor(by)


def _membership_event(
    action: LogAction,
    actor: Actor,
    user_id: object,
    organisation_id: object,
    role: str,
    purpose: str = ADMINISTRATION_PURPOSE,
) -> NewEvent:
    details: dict[str, object] = {"organisation": str(organisation_id), "role": role}
    return _account_event(action, actor, user_id, details, purpose)


def _check_role(role: str) -> None:
    if role not in Role.values:
        message = _("Choose a role from the list.")
        raise ActionError(message, {"role": [message]})


@transaction.atomic
def do_add_membership(
    user: User, organisation: Organisation, role: str, *, by: User | None = None
) -> Membership:
    """Give `user` a role in `organisation`; `by` is the platform admin who grants it (None for
    the demo and scripts, logged as the system). Granting a role held already changes nothing."""
    _check_role(role)
    membership, created = Membership.objects.get_or_create(
        user=user, organisation=organisation, role=role
    )
    if created:
        record_events(
            [
                _membership_event(
                    LogAction.MEMBERSHIP_GRANTED, _admin_actor(by), user.pk, organisation.pk, role
                )
            ]
        )
    return membership


@transaction.atomic
def do_change_membership(
    by: User, membership_id: int, *, user: User, organisation: Organisation, role: str
) -> Membership:
    """Change who holds a role, where, or which role. In the log it is what it does to access:
    the old role withdrawn, the new one granted (two entries, each about its own person, since
    the admin may move a role from one account to another)."""
    _check_role(role)
    membership = Membership.objects.select_for_update().filter(pk=membership_id).first()
    if membership is None:
        raise Http404
    old = (membership.user_id, membership.organisation_id, membership.role)
    new = (user.pk, organisation.pk, role)
    if old == new:
        return membership
    taken = Membership.objects.filter(user=user, organisation=organisation, role=role)
    if taken.exclude(pk=membership.pk).exists():
        message = _("This person already holds this role in this organisation.")
        raise ActionError(message, {"role": [message]})
    membership.user, membership.organisation, membership.role = user, organisation, role
    membership.save(update_fields=["user", "organisation", "role"])
    record_events(
        [
            _membership_event(LogAction.MEMBERSHIP_REVOKED, _admin_actor(by), *old),
            _membership_event(LogAction.MEMBERSHIP_GRANTED, _admin_actor(by), *new),
        ]
    )
    return membership


@transaction.atomic
def do_revoke_membership(by: User | None, membership_id: int) -> bool:
    """Withdraw a role; False if it was gone already (nothing to log)."""
    membership = Membership.objects.select_for_update().filter(pk=membership_id).first()
    if membership is None:
        return False
    held = (membership.user_id, membership.organisation_id, membership.role)
    membership.delete()
    record_events([_membership_event(LogAction.MEMBERSHIP_REVOKED, _admin_actor(by), *held)])
    return True


@transaction.atomic
def do_delete_organisation(by: User, organisation: Organisation) -> None:
    """Delete an organisation (its procedures, dossiers and sub-organisations protect it: the
    caller checks first), withdrawing its roles one by one so each is in the log."""
    for membership_id in Membership.objects.filter(organisation=organisation).values_list(
        "pk", flat=True
    ):
        do_revoke_membership(by, membership_id)
    organisation.delete()


@transaction.atomic
def do_set_privileges(
    by: User, user: User, *, is_active: bool, is_staff: bool, is_superuser: bool
) -> User:
    """Set an account's platform flags: active (may sign in), staff (enters the console and the
    security alerts), superuser (every permission of the console). Logged when any changes, with
    the new value of each flag that changed."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    wanted = {"is_active": is_active, "is_staff": is_staff, "is_superuser": is_superuser}
    changed = {name: value for name, value in wanted.items() if getattr(locked, name) != value}
    for name, value in wanted.items():
        setattr(user, name, value)
    if not changed:
        return user
    for name, value in changed.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(changed))
    record_events(
        [_account_event(LogAction.PRIVILEGES_CHANGED, _admin_actor(by), user.pk, dict(changed))]
    )
    return user


EMAIL_MAX = 254


def check_sign_in_email(user: User, email: str) -> str:
    """The address `user` would sign in with, normalised as accounts are created (lower case),
    or ValidationError. No other account may use it, in any case, nor hold it in allauth's
    table of addresses (sign-in and password resets look accounts up there too)."""
    from allauth.account.models import EmailAddress

    email = email.strip().lower()
    if "\x00" in email:
        raise ValidationError(_("Null characters are not allowed."))
    if len(email) > EMAIL_MAX:
        raise ValidationError(_("At most %(limit)d characters.") % {"limit": EMAIL_MAX})
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(_("Enter a valid email address.")) from None
    taken = User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists()
    if taken or EmailAddress.objects.filter(email__iexact=email).exclude(user=user).exists():
        raise ValidationError(_("Another account already uses this email address."))
    return email


@transaction.atomic
def do_change_email(by: User, user: User, email: str) -> User:
    """A platform admin changes the address an account signs in with. It is the login and where
    password resets go, so changing it can hand the account to whoever reads the new address:
    logged, naming the admin. The entry says that the address changed, never the old or the new
    one (the log is public and permanent, as for the security contact). The old address stops
    signing in at once; the new one is confirmed by email at the next sign-in, as at sign-up."""
    from allauth.account.models import EmailAddress

    try:
        email = check_sign_in_email(user, email)
    except ValidationError as error:
        raise ActionError(error.messages[0], {"email": error.messages}) from None
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.email.lower() == email:
        # Addresses are compared without case when signing in: a change of case changes nothing.
        user.email = locked.email
        return user
    user.email = email
    locked.email = email
    locked.save(update_fields=["email"])
    # allauth signs people in and sends password resets by the addresses of this table too: the
    # old one must go with the change, or it would still open the account.
    EmailAddress.objects.filter(user=locked).exclude(email=email).delete()
    EmailAddress.objects.update_or_create(user=locked, email=email, defaults={"primary": True})
    record_events([_account_event(LogAction.EMAIL_CHANGED, _admin_actor(by), user.pk, {})])
    return user


@transaction.atomic
def do_set_password(by: User, user: User, password: str | None) -> User:
    """A platform admin sets an account's password, or turns password sign-in off (None).
    Whoever knows the password may sign in (with the second factor, for agents): logged, naming
    the admin, saying only whether password sign-in is on. Never the password or its hash."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if password is None:
        locked.set_unusable_password()
    else:
        try:
            validate_password(password, locked)
        except ValidationError as error:
            raise ActionError(error.messages[0], {"password": error.messages}) from None
        locked.set_password(password)
    locked.save(update_fields=["password"])
    user.password = locked.password
    details: dict[str, object] = {"password_sign_in": password is not None}
    record_events([_account_event(LogAction.PASSWORD_CHANGED, _admin_actor(by), user.pk, details)])
    return user


@transaction.atomic
def do_set_security_contact(by: User, organisation: Organisation, email: str) -> Organisation:
    """Where the security alerts about this organisation's agents go ("" for none: its parent's
    contact then, and the platform admins' page in any case). Logged; the address itself is not
    put in the permanent log, only whether one is set."""
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            message = _("Enter a valid email address.")
            raise ActionError(message, {"security_email": [message]}) from None
    if len(email) > 254:
        message = _("At most 254 characters.")
        raise ActionError(message, {"security_email": [message]})
    organisation.security_email = email
    organisation.save(update_fields=["security_email"])
    record_event(
        LogAction.SECURITY_CONTACT_CHANGED,
        actor=agent_actor(by, organisation.pk, organisation.name),
        object_type="organisation",
        object_id=organisation.pk,
        purpose=ADMINISTRATION_PURPOSE,
        details={"contact_set": bool(email)},
    )
    return organisation
