"""Database, cache or broker unavailable: a 503 naming the service with Retry-After, one log line
per answer, and the service answers normally once the part is back. Every outage here is a real
server of the test's own, stopped and started (config/tests/services.py)."""

import logging

import psycopg2
import pytest
import redis
import requests
from django.core.cache.backends.redis import RedisCache
from django.db import IntegrityError
from django.db.utils import ConnectionHandler
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from config.celery import app, ping
from config.outages import outage_service
from config.tests.services import HubServer, free_port

ME = "/api/v1/me/"


def _raised(action) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - which one is what is tested
        action()
    return caught.value


def _django_connection_to(port: int):
    settings = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": port}
    # A handler of its own: the test's connections stay as they are.
    handler = ConnectionHandler({"default": {**settings, "NAME": "postgres", "USER": "postgres"}})
    return handler["default"]


@pytest.mark.django_db  # lets pytest-django allow a connection, here to nowhere
def test_a_database_that_does_not_answer_is_the_database():
    port = free_port()
    django_error = _raised(_django_connection_to(port).ensure_connection)
    driver_error = _raised(lambda: psycopg2.connect(host="127.0.0.1", port=port))
    assert outage_service(django_error) == "database"
    assert outage_service(driver_error) == "database"


def test_a_cache_that_does_not_answer_is_the_cache():
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    assert outage_service(_raised(lambda: cache.get("key"))) == "cache"


def test_a_stopped_broker_is_the_broker_and_publishing_works_again_once_it_is_back(own_redis):
    def publish():
        with app.connection_for_write(own_redis.url) as connection:
            ping.apply_async(connection=connection)

    publish()
    own_redis.stop()
    assert outage_service(_raised(publish)) == "broker"
    own_redis.start()
    publish()


def test_other_errors_are_no_outage():
    assert outage_service(IntegrityError("duplicate key")) is None
    assert outage_service(redis.exceptions.ResponseError("WRONGTYPE")) is None
    assert outage_service(ValueError("bad")) is None
    assert outage_service(None) is None


@pytest.fixture
def own_redis_cache(own_redis, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": own_redis.url,
        }
    }
    return own_redis


def test_the_api_answers_503_naming_the_cache_while_it_is_stopped(own_redis_cache, viewer, caplog):
    client = APIClient(raise_request_exception=False)  # throttles count on the cache
    client.force_authenticate(viewer)
    assert client.get(ME).status_code == 200

    own_redis_cache.stop()
    with caplog.at_level(logging.INFO):
        response = client.get(ME)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "The cache is unavailable. Try again in 10 seconds.",
        "service": "cache",
    }
    assert response["Retry-After"] == "10"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "Service Unavailable: /api/v1/me/ [cache unavailable: ConnectionError: "
        f"Error 111 connecting to 127.0.0.1:{own_redis_cache.port}. Connection refused.]"
    ]
    assert not [r for r in caplog.records if r.exc_info]

    own_redis_cache.start()
    assert client.get(ME).status_code == 200


@pytest.fixture
def hub_server(own_postgres, tmp_path):
    server = HubServer(own_postgres.create_database("hub"), tmp_path).start()
    yield server
    server.stop()


def _admin_session(server: HubServer) -> requests.Session:
    session = requests.Session()
    session.get(f"{server.url}/admin/login/")
    form = {"username": "ops", "password": server.password, "next": "/admin/"}
    form["csrfmiddlewaretoken"] = session.cookies["csrftoken"]
    assert session.post(f"{server.url}/admin/login/", data=form).url == f"{server.url}/admin/"
    return session


def test_the_api_and_the_admin_answer_503_naming_the_database_while_it_is_stopped(
    own_postgres, hub_server
):
    token = requests.post(
        f"{hub_server.url}/api/v1/auth/token/",
        json={"username": "ops", "password": hub_server.password},
    ).json()["access"]
    bearer = {"Authorization": f"Bearer {token}"}
    browser = _admin_session(hub_server)
    assert requests.get(f"{hub_server.url}{ME}", headers=bearer).status_code == 200

    own_postgres.stop()
    # The token's user is loaded in DRF's view; the session's user in a middleware (auditlog's).
    for response in (
        requests.get(f"{hub_server.url}{ME}", headers=bearer),
        browser.get(f"{hub_server.url}{ME}", headers={"Accept": "application/json"}),
    ):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "10"
        assert response.json() == {
            "detail": "The database is unavailable. Try again in 10 seconds.",
            "service": "database",
        }
    page = browser.get(f"{hub_server.url}/admin/", headers={"Accept": "text/html"})
    assert (page.status_code, page.headers["Content-Type"]) == (503, "text/plain; charset=utf-8")
    assert page.text == "The database is unavailable. Try again in 10 seconds."

    own_postgres.start()
    assert requests.get(f"{hub_server.url}{ME}", headers=bearer).status_code == 200
    assert browser.get(f"{hub_server.url}/admin/").status_code == 200
    lines = [line for line in hub_server.log_text().splitlines() if "unavailable" in line]
    assert [line.split(" django.request: ")[1].split(" [")[0] for line in lines] == [
        "Service Unavailable: /api/v1/me/",
        "Service Unavailable: /api/v1/me/",
        "Service Unavailable: /admin/",
    ], hub_server.log_text()
    assert all("[database unavailable: OperationalError: connection to" in x for x in lines)
    assert "Traceback" not in hub_server.log_text()


def test_a_task_that_failed_on_an_outage_is_one_line_in_the_worker_log(caplog):
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    error = _raised(lambda: cache.get("key"))
    # What celery.app.trace logs for a task that raised, with the traceback attached.
    logging.getLogger("celery.app.trace").error(
        "Task ping[1] raised unexpected: %r", error, exc_info=error
    )
    (record,) = caplog.records
    assert record.exc_info is None
    assert record.getMessage() == (
        f"Task ping[1] raised unexpected: {error!r} [cache unavailable: ConnectionError: {error}]"
    )


def test_metrics_answer_with_database_up_0_while_the_database_is_stopped(own_postgres, hub_server):
    def samples() -> dict[str, float]:
        response = requests.get(f"{hub_server.url}/metrics")
        assert response.status_code == 200, response.text
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if not sample.labels
        }

    assert samples()["reporting_hub_database_up"] == 1
    own_postgres.stop()
    down = samples()
    assert down["reporting_hub_database_up"] == 0
    assert "reporting_hub_rollup_lag_seconds" not in down
    assert down["reporting_hub_broker_up"] == 1
    own_postgres.start()
    assert samples()["reporting_hub_database_up"] == 1
