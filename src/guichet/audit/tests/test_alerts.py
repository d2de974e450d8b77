"""Security alerts from the log's stream: many unassigned openings, reads outside working hours,
bulk exports. Each alert is an event of the log, is emailed to the administration's security
contact after commit, appears on the platform admins' page once per agent and window, and is
acknowledged with a note (itself an event)."""

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django_tasks_db.models import DBTaskResult

from guichet.audit.models import AccessTally, Action, AuditEvent, SecurityAlert
from guichet.dossiers import journal
from guichet.dossiers.models import Dossier
from guichet.identity.models import Organisation, User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

ALL_WEEK = "1-7"
ALL_DAY = "00:00-23:59:59.999999"


@pytest.fixture
def alerts_on(settings: Any) -> Any:
    """Alerts on, with small thresholds; every hour of every day counts as working time."""
    settings.GUICHET_ALERT_WINDOW_SECONDS = 600
    settings.GUICHET_ALERT_UNASSIGNED_OPENINGS = 3
    settings.GUICHET_ALERT_EXPORT_ITEMS = 3
    settings.GUICHET_ALERT_WORKING_HOURS = ALL_DAY
    settings.GUICHET_ALERT_WORKING_DAYS = ALL_WEEK
    return settings


def _submitted(api: dict[str, ApiClient], count: int) -> list[tuple[str, str]]:
    """`count` submitted dossiers of citizen A, nobody assigned: (dossier id, attachment id)."""
    citizen = api["citizen_a"]
    made = []
    for _ in range(count):
        dossier_id = citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}).json()[
            "id"
        ]
        upload = citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
        assert citizen.post(f"dossiers/{dossier_id}/submit").status_code == 200
        made.append((dossier_id, upload.json()["id"]))
    return made


def _commune() -> Organisation:
    return Organisation.objects.get(name="Commune de Dakar-Plateau")


