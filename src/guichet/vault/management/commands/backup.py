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
            raise CommandError("Give either --output (make a backup) or --verify (check one).")
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
            self.stderr.write(f"Warning: {name} is referenced by the database but was not found.")
        if summary.missing_files:
            self.stderr.write(
                f"Warning: {len(summary.missing_files)} referenced files were missing "
                "(erased during the backup, or lost); they are listed in the manifest."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {summary.path} ({summary.size} bytes, {summary.rows} rows in "
                f"{summary.tables} tables, {summary.files} files, key wrapped by {summary.kek}, "
                f"{summary.seconds:.1f} s)."
            )
        )
        self.stdout.write(
            "Keys are not in the archive: keep a key export (`guichet vault export-keys`) "
            "somewhere else."
        )

    def verify(self, path: Path) -> None:
        if not path.is_file():
            raise CommandError(f"No archive at {path}.")
        with path.open("rb") as source:
            verified = verify_archive(source)
        manifest = verified.manifest
        database, files = manifest["database"], manifest["files"]
        rows = sum(table["rows"] for table in database["tables"].values())
        self.stdout.write(
            f"Archive {path}: backup {manifest['backup_id']} made {manifest['created_at']} by "
            f"Guichet {manifest['guichet_version']} on {database['vendor']}."
        )
        self.stdout.write(f"  key wrapped by {verified.kek}")
        self.stdout.write(
            f"  database: {rows} rows in {len(database['tables'])} tables, "
            f"{len(database['migrations'])} migrations applied"
        )
        self.stdout.write(f"  files: {files['count']} ({files['bytes']} bytes)")
        if files["missing"]:
            self.stderr.write(
                f"Warning: {len(files['missing'])} files referenced by the database were missing "
                f"when the backup was made, e.g. {files['missing'][0]}."
            )
        self.stdout.write(self.style.SUCCESS("OK: every entry decrypts and matches the manifest."))
