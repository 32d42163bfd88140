"""The PDF's fast path: long tables drawn by ReportLab, the rest of the layout by WeasyPrint.

Why: WeasyPrint's time and memory grow with a table's rows (a 10,000-row table took 33 s and
448 MB in chunks on two workers); ReportLab's canvas draws the same rows in a fraction of that
and keeps one page in memory. A table of at least `PdfRenderer.fast_rows` shown rows whose
layout draws it with the default table part (`reports/_table.html`, which marks it with the
class `rh-drawn-apart`) goes this way; see `pdf.py` for where the threshold comes from.

How the look is kept: the layout is rendered with the table's header and first two rows only,
hidden but laid out. WeasyPrint's boxes of that table give the geometry and style ReportLab draws
with: where the table starts, the page's content area, each column's position, width, padding,
alignment and clipping, the row heights and baselines, fonts, colours, the header's and the
zebra rows' backgrounds. The same TrueType files are registered with ReportLab (found by
fontconfig, as WeasyPrint finds them) and each is embedded once in the drawn part.

How pages join: the document is cut at each such table. The part before it (with the hidden
table at its end) is rendered by WeasyPrint; the table's first page is drawn over that part's
last page, from where the hidden table stood; the table's header row repeats on every page;
what follows the table starts on a new page. Page margin boxes (footer text, "Page N of M") are
drawn by ReportLab on every page from the content, style and position WeasyPrint resolved for
them on a one-page stamp, with `counter(page)` and `counter(pages)` counted over the whole
document. Layouts whose margin boxes hold other content (running elements, string-set) take the
all-WeasyPrint path.
"""

import copy
import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.etree.ElementTree import Element, tostring

import tinyhtml5

from reporting.renderers.layout import STATIC_ROOT, cell_formatter
from reporting.tables import ReportDocument, SpooledTable

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas
    from weasyprint.document import Page

DRAWN_APART = "rh-drawn-apart"
PX = 0.75  # a CSS px in PDF points
ELLIPSIS = "…"
SAMPLE_STYLE = f"table.{DRAWN_APART} {{ visibility: hidden !important; break-inside: avoid }}"
COUNTERS = {"page", "pages"}


class FastPathRefused(Exception):
    """The layout does something the fast path cannot draw; the caller renders it all in HTML."""


Colour = tuple[float, float, float] | None


@dataclass(frozen=True)
class CellLook:
    x: float  # border box, points from the page's left
    width: float
    padding_left: float
    padding_right: float
    font: str  # a registered ReportLab font name
    size: float
    colour: Colour
    background: Colour
    align: str  # left | right | center
    clip: bool


@dataclass(frozen=True)
class RowLook:
    height: float
    baseline: float  # from the row's top
    background: Colour
    cells: list[CellLook]


