"""The benchmark's baseline endpoint exists only when GUICHET_BENCH_ENDPOINTS is switched on."""

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import clear_url_caches

import guichet.urls
from guichet import bench_endpoints

pytestmark = pytest.mark.django_db


@pytest.fixture
def reload_urls(settings: Any) -> Iterator[None]:
    yield
    settings.GUICHET_BENCH_ENDPOINTS = False
    importlib.reload(guichet.urls)
    clear_url_caches()


def test_bench_endpoints_are_off_by_default(client: Client, settings: Any) -> None:
    assert settings.GUICHET_BENCH_ENDPOINTS is False
    assert client.post("/bench/insert", "x", content_type="text/plain").status_code == 404
    assert client.get("/bench/insert").status_code == 404
    assert client.get("/bench/read").status_code == 404


def test_switched_on_the_baseline_does_one_insert(
    client: Client, settings: Any, reload_urls: None
) -> None:
    settings.GUICHET_BENCH_ENDPOINTS = True
    importlib.reload(guichet.urls)
    clear_url_caches()
    bench_endpoints._created.clear()  # the table lives in this test's transaction only

    first = client.post("/bench/insert", "hello", content_type="text/plain")
    second = client.post("/bench/insert", "again", content_type="text/plain")

    assert (first.status_code, second.status_code) == (201, 201)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT body FROM {bench_endpoints.TABLE} ORDER BY id")  # noqa: S608
        assert [row[0] for row in cursor.fetchall()] == ["hello", "again"]
    assert client.get("/bench/insert").status_code == 405
    read = client.get("/bench/read")
    assert read.status_code == 200
    assert read.json()["id"] is not None
