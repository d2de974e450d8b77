"""Load shedding: past its bound a server process answers 503 + Retry-After at once, never for
/healthz, and lets requests in again as soon as slots free up; the wait is bounded from the
request's arrival (the proxy's X-Request-Start stamp when trusted)."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from guichet.middleware import LoadSheddingMiddleware, request_start

pytestmark = pytest.mark.django_db


class Gate:
    """A view that holds every request it receives until released."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.entered.release()
        self.release.wait(timeout=10)
        return HttpResponse("done")


@pytest.fixture
def shedding(settings: Any) -> Callable[[Callable[[HttpRequest], HttpResponse]], Any]:
    settings.GUICHET_MAX_INFLIGHT = 1
    settings.GUICHET_MAX_QUEUED = 1
    settings.GUICHET_QUEUE_WAIT_MS = 50
    settings.GUICHET_RETRY_AFTER_SECONDS = 7
    return LoadSheddingMiddleware


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.release.set()


def _busy(middleware: LoadSheddingMiddleware, gate: Gate, path: str = "/") -> threading.Thread:
    """Start one request that occupies the only slot until the gate opens."""
    thread = threading.Thread(target=middleware, args=(RequestFactory().get(path),))
    thread.start()
    assert gate.entered.acquire(timeout=5)
    return thread


def test_a_saturated_process_answers_503_with_retry_after(shedding: Any, gate: Gate) -> None:
    middleware = shedding(gate)
    holder = _busy(middleware, gate)

    page = middleware(RequestFactory().get("/dossiers/"))
    api = middleware(RequestFactory().post("/api/v1/dossiers"))

    assert page.status_code == 503
    assert page["Retry-After"] == "7"
    assert api.status_code == 503
    assert api["Retry-After"] == "7"
    assert json.loads(api.content)["code"] == "overloaded"
    gate.release.set()
    holder.join()


def test_healthz_and_static_files_are_never_shed(shedding: Any, gate: Gate) -> None:
    answered: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        if request.path == "/busy":
            return gate(request)
        answered.append(request.path)
        return HttpResponse("ok")

    middleware = shedding(view)
    holder = _busy(middleware, gate, "/busy")

    assert middleware(RequestFactory().get("/healthz")).status_code == 200
    assert middleware(RequestFactory().get("/static/site.css")).status_code == 200
    assert answered == ["/healthz", "/static/site.css"]
    gate.release.set()
    holder.join()


def test_a_request_waits_in_the_short_queue_then_goes_through(settings: Any, gate: Gate) -> None:
    settings.GUICHET_MAX_INFLIGHT = 1
    settings.GUICHET_MAX_QUEUED = 4
    settings.GUICHET_QUEUE_WAIT_MS = 5000
    middleware = LoadSheddingMiddleware(gate)
    holder = _busy(middleware, gate)
    results: list[int] = []
    waiter = threading.Thread(
        target=lambda: results.append(middleware(RequestFactory().get("/")).status_code)
    )
    waiter.start()

    gate.release.set()  # the slot frees up while the second request waits for it
    holder.join()
    waiter.join()

    assert results == [200]


def test_beyond_the_queue_bound_requests_are_refused_without_waiting(
    settings: Any, gate: Gate
) -> None:
    settings.GUICHET_MAX_INFLIGHT = 1
    settings.GUICHET_MAX_QUEUED = 0
    settings.GUICHET_QUEUE_WAIT_MS = 60_000  # would hang the test if the bound were ignored
    middleware = LoadSheddingMiddleware(gate)
    holder = _busy(middleware, gate)

    assert middleware(RequestFactory().get("/")).status_code == 503
    gate.release.set()
    holder.join()


def test_slots_are_given_back_so_the_process_recovers(shedding: Any, gate: Gate) -> None:
    middleware = shedding(gate)
    holder = _busy(middleware, gate)
    assert middleware(RequestFactory().get("/")).status_code == 503
    gate.release.set()
    holder.join()

    assert middleware(RequestFactory().get("/")).status_code == 200
    assert middleware(RequestFactory().get("/")).status_code == 200


