from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import FileResponse, Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema, Status, UploadedFile

from guichet.catalog.service import published_procedure
from guichet.dossiers import access, actions
from guichet.dossiers.models import Attachment, Dossier, Message
from guichet.dossiers.workflow import state_label, workflow_of
from guichet.errors import ActionError
from guichet.identity.models import User
from guichet.vault.service import DecryptingReader

router = Router(tags=["dossiers"])


class DossierIn(Schema):
    procedure: str
    data: dict[str, Any] = {}
    applicant_kind: str = ""


class DossierPatch(Schema):
    data: dict[str, Any]


class TransitionIn(Schema):
    action: str
    comment: str = ""
    assignee: UUID | None = None


class MessageIn(Schema):
    body: str


class AttachmentOut(Schema):
    id: UUID
    field: str
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    url: str


class EventOut(Schema):
    at: datetime
    actor: str
    by_administration: bool
    kind: str
    action: str
    from_state: str
    to_state: str
    comment: str


class MessageOut(Schema):
    id: UUID
    author: str
    from_administration: bool
    body: str
    created_at: datetime


class DossierSummary(Schema):
    id: UUID
    number: str | None
    procedure: str
    procedure_title: str
    state: str
    state_label: str
    applicant: str
    assigned_to: str | None
    submitted_at: datetime | None
    due_at: datetime | None
    overdue: bool
    # The team the dossier was routed to (short name), None for the whole organisation.
    team: str | None = None


class TransitionOffer(Schema):
    """A transition the caller may fire now: POST its name to /transitions."""

    name: str
    label: str
    to_state: str
    reason_required: bool
    # "self" (the caller takes the dossier), "chosen" (give an assignee) or "".
    assign: str


class DossierOut(DossierSummary):
    procedure_version: int
    applicant_kind: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    # Set while the applicant has the dossier back: the deadline then waits for them.
    paused_at: datetime | None
    attachments: list[AttachmentOut]
    history: list[EventOut]
    abilities: dict[str, bool]
    transitions: list[TransitionOffer] = []


class QueueOut(Schema):
    items: list[DossierSummary]
    next_cursor: str | None


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _summary(dossier: Dossier) -> dict[str, Any]:
    from django.utils import timezone

    team = dossier.team if dossier.team_id else None
    return {
        "id": dossier.pk,
        "number": dossier.number,
        "procedure": dossier.procedure.slug,
        "procedure_title": dossier.procedure.display_title,
        "state": dossier.state,
        "state_label": state_label(dossier),
        "applicant": dossier.applicant.display_name,
        "assigned_to": dossier.assigned_to.display_name if dossier.assigned_to else None,
        "submitted_at": dossier.submitted_at,
        "due_at": dossier.due_at,
        "overdue": access.is_overdue(dossier, timezone.now()),
        "team": team.slug if team else None,
    }


def _attachment(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "field": attachment.field,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "created_at": attachment.created_at,
        "url": f"/api/v1/dossiers/{attachment.dossier_id}/attachments/{attachment.pk}",
    }


def _detail(user: User, dossier: Dossier) -> dict[str, Any]:
    """The whole dossier as the caller may see it. A write answers with the dossier its action
    returns, loaded through access.py and saved in that action: loading it again would repeat
    the costliest query of the request."""
    access.open_people(user, [dossier])
    abilities = access.get_abilities(user, dossier)
    return {
        **_summary(dossier),
        "procedure_version": dossier.procedure_version,
        "applicant_kind": dossier.applicant_kind,
        "data": access.read_answers(user, dossier),
        "created_at": dossier.created_at,
        "updated_at": dossier.updated_at,
        "decided_at": dossier.decided_at,
        "paused_at": dossier.paused_at,
        "attachments": [_attachment(a) for a in access.read_attachments(user, dossier)],
        "history": [
            {
                "at": e.at,
                "actor": e.actor_display,
                "by_administration": e.by_administration,
                "kind": e.kind,
                "action": e.action,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "comment": e.comment,
            }
            for e in access.read_history(user, dossier)
        ],
        "abilities": abilities,
        "transitions": [
            {
                "name": t.name,
                "label": t.display,
                "to_state": t.target,
                "reason_required": t.reason_required,
                "assign": t.assign,
            }
            for t in workflow_of(dossier).transitions
            if abilities.get(t.name)  # the caller may fire it now, the applicant's included
        ],
    }


def _fresh(user: User, dossier_id: Any) -> dict[str, Any]:
    return _detail(user, access.access_dossier(user, dossier_id))


