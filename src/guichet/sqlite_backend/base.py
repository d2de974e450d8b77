"""Django's SQLite backend, with the write transactions of every process taken in turn.

SQLite lets one writer in at a time. A writer that finds the lock taken is put to sleep by
SQLite's busy handler for 1, 2, 5, 10, ... then 100 ms between tries, and a newcomer that tries
during those sleeps gets in first: under a submission peak the unlucky ones wait seconds while
the median waits milliseconds. Here a writer takes two turns before BEGIN IMMEDIATE, so that
SQLite's lock is almost always free when asked for:

1. the threads of one process queue on a lock of their own, and are woken as soon as the writer
   before them commits;
2. the one thread of each process that got through then takes an OS lock (flock) on a file next
   to the database, `<database>-writers`, shared by every process that opens the same file: the
   web workers, the task worker, the scheduler, management commands. The kernel releases it when
   its holder dies, so a killed process blocks nobody.

Both are released when the transaction ends (commit, rollback, or the connection closing), and
the whole wait is bounded by the same timeout as SQLite's own. An in-memory database belongs to
one process and takes no OS lock; nor does a platform without fcntl, whose processes still meet
in SQLite's busy handler as before. Writes made outside a transaction (autocommit) and other
programs (the sqlite3 shell) take no turn either: they still meet SQLite's busy handler, which
keeps them correct, only slower.

Django has no hook for this: a transaction's start and end are private methods of the backend
(which django-stubs does not declare, hence the type: ignore), so this subclasses the backend;
no library does it.
"""

import os
import threading
import time
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

try:
    import fcntl
except ImportError:  # not a POSIX system: processes fall back on SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

_writers = threading.Lock()
WRITING_MODES = ("IMMEDIATE", "EXCLUSIVE")

# The OS lock is waited for by polling a non-blocking flock every 0.2 ms: a blocking flock cannot
# be given a timeout from Python (it has none, and Python retries it when a signal interrupts it),
# and a helper thread doing the blocking call would need its process's GIL twice to hand the turn
# over. Polling every 1 ms can leave the lock idle up to a millisecond at each hand-over between
# processes, against transactions of 1 to 10 ms: under 16 clients submitting, two workers then
# did no better than one; at 0.2 ms they did better (docs/performance.md). A waiting process has
# one thread polling (the others queue on `_writers`), and its CPU per submission did not rise.
_POLL = 0.0002

# One descriptor per lock file and per process, used only by the thread holding `_writers`. A
# flock belongs to the open file, which a forked child shares with its parent: the child must
# open its own, or it would hold the lock whenever its parent does.
_lock_files: dict[str, int] = {}


def _forget_parents_lock_files() -> None:
    for descriptor in _lock_files.values():
        os.close(descriptor)  # the parent's lock, if held, stays the parent's
    _lock_files.clear()


os.register_at_fork(after_in_child=_forget_parents_lock_files)


def lock_file_path(database: str) -> str:
    return f"{database}-writers"


def _lock_file(database: str) -> int:
    path = lock_file_path(database)
    descriptor = _lock_files.get(path)
    if descriptor is None:
        # 0600: only the service's user may take (and so hold up) the writers' turn.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        _lock_files[path] = descriptor
    return descriptor


def _take_os_turn(descriptor: int, deadline: float) -> bool:
    assert fcntl is not None
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL, left))


class DatabaseWrapper(base.DatabaseWrapper):
    _in_queue = False
    _os_turn: int | None = None

    def _lock_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _shared_file(self) -> str | None:
        """The database's path when other processes may open it too, else None."""
        name = str(self.settings_dict["NAME"])
        # A URI name ("file:...") may point anywhere, in memory included: left to SQLite.
        if fcntl is None or self.is_in_memory_db() or name.startswith("file:"):
            return None
        return name

    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) not in WRITING_MODES:
            # A read snapshot (the backup's DEFERRED transaction) takes no write lock: no turn.
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
            return
        timeout = self._lock_timeout()
        deadline = time.monotonic() + timeout
        if not _writers.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's writers)")
        self._in_queue = True
        try:
            self._take_turn_among_processes(deadline)
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._leave_queue()
            raise

    def _take_turn_among_processes(self, deadline: float) -> None:
        database = self._shared_file()
        if database is None:
            return
        descriptor = _lock_file(database)
        if not _take_os_turn(descriptor, deadline):
            raise OperationalError("database is locked (waited for the other processes' writers)")
        self._os_turn = descriptor

    def _leave_queue(self) -> None:
        if self._os_turn is not None:
            descriptor, self._os_turn = self._os_turn, None
            assert fcntl is not None
            fcntl.flock(descriptor, fcntl.LOCK_UN)
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
