"""The faster hex-string reader reads exactly what pyHanko's own reader reads, and refuses what
it refuses."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

from guichet.documents.pdf_speed import PYHANKO_READER, read_hex_string


def original(data: bytes) -> object:
    return PYHANKO_READER(io.BytesIO(data))


@given(
    st.lists(st.sampled_from(list(b"0123456789abcdefABCDEF \n\r\t")), max_size=200),
    st.binary(max_size=20),
)
def test_same_value_and_same_position_as_pyhanko(digits: list[int], after: bytes) -> None:
    data = b"<" + bytes(digits) + b">" + after
    stream = io.BytesIO(data)
    assert read_hex_string(stream) == original(data)
    assert stream.tell() == len(data) - len(after)


@pytest.mark.parametrize("data", [b"<12G4>", b"<1234", b"<12(4>"])
def test_refuses_what_pyhanko_refuses(data: bytes) -> None:
    with pytest.raises(PdfStreamError):
        original(data)
    with pytest.raises(PdfStreamError):
        read_hex_string(io.BytesIO(data))


def test_the_app_reads_pdfs_with_it() -> None:
    assert generic.read_hex_string_from_stream is read_hex_string
