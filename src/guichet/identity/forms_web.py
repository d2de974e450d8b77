"""Forms of the account pages. They only shape the input: the rules live on the model
(validated by actions.do_update_profile) and in actions.py."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class TelInput(forms.TextInput):
    input_type = "tel"


class ProfileForm(forms.Form):
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        widget=TelInput(attrs={"autocomplete": "tel"}),
    )
    national_id = forms.CharField(
        label=_("National identification number"),
        max_length=32,
        required=False,
        help_text=_("The number on your national identity card (NIN), digits only."),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    language = forms.ChoiceField(
        label=_("Language of the site and of emails"), choices=settings.LANGUAGES
    )


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("To tell your tokens apart, for example the name of the program using it."),
    )


class SecurityContactForm(forms.Form):
    security_email = forms.EmailField(
        label=_("Security contact email"),
        required=False,
        max_length=254,
        help_text=_(
            "Security alerts about your agents (many applications opened, reads outside working "
            "hours, bulk exports) are sent here. Leave empty to use the parent administration's."
        ),
    )
