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
from django_tasks_db import DatabaseBackend


def _in_database(task: Task[..., Any]) -> bool:
    return isinstance(task_backends[task.backend], DatabaseBackend)


def enqueue(task: Task[..., Any], **kwargs: Any) -> None:
    """Queue `task` with `kwargs`, atomically with the current transaction."""
    if _in_database(task):
        task.enqueue(**kwargs)
    else:
        transaction.on_commit(lambda: task.enqueue(**kwargs))
