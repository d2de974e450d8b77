"""The only way to load a dossier or an attachment, and the only door to its personal data.

Every check is here, one condition a line. Someone who may not know a dossier exists gets Http404
(never 403): the answer must not reveal that the identifier is real. Someone who may see it but
not do the action gets PermissionDenied.

Loading a dossier gives its rows with their contents still sealed. The `read_*` and `open_*`
functions below decrypt them, each after checking again that the reader may see the dossier, and
each through `_note_read`, where the transparency log will record who read what.
"""

import base64
import binascii
import datetime
import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from guichet import rows
from guichet.catalog.models import Procedure
from guichet.catalog.workflow_def import (
    ASSIGN_SELF,
    DECISION_OUTCOMES,
    STATE_NAME,
    TransitionDef,
    Workflow,
)
from guichet.dossiers import journal
from guichet.dossiers.models import (
    Attachment,
    Dossier,
    DossierEvent,
    DossierIndex,
    Message,
    queue_unit,
)
from guichet.dossiers.workflow import (
    APPLICANT,
    Action,
    State,
    workflow_of,
    workflow_of_procedure,
)
from guichet.errors import Unavailable
from guichet.identity.models import Organisation, Role, User
from guichet.identity.service import (
    AnyUser,
    ClosurePlan,
    ExportFile,
    ExportPart,
    Kept,
    Profile,
    open_names,
    open_profile,
    organisations_with_role,
    roles_in,
)
from guichet.vault.service import (
    DecryptingReader,
    InvalidIndexValue,
    KeyDestroyed,
    VaultError,
    blind_index,
    decrypt_chunks,
    decrypt_json,
    decrypt_text,
    normalise,
    open_attachment,
    owner_for,
)

INSTRUCTION_ROLES = {Role.INSTRUCTOR, Role.SUPERVISOR}
MAX_FIND_LENGTH = 200
# The kinds a search value is tried as; each kind's normaliser says whether the value fits.
FIND_KINDS = (DossierIndex.Kind.NATIONAL_ID, DossierIndex.Kind.EMAIL, DossierIndex.Kind.PHONE)
# Reading actions; transitions are checked through the workflow table.
VIEW = "view"
EDIT = "edit"
MESSAGE = "message"
INSTRUCT = "instruct"


def _is_applicant(user: AnyUser, dossier: Dossier) -> bool:
    return isinstance(user, User) and user.is_active and dossier.applicant_id == user.pk


def agent_roles(user: AnyUser, dossier: Dossier) -> set[str]:
    """The roles the user holds over this dossier. A dossier routed to a team is the team's:
    its agents' roles count, and the organisation's supervisors keep theirs (they oversee every
    team); the organisation's other agents have none. Otherwise, the organisation's roles."""
    if dossier.team_id is None:
        return roles_in(user, dossier.organisation_id)
    held = roles_in(user, dossier.team_id)
    if Role.SUPERVISOR in roles_in(user, dossier.organisation_id):
        held.add(Role.SUPERVISOR)
    return held


def _is_instructor(user: AnyUser, dossier: Dossier) -> bool:
    if dossier.state == State.DRAFT:
        return False  # a draft is the applicant's own business until it is submitted
    if dossier.applicant_id == user.pk:
        return False  # an agent filing with their own administration may not judge their case
    # Only instructors and supervisors see dossiers, whatever roles a workflow names: a workflow
    # stored before designer and org_admin were refused there (catalog/workflow_def.py,
    # DESIGN_ROLES) must not let the role that wrote it read applicants' data.
    return bool(agent_roles(user, dossier) & INSTRUCTION_ROLES)


def can_see(user: AnyUser, dossier: Dossier) -> bool:
    return _is_applicant(user, dossier) or _is_instructor(user, dossier)


def is_entitled(user: AnyUser, dossier: Dossier, action: str) -> bool:
    """Whether the user's part in the dossier lets them fire `action` at all, whatever its
    state: telling "not yours to do" (403) from "no longer possible" (409)."""
    transition = workflow_of(dossier).transition(action)
    if transition is None:
        return False
    if transition.by_applicant and _is_applicant(user, dossier):
        return True
    return _is_instructor(user, dossier) and bool(agent_roles(user, dossier) & transition.by)


