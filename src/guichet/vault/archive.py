"""The backup archive container: one file, encrypted and authenticated end to end.

Layout:

    "GUICHET-BACKUP\\n" | header length (4 bytes, big-endian) | header (JSON, UTF-8)
    | vault stream header (29 bytes, format 2) | sealed chunks

The JSON header names the archive format, a random backup id, the creation time and the KEK
(provider and version) that wraps the archive's key, and holds that wrapped key. The key is a
fresh random AES-256 key per archive: only the key provider (a 0600 key file, an HSM) can unwrap
it, so an archive copied anywhere is useless without the keys, which are never inside it.

The body is the vault's chunked AES-256-GCM stream (streams.py, format 2) under that key: the
stream header holds the backup id in the key-id slot, and every chunk's associated data includes
the whole JSON header, so altering any header byte (the KEK named, the date) fails as surely as
altering the body. As with attachments, the chunk index and a final-chunk flag catch reordering
and truncation; nothing is returned from a chunk before its tag checks. The plaintext is a gzip
compressed tar file (see backup.py for its members).
"""

import base64
import binascii
import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from guichet.vault.cache import CachedKey
from guichet.vault.errors import (
    KeyMissing,
    ProviderUnavailable,
    TamperedCiphertext,
    VaultError,
    VaultMisconfigured,
)
from guichet.vault.providers import get_provider
from guichet.vault.streams import STREAM_FORMAT, TAG_BYTES, _ChunkCipher, _read_exact

MAGIC = b"GUICHET-BACKUP\n"
FORMAT = 1
KIND = "guichet-backup"
KEY_BYTES = 32
CHUNK_SIZE = 1024 * 1024
MAX_HEADER = 64 * 1024
STREAM_HEADER_BYTES = 1 + 16 + 8 + 4
_BACKUP_OWNER = "vault:backup"


class BackupError(VaultError):
    """The archive is not usable: malformed, altered, truncated, or for other keys or code."""


@dataclass(frozen=True)
class ArchiveHeader:
    raw: bytes
    backup_id: uuid.UUID
    created_at: str
    provider: str
    kek_version: int
    wrapped_key: bytes


def make_header(
    backup_id: uuid.UUID, created_at: str, provider: str, kek_version: int, wrapped_key: bytes
) -> ArchiveHeader:
    body = json.dumps(
        {
            "kind": KIND,
            "format": FORMAT,
            "backup_id": str(backup_id),
            "created_at": created_at,
            "kek": {"provider": provider, "version": kek_version},
            "wrapped_key": base64.b64encode(wrapped_key).decode(),
            "body": "tar, gzip, vault stream format 2 (AES-256-GCM chunks)",
        },
        sort_keys=True,
    ).encode()
    raw = MAGIC + len(body).to_bytes(4, "big") + body
    return ArchiveHeader(raw, backup_id, created_at, provider, kek_version, wrapped_key)


def read_header(source: IO[bytes]) -> ArchiveHeader:
    start = _read_exact(source, len(MAGIC) + 4)
    if start[: len(MAGIC)] != MAGIC:
        raise BackupError("Not a Guichet backup archive (wrong magic bytes).")
    length = int.from_bytes(start[len(MAGIC) :], "big")
    if not 2 <= length <= MAX_HEADER:
        raise BackupError("The archive header has an impossible length: the file is damaged.")
    body = _read_exact(source, length)
    if len(body) != length:
        raise BackupError("The archive is truncated inside its header.")
    try:
        fields = json.loads(body)
        if fields["kind"] != KIND:
            raise BackupError("Not a Guichet backup archive.")
        if fields["format"] != FORMAT:
            raise BackupError(
                f"Archive format {fields['format']} is not supported by this version of Guichet "
                f"(it reads format {FORMAT})."
            )
        return ArchiveHeader(
            start + body,
            uuid.UUID(fields["backup_id"]),
            str(fields["created_at"]),
            str(fields["kek"]["provider"]),
            int(fields["kek"]["version"]),
            base64.b64decode(fields["wrapped_key"], validate=True),
        )
    except BackupError:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise BackupError(f"The archive header is damaged ({error}).") from error


