"""The definition language's field types and rules (catalog/forms.py), each valid and invalid:
integer, decimal, date bounds, date-time, NIN, NINEA, multiple choice, referentials, checkbox,
address, repeatable blocks, text rules with their own messages, conditions, fees, eligibility."""

import datetime
from typing import Any

import pytest

from guichet.catalog.forms import check_answers, compute_fee, display_value, ineligibility


def _field(kind: str, **extra: Any) -> dict[str, Any]:
    return {"name": "answer", "type": kind, "label": {"fr": "Réponse"}, **extra}


def _check(
    spec: dict[str, Any], value: Any, *, complete: bool = False
) -> tuple[Any, dict[str, list[str]]]:
    checked = check_answers([spec], {"answer": value}, complete=complete, files={})
    return checked.values.get("answer"), checked.errors


def _accepts(spec: dict[str, Any], value: Any) -> Any:
    stored, errors = _check(spec, value)
    assert errors == {}, (value, errors)
    return stored


def _refuses(spec: dict[str, Any], value: Any, path: str = "answer") -> str:
    stored, errors = _check(spec, value)
    assert stored is None and path in errors, (value, stored, errors)
    return errors[path][0]


# --- Numbers --------------------------------------------------------------------------------


def test_integer() -> None:
    spec = _field("integer", min=0, max=100)
    assert _accepts(spec, "42") == 42 and _accepts(spec, 7) == 7
    _refuses(spec, "4.5")
    assert "100" in _refuses(spec, 101)
    _refuses(spec, "quatre")


def test_decimal_with_places() -> None:
    spec = _field("decimal", min=0, max=100, decimals=2)
    assert _accepts(spec, "12,5") == 12.5
    assert _accepts(spec, "33.33") == 33.33
    assert "2" in _refuses(spec, "33.333")
    _refuses(spec, -1)


# --- Dates ----------------------------------------------------------------------------------


def test_date_bounds_with_today() -> None:
    today = datetime.date.today()  # noqa: DTZ011 (the engine compares calendar dates)
    spec = _field("date", min="2000-01-01", max="today")
    assert _accepts(spec, "2000-01-01") == "2000-01-01"
    assert _accepts(spec, today.isoformat()) == today.isoformat()
    _refuses(spec, "1999-12-31")
    _refuses(spec, (today + datetime.timedelta(days=1)).isoformat())


@pytest.mark.parametrize(
    ("value", "stored"),
    [("2026-03-12T14:30", "2026-03-12T14:30"), ("2026-03-12 14:30:59", "2026-03-12T14:30")],
)
def test_datetime_accepts(value: str, stored: str) -> None:
    assert _accepts(_field("datetime"), value) == stored


@pytest.mark.parametrize(
    "value", ["2026-03-12", "2026-02-30T10:00", "14:30", "2026-03-12T25:00", 5]
)
def test_datetime_refuses(value: Any) -> None:
    _refuses(_field("datetime"), value)


# --- Identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("1751199401234", "1751199401234"),
        ("1 751 199 401 234", "1751199401234"),
        ("1-751-199-401-234", "1751199401234"),
    ],
)
def test_nin_accepts(value: str, stored: str) -> None:
    assert _accepts(_field("nin"), value) == stored


@pytest.mark.parametrize("value", ["123", "17511994012345", "175119940123a", "١٧٥١١٩٩٤٠١٢٣٤", True])
def test_nin_refuses(value: Any) -> None:
    _refuses(_field("nin"), value)


@pytest.mark.parametrize(
    ("value", "stored"),
    [("005871234 2G3", "0058712342G3"), ("0058712", "0058712"), ("005 871 234", "005871234")],
)
def test_ninea_accepts(value: str, stored: str) -> None:
    assert _accepts(_field("ninea"), value) == stored


@pytest.mark.parametrize("value", ["12345", "0058712342GG", "ABCDEFG", "0058712345678"])
def test_ninea_refuses(value: str) -> None:
    _refuses(_field("ninea"), value)


def test_phone_pattern_with_its_own_message() -> None:
    spec = _field("phone", pattern=r"\+33\d{9}", pattern_message={"fr": "Un numéro français."})
    assert _accepts(spec, "+33 6 12 34 56 78") == "+33612345678"
    assert _refuses(spec, "77 123 45 67") == "Un numéro français."


# --- Text rules -----------------------------------------------------------------------------


