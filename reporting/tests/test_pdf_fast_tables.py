"""Long PDF tables drawn by ReportLab (issue 14), read back as a person would: pdftotext for
the text of every page, page images for the look against the all-WeasyPrint rendering."""

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from reporting.renderers.pdf import PdfRenderer
from reporting.tables import Column
from reporting.tests.test_renderers_pages import (
    SALES_COLUMNS,
    pdf_pages,
    render_pdf,
    report,
    sales_rows,
    spooled,
)

LEDGER_ROWS = 30_000
LEDGER_COLUMNS = [*SALES_COLUMNS[:3], Column("amount", "number", scale=2), *SALES_COLUMNS[4:]]
ROW = re.compile(r"^\s*(\d{4,5})\s+Customer \d{5}\s+\S+\s+(\S+)", re.M)
HEADER = re.compile(r"invoice\s+customer\s+day\s+amount\s+paid\s+region\s+booked_at")
ALL_WEASYPRINT = PdfRenderer(fast_rows=10**9)


def ledger_rows(count: int) -> list[list]:
    rows = sales_rows(count)
    for row in rows:
        row[3] = round(row[0] * 1.37 % 1000, 2)  # 13.7 for invoice 10, 1000 + …: money
    return rows


@pytest.fixture(scope="module")
def ledger_pages(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("ledger")
    table = spooled(folder, "ledger", LEDGER_COLUMNS, ledger_rows(LEDGER_ROWS))
    return pdf_pages(render_pdf(report([table])))


def test_a_30000_row_table_keeps_every_row_once_and_in_order(ledger_pages: list[str]) -> None:
    invoices = [int(found[0]) for page in ledger_pages for found in ROW.findall(page)]

    assert invoices == list(range(1000, 1000 + LEDGER_ROWS))


def test_a_30000_row_table_repeats_its_header_and_numbers_every_page(
    ledger_pages: list[str],
) -> None:
    assert len(ledger_pages) > 400
    for number, text in enumerate(ledger_pages, start=1):
        assert HEADER.search(text), f"no header on page {number}"
        assert re.search(rf"Page {number} of {len(ledger_pages)}\s*$", text), text[-200:]
    assert "Monthly Billing Summary" in ledger_pages[0]
    assert "Internal use only" in ledger_pages[-1]  # the branding's footer text


def test_a_30000_row_table_prints_money_with_two_decimals(ledger_pages: list[str]) -> None:
    amounts = {
        int(invoice): amount for page in ledger_pages for invoice, amount in ROW.findall(page)
    }

    assert amounts[1010] == "383.70"  # 1010 * 1.37 = 1383.7, less 1000
    assert amounts[1000] == "370.00"
    assert all(re.fullmatch(r"\d+\.\d\d", amount) for amount in amounts.values())


def test_a_long_table_cut_at_the_row_limit_says_so_and_draws_no_further(tmp_path: Path) -> None:
    table = spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(500))

    text = "\n".join(pdf_pages(render_pdf(report([table], pdf_max_rows=300))))

    assert "Showing the first 300 of 500 rows; the CSV and XLSX outputs hold every row." in text
    assert [int(found[0]) for found in ROW.findall(text)] == list(range(1000, 1300))


def test_two_long_tables_and_the_text_between_them_keep_their_order(tmp_path: Path) -> None:
    first = spooled(tmp_path, "north", SALES_COLUMNS, sales_rows(450))
    second = spooled(tmp_path, "south", SALES_COLUMNS, sales_rows(450)[::-1])

    pages = pdf_pages(render_pdf(report([first, second])))

    text = "\n".join(pages)
    invoices = [int(found[0]) for found in ROW.findall(text)]
    assert invoices == list(range(1000, 1450)) + list(range(1449, 999, -1))
    assert re.findall(r"^(North|South)$", text, re.M) == ["North", "South"]
    assert all(re.search(rf"Page {n} of {len(pages)}\s*$", page) for n, page in enumerate(pages, 1))


def test_a_long_table_looks_as_weasyprint_draws_it(tmp_path: Path) -> None:
    table = spooled(tmp_path, "sales", SALES_COLUMNS, sales_rows(300))
    document = report([table])

    drawn = render_pdf(document)
    laid_out = render_pdf(document, ALL_WEASYPRINT)

    fast_pages, weasy_pages = pdf_pages(drawn), pdf_pages(laid_out)
    assert len(fast_pages) == len(weasy_pages)
    for fast, weasy in zip(fast_pages, weasy_pages, strict=True):
        assert fast.split() == weasy.split()
    fast_images = images_of(drawn, tmp_path / "fast")
    weasy_images = images_of(laid_out, tmp_path / "html")
    for number, (fast, weasy) in enumerate(zip(fast_images, weasy_images, strict=True), 1):
        difference = ImageChops.difference(fast.convert("L"), weasy.convert("L")).point(
            lambda grey: 255 if grey > 64 else 0
        )
        changed = sum(difference.histogram()[255:]) / (fast.width * fast.height)
        assert changed < 0.01, f"page {number}: {changed:.2%} of pixels differ"


def images_of(pdf: bytes, prefix: Path) -> list[Image.Image]:
    prefix.with_suffix(".pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-gray", "-png", str(prefix.with_suffix(".pdf")), str(prefix)],
        check=True,
    )
    return [Image.open(path) for path in sorted(prefix.parent.glob(f"{prefix.name}-*.png"))]
