"""The `elasticsearch` data source through the official client, against a cluster per test.

The cluster is `fake_elasticsearch` (an HTTP server answering as Elasticsearch 8 documents) unless
ELASTICSEARCH_TEST_URL is set: then the same tests run against that cluster, each in its own index
(created with explicit mappings, loaded with the client's bulk helper, deleted after). Checks of
the requests themselves (pages, `search_after`, the PIT's close) need the fake and are skipped on
a real cluster.
"""

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from reporting.datasources.base import DataSourceError
from reporting.datasources.elasticsearch import ElasticsearchAdapter
from reporting.models import ConnectionGrant
from reporting.tables import SpooledTable
from reporting.tests import fake_elasticsearch

adapter = ElasticsearchAdapter()
START = datetime(2025, 3, 1, tzinfo=UTC)
MAPPINGS = {
    "properties": {
        "seq": {"type": "long"},
        "user": {"properties": {"id": {"type": "keyword"}, "name": {"type": "keyword"}}},
        "country": {"type": "keyword"},
        "amount": {"type": "double"},
        "paid": {"type": "boolean"},
        "@timestamp": {"type": "date"},
    }
}


@dataclass
class Cluster:
    url: str
    fake: fake_elasticsearch.FakeElasticsearch | None
    client: Elasticsearch | None
    created: list[str] = field(default_factory=list)

    def index(self, documents: list[dict[str, Any]]) -> str:
        name = f"test-reporting-{uuid.uuid4().hex[:12]}"
        if self.fake is not None:
            self.fake.load(name, documents)
            return name
        self.client.indices.create(index=name, mappings=MAPPINGS)
        self.created.append(name)
        actions = ({"_index": name, "_source": document} for document in documents)
        helpers.bulk(self.client, actions, chunk_size=2000, refresh="wait_for")
        return name

    def requests_seen(self) -> fake_elasticsearch.FakeElasticsearch:
        if self.fake is None:
            pytest.skip("reading the requests needs the fake cluster")
        return self.fake


@pytest.fixture
def cluster(settings):
    url = os.environ.get("ELASTICSEARCH_TEST_URL")
    if url:
        client = Elasticsearch(url)
        settings.ELASTICSEARCH_URL = url
        real = Cluster(url=url, fake=None, client=client)
        yield real
        for name in real.created:  # one by one: clusters refuse wildcard deletes by default
            client.indices.delete(index=name)
        client.close()
        return
    server, fake = fake_elasticsearch.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.ELASTICSEARCH_URL = url
    yield Cluster(url=url, fake=fake, client=None)
    server.shutdown()
    server.server_close()


@pytest.fixture
def granted(organization) -> int:
    """An organisation granted the clusters "default" and "logs"."""
    for name in ("default", "logs"):
        ConnectionGrant.objects.create(organization=organization, kind="elasticsearch", name=name)
    return organization.pk


def orders(count: int) -> list[dict[str, Any]]:
    return [
        {
            "seq": n,
            "user": {"id": f"u{n % 7}", "name": f"User {n % 7}"},
            "country": ("NL", "DE", "FR")[n % 3],
            "amount": float(n % 10) * 2.5,
            "paid": n % 2 == 0,
            "@timestamp": (START + timedelta(hours=n * 5)).isoformat(),
        }
        for n in range(count)
    ]


def read(config, parameters=None, *, organization_id, batch_size=2000):
    row_stream = adapter.stream(
        query="",
        config=config,
        parameters=parameters or {},
        organization_id=organization_id,
        batch_size=batch_size,
    )
    return row_stream.columns, [list(row) for batch in row_stream.batches for row in batch]


def names(columns):
    return [(column.name, column.type) for column in columns]


def test_hits_give_the_chosen_fields_with_nested_ones_flattened(cluster, granted):
    index = cluster.index(orders(5))

    columns, rows = read(
        {
            "index": index,
            "fields": ["seq", "user.id", "user.name", "amount", "paid", "@timestamp", "missing"],
            "sort": [{"seq": "asc"}],
        },
        organization_id=granted,
    )

    assert names(columns) == [
        ("seq", "integer"),
        ("user.id", "string"),
        ("user.name", "string"),
        ("amount", "number"),
        ("paid", "boolean"),
        ("@timestamp", "datetime"),
        ("missing", "string"),
    ]
    assert rows[1] == [1, "u1", "User 1", 2.5, False, START + timedelta(hours=5), None]
    assert [row[0] for row in rows] == [0, 1, 2, 3, 4]


