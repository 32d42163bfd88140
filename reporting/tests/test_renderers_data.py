"""The data formats (CSV, JSON, XLSX) as a user opens them: bytes, parsed JSON, cells."""

import csv
import io
import json
import uuid
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from config.csv_formulas import cell_neutralize
from reporting.renderers import csv as csv_module
from reporting.renderers import get_renderer
from reporting.renderers import xlsx as xlsx_module
from reporting.renderers.csv import CsvRenderer
from reporting.renderers.json import JsonRenderer
from reporting.renderers.xlsx import XlsxRenderer
from reporting.tables import Branding, Chart, Column, ReportDocument, SpooledTable, spool_rows

BERLIN = ZoneInfo("Europe/Berlin")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ORDER_COLUMNS = [
    Column("id", "integer"),
    Column("customer", "string"),
    Column("amount", "number"),
    Column("day", "date"),
    Column("created_at", "datetime"),
    Column("paid", "boolean"),
    Column("meta", "json"),
]
ORDER_ROWS = [
    [1, "Ada, Ltd", 12.5, date(2025, 3, 1), datetime(2025, 3, 1, 9, tzinfo=UTC), True, {"a": 1}],
    [2, 'Say "hi"\nthere', None, None, None, False, None],
    # 23:30 UTC on 30 March is after the switch to summer time: 01:30 in Berlin the next day.
    [3, "", 0.0, date(2025, 3, 31), datetime(2025, 3, 30, 23, 30, tzinfo=UTC), None, [1, 2]],
]
ORDERS_CSV = (
    b"id,customer,amount,day,created_at,paid,meta\n"
    b'1,"Ada, Ltd",12.5,2025-03-01,2025-03-01 09:00:00+00:00,true,"{""a"": 1}"\n'
    b'2,"Say ""hi""\nthere",,,,false,\n'
    b'3,,0.0,2025-03-31,2025-03-30 23:30:00+00:00,,"[1, 2]"\n'
)


def make_table(
    directory: Path,
    name: str,
    columns: list[Column],
    rows: list[list[Any]],
    title: str = "",
) -> SpooledTable:
    path = directory / f"{uuid.uuid4().hex}.spool"
    count = spool_rows(path, [rows])
    return SpooledTable(name=name, title=title, columns=columns, path=path, row_count=count)


def orders(directory: Path, title: str = "Orders") -> SpooledTable:
    return make_table(directory, "orders", ORDER_COLUMNS, ORDER_ROWS, title)


def refunds(directory: Path) -> SpooledTable:
    columns = [Column("order_id", "integer"), Column("reason", "string")]
    return make_table(directory, "refunds", columns, [[2, "late, damaged"]], "Refunds")


def make_document(tables: list[SpooledTable], charts: list[Chart] | None = None) -> ReportDocument:
    return ReportDocument(
        title="Monthly billing summary",
        slug="monthly-billing-summary",
        description="Orders and refunds of the month.",
        branding=Branding(name="Acme Makerspace"),
        parameters={"month": "03", "year": 2025, "formula": "=1+1"},
        generated_at=datetime(2025, 3, 31, 22, 30, tzinfo=UTC),
        time_zone=BERLIN,
        tables=tables,
        charts=charts or [],
    )


def render(renderer: Any, document: ReportDocument) -> bytes:
    out = io.BytesIO()
    renderer.render(document, out)
    return out.getvalue()


def open_xlsx(document: ReportDocument) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(render(XlsxRenderer(), document)))


