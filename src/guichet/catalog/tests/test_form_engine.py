"""The form engine (catalog/forms.py): what each field type accepts, how it stores it, what it
refuses, and that no input whatsoever makes it raise instead of answering with errors."""

import datetime
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from guichet.catalog.forms import (
    DEFAULT_ACCEPT,
    DefinitionError,
    accepted_types,
    check_answers,
    check_definition,
    display_value,
    max_file_bytes,
)


def _field(kind: str, **extra: Any) -> dict[str, Any]:
    return {"name": "answer", "type": kind, "label": {"fr": "Réponse"}, **extra}


def _check(spec: dict[str, Any], value: Any) -> tuple[Any, list[str]]:
    checked = check_answers([spec], {"answer": value}, complete=False)
    return checked.values.get("answer"), checked.errors.get("answer", [])


def _accepts(spec: dict[str, Any], value: Any) -> Any:
    stored, errors = _check(spec, value)
    assert errors == [], (value, errors)
    return stored


def _refuses(spec: dict[str, Any], value: Any) -> str:
    stored, errors = _check(spec, value)
    assert stored is None and errors, (value, stored)
    return errors[0]


# --- Each type ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [("  Awa Diop ", "Awa Diop"), ("Ndèye Fatou", "Ndèye Fatou"), (42, "42"), (1.5, "1.5")],
)
def test_text_accepts(value: Any, stored: str) -> None:
    assert _accepts(_field("text"), value) == stored


@pytest.mark.parametrize("value", [True, ["a"], {"a": 1}, "x" * 256, "a\x00b"])
def test_text_refuses(value: Any) -> None:
    _refuses(_field("text"), value)


def test_text_lengths() -> None:
    assert _accepts(_field("text", max_length=5), "abcde") == "abcde"
    assert "5" in _refuses(_field("text", max_length=5), "abcdef")
    assert _accepts(_field("textarea"), "x" * 5000) == "x" * 5000
    _refuses(_field("textarea"), "x" * 5001)
    assert _accepts(_field("textarea"), "ligne 1\nligne 2") == "ligne 1\nligne 2"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (3, 3),
        ("3", 3),
        (" 1 000 ", 1000),
        ("2,5", 2.5),
        (2.5, 2.5),
        ("4.0", 4),
        ("-7", -7),
        ("1e3", 1000),
        ("999999999999999", 999999999999999),
    ],
)
def test_number_accepts(value: Any, stored: float) -> None:
    result = _accepts(_field("number"), value)
    assert result == stored and type(result) is type(stored)


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "",
        True,
        False,
        "NaN",
        "Infinity",
        "-inf",
        "1e999999999",  # would take minutes to turn into an integer
        "1" * 5000,  # would not even print as JSON (Python's 4300-digit guard)
        "-1e16",
        [1],
        {"n": 1},
        "1.2.3",
    ],
)
def test_number_refuses(value: Any) -> None:
    if value == "":
        assert _check(_field("number"), value) == (None, [])  # empty is "no answer", not wrong
        return
    _refuses(_field("number"), value)


def test_number_bounds() -> None:
    spec = _field("number", min=1, max=10)
    assert _accepts(spec, 1) == 1 and _accepts(spec, 10) == 10
    assert "1" in _refuses(spec, 0)
    assert "10" in _refuses(spec, "10.5")


@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_any_reasonable_integer_round_trips(number: int) -> None:
    assert _accepts(_field("number"), number) == number
    assert _accepts(_field("number"), str(number)) == number


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-1000, max_value=1000))
def test_numbers_within_bounds_are_kept_close(number: Decimal) -> None:
    stored = _accepts(_field("number", min=-1000, max=1000), str(number))
    scale = max(Decimal(1), abs(number))
    assert abs(Decimal(str(stored)) - number) <= Decimal("1e-9") * scale


