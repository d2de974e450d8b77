"""What a definition may not do, whoever writes it (designer pages, `guichet procedure import`):

- name a design role (designer, org_admin) among a workflow's actors: the role that writes the
  rules may not give itself sight of applicants' dossiers (separation of duties);
- use YAML anchors and aliases (a few hundred bytes expanded to millions of values), or nest
  deeper than the checks can walk: refused at the line, never a 500 or a stuck worker;
- declare a fee beyond the bounds, or anything else the procedure's columns cannot hold;
- make a field's pattern pin a worker on an applicant's answer: patterns run with a time limit.

Every refusal is a message at the path and line, the text typed is kept, nothing is saved.
"""

import copy
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from guichet.audit.models import Action as LogAction
from guichet.audit.models import AuditEvent
from guichet.catalog.actions import do_import_definition, do_save_procedure
from guichet.catalog.definition import Invalid, check, dump, load, parse
from guichet.catalog.forms import check_answers
from guichet.catalog.models import Procedure, ProcedureVersion
from guichet.catalog.service import export_definition
from guichet.catalog.tests.test_definition import MINIMAL
from guichet.catalog.tests.test_designer_support import client_for, people  # noqa: F401
from guichet.catalog.workflow_def import DEFAULT_WORKFLOW, parse_workflow, validate_workflow
from guichet.dossiers.tests.design_roles import (
    store_workflow_naming_design_roles,
    workflow_naming_design_roles,
)
from guichet.dossiers.tests.test_pages_support import strict_html  # noqa: F401
from guichet.identity.models import Organisation, User
from guichet.testing import BIRTH, ApiClient

B = f"/agent/designer/{BIRTH}"
DESIGN_ROLE_MESSAGE = (
    "Les concepteurs de démarches et les administrateurs de l'administration ne peuvent pas agir "
    "sur les dossiers"
)
ALIASES_MESSAGE = (
    "les ancres et les alias (& et *) ne sont pas admis dans une définition\u00a0: écrivez la "
    "valeur là où elle sert"
)
DEPTH_MESSAGE = "plus de 64 niveaux d'imbrication"
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]\n"
    for previous, name in zip("abcdef", "bcdefg", strict=True)
)
DEEP = "a: " + "[" * 5000 + "]" * 5000 + "\n"


def _problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(Invalid) as caught:
        load(text)
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def _line_of(text: str, needle: str, after: str = "") -> int:
    """The number of the first line holding `needle` after the first line holding `after`."""
    rows = text.splitlines()
    start = next(n for n, row in enumerate(rows) if after in row) if after else 0
    return next(n for n, row in enumerate(rows[start:], start + 1) if needle in row)


def _with_workflow(workflow: dict[str, Any]) -> str:
    return dump({**load(MINIMAL), "workflow": workflow})


def _state() -> Any:
    procedure = Procedure.objects.get(slug=BIRTH)
    return (
        procedure.version,
        procedure.status,
        procedure.form,
        procedure.fees,
        procedure.workflow,
        ProcedureVersion.objects.filter(procedure=procedure).count(),
        AuditEvent.objects.filter(object_type="procedure").count(),
    )


@pytest.fixture
def designer(people: dict[str, User]) -> Any:  # noqa: F811
    return client_for(people["designer"])


# --- Design roles in workflows ------------------------------------------------------------------


def _naming(role: str, where: str) -> tuple[dict[str, Any], str]:
    """The default workflow with `role` added at `where`, and the path of the value added."""
    workflow = copy.deepcopy(DEFAULT_WORKFLOW)  # its lists of agents are one shared list
    if where == "by":
        take = workflow["transitions"][1]
        take["by"] = [*take["by"], role]
        return workflow, "workflow.transitions[1].by[2]"
    if where == "actors":
        in_review = workflow["states"]["in_review"]
        in_review["actors"] = [*in_review["actors"], role]
        return workflow, "workflow.states.in_review.actors[2]"
    workflow["escalation"] = {"notify": ["supervisor", role]}
    return workflow, "workflow.escalation.notify[1]"


@pytest.mark.parametrize("role", ["designer", "org_admin"])
@pytest.mark.parametrize("where", ["by", "actors", "notify"])
def test_a_workflow_may_not_name_a_design_role(role: str, where: str) -> None:
    workflow, path = _naming(role, where)
    text = _with_workflow(workflow)
    [(found_path, line, message)] = _problems(text)
    assert found_path == path
    assert message.startswith(DESIGN_ROLE_MESSAGE)
    # The line of the role's own list item.
    assert line is not None and text.splitlines()[line - 1].strip() == f"- {role}"


