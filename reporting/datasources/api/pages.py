"""An api source's pages, followed as its pagination says, and their records as rows."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from jmespath.exceptions import JMESPathError

from reporting.datasources.api.client import EXCERPT, Session
from reporting.datasources.api.columns import ColumnSpec, typed
from reporting.datasources.api.config import Pagination, body_bytes, url_filled, with_query


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    records: list[Any]


def pages_read(session: Session, parameters: Mapping[str, Any]) -> Iterator[Page]:
    api = session.api
    first_url = url_filled(api.url, parameters)
    body = body_bytes(api.body, parameters)
    url: str | None = _page_url(api.pagination, first_url, 0)
    for number in range(api.max_pages):
        if url is None:
            return
        status, payload = session.fetch(url, body)
        page = Page(url=url, status=status, records=_records(session, url, payload))
        yield page
        url = _next_url(session, api.pagination, first_url, page, payload, number + 1)


def _page_url(pagination: Pagination | None, first_url: str, index: int) -> str:
    if pagination is None or pagination.type != "page":
        return first_url
    return with_query(first_url, pagination.param, pagination.start + index)


def _next_url(
    session: Session,
    pagination: Pagination | None,
    first_url: str,
    page: Page,
    payload: Any,
    index: int,
) -> str | None:
    if pagination is None or (pagination.type == "page" and not page.records):
        return None
    if pagination.type == "page":
        return _page_url(pagination, first_url, index)
    found = _search(session, page.url, pagination.path, payload)
    if found in (None, ""):
        return None
    if pagination.type == "cursor":
        return with_query(first_url, pagination.param, found)
    if not isinstance(found, str):
        raise session.error(page.url, f"the next link is not a URL: {found!r}")
    return urljoin(page.url, found)


def _records(session: Session, url: str, payload: Any) -> list[Any]:
    expression = session.api.records
    records = payload if expression is None else _search(session, url, expression, payload)
    if not isinstance(records, list):
        where = f'"records" ({expression.expression})' if expression else "the top of the answer"
        found = "nothing" if records is None else f"a {type(records).__name__}"
        raise session.error(url, f"expected a list of records at {where}, found {found}.")
    return records


def _search(session: Session, url: str, expression: Any, payload: Any) -> Any:
    try:
        return expression.search(payload)
    except JMESPathError as error:
        raise session.error(url, f"{expression.expression!r} failed: {error}") from None


def page_rows(session: Session, specs: list[ColumnSpec], page: Page) -> list[list[Any]]:
    rows = []
    for number, record in enumerate(page.records, start=1):
        row = []
        for spec in specs:
            value = spec.value(record)
            try:
                row.append(typed(value, spec.column.type))
            except (TypeError, ValueError):
                raise session.error(
                    page.url,
                    f"record {number}: {str(value)[:EXCERPT]!r} in the column "
                    f"{spec.column.name!r} is not a {spec.column.type} (set its type in "
                    f'"columns").',
                ) from None
        rows.append(row)
    return rows
