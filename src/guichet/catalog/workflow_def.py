"""The workflow section of a procedure definition: its format, its checks and its default.

A workflow names the states a dossier goes through and the transitions between them, who may
fire each one, how long each step may take, where new dossiers go and what silence means. It is
plain data (YAML or JSON); `validate_workflow` says what is wrong with one, each message with its
path inside the section ("transitions[2].by[0]"), and `parse_workflow` turns a valid one into the
frozen objects the dossier engine (dossiers/workflow.py) reads. The JSON Schema beside this file
(schema/workflow.schema.json) describes the same shape for editors and third parties; the rules
a schema cannot say (reachability, references between states, reasons on rejection) live here.

An empty section means DEFAULT_WORKFLOW, the platform's own workflow.
"""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext as _

from guichet.catalog.text import translated

APPLICANT = "applicant"
# The organisation roles a workflow may name (identity.models.Role), spelled out here so the
# format does not move when identity adds a role nobody meant to use in workflows.
AGENT_ROLES = ("instructor", "supervisor")
ROLES = (APPLICANT, *AGENT_ROLES)
# Separation of duties: the roles that write a procedure's rules may not act on its dossiers.
# Whoever a workflow names sees the dossiers it lets them act on (answers, documents, identity),
# and a designer saves and publishes a workflow alone: naming their own role in it would be
# granting themselves access to citizens' personal data, with nobody else involved. Sight of
# dossiers comes only from an instructor or supervisor membership, which a platform
# administrator grants in the admin site and the transparency log records (a designer who also
# instructs holds both memberships). Workflows saved before this rule may still name these
# roles: they are read (parse_workflow), but give those roles nothing (dossiers/access.py), and
# saving or publishing such a procedure again is refused until the workflow is corrected.
DESIGN_ROLES = ("designer", "org_admin")
OPEN = "open"
FINAL = "final"
OUTCOMES = ("accepted", "rejected", "withdrawn", "closed")
# A decision document (certificate or refusal letter) is issued on these outcomes.
DECISION_OUTCOMES = ("accepted", "rejected")
ASSIGN_SELF = "self"
ASSIGN_CHOSEN = "chosen"
# The name under which the scheduled task records a tacit decision; no transition may take it.
TACIT_DECISION = "tacit_decision"
LANGUAGES = ("fr", "en", "wo")
# State names fit the dossier's state column, transition names the history's action column.
STATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
TRANSITION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
ANSWER_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
ORG_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")
MAX_DAYS = 3650

# Every workflow starts with the applicant's draft: filing, draft migration and retention rely on
# that name, so it is fixed rather than declared.
INITIAL = "draft"
TOP_KEYS = {
    "states",
    "transitions",
    "statutory_deadline_days",
    "escalation",
    "tacit_decision",
    "routing",
}
STATE_KEYS = {"kind", "outcome", "label", "deadline_days", "actors", "editable", "pauses_deadline"}
TRANSITION_KEYS = {"name", "from", "to", "by", "reason_required", "label", "assign"}

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class StateDef:
    name: str
    kind: str
    label: Mapping[str, str]
    outcome: str = ""
    # Days a dossier may stay in this state before the step is overdue; None: no step deadline.
    deadline_days: int | None = None
    # Roles who act in this state: the queue's "awaiting a decision" filter reads it.
    actors: frozenset[str] = frozenset()
    # The applicant may change answers and documents while the dossier is here.
    editable: bool = False
    # The dossier waits on the applicant here: deadlines stop running until it leaves.
    pauses_deadline: bool = False

    @property
    def is_final(self) -> bool:
        return self.kind == FINAL

    @property
    def display(self) -> str:
        return translated(dict(self.label)) or self.name


@dataclass(frozen=True)
class TransitionDef:
    name: str
    sources: frozenset[str]
    target: str
    by: frozenset[str]
    label: Mapping[str, str]
    reason_required: bool = False
    # "self": the agent firing it takes the dossier; "chosen": they hand it to a colleague.
    assign: str = ""

    @property
    def by_applicant(self) -> bool:
        return APPLICANT in self.by

    @property
    def display(self) -> str:
        return translated(dict(self.label)) or self.name


