"""Publication under /transparency/ (checkpoint, tiles, proofs) and the person's own page."""

import base64
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from guichet.audit import service, tlog
from guichet.audit.actions import do_sign_checkpoint
from guichet.audit.models import Action, ActorKind, AuditEvent
from guichet.audit.service import Actor, NewEvent, record_event
from guichet.audit.tests import rfc9162
from guichet.identity.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.urls("guichet.audit.tests.urls")]

SYSTEM = Actor.system()


def _fill(count: int) -> list[bytes]:
    with transaction.atomic():
        service.record_events(
            [
                NewEvent(Action.DOSSIER_OPENED, SYSTEM, subject_id=f"person-{i}")
                for i in range(count)
            ]
        )
    return [service.canonical_bytes(event) for event in AuditEvent.objects.order_by("seq")]


def _leaves(entries: list[bytes]) -> bytes:
    return b"".join(tlog.leaf_hash(entry) for entry in entries)


# --- Publication ------------------------------------------------------------------------------


def test_the_latest_checkpoint_is_served_as_text(client: Client) -> None:
    assert client.get("/transparency/checkpoint").status_code == 404
    _fill(3)
    first = do_sign_checkpoint()
    _fill(2)
    latest = do_sign_checkpoint()
    assert first is not None and latest is not None
    response = client.get("/transparency/checkpoint")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == latest.note
    assert "max-age=5" in response["Cache-Control"]
    assert client.post("/transparency/checkpoint").status_code == 405


def test_tiles_hold_the_tree_hashes_in_the_tlog_tiles_layout(client: Client) -> None:
    entries = _fill(600)
    do_sign_checkpoint()
    _fill(10)  # not yet covered by a checkpoint: not published
    full = client.get("/transparency/tile/0/000")
    assert full.status_code == 200
    assert full["Content-Type"] == "application/octet-stream"
    assert "immutable" in full["Cache-Control"]
    assert full.content == _leaves(entries[0:256])
    assert client.get("/transparency/tile/0/001").content == _leaves(entries[256:512])
    partial = client.get("/transparency/tile/0/002.p/88")
    assert partial.content == _leaves(entries[512:600])
    assert client.get("/transparency/tile/0/002.p/10").content == _leaves(entries[512:522])
    level_one = client.get("/transparency/tile/1/000.p/2")
    assert level_one.content == rfc9162.mth(entries[0:256]) + rfc9162.mth(entries[256:512])
    for missing in [
        "tile/0/002",  # not full yet
        "tile/0/002.p/89",  # beyond the checkpoint
        "tile/0/003.p/1",
        "tile/1/000",
        "tile/1/000.p/3",
        "tile/2/000.p/1",
    ]:
        assert client.get(f"/transparency/{missing}").status_code == 404, missing


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/0",  # N must be 3-digit groups
        "tile/0/x000/000",  # leading zero group
        "tile/00/000",  # L has no leading zero
        "tile/64/000",  # L at most 63
        "tile/0/000.p/0",
        "tile/0/000.p/256",  # partial tiles hold 1 to 255 hashes
        "tile/0/000.p/010",
        "tile/entries/000",  # entries are personal data: never served
        "tile/entries/000.p/5",
    ],
)
def test_malformed_or_private_tile_paths_are_not_found(client: Client, path: str) -> None:
    _fill(300)
    do_sign_checkpoint()
    assert client.get(f"/transparency/{path}").status_code == 404


def test_a_public_proof_carries_hashes_and_the_checkpoint_only(client: Client) -> None:
    entries = _fill(21)
    checkpoint = do_sign_checkpoint()
    assert checkpoint is not None
    response = client.get("/transparency/proof/13")
    assert response.status_code == 200
    text = response.content.decode()
    head, _, note = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "index 13"  # no "extra" line: the event itself is not published
    path = [base64.b64decode(line) for line in lines[2:]]
    assert path == rfc9162.path(13, entries)
    assert note == checkpoint.note
    root = base64.b64decode(note.split("\n")[2])
    assert tlog.verify_inclusion(13, 21, tlog.leaf_hash(entries[13]), path, root)
    assert "person-13" not in text
    assert client.get("/transparency/proof/21").status_code == 404  # not covered yet


# --- "Who used my data" -------------------------------------------------------------------------


def _agent(world: dict[str, User]) -> Actor:
    agent = world["instructor"]
    return Actor(ActorKind.AGENT, str(agent.pk), agent.display_name, "org-1", "Commune de Dakar")