def _alert_events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_many_unassigned_openings_raise_one_alert_emailed_to_the_security_contact(
    api: dict[str, ApiClient],
    world: dict[str, User],
    alerts_on: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    commune = _commune()
    commune.security_email = "securite@dakarplateau.sn"
    commune.save()
    dossiers = _submitted(api, 5)
    mail.outbox.clear()
    instructor = api["instructor"]
    for dossier_id, _ in dossiers[:2]:
        with django_capture_on_commit_callbacks(execute=True):
            assert instructor.get(f"dossiers/{dossier_id}").status_code == 200
    assert not SecurityAlert.objects.exists()  # two are below the threshold of three
    for dossier_id, _ in dossiers[2:]:
        with django_capture_on_commit_callbacks(execute=True):
            assert instructor.get(f"dossiers/{dossier_id}").status_code == 200
    # The third and the following openings cross the threshold, but the alert is raised once.
    alert = SecurityAlert.objects.get()
    fatou = world["instructor"]
    assert alert.action == Action.ALERT_MANY_OPENINGS
    # The agent as the log names them in their read: by name, never their sign-in email.
    assert alert.agent_id == str(fatou.pk)
    assert alert.agent_name == "Fatou Ndiaye"
    assert (alert.org_name, alert.count, alert.threshold) == (commune.name, 3, 3)
    [event] = _alert_events(Action.ALERT_MANY_OPENINGS)
    assert event.seq == alert.event_seq
    assert event.object_id == str(fatou.pk)
    assert event.subject_id == ""  # about an agent, so on no citizen's page
    assert event.details_data["count"] == 3
    [email] = mail.outbox
    assert email.to == ["securite@dakarplateau.sn"]
    assert alert.agent_name in email.body
    assert "Awa" not in email.body and "Diop" not in email.body  # no citizen's data
    assert f"/admin/security-alerts/{alert.pk}/" in email.body
    assert alert.__class__.objects.get().emailed_at is not None
    # Reopening the same dossier counts once: the count is of different dossiers.
    assert AccessTally.objects.filter(actor_id=str(fatou.pk)).count() == 5


def test_the_parent_organisations_contact_is_the_fallback(
    api: dict[str, ApiClient],
    world: dict[str, User],
    alerts_on: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    commune = _commune()
    parent = Organisation.objects.create(
        slug="region-dakar", name="Région de Dakar", kind="ministry", security_email="cert@rd.sn"
    )
    commune.parent = parent
    commune.save()
    mail.outbox.clear()
    for dossier_id, _ in _submitted(api, 3):
        with django_capture_on_commit_callbacks(execute=True):
            api["instructor"].get(f"dossiers/{dossier_id}")
    assert [m.to for m in mail.outbox if "alert" in m.subject.lower()] == [["cert@rd.sn"]]


def test_without_a_contact_the_alert_still_reaches_the_admins_page(
    api: dict[str, ApiClient],
    world: dict[str, User],
    alerts_on: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    mail.outbox.clear()
    for dossier_id, _ in _submitted(api, 3):
        with django_capture_on_commit_callbacks(execute=True):
            api["instructor"].get(f"dossiers/{dossier_id}")
    alert = SecurityAlert.objects.get()
    assert alert.recipient == ""
    assert not mail.outbox
    admin = Client()
    admin.force_login(world["admin"])
    assert alert.agent_name in admin.get("/admin/security-alerts/").content.decode()


def test_openings_of_assigned_dossiers_in_working_hours_raise_nothing_and_count_nothing(
    api: dict[str, ApiClient], world: dict[str, User], alerts_on: Any
) -> None:
    dossiers = _submitted(api, 4)
    for dossier_id, _ in dossiers:
        assert api["instructor"].post(f"dossiers/{dossier_id}/transitions", {"action": "take"})
        assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
    assert not SecurityAlert.objects.exists()
    assert not AccessTally.objects.exists()


def test_reads_outside_working_hours_raise_one_alert_per_window(
    api: dict[str, ApiClient], world: dict[str, User], alerts_on: Any
) -> None:
    dossiers = _submitted(api, 2)
    alerts_on.GUICHET_ALERT_WORKING_DAYS = ""  # no working day: every moment is outside
    for dossier_id, _ in dossiers:
        assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
        assert api["supervisor"].get(f"dossiers/{dossier_id}").status_code == 200
    alerts = SecurityAlert.objects.filter(action=Action.ALERT_OUTSIDE_HOURS)
    # One per agent, though each read twice.
    assert sorted(a.agent_id for a in alerts) == sorted(
        str(world[name].pk) for name in ("instructor", "supervisor")
    )
    assert len(_alert_events(Action.ALERT_OUTSIDE_HOURS)) == 2


def test_bulk_downloads_raise_the_export_alert(
    api: dict[str, ApiClient], world: dict[str, User], alerts_on: Any
) -> None:
    alerts_on.GUICHET_ALERT_UNASSIGNED_OPENINGS = 0
    for dossier_id, attachment_id in _submitted(api, 3):
        download = api["instructor"].get(f"dossiers/{dossier_id}/attachments/{attachment_id}")
        assert download.status_code == 200
        b"".join(download.streaming_content)
    alert = SecurityAlert.objects.get()
    assert (alert.action, alert.count) == (Action.ALERT_BULK_EXPORT, 3)


def test_an_export_of_many_dossiers_at_once_raises_the_export_alert(
    api: dict[str, ApiClient], world: dict[str, User], alerts_on: Any
) -> None:
    ids = [dossier_id for dossier_id, _ in _submitted(api, 3)]
    dossiers = list(Dossier.objects.filter(pk__in=ids).select_related("organisation"))
    journal.log_export(world["supervisor"], dossiers)
    assert AuditEvent.objects.filter(action=Action.DATA_EXPORTED).count() == 3
    alert = SecurityAlert.objects.get()
    assert (alert.action, alert.count, alert.agent_id) == (
        Action.ALERT_BULK_EXPORT,
        3,
        str(world["supervisor"].pk),
    )


def test_citizens_reading_their_own_data_raise_nothing(
    api: dict[str, ApiClient], alerts_on: Any
) -> None:
    alerts_on.GUICHET_ALERT_WORKING_DAYS = ""
    for dossier_id, _ in _submitted(api, 3):
        assert api["citizen_a"].get(f"dossiers/{dossier_id}").status_code == 200
    assert not SecurityAlert.objects.exists()


def _raise_one(api: dict[str, ApiClient]) -> SecurityAlert:
    for dossier_id, _ in _submitted(api, 3):
        api["instructor"].get(f"dossiers/{dossier_id}")
    return SecurityAlert.objects.get()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("anonymous", 404),
        ("citizen_a", 404),
        ("citizen_b", 404),
        ("instructor", 404),
        ("supervisor", 404),
        ("other_agent", 404),
        ("admin", 200),
    ],
)
def test_only_platform_admins_see_and_acknowledge_alerts(
    api: dict[str, ApiClient], world: dict[str, User], alerts_on: Any, persona: str, status: int
) -> None:
    alert = _raise_one(api)
    client = Client()
    if persona != "anonymous":
        client.force_login(world[persona])
    assert client.get("/admin/security-alerts/").status_code == status
    assert client.get(f"/admin/security-alerts/{alert.pk}/").status_code == status
    before = AuditEvent.objects.count()
    response = client.post(f"/admin/security-alerts/{alert.pk}/acknowledge/", {"note": "Vu."})
    alert.refresh_from_db()
    if status == 200:
        assert response.status_code == 302
        assert alert.acknowledged_at is not None and alert.note == "Vu."
        [event] = _alert_events(Action.ALERT_ACKNOWLEDGED)
        assert event.seq == alert.acknowledged_seq
        assert event.details_data["alert"] == alert.event_seq
        assert "Vu." not in event.details  # the note stays out of the permanent log
    else:
        assert response.status_code == 404
        assert alert.acknowledged_at is None
        assert AuditEvent.objects.count() == before


def test_the_admins_page_filters_and_acknowledging_needs_a_note(
    api: dict[str, ApiClient], world: dict[str, User], alerts_on: Any
) -> None:
    alert = _raise_one(api)
    admin = Client()
    admin.force_login(world["admin"])
    listed = admin.get("/admin/security-alerts/", {"kind": int(Action.ALERT_MANY_OPENINGS)})
    assert f"/admin/security-alerts/{alert.pk}/" in listed.content.decode()
    other_kind = admin.get("/admin/security-alerts/", {"kind": int(Action.ALERT_BULK_EXPORT)})
    assert f"/admin/security-alerts/{alert.pk}/" not in other_kind.content.decode()
    by_org = admin.get("/admin/security-alerts/", {"organisation": alert.org_id})
    assert f"/admin/security-alerts/{alert.pk}/" in by_org.content.decode()
    bad = admin.get("/admin/security-alerts/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert bad.status_code == 400
    assert admin.get("/admin/security-alerts/", {"kind": "999"}).status_code == 400

    empty = admin.post(f"/admin/security-alerts/{alert.pk}/acknowledge/", {"note": "  "})
    assert empty.status_code == 400
    assert (
        admin.post(
            f"/admin/security-alerts/{alert.pk}/acknowledge/", {"note": "x" * 1001}
        ).status_code
        == 400
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    done = admin.post(f"/admin/security-alerts/{alert.pk}/acknowledge/", {"note": "Checked."})
    assert done.status_code == 302
    again = admin.post(f"/admin/security-alerts/{alert.pk}/acknowledge/", {"note": "Again."})
    assert again.status_code == 409
    [acknowledged] = _alert_events(Action.ALERT_ACKNOWLEDGED)
    # The admin by name, in the entry and on the alert (sealed: opened, never the email).
    assert (acknowledged.actor_kind, acknowledged.actor_id, acknowledged.actor_name) == (
        "agent",
        str(world["admin"].pk),
        "Administrateur de la plateforme",
    )
    alert.refresh_from_db()
    assert alert.acknowledged_by == "Administrateur de la plateforme"
    assert (
        f"/admin/security-alerts/{alert.pk}/"
        not in admin.get("/admin/security-alerts/").content.decode()
    )  # open alerts only, by default
    assert (
        f"/admin/security-alerts/{alert.pk}/"
        in admin.get("/admin/security-alerts/", {"status": "acknowledged"}).content.decode()
    )


def test_the_log_with_alerts_verifies_and_old_counts_are_dropped(
    api: dict[str, ApiClient], alerts_on: Any
) -> None:
    _raise_one(api)
    assert AccessTally.objects.count() == 3
    alerts_on.GUICHET_ALERT_WINDOW_SECONDS = 1
    from datetime import timedelta

    from django.utils import timezone

    from guichet.audit import alerts

    assert alerts.forget_old_tallies(timezone.now() + timedelta(seconds=5)) == 3
    call_command("audit", "checkpoint", stdout=StringIO())
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue().startswith("OK\u00a0: ")


def test_the_alert_email_is_queued_in_the_read_that_raised_it(
    api: dict[str, ApiClient], alerts_on: Any, settings: Any
) -> None:
    """With the database queue (production's), the email task is written in the same
    transaction as the alert: nothing waits for a commit hook that a crash would skip."""
    commune = _commune()
    commune.security_email = "securite@dakarplateau.sn"
    commune.save()
    dossiers = _submitted(api, 3)
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    for dossier_id, _ in dossiers:  # no commit hook runs in this test's transaction
        assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
    alert = SecurityAlert.objects.get()
    [queued] = DBTaskResult.objects.filter(task_path="guichet.audit.tasks.send_security_alert")
    assert queued.args_kwargs["kwargs"] == {"alert_id": alert.pk}
    assert queued.status == "READY"
