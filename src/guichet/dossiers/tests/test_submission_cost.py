"""The submission is the hottest write on a deadline day: its cost in queries is fixed, and the
notification it owes is committed with it (a transactional outbox), then sent in a batch."""

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from guichet import outbox
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier, Notification
from guichet.dossiers.tasks import flush_notifications
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# What a submission costs, authentication included: the token with its user, their roles (none
# for a citizen, but the API must know whether to ask for MFA), the dossier locked with its
# procedure, its attachments, the year's counter, the dossier, its history event, the log's
# head, event, tree nodes and new head, the notification; then the history for the answer.
# The first notification of a second in a process also queues their batch: one query more.
# Tests count SAVEPOINT and RELEASE where the server has BEGIN and COMMIT. A change here
# changes the hot path: measure it with bench/submission_load.py.
SUBMIT_QUERIES = 15


def _draft(client: ApiClient, saves: int = 0, files: int = 1) -> str:
    created = client.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
    assert created.status_code == 201, created.content
    dossier_id: str = created.json()["id"]
    for _ in range(saves):
        assert client.patch(f"dossiers/{dossier_id}", {"data": BIRTH_ANSWERS}).status_code == 200
    for _ in range(files):
        uploaded = client.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
        assert uploaded.status_code == 201, uploaded.content
    return dossier_id


def _submit(client: ApiClient, dossier_id: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"dossiers/{dossier_id}/submit")
    assert response.status_code == 200, response.content
    return len(captured), response.json()


@pytest.fixture
def batch_queued(monkeypatch: Any) -> None:
    """As on a peak: this process queued the notifications' batch a moment ago. Dated an hour
    ahead, so that it stays "a moment ago" however slowly a busy machine runs the test (dated
    now, a first request of 1.3 s let the window close and the count gained the batch's row)."""
    queued = time.monotonic() + 3600
    monkeypatch.setattr(outbox, "_requested", {flush_notifications.module_path: queued})


def test_a_submission_costs_a_fixed_number_of_queries(
    api: dict[str, ApiClient], settings: Any, batch_queued: None
) -> None:
    settings.TASKS = DATABASE_QUEUE  # as in production: the notification is one INSERT
    citizen = api["citizen_a"]
    citizen.get("dossiers")  # the token's "last used" is written at most once a minute
    short, first = _submit(citizen, _draft(citizen))
    long, second = _submit(citizen, _draft(citizen, saves=5, files=3))
    assert short == long == SUBMIT_QUERIES
    # The answer is the whole dossier, as GET gives it, with its new number and history.
    assert first["state"] == "submitted" and first["number"].endswith("000001")
    assert second["number"].endswith("000002")
    assert len(second["attachments"]) == 1  # each upload replaced the one before
    assert len(second["history"]) > len(first["history"]) + 5
    assert second["history"][-1]["action"] == "submit"
    assert second == citizen.get(f"dossiers/{second['id']}").json()


def _owed(dossier_id: str) -> list[tuple[uuid.UUID, str, str]]:
    return list(
        Notification.objects.filter(dossier_id=dossier_id)
        .order_by("id")
        .values_list("recipient_id", "kind", "action")
    )


def _batches() -> list[DBTaskResult[..., Any]]:
    return list(DBTaskResult.objects.filter(task_path=flush_notifications.module_path))


def test_the_notification_is_owed_with_the_submission(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any
) -> None:
    settings.TASKS = DATABASE_QUEUE
    citizen = api["citizen_a"]
    dossier_id = _draft(citizen)
    assert _owed(dossier_id) == []
    _submit(citizen, dossier_id)
    assert _owed(dossier_id) == [(world["citizen_a"].pk, "transition", "submit")]
    assert len(_batches()) == 1  # and its batch is queued in the same transaction


