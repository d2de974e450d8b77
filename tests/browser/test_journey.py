"""The whole journey in a real browser, on a phone screen, as Awa and Fatou would live it.

Awa signs in, finds the birth certificate procedure through the search, fills the form, meets an
error, attaches her identity card and submits; Fatou signs in with her password and TOTP code,
takes the dossier and asks for a correction; Awa corrects and sends it back; Fatou accepts; Awa
reads the decision and the history. Everything goes through what the pages show: labels,
buttons and links by their French names, as a screen reader would find them.
"""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from guichet.dossiers import access
from guichet.dossiers.models import Dossier
from guichet.identity.models import User
from guichet.testing import BIRTH, PDF_BYTES

pytestmark = pytest.mark.browser

NUMBER = re.compile(r"SN-\d{4}-\d{6}")
CHANGES = "La copie de la pièce est illisible, et il faut 3 exemplaires."


def citizen_files_a_birth_certificate_request(
    page: Page, pdf_path: Path, sign_in: Any, screenshot: Any
) -> str:
    """From the home page to the receipt; returns the dossier's number as the receipt shows it."""
    page.goto("/")
    page.get_by_role("link", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    sign_in(page, "awa.diop@example.sn")

    page.get_by_label("Rechercher une démarche").fill("acte de naissance")
    page.get_by_role("button", name="Rechercher", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("1 démarche correspond")
    screenshot(page, "01-search-results")
    page.get_by_role("link", name="Extrait d'acte de naissance").click()
    expect(page).to_have_url(re.compile(f"/procedures/{BIRTH}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Extrait d'acte de naissance")

    page.get_by_role("button", name="Commencer ma demande").click()
    expect(page).to_have_url(re.compile(r"/dossiers/[0-9a-f-]{36}/\?step=1$"))

    # One page at a time. Everything but the name, then straight on to the final button.
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Étape 1 sur 4\u00a0: La personne concernée"
    )
    assert page.title().startswith("Étape 1 sur 4")
    page.get_by_label("Date de naissance").fill("1994-03-12")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("Étape 2 sur 4\u00a0: Votre demande")
    # The browser's back button finds the previous step as it was saved, then comes back.
    page.go_back()
    expect(page.get_by_label("Date de naissance")).to_have_value("1994-03-12")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"\?step=2$"))
    page.get_by_role("radio", name="Extrait").check()
    page.get_by_label("Nombre d'exemplaires").fill("2")
    page.get_by_label("Téléphone").fill("12345")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    # A wrong number: the same step again, with the error and everything typed.
    phone = page.get_by_label("Téléphone")
    expect(page.get_by_role("alert")).to_contain_text("Il y a un problème")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_value("12345")
    expect(page.get_by_label("Nombre d'exemplaires")).to_have_value("2")  # nothing typed is lost
    assert page.title().startswith("Erreur")
    screenshot(page, "02-step-error")
    phone.fill("77 123 45 67")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Étape 3 sur 4\u00a0: Pièces justificatives"
    )
    page.get_by_role("button", name="Enregistrer et continuer").click()
    review = page.get_by_role("heading", name=re.compile("^Étape 4 sur 4"))
    expect(review).to_have_text("Étape 4 sur 4\u00a0: Vérifier et envoyer")
    expect(page.get_by_text("12 mars 1994")).to_be_visible()
    expect(page.get_by_text("Brouillon", exact=True)).to_be_visible()
    page.get_by_role("button", name="Déposer ma demande").click()

    expect(page.get_by_role("alert")).to_contain_text("Il y a un problème")
    assert page.title().startswith("Erreur")
    screenshot(page, "03-review-errors")
    # The summary's link leads to the step holding the field, and the keyboard to the field.
    page.get_by_role("alert").get_by_role("link", name=re.compile("Prénom et nom")).click()
    name = page.get_by_label("Prénom et nom de la personne concernée")
    expect(name).to_be_focused()
    expect(page).to_have_url(re.compile(r"\?step=1#field-full_name$"))
    name.fill("Awa Diop")
    page.get_by_role("button", name="Enregistrer et aller au récapitulatif").click()
    page.get_by_role("link", name=re.compile("Modifier — Pièces justificatives")).click()

    page.get_by_label("Choisir un fichier").set_input_files(str(pdf_path))
    page.get_by_role("button", name="Envoyer ce fichier").click()
    expect(page.get_by_role("status")).to_contain_text("cni-awa.pdf")
    expect(page.get_by_role("link", name="cni-awa.pdf")).to_be_visible()
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page.get_by_role("link", name="cni-awa.pdf")).to_be_visible()  # on the review
    page.get_by_role("button", name="Déposer ma demande").click()
    expect(page).to_have_url(re.compile(r"/dossiers/[0-9a-f-]{36}/receipt/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Récépissé de votre demande")
    number = page.locator(".receipt strong").inner_text()
    assert NUMBER.fullmatch(number), number
    expect(page.locator(".receipt")).to_contain_text("Awa Diop")
    expect(page.locator(".receipt")).to_contain_text("Date prévue de la décision")
    screenshot(page, "04-receipt")
    return number


def test_citizen_files_instructor_asks_for_a_change_then_accepts(
    world: dict[str, User],
    new_context: Any,
    pdf_path: Path,
    sign_in: Any,
    screenshot: Any,
    mailoutbox: list[Any],
) -> None:
    citizen = new_context().new_page()
    number = citizen_files_a_birth_certificate_request(citizen, pdf_path, sign_in, screenshot)

    dossier = Dossier.objects.get(number=number)
    assert dossier.applicant == world["citizen_a"]
    assert dossier.state == "submitted"
    answers = access.read_answers(dossier.applicant, dossier)
    assert answers["full_name"] == "Awa Diop"
    assert answers["phone"] == "+221771234567"
    attachment = access.read_attachments(dossier.applicant, dossier)[0]
    assert attachment.original_name == "cni-awa.pdf"
    # On disk the file is sealed; through the one door it reads back as uploaded.
    with attachment.file.open("rb") as stored:
        assert PDF_BYTES not in stored.read()
    assert access.read_file(dossier.applicant, dossier, attachment).read() == PDF_BYTES

    # Fatou, in a browser of her own: password, then the code of her authenticator app.
    agent = new_context().new_page()
    sign_in(agent, "fatou.ndiaye@dakarplateau.sn")
    agent.get_by_role("link", name="Espace agent").click()
    expect(agent.get_by_role("heading", level=1)).to_have_text("Dossiers à traiter")
    screenshot(agent, "05-queue")
    agent.get_by_role("link", name=number).click()
    expect(agent.get_by_role("heading", level=1)).to_contain_text(number)
    expect(agent.get_by_text("12 mars 1994")).to_be_visible()
    agent.get_by_role("button", name="Prendre en charge ce dossier").click()
    expect(agent.get_by_role("status")).to_contain_text("Vous instruisez")
    agent.get_by_label("Que doit corriger le demandeur ?").fill(CHANGES)
    agent.get_by_role("button", name="Demander des corrections").click()
    expect(agent.get_by_role("heading", name="Corrections demandées au demandeur")).to_be_visible()
    screenshot(agent, "05-instruction")

    # Awa reads the request on her dossier's page, corrects the number of copies, sends it back.
    citizen.get_by_role("link", name="Mes démarches").first.click()
    citizen.get_by_role("link", name="Extrait d'acte de naissance").click()
    expect(
        citizen.get_by_role("heading", name="L'administration vous demande des corrections")
    ).to_be_visible()
    expect(citizen.get_by_text(CHANGES).first).to_be_visible()
    screenshot(citizen, "06-changes-requested")
    citizen.get_by_role("link", name=re.compile("Modifier — Votre demande")).click()
    citizen.get_by_label("Nombre d'exemplaires").fill("3")
    citizen.get_by_role("button", name="Enregistrer et aller au récapitulatif").click()
    citizen.get_by_role("button", name="Renvoyer la demande corrigée").click()
    expect(citizen.get_by_role("status")).to_contain_text("renvoyée")
    dossier.refresh_from_db()
    assert dossier.state == "in_review"
    assert access.read_answers(dossier.applicant, dossier)["copies"] == 3

    agent.reload()
    agent.get_by_label("Message au demandeur").fill("Extrait à retirer à la mairie dès lundi.")
    agent.get_by_role("button", name="Accepter le dossier").click()
    expect(agent.get_by_role("status")).to_contain_text("accepté")

    citizen.reload()
    expect(citizen.get_by_role("heading", name="Votre demande est acceptée")).to_be_visible()
    expect(citizen.get_by_text("Extrait à retirer à la mairie dès lundi.").first).to_be_visible()
    expect(citizen.locator(".tag.accepted")).to_have_text("Acceptée")
    history = citizen.get_by_role("region", name="Historique").get_by_role("listitem")
    expect(history.filter(has_text="Statut : Déposée")).to_have_count(1)
    expect(history.filter(has_text="Statut : Corrections demandées")).to_have_count(1)
    expect(history.filter(has_text="Statut : Acceptée")).to_have_count(1)
    expect(citizen.get_by_role("button", name="Enregistrer mes réponses")).to_have_count(0)
    screenshot(citizen, "07-accepted")
    dossier.refresh_from_db()
    assert dossier.state == "accepted"
    assert dossier.assigned_to == world["instructor"]

    # The live server runs in this process: its emails land in the same outbox.
    to_awa = [m.subject for m in mailoutbox if m.to == ["awa.diop@example.sn"]]
    assert to_awa == [
        f"Demande {number}\u00a0: Déposée",
        f"Demande {number}\u00a0: En cours d'instruction",
        f"Demande {number}\u00a0: Corrections demandées",
        f"Demande {number}\u00a0: En cours d'instruction",
        f"Demande {number}\u00a0: Acceptée",
        f"Votre document {number}-A1 est disponible",  # the sealed certificate, after commit
    ]
    to_fatou = [m.subject for m in mailoutbox if m.to == ["fatou.ndiaye@dakarplateau.sn"]]
    assert to_fatou == [f"Demande {number}\u00a0: En cours d'instruction"]
    decision = next(m for m in mailoutbox if m.subject.endswith("Acceptée"))
    assert "Extrait d'acte de naissance" in decision.body  # plain text, not HTML-escaped
    assert f"/dossiers/{dossier.pk}/" in decision.body
    assert all(CHANGES not in m.body for m in mailoutbox)  # the reasons stay behind the login
