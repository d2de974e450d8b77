"""Bad input gets a clear 4xx, {code, message, fields?}, and nothing is stored.

Every test compares counts of every table a write could touch, and the files on disk, before and
after the refused request.
"""

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from guichet.catalog.models import Procedure
from guichet.dossiers import actions
from guichet.dossiers.models import Attachment, Dossier, DossierEvent, Message, NumberCounter
from guichet.identity.models import ApiToken, User
from guichet.testing import BIRTH, BIRTH_ANSWERS, PDF_BYTES, ApiClient, pdf_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(world: dict[str, User]) -> Dossier:
    awa = world["citizen_a"]
    dossier = actions.do_create_draft(awa, Procedure.objects.get(slug=BIRTH), BIRTH_ANSWERS)
    actions.do_add_attachment(awa, dossier.pk, "id_document", pdf_file())
    return Dossier.objects.get(pk=dossier.pk)


@pytest.fixture
def in_review(world: dict[str, User], draft: Dossier) -> Dossier:
    actions.do_transition(world["citizen_a"], draft.pk, "submit")
    actions.do_transition(world["instructor"], draft.pk, "take")
    return Dossier.objects.get(pk=draft.pk)


def _state(files: Path) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    return {
        "dossiers": sorted(
            (str(d.pk), d.state, bytes(d.answers_sealed or b"").hex(), d.number, d.assigned_to_id)
            for d in Dossier.objects.all()
        ),
        "attachments": sorted(str(pk) for pk in Attachment.objects.values_list("pk", flat=True)),
        "events": DossierEvent.objects.count(),
        "messages": Message.objects.count(),
        "counters": list(NumberCounter.objects.values_list("year", "last")),
        "files": sorted(str(p) for p in files.rglob("*") if p.is_file()),
    }


@pytest.fixture
def unchanged(tmp_path: Path) -> Any:
    """Call it once before the request and once after: the second call asserts nothing moved."""
    snapshots: list[dict[str, Any]] = []

    def check() -> None:
        snapshots.append(_state(tmp_path))
        if len(snapshots) > 1:
            assert snapshots[-1] == snapshots[0]

    return check


def _refused(response: Any, status: int, code: str, fields: set[str] | None = None) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["message"]
    if fields is not None:
        assert set(body.get("fields", {})) == fields, body


# --- Documents ------------------------------------------------------------------------------


@override_settings(GUICHET_MAX_UPLOAD_BYTES=1024)
def test_oversized_file(api: dict[str, ApiClient], draft: Dossier, unchanged: Any) -> None:
    unchanged()
    big = SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * 2048, "application/pdf")
    response = api["citizen_a"].upload(f"dossiers/{draft.pk}/attachments", "id_document", big)
    _refused(response, 400, "invalid", {"file"})
    unchanged()


def test_field_size_limit_is_smaller_than_the_platform_one(
    api: dict[str, ApiClient], draft: Dossier, unchanged: Any
) -> None:
    # The birth form allows 5 MB for the identity document; the platform allows 10.
    unchanged()
    big = SimpleUploadedFile("big.pdf", PDF_BYTES + b"0" * (5 * 1024 * 1024), "application/pdf")
    response = api["citizen_a"].upload(f"dossiers/{draft.pk}/attachments", "id_document", big)
    _refused(response, 400, "invalid", {"file"})
    assert "5" in response.json()["fields"]["file"][0]
    unchanged()


@pytest.mark.parametrize(
    ("name", "content", "declared"),
    [
        ("cni.pdf", b"Just some text pretending to be a PDF.", "application/pdf"),
        ("cni.png", b"<html><script>alert(1)</script></html>", "image/png"),
        ("empty.pdf", b"", "application/pdf"),
        ("archive.pdf", b"PK\x03\x04" + b"\x00" * 64, "application/pdf"),
    ],
)
def test_content_that_is_not_what_it_claims(
    api: dict[str, ApiClient],
    draft: Dossier,
    unchanged: Any,
    name: str,
    content: bytes,
    declared: str,
) -> None:
    unchanged()
    upload = SimpleUploadedFile(name, content, declared)
    response = api["citizen_a"].upload(f"dossiers/{draft.pk}/attachments", "id_document", upload)
    _refused(response, 400, "invalid", {"file"})
    unchanged()


def test_upload_to_a_field_that_is_not_a_document(
    api: dict[str, ApiClient], draft: Dossier, unchanged: Any
) -> None:
    unchanged()
    for field in ("full_name", "nope"):
        response = api["citizen_a"].upload(f"dossiers/{draft.pk}/attachments", field, pdf_file())
        _refused(response, 400, "invalid", {"field"})
    missing = api["citizen_a"].client.post(
        f"/api/v1/dossiers/{draft.pk}/attachments",
        {"field": "id_document"},
        headers=api["citizen_a"].headers,
    )
    _refused(missing, 400, "invalid", {"file"})
    unchanged()


