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


@pytest.fixture
def scratch_manage(scratch_database):
    """`manage.py` with its arguments on the scratch database, in a process of its own; its
    output."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    environment = {**os.environ, "DATABASE_URL": scratch_database}

    def manage(*arguments: str) -> str:
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), *arguments]
        done = subprocess.run(command, env=environment, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    return manage
