"""Baseline endpoints for bench/submission_load.py and bench/backoffice_bench.py, mounted only
when GUICHET_BENCH_ENDPOINTS is on.

POST /bench/insert does the least a durable write can do through the same server, middleware
and database settings as the real API: one INSERT, committed. A submission's throughput is then
read as a ratio to it. GET /bench/read is the same for a page: one indexed SELECT of one row.
The table is made on first use, outside the migrations, because it does not belong to the
product; production never mounts the URLs (settings.GUICHET_BENCH_ENDPOINTS).
"""

import threading

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

TABLE = "guichet_bench_insert"
_created = threading.Event()


def _ensure_table() -> None:
    if _created.is_set():
        return
    key = "bigserial" if connection.vendor == "postgresql" else "integer"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            f"(id {key} PRIMARY KEY, at timestamp NOT NULL, body text NOT NULL)"
        )
    _created.set()


@csrf_exempt
@require_POST
def bench_insert(request: HttpRequest) -> JsonResponse:
    _ensure_table()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (at, body) VALUES (CURRENT_TIMESTAMP, %s)",  # noqa: S608
            [request.body[:1000].decode("utf-8", "replace")],
        )
    return JsonResponse({"status": "ok"}, status=201)


@require_GET
def bench_read(request: HttpRequest) -> JsonResponse:
    _ensure_table()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, body FROM {TABLE} ORDER BY id DESC LIMIT 1")  # noqa: S608
        row = cursor.fetchone()
    return JsonResponse({"id": row[0] if row else None})


def urlpatterns() -> list[URLPattern]:
    return [
        path("bench/insert", bench_insert, name="bench-insert"),
        path("bench/read", bench_read, name="bench-read"),
    ]
