"""Rendering a procedure's form: the same engine for the applicant's pages and the designer's
preview, without JavaScript.

`build_form` turns a form and answers into views the templates under catalog/form/ draw
(`{% include "catalog/form/_form.html" with form_view=view %}`, each item drawn by
widgets.py); `answers_from_post` turns
the POST of that form back into answers for the engine (catalog/forms.py), in the shapes the
API takes. Conditions are evaluated on the server: a question that depends on another shows
once the answers are saved (the page says so), so no script is needed. A page that failed
keeps what the person typed: values come from the POST when there is one, else the answers.

Input names are the answers' dotted paths: "birth_place.region", "children.2.first_name", so
an error's key is also the id of the input it belongs to ("field-children.2.first_name").
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.template.loader import render_to_string
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from guichet.catalog import referentials
from guichet.catalog.forms import (
    ADDRESS_PARTS,
    LAYOUT_TYPES,
    accepted_types,
    choices,
    display_value,
    max_file_bytes,
    pages,
    visible_items,
)
from guichet.catalog.forms_web import type_names
from guichet.catalog.text import translated
from guichet.catalog.widgets import format_html_join, render_item, render_items

INPUT_TYPES = {
    "text": "text",
    "number": "text",
    "integer": "text",
    "decimal": "text",
    "date": "date",
    "datetime": "datetime-local",
    "email": "email",
    "phone": "tel",
    "nin": "text",
    "ninea": "text",
}
INPUT_MODES = {
    "number": "decimal",
    "integer": "numeric",
    "decimal": "decimal",
    "phone": "tel",
    "nin": "numeric",
}
AUTOCOMPLETE = {"email": "email", "phone": "tel"}
# Up to this many choices show as radio buttons (all visible at once); more become a list.
RADIO_LIMIT = 5
# A POST may not make the server build more rows than this, whatever the block allows.
MOST_ROWS = 100


@dataclass
class Option:
    value: str
    label: str
    id: str
    selected: bool = False


@dataclass
class Group:
    label: str
    options: list[Option]


@dataclass
class FieldView:
    name: str
    type: str
    label: str
    hint: str = ""
    required: bool = False
    widget: str = "input"
    value: str = ""
    display: str = ""
    input_type: str = "text"
    input_mode: str = ""
    autocomplete: str = ""
    max_length: int | None = None
    errors: list[str] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    parts: list["FieldView"] = field(default_factory=list)
    rows: list["RowView"] = field(default_factory=list)
    attachments: list[Any] = field(default_factory=list)
    accept: str = ""
    types: str = ""
    max_mb: float = 0
    multiple: bool = False
    can_add: bool = False
    text: str = ""
    editable: bool = True
    # Options drawn once and reused (the address lists), instead of `options` and `groups`.
    prepared: SafeString | None = None

    @property
    def html(self) -> SafeString:
        return render_item(self, self.editable)

    @property
    def id(self) -> str:
        return f"field-{self.name}"

    @property
    def options_html(self) -> SafeString:
        """A list's <option>s (in <optgroup>s when grouped), built here rather than in the
        template: an address offers 60 of them, and a loop of template tags per option is
        most of a long form's rendering time."""
        if self.prepared is not None:
            return self.prepared
        if self.groups:
            return format_html_join(
                "",
                '<optgroup label="{}">{}</optgroup>',
                ((group.label, _options_html(group.options)) for group in self.groups),
            )
        return _options_html(self.options)

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


@lru_cache(maxsize=64)
def _region_options(selected: str) -> SafeString:
    return _options_html(
        [Option(code, name, "", code == selected) for code, name in referentials.regions().items()]
    )


@lru_cache(maxsize=256)
def _departement_options(region: str, selected: str) -> SafeString:
    names = referentials.regions()
    groups = [
        Group(names[code], [Option(d, d, "", d == selected and code == region) for d in ds])
        for code, ds in referentials.departements().items()
    ]
    return format_html_join(
        "",
        '<optgroup label="{}">{}</optgroup>',
        ((group.label, _options_html(group.options)) for group in groups),
    )


def _options_html(options: list[Option]) -> SafeString:
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((o.value, SELECTED if o.selected else "", o.label) for o in options),
    )


SELECTED = mark_safe(" selected")


