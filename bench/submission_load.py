"""Submission throughput through the production server, against one durable INSERT.

    .venv/bin/python bench/submission_load.py [--db sqlite|postgres] [--clients 16] [--quick]
                                              [--json rows.json]

Starts a throw-away instance with scripts/serve.sh (granian: 2 web workers; the task worker,
the scheduler; production settings: DEBUG off, SQLite WAL + synchronous=FULL or a durable
PostgreSQL cluster of its own), citizens with API tokens, then, with N concurrent clients on
keep-alive connections to 127.0.0.1:

1. baseline: POST /bench/insert (one INSERT, committed; only mounted on bench instances);
2. drafts: create a dossier with its answers, upload the PDF it needs (each client its own);
3. submit: POST /api/v1/dossiers/{id}/submit on those drafts: validation of the complete
   answers, a dossier number, the history event and its transparency-log entry, the sealed
   answers, one durable commit, the notification queued for the task worker;
4. baseline again; the ratio uses the mean of both baselines, so drift hits both sides.

Then the resident memory of each process after the load, and a check that every acknowledged
submission is in the database. Goals (issue 7): submit/INSERT >= 0.5, submit p99 <= 300 ms at 16
clients; web and task worker RSS <= 200 MB.
"""

import argparse
import collections
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Receipts,
    draft,
    machine,
    postgres_missing,
    prepare_data,
    print_rows,
    setup_environment,
    submit,
    write_json,
)
from loadgen import Client, Stats, closed_loop, p50_95_99


def ms(values: list[float]) -> str:
    return "/".join(f"{v:.0f}" for v in p50_95_99(values))


def baseline(port: int, clients: int, seconds: float) -> tuple[float, list[float]]:
    def insert(client: Client) -> str:
        reply = client.request("insert", "POST", "/bench/insert", b"x" * 200)
        return "ok" if reply.status == 201 else f"{reply.status}"

    stats, wall = closed_loop(port, clients, insert, seconds)
    return stats.outcomes["ok"] / wall, stats.latencies.get("insert", [])


