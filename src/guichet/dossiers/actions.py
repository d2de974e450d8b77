"""Every write to a dossier: one function per verb, one transaction each, its history event
written in that same transaction, notifications sent only after commit.

Personal data is sealed here, inside the action's transaction, under the dossier's data key:
answers (with their blind indexes refreshed), attachment files and names, messages, history
comments and actors' names. Erasure (retention, account closure) destroys that key.
"""

import hashlib
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import filetype
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guichet import outbox, rows
from guichet.audit.models import Action as LogAction
from guichet.catalog.forms import (
    ELIGIBILITY,
    accepted_types,
    answer_fields,
    check_answers,
    file_fields,
    ineligibility,
    max_file_bytes,
)
from guichet.catalog.models import Procedure
from guichet.catalog.service import definition_for, draft_upgrade
from guichet.catalog.workflow_def import (
    ASSIGN_CHOSEN,
    ASSIGN_SELF,
    DECISION_OUTCOMES,
    TACIT_DECISION,
    StateDef,
    TransitionDef,
    Workflow,
)
from guichet.dossiers import access, journal
from guichet.dossiers.models import (
    Attachment,
    Dossier,
    DossierEvent,
    DossierIndex,
    DossierTombstone,
    Message,
    Notification,
    NumberCounter,
)
from guichet.dossiers.tasks import FLUSH_AGAIN_SECONDS, flush_notifications
from guichet.dossiers.workflow import State, workflow_of
from guichet.errors import ActionError, Conflict, refuse_nul
from guichet.identity.models import Organisation, Role, User
from guichet.identity.service import Kept, colleagues, open_names
from guichet.vault.service import (
    InvalidIndexValue,
    blind_index,
    destroy_key,
    encrypt_field,
    encrypt_json,
    seal_attachment,
)

SNIFF_BYTES = 8192
MAX_MESSAGE_LENGTH = 5000
MAX_COMMENT_LENGTH = 5000


def _record(dossier: Dossier, actor: User, kind: str, *, comment: str = "") -> DossierEvent:
    """A history row other than a transition, and its transparency-log entry (a transition's
    are written apart, in do_transition, to take the log's lock last)."""
    event = _add_event(dossier, actor, kind, comment=comment)
    journal.log_change(dossier, actor, LOGGED_KINDS[DossierEvent.Kind(kind)])
    return event


def _add_event(
    dossier: Dossier,
    actor: User,
    kind: str,
    *,
    action: str = "",
    from_state: str = "",
    to_state: str = "",
    comment: str = "",
) -> DossierEvent:
    event = DossierEvent(
        dossier=dossier,
        actor=actor,
        actor_name=_agent_name(dossier, actor),
        by_administration=actor.pk != dossier.applicant_id,
        kind=kind,
        action=action,
        from_state=from_state,
        to_state=to_state,
    )
    # Bound to the event's uid: a comment moved to another event does not decrypt.
    owner = access.owner_of(dossier.pk)
    event.comment = comment
    event.comment_sealed = encrypt_field(owner, event.uid, "comment", comment) if comment else None
    rows.insert(event)
    return event


def _log_transition(
    dossier: Dossier, actor: User, action: str, from_state: str, to_state: str
) -> None:
    """The transparency log's entry for a transition (the history row is _add_event's)."""
    details = {"from": from_state, "to": to_state}
    transition = workflow_of(dossier).transition(action)
    if transition is not None and transition.assign:
        details["assigned_to"] = str(dossier.assigned_to_id or "")
    logged = journal.transition_action(workflow_of(dossier), transition, from_state)
    if logged == LogAction.DOSSIER_MOVED:
        details["transition"] = action
    journal.log_change(dossier, actor, logged, **details)


LOGGED_KINDS = {
    DossierEvent.Kind.CREATED: LogAction.DOSSIER_CREATED,
    DossierEvent.Kind.SAVED: LogAction.DOSSIER_ANSWERS_SAVED,
    DossierEvent.Kind.ATTACHMENT_ADDED: LogAction.ATTACHMENT_ADDED,
    DossierEvent.Kind.ATTACHMENT_REMOVED: LogAction.ATTACHMENT_REMOVED,
    DossierEvent.Kind.MESSAGE: LogAction.MESSAGE_POSTED,
}


