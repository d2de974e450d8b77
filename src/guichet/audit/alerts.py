"""Security alerts, drawn from the same stream as the log: an agent who opens many applications
not assigned to them in a short window, who reads citizens' data outside working hours, or who
takes many items out of the platform (files downloaded, dossiers exported).

The audit app imports no domain app, so the caller tells what the log cannot know by itself
(`ReadWatch`: whether the dossier is assigned to the agent, what was taken out, how to reach the
organisation's security contact). Cost on the read path, in the read's own transaction:

- a read during working hours of a dossier assigned to the agent: nothing (no query);
- an opening of an unassigned dossier, or a download: one upsert into AccessTally and one
  COUNT (stopping at the threshold) on its (agent, kind, time) index, one statement on
  PostgreSQL;
- a read outside working hours: one indexed lookup of the agent's last alert of that kind,
  once per window per process (a committed alert seen is remembered until its window ends).

An alert is one event of the log (4xx actions) plus one SecurityAlert row for the admins' page,
and an email to the security contact sent after commit. Dedupe: at most one alert per agent and
kind per window, checked while the log's head lock is held (every transaction that records an
event holds it), so two concurrent reads cannot both raise the same alert.

Settings (README, "Configuration"): GUICHET_ALERT_WINDOW_SECONDS, GUICHET_ALERT_UNASSIGNED_OPENINGS,
GUICHET_ALERT_EXPORT_ITEMS, GUICHET_ALERT_WORKING_HOURS, GUICHET_ALERT_WORKING_DAYS,
GUICHET_ALERT_TIME_ZONE. A threshold of 0, or empty working hours, turns that rule off.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_noop

from guichet.audit.models import AccessTally, Action, SecurityAlert

MONITOR = "Guichet security monitor"
PURPOSE = gettext_noop("Security monitoring of access to personal data")


def _no_contact() -> str:
    return ""


@dataclass(frozen=True)
class ReadWatch:
    """What the caller knows about an agent's read that the log does not."""

    # The agent opened a dossier that is not assigned to them.
    unassigned: bool = False
    # Ids of what the read took out of the platform (a downloaded file, exported dossiers).
    exported: Sequence[str] = ()
    # The security contact of the organisation whose data it is; only called when an alert is
    # raised, so looking it up costs nothing on ordinary reads.
    security_contact: Callable[[], str] = field(default=_no_contact)


@dataclass(frozen=True)
class Thresholds:
    window: timedelta
    openings: int
    exports: int
    hours: tuple[time, time] | None
    days: frozenset[int]
    zone: ZoneInfo


@dataclass(frozen=True)
class Trigger:
    action: Action
    count: int
    threshold: int


def thresholds() -> Thresholds:
    return _parse(
        int(getattr(settings, "GUICHET_ALERT_WINDOW_SECONDS", 600)),
        int(getattr(settings, "GUICHET_ALERT_UNASSIGNED_OPENINGS", 20)),
        int(getattr(settings, "GUICHET_ALERT_EXPORT_ITEMS", 50)),
        str(getattr(settings, "GUICHET_ALERT_WORKING_HOURS", "07:00-19:00")),
        str(getattr(settings, "GUICHET_ALERT_WORKING_DAYS", "1-5")),
        str(getattr(settings, "GUICHET_ALERT_TIME_ZONE", "Africa/Dakar")),
    )


@lru_cache(maxsize=8)
def _parse(
    window: int, openings: int, exports: int, hours: str, days: str, zone: str
) -> Thresholds:
    if window <= 0:
        raise ImproperlyConfigured("GUICHET_ALERT_WINDOW_SECONDS must be a positive number.")
    try:
        zone_info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        message = f"GUICHET_ALERT_TIME_ZONE: unknown time zone {zone!r}."
        raise ImproperlyConfigured(message) from error
    return Thresholds(
        timedelta(seconds=window),
        max(openings, 0),
        max(exports, 0),
        _parse_hours(hours),
        _parse_days(days),
        zone_info,
    )


def _parse_hours(text: str) -> tuple[time, time] | None:
    """ "07:00-19:00" (start included, end excluded); "" turns the rule off."""
    if not text.strip():
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as error:
        raise ImproperlyConfigured(
            f"GUICHET_ALERT_WORKING_HOURS must look like 07:00-19:00, not {text!r}."
        ) from error
    if not start < end:
        raise ImproperlyConfigured("GUICHET_ALERT_WORKING_HOURS: the start must be before the end.")
    return start, end


