"""`guichet bench_seed --dossiers 1000000`: fill a benchmark instance with many dossiers, fast.

For bench/backoffice_bench.py: the agent queue and the dossier page must stay fast with a
national volume behind them. Rows are written in bulk (COPY on PostgreSQL, executemany on
SQLite), in batches of one transaction each, so a million dossiers take minutes.

What is realistic: the demo's organisations, procedures and agents; a pool of citizens with
sealed profiles (their names open on the queue page as for real people); dossiers spread over
the states (15 % drafts, 25 % submitted, 20 % in review, 5 % changes requested, 25 % accepted,
8 % rejected, 2 % withdrawn), over the procedures (60/25/15 %) and over three years of dates;
one history event per step taken (created, submitted, then the last transition).
What is not: answers are sealed for real (own data key, bound to the dossier) on one dossier in
`--openable-every` (1,000 by default); every other dossier carries a copy of one of those
ciphertexts, which does not decrypt for it, so opening one of them answers 503. Dossier pages
are measured on the openable ones. No transparency-log entries, blind indexes or attachments
are written for seeded rows (the log stays valid: it simply does not mention them).

Refused unless GUICHET_BENCH_ENDPOINTS is on: it writes fake people into the database.
"""

import random
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.utils import timezone

from guichet.catalog.models import Procedure
from guichet.dossiers import access
from guichet.dossiers.models import Dossier, DossierEvent, NumberCounter
from guichet.dossiers.workflow import FINAL_STATES, State
from guichet.identity.models import User
from guichet.identity.service import colleagues
from guichet.vault.service import encrypt_json

STATE_WEIGHTS = {
    State.DRAFT: 15,
    State.SUBMITTED: 25,
    State.IN_REVIEW: 20,
    State.CHANGES_REQUESTED: 5,
    State.ACCEPTED: 25,
    State.REJECTED: 8,
    State.WITHDRAWN: 2,
}
PROCEDURE_WEIGHTS = (60, 25, 15)
# The transition that led to each state, for the last history event.
LAST_STEP = {
    State.IN_REVIEW: ("take", State.SUBMITTED),
    State.CHANGES_REQUESTED: ("request_changes", State.IN_REVIEW),
    State.ACCEPTED: ("accept", State.IN_REVIEW),
    State.REJECTED: ("reject", State.IN_REVIEW),
    State.WITHDRAWN: ("withdraw", State.SUBMITTED),
}
CITIZEN_DOMAIN = "bench.invalid"
SPAN = timedelta(days=3 * 365)


class Seeder:
    def __init__(self, rng: random.Random, citizens: list[User], openable_every: int) -> None:
        self.rng = rng
        self.citizens = citizens
        self.openable_every = openable_every
        self.now = timezone.now()
        self.procedures = list(Procedure.objects.order_by("slug"))
        if not self.procedures:
            raise CommandError("No procedure: run `guichet demo` first.")
        self.agents: dict[Any, list[User | None]] = {
            p.organisation_id: [*colleagues(p.organisation_id)] or [None] for p in self.procedures
        }
        self.counters = dict(NumberCounter.objects.values_list("year", "last"))
        self.shared: list[bytes] = []
        self.openable = 0

    def _procedure(self) -> Procedure:
        weights = PROCEDURE_WEIGHTS[: len(self.procedures)]
        weights = (*weights, *([5] * (len(self.procedures) - len(weights))))
        return self.rng.choices(self.procedures, weights=weights)[0]

    def _number(self, when: datetime) -> str:
        year = timezone.localtime(when).year
        self.counters[year] = self.counters.get(year, 0) + 1
        return f"{settings.GUICHET_NUMBER_PREFIX}-{year}-{self.counters[year]:06d}"

    def _answers(self, dossier_id: uuid.UUID, index: int) -> bytes:
        if index % self.openable_every == 0 or not self.shared:
            answers = {"full_name": f"Citoyen {index}", "copies": 1 + index % 3}
            sealed = encrypt_json(access.owner_of(dossier_id), dossier_id, "answers", answers)
            self.openable += 1
            if len(self.shared) < 16:
                self.shared.append(sealed)
            return sealed
        return self.shared[index % len(self.shared)]

    def dossier(self, index: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng = self.rng
        procedure = self._procedure()
        state = rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
        created = self.now - SPAN * rng.random()
        dossier_id = uuid.uuid4()
        applicant = self.citizens[index % len(self.citizens)]
        row: dict[str, Any] = {
            "id": dossier_id,
            "procedure_id": procedure.pk,
            "procedure_version": procedure.version,
            "organisation_id": procedure.organisation_id,
            "applicant_id": applicant.pk,
            "applicant_kind": (procedure.applicant_kinds or ["person"])[0],
            "state": state,
            "answers_sealed": self._answers(dossier_id, index),
            "created_at": created,
            "updated_at": created,
        }
        events = [self._event(dossier_id, applicant.pk, created, "created", "", "", "")]
        if state != State.DRAFT:
            submitted = min(created + timedelta(hours=72 * rng.random()), self.now)
            row["number"] = self._number(submitted)
            row["submitted_at"] = row["updated_at"] = submitted
            row["due_at"] = submitted + timedelta(days=procedure.deadline_days)
            events.append(
                self._event(
                    dossier_id,
                    applicant.pk,
                    submitted,
                    "transition",
                    "submit",
                    "draft",
                    "submitted",
                )
            )
            if state in LAST_STEP:
                action, before = LAST_STEP[state]
                agent = rng.choice(self.agents[procedure.organisation_id])
                at = min(submitted + timedelta(days=40 * rng.random()), self.now)
                actor = applicant.pk if action == "withdraw" or agent is None else agent.pk
                by_agent = actor != applicant.pk
                if by_agent:
                    row["assigned_to_id"] = actor
                if state == State.CHANGES_REQUESTED:
                    row["paused_at"] = at
                if state in (State.ACCEPTED, State.REJECTED):
                    row["decided_at"] = at
                if state in FINAL_STATES:
                    row["closed_at"] = at
                    row["outcome"] = state  # the default workflow names them by outcome
                row["updated_at"] = at
                events.append(
                    self._event(dossier_id, actor, at, "transition", action, before, state)
                )
                events[-1]["by_administration"] = by_agent
        return row, events

    @staticmethod
    def _event(
        dossier_id: uuid.UUID,
        actor_id: Any,
        at: datetime,
        kind: str,
        action: str,
        from_state: str,
        to_state: str,
    ) -> dict[str, Any]:
        return {
            "dossier_id": dossier_id,
            "uid": uuid.uuid4(),
            "at": at,
            "actor_id": actor_id,
            "actor_name": "",
            "by_administration": False,
            "kind": kind,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "comment_sealed": None,
        }

    def save_counters(self) -> None:
        for year, last in self.counters.items():
            NumberCounter.objects.update_or_create(year=year, defaults={"last": last})


def _columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """Every concrete column but an auto-increment key: the rows give some values, each other
    column takes its field's default (so a column added later does not break the seeder)."""
    return [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField | models.BigAutoField))
    ]


