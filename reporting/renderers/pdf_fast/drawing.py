"""ReportLab's part of the fast path: the long tables' pages and every page's margin boxes."""

import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from reporting.renderers.layout import cell_formatter
from reporting.renderers.pdf_fast.looks import CellLook, Colour, MarginText, RowLook, TableLook
from reporting.tables import ReportDocument

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

    from reporting.renderers.pdf_fast.parts import Part

ELLIPSIS = "…"


def draw(
    path: Path,
    parts: list["Part"],
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
            drawn += _draw_margin_pages(canvas, part, margins, page_count)
    canvas.save()


def _draw_margin_pages(
    canvas: "Canvas", part: "Part", margins: list[MarginText], page_count: int
) -> int:
    """A page holding only the margin boxes for each page of a WeasyPrint part."""
    size = _page_size(part)
    for page in range(part.first_page, part.first_page + part.pages):
        canvas.setPageSize(size)
        _draw_margin_texts(canvas, size[1], margins, page, page_count)
        canvas.showPage()
    return part.pages


def _compress_last_page(canvas: "Canvas") -> None:
    """ReportLab keeps each page's content as text until it writes the file (there is no
    public hook, hence its `_doc`): compressed as each page ends, a 100,000-row table's render
    peaked at 198 MB instead of 226 MB."""
    from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFStream

    page = canvas._doc.Pages.pages[-1]
    if page.stream:
        filters = PDFDictionary({"Filter": PDFName("FlateDecode")})
        page.Contents = PDFStream(filters, zlib.compress(page.stream.encode("utf-8")))
        page.stream = None


def _draw_table(
    canvas: "Canvas",
    part: "Part",
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
    part: "Part",
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
    # Pango kerns and ReportLab does not: a text WeasyPrint fits measures a little wider here,
    # so it is cut only past half the right padding (still inside the cell).
    if cell.clip and width > room + cell.padding_right / 2:
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


def _page_size(part: "Part") -> tuple[float, float]:
    from pypdf import PdfReader

    box = PdfReader(part.path).pages[0].mediabox
    return float(box.width), float(box.height)
