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
        verb = ("would warn", "would erase") if dry_run else ("warned", "erased")
        self.stdout.write(f"{verb[0]}: {len(report.warned)} dossier(s)")
        for name in report.warned:
            self.stdout.write(f"  {name}")
        self.stdout.write(f"{verb[1]}: {len(report.erased)} dossier(s)")
        for name in report.erased:
            self.stdout.write(f"  {name}")
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} dossier(s) could not be erased and will be retried: "
                + ", ".join(report.failed)
            )
