"""GET /healthz: the database answers and every migration is applied."""

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return JsonResponse({"status": "error", "database": str(error)}, status=503)
    if pending:
        return JsonResponse(
            {"status": "error", "database": "ok", "pending_migrations": len(pending)}, status=503
        )
    return JsonResponse({"status": "ok", "database": "ok", "pending_migrations": 0})
