"""The dossiers' entries in the transparency log (guichet.audit): every change of a dossier and
every read of a citizen's data by someone else.

Entries carry no personal data in clear: a citizen is named by their account id only (their
name is personal data and the log can never be erased), agents by their name and
administration, since they act in an official capacity. Details hold states, numbers and ids.
"""

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils.translation import gettext_noop

from guichet.audit.models import Action as LogAction
from guichet.audit.models import ActorKind
from guichet.audit.service import Actor, NewEvent, ReadWatch, record_agent_reads, record_event
from guichet.catalog.models import Procedure
from guichet.catalog.workflow_def import ASSIGN_CHOSEN, ASSIGN_SELF, TransitionDef, Workflow
from guichet.dossiers.models import Dossier
from guichet.dossiers.workflow import Action
from guichet.identity.models import Organisation, User
from guichet.identity.service import AnyUser, agent_actor
from guichet.logs import request_id_var

TRANSITIONS = {
    Action.SUBMIT: LogAction.DOSSIER_SUBMITTED,
    Action.TAKE: LogAction.DOSSIER_TAKEN,
    Action.ASSIGN: LogAction.DOSSIER_ASSIGNED,
    Action.REQUEST_CHANGES: LogAction.DOSSIER_CHANGES_REQUESTED,
    Action.RESUBMIT: LogAction.DOSSIER_RESUBMITTED,
    Action.ACCEPT: LogAction.DOSSIER_ACCEPTED,
    Action.REJECT: LogAction.DOSSIER_REJECTED,
    Action.WITHDRAW: LogAction.DOSSIER_WITHDRAWN,
}
OUTCOMES = {
    "accepted": LogAction.DOSSIER_ACCEPTED,
    "rejected": LogAction.DOSSIER_REJECTED,
    "withdrawn": LogAction.DOSSIER_WITHDRAWN,
}


def transition_action(
    workflow: Workflow, transition: TransitionDef | None, from_state: str
) -> LogAction:
    """What a transition of any workflow is in the log, read from what it does: the default
    workflow's transitions keep their own codes; a step of another workflow's making (a
    proposal awaiting a supervisor, say) is DOSSIER_MOVED with the transition's name."""
    if transition is None:
        return LogAction.DOSSIER_MOVED
    source = workflow.states[from_state]
    target = workflow.states[transition.target]
    if from_state == workflow.initial:
        return LogAction.DOSSIER_SUBMITTED
    if target.outcome in OUTCOMES:
        return OUTCOMES[target.outcome]
    if transition.assign == ASSIGN_SELF:
        return LogAction.DOSSIER_TAKEN
    if transition.assign == ASSIGN_CHOSEN:
        return LogAction.DOSSIER_ASSIGNED
    if target.pauses_deadline and not source.pauses_deadline:
        return LogAction.DOSSIER_CHANGES_REQUESTED
    if source.pauses_deadline and transition.by_applicant:
        return LogAction.DOSSIER_RESUBMITTED
    return LogAction.DOSSIER_MOVED


# What a read of a dossier becomes in the log. A dossier page reads answers, history, messages,
# documents and the applicant's profile: one "opened" entry per page says it, the rest would be
# noise. Files are logged one by one, the applicant's attachments and the decision documents
# (certificates, decision letters) alike: either takes a citizen's data out of the platform, so
# both are "downloaded" and both count for the bulk-export alert. List views (names only) are
# not logged.
READS = {
    "answers": LogAction.DOSSIER_OPENED,
    "applicant_profile": LogAction.DOSSIER_OPENED,
    "file": LogAction.ATTACHMENT_DOWNLOADED,
    "document": LogAction.ATTACHMENT_DOWNLOADED,
}
# What a download names in its entry, so the citizen's page tells an attachment they sent from a
# decision document the administration issued.
DOWNLOADED_OBJECTS = {"file": "attachment", "document": "document"}
INSTRUCTION = gettext_noop("Instruction of the application")
OWN_REQUEST = gettext_noop("Request of the data subject")


def actor_for(user: User, dossier: Dossier) -> Actor:
    if user.pk == dossier.applicant_id:
        return Actor(ActorKind.CITIZEN, user.pk)
    return agent_actor(user, dossier.organisation_id, _organisation_name(dossier))


