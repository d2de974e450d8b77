"""Attachment streams: round trips of any size, truncation, reordering and splicing detected,
a reader FileResponse can serve, Django storage integration, and bounded memory for 100 MB."""

import io
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guichet.vault import service
from guichet.vault.streams import HEADER_BYTES, TAG_BYTES

pytestmark = pytest.mark.django_db

OWNER = "dossier:0c5d6a52-0000-4000-8000-00000000000a"
fixture_ok = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40, deadline=None
)


def seal(data: bytes, chunk: int = 64, record: str = "att-1", pieces: int = 7) -> bytes:
    parts = [data[i : i + pieces] for i in range(0, len(data), pieces)]
    return b"".join(service.iter_encrypted(OWNER, record, "content", parts, chunk_size=chunk))


def read_all(sealed: bytes, record: str = "att-1") -> bytes:
    with service.open_attachment(io.BytesIO(sealed), OWNER, record, "content") as reader:
        return reader.read()


def chunks_of(sealed: bytes, chunk: int) -> tuple[bytes, list[bytes]]:
    body = sealed[HEADER_BYTES:]
    block = chunk + TAG_BYTES
    return sealed[:HEADER_BYTES], [body[i : i + block] for i in range(0, len(body), block)]


@fixture_ok
@given(data=st.binary(max_size=700), chunk=st.integers(1, 100), pieces=st.integers(1, 300))
def test_any_size_round_trips_through_both_readers(data: bytes, chunk: int, pieces: int) -> None:
    sealed = seal(data, chunk, pieces=pieces)
    assert read_all(sealed) == data
    streamed = service.decrypt_chunks(io.BytesIO(sealed), OWNER, "att-1", "content")
    assert b"".join(streamed) == data


@fixture_ok
@given(data=st.binary(min_size=1, max_size=400), seed=st.data())
def test_flipping_any_bit_fails_before_the_end(data: bytes, seed: st.DataObject) -> None:
    sealed = bytearray(seal(data, chunk=50))
    index = seed.draw(st.integers(0, len(sealed) - 1))
    sealed[index] ^= 1 << seed.draw(st.integers(0, 7))
    with pytest.raises(service.VaultError):
        read_all(bytes(sealed))
    with pytest.raises(service.VaultError):
        b"".join(service.decrypt_chunks(io.BytesIO(bytes(sealed)), OWNER, "att-1", "content"))


@pytest.mark.parametrize("size", [0, 99, 100, 101, 450])
def test_truncation_is_detected_even_at_a_chunk_boundary(size: int) -> None:
    data = os.urandom(size)
    sealed = seal(data, chunk=100)
    header, chunks = chunks_of(sealed, 100)
    for keep in range(len(chunks)):
        cut = header + b"".join(chunks[:keep])
        with pytest.raises(service.TamperedCiphertext):
            read_all(cut)
        with pytest.raises(service.TamperedCiphertext):
            b"".join(service.decrypt_chunks(io.BytesIO(cut), OWNER, "att-1", "content"))
    with pytest.raises(service.TamperedCiphertext):
        read_all(sealed[:-1])


def test_reordered_swapped_and_spliced_chunks_are_detected() -> None:
    data = os.urandom(400)
    header, chunks = chunks_of(seal(data, chunk=100), 100)
    swapped = header + b"".join([chunks[1], chunks[0], *chunks[2:]])
    with pytest.raises(service.TamperedCiphertext, match="chunk 0"):
        read_all(swapped)
    duplicated = header + b"".join([chunks[0], chunks[0], *chunks[2:]])
    with pytest.raises(service.TamperedCiphertext, match="chunk 1"):
        read_all(duplicated)
    # Same owner, same key, same record: only the per-file nonce prefix tells the files apart.
    _, other = chunks_of(seal(os.urandom(400), chunk=100), 100)
    spliced = header + b"".join([chunks[0], other[1], *chunks[2:]])
    with pytest.raises(service.TamperedCiphertext, match="chunk 1"):
        read_all(spliced)


def test_an_attachment_moved_to_another_record_or_field_fails() -> None:
    sealed = seal(b"scan of a birth certificate", chunk=8)
    with pytest.raises(service.TamperedCiphertext):
        read_all(sealed, record="att-2")
    with pytest.raises(service.TamperedCiphertext):
        service.open_attachment(io.BytesIO(sealed), OWNER, "att-1", "thumbnail").read()
    with pytest.raises(service.TamperedCiphertext, match="another owner"):
        service.open_attachment(io.BytesIO(sealed), "dossier:other", "att-1", "content")


def test_reader_seeks_and_gives_file_response_the_plaintext_length() -> None:
    data = os.urandom(300_000)
    sealed = seal(data, chunk=65536, pieces=10_000)
    reader = service.open_attachment(io.BytesIO(sealed), OWNER, "att-1", "content")
    assert reader.size == len(data)
    reader.seek(150_000)
    assert reader.read(70_000) == data[150_000:220_000]
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == data[-10:]
    reader.seek(0)
    response = FileResponse(reader, as_attachment=True, filename="acte.pdf")
    assert response["Content-Length"] == str(len(data))
    assert b"".join(response.streaming_content) == data  # type: ignore[arg-type]
    response.close()
    assert reader.closed


def test_sealed_upload_saved_by_django_storage_reads_back(tmp_path: Path) -> None:
    storage = FileSystemStorage(location=tmp_path / "files")
    data = os.urandom(200_000)
    upload = SimpleUploadedFile("acte.pdf", data, content_type="application/pdf")
    content = service.seal_attachment(OWNER, "att-9", "content", upload, "acte.pdf")
    name = storage.save("dossiers/acte.bin", content)
    assert content.plaintext_size == len(data)
    stored = (tmp_path / "files" / name).read_bytes()
    assert data[:64] not in stored and len(stored) > len(data)
    with storage.open(name, "rb") as handle:
        assert service.open_attachment(handle, OWNER, "att-9", "content").read() == data


def test_a_one_shot_iterable_cannot_be_sealed_twice() -> None:
    content = service.seal_attachment(OWNER, "att-3", "content", iter([b"abc"]), "a.bin")
    assert b"".join(content.chunks())
    with pytest.raises(service.VaultError, match="already consumed"):
        list(content.chunks())


def test_not_an_attachment_is_refused() -> None:
    for junk in (b"", b"\x02short", b"\x01" + b"\x00" * 60):
        with pytest.raises(service.TamperedCiphertext):
            read_all(junk)


MB = 1024 * 1024


def _hundred_megabytes() -> Iterator[bytes]:
    block = os.urandom(64 * 1024)
    for index in range(1600):
        yield index.to_bytes(4, "big") + block[4:]


def test_a_100_mb_file_never_sits_whole_in_memory(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    tracemalloc.start()
    try:
        with target.open("wb") as out:
            size = service.encrypt_stream(OWNER, "big", "content", _hundred_megabytes(), out)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total = 0
        with target.open("rb") as handle:
            reader = service.open_attachment(handle, OWNER, "big", "content")
            expected = _hundred_megabytes()
            while piece := reader.read(8192 * 8):
                assert piece[:4] == next(expected)[:4]
                total += len(piece)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == total == 100 * MB
    assert target.stat().st_size == 100 * MB + HEADER_BYTES + 1600 * TAG_BYTES
    assert write_peak < 2 * MB, write_peak
    assert read_peak < 2 * MB, read_peak