@dataclass(frozen=True)
class TacitDecision:
    after_days: int
    to: str


@dataclass(frozen=True)
class Routing:
    answer: str
    teams: Mapping[str, str]
    default: str = ""

    def team_for(self, answers: Mapping[str, Any]) -> str:
        """The slug of the team the answer routes to, else the default ("" = no team)."""
        value: Any = answers
        for part in self.answer.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return self.teams.get(str(value), self.default)
        return self.default


@dataclass(frozen=True)
class Workflow:
    initial: str
    states: Mapping[str, StateDef]
    transitions: tuple[TransitionDef, ...]
    statutory_deadline_days: int | None = None
    escalation_roles: frozenset[str] = frozenset({"supervisor"})
    tacit: TacitDecision | None = None
    routing: Routing | None = None
    _by_name: Mapping[str, TransitionDef] = field(default_factory=dict, compare=False)

    def transition(self, name: str) -> TransitionDef | None:
        return self._by_name.get(name)

    def transitions_from(self, state: str) -> Iterator[TransitionDef]:
        return (t for t in self.transitions if state in t.sources)

    def state(self, name: str) -> StateDef | None:
        return self.states.get(name)

    def label(self, state: str) -> str:
        found = self.states.get(state)
        return found.display if found else state

    @property
    def agent_roles(self) -> frozenset[str]:
        """The organisation roles some transition is given to."""
        return frozenset(role for t in self.transitions for role in t.by if role != APPLICANT)

    @property
    def open_states(self) -> frozenset[str]:
        return frozenset(n for n, s in self.states.items() if not s.is_final)

    @property
    def final_states(self) -> frozenset[str]:
        return frozenset(n for n, s in self.states.items() if s.is_final)


class InvalidWorkflow(ValueError):
    def __init__(self, errors: Errors) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


def _label(fr: str, en: str, wo: str = "") -> dict[str, str]:
    return {"fr": fr, "en": en, **({"wo": wo} if wo else {})}


_WITH_APPLICANT = ["submitted", "in_review", "changes_requested"]
_AGENTS = ["instructor", "supervisor"]

DEFAULT_WORKFLOW: dict[str, Any] = {
    "states": {
        "draft": {"kind": OPEN, "label": _label("Brouillon", "Draft"), "editable": True},
        "submitted": {
            "kind": OPEN,
            "label": _label("Déposée", "Submitted"),
            "actors": _AGENTS,
        },
        "in_review": {
            "kind": OPEN,
            "label": _label("En cours d'instruction", "In review"),
            "actors": _AGENTS,
        },
        "changes_requested": {
            "kind": OPEN,
            "label": _label("Corrections demandées", "Changes requested"),
            "actors": [APPLICANT],
            "editable": True,
            "pauses_deadline": True,
        },
        "accepted": {"kind": FINAL, "outcome": "accepted", "label": _label("Acceptée", "Accepted")},
        "rejected": {"kind": FINAL, "outcome": "rejected", "label": _label("Refusée", "Rejected")},
        "withdrawn": {
            "kind": FINAL,
            "outcome": "withdrawn",
            "label": _label("Retirée", "Withdrawn"),
        },
    },
    "transitions": [
        {
            "name": "submit",
            "from": "draft",
            "to": "submitted",
            "by": [APPLICANT],
            "label": _label("Déposer", "Submit"),
        },
        {
            "name": "take",
            "from": ["submitted", "in_review"],
            "to": "in_review",
            "by": _AGENTS,
            "assign": ASSIGN_SELF,
            "label": _label("Prendre en charge", "Take"),
        },
        {
            "name": "assign",
            "from": ["submitted", "in_review"],
            "to": "in_review",
            "by": ["supervisor"],
            "assign": ASSIGN_CHOSEN,
            "label": _label("Confier", "Assign"),
        },
        {
            "name": "request_changes",
            "from": "in_review",
            "to": "changes_requested",
            "by": _AGENTS,
            "reason_required": True,
            "label": _label("Demander des corrections", "Request changes"),
        },
        {
            "name": "resubmit",
            "from": "changes_requested",
            "to": "in_review",
            "by": [APPLICANT],
            "label": _label("Renvoyer la demande corrigée", "Send back corrected"),
        },
        {
            "name": "accept",
            "from": "in_review",
            "to": "accepted",
            "by": _AGENTS,
            "label": _label("Accepter", "Accept"),
        },
        {
            "name": "reject",
            "from": "in_review",
            "to": "rejected",
            "by": _AGENTS,
            "reason_required": True,
            "label": _label("Refuser", "Reject"),
        },
        {
            "name": "withdraw",
            "from": _WITH_APPLICANT,
            "to": "withdrawn",
            "by": [APPLICANT],
            "label": _label("Retirer", "Withdraw"),
        },
    ],
}