@pytest.mark.parametrize("where", ["by", "actors", "notify"])
def test_the_workflow_engine_refuses_a_design_role_on_its_own(where: str) -> None:
    """validate_workflow (without the JSON Schema, which refuses it too) says the same."""
    workflow, path = _naming("designer", where)
    [(found_path, message)] = validate_workflow(workflow)
    assert f"workflow.{found_path}" == path
    assert message.startswith(DESIGN_ROLE_MESSAGE)


def test_the_default_and_two_level_workflows_still_pass() -> None:
    assert load(_with_workflow(DEFAULT_WORKFLOW))["workflow"] == DEFAULT_WORKFLOW
    two_level = copy.deepcopy(DEFAULT_WORKFLOW)
    two_level["states"]["in_review"]["actors"] = ["instructor"]
    two_level["escalation"] = {"notify": ["supervisor", "instructor"]}
    assert load(_with_workflow(two_level))["workflow"] == two_level


@pytest.mark.django_db
def test_the_command_refuses_a_design_role_at_its_line(
    world: dict[str, User], tmp_path: Path
) -> None:
    workflow, path = _naming("designer", "by")
    text = _with_workflow(workflow)
    source = tmp_path / "demande.yaml"
    source.write_text(text, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"\u00a0: non importée\.$"):
        call_command("procedure", "import", str(source), stdout=io.StringIO(), stderr=err)
    line = _line_of(text, "- designer", after="name: take")
    assert f"{source}:{line}: {path}: {DESIGN_ROLE_MESSAGE}" in err.getvalue()
    assert not Procedure.objects.filter(slug="demande-test").exists()


@pytest.mark.django_db
def test_a_designer_cannot_save_a_workflow_naming_their_role(designer: Any) -> None:
    before = _state()
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    definition["workflow"], path = _naming("designer", "by")
    text = dump(definition)
    response = designer.post(f"{B}/yaml/", {"text": text, "intent": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert path in html and DESIGN_ROLE_MESSAGE in html.replace("&#x27;", "'")
    line = _line_of(text, "- designer", after="name: take")
    assert re.search(rf"Ligne {line}\b", html)
    assert "- designer" in html  # the text typed is kept
    assert _state() == before


def test_a_stored_workflow_naming_design_roles_is_still_read() -> None:
    """Dossiers of a procedure saved before the rule carry on; the roles grant nothing there
    (the dossier permission matrices try it) and are told of no overdue dossier."""
    stored = workflow_naming_design_roles()
    stored["escalation"] = {"notify": ["designer", "org_admin"]}
    workflow = parse_workflow(stored)
    assert "designer" in workflow.agent_roles
    assert workflow.escalation_roles == frozenset()  # the clock then tells the supervisors


@pytest.mark.django_db
def test_no_write_of_a_procedure_stores_a_design_role(world: dict[str, User]) -> None:
    """do_save_procedure (procedures built in code) skips the definition's checks; the store
    every write goes through refuses the role all the same."""
    workflow, path = _naming("org_admin", "by")
    commune = Organisation.objects.get(slug="commune-dakar-plateau")
    with pytest.raises(Invalid) as caught:
        do_save_procedure(
            commune,
            "demande-test",
            title={"fr": "Demande"},
            form=[{"name": "motif", "type": "text", "label": {"fr": "Motif"}}],
            workflow=workflow,
        )
    assert [p.path for p in caught.value.problems] == [path]
    assert not Procedure.objects.filter(slug="demande-test").exists()


@pytest.mark.django_db
def test_a_procedure_stored_with_a_design_role_cannot_be_published(designer: Any) -> None:
    Procedure.objects.filter(slug=BIRTH).update(status=Procedure.Status.DRAFT)
    store_workflow_naming_design_roles()
    before = _state()
    response = designer.post(f"{B}/publish/", follow=True)
    html = response.content.decode().replace("&#x27;", "'")
    assert DESIGN_ROLE_MESSAGE in html
    # Every place named, states first (in the stored order: PostgreSQL's jsonb sorts the keys).
    assert "Corrigez le circuit de traitement (workflow.states." in html
    assert "workflow.transitions[1].by[2], workflow.transitions[1].by[3]" in html
    assert _state() == before
    assert not AuditEvent.objects.filter(action=LogAction.PROCEDURE_PUBLISHED).exists()


# --- YAML anchors, aliases and depth -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &x [*x]\n", 1),
        (LAUGHS, 1),
        (MINIMAL.replace("title: {fr: Demande", "title: &t {fr: Demande") + "summary: *t\n", 4),
        (MINIMAL + "summary: *nowhere\n", 9),
        (MINIMAL + "fees: {amount: &fee 100}\n", 9),
    ],
    ids=["recursive", "laughs", "alias", "unknown alias", "anchor alone"],
)
def test_anchors_and_aliases_are_refused_at_their_line(text: str, line: int) -> None:
    started = time.process_time()
    assert _problems(text) == [("", line, ALIASES_MESSAGE)]
    # Refused before anything is expanded (six levels of aliases took 2 s and 1.2 M values).
    assert time.process_time() - started < 1


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (DEEP, 1),
        ("a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", 1),
        ("format: 1\nform:\n" + "".join("  " * n + "-\n" for n in range(1, 200)), 66),
    ],
    ids=["lists", "mappings", "block style"],
)
def test_deep_nesting_is_refused_at_its_line(text: str, line: int) -> None:
    assert _problems(text) == [("", line, DEPTH_MESSAGE)]


