"""An HTTP server answering the Elasticsearch 8 endpoints the `elasticsearch` data source uses.

No Elasticsearch can be installed where these tests run, so this server stands in for one, driven
through the official client. It answers as the Elasticsearch 8 REST reference documents:

    GET  /                          cluster info, with `X-Elastic-Product: Elasticsearch`
    POST /{index}/_pit?keep_alive=  opens a point in time over a snapshot of the matching indices
    DELETE /_pit                    closes one ({"id": ...})
    POST /_search                   with "pit": sorted by "sort" + `_shard_doc`, `search_after`
    POST /{index}/_search           query, size, `_source` includes, aggs
    POST /{index}/_count            the hit count

and the ones the execution sync uses:

    PUT  /_index_template/{name}    stores an index template (patterns, mappings, aliases)
    GET  /_index_template/{name}    {"index_templates": [{"name", "index_template"}]}
    POST /_bulk                     NDJSON `index` actions; per-item results, `errors` when any
                                    failed; a new index gets the aliases of matching templates
    GET  /{index}/_doc/{id}         one document by id (index or alias)
    GET  /_alias/{name}             the indices behind an alias
    POST /{index}/_refresh          nothing to do: documents are searchable at once

Documents live in memory (`load`, or `_bulk` with ids). An outage is `failing = 503` (every
request answers that status) and a refused document is an id in `refuse_ids` (its bulk item
fails with the 400 `document_parsing_exception`).

Queries: match_all, term, terms, range, bool (must, filter, must_not); anything else is the 400
`parsing_exception` Elasticsearch gives. Aggregations: terms, date_histogram (calendar_interval
day/hour/month, fixed_interval Nd/Nh/Nm/Ns) and the metrics avg, sum, min, max, value_count,
cardinality. Every request is recorded in `requests`.
"""

import fnmatch
import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON_TYPE = "application/vnd.elasticsearch+json;compatible-with=8"
METRICS = ("avg", "sum", "min", "max", "value_count", "cardinality")


