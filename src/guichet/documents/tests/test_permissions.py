"""Who gets what on every page and API endpoint that shows, downloads or revokes a document.

Each case is tried by every persona. Anonymous visitors are sent to sign in (pages) or get 401
(API); people who may not know the dossier exists get 404; those who see it but may not act get
403; a refused request leaves the documents as they were, an allowed revocation changes them.

And what each request leaves in the transparency log: an agent's download is one entry in the
agent's name (a decision document names the applicant and carries their answers); the
applicant's own download none (the log says who else looked); a revocation one entry in the
supervisor's name; a refusal none.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from guichet.audit.models import Action as LogAction
from guichet.documents.models import Document, DocumentEvent, StatusListEntry
from guichet.documents.tests.conftest import issued, log_after, log_position
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
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
LOGIN = "login"
DONE = "done"
REVOCATION = {"reason": "issued_in_error", "comment": "Erreur de saisie sur la date de naissance."}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Callable[[Document], str]
    expected: dict[str, int | str]
    data: Mapping[str, str] | None = None


def everyone_else(
    allowed: Mapping[str, int | str], anonymous: int | str = LOGIN
) -> dict[str, int | str]:
    expected: dict[str, int | str] = {persona: 404 for persona in PERSONAS}
    expected["anonymous"] = anonymous
    expected.update(allowed)
    return expected


AGENTS = {"instructor": 200, "supervisor": 200}
PAGES = [
    Case(
        "my documents",
        "get",
        lambda d: "/documents/",
        {p: 200 for p in PERSONAS} | {"anonymous": LOGIN},
    ),
    Case(
        "download, applicant side",
        "get",
        lambda d: f"/documents/{d.pk}/download/",
        everyone_else({"citizen_a": 200}),
    ),
    Case(
        "documents of a dossier, back office",
        "get",
        lambda d: f"/agent/dossiers/{d.dossier_id}/documents/",
        everyone_else(AGENTS),
    ),
    Case(
        "download, back office",
        "get",
        lambda d: f"/agent/documents/{d.pk}/download/",
        everyone_else(AGENTS),
    ),
    Case(
        "revocation form",
        "get",
        lambda d: f"/agent/documents/{d.pk}/revoke/",
        everyone_else({"instructor": 403, "supervisor": 200}),
    ),
    Case(
        "revoke",
        "post",
        lambda d: f"/agent/documents/{d.pk}/revoke/",
        everyone_else({"instructor": 403, "supervisor": DONE}),
        REVOCATION,
    ),
]
API = [
    Case(
        "list",
        "get",
        lambda d: f"dossiers/{d.dossier_id}/documents",
        everyone_else({"citizen_a": 200, **AGENTS}, 401),
    ),
    Case(
        "download",
        "get",
        lambda d: f"dossiers/{d.dossier_id}/documents/{d.pk}",
        everyone_else({"citizen_a": 200, **AGENTS}, 401),
    ),
    Case(
        "revoke",
        "post",
        lambda d: f"documents/{d.pk}/revoke",
        everyone_else({"citizen_a": 403, "instructor": 403, "supervisor": 200}, 401),
        REVOCATION,
    ),
]


def snapshot(document: Document) -> tuple[Any, ...]:
    fresh = Document.objects.get(pk=document.pk)
    return (
        Document.objects.count(),
        fresh.revoked_at,
        fresh.revocation_reason,
        fresh.revoked_by_id,
        StatusListEntry.objects.count(),
        DocumentEvent.objects.count(),
    )


NAMES = {"instructor": "Fatou Ndiaye", "supervisor": "Ibrahima Sarr"}


def expected_entries(
    world: dict[str, User], document: Document, case: Case, persona: str
) -> list[tuple[Any, ...]]:
    """(action, actor kind, actor id, actor name, administration, object type, object id,
    subject) of each entry the request must add to the log."""
    allowed = case.expected[persona] in (200, DONE)
    if not allowed or persona not in NAMES:
        return []  # a refusal, a list, the applicant's own download
    if "download" in case.name:
        action = LogAction.ATTACHMENT_DOWNLOADED
    elif case.name == "revoke":
        action = LogAction.DOCUMENT_REVOKED
    else:
        return []  # lists and the revocation form show numbers and dates, no personal data
    return [
        (
            action,
            "agent",
            str(world[persona].pk),
            NAMES[persona],  # the agent's name, never their sign-in email
            "Commune de Dakar-Plateau",
            "document",
            str(document.pk),
            str(world["citizen_a"].pk),
        )
    ]


def check(response: Any, case: Case, expected: int | str, changed: bool) -> None:
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    elif expected == DONE:
        assert response.status_code == 302, response.content[:300]
        assert not response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected, response.content[:300]
    # Only an allowed revocation changes anything.
    assert changed == (case.name == "revoke" and expected in (DONE, 200))


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", PAGES, ids=[case.name for case in PAGES])
def test_pages(world: dict[str, User], case: Case, persona: str) -> None:
    document = issued(world)
    client = client_for(None if persona == "anonymous" else world[persona])
    before = snapshot(document)
    logged = log_position()
    url = case.url(document)
    response = client.get(url) if case.method == "get" else client.post(url, dict(case.data or {}))
    check(response, case, case.expected[persona], snapshot(document) != before)
    if case.name == "my documents" and case.expected[persona] == 200:
        assert (document.number in response.content.decode()) == (persona == "citizen_a")
    if response.status_code == 200 and "download" in case.name:
        assert b"".join(response.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]
        assert response["Cache-Control"] == "private, no-store"
    assert log_after(logged) == expected_entries(world, document, case, persona)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", API, ids=[case.name for case in API])
def test_api(world: dict[str, User], case: Case, persona: str) -> None:
    document = issued(world)
    client = ApiClient(None if persona == "anonymous" else world[persona])
    before = snapshot(document)
    logged = log_position()
    url = case.url(document)
    response = client.get(url) if case.method == "get" else client.post(url, dict(case.data or {}))
    check(response, case, case.expected[persona], snapshot(document) != before)
    if response.status_code == 200 and case.name == "list":
        assert [row["number"] for row in response.json()] == [document.number]
    if response.status_code == 200 and case.name == "download":
        assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert log_after(logged) == expected_entries(world, document, case, persona)


def test_a_stranger_cannot_tell_a_real_document_from_a_made_up_one(world: dict[str, User]) -> None:
    document = issued(world)
    made_up = "00000000-0000-4000-8000-000000000000"
    stranger = client_for(world["citizen_b"])
    for path in (
        "/documents/{}/download/",
        "/agent/documents/{}/download/",
        "/agent/documents/{}/revoke/",
    ):
        assert stranger.get(path.format(document.pk)).status_code == 404
        assert stranger.get(path.format(made_up)).status_code == 404
    api = ApiClient(world["citizen_b"])
    assert api.post(f"documents/{document.pk}/revoke", REVOCATION).status_code == 404
    assert api.post(f"documents/{made_up}/revoke", REVOCATION).status_code == 404


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_verifier_and_the_published_lists_are_public(
    world: dict[str, User], persona: str
) -> None:
    client = client_for(None if persona == "anonymous" else world[persona])
    assert client.get("/verifier").status_code == 200
    for name in ("trust", "status"):
        response = client.get(f"/.well-known/guichet-{name}-list.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        again = client.get(
            f"/.well-known/guichet-{name}-list.json", headers={"If-None-Match": response["ETag"]}
        )
        assert again.status_code == 304
