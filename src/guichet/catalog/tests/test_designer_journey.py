"""A designer puts a new procedure online through the pages alone, and a citizen files it.

Create it, give it fields (one shown on a condition, a repeatable block with a nested field),
choose two-level approval, preview it, file a test dossier and purge it, publish; then the
citizen files a real dossier, the instructor proposes and cannot decide, the supervisor accepts.
"""

import re
from typing import Any

import pytest

from guichet.audit.models import Action as LogAction
from guichet.audit.models import AuditEvent
from guichet.catalog.models import Procedure
from guichet.catalog.tests.test_designer_support import client_for, location, people  # noqa: F401
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import strict_html  # noqa: F401
from guichet.identity.models import User

pytestmark = pytest.mark.django_db

SLUG = "autorisation-de-fete"
BASE = f"/agent/designer/{SLUG}"


def build_procedure(designer: Any) -> Procedure:
    """The procedure of the journey, made through the designer pages only."""
    created = designer.post(
        "/agent/designer/new/",
        {
            "organisation": "commune-dakar-plateau",
            "slug": SLUG,
            "title_fr": "Autorisation de fête familiale",
            "title_en": "Family celebration permit",
        },
    )
    assert location(created) == f"{BASE}/"
    for item in (
        {"type": "text", "name": "full_name", "label_fr": "Nom complet", "required": "on"},
        {"type": "yesno", "name": "has_guests", "label_fr": "Des invités ?", "required": "on"},
        {
            "type": "integer",
            "name": "guests",
            "label_fr": "Nombre d'invités",
            "min": "1",
            "max": "500",
            "required": "on",
            "cond_field": "has_guests",
            "cond_op": "equals",
            "cond_value": "true",
        },
        {
            "type": "block",
            "name": "stands",
            "label_fr": "Stands",
            "row_label_fr": "Stand",
            "min_rows": "0",
            "max_rows": "3",
            "first_name": "stand_name",
            "first_label": "Nom du stand",
        },
    ):
        assert location(designer.post(f"{BASE}/fields/new/", item)) == f"{BASE}/fields/"
    nested = {"type": "integer", "name": "stand_size", "label_fr": "Surface (m²)", "min": "1"}
    assert location(designer.post(f"{BASE}/fields/new/?block=4", nested)) == f"{BASE}/fields/"
    workflow = designer.post(f"{BASE}/workflow/", {"approval": "two_level", "review_days": "10"})
    assert location(workflow) == f"{BASE}/"
    return Procedure.objects.get(slug=SLUG)


def test_a_designer_builds_tests_and_publishes_a_procedure_a_citizen_files_it(
    people: dict[str, User],  # noqa: F811
) -> None:
    designer = client_for(people["designer"])
    procedure = build_procedure(designer)
    assert procedure.status == Procedure.Status.DRAFT
    guests = procedure.form[3]
    assert guests["visible_if"] == {"field": "has_guests", "equals": True}
    assert [f["name"] for f in procedure.form[4]["fields"]] == ["stand_name", "stand_size"]
    assert "awaiting_decision" in procedure.workflow["states"]
    assert procedure.workflow["states"]["in_review"]["deadline_days"] == 10
    # Not in the catalog yet, and citizens cannot see it.
    assert client_for(people["citizen_a"]).get(f"/procedures/{SLUG}/").status_code == 404

    # The preview: the guests question appears once "yes" is saved; the block offers rows.
    preview = designer.get(f"{BASE}/preview/")
    assert preview.status_code == 200
    assert "Nom complet" in preview.content.decode()
    assert "Nombre d&#x27;invités" not in preview.content.decode()
    shown = designer.post(f"{BASE}/preview/", {"full_name": "Awa", "has_guests": "oui"})
    assert "Nombre d&#x27;invités" in shown.content.decode()
    assert "Nom du stand" in shown.content.decode()
    checked = designer.post(
        f"{BASE}/preview/", {"full_name": "Awa", "has_guests": "oui", "intent": "check"}
    )
    assert 'class="field-error"' in checked.content.decode()  # the guests count is required

    # A test dossier against the unpublished procedure, filed on the applicant's pages.
    started = designer.post(f"{BASE}/test/")
    test_dossier = Dossier.objects.get(procedure=procedure)
    assert test_dossier.is_test
    assert location(started) == f"/dossiers/{test_dossier.pk}/"
    submitted = designer.post(
        f"/dossiers/{test_dossier.pk}/answers/",
        {"full_name": "Essai", "has_guests": "non", "intent": "submit"},
    )
    assert submitted.status_code == 302
    test_dossier.refresh_from_db()
    assert test_dossier.state == "submitted"
    home = designer.get("/agent/designer/").content.decode()
    row = home[home.find(f"<small>{SLUG}</small>") :]
    assert re.match(r"<small>[^<]+</small></td>\s*<td>[^<]+</td>\s*<td>Brouillon</td>", row)
    assert re.search(r"<td>1</td>\s*</tr>", row)  # one test dossier
    # Out of the instructors' queue by default, there with the test filter.
    instructor = client_for(people["instructor"])
    assert SLUG not in instructor.get("/agent/").content.decode()
    assert str(test_dossier.number) in instructor.get("/agent/?test=1").content.decode()
    assert location(designer.post(f"{BASE}/test/purge/")) == f"{BASE}/"
    assert not Dossier.objects.filter(procedure=procedure).exists()
    assert AuditEvent.objects.filter(action=LogAction.TEST_DOSSIERS_PURGED).count() == 1

    # Published: in the catalog, and a citizen files it.
    assert location(designer.post(f"{BASE}/publish/")) == f"{BASE}/"
    procedure.refresh_from_db()
    assert procedure.status == Procedure.Status.PUBLISHED
    assert AuditEvent.objects.filter(action=LogAction.PROCEDURE_PUBLISHED).count() == 1
    citizen = client_for(people["citizen_a"])
    assert SLUG in citizen.get("/").content.decode()
    draft_url = location(citizen.post(f"/procedures/{SLUG}/start/"))
    dossier = Dossier.objects.get(procedure=procedure)
    assert not dossier.is_test
    answers = {
        "full_name": "Awa Diop",
        "has_guests": "oui",
        "guests": "40",
        "stands.0.stand_name": "Thiéboudienne",
        "intent": "submit",
    }
    assert citizen.post(f"{draft_url}answers/", answers).status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "submitted"


