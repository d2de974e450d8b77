"""The designer pages: an organisation's designers (and administrators) create and change its
procedures, preview the form as applicants see it, file test dossiers, publish and close.

Pages live under /agent/, so agents reach them only with two-factor authentication. Each page
loads the procedure through catalog.access (404 to anyone but its designers) and writes through
catalog.actions; a definition is always edited whole and checked by the definition language's
own checks, whose problems are shown on the box they concern.
"""

import copy
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guichet.catalog import designer
from guichet.catalog.access import access_designed_procedure, designer_organisations
from guichet.catalog.actions import (
    do_close_procedure,
    do_create_procedure,
    do_publish_designed_procedure,
    do_save_designed_definition,
    do_unpublish_procedure,
)
from guichet.catalog.definition import Invalid, Problem, dump, line_of, parse
from guichet.catalog.designer_forms import (
    TYPE_NAMES,
    CloseForm,
    FieldForm,
    MetadataForm,
    NewProcedureForm,
    WorkflowForm,
    YamlForm,
)
from guichet.catalog.forms import check_answers
from guichet.catalog.models import Procedure
from guichet.catalog.render import answers_from_post, build_form
from guichet.catalog.service import drafts_in_progress, export_definition
from guichet.catalog.teams import team_problems
from guichet.catalog.text import translated
from guichet.dossiers.actions import do_create_draft, do_purge_test_dossiers
from guichet.dossiers.service import (
    count_test_dossiers,
    count_test_dossiers_of,
    own_test_dossiers,
)
from guichet.errors import ActionError
from guichet.forms_errors import form_error_summary
from guichet.identity.models import Organisation, User

PREVIEW_CHECK = "check"


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def designer_page[**P](
    view: Callable[P, HttpResponse],
) -> Callable[P, HttpResponse]:
    """Signed in (anonymous visitors go to the sign-in page) and a designer somewhere."""

    @login_required
    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        request = args[0]
        assert isinstance(request, HttpRequest)
        if not designer_organisations(request.user):
            raise PermissionDenied
        return view(*args, **kwargs)

    return guarded


def _add_errors(form: forms.Form, placed: dict[str, list[str]]) -> None:
    for name, errors in placed.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


def _procedure_context(procedure: Procedure, here: str) -> dict[str, Any]:
    return {"procedure": procedure, "here": here, "has_errors": False}


def _refused(form: forms.Form, error: ActionError) -> tuple[list[str], bool]:
    """A change refused by the catalog: its explanation, and whether to offer "new drafts
    only" (the drafts in progress could not follow it)."""
    offer = "form" in error.fields
    if not offer:
        for name, errors in error.fields.items():
            for message in errors:
                form.add_error(name if name in form.fields else None, message)
        return ([] if error.fields else [error.message]), False
    return [error.message], True


# --- Home and creation --------------------------------------------------------------------------


@designer_page
@require_http_methods(["GET"])
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    procedures = list(
        Procedure.objects.filter(organisation_id__in=designer_organisations(user))
        .select_related("organisation")
        .order_by("organisation__name", "slug")
    )
    tests = count_test_dossiers(procedures)
    rows = [
        {
            "procedure": procedure,
            "drafts": drafts_in_progress(procedure),
            "tests": tests.get(procedure.pk, 0),
        }
        for procedure in procedures
    ]
    return render(request, "catalog/designer/home.html", {"rows": rows})


def _organisation_choices(user: User) -> list[tuple[str, str]]:
    return [
        (org.slug, org.name)
        for org in Organisation.objects.filter(pk__in=designer_organisations(user)).order_by("name")
    ]


@designer_page
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    choices = _organisation_choices(user)
    form = NewProcedureForm(request.POST or None, organisations=choices)
    others: list[str] = []
    if request.method == "POST" and form.is_valid():
        organisation = Organisation.objects.get(slug=form.cleaned_data["organisation"])
        try:
            procedure = do_create_procedure(
                user,
                organisation,
                form.cleaned_data["slug"],
                designer.texts_from(form.cleaned_data, "title"),
            )
        except Invalid as error:
            placed, others = designer.place_problems(error.problems, "", designer.METADATA_KEYS)
            _add_errors(form, placed)
        except ActionError as error:
            others, _offer = _refused(form, error)
        else:
            messages.success(request, _("The procedure is created. Add its fields."))
            return redirect("designer_procedure", procedure.slug)
    context = {
        "form": form,
        "error_summary": form_error_summary(form, others) if request.method == "POST" else [],
    }
    context["has_errors"] = bool(context["error_summary"])
    return render(
        request,
        "catalog/designer/create.html",
        context,
        status=400 if context["has_errors"] else 200,
    )


