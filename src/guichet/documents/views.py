"""Document pages: the applicant's "Mes documents", the agents' documents of a dossier with the
revocation form, the public verifier, and the published trust and status lists.

Like dossiers' pages, the applicant works from /documents/ and agents from /agent/ (where the
middleware has made sure they set up two-factor authentication): each space refuses the other's
people with 404.
"""

import hashlib
import logging
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from guichet.documents import access, actions, publication, transparency
from guichet.documents.models import Document, RevocationReason
from guichet.documents.verify import MAX_PDF_BYTES, Verdict, verify_pdf, verify_qr
from guichet.dossiers import access as dossier_access
from guichet.errors import ActionError, Conflict
from guichet.identity.models import User

logger = logging.getLogger(__name__)

LIST_PAGE_SIZE = 50
CHECK_LABELS = {
    "signature": gettext_lazy("Seal signature"),
    "chain": gettext_lazy("Certificate chain"),
    "timestamp": gettext_lazy("Time-stamp"),
    "qr": gettext_lazy("QR code"),
    "hash": gettext_lazy("Document content"),
    "binding": gettext_lazy("QR code and seal"),
    "expiry": gettext_lazy("Validity period"),
    "revocation": gettext_lazy("Revocation"),
    "transparency_log": gettext_lazy("Transparency log"),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def pdf_response(user: User, document: Document) -> FileResponse:
    """The decrypted PDF as a download for `user` (read_document logs an agent's), never cached
    by shared caches."""
    try:
        reader = access.read_document(user, document)
    except FileNotFoundError:
        logger.error("document %s: file missing from storage", document.pk)
        raise Http404 from None
    response = FileResponse(
        reader,
        as_attachment=True,
        filename=f"{document.number}.pdf",
        content_type="application/pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- The applicant's space --------------------------------------------------------------------


@login_required
@require_GET
def my_documents(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(access.applicant_documents(_user(request)), LIST_PAGE_SIZE)
    return render(
        request, "documents/list.html", {"page": paginator.get_page(request.GET.get("page"))}
    )


@login_required
@require_GET
def download(request: HttpRequest, document_id: UUID) -> FileResponse:
    user = _user(request)
    document = access.access_document(user, document_id)
    if document.dossier.applicant_id != user.pk:
        raise Http404  # agents download from the back office
    return pdf_response(user, document)


# --- The agents' back office ------------------------------------------------------------------


def _agent_document(user: User, document_id: UUID, action: str = access.VIEW) -> Document:
    document = access.access_document(user, document_id)
    if not dossier_access.get_abilities(user, document.dossier)[dossier_access.INSTRUCT]:
        raise Http404
    if action == access.REVOKE and not access.can_revoke(user, document):
        raise PermissionDenied
    return document


@login_required
@require_GET
def agent_documents(request: HttpRequest, dossier_id: UUID) -> HttpResponse:
    user = _user(request)
    dossier, documents = access.dossier_documents(user, dossier_id)
    if not dossier_access.get_abilities(user, dossier)[dossier_access.INSTRUCT]:
        raise Http404
    context = {
        "dossier": dossier,
        "rows": access.with_revokable(user, documents),
        "issuance": access.unfinished_issuance(dossier),
        "max_attempts": actions.MAX_ISSUE_ATTEMPTS,
    }
    return render(request, "documents/agent/list.html", context)


@login_required
@require_GET
def agent_download(request: HttpRequest, document_id: UUID) -> FileResponse:
    user = _user(request)
    return pdf_response(user, _agent_document(user, document_id))


@login_required
@require_http_methods(["GET", "POST"])
def agent_revoke(request: HttpRequest, document_id: UUID) -> HttpResponse:
    """A confirmation page with the reasons, since a revocation cannot be undone."""
    user = _user(request)
    document = _agent_document(user, document_id, access.REVOKE)
    reason = request.POST.get("reason", "")
    comment = request.POST.get("comment", "")
    errors: dict[str, list[str]] = {}
    notice = ""
    status = 200
    if request.method == "POST":
        try:
            actions.do_revoke_document(user, document.pk, reason, comment)
        except Conflict as error:
            notice, status = error.message, 409
        except ActionError as error:
            errors, status = error.fields or {"": [error.message]}, 400
        else:
            messages.success(request, _("The document is revoked: verifiers now report it so."))
            return redirect("documents_agent_list", document.dossier_id)
    context = {
        "document": document,
        "reasons": RevocationReason.choices,
        "reason": reason,
        "comment": comment,
        "errors": errors,
        "has_errors": bool(errors),
        "notice": notice,
        "page_url": reverse("documents_agent_revoke", args=[document.pk]),
    }
    return render(request, "documents/agent/revoke.html", context, status=status)


# --- Public: verification and published lists -------------------------------------------------


def _verdict_context(verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "checks": [
            {"label": CHECK_LABELS.get(check.name, check.name), "check": check}
            for check in verdict.checks
        ],
    }


@require_http_methods(["GET", "POST"])
def verifier(request: HttpRequest) -> HttpResponse:
    """No login: anyone holding a document, or its paper, checks it here. Works without JS."""
    context: dict[str, Any] = {"qr_text": "", "errors": {}}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        qr_text = request.POST.get("qr", "").strip()
        context["qr_text"] = qr_text[:8192]
        if upload is not None:
            if (upload.size or 0) > MAX_PDF_BYTES:
                context["errors"] = {
                    "file": [_("This file is too large to be a Guichet document.")]
                }
                status = 400
            else:
                context.update(_verdict_context(verify_pdf(upload.read())))
        elif qr_text:
            if "\x00" in qr_text:
                context["errors"] = {"qr": [_("Null characters are not allowed.")]}
                status = 400
            else:
                context.update(_verdict_context(verify_qr(qr_text)))
        else:
            context["errors"] = {
                "file": [_("Choose a PDF file, or paste the text of the QR code.")]
            }
            status = 400
    ca, _tsa = actions.ensure_platform()
    context["ca_fingerprint"] = publication.ca_fingerprint(ca)
    context["has_errors"] = bool(context["errors"])
    return render(request, "documents/verifier.html", context, status=status)


def _json(request: HttpRequest, body: bytes, max_age: int) -> HttpResponse:
    """Public and cacheable: offline verifiers and other sites fetch them freely, and a client
    holding the current copy gets a 304."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Access-Control-Allow-Origin"] = "*"
    patch_cache_control(response, public=True, max_age=max_age)
    return response


@require_GET
def trust_list(request: HttpRequest) -> HttpResponse:
    return _json(request, publication.trust_list(), 3600)


@require_GET
def status_list(request: HttpRequest) -> HttpResponse:
    return _json(request, publication.status_list(), 300)


@require_GET
def document_proof(request: HttpRequest, sha256: str) -> HttpResponse:
    """The transparency-log inclusion proof of the document whose sealed file has this SHA-256,
    with its log entry (transparency.py). Public: asking needs the hash, so the file; 404 for
    an unknown hash or while no signed checkpoint covers the document yet."""
    document = Document.objects.filter(sha256=sha256.lower()).first()
    if document is None:
        raise Http404
    text = transparency.proof_text(document)
    if text is None:
        raise Http404
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{document.number}.tlog-proof"'
    response["Access-Control-Allow-Origin"] = "*"
    # A later checkpoint gives a longer proof of the same entry; either stays valid.
    patch_cache_control(response, public=True, max_age=300)
    return response
