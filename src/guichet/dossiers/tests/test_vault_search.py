"""Agents find a dossier by an exact national id, email or phone, through blind indexes: nothing
is decrypted to search, the index holds no clear value, and nobody finds another
administration's dossiers."""

import re
from typing import Any

import pytest

from guichet.catalog.forms import DefinitionError, check_definition
from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier, DossierIndex
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

RECORD = "bulletin-casier-judiciaire"
NIN = "1751199401234"
AMINATA = "aminata.ba@justice.gouv.sn"  # instructor at the criminal record service


def _submitted(user: User, slug: str, answers: dict[str, Any], document: str) -> Dossier:
    procedure = Procedure.objects.get(slug=slug)
    dossier = actions.do_create_draft(user, procedure, answers)
    actions.do_add_attachment(user, dossier.pk, document, pdf_file())
    return actions.do_transition(user, dossier.pk, "submit")


def _record_request(user: User, **extra: str) -> Dossier:
    answers = {
        "full_name": "Awa Diop",
        "birth_date": "1994-03-12",
        "birth_place": "Kaolack",
        "father_name": "Mamadou",
        "mother_name": "Khady Ndiaye",
        "national_id": NIN,
        **extra,
    }
    return _submitted(user, RECORD, answers, "id_document")


@pytest.fixture
def aminata(world: dict[str, User]) -> ApiClient:
    return ApiClient(User.objects.get(email=AMINATA))


def _found(client: ApiClient, value: str, **params: Any) -> list[str]:
    response = client.get("queue", find=value, **params)
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    "typed", [NIN, "1 751 199 401 234", "1-751-199-401-234", " 1751.1994.01234 "]
)
def test_an_agent_finds_a_dossier_by_national_id_in_any_usual_format(
    world: dict[str, User], aminata: ApiClient, typed: str
) -> None:
    wanted = _record_request(world["citizen_a"])
    _record_request(world["citizen_b"], national_id="2880211012345", full_name="Moussa Fall")

    assert _found(aminata, typed) == [str(wanted.pk)]


@pytest.mark.parametrize(
    "typed", ["77 123 45 67", "+221 77 123 45 67", "00221771234567", "77-123-45-67", "771234567"]
)
def test_an_agent_finds_a_dossier_by_phone_in_any_usual_format(
    world: dict[str, User], api: dict[str, ApiClient], typed: str
) -> None:
    wanted = _submitted(world["citizen_a"], BIRTH, BIRTH_ANSWERS, "id_document")
    other = {**BIRTH_ANSWERS, "phone": "76 555 12 34", "full_name": "Moussa Fall"}
    _submitted(world["citizen_b"], BIRTH, other, "id_document")

    assert _found(api["instructor"], typed) == [str(wanted.pk)]


def test_an_agent_finds_by_email_whatever_the_case(
    world: dict[str, User], aminata: ApiClient
) -> None:
    answered = _record_request(world["citizen_b"], email="Contact.Fall@Example.SN")
    own_account = _record_request(world["citizen_a"], national_id="")

    assert _found(aminata, "CONTACT.FALL@example.sn") == [str(answered.pk)]
    # The applicant's sign-in address finds their dossiers too.
    assert _found(aminata, "Awa.Diop@EXAMPLE.sn") == [str(own_account.pk)]


def test_an_agent_of_another_administration_finds_nothing(
    world: dict[str, User], api: dict[str, ApiClient]
) -> None:
    _record_request(world["citizen_a"], email="awa@example.sn")
    birth = _submitted(world["citizen_a"], BIRTH, BIRTH_ANSWERS, "id_document")

    for value in (NIN, "awa@example.sn", "awa.diop@example.sn"):
        assert _found(api["instructor"], value) == ([str(birth.pk)] if "diop" in value else [])
        assert _found(api["other_agent"], value) == []
    assert _found(api["other_agent"], "77 123 45 67") == []
    assert api["citizen_b"].get("queue", find=NIN).json()["items"] == []


def test_drafts_are_not_found_and_decided_dossiers_are(
    world: dict[str, User], api: dict[str, ApiClient]
) -> None:
    procedure = Procedure.objects.get(slug=BIRTH)
    actions.do_create_draft(world["citizen_b"], procedure, {"phone": "77 123 45 67"})
    decided = _submitted(world["citizen_a"], BIRTH, BIRTH_ANSWERS, "id_document")
    actions.do_transition(world["instructor"], decided.pk, "take")
    actions.do_transition(world["instructor"], decided.pk, "accept")

    assert _found(api["instructor"], "771234567") == [str(decided.pk)]
    assert _found(api["instructor"], "771234567", state="accepted") == [str(decided.pk)]
    assert _found(api["instructor"], "771234567", state="in_review") == []
    assert _found(api["instructor"], "not a number nor an address") == []


def test_the_index_holds_no_clear_value_and_follows_the_answers(
    world: dict[str, User], aminata: ApiClient
) -> None:
    dossier = _record_request(world["citizen_a"], email="awa@example.sn")

    rows = list(DossierIndex.objects.filter(dossier=dossier).values_list("kind", "digest"))
    assert sorted(kind for kind, _ in rows) == ["email", "national_id"]
    for _kind, digest in rows:
        assert re.fullmatch(r"[0-9a-f]{32}", digest)
        assert NIN not in digest and "awa" not in digest

    # Changed answers (requested by the instructor): the old number no longer finds it.
    instructor = User.objects.get(email=AMINATA)
    actions.do_transition(instructor, dossier.pk, "take")
    actions.do_transition(instructor, dossier.pk, "request_changes", "Numéro erroné.")
    actions.do_update_answers(world["citizen_a"], dossier.pk, {"national_id": "1751199409999"})
    assert _found(aminata, NIN) == []
    assert _found(aminata, "1751199409999") == [str(dossier.pk)]


def test_the_back_office_page_has_a_search_box_that_finds(world: dict[str, User]) -> None:
    wanted = _submitted(world["citizen_a"], BIRTH, BIRTH_ANSWERS, "id_document")
    _submitted(world["citizen_b"], BIRTH, {**BIRTH_ANSWERS, "phone": "76 555 12 34"}, "id_document")
    page = client_for(world["instructor"])

    empty = page.get("/agent/").content.decode()
    assert 'name="find"' in empty
    found = page.get("/agent/", {"find": "+221 77 123 45 67"}).content.decode()

    assert re.findall(r'<a href="/agent/dossiers/([0-9a-f-]{36})/">', found) == [str(wanted.pk)]
    assert 'value="+221 77 123 45 67"' in found  # the box keeps what was typed


def test_a_form_field_may_declare_an_index_kind_and_only_a_known_one() -> None:
    label = {"fr": "NIN"}
    check_definition([{"name": "nin", "type": "text", "index": "national_id", "label": label}])
    for bad in (
        {"name": "nin", "type": "text", "index": "passport", "label": label},
        {"name": "nin", "type": "number", "index": "national_id", "label": label},
    ):
        with pytest.raises(DefinitionError, match="index"):
            check_definition([bad])
