"""Mistakes on the designer pages get a 4xx page saying what is wrong next to the box it is
about (or with its line, in YAML), keep what was typed, and change nothing; never a 500.
Also: a change that would strand drafts in progress, and closing with a replacement."""

import copy
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from guichet.catalog.definition import dump
from guichet.catalog.models import Procedure
from guichet.catalog.service import export_definition
from guichet.catalog.tests.test_designer_support import client_for, location, people  # noqa: F401
from guichet.catalog.workflow_def import DEFAULT_WORKFLOW
from guichet.dossiers.actions import do_create_draft
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import strict_html  # noqa: F401
from guichet.identity.models import Organisation, User
from guichet.testing import BIRTH, BIRTH_ANSWERS

pytestmark = pytest.mark.django_db

B = f"/agent/designer/{BIRTH}"


def state() -> Any:
    procedure = Procedure.objects.get(slug=BIRTH)
    return (procedure.version, procedure.form, procedure.title, procedure.workflow)


def has_error_on(html: str, name: str) -> bool:
    """The box `name` is marked in error and the summary links to it."""
    return (
        f'href="#id_{name}"' in html
        and re.search(rf'class="field has-error">\s*<label for="id_{name}"', html) is not None
    )


@pytest.fixture
def designer(people: dict[str, User]) -> Any:  # noqa: F811
    return client_for(people["designer"])


