"""What the designer pages do to a definition, without HTTP: an item built from a field form and
back, a condition from its three boxes, the workflow section from a few choices, and where a
problem found by the definition checks belongs on a form.

Every page edits the whole definition (service.export_definition), changes one part of it and
hands it to catalog.actions.do_save_designed_definition, so the checks, versions and drafts
rules of the definition language apply to the pages exactly as to an imported file.
"""

import copy
import re
from typing import Any

from guichet.catalog.definition import NUMBER_TYPES, Problem
from guichet.catalog.forms import TRUE_WORDS, answer_fields
from guichet.catalog.workflow_def import DEFAULT_WORKFLOW

LANGUAGES = ("fr", "en", "wo")
# Keys the field form manages; any other key of an item (index, decimals, referential, a block's
# fields) is kept as it was when the item is saved from the form.
TEXT_KEYS = ("label", "help", "text", "pattern_message", "row_label")
VALUE_KEYS = (
    "name",
    "type",
    "required",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "choices",
    "visible_if",
    "min_rows",
    "max_rows",
    "accept",
    "max_size_mb",
    "multiple",
)
LIST_OPERATORS = ("in", "not_in")
FIELD_PATH = re.compile(r"^(\d{1,3})(?:\.(\d{1,3}))?$")

# --- Texts ------------------------------------------------------------------------------------


def texts_from(data: dict[str, Any], prefix: str) -> dict[str, str]:
    """{"fr": ..., "en": ...} from the boxes prefix_fr, prefix_en, prefix_wo, empty ones left
    out."""
    return {
        language: str(data.get(f"{prefix}_{language}") or "").strip()
        for language in LANGUAGES
        if str(data.get(f"{prefix}_{language}") or "").strip()
    }


def texts_initial(value: Any, prefix: str) -> dict[str, str]:
    if isinstance(value, str):
        return {f"{prefix}_fr": value}
    if isinstance(value, dict):
        return {f"{prefix}_{k}": str(v) for k, v in value.items() if k in LANGUAGES}
    return {}


# --- Conditions -------------------------------------------------------------------------------


def _typed_value(operator: str, raw: str, spec: dict[str, Any] | None) -> Any:
    """The value of a comparison as the engine compares it: a yes/no answer is a boolean, a
    number a number, `in` a list."""
    raw = raw.strip()
    if operator == "filled":
        return raw.lower() in TRUE_WORDS or raw == ""
    if operator in LIST_OPERATORS:
        return [part.strip() for part in raw.split(",") if part.strip()]
    kind = (spec or {}).get("type")
    if kind in ("yesno", "checkbox"):
        return raw.lower() in TRUE_WORDS
    if kind in NUMBER_TYPES or operator in ("gt", "gte", "lt", "lte"):
        try:
            number = float(raw.replace(",", "."))
        except ValueError:
            return raw
        return int(number) if number.is_integer() else number
    return raw


def _comparison(field: str, operator: str, raw: str, form: list[dict[str, Any]]) -> dict[str, Any]:
    specs = {str(spec.get("name")): spec for spec in answer_fields(form)}
    return {"field": field, operator: _typed_value(operator, raw, specs.get(field.split(".")[0]))}


def condition_from(data: dict[str, Any], form: list[dict[str, Any]]) -> dict[str, Any] | None:
    """visible_if from the condition boxes: one comparison, or two joined by and/or."""
    first = str(data.get("cond_field") or "").strip()
    if not first:
        return None
    condition = _comparison(
        first, data.get("cond_op") or "equals", data.get("cond_value") or "", form
    )
    join = data.get("cond_join") or ""
    second = str(data.get("cond2_field") or "").strip()
    if join in ("all", "any") and second:
        other = _comparison(
            second, data.get("cond2_op") or "equals", data.get("cond2_value") or "", form
        )
        return {join: [condition, other]}
    return condition


def _comparison_initial(comparison: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(comparison, dict) or "field" not in comparison:
        return {}
    operator = next((key for key in comparison if key != "field"), "equals")
    value = comparison.get(operator)
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value)
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    else:
        shown = str(value)
    return {
        f"{prefix}_field": comparison["field"],
        f"{prefix}_op": operator,
        f"{prefix}_value": shown,
    }


def condition_initial(condition: Any) -> tuple[dict[str, Any], bool]:
    """The boxes for a condition, and whether they can show it (else it is kept as written)."""
    if not condition:
        return {}, True
    if isinstance(condition, dict) and "field" in condition:
        return _comparison_initial(condition, "cond"), True
    if isinstance(condition, dict) and len(condition) == 1:
        join, parts = next(iter(condition.items()))
        if join in ("all", "any") and isinstance(parts, list) and len(parts) == 2:
            first = _comparison_initial(parts[0], "cond")
            second = _comparison_initial(parts[1], "cond2")
            if first and second:
                return {**first, **second, "cond_join": join}, True
    return {}, False


# --- Items ------------------------------------------------------------------------------------


