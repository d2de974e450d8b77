"""A document time-stamped by an outside TSA (GUICHET_TSA_URL) verifies when the operator trusts
its root (GUICHET_TSA_TRUST_ROOTS), online and offline, and not otherwise; an outside TSA not in
the residency host list is refused at start-up like any other outbound host."""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error

from guichet.documents.service import reset_process_state
from guichet.documents.tests.conftest import issued, own_pdf
from guichet.documents.tests.outside_tsa import OutsideTsa, serving
from guichet.documents.tests.test_standalone import export, standalone
from guichet.documents.verify import Check, verify_pdf
from guichet.identity.models import User
from guichet.vault.residency import check_residency

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def outside() -> OutsideTsa:
    return OutsideTsa.generate()  # two RSA keys: made once for the module


@pytest.fixture
def outside_url(outside: OutsideTsa, settings: Any) -> Iterator[str]:
    with serving(outside) as url:
        settings.GUICHET_TSA_URL = url
        reset_process_state()
        yield url
    reset_process_state()


def check(checks: Sequence[Check], name: str) -> str:
    return next(c.status for c in checks if c.name == name)


def test_a_document_stamped_outside_verifies_once_its_root_is_trusted(
    world: dict[str, User],
    outside: OutsideTsa,
    outside_url: str,
    settings: Any,
    tmp_path: Path,
) -> None:
    document = issued(world)
    pdf = own_pdf(document)
    # Not the embedded authority's label on the page: the outside one stamped it.
    untrusted = verify_pdf(pdf)
    assert untrusted.result == "invalid"
    assert check(untrusted.checks, "timestamp") == "failed"

    settings.GUICHET_TSA_TRUST_ROOTS = str(outside.write_root(tmp_path))
    trusted = verify_pdf(pdf)
    assert trusted.result == "valid", trusted.to_dict()
    assert check(trusted.checks, "timestamp") == "ok"

    # Offline: the signed trust list now carries the outside root.
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    lists = tmp_path / "lists"
    report = standalone(str(path), lists, export(lists))
    assert report["result"] == "valid", report
    stamp = next(c for c in report["checks"] if c["name"] == "timestamp")
    assert stamp["status"] == "ok"


def test_offline_without_the_root_the_outside_stamp_is_refused(
    world: dict[str, User], outside_url: str, tmp_path: Path
) -> None:
    document = issued(world)
    path = tmp_path / "document.pdf"
    path.write_bytes(own_pdf(document))
    lists = tmp_path / "lists"
    report = standalone(str(path), lists, export(lists))
    assert report["result"] == "invalid"
    stamp = next(c for c in report["checks"] if c["name"] == "timestamp")
    assert "not on the trust list" in stamp["detail"]


def test_a_tsa_outside_the_residency_hosts_is_refused_at_start_up(
    settings: Any,
) -> None:
    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.1,localhost,::1"
    settings.GUICHET_TSA_URL = "https://tsa.example.com/tsr"
    errors = [m.msg for m in check_residency() if isinstance(m, Error)]
    assert any("GUICHET_TSA_URL" in msg and "tsa.example.com" in msg for msg in errors), errors
    settings.GUICHET_RESIDENCY_HOSTS = "127.0.0.1,localhost,::1,tsa.example.com"
    errors = [m.msg for m in check_residency() if isinstance(m, Error)]
    assert not any("GUICHET_TSA_URL" in msg for msg in errors)
