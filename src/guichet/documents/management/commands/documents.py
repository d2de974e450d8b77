"""`guichet documents status|retry`: follow and restart the issuing of decision documents.

    guichet documents status            issuings not done: dossier, kind, status, attempts, last
                                        error, next attempt
    guichet documents retry             send the failed ones (attempts spent) to the task queue
                                        with a fresh set of attempts, and the ones whose retry
                                        is due but did not run
    guichet documents retry --due       only the due ones (for a cron job beside a queue that
                                        cannot hold delayed tasks)

Issuing is idempotent on dossier and kind: retrying an issuing that meanwhile succeeded sends no
second document and no second email.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guichet.documents import actions
from guichet.documents.models import Issuance, IssuanceStatus
from guichet.documents.tasks import issue_document_task


class Command(BaseCommand):
    help = "Follow and restart the issuing of decision documents."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("status", help="List the issuings that are not done.")
        retry = commands.add_parser("retry", help="Send failed or due issuings to the queue.")
        retry.add_argument(
            "--due", action="store_true", help="Only those whose next attempt is due."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "status":
            self._status()
        else:
            self._retry(only_due=options["due"])

    def _status(self) -> None:
        rows = (
            Issuance.objects.exclude(status=IssuanceStatus.ISSUED)
            .select_related("dossier")
            .order_by("status", "next_attempt_at")
        )
        count = 0
        # One record per line, kept in English with its codes (kind, status) for scripts.
        for row in rows:
            count += 1
            due = f", next attempt {timezone.localtime(row.next_attempt_at):%Y-%m-%d %H:%M}"
            self.stdout.write(
                f"{row.dossier.number or row.dossier_id}  {row.kind}  {row.status}  "
                f"attempt {row.attempts}/{actions.MAX_ISSUE_ATTEMPTS}"
                f"{due if row.next_attempt_at else ''}"
                f"{'  ' + row.last_error if row.last_error else ''}"
            )
        if not count:
            self.stdout.write(_("Every decided dossier has its document."))

    def _retry(self, *, only_due: bool) -> None:
        rearmed = actions.do_rearm_issuances(failed=not only_due, due=True)
        for issuance in rearmed:
            issue_document_task.enqueue(dossier_id=str(issuance.dossier_id))
        self.stdout.write(
            ngettext(
                "%(count)d issuing sent to the task queue.",
                "%(count)d issuings sent to the task queue.",
                len(rearmed),
            )
            % {"count": len(rearmed)}
        )
