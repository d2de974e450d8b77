"""A procedure's own workflow, through the public API and the actions: a two-level approval
where only a supervisor decides, routing to a team by an answer, step and statutory deadlines
escalated once per breach, and tacit decisions applied by the scheduled clock with a frozen
time."""

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from allauth.mfa.totp.internal.auth import TOTP
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guichet.audit.models import Action as LogAction
from guichet.audit.models import AuditEvent
from guichet.catalog.models import Procedure
from guichet.catalog.workflow_def import DEFAULT_WORKFLOW
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier, DossierEvent
from guichet.dossiers.tasks import flush_notifications, workflow_clock_pass
from guichet.dossiers.tests.test_pages_support import client_for
from guichet.identity.models import Membership, Organisation, Role, User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

PERSONAS = ["citizen_a", "citizen_b", "instructor", "supervisor", "other_agent", "admin"]


def two_level_workflow() -> dict[str, Any]:
    """The default workflow, but an instructor only proposes; a supervisor decides."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    data["states"]["in_review"]["deadline_days"] = 5
    data["states"]["awaiting_decision"] = {
        "kind": "open",
        "label": {"fr": "En attente de décision", "en": "Awaiting decision"},
        "actors": ["supervisor"],
        "deadline_days": 3,
    }
    for transition in data["transitions"]:
        if transition["name"] in ("accept", "reject"):
            transition["from"] = "awaiting_decision"
            transition["by"] = ["supervisor"]
        if transition["name"] == "withdraw":
            transition["from"] = [*transition["from"], "awaiting_decision"]
    data["transitions"] += [
        {
            "name": "propose_acceptance",
            "from": "in_review",
            "to": "awaiting_decision",
            "by": ["instructor"],
            "label": {"fr": "Proposer l'acceptation", "en": "Propose acceptance"},
        },
        {
            "name": "send_back",
            "from": "awaiting_decision",
            "to": "in_review",
            "by": ["supervisor"],
            "reason_required": True,
            "label": {"fr": "Renvoyer à l'instructeur", "en": "Send back to the instructor"},
        },
    ]
    data["statutory_deadline_days"] = 30
    return data


@pytest.fixture
def birth(world: dict[str, User]) -> Procedure:
    procedure = Procedure.objects.get(slug=BIRTH)
    procedure.workflow = two_level_workflow()
    procedure.save()
    return procedure


def _draft(world: dict[str, User], procedure: Procedure, answers: Any = None) -> Dossier:
    awa = world["citizen_a"]
    dossier = actions.do_create_draft(awa, procedure, answers or BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    return dossier


# How to bring a fresh dossier to each state: the steps after the draft.
PATHS: dict[str, list[tuple[str, str, str]]] = {
    "draft": [],
    "submitted": [("citizen_a", "submit", "")],
    "in_review": [("citizen_a", "submit", ""), ("instructor", "take", "")],
    "changes_requested": [
        ("citizen_a", "submit", ""),
        ("instructor", "take", ""),
        ("instructor", "request_changes", "Pièce illisible."),
    ],
    "awaiting_decision": [
        ("citizen_a", "submit", ""),
        ("instructor", "take", ""),
        ("instructor", "propose_acceptance", ""),
    ],
}


def _bring(world: dict[str, User], procedure: Procedure, state: str) -> Dossier:
    dossier = _draft(world, procedure)
    for persona, action, comment in PATHS[state]:
        actions.do_transition(world[persona], dossier.pk, action, comment)
    dossier.refresh_from_db()
    assert dossier.state == state
    return dossier


def _expect(allowed: set[str], seen_by: set[str]) -> dict[str, int]:
    """200 for whom the workflow gives the step, 403 for others who see the dossier, 404 for
    those who may not know it exists."""
    return {p: 200 if p in allowed else 403 if p in seen_by else 404 for p in PERSONAS}


SEEN_SUBMITTED = {"citizen_a", "instructor", "supervisor"}
MATRIX = [
    ("submit", "draft", _expect({"citizen_a"}, {"citizen_a"})),
    ("take", "submitted", _expect({"instructor", "supervisor"}, SEEN_SUBMITTED)),
    ("assign", "submitted", _expect({"supervisor"}, SEEN_SUBMITTED)),
    ("request_changes", "in_review", _expect({"instructor", "supervisor"}, SEEN_SUBMITTED)),
    ("resubmit", "changes_requested", _expect({"citizen_a"}, SEEN_SUBMITTED)),
    ("propose_acceptance", "in_review", _expect({"instructor"}, SEEN_SUBMITTED)),
    ("send_back", "awaiting_decision", _expect({"supervisor"}, SEEN_SUBMITTED)),
    ("accept", "awaiting_decision", _expect({"supervisor"}, SEEN_SUBMITTED)),
    ("reject", "awaiting_decision", _expect({"supervisor"}, SEEN_SUBMITTED)),
    ("withdraw", "awaiting_decision", _expect({"citizen_a"}, SEEN_SUBMITTED)),
]


@pytest.mark.parametrize(("action", "state", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_permission_matrix_of_a_two_level_workflow(
    api: dict[str, ApiClient],
    world: dict[str, User],
    birth: Procedure,
    action: str,
    state: str,
    expected: dict[str, int],
) -> None:
    """Each transition, fired by each persona from a state it leaves: only the roles the
    workflow names succeed; the others who see the dossier get a 403 naming who may; the rest
    a 404; a refused attempt changes nothing."""
    for persona in PERSONAS:
        dossier = _bring(world, birth, state)
        body = {"action": action, "comment": "Motif."}
        if action == "assign":
            body["assignee"] = str(world["instructor"].pk)
        response = api[persona].post(f"dossiers/{dossier.pk}/transitions", body)
        assert response.status_code == expected[persona], (persona, response.content)
        dossier.refresh_from_db()
        if expected[persona] == 200:
            assert response.json()["state"] == dossier.state
        else:
            assert dossier.state == state
        if expected[persona] == 403:
            assert response.json()["code"] == "forbidden"
            assert "circuit de traitement confie cette étape" in response.json()["message"]


def test_an_instructor_cannot_decide_where_the_workflow_says_supervisor(
    api: dict[str, ApiClient], world: dict[str, User], birth: Procedure
) -> None:
    """In review, the instructor is offered a proposal, not a decision; once proposed, only the
    supervisor is offered accept, reject or send back, and the instructor's accept is a 403."""
    dossier = _bring(world, birth, "in_review")
    offered = api["instructor"].get(f"dossiers/{dossier.pk}").json()["transitions"]
    assert [t["name"] for t in offered] == ["request_changes", "propose_acceptance"]
    assert (
        api["instructor"]
        .post(f"dossiers/{dossier.pk}/transitions", {"action": "accept", "comment": "Oui."})
        .status_code
        == 403
    )
    assert (
        api["instructor"]
        .post(f"dossiers/{dossier.pk}/transitions", {"action": "propose_acceptance"})
        .status_code
        == 200
    )
    assert api["instructor"].get(f"dossiers/{dossier.pk}").json()["transitions"] == []
    offered = api["supervisor"].get(f"dossiers/{dossier.pk}").json()["transitions"]
    assert {t["name"]: t["reason_required"] for t in offered} == {
        "accept": False,
        "reject": True,
        "send_back": True,
    }
    refused = api["supervisor"].post(f"dossiers/{dossier.pk}/transitions", {"action": "reject"})
    assert refused.status_code == 400
    assert "comment" in refused.json()["fields"]
    decided = api["supervisor"].post(f"dossiers/{dossier.pk}/transitions", {"action": "accept"})
    assert decided.status_code == 200
    assert decided.json()["state"] == "accepted"
    again = api["supervisor"].post(f"dossiers/{dossier.pk}/transitions", {"action": "accept"})
    assert again.status_code == 409


