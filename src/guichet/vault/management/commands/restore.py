"""`guichet restore FILE`: an archive made by `guichet backup`, into an empty instance.

Nothing is written before the whole archive has been verified, the keys it needs found, and the
instance found empty (see guichet/vault/restore.py for the order of steps). Install the keys
first: `guichet vault import-keys EXPORT` for the local provider, or the HSM's own key backup.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.vault.errors import VaultError
from guichet.vault.restore import restore_backup


class Command(BaseCommand):
    help = "Restore an archive made by `guichet backup` into an empty instance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", metavar="FILE", help="The .gbk archive to restore.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["archive"])
        if not path.is_file():
            raise CommandError(_("No archive at %(path)s.") % {"path": path})
        try:
            report = restore_backup(path, out=self.stdout.write)
        except VaultError as error:
            raise CommandError(str(error)) from error
        summary = {
            "id": report.backup_id,
            "at": report.created_at,
            "rows": report.rows,
            "files": report.files,
            "keys": report.live_keys,
            "ciphertexts": report.ciphertexts,
        }
        if report.problems:
            details = "\n".join(f"  - {problem}" for problem in report.problems)
            refused = _(
                "Restored backup %(id)s of %(at)s: %(rows)d rows, %(files)d files, %(keys)d data "
                "keys unwrap, %(ciphertexts)d ciphertexts checked, but the check after restoring "
                "found problems:"
            )
            raise CommandError(f"{refused % summary}\n{details}")
        restored = _(
            "Restored backup %(id)s of %(at)s: %(rows)d rows, %(files)d files, %(keys)d data "
            "keys unwrap, %(ciphertexts)d ciphertexts checked."
        )
        self.stdout.write(self.style.SUCCESS(restored % summary))
