from django.urls import path, re_path

from guichet.documents import views

urlpatterns = [
    path("documents/", views.my_documents, name="documents_list"),
    path("documents/<uuid:document_id>/download/", views.download, name="documents_download"),
    path(
        "agent/dossiers/<uuid:dossier_id>/documents/",
        views.agent_documents,
        name="documents_agent_list",
    ),
    path(
        "agent/documents/<uuid:document_id>/download/",
        views.agent_download,
        name="documents_agent_download",
    ),
    path(
        "agent/documents/<uuid:document_id>/revoke/",
        views.agent_revoke,
        name="documents_agent_revoke",
    ),
    path("verifier", views.verifier, name="documents_verifier"),
    path(".well-known/guichet-trust-list.json", views.trust_list, name="documents_trust_list"),
    path(".well-known/guichet-status-list.json", views.status_list, name="documents_status_list"),
    # Beside the log's own publication (audit's /transparency/ patterns come first and do not
    # match this path, so resolution falls through to here).
    re_path(
        r"^transparency/documents/(?P<sha256>[0-9a-fA-F]{64})\.tlog-proof$",
        views.document_proof,
        name="documents_proof",
    ),
]