def can_fire(user: AnyUser, dossier: Dossier, action: str) -> bool:
    if not is_entitled(user, dossier, action):
        return False
    transition = workflow_of(dossier).transition(action)
    if transition is None or dossier.state not in transition.sources:
        return False
    already_theirs = transition.assign == ASSIGN_SELF and dossier.assigned_to_id == user.pk
    return not already_theirs


def get_abilities(user: AnyUser, dossier: Dossier) -> dict[str, bool]:
    """What this user may do with this dossier: used by pages, API and access checks alike.
    Every transition of the dossier's workflow is a key (the default's always are)."""
    applicant = _is_applicant(user, dossier)
    instructor = _is_instructor(user, dossier)
    workflow = workflow_of(dossier)
    state = workflow.state(dossier.state)
    abilities = {
        VIEW: applicant or instructor,
        EDIT: applicant and state is not None and state.editable,
        "delete": applicant and dossier.state == State.DRAFT,
        MESSAGE: (applicant and dossier.state != State.DRAFT) or instructor,
        INSTRUCT: instructor,
    }
    for action in Action.values:
        abilities[action] = False
    for transition in workflow.transitions:
        abilities[transition.name] = can_fire(user, dossier, transition.name)
    return abilities


def agent_transitions(user: AnyUser, dossier: Dossier) -> list[TransitionDef]:
    """The transitions this agent may fire now, in the workflow's order: what their page and
    the API offer them, each saying whether it needs a reason."""
    if not _is_instructor(user, dossier):
        return []
    return [
        t
        for t in workflow_of(dossier).transitions
        if t.by - {APPLICANT} and can_fire(user, dossier, t.name)
    ]


def is_overdue(dossier: Dossier, now: datetime.datetime) -> bool:
    """Past its statutory or step deadline, with the administration (a dossier waiting on the
    applicant has its clock stopped) and not yet closed."""
    if dossier.state == State.DRAFT or dossier.closed_at or dossier.paused_at:
        return False
    return any(due is not None and due < now for due in (dossier.due_at, dossier.step_due_at))


def _overdue_q(now: datetime.datetime) -> Q:
    late = Q(due_at__lt=now) | Q(step_due_at__lt=now)
    return late & Q(paused_at__isnull=True, closed_at__isnull=True)


# The dossier with what every check and answer reads from it, in one statement built once
# (guichet/rows.py): loading a dossier is the first thing nearly every request does.
_DOSSIER = rows.Select(
    Dossier,
    ("procedure", "procedure__organisation", "applicant", "assigned_to", "team"),
    where="{id} = %s",
    params=("id",),
)


_ATTACHMENTS = rows.Select(
    Attachment, where="{dossier} = %s ORDER BY {created_at}", params=("dossier",)
)
_EVENTS = rows.Select(DossierEvent, where="{dossier} = %s ORDER BY {at}, {id}", params=("dossier",))


def attachments_of(dossier: Dossier) -> list[Attachment]:
    """The dossier's attachments, read once per loaded dossier: a submission checks the files
    its form requires, then lists them in its answer. For actions, on a dossier they loaded
    through access_dossier; pages and the API read them with read_attachments."""
    found = rows.remembered(dossier, "attachments")
    if found is None:
        found = _ATTACHMENTS.all(dossier.pk)
        rows.remember_related(dossier, "attachments", found)
    return found


def _load(dossier_id: UUID | str, *, for_update: bool = False) -> Dossier:
    try:
        key = UUID(str(dossier_id))
    except ValueError:
        raise Http404 from None
    dossier = _DOSSIER.one(key, lock=for_update)
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
    with vault_errors():
        _open_attachment_name(attachment)
    return dossier, attachment


