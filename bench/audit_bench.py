"""Transparency log figures: append rate against a bare INSERT, the cost of the security
alerts on an agent's read against the same read without them, proof time as the log grows,
a citizen's download of their events with proofs, and the time to verify the whole log.

    .venv/bin/python bench/audit_bench.py [--max 1000000] [--append 20000] [--no-standalone]

Runs on a throwaway SQLite database in a temporary directory (DATABASE_URL and GUICHET_VAR_DIR
are set before Django starts), with the settings a real instance uses (WAL, synchronous=FULL).
"""

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _setup(folder: Path) -> None:
    os.environ["GUICHET_VAR_DIR"] = str(folder / "var")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "guichet.settings"
    os.environ.setdefault("GUICHET_LOG_LEVEL", "WARNING")
    # The read-path bench speaks to the app through Django's test client.
    os.environ.setdefault("GUICHET_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _events(count: int) -> list[Any]:
    from guichet.audit.models import Action, ActorKind
    from guichet.audit.service import Actor, NewEvent

    rng = random.Random(count)
    agents = [
        Actor(ActorKind.AGENT, secrets.token_hex(16), f"Agent {n}", "org-1", "Commune de Dakar")
        for n in range(20)
    ]
    return [
        NewEvent(
            Action.DOSSIER_OPENED,
            rng.choice(agents),
            object_type="dossier",
            object_id=secrets.token_hex(16),
            subject_id=secrets.token_hex(16),
            purpose="Instruction of the application",
            details={"state": "submitted"},
            request_id=secrets.token_hex(16),
        )
        for _ in range(count)
    ]


def _rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def bench_append(count: int, batch: int) -> list[tuple[str, str]]:
    """Events/s three ways on the same rows: bare INSERT, the log one call per event, the log
    one call per batch. Commits every `batch` events in all three."""
    from django.db import connection, transaction
    from django.utils import timezone

    from guichet.audit import encoding, service
    from guichet.audit.models import AuditEvent, LogHead, TreeNode

    events = _events(count)

    def bare() -> None:
        # The same columns, values, SQL and batching as record_events, without tree or lock.
        now = encoding.format_time(timezone.now())
        sql = service._statements().insert_event
        for start in range(0, count, batch):
            rows = []
            for offset, event in enumerate(events[start : start + batch]):
                values = service._prepare(event)
                values.update(seq=start + offset, time=now, salt=secrets.token_hex(16))
                rows.append([values[name] for name in service.INSERT_FIELDS])
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, rows)

    def one_by_one() -> None:
        for start in range(0, count, batch):
            with transaction.atomic():
                for event in events[start : start + batch]:
                    service.record_event(
                        event.action,
                        actor=event.actor,
                        object_type=event.object_type,
                        object_id=event.object_id,
                        subject_id=event.subject_id,
                        purpose=event.purpose,
                        details=event.details,
                        request_id=event.request_id,
                    )

    def batched() -> None:
        for start in range(0, count, batch):
            with transaction.atomic():
                service.record_events(events[start : start + batch])

    def reset() -> None:
        with transaction.atomic():
            for model in (AuditEvent, TreeNode, LogHead):
                model.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # The machine is shared: each mode runs three times, interleaved, and keeps its best run.
    best = {"bare": 0.0, "single": 0.0, "batched": 0.0}
    for _ in range(3):
        for name, work in (("bare", bare), ("single", one_by_one), ("batched", batched)):
            best[name] = max(best[name], _rate(count, work))
            reset()
    bare_rate, single_rate, batch_rate = best["bare"], best["single"], best["batched"]
    return [
        (f"bare INSERT, {batch}/commit", f"{bare_rate:,.0f} /s"),
        (
            f"record_event x1, {batch}/commit",
            f"{single_rate:,.0f} /s ({single_rate / bare_rate:.2f}x)",
        ),
        (
            f"record_events x{batch}/commit",
            f"{batch_rate:,.0f} /s ({batch_rate / bare_rate:.2f}x)",
        ),
    ]


