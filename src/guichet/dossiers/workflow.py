"""The dossier state machine. Every transition is declared here and nowhere else.

draft -> submitted -> in_review -> changes_requested -> (resubmit) in_review
                                 -> accepted | rejected
submitted | in_review | changes_requested -> withdrawn (by the applicant)
"""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from guichet.identity.models import Role


class State(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    IN_REVIEW = "in_review", _("In review")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Action(models.TextChoices):
    SUBMIT = "submit", _("Submit")
    TAKE = "take", _("Take")
    ASSIGN = "assign", _("Assign")
    REQUEST_CHANGES = "request_changes", _("Request changes")
    RESUBMIT = "resubmit", _("Send back corrected")
    ACCEPT = "accept", _("Accept")
    REJECT = "reject", _("Reject")
    WITHDRAW = "withdraw", _("Withdraw")


APPLICANT = "applicant"
AGENT = "agent"


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[State]
    target: State
    by: str  # APPLICANT or AGENT
    roles: frozenset[str] = frozenset()
    comment_required: bool = False


OPEN_STATES = frozenset({State.SUBMITTED, State.IN_REVIEW, State.CHANGES_REQUESTED})
DECISION_STATES = frozenset({State.ACCEPTED, State.REJECTED})
FINAL_STATES = frozenset({State.ACCEPTED, State.REJECTED, State.WITHDRAWN})
EDITABLE_STATES = frozenset({State.DRAFT, State.CHANGES_REQUESTED})
INSTRUCTORS = frozenset({Role.INSTRUCTOR, Role.SUPERVISOR})

TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(Action.SUBMIT, frozenset({State.DRAFT}), State.SUBMITTED, APPLICANT),
        Transition(
            Action.RESUBMIT, frozenset({State.CHANGES_REQUESTED}), State.IN_REVIEW, APPLICANT
        ),
        Transition(Action.WITHDRAW, OPEN_STATES, State.WITHDRAWN, APPLICANT),
        Transition(
            Action.TAKE,
            frozenset({State.SUBMITTED, State.IN_REVIEW}),
            State.IN_REVIEW,
            AGENT,
            INSTRUCTORS,
        ),
        Transition(
            Action.ASSIGN,
            frozenset({State.SUBMITTED, State.IN_REVIEW}),
            State.IN_REVIEW,
            AGENT,
            frozenset({Role.SUPERVISOR}),
        ),
        Transition(
            Action.REQUEST_CHANGES,
            frozenset({State.IN_REVIEW}),
            State.CHANGES_REQUESTED,
            AGENT,
            INSTRUCTORS,
            comment_required=True,
        ),
        Transition(Action.ACCEPT, frozenset({State.IN_REVIEW}), State.ACCEPTED, AGENT, INSTRUCTORS),
        Transition(
            Action.REJECT,
            frozenset({State.IN_REVIEW}),
            State.REJECTED,
            AGENT,
            INSTRUCTORS,
            comment_required=True,
        ),
    )
}


def allowed_target(state: str, action: str) -> State | None:
    """The state an action leads to from `state`, or None when the action is not allowed there."""
    transition = TRANSITIONS.get(Action(action)) if action in Action.values else None
    if transition is None or state not in transition.sources:
        return None
    return transition.target
