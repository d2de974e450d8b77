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

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import algos, cms, core, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from django.conf import settings
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps import DummyTimeStamper, HTTPTimeStamper, TimeStamper
from pyhanko.stamp import BaseStamp, BaseStampStyle

from guichet.documents.keys import der_signature
from guichet.documents.pki import TSA_POLICY_OID, LoadedCertificate
from guichet.documents.render import SEAL_BOX

FIELD_NAME = "GuichetSeal"
QR_CATALOG_KEY = "/GuichetQR"
# Room for the CMS in the file, in hex digits: about 3.5 KB of DER with the embedded TSA, far
# more with an outside TSA's certificate chain. Given rather than estimated, since pyHanko's
# estimate makes a whole dummy signature and time-stamp first.
RESERVED_EMBEDDED = 12288
RESERVED_EXTERNAL = 32768
# Any fixed mask is valid (ISO/IEC 18004 §7.8 lets the encoder choose); trying all eight and
# scoring them costs the qrcode package ~30 ms per code.
QR_MASK = 4


class SealError(Exception):
    pass


class EmbeddedTimeStamper(DummyTimeStamper):
    """pyHanko's local time-stamping authority, with an EC P-256 key from our key store.

    pyHanko's DummyTimeStamper signs with an in-memory RSA key only; this one builds the same
    RFC 3161 token and has its SignerInfo signed by the key store (file or HSM), under our own
    policy OID.
    """

    def __init__(self, tsa: LoadedCertificate, chain: list[asn1_x509.Certificate]) -> None:
        self._tsa = tsa
        # The same for every token: computed once rather than hashed again each time.
        self._signing_certificate = as_signing_certificate(tsa.asn1)
        super().__init__(tsa_cert=tsa.asn1, tsa_key=None, certs_to_embed=chain)  # type: ignore[arg-type]

    def _build_tst_info(
        self, message_imprint: tsp.MessageImprint, dt: datetime, req: tsp.TimeStampReq
    ) -> tsp.TSTInfo:
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(TSA_POLICY_OID)
        return info

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        if md_algorithm != "sha256":
            raise SealError(f"The embedded TSA signs SHA-256 only, not {md_algorithm}.")
        attribute: Any = simple_cms_attribute  # pyHanko leaves this helper untyped
        signed_attrs = cms.CMSAttributes(
            [
                attribute("content_type", "tst_info"),
                attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                attribute("signing_certificate", self._signing_certificate),
                attribute("message_digest", hashlib.sha256(tst_info_data).digest()),
            ]
        )
        digest = hashlib.sha256(signed_attrs.dump()).digest()
        raw = self._tsa.store.sign_digest(self._tsa.label, digest)
        return der_signature(raw), signed_attrs

    def _build_signed_data(
        self,
        tst_info_data: bytes,
        md_algorithm: str,
        signature: bytes,
        signed_attrs: cms.CMSAttributes,
    ) -> dict[str, Any]:
        signed_data = super()._build_signed_data(
            tst_info_data, md_algorithm, signature, signed_attrs
        )
        signed_data["signer_infos"][0]["signature_algorithm"] = algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_ecdsa"}
        )
        return signed_data


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR symbol's modules, dark = True, without quiet zone. Alphanumeric mode (the Base45
    alphabet is QR's alphanumeric set) and error correction Q, as the EU DCC recommends."""
    import qrcode  # type: ignore[import-untyped]
    import qrcode.util  # type: ignore[import-untyped]

    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0, mask_pattern=QR_MASK
    )
    code.add_data(qrcode.util.QRData(text.encode("ascii"), mode=qrcode.util.MODE_ALPHA_NUM))
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


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


_timestampers: dict[Any, EmbeddedTimeStamper] = {}


def _embedded_timestamper(tsa: LoadedCertificate, ca: LoadedCertificate) -> TimeStamper:
    """One per TSA certificate and process: it caches the certificates it embeds."""
    stamper = _timestampers.get(tsa.row_id)
    if stamper is None:
        stamper = _timestampers[tsa.row_id] = EmbeddedTimeStamper(tsa, [ca.asn1])
    return stamper


def timestamper(tsa: LoadedCertificate | None, ca: LoadedCertificate) -> TimeStamper:
    url = getattr(settings, "GUICHET_TSA_URL", None)
    if url:
        return HTTPTimeStamper(url, timeout=int(getattr(settings, "GUICHET_TSA_TIMEOUT", 10)))
    if tsa is None:
        raise SealError("No time-stamping authority: run `guichet pki init`.")
    return _embedded_timestamper(tsa, ca)


def seal_pdf(
    rendition: bytes,
    qr_text: str,
    seal: LoadedCertificate,
    ca: LoadedCertificate,
    stamper: TimeStamper,
    signer_name: str,
) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(rendition))
    writer.root[generic.NameObject(QR_CATALOG_KEY)] = generic.TextStringObject(qr_text)
    writer.update_root()  # type: ignore[no-untyped-call]
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        name=signer_name,
    )
    reserved = RESERVED_EXTERNAL if isinstance(stamper, HTTPTimeStamper) else RESERVED_EMBEDDED
    with seal.store.pdf_signer(seal.label, seal.asn1, [ca.asn1]) as signer:
        pdf_signer = signers.PdfSigner(
            metadata,
            signer=signer,
            timestamper=stamper,
            stamp_style=QrSealStyle(qr_text=qr_text),
            new_field_spec=fields.SigFieldSpec(FIELD_NAME, box=SEAL_BOX, on_page=0),
        )
        output = io.BytesIO()
        pdf_signer.sign_pdf(writer, bytes_reserved=reserved, output=output)
    sealed = output.getvalue()
    if rendition_of(sealed) != rendition:
        # The QR's hash would name bytes no verifier can find: refuse rather than issue it.
        raise SealError("The rendition is not the sealed file's first revision.")
    return sealed


def forget_timestampers() -> None:
    _timestampers.clear()