def applicant_dossiers(user: AnyUser) -> QuerySet[Dossier]:
    if not isinstance(user, User):
        return Dossier.objects.none()
    return (
        Dossier.objects.filter(applicant=user)
        .select_related("procedure", "applicant", "assigned_to", "team")
        .order_by("-updated_at")
    )


def count_drafts(procedure: Procedure) -> int:
    """Drafts in progress for a procedure, whatever their version (no content is read); test
    dossiers are the designer's and do not hold a version back."""
    return Dossier.objects.filter(procedure=procedure, state=State.DRAFT, is_test=False).count()


@dataclass
class QueueFilters:
    procedure: str = ""
    state: str = ""
    mine: bool = False
    overdue: bool = False
    # Dossiers in a step only a supervisor acts on (a multi-level approval's decision).
    awaiting_decision: bool = False
    # An exact national id, email or phone (any format): matched through the blind indexes.
    find: str = ""
    # Test dossiers (filed from the designer pages) instead of real ones.
    test: bool = False


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


QUEUE_DEFERRED = (
    "procedure__summary",
    "procedure__legal_basis",
    "procedure__form",
    "procedure__search_text",
    # JSON decoded for each of the page's rows and never shown in a queue.
    "procedure__applicant_kinds",
    "procedure__fees",
    "procedure__eligibility",
    "procedure__data_protection",
)


def instruction_queue(
    user: AnyUser, filters: QueueFilters, cursor: str = "", limit: int = 25
) -> QueuePage:
    """Dossiers of the user's organisations awaiting instruction, soonest deadline first.

    Keyset pagination on (due_at, id): page 400 costs what page 1 costs. One query per queue
    the user sees (an organisation's or a team's, see _queue_units), each walking an index in
    (due_at, id) order and stopping after a page; the pages are merged here.
    """
    dossiers = Dossier.objects.alias(unit=queue_unit()).exclude(state=State.DRAFT)
    dossiers = dossiers.filter(is_test=filters.test)
    if isinstance(user, User):
        dossiers = dossiers.exclude(applicant=user)  # see _is_instructor: not their own case
    if filters.state in _known_states(filters.state, user):
        dossiers = dossiers.filter(state=filters.state)
    elif not filters.find:  # a search looks at decided dossiers too
        dossiers = dossiers.filter(closed_at__isnull=True)
    dossiers = dossiers.filter(due_at__isnull=False)
    if filters.find:
        dossiers = dossiers.filter(_found(filters.find))
        _note_read(user, None, "search")
    if filters.procedure:
        dossiers = dossiers.filter(procedure__slug=filters.procedure)
    if filters.mine and isinstance(user, User):
        dossiers = dossiers.filter(assigned_to=user)
    if filters.overdue:
        # The clock stops while the applicant has the dossier back (changes requested).
        dossiers = dossiers.filter(_overdue_q(timezone.now()))
    if filters.awaiting_decision:
        dossiers = dossiers.filter(_awaiting_decision(user))
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        due, key = position
        # The first term bounds the index range; the second is the keyset's tie-break.
        dossiers = dossiers.filter(Q(due_at__gte=due), Q(due_at__gt=due) | Q(id__gt=key))
    # The procedure's form and texts are not shown in a queue: decoding their JSON for every row
    # was most of a page's time. Its workflow stays: rows show its state labels and overdue flag.
    dossiers = (
        dossiers.select_related("procedure", "applicant", "assigned_to", "team")
        .defer(*QUEUE_DEFERRED)
        .order_by("due_at", "id")
    )
    # A search finds a handful of dossiers through the blind indexes: one query is enough.
    units = [_visible_to(user)] if filters.find else _queue_units(user)
    rows = _merged([list(dossiers.filter(unit)[: limit + 1]) for unit in units], limit + 1)
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(dossiers=rows[:limit], next_cursor=next_cursor)


def _visible_to(user: AnyUser) -> Q:
    """The queue's share of _is_instructor, in SQL: dossiers of the user's organisations that
    no team took, those of the user's teams, and every dossier of organisations they supervise."""
    instructing = organisations_with_role(user, INSTRUCTION_ROLES)
    supervised = organisations_with_role(user, {Role.SUPERVISOR})
    return (
        Q(organisation_id__in=instructing, team__isnull=True)
        | Q(team_id__in=instructing)
        | Q(organisation_id__in=supervised)
    )


