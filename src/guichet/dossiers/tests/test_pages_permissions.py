"""Who gets what on every page that shows or changes a dossier or an attachment.

Each case is tried by every persona. Anonymous visitors are sent to sign in; people who may not
know the dossier exists get 404; a refused request leaves the database as it was, and an allowed
one really changes it. A download of an attachment leaves one entry in the transparency log in
the agent's name when an agent downloads it, none when the applicant does or when refused. The
designer of the commune that owns the procedure is tried with the procedure's workflow naming
their role in every agent's step, as a workflow stored before that was refused could: they still
get 404 (separation of duties).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from guichet.audit.models import Action as LogAction
from guichet.audit.models import AuditEvent
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.design_roles import store_workflow_naming_design_roles
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    draft_for,
    snapshot,
    strict_html,
    submitted_for,
)
from guichet.identity.models import User
from guichet.testing import pdf_file

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "citizen_a",
    "citizen_b",
    "instructor",
    "supervisor",
    "other_agent",
    "designer",
    "admin",
)
LOGIN = "login"  # expected: a redirect to the sign-in page
DONE = "done"  # expected: a redirect after success (PRG) with the database changed


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: Callable[[dict[str, Any]], str]
    expected: dict[str, int | str]
    data: Callable[[dict[str, Any]], dict[str, Any]] = lambda w: {}


def everyone_else(
    owner_or_agents: Mapping[str, int | str], default: int | str = 404
) -> dict[str, int | str]:
    expected: dict[str, int | str] = {persona: default for persona in PERSONAS}
    expected["anonymous"] = LOGIN
    expected.update(owner_or_agents)
    return expected


def _draft(w: dict[str, Any]) -> str:
    return f"/dossiers/{w['draft'].pk}/"


def _submitted(w: dict[str, Any]) -> str:
    return f"/dossiers/{w['submitted'].pk}/"


def _agent(w: dict[str, Any]) -> str:
    return f"/agent/dossiers/{w['submitted'].pk}/"


def _draft_attachment(w: dict[str, Any]) -> str:
    return f"{_draft(w)}attachments/{w['draft'].attachments.get().pk}/"


def _submitted_attachment(w: dict[str, Any]) -> str:
    return f"{_submitted(w)}attachments/{w['submitted'].attachments.get().pk}/"


INSTRUCTORS_ONLY: dict[str, int | str] = {"instructor": 200, "supervisor": 200}
CASES = [
    # Pages that show a dossier or a document.
    Case(
        "applicant page of a submitted dossier",
        "get",
        _submitted,
        everyone_else({"citizen_a": 200, "instructor": 302, "supervisor": 302}),
    ),
    Case("applicant page of a draft", "get", _draft, everyone_else({"citizen_a": 200})),
    Case("receipt", "get", lambda w: _submitted(w) + "receipt/", everyone_else({"citizen_a": 200})),
    Case("receipt of a draft", "get", lambda w: _draft(w) + "receipt/", everyone_else({})),
    Case(
        "document, applicant side", "get", _submitted_attachment, everyone_else({"citizen_a": 200})
    ),
    Case("document of a draft", "get", _draft_attachment, everyone_else({"citizen_a": 200})),
    Case("instruction page", "get", _agent, everyone_else(INSTRUCTORS_ONLY)),
    Case(
        "instruction page of a draft",
        "get",
        lambda w: f"/agent/dossiers/{w['draft'].pk}/",
        everyone_else({}),
    ),
    Case(
        "document, agent side",
        "get",
        lambda w: _agent(w) + f"attachments/{w['submitted'].attachments.get().pk}/",
        everyone_else(INSTRUCTORS_ONLY),
    ),
    Case(
        "withdraw confirmation",
        "get",
        lambda w: _submitted(w) + "withdraw/",
        everyone_else({"citizen_a": 200}),
    ),
    Case(
        "delete confirmation",
        "get",
        lambda w: _draft(w) + "delete/",
        everyone_else({"citizen_a": 200}),
    ),
    # The steps of a form of several pages (dossiers/steps.py).
    Case(
        "a step of a draft",
        "get",
        lambda w: _draft(w) + "?step=2",
        everyone_else({"citizen_a": 200}),
    ),
    Case(
        "the review step of a draft",
        "get",
        lambda w: _draft(w) + "?step=review",
        everyone_else({"citizen_a": 200}),
    ),
    Case(
        "a step's address on a submitted dossier",
        "get",
        lambda w: _submitted(w) + "?step=2",
        everyone_else({"citizen_a": 200, "instructor": 302, "supervisor": 302}),
    ),
    # Requests that change a dossier.
    Case(
        "save a step",
        "post",
        lambda w: _draft(w) + "answers/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"page": "1", "copies": "5", "copy_kind": "extract", "intent": "next"},
    ),
    Case(
        "send a file from its step",
        "post",
        lambda w: _draft(w) + "answers/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"page": "2", "intent": "save", "upload-id_document": pdf_file("autre.pdf")},
    ),
    Case(
        "remove a document from its step",
        "post",
        lambda w: _draft(w) + "answers/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"page": "2", "intent": f"drop:{w['draft'].attachments.get().pk}"},
    ),
    Case(
        "submit from the review step",
        "post",
        lambda w: _draft(w) + "answers/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"page": "review", "intent": "submit"},
    ),
    Case(
        "save a step of a submitted dossier",
        "post",
        lambda w: _submitted(w) + "answers/",
        everyone_else({"citizen_a": 403}),
        lambda w: {"page": "1", "copies": "5", "intent": "next"},
    ),
    Case(
        "submit a submitted dossier again from the review step",
        "post",
        lambda w: _submitted(w) + "answers/",
        everyone_else({"citizen_a": 403}),
        lambda w: {"page": "review", "intent": "submit"},
    ),
    Case(
        "save answers",
        "post",
        lambda w: _draft(w) + "answers/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"full_name": "Quelqu'un d'autre", "copies": "5", "intent": "save"},
    ),
    Case(
        "save answers of a submitted dossier",
        "post",
        lambda w: _submitted(w) + "answers/",
        everyone_else({"citizen_a": 403}),
        lambda w: {"full_name": "Quelqu'un d'autre", "intent": "save"},
    ),
    Case(
        "submit",
        "post",
        lambda w: _draft(w) + "answers/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {
            "full_name": "Awa Diop",
            "birth_date": "1994-03-12",
            "copy_kind": "extract",
            "copies": "2",
            "phone": "77 123 45 67",
            "intent": "submit",
        },
    ),
    Case(
        "upload",
        "post",
        lambda w: _draft(w) + "attachments/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"field": "id_document", "file": pdf_file("autre.pdf")},
    ),
    Case(
        "upload to a submitted dossier",
        "post",
        lambda w: _submitted(w) + "attachments/",
        everyone_else({"citizen_a": 403}),
        lambda w: {"field": "id_document", "file": pdf_file("autre.pdf")},
    ),
    Case(
        "remove a document",
        "post",
        lambda w: _draft_attachment(w) + "remove/",
        everyone_else({"citizen_a": DONE}),
    ),
    Case(
        "remove a document of a submitted dossier",
        "post",
        lambda w: _submitted_attachment(w) + "remove/",
        everyone_else({"citizen_a": 403}),
    ),
    Case(
        "applicant message",
        "post",
        lambda w: _submitted(w) + "messages/",
        everyone_else({"citizen_a": DONE}),
        lambda w: {"body": "Bonjour"},
    ),
    Case(
        "message on a draft",
        "post",
        lambda w: _draft(w) + "messages/",
        everyone_else({"citizen_a": 403}),
        lambda w: {"body": "Bonjour"},
    ),
    Case(
        "withdraw",
        "post",
        lambda w: _submitted(w) + "withdraw/",
        everyone_else({"citizen_a": DONE}),
    ),
    Case(
        "delete a draft",
        "post",
        lambda w: _draft(w) + "delete/",
        everyone_else({"citizen_a": DONE}),
    ),
    Case(
        "delete a submitted dossier",
        "post",
        lambda w: _submitted(w) + "delete/",
        everyone_else({"citizen_a": 403}),
    ),
    Case(
        "take",
        "post",
        lambda w: _agent(w) + "actions/",
        everyone_else({"instructor": DONE, "supervisor": DONE}),
        lambda w: {"action": "take"},
    ),
    Case(
        "assign (supervisors only)",
        "post",
        lambda w: _agent(w) + "actions/",
        everyone_else({"instructor": 403, "supervisor": DONE}),
        lambda w: {"action": "assign", "assignee": str(w["instructor"].pk)},
    ),
    Case(
        "accept before review",
        "post",
        lambda w: _agent(w) + "actions/",
        everyone_else({"instructor": 409, "supervisor": 409}),
        lambda w: {"action": "accept"},
    ),
    Case(
        "withdraw through the back office",
        "post",
        lambda w: _agent(w) + "actions/",
        everyone_else({"instructor": 403, "supervisor": 403}),
        lambda w: {"action": "withdraw"},
    ),
    Case(
        "agent message",
        "post",
        lambda w: _agent(w) + "messages/",
        everyone_else({"instructor": DONE, "supervisor": DONE}),
        lambda w: {"body": "Bien reçu"},
    ),
]


DOWNLOADS = {"document, applicant side", "document of a draft", "document, agent side"}
AGENT_NAMES = {"instructor": "Fatou Ndiaye", "supervisor": "Ibrahima Sarr"}


def _reads_after(position: int | None) -> list[tuple[Any, ...]]:
    entries = AuditEvent.objects.filter(seq__gt=-1 if position is None else position)
    return list(
        entries.filter(action__gte=200, action__lt=300)
        .order_by("seq")
        .values_list("action", "actor_id", "actor_name", "org_name", "object_type", "object_id")
    )


def _expected_reads(case: Case, persona: str, context: dict[str, Any]) -> list[tuple[Any, ...]]:
    """An agent's download: one entry naming them; the applicant's own or a refusal: none."""
    if case.expected[persona] != 200 or persona not in AGENT_NAMES:
        return []
    attachment = context["submitted"].attachments.get()
    return [
        (
            LogAction.ATTACHMENT_DOWNLOADED,
            str(context[persona].pk),
            AGENT_NAMES[persona],
            "Commune de Dakar-Plateau",
            "attachment",
            str(attachment.pk),
        )
    ]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_permission_matrix(world: dict[str, User], case: Case, persona: str) -> None:
    if persona == "designer":
        store_workflow_naming_design_roles()
    draft = draft_for(world["citizen_a"])
    submitted = submitted_for(world["citizen_a"])
    context: dict[str, Any] = {**world, "draft": draft, "submitted": submitted}
    url = case.url(context)
    client = client_for(None if persona == "anonymous" else world[persona])
    before = snapshot(draft, submitted)
    logged = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    response = client.get(url) if case.method == "get" else client.post(url, case.data(context))

    expected = case.expected[persona]
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    elif expected == DONE:
        assert response.status_code == 302, response.content[:300]
        assert not response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected, response.content[:300]
    if expected == DONE:
        assert snapshot(draft, submitted) != before
    else:
        assert snapshot(draft, submitted) == before
    if case.name in DOWNLOADS:
        assert _reads_after(logged) == _expected_reads(case, persona, context)


def test_a_stranger_cannot_tell_a_real_dossier_from_a_made_up_one(world: dict[str, User]) -> None:
    real = submitted_for(world["citizen_a"]).pk
    made_up = "00000000-0000-4000-8000-000000000000"
    stranger = client_for(world["citizen_b"])
    for path in ("/dossiers/{}/", "/dossiers/{}/receipt/", "/agent/dossiers/{}/"):
        real_answer = stranger.get(path.format(real))
        fake_answer = stranger.get(path.format(made_up))
        assert real_answer.status_code == fake_answer.status_code == 404
    assert Dossier.objects.filter(pk=real).exists()


@pytest.mark.parametrize("persona", ["citizen_a", "citizen_b", "admin"])
def test_the_back_office_is_not_found_for_non_agents(world: dict[str, User], persona: str) -> None:
    assert client_for(world[persona]).get("/agent/").status_code == 404


def test_the_back_office_sends_anonymous_visitors_to_sign_in(world: dict[str, User]) -> None:
    response = client_for(None).get("/agent/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
