"""Retention and erasure: applicants are warned once before the date, then the dossier is
crypto-shredded and deleted, leaving a tombstone without personal data; drafts left untouched
go the same way; open dossiers never do."""

import datetime
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from guichet.catalog.models import Procedure
from guichet.dossiers import actions, tasks
from guichet.dossiers.models import (
    Attachment,
    Dossier,
    DossierEvent,
    DossierIndex,
    DossierTombstone,
    Message,
)
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file
from guichet.vault.errors import KeyDestroyed
from guichet.vault.models import DataKey
from guichet.vault.service import decrypt_chunks, decrypt_json, owner_for

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.datetime.now(tz=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, days: float) -> None:
        self.now += datetime.timedelta(days=days)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    yield clock


def _decided(world: dict[str, User], action: str = "accept") -> Dossier:
    awa, fatou = world["citizen_a"], world["instructor"]
    dossier = actions.do_create_draft(awa, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file("cni-awa.pdf"))
    actions.do_transition(awa, dossier.pk, "submit")
    actions.do_transition(fatou, dossier.pk, "take")
    actions.do_post_message(fatou, dossier.pk, "Votre extrait est prêt, Mme Diop.")
    actions.do_transition(fatou, dossier.pk, action, "Motif : dossier de Awa Diop.")
    return Dossier.objects.get(pk=dossier.pk)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("retention", "run", *args, stdout=out)
    return out.getvalue()


