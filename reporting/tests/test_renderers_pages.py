"""The HTML and PDF outputs, read back as a person would: PDF text with pdftotext, HTML text."""

import base64
import http.server
import io
import itertools
import multiprocessing
import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from reporting.renderers.charts import chart_svg
from reporting.renderers.fetcher import StaticOnlyURLFetcher
from reporting.renderers.html import HtmlRenderer
from reporting.renderers.layout import STATIC_ROOT
from reporting.renderers.pdf import PdfRenderer, RowSlicer
from reporting.tables import Branding, Chart, Column, ReportDocument, SpooledTable, spool_rows

SALES_COLUMNS = [
    Column("invoice", "integer"),
    Column("customer"),
    Column("day", "date"),
    Column("amount", "number"),
    Column("paid", "boolean"),
    Column("region"),
    Column("booked_at", "datetime"),
]
# The tests of chunked WeasyPrint rendering keep long tables in HTML (test_pdf_fast_tables.py
# tests the ReportLab path), as a layout that draws its own tables does.
HTML_ONLY = 10**9


class CountingTable(SpooledTable):
    """A spooled table that counts the rows read from it."""

    rows_read = 0

    def rows(self, *, batch_size: int = 1000) -> Iterator[list[Any]]:
        for row in super().rows(batch_size=batch_size):
            self.rows_read += 1
            yield row


def sales_rows(count: int) -> list[list[Any]]:
    booked = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    return [
        [
            1000 + number,
            f"Customer {number:05d}",
            date(2025, 3, number % 28 + 1),
            number * 1.25,
            number % 2 == 0,
            ("North", "South", "East")[number % 3],
            booked + timedelta(minutes=number),
        ]
        for number in range(count)
    ]


def spooled(folder: Path, name: str, columns: list[Column], rows: list[list[Any]]) -> SpooledTable:
    path = folder / f"{name}.csv"
    count = spool_rows(path, [rows])
    return CountingTable(name=name, title=name.title(), columns=columns, path=path, row_count=count)


def report(tables: list[SpooledTable], **changes: Any) -> ReportDocument:
    values: dict[str, Any] = {
        "title": "Monthly Billing Summary",
        "slug": "monthly-billing-summary",
        "description": "Invoices booked in the month.",
        "branding": Branding(
            name="Northwind Makerspace", colour="#7a1f5c", footer_text="Internal use only"
        ),
        "parameters": {"month": "03", "year": 2025},
        "generated_at": datetime(2025, 3, 31, 22, 30, tzinfo=UTC),
        "time_zone": ZoneInfo("Europe/Helsinki"),
        "tables": tables,
    }
    return ReportDocument(**{**values, **changes})


