"""Named connections and the organisations granted them.

The operator configures every named connection in the environment: database aliases
`reporting_<name>` (REPORTING_DATABASE_<NAME>_URL), Redis connections (REPORTING_REDIS_URL,
REPORTING_REDIS_<NAME>_URL) and Elasticsearch clusters ("default" is ELASTICSEARCH_URL,
ELASTICSEARCH_<NAME>_URL adds more). None is global: an organisation may use one only when it
is granted, by a ConnectionGrant row (a superuser, in the admin) or by the setting beside the
connection's URL that lists organisation slugs (settings.REPORTING_CONNECTION_GRANTS). By
default an organisation uses only its reporting schema, through the `reporting` database alias,
which is not a grant.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Organization
from config.errors import ApplicationError
from reporting.models import ConnectionGrant, ConnectionKind

# The variable beside each kind's URLs that grants by organisation slug ({NAME} is upper case).
GRANT_VARIABLES = {
    ConnectionKind.DATABASE: "REPORTING_DATABASE_{NAME}_ORGS",
    ConnectionKind.REDIS: "REPORTING_REDIS_{NAME}_ORGS",
    ConnectionKind.ELASTICSEARCH: "ELASTICSEARCH_{NAME}_ORGS",
}


def connections_configured() -> dict[str, list[str]]:
    """The named connections the environment declares, by kind."""
    return {
        ConnectionKind.DATABASE: sorted(
            alias for alias in settings.DATABASES if alias.startswith("reporting_")
        ),
        ConnectionKind.REDIS: sorted(name for name, url in settings.REPORTING_REDIS.items() if url),
        ConnectionKind.ELASTICSEARCH: sorted({"default", *settings.ELASTICSEARCH_CLUSTERS}),
    }


def connections_granted(*, organization_id: object) -> dict[str, list[str]]:
    """The configured connections the organisation may use, by kind."""
    slug = Organization.objects.filter(pk=organization_id).values_list("slug", flat=True).first()
    rows = set(
        ConnectionGrant.objects.filter(organization_id=organization_id).values_list("kind", "name")
    )
    by_setting = settings.REPORTING_CONNECTION_GRANTS
    return {
        kind: [
            name
            for name in names
            if (kind, name) in rows or (slug and slug in by_setting.get(kind, {}).get(name, ()))
        ]
        for kind, names in connections_configured().items()
    }


def connection_check(*, organization_id: object, kind: str, name: str) -> None:
    """Raises DataSourceError, naming the connection, unless the organisation may use it."""
    # Imported here: reporting.datasources imports this module (its adapters check grants).
    from reporting.datasources.base import DataSourceError

    configured = connections_configured()[kind]
    if name not in configured:
        raise DataSourceError(f"Unknown {kind} connection {name!r}: {_choices(configured)}")
    if name not in connections_granted(organization_id=organization_id)[kind]:
        raise DataSourceError(
            f"The {kind} connection {name!r} is not granted to this organisation: a superuser "
            f"grants it in the admin (Connection grants) or with {grant_variable(kind, name)}."
        )


def grant_variable(kind: str, name: str) -> str:
    """The environment variable that grants the connection by organisation slug."""
    if name == "default":
        return GRANT_VARIABLES[kind].replace("{NAME}_", "")
    if kind == ConnectionKind.DATABASE:
        name = name.removeprefix("reporting_")
    return GRANT_VARIABLES[kind].replace("{NAME}", name.upper())


def connection_grant_validate(*, kind: str, name: str) -> None:
    """A grant names a configured connection of its kind (ApplicationError if not)."""
    configured = connections_configured().get(kind)
    if configured is None:
        raise ApplicationError(
            f"Unknown connection kind {kind!r}.",
            errors={"kind": [f"One of {', '.join(ConnectionKind.values)}."]},
        )
    if name not in configured:
        reason = f"{name!r} is not a configured {kind} connection: {_choices(configured)}"
        raise ApplicationError(reason, errors={"name": [reason]})


def _choices(configured: list[str]) -> str:
    if configured:
        return f"choose one of {', '.join(configured)}."
    return "none is configured (the environment declares them)."


def connection_grant_save(
    *, grant: ConnectionGrant, granted_by: AbstractBaseUser | None
) -> ConnectionGrant:
    connection_grant_validate(kind=grant.kind, name=grant.name)
    if grant.pk is None:
        grant.granted_by = granted_by
    grant.save()
    return grant
