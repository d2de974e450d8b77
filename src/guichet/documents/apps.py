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

        # Identity runs account closure and export and cannot import the apps above it: a
        # person's export holds their own certificates and decision letters too. Closure has
        # nothing of its own to do here: documents go with their dossier (erased with it, the
        # file by the signal below) or stay with it, and dossiers' plan already says which.
        from guichet.documents import access
        from guichet.identity.service import AccountData, ClosurePlan, register_account_data

        register_account_data(
            "documents",
            AccountData(
                plan=lambda user: ClosurePlan(),
                close=lambda user: [],
                export=access.export_documents,
            ),
        )

        # A document row goes when its dossier is erased (cascade): its file must go too, and
        # the dossiers app that erases knows nothing of documents.
        post_delete.connect(delete_file, sender=Document, dispatch_uid="documents_delete_file")
