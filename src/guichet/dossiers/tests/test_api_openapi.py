"""The API describes itself: OpenAPI at /api/v1/openapi.json, a docs page at /api/v1/docs."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/v1/procedures": {"get"},
    "/api/v1/procedures/{slug}": {"get"},
    "/api/v1/dossiers": {"get", "post"},
    "/api/v1/dossiers/{dossier_id}": {"get", "patch", "delete"},
    "/api/v1/dossiers/{dossier_id}/attachments": {"post"},
    "/api/v1/dossiers/{dossier_id}/attachments/{attachment_id}": {"get", "delete"},
    "/api/v1/dossiers/{dossier_id}/submit": {"post"},
    "/api/v1/dossiers/{dossier_id}/transitions": {"post"},
    "/api/v1/dossiers/{dossier_id}/messages": {"get", "post"},
    "/api/v1/queue": {"get"},
    "/api/v1/me": {"get"},
    "/api/v1/me/tokens": {"get", "post"},
    "/api/v1/me/tokens/{token_id}": {"delete"},
}


def test_openapi_lists_every_endpoint() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Guichet API"
    for path, methods in ENDPOINTS.items():
        assert path in schema["paths"], path
        assert set(schema["paths"][path]) >= methods, path
    assert schema["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
    }
    # The catalog is public; everything else needs the token.
    assert "security" not in schema["paths"]["/api/v1/procedures"]["get"]
    assert schema["paths"]["/api/v1/queue"]["get"]["security"] == [{"BearerToken": []}]
    transitions = schema["paths"]["/api/v1/dossiers/{dossier_id}/transitions"]["post"]
    assert "requestBody" in transitions


def test_docs_page_is_served_from_our_own_static_files() -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/openapi.json" in page
    assert "cdn." not in page  # the CSP allows our own origin only
