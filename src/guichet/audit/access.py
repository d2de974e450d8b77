"""The only way a person loads one event of the log: their own, or nothing.

An event that is not about the caller is answered with Http404, like one that does not exist,
so the sequence numbers of other people's events reveal nothing.
"""

from django.http import Http404

from guichet.audit.models import AuditEvent, SecurityAlert


def access_own_event(user_id: object, seq: int) -> AuditEvent:
    subject = str(user_id) if user_id is not None else ""
    event = AuditEvent.objects.filter(seq=seq).first() if subject else None
    if event is None or event.subject_id != subject:
        raise Http404
    return event


def access_alerts(user: object) -> None:
    """Security alerts are for the platform's administrators (staff) only; anyone else is told
    the page does not exist, so its address reveals nothing to an agent being watched."""
    if not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        raise Http404


def access_alert(user: object, alert_id: int) -> SecurityAlert:
    access_alerts(user)
    alert = SecurityAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise Http404
    return alert