def choices_from(text: str) -> list[dict[str, Any]]:
    """One choice a line: `value | French label | English label | Wolof label`."""
    result = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if not parts[0]:
            continue
        labels = {
            language: part for language, part in zip(LANGUAGES, parts[1:], strict=False) if part
        }
        result.append({"value": parts[0], "label": labels or parts[0]})
    return result


def choices_text(choices: Any) -> str:
    lines = []
    for choice in choices or []:
        label = choice.get("label")
        labels = (
            [label]
            if isinstance(label, str)
            else [label.get(k, "") for k in LANGUAGES if k in label]
        )
        lines.append(" | ".join([str(choice.get("value", "")), *(str(x) for x in labels)]))
    return "\n".join(lines)


def _bound(raw: Any) -> Any:
    """A min or max: a number when it reads as one, else text (a date, or `today`)."""
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def item_from(
    data: dict[str, Any], before: dict[str, Any] | None, form: list[dict[str, Any]]
) -> dict[str, Any]:
    """The item a field form describes, keeping what the form does not manage from `before`.
    `form` is the list the item goes into (for the types of fields a condition names)."""
    item = {
        key: value
        for key, value in (before or {}).items()
        if key not in VALUE_KEYS and key not in TEXT_KEYS
    }
    kind = data["type"]
    item["type"] = kind
    if data.get("name"):
        item["name"] = data["name"]
    for key in TEXT_KEYS:
        texts = texts_from(data, key)
        if texts:
            item[key] = texts
    if data.get("required"):
        item["required"] = True
    for key in ("min", "max"):
        value = _bound(data.get(key))
        if value is not None:
            item[key] = value
    for key in ("min_length", "max_length", "min_rows", "max_rows", "max_size_mb"):
        if data.get(key) is not None:
            item[key] = data[key]
    if data.get("pattern"):
        item["pattern"] = data["pattern"]
    if kind in ("choice", "multichoice") and data.get("choices"):
        item["choices"] = choices_from(data["choices"])
    if kind == "file":
        if data.get("accept"):
            item["accept"] = list(data["accept"])
        if data.get("multiple"):
            item["multiple"] = True
    if kind == "block":
        item.setdefault("fields", [])
        if not item["fields"] and data.get("first_name"):
            first = {"type": "text", "name": data["first_name"], "required": True}
            first["label"] = {"fr": data.get("first_label") or data["first_name"]}
            item["fields"].append(first)
    else:
        item.pop("fields", None)
    condition = condition_from(data, form)
    if condition is not None:
        item["visible_if"] = condition
    elif before and data.get("keep_condition") and "visible_if" in before:
        item["visible_if"] = before["visible_if"]
    return item


def item_initial(item: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The field form's values for an item, and whether its condition fits the boxes."""
    initial: dict[str, Any] = {
        key: item[key]
        for key in (
            "type",
            "name",
            "min_length",
            "max_length",
            "pattern",
            "min_rows",
            "max_rows",
            "max_size_mb",
        )
        if key in item
    }
    initial["required"] = bool(item.get("required"))
    initial["multiple"] = bool(item.get("multiple"))
    for key in ("min", "max"):
        if key in item:
            initial[key] = str(item[key])
    for key in TEXT_KEYS:
        initial.update(texts_initial(item.get(key), key))
    if "choices" in item:
        initial["choices"] = choices_text(item["choices"])
    if "accept" in item:
        initial["accept"] = list(item["accept"])
    condition, fits = condition_initial(item.get("visible_if"))
    initial.update(condition)
    return initial, fits


# --- Where items are ---------------------------------------------------------------------------


def parse_path(path: str) -> tuple[int, int | None] | None:
    """ "3" is the form's fourth item, "3.1" the second field of the block that item is."""
    found = FIELD_PATH.match(path)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)) if found.group(2) is not None else None


def container(definition: dict[str, Any], block: int | None) -> list[dict[str, Any]] | None:
    """The list an item lives in: the form, or a block's fields; None when there is none."""
    form: list[dict[str, Any]] = definition.setdefault("form", [])
    if block is None:
        return form
    if not 0 <= block < len(form) or form[block].get("type") != "block":
        return None
    fields: list[dict[str, Any]] = form[block].setdefault("fields", [])
    return fields


def definition_path(block: int | None, index: int) -> str:
    return f"form[{block}].fields[{index}]" if block is not None else f"form[{index}]"


# Which box of the field form shows a problem found under an item's path.
FIELD_FORM_KEYS = {
    "type": "type",
    "name": "name",
    "label": "label_fr",
    "help": "help_fr",
    "text": "text_fr",
    "row_label": "row_label_fr",
    "pattern_message": "pattern_message_fr",
    "required": "required",
    "min": "min",
    "max": "max",
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
    "choices": "choices",
    "referential": "choices",
    "visible_if": "cond_field",
    "min_rows": "min_rows",
    "max_rows": "max_rows",
    "accept": "accept",
    "max_size_mb": "max_size_mb",
    "multiple": "multiple",
    "fields": "first_name",
}
METADATA_KEYS = {
    "slug": "slug",
    "title": "title_fr",
    "summary": "summary_fr",
    "legal_basis": "legal_basis_fr",
    "data_protection": "data_protection_fr",
    "applicant_kinds": "applicant_kinds",
    "deadline_days": "deadline_days",
    "retention_days": "retention_days",
    "fees": "fee_amount",
}


