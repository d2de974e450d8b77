"""Background work of the audit log: signing checkpoints.

`sign_checkpoint_if_due` is cheap when nothing is due (two small reads), so a scheduler may
enqueue it every few seconds; it signs when GUICHET_AUDIT_CHECKPOINT_EVENTS new events or
GUICHET_AUDIT_CHECKPOINT_SECONDS seconds have passed since the last checkpoint.
"""

from django.tasks import task

from guichet.audit.actions import do_sign_checkpoint


@task()
def sign_checkpoint_if_due() -> int | None:
    """The size of the checkpoint signed now, or None when none was due."""
    checkpoint = do_sign_checkpoint(only_if_due=True)
    return None if checkpoint is None else checkpoint.tree_size