def _queue_units(user: AnyUser) -> list[Q]:
    """_visible_to as one condition per queue, each matching an index that gives (due_at, id)
    order (an OR of them gives none: PostgreSQL then sorts every open dossier of the
    organisation for each page). The "unit" alias is queue_unit(): team, else organisation,
    so "unit = X" is "organisation = X AND team IS NULL OR team = X". Queues may overlap (a
    supervisor who also instructs): _merged drops the repeats."""
    instructing = organisations_with_role(user, INSTRUCTION_ROLES)
    supervised = organisations_with_role(user, {Role.SUPERVISOR})
    return [Q(organisation_id=org) for org in sorted(supervised)] + [
        Q(unit=unit) for unit in sorted(instructing)
    ]


def _merged(pages: Sequence[list[Dossier]], size: int) -> list[Dossier]:
    """The first `size` dossiers of pages each sorted by (due_at, id), without repeats."""
    rows: list[Dossier] = []
    seen: set[UUID] = set()
    for dossier in heapq.merge(*pages, key=lambda d: (d.due_at, d.pk)):
        if dossier.pk in seen:
            continue
        seen.add(dossier.pk)
        rows.append(dossier)
        if len(rows) == size:
            break
    return rows


def _workflows(user: AnyUser) -> Iterator[tuple[Procedure, Workflow]]:
    """The workflows of the procedures the user's queues can hold, in one query: those of the
    organisations they instruct in or supervise, and of the organisations above their teams (a
    team is a child of its dossiers' organisation, which is their procedure's). Read from the
    procedures, not the dossiers: finding three procedures among a million dossiers took
    seconds."""
    units = organisations_with_role(user, INSTRUCTION_ROLES | {Role.SUPERVISOR})
    above_teams = Organisation.objects.filter(pk__in=units).values("parent_id")
    procedures = Procedure.objects.filter(
        Q(organisation_id__in=units) | Q(organisation_id__in=above_teams)
    ).only("id", "version", "workflow")
    for procedure in procedures:
        yield procedure, workflow_of_procedure(procedure)


def _known_states(state: str, user: AnyUser) -> set[str]:
    """The states but the draft of the workflows of the user's queues; an unknown state
    filters nothing (as an empty one), a known one no dossier is in shows an empty page."""
    if not state or state == State.DRAFT or not STATE_NAME.match(state):
        return set()
    return {name for _p, workflow in _workflows(user) for name in workflow.states} - {State.DRAFT}


def _awaiting_decision(user: AnyUser) -> Q:
    """Dossiers in a state of their workflow where supervisors act and instructors do not: one
    query for the procedures concerned, whatever the number of dossiers."""
    matches = Q(pk__in=[])
    for procedure, workflow in _workflows(user):
        states = [
            name
            for name, state in workflow.states.items()
            if Role.SUPERVISOR in state.actors and Role.INSTRUCTOR not in state.actors
        ]
        if states:
            matches |= Q(procedure_id=procedure.pk, state__in=states)
    return matches


def _flag(params: Any, name: str) -> bool:
    return str(params.get(name, "")).lower() in {"1", "true", "on", "yes"}


def parse_filters(params: Any) -> QueueFilters:
    return QueueFilters(
        procedure=str(params.get("procedure", "") or "")[:80],
        state=str(params.get("state", "") or "")[:20],
        mine=_flag(params, "mine"),
        overdue=_flag(params, "overdue"),
        awaiting_decision=_flag(params, "awaiting_decision"),
        find=str(params.get("find", "") or "").strip()[:MAX_FIND_LENGTH],
        test=str(params.get("test", "")).lower() in {"1", "true", "on", "yes"},
    )


# --- Reading what is sealed ---------------------------------------------------------------------


