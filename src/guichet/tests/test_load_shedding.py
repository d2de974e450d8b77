"""Load shedding: past its bound a server process answers 503 + Retry-After at once, never for
/healthz, and lets requests in again as soon as slots free up."""

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from guichet.middleware import LoadSheddingMiddleware

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