def test_a_failing_view_gives_its_slot_back(shedding: Any) -> None:
    def broken(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")

    middleware = shedding(broken)
    for _ in range(3):  # with a leaked slot the second call would be shed, not raise
        with pytest.raises(RuntimeError):
            middleware(RequestFactory().get("/"))


def test_zero_in_flight_turns_shedding_off(settings: Any, gate: Gate) -> None:
    settings.GUICHET_MAX_INFLIGHT = 0
    middleware = LoadSheddingMiddleware(gate)
    holders = [_busy(middleware, gate) for _ in range(3)]  # all three get in at once
    gate.release.set()
    for holder in holders:
        holder.join()


def test_the_middleware_is_installed_and_lets_normal_traffic_through(client: Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200


# --- Time in queue: the proxy's X-Request-Start stamp ------------------------------------------


def test_a_request_that_already_waited_too_long_upstream_is_refused_at_once(
    settings: Any, client: Client
) -> None:
    settings.GUICHET_TRUST_REQUEST_START = True
    settings.GUICHET_QUEUE_WAIT_MS = 1000
    stale = f"t={time.time() - 5:.3f}"  # nginx's $msec: queued 5 s in the proxy and granian

    refused = client.get("/", HTTP_X_REQUEST_START=stale)
    fresh = client.get("/", HTTP_X_REQUEST_START=f"t={time.time():.3f}")

    assert refused.status_code == 503
    assert refused["Retry-After"] == "5"
    assert fresh.status_code == 200


def test_the_stamp_is_ignored_unless_trusted(settings: Any, client: Client) -> None:
    settings.GUICHET_TRUST_REQUEST_START = False
    stale = f"t={time.time() - 5:.3f}"  # a client cannot make the server drop its requests

    assert client.get("/", HTTP_X_REQUEST_START=stale).status_code == 200


@pytest.mark.parametrize(
    "stamp",
    [
        lambda now: f"t={now + 30:.3f}",  # a proxy clock ahead of ours
        lambda now: f"t={now - 3600:.3f}",  # an hour "in queue": a clock behind, not a queue
        lambda now: "yesterday",
        lambda now: "",
    ],
)
def test_an_implausible_or_malformed_stamp_is_ignored(
    settings: Any, client: Client, stamp: Callable[[float], str]
) -> None:
    settings.GUICHET_TRUST_REQUEST_START = True

    assert client.get("/", HTTP_X_REQUEST_START=stamp(time.time())).status_code == 200


def test_the_wait_for_a_slot_counts_the_time_already_spent_upstream(
    settings: Any, gate: Gate
) -> None:
    settings.GUICHET_MAX_INFLIGHT = 1
    settings.GUICHET_MAX_QUEUED = 4
    settings.GUICHET_QUEUE_WAIT_MS = 59_000  # would hang the test if only local time counted
    settings.GUICHET_TRUST_REQUEST_START = True
    middleware = LoadSheddingMiddleware(gate)
    holder = _busy(middleware, gate)
    request = RequestFactory().get("/", HTTP_X_REQUEST_START=f"t={time.time() - 58.9:.3f}")

    assert middleware(request).status_code == 503  # after the ~0.1 s left of its budget
    gate.release.set()
    holder.join()


def test_a_stale_request_does_not_take_a_free_slot(settings: Any) -> None:
    settings.GUICHET_MAX_INFLIGHT = 1
    settings.GUICHET_TRUST_REQUEST_START = True
    served: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        served.append(request.path)
        return HttpResponse("ok")

    middleware = LoadSheddingMiddleware(view)
    stale = RequestFactory().get("/late", HTTP_X_REQUEST_START=f"t={time.time() - 2:.3f}")

    assert middleware(stale).status_code == 503
    assert middleware(RequestFactory().get("/now")).status_code == 200
    assert served == ["/now"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("t=1700000000.123", 1700000000.123),  # nginx $msec
        ("1700000000123", 1700000000.123),  # milliseconds
        ("t=1700000000123456", 1700000000.123456),  # microseconds (HAProxy, Heroku)
        ("1700000000", 1700000000.0),
        (" t=1700000000.5 ", 1700000000.5),
        ("t=abc", None),
        ("-1700000000", None),
        ("17000000001234567", None),
    ],
)
def test_request_start_formats(header: str, seconds: float | None) -> None:
    parsed = request_start(header)

    if seconds is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(seconds)


def test_a_refused_small_body_is_read_so_the_connection_stays_usable(
    shedding: Any, gate: Gate
) -> None:
    middleware = shedding(gate)
    holder = _busy(middleware, gate)
    request = RequestFactory().post(
        "/api/v1/dossiers", data=b'{"procedure": "x"}' * 100, content_type="application/json"
    )

    refused = middleware(request)

    assert refused.status_code == 503
    assert request.read() == b""  # nothing left unread for the server to trip on
    assert not refused.has_header("Connection")
    gate.release.set()
    holder.join()


def test_a_refused_upload_says_the_connection_closes(shedding: Any, gate: Gate) -> None:
    middleware = shedding(gate)
    holder = _busy(middleware, gate)
    upload = RequestFactory().post(
        "/api/v1/dossiers/1/attachments",
        data=b"%PDF" + b"x" * 200_000,
        content_type="application/pdf",
    )

    refused = middleware(upload)

    assert refused.status_code == 503
    assert refused["Connection"] == "close"  # not read: the client must open a new connection
    gate.release.set()
    holder.join()
