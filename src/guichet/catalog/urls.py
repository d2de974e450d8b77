from django.urls import path

from guichet.catalog import views

urlpatterns = [
    path("", views.home, name="home"),
    path("procedures/<slug:slug>/", views.procedure_detail, name="procedure"),
    path("procedures/<slug:slug>/start/", views.start_dossier, name="dossier_start"),
]
