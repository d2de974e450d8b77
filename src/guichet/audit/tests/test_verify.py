"""`guichet audit verify` and the standalone tools/verify_log.py: every kind of tampering with
the log table is detected and named; the two verifiers agree."""

import base64
import random
import re
import subprocess
import sys
import tempfile
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.audit import encoding, notes, service, tlog, verify
from guichet.audit.actions import do_sign_checkpoint
from guichet.audit.models import Action, ActorKind, AuditEvent, Checkpoint, LogHead, TreeNode
from guichet.audit.service import Actor, record_event
from guichet.audit.tests.conftest import ORIGIN
from guichet.audit.verify import verify_log

pytestmark = pytest.mark.django_db

STANDALONE = Path(__file__).resolve().parents[4] / "tools" / "verify_log.py"
ACTIONS = [Action.DOSSIER_OPENED, Action.DOSSIER_SUBMITTED, Action.ATTACHMENT_DOWNLOADED]
NAMES = [
    "Awa Diop",
    "Fatou Ndiaye",
    "Préfecture de Thiès",
    'Quote " and \\ slash',
    "Ligne\nnouvelle",
]
EVENT_TAMPERING = ["modify", "delete", "insert", "swap", "truncate", "rewrite"]


def _build(size: int, checkpoints: list[int], rng: random.Random) -> None:
    """A fresh log of `size` varied events, signed at each size in `checkpoints` and at the end."""
    AuditEvent.objects.all().delete()
    TreeNode.objects.all().delete()
    LogHead.objects.all().delete()
    Checkpoint.objects.all().delete()
    for seq in range(size):
        with transaction.atomic():
            record_event(
                rng.choice(ACTIONS),
                actor=Actor(ActorKind.AGENT, str(rng.randrange(5)), rng.choice(NAMES), "7", "Org"),
                object_type="dossier",
                object_id=uuid.UUID(int=rng.getrandbits(128)),
                subject_id=str(rng.randrange(3)),
                purpose=rng.choice(NAMES),
                details={"n": seq, "note": rng.choice(NAMES)},
            )
        if seq + 1 in checkpoints:
            do_sign_checkpoint()
    do_sign_checkpoint()


def _rebuild_tree_from_events() -> None:
    """What an attacker without the signing key can do: make the stored tree and head agree
    with the edited events again."""
    TreeNode.objects.all().delete()
    frontier: list[bytes] = []
    size = 0
    for size, event in enumerate(AuditEvent.objects.order_by("seq"), start=1):
        leaf = tlog.leaf_hash(service.canonical_bytes(event))
        for level, index, digest in tlog.append_leaf(frontier, size - 1, leaf):
            TreeNode.objects.create(level=level, index=index, hash=digest)
    LogHead.objects.update_or_create(pk=1, defaults={"size": size, "frontier": b"".join(frontier)})


def _tamper(kind: str, target: int, rng: random.Random) -> int:
    """Apply one tampering at entry `target`; return the entry the verifier must name (for
    "rewrite", the largest it may name: only a checkpoint can reveal it)."""
    events = AuditEvent.objects
    if kind == "modify":
        field = rng.choice(["purpose", "actor_name", "subject_id", "details", "time", "action"])
        changes: dict[str, Any] = {
            "purpose": "forged",
            "actor_name": "Someone else",
            "subject_id": "999",
            "details": '{"forged":true}',
            "time": "2001-01-01T00:00:00.000000Z",
            "action": Action.DATA_EXPORTED,
        }
        events.filter(seq=target).update(**{field: changes[field]})
        return target
    if kind == "delete":
        events.filter(seq=target).delete()
        return target
    if kind == "insert":
        for event in events.filter(seq__gte=target).order_by("-seq"):
            events.filter(seq=event.seq).update(seq=event.seq + 1)
        copy = events.get(seq=target + 1)
        copy.seq, copy.purpose = target, "inserted afterwards"
        copy.save(force_insert=True)
        return target
    if kind == "swap":
        other = rng.choice([seq for seq in range(events.count()) if seq != target])
        first, second = events.get(seq=target), events.get(seq=other)
        for name in encoding.FIELDS:
            if name != "seq":
                left, right = getattr(first, name), getattr(second, name)
                setattr(first, name, right)
                setattr(second, name, left)
        first.save()
        second.save()
        return min(target, other)
    if kind == "truncate":
        events.filter(seq__gte=target).delete()
        _rebuild_tree_from_events()
        return target
    if kind == "rewrite":
        events.filter(seq=target).update(purpose="rewritten, tree and all")
        _rebuild_tree_from_events()
        return target
    raise AssertionError(kind)


