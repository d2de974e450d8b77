"""API: "who looked at my data", for the signed-in person only.

GET /me/access-log          the rows of the page (date range, administration, kind; paginated
                            newest first with `before`)
GET /me/access-log/proofs   every event about the caller with its inclusion proof (JSON), to
                            check offline with tools/verify_log.py --proofs

The subject is always the caller: there is no parameter naming a person, so an agent or an
admin gets their own account's events here and never a citizen's.
"""

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from guichet.audit import citizen
from guichet.audit.models import ActionFamily
from guichet.audit.views import proofs_response
from guichet.errors import ActionError

router = Router(tags=["transparency"])
MAX_LIMIT = 200


class AccessLogFilters(Schema):
    since: date | None = None
    until: date | None = None
    organisation: str = ""
    kind: int | None = None
    before: int | None = None
    limit: int = citizen.PAGE_SIZE


class AccessOut(Schema):
    seq: int
    at: datetime
    who: str
    role: str
    what: str
    why: str
    action: int
    kind: int
    organisation_id: str
    organisation: str
    provable: bool


class AccessLogOut(Schema):
    items: list[AccessOut]
    next_before: int | None


def _refuse(field: str, message: str) -> ActionError:
    return ActionError(_("The request is not valid."), {field: [message]})


def _filters(query: AccessLogFilters) -> citizen.AccessFilters:
    if query.since and query.until and query.until < query.since:
        raise _refuse("until", _("The end date is before the start date."))
    if query.kind is not None and query.kind not in ActionFamily.values:
        raise _refuse("kind", _("Unknown kind."))
    if query.before is not None and query.before < 0:
        raise _refuse("before", _("Must be zero or more."))
    if not 1 <= query.limit <= MAX_LIMIT:
        raise _refuse("limit", _("Between 1 and %(max)d.") % {"max": MAX_LIMIT})
    if len(query.organisation) > 64:
        raise _refuse("organisation", _("Unknown administration."))
    return citizen.AccessFilters(
        since=query.since,
        until=query.until,
        organisation=query.organisation,
        family=query.kind,
        before=query.before,
    )


@router.get("/me/access-log", response=AccessLogOut)
def access_log(request: HttpRequest, query: Query[AccessLogFilters]) -> dict[str, Any]:
    """Every recorded access to and change of the caller's data, newest first: when, which
    administration, what and why. Filter by date (`since`, `until` included), `organisation`
    (its id) and `kind` (1 changes, 2 reads, 3 account); page with `before` = `next_before`."""
    rows, next_before = citizen.access_rows(
        str(request.user.pk), _filters(query), limit=query.limit
    )
    items = [{**row.__dict__, "kind": row.action // 100} for row in rows]
    return {"items": items, "next_before": next_before}


@router.get("/me/access-log/proofs")
def access_log_proofs(request: HttpRequest) -> HttpResponse:
    """Every event about the caller with its canonical bytes, leaf index and tlog-proof against
    the latest signed checkpoint (JSON), checkable offline with tools/verify_log.py --proofs."""
    return proofs_response(str(request.user.pk))
