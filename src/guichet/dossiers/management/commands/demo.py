from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from guichet.demo import ACCOUNTS, DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Load the demo organisations, accounts, procedures and dossiers (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-dossiers", action="store_true", help="Accounts and catalog only.")
        parser.add_argument("--quiet", action="store_true", help="Do not print the accounts.")

    def handle(self, *args: Any, **options: Any) -> None:
        load_demo(with_dossiers=not options["no_dossiers"])
        if options["quiet"]:
            return
        loaded = _("Demo data loaded. Accounts (password for all: %(password)s):")
        self.stdout.write(self.style.SUCCESS(loaded % {"password": DEMO_PASSWORD}))
        for account in ACCOUNTS:
            where = f" @ {account.organisation}" if account.organisation else ""
            totp = ""
            if account.totp_secret:
                totp = "  " + _("TOTP secret: %(secret)s") % {"secret": account.totp_secret}
            self.stdout.write(f"  {account.role:<11} {account.email:<34}{where}{totp}")
        self.stdout.write(
            _("Agents sign in with a TOTP code: add the secret to an authenticator app.")
        )
