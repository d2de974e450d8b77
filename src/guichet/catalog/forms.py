"""The form engine: checks a form definition, and checks an applicant's answers against it.

A definition is a list of fields, each a dict:
    {"name": "birth_date", "type": "date", "label": {"fr": ..., "en": ...}, "required": true,
     "help": {...}, "min": ..., "max": ..., "max_length": ..., "choices": [{"value", "label"}],
     "accept": ["application/pdf", ...], "max_size_mb": 5, "multiple": false,
     "index": "national_id"}
"index" (national_id, email or phone) makes an answer findable by agents by its exact value,
through a blind index; email and phone fields, and a text field named national_id, are indexed
without saying so.
The same engine serves the API (JSON values) and the pages (strings from a POST), so both accept
the same input and give the same errors. The procedure definition language (its own issue) grows
this format; new keys must keep old definitions valid.
"""

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from guichet.catalog.text import translated

FIELD_TYPES = ("text", "textarea", "number", "date", "email", "phone", "choice", "yesno", "file")
INDEX_KINDS = ("national_id", "email", "phone")
DEFAULT_ACCEPT = ("application/pdf", "image/jpeg", "image/png")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Senegal: 9 national digits (77 123 45 67, 33 821 00 00), with or without +221 / 00221.
PHONE_PATTERN = re.compile(r"^(?:\+221|00221)?([37]\d{8})$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Beyond 15 digits a number loses precision in JSON clients (and 1e999999 would take minutes
# to turn into an integer): no procedure needs more.
LARGEST_NUMBER = Decimal("999999999999999")
TRUE_WORDS = {"true", "yes", "oui", "1", "on"}
FALSE_WORDS = {"false", "no", "non", "0", "off"}


class DefinitionError(ValueError):
    """A form definition that cannot be used, with the path of the first mistake."""


def check_definition(fields: Any) -> None:
    if not isinstance(fields, list):
        raise DefinitionError("form: must be a list of fields")
    seen: set[str] = set()
    for index, spec in enumerate(fields):
        where = f"form[{index}]"
        if not isinstance(spec, dict):
            raise DefinitionError(f"{where}: must be a mapping")
        name = spec.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise DefinitionError(f"{where}.name: lower-case letters, digits and _ only")
        if name in seen:
            raise DefinitionError(f"{where}.name: '{name}' is used twice")
        seen.add(name)
        if spec.get("type") not in FIELD_TYPES:
            raise DefinitionError(f"{where}.type: one of {', '.join(FIELD_TYPES)}")
        if not isinstance(spec.get("label"), dict) or not spec["label"].get("fr"):
            raise DefinitionError(f"{where}.label: needs at least a French text")
        if spec["type"] == "choice" and not spec.get("choices"):
            raise DefinitionError(f"{where}.choices: a choice field needs choices")
        if "index" in spec and (
            spec["index"] not in INDEX_KINDS or spec["type"] not in ("text", "email", "phone")
        ):
            raise DefinitionError(
                f"{where}.index: one of {', '.join(INDEX_KINDS)}, on a text, email or phone field"
            )


@dataclass
class Checked:
    """Answers in their stored form, and errors per field name (empty when all is well)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _clean_text(spec: dict[str, Any], value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValidationError(_("Enter text."))
    text = str(value).strip()
    limit = int(spec.get("max_length") or (5000 if spec["type"] == "textarea" else 255))
    if len(text) > limit:
        raise ValidationError(_("At most %(limit)d characters.") % {"limit": limit})
    return text


def _clean_number(spec: dict[str, Any], value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValidationError(_("Enter a number."))
    try:
        number = Decimal(str(value).strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise ValidationError(_("Enter a number.")) from None
    if not number.is_finite():
        raise ValidationError(_("Enter a number."))
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
    return int(number) if number == number.to_integral_value() else float(number)


def _clean_date(spec: dict[str, Any], value: Any) -> str:
    # fromisoformat alone would also take 19940312 or "1994-W11-6": say YYYY-MM-DD, mean it.
    text = value.strip() if isinstance(value, str) else ""
    try:
        if not DATE_PATTERN.match(text):
            raise ValueError(text)
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("Enter a date as YYYY-MM-DD.")) from None
    if spec.get("past_only") and day > datetime.date.today():  # noqa: DTZ011 (a calendar date)
        raise ValidationError(_("The date cannot be in the future."))
    return day.isoformat()


def _clean_email(spec: dict[str, Any], value: Any) -> str:
    text = str(value).strip().lower()
    validate_email(text)
    return text


def _clean_phone(spec: dict[str, Any], value: Any) -> str:
    compact = re.sub(r"[\s.\-()]", "", str(value))
    pattern = spec.get("pattern")
    if pattern:
        if not re.fullmatch(pattern, compact):
            raise ValidationError(_("Enter a valid phone number."))
        return compact
    match = PHONE_PATTERN.match(compact)
    if not match:
        raise ValidationError(_("Enter a Senegalese phone number, e.g. 77 123 45 67."))
    return "+221" + match.group(1)


def _clean_choice(spec: dict[str, Any], value: Any) -> str:
    allowed = [str(choice["value"]) for choice in spec.get("choices", [])]
    if str(value) not in allowed:
        raise ValidationError(_("Select one of the proposed choices."))
    return str(value)


def _clean_yesno(spec: dict[str, Any], value: Any) -> bool:
    if isinstance(value, bool):
        return value
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
    "date": _clean_date,
    "email": _clean_email,
    "phone": _clean_phone,
    "choice": _clean_choice,
    "yesno": _clean_yesno,
}


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
    an API client learns of its typo instead of losing data silently."""
    result = Checked()
    specs = {spec["name"]: spec for spec in fields}
    for name in data:
        if name not in specs:
            result.add_error(name, _("This form has no field with that name."))
        elif specs[name]["type"] == "file":
            result.add_error(name, _("Files are sent as attachments, not as answers."))
    for spec in fields:
        name = spec["name"]
        if spec["type"] == "file":
            if complete and spec.get("required") and not (files or {}).get(name):
                result.add_error(name, _("This document is required."))
            continue
        value = data.get(name)
        if is_empty(value):
            if complete and spec.get("required"):
                result.add_error(name, _("This field is required."))
            continue
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL refuses to store it; Django's own forms refuse it the same way.
            result.add_error(name, _("Null characters are not allowed."))
            continue
        try:
            result.values[name] = CLEANERS[spec["type"]](spec, value)
        except ValidationError as error:
            for message in error.messages:
                result.add_error(name, message)
    return result


def accepted_types(spec: dict[str, Any]) -> tuple[str, ...]:
    return tuple(spec.get("accept") or DEFAULT_ACCEPT)


def max_file_bytes(spec: dict[str, Any]) -> int:
    configured = int(settings.GUICHET_MAX_UPLOAD_BYTES)
    if spec.get("max_size_mb"):
        return min(configured, int(float(spec["max_size_mb"]) * 1024 * 1024))
    return configured


def display_value(spec: dict[str, Any], value: Any) -> str:
    """An answer as a person reads it: the choice's label, Oui/Non, a date."""
    if value is None:
        return ""
    if spec["type"] == "yesno":
        return _("Yes") if value else _("No")
    if spec["type"] == "choice":
        for choice in spec.get("choices", []):
            if str(choice["value"]) == str(value):
                return translated(choice["label"])
    return str(value)
