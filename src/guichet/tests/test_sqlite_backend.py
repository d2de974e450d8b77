"""The SQLite backend queues writers (sqlite_backend/base.py): this process's on a lock of its own,
all processes' on an OS lock next to the database file; both taken for exactly the length of a
write transaction, whatever way the transaction ends."""

import fcntl
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.utils import ConnectionHandler

from guichet.identity.models import Organisation
from guichet.sqlite_backend import base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip(f"the database is {connection.vendor}: the writers' queue is SQLite's")


def _organisation(slug: str) -> Organisation:
    return Organisation.objects.create(slug=slug, name=slug)


def test_the_queue_is_held_for_the_transaction_and_released_by_commit() -> None:
    assert not base._writers.locked()
    with transaction.atomic():
        _organisation("commit")
        assert base._writers.locked()
        with transaction.atomic():  # a savepoint: no second turn in the queue
            _organisation("nested")
    assert not base._writers.locked()
    assert Organisation.objects.filter(slug__in=["commit", "nested"]).count() == 2


def test_a_failed_transaction_releases_the_queue() -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _organisation("rolled-back")
        _ = 1 / 0
    assert not base._writers.locked()
    assert not Organisation.objects.filter(slug="rolled-back").exists()


def test_a_read_snapshot_does_not_queue() -> None:
    # The backup reads in a DEFERRED transaction while requests keep writing.
    connection.ensure_connection()  # connecting sets the mode from the settings
    connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            assert Organisation.objects.filter(slug="nobody").count() == 0
            assert not base._writers.locked()
    finally:
        connection.transaction_mode = "IMMEDIATE"  # type: ignore[attr-defined]


def test_reads_outside_a_transaction_do_not_queue() -> None:
    base._writers.acquire()
    try:
        assert Organisation.objects.filter(slug="nobody").count() == 0
    finally:
        base._writers.release()


@pytest.fixture
def short_timeout() -> Iterator[None]:
    options: dict[str, Any] = connection.settings_dict.setdefault("OPTIONS", {})
    before = options.get("timeout")
    options["timeout"] = 0.2
    yield
    options["timeout"] = before


@pytest.mark.usefixtures("short_timeout")
def test_a_writer_waiting_longer_than_the_timeout_is_told_the_database_is_locked() -> None:
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            _organisation("holder")
            holding.set()
            done.wait(5)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    try:
        with pytest.raises(OperationalError, match="locked"), transaction.atomic():
            _organisation("late")
    finally:
        done.set()
        holder.join()
    assert not base._writers.locked()
    # Once the holder committed, the same write goes through.
    with transaction.atomic():
        _organisation("late")
    assert set(Organisation.objects.values_list("slug", flat=True)) >= {"holder", "late"}


# --- Writers of all processes: the OS lock on `<database>-writers` -----------------------------
# The test database is in memory (one process), so these tests open a database file of their own,
# through the same backend, in this process and in other Python processes.

WRITER = """
import sys
from django.conf import settings

settings.configure(DATABASES={"default": {
    "ENGINE": "guichet.sqlite_backend",
    "NAME": sys.argv[1],
    "OPTIONS": {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # SQLite's busy handler off: a writer that did not wait for its turn fails at once.
        "init_command": "PRAGMA busy_timeout=0",
    },
}})
from django.db import connection, transaction

print("started", flush=True)
with transaction.atomic():
    connection.cursor().execute("INSERT INTO turns (who) VALUES (%s)", [sys.argv[2]])
    print("holding", flush=True)
    sys.stdin.readline()  # the holder waits to be told; an empty stdin returns at once
print("committed", flush=True)
"""


def _create_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)")


