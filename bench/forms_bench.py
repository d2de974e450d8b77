"""The form engine: checking and rendering a large submission, against plain Django forms.

    .venv/bin/python bench/forms_bench.py [--runs 300]

The form has 100 fields: 95 top-level fields of every answer type (about a quarter of them
shown by a condition on an earlier answer), and a repeatable block of 5 fields (one shown by a
condition on its row's sibling) filled with 20 rows: 195 values to check. Figures (median and p95
of --runs, after a warm-up), each with its baseline measured in the same run:

- validate: `check_answers(complete=True)` on the whole submission (goal: under 5 ms), against
  `is_valid()` of a plain Django Form with a field of a matching kind for each of the 195 values;
- render: `build_form` and the template `catalog/form/_form.html` for that submission (goal:
  under 20 ms), against rendering the same plain Django Form (`as_div`).

No database is used: the engine reads nothing but the definition.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guichet.settings")
os.environ["GUICHET_LOG_LEVEL"] = "WARNING"

import django

django.setup()

from django import forms
from django.template.loader import render_to_string
from django.utils import translation

from guichet.catalog.definition import check
from guichet.catalog.forms import check_answers
from guichet.catalog.render import build_form

CHOICES: list[dict[str, Any]] = [
    {"value": f"c{i}", "label": {"fr": f"Choix {i}", "en": f"Choice {i}"}} for i in range(4)
]
# (type, extra keys, a valid value) for each kind of top-level field, used in turn.
KINDS: list[tuple[str, dict[str, Any], Any]] = [
    ("text", {"max_length": 80}, "Awa Diop"),
    ("textarea", {}, "Une activité de maintenance informatique."),
    ("integer", {"min": 0, "max": 1000}, "42"),
    ("decimal", {"min": 0, "max": 100, "decimals": 2}, "12,50"),
    ("date", {"max": "today"}, "1994-03-12"),
    ("datetime", {}, "2026-03-12T14:30"),
    ("email", {}, "awa.diop@example.sn"),
    ("phone", {}, "77 123 45 67"),
    ("nin", {}, "1751199401234"),
    ("ninea", {}, "005871234 2G3"),
    ("choice", {"choices": CHOICES}, "c2"),
    ("multichoice", {"choices": CHOICES}, ["c1", "c3"]),
    ("yesno", {}, "oui"),
    ("checkbox", {}, "yes"),
    ("address", {}, {"region": "SN-DK", "departement": "Pikine", "commune": "Thiaroye"}),
    ("choice", {"referential": "regions"}, "SN-TH"),
]
TOP_LEVEL = 95
ROWS = 20


def definition() -> tuple[dict[str, Any], dict[str, Any]]:
    form: list[dict[str, Any]] = []
    answers: dict[str, Any] = {}
    switch = ""
    for index in range(TOP_LEVEL):
        if index % 20 == 0:
            form.append({"type": "page", "label": {"fr": f"Page {index // 20 + 1}"}})
        kind, extra, value = KINDS[index % len(KINDS)]
        spec: dict[str, Any] = {
            "name": f"f{index}",
            "type": kind,
            "required": True,
            "label": {"fr": f"Question {index}", "en": f"Question {index}"},
            "help": {"fr": "Une aide."},
            **extra,
        }
        if kind == "yesno":
            switch = spec["name"]
        elif switch and index % 4 == 1:
            spec["visible_if"] = {
                "any": [{"field": switch, "equals": True}, {"field": "f0", "filled": True}]
            }
        form.append(spec)
        answers[spec["name"]] = value
    form.append(
        {
            "name": "children",
            "type": "block",
            "label": {"fr": "Enfants"},
            "max_rows": 30,
            "fields": [
                {"name": "first_name", "type": "text", "required": True, "label": "Prénom"},
                {"name": "birth_date", "type": "date", "required": True, "label": "Naissance"},
                {"name": "at_school", "type": "yesno", "label": "Scolarisé ?"},
                {
                    "name": "school",
                    "type": "text",
                    "required": True,
                    "label": "École",
                    "visible_if": {"field": "at_school", "equals": True},
                },
                {"name": "nin", "type": "nin", "label": "NIN"},
            ],
        }
    )
    answers["children"] = [
        {
            "first_name": f"Enfant {row}",
            "birth_date": "2015-06-01",
            "at_school": "oui",
            "school": "École Plateau",
            "nin": "1751199401234",
        }
        for row in range(ROWS)
    ]
    data = {"format": 1, "slug": "bench", "organisation": "ansd", "title": "Bench", "form": form}
    return data, answers


def django_form(answers: dict[str, Any]) -> tuple[type[forms.Form], dict[str, Any]]:
    """A plain Django Form with a field of a matching kind per value (rows flattened)."""
    fields: dict[str, forms.Field] = {}
    data: dict[str, Any] = {}
    choices = [(c["value"], c["label"]["fr"]) for c in CHOICES]
    makers: dict[str, Callable[[], forms.Field]] = {
        "integer": lambda: forms.IntegerField(min_value=0, max_value=1000),
        "decimal": lambda: forms.CharField(),
        "date": lambda: forms.DateField(),
        "email": lambda: forms.EmailField(),
        "choice": lambda: forms.ChoiceField(choices=choices),
        "multichoice": lambda: forms.MultipleChoiceField(choices=choices),
        "checkbox": lambda: forms.BooleanField(),
        "textarea": lambda: forms.CharField(widget=forms.Textarea),
    }
    for index in range(TOP_LEVEL):
        kind, _extra, value = KINDS[index % len(KINDS)]
        name = f"f{index}"
        fields[name] = makers.get(kind, lambda: forms.CharField(max_length=200))()
        fields[name].label = f"Question {index}"
        fields[name].help_text = "Une aide."
        if kind == "address":
            value = "Thiaroye, Pikine, Dakar"
        elif kind == "choice" and value not in dict(choices):
            value = "c1"
        data[name] = value
    for row in range(ROWS):
        for key, value in answers["children"][row].items():
            fields[f"children_{row}_{key}"] = forms.CharField(max_length=200)
            data[f"children_{row}_{key}"] = value
    return type("Baseline", (forms.Form,), fields), data


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    for _ in range(20):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="50 runs (make bench)")
    args = parser.parse_args()
    runs = 50 if args.quick else args.runs
    data, answers = definition()
    assert check(data) == [], check(data)
    form = data["form"]
    checked = check_answers(form, answers, complete=True, files={})
    assert checked.errors == {}, checked.errors
    values = sum(1 for spec in form if "name" in spec and spec["type"] != "block") + ROWS * 5
    baseline_class, baseline_data = django_form(answers)
    assert baseline_class(baseline_data).is_valid()

    def validate() -> Any:
        return check_answers(form, answers, complete=True, files={})

    def render() -> str:
        view = build_form(form, checked.values)
        return render_to_string("catalog/form/_form.html", {"form_view": view, "editable": True})

    def baseline_render() -> str:
        return str(baseline_class(baseline_data).as_div())

    with translation.override("fr"):
        size = len(render())
        ours_validate = timed(validate, runs)
        theirs_validate = timed(lambda: baseline_class(baseline_data).is_valid(), runs)
        ours_render = timed(render, runs)
        theirs_render = timed(baseline_render, runs)
    print(
        f"Form engine bench: {TOP_LEVEL} fields + a block of 5 fields x {ROWS} rows "
        f"({values} values), {runs} runs, Python {sys.version.split()[0]}, "
        f"rendered form {size // 1024} KB"
    )
    rows = [
        ("figure", "guichet median (p95)", "baseline: plain Django Form, same run", "goal"),
        _row("validate the submission", ours_validate, theirs_validate, "is_valid()", 5.0),
        _row("render the form", ours_render, theirs_render, "as_div()", 20.0),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _row(
    name: str, ours: tuple[float, float], theirs: tuple[float, float], call: str, goal: float
) -> tuple[str, str, str, str]:
    verdict = "goal met" if ours[0] < goal else "MISSED"
    return (
        name,
        f"{ours[0]:.2f} ms ({ours[1]:.2f})",
        f"{call} {theirs[0]:.2f} ms, ratio {ours[0] / theirs[0]:.2f}x",
        f"< {goal:g} ms: {verdict}",
    )


if __name__ == "__main__":
    main()
