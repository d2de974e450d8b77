"""Query counts: lists cost the same for 3 rows as for 30, a dossier's page a bounded number."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db


def _add_dossiers(world: dict[str, User], count: int) -> list[Dossier]:
    """Submitted dossiers from both citizens; every third one taken, so assignees show too."""
    procedure = Procedure.objects.get(slug=BIRTH)
    made = []
    for index in range(count):
        applicant = world["citizen_a" if index % 2 else "citizen_b"]
        dossier = actions.do_create_draft(applicant, procedure, BIRTH_ANSWERS)
        actions.do_add_attachment(applicant, dossier.pk, "id_document", pdf_file())
        actions.do_transition(applicant, dossier.pk, "submit")
        if index % 3 == 0:
            actions.do_transition(world["instructor"], dossier.pk, "take")
        made.append(dossier)
    return made


def _queries(client: ApiClient, path: str, **params: Any) -> tuple[int, Any]:
    client.get(path, **params)  # the token's "last used" is written at most once a minute
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **params)
    assert response.status_code == 200, response.content
    return len(captured), response.json()


def test_queue_costs_the_same_for_3_and_30_dossiers(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    _add_dossiers(world, 3)
    few, page = _queries(api["instructor"], "queue")
    assert len(page["items"]) == 3
    _add_dossiers(world, 27)
    many, page = _queries(api["instructor"], "queue", limit=50)
    assert len(page["items"]) == 30
    assert many == few
    assert {item["assigned_to"] for item in page["items"]} == {None, "Fatou Ndiaye"}


def test_own_dossiers_cost_the_same_for_3_and_30(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    _add_dossiers(world, 6)  # three each
    few, listed = _queries(api["citizen_a"], "dossiers")
    assert len(listed) == 3
    _add_dossiers(world, 54)
    many, listed = _queries(api["citizen_a"], "dossiers")
    assert len(listed) == 30
    assert many == few


def test_a_dossier_costs_a_bounded_number_of_queries(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    (dossier,) = _add_dossiers(world, 1)
    bare, _ = _queries(api["instructor"], f"dossiers/{dossier.pk}")
    # A longer life: more events, messages, an extra document.
    moussa, fatou = world["citizen_b"], world["instructor"]
    actions.do_transition(fatou, dossier.pk, "request_changes", "Merci.")
    actions.do_add_attachment(moussa, dossier.pk, "id_document", pdf_file())
    for _ in range(5):
        actions.do_post_message(moussa, dossier.pk, "Bonjour")
    actions.do_transition(moussa, dossier.pk, "resubmit")
    busy, detail = _queries(api["instructor"], f"dossiers/{dossier.pk}")
    assert len(detail["history"]) > 10
    assert busy == bare
    # Token, MFA check, roles, the dossier with its procedure and people, documents, history
    # (7), then the transparency-log entry of the agent's read: savepoint, head lock, event,
    # tree nodes, head update, release (6).
    assert busy <= 13
