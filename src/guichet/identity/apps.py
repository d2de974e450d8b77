from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "guichet.identity"
    label = "identity"
    verbose_name = _("Identity")

    def ready(self) -> None:
        # The audit app's own pages name the admin who acts there; audit imports no domain app,
        # so identity tells it how a user is named in the log.
        from guichet.audit.service import register_user_actor
        from guichet.identity.service import agent_actor

        register_user_actor(agent_actor)