def _about(world: dict[str, User]) -> dict[str, AuditEvent]:
    awa, moussa = world["citizen_a"], world["citizen_b"]
    agent = _agent(world)
    with transaction.atomic():
        events = {
            "created": record_event(
                Action.DOSSIER_CREATED,
                actor=Actor(ActorKind.CITIZEN, str(awa.pk), awa.display_name),
                subject_id=awa.pk,
                object_type="dossier",
                object_id="d-1",
            ),
            "opened": record_event(
                Action.DOSSIER_OPENED,
                actor=agent,
                subject_id=awa.pk,
                object_type="dossier",
                object_id="d-1",
                purpose="Instruction of the application",
            ),
            "moussa": record_event(
                Action.DOSSIER_OPENED,
                actor=agent,
                subject_id=moussa.pk,
                purpose="Purpose about Moussa only",
            ),
        }
    do_sign_checkpoint()
    with transaction.atomic():
        events["pending"] = record_event(
            Action.ATTACHMENT_DOWNLOADED,
            actor=agent,
            subject_id=awa.pk,
            object_type="attachment",
            purpose="Checking the document",
        )
    return events


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_a_person_sees_every_event_about_them_and_nothing_else(world: dict[str, User]) -> None:
    _about(world)
    page = _client(world["citizen_a"]).get("/account/data-accesses/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Instruction of the application" in html
    assert "Checking the document" in html
    assert "Commune de Dakar" in html
    assert "Purpose about Moussa only" not in html
    assert world["instructor"].display_name not in html  # names hidden unless policy says so
    assert html.count("<tr>") == 1 + 3  # header + Awa's three events
    other = _client(world["citizen_b"]).get("/account/data-accesses/").content.decode()
    assert "Purpose about Moussa only" in other
    assert "Instruction of the application" not in other
    assert other.count("<tr>") == 1 + 1


def test_the_operator_may_show_agents_names(world: dict[str, User], settings: Any) -> None:
    settings.GUICHET_AUDIT_SHOW_AGENT_NAMES = True
    _about(world)
    html = _client(world["citizen_a"]).get("/account/data-accesses/").content.decode()
    assert world["instructor"].display_name in html


def test_anonymous_visitors_are_sent_to_sign_in(world: dict[str, User]) -> None:
    response = _client(None).get("/account/data-accesses/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert _client(None).get("/account/data-accesses/0.tlog-proof").status_code == 302


def test_filters_narrow_the_list_and_bad_dates_get_a_clear_400(world: dict[str, User]) -> None:
    _about(world)
    awa = world["citizen_a"]
    awa.language = "en"  # the messages checked below are Django's and ours, in English
    awa.save()
    client = _client(awa)
    reads = client.get("/account/data-accesses/", {"family": 2}).content.decode()
    assert "Instruction of the application" in reads and "Checking the document" in reads
    assert reads.count("<tr>") == 1 + 2
    future = client.get("/account/data-accesses/", {"since": "2999-01-01"}).content.decode()
    assert "<table" not in future
    bad = client.get("/account/data-accesses/", {"since": "yesterday", "family": "7"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "Enter a valid date." in html and "Select a valid choice." in html
    backwards = client.get(
        "/account/data-accesses/", {"since": "2026-02-01", "until": "2026-01-01"}
    )
    assert backwards.status_code == 400
    assert "The end date is before the start date." in backwards.content.decode()


def test_a_person_downloads_the_proof_of_their_own_event_only(world: dict[str, User]) -> None:
    events = _about(world)
    client = _client(world["citizen_a"])
    response = client.get(f"/account/data-accesses/{events['opened'].seq}.tlog-proof")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    head, _, note = response.content.decode().partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    event_bytes = base64.b64decode(lines[1].removeprefix("extra "))
    assert b"Instruction of the application" in event_bytes
    index = int(lines[2].removeprefix("index "))
    size, root = int(note.split("\n")[1]), base64.b64decode(note.split("\n")[2])
    path = [base64.b64decode(line) for line in lines[3:]]
    assert tlog.verify_inclusion(index, size, tlog.leaf_hash(event_bytes), path, root)
    # Someone else's event, an event not yet covered, an event that does not exist: not found.
    for seq in (events["moussa"].seq, events["pending"].seq, 999):
        assert client.get(f"/account/data-accesses/{seq}.tlog-proof").status_code == 404
