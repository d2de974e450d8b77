"""Keeping storage in step with the database when documents are deleted by someone else."""

from functools import partial
from typing import Any

from django.db import transaction

from guichet.documents.models import Document


def delete_file(sender: type[Document], instance: Document, **kwargs: Any) -> None:
    """Remove the encrypted PDF once the deletion commits (a rollback must lose nothing). The
    file is already unreadable once the dossier's key is destroyed; this frees the space."""
    name = instance.file.name
    if name:
        transaction.on_commit(partial(instance.file.storage.delete, str(name)))
