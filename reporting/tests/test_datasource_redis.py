"""The `redis` data source against a real Redis (skipped without REDIS_URL).

Sources read the `reporting_redis_url` database (never the cache's at REDIS_URL), through
connections granted to the organisation. Each test writes under its own key prefix there and
deletes its keys after.
"""

import re
import uuid

import pytest
import redis

from reporting.datasources.base import DataSourceError
from reporting.datasources.redis import RedisAdapter
from reporting.models import ConnectionGrant
from reporting.tables import SpooledTable

adapter = RedisAdapter()


@pytest.fixture
def connections(settings) -> None:
    """Connection names for tests that never reach a server."""
    settings.REPORTING_REDIS = {
        "default": "redis://127.0.0.1:1/0",
        "other": "redis://127.0.0.1:1/1",
    }


@pytest.fixture
def granted(organization) -> int:
    """An organisation granted the Redis connections "default" and "other"."""
    for name in ("default", "other"):
        ConnectionGrant.objects.create(organization=organization, kind="redis", name=name)
    return organization.pk


@pytest.fixture
def server(reporting_redis_url, settings) -> redis.Redis:
    settings.REPORTING_REDIS = {"default": reporting_redis_url, "other": reporting_redis_url}
    client = redis.Redis.from_url(reporting_redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(server) -> str:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(server.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        server.delete(*keys[start : start + 1000])


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


def test_string_keys_read_as_key_and_utf8_value(server, prefix, granted):
    server.set(f"{prefix}session:1", "café")
    server.set(f"{prefix}session:2", "42")
    server.set(f"{prefix}other:1", "not matched")

    columns, rows = read(
        {"pattern": f"{prefix}session:*", "shape": "string"}, organization_id=granted
    )

    assert names(columns) == [("key", "string"), ("value", "string")]
    assert sorted(rows) == [[f"{prefix}session:1", "café"], [f"{prefix}session:2", "42"]]


def test_hash_keys_read_as_one_row_with_the_listed_fields(server, prefix, granted):
    server.hset(f"{prefix}user:1", mapping={"name": "Ada", "plan": "pro", "ignored": "x"})
    server.hset(f"{prefix}user:2", mapping={"name": "Linus"})

    config = {"pattern": f"{prefix}user:*", "shape": "hash", "fields": ["plan", "name"]}
    columns, rows = read(config, organization_id=granted)

    assert names(columns) == [("key", "string"), ("plan", "string"), ("name", "string")]
    assert sorted(rows) == [[f"{prefix}user:1", "pro", "Ada"], [f"{prefix}user:2", None, "Linus"]]


def test_hash_fields_default_to_the_sorted_union_seen_in_a_sample(server, prefix, granted):
    server.hset(f"{prefix}user:1", mapping={"name": "Ada", "plan": "pro"})
    server.hset(f"{prefix}user:2", mapping={"email": "l@example.com", "name": "Linus"})

    columns, rows = read({"pattern": f"{prefix}user:*", "shape": "hash"}, organization_id=granted)

    assert [column.name for column in columns] == ["key", "email", "name", "plan"]
    assert sorted(rows) == [
        [f"{prefix}user:1", None, "Ada", "pro"],
        [f"{prefix}user:2", "l@example.com", "Linus", None],
    ]


def test_sorted_sets_give_members_by_score_with_numeric_scores(server, prefix, granted):
    server.zadd(f"{prefix}scores", {"bea": 12.5, "al": 3, "cy": -1})

    columns, rows = read({"pattern": f"{prefix}scores", "shape": "zset"}, organization_id=granted)

    assert names(columns) == [("key", "string"), ("member", "string"), ("score", "number")]
    assert rows == [
        [f"{prefix}scores", "cy", -1.0],
        [f"{prefix}scores", "al", 3.0],
        [f"{prefix}scores", "bea", 12.5],
    ]


def test_lists_longer_than_one_read_give_every_element_with_its_index(server, prefix, granted):
    server.rpush(f"{prefix}queue", *(f"job-{n}" for n in range(1234)))

    columns, rows = read({"pattern": f"{prefix}queue", "shape": "list"}, organization_id=granted)

    assert names(columns) == [("key", "string"), ("index", "integer"), ("value", "string")]
    assert rows == [[f"{prefix}queue", n, f"job-{n}"] for n in range(1234)]


def test_streams_give_entries_in_the_range_with_their_fields(server, prefix, granted):
    key = f"{prefix}events"
    for n in range(1, 251):
        server.xadd(key, {"kind": "click", "n": str(n)}, id=f"{n}-0")
    server.xadd(key, {"kind": "view", "n": "251", "page": "/"}, id="251-0")

    config = {"pattern": key, "shape": "stream", "stream_start": "(10", "stream_end": "251"}
    columns, rows = read(config, organization_id=granted)

    assert [column.name for column in columns] == ["key", "id", "kind", "n"]
    assert rows == [[key, f"{n}-0", "click", str(n)] for n in range(11, 251)] + [
        [key, "251-0", "view", "251"]
    ]


def test_stream_fields_can_be_chosen(server, prefix, granted):
    server.xadd(f"{prefix}events", {"kind": "view", "page": "/"}, id="1-0")

    columns, rows = read(
        {"pattern": f"{prefix}events", "shape": "stream", "fields": ["page"]},
        organization_id=granted,
    )

    assert [column.name for column in columns] == ["key", "id", "page"]
    assert rows == [[f"{prefix}events", "1-0", "/"]]


def test_a_parameter_with_glob_characters_matches_only_itself(server, prefix, granted):
    server.set(f"{prefix}a*", "literal star")
    server.set(f"{prefix}ab", "must not match")
    server.set(f"{prefix}[x]?\\", "literal brackets")
    config = {"pattern": prefix + "{name}", "shape": "string"}

    assert adapter.parameter_names(query="", config=config) == {"name"}
    assert read(config, {"name": "a*"}, organization_id=granted)[1] == [
        [f"{prefix}a*", "literal star"]
    ]
    assert read(config, {"name": "[x]?\\"}, organization_id=granted)[1] == [
        [f"{prefix}[x]?\\", "literal brackets"]
    ]
    assert read(config, {"name": "a?"}, organization_id=granted)[1] == []


def test_literal_braces_are_written_doubled_for_hash_tags(server, prefix, granted):
    server.set(f"{prefix}user:{{42}}:name", "Ada")

    config = {"pattern": prefix + "user:{{{user_id}}}:*", "shape": "string"}

    assert adapter.parameter_names(query="", config=config) == {"user_id"}
    assert read(config, {"user_id": 42}, organization_id=granted)[1] == [
        [f"{prefix}user:{{42}}:name", "Ada"]
    ]


def test_keys_are_scanned_in_batches_and_rows_stream_in_batches(server, prefix, granted):
    with server.pipeline(transaction=False) as pipeline:
        for n in range(2500):
            pipeline.set(f"{prefix}k:{n}", str(n))
        pipeline.execute()
    scans_before = server.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)

    row_stream = adapter.stream(
        query="",
        config={"pattern": f"{prefix}k:*", "shape": "string"},
        parameters={},
        organization_id=granted,
        batch_size=1000,
    )
    batches = [list(batch) for batch in row_stream.batches]

    scans = server.info("commandstats")["cmdstat_scan"]["calls"] - scans_before
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert scans >= 3
    assert sorted(int(value) for batch in batches for _, value in batch) == list(range(2500))


def test_limit_caps_the_rows(server, prefix, granted):
    server.rpush(f"{prefix}queue", *range(50))

    _, rows = read(
        {"pattern": f"{prefix}queue", "shape": "list", "limit": 7}, organization_id=granted
    )

    assert [index for _, index, _ in rows] == list(range(7))


def test_spooled_rows_read_back_typed(server, prefix, tmp_path, granted):
    server.zadd(f"{prefix}scores", {"al": 3, "bea": 12.5})
    path = tmp_path / "redis.csv"

    columns, row_count = adapter.spool(
        query="",
        config={"pattern": f"{prefix}scores", "shape": "zset"},
        parameters={},
        organization_id=granted,
        path=path,
    )

    table = SpooledTable(name="scores", title="Scores", columns=columns, path=path)
    assert row_count == 2
    assert list(table.rows()) == [[f"{prefix}scores", "al", 3.0], [f"{prefix}scores", "bea", 12.5]]


def test_a_key_of_another_type_fails_naming_the_key_and_its_type(server, prefix, granted):
    server.set(f"{prefix}user:1", "a string")

    with pytest.raises(DataSourceError) as failure:
        read(
            {"pattern": f"{prefix}user:*", "shape": "hash", "fields": ["name"]},
            organization_id=granted,
        )

    assert str(failure.value) == (
        f"The key '{prefix}user:1' holds a string, not a hash: the pattern '{prefix}user:*' "
        'matches keys of another type; narrow the pattern or change "shape".'
    )


def test_test_reports_the_version_and_the_matching_key_count(server, prefix, granted):
    server.mset({f"{prefix}s:{n}": "x" for n in range(3)})
    version = server.info("server")["redis_version"]

    message = adapter.test(
        query="", config={"pattern": prefix + "s:{n}", "shape": "string"}, organization_id=granted
    )

    assert message.startswith(f"OK: Redis {version}; 3 of ")
    assert message.endswith(f" keys match '{prefix}s:*'")


def test_test_fails_when_the_pattern_matches_keys_of_another_type(server, prefix, granted):
    server.rpush(f"{prefix}queue", "job")

    with pytest.raises(DataSourceError, match="holds a list, not a zset"):
        adapter.test(
            query="", config={"pattern": f"{prefix}queue", "shape": "zset"}, organization_id=granted
        )


def test_an_unknown_connection_is_refused_naming_the_known_ones(connections):
    config = {"connection": "nope", "pattern": "*", "shape": "string"}

    with pytest.raises(DataSourceError) as failure:
        adapter.validate_config(query="", config=config, organization_id=None)

    assert str(failure.value).startswith(
        "Unknown Redis connection 'nope': choose one of default, other"
    )


def test_a_refused_connection_is_a_data_source_error(settings, granted):
    settings.REPORTING_REDIS = {"default": "redis://127.0.0.1:1/0"}

    with pytest.raises(DataSourceError) as failure:
        read({"pattern": "*", "shape": "string"}, organization_id=granted)

    assert str(failure.value).startswith("Redis connection 'default' could not be reached: ")
    assert "127.0.0.1:1" in str(failure.value)


def test_a_missing_parameter_value_is_a_data_source_error(connections, granted):
    with pytest.raises(DataSourceError, match="needs a value for the parameter 'site'"):
        read(
            {"pattern": "sessions:{site}:*", "shape": "string"},
            {"site": None},
            organization_id=granted,
        )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"pattern": "x:*", "shape": "set"}, "Unknown shape 'set'"),
        ({"pattern": "", "shape": "string"}, '"pattern" must be a key pattern'),
        ({"pattern": "x:{site", "shape": "string"}, "has unbalanced braces"),
        ({"pattern": "x:{site!r}", "shape": "string"}, "has a placeholder other than {name}"),
        ({"pattern": "x:{0}", "shape": "string"}, "has a placeholder other than {name}"),
        ({"pattern": "x", "shape": "string", "fields": ["a"]}, '"fields" applies to the hash'),
        ({"pattern": "x", "shape": "hash", "fields": ["a", "a"]}, "distinct field names"),
        ({"pattern": "x", "shape": "stream", "stream_start": "yesterday"}, "stream entry id"),
        ({"pattern": "x", "shape": "list", "limit": 0}, '"limit" must be a whole number'),
        ({"pattern": "x", "shape": "list", "keys": "*"}, "Unknown config key 'keys'"),
    ],
)
def test_configs_that_can_never_work_are_refused(connections, config, message):
    with pytest.raises(DataSourceError, match=re.escape(message)):
        adapter.validate_config(query="", config=config, organization_id=None)


