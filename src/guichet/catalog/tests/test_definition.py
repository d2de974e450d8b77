"""Procedure definitions (catalog/definition.py) and `guichet procedure validate|import|export`:
every problem says its path and line, the demo files are valid, import(export(x)) is x."""

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guichet.catalog.definition import Invalid, check, dump, load, normalise, parse
from guichet.catalog.models import Procedure
from guichet.catalog.service import export_definition
from guichet.identity.models import User

DEFINITIONS = Path(__file__).parents[1] / "definitions"

MINIMAL = """\
format: 1
slug: demande-test
organisation: ansd
title: {fr: Demande de test, en: Test request}
form:
  - name: motif
    type: text
    label: {fr: Motif}
"""


def _problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(Invalid) as caught:
        load(text)
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def test_a_minimal_definition_loads() -> None:
    assert load(MINIMAL)["form"][0]["name"] == "motif"


@pytest.mark.parametrize("path", sorted(DEFINITIONS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_demo_definitions_are_valid_and_round_trip(path: Path) -> None:
    definition = load(path.read_text(encoding="utf-8"))
    assert load(dump(definition)) == normalise(definition) == definition


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        (MINIMAL.replace("type: text", "type: money"), "form[0].type", 7),
        (MINIMAL.replace("    label: {fr: Motif}", "    label: {en: Reason}"), "form[0].label", 8),
        (MINIMAL.replace("name: motif", "name: Motif"), "form[0].name", 6),
        (MINIMAL + "    colour: blue\n", "form[0]", 6),  # unknown key: on its item
        (MINIMAL.replace("format: 1", "format: 2"), "format", 1),
        (MINIMAL.replace("slug: demande-test\n", ""), "", 1),
        (MINIMAL + "deadline_days: -3\n", "deadline_days", 9),
        (MINIMAL + "fees: {amount: 100, add: [{per: motif, amount: 5}]}\n", "fees.add[0].per", 9),
    ],
)
def test_problems_point_at_path_and_line(text: str, path: str, line: int) -> None:
    found = _problems(text)
    assert (path, line) in [(p, n) for p, n, _ in found], found


def test_semantic_checks() -> None:
    text = """\
format: 1
slug: s
organisation: ansd
title: T
form:
  - name: a
    type: text
    label: A
    visible_if: {field: b, equals: x}
  - name: b
    type: choice
    label: B
    choices: [{value: x}, {value: x}]
  - name: b
    type: integer
    label: B2
    min: 10
    max: 1
  - name: c
    type: choice
    label: C
    referential: communes
  - name: d
    type: text
    label: D
    pattern: "[a-"
  - name: e
    type: block
    label: E
    fields:
      - {name: f, type: file, label: F}
  - name: g
    type: text
    label: G
    visible_if: {field: a.region, equals: x}
eligibility:
  - refuse_if: {field: nowhere, equals: 1}
    message: Non.
"""
    found = {(path, line) for path, line, _ in _problems(text)}
    assert found >= {
        ("form[0].visible_if", 9),  # names a field declared after it
        ("form[1].choices[1].value", 13),
        ("form[2].name", 14),
        ("form[2].min", 17),
        ("form[3].referential", 22),
        ("form[4].pattern", 26),
        ("form[5].fields[0].type", 31),
        ("form[6].visible_if", 35),  # only an address has parts
        ("eligibility[0].refuse_if", 37),
    }


def test_schema_problems_come_first_and_all_together() -> None:
    text = (
        MINIMAL
        + "eligibility:\n"
        + "  - refuse_if: {field: motif, filled: true}\n"
        + "    message: {en: Only English}\n"
    )
    text = text.replace("slug: demande-test", "slug: Demande Test")
    found = {(path, line) for path, line, _ in _problems(text)}
    assert found == {("slug", 2), ("eligibility[0].message", 11)}


