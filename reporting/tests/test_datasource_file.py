"""The `file` data source: CSV, XLSX, JSON and NDJSON files, uploaded or under REPORT_DATA_DIR,
read as typed rows in batches, filtered by parameters; paths that lead outside are refused."""

import csv
import io
import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from openpyxl import Workbook

from reporting.datasources import file as file_module
from reporting.datasources.base import DataSourceError
from reporting.datasources.file import FileAdapter
from reporting.datasources.file import json_readers as json_readers_module
from reporting.tables import Column, SpooledTable

adapter = FileAdapter()

SALES_CSV = """region,store,amount,units,open,day,updated_at,note
north,0042,10.50,3,true,2025-03-01,2025-03-01T10:00:00+00:00,first
south,0043,7,12,false,2025-03-02,2025-03-02 11:30:00,
east,0044,120.25,1,true,2025-03-03,2025-03-03T09:15:00+00:00,"with, comma"
"""


@pytest.fixture
def data_dir(settings, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    settings.REPORT_DATA_DIR = folder
    return folder


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def read(config, parameters=None, *, batch_size=2000):
    row_stream = adapter.stream(
        query="",
        config=config,
        parameters=parameters or {},
        organization_id=None,
        batch_size=batch_size,
    )
    return row_stream.columns, [list(row) for batch in row_stream.batches for row in batch]


def failure(call, *args, **kwargs) -> str:
    with pytest.raises(DataSourceError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def stream_failure(config, parameters=None) -> str:
    return failure(read, config, parameters)


def write_csv(folder, name, rows):
    with (folder / name).open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


# --- CSV -------------------------------------------------------------------------------------


def test_csv_columns_come_from_the_header_with_types_read_from_the_values(data_dir):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")

    columns, rows = read({"path": "sales.csv"})

    assert columns == [
        Column("region"),
        Column("store"),  # leading zeros: an identifier, kept as text
        Column("amount", "number"),
        Column("units", "integer"),
        Column("open", "boolean"),
        Column("day", "date"),
        Column("updated_at", "datetime"),
        Column("note"),
    ]
    assert rows[0] == [
        "north",
        "0042",
        Decimal("10.50"),
        3,
        True,
        date(2025, 3, 1),
        datetime(2025, 3, 1, 10, tzinfo=UTC),
        "first",
    ]
    assert rows[1][6] == datetime(2025, 3, 2, 11, 30, tzinfo=UTC)  # naive text is UTC
    assert rows[1][7] == ""
    assert rows[2][7] == "with, comma"


def test_csv_columns_config_picks_orders_and_types_the_columns(data_dir):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")
    config = {
        "path": "sales.csv",
        "columns": [{"name": "units", "type": "number"}, {"name": "store", "type": "integer"}],
    }

    columns, rows = read(config)

    assert columns == [Column("units", "number"), Column("store", "integer")]
    assert rows == [[Decimal(3), 42], [Decimal(12), 43], [Decimal(1), 44]]


def test_csv_with_another_delimiter_and_encoding(data_dir):
    (data_dir / "städte.csv").write_bytes("stadt;einwohner\nMünchen;1512491\n".encode("latin-1"))

    columns, rows = read({"path": "städte.csv", "delimiter": ";", "encoding": "latin-1"})

    assert columns == [Column("stadt"), Column("einwohner", "integer")]
    assert rows == [["München", 1512491]]


def test_an_empty_csv_field_in_a_typed_column_is_null(data_dir):
    write_csv(data_dir, "gaps.csv", [["n", "day"], ["1", "2025-01-01"], ["", ""]])

    assert read({"path": "gaps.csv"})[1] == [[1, date(2025, 1, 1)], [None, None]]


def test_a_column_missing_from_the_header_is_named_with_the_header(data_dir):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")

    message = stream_failure({"path": "sales.csv", "columns": [{"name": "revenue"}]})

    assert "'sales.csv'" in message
    assert "no column 'revenue'" in message
    assert "region, store, amount" in message


# --- uploads ---------------------------------------------------------------------------------


def test_an_uploaded_file_is_read_through_the_default_storage(media):
    name = default_storage.save("data-sources/2025/03/sales.csv", ContentFile(SALES_CSV.encode()))

    columns, rows = read({"upload": name})

    assert (media / name).exists()
    assert [column.name for column in columns][:3] == ["region", "store", "amount"]
    assert [row[0] for row in rows] == ["north", "south", "east"]


def xlsx_bytes(rows):
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    content = io.BytesIO()
    workbook.save(content)
    return content.getvalue()


@pytest.mark.parametrize(
    ("extension", "content"),
    [
        ("csv", b"id,city\n1,Oslo\n"),
        ("json", b'[{"id": 1, "city": "Oslo"}]'),
        ("ndjson", b'{"id": 1, "city": "Oslo"}\n'),
        ("xlsx", xlsx_bytes([["id", "city"], [1, "Oslo"]])),
    ],
)
def test_uploads_in_every_format_are_read(media, extension, content):
    name = default_storage.save(f"data-sources/2025/03/cities.{extension}", ContentFile(content))

    assert read({"upload": name}) == ([Column("id", "integer"), Column("city")], [[1, "Oslo"]])


def test_an_upload_outside_the_uploads_folder_is_refused(media):
    default_storage.save("logos/acme.csv", ContentFile(b"a\n1\n"))

    for name in ("logos/acme.csv", "data-sources/../logos/acme.csv", "/etc/passwd"):
        message = failure(
            adapter.validate_config,
            query="",
            config={"upload": name, "format": "csv"},
            organization_id=None,
        )
        assert "is not a file uploaded to a data source" in message
        assert "is not a file uploaded" in stream_failure({"upload": name, "format": "csv"})


def test_a_missing_upload_names_the_file(media):
    message = stream_failure({"upload": "data-sources/2025/03/gone.csv"})

    assert message == "The file 'data-sources/2025/03/gone.csv' does not exist."


# --- XLSX ------------------------------------------------------------------------------------


def write_workbook(path):
    workbook = Workbook()
    summary = workbook.active
    summary.title = "Summary"
    summary.append(["total"])
    summary.append([3])
    orders = workbook.create_sheet("Orders")
    orders.append(["order", "placed_at", "amount", "paid", "customer"])
    orders.append([1, datetime(2025, 3, 1, 9, 30), 19.99, True, "Ada"])
    orders.append([2, datetime(2025, 3, 2, 14, 0), 5, False, "Grace"])
    orders.append([None, None, None, None, None])  # an empty row: skipped
    orders.append([3, datetime(2025, 3, 3, 8, 0), 42.5, True, None])
    workbook.save(path)


def test_xlsx_keeps_the_cells_own_types_and_reads_the_sheet_asked_for(data_dir):
    write_workbook(data_dir / "orders.xlsx")

    columns, rows = read({"path": "orders.xlsx", "sheet": "Orders"})

    assert columns == [
        Column("order", "integer"),
        Column("placed_at", "datetime"),
        Column("amount", "number"),
        Column("paid", "boolean"),
        Column("customer"),
    ]
    assert rows == [
        [1, datetime(2025, 3, 1, 9, 30, tzinfo=UTC), 19.99, True, "Ada"],
        [2, datetime(2025, 3, 2, 14, 0, tzinfo=UTC), 5, False, "Grace"],
        [3, datetime(2025, 3, 3, 8, 0, tzinfo=UTC), 42.5, True, None],
    ]


def test_xlsx_reads_the_first_sheet_by_default(data_dir):
    write_workbook(data_dir / "orders.xlsx")

    assert read({"path": "orders.xlsx"}) == ([Column("total", "integer")], [[3]])


def test_an_unknown_sheet_is_named_with_the_sheets_there_are(data_dir):
    write_workbook(data_dir / "orders.xlsx")

    message = stream_failure({"path": "orders.xlsx", "sheet": "Invoices"})

    assert message == "The file 'orders.xlsx' has no sheet 'Invoices'; its sheets: Summary, Orders."


def test_a_file_that_is_not_a_workbook_says_so(data_dir):
    (data_dir / "fake.xlsx").write_text("region,amount\n", encoding="utf-8")

    assert "The file 'fake.xlsx' is not an XLSX workbook" in stream_failure({"path": "fake.xlsx"})


# --- JSON and NDJSON -------------------------------------------------------------------------


def test_json_records_at_a_nested_path(data_dir):
    document = {
        "meta": {"exported": "2025-03-04", "pages": [1, 2]},
        "data": {
            "count": 2,
            "items": [
                {"id": 1, "name": "Ada", "joined": "2025-01-05", "score": 9.5, "tags": ["a"]},
                {"id": 2, "name": "Grace", "joined": "2025-02-11", "score": 7, "extra": "x"},
            ],
        },
    }
    (data_dir / "people.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

    columns, rows = read({"path": "people.json", "records": "data.items"})

    assert columns == [
        Column("id", "integer"),
        Column("name"),
        Column("joined", "date"),
        Column("score", "number"),
        Column("tags", "json"),
    ]
    assert rows == [
        [1, "Ada", date(2025, 1, 5), 9.5, ["a"]],
        [2, "Grace", date(2025, 2, 11), 7, None],
    ]


def test_json_values_cut_at_any_chunk_boundary_come_back_whole(data_dir, monkeypatch):
    records = [{"id": 12345, "price": 1.25e-3, "name": 'Zoë \\ "quoted"', "ok": None}] * 3
    document = {"before": {"n": [1, 22, 333]}, "items": records, "after": True}
    (data_dir / "cut.json").write_text(json.dumps(document), encoding="utf-8")

    for chunk_chars in (1, 2, 3, 7):
        monkeypatch.setattr(json_readers_module, "JSON_CHUNK_CHARS", chunk_chars)
        rows = read({"path": "cut.json", "records": "items"})[1]
        assert rows == [[12345, 1.25e-3, 'Zoë \\ "quoted"', None]] * 3


def test_a_json_value_too_long_to_hold_is_refused(data_dir, monkeypatch):
    monkeypatch.setattr(json_readers_module, "MAX_JSON_VALUE_CHARS", 100)
    (data_dir / "long.json").write_text(json.dumps([{"text": "x" * 200}]), encoding="utf-8")

    message = stream_failure({"path": "long.json"})

    assert message.startswith("The file 'long.json' is not valid JSON at line 1: a value longer")


def test_a_missing_records_path_is_named(data_dir):
    (data_dir / "people.json").write_text('{"data": {"rows": []}}', encoding="utf-8")

    message = stream_failure({"path": "people.json", "records": "data.items"})

    assert message == "The file 'people.json' has no \"records\" path 'data.items'."


def test_a_top_level_json_list_streams_across_many_chunks(data_dir):
    # ~20 chunks of 64 KB, numbers cut at chunk ends included: every record comes back whole.
    records = [{"n": n, "amount": n * 1.25, "label": f"row {n}" * 5} for n in range(20_000)]
    (data_dir / "big.json").write_text(json.dumps(records), encoding="utf-8")

    columns, rows = read({"path": "big.json"}, batch_size=5000)

    assert columns == [Column("n", "integer"), Column("amount", "number"), Column("label")]
    assert len(rows) == 20_000
    assert rows[12_345] == [12_345, 12_345 * 1.25, "row 12345" * 5]


def test_ndjson_is_read_line_by_line(data_dir):
    lines = ['{"id": 1, "city": "Oslo"}', "", '{"id": 2, "city": "Lima", "pop": 10}']
    (data_dir / "cities.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert read({"path": "cities.jsonl"}) == (
        [Column("id", "integer"), Column("city")],
        [[1, "Oslo"], [2, "Lima"]],
    )


def test_a_json_file_without_records_needs_its_columns_listed(data_dir):
    (data_dir / "none.json").write_text("[]", encoding="utf-8")

    assert "has no records to take the columns from" in stream_failure({"path": "none.json"})
    columns, rows = read({"path": "none.json", "columns": [{"name": "id", "type": "integer"}]})
    assert (columns, rows) == ([Column("id", "integer")], [])


# --- filters from parameters -----------------------------------------------------------------


FILTERED = {
    "path": "sales.csv",
    "columns": [{"name": "region"}, {"name": "amount"}, {"name": "note"}],
    "filters": [
        {"column": "region", "op": "eq", "param": "region"},
        {"column": "region", "op": "in", "param": "regions"},
        {"column": "amount", "op": "gt", "param": "min_amount"},
        {"column": "note", "op": "contains", "param": "note_has"},
    ],
}


@pytest.fixture
def sales(data_dir):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")


def regions(parameters):
    return [row[0] for row in read(FILTERED, parameters)[1]]


def test_filters_take_their_values_from_parameters(sales):
    assert adapter.parameter_names(query="", config=FILTERED) == {
        "region",
        "regions",
        "min_amount",
        "note_has",
    }
    assert regions({"region": "south"}) == ["south"]
    assert regions({"regions": ["north", "east", "west"]}) == ["north", "east"]
    assert regions({"min_amount": 10}) == ["north", "east"]  # numbers, not text: "7" > "10"
    assert regions({"min_amount": "10.5"}) == ["east"]  # converted to the column's type
    assert regions({"note_has": "COMMA"}) == ["east"]
    assert regions({"regions": ["north", "east"], "min_amount": 100}) == ["east"]


def test_a_filter_whose_parameter_is_none_or_absent_is_skipped(sales):
    everyone = ["north", "south", "east"]

    assert regions({}) == everyone
    assert regions({"region": None, "min_amount": None}) == everyone


def test_a_parameter_that_does_not_fit_the_column_type_is_refused(sales):
    message = stream_failure(FILTERED, {"min_amount": "lots"})

    assert message == (
        "The parameter 'min_amount' ('lots') is not number like the column 'amount' it filters."
    )


def test_a_filter_on_a_column_the_file_lacks_is_refused(sales):
    config = {"path": "sales.csv", "filters": [{"column": "zone", "op": "eq", "param": "z"}]}

    assert "has no column 'zone' to filter on" in stream_failure(config, {"z": "north"})


def test_filters_on_xlsx_dates_and_numbers(data_dir):
    write_workbook(data_dir / "orders.xlsx")
    config = {
        "path": "orders.xlsx",
        "sheet": "Orders",
        "filters": [
            {"column": "placed_at", "op": "gte", "param": "since"},
            {"column": "amount", "op": "lt", "param": "below"},
        ],
    }

    rows = read(config, {"since": "2025-03-02", "below": 40})[1]

    assert [row[0] for row in rows] == [2]


# --- paths that lead outside -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../x.csv", '".." is not allowed'),
        ("reports/../../x.csv", '".." is not allowed'),
        ("/etc/passwd", "is absolute"),
    ],
)
def test_paths_that_leave_the_data_folder_are_refused(data_dir, path, why):
    config = {"path": path, "format": "csv"}

    assert why in failure(adapter.validate_config, query="", config=config, organization_id=None)
    assert why in stream_failure(config)


def test_a_symlink_that_leads_outside_the_data_folder_is_refused(data_dir, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n", encoding="utf-8")
    (data_dir / "innocent.csv").symlink_to(secret)
    (data_dir / "linked").symlink_to(tmp_path)
    message = "leads outside REPORT_DATA_DIR"

    for path in ("innocent.csv", "linked/secret.csv"):
        assert message in failure(
            adapter.validate_config, query="", config={"path": path}, organization_id=None
        )
        assert message in stream_failure({"path": path})


def test_the_path_is_checked_again_when_the_file_is_read(data_dir, tmp_path):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")
    config = {"path": "sales.csv"}
    adapter.validate_config(query="", config=config, organization_id=None)
    (tmp_path / "secret.csv").write_text("password\nhunter2\n", encoding="utf-8")
    (data_dir / "sales.csv").unlink()
    (data_dir / "sales.csv").symlink_to(tmp_path / "secret.csv")

    assert "leads outside REPORT_DATA_DIR" in stream_failure(config)
    assert "leads outside REPORT_DATA_DIR" in failure(
        adapter.test, query="", config=config, organization_id=None
    )


def test_a_symlink_inside_the_data_folder_is_followed(data_dir):
    (data_dir / "2025").mkdir()
    (data_dir / "2025" / "sales.csv").write_text(SALES_CSV, encoding="utf-8")
    (data_dir / "latest.csv").symlink_to(data_dir / "2025" / "sales.csv")

    assert len(read({"path": "latest.csv"})[1]) == 3


def test_a_missing_file_names_the_file(data_dir):
    assert stream_failure({"path": "nope.csv"}) == "The file 'nope.csv' does not exist."


# --- files that cannot be parsed -------------------------------------------------------------


def test_an_unparseable_csv_names_the_line(data_dir):
    (data_dir / "bad.csv").write_text('a,b\n1,2\n3,"x"y\n', encoding="utf-8")

    message = stream_failure({"path": "bad.csv"})

    assert message.startswith("The file 'bad.csv' is not valid CSV at line 3:")


def test_a_csv_row_with_the_wrong_number_of_fields_names_the_line(data_dir):
    (data_dir / "short.csv").write_text("a,b\n1,2\n3\n", encoding="utf-8")

    message = stream_failure({"path": "short.csv"})

    assert message == "The file 'short.csv', line 3: 1 fields where the header has 2."


def test_a_csv_in_another_encoding_than_configured_says_so(data_dir):
    (data_dir / "latin.csv").write_bytes("name\nJosé\n".encode("latin-1"))

    message = stream_failure({"path": "latin.csv"})

    assert "The file 'latin.csv' is not utf-8-sig text" in message
    assert 'set "encoding"' in message


def test_an_unparseable_json_names_the_line(data_dir):
    (data_dir / "bad.json").write_text('[\n {"a": 1},\n {"a": 2,}\n]\n', encoding="utf-8")

    message = stream_failure({"path": "bad.json"})

    assert message.startswith("The file 'bad.json' is not valid JSON at line 3:")


def test_an_unparseable_ndjson_line_is_named(data_dir):
    (data_dir / "bad.ndjson").write_text('{"a": 1}\n{"a": 2\n', encoding="utf-8")

    message = stream_failure({"path": "bad.ndjson"})

    assert message.startswith("The file 'bad.ndjson' is not valid NDJSON at line 2:")


def test_a_later_value_that_does_not_fit_the_inferred_type_names_its_line(data_dir):
    rows = [["id", "amount"], *([str(n), str(n)] for n in range(1, 1500)), ["1500", "n/a"]]
    write_csv(data_dir, "late.csv", rows)

    message = stream_failure({"path": "late.csv"})

    assert message.startswith(
        "The file 'late.csv', line 1501: 'n/a' in the column 'amount' is not integer"
    )
    assert 'give one in "columns"' in message


# --- the config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, 'exactly one of "upload" and "path"'),
        ({"path": "a.csv", "upload": "data-sources/a.csv"}, 'exactly one of "upload" and "path"'),
        ({"path": "a.txt"}, "Cannot tell the format of 'a.txt' from its extension: set \"format\""),
        ({"path": "a.csv", "format": "parquet"}, '"format" must be one of csv, xlsx, json'),
        ({"path": "a.csv", "sheet": "x"}, '"sheet" applies to xlsx files only'),
        ({"path": "a.json", "delimiter": ";"}, '"delimiter" applies to csv files only'),
        ({"path": "a.csv", "delimiter": ";;"}, '"delimiter" must be one character'),
        ({"path": "a.csv", "encoding": "klingon"}, "Unknown encoding 'klingon'"),
        ({"path": "a.csv", "columns": [{"name": "x", "type": "money"}]}, "'money' is not one"),
        ({"path": "a.csv", "filters": [{"column": "x", "op": "like", "param": "p"}]}, "'like'"),
        ({"path": "a.csv", "query": "x"}, "Unknown config key 'query'"),
    ],
)
def test_configs_that_can_never_work_are_refused(data_dir, config, message):
    assert message in failure(
        adapter.validate_config, query="", config=config, organization_id=None
    )


