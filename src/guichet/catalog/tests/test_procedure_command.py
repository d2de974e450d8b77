"""`guichet procedure import` writes like the designer pages do: its events in the transparency
log, in the transaction of the change, and nothing at all when the file is refused."""

import copy
import io
import socket
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
from guichet.tests.helpers import run_guichet


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
    with pytest.raises(CommandError, match=r"in\.yaml\u00a0: non importée\.$"):
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
    with pytest.raises(CommandError, match=r"in\.yaml\u00a0: non importée\.$"):
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


# --- `guichet procedure validate` checks the routing's teams when the database can say --------


def _validate(tmp_path: Path, text: str, name: str = "in.yaml") -> tuple[str, str]:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    call_command("procedure", "validate", str(source), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _line(text: str, fragment: str) -> int:
    """The 1-based line of the only line of `text` that holds `fragment`."""
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return number


UNKNOWN_KOLDA = (
    "workflow.routing.teams.Kolda: Agence nationale de la Statistique et de la Démographie "
    "(ANSD) n\u2019a pas d\u2019équipe « ansd-srsd-kolda ». Ses équipes : ansd-srsd-dakar, "
    "ansd-srsd-thies."
)


@pytest.mark.django_db
def test_validate_passes_a_routing_to_the_organisation_s_teams(
    world: dict[str, User], tmp_path: Path
) -> None:
    out, err = _validate(tmp_path, _routed("ansd-srsd-thies"))
    assert out == f"{tmp_path / 'in.yaml'}\u00a0: valide\n"
    assert err == ""  # checked, so no note that it was not


@pytest.mark.django_db
def test_validate_names_a_team_the_organisation_lacks_with_its_line(
    world: dict[str, User], tmp_path: Path
) -> None:
    text = _routed("ansd-srsd-kolda")
    source = tmp_path / "in.yaml"
    source.write_text(text, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"^1 définition sur 1 a des problèmes\.$"):
        call_command("procedure", "validate", str(source), stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == f"{source}:{_line(text, 'Kolda:')}: {UNKNOWN_KOLDA}\n"


@pytest.mark.django_db
def test_validate_says_the_teams_were_not_checked_for_an_organisation_it_does_not_know(
    world: dict[str, User], tmp_path: Path
) -> None:
    text = _routed("ansd-srsd-kolda").replace("organisation: ansd\n", "organisation: ansd-x\n")
    out, err = _validate(tmp_path, text)
    source = tmp_path / "in.yaml"
    assert out == f"{source}\u00a0: valide\n"
    assert err == (
        f"{source}:{_line(text, 'routing:')}: workflow.routing: équipes non vérifiées : aucune "
        "organisation « ansd-x » dans cette base de données.\n"
    )


@pytest.mark.django_db
def test_validate_and_import_report_an_unknown_team_alike(
    world: dict[str, User], tmp_path: Path
) -> None:
    """The same file gives the same lines whichever command reads it, so what validate passes
    import accepts, and what it refuses import refuses for the same reason at the same line."""
    source = tmp_path / "in.yaml"
    source.write_text(_routed("ansd-srsd-kolda"), encoding="utf-8")
    validated, imported = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("procedure", "validate", str(source), stdout=io.StringIO(), stderr=validated)
    with pytest.raises(CommandError, match=r"in\.yaml\u00a0: non importée\.$"):
        call_command("procedure", "import", str(source), stdout=io.StringIO(), stderr=imported)
    assert validated.getvalue() == imported.getvalue()
    assert UNKNOWN_KOLDA in imported.getvalue()

    source.write_text(_routed("ansd-srsd-thies"), encoding="utf-8")
    out = io.StringIO()
    call_command("procedure", "validate", str(source), stdout=out, stderr=io.StringIO())
    assert out.getvalue() == f"{source}\u00a0: valide\n"
    call_command("procedure", "import", str(source), stdout=io.StringIO())
    assert Procedure.objects.get(slug="demande-test").workflow["routing"]["teams"]["Kolda"] == (
        "ansd-srsd-thies"
    )


def test_validate_without_a_database_says_so_and_judges_the_files_alone(tmp_path: Path) -> None:
    """A designer's machine with no Guichet database: each routed file gets a note that its
    teams were not checked, and only the files' own problems decide the exit status."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    routed = _routed("ansd-srsd-kolda")
    (tmp_path / "a.yaml").write_text(routed, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(routed.replace("type: text", "type: nope"), encoding="utf-8")
    (tmp_path / "c.yaml").write_text(routed, encoding="utf-8")
    files = [str(tmp_path / name) for name in ("a.yaml", "b.yaml", "c.yaml")]
    url = f"postgres://guichet@127.0.0.1:{port}/guichet"

    done = run_guichet(tmp_path / "var", "procedure", "validate", *files, DATABASE_URL=url)

    assert done.returncode == 1, done.stderr
    assert done.stdout == f"{files[0]}\u00a0: valide\n{files[2]}\u00a0: valide\n"
    routing = _line(routed, "routing:")
    errors = done.stderr.splitlines()
    for file in (files[0], files[2]):
        [note] = [line for line in errors if line.startswith(f"{file}:")]
        assert note.startswith(
            f"{file}:{routing}: workflow.routing: équipes non vérifiées : la base de données ne "
            "peut pas être lue ("
        )
        assert f"port {port} failed" in note
    assert any(line.startswith(f"{files[1]}:") and "form[0].type" in line for line in errors)
    assert "1 définition sur 3 a des problèmes." in done.stderr
    ok = run_guichet(tmp_path / "var", "procedure", "validate", files[0], DATABASE_URL=url)
    assert ok.returncode == 0, ok.stderr
