"""The forms of the designer pages. They check the shape of what is typed (numbers, lengths);
the definition checks (catalog/definition.py) then judge the procedure itself, and their
problems are placed on these forms' boxes by catalog/designer.py."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guichet.catalog.definition import APPLICANT_KINDS
from guichet.catalog.designer import DEFAULT, LANGUAGES, SINGLE, TWO_LEVEL
from guichet.catalog.forms import BLOCK_TYPES, DEFAULT_ACCEPT, FIELD_TYPES
from guichet.catalog.models import ApplicantKind

LANGUAGE_NAMES = {"fr": _("French"), "en": _("English"), "wo": _("Wolof")}
SHORT = 300
LONG = 5000
MAX_DAYS = 3650
MAX_YAML = 1_000_000

TYPE_NAMES = {
    "text": _("Text"),
    "textarea": _("Long text"),
    "number": _("Number"),
    "integer": _("Whole number"),
    "decimal": _("Decimal number"),
    "date": _("Date"),
    "datetime": _("Date and time"),
    "email": _("Email address"),
    "phone": _("Phone number"),
    "nin": _("National identification number"),
    "ninea": _("Company number (NINEA)"),
    "choice": _("Single choice"),
    "multichoice": _("Multiple choice"),
    "yesno": _("Yes / no"),
    "checkbox": _("Checkbox"),
    "address": _("Address"),
    "file": _("File"),
    "block": _("Repeatable block"),
    "page": _("Page"),
    "section": _("Section title"),
    "explanation": _("Explanation text"),
}
OPERATORS = [
    ("equals", _("is")),
    ("not_equals", _("is not")),
    ("in", _("is one of (commas between)")),
    ("not_in", _("is none of (commas between)")),
    ("gt", _("is more than")),
    ("gte", _("is at least")),
    ("lt", _("is less than")),
    ("lte", _("is at most")),
    ("contains", _("contains")),
    ("filled", _("is filled in (true or false)")),
]
JOINS = [("", _("No second comparison")), ("all", _("and")), ("any", _("or"))]


def _texts(
    form: forms.Form, prefix: str, label: Any, *, long: bool = False, fr_required: bool = False
) -> None:
    """Three boxes for one text, French first: every text exists in fr, en and wo."""
    for language in LANGUAGES:
        form.fields[f"{prefix}_{language}"] = forms.CharField(
            label=f"{label} ({LANGUAGE_NAMES[language]})",
            required=fr_required and language == "fr",
            max_length=LONG if long else SHORT,
            widget=forms.Textarea(attrs={"rows": 3}) if long else forms.TextInput,
        )


def new_drafts_only_field() -> forms.BooleanField:
    """Offered when a change would strand drafts in progress (catalog.actions refuses it)."""
    return forms.BooleanField(
        label=_("Apply only to new drafts (drafts in progress keep their version)"), required=False
    )


class NewProcedureForm(forms.Form):
    organisation = forms.ChoiceField(label=_("Administration"))
    slug = forms.SlugField(
        label=_("Short name"),
        max_length=80,
        help_text=_(
            "Lower-case letters, digits and hyphens: it appears in the procedure's address."
        ),
    )

    def __init__(self, *args: Any, organisations: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"] = forms.ChoiceField(
            label=_("Administration"), choices=organisations
        )
        _texts(self, "title", _("Title"), fr_required=True)


class MetadataForm(forms.Form):
    applicant_kinds = forms.MultipleChoiceField(
        label=_("Who may apply"),
        choices=[(kind, ApplicantKind(kind).label) for kind in APPLICANT_KINDS],
        widget=forms.CheckboxSelectMultiple,
    )
    fee_amount = forms.IntegerField(label=_("Fee (CFA francs)"), min_value=0, max_value=10**9)
    deadline_days = forms.IntegerField(
        label=_("Statutory deadline (days)"), min_value=0, max_value=MAX_DAYS
    )
    retention_days = forms.IntegerField(
        label=_("Retention after the decision (days)"), min_value=1, max_value=100 * 365
    )
    new_drafts_only = new_drafts_only_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _texts(self, "title", _("Title"), fr_required=True)
        _texts(self, "summary", _("Summary"), long=True)
        _texts(self, "legal_basis", _("Legal basis"), long=True)
        _texts(self, "data_protection", _("Data protection notice"), long=True)


class FieldForm(forms.Form):
    type = forms.ChoiceField(label=_("Kind of item"))
    name = forms.CharField(
        label=_("Key"),
        required=False,
        max_length=63,
        help_text=_("The answer's key: lower-case letters, digits and _, starting with a letter."),
    )
    required = forms.BooleanField(label=_("Required"), required=False)
    min = forms.CharField(label=_("Minimum (number or date)"), required=False, max_length=40)
    max = forms.CharField(label=_("Maximum (number or date)"), required=False, max_length=40)
    min_length = forms.IntegerField(
        label=_("Shortest length"), required=False, min_value=0, max_value=LONG
    )
    max_length = forms.IntegerField(
        label=_("Longest length"), required=False, min_value=1, max_value=100_000
    )
    pattern = forms.CharField(label=_("Regular expression"), required=False, max_length=SHORT)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        max_length=LONG,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One a line: value | French label | English label | Wolof label"),
    )
    cond_field = forms.CharField(
        label=_("Shown only if the answer to"),
        required=False,
        max_length=130,
        help_text=_("An earlier field's key (in a block, a sibling's key). Empty: always shown."),
    )
    cond_op = forms.ChoiceField(label=_("Comparison"), choices=OPERATORS, required=False)
    cond_value = forms.CharField(label=_("Value"), required=False, max_length=SHORT)
    cond_join = forms.ChoiceField(label=_("Second comparison"), choices=JOINS, required=False)
    cond2_field = forms.CharField(label=_("and/or the answer to"), required=False, max_length=130)
    cond2_op = forms.ChoiceField(label=_("Comparison"), choices=OPERATORS, required=False)
    cond2_value = forms.CharField(label=_("Value"), required=False, max_length=SHORT)
    min_rows = forms.IntegerField(
        label=_("Fewest rows"), required=False, min_value=0, max_value=100
    )
    max_rows = forms.IntegerField(label=_("Most rows"), required=False, min_value=1, max_value=100)
    first_name = forms.CharField(
        label=_("Key of the block's first field"),
        required=False,
        max_length=63,
        help_text=_("A new block starts with one text field; add more from the fields list."),
    )
    first_label = forms.CharField(
        label=_("Label of the block's first field (French)"), required=False, max_length=SHORT
    )
    accept = forms.MultipleChoiceField(
        label=_("Accepted files"),
        required=False,
        choices=[(kind, kind) for kind in DEFAULT_ACCEPT],
        widget=forms.CheckboxSelectMultiple,
    )
    max_size_mb = forms.IntegerField(
        label=_("Largest file (MB)"), required=False, min_value=1, max_value=50
    )
    multiple = forms.BooleanField(label=_("Several files"), required=False)
    new_drafts_only = new_drafts_only_field()

    def __init__(self, *args: Any, nested: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = BLOCK_TYPES if nested else FIELD_TYPES
        self.fields["type"] = forms.ChoiceField(
            label=_("Kind of item"), choices=[(kind, TYPE_NAMES[kind]) for kind in kinds]
        )
        _texts(self, "label", _("Label"))
        _texts(self, "help", _("Help text"))
        _texts(self, "text", _("Explanation"), long=True)
        _texts(self, "pattern_message", _("Message when the expression does not match"))
        _texts(self, "row_label", _("Name of one row"))


class WorkflowForm(forms.Form):
    approval = forms.ChoiceField(
        label=_("Decision"),
        widget=forms.RadioSelect,
        choices=[
            (DEFAULT, _("The platform's default workflow")),
            (SINGLE, _("Single level: the instructor decides")),
            (TWO_LEVEL, _("Two-level approval: the instructor proposes, a supervisor decides")),
        ],
    )
    review_days = forms.IntegerField(
        label=_("Days for the review step"), required=False, min_value=1, max_value=MAX_DAYS
    )
    decision_days = forms.IntegerField(
        label=_("Days for the supervisor's decision (two levels)"),
        required=False,
        min_value=1,
        max_value=MAX_DAYS,
    )
    tacit = forms.ChoiceField(
        label=_("Silence of the administration means"),
        required=False,
        choices=[
            ("", _("Nothing (no tacit decision)")),
            ("accepted", _("Acceptance")),
            ("rejected", _("Rejection")),
        ],
    )
    tacit_days = forms.IntegerField(
        label=_("after (days)"), required=False, min_value=1, max_value=MAX_DAYS
    )
    routing_answer = forms.CharField(
        label=_("Route new dossiers by the answer to"),
        required=False,
        max_length=130,
        help_text=_("A field's key, e.g. premises.departement. Empty: no routing."),
    )
    routing_teams = forms.CharField(
        label=_("Teams"),
        required=False,
        max_length=LONG,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One a line: answer value = team short name"),
    )
    routing_default = forms.SlugField(
        label=_("Team for other answers"), required=False, max_length=50
    )
    new_drafts_only = new_drafts_only_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("tacit") and not data.get("tacit_days"):
            self.add_error("tacit_days", _("Say after how many days."))
        return data


class YamlForm(forms.Form):
    text = forms.CharField(
        label=_("Definition (YAML)"),
        required=False,
        max_length=MAX_YAML,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false"}),
    )
    upload = forms.FileField(
        label=_("Or upload a definition file (.yaml)"), required=False, max_length=200
    )
    new_drafts_only = new_drafts_only_field()


class CloseForm(forms.Form):
    replacement = forms.SlugField(
        label=_("Replaced by (short name of a published procedure)"), required=False, max_length=80
    )
