"""Whole journeys through the API: a citizen files, an instructor instructs, both are told.

Transactional tests, so notifications (sent on commit through the Immediate task backend) really
go out and land in mail.outbox.
"""

import datetime
import email
import email.message
import email.policy
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from guichet.dossiers import access
from guichet.dossiers.models import Dossier
from guichet.dossiers.workflow import State
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, PNG_BYTES, ApiClient, pdf_file

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    """A settable `timezone.now`, so a test can let days pass between two calls."""

    def __init__(self) -> None:
        # Whole seconds: the API's JSON gives milliseconds, and comparisons must be exact.
        self.now = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    return clock


def _when(value: str | None) -> datetime.datetime:
    assert value is not None
    return datetime.datetime.fromisoformat(value)


def _label_in(language: str, state: State) -> str:
    with translation.override(language):
        return str(state.label)


def _mails_to(user: User) -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.to == [user.email]]


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    return body


def test_journey_with_changes_requested_and_deadline_pause(
    api: dict[str, ApiClient],
    world: dict[str, User],
    clock: Clock,
    tmp_path: Any,
) -> None:
    citizen, instructor = api["citizen_a"], api["instructor"]
    awa, fatou = world["citizen_a"], world["instructor"]

    # A draft, with answers but no document yet.
    draft = _ok(citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}), 201)
    dossier_id = draft["id"]
    assert draft["state"] == "draft" and draft["number"] is None
    assert draft["data"]["phone"] == "+221771234567"  # stored in one canonical form
    first = _ok(
        citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file("cni.pdf")),
        201,
    )
    assert first["content_type"] == "application/pdf" and first["name"] == "cni.pdf"
    downloaded = citizen.get(first["url"])
    assert downloaded.status_code == 200
    assert downloaded["Content-Disposition"].startswith("attachment")
    assert b"".join(downloaded.streaming_content).startswith(b"%PDF")

    # Submission: a number and a deadline three days out (the procedure's statutory delay).
    submitted_at = clock.now
    submitted = _ok(citizen.post(f"dossiers/{dossier_id}/submit"))
    year = timezone.localdate(submitted_at).year
    assert submitted["state"] == "submitted"
    assert submitted["number"] == f"SN-{year}-000001"
    due = _when(submitted["due_at"])
    assert due == submitted_at + datetime.timedelta(days=3)
    queue = _ok(instructor.get("queue"))
    assert [item["id"] for item in queue["items"]] == [dossier_id]

    clock.advance(hours=2)
    taken = _ok(instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "take"}))
    assert taken["state"] == "in_review" and taken["assigned_to"] == "Fatou Ndiaye"

    clock.advance(hours=1)
    paused_at = clock.now
    reason = "La pièce est illisible, merci d'envoyer une copie nette."
    asked = _ok(
        instructor.post(
            f"dossiers/{dossier_id}/transitions",
            {"action": "request_changes", "comment": reason},
        )
    )
    assert asked["state"] == "changes_requested"
    assert _when(asked["paused_at"]) == paused_at
    _ok(instructor.post(f"dossiers/{dossier_id}/messages", {"body": "Un scan en couleur."}), 201)

    # Five days pass with the dossier in the citizen's hands: past the first deadline, yet the
    # clock is stopped, so it is not overdue and the agents' "overdue" filter does not list it.
    clock.advance(days=5)
    waiting = _ok(citizen.get(f"dossiers/{dossier_id}"))
    assert _when(waiting["due_at"]) == due and waiting["overdue"] is False
    assert _ok(instructor.get("queue", overdue="true"))["items"] == []

    # The citizen corrects an answer, replaces the document and writes back.
    edited = _ok(citizen.patch(f"dossiers/{dossier_id}", {"data": {"copies": 3}}))
    assert edited["data"]["copies"] == 3 and edited["data"]["full_name"] == "Awa Diop"
    second = _ok(
        citizen.upload(
            f"dossiers/{dossier_id}/attachments",
            "id_document",
            SimpleUploadedFile("cni-nette.png", PNG_BYTES, "image/png"),
        ),
        201,
    )
    assert second["content_type"] == "image/png"
    stored = Dossier.objects.get(pk=dossier_id)
    attachments = access.read_attachments(stored.applicant, stored)  # names are sealed
    assert [a.original_name for a in attachments] == ["cni-nette.png"]  # one file per field
    assert citizen.get(first["url"]).status_code == 404
    _ok(citizen.post(f"dossiers/{dossier_id}/messages", {"body": "Voici la nouvelle copie."}), 201)

    resumed_at = clock.now
    resubmitted = _ok(citizen.post(f"dossiers/{dossier_id}/transitions", {"action": "resubmit"}))
    assert resubmitted["state"] == "in_review" and resubmitted["paused_at"] is None
    # The deadline moved by exactly the time the dossier waited on the applicant.
    assert _when(resubmitted["due_at"]) == due + (resumed_at - paused_at)

    clock.advance(hours=1)
    decided = _ok(
        instructor.post(
            f"dossiers/{dossier_id}/transitions",
            {"action": "accept", "comment": "Extrait disponible au guichet."},
        )
    )
    assert decided["state"] == "accepted" and _when(decided["decided_at"]) == clock.now
    assert decided["abilities"]["accept"] is False
    assert _ok(instructor.get("queue"))["items"] == []

    # The history says who did what, in order, with the comments.
    history = [
        (e["kind"], e["action"], e["actor"], e["by_administration"], e["comment"])
        for e in _ok(citizen.get(f"dossiers/{dossier_id}"))["history"]
    ]
    assert history == [
        ("created", "", "Awa Diop", False, ""),
        ("attachment_added", "", "Awa Diop", False, "cni.pdf"),
        ("transition", "submit", "Awa Diop", False, ""),
        ("transition", "take", "Fatou Ndiaye", True, ""),
        ("transition", "request_changes", "Fatou Ndiaye", True, reason),
        ("message", "", "Fatou Ndiaye", True, ""),
        ("saved", "", "Awa Diop", False, ""),
        ("attachment_removed", "", "Awa Diop", False, "cni.pdf"),
        ("attachment_added", "", "Awa Diop", False, "cni-nette.png"),
        ("message", "", "Awa Diop", False, ""),
        ("transition", "resubmit", "Awa Diop", False, ""),
        ("transition", "accept", "Fatou Ndiaye", True, "Extrait disponible au guichet."),
    ]
    states = [
        (e["from_state"], e["to_state"])
        for e in _ok(citizen.get(f"dossiers/{dossier_id}"))["history"]
        if e["kind"] == "transition"
    ]
    assert states == [
        ("draft", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "changes_requested"),
        ("changes_requested", "in_review"),
        ("in_review", "accepted"),
    ]
    messages: list[dict[str, Any]] = citizen.get(f"dossiers/{dossier_id}/messages").json()
    assert [(m["author"], m["from_administration"]) for m in messages] == [
        ("Fatou Ndiaye", True),
        ("Awa Diop", False),
    ]

    # Mail: the applicant hears of each change of state and of the agent's message; the
    # assigned agent hears of the citizen's message and of the corrected dossier.
    # Last, once the decision is committed, the sealed certificate is ready.
    number = submitted["number"]
    to_awa = _mails_to(awa)
    to_fatou = _mails_to(fatou)
    assert len(mail.outbox) == len(to_awa) + len(to_fatou) == 9
    assert len(to_awa) == 7 and len(to_fatou) == 2
    *about_the_dossier, document_ready = to_awa
    assert all(number in m.subject for m in [*about_the_dossier, *to_fatou])
    assert number in document_ready.body and "/documents/" in document_ready.body
    assert all(reason not in m.body for m in mail.outbox)  # details stay behind the login
    assert _label_in("fr", State.ACCEPTED) in about_the_dossier[-1].subject
    assert f"/dossiers/{dossier_id}/" in about_the_dossier[-1].body
    assert f"/agent/dossiers/{dossier_id}/" in to_fatou[0].body
    # As a mail server receives them (guichet.mail composes the notifications): the French
    # subject and body come back whole from the bytes on the wire.
    for sent in [*about_the_dossier, *to_fatou]:
        wire = email.message_from_bytes(
            sent.message(policy=email.policy.SMTP).as_bytes(), policy=email.policy.default
        )
        assert isinstance(wire, email.message.EmailMessage)
        assert (wire["Subject"], wire["To"]) == (sent.subject, sent.to[0])
        assert wire.get_content().replace("\r\n", "\n") == sent.body
    stored = Dossier.objects.get(pk=dossier_id)
    assert stored.state == State.ACCEPTED and stored.assigned_to_id == fatou.pk


