"""Random sequences of (persona, action) on one dossier, checked against a model built from
workflow.TRANSITIONS: the outcome of each call is the one the table and the roles predict, the
state only moves along declared transitions, a dossier is decided at most once, and a final
state never changes again.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Dossier, DossierEvent
from guichet.dossiers.workflow import (
    APPLICANT,
    DECISION_STATES,
    FINAL_STATES,
    TRANSITIONS,
    Action,
    State,
    allowed_target,
)
from guichet.errors import ActionError, Conflict
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, pdf_file

pytestmark = pytest.mark.django_db

PERSONAS = ["citizen_a", "citizen_b", "instructor", "supervisor", "other_agent", "admin"]
AGENTS_OF_THE_COMMUNE = {"instructor", "supervisor"}
ACTIONS = [*Action.values, "fly"]  # plus one the workflow does not know


@dataclass(frozen=True)
class Step:
    persona: str
    action: str
    comment: str
    assignee: str


comments = st.sampled_from(["", "  ", "Motif."])
assignees = st.sampled_from(["instructor", "supervisor", "other_agent", "citizen_a"])
anything = st.builds(Step, st.sampled_from(PERSONAS), st.sampled_from(ACTIONS), comments, assignees)


def plausible(state: str) -> st.SearchStrategy[Step]:
    """An action the table allows from `state`, by someone whose part it is: without these,
    random sequences rarely get past the draft and never reach a decision."""
    possible = sorted(a for a, t in TRANSITIONS.items() if state in t.sources)
    if not possible:
        return anything
    # Withdrawing ends everything: keep it rarer than the steps that move a dossier forward.
    weighted = [a for a in possible if a != Action.WITHDRAW] * 3 + [Action.WITHDRAW]
    return st.sampled_from(weighted).flatmap(
        lambda action: st.builds(
            Step,
            st.just("citizen_a")
            if TRANSITIONS[action].by == APPLICANT
            else st.sampled_from(sorted(AGENTS_OF_THE_COMMUNE)),
            st.just(str(action)),
            st.sampled_from(["Motif.", "Motif.", "", "  "]),
            assignees,
        )
    )


@dataclass
class Model:
    """What the dossier should look like, kept by the test alone."""

    state: str = State.DRAFT
    assigned_to: str | None = None

    def expected(self, step: Step) -> str:
        """'ok', or the error this step must raise, in the order do_transition checks."""
        sees = step.persona == "citizen_a" or (
            step.persona in AGENTS_OF_THE_COMMUNE and self.state != State.DRAFT
        )
        if not sees:
            return "not_found"  # whatever the action: the dossier's existence is not told
        if step.action not in Action.values:
            return "invalid"
        transition = TRANSITIONS[Action(step.action)]
        if transition.by == APPLICANT:
            entitled = step.persona == "citizen_a"
        else:
            entitled = step.persona in AGENTS_OF_THE_COMMUNE and (
                step.action != Action.ASSIGN or step.persona == "supervisor"
            )
        already_theirs = step.action == Action.TAKE and self.assigned_to == step.persona
        if not entitled:
            return "forbidden"
        if self.state not in transition.sources or already_theirs:
            return "conflict"
        if transition.comment_required and not step.comment.strip():
            return "invalid"
        if step.action == Action.ASSIGN and step.assignee not in AGENTS_OF_THE_COMMUNE:
            return "invalid"
        return "ok"

    def apply(self, step: Step) -> None:
        self.state = TRANSITIONS[Action(step.action)].target
        if step.action == Action.TAKE:
            self.assigned_to = step.persona
        elif step.action == Action.ASSIGN:
            self.assigned_to = step.assignee


def _outcome(world: dict[str, User], dossier_id: Any, step: Step) -> str:
    try:
        actions.do_transition(
            world[step.persona],
            dossier_id,
            step.action,
            step.comment,
            world[step.assignee].pk if step.action == Action.ASSIGN else None,
        )
    except Conflict:
        return "conflict"
    except ActionError:
        return "invalid"
    except PermissionDenied:
        return "forbidden"
    except Http404:
        return "not_found"
    return "ok"


def _new_dossier(world: dict[str, User]) -> Dossier:
    awa = world["citizen_a"]
    dossier = actions.do_create_draft(awa, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    return dossier


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), length=st.integers(min_value=0, max_value=16))
def test_random_sequences_follow_the_transition_table(
    world: dict[str, User], data: st.DataObject, length: int
) -> None:
    # The world is only read; every example gets its own dossier.
    dossier = _new_dossier(world)
    names = {user.pk: name for name, user in world.items()}
    model = Model()
    for _ in range(length):
        step = data.draw(st.one_of(plausible(model.state), plausible(model.state), anything))
        before = Dossier.objects.get(pk=dossier.pk)
        events_before = DossierEvent.objects.filter(dossier=dossier).count()

        outcome = _outcome(world, dossier.pk, step)

        assert outcome == model.expected(step), (step, model)
        after = Dossier.objects.get(pk=dossier.pk)
        new_events = list(DossierEvent.objects.filter(dossier=dossier)[events_before:])
        if outcome == "ok":
            assert allowed_target(before.state, step.action) == after.state
            assert [(e.kind, e.action, e.from_state, e.to_state) for e in new_events] == [
                ("transition", step.action, before.state, after.state)
            ]
            assert new_events[0].actor == world[step.persona]
            model.apply(step)
        else:
            assert (after.state, after.assigned_to_id, after.due_at, after.number) == (
                before.state,
                before.assigned_to_id,
                before.due_at,
                before.number,
            )
            assert new_events == []
        if before.state in FINAL_STATES:
            assert after.state == before.state
        assert after.state == model.state
        assigned = names[after.assigned_to_id] if after.assigned_to_id else None
        assert assigned == model.assigned_to
        decisions = DossierEvent.objects.filter(
            dossier=dossier, kind=DossierEvent.Kind.TRANSITION, to_state__in=DECISION_STATES
        ).count()
        assert decisions <= 1
        assert (after.decided_at is not None) == (after.state in DECISION_STATES)
        event(f"reached {after.state}")
        if after.state != State.WITHDRAWN:  # a withdrawn dossier's clock no longer matters
            assert (after.paused_at is not None) == (after.state == State.CHANGES_REQUESTED)
