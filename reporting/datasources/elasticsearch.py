"""`elasticsearch` data sources: the hits or the aggregations of a search, as rows.

There is no query text; the config holds the search:

    {"cluster": "default", "index": "events-*", "shape": "hits",
     "query": {"bool": {"filter": [{"term": {"user.id": {"$param": "user_id"}}}]}},
     "fields": ["user.id", "@timestamp"], "sort": [{"@timestamp": "asc"}], "limit": 100000}

- `cluster`: "default" (settings.ELASTICSEARCH_URL) or a name in settings.ELASTICSEARCH_CLUSTERS
  (name -> URL). URLs and credentials stay in the environment, never in the database. The
  organisation must be granted the cluster (reporting.connections), checked when the source is
  saved, tested and read.
- `index` (required): an index, alias or pattern (`events-*`, `a,b`).
- `query`: Elasticsearch query DSL; match_all without it.
- `shape`: "hits" (the default) or "aggregations".
- `fields` (hits, required): the fields read as columns, dotted for nested objects
  (`user.id` reads `{"user": {"id": …}}` or a literal `"user.id"` key); a missing field is NULL.
- `sort` (hits): sort clauses; `_shard_doc` is added as the tiebreaker `search_after` needs.
- `aggs` (aggregations, required): the aggregations DSL (see below).
- `limit` (hits): at most this many rows.

Parameters are JSON values: an object that is exactly `{"$param": "name"}`, anywhere in `query`,
`sort` or `aggs`, is replaced by the parameter's value as a whole (a string stays one string,
a list stays a list); nothing is spliced into text. A parameter without a value is null.

Hits are read through a point in time (PIT) with `search_after`, a page of up to `batch_size`
(at most 10,000) hits per request, so any number of hits streams with one page in memory and
reads one consistent snapshot; the PIT is closed at the end, on error and when the stream is
closed early. Column types come from the first page's values: integer, number, boolean, date
and datetime (ISO 8601 text), json (objects and arrays), else string; a later value that does
not fit its column's type fails the run, naming the field.

Aggregations are one search (size 0). Supported shape: a chain of bucket aggregations, one per
level (`terms`, `date_histogram`, `histogram`), each holding the next in its `aggs`, with
metrics (avg, sum, min, max, value_count, cardinality) at any level. One row per innermost
bucket: each bucket aggregation's key as a column named after it (date_histogram keys as UTC
datetimes), `doc_count` of the innermost bucket, and each metric as a number column named after
it (an outer level's metrics repeat on each row below). Metrics alone give one row. The rows
are as many as the buckets Elasticsearch returns, bounded by each `terms` aggregation's `size`.

`test` reads the cluster's name and version and the index's document count.
Targets Elasticsearch 8.x through the `elasticsearch` 8 client.
"""

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from elasticsearch import ApiError, Elasticsearch, TransportError

from reporting.connections import connection_check
from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    SpoolsItsStream,
    config_keys_check,
)
from reporting.tables import Column

SHAPES = ("hits", "aggregations")
CONFIG_KEYS = {
    "cluster": 'a name in settings.ELASTICSEARCH_CLUSTERS, "default" by default',
    "index": "the index, alias or pattern",
    "query": "the query DSL; {'$param': name} for a parameter's value",
    "shape": ", ".join(SHAPES),
    "fields": "hits: the fields read as columns",
    "sort": "hits: sort clauses",
    "aggs": "aggregations: the aggregations DSL",
    "limit": "hits: the most rows to read",
}
BUCKET_AGGREGATIONS = ("terms", "date_histogram", "histogram")
METRIC_AGGREGATIONS = ("avg", "sum", "min", "max", "value_count", "cardinality")
MAX_PAGE = 10_000  # index.max_result_window's default: a larger page is refused
KEEP_ALIVE = "2m"  # per page: a slow renderer between pages must not lose the PIT
REQUEST_TIMEOUT = 60

logger = logging.getLogger(__name__)


