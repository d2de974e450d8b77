"""`guichet vault rotate|status|export-keys|import-keys`: operator commands for KEKs.

rotate   make a new KEK version with the configured provider (GUICHET_KEY_PROVIDER), rewrap every
         data key under it in batches while the platform keeps serving, then retire the versions
         nothing uses any more. Run it again after an interruption: it resumes.
status   KEK versions with their state and data key counts, and any rotation in progress.
export-keys FILE   every key kept in local files (the local KEKs, the log's and the documents'
         signing keys), sealed under a passphrase (asked twice, or --passphrase-file), for
         restoring backups elsewhere. With pkcs11 or transit, the KEKs stay in the key service:
         the export says so, and holds what is local.
import-keys FILE   install an export into the (empty) keys directory.
"""

import getpass
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.vault import keyexport, rotation
from guichet.vault.errors import VaultError
from guichet.vault.models import Rotation
from guichet.vault.passphrase import check_passphrase
from guichet.vault.providers import active_provider_name


class Command(BaseCommand):
    help = "Manage the vault's key-encryption keys: rotate, status, export-keys, import-keys."
    # The operator must be able to inspect a broken key setup; rotation still refuses unsafe
    # keys by itself, since the providers check every key file they load.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        rotate = actions.add_parser("rotate", help="Rotate the KEK and rewrap every data key.")
        rotate.add_argument(
            "--batch-size",
            type=int,
            default=rotation.DEFAULT_BATCH,
            help="Data keys rewrapped per transaction (default %(default)s).",
        )
        actions.add_parser("status", help="Show KEK versions and data key counts.")
        for name, text in (
            ("export-keys", "Write the local KEKs, sealed under a passphrase, to FILE."),
            ("import-keys", "Install the KEKs of an export FILE into the empty keys directory."),
        ):
            action = actions.add_parser(name, help=text)
            action.add_argument("file", metavar="FILE")
            action.add_argument(
                "--passphrase-file",
                metavar="PATH",
                help="Read the passphrase from this file (first line) instead of asking.",
            )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "rotate":
                self.rotate(options["batch_size"])
            elif options["action"] == "export-keys":
                self.export_keys(Path(options["file"]), options["passphrase_file"])
            elif options["action"] == "import-keys":
                self.import_keys(Path(options["file"]), options["passphrase_file"])
            else:
                self.status()
        except VaultError as error:
            raise CommandError(str(error)) from error

    def passphrase(self, source: str | None, confirm: bool) -> str:
        if source:
            try:
                text = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(
                    _("Cannot read the passphrase file: %(error)s") % {"error": error}
                ) from error
            return text.splitlines()[0] if text.strip("\r\n") else ""
        try:
            first = getpass.getpass(_("Passphrase: "))
            if confirm:
                check_passphrase(first)  # say so before asking twice
                if getpass.getpass(_("Repeat the passphrase: ")) != first:
                    raise CommandError(_("The two passphrases differ; nothing was written."))
        except EOFError as error:
            raise CommandError(_("No passphrase given; use --passphrase-file.")) from error
        return first

    def export_keys(self, path: Path, passphrase_file: str | None) -> None:
        if path.exists():
            raise CommandError(
                _("%(path)s already exists; an export is never overwritten.") % {"path": path}
            )
        exported = keyexport.export_keys(path, self.passphrase(passphrase_file, True))
        for warning in exported.warnings:
            self.stderr.write(_("Warning: %(warning)s") % {"warning": warning})
        if exported.versions:
            listed = ", ".join(f"v{v}" for v in exported.versions)
            self.stdout.write(
                self.style.SUCCESS(
                    _("Exported local KEK %(versions)s to %(path)s (0600).")
                    % {"versions": listed, "path": path}
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Exported the signing keys kept in local files to %(path)s (0600).")
                    % {"path": path}
                )
            )
        if exported.ed25519_keys:
            names = ", ".join(exported.ed25519_keys)
            self.stdout.write(
                _("With the Ed25519 signing key files: %(names)s.") % {"names": names}
            )
        if exported.seal_keys:
            names = ", ".join(f"{keyexport.SEAL_FOLDER}/{name}" for name in exported.seal_keys)
            self.stdout.write(
                _("With the documents' signing key files: %(names)s.") % {"names": names}
            )
        if exported.provider in keyexport.KEY_SERVICES:
            self.stdout.write(keyexport.not_exported(exported.provider))
        self.stdout.write(
            _(
                "Keep it apart from the backups (another place, another custodian) with the "
                "passphrase in a third: anyone holding an archive, this file and the passphrase "
                "can read every citizen's data."
            )
        )

    def import_keys(self, path: Path, passphrase_file: str | None) -> None:
        if not path.is_file():
            raise CommandError(_("No key export at %(path)s.") % {"path": path})
        imported = keyexport.import_keys(path, self.passphrase(passphrase_file, False))
        if imported.versions:
            listed = ", ".join(f"v{v}" for v in imported.versions)
            self.stdout.write(
                self.style.SUCCESS(
                    _("Installed local KEK %(versions)s in %(directory)s.")
                    % {"versions": listed, "directory": imported.directory}
                )
            )
        if imported.provider == "local":
            return
        names = [
            *imported.ed25519_keys,
            *(f"{keyexport.SEAL_FOLDER}/{name}" for name in imported.seal_keys),
        ]
        if names:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Installed the signing key files %(names)s in %(directory)s.")
                    % {"names": ", ".join(names), "directory": imported.directory}
                )
            )
        self.stdout.write(keyexport.not_exported(imported.provider))
        configured = active_provider_name()
        if configured != imported.provider:
            # Not refused: the keys are in place and nothing is lost, but a restore on this
            # machine would look for the data KEKs where they are not.
            self.stderr.write(
                _(
                    "Warning: GUICHET_KEY_PROVIDER is %(configured)s here, but this export was "
                    "made under %(provider)s, whose key service keeps the data KEKs: give this "
                    "machine access to it before `guichet restore`."
                )
                % {"configured": configured, "provider": imported.provider}
            )

    def rotate(self, batch_size: int) -> None:
        if batch_size < 1:
            raise CommandError(_("The batch size must be at least 1."))
        started = time.monotonic()

        def progress(state: Rotation) -> None:
            total = max(state.total, state.rewrapped, 1)
            self.stdout.write(
                _(
                    "batch %(batch)d: %(done)d/%(total)d data keys rewrapped "
                    "(%(percent)d%%, %(seconds).1f s)"
                )
                % {
                    "batch": state.batches,
                    "done": state.rewrapped,
                    "total": state.total,
                    "percent": 100 * state.rewrapped // total,
                    "seconds": time.monotonic() - started,
                }
            )

        self.stdout.write(
            _("Rotating to a new %(provider)s KEK version...")
            % {"provider": active_provider_name()}
        )
        done, retired_versions = rotation.rotate(batch_size=batch_size, progress=progress)
        retired = [f"{k.provider}:v{k.version}" for k in retired_versions]
        self.stdout.write(
            self.style.SUCCESS(
                _("Done: %(count)d data keys now under %(kek)s in %(seconds).1f s.")
                % {
                    "count": done.rewrapped,
                    "kek": f"{done.target.provider}:v{done.target.version}",
                    "seconds": time.monotonic() - started,
                }
            )
        )
        if retired:
            self.stdout.write(_("Retired: %(keks)s.") % {"keks": ", ".join(retired)})

    def status(self) -> None:
        versions, running = rotation.status()
        self.stdout.write(
            _("Configured provider: %(provider)s") % {"provider": active_provider_name()}
        )
        if not versions:
            self.stdout.write(_("No key-encryption key yet (one is made on first use)."))
        # The table stays in English, its words being codes (states, "MISSING"), for scripts.
        self.stdout.write(
            f"{'provider':<10} {'version':>7} {'state':<9} {'live keys':>10} {'destroyed':>10} "
            f"{'material':<9} created"
        )
        for row in versions:
            material = {True: "present", False: "MISSING", None: "unknown"}[row.material_present]
            self.stdout.write(
                f"{row.provider:<10} {row.version:>7} {row.state:<9} {row.live_keys:>10} "
                f"{row.destroyed_keys:>10} {material:<9} {row.created_at:%Y-%m-%d %H:%M}"
            )
        if running is not None:
            self.stdout.write(
                _(
                    "Rotation to %(kek)s in progress: %(done)d/%(total)d rewrapped; run "
                    "`guichet vault rotate` to resume it."
                )
                % {
                    "kek": f"{running.target.provider}:v{running.target.version}",
                    "done": running.rewrapped,
                    "total": running.total,
                }
            )