def bench_detection(count: int) -> list[tuple[str, str, str, str]]:
    """An agent's read as dossiers/journal.py logs it, with the security alerts, against the same
    read appended without them (the path before alerts). Two ways: all reads in one transaction
    (what the alerts' statements cost, without the disk's fsync), and one transaction per read
    (as a request does; on a shared disk the fsync of each commit dominates and varies).
    Thresholds are out of reach, so what is measured is the counting, not alerts being raised;
    outside working hours, the first read raises one alert and the others check for it."""
    from django.conf import settings
    from django.db import transaction

    from guichet.audit import service
    from guichet.audit.alerts import ReadWatch

    events = _events(count)
    settings.GUICHET_ALERT_UNASSIGNED_OPENINGS = 10**9
    settings.GUICHET_ALERT_EXPORT_ITEMS = 10**9
    settings.GUICHET_ALERT_WORKING_HOURS = "00:00-23:59:59.999999"

    def run(watch: ReadWatch | None, days: str, per_read: bool) -> Callable[[], None]:
        def append(event: Any) -> None:
            if watch is None:
                service.record_events([event])
            else:
                service.record_agent_reads([event], watch)

        def work() -> None:
            settings.GUICHET_ALERT_WORKING_DAYS = days
            if per_read:
                for event in events:
                    with transaction.atomic():
                        append(event)
            else:
                with transaction.atomic():
                    for event in events:
                        append(event)

        return work

    modes: dict[str, tuple[ReadWatch | None, str]] = {
        "append only (before alerts)": (None, "1-7"),
        "assigned dossier, working hours": (ReadWatch(), "1-7"),
        "unassigned dossier (upsert + COUNT)": (ReadWatch(unassigned=True), "1-7"),
        "file download (upsert + COUNT)": (ReadWatch(exported=["file"]), "1-7"),
        "outside working hours (EXISTS)": (ReadWatch(), ""),
    }
    rows = []
    best = {(name, per): 0.0 for name in modes for per in (False, True)}
    names = list(modes)
    for round_ in range(3):  # shared machine: interleaved, order rotated, best of three
        for per_read in (False, True):
            for name in names[round_:] + names[:round_]:
                watch, days = modes[name]
                rate = _rate(count, run(watch, days, per_read))
                best[(name, per_read)] = max(best[(name, per_read)], rate)
    base_one, base_per = best[(next(iter(modes)), False)], best[(next(iter(modes)), True)]
    for name in modes:
        one, per = best[(name, False)], best[(name, True)]
        rows.append(
            (
                name,
                f"{one:,.0f} /s ({one / base_one:.2f}x, +{(1 / one - 1 / base_one) * 1e6:.0f} µs)",
                f"{per:,.0f} /s",
                f"{per / base_per:.2f}x",
            )
        )
    return rows


def bench_read_path(count: int) -> list[tuple[str, str, str]]:
    """The whole read an agent makes, GET /api/v1/dossiers/{id} (permission check, decryption,
    the log entry), with the alerts off and on, on a dossier not assigned to the agent."""
    from django.conf import settings
    from django.test import Client

    from guichet.catalog.service import published_procedure
    from guichet.demo import load_demo
    from guichet.dossiers import actions
    from guichet.identity.actions import do_create_token
    from guichet.testing import BIRTH, BIRTH_ANSWERS, PERSONAS, pdf_file

    people = load_demo(with_dossiers=False)
    citizen = next(u for u in people.values() if u.email == PERSONAS["citizen_a"])
    agent = next(u for u in people.values() if u.email == PERSONAS["instructor"])
    procedure = published_procedure(BIRTH)
    assert procedure is not None
    dossier = actions.do_create_draft(citizen, procedure, BIRTH_ANSWERS)
    actions.do_add_attachment(citizen, dossier.pk, "id_document", pdf_file())
    actions.do_transition(citizen, dossier.pk, "submit")
    _, token = do_create_token(agent, "bench")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    url = f"/api/v1/dossiers/{dossier.pk}"

    def reads(hours: str, days: str, openings: int) -> Callable[[], None]:
        def work() -> None:
            settings.GUICHET_ALERT_WORKING_HOURS = hours
            settings.GUICHET_ALERT_WORKING_DAYS = days
            settings.GUICHET_ALERT_UNASSIGNED_OPENINGS = openings
            for _ in range(count):
                assert client.get(url).status_code == 200

        return work

    always = "00:00-23:59:59.999999"
    modes = {
        "alerts off": reads("", "1-7", 0),
        "alerts on, unassigned dossier": reads(always, "1-7", 10**9),
        "alerts on, outside working hours": reads(always, "", 10**9),
    }
    best = dict.fromkeys(modes, 0.0)
    names = list(modes)
    for round_ in range(3):  # interleaved, order rotated, best of three
        for name in names[round_:] + names[:round_]:
            best[name] = max(best[name], _rate(count, modes[name]))
    base = best["alerts off"]
    return [
        (name, f"{rate:,.0f} /s", f"{rate / base:.2f}x, +{(1 / rate - 1 / base) * 1e3:.2f} ms")
        for name, rate in best.items()
    ]


def bench_download(size: int, events: int = 100) -> str:
    """A citizen's download of their `events` entries with proofs, in a log of `size`."""
    from django.db import transaction

    from guichet.audit import citizen, service
    from guichet.audit.actions import do_sign_checkpoint
    from guichet.audit.models import Action

    with transaction.atomic():
        service.record_events(
            [
                service.NewEvent(Action.DOSSIER_OPENED, service.Actor.system(), subject_id="me")
                for _ in range(events)
            ]
        )
    do_sign_checkpoint()
    started = time.perf_counter()
    bundle = citizen.proof_bundle("me")
    assert len(bundle["events"]) == events
    return f"{(time.perf_counter() - started) * 1000:.0f} ms for {events} events"


