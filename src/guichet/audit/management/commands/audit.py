"""guichet audit checkpoint | verify | export DIR | key"""

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.audit import keys
from guichet.audit.actions import LogInconsistent, do_sign_checkpoint
from guichet.audit.export import ExportError, export_log
from guichet.audit.notes import NoteError
from guichet.audit.verify import default_jobs, verify_log


class Command(BaseCommand):
    help = "The transparency log: sign a checkpoint, verify the log, export it for auditors."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        sign = commands.add_parser("checkpoint", help="Sign a checkpoint of the current log.")
        sign.add_argument(
            "--if-due",
            action="store_true",
            help="Only when enough events or time have passed (as the periodic task does).",
        )
        check = commands.add_parser(
            "verify", help="Rebuild the tree from the events; exit 1 naming the first bad entry."
        )
        check.add_argument(
            "--key",
            help="Trust this verifier key (name+id+key) instead of the local key file.",
        )
        check.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            type=Path,
            help="A checkpoint kept elsewhere (a witness, an earlier download) the log must "
            "still match; may be repeated.",
        )
        check.add_argument(
            "--jobs",
            type=int,
            default=None,
            help="Worker processes (default: up to 2, or 1 on an in-memory test database).",
        )
        dump = commands.add_parser("export", help="Write events, checkpoints and key to DIR.")
        dump.add_argument("directory", type=Path)
        commands.add_parser("key", help="Print the log's signed-note verifier key.")

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        if command == "checkpoint":
            self._checkpoint(options["if_due"])
        elif command == "verify":
            self._verify(options["key"], options["checkpoint"], options["jobs"])
        elif command == "export":
            self._export(options["directory"])
        else:
            self.stdout.write(keys.verifier_key())

    def _checkpoint(self, if_due: bool) -> None:
        try:
            checkpoint = do_sign_checkpoint(only_if_due=if_due)
        except LogInconsistent as error:
            raise CommandError(_("Refusing to sign: %(reason)s") % {"reason": error}) from error
        if checkpoint is None:
            self.stdout.write(_("No checkpoint due."))
            return
        self.stdout.write(checkpoint.note, ending="")

    def _verify(self, key: str | None, witnessed: list[Path], jobs: int | None) -> None:
        started = time.monotonic()
        try:
            notes = [path.read_text(encoding="utf-8") for path in witnessed]
            jobs = default_jobs() if jobs is None else max(1, jobs)
            report = verify_log(trusted_key=key, witnessed=notes, jobs=jobs)
        except (OSError, NoteError) as error:
            raise CommandError(str(error)) from error
        elapsed = time.monotonic() - started
        if report.ok:
            verified = _(
                "OK: %(size)d entries, root %(root)s, %(checkpoints)d checkpoints verified "
                "(%(seconds).1f s)"
            )
            self.stdout.write(
                self.style.SUCCESS(
                    verified
                    % {
                        "size": report.size,
                        "root": report.root.hex(),
                        "checkpoints": report.checkpoints,
                        "seconds": elapsed,
                    }
                )
            )
            return
        # The problems themselves are the verifier's (audit/verify.py), in English like those of
        # tools/verify_log.py, which auditors run on an export.
        first, *others = report.problems
        if first.seq is None:
            failed = _("FAILED: %(problem)s") % {"problem": first.message}
        else:
            failed = _("FAILED: first bad entry: %(seq)d; %(problem)s") % {
                "seq": first.seq,
                "problem": first.message,
            }
        self.stderr.write(self.style.ERROR(failed))
        for problem in others:
            self.stderr.write(_("  also, %(problem)s") % {"problem": problem})
        sys.exit(1)

    def _export(self, directory: Path) -> None:
        try:
            size, checkpoints = export_log(directory)
        except (ExportError, OSError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("Exported %(size)d entries and %(checkpoints)d checkpoints to %(directory)s")
            % {"size": size, "checkpoints": checkpoints, "directory": directory}
        )