def _cli_verify(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _standalone(*args: str) -> tuple[int, str]:
    """Export the log, then run tools/verify_log.py on the export in a separate process."""
    with tempfile.TemporaryDirectory(prefix="audit-export-") as folder:
        export = Path(folder) / "export"
        call_command("audit", "export", str(export), stdout=StringIO())
        vkey = (export / "log.vkey").read_text().strip()
        done = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [sys.executable, str(STANDALONE), str(export), "--key", vkey, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return done.returncode, done.stdout + done.stderr


def _first_bad(output: str) -> int | None:
    """The first bad entry a verifier named: the command's (French) or tools/verify_log.py's."""
    found = re.search(
        r"(?:ÉCHEC\u00a0: première entrée fautive\u00a0: |first bad entry: )(\d+)", output
    )
    return int(found.group(1)) if found else None


def _root(output: str) -> str | None:
    """The root a verifier printed: the command's (French) or tools/verify_log.py's (English)."""
    found = re.search(r"(?:root|racine) ([0-9a-f]{64})", output)
    return found.group(1) if found else None


# --- Single cases, through the command --------------------------------------------------------


def test_an_untouched_log_verifies_and_both_verifiers_give_the_same_root() -> None:
    _build(37, [5, 16, 20], random.Random(1))
    code, out, err = _cli_verify()
    assert code == 0, err
    assert out.startswith("OK\u00a0: 37 entrées, racine ")
    assert "4 points de contrôle vérifiés" in out
    standalone_code, standalone_out = _standalone()
    assert standalone_code == 0, standalone_out
    assert _root(standalone_out) == _root(out) == service.root_at(37).hex()


@pytest.mark.parametrize("kind", EVENT_TAMPERING)
def test_each_tampering_fails_the_command_naming_the_entry(kind: str) -> None:
    rng = random.Random(kind)
    _build(20, [8, 13], rng)
    expected = _tamper(kind, 10, rng)
    code, _, err = _cli_verify()
    assert code == 1
    assert err.startswith("ÉCHEC\u00a0: première entrée fautive\u00a0: ")
    if kind == "rewrite":
        # The events and tree agree again; only the signed checkpoint of 13 can tell, and
        # entries up to 8 are still vouched for by the checkpoint of 8.
        assert _first_bad(err) == 8
        assert "checkpoint" in err and "does not match the log" in err
    else:
        assert _first_bad(err) == expected


def test_an_altered_stored_node_is_named_by_the_entries_it_covers() -> None:
    _build(16, [], random.Random(2))
    TreeNode.objects.filter(level=2, index=1).update(hash=b"\x01" * 32)
    code, _, err = _cli_verify()
    assert code == 1 and _first_bad(err) == 4
    assert "level 2, index 1 (entries 4 to 7)" in err


def test_an_event_added_beyond_the_tree_is_found() -> None:
    _build(5, [], random.Random(3))
    stray = AuditEvent.objects.get(seq=4)
    stray.seq = 5
    stray.save(force_insert=True)
    code, _, err = _cli_verify()
    assert code == 1 and _first_bad(err) == 5
    assert "outside the tree" in err


@pytest.mark.parametrize("forgery", ["text", "size column", "other key", "unsigned"])
def test_forged_or_altered_checkpoints_are_refused(forgery: str) -> None:
    _build(6, [3], random.Random(4))
    checkpoint = Checkpoint.objects.get(tree_size=3)
    if forgery == "text":
        body = notes.CheckpointBody(ORIGIN, 3, b"\x00" * 32).text()
        signatures = checkpoint.note.split("\n\n", 1)[1]
        checkpoint.note = f"{body}\n{signatures}"  # the old signature under a new text
        checkpoint.save()
    elif forgery == "size column":
        Checkpoint.objects.filter(pk=checkpoint.pk).update(tree_size=2)
    elif forgery == "other key":
        text = notes.CheckpointBody(ORIGIN, 3, service.root_at(3)).text()
        checkpoint.note = notes.sign_note(text, ORIGIN, Ed25519PrivateKey.generate())
        checkpoint.save()
    else:
        checkpoint.note = notes.CheckpointBody(ORIGIN, 3, service.root_at(3)).text()
        checkpoint.save()
    code, _, err = _cli_verify()
    assert code == 1
    assert f"checkpoint {checkpoint.pk}" in err
    assert "forged or altered" in err or "differs from the signed text" in err


def test_a_checkpoint_kept_by_a_witness_reveals_a_truncation_hidden_locally(
    tmp_path: Path,
) -> None:
    _build(12, [], random.Random(5))
    witnessed = tmp_path / "checkpoint"
    witnessed.write_text(Checkpoint.objects.get(tree_size=12).note)
    # The operator truncates the log and deletes the checkpoints that would show it.
    AuditEvent.objects.filter(seq__gte=9).delete()
    Checkpoint.objects.all().delete()
    _rebuild_tree_from_events()
    assert _cli_verify()[0] == 0  # locally, nothing shows
    code, _, err = _cli_verify("--checkpoint", str(witnessed))
    assert code == 1 and _first_bad(err) == 9
    assert "truncated" in err


def test_a_checkpoint_signed_by_another_key_does_not_verify_against_the_trusted_key() -> None:
    _build(4, [], random.Random(6))
    stranger = Ed25519PrivateKey.generate()
    vkey = notes.verifier_key(ORIGIN, notes.public_bytes(stranger.public_key()))
    code, _, err = _cli_verify("--key", vkey)
    assert code == 1 and "forged or altered" in err


# --- Random logs, random tampering ------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 4 entries instead of 16,384, so that small logs cross many chunk borders and
    the combining of chunk tops (levels 2 and up here) is exercised too."""
    monkeypatch.setattr(verify, "CHUNK_LEVEL", 2)
    monkeypatch.setattr(verify, "CHUNK", 4)


@pytest.mark.parametrize("chunks", ["large", "small"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    size=st.integers(min_value=2, max_value=40),
    kind=st.sampled_from([*EVENT_TAMPERING, "node"]),
    data=st.data(),
)
def test_random_tampering_is_always_detected(
    size: int, kind: str, data: st.DataObject, chunks: str, request: pytest.FixtureRequest
) -> None:
    if chunks == "small":
        request.getfixturevalue("small_chunks")
    seed = data.draw(st.integers(min_value=0, max_value=2**32))
    rng = random.Random(seed)
    checkpoints = data.draw(st.lists(st.integers(min_value=1, max_value=size), max_size=4))
    _build(size, checkpoints, rng)
    assert verify_log().ok
    target = data.draw(st.integers(min_value=0, max_value=size - 1))
    if kind == "node":
        level, index = rng.choice(list(TreeNode.objects.values_list("level", "index")))
        TreeNode.objects.filter(level=level, index=index).update(hash=b"\xff" * 32)
        expected = index << level
    else:
        expected = _tamper(kind, target, rng)
    report = verify_log()
    assert not report.ok
    if kind == "rewrite":
        assert report.first_bad_entry is not None and report.first_bad_entry <= expected
    else:
        assert report.first_bad_entry == expected, report.problems


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    size=st.integers(min_value=2, max_value=30),
    kind=st.sampled_from(["none", *EVENT_TAMPERING, "forge"]),
    data=st.data(),
)
def test_the_standalone_verifier_agrees_with_the_command(
    size: int, kind: str, data: st.DataObject
) -> None:
    rng = random.Random(data.draw(st.integers(min_value=0, max_value=2**32)))
    checkpoints = data.draw(st.lists(st.integers(min_value=1, max_value=size), max_size=3))
    _build(size, checkpoints, rng)
    target = data.draw(st.integers(min_value=0, max_value=size - 1))
    if kind == "forge":
        last = Checkpoint.objects.order_by("-tree_size").first()
        assert last is not None
        root = base64.b64encode(last.root_hash).decode()
        forged = base64.b64encode(b"\x00" * 32).decode()
        Checkpoint.objects.filter(pk=last.pk).update(note=last.note.replace(root, forged))
    elif kind != "none":
        _tamper(kind, target, rng)
    code, out, err = _cli_verify()
    standalone_code, standalone_out = _standalone()
    assert (code == 0) == (standalone_code == 0) == (kind == "none"), (err, standalone_out)
    if kind == "none":
        assert _root(out) == _root(standalone_out)
    elif kind != "forge":
        # The export has no stored leaves to compare with, so the standalone verifier may only
        # narrow the damage down to the entries after the last good checkpoint.
        standalone_bad, command_bad = _first_bad(standalone_out), _first_bad(err)
        assert standalone_bad is not None and command_bad is not None
        assert standalone_bad <= command_bad or kind == "rewrite"


def test_small_chunks_give_the_same_roots_and_name_upper_nodes(small_chunks: None) -> None:
    _build(37, [4, 5, 16, 33], random.Random(7))
    report = verify_log()
    assert report.ok, report.problems
    assert report.root == service.root_at(37)
    TreeNode.objects.filter(level=4, index=1).update(hash=b"\x02" * 32)  # entries 16 to 31
    report = verify_log()
    assert report.first_bad_entry == 16
    assert "level 4, index 1" in str(report.problems[0])


@pytest.mark.django_db(transaction=True)
def test_worker_processes_reach_the_same_verdict(small_chunks: None) -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
        pytest.skip("forked workers cannot open an in-memory SQLite database")
    _build(29, [6, 20], random.Random(8))
    alone, together = verify_log(jobs=1), verify_log(jobs=2)
    assert alone.ok and together.ok
    assert alone.root == together.root == service.root_at(29)
    AuditEvent.objects.filter(seq=22).update(purpose="changed")
    alone, together = verify_log(jobs=1), verify_log(jobs=2)
    assert alone.first_bad_entry == together.first_bad_entry == 22