def test_a_query_is_refused(connections):
    with pytest.raises(DataSourceError, match="takes no query"):
        adapter.validate_config(
            query="KEYS *", config={"pattern": "*", "shape": "string"}, organization_id=None
        )


def test_a_connection_not_granted_is_refused_before_any_key_is_read(
    server, prefix, organization, other_organization
):
    server.set(f"{prefix}secret", "theirs")
    ConnectionGrant.objects.create(organization=other_organization, kind="redis", name="default")
    config = {"pattern": f"{prefix}*", "shape": "string"}
    refusal = (
        "The redis connection 'default' is not granted to this organisation: a superuser grants "
        "it in the admin (Connection grants) or with REPORTING_REDIS_ORGS."
    )
    scans_before = server.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)

    for attempt in (
        lambda: adapter.validate_config(query="", config=config, organization_id=organization.pk),
        lambda: adapter.test(query="", config=config, organization_id=organization.pk),
        lambda: read(config, organization_id=organization.pk),
        lambda: read(config, organization_id=None),
    ):
        with pytest.raises(DataSourceError) as failure:
            attempt()
        assert str(failure.value) == refusal

    assert server.info("commandstats").get("cmdstat_scan", {}).get("calls", 0) == scans_before
    assert read(config, organization_id=other_organization.pk)[1] == [[f"{prefix}secret", "theirs"]]


