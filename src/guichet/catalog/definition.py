"""Procedure definitions: the YAML (or JSON) text an administration writes to put a procedure
online, read with the line of every value kept, checked against the JSON Schema kept in
schema/procedure.schema.json and then by the semantic checks below, and written back.

The designer pages and `guichet procedure validate|import|export` use the same four calls:

    definition = load(text)          # parse and check; raises Invalid with every problem
    problems = check(data)           # the same checks on a dict (from the API, a form)
    text = dump(definition)          # YAML, keys in a stable order
    normalise(definition)            # what import then export gives back

Each problem has the path of the value ("form[3].choices[1].value"), a message and, when the
definition came from text, the line it is on. The definition's `workflow` section is the
workflow engine's (catalog/workflow_def.py): checked by its own schema and validator, stored
and written back as it is.
"""

import importlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, ngettext_lazy
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from guichet.catalog import referentials, workflow_def
from guichet.catalog.conditions import problems as condition_problems
from guichet.catalog.conditions import referenced_fields
from guichet.catalog.forms import (
    ADDRESS_PARTS,
    ANSWER_TYPES,
    BLOCK_TYPES,
    FIELD_TYPES,
    INDEX_KINDS,
    LAYOUT_TYPES,
    NAME_PATTERN,
    RESERVED_NAMES,
)
from guichet.catalog.patterns import compile_problem

FORMAT_VERSION = 1
SCHEMA_FOLDER = Path(__file__).parent / "schema"
SCHEMA_BASE = "https://guichet.example/schema/"
LANGUAGES = ("fr", "en", "wo")
# The order keys are written in, so an exported file reads top to bottom like the procedure.
TOP_KEYS = (
    "format",
    "slug",
    "organisation",
    "title",
    "summary",
    "legal_basis",
    "applicant_kinds",
    "deadline_days",
    "retention_days",
    "data_protection",
    "fees",
    "eligibility",
    "form",
    "workflow",
)
REQUIRED_KEYS = ("format", "slug", "organisation", "title", "form")
APPLICANT_KINDS = ("person", "company")
# What a definition that says nothing gets; written out on export so nothing is implicit.
DEFAULTS: dict[str, Any] = {
    "format": FORMAT_VERSION,
    "applicant_kinds": ["person"],
    "deadline_days": 30,
    "retention_days": 5 * 365,
}
NUMBER_TYPES = ("number", "integer", "decimal")
MAX_TEXT_BYTES = 1_000_000
# How deep mappings and lists may nest. The deepest real definitions (a condition inside a
# block's field, a workflow state's label) stay under 15; the checks that walk conditions, the
# JSON Schema's validator and YAML's composer recurse, so a deeper text is refused up front
# instead of reaching Python's recursion limit.
MAX_DEPTH = 64


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or top_path()
        if self.line:
            return _("line %(line)d: %(path)s: %(message)s") % {
                "line": self.line,
                "path": where,
                "message": self.message,
            }
        return f"{where}: {self.message}"


def top_path() -> str:
    """How a problem of the whole definition (no path) names where it is."""
    return _("(top)")


class Invalid(ValueError):
    """A definition that cannot be used; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


# --- Reading YAML with its lines ------------------------------------------------------------


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a definition may not use; `problem` is the translated reason."""


