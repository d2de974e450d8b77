from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "guichet.documents"
    label = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from guichet.documents import pdf_speed
        from guichet.documents.models import Document
        from guichet.documents.signals import delete_file

        pdf_speed.install()

        # A document row goes when its dossier is erased (cascade): its file must go too, and
        # the dossiers app that erases knows nothing of documents.
        post_delete.connect(delete_file, sender=Document, dispatch_uid="documents_delete_file")
