"""The HTML of each form item, written in Python rather than in a template.

A long form has hundreds of inputs; drawing each through template tags cost about 0.3 ms a
field, so a 100-field form with a 20-row block missed its 20 ms budget several times over.
format_html escapes every value as the template did. The markup is the templates' own: a label
tied to each input, a fieldset and legend for groups, hints and errors tied by
aria-describedby, aria-invalid on a wrong answer (docs/procedure-definitions.md).
"""

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.utils.html import linebreaks
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from guichet.catalog.render import FieldView

EMPTY = SafeString("")


def format_html(template: str, *args: object) -> SafeString:
    """django.utils.html.format_html without its lazy-string wrappers, which were half of a
    long form's rendering time: values escaped as Django escapes them (html.escape, quotes
    included) unless already safe HTML."""
    escaped = [
        str(arg) if hasattr(arg, "__html__") else html.escape(str(arg), quote=True) for arg in args
    ]
    return SafeString(template.format(*escaped))


def format_html_join(sep: str, template: str, rows: Iterable[Sequence[object]]) -> SafeString:
    return SafeString(sep.join(format_html(template, *row) for row in rows))


def _attribute(name: str, value: object) -> SafeString:
    return format_html(' {}="{}"', name, value) if value not in (None, "", False) else EMPTY


def _flag(name: str, on: bool) -> SafeString:
    return mark_safe(f" {name}") if on else EMPTY  # noqa: S308 (a fixed attribute name)


def _optional(f: "FieldView") -> SafeString:
    if f.required:
        return EMPTY
    return format_html(' <span class="optional">({})</span>', _("optional"))


def _hint(f: "FieldView") -> SafeString:
    return (
        format_html('<span class="hint" id="{}">{}</span>', f.hint_id, f.hint) if f.hint else EMPTY
    )


def _errors(errors: list[str], error_id: str) -> SafeString:
    if not errors:
        return EMPTY
    prefix = format_html('<span class="visually-hidden">{} </span>', _("Error:"))
    # Each line is built by format_html; the joined string must stay marked safe.
    lines = SafeString("<br>".join(format_html("{}{}", prefix, error) for error in errors))
    return format_html('<p class="field-error" id="{}">{}</p>', error_id, lines)


def _described(f: "FieldView") -> SafeString:
    return _attribute("aria-describedby", f.described_by)


def _invalid(f: "FieldView") -> SafeString:
    return _flag('aria-invalid="true"', bool(f.errors))


def _block_class(f: "FieldView", extra: str = "") -> str:
    return "field" + (f" {extra}" if extra else "") + (" has-error" if f.errors else "")


def _choices(f: "FieldView") -> SafeString:
    kind = "radio" if f.widget == "radios" else "checkbox"
    required = f.required and kind == "radio"
    return format_html_join(
        "\n",
        '<div class="choice"><input type="{}" name="{}" id="{}" value="{}"{}{}>'
        '<label for="{}">{}</label></div>',
        (
            (
                kind,
                f.name,
                o.id,
                o.value,
                _flag("checked", o.selected),
                _flag("required", required),
                o.id,
                o.label,
            )
            for o in f.options
        ),
    )


def _select(f: "FieldView", required: bool) -> SafeString:
    return format_html(
        '<select name="{}" id="{}"{}{}{}><option value="">{}</option>{}</select>',
        f.name,
        f.id,
        _flag("required", required),
        _described(f),
        _invalid(f),
        _("Choose…"),
        f.options_html,
    )


def _input(f: "FieldView") -> SafeString:
    common = format_html(
        'name="{}" id="{}"{}{}{}{}',
        f.name,
        f.id,
        _attribute("maxlength", f.max_length),
        _flag("required", f.required),
        _described(f),
        _invalid(f),
    )
    if f.widget == "textarea":
        return format_html('<textarea {} rows="5">{}</textarea>', common, f.value)
    if f.widget == "select":
        return _select(f, f.required)
    return format_html(
        '<input type="{}" {} value="{}"{}{}>',
        f.input_type,
        common,
        f.value,
        _attribute("inputmode", f.input_mode),
        _attribute("autocomplete", f.autocomplete),
    )


