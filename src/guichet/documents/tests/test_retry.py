"""A failed issuing (the time-stamping authority down) is recorded, retried with a growing delay
a bounded number of times, shown to the dossier's agents and to the operator, restarted by
`guichet documents retry`, and never issues twice."""

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from guichet.documents import actions
from guichet.documents.models import Document, Issuance, IssuanceStatus
from guichet.documents.service import reset_process_state
from guichet.documents.tasks import issue_document_task, schedule_retry
from guichet.documents.tests.conftest import decided
from guichet.documents.tests.outside_tsa import OutsideTsa, free_port, serving
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import client_for
from guichet.identity.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def tsa_down(settings: Any) -> Iterator[int]:
    """GUICHET_TSA_URL names a port nothing answers on."""
    port = free_port()
    settings.GUICHET_TSA_URL = f"http://127.0.0.1:{port}/"
    settings.GUICHET_TSA_TIMEOUT = 2
    reset_process_state()
    yield port
    reset_process_state()


def decided_and_tried(world: dict[str, User]) -> Dossier:
    """A decision, then its task (enqueued on commit in production, which tests never reach)."""
    dossier = decided(world)
    issue_document_task.enqueue(dossier_id=str(dossier.pk))
    return dossier


def issuance(dossier: Dossier) -> Issuance:
    return Issuance.objects.get(dossier=dossier)


def make_due(dossier: Dossier) -> None:
    Issuance.objects.filter(dossier=dossier).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_tsa_down_then_up_issues_once_after_a_retry(world: dict[str, User], tsa_down: int) -> None:
    mail.outbox.clear()
    dossier = decided_and_tried(world)
    first = issuance(dossier)
    assert first.status == IssuanceStatus.RETRYING
    assert first.attempts == 1
    assert "TimeStampUnavailable" in first.last_error
    assert first.next_attempt_at is not None
    assert first.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert not Document.objects.filter(dossier=dossier).exists()

    out = io.StringIO()
    call_command("documents", "status", stdout=out)
    assert str(dossier.number) in out.getvalue() and "retrying" in out.getvalue()

    # Not due yet: the sweep leaves it alone.
    call_command("documents", "retry", "--due", stdout=io.StringIO())
    assert issuance(dossier).attempts == 1

    with serving(OutsideTsa.generate(), tsa_down):
        make_due(dossier)
        call_command("documents", "retry", "--due", stdout=io.StringIO())
    done = issuance(dossier)
    assert done.status == IssuanceStatus.ISSUED
    assert done.attempts == 2
    assert done.document == Document.objects.get(dossier=dossier)
    assert [m.to for m in mail.outbox if "document" in m.subject.lower()] or len(mail.outbox) >= 1

    # Run again: still one document and no second "ready" email.
    sent = len(mail.outbox)
    issue_document_task.enqueue(dossier_id=str(dossier.pk))
    assert Document.objects.filter(dossier=dossier).count() == 1
    assert len(mail.outbox) == sent


def test_attempts_are_bounded_then_an_operator_restarts_it(
    world: dict[str, User], tsa_down: int, settings: Any
) -> None:
    dossier = decided_and_tried(world)
    for _ in range(actions.MAX_ISSUE_ATTEMPTS - 1):
        make_due(dossier)
        call_command("documents", "retry", "--due", stdout=io.StringIO())
    spent = issuance(dossier)
    assert spent.attempts == actions.MAX_ISSUE_ATTEMPTS
    assert spent.status == IssuanceStatus.FAILED
    assert spent.next_attempt_at is None
    # --due never restarts a failed one: that takes an operator.
    call_command("documents", "retry", "--due", stdout=io.StringIO())
    assert issuance(dossier).status == IssuanceStatus.FAILED

    settings.GUICHET_TSA_URL = None  # back to the embedded authority
    reset_process_state()
    out = io.StringIO()
    call_command("documents", "retry", stdout=out)
    assert "1 émission envoyée" in out.getvalue()
    assert issuance(dossier).status == IssuanceStatus.ISSUED
    assert Document.objects.filter(dossier=dossier).count() == 1


def test_the_delays_grow_and_stop_at_the_bound() -> None:
    now = timezone.now()
    delays = [actions.retry_delay(attempts) for attempts in range(1, 6)]
    assert delays[-1] is None
    seconds = [(due - now).total_seconds() for due in delays[:-1] if due is not None]
    assert seconds == sorted(seconds) and seconds[0] >= 30 and len(seconds) == 4


def test_the_immediate_queue_cannot_defer_so_the_sweep_does() -> None:
    # Tests run tasks at once (no delayed tasks): the retry is left to `retry --due`.
    assert schedule_retry("00000000-0000-0000-0000-000000000000", timezone.now()) is False


def test_agents_of_the_dossier_see_the_failed_issuing(
    world: dict[str, User], tsa_down: int
) -> None:
    dossier = decided_and_tried(world)
    url = f"/agent/dossiers/{dossier.pk}/documents/"
    page = client_for(world["instructor"]).get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "attempt 1 of 5" in body or "tentative 1 sur 5" in body
    # Someone who may not see the dossier learns nothing about it.
    assert client_for(world["other_agent"]).get(url).status_code == 404
    assert client_for(world["citizen_b"]).get(url).status_code == 404


def test_the_clock_sends_again_a_retry_whose_task_was_lost(world: dict[str, User]) -> None:
    """A retry recorded but never queued (the process died in between) is picked up by
    `guichet schedule` once it is long overdue; one only just due is left to its own task."""
    dossier = decided(world)
    actions.do_start_issuance(dossier.pk, "certificate")
    lost = Issuance.objects.filter(dossier=dossier)
    lost.update(
        status=IssuanceStatus.RETRYING,
        attempts=1,
        next_attempt_at=timezone.now() - timedelta(minutes=2),
    )
    call_command("schedule", "--once", stdout=io.StringIO())
    assert issuance(dossier).status == IssuanceStatus.RETRYING  # its own task may still run
    assert not Document.objects.filter(dossier=dossier).exists()

    lost.update(next_attempt_at=timezone.now() - timedelta(minutes=11))
    call_command("schedule", "--once", stdout=io.StringIO())
    done = issuance(dossier)
    assert done.status == IssuanceStatus.ISSUED
    assert done.document == Document.objects.get(dossier=dossier)
