"""Shared pieces of the documents tests: decided dossiers made through the dossiers' actions,
documents issued through the background task, and the poppler tools used as independent
verifiers (skipped with the reason when missing, except in CI where they must run)."""

import io
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guichet.audit.models import AuditEvent
from guichet.documents.access import read_pdf
from guichet.documents.models import Document
from guichet.documents.service import reset_process_state
from guichet.documents.tasks import issue_document_task
from guichet.dossiers import actions as dossier_actions
from guichet.dossiers.models import Dossier
from guichet.dossiers.tests.test_pages_support import submitted_for
from guichet.identity.models import User

REASONS = "La copie de la pièce d'identité ne correspond pas à la personne concernée."


@pytest.fixture(autouse=True)
def documents_process_state() -> Iterator[None]:
    """Each test has its own key folder (guichet.testing.vault_keys): no key, certificate or
    published list may carry over from another test in this process."""
    reset_process_state()
    yield
    reset_process_state()


def decided(world: dict[str, User], action: str = "accept", comment: str = "") -> Dossier:
    dossier = submitted_for(world["citizen_a"])
    dossier_actions.do_transition(world["instructor"], dossier.pk, "take")
    return dossier_actions.do_transition(world["instructor"], dossier.pk, action, comment)


def issued(world: dict[str, User], action: str = "accept", comment: str = "") -> Document:
    dossier = decided(world, action, comment)
    issue_document_task.enqueue(dossier_id=str(dossier.pk))
    return Document.objects.get(dossier=dossier)


def own_pdf(document: Document) -> bytes:
    """The PDF as its applicant gets it: their own read, checked by the reader and not logged."""
    return read_pdf(document.dossier.applicant, document)


def log_position() -> int:
    """The sequence number of the log's last entry (-1 if empty)."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return -1 if last is None else last


def log_after(position: int) -> list[tuple[Any, ...]]:
    """The entries appended after `position`, oldest first: who, in which administration, did
    what to which object of whose data."""
    return list(
        AuditEvent.objects.filter(seq__gt=position)
        .order_by("seq")
        .values_list(
            "action",
            "actor_kind",
            "actor_id",
            "actor_name",
            "org_name",
            "object_type",
            "object_id",
            "subject_id",
        )
    )


def account_export(response: Any) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The documents part of an account export (page or API answer) and the archive's files."""
    assert response.status_code == 200, response.content[:300]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    files = {name: archive.read(name) for name in archive.namelist()}
    account = json.loads(files.pop("account.json"))
    return account["documents"], files


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run this test")
        pytest.skip(reason)
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603


def empty_nss_database(directory: Path) -> str:
    """A throwaway NSS database trusting nothing, for pdfsig -nssdir."""
    certutil = require_tool("certutil", "libnss3-tools")
    directory.mkdir(parents=True, exist_ok=True)
    database = f"sql:{directory}"
    assert run(certutil, "-N", "-d", database, "--empty-password").returncode == 0
    return database


def nss_database(directory: Path, ca_pem: bytes) -> str:
    """A throwaway NSS database trusting only our CA. (pdfsig's -no-ocsp is not used: with it,
    poppler 22.12 reports "Unknown issue with Certificate" for certificates without any
    revocation pointer, which ours have none of; without it no request is made either.)"""
    database = empty_nss_database(directory)
    certutil = require_tool("certutil", "libnss3-tools")
    (directory / "ca.pem").write_bytes(ca_pem)
    added = run(
        certutil,
        "-A",
        "-d",
        database,
        "-n",
        "guichet-ca",
        "-t",
        "CT,C,C",
        "-i",
        str(directory / "ca.pem"),
    )
    assert added.returncode == 0, added.stderr
    return database