def test_english_speaking_citizen_gets_english_mail(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    moussa = world["citizen_b"]
    moussa.language = "en"
    moussa.save(update_fields=["language"])
    citizen, instructor = api["citizen_b"], api["instructor"]
    dossier_id = _ok(
        citizen.post(
            "dossiers", {"procedure": BIRTH, "data": {**BIRTH_ANSWERS, "full_name": "Moussa Fall"}}
        ),
        201,
    )["id"]
    _ok(citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()), 201)
    number = _ok(citizen.post(f"dossiers/{dossier_id}/submit"))["number"]
    _ok(instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "take"}))
    _ok(
        instructor.post(
            f"dossiers/{dossier_id}/transitions", {"action": "reject", "comment": "Hors commune."}
        )
    )

    *to_moussa, letter_ready = _mails_to(moussa)
    assert [m.subject for m in to_moussa] == [
        f"Dossier {number}: Submitted",
        f"Dossier {number}: In review",
        f"Dossier {number}: Rejected",
    ]
    assert letter_ready.subject.startswith("Your document")  # the sealed decision letter
    assert to_moussa[-1].body.startswith("Hello Moussa Fall,")
    assert "Hors commune." not in to_moussa[-1].body
    french = _label_in("fr", State.REJECTED)
    if french != "Rejected":  # once the French catalogue exists, it must not leak in here
        assert french not in to_moussa[-1].subject


