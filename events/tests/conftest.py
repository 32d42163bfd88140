"""Fixtures of the events tests."""

import pytest


@pytest.fixture
def scratch_database():
    """A database of its own, named after the test database, dropped afterwards."""
    import psycopg2
    from django.conf import settings

    params = settings.DATABASES["default"]
    name = f"{params['TEST'].get('NAME') or 'test_' + params['NAME']}_migration"
    server = psycopg2.connect(dbname="postgres", user=params["USER"], host=params["HOST"],
                              port=params["PORT"], password=params["PASSWORD"])  # fmt: skip
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    auth = f"{params['USER']}:{params['PASSWORD']}@" if params["PASSWORD"] else f"{params['USER']}@"
    yield f"postgres://{auth}{params['HOST']}:{params['PORT']}/{name}"
    with server.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server.close()