# Fields whose Python values psycopg writes as they are (uuid, str, int, aware datetime, bool,
# bytes, None): COPY skips Django's per-value conversion for them, half of the seed's time.
PLAIN_FIELDS = (
    models.UUIDField,
    models.CharField,
    models.IntegerField,
    models.DateTimeField,
    models.BooleanField,
    models.BinaryField,
    models.ForeignKey,
)


def _prepared(
    fields: Sequence[models.Field[Any, Any]], rows: Sequence[dict[str, Any]], *, raw: bool = False
) -> Iterator[list[Any]]:
    defaults = {f.attname: f.get_default() for f in fields}
    if raw and all(isinstance(field, PLAIN_FIELDS) for field in fields):
        names = [field.attname for field in fields]
        for row in rows:
            yield [row.get(name, defaults[name]) for name in names]
        return
    for row in rows:
        yield [
            field.get_db_prep_save(row.get(field.attname, defaults[field.attname]), connection)
            for field in fields
        ]


def write_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows in bulk: COPY on PostgreSQL, one executemany on SQLite."""
    if not rows:
        return
    fields = _columns(model)
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for values in _prepared(fields, rows, raw=True):
                    copy.write_row(values)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 (model names)
                list(_prepared(fields, rows)),
            )


def bench_citizens(count: int) -> list[User]:
    """The seeded applicants, made once and reused by later runs (sealed names, no password)."""
    existing = list(User.objects.filter(email__endswith=f"@{CITIZEN_DOMAIN}").order_by("email"))
    for index in range(len(existing), count):
        existing.append(
            User.objects.create_user(
                f"citizen-{index:06d}@{CITIZEN_DOMAIN}", None, full_name=f"Citoyen Banc {index}"
            )
        )
    return existing[:count]


class Command(BaseCommand):
    help = "Fill a benchmark instance with many dossiers in bulk (needs GUICHET_BENCH_ENDPOINTS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dossiers", type=int, required=True)
        parser.add_argument("--citizens", type=int, default=2000)
        parser.add_argument("--openable-every", type=int, default=1000)
        parser.add_argument("--batch", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=7, help="random seed, for repeatable runs")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.GUICHET_BENCH_ENDPOINTS:
            raise CommandError(
                "bench_seed writes fake dossiers: set GUICHET_BENCH_ENDPOINTS=1 (benchmark "
                "instances only)."
            )
        total = int(options["dossiers"])
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")  # one COPY may outlast the default
        citizens = bench_citizens(max(1, min(int(options["citizens"]), total)))
        seeder = Seeder(
            random.Random(options["seed"]),  # noqa: S311 (fake data, not secrets)
            citizens,
            max(1, int(options["openable_every"])),
        )
        batch = max(1, int(options["batch"]))
        for first in range(0, total, batch):
            with transaction.atomic():
                dossiers: list[dict[str, Any]] = []
                events: list[dict[str, Any]] = []
                for index in range(first, min(first + batch, total)):
                    row, history = seeder.dossier(index)
                    dossiers.append(row)
                    events.extend(history)
                write_rows(Dossier, dossiers)
                write_rows(DossierEvent, events)
                seeder.save_counters()
            done = min(first + batch, total)
            elapsed = time.perf_counter() - started
            self.stderr.write(f"  {done:,} / {total:,} dossiers ({elapsed:.0f} s)")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(
            f"Seeded {total:,} dossiers ({seeder.openable:,} openable) for {len(citizens):,} "
            f"citizens in {time.perf_counter() - started:.1f} s."
        )
