from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from guichet.api import api
from guichet.audit.urls import citizen_urlpatterns as audit_citizen_urls
from guichet.health import healthz

# The admin signs in through allauth, so MFA and login throttling apply there too.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Guichet"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("accounts/", include("allauth.urls")),
    # Before the admin site, which would otherwise answer these paths with its own 404.
    path("admin/security-alerts/", include("guichet.audit.alert_urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("transparency/", include("guichet.audit.urls")),
    path("account/data-accesses/", include(audit_citizen_urls)),
    path("", include("guichet.identity.urls")),
    path("", include("guichet.dossiers.urls")),
    path("", include("guichet.catalog.urls")),
    path("", include("guichet.documents.urls")),
]

# The benchmark's baseline (guichet/bench_endpoints.py): absent unless explicitly switched on.
if settings.GUICHET_BENCH_ENDPOINTS:
    from guichet import bench_endpoints

    urlpatterns = bench_endpoints.urlpatterns() + urlpatterns