def test_a_decided_dossier_is_kept_its_retention_period_then_erased(
    world: dict[str, User], clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    dossier = _decided(world)
    retention = dossier.procedure.retention_days
    assert retention == 365  # the demo's value for a birth certificate copy
    assert dossier.closed_at == dossier.decided_at == clock.now
    attachment = Attachment.objects.get(dossier=dossier)
    stored_file = Path(attachment.file.path)
    sealed_answers = bytes(dossier.answers_sealed or b"")
    sealed_file = stored_file.read_bytes()
    mail.outbox.clear()

    clock.advance(retention - 31)
    assert "prévenus\u00a0: 0 dossier\n" in _run() and not mail.outbox

    clock.advance(2)  # 29 days before the date: the applicant is told, once
    assert "prévenus\u00a0: 1 dossier\n" in _run()
    (notice,) = mail.outbox
    assert notice.to == ["awa.diop@example.sn"]
    assert str(dossier.number) in str(notice.subject)
    assert "/account/export/" in notice.body
    assert "Motif" not in notice.body and "1994" not in notice.body  # nothing of the file
    assert "prévenus\u00a0: 0 dossier\n" in _run() and len(mail.outbox) == 1

    clock.advance(30)
    with django_capture_on_commit_callbacks(execute=True):
        assert f"effacés\u00a0: 1 dossier\n  {dossier.number}" in _run()

    assert not Dossier.objects.filter(pk=dossier.pk).exists()
    for model in (Attachment, DossierEvent, Message, DossierIndex):
        assert not model.objects.filter(dossier_id=dossier.pk).exists()
    assert not stored_file.exists()
    key = DataKey.objects.get(owner=owner_for("dossier", dossier.pk))
    assert key.wrapped is None and key.destroyed_at is not None
    tombstone = DossierTombstone.objects.get(pk=dossier.pk)
    assert (tombstone.number, tombstone.state, tombstone.reason) == (
        dossier.number,
        "accepted",
        "retention",
    )
    assert tombstone.procedure_id == dossier.procedure_id
    assert tombstone.organisation_id == dossier.organisation_id
    assert tombstone.submitted_at == dossier.submitted_at
    assert tombstone.decided_at == tombstone.closed_at == dossier.decided_at
    assert tombstone.erased_at == clock.now
    # A copy of the ciphertexts taken before erasure (a backup, a stolen disk) stays sealed.
    owner = owner_for("dossier", dossier.pk)
    with pytest.raises(KeyDestroyed):
        decrypt_json(owner, dossier.pk, "answers", sealed_answers)
    with pytest.raises(KeyDestroyed):
        list(decrypt_chunks(io.BytesIO(sealed_file), owner, attachment.pk, "file"))


def test_a_restored_row_of_an_erased_dossier_reads_as_gone(
    world: dict[str, User], api: dict[str, ApiClient], clock: Clock
) -> None:
    dossier = _decided(world)
    copy = Dossier.objects.filter(pk=dossier.pk).values()[0]  # the row, as a backup holds it
    clock.advance(400)
    _run()

    Dossier.objects.create(**copy)  # put back from the copy, ciphertext and all

    response = api["citizen_a"].get(f"dossiers/{dossier.pk}")
    assert response.status_code == 404
    assert "Awa" not in response.content.decode()


def test_withdrawn_and_rejected_dossiers_follow_the_same_rule(
    world: dict[str, User], clock: Clock
) -> None:
    rejected = _decided(world, "reject")
    awa = world["citizen_a"]
    withdrawn = actions.do_create_draft(awa, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(awa, withdrawn.pk, "id_document", pdf_file())
    actions.do_transition(awa, withdrawn.pk, "submit")
    clock.advance(10)
    actions.do_transition(awa, withdrawn.pk, "withdraw", "Plus besoin.")

    clock.advance(360)
    assert "effacés\u00a0: 1 dossier\n" in _run()
    assert DossierTombstone.objects.get().state == "rejected"
    clock.advance(10)
    assert "effacés\u00a0: 1 dossier\n" in _run()
    assert set(DossierTombstone.objects.values_list("state", flat=True)) == {
        "rejected",
        "withdrawn",
    }
    assert not Dossier.objects.filter(pk__in=[rejected.pk, withdrawn.pk]).exists()


def test_open_dossiers_are_never_erased(world: dict[str, User], clock: Clock) -> None:
    awa = world["citizen_a"]
    dossier = actions.do_create_draft(awa, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    actions.do_transition(awa, dossier.pk, "submit")

    clock.advance(20 * 365)

    assert "prévenus\u00a0: 0 dossier\n" in _run() and "effacés\u00a0: 0 dossier\n" in _run()
    assert Dossier.objects.filter(pk=dossier.pk).exists()


def test_drafts_left_untouched_are_erased_and_touching_one_restarts_its_clock(
    world: dict[str, User], clock: Clock, settings: Any
) -> None:
    settings.GUICHET_DRAFT_RETENTION_DAYS = 90
    settings.GUICHET_RETENTION_NOTICE_DAYS = 10
    procedure = Procedure.objects.get(slug=BIRTH)
    kept = actions.do_create_draft(world["citizen_a"], procedure, {"full_name": "Awa Diop"})
    left = actions.do_create_draft(world["citizen_b"], procedure, {"full_name": "Moussa Fall"})
    mail.outbox.clear()

    clock.advance(85)
    assert "prévenus\u00a0: 2 dossiers\n" in _run()
    assert {m.to[0] for m in mail.outbox} == {"awa.diop@example.sn", "moussa.fall@example.sn"}
    clock.advance(1)
    actions.do_update_answers(world["citizen_a"], kept.pk, {"copies": 2})  # Awa comes back

    clock.advance(9)
    out = _run()
    assert f"effacés\u00a0: 1 dossier\n  draft {left.pk}" in out
    tombstone = DossierTombstone.objects.get()
    assert (tombstone.pk, tombstone.state, tombstone.reason, tombstone.number) == (
        left.pk,
        "draft",
        "abandoned_draft",
        "",
    )
    assert Dossier.objects.filter(pk=kept.pk).exists()

    clock.advance(76)  # 85 days after Awa's edit: warned again, for the new date
    mail.outbox.clear()
    assert "prévenus\u00a0: 1 dossier\n" in _run() and mail.outbox[0].to == ["awa.diop@example.sn"]


def test_a_dry_run_changes_nothing_and_sends_nothing(world: dict[str, User], clock: Clock) -> None:
    dossier = _decided(world)
    mail.outbox.clear()
    clock.advance(400)

    out = _run("--dry-run")

    assert f"seraient effacés\u00a0: 1 dossier\n  {dossier.number}" in out
    assert Dossier.objects.filter(pk=dossier.pk).exists() and not mail.outbox
    assert not DossierTombstone.objects.exists()


def test_the_task_runs_the_same_pass(world: dict[str, User], clock: Clock) -> None:
    dossier = _decided(world)
    clock.advance(400)

    result = tasks.run_retention.enqueue()

    assert result.return_value == {"warned": [], "erased": [dossier.number], "failed": []}
    assert DossierTombstone.objects.filter(pk=dossier.pk).exists()


def test_a_failed_erasure_is_reported_and_retried(
    world: dict[str, User], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    dossier = _decided(world)
    clock.advance(400)

    def broken(*args: Any) -> None:
        raise RuntimeError("storage offline")

    with monkeypatch.context() as patched:
        patched.setattr(actions, "_erase", broken)
        with pytest.raises(CommandError, match=str(dossier.number)):
            _run()
    assert Dossier.objects.filter(pk=dossier.pk).exists()

    assert "effacés\u00a0: 1 dossier\n" in _run()
