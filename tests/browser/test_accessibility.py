"""Accessibility and frugality in a real browser: axe-core on every citizen and agent page, the
keyboard path from the top of a page, the submission flow with JavaScript off, and the weight a
phone on a slow connection has to download."""

import re
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Response, expect

from guichet.catalog.service import published_procedure
from guichet.dossiers import access, actions
from guichet.dossiers.models import Attachment, Dossier
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, pdf_file

pytestmark = pytest.mark.browser

WEIGHT_BUDGET = 60 * 1024
AXE = Axe()


def draft_for(user: User, **answers: Any) -> Dossier:
    procedure = published_procedure(BIRTH)
    assert procedure is not None
    return actions.do_create_draft(user, procedure, {**BIRTH_ANSWERS, **answers})


def submitted_for(user: User) -> Dossier:
    dossier = draft_for(user)
    actions.do_add_attachment(user, dossier.pk, "id_document", pdf_file("cni.pdf"))
    return actions.do_transition(user, dossier.pk, "submit")


def violations(page: Page, where: str) -> list[str]:
    """One line per axe-core violation: the rule, its impact and the elements it found."""
    found = AXE.run(page).response["violations"]
    return [
        f"{where}: {rule['id']} ({rule['impact']}) on "
        + ", ".join(str(node["target"]) for node in rule["nodes"])
        for rule in found
    ]


def audit(page: Page, paths: list[str]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response)
        problems += violations(page, path)
    return problems


def test_citizen_pages_have_no_axe_violation(
    world: dict[str, User], new_context: Any, sign_in: Any
) -> None:
    citizen = world["citizen_a"]
    submitted = submitted_for(citizen)
    draft = draft_for(citizen, full_name="")

    visitor = new_context().new_page()
    problems = audit(visitor, ["/", "/?q=naissance", f"/procedures/{BIRTH}/", "/accounts/signup/"])
    visitor.goto("/accounts/login/")
    problems += violations(visitor, "login")
    visitor.get_by_label("Courriel").fill("awa.diop@example.sn")
    visitor.get_by_label("Mot de passe").fill("not her password")
    visitor.get_by_role("button", name="Connexion").click()
    expect(visitor.get_by_text(re.compile("mot de passe sont incorrects"))).to_be_visible()
    problems += violations(visitor, "login with a wrong password")

    page = new_context().new_page()
    sign_in(page, citizen.email)
    problems += audit(
        page,
        [
            f"/procedures/{BIRTH}/",
            "/dossiers/",
            f"/dossiers/{submitted.pk}/",
            f"/dossiers/{submitted.pk}/receipt/",
            f"/dossiers/{draft.pk}/",
            f"/dossiers/{draft.pk}/?step=1",
            f"/dossiers/{draft.pk}/?step=3",
        ],
    )
    page.goto(f"/dossiers/{draft.pk}/")
    page.get_by_role("button", name="Déposer ma demande").click()
    expect(page.get_by_role("alert")).to_contain_text("Il y a un problème")
    problems += violations(page, "review with errors shown")
    page.goto(f"/dossiers/{draft.pk}/?step=2")
    page.get_by_label("Téléphone").fill("12345")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page.get_by_role("alert")).to_contain_text("Il y a un problème")
    problems += violations(page, "step with errors shown")

    assert not problems, "\n".join(problems)


def test_agent_pages_have_no_axe_violation(
    world: dict[str, User], new_context: Any, sign_in: Any
) -> None:
    dossier = submitted_for(world["citizen_a"])
    page = new_context().new_page()
    sign_in(page, world["instructor"].email)
    problems = audit(page, ["/agent/", f"/agent/dossiers/{dossier.pk}/"])
    page.get_by_role("button", name="Prendre en charge ce dossier").click()
    page.get_by_role("button", name="Demander des corrections").click()  # without a reason
    expect(page.locator("#request_changes-comment-error")).to_be_visible()
    problems += violations(page, "instruction with an error shown")

    assert not problems, "\n".join(problems)