@dataclass
class RowView:
    index: int
    label: str
    items: list[FieldView]
    remove: str


@dataclass
class PageView:
    title: str
    items: list[FieldView]
    editable: bool = True
    # Where the page stands in forms.pages(form), hidden pages counted: unlike its rank among
    # the visible pages, it does not move when an answer shows or hides another page.
    position: int = 0

    @property
    def html(self) -> SafeString:
        return render_items(self.items, self.editable)

    @property
    def names(self) -> set[str]:
        """Every input name on the page, down to a block's rows and an address's parts."""
        found: set[str] = set()

        def walk(views: Iterable[FieldView]) -> None:
            for view in views:
                found.add(view.name)
                walk(view.parts)
                for row in view.rows:
                    walk(row.items)

        walk(self.items)
        return found


@dataclass
class FormView:
    pages: list[PageView]
    has_conditions: bool
    # Every view by input name, for the error summary's labels and links.
    index: dict[str, FieldView]

    @property
    def items(self) -> list[FieldView]:
        return [item for page in self.pages for item in page.items]

    @property
    def answers(self) -> list[FieldView]:
        return [item for item in self.items if item.type not in (*LAYOUT_TYPES, "file")]

    @property
    def documents(self) -> list[FieldView]:
        return [item for item in self.items if item.type == "file"]

    @property
    def steps(self) -> list[PageView]:
        """The pages an applicant goes through one at a time: those with something on them."""
        return [page for page in self.pages if page.items]

    def step_of(self, name: str) -> int:
        """The step (from 1) showing the answer at this dotted path, 0 when none shows it."""
        head = name.split(".", 1)[0]
        for number, page in enumerate(self.steps, start=1):
            if any(item.name == head for item in page.items):
                return number
        return 0


def form_value(spec: dict[str, Any], stored: Any) -> str:
    """A stored answer as the string an input shows: yes/no for booleans, "" for nothing."""
    if stored is None:
        return ""
    if spec["type"] in ("yesno", "checkbox") and isinstance(stored, bool):
        return "yes" if stored else ("no" if spec["type"] == "yesno" else "")
    if spec["type"] == "datetime" and isinstance(stored, str):
        return stored[:16]
    if isinstance(stored, list | dict):
        return ""
    return str(stored)


def _display(spec: dict[str, Any], stored: Any) -> str:
    """The answer as a person reads it; dates in the reader's language ("12 mars 1994")."""
    if spec["type"] == "date" and isinstance(stored, str):
        try:
            return date_format(datetime.date.fromisoformat(stored), "DATE_FORMAT")
        except ValueError:
            return stored
    return display_value(spec, stored)


def _default_hint(spec: dict[str, Any]) -> str:
    kind = spec["type"]
    if kind == "phone" and not spec.get("pattern"):
        return _("A Senegalese number, for example 77 123 45 67.")
    if kind == "nin":
        return _("13 digits.")
    if kind == "ninea":
        return _("For example 005871234 2G3.")
    if kind == "datetime":
        return _("Date and time, e.g. 2026-03-12 14:30.")
    return ""


def _widget(spec: dict[str, Any]) -> str:
    kind = str(spec["type"])
    if kind in ("textarea", "file", "address", "block", "checkbox", *LAYOUT_TYPES):
        return kind
    if kind == "yesno":
        return "radios"
    if kind == "choice":
        return "radios" if len(choices(spec)) <= RADIO_LIMIT else "select"
    if kind == "multichoice":
        return "checkboxes"
    return "input"