def test_a_query_is_refused(data_dir):
    message = failure(
        adapter.validate_config, query="SELECT 1", config={"path": "a.csv"}, organization_id=None
    )

    assert message == "A file data source takes no query: its config names the file."


# --- streaming, spooling, testing ------------------------------------------------------------


def test_a_large_csv_comes_in_several_batches(data_dir):
    write_csv(data_dir, "big.csv", [["n", "square"], *([n, n * n] for n in range(10_000))])
    row_stream = adapter.stream(
        query="", config={"path": "big.csv"}, parameters={}, organization_id=None, batch_size=3000
    )

    sizes = [len(batch) for batch in row_stream.batches]

    assert sizes == [3000, 3000, 3000, 1000]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_closing_a_stream_before_its_first_batch_closes_the_file(data_dir):
    # More rows than the type sample, so the file is still being read when the stream returns.
    write_csv(data_dir, "big.csv", [["n"], *([n] for n in range(5000))])
    before = len(os.listdir("/proc/self/fd"))
    row_stream = adapter.stream(
        query="", config={"path": "big.csv"}, parameters={}, organization_id=None
    )
    assert len(os.listdir("/proc/self/fd")) == before + 1

    row_stream.close()

    assert len(os.listdir("/proc/self/fd")) == before


def test_a_spool_reads_back_as_the_same_typed_rows(data_dir, tmp_path):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")
    spool = tmp_path / "sales.spool"

    columns, row_count = adapter.spool(
        query="", config={"path": "sales.csv"}, parameters={}, organization_id=None, path=spool
    )
    table = SpooledTable(name="sales", title="Sales", columns=columns, path=spool)

    assert row_count == 3
    streamed = read({"path": "sales.csv"})[1]
    # The spool reads numbers back as floats; everything else comes back as it was streamed.
    assert list(table.rows()) == [
        [float(value) if isinstance(value, Decimal) else value for value in row] for row in streamed
    ]
    assert streamed[2][2:4] == [Decimal("120.25"), 1]


