"""The security alerts page, included under /admin/security-alerts/ (before the admin site)."""

from django.urls import URLPattern, path

from guichet.audit import alert_views

urlpatterns: list[URLPattern] = [
    path("", alert_views.alert_list, name="security_alerts"),
    path("<int:alert_id>/", alert_views.alert_detail, name="security_alert"),
    path(
        "<int:alert_id>/acknowledge/",
        alert_views.acknowledge_alert,
        name="security_alert_acknowledge",
    ),
]
