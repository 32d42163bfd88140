"""Named connections are granted to organisations, not global.

An organisation's admin names a Redis connection, an Elasticsearch cluster or a database alias in
a data source's config; the operator configures them in the environment and grants each to
organisations (a ConnectionGrant row added by a superuser, or REPORTING_*_ORGS). A connection
that was not granted is refused at every door: create, update, test, preview, a run, and the
admin.
"""

import uuid

import pytest
import redis
from django.test import Client

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, UserFactory
from reporting.connections import (
    connection_check,
    connections_configured,
    connections_granted,
)
from reporting.datasources.base import DataSourceError
from reporting.models import ConnectionGrant, DataSource, ExecutionStatus, report_storage
from reporting.services.executions import execution_request, execution_run
from reporting.tests.factories import ReportTemplateFactory

BI = "/api/v1/business-intelligence"
NOT_GRANTED = (
    "The redis connection 'default' is not granted to this organisation: a superuser grants it "
    "in the admin (Connection grants) or with REPORTING_REDIS_ORGS."
)


@pytest.fixture
def configured(settings):
    """Connections the environment declares (none reached by these tests)."""
    settings.REPORTING_REDIS = {
        "default": "redis://127.0.0.1:1/0",
        "cache": "redis://127.0.0.1:1/1",
    }
    settings.ELASTICSEARCH_URL = "http://127.0.0.1:1"
    settings.ELASTICSEARCH_CLUSTERS = {"logs": "http://127.0.0.1:1"}
    settings.REPORTING_CONNECTION_GRANTS = {}


@pytest.fixture
def warehouse(settings):
    """A `reporting_warehouse` database alias, configured but never connected to here."""
    settings.DATABASES = {
        **settings.DATABASES,
        "reporting_warehouse": {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}},
    }


@pytest.fixture
def live_redis(reporting_redis_url, settings):
    settings.REPORTING_REDIS = {"default": reporting_redis_url}
    settings.REPORTING_CONNECTION_GRANTS = {}
    client = redis.Redis.from_url(reporting_redis_url, decode_responses=True)
    prefix = f"test-grants-{uuid.uuid4().hex[:12]}:"
    client.hset(f"{prefix}member:1", mapping={"name": "Ada", "visits": "3"})
    yield prefix
    client.delete(*client.keys(f"{prefix}*"))
    client.close()


def redis_config(prefix="members:", **extra):
    return {"pattern": f"{prefix}*", "shape": "hash", "fields": ["name", "visits"], **extra}


# --- which connections an organisation may use -----------------------------------------------


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_configured_connections_leave_out_the_reporting_alias(configured, warehouse):
    assert connections_configured() == {
        "database": ["reporting_warehouse"],
        "redis": ["cache", "default"],
        "elasticsearch": ["default", "logs"],
    }


def test_by_default_an_organisation_is_granted_nothing(configured, organization):
    assert connections_granted(organization_id=organization.pk) == {
        "database": [],
        "redis": [],
        "elasticsearch": [],
    }


def test_grants_are_the_rows_and_the_setting_for_that_organisation_only(
    configured, settings, organization, other_organization
):
    ConnectionGrant.objects.create(organization=organization, kind="redis", name="cache")
    ConnectionGrant.objects.create(organization=other_organization, kind="redis", name="default")
    ConnectionGrant.objects.create(organization=organization, kind="redis", name="gone")
    settings.REPORTING_CONNECTION_GRANTS = {"elasticsearch": {"logs": ["acme"]}}

    assert connections_granted(organization_id=organization.pk) == {
        "database": [],
        "redis": ["cache"],
        "elasticsearch": ["logs"],
    }
    assert connections_granted(organization_id=other_organization.pk)["redis"] == ["default"]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_check_names_the_connection_and_how_to_grant_it(configured, warehouse, organization):
    with pytest.raises(DataSourceError) as failure:
        connection_check(
            organization_id=organization.pk, kind="database", name="reporting_warehouse"
        )
    assert str(failure.value) == (
        "The database connection 'reporting_warehouse' is not granted to this organisation: a "
        "superuser grants it in the admin (Connection grants) or with "
        "REPORTING_DATABASE_WAREHOUSE_ORGS."
    )
    with pytest.raises(DataSourceError, match="Unknown elasticsearch connection 'nope'"):
        connection_check(organization_id=organization.pk, kind="elasticsearch", name="nope")

    ConnectionGrant.objects.create(
        organization=organization, kind="database", name="reporting_warehouse"
    )
    connection_check(organization_id=organization.pk, kind="database", name="reporting_warehouse")


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_api_lists_the_connections_the_callers_organisation_may_use(
    configured, warehouse, settings, analyst_client, organization, other_organization
):
    ConnectionGrant.objects.create(
        organization=organization, kind="database", name="reporting_warehouse"
    )
    ConnectionGrant.objects.create(organization=other_organization, kind="redis", name="cache")
    settings.REPORTING_CONNECTION_GRANTS = {"redis": {"default": ["acme"]}}

    response = analyst_client.get(f"{BI}/connections/")

    assert response.status_code == 200
    assert response.json() == {
        "database": ["reporting", "reporting_warehouse"],
        "redis": ["default"],
        "elasticsearch": [],
    }