def test_deep_nesting_from_a_page_or_json_is_a_problem_too() -> None:
    nested: list[Any] = []
    for _level in range(20_000):
        nested = [nested]
    definition = {**load(MINIMAL), "summary": {"fr": nested}}
    [problem] = check(definition)
    assert problem.message == DEPTH_MESSAGE
    assert problem.path.startswith("summary.fr[0][0]")


def test_a_value_used_twice_is_written_twice_not_aliased() -> None:
    title = {"fr": "Demande de test"}
    definition = {**load(MINIMAL), "title": title, "summary": title}
    text = dump(definition)
    assert "&" not in text and "*" not in text
    assert load(text) == definition


def test_the_line_of_every_path_is_still_known() -> None:
    _data, lines = parse(MINIMAL)
    assert lines["form[0].label.fr"] == 8 and lines["title.en"] == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text", [LAUGHS, "a: &x [*x]\n", DEEP], ids=["laughs", "recursive", "deep"]
)
@pytest.mark.parametrize("intent", ["validate", "save"])
def test_the_yaml_page_refuses_aliases_and_depth_with_the_text_kept(
    designer: Any, text: str, intent: str
) -> None:
    before = _state()
    response = designer.post(f"{B}/yaml/", {"text": text, "intent": intent})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ligne 1" in html
    assert (ALIASES_MESSAGE in html.replace("&amp;", "&")) or (
        DEPTH_MESSAGE in html.replace("&#x27;", "'")
    )
    assert text.splitlines()[0][:40] in html.replace("&amp;", "&")
    assert _state() == before


# --- Fees and the procedure's columns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fees", "path", "message"),
    [
        ("{amount: " + "9" * 50 + "}", "fees.amount", "au plus 1000000000"),
        ("{amount: 1000000001}", "fees.amount", "au plus 1000000000"),
        ("{amount: -1}", "fees.amount", "au moins 0"),
        ("{amount: 5, add: [{amount: " + "9" * 30 + "}]}", "fees.add[0].amount", "au plus"),
        ("{amount: 5, add: [{amount: -" + "9" * 30 + "}]}", "fees.add[0].amount", "au moins"),
    ],
)
def test_fees_are_bounded_at_their_line(fees: str, path: str, message: str) -> None:
    [(found_path, line, found)] = _problems(MINIMAL + f"fees: {fees}\n")
    assert (found_path, line) == (path, 9)
    assert found.startswith(message)


def test_a_limit_on_a_length_is_worded_with_its_count() -> None:
    too_long = MINIMAL.replace("slug: demande-test", "slug: " + "a" * 81)
    assert _problems(too_long) == [("slug", 2, "au plus 80 caractères")]


def test_a_fee_of_a_billion_is_accepted() -> None:
    assert load(MINIMAL + "fees: {amount: 1000000000}\n")["fees"]["amount"] == 10**9


