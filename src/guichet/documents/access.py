"""The only way to load a document. A document is part of its dossier: whoever may not see the
dossier gets Http404 for its documents too (dossiers.access decides, first, every time).

Revoking is for supervisors of the issuing organisation: others who see the dossier (the
applicant, an instructor) get PermissionDenied.
"""

from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from guichet.documents.models import Document, Issuance, IssuanceStatus
from guichet.dossiers import access as dossier_access
from guichet.dossiers.models import Dossier
from guichet.identity.models import Role, User
from guichet.identity.service import AnyUser, roles_in
from guichet.vault.service import DecryptingReader, decrypt_text, open_attachment, owner_for

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
    documents = Document.objects.select_related("dossier", "organisation", "procedure", "seal")
    if for_update:
        documents = documents.select_for_update(of=("self",))
    document = documents.filter(pk=_parse(document_id)).first()
    if document is None:
        raise Http404
    dossier_access.access_dossier(user, document.dossier_id)
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


def open_pdf(document: Document) -> DecryptingReader:
    """The decrypted PDF; only for a document loaded by access_document or the lists above."""
    return open_attachment(
        document.file.open("rb"), owner_for("dossier", document.dossier_id), document.id, "pdf"
    )


def read_pdf(document: Document) -> bytes:
    with open_pdf(document) as reader:
        return reader.read()


def revocation_comment(document: Document) -> str:
    if document.revocation_comment_sealed is None:
        return ""
    return decrypt_text(
        owner_for("dossier", document.dossier_id),
        document.id,
        "revocation_comment",
        document.revocation_comment_sealed,
    )


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
