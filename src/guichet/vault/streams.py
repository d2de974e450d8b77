"""Attachment encryption in chunks, so a 100 MB file never sits whole in memory.

Layout (format 2):

    header: 0x02 | data key id (16) | nonce prefix (8, random per file) | chunk size (4, big-endian)
    then for each chunk i: AES-256-GCM(plaintext chunk) + 16-byte tag

Chunk i uses nonce = prefix || i (4 bytes) and associated data = header || (owner, record, field)
|| i (8 bytes) || final flag (1 byte). The index stops reordering and swapping; the final flag on
the last chunk stops truncation at a chunk boundary (the new last chunk was sealed as not final),
and the per-file random prefix stops splicing chunks between files. Every chunk but the last is
exactly `chunk size` bytes of plaintext; the last holds 0 to `chunk size` bytes, so an empty file
is one empty final chunk and is authenticated too.

Writers: `iter_encrypted` (generator of ciphertext pieces), `SealedContent` (a Django File to hand
to `storage.save`), `encrypt_stream` (into any binary file). Readers: `DecryptingReader` (seekable
file-like for FileResponse, which gets the plaintext Content-Length from it) and `iter_decrypted`
(one pass over any readable). A bad chunk raises TamperedCiphertext before any of its bytes are
returned; when streaming an HTTP response the client therefore sees an aborted download, never
altered data.
"""

import io
import os
from collections.abc import Iterable, Iterator
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from django.core.files.base import File

from guichet.vault.cache import CachedKey
from guichet.vault.envelope import Record, context
from guichet.vault.errors import TamperedCiphertext, VaultError
from guichet.vault.keys import check_owner, key_for_decrypt, key_for_encrypt

STREAM_FORMAT = 0x02
PREFIX_BYTES = 8
TAG_BYTES = 16
HEADER_BYTES = 1 + 16 + PREFIX_BYTES + 4
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 16 * 1024 * 1024
MAX_CHUNKS = 2**32


class _ChunkCipher:
    def __init__(self, key: CachedKey, header: bytes, binding: bytes, chunk_size: int) -> None:
        self.aead = key.aead
        self.header = header
        self.prefix = header[17 : 17 + PREFIX_BYTES]
        self.aad_base = header + binding
        self.chunk_size = chunk_size

    def _nonce_aad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        if index >= MAX_CHUNKS:
            raise VaultError("Attachment too large for one stream (2**32 chunks).")
        nonce = self.prefix + index.to_bytes(4, "big")
        return nonce, self.aad_base + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")

    def seal(self, index: int, plaintext: bytes, final: bool) -> bytes:
        nonce, aad = self._nonce_aad(index, final)
        return self.aead.encrypt(nonce, plaintext, aad)

    def open(self, index: int, sealed: bytes, final: bool) -> bytes:
        nonce, aad = self._nonce_aad(index, final)
        try:
            return self.aead.decrypt(nonce, sealed, aad)
        except InvalidTag as error:
            raise TamperedCiphertext(
                f"Attachment chunk {index} does not authenticate: the file was truncated, "
                "reordered, altered or moved from another record."
            ) from error


def iter_encrypted(
    owner: str,
    record: Record,
    field: str,
    chunks: Iterable[bytes],
    chunk_size: int = DEFAULT_CHUNK,
) -> Iterator[bytes]:
    """Ciphertext of the concatenated `chunks`, header first, one sealed chunk at a time."""
    check_owner(owner)
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise VaultError(f"Chunk size must be between 1 and {MAX_CHUNK} bytes.")
    key = key_for_encrypt(owner)
    header = (
        bytes((STREAM_FORMAT,))
        + key.raw_id
        + os.urandom(PREFIX_BYTES)
        + chunk_size.to_bytes(4, "big")
    )
    cipher = _ChunkCipher(key, header, context(owner, record, field), chunk_size)
    yield header
    buffer = bytearray()
    index = 0
    for piece in chunks:
        buffer += piece
        # Keep at least one byte back: only the end of the input knows which chunk is final.
        while len(buffer) > chunk_size:
            yield cipher.seal(index, bytes(buffer[:chunk_size]), final=False)
            del buffer[:chunk_size]
            index += 1
    yield cipher.seal(index, bytes(buffer), final=True)