@pytest.mark.django_db
def test_a_huge_fee_typed_in_yaml_is_refused_on_the_page(designer: Any) -> None:
    before = _state()
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    definition["fees"] = {**(definition.get("fees") or {}), "amount": 5}
    text = dump(definition).replace("amount: 5", "amount: " + "9" * 50)
    response = designer.post(f"{B}/yaml/", {"text": text, "intent": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "fees.amount" in html and "au plus 1000000000" in html
    assert "9" * 50 in html
    assert _state() == before


def _column_refused(self: Procedure, *args: Any, **kwargs: Any) -> None:
    # What a database's integer range said of a value no check bounded, before the checks did.
    raise ValidationError({"fee_amount": ["Assurez-vous que cette valeur est inférieure."]})


@pytest.mark.django_db
def test_a_column_the_checks_missed_is_a_problem_on_its_path(
    designer: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = _state()
    monkeypatch.setattr(Procedure, "clean_fields", _column_refused)
    definition = export_definition(Procedure.objects.get(slug=BIRTH))
    definition["title"] = {"fr": "Nouveau titre"}
    text = dump(definition)
    response = designer.post(f"{B}/yaml/", {"text": text, "intent": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "fees.amount" in html and "Assurez-vous que cette valeur est inférieure." in html
    assert _state() == before
    source = tmp_path / "birth.yaml"
    source.write_text(text, encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"\u00a0: non importée\.$"):
        call_command("procedure", "import", str(source), stdout=io.StringIO(), stderr=err)
    assert f"{source}:" in err.getvalue() and ": fees.amount: Assurez-vous" in err.getvalue()
    assert _state() == before


# --- Field patterns ----------------------------------------------------------------------------

SLOW = "Cette réponse n'a pas pu être vérifiée par rapport au format attendu."


def _text_field(pattern: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "name": "code", "label": "Code", "pattern": pattern, **extra}]


@pytest.mark.parametrize(
    ("pattern", "answer"),
    [
        # Exponential on Python's re: about a second at 24 characters, four times more per two.
        (r"(a+)+", "a" * 40 + "!"),
        (r"(a|aa)+", "a" * 60 + "!"),
        (r"(a|a)+$", "a" * 60 + "!"),
        (r"(\w+\s?)+\d", "ab " * 80 + "!"),
    ],
)
def test_a_catastrophic_pattern_is_cut_short_with_an_error_on_its_field(
    pattern: str, answer: str
) -> None:
    started = time.perf_counter()
    checked = check_answers(_text_field(pattern), {"code": answer}, complete=False)
    # Each match has 0.05 s of CPU; the bound is generous for a machine under load.
    assert time.perf_counter() - started < 5
    assert set(checked.errors) == {"code"}
    [message] = checked.errors["code"]
    assert message.startswith(SLOW) or message == "Le format n'est pas valide."


def test_a_pattern_too_slow_on_a_phone_is_an_error_on_the_phone() -> None:
    form = [{"type": "phone", "name": "phone", "label": "Tél.", "pattern": r"(\d|\d\d)+"}]
    started = time.perf_counter()
    checked = check_answers(form, {"phone": "1" * 60 + "x"}, complete=False)
    assert time.perf_counter() - started < 5
    assert checked.errors["phone"][0].startswith(SLOW)


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"[A-Z]{2}-\d{4}", "DK-2024", "dk-2024"),
        (r"\+?\d{8,15}", "+221771234567", "77-123"),
        (r"(\d{2} ){4}\d{2}", "77 12 34 56 78", "77 12 34 5678"),
        (r"[\p{L} '-]+", "Ndèye Guèye", "Ndèye 2"),
    ],
)
def test_ordinary_patterns_still_accept_and_refuse(pattern: str, good: str, bad: str) -> None:
    form = _text_field(pattern, pattern_message={"fr": "Format attendu."})
    assert check_answers(form, {"code": good}, complete=False).errors == {}
    refused = check_answers(form, {"code": bad}, complete=False)
    assert refused.errors == {"code": ["Format attendu."]}


@pytest.mark.parametrize("pattern", ["([a-", "(?<name", "a{2,1}", "\\"])
def test_a_pattern_that_does_not_compile_is_refused_at_its_line(pattern: str) -> None:
    text = MINIMAL + f"    pattern: '{pattern}'\n"
    [(path, line, message)] = _problems(text)
    assert (path, line) == ("form[0].pattern", 9)
    assert message.startswith("expression régulière non valide\u00a0: ")


@pytest.mark.django_db
def test_an_applicant_meets_a_slow_pattern_as_an_error_on_the_field(world: dict[str, User]) -> None:
    definition = load(MINIMAL)
    definition["organisation"] = "commune-dakar-plateau"
    definition["form"][0]["pattern"] = r"(a|aa)+"
    do_import_definition(definition, publish=True)
    citizen = ApiClient(world["citizen_a"])
    started = time.perf_counter()
    response = citizen.post(
        "dossiers", {"procedure": "demande-test", "data": {"motif": "a" * 200 + "!"}}
    )
    assert time.perf_counter() - started < 10
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"]["motif"][0].startswith(SLOW)
    fine = citizen.post("dossiers", {"procedure": "demande-test", "data": {"motif": "aaaa"}})
    assert fine.status_code == 201, fine.content


# --- The admin site ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_procedures_are_read_only_in_the_admin(world: dict[str, User]) -> None:
    admin = client_for(world["admin"])
    procedure = Procedure.objects.get(slug=BIRTH)
    before = _state()
    page = f"/admin/catalog/procedure/{procedure.pk}/change/"
    assert admin.get("/admin/catalog/procedure/").status_code == 200
    shown = admin.get(page)
    assert shown.status_code == 200
    assert BIRTH in shown.content.decode()
    assert 'name="_save"' not in shown.content.decode()
    changed = admin.post(page, {"slug": BIRTH, "fee_amount": "1", "form": "[]", "title": "{}"})
    assert changed.status_code == 403
    assert admin.get("/admin/catalog/procedure/add/").status_code == 403
    assert admin.post(f"/admin/catalog/procedure/{procedure.pk}/delete/").status_code == 403
    assert _state() == before
