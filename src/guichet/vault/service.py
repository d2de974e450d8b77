"""What other apps may import from the vault: sealing and opening personal data, nothing else.

Design: explicit calls, no transparent model field. A field type that decrypted on attribute
access would let any ORM query (a list view, the admin, a serializer, a debug page) read personal
data in clear and would bypass the one door the platform promises. Domain apps therefore store
ciphertexts in plain BinaryFields (and blind indexes in indexed CharFields) and:

- seal in their actions.py, inside the action's transaction:
  `dossier.answers_sealed = encrypt_json(owner_for("dossier", dossier.id), dossier.id, "answers",
  answers)`;
- open only in their access.py, right after the permission check, which is also where the access
  is recorded once the transparency log exists:
  `answers = decrypt_json(owner_for("dossier", d.id), d.id, "answers", d.answers_sealed)`.

Owners are opaque strings such as "dossier:<uuid>" or "user:<uuid>": one data key per owner, so
erasing an owner is `destroy_key(owner)` and every ciphertext of it becomes unreadable at once.
The (owner, record, field) triple given when opening must be the one given when sealing; a
ciphertext copied anywhere else fails with TamperedCiphertext.

Every failure is a VaultError subclass (errors.py); nothing here ever returns unauthenticated
bytes.
"""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from guichet.vault.blind import blind_index, normalise
from guichet.vault.envelope import Record, Sealed, seal, unseal
from guichet.vault.errors import (
    InvalidIndexValue,
    KeyDestroyed,
    KeyMissing,
    KeyRetired,
    ProviderUnavailable,
    TamperedCiphertext,
    VaultError,
    VaultMisconfigured,
)
from guichet.vault.keys import destroy_key, preload
from guichet.vault.streams import (
    DecryptingReader,
    SealedContent,
    encrypt_stream,
    iter_decrypted,
    iter_encrypted,
)

__all__ = [
    "DecryptingReader",
    "InvalidIndexValue",
    "KeyDestroyed",
    "KeyMissing",
    "KeyRetired",
    "ProviderUnavailable",
    "SealedContent",
    "TamperedCiphertext",
    "VaultError",
    "VaultMisconfigured",
    "blind_index",
    "decrypt_bytes",
    "decrypt_chunks",
    "decrypt_field",
    "decrypt_json",
    "decrypt_text",
    "destroy_key",
    "encrypt_field",
    "encrypt_json",
    "encrypt_stream",
    "iter_decrypted",
    "iter_encrypted",
    "normalise",
    "open_attachment",
    "owner_for",
    "preload",
    "seal_attachment",
]

JsonValue = Any


def owner_for(kind: str, object_id: UUID | int | str) -> str:
    """The conventional owner string, e.g. owner_for("dossier", dossier.id)."""
    return f"{kind}:{object_id}"


def encrypt_field(owner: str, record: Record, field: str, value: bytes | str | JsonValue) -> bytes:
    """Seal bytes, text or a JSON value; decrypt_field gives back the same type."""
    return seal(owner, record, field, value)


def encrypt_json(owner: str, record: Record, field: str, value: JsonValue) -> bytes:
    """Seal any JSON value, strings included, as JSON."""
    return seal(owner, record, field, value, as_json=True)


def decrypt_field(owner: str, record: Record, field: str, ciphertext: Sealed) -> Any:
    return unseal(owner, record, field, ciphertext)


def decrypt_json(owner: str, record: Record, field: str, ciphertext: Sealed) -> JsonValue:
    return unseal(owner, record, field, ciphertext)


def decrypt_text(owner: str, record: Record, field: str, ciphertext: Sealed) -> str:
    value = unseal(owner, record, field, ciphertext)
    if not isinstance(value, str):
        raise VaultError(f"Field {field!r} was not sealed as text.")
    return value


def decrypt_bytes(owner: str, record: Record, field: str, ciphertext: Sealed) -> bytes:
    value = unseal(owner, record, field, ciphertext)
    if not isinstance(value, bytes):
        raise VaultError(f"Field {field!r} was not sealed as bytes.")
    return value


def seal_attachment(
    owner: str, record: Record, field: str, source: Any, name: str
) -> SealedContent:
    """A File for `storage.save(name, ...)` whose content is the sealed upload (or chunks)."""
    return SealedContent(owner, record, field, source, name)


def open_attachment(source: Any, owner: str, record: Record, field: str) -> DecryptingReader:
    """A seekable plaintext reader over a stored attachment, ready for FileResponse."""
    return DecryptingReader(source, owner, record, field)


def decrypt_chunks(source: Any, owner: str, record: Record, field: str) -> Iterable[bytes]:
    return iter_decrypted(source, owner, record, field)
