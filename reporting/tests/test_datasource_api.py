"""The `api` data source against a real HTTP server each test starts on 127.0.0.1.

The server records every request it gets (method, path, query, headers, JSON body) and answers
from the routes a test gives it: a function of the request returning (status, body[, headers]).
"""

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reporting.datasources.api import ApiAdapter
from reporting.datasources.base import DataSourceError
from reporting.tables import Column, SpooledTable

adapter = ApiAdapter()
SECRET = "s3cret-billing-token-4711"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ApiServer:
    port: int
    routes: dict[str, Callable[[Seen], tuple]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = Seen(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        api: ApiServer = self.server.api
        api.requests.append(seen)
        route = api.routes.get(parts.path, lambda seen: (404, {"error": "no such route"}))
        status, body, headers = (*route(seen), {})[:3]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout test)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_server(settings):
    settings.DATASOURCE_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DELIVERY_ALLOWED_HOSTS = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.api = ApiServer(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.api
    server.api.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


def read(config, parameters=None):
    row_stream = adapter.stream(
        query="", config=config, parameters=parameters or {}, organization_id=None
    )
    batches = [list(map(list, batch)) for batch in row_stream.batches]
    return row_stream.columns, batches


def rows_of(config, parameters=None):
    return [row for batch in read(config, parameters)[1] for row in batch]


def items(*ids):
    return [{"id": each, "name": f"item {each}"} for each in ids]


# --- pagination ------------------------------------------------------------------------------


def test_next_links_are_followed_page_by_page(api_server) -> None:
    pages = {
        "1": {"data": items(1, 2), "links": {"next": "/items?page=2"}},  # relative
        "2": {"data": items(3, 4), "links": {"next": api_server.url("/items?page=3")}},
        "3": {"data": items(5), "links": {"next": None}},
    }
    api_server.routes["/items"] = lambda seen: (200, pages[seen.query.get("page", ["1"])[0]])
    config = {
        "url": api_server.url("/items"),
        "records": "data",
        "pagination": {"type": "next_link", "path": "links.next"},
    }

    columns, batches = read(config)

    assert columns == [Column("id", "integer"), Column("name")]
    assert batches == [
        [[1, "item 1"], [2, "item 2"]],
        [[3, "item 3"], [4, "item 4"]],
        [[5, "item 5"]],
    ]
    assert len(api_server.requests) == 3


def test_page_numbers_count_up_until_a_page_has_no_records(api_server) -> None:
    stock = items(1, 2, 3, 4, 5)

    def page(seen):
        number, size = int(seen.query["page"][0]), int(seen.query["size"][0])
        return 200, stock[(number - 1) * size : number * size]

    api_server.routes["/items"] = page
    config = {
        "url": api_server.url("/items?size=2&page=9"),
        "pagination": {"type": "page", "param": "page", "start": 1},
    }

    assert [row[0] for row in rows_of(config)] == [1, 2, 3, 4, 5]
    assert [seen.query["page"] for seen in api_server.requests] == [["1"], ["2"], ["3"], ["4"]]
    assert all(seen.query["size"] == ["2"] for seen in api_server.requests)


def test_a_cursor_is_passed_on_until_the_server_gives_none(api_server) -> None:
    pages = {"": ("c2", items(1, 2)), "c2": ("c/3+", items(3, 4)), "c/3+": (None, items(5))}

    def page(seen):
        cursor = seen.query.get("cursor", [""])[0]
        following, records = pages[cursor]
        return 200, {"results": records, "meta": {"next_cursor": following}}

    api_server.routes["/items"] = page
    config = {
        "url": api_server.url("/items"),
        "records": "results",
        "pagination": {"type": "cursor", "path": "meta.next_cursor", "param": "cursor"},
    }

    assert [row[0] for row in rows_of(config)] == [1, 2, 3, 4, 5]
    assert [seen.query.get("cursor") for seen in api_server.requests] == [None, ["c2"], ["c/3+"]]


def test_reading_stops_after_max_pages(api_server) -> None:
    api_server.routes["/items"] = lambda seen: (200, items(int(seen.query["page"][0])))
    config = {
        "url": api_server.url("/items"),
        "pagination": {"type": "page", "param": "page", "start": 1},
        "max_pages": 2,
    }

    assert rows_of(config) == [[1, "item 1"], [2, "item 2"]]
    assert len(api_server.requests) == 2


# --- retries, timeouts, failures -------------------------------------------------------------


def test_a_500_is_tried_again_and_the_rows_arrive(api_server) -> None:
    answers = iter([(500, {"error": "database restarting"}), (200, items(1))])
    api_server.routes["/items"] = lambda seen: next(answers)

    assert rows_of({"url": api_server.url("/items")}) == [[1, "item 1"]]
    assert len(api_server.requests) == 2


def test_a_429_waits_as_long_as_retry_after_says(api_server) -> None:
    answers = iter([(429, {"error": "slow down"}, {"Retry-After": "1"}), (200, items(1))])
    api_server.routes["/items"] = lambda seen: next(answers)
    started = time.monotonic()

    assert rows_of({"url": api_server.url("/items")}) == [[1, "item 1"]]
    assert time.monotonic() - started >= 1
    assert len(api_server.requests) == 2


def test_a_server_error_that_lasts_fails_after_the_retries(api_server) -> None:
    api_server.routes["/items"] = lambda seen: (503, {"error": "maintenance"})

    with pytest.raises(DataSourceError) as failure:
        rows_of({"url": api_server.url("/items?from=x"), "retries": 1})

    assert str(failure.value).startswith(f"GET {api_server.url('/items?from=x')}: answered 503")
    assert "maintenance" in str(failure.value)
    assert "(2 attempts)" in str(failure.value)
    assert len(api_server.requests) == 2


def test_a_server_slower_than_the_timeout_fails_naming_the_timeout(api_server) -> None:
    def slow(seen):
        api_server.release.wait(5)
        return 200, items(1)

    api_server.routes["/slow"] = slow
    started = time.monotonic()

    with pytest.raises(DataSourceError, match="timeout of 1 s") as failure:
        rows_of({"url": api_server.url("/slow"), "timeout": 1, "retries": 0})

    assert time.monotonic() - started < 3
    assert api_server.url("/slow") in str(failure.value)
    assert len(api_server.requests) == 1


def test_a_404_is_an_error_naming_the_url(api_server) -> None:
    with pytest.raises(DataSourceError) as failure:
        rows_of({"url": api_server.url("/missing")})

    assert str(failure.value) == (
        f'GET {api_server.url("/missing")}: answered 404 Not Found: {{"error": "no such route"}}'
    )
    assert len(api_server.requests) == 1  # a 4xx is not tried again


def test_a_host_that_is_down_fails_naming_the_url(settings) -> None:
    settings.DATASOURCE_ALLOWED_HOSTS = ["127.0.0.1"]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    with pytest.raises(DataSourceError, match=rf"127.0.0.1:{port}/items: the connection failed"):
        rows_of({"url": f"http://127.0.0.1:{port}/items", "retries": 0})


def test_an_answer_that_is_not_json_fails(api_server) -> None:
    api_server.routes["/items"] = lambda seen: (200, b"<html>Sign in</html>")

    with pytest.raises(DataSourceError, match=r"/items: the answer is not JSON .*Sign in"):
        rows_of({"url": api_server.url("/items")})


def test_a_records_path_that_finds_no_list_fails(api_server) -> None:
    api_server.routes["/items"] = lambda seen: (200, {"data": {"items": items(1)}})

    with pytest.raises(
        DataSourceError, match=r'list of records at "records" \(items\), found nothing'
    ):
        rows_of({"url": api_server.url("/items"), "records": "items"})
    with pytest.raises(DataSourceError, match="found a dict"):
        rows_of({"url": api_server.url("/items"), "records": "data"})


def test_a_redirect_is_not_followed(api_server) -> None:
    api_server.routes["/old"] = lambda seen: (301, {}, {"Location": "/new"})

    with pytest.raises(DataSourceError, match=r"answered 301 .*redirecting to /new"):
        rows_of({"url": api_server.url("/old")})


# --- secrets ---------------------------------------------------------------------------------


def secret_config(api_server, path="/items"):
    return {
        "url": api_server.url(path),
        "headers": {
            "Accept": "application/json",
            "Authorization": {"env": "BILLING_API_TOKEN", "prefix": "Bearer "},
        },
    }


def test_a_header_from_an_environment_variable_reaches_the_server(api_server, monkeypatch):
    monkeypatch.setenv("BILLING_API_TOKEN", SECRET)
    api_server.routes["/items"] = lambda seen: (200, items(1))

    message = adapter.test(query="", config=secret_config(api_server), organization_id=None)

    assert api_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert (
        message
        == f"OK: GET {api_server.url('/items')} answered 200 with 1 records on the first page"
    )
    assert SECRET not in message


def test_the_secret_never_shows_in_errors_even_when_the_server_echoes_it(api_server, monkeypatch):
    monkeypatch.setenv("BILLING_API_TOKEN", SECRET)
    api_server.routes["/items"] = lambda seen: (401, {"bad token": seen.headers["authorization"]})

    for attempt in (
        lambda: rows_of(secret_config(api_server)),
        lambda: adapter.test(query="", config=secret_config(api_server), organization_id=None),
    ):
        with pytest.raises(DataSourceError) as failure:
            attempt()
        assert "answered 401 Unauthorized (check the credentials)" in str(failure.value)
        assert "Bearer [secret]" in str(failure.value)
        assert SECRET not in str(failure.value)


def test_a_missing_environment_variable_is_named(api_server, monkeypatch) -> None:
    monkeypatch.delenv("BILLING_API_TOKEN", raising=False)

    with pytest.raises(DataSourceError, match="environment variable BILLING_API_TOKEN"):
        rows_of(secret_config(api_server))
    assert api_server.requests == []


def test_the_secret_is_not_sent_to_another_origin(api_server, settings, monkeypatch) -> None:
    settings.DATASOURCE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    monkeypatch.setenv("BILLING_API_TOKEN", SECRET)
    elsewhere = api_server.url("/more", host="localhost")
    api_server.routes["/items"] = lambda seen: (200, {"data": items(1), "next": elsewhere})
    api_server.routes["/more"] = lambda seen: (200, {"data": items(2), "next": None})
    config = {
        **secret_config(api_server),
        "records": "data",
        "pagination": {"type": "next_link", "path": "next"},
    }

    assert [row[0] for row in rows_of(config)] == [1, 2]
    first, second = api_server.requests
    assert first.headers["authorization"] == f"Bearer {SECRET}"
    assert "authorization" not in second.headers
    assert second.headers["accept"] == "application/json"


def test_a_credential_written_into_the_config_is_refused() -> None:
    config = {"url": "https://93.184.215.14/items", "headers": {"X-Api-Key": SECRET}}

    with pytest.raises(DataSourceError, match=r'looks like a credential: .*\{"env"'):
        adapter.validate_config(query="", config=config, organization_id=None)


def test_a_secret_hidden_in_a_header_prefix_is_refused() -> None:
    header = {"env": "EMPTY_VARIABLE", "prefix": f"Bearer {SECRET}"}
    config = {"url": "https://93.184.215.14/items", "headers": {"Authorization": header}}

    with pytest.raises(DataSourceError, match=r'a scheme word such as "Bearer "'):
        adapter.validate_config(query="", config=config, organization_id=None)


# --- parameters ------------------------------------------------------------------------------


def test_url_parameters_arrive_encoded_as_one_value(api_server) -> None:
    api_server.routes["/customers/x%2F..%2Fadmin/items"] = lambda seen: (200, items(1))
    api_server.routes["/customers/x/items"] = lambda seen: (200, items(1))
    config = {"url": api_server.url("/customers/{customer}/items?from={start}&kind=a")}

    assert adapter.parameter_names(query="", config=config) == {"customer", "start"}
    rows_of(config, {"customer": "x", "start": "a&b=c"})
    rows_of(config, {"customer": "x/../admin", "start": "2025-01-01"})

    first, second = api_server.requests
    assert first.query == {"from": ["a&b=c"], "kind": ["a"]}
    assert second.path == "/customers/x%2F..%2Fadmin/items"


def test_a_post_body_takes_parameters_as_whole_json_values(api_server) -> None:
    api_server.routes["/search"] = lambda seen: (200, {"hits": items(1)})
    config = {
        "method": "POST",
        "url": api_server.url("/search"),
        "body": {
            "filter": {"from": {"$param": "start"}, "ids": {"$param": "ids"}},
            "text": "{start}",
            "size": 100,
        },
        "records": "hits",
    }

    assert adapter.parameter_names(query="", config=config) == {"start", "ids"}
    rows_of(config, {"start": '2025-01-01", "admin": true', "ids": [1, 2]})

    seen = api_server.requests[0]
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == {
        "filter": {"from": '2025-01-01", "admin": true', "ids": [1, 2]},
        "text": "{start}",
        "size": 100,
    }


# --- outbound rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://10.0.0.1/items", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ],
)
def test_internal_addresses_are_refused_before_any_request(settings, url, kind) -> None:
    settings.DATASOURCE_ALLOWED_HOSTS = ["127.0.0.1"]
    refusal = rf"not a public address \({kind}\)"

    with pytest.raises(DataSourceError, match=refusal):
        adapter.validate_config(query="", config={"url": url}, organization_id=None)
    started = time.monotonic()
    with pytest.raises(DataSourceError, match=refusal):
        rows_of({"url": url, "timeout": 5, "retries": 3})
    assert time.monotonic() - started < 1  # refused, not a connection that timed out


def test_only_http_and_https_are_requested() -> None:
    with pytest.raises(DataSourceError, match="not file"):
        adapter.validate_config(
            query="", config={"url": "file:///etc/passwd"}, organization_id=None
        )
    with pytest.raises(DataSourceError, match="not file"):
        rows_of({"url": "file:///etc/passwd"})


def test_loopback_needs_the_data_source_allowed_hosts_setting(api_server, settings) -> None:
    settings.DATASOURCE_ALLOWED_HOSTS = []
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]  # the webhooks' list does not count here
    config = {"url": api_server.url("/items")}

    with pytest.raises(DataSourceError, match=r"not a public address \(loopback\)"):
        adapter.validate_config(query="", config=config, organization_id=None)
    with pytest.raises(DataSourceError, match=r"not a public address \(loopback\)"):
        rows_of(config)
    assert api_server.requests == []