def test_text_length_and_pattern_with_message() -> None:
    spec = _field(
        "text",
        min_length=3,
        max_length=10,
        pattern=r"[A-Z]{2}-\d+",
        pattern_message={"fr": "Deux lettres, un tiret, des chiffres.", "en": "Two letters."},
    )
    assert _accepts(spec, "DK-123") == "DK-123"
    assert "3" in _refuses(spec, "D")
    assert "10" in _refuses(spec, "DK-12345678")
    assert _refuses(spec, "dk-123") == "Deux lettres, un tiret, des chiffres."


# --- Choices --------------------------------------------------------------------------------

OPTIONS = [{"value": v, "label": {"fr": v.upper()}} for v in ("a", "b", "c")]


def test_multichoice() -> None:
    spec = _field("multichoice", choices=OPTIONS, min_choices=1, max_choices=2)
    assert _accepts(spec, ["a", "c"]) == ["a", "c"]
    assert _accepts(spec, ["a", "a"]) == ["a"]
    assert _accepts(spec, "b") == ["b"]
    _refuses(spec, ["a", "z"])
    _refuses(spec, ["a", "b", "c"])
    _refuses(spec, [["a"]])
    assert display_value(spec, ["a", "c"]) == "A, C"


def test_required_multichoice_needs_one() -> None:
    spec = _field("multichoice", choices=OPTIONS, required=True)
    assert "answer" in _check(spec, [], complete=True)[1]
    assert "answer" in _check(spec, [""], complete=True)[1]


def test_choice_from_a_referential() -> None:
    spec = _field("choice", referential="regions")
    assert _accepts(spec, "SN-DK") == "SN-DK"
    _refuses(spec, "SN-XX")
    assert display_value(spec, "SN-TH") == "Thiès"
    departements = _field("multichoice", referential="departements")
    assert _accepts(departements, ["Pikine", "Mbour"]) == ["Pikine", "Mbour"]


def test_checkbox() -> None:
    spec = _field("checkbox", required=True)
    assert _accepts(spec, "yes") is True
    assert _check(spec, "", complete=True)[1]["answer"]
    assert _check(spec, False, complete=True)[1]["answer"]
    assert _check(spec, True, complete=True) == (True, {})
    assert _check(_field("checkbox"), False, complete=True) == (None, {})


# --- Address --------------------------------------------------------------------------------

ADDRESS = {"region": "SN-DK", "departement": "Pikine", "commune": "Thiaroye"}


def test_address_accepts_a_departement_of_its_region() -> None:
    assert _accepts(_field("address"), ADDRESS) == ADDRESS
    partial = {"region": "SN-TH", "departement": "", "commune": ""}
    assert _accepts(_field("address"), partial) == {"region": "SN-TH"}
    assert display_value(_field("address"), ADDRESS) == "Thiaroye, Pikine, Dakar"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({**ADDRESS, "region": "SN-XX"}, "answer.region"),
        ({**ADDRESS, "departement": "Mbour"}, "answer.departement"),
        ({**ADDRESS, "commune": "x" * 101}, "answer.commune"),
        ({**ADDRESS, "commune": 12}, "answer.commune"),
        ("Dakar", "answer"),
        ({"city": "Dakar"}, "answer"),
    ],
)
def test_address_refuses(value: Any, path: str) -> None:
    _refuses(_field("address"), value, path)


def test_required_address_needs_region_and_departement() -> None:
    spec = _field("address", required=True)
    _, errors = _check(spec, {"region": "SN-DK"}, complete=True)
    assert set(errors) == {"answer.departement"}
    _, errors = _check(spec, None, complete=True)
    assert set(errors) == {"answer"}
    strict = _field("address", required=True, commune_required=True)
    assert set(_check(strict, {**ADDRESS, "commune": ""}, complete=True)[1]) == {"answer.commune"}


# --- Repeatable blocks ----------------------------------------------------------------------

CHILDREN: dict[str, Any] = {
    "name": "children",
    "type": "block",
    "label": {"fr": "Enfants"},
    "min_rows": 1,
    "max_rows": 3,
    "fields": [
        {"name": "first_name", "type": "text", "required": True, "label": {"fr": "Prénom"}},
        {"name": "born_here", "type": "yesno", "label": {"fr": "Né ici ?"}},
        {
            "name": "birth_date",
            "type": "date",
            "required": True,
            "label": {"fr": "Date"},
            # A sibling in the same row decides.
            "visible_if": {"field": "born_here", "equals": True},
        },
    ],
}


def _children(rows: Any, *, complete: bool = True) -> tuple[Any, dict[str, list[str]]]:
    checked = check_answers([CHILDREN], {"children": rows}, complete=complete)
    return checked.values.get("children"), checked.errors


