"""`guichet retention run [--dry-run]`: apply the retention rules now.

Warns each applicant GUICHET_RETENTION_NOTICE_DAYS (30) days before their dossier is erased, once,
and erases every dossier past its date: decided or withdrawn ones once their procedure's
retention period has run, drafts untouched for GUICHET_DRAFT_RETENTION_DAYS (180) days. Erasure
destroys the dossier's data key and deletes its rows and files; a tombstone without personal
data stays for statistics. Run it daily (cron, systemd timer); running it twice is harmless.
With --dry-run it lists what it would do and changes nothing.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from guichet.dossiers.tasks import retention_pass


class Command(BaseCommand):
    help = "Warn applicants before erasure and erase dossiers whose retention period is over."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("run", help="Apply the retention rules now.")
        run.add_argument(
            "--dry-run", action="store_true", help="Show what would happen; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        report = retention_pass(dry_run=dry_run)
        warned, erased = len(report.warned), len(report.erased)
        if dry_run:
            warn = ngettext(
                "would warn: %(count)d dossier", "would warn: %(count)d dossiers", warned
            )
            erase = ngettext(
                "would erase: %(count)d dossier", "would erase: %(count)d dossiers", erased
            )
        else:
            warn = ngettext("warned: %(count)d dossier", "warned: %(count)d dossiers", warned)
            erase = ngettext("erased: %(count)d dossier", "erased: %(count)d dossiers", erased)
        self.stdout.write(warn % {"count": warned})
        for name in report.warned:
            self.stdout.write(f"  {name}")
        self.stdout.write(erase % {"count": erased})
        for name in report.erased:
            self.stdout.write(f"  {name}")
        if report.failed:
            raise CommandError(
                ngettext(
                    "%(count)d dossier could not be erased and will be retried: %(list)s",
                    "%(count)d dossiers could not be erased and will be retried: %(list)s",
                    len(report.failed),
                )
                % {"count": len(report.failed), "list": ", ".join(report.failed)}
            )
