"""The submission is the hottest write on a deadline day: its cost in queries is fixed, and the
notification it queues is committed with it (the database queue is a transactional outbox)."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# What a submission costs, authentication included: the token with its user, their roles (none
# for a citizen, but the API must know whether to ask for MFA), the dossier locked with its
# procedure, its attachments, the year's counter, the dossier, its history event, the log's
# head, event, tree nodes and new head, the notification; then the history for the answer.
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


def test_a_submission_costs_a_fixed_number_of_queries(
    api: dict[str, ApiClient], settings: Any
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


def _queued(dossier_id: str) -> list[dict[str, Any]]:
    return [
        task.args_kwargs["kwargs"]
        for task in DBTaskResult.objects.all()
        if task.args_kwargs["kwargs"].get("dossier_id") == dossier_id
    ]


def test_the_notification_is_queued_with_the_submission(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any
) -> None:
    settings.TASKS = DATABASE_QUEUE
    citizen = api["citizen_a"]
    dossier_id = _draft(citizen)
    assert _queued(dossier_id) == []
    _submit(citizen, dossier_id)
    assert _queued(dossier_id) == [
        {
            "dossier_id": dossier_id,
            "recipient_id": str(world["citizen_a"].pk),
            "kind": "transition",
            "action": "submit",
        }
    ]


def test_a_failed_decision_leaves_neither_change_nor_task(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any, monkeypatch: Any
) -> None:
    settings.TASKS = DATABASE_QUEUE
    instructor = world["instructor"]
    dossier_id = _draft(api["citizen_a"])
    _submit(api["citizen_a"], dossier_id)
    actions.do_transition(instructor, dossier_id, "take")
    queued = _queued(dossier_id)
    assert [task["action"] for task in queued] == ["submit", "take"]

    def broken(dossier: Dossier) -> None:
        raise RuntimeError("the document service is gone")

    # The last step of a decision fails after the applicant's notification was queued.
    monkeypatch.setattr(actions, "_issue_decision_document", broken)
    with pytest.raises(RuntimeError):
        actions.do_transition(instructor, dossier_id, "accept")
    assert Dossier.objects.get(pk=dossier_id).state == "in_review"
    assert _queued(dossier_id) == queued


def test_the_queued_row_is_the_one_the_database_backend_writes(
    api: dict[str, ApiClient], world: dict[str, User], settings: Any
) -> None:
    # The outbox writes the task row itself (guichet/outbox.py): it must be the row
    # DatabaseBackend.enqueue would write, or the worker would skip or misread it.
    settings.TASKS = DATABASE_QUEUE
    from django.tasks import task_backends
    from django_tasks_db.models import get_date_max

    from guichet.dossiers.tasks import send_dossier_notification

    citizen = api["citizen_a"]
    dossier_id = _draft(citizen)
    _submit(citizen, dossier_id)
    ours = DBTaskResult.objects.get(args_kwargs__kwargs__dossier_id=dossier_id)
    theirs = DBTaskResult.objects.get(
        id=send_dossier_notification.using(backend="default")
        .enqueue(dossier_id=dossier_id, recipient_id="x", kind="transition", action="submit")
        .id
    )
    fields = ("status", "priority", "task_path", "queue_name", "backend_name", "run_after")
    assert {f: getattr(ours, f) for f in fields} == {f: getattr(theirs, f) for f in fields}
    assert ours.run_after == get_date_max()  # set by django-tasks-db's pre_save signal
    assert list(DBTaskResult.objects.ready().filter(pk=ours.pk)) == [ours]
    result = task_backends["default"].get_result(str(ours.pk))
    assert result.kwargs["dossier_id"] == dossier_id and result.args == []


def test_the_notification_reaches_active_accounts_of_existing_dossiers(
    api: dict[str, ApiClient], world: dict[str, User], mailoutbox: list[Any]
) -> None:
    from guichet.dossiers.tasks import send_dossier_notification

    citizen = world["citizen_a"]
    dossier_id = _draft(api["citizen_a"])
    number = _submit(api["citizen_a"], dossier_id)[1]["number"]
    mailoutbox.clear()
    notify = send_dossier_notification.call
    assert notify(dossier_id, str(citizen.pk), "transition", "submit") == 1
    assert mailoutbox[0].to == [citizen.email] and number in mailoutbox[0].subject
    assert f"/dossiers/{dossier_id}/" in mailoutbox[0].body
    # An erased dossier or a closed account: nothing to tell, nothing sent.
    assert notify(str(world["instructor"].pk), str(citizen.pk), "transition", "submit") == 0
    User.objects.filter(pk=citizen.pk).update(is_active=False)
    assert notify(dossier_id, str(citizen.pk), "transition", "submit") == 0
    assert len(mailoutbox) == 1