# --- Validation ---------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_days(value: Any, path: str, errors: Errors) -> None:
    if not _is_int(value) or not 1 <= value <= MAX_DAYS:
        errors.append((path, _("Give a whole number of days from 1 to %d.") % MAX_DAYS))


def _check_label(value: Any, path: str, errors: Errors, *, required: bool) -> None:
    if value is None:
        if required:
            errors.append((path, _("A label is required, in French at least.")))
        return
    if not isinstance(value, dict):
        errors.append((path, _("Give the label as {fr: ..., en: ..., wo: ...}.")))
        return
    for language, text in value.items():
        if language not in LANGUAGES:
            errors.append((f"{path}.{language}", _("Unknown language: use fr, en or wo.")))
        elif not isinstance(text, str) or not text.strip() or len(text) > 200:
            errors.append((f"{path}.{language}", _("Give a text of at most 200 characters.")))
    if not isinstance(value.get("fr"), str) or not value.get("fr", "").strip():
        errors.append((f"{path}.fr", _("The French label is required: it is the fallback.")))


def _check_unknown_keys(data: dict[str, Any], allowed: set[str], path: str, errors: Errors) -> None:
    for key in sorted(set(data) - allowed, key=str):
        errors.append((f"{path}{key}", _("Unknown key.")))


def design_role_message() -> str:
    return _(
        "Designers and organisation administrators cannot act on dossiers: the role that writes "
        "a procedure's rules may not give itself access to applicants' data. Name instructor or "
        "supervisor; an agent who must instruct is given that role by a platform administrator."
    )


def design_role_problems(data: object) -> Errors:
    """Where a workflow section names a design role (designer, org_admin): in a transition's
    `by`, a state's `actors` or the escalation's `notify`. [] for anything else, however wrong:
    the other checks say what else is wrong."""
    if not isinstance(data, dict):
        return []
    places: list[tuple[str, Any]] = []
    states = data.get("states")
    if isinstance(states, dict):
        places += [
            (f"states.{name}.actors", spec.get("actors"))
            for name, spec in states.items()
            if isinstance(spec, dict)
        ]
    transitions = data.get("transitions")
    if isinstance(transitions, list):
        places += [
            (f"transitions[{index}].by", spec.get("by"))
            for index, spec in enumerate(transitions)
            if isinstance(spec, dict)
        ]
    escalation = data.get("escalation")
    if isinstance(escalation, dict):
        places.append(("escalation.notify", escalation.get("notify")))
    return [
        (f"{path}[{index}]", design_role_message())
        for path, roles in places
        if isinstance(roles, list)
        for index, role in enumerate(roles)
        if role in DESIGN_ROLES
    ]


def _role_list(value: Any, path: str, errors: Errors, *, required: bool) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        errors.append((path, _("Give a list of roles among: %s.") % ", ".join(ROLES)))
        return []
    roles: list[str] = []
    for index, role in enumerate(value):
        if role in DESIGN_ROLES:
            # validate_workflow refuses it with its reason (design_role_problems); a workflow
            # stored before that rule is still read, and the role grants nothing there.
            roles.append(role)
        elif role not in ROLES:
            errors.append(
                (f"{path}[{index}]", _("Unknown role: use one of %s.") % ", ".join(ROLES))
            )
        else:
            roles.append(role)
    return roles


