"""Background work: issue a decided dossier's document, then tell the applicant.

Emails carry no personal data beyond the document and dossier numbers: the document itself stays
behind the login, since email is neither private nor under the State's control.
"""

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import translation

from guichet.documents.models import Document
from guichet.errors import ActionError
from guichet.identity.models import User

logger = logging.getLogger(__name__)

# A retry's own delayed task normally runs at its time; the clock's sweep only takes those this
# late, which lost their task (a process that died between recording the failure and queueing
# the retry, a queue emptied by hand), so that it does not race the task about to run.
LOST_RETRY_AFTER = timedelta(minutes=10)


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
    issues one document and sends one email.

    A failed attempt (the time-stamping authority or the key service out of reach, storage
    full...) is recorded on the dossier's Issuance and tried again later with a growing delay,
    MAX_ISSUE_ATTEMPTS times in all; then it waits for an operator (`guichet documents
    retry`). The exception is raised again so the task queue records the failure too.
    """
    from guichet.documents import actions
    from guichet.documents.service import issue, kind_of

    dossier = UUID(dossier_id)
    try:
        kind = kind_of(dossier)
    except (ActionError, ObjectDoesNotExist):
        # Not decided, or gone (erased): nothing to issue, and retrying will not change it.
        logger.warning("documents: nothing to issue for dossier %s", dossier_id)
        raise
    issuance = actions.do_start_issuance(dossier, kind)
    try:
        document, new = issue(dossier)
    except Exception as error:
        final = isinstance(error, ActionError)
        issuance = actions.do_record_issue_failure(issuance, error, final=final)
        logger.warning(
            "documents: issuing for dossier %s failed (attempt %d, %s): %s",
            dossier_id,
            issuance.attempts,
            issuance.status,
            issuance.last_error,
        )
        if issuance.next_attempt_at is not None:
            schedule_retry(dossier_id, issuance.next_attempt_at)
        raise
    actions.do_record_issued(dossier, kind, document)
    if new:
        applicant = User.objects.filter(pk=document.dossier.applicant_id, is_active=True).first()
        if applicant is not None:
            _send(document, applicant, "ready")
    return str(document.pk)


def schedule_retry(dossier_id: str, when: datetime) -> bool:
    """Enqueue the next attempt to run at `when`, if the queue can hold a task until then; if
    not (the immediate backend), `guichet documents retry --due` sends it when due."""
    if not issue_document_task.get_backend().supports_defer:
        return False
    issue_document_task.using(run_after=when).enqueue(dossier_id=dossier_id)
    return True


@task()
def retry_lost_issuances() -> int:
    """Send again the issuings whose retry is long overdue (run by `guichet schedule`). Failed
    ones, attempts spent, still wait for an operator (`guichet documents retry`)."""
    from guichet.documents import actions

    rearmed = actions.do_rearm_issuances(failed=False, due=True, overdue_by=LOST_RETRY_AFTER)
    for issuance in rearmed:
        logger.warning("documents: retry of dossier %s was lost, queued again", issuance.dossier_id)
        issue_document_task.enqueue(dossier_id=str(issuance.dossier_id))
    return len(rearmed)


@task()
def notify_document_revoked(document_id: str) -> int:
    document = Document.objects.select_related("dossier").filter(pk=document_id).first()
    if document is None:
        return 0
    applicant = User.objects.filter(pk=document.dossier.applicant_id, is_active=True).first()
    if applicant is None:
        return 0
    return _send(document, applicant, "revoked")
