"""Background work a write asks for, queued as part of that write (a transactional outbox).

With the database queue (django-tasks-db, the default), the task row is inserted in the
action's own transaction: it is committed with the change or not at all, the worker cannot see
it before the commit, and the request pays for one durable commit instead of two (on SQLite,
one turn with the write lock instead of two, which is what a submission peak queues on). A
queue outside the database (the immediate backend of the tests, or a broker one day) cannot
join the transaction, so the task is handed over once the transaction has committed.
"""

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