def test_yaml_keeps_yes_and_dates_as_text() -> None:
    data, _lines = parse("a: yes\nb: 2024-01-01\nc: true\nd: off\n")
    assert data == {"a": "yes", "b": "2024-01-01", "c": True, "d": "off"}


@pytest.mark.parametrize("text", ["a: [", "{", "- a\nb: c", "\t- x"])
def test_unreadable_yaml_is_one_problem_with_a_line(text: str) -> None:
    found = _problems(text)
    assert len(found) == 1 and found[0][2].startswith("YAML non valide\u00a0: ")


def test_a_definition_is_a_mapping() -> None:
    assert check(["a"])[0].message == (
        "une définition est un dictionnaire de clés (slug, title, form, …)"
    )
    assert _problems("")[0][0] == ""


# --- The command ----------------------------------------------------------------------------


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("procedure", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_validate_names_file_line_and_path(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("type: text", "type: money"), encoding="utf-8")
    out, _ = _run("validate", str(good))
    assert out == f"{good}\u00a0: valide\n"
    with pytest.raises(CommandError, match=r"^1 définition sur 2 a des problèmes\.$"):
        _run("validate", str(good), str(bad))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("procedure", "validate", str(bad), stdout=io.StringIO(), stderr=err)
    assert f"{bad}:7: form[0].type: une valeur parmi\u00a0: text, textarea," in err.getvalue()


@pytest.mark.django_db
def test_import_then_export_gives_the_file_back(world: dict[str, User], tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(MINIMAL, encoding="utf-8")
    out, _ = _run("import", str(source), "--publish")
    assert out == "demande-test\u00a0: enregistrée (version 1), publiée.\n"
    assert Procedure.objects.get(slug="demande-test").status == Procedure.Status.PUBLISHED
    exported = tmp_path / "out.yaml"
    _run("export", "demande-test", str(exported))
    assert load(exported.read_text(encoding="utf-8")) == normalise(load(MINIMAL))
    # And again: export(import(export(x))) is the same text, byte for byte.
    _run("import", str(exported))
    again, _ = _run("export", "demande-test")
    assert again == exported.read_text(encoding="utf-8")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "slug", ["extrait-acte-naissance", "immatriculation-ninea", "bulletin-casier-judiciaire"]
)
def test_demo_procedures_export_as_their_files(world: dict[str, User], slug: str) -> None:
    procedure = Procedure.objects.get(slug=slug)
    source = load((DEFINITIONS / f"{slug}.yaml").read_text(encoding="utf-8"))
    assert export_definition(procedure) == source


@pytest.mark.django_db
def test_import_refuses_an_unknown_organisation(world: dict[str, User], tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(MINIMAL.replace("organisation: ansd", "organisation: nowhere"), "utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"in\.yaml\u00a0: non importée\.$"):
        call_command("procedure", "import", str(source), stdout=io.StringIO(), stderr=err)
    # The line of the key in the file, as for the file's own problems.
    assert (
        err.getvalue() == f"{source}:3: organisation: aucune organisation n\u2019a ce nom court\n"
    )
    assert not Procedure.objects.filter(slug="demande-test").exists()


def test_export_of_an_unknown_procedure(db: Any) -> None:
    with pytest.raises(CommandError, match=r"^Aucune démarche n’a le nom court nope\.$"):
        _run("export", "nope")


def test_the_workflow_section_is_checked_by_its_own_schema_and_validator() -> None:
    from guichet.catalog.workflow_def import DEFAULT_WORKFLOW

    definition = {**load(MINIMAL), "workflow": DEFAULT_WORKFLOW}
    assert load(dump(definition)) == definition
    text = MINIMAL + "workflow:\n  transitions:\n    - {from: nowhere}\n"
    found = _problems(text)
    assert found and all(path.startswith("workflow") for path, _line, _msg in found)
    assert {line for _path, line, _msg in found} == {11}  # the line of "- {from: nowhere}"