def _check_state(name: Any, spec: Any, errors: Errors) -> None:
    path = f"states.{name}"
    if not isinstance(name, str) or not STATE_NAME.match(name):
        errors.append((path, _("State names are lower case letters, digits and _ (20 at most).")))
    if not isinstance(spec, dict):
        errors.append((path, _("Describe the state as a mapping (kind, label, ...).")))
        return
    _check_unknown_keys(spec, STATE_KEYS, f"{path}.", errors)
    kind = spec.get("kind")
    if kind not in (OPEN, FINAL):
        errors.append((f"{path}.kind", _("The kind is “open” or “final”.")))
    elif kind == FINAL and spec.get("outcome") not in OUTCOMES:
        errors.append(
            (f"{path}.outcome", _("A final state needs an outcome: %s.") % ", ".join(OUTCOMES))
        )
    elif kind == OPEN and "outcome" in spec:
        errors.append((f"{path}.outcome", _("Only a final state has an outcome.")))
    _check_label(spec.get("label"), f"{path}.label", errors, required=True)
    if "deadline_days" in spec:
        _check_days(spec["deadline_days"], f"{path}.deadline_days", errors)
    _role_list(spec.get("actors"), f"{path}.actors", errors, required=False)
    for flag in ("editable", "pauses_deadline"):
        if flag in spec and not isinstance(spec[flag], bool):
            errors.append((f"{path}.{flag}", _("Give true or false.")))
    if kind == FINAL and (spec.get("editable") or spec.get("pauses_deadline")):
        errors.append((path, _("A final state can be neither editable nor paused.")))


