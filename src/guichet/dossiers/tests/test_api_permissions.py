"""Who may do what, endpoint by endpoint, persona by persona.

One case = one request on a dossier in a given state, with the status each persona must get.
Personas missing from a case's table get the default for the state: 404 for everyone but the
owner on a draft; 404 for citizen_b, other_agent, designer and admin on a submitted dossier; 401
for anonymous always. Every refused request must leave the database and the stored files as they
were. A download leaves one entry in the transparency log in the agent's name when an agent
downloads, none when the applicant does or when refused. The designer (of the commune that owns
the procedure) is tried with the procedure's workflow naming their role in every agent's step,
as a workflow stored before that was refused could: they still get 404 (separation of duties).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from guichet.audit.models import Action as LogAction
from guichet.audit.models import AuditEvent
from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.design_roles import store_workflow_naming_design_roles
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

PERSONAS = [
    "anonymous",
    "citizen_a",
    "citizen_b",
    "instructor",
    "supervisor",
    "other_agent",
    "designer",
    "admin",
]
OUTSIDERS = {
    "anonymous": 401,
    "citizen_b": 404,
    "other_agent": 404,
    "designer": 404,
    "admin": 404,
}
REASON = "Merci de préciser."


@dataclass
class Case:
    name: str
    state: str  # draft | submitted | in_review | changes_requested
    method: str
    path: str  # {dossier} and {attachment} are filled in
    expected: dict[str, int]
    body: Callable[[dict[str, User]], Any] = field(default=lambda world: None)

    def status_for(self, persona: str) -> int:
        if persona in self.expected:
            return self.expected[persona]
        if persona in OUTSIDERS:
            return OUTSIDERS[persona]
        assert self.state == "draft", f"{self.name}: say what {persona} gets"
        return 404  # agents do not see drafts


def _agents(status: int) -> dict[str, int]:
    return {"instructor": status, "supervisor": status}


def _transition(action: str, comment: str = "") -> Callable[[dict[str, User]], Any]:
    return lambda world: {"action": action, "comment": comment}


CASES = [
    # Reading.
    Case("read draft", "draft", "get", "dossiers/{dossier}", {"citizen_a": 200}),
    Case("read", "submitted", "get", "dossiers/{dossier}", {"citizen_a": 200, **_agents(200)}),
    Case("messages of draft", "draft", "get", "dossiers/{dossier}/messages", {"citizen_a": 200}),
    Case(
        "messages",
        "submitted",
        "get",
        "dossiers/{dossier}/messages",
        {"citizen_a": 200, **_agents(200)},
    ),
    Case(
        "download from draft",
        "draft",
        "get",
        "dossiers/{dossier}/attachments/{attachment}",
        {"citizen_a": 200},
    ),
    Case(
        "download",
        "submitted",
        "get",
        "dossiers/{dossier}/attachments/{attachment}",
        {"citizen_a": 200, **_agents(200)},
    ),
    # The applicant's writes.
    Case(
        "edit draft",
        "draft",
        "patch",
        "dossiers/{dossier}",
        {"citizen_a": 200},
        lambda world: {"data": {"copies": 4}},
    ),
    Case(
        "edit submitted",
        "submitted",
        "patch",
        "dossiers/{dossier}",
        {"citizen_a": 403, **_agents(403)},
        lambda world: {"data": {"copies": 4}},
    ),
    Case(
        "edit when changes requested",
        "changes_requested",
        "patch",
        "dossiers/{dossier}",
        {"citizen_a": 200, **_agents(403)},
        lambda world: {"data": {"copies": 4}},
    ),
    Case(
        "upload to draft", "draft", "upload", "dossiers/{dossier}/attachments", {"citizen_a": 201}
    ),
    Case(
        "upload to submitted",
        "submitted",
        "upload",
        "dossiers/{dossier}/attachments",
        {"citizen_a": 403, **_agents(403)},
    ),
    Case(
        "upload when changes requested",
        "changes_requested",
        "upload",
        "dossiers/{dossier}/attachments",
        {"citizen_a": 201, **_agents(403)},
    ),
    Case(
        "remove from draft",
        "draft",
        "delete",
        "dossiers/{dossier}/attachments/{attachment}",
        {"citizen_a": 204},
    ),
    Case(
        "remove from submitted",
        "submitted",
        "delete",
        "dossiers/{dossier}/attachments/{attachment}",
        {"citizen_a": 403, **_agents(403)},
    ),
    Case("delete draft", "draft", "delete", "dossiers/{dossier}", {"citizen_a": 204}),
    Case(
        "delete submitted",
        "submitted",
        "delete",
        "dossiers/{dossier}",
        {"citizen_a": 403, **_agents(403)},
    ),
    Case("submit", "draft", "post", "dossiers/{dossier}/submit", {"citizen_a": 200}),
    Case(
        "submit again",
        "submitted",
        "post",
        "dossiers/{dossier}/submit",
        {"citizen_a": 409, **_agents(403)},
    ),
    Case(
        "withdraw",
        "submitted",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 200, **_agents(403)},
        _transition("withdraw"),
    ),
    Case(
        "withdraw draft",
        "draft",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 409},
        _transition("withdraw"),
    ),
    Case(
        "resubmit",
        "changes_requested",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 200, **_agents(403)},
        _transition("resubmit"),
    ),
    # The agents' writes.
    Case(
        "take",
        "submitted",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, **_agents(200)},
        _transition("take"),
    ),
    Case(
        "assign",
        "submitted",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, "instructor": 403, "supervisor": 200},
        lambda world: {"action": "assign", "assignee": str(world["instructor"].pk)},
    ),
    Case(
        "request changes",
        "in_review",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, **_agents(200)},
        _transition("request_changes", REASON),
    ),
    Case(
        "accept",
        "in_review",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, **_agents(200)},
        _transition("accept"),
    ),
    Case(
        "accept before review",
        "submitted",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, **_agents(409)},
        _transition("accept"),
    ),
    Case(
        "reject",
        "in_review",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, **_agents(200)},
        _transition("reject", REASON),
    ),
    Case(
        "reject while changes requested",
        "changes_requested",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403, **_agents(409)},
        _transition("reject", REASON),
    ),
    Case(
        "agent action on draft",
        "draft",
        "post",
        "dossiers/{dossier}/transitions",
        {"citizen_a": 403},
        _transition("take"),
    ),
    # Messages.
    Case(
        "message on draft",
        "draft",
        "post",
        "dossiers/{dossier}/messages",
        {"citizen_a": 403},
        lambda world: {"body": "Bonjour"},
    ),
    Case(
        "message",
        "submitted",
        "post",
        "dossiers/{dossier}/messages",
        {"citizen_a": 201, **_agents(201)},
        lambda world: {"body": "Bonjour"},
    ),
]


def _dossier_in(state: str, world: dict[str, User]) -> Dossier:
    """Citizen A's dossier, with one document, brought to `state` through the actions."""
    awa, fatou = world["citizen_a"], world["instructor"]
    procedure = Procedure.objects.get(slug=BIRTH)
    dossier = actions.do_create_draft(awa, procedure, BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    steps = {
        "draft": [],
        "submitted": [(awa, "submit", "")],
        "in_review": [(awa, "submit", ""), (fatou, "take", "")],
        "changes_requested": [
            (awa, "submit", ""),
            (fatou, "take", ""),
            (fatou, "request_changes", REASON),
        ],
    }[state]
    for user, action, comment in steps:
        actions.do_transition(user, dossier.pk, action, comment)
    return Dossier.objects.get(pk=dossier.pk)


def _snapshot(dossier_id: Any, files: Path) -> tuple[Any, ...]:
    dossier = Dossier.objects.filter(pk=dossier_id).first()
    if dossier is None:
        return ("deleted",)
    return (
        dossier.state,
        bytes(dossier.answers_sealed or b""),  # sealed: any rewrite changes the bytes
        dossier.number,
        dossier.assigned_to_id,
        dossier.due_at,
        dossier.paused_at,
        dossier.decided_at,
        sorted(str(a) for a in dossier.attachments.values_list("id", flat=True)),
        dossier.messages.count(),
        dossier.events.count(),
        sorted(str(p) for p in files.rglob("*") if p.is_file()),
    )


def _send(client: ApiClient, case: Case, path: str, body: Any) -> Any:
    if case.method == "get":
        return client.get(path)
    if case.method == "delete":
        return client.delete(path)
    if case.method == "patch":
        return client.patch(path, body)
    if case.method == "upload":
        upload = SimpleUploadedFile("autre.pdf", pdf_file().read(), "application/pdf")
        return client.upload(path, "id_document", upload)
    return client.post(path, body)


AGENT_NAMES = {"instructor": "Fatou Ndiaye", "supervisor": "Ibrahima Sarr"}


def _downloads_after(position: int | None) -> list[tuple[Any, ...]]:
    entries = AuditEvent.objects.filter(seq__gt=-1 if position is None else position)
    return list(
        entries.filter(action=LogAction.ATTACHMENT_DOWNLOADED)
        .order_by("seq")
        .values_list("actor_id", "actor_name", "org_name", "object_id", "subject_id")
    )


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_permission_matrix(
    case: Case,
    persona: str,
    api: dict[str, ApiClient],
    world: dict[str, User],
    tmp_path: Path,
) -> None:
    if persona == "designer":
        store_workflow_naming_design_roles()
    dossier = _dossier_in(case.state, world)
    attachment = dossier.attachments.get()
    path = case.path.format(dossier=dossier.pk, attachment=attachment.pk)
    before = _snapshot(dossier.pk, tmp_path)
    logged = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    response = _send(api[persona], case, path, case.body(world))

    expected = case.status_for(persona)
    assert response.status_code == expected, response.content
    if case.name.startswith("download"):
        # An agent's download names them; the applicant's own and refusals leave nothing.
        agent = AGENT_NAMES.get(persona) if expected == 200 else None
        assert _downloads_after(logged) == (
            [
                (
                    str(world[persona].pk),
                    agent,
                    "Commune de Dakar-Plateau",
                    str(attachment.pk),
                    str(dossier.applicant_id),
                )
            ]
            if agent
            else []
        )
    if expected >= 400:
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 409: "conflict"}
        assert response.json()["code"] == code[expected]
        assert _snapshot(dossier.pk, tmp_path) == before, "a refused request changed something"
    elif case.method != "get":
        assert _snapshot(dossier.pk, tmp_path) != before, "an allowed write changed nothing"


