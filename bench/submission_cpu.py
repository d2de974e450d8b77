"""CPU of one submission against one durable INSERT, in-process, without a server.

    .venv/bin/python bench/submission_cpu.py [--db sqlite|postgres] [--submissions 250]

submission_load.py measures rates through the production server, where the generator, the task
worker and the database share the cores; this measures only what the web code spends on each
request: the thread CPU time of POST /api/v1/dossiers/{id}/submit (validation, the sealed
answers, the number, the history event and its log entry, the outbox row, the answer) and of
POST /bench/insert, interleaved one by one through Django's test client with the same
middleware, on a throw-away database. The ratio is the one a CPU-bound server would show.

Then the task worker's side of the same submissions: the thread CPU time of sending their
notification emails in one batch (reading the rows, rendering, composing, writing them with the
file backend), and, as baseline, of composing the same emails with Django's own EmailMessage
(what guichet.mail replaced).
"""

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PROCEDURE,
    answers_for,
    postgres_missing,
    prepare_data,
    print_rows,
    setup_environment,
    upload_body,
    write_json,
)


def measure(db: str, submissions: int) -> list[dict[str, Any]]:
    problem = postgres_missing() if db == "postgres" else None
    if problem:
        return [{"figure": f"Submission CPU, in-process ({db})", "result": f"skipped: {problem}"}]
    setup_environment(db)
    token = prepare_data(1)[0]
    from django.test import Client

    client = Client(
        SERVER_NAME="127.0.0.1", HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    rng = random.Random(7)
    drafts = []
    for _ in range(submissions + 50):
        created = client.post(
            "/api/v1/dossiers",
            {"procedure": PROCEDURE, "data": answers_for(rng)},
            content_type="application/json",
        )
        dossier_id = created.json()["id"]
        body, content_type = upload_body()
        client.generic(
            "POST", f"/api/v1/dossiers/{dossier_id}/attachments", body, content_type=content_type
        )
        drafts.append(dossier_id)
    submit_ms: list[float] = []
    insert_ms: list[float] = []
    for index, dossier_id in enumerate(drafts):
        started = time.thread_time()
        answered = client.post(f"/api/v1/dossiers/{dossier_id}/submit")
        submitted = time.thread_time()
        client.post("/bench/insert", b"x" * 200, content_type="text/plain")
        inserted = time.thread_time()
        if answered.status_code != 200:
            raise SystemExit(f"submit answered {answered.status_code}: {answered.content!r}")
        if index >= 50:  # the first ones warm the caches
            submit_ms.append((submitted - started) * 1000)
            insert_ms.append((inserted - submitted) * 1000)
    submit, insert = statistics.median(submit_ms), statistics.median(insert_ms)
    return [
        {
            "figure": f"Submission CPU, in-process, median of {submissions} ({db})",
            "guichet": f"{submit:.2f} ms",
            "baseline": f"{insert:.2f} ms INSERT",
            "ratio": f"{insert / submit:.2f}",
            "goal": "reported (submission_load.py holds the goal)",
            "result": "",
        },
        emails(db),
    ]


def emails(db: str) -> dict[str, Any]:
    """The worker's CPU per notification email, and Django's composition of the same emails."""
    from django.core.mail import EmailMessage

    from guichet.dossiers import tasks
    from guichet.dossiers.models import Notification

    owed = list(Notification.objects.order_by("id"))
    started = time.thread_time()
    done, sent = tasks._send(owed)
    sending = (time.thread_time() - started) * 1000 / max(len(owed), 1)
    if sent != len(owed) or len(done) != len(owed):
        raise SystemExit(f"{sent} emails sent for {len(owed)} notifications owed")
    # The same emails again, composed both ways (the send above warmed the templates).
    messages = [tasks._message(n.dossier, n.recipient, n.kind, n.action) for n in owed[:200]]
    started = time.thread_time()
    for message in messages:
        message.message().as_bytes()
    ours = (time.thread_time() - started) * 1000 / len(messages)
    started = time.thread_time()
    for message in messages:
        EmailMessage(message.subject, message.body, to=message.to).message().as_bytes()
    django = (time.thread_time() - started) * 1000 / len(messages)
    return {
        "figure": f"Notification email, task worker, mean of {len(owed)} ({db})",
        "guichet": f"{sending:.2f} ms to send; composing {ours:.2f} ms",
        "baseline": f"composing with Django's EmailMessage {django:.2f} ms",
        "ratio": f"{django / ours:.1f}x",
        "goal": "reported",
        "result": "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--submissions", type=int, default=250)
    parser.add_argument("--json", help="also write the rows there (for bench/run_all.py)")
    args = parser.parse_args()
    rows = measure(args.db, args.submissions)
    print_rows("Submission CPU, in-process", rows)
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