def run(db: str, clients: int, drafts_per_client: int, seconds: float) -> list[dict[str, Any]]:
    problem = postgres_missing() if db == "postgres" else None
    if problem:
        return [{"figure": f"Submission throughput ({db})", "result": f"skipped: {problem}"}]
    instance = setup_environment(db)
    tokens = prepare_data(clients)
    started = instance.start()
    port = instance.port
    receipts = Receipts()
    drafts: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque()
    lock = threading.Lock()

    def as_citizen(index: int, client: Client) -> None:
        client.headers["Authorization"] = f"Bearer {tokens[index % len(tokens)]}"
        client.rng = random.Random(index)  # type: ignore[attr-defined]

    def make_draft(client: Client) -> str:
        dossier_id, answers, result = draft(client, client.rng)  # type: ignore[attr-defined]
        if dossier_id is not None:
            with lock:
                drafts.append((client.headers["Authorization"], dossier_id, answers))
        return result

    def submit_one(client: Client) -> str:
        with lock:
            if not drafts:
                return "none left"
            token, dossier_id, answers = drafts.popleft()
        client.headers["Authorization"] = token
        return submit(client, dossier_id, answers, receipts)

    # Warm-up: every worker process imports, connects and fills its caches once.
    closed_loop(port, clients, make_draft, 30, max_tasks=clients * 2, prepare=as_citizen)
    closed_loop(port, clients, submit_one, 30, max_tasks=len(drafts), prepare=as_citizen)
    baseline(port, clients, 2)
    receipts.items.clear()

    cpu_start = instance.cpu()
    base_before, base_latency = baseline(port, clients, seconds / 2)
    cpu_base = instance.cpu()
    base_requests = base_before * (seconds / 2)
    draft_stats, draft_wall = closed_loop(
        port,
        clients,
        make_draft,
        seconds,
        max_tasks=clients * drafts_per_client,
        prepare=as_citizen,
    )
    submit_stats = Stats()
    cpu_before_submit = instance.cpu()
    _, submit_wall = closed_loop(
        port,
        clients,
        submit_one,
        seconds,
        max_tasks=len(drafts),
        prepare=as_citizen,
        stats=submit_stats,
    )
    cpu_after_submit = instance.cpu()
    base_after, base_latency_after = baseline(port, clients, seconds / 2)
    time.sleep(3)  # the task worker sends the queued notifications meanwhile
    memory = instance.memory()
    missing = check_acknowledged(receipts)

    base = (base_before + base_after) / 2
    submitted = submit_stats.outcomes["ok"]
    submit_rate = submitted / submit_wall
    drafts_made = draft_stats.outcomes["ok"]
    draft_rate = drafts_made / draft_wall
    submit_ms = submit_stats.latencies.get("submit", [])
    p99 = p50_95_99(submit_ms)[2]
    ratio = submit_rate / base
    failures = sum(
        n
        for stats in (draft_stats, submit_stats)
        for key, n in stats.statuses.items()
        if not key.endswith((" 200", " 201"))
    )
    server_errors = sum(
        stats.count(lambda status: status >= 500 and status != 503)
        for stats in (draft_stats, submit_stats)
    )
    detail = ", ".join(
        f"{key}: {n}"
        for stats in (draft_stats, submit_stats)
        for key, n in stats.statuses.items()
        if not key.endswith((" 200", " 201"))
    )
    rows = [
        {
            "figure": f"Submit a dossier, {clients} clients, {db}",
            "guichet": f"{submit_rate:.0f} /s",
            "baseline": f"{base:.0f} /s INSERT",
            "ratio": f"{ratio:.2f}",
            "latency": ms(submit_ms),
            "goal": "ratio >= 0.5, p99 <= 300 ms",
            "result": "pass" if ratio >= 0.5 and p99 <= 300 and not server_errors else "FAIL",
        },
        {
            "figure": f"Create draft + upload PDF, {clients} clients, {db}",
            "guichet": f"{draft_rate:.0f} /s",
            "baseline": f"{base:.0f} /s INSERT",
            "ratio": f"{draft_rate / base:.2f}",
            "latency": f"create {ms(draft_stats.latencies.get('create', []))}, "
            f"upload {ms(draft_stats.latencies.get('upload', []))}",
            "goal": "reported",
            "result": "",
        },
        {
            "figure": f"Whole journey (3 requests), {clients} clients, {db}",
            "guichet": f"{submitted / (draft_wall + submit_wall):.0f} /s",
            "baseline": f"{base:.0f} /s INSERT",
            "ratio": f"{submitted / (draft_wall + submit_wall) / base:.2f}",
            "latency": f"INSERT {ms(base_latency + base_latency_after)}",
            "goal": "reported",
            "result": "",
        },
        {
            "figure": f"Acknowledged submissions found in the database ({db})",
            "guichet": f"{len(receipts.items) - len(missing)} of {len(receipts.items)}",
            "goal": "all",
            "result": "pass" if not missing else "FAIL",
        },
        {
            "figure": f"Non-2xx answers under load ({db})",
            "guichet": f"{failures} ({detail or 'none'})",
            "goal": "no 5xx but 503 (shed)",
            "result": "pass" if not server_errors else "FAIL",
        },
    ]
    for role, goal in (("web worker", 200), ("task worker", 200), ("scheduler", None)):
        if role in memory:
            rss = memory[role][0] / 1024
            rows.append(
                {
                    "figure": f"RSS after the load: {role} ({db})",
                    "guichet": f"{rss:.0f} MB (PSS {memory[role][1] / 1024:.0f} MB)",
                    "goal": f"<= {goal} MB" if goal else "reported",
                    "result": ("pass" if rss <= goal else "FAIL") if goal else "",
                }
            )
    rows.append(
        cpu_row(f"CPU per submission ({db})", cpu_before_submit, cpu_after_submit, submitted)
    )
    rows.append(cpu_row(f"CPU per INSERT ({db})", cpu_start, cpu_base, base_requests))
    total = memory["whole instance"]
    rows.append(
        {
            "figure": f"Whole embedded instance, all processes ({db})",
            "guichet": f"RSS {total[0] / 1024:.0f} MB, PSS {total[1] / 1024:.0f} MB",
            "goal": "reported",
            "result": "",
        }
    )
    rows.append(
        {
            "figure": f"Server start to first /healthz 200 ({db})",
            "guichet": f"{started:.1f} s",
            "goal": "reported",
            "result": "",
        }
    )
    return rows


def cpu_row(
    figure: str, before: dict[str, float], after: dict[str, float], n: float
) -> dict[str, Any]:
    """Where the CPU went during a phase, in ms per request: what limits the rate on a machine
    whose cores the load generator shares."""
    roles = [r for r in ("web worker", "task worker", "database", "load generator") if r in after]
    spent = {role: (after[role] - before[role]) * 1000 / max(n, 1) for role in roles}
    # A process that exited during the phase (a PostgreSQL backend whose connection closed)
    # takes its CPU time with it: the sum can then fall, and says nothing.
    shown = [f"{r} {spent[r]:.1f} ms" if spent[r] >= 0 else f"{r} n/a" for r in roles]
    return {
        "figure": figure,
        "guichet": ", ".join(shown),
        "goal": "reported",
        "result": "",
    }


def check_acknowledged(receipts: Receipts) -> list[str]:
    from guichet.dossiers.models import Dossier

    found = set(
        Dossier.objects.filter(
            pk__in=[r.dossier_id for r in receipts.items], number__isnull=False
        ).values_list("number", flat=True)
    )
    return [r.number for r in receipts.items if r.number not in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--drafts", type=int, default=60, help="drafts per client")
    parser.add_argument("--seconds", type=float, default=60, help="cap per phase")
    parser.add_argument("--quick", action="store_true", help="10 drafts per client, 10 s caps")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if args.quick:
        args.drafts, args.seconds = 10, 10
    info = machine()
    rows = run(args.db, args.clients, args.drafts, args.seconds)
    print_rows(
        f"Submission load, {args.db}: {info['nproc']} CPUs ({info['cpu']}), {info['ram']}, "
        f"load {machine()['load']} at the end, {info['date']}",
        rows,
    )
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
