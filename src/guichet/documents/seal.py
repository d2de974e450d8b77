"""The seal: a PAdES baseline-T signature (ES256 + RFC 3161 time-stamp) appended with pyHanko.

The sealed file is the rendition followed by one incremental update that holds the signature,
its visible appearance (the QR code, in the box the page left blank) and, in the document
catalog, the QR text itself (/GuichetQR) so a verifier given the file reads the claims without
decoding an image. The QR carries the SHA-256 of the rendition, which is the sealed file's prefix
up to the end of its first revision; the signature covers the whole file. So a verifier checks
the seal over everything and the QR against the rendition it was made for.

The time-stamp comes from GUICHET_TSA_URL when set (any RFC 3161 service), else from the
embedded authority below: our own EC key and a certificate from the platform CA with the
timeStamping usage, clearly named as not qualified.
"""

import asyncio
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.stamp import BaseStamp, BaseStampStyle

from guichet.documents import cms
from guichet.documents.keys import der_signature
from guichet.documents.pki import TSA_POLICY_OID, LoadedCertificate
from guichet.documents.render import SEAL_BOX

FIELD_NAME = "GuichetSeal"
QR_CATALOG_KEY = "/GuichetQR"
# Room for the CMS in the file, in hex digits, with an outside TSA: its certificate chain can be
# long. Given rather than estimated, since pyHanko's estimate makes a whole dummy signature and
# time-stamp first. With the embedded TSA the room is measured (_reserved_embedded).
RESERVED_EXTERNAL = 32768
# Bytes beyond a trial CMS: two signatures one or two bytes longer, a longer fraction of second.
EMBEDDED_MARGIN = 24
# Any fixed mask is valid (ISO/IEC 18004 §7.8 lets the encoder choose); trying all eight and
# scoring them costs the qrcode package ~30 ms per code.
QR_MASK = 4


class SealError(Exception):
    pass


class TimeStampUnavailable(SealError):
    """The external time-stamping authority did not answer with a token: worth retrying."""


class TimeStamping(Protocol):
    """Where a seal's RFC 3161 token comes from: SHA-256 imprint in, token DER out."""

    external: bool

    def token(self, imprint: bytes) -> bytes: ...


class EmbeddedTimeStamper:
    """The platform's own time-stamping authority: an EC P-256 key from our key store (file or
    HSM) and a certificate from the platform CA, under Guichet's policy OID. Its certificates
    and attributes are encoded once, so a token costs one ECDSA signature and some joins."""

    external = False

    def __init__(self, tsa: LoadedCertificate, ca: LoadedCertificate) -> None:
        self._tsa = tsa
        self._signer = cms.SignerCertificate.of(tsa.certificate, tsa.der)
        self._chain = [ca.der]
        self._policy = cms.oid(TSA_POLICY_OID)

    def _sign(self, digest: bytes) -> bytes:
        return der_signature(self._tsa.store.sign_digest(self._tsa.label, digest))

    def token(self, imprint: bytes) -> bytes:
        moment = datetime.now(UTC)
        return cms.time_stamp_token(
            imprint, moment, self._policy, self._signer, self._chain, self._sign
        )


class ExternalTimeStamper:
    """Any RFC 3161 service over HTTP (GUICHET_TSA_URL), through pyHanko's client; the token
    comes back as the service signed it."""

    external = True

    def __init__(self, url: str, timeout: int) -> None:
        self._client = HTTPTimeStamper(url, timeout=timeout)

    def token(self, imprint: bytes) -> bytes:
        try:
            token = asyncio.run(self._client.async_timestamp(imprint, "sha256"))
        except Exception as error:  # network, HTTP status, malformed or refused response
            raise TimeStampUnavailable(f"The time-stamping authority failed: {error}") from error
        return bytes(token.dump())


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR symbol's modules, dark = True, without quiet zone. Alphanumeric mode (the Base45
    alphabet is QR's alphanumeric set) and error correction Q, as the EU DCC recommends."""
    import qrcode  # type: ignore[import-untyped]
    import qrcode.util  # type: ignore[import-untyped]

    version = _qr_versions.get(len(text))
    code = qrcode.QRCode(
        version=version,
        error_correction=qrcode.constants.ERROR_CORRECT_Q,
        border=0,
        mask_pattern=QR_MASK,
    )
    code.add_data(qrcode.util.QRData(text.encode("ascii"), mode=qrcode.util.MODE_ALPHA_NUM))
    # The smallest version that holds the text depends on its length only: searched once per
    # length (about a third of the encoder's time), then reused.
    code.make(fit=version is None)
    _qr_versions[len(text)] = code.version
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


_qr_versions: dict[int, int] = {}


def qr_drawing(matrix: list[list[bool]], size: float, quiet: int = 2) -> bytes:
    """PDF drawing commands painting the symbol in a size x size square: white, then one
    rectangle per horizontal run of dark modules (a third of the operators of one per module)."""
    modules = len(matrix) + 2 * quiet
    scale = size / modules
    commands = [b"q", b"1 g 0 0 %.3f %.3f re f" % (size, size), b"0 g"]
    commands.append(b"%.5f 0 0 %.5f 0 0 cm" % (scale, scale))
    for row_index, row in enumerate(matrix):
        y = modules - quiet - row_index - 1
        start = None
        for column, dark in enumerate([*row, False]):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                commands.append(b"%d %d %d 1 re" % (start + quiet, y, column - start))
                start = None
    commands.extend([b"f", b"Q"])
    return b"\n".join(commands)


