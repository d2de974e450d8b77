"""The API gives each procedure's definition, so a third-party front end renders and checks the
form as Guichet does; answers refused by the engine come back per field, nested paths dotted."""

from typing import Any

import pytest
from django.test import Client

from guichet.catalog.actions import do_save_procedure
from guichet.catalog.definition import check, load
from guichet.catalog.models import Procedure
from guichet.identity.actions import do_add_membership
from guichet.identity.models import Organisation, Role, User
from guichet.testing import BIRTH, ApiClient

pytestmark = pytest.mark.django_db
DEFINITIONS = __import__("pathlib").Path(__file__).parents[1] / "definitions"
NINEA = "immatriculation-ninea"


@pytest.mark.parametrize(
    "who",
    ["anonymous", "citizen_a", "citizen_b", "instructor", "supervisor", "other_agent", "admin"],
)
def test_everyone_reads_a_published_definition(api: dict[str, ApiClient], who: str) -> None:
    response = api[who].get(f"procedures/{BIRTH}/definition")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1
    assert check(body["definition"]) == []
    assert body["definition"] == load((DEFINITIONS / f"{BIRTH}.yaml").read_text("utf-8"))


@pytest.fixture
def unpublished(world: dict[str, User]) -> Procedure:
    return do_save_procedure(
        Organisation.objects.get(slug="ansd"),
        "en-preparation",
        title={"fr": "En préparation"},
        form=[{"name": "motif", "type": "text", "label": {"fr": "Motif"}}],
    )


@pytest.mark.parametrize(
    "who",
    ["anonymous", "citizen_a", "citizen_b", "instructor", "supervisor", "other_agent", "admin"],
)
def test_an_unpublished_definition_is_hidden(
    api: dict[str, ApiClient], unpublished: Procedure, who: str
) -> None:
    assert api[who].get("procedures/en-preparation/definition").status_code == 404


def test_its_designers_read_an_unpublished_definition(
    world: dict[str, User], unpublished: Procedure
) -> None:
    designer = User.objects.create_user("designer@ansd.sn", "x-Long-password-1", full_name="D")
    do_add_membership(designer, unpublished.organisation, Role.DESIGNER)
    client = Client()
    client.force_login(designer)
    response = client.get("/api/v1/procedures/en-preparation/definition")
    assert response.status_code == 200
    assert response.json()["definition"]["slug"] == "en-preparation"


@pytest.mark.parametrize("query", ["?version=0", "?version=2", "?version=abc"])
def test_unknown_versions(api: dict[str, ApiClient], query: str) -> None:
    response = api["anonymous"].get(f"procedures/{BIRTH}/definition{query}")
    assert response.status_code in (400, 404)


def test_nested_answers_errors_are_dotted(api: dict[str, ApiClient]) -> None:
    data: dict[str, Any] = {
        "company_name": "Fall Services",
        "legal_form": "sarl",
        "has_premises": True,
        "premises": {"region": "SN-DK", "departement": "Mbour", "commune": "Plateau"},
        "associates": [
            {"associate_name": "Awa", "kind": "person", "nin": "1751199401234"},
            {"associate_name": "Fall SA", "kind": "company", "ninea": "12"},
        ],
    }
    response = api["citizen_b"].post(
        "dossiers", {"procedure": NINEA, "data": data, "applicant_kind": "company"}
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"premises.departement", "associates.1.ninea"}

    data["premises"]["departement"] = "Dakar"
    data["associates"][1]["ninea"] = "005871234 2G3"
    created = api["citizen_b"].post(
        "dossiers", {"procedure": NINEA, "data": data, "applicant_kind": "company"}
    )
    assert created.status_code == 201, created.content
    stored = created.json()["data"]
    assert stored["associates"][1] == {
        "associate_name": "Fall SA",
        "kind": "company",
        "ninea": "0058712342G3",
    }
    assert stored["premises"] == {"region": "SN-DK", "departement": "Dakar", "commune": "Plateau"}
