"""Writes of the audit app itself: signing checkpoints, acknowledging security alerts. (Events
are appended by service.py, in the transaction of the change they record.)"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from guichet.audit import keys, notes, service, tlog
from guichet.audit.models import Action, Checkpoint, SecurityAlert
from guichet.errors import ActionError, Conflict, refuse_nul

NOTE_MAX = 1000


class LogInconsistent(RuntimeError):
    """The stored tree does not extend the last signed checkpoint: signing now would publish
    two inconsistent checkpoints, which a log must never do."""


def checkpoint_every_events() -> int:
    return int(getattr(settings, "GUICHET_AUDIT_CHECKPOINT_EVENTS", 1000))


def checkpoint_every_seconds() -> int:
    return int(getattr(settings, "GUICHET_AUDIT_CHECKPOINT_SECONDS", 60))


def checkpoint_due(size: int, last: Checkpoint | None) -> bool:
    if last is None:
        return size > 0
    new_events = size - last.tree_size
    if new_events <= 0:
        return False
    waited = timezone.now() - last.signed_at
    return new_events >= checkpoint_every_events() or waited >= timedelta(
        seconds=checkpoint_every_seconds()
    )


def do_sign_checkpoint(*, only_if_due: bool = False) -> Checkpoint | None:
    """Sign the current tree; return the new checkpoint, the existing one when nothing was
    appended since, or None when `only_if_due` and it is not yet time."""
    size, root = service.current_head()
    last = service.latest_checkpoint()
    if only_if_due and not checkpoint_due(size, last):
        return None
    if last is not None:
        if last.tree_size == size:
            return last
        _check_extends(last, size, root)
    origin = keys.log_origin()
    body = notes.CheckpointBody(origin, size, root)
    note = notes.sign_note(body.text(), origin, keys.signing_key())
    try:
        with transaction.atomic():
            return Checkpoint.objects.create(
                tree_size=size, root_hash=root, note=note, signed_at=timezone.now()
            )
    except IntegrityError:
        # Another worker signed the same size at the same moment: same tree, same checkpoint.
        return Checkpoint.objects.get(tree_size=size)


def _check_extends(last: Checkpoint, size: int, root: bytes) -> None:
    if size < last.tree_size:
        raise LogInconsistent(
            f"the log holds {size} events but checkpoint {last.tree_size} was signed: truncated"
        )
    proof = service.consistency_path(last.tree_size, size)
    if not tlog.verify_consistency(last.tree_size, size, bytes(last.root_hash), root, proof):
        raise LogInconsistent(
            f"the stored tree of size {size} is not consistent with checkpoint {last.tree_size}"
        )


@transaction.atomic
def do_acknowledge_alert(alert_id: int, *, by: service.Actor, note: str) -> SecurityAlert:
    """A platform admin acknowledges an alert with a note saying what was found. The
    acknowledgement is an event of the log; the note itself stays in the alert row (free text
    may name people, and the log is never erased), the log keeps its SHA-256."""
    note = note.strip()
    refuse_nul(note, "note")
    if not note:
        message = _("Say what you checked and what you found.")
        raise ActionError(message, {"note": [message]})
    if len(note) > NOTE_MAX:
        message = _("At most %(max)d characters.") % {"max": NOTE_MAX}
        raise ActionError(message, {"note": [message]})
    alert = SecurityAlert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise ActionError(_("No such alert."))
    if alert.acknowledged_at is not None:
        raise Conflict(_("This alert was already acknowledged."))
    event = service.record_event(
        Action.ALERT_ACKNOWLEDGED,
        actor=by,
        object_type="alert",
        object_id=alert.event_seq,
        purpose=gettext_noop("Security monitoring of access to personal data"),
        details={
            "alert": alert.event_seq,
            "agent": alert.agent_id,
            "note_sha256": hashlib.sha256(note.encode()).hexdigest(),
        },
    )
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = by.name[:200]
    alert.acknowledged_seq = event.seq
    alert.note = note
    alert.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledged_seq", "note"])
    return alert
