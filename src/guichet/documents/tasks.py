"""Background work: issue a decided dossier's document, then tell the applicant.

Emails carry no personal data beyond the document and dossier numbers: the document itself stays
behind the login, since email is neither private nor under the State's control.
"""

import logging
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import translation

from guichet.documents.models import Document
from guichet.identity.models import User

logger = logging.getLogger(__name__)


def _send(document: Document, recipient: User, template: str) -> int:
    with translation.override(recipient.language):
        context = {
            "document": document,
            "kind_label": document.get_kind_display(),
            "dossier_number": document.dossier.number,
            "url": f"{settings.SITE_URL}/documents/",
        }
        subject = render_to_string(f"documents/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"documents/email/{template}_body.txt", context)
    return send_mail(subject, body, None, [recipient.email])


@task()
def issue_document_task(dossier_id: str) -> str:
    """Enqueued by the dossier's accept/reject action on commit. Idempotent: run twice, it
    issues one document and sends one email."""
    from guichet.documents.service import issue

    document, new = issue(UUID(dossier_id))
    if new:
        applicant = User.objects.filter(pk=document.dossier.applicant_id, is_active=True).first()
        if applicant is not None:
            _send(document, applicant, "ready")
    return str(document.pk)


@task()
def notify_document_revoked(document_id: str) -> int:
    document = Document.objects.select_related("dossier").filter(pk=document_id).first()
    if document is None:
        return 0
    applicant = User.objects.filter(pk=document.dossier.applicant_id, is_active=True).first()
    if applicant is None:
        return 0
    return _send(document, applicant, "revoked")
