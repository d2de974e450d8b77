"""Races: two agents deciding at once, many citizens submitting at once.

Each thread speaks to the API with its own test client, hence its own database connection, and
really commits. On PostgreSQL the dossier's row lock (SELECT ... FOR UPDATE) and the number
counter's row lock do the serialising; on SQLite, where every write transaction starts with
BEGIN IMMEDIATE, the database lock does. Both must give the same answers.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier, DossierEvent
from guichet.errors import Conflict
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db(transaction=True)


def _run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same instant, each in its own thread; results in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as error:  # reported in the main thread below
            errors.append(error)
        finally:
            connections.close_all()  # this thread's connection, or the test DB cannot be flushed

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert errors == []
    return results


def _submitted(world: dict[str, User], applicant: str = "citizen_a") -> Dossier:
    user = world[applicant]
    dossier = actions.do_create_draft(user, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(user, dossier.pk, "id_document", pdf_file())
    return actions.do_transition(user, dossier.pk, "submit")


def test_two_agents_deciding_at_once_one_wins(
    api: dict[str, ApiClient], world: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    dossier = _submitted(world)
    actions.do_transition(world["instructor"], dossier.pk, "take")
    # Hold each decision inside its transaction for a moment: without the lock both would read
    # "in review" during that window and both would decide.
    real_apply = actions._apply

    def slow_apply(*args: Any) -> None:
        time.sleep(0.3)
        real_apply(*args)

    monkeypatch.setattr(actions, "_apply", slow_apply)
    path = f"dossiers/{dossier.pk}/transitions"
    accept, reject = _run_together(
        [
            lambda: api["instructor"].post(path, {"action": "accept"}),
            lambda: api["supervisor"].post(path, {"action": "reject", "comment": "Incomplet."}),
        ]
    )

    statuses = sorted([accept.status_code, reject.status_code])
    assert statuses == [200, 409], (accept.content, reject.content)
    loser = accept if accept.status_code == 409 else reject
    assert loser.json()["code"] == "conflict"
    final = Dossier.objects.get(pk=dossier.pk)
    assert final.state == ("accepted" if accept.status_code == 200 else "rejected")
    decisions = DossierEvent.objects.filter(
        dossier=dossier, kind="transition", to_state__in=["accepted", "rejected"]
    )
    assert decisions.count() == 1


def test_concurrent_submissions_get_distinct_sequential_numbers(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    count = 20
    drafts = []
    for index in range(count):
        applicant = "citizen_a" if index % 2 else "citizen_b"
        user = world[applicant]
        draft = actions.do_create_draft(user, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
        actions.do_add_attachment(user, draft.pk, "id_document", pdf_file())
        drafts.append((applicant, draft.pk))
    year = timezone.localdate().year

    def submit(applicant: str, dossier_id: Any) -> Callable[[], Any]:
        # A client per thread: Django's test client is not meant to be shared across threads.
        client = ApiClient(world[applicant])
        return lambda: client.post(f"dossiers/{dossier_id}/submit")

    responses = _run_together([submit(applicant, pk) for applicant, pk in drafts])

    assert [r.status_code for r in responses] == [200] * count, [r.content for r in responses]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == [f"SN-{year}-{n:06d}" for n in range(1, count + 1)]
    stored = set(Dossier.objects.exclude(number=None).values_list("number", flat=True))
    assert stored == set(numbers)


def test_a_decision_waits_for_the_one_in_progress(world: dict[str, User]) -> None:
    """Deterministic version of the race: one agent's accept is inside its transaction, not yet
    committed, when the other's reject starts. The reject must wait (PostgreSQL: the row lock;
    SQLite: BEGIN IMMEDIATE) and then see "accepted", not the stale "in review"."""
    dossier = _submitted(world)
    actions.do_transition(world["instructor"], dossier.pk, "take")
    decided = threading.Event()
    release = threading.Event()
    outcome: list[str] = []

    def accept_and_hold() -> None:
        try:
            with transaction.atomic():
                actions.do_transition(world["instructor"], dossier.pk, "accept")
                decided.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    def reject() -> None:
        try:
            actions.do_transition(world["supervisor"], dossier.pk, "reject", "Incomplet.")
            outcome.append("rejected")
        except Conflict:
            outcome.append("conflict")
        finally:
            connections.close_all()

    holder = threading.Thread(target=accept_and_hold)
    holder.start()
    assert decided.wait(timeout=10)
    rival = threading.Thread(target=reject)
    rival.start()
    rival.join(timeout=0.5)
    assert rival.is_alive(), "the second decision did not wait for the first"
    release.set()
    holder.join(timeout=10)
    rival.join(timeout=30)
    assert outcome == ["conflict"]
    assert Dossier.objects.get(pk=dossier.pk).state == "accepted"


@pytest.mark.postgres
def test_transitions_lock_the_dossier_row(world: dict[str, User]) -> None:
    """The SQL itself: the dossier is read FOR UPDATE before it is written. SQLite has no row
    locks (its IMMEDIATE transactions lock the whole database), hence PostgreSQL only."""
    if connection.vendor != "postgresql":
        pytest.skip(f"row locks are PostgreSQL's; this run uses {connection.vendor}")
    dossier = _submitted(world)
    with CaptureQueriesContext(connection) as queries:
        actions.do_transition(world["instructor"], dossier.pk, "take")
    statements = [q["sql"] for q in queries.captured_queries]
    locking = [i for i, sql in enumerate(statements) if "FOR UPDATE" in sql]
    writing = [i for i, sql in enumerate(statements) if sql.startswith('UPDATE "dossiers_dossier"')]
    assert locking and writing and locking[0] < writing[0]
    assert '"dossiers_dossier"' in statements[locking[0]].split("FOR UPDATE")[0]
