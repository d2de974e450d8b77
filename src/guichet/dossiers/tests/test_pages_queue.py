"""The agents' work queue page: filters, deadline order, overdue rows, paging, query count."""

import datetime
import html
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
    submitted_for,
)
from guichet.identity.models import User

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<a href="/agent/dossiers/([0-9a-f-]{36})/">')


def queue_ids(response: Any) -> list[str]:
    return ROW.findall(response.content.decode())


def file_many(user: User, count: int) -> list[Dossier]:
    return [submitted_for(user) for _ in range(count)]


def queries_for_queue(client: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/agent/")
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_queue_costs_the_same_queries_with_3_or_30_dossiers(
    world: dict[str, User], django_assert_num_queries: Any
) -> None:
    instructor = client_for(world["instructor"])
    file_many(world["citizen_a"], 3)
    instructor.get("/agent/")  # first request of the session warms its caches
    with_three = queries_for_queue(instructor)
    more = file_many(world["citizen_b"], 27)
    for dossier in more[:10]:
        actions.do_transition(world["instructor"], dossier.pk, "take")
    with_thirty = queries_for_queue(instructor)
    assert with_three == with_thirty
    # Session, account, roles, MFA, one query per queue the agent sees (the commune's: one),
    # the procedures of the filter: the keyset query walks an index, whatever the volume.
    with django_assert_num_queries(6):
        instructor.get("/agent/")


def test_the_queue_is_sorted_by_deadline_and_pages_with_a_cursor(world: dict[str, User]) -> None:
    dossiers = file_many(world["citizen_a"], 30)
    soonest = dossiers[17]
    Dossier.objects.filter(pk=soonest.pk).update(due_at=timezone.now() - datetime.timedelta(days=2))
    instructor = client_for(world["instructor"])

    first = instructor.get("/agent/")
    first_ids = queue_ids(first)
    assert len(first_ids) == 25
    assert first_ids[0] == str(soonest.pk)
    body = first.content.decode()
    assert '<tr class="overdue">' in body
    assert body.count('<tr class="overdue">') == 1
    next_link = re.search(r'href="(\?[^"]*cursor=[^"]*)"', body)
    assert next_link is not None

    second = instructor.get("/agent/" + html.unescape(next_link.group(1)))
    second_ids = queue_ids(second)
    assert len(second_ids) == 5
    assert not set(first_ids) & set(second_ids)
    assert set(first_ids) | set(second_ids) == {str(d.pk) for d in dossiers}


def test_the_queue_filters_keep_their_values(world: dict[str, User]) -> None:
    mine, other, late = file_many(world["citizen_a"], 3)
    actions.do_transition(world["instructor"], mine.pk, "take")
    Dossier.objects.filter(pk=late.pk).update(due_at=timezone.now() - datetime.timedelta(days=1))
    instructor = client_for(world["instructor"])

    assigned = instructor.get("/agent/", {"mine": "1"})
    assert queue_ids(assigned) == [str(mine.pk)]
    assert 'id="filter-mine" value="1" checked' in assigned.content.decode()
    overdue = instructor.get("/agent/", {"overdue": "1"})
    assert queue_ids(overdue) == [str(late.pk)]
    in_review = instructor.get("/agent/", {"state": "in_review"})
    assert queue_ids(in_review) == [str(mine.pk)]
    assert '<option value="in_review" selected>' in in_review.content.decode()
    other_procedure = instructor.get("/agent/", {"procedure": "immatriculation-ninea"})
    assert queue_ids(other_procedure) == []
    nonsense = instructor.get("/agent/", {"cursor": "not-a-cursor", "state": "<b>"})
    assert nonsense.status_code == 200
    assert str(other.pk) in queue_ids(nonsense)


def test_agents_of_another_organisation_see_none_of_these_dossiers(world: dict[str, User]) -> None:
    file_many(world["citizen_a"], 3)
    response = client_for(world["other_agent"]).get("/agent/")
    assert response.status_code == 200
    assert queue_ids(response) == []


def test_the_agent_dossier_page_costs_a_fixed_number_of_queries(world: dict[str, User]) -> None:
    """The page an agent instructs from: session, account, roles, MFA, the dossier with its
    procedure and people, documents, history, messages (8), and the log's entry of the read
    (savepoint, head lock, event, tree nodes, head update, release: 6), however long the
    dossier's life."""
    instructor = client_for(world["instructor"])
    dossier = submitted_for(world["citizen_a"])
    page = f"/agent/dossiers/{dossier.pk}/"
    instructor.get(page)  # first request of the session warms its caches

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert instructor.get(page).status_code == 200
        return len(captured.captured_queries)

    fresh = count()
    actions.do_transition(world["instructor"], dossier.pk, "take")
    for _ in range(4):
        actions.do_post_message(world["citizen_a"], dossier.pk, "Bonjour")
    assert count() == fresh == 14
