"""Decision documents and the transparency log beyond the permission matrix: issuing is the
platform's act and logs no read in anyone's name; agents' downloads count for the bulk-export
alert like attachments'; a citizen's account export holds their own documents, unlogged."""

from typing import Any

import pytest

from guichet.audit.models import Action as LogAction
from guichet.audit.models import SecurityAlert
from guichet.documents.models import Document
from guichet.documents.tasks import issue_document_task
from guichet.documents.tests.conftest import (
    REASONS,
    account_export,
    decided,
    issued,
    log_after,
    log_position,
    own_pdf,
)
from guichet.documents.verify import verify_pdf
from guichet.dossiers.tests.test_pages_support import (  # noqa: F401 (strict_html is autouse)
    client_for,
    strict_html,
)
from guichet.identity.models import Membership, User
from guichet.testing import ApiClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("decision", "reasons"), [("accept", ""), ("reject", REASONS)])
def test_issuing_logs_no_read_in_the_deciding_agents_name(
    world: dict[str, User], decision: str, reasons: str
) -> None:
    """The worker reads the decided dossier as the platform: the one entry is "document issued"
    by the system actor, however many times the task runs."""
    dossier = decided(world, decision, reasons)
    logged = log_position()
    for _attempt in range(2):  # a retried or duplicated task
        issue_document_task.enqueue(dossier_id=str(dossier.pk))
    document = Document.objects.get(dossier=dossier)
    assert log_after(logged) == [
        (
            LogAction.DOCUMENT_ISSUED,
            "system",
            "",
            "Guichet",
            "",
            "document",
            str(document.pk),
            str(world["citizen_a"].pk),
        )
    ]
    # It did read the sealed dossier: the applicant's name is in the signed QR claims.
    verdict = verify_pdf(own_pdf(document))
    assert verdict.result == "valid"
    assert verdict.document["holder"] == "Awa Diop"


def test_issuing_does_not_depend_on_the_deciding_agent_still_seeing_the_dossier(
    world: dict[str, User],
) -> None:
    """The decision promised a document: the agent who took it leaving the administration
    before the worker runs changes nothing, and still nothing is logged in their name."""
    dossier = decided(world)
    Membership.objects.filter(user=world["instructor"]).delete()
    logged = log_position()
    issue_document_task.enqueue(dossier_id=str(dossier.pk))
    document = Document.objects.get(dossier=dossier)
    assert verify_pdf(own_pdf(document)).document["holder"] == "Awa Diop"
    assert [entry[:2] for entry in log_after(logged)] == [(LogAction.DOCUMENT_ISSUED, "system")]


def test_downloads_of_documents_and_attachments_count_together_for_the_bulk_export_alert(
    world: dict[str, User], settings: Any
) -> None:
    """A decision document takes the applicant's data out of the platform as an attachment
    does: three downloads by one agent, whatever they are, reach a threshold of three."""
    settings.GUICHET_ALERT_EXPORT_ITEMS = 3
    settings.GUICHET_ALERT_WORKING_HOURS = "00:00-23:59:59.999999"
    settings.GUICHET_ALERT_WORKING_DAYS = "1-7"
    first, second = issued(world), issued(world)
    page = client_for(world["instructor"]).get(f"/agent/documents/{first.pk}/download/")
    assert page.status_code == 200
    b"".join(page.streaming_content)  # type: ignore[attr-defined]
    api = ApiClient(world["instructor"])
    download = api.get(f"dossiers/{second.dossier_id}/documents/{second.pk}")
    assert download.status_code == 200
    b"".join(download.streaming_content)
    assert not SecurityAlert.objects.exists()
    attachment = second.dossier.attachments.get()
    download = api.get(f"dossiers/{second.dossier_id}/attachments/{attachment.pk}")
    assert download.status_code == 200
    alert = SecurityAlert.objects.get()
    assert (alert.action, alert.count, alert.agent_id) == (
        LogAction.ALERT_BULK_EXPORT,
        3,
        str(world["instructor"].pk),
    )


def test_the_account_export_holds_the_citizens_own_documents(world: dict[str, User]) -> None:
    document = issued(world)
    other = issued(world, "reject", REASONS)
    page, api = client_for(world["citizen_a"]), ApiClient(world["citizen_a"])
    logged = log_position()
    for response in (page.get("/account/export/"), api.get("me/export")):
        exported, files = account_export(response)
        assert [entry["number"] for entry in exported] == [document.number, other.number]
        assert [entry["kind"] for entry in exported] == ["certificate", "decision_letter"]
        for entry, original in zip(exported, (document, other), strict=True):
            pdf = files[entry["file"]]
            assert pdf == own_pdf(original)  # decrypted into the archive, as issued
            assert entry["sha256"] == original.sha256
            assert entry["revoked_at"] is None
        assert verify_pdf(files[exported[0]["file"]]).result == "valid"
    # The citizen reading their own data: nothing in the log.
    assert log_after(logged) == []


@pytest.mark.parametrize("persona", ["citizen_b", "instructor", "supervisor", "other_agent"])
def test_nobody_elses_export_holds_the_citizens_documents(
    world: dict[str, User], persona: str
) -> None:
    """Not another citizen's, and not the agents' who handled the dossier: an export is the
    person's own data only."""
    issued(world)
    exported, files = account_export(client_for(world[persona]).get("/account/export/"))
    assert exported == []
    assert not any(name.startswith("documents/") for name in files)


def test_the_citizen_sees_the_download_of_their_document_on_their_page(
    world: dict[str, User],
) -> None:
    document = issued(world)
    download = client_for(world["supervisor"]).get(f"/agent/documents/{document.pk}/download/")
    assert download.status_code == 200
    page = client_for(world["citizen_a"]).get("/account/data-accesses/")
    assert page.status_code == 200
    text = page.content.decode()
    # Told apart from an attachment of theirs: "Pièce téléchargée — document".
    assert "Pièce téléchargée — document de décision" in text
    assert "Commune de Dakar-Plateau" in text
