"""Every change of a dossier and every agent's read of a citizen's data lands in the
transparency log, in the same transaction, without the citizen's name; the log verifies."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from guichet.audit.models import Action as LogAction
from guichet.audit.models import AuditEvent
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db


def _actions(**filters: Any) -> list[int]:
    return list(
        AuditEvent.objects.filter(**filters).order_by("seq").values_list("action", flat=True)
    )


def _file(api: dict[str, ApiClient]) -> tuple[str, str]:
    citizen = api["citizen_a"]
    dossier_id = citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}).json()["id"]
    attachment = citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
    assert citizen.post(f"dossiers/{dossier_id}/submit").status_code == 200
    return dossier_id, attachment.json()["id"]


def test_the_journey_is_logged_in_order_and_verifies(
    api: dict[str, ApiClient], world: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    dossier_id, _ = _file(api)
    instructor, citizen = api["instructor"], api["citizen_a"]
    steps = [
        (instructor, "take", ""),
        (instructor, "request_changes", "Pièce floue."),
        (citizen, "resubmit", ""),
        (instructor, "accept", ""),
    ]
    for who, action, comment in steps:
        # After commit: notifications, and on acceptance the sealed certificate.
        with django_capture_on_commit_callbacks(execute=True):
            response = who.post(
                f"dossiers/{dossier_id}/transitions", {"action": action, "comment": comment}
            )
        assert response.status_code == 200, response.content

    changes = [a for a in _actions(object_id=dossier_id) if a < 200]
    assert changes == [
        LogAction.DOSSIER_CREATED,
        LogAction.ATTACHMENT_ADDED,
        LogAction.DOSSIER_SUBMITTED,
        LogAction.DOSSIER_TAKEN,
        LogAction.DOSSIER_CHANGES_REQUESTED,
        LogAction.DOSSIER_RESUBMITTED,
        LogAction.DOSSIER_ACCEPTED,
    ]
    awa = world["citizen_a"]
    events = AuditEvent.objects.filter(object_id=dossier_id)
    assert {e.subject_id for e in events} == {str(awa.pk)}
    # The citizen is named by account id only; the log is permanent, names are personal data.
    citizen_entries = events.filter(actor_kind="citizen")
    assert citizen_entries.exists()
    assert all(e.actor_name == "" for e in citizen_entries)
    assert not any("Awa" in e.details or "Pièce floue" in e.details for e in events)
    agent_entry = events.get(action=LogAction.DOSSIER_ACCEPTED)
    assert agent_entry.actor_name == "Fatou Ndiaye"
    assert agent_entry.org_name == "Commune de Dakar-Plateau"
    # The sealed certificate's hash is logged too.
    assert AuditEvent.objects.filter(
        action=LogAction.DOCUMENT_ISSUED, subject_id=str(awa.pk)
    ).exists()

    call_command("audit", "checkpoint", stdout=StringIO())
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue().startswith("OK\u00a0: ")


def test_an_agent_opening_or_downloading_is_logged_once_per_request(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier_id, attachment_id = _file(api)
    before = AuditEvent.objects.count()
    assert api["citizen_a"].get(f"dossiers/{dossier_id}").status_code == 200
    assert AuditEvent.objects.count() == before  # the citizen reading their own data: not logged
    assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
    assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
    opened = AuditEvent.objects.filter(action=LogAction.DOSSIER_OPENED, object_id=dossier_id)
    assert opened.count() == 2  # one per request, though each reads answers and profile
    # By name and administration (the name is sealed: opened for the entry, never the email).
    assert set(opened.values_list("actor_kind", "actor_id", "actor_name", "org_name")) == {
        ("agent", str(world["instructor"].pk), "Fatou Ndiaye", "Commune de Dakar-Plateau")
    }
    download = api["instructor"].get(f"dossiers/{dossier_id}/attachments/{attachment_id}")
    assert download.status_code == 200
    b"".join(download.streaming_content)
    downloaded = AuditEvent.objects.get(action=LogAction.ATTACHMENT_DOWNLOADED)
    assert downloaded.object_id == attachment_id
    assert downloaded.subject_id == str(world["citizen_a"].pk)
    assert downloaded.actor_id == str(world["instructor"].pk)


def test_an_agent_opening_a_dossier_page_is_named_by_name(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    dossier_id, _ = _file(api)
    supervisor = Client()
    supervisor.force_login(world["supervisor"])
    assert supervisor.get(f"/agent/dossiers/{dossier_id}/").status_code == 200
    [opened] = AuditEvent.objects.filter(action=LogAction.DOSSIER_OPENED, object_id=dossier_id)
    assert (opened.actor_kind, opened.actor_id, opened.actor_name, opened.org_name) == (
        "agent",
        str(world["supervisor"].pk),
        "Ibrahima Sarr",
        "Commune de Dakar-Plateau",
    )


@pytest.mark.parametrize(
    ("persona", "sees_the_opening"),
    [("citizen_a", True), ("citizen_b", False), ("instructor", False), ("other_agent", False)],
)
def test_who_looked_at_my_data_shows_only_ones_own_events(
    api: dict[str, ApiClient], world: dict[str, User], persona: str, sees_the_opening: bool
) -> None:
    dossier_id, _ = _file(api)
    assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
    call_command("audit", "checkpoint", stdout=StringIO())
    client = Client()
    client.force_login(world[persona])
    page = client.get("/account/data-accesses/")
    assert page.status_code == 200
    html = page.content.decode()
    assert ("Commune de Dakar-Plateau" in html) is sees_the_opening


def test_a_refused_submission_leaves_no_entry(api: dict[str, ApiClient]) -> None:
    citizen = api["citizen_a"]
    incomplete = {k: v for k, v in BIRTH_ANSWERS.items() if k != "full_name"}
    dossier_id = citizen.post("dossiers", {"procedure": BIRTH, "data": incomplete}).json()["id"]
    before = _actions()
    assert citizen.post(f"dossiers/{dossier_id}/submit").status_code == 400
    assert _actions() == before
