"""What other apps may ask of the catalog."""

from typing import Any

from django.db.models import QuerySet

from guichet.catalog.models import Procedure
from guichet.catalog.text import fold


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


def workflow_for(procedure: Procedure, version: int) -> dict[str, Any]:
    """The workflow definition a dossier filed under `version` of `procedure` follows.

    An empty dictionary means the platform's default workflow.
    """
    del version  # one version is stored today; versioned definitions keep this signature
    return dict(procedure.workflow or {})
