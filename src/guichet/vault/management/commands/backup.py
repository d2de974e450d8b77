"""`guichet backup [--output FILE]` and `guichet backup --verify FILE`.

The first writes one consistent, compressed, encrypted archive of the database and the stored
files (see guichet/vault/backup.py for the design); the second decrypts and hashes every entry of
an archive and compares it with its manifest, without restoring anything. Both need the keys of
the instance that made the archive (the archive's own key is wrapped by its KEK).
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.vault.backup import create_backup, default_output, verify_archive
from guichet.vault.errors import VaultError
from guichet.vault.residency import path_refusal


def backup_dir() -> Path:
    configured = getattr(settings, "GUICHET_BACKUP_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "backups"


class Command(BaseCommand):
    help = (
        "Write an encrypted, integrity-checked archive of the database and the stored files, "
        "or check one with --verify."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Where to write the archive (default: GUICHET_BACKUP_DIR, var/backups, "
            "guichet-<UTC time>.gbk). An existing file is never overwritten.",
        )
        parser.add_argument(
            "--verify",
            metavar="FILE",
            help="Decrypt and hash every entry of this archive and compare it with its "
            "manifest; restores nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verify"] and options["output"]:
            raise CommandError(_("Give either --output (make a backup) or --verify (check one)."))
        try:
            if options["verify"]:
                self.verify(Path(options["verify"]))
            else:
                output = Path(options["output"]) if options["output"] else None
                self.backup(output or default_output(backup_dir()))
        except VaultError as error:
            raise CommandError(str(error)) from error

    def say(self, message: str) -> None:
        self.stdout.write(message)

    def backup(self, output: Path) -> None:
        refusal = path_refusal(output.absolute(), "The backup file")
        if refusal:
            raise CommandError(refusal)
        summary = create_backup(output, out=self.say)
        for name in summary.missing_files[:10]:
            self.stderr.write(
                _("Warning: %(name)s is referenced by the database but was not found.")
                % {"name": name}
            )
        if summary.missing_files:
            self.stderr.write(
                _(
                    "Warning: %(count)d referenced files were missing (erased during the backup, "
                    "or lost); they are listed in the manifest."
                )
                % {"count": len(summary.missing_files)}
            )
        written = _(
            "Backup written: %(path)s (%(size)d bytes, %(rows)d rows in %(tables)d tables, "
            "%(files)d files, key wrapped by %(kek)s, %(seconds).1f s)."
        )
        self.stdout.write(
            self.style.SUCCESS(
                written
                % {
                    "path": summary.path,
                    "size": summary.size,
                    "rows": summary.rows,
                    "tables": summary.tables,
                    "files": summary.files,
                    "kek": summary.kek,
                    "seconds": summary.seconds,
                }
            )
        )
        self.stdout.write(
            _(
                "Keys are not in the archive: keep a key export (`guichet vault export-keys`) "
                "somewhere else."
            )
        )

    def verify(self, path: Path) -> None:
        if not path.is_file():
            raise CommandError(_("No archive at %(path)s.") % {"path": path})
        with path.open("rb") as source:
            verified = verify_archive(source)
        manifest = verified.manifest
        database, files = manifest["database"], manifest["files"]
        rows = sum(table["rows"] for table in database["tables"].values())
        self.stdout.write(
            _("Archive %(path)s: backup %(id)s made %(at)s by Guichet %(version)s on %(vendor)s.")
            % {
                "path": path,
                "id": manifest["backup_id"],
                "at": manifest["created_at"],
                "version": manifest["guichet_version"],
                "vendor": database["vendor"],
            }
        )
        self.stdout.write("  " + _("key wrapped by %(kek)s") % {"kek": verified.kek})
        self.stdout.write(
            "  "
            + _("database: %(rows)d rows in %(tables)d tables, %(migrations)d migrations applied")
            % {
                "rows": rows,
                "tables": len(database["tables"]),
                "migrations": len(database["migrations"]),
            }
        )
        self.stdout.write(
            "  "
            + _("files: %(count)d (%(bytes)d bytes)")
            % {"count": files["count"], "bytes": files["bytes"]}
        )
        if files["missing"]:
            self.stderr.write(
                _(
                    "Warning: %(count)d files referenced by the database were missing when the "
                    "backup was made, e.g. %(name)s."
                )
                % {"count": len(files["missing"]), "name": files["missing"][0]}
            )
        self.stdout.write(
            self.style.SUCCESS(_("OK: every entry decrypts and matches the manifest."))
        )