class _Loader(yaml.SafeLoader):
    """YAML 1.2's plain scalars: `yes`, `no`, `on` stay text (choice values often are), and
    dates stay text (answers store dates as ISO strings, JSON has no date type).

    Anchors and aliases (`&x`, `*x`) are refused: a definition has no use for them, and an alias
    is expanded wherever it appears, so a few hundred bytes of nested aliases made millions of
    values ("billion laughs") and an alias inside its own anchor a value that contains itself.
    Nesting deeper than MAX_DEPTH is refused too, before the composer's recursion gets there."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem=_(
                    "anchors and aliases (& and *) are not allowed in a definition: "
                    "write the value out where it is needed"
                ),
                problem_mark=event.start_mark,
            )
        if self._depth >= MAX_DEPTH:
            raise _Refused(
                problem=_("nested more than %(limit)d levels deep") % {"limit": MAX_DEPTH},
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _listed(values: Iterable[object]) -> dict[str, str]:
    return {"list": ", ".join(map(str, values))}


def one_of(values: Iterable[object]) -> str:
    """The problem of a value outside a fixed list (a field's type, an index kind, an enum)."""
    return _("one of %(list)s") % _listed(values)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _lines(root: yaml.Node, into: dict[str, int]) -> None:
    """The line of every path under `root`; a loop over a stack, not recursion, so that no
    nesting the loader lets through can exhaust the interpreter's stack here."""
    todo: list[tuple[yaml.Node, str]] = [(root, "")]
    while todo:
        node, path = todo.pop()
        into.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = join(path, str(key_node.value))
                into[child] = key_node.start_mark.line + 1
                todo.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                todo.append((item, join(path, index)))


def parse(text: str) -> tuple[Any, dict[str, int]]:
    """The data in a YAML (or JSON) text and the line of each path; Invalid when unreadable."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise Invalid([Problem("", _("the definition is larger than 1 MB"))])
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _Refused as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise Invalid([Problem("", str(error.problem), line)]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        # PyYAML's own words, in English, say what it stumbled on.
        message = _("not valid YAML: %(problem)s") % {"problem": error.problem or error}
        raise Invalid([Problem("", message, line)]) from None
    except yaml.YAMLError as error:
        message = _("not valid YAML: %(problem)s") % {"problem": error}
        raise Invalid([Problem("", message)]) from None
    except RecursionError:
        # The loader refuses deep nesting first; this is only the last safety net.
        message = _("nested more than %(limit)d levels deep") % {"limit": MAX_DEPTH}
        raise Invalid([Problem("", message)]) from None
    lines: dict[str, int] = {}
    if node is not None:
        _lines(node, lines)
    return data, lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of a path, or of its nearest parent that has one (a missing key's mapping)."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""


def load(text: str) -> dict[str, Any]:
    """Parse and check a definition; Invalid lists every problem with its line."""
    return load_with_lines(text)[0]


def load_with_lines(text: str) -> tuple[dict[str, Any], dict[str, int]]:
    """load(), and the line of each path: for the problems found later, against the database."""
    data, lines = parse(text)
    found = check(data)
    if found:
        raise Invalid([Problem(p.path, p.message, line_of(lines, p.path)) for p in found])
    assert isinstance(data, dict)
    return data, lines


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as people write them; a value used twice is written
    twice, never as an anchor and an alias, which the loader refuses."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(definition: dict[str, Any]) -> str:
    return yaml.dump(
        ordered(definition),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
        default_flow_style=False,
    )


def ordered(definition: dict[str, Any]) -> dict[str, Any]:
    known = {key: definition[key] for key in TOP_KEYS if key in definition}
    return {**known, **{k: v for k, v in definition.items() if k not in known}}


def normalise(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition as a procedure stores it and exports it: optional keys left empty are
    dropped and defaults written out, so import(export(x)) == normalise(x)."""
    result = {
        key: value
        for key, value in ordered(definition).items()
        if key in REQUIRED_KEYS or value not in ({}, [], None, "")
    }
    for key, default in DEFAULTS.items():
        result.setdefault(key, default)
    return ordered(result)


# --- The JSON Schema --------------------------------------------------------------------------


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMA_FOLDER / "procedure.schema.json").read_text(encoding="utf-8"))
    workflow_file = SCHEMA_FOLDER / "workflow.schema.json"
    # The workflow section belongs to the workflow engine; until its schema is there, anything.
    workflow = (
        json.loads(workflow_file.read_text(encoding="utf-8"))
        if workflow_file.exists()
        else {"type": "object"}
    )
    registry: Registry[Any] = Registry().with_resources(
        [
            (schema["$id"], Resource.from_contents(schema)),
            (SCHEMA_BASE + "workflow.schema.json", DRAFT202012.create_resource(workflow)),
        ]
    )
    return Draft202012Validator(schema, registry=registry)


def schema_problems(data: Any) -> list[Problem]:
    found = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = ""
        for key in error.absolute_path:
            path = join(path, key)
        found.append(Problem(path, _schema_message(error)))
    return found


# What the schema's validators mean, in the designer's language: jsonschema's own messages are
# English and quote Python's repr of the value.
JSON_TYPES = {
    "string": gettext_lazy("a text"),
    "integer": gettext_lazy("a whole number"),
    "number": gettext_lazy("a number"),
    "boolean": gettext_lazy("true or false"),
    "object": gettext_lazy("a mapping"),
    "array": gettext_lazy("a list"),
    "null": gettext_lazy("nothing"),
}
# Limits on a count, worded by it: ngettext_lazy takes the count from the "limit" key.
COUNTED = {
    "minLength": ngettext_lazy(
        "at least %(limit)d character", "at least %(limit)d characters", "limit"
    ),
    "maxLength": ngettext_lazy(
        "at most %(limit)d character", "at most %(limit)d characters", "limit"
    ),
    "minItems": ngettext_lazy("at least %(limit)d item", "at least %(limit)d items", "limit"),
    "minProperties": ngettext_lazy("at least %(limit)d key", "at least %(limit)d keys", "limit"),
    "maxProperties": ngettext_lazy("at most %(limit)d key", "at most %(limit)d keys", "limit"),
}
_REQUIRED = re.compile(r"^'(?P<key>[^']*)' is a required property$")


