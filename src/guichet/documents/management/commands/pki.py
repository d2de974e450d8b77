"""`guichet pki init|issue ORG|revoke ORG|list|export DIR`: the platform's small PKI.

init           the platform CA (self-signed, EC P-256, 20 years) and the embedded time-stamping
               authority (certificate from the CA, timeStamping usage, labelled not qualified)
issue ORG      a new seal certificate for the organisation with this short name; its previous
               one is superseded (still valid for the documents it sealed)
revoke ORG     revoke the organisation's current seal (its key is compromised): everything it
               sealed then verifies as revoked
list           every certificate with its status, and the CA's fingerprint to pin
export DIR     write the signed trust list, status list and CA certificate, for offline verifiers

Keys go to the key store GUICHET_KEY_PROVIDER names (local files or the PKCS#11 token).
"""

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.documents import actions, pki, publication
from guichet.documents.models import SealCertificate
from guichet.errors import ActionError
from guichet.identity.service import organisation_by_slug
from guichet.vault.errors import VaultError


class Command(BaseCommand):
    help = "Manage the platform CA, the embedded TSA and organisations' seal certificates."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True)
        verbs.add_parser("init", help="Create the platform CA and the embedded TSA.")
        for verb, text in (
            ("issue", "Issue a new seal certificate to an organisation."),
            ("revoke", "Revoke an organisation's seal certificate."),
        ):
            verbs.add_parser(verb, help=text).add_argument("organisation", metavar="ORG-SLUG")
        verbs.add_parser("list", help="List certificates and the CA fingerprint.")
        verbs.add_parser(
            "export", help="Write trust list, status list and CA to DIR."
        ).add_argument("directory", metavar="DIR")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['verb']}")(options)
        except (ActionError, VaultError) as error:
            raise CommandError(str(getattr(error, "message", error))) from error

    def _organisation(self, slug: str) -> Any:
        organisation = organisation_by_slug(slug)
        if organisation is None:
            raise CommandError(_("No organisation has the short name %(slug)s.") % {"slug": slug})
        return organisation

    def do_init(self, options: dict[str, Any]) -> None:
        ca, tsa, made = actions.do_init_pki()
        self.stdout.write(_("Created.") if made else _("Already initialised; nothing changed."))
        self._row(ca)
        self._row(tsa)
        self._fingerprint(publication.ca_fingerprint(pki.load(ca)))

    def do_issue(self, options: dict[str, Any]) -> None:
        row = actions.do_issue_seal_certificate(self._organisation(options["organisation"]))
        self.stdout.write(_("Issued:"))
        self._row(row)

    def do_revoke(self, options: dict[str, Any]) -> None:
        row = actions.do_revoke_seal_certificate(self._organisation(options["organisation"]))
        self.stdout.write(_("Revoked:"))
        self._row(row)

    def do_list(self, options: dict[str, Any]) -> None:
        rows = SealCertificate.objects.select_related("organisation").order_by("kind", "created_at")
        if not rows:
            self.stdout.write(_("No certificate yet: run `guichet pki init`."))
            return
        for row in rows:
            self._row(row)
        ca = pki.active("ca")
        if ca is not None:
            self._fingerprint(publication.ca_fingerprint(ca))

    def do_export(self, options: dict[str, Any]) -> None:
        directory = Path(options["directory"])
        directory.mkdir(parents=True, exist_ok=True)
        ca, _tsa = actions.ensure_platform()
        (directory / "guichet-trust-list.json").write_bytes(publication.trust_list())
        (directory / "guichet-status-list.json").write_bytes(publication.status_list())
        pem = x509.load_der_x509_certificate(ca.der).public_bytes(serialization.Encoding.PEM)
        (directory / "guichet-ca.pem").write_bytes(pem)
        names = "guichet-trust-list.json, guichet-status-list.json and guichet-ca.pem"
        self.stdout.write(
            _("Wrote %(names)s to %(directory)s.") % {"names": names, "directory": directory}
        )

    def _fingerprint(self, fingerprint: str) -> None:
        # The fingerprint stays the line's last word, whatever the language, for scripts.
        self.stdout.write(
            _("CA SHA-256 fingerprint: %(fingerprint)s") % {"fingerprint": fingerprint}
        )

    def _row(self, row: SealCertificate) -> None:
        # One record per certificate, kept in English with its codes (kind, status) for scripts.
        owner = row.organisation.slug if row.organisation else "platform"
        self.stdout.write(
            f"{row.kind:5} {owner:28} {row.status:10} serial {row.serial[:16]}… kid {row.kid} "
            f"valid {row.not_before:%Y-%m-%d} to {row.not_after:%Y-%m-%d} "
            f"key {row.key_provider}:{row.key_label}"
        )
