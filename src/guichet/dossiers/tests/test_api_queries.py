"""Query counts: lists cost the same for 3 rows as for 30, a dossier's page a bounded number."""

from typing import Any
from uuid import UUID

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
    # Token, roles, MFA, then one query for the commune's queue (read in index order).
    assert many == 4
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
    # (6), then the transparency-log entry of the agent's read: savepoint, head lock, event,
    # tree nodes, head update, release (6). The organisation's name the entry records comes
    # with the procedure: no query of its own.
    assert busy == 12


def test_an_unassigned_dossier_read_with_the_alerts_on_costs_one_more_statement(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any
) -> None:
    """Opening a dossier not assigned to the agent also counts the opening for the alert on
    many such openings: one statement on PostgreSQL (upsert and count together), two on
    SQLite. The read is still in the log, once per request."""
    from guichet.audit.models import AuditEvent

    settings.GUICHET_ALERT_UNASSIGNED_OPENINGS = 20
    _taken, unassigned = _add_dossiers(world, 2)
    assert unassigned.assigned_to_id is None
    logged = AuditEvent.objects.filter(object_id=str(unassigned.pk)).count()
    count, _ = _queries(api["instructor"], f"dossiers/{unassigned.pk}")
    assert count == 12 + (1 if connection.vendor == "postgresql" else 2)
    assert AuditEvent.objects.filter(object_id=str(unassigned.pk)).count() == logged + 2


def test_a_supervisors_queue_merges_its_queues_without_repeats(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    """A supervisor sees the commune's dossiers both as an instructor and as a supervisor (two
    queues, one query each): every dossier comes once, soonest deadline first, and the cursor
    walks them all."""
    made = _add_dossiers(world, 12)
    client = api["supervisor"]
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get("queue", **params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            break
    assert sorted(seen) == sorted(str(d.pk) for d in made)
    due = dict(Dossier.objects.values_list("id", "due_at"))
    keys = [(due[UUID(key)], UUID(key)) for key in seen]
    assert keys == sorted(keys)