def test_messages_notify_the_other_side(api: dict[str, ApiClient], world: dict[str, User]) -> None:
    citizen, instructor = api["citizen_a"], api["instructor"]
    dossier_id = _ok(citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}), 201)[
        "id"
    ]
    _ok(citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()), 201)
    _ok(citizen.post(f"dossiers/{dossier_id}/submit"))

    # Nobody is assigned yet: a citizen's message has no agent to notify.
    mail.outbox.clear()
    _ok(citizen.post(f"dossiers/{dossier_id}/messages", {"body": "Bonjour"}), 201)
    assert mail.outbox == []

    _ok(instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "take"}))
    mail.outbox.clear()
    _ok(citizen.post(f"dossiers/{dossier_id}/messages", {"body": "Des nouvelles ?"}), 201)
    assert [m.to for m in mail.outbox] == [[world["instructor"].email]]
    mail.outbox.clear()
    _ok(instructor.post(f"dossiers/{dossier_id}/messages", {"body": "En cours."}), 201)
    assert [m.to for m in mail.outbox] == [[world["citizen_a"].email]]
    assert "En cours." not in mail.outbox[0].body


def test_supervisor_assigns_and_the_assignee_is_told(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    citizen, supervisor = api["citizen_a"], api["supervisor"]
    dossier_id = _ok(citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}), 201)[
        "id"
    ]
    _ok(citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()), 201)
    _ok(citizen.post(f"dossiers/{dossier_id}/submit"))
    mail.outbox.clear()
    assigned = _ok(
        supervisor.post(
            f"dossiers/{dossier_id}/transitions",
            {"action": "assign", "assignee": str(world["instructor"].pk)},
        )
    )
    assert assigned["state"] == "in_review" and assigned["assigned_to"] == "Fatou Ndiaye"
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [world["citizen_a"].email, world["instructor"].email]
    )
    mine = _ok(api["instructor"].get("queue", mine="true"))
    assert [item["id"] for item in mine["items"]] == [dossier_id]

    # Reassigning an in-review dossier changes hands only: the applicant is not bothered.
    mail.outbox.clear()
    _ok(
        supervisor.post(
            f"dossiers/{dossier_id}/transitions",
            {"action": "assign", "assignee": str(world["supervisor"].pk)},
        )
    )
    assert mail.outbox == []


def test_applicant_withdraws_and_the_assigned_agent_is_told(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    citizen, instructor = api["citizen_a"], api["instructor"]
    dossier_id = _ok(citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}), 201)[
        "id"
    ]
    _ok(citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()), 201)
    _ok(citizen.post(f"dossiers/{dossier_id}/submit"))
    _ok(instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "take"}))
    mail.outbox.clear()
    withdrawn = _ok(citizen.post(f"dossiers/{dossier_id}/transitions", {"action": "withdraw"}))
    assert withdrawn["state"] == "withdrawn"
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [world["citizen_a"].email, world["instructor"].email]
    )
    # Final: nothing more can happen to it.
    again = instructor.post(f"dossiers/{dossier_id}/transitions", {"action": "accept"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"


def test_draft_can_be_deleted_with_its_files(api: dict[str, ApiClient], tmp_path: Any) -> None:
    citizen = api["citizen_a"]
    dossier_id = _ok(citizen.post("dossiers", {"procedure": BIRTH, "data": {}}), 201)["id"]
    _ok(citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()), 201)
    stored = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert citizen.delete(f"dossiers/{dossier_id}").status_code == 204
    assert not Dossier.objects.filter(pk=dossier_id).exists()
    assert not stored[0].exists()  # the file went with its row, once committed
    assert citizen.get(f"dossiers/{dossier_id}").status_code == 404
