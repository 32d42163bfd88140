"""Fixtures shared by every app's tests: organisations, one user per role, API clients, services.

Tests that need Redis or a live Celery worker run when REDIS_URL is set and are skipped with a
reason otherwise; with REQUIRE_SERVICES=1 a missing service fails the run instead.
"""

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import DemoLogin, demo_setup
from accounts.tests.factories import MembershipFactory, OrganizationFactory
from config.env import env_bool, redis_server
from config.tests.browser import BrowserSession, browser_unavailable
from config.tests.services import OwnPostgres, OwnRedis
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

BASE_DIR = Path(__file__).resolve().parent


def _service_missing(reason: str):
    if env_bool("REQUIRE_SERVICES", False):
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        _service_missing(
            "REDIS_URL is not set: start Redis and set REDIS_URL=redis://127.0.0.1:6379/1"
        )
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _service_missing(f"Redis at REDIS_URL={url} does not answer ({exc}); start redis-server")
    return url


@pytest.fixture
def own_redis():
    """A redis-server of this test's own on a spare port, to stop and start (a fault drill)."""
    if reason := OwnRedis.unavailable():
        _service_missing(reason)
    with OwnRedis() as server:
        yield server


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own on a spare port, to stop and start."""
    if reason := OwnPostgres.unavailable():
        _service_missing(reason)
    with OwnPostgres() as cluster:
        yield cluster


@pytest.fixture
def broker_down():
    """The service's Celery app pointed at a Redis of our own that is stopped: connections to
    it are refused. `start()` brings it back on the same port, empty."""
    if reason := OwnRedis.unavailable():
        pytest.skip(reason)
    from config.celery import app

    broker = OwnRedis().start()
    broker.stop()
    # Celery reads CELERY_BROKER_URL from the environment first; its pools are built lazily.
    saved = os.environ.get("CELERY_BROKER_URL"), app._pool, app.amqp._producer_pool
    os.environ["CELERY_BROKER_URL"] = broker.url
    app._pool = app.amqp._producer_pool = None
    yield broker
    if app._pool is not None:
        app._pool.force_close_all()
    broker.stop()
    if saved[0] is None:
        os.environ.pop("CELERY_BROKER_URL")
    else:
        os.environ["CELERY_BROKER_URL"] = saved[0]
    app._pool, app.amqp._producer_pool = saved[1], saved[2]


def broker_messages(task_name: str, timeout: float = 5) -> list:
    """The first argument of each `task_name` message waiting on its queue, taken off it."""
    from config.celery import app

    queue_name = app.amqp.router.route({}, task_name)["queue"].name
    found = []
    with app.connection_for_read() as connection, connection.SimpleQueue(queue_name) as queue:
        while True:
            try:
                message = queue.get(timeout=timeout if not found else 0.5)
            except queue.Empty:
                return found
            assert message.headers["task"] == task_name
            found.append(message.payload[0][0])
            message.ack()


@pytest.fixture(scope="session")
def reporting_redis_url(redis_url) -> str:
    """A Redis database for `redis` data sources, never the cache's or the broker's:
    TEST_REPORTING_REDIS_URL, or REDIS_URL's server with the database number plus 10."""
    url = os.environ.get("TEST_REPORTING_REDIS_URL")
    if not url:
        parts = urlsplit(redis_url)
        database = int(parts.path.strip("/") or 0)
        url = urlunsplit(parts._replace(path=f"/{(database + 10) % 16}"))
    own = [u for u in (redis_url, os.environ.get("CELERY_BROKER_URL", "")) if u.startswith("redis")]
    if any(redis_server("url", url) == redis_server("url", u) for u in own):
        pytest.fail(f"TEST_REPORTING_REDIS_URL={url} is the cache's or the broker's Redis database")
    return url


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Acme Makerspace", slug="acme")


@pytest.fixture
def other_organization(db):
    return OrganizationFactory(name="Northwind ISP", slug="northwind")


def _member(organization, role: Role):
    return MembershipFactory(
        organization=organization, role=role, user__username=f"{role}-user"
    ).user


@pytest.fixture
def viewer(organization):
    return _member(organization, Role.VIEWER)


@pytest.fixture
def analyst(organization):
    return _member(organization, Role.ANALYST)


@pytest.fixture
def admin_user(organization):
    return _member(organization, Role.ADMIN)


@pytest.fixture
def super_admin(organization):
    return _member(organization, Role.SUPER_ADMIN)


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def analyst_client(analyst):
    return _client_for(analyst)


