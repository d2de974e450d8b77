"""Shared pieces of the page tests: every HTML page a test client receives is checked against the
CSP rules (no inline script, no style attribute) and for ids that labels and errors can rely on;
dossiers are made through the actions.

Test modules import `strict_html` to switch the check on for all their requests.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from guichet.catalog.service import published_procedure
from guichet.dossiers import access, actions
from guichet.dossiers.models import Dossier
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, pdf_file

# An executable <script> without src; JSON data blocks (type="application/json") are not code.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)
STYLESHEET = "guichet/site.css"


def check_html(response: Any) -> None:
    if getattr(response, "streaming", False):
        return
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), "inline <script> in the page"
    assert not STYLE_ATTRIBUTE.search(html), "style attribute in the page"
    assert not STYLE_ELEMENT.search(html), "<style> element in the page"
    assert "<script>" not in html
    # Labels and error messages point at ids: each id once, each label at a real control.
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    missing = set(re.findall(r'<label for="([^"]+)"', html)) - set(ids)
    assert not missing, f"labels for missing controls: {missing}"
    described = {
        ref for refs in re.findall(r'aria-describedby="([^"]+)"', html) for ref in refs.split()
    }
    assert not described - set(ids), f"aria-describedby to missing ids: {described - set(ids)}"


@pytest.fixture(autouse=True)
def strict_html(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[None]:
    # The stylesheet lives in src/guichet/static, outside any app's static folder.
    settings.STATICFILES_DIRS = [settings.SRC_DIR / "static"]
    original = Client.request

    def checked(self: Client, **request: Any) -> Any:
        response = original(self, **request)
        check_html(response)
        return response

    monkeypatch.setattr(Client, "request", checked)
    yield


def stylesheet_bytes() -> int:
    path = finders.find(STYLESHEET)
    assert isinstance(path, str), "the stylesheet is not found by the static files finders"
    with open(path, "rb") as handle:
        return len(handle.read())


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def draft_for(user: User, *, with_document: bool = True) -> Dossier:
    procedure = published_procedure(BIRTH)
    assert procedure is not None
    dossier = actions.do_create_draft(user, procedure, BIRTH_ANSWERS)
    if with_document:
        actions.do_add_attachment(user, dossier.pk, "id_document", pdf_file("cni.pdf"))
    return dossier


def submitted_for(user: User) -> Dossier:
    dossier = draft_for(user)
    return actions.do_transition(user, dossier.pk, "submit")


def answers_of(dossier: Dossier) -> dict[str, Any]:
    """The stored answers, read fresh and opened as their applicant would (they are sealed)."""
    fresh = Dossier.objects.select_related("applicant", "procedure").get(pk=dossier.pk)
    return access.read_answers(fresh.applicant, fresh)


def snapshot(*dossiers: Dossier) -> list[Any]:
    """What a refused request must leave untouched, read fresh from the database."""
    rows: list[Any] = [Dossier.objects.count()]
    for dossier in dossiers:
        fresh = Dossier.objects.filter(pk=dossier.pk).first()
        if fresh is None:
            rows.append(None)
            continue
        rows.append(
            (
                fresh.state,
                bytes(fresh.answers_sealed or b""),  # sealed: any rewrite changes the bytes
                fresh.assigned_to_id,
                fresh.number,
                fresh.due_at,
                sorted(str(a.pk) for a in fresh.attachments.all()),
                fresh.messages.count(),
                fresh.events.count(),
            )
        )
    return rows