def unwrap_archive_key(header: ArchiveHeader) -> bytes:
    """The archive's key, unwrapped by the KEK its header names, or a clear refusal."""
    kek = f"{header.provider} KEK v{header.kek_version}"
    try:
        key = get_provider(header.provider).unwrap(header.kek_version, header.wrapped_key)
    except KeyMissing as error:
        raise BackupError(
            f"This archive's key is wrapped by {kek}, which this instance does not have ({error}). "
            "Install the keys of the instance that made it first: `guichet vault import-keys "
            "FILE` for the local provider, the HSM's own key backup for pkcs11."
        ) from error
    except TamperedCiphertext as error:
        raise BackupError(
            f"This archive's key does not unwrap under {kek}: the keys installed here are not "
            "those of the instance that made the archive (or its header was altered)."
        ) from error
    except (ProviderUnavailable, VaultMisconfigured) as error:
        raise BackupError(f"Cannot unwrap this archive's key with {kek}: {error}") from error
    if len(key) != KEY_BYTES:
        raise BackupError(f"This archive's key unwrapped under {kek} to a key of the wrong size.")
    return key


def _cipher(key: bytes, stream_header: bytes, header: ArchiveHeader) -> _ChunkCipher:
    cached = CachedKey(header.backup_id, _BACKUP_OWNER, AESGCM(key))
    return _ChunkCipher(cached, stream_header, header.raw, CHUNK_SIZE)


class SealingWriter(io.RawIOBase):
    """Writes the archive: header, then whatever is written to it, sealed chunk by chunk.

    Call finish() once everything is written: it seals the final chunk, which is what tells a
    complete archive from a truncated one.
    """

    def __init__(self, destination: IO[bytes], key: bytes, header: ArchiveHeader) -> None:
        super().__init__()
        stream_header = (
            bytes((STREAM_FORMAT,))
            + header.backup_id.bytes
            + os.urandom(8)
            + CHUNK_SIZE.to_bytes(4, "big")
        )
        destination.write(header.raw + stream_header)
        self._destination = destination
        self._cipher = _cipher(key, stream_header, header)
        self._buffer = bytearray()
        self._index = 0
        self.written = len(header.raw) + len(stream_header)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        piece = bytes(data)
        self._buffer += piece
        # Keep at least one byte back: only finish() knows which chunk is the final one.
        while len(self._buffer) > CHUNK_SIZE:
            self._emit(bytes(self._buffer[:CHUNK_SIZE]), final=False)
            del self._buffer[:CHUNK_SIZE]
        return len(piece)

    def finish(self) -> None:
        self._emit(bytes(self._buffer), final=True)
        self._buffer = bytearray()

    def _emit(self, plaintext: bytes, final: bool) -> None:
        sealed = self._cipher.seal(self._index, plaintext, final)
        self._destination.write(sealed)
        self.written += len(sealed)
        self._index += 1


class OpeningReader(io.RawIOBase):
    """Reads the plaintext of an archive whose header was read, one authenticated chunk at a
    time; a chunk that fails its tag raises BackupError before any of its bytes are returned."""

    def __init__(self, source: IO[bytes], key: bytes, header: ArchiveHeader) -> None:
        super().__init__()
        stream_header = _read_exact(source, STREAM_HEADER_BYTES)
        if (
            len(stream_header) != STREAM_HEADER_BYTES
            or stream_header[0] != STREAM_FORMAT
            or stream_header[1:17] != header.backup_id.bytes
            or int.from_bytes(stream_header[-4:], "big") != CHUNK_SIZE
        ):
            raise BackupError("The archive body does not start as its header says: damaged.")
        self._source = source
        self._cipher = _cipher(key, stream_header, header)
        self._chunks = self._plain_chunks()
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _plain_chunks(self) -> Iterator[bytes]:
        block_size = CHUNK_SIZE + TAG_BYTES
        block = _read_exact(self._source, block_size)
        index = 0
        while True:
            following = _read_exact(self._source, block_size) if len(block) == block_size else b""
            final = not following
            if len(block) < TAG_BYTES:
                raise BackupError(f"The archive is truncated (chunk {index} is incomplete).")
            try:
                yield self._cipher.open(index, block, final)
            except TamperedCiphertext as error:
                raise BackupError(
                    f"The archive does not authenticate at chunk {index} (byte offset about "
                    f"{index * block_size}): it was altered, truncated or damaged. Nothing from "
                    "it can be trusted; use another copy."
                ) from error
            if final:
                return
            block, index = following, index + 1
