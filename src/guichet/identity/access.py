"""Loading identity objects a user may act on, and the one door to people's sealed details.

A person's full name, national identification number and phone are sealed under their own data
key (owner "user:<id>"). They are opened here and nowhere else:

- `read_own_profile(user)`: the person themself (profile page, API, data export);
- `open_names(users)` and `open_profile(subject)`: for other apps, which call them only after
  their own permission check (dossiers/access.py: the applicant's instructors), and which record
  the read there, where they know why it happened.
"""

import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast
from uuid import UUID

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from guichet.errors import Unavailable
from guichet.identity.models import (
    PROFILE_FIELDS,
    ApiToken,
    Membership,
    Organisation,
    Role,
    User,
)
from guichet.vault.service import VaultError, decrypt_text, owner_for, preload

if TYPE_CHECKING:
    from guichet.identity.service import ClosurePlan, Kept


@dataclass(frozen=True)
class Profile:
    full_name: str = ""
    national_id: str = ""
    phone: str = ""


def access_token(user: User, token_id: UUID) -> ApiToken:
    """A user sees only their own tokens; anyone else's is as if it did not exist."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise Http404
    return token


def _open(user: User, field: str) -> str:
    sealed = getattr(user, f"{field}_sealed")
    if sealed is None:
        return ""
    try:
        return decrypt_text(owner_for("user", user.pk), user.pk, field, sealed)
    except VaultError as error:
        # A clean refusal of the request (503), never a name made up or left out silently.
        raise Unavailable(
            _("Your data cannot be read right now. Please try again in a few minutes.")
        ) from error


def _profile(user: User) -> Profile:
    if user.closed_at is not None:
        return Profile()
    values = {field: _open(user, field) for field in PROFILE_FIELDS}
    user.opened_name = values["full_name"]
    return Profile(**values)


def read_own_profile(user: User) -> Profile:
    return _profile(user)


def open_profile(subject: User) -> Profile:
    """Someone else's profile. Only after the caller's own permission check."""
    return _profile(subject)


def open_names(users: Iterable[User | None]) -> None:
    """Open the full names of these users onto them (for `display_name`), unwrapping every key
    they need in one query. Only after the caller's own permission check; agents' names are not
    secret, but citizens' are."""
    pending = [
        user
        for user in users
        if user is not None
        and user.opened_name is None
        and user.closed_at is None
        and user.full_name_sealed is not None
    ]
    try:
        preload(user.full_name_sealed for user in pending)
    except VaultError as error:
        raise Unavailable(
            _("Your data cannot be read right now. Please try again in a few minutes.")
        ) from error
    for user in pending:
        user.opened_name = _open(user, "full_name")


def closure_plan(user: User) -> "ClosurePlan":
    """What closing the account would erase now and keep (and why), for the page to say."""
    from guichet.identity.service import ClosurePlan, account_data

    erased: list[str] = []
    kept: list[Kept] = []
    for participant in account_data().values():
        plan = participant.plan(user)
        erased.extend(plan.erased)
        kept.extend(plan.kept)
    return ClosurePlan(erased=erased, kept=kept)


# --- Data export: one ZIP, streamed --------------------------------------------------------------


class _Sink:
    """Where zipfile writes (it copes with a stream that cannot seek); the generator below hands
    each piece on and forgets it."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        out = b"".join(self.pieces)
        self.pieces.clear()
        return out


def _profile_export(user: User) -> dict[str, Any]:
    profile = read_own_profile(user)
    return {
        "email": user.email,
        "full_name": profile.full_name,
        "national_id": profile.national_id,
        "phone": profile.phone,
        "language": user.language,
        "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
        "memberships": [
            {"organisation": m.organisation.name, "role": m.role}
            for m in Membership.objects.filter(user=user).select_related("organisation")
        ],
        "api_tokens": [
            {
                "name": token.name,
                "prefix": token.prefix,
                "created_at": token.created_at.isoformat(),
                "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
            }
            for token in ApiToken.objects.filter(user=user)
        ],
    }


def export_archive(user: User) -> Iterator[bytes]:
    """Everything the platform holds about `user`: one ZIP with account.json and their files,
    produced piece by piece (files are decrypted chunk by chunk into it, never held whole)."""
    from guichet.identity.service import ExportPart, account_data

    parts: dict[str, ExportPart] = {
        name: participant.export(user) for name, participant in account_data().items()
    }
    document = {
        "exported_at": timezone.now().isoformat(),
        "profile": _profile_export(user),
        **{name: part.data for name, part in parts.items()},
    }
    files = [file for part in parts.values() for file in part.files]
    return _zip(document, [(file.path, file.chunks) for file in files])


def _zip(document: Any, files: list[tuple[str, Callable[[], Iterable[bytes]]]]) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(cast(IO[bytes], sink), "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
        archive.writestr("account.json", text)
        yield sink.drain()
        for path, chunks in files:
            with archive.open(path, "w", force_zip64=True) as entry:
                for chunk in chunks():
                    entry.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def access_organisation_settings(user: User, organisation_id: UUID) -> Organisation:
    """An organisation's settings (its security contact): its org admins and platform admins;
    anyone else gets a 404, like an organisation that does not exist."""
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None or not user.is_active:
        raise Http404
    if user.is_staff:
        return organisation
    if not Membership.objects.filter(
        user=user, organisation=organisation, role=Role.ORG_ADMIN
    ).exists():
        raise Http404
    return organisation
