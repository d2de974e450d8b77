"""Recording events, the stored tree, checkpoints and their signatures, through the service and
the management commands."""

import base64
import hashlib
import json
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.audit import encoding, keys, service, tlog
from guichet.audit.actions import do_sign_checkpoint
from guichet.audit.models import Action, ActorKind, AuditEvent, Checkpoint, LogHead, TreeNode
from guichet.audit.service import Actor, NewEvent, TransactionRequired, record_event
from guichet.audit.tasks import sign_checkpoint_if_due
from guichet.audit.tests import rfc9162
from guichet.audit.tests.conftest import ORIGIN

pytestmark = pytest.mark.django_db

AGENT = Actor(ActorKind.AGENT, str(uuid.uuid4()), "Fatou Ndiaye", str(uuid.uuid4()), "Commune")
CITIZEN_ID = uuid.uuid4()


def _record(count: int, **overrides: Any) -> list[AuditEvent]:
    events = []
    with transaction.atomic():
        for number in range(count):
            values: dict[str, Any] = {
                "actor": AGENT,
                "object_type": "dossier",
                "object_id": uuid.uuid4(),
                "subject_id": CITIZEN_ID,
                "purpose": "instruction",
                "details": {"n": number},
            }
            values.update(overrides)
            events.append(record_event(Action.DOSSIER_OPENED, **values))
    return events


def _entries() -> list[bytes]:
    return [service.canonical_bytes(event) for event in AuditEvent.objects.order_by("seq")]


