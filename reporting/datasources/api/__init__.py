"""`api` data sources: records from an HTTP(S) JSON endpoint, read page by page.

There is no query; the config holds the request:

    {"method": "GET",                       # or "POST"
     "url": "https://billing.example.com/v1/items?from={start_date}",
     "headers": {"Accept": "application/json",
                 "Authorization": {"env": "BILLING_API_TOKEN", "prefix": "Bearer "}},
     "body": {"filter": {"from": {"$param": "start_date"}}},      # POST only
     "records": "data.items",               # JMESPath to the list; default: the body itself
     "columns": [{"name": "id", "path": "id", "type": "integer"}], # optional; path: the name
     "pagination": {"type": "next_link", "path": "links.next"},   # optional, or
                   {"type": "page", "param": "page", "start": 1} | # until a page has no records
                   {"type": "cursor", "path": "meta.next_cursor", "param": "cursor"},
     "max_pages": 100, "timeout": 30, "retries": 3}

Parameters are data: `{name}` in the URL's path or query takes the URL-encoded value (a list
joins with commas, a missing one is empty), `{"$param": "name"}` in the body is replaced by the
value as a whole JSON value (null when missing). Secrets never sit in the config: a header
names the environment variable that holds it, is sent only to the configured URL's origin (a
next link elsewhere gets the plain headers) and is blanked out of every message. Page and
cursor parameters go in the query string; at most "max_pages" pages are read. Without
"columns", the first record's keys are the columns (nested objects flattened to dotted names)
typed from the first page's values. Every URL is checked against the outbound rules
(config.outbound, DATASOURCE_ALLOWED_HOSTS) right before it is requested, and the connection
goes to the checked addresses. Connection errors, timeouts, 429 and 5xx are retried with
exponential backoff (Retry-After honoured up to a cap); redirects are not followed. One page's
records are one batch.
"""

from collections.abc import Mapping
from itertools import chain
from typing import Any

from django.conf import settings

from config.outbound import OutboundURLError, outbound_url_addresses
from reporting.datasources.api.client import Session, shown
from reporting.datasources.api.columns import inferred_columns
from reporting.datasources.api.config import (
    PLACEHOLDER,
    api_config,
    body_parameters,
    url_filled,
)
from reporting.datasources.api.pages import page_rows, pages_read
from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    SpoolsItsStream,
)


class ApiAdapter(SpoolsItsStream):
    source_type = "api"

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None:
        api = api_config(query, config)
        url = url_filled(api.url, {})
        try:
            outbound_url_addresses(url, allowed_hosts=settings.DATASOURCE_ALLOWED_HOSTS)
        except OutboundURLError as error:
            raise DataSourceError(f"{shown(url)}: {error}") from None

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]:
        api = api_config(query, config)
        return set(PLACEHOLDER.findall(api.url)) | body_parameters(api.body)

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream:
        api = api_config(query, config)
        session = Session(api)
        pages = pages_read(session, parameters)
        first = next(pages)
        specs = api.columns or inferred_columns(first.records)
        if not specs:  # no records and no "columns": nothing to name the columns after
            pages.close()
            return RowStream(columns=[], batches=iter(()))
        batches = (page_rows(session, specs, page) for page in chain([first], pages))
        return RowStream(columns=[spec.column for spec in specs], batches=batches)

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        self.validate_config(query=query, config=config, organization_id=organization_id)
        api = api_config(query, config)
        session = Session(api)
        first = next(pages_read(session, {}))
        message = (
            f"OK: {api.method} {shown(first.url)} answered {first.status} with "
            f"{len(first.records)} records on the first page"
        )
        empty = sorted(self.parameter_names(query=query, config=config))
        if empty:
            message += f" (parameters left empty: {', '.join(empty)})"
        return session.redacted(message)
