"""Dossier pages: the applicant's space under /dossiers/ and the agents' back office under /agent/.

Both load through access.py and write through actions.py; a page only decides which space serves
whom. The applicant works from /dossiers/; instructors work from /agent/, where the middleware has
made sure they set up two-factor authentication, so the applicant's URLs refuse them (404) rather
than offer a way around that check.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guichet.catalog.forms import compute_fee
from guichet.catalog.models import Procedure
from guichet.catalog.service import published_procedures
from guichet.catalog.workflow_def import DECISION_OUTCOMES, TransitionDef, Workflow
from guichet.dossiers import access, actions, steps
from guichet.dossiers.api import attachment_response
from guichet.dossiers.forms_web import (
    FormView,
    answers_from_post,
    build_fields,
    build_form,
    dossier_definition,
)
from guichet.dossiers.models import Attachment, Dossier, DossierEvent
from guichet.dossiers.workflow import (
    TACIT_DECISION,
    Action,
    State,
    state_label,
    workflow_of,
    workflow_of_procedure,
)
from guichet.errors import ActionError, Conflict, Unavailable
from guichet.forms_errors import error_summary
from guichet.identity.models import User
from guichet.identity.service import (
    INSTRUCTION_ROLES,
    colleagues,
    is_agent,
    organisations_with_role,
)

logger = logging.getLogger(__name__)

LIST_PAGE_SIZE = 50
QUEUE_PAGE_SIZE = 25
DONE_MESSAGES = {
    Action.SUBMIT: gettext_lazy("Your application is submitted. Keep this receipt."),
    Action.RESUBMIT: gettext_lazy("Your corrected application is sent back to the administration."),
    Action.WITHDRAW: gettext_lazy("Your application is withdrawn."),
    Action.TAKE: gettext_lazy("You now instruct this dossier."),
    Action.ASSIGN: gettext_lazy("The dossier is assigned."),
    Action.REQUEST_CHANGES: gettext_lazy("Changes requested: the applicant is told by email."),
    Action.ACCEPT: gettext_lazy("The dossier is accepted: the applicant is told by email."),
    Action.REJECT: gettext_lazy("The dossier is rejected: the applicant is told by email."),
}


def vault_guard[**P, R: HttpResponseBase](
    view: Callable[P, R],
) -> Callable[P, R | HttpResponse]:
    """A page whose data cannot be decrypted right now (key service out of reach) answers 503
    with a plain explanation, never a 500 or a page half full."""

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
        try:
            return view(*args, **kwargs)
        except Unavailable as error:
            request = args[0]
            assert isinstance(request, HttpRequest)
            logger.warning("vault unavailable: %s", error.__cause__)
            context = {"message": error.message}
            return render(request, "dossiers/unavailable.html", context, status=503)

    return guarded


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # login_required has already sent anonymous visitors away
        raise PermissionDenied
    return user


# --- What both spaces show --------------------------------------------------------------------


def _event_row(event: DossierEvent, workflow: Workflow) -> dict[str, Any]:
    detail = ""
    comment = ""
    if event.kind == DossierEvent.Kind.TRANSITION and event.to_state in workflow.states:
        label = _("Status: %(state)s") % {"state": workflow.label(event.to_state)}
        if event.action == TACIT_DECISION:
            label = _("Tacit decision: %(state)s") % {"state": workflow.label(event.to_state)}
        comment = event.comment
    else:
        label = str(DossierEvent.Kind(event.kind).label)
        if event.kind in (DossierEvent.Kind.ATTACHMENT_ADDED, DossierEvent.Kind.ATTACHMENT_REMOVED):
            detail = event.comment  # the file's name
    return {
        "at": event.at,
        "actor": event.actor_display,
        "by_administration": event.by_administration,
        "label": label,
        "detail": detail,
        "comment": comment,
    }


def _last_into(events: list[DossierEvent], state: str) -> DossierEvent | None:
    """The transition that brought the dossier into its current state (its reasons)."""
    for event in reversed(events):
        if event.kind == DossierEvent.Kind.TRANSITION and event.to_state == state:
            return event
    return None


def _error_summary(
    form_view: FormView | None,
    errors: dict[str, list[str]],
    extra_ids: dict[str, str],
    href: Callable[[str, str], str] | None = None,
) -> list[dict[str, str]]:
    """One line per error, each a link to its field, for the box at the top of the page;
    `href(name, target)` links elsewhere than to the page itself (another step's field)."""
    known = form_view.index if form_view is not None else {}

    def box(name: str) -> tuple[str, str]:
        view = known.get(name)
        return (view.id, view.label) if view else (extra_ids.get(name, ""), "")

    return error_summary(errors, box, href=href)


def _shared_context(user: User, dossier: Dossier) -> dict[str, Any]:
    events = access.read_history(user, dossier)
    access.open_people(user, [dossier])
    workflow = workflow_of(dossier)
    state = workflow.state(dossier.state)
    return {
        "dossier": dossier,
        "procedure": dossier.procedure,
        "state_label": state_label(dossier),
        "events": [_event_row(event, workflow) for event in events],
        "thread": access.read_thread(user, dossier),
        "changes_request": (
            _last_into(events, dossier.state) if state and state.pauses_deadline else None
        ),
        "decision": (
            _last_into(events, dossier.state) if dossier.outcome in DECISION_OUTCOMES else None
        ),
        "overdue": access.is_overdue(dossier, timezone.now()),
    }


# --- The applicant's space --------------------------------------------------------------------


def _own_dossier(user: User, dossier_id: UUID, ability: str = access.VIEW) -> Dossier:
    dossier = access.access_dossier(user, dossier_id)
    if dossier.applicant_id != user.pk:
        raise Http404
    if ability != access.VIEW and not access.get_abilities(user, dossier).get(ability, False):
        raise PermissionDenied
    return dossier


def _applicant_page(
    request: HttpRequest,
    dossier: Dossier,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    typed: Any = None,
    notice: str = "",
    message_body: str = "",
    add_row: str = "",
) -> HttpResponse:
    errors = errors or {}
    user = _user(request)
    abilities = access.get_abilities(user, dossier)
    attachments = access.read_attachments(user, dossier)
    answers = access.read_answers(user, dossier)
    definition, changes = dossier_definition(dossier)
    form = list(definition.get("form") or [])
    form_view = build_form(
        form,
        answers,
        errors=errors,
        typed=typed,
        attachments=attachments,
        add_row=add_row,
        editable=bool(abilities.get(access.EDIT)),
    )
    erase_on = access.erasure_date(dossier)
    context = {
        **_shared_context(user, dossier),
        "erase_on": erase_on if dossier.outcome else None,
        "abilities": abilities,
        "form_view": form_view,
        "answer_fields": form_view.answers,
        "document_fields": form_view.documents,
        "changes": changes,
        "fee": compute_fee(definition.get("fees"), answers),
        "errors": errors,
        "has_errors": bool(errors),
        "error_summary": _error_summary(form_view, errors, {"body": "message-body"}),
        "notice": notice,
        "message_body": message_body,
        "page_url": reverse("dossier_detail", args=[dossier.pk]),
    }
    return render(request, "dossiers/detail.html", context, status=status)


# --- A form of several pages, one step at a time (dossiers/steps.py) ----------------------------


@dataclass
class _Stepped:
    """An editable dossier whose form has several pages, with what every one of its steps
    shows. Read once per request, through access.py like any page."""

    user: User
    dossier: Dossier
    abilities: dict[str, bool]
    definition: dict[str, Any]
    changes: list[str]
    answers: dict[str, Any]
    attachments: list[Attachment]

    @property
    def form(self) -> list[dict[str, Any]]:
        return list(self.definition.get("form") or [])

    def view(
        self,
        *,
        errors: dict[str, list[str]] | None = None,
        typed: dict[str, Any] | None = None,
        add_row: str = "",
        editable: bool = True,
    ) -> FormView:
        return build_form(
            self.form,
            self.answers,
            errors=errors,
            typed=typed,
            attachments=self.attachments,
            add_row=add_row,
            editable=editable,
        )


def _stepped_form(user: User, dossier: Dossier) -> _Stepped | None:
    """The dossier as its steps need it; None when its page shows the whole form at once (a
    form of one page, or a dossier its applicant may no longer change)."""
    abilities = access.get_abilities(user, dossier)
    if not abilities.get(access.EDIT):
        return None
    definition, changes = dossier_definition(dossier)
    if not steps.is_stepped(list(definition.get("form") or [])):
        return None
    answers = access.read_answers(user, dossier)
    attachments = access.read_attachments(user, dossier)
    return _Stepped(user, dossier, abilities, definition, changes, answers, attachments)


def _open_step(request: HttpRequest, draft: _Stepped, raw: str) -> HttpResponse:
    """GET of a step. Without `step`, a draft nothing was saved to goes to its first step (by
    its own address, so that the back button from step 2 finds step 1 there) and any other
    shows its review, which is also the dossier's page (history, messages)."""
    view = draft.view(add_row=request.GET.get("add", "")[:64])
    if not raw:
        if not draft.answers and not draft.attachments and view.steps:
            return redirect(steps.step_url(draft.dossier.pk, 1))
        return _review_page(request, draft)
    step = steps.resolve_step(raw, len(view.steps))
    if str(step) != raw:
        return redirect(steps.step_url(draft.dossier.pk, step))
    if step == steps.REVIEW:
        return _review_page(request, draft)
    return _step_page(request, draft, view, int(step))


def _step_href(dossier: Dossier, view: FormView, here: int) -> Callable[[str, str], str]:
    """Error summary links: to the field on this step, or to the step that shows it."""

    def href(name: str, target: str) -> str:
        number = view.step_of(name)
        if not target or not number:
            return ""
        return f"#{target}" if number == here else steps.step_url(dossier.pk, number, anchor=target)

    return href


def _step_page(
    request: HttpRequest,
    draft: _Stepped,
    view: FormView,
    number: int,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
) -> HttpResponse:
    """One page of the form, light for a slow network: no history, no messages (the review
    step, the dossier's page, has them)."""
    errors = errors or {}
    page = view.steps[number - 1]
    title = page.title or _("Your answers")
    context = {
        "dossier": draft.dossier,
        "procedure": draft.dossier.procedure,
        "abilities": draft.abilities,
        "changes": draft.changes,
        "step": page,
        "number": number,
        "total": len(view.steps) + 1,
        "step_title": title,
        "is_last": number == len(view.steps),
        "has_files": any(item.type == "file" for item in page.items),
        "has_conditions": view.has_conditions,
        "errors": errors,
        "has_errors": bool(errors),
        "error_summary": _error_summary(
            view, errors, {}, href=_step_href(draft.dossier, view, number)
        ),
        "notice": notice,
        "page_url": steps.step_url(draft.dossier.pk, number),
    }
    return render(request, "dossiers/step.html", context, status=status)


def _review_page(
    request: HttpRequest,
    draft: _Stepped,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    notice: str = "",
) -> HttpResponse:
    errors = errors or {}
    view = draft.view(errors=errors, editable=False)
    dossier = draft.dossier
    context = {
        **_shared_context(draft.user, dossier),
        "abilities": draft.abilities,
        "changes": draft.changes,
        "pages": [
            {"number": number, "page": page, "url": steps.step_url(dossier.pk, number)}
            for number, page in enumerate(view.steps, start=1)
        ],
        "number": len(view.steps) + 1,
        "fee": compute_fee(draft.definition.get("fees"), draft.answers),
        "errors": errors,
        "has_errors": bool(errors),
        "error_summary": _error_summary(view, errors, {}, href=_step_href(dossier, view, 0)),
        "notice": notice,
        "page_url": steps.step_url(dossier.pk, steps.REVIEW),
    }
    return render(request, "dossiers/review.html", context, status=status)


def _save_step(request: HttpRequest, draft: _Stepped, position: int) -> HttpResponse:
    """Save one step: its answers (the other pages' are kept: do_update_answers merges), the
    files chosen on it, a document removed from it; then go where the button said. Refused
    answers show the same step again with what was typed; the files are sent all the same,
    since a browser cannot keep a chosen file across pages."""
    items = steps.page_items(draft.form, position)
    if items is None:
        return redirect("dossier_detail", draft.dossier.pk)
    user, dossier = draft.user, draft.dossier
    intent = request.POST.get("intent", "next")[:200]
    verb, _sep, target = intent.partition(":")
    data = answers_from_post(items, request.POST, remove_row=target if verb == "remove" else "")
    errors: dict[str, list[str]] = {}
    try:
        actions.do_update_answers(user, dossier.pk, data)
    except Conflict as error:
        return _moved_on(request, draft, error)
    except ActionError as error:
        errors = error.fields or {"": [error.message]}
    errors.update(_step_files(request, draft, items, verb, target))
    fresh = _fresh(draft)
    if errors:
        view = fresh.view(errors=errors, typed=data, add_row=target if verb == "add" else "")
        number = _number_or_first(view, position)
        return _step_page(request, fresh, view, number, status=400, errors=errors)
    messages.success(request, _("Your answers are saved."))
    return redirect(_after_step(draft, fresh, position, verb, target))


def _moved_on(request: HttpRequest, draft: _Stepped, error: Conflict) -> HttpResponse:
    """409: the dossier changed meanwhile; its page as it is now, with the reason."""
    dossier = _own_dossier(draft.user, draft.dossier.pk)
    fresh = _stepped_form(draft.user, dossier)
    if fresh is None:
        return _applicant_page(request, dossier, status=409, notice=error.message)
    return _review_page(request, fresh, status=409, notice=error.message)


def _fresh(draft: _Stepped) -> _Stepped:
    fresh = _stepped_form(draft.user, _own_dossier(draft.user, draft.dossier.pk))
    if fresh is None:
        raise PermissionDenied  # the dossier left the applicant's hands meanwhile
    return fresh


def _number_or_first(view: FormView, position: int) -> int:
    return steps.number_at(view, position) or 1


def _step_files(
    request: HttpRequest, draft: _Stepped, items: list[dict[str, Any]], verb: str, target: str
) -> dict[str, list[str]]:
    """Send the files chosen on this step and remove the document asked for; the refusals,
    by field, for the page."""
    user, dossier_id = draft.user, draft.dossier.pk
    errors: dict[str, list[str]] = {}
    if verb == "drop":
        try:
            actions.do_remove_attachment(user, dossier_id, target)
        except Http404:
            pass  # removed meanwhile (another tab, a second press): nothing left to do
        else:
            messages.success(request, _("The document is removed."))
    for spec in items:
        name = str(spec.get("name", ""))
        upload = request.FILES.get(f"upload-{name}") if spec.get("type") == "file" else None
        if upload is None:
            continue
        if refused := _send_file(request, user, dossier_id, name, upload):
            errors[name] = refused
    return errors


def _send_file(
    request: HttpRequest, user: User, dossier_id: UUID, field: str, upload: UploadedFile[Any]
) -> list[str]:
    """Attach one file to `field`: its refusal (the reason, then each detail) for the page, or
    nothing and a message saying it was added."""
    try:
        attachment = actions.do_add_attachment(user, dossier_id, field, upload)
    except ActionError as error:
        return [error.message, *(message for values in error.fields.values() for message in values)]
    messages.success(request, _("Document “%(name)s” added.") % {"name": attachment.original_name})
    return []


def _after_step(before: _Stepped, after: _Stepped, position: int, verb: str, target: str) -> str:
    """Where a saved step leads. "Next" stays on the step when the answers just given made
    questions appear on it (a condition on the same page), so none is passed by unseen."""
    dossier_id = after.dossier.pk
    view = after.view()
    here = _number_or_first(view, position)
    if verb in ("add", "remove"):
        block = target.split(".", 1)[0]
        add = block if verb == "add" else ""
        return steps.step_url(dossier_id, here, add=add, anchor=f"field-{block}")
    if verb == "back":
        return steps.step_url(dossier_id, steps.previous_step(view, position))
    if verb == steps.REVIEW:
        return steps.step_url(dossier_id, steps.REVIEW)
    if verb == "next":
        old, new = steps.page_at(before.view(), position), steps.page_at(view, position)
        if new is not None and new.names - (old.names if old else set()):
            return steps.step_url(dossier_id, here)
        return steps.step_url(dossier_id, steps.next_step(view, position))
    return steps.step_url(dossier_id, here)  # "save": a file sent or removed, stay


def _submit_reviewed(request: HttpRequest, draft: _Stepped) -> HttpResponse:
    """The review's button: the answers are already saved step by step, so only the
    transition is left; a refusal shows the review with each error linked to its step."""
    intent = request.POST.get("intent", "")[:32]
    if intent not in (Action.SUBMIT, Action.RESUBMIT):
        return redirect(steps.step_url(draft.dossier.pk, steps.REVIEW))
    try:
        actions.do_transition(draft.user, draft.dossier.pk, intent)
    except Conflict as error:
        return _moved_on(request, draft, error)
    except ActionError as error:
        errors = error.fields or {"": [error.message]}
        return _review_page(request, _fresh(draft), status=400, errors=errors)
    messages.success(request, DONE_MESSAGES[Action(intent)])
    if intent == Action.SUBMIT:
        return redirect("dossier_receipt", draft.dossier.pk)
    return redirect("dossier_detail", draft.dossier.pk)


@login_required
@vault_guard
@require_GET
def dossier_list(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(access.applicant_dossiers(_user(request)), LIST_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "dossiers/list.html", {"page": page})


@login_required
@vault_guard
@require_GET
def dossier_detail(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier = access.access_dossier(user, dossier_id)
    if dossier.applicant_id != user.pk:
        return redirect("agent_dossier", dossier.pk)
    draft = _stepped_form(user, dossier)
    if draft is None:
        return _applicant_page(request, dossier, add_row=request.GET.get("add", "")[:64])
    return _open_step(request, draft, request.GET.get(steps.STEP, "")[:16])


@login_required
@vault_guard
@require_POST
def save_answers(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    """Save the answers; with intent=submit or resubmit, then send the dossier in the same go,
    so nothing typed is lost by pressing the final button without saving first. The intents
    add:<block> and remove:<block>.<row> save too, with a row more or less: a repeatable
    block works without JavaScript."""
    user = _user(request)
    dossier = _own_dossier(user, dossier_id)
    page = request.POST.get(steps.PAGE)
    draft = _stepped_form(user, dossier) if page is not None else None
    if draft is not None and page == steps.REVIEW:
        return _submit_reviewed(request, draft)
    if draft is not None and page is not None:
        return _save_step(request, draft, steps.parse_position(page[:8]))
    intent = request.POST.get("intent", "save")[:200]
    verb, _sep, target = intent.partition(":")
    definition, _changes = dossier_definition(dossier)
    form = list(definition.get("form") or [])
    data = answers_from_post(form, request.POST, remove_row=target if verb == "remove" else "")
    add_row = target if verb == "add" else ""
    try:
        actions.do_update_answers(user, dossier.pk, data)
        if intent in (Action.SUBMIT, Action.RESUBMIT):
            actions.do_transition(user, dossier.pk, intent)
    except Conflict as error:
        return _applicant_page(
            request, _own_dossier(user, dossier_id), status=409, notice=error.message
        )
    except ActionError as error:
        return _applicant_page(
            request,
            _own_dossier(user, dossier_id),
            status=400,
            errors=error.fields or {"": [error.message]},
            typed=data,
            add_row=add_row,
        )
    if intent == Action.SUBMIT:
        messages.success(request, DONE_MESSAGES[Action.SUBMIT])
        return redirect("dossier_receipt", dossier.pk)
    if intent == Action.RESUBMIT:
        messages.success(request, DONE_MESSAGES[Action.RESUBMIT])
    else:
        messages.success(request, _("Your answers are saved."))
    url = reverse("dossier_detail", args=[dossier.pk])
    if verb in ("add", "remove"):
        block = target.split(".", 1)[0]
        query = f"?add={block}" if verb == "add" else ""
        return redirect(f"{url}{query}#field-{block}")
    return redirect(url)


@login_required
@vault_guard
@require_POST
def add_attachment(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier = _own_dossier(user, dossier_id)
    field = request.POST.get("field", "")[:64]
    upload = request.FILES.get("file")
    if upload is None:
        refused = [_("Choose a file."), _("Choose a file to send.")]
    else:
        refused = _send_file(request, user, dossier.pk, field, upload)
    if refused:
        return _applicant_page(request, dossier, status=400, errors={field or "file": refused})
    return redirect(reverse("dossier_detail", args=[dossier.pk]) + "#documents")


@login_required
@vault_guard
@require_POST
def remove_attachment(request: HttpRequest, dossier_id: UUID, attachment_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier = _own_dossier(user, dossier_id)
    actions.do_remove_attachment(user, dossier.pk, attachment_id)
    messages.success(request, _("The document is removed."))
    return redirect(reverse("dossier_detail", args=[dossier.pk]) + "#documents")


def _download(user: User, dossier: Dossier, attachment: Attachment) -> FileResponse:
    try:
        return attachment_response(attachment, access.read_file(user, dossier, attachment))
    except FileNotFoundError:
        logger.error("attachment %s: file missing from storage", attachment.pk)
        raise Http404 from None


@login_required
@vault_guard
@require_GET
def download_attachment(
    request: HttpRequest, dossier_id: UUID, attachment_id: UUID
) -> FileResponse:
    user = _user(request)
    dossier, attachment = access.access_attachment(user, dossier_id, attachment_id)
    if dossier.applicant_id != user.pk:
        raise Http404
    return _download(user, dossier, attachment)


@login_required
@vault_guard
@require_POST
def post_message(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier = _own_dossier(user, dossier_id)
    body = request.POST.get("body", "")
    try:
        actions.do_post_message(user, dossier.pk, body)
    except ActionError as error:
        return _applicant_page(request, dossier, status=400, errors=error.fields, message_body=body)
    messages.success(request, _("Your message is sent."))
    return redirect(reverse("dossier_detail", args=[dossier.pk]) + "#messages")


@login_required
@vault_guard
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    """A confirmation page, since withdrawing cannot be undone and the page works without JS."""
    user = _user(request)
    dossier = _own_dossier(user, dossier_id, Action.WITHDRAW)
    reason = request.POST.get("comment", "")
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            actions.do_transition(user, dossier.pk, Action.WITHDRAW, reason)
        except Conflict as error:
            return _applicant_page(
                request, _own_dossier(user, dossier_id), status=409, notice=error.message
            )
        except ActionError as error:
            errors = error.fields
        else:
            messages.success(request, DONE_MESSAGES[Action.WITHDRAW])
            return redirect("dossier_detail", dossier.pk)
    context = {
        "dossier": dossier,
        "reason": reason,
        "errors": errors,
        "has_errors": bool(errors),
        "page_url": reverse("dossier_detail", args=[dossier.pk]),
    }
    return render(request, "dossiers/withdraw.html", context, status=400 if errors else 200)


@login_required
@vault_guard
@require_http_methods(["GET", "POST"])
def delete_draft(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier = _own_dossier(user, dossier_id, "delete")
    if request.method == "POST":
        actions.do_delete_draft(user, dossier.pk)
        messages.success(request, _("The draft is deleted."))
        return redirect("dossier_list")
    return render(request, "dossiers/delete.html", {"dossier": dossier})


@login_required
@vault_guard
@require_GET
def receipt(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier = _own_dossier(user, dossier_id)
    if not dossier.number:
        raise Http404  # a draft has no receipt yet
    access.open_people(user, [dossier])
    return render(request, "dossiers/receipt.html", {"dossier": dossier})


# --- The agents' back office ------------------------------------------------------------------


def _agent_dossier(user: User, dossier_id: UUID) -> tuple[Dossier, dict[str, bool]]:
    dossier = access.access_dossier(user, dossier_id)
    abilities = access.get_abilities(user, dossier)
    if not abilities[access.INSTRUCT]:
        raise Http404  # the applicant and other organisations' agents do not instruct it
    return dossier, abilities


def _agent_page(
    request: HttpRequest,
    dossier: Dossier,
    abilities: dict[str, bool],
    *,
    status: int = 200,
    failed_action: str = "",
    errors: dict[str, list[str]] | None = None,
    comment: str = "",
    notice: str = "",
    message_body: str = "",
) -> HttpResponse:
    errors = errors or {}
    user = _user(request)
    attachments = access.read_attachments(user, dossier)
    definition, _changes = dossier_definition(dossier)
    fields = build_fields(
        definition.get("form") or [], access.read_answers(user, dossier), attachments=attachments
    )
    offered = access.agent_transitions(user, dossier)
    context = {
        **_shared_context(user, dossier),
        "applicant": access.read_applicant(user, dossier),
        "abilities": abilities,
        "answers": [f for f in fields if f.type != "file"],
        "document_fields": [f for f in fields if f.type == "file"],
        "agent_actions": [_offer(dossier, t) for t in offered],
        "assignees": (
            colleagues(dossier.team_id or dossier.organisation_id)
            if any(t.assign == "chosen" for t in offered)
            else []
        ),
        "failed_action": failed_action,
        "errors": errors,
        "has_errors": bool(errors),
        "comment": comment,
        "notice": notice,
        "message_body": message_body,
        "page_url": reverse("agent_dossier", args=[dossier.pk]),
    }
    return render(request, "dossiers/agent/detail.html", context, status=status)


def _offer(dossier: Dossier, transition: TransitionDef) -> dict[str, Any]:
    """What the agent page needs to offer one transition: its form depends on whether it
    assigns, needs a reason, or decides."""
    target = workflow_of(dossier).states[transition.target]
    return {
        "name": transition.name,
        "label": transition.display,
        "assign": transition.assign,
        "reason_required": transition.reason_required,
        "outcome": target.outcome if target.outcome in DECISION_OUTCOMES else "",
    }


def _queue_states(procedures: list[Procedure]) -> list[tuple[str, str]]:
    """Every state but the draft of the workflows of the procedures the agent instructs."""
    seen: dict[str, str] = {}
    workflows = [workflow_of_procedure(p) for p in procedures] or [workflow_of_procedure(None)]
    for workflow in workflows:
        for name in workflow.states:
            if name != State.DRAFT:
                seen.setdefault(name, workflow.label(name))
    return list(seen.items())


@login_required
@vault_guard
@require_GET
def agent_queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not is_agent(user):
        raise Http404
    filters = access.parse_filters(request.GET)
    page = access.instruction_queue(
        user, filters, request.GET.get("cursor", "")[:200], QUEUE_PAGE_SIZE
    )
    access.open_people(user, page.dossiers)
    now = timezone.now()
    procedures = list(
        published_procedures().filter(
            organisation_id__in=organisations_with_role(user, INSTRUCTION_ROLES)
        )
    )
    context = {
        "rows": [{"dossier": d, "overdue": access.is_overdue(d, now)} for d in page.dossiers],
        "next_cursor": page.next_cursor,
        "filters": filters,
        "procedures": procedures,
        "states": _queue_states(procedures),
        "not_first_page": bool(request.GET.get("cursor")),
    }
    return render(request, "dossiers/agent/queue.html", context)


@login_required
@vault_guard
@require_GET
def agent_dossier(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    dossier, abilities = _agent_dossier(_user(request), dossier_id)
    return _agent_page(request, dossier, abilities)


@login_required
@vault_guard
@require_POST
def agent_transition(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier, abilities = _agent_dossier(user, dossier_id)
    action = request.POST.get("action", "")
    comment = request.POST.get("comment", "")
    try:
        actions.do_transition(
            user, dossier.pk, action, comment, request.POST.get("assignee") or None
        )
    except Conflict as error:
        fresh, abilities = _agent_dossier(user, dossier_id)
        notice = _("Another agent already decided on this dossier, or it changed meanwhile.")
        return _agent_page(
            request, fresh, abilities, status=409, notice=f"{notice} {error.message}"
        )
    except ActionError as error:
        return _agent_page(
            request,
            dossier,
            abilities,
            status=400,
            failed_action=action,
            errors=error.fields or {"": [error.message]},
            comment=comment,
        )
    done = DONE_MESSAGES.get(Action(action)) if action in Action.values else None
    messages.success(request, done or _("Done: the dossier's status is updated."))
    return redirect("agent_dossier", dossier.pk)


@login_required
@vault_guard
@require_POST
def agent_message(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier, abilities = _agent_dossier(user, dossier_id)
    body = request.POST.get("body", "")
    try:
        actions.do_post_message(user, dossier.pk, body)
    except ActionError as error:
        return _agent_page(
            request, dossier, abilities, status=400, errors=error.fields, message_body=body
        )
    messages.success(request, _("Your message is sent to the applicant."))
    return redirect(reverse("agent_dossier", args=[dossier.pk]) + "#messages")


@login_required
@vault_guard
@require_GET
def agent_attachment(request: HttpRequest, dossier_id: UUID, attachment_id: UUID) -> FileResponse:
    user = _user(request)
    dossier, attachment = access.access_attachment(user, dossier_id, attachment_id)
    if not access.get_abilities(user, dossier)[access.INSTRUCT]:
        raise Http404
    return _download(user, dossier, attachment)