def _spec_open_note(note: str, name: str, public: bytes) -> str:
    """An independent reading of C2SP signed-note: split at the last empty line, find our
    signature line by key name and key ID, verify Ed25519 over the text."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    for line in signatures.splitlines():
        dash, signer, blob = line.split(" ")
        raw = base64.b64decode(blob)
        if dash == "\u2014" and signer == name and raw[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())
            return text
    raise AssertionError("no signature by the log key")


# --- Recording ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused_and_writes_nothing() -> None:
    with pytest.raises(TransactionRequired):
        record_event(Action.DOSSIER_OPENED, actor=AGENT, subject_id=CITIZEN_ID)
    assert AuditEvent.objects.count() == 0
    assert TreeNode.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_takes_its_event_and_leaves_no_gap() -> None:
    _record(2)
    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(Action.DOSSIER_OPENED, actor=AGENT, subject_id=CITIZEN_ID)
        raise RuntimeError("the change failed")
    _record(1)
    assert list(AuditEvent.objects.values_list("seq", flat=True).order_by("seq")) == [0, 1, 2]
    assert LogHead.objects.get().size == 3
    assert service.root_at(3) == rfc9162.mth(_entries())


def test_events_are_numbered_from_zero_and_hashed_as_stored() -> None:
    events = _record(3)
    assert [event.seq for event in events] == [0, 1, 2]
    for event in AuditEvent.objects.order_by("seq"):
        stored = TreeNode.objects.get(level=0, index=event.seq)
        assert bytes(stored.hash) == tlog.leaf_hash(service.canonical_bytes(event))
    first = json.loads(_entries()[0])
    assert first["seq"] == 0 and first["v"] == 1 and first["action"] == 201
    assert first["subject_id"] == str(CITIZEN_ID) and first["actor_name"] == "Fatou Ndiaye"
    assert len(first["salt"]) == 32
    assert first["time"].endswith("Z") and len(first["time"]) == 27


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"amount": 1.5}, "float"),
        ({"big": 2**60}, "too large"),
        ({"text": "a\x00b"}, "NUL"),
        ({"blob": "x" * 5000}, "longer|larger"),
        ({1: "key"}, "key"),
    ],
)
def test_details_that_would_not_survive_the_database_are_refused(
    details: dict[Any, Any], message: str
) -> None:
    with pytest.raises(encoding.EncodingError, match=message), transaction.atomic():
        record_event(Action.DOSSIER_OPENED, actor=AGENT, details=details)
    assert AuditEvent.objects.count() == 0


def test_text_fields_are_bounded() -> None:
    with pytest.raises(encoding.EncodingError, match="purpose"), transaction.atomic():
        record_event(Action.DOSSIER_OPENED, actor=AGENT, purpose="x" * 201)
    with pytest.raises(encoding.EncodingError, match=r"surrogate|Unicode"), transaction.atomic():
        record_event(Action.DOSSIER_OPENED, actor=AGENT, purpose="\ud800")
    assert AuditEvent.objects.count() == 0


TEXT = st.text(max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=TEXT,
    purpose=TEXT,
    object_type=st.text(max_size=10),
    details=st.dictionaries(TEXT, JSON_VALUES, max_size=4),
)
def test_canonical_bytes_are_the_sorted_compact_json_of_the_event(
    name: str, purpose: str, object_type: str, details: dict[str, Any]
) -> None:
    """The fast template encoder equals json.dumps(sort_keys, compact) of the event object, for
    any text (NUL excepted, which is refused), and survives the database round trip."""
    name, purpose, object_type = (s.replace("\x00", "") for s in (name, purpose, object_type))
    details = json.loads(json.dumps(details).replace("\\u0000", ""))
    actor = Actor(ActorKind.CITIZEN, "id", name)
    with transaction.atomic():
        event = record_event(
            Action.PROFILE_UPDATED,
            actor=actor,
            object_type=object_type,
            purpose=purpose,
            details=details,
        )
    stored = AuditEvent.objects.get(seq=event.seq)
    values = service.event_fields(stored)
    expected = json.dumps(
        encoding.event_object(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert encoding.canonical_event(values) == expected
    assert service.canonical_bytes(event) == expected  # as appended == as read back
    assert json.loads(expected)["details"] == details
    assert bytes(TreeNode.objects.get(level=0, index=event.seq).hash) == tlog.leaf_hash(expected)


# --- The stored tree -------------------------------------------------------------------------


def test_stored_roots_and_proofs_match_the_rfc_for_every_size_and_index(
    django_assert_num_queries: Any,
) -> None:
    _record(40)
    entries = _entries()
    for size in range(1, 41):
        assert service.root_at(size) == rfc9162.mth(entries[:size])
        for index in range(size):
            assert service.inclusion_path(index, size) == rfc9162.path(index, entries[:size])
        for first in range(1, size + 1):
            assert service.consistency_path(first, size) == rfc9162.proof(first, entries[:size])
    # Each proof is one batched read of O(log n) stored hashes, never a rebuild.
    with django_assert_num_queries(1):
        service.inclusion_path(17, 40)
    with django_assert_num_queries(1):
        service.consistency_path(13, 40)
    assert service.current_head() == (40, rfc9162.mth(entries))


def test_appending_writes_only_the_new_leaf_and_completed_parents() -> None:
    _record(7)
    before = set(TreeNode.objects.values_list("level", "index"))
    _record(1)  # leaf 7 completes (1, 3), (2, 1) and (3, 0)
    added = set(TreeNode.objects.values_list("level", "index")) - before
    assert added == {(0, 7), (1, 3), (2, 1), (3, 0)}


def test_a_lost_head_is_rebuilt_from_the_stored_tree() -> None:
    _record(5)
    LogHead.objects.all().delete()
    _record(2)
    assert list(AuditEvent.objects.values_list("seq", flat=True).order_by("seq")) == list(range(7))
    assert service.root_at(7) == rfc9162.mth(_entries())


# --- Checkpoints ------------------------------------------------------------------------------


def test_checkpoint_is_a_signed_note_in_the_c2sp_format(audit_settings: Path) -> None:
    _record(5)
    out = StringIO()
    call_command("audit", "checkpoint", stdout=out)
    note = out.getvalue()
    checkpoint = Checkpoint.objects.get()
    assert note == checkpoint.note
    root = rfc9162.mth(_entries())
    text = f"{ORIGIN}\n5\n{base64.b64encode(root).decode()}\n"
    assert note.startswith(text + "\n\u2014 " + ORIGIN + " ")
    public = keys.public_key()
    assert _spec_open_note(note, ORIGIN, public) == text
    # The verifier key string names the same key.
    vkey = StringIO()
    call_command("audit", "key", stdout=vkey)
    name, key_id, encoded = vkey.getvalue().strip().split("+", 2)
    assert name == ORIGIN and base64.b64decode(encoded) == b"\x01" + public
    assert (
        bytes.fromhex(key_id) == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public).digest()[:4]
    )
    # An altered text no longer verifies.
    with pytest.raises(InvalidSignature):
        _spec_open_note(note.replace("\n5\n", "\n4\n"), ORIGIN, public)
    # The key file was created private to the server's user.
    key_file = audit_settings / "keys" / "audit-ed25519.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_signing_twice_without_new_events_gives_the_same_checkpoint() -> None:
    _record(3)
    first = do_sign_checkpoint()
    assert do_sign_checkpoint() == first
    assert Checkpoint.objects.count() == 1


def test_the_log_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint() -> None:
    _record(4)
    do_sign_checkpoint()
    _record(2)
    head = LogHead.objects.get()  # the tree of 6 is (2, 0) + (1, 2): rewrite the first part
    LogHead.objects.update(frontier=b"\x00" * 32 + bytes(head.frontier)[32:])
    err = StringIO()
    with pytest.raises(Exception, match=r"^Signature refusée\u00a0: "):
        call_command("audit", "checkpoint", stderr=err)
    assert Checkpoint.objects.count() == 1


def test_the_task_signs_every_n_events_or_after_t_seconds(settings: Any) -> None:
    settings.GUICHET_AUDIT_CHECKPOINT_EVENTS = 10
    settings.GUICHET_AUDIT_CHECKPOINT_SECONDS = 3600
    assert sign_checkpoint_if_due.call() is None  # empty log: nothing to sign
    _record(3)
    assert sign_checkpoint_if_due.call() == 3  # first events: sign at once
    _record(9)
    assert sign_checkpoint_if_due.call() is None  # 9 new events, and not an hour yet
    _record(1)
    assert sign_checkpoint_if_due.call() == 13
    _record(1)
    Checkpoint.objects.update(signed_at=datetime.now(UTC) - timedelta(hours=2))
    assert sign_checkpoint_if_due.call() == 14  # one event, but an hour has passed
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [3, 13, 14]


def test_events_about_a_person_are_filtered_by_date_and_kind() -> None:
    other = uuid.uuid4()
    _record(2)
    _record(1, subject_id=other)
    with transaction.atomic():
        service.record_events([NewEvent(Action.TOKEN_CREATED, AGENT, subject_id=CITIZEN_ID)])
    mine = service.events_about(CITIZEN_ID)
    assert [event.seq for event in mine] == [3, 1, 0]
    assert [event.seq for event in service.events_about(CITIZEN_ID, families=[3])] == [3]
    assert [event.seq for event in service.events_about(other)] == [2]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert not service.events_about(CITIZEN_ID, since=tomorrow).exists()
    assert service.events_about(CITIZEN_ID, until=tomorrow).count() == 3
    assert not service.events_about("").exists()
