"""Pages of the transparency log.

Publication (public, read-only, no personal data): the latest checkpoint, tiles of tree hashes
and inclusion proofs, in the C2SP formats that witnesses and monitors already speak. And the
person's own page: every recorded access to and change of their data.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from guichet.audit import access, service, tlog
from guichet.audit.models import ActionFamily, ActorKind, AuditEvent

PAGE_SIZE = 50
IMMUTABLE = "public, max-age=31536000, immutable"
OBJECT_LABELS = {
    "dossier": gettext_lazy("application"),
    "attachment": gettext_lazy("document"),
    "message": gettext_lazy("message"),
    "token": gettext_lazy("API token"),
    "account": gettext_lazy("account"),
    "membership": gettext_lazy("role"),
    "export": gettext_lazy("export"),
}


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
    family = forms.TypedChoiceField(
        label=gettext_lazy("Kind"),
        choices=[("", gettext_lazy("All")), *ActionFamily.choices],
        coerce=int,
        required=False,
        empty_value=None,
    )
    before = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self) -> dict[str, object] | None:
        data = super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end date is before the start date."))
        return data


@dataclass(frozen=True)
class AccessRow:
    seq: int
    at: datetime
    who: str
    role: str
    what: str
    why: str
    provable: bool


def _start_of(day: object) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))  # type: ignore[arg-type]


def _row(event: AuditEvent, me: str, covered: int) -> AccessRow:
    kind = event.actor_kind
    show_names = bool(getattr(settings, "GUICHET_AUDIT_SHOW_AGENT_NAMES", False))
    if kind == ActorKind.CITIZEN and event.actor_id == me:
        who = _("You")
    elif kind == ActorKind.AGENT:
        who = event.org_name or _("An administration")
        if show_names and event.actor_name:
            who = f"{who} ({event.actor_name})"
    elif kind == ActorKind.SYSTEM:
        who = _("Guichet, automatically")
    else:
        who = event.actor_name or event.org_name or _("A partner system")
    what = event.action_label
    if event.object_type:
        what = f"{what} — {OBJECT_LABELS.get(event.object_type, event.object_type)}"
    return AccessRow(
        seq=event.seq,
        at=event.at,
        who=who,
        role=str(ActorKind(kind).label) if kind in ActorKind.values else kind,
        what=what,
        why=event.purpose or "—",
        provable=event.seq < covered,
    )


def _error_summary(form: forms.Form) -> list[dict[str, str]]:
    rows = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else ""
        for error in errors:
            text = f"{label}: {error}" if label else str(error)
            rows.append({"target": f"id_{name}" if field is not None else "", "text": text})
    return rows


@login_required
@require_GET
def my_data_accesses(request: HttpRequest) -> HttpResponse:
    me = str(request.user.pk)
    form = AccessFilterForm(request.GET or None)
    valid = form.is_valid() if request.GET else True
    wanted = form.cleaned_data if request.GET else {}
    events = service.events_about(
        me,
        since=_start_of(wanted["since"]) if wanted.get("since") else None,
        until=_start_of(wanted["until"] + timedelta(days=1)) if wanted.get("until") else None,
        families=[wanted["family"]] if wanted.get("family") else None,
    )
    if wanted.get("before") is not None:
        events = events.filter(seq__lt=wanted["before"])
    page = list(events[: PAGE_SIZE + 1])
    latest = service.latest_checkpoint()
    covered = latest.tree_size if latest is not None else 0
    rows = [_row(event, me, covered) for event in page[:PAGE_SIZE]]
    context = {
        "form": form,
        "rows": rows,
        "has_errors": not valid,
        "error_summary": _error_summary(form) if not valid else [],
        "next_before": rows[-1].seq if len(page) > PAGE_SIZE else None,
        "not_first_page": wanted.get("before") is not None,
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