@router.get("/dossiers", response=list[DossierSummary])
def my_dossiers(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's own dossiers, most recently changed first."""
    user = _user(request)
    dossiers = list(access.applicant_dossiers(user)[:200])
    access.open_people(user, dossiers)
    return [_summary(d) for d in dossiers]


@router.post("/dossiers", response={201: DossierOut})
def create_dossier(request: HttpRequest, payload: DossierIn) -> Status[dict[str, Any]]:
    procedure = published_procedure(payload.procedure)
    if procedure is None:
        raise ActionError(
            _("Unknown procedure."), {"procedure": [_("No published procedure has this name.")]}
        )
    user = _user(request)
    dossier = actions.do_create_draft(user, procedure, payload.data, payload.applicant_kind)
    return Status(201, _detail(user, dossier))


@router.get("/dossiers/{dossier_id}", response=DossierOut)
def get_dossier(request: HttpRequest, dossier_id: str) -> dict[str, Any]:
    return _fresh(_user(request), dossier_id)


@router.patch("/dossiers/{dossier_id}", response=DossierOut)
def update_dossier(request: HttpRequest, dossier_id: str, payload: DossierPatch) -> dict[str, Any]:
    user = _user(request)
    return _detail(user, actions.do_update_answers(user, dossier_id, payload.data))


@router.delete("/dossiers/{dossier_id}", response={204: None})
def delete_draft(request: HttpRequest, dossier_id: str) -> Status[None]:
    actions.do_delete_draft(_user(request), dossier_id)
    return Status(204, None)


@router.post("/dossiers/{dossier_id}/attachments", response={201: AttachmentOut})
def add_attachment(
    request: HttpRequest, dossier_id: str, field: Form[str], file: File[UploadedFile]
) -> Status[dict[str, Any]]:
    attachment = actions.do_add_attachment(_user(request), dossier_id, field, file)
    return Status(201, _attachment(attachment))


@router.get("/dossiers/{dossier_id}/attachments/{attachment_id}")
def download_attachment(request: HttpRequest, dossier_id: str, attachment_id: str) -> FileResponse:
    user = _user(request)
    dossier, attachment = access.access_attachment(user, dossier_id, attachment_id)
    try:
        return attachment_response(attachment, access.read_file(user, dossier, attachment))
    except FileNotFoundError:
        raise Http404 from None


@router.delete("/dossiers/{dossier_id}/attachments/{attachment_id}", response={204: None})
def remove_attachment(request: HttpRequest, dossier_id: str, attachment_id: str) -> Status[None]:
    actions.do_remove_attachment(_user(request), dossier_id, attachment_id)
    return Status(204, None)


@router.post("/dossiers/{dossier_id}/submit", response=DossierOut)
def submit_dossier(request: HttpRequest, dossier_id: str) -> dict[str, Any]:
    user = _user(request)
    return _detail(user, actions.do_transition(user, dossier_id, "submit"))


@router.post("/dossiers/{dossier_id}/transitions", response=DossierOut)
def fire_transition(request: HttpRequest, dossier_id: str, payload: TransitionIn) -> dict[str, Any]:
    user = _user(request)
    dossier = actions.do_transition(
        user, dossier_id, payload.action, payload.comment, payload.assignee
    )
    return _detail(user, dossier)


@router.get("/dossiers/{dossier_id}/messages", response=list[MessageOut])
def list_messages(request: HttpRequest, dossier_id: str) -> list[dict[str, Any]]:
    user = _user(request)
    dossier = access.access_dossier(user, dossier_id)
    return [_message(m) for m in access.read_thread(user, dossier)]


@router.post("/dossiers/{dossier_id}/messages", response={201: MessageOut})
def post_message(
    request: HttpRequest, dossier_id: str, payload: MessageIn
) -> Status[dict[str, Any]]:
    return Status(201, _message(actions.do_post_message(_user(request), dossier_id, payload.body)))


def _message(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "author": message.author_display,
        "from_administration": message.from_administration,
        "body": message.body,
        "created_at": message.created_at,
    }


@router.get("/queue", response=QueueOut)
def queue(
    request: HttpRequest,
    procedure: str = "",
    state: str = "",
    mine: bool = False,
    overdue: bool = False,
    awaiting_decision: bool = False,
    cursor: str = "",
    limit: int = 25,
    find: str = "",
) -> dict[str, Any]:
    """The agent's work queue: dossiers of their organisations, soonest deadline first.

    `overdue`: past the statutory or the current step's deadline; `awaiting_decision`: in a
    step where only supervisors act (a two-level approval's decision).
    `find` is an exact national identification number, email or phone, in any usual format;
    it searches every state but drafts, through blind indexes (nothing is decrypted to search).
    """
    user = _user(request)
    filters = access.QueueFilters(
        procedure=procedure,
        state=state,
        mine=mine,
        overdue=overdue,
        awaiting_decision=awaiting_decision,
        find=find.strip()[: access.MAX_FIND_LENGTH],
    )
    page = access.instruction_queue(user, filters, cursor, max(1, min(limit, 100)))
    access.open_people(user, page.dossiers)
    return {"items": [_summary(d) for d in page.dossiers], "next_cursor": page.next_cursor}


def attachment_response(attachment: Attachment, plaintext: DecryptingReader) -> FileResponse:
    """Download with headers that stop a browser from running an uploaded file as a page. The
    file is decrypted chunk by chunk as it is sent; Content-Length is the plaintext's."""
    response = FileResponse(
        plaintext,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