def _labelled(f: "FieldView") -> SafeString:
    if f.widget != "input":
        return format_html(
            '<div class="{}">\n<label for="{}">{}{}</label>\n{}{}\n{}\n</div>',
            _block_class(f),
            f.id,
            f.label,
            _optional(f),
            _hint(f),
            _errors(f.errors, f.error_id),
            _input(f),
        )
    # The most common item, written out in one piece: most of a long form is plain inputs.
    e = html.escape
    name, ident = e(f.name), e(f.id)
    described = f.described_by
    attributes = "".join(
        (
            f' maxlength="{f.max_length}"' if f.max_length else "",
            " required" if f.required else "",
            f' aria-describedby="{e(described)}"' if described else "",
            ' aria-invalid="true"' if f.errors else "",
            f' inputmode="{e(f.input_mode)}"' if f.input_mode else "",
            f' autocomplete="{e(f.autocomplete)}"' if f.autocomplete else "",
        )
    )
    hint = f'<span class="hint" id="{e(f.hint_id)}">{e(f.hint)}</span>' if f.hint else ""
    return SafeString(
        f'<div class="{_block_class(f)}">\n<label for="{ident}">{e(f.label)}{_optional(f)}</label>'
        f"\n{hint}{_errors(f.errors, f.error_id)}\n"
        f'<input type="{e(f.input_type)}" name="{name}" id="{ident}"{attributes}'
        f' value="{e(f.value)}">\n</div>'
    )


def _group(f: "FieldView", extra: str, inner: SafeString) -> SafeString:
    # An address's errors sit beside each of its parts; the group itself names its hint only.
    described = (
        _attribute("aria-describedby", f.hint_id if f.hint else "")
        if f.widget == "address"
        else _described(f)
    )
    return format_html(
        '<fieldset class="{}" id="{}"{}>\n<legend>{}{}</legend>\n{}{}\n{}\n</fieldset>',
        _block_class(f, extra),
        f.id,
        described,
        f.label,
        _optional(f),
        _hint(f),
        _errors(f.errors if f.widget != "address" else [], f.error_id),
        inner,
    )


def _address(f: "FieldView") -> SafeString:
    parts = []
    for p in f.parts:
        control = (
            _select(p, False)
            if p.widget == "select"
            else format_html(
                '<input type="text" name="{}" id="{}" value="{}" maxlength="{}"{}{}>',
                p.name,
                p.id,
                p.value,
                p.max_length,
                _described(p),
                _invalid(p),
            )
        )
        parts.append(
            format_html(
                '<div class="{}">\n<label for="{}">{}</label>\n{}\n{}\n</div>',
                _block_class(p),
                p.id,
                p.label,
                _errors(p.errors, p.error_id),
                control,
            )
        )
    return mark_safe("\n".join(parts))  # noqa: S308 (each part built by format_html)


def _block(f: "FieldView", editable: bool) -> SafeString:
    rows = []
    for row in f.rows:
        remove = (
            format_html(
                '<button type="submit" name="intent" value="remove:{}" class="linklike">{}'
                '<span class="visually-hidden"> — {}</span></button>',
                row.remove,
                _("Remove this row"),
                row.label,
            )
            if editable
            else EMPTY
        )
        rows.append(
            format_html(
                '<fieldset class="row">\n<legend>{}</legend>\n{}\n{}\n</fieldset>',
                row.label,
                render_items(row.items, editable),
                remove,
            )
        )
    add = (
        format_html(
            '<button type="submit" name="intent" value="add:{}" class="secondary">{}'
            '<span class="visually-hidden"> — {}</span></button>',
            f.name,
            _("Add a row"),
            f.label,
        )
        if editable and f.can_add
        else EMPTY
    )
    return mark_safe("\n".join([*rows, add]))  # noqa: S308 (each part built by format_html)


def render_item(f: "FieldView", editable: bool = True) -> SafeString:
    widget = f.widget
    if widget == "section":
        hint = format_html('<p class="hint">{}</p>', f.hint) if f.hint else EMPTY
        return format_html('<h4 class="form-section">{}</h4>{}', f.label, hint)
    if widget == "explanation":
        title = format_html("<p><strong>{}</strong></p>", f.label) if f.label else EMPTY
        # linebreaks escapes the text itself before adding <p> and <br>.
        text = mark_safe(linebreaks(f.text, autoescape=True))  # noqa: S308
        return format_html('<div class="explanation">{}{}</div>', title, text)
    if widget in ("radios", "checkboxes"):
        return _group(f, "", _choices(f))
    if widget == "checkbox":
        return format_html(
            '<div class="{}">\n{}<div class="choice">'
            '<input type="checkbox" name="{}" id="{}" value="yes"{}{}{}{}>'
            '<label for="{}">{}</label></div>\n{}\n</div>',
            _block_class(f),
            _errors(f.errors, f.error_id),
            f.name,
            f.id,
            _flag("checked", f.value == "yes"),
            _flag("required", f.required),
            _described(f),
            _invalid(f),
            f.id,
            f.label,
            _hint(f),
        )
    if widget == "address":
        return _group(f, "address", _address(f))
    if widget == "block":
        return _group(f, "block", _block(f, editable))
    if widget == "file":
        return EMPTY  # documents are sent by their own forms, beside the answers
    return _labelled(f)


def render_items(items: list["FieldView"], editable: bool = True) -> SafeString:
    return mark_safe("\n".join(render_item(item, editable) for item in items))  # noqa: S308