# --- One procedure: overview and metadata -----------------------------------------------------


def _save(
    request: HttpRequest,
    procedure: Procedure,
    definition: dict[str, Any],
    form: forms.Form,
    prefix: str,
    keys: dict[str, str],
) -> tuple[bool, list[str], bool]:
    """Save a changed definition; on failure put the problems on the form. Returns (saved,
    problems shown above the form, whether to offer "new drafts only")."""
    new_drafts_only = (
        bool(form.cleaned_data.get("new_drafts_only")) if hasattr(form, "cleaned_data") else False
    )
    try:
        saved = do_save_designed_definition(
            _user(request), procedure, definition, new_drafts_only=new_drafts_only
        )
    except Invalid as error:
        placed, others = designer.place_problems(error.problems, prefix, keys)
        _add_errors(form, placed)
        return False, others, False
    except ActionError as error:
        others, offer = _refused(form, error)
        return False, others, offer
    if saved.new_version:
        messages.success(
            request, _("Saved as version %(version)d.") % {"version": saved.procedure.version}
        )
    else:
        messages.success(request, _("Saved."))
    return True, [], False


def _metadata_initial(definition: dict[str, Any]) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "applicant_kinds": definition.get("applicant_kinds") or ["person"],
        "fee_amount": (definition.get("fees") or {}).get("amount", 0),
        "deadline_days": definition.get("deadline_days", 30),
        "retention_days": definition.get("retention_days"),
    }
    for key in ("title", "summary", "legal_basis", "data_protection"):
        initial.update(designer.texts_initial(definition.get(key), key))
    return initial


@designer_page
@require_http_methods(["GET", "POST"])
def procedure_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The procedure's overview and its metadata form."""
    user = _user(request)
    procedure = access_designed_procedure(user, slug)
    definition = export_definition(procedure)
    form = MetadataForm(request.POST or None, initial=_metadata_initial(definition))
    others: list[str] = []
    offer = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changed = copy.deepcopy(definition)
        for key in ("title", "summary", "legal_basis", "data_protection"):
            changed[key] = designer.texts_from(data, key)
            if not changed[key]:
                del changed[key]  # an empty text is left out, not written as {}
        changed["applicant_kinds"] = list(data["applicant_kinds"])
        changed["deadline_days"] = data["deadline_days"]
        changed["retention_days"] = data["retention_days"]
        fees = dict(changed.get("fees") or {})
        fees["amount"] = data["fee_amount"]
        changed["fees"] = fees
        ok, others, offer = _save(request, procedure, changed, form, "", designer.METADATA_KEYS)
        if ok:
            return redirect("designer_procedure", procedure.slug)
    summary = form_error_summary(form, others) if request.method == "POST" else []
    return _overview(request, procedure, form, CloseForm(), summary, offer)


def _overview(
    request: HttpRequest,
    procedure: Procedure,
    form: MetadataForm,
    close_form: CloseForm,
    summary: list[dict[str, str]],
    offer: bool = False,
) -> HttpResponse:
    context = {
        **_procedure_context(procedure, "overview"),
        "form": form,
        "error_summary": summary,
        "has_errors": bool(summary),
        "offer_new_drafts_only": offer,
        "drafts": drafts_in_progress(procedure),
        "test_dossiers": own_test_dossiers(_user(request), procedure),
        "test_count": count_test_dossiers_of(procedure),
        "close_form": close_form,
        "public_url": reverse("procedure", args=[procedure.slug]),
    }
    return render(
        request, "catalog/designer/procedure.html", context, status=400 if summary else 200
    )


# --- Fields ------------------------------------------------------------------------------------


def _field_rows(items: list[dict[str, Any]], block: int | None) -> list[dict[str, Any]]:
    rows = []
    for index, item in enumerate(items):
        path = f"{block}.{index}" if block is not None else str(index)
        rows.append(
            {
                "path": path,
                "index": index,
                "kind": TYPE_NAMES.get(str(item.get("type")), item.get("type")),
                "type": item.get("type"),
                "name": item.get("name", ""),
                "label": translated(item.get("label") or item.get("text")) or "",
                "required": bool(item.get("required")),
                "conditional": "visible_if" in item,
                "first": index == 0,
                "last": index == len(items) - 1,
                "children": _field_rows(item.get("fields") or [], index)
                if item.get("type") == "block" and block is None
                else [],
            }
        )
    return rows