@dataclass(frozen=True)
class TableLook:
    page_width: float
    page_height: float
    content_top: float  # points from the page's top
    content_bottom: float
    first_top: float  # where the table starts on its first page
    x: float
    width: float
    header: RowLook
    odd: RowLook
    even: RowLook

    def rows_on_page(self, top: float) -> int:
        room = self.content_bottom - top - self.header.height
        return max(1, int((room + 0.01) // self.odd.height))

    def page_count(self, rows: int) -> int:
        first = self.rows_on_page(self.first_top)
        if rows <= first:
            return 1
        return 1 + -(-(rows - first) // self.rows_on_page(self.content_top))


@dataclass(frozen=True)
class MarginText:
    parts: tuple  # WeasyPrint's `content` value: ("string", text) and ("counter()", (name, style))
    left: float
    right: float
    baseline: float  # points from the page's top
    align: str
    font: str
    size: float
    colour: Colour

    def text(self, page: int, pages: int) -> str:
        values = {"page": page, "pages": pages}
        return "".join(
            value if kind == "string" else str(values[value[0]]) for kind, value in self.parts
        )


@dataclass
class _Part:
    """A run of pages: a WeasyPrint file, or a table ReportLab draws over the page before it."""

    path: Path
    pages: int
    table: SpooledTable | None = None
    look: TableLook | None = None
    shown: int = 0
    first_page: int = 0  # the document's page number of its first page, from 1
    drawn_from: int = 0  # the index of its first page in the file ReportLab draws


@dataclass
class _Document:
    head: Element
    body: Element
    attributes: dict[str, str]
    parts: list[_Part] = field(default_factory=list)

    def html(self, body: Element) -> str:
        root = Element("html", self.attributes)
        root.extend([self.head, body])
        return "<!DOCTYPE html>\n" + tostring(root, encoding="unicode", method="html")


def render_fast(
    document: ReportDocument, html: str, shown: dict[str, int], folder: Path, out: BinaryIO
) -> None:
    """The PDF of `html` (the layout rendered with the tables of `shown`, by name, drawn apart)
    with those tables' rows drawn by ReportLab. Raises FastPathRefused when it cannot."""
    from reporting.renderers.pdf import STAMP_ONLY, join_parts

    parsed = _parse(html)
    by_id = {f"table-{number}": table for number, table in enumerate(document.tables, start=1)}
    targets = [
        element
        for element in parsed.body.iter("table")
        if DRAWN_APART in element.get("class", "").split()
        and by_id.get(element.get("id", "")) is not None
        and by_id[element.get("id")].name in shown
    ]
    if not targets:
        raise FastPathRefused("The layout draws no table with the default table part.")
    margins = _margin_texts(parsed.html(Element("body")), STAMP_ONLY)
    rest = parsed.body
    for number, target in enumerate(targets):
        table = by_id[target.get("id")]
        before, rest = _before(rest, target), _after(rest, target)
        path = folder / f"part-{number:03d}.pdf"
        pages, look = _render_html(parsed.html(before), path, target.get("id"))
        parsed.parts.append(_Part(path=path, pages=pages))
        count = shown[table.name]
        parsed.parts.append(
            _Part(
                path=folder / "drawn.pdf",
                pages=look.page_count(count) - 1,  # its first page is the part's last
                table=table,
                look=look,
                shown=count,
            )
        )
    path = folder / "part-end.pdf"
    pages, _ = _render_html(parsed.html(rest), path, None)
    if pages:
        parsed.parts.append(_Part(path=path, pages=pages))
    page_count = _number_pages(parsed.parts)
    drawn = folder / "drawn.pdf"
    _draw(drawn, parsed.parts, document, margins, page_count)
    join_parts(parsed.parts, drawn, document, out)


def _number_pages(parts: list[_Part]) -> int:
    page = 1
    for part in parts:
        part.first_page = page - 1 if part.table is not None else page
        page += part.pages
    return page - 1


# --- Cutting the layout at a table -----------------------------------------------------------


def _parse(html: str) -> _Document:
    from reporting.renderers.pdf import strip_namespaces

    root = tinyhtml5.parse(html, namespace_html_elements=False)
    strip_namespaces(root)
    return _Document(head=root.find("head"), body=root.find("body"), attributes=dict(root.attrib))


def _holds(element: Element, target: Element) -> bool:
    return any(found is target for found in element.iter())


def _before(element: Element, target: Element) -> Element:
    """A copy of `element` up to and including `target`: what follows it is left out."""
    part = Element(element.tag, element.attrib)
    part.text = element.text
    for child in element:
        if child is target:
            last = copy.copy(child)
            last.tail = None
            part.append(last)
            return part
        if _holds(child, target):
            part.append(_before(child, target))
            return part
        part.append(child)
    return part


def _after(element: Element, target: Element) -> Element:
    """A copy of `element` from after `target` on; the elements holding it stay, emptied."""
    part = Element(element.tag, element.attrib)
    children = list(element)
    for index, child in enumerate(children):
        if child is target:
            part.text = child.tail
            part.extend(children[index + 1 :])
            return part
        if _holds(child, target):
            held = _after(child, target)
            held.tail = child.tail
            part.append(held)
            part.extend(children[index + 1 :])
            return part
    return part


# --- WeasyPrint: the parts around tables, and what they measure ----------------------------


def _weasy(html: str, *stylesheets: str) -> Any:
    from weasyprint import CSS, HTML

    from reporting.renderers.fetcher import StaticOnlyURLFetcher

    page = HTML(
        string=html, base_url=STATIC_ROOT.as_uri() + "/", url_fetcher=StaticOnlyURLFetcher()
    )
    return page.render(stylesheets=[CSS(string=sheet) for sheet in stylesheets])


def _render_html(html: str, path: Path, table_id: str | None) -> tuple[int, TableLook | None]:
    """Renders a part without margin boxes; measures the hidden table `table_id` at its end.
    A part after the last table with nothing to show has no pages."""
    from reporting.renderers.pdf import NO_MARGIN_BOXES

    rendered = _weasy(html, NO_MARGIN_BOXES, SAMPLE_STYLE)
    look = None
    if table_id is not None:
        look = _table_look(rendered.pages[-1], table_id)
    elif len(rendered.pages) == 1 and not _shows_anything(rendered.pages[0]):
        return 0, None
    rendered.write_pdf(path)
    return len(rendered.pages), look


def _shows_anything(page: "Page") -> bool:
    from weasyprint.formatting_structure.boxes import ReplacedBox, TextBox

    return any(
        isinstance(box, TextBox | ReplacedBox) and box.style["visibility"] == "visible"
        for box in page._page_box.descendants()
    )


def _table_look(page: "Page", table_id: str) -> TableLook:
    from weasyprint.formatting_structure.boxes import TableBox

    boxes = page._page_box.descendants()
    table = next(
        (
            box
            for box in boxes
            if isinstance(box, TableBox)
            and box.element is not None
            and box.element.get("id") == table_id
        ),
        None,
    )
    if table is None:
        raise FastPathRefused(f"The table {table_id} was not laid out on one page.")
    groups = {group.element_tag: group for group in table.children}
    if "thead" not in groups or len(groups.get("tbody", _NoRows).children) < 2:
        raise FastPathRefused(f"The table {table_id} has no header row or too few rows.")
    page_box = page._page_box
    top = page_box.content_box_y()
    header = groups["thead"].children[0]
    odd, even = groups["tbody"].children[:2]
    return TableLook(
        page_width=page.width * PX,
        page_height=page.height * PX,
        content_top=top * PX,
        content_bottom=(top + page_box.height) * PX,
        first_top=table.position_y * PX,
        x=header.position_x * PX,
        width=header.width * PX,
        header=_row_look(header),
        odd=_row_look(odd),
        even=_row_look(even),
    )


class _NoRows:
    children: list = []


def _row_look(row: Any) -> RowLook:
    from weasyprint.formatting_structure.boxes import TextBox

    texts = [box for box in row.descendants() if isinstance(box, TextBox)]
    baseline = (texts[0].position_y + texts[0].baseline - row.position_y) if texts else None
    if baseline is None:
        raise FastPathRefused("A sample row of a long table has no text to measure.")
    return RowLook(
        height=row.margin_height() * PX,
        baseline=baseline * PX,
        background=_colour(row.style["background_color"]),
        cells=[_cell_look(cell) for cell in row.children],
    )


def _cell_look(cell: Any) -> CellLook:
    style = cell.style
    return CellLook(
        x=cell.position_x * PX,
        width=cell.border_width() * PX,
        padding_left=cell.padding_left * PX,
        padding_right=cell.padding_right * PX,
        font=_font(style),
        size=style["font_size"] * PX,
        colour=_colour(style["color"]),
        background=_colour(style["background_color"]),
        align={"right": "right", "end": "right", "center": "center"}.get(
            style["text_align_all"], "left"
        ),
        clip=style["overflow"] == "hidden",
    )


def _colour(colour: Any) -> Colour:
    if colour is None or colour.alpha == 0:
        return None
    red, green, blue = colour.to("srgb").coordinates
    return (red, green, blue)


def _margin_texts(html: str, stamp_css: str) -> list[MarginText]:
    from weasyprint.formatting_structure.boxes import MarginBox, TextBox

    page = _weasy(html, stamp_css).pages[0]
    found = []
    for box in page._page_box.children:
        if not isinstance(box, MarginBox) or box.style["content"] in ("normal", "none"):
            continue
        parts = tuple(box.style["content"])
        if any(kind not in ("string", "counter()") for kind, _ in parts) or any(
            kind == "counter()" and value[0] not in COUNTERS for kind, value in parts
        ):
            raise FastPathRefused("A page margin box holds more than text and page numbers.")
        texts = [child for child in box.descendants() if isinstance(child, TextBox)]
        if not texts:
            continue
        style = texts[0].style
        left = box.content_box_x()
        found.append(
            MarginText(
                parts=parts,
                left=left * PX,
                right=(left + box.width) * PX,
                baseline=(texts[0].position_y + texts[0].baseline) * PX,
                align={"right": "right", "end": "right", "center": "center"}.get(
                    box.style["text_align_all"], "left"
                ),
                font=_font(style),
                size=style["font_size"] * PX,
                colour=_colour(style["color"]),
            )
        )
    return found


# --- Fonts -----------------------------------------------------------------------------------


def _font(style: Any) -> str:
    """The ReportLab name of the TrueType font fontconfig picks for the style, registered."""
    families = ",".join(style["font_family"])
    bold = style["font_weight"] >= 600
    italic = style["font_style"] != "normal"
    return _registered_font(families, bold, italic)


@cache
def _registered_font(families: str, bold: bool, italic: bool) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pattern = f"{families}:weight={200 if bold else 80}:slant={100 if italic else 0}"
    found = _fontconfig_match(pattern)
    if not found.lower().endswith(".ttf"):
        raise FastPathRefused(f"No TrueType font for {pattern!r} (fontconfig gave {found!r}).")
    name = Path(found).stem
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, found))
    return name


def _fontconfig_match(pattern: str) -> str:
    """The file fontconfig matches the pattern with, as WeasyPrint (Pango) does. Called through
    the library WeasyPrint has loaded already, not the fc-match command: a child process of a
    large one briefly counts its memory twice."""
    import ctypes

    fontconfig = ctypes.CDLL("libfontconfig.so.1")
    pointer = ctypes.c_void_p
    fontconfig.FcNameParse.restype = pointer
    fontconfig.FcNameParse.argtypes = [ctypes.c_char_p]
    fontconfig.FcConfigSubstitute.argtypes = [pointer, pointer, ctypes.c_int]
    fontconfig.FcDefaultSubstitute.argtypes = [pointer]
    fontconfig.FcFontMatch.restype = pointer
    fontconfig.FcFontMatch.argtypes = [pointer, pointer, ctypes.POINTER(ctypes.c_int)]
    fontconfig.FcPatternGetString.argtypes = [
        pointer,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_char_p),
    ]
    fontconfig.FcPatternDestroy.argtypes = [pointer]
    wanted = fontconfig.FcNameParse(pattern.encode())
    fontconfig.FcConfigSubstitute(None, wanted, 0)  # FcMatchPattern
    fontconfig.FcDefaultSubstitute(wanted)
    outcome = ctypes.c_int()
    match = fontconfig.FcFontMatch(None, wanted, ctypes.byref(outcome))
    found, path = ctypes.c_char_p(), b""
    if match:
        fontconfig.FcPatternGetString(match, b"file", 0, ctypes.byref(found))
        path = found.value or b""  # owned by the match: read before it is destroyed
        fontconfig.FcPatternDestroy(match)
    fontconfig.FcPatternDestroy(wanted)
    return path.decode()