def test_a_next_link_to_an_internal_address_is_refused(api_server) -> None:
    link = "http://169.254.169.254/latest/meta-data/"
    api_server.routes["/items"] = lambda seen: (200, {"data": items(1), "next": link})
    config = {
        "url": api_server.url("/items"),
        "records": "data",
        "pagination": {"type": "next_link", "path": "next"},
    }

    with pytest.raises(DataSourceError, match=rf"GET {link}: .*link-local"):
        rows_of(config)
    assert len(api_server.requests) == 1


# --- columns ---------------------------------------------------------------------------------


INVOICES = [
    {
        "id": "17",
        "total": "12.50",
        "paid": True,
        "due": "2025-03-01",
        "sent": "2025-02-01T09:30:00Z",
        "customer": {"name": "Acme", "address": {"city": "Lyon"}},
        "lines": [{"sku": "A"}],
    },
    {
        "id": 18,
        "total": 7,
        "paid": "false",
        "due": None,
        "sent": "2025-02-02T10:00:00+01:00",
        "customer": {"name": "Globex", "address": {"city": "Graz"}},
        "lines": [],
    },
]


def test_configured_columns_take_their_types_from_the_config(api_server) -> None:
    api_server.routes["/invoices"] = lambda seen: (200, {"invoices": INVOICES})
    config = {
        "url": api_server.url("/invoices"),
        "records": "invoices",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "total", "type": "number"},
            {"name": "paid", "type": "boolean"},
            {"name": "due", "type": "date"},
            {"name": "sent", "type": "datetime"},
            {"name": "city", "path": "customer.address.city"},
            {"name": "skus", "path": "lines[].sku", "type": "json"},
        ],
    }

    columns, batches = read(config)

    assert [(column.name, column.type) for column in columns] == [
        ("id", "integer"),
        ("total", "number"),
        ("paid", "boolean"),
        ("due", "date"),
        ("sent", "datetime"),
        ("city", "string"),
        ("skus", "json"),
    ]
    assert batches == [
        [
            [
                17,
                12.5,
                True,
                date(2025, 3, 1),
                datetime(2025, 2, 1, 9, 30, tzinfo=UTC),
                "Lyon",
                ["A"],
            ],
            [18, 7, False, None, datetime(2025, 2, 2, 9, 0, tzinfo=UTC), "Graz", []],
        ]
    ]


