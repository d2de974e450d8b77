"""Request id (accepted from a trusted proxy's X-Request-ID or made here, logged, echoed back)
and load shedding (a bounded number of requests at work per process, the rest refused fast)."""

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from guichet.logs import request_id_var

logger = logging.getLogger("guichet.request")
# A proxy-supplied id is kept only if it is short and plain, so it cannot inject into logs.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


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
    """Bound the requests one server process works on at once; refuse the excess quickly.

    On a deadline day the arrivals can outrun the database by 10x. Letting every request in
    makes all of them slow (and SQLite writers time out after `busy_timeout`), so past
    `GUICHET_MAX_INFLIGHT` requests a newcomer waits at most `GUICHET_QUEUE_WAIT_MS` for a slot,
    and at most `GUICHET_MAX_QUEUED` wait at all. Others get 503 with Retry-After at once: an
    honest "come back in a few seconds" instead of a page that spins then fails. The health
    check and static files always pass, so a load balancer never mistakes a busy instance for
    a dead one. The limits are per process (each granian worker has its own).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.conf import settings

        self.get_response = get_response
        self.max_inflight: int = settings.GUICHET_MAX_INFLIGHT
        self.max_queued: int = settings.GUICHET_MAX_QUEUED
        self.queue_wait = settings.GUICHET_QUEUE_WAIT_MS / 1000
        self.retry_after = str(settings.GUICHET_RETRY_AFTER_SECONDS)
        self.exempt: tuple[str, ...] = ("/healthz", settings.STATIC_URL)
        self.slots = threading.BoundedSemaphore(max(1, self.max_inflight))
        self.lock = threading.Lock()
        self.queued = 0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.max_inflight <= 0 or request.path.startswith(self.exempt):
            return self.get_response(request)
        if not self.slots.acquire(blocking=False) and not self._wait_for_slot():
            return self._shed(request)
        try:
            return self.get_response(request)
        finally:
            self.slots.release()

    def _wait_for_slot(self) -> bool:
        with self.lock:
            if self.queued >= self.max_queued:
                return False
            self.queued += 1
        try:
            return self.slots.acquire(timeout=self.queue_wait)
        finally:
            with self.lock:
                self.queued -= 1

    def _shed(self, request: HttpRequest) -> HttpResponse:
        logger.warning("shed %s %s", request.method, request.path, extra={"status": 503})
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
        return response