def owner_of(dossier_id: Any) -> str:
    """The vault owner whose data key seals everything of this dossier."""
    return owner_for("dossier", dossier_id)


def _note_read(user: AnyUser, dossier: Dossier | None, what: str, object_id: object = "") -> None:
    """Record a read of personal data in the transparency log: who, which dossier, what
    (answers, history, messages, documents, a file, a decision document, the applicant's profile
    or name, a search).

    Called after the permission check, for every reader; journal.log_read keeps what matters
    (someone other than the applicant opening the dossier or downloading a file). A search by
    exact value names no dossier until one is opened, which is then logged.
    """
    if dossier is not None:
        journal.log_read(user, dossier, what, object_id)


@contextmanager
def vault_errors() -> Iterator[None]:
    """A vault failure becomes a clean refusal: a destroyed key means the dossier (and its
    documents) was erased meanwhile (404); anything else (key service out of reach) is a 503,
    never garbage. The documents' readers use it too."""
    try:
        yield
    except KeyDestroyed:
        raise Http404 from None
    except VaultError as error:
        raise Unavailable(
            _("Your data cannot be read right now. Please try again in a few minutes.")
        ) from error


def _require_sight(user: AnyUser, dossier: Dossier) -> None:
    # Readers take a dossier already loaded through access_dossier; checking again costs no
    # query and makes a reader that skipped the door fail instead of leaking.
    if not can_see(user, dossier):
        raise Http404


def _open_answers(dossier: Dossier) -> dict[str, Any]:
    if dossier.answers_sealed is None:
        return {}
    answers = decrypt_json(owner_of(dossier.pk), dossier.pk, "answers", dossier.answers_sealed)
    if not isinstance(answers, dict):
        raise VaultError("Sealed answers are not a mapping.")
    return answers


def read_answers(user: AnyUser, dossier: Dossier) -> dict[str, Any]:
    _require_sight(user, dossier)
    _note_read(user, dossier, "answers")
    with vault_errors():
        dossier.answers = _open_answers(dossier)
    return dossier.answers


def _who(dossier: Dossier, by_administration: bool, agent_name: str) -> str:
    # The applicant's entries name them by reference: their profile's name (opened with
    # open_names), "Closed account" once they left. Agents' names are kept as snapshots.
    return agent_name if by_administration else dossier.applicant.display_name


def _open_event(dossier: Dossier, event: DossierEvent) -> DossierEvent:
    event.actor_display = _who(dossier, event.by_administration, event.actor_name)
    event.comment = (
        decrypt_text(owner_of(dossier.pk), event.uid, "comment", event.comment_sealed)
        if event.comment_sealed is not None
        else ""
    )
    return event


def read_history(user: AnyUser, dossier: Dossier) -> list[DossierEvent]:
    _require_sight(user, dossier)
    _note_read(user, dossier, "history")
    with vault_errors():
        open_names([dossier.applicant])
        return [_open_event(dossier, event) for event in _EVENTS.all(dossier.pk)]


def _open_message(dossier: Dossier, message: Message) -> Message:
    message.author_display = _who(dossier, message.from_administration, message.author_name)
    message.body = decrypt_text(owner_of(dossier.pk), message.pk, "body", message.body_sealed)
    return message


def read_thread(user: AnyUser, dossier: Dossier) -> list[Message]:
    _require_sight(user, dossier)
    _note_read(user, dossier, "messages")
    with vault_errors():
        open_names([dossier.applicant])
        return [_open_message(dossier, message) for message in dossier.messages.all()]


def _open_attachment_name(attachment: Attachment) -> Attachment:
    attachment.original_name = decrypt_text(
        owner_of(attachment.dossier_id), attachment.pk, "name", attachment.name_sealed
    )
    return attachment


def read_attachments(user: AnyUser, dossier: Dossier) -> list[Attachment]:
    _require_sight(user, dossier)
    _note_read(user, dossier, "documents")
    with vault_errors():
        return [_open_attachment_name(a) for a in attachments_of(dossier)]