def _sources(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else value if isinstance(value, list) else []


def _check_transition(
    index: int, spec: Any, states: dict[str, Any], seen: set[str], errors: Errors
) -> None:
    path = f"transitions[{index}]"
    if not isinstance(spec, dict):
        errors.append((path, _("Describe the transition as a mapping (name, from, to, by).")))
        return
    _check_unknown_keys(spec, TRANSITION_KEYS, f"{path}.", errors)
    name = spec.get("name")
    if not isinstance(name, str) or not TRANSITION_NAME.match(name):
        errors.append(
            (
                f"{path}.name",
                _("Transition names are lower case letters, digits and _ (24 at most)."),
            )
        )
    elif name == TACIT_DECISION:
        errors.append((f"{path}.name", _("This name is kept for tacit decisions.")))
    elif name in seen:
        errors.append((f"{path}.name", _("Another transition already has this name.")))
    else:
        seen.add(name)
    sources = _sources(spec.get("from"))
    if not sources:
        errors.append((f"{path}.from", _("Give the state (or list of states) it starts from.")))
    for position, source in enumerate(sources):
        where = f"{path}.from" if isinstance(spec.get("from"), str) else f"{path}.from[{position}]"
        if source not in states:
            errors.append((where, _("Unknown state: %s.") % source))
        elif isinstance(states[source], dict) and states[source].get("kind") == FINAL:
            errors.append((where, _("No transition may leave a final state (%s).") % source))
    target = spec.get("to")
    if target not in states:
        errors.append((f"{path}.to", _("Unknown state: %s.") % target))
    roles = _role_list(spec.get("by"), f"{path}.by", errors, required=True)
    reason = spec.get("reason_required", False)
    if not isinstance(reason, bool):
        errors.append((f"{path}.reason_required", _("Give true or false.")))
    target_spec = states.get(target) if isinstance(target, str) else None
    if isinstance(target_spec, dict) and target_spec.get("outcome") == "rejected" and not reason:
        errors.append(
            (f"{path}.reason_required", _("A rejection must give its reasons: set it to true."))
        )
    assign = spec.get("assign", "")
    if assign not in ("", ASSIGN_SELF, ASSIGN_CHOSEN):
        errors.append((f"{path}.assign", _("Use “self” or “chosen”.")))
    elif assign and APPLICANT in roles:
        errors.append((f"{path}.assign", _("Only agents take or hand over a dossier.")))
    _check_label(spec.get("label"), f"{path}.label", errors, required=True)


def _check_graph(data: dict[str, Any], initial: str, errors: Errors) -> None:
    """Every state reachable from the initial one; every open state with a way out; the initial
    state left by the applicant (that is the submission)."""
    states: dict[str, Any] = data["states"]
    edges: dict[str, set[str]] = {name: set() for name in states}
    submission = False
    for spec in data.get("transitions") or []:
        if not isinstance(spec, dict) or spec.get("to") not in states:
            continue
        for source in _sources(spec.get("from")):
            if source in edges:
                edges[source].add(spec["to"])
                if source == initial and APPLICANT in (spec.get("by") or []):
                    submission = True
    seen = {initial}
    todo = [initial]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    for name, spec in states.items():
        if name not in seen:
            final = isinstance(spec, dict) and spec.get("kind") == FINAL
            message = _("Unreachable final state.") if final else _("Unreachable state.")
            errors.append((f"states.{name}", message))
        elif isinstance(spec, dict) and spec.get("kind") == OPEN and not edges[name]:
            errors.append((f"states.{name}", _("An open state needs a transition out of it.")))
    if not submission:
        errors.append(
            ("transitions", _("The applicant needs a transition out of the draft (submission).")),
        )


def _check_extras(data: dict[str, Any], errors: Errors) -> None:
    states = data["states"]
    if "statutory_deadline_days" in data:
        _check_days(data["statutory_deadline_days"], "statutory_deadline_days", errors)
    escalation = data.get("escalation")
    if escalation is not None:
        if not isinstance(escalation, dict):
            errors.append(("escalation", _("Describe it as {notify: [roles]}.")))
        else:
            _check_unknown_keys(escalation, {"notify"}, "escalation.", errors)
            roles = _role_list(
                escalation.get("notify"), "escalation.notify", errors, required=False
            )
            if APPLICANT in roles:
                errors.append(("escalation.notify", _("Escalation goes to agents only.")))
    tacit = data.get("tacit_decision")
    if tacit is not None:
        if not isinstance(tacit, dict):
            errors.append(("tacit_decision", _("Describe it as {after_days: N, to: state}.")))
        else:
            _check_unknown_keys(tacit, {"after_days", "to"}, "tacit_decision.", errors)
            _check_days(tacit.get("after_days"), "tacit_decision.after_days", errors)
            target = states.get(tacit.get("to")) if isinstance(tacit.get("to"), str) else None
            if not isinstance(target, dict) or target.get("outcome") not in DECISION_OUTCOMES:
                errors.append(
                    (
                        "tacit_decision.to",
                        _("Name a final state whose outcome is accepted or rejected."),
                    )
                )
    routing = data.get("routing")
    if routing is not None:
        _check_routing(routing, errors)


def _check_routing(routing: Any, errors: Errors) -> None:
    if not isinstance(routing, dict):
        errors.append(("routing", _("Describe it as {answer: path, teams: {value: team}}.")))
        return
    _check_unknown_keys(routing, {"answer", "teams", "default"}, "routing.", errors)
    answer = routing.get("answer")
    if not isinstance(answer, str) or not ANSWER_PATH.match(answer):
        errors.append(("routing.answer", _("Give the answer's name, dotted for a part of it.")))
    teams = routing.get("teams")
    if not isinstance(teams, dict) or not teams:
        errors.append(("routing.teams", _("Map answer values to team short names.")))
    else:
        for value, slug in teams.items():
            if not isinstance(slug, str) or not ORG_SLUG.match(slug):
                errors.append((f"routing.teams.{value}", _("Give the team's short name.")))
    default = routing.get("default", "")
    if not isinstance(default, str) or (default and not ORG_SLUG.match(default)):
        errors.append(("routing.default", _("Give the team's short name, or leave it out.")))


def validate_workflow(data: object) -> list[tuple[str, str]]:
    """What is wrong with a workflow section, as (path inside the section, message); [] if valid.

    An empty section is valid: it means the default workflow. Every new or changed workflow goes
    through here (designer pages, `guichet procedure import`), so a design role is refused.
    """
    return _problems(data) + design_role_problems(data)


def _problems(data: object) -> Errors:
    """validate_workflow() but for the design roles: what a stored workflow must pass to be read."""
    if data is None or data == {}:
        return []
    if not isinstance(data, dict):
        return [("", _("The workflow is a mapping with states and transitions."))]
    errors: Errors = []
    _check_unknown_keys(data, TOP_KEYS, "", errors)
    states = data.get("states")
    if not isinstance(states, dict) or not states:
        errors.append(("states", _("Declare at least one state.")))
        return errors
    for name, spec in states.items():
        _check_state(name, spec, errors)
    initial_ok = INITIAL in states
    if not initial_ok:
        errors.append(("states", _("Declare the “draft” state: every dossier starts there.")))
    elif isinstance(states[INITIAL], dict) and states[INITIAL].get("kind") != OPEN:
        errors.append((f"states.{INITIAL}.kind", _("The draft state must be open.")))
    transitions = data.get("transitions")
    if not isinstance(transitions, list) or not transitions:
        errors.append(("transitions", _("Declare at least one transition.")))
        transitions = []
    seen: set[str] = set()
    for index, spec in enumerate(transitions):
        _check_transition(index, spec, states, seen, errors)
    if initial_ok:
        _check_graph({**data, "transitions": transitions}, INITIAL, errors)
    _check_extras(data, errors)
    return errors


# --- Parsing ------------------------------------------------------------------------------------


def parse_workflow(data: object) -> Workflow:
    """The workflow a section describes (empty: the default); InvalidWorkflow if it is wrong.

    Parsed workflows are cached by content: dossiers of one procedure share one object.
    """
    if not data:
        data = DEFAULT_WORKFLOW
    return _parse_cached(json.dumps(data, sort_keys=True, ensure_ascii=False))


@lru_cache(maxsize=256)
def _parse_cached(text: str) -> Workflow:
    data = json.loads(text)
    # A workflow stored before design roles were refused must still be read (its dossiers exist);
    # those roles grant nothing there (dossiers/access.py).
    errors = _problems(data)
    if errors:
        raise InvalidWorkflow(errors)
    states = {
        name: StateDef(
            name=name,
            kind=spec["kind"],
            label=dict(spec["label"]),
            outcome=spec.get("outcome", ""),
            deadline_days=spec.get("deadline_days"),
            actors=frozenset(spec.get("actors") or ()),
            editable=spec.get("editable", False),
            pauses_deadline=spec.get("pauses_deadline", False),
        )
        for name, spec in data["states"].items()
    }
    transitions = tuple(
        TransitionDef(
            name=spec["name"],
            sources=frozenset(_sources(spec["from"])),
            target=spec["to"],
            by=frozenset(spec["by"]),
            label=dict(spec["label"]),
            reason_required=spec.get("reason_required", False),
            assign=spec.get("assign", ""),
        )
        for spec in data["transitions"]
    )
    tacit = data.get("tacit_decision")
    routing = data.get("routing")
    escalation = data.get("escalation") or {}
    return Workflow(
        initial=INITIAL,
        states=states,
        transitions=transitions,
        statutory_deadline_days=data.get("statutory_deadline_days"),
        # A design role left in a stored workflow is not told of overdue dossiers it cannot open.
        escalation_roles=frozenset(escalation.get("notify", ["supervisor"])) - set(DESIGN_ROLES),
        tacit=TacitDecision(tacit["after_days"], tacit["to"]) if tacit else None,
        routing=Routing(
            routing["answer"],
            {str(k): v for k, v in routing["teams"].items()},
            routing.get("default", ""),
        )
        if routing
        else None,
        _by_name={t.name: t for t in transitions},
    )


def default_workflow() -> Workflow:
    return parse_workflow(DEFAULT_WORKFLOW)