def test_the_proposal_is_logged_as_a_move_and_the_decision_as_acceptance(
    world: dict[str, User], birth: Procedure, django_capture_on_commit_callbacks: Any
) -> None:
    """The transparency log records the workflow's own step by name, and the supervisor's
    decision as an acceptance; the decision document is issued after commit."""
    dossier = _bring(world, birth, "awaiting_decision")
    moved = AuditEvent.objects.filter(object_id=str(dossier.pk), action=LogAction.DOSSIER_MOVED)
    assert moved.count() == 1
    assert '"transition":"propose_acceptance"' in moved.get().details.replace(" ", "")
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_transition(world["supervisor"], dossier.pk, "accept")
    assert AuditEvent.objects.filter(
        object_id=str(dossier.pk), action=LogAction.DOSSIER_ACCEPTED
    ).exists()
    assert AuditEvent.objects.filter(action=LogAction.DOCUMENT_ISSUED).exists()


def test_agent_page_offers_only_the_users_transitions(
    world: dict[str, User], birth: Procedure
) -> None:
    """The agent's page shows the proposal to the instructor and the decision to the
    supervisor, with the reason field required where the workflow says so; the instructor's
    forged accept is refused."""
    dossier = _bring(world, birth, "in_review")
    instructor = client_for(world["instructor"])
    page = instructor.get(f"/agent/dossiers/{dossier.pk}/").content.decode()
    assert 'value="propose_acceptance"' in page
    assert 'value="accept"' not in page and 'value="send_back"' not in page
    forged = instructor.post(f"/agent/dossiers/{dossier.pk}/actions/", {"action": "accept"})
    assert forged.status_code == 403
    instructor.post(f"/agent/dossiers/{dossier.pk}/actions/", {"action": "propose_acceptance"})
    supervisor = client_for(world["supervisor"])
    page = supervisor.get(f"/agent/dossiers/{dossier.pk}/").content.decode()
    assert 'value="accept"' in page and 'value="send_back"' in page
    assert 'id="send_back-comment" rows="4" maxlength="5000" required' in page
    assert "En attente de décision" in page or "Awaiting decision" in page


