"""Each organisation's PostgreSQL role for report SQL: made, kept in sync, dropped, checked."""

import pytest
from django.core.management import call_command
from django.db import connection, connections
from psycopg2 import sql

from accounts import database_roles
from accounts.checks import reporting_roles_check
from accounts.models import Organization
from accounts.services import organization_create, organization_delete

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def role_config(name: str) -> list[str] | None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT rolconfig FROM pg_roles WHERE rolname = %s", [name])
        row = cursor.fetchone()
    return row and row[0]


def test_a_new_organisation_gets_its_role_and_deleting_it_drops_the_role():
    organization = organization_create(name="Acme", slug="acme")
    name = database_roles.tenant_role(organization.pk).name
    assert name.startswith("rh_")
    assert len(name) == 44
    assert "search_path=reporting" in role_config(name)

    organization_delete(organization=organization)

    assert role_config(name) is None


def test_the_admin_deletes_the_role_with_the_organisation(client):
    from accounts.tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    organization = organization_create(name="Acme", slug="acme")
    name = database_roles.tenant_role(organization.pk).name
    client.post(f"/admin/accounts/organization/{organization.pk}/delete/", {"post": "yes"})
    assert not Organization.objects.exists()
    assert role_config(name) is None


def test_sync_makes_missing_roles_resets_changed_ones_and_drops_stale_ones(capsys):
    database_roles.roles_drop_all()  # roles other tests' organisations left in the cluster
    kept = organization_create(name="Acme", slug="acme")
    missing = Organization.objects.create(name="Northwind", slug="northwind")  # no role yet
    kept_role = database_roles.tenant_role(kept.pk).name
    stale = f"{database_roles.group_role_name().removesuffix('reader')}{'0' * 32}"
    with connections["default"].cursor() as cursor:
        cursor.execute(sql.SQL("ALTER ROLE {} RESET search_path").format(sql.Identifier(kept_role)))
        cursor.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(stale)))

    call_command("sync_reporting_roles")

    assert "2 made or reset, 1 dropped" in capsys.readouterr().out
    assert "search_path=reporting" in role_config(kept_role)
    assert role_config(database_roles.tenant_role(missing.pk).name) is not None
    assert role_config(stale) is None


def test_a_database_user_without_createrole_is_a_start_up_error():
    assert reporting_roles_check(None, databases=["default"]) == []
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE ROLE rh_test_no_createrole NOLOGIN")
        try:
            cursor.execute("SET ROLE rh_test_no_createrole")
            errors = reporting_roles_check(None, databases=["default"])
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute("DROP ROLE rh_test_no_createrole")
    assert [error.id for error in errors] == ["reporting_hub.E002"]
    assert "lacks CREATEROLE" in errors[0].msg
    assert "ALTER ROLE rh_test_no_createrole CREATEROLE" in errors[0].hint