def _schema_message(error: Any) -> str:
    validator, limit, instance = error.validator, error.validator_value, error.instance
    if validator == "additionalProperties":
        known = error.schema.get("properties") or {}
        extra = [str(key) for key in instance if key not in known]
        return ngettext("unknown key: %(list)s", "unknown keys: %(list)s", len(extra)) % _listed(
            extra
        )
    if validator == "enum":
        if instance in workflow_def.DESIGN_ROLES:
            return workflow_def.design_role_message()
        return one_of(limit)
    if validator == "maximum":
        return _("at most %(limit)s") % {"limit": limit}
    if validator == "minimum":
        return _("at least %(limit)s") % {"limit": limit}
    if validator == "exclusiveMinimum":
        return _("greater than %(key)s") % {"key": limit}
    if validator == "required":
        found = _REQUIRED.match(str(error.message))
        missing = [found["key"]] if found else [k for k in limit if k not in instance]
        return _("required key missing: %(list)s") % _listed(missing)
    if validator == "type":
        wanted = limit if isinstance(limit, list) else [limit]
        names = [str(JSON_TYPES.get(name, name)) for name in wanted]
        if len(names) > 1:
            return _("must be one of: %(list)s") % _listed(names)
        return _("must be %(type)s") % {"type": names[0]}
    if validator == "pattern":
        return _("does not have the expected form (%(pattern)s)") % {"pattern": limit}
    if validator in ("minLength", "minItems", "minProperties") and limit == 1:
        return _("must not be empty")
    if validator in COUNTED:
        return str(COUNTED[validator] % {"limit": limit})
    if validator == "uniqueItems":
        return _("a value appears twice")
    if validator == "const":
        return _("must be %(type)s") % {"type": json.dumps(limit, ensure_ascii=False)}
    if validator in ("oneOf", "anyOf"):
        return _("matches none of the allowed forms")
    if validator == "not":
        return _("not allowed here")
    return str(error.message)


# --- Semantic checks --------------------------------------------------------------------------


def check(data: Any) -> list[Problem]:
    """Every problem of a definition: the schema's first, then the meaning's (names declared
    once, conditions naming earlier fields, choices, bounds, fees, eligibility, workflow)."""
    if not isinstance(data, dict):
        return [Problem("", _("a definition is a mapping of keys (slug, title, form, ...)"))]
    deep = _too_deep(data)
    if deep is not None:
        return [Problem(deep, _("nested more than %(limit)d levels deep") % {"limit": MAX_DEPTH})]
    found = schema_problems(data)
    if found:
        return found
    found = [Problem(path, message) for path, message in form_problems(data["form"])]
    names = _answer_names(data["form"])
    found += [Problem(p, m) for p, m in _fees_problems(data.get("fees"), names)]
    found += [Problem(p, m) for p, m in _eligibility_problems(data.get("eligibility"), names)]
    found += [Problem(p, m) for p, m in _workflow_problems(data.get("workflow"))]
    return found


def _too_deep(data: Any) -> str | None:
    """The path of the first value nested deeper than MAX_DEPTH, or None. A dict from a page or
    from JSON never went through the YAML loader's own limit; walked with a stack, not recursion."""
    todo: list[tuple[Any, str, int]] = [(data, "", 1)]
    while todo:
        value, path, depth = todo.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            todo.extend((item, join(path, str(key)), depth + 1) for key, item in value.items())
        elif isinstance(value, list):
            todo.extend((item, join(path, index), depth + 1) for index, item in enumerate(value))
    return None


def _workflow_problems(section: Any) -> list[tuple[str, str]]:
    """The workflow engine's own checks of its section, when that engine is installed."""
    if section is None:
        return []
    try:
        module = importlib.import_module("guichet.catalog.workflow_def")
    except ImportError:
        return []
    validate = getattr(module, "validate_workflow", None)
    if validate is None:
        return []
    return [
        (join("workflow", path) if path else "workflow", str(message))
        for path, message in validate(section)
    ]