def test_without_columns_the_first_record_gives_them_flattened_and_typed(api_server) -> None:
    records = [
        {"id": 1, "amount": 3, "on": "2025-03-01", "customer": {"name": "Acme", "vip": True}},
        {"id": 2, "amount": 4.5, "on": "2025-03-02", "customer": {"name": "Globex", "vip": False}},
    ]
    api_server.routes["/orders"] = lambda seen: (200, records)

    columns, batches = read({"url": api_server.url("/orders")})

    assert columns == [
        Column("id", "integer"),
        Column("amount", "number"),
        Column("on", "date"),
        Column("customer.name"),
        Column("customer.vip", "boolean"),
    ]
    assert batches == [
        [
            [1, 3, date(2025, 3, 1), "Acme", True],
            [2, 4.5, date(2025, 3, 2), "Globex", False],
        ]
    ]


def test_a_value_that_does_not_fit_its_column_type_is_an_error(api_server) -> None:
    api_server.routes["/items"] = lambda seen: (200, [{"id": "seventeen"}])
    config = {"url": api_server.url("/items"), "columns": [{"name": "id", "type": "integer"}]}

    with pytest.raises(DataSourceError, match=r"record 1: 'seventeen' in the column 'id' is not"):
        rows_of(config)


def test_spooled_rows_read_back_typed(api_server, tmp_path) -> None:
    api_server.routes["/invoices"] = lambda seen: (200, INVOICES)
    config = {
        "url": api_server.url("/invoices"),
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "paid", "type": "boolean"},
            {"name": "due", "type": "date"},
            {"name": "customer", "path": "customer.name"},
            {"name": "lines", "type": "json"},
        ],
    }
    path = tmp_path / "table.csv"

    columns, row_count = adapter.spool(
        query="", config=config, parameters={}, organization_id=None, path=path
    )

    table = SpooledTable(name="invoices", title="Invoices", columns=columns, path=path)
    assert row_count == 2
    assert list(table.rows()) == [
        [17, True, date(2025, 3, 1), "Acme", [{"sku": "A"}]],
        [18, False, None, "Globex", []],
    ]