def test_more_than_ten_thousand_hits_are_paged_through_a_point_in_time(cluster, granted):
    index = cluster.index(orders(12_345))

    row_stream = adapter.stream(
        query="",
        config={"index": index, "fields": ["seq"], "sort": [{"seq": "asc"}]},
        parameters={},
        organization_id=granted,
        batch_size=5000,
    )
    batch_sizes, seqs = [], []
    for batch in row_stream.batches:
        batch_sizes.append(len(batch))
        seqs += [row[0] for row in batch]

    assert batch_sizes == [5000, 5000, 2345]
    assert seqs == list(range(12_345))
    fake = cluster.requests_seen()
    searches = fake.searches()
    assert len(searches) == 3
    assert all("pit" in seen.body and seen.body["size"] == 5000 for seen in searches)
    assert "search_after" not in searches[0].body
    afters = [seen.body["search_after"] for seen in searches[1:]]
    assert afters == sorted(afters)
    assert afters[0] < afters[1]
    assert afters[0][0] == 4999
    assert afters[1][0] == 9999
    assert fake.closed_pits == [searches[0].body["pit"]["id"]]
    assert fake.pits == {}


def test_a_stream_closed_early_closes_its_point_in_time(cluster, granted):
    index = cluster.index(orders(30))

    row_stream = adapter.stream(
        query="",
        config={"index": index, "fields": ["seq"]},
        parameters={},
        organization_id=granted,
        batch_size=10,
    )
    first = next(row_stream.batches)
    row_stream.close()

    assert len(first) == 10
    fake = cluster.requests_seen()
    assert len(fake.searches()) == 1
    assert len(fake.closed_pits) == 1
    assert fake.pits == {}


def test_limit_stops_reading_after_that_many_hits(cluster, granted):
    index = cluster.index(orders(25))

    _, rows = read(
        {"index": index, "fields": ["seq"], "sort": [{"seq": "asc"}], "limit": 12},
        organization_id=granted,
        batch_size=5,
    )

    assert [row[0] for row in rows] == list(range(12))


def test_a_parameter_is_placed_as_one_json_value(cluster, granted):
    documents = orders(4)
    documents[2]["user"]["name"] = 'O\'Brien "the" admin'
    index = cluster.index(documents)
    config = {
        "index": index,
        "fields": ["seq", "user.name"],
        "query": {"bool": {"filter": [{"term": {"user.name": {"$param": "name"}}}]}},
    }

    assert adapter.parameter_names(query="", config=config) == {"name"}
    _, rows = read(config, {"name": 'O\'Brien "the" admin'}, organization_id=granted)
    assert rows == [[2, 'O\'Brien "the" admin']]
    _, rows = read(config, {"name": '" } }, {"match_all": {'}, organization_id=granted)
    assert rows == []


def test_terms_and_date_histogram_with_avg_become_one_row_per_bucket(cluster, granted):
    index = cluster.index(orders(12))  # every 5 hours from 2025-03-01: days 1, 2 and 3
    config = {
        "index": index,
        "shape": "aggregations",
        "aggs": {
            "country": {
                "terms": {"field": "country", "order": {"_key": "asc"}},
                "aggs": {
                    "day": {
                        "date_histogram": {"field": "@timestamp", "calendar_interval": "day"},
                        "aggs": {"avg_amount": {"avg": {"field": "amount"}}},
                    }
                },
            }
        },
    }

    columns, rows = read(config, organization_id=granted)

    assert names(columns) == [
        ("country", "string"),
        ("day", "datetime"),
        ("doc_count", "integer"),
        ("avg_amount", "number"),
    ]
    expected = {}
    for document in orders(12):
        moment = datetime.fromisoformat(document["@timestamp"])
        key = (document["country"], moment.replace(hour=0))
        expected.setdefault(key, []).append(document["amount"])
    assert sorted((r[0], r[1], r[2], r[3]) for r in rows) == sorted(
        (country, day, len(amounts), sum(amounts) / len(amounts))
        for (country, day), amounts in expected.items()
    )


def test_a_bad_query_fails_naming_the_cluster_index_and_cause(cluster, granted):
    index = cluster.index(orders(3))

    with pytest.raises(DataSourceError) as failure:
        read(
            {"index": index, "fields": ["seq"], "query": {"no_such_query": {}}},
            organization_id=granted,
        )

    message = str(failure.value)
    assert "'default'" in message
    assert repr(index) in message
    assert "parsing_exception" in message
    assert "no_such_query" in message
    assert "HTTP 400" in message


def test_a_missing_index_fails_naming_it(cluster, granted):
    with pytest.raises(DataSourceError, match=r"index_not_found_exception.*HTTP 404"):
        read({"index": "test-reporting-absent", "fields": ["seq"]}, organization_id=granted)


