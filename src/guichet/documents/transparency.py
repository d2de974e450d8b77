"""Is this document in the transparency log? Inclusion proofs for issued documents.

Issuing a document appends a DOCUMENT_ISSUED event to the log (actions._log_issued) whose
details name the document's number and the SHA-256 of the sealed file; Document.log_seq keeps
its sequence number. The proof of a document is the log's C2SP tlog-proof for that event with
the event's canonical bytes in its `extra` line (audit.service.inclusion_proof(with_event=True)),
so whoever holds the PDF can check, offline, that:

1. the checkpoint at the end of the proof is signed by the log's key (Ed25519 signed note);
2. SHA-256(0x00 || extra) is a leaf that the inclusion path leads to the checkpoint's root from
   (RFC 9162 §2.1.3.2), at the index the proof names;
3. the event is a DOCUMENT_ISSUED whose sha256 is this file's hash (or, for a QR code alone,
   whose number is the document's).

The proof is served to whoever knows the file's hash (/transparency/documents/<sha256>), i.e.
holds the document: the event inside carries the applicant's account id, nothing more personal.
A document is covered once a checkpoint is signed after it (at most a minute by default, see
GUICHET_AUDIT_CHECKPOINT_SECONDS); until then verifiers say "not checked" and why.

The checks here are written from the formats, like tools/verify_document.py's own, and take the
proof as text: the same function checks a proof from the database or one a user brings.
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from guichet.audit import service as log_service
from guichet.audit.models import Action as LogAction
from guichet.documents.models import Document

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_CHARS = 64 * 1024
OK, FAILED, NOT_CHECKED = "ok", "failed", "not_checked"


class ProofError(ValueError):
    pass


@dataclass(frozen=True)
class Proof:
    index: int
    path: list[bytes]
    checkpoint: str
    extra: bytes | None


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str  # a short English reason; callers word it for their readers
    index: int | None = None
    size: int | None = None


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProofError("not base64") from error


def parse_proof(text: str) -> Proof:
    if len(text) > MAX_PROOF_CHARS:
        raise ProofError("too long")
    head, separator, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not separator or not lines or lines[0] != PROOF_HEADER:
        raise ProofError("not a tlog-proof")
    lines = lines[1:]
    extra = None
    if lines and lines[0].startswith("extra "):
        extra = _b64(lines[0][len("extra ") :])
        lines = lines[1:]
    if not lines or not lines[0].startswith("index ") or not lines[0][6:].isdigit():
        raise ProofError("no index line")
    path = [_b64(line) for line in lines[1:]]
    if any(len(node) != 32 for node in path):
        raise ProofError("a path hash is not 32 bytes")
    return Proof(int(lines[0][6:]), path, checkpoint, extra)


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root an inclusion path leads to, or None when it cannot be."""
    if not 0 <= index < size:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = _node(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = _node(result, sibling)
        fn >>= 1
        sn >>= 1
    return result if sn == 0 else None


def open_checkpoint(note: str, name: str, public_key: bytes) -> tuple[int, bytes]:
    """(size, root) of a C2SP checkpoint signed by (name, key); ProofError otherwise."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator or not note.endswith("\n"):
        raise ProofError("the checkpoint is not a signed note")
    text += "\n"
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    signed = False
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        raw = _b64(parts[2])
        if raw[:4] != key_id:
            continue
        try:
            verifier.verify(raw[4:], text.encode())
        except InvalidSignature as error:
            raise ProofError("the checkpoint's signature does not verify") from error
        signed = True
    if not signed:
        raise ProofError("the checkpoint is not signed by the log's key")
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != name or not lines[1].isdigit():
        raise ProofError("the checkpoint names another log or is malformed")
    root = _b64(lines[2])
    if len(root) != 32:
        raise ProofError("the checkpoint's root is not 32 bytes")
    return int(lines[1]), root


def _event(extra: bytes | None) -> dict[str, Any]:
    if extra is None:
        raise ProofError("the proof does not carry the event")
    try:
        event = json.loads(extra)
    except ValueError as error:
        raise ProofError("the event is not JSON") from error
    if not isinstance(event, dict) or not isinstance(event.get("details"), dict):
        raise ProofError("the event is malformed")
    return event


def check_proof(
    text: str,
    log_name: str,
    log_key: bytes,
    *,
    sha256: str | None = None,
    number: str | None = None,
) -> Outcome:
    """Check a document proof; `sha256` (the whole file's, hex) or `number` says which
    document it must be about."""
    try:
        proof = parse_proof(text)
        size, root = open_checkpoint(proof.checkpoint, log_name, log_key)
        event = _event(proof.extra)
    except ProofError as error:
        return Outcome(FAILED, f"the log proof is not valid: {error}")
    assert proof.extra is not None
    leaf = hashlib.sha256(b"\x00" + proof.extra).digest()
    if root_from_path(proof.index, size, leaf, proof.path) != root:
        return Outcome(FAILED, "the log proof does not lead to the signed checkpoint")
    details = event["details"]
    if event.get("action") != int(LogAction.DOCUMENT_ISSUED) or event.get("seq") != proof.index:
        return Outcome(FAILED, "the log entry is not a document's issuing")
    if sha256 is not None and details.get("sha256") != sha256:
        return Outcome(FAILED, "the log records another file under this entry")
    if number is not None and details.get("number") != number:
        return Outcome(FAILED, "the log entry is about another document")
    return Outcome(OK, "included in the transparency log", proof.index, size)


# --- The server's side ------------------------------------------------------------------------


def log_identity() -> tuple[str, bytes]:
    """The log's checkpoint name and Ed25519 public key: what the trust list publishes and the
    built-in verifier checks checkpoints against."""
    from guichet.audit import keys

    return keys.log_origin(), keys.public_key()


def log_verifier_key() -> str:
    from guichet.audit import keys

    return keys.verifier_key()


def proof_text(document: Document) -> str | None:
    """The document's inclusion proof with its event, or None while no signed checkpoint
    covers it yet (or for a document issued before log_seq was kept)."""
    if document.log_seq is None:
        return None
    try:
        return log_service.inclusion_proof(document.log_seq, with_event=True).text()
    except log_service.NotCovered:
        return None


def document_inclusion(document: Document | None, *, sha256: str | None = None) -> Outcome:
    """The built-in verifier's check: the proof from the database, verified like any other."""
    if document is None:
        return Outcome(NOT_CHECKED, "no record of this document here (erased or unknown)")
    text = proof_text(document)
    if text is None:
        return Outcome(
            NOT_CHECKED, "not yet covered by a signed checkpoint of the log: try again later"
        )
    name, key = log_identity()
    return check_proof(text, name, key, sha256=sha256, number=document.number)
