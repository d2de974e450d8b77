"""A form of several pages, shown to its applicant one page at a time, then a review step.

Addresses: `/dossiers/<id>/?step=N` is the N-th page the applicant sees, counted as the step
indicator counts ("Étape N sur M"), hidden pages left out; `?step=review` is the last step, the
answers page by page with the submit button. A step number past the last page leads to the
review, a number below 1 or anything else to the first step: a bookmark never breaks.

The form of a step posts the page's position in the definition (`page`), not its step number:
an answer on that page may show or hide a later page and so renumber the steps, the position
stays. After the save, the next step is counted again from the new answers.

Navigation only: what may be saved or submitted is for dossiers.actions to say.
"""

from typing import Any

from django.urls import reverse

from guichet.catalog.forms import pages
from guichet.catalog.render import FormView, PageView

REVIEW = "review"
STEP = "step"  # the query parameter of a step's address
PAGE = "page"  # the hidden input naming the page a step's form holds


def is_stepped(form: list[dict[str, Any]]) -> bool:
    """A definition of more than one page is filled in step by step, whatever the answers: a
    form does not change its way of working because an answer hid one of its pages."""
    return len(pages(form)) > 1


def page_items(form: list[dict[str, Any]], position: int) -> list[dict[str, Any]] | None:
    """The items of the page at this position (hidden ones too), None when there is none."""
    cut = pages(form)
    return cut[position] if 0 <= position < len(cut) else None


def _number(raw: str) -> int | None:
    # isdigit alone takes "²" or Arabic-Indic digits, which int() then refuses or reads.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 16 else None


def parse_position(raw: str) -> int:
    number = _number(raw)
    return -1 if number is None else number


def number_at(view: FormView, position: int) -> int:
    """The step number of the page at this position, 0 when it is hidden or empty."""
    for number, page in enumerate(view.steps, start=1):
        if page.position == position:
            return number
    return 0


def page_at(view: FormView, position: int) -> PageView | None:
    number = number_at(view, position)
    return view.steps[number - 1] if number else None


def next_step(view: FormView, position: int) -> int | str:
    """The first step after the page at this position, or the review after the last one."""
    for number, page in enumerate(view.steps, start=1):
        if page.position > position:
            return number
    return REVIEW


def previous_step(view: FormView, position: int) -> int:
    found = 1
    for number, page in enumerate(view.steps, start=1):
        if page.position < position:
            found = number
    return found


def step_url(dossier_id: Any, step: int | str, *, add: str = "", anchor: str = "") -> str:
    query = f"?{STEP}={step}" + (f"&add={add}" if add else "")
    return reverse("dossier_detail", args=[dossier_id]) + query + (f"#{anchor}" if anchor else "")


def resolve_step(raw: str, count: int) -> int | str:
    """The step an address asks for: the review, or a page's number brought within 1..count
    (past the last page is the review). The page redirects when this is not `raw` itself."""
    if raw == REVIEW or count == 0:
        return REVIEW
    number = _number(raw)
    if number is None:
        return 1
    return REVIEW if number > count else max(number, 1)
