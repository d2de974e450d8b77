"""Public pages: the catalog, a procedure, starting a dossier, languages, page weight."""

import re
from typing import Any

import pytest
from django.test import Client

from guichet.catalog.actions import do_save_procedure
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
    stylesheet_bytes,
)
from guichet.identity.models import Organisation, User
from guichet.testing import BIRTH

pytestmark = pytest.mark.django_db

NINEA = "immatriculation-ninea"
RECORD = "bulletin-casier-judiciaire"
PAGE_BUDGET_BYTES = 60 * 1024


def text(response: Any) -> str:
    return str(response.content.decode())


def listed_slugs(response: Any) -> list[str]:
    return re.findall(r'<a href="/procedures/([a-z0-9-]+)/">', text(response))


def test_home_lists_published_procedures_with_their_facts(world: dict[str, User]) -> None:
    response = client_for(None).get("/")
    assert response.status_code == 200
    assert listed_slugs(response) == [RECORD, BIRTH, NINEA]
    body = text(response)
    assert "Commune de Dakar-Plateau" in body
    assert "Gratuit" in body  # NINEA costs nothing
    assert re.search(r"1[\s\u202f]000[\s\xa0]FCFA", body)  # thousands grouped the French way


def test_an_unpublished_procedure_is_neither_listed_nor_shown(world: dict[str, User]) -> None:
    organisation = Organisation.objects.get(slug="ansd")
    do_save_procedure(
        organisation,
        "brouillon-secret",
        title={"fr": "Démarche secrète"},
        summary={"fr": "Pas encore publiée."},
        applicant_kinds=["person"],
        form=[{"name": "motif", "type": "text", "label": {"fr": "Motif"}}],
    )
    visitor = client_for(world["citizen_a"])
    assert "brouillon-secret" not in listed_slugs(visitor.get("/"))
    assert visitor.get("/procedures/brouillon-secret/").status_code == 404
    started = visitor.post("/procedures/brouillon-secret/start/")
    assert started.status_code == 404
    assert not Dossier.objects.exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("naissance", [BIRTH]),
        ("NAISSANCE", [BIRTH]),
        ("demographie", [NINEA]),  # the organisation is spelt "Démographie"
        ("casier judiciaire", [RECORD]),
        ("licence de pêche", []),
    ],
)
def test_search_ignores_accents_and_case(
    world: dict[str, User], query: str, expected: list[str]
) -> None:
    response = client_for(None).get("/", {"q": query})
    assert response.status_code == 200
    assert listed_slugs(response) == expected
    assert f'value="{query}"' in text(response)


def test_a_search_with_markup_is_shown_as_text(world: dict[str, User]) -> None:
    response = client_for(None).get("/", {"q": '<img src=x onerror="alert(1)">'})
    assert response.status_code == 200
    assert "<img src=x" not in text(response)


def test_procedure_page_shows_what_an_applicant_needs(world: dict[str, User]) -> None:
    response = client_for(None).get(f"/procedures/{BIRTH}/")
    assert response.status_code == 200
    body = text(response)
    assert "Extrait d&#x27;acte de naissance" in body
    assert re.search(r"200[\s\xa0]FCFA", body)
    assert "3 jours" in body
    assert "Code de la famille, articles 29 à 51" in body
    assert "Pièce d&#x27;identité du demandeur" in body  # the file field, a required document
    assert "PDF, JPEG, PNG" in body
    assert "/accounts/login/?next=/procedures/extrait-acte-naissance/" in body
    assert "/start/" not in body  # anonymous visitors are invited to sign in instead


def test_starting_needs_an_account(world: dict[str, User]) -> None:
    response = client_for(None).post(f"/procedures/{BIRTH}/start/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/procedures/")
    assert not Dossier.objects.exists()
    assert client_for(world["citizen_a"]).get(f"/procedures/{BIRTH}/start/").status_code == 405


