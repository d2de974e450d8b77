"""Versions: a new version never changes a submitted dossier's; drafts follow a compatible change
(and their applicant is told what changed); an incompatible change with drafts in progress is
refused with the reason, or applied to new drafts only."""

import copy
from typing import Any

import pytest
from django.test import Client

from guichet.catalog.actions import NEW_DRAFTS_ONLY, do_import_definition
from guichet.catalog.models import Procedure, ProcedureVersion
from guichet.catalog.service import definition_for, export_definition, form_for, workflow_for
from guichet.catalog.versions import compare, is_compatible
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.errors import ActionError
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, pdf_file

pytestmark = pytest.mark.django_db


def _birth() -> Procedure:
    return Procedure.objects.get(slug=BIRTH)


def _definition() -> dict[str, Any]:
    return copy.deepcopy(export_definition(_birth()))


def _field(definition: dict[str, Any], name: str) -> dict[str, Any]:
    return next(spec for spec in definition["form"] if spec.get("name") == name)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_compatible_change_moves_drafts_and_says_what_changed(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    draft = actions.do_create_draft(awa, _birth(), BIRTH_ANSWERS)
    submitted = actions.do_create_draft(awa, _birth(), BIRTH_ANSWERS)
    actions.do_add_attachment(awa, submitted.pk, "id_document", pdf_file())
    actions.do_transition(awa, submitted.pk, "submit")

    definition = _definition()
    _field(definition, "phone")["label"] = {"fr": "Numéro de téléphone portable", "en": "Mobile"}
    definition["form"].append(
        {"name": "remarks", "type": "textarea", "label": {"fr": "Remarques particulières"}}
    )
    saved = do_import_definition(definition)
    assert saved.new_version and saved.compatible
    assert _birth().version == 2

    page = _client(awa).get(f"/dossiers/{draft.pk}/")
    body = page.content.decode()
    assert "Remarques particulières" in body  # the draft shows the new version's form
    assert "Nouvelle question : « Remarques particulières »." in body  # and says what changed
    assert "Numéro de téléphone portable" in body

    actions.do_update_answers(awa, draft.pk, {"remarks": "Merci"})
    draft.refresh_from_db()
    assert draft.procedure_version == 2
    submitted.refresh_from_db()
    assert submitted.procedure_version == 1  # a submitted dossier keeps its version
    assert "remarks" not in [spec.get("name") for spec in form_for(_birth(), 1)]
    notice = _client(awa).get(f"/dossiers/{draft.pk}/").content.decode()
    assert "New question" not in notice  # told once it moved


def test_incompatible_change_with_drafts_is_refused_with_the_reason(world: dict[str, User]) -> None:
    actions.do_create_draft(world["citizen_a"], _birth(), BIRTH_ANSWERS)
    definition = _definition()
    definition["form"] = [
        spec for spec in definition["form"] if spec.get("name") != "register_number"
    ]
    _field(definition, "copies")["max"] = 3
    with pytest.raises(ActionError) as refused:
        do_import_definition(definition)
    assert "1 brouillon en cours ne peut pas suivre" in refused.value.message
    assert "Question supprimée" in refused.value.message
    assert "Règles plus strictes" in refused.value.message
    assert (
        _birth().version == 1 and ProcedureVersion.objects.filter(procedure=_birth()).count() == 1
    )


def test_incompatible_change_for_new_drafts_only(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    old_draft = actions.do_create_draft(awa, _birth(), BIRTH_ANSWERS)
    definition = _definition()
    _field(definition, "copies")["max"] = 3
    definition["form"].append(
        {"name": "reason", "type": "text", "required": True, "label": {"fr": "Motif exact"}}
    )
    saved = do_import_definition(definition, drafts_policy=NEW_DRAFTS_ONLY)
    assert saved.new_version and not saved.compatible

    # The old draft keeps version 1: 5 copies still allowed, no new required question.
    actions.do_update_answers(awa, old_draft.pk, {"copies": 5})
    actions.do_add_attachment(awa, old_draft.pk, "id_document", pdf_file())
    actions.do_transition(awa, old_draft.pk, "submit")
    old_draft.refresh_from_db()
    assert old_draft.procedure_version == 1 and old_draft.state == "submitted"

    # A new draft follows version 2.
    new_draft = actions.do_create_draft(awa, _birth(), BIRTH_ANSWERS)
    assert new_draft.procedure_version == 2
    with pytest.raises(ActionError) as refused:
        actions.do_update_answers(awa, new_draft.pk, {"copies": 5})
    assert "copies" in refused.value.fields


def test_without_drafts_any_change_is_applied(world: dict[str, User]) -> None:
    definition = _definition()
    _field(definition, "copies")["type"] = "text"
    saved = do_import_definition(definition)
    assert saved.new_version and not saved.compatible


def test_metadata_changes_keep_the_version(world: dict[str, User]) -> None:
    definition = _definition()
    definition["summary"] = {"fr": "Nouveau résumé."}
    saved = do_import_definition(definition)
    assert not saved.new_version and _birth().version == 1
    assert definition_for(_birth(), 1)["summary"] == {"fr": "Nouveau résumé."}


def test_workflow_for_reads_the_dossier_version(world: dict[str, User]) -> None:
    from guichet.catalog.workflow_def import DEFAULT_WORKFLOW

    definition = _definition()
    workflow = {**copy.deepcopy(DEFAULT_WORKFLOW), "statutory_deadline_days": 5}
    definition["workflow"] = workflow
    do_import_definition(definition)
    assert workflow_for(_birth(), 1) == {}
    assert workflow_for(_birth(), 2) == workflow
    assert export_definition(_birth())["workflow"] == workflow


@pytest.mark.parametrize(
    ("change", "compatible"),
    [
        (lambda f: f.append({"name": "x", "type": "text", "label": "X"}), True),
        (lambda f: f.append({"name": "x", "type": "text", "required": True, "label": "X"}), False),
        (lambda f: f[1].update(label="Autre"), True),
        (lambda f: f[1].update(type="textarea"), False),
        (lambda f: f[1].update(max_length=10), False),
        (lambda f: f[2].update(max=20), True),
        (lambda f: f[2].update(min=2), False),
        (lambda f: f[3]["choices"].append({"value": "new"}), True),
        (lambda f: f[3]["choices"].pop(), False),
        (lambda f: f[1].update(required=False), True),
        (lambda f: f.pop(1), False),
        (lambda f: f.insert(0, {"type": "explanation", "text": "Lire"}), True),
    ],
)
def test_what_is_compatible(change: Any, compatible: bool) -> None:
    old: list[dict[str, Any]] = [
        {"type": "page", "label": "P"},
        {"name": "a", "type": "text", "required": True, "label": "A"},
        {"name": "n", "type": "integer", "min": 1, "max": 10, "label": "N"},
        {"name": "c", "type": "choice", "label": "C", "choices": [{"value": "x"}, {"value": "y"}]},
    ]
    new = copy.deepcopy(old)
    change(new)
    assert is_compatible(compare(old, new)) is compatible


def test_a_draft_started_before_a_refusal_of_eligibility(world: dict[str, User]) -> None:
    """Eligibility rules stop the submission with their message (pages and API alike)."""
    awa = world["citizen_a"]
    answers = {**BIRTH_ANSWERS, "for_someone_else": True, "relationship": "other"}
    draft = actions.do_create_draft(awa, _birth(), answers)
    actions.do_add_attachment(awa, draft.pk, "id_document", pdf_file())
    with pytest.raises(ActionError) as refused:
        actions.do_transition(awa, draft.pk, "submit")
    assert "Seuls la personne concernée" in refused.value.fields["eligibility"][0]
    assert Dossier.objects.get(pk=draft.pk).state == "draft"
    actions.do_update_answers(awa, draft.pk, {"relationship": "parent"})
    assert actions.do_transition(awa, draft.pk, "submit").state == "submitted"