def _parse_days(text: str) -> frozenset[int]:
    """ISO weekdays, 1 = Monday: "1-5", "1,2,3,4,5,6" or "1-4,6"."""
    days: set[int] = set()
    try:
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            first, _, last = part.partition("-")
            days.update(range(int(first), int(last or first) + 1))
    except ValueError as error:
        raise ImproperlyConfigured(
            f"GUICHET_ALERT_WORKING_DAYS must list ISO weekdays like 1-5, not {text!r}."
        ) from error
    if not days <= set(range(1, 8)):
        raise ImproperlyConfigured("GUICHET_ALERT_WORKING_DAYS: weekdays are 1 (Monday) to 7.")
    return frozenset(days)


def outside_hours(moment: datetime, limits: Thresholds) -> bool:
    if limits.hours is None:
        return False
    local = moment.astimezone(limits.zone)
    start, end = limits.hours
    return local.isoweekday() not in limits.days or not start <= local.time() < end


def observe(agent_id: str, object_id: str, watch: ReadWatch, now: datetime) -> list[Trigger]:
    """Count this read and say which rules it crosses. Runs before the event is recorded, so the
    counting takes no part of the time the log's head lock is held."""
    limits = thresholds()
    triggers = []
    if outside_hours(now, limits):
        triggers.append(Trigger(Action.ALERT_OUTSIDE_HOURS, 1, 0))
    if watch.unassigned and limits.openings:
        count = _tally(agent_id, AccessTally.Kind.UNASSIGNED_OPENING, [object_id], now, limits)
        if count >= limits.openings:
            triggers.append(Trigger(Action.ALERT_MANY_OPENINGS, count, limits.openings))
    if watch.exported and limits.exports:
        count = _tally(agent_id, AccessTally.Kind.EXPORT, list(watch.exported), now, limits)
        if count >= limits.exports:
            triggers.append(Trigger(Action.ALERT_BULK_EXPORT, count, limits.exports))
    return triggers


def _tally(agent_id: str, kind: int, objects: list[str], now: datetime, limits: Thresholds) -> int:
    """Stamp each object as touched now and count the distinct objects within the window, up
    to the threshold (counting further would only cost time: the rule is crossed)."""
    threshold = limits.openings if kind == AccessTally.Kind.UNASSIGNED_OPENING else limits.exports
    sql = _statements()
    adapt = connection.ops.adapt_datetimefield_value
    since = adapt(now - limits.window)
    with connection.cursor() as cursor:
        if len(objects) == 1 and sql.touch_and_count:
            # The object just stamped, plus the others in the window: one round trip.
            others = max(threshold - 1, 0)
            cursor.execute(
                sql.touch_and_count,
                (agent_id, kind, objects[0], adapt(now), agent_id, kind, since, objects[0], others),
            )
        else:
            stamps = [(agent_id, kind, o, adapt(now)) for o in objects]
            cursor.executemany(sql.upsert_tally, stamps)
            cursor.execute(sql.count_tally, (agent_id, kind, since, threshold))
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _alerted_recently(agent_id: str, action: int, now: datetime, window: timedelta) -> bool:
    """Whether an alert of this kind was raised for the agent within the window. A committed
    alert this process has seen is remembered until its window ends (alerts are never
    removed), so an agent reading all evening costs one query per window, not one per read."""
    key = (agent_id, action)
    seen = _recent_alerts.get(key)
    if seen is not None and now - seen < window:
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            _statements().last_alert,
            (agent_id, action, connection.ops.adapt_datetimefield_value(now - window)),
        )
        row = cursor.fetchone()
    if row is None:
        return False
    raised = row[0]
    if isinstance(raised, datetime):
        if len(_recent_alerts) > _RECENT_MAX:
            _recent_alerts.clear()
        _recent_alerts[key] = raised if timezone.is_aware(raised) else raised.replace(tzinfo=UTC)
    return True


_recent_alerts: dict[tuple[str, int], datetime] = {}
_RECENT_MAX = 10_000


@dataclass(frozen=True)
class _Statements:
    upsert_tally: str
    count_tally: str
    last_alert: str
    # PostgreSQL only (SQLite takes no INSERT in a WITH): the upsert and the count of the
    # window's other objects in one statement; the count's snapshot predates the upsert, hence
    # "other objects" plus one.
    touch_and_count: str


