from django.urls import path

from guichet.dossiers import views

urlpatterns = [
    path("dossiers/", views.dossier_list, name="dossier_list"),
    path("dossiers/<uuid:dossier_id>/", views.dossier_detail, name="dossier_detail"),
    path("dossiers/<uuid:dossier_id>/answers/", views.save_answers, name="dossier_save"),
    path("dossiers/<uuid:dossier_id>/attachments/", views.add_attachment, name="dossier_upload"),
    path(
        "dossiers/<uuid:dossier_id>/attachments/<uuid:attachment_id>/",
        views.download_attachment,
        name="dossier_attachment",
    ),
    path(
        "dossiers/<uuid:dossier_id>/attachments/<uuid:attachment_id>/remove/",
        views.remove_attachment,
        name="dossier_attachment_remove",
    ),
    path("dossiers/<uuid:dossier_id>/messages/", views.post_message, name="dossier_message"),
    path("dossiers/<uuid:dossier_id>/withdraw/", views.withdraw, name="dossier_withdraw"),
    path("dossiers/<uuid:dossier_id>/delete/", views.delete_draft, name="dossier_delete"),
    path("dossiers/<uuid:dossier_id>/receipt/", views.receipt, name="dossier_receipt"),
    path("agent/", views.agent_queue, name="agent_queue"),
    path("agent/dossiers/<uuid:dossier_id>/", views.agent_dossier, name="agent_dossier"),
    path(
        "agent/dossiers/<uuid:dossier_id>/actions/",
        views.agent_transition,
        name="agent_transition",
    ),
    path("agent/dossiers/<uuid:dossier_id>/messages/", views.agent_message, name="agent_message"),
    path(
        "agent/dossiers/<uuid:dossier_id>/attachments/<uuid:attachment_id>/",
        views.agent_attachment,
        name="agent_attachment",
    ),
]
