"""The project's URLs plus the audit app's, mounted where the lead will mount them."""

from django.urls import include, path

from guichet.audit.urls import citizen_urlpatterns
from guichet.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("transparency/", include("guichet.audit.urls")),
    path("account/data-accesses/", include(citizen_urlpatterns)),
]