class ElasticsearchAdapter(SpoolsItsStream):
    source_type = "elasticsearch"

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None:
        if query.strip():
            raise DataSourceError(
                'An elasticsearch data source takes no query text: its config holds the "query".'
            )
        search = _search_config(config)
        connection_check(
            organization_id=organization_id, kind="elasticsearch", name=search["cluster"]
        )

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]:
        search = _search_config(config)
        return _placeholders([search.get("query"), search.get("sort"), search.get("aggs")])

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream:
        self.validate_config(query=query, config=config, organization_id=organization_id)
        search = _search_config(config)
        body = {
            key: _placed(search[key], parameters)
            for key in ("query", "sort", "aggs")
            if key in search
        }
        pages = (
            _hit_pages(search, body, min(batch_size, MAX_PAGE))
            if search["shape"] == "hits"
            else _aggregation_pages(search, body)
        )
        columns = next(pages)  # runs up to the first page, so its errors surface here
        return RowStream(columns=columns, batches=pages)

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        self.validate_config(query=query, config=config, organization_id=organization_id)
        search = _search_config(config)
        with _client(search) as client:
            info = client.info()
            count = client.count(index=search["index"])["count"]
        return (
            f"OK: Elasticsearch {info['version']['number']} (cluster {info['cluster_name']!r}); "
            f"{search['index']!r} holds {count:,} documents"
        )


# --- config ----------------------------------------------------------------------------------


def _search_config(config: Mapping[str, Any]) -> dict[str, Any]:
    config_keys_check(config, allowed=CONFIG_KEYS, kind="elasticsearch")
    search = {"cluster": "default", "shape": "hits", **config}
    _cluster_url(search["cluster"])
    if not isinstance(search.get("index"), str) or not search["index"].strip():
        raise DataSourceError('The config needs an "index": an index name, alias or pattern.')
    if search["shape"] not in SHAPES:
        raise DataSourceError(f'"shape" must be one of {", ".join(SHAPES)}.')
    for key in ("query", "aggs"):
        if key in search and not isinstance(search[key], Mapping):
            raise DataSourceError(f'"{key}" must be a JSON object in the Elasticsearch DSL.')
    if search["shape"] == "hits":
        _hits_config_check(search)
    else:
        _aggregation_levels(search.get("aggs"))
    _placeholders([search.get("query"), search.get("sort"), search.get("aggs")])
    return search


def _hits_config_check(search: Mapping[str, Any]) -> None:
    fields = search.get("fields")
    if not fields or not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise DataSourceError('Hits need "fields": a list of field names, dotted when nested.')
    if "aggs" in search:
        raise DataSourceError('"aggs" is for the "aggregations" shape only.')
    if "sort" in search and not isinstance(search["sort"], list):
        raise DataSourceError('"sort" must be a list of sort clauses.')
    limit = search.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise DataSourceError('"limit" must be a positive whole number.')


def _cluster_url(name: Any) -> str:
    clusters = {
        "default": settings.ELASTICSEARCH_URL,
        **getattr(settings, "ELASTICSEARCH_CLUSTERS", {}),
    }
    if not isinstance(name, str) or name not in clusters:
        raise DataSourceError(
            f"Unknown Elasticsearch cluster {name!r}: choose one of {', '.join(sorted(clusters))}."
        )
    return clusters[name]


# --- parameters ------------------------------------------------------------------------------


def _placeholder(value: Any) -> str | None:
    if isinstance(value, Mapping) and "$param" in value:
        name = value["$param"]
        if len(value) != 1 or not isinstance(name, str) or not name:
            raise DataSourceError(
                'A parameter is placed as an object that is exactly {"$param": "name"}.'
            )
        return name
    return None