def sheet_values(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


# CSV


def test_one_table_is_a_csv_with_a_header_and_the_rows_quoted(tmp_path):
    document = make_document([orders(tmp_path)])

    assert CsvRenderer().media(document) == ("text/csv; charset=utf-8", "csv")
    assert render(CsvRenderer(), document) == ORDERS_CSV


def test_several_tables_are_a_zip_with_one_csv_each(tmp_path):
    document = make_document([orders(tmp_path), refunds(tmp_path)])

    assert CsvRenderer().media(document) == ("application/zip", "zip")
    with zipfile.ZipFile(io.BytesIO(render(CsvRenderer(), document))) as archive:
        assert archive.namelist() == ["orders.csv", "refunds.csv"]
        assert archive.read("orders.csv") == ORDERS_CSV
        assert archive.read("refunds.csv") == b'order_id,reason\n2,"late, damaged"\n'
        assert archive.getinfo("orders.csv").compress_type == zipfile.ZIP_DEFLATED


def test_zip_member_names_stay_inside_the_archive_folder(tmp_path):
    columns = [Column("id", "integer")]
    tables = [make_table(tmp_path, name, columns, [[1]]) for name in ("../sales", "a\\b")]

    with zipfile.ZipFile(io.BytesIO(render(CsvRenderer(), make_document(tables)))) as archive:
        assert archive.namelist() == [".._sales.csv", "a_b.csv"]


def test_csv_of_an_empty_table_is_its_header(tmp_path):
    table = make_table(tmp_path, "empty", [Column("id", "integer"), Column("name")], [])

    assert render(CsvRenderer(), make_document([table])) == b"id,name\n"


FORMULA_COLUMNS = [Column("label", "string"), Column("delta", "integer"), Column("note")]
FORMULA_ROWS = [
    ['=HYPERLINK("http://evil","x")', -5, "+1"],
    ["@SUM(A1)", 3, "-2+3"],
    ["\tTab", -1, "\rCR"],
    ["fine, -not a formula", None, "a=b"],
]


def formula_document(tmp_path, *, escaping: bool = True) -> ReportDocument:
    document = make_document([make_table(tmp_path, "t", FORMULA_COLUMNS, FORMULA_ROWS)])
    document.csv_formula_escaping = escaping
    return document


def test_csv_text_cells_that_start_a_formula_get_a_leading_quote(tmp_path):
    assert render(CsvRenderer(), formula_document(tmp_path)) == (
        b"label,delta,note\n"
        b'"\'=HYPERLINK(""http://evil"",""x"")",-5,\'+1\n'
        b"'@SUM(A1),3,'-2+3\n"
        b"'\tTab,-1,'\rCR\n"
        b'"fine, -not a formula",,a=b\n'
    )


def test_csv_formula_escaping_off_writes_the_cells_as_they_are(tmp_path):
    assert render(CsvRenderer(), formula_document(tmp_path, escaping=False)) == (
        b"label,delta,note\n"
        b'"=HYPERLINK(""http://evil"",""x"")",-5,+1\n'
        b"@SUM(A1),3,-2+3\n"
        b"\tTab,-1,\rCR\n"
        b'"fine, -not a formula",,a=b\n'
    )


def test_csv_formula_escaping_reads_quoted_fields_that_hold_delimiters_and_line_ends(tmp_path):
    columns = [Column("note"), Column("amount", "number"), Column("label")]
    rows = [
        ['a,\n=b, "c"', -2.5, "=1+1"],  # `,\n=` inside quotes is text, not a field start
        ["x\n-y", -1.0, "@me"],
        ["-z", 7.0, ",=q"],
    ]
    document = make_document([make_table(tmp_path, "t", columns, rows)])

    body = render(CsvRenderer(), document).decode()

    read = list(csv.reader(io.StringIO(body, newline="")))
    assert read == [
        ["note", "amount", "label"],
        ['a,\n=b, "c"', "-2.5", "'=1+1"],
        ["x\n-y", "-1.0", "'@me"],
        ["'-z", "7.0", ",=q"],
    ]


def test_csv_formula_escaping_over_many_pieces_matches_the_csv_module(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_module, "SCAN_CHUNK_BYTES", 64)
    columns = [Column("n", "integer"), Column("text"), Column("amount", "number")]
    texts = ["=x", "plain", 'q"uo,te', "multi\nline", "-1", "+", "@", "", "a,=b", '"=c']
    rows = [[n, texts[n % len(texts)], -n / 4] for n in range(300)]
    document = make_document([make_table(tmp_path, "t", columns, rows)])

    read = list(csv.reader(io.StringIO(render(CsvRenderer(), document).decode(), newline="")))

    expected = [[str(n), cell_neutralize(text), str(-n / 4)] for n, text, _ in rows]
    assert read[1:] == expected


def test_csv_header_names_that_start_a_formula_are_neutralised_too(tmp_path):
    table = make_table(tmp_path, "t", [Column("=cmd"), Column("-n", "integer")], [["a", -1]])

    assert render(CsvRenderer(), make_document([table])) == b"'=cmd,'-n\na,-1\n"


# JSON


def test_json_holds_the_report_and_typed_rows(tmp_path):
    document = make_document([orders(tmp_path), refunds(tmp_path)])

    assert JsonRenderer().media(document) == ("application/json", "json")
    report = json.loads(render(JsonRenderer(), document))

    assert report["template"] == "monthly-billing-summary"
    assert report["title"] == "Monthly billing summary"
    assert report["parameters"] == {"month": "03", "year": 2025, "formula": "=1+1"}
    assert report["generated_at"] == "2025-04-01T00:30:00+02:00"
    assert list(report["tables"]) == ["orders", "refunds"]
    table = report["tables"]["orders"]
    assert table["columns"] == [column.name for column in ORDER_COLUMNS]
    assert table["types"] == [column.type for column in ORDER_COLUMNS]
    assert table["rows"] == [
        [1, "Ada, Ltd", 12.5, "2025-03-01", "2025-03-01T10:00:00+01:00", True, {"a": 1}],
        [2, 'Say "hi"\nthere', None, None, None, False, None],
        [3, "", 0.0, "2025-03-31", "2025-03-31T01:30:00+02:00", None, [1, 2]],
    ]
    assert report["tables"]["refunds"]["rows"] == [[2, "late, damaged"]]


def test_json_writes_null_for_numbers_json_cannot_hold(tmp_path):
    columns = [Column("ratio", "number"), Column("detail", "json")]
    rows = [[float("nan"), {"spread": float("inf")}], [float("-inf"), [float("nan"), 1.5]]]
    document = make_document([make_table(tmp_path, "ratios", columns, rows)])

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    report = json.loads(render(JsonRenderer(), document), parse_constant=refuse)

    assert report["tables"]["ratios"]["rows"] == [[None, {"spread": None}], [None, [None, 1.5]]]


def test_json_of_an_empty_table_has_no_rows(tmp_path):
    table = make_table(tmp_path, "empty", [Column("id", "integer")], [])

    report = json.loads(render(JsonRenderer(), make_document([table])))

    assert report["tables"]["empty"] == {"columns": ["id"], "types": ["integer"], "rows": []}


# XLSX


def test_xlsx_table_sheet_has_typed_cells_under_a_frozen_filtered_header(tmp_path):
    document = make_document([orders(tmp_path)])

    assert XlsxRenderer().media(document) == (XLSX_TYPE, "xlsx")
    workbook = open_xlsx(document)

    assert workbook.sheetnames == ["Summary", "Orders"]
    sheet = workbook["Orders"]
    assert sheet_values(sheet) == [
        ["id", "customer", "amount", "day", "created_at", "paid", "meta"],
        [1, "Ada, Ltd", 12.5, datetime(2025, 3, 1), datetime(2025, 3, 1, 10), True, '{"a": 1}'],
        [2, 'Say "hi"\nthere', None, None, None, False, None],
        [3, None, 0, datetime(2025, 3, 31), datetime(2025, 3, 31, 1, 30), None, "[1, 2]"],
    ]
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet["A2"].data_type == "n"
    assert sheet["C2"].data_type == "n"
    assert sheet["D2"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G4"
    assert sheet.column_dimensions["B"].width >= len('Say "hi"\nthere')


def test_xlsx_dates_around_excels_phantom_leap_day_read_back_as_written(tmp_path):
    columns = [Column("day", "date"), Column("at", "datetime")]
    rows = [
        [date(1900, 2, 28), datetime(1900, 1, 15, 11, 0, tzinfo=UTC)],
        [date(1900, 3, 1), datetime(1900, 3, 1, 11, 0, tzinfo=UTC)],
        [date(2024, 2, 29), datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)],
    ]
    sheet = open_xlsx(make_document([make_table(tmp_path, "days", columns, rows)]))["days"]

    # Berlin kept UTC+1 all year in 1900.
    assert sheet_values(sheet)[1:] == [
        [datetime(1900, 2, 28), datetime(1900, 1, 15, 12, 0)],
        [datetime(1900, 3, 1), datetime(1900, 3, 1, 12, 0)],
        [datetime(2024, 2, 29), datetime(2024, 3, 1, 0, 59, 59)],
    ]


def test_xlsx_keeps_text_that_looks_like_markup_or_a_formula_as_text(tmp_path):
    texts = ["<r><t>bold?</t></r>", '=HYPERLINK("http://example.com")', "<b>&amp;</b>"]
    table = make_table(tmp_path, "notes", [Column("note")], [[text] for text in texts])

    sheet = open_xlsx(make_document([table]))["notes"]

    assert [cell.value for cell in sheet["A"][1:]] == texts
    assert all(cell.data_type == "s" for cell in sheet["A"][1:])


def test_xlsx_summary_sheet_shows_parameters_generation_time_and_row_counts(tmp_path):
    document = make_document([orders(tmp_path), refunds(tmp_path)])

    summary = open_xlsx(document).worksheets[0]

    assert summary.title == "Summary"
    rows = [row for row in sheet_values(summary) if any(value is not None for value in row)]
    assert rows[0][0] == "Monthly billing summary"
    assert rows[1][0] == "Orders and refunds of the month."
    by_label = {row[0]: tuple(row[1:]) for row in rows[2:]}
    assert by_label["Generated at"] == (datetime(2025, 4, 1, 0, 30), "Europe/Berlin")
    assert by_label["month"][0] == "03"
    assert by_label["year"][0] == 2025
    assert by_label["formula"][0] == "=1+1"
    assert by_label["Table"] == ("Rows", "Sheets")
    assert by_label["Orders"] == (3, "Orders")
    assert by_label["Refunds"] == (1, "Refunds")


def test_xlsx_sheet_names_are_made_valid_and_unique(tmp_path):
    columns = [Column("id", "integer")]
    titles = ["Q1: sales/returns [draft]?", "Summary", "A very long title that Excel cuts off", ""]
    titles.append(titles[2])
    tables = [
        make_table(tmp_path, f"table{number}", columns, [[number]], title)
        for number, title in enumerate(titles)
    ]

    workbook = open_xlsx(make_document(tables))

    assert workbook.sheetnames == [
        "Summary",
        "Q1_ sales_returns _draft__",
        "Summary (2)",
        "A very long title that Excel cu",
        "table3",
        "A very long title that Exce (2)",
    ]


def test_xlsx_continues_a_long_table_on_further_sheets(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_module, "MAX_DATA_ROWS_PER_SHEET", 3)
    columns = [Column("id", "integer"), Column("name")]
    rows = [[number, f"row {number}"] for number in range(1, 8)]
    document = make_document([make_table(tmp_path, "log", columns, rows, "Log")])

    workbook = open_xlsx(document)

    assert workbook.sheetnames == ["Summary", "Log", "Log (2)", "Log (3)"]
    for name, ids in (("Log", [1, 2, 3]), ("Log (2)", [4, 5, 6]), ("Log (3)", [7])):
        sheet = workbook[name]
        assert sheet_values(sheet) == [["id", "name"], *([n, f"row {n}"] for n in ids)]
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:B{len(ids) + 1}"
    summary_rows = sheet_values(workbook["Summary"])
    assert ["Log", 7, "Log, Log (2), Log (3)"] in summary_rows


def test_xlsx_table_that_fills_its_sheets_exactly_adds_no_empty_sheet(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_module, "MAX_DATA_ROWS_PER_SHEET", 2)
    rows = [[number] for number in range(4)]
    document = make_document([make_table(tmp_path, "log", [Column("id", "integer")], rows)])

    assert open_xlsx(document).sheetnames == ["Summary", "log", "log (2)"]


def test_xlsx_empty_table_gets_a_sheet_with_its_header(tmp_path):
    table = make_table(tmp_path, "empty", [Column("id", "integer"), Column("name")], [])

    sheet = open_xlsx(make_document([table]))["empty"]

    assert sheet_values(sheet) == [["id", "name"]]
    assert sheet.auto_filter.ref == "A1:B1"


def test_xlsx_reports_progress_once_per_row(tmp_path):
    rows = [[number] for number in range(2500)]
    table = make_table(tmp_path, "log", [Column("id", "integer")], rows)
    progress: list[int] = []
    table.on_rows = progress.append

    render(XlsxRenderer(), make_document([table]))

    assert sum(progress) == 2500


def test_xlsx_charts_are_native_charts_on_the_summary_over_the_table_sheet(tmp_path):
    charts = [
        Chart(table="orders", type="bar", x="customer", y=["amount", "id"], title="Amounts"),
        Chart(table="orders", type="pie", x="customer", y=["amount", "id"], title="Share"),
    ]
    document = make_document([orders(tmp_path, title="March orders")], charts)

    with zipfile.ZipFile(io.BytesIO(render(XlsxRenderer(), document))) as package:
        bar = package.read("xl/charts/chart1.xml").decode()
        pie = package.read("xl/charts/chart2.xml").decode()
        summary_rels = package.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
        drawing_rels = package.read("xl/drawings/_rels/drawing1.xml.rels").decode()

    assert "<c:barChart>" in bar
    assert '<c:barDir val="col"/>' in bar
    assert "<c:v>Amounts</c:v>" in bar or "<a:t>Amounts</a:t>" in bar
    assert "<c:f>'March orders'!$B$2:$B$4</c:f>" in bar
    assert "<c:f>'March orders'!$C$2:$C$4</c:f>" in bar
    assert "<c:f>'March orders'!$A$2:$A$4</c:f>" in bar
    assert "<c:pieChart>" in pie
    assert "<c:f>'March orders'!$C$2:$C$4</c:f>" in pie
    assert "$A$2:$A$4" not in pie
    assert "../drawings/drawing1.xml" in summary_rels
    assert "../charts/chart1.xml" in drawing_rels
    assert "../charts/chart2.xml" in drawing_rels


def test_xlsx_chart_naming_a_missing_column_is_refused(tmp_path):
    chart = Chart(table="orders", type="line", x="day", y=["total"], title="Totals")

    with pytest.raises(ValueError, match="'total'"):
        render(XlsxRenderer(), make_document([orders(tmp_path)], [chart]))


def test_renderers_are_registered_by_format():
    assert isinstance(get_renderer("csv"), CsvRenderer)
    assert isinstance(get_renderer("json"), JsonRenderer)
    assert isinstance(get_renderer("xlsx"), XlsxRenderer)
