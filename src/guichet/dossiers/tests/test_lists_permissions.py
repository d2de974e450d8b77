"""Who sees which dossiers in the lists, persona by persona: the applicant's list (/dossiers/),
the agents' queue page (/agent/) with and without a search, and who may start a dossier through
the API. Each case asserts the status and what the page lists: nobody sees another person's
dossiers, nor an administration's dossiers it does not handle."""

import re
from typing import Any

import pytest

from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    draft_for,
    strict_html,
    submitted_for,
)
from guichet.dossiers.tests.test_vault_search import _submitted
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "citizen_a",
    "citizen_b",
    "instructor",
    "supervisor",
    "other_agent",
    "admin",
)
AGENTS_OF_THE_COMMUNE = ("instructor", "supervisor")
APPLICANT_LINK = re.compile(r'<a href="/dossiers/([0-9a-f-]{36})/">')
QUEUE_LINK = re.compile(r'<a href="/agent/dossiers/([0-9a-f-]{36})/">')
MOUSSA_PHONE = "76 555 12 34"


@pytest.fixture
def filed(world: dict[str, User]) -> dict[str, Dossier]:
    """Awa's draft and submitted dossier, Moussa's submitted dossier (another phone)."""
    return {
        "awa_draft": draft_for(world["citizen_a"]),
        "awa_submitted": submitted_for(world["citizen_a"]),
        "moussa_submitted": _submitted(
            world["citizen_b"], BIRTH, {**BIRTH_ANSWERS, "phone": MOUSSA_PHONE}, "id_document"
        ),
    }


def _ids(*dossiers: Dossier) -> set[str]:
    return {str(dossier.pk) for dossier in dossiers}


def _login_redirect(response: Any) -> bool:
    return bool(response.status_code == 302) and str(response["Location"]).startswith(
        "/accounts/login/"
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_applicants_list_shows_their_own_dossiers_only(
    world: dict[str, User], filed: dict[str, Dossier], persona: str
) -> None:
    response = client_for(None if persona == "anonymous" else world[persona]).get("/dossiers/")
    if persona == "anonymous":
        assert _login_redirect(response)
        return
    assert response.status_code == 200
    expected = {
        "citizen_a": _ids(filed["awa_draft"], filed["awa_submitted"]),
        "citizen_b": _ids(filed["moussa_submitted"]),
    }.get(persona, set())
    listed = set(APPLICANT_LINK.findall(response.content.decode()))
    assert listed == expected
    # Agents of the commune handle Awa's dossier, but it is not theirs: not on this list.
    for dossier in filed.values():
        if str(dossier.pk) not in expected:
            assert str(dossier.pk) not in response.content.decode()


QUEUE_CASES = {
    "everything": ({}, {"awa_submitted", "moussa_submitted"}),
    "Awa's phone": ({"find": "+221 77 123 45 67"}, {"awa_submitted"}),
    "Awa's sign-in email": ({"find": "AWA.DIOP@example.sn"}, {"awa_submitted"}),
    "Moussa's phone": ({"find": MOUSSA_PHONE}, {"moussa_submitted"}),
    "nobody's phone": ({"find": "70 000 00 00"}, set()),
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", list(QUEUE_CASES))
def test_the_queue_and_its_search_show_the_administrations_dossiers_only(
    world: dict[str, User], filed: dict[str, Dossier], persona: str, case: str
) -> None:
    query, wanted = QUEUE_CASES[case]
    response = client_for(None if persona == "anonymous" else world[persona]).get("/agent/", query)
    if persona == "anonymous":
        assert _login_redirect(response)
        return
    if persona in ("citizen_a", "citizen_b", "admin"):
        assert response.status_code == 404  # not agents: the back office does not exist
        assert "Awa Diop" not in response.content.decode()
        return
    assert response.status_code == 200
    html = response.content.decode()
    listed = set(QUEUE_LINK.findall(html))
    if persona in AGENTS_OF_THE_COMMUNE:
        assert listed == {str(filed[name].pk) for name in wanted}
        assert ("Awa Diop" in html) is ("awa_submitted" in wanted)
        assert ("Moussa Fall" in html) is ("moussa_submitted" in wanted)
    else:  # an agent of another administration: nothing of the commune's, searched or not
        assert listed == set()
        assert "Awa Diop" not in html and "Moussa Fall" not in html
    assert str(filed["awa_draft"].pk) not in html  # drafts are nobody's business but Awa's


@pytest.mark.parametrize("persona", PERSONAS)
def test_starting_a_dossier_through_the_api_needs_an_account_and_files_it_as_yours(
    api: dict[str, ApiClient], world: dict[str, User], persona: str
) -> None:
    before = Dossier.objects.count()
    response = api[persona].post("dossiers", {"procedure": BIRTH, "data": {"copies": 1}})
    if persona == "anonymous":
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
        assert Dossier.objects.count() == before
        return
    assert response.status_code == 201, response.content
    created = Dossier.objects.get(pk=response.json()["id"])
    assert created.applicant_id == world[persona].pk
    assert created.state == "draft"
    assert response.json()["data"] == {"copies": 1}
    # Nobody else sees the new draft, in their list or by its address.
    for other in PERSONAS:
        if other in ("anonymous", persona):
            continue
        assert str(created.pk) not in {item["id"] for item in api[other].get("dossiers").json()}
        assert api[other].get(f"dossiers/{created.pk}").status_code == 404
