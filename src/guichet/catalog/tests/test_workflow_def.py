"""The workflow section's format: the default is valid and means the foundation's workflow, and
every mistake is reported with its path inside the section."""

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from guichet.catalog.workflow_def import (
    DEFAULT_WORKFLOW,
    InvalidWorkflow,
    parse_workflow,
    validate_workflow,
)

SCHEMA = Path(__file__).parents[1] / "schema" / "workflow.schema.json"


@pytest.fixture(autouse=True)
def in_english() -> Iterator[None]:
    """These tests read the checks' messages in the language they are written in."""
    with translation.override("en"):
        yield


def two_level() -> dict[str, Any]:
    """The default workflow with a supervisor's decision after the instructor's proposal."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    data["states"]["awaiting_decision"] = {
        "kind": "open",
        "label": {"fr": "En attente de décision", "en": "Awaiting decision"},
        "actors": ["supervisor"],
    }
    for transition in data["transitions"]:
        if transition["name"] in ("accept", "reject"):
            transition["from"] = "awaiting_decision"
            transition["by"] = ["supervisor"]
    data["transitions"].append(
        {
            "name": "propose_acceptance",
            "from": "in_review",
            "to": "awaiting_decision",
            "by": ["instructor"],
            "label": {"fr": "Proposer l'acceptation"},
        }
    )
    return data


def paths(data: object) -> list[str]:
    return [path for path, _message in validate_workflow(data)]


def test_default_and_empty_sections_are_valid() -> None:
    """The default workflow, an empty section and a two-level workflow have no errors."""
    assert validate_workflow(DEFAULT_WORKFLOW) == []
    assert validate_workflow({}) == []
    assert validate_workflow(two_level()) == []


def test_empty_section_means_the_default_workflow() -> None:
    """Parsing an empty section gives the foundation's states and transitions."""
    workflow = parse_workflow({})
    assert workflow.initial == "draft"
    assert workflow.final_states == {"accepted", "rejected", "withdrawn"}
    reject = workflow.transition("reject")
    assert (
        reject is not None
        and reject.reason_required
        and reject.by
        == {
            "instructor",
            "supervisor",
        }
    )
    assert workflow.state("changes_requested").pauses_deadline  # type: ignore[union-attr]


def test_labels_fall_back_to_french() -> None:
    """A label without the active language is shown in French."""
    from django.utils import translation

    workflow = parse_workflow(two_level())
    with translation.override("en"):
        assert workflow.label("awaiting_decision") == "Awaiting decision"
        assert workflow.transition("propose_acceptance").display == "Proposer l'acceptation"  # type: ignore[union-attr]


def test_unknown_state_is_reported_at_its_path() -> None:
    """A transition to or from a state nobody declared points at that transition's field."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    data["transitions"][0]["to"] = "nowhere"
    data["transitions"][1]["from"] = ["submitted", "limbo"]
    found = paths(data)
    assert "transitions[0].to" in found
    assert "transitions[1].from[1]" in found


def test_unreachable_final_state_is_reported() -> None:
    """A final state no transition leads to is named."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    data["states"]["closed"] = {"kind": "final", "outcome": "closed", "label": {"fr": "Clos"}}
    assert validate_workflow(data) == [("states.closed", "Unreachable final state.")]


def test_transition_from_a_final_state_is_refused() -> None:
    """Nothing leaves a final state: the offending source is pointed at."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    data["transitions"].append(
        {
            "name": "reopen",
            "from": "accepted",
            "to": "in_review",
            "by": ["supervisor"],
            "label": {"fr": "Rouvrir"},
        }
    )
    assert ("transitions[8].from") in paths(data)


def test_rejection_without_mandatory_reason_is_refused() -> None:
    """A transition into a rejected outcome must require a reason."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    reject = next(t for t in data["transitions"] if t["name"] == "reject")
    del reject["reason_required"]
    index = data["transitions"].index(reject)
    assert paths(data) == [f"transitions[{index}].reason_required"]