@designer_page
@require_http_methods(["GET"])
def fields(request: HttpRequest, slug: str) -> HttpResponse:
    procedure = access_designed_procedure(_user(request), slug)
    context = {
        **_procedure_context(procedure, "fields"),
        "rows": _field_rows(list(procedure.form), None),
    }
    return render(request, "catalog/designer/fields.html", context)


def _locate(definition: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], int | None, int]:
    """The list holding the item at `path`, the block it is in and its index; 404 if none."""
    found = designer.parse_path(path)
    if found is None:
        raise Http404
    first, second = found
    block, index = (first, second) if second is not None else (None, first)
    items = designer.container(definition, block)
    if items is None or not 0 <= index < len(items):
        raise Http404
    return items, block, index


def _field_page(
    request: HttpRequest,
    procedure: Procedure,
    form: FieldForm,
    *,
    action: str,
    others: list[str],
    offer: bool,
    condition_fits: bool = True,
    block_label: str = "",
) -> HttpResponse:
    summary = form_error_summary(form, others) if request.method == "POST" else []
    context = {
        **_procedure_context(procedure, "fields"),
        "form": form,
        "action": action,
        "error_summary": summary,
        "has_errors": bool(summary),
        "offer_new_drafts_only": offer,
        "condition_fits": condition_fits,
        "block_label": block_label,
    }
    return render(request, "catalog/designer/field.html", context, status=400 if summary else 200)


@designer_page
@require_http_methods(["GET", "POST"])
def field_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Add an item at the end of the form, or of a block's fields (?block=N)."""
    procedure = access_designed_procedure(_user(request), slug)
    definition = export_definition(procedure)
    raw_block = request.GET.get("block", "")
    block = int(raw_block) if raw_block.isdigit() and len(raw_block) < 4 else None
    items = designer.container(definition, block)
    if items is None or (raw_block and block is None):
        raise Http404
    form = FieldForm(request.POST or None, nested=block is not None)
    others: list[str] = []
    offer = False
    if request.method == "POST" and form.is_valid():
        item = designer.item_from(form.cleaned_data, None, [*definition["form"], *items])
        items.append(item)
        prefix = designer.definition_path(block, len(items) - 1)
        ok, others, offer = _save(
            request, procedure, definition, form, prefix, designer.FIELD_FORM_KEYS
        )
        if ok:
            return redirect("designer_fields", procedure.slug)
    block_label = translated(definition["form"][block].get("label")) if block is not None else ""
    action = reverse("designer_field_new", args=[procedure.slug]) + (
        f"?block={block}" if block is not None else ""
    )
    return _field_page(
        request, procedure, form, action=action, others=others, offer=offer, block_label=block_label
    )


@designer_page
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    procedure = access_designed_procedure(_user(request), slug)
    definition = export_definition(procedure)
    items, block, index = _locate(definition, path)
    before = items[index]
    initial, fits = designer.item_initial(before)
    form = FieldForm(request.POST or None, initial=initial, nested=block is not None)
    others: list[str] = []
    offer = False
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "keep_condition": not fits}
        items[index] = designer.item_from(data, before, [*definition["form"], *items])
        prefix = designer.definition_path(block, index)
        ok, others, offer = _save(
            request, procedure, definition, form, prefix, designer.FIELD_FORM_KEYS
        )
        if ok:
            return redirect("designer_fields", procedure.slug)
    action = reverse("designer_field", args=[procedure.slug, path])
    return _field_page(
        request, procedure, form, action=action, others=others, offer=offer, condition_fits=fits
    )


def _change_items(
    request: HttpRequest, slug: str, path: str, change: Callable[[list[dict[str, Any]], int], None]
) -> HttpResponse:
    procedure = access_designed_procedure(_user(request), slug)
    definition = export_definition(procedure)
    items, _block, index = _locate(definition, path)
    change(items, index)
    try:
        do_save_designed_definition(
            _user(request),
            procedure,
            definition,
            new_drafts_only=bool(request.POST.get("new_drafts_only")),
        )
    except Invalid as error:
        return _fields_refused(request, procedure, [str(p) for p in error.problems], False)
    except ActionError as error:
        return _fields_refused(request, procedure, [error.message], "form" in error.fields)
    messages.success(request, _("Saved."))
    return redirect("designer_fields", procedure.slug)