def test_the_stored_type_comes_from_the_bytes(api: dict[str, ApiClient], draft: Dossier) -> None:
    # A real PDF sent as "image/png" is stored, and served, as what it is.
    upload = SimpleUploadedFile("scan.png", PDF_BYTES, "image/png")
    response = api["citizen_a"].upload(f"dossiers/{draft.pk}/attachments", "id_document", upload)
    assert response.status_code == 201
    assert response.json()["content_type"] == "application/pdf"
    download = api["citizen_a"].get(response.json()["url"])
    assert download["Content-Type"] == "application/pdf"
    assert download["X-Content-Type-Options"] == "nosniff"


# --- Answers --------------------------------------------------------------------------------


def test_submit_with_missing_answers_names_the_fields(
    api: dict[str, ApiClient], world: dict[str, User], unchanged: Any
) -> None:
    citizen = api["citizen_a"]
    created = citizen.post("dossiers", {"procedure": BIRTH, "data": {"full_name": "Awa Diop"}})
    dossier_id = created.json()["id"]
    unchanged()
    response = citizen.post(f"dossiers/{dossier_id}/submit")
    _refused(
        response, 400, "invalid", {"birth_date", "copy_kind", "copies", "phone", "id_document"}
    )
    unchanged()
    assert Dossier.objects.get(pk=dossier_id).number is None


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"nope": "x"}, "nope"),
        ({"copies": "abc"}, "copies"),
        ({"copies": 11}, "copies"),
        ({"copies": 0}, "copies"),
        ({"copies": True}, "copies"),
        ({"copies": "1e999999999"}, "copies"),
        ({"birth_date": "31/02/2024"}, "birth_date"),
        ({"birth_date": "2024-02-31"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"copy_kind": "photocopy"}, "copy_kind"),
        ({"phone": "123"}, "phone"),
        ({"phone": "+33 6 12 34 56 78"}, "phone"),
        ({"full_name": ["Awa"]}, "full_name"),
        ({"full_name": {"first": "Awa"}}, "full_name"),
        ({"full_name": "x" * 256}, "full_name"),
        ({"register_number": "x" * 21}, "register_number"),
        ({"id_document": "cni.pdf"}, "id_document"),
    ],
)
def test_wrong_answers_are_refused_on_create_and_on_edit(
    api: dict[str, ApiClient],
    draft: Dossier,
    unchanged: Any,
    answers: dict[str, Any],
    field: str,
) -> None:
    citizen = api["citizen_a"]
    unchanged()
    created = citizen.post("dossiers", {"procedure": BIRTH, "data": answers})
    _refused(created, 400, "invalid", {field})
    edited = citizen.patch(f"dossiers/{draft.pk}", {"data": answers})
    _refused(edited, 400, "invalid", {field})
    unchanged()


def test_unknown_procedure(api: dict[str, ApiClient], unchanged: Any) -> None:
    unchanged()
    for slug in ("nope", "", "../etc/passwd"):
        response = api["citizen_a"].post("dossiers", {"procedure": slug, "data": {}})
        _refused(response, 400, "invalid", {"procedure"})
    unchanged()


def test_draft_procedure_cannot_be_applied_to(
    api: dict[str, ApiClient], world: dict[str, User], unchanged: Any
) -> None:
    from guichet.catalog.actions import do_save_procedure

    birth = Procedure.objects.get(slug=BIRTH)
    do_save_procedure(
        birth.organisation,
        "projet",
        title={"fr": "Projet"},
        summary={"fr": "Pas encore publié."},
        form=[{"name": "motif", "type": "text", "label": {"fr": "Motif"}}],
        applicant_kinds=["person"],
    )
    unchanged()
    response = api["citizen_a"].post("dossiers", {"procedure": "projet", "data": {}})
    _refused(response, 400, "invalid", {"procedure"})
    unchanged()


def test_applicant_kind_not_allowed(api: dict[str, ApiClient], unchanged: Any) -> None:
    unchanged()
    response = api["citizen_a"].post(
        "dossiers", {"procedure": BIRTH, "data": {}, "applicant_kind": "company"}
    )
    _refused(response, 400, "invalid", {"applicant_kind"})
    unchanged()


# --- Identifiers ----------------------------------------------------------------------------


