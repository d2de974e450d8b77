"""Django's SQLite backend, with this process's write transactions taken in turn.

SQLite lets one writer in at a time. A writer that finds the lock taken is put to sleep by
SQLite's busy handler for 1, 2, 5, 10, ... then 100 ms between tries, and a newcomer that tries
during those sleeps gets in first: under a submission peak the unlucky ones wait seconds while
the median waits milliseconds. Here the threads of one process queue on a lock of their own
before BEGIN IMMEDIATE and are woken as soon as the writer before them commits, so SQLite's lock
is almost always free when asked for; only other processes (the task worker, a second web
worker) still meet the busy handler. The wait is bounded by the same timeout as SQLite's own.

Django has no hook for this: a transaction's start and end are private methods of the backend
(which django-stubs does not declare, hence the type: ignore), so this subclasses the backend;
no library does it.
"""

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_writers = threading.Lock()
WRITING_MODES = ("IMMEDIATE", "EXCLUSIVE")


class DatabaseWrapper(base.DatabaseWrapper):
    _in_queue = False

    def _lock_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) not in WRITING_MODES:
            # A read snapshot (the backup's DEFERRED transaction) takes no write lock: no turn.
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        if not _writers.acquire(timeout=self._lock_timeout()):
            raise OperationalError("database is locked (waited for this process's writers)")
        self._in_queue = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._leave_queue()
            raise

    def _leave_queue(self) -> None:
        if self._in_queue:
            self._in_queue = False
            _writers.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._leave_queue()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._leave_queue()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self._leave_queue()