@pytest.fixture
def admin_client_api(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def super_admin_client(super_admin):
    return _client_for(super_admin)


@pytest.fixture
def invoices(organization):
    return DataSourceFactory(organization=organization, name="Invoices")


@pytest.fixture
def billing_template(organization, invoices):
    return ReportTemplateFactory(
        organization=organization,
        name="Monthly Billing Summary",
        slug="monthly-billing-summary",
        sources=[invoices],
    )


@pytest.fixture
def foreign_template(other_organization):
    source = DataSourceFactory(organization=other_organization, name="Their invoices")
    return ReportTemplateFactory(organization=other_organization, sources=[source])


class CeleryWorkerProcess:
    """A real `celery -A config worker` process, for end-to-end tests: on a queue of its own
    unless `queue` names some (comma-separated)."""

    def __init__(
        self,
        broker_url: str,
        *,
        queue: str = "",
        pool: str = "solo",
        extra_env: dict[str, str] | None = None,
    ):
        self.broker_url = broker_url
        self.pool = pool
        self.queue = queue or f"test-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> "CeleryWorkerProcess":
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            "1",
            "--queues",
            self.queue,
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]
        # Its own process group, so kill() takes the pool's children with it.
        self.process = subprocess.Popen(command, cwd=BASE_DIR, env=self.env, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as an out-of-memory killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _celery_broker_url(redis_url: str) -> str:
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    return broker_url if broker_url.startswith("redis") else redis_url


@pytest.fixture
def report_output_dir(settings, tmp_path):
    """Report files of this test go to a temporary folder."""
    folder = tmp_path / "reports"
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    settings.REPORT_OUTPUT_DIR = folder
    return folder


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a spare port for the whole run: http://127.0.0.1:<port>."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class ObjectStorage:
    """The bucket a test's outputs and uploads go to, read with boto3 as an operator would."""

    endpoint_url: str
    bucket: str
    prefix: str
    url: str  # REPORT_STORAGE_URL

    @cached_property
    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture
def object_storage(settings, monkeypatch, moto_endpoint, report_output_dir) -> ObjectStorage:
    """Outputs and uploads of this test on S3 (moto's server, a bucket of the test's own),
    configured as production is: REPORT_STORAGE_URL and the AWS_* key variables. It comes after
    `report_output_dir`, the local folder (empty) that would be used without it."""
    from config.env import storage_config

    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(variable, "testing")
    for variable in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    bucket = f"hub-{uuid.uuid4().hex[:12]}"
    storage = ObjectStorage(
        endpoint_url=moto_endpoint,
        bucket=bucket,
        prefix="site-a",
        url=f"s3://{bucket}/site-a?endpoint_url={moto_endpoint}",
    )
    storage.client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("REPORT_STORAGE_URL", storage.url)

    def on_s3(folder: str) -> dict:
        return storage_config(
            "REPORT_STORAGE_URL",
            local={},
            folder=folder,
            url_seconds=settings.REPORT_PRESIGNED_SECONDS,
        )

    settings.STORAGES = {
        **settings.STORAGES,
        "reports": on_s3("reports"),
        "default": on_s3("uploads"),
    }
    return storage


@pytest.fixture
def delivery_root(settings, tmp_path) -> Path:
    """Local-folder deliveries of this test go to a temporary folder (the live worker's too)."""
    root = tmp_path / "deliveries"
    settings.DELIVERY_STORAGE_ROOTS = [root]
    return root


@pytest.fixture
def live_worker_env() -> dict[str, str]:
    """More environment for `live_worker`: a test module overrides this fixture to set some."""
    return {}


@pytest.fixture
def live_worker(redis_url, transactional_db, report_output_dir, delivery_root, live_worker_env):
    """A real worker process on the test database and Redis, consuming every queue.

    Only on PostgreSQL: a second process cannot see SQLite's in-memory test database.
    """
    from django.db import connection

    from config.celery import app

    if connection.vendor != "postgresql":
        pytest.skip("a live worker needs the PostgreSQL test database (set DATABASE_URL)")
    if not app.conf.broker_url.startswith("redis"):
        _service_missing(
            "a live worker needs CELERY_BROKER_URL=redis://… to receive the tests' tasks"
        )
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    broker_url = app.conf.broker_url
    app.control.purge()  # messages earlier tests left for executions that no longer exist
    worker = CeleryWorkerProcess(
        broker_url,
        extra_env={
            "DATABASE_URL": database_url,
            "REPORT_OUTPUT_DIR": str(report_output_dir),
            "DELIVERY_STORAGE_ROOTS": str(delivery_root),
            **live_worker_env,
        },
        queue=",".join(app.amqp.queues),
        pool="prefork",  # as in production: tasks run in daemonic child processes
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker_process(redis_url):
    # Celery reads CELERY_BROKER_URL from the environment before any argument, so the worker and
    # the test's client both use it when it names Redis.
    worker = CeleryWorkerProcess(_celery_broker_url(redis_url)).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """Close every connection (the `reporting` alias's too) so the test database can be dropped,
    and drop the PostgreSQL roles its organisations had: roles belong to the whole cluster."""
    yield
    from django.db import connections

    from accounts.database_roles import roles_drop_all

    roles_drop_all()
    connections.close_all()


@pytest.fixture
def browser(live_server, monkeypatch, request) -> Iterator[BrowserSession]:
    """Headless Chromium (Debian's) with a page on the live server; see config/tests/browser.py."""
    from django.db import connections

    if reason := browser_unavailable():
        _service_missing(reason)
    # Playwright's sync API leaves its asyncio loop marked as running on this thread between
    # calls, though none of the test's code runs inside it; Django would then refuse every ORM
    # call of the test and of its fixtures' teardown as "from an async context".
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with BrowserSession(base_url=live_server.url, name=request.node.name) as session:
        yield session
        # Meanwhile this thread saw Django connections of their own (asgiref keeps them per
        # contextvars context, which Playwright's greenlets switch): left open, one would keep
        # PostgreSQL from dropping the test database at the end of the run.
        connections.close_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A browser test that fails leaves var/screenshots/<test name>-failed.png behind."""
    report = yield
    session = item.funcargs.get("browser") if report.when == "call" and report.failed else None
    if session is not None:
        from playwright.sync_api import Error

        with contextlib.suppress(Error):  # a crashed page has nothing to show
            session.screenshot("failed")
    return report


@pytest.fixture
def demo_login(transactional_db) -> DemoLogin:
    """The demo organisation and staff user, made as `make run` makes them (setup_demo)."""
    login = demo_setup()
    assert login.created, "demo_setup() found users already: the demo login was not made"
    return login


@pytest.fixture
def staff_browser(browser, demo_login) -> BrowserSession:
    """The browser signed in to the admin as the demo staff user."""
    browser.admin_login(username=demo_login.username, password=demo_login.password)
    assert browser.page.url.endswith("/admin/"), f"the demo login failed: at {browser.page.url}"
    return browser
