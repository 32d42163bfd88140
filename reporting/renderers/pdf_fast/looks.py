"""What WeasyPrint measures for the fast path: a long table's look, the page margin boxes,
and the TrueType files of their fonts, registered with ReportLab."""

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reporting.renderers.layout import STATIC_ROOT

if TYPE_CHECKING:
    from weasyprint.document import Page

DRAWN_APART = "rh-drawn-apart"  # the class the default table part gives a table drawn apart
SAMPLE_STYLE = f"table.{DRAWN_APART} {{ visibility: hidden !important; break-inside: avoid }}"
PX = 0.75  # a CSS px in PDF points
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


def _weasy(html: str, *stylesheets: str) -> Any:
    from weasyprint import CSS, HTML

    from reporting.renderers.fetcher import StaticOnlyURLFetcher

    page = HTML(
        string=html, base_url=STATIC_ROOT.as_uri() + "/", url_fetcher=StaticOnlyURLFetcher()
    )
    return page.render(stylesheets=[CSS(string=sheet) for sheet in stylesheets])


def render_part_before(html: str, path: Path, table_id: str) -> tuple[int, TableLook]:
    """Renders the part before a long table without margin boxes, and measures the table
    (`table_id`, hidden at its end) on its last page. Returns its page count and the look."""
    from reporting.renderers.pdf import NO_MARGIN_BOXES

    rendered = _weasy(html, NO_MARGIN_BOXES, SAMPLE_STYLE)
    look = table_look(rendered.pages[-1], table_id)
    rendered.write_pdf(path)
    return len(rendered.pages), look


def render_last_part(html: str, path: Path) -> int:
    """Renders what follows the last long table; 0 pages when it shows nothing (the default
    layout's closing footer is for the screen only)."""
    from reporting.renderers.pdf import NO_MARGIN_BOXES

    rendered = _weasy(html, NO_MARGIN_BOXES)
    if len(rendered.pages) == 1 and not _shows_anything(rendered.pages[0]):
        return 0
    rendered.write_pdf(path)
    return len(rendered.pages)


def _shows_anything(page: "Page") -> bool:
    from weasyprint.formatting_structure.boxes import ReplacedBox, TextBox

    return any(
        isinstance(box, TextBox | ReplacedBox) and box.style["visibility"] == "visible"
        for box in page._page_box.descendants()
    )


def table_look(page: "Page", table_id: str) -> TableLook:
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
        header=_header_look(header),
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


def _header_look(row: Any) -> RowLook:
    """The header row's look; a header cell whose text WeasyPrint fitted is never clipped
    (ReportLab's widths, without kerning, come out a little wider than Pango's)."""
    from weasyprint.formatting_structure.boxes import TextBox

    look = _row_look(row)
    cells = []
    for box, cell in zip(row.children, look.cells, strict=True):
        width = sum(text.width for text in box.descendants() if isinstance(text, TextBox))
        cells.append(replace(cell, clip=cell.clip and width > box.width))
    return replace(look, cells=cells)


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


def margin_texts(html: str, stamp_css: str) -> list[MarginText]:
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