# --- ReportLab: the table's pages, and the margin boxes -------------------------------------


def _draw(
    path: Path,
    parts: list[_Part],
    document: ReportDocument,
    margins: list[MarginText],
    page_count: int,
) -> None:
    """Everything ReportLab draws, in one file so that each font is embedded once: the pages
    of each table, then a page of margin boxes for each page WeasyPrint drew."""
    from reportlab.pdfgen.canvas import Canvas

    tables = [part for part in parts if part.table is not None]
    first = tables[0].look
    assert first is not None
    canvas = Canvas(str(path), pageCompression=1, initialFontName=first.odd.cells[0].font)
    canvas.setPageCallBack(lambda number: _compress_last_page(canvas))
    drawn = 0
    for part in tables:
        part.drawn_from = drawn
        _draw_table(canvas, part, document, margins, page_count)
        drawn += part.pages + 1
    for part in parts:
        if part.table is None:
            part.drawn_from = drawn
            size = _page_size(part)
            for page in range(part.first_page, part.first_page + part.pages):
                canvas.setPageSize(size)
                _draw_margin_texts(canvas, size[1], margins, page, page_count)
                canvas.showPage()
                drawn += 1
    canvas.save()


def _compress_last_page(canvas: "Canvas") -> None:
    """ReportLab keeps each page's content as text until it writes the file, about 20 kB a
    page of a table: compressed as each page ends, a long table's pages take a fifth of that."""
    from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFStream

    page = canvas._doc.Pages.pages[-1]
    if page.stream:
        filters = PDFDictionary({"Filter": PDFName("FlateDecode")})
        page.Contents = PDFStream(filters, zlib.compress(page.stream.encode("utf-8")))
        page.stream = None


