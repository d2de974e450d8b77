"""Background work for dossiers: notification emails, sent after the change is committed.

Emails carry no personal data beyond the dossier number and procedure: the details (reasons,
messages) stay behind the login, since email is neither private nor under the State's control.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import translation

from guichet.dossiers.models import Dossier
from guichet.dossiers.workflow import Action, State
from guichet.identity.models import User


@task()
def send_dossier_notification(dossier_id: str, recipient_id: str, kind: str, action: str) -> int:
    dossier = Dossier.objects.select_related("procedure").filter(pk=dossier_id).first()
    recipient = User.objects.filter(pk=recipient_id, is_active=True).first()
    if dossier is None or recipient is None:
        return 0  # erased or closed meanwhile: nothing to tell
    is_applicant = recipient.pk == dossier.applicant_id
    path = f"/dossiers/{dossier.pk}/" if is_applicant else f"/agent/dossiers/{dossier.pk}/"
    with translation.override(recipient.language):
        context = {
            "dossier": dossier,
            "recipient": recipient,
            "kind": kind,
            "action_label": Action(action).label if action in Action.values else "",
            "state_label": State(dossier.state).label,
            "url": settings.SITE_URL + path,
        }
        subject = render_to_string("dossiers/email/subject.txt", context).strip()
        body = render_to_string("dossiers/email/body.txt", context)
    return send_mail(subject, body, None, [recipient.email])