def test_a_burst_of_submissions_queues_one_batch(
    api: dict[str, ApiClient],
    settings: Any,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TASKS = DATABASE_QUEUE
    monkeypatch.setattr(outbox, "_requested", {})
    citizen = api["citizen_a"]
    drafts = [_draft(citizen) for _ in range(3)]
    for dossier_id in drafts:
        with django_capture_on_commit_callbacks(execute=True):
            _submit(citizen, dossier_id)
    assert [len(_owed(dossier_id)) for dossier_id in drafts] == [1, 1, 1]
    assert len(_batches()) == 1
    # A second later, the next one queues a batch again.
    monkeypatch.setattr(time, "monotonic", lambda: 10**9)
    _submit(citizen, _draft(citizen))
    assert len(_batches()) == 2


def test_a_failed_decision_leaves_neither_change_nor_notification(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any, monkeypatch: Any
) -> None:
    settings.TASKS = DATABASE_QUEUE
    instructor = world["instructor"]
    dossier_id = _draft(api["citizen_a"])
    _submit(api["citizen_a"], dossier_id)
    actions.do_transition(instructor, dossier_id, "take")
    owed = _owed(dossier_id)
    assert [action for _, _, action in owed] == ["submit", "take"]

    def broken(dossier: Dossier) -> None:
        raise RuntimeError("the document service is gone")

    # The last step of a decision fails after the applicant's notification was written.
    monkeypatch.setattr(actions, "_issue_decision_document", broken)
    with pytest.raises(RuntimeError):
        actions.do_transition(instructor, dossier_id, "accept")
    assert Dossier.objects.get(pk=dossier_id).state == "in_review"
    assert _owed(dossier_id) == owed


def test_the_queued_batch_is_the_row_the_database_backend_writes(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any
) -> None:
    # The outbox writes the task row itself (guichet/outbox.py): it must be the row
    # DatabaseBackend.enqueue would write, or the worker would skip or misread it.
    settings.TASKS = DATABASE_QUEUE
    from django.tasks import task_backends
    from django_tasks_db.models import get_date_max

    citizen = api["citizen_a"]
    _submit(citizen, _draft(citizen))
    (ours,) = _batches()
    theirs = DBTaskResult.objects.get(id=flush_notifications.using(backend="default").enqueue().id)
    fields = ("status", "priority", "task_path", "queue_name", "backend_name", "run_after")
    assert {f: getattr(ours, f) for f in fields} == {f: getattr(theirs, f) for f in fields}
    assert ours.run_after == get_date_max()  # set by django-tasks-db's pre_save signal
    assert list(DBTaskResult.objects.ready().filter(pk=ours.pk)) == [ours]
    result = task_backends["default"].get_result(str(ours.pk))
    assert result.args == [] and result.kwargs == {}


def test_a_batch_reaches_active_accounts_only(
    api: dict[str, ApiClient], world: dict[str, User], mailoutbox: list[Any]
) -> None:
    # The tests' immediate queue runs a batch only when on-commit callbacks run: here they
    # do not, so the notifications stay owed until the call below.
    citizen_a, citizen_b = world["citizen_a"], world["citizen_b"]
    dossier_a = _draft(api["citizen_a"])
    number = _submit(api["citizen_a"], dossier_a)[1]["number"]
    _submit(api["citizen_b"], _draft(api["citizen_b"]))
    assert mailoutbox == [] and Notification.objects.count() == 2
    User.objects.filter(pk=citizen_b.pk).update(is_active=False)
    assert flush_notifications.call() == 1
    assert [m.to for m in mailoutbox] == [[citizen_a.email]]
    assert number in mailoutbox[0].subject and f"/dossiers/{dossier_a}/" in mailoutbox[0].body
    # Citizen B closed their account: nothing to tell, and nothing left owed.
    assert not Notification.objects.exists()
    assert flush_notifications.call() == 0


def test_a_failing_mail_server_loses_nothing(
    api: dict[str, ApiClient], world: dict[str, User], mailoutbox: list[Any], monkeypatch: Any
) -> None:
    from django.core.mail.backends.locmem import EmailBackend

    for citizen in ("citizen_a", "citizen_b"):
        _submit(api[citizen], _draft(api[citizen]))
    real_send = EmailBackend.send_messages
    calls: list[int] = []

    def second_fails(self: EmailBackend, messages: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("the mail server hung up")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", second_fails)
    assert flush_notifications.call() == 1
    assert [m.to for m in mailoutbox] == [[world["citizen_a"].email]]
    # Citizen B's is still owed, claimed by the failed run: not sent again before the claim
    # runs out, then sent.
    (left,) = Notification.objects.all()
    assert left.recipient_id == world["citizen_b"].pk and left.claimed_until is not None
    assert flush_notifications.call() == 0
    Notification.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert flush_notifications.call() == 1
    assert [m.to for m in mailoutbox][-1] == [world["citizen_b"].email]
    assert not Notification.objects.exists()


def test_two_senders_never_take_the_same_notification(api: dict[str, ApiClient]) -> None:
    for citizen in ("citizen_a", "citizen_b", "citizen_a"):
        _submit(api[citizen], _draft(api[citizen]))
    first = actions.do_claim_notifications(2, 60)
    second = actions.do_claim_notifications(2, 60)
    assert len(first) == 2 and len(second) == 1
    assert not {n.pk for n in first} & {n.pk for n in second}
    assert actions.do_claim_notifications(2, 60) == []
    # A sender whose claim ran out forgets nothing another one took meanwhile.
    Notification.objects.filter(pk=second[0].pk).update(claimed_until=timezone.now())
    third = actions.do_claim_notifications(2, 60)
    actions.do_forget_notifications(second)
    assert Notification.objects.filter(pk=third[0].pk).exists()
    actions.do_forget_notifications(first + third)
    assert not Notification.objects.exists()


def test_a_batch_that_found_work_looks_again_a_second_later(
    api: dict[str, ApiClient], settings: Any, mailoutbox: list[Any]
) -> None:
    settings.TASKS = DATABASE_QUEUE
    _submit(api["citizen_a"], _draft(api["citizen_a"]))
    DBTaskResult.objects.all().delete()
    before = timezone.now()
    assert flush_notifications.call() == 1
    (again,) = _batches()
    assert before + timedelta(seconds=0.9) < again.run_after < timezone.now() + timedelta(seconds=2)
    # Nothing found: no further run (the scheduler's round comes anyway).
    DBTaskResult.objects.all().delete()
    assert flush_notifications.call() == 0
    assert _batches() == []