class EsError(Exception):
    def __init__(self, status: int, kind: str, reason: str, **extra: Any) -> None:
        self.status, self.kind, self.reason, self.extra = status, kind, reason, extra

    def body(self) -> dict[str, Any]:
        cause = {"type": self.kind, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any


@dataclass
class FakeElasticsearch:
    indices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pits: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    closed_pits: list[str] = field(default_factory=list)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, set[str]] = field(default_factory=dict)  # index -> its aliases
    ids: dict[str, dict[str, int]] = field(default_factory=dict)  # index -> id -> position
    failing: int | None = None
    refuse_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, index: str, documents: list[dict[str, Any]]) -> None:
        self.indices.setdefault(index, []).extend(documents)

    def searches(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.path.endswith("/_search")]

    # --- routes ----------------------------------------------------------------------------

    def answer(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(seen)
        if self.failing:
            raise EsError(self.failing, "unavailable_shards_exception", "the fake is failing")
        parts = [part for part in seen.path.split("/") if part]
        body = seen.body or {}
        if not parts and seen.method in ("GET", "HEAD"):
            return 200, self.info()
        if parts[:1] in (["_index_template"], ["_bulk"], ["_alias"]) or parts[1:2] in (
            ["_doc"],
            ["_refresh"],
        ):
            return self.answer_sync(seen.method, parts, seen.body)
        if parts == ["_pit"] and seen.method == "DELETE":
            return 200, self.pit_close(body["id"])
        if parts == ["_search"]:
            return 200, self.search(self.pit_documents(body), body)
        if len(parts) == 2 and parts[1] == "_pit":
            return 200, self.pit_open(parts[0])
        if len(parts) == 2 and parts[1] == "_search":
            return 200, self.search(self.documents(parts[0]), body)
        if len(parts) == 2 and parts[1] == "_count":
            matched = [doc for _, doc in self.documents(parts[0]) if matches(doc, body)]
            return 200, {"count": len(matched), "_shards": shards()}
        raise EsError(400, "illegal_argument_exception", f"no handler for {seen.path}")

    def answer_sync(self, method: str, parts: list[str], body: Any) -> tuple[int, dict[str, Any]]:
        if parts[0] == "_index_template" and method == "PUT":
            self.templates[parts[1]] = body
            return 200, {"acknowledged": True}
        if parts[0] == "_index_template" and parts[1] in self.templates:
            template = self.templates[parts[1]]
            return 200, {"index_templates": [{"name": parts[1], "index_template": template}]}
        if parts[0] == "_index_template":
            raise EsError(404, "resource_not_found_exception", f"index template [{parts[1]}]")
        if parts == ["_bulk"]:
            return 200, self.bulk(body)
        if parts[0] == "_alias":
            found = {index: names for index, names in self.aliases.items() if parts[1] in names}
            if not found:
                return 404, {"error": f"alias [{parts[1]}] missing", "status": 404}
            return 200, {index: {"aliases": {parts[1]: {}}} for index in found}
        if parts[1] == "_refresh":
            return 200, {"_shards": shards()}
        return self.get_document(parts[0], parts[2])

    def bulk(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        items = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            ((op_type, meta),) = action.items()
            if op_type != "index":
                raise EsError(400, "illegal_argument_exception", "the fake bulk-indexes only")
            items.append({"index": self.index_document(meta["_index"], meta["_id"], source)})
        errors = any("error" in item["index"] for item in items)
        return {"took": 1, "errors": errors, "items": items}

    def index_document(self, index: str, doc_id: str, source: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"_index": index, "_id": doc_id}
        if doc_id in self.refuse_ids:
            reason = "[1:2] failed to parse: the fake refuses this id"
            return {
                **result,
                "status": 400,
                "error": {"type": "document_parsing_exception", "reason": reason},
            }
        if index not in self.indices:
            self.indices[index] = []
            self.aliases[index] = {
                alias
                for template in self.templates.values()
                if any(fnmatch.fnmatch(index, p) for p in template["index_patterns"])
                for alias in template.get("template", {}).get("aliases", {})
            }
        positions = self.ids.setdefault(index, {})
        created = doc_id not in positions
        if created:
            positions[doc_id] = len(self.indices[index])
            self.indices[index].append(source)
        else:
            self.indices[index][positions[doc_id]] = source
        return {
            **result,
            "_version": 1,
            "result": "created" if created else "updated",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": positions[doc_id],
            "_primary_term": 1,
            "status": 201 if created else 200,
        }

    def get_document(self, name: str, doc_id: str) -> tuple[int, dict[str, Any]]:
        indices = [
            index for index in self.indices if index == name or name in self.aliases.get(index, ())
        ]
        if not indices:
            raise EsError(404, "index_not_found_exception", f"no such index [{name}]", index=name)
        for index in indices:
            if doc_id in self.ids.get(index, {}):
                source = self.indices[index][self.ids[index][doc_id]]
                found = {"_version": 1, "_seq_no": 0, "_primary_term": 1, "found": True}
                return 200, {"_index": index, "_id": doc_id, **found, "_source": source}
        return 404, {"_index": indices[0], "_id": doc_id, "found": False}

    def info(self) -> dict[str, Any]:
        return {
            "name": "fake-node",
            "cluster_name": "fake-cluster",
            "cluster_uuid": "fake-uuid",
            "version": {"number": "8.19.0", "build_flavor": "default"},
            "tagline": "You Know, for Search",
        }

    def documents(self, pattern: str) -> list[tuple[int, dict[str, Any]]]:
        """(position, source) of every document in the matching indices, in index order."""
        names = []
        for name in pattern.split(","):
            if "*" in name:
                names += sorted(fnmatch.filter(self.indices, name))
            elif name in self.indices:
                names.append(name)
            elif any(name in aliases for aliases in self.aliases.values()):
                names += sorted(index for index in self.indices if name in self.aliases[index])
            else:
                raise EsError(
                    404, "index_not_found_exception", f"no such index [{name}]", index=name
                )
        documents = [doc for name in names for doc in self.indices[name]]
        return list(enumerate(documents))

    def pit_open(self, pattern: str) -> dict[str, Any]:
        pit_id = uuid.uuid4().hex
        self.pits[pit_id] = self.documents(pattern)
        return {"id": pit_id, "_shards": shards()}

    def pit_documents(self, body: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        pit_id = (body.get("pit") or {}).get("id")
        if pit_id not in self.pits:
            raise EsError(404, "search_context_missing_exception", f"No search context [{pit_id}]")
        return self.pits[pit_id]

    def pit_close(self, pit_id: str) -> dict[str, Any]:
        found = self.pits.pop(pit_id, None) is not None
        self.closed_pits.append(pit_id)
        return {"succeeded": found, "num_freed": int(found)}

    def search(self, documents: list[tuple[int, dict[str, Any]]], body: dict[str, Any]):
        matched = [(position, doc) for position, doc in documents if matches(doc, body)]
        sort = body.get("sort") or ["_score"]
        keyed = sorted(
            ((sort_values(sort, position, doc), doc) for position, doc in matched),
            key=lambda item: item[0],
        )
        if "search_after" in body:
            after = body["search_after"]
            keyed = [(values, doc) for values, doc in keyed if values > after]
        else:
            keyed = keyed[body.get("from", 0) :]
        page = keyed[: body.get("size", 10)]
        hits = [
            {
                "_index": "fake",
                "_id": str(values[-1]),
                "_score": None,
                "_source": source_filter(doc, body.get("_source")),
                "sort": values,
            }
            for values, doc in page
        ]
        response: dict[str, Any] = {
            "took": 1,
            "timed_out": False,
            "_shards": shards(),
            "hits": {
                "total": {"value": len(matched), "relation": "eq"},
                "max_score": None,
                "hits": hits,
            },
        }
        if "pit" in body:
            response["pit_id"] = body["pit"]["id"]
        if body.get("aggs") or body.get("aggregations"):
            aggs = body.get("aggs") or body.get("aggregations")
            response["aggregations"] = aggregate(aggs, [doc for _, doc in matched])
        return response


def shards() -> dict[str, int]:
    return {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


def lookup(doc: dict[str, Any], path: str) -> Any:
    if path in doc:
        return doc[path]
    head, _, rest = path.partition(".")
    if rest and isinstance(doc.get(head), dict):
        return lookup(doc[head], rest)
    return None


def sort_values(sort: list[Any], position: int, doc: dict[str, Any]) -> list[Any]:
    values = []
    for clause in sort:
        name = clause if isinstance(clause, str) else next(iter(clause))
        if name in ("_shard_doc", "_doc"):
            values.append(position)
        elif name == "_score":
            values.append(1.0)
        else:
            order = "asc" if isinstance(clause, str) else _order(clause[name])
            if order != "asc":
                raise EsError(400, "illegal_argument_exception", "the fake sorts ascending only")
            values.append(lookup(doc, name))
    if sort[-1] not in ("_shard_doc", {"_shard_doc": "asc"}):
        values.append(position)  # Elasticsearch adds the _shard_doc tiebreaker to PIT searches
    return values


def _order(spec: Any) -> str:
    return spec.get("order", "asc") if isinstance(spec, dict) else spec


def source_filter(doc: dict[str, Any], includes: Any) -> dict[str, Any]:
    if includes in (None, True):
        return doc
    if isinstance(includes, str):
        includes = [includes]
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        wanted = [path for path in includes if path == key or path.startswith(key + ".")]
        if key in wanted or not wanted:
            if key in wanted:
                kept[key] = value
            continue
        if isinstance(value, dict):
            inner = source_filter(value, [path[len(key) + 1 :] for path in wanted])
            if inner:
                kept[key] = inner
    return kept


def matches(doc: dict[str, Any], body: dict[str, Any]) -> bool:
    return _matches(doc, body.get("query") or {"match_all": {}})


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return True
    if kind == "term":
        ((name, value),) = spec.items()
        value = value["value"] if isinstance(value, dict) else value
        return lookup(doc, name) == value
    if kind == "terms":
        ((name, values),) = spec.items()
        return lookup(doc, name) in values
    if kind == "range":
        ((name, bounds),) = spec.items()
        return _in_range(lookup(doc, name), bounds)
    if kind == "bool":
        return all(
            _matches(doc, clause) for clause in _clauses(spec, "must") + _clauses(spec, "filter")
        ) and not any(_matches(doc, clause) for clause in _clauses(spec, "must_not"))
    raise EsError(400, "parsing_exception", f"unknown query [{kind}]", line=1, col=20)


def _clauses(spec: dict[str, Any], occur: str) -> list[dict[str, Any]]:
    clauses = spec.get(occur, [])
    return clauses if isinstance(clauses, list) else [clauses]


def _in_range(value: Any, bounds: dict[str, Any]) -> bool:
    if value is None:
        return False
    checks = {
        "gte": lambda bound: value >= bound,
        "gt": lambda bound: value > bound,
        "lte": lambda bound: value <= bound,
        "lt": lambda bound: value < bound,
    }
    return all(checks[op](bound) for op, bound in bounds.items() if op in checks)


def aggregate(aggs: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, Any]:
    results = {}
    for name, spec in aggs.items():
        kind = next(key for key in spec if key not in ("aggs", "aggregations"))
        sub = spec.get("aggs") or spec.get("aggregations")
        if kind in METRICS:
            results[name] = {"value": metric(kind, [lookup(d, spec[kind]["field"]) for d in docs])}
        elif kind == "terms":
            results[name] = terms(spec[kind], sub, docs)
        elif kind == "date_histogram":
            results[name] = date_histogram(spec[kind], sub, docs)
        else:
            raise EsError(
                400, "x_content_parse_exception", f"[1:1] unknown aggregation type [{kind}]"
            )
    return results


def metric(kind: str, values: list[Any]) -> Any:
    present = [value for value in values if value is not None]
    if kind == "value_count":
        return len(present)
    if kind == "cardinality":
        return len(set(present))
    if kind == "sum":
        return float(sum(present))
    if not present:
        return None
    return {
        "avg": lambda: sum(present) / len(present),
        "min": lambda: float(min(present)),
        "max": lambda: float(max(present)),
    }[kind]()


def _bucket(
    key: Any, docs: list[dict[str, Any]], sub: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    return {"key": key, **extra, "doc_count": len(docs), **(aggregate(sub, docs) if sub else {})}


def terms(
    spec: dict[str, Any], sub: dict[str, Any] | None, docs: list[dict[str, Any]]
) -> dict[str, Any]:
    counts = Counter(lookup(doc, spec["field"]) for doc in docs)
    counts.pop(None, None)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    size = spec.get("size", 10)
    buckets = [
        _bucket(key, [d for d in docs if lookup(d, spec["field"]) == key], sub)
        for key, _ in ordered[:size]
    ]
    other = sum(count for _, count in ordered[size:])
    return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}


def date_histogram(
    spec: dict[str, Any], sub: dict[str, Any] | None, docs: list[dict[str, Any]]
) -> dict[str, Any]:
    grouped: dict[datetime, list[dict[str, Any]]] = {}
    for doc in docs:
        value = lookup(doc, spec["field"])
        if value is not None:
            start = _bucket_start(datetime.fromisoformat(value).astimezone(UTC), spec)
            grouped.setdefault(start, []).append(doc)
    buckets = []
    if grouped:
        start, last = min(grouped), max(grouped)
        while start <= last:  # date_histogram fills empty buckets between the first and last
            millis = int(start.timestamp() * 1000)
            text = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            buckets.append(_bucket(millis, grouped.get(start, []), sub, key_as_string=text))
            start = _next_start(start, spec)
    return {"buckets": buckets}


_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_CALENDAR = {"day": "1d", "1d": "1d", "hour": "1h", "1h": "1h"}


def _step(spec: dict[str, Any]) -> timedelta | None:
    interval = spec.get("fixed_interval") or _CALENDAR.get(spec.get("calendar_interval", ""))
    if interval is None:
        if spec.get("calendar_interval") in ("month", "1M"):
            return None
        raise EsError(
            400, "illegal_argument_exception", "the fake knows day, hour, month, Nd/Nh/Nm/Ns"
        )
    return timedelta(**{_UNITS[interval[-1]]: int(interval[:-1])})


def _bucket_start(moment: datetime, spec: dict[str, Any]) -> datetime:
    step = _step(spec)
    if step is None:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + step * ((moment - epoch) // step)


def _next_start(start: datetime, spec: dict[str, Any]) -> datetime:
    step = _step(spec)
    if step is not None:
        return start + step
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.endswith("/_bulk"):
            body = [json.loads(line) for line in raw.splitlines() if line.strip()]
        else:
            body = json.loads(raw) if raw else None
        seen = Seen(self.command, url.path, parse_qs(url.query), body)
        try:
            status, body = self.server.fake.answer(seen)
        except EsError as error:
            status, body = error.status, error.body()
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeElasticsearch


def start() -> tuple[_Server, FakeElasticsearch]:
    """A running fake on 127.0.0.1 (a free port); call `server.shutdown()` when done."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeElasticsearch()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.fake
