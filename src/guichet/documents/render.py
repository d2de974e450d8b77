"""The document's page, drawn with ReportLab.

ReportLab rather than an HTML renderer: the issue asks for 20 sealed documents a second on two
cores, and a one-page certificate costs ReportLab about 1-10 ms (with its fonts subset and
embedded) against about 110 ms for WeasyPrint. The layout is fixed and simple, which is what a
canvas is good at.

PDF/A: the page is written with what PDF/A-2b asks of it: every font embedded (DejaVu, or
ReportLab's bundled Vera, never the unembedded standard 14), an sRGB output intent, XMP metadata
identifying part 2 conformance B and mirroring the Info dictionary, a file identifier, no
transparency and no encryption. The seal appended later is a printable widget with its own
appearance stream, as PDF/A requires. This has not been checked by a PDF/A validator (veraPDF is
not available here): "PDF/A-2b intended, unvalidated" is the honest level.

The seal's appearance (the QR code) is not drawn here: `seal_box` is left blank for it, because
the QR carries the SHA-256 of this very rendition and so can only be added after it.
"""

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.utils import simpleSplit  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfdoc import (  # type: ignore[import-untyped]
    PDFArray,
    PDFCatalog,
    PDFDictionary,
    PDFName,
    PDFStream,
    PDFString,
)
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from guichet.documents.wording import LABELS, in_language, long_date

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 56.0
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
SEAL_SIZE = 128.0
# Bottom right, above the footer: where the seal's QR appearance goes.
SEAL_BOX = (
    int(PAGE_WIDTH - MARGIN - SEAL_SIZE),
    60,
    int(PAGE_WIDTH - MARGIN),
    int(60 + SEAL_SIZE),
)
REGULAR, BOLD, ITALIC = "GuichetSans", "GuichetSans-Bold", "GuichetSans-Oblique"
FONT_FILES = {
    REGULAR: ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "Vera.ttf"),
    BOLD: ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "VeraBd.ttf"),
    ITALIC: ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf", "VeraIt.ttf"),
}
INK = (0.1, 0.12, 0.16)
ACCENT = (0.0, 0.36, 0.29)


@dataclass(frozen=True)
class Page:
    """Everything the page shows, already in the document's language."""

    language: str
    number: str
    dossier_number: str
    organisation: str
    parent_organisation: str
    title: str
    subtitle: str
    applicant: str
    paragraphs: list[str]
    facts: list[tuple[str, str]]
    reasons: str
    closing: str
    legal_basis: str
    signatory: str
    decided_at: str
    issued_at: str
    expires_at: str
    verify_url: str
    tsa_label: str
    keywords: list[str] = field(default_factory=list)


@functools.cache
def _register_fonts() -> None:
    import reportlab  # type: ignore[import-untyped]

    bundled = Path(reportlab.__file__).parent / "fonts"
    for name, (system, fallback) in FONT_FILES.items():
        path = Path(system) if Path(system).exists() else bundled / fallback
        pdfmetrics.registerFont(TTFont(name, str(path)))


@functools.cache
def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