# The dossier engine follows each procedure's workflow section since the workflow engine
# (dossiers/workflow.py: workflow_of); before it, every procedure used the fixed workflow.
def test_two_level_approval_chosen_in_the_pages_binds_the_instructor(
    people: dict[str, User],  # noqa: F811
) -> None:
    """The instructor takes the dossier and proposes; only the supervisor may accept."""
    designer = client_for(people["designer"])
    procedure = build_procedure(designer)
    assert location(designer.post(f"{BASE}/publish/")) == f"{BASE}/"
    citizen = client_for(people["citizen_a"])
    draft_url = location(citizen.post(f"/procedures/{SLUG}/start/"))
    answers = {"full_name": "Awa Diop", "has_guests": "non", "intent": "submit"}
    assert citizen.post(f"{draft_url}answers/", answers).status_code == 302
    dossier = Dossier.objects.get(procedure=procedure)
    instructor = client_for(people["instructor"])
    url = f"/agent/dossiers/{dossier.pk}/actions/"
    assert instructor.post(url, {"action": "take"}).status_code == 302
    refused = instructor.post(url, {"action": "accept"})
    assert refused.status_code in (400, 403, 404)
    dossier.refresh_from_db()
    assert dossier.state == "in_review"
    assert instructor.post(url, {"action": "propose_acceptance"}).status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "awaiting_decision"
    supervisor = client_for(people["supervisor"])
    assert supervisor.post(url, {"action": "accept"}).status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == "accepted"


def test_the_log_names_the_designer_by_name_for_every_change(
    people: dict[str, User],  # noqa: F811
) -> None:
    """Every change a designer makes from the pages is an entry naming them by their name (it
    is sealed; unopened, the entry would hold their sign-in email) and their administration."""
    designer_user = people["designer"]
    designer = client_for(designer_user)
    procedure = build_procedure(designer)
    designer.post(f"{BASE}/test/")
    assert location(designer.post(f"{BASE}/test/purge/")) == f"{BASE}/"
    for step in ("publish", "unpublish"):
        assert location(designer.post(f"{BASE}/{step}/")) == f"{BASE}/"
    assert location(designer.post(f"{BASE}/close/", {"replacement": ""})) == f"{BASE}/"

    entries = AuditEvent.objects.filter(object_type="procedure", object_id=str(procedure.pk))
    kinds = [event.action for event in entries.order_by("seq")]
    assert set(kinds) == {
        LogAction.PROCEDURE_SAVED,
        LogAction.TEST_DOSSIERS_PURGED,
        LogAction.PROCEDURE_PUBLISHED,
        LogAction.PROCEDURE_UNPUBLISHED,
        LogAction.PROCEDURE_CLOSED,
    }
    assert {
        (event.actor_kind, event.actor_id, event.actor_name, event.org_name) for event in entries
    } == {("agent", str(designer_user.pk), "Ndèye Guèye", "Commune de Dakar-Plateau")}
