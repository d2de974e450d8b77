from typing import Any

from django.core.validators import slug_re
from django.http import Http404, HttpRequest
from ninja import Router, Schema

from guichet.catalog.access import access_procedure
from guichet.catalog.models import Procedure
from guichet.catalog.service import definition_for, published_procedures

router = Router(tags=["catalog"])


class OrganisationOut(Schema):
    slug: str
    name: str


class ProcedureSummary(Schema):
    slug: str
    title: str
    summary: str
    organisation: OrganisationOut
    applicant_kinds: list[str]
    fee_amount: int
    deadline_days: int
    version: int


class ProcedureOut(ProcedureSummary):
    legal_basis: str
    texts: dict[str, dict[str, str]]
    form: list[dict[str, Any]]


def summary(procedure: Procedure) -> dict[str, Any]:
    return {
        "slug": procedure.slug,
        "title": procedure.display_title,
        "summary": procedure.display_summary,
        "organisation": {"slug": procedure.organisation.slug, "name": procedure.organisation.name},
        "applicant_kinds": procedure.applicant_kinds,
        "fee_amount": procedure.fee_amount,
        "deadline_days": procedure.deadline_days,
        "version": procedure.version,
    }


@router.get("/procedures", response=list[ProcedureSummary], auth=None)
def list_procedures(request: HttpRequest, q: str = "") -> list[dict[str, Any]]:
    """Published procedures; `q` filters by words, accents and case ignored."""
    return [summary(p) for p in published_procedures(q[:200])]


@router.get("/procedures/{slug}", response=ProcedureOut, auth=None)
def get_procedure(request: HttpRequest, slug: str) -> dict[str, Any]:
    if not slug_re.match(slug):
        raise Http404  # not a slug (a NUL byte would even break the query on PostgreSQL)
    procedure = access_procedure(request.user, slug)
    return {
        **summary(procedure),
        "legal_basis": procedure.display_legal_basis,
        "texts": {
            "title": procedure.title,
            "summary": procedure.summary,
            "legal_basis": procedure.legal_basis,
        },
        "form": procedure.form,
    }


@router.get("/procedures/{slug}/definition", response=dict[str, Any], auth=None)
def get_definition(request: HttpRequest, slug: str, version: int | None = None) -> dict[str, Any]:
    """The procedure's whole definition (format: docs/procedure-definitions.md, JSON Schema:
    catalog/schema/procedure.schema.json), so a third-party front end can render and check
    the form as Guichet does. `version` gives an earlier version, as dossiers filed under it
    follow it; the current one by default."""
    if not slug_re.match(slug):
        raise Http404
    procedure = access_procedure(request.user, slug)
    if version is not None and not 1 <= version <= procedure.version:
        raise Http404
    return {
        "version": version or procedure.version,
        "definition": definition_for(procedure, version or procedure.version),
    }
