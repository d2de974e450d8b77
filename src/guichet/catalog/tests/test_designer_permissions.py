"""Who may use each designer page and action: the designers of the procedure's organisation
only. A designer of another organisation gets 404 (the procedure might as well not exist), an
agent or a citizen who designs nothing gets 403, an anonymous visitor is sent to sign in. Every
refusal leaves the procedures, the dossiers and the transparency log as they were; every
allowed write really changes them."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from guichet.audit.models import AuditEvent
from guichet.catalog.actions import do_create_procedure, do_save_designed_definition
from guichet.catalog.definition import dump
from guichet.catalog.models import Procedure
from guichet.catalog.service import export_definition
from guichet.catalog.tests.test_designer_support import client_for, people  # noqa: F401
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import strict_html  # noqa: F401
from guichet.identity.models import Organisation, User
from guichet.testing import BIRTH

pytestmark = pytest.mark.django_db

DRAFT = "essai-designer"
REFUSERS = ("anonymous", "citizen_a", "instructor", "supervisor", "admin", "other_designer")
LOGIN = "login"


def _draft_procedure(designer: User) -> Procedure:
    organisation = Organisation.objects.get(slug="commune-dakar-plateau")
    procedure = do_create_procedure(designer, organisation, DRAFT, {"fr": "Essai"})
    definition = export_definition(procedure)
    definition["form"] += [
        {"type": "text", "name": "full_name", "label": {"fr": "Nom"}},
        {"type": "text", "name": "note", "label": {"fr": "Note"}},
    ]
    return do_save_designed_definition(designer, procedure, definition).procedure


def _yaml(slug: str) -> dict[str, str]:
    definition = export_definition(Procedure.objects.get(slug=slug))
    definition["title"] = {"fr": "Titre changé en YAML"}
    return {"text": dump(definition), "intent": "save"}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: str
    # What the commune's designer gets; the other designer gets `other` (404 on procedures).
    allowed: int
    changes: bool = False
    other: int = 404
    data: Callable[[], dict[str, Any]] = dict


D = f"/agent/designer/{DRAFT}"
B = f"/agent/designer/{BIRTH}"
CASES = [
    Case("home", "get", "/agent/designer/", 200, other=200),
    Case("new page", "get", "/agent/designer/new/", 200, other=200),
    Case(
        "create",
        "post",
        "/agent/designer/new/",
        302,
        changes=True,
        other=400,  # the commune is not among their organisations: a field error
        data=lambda: {
            "organisation": "commune-dakar-plateau",
            "slug": "nouvelle-procedure",
            "title_fr": "Nouvelle",
        },
    ),
    Case("overview", "get", f"{D}/", 200),
    Case(
        "metadata",
        "post",
        f"{D}/",
        302,
        changes=True,
        data=lambda: {
            "title_fr": "Essai renommé",
            "applicant_kinds": ["person"],
            "fee_amount": "500",
            "deadline_days": "20",
            "retention_days": "1825",
        },
    ),
    Case("fields", "get", f"{D}/fields/", 200),
    Case("field new page", "get", f"{D}/fields/new/", 200),
    Case(
        "field add",
        "post",
        f"{D}/fields/new/",
        302,
        changes=True,
        data=lambda: {"type": "email", "name": "email", "label_fr": "Courriel"},
    ),
    Case("field page", "get", f"{D}/fields/1/", 200),
    Case(
        "field edit",
        "post",
        f"{D}/fields/1/",
        302,
        changes=True,
        data=lambda: {"type": "text", "name": "full_name", "label_fr": "Nom", "required": "on"},
    ),
    Case(
        "field move", "post", f"{D}/fields/1/move/", 302, True, data=lambda: {"direction": "down"}
    ),
    Case("field delete", "post", f"{D}/fields/2/delete/", 302, changes=True),
    Case("workflow page", "get", f"{D}/workflow/", 200),
    Case(
        "workflow",
        "post",
        f"{D}/workflow/",
        302,
        changes=True,
        data=lambda: {"approval": "two_level"},
    ),
    Case("yaml page", "get", f"{D}/yaml/", 200),
    Case("yaml save", "post", f"{D}/yaml/", 302, changes=True, data=lambda: _yaml(DRAFT)),
    Case("preview", "get", f"{D}/preview/", 200),
    Case("preview post", "post", f"{D}/preview/", 200, data=lambda: {"full_name": "Awa"}),
    Case("test dossier", "post", f"{D}/test/", 302, changes=True),
    Case("purge", "post", f"{D}/test/purge/", 302, changes=True),
    Case("publish", "post", f"{D}/publish/", 302, changes=True),
    Case("unpublish", "post", f"{B}/unpublish/", 302, changes=True),
    Case("close", "post", f"{B}/close/", 302, changes=True, data=lambda: {"replacement": ""}),
]


def snapshot() -> list[Any]:
    procedures = [
        (p.slug, p.status, p.version, p.title, p.form, p.workflow, p.replaced_by_id, p.fee_amount)
        for p in Procedure.objects.order_by("slug")
    ]
    return [procedures, Dossier.objects.count(), AuditEvent.objects.count()]


def _expected(persona: str, case: Case) -> int | str:
    if persona == "anonymous":
        return LOGIN
    if persona == "other_designer":
        return case.other
    return 403


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_only_the_organisations_designers_reach_a_designer_page(
    people: dict[str, User],  # noqa: F811
    case: Case,
) -> None:
    _draft_procedure(people["designer"])
    for persona in REFUSERS:
        before = snapshot()
        client = client_for(None if persona == "anonymous" else people[persona])
        response = getattr(client, case.method)(case.url, case.data())
        expected = _expected(persona, case)
        if expected == LOGIN:
            assert response.status_code == 302, persona
            assert response["Location"].startswith("/accounts/login/"), persona
        else:
            assert response.status_code == expected, persona
        assert snapshot() == before, f"{persona} changed something"
    before = snapshot()
    designer = client_for(people["designer"])
    response = getattr(designer, case.method)(case.url, case.data())
    html = response.content.decode()
    assert response.status_code == case.allowed, html[html.find("<main") :][:3000]
    assert (snapshot() != before) == case.changes