def _fields_refused(
    request: HttpRequest, procedure: Procedure, problems: list[str], offer: bool
) -> HttpResponse:
    summary = [{"target": "", "text": text} for text in problems]
    context = {
        **_procedure_context(procedure, "fields"),
        "rows": _field_rows(list(procedure.form), None),
        "error_summary": summary,
        "has_errors": True,
        "offer_new_drafts_only": offer,
        "retry_url": request.path,
        "retry_direction": request.POST.get("direction", "")[:10],
    }
    return render(request, "catalog/designer/fields.html", context, status=400)


@designer_page
@require_POST
def field_move(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    direction = request.POST.get("direction", "")

    def move(items: list[dict[str, Any]], index: int) -> None:
        other = index - 1 if direction == "up" else index + 1
        if direction not in ("up", "down") or not 0 <= other < len(items):
            raise Http404
        items[index], items[other] = items[other], items[index]

    return _change_items(request, slug, path, move)


@designer_page
@require_POST
def field_delete(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    def delete(items: list[dict[str, Any]], index: int) -> None:
        del items[index]

    return _change_items(request, slug, path, delete)


# --- Workflow and YAML --------------------------------------------------------------------------


@designer_page
@require_http_methods(["GET", "POST"])
def workflow(request: HttpRequest, slug: str) -> HttpResponse:
    procedure = access_designed_procedure(_user(request), slug)
    definition = export_definition(procedure)
    initial, fits = designer.workflow_initial(dict(definition.get("workflow") or {}))
    form = WorkflowForm(request.POST or None, initial=initial)
    others: list[str] = []
    offer = False
    if request.method == "POST" and form.is_valid():
        definition["workflow"] = designer.workflow_from(form.cleaned_data)
        ok, others, offer = _save(request, procedure, definition, form, "workflow", WORKFLOW_KEYS)
        if ok:
            return redirect("designer_procedure", procedure.slug)
    summary = form_error_summary(form, others) if request.method == "POST" else []
    context = {
        **_procedure_context(procedure, "workflow"),
        "form": form,
        "fits": fits,
        "error_summary": summary,
        "has_errors": bool(summary),
        "offer_new_drafts_only": offer,
    }
    return render(
        request, "catalog/designer/workflow.html", context, status=400 if summary else 200
    )


WORKFLOW_KEYS = {
    "routing": "routing_answer",
    "routing.teams": "routing_teams",
    "routing.default": "routing_default",
    "tacit_decision": "tacit_days",
    "states": "approval",
    "transitions": "approval",
}


def _yaml_problems(text: str, organisation: Organisation) -> list[Problem]:
    """The problems of a YAML text, each with its line; [] when it reads and checks well,
    routing included: "valid" means saving it would work."""
    from guichet.catalog.definition import check

    try:
        data, lines = parse(text)
    except Invalid as error:
        return error.problems
    found = check(data) or team_problems(data, organisation)
    return [Problem(p.path, p.message, line_of(lines, p.path)) for p in found]


@designer_page
@require_http_methods(["GET", "POST"])
def yaml_editor(request: HttpRequest, slug: str) -> HttpResponse:
    """The whole definition as YAML; what the designer typed is always shown back, with the
    problems and their lines, until it is right."""
    procedure = access_designed_procedure(_user(request), slug)
    form = YamlForm(
        request.POST or None,
        request.FILES or None,
        initial={"text": dump(export_definition(procedure))},
    )
    problems: list[Problem] = []
    others: list[str] = []
    offer = False
    text = ""
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"] or ""
        upload = form.cleaned_data.get("upload")
        if upload is not None:
            try:
                text = upload.read(2_000_000).decode("utf-8")
            except UnicodeDecodeError:
                form.add_error("upload", _("The file is not UTF-8 text."))
        if not form.errors:
            problems = _yaml_problems(text, procedure.organisation)
            if not problems and request.POST.get("intent") != "validate":
                data, lines = parse(text)
                try:
                    saved = do_save_designed_definition(
                        _user(request),
                        procedure,
                        data,
                        new_drafts_only=form.cleaned_data["new_drafts_only"],
                    )
                except Invalid as error:
                    problems = [
                        Problem(p.path, p.message, p.line or line_of(lines, p.path))
                        for p in error.problems
                    ]
                except ActionError as error:
                    others, offer = [error.message], "form" in error.fields
                else:
                    messages.success(
                        request,
                        _("Saved as version %(version)d.") % {"version": saved.procedure.version},
                    )
                    return redirect("designer_yaml", procedure.slug)
            elif not problems:
                messages.info(request, _("The definition is valid. It is not saved yet."))
    summary = form_error_summary(form if request.method == "POST" else None, others)
    if request.method == "POST":
        # Never lose what was typed or uploaded: show it back as it came.
        form = YamlForm(initial={"text": text or request.POST.get("text", "")})
    summary = [{"target": "id_text", "text": str(p)} for p in problems] + summary
    context = {
        **_procedure_context(procedure, "yaml"),
        "form": form,
        "problems": problems,
        "error_summary": summary,
        "has_errors": bool(summary),
        "offer_new_drafts_only": offer,
    }
    return render(request, "catalog/designer/yaml.html", context, status=400 if summary else 200)


# --- Preview, tests, publication ---------------------------------------------------------------


@designer_page
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The form as an applicant sees it, with the same engine and templates. Saving here
    re-renders it (conditions, rows added or removed) and checks the answers; nothing is kept."""
    procedure = access_designed_procedure(_user(request), slug)
    form = list(procedure.form)
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    typed: dict[str, Any] | None = None
    add_row = ""
    if request.method == "POST":
        intent = request.POST.get("intent", "save")[:200]
        verb, _sep, target = intent.partition(":")
        typed = answers_from_post(form, request.POST, remove_row=target if verb == "remove" else "")
        checked = check_answers(form, typed, complete=intent == PREVIEW_CHECK)
        answers, errors = checked.values, checked.errors
        add_row = target if verb == "add" else ""
        if not errors and intent == PREVIEW_CHECK:
            messages.success(request, _("These answers would be accepted."))
    form_view = build_form(
        form, answers, errors=errors, typed=typed, add_row=add_row, editable=True
    )
    context = {
        **_procedure_context(procedure, "preview"),
        "form_view": form_view,
        "errors": errors,
        "has_errors": bool(errors),
        "error_summary": [
            {"target": "", "text": f"{name}: {' '.join(texts)}" if name else " ".join(texts)}
            for name, texts in errors.items()
        ],
    }
    return render(request, "catalog/designer/preview.html", context)


@designer_page
@require_POST
def test_dossier(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a test dossier against the procedure as it is now, published or not: the
    designer fills it in on the applicant's own pages."""
    user = _user(request)
    procedure = access_designed_procedure(user, slug)
    try:
        dossier = do_create_draft(user, procedure, is_test=True)
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("designer_procedure", procedure.slug)
    messages.success(request, _("Test dossier started: it is kept out of queues and figures."))
    return redirect("dossier_detail", dossier.pk)


@designer_page
@require_POST
def purge_tests(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    procedure = access_designed_procedure(user, slug)
    count = do_purge_test_dossiers(user, procedure)
    messages.success(request, _("%(count)d test dossiers erased.") % {"count": count})
    return redirect("designer_procedure", procedure.slug)


def _status_change(
    request: HttpRequest, slug: str, change: Callable[[User, Procedure], Procedure], done: str
) -> HttpResponse:
    user = _user(request)
    procedure = access_designed_procedure(user, slug)
    try:
        change(user, procedure)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("designer_procedure", procedure.slug)


@designer_page
@require_POST
def publish(request: HttpRequest, slug: str) -> HttpResponse:
    return _status_change(
        request, slug, do_publish_designed_procedure, _("Published: applicants can file it.")
    )


@designer_page
@require_POST
def unpublish(request: HttpRequest, slug: str) -> HttpResponse:
    return _status_change(
        request, slug, do_unpublish_procedure, _("Unpublished: it is out of the catalog.")
    )


@designer_page
@require_POST
def close(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    procedure = access_designed_procedure(user, slug)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            do_close_procedure(user, procedure, form.cleaned_data["replacement"])
        except ActionError as error:
            for message in error.fields.get("replacement", [error.message]):
                form.add_error("replacement", message)
        else:
            messages.success(request, _("Closed: its page now says so."))
            return redirect("designer_procedure", procedure.slug)
    # The replacement's box shows what is wrong, on the overview page it belongs to.
    metadata = MetadataForm(initial=_metadata_initial(export_definition(procedure)))
    return _overview(request, procedure, metadata, form, form_error_summary(form))