def render_pdf(document: ReportDocument, renderer: PdfRenderer | None = None) -> bytes:
    out = io.BytesIO()
    (renderer or PdfRenderer()).render(document, out)
    return out.getvalue()


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page, laid out as printed."""
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode("utf-8")
    return text.split("\f")[:-1]


def render_html(document: ReportDocument) -> str:
    out = io.BytesIO()
    HtmlRenderer().render(document, out)
    return out.getvalue().decode("utf-8")


@pytest.fixture
def sales(tmp_path: Path) -> SpooledTable:
    return spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(30))


# --- PDF: what the reader sees -------------------------------------------------------------


def test_pdf_shows_title_branding_parameters_time_header_and_cells(sales: SpooledTable) -> None:
    pages = pdf_pages(render_pdf(report([sales])))
    first = pages[0]

    assert "Monthly Billing Summary" in first
    assert "Northwind Makerspace" in first
    assert "Invoices booked in the month." in first
    assert re.search(r"month\s+03", first)
    assert re.search(r"year\s+2025", first)
    # 22:30 UTC on 31 March is 01:30 on 1 April in Helsinki (UTC+3 in summer time).
    assert "Generated 2025-04-01 01:30 (Europe/Helsinki)" in first
    assert re.search(r"invoice\s+customer\s+day\s+amount\s+paid\s+region\s+booked_at", first)
    # Datetimes are shown in the report's time zone too (08:00 UTC is 10:00 in Helsinki).
    assert re.search(
        r"1000\s+Customer 00000\s+2025-03-01\s+0\s+Yes\s+North\s+2025-03-01 10:00", first
    )
    assert re.search(r"1029\s+Customer 00029\s+2025-03-02\s+36.25\s+No\s+East", first)
    assert "Internal use only" in first
    assert f"Page 1 of {len(pages)}" in first


def test_pdf_long_table_numbers_every_page_and_keeps_every_row_once(long_pdf: bytes) -> None:
    pages = pdf_pages(long_pdf)
    assert len(pages) >= 8

    for number, text in enumerate(pages, start=1):
        assert re.search(rf"Page {number} of {len(pages)}\s*$", text), text[-300:]
    text = "\n".join(pages)
    invoices = [int(found) for found in re.findall(r"^\s*(\d{4})\s+Customer", text, re.M)]
    assert invoices == list(range(1000, 1000 + LONG_ROWS))


def test_pdf_long_table_repeats_its_header_and_fills_each_page(long_pdf: bytes) -> None:
    pages = pdf_pages(long_pdf)
    rows_per_page = [len(re.findall(r"^\s*\d{4}\s+Customer", text, re.M)) for text in pages]

    header = re.compile(r"invoice\s+customer\s+day\s+amount")
    assert all(header.search(text) for text in pages)
    # Chunks are cut at page ends: no page but the last is shorter than a full one.
    full = rows_per_page[1]
    assert rows_per_page[1:-1] == [full] * (len(pages) - 2), rows_per_page
    assert 0 < rows_per_page[-1] <= full


LONG_ROWS = 900


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A table long enough for a measured first chunk and several page-aligned ones after it,
    rendered on two worker processes."""
    folder = tmp_path_factory.mktemp("long")
    table = spooled(folder, "sales", SALES_COLUMNS, sales_rows(LONG_ROWS))
    return render_pdf(report([table]), PdfRenderer(chunk_rows=240, workers=2, fast_rows=HTML_ONLY))


def test_pdf_of_two_long_tables_keeps_every_row_once_and_in_order(tmp_path: Path) -> None:
    first = spooled(tmp_path, "north", SALES_COLUMNS, sales_rows(450))
    second = spooled(tmp_path, "south", SALES_COLUMNS, sales_rows(450)[::-1])

    renderer = PdfRenderer(chunk_rows=150, fast_rows=HTML_ONLY)
    pages = pdf_pages(render_pdf(report([first, second]), renderer))

    text = "\n".join(pages)
    invoices = [int(found) for found in re.findall(r"^\s*(\d{4})\s+Customer", text, re.M)]
    assert invoices == list(range(1000, 1450)) + list(range(1449, 999, -1))
    assert re.findall(r"^(North|South)$", text, re.M) == ["North", "South"]
    assert all(re.search(rf"Page {n} of {len(pages)}\s*$", page) for n, page in enumerate(pages, 1))


def render_in_child(document: ReportDocument) -> bytes:
    return render_pdf(document, PdfRenderer(chunk_rows=200, workers=2, fast_rows=HTML_ONLY))


def test_pdf_renders_on_its_workers_inside_a_celery_prefork_worker(tmp_path: Path) -> None:
    # Celery's prefork workers are daemonic processes, like a multiprocessing pool's, and
    # multiprocessing will not start children from those.
    table = spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(500))

    with multiprocessing.get_context("fork").Pool(1) as celery_like_pool:
        pdf = celery_like_pool.apply(render_in_child, (report([table]),))

    pages = pdf_pages(pdf)
    assert re.search(rf"Page {len(pages)} of {len(pages)}\s*$", pages[-1])
    assert "Customer 00499" in pages[-1]


