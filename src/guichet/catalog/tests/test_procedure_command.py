"""`guichet procedure import` writes like the designer pages do: its events in the transparency
log, in the transaction of the change, and nothing at all when the file is refused."""

import copy
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guichet.audit.models import Action as LogAction
from guichet.audit.models import ActorKind, AuditEvent
from guichet.catalog.actions import COMMAND_LINE
from guichet.catalog.definition import dump, load
from guichet.catalog.models import Procedure
from guichet.catalog.service import export_definition
from guichet.catalog.tests.test_definition import MINIMAL
from guichet.catalog.workflow_def import DEFAULT_WORKFLOW
from guichet.identity.models import User


def _import(tmp_path: Path, text: str, *options: str) -> tuple[str, str]:
    source = tmp_path / "in.yaml"
    source.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    call_command("procedure", "import", str(source), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _events(procedure: Procedure) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="procedure", object_id=str(procedure.pk)).order_by(
            "seq"
        )
    )


@pytest.mark.django_db
def test_an_import_records_who_saved_what(world: dict[str, User], tmp_path: Path) -> None:
    _import(tmp_path, MINIMAL)
    procedure = Procedure.objects.get(slug="demande-test")
    [event] = _events(procedure)
    assert event.action == LogAction.PROCEDURE_SAVED
    assert (event.actor_kind, event.actor_id, event.actor_name) == (
        ActorKind.SYSTEM,
        "",
        COMMAND_LINE,
    )
    assert event.details_data == {
        "slug": "demande-test",
        "version": 1,
        "new_version": False,
        "compatible": True,
        "new_drafts_only": False,
    }


@pytest.mark.django_db
def test_a_new_version_and_a_publication_are_each_recorded(
    world: dict[str, User], tmp_path: Path
) -> None:
    _import(tmp_path, MINIMAL)
    changed = MINIMAL + "  - name: detail\n    type: text\n    label: {fr: Détail}\n"
    _import(tmp_path, changed, "--publish", "--new-drafts-only")
    procedure = Procedure.objects.get(slug="demande-test")
    assert procedure.status == Procedure.Status.PUBLISHED
    saved, published = _events(procedure)[1:]
    assert saved.action == LogAction.PROCEDURE_SAVED
    assert saved.details_data == {
        "slug": "demande-test",
        "version": 2,
        "new_version": True,
        "compatible": True,
        "new_drafts_only": True,
    }
    assert published.action == LogAction.PROCEDURE_PUBLISHED
    assert published.actor_name == COMMAND_LINE
    assert published.details_data == {"slug": "demande-test", "version": 2}


@pytest.mark.django_db
def test_a_refused_file_writes_no_event_and_changes_nothing(
    world: dict[str, User], tmp_path: Path
) -> None:
    _import(tmp_path, MINIMAL)
    procedure = Procedure.objects.get(slug="demande-test")
    before = (export_definition(procedure), procedure.version, AuditEvent.objects.count())
    # A valid change of title in a file that is invalid elsewhere: none of it may land.
    invalid = MINIMAL.replace("Demande de test", "Autre titre").replace("type: text", "type: nope")
    with pytest.raises(CommandError, match="not imported"):
        _import(tmp_path, invalid, "--publish")
    procedure.refresh_from_db()
    after = (export_definition(procedure), procedure.version, AuditEvent.objects.count())
    assert after == before
    assert procedure.status == Procedure.Status.DRAFT


def _routed(team: str) -> str:
    definition = load(MINIMAL)
    routing = {"answer": "motif", "teams": {"Dakar": "ansd-srsd-dakar", "Kolda": team}}
    definition["workflow"] = {**copy.deepcopy(DEFAULT_WORKFLOW), "routing": routing}
    return dump(definition)


@pytest.mark.django_db
def test_an_import_routing_to_a_team_the_organisation_lacks_is_refused(
    world: dict[str, User], tmp_path: Path
) -> None:
    events = AuditEvent.objects.count()
    source = tmp_path / "in.yaml"
    source.write_text(_routed("ansd-srsd-kolda"), encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="not imported"):
        call_command("procedure", "import", str(source), stdout=io.StringIO(), stderr=err)
    assert (
        "workflow.routing.teams.Kolda: Agence nationale de la Statistique et de la Démographie "
        "(ANSD) n\u2019a pas d\u2019équipe « ansd-srsd-kolda ». Ses équipes : ansd-srsd-dakar, "
        "ansd-srsd-thies."
    ) in err.getvalue()
    assert not Procedure.objects.filter(slug="demande-test").exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_an_import_routing_to_the_organisation_s_teams_passes(
    world: dict[str, User], tmp_path: Path
) -> None:
    _import(tmp_path, _routed("ansd-srsd-thies"))
    routing = Procedure.objects.get(slug="demande-test").workflow["routing"]
    assert routing["teams"] == {"Dakar": "ansd-srsd-dakar", "Kolda": "ansd-srsd-thies"}
