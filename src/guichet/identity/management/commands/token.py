"""`guichet token`: API tokens for operators, scripts and integrations, without the web pages.

    guichet token create <email> [--name NAME]   prints the new token (shown once) on stdout
    guichet token list <email>                   one line per token: id, name, prefix, dates
    guichet token revoke <token-id>              the token stops working at once

Only the token goes to stdout, so `TOKEN=$(guichet token create ...)` works in a script; what a
person reads goes to stderr.
"""

from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.identity.actions import do_create_token, do_revoke_token
from guichet.identity.models import ApiToken, User
from guichet.identity.service import has_mfa, is_agent


class Command(BaseCommand):
    help = "Create, list and revoke API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        create = commands.add_parser("create", help="Create a token for a user and print it.")
        create.add_argument("email", help="The email address of the token's user.")
        create.add_argument("--name", default="CLI", help="What the token is for (default: CLI).")
        listing = commands.add_parser("list", help="List a user's tokens.")
        listing.add_argument("email", help="The email address of the user.")
        revoke = commands.add_parser("revoke", help="Revoke a token.")
        revoke.add_argument("token_id", help="The token's id, as `token list` shows it.")

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        if command == "create":
            self.create_token(options["email"], options["name"])
        elif command == "list":
            self.list_tokens(options["email"])
        else:
            self.revoke_token(options["token_id"])

    def create_token(self, email: str, name: str) -> None:
        user = _user(email)
        if not user.is_active:
            raise CommandError(
                _("The account %(email)s is deactivated: a token would not work.")
                % {"email": user.email}
            )
        token, raw = do_create_token(user, name[:100])
        self.stderr.write(
            _("Token %(id)s (%(name)s) created for %(email)s. It is shown only this once:")
            % {"id": token.id, "name": token.name, "email": user.email},
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(raw)
        if is_agent(user) and not has_mfa(user):
            self.stderr.write(
                _(
                    "Warning: this agent has no TOTP device yet; the API refuses agents' tokens "
                    "until they set one up."
                ),
                style_func=self.style.WARNING,
            )

    def list_tokens(self, email: str) -> None:
        user = _user(email)
        tokens = ApiToken.objects.filter(user=user)
        if not tokens:
            self.stderr.write(_("%(email)s has no API token.") % {"email": user.email})
            return
        # One record per token on stdout, kept in English for the scripts that read it.
        for token in tokens:
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            state = f"revoked {token.revoked_at.isoformat()}" if token.revoked_at else "active"
            self.stdout.write(
                f"{token.id}  {token.prefix}…  {token.name}  "
                f"created {token.created_at.isoformat()}  last used {used}  {state}"
            )

    def revoke_token(self, token_id: str) -> None:
        try:
            parsed = UUID(token_id)
        except ValueError:
            raise CommandError(
                _("%(id)s is not a token id (see `guichet token list`).") % {"id": repr(token_id)}
            ) from None
        token = ApiToken.objects.select_related("user").filter(pk=parsed).first()
        if token is None:
            raise CommandError(_("No token has the id %(id)s.") % {"id": parsed})
        if not do_revoke_token(token.user, token.pk):
            raise CommandError(_("Token %(id)s was already revoked.") % {"id": parsed})
        self.stderr.write(
            _("Token %(id)s of %(email)s revoked.") % {"id": parsed, "email": token.user.email},
            self.style.SUCCESS,
        )


def _user(email: str) -> User:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise CommandError(_("No user has the email address %(email)s.") % {"email": email})
    return user