def _draw_table(
    canvas: "Canvas",
    part: _Part,
    document: ReportDocument,
    margins: list[MarginText],
    page_count: int,
) -> None:
    look, table = part.look, part.table
    assert look is not None
    assert table is not None
    canvas.setPageSize((look.page_width, look.page_height))
    formats = [cell_formatter(column, document.time_zone) for column in table.columns]
    header = [column.name for column in table.columns]
    with closing(table.rows()) as spooled:
        rows = (
            [text(value) for text, value in zip(formats, row, strict=True)]
            for row in islice(spooled, part.shown)
        )
        _draw_pages(canvas, look, header, rows, part, margins, page_count)


def _draw_pages(
    canvas: "Canvas",
    look: TableLook,
    header: list[str],
    rows: Iterator[list[str]],
    part: _Part,
    margins: list[MarginText],
    page_count: int,
) -> None:
    top, page, number = look.first_top, part.first_page, 0
    while True:
        on_page = list(islice(rows, look.rows_on_page(top)))
        if not on_page and number:
            return
        text = _Text(canvas)
        _draw_row(canvas, text, look, look.header, header, top)
        y = top + look.header.height
        for row in on_page:
            number += 1
            _draw_row(canvas, text, look, look.even if number % 2 == 0 else look.odd, row, y)
            y += look.odd.height
        canvas.drawText(text.text)
        if page > part.first_page:
            _draw_margin_texts(canvas, look.page_height, margins, page, page_count)
        canvas.showPage()
        top, page = look.content_top, page + 1
        if not on_page:
            return


