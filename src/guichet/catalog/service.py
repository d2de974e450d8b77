"""What other apps may ask of the catalog."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from guichet.catalog.definition import normalise
from guichet.catalog.models import Procedure, ProcedureVersion
from guichet.catalog.text import fold

# Counts a procedure's drafts in progress, registered by the dossiers app (catalog cannot
# import it: dossiers depends on catalog, not the other way round).
_draft_counter: list[Callable[[Procedure], int]] = []


def register_draft_counter(counter: Callable[[Procedure], int]) -> None:
    _draft_counter[:] = [counter]


def drafts_in_progress(procedure: Procedure) -> int:
    return sum(counter(procedure) for counter in _draft_counter)


def published_procedures(query: str = "") -> QuerySet[Procedure]:
    """Published procedures, filtered by words: every word must appear, accents and case ignored."""
    procedures = Procedure.objects.filter(status=Procedure.Status.PUBLISHED).select_related(
        "organisation"
    )
    for word in fold(query).split()[:10]:
        procedures = procedures.filter(search_text__contains=word)
    return procedures.order_by("slug")


def published_procedure(slug: str) -> Procedure | None:
    return published_procedures().filter(slug=slug).first()


def export_definition(procedure: Procedure) -> dict[str, Any]:
    """The procedure's current definition, as `guichet procedure export` writes it."""
    return normalise(
        {
            "format": 1,
            "slug": procedure.slug,
            "organisation": procedure.organisation.slug,
            "title": procedure.title,
            "summary": procedure.summary,
            "legal_basis": procedure.legal_basis,
            "applicant_kinds": procedure.applicant_kinds,
            "deadline_days": procedure.deadline_days,
            "retention_days": procedure.retention_days,
            "data_protection": procedure.data_protection,
            "fees": procedure.fees,
            "eligibility": procedure.eligibility,
            "form": procedure.form,
            "workflow": procedure.workflow,
        }
    )


def definition_for(procedure: Procedure, version: int) -> dict[str, Any]:
    """The definition a dossier filed under `version` of `procedure` follows."""
    if version == procedure.version:
        return export_definition(procedure)
    stored = (
        ProcedureVersion.objects.filter(procedure=procedure, number=version)
        .values_list("definition", flat=True)
        .first()
    )
    return dict(stored) if stored is not None else export_definition(procedure)


def form_for(procedure: Procedure, version: int) -> list[dict[str, Any]]:
    return list(definition_for(procedure, version).get("form") or [])


def workflow_for(procedure: Procedure, version: int) -> dict[str, Any]:
    """The workflow definition a dossier filed under `version` of `procedure` follows.

    An empty dictionary means the platform's default workflow.
    """
    return dict(definition_for(procedure, version).get("workflow") or {})


@dataclass
class Upgrade:
    """A draft's way to the current version: the changes it meets on the way."""

    version: int
    changes: list[dict[str, Any]] = field(default_factory=list)


def draft_upgrade(procedure: Procedure, version: int) -> Upgrade | None:
    """Whether a draft started under `version` moves to the current one: only when every
    version since was compatible (catalog/versions.py). None when it stays where it is."""
    if version >= procedure.version:
        return None
    later = list(
        ProcedureVersion.objects.filter(procedure=procedure, number__gt=version).order_by("number")
    )
    if not later or any(not row.compatible for row in later):
        return None
    changes = [change for row in later for change in row.changes]
    return Upgrade(version=procedure.version, changes=changes)
