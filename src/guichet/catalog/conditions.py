"""Conditions: when a field, section or page shows, when a fee applies, when an applicant is not
eligible. A condition is data, never code, so a definition cannot run anything:

    {"field": "has_premises", "equals": true}
    {"all": [cond, ...]}   {"any": [cond, ...]}   {"not": cond}

A comparison names a field by its key, or a part of an address ("address.region"); inside a
repeatable block a name first means the sibling field of the same row. Lists (multiple choices,
a block's rows) compare by their length with gt/gte/lt/lte, and test membership with contains.
"""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

OPERATORS = (
    "equals",
    "not_equals",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "filled",
)
COMBINATORS = ("all", "any", "not")

Lookup = Callable[[str], Any]


def problems(condition: Any, where: str) -> list[tuple[str, str]]:
    """Shape mistakes in a condition, as (path, message); the fields it names are checked by the
    definition's loader, which knows what is declared before it."""
    if not isinstance(condition, dict):
        return [(where, _("a condition is a mapping"))]
    combinators = [key for key in COMBINATORS if key in condition]
    if combinators:
        if len(condition) != 1:
            return [(where, _("all, any or not stands alone in its mapping"))]
        key = combinators[0]
        inner = condition[key]
        if key == "not":
            return problems(inner, f"{where}.not")
        if not isinstance(inner, list) or not inner:
            return [(f"{where}.{key}", _("a non-empty list of conditions"))]
        found: list[tuple[str, str]] = []
        for index, item in enumerate(inner):
            found.extend(problems(item, f"{where}.{key}[{index}]"))
        return found
    if not isinstance(condition.get("field"), str):
        return [(where, _("a comparison names its field: {field: name, equals: value}"))]
    operators = [key for key in condition if key != "field"]
    if len(operators) != 1 or operators[0] not in OPERATORS:
        return [(where, _("exactly one of %(list)s") % {"list": ", ".join(OPERATORS)})]
    operator = operators[0]
    value = condition[operator]
    if operator in ("in", "not_in") and not isinstance(value, list):
        return [(f"{where}.{operator}", _("a list of values"))]
    if operator == "filled" and not isinstance(value, bool):
        return [(f"{where}.{operator}", _("true or false"))]
    return []


def referenced_fields(condition: Any) -> list[str]:
    """Every field path a (well-formed) condition reads."""
    if not isinstance(condition, dict):
        return []
    for key in ("all", "any"):
        if isinstance(condition.get(key), list):
            return [name for item in condition[key] for name in referenced_fields(item)]
    if "not" in condition:
        return referenced_fields(condition["not"])
    field = condition.get("field")
    return [field] if isinstance(field, str) else []


def holds(condition: Any, lookup: Lookup) -> bool:
    """Whether the condition is true for the answers `lookup` reads. No condition is true."""
    if not condition:
        return True
    if "all" in condition:
        return all(holds(item, lookup) for item in condition["all"])
    if "any" in condition:
        return any(holds(item, lookup) for item in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], lookup)
    value = lookup(condition["field"])
    for operator in OPERATORS:
        if operator in condition:
            return _compare(operator, value, condition[operator])
    return False


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(value: Any, expected: Any) -> bool:
    """Equality that forgives the types YAML and forms mix: 2 == "2", 2.0 == 2, "yes" != True."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if value == expected:
        return True
    left, right = _number(value), _number(expected)
    if left is not None and right is not None:
        return left == right
    return str(value) == str(expected) if value is not None else False


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _ordered(operator: str, value: Any, expected: Any) -> bool:
    if isinstance(value, list):
        value = len(value)
    if _empty(value):
        return False
    left, right = _number(value), _number(expected)
    if left is None or right is None:
        # Dates and date-times in ISO form order as strings.
        left_text, right_text = str(value), str(expected)
        return _apply(operator, left_text, right_text)
    return _apply(operator, left, right)


def _apply(operator: str, left: Any, right: Any) -> bool:
    if operator == "gt":
        return bool(left > right)
    if operator == "gte":
        return bool(left >= right)
    if operator == "lt":
        return bool(left < right)
    return bool(left <= right)


def _compare(operator: str, value: Any, expected: Any) -> bool:
    if operator == "filled":
        return (not _empty(value)) is expected
    if operator == "equals":
        return _same(value, expected)
    if operator == "not_equals":
        return not _same(value, expected)
    if operator == "in":
        return any(_same(value, item) for item in expected)
    if operator == "not_in":
        return not any(_same(value, item) for item in expected)
    if operator == "contains":
        if isinstance(value, list):
            return any(_same(item, expected) for item in value)
        return isinstance(value, str) and str(expected) in value
    return _ordered(operator, value, expected)