def encrypt_stream(
    owner: str,
    record: Record,
    field: str,
    chunks: Iterable[bytes],
    destination: IO[bytes],
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Write the ciphertext of `chunks` into `destination`; returns the plaintext size."""
    size = 0

    def counted() -> Iterator[bytes]:
        nonlocal size
        for piece in chunks:
            size += len(piece)
            yield piece

    for sealed in iter_encrypted(owner, record, field, counted(), chunk_size):
        destination.write(sealed)
    return size


class SealedContent(File[bytes]):
    """What to pass to `storage.save(name, ...)`: its chunks() are the attachment's ciphertext.

    `source` is an UploadedFile (or any Django File), or an iterable of byte chunks. A File can be
    read again; a one-shot iterable can be sealed only once.
    """

    def __init__(
        self,
        owner: str,
        record: Record,
        field: str,
        source: File[bytes] | Iterable[bytes],
        name: str,
    ) -> None:
        super().__init__(None, name)
        self.owner, self.record, self.field = owner, record, field
        self.source = source
        self.plaintext_size = 0
        self._consumed = False

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        if isinstance(self.source, File):
            pieces: Iterable[bytes] = self.source.chunks()
        elif self._consumed:
            raise VaultError("This attachment's chunks were already consumed once.")
        else:
            pieces = self.source
        self._consumed = True
        self.plaintext_size = 0
        yield from iter_encrypted(self.owner, self.record, self.field, self._count(pieces))

    def _count(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.plaintext_size += len(piece)
            yield piece

    def multiple_chunks(self, chunk_size: int | None = None) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()


def _read_exact(source: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes, fewer only at end of file (raw streams may return short reads)."""
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        part = source.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def _open_header(source: IO[bytes], owner: str, record: Record, field: str) -> _ChunkCipher:
    header = _read_exact(source, HEADER_BYTES)
    if len(header) != HEADER_BYTES or header[0] != STREAM_FORMAT:
        raise TamperedCiphertext("Not a vault attachment (wrong format byte or short header).")
    chunk_size = int.from_bytes(header[-4:], "big")
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise TamperedCiphertext("Attachment header names an impossible chunk size.")
    key = key_for_decrypt(header[1:17], owner)
    return _ChunkCipher(key, header, context(owner, record, field), chunk_size)


def iter_decrypted(source: IO[bytes], owner: str, record: Record, field: str) -> Iterator[bytes]:
    """One pass over any readable: plaintext chunks, each checked before it is yielded."""
    cipher = _open_header(source, owner, record, field)
    block_size = cipher.chunk_size + TAG_BYTES
    block = _read_exact(source, block_size)
    index = 0
    while True:
        following = _read_exact(source, block_size) if len(block) == block_size else b""
        final = not following
        if len(block) < TAG_BYTES:
            raise TamperedCiphertext(f"Attachment chunk {index} is truncated.")
        yield cipher.open(index, block, final)
        if final:
            return
        block, index = following, index + 1


class DecryptingReader(io.RawIOBase):
    """A seekable, read-only plaintext view of an encrypted attachment, for FileResponse.

    It decrypts one chunk at a time, so memory stays at about one chunk whatever the file size.
    The plaintext size comes from the ciphertext size, so FileResponse can send Content-Length.
    Reaching the end always authenticates the final chunk, so a truncated file never reads as a
    complete shorter one.
    """

    def __init__(self, source: IO[bytes], owner: str, record: Record, field: str) -> None:
        super().__init__()
        if not source.seekable():
            raise VaultError("DecryptingReader needs a seekable source; use iter_decrypted.")
        self._source = source
        self._cipher = _open_header(source, owner, record, field)
        self._block = self._cipher.chunk_size + TAG_BYTES
        body = source.seek(0, io.SEEK_END) - HEADER_BYTES
        self._chunks = max(1, -(-body // self._block))
        self._last_block = body - (self._chunks - 1) * self._block
        if self._last_block < TAG_BYTES:
            raise TamperedCiphertext("Attachment is truncated (no complete final chunk).")
        self.size = body - self._chunks * TAG_BYTES
        self._pos = 0
        self._loaded = -1
        self._plain: memoryview = memoryview(b"")
        self._final_checked = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("Negative seek position.")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """Exactly `size` bytes unless the end comes first (raw streams may stop at a chunk)."""
        if size is None or size < 0:
            return self.readall()
        out = bytearray(size)
        view = memoryview(out)
        filled = 0
        while filled < size:
            count = self.readinto(view[filled:])
            if not count:
                break
            filled += count
        view.release()
        return bytes(out[:filled]) if filled < size else bytes(out)

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self.size:
            if not self._final_checked:
                self._load(self._chunks - 1)
            return 0
        index, offset = divmod(self._pos, self._cipher.chunk_size)
        plain = self._load(index)
        count = min(len(buffer), len(plain) - offset)
        buffer[:count] = plain[offset : offset + count]
        self._pos += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._plain = memoryview(b"")
            self._source.close()
        super().close()

    def _load(self, index: int) -> memoryview:
        if index != self._loaded:
            final = index == self._chunks - 1
            self._source.seek(HEADER_BYTES + index * self._block)
            sealed = _read_exact(self._source, self._last_block if final else self._block)
            self._plain = memoryview(self._cipher.open(index, sealed, final))
            self._loaded = index
            self._final_checked = self._final_checked or final
        return self._plain