def test_lists_show_only_what_is_yours(api: dict[str, ApiClient], world: dict[str, User]) -> None:
    store_workflow_naming_design_roles()
    draft = _dossier_in("draft", world)
    submitted = _dossier_in("submitted", world)

    mine = {item["id"] for item in api["citizen_a"].get("dossiers").json()}
    assert mine == {str(draft.pk), str(submitted.pk)}
    assert api["citizen_b"].get("dossiers").json() == []
    for persona in ("instructor", "supervisor"):
        queue = api[persona].get("queue").json()
        assert [item["id"] for item in queue["items"]] == [str(submitted.pk)]
    for persona in ("citizen_a", "citizen_b", "other_agent", "designer", "admin"):
        assert api[persona].get("queue").json()["items"] == []
    assert api["anonymous"].get("queue").status_code == 401
    assert api["anonymous"].get("dossiers").status_code == 401


def test_agent_cannot_instruct_their_own_dossier(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    """An instructor who files with their own commune is an applicant there, not a judge."""
    fatou = api["instructor"]
    created = fatou.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS})
    dossier_id = created.json()["id"]
    uploaded = fatou.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
    assert uploaded.status_code == 201
    assert fatou.post(f"dossiers/{dossier_id}/submit").status_code == 200

    assert fatou.get("queue").json()["items"] == []
    refused = fatou.post(f"dossiers/{dossier_id}/transitions", {"action": "take"})
    assert refused.status_code == 403
    assert fatou.get(f"dossiers/{dossier_id}").json()["abilities"]["accept"] is False
    # A colleague instructs it as any other dossier.
    assert [i["id"] for i in api["supervisor"].get("queue").json()["items"]] == [dossier_id]
    taken = api["supervisor"].post(f"dossiers/{dossier_id}/transitions", {"action": "take"})
    assert taken.status_code == 200
    assert Dossier.objects.get(pk=dossier_id).assigned_to == world["supervisor"]


def test_taking_a_dossier_already_yours_is_a_conflict(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier = _dossier_in("in_review", world)
    events = dossier.events.count()
    again = api["instructor"].post(f"dossiers/{dossier.pk}/transitions", {"action": "take"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert dossier.events.count() == events
    # Another instructor may take it over.
    over = api["supervisor"].post(f"dossiers/{dossier.pk}/transitions", {"action": "take"})
    assert over.status_code == 200 and over.json()["assigned_to"] == "Ibrahima Sarr"


def test_assign_only_to_an_agent_of_the_organisation(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier = _dossier_in("submitted", world)
    before = _snapshot(dossier.pk, Path("/nonexistent"))
    for outsider in ("other_agent", "citizen_a"):
        response = api["supervisor"].post(
            f"dossiers/{dossier.pk}/transitions",
            {"action": "assign", "assignee": str(world[outsider].pk)},
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid" and "assignee" in response.json()["fields"]
    missing = api["supervisor"].post(f"dossiers/{dossier.pk}/transitions", {"action": "assign"})
    assert missing.status_code == 400 and "assignee" in missing.json()["fields"]
    assert _snapshot(dossier.pk, Path("/nonexistent")) == before
