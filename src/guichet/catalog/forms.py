"""The form engine: checks an applicant's answers against a procedure's form, for the pages and
the API alike, and computes what follows from them (fees, eligibility).

A form is a list of items, each a dict with a `type` (docs/procedure-definitions.md has the
full format). Items are of three kinds:
- layout: `page` starts a page, `section` a titled part of it, `explanation` is text to read;
- answers: text, textarea, number, integer, decimal, date, datetime, email, phone, nin, ninea,
  choice, multichoice, yesno, checkbox, address, and `block`, a repeatable group of fields;
- `file`: documents, sent as attachments rather than as answers.
Every item may carry `visible_if`, a condition on earlier answers (catalog/conditions.py): a
hidden item is neither required nor stored, and a hidden page or section hides what it holds.

Answers are a dict keyed by field name. An address is {"region": "SN-DK", "departement":
"Dakar", "commune": "Plateau"}, a block a list of dicts, a multiple choice a list of values.
Errors are keyed by the answer's dotted path: "children.2.birth_date", "address.departement".
The same engine serves JSON values (API) and strings from a POST (pages), so both accept the
same input and give the same errors. The definition itself is checked by catalog/definition.py.
"""

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from guichet.catalog import referentials
from guichet.catalog.conditions import holds
from guichet.catalog.patterns import PatternTimeout, full_match
from guichet.catalog.text import translated

LAYOUT_TYPES = ("page", "section", "explanation")
ANSWER_TYPES = (
    "text",
    "textarea",
    "number",
    "integer",
    "decimal",
    "date",
    "datetime",
    "email",
    "phone",
    "nin",
    "ninea",
    "choice",
    "multichoice",
    "yesno",
    "checkbox",
    "address",
)
FIELD_TYPES = (*ANSWER_TYPES, "block", "file", *LAYOUT_TYPES)
# What a repeatable block may hold: answers and explanations, no files, pages or nested blocks.
BLOCK_TYPES = (*ANSWER_TYPES, "explanation")
INDEX_KINDS = ("national_id", "email", "phone")
DEFAULT_ACCEPT = ("application/pdf", "image/jpeg", "image/png")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Keys of the errors dictionary that are not fields: a field may not take these names.
RESERVED_NAMES = ("eligibility",)
# Senegal: 9 national digits (77 123 45 67, 33 821 00 00), with or without +221 / 00221.
PHONE_PATTERN = re.compile(r"^(?:\+221|00221)?([37]\d{8})$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")
# The NIN of Senegal's ECOWAS identity card has 13 digits; the card's own number 17.
NIN_PATTERN = re.compile(r"^(\d{13}|\d{17})$")
# NINEA: 7 to 9 digits, optionally followed by the 3-character tax code (COFI), e.g. 2G3.
NINEA_PATTERN = re.compile(r"^(\d{7,9})([0-9][A-Z][0-9])?$")
# Beyond 15 digits a number loses precision in JSON clients (and 1e999999 would take minutes
# to turn into an integer): no procedure needs more.
LARGEST_NUMBER = Decimal("999999999999999")
TRUE_WORDS = {"true", "yes", "oui", "1", "on", "waaw"}
FALSE_WORDS = {"false", "no", "non", "0", "off", "deedet"}
DEFAULT_LENGTH = {"text": 255, "textarea": 5000}
ADDRESS_PARTS = ("region", "departement", "commune")
COMMUNE_LENGTH = 100
ELIGIBILITY = "eligibility"


class DefinitionError(ValueError):
    """A form definition that cannot be used, with the path of the first mistake."""


def check_definition(fields: Any) -> None:
    """Raise DefinitionError on the first mistake of a form (a list of items)."""
    from guichet.catalog.definition import form_problems

    found = form_problems(fields)
    if found:
        path, message = found[0]
        raise DefinitionError(f"{path}: {message}")


@dataclass
class Checked:
    """Answers in their stored form, and errors per answer path (empty when all is well)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


# --- Walking a form -----------------------------------------------------------------------------


def answer_fields(form: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items holding an answer (blocks included), in order; files and layout left out."""
    return [
        spec for spec in form if spec.get("type") in ANSWER_TYPES or spec.get("type") == "block"
    ]