class _Writer:
    """A cursor going down the page, wrapping text to the column."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.y = PAGE_HEIGHT - MARGIN

    def line(self, text: str, font: str = REGULAR, size: float = 11, x: float = MARGIN) -> None:
        self.canvas.setFont(font, size)
        self.canvas.drawString(x, self.y, text)
        self.y -= size * 1.35

    def centred(self, text: str, font: str = BOLD, size: float = 11) -> None:
        self.canvas.setFont(font, size)
        for piece in simpleSplit(text, font, size, TEXT_WIDTH):
            self.canvas.drawCentredString(PAGE_WIDTH / 2, self.y, piece)
            self.y -= size * 1.35

    def paragraph(
        self, text: str, font: str = REGULAR, size: float = 11, width: float = TEXT_WIDTH
    ) -> None:
        for block in text.splitlines() or [""]:
            for piece in simpleSplit(block, font, size, width) or [""]:
                self.line(piece, font, size)
        self.y -= size * 0.6

    def gap(self, points: float) -> None:
        self.y -= points


def _letterhead(out: _Writer, page: Page) -> None:
    canvas = out.canvas
    top = out.y
    out.line(in_language(LABELS["country"], page.language), BOLD, 10)
    out.line(in_language(LABELS["motto"], page.language), ITALIC, 8)
    out.gap(6)
    if page.parent_organisation:
        for piece in simpleSplit(page.parent_organisation, REGULAR, 9, TEXT_WIDTH / 2):
            out.line(piece, REGULAR, 9)
    for piece in simpleSplit(page.organisation, BOLD, 11, TEXT_WIDTH / 2):
        out.line(piece, BOLD, 11)
    right = PAGE_WIDTH - MARGIN
    canvas.setFont(REGULAR, 9)
    labels = (
        (in_language(LABELS["document_number"], page.language), page.number),
        (in_language(LABELS["dossier_number"], page.language), page.dossier_number),
    )
    y = top
    for label, value in labels:
        canvas.setFont(REGULAR, 8)
        canvas.drawRightString(right, y, label)
        canvas.setFont(BOLD, 10)
        canvas.drawRightString(right, y - 12, value)
        y -= 28
    out.y = min(out.y, y) - 10
    canvas.setStrokeColorRGB(*ACCENT)
    canvas.setLineWidth(1.2)
    canvas.line(MARGIN, out.y, PAGE_WIDTH - MARGIN, out.y)
    out.gap(34)


def _facts(out: _Writer, page: Page) -> None:
    rows = [
        (in_language(LABELS["applicant"], page.language), page.applicant),
        *page.facts,
        (in_language(LABELS["decided_at"], page.language), page.decided_at),
        (in_language(LABELS["issued_at"], page.language), page.issued_at),
    ]
    if page.expires_at:
        rows.append((in_language(LABELS["expires_at"], page.language), page.expires_at))
    label_width = 150
    for label, value in rows:
        out.canvas.setFont(REGULAR, 9)
        out.canvas.setFillColorRGB(0.35, 0.37, 0.4)
        out.canvas.drawString(MARGIN, out.y, label)
        out.canvas.setFillColorRGB(*INK)
        pieces = simpleSplit(value, BOLD, 10.5, TEXT_WIDTH - label_width) or ["—"]
        for piece in pieces:
            out.canvas.setFont(BOLD, 10.5)
            out.canvas.drawString(MARGIN + label_width, out.y, piece)
            out.y -= 14
        out.y -= 3
    out.gap(10)


def _seal_notice(canvas: Canvas, page: Page, organisation: str) -> None:
    x1, y1, _x2, y2 = SEAL_BOX
    width = x1 - MARGIN - 16
    text = in_language(LABELS["sealed_by"], page.language).format(organisation=organisation)
    y = float(y2 - 10)
    canvas.setFillColorRGB(*INK)
    for piece in simpleSplit(text, REGULAR, 8.5, width):
        canvas.setFont(REGULAR, 8.5)
        canvas.drawString(MARGIN, y, piece)
        y -= 11.5
    canvas.setFont(BOLD, 9.5)
    canvas.setFillColorRGB(*ACCENT)
    canvas.drawString(MARGIN, y - 2, page.verify_url)
    canvas.setFillColorRGB(*INK)
    if page.tsa_label:
        label = in_language(LABELS["timestamp_by"], page.language).format(tsa=page.tsa_label)
        canvas.setFont(REGULAR, 7)
        canvas.drawString(MARGIN, y1, label)
    canvas.setStrokeColorRGB(0.8, 0.82, 0.85)
    canvas.setLineWidth(0.6)
    canvas.line(MARGIN, 48, PAGE_WIDTH - MARGIN, 48)
    canvas.setFont(REGULAR, 7.5)
    canvas.drawString(MARGIN, 36, page.number)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, 36, in_language(LABELS["page"], page.language))


def _xmp_date(canvas: Canvas) -> str:
    """The date ReportLab writes in the Info dictionary, in XMP's form: PDF/A wants them equal."""
    stamp = canvas._doc._timeStamp
    year, month, day, hour, minute, second = stamp.YMDhms
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        f"{stamp.dhh:+03d}:{stamp.dmm:02d}"
    )