# --- Routing and the queue --------------------------------------------------------------------


@pytest.fixture
def teams(world: dict[str, User], birth: Procedure) -> dict[str, Any]:
    """Two teams under the commune, each with its own instructor; the procedure routes by the
    département part of an address answer."""
    commune = birth.organisation
    made: dict[str, Any] = {}
    for slug, email in (("equipe-dakar", "dakar@example.sn"), ("equipe-thies", "thies@example.sn")):
        team = Organisation.objects.create(
            slug=slug, name=slug, kind=Organisation.Kind.DIRECTORATE, parent=commune
        )
        agent = User.objects.create_user(email, "x")
        Membership.objects.create(user=agent, organisation=team, role=Role.INSTRUCTOR)
        TOTP.activate(agent, "JBSWY3DPEHPK3PXP")  # agents reach the API only with MFA
        made[slug] = (team, agent)
    workflow = two_level_workflow()
    workflow["routing"] = {
        "answer": "address.departement",
        "teams": {"Dakar": "equipe-dakar", "Thiès": "equipe-thies"},
    }
    birth.workflow = workflow
    birth.save()
    return made


def _submit_routed(world: dict[str, User], procedure: Procedure, departement: str) -> Dossier:
    """A dossier whose address names a département. The birth form has no address field, so the
    answer is sealed as an address answer would be, straight through the action's helper."""
    dossier = _draft(world, procedure)
    with mock.patch(
        "guichet.dossiers.actions._check",
        side_effect=lambda d, data, complete: {
            **data,
            "address": {"region": "SN-DK", "departement": departement, "commune": "Plateau"},
        },
    ):
        actions.do_transition(world["citizen_a"], dossier.pk, "submit")
    dossier.refresh_from_db()
    return dossier


