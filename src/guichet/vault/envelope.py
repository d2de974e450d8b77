"""Field encryption: AES-256-GCM under the owner's data key, bound to (owner, record, field).

Ciphertext layout (format 1, 45 bytes of overhead):

    0x01 | data key id (16 bytes, UUID) | nonce (12 bytes, random) | ciphertext + tag (16 bytes)

The data key id is the key reference: its row records which KEK version wraps the key, so
rotation never touches ciphertexts. The associated data is the 17-byte header followed by the
length-prefixed owner, record id and field name, so a ciphertext copied to another owner, record
or field fails authentication. The plaintext starts with one byte telling how to decode it (bytes,
text, JSON), so `decrypt_field` gives back the type that was sealed and never guesses.
"""

import json
import os
import struct
import uuid
from typing import Any

from cryptography.exceptions import InvalidTag

from guichet.vault.errors import TamperedCiphertext, VaultError
from guichet.vault.keys import check_owner, key_for_decrypt, key_for_encrypt

FIELD_FORMAT = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + 16
MIN_FIELD_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES

KIND_BYTES = b"\x00"
KIND_TEXT = b"\x01"
KIND_JSON = b"\x02"

_LENGTHS = struct.Struct(">III")
_FIELD_PREFIX = bytes((FIELD_FORMAT,))

Record = str | int | uuid.UUID
Sealed = bytes | bytearray | memoryview


def context(owner: str, record: Record, field: str) -> bytes:
    """The (owner, record, field) binding, length-prefixed so no two triples encode alike."""
    o, r, f = owner.encode(), str(record).encode(), field.encode()
    return _LENGTHS.pack(len(o), len(r), len(f)) + o + r + f


def _encode(value: Any, as_json: bool) -> bytes:
    if not as_json:
        if isinstance(value, str):
            return KIND_TEXT + value.encode()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return KIND_BYTES + bytes(value)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise VaultError(f"Value cannot be sealed as JSON: {error}") from error
    return KIND_JSON + text.encode()


def _decode(plaintext: bytes) -> Any:
    kind, body = plaintext[:1], plaintext[1:]
    if kind == KIND_BYTES:
        return body
    if kind == KIND_TEXT:
        return body.decode()
    if kind == KIND_JSON:
        return json.loads(body)
    raise TamperedCiphertext("Decrypted field has an unknown value kind.")


def seal(owner: str, record: Record, field: str, value: Any, as_json: bool = False) -> bytes:
    check_owner(owner)
    key = key_for_encrypt(owner)
    header = _FIELD_PREFIX + key.raw_id
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.aead.encrypt(
        nonce, _encode(value, as_json), header + context(owner, record, field)
    )
    return header + nonce + sealed


def unseal(owner: str, record: Record, field: str, ciphertext: Sealed) -> Any:
    data = bytes(ciphertext)
    if len(data) < MIN_FIELD_BYTES or data[0] != FIELD_FORMAT:
        raise TamperedCiphertext("Not a vault field ciphertext (wrong format byte or too short).")
    header = data[:HEADER_BYTES]
    key = key_for_decrypt(data[1:HEADER_BYTES], owner)
    view = memoryview(data)
    try:
        plaintext = key.aead.decrypt(
            view[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES],
            view[HEADER_BYTES + NONCE_BYTES :],
            header + context(owner, record, field),
        )
    except InvalidTag as error:
        raise TamperedCiphertext(
            f"Field {field!r} of record {record} does not authenticate: altered, or moved from "
            "another record or field."
        ) from error
    return _decode(plaintext)
