from django.urls import path

from guichet.catalog import designer_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("procedures/<slug:slug>/", views.procedure_detail, name="procedure"),
    path("procedures/<slug:slug>/start/", views.start_dossier, name="dossier_start"),
    # The designer pages (under /agent/: two-factor authentication required).
    path("agent/designer/", designer_views.home, name="designer_home"),
    path("agent/designer/new/", designer_views.create, name="designer_create"),
    path("agent/designer/<slug:slug>/", designer_views.procedure_page, name="designer_procedure"),
    path("agent/designer/<slug:slug>/fields/", designer_views.fields, name="designer_fields"),
    path(
        "agent/designer/<slug:slug>/fields/new/",
        designer_views.field_new,
        name="designer_field_new",
    ),
    path(
        "agent/designer/<slug:slug>/fields/<str:path>/",
        designer_views.field_edit,
        name="designer_field",
    ),
    path(
        "agent/designer/<slug:slug>/fields/<str:path>/move/",
        designer_views.field_move,
        name="designer_field_move",
    ),
    path(
        "agent/designer/<slug:slug>/fields/<str:path>/delete/",
        designer_views.field_delete,
        name="designer_field_delete",
    ),
    path("agent/designer/<slug:slug>/workflow/", designer_views.workflow, name="designer_workflow"),
    path("agent/designer/<slug:slug>/yaml/", designer_views.yaml_editor, name="designer_yaml"),
    path("agent/designer/<slug:slug>/preview/", designer_views.preview, name="designer_preview"),
    path("agent/designer/<slug:slug>/test/", designer_views.test_dossier, name="designer_test"),
    path(
        "agent/designer/<slug:slug>/test/purge/",
        designer_views.purge_tests,
        name="designer_purge_tests",
    ),
    path("agent/designer/<slug:slug>/publish/", designer_views.publish, name="designer_publish"),
    path(
        "agent/designer/<slug:slug>/unpublish/",
        designer_views.unpublish,
        name="designer_unpublish",
    ),
    path("agent/designer/<slug:slug>/close/", designer_views.close, name="designer_close"),
]
