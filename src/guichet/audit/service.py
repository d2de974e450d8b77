"""What other apps may call: record events, read a citizen's events, proofs, tiles, checkpoints.

Recording
---------
`record_event()` must run inside the caller's transaction (the one that makes the change it
records): no change without its event, no event without its change. It takes the LogHead row
lock, so every transaction that records an event queues behind the others from that moment to
its commit; record the event last, just before the transaction ends. Sequence numbers are the
Merkle leaf indices, given out under that lock: 0, 1, 2, ... without gaps, even when callers
roll back (their event and tree nodes go with them).

Each event is hashed as SHA-256(0x00 || canonical bytes), see `encoding.py` for the exact bytes,
and appended to the RFC 9162 tree in the same transaction (see `tlog.py` for the storage).

    with transaction.atomic():
        dossier.save()
        record_event(
            Action.DOSSIER_OPENED,
            actor=Actor(ActorKind.AGENT, user.pk, user.display_name, org.pk, org.name),
            object_type="dossier",
            object_id=dossier.pk,
            subject_id=dossier.applicant_id,
            purpose="Instruction of the application",
        )

Settings read here and in the rest of the app (all optional):
  GUICHET_AUDIT_ORIGIN              checkpoint origin and key name (default: SITE_URL's host and
                                    path + "/transparency")
  GUICHET_AUDIT_KEY_FILE            the Ed25519 key (default: VAR_DIR/keys/audit-ed25519.key)
  GUICHET_AUDIT_CHECKPOINT_EVENTS   sign after this many new events (default 1000)
  GUICHET_AUDIT_CHECKPOINT_SECONDS  or after this long with any new event (default 60)
  GUICHET_AUDIT_SHOW_AGENT_NAMES    show agents' names to citizens, not only their
                                    administration (default False)
"""

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from guichet.audit import alerts, encoding, notes, tlog
from guichet.audit.alerts import ReadWatch as ReadWatch
from guichet.audit.models import (
    Action,
    ActorKind,
    AuditEvent,
    Checkpoint,
    LogHead,
    TreeNode,
)
from guichet.logs import request_id_var


class TransactionRequired(RuntimeError):
    """record_event() was called outside a transaction: its event could outlive a rolled-back
    change, or the change could commit without its event."""


class NotCovered(LookupError):
    """No signed checkpoint covers this event yet."""


@dataclass(frozen=True)
class Actor:
    """Who acted, as the log will remember them: ids are stored as text (UUIDs, ints), names
    are snapshots taken now, so the entry stays readable after an account or an organisation
    is renamed or gone."""

    kind: ActorKind
    id: object = ""
    name: str = ""
    organisation_id: object = ""
    organisation_name: str = ""

    @classmethod
    def system(cls, name: str = "Guichet") -> "Actor":
        return cls(ActorKind.SYSTEM, "", name)


# Audit's own pages (the security alerts') record what a platform admin does there, and the log
# names agents and admins by their name, which identity keeps sealed. Audit imports no domain
# app, so identity registers the one way it names a user in the log (identity/apps.py).
_user_actor: dict[str, Callable[[Any], Actor]] = {}


def register_user_actor(build: Callable[[Any], Actor]) -> None:
    _user_actor["build"] = build


def user_actor(user: Any) -> Actor:
    """The actor for a signed-in agent or admin, as identity names them (by name)."""
    build = _user_actor.get("build")
    if build is None:
        # Falling back to the sign-in email would put it in a permanent entry: refuse instead.
        raise RuntimeError("No app registered how to name a user in the log (identity does).")
    return build(user)


@dataclass(frozen=True)
class NewEvent:
    """One event to append with record_events(); the fields of record_event()."""

    action: Action
    actor: Actor
    object_type: str = ""
    object_id: object = ""
    subject_id: object = ""
    purpose: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None