def test_foreign_and_made_up_identifiers(
    api: dict[str, ApiClient], world: dict[str, User], draft: Dossier, unchanged: Any
) -> None:
    moussa = world["citizen_b"]
    theirs = actions.do_create_draft(moussa, Procedure.objects.get(slug=BIRTH), {})
    their_file = actions.do_add_attachment(moussa, theirs.pk, "id_document", pdf_file())
    other_draft = actions.do_create_draft(world["citizen_a"], Procedure.objects.get(slug=BIRTH))
    mine = draft.attachments.get()
    citizen = api["citizen_a"]
    unchanged()

    for dossier_id in (theirs.pk, uuid.uuid4(), "not-a-uuid", "1 OR 1=1", "%00"):
        for response in (
            citizen.get(f"dossiers/{dossier_id}"),
            citizen.patch(f"dossiers/{dossier_id}", {"data": {"copies": 1}}),
            citizen.delete(f"dossiers/{dossier_id}"),
            citizen.post(f"dossiers/{dossier_id}/submit"),
            citizen.post(f"dossiers/{dossier_id}/messages", {"body": "Bonjour"}),
            citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file()),
        ):
            _refused(response, 404, "not_found")
    # An attachment is found only through its own dossier.
    for dossier_id, attachment_id in (
        (theirs.pk, their_file.pk),
        (draft.pk, their_file.pk),
        (other_draft.pk, mine.pk),
        (draft.pk, uuid.uuid4()),
        (draft.pk, "not-a-uuid"),
    ):
        path = f"dossiers/{dossier_id}/attachments/{attachment_id}"
        _refused(citizen.get(path), 404, "not_found")
        _refused(citizen.delete(path), 404, "not_found")
    unchanged()


def test_assignee_that_is_not_a_uuid(
    api: dict[str, ApiClient], in_review: Dossier, unchanged: Any
) -> None:
    unchanged()
    response = api["supervisor"].post(
        f"dossiers/{in_review.pk}/transitions", {"action": "assign", "assignee": "fatou"}
    )
    _refused(response, 400, "invalid", {"assignee"})
    unchanged()


# --- Request bodies -------------------------------------------------------------------------


def _raw(client: ApiClient, method: str, path: str, body: bytes | str) -> Any:
    send = getattr(client.client, method)
    return send(f"/api/v1/{path}", body, content_type="application/json", headers=client.headers)


@pytest.mark.parametrize(
    "body", ['{"data": ', "{'data': {}}", "not json", '{"data": {"copies": 1,}}', "\xff\xfe"]
)
def test_malformed_json(
    api: dict[str, ApiClient], draft: Dossier, unchanged: Any, body: str
) -> None:
    unchanged()
    _refused(_raw(api["citizen_a"], "patch", f"dossiers/{draft.pk}", body), 400, "malformed")
    _refused(_raw(api["citizen_a"], "post", "dossiers", body), 400, "malformed")
    unchanged()


@pytest.mark.parametrize("body", ["[1, 2]", '"data"', "42", "null", '{"data": [1]}'])
def test_json_that_is_not_the_expected_object(
    api: dict[str, ApiClient], draft: Dossier, unchanged: Any, body: str
) -> None:
    unchanged()
    _refused(_raw(api["citizen_a"], "patch", f"dossiers/{draft.pk}", body), 400, "invalid")
    response = _raw(api["citizen_a"], "post", f"dossiers/{draft.pk}/transitions", body)
    assert response.status_code == 400 and response.json()["code"] in {"invalid", "malformed"}
    unchanged()


def test_null_characters(
    api: dict[str, ApiClient], draft: Dossier, in_review: Dossier, unchanged: Any
) -> None:
    """PostgreSQL cannot hold a NUL character: it must be a 400, on every database."""
    citizen = api["citizen_a"]
    unchanged()
    for response in (
        citizen.patch(f"dossiers/{draft.pk}", {"data": {"full_name": "Awa\x00"}}),
        citizen.post("dossiers", {"procedure": "extrait\x00", "data": {}}),
        citizen.post(f"dossiers/{in_review.pk}/messages", {"body": "Bonjour\x00"}),
        api["instructor"].post(
            f"dossiers/{in_review.pk}/transitions", {"action": "reject", "comment": "\x00"}
        ),
        api["instructor"].get("queue", procedure="\x00"),
        citizen.get("procedures", q="naissance\x00"),
        citizen.post("me/tokens", {"name": "\x00"}),
    ):
        assert response.status_code == 400, response.content
        assert response.json()["code"] in {"invalid", "malformed"}
    assert citizen.get("procedures/extrait%00naissance").status_code == 404
    unchanged()