@given(st.integers(min_value=11, max_value=10**30) | st.integers(max_value=0))
def test_numbers_outside_bounds_are_refused(number: int) -> None:
    _refuses(_field("number", min=1, max=10), number)


@pytest.mark.parametrize(
    ("value", "stored"), [("2024-02-29", "2024-02-29"), (" 1994-03-12 ", "1994-03-12")]
)
def test_date_accepts(value: str, stored: str) -> None:
    assert _accepts(_field("date"), value) == stored


@pytest.mark.parametrize(
    "value",
    [
        "31/02/2024",
        "2024-02-31",
        "2023-02-29",
        "12/03/1994",
        "hier",
        19940312,
        "19940312",
        "1994-W11-6",
        True,
    ],
)
def test_date_refuses(value: Any) -> None:
    _refuses(_field("date"), value)


def test_date_in_the_past_only() -> None:
    spec = _field("date", past_only=True)
    today = datetime.date.today()  # noqa: DTZ011 (the engine compares calendar dates)
    assert _accepts(spec, today.isoformat()) == today.isoformat()
    _refuses(spec, (today + datetime.timedelta(days=1)).isoformat())
    assert _accepts(_field("date"), "2999-01-01") == "2999-01-01"


@pytest.mark.parametrize(
    ("value", "stored"),
    [("Awa.Diop@Example.SN", "awa.diop@example.sn"), (" contact@fall.sn ", "contact@fall.sn")],
)
def test_email_accepts(value: str, stored: str) -> None:
    assert _accepts(_field("email"), value) == stored


@pytest.mark.parametrize("value", ["awa", "awa@", "@example.sn", "a b@example.sn", "x" * 400])
def test_email_refuses(value: str) -> None:
    _refuses(_field("email"), value)


@pytest.mark.parametrize(
    "value",
    ["77 123 45 67", "771234567", "+221 77 123 45 67", "00221771234567", "77-123-45-67", 771234567],
)
def test_phone_accepts_senegalese_numbers_in_one_form(value: Any) -> None:
    assert _accepts(_field("phone"), value) == "+221771234567"


def test_phone_landline() -> None:
    assert _accepts(_field("phone"), "33 821 00 00") == "+221338210000"


@pytest.mark.parametrize(
    "value", ["123", "77 123 45 6", "77 123 45 678", "+33 6 12 34 56 78", "57 123 45 67", "abc"]
)
def test_phone_refuses(value: str) -> None:
    _refuses(_field("phone"), value)


def test_phone_with_the_procedure_own_pattern() -> None:
    spec = _field("phone", pattern=r"\+?\d{8,15}")
    assert _accepts(spec, "+33 6 12 34 56 78") == "+33612345678"
    _refuses(spec, "12")


CHOICES = [{"value": "extract", "label": {"fr": "Extrait", "en": "Extract"}}, {"value": 2}]


def test_choice() -> None:
    spec = _field("choice", choices=CHOICES)
    assert _accepts(spec, "extract") == "extract"
    assert _accepts(spec, 2) == "2"
    for wrong in ("Extract", "EXTRACT", "photocopy", ["extract"], True):
        _refuses(spec, wrong)


@pytest.mark.parametrize(
    ("value", "stored"),
    [(True, True), (False, False), ("oui", True), ("Non", False), ("yes", True), ("0", False)],
)
def test_yesno_accepts(value: Any, stored: bool) -> None:
    assert _accepts(_field("yesno"), value) is stored


@pytest.mark.parametrize("value", ["peut-être", "2", [True]])
def test_yesno_refuses(value: Any) -> None:
    _refuses(_field("yesno"), value)


# --- The whole form -------------------------------------------------------------------------

FORM = [
    {"name": "full_name", "type": "text", "required": True, "label": {"fr": "Nom"}},
    {"name": "copies", "type": "number", "required": False, "label": {"fr": "Copies"}},
    {"name": "id_document", "type": "file", "required": True, "label": {"fr": "Pièce"}},
    {"name": "annex", "type": "file", "required": False, "label": {"fr": "Annexe"}},
]


