"""What the drills check after a peak or a crash, through the ORM of the instance's database.

- `check_receipts`: every submission a citizen got an acknowledgement for (its dossier id,
  number and the answers they sent) is there, submitted, with the same number, and intact: its
  answers decrypt and equal what was sent, its document decrypts to the bytes sent.
- `check_consistency`: no dossier is half-written anywhere in the database: every dossier past
  the draft has its number, dates, the history event of its submission and the document its
  procedure requires, and every attachment's file is on disk.

Both return a list of problems (empty when all is well). Imported by bench/drills.py once
Django is set up, and unit-tested by tests/bench/test_checks.py.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_LISTED = 20  # problems listed one by one; beyond that, only counted


@dataclass(frozen=True)
class Receipt:
    """What a citizen holds once the server acknowledged the submission."""

    dossier_id: str
    number: str
    answers: dict[str, Any]
    document_sha256: str = ""


def _same(sent: Any, stored: Any) -> bool:
    # The form's validation normalises some answers (a number typed as text, spaces in a
    # phone number): compare what the citizen meant, not the characters they typed.
    if sent == stored:
        return True
    if isinstance(sent, str) and isinstance(stored, int | float):
        return sent.strip() == str(stored)
    if isinstance(sent, str) and isinstance(stored, str):
        digits = "".join(c for c in sent if c.isdigit())
        return bool(digits) and "".join(c for c in stored if c.isdigit()).endswith(digits)
    return False


def check_receipts(receipts: Iterable[Receipt]) -> list[str]:
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from guichet.dossiers import access
    from guichet.dossiers.models import Dossier
    from guichet.dossiers.workflow import State

    problems: list[str] = []
    receipts = list(receipts)
    dossiers = Dossier.objects.select_related("applicant", "procedure").in_bulk(
        [r.dossier_id for r in receipts]
    )
    for receipt in receipts:
        dossier = dossiers.get(receipt.dossier_id) or dossiers.get(_uuid(receipt.dossier_id))
        where = f"{receipt.number} ({receipt.dossier_id})"
        if dossier is None:
            problems.append(f"{where}: acknowledged but missing")
            continue
        if dossier.number != receipt.number:
            problems.append(f"{where}: number is now {dossier.number}")
        if dossier.state == State.DRAFT or dossier.submitted_at is None:
            problems.append(f"{where}: back to draft")
        try:
            stored = access.read_answers(dossier.applicant, dossier)
        except (Http404, PermissionDenied, Exception) as error:
            problems.append(f"{where}: answers do not decrypt ({type(error).__name__})")
            continue
        for name, sent in receipt.answers.items():
            if not _same(sent, stored.get(name)):
                problems.append(f"{where}: answer {name!r} is {stored.get(name)!r}, sent {sent!r}")
        if receipt.document_sha256:
            problems += _check_document(dossier, receipt, where)
    return _capped(problems)


def _check_document(dossier: Any, receipt: Receipt, where: str) -> list[str]:
    from guichet.dossiers import access

    attachments = access.read_attachments(dossier.applicant, dossier)
    if not attachments:
        return [f"{where}: its document is missing"]
    problems = []
    for attachment in attachments:
        try:
            plaintext = access.read_file(dossier.applicant, dossier, attachment)
            try:
                digest = hashlib.sha256(plaintext.read()).hexdigest()
            finally:
                plaintext.close()
        except Exception as error:
            problems.append(f"{where}: document does not decrypt ({type(error).__name__})")
            continue
        if digest != receipt.document_sha256 or digest != attachment.sha256:
            problems.append(f"{where}: document bytes differ from what was sent")
    return problems


def check_consistency() -> list[str]:
    from django.db.models import Exists, OuterRef

    from guichet.dossiers.models import Attachment, Dossier, DossierEvent
    from guichet.dossiers.workflow import State

    problems: list[str] = []
    past_draft = Dossier.objects.exclude(state=State.DRAFT)
    for label, query in (
        ("without a number", past_draft.filter(number__isnull=True)),
        ("without a submission date", past_draft.filter(submitted_at__isnull=True)),
        ("without a deadline", past_draft.filter(due_at__isnull=True)),
        (
            "without the history event of their submission",
            past_draft.exclude(
                Exists(DossierEvent.objects.filter(dossier=OuterRef("pk"), action="submit"))
            ),
        ),
        ("drafts with a number", Dossier.objects.filter(state=State.DRAFT, number__isnull=False)),
    ):
        count = query.count()
        if count:
            problems.append(f"{count} dossier(s) past the draft {label}")
    for dossier in past_draft.select_related("procedure").prefetch_related("attachments"):
        fields = {a.field for a in dossier.attachments.all()}
        for spec in dossier.procedure.form:
            if spec.get("type") == "file" and spec.get("required") and spec["name"] not in fields:
                problems.append(f"{dossier.number}: submitted without its {spec['name']}")
    for attachment in Attachment.objects.all().iterator():
        if not attachment.file.storage.exists(str(attachment.file.name)):
            problems.append(f"attachment {attachment.pk}: its file is not on disk")
    return _capped(problems)


def _uuid(value: str) -> Any:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return value


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"... and {len(problems) - MAX_LISTED} more"]