def test_routing_sends_the_dossier_to_the_team_of_its_departement(
    api: dict[str, ApiClient], world: dict[str, User], birth: Procedure, teams: dict[str, Any]
) -> None:
    """A Dakar dossier goes to the Dakar team: its agent and the commune's supervisor see it;
    the Thiès agent and the commune's own instructor do not. An unmapped value stays with the
    whole commune."""
    dakar, dakar_agent = teams["equipe-dakar"]
    _thies, thies_agent = teams["equipe-thies"]
    routed = _submit_routed(world, birth, "Dakar")
    assert routed.team_id == dakar.pk
    unrouted = _submit_routed(world, birth, "Kolda")
    assert unrouted.team_id is None

    def queue_ids(client: ApiClient) -> set[str]:
        return {item["id"] for item in client.get("queue").json()["items"]}

    assert queue_ids(ApiClient(dakar_agent)) == {str(routed.pk)}
    assert queue_ids(ApiClient(thies_agent)) == set()
    assert queue_ids(api["supervisor"]) == {str(routed.pk), str(unrouted.pk)}
    assert queue_ids(api["instructor"]) == {str(unrouted.pk)}
    assert ApiClient(thies_agent).get(f"dossiers/{routed.pk}").status_code == 404
    assert api["instructor"].get(f"dossiers/{routed.pk}").status_code == 404
    taken = ApiClient(dakar_agent).post(f"dossiers/{routed.pk}/transitions", {"action": "take"})
    assert taken.status_code == 200
    assert taken.json()["team"] == "equipe-dakar"


def test_queue_filters_overdue_and_awaiting_decision(
    api: dict[str, ApiClient], world: dict[str, User], birth: Procedure
) -> None:
    """The supervisor's "awaiting decision" filter lists dossiers in a step only supervisors
    act on; "overdue" lists those past their step deadline, and each row says so."""
    waiting = _bring(world, birth, "awaiting_decision")
    reviewing = _bring(world, birth, "in_review")

    def ids(response: Any) -> list[str]:
        return [item["id"] for item in response.json()["items"]]

    assert ids(api["supervisor"].get("queue", awaiting_decision=True)) == [str(waiting.pk)]
    assert ids(api["supervisor"].get("queue", overdue=True)) == []
    later = timezone.now() + timedelta(days=4)  # past the decision step's 3 days, not review's 5
    with mock.patch("django.utils.timezone.now", return_value=later):
        overdue = api["supervisor"].get("queue", overdue=True)
    assert ids(overdue) == [str(waiting.pk)]  # awaiting_decision allows 3 days, in_review 5
    assert overdue.json()["items"][0]["overdue"] is True
    assert str(reviewing.pk) not in ids(overdue)


def test_queue_query_count_does_not_grow_with_rows(
    api: dict[str, ApiClient], world: dict[str, User], birth: Procedure
) -> None:
    """The queue, with the awaiting-decision and overdue filters, costs the same for 2 rows as
    for 8 (no query per dossier or per workflow state)."""

    def count() -> int:
        client = api["supervisor"]
        client.get("queue", awaiting_decision=True, overdue=False)
        with CaptureQueriesContext(connection) as captured:
            response = client.get("queue", awaiting_decision=True)
        assert response.status_code == 200
        return len(captured)

    for _ in range(2):
        _bring(world, birth, "awaiting_decision")
    few = count()
    for _ in range(6):
        _bring(world, birth, "awaiting_decision")
    assert count() == few


# --- The clock: escalation and tacit decision ---------------------------------------------------


@pytest.fixture
def frozen() -> Iterator[Any]:
    """A clock the test moves by hand (django's timezone.now, which the code and the models'
    auto_now fields read)."""

    class Clock:
        now = timezone.now()

        def move(self, **delta: float) -> None:
            self.now += timedelta(**delta)

    clock = Clock()
    with mock.patch("django.utils.timezone.now", side_effect=lambda: clock.now):
        yield clock