def grow_to(size: int, batch: int = 5000) -> float:
    from django.db import transaction

    from guichet.audit import service

    have = service.tree_size()
    started = time.perf_counter()
    while have < size:
        step = min(batch, size - have)
        with transaction.atomic():
            service.record_events(_events(step))
        have += step
    return time.perf_counter() - started


def bench_proofs(size: int, samples: int = 300) -> tuple[str, str, str, str]:
    from guichet.audit import service, tlog
    from guichet.audit.actions import do_sign_checkpoint

    do_sign_checkpoint()
    rng = random.Random(size)
    inclusion, consistency, full = [], [], []
    for _ in range(samples):
        index = rng.randrange(size)
        started = time.perf_counter()
        service.inclusion_path(index, size)
        inclusion.append(time.perf_counter() - started)
        first = rng.randrange(1, size)
        started = time.perf_counter()
        service.consistency_path(first, size)
        consistency.append(time.perf_counter() - started)
        started = time.perf_counter()
        service.inclusion_proof(index).text()
        full.append(time.perf_counter() - started)
    hashes = len(tlog.nodes_for(tlog.inclusion_plan(size // 3, size)))

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.3f} ms"

    return ms(inclusion), ms(consistency), ms(full), f"{hashes} (log2 n = {size.bit_length()})"


def bench_verify(jobs: int) -> tuple[float, bool]:
    from guichet.audit.verify import verify_log

    started = time.perf_counter()
    report = verify_log(jobs=jobs)
    return time.perf_counter() - started, report.ok


def bench_standalone(folder: Path) -> tuple[float, float, bool]:
    from guichet.audit.export import export_log

    export = folder / "export"
    started = time.perf_counter()
    export_log(export)
    exported = time.perf_counter() - started
    vkey = (export / "log.vkey").read_text().strip()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "verify_log.py"), str(export), "--key", vkey],
        capture_output=True,
        check=False,
    )
    return exported, time.perf_counter() - started, done.returncode == 0


def table(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    sys.stdout.write(f"\n{title}\n")
    for number, row in enumerate(rows):
        sys.stdout.write("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        sys.stdout.write("\n")
        if number == 0:
            sys.stdout.write("  " + "  ".join("-" * width for width in widths) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=1_000_000, help="largest log size")
    parser.add_argument("--append", type=int, default=20_000, help="events per append run")
    parser.add_argument("--batch", type=int, default=1000, help="events per commit")
    parser.add_argument("--reads", type=int, default=2000, help="agent reads per alert run")
    parser.add_argument("--requests", type=int, default=300, help="API reads per alert run")
    parser.add_argument("--no-standalone", action="store_true", help="skip export + tool")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as temporary:
        folder = Path(temporary)
        _setup(folder)
        sys.stdout.write(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, SQLite WAL\n")
        table(
            "Append (same rows, same run, best of 3)",
            [("mode", "rate"), *bench_append(args.append, args.batch)],
        )
        table(
            "Security alerts on an agent's read, against the append alone (best of 3)",
            [
                ("read", "in one transaction", "a transaction each", "ratio"),
                *bench_detection(args.reads),
            ],
        )
        table(
            "An agent's GET /api/v1/dossiers/{id}, alerts off and on (best of 3)",
            [("read", "rate", "vs alerts off"), *bench_read_path(args.requests)],
        )
        proofs: list[tuple[str, ...]] = [
            ("log size", "inclusion path", "consistency path", "tlog-proof", "hashes read")
        ]
        build = 0.0
        for size in (10_000, 100_000, 1_000_000):
            if size > args.max:
                break
            build += grow_to(size)
            proofs.append((f"{size:,}", *bench_proofs(size)))
        table("Proofs (median of 300, one batched read each)", proofs)
        sys.stdout.write(f"\nA citizen's download with proofs: {bench_download(args.max)}\n")
        size = min(args.max, 1_000_000)
        sys.stdout.write(
            f"\nBuilt the {size:,}-event log in {build:.0f} s ({size / build:,.0f} events/s)\n"
        )
        verify_rows: list[tuple[str, ...]] = [("verifier", f"{size:,} events", "result")]
        for jobs in (1, 2):
            seconds, ok = bench_verify(jobs)
            verify_rows.append(
                (
                    f"guichet audit verify, {jobs} process(es)",
                    f"{seconds:.1f} s",
                    "OK" if ok else "FAILED",
                )
            )
        if not args.no_standalone:
            exported, checked, ok = bench_standalone(folder)
            verify_rows.append(("guichet audit export", f"{exported:.1f} s", ""))
            verify_rows.append(
                ("tools/verify_log.py on the export", f"{checked:.1f} s", "OK" if ok else "FAILED")
            )
        table("Verification of the whole log", verify_rows)


if __name__ == "__main__":
    main()