def test_a_cluster_that_is_down_fails_naming_it(settings, granted):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.ELASTICSEARCH_CLUSTERS = {"logs": f"http://elastic:secret@127.0.0.1:{port}"}

    with pytest.raises(DataSourceError) as failure:
        read({"cluster": "logs", "index": "events-*", "fields": ["seq"]}, organization_id=granted)

    message = str(failure.value)
    assert (
        f"Elasticsearch cluster 'logs' (127.0.0.1:{port}), index 'events-*' could not be reached"
        in message
    )
    assert "secret" not in message


def test_spooled_hits_read_back_typed(cluster, tmp_path, granted):
    index = cluster.index(orders(3))
    path = tmp_path / "spool.csv"

    columns, count = adapter.spool(
        query="",
        config={
            "index": index,
            "fields": ["seq", "user", "amount", "@timestamp"],
            "sort": [{"seq": "asc"}],
        },
        parameters={},
        organization_id=granted,
        path=path,
    )

    table = SpooledTable(name="orders", title="Orders", columns=columns, path=path, row_count=count)
    assert count == 3
    assert list(table.rows()) == [
        [n, {"id": f"u{n}", "name": f"User {n}"}, n * 2.5, START + timedelta(hours=5 * n)]
        for n in range(3)
    ]


def test_test_gives_the_version_and_the_document_count(cluster, granted):
    index = cluster.index(orders(42))

    message = adapter.test(
        query="", config={"index": index, "fields": ["seq"]}, organization_id=granted
    )

    assert message.startswith("OK: Elasticsearch 8.")
    assert f"{index!r} holds 42 documents" in message


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"index": "a", "fields": ["x"], "cluster": "nope"}, "Unknown Elasticsearch cluster"),
        ({"fields": ["x"]}, 'needs an "index"'),
        ({"index": "a"}, 'need "fields"'),
        (
            {"index": "a", "fields": ["x"], "query": {"term": {"x": {"$param": "p", "y": 1}}}},
            "exactly",
        ),
        (
            {
                "index": "a",
                "shape": "aggregations",
                "aggs": {"a": {"terms": {}}, "b": {"terms": {}}},
            },
            "side by side",
        ),
        (
            {"index": "a", "shape": "aggregations", "aggs": {"a": {"top_hits": {}}}},
            "not one this source",
        ),
        ({"index": "a", "fields": ["x"], "where": 1}, "Unknown config key"),
    ],
)
def test_configs_that_can_never_work_are_refused(settings, config, complaint):
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:1"

    with pytest.raises(DataSourceError, match=complaint):
        adapter.validate_config(query="", config=config, organization_id=None)


def test_parameters_are_found_in_query_sort_and_aggs(settings):
    config = {
        "index": "a",
        "shape": "aggregations",
        "query": {"range": {"@timestamp": {"gte": {"$param": "since"}, "lt": {"$param": "until"}}}},
        "aggs": {"top": {"terms": {"field": "country", "size": {"$param": "top_n"}}}},
    }

    assert adapter.parameter_names(query="", config=config) == {"since", "until", "top_n"}


def test_a_cluster_not_granted_is_refused_before_any_request(cluster, organization, settings):
    index = cluster.index(orders(3))
    settings.ELASTICSEARCH_CLUSTERS = {"logs": cluster.url}
    ConnectionGrant.objects.create(organization=organization, kind="elasticsearch", name="logs")
    config = {"index": index, "fields": ["seq"]}
    refusal = (
        "The elasticsearch connection 'default' is not granted to this organisation: a superuser "
        "grants it in the admin (Connection grants) or with ELASTICSEARCH_ORGS."
    )
    requests_before = len(cluster.fake.requests) if cluster.fake else 0

    for attempt in (
        lambda: adapter.validate_config(query="", config=config, organization_id=organization.pk),
        lambda: adapter.test(query="", config=config, organization_id=organization.pk),
        lambda: read(config, organization_id=organization.pk),
        lambda: read(config, organization_id=None),
    ):
        with pytest.raises(DataSourceError) as failure:
            attempt()
        assert str(failure.value) == refusal

    assert (len(cluster.fake.requests) if cluster.fake else 0) == requests_before
    logs = {**config, "cluster": "logs", "sort": [{"seq": "asc"}]}
    assert read(logs, organization_id=organization.pk)[1] == [[0], [1], [2]]


def test_elasticsearch_orgs_grants_a_cluster_by_organisation_slug(
    cluster, settings, organization, other_organization
):
    index = cluster.index(orders(2))
    settings.REPORTING_CONNECTION_GRANTS = {"elasticsearch": {"default": ["northwind"]}}
    config = {"index": index, "fields": ["seq"], "sort": [{"seq": "asc"}]}

    assert read(config, organization_id=other_organization.pk)[1] == [[0], [1]]
    with pytest.raises(DataSourceError, match="'default' is not granted"):
        read(config, organization_id=organization.pk)
