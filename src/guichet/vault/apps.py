from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VaultConfig(AppConfig):
    name = "guichet.vault"
    label = "vault"
    verbose_name = _("Vault")

    def ready(self) -> None:
        from guichet.vault import checks, residency

        del checks  # importing registers the system checks
        # Every process (server, worker, commands, tests) refuses outbound connections to hosts
        # outside GUICHET_RESIDENCY_HOSTS from here on.
        residency.install()