def file_fields(form: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [spec for spec in form if spec.get("type") == "file"]


def find_field(form: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for spec in form:
        if spec.get("name") == name and spec.get("type") not in LAYOUT_TYPES:
            return spec
    return None


def pages(form: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The form cut at each `page` item; each page starts with its `page` item if it has one."""
    result: list[list[dict[str, Any]]] = [[]]
    for spec in form:
        if spec.get("type") == "page" and result[-1]:
            result.append([])
        result[-1].append(spec)
    return result


def choices(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A choice field's options: its own list, or its referential's."""
    if spec.get("referential"):
        return referentials.choices_of(str(spec["referential"]))
    return list(spec.get("choices") or [])


def _lookup(values: dict[str, Any], row: dict[str, Any] | None, row_names: set[str]) -> Any:
    def lookup(path: str) -> Any:
        head, _dot, rest = path.partition(".")
        source = row if row is not None and head in row_names else values
        value = source.get(head) if source is not None else None
        if rest and isinstance(value, dict):
            return value.get(rest)
        return None if rest else value

    return lookup


def visible_items(
    items: list[dict[str, Any]],
    values: dict[str, Any],
    row: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """The items shown for these answers: a hidden page or section hides what follows it, up to
    the next page (or section). Conditions read `values` (and `row`, inside a block)."""
    row_names = {str(spec.get("name")) for spec in items} if row is not None else set()
    lookup = _lookup(values, row, row_names)
    page_shown = section_shown = True
    for spec in items:
        kind = spec.get("type")
        shown = holds(spec.get("visible_if"), lookup)
        if kind == "page":
            page_shown, section_shown = shown, True
        elif kind == "section":
            section_shown = shown
        if page_shown and section_shown and shown:
            yield spec


# --- Cleaning one value -------------------------------------------------------------------------


def is_empty(value: Any) -> bool:
    if value is None or value == [] or value == {}:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, dict) and set(value) <= set(ADDRESS_PARTS):
        return all(is_empty(part) for part in value.values())
    return False


def _text_of(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValidationError(_("Enter text."))
    return str(value).strip()


def _matches(pattern: Any, text: str) -> bool:
    """The designer's pattern on the answer, within its time limit (catalog/patterns.py)."""
    try:
        return full_match(str(pattern), text)
    except PatternTimeout:
        raise ValidationError(
            _(
                "This answer could not be checked against the expected format. Shorten it, "
                "or contact the administration if it is right."
            )
        ) from None


def _check_pattern(spec: dict[str, Any], text: str) -> None:
    pattern = spec.get("pattern")
    if pattern and not _matches(pattern, text):
        message = translated(spec.get("pattern_message")) or _("The format is not valid.")
        raise ValidationError(message)


def _clean_text(spec: dict[str, Any], value: Any) -> str:
    text = _text_of(value)
    limit = int(spec.get("max_length") or DEFAULT_LENGTH.get(spec["type"], 255))
    if len(text) > limit:
        raise ValidationError(_("At most %(limit)d characters.") % {"limit": limit})
    shortest = spec.get("min_length")
    if shortest and len(text) < int(shortest):
        raise ValidationError(_("At least %(limit)d characters.") % {"limit": int(shortest)})
    _check_pattern(spec, text)
    return text


def _decimal_of(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValidationError(_("Enter a number."))
    try:
        number = Decimal(str(value).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ValidationError(_("Enter a number.")) from None
    if not number.is_finite():
        raise ValidationError(_("Enter a number."))
    return number


def _check_bounds(spec: dict[str, Any], number: Decimal) -> None:
    if spec.get("min") is not None and number < Decimal(str(spec["min"])):
        raise ValidationError(_("The smallest value allowed is %(min)s.") % {"min": spec["min"]})
    if spec.get("max") is not None and number > Decimal(str(spec["max"])):
        raise ValidationError(_("The largest value allowed is %(max)s.") % {"max": spec["max"]})
    if number > LARGEST_NUMBER:
        raise ValidationError(_("The largest value allowed is %(max)s.") % {"max": LARGEST_NUMBER})
    if number < -LARGEST_NUMBER:
        raise ValidationError(
            _("The smallest value allowed is %(min)s.") % {"min": -LARGEST_NUMBER}
        )


def _clean_number(spec: dict[str, Any], value: Any) -> int | float:
    number = _decimal_of(value)
    _check_bounds(spec, number)
    if spec["type"] == "integer" and number != number.to_integral_value():
        raise ValidationError(_("Enter a whole number."))
    places = spec.get("decimals")
    if spec["type"] == "decimal" and places is not None:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > int(places):
            raise ValidationError(
                _("At most %(places)d digits after the decimal point.") % {"places": int(places)}
            )
    return int(number) if number == number.to_integral_value() else float(number)


def _today() -> datetime.date:
    return datetime.date.today()  # noqa: DTZ011 (a calendar date, compared with calendar dates)


def _bound_date(bound: Any) -> str:
    return _today().isoformat() if bound == "today" else str(bound)


def _check_date_bounds(spec: dict[str, Any], text: str) -> None:
    # ISO dates and date-times order as strings; "today" is today's date.
    if spec.get("min") is not None and text < _bound_date(spec["min"]):
        raise ValidationError(_("The earliest allowed is %(min)s.") % {"min": spec["min"]})
    if spec.get("max") is not None and text[:10] > _bound_date(spec["max"]):
        raise ValidationError(_("The latest allowed is %(max)s.") % {"max": spec["max"]})


def _clean_date(spec: dict[str, Any], value: Any) -> str:
    # fromisoformat alone would also take 19940312 or "1994-W11-6": say YYYY-MM-DD, mean it.
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not DATE_PATTERN.match(text):
            raise ValueError(text)
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("Enter a date as YYYY-MM-DD.")) from None
    if spec.get("past_only") and day > _today():
        raise ValidationError(_("The date cannot be in the future."))
    _check_date_bounds(spec, day.isoformat())
    return day.isoformat()


def _clean_datetime(spec: dict[str, Any], value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    match = DATETIME_PATTERN.match(text)
    try:
        if not match:
            raise ValueError(text)
        moment = datetime.datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}")
    except ValueError:
        raise ValidationError(_("Enter a date and time as YYYY-MM-DD HH:MM.")) from None
    stored = moment.strftime("%Y-%m-%dT%H:%M")
    _check_date_bounds(spec, stored)
    return stored


def _clean_email(spec: dict[str, Any], value: Any) -> str:
    text = _text_of(value).lower()
    validate_email(text)
    return text


def _clean_phone(spec: dict[str, Any], value: Any) -> str:
    compact = re.sub(r"[\s.\-()]", "", _text_of(value))
    if spec.get("pattern"):
        if not _matches(spec["pattern"], compact):
            message = translated(spec.get("pattern_message")) or _("Enter a valid phone number.")
            raise ValidationError(message)
        return compact
    match = PHONE_PATTERN.match(compact)
    if not match:
        raise ValidationError(_("Enter a Senegalese phone number, e.g. 77 123 45 67."))
    return "+221" + match.group(1)


def _clean_nin(spec: dict[str, Any], value: Any) -> str:
    digits = re.sub(r"[\s.\-/]", "", _text_of(value))
    if not NIN_PATTERN.match(digits) or not digits.isascii():
        raise ValidationError(_("A national identification number has 13 digits."))
    return digits


def _clean_ninea(spec: dict[str, Any], value: Any) -> str:
    compact = re.sub(r"[\s.\-/]", "", _text_of(value)).upper()
    if not NINEA_PATTERN.match(compact) or not compact.isascii():
        raise ValidationError(_("A NINEA has 7 to 9 digits, then its 3-character tax code."))
    return compact


def _allowed(spec: dict[str, Any]) -> dict[str, str]:
    return {str(choice["value"]): str(choice["value"]) for choice in choices(spec)}


def _clean_choice(spec: dict[str, Any], value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValidationError(_("Select one of the proposed choices."))
    if str(value) not in _allowed(spec):
        raise ValidationError(_("Select one of the proposed choices."))
    return str(value)


def _clean_multichoice(spec: dict[str, Any], value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    allowed = _allowed(spec)
    picked: list[str] = []
    for item in items:
        if is_empty(item):
            continue
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise ValidationError(_("Select among the proposed choices."))
        if str(item) not in allowed:
            raise ValidationError(_("Select among the proposed choices."))
        if str(item) not in picked:
            picked.append(str(item))
    if spec.get("min_choices") and len(picked) < int(spec["min_choices"]):
        raise ValidationError(_("Select at least %(n)d.") % {"n": int(spec["min_choices"])})
    if spec.get("max_choices") and len(picked) > int(spec["max_choices"]):
        raise ValidationError(_("Select at most %(n)d.") % {"n": int(spec["max_choices"])})
    return picked


def _clean_yesno(spec: dict[str, Any], value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str | int):
        raise ValidationError(_("Answer yes or no."))
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(_("Answer yes or no."))


CLEANERS = {
    "text": _clean_text,
    "textarea": _clean_text,
    "number": _clean_number,
    "integer": _clean_number,
    "decimal": _clean_number,
    "date": _clean_date,
    "datetime": _clean_datetime,
    "email": _clean_email,
    "phone": _clean_phone,
    "nin": _clean_nin,
    "ninea": _clean_ninea,
    "choice": _clean_choice,
    "multichoice": _clean_multichoice,
    "yesno": _clean_yesno,
    "checkbox": _clean_yesno,
}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(item) for item in value.values())
    return False


# --- Checking answers ---------------------------------------------------------------------------


class _Checker:
    """One pass over the visible items; conditions read the answers cleaned so far, which is
    why a condition may only name a field declared before it (the loader makes sure)."""

    def __init__(self, complete: bool, files: dict[str, int] | None) -> None:
        self.complete = complete
        self.files = files or {}
        self.result = Checked()

    def check(self, form: list[dict[str, Any]], data: dict[str, Any]) -> Checked:
        known = {
            str(spec.get("name")): spec for spec in form if spec.get("type") not in LAYOUT_TYPES
        }
        for name in data:
            if name not in known:
                self.result.add_error(name, _("This form has no field with that name."))
            elif known[name]["type"] == "file":
                self.result.add_error(name, _("Files are sent as attachments, not as answers."))
        values = self.result.values
        for spec in visible_items(form, values):
            kind = spec["type"]
            name = spec.get("name", "")
            if kind in LAYOUT_TYPES:
                continue
            if kind == "file":
                if self.complete and spec.get("required") and not self.files.get(name):
                    self.result.add_error(name, _("This document is required."))
                continue
            if name in self.result.errors:
                continue  # already refused above (a file given as an answer)
            if kind == "block":
                self._block(spec, data.get(name), values)
            else:
                self._one(spec, data.get(name), name, values)
        return self.result

    def _one(self, spec: dict[str, Any], value: Any, path: str, into: dict[str, Any]) -> None:
        if is_empty(value):
            if self.complete and spec.get("required"):
                self.result.add_error(path, _("This field is required."))
            return
        if _has_nul(value):
            # PostgreSQL refuses to store it; Django's own forms refuse it the same way.
            self.result.add_error(path, _("Null characters are not allowed."))
            return
        if spec["type"] == "address":
            self._address(spec, value, path, into)
            return
        try:
            cleaned = CLEANERS[spec["type"]](spec, value)
        except ValidationError as error:
            for message in error.messages:
                self.result.add_error(path, message)
            return
        if spec["type"] == "checkbox" and cleaned is False:
            if self.complete and spec.get("required"):
                self.result.add_error(path, _("Tick this box to go on."))
            return  # an unticked box is no answer
        if spec["type"] == "multichoice" and not cleaned:
            if self.complete and spec.get("required"):
                self.result.add_error(path, _("This field is required."))
            return
        into[spec["name"]] = cleaned

    def _address(self, spec: dict[str, Any], value: Any, path: str, into: dict[str, Any]) -> None:
        if not isinstance(value, dict) or not set(value) <= set(ADDRESS_PARTS):
            self.result.add_error(path, _("An address has a region, a département and a commune."))
            return
        parts = {key: value.get(key) for key in ADDRESS_PARTS}
        stored: dict[str, str] = {}
        for key in ADDRESS_PARTS:
            part = parts[key]
            if is_empty(part):
                continue
            if not isinstance(part, str):
                self.result.add_error(f"{path}.{key}", _("Enter text."))
                return
            stored[key] = part.strip()
        region, departement = stored.get("region"), stored.get("departement")
        if region is not None and region not in referentials.regions():
            self.result.add_error(f"{path}.region", _("Choose one of the regions."))
            return
        if departement is not None:
            allowed = referentials.departements().get(region or "", ())
            if departement not in allowed:
                self.result.add_error(
                    f"{path}.departement", _("Choose a département of the chosen region.")
                )
                return
        if len(stored.get("commune", "")) > COMMUNE_LENGTH:
            self.result.add_error(
                f"{path}.commune", _("At most %(limit)d characters.") % {"limit": COMMUNE_LENGTH}
            )
            return
        if self.complete:
            needed = ["region", "departement"] + (
                ["commune"] if spec.get("commune_required") else []
            )
            for key in needed:
                if key not in stored:
                    self.result.add_error(f"{path}.{key}", _("This field is required."))
            if any(f"{path}.{key}" in self.result.errors for key in needed):
                return
        into[spec["name"]] = stored

    def _block(self, spec: dict[str, Any], value: Any, values: dict[str, Any]) -> None:
        name = spec["name"]
        rows = [] if value is None else value
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            self.result.add_error(name, _("A repeatable block takes a list of rows."))
            return
        # A row with no answer at all is a row the applicant left blank: not a row.
        rows = [row for row in rows if not all(is_empty(v) for v in row.values())]
        most = spec.get("max_rows")
        if most is not None and len(rows) > int(most):
            self.result.add_error(name, _("At most %(n)d rows.") % {"n": int(most)})
            return
        least = int(spec.get("min_rows") or (1 if spec.get("required") else 0))
        if self.complete and len(rows) < least:
            self.result.add_error(name, _("At least %(n)d rows.") % {"n": least})
        nested = spec.get("fields") or []
        names = {str(item.get("name")) for item in nested if item.get("type") != "explanation"}
        cleaned_rows: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            prefix = f"{name}.{index}"
            for key in row:
                if key not in names:
                    self.result.add_error(
                        f"{prefix}.{key}", _("This form has no field with that name.")
                    )
            cleaned: dict[str, Any] = {}
            for item in visible_items(nested, values, cleaned):
                if item["type"] == "explanation":
                    continue
                self._one(item, row.get(item["name"]), f"{prefix}.{item['name']}", cleaned)
            cleaned_rows.append(cleaned)
        if cleaned_rows:
            values[name] = cleaned_rows


def check_answers(
    fields: list[dict[str, Any]],
    data: dict[str, Any],
    *,
    complete: bool,
    files: dict[str, int] | None = None,
) -> Checked:
    """Check answers. With complete=False (saving a draft) missing answers are fine; with
    complete=True (submitting) required fields and required files must be there. `files` gives
    how many attachments each file field already has. Unknown keys are errors, not dropped, so
    an API client learns of its typo instead of losing data silently; answers to hidden fields
    are dropped, since the applicant could not see them."""
    return _Checker(complete, files).check(fields, data)


# --- What follows from the answers --------------------------------------------------------------


def _root_lookup(values: dict[str, Any]) -> Any:
    return _lookup(values, None, set())


def compute_fee(fees: Any, values: dict[str, Any]) -> int:
    """The amount due in CFA francs: the base `amount`, plus each `add` rule whose `when` holds,
    multiplied by a number answer or a block's row count when it names one with `per`."""
    if not isinstance(fees, dict):
        return 0
    total = Decimal(str(fees.get("amount") or 0))
    lookup = _root_lookup(values)
    for rule in fees.get("add") or []:
        if not holds(rule.get("when"), lookup):
            continue
        amount = Decimal(str(rule.get("amount") or 0))
        per = rule.get("per")
        if per:
            quantity = lookup(str(per))
            if isinstance(quantity, list):
                amount *= len(quantity)
            elif isinstance(quantity, int | float) and not isinstance(quantity, bool):
                amount *= Decimal(str(quantity))
            else:
                amount = Decimal(0)
        total += amount
    return max(0, int(total))


def ineligibility(rules: Any, values: dict[str, Any]) -> list[str]:
    """The messages of every eligibility rule whose `refuse_if` holds for these answers."""
    lookup = _root_lookup(values)
    return [
        translated(rule.get("message")) or _("You are not eligible for this procedure.")
        for rule in rules or []
        if isinstance(rule, dict) and rule.get("refuse_if") and holds(rule["refuse_if"], lookup)
    ]


# --- Files and display --------------------------------------------------------------------------


def accepted_types(spec: dict[str, Any]) -> tuple[str, ...]:
    return tuple(spec.get("accept") or DEFAULT_ACCEPT)


def max_file_bytes(spec: dict[str, Any]) -> int:
    configured = int(settings.GUICHET_MAX_UPLOAD_BYTES)
    if spec.get("max_size_mb"):
        return min(configured, int(float(spec["max_size_mb"]) * 1024 * 1024))
    return configured


def _choice_label(spec: dict[str, Any], value: Any) -> str:
    for choice in choices(spec):
        if str(choice["value"]) == str(value):
            return translated(choice.get("label")) or str(value)
    return str(value)


def display_value(spec: dict[str, Any], value: Any) -> str:
    """An answer as a person reads it: the choice's label, Oui/Non, an address on one line."""
    if value is None:
        return ""
    kind = spec["type"]
    if kind in ("yesno", "checkbox"):
        return _("Yes") if value else _("No")
    if kind == "choice":
        return _choice_label(spec, value)
    if kind == "multichoice" and isinstance(value, list):
        return ", ".join(_choice_label(spec, item) for item in value)
    if kind == "address" and isinstance(value, dict):
        region = referentials.regions().get(str(value.get("region")), value.get("region"))
        parts = [value.get("commune"), value.get("departement"), region]
        return ", ".join(str(part) for part in parts if part)
    if kind == "block" and isinstance(value, list):
        return _("%(n)d rows") % {"n": len(value)}
    return str(value)
