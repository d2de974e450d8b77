"""Documents in the API: a dossier's documents and their download (whoever may see the dossier),
revocation (supervisors of the issuing organisation), and public verification (no token)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import FileResponse, Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Router, Schema, UploadedFile

from guichet.documents import access, actions
from guichet.documents.models import Document
from guichet.documents.verify import MAX_PDF_BYTES, verify_pdf, verify_qr
from guichet.documents.views import pdf_response
from guichet.errors import ActionError
from guichet.identity.models import User

router = Router(tags=["documents"])


class DocumentOut(Schema):
    id: UUID
    dossier: UUID
    kind: str
    kind_label: str
    number: str
    language: str
    issued_at: datetime
    expires_at: datetime | None
    sha256: str
    size: int
    revoked_at: datetime | None
    revocation_reason: str
    url: str
    # Its transparency-log inclusion proof (404 until a signed checkpoint covers it).
    proof_url: str


class RevokeIn(Schema):
    reason: str
    comment: str = ""


class QrIn(Schema):
    qr: str


class CheckOut(Schema):
    name: str
    status: str
    detail: str


class VerdictOut(Schema):
    result: str
    checks: list[CheckOut]
    document: dict[str, Any]


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _document(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "dossier": document.dossier_id,
        "kind": document.kind,
        "kind_label": str(document.get_kind_display()),
        "number": document.number,
        "language": document.language,
        "issued_at": document.issued_at,
        "expires_at": document.expires_at,
        "sha256": document.sha256,
        "size": document.size,
        "revoked_at": document.revoked_at,
        "revocation_reason": document.revocation_reason,
        "url": f"/api/v1/dossiers/{document.dossier_id}/documents/{document.pk}",
        "proof_url": f"/transparency/documents/{document.sha256}.tlog-proof",
    }


@router.get("/dossiers/{dossier_id}/documents", response=list[DocumentOut])
def dossier_documents(request: HttpRequest, dossier_id: str) -> list[dict[str, Any]]:
    """The sealed documents issued on a dossier, newest first."""
    _dossier, documents = access.dossier_documents(_user(request), dossier_id)
    return [_document(document) for document in documents]


@router.get("/dossiers/{dossier_id}/documents/{document_id}")
def download_document(request: HttpRequest, dossier_id: str, document_id: str) -> FileResponse:
    """The sealed PDF."""
    user = _user(request)
    document = access.access_document(user, document_id)
    if str(document.dossier_id) != dossier_id.lower():
        raise Http404
    return pdf_response(user, document)


@router.post("/documents/{document_id}/revoke", response=DocumentOut)
def revoke_document(request: HttpRequest, document_id: str, payload: RevokeIn) -> dict[str, Any]:
    """Revoke a document (supervisors of the issuing organisation); verifiers then say revoked."""
    document = actions.do_revoke_document(
        _user(request), document_id, payload.reason, payload.comment
    )
    return _document(document)


@router.post("/verify/qr", response=VerdictOut, auth=None)
def verify_qr_text(request: HttpRequest, payload: QrIn) -> dict[str, Any]:
    """Verify the text of a document's QR code. No token needed."""
    return verify_qr(payload.qr).to_dict()


@router.post("/verify/pdf", response=VerdictOut, auth=None)
def verify_pdf_file(request: HttpRequest, file: File[UploadedFile]) -> dict[str, Any]:
    """Verify a sealed PDF. No token needed; the file is not kept."""
    if (file.size or 0) > MAX_PDF_BYTES:
        message = _("This file is too large to be a Guichet document.")
        raise ActionError(message, {"file": [message]})
    return verify_pdf(file.read()).to_dict()
