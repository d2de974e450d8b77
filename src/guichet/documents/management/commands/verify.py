"""`guichet verify FILE|QRTEXT`: check a sealed document (a PDF file) or the text of its QR code.

Prints valid, invalid or revoked with one line per check. Exit status: 0 valid, 1 invalid,
2 revoked.
"""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from guichet.documents.verify import INVALID, MAX_PDF_BYTES, REVOKED, verify_pdf, verify_qr

EXIT = {INVALID: 1, REVOKED: 2}


class Command(BaseCommand):
    help = "Verify a sealed Guichet document (PDF file) or its QR code text."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject", metavar="FILE|QRTEXT")
        parser.add_argument("--json", action="store_true", help="Print the verdict as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        subject = options["subject"]
        path = Path(subject)
        if subject.startswith("SN1:"):
            verdict = verify_qr(subject)
        elif path.is_file():
            if path.stat().st_size > MAX_PDF_BYTES:
                raise CommandError(
                    _("%(path)s is larger than a Guichet document can be.") % {"path": path}
                )
            verdict = verify_pdf(path.read_bytes())
        else:
            raise CommandError(
                _("%(subject)s is neither a file nor QR text starting with SN1:.")
                % {"subject": repr(subject)}
            )
        if options["json"]:
            self.stdout.write(json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False))
        else:
            # The result, the document's keys and the checks' names and statuses are codes, the
            # same as in --json, the API and tools/verify_document.py; the details are translated.
            self.stdout.write(verdict.result.upper())
            for key, value in verdict.document.items():
                if value:
                    self.stdout.write(f"  {key}: {value}")
            for check in verdict.checks:
                self.stdout.write(f"  [{check.status}] {check.name}: {check.detail}")
        if verdict.result in EXIT:
            raise SystemExit(EXIT[verdict.result])
