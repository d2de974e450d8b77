"""Properties of the definition language, over generated definitions: every generated
definition is valid and renders; generated valid answers are accepted; a generated invalid
answer is refused with an error on its field; a definition survives export and import."""

import datetime
import re
from typing import Any

from django.template.loader import render_to_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.catalog import referentials
from guichet.catalog.definition import check, dump, load, normalise
from guichet.catalog.forms import check_answers
from guichet.catalog.render import build_form

SIMPLE_TYPES = (
    "text",
    "textarea",
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
WORDS = st.from_regex(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ ']{0,20}", fullmatch=True).map(str.strip).filter(bool)
TEXTS = st.one_of(WORDS, st.fixed_dictionaries({"fr": WORDS}, optional={"en": WORDS, "wo": WORDS}))
CHOICE_VALUES = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True
)


@st.composite
def field_specs(draw: Any, name: str, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "type": kind, "label": draw(TEXTS)}
    if draw(st.booleans()):
        spec["required"] = True
    if draw(st.booleans()):
        spec["help"] = draw(TEXTS)
    if kind in ("text", "textarea"):
        spec["max_length"] = draw(st.integers(5, 40))
    elif kind in ("integer", "decimal"):
        low = draw(st.integers(-1000, 1000))
        spec.update(min=low, max=low + draw(st.integers(0, 5000)))
        if kind == "decimal":
            spec["decimals"] = 2
    elif kind in ("choice", "multichoice"):
        if draw(st.booleans()):
            spec["referential"] = "regions"
        else:
            spec["choices"] = [{"value": v, "label": draw(TEXTS)} for v in draw(CHOICE_VALUES)]
    return spec


@st.composite
def definitions(draw: Any) -> dict[str, Any]:
    form: list[dict[str, Any]] = []
    switches: list[str] = []
    count = draw(st.integers(1, 8))
    for index in range(count):
        if draw(st.integers(0, 5)) == 0:
            form.append({"type": draw(st.sampled_from(["page", "section"])), "label": draw(TEXTS)})
        kind = draw(st.sampled_from((*SIMPLE_TYPES, "block")))
        name = f"f{index}"
        if kind == "block":
            nested_kinds = draw(st.lists(st.sampled_from(SIMPLE_TYPES), min_size=1, max_size=3))
            spec = {
                "name": name,
                "type": "block",
                "label": draw(TEXTS),
                "max_rows": draw(st.integers(1, 5)),
                "fields": [draw(field_specs(f"g{i}", k)) for i, k in enumerate(nested_kinds)],
            }
        else:
            spec = draw(field_specs(name, kind))
        if switches and draw(st.booleans()):
            spec["visible_if"] = {"field": draw(st.sampled_from(switches)), "equals": True}
        if kind == "yesno":
            switches.append(name)
        form.append(spec)
    if draw(st.booleans()):
        form.append({"type": "explanation", "text": draw(TEXTS)})
    return {
        "format": 1,
        "slug": "generated",
        "organisation": "ansd",
        "title": draw(TEXTS),
        "fees": {"amount": draw(st.integers(0, 5000))},
        "form": form,
    }


def _choices(spec: dict[str, Any]) -> list[str]:
    if spec.get("referential"):
        return [str(c["value"]) for c in referentials.choices_of(spec["referential"])]
    return [str(c["value"]) for c in spec["choices"]]


@st.composite
def valid_value(draw: Any, spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind in ("text", "textarea"):
        return draw(st.from_regex(r"[A-Za-z][A-Za-z ]{0,3}", fullmatch=True))
    if kind == "integer":
        return draw(st.integers(spec["min"], spec["max"]))
    if kind == "decimal":
        return str(draw(st.decimals(spec["min"], spec["max"], places=2)))
    if kind == "date":
        day = draw(st.dates(datetime.date(1950, 1, 1), datetime.date(2020, 12, 31)))
        return day.isoformat()
    if kind == "datetime":
        # Naive on purpose: a form's date-time is a wall-clock time, without a zone.
        first, last = datetime.datetime(1990, 1, 1), datetime.datetime(2030, 1, 1)  # noqa: DTZ001
        moment = draw(st.datetimes(first, last))
        return moment.strftime("%Y-%m-%dT%H:%M")
    if kind == "email":
        return draw(st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.sn", fullmatch=True))
    if kind == "phone":
        return draw(st.from_regex(r"7[05678][0-9]{7}", fullmatch=True))
    if kind == "nin":
        return draw(st.from_regex(r"[0-9]{13}", fullmatch=True))
    if kind == "ninea":
        return draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    if kind == "choice":
        return draw(st.sampled_from(_choices(spec)))
    if kind == "multichoice":
        return draw(st.lists(st.sampled_from(_choices(spec)), min_size=1, unique=True))
    if kind == "yesno":
        return draw(st.booleans())
    if kind == "checkbox":
        return True
    if kind == "address":
        region = draw(st.sampled_from(list(referentials.regions())))
        departement = draw(st.sampled_from(referentials.departements()[region]))
        return {"region": region, "departement": departement, "commune": "Plateau"}
    rows = draw(st.integers(1, spec["max_rows"]))
    return [{f["name"]: draw(valid_value(f)) for f in spec["fields"]} for _ in range(rows)]


INVALID = {
    "integer": "abc",
    "decimal": "1.2.3",
    "date": "31/12/2020",
    "datetime": "hier",
    "email": "nobody",
    "phone": "123",
    "nin": "12",
    "ninea": "12",
    "choice": "not a choice",
    "multichoice": ["not a choice"],
    "yesno": "peut-être",
    "checkbox": "peut-être",
    "address": {"region": "SN-XX"},
}


def _answers(draw: Any, form: list[dict[str, Any]]) -> dict[str, Any]:
    return {spec["name"]: draw(valid_value(spec)) for spec in form if "name" in spec}


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(definitions())
def test_generated_definitions_are_valid_and_render(definition: dict[str, Any]) -> None:
    assert check(definition) == []
    view = build_form(definition["form"], {})
    html = render_to_string("catalog/form/_form.html", {"form_view": view, "editable": True})
    for spec in definition["form"]:
        if "name" in spec and "visible_if" not in spec:
            assert f'id="field-{spec["name"]}' in html


@SETTINGS
@given(definitions())
def test_definitions_survive_export_and_import(definition: dict[str, Any]) -> None:
    exported = normalise(definition)
    assert load(dump(exported)) == exported


@SETTINGS
@given(st.data())
def test_generated_valid_answers_are_accepted(data: Any) -> None:
    definition = data.draw(definitions())
    answers = _answers(data.draw, definition["form"])
    checked = check_answers(definition["form"], answers, complete=True, files={})
    assert checked.errors == {}
    # And the stored answers render back into the form without a problem.
    build_form(definition["form"], checked.values)


@SETTINGS
@given(st.data())
def test_generated_invalid_answers_are_refused_on_their_field(data: Any) -> None:
    definition = data.draw(definitions())
    form = definition["form"]
    candidates = [
        spec
        for spec in form
        if "name" in spec and "visible_if" not in spec and spec["type"] != "block"
    ]
    answers = _answers(data.draw, form)
    if not candidates:
        return
    target = data.draw(st.sampled_from(candidates))
    kind = target["type"]
    answers[target["name"]] = (
        "x" * (target["max_length"] + 1) if kind in ("text", "textarea") else INVALID[kind]
    )
    checked = check_answers(form, answers, complete=True, files={})
    assert any(re.match(rf"^{target['name']}(\.|$)", path) for path in checked.errors)
    assert target["name"] not in checked.values
