"""What the dossier pages render from a procedure's field definitions.

The form engine (catalog/forms.py) checks the answers; this module only prepares inputs for the
templates: ids, current or typed values, errors and options. A page that failed keeps what the
person typed, so the values come from the POST when there is one, else from the stored answers.
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _

from guichet.catalog.forms import accepted_types, display_value, max_file_bytes
from guichet.catalog.forms_web import type_names
from guichet.catalog.text import translated
from guichet.dossiers.models import Attachment

INPUT_TYPES = {"text": "text", "number": "text", "date": "date", "email": "email", "phone": "tel"}
INPUT_MODES = {"number": "decimal", "phone": "tel"}
# Up to this many choices show as radio buttons (all visible at once); more become a list.
RADIO_LIMIT = 4


@dataclass
class Option:
    value: str
    label: str
    id: str


@dataclass
class FieldView:
    name: str
    type: str
    label: str
    hint: str
    required: bool
    widget: str
    value: str = ""
    display: str = ""
    input_type: str = "text"
    input_mode: str = ""
    max_length: int | None = None
    errors: list[str] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    accept: str = ""
    types: str = ""
    max_mb: float = 0
    multiple: bool = False

    @property
    def id(self) -> str:
        return f"field-{self.name}"

    @property
    def error_id(self) -> str:
        return f"field-{self.name}-error"

    @property
    def hint_id(self) -> str:
        return f"field-{self.name}-hint"

    @property
    def described_by(self) -> str:
        ids = [self.hint_id] if self.hint or self.type == "file" else []
        if self.errors:
            ids.append(self.error_id)
        return " ".join(ids)


def form_value(spec: dict[str, Any], stored: Any) -> str:
    """A stored answer as the string an input shows: yes/no for booleans, "" for nothing."""
    if stored is None:
        return ""
    if spec["type"] == "yesno" and isinstance(stored, bool):
        return "yes" if stored else "no"
    return str(stored)


def _options(spec: dict[str, Any], name: str) -> list[Option]:
    if spec["type"] == "yesno":
        pairs = [("yes", _("Yes")), ("no", _("No"))]
    else:
        pairs = [(str(c["value"]), translated(c["label"])) for c in spec.get("choices", [])]
    return [Option(value, label, f"field-{name}-{i}") for i, (value, label) in enumerate(pairs)]


def _display(spec: dict[str, Any], stored: Any) -> str:
    """The answer as a person reads it; dates in the reader's language ("12 mars 1994")."""
    if spec["type"] == "date" and isinstance(stored, str):
        try:
            return date_format(datetime.date.fromisoformat(stored), "DATE_FORMAT")
        except ValueError:
            return stored
    return display_value(spec, stored)


def _default_hint(spec: dict[str, Any]) -> str:
    if spec["type"] == "phone" and not spec.get("pattern"):
        return _("A Senegalese number, for example 77 123 45 67.")
    return ""


def _widget(spec: dict[str, Any]) -> str:
    kind = str(spec["type"])
    if kind == "textarea" or kind == "file":
        return kind
    if kind == "yesno":
        return "radios"
    if kind == "choice":
        return "radios" if len(spec.get("choices", [])) <= RADIO_LIMIT else "select"
    return "input"


def build_fields(
    form: Iterable[dict[str, Any]],
    stored: dict[str, Any],
    *,
    errors: Mapping[str, list[str]] | None = None,
    typed: dict[str, Any] | None = None,
    attachments: Iterable[Attachment] = (),
) -> list[FieldView]:
    """One FieldView per definition, in the procedure's order."""
    errors = errors or {}
    by_field: dict[str, list[Attachment]] = {}
    for attachment in attachments:
        by_field.setdefault(attachment.field, []).append(attachment)
    views = []
    for spec in form:
        name = spec["name"]
        view = FieldView(
            name=name,
            type=spec["type"],
            label=translated(spec["label"]),
            hint=translated(spec.get("help")) or _default_hint(spec),
            required=bool(spec.get("required")),
            widget=_widget(spec),
            errors=list(errors.get(name, [])),
        )
        if spec["type"] == "file":
            view.attachments = by_field.get(name, [])
            view.accept = ",".join(accepted_types(spec))
            view.types = type_names(spec)
            view.max_mb = round(max_file_bytes(spec) / 1048576, 1)
            view.multiple = bool(spec.get("multiple"))
        else:
            view.value = (
                str(typed.get(name, ""))
                if typed is not None
                else form_value(spec, stored.get(name))
            )
            view.display = _display(spec, stored.get(name))
            view.input_type = INPUT_TYPES.get(spec["type"], "text")
            view.input_mode = INPUT_MODES.get(spec["type"], "")
            view.max_length = int(spec["max_length"]) if spec.get("max_length") else None
            if view.widget in ("radios", "select"):
                view.options = _options(spec, name)
        views.append(view)
    return views


def answers_from_post(form: Iterable[dict[str, Any]], post: dict[str, Any]) -> dict[str, str]:
    """Every answer field of the form, "" for one left empty so saving clears it."""
    return {
        spec["name"]: str(post.get(spec["name"], "")) for spec in form if spec["type"] != "file"
    }