def test_unknown_role_is_reported_at_its_index() -> None:
    """A role outside applicant and the organisation roles is pointed at in the list."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    data["transitions"][5]["by"] = ["instructor", "mayor"]
    assert paths(data) == ["transitions[5].by[1]"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["states"]["draft"].update(kind="closing"), "states.draft.kind"),
        (lambda d: d["states"]["accepted"].pop("outcome"), "states.accepted.outcome"),
        (lambda d: d["states"]["draft"]["label"].pop("fr"), "states.draft.label.fr"),
        (
            lambda d: d["states"]["in_review"].update(deadline_days=0),
            "states.in_review.deadline_days",
        ),
        (
            lambda d: d["states"].update(
                draft={"kind": "final", "outcome": "closed", "label": {"fr": "B"}}
            ),
            "states.draft.kind",
        ),
        (lambda d: d.update(colour="blue"), "colour"),
        (lambda d: d["transitions"][1].update(name="submit"), "transitions[1].name"),
        (lambda d: d["transitions"][1].update(name="tacit_decision"), "transitions[1].name"),
        (lambda d: d["transitions"][0].update(assign="self"), "transitions[0].assign"),
        (
            lambda d: d.update(tacit_decision={"after_days": 60, "to": "withdrawn"}),
            "tacit_decision.to",
        ),
        (
            lambda d: d.update(tacit_decision={"after_days": -1, "to": "accepted"}),
            "tacit_decision.after_days",
        ),
        (
            lambda d: d.update(routing={"answer": "address..x", "teams": {"Dakar": "dk"}}),
            "routing.answer",
        ),
        (
            lambda d: d.update(routing={"answer": "a", "teams": {"Dakar": "no spaces"}}),
            "routing.teams.Dakar",
        ),
        (lambda d: d.update(escalation={"notify": ["applicant"]}), "escalation.notify"),
        (lambda d: d.update(statutory_deadline_days="30"), "statutory_deadline_days"),
    ],
)
def test_each_mistake_has_its_path(change: Any, path: str) -> None:
    """Each broken rule is reported at the path of the value that breaks it."""
    data = copy.deepcopy(DEFAULT_WORKFLOW)
    change(data)
    assert path in paths(data)


def test_not_a_mapping_and_no_states() -> None:
    """Wrong shapes give an error instead of an exception."""
    assert paths([1, 2]) == [""]
    assert paths({"transitions": []}) == ["states"]
    found = paths({"states": {"draft": "open"}, "transitions": "x"})
    assert "states.draft" in found and "transitions" in found


def test_open_dead_end_and_missing_submission() -> None:
    """An open state with no way out, and an initial state the applicant cannot leave."""
    data = {
        "states": {
            "draft": {"kind": "open", "label": {"fr": "Brouillon"}},
            "stuck": {"kind": "open", "label": {"fr": "Bloqué"}},
        },
        "transitions": [
            {
                "name": "push",
                "from": "draft",
                "to": "stuck",
                "by": ["instructor"],
                "label": {"fr": "Pousser"},
            }
        ],
    }
    assert validate_workflow(data) == [
        ("states.stuck", "An open state needs a transition out of it."),
        ("transitions", "The applicant needs a transition out of the draft (submission)."),
    ]


def test_parse_refuses_an_invalid_section() -> None:
    """parse_workflow raises with the same errors validate_workflow gives."""
    with pytest.raises(InvalidWorkflow) as raised:
        parse_workflow({"states": {}})
    assert raised.value.errors == [("states", "Declare at least one state.")]


def test_routing_reads_a_dotted_answer() -> None:
    """The team comes from a part of an address answer, else the default."""
    data = two_level()
    data["routing"] = {
        "answer": "address.departement",
        "teams": {"Dakar": "dakar-team", "Thiès": "thies-team"},
        "default": "central-team",
    }
    routing = parse_workflow(data).routing
    assert routing is not None
    answer = {"region": "SN-DK", "departement": "Dakar", "commune": "Plateau"}
    assert routing.team_for({"address": answer}) == "dakar-team"
    assert routing.team_for({"address": {**answer, "departement": "Kolda"}}) == "central-team"
    assert routing.team_for({}) == "central-team"


def test_schema_is_valid_json_and_describes_the_top_keys() -> None:
    """The JSON Schema kept in the repository names the same keys as the validator."""
    schema = json.loads(SCHEMA.read_text())
    assert set(schema["properties"]) == {
        "states",
        "transitions",
        "statutory_deadline_days",
        "escalation",
        "tacit_decision",
        "routing",
    }


def test_schema_accepts_the_default_and_refuses_an_unknown_role() -> None:
    """When jsonschema is installed, the default passes the schema and a bad role does not."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(DEFAULT_WORKFLOW, schema)
    jsonschema.validate(two_level(), schema)
    bad = copy.deepcopy(DEFAULT_WORKFLOW)
    bad["transitions"][0]["by"] = ["mayor"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
