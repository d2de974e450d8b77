"""The error summary at the top of a form page: one line per error, each a link to its box.

Pages hand over their errors with, for each error's name, the id of the box to link to and its
label; Django forms have `form_error_summary()`. templates/_error_summary.html shows the rows in
order, a row without a target as plain text.
"""

from collections.abc import Callable, Iterable, Mapping

from django import forms
from django.utils.translation import gettext as _

SummaryRow = dict[str, str]


def error_summary(
    errors: Mapping[str, Iterable[object]],
    box: Callable[[str], tuple[str, str]],
    others: Iterable[str] = (),
    *,
    href: Callable[[str, str], str] | None = None,
) -> list[SummaryRow]:
    """`others` first (problems no box holds), then each error under its name; `box(name)` says
    the (target id, label) of that name's box, ("", "") when none: the message alone. The link
    is `#target`, unless `href(name, target)` names another page (a form's other step), or ""
    for none."""
    rows = [{"target": "", "href": "", "text": str(text)} for text in others]
    for name, messages in errors.items():
        target, label = box(name)
        link = href(name, target) if href is not None else (f"#{target}" if target else "")
        for message in messages:
            rows.append({"target": target, "href": link, "text": _labelled(label, str(message))})
    return rows


def form_error_summary(form: forms.Form | None, others: Iterable[str] = ()) -> list[SummaryRow]:
    """The summary of a bound Django form's errors; those not on a field (clean()) are text."""

    def box(name: str) -> tuple[str, str]:
        field = form.fields.get(name) if form is not None else None
        if field is None:
            return "", ""
        return f"id_{name}", str(field.label) if field.label else ""

    return error_summary(form.errors if form is not None else {}, box, others)


def _labelled(label: str, message: str) -> str:
    return _("%(label)s: %(message)s") % {"label": label, "message": message} if label else message
