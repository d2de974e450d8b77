"""`guichet restore FILE`: an archive made by `guichet backup`, into an empty instance.

Nothing is written before the whole archive has been verified, the keys it needs found, and the
instance found empty (see guichet/vault/restore.py for the order of steps). Install the keys
first: `guichet vault import-keys EXPORT` for the local provider, or the HSM's own key backup.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guichet.vault.errors import VaultError
from guichet.vault.restore import restore_backup


class Command(BaseCommand):
    help = "Restore an archive made by `guichet backup` into an empty instance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", metavar="FILE", help="The .gbk archive to restore.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["archive"])
        if not path.is_file():
            raise CommandError(f"No archive at {path}.")
        try:
            report = restore_backup(path, out=self.stdout.write)
        except VaultError as error:
            raise CommandError(str(error)) from error
        summary = (
            f"backup {report.backup_id} of {report.created_at}: {report.rows} rows, "
            f"{report.files} files, {report.live_keys} data keys unwrap, "
            f"{report.ciphertexts} ciphertexts checked"
        )
        if report.problems:
            details = "\n".join(f"  - {problem}" for problem in report.problems)
            raise CommandError(
                f"Restored {summary}, but the check after restoring found problems:\n{details}"
            )
        self.stdout.write(self.style.SUCCESS(f"Restored {summary}."))
