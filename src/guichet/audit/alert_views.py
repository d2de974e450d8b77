"""The platform admins' page of security alerts: list, filter, acknowledge with a note.

Under /admin/, so the back-office rules apply (TOTP required); staff only (access.py).
"""

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from guichet.audit import access, actions, service
from guichet.audit.citizen import lower_bound, upper_bound
from guichet.audit.models import Action, SecurityAlert
from guichet.errors import ActionError
from guichet.forms_errors import form_error_summary

PAGE_SIZE = 50
ALERT_KINDS = [(int(action), action.label) for action in Action.family(4) if action != 404]


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        choices=[
            ("open", gettext_lazy("To acknowledge")),
            ("acknowledged", gettext_lazy("Acknowledged")),
            ("all", gettext_lazy("All")),
        ],
        required=False,
    )
    kind = forms.TypedChoiceField(
        label=gettext_lazy("Kind"),
        choices=[("", gettext_lazy("All")), *ALERT_KINDS],
        coerce=int,
        required=False,
        empty_value=None,
    )
    organisation = forms.ChoiceField(label=gettext_lazy("Administration"), required=False)
    since = forms.DateField(label=gettext_lazy("From"), required=False)
    until = forms.DateField(label=gettext_lazy("To (included)"), required=False)
    before = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        organisations = (
            SecurityAlert.objects.exclude(org_id="")
            .order_by("org_name")
            .values_list("org_id", "org_name")
            .distinct()
        )
        field = self.fields["organisation"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("All")), *organisations]

    def clean(self) -> dict[str, object] | None:
        data = super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date is before the start date."))
        return data


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        help_text=gettext_lazy("What you checked and what you found (kept with the alert)."),
        max_length=actions.NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    access.access_alerts(request.user)
    form = AlertFilterForm(request.GET or None)
    valid = form.is_valid() if request.GET else True
    wanted = form.cleaned_data if request.GET and valid else {}
    alerts = SecurityAlert.objects.all()
    status = wanted.get("status") or "open"
    if status == "open":
        alerts = alerts.filter(acknowledged_at__isnull=True)
    elif status == "acknowledged":
        alerts = alerts.filter(acknowledged_at__isnull=False)
    if wanted.get("kind"):
        alerts = alerts.filter(action=wanted["kind"])
    if wanted.get("organisation"):
        alerts = alerts.filter(org_id=wanted["organisation"])
    since, until = lower_bound(wanted.get("since")), upper_bound(wanted.get("until"))
    if since is not None:
        alerts = alerts.filter(raised_at__gte=since)
    if until is not None:
        alerts = alerts.filter(raised_at__lt=until)
    if wanted.get("before") is not None:
        alerts = alerts.filter(pk__lt=wanted["before"])
    page = list(alerts.order_by("-pk")[: PAGE_SIZE + 1])
    context = {
        "form": form,
        "alerts": page[:PAGE_SIZE],
        "error_summary": form_error_summary(form) if not valid else [],
        "next_before": page[PAGE_SIZE - 1].pk if len(page) > PAGE_SIZE else None,
        "not_first_page": wanted.get("before") is not None,
    }
    return render(request, "audit/alerts.html", context, status=200 if valid else 400)


@require_GET
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = access.access_alert(request.user, alert_id)
    return _detail(request, alert, AcknowledgeForm())


def _detail(
    request: HttpRequest, alert: SecurityAlert, form: AcknowledgeForm, status: int = 200
) -> HttpResponse:
    context = {
        "alert": alert,
        "form": form,
        "error_summary": form_error_summary(form) if form.is_bound and form.errors else [],
    }
    return render(request, "audit/alert_detail.html", context, status=status)


@require_POST
def acknowledge_alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = access.access_alert(request.user, alert_id)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        return _detail(request, alert, form, status=400)
    try:
        actions.do_acknowledge_alert(
            alert.pk, by=service.user_actor(request.user), note=form.cleaned_data["note"]
        )
    except ActionError as error:
        for field, messages in error.fields.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
        if not error.fields:
            form.add_error(None, error.message)
        return _detail(request, alert, form, status=error.status)
    return redirect("security_alert", alert_id=alert.pk)