class _Builder:
    def __init__(
        self,
        errors: Mapping[str, list[str]],
        attachments: Iterable[Any],
        add_row: str,
        stored: dict[str, Any],
        editable: bool = True,
    ) -> None:
        self.editable = editable
        self.errors = errors
        self.stored = stored
        self.add_row = add_row
        self.index: dict[str, FieldView] = {}
        self.by_field: dict[str, list[Any]] = {}
        for attachment in attachments:
            self.by_field.setdefault(attachment.field, []).append(attachment)

    def item(self, spec: dict[str, Any], value: Any, stored: Any, path: str) -> FieldView:
        kind = spec["type"]
        view = FieldView(
            name=path,
            type=kind,
            label=translated(spec.get("label")),
            hint=translated(spec.get("help")) or _default_hint(spec),
            required=bool(spec.get("required")),
            widget=_widget(spec),
            errors=list(self.errors.get(path, [])),
            editable=self.editable,
        )
        self.index[path] = view
        if kind in LAYOUT_TYPES:
            view.text = translated(spec.get("text"))
        elif kind == "file":
            view.attachments = self.by_field.get(path, [])
            view.accept = ",".join(accepted_types(spec))
            view.types = type_names(spec)
            view.max_mb = round(max_file_bytes(spec) / 1048576, 1)
            view.multiple = bool(spec.get("multiple"))
        elif kind == "address":
            self._address(view, value if isinstance(value, dict) else {})
            view.display = _display(spec, stored)
        elif kind == "block":
            self._block(view, spec, value, stored)
            view.display = _display(spec, stored)
        else:
            view.display = _display(spec, stored)
            view.input_type = INPUT_TYPES.get(kind, "text")
            view.input_mode = INPUT_MODES.get(kind, "")
            view.autocomplete = AUTOCOMPLETE.get(kind, "")
            view.max_length = int(spec["max_length"]) if spec.get("max_length") else None
            self._value(view, spec, value)
        return view

    def _value(self, view: FieldView, spec: dict[str, Any], value: Any) -> None:
        kind = spec["type"]
        if kind == "multichoice":
            picked = {str(v) for v in value} if isinstance(value, list) else set()
            view.options = self._options(spec, view.name, picked)
            return
        view.value = value if isinstance(value, str) else form_value(spec, value)
        if kind == "yesno":
            view.options = [
                Option(v, label, f"{view.id}-{i}", v == view.value)
                for i, (v, label) in enumerate((("yes", _("Yes")), ("no", _("No"))))
            ]
        elif kind == "choice":
            view.options = self._options(spec, view.name, {view.value})

    def _options(self, spec: dict[str, Any], name: str, picked: set[str]) -> list[Option]:
        return [
            Option(
                str(choice["value"]),
                translated(choice.get("label")) or str(choice["value"]),
                f"field-{name}-{i}",
                str(choice["value"]) in picked,
            )
            for i, choice in enumerate(choices(spec))
        ]

    def _address(self, view: FieldView, value: dict[str, Any]) -> None:
        region = str(value.get("region") or "")
        departement = str(value.get("departement") or "")
        parts = {
            "region": FieldView(
                name=f"{view.name}.region",
                type="choice",
                label=_("Region"),
                widget="select",
                value=region,
                prepared=_region_options(region),
            ),
            "departement": FieldView(
                name=f"{view.name}.departement",
                type="choice",
                label=_("Département"),
                widget="select",
                value=departement,
                prepared=_departement_options(region, departement),
            ),
            "commune": FieldView(
                name=f"{view.name}.commune",
                type="text",
                label=_("Commune"),
                value=str(value.get("commune") or ""),
                max_length=100,
            ),
        }
        for key in ADDRESS_PARTS:
            part = parts[key]
            part.errors = list(self.errors.get(part.name, []))
            part.required = view.required and key != "commune"
            self.index[part.name] = part
        view.parts = [parts[key] for key in ADDRESS_PARTS]
        view.errors += [m for part in view.parts for m in part.errors]

    def _block(self, view: FieldView, spec: dict[str, Any], value: Any, stored: Any) -> None:
        rows = [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []
        stored_rows = stored if isinstance(stored, list) else []
        least = int(spec.get("min_rows") or (1 if spec.get("required") else 0))
        most = min(int(spec.get("max_rows") or MOST_ROWS), MOST_ROWS)
        blanks = max(least - len(rows), 1 if not rows else 0) if self.editable else 0
        if self.add_row == view.name:
            blanks += 1
        rows = (rows + [{} for _ in range(blanks)])[:most]
        view.can_add = len(rows) < most
        row_label = translated(spec.get("row_label")) or view.label
        nested = spec.get("fields") or []
        for index, row in enumerate(rows):
            saved = stored_rows[index] if index < len(stored_rows) else {}
            saved = saved if isinstance(saved, dict) else {}
            items = []
            for item in visible_items(nested, self.stored, saved):
                key = str(item.get("name", ""))
                path = f"{view.name}.{index}.{key or 'text'}"
                items.append(self.item(item, row.get(key), saved.get(key), path))
            view.rows.append(
                RowView(index, f"{row_label} {index + 1}", items, f"{view.name}.{index}")
            )


def build_form(
    form: list[dict[str, Any]],
    stored: dict[str, Any],
    *,
    errors: Mapping[str, list[str]] | None = None,
    typed: Mapping[str, Any] | None = None,
    attachments: Iterable[Any] = (),
    add_row: str = "",
    editable: bool = True,
) -> FormView:
    """The form's visible items, page by page, with values (typed, else stored) and errors.
    An editable form offers blank rows in its blocks; a read-only one shows the answers."""
    builder = _Builder(errors or {}, attachments, add_row, stored, editable)
    values = {**stored, **(typed or {})}
    result: list[PageView] = []
    has_conditions = False
    visible = {id(spec) for spec in visible_items(form, stored)}
    for position, page in enumerate(pages(form)):
        title = ""
        items: list[FieldView] = []
        for spec in page:
            has_conditions = (
                has_conditions
                or "visible_if" in spec
                or any("visible_if" in item for item in spec.get("fields") or [])
            )
            if id(spec) not in visible:
                continue
            if spec["type"] == "page":
                title = translated(spec.get("label"))
                continue
            name = str(spec.get("name", ""))
            items.append(builder.item(spec, values.get(name), stored.get(name), name))
        if items or title:
            result.append(PageView(title, items, editable, position))
    return FormView(result, has_conditions, builder.index)


def build_fields(
    form: Iterable[dict[str, Any]],
    stored: dict[str, Any],
    *,
    errors: Mapping[str, list[str]] | None = None,
    typed: Mapping[str, Any] | None = None,
    attachments: Iterable[Any] = (),
) -> list[FieldView]:
    """The visible items in the procedure's order, pages flattened."""
    view = build_form(
        list(form), stored, errors=errors, typed=typed, attachments=attachments, editable=False
    )
    return view.items


def _post_list(post: Any, key: str) -> list[str]:
    getlist = getattr(post, "getlist", None)
    if getlist is not None:
        return [str(v) for v in getlist(key)]
    value = post.get(key)
    return [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])