def test_a_body_too_large_to_read(api: dict[str, ApiClient], unchanged: Any) -> None:
    unchanged()
    response = api["citizen_a"].post(
        "dossiers", {"procedure": BIRTH, "data": {"full_name": "x" * (3 * 1024 * 1024)}}
    )
    _refused(response, 413, "too_large")
    unchanged()


# --- Authentication -------------------------------------------------------------------------


def test_missing_or_bad_credentials(
    api: dict[str, ApiClient], world: dict[str, User], draft: Dossier, unchanged: Any
) -> None:
    path = f"/api/v1/dossiers/{draft.pk}"
    client = api["anonymous"].client
    unchanged()
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer gch_made-up"},
        {"Authorization": "Basic YXdhOnNlY3JldA=="},
        {"Authorization": api["citizen_a"].headers["Authorization"].replace("Bearer", "Token")},
    ):
        _refused(client.get(path, headers=headers), 401, "unauthenticated")
        _refused(
            client.patch(path, '{"data": {}}', content_type="application/json", headers=headers),
            401,
            "unauthenticated",
        )
    unchanged()


def test_revoked_token_and_closed_account(
    api: dict[str, ApiClient], world: dict[str, User], draft: Dossier, unchanged: Any
) -> None:
    citizen = api["citizen_a"]
    assert citizen.get(f"dossiers/{draft.pk}").status_code == 200
    ApiToken.objects.filter(user=world["citizen_a"]).update(revoked_at="2026-01-01T00:00:00Z")
    unchanged()
    _refused(citizen.get(f"dossiers/{draft.pk}"), 401, "unauthenticated")
    _refused(citizen.post(f"dossiers/{draft.pk}/submit"), 401, "unauthenticated")

    moussa = api["citizen_b"]
    User.objects.filter(pk=world["citizen_b"].pk).update(is_active=False)
    _refused(moussa.get("dossiers"), 401, "unauthenticated")
    unchanged()


# --- Transitions ----------------------------------------------------------------------------


def test_unknown_action(api: dict[str, ApiClient], in_review: Dossier, unchanged: Any) -> None:
    unchanged()
    for action in ("fly", "", "ACCEPT", "accept "):
        response = api["instructor"].post(
            f"dossiers/{in_review.pk}/transitions", {"action": action}
        )
        _refused(response, 400, "invalid", {"action"})
    missing = api["instructor"].post(f"dossiers/{in_review.pk}/transitions", {"comment": "x"})
    _refused(missing, 400, "invalid", {"action"})
    unchanged()


@pytest.mark.parametrize("action", ["reject", "request_changes"])
@pytest.mark.parametrize("comment", ["", "   \n\t "])
def test_reasons_are_required(
    api: dict[str, ApiClient], in_review: Dossier, unchanged: Any, action: str, comment: str
) -> None:
    unchanged()
    response = api["instructor"].post(
        f"dossiers/{in_review.pk}/transitions", {"action": action, "comment": comment}
    )
    _refused(response, 400, "invalid", {"comment"})
    unchanged()


def test_too_long_texts(api: dict[str, ApiClient], in_review: Dossier, unchanged: Any) -> None:
    unchanged()
    response = api["instructor"].post(
        f"dossiers/{in_review.pk}/transitions", {"action": "reject", "comment": "x" * 5001}
    )
    _refused(response, 400, "invalid", {"comment"})
    message = api["citizen_a"].post(f"dossiers/{in_review.pk}/messages", {"body": "x" * 5001})
    _refused(message, 400, "invalid", {"body"})
    empty = api["citizen_a"].post(f"dossiers/{in_review.pk}/messages", {"body": "  "})
    _refused(empty, 400, "invalid", {"body"})
    unchanged()


def test_queue_parameters(api: dict[str, ApiClient], in_review: Dossier) -> None:
    agent = api["instructor"]
    _refused(agent.get("queue", limit="abc"), 400, "invalid", {"limit"})
    _refused(agent.get("queue", mine="maybe"), 400, "invalid", {"mine"})
    # A cursor that does not decode, or a state that does not exist, is ignored, not a 500.
    for params in ({"cursor": "!!!"}, {"cursor": "bm90fGEtdXVpZA=="}, {"state": "nope"}):
        response = agent.get("queue", **params)
        assert response.status_code == 200
        assert [item["id"] for item in response.json()["items"]] == [str(in_review.pk)]


def test_unknown_endpoints_answer_in_json(api: dict[str, ApiClient]) -> None:
    for path in ("nothing", "dossiers/abc/nope", "procedures/a/b", "v2/dossiers"):
        _refused(api["citizen_a"].get(path), 404, "not_found")
        _refused(api["anonymous"].post(path, {}), 404, "not_found")
