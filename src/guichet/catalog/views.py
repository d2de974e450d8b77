"""Public pages: the catalog, one procedure, and the form that starts a dossier from it."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from guichet.catalog.access import access_procedure
from guichet.catalog.forms import max_file_bytes
from guichet.catalog.forms_web import type_names
from guichet.catalog.models import ApplicantKind, Procedure
from guichet.catalog.service import published_procedure, published_procedures
from guichet.catalog.text import translated
from guichet.dossiers.actions import do_create_draft
from guichet.errors import ActionError
from guichet.identity.models import User

MAX_QUERY_LENGTH = 100


def document_rows(procedure: Procedure) -> list[dict[str, Any]]:
    return [
        {
            "label": translated(spec["label"]),
            "hint": translated(spec.get("help")),
            "required": bool(spec.get("required")),
            "types": type_names(spec),
            "max_mb": round(max_file_bytes(spec) / 1048576, 1),
        }
        for spec in procedure.file_fields
    ]


def applicant_kind_options(procedure: Procedure) -> list[dict[str, str]]:
    return [
        {"value": kind, "label": str(ApplicantKind(kind).label)}
        for kind in procedure.applicant_kinds
        if kind in ApplicantKind.values
    ]


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:MAX_QUERY_LENGTH].strip()
    procedures = list(published_procedures(query))
    return render(request, "catalog/home.html", {"procedures": procedures, "query": query})


def _procedure_page(
    request: HttpRequest,
    procedure: Procedure,
    *,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    context = {
        "procedure": procedure,
        "kinds": applicant_kind_options(procedure),
        "documents": document_rows(procedure),
        "can_start": procedure.status == Procedure.Status.PUBLISHED,
        "errors": errors or {},
        "has_errors": bool(errors),
        "page_url": reverse("procedure", args=[procedure.slug]),
    }
    return render(request, "catalog/procedure.html", context, status=status)


@require_GET
def procedure_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _procedure_page(request, access_procedure(request.user, slug))


@require_POST
def start_dossier(request: HttpRequest, slug: str) -> HttpResponse:
    """Create a draft and take the applicant to it. Only published procedures take dossiers."""
    procedure_url = reverse("procedure", args=[slug])
    if not isinstance(request.user, User):
        return redirect_to_login(procedure_url)
    procedure = published_procedure(slug)
    if procedure is None:
        raise Http404
    try:
        dossier = do_create_draft(
            request.user, procedure, applicant_kind=request.POST.get("applicant_kind", "")[:16]
        )
    except ActionError as error:
        return _procedure_page(request, procedure, status=400, errors=error.fields)
    messages.success(request, _("Your application is started. Fill in the form and save it."))
    return redirect("dossier_detail", dossier.pk)