def _post_value(spec: dict[str, Any], post: Any, name: str) -> Any:
    kind = spec["type"]
    if kind == "multichoice":
        return _post_list(post, name)
    if kind == "checkbox":
        return "yes" if post.get(name) else ""
    if kind == "address":
        return {key: str(post.get(f"{name}.{key}", "")) for key in ADDRESS_PARTS}
    return str(post.get(name, ""))


def _row_indexes(post: Any, name: str) -> list[int]:
    found: set[int] = set()
    prefix = f"{name}."
    for key in post:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0]
            if head.isdigit() and len(head) < 4:
                found.add(int(head))
    return sorted(found)[:MOST_ROWS]


def answers_from_post(
    form: Iterable[dict[str, Any]], post: Any, *, remove_row: str = ""
) -> dict[str, Any]:
    """Every answer field of the form, "" (or an empty list) for one left empty so saving
    clears it. `remove_row` ("children.2") drops that row of a block."""
    answers: dict[str, Any] = {}
    for spec in form:
        kind = spec.get("type")
        if kind in LAYOUT_TYPES or kind == "file":
            continue
        name = str(spec["name"])
        if kind != "block":
            answers[name] = _post_value(spec, post, name)
            continue
        rows = []
        for index in _row_indexes(post, name):
            if f"{name}.{index}" == remove_row:
                continue
            rows.append(
                {
                    str(item["name"]): _post_value(item, post, f"{name}.{index}.{item['name']}")
                    for item in spec.get("fields") or []
                    if item.get("type") != "explanation"
                }
            )
        answers[name] = rows
    return answers


def render_preview(
    form: list[dict[str, Any]],
    answers: dict[str, Any] | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> SafeString:
    """The form exactly as an applicant sees it (for the designer's preview): wrap it in a
    <form> that posts to a view calling `answers_from_post` and `check_answers`."""
    view = build_form(form, answers or {}, errors=errors)
    return SafeString(
        render_to_string("catalog/form/_form.html", {"form_view": view, "editable": True})
    )
