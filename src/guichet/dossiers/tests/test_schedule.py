"""The scheduler enqueues the periodic jobs: a checkpoint gets signed, retention runs."""

from io import StringIO

import pytest
from django.core.management import call_command

from guichet.audit.models import Checkpoint
from guichet.dossiers import actions
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS

pytestmark = pytest.mark.django_db


def test_one_round_signs_a_due_checkpoint(world: dict[str, User]) -> None:
    from guichet.catalog.service import published_procedure

    procedure = published_procedure(BIRTH)
    assert procedure is not None
    actions.do_create_draft(world["citizen_a"], procedure, BIRTH_ANSWERS)
    assert not Checkpoint.objects.exists()
    call_command("schedule", "--once", stdout=StringIO())
    # The first checkpoint covers every event so far (the demo's accounts and the draft).
    assert Checkpoint.objects.count() == 1
    assert Checkpoint.objects.get().tree_size > 0


def test_one_round_sends_the_notifications_still_owed(
    world: dict[str, User], mailoutbox: list[object]
) -> None:
    # A submission whose batch never ran (its process died after the commit): the scheduler's
    # round sends it.
    from guichet.catalog.service import published_procedure
    from guichet.dossiers.models import Notification
    from guichet.testing import pdf_file

    procedure = published_procedure(BIRTH)
    assert procedure is not None
    citizen = world["citizen_a"]
    dossier = actions.do_create_draft(citizen, procedure, BIRTH_ANSWERS)
    actions.do_add_attachment(citizen, dossier.pk, "id_document", pdf_file())
    actions.do_transition(citizen, dossier.pk, "submit")
    assert Notification.objects.count() == 1 and mailoutbox == []
    call_command("schedule", "--once", stdout=StringIO())
    assert [m.to for m in mailoutbox] == [[citizen.email]]  # type: ignore[attr-defined]
    assert not Notification.objects.exists()
