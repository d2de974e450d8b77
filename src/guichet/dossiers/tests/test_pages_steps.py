"""A form of several pages, filled in one step at a time: the step indicator, saving each step
without losing the others' answers or what was typed, files sent from their step, conditions
on earlier pages, the review with its links back, bookmarked and made-up step addresses."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guichet.catalog.service import published_procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Attachment, Dossier
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    answers_of,
    client_for,
    snapshot,
    strict_html,
)
from guichet.identity.models import User
from guichet.testing import BIRTH, pdf_file

pytestmark = pytest.mark.django_db
NINEA = "immatriculation-ninea"
PERSON = {
    "full_name": "Awa Diop",
    "birth_date": "1994-03-12",
    "birth_place.region": "SN-DK",
    "birth_place.departement": "Dakar",
    "birth_place.commune": "Plateau",
    "register_number": "",
}
REQUEST = {"copy_kind": "extract", "copies": "2", "for_someone_else": "no", "phone": "77 123 45 67"}
COMPANY = {
    "company_name": "Fall Services SARL",
    "legal_form": "sarl",
    "rccm": "SN-DKR-2026-B-01234",
    "activity": "Maintenance informatique",
    "start_date": "2026-10-01",
    "has_premises": "no",
}


def html(response: Any) -> str:
    return str(response.content.decode())


def new_draft(user: User, slug: str = BIRTH, kind: str = "person") -> Dossier:
    procedure = published_procedure(slug)
    assert procedure is not None
    return actions.do_create_draft(user, procedure, {}, kind)


def step(dossier: Dossier, number: int | str) -> str:
    return f"/dossiers/{dossier.pk}/?step={number}"


def save(client: Any, dossier: Dossier, page: int | str, data: dict[str, Any], intent: str) -> Any:
    return client.post(
        f"/dossiers/{dossier.pk}/answers/", {**data, "page": str(page), "intent": intent}
    )


def test_the_applicant_goes_through_the_steps_then_submits_from_the_review(
    world: dict[str, User],
) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    client = client_for(awa)

    opened = client.get(f"/dossiers/{dossier.pk}/")  # a new draft opens on its first step
    assert opened["Location"] == step(dossier, 1)
    first = html(client.get(opened["Location"]))
    assert "Étape 1 sur 4\u00a0: La personne concernée" in first
    assert 'name="full_name"' in first and 'name="copy_kind"' not in first
    assert 'type="file"' not in first and 'value="back"' not in first  # no "previous" on step 1
    assert 'value="next"' in first and "<script" not in first

    done = save(client, dossier, 0, PERSON, "next")
    assert done.status_code == 302
    assert done["Location"] == step(dossier, 2)
    assert answers_of(dossier)["birth_place"]["commune"] == "Plateau"

    second = html(client.get(done["Location"]))
    assert "Étape 2 sur 4\u00a0: Votre demande" in second
    assert 'name="copy_kind"' in second and 'name="full_name"' not in second
    assert "Précédent" in second and "Enregistrer et continuer" in second
    # "Previous" saves this step too, and the other step's answers stay as they were.
    back = save(client, dossier, 1, {**REQUEST, "copies": "3"}, "back")
    assert back["Location"] == step(dossier, 1)
    answers = answers_of(dossier)
    assert answers["copies"] == 3 and answers["full_name"] == "Awa Diop"
    assert 'value="Awa Diop"' in html(client.get(back["Location"]))  # the browser's back, too

    assert save(client, dossier, 1, REQUEST, "next")["Location"] == step(dossier, 3)
    third = html(client.get(step(dossier, 3)))
    assert "Étape 3 sur 4\u00a0: Pièces justificatives" in third
    assert 'enctype="multipart/form-data"' in third
    assert 'name="upload-id_document"' in third and "identité de votre carte" not in third
    # The file goes with the step's own button: no second form, nothing typed lost.
    sent = client.post(
        f"/dossiers/{dossier.pk}/answers/",
        {"page": "2", "intent": "next", "upload-id_document": pdf_file("cni-awa.pdf")},
    )
    assert sent["Location"] == step(dossier, "review")
    assert [a.field for a in Attachment.objects.filter(dossier=dossier)] == ["id_document"]

    review = html(client.get(sent["Location"]))
    assert "Étape 4 sur 4\u00a0: Vérifier et envoyer" in review
    for number, title in ((1, "La personne concernée"), (2, "Votre demande"), (3, "Pièces")):
        assert f'href="{step(dossier, number)}"' in review
        assert title in review
    assert "12 mars 1994" in review and "Plateau, Dakar, Dakar" in review
    assert "cni-awa.pdf" in review
    assert 'value="submit"' in review and "Modifier" in review

    submitted = client.post(
        f"/dossiers/{dossier.pk}/answers/", {"page": "review", "intent": "submit"}
    )
    assert submitted["Location"] == f"/dossiers/{dossier.pk}/receipt/"
    dossier.refresh_from_db()
    assert dossier.state == "submitted"
    assert answers_of(dossier)["phone"] == "+221771234567"
    # A submitted dossier shows its answers as before; a bookmarked step is just that page.
    after = client.get(step(dossier, 2))
    assert after.status_code == 200
    assert 'name="intent"' not in html(after) and "12 mars 1994" in html(after)


def test_a_refused_step_shows_again_with_what_was_typed_and_saves_nothing(
    world: dict[str, User],
) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    client = client_for(awa)
    save(client, dossier, 0, PERSON, "next")
    before = snapshot(dossier)

    wrong = save(client, dossier, 1, {**REQUEST, "phone": "12345", "copies": "4"}, "next")
    assert wrong.status_code == 400
    body = html(wrong)
    assert "Étape 2 sur 4\u00a0: Votre demande" in body
    assert 'id="field-phone-error"' in body and 'aria-invalid="true"' in body
    assert 'value="12345"' in body and 'value="4"' in body
    assert '<a href="#field-phone">' in body  # the summary links to the field on this step
    assert snapshot(dossier) == before

    # A file of the wrong kind on its step: the step again, the error by the file's input.
    fake = SimpleUploadedFile("faux.pdf", b"just some text, not a PDF", "application/pdf")
    refused = client.post(
        f"/dossiers/{dossier.pk}/answers/",
        {"page": "2", "intent": "next", "upload-id_document": fake},
    )
    assert refused.status_code == 400
    assert "Étape 3 sur 4" in html(refused) and 'id="field-id_document-error"' in html(refused)
    assert not Attachment.objects.filter(dossier=dossier).exists()


def test_a_refused_submission_links_each_error_to_its_step(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    client = client_for(awa)
    save(client, dossier, 0, {**PERSON, "full_name": ""}, "next")
    save(client, dossier, 1, REQUEST, "next")

    refused = client.post(
        f"/dossiers/{dossier.pk}/answers/", {"page": "review", "intent": "submit"}
    )
    assert refused.status_code == 400
    body = html(refused)
    assert "Il y a un problème" in body
    assert f'<a href="{step(dossier, 1)}#field-full_name">' in body
    assert f'<a href="{step(dossier, 3)}#field-id_document">' in body
    assert "Ce champ est obligatoire." in body and "Cette pièce est obligatoire." in body
    assert Dossier.objects.get(pk=dossier.pk).state == "draft"
    fixing = html(client.get(step(dossier, 1)))
    assert 'id="field-full_name"' in fixing


def test_conditions_on_earlier_pages_skip_a_page_and_show_questions_on_their_step(
    world: dict[str, User],
) -> None:
    moussa = world["citizen_b"]
    dossier = new_draft(moussa, NINEA, "company")
    client = client_for(moussa)
    first = client.get(f"/dossiers/{dossier.pk}/", follow=True)
    assert "Étape 1 sur 4\u00a0: L&#x27;entreprise" in html(first)

    # "Yes, premises" makes the address appear on the same step: "next" stays to show it.
    stay = save(client, dossier, 0, {**COMPANY, "has_premises": "yes"}, "next")
    assert stay["Location"] == step(dossier, 1)
    assert 'name="premises.region"' in html(client.get(stay["Location"]))
    address = {
        "premises.region": "SN-TH",
        "premises.departement": "Mbour",
        "premises.commune": "Saly",
    }
    on = save(client, dossier, 0, {**COMPANY, "has_premises": "yes", **address}, "next")
    assert on["Location"] == step(dossier, 2)
    assert "Associés et dirigeants" in html(client.get(on["Location"]))

    # A sole proprietorship has no partners: their page is skipped, the steps counted anew.
    solo = save(client, dossier, 0, {**COMPANY, "legal_form": "ei"}, "next")
    assert solo["Location"] == step(dossier, 2)
    contact = html(client.get(solo["Location"]))
    assert "Étape 2 sur 3\u00a0: Contact et pièces" in contact
    assert "Statuts de l&#x27;entreprise" not in contact and "Extrait RCCM" in contact
    assert "premises" not in answers_of(dossier)  # hidden again, so no longer kept
    assert "Associés" not in html(client.get(step(dossier, "review")))
    assert client.get(step(dossier, 3))["Location"] == step(dossier, "review")


def test_a_block_grows_and_shrinks_on_its_step(world: dict[str, User]) -> None:
    moussa = world["citizen_b"]
    dossier = new_draft(moussa, NINEA, "company")
    client = client_for(moussa)
    save(client, dossier, 0, COMPANY, "next")
    row = {"associates.0.associate_name": "Awa Diop", "associates.0.kind": "person"}

    added = save(client, dossier, 1, row, "add:associates")
    assert added["Location"] == f"{step(dossier, 2)}&add=associates#field-associates"
    page = html(client.get(added["Location"]))
    assert 'value="Awa Diop"' in page and 'name="associates.1.associate_name"' in page
    assert 'name="associates.0.nin"' in page  # the row's own condition, on the server
    assert answers_of(dossier)["company_name"] == "Fall Services SARL"

    removed = save(client, dossier, 1, row, "remove:associates.0")
    assert removed["Location"] == f"{step(dossier, 2)}#field-associates"
    assert "associates" not in answers_of(dossier)


def test_a_document_is_removed_from_its_step(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file("cni.pdf"))
    attachment = Attachment.objects.get(dossier=dossier)
    client = client_for(awa)
    page = html(client.get(step(dossier, 3)))
    assert f'value="drop:{attachment.pk}"' in page and "cni.pdf" in page

    dropped = save(client, dossier, 2, {}, f"drop:{attachment.pk}")
    assert dropped["Location"] == step(dossier, 3)
    assert not Attachment.objects.filter(dossier=dossier).exists()
    again = save(client, dossier, 2, {}, f"drop:{attachment.pk}")  # a second press
    assert again.status_code == 302
    assert save(client, dossier, 2, {}, "drop:not-an-id").status_code == 302


@pytest.mark.parametrize(
    ("asked", "sent_to"),
    [("0", "1"), ("5", "review"), ("9999999", "review"), ("deux", "1"), ("-1", "1"), ("²", "1")],
)
def test_a_step_address_out_of_range_redirects(
    world: dict[str, User], asked: str, sent_to: str
) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    response = client_for(awa).get(step(dossier, asked))
    assert response.status_code == 302
    assert response["Location"] == step(dossier, sent_to)


def test_a_made_up_page_saves_nothing_and_breaks_nothing(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    client = client_for(awa)
    before = snapshot(dossier)
    for page in ("7", "-1", "x" * 300, "", "²", "9" * 20):
        response = save(client, dossier, page, PERSON, "next")
        assert response.status_code == 302
        assert response["Location"] == f"/dossiers/{dossier.pk}/"
    assert save(client, dossier, "review", {}, "withdraw").status_code == 302
    assert snapshot(dossier) == before


def test_a_form_of_one_page_is_shown_whole_as_before(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa, "bulletin-casier-judiciaire")
    page = html(client_for(awa).get(step(dossier, 2)))
    assert "Étape" not in page
    assert 'name="full_name"' in page and 'name="purpose"' in page
    assert 'value="save"' in page and 'value="submit"' in page


def test_corrections_are_made_step_by_step_then_sent_back(world: dict[str, User]) -> None:
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    client = client_for(awa)
    save(client, dossier, 0, PERSON, "next")
    save(client, dossier, 1, REQUEST, "next")
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file("cni.pdf"))
    actions.do_transition(awa, dossier.pk, "submit")
    actions.do_transition(world["instructor"], dossier.pk, "take")
    actions.do_transition(world["instructor"], dossier.pk, "request_changes", "3 exemplaires.")

    review = html(client.get(f"/dossiers/{dossier.pk}/"))  # the review is the dossier's page
    assert "L'administration vous demande des corrections" in review
    assert "3 exemplaires." in review and 'value="resubmit"' in review
    assert save(client, dossier, 1, {**REQUEST, "copies": "3"}, "review")["Location"] == (
        step(dossier, "review")
    )
    sent = client.post(f"/dossiers/{dossier.pk}/answers/", {"page": "review", "intent": "resubmit"})
    assert sent["Location"] == f"/dossiers/{dossier.pk}/"
    dossier.refresh_from_db()
    assert dossier.state == "in_review"
    assert answers_of(dossier)["copies"] == 3


def test_a_step_costs_the_same_queries_whatever_the_step_or_the_history(
    world: dict[str, User],
) -> None:
    """A step reads the session, the account, the dossier, its attachments and the account's
    roles (the menu): 5, not the history or the messages, which the review shows."""
    awa = world["citizen_a"]
    dossier = new_draft(awa)
    client = client_for(awa)
    client.get(step(dossier, 1))  # first request of the session warms its caches

    def count(number: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(step(dossier, number)).status_code == 200
        return len(captured.captured_queries)

    fresh = [count(number) for number in (1, 2, 3)]
    for _ in range(5):
        actions.do_update_answers(awa, dossier.pk, {"copies": 2})
    assert [count(number) for number in (1, 2, 3)] == fresh
    assert fresh == [5, 5, 5]
