"""The fast path's document: cut at each long table, its parts rendered, drawn and joined."""

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.etree.ElementTree import Element, tostring

import tinyhtml5

from reporting.renderers.pdf_fast.drawing import draw
from reporting.renderers.pdf_fast.looks import (
    DRAWN_APART,
    FastPathRefused,
    TableLook,
    margin_texts,
    render_last_part,
    render_part_before,
)
from reporting.tables import ReportDocument, SpooledTable


@dataclass
class Part:
    """A run of pages: a WeasyPrint file, or a table ReportLab draws, its first page drawn over
    the last page of the part before it (so `pages` counts the pages after that one)."""

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
    parts: list[Part] = field(default_factory=list)

    def html(self, body: Element) -> str:
        root = Element("html", self.attributes)
        root.extend([self.head, body])
        return "<!DOCTYPE html>\n" + tostring(root, encoding="unicode", method="html")


def render_fast(
    document: ReportDocument, html: str, shown: dict[str, int], folder: Path, out: BinaryIO
) -> None:
    """The PDF of `html` (the layout rendered with the tables of `shown`, by name, drawn apart)
    with those tables' rows drawn by ReportLab. Raises FastPathRefused when it cannot."""
    from reporting.renderers.pdf import STAMP_ONLY

    drawn = folder / "drawn.pdf"
    parsed = _parse(html)
    targets = _targets(parsed.body, document, shown)
    margins = margin_texts(parsed.html(Element("body")), STAMP_ONLY)
    rest = parsed.body
    for number, (target, table) in enumerate(targets):
        before, rest = _before(rest, target), _after(rest, target)
        path = folder / f"part-{number:03d}.pdf"
        pages, look = render_part_before(parsed.html(before), path, target.get("id", ""))
        parsed.parts.append(Part(path=path, pages=pages))
        count = shown[table.name]
        # The table's first page is the last page of the part before it.
        pages = look.page_count(count) - 1
        parsed.parts.append(Part(path=drawn, pages=pages, table=table, look=look, shown=count))
    path = folder / "part-end.pdf"
    if pages := render_last_part(parsed.html(rest), path):
        parsed.parts.append(Part(path=path, pages=pages))
    page_count = _number_pages(parsed.parts)
    draw(drawn, parsed.parts, document, margins, page_count)
    _join(parsed.parts, drawn, document, out)


def _targets(
    body: Element, document: ReportDocument, shown: dict[str, int]
) -> list[tuple[Element, SpooledTable]]:
    """The <table> elements of the tables to draw apart, in document order, with their tables."""
    by_id = {f"table-{number}": table for number, table in enumerate(document.tables, start=1)}
    targets = [
        (element, by_id[element.get("id", "")])
        for element in body.iter("table")
        if DRAWN_APART in element.get("class", "").split()
        and element.get("id", "") in by_id
        and by_id[element.get("id", "")].name in shown
    ]
    if not targets:
        raise FastPathRefused("The layout draws no long table with the default table part.")
    return targets


def _number_pages(parts: list[Part]) -> int:
    page = 1
    for part in parts:
        part.first_page = page - 1 if part.table is not None else page
        page += part.pages
    return page - 1


def _join(parts: list[Part], drawn: Path, document: ReportDocument, out: BinaryIO) -> None:
    """The parts joined: each WeasyPrint page gets its page of
    margin boxes from the ReportLab file `drawn`; a table's pages come from that file, its first
    drawn over the page before it."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    reader = PdfReader(drawn)
    for part in parts:
        start = len(writer.pages)
        if part.table is None:
            writer.append(part.path)
            for offset, page in enumerate(writer.pages[start:]):
                page.merge_page(reader.pages[part.drawn_from + offset])
                page.compress_content_streams()
            continue
        writer.pages[-1].merge_page(reader.pages[part.drawn_from])
        writer.pages[-1].compress_content_streams()
        if part.pages:
            writer.append(reader, pages=(part.drawn_from + 1, part.drawn_from + 1 + part.pages))
    writer.add_metadata(
        {"/Title": document.title, "/Author": document.branding.name, "/Creator": "Reporting Hub"}
    )
    writer.write(out)


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
