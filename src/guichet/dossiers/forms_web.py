"""What the dossier pages need from the form engine: the definition a dossier follows, and the
engine's views and POST parsing (catalog/render.py), so citizen pages, the API and the
designer's preview render and check forms one way."""

from typing import Any

from guichet.catalog.render import FieldView, FormView, answers_from_post, build_fields, build_form
from guichet.catalog.service import definition_for, draft_upgrade
from guichet.catalog.versions import describe
from guichet.dossiers.models import Dossier
from guichet.dossiers.workflow import State

__all__ = [
    "FieldView",
    "FormView",
    "answers_from_post",
    "build_fields",
    "build_form",
    "dossier_definition",
]


def dossier_definition(dossier: Dossier) -> tuple[dict[str, Any], list[str]]:
    """The definition the dossier follows and, for a draft about to move to a newer compatible
    version, what changed for its applicant (the move happens at the next save)."""
    if dossier.state == State.DRAFT:
        upgrade = draft_upgrade(dossier.procedure, dossier.procedure_version)
        if upgrade is not None:
            changes = list(dict.fromkeys(describe(change) for change in upgrade.changes))
            return definition_for(dossier.procedure, upgrade.version), changes
    return definition_for(dossier.procedure, dossier.procedure_version), []
