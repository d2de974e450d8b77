from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DossiersConfig(AppConfig):
    name = "guichet.dossiers"
    label = "dossiers"
    verbose_name = _("Dossiers")

    def ready(self) -> None:
        # Identity runs account closure and data export; it cannot import the apps above it,
        # so each app holding a person's data registers its part here.
        from guichet.catalog.service import register_draft_counter
        from guichet.dossiers import access, actions
        from guichet.identity.service import AccountData, register_account_data

        # The catalog refuses a change its drafts in progress could not follow: it asks here.
        register_draft_counter(access.count_drafts)

        register_account_data(
            "dossiers",
            AccountData(
                plan=access.closure_plan,
                close=actions.do_close_dossiers_of,
                export=access.export_dossiers,
            ),
        )