_STATEMENTS: dict[str, _Statements] = {}


def _statements() -> _Statements:
    """The SQL of the checks on the read path, written once per database vendor: plain
    statements on indexed columns, since the ORM spends longer composing them than the
    database spends running them. Names come from the models and are quoted; every value is a
    parameter."""
    vendor = connection.vendor
    if vendor not in _STATEMENTS:
        q = connection.ops.quote_name
        tally, alert = q(AccessTally._meta.db_table), q(SecurityAlert._meta.db_table)
        actor, kind, obj, at = q("actor_id"), q("kind"), q("object_id"), q("at")
        agent, action, raised = q("agent_id"), q("action"), q("raised_at")
        upsert = f"INSERT INTO {tally} ({actor}, {kind}, {obj}, {at}) VALUES (%s, %s, %s, %s) "  # noqa: S608
        upsert += f"ON CONFLICT ({actor}, {kind}, {obj}) DO UPDATE SET {at} = excluded.{at}"
        count = f"SELECT COUNT(*) FROM (SELECT 1 FROM {tally} WHERE {actor} = %s "  # noqa: S608
        count += f"AND {kind} = %s AND {at} >= %s LIMIT %s) AS recent"
        last = f"SELECT {raised} FROM {alert} WHERE {agent} = %s AND {action} = %s "  # noqa: S608
        last += f"AND {raised} > %s ORDER BY {raised} DESC LIMIT 1"
        both = ""
        if vendor == "postgresql":
            both = f"WITH touched AS ({upsert} RETURNING 1) SELECT (SELECT COUNT(*) FROM touched)"  # noqa: S608
            both += f" + (SELECT COUNT(*) FROM (SELECT 1 FROM {tally} WHERE {actor} = %s "  # noqa: S608
            both += f"AND {kind} = %s AND {at} >= %s AND {obj} <> %s LIMIT %s) AS others)"
        _STATEMENTS[vendor] = _Statements(upsert, count, last, both)
    return _STATEMENTS[vendor]


def raise_alerts(
    agent: "AlertedAgent", triggers: Sequence[Trigger], watch: ReadWatch, now: datetime
) -> list[SecurityAlert]:
    """Record the alerts not already raised for this agent within the window. Must run after the
    read's own event was recorded, in the same transaction: the head lock is then held, which
    makes check-then-insert safe against a concurrent read of the same agent."""
    from guichet.audit.service import Actor, record_event

    limits = thresholds()
    raised = []
    recipient: str | None = None
    for trigger in triggers:
        if _alerted_recently(agent.id, trigger.action, now, limits.window):
            continue
        if recipient is None:
            recipient = watch.security_contact()
        event = record_event(
            trigger.action,
            actor=Actor.system(MONITOR),
            object_type="agent",
            object_id=agent.id,
            purpose=PURPOSE,
            details={
                "agent": agent.name,
                "organisation": agent.organisation_id,
                "organisation_name": agent.organisation_name,
                "count": trigger.count,
                "threshold": trigger.threshold,
                "window_seconds": int(limits.window.total_seconds()),
                "local_time": now.astimezone(limits.zone).strftime("%Y-%m-%d %H:%M"),
            },
        )
        alert = SecurityAlert.objects.create(
            action=trigger.action,
            event_seq=event.seq,
            raised_at=now,
            agent_id=agent.id,
            agent_name=agent.name,
            org_id=agent.organisation_id,
            org_name=agent.organisation_name,
            count=trigger.count,
            threshold=trigger.threshold,
            window_seconds=int(limits.window.total_seconds()),
            recipient=recipient,
        )
        if recipient:
            _queue_email(alert.pk)
        raised.append(alert)
    return raised


@dataclass(frozen=True)
class AlertedAgent:
    id: str
    name: str
    organisation_id: str
    organisation_name: str


def _queue_email(alert_id: int) -> None:
    """The email goes through the outbox, with the alert's own transaction: an alert raised is
    an alert sent, even if the process dies right after the commit."""
    from guichet import outbox
    from guichet.audit.tasks import send_security_alert  # tasks import this module

    outbox.enqueue(send_security_alert, alert_id=alert_id)


def forget_old_tallies(now: datetime | None = None) -> int:
    """Delete the counts that fell out of the window (run by the checkpoint task)."""
    cutoff = (now or timezone.now()) - thresholds().window
    deleted, _ = AccessTally.objects.filter(at__lt=cutoff).delete()
    return deleted
