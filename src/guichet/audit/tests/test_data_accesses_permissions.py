""" "Who used my data", persona by persona: the page, its JSON download with proofs, one entry's
proof file and the API's list. An instructor opens Awa's dossier: the entry is about Awa, so
she alone sees it and gets its proof; the instructor who is its actor does not, nor anyone
else. Anonymous visitors are sent to sign in (401 on the API)."""

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from guichet.audit.models import Action, AuditEvent
from guichet.dossiers.tests.test_pages_support import client_for, submitted_for
from guichet.identity.models import User
from guichet.testing import ApiClient

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
OPENED = "Demande consultée par un agent"


@pytest.fixture
def opening(world: dict[str, User]) -> AuditEvent:
    """The instructor opens Awa's dossier on the back office; a checkpoint covers the entry."""
    dossier = submitted_for(world["citizen_a"])
    assert client_for(world["instructor"]).get(f"/agent/dossiers/{dossier.pk}/").status_code == 200
    call_command("audit", "checkpoint", stdout=StringIO())
    return AuditEvent.objects.get(
        action=Action.DOSSIER_OPENED, subject_id=str(dossier.applicant_id)
    )


def _client(world: dict[str, User], persona: str) -> Client:
    return client_for(None if persona == "anonymous" else world[persona])


def _sent_to_sign_in(response: Any) -> bool:
    return bool(response.status_code == 302) and str(response["Location"]).startswith(
        "/accounts/login/"
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_page_lists_the_persons_own_entries(
    world: dict[str, User], opening: AuditEvent, persona: str
) -> None:
    response = _client(world, persona).get("/account/data-accesses/")
    if persona == "anonymous":
        assert _sent_to_sign_in(response)
        return
    assert response.status_code == 200
    html = response.content.decode()
    mine = AuditEvent.objects.filter(subject_id=str(world[persona].pk)).count()
    assert html.count("<tr>") == (1 + mine if mine else 0)  # the header, then each entry
    assert (OPENED in html) is (persona == "citizen_a")
    assert (f"/account/data-accesses/{opening.seq}.tlog-proof" in html) is (persona == "citizen_a")


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_download_holds_the_persons_own_entries(
    world: dict[str, User], opening: AuditEvent, persona: str
) -> None:
    response = _client(world, persona).get("/account/data-accesses/proofs.json")
    if persona == "anonymous":
        assert _sent_to_sign_in(response)
        return
    assert response.status_code == 200
    bundle = json.loads(response.content)
    me = str(world[persona].pk)
    assert bundle["subject"] == me
    events = bundle["events"]
    assert all(item["event"]["subject_id"] == me for item in events)
    indices = {item["index"] for item in events} | set(bundle["not_yet_covered"])
    expected = set(AuditEvent.objects.filter(subject_id=me).values_list("seq", flat=True))
    assert indices == expected
    assert (opening.seq in indices) is (persona == "citizen_a")


@pytest.mark.parametrize("persona", PERSONAS)
def test_an_entrys_proof_goes_to_its_subject_only_not_to_its_actor(
    world: dict[str, User], opening: AuditEvent, persona: str
) -> None:
    response = _client(world, persona).get(f"/account/data-accesses/{opening.seq}.tlog-proof")
    if persona == "anonymous":
        assert _sent_to_sign_in(response)
    elif persona == "citizen_a":
        assert response.status_code == 200
        assert response.content.decode().startswith("c2sp.org/tlog-proof@v1\n")
        assert f"\nindex {opening.seq}\n" in response.content.decode()
    else:
        # The instructor is the entry's actor, but it is about Awa: as for an entry that does
        # not exist.
        assert response.status_code == 404
        assert "c2sp.org/tlog-proof" not in response.content.decode()
        assert "Content-Disposition" not in response


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_api_lists_the_callers_own_entries(
    world: dict[str, User], api: dict[str, ApiClient], opening: AuditEvent, persona: str
) -> None:
    listed = api[persona].get("me/access-log", limit=200)
    proofs = api[persona].get("me/access-log/proofs")
    if persona == "anonymous":
        assert listed.status_code == proofs.status_code == 401
        return
    assert listed.status_code == proofs.status_code == 200
    me = str(world[persona].pk)
    expected = set(AuditEvent.objects.filter(subject_id=me).values_list("seq", flat=True))
    assert {item["seq"] for item in listed.json()["items"]} == expected
    assert json.loads(proofs.content)["subject"] == me
    assert (opening.seq in expected) is (persona == "citizen_a")