def _xmp(canvas: Canvas, page: Page) -> bytes:
    info = canvas._doc.info
    date = _xmp_date(canvas)
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '<rdf:Description rdf:about="" '
        'xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:pdf="http://ns.adobe.com/pdf/1.3/">\n'
        "<pdfaid:part>2</pdfaid:part>\n<pdfaid:conformance>B</pdfaid:conformance>\n"
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(info.title)}</rdf:li>'
        "</rdf:Alt></dc:title>\n"
        f"<dc:creator><rdf:Seq><rdf:li>{escape(info.author)}</rdf:li></rdf:Seq></dc:creator>\n"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(info.subject)}'
        "</rdf:li></rdf:Alt></dc:description>\n"
        f"<pdf:Keywords>{escape(info.keywords)}</pdf:Keywords>\n"
        f"<pdf:Producer>{escape(info.producer)}</pdf:Producer>\n"
        "<pdf:Trapped>False</pdf:Trapped>\n"
        f"<xmp:CreatorTool>{escape(info.creator)}</xmp:CreatorTool>\n"
        f"<xmp:CreateDate>{date}</xmp:CreateDate>\n<xmp:ModifyDate>{date}</xmp:ModifyDate>\n"
        "</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def _pdfa_catalog(canvas: Canvas, page: Page) -> None:
    document = canvas._doc
    # PDF/A wants the metadata stream unfiltered, so readers without zlib still identify it.
    metadata = PDFStream(
        PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
        _xmp(canvas, page),
        filters=[],
    )
    profile = PDFStream(PDFDictionary({"N": 3}), _srgb_profile())
    intent = PDFDictionary(
        {
            "Type": PDFName("OutputIntent"),
            "S": PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
            "Info": PDFString("sRGB IEC61966-2.1"),
            "DestOutputProfile": document.Reference(profile),
        }
    )
    catalog = document.Catalog
    catalog.Metadata = metadata
    catalog.OutputIntents = PDFArray([intent])
    # ReportLab writes only the catalog keys it knows; this instance also writes OutputIntents.
    catalog.__NoDefault__ = [*PDFCatalog.__NoDefault__, "OutputIntents"]
    catalog.Lang = PDFString(page.language)


def render(page: Page) -> bytes:
    _register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=A4,
        initialFontName=REGULAR,
        initialFontSize=11,
        pageCompression=1,
        lang=page.language,
    )
    canvas.setTitle(f"{page.title} \N{EN DASH} {page.number}")
    canvas.setAuthor(page.organisation)
    canvas.setSubject(page.subtitle)
    canvas.setCreator("Guichet")
    canvas.setKeywords(", ".join(page.keywords))
    canvas.setFillColorRGB(*INK)
    out = _Writer(canvas)
    _letterhead(out, page)
    out.centred(page.title.upper(), BOLD, 17)
    if page.subtitle:
        out.centred(page.subtitle, REGULAR, 11)
    out.gap(16)
    for paragraph in page.paragraphs:
        out.paragraph(paragraph)
    if page.reasons:
        out.canvas.setFillColorRGB(*ACCENT)
        out.line(in_language(LABELS["reasons"], page.language), BOLD, 10.5)
        out.canvas.setFillColorRGB(*INK)
        out.paragraph(page.reasons, ITALIC, 10.5)
    out.gap(4)
    _facts(out, page)
    if page.closing:
        out.paragraph(page.closing, REGULAR, 9.5)
    if page.legal_basis:
        out.line(in_language(LABELS["legal_basis"], page.language), BOLD, 9)
        out.paragraph(page.legal_basis, REGULAR, 9)
    out.gap(8)
    out.canvas.setFont(BOLD, 10.5)
    for piece in simpleSplit(page.signatory, BOLD, 10.5, TEXT_WIDTH / 2):
        out.canvas.drawRightString(PAGE_WIDTH - MARGIN, out.y, piece)
        out.y -= 14
    out.canvas.setFont(REGULAR, 10)
    out.canvas.drawRightString(PAGE_WIDTH - MARGIN, out.y, page.organisation[:80])
    _seal_notice(canvas, page, page.organisation)
    _pdfa_catalog(canvas, page)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def date_text(value: object, language: str) -> str:
    import datetime

    if isinstance(value, datetime.datetime):
        from django.utils import timezone

        value = timezone.localtime(value).date()
    if isinstance(value, datetime.date):
        return long_date(value, language)
    return ""
