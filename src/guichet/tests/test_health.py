"""GET /healthz and the request id every response and log line carries."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from guichet.logs import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_every_migration_is_applied(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == "ok"
    assert response.json()["pending_migrations"] == 0
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_unavailable_while_a_migration_is_pending(client: Client) -> None:
    # The database forgets it applied the latest dossiers migration, as after a deploy of new
    # code whose migrations have not run yet.
    leaf = next(
        node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "dossiers"
    )
    MigrationRecorder(connection).record_unapplied(*leaf)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["pending_migrations"] >= 1


def test_healthz_answers_get_only(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The request logger written as the settings write it: JSON lines with the request id."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("guichet.request")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def _log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_well_formed_request_id_is_kept_echoed_and_logged(
    client: Client, json_log: io.StringIO
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "proxy-7f3a.91_b"})

    assert response["X-Request-ID"] == "proxy-7f3a.91_b"
    [line] = _log_lines(json_log)
    assert line["request_id"] == "proxy-7f3a.91_b"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["method"] == "GET"


@pytest.mark.parametrize(
    "supplied",
    [
        'x" injected="1',  # would forge a field in a text log
        "short",  # too short to be a real id
        "a" * 65,  # too long
        "id with spaces and\ttabs",
    ],
)
def test_a_malformed_request_id_is_replaced(
    client: Client, json_log: io.StringIO, supplied: str
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": supplied})

    request_id = response["X-Request-ID"]
    assert request_id != supplied
    assert len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id)
    [line] = _log_lines(json_log)
    assert line["request_id"] == request_id


def test_each_request_gets_its_own_id(client: Client) -> None:
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second


def test_pages_carry_the_request_id_too(client: Client, json_log: io.StringIO) -> None:
    response = client.get("/accounts/login/", headers={"X-Request-ID": "page-request-0001"})

    assert response["X-Request-ID"] == "page-request-0001"
    assert _log_lines(json_log)[-1]["request_id"] == "page-request-0001"