def _answer_names(form: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        str(spec["name"]): spec
        for spec in form
        if isinstance(spec, dict) and spec.get("type") not in LAYOUT_TYPES and "name" in spec
    }


def _label_problems(texts: Any, where: str, *, required: bool = True) -> list[tuple[str, str]]:
    if texts is None and not required:
        return []
    if isinstance(texts, str) and texts.strip():
        return []
    if not isinstance(texts, dict) or not str(texts.get("fr") or "").strip():
        return [(where, _("needs at least a French text (fr)"))]
    unknown = [key for key in texts if key not in LANGUAGES]
    if unknown:
        return [(join(where, unknown[0]), _("languages are %(list)s") % _listed(LANGUAGES))]
    return []


def form_problems(form: Any) -> list[tuple[str, str]]:
    """Mistakes in a form (the definition's `form` list), as (path, message)."""
    if not isinstance(form, list):
        return [("form", _("must be a list of fields"))]
    found: list[tuple[str, str]] = []
    declared: dict[str, dict[str, Any]] = {}
    for index, spec in enumerate(form):
        where = f"form[{index}]"
        found.extend(_item_problems(spec, where, declared, None, allowed=FIELD_TYPES))
        if isinstance(spec, dict) and spec.get("type") not in LAYOUT_TYPES and "name" in spec:
            declared.setdefault(str(spec["name"]), spec)
    return found


def _item_problems(
    spec: Any,
    where: str,
    declared: dict[str, dict[str, Any]],
    siblings: dict[str, dict[str, Any]] | None,
    *,
    allowed: tuple[str, ...],
) -> list[tuple[str, str]]:
    if not isinstance(spec, dict):
        return [(where, _("must be a mapping"))]
    kind = spec.get("type")
    if kind not in allowed:
        return [(f"{where}.type", one_of(allowed))]
    found: list[tuple[str, str]] = []
    if kind in LAYOUT_TYPES:
        if kind == "explanation":
            found += _label_problems(spec.get("text"), f"{where}.text")
            found += _label_problems(spec.get("label"), f"{where}.label", required=False)
        else:
            found += _label_problems(spec.get("label"), f"{where}.label")
    else:
        found += _name_problems(spec, where, siblings if siblings is not None else declared)
        found += _label_problems(spec.get("label"), f"{where}.label")
    found += _label_problems(spec.get("help"), f"{where}.help", required=False)
    if "visible_if" in spec:
        found += _condition_problems(spec["visible_if"], f"{where}.visible_if", declared, siblings)
    found += _type_problems(spec, where, declared)
    return found


