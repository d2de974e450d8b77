"""Many writers at once: sequence numbers stay unique and gap-free, and the tree stays whole.

Each thread has its own database connection and really commits. On PostgreSQL the LogHead row
lock (SELECT ... FOR UPDATE) serialises the appends; on SQLite the IMMEDIATE transactions do.
"""

import threading
import uuid
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from guichet.audit.models import Action, ActorKind, AuditEvent
from guichet.audit.service import Actor, record_event
from guichet.audit.verify import verify_log

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
EVENTS_PER_THREAD = 25


def _append_from_threads(rollback_every: int = 0) -> int:
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    committed = [0] * THREADS

    def worker(number: int) -> None:
        actor = Actor(ActorKind.AGENT, str(number), f"Agent {number}")
        try:
            barrier.wait(timeout=30)
            for round_ in range(EVENTS_PER_THREAD):
                try:
                    with transaction.atomic():
                        record_event(Action.DOSSIER_OPENED, actor=actor, object_id=uuid.uuid4())
                        if rollback_every and round_ % rollback_every == 0:
                            raise _Abandon
                    committed[number] += 1
                except _Abandon:
                    pass
        except BaseException as error:  # reported in the main thread below
            errors.append(error)
        finally:
            connections.close_all()  # this thread's connection, or the test DB cannot be flushed

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck"
    assert errors == []
    return sum(committed)


class _Abandon(Exception):
    pass


def _check_gap_free(expected: int) -> None:
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(expected))
    report = verify_log()
    assert report.ok, report.problems
    assert report.size == expected


@pytest.mark.postgres
def test_concurrent_appends_on_postgresql_are_gap_free() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(f"row-lock serialisation is PostgreSQL's; this run uses {connection.vendor}")
    committed = _append_from_threads(rollback_every=4)
    assert committed == THREADS * (EVENTS_PER_THREAD - len(range(0, EVENTS_PER_THREAD, 4)))
    _check_gap_free(committed)


@pytest.mark.postgres
def test_appends_lock_the_log_head_row_first() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(f"row locks are PostgreSQL's; this run uses {connection.vendor}")
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        record_event(Action.DOSSIER_OPENED, actor=Actor.system())
    statements: list[Any] = [query["sql"] for query in queries.captured_queries]
    locking = [i for i, sql in enumerate(statements) if "FOR UPDATE" in sql]
    inserting = [i for i, sql in enumerate(statements) if sql.startswith("INSERT")]
    assert locking and inserting and locking[0] < inserting[0]
    assert '"audit_loghead"' in statements[locking[0]]


def test_concurrent_appends_on_sqlite_are_gap_free_too() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL run has its own test above")
    committed = _append_from_threads(rollback_every=4)
    _check_gap_free(committed)
