"""Random walks over generated workflows: whatever the workflow, a dossier never leaves its
declared states, moves only along declared transitions, and only when the persona holds a role
the transition names (the others get 403, or 404 when they may not know the dossier)."""

from itertools import pairwise
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.catalog.models import Procedure
from guichet.catalog.workflow_def import validate_workflow
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier
from guichet.errors import ActionError, Conflict
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, pdf_file

pytestmark = pytest.mark.django_db

PERSONAS = {
    "citizen_a": {"applicant"},
    "instructor": {"instructor"},
    "supervisor": {"supervisor"},
    "other_agent": set(),
    "citizen_b": set(),
}
ROLE_SETS = st.sets(st.sampled_from(["applicant", "instructor", "supervisor"]), min_size=1)


def _label(text: str) -> dict[str, str]:
    return {"fr": text}


@st.composite
def workflows(draw: Any) -> dict[str, Any]:
    """A valid workflow: draft, a chain of open steps, accepted and rejected finals, the
    submission by the applicant, plus random extra transitions between open states."""
    steps = [f"s{i}" for i in range(1, draw(st.integers(1, 4)) + 1)]
    states: dict[str, Any] = {
        "draft": {"kind": "open", "label": _label("Brouillon"), "editable": True}
    }
    for name in steps:
        states[name] = {"kind": "open", "label": _label(name)}
    states["ok"] = {"kind": "final", "outcome": "accepted", "label": _label("Accepté")}
    states["no"] = {"kind": "final", "outcome": "rejected", "label": _label("Refusé")}
    transitions: list[dict[str, Any]] = [
        {
            "name": "submit",
            "from": "draft",
            "to": steps[0],
            "by": ["applicant"],
            "label": _label("Déposer"),
        }
    ]
    chain = [*steps, "ok"]
    for index, (source, target) in enumerate(pairwise(chain)):
        transitions.append(
            {
                "name": f"c{index}",
                "from": source,
                "to": target,
                "by": sorted(draw(ROLE_SETS)),
                "label": _label(f"c{index}"),
            }
        )
    transitions.append(
        {
            "name": "refuse",
            "from": steps,
            "to": "no",
            "by": sorted(draw(ROLE_SETS)),
            "reason_required": True,
            "label": _label("Refuser"),
        }
    )
    for index in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from([*steps, "ok", "no"]))
        transitions.append(
            {
                "name": f"x{index}",
                "from": sorted(draw(st.sets(st.sampled_from(steps), min_size=1))),
                "to": target,
                "by": sorted(draw(ROLE_SETS)),
                "reason_required": target == "no",
                "label": _label(f"x{index}"),
            }
        )
    workflow = {"states": states, "transitions": transitions}
    assert validate_workflow(workflow) == []
    return workflow


def _sees(persona: str, state: str) -> bool:
    return persona == "citizen_a" or (persona in ("instructor", "supervisor") and state != "draft")


def _outcome(user: User, dossier_id: Any, action: str) -> str:
    try:
        actions.do_transition(user, dossier_id, action, "Motif.")
    except Http404:
        return "not_found"
    except PermissionDenied:
        return "forbidden"
    except Conflict:
        return "conflict"
    except ActionError:
        return "invalid"
    return "ok"


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workflow=workflows(), data=st.data())
def test_random_walks_stay_in_declared_states_and_respect_roles(
    world: dict[str, User], workflow: dict[str, Any], data: Any
) -> None:
    """Each step's result is the one the workflow predicts, and the state is always declared."""
    procedure = Procedure.objects.get(slug=BIRTH)
    procedure.workflow = workflow
    procedure.save()
    awa = world["citizen_a"]
    dossier = actions.do_create_draft(awa, procedure, BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    by_name = {t["name"]: t for t in workflow["transitions"]}
    state = "draft"
    for _ in range(data.draw(st.integers(1, 12))):
        persona = data.draw(st.sampled_from(sorted(PERSONAS)))
        name = data.draw(st.sampled_from(sorted(by_name)))
        transition = by_name[name]
        sources = (
            [transition["from"]] if isinstance(transition["from"], str) else transition["from"]
        )
        if not _sees(persona, state):
            expected = "not_found"
        elif not PERSONAS[persona] & set(transition["by"]):
            expected = "forbidden"
        elif state not in sources:
            expected = "conflict"
        else:
            expected = "ok"
        assert _outcome(world[persona], dossier.pk, name) == expected, (persona, name, state)
        if expected == "ok":
            state = transition["to"]
        current = Dossier.objects.get(pk=dossier.pk)
        assert current.state == state
        assert current.state in workflow["states"]
        assert bool(current.outcome) == (workflow["states"][state]["kind"] == "final")