def test_pdf_says_when_a_table_was_cut_and_reads_no_further(tmp_path: Path) -> None:
    table = spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(80))

    text = "\n".join(pdf_pages(render_pdf(report([table], pdf_max_rows=50))))

    assert "Showing the first 50 of 80 rows; the CSV and XLSX outputs hold every row." in text
    assert "Customer 00049" in text
    assert "Customer 00050" not in text
    assert table.rows_read == 50


def test_pdf_of_a_whole_table_has_no_cut_notice(sales: SpooledTable) -> None:
    text = "\n".join(pdf_pages(render_pdf(report([sales], pdf_max_rows=30))))

    assert "Showing the first" not in text
    assert "Customer 00029" in text


def test_pdf_renders_a_layout_given_as_text_with_times_in_the_report_zone(
    sales: SpooledTable,
) -> None:
    layout = (
        "<html><body><p>{{ title }} for {{ branding.name }}</p>"
        '<p>At {{ generated_at|date:"Y-m-d H:i" }}</p>'
        "{% for table in tables %}<p>{{ table.title }}: {{ table.row_count }} rows</p>"
        "{% endfor %}</body></html>"
    )

    text = pdf_pages(render_pdf(report([sales], layout=layout)))[0]

    assert "Monthly Billing Summary for Northwind Makerspace" in text
    assert "At 2025-04-01 01:30" in text
    assert "Sales: 30 rows" in text


# --- PDF: what it may fetch ----------------------------------------------------------------


class CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        CountingHandler.requests.append(self.path)
        body = b'body::before { content: "FETCHED FROM THE NETWORK"; }'
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pdf_fetches_nothing_over_http(sales: SpooledTable, http_server: str) -> None:
    layout = (
        f'<html><head><link rel="stylesheet" href="{http_server}/style.css"></head>'
        f'<body><h1>{{{{ title }}}}</h1><img src="{http_server}/logo.png">'
        f"<p style=\"background: url('{http_server}/bg.png')\">Body text</p></body></html>"
    )

    text = "\n".join(pdf_pages(render_pdf(report([sales], layout=layout))))

    assert CountingHandler.requests == []
    assert "Monthly Billing Summary" in text
    assert "FETCHED FROM THE NETWORK" not in text


def test_pdf_reads_no_file_outside_static(sales: SpooledTable, tmp_path: Path) -> None:
    outside = tmp_path / "outside.css"
    outside.write_text('body::before { content: "READ FROM DISK"; }')
    layout = (
        f'<html><head><link rel="stylesheet" href="{outside.as_uri()}">'
        '<link rel="stylesheet" href="../config/settings.py"></head>'
        '<body><h1>{{ title }}</h1><img src="file:///etc/passwd"></body></html>'
    )

    pdf = render_pdf(report([sales], layout=layout))

    text = "\n".join(pdf_pages(pdf))
    assert "Monthly Billing Summary" in text
    assert "READ FROM DISK" not in text


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        (STATIC_ROOT / ".." / "config" / "settings.py").as_uri(),
        "http://127.0.0.1:9/style.css",
        "https://example.com/logo.png",
        "ftp://example.com/logo.png",
    ],
)
def test_url_fetcher_refuses_anything_but_data_and_static_files(url: str) -> None:
    with pytest.raises(ValueError, match=r"Reports may not fetch|Only files under static/"):
        StaticOnlyURLFetcher().fetch(url)


def test_url_fetcher_allows_data_uris_and_static_files() -> None:
    fetcher = StaticOnlyURLFetcher()

    assert fetcher.fetch("data:text/plain;base64,aGVsbG8=").read() == b"hello"
    stylesheet = fetcher.fetch((STATIC_ROOT / "reports" / "report.css").as_uri())
    assert b"table-layout: fixed" in stylesheet.read()
    stylesheet.close()