def record_event(
    action: Action,
    *,
    actor: Actor,
    object_type: str = "",
    object_id: object = "",
    subject_id: object = "",
    purpose: str = "",
    details: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the log, in the caller's transaction. Ids may be UUIDs or ints."""
    event = NewEvent(
        action, actor, object_type, object_id, subject_id, purpose, details or {}, request_id
    )
    return record_events([event])[0]


def record_events(events: Sequence[NewEvent]) -> list[AuditEvent]:
    """Append several events under one lock (a bulk export logs one event per dossier)."""
    if not connection.in_atomic_block:
        raise TransactionRequired("record_event() must be called inside transaction.atomic()")
    prepared = [_prepare(event) for event in events]  # refuse bad input before taking the lock
    if not prepared:
        return []
    size, frontier = _locked_head()
    now = encoding.format_time(timezone.now())
    nodes: list[tuple[int, int, bytes]] = []
    for offset, values in enumerate(prepared):
        values.update(seq=size + offset, time=now, salt=secrets.token_hex(16))
        entry = encoding.canonical_event(tuple(values[name] for name in encoding.FIELDS))
        nodes.extend(tlog.append_leaf(frontier, size + offset, tlog.leaf_hash(entry)))
    sql = _statements()
    with connection.cursor() as cursor:
        cursor.executemany(
            sql.insert_event, [[values[name] for name in INSERT_FIELDS] for values in prepared]
        )
        cursor.executemany(sql.insert_node, nodes)
        cursor.execute(sql.update_head, [size + len(prepared), b"".join(frontier)])
    return [AuditEvent(**values) for values in prepared]


def record_agent_reads(events: Sequence[NewEvent], watch: ReadWatch) -> list[AuditEvent]:
    """Append an agent's reads of citizens' data (all by the same agent) and run the security
    alerts on them (alerts.py), in the caller's transaction. `watch` carries what the caller
    knows and the log does not: whether the dossier is assigned to the agent, what was taken out
    of the platform, how to reach the organisation's security contact."""
    if not connection.in_atomic_block:
        raise TransactionRequired("record_agent_reads() must be called inside transaction.atomic()")
    if not events:
        return []
    actor = events[0].actor
    agent = alerts.AlertedAgent(
        str(actor.id), actor.name, str(actor.organisation_id), actor.organisation_name
    )
    now = timezone.now()
    triggers = alerts.observe(agent.id, str(events[0].object_id), watch, now)
    recorded = record_events(events)
    if triggers:
        alerts.raise_alerts(agent, triggers, watch, now)
    return recorded


INSERT_FIELDS = ("seq", *(name for name in encoding.FIELDS if name != "seq"))


@dataclass(frozen=True)
class _Statements:
    lock_head: str
    update_head: str
    insert_event: str
    insert_node: str


_STATEMENTS: dict[str, _Statements] = {}


def _statements() -> _Statements:
    """The SQL of an append, written once per database vendor.

    Plain executemany instead of the ORM: an append is four statements, every transaction that
    records an event queues behind the one holding the head lock, and the ORM spends far longer
    composing these statements than the database spends running them. Names come from the
    models and are quoted; every value is a parameter.
    """
    vendor = connection.vendor
    if vendor not in _STATEMENTS:
        quote = connection.ops.quote_name
        head = quote(LogHead._meta.db_table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        size, frontier, key = quote("size"), quote("frontier"), quote("id")
        select = f"SELECT {size}, {frontier} FROM {head} WHERE {key} = 1{lock}"  # noqa: S608
        update = f"UPDATE {head} SET {size} = %s, {frontier} = %s WHERE {key} = 1"  # noqa: S608
        _STATEMENTS[vendor] = _Statements(
            lock_head=select,
            update_head=update,
            insert_event=_insert_sql(AuditEvent, INSERT_FIELDS),
            insert_node=_insert_sql(TreeNode, ("level", "index", "hash")),
        )
    return _STATEMENTS[vendor]


def _insert_sql(model: type[models.Model], columns: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(_column(model, name)) for name in columns)
    marks = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return field.column


def event_fields(event: AuditEvent) -> encoding.EventFields:
    return (
        event.action,
        event.actor_id,
        event.actor_kind,
        event.actor_name,
        event.details,
        event.object_id,
        event.object_type,
        event.org_id,
        event.org_name,
        event.purpose,
        event.request_id,
        event.salt,
        event.seq,
        event.subject_id,
        event.time,
    )


def canonical_bytes(event: AuditEvent) -> bytes:
    return encoding.canonical_event(event_fields(event))


def _prepare(event: NewEvent) -> dict[str, Any]:
    text = encoding.check_text
    actor = event.actor
    request_id = event.request_id
    if request_id is None:
        request_id = request_id_var.get()
        request_id = "" if request_id == "-" else request_id
    return {
        "action": int(Action(event.action)),
        "actor_kind": str(ActorKind(actor.kind)),
        "actor_id": text(str(actor.id), "actor id", 64),
        "actor_name": text(actor.name, "actor name", 200),
        "org_id": text(str(actor.organisation_id), "organisation id", 64),
        "org_name": text(actor.organisation_name, "organisation name", 200),
        "object_type": text(event.object_type, "object type", 40),
        "object_id": text(str(event.object_id), "object id", 64),
        "subject_id": text(str(event.subject_id), "subject id", 64),
        "purpose": text(str(event.purpose), "purpose", 200),
        "request_id": text(request_id, "request id", 64),
        "details": encoding.details_json(event.details),
    }


def _split(frontier: bytes | memoryview) -> list[bytes]:
    size = tlog.HASH_SIZE
    return [bytes(frontier[i : i + size]) for i in range(0, len(frontier), size)]


def _locked_head() -> tuple[int, list[bytes]]:
    """The tree size and frontier, with the head row locked until the caller's commit."""
    with connection.cursor() as cursor:
        cursor.execute(_statements().lock_head)
        row = cursor.fetchone()
    if row is not None:
        return int(row[0]), _split(row[1])
    # First event ever, or the tables were emptied: build the head from the stored tree.
    size = (TreeNode.objects.filter(level=0).aggregate(last=Max("index"))["last"] or -1) + 1
    frontier = b"".join(_fetch(_frontier_nodes(size))[node] for node in _frontier_nodes(size))
    head, _ = LogHead.objects.select_for_update().get_or_create(
        pk=1, defaults={"size": size, "frontier": frontier}
    )
    return head.size, _split(head.frontier)


def fetch_nodes(nodes: Iterable[tlog.Node]) -> dict[tlog.Node, bytes]:
    """The stored hashes of these tree nodes, in one query (proofs built in batches)."""
    return _fetch(nodes)


def _frontier_nodes(size: int) -> list[tlog.Node]:
    return tlog.perfect_subtrees(0, size)


def _fetch(nodes: Iterable[tlog.Node]) -> dict[tlog.Node, bytes]:
    """The stored hashes of these nodes, in one query; KeyError later if one is missing.

    A proof needs a few dozen nodes and must take well under a millisecond, so the SQL is
    written here rather than composed by the ORM (whose query building alone costs more). One
    "level = L AND index IN (...)" per level, OR-ed: each uses the primary key index, where a
    row-value IN ((level, index), ...) makes SQLite scan the whole table.
    """
    by_level: dict[int, list[int]] = {}
    for level, index in nodes:
        by_level.setdefault(level, []).append(index)
    if not by_level:
        return {}
    quote = connection.ops.quote_name
    level_column, index_column = quote("level"), quote("index")
    terms, params = [], []
    for level, indexes in by_level.items():
        marks = ", ".join(["%s"] * len(indexes))
        terms.append(f"({level_column} = %s AND {index_column} IN ({marks}))")
        params.extend([level, *indexes])
    table = quote(TreeNode._meta.db_table)
    # Only column names and placeholders are formatted in; every value is a parameter.
    sql = f"SELECT {level_column}, {index_column}, {quote('hash')} FROM {table} WHERE "  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql + " OR ".join(terms), params)
        rows = cursor.fetchall()
    return {(level, index): bytes(digest) for level, index, digest in rows}


# --- Reading the tree -------------------------------------------------------------------------


def tree_size() -> int:
    head = LogHead.objects.filter(pk=1).values_list("size", flat=True).first()
    return head or 0


def current_head() -> tuple[int, bytes]:
    """The committed tree size and root, read from the head row alone (one consistent row)."""
    head = LogHead.objects.filter(pk=1).first()
    if head is None:
        return 0, tlog.empty_root()
    return head.size, tlog.root_from_frontier(_split(head.frontier))


def root_at(size: int) -> bytes:
    """MTH(D[size]) from at most log2(size) + 1 stored hashes."""
    if size == 0:
        return tlog.empty_root()
    nodes = _frontier_nodes(size)
    stored = _fetch(nodes)
    return tlog.fold([stored[node] for node in nodes])


def inclusion_path(index: int, size: int) -> list[bytes]:
    plan = tlog.inclusion_plan(index, size)
    return tlog.evaluate(plan, _fetch(tlog.nodes_for(plan)))


def consistency_path(first: int, second: int) -> list[bytes]:
    plan = tlog.consistency_plan(first, second)
    return tlog.evaluate(plan, _fetch(tlog.nodes_for(plan)))


def tile(level: int, index: int, width: int) -> bytes | None:
    """The tlog-tiles tile (level, index) of `width` hashes, if the latest checkpoint covers it.

    Only hashes are published: they say nothing about the events (each event carries a random
    salt), and event contents are never served here.
    """
    published = latest_checkpoint()
    if published is None or tlog.tile_width(level, index, published.tree_size) < width:
        return None
    tree_level, first, count = tlog.tile_nodes(level, index, width)
    rows = list(
        TreeNode.objects.filter(level=tree_level, index__gte=first, index__lt=first + count)
        .order_by("index")
        .values_list("hash", flat=True)
    )
    if len(rows) != count:
        return None
    return b"".join(bytes(row) for row in rows)


# --- Checkpoints and proofs -------------------------------------------------------------------


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


def inclusion_proof(seq: int, *, with_event: bool = False) -> notes.Proof:
    """A c2sp.org/tlog-proof@v1 proof that event `seq` is in the latest signed checkpoint.

    With `with_event`, the event's canonical bytes ride in the `extra` line, so its owner can
    recompute the leaf; public proofs never carry them.
    """
    checkpoint = latest_checkpoint()
    if checkpoint is None or not 0 <= seq < checkpoint.tree_size:
        raise NotCovered(seq)
    extra = None
    if with_event:
        extra = canonical_bytes(AuditEvent.objects.get(seq=seq))
    path = inclusion_path(seq, checkpoint.tree_size)
    return notes.Proof(seq, path, checkpoint.note, extra)


# --- What a citizen may see -------------------------------------------------------------------


def events_about(
    subject_id: object,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actions: Iterable[int] | None = None,
    families: Iterable[int] | None = None,
) -> QuerySet[AuditEvent]:
    """Every event whose subject is this person, newest first, optionally filtered."""
    subject = str(subject_id)
    if not subject:
        return AuditEvent.objects.none()
    events = AuditEvent.objects.filter(subject_id=subject)
    if since is not None:
        events = events.filter(time__gte=encoding.format_time(since))
    if until is not None:
        events = events.filter(time__lt=encoding.format_time(until))
    if actions is not None:
        events = events.filter(action__in=list(actions))
    if families is not None:
        wanted = Q()
        for family in families:
            wanted |= Q(action__gte=family * 100, action__lt=(family + 1) * 100)
        events = events.filter(wanted)
    return events.order_by("-seq")
