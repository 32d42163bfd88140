from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from accounts.database_roles import createrole_missing


@register(Tags.database)
def reporting_roles_check(app_configs, databases=None, **kwargs):
    """Report SQL on PostgreSQL runs as one role per organisation, which needs CREATEROLE.
    Runs with `migrate` (so at every `make run`) and `check --database default`."""
    if not databases or "default" not in databases:
        return []
    try:
        user = createrole_missing()
    except DatabaseError:
        return []  # the database is down: migrate says so itself
    if user is None:
        return []
    return [
        Error(
            f"The database user {user!r} lacks CREATEROLE: report SQL runs as one PostgreSQL "
            "role per organisation, which the service creates.",
            hint=f"As a superuser: ALTER ROLE {user} CREATEROLE; then manage.py "
            "sync_reporting_roles.",
            id="reporting_hub.E002",
        )
    ]
