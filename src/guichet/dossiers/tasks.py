"""Background work for dossiers: notification emails, sent after the change is committed, and
the retention pass that warns applicants and erases what the law no longer lets us keep.

Emails carry no personal data beyond the dossier number and procedure: the details (reasons,
messages) stay behind the login, since email is neither private nor under the State's control.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import mailers, send_mail
from django.tasks import task, task_backends
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guichet import rows
from guichet.dossiers.models import Dossier, DossierTombstone, Notification
from guichet.dossiers.workflow import TACIT_DECISION, Action, State, state_label, workflow_of
from guichet.identity.models import User
from guichet.identity.service import open_names
from guichet.mail import PlainTextEmail

logger = logging.getLogger(__name__)


FLUSH_BATCH = 100
# A sender that has not finished with its rows by then is taken for dead: they go out again.
CLAIM_SECONDS = 300.0
# How long a notification may wait for its batch on a peak (outbox.enqueue_coalesced).
FLUSH_AGAIN_SECONDS = 1.0

# The task worker shares the cores with the web workers: its statements are built once
# (guichet/rows.py).
_DOSSIER = rows.Select(Dossier, ("procedure",), where="{id} = %s", params=("id",))
_RECIPIENT = rows.Select(User, where="{id} = %s AND {is_active} = %s", params=("id", "is_active"))


@task()
def flush_notifications() -> int:
    """Send every notification owed (models.Notification), a hundred at a time over one mail
    connection, and return how many went out. One run per batch instead of one task per email:
    on PostgreSQL under 16 clients submitting, the worker's task per email (claimed, run,
    marked done, each a transaction) took as much CPU as the submission itself
    (docs/performance.md). A mail server that fails stops the run; what it did not take is
    sent again once the claim runs out."""
    from guichet.dossiers import actions

    sent = 0
    worked = False
    while batch := actions.do_claim_notifications(FLUSH_BATCH, CLAIM_SECONDS):
        worked = True
        done, count = _send(batch)
        actions.do_forget_notifications(done)
        sent += count
        if len(done) < len(batch):
            break
    backend = task_backends[flush_notifications.backend]
    if worked and backend.supports_defer:
        # What was committed during this run, by a process that had queued us just before.
        later = timezone.now() + timedelta(seconds=FLUSH_AGAIN_SECONDS)
        flush_notifications.using(run_after=later).enqueue()
    return sent


def _send(batch: list[Notification]) -> tuple[list[Notification], int]:
    """The notifications dealt with (sent, or nothing left to tell) and the emails sent."""
    dossiers = {
        d.pk: d
        for d in Dossier.objects.select_related("procedure").filter(
            pk__in={n.dossier_id for n in batch}
        )
    }
    recipients = {
        u.pk: u for u in User.objects.filter(pk__in={n.recipient_id for n in batch}, is_active=True)
    }
    open_names(list(recipients.values()))  # their own names, to greet them
    done: list[Notification] = []
    sent = 0
    connection = mailers.default
    try:
        connection.open()
        for notification in batch:
            dossier = dossiers.get(notification.dossier_id)
            recipient = recipients.get(notification.recipient_id)
            if dossier is not None and recipient is not None:
                message = _message(dossier, recipient, notification.kind, notification.action)
                sent += connection.send_messages([message]) or 0
            done.append(notification)
    except Exception:
        logger.exception("notifications: the mail server failed, %d left", len(batch) - len(done))
    finally:
        connection.close()
    return done, sent


def _message(dossier: Dossier, recipient: User, kind: str, action: str) -> PlainTextEmail:
    is_applicant = recipient.pk == dossier.applicant_id
    path = f"/dossiers/{dossier.pk}/" if is_applicant else f"/agent/dossiers/{dossier.pk}/"
    with translation.override(recipient.language):
        context = {
            "dossier": dossier,
            "recipient": recipient,
            "kind": kind,
            "action_label": _action_label(dossier, action),
            "state_label": state_label(dossier),
            "url": settings.SITE_URL + path,
        }
        # One line whatever the procedure's title holds: a subject cannot span lines. Joined
        # at line breaks only: split() would also turn the no-break space French puts before
        # a colon ("Demande SN-…\u00a0: Déposée") into a plain one.
        lines = render_to_string("dossiers/email/subject.txt", context).splitlines()
        subject = " ".join(line.strip() for line in lines if line.strip())
        body = render_to_string("dossiers/email/body.txt", context)
    # Composed by guichet.mail: one per submission, on the cores the web workers share.
    return PlainTextEmail(subject=subject, body=body, to=[recipient.email])


@task()
def send_dossier_notification(dossier_id: str, recipient_id: str, kind: str, action: str) -> int:
    """One notification as its own task: how they were queued before flush_notifications.
    Kept for the rows an upgrade finds in the queue, and for resending one by hand."""
    dossier = _DOSSIER.one(dossier_id)
    recipient = _RECIPIENT.one(recipient_id, True)
    if dossier is None or recipient is None:
        return 0  # erased or closed meanwhile: nothing to tell
    open_names([recipient])
    return _message(dossier, recipient, kind, action).send()


def _action_label(dossier: Dossier, action: str) -> str:
    if action == TACIT_DECISION:
        return str(_("Tacit decision"))
    transition = workflow_of(dossier).transition(action)
    if transition is not None:
        return transition.display
    return str(Action(action).label) if action in Action.values else ""


@dataclass
class ClockReport:
    """What a pass of the workflow clock did: dossier numbers."""

    tacit: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def workflow_clock_pass() -> ClockReport:
    """Apply tacit decisions that are due, then escalate deadline breaches not yet escalated,
    each dossier in its own transaction so one failure stops nothing else (it is retried on the
    next pass: both actions check again under the row lock, so running twice does nothing)."""
    from guichet.dossiers import access, actions

    report = ClockReport()
    now = timezone.now()
    for dossier_id in access.tacit_due(now):
        try:
            decided = actions.do_apply_tacit_decision(dossier_id)
        except Exception:
            logger.exception("workflow clock: tacit decision failed for %s", dossier_id)
            report.failed.append(str(dossier_id))
            continue
        if decided is not None:
            report.tacit.append(decided.number or str(dossier_id))
    for dossier_id in access.escalation_due(now):
        try:
            if actions.do_escalate_dossier(dossier_id):
                report.escalated.append(str(dossier_id))
        except Exception:
            logger.exception("workflow clock: escalation failed for %s", dossier_id)
            report.failed.append(str(dossier_id))
    return report


@task()
def run_workflow_clock() -> dict[str, list[str]]:
    """Tacit decisions and escalations, enqueued by `guichet schedule`."""
    report = workflow_clock_pass()
    return {"tacit": report.tacit, "escalated": report.escalated, "failed": report.failed}


def notice_days() -> int:
    return int(getattr(settings, "GUICHET_RETENTION_NOTICE_DAYS", 30))


@dataclass
class RetentionReport:
    """What a retention pass did (or, with dry_run, would do): dossier numbers or ids."""

    warned: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _name(dossier: Dossier) -> str:
    return dossier.number or f"draft {dossier.pk}"


def retention_pass(dry_run: bool = False) -> RetentionReport:
    """Warn applicants GUICHET_RETENTION_NOTICE_DAYS before their dossier's erasure (once), then
    erase every dossier whose date has passed, each in its own transaction so that one failure
    (an unreachable key service) stops nothing else and is retried on the next pass."""
    from guichet.dossiers import access, actions

    report = RetentionReport()
    warn, erase = access.retention_due(timezone.now(), notice_days())
    for due in warn:
        report.warned.append(_name(due.dossier))
        if not dry_run:
            _warn(due.dossier, due.erase_on)
    for due in erase:
        if dry_run:
            report.erased.append(_name(due.dossier))
            continue
        reason = (
            DossierTombstone.Reason.ABANDONED_DRAFT
            if due.dossier.state == State.DRAFT
            else DossierTombstone.Reason.RETENTION
        )
        try:
            if actions.do_erase_dossier(due.dossier.pk, reason) is not None:
                report.erased.append(_name(due.dossier))
        except Exception:
            logger.exception("retention: dossier %s could not be erased", due.dossier.pk)
            report.failed.append(_name(due.dossier))
    return report


def _warn(dossier: Dossier, erase_on: object) -> None:
    from guichet.dossiers import actions

    recipient = dossier.applicant
    if recipient.is_active:
        open_names([recipient])
        with translation.override(recipient.language):
            context = {
                "dossier": dossier,
                "recipient": recipient,
                "erase_on": erase_on,
                "draft": dossier.state == State.DRAFT,
                "export_url": settings.SITE_URL + "/account/export/",
                "url": f"{settings.SITE_URL}/dossiers/{dossier.pk}/",
            }
            subject = render_to_string("dossiers/email/retention_subject.txt", context).strip()
            body = render_to_string("dossiers/email/retention_body.txt", context)
        send_mail(subject, body, None, [recipient.email])
    # Marked after sending: a failed email is tried again on the next pass.
    actions.do_mark_retention_notice(dossier.pk)


@task()
def run_retention(dry_run: bool = False) -> dict[str, list[str]]:
    """The retention pass as a task; `guichet retention run` runs the same pass directly."""
    report = retention_pass(dry_run=dry_run)
    return {"warned": report.warned, "erased": report.erased, "failed": report.failed}