def read_file(user: AnyUser, dossier: Dossier, attachment: Attachment) -> DecryptingReader:
    """The attachment's plaintext as a seekable reader for FileResponse, decrypted chunk by
    chunk as it is sent. A missing file raises FileNotFoundError."""
    _require_sight(user, dossier)
    if attachment.dossier_id != dossier.pk:
        raise Http404
    _note_read(user, dossier, "file", attachment.pk)
    source = attachment.file.storage.open(str(attachment.file.name), "rb")
    try:
        with vault_errors():
            return open_attachment(source, owner_of(dossier.pk), attachment.pk, "file")
    except BaseException:
        source.close()
        raise


def _file_chunks(attachment: Attachment) -> Iterator[bytes]:
    with attachment.file.storage.open(str(attachment.file.name), "rb") as source:
        yield from decrypt_chunks(source, owner_of(attachment.dossier_id), attachment.pk, "file")


def read_applicant(user: AnyUser, dossier: Dossier) -> Profile:
    """The applicant's profile (name, phone, national id), for the people instructing it."""
    _require_sight(user, dossier)
    _note_read(user, dossier, "applicant_profile")
    with vault_errors():
        return open_profile(dossier.applicant)


def open_people(user: AnyUser, dossiers: Sequence[Dossier]) -> None:
    """Open the applicant's and the instructor's names of dossiers the user was allowed to list,
    every key they need unwrapped in one query."""
    for dossier in dossiers:
        _require_sight(user, dossier)
        _note_read(user, dossier, "names")
    with vault_errors():
        open_names(person for d in dossiers for person in (d.applicant, d.assigned_to))


def note_document_read(user: AnyUser, dossier: Dossier, document_id: object) -> None:
    """Before a decision document of the dossier (a certificate, a decision letter: the documents
    app keeps them) is opened for `user`: sight checked again and the download recorded, as
    read_file does for attachments. documents.access.read_document calls it, since the dossier's
    entries in the log are written by this app."""
    _require_sight(user, dossier)
    _note_read(user, dossier, "document", document_id)


@dataclass(frozen=True)
class DecisionContent:
    """What the platform reads of a decided dossier to write its decision document."""

    answers: dict[str, Any]
    # The reasons given with the decision (a rejection's), "" if none.
    comment: str
    # "" once the applicant closed their account.
    applicant_name: str


def read_for_decision_document(dossier: Dossier) -> DecisionContent:
    """The platform's own read of a decided dossier, to issue the document its decision promised
    (documents.service, in the background worker). There is no user: the door is that the
    dossier is decided, nothing else opens.

    It writes no read entry in the transparency log, deliberately. The log records reads by
    someone other than the citizen (journal.READS: an agent opening the dossier, a download, an
    export), and every read code names a person who looked. Here nobody looks: the platform
    renders a document for the citizen. What it did is in the log already, once, as "Sealed
    document issued" by the system actor, in the transaction that stores the document
    (documents.actions). A read entry would have to name someone who read nothing (it used to
    name the agent who decided) and would be written again by every retry of the task.
    """
    if dossier.outcome not in DECISION_OUTCOMES:
        raise PermissionDenied
    # The transition into the final state, whatever the workflow names it (a tacit decision
    # included); the latest, should a dossier ever be decided twice.
    decision = (
        DossierEvent.objects.filter(
            dossier=dossier, kind=DossierEvent.Kind.TRANSITION, to_state=dossier.state
        )
        .order_by("-at", "-id")
        .first()
    )
    with vault_errors():
        answers = _open_answers(dossier)
        comment = (
            decrypt_text(owner_of(dossier.pk), decision.uid, "comment", decision.comment_sealed)
            if decision is not None and decision.comment_sealed is not None
            else ""
        )
        open_names([dossier.applicant])
    return DecisionContent(answers, comment, dossier.applicant.opened_name or "")


# --- Finding a dossier by an exact value ---------------------------------------------------------