def _agent_name(dossier: Dossier, actor: User) -> str:
    """An agent's name for the history or the thread; "" for the applicant, whose name is
    personal data and is shown from their profile instead of being copied."""
    if actor.pk == dossier.applicant_id:
        return ""
    open_names([actor])
    return actor.display_name[:200]


def _notify(dossier: Dossier, recipient_id: Any, kind: str, action: str = "") -> None:
    """Owe `recipient_id` an email about the dossier: a row committed with the change, sent in
    a batch by the worker within about a second (tasks.flush_notifications)."""
    if recipient_id is None:
        return
    rows.insert(
        Notification(
            dossier=dossier,
            recipient_id=recipient_id,
            kind=kind,
            action=action,
            created_at=timezone.now(),
        )
    )
    outbox.enqueue_coalesced(flush_notifications, within=FLUSH_AGAIN_SECONDS)


# Notifications' bookkeeping: which sender has which rows. No log entry: nobody's data changes,
# and the emails say nothing the history does not already hold.


@transaction.atomic
def do_claim_notifications(limit: int, seconds: float) -> list[Notification]:
    """Take up to `limit` notifications no live sender holds, for `seconds`, oldest first.
    SKIP LOCKED lets two workers on PostgreSQL take different rows; on SQLite, transactions
    take turns anyway."""
    now = timezone.now()
    free = models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now)
    ids = list(
        Notification.objects.select_for_update(skip_locked=True)
        .filter(free)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return []
    claim = uuid.uuid4()
    until = now + timedelta(seconds=seconds)
    Notification.objects.filter(pk__in=ids).update(claim=claim, claimed_until=until)
    return list(Notification.objects.filter(claim=claim).order_by("id"))


@transaction.atomic
def do_forget_notifications(notifications: list[Notification]) -> None:
    """Sent (or with nothing left to tell): gone. Only while still ours, in case our claim ran
    out and another sender took them meanwhile."""
    for claim in {n.claim for n in notifications}:
        ids = [n.pk for n in notifications if n.claim == claim]
        Notification.objects.filter(pk__in=ids, claim=claim).delete()


def _file_counts(dossier: Dossier) -> dict[str, int]:
    # Counted from the rows rather than in SQL: the answer to a submission lists the same
    # attachments, and access.attachments_of reads them once for both.
    counts: dict[str, int] = {}
    for attachment in access.attachments_of(dossier):
        counts[attachment.field] = counts.get(attachment.field, 0) + 1
    return counts


def _definition(dossier: Dossier) -> dict[str, Any]:
    """The definition the dossier follows. A draft whose procedure has since published only
    compatible versions moves to the current one here (the caller saves the dossier); a
    submitted dossier keeps the version it was filed under."""
    if dossier.state == State.DRAFT and dossier.procedure_version != dossier.procedure.version:
        upgrade = draft_upgrade(dossier.procedure, dossier.procedure_version)
        if upgrade is not None:
            dossier.procedure_version = upgrade.version
    return definition_for(dossier.procedure, dossier.procedure_version)


def _form(dossier: Dossier) -> list[dict[str, Any]]:
    return list(_definition(dossier).get("form") or [])


def _check(dossier: Dossier, data: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    definition = _definition(dossier)
    checked = check_answers(
        list(definition.get("form") or []),
        data,
        complete=complete,
        files=_file_counts(dossier) if complete else None,
    )
    if checked.errors:
        raise ActionError(_("Some answers need your attention."), checked.errors)
    if complete:
        refusals = ineligibility(definition.get("eligibility"), checked.values)
        if refusals:
            raise ActionError(
                _("This application cannot be submitted: %(reason)s")
                % {"reason": " ".join(refusals)},
                {ELIGIBILITY: refusals},
            )
    return checked.values


def _seal_answers(dossier: Dossier, answers: dict[str, Any]) -> None:
    dossier.answers = answers
    dossier.answers_sealed = encrypt_json(
        access.owner_of(dossier.pk), dossier.pk, "answers", answers
    )


def _index_kind(spec: dict[str, Any]) -> str | None:
    """Which blind index an answer feeds: the field's declared "index", else email and phone
    fields by type, and a text field named national_id."""
    declared = spec.get("index")
    if declared in DossierIndex.Kind.values:
        return str(declared)
    if spec["type"] in (DossierIndex.Kind.EMAIL, DossierIndex.Kind.PHONE):
        return str(spec["type"])
    if spec["type"] == "nin":
        return DossierIndex.Kind.NATIONAL_ID
    if spec["name"] == DossierIndex.Kind.NATIONAL_ID and spec["type"] == "text":
        return DossierIndex.Kind.NATIONAL_ID
    return None


def _reindex(dossier: Dossier, answers: dict[str, Any]) -> None:
    """Make the dossier's blind index rows match its answers (the dossier row must exist)."""
    wanted: set[tuple[str, str]] = set()
    for spec in answer_fields(_form(dossier)):
        kind = _index_kind(spec)
        value = answers.get(spec["name"])
        if kind is None or not isinstance(value, str) or not value:
            continue
        try:
            wanted.add((kind, blind_index(kind, value)))
        except InvalidIndexValue:
            continue  # a text answer that is not a number, say: nothing to find it by
    current = set(DossierIndex.objects.filter(dossier=dossier).values_list("kind", "digest"))
    for kind, digest in current - wanted:
        DossierIndex.objects.filter(dossier=dossier, kind=kind, digest=digest).delete()
    DossierIndex.objects.bulk_create(
        DossierIndex(dossier=dossier, kind=kind, digest=digest) for kind, digest in wanted - current
    )


@transaction.atomic
def do_create_draft(
    user: User,
    procedure: Procedure,
    data: dict[str, Any] | None = None,
    applicant_kind: str = "",
    *,
    is_test: bool = False,
) -> Dossier:
    kind = applicant_kind or (procedure.applicant_kinds or ["person"])[0]
    if kind not in procedure.applicant_kinds:
        raise ActionError(
            _("This procedure is not open to this kind of applicant."),
            {"applicant_kind": [_("Not allowed for this procedure.")]},
        )
    dossier = Dossier(
        procedure=procedure,
        procedure_version=procedure.version,
        organisation_id=procedure.organisation_id,
        applicant=user,
        applicant_kind=kind,
        is_test=is_test,
    )
    answers = _check(dossier, data or {}, complete=False)
    _seal_answers(dossier, answers)
    dossier.save()
    _reindex(dossier, answers)
    _record(dossier, user, DossierEvent.Kind.CREATED)
    return dossier


@transaction.atomic
def do_update_answers(user: User, dossier_id: Any, data: dict[str, Any]) -> Dossier:
    """Merge answers into the draft: keys given replace old values, null or "" clears them."""
    dossier = access.access_dossier(user, dossier_id, access.EDIT, for_update=True)
    merged = {**access.read_answers(user, dossier), **data}
    answers = _check(dossier, merged, complete=False)
    _seal_answers(dossier, answers)
    dossier.save(update_fields=["answers_sealed", "procedure_version", "updated_at"])
    _reindex(dossier, answers)
    _record(dossier, user, DossierEvent.Kind.SAVED)
    return dossier


def _sniff(upload: UploadedFile[Any]) -> tuple[str, str, int]:
    """Content type from the bytes themselves, SHA-256 and size, reading the file once."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    upload.seek(0)
    for chunk in upload.chunks():
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
    upload.seek(0)
    kind = filetype.guess(head)
    return (kind.mime if kind else "application/octet-stream"), digest.hexdigest(), size


def _check_upload(
    dossier: Dossier, field: str, upload: UploadedFile[Any]
) -> tuple[dict[str, Any], str, str, int]:
    spec = next((f for f in file_fields(_form(dossier)) if f["name"] == field), None)
    if spec is None:
        raise ActionError(
            _("This form has no document field with that name."),
            {"field": [_("Unknown document field.")]},
        )
    limit = max_file_bytes(spec)
    if (upload.size or 0) > limit:
        raise ActionError(
            _("The file is too large."),
            {"file": [_("At most %(mb)s MB.") % {"mb": round(limit / 1048576, 1)}]},
        )
    content_type, sha256, size = _sniff(upload)
    if content_type not in accepted_types(spec):
        raise ActionError(
            _("The file's content does not match an accepted type."),
            {"file": [_("Accepted: PDF, JPEG or PNG documents.")]},
        )
    return spec, content_type, sha256, size


@transaction.atomic
def do_add_attachment(
    user: User, dossier_id: Any, field: str, upload: UploadedFile[Any]
) -> Attachment:
    dossier = access.access_dossier(user, dossier_id, access.EDIT, for_update=True)
    spec, content_type, sha256, size = _check_upload(dossier, field, upload)
    if not spec.get("multiple"):
        # One file per field unless the field says otherwise: the new file replaces the old.
        for old in access.read_attachments(user, dossier):
            if old.field == field:
                _delete_attachment(user, dossier, old)
    owner = access.owner_of(dossier.pk)
    attachment = Attachment(
        dossier=dossier,
        field=field,
        content_type=content_type,
        size=size,
        sha256=sha256,
        uploaded_by=user,
    )
    attachment.original_name = (upload.name or "document")[-255:]
    attachment.name_sealed = encrypt_field(owner, attachment.pk, "name", attachment.original_name)
    # Encrypted chunk by chunk as the storage writes it: the clear file never reaches the disk.
    sealed = seal_attachment(owner, attachment.pk, "file", upload, attachment.pk.hex)
    attachment.file.save(attachment.pk.hex, sealed, save=False)
    try:
        attachment.save()
        _record(dossier, user, DossierEvent.Kind.ATTACHMENT_ADDED, comment=attachment.original_name)
        dossier.save(update_fields=["updated_at"])
    except BaseException:
        # The file is on disk before its row: if the row fails, the file must not linger.
        attachment.file.storage.delete(str(attachment.file.name))
        raise
    return attachment


def _delete_attachment(user: User, dossier: Dossier, attachment: Attachment) -> None:
    name = attachment.file.name
    storage = attachment.file.storage
    attachment.delete()
    # The file goes only once the row's deletion is committed, so a rollback loses nothing.
    transaction.on_commit(partial(storage.delete, str(name)))
    _record(dossier, user, DossierEvent.Kind.ATTACHMENT_REMOVED, comment=attachment.original_name)


@transaction.atomic
def do_remove_attachment(user: User, dossier_id: Any, attachment_id: Any) -> None:
    # Locked like every edit, so a submission running meanwhile cannot lose a required file.
    dossier, attachment = access.access_attachment(
        user, dossier_id, attachment_id, access.EDIT, for_update=True
    )
    _delete_attachment(user, dossier, attachment)


def _next_number(year: int) -> str:
    """The year's next number. One statement creates the year's row if needed, takes its lock
    until commit (numbers never repeat nor skip) and returns the new value: written in SQL
    because the ORM has no upsert that returns the updated value, and the submission is the
    hottest write there is (PostgreSQL and SQLite >= 3.35 both speak this)."""
    quote = connection.ops.quote_name
    table, last = quote(NumberCounter._meta.db_table), quote("last")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quote('year')}, {last}) VALUES (%s, 1) "  # noqa: S608
            f"ON CONFLICT ({quote('year')}) DO UPDATE SET {last} = {table}.{last} + 1 "
            f"RETURNING {last}",
            [year],
        )
        (number,) = cursor.fetchone()
    return f"{settings.GUICHET_NUMBER_PREFIX}-{year}-{number:06d}"


def _route(dossier: Dossier, workflow: Workflow, answers: dict[str, Any]) -> None:
    """Send a new dossier to the team its answers name: a child organisation of the
    procedure's, found by short name. A team that does not exist (renamed, not yet created)
    leaves the dossier with the whole organisation rather than nobody."""
    if workflow.routing is None:
        return
    slug = workflow.routing.team_for(answers)
    if slug:
        dossier.team = Organisation.objects.filter(
            parent_id=dossier.organisation_id, slug=slug
        ).first()


def _enter(dossier: Dossier, target: StateDef, now: Any) -> None:
    """The clock of a new step: its own deadline, nothing escalated yet."""
    if target.deadline_days and not target.is_final:
        dossier.step_due_at = now + timedelta(days=target.deadline_days)
    else:
        dossier.step_due_at = None
    dossier.escalated_step_due_at = None


def _apply(
    user: User | None,
    dossier: Dossier,
    workflow: Workflow,
    transition: TransitionDef | None,
    target_name: str,
    assignee: User | None,
    answers: dict[str, Any] | None,
) -> None:
    """Side effects of a transition besides the state: deadlines, routing, assignment,
    decision time. They follow from the states' kinds, so every workflow gets them."""
    now = timezone.now()
    source = workflow.states[dossier.state]
    target = workflow.states[target_name]
    if dossier.state == workflow.initial:
        # The number comes last, in do_transition: see there.
        dossier.submitted_at = now
        days = workflow.statutory_deadline_days or dossier.procedure.deadline_days
        dossier.due_at = now + timedelta(days=days)
        if workflow.tacit is not None:
            dossier.tacit_at = now + timedelta(days=workflow.tacit.after_days)
        _route(dossier, workflow, answers or {})
    if transition is not None and transition.assign == ASSIGN_SELF:
        dossier.assigned_to = user
    elif transition is not None and transition.assign == ASSIGN_CHOSEN:
        dossier.assigned_to = assignee
    if target.pauses_deadline and not source.pauses_deadline:
        dossier.paused_at = now
    elif source.pauses_deadline and not target.pauses_deadline:
        # The time spent waiting on the applicant is given back to the administration.
        if dossier.paused_at:
            waited = now - dossier.paused_at
            dossier.due_at = dossier.due_at + waited if dossier.due_at else None
            dossier.tacit_at = dossier.tacit_at + waited if dossier.tacit_at else None
        dossier.paused_at = None
    if target.outcome in DECISION_OUTCOMES:
        dossier.decided_at = now
    if target.is_final:
        dossier.outcome = target.outcome
        dossier.closed_at = now  # the retention period runs from here
        dossier.tacit_at = None
    if target_name != dossier.state:
        _enter(dossier, target, now)


def _resolve_assignee(dossier: Dossier, assignee_id: Any) -> User:
    for agent in colleagues(dossier.team_id or dossier.organisation_id):
        if str(agent.pk) == str(assignee_id):
            return agent
    raise ActionError(
        _("Choose an agent of this organisation."),
        {"assignee": [_("Not an instructor of this organisation.")]},
    )


def _roles(transition: TransitionDef) -> str:
    names = {"applicant": _("the applicant"), **{role.value: str(role.label) for role in Role}}
    return ", ".join(names.get(role, role) for role in sorted(transition.by))


def _find_transition(workflow: Workflow, action: Any) -> TransitionDef:
    transition = workflow.transition(action) if isinstance(action, str) else None
    if transition is None:
        names = ", ".join(t.name for t in workflow.transitions)
        raise ActionError(_("Unknown action."), {"action": [_("Choose one of: %s.") % names]})
    return transition


def _check_comment(transition: TransitionDef, comment: str) -> str:
    comment = comment.strip()
    if transition.reason_required and not comment:
        raise ActionError(_("Please give the reasons."), {"comment": [_("A comment is required.")]})
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ActionError(_("The comment is too long."), {"comment": [_("Too long.")]})
    refuse_nul(comment, "comment")
    return comment


@transaction.atomic
def do_transition(
    user: User, dossier_id: Any, action: str, comment: str = "", assignee_id: Any = None
) -> Dossier:
    """Fire one transition of the dossier's workflow. The row lock makes two concurrent
    decisions impossible: the second one waits, then finds the state has moved on and gets a
    Conflict. Someone the workflow does not give the transition to gets PermissionDenied."""
    dossier = access.access_dossier(user, dossier_id, access.VIEW, for_update=True)
    workflow = workflow_of(dossier)
    transition = _find_transition(workflow, action)
    if not access.can_fire(user, dossier, transition.name):
        if access.is_entitled(user, dossier, transition.name):
            # Theirs to do, but the state moved on (often another agent decided first).
            raise Conflict(
                _("This dossier is now “%(state)s”: this action is no longer possible.")
                % {"state": workflow.label(dossier.state)}
            )
        raise PermissionDenied(
            _("The workflow gives this step to: %(roles)s.") % {"roles": _roles(transition)}
        )
    comment = _check_comment(transition, comment)
    source = workflow.states[dossier.state]
    target = workflow.states[transition.target]
    by_applicant = user.pk == dossier.applicant_id
    answers = None
    if by_applicant and source.editable and not target.is_final:
        # Leaving the applicant's hands (submission, corrections sent back): answers complete.
        answers = access.read_answers(user, dossier)
        checked = _check(dossier, answers, complete=True)
        if checked != answers:
            _seal_answers(dossier, checked)
            _reindex(dossier, checked)
        answers = checked
    assignee = (
        _resolve_assignee(dossier, assignee_id) if transition.assign == ASSIGN_CHOSEN else None
    )
    previous = dossier.state
    _apply(user, dossier, workflow, transition, transition.target, assignee, answers)
    dossier.state = transition.target
    _add_event(
        dossier,
        user,
        DossierEvent.Kind.TRANSITION,
        action=transition.name,
        from_state=previous,
        to_state=dossier.state,
        comment=comment,
    )
    first = previous == workflow.initial
    _queue_follow_ups(user, dossier, transition, target, assignee, previous, first)
    # Last come the two rows every submission takes in turn, each locked until commit: the
    # year's number counter, then the transparency log's head. Everything else is done
    # by then, so another submission waits for a few statements, not for this whole action
    # (on PostgreSQL under 16 clients, the wait for the counter was about a third of a
    # submission's time when it was taken first). The number stays gapless.
    if first:
        dossier.number = _next_number(timezone.localdate(dossier.submitted_at).year)
    rows.update(dossier)
    _log_transition(dossier, user, transition.name, previous, dossier.state)
    return dossier


def _queue_follow_ups(
    user: User,
    dossier: Dossier,
    transition: TransitionDef,
    target: StateDef,
    assignee: User | None,
    previous: str,
    first: bool,
) -> None:
    """The notifications and the decision document, made by the worker after commit."""
    if dossier.state != previous:
        # The applicant hears of every change of state; a change of hands alone is internal.
        _notify(dossier, dossier.applicant_id, "transition", transition.name)
    if assignee is not None and assignee.pk != user.pk:
        _notify(dossier, assignee.pk, "assigned", transition.name)
    by_applicant = user.pk == dossier.applicant_id
    if by_applicant and dossier.assigned_to_id and not first:
        _notify(dossier, dossier.assigned_to_id, "transition", transition.name)
    if target.outcome in DECISION_OUTCOMES:
        _issue_decision_document(dossier)


# --- The workflow's clock: tacit decisions and escalation ---------------------------------------


def _lock_for_clock(dossier_id: Any) -> Dossier | None:
    return (
        Dossier.objects.select_for_update(of=("self",))
        .select_related("procedure", "organisation")
        .filter(pk=dossier_id)
        .first()
    )


def _with_administration(dossier: Dossier) -> bool:
    return dossier.state != State.DRAFT and not dossier.closed_at and not dossier.paused_at


@transaction.atomic
def do_apply_tacit_decision(dossier_id: Any) -> Dossier | None:
    """The administration stayed silent past the workflow's tacit_decision delay: the dossier
    moves to the decision silence stands for, recorded as the system's transition (history and
    transparency log), and its document is issued after commit like any decision. None if it
    no longer qualifies (decided meanwhile, waiting on the applicant, not yet due)."""
    dossier = _lock_for_clock(dossier_id)
    if dossier is None or not _with_administration(dossier):
        return None
    workflow = workflow_of(dossier)
    if workflow.tacit is None or dossier.tacit_at is None or dossier.tacit_at > timezone.now():
        return None
    target = workflow.states[workflow.tacit.to]
    previous = dossier.state
    _apply(None, dossier, workflow, None, target.name, None, None)
    dossier.state = target.name
    dossier.save()
    reason = (
        _("No decision within %(days)d days: the application is accepted by law (tacit decision).")
        if target.outcome == "accepted"
        else _("No decision within %(days)d days: the application is rejected (tacit decision).")
    ) % {"days": workflow.tacit.after_days}
    event = DossierEvent(
        dossier=dossier,
        actor=None,
        actor_name=_("System")[:200],
        by_administration=True,
        kind=DossierEvent.Kind.TRANSITION,
        action=TACIT_DECISION,
        from_state=previous,
        to_state=target.name,
    )
    event.comment_sealed = encrypt_field(access.owner_of(dossier.pk), event.uid, "comment", reason)
    event.save()
    logged = (
        LogAction.DOSSIER_ACCEPTED if target.outcome == "accepted" else LogAction.DOSSIER_REJECTED
    )
    journal.log_system_change(
        dossier, logged, "tacit decision", **{"from": previous, "to": target.name, "tacit": True}
    )
    _notify(dossier, dossier.applicant_id, "transition", TACIT_DECISION)
    _issue_decision_document(dossier)
    return dossier


def _breaches(dossier: Dossier, now: Any) -> list[str]:
    found = []
    if dossier.due_at and dossier.due_at < now and dossier.escalated_due_at != dossier.due_at:
        found.append("statutory")
    step = dossier.step_due_at
    if step and step < now and dossier.escalated_step_due_at != step:
        found.append("step")
    return found


@transaction.atomic
def do_escalate_dossier(dossier_id: Any) -> list[str]:
    """A deadline (the statutory one, or the current step's) has passed: the dossier shows as
    overdue, the breach goes into the transparency log, and the workflow's escalation roles
    (supervisors by default) of its team and organisation are emailed after commit. Each breach
    is escalated once; a deadline moved later by a pause and breached again is a new breach.
    Returns which deadlines were escalated ([] if none)."""
    dossier = _lock_for_clock(dossier_id)
    if dossier is None or not _with_administration(dossier):
        return []
    now = timezone.now()
    breaches = _breaches(dossier, now)
    if not breaches:
        return []
    if "statutory" in breaches:
        dossier.escalated_due_at = dossier.due_at
    if "step" in breaches:
        dossier.escalated_step_due_at = dossier.step_due_at
    dossier.save(update_fields=["escalated_due_at", "escalated_step_due_at"])
    journal.log_system_change(
        dossier,
        LogAction.DOSSIER_OVERDUE,
        "deadline passed",
        state=dossier.state,
        deadlines=",".join(breaches),
    )
    roles = workflow_of(dossier).escalation_roles or {Role.SUPERVISOR}
    recipients = {a.pk for a in colleagues(dossier.organisation_id, roles)}
    if dossier.team_id:
        recipients |= {a.pk for a in colleagues(dossier.team_id, roles)}
    for recipient in sorted(recipients, key=str):
        _notify(dossier, recipient, "overdue")
    return breaches


def _issue_decision_document(dossier: Dossier) -> None:
    """The sealed certificate or decision letter is made by the worker once the decision is
    committed (rendering and sealing take tens of milliseconds; the agent need not wait)."""
    from guichet.documents.tasks import issue_document_task

    outbox.enqueue(issue_document_task, dossier_id=str(dossier.pk))


@transaction.atomic
def do_post_message(user: User, dossier_id: Any, body: str) -> Message:
    dossier = access.access_dossier(user, dossier_id, access.MESSAGE)
    body = body.strip()
    if not body:
        raise ActionError(_("The message is empty."), {"body": [_("Write a message.")]})
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ActionError(
            _("The message is too long."),
            {"body": [_("At most %(limit)d characters.") % {"limit": MAX_MESSAGE_LENGTH}]},
        )
    refuse_nul(body, "body")
    from_administration = user.pk != dossier.applicant_id
    message = Message(
        dossier=dossier,
        author=user,
        author_name=_agent_name(dossier, user),
        from_administration=from_administration,
    )
    message.body = body
    message.body_sealed = encrypt_field(access.owner_of(dossier.pk), message.pk, "body", body)
    message.save()
    open_names([user])
    message.author_display = user.display_name
    _record(dossier, user, DossierEvent.Kind.MESSAGE)
    if from_administration:
        _notify(dossier, dossier.applicant_id, "message")
    else:
        _notify(dossier, dossier.assigned_to_id, "message")
    return message


@transaction.atomic
def do_delete_draft(user: User, dossier_id: Any) -> None:
    dossier = access.access_dossier(user, dossier_id, "delete", for_update=True)
    journal.log_change(dossier, user, LogAction.DRAFT_DELETED)
    _erase(dossier)


# --- Erasure: retention and account closure -----------------------------------------------------


def _erase(dossier: Dossier, reason: str = "") -> DossierTombstone | None:
    """Crypto-shred the dossier's data key, then delete its rows (answers, events, messages,
    attachments, index entries go with it) and, once committed, its files. With a reason, a
    tombstone without personal data keeps what statistics need."""
    tombstone = None
    if reason:
        tombstone = DossierTombstone.objects.create(
            id=dossier.pk,
            number=dossier.number or "",
            procedure_id=dossier.procedure_id,
            procedure_version=dossier.procedure_version,
            organisation_id=dossier.organisation_id,
            applicant_kind=dossier.applicant_kind,
            state=dossier.state,
            created_at=dossier.created_at,
            submitted_at=dossier.submitted_at,
            decided_at=dossier.decided_at,
            closed_at=dossier.closed_at,
            erased_at=timezone.now(),
            reason=reason,
        )
    if reason:
        journal.log_system_change(dossier, LogAction.DATA_ERASED, reason)
    files = [(a.file.storage, str(a.file.name)) for a in dossier.attachments.all()]
    # Copies of the ciphertexts elsewhere become unreadable, except in a backup archive made
    # before now, which still holds the wrapped key: archives are kept for a bounded time.
    destroy_key(access.owner_of(dossier.pk))
    dossier.delete()
    for storage, name in files:
        transaction.on_commit(partial(storage.delete, name))
    return tombstone


@transaction.atomic
def do_erase_dossier(dossier_id: Any, reason: str) -> DossierTombstone | None:
    """Erase one dossier whose retention date has passed; None if it no longer qualifies (an
    applicant edited their draft meanwhile, someone erased it first)."""
    dossier = (
        Dossier.objects.select_for_update()
        .select_related("procedure")
        .filter(pk=dossier_id)
        .first()
    )
    if dossier is None:
        return None
    erase_on = access.erasure_date(dossier)
    if erase_on is None or erase_on > timezone.now():
        return None
    return _erase(dossier, reason)


@transaction.atomic
def do_mark_retention_notice(dossier_id: Any) -> None:
    # update() leaves updated_at alone: telling a draft's owner must not restart its clock.
    Dossier.objects.filter(pk=dossier_id).update(retention_notified_at=timezone.now())


@transaction.atomic
def do_close_dossiers_of(user: User) -> list[Kept]:
    """Account closure, dossiers' part (runs inside identity's closure transaction): erase what
    nothing obliges the administration to keep, and say what stays and why."""
    now = timezone.now()
    kept: list[Kept] = []
    for dossier in access.own_dossiers_for_closure(user, for_update=True):
        verdict = access.closure_verdict(dossier, now)
        if verdict is None:
            _erase(dossier, DossierTombstone.Reason.ACCOUNT_CLOSED)
        else:
            kept.append(verdict)
    return kept


@transaction.atomic
def do_purge_test_dossiers(user: User, procedure: Procedure) -> int:
    """Erase every test dossier of a procedure (designer pages), with one log event saying how
    many went. Here rather than in the catalog, which may not import dossiers."""
    from guichet.catalog.actions import log_procedure_change, require_designer

    require_designer(user, procedure)
    dossiers = list(
        Dossier.objects.select_for_update().filter(procedure=procedure, is_test=True).order_by("pk")
    )
    for dossier in dossiers:
        _erase(dossier)
    log_procedure_change(LogAction.TEST_DOSSIERS_PURGED, user, procedure, purged=len(dossiers))
    return len(dossiers)
