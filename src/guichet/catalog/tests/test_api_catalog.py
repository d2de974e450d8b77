"""The public catalog through the API: listing, word search ignoring accents and case, details."""

from typing import Any

import pytest

from guichet.catalog.actions import do_publish_procedure, do_save_procedure
from guichet.identity.models import Organisation, User
from guichet.testing import BIRTH, ApiClient

pytestmark = pytest.mark.django_db

DEMO_SLUGS = ["bulletin-casier-judiciaire", "extrait-acte-naissance", "immatriculation-ninea"]


def _slugs(client: ApiClient, **params: Any) -> list[str]:
    response = client.get("procedures", **params)
    assert response.status_code == 200, response.content
    return [item["slug"] for item in response.json()]


@pytest.fixture
def association(world: dict[str, User]) -> None:
    """A published procedure whose title has accents, and a draft one nobody may see."""
    ministry = Organisation.objects.get(slug="min-collectivites")
    published = do_save_procedure(
        ministry,
        "declaration-association",
        title={"fr": "Créer une association déclarée", "en": "Register an association"},
        summary={"fr": "Déclarer la création d'une association.", "en": "Declare it."},
        form=[{"name": "nom", "type": "text", "label": {"fr": "Nom"}}],
        applicant_kinds=["person"],
    )
    do_publish_procedure(published)
    do_save_procedure(
        ministry,
        "projet-non-publie",
        title={"fr": "Naissance : procédure en préparation"},
        summary={"fr": "Pas encore ouverte."},
        form=[{"name": "nom", "type": "text", "label": {"fr": "Nom"}}],
        applicant_kinds=["person"],
    )


def test_list_is_public_and_holds_only_published_procedures(
    api: dict[str, ApiClient], association: None
) -> None:
    for persona in ("anonymous", "citizen_a", "instructor"):
        assert _slugs(api[persona]) == sorted([*DEMO_SLUGS, "declaration-association"])
    first = api["anonymous"].get("procedures").json()[0]
    assert set(first) >= {"slug", "title", "summary", "organisation", "fee_amount", "version"}
    assert first["organisation"]["slug"] == "casier-judiciaire-national"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("naissance", ["extrait-acte-naissance"]),
        ("NAISSANCE", ["extrait-acte-naissance"]),
        ("acte de naissance", ["extrait-acte-naissance"]),
        ("  Acte   NAISSANCE ", ["extrait-acte-naissance"]),
        ("creer", ["declaration-association"]),
        ("CRÉER association", ["declaration-association"]),
        ("créer", ["declaration-association"]),
        ("association declaree", ["declaration-association"]),
        ("numero", ["immatriculation-ninea"]),  # "Numéro" in the summary
        ("dakar-plateau", ["extrait-acte-naissance"]),  # the organisation's name
        ("naissance casier", []),  # every word must match
        ("100%", []),
        ("_", []),
        ("", sorted([*DEMO_SLUGS, "declaration-association"])),
    ],
)
def test_search(
    api: dict[str, ApiClient], association: None, query: str, expected: list[str]
) -> None:
    assert _slugs(api["anonymous"], q=query) == expected


def test_detail_with_its_form(api: dict[str, ApiClient]) -> None:
    response = api["anonymous"].get(f"procedures/{BIRTH}")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == BIRTH and body["deadline_days"] == 3
    assert body["texts"]["title"]["en"] == "Copy of a birth certificate"
    names = [field["name"] for field in body["form"] if "name" in field]  # pages have none
    assert names[:2] == ["full_name", "birth_date"] and "id_document" in names


def test_unknown_or_unpublished_procedure_is_404(
    api: dict[str, ApiClient], association: None
) -> None:
    for slug in ("nope", "projet-non-publie", "a%20b", "%C3%A9t%C3%A9", "a%00b"):
        response = api["anonymous"].get(f"procedures/{slug}")
        assert response.status_code == 404, slug
        assert response.json()["code"] == "not_found"


def test_titles_follow_the_language(api: dict[str, ApiClient]) -> None:
    client = api["anonymous"].client
    english = client.get("/api/v1/procedures", headers={"Accept-Language": "en"}).json()
    french = client.get("/api/v1/procedures", headers={"Accept-Language": "fr"}).json()
    assert "Copy of a birth certificate" in [p["title"] for p in english]
    assert "Extrait d'acte de naissance" in [p["title"] for p in french]