def test_a_company_procedure_lets_the_applicant_choose(world: dict[str, User]) -> None:
    citizen = client_for(world["citizen_b"])
    page = citizen.get(f"/procedures/{NINEA}/")
    assert 'name="applicant_kind" id="kind-company" value="company" checked' in text(page)
    assert 'id="kind-person"' in text(page)

    refused = citizen.post(f"/procedures/{NINEA}/start/", {"applicant_kind": "robot"})
    assert refused.status_code == 400
    assert 'id="applicant_kind-error"' in text(refused)
    assert not Dossier.objects.exists()

    started = citizen.post(f"/procedures/{NINEA}/start/", {"applicant_kind": "person"})
    assert started.status_code == 302
    dossier = Dossier.objects.get()
    assert (dossier.applicant, dossier.applicant_kind) == (world["citizen_b"], "person")
    assert started["Location"] == f"/dossiers/{dossier.pk}/"


def test_french_by_default_english_on_request(world: dict[str, User]) -> None:
    french = client_for(None).get("/")
    assert '<html lang="fr">' in text(french)
    assert "Démarches en ligne" in text(french)
    assert "Rechercher une démarche" in text(french)
    assert "Copie d&#x27;acte de naissance" not in text(french)

    english = client_for(None).get("/", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in text(english)
    assert "Search a procedure" in text(english)
    assert "Copy of a birth certificate" in text(english)  # the procedure's own English title

    by_cookie = client_for(None)
    by_cookie.cookies["django_language"] = "en"
    assert "Search a procedure" in text(by_cookie.get("/"))


def test_the_language_switcher_works_without_javascript(world: dict[str, User]) -> None:
    visitor = client_for(None)
    switched = visitor.post("/i18n/setlang/", {"language": "en", "next": f"/procedures/{BIRTH}/"})
    assert switched.status_code == 302
    assert switched["Location"] == f"/procedures/{BIRTH}/"
    assert "Copy of a birth certificate" in text(visitor.get(switched["Location"]))
    home = text(visitor.get("/"))
    assert 'action="/i18n/setlang/"' in home
    assert 'name="language" value="fr"' in home


def test_home_and_its_stylesheet_weigh_under_60_kb(world: dict[str, User]) -> None:
    response = client_for(None).get("/")
    assert len(response.content) + stylesheet_bytes() < PAGE_BUDGET_BYTES
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', text(response)) == [
        "/static/guichet/site.css"
    ]
    assert "<script" not in text(response)
    assert not re.search(r'(src|href)="(https?:)?//', text(response))  # nothing from elsewhere


def test_pages_carry_a_skip_link_and_landmarks(world: dict[str, User]) -> None:
    body = text(client_for(world["citizen_a"]).get("/"))
    assert '<a class="skip" href="#main">' in body
    assert '<main id="main"' in body
    assert "<nav" in body
    assert 'aria-current="page"' in body


def test_error_pages_speak_plainly_in_the_site_layout(world: dict[str, User]) -> None:
    from django.test import RequestFactory
    from django.views.defaults import server_error

    missing = client_for(world["citizen_a"]).get("/procedures/nulle-part/")
    assert missing.status_code == 404
    assert "Page introuvable" in text(missing)
    assert '<a class="skip" href="#main">' in text(missing)

    crashed = server_error(RequestFactory().get("/"))
    assert crashed.status_code == 500
    assert "Erreur du service" in crashed.content.decode()

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world["citizen_a"])
    forged = strict.post(f"/procedures/{BIRTH}/start/")
    assert forged.status_code == 403
    assert "Le formulaire a expiré" in text(forged)
    assert not Dossier.objects.exists()


def test_switching_language_from_a_page_shown_after_a_refused_post(world: dict[str, User]) -> None:
    citizen = client_for(world["citizen_b"])
    refused = citizen.post(f"/procedures/{NINEA}/start/", {"applicant_kind": "robot"})
    assert refused.status_code == 400
    assert f'name="next" value="/procedures/{NINEA}/"' in text(refused)
