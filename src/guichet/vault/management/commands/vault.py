"""`guichet vault rotate|status`: operator commands for key-encryption keys.

rotate   make a new KEK version with the configured provider (GUICHET_KEY_PROVIDER), rewrap every
         data key under it in batches while the platform keeps serving, then retire the versions
         nothing uses any more. Run it again after an interruption: it resumes.
status   KEK versions with their state and data key counts, and any rotation in progress.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guichet.vault import rotation
from guichet.vault.errors import VaultError
from guichet.vault.models import Rotation
from guichet.vault.providers import active_provider_name


class Command(BaseCommand):
    help = "Manage the vault's key-encryption keys: rotate, status."
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

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "rotate":
                self.rotate(options["batch_size"])
            else:
                self.status()
        except VaultError as error:
            raise CommandError(str(error)) from error

    def rotate(self, batch_size: int) -> None:
        if batch_size < 1:
            raise CommandError("The batch size must be at least 1.")
        started = time.monotonic()

        def progress(state: Rotation) -> None:
            total = max(state.total, state.rewrapped, 1)
            self.stdout.write(
                f"batch {state.batches}: {state.rewrapped}/{state.total} data keys rewrapped "
                f"({100 * state.rewrapped // total}%, {time.monotonic() - started:.1f} s)"
            )

        self.stdout.write(f"Rotating to a new {active_provider_name()} KEK version...")
        done, retired_versions = rotation.rotate(batch_size=batch_size, progress=progress)
        retired = [f"{k.provider}:v{k.version}" for k in retired_versions]
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {done.rewrapped} data keys now under {done.target.provider}:"
                f"v{done.target.version} in {time.monotonic() - started:.1f} s."
            )
        )
        if retired:
            self.stdout.write(f"Retired: {', '.join(retired)}.")

    def status(self) -> None:
        versions, running = rotation.status()
        self.stdout.write(f"Configured provider: {active_provider_name()}")
        if not versions:
            self.stdout.write("No key-encryption key yet (one is made on first use).")
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
                f"Rotation to {running.target.provider}:v{running.target.version} in progress: "
                f"{running.rewrapped}/{running.total} rewrapped; run `guichet vault rotate` "
                "to resume it."
            )
