"""PDF with WeasyPrint, rendered in page-aligned chunks on a small process pool.

Why chunks: WeasyPrint holds every laid-out page of a document until it writes the file, and
its time grows faster than the page count (one render of a 10,000-row table, ~230 pages:
about 60 s and 1.5 GB). The layout is rendered once to HTML, cut into documents of a few
hundred table rows each (`RowSlicer`), and those are rendered by `workers` processes, each
holding one chunk's pages at a time; pypdf joins the files.

Why page-aligned: a chunk starts on a new page, so a chunk that ended half-way down a page
would leave a gap. The first chunk of each long table is measured (its rows carry anchors,
so each page's first row is known), its last, partial page is dropped and becomes the start
of the next chunk, and the rest of the table is cut into whole pages of the row count
measured there. Rows are one line high (nowrap cells, fixed table layout), so the cuts fall
on page ends; when a layout's rows differ in height the result is a short page, never a
lost or repeated row.

Why a stamp for "Page N of M": counter(page) and counter(pages) in a chunk count that
chunk's pages only, and M is known only when every chunk is laid out. Offsetting counters
per chunk would mean laying every chunk out twice (once to count); instead chunks are drawn
without page margin boxes, and one cheap document of M empty pages with only the layout's
margin boxes (footer text, page numbers) is drawn over them page by page. Margin boxes that
take content from the body (running elements, string-set) are not supported for that reason.
"""

import gc
import logging
import os
import pickle
import queue
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.etree.ElementTree import Element, tostring

import tinyhtml5
from pypdf import PdfReader, PdfWriter

from reporting.renderers import register
from reporting.renderers.layout import STATIC_ROOT, render_layout
from reporting.renderers.pdf_fast import FastPathRefused, render_fast
from reporting.tables import ReportDocument

if TYPE_CHECKING:
    from weasyprint.document import Page

logger = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Tables of this many shown rows or more are drawn by ReportLab (pdf_fast/). Measured with
# bench/pdf.py --threshold (README "Long PDF tables"): from 100 rows the fast path is faster.
FAST_ROWS = 100
CHUNK_ROWS = 400  # ~9 pages: a worker stays near 125 MB
WORKERS = 2
ROW_ANCHOR = "rh-row-"  # ids given to rows of a measured chunk; never in the output
ROW_PLACEHOLDER = "data-row-slicer-row"
PLACED_ROW = re.compile(f'<tr {ROW_PLACEHOLDER}="(\\d+)"></tr>')
REPEATED_TABLE_PARTS = {"thead", "tfoot", "colgroup"}
MARGIN_BOXES = [
    f"{side}-{place}"
    for side, places in {
        "top": ("left-corner", "left", "center", "right", "right-corner"),
        "bottom": ("left-corner", "left", "center", "right", "right-corner"),
        "left": ("top", "middle", "bottom"),
        "right": ("top", "middle", "bottom"),
    }.items()
    for place in places
]
# User-origin !important declarations win over anything a layout's stylesheet says.
NO_MARGIN_BOXES = (
    "@page { " + " ".join(f"@{box} {{ content: none !important }}" for box in MARGIN_BOXES) + " }"
)
STAMP_ONLY = "@page { background: none !important } html, body { background: none !important }"
PAGE_BREAK = "break-after: page"


