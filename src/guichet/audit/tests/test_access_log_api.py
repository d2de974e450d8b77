"""GET /api/v1/me/access-log and the download of one's events with their proofs (page and API),
checked offline by tools/verify_log.py --proofs. A person sees their own events only: citizen B
nothing of A's, agents and admins none of a citizen's."""

import base64
import hashlib
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from guichet.audit.models import AuditEvent
from guichet.identity.models import User
from guichet.testing import BIRTH, BIRTH_ANSWERS, ApiClient, pdf_file

pytestmark = pytest.mark.django_db

STANDALONE = Path(__file__).resolve().parents[4] / "tools" / "verify_log.py"


def _awa_dossier_opened(api: dict[str, ApiClient]) -> str:
    """Citizen A files a dossier and the instructor opens it (a read logged about A)."""
    citizen = api["citizen_a"]
    dossier_id = citizen.post("dossiers", {"procedure": BIRTH, "data": BIRTH_ANSWERS}).json()["id"]
    citizen.upload(f"dossiers/{dossier_id}/attachments", "id_document", pdf_file())
    assert citizen.post(f"dossiers/{dossier_id}/submit").status_code == 200
    assert api["instructor"].get(f"dossiers/{dossier_id}").status_code == 200
    return str(dossier_id)


def _checkpoint() -> None:
    call_command("audit", "checkpoint", stdout=StringIO())


@pytest.mark.parametrize(
    "persona", ["citizen_a", "citizen_b", "instructor", "supervisor", "other_agent", "admin"]
)
def test_each_person_gets_their_own_events_only(
    api: dict[str, ApiClient], world: dict[str, User], persona: str
) -> None:
    _awa_dossier_opened(api)
    _checkpoint()
    me = str(world[persona].pk)
    response = api[persona].get("me/access-log", limit=200)
    assert response.status_code == 200
    items = response.json()["items"]
    mine = set(AuditEvent.objects.filter(subject_id=me).values_list("seq", flat=True))
    assert {item["seq"] for item in items} == mine
    awa = str(world["citizen_a"].pk)
    awas = set(AuditEvent.objects.filter(subject_id=awa).values_list("seq", flat=True))
    if persona == "citizen_a":
        assert any(item["organisation"] == "Commune de Dakar-Plateau" for item in items)
        assert any(item["kind"] == 2 and item["provable"] for item in items)
    else:
        assert not {item["seq"] for item in items} & awas
    proofs = api[persona].get("me/access-log/proofs").json()
    assert proofs["subject"] == me
    assert {event["index"] for event in proofs["events"]} == mine
    assert all(event["event"]["subject_id"] == me for event in proofs["events"])


def test_anonymous_callers_get_401(api: dict[str, ApiClient]) -> None:
    assert api["anonymous"].get("me/access-log").status_code == 401
    assert api["anonymous"].get("me/access-log/proofs").status_code == 401


