from django.urls import path

from guichet.identity import views

urlpatterns = [
    path("account/profile/", views.profile, name="profile"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<uuid:token_id>/revoke/", views.revoke_token, name="token_revoke"),
    path("account/close/", views.close_account, name="account_close"),
    path("account/export/", views.export_account, name="account_export"),
    path(
        "agent/organisations/<uuid:organisation_id>/security-contact/",
        views.security_contact,
        name="organisation_security_contact",
    ),
]
