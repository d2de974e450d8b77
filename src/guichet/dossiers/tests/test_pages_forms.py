"""The applicant's form pages drawn by the definition engine, without JavaScript: a question
that depends on another shows once saved, repeatable blocks grow and shrink with buttons,
nested errors link to their input, eligibility stops the submission with its message.
The NINEA form has three pages, so these go through its steps (test_pages_steps.py)."""

from typing import Any

import pytest

from guichet.catalog.service import published_procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import answers_of, client_for
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, pdf_file

pytestmark = pytest.mark.django_db
NINEA = "immatriculation-ninea"
COMPANY = {
    "company_name": "Fall Services SARL",
    "legal_form": "sarl",
    "rccm": "SN-DKR-2026-B-01234",
    "activity": "Maintenance informatique",
    "start_date": "2026-10-01",
    "has_premises": "no",
    "contact_email": "contact@fallservices.sn",
    "contact_phone": "33 821 00 00",
}


def _draft(user: User) -> Dossier:
    procedure = published_procedure(NINEA)
    assert procedure is not None
    return actions.do_create_draft(user, procedure, {}, "company")


def _html(response: Any) -> str:
    return str(response.content.decode())


def test_a_dependent_question_shows_once_saved(world: dict[str, User]) -> None:
    moussa = world["citizen_b"]
    dossier = _draft(moussa)
    client = client_for(moussa)
    page = _html(client.get(f"/dossiers/{dossier.pk}/?step=1"))
    assert 'name="premises.region"' not in page
    assert "<script" not in page
    saved = client.post(
        f"/dossiers/{dossier.pk}/answers/", {**COMPANY, "has_premises": "yes", "intent": "save"}
    )
    assert saved.status_code == 302
    page = _html(client.get(f"/dossiers/{dossier.pk}/?step=1"))
    assert 'name="premises.region"' in page and '<optgroup label="Dakar">' in page
    client.post(
        f"/dossiers/{dossier.pk}/answers/",
        {
            **COMPANY,
            "has_premises": "yes",
            "premises.region": "SN-TH",
            "premises.departement": "Mbour",
            "premises.commune": "Saly",
            "intent": "save",
        },
    )
    assert answers_of(dossier)["premises"] == {
        "region": "SN-TH",
        "departement": "Mbour",
        "commune": "Saly",
    }
    # Answering "no" hides the address again, and it is no longer kept.
    client.post(f"/dossiers/{dossier.pk}/answers/", {**COMPANY, "intent": "save"})
    assert "premises" not in answers_of(dossier)


def test_a_repeatable_block_without_javascript(world: dict[str, User]) -> None:
    moussa = world["citizen_b"]
    dossier = _draft(moussa)
    client = client_for(moussa)
    client.post(f"/dossiers/{dossier.pk}/answers/", {**COMPANY, "intent": "save"})
    page = _html(client.get(f"/dossiers/{dossier.pk}/?step=2"))
    assert 'name="associates.0.associate_name"' in page  # one blank row to start with
    assert 'name="associates.1.associate_name"' not in page

    row = {"page": "1", "associates.0.associate_name": "Awa Diop", "associates.0.kind": "person"}
    added = client.post(f"/dossiers/{dossier.pk}/answers/", {**row, "intent": "add:associates"})
    assert added.status_code == 302
    assert added["Location"] == f"/dossiers/{dossier.pk}/?step=2&add=associates#field-associates"
    page = _html(client.get(added["Location"]))
    assert 'value="Awa Diop"' in page and 'name="associates.1.associate_name"' in page
    # The row's NIN shows because its own "kind" says person; a company's NINEA does not.
    assert 'name="associates.0.nin"' in page and 'name="associates.0.ninea"' not in page

    wrong = client.post(
        f"/dossiers/{dossier.pk}/answers/",
        {**row, "associates.0.nin": "12", "intent": "next"},
    )
    assert wrong.status_code == 400
    assert '<a href="#field-associates.0.nin">' in _html(wrong)
    assert 'id="field-associates.0.nin-error"' in _html(wrong)
    assert "&lt;" not in _html(wrong)  # error markup drawn, not shown as text

    client.post(
        f"/dossiers/{dossier.pk}/answers/",
        {**row, "associates.0.nin": "1751199401234", "intent": "next"},
    )
    assert answers_of(dossier)["associates"] == [
        {"associate_name": "Awa Diop", "kind": "person", "nin": "1751199401234"}
    ]
    removed = client.post(
        f"/dossiers/{dossier.pk}/answers/", {**row, "intent": "remove:associates.0"}
    )
    assert removed.status_code == 302
    assert "associates" not in answers_of(dossier)


def test_eligibility_stops_the_submission_on_the_page(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    procedure = published_procedure(BIRTH)
    assert procedure is not None
    dossier = actions.do_create_draft(awa, procedure, BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    answers = {
        **BIRTH_ANSWERS,
        "for_someone_else": "yes",
        "relationship": "other",
        "intent": "submit",
    }
    refused = client_for(awa).post(f"/dossiers/{dossier.pk}/answers/", answers)
    assert refused.status_code == 400
    assert "Seuls la personne concernée" in _html(refused)
    assert Dossier.objects.get(pk=dossier.pk).state == "draft"


def test_the_amount_due_follows_the_answers(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    procedure = published_procedure(BIRTH)
    assert procedure is not None
    dossier = actions.do_create_draft(awa, procedure, {**BIRTH_ANSWERS, "copy_kind": "full_copy"})
    page = _html(client_for(awa).get(f"/dossiers/{dossier.pk}/"))
    assert "500" in page