def _found(value: str) -> Q:
    """Dossiers whose indexed answers (or the applicant's sign-in email) equal the value, for
    every kind the value can be read as. A value that fits no kind matches nothing."""
    matches = Q(pk__in=[])
    for kind in FIND_KINDS:
        try:
            digest = blind_index(kind, value)
        except InvalidIndexValue:
            continue
        matches |= Q(pk__in=DossierIndex.objects.filter(kind=kind, digest=digest).values("dossier"))
        if kind == DossierIndex.Kind.EMAIL:
            matches |= Q(applicant__email__iexact=normalise(kind, value))
    return matches


# --- Account closure, export and retention -------------------------------------------------------


def _label(dossier: Dossier) -> str:
    number = dossier.number or _("Draft")
    return f"{number} — {dossier.procedure.display_title}"


def erasure_date(dossier: Dossier) -> datetime.datetime | None:
    """When the retention rules erase this dossier: the procedure's retention period after its
    final state, a draft left untouched for GUICHET_DRAFT_RETENTION_DAYS, never while open."""
    if dossier.outcome and dossier.closed_at is not None:
        return dossier.closed_at + datetime.timedelta(days=dossier.procedure.retention_days)
    if dossier.state == State.DRAFT:
        return dossier.updated_at + datetime.timedelta(days=draft_retention_days())
    return None


def draft_retention_days() -> int:
    return int(getattr(settings, "GUICHET_DRAFT_RETENTION_DAYS", 180))


def closure_verdict(dossier: Dossier, now: datetime.datetime) -> Kept | None:
    """None if closing the applicant's account erases this dossier now; else what is kept, why
    and until when. Drafts and withdrawn applications go; a decision is a record the
    administration must keep for the procedure's retention period; an open application stays
    with the administration until its decision, then the same period runs."""
    days = dossier.procedure.retention_days
    if dossier.outcome in DECISION_OUTCOMES:
        until = erasure_date(dossier)
        if until is None or until <= now:
            return None
        return Kept(
            _label(dossier),
            _("The administration must keep its decisions for %(days)d days.") % {"days": days},
            timezone.localdate(until),
        )
    if not dossier.outcome and dossier.state != State.DRAFT:
        return Kept(
            _label(dossier),
            _(
                "It is being instructed: it is kept until the decision, then for %(days)d days "
                "as the administration must keep its decisions."
            )
            % {"days": days},
        )
    return None


def own_dossiers_for_closure(user: User, *, for_update: bool = False) -> list[Dossier]:
    dossiers = Dossier.objects.filter(applicant=user).select_related(
        "procedure", "procedure__organisation"
    )
    if for_update:
        dossiers = dossiers.select_for_update(of=("self",))
    return list(dossiers.order_by("created_at"))


def closure_plan(user: User) -> ClosurePlan:
    now = timezone.now()
    erased: list[str] = []
    kept: list[Kept] = []
    for dossier in own_dossiers_for_closure(user):
        verdict = closure_verdict(dossier, now)
        if verdict is None:
            erased.append(_label(dossier))
        else:
            kept.append(verdict)
    return ClosurePlan(erased=erased, kept=kept)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]+", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return cleaned[:100] or "document"