def _name_problems(
    spec: dict[str, Any], where: str, taken: dict[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        message = _("lower-case letters, digits and _ only, starting with a letter")
        return [(f"{where}.name", message)]
    if name in RESERVED_NAMES:
        return [(f"{where}.name", _("'%(name)s' is reserved") % {"name": name})]
    if name in taken:
        return [(f"{where}.name", _("'%(name)s' is used twice") % {"name": name})]
    return []


def _condition_problems(
    condition: Any,
    where: str,
    declared: dict[str, dict[str, Any]],
    siblings: dict[str, dict[str, Any]] | None,
) -> list[tuple[str, str]]:
    found = condition_problems(condition, where)
    if found:
        return found
    for path in referenced_fields(condition):
        head, _dot, rest = path.partition(".")
        target = (siblings or {}).get(head) or declared.get(head)
        if target is None:
            message = _("'%(name)s' is not a field declared before this one")
            found.append((where, message % {"name": head}))
        elif target.get("type") == "file":
            message = _("'%(name)s' is a file: conditions read answers")
            found.append((where, message % {"name": head}))
        elif rest and (target.get("type") != "address" or rest not in ADDRESS_PARTS):
            message = _("'%(path)s': only an address has parts (region, departement, commune)")
            found.append((where, message % {"path": path}))
    return found


def _type_problems(
    spec: dict[str, Any], where: str, declared: dict[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    kind = spec["type"]
    found: list[tuple[str, str]] = []
    if kind in ("choice", "multichoice"):
        found += _choice_problems(spec, where)
    if kind == "block":
        found += _block_problems(spec, where, declared)
    if "index" in spec and (
        spec["index"] not in INDEX_KINDS or kind not in ("text", "email", "phone", "nin")
    ):
        message = _("one of %(list)s, on a text, email, phone or nin field")
        found.append((f"{where}.index", message % _listed(INDEX_KINDS)))
    for low, high in (
        ("min", "max"),
        ("min_length", "max_length"),
        ("min_rows", "max_rows"),
        ("min_choices", "max_choices"),
    ):
        if spec.get(low) is not None and spec.get(high) is not None:
            if kind in ("date", "datetime") and "today" in (spec[low], spec[high]):
                continue
            try:
                wrong = spec[low] > spec[high]
            except TypeError:
                wrong = True
            if wrong:
                found.append((f"{where}.{low}", _("greater than %(key)s") % {"key": high}))
    if kind in ("date", "datetime"):
        for key in ("min", "max"):
            if spec.get(key) is not None and not _is_date_bound(spec[key]):
                found.append((f"{where}.{key}", _("an ISO date (YYYY-MM-DD) or today")))
    elif kind in NUMBER_TYPES:
        for key in ("min", "max"):
            if spec.get(key) is not None and (
                isinstance(spec[key], bool) or not isinstance(spec[key], int | float)
            ):
                found.append((f"{where}.{key}", _("a number")))
    if spec.get("pattern") is not None:
        # Compiled by the engine that runs it on answers, with a time limit (patterns.py).
        problem = compile_problem(str(spec["pattern"]))
        if problem is not None:
            # The regex engine's own words (English) say what is wrong in the expression.
            message = _("not a valid regular expression: %(problem)s") % {"problem": problem}
            found.append((f"{where}.pattern", message))
    if spec.get("pattern_message") is not None:
        found += _label_problems(spec["pattern_message"], f"{where}.pattern_message")
    return found


def _is_date_bound(value: Any) -> bool:
    return value == "today" or (
        isinstance(value, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))
    )


def _choice_problems(spec: dict[str, Any], where: str) -> list[tuple[str, str]]:
    if spec.get("referential") is not None:
        if spec.get("choices"):
            return [(f"{where}.choices", _("either choices or a referential, not both"))]
        if not referentials.is_known(str(spec["referential"])):
            message = _("unknown referential; known: %(list)s") % _listed(referentials.BUILT_IN)
            return [(f"{where}.referential", message)]
        return []
    options = spec.get("choices")
    if not isinstance(options, list) or not options:
        return [(f"{where}.choices", _("a choice field needs choices (or a referential)"))]
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, option in enumerate(options):
        place = f"{where}.choices[{index}]"
        if not isinstance(option, dict) or "value" not in option:
            found.append((place, _("a choice has a value and a label")))
            continue
        value = str(option["value"])
        if value in seen:
            found.append((f"{place}.value", _("'%(name)s' is used twice") % {"name": value}))
        seen.add(value)
        if "label" in option:
            found += _label_problems(option["label"], f"{place}.label")
    return found


def _block_problems(
    spec: dict[str, Any], where: str, declared: dict[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    nested = spec.get("fields")
    if not isinstance(nested, list) or not nested:
        return [(f"{where}.fields", _("a repeatable block needs its fields"))]
    found: list[tuple[str, str]] = []
    siblings: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(nested):
        place = f"{where}.fields[{index}]"
        found += _item_problems(item, place, declared, siblings, allowed=BLOCK_TYPES)
        if isinstance(item, dict) and item.get("type") != "explanation" and "name" in item:
            siblings.setdefault(str(item["name"]), item)
    return found


def _fees_problems(fees: Any, names: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    if not isinstance(fees, dict):
        return []
    found: list[tuple[str, str]] = []
    for index, rule in enumerate(fees.get("add") or []):
        where = f"fees.add[{index}]"
        if "when" in rule:
            found += _condition_problems(rule["when"], f"{where}.when", names, None)
        per = rule.get("per")
        if per is not None:
            target = names.get(str(per))
            if target is None or target.get("type") not in (*NUMBER_TYPES, "block", "multichoice"):
                message = _("the name of a number field, a block or a multiple choice")
                found.append((f"{where}.per", message))
    return found


def _eligibility_problems(rules: Any, names: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for index, rule in enumerate(rules or []):
        where = f"eligibility[{index}]"
        found += _condition_problems(rule.get("refuse_if"), f"{where}.refuse_if", names, None)
        found += _label_problems(rule.get("message"), f"{where}.message")
    return found


def walk(form: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every item of a form with its answer path, block fields as "block.*.field"."""
    for spec in form:
        name = str(spec.get("name", ""))
        yield name, spec
        if spec.get("type") == "block":
            for item in spec.get("fields") or []:
                yield f"{name}.*.{item.get('name', '')}", item


__all__ = ["ANSWER_TYPES", "Invalid", "Problem", "check", "dump", "load", "normalise", "parse"]