def test_keyboard_reaches_the_skip_link_first_then_the_search(
    world: dict[str, User], new_context: Any
) -> None:
    page = new_context().new_page()
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu principal")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["width"] > 1 and box["height"] > 1  # visible once focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Rechercher une démarche")).to_be_focused()
    page.keyboard.type("casier")
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name=re.compile("casier judiciaire"))).to_be_visible()


def test_citizen_files_a_dossier_with_javascript_off(
    world: dict[str, User], new_context: Any, sign_in: Any, pdf_path: Path
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, world["citizen_a"].email)
    page.goto(f"/procedures/{BIRTH}/")
    page.get_by_role("button", name="Commencer ma demande").click()
    expect(page).to_have_url(re.compile(r"/dossiers/[0-9a-f-]{36}/\?step=1$"))
    dossier = Dossier.objects.get(applicant=world["citizen_a"])
    assert dossier.state == "draft"

    # One page at a time, each saved by its button: no script needed to go from one to the next.
    expect(page.get_by_role("heading", level=2, name=re.compile("Étape 1 sur 4"))).to_be_visible()
    page.get_by_label("Prénom et nom de la personne concernée").fill("Awa Diop")
    page.get_by_label("Date de naissance").fill("1994-03-12")
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page).to_have_url(re.compile(r"\?step=2$"))
    page.get_by_role("radio", name="Copie littérale intégrale").check()
    page.get_by_label("Nombre d'exemplaires").fill("1")
    page.get_by_label("Téléphone").press_sequentially("77 123 45 67")
    page.keyboard.press("Enter")  # the Enter key continues, as the first button would
    expect(page).to_have_url(re.compile(r"\?step=3$"))
    expect(page.get_by_role("status")).to_contain_text("Vos réponses sont enregistrées.")
    dossier.refresh_from_db()
    answers = access.read_answers(dossier.applicant, dossier)
    assert answers["full_name"] == "Awa Diop"
    assert answers["copy_kind"] == "full_copy"
    assert dossier.state == "draft"

    page.get_by_label("Choisir un fichier").set_input_files(str(pdf_path))
    page.get_by_role("button", name="Envoyer ce fichier").click()
    expect(page.get_by_role("link", name="cni-awa.pdf")).to_be_visible()
    assert Attachment.objects.filter(dossier=dossier).count() == 1
    page.get_by_role("button", name="Enregistrer et continuer").click()
    expect(page.get_by_role("heading", name=re.compile("Vérifier et envoyer"))).to_be_visible()
    page.get_by_role("button", name="Déposer ma demande").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Récépissé de votre demande")
    dossier.refresh_from_db()
    assert dossier.state == "submitted"


def weigh(page: Page, path: str) -> int:
    """Bytes of every response body the page needs, from an empty cache."""
    responses: list[Response] = []

    def record(response: Response) -> None:
        responses.append(response)

    page.on("response", record)
    page.context.new_cdp_session(page).send("Network.setCacheDisabled", {"cacheDisabled": True})
    page.goto(path)
    page.wait_for_load_state("load")
    page.remove_listener("response", record)
    sizes = {response.url: len(response.body()) for response in responses}
    total = sum(sizes.values())
    details = ", ".join(f"{url.split('/', 3)[-1]} {size} B" for url, size in sizes.items())
    print(f"\nweight of {path}: {total} B ({total / 1024:.1f} KB): {details}")  # noqa: T201
    return total


def test_pages_weigh_less_than_60_kb(
    world: dict[str, User], new_context: Any, sign_in: Any
) -> None:
    dossier = submitted_for(world["citizen_a"])
    draft = draft_for(world["citizen_a"])
    assert weigh(new_context().new_page(), "/") < WEIGHT_BUDGET

    page = new_context().new_page()
    sign_in(page, world["citizen_a"].email)
    assert weigh(page, f"/dossiers/{draft.pk}/") < WEIGHT_BUDGET
    assert weigh(page, f"/dossiers/{draft.pk}/?step=1") < WEIGHT_BUDGET
    assert weigh(page, f"/dossiers/{dossier.pk}/") < WEIGHT_BUDGET
