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

With --parts, where a submission's CPU goes: the thread CPU time spent in each step of the
request (token sign-in, loading and locking the dossier, validating, the history event, the
number, the dossier's UPDATE, the log append, the commit, the answer), measured by wrapping those
functions for the run; what no step claims is Django's request handling, the middleware and
ninja's routing, which the INSERT request pays too.
"""

import argparse
import functools
import importlib
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

# (module, attribute, label): the steps --parts times, in the order a submission runs them.
PARTS = (
    ("ninja.operation", "Operation._run_authentication", "API token sign-in (ninja)"),
    ("guichet.dossiers.access", "access_dossier", "load and lock the dossier, check rights"),
    ("guichet.dossiers.access", "read_answers", "decrypt the answers (action and answer)"),
    ("guichet.dossiers.actions", "_check", "validate the answers, count the files"),
    ("guichet.dossiers.actions", "_add_event", "history event"),
    ("guichet.dossiers.actions", "_queue_follow_ups", "notification row, batch queued"),
    ("guichet.dossiers.actions", "_next_number", "the year's number"),
    ("guichet.rows", "update", "UPDATE of the dossier"),
    ("guichet.dossiers.actions", "_log_transition", "transparency-log append"),
    ("django.db.backends.base.base", "BaseDatabaseWrapper.commit", "COMMIT"),
    ("guichet.dossiers.api", "_detail", "the answer: the dossier as the caller sees it"),
    ("ninja.operation", "Operation._result_to_response", "answer validated and rendered (ninja)"),
)


class Timed:
    """Wraps the PARTS for the run, adding each one's thread CPU time while `on` is set."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = dict.fromkeys([label for _, _, label in PARTS], 0.0)
        self.on = False
        self._depth: dict[str, int] = dict.fromkeys(self.spent, 0)
        for module_name, attribute, label in PARTS:
            holder: Any = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for step in path:
                holder = getattr(holder, step)
            setattr(holder, name, self._wrap(getattr(holder, name), label))

    def _wrap(self, function: Any, label: str) -> Any:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = self._depth[label] == 0  # read_answers may call itself through others
            self._depth[label] += 1
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth[label] -= 1
                if self.on and outer:
                    self.spent[label] += time.thread_time() - started

        return timed


def measure(db: str, submissions: int, parts: bool = False) -> list[dict[str, Any]]:
    problem = postgres_missing() if db == "postgres" else None
    if problem:
        return [{"figure": f"Submission CPU, in-process ({db})", "result": f"skipped: {problem}"}]
    setup_environment(db)
    token = prepare_data(1)[0]
    from django.test import Client

    timed = Timed() if parts else None
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
        if timed is not None:
            timed.on = index >= 50
        started = time.thread_time()
        answered = client.post(f"/api/v1/dossiers/{dossier_id}/submit")
        submitted = time.thread_time()
        if timed is not None:
            timed.on = False  # the INSERT request's COMMIT is not the submission's
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
        *(by_part(timed, submit_ms, insert) if timed is not None else []),
    ]


def by_part(timed: Timed, submit_ms: list[float], insert: float) -> list[dict[str, Any]]:
    """Each step's mean CPU per submission and its share of the mean submission."""
    mean = statistics.mean(submit_ms)
    count = len(submit_ms)
    rows = []
    for label, seconds in timed.spent.items():
        spent = seconds * 1000 / count
        share = f"{spent:.2f} ms ({spent / mean:.0%})"
        rows.append({"figure": f"  part: {label}", "guichet": share})
    rest = mean - sum(timed.spent.values()) * 1000 / count
    rows.append(
        {
            "figure": "  part: Django's handling, middleware, routing (the INSERT request's all)",
            "guichet": f"{rest:.2f} ms ({rest / mean:.0%})",
            "baseline": f"{insert:.2f} ms INSERT",
        }
    )
    rows.append({"figure": "  parts: mean submission (timed)", "guichet": f"{mean:.2f} ms"})
    return rows


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
    parser.add_argument("--parts", action="store_true", help="where a submission's CPU goes")
    parser.add_argument("--json", help="also write the rows there (for bench/run_all.py)")
    args = parser.parse_args()
    rows = measure(args.db, args.submissions, args.parts)
    print_rows("Submission CPU, in-process", rows)
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