def _placeholders(value: Any) -> set[str]:
    name = _placeholder(value)
    if name is not None:
        return {name}
    if isinstance(value, Mapping):
        return set().union(*(_placeholders(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_placeholders(item) for item in value))
    return set()


def _placed(value: Any, parameters: Mapping[str, Any]) -> Any:
    name = _placeholder(value)
    if name is not None:
        return parameters.get(name)
    if isinstance(value, Mapping):
        return {key: _placed(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [_placed(item, parameters) for item in value]
    return value


# --- the client and its failures -------------------------------------------------------------


@contextmanager
def _client(search: Mapping[str, Any]) -> Iterator[Elasticsearch]:
    """A client for the search's cluster; its failures become DataSourceErrors naming both."""
    url = _cluster_url(search["cluster"])
    where = f"Elasticsearch cluster {search['cluster']!r} ({_host(url)}), index {search['index']!r}"
    client = Elasticsearch(url, request_timeout=REQUEST_TIMEOUT, max_retries=1)
    try:
        yield client
    except ApiError as error:
        raise DataSourceError(f"{where}: {_api_cause(error)}") from error
    except TransportError as error:
        raise DataSourceError(f"{where} could not be reached: {error.message}") from error
    finally:
        client.close()


def _host(url: str) -> str:
    parts = urlsplit(url)  # the URL's user and password are not for messages
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _api_cause(error: ApiError) -> str:
    details = error.body.get("error") if isinstance(error.body, Mapping) else None
    if not isinstance(details, Mapping):
        return f"{error.message} (HTTP {error.status_code})"
    cause = (details.get("root_cause") or [details])[0]
    kind, reason = (
        cause.get("type", details.get("type")),
        cause.get("reason", details.get("reason")),
    )
    return f"{kind}: {reason} (HTTP {error.status_code})"


# --- hits ------------------------------------------------------------------------------------


def _hit_pages(search: Mapping[str, Any], body: dict[str, Any], page_size: int) -> Iterator[Any]:
    """Yields the columns (typed from the first page), then one batch of rows per page."""
    fields, limit = search["fields"], search.get("limit")
    body = {**body, "sort": [*body.get("sort", []), {"_shard_doc": "asc"}], "source": fields}
    with _client(search) as client:
        pit = {"id": client.open_point_in_time(index=search["index"], keep_alive=KEEP_ALIVE)["id"]}
        try:
            columns = None
            for rows in _hit_rows(client, pit, body, page_size, limit):
                if columns is None:
                    columns = _typed_columns(fields, rows)
                    yield columns
                if rows:
                    yield [_typed_row(columns, row) for row in rows]
        finally:
            _pit_close(client, pit["id"])


def _hit_rows(
    client: Elasticsearch, pit: dict[str, str], body: dict[str, Any], page_size: int, limit: Any
) -> Iterator[list[list[Any]]]:
    """Each page's rows (the first even when empty); `pit["id"]` follows the id each page gives."""
    read, search_after = 0, None
    while limit is None or read < limit:
        size = page_size if limit is None else min(page_size, limit - read)
        response = client.search(
            pit={"id": pit["id"], "keep_alive": KEEP_ALIVE},
            size=size,
            search_after=search_after,
            track_total_hits=False,
            **body,
        )
        pit["id"] = response.get("pit_id", pit["id"])  # a PIT's id may change between pages
        hits = response["hits"]["hits"]
        yield [[_field(hit.get("_source") or {}, name) for name in body["source"]] for hit in hits]
        if len(hits) < size:
            return
        read, search_after = read + len(hits), hits[-1]["sort"]


def _pit_close(client: Elasticsearch, pit_id: str) -> None:
    try:
        client.close_point_in_time(id=pit_id)
    except (ApiError, TransportError):
        # The PIT expires after KEEP_ALIVE anyway; the rows (or the first error) matter more.
        logger.warning("Could not close an Elasticsearch point in time", exc_info=True)


def _field(source: Mapping[str, Any], name: str) -> Any:
    if name in source:
        return source[name]
    head, _, rest = name.partition(".")
    while rest:
        inner = source.get(head)
        if isinstance(inner, Mapping):
            return _field(inner, rest)
        next_head, _, rest = rest.partition(".")
        head = f"{head}.{next_head}"  # a key with a dot in it: {"user.name": {"first": …}}
    return None


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, Mapping | list):
        return "json"
    if isinstance(value, str):
        return _text_type(value)
    return "string"


def _text_type(text: str) -> str:
    # fromisoformat alone would take "20250301" (a number kept as text) for a date
    if len(text) < 10 or not text[:4].isdigit() or text[4] != "-":
        return "string"
    try:
        if len(text) == 10:
            date.fromisoformat(text)
            return "date"
        datetime.fromisoformat(text)
    except ValueError:
        return "string"
    return "datetime"


def _column_type(values: Sequence[Any]) -> str:
    kinds = {_value_type(value) for value in values if value is not None}
    if kinds == {"integer", "number"}:
        return "number"
    if kinds == {"date", "datetime"}:
        return "datetime"
    if len(kinds) == 1:
        return kinds.pop()
    return "json" if "json" in kinds else "string"


def _typed_columns(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Column]:
    return [Column(name, _column_type([row[i] for row in rows])) for i, name in enumerate(names)]


def _typed_row(columns: Sequence[Column], row: Sequence[Any]) -> list[Any]:
    return [_typed(column, value) for column, value in zip(columns, row, strict=True)]


def _typed(column: Column, value: Any) -> Any:
    if value is None or column.type == "json":
        return value
    kind = _value_type(value)
    if column.type == "string":
        return value if isinstance(value, str) else str(value)
    if column.type == "number" and kind in ("integer", "number"):
        return float(value)
    if column.type == "integer" and kind == "number" and value.is_integer():
        return int(value)
    if column.type == "datetime" and kind in ("date", "datetime"):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if column.type == "date" and kind == "date":
        return date.fromisoformat(value)
    if kind == column.type:
        return value
    raise DataSourceError(
        f"The field {column.name!r} held {column.type} values in the first page but {value!r} "
        "later: sort or filter so the first page shows its type, or read another field."
    )


# --- aggregations ----------------------------------------------------------------------------

Level = tuple[list[str], tuple[str, str] | None]  # its metrics' names, its (bucket name, kind)


def _aggregation_levels(aggs: Any) -> list[Level]:
    """The aggregation chain, outermost first; the last level has no bucket aggregation."""
    if not isinstance(aggs, Mapping) or not aggs:
        raise DataSourceError('Aggregations need "aggs": an object of named aggregations.')
    levels: list[Level] = []
    while True:
        kinds = {name: _aggregation_kind(name, spec) for name, spec in aggs.items()}
        buckets = [(name, kind) for name, kind in kinds.items() if kind in BUCKET_AGGREGATIONS]
        if len(buckets) > 1:
            raise DataSourceError(
                f"Aggregations {', '.join(repr(name) for name, _ in buckets)} sit side by side: "
                'one bucket aggregation per level, the next nested in its "aggs".'
            )
        metrics = [name for name, kind in kinds.items() if kind in METRIC_AGGREGATIONS]
        levels.append((metrics, buckets[0] if buckets else None))
        if not buckets:
            return levels
        inner = aggs[buckets[0][0]]
        aggs = inner.get("aggs") or inner.get("aggregations") or {}


def _aggregation_kind(name: str, spec: Any) -> str:
    nested = ("aggs", "aggregations")
    kinds = [key for key in spec if key not in nested] if isinstance(spec, Mapping) else []
    supported = (*BUCKET_AGGREGATIONS, *METRIC_AGGREGATIONS)
    if len(kinds) != 1 or kinds[0] not in supported:
        raise DataSourceError(
            f"The aggregation {name!r} is not one this source turns into rows: use one of "
            f"{', '.join(supported)}."
        )
    if kinds[0] in METRIC_AGGREGATIONS and any(key in spec for key in nested):
        raise DataSourceError(f"The metric aggregation {name!r} cannot hold other aggregations.")
    return kinds[0]


def _aggregation_pages(search: Mapping[str, Any], body: dict[str, Any]) -> Iterator[Any]:
    levels = _aggregation_levels(body["aggs"])
    with _client(search) as client:
        response = client.search(index=search["index"], size=0, track_total_hits=True, **body)
    top = {**(response.get("aggregations") or {}), "doc_count": response["hits"]["total"]["value"]}
    rows = list(_bucket_rows(levels, top, [], []))
    buckets = [bucket for _, bucket in levels if bucket]
    columns = [
        *(
            Column(name, _key_type(kind, [row[i] for row in rows]))
            for i, (name, kind) in enumerate(buckets)
        ),
        Column("doc_count", "integer"),
        *(Column(name, "number") for metrics, _ in levels for name in metrics),
    ]
    yield columns
    if rows:
        yield [_typed_row(columns, row) for row in rows]


def _bucket_rows(
    levels: list[Level], result: Mapping[str, Any], keys: list[Any], metrics: list[Any]
) -> Iterator[list[Any]]:
    (names, bucket), *inner = levels
    metrics = [*metrics, *(_metric_value(result.get(name)) for name in names)]
    if bucket is None:
        yield [*keys, result.get("doc_count"), *metrics]
        return
    name, kind = bucket
    for entry in (result.get(name) or {}).get("buckets", []):
        yield from _bucket_rows(inner, entry, [*keys, _bucket_key(kind, entry)], metrics)


def _metric_value(result: Any) -> Any:
    return result.get("value") if isinstance(result, Mapping) else None


def _bucket_key(kind: str, entry: Mapping[str, Any]) -> Any:
    key = entry.get("key")
    if kind == "date_histogram":
        return datetime.fromtimestamp(key / 1000, tz=UTC).isoformat()
    if entry.get("key_as_string") in ("true", "false"):  # terms on a boolean field: keys 1 and 0
        return entry["key_as_string"] == "true"
    return key


def _key_type(kind: str, keys: Sequence[Any]) -> str:
    if kind == "date_histogram":
        return "datetime"
    if kind == "histogram":
        return "number"
    return _column_type(keys)
