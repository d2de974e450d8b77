"""Background work a write asks for, queued as part of that write (a transactional outbox).

With the database queue (django-tasks-db, the default), the task row is inserted in the
action's own transaction: it is committed with the change or not at all, the worker cannot see
it before the commit, and the request pays for one durable commit instead of two (on SQLite,
one turn with the write lock instead of two, which is what a submission peak queues on). A
queue outside the database (the immediate backend of the tests, or a broker one day) cannot
join the transaction, so the task is handed over once the transaction has committed.
"""

import threading
import time
from typing import Any

from django.db import transaction
from django.tasks import Task, task_backends
from django.tasks.signals import task_enqueued
from django.utils.json import normalize_json
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from guichet import rows


def _in_database(task: Task[..., Any]) -> bool:
    return isinstance(task_backends[task.backend], DatabaseBackend)


def enqueue(task: Task[..., Any], **kwargs: Any) -> None:
    """Queue `task` with `kwargs`, atomically with the current transaction."""
    if _in_database(task):
        _insert(task, kwargs)
    else:
        transaction.on_commit(lambda: task.enqueue(**kwargs))


# When this process last queued each coalesced task (module path: time.monotonic()), in a
# transaction that committed.
_requested: dict[str, float] = {}
_requested_lock = threading.Lock()


def enqueue_coalesced(task: Task[..., Any], within: float) -> None:
    """Queue `task` (it takes no arguments) with the current transaction, unless this process
    already did less than `within` seconds ago. For a task that does all the pending work of
    its kind (dossiers.tasks.flush_notifications): on a peak, one run sends what hundreds of
    submissions left, instead of one run each, and the worker's share of the cores goes back to
    the citizens. Such a task must run again `within` seconds after a run that found work (the
    end of a burst may come after its start), and something periodic must queue it too (a
    transaction that rolled back after queueing it, a process that died): guichet schedule."""
    if not _in_database(task):
        transaction.on_commit(lambda: task.enqueue())
        return
    now = time.monotonic()
    with _requested_lock:
        if now - _requested.get(task.module_path, float("-inf")) < within:
            return
    _insert(task, {})

    def committed() -> None:
        with _requested_lock:
            _requested[task.module_path] = now

    transaction.on_commit(committed)


def _insert(task: Task[..., Any], kwargs: dict[str, Any]) -> None:
    """What DatabaseBackend.enqueue does (the same row, the same signal), with the INSERT built
    once (guichet/rows.py) instead of by the ORM on each call: every submission queues a task,
    and composing this INSERT cost the submission more than running it."""
    backend = task_backends[task.backend]
    backend.validate_task(task)
    row: DBTaskResult[..., Any] = DBTaskResult(
        args_kwargs=normalize_json({"args": [], "kwargs": kwargs}),
        priority=task.priority,
        task_path=task.module_path,
        queue_name=task.queue_name,
        run_after=task.run_after,  # type: ignore[misc]  # None: a pre_save signal fills it
        backend_name=backend.alias,
    )
    rows.insert(row)
    task_enqueued.send(type(backend), task_result=row.task_result)