class PdfRenderer:
    format = "pdf"

    def __init__(
        self, *, chunk_rows: int = CHUNK_ROWS, workers: int = WORKERS, fast_rows: int = FAST_ROWS
    ) -> None:
        self.chunk_rows = chunk_rows
        self.workers = workers
        self.fast_rows = fast_rows

    def media(self, document: ReportDocument) -> tuple[str, str]:
        return "application/pdf", "pdf"

    def render(self, document: ReportDocument, out: BinaryIO) -> None:
        limit = document.pdf_max_rows
        shown = {table.name: min(table.row_count, limit) for table in document.tables}
        fast = {name: rows for name, rows in shown.items() if rows >= self.fast_rows}
        if fast:
            html = render_layout(document, drawn_apart=fast)
            with TemporaryDirectory(prefix="report-pdf-") as folder:
                try:
                    render_fast(document, html, fast, Path(folder), out)
                    return
                except FastPathRefused as refusal:
                    logger.info("PDF of %r drawn by WeasyPrint alone: %s", document.slug, refusal)
        self._render_html(document, out)

    def _render_html(self, document: ReportDocument, out: BinaryIO) -> None:
        with TemporaryDirectory(prefix="report-pdf-") as folder, self._executor(document) as pool:
            # The workers start while the layout is rendered and parsed here.
            parts = _Parts(RowSlicer(render_layout(document)), pool, Path(folder))
            position = 0
            for first, stop in parts.slicer.bodies:
                if stop - position >= 2 * self.chunk_rows:
                    position = self._cut_table(parts, position, first, stop)
            parts.add(position, parts.slicer.row_count)
            page_count = sum(rendered.pages for rendered in parts.results())
            _join(parts.paths, parts.stamp(page_count), document, out)

    def _cut_table(self, parts: "_Parts", position: int, first: int, stop: int) -> int:
        """Queues chunks from `position` into the table of rows [first, stop); returns where
        the rest begins. The first chunk is measured before the others are cut."""
        lead_stop = min(first + self.chunk_rows // 2, stop - 1)
        lead = parts.add(position, lead_stop, measure_from=first).result()
        position = lead_stop if lead.next_row is None else lead.next_row
        step = self.chunk_rows
        if lead.rows_per_page:
            step = lead.rows_per_page * max(1, round(self.chunk_rows / lead.rows_per_page))
        while position + step < stop:
            parts.add(position, position + step)
            position += step
        return position

    @contextmanager
    def _executor(self, document: ReportDocument) -> Iterator[Executor]:
        shown = sum(min(table.row_count, document.pdf_max_rows) for table in document.tables)
        if shown < 2 * self.chunk_rows or self.workers < 2:
            yield _InlineExecutor()
            return
        pool = _WorkerPool(self.workers)
        try:
            yield pool
        finally:
            pool.shutdown()


class _WorkerPool(Executor):
    """`size` Python processes that run calls sent to them over a pipe (see `worker_main`).

    Plain subprocesses, not multiprocessing: a Celery prefork worker is a daemonic process,
    and multiprocessing refuses to start children from one. They start at once, so they
    import WeasyPrint while the layout is rendered, and end with the report, giving their
    memory back.
    """

    def __init__(self, size: int) -> None:
        command = [
            sys.executable,
            "-c",
            "from reporting.renderers.pdf import worker_main; worker_main()",
        ]
        self.processes = [
            subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=PROJECT_ROOT
            )
            for _ in range(size)
        ]
        self.idle: queue.SimpleQueue[subprocess.Popen] = queue.SimpleQueue()
        for process in self.processes:
            self.idle.put(process)
        self.threads = ThreadPoolExecutor(size, thread_name_prefix="pdf-worker")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self.threads.submit(self._call, fn, args, kwargs)

    def _call(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        process = self.idle.get()
        try:
            pickle.dump((fn, args, kwargs), process.stdin)
            process.stdin.flush()
            failed, answer = pickle.load(process.stdout)
        except (EOFError, OSError) as error:
            raise RuntimeError(f"A PDF worker stopped (exit status {process.poll()}).") from error
        finally:
            self.idle.put(process)
        if failed:
            raise RuntimeError(f"Rendering a part of the PDF failed: {answer}")
        return answer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # Called when every part is done, or after a failure: either way nothing is left to
        # wait for, and a worker still busy with a part nobody needs is stopped.
        self.threads.shutdown(wait=False, cancel_futures=True)
        for process in self.processes:
            process.kill()
            process.wait()
            process.stdin.close()
            process.stdout.close()
        self.threads.shutdown(wait=True)


def worker_main() -> None:
    """A process of _WorkerPool: runs each call read from stdin, answers on stdout."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what anything prints goes to stderr, not into the answers
    # WeasyPrint makes millions of short-lived objects and few reference cycles: the cycle
    # collector, run as usual, takes a quarter of a chunk's time. A worker runs it once after
    # each chunk instead (see _render_job), over that chunk's objects only.
    gc.freeze()
    gc.disable()
    while True:
        try:
            fn, args, kwargs = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        try:
            answer = (False, fn(*args, **kwargs))
        except Exception as error:
            answer = (True, f"{type(error).__name__}: {error}")
        pickle.dump(answer, answers)
        answers.flush()


@dataclass(frozen=True)
class _Job:
    html: str
    path: Path
    lead_page: bool  # the first page is a throwaway, so a chunk's first page is not :first
    measure_from: int | None  # first row of the table the chunk ends in, to trim its last page
    stamp: bool = False


@dataclass(frozen=True)
class _Rendered:
    pages: int
    next_row: int | None = None  # first row of the dropped last page of a measured chunk
    rows_per_page: int | None = None  # rows on the last kept page of a measured chunk


class _Parts:
    """The chunks of one report in document order, as they are queued on the pool."""

    def __init__(self, slicer: "RowSlicer", pool: Executor, folder: Path) -> None:
        self.slicer = slicer
        self.pool = pool
        self.folder = folder
        self.paths: list[Path] = []
        self.futures: list[Future] = []

    def add(self, start: int, stop: int, *, measure_from: int | None = None) -> Future:
        path = self.folder / f"part-{len(self.paths):04d}.pdf"
        html = self.slicer.html(start, stop, row_anchors=measure_from is not None)
        job = _Job(html=html, path=path, lead_page=start > 0, measure_from=measure_from)
        future = self.pool.submit(_render_job, job)
        self.paths.append(path)
        self.futures.append(future)
        return future

    def results(self) -> list[_Rendered]:
        return [future.result() for future in self.futures]

    def stamp(self, page_count: int) -> Path:
        path = self.folder / "stamp.pdf"
        html = self.slicer.stamp_html(page_count)
        job = _Job(html=html, path=path, lead_page=False, measure_from=None, stamp=True)
        self.pool.submit(_render_job, job).result()
        return path


class _InlineExecutor(Executor):
    """Runs jobs as they are submitted, for reports with nothing to share between workers."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


def _render_job(job: _Job) -> _Rendered:
    from weasyprint import CSS, HTML  # here: only a process that renders needs it

    from reporting.renderers.fetcher import StaticOnlyURLFetcher

    """In a worker: lay one chunk (or the stamp) out and write its PDF to `job.path`."""
    html = HTML(
        string=job.html, base_url=STATIC_ROOT.as_uri() + "/", url_fetcher=StaticOnlyURLFetcher()
    )
    document = html.render(stylesheets=[CSS(string=STAMP_ONLY if job.stamp else NO_MARGIN_BOXES)])
    pages = document.pages[1:] if job.lead_page else document.pages
    rendered = _Rendered(pages=len(pages))
    if job.measure_from is not None:
        pages, rendered = _trim(pages, job.measure_from)
    document.copy(pages).write_pdf(job.path)
    if not gc.isenabled():
        del document, pages
        gc.collect()
    return rendered


def _trim(pages: "list[Page]", table_first_row: int) -> "tuple[list[Page], _Rendered]":
    """Drops the last page when the table runs on from an earlier page: the rows on it start
    the next chunk, which fills a whole page with them and what follows."""
    first_rows = [_first_row(page) for page in pages]
    for page in pages:
        for name in [name for name in page.anchors if name.startswith(ROW_ANCHOR)]:
            del page.anchors[name]
    last = first_rows[-1]
    if last is None or last <= table_first_row or len(pages) < 2:
        return pages, _Rendered(pages=len(pages))
    before = first_rows[-2]
    rows_per_page = last - before if before is not None and before > table_first_row else None
    return pages[:-1], _Rendered(len(pages) - 1, next_row=last, rows_per_page=rows_per_page)


def _first_row(page: "Page") -> int | None:
    rows = [
        int(name.removeprefix(ROW_ANCHOR)) for name in page.anchors if name.startswith(ROW_ANCHOR)
    ]
    return min(rows, default=None)


def _join(paths: list[Path], stamp: Path, document: ReportDocument, out: BinaryIO) -> None:
    writer = PdfWriter()
    for path in paths:
        writer.append(path)
    for page, stamp_page in zip(writer.pages, PdfReader(stamp).pages, strict=True):
        page.merge_page(stamp_page)
        page.compress_content_streams()  # merging leaves the page's content uncompressed
    writer.add_metadata(
        {"/Title": document.title, "/Author": document.branding.name, "/Creator": "Reporting Hub"}
    )
    writer.write(out)


class RowSlicer:
    """The layout's HTML, cut into documents that each hold a run of table rows.

    The rows (<tr> of every <tbody>) are numbered in document order. A slice [start, stop)
    keeps <head> whole, the rows in its range, the elements that hold them (opened again in
    each slice; a table also repeats its <thead>, <tfoot> and <colgroup>), and every other
    element in exactly one slice: the one holding the first row after it (the last slice for
    what follows the last row). So a table's heading travels with its first rows.

    Slices are cut between two rows of one <tbody>: what lies between tables is then always
    whole in one slice.

    Each row is kept as its HTML text, with an empty placeholder in the tree: a parsed row
    weighs many times its text, and the tree lives as long as the report's chunks are cut.
    """

    def __init__(self, html: str) -> None:
        root = tinyhtml5.parse(html, namespace_html_elements=False)
        strip_namespaces(root)
        self.root_attributes = dict(root.attrib)
        self.head = root.find("head")
        self.body = root.find("body")
        self.spans: dict[Element, tuple[int, int]] = {}
        self.rows: list[str] = []
        self.bodies: list[tuple[int, int]] = []  # each <tbody>'s rows: [first, stop)
        self._number(self.body)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def _number(self, element: Element) -> None:
        first = self.row_count
        for index, child in enumerate(list(element)):
            if element.tag == "tbody" and child.tag == "tr":
                placeholder = Element("tr", {ROW_PLACEHOLDER: str(self.row_count)})
                self.spans[placeholder] = (self.row_count, self.row_count + 1)
                self.rows.append(tostring(child, encoding="unicode", method="html"))
                element[index] = placeholder
            else:
                self._number(child)
        if element.tag == "tbody" and self.row_count > first:
            self.bodies.append((first, self.row_count))
        self.spans[element] = (first, self.row_count)

    def html(self, start: int, stop: int, *, row_anchors: bool = False) -> str:
        for cut in {start, stop} - {0, self.row_count}:
            if not any(first < cut < last for first, last in self.bodies):
                raise ValueError(f"Row {cut} does not fall between two rows of one table.")
        body = self._slice(self.body, _Range(start, stop, self.row_count))
        if start > 0:
            body.insert(0, Element("div", {"style": PAGE_BREAK}))

        def place(found: re.Match) -> str:
            number = int(found[1])
            row = self.rows[number]  # "<tr…": an anchor's id goes right after "<tr"
            return f'<tr id="{ROW_ANCHOR}{number}"{row[3:]}' if row_anchors else row

        return PLACED_ROW.sub(place, self._document(body))

    def stamp_html(self, page_count: int) -> str:
        body = Element("body")
        for number in range(page_count):
            body.append(Element("div", {"style": PAGE_BREAK} if number < page_count - 1 else {}))
        return self._document(body)

    def _document(self, body: Element) -> str:
        root = Element("html", self.root_attributes)
        root.extend([self.head, body])
        return "<!DOCTYPE html>\n" + tostring(root, encoding="unicode", method="html")

    def _slice(self, element: Element, span: "_Range") -> Element | None:
        low, high = self.spans[element]
        if element.tag == "tr" and ROW_PLACEHOLDER in element.attrib:
            return element if span.holds(low) else None
        if low == high:
            return element if span.owns(low) else None
        if high <= span.start or low >= span.stop:
            return None
        part = Element(element.tag, element.attrib)
        part.text = element.text if span.owns(low) else None
        part.tail = element.tail if span.owns(high) else None
        for child in element:
            piece = child if _repeats(element, child) else self._slice(child, span)
            if piece is not None:
                part.append(piece)
        return part


def _repeats(parent: Element, child: Element) -> bool:
    return parent.tag == "table" and child.tag in REPEATED_TABLE_PARTS


@dataclass(frozen=True)
class _Range:
    start: int
    stop: int
    row_count: int

    def holds(self, row: int) -> bool:
        return self.start <= row < self.stop

    def owns(self, position: int) -> bool:
        """Content at `position` (before row `position`) belongs to the slice holding that row."""
        return self.holds(position) or position == self.stop == self.row_count


def strip_namespaces(root: Element) -> None:
    """Inline SVG parses into the SVG namespace; HTML serialisation wants plain names."""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
        for name in [name for name in element.attrib if name.startswith("{")]:
            namespace, local = name[1:].split("}", 1)
            prefix = "xlink:" if namespace.endswith("/xlink") else ""
            element.attrib[prefix + local] = element.attrib.pop(name)


register(PdfRenderer())
