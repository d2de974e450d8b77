"""The dossier state machine: which workflow a dossier follows and what it allows.

Each procedure may describe its own workflow (catalog/workflow_def.py gives the format); an
empty description means the platform's default:

draft -> submitted -> in_review -> changes_requested -> (resubmit) in_review
                                 -> accepted | rejected
submitted | in_review | changes_requested -> withdrawn (by the applicant)

The names below (State, Action, TRANSITIONS, ...) are the default workflow's, kept for the code
and tests that speak of it; everything that acts on a dossier asks `workflow_of(dossier)`.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from guichet.catalog.workflow_def import (
    DECISION_OUTCOMES,
    TACIT_DECISION,
    StateDef,
    TransitionDef,
    Workflow,
    default_workflow,
    parse_workflow,
)

if TYPE_CHECKING:
    from guichet.catalog.models import Procedure
    from guichet.dossiers.models import Dossier


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


def _legacy(definition: TransitionDef) -> Transition:
    return Transition(
        Action(definition.name),
        frozenset(State(s) for s in definition.sources),
        State(definition.target),
        APPLICANT if definition.by_applicant else AGENT,
        frozenset(definition.by - {APPLICANT}),
        definition.reason_required,
    )


DEFAULT = default_workflow()
# The default workflow, as the table it used to be.
TRANSITIONS: dict[Action, Transition] = {Action(t.name): _legacy(t) for t in DEFAULT.transitions}
OPEN_STATES = frozenset({State.SUBMITTED, State.IN_REVIEW, State.CHANGES_REQUESTED})
DECISION_STATES = frozenset({State.ACCEPTED, State.REJECTED})
FINAL_STATES = frozenset(State(s) for s in DEFAULT.final_states)
EDITABLE_STATES = frozenset(State(n) for n, s in DEFAULT.states.items() if s.editable)
INSTRUCTORS = frozenset({"instructor", "supervisor"})
# The actor name a tacit decision is recorded under: no person fired it.
SYSTEM_ACTION = TACIT_DECISION
__all__ = ["TACIT_DECISION", "StateDef", "TransitionDef", "Workflow"]


def allowed_target(state: str, action: str) -> State | None:
    """In the default workflow, the state an action leads to from `state`, or None."""
    transition = TRANSITIONS.get(Action(action)) if action in Action.values else None
    if transition is None or state not in transition.sources:
        return None
    return transition.target


# Workflows of earlier versions, by (procedure id, version): a published version's definition
# never changes, so it is read from the database once per process.
_EARLIER: dict[tuple[Any, int], dict[str, Any]] = {}
_EARLIER_MAX = 1024


def _workflow_data(procedure: "Procedure", version: int) -> dict[str, Any]:
    """The workflow section of `version` of `procedure`. The current version's is on the
    procedure row already loaded, so checking a dossier's rights costs no query."""
    from guichet.catalog.service import workflow_for

    if version == procedure.version:
        return dict(procedure.workflow or {})
    key = (procedure.pk, version)
    if key not in _EARLIER:
        if len(_EARLIER) >= _EARLIER_MAX:
            _EARLIER.clear()
        _EARLIER[key] = workflow_for(procedure, version)
    return _EARLIER[key]


def _parsed(procedure: "Procedure", version: int) -> Workflow:
    """`version`'s workflow, remembered on the procedure object: one request asks a dozen
    times (rights, labels, the log), and parse_workflow's cache key is the section's canonical
    JSON, costly to build each time. The memo is keyed by the identity of the section it came
    from, so assigning a new workflow to the object is seen at once."""
    source = procedure.workflow if version == procedure.version else None
    memo: dict[int, tuple[object, Workflow]] = procedure.__dict__.setdefault("_workflows", {})
    held = memo.get(version)
    if held is not None and held[0] is source:
        return held[1]
    workflow = parse_workflow(_workflow_data(procedure, version))
    memo[version] = (source, workflow)
    return workflow


def workflow_of(dossier: "Dossier") -> Workflow:
    """The workflow this dossier follows: its procedure's, for the version it was filed under."""
    return _parsed(dossier.procedure, dossier.procedure_version)


def workflow_of_procedure(procedure: "Procedure | None") -> Workflow:
    """The workflow new dossiers of this procedure follow (its current version's)."""
    if procedure is None:
        return DEFAULT
    return _parsed(procedure, procedure.version)


def state_of(dossier: "Dossier") -> StateDef | None:
    return workflow_of(dossier).state(dossier.state)


def state_label(dossier: "Dossier", state: str | None = None) -> str:
    """A state's label in the reader's language, from the dossier's own workflow."""
    return workflow_of(dossier).label(state or dossier.state)


def is_decision(workflow: Workflow, state: str) -> bool:
    found = workflow.state(state)
    return found is not None and found.outcome in DECISION_OUTCOMES
