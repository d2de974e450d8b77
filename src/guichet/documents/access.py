"""The only way to load a document, and the only door to its content. A document is part of its
dossier: whoever may not see the dossier gets Http404 for its documents too (dossiers.access
decides, first, every time).

Revoking is for supervisors of the issuing organisation: others who see the dossier (the
applicant, an instructor) get PermissionDenied.

A document's PDF names the applicant and carries their answers: it is personal data, opened only
by the readers below (`read_document`, `read_pdf`, the account export), which check sight of the
dossier again and record an agent's download in the transparency log through dossiers.access,
like an attachment's, before decrypting.
"""

import datetime
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from guichet.documents.models import Document, Issuance, IssuanceStatus
from guichet.dossiers import access as dossier_access
from guichet.dossiers.models import Dossier
from guichet.identity.models import Role, User
from guichet.identity.service import AnyUser, ExportFile, ExportPart, roles_in
from guichet.vault.service import (
    DecryptingReader,
    decrypt_chunks,
    decrypt_text,
    open_attachment,
    owner_for,
)

VIEW = "view"
REVOKE = "revoke"


def can_revoke(user: AnyUser, document: Document) -> bool:
    return (
        isinstance(user, User)
        and document.dossier.applicant_id != user.pk
        and Role.SUPERVISOR in roles_in(user, document.organisation_id)
    )


def _parse(document_id: UUID | str) -> UUID:
    try:
        return UUID(str(document_id))
    except ValueError:
        raise Http404 from None


def access_document(
    user: AnyUser, document_id: UUID | str, action: str = VIEW, *, for_update: bool = False
) -> Document:
    documents = Document.objects.select_related("organisation", "procedure", "seal")
    if for_update:
        documents = documents.select_for_update(of=("self",))
    document = documents.filter(pk=_parse(document_id)).first()
    if document is None:
        raise Http404
    # The dossier as its door loads it (procedure, organisation, people): the readers' sight
    # check and the log entry of a download need them, at no query of their own.
    document.dossier = dossier_access.access_dossier(user, document.dossier_id)
    if action == REVOKE and not can_revoke(user, document):
        raise PermissionDenied
    return document


def dossier_documents(user: AnyUser, dossier_id: UUID | str) -> tuple[Dossier, list[Document]]:
    dossier = dossier_access.access_dossier(user, dossier_id)
    documents = list(
        Document.objects.filter(dossier=dossier).select_related(
            "dossier", "organisation", "procedure"
        )
    )
    return dossier, documents


def applicant_documents(user: AnyUser) -> QuerySet[Document]:
    """The documents issued on the user's own applications ("Mes documents")."""
    if not isinstance(user, User):
        return Document.objects.none()
    return Document.objects.filter(dossier__applicant=user).select_related(
        "dossier", "procedure", "organisation"
    )


def _open_pdf(document: Document) -> DecryptingReader:
    """The decrypted PDF, with no check and no log entry: only for the readers below."""
    source = document.file.open("rb")
    try:
        with dossier_access.vault_errors():
            return open_attachment(
                source, owner_for("dossier", document.dossier_id), document.id, "pdf"
            )
    except BaseException:
        source.close()
        raise


def read_document(user: AnyUser, document: Document) -> DecryptingReader:
    """The PDF of a document loaded through access_document (or the applicant's list), for
    `user`, decrypted chunk by chunk as it is sent. Sight of the dossier is checked again and the
    download recorded in the transparency log (an agent's, counted by the bulk-export alert; the
    applicant's own is not logged, like any read of one's own data) before anything is
    decrypted. A missing file raises FileNotFoundError."""
    dossier_access.note_document_read(user, document.dossier, document.pk)
    return _open_pdf(document)


def read_pdf(user: AnyUser, document: Document) -> bytes:
    """The whole PDF, through read_document."""
    with read_document(user, document) as reader:
        return reader.read()


def _open_revocation_comment(document: Document) -> str:
    if document.revocation_comment_sealed is None:
        return ""
    with dossier_access.vault_errors():
        return decrypt_text(
            owner_for("dossier", document.dossier_id),
            document.id,
            "revocation_comment",
            document.revocation_comment_sealed,
        )


def _pdf_chunks(document: Document) -> Iterator[bytes]:
    with document.file.open("rb") as source:
        yield from decrypt_chunks(
            source, owner_for("dossier", document.dossier_id), document.id, "pdf"
        )


def export_documents(user: User) -> ExportPart:
    """The decision documents issued on the user's own applications, for their account export
    (identity.service.register_account_data): each sealed PDF as issued, so that it still
    verifies, and what became of it (a revocation, with its reasons). The person reading their
    own data: sight checked again, nothing logged."""
    data: list[dict[str, Any]] = []
    files: list[ExportFile] = []
    # issued_at is to the second: two documents of one second come in the order of their
    # numbers, so the export reads the same every time.
    for document in applicant_documents(user).order_by("issued_at", "number"):
        dossier_access.note_document_read(user, document.dossier, document.pk)
        path = f"documents/{document.number}.pdf"
        files.append(ExportFile(path, partial(_pdf_chunks, document)))
        data.append(
            {
                "number": document.number,
                "kind": document.kind,
                "dossier": document.dossier.number,
                "procedure": document.procedure.slug,
                "administration": document.organisation.name,
                "language": document.language,
                "issued_at": document.issued_at.isoformat(),
                "expires_at": _iso(document.expires_at),
                "sha256": document.sha256,
                "revoked_at": _iso(document.revoked_at),
                "revocation_reason": document.revocation_reason,
                "revocation_comment": _open_revocation_comment(document),
                "file": path,
            }
        )
    return ExportPart(data=data, files=files)


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def with_revokable(user: AnyUser, documents: Iterable[Document]) -> list[tuple[Document, bool]]:
    return [(document, can_revoke(user, document)) for document in documents]


def unfinished_issuance(dossier: Dossier) -> Issuance | None:
    """The dossier's document issuing when it is not done (being issued, retrying, failed),
    for the agents' page; the caller has already been let in to the dossier. No personal data:
    a status, a count and the sealing machinery's last error."""
    return (
        Issuance.objects.filter(dossier=dossier)
        .exclude(status=IssuanceStatus.ISSUED)
        .order_by("-updated_at")
        .first()
    )