class _Text:
    """One text object per page, its font and colour set only when they change: the cells'
    text is drawn over the backgrounds, which go straight onto the canvas."""

    def __init__(self, canvas: "Canvas") -> None:
        self.text = canvas.beginText()
        self.font: tuple[str, float] | None = None
        self.colour: Colour = None

    def out(self, cell: CellLook, left: float, baseline: float, text: str) -> None:
        if self.font != (cell.font, cell.size):
            self.font = (cell.font, cell.size)
            self.text.setFont(cell.font, cell.size)
        colour = cell.colour or (0, 0, 0)
        if self.colour != colour:
            self.colour = colour
            self.text.setFillColorRGB(*colour)
        self.text.setTextOrigin(left, baseline)
        self.text.textOut(text)


def _draw_row(
    canvas: "Canvas", text: _Text, look: TableLook, row: RowLook, cells: list[str], top: float
) -> None:
    bottom = look.page_height - top - row.height
    if row.background is not None:
        canvas.setFillColorRGB(*row.background)
        canvas.rect(look.x, bottom, look.width, row.height, stroke=0, fill=1)
    for cell in row.cells:
        if cell.background is not None:
            canvas.setFillColorRGB(*cell.background)
            canvas.rect(cell.x, bottom, cell.width, row.height, stroke=0, fill=1)
    baseline = look.page_height - top - row.baseline
    for cell, value in zip(row.cells, cells, strict=True):
        if value:
            _draw_text(text, cell, value, baseline)


def _draw_text(text: _Text, cell: CellLook, value: str, baseline: float) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    left = cell.x + cell.padding_left
    if cell.align == "left" and not cell.clip:
        text.out(cell, left, baseline, value)  # no need to measure it
        return
    room = cell.width - cell.padding_left - cell.padding_right
    width = stringWidth(value, cell.font, cell.size)
    if cell.clip and width > room:
        value, width = _clipped(value, cell, room)
    if cell.align == "right":
        left += room - width
    elif cell.align == "center":
        left += (room - width) / 2
    text.out(cell, left, baseline, value)


def _clipped(text: str, cell: CellLook, room: float) -> tuple[str, float]:
    """The text cut to fit `room` with an ellipsis, as CSS text-overflow: ellipsis does."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while text:
        text = text[:-1]
        width = stringWidth(text + ELLIPSIS, cell.font, cell.size)
        if width <= room:
            return text + ELLIPSIS, width
    return "", 0.0


def _draw_margin_texts(
    canvas: "Canvas", height: float, margins: Iterable[MarginText], page: int, pages: int
) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    for margin in margins:
        text = margin.text(page, pages)
        width = stringWidth(text, margin.font, margin.size)
        left = {
            "right": margin.right - width,
            "center": (margin.left + margin.right - width) / 2,
        }.get(margin.align, margin.left)
        canvas.setFont(margin.font, margin.size)
        canvas.setFillColorRGB(*(margin.colour or (0, 0, 0)))
        canvas.drawString(left, height - margin.baseline, text)


def _page_size(part: _Part) -> tuple[float, float]:
    from pypdf import PdfReader

    box = PdfReader(part.path).pages[0].mediabox
    return float(box.width), float(box.height)