def test_the_setting_beside_the_url_grants_by_organisation_slug(
    server, prefix, settings, organization, other_organization
):
    server.set(f"{prefix}k", "v")
    settings.REPORTING_CONNECTION_GRANTS = {"redis": {"other": ["acme"]}}

    assert read(
        {"connection": "other", "pattern": f"{prefix}*", "shape": "string"},
        organization_id=organization.pk,
    )[1] == [[f"{prefix}k", "v"]]
    with pytest.raises(DataSourceError, match="with REPORTING_REDIS_OTHER_ORGS"):
        read(
            {"connection": "other", "pattern": f"{prefix}*", "shape": "string"},
            organization_id=other_organization.pk,
        )
    with pytest.raises(DataSourceError, match="'default' is not granted"):
        read({"pattern": f"{prefix}*", "shape": "string"}, organization_id=organization.pk)


def test_no_connection_is_configured_unless_reporting_redis_url_is_set(settings, organization):
    settings.REPORTING_REDIS = {}

    with pytest.raises(DataSourceError) as failure:
        adapter.validate_config(
            query="", config={"pattern": "*", "shape": "string"}, organization_id=organization.pk
        )

    assert str(failure.value) == (
        "Unknown Redis connection 'default': none is configured (declared with "
        "REPORTING_REDIS_URL and REPORTING_REDIS_<NAME>_URL)."
    )