def test_filters_and_pages_like_the_page(api: dict[str, ApiClient], world: dict[str, User]) -> None:
    _awa_dossier_opened(api)
    citizen = api["citizen_a"]
    everything = citizen.get("me/access-log").json()["items"]
    assert len(everything) >= 4
    reads = citizen.get("me/access-log", kind=2).json()["items"]
    assert reads and all(item["kind"] == 2 for item in reads)
    commune = next(i["organisation_id"] for i in everything if i["organisation_id"])
    by_org = citizen.get("me/access-log", organisation=commune).json()["items"]
    assert by_org and all(item["organisation_id"] == commune for item in by_org)
    assert citizen.get("me/access-log", organisation="elsewhere").json()["items"] == []
    assert citizen.get("me/access-log", until="2000-01-01").json()["items"] == []
    assert citizen.get("me/access-log", since="2000-01-01").json()["items"] == everything
    first = citizen.get("me/access-log", limit=2).json()
    assert len(first["items"]) == 2 and first["next_before"] == first["items"][-1]["seq"]
    second = citizen.get("me/access-log", limit=2, before=first["next_before"]).json()
    assert [i["seq"] for i in first["items"] + second["items"]] == [
        i["seq"] for i in everything[:4]
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-05-02", "until": "2026-05-01"}, "until"),
        ({"kind": 7}, "kind"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"before": -1}, "before"),
        ({"since": "yesterday"}, "since"),
        ({"kind": "reads"}, "kind"),
    ],
)
def test_bad_filters_get_a_400_naming_the_field(
    api: dict[str, ApiClient], params: dict[str, Any], field: str
) -> None:
    response = api["citizen_a"].get("me/access-log", **params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def _verify(path: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        [sys.executable, str(STANDALONE), "--proofs", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_download_verifies_offline_and_tampering_is_caught(
    api: dict[str, ApiClient], world: dict[str, User], tmp_path: Path
) -> None:
    _awa_dossier_opened(api)
    _checkpoint()
    api["instructor"].get(f"dossiers/{_awa_dossier_opened(api)}")  # after the checkpoint
    client = Client()
    client.force_login(world["citizen_a"])
    page = client.get("/account/data-accesses/")
    assert "/account/data-accesses/proofs.json" in page.content.decode()
    download = client.get("/account/data-accesses/proofs.json")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    bundle = json.loads(download.content)
    assert bundle == api["citizen_a"].get("me/access-log/proofs").json()
    assert bundle["not_yet_covered"]  # the later events wait for the next signature
    vkey = bundle["verifier_key"]
    good = tmp_path / "proofs.json"
    good.write_text(json.dumps(bundle))
    code, output = _verify(good, "--key", vkey)
    assert code == 0, output
    assert f"OK: {len(bundle['events'])} events proven" in output

    # One changed character in an event: its leaf no longer matches, or its proof fails.
    # (Leaf hash recomputed too, as a forger would: the inclusion proof still catches it.)
    victim = next(
        e for e in bundle["events"] if e["event"]["purpose"] == "Instruction of the application"
    )
    entry = base64.b64decode(victim["entry"]).replace(b"Instruction", b"Instructioo")
    altered = {**victim, "entry": base64.b64encode(entry).decode(), "event": json.loads(entry)}
    altered["leaf_hash"] = hashlib.sha256(b"\x00" + entry).hexdigest()
    events = [altered if e is victim else e for e in bundle["events"]]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**bundle, "events": events}))
    code, output = _verify(bad, "--key", vkey)
    assert code == 1 and f"first bad entry: {victim['index']}" in output
    assert "inclusion proof does not verify" in output

    # Someone else's event slipped in: refused, it is not about the person.
    other = {**bundle, "subject": str(world["citizen_b"].pk)}
    (tmp_path / "other.json").write_text(json.dumps(other))
    code, output = _verify(tmp_path / "other.json", "--key", vkey)
    assert code == 1 and "someone else" in output

    # Another log's key: the checkpoint signature does not verify.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from guichet.audit import notes

    stranger = notes.verifier_key(
        bundle["log"], notes.public_bytes(Ed25519PrivateKey.generate().public_key())
    )
    code, output = _verify(good, "--key", stranger)
    assert code == 1 and "not signed" in output


def test_the_page_filters_by_administration_too(
    api: dict[str, ApiClient], world: dict[str, User]
) -> None:
    _awa_dossier_opened(api)
    client = Client()
    client.force_login(world["citizen_a"])
    commune = AuditEvent.objects.exclude(org_id="").values_list("org_id", flat=True)[0]
    page = client.get("/account/data-accesses/")
    assert f'value="{commune}"' in page.content.decode()  # offered in the filter
    only = client.get("/account/data-accesses/", {"organisation": commune})
    assert only.status_code == 200 and "Commune de Dakar-Plateau" in only.content.decode()
    unknown = client.get("/account/data-accesses/", {"organisation": "nowhere"})
    assert unknown.status_code == 400