def test_unreadable_yaml_is_shown_back_with_its_line(designer: Any) -> None:
    before = state()
    text = "format: 1\nslug: extrait-acte-naissance\ntitle: [unclosed\n"
    response = designer.post(f"{B}/yaml/", {"text": text, "intent": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert any(f"{word} {n}" in html for word in ("Line", "Ligne") for n in (3, 4))
    assert "title: [unclosed" in html  # the text typed is never lost
    assert state() == before


def test_yaml_problems_name_path_and_line_and_nothing_is_saved(designer: Any) -> None:
    before = state()
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    definition["form"][1]["type"] = "bogus"
    text = dump(definition)
    response = designer.post(f"{B}/yaml/", {"text": text, "intent": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "form[1].type" in html
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "bogus" in row)
    assert re.search(rf"(Line|Ligne) {line}\b", html)
    assert state() == before


def test_yaml_cannot_move_the_definition_to_another_slug(designer: Any) -> None:
    before = state()
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    definition["slug"] = "casier-judiciaire"
    response = designer.post(f"{B}/yaml/", {"text": dump(definition), "intent": "save"})
    assert response.status_code == 400
    assert "<code>slug</code>" in response.content.decode()
    assert state() == before


def test_yaml_check_only_saves_nothing_and_upload_saves(designer: Any) -> None:
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    definition["title"] = {"fr": "Extrait (nouveau titre)"}
    before = state()
    checked = designer.post(f"{B}/yaml/", {"text": dump(definition), "intent": "validate"})
    assert checked.status_code == 200
    assert state() == before
    upload = SimpleUploadedFile("birth.yaml", dump(definition).encode(), "application/yaml")
    saved = designer.post(f"{B}/yaml/", {"text": "", "upload": upload, "intent": "save"})
    assert location(saved) == f"{B}/yaml/"
    assert Procedure.objects.get(slug=BIRTH).title == {"fr": "Extrait (nouveau titre)"}
    binary = SimpleUploadedFile("x.yaml", b"\xff\xfe\x00bad", "application/yaml")
    refused = designer.post(f"{B}/yaml/", {"text": "", "upload": binary, "intent": "save"})
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("data", "box"),
    [
        ({"type": "text", "name": "1bad", "label_fr": "X"}, "name"),
        ({"type": "text", "name": "ok", "label_fr": "X", "pattern": "("}, "pattern"),
        ({"type": "text", "name": "ok", "label_fr": "X", "cond_field": "nowhere"}, "cond_field"),
        ({"type": "integer", "name": "ok", "label_fr": "X", "min": "9", "max": "1"}, "min"),
        ({"type": "choice", "name": "ok", "label_fr": "X"}, "choices"),
        ({"type": "text", "name": "ok", "label_fr": "X", "max_length": "-3"}, "max_length"),
        ({"type": "unknown", "name": "ok"}, "type"),
    ],
)
def test_a_wrong_field_is_refused_on_its_box(designer: Any, data: dict[str, str], box: str) -> None:
    before = state()
    response = designer.post(f"{B}/fields/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert has_error_on(html, box), html[html.find("error-summary") :][:800]
    assert state() == before


def test_wrong_metadata_and_workflow_are_refused_per_field(designer: Any) -> None:
    before = state()
    metadata = {"title_fr": "", "fee_amount": "-1", "deadline_days": "x", "retention_days": "9"}
    response = designer.post(f"{B}/", metadata)
    assert response.status_code == 400
    html = response.content.decode()
    for box in ("title_fr", "fee_amount", "deadline_days"):
        assert has_error_on(html, box), box
    # The summary's lines read as on the applicant's pages (guichet/forms_errors.py), in French.
    # (a no-break space before the colon, as French typography wants)
    assert '<a href="#id_fee_amount">Frais (francs CFA)\u00a0: ' in html
    workflow = designer.post(f"{B}/workflow/", {"approval": "single", "tacit": "accepted"})
    assert workflow.status_code == 400
    assert has_error_on(workflow.content.decode(), "tacit_days")
    routing = designer.post(
        f"{B}/workflow/",
        {"approval": "single", "routing_answer": "copies", "routing_teams": "1 = bad slug!"},
    )
    assert routing.status_code == 400
    # The team's problem is on the box of the teams, not on the answer it routes by.
    assert has_error_on(routing.content.decode(), "routing_teams")
    assert state() == before


@pytest.fixture
def plateau_team() -> Organisation:
    commune = Procedure.objects.get(slug=BIRTH).organisation
    return Organisation.objects.create(
        slug="equipe-plateau",
        name="Équipe Plateau",
        kind=Organisation.Kind.DIRECTORATE,
        parent=commune,
    )


def test_routing_to_a_team_the_organisation_lacks_is_refused_naming_its_teams(
    designer: Any, plateau_team: Organisation
) -> None:
    """Not even an organisation's team elsewhere: the dossier engine looks among the
    procedure's organisation's own teams only."""
    before = state()
    for teams, box in (
        ("1 = equipe-nulle\n2 = equipe-plateau", "routing_teams"),
        ("1 = ansd-srsd-dakar", "routing_teams"),
    ):
        response = designer.post(
            f"{B}/workflow/",
            {"approval": "single", "routing_answer": "copies", "routing_teams": teams},
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert has_error_on(html, box)
        unknown = teams.split(" = ")[1].split("\n")[0]
        assert f"n\u2019a pas d\u2019équipe « {unknown} ». Ses équipes : equipe-plateau." in html
    response = designer.post(
        f"{B}/workflow/",
        {
            "approval": "single",
            "routing_answer": "copies",
            "routing_teams": "1 = equipe-plateau",
            "routing_default": "equipe-absente",
        },
    )
    assert response.status_code == 400
    assert has_error_on(response.content.decode(), "routing_default")
    assert state() == before


def test_yaml_naming_an_unknown_team_is_not_valid_and_not_saved(
    designer: Any, plateau_team: Organisation
) -> None:
    before = state()
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    routing = {"answer": "copies", "teams": {"1": "equipe-nulle"}}
    definition["workflow"] = {**copy.deepcopy(DEFAULT_WORKFLOW), "routing": routing}
    for intent in ("validate", "save"):
        response = designer.post(f"{B}/yaml/", {"text": dump(definition), "intent": intent})
        assert response.status_code == 400
        html = response.content.decode()
        assert "workflow.routing.teams.1" in html
        assert "n\u2019a pas d\u2019équipe « equipe-nulle ». Ses équipes : equipe-plateau." in html
    assert state() == before


def test_routing_to_a_team_of_the_organisation_is_saved(
    designer: Any, plateau_team: Organisation
) -> None:
    response = designer.post(
        f"{B}/workflow/",
        {
            "approval": "single",
            "routing_answer": "copies",
            "routing_teams": "1 = equipe-plateau",
            "routing_default": "equipe-plateau",
        },
    )
    location(response)
    routing = Procedure.objects.get(slug=BIRTH).workflow["routing"]
    assert routing == {
        "answer": "copies",
        "teams": {"1": "equipe-plateau"},
        "default": "equipe-plateau",
    }


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", f"{B}/fields/abc/"),
        ("get", f"{B}/fields/99/"),
        ("get", f"{B}/fields/1.0/"),
        ("get", f"{B}/fields/new/?block=0"),
        ("post", f"{B}/fields/0/move/"),
        ("post", f"{B}/fields/99/delete/"),
        ("get", "/agent/designer/no-such-procedure/"),
    ],
)
def test_items_that_do_not_exist_are_404(designer: Any, method: str, url: str) -> None:
    before = state()
    data = {"direction": "up"} if method == "post" else None
    assert getattr(designer, method)(url, data).status_code == 404
    assert state() == before


def test_a_change_that_strands_drafts_is_explained_then_applied_to_new_drafts_only(
    people: dict[str, User],  # noqa: F811
    designer: Any,
) -> None:
    procedure = Procedure.objects.get(slug=BIRTH)
    draft = do_create_draft(people["citizen_a"], procedure, BIRTH_ANSWERS)
    index = next(i for i, item in enumerate(procedure.form) if item.get("name") == "full_name")
    edit = {"type": "text", "name": "full_name", "label_fr": "Nom", "required": "on"}
    edit["max_length"] = "3"  # tighter than the saved "Awa Diop": drafts cannot follow
    refused = designer.post(f"{B}/fields/{index}/", edit)
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'name="new_drafts_only"' in html
    assert procedure.version == Procedure.objects.get(slug=BIRTH).version
    applied = designer.post(f"{B}/fields/{index}/", {**edit, "new_drafts_only": "on"})
    assert location(applied) == f"{B}/fields/"
    procedure.refresh_from_db()
    draft.refresh_from_db()
    assert draft.procedure_version == procedure.version - 1
    # Test dossiers do not hold a version back: they are not drafts in progress.
    assert Dossier.objects.filter(is_test=True).count() == 0


def test_a_closed_procedure_links_to_its_replacement(
    people: dict[str, User],  # noqa: F811
    designer: Any,
) -> None:
    refused = designer.post(f"{B}/close/", {"replacement": "no-such-procedure"})
    assert Procedure.objects.get(slug=BIRTH).status == Procedure.Status.PUBLISHED
    assert refused.status_code == 400
    assert has_error_on(refused.content.decode(), "replacement")
    replacement = "bulletin-casier-judiciaire"
    assert location(designer.post(f"{B}/close/", {"replacement": replacement})) == f"{B}/"
    closed = Procedure.objects.get(slug=BIRTH)
    assert closed.status == Procedure.Status.ARCHIVED
    citizen = client_for(people["citizen_a"])
    page = citizen.get(f"/procedures/{BIRTH}/").content.decode()
    assert f'href="/procedures/{replacement}/"' in page
    assert "dossier_start" not in page and f"/procedures/{BIRTH}/start/" not in page
    assert citizen.post(f"/procedures/{BIRTH}/start/").status_code == 404
    assert BIRTH not in citizen.get("/").content.decode()
