"""Text formats of C2SP: signed notes (Ed25519), tlog-checkpoint and tlog-proof. No Django.

signed-note: the text (ending in a newline), an empty line, then lines
"— <key name> base64(key ID || signature)", key ID = SHA-256(name || 0x0A || 0x01 || public
key)[:4] for Ed25519. tlog-checkpoint: a note whose text is "<origin>\\n<size>\\n<base64 root>\\n".
tlog-proof: "c2sp.org/tlog-proof@v1", an optional "extra <base64>" line, "index <n>", the
inclusion path one base64 hash a line, an empty line, then the checkpoint verbatim.
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
EM_DASH = "\u2014"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_SIGNATURES = 16


class NoteError(ValueError):
    pass


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The vkey string tools such as Go's golang.org/x/mod/sumdb/note accept."""
    encoded = base64.b64encode(bytes([ED25519]) + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes]:
    try:
        name, hex_id, encoded = vkey.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as error:
        raise NoteError("malformed verifier key") from error
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("the verifier key is not an Ed25519 key")
    if key_id(name, raw[1:]).hex() != hex_id:
        raise NoteError("the verifier key's ID does not match its name and key")
    return name, raw[1:]


def check_key_name(name: str) -> str:
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise NoteError("a key name must be non-empty, without spaces or '+'")
    return name


class NoteSigner(Protocol):
    """An Ed25519 key held elsewhere (a file, an HSM): what signing a note needs of it."""

    def public_key_bytes(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey | NoteSigner) -> str:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    if isinstance(private_key, Ed25519PrivateKey):
        public = public_bytes(private_key.public_key())
    else:
        public = private_key.public_key_bytes()
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(key_id(check_key_name(name), public) + signature).decode()
    return f"{text}\n{EM_DASH} {name} {encoded}\n"


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[SignatureLine]]:
    """The note's text and its signature lines, or NoteError when it is not a signed note."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise NoteError("a note may not contain control characters")
    if not note.endswith("\n"):
        raise NoteError("a note ends with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("no empty line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    signatures = []
    for line in block.splitlines():
        prefix = f"{EM_DASH} "
        if not line.startswith(prefix):
            raise NoteError("malformed signature line")
        try:
            name, encoded = line[len(prefix) :].split(" ")
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as error:
            raise NoteError("malformed signature line") from error
        if len(raw) < 5:
            raise NoteError("signature too short")
        signatures.append(SignatureLine(check_key_name(name), raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("the note has no signature")
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    return text, signatures


def open_note(note: str, name: str, public_key: bytes) -> str:
    """The note's text, if a signature by (name, key) is on it and verifies; other signers'
    lines are ignored, as the spec requires."""
    text, signatures = split_note(note)
    wanted = key_id(name, public_key)
    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    found = False
    for line in signatures:
        if line.name != name or line.key_id != wanted:
            continue
        try:
            verifier.verify(line.signature, text.encode())
        except InvalidSignature as error:
            raise NoteError(f"the signature by {name} does not verify") from error
        found = True
    if not found:
        raise NoteError(f"the note carries no signature by {name}")
    return text


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_checkpoint(text: str) -> CheckpointBody:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash line")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("empty origin")
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise NoteError("the tree size is not a decimal number")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error as error:
        raise NoteError("the root hash is not base64") from error
    if len(root_hash) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return CheckpointBody(origin, int(size), root_hash)


@dataclass(frozen=True)
class Proof:
    index: int
    path: list[bytes]
    checkpoint: str
    extra: bytes | None = None

    def text(self) -> str:
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(node).decode() for node in self.path)
        return "\n".join(lines) + "\n\n" + self.checkpoint