def test_a_json_column_survives_the_spool(data_dir, tmp_path):
    (data_dir / "t.ndjson").write_text('{"id": 1, "tags": ["a", "b"]}\n', encoding="utf-8")
    spool = tmp_path / "t.spool"

    columns, _ = adapter.spool(
        query="", config={"path": "t.ndjson"}, parameters={}, organization_id=None, path=spool
    )

    assert list(SpooledTable("t", "t", columns, spool).rows()) == [[1, ["a", "b"]]]


def test_the_test_button_reports_format_columns_and_rows(data_dir):
    (data_dir / "sales.csv").write_text(SALES_CSV, encoding="utf-8")

    message = adapter.test(
        query="", config={"path": "sales.csv", "columns": [{"name": "day"}]}, organization_id=None
    )

    assert message == "OK: csv, 0.0 MB; columns day (date); 3 rows"


def test_the_test_button_leaves_the_rows_of_a_large_file_uncounted(data_dir, monkeypatch):
    write_workbook(data_dir / "orders.xlsx")
    monkeypatch.setitem(file_module.COUNT_MAX_BYTES, "xlsx", 100)

    message = adapter.test(query="", config={"path": "orders.xlsx"}, organization_id=None)

    assert message == "OK: xlsx, 0.0 MB; columns total (integer); rows not counted (a large file)"