# --- config and test -------------------------------------------------------------------------


def test_test_reports_the_status_and_the_first_page_count(api_server) -> None:
    api_server.routes["/items"] = lambda seen: (200, {"data": items(1, 2, 3), "next": "/items?p=2"})
    config = {
        "url": api_server.url("/items?from={start}"),
        "records": "data",
        "pagination": {"type": "next_link", "path": "next"},
    }

    message = adapter.test(query="", config=config, organization_id=None)

    assert message == (
        f"OK: GET {api_server.url('/items?from=')} answered 200 with 3 records on the first "
        "page (parameters left empty: start)"
    )
    assert len(api_server.requests) == 1


@pytest.mark.parametrize(
    ("query", "config", "message"),
    [
        ("select 1", {"url": "https://93.184.215.14/"}, "takes no query"),
        ("", {"url": "https://93.184.215.14/", "verb": "GET"}, "Unknown config key 'verb'"),
        ("", {"url": "https://93.184.215.14/", "method": "PUT"}, '"GET" or "POST"'),
        ("", {"url": "https://93.184.215.14/", "body": {}}, "Only a POST sends"),
        ("", {}, 'Give the "url"'),
        ("", {"url": "https://{host}/items"}, "not in its host"),
        ("", {"url": "https://me:pw@93.184.215.14/"}, "No user name or password"),
        ("", {"url": "https://93.184.215.14/{not-valid}"}, "Braces in the URL"),
        ("", {"url": "https://93.184.215.14/", "records": "data["}, "not valid JMESPath"),
        ("", {"url": "https://93.184.215.14/", "pagination": {"type": "offset"}}, "pagination"),
        ("", {"url": "https://93.184.215.14/", "max_pages": 0}, '"max_pages" must be'),
        ("", {"url": "https://93.184.215.14/", "timeout": 0}, '"timeout" must be'),
        (
            "",
            {"url": "https://93.184.215.14/", "columns": [{"name": "a", "type": "money"}]},
            "unknown type 'money'",
        ),
        (
            "",
            {"method": "POST", "url": "https://93.184.215.14/", "body": {"$param": 1}},
            "marker holds one parameter name",
        ),
    ],
)
def test_a_config_that_can_never_work_is_refused(query, config, message) -> None:
    with pytest.raises(DataSourceError, match=message):
        adapter.validate_config(query=query, config=config, organization_id=None)