def test_viewers_may_not_list_connections(configured, viewer_client):
    assert viewer_client.get(f"{BI}/connections").status_code == 403


@pytest.mark.parametrize(
    ("source_type", "config", "message"),
    [
        ("redis", redis_config(), NOT_GRANTED),
        (
            "redis",
            redis_config(connection="cache"),
            "The redis connection 'cache' is not granted to this organisation: a superuser "
            "grants it in the admin (Connection grants) or with REPORTING_REDIS_CACHE_ORGS.",
        ),
        (
            "elasticsearch",
            {"cluster": "logs", "index": "events-*", "fields": ["user"]},
            "The elasticsearch connection 'logs' is not granted to this organisation: a "
            "superuser grants it in the admin (Connection grants) or with "
            "ELASTICSEARCH_LOGS_ORGS.",
        ),
    ],
)
def test_a_source_naming_a_connection_not_granted_is_a_400_naming_it(
    configured, admin_client_api, other_organization, source_type, config, message
):
    for kind in ("redis", "elasticsearch"):
        for name in ("default", "cache", "logs"):
            ConnectionGrant.objects.create(organization=other_organization, kind=kind, name=name)
    body = {"name": "Theirs", "source_type": source_type, "config": config}

    response = admin_client_api.post(f"{BI}/data-sources", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": message, "config": [message]}
    assert not DataSource.objects.filter(name="Theirs").exists()


def test_a_redis_source_with_pattern_star_and_no_connection_is_refused(settings, admin_client_api):
    settings.REPORTING_REDIS = {}
    body = {
        "name": "Everything",
        "source_type": "redis",
        "config": {"pattern": "*", "shape": "string"},
    }

    response = admin_client_api.post(f"{BI}/data-sources", body, format="json")

    assert response.status_code == 400
    assert response.json()["config"] == [
        "Unknown Redis connection 'default': none is configured (declared with "
        "REPORTING_REDIS_URL and REPORTING_REDIS_<NAME>_URL)."
    ]
    assert not DataSource.objects.exists()


def test_a_redis_source_with_pattern_star_on_a_connection_not_granted_is_refused(
    configured, admin_client_api
):
    body = {
        "name": "Everything",
        "source_type": "redis",
        "config": {"pattern": "*", "shape": "string"},
    }

    response = admin_client_api.post(f"{BI}/data-sources", body, format="json")

    assert response.status_code == 400
    assert response.json()["config"] == [NOT_GRANTED]


def test_an_update_to_a_connection_not_granted_is_a_400(configured, admin_client_api, organization):
    ConnectionGrant.objects.create(organization=organization, kind="redis", name="default")
    created = admin_client_api.post(
        f"{BI}/data-sources",
        {"name": "Members", "source_type": "redis", "config": redis_config()},
        format="json",
    )
    assert created.status_code == 201, created.json()

    response = admin_client_api.patch(
        f"{BI}/data-sources/{created.json()['id']}",
        {"config": redis_config(connection="cache")},
        format="json",
    )

    assert response.status_code == 400
    assert "'cache' is not granted" in response.json()["detail"]
    assert DataSource.objects.get().config == redis_config()


def test_a_granted_connection_works_and_a_revoked_one_is_refused_at_every_door(
    live_redis, admin_client_api, organization, admin_user, report_output_dir
):
    grant = ConnectionGrant.objects.create(organization=organization, kind="redis", name="default")
    created = admin_client_api.post(
        f"{BI}/data-sources",
        {"name": "Members", "source_type": "redis", "config": redis_config(live_redis)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    source = DataSource.objects.get(pk=created.json()["id"])
    template = ReportTemplateFactory(
        organization=organization, sources=[source], parameters_schema={"type": "object"}
    )

    test = admin_client_api.post(f"{BI}/data-sources/{source.pk}/test").json()
    assert test["ok"] is True, test
    assert test["message"].startswith("OK: Redis ")
    assert " 1 of " in test["message"]
    assert test["message"].endswith(f" keys match '{live_redis}*'")
    preview = admin_client_api.post(f"{BI}/data-sources/{source.pk}/preview", {}, format="json")
    assert preview.json()["rows"] == [[f"{live_redis}member:1", "Ada", "3"]]
    assert run_csv(template, admin_user) == ["key,name,visits", f"{live_redis}member:1,Ada,3"]

    grant.delete()

    test = admin_client_api.post(f"{BI}/data-sources/{source.pk}/test").json()
    assert test == {"ok": False, "message": NOT_GRANTED}
    preview = admin_client_api.post(f"{BI}/data-sources/{source.pk}/preview", {}, format="json")
    assert preview.status_code == 400
    assert preview.json()["detail"] == NOT_GRANTED
    execution = execution_request(
        template=template, parameters={}, requested_by=admin_user, trigger="api", enqueue=False
    )
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert NOT_GRANTED in execution.error
    assert not execution.outputs.exists()


def run_csv(template, user) -> list[str]:
    execution = execution_request(
        template=template, parameters={}, requested_by=user, trigger="api", enqueue=False
    )
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    with report_storage().open(execution.outputs.get().file.name) as file:
        return file.read().decode().splitlines()


# --- the admin -------------------------------------------------------------------------------

GRANTS = "/admin/reporting/connectiongrant/"


@pytest.fixture
def superuser_client(db):
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_a_superuser_grants_a_configured_connection_in_the_admin(
    configured, superuser_client, organization
):
    response = superuser_client.post(
        f"{GRANTS}add/", {"organization": organization.pk, "kind": "redis", "name": "cache"}
    )

    assert response.status_code == 302, response.content.decode()
    grant = ConnectionGrant.objects.get()
    assert (grant.organization, grant.kind, grant.name) == (organization, "redis", "cache")
    assert grant.granted_by.username == "root"
    assert connections_granted(organization_id=organization.pk)["redis"] == ["cache"]


def test_the_admin_refuses_a_name_that_is_not_a_configured_connection(
    configured, superuser_client, organization
):
    response = superuser_client.post(
        f"{GRANTS}add/", {"organization": organization.pk, "kind": "elasticsearch", "name": "cache"}
    )

    assert response.status_code == 200
    assert "&#x27;cache&#x27; is not a configured elasticsearch connection: choose one of " in (
        response.content.decode()
    )
    assert not ConnectionGrant.objects.exists()


def test_only_superusers_see_or_change_grants_in_the_admin(configured, organization):
    staff = UserFactory(is_staff=True, is_superuser=False)
    MembershipFactory(organization=organization, user=staff, role=Role.SUPER_ADMIN)
    staff.user_permissions.set(
        staff.user_permissions.model.objects.filter(content_type__model="connectiongrant")
    )
    grant = ConnectionGrant.objects.create(organization=organization, kind="redis", name="cache")
    client = Client()
    client.force_login(staff)

    assert client.get(GRANTS).status_code == 403
    assert client.get(f"{GRANTS}add/").status_code == 403
    assert client.post(f"{GRANTS}{grant.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "connectiongrant" not in client.get("/admin/").content.decode()
    assert ConnectionGrant.objects.filter(pk=grant.pk).exists()


def test_the_data_source_admin_refuses_a_connection_not_granted(
    configured, superuser_client, organization
):
    response = superuser_client.post(
        "/admin/reporting/datasource/add/",
        {
            "organization": organization.pk,
            "name": "Members",
            "source_type": "redis",
            "config": '{"pattern": "*", "shape": "string"}',
        },
    )

    assert response.status_code == 200
    assert "is not granted to this organisation" in response.content.decode()
    assert not DataSource.objects.exists()
