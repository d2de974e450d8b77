"""Pages of the transparency log.

Publication (public, read-only, no personal data): the latest checkpoint, tiles of tree hashes
and inclusion proofs, in the C2SP formats that witnesses and monitors already speak. And the
person's own page: every recorded access to and change of their data.
"""

import json
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from guichet.audit import access, citizen, service, tlog
from guichet.audit.models import ActionFamily
from guichet.forms_errors import form_error_summary

IMMUTABLE = "public, max-age=31536000, immutable"


# --- Publication ------------------------------------------------------------------------------


@require_GET
def checkpoint(request: HttpRequest) -> HttpResponse:
    latest = service.latest_checkpoint()
    if latest is None:
        raise Http404
    response = HttpResponse(latest.note, content_type="text/plain; charset=utf-8")
    # It changes with every signature: witnesses poll it, caches may only keep it briefly.
    response["Cache-Control"] = "public, max-age=5"
    return response


@require_GET
def tile(request: HttpRequest, level: str, index: str, width: str | None = None) -> HttpResponse:
    try:
        number = tlog.parse_tile_index(index)
    except ValueError as error:
        raise Http404 from error
    count = tlog.TILE_WIDTH if width is None else int(width)
    if int(level) > 63 or count > tlog.TILE_WIDTH or (width is not None and count == 256):
        raise Http404  # a partial tile holds 1 to 255 hashes
    data = service.tile(int(level), number, count)
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="application/octet-stream")
    # A tile's content never changes (a partial tile of width W is a prefix of the full one).
    response["Cache-Control"] = IMMUTABLE
    return response


@require_GET
def proof(request: HttpRequest, seq: int) -> HttpResponse:
    try:
        text = service.inclusion_proof(seq).text()
    except service.NotCovered as error:
        raise Http404 from error
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=60"
    return response


# --- "Who used my data" -----------------------------------------------------------------------


class AccessFilterForm(forms.Form):
    since = forms.DateField(label=gettext_lazy("From"), required=False)
    until = forms.DateField(label=gettext_lazy("To (included)"), required=False)
    organisation = forms.ChoiceField(label=gettext_lazy("Administration"), required=False)
    family = forms.TypedChoiceField(
        label=gettext_lazy("Kind"),
        choices=[("", gettext_lazy("All")), *ActionFamily.choices],
        coerce=int,
        required=False,
        empty_value=None,
    )
    before = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, data: Any, *, subject: str) -> None:
        super().__init__(data)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("All")), *citizen.organisations_seen(subject)]

    def clean(self) -> dict[str, object] | None:
        data = super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date is before the start date."))
        return data

    def filters(self) -> citizen.AccessFilters:
        wanted = self.cleaned_data
        return citizen.AccessFilters(
            since=wanted.get("since"),
            until=wanted.get("until"),
            organisation=wanted.get("organisation") or "",
            family=wanted.get("family"),
            before=wanted.get("before"),
        )


@login_required
@require_GET
def my_data_accesses(request: HttpRequest) -> HttpResponse:
    me = str(request.user.pk)
    form = AccessFilterForm(request.GET or None, subject=me)
    valid = form.is_valid() if request.GET else True
    filters = form.filters() if request.GET and valid else citizen.AccessFilters()
    rows, next_before = citizen.access_rows(me, filters) if valid else ([], None)
    context = {
        "form": form,
        "rows": rows,
        "has_errors": not valid,
        "error_summary": form_error_summary(form) if not valid else [],
        "next_before": next_before,
        "not_first_page": filters.before is not None,
    }
    return render(request, "audit/my_data_accesses.html", context, status=200 if valid else 400)


@login_required
@require_GET
def my_data_access_proof(request: HttpRequest, seq: int) -> HttpResponse:
    """The event's inclusion proof with the event itself in the `extra` line, so its owner can
    check it offline against the published checkpoint."""
    event = access.access_own_event(request.user.pk, seq)
    try:
        text = service.inclusion_proof(event.seq, with_event=True).text()
    except service.NotCovered as error:
        raise Http404 from error
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="guichet-{event.seq}.tlog-proof"'
    response["Cache-Control"] = "private, no-store"
    return response


def proofs_response(subject: str) -> HttpResponse:
    """Every event about the person with its inclusion proof, as one JSON file (page and API)."""
    body = json.dumps(citizen.proof_bundle(subject), ensure_ascii=False, indent=1)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="guichet-access-log-proofs.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def my_data_access_proofs(request: HttpRequest) -> HttpResponse:
    return proofs_response(str(request.user.pk))
