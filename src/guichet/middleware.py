"""Request id (accepted from a trusted proxy's X-Request-ID or made here, logged, echoed back),
load shedding (a bounded number of requests at work per process, the rest refused fast), and the
pages' refusal of NUL characters (PostgreSQL cannot hold or even compare text containing one)."""

import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from guichet.logs import request_id_var

logger = logging.getLogger("guichet.request")
# A proxy-supplied id is kept only if it is short and plain, so it cannot inject into logs.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# X-Request-Start as proxies write it: nginx `t=${msec}` (seconds with milliseconds), or an
# integer count of milliseconds or microseconds since the epoch (HAProxy, Heroku), `t=` optional.
REQUEST_START = re.compile(r"^(?:t=)?(\d{9,16})(?:\.(\d{1,6}))?$")
MAX_PLAUSIBLE_WAIT = 60.0
# A refused request's body up to this size is read (microseconds); a larger one is not.
DRAIN_LIMIT = 64 * 1024


def request_start(value: str) -> float | None:
    """The epoch seconds in an X-Request-Start header, or None if it is not one."""
    match = REQUEST_START.match(value.strip())
    if match is None:
        return None
    whole, fraction = match.groups()
    if fraction is not None:
        return float(f"{whole}.{fraction}")
    number = int(whole)
    # Tell the unit by size: seconds have 10 digits until 2286, milliseconds 13, microseconds 16.
    for digits, scale in ((10, 1), (13, 1_000), (16, 1_000_000)):
        if len(whole) <= digits:
            return number / scale
    return None


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class LoadSheddingMiddleware:
    """Bound the requests one server process works on at once, and how long any request may
    wait before work starts on it; refuse the excess quickly.

    On a deadline day the arrivals can outrun the database by 10x. Letting every request in
    makes all of them slow (and SQLite writers time out after `busy_timeout`), so past
    `GUICHET_MAX_INFLIGHT` requests a newcomer waits for a slot, and at most `GUICHET_MAX_QUEUED`
    wait at all. Others get 503 with Retry-After at once: an honest "come back in a few seconds"
    instead of a page that spins then fails. The health check and static files always pass, so
    a load balancer never mistakes a busy instance for a dead one. The limits are per process
    (each granian worker has its own).

    The wait is bounded by time in queue, not by time in this middleware: `GUICHET_QUEUE_WAIT_MS`
    counts from the request's arrival, which is the moment the TLS proxy stamped in
    `X-Request-Start` when `GUICHET_TRUST_REQUEST_START` is on (so time spent queued in the proxy
    and in granian counts too), else the moment it reached this middleware. A request that has
    already waited that long is refused without taking a slot: its client is likely about to give
    up, and serving it first would only make every request behind it late as well.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.max_inflight: int = settings.GUICHET_MAX_INFLIGHT
        self.max_queued: int = settings.GUICHET_MAX_QUEUED
        self.queue_wait = settings.GUICHET_QUEUE_WAIT_MS / 1000
        self.trust_request_start: bool = settings.GUICHET_TRUST_REQUEST_START
        self.retry_after = str(settings.GUICHET_RETRY_AFTER_SECONDS)
        self.exempt: tuple[str, ...] = ("/healthz", settings.STATIC_URL)
        self.slots = threading.BoundedSemaphore(max(1, self.max_inflight))
        self.lock = threading.Lock()
        self.queued = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.max_inflight <= 0 or request.path.startswith(self.exempt):
            return self.get_response(request)
        remaining = self.queue_wait - self._waited_upstream(request)
        if remaining <= 0:
            return self._shed(request, "waited too long upstream")
        if not self.slots.acquire(blocking=False) and not self._wait_for_slot(remaining):
            return self._shed(request, "no slot")
        try:
            return self.get_response(request)
        finally:
            self.slots.release()

    def _waited_upstream(self, request: HttpRequest) -> float:
        """Seconds between the proxy's stamp and now; 0 without a trusted, plausible stamp."""
        if not self.trust_request_start:
            return 0.0
        stamp = request_start(request.headers.get("X-Request-Start", ""))
        if stamp is None:
            return 0.0
        waited = time.time() - stamp
        # A stamp from the future or from long ago is a clock out of step or a bad header, not
        # a queue: ignore it rather than refuse every request.
        return waited if 0 <= waited <= MAX_PLAUSIBLE_WAIT else 0.0

    def _wait_for_slot(self, timeout: float) -> bool:
        with self.lock:
            if self.queued >= self.max_queued:
                return False
            self.queued += 1
        try:
            return self.slots.acquire(timeout=timeout)
        finally:
            with self.lock:
                self.queued -= 1

    def _shed(self, request: HttpRequest, reason: str) -> HttpResponse:
        logger.warning(
            "shed %s %s (%s)", request.method, request.path, reason, extra={"status": 503}
        )
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse(
                {"code": "overloaded", "message": _("Too many requests right now; try again.")},
                status=503,
            )
        else:
            response = HttpResponse(
                _("Guichet is very busy right now. Please try again in a few seconds."),
                content_type="text/plain; charset=utf-8",
                status=503,
            )
        response["Retry-After"] = self.retry_after
        response["Cache-Control"] = "no-store"
        self._finish_body(request, response)
        return response

    @staticmethod
    def _finish_body(request: HttpRequest, response: HttpResponse) -> None:
        """Keep the client's connection usable after a refusal. A request body left unread makes
        the server close the keep-alive connection under the client, which sees its next request
        fail (a broken pipe) rather than a clean refusal: read a small body, and for a large one
        (an upload) say the connection closes, so the client opens a new one."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= 0:
            return
        if length <= DRAIN_LIMIT:
            with contextlib.suppress(OSError):  # the client went away: nothing to keep usable
                request.read(length)
            return
        # wsgiref (`runserver`) forbids hop-by-hop headers; it closes the connection anyway.
        if not request.META.get("SERVER_SOFTWARE", "").startswith("WSGIServer"):
            response["Connection"] = "close"


NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _holds_nul(pairs: Iterable[tuple[str, list[str]]]) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in pairs)


class NulCookieMiddleware:
    """Forget cookies holding a NUL character, before the session middleware reads them.

    Django's cookie parser turns a quoted `"\\000"` into a NUL, and the database session backend
    then looks the key up: a DataError (a 500 on every page, the API included) on PostgreSQL. No
    cookie Guichet sets can hold one, so such a cookie is treated as absent (no session: the
    visitor is anonymous; no CSRF cookie: a new one is set) rather than refused, which would
    lock the browser out until the cookie expires."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookies = request.COOKIES
        if any(NUL in name or NUL in value for name, value in cookies.items()):
            request.COOKIES = {
                name: value
                for name, value in cookies.items()
                if NUL not in name and NUL not in value
            }
        return self.get_response(request)


class NulRefusingMiddleware:
    """The pages' equivalent of the API's NulRefusingParser: a NUL character in the path, the
    query string or a form field (name or value) is answered 400 with a message, before any view
    runs, so no view, filter or form can pass it to a query (a DataError, hence a 500, on
    PostgreSQL; SQLite would accept it, so the answer is the same on both).

    One generic page rather than the form again with the field marked: nobody types a NUL (a
    keyboard cannot, browsers do not put one in a field), so only a crafted request meets it.
    The API is left to its parser, which answers in the API's JSON error shape. Placed after the
    language middlewares, so the page speaks the person's language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return self.get_response(request)
        if NUL in request.path or _holds_nul(request.GET.lists()):
            return self._refuse(request)
        # Only a form body is parsed (what the view would do anyway, with the same errors for a
        # broken or oversized one); other bodies are left to the view.
        form = request.method == "POST" and request.content_type in FORM_TYPES
        if form and _holds_nul(request.POST.lists()):
            return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest) -> HttpResponse:
        message = _("Null characters are not allowed.")
        return render(request, "400.html", {"message": message}, status=400)