def test_block_rows_are_cleaned_and_hidden_siblings_dropped() -> None:
    rows = [
        {"first_name": " Awa ", "born_here": "oui", "birth_date": "2015-06-01"},
        {"first_name": "Moussa", "born_here": "non", "birth_date": "2017-01-01"},
        {"first_name": "", "born_here": "", "birth_date": ""},  # a blank row is no row
    ]
    stored, errors = _children(rows)
    assert errors == {}
    assert stored == [
        {"first_name": "Awa", "born_here": True, "birth_date": "2015-06-01"},
        {"first_name": "Moussa", "born_here": False},
    ]


def test_block_errors_have_dotted_paths() -> None:
    rows = [
        {"first_name": "Awa", "born_here": True, "birth_date": "hier"},
        {"first_name": "", "born_here": True, "extra": "x"},
    ]
    _, errors = _children(rows)
    assert set(errors) == {
        "children.0.birth_date",
        "children.1.first_name",
        "children.1.birth_date",
        "children.1.extra",
    }


def test_block_row_counts() -> None:
    assert "children" in _children([])[1]
    assert _children([], complete=False)[1] == {}
    assert "children" in _children([{"first_name": "A"}] * 4, complete=False)[1]
    assert "children" in _children("Awa")[1]
    assert "children" in _children([["Awa"]])[1]


# --- Conditions -----------------------------------------------------------------------------

FORM: list[dict[str, Any]] = [
    {
        "name": "kind",
        "type": "choice",
        "required": True,
        "label": {"fr": "Type"},
        "choices": OPTIONS,
    },
    {"name": "count", "type": "integer", "label": {"fr": "Nombre"}},
    {
        "name": "detail",
        "type": "text",
        "required": True,
        "label": {"fr": "Détail"},
        "visible_if": {
            "any": [
                {"field": "kind", "equals": "a"},
                {"all": [{"field": "count", "gte": 3}, {"not": {"field": "kind", "in": ["c"]}}]},
            ]
        },
    },
    {"type": "page", "label": {"fr": "Suite"}, "visible_if": {"field": "kind", "not_equals": "c"}},
    {"name": "later", "type": "text", "required": True, "label": {"fr": "Plus tard"}},
    {
        "type": "section",
        "label": {"fr": "Partie"},
        "visible_if": {"field": "count", "filled": True},
    },
    {"name": "in_section", "type": "text", "required": True, "label": {"fr": "Dans la partie"}},
]


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        ({"kind": "a"}, {"detail", "later"}),
        ({"kind": "b"}, {"later"}),
        ({"kind": "b", "count": 3}, {"detail", "later", "in_section"}),
        ({"kind": "c", "count": 5}, set()),  # the page is hidden, and all it holds
    ],
)
def test_hidden_fields_are_not_required(answers: dict[str, Any], missing: set[str]) -> None:
    assert set(check_answers(FORM, answers, complete=True).errors) == missing


def test_hidden_fields_are_not_stored() -> None:
    checked = check_answers(
        FORM, {"kind": "c", "count": 1, "detail": "x", "later": "y"}, complete=False
    )
    assert checked.errors == {} and checked.values == {"kind": "c", "count": 1}


# --- Fees and eligibility -------------------------------------------------------------------

FEES = {
    "amount": 200,
    "add": [
        {"when": {"field": "kind", "equals": "a"}, "amount": 300},
        {"per": "count", "amount": 100},
        {"per": "children", "amount": 50, "when": {"field": "kind", "not_equals": "c"}},
    ],
}


def test_fees_follow_the_answers() -> None:
    assert compute_fee(FEES, {}) == 200
    assert compute_fee(FEES, {"kind": "a"}) == 500
    assert compute_fee(FEES, {"kind": "b", "count": 3}) == 500
    assert compute_fee(FEES, {"kind": "b", "children": [{}, {}]}) == 300
    assert compute_fee(FEES, {"kind": "c", "children": [{}, {}]}) == 200
    assert compute_fee({}, {"kind": "a"}) == 0


def test_eligibility_messages() -> None:
    rules = [
        {
            "refuse_if": {"field": "count", "lt": 1},
            "message": {"fr": "Au moins un.", "en": "One at least."},
        },
        {"refuse_if": {"field": "kind", "equals": "c"}, "message": "Pas c."},
    ]
    assert ineligibility(rules, {"count": 2, "kind": "a"}) == []
    assert ineligibility(rules, {"count": 0, "kind": "c"}) == ["Au moins un.", "Pas c."]
    assert ineligibility(rules, {}) == []  # an empty answer is neither less nor more