def export_dossiers(user: User) -> ExportPart:
    """Everything about the user's own applications: answers, history, messages, documents."""
    data: list[dict[str, Any]] = []
    files: list[ExportFile] = []
    for dossier in applicant_dossiers(user).select_related("procedure__organisation"):
        folder = f"dossiers/{dossier.number or dossier.pk}"
        documents = []
        for attachment in read_attachments(user, dossier):
            path = f"{folder}/{attachment.pk.hex[:8]}-{_safe_name(attachment.original_name)}"
            _note_read(user, dossier, "file")
            files.append(ExportFile(path, partial(_file_chunks, attachment)))
            documents.append(
                {
                    "field": attachment.field,
                    "name": attachment.original_name,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "sha256": attachment.sha256,
                    "uploaded_at": attachment.created_at.isoformat(),
                    "file": path,
                }
            )
        data.append(
            {
                "id": str(dossier.pk),
                "number": dossier.number,
                "procedure": dossier.procedure.slug,
                "procedure_title": dossier.procedure.display_title,
                "administration": dossier.procedure.organisation.name,
                "state": dossier.state,
                "created_at": dossier.created_at.isoformat(),
                "submitted_at": _iso(dossier.submitted_at),
                "decided_at": _iso(dossier.decided_at),
                "closed_at": _iso(dossier.closed_at),
                "erased_on": _iso(erasure_date(dossier)),
                "answers": read_answers(user, dossier),
                "history": [
                    {
                        "at": event.at.isoformat(),
                        "actor": event.actor_display,
                        "by_administration": event.by_administration,
                        "kind": event.kind,
                        "action": event.action,
                        "from_state": event.from_state,
                        "to_state": event.to_state,
                        "comment": event.comment,
                    }
                    for event in read_history(user, dossier)
                ],
                "messages": [
                    {
                        "at": message.created_at.isoformat(),
                        "author": message.author_display,
                        "from_administration": message.from_administration,
                        "body": message.body,
                    }
                    for message in read_thread(user, dossier)
                ],
                "documents": documents,
            }
        )
    return ExportPart(data=data, files=files)


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def tacit_due(now: datetime.datetime) -> list[UUID]:
    """Dossiers whose tacit decision date has passed while with the administration."""
    due = Dossier.objects.filter(
        tacit_at__lte=now, closed_at__isnull=True, paused_at__isnull=True
    ).exclude(state=State.DRAFT)
    return list(due.order_by("tacit_at", "pk").values_list("pk", flat=True))


def escalation_due(now: datetime.datetime) -> list[UUID]:
    """Overdue dossiers with a breach not yet escalated (statutory or step deadline)."""
    statutory = Q(due_at__lt=now) & (
        Q(escalated_due_at__isnull=True) | ~Q(escalated_due_at=F("due_at"))
    )
    step = Q(step_due_at__lt=now) & (
        Q(escalated_step_due_at__isnull=True) | ~Q(escalated_step_due_at=F("step_due_at"))
    )
    due = (
        Dossier.objects.filter(statutory | step)
        .filter(closed_at__isnull=True, paused_at__isnull=True)
        .exclude(state=State.DRAFT)
    )
    return list(due.order_by("pk").values_list("pk", flat=True))


@dataclass(frozen=True)
class Due:
    dossier: Dossier
    erase_on: datetime.datetime


def retention_due(now: datetime.datetime, notice_days: int) -> tuple[list[Due], list[Due]]:
    """Dossiers to warn (erased within `notice_days`, applicant not yet told for this period)
    and dossiers to erase now (their date has passed). No decryption: dates and states only."""
    warn: list[Due] = []
    erase: list[Due] = []
    notice = datetime.timedelta(days=notice_days)
    for dossier in _retention_candidates(now + notice):
        erase_on = erasure_date(dossier)
        if erase_on is None or erase_on > now + notice:
            continue
        if erase_on <= now:
            erase.append(Due(dossier, erase_on))
        elif _not_yet_warned(dossier):
            warn.append(Due(dossier, erase_on))
    return warn, erase


def _retention_candidates(horizon: datetime.datetime) -> Iterable[Dossier]:
    """Dossiers whose erasure date is before `horizon`, one query per procedure (each has its
    own retention period) and one for drafts."""
    base = Dossier.objects.select_related("procedure", "applicant").order_by("pk")
    for procedure in Procedure.objects.all():
        cutoff = horizon - datetime.timedelta(days=procedure.retention_days)
        yield from base.filter(procedure=procedure, closed_at__lte=cutoff).exclude(outcome="")
    drafts_cutoff = horizon - datetime.timedelta(days=draft_retention_days())
    yield from base.filter(state=State.DRAFT, updated_at__lte=drafts_cutoff)


def _not_yet_warned(dossier: Dossier) -> bool:
    # "Once" per retention period: a draft edited after the warning starts a new period.
    basis = dossier.closed_at if dossier.outcome else dossier.updated_at
    warned = dossier.retention_notified_at
    return warned is None or (basis is not None and warned < basis)
