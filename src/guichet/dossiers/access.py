"""The only way to load a dossier or an attachment. Every check is here, one condition a line.

Someone who may not know a dossier exists gets Http404 (never 403): the answer must not reveal
that the identifier is real. Someone who may see it but not do the action gets PermissionDenied.
"""

import base64
import binascii
import datetime
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from guichet.dossiers.models import Attachment, Dossier
from guichet.dossiers.workflow import (
    AGENT,
    APPLICANT,
    EDITABLE_STATES,
    TRANSITIONS,
    Action,
    State,
)
from guichet.identity.models import Role, User
from guichet.identity.service import AnyUser, organisations_with_role, roles_in

INSTRUCTION_ROLES = {Role.INSTRUCTOR, Role.SUPERVISOR}
# Reading actions; transitions are checked through the workflow table.
VIEW = "view"
EDIT = "edit"
MESSAGE = "message"
INSTRUCT = "instruct"


def _is_applicant(user: AnyUser, dossier: Dossier) -> bool:
    return isinstance(user, User) and user.is_active and dossier.applicant_id == user.pk


def _is_instructor(user: AnyUser, dossier: Dossier) -> bool:
    if dossier.state == State.DRAFT:
        return False  # a draft is the applicant's own business until it is submitted
    if dossier.applicant_id == user.pk:
        return False  # an agent filing with their own administration may not judge their case
    return bool(roles_in(user, dossier.organisation_id) & INSTRUCTION_ROLES)


def can_see(user: AnyUser, dossier: Dossier) -> bool:
    return _is_applicant(user, dossier) or _is_instructor(user, dossier)


def is_entitled(user: AnyUser, dossier: Dossier, action: str) -> bool:
    """Whether the user's part in the dossier lets them fire `action` at all, whatever its
    state: telling "not yours to do" (403) from "no longer possible" (409)."""
    if action not in Action.values:
        return False
    transition = TRANSITIONS[Action(action)]
    if transition.by == APPLICANT:
        return _is_applicant(user, dossier)
    if transition.by == AGENT:
        held = roles_in(user, dossier.organisation_id)
        return _is_instructor(user, dossier) and bool(held & transition.roles)
    return False


def can_fire(user: AnyUser, dossier: Dossier, action: str) -> bool:
    if not is_entitled(user, dossier, action):
        return False
    if dossier.state not in TRANSITIONS[Action(action)].sources:
        return False
    already_theirs = action == Action.TAKE and dossier.assigned_to_id == user.pk
    return not already_theirs


def get_abilities(user: AnyUser, dossier: Dossier) -> dict[str, bool]:
    """What this user may do with this dossier: used by pages, API and access checks alike."""
    applicant = _is_applicant(user, dossier)
    instructor = _is_instructor(user, dossier)
    abilities = {
        VIEW: applicant or instructor,
        EDIT: applicant and dossier.state in EDITABLE_STATES,
        "delete": applicant and dossier.state == State.DRAFT,
        MESSAGE: (applicant and dossier.state != State.DRAFT) or instructor,
        INSTRUCT: instructor,
    }
    for action in Action.values:
        abilities[action] = can_fire(user, dossier, action)
    return abilities


def _load(dossier_id: UUID | str, *, for_update: bool = False) -> Dossier:
    try:
        key = UUID(str(dossier_id))
    except ValueError:
        raise Http404 from None
    dossiers = Dossier.objects.select_related(
        "procedure", "procedure__organisation", "applicant", "assigned_to"
    )
    if for_update:
        # of=("self",) because PostgreSQL cannot lock the nullable side of an outer join.
        dossiers = dossiers.select_for_update(of=("self",))
    dossier = dossiers.filter(pk=key).first()
    if dossier is None:
        raise Http404
    return dossier


def access_dossier(
    user: AnyUser, dossier_id: UUID | str, action: str = VIEW, *, for_update: bool = False
) -> Dossier:
    dossier = _load(dossier_id, for_update=for_update)
    if not can_see(user, dossier):
        raise Http404
    if action != VIEW and not get_abilities(user, dossier).get(action, False):
        raise PermissionDenied
    return dossier


def access_attachment(
    user: AnyUser,
    dossier_id: UUID | str,
    attachment_id: UUID | str,
    action: str = VIEW,
    *,
    for_update: bool = False,
) -> tuple[Dossier, Attachment]:
    dossier = access_dossier(user, dossier_id, action, for_update=for_update)
    try:
        key = UUID(str(attachment_id))
    except ValueError:
        raise Http404 from None
    attachment = Attachment.objects.filter(pk=key, dossier=dossier).first()
    if attachment is None:
        raise Http404
    return dossier, attachment


def applicant_dossiers(user: AnyUser) -> QuerySet[Dossier]:
    if not isinstance(user, User):
        return Dossier.objects.none()
    return (
        Dossier.objects.filter(applicant=user)
        .select_related("procedure", "applicant", "assigned_to")
        .order_by("-updated_at")
    )


@dataclass
class QueueFilters:
    procedure: str = ""
    state: str = ""
    mine: bool = False
    overdue: bool = False


@dataclass
class QueuePage:
    dossiers: list[Dossier]
    next_cursor: str | None


def encode_cursor(dossier: Dossier) -> str:
    due = dossier.due_at.isoformat() if dossier.due_at else ""
    return base64.urlsafe_b64encode(f"{due}|{dossier.pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime.datetime, UUID] | None:
    try:
        due, key = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.datetime.fromisoformat(due), UUID(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def instruction_queue(
    user: AnyUser, filters: QueueFilters, cursor: str = "", limit: int = 25
) -> QueuePage:
    """Dossiers of the user's organisations awaiting instruction, soonest deadline first.

    Keyset pagination on (due_at, id): page 400 costs what page 1 costs.
    """
    organisations = organisations_with_role(user, INSTRUCTION_ROLES)
    dossiers = Dossier.objects.filter(organisation_id__in=organisations).exclude(state=State.DRAFT)
    if isinstance(user, User):
        dossiers = dossiers.exclude(applicant=user)  # see _is_instructor: not their own case
    states = (
        [filters.state]
        if filters.state in State.values
        else list({State.SUBMITTED, State.IN_REVIEW, State.CHANGES_REQUESTED})
    )
    dossiers = dossiers.filter(state__in=states, due_at__isnull=False)
    if filters.procedure:
        dossiers = dossiers.filter(procedure__slug=filters.procedure)
    if filters.mine and isinstance(user, User):
        dossiers = dossiers.filter(assigned_to=user)
    if filters.overdue:
        # The clock stops while the applicant has the dossier back (changes requested).
        dossiers = dossiers.filter(
            due_at__lt=timezone.now(), state__in=[State.SUBMITTED, State.IN_REVIEW]
        )
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        due, key = position
        dossiers = dossiers.filter(Q(due_at__gt=due) | Q(due_at=due, id__gt=key))
    rows = list(
        dossiers.select_related("procedure", "applicant", "assigned_to").order_by("due_at", "id")[
            : limit + 1
        ]
    )
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(dossiers=rows[:limit], next_cursor=next_cursor)


def parse_filters(params: Any) -> QueueFilters:
    return QueueFilters(
        procedure=str(params.get("procedure", "") or "")[:80],
        state=str(params.get("state", "") or ""),
        mine=str(params.get("mine", "")).lower() in {"1", "true", "on", "yes"},
        overdue=str(params.get("overdue", "")).lower() in {"1", "true", "on", "yes"},
    )