def test_pdf_shows_a_data_uri_logo_and_leaves_out_a_forbidden_one(sales: SpooledTable) -> None:
    png = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(png, "PNG")  # a size to find again with pdfimages
    data_logo = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    with_logo = report([sales], branding=Branding(name="Northwind Makerspace", logo=data_logo))
    forbidden = report([sales], branding=Branding(name="Northwind Makerspace", logo="/etc/hosts"))

    assert pdf_images(render_pdf(with_logo)) == [(3, 2)]
    assert pdf_images(render_pdf(forbidden)) == []


def pdf_images(pdf: bytes) -> list[tuple[int, int]]:
    listing = subprocess.run(
        ["pdfimages", "-list", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return [(int(line.split()[3]), int(line.split()[4])) for line in listing.splitlines()[2:]]


# --- HTML --------------------------------------------------------------------------------


def test_html_is_a_standalone_page_with_rows_cut_notice_and_charts(tmp_path: Path) -> None:
    table = spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(80))
    charts = [
        Chart(table="sales", type="bar", x="region", y=["amount"], title="Amount by region"),
        Chart(table="sales", type="pie", x="region", y=["amount"], title="Share by region"),
    ]

    page = render_html(report([table], charts=charts, pdf_max_rows=50))

    assert HtmlRenderer().media(report([table])) == ("text/html; charset=utf-8", "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<link" not in page
    assert "table-layout: fixed" in page  # the stylesheet is inline
    assert "<td>Customer 00049</td>" in page
    assert "Customer 00050" not in page
    assert "Showing the first 50 of 80 rows; the CSV and XLSX outputs hold every row." in page
    assert page.count("<svg") == 2
    assert "Amount by region" in page
    assert "#7a1f5c" in page  # the organisation's colour


def test_html_keeps_its_own_lower_row_cap_and_says_so(tmp_path: Path) -> None:
    table = spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(80))

    page = render_html(report([table], pdf_max_rows=70, html_max_rows=30))

    assert "<td>Customer 00029</td>" in page
    assert "Customer 00030" not in page
    assert "Showing the first 30 of 80 rows; the CSV and XLSX outputs hold every row." in page


def test_html_escapes_data_and_refuses_a_colour_that_is_not_one(tmp_path: Path) -> None:
    table = spooled(tmp_path, "notes", [Column("note")], [["<script>alert(1)</script>"]])
    branding = Branding(name="A & B <Ltd>", colour="red; } h1 { color: lime")

    page = render_html(report([table], branding=branding))

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &amp; B &lt;Ltd&gt;" in page
    assert "lime" not in page
    assert "--brand: #1f4e79;" in page


def test_a_chart_naming_a_missing_column_is_refused(sales: SpooledTable) -> None:
    chart = Chart(table="sales", type="bar", x="region", y=["profit"], title="Profit")

    with pytest.raises(ValueError, match="'profit'"):
        render_html(report([sales], charts=[chart]))


# --- Charts ------------------------------------------------------------------------------


def svg_titles(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    return [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}title")]


def svg_texts(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    return [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text")]


CHART_LABELS = ["North", "South", "East"]
CHART_SERIES = {"revenue": [120.0, 80.5, None], "cost": [100, 60, 30]}


def test_bar_chart_draws_a_bar_per_value_with_its_label_and_value() -> None:
    chart = Chart(table="t", type="bar", x="region", y=["revenue", "cost"], title="By region")

    svg = chart_svg(chart, labels=CHART_LABELS, series=CHART_SERIES, first_colour="#123456")

    titles = svg_titles(svg)
    assert titles[0] == "By region"
    assert titles[1:] == [
        "North · revenue: 120",
        "South · revenue: 80.5",
        "North · cost: 100",
        "South · cost: 60",
        "East · cost: 30",
    ]
    assert {"North", "South", "East", "revenue", "cost"} <= set(svg_texts(svg))
    assert 'fill="#123456"' in svg


def test_line_chart_draws_a_line_per_series_through_its_values() -> None:
    chart = Chart(table="t", type="line", x="region", y=["revenue", "cost"], title="Trend")

    svg = chart_svg(chart, labels=CHART_LABELS, series=CHART_SERIES, first_colour="#123456")

    assert svg.count("<polyline") == 2
    assert "East · cost: 30" in svg_titles(svg)
    assert "South · revenue: 80.5" in svg_titles(svg)
    assert {"North", "South", "East"} <= set(svg_texts(svg))


def test_pie_chart_sums_the_first_series_by_label_with_shares() -> None:
    chart = Chart(table="t", type="pie", x="region", y=["revenue"], title="Share")
    labels = ["North", "South", "North", "West"]

    svg = chart_svg(
        chart, labels=labels, series={"revenue": [30, 20, 30, -5]}, first_colour="#123456"
    )

    assert svg_titles(svg)[1:] == ["North: 60 (75.0%)", "South: 20 (25.0%)"]
    assert "North: 60 (75.0%)" in svg_texts(svg)


def test_chart_of_an_unknown_type_is_refused() -> None:
    chart = Chart(table="t", type="radar", x="region", y=["revenue"])

    with pytest.raises(ValueError, match="unknown type 'radar'"):
        chart_svg(chart, labels=CHART_LABELS, series=CHART_SERIES, first_colour="#123456")


def test_pdf_draws_the_charts(sales: SpooledTable) -> None:
    charts = [Chart(table="sales", type="pie", x="region", y=["amount"], title="Amount by region")]

    text = pdf_pages(render_pdf(report([sales], charts=charts)))[0]

    assert "Amount by region" in text
    # Invoices 2, 5, … 29 are East's: (2 + 5 + … + 29) * 1.25 = 193.75 of 543.75 in all.
    assert "East: 193.75 (35.6%)" in text


# --- Cutting a layout into chunks ----------------------------------------------------------


def test_slices_hold_every_row_and_element_once_and_repeat_table_headers() -> None:
    rows_a = "".join(f"<tr><td>a{number}</td></tr>" for number in range(5))
    rows_b = "".join(f"<tr><td>b{number}</td></tr>" for number in range(4))
    html = (
        "<html><head><style>p { color: red }</style></head><body><h1>Title</h1>"
        f"<section><h2>A</h2><table><thead><tr><th>HA</th></tr></thead><tbody>{rows_a}"
        "</tbody></table><p>After A</p></section>tail text"
        f"<section><h2>B</h2><table><thead><tr><th>HB</th></tr></thead><tbody>{rows_b}"
        "</tbody></table></section><footer>End</footer></body></html>"
    )
    slicer = RowSlicer(html)
    cuts = [0, 3, 6, 7, 9]

    slices = [slicer.html(start, stop) for start, stop in itertools.pairwise(cuts)]

    assert slicer.bodies == [(0, 5), (5, 9)]
    bodies = [re.search(r"<body>(.*)</body>", part, re.S).group(1) for part in slices]
    texts = [re.sub(r"<[^>]+>", " ", body).split() for body in bodies]
    assert [word for text in texts for word in text if word not in ("HA", "HB")] == [
        *["Title", "A", "a0", "a1", "a2"],
        *["a3", "a4", "After", "A", "tail", "text", "B", "b0"],
        *["b1"],
        *["b2", "b3", "End"],
    ]
    assert [len(text) for text in texts] == [6, 10, 2, 4]
    assert all("<style>" in part for part in slices)
    assert ["HA" in text for text in texts] == [True, True, False, False]
    assert ["HB" in text for text in texts] == [False, True, True, True]
    assert all(part.count("break-after: page") == (index > 0) for index, part in enumerate(slices))


def test_slices_are_cut_only_between_two_rows_of_one_table() -> None:
    rows = "".join(f"<tr><td>{number}</td></tr>" for number in range(3))
    slicer = RowSlicer(f"<table><tbody>{rows}</tbody></table><table><tbody>{rows}</tbody></table>")

    assert "<td>1</td>" in slicer.html(1, 4)
    with pytest.raises(ValueError, match="Row 3 does not fall between two rows of one table"):
        slicer.html(0, 3)