def test_drafts_may_be_incomplete_submissions_may_not() -> None:
    draft = check_answers(FORM, {"copies": 2}, complete=False)
    assert draft.errors == {} and draft.values == {"copies": 2}
    submitted = check_answers(FORM, {"copies": 2}, complete=True, files={})
    assert set(submitted.errors) == {"full_name", "id_document"}
    done = check_answers(FORM, {"full_name": "Awa"}, complete=True, files={"id_document": 1})
    assert done.errors == {} and done.values == {"full_name": "Awa"}


def test_empty_answers_clear_and_whitespace_is_empty() -> None:
    checked = check_answers(FORM, {"full_name": "   ", "copies": None}, complete=False)
    assert checked.values == {} and checked.errors == {}
    assert "full_name" in check_answers(FORM, {"full_name": " "}, complete=True).errors


def test_unknown_names_and_files_as_answers_are_errors() -> None:
    checked = check_answers(FORM, {"fullname": "Awa", "id_document": "cni.pdf"}, complete=False)
    assert set(checked.errors) == {"fullname", "id_document"}


@given(
    st.dictionaries(
        st.sampled_from(["full_name", "copies", "id_document", "annex", "other"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda children: st.lists(children) | st.dictionaries(st.text(), children),
            max_leaves=5,
        ),
    ),
    st.booleans(),
)
def test_no_input_makes_the_engine_raise(data: dict[str, Any], complete: bool) -> None:
    checked = check_answers(FORM, data, complete=complete, files={})
    assert set(checked.values) <= {"full_name", "copies"}
    assert set(checked.values).isdisjoint(checked.errors)
    for messages in checked.errors.values():
        assert messages and all(isinstance(m, str) and m for m in messages)


# --- Definitions and files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "where"),
    [
        ({}, "form"),
        ([[]], "form[0]"),
        ([{"name": "Nom", "type": "text", "label": {"fr": "x"}}], "form[0].name"),
        ([{"name": "a", "type": "money", "label": {"fr": "x"}}], "form[0].type"),
        ([{"name": "a", "type": "text", "label": {"en": "x"}}], "form[0].label"),
        ([{"name": "a", "type": "choice", "label": {"fr": "x"}}], "form[0].choices"),
        (
            [
                {"name": "a", "type": "text", "label": {"fr": "x"}},
                {"name": "a", "type": "text", "label": {"fr": "y"}},
            ],
            "form[1].name",
        ),
    ],
)
def test_bad_definitions_say_where(definition: Any, where: str) -> None:
    with pytest.raises(DefinitionError, match=rf"^{re.escape(where)}:"):
        check_definition(definition)


def test_file_limits_and_types() -> None:
    with override_settings(GUICHET_MAX_UPLOAD_BYTES=10 * 1024 * 1024):
        assert max_file_bytes(_field("file")) == 10 * 1024 * 1024
        assert max_file_bytes(_field("file", max_size_mb=5)) == 5 * 1024 * 1024
        assert max_file_bytes(_field("file", max_size_mb=50)) == 10 * 1024 * 1024
        assert max_file_bytes(_field("file", max_size_mb=0.5)) == 512 * 1024
    assert accepted_types(_field("file")) == DEFAULT_ACCEPT
    assert accepted_types(_field("file", accept=["application/pdf"])) == ("application/pdf",)


def test_display_values() -> None:
    from django.utils import translation

    with translation.override("en"):
        assert display_value(_field("choice", choices=CHOICES), "extract") == "Extract"
        assert display_value(_field("yesno"), True) == "Yes"
    with translation.override("fr"):
        assert display_value(_field("choice", choices=CHOICES), "extract") == "Extrait"
    assert display_value(_field("text"), None) == ""
    assert display_value(_field("number"), 3) == "3"
