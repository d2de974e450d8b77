"""What a person sees of the log about themself, shared by their page and the API: the rows of
"who used my data" (filtered, paginated), the administrations that appear in them, and the
download of every event about them with its inclusion proof.

Everything here takes the person's own id from the caller's session or token: there is no way to
ask for someone else's events.
"""

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guichet.audit import encoding, keys, notes, service, tlog
from guichet.audit.models import ActorKind, AuditEvent

PAGE_SIZE = 50
PROOFS_FORMAT = "guichet-access-proofs/1"
# Events whose proofs are built from one query for the stored hashes.
PROOF_BATCH = 200
OBJECT_LABELS = {
    "dossier": gettext_lazy("application"),
    "attachment": gettext_lazy("document"),
    # A certificate or decision letter the administration issued (issued, revoked, downloaded).
    "document": gettext_lazy("decision document"),
    "message": gettext_lazy("message"),
    "token": gettext_lazy("API token"),
    "account": gettext_lazy("account"),
    "membership": gettext_lazy("role"),
    "export": gettext_lazy("export"),
}


@dataclass(frozen=True)
class AccessFilters:
    since: date | None = None
    until: date | None = None  # included
    organisation: str = ""
    family: int | None = None
    before: int | None = None


@dataclass(frozen=True)
class AccessRow:
    seq: int
    at: datetime
    who: str
    role: str
    what: str
    why: str
    action: int
    organisation_id: str
    organisation: str
    provable: bool


# The days a date filter can bound by. Past the last one, the day after (the exclusive end)
# does not exist; before the first, the log's canonical times ("%Y", not padded below year
# 1000) would compare as text in the wrong order; and a day's midnight in the site's time zone
# may fall outside the calendar once in UTC. A day's margin covers every time zone's offset.
FIRST_DAY = date(1000, 1, 2)
LAST_DAY = date.max - timedelta(days=1)


def start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def lower_bound(since: date | None) -> datetime | None:
    """The start of `since`, or None (no bound) for a day before any event could be."""
    if since is None or since < FIRST_DAY:
        return None
    return start_of(min(since, LAST_DAY))


def upper_bound(until: date | None) -> datetime | None:
    """The end of `until` (included), as the start of the next day; None (no bound) for a day
    at the calendar's end, after any event could be."""
    if until is None or until >= LAST_DAY:
        return None
    return start_of(max(until, FIRST_DAY) + timedelta(days=1))


def filtered(subject: str, filters: AccessFilters) -> QuerySet[AuditEvent]:
    events = service.events_about(
        subject,
        since=lower_bound(filters.since),
        until=upper_bound(filters.until),
        families=[filters.family] if filters.family else None,
    )
    if filters.organisation:
        events = events.filter(org_id=filters.organisation)
    if filters.before is not None:
        events = events.filter(seq__lt=filters.before)
    return events


def access_rows(
    subject: str, filters: AccessFilters, limit: int = PAGE_SIZE
) -> tuple[list[AccessRow], int | None]:
    """One page of rows, newest first, and the cursor of the next page (None at the end)."""
    page = list(filtered(subject, filters)[: limit + 1])
    latest = service.latest_checkpoint()
    covered = latest.tree_size if latest is not None else 0
    rows = [row(event, subject, covered) for event in page[:limit]]
    return rows, (rows[-1].seq if len(page) > limit else None)


def organisations_seen(subject: str) -> list[tuple[str, str]]:
    """The administrations that appear in the person's events, for the filter."""
    if not subject:
        return []
    pairs = (
        AuditEvent.objects.filter(subject_id=subject)
        .exclude(org_id="")
        .values_list("org_id", "org_name")
        .distinct()
    )
    names: dict[str, str] = {}
    for org_id, name in pairs:
        names.setdefault(org_id, name)  # a renamed administration: one entry
    return sorted(names.items(), key=lambda item: item[1].casefold())


def row(event: AuditEvent, me: str, covered: int) -> AccessRow:
    kind = event.actor_kind
    show_names = bool(getattr(settings, "GUICHET_AUDIT_SHOW_AGENT_NAMES", False))
    if kind == ActorKind.CITIZEN and event.actor_id == me:
        who = _("You")
    elif kind == ActorKind.AGENT:
        who = event.org_name or _("An administration")
        if show_names and event.actor_name:
            who = f"{who} ({event.actor_name})"
    elif kind == ActorKind.SYSTEM:
        who = _("Guichet, automatically")
    else:
        who = event.actor_name or event.org_name or _("A partner system")
    what = event.action_label
    if event.object_type:
        what = f"{what} — {OBJECT_LABELS.get(event.object_type, event.object_type)}"
    return AccessRow(
        seq=event.seq,
        at=event.at,
        who=who,
        role=str(ActorKind(kind).label) if kind in ActorKind.values else kind,
        what=what,
        why=event.purpose or "—",
        action=event.action,
        organisation_id=event.org_id,
        organisation=event.org_name,
        provable=event.seq < covered,
    )


# --- Download: every event about the person, with its proof -----------------------------------


def proof_bundle(subject: str) -> dict[str, Any]:
    """Every event about the person, oldest first, each with its canonical bytes (the exact bytes
    hashed into the log), its leaf hash and a c2sp.org/tlog-proof against the latest checkpoint.
    tools/verify_log.py --proofs checks it offline. Events newer than that checkpoint are listed
    by index under "not_yet_covered": their proofs come with the next signature."""
    checkpoint = service.latest_checkpoint()
    size = checkpoint.tree_size if checkpoint is not None else 0
    events = AuditEvent.objects.filter(subject_id=subject).order_by("seq") if subject else None
    rows = list(events.values_list(*encoding.FIELDS)) if events is not None else []
    seq_at = encoding.FIELDS.index("seq")
    covered = [values for values in rows if values[seq_at] < size]
    later = [values[seq_at] for values in rows if values[seq_at] >= size]
    return {
        "format": PROOFS_FORMAT,
        "subject": subject,
        "log": keys.log_origin(),
        "verifier_key": keys.verifier_key(),
        "checkpoint": checkpoint.note if checkpoint is not None else None,
        "tree_size": size,
        "events": list(_proven(covered, size, checkpoint.note if checkpoint else "")),
        "not_yet_covered": later,
    }


def _proven(rows: list[Any], size: int, note: str) -> Iterable[dict[str, Any]]:
    seq_at = encoding.FIELDS.index("seq")
    for start in range(0, len(rows), PROOF_BATCH):
        batch = rows[start : start + PROOF_BATCH]
        plans = {values[seq_at]: tlog.inclusion_plan(values[seq_at], size) for values in batch}
        wanted: set[tlog.Node] = set()
        for plan in plans.values():
            wanted |= tlog.nodes_for(plan)
        stored = service.fetch_nodes(wanted)
        for values in batch:
            seq = values[seq_at]
            entry = encoding.canonical_event(tuple(values))
            path = tlog.evaluate(plans[seq], stored)
            yield {
                "index": seq,
                "leaf_hash": tlog.leaf_hash(entry).hex(),
                "entry": base64.b64encode(entry).decode(),
                "event": encoding.event_object(tuple(values)),
                "proof": notes.Proof(seq, path, note).text(),
            }
