"""Background work of the audit log: signing checkpoints, and emailing security alerts.

`sign_checkpoint_if_due` is cheap when nothing is due (two small reads), so a scheduler may
enqueue it every few seconds; it signs when GUICHET_AUDIT_CHECKPOINT_EVENTS new events or
GUICHET_AUDIT_CHECKPOINT_SECONDS seconds have passed since the last checkpoint. It also drops the
alert counts that fell out of the alert window (one indexed DELETE).
"""

from django.conf import settings
from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from guichet.audit import alerts
from guichet.audit.actions import do_sign_checkpoint
from guichet.audit.models import SecurityAlert


@task()
def sign_checkpoint_if_due() -> int | None:
    """The size of the checkpoint signed now, or None when none was due."""
    alerts.forget_old_tallies()
    checkpoint = do_sign_checkpoint(only_if_due=True)
    return None if checkpoint is None else checkpoint.tree_size


@task()
def send_security_alert(alert_id: int) -> int:
    """Email one alert to the security contact recorded with it; once, even if enqueued twice."""
    alert = SecurityAlert.objects.filter(pk=alert_id, emailed_at__isnull=True).first()
    if alert is None or not alert.recipient:
        return 0
    limits = alerts.thresholds()
    # Security contacts are administrations' mailboxes, with no language of their own.
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "alert": alert,
            "local_time": alert.raised_at.astimezone(limits.zone).strftime("%Y-%m-%d %H:%M"),
            "minutes": max(alert.window_seconds // 60, 1),
            "url": settings.SITE_URL + reverse("security_alert", args=[alert.pk]),
        }
        subject = render_to_string("audit/email/alert_subject.txt", context).strip()
        body = render_to_string("audit/email/alert_body.txt", context)
    sent = send_mail(subject, body, None, [alert.recipient])
    SecurityAlert.objects.filter(pk=alert.pk).update(emailed_at=timezone.now())
    return sent
