"""The SQLite backend queues this process's writers on a lock of its own (sqlite_backend/base.py):
taken for exactly the length of a write transaction, whatever way the transaction ends."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction

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