def _turns(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [who for (who,) in db.execute("SELECT who FROM turns ORDER BY id")]


def _start_writer(path: Path, who: str) -> subprocess.Popen[str]:
    writer = subprocess.Popen(  # noqa: S603 (this interpreter, our own script)
        [sys.executable, "-c", WRITER, str(path), who],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "started\n"
    return writer


def _hold(path: Path, who: str) -> subprocess.Popen[str]:
    holder = _start_writer(path, who)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "holding\n"
    return holder


def _finish(writer: subprocess.Popen[str]) -> str:
    out, _ = writer.communicate("\n", timeout=30)
    return out


def _os_lock_is_free(path: Path) -> bool:
    # A lock taken through another open file conflicts, even inside this process.
    descriptor = os.open(base.lock_file_path(str(path)), os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # also releases the lock just taken
    return True


@pytest.fixture
def shared_file(tmp_path: Path) -> Iterator[Path]:
    """A database file, opened in this thread through the backend as the `shared_file` alias."""
    path = tmp_path / "shared.sqlite3"
    _create_database(path)
    handler = ConnectionHandler(
        {
            "default": {},  # required by Django, never opened
            "shared_file": {
                "ENGINE": "guichet.sqlite_backend",
                "NAME": str(path),
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 10},
            },
        }
    )
    connections["shared_file"] = handler["shared_file"]
    yield path
    connections["shared_file"].close()
    del connections["shared_file"]


def _write(who: str) -> None:
    connections["shared_file"].cursor().execute("INSERT INTO turns (who) VALUES (%s)", [who])


def test_the_os_lock_is_held_for_the_transaction_and_released_by_commit(shared_file: Path) -> None:
    with transaction.atomic(using="shared_file"):
        _write("commit")
        assert not _os_lock_is_free(shared_file)
    assert _os_lock_is_free(shared_file)
    assert not base._writers.locked()
    assert _turns(shared_file) == ["commit"]
    mode = os.stat(base.lock_file_path(str(shared_file))).st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_a_failed_transaction_releases_the_os_lock(shared_file: Path) -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic(using="shared_file"):
        _write("rolled-back")
        _ = 1 / 0
    assert _os_lock_is_free(shared_file)
    assert not base._writers.locked()
    assert _turns(shared_file) == []


def test_a_writer_waiting_for_another_process_longer_than_the_timeout_gives_up(
    shared_file: Path,
) -> None:
    connections["shared_file"].settings_dict["OPTIONS"]["timeout"] = 0.2
    holder = _hold(shared_file, "holder")
    try:
        with (
            pytest.raises(OperationalError, match="other processes"),
            transaction.atomic(using="shared_file"),
        ):
            _write("late")
        # Nothing of this process's stays taken: its own threads and the holder go on.
        assert not base._writers.locked()
    finally:
        assert _finish(holder) == "committed\n"
    assert _os_lock_is_free(shared_file)
    with transaction.atomic(using="shared_file"):
        _write("late")
    assert _turns(shared_file) == ["holder", "late"]


def test_a_process_waiting_for_its_turn_gets_in_once_the_writer_before_it_commits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "turns.sqlite3"
    _create_database(path)
    first = _hold(path, "first")
    # SQLite's busy handler is off in both: without the turn, the second would fail at once.
    second = _start_writer(path, "second")
    try:
        time.sleep(0.5)
        assert second.poll() is None  # still waiting for its turn, not failed
        assert _turns(path) == []  # the first has not committed yet
    finally:
        assert _finish(first) == "committed\n"
    committed_at = time.monotonic()
    assert _finish(second) == "holding\ncommitted\n"
    assert time.monotonic() - committed_at < 10  # generous: the machine may be busy
    assert second.returncode == 0
    assert _turns(path) == ["first", "second"]
    assert _os_lock_is_free(path)


def test_a_killed_writer_releases_its_turn(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite3"
    _create_database(path)
    killed = _hold(path, "killed")
    waiting = _start_writer(path, "survivor")
    try:
        time.sleep(0.3)
        assert waiting.poll() is None
        killed.kill()  # SIGKILL: no rollback, no unlock; the kernel releases its locks
        killed.wait(10)
        assert _finish(waiting) == "holding\ncommitted\n"
    finally:
        killed.kill()
        waiting.kill()
        killed.communicate()
        waiting.communicate()
    assert _turns(path) == ["survivor"]  # the killed writer's row was never committed
    assert _os_lock_is_free(path)