def test_escalation_once_per_breach(
    world: dict[str, User],
    birth: Procedure,
    frozen: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Past the step deadline the clock flags the dossier, logs the breach and emails the
    commune's supervisor, once; later passes do nothing more until a new breach (the statutory
    deadline) comes."""
    dossier = _bring(world, birth, "in_review")
    flush_notifications.call()  # those of the steps _bring took, which ran no on-commit callback
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().escalated == []
    frozen.move(days=5, hours=1)  # in_review allows 5 days
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().escalated == [str(dossier.pk)]
    assert [m.to for m in mail.outbox] == [[world["supervisor"].email]]
    assert "SN-" in mail.outbox[0].subject
    logged = AuditEvent.objects.filter(object_id=str(dossier.pk), action=LogAction.DOSSIER_OVERDUE)
    assert logged.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().escalated == []
    assert len(mail.outbox) == 1 and logged.count() == 1
    frozen.move(days=26)  # now past the 30-day statutory deadline too: a new breach
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().escalated == [str(dossier.pk)]
        assert workflow_clock_pass().escalated == []
    assert logged.count() == 2 and len(mail.outbox) == 2


def test_no_escalation_while_waiting_on_the_applicant(
    world: dict[str, User], birth: Procedure, frozen: Any
) -> None:
    """Changes requested: the deadline is paused, so no breach; once the applicant sends the
    dossier back, the time they took is given back to the administration."""
    dossier = _bring(world, birth, "changes_requested")
    due = dossier.due_at
    frozen.move(days=40)
    assert workflow_clock_pass().escalated == []
    actions.do_transition(world["citizen_a"], dossier.pk, "resubmit")
    dossier.refresh_from_db()
    assert dossier.due_at is not None and due is not None
    assert dossier.due_at - due == timedelta(days=40)
    assert workflow_clock_pass().escalated == []


def _tacit(procedure: Procedure, to: str = "accepted", days: int = 60) -> None:
    workflow = two_level_workflow()
    workflow["tacit_decision"] = {"after_days": days, "to": to}
    procedure.workflow = workflow
    procedure.save()


def test_tacit_acceptance_with_a_frozen_clock(
    world: dict[str, User],
    birth: Procedure,
    frozen: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Silence for 60 days means acceptance: not a minute before; then the clock records a
    transition by the system (history and log), and the certificate is issued after commit."""
    _tacit(birth)
    dossier = _bring(world, birth, "in_review")
    frozen.move(days=59, hours=23)
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().tacit == []
    frozen.move(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().tacit == [dossier.number]
    dossier.refresh_from_db()
    assert (dossier.state, dossier.outcome) == ("accepted", "accepted")
    assert dossier.decided_at == frozen.now and dossier.closed_at == frozen.now
    event = DossierEvent.objects.filter(dossier=dossier).order_by("-at", "-id").first()
    assert event is not None
    assert (event.action, event.actor_id, event.by_administration) == ("tacit_decision", None, True)
    logged = AuditEvent.objects.get(object_id=str(dossier.pk), action=LogAction.DOSSIER_ACCEPTED)
    assert logged.actor_kind == "system"
    assert AuditEvent.objects.filter(action=LogAction.DOCUMENT_ISSUED).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_clock_pass().tacit == []  # once


def test_tacit_rejection_gives_its_reason_and_skips_paused_time(
    world: dict[str, User], birth: Procedure, frozen: Any
) -> None:
    """Tacit rejection after 10 days with the administration: the 20 days the applicant took to
    correct do not count, and the history carries the reason."""
    from guichet.dossiers import access

    _tacit(birth, "rejected", 10)
    dossier = _bring(world, birth, "changes_requested")
    frozen.move(days=20)
    assert workflow_clock_pass().tacit == []
    actions.do_transition(world["citizen_a"], dossier.pk, "resubmit")
    frozen.move(days=9)
    assert workflow_clock_pass().tacit == []
    frozen.move(days=1, minutes=1)
    assert workflow_clock_pass().tacit != []
    dossier.refresh_from_db()
    assert dossier.outcome == "rejected"
    history = access.read_history(world["citizen_a"], dossier)
    assert "tacit" in history[-1].comment


def test_a_decision_before_the_tacit_date_wins(
    world: dict[str, User], birth: Procedure, frozen: Any
) -> None:
    """A dossier decided in time is left alone by the clock."""
    _tacit(birth, "accepted", 10)
    dossier = _bring(world, birth, "awaiting_decision")
    actions.do_transition(world["supervisor"], dossier.pk, "reject", "Incomplet.")
    frozen.move(days=11)
    assert workflow_clock_pass().tacit == []
    dossier.refresh_from_db()
    assert dossier.outcome == "rejected"


def test_default_workflow_still_applies_to_procedures_without_one(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    """A procedure with an empty workflow section follows the foundation's workflow: the
    instructor decides alone."""
    procedure = Procedure.objects.get(slug=BIRTH)
    assert procedure.workflow == {}
    dossier = _bring(world, procedure, "in_review")
    offered = api["instructor"].get(f"dossiers/{dossier.pk}").json()["transitions"]
    assert [t["name"] for t in offered] == ["request_changes", "accept", "reject"]


NINEA_ANSWERS = {
    "company_name": "Diop Couture",
    "legal_form": "ei",
    "rccm": "SN-DKR-2026-A-04567",
    "activity": "Couture",
    "start_date": "2026-09-15",
    "has_premises": True,
    "contact_email": "awa.diop@example.sn",
    "contact_phone": "77 123 45 67",
}


def test_demo_ninea_routes_by_departement_and_needs_the_supervisor(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    """The demo's NINEA registration, from its definition: a Thiès company goes to the Thiès
    service (Dakar's instructor and the agency's own instructor do not see it); a Dakar one is
    instructed in Dakar, where the instructor proposes and only the ANSD supervisor decides."""
    ninea = Procedure.objects.get(slug="immatriculation-ninea")
    khady = ApiClient(User.objects.get(email="khady.faye@ansd.sn"))
    mariama = ApiClient(User.objects.get(email="mariama.diallo@ansd.sn"))
    ids = {}
    for region, departement in (("SN-TH", "Thiès"), ("SN-DK", "Dakar")):
        premises = {"region": region, "departement": departement, "commune": "Centre"}
        made = api["citizen_a"].post(
            "dossiers",
            {"procedure": ninea.slug, "data": {**NINEA_ANSWERS, "premises": premises}},
        )
        assert made.status_code == 201, made.content
        dossier_id = made.json()["id"]
        submitted = api["citizen_a"].post(f"dossiers/{dossier_id}/submit")
        assert submitted.status_code == 200, submitted.content
        ids[region] = dossier_id
    thies = ids["SN-TH"]
    assert api["citizen_a"].get(f"dossiers/{thies}").json()["team"] == "ansd-srsd-thies"
    assert khady.get(f"dossiers/{thies}").status_code == 404
    assert api["other_agent"].get(f"dossiers/{thies}").status_code == 404
    assert mariama.get(f"dossiers/{thies}").status_code == 200
    dakar = ids["SN-DK"]
    assert khady.post(f"dossiers/{dakar}/transitions", {"action": "take"}).status_code == 200
    assert khady.post(f"dossiers/{dakar}/transitions", {"action": "accept"}).status_code == 403
    proposed = khady.post(f"dossiers/{dakar}/transitions", {"action": "propose_acceptance"})
    assert proposed.json()["state"] == "awaiting_decision"
    waiting = mariama.get("queue", awaiting_decision=True).json()["items"]
    assert [item["id"] for item in waiting] == [dakar]
    decided = mariama.post(f"dossiers/{dakar}/transitions", {"action": "accept"})
    assert decided.status_code == 200 and decided.json()["state"] == "accepted"