def place_problems(
    problems: list[Problem], prefix: str, keys: dict[str, str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Problems under `prefix` ("form[3]" for an item, "" for the top) go to the box `keys`
    names; the others are returned as text with their path, to show above the form."""
    placed: dict[str, list[str]] = {}
    others: list[str] = []
    for problem in problems:
        rest = problem.path
        if prefix:
            if not (rest == prefix or rest.startswith((f"{prefix}.", f"{prefix}["))):
                others.append(str(problem))
                continue
            rest = rest[len(prefix) :].lstrip(".")
        box = _box_for(rest, keys)
        if box is None:
            others.append(str(problem))
            continue
        placed.setdefault(box, []).append(problem.message)
    return placed, others


def _box_for(path: str, keys: dict[str, str]) -> str | None:
    """The box of the longest key the path starts with: "routing.teams.Dakar" goes to the
    box of "routing.teams" when there is one, else to that of "routing"."""
    parts = re.split(r"[.\[]", path) if path else [""]
    for length in range(len(parts), 0, -1):
        box = keys.get(".".join(parts[:length]))
        if box is not None:
            return box
    return None


# --- The workflow -------------------------------------------------------------------------------

SINGLE = "single"
TWO_LEVEL = "two_level"
DEFAULT = "default"
AWAITING = "awaiting_decision"


def _label(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, "en": en}


def workflow_from(data: dict[str, Any]) -> dict[str, Any]:
    """The workflow section for the common choices: the platform's default, a single level of
    decision, or two levels (the instructor proposes, a supervisor decides); with per-step
    deadlines, a tacit decision and routing to teams by an answer."""
    approval = data.get("approval") or DEFAULT
    if approval == DEFAULT:
        return {}
    workflow = copy.deepcopy(DEFAULT_WORKFLOW)
    states = workflow["states"]
    transitions = workflow["transitions"]
    if approval == TWO_LEVEL:
        states[AWAITING] = {
            "kind": "open",
            "label": _label("En attente de décision", "Awaiting a decision"),
            "actors": ["supervisor"],
        }
        for transition in transitions:
            if transition["name"] in ("accept", "reject"):
                transition["from"] = AWAITING
                transition["by"] = ["supervisor"]
        transitions.extend(
            [
                {
                    "name": "propose_acceptance",
                    "from": "in_review",
                    "to": AWAITING,
                    "by": ["instructor", "supervisor"],
                    "label": _label("Proposer l'acceptation", "Propose acceptance"),
                },
                {
                    "name": "propose_rejection",
                    "from": "in_review",
                    "to": AWAITING,
                    "by": ["instructor", "supervisor"],
                    "reason_required": True,
                    "label": _label("Proposer le refus", "Propose rejection"),
                },
                {
                    "name": "send_back",
                    "from": AWAITING,
                    "to": "in_review",
                    "by": ["supervisor"],
                    "reason_required": True,
                    "label": _label("Renvoyer à l'instruction", "Send back to review"),
                },
            ]
        )
    if data.get("review_days"):
        states["in_review"]["deadline_days"] = data["review_days"]
    if data.get("decision_days") and AWAITING in states:
        states[AWAITING]["deadline_days"] = data["decision_days"]
    if data.get("tacit") and data.get("tacit_days"):
        workflow["tacit_decision"] = {"after_days": data["tacit_days"], "to": data["tacit"]}
    if data.get("routing_answer"):
        routing: dict[str, Any] = {
            "answer": data["routing_answer"],
            "teams": teams_from(data.get("routing_teams") or ""),
        }
        if data.get("routing_default"):
            routing["default"] = data["routing_default"]
        workflow["routing"] = routing
    return workflow


def teams_from(text: str) -> dict[str, str]:
    """One line a team: `answer value = team short name`."""
    teams = {}
    for line in text.splitlines():
        value, sep, team = line.partition("=")
        if sep and value.strip():
            teams[value.strip()] = team.strip()
    return teams


def workflow_initial(workflow: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The workflow form's values for a section, and whether the form can rebuild it as it is
    (a section written in YAML beyond these choices is replaced only if the designer saves)."""
    if not workflow:
        return {"approval": DEFAULT}, True
    states = workflow.get("states") or {}
    initial: dict[str, Any] = {"approval": TWO_LEVEL if AWAITING in states else SINGLE}
    initial["review_days"] = (states.get("in_review") or {}).get("deadline_days")
    initial["decision_days"] = (states.get(AWAITING) or {}).get("deadline_days")
    tacit = workflow.get("tacit_decision") or {}
    initial["tacit"] = tacit.get("to", "")
    initial["tacit_days"] = tacit.get("after_days")
    routing = workflow.get("routing") or {}
    initial["routing_answer"] = routing.get("answer", "")
    initial["routing_teams"] = "\n".join(
        f"{k} = {v}" for k, v in (routing.get("teams") or {}).items()
    )
    initial["routing_default"] = routing.get("default", "")
    fits = workflow_from(initial) == workflow
    return initial, fits