def _organisation_name(dossier: Dossier) -> str:
    """The name of the dossier's organisation. A dossier is filed with its procedure's
    administration, loaded with it by access._load: reading the name there saves a query on
    every agent's read."""
    if not Dossier.organisation.is_cached(dossier) and Dossier.procedure.is_cached(dossier):
        procedure = dossier.procedure
        same = procedure.organisation_id == dossier.organisation_id
        if same and Procedure.organisation.is_cached(procedure):
            return procedure.organisation.name
    return dossier.organisation.name


def log_change(dossier: Dossier, user: User, action: LogAction, **details: Any) -> None:
    """One change, in the caller's transaction (record_event refuses to run outside one)."""
    record_event(
        action,
        actor=actor_for(user, dossier),
        object_type="dossier",
        object_id=dossier.pk,
        subject_id=dossier.applicant_id,
        purpose=OWN_REQUEST if user.pk == dossier.applicant_id else INSTRUCTION,
        details={"number": dossier.number or "", "procedure": dossier.procedure.slug, **details},
    )


def log_system_change(dossier: Dossier, action: LogAction, reason: str, **details: Any) -> None:
    record_event(
        action,
        actor=Actor.system(),
        object_type="dossier",
        object_id=dossier.pk,
        subject_id=dossier.applicant_id,
        purpose=reason,
        details={"number": dossier.number or "", "procedure": dossier.procedure.slug, **details},
    )


# Reads already logged in this request: (request id, dossier id, action, object). Bounded, since
# requests come and go; a miss only costs a duplicate entry.
_logged: "OrderedDict[tuple[str, str, int, str], None]" = OrderedDict()
_LOGGED_MAX = 4096


def log_read(user: AnyUser, dossier: Dossier, what: str, object_id: object = "") -> None:
    """An agent's read of a citizen's data. The citizen reading their own data is not logged:
    the log is about who else looked."""
    action = READS.get(what)
    if action is None or not isinstance(user, User) or user.pk == dossier.applicant_id:
        return
    key = (request_id_var.get(), str(dossier.pk), int(action), str(object_id))
    if key[0] != "-" and key in _logged:
        return
    downloaded = action == LogAction.ATTACHMENT_DOWNLOADED
    event = NewEvent(
        action,
        actor_for(user, dossier),
        object_type=DOWNLOADED_OBJECTS.get(what, "dossier"),
        object_id=object_id or dossier.pk,
        subject_id=dossier.applicant_id,
        purpose=INSTRUCTION,
        details={"number": dossier.number or "", "dossier": str(dossier.pk)},
    )
    # The facts the security alerts need and the log cannot know (audit imports no domain app).
    watch = ReadWatch(
        unassigned=not downloaded and dossier.assigned_to_id != user.pk,
        exported=[str(object_id)] if downloaded else [],
        security_contact=partial(security_contact, dossier.organisation_id),
    )
    with transaction.atomic():
        record_agent_reads([event], watch)
    _logged[key] = None
    while len(_logged) > _LOGGED_MAX:
        _logged.popitem(last=False)


def log_export(user: User, dossiers: Sequence[Dossier], purpose: str = INSTRUCTION) -> None:
    """An agent taking dossiers out of the platform (an export, a bulk download): one entry per
    dossier, counted by the bulk-export alert. Call it in the export's transaction, after the
    permission check, before any byte leaves."""
    readable = [dossier for dossier in dossiers if dossier.applicant_id != user.pk]
    if not readable:
        return
    events = [
        NewEvent(
            LogAction.DATA_EXPORTED,
            actor_for(user, dossier),
            object_type="dossier",
            object_id=dossier.pk,
            subject_id=dossier.applicant_id,
            purpose=purpose,
            details={"number": dossier.number or ""},
        )
        for dossier in readable
    ]
    watch = ReadWatch(
        exported=[str(dossier.pk) for dossier in readable],
        security_contact=partial(security_contact, readable[0].organisation_id),
    )
    with transaction.atomic():
        record_agent_reads(events, watch)


def security_contact(organisation_id: UUID) -> str:
    """Where an alert about reads of this organisation's dossiers goes: its security contact,
    else the nearest ancestor's. Called only when an alert is raised."""
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    seen: set[object] = set()
    while organisation is not None and organisation.pk not in seen:
        if organisation.security_email:
            return organisation.security_email
        seen.add(organisation.pk)
        organisation = organisation.parent
    return ""