@dataclass(frozen=True)
class QrSealStyle(BaseStampStyle):
    """The seal's visible appearance: the QR code alone, no text (so no font to embed)."""

    qr_text: str = ""
    border_width: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> "QrSealStamp":
        return QrSealStamp(writer, self, box)


class QrSealStamp(BaseStamp):
    def _render_inner_content(self) -> list[bytes]:
        size = min(self.box.width, self.box.height)
        return [qr_drawing(qr_matrix(self.style.qr_text), size)]


def rendition_of(sealed: bytes) -> bytes:
    """The sealed file's first revision: its bytes up to the first %%EOF and its line end."""
    end = sealed.find(b"%%EOF")
    if end < 0:
        raise SealError("Not a PDF: no %%EOF marker.")
    end += len(b"%%EOF")
    if sealed[end : end + 2] == b"\r\n":
        end += 2
    elif sealed[end : end + 1] in (b"\n", b"\r"):
        end += 1
    return sealed[:end]


_timestampers: dict[Any, TimeStamping] = {}


def timestamper(tsa: LoadedCertificate | None, ca: LoadedCertificate) -> TimeStamping:
    """One per process and configuration: it keeps its encoded certificates (embedded) or its
    HTTP client (external)."""
    url = getattr(settings, "GUICHET_TSA_URL", None)
    if url:
        key: Any = ("external", url)
        if key not in _timestampers:
            timeout = int(getattr(settings, "GUICHET_TSA_TIMEOUT", 10))
            _timestampers[key] = ExternalTimeStamper(url, timeout)
        return _timestampers[key]
    if tsa is None:
        raise SealError("No time-stamping authority: run `guichet pki init`.")
    key = (tsa.row_id, ca.row_id)
    if key not in _timestampers:
        _timestampers[key] = EmbeddedTimeStamper(tsa, ca)
    return _timestampers[key]


_signers: dict[Any, cms.SignerCertificate] = {}
_reserved: dict[Any, int] = {}


def _reserved_embedded(seal: LoadedCertificate, ca: LoadedCertificate, stamper: Any) -> int:
    """Room for the CMS, in hex digits, sized on a trial signature once per seal and process.

    With the embedded TSA every part of the CMS has a fixed size but the ECDSA signatures (70
    to 72 bytes each) and the time-stamp's fraction of a second: a trial plus a small margin
    always fits. A tight /Contents matters to verifiers: pyHanko reads that hex string a
    character at a time, the padding included, which was half the cost of a verification
    with the former fixed 12 KB.
    """
    key = (seal.row_id, id(stamper))
    if key not in _reserved:
        trial = cms.seal_signature(
            bytes(32),
            _signer_certificate(seal),
            [ca.der],
            lambda digest: der_signature(seal.store.sign_digest(seal.label, digest)),
            stamper.token,
        )
        _reserved[key] = 2 * (len(trial) + EMBEDDED_MARGIN)
    return _reserved[key]


def _signer_certificate(seal: LoadedCertificate) -> cms.SignerCertificate:
    signer = _signers.get(seal.row_id)
    if signer is None:
        signer = _signers[seal.row_id] = cms.SignerCertificate.of(seal.certificate, seal.der)
    return signer


def seal_pdf(
    rendition: bytes,
    qr_text: str,
    seal: LoadedCertificate,
    ca: LoadedCertificate,
    stamper: TimeStamping,
    signer_name: str,
) -> bytes:
    """pyHanko writes the incremental update (catalog entry, signature field and QR appearance,
    the signature dictionary with its byte range) and hashes the byte range; cms.py writes the
    signature that goes into the reserved /Contents."""
    writer = IncrementalPdfFileWriter(io.BytesIO(rendition))
    writer.root[generic.NameObject(QR_CATALOG_KEY)] = generic.TextStringObject(qr_text)
    writer.update_root()  # type: ignore[no-untyped-call]
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        name=signer_name,
    )
    pdf_signer = signers.PdfSigner(
        metadata,
        # Only the certificate is read from it while the file is prepared; the signature
        # itself is made below.
        signer=signers.ExternalSigner(seal.asn1, None, signature_value=72),
        stamp_style=QrSealStyle(qr_text=qr_text),
        new_field_spec=fields.SigFieldSpec(FIELD_NAME, box=SEAL_BOX, on_page=0),
    )
    reserved = RESERVED_EXTERNAL if stamper.external else _reserved_embedded(seal, ca, stamper)
    output = io.BytesIO()
    prepared, _tbs, _same_output = asyncio.run(
        pdf_signer.async_digest_doc_for_signing(writer, bytes_reserved=reserved, output=output)
    )
    signature = cms.seal_signature(
        prepared.document_digest,
        _signer_certificate(seal),
        [ca.der],
        lambda digest: der_signature(seal.store.sign_digest(seal.label, digest)),
        stamper.token,
    )
    if len(signature) * 2 > reserved:
        raise SealError("The signature does not fit in the space reserved for it.")
    prepared.fill_with_cms(output, signature)
    sealed = output.getvalue()
    if rendition_of(sealed) != rendition:
        # The QR's hash would name bytes no verifier can find: refuse rather than issue it.
        raise SealError("The rendition is not the sealed file's first revision.")
    return sealed


def forget_timestampers() -> None:
    _timestampers.clear()
    _signers.clear()
    _reserved.clear()
