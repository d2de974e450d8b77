"""`guichet schedule`: the platform's clock. Runs beside the task worker (make run starts it).

django.tasks has no periodic tasks, and a cron entry per job is one more thing for an operator
to get wrong, so this small loop enqueues them:
- the transparency log's checkpoint whenever one is due (cheap to ask);
- every ten seconds, a batch of the notifications not sent yet (a safety net: actions queue
  their batch themselves, outbox.enqueue_coalesced);
- every five minutes, the workflow clock (tacit decisions, escalation of overdue dossiers) and
  the sweep of document issuings whose retry was lost;
- every hour, the retention run (warnings, erasures).
Every job is idempotent, so two schedulers or a restart do no harm.
"""

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from guichet.audit.tasks import sign_checkpoint_if_due
from guichet.documents.tasks import retry_lost_issuances
from guichet.dossiers.tasks import flush_notifications, run_retention, run_workflow_clock


class Command(BaseCommand):
    help = (
        "Enqueue the periodic jobs: log checkpoints, the workflow clock (with lost document "
        "retries) and the retention run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint-every", type=float, default=10.0, help="seconds")
        parser.add_argument("--notifications-every", type=float, default=10.0, help="seconds")
        parser.add_argument("--workflow-every", type=float, default=300.0, help="seconds")
        parser.add_argument("--retention-every", type=float, default=3600.0, help="seconds")
        parser.add_argument("--once", action="store_true", help="Enqueue each job once and stop.")

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        last_checkpoint = last_retention = last_workflow = last_notifications = float("-inf")
        while not stopping:
            now = time.monotonic()
            if now - last_checkpoint >= options["checkpoint_every"]:
                sign_checkpoint_if_due.enqueue()
                last_checkpoint = now
            if now - last_notifications >= options["notifications_every"]:
                flush_notifications.enqueue()
                last_notifications = now
            if now - last_workflow >= options["workflow_every"]:
                run_workflow_clock.enqueue()
                retry_lost_issuances.enqueue()
                last_workflow = now
            if now - last_retention >= options["retention_every"]:
                run_retention.enqueue()
                last_retention = now
            if options["once"]:
                return
            time.sleep(1.0)
