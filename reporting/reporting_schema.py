"""The reporting schema: the views report SQL reads, each showing the running organisation only.

This is the interface report authors write against (the README lists every view and column):
renaming or dropping a column is a breaking change; adding one is not.

PostgreSQL: views in the schema `reporting` (migration 0013), `security_barrier`, keeping the
rows of `reporting.organization_id()`, the organisation of the connection's session role
(accounts/database_roles.py); the role's search_path is `reporting`, so `FROM usage_events`
works as written. SQLite: the same views are made as TEMP views on the report connection for
each run (`sqlite_views`), filtering on `reporting_organization_id()`, a function the run
registers; see reporting/datasources/database/sqlite_authorizer.py for why they come in two
layers.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    name: str
    about: str
    columns: tuple[tuple[str, str], ...]  # (column, meaning)
    body: str  # SELECT … with {organization}: the running organisation's id
    tables: tuple[str, ...]  # the base tables it reads, for "use this view instead" messages

    def select(self, organization: str) -> str:
        return self.body.format(organization=organization)


def _columns(table_alias: str, names: str) -> str:
    return ", ".join(f"{table_alias}.{name}" for name in names.split())


VIEWS = (
    View(
        "usage_events",
        "What members did (logins, bookings, …), as sent to /api/v1/analytics/events.",
        (
            ("id", "row id"),
            ("event_id", "the sender's id of the event, if any"),
            ("event_type", "e.g. login, booking"),
            ("event_category", "e.g. authentication"),
            ("user_id", "who (a keyed hash when pseudonymised)"),
            ("metadata", "the event's JSON"),
            ("timestamp", "when it happened (UTC)"),
            ("received_at", "when it arrived (UTC)"),
        ),
        "SELECT "
        + _columns("e", "id event_id event_type event_category user_id metadata timestamp")
        + ", e.received_at FROM events_usageevent e WHERE e.organization_id = {organization}",
        ("events_usageevent",),
    ),
    View(
        "equipment_sessions",
        "Machine sessions: who used which machine, how long, what it cost and earned.",
        (
            ("id", "row id"),
            ("session_id", "the sender's id of the session"),
            ("equipment_id", ""),
            ("equipment_name", ""),
            ("equipment_type", "e.g. 3d_printer, laser_cutter"),
            ("user_id", ""),
            ("project_id", ""),
            ("usage_type", "e.g. project, training, maintenance"),
            ("status", "e.g. completed, failed"),
            ("start_time", "UTC"),
            ("end_time", "UTC"),
            ("duration_minutes", ""),
            ("materials_used", "JSON"),
            ("cost", "decimal"),
            ("revenue", "decimal"),
            ("received_at", "UTC"),
        ),
        "SELECT "
        + _columns(
            "s",
            "id session_id equipment_id equipment_name equipment_type user_id project_id "
            "usage_type status start_time end_time duration_minutes materials_used cost revenue "
            "received_at",
        )
        + " FROM events_equipmentusagelog s WHERE s.organization_id = {organization}",
        ("events_equipmentusagelog",),
    ),
    View(
        "inventory_records",
        "Consumables used per item and day.",
        (
            ("id", "row id"),
            ("item_id", ""),
            ("item_name", ""),
            ("category", ""),
            ("date", "local day"),
            ("quantity_consumed", ""),
            ("cost_consumed", "decimal"),
            ("efficiency_score", ""),
            ("waste_percentage", ""),
            ("reorder_triggered", "boolean"),
            ("received_at", "UTC"),
        ),
        "SELECT "
        + _columns(
            "i",
            "id item_id item_name category date quantity_consumed cost_consumed "
            "efficiency_score waste_percentage reorder_triggered received_at",
        )
        + " FROM events_inventoryanalytics i WHERE i.organization_id = {organization}",
        ("events_inventoryanalytics",),
    ),
    View(
        "projects",
        "Members' projects and their bill of materials.",
        (
            ("id", "row id"),
            ("project_id", ""),
            ("name", ""),
            ("status", "e.g. active, completed"),
            ("start_date", ""),
            ("end_date", "empty while open"),
            ("bom_cost", "decimal"),
            ("bom_item_count", ""),
            ("bom_items", "JSON"),
            ("received_at", "UTC"),
        ),
        "SELECT "
        + _columns(
            "p",
            "id project_id name status start_date end_date bom_cost bom_item_count bom_items "
            "received_at",
        )
        + " FROM events_projectanalytics p WHERE p.organization_id = {organization}",
        ("events_projectanalytics",),
    ),
    View(
        "revenue_transactions",
        "Payments received.",
        (
            ("id", "row id"),
            ("transaction_id", ""),
            ("timestamp", "UTC"),
            ("revenue_source", "e.g. membership, machine_time"),
            ("amount", "decimal"),
            ("currency", "ISO 4217"),
            ("payment_method", ""),
            ("customer_id", ""),
            ("received_at", "UTC"),
        ),
        "SELECT "
        + _columns(
            "r",
            "id transaction_id timestamp revenue_source amount currency payment_method "
            "customer_id received_at",
        )
        + " FROM events_revenueanalytics r WHERE r.organization_id = {organization}",
        ("events_revenueanalytics",),
    ),
    View(
        "members",
        "The organisation's members and their roles (no credentials).",
        (
            ("user_id", ""),
            ("username", ""),
            ("first_name", ""),
            ("last_name", ""),
            ("email", ""),
            ("role", "viewer, analyst, admin or super_admin"),
            ("is_active", "boolean"),
            ("member_since", "UTC"),
            ("last_login", "UTC"),
        ),
        "SELECT u.id AS user_id, u.username, u.first_name, u.last_name, u.email, m.role, "
        "u.is_active, m.created_at AS member_since, u.last_login "
        "FROM accounts_membership m JOIN auth_user u ON u.id = m.user_id "
        "WHERE m.organization_id = {organization}",
        ("accounts_membership", "auth_user"),
    ),
    View(
        "report_templates",
        "Report templates (their definitions stay in the API).",
        (
            ("id", ""),
            ("name", ""),
            ("slug", ""),
            ("report_type", ""),
            ("is_public", "boolean"),
            ("run_role", "the least role that may run it"),
            ("created_at", "UTC"),
            ("updated_at", "UTC"),
        ),
        "SELECT "
        + _columns("t", "id name slug report_type is_public run_role created_at updated_at")
        + " FROM reporting_reporttemplate t WHERE t.organization_id = {organization}",
        ("reporting_reporttemplate",),
    ),
    View(
        "report_executions",
        "Report runs.",
        (
            ("id", ""),
            ("template_id", ""),
            ("template_name", ""),
            ("status", "queued, running, succeeded, failed, cancelled"),
            ("trigger", "manual, api, schedule, retry, …"),
            ("parameters", "JSON"),
            ("output_formats", "JSON"),
            ("requested_by_id", "a members.user_id"),
            ("schedule_id", ""),
            ("slot_at", "UTC, scheduled runs"),
            ("queued_at", "UTC"),
            ("started_at", "UTC"),
            ("finished_at", "UTC"),
            ("row_count", ""),
            ("attempts", ""),
            ("error", "why it failed"),
        ),
        "SELECT x.id, x.template_id, t.name AS template_name, "
        + _columns(
            "x",
            "status trigger parameters output_formats requested_by_id schedule_id slot_at "
            "queued_at started_at finished_at row_count attempts error",
        )
        + " FROM reporting_reportexecution x "
        "JOIN reporting_reporttemplate t ON t.id = x.template_id "
        "WHERE x.organization_id = {organization}",
        ("reporting_reportexecution",),
    ),
    View(
        "report_outputs",
        "Files the runs produced: metadata only, never the file or where it is stored.",
        (
            ("id", ""),
            ("execution_id", ""),
            ("format", "pdf, csv, xlsx, html, json"),
            ("filename", ""),
            ("size", "bytes"),
            ("sha256", ""),
            ("content_type", ""),
            ("created_at", "UTC"),
            ("expires_at", "UTC"),
            ("expired_at", "UTC, once the file was deleted"),
        ),
        "SELECT "
        + _columns(
            "o",
            "id execution_id format filename size sha256 content_type created_at expires_at "
            "expired_at",
        )
        + " FROM reporting_reportoutput o "
        "JOIN reporting_reportexecution x ON x.id = o.execution_id "
        "WHERE x.organization_id = {organization}",
        ("reporting_reportoutput",),
    ),
    View(
        "deliveries",
        "Each run's delivery to each target (e-mail, storage, webhook).",
        (
            ("id", ""),
            ("delivery_id", "uuid, as sent in webhooks"),
            ("execution_id", ""),
            ("target_id", ""),
            ("target_name", ""),
            ("channel", "email, storage or webhook"),
            ("status", "pending, sent, failed, skipped"),
            ("attempts", ""),
            ("last_error", ""),
            ("response_status", "webhooks' HTTP status"),
            ("next_attempt_at", "UTC"),
            ("sent_at", "UTC"),
            ("created_at", "UTC"),
        ),
        "SELECT d.id, d.delivery_id, d.execution_id, d.target_id, g.name AS target_name, "
        "g.kind AS channel, "
        + _columns(
            "d", "status attempts last_error response_status next_attempt_at sent_at created_at"
        )
        + " FROM delivery_delivery d JOIN delivery_deliverytarget g ON g.id = d.target_id "
        "WHERE g.organization_id = {organization}",
        ("delivery_delivery", "delivery_deliverytarget"),
    ),
    View(
        "daily_snapshots",
        "The analytics roll-ups: one JSON value per local day and metric.",
        (
            ("date", "local day"),
            ("metric", "e.g. events, equipment"),
            ("value", "JSON"),
            ("computed_at", "UTC"),
        ),
        "SELECT "
        + _columns("a", "date metric value computed_at")
        + " FROM analytics_analyticssnapshot a WHERE a.organization_id = {organization}",
        ("analytics_analyticssnapshot",),
    ),
)
VIEW_NAMES = frozenset(view.name for view in VIEWS)
_VIEW_FOR_TABLE = {table: view.name for view in VIEWS for table in view.tables}


def instead_of(table: str) -> str:
    """What to tell someone whose SQL read `table`, which report SQL cannot read."""
    view = _VIEW_FOR_TABLE.get(table)
    if view:
        return f"{table} is not readable by report SQL: use the reporting view {view} instead."
    return (
        f"{table} is not readable by report SQL, which reads the reporting schema's views: "
        + ", ".join(view.name for view in VIEWS)
        + "."
    )


def postgresql_sql(function_sql: str) -> list[str]:
    """The schema, the organisation function and the views, replacing earlier definitions."""
    return [
        "CREATE SCHEMA IF NOT EXISTS reporting",
        function_sql,
        *(
            f"CREATE OR REPLACE VIEW reporting.{view.name} WITH (security_barrier) AS "
            + view.select("reporting.organization_id()")
            for view in VIEWS
        ),
    ]


def postgresql_drop_sql() -> list[str]:
    return ["DROP SCHEMA IF EXISTS reporting CASCADE"]


def sqlite_views(hidden_prefix: str) -> list[str]:
    """TEMP views for one SQLite run: `<hidden_prefix><name>` reads the base tables, `<name>`
    reads the hidden one. Only the run knows the prefix (a random token)."""
    statements = []
    for view in VIEWS:
        hidden = f'"{hidden_prefix}{view.name}"'
        statements.append(
            f"CREATE TEMP VIEW {hidden} AS " + view.select("reporting_organization_id()")
        )
        statements.append(f'CREATE TEMP VIEW "{view.name}" AS SELECT * FROM {hidden}')
    return statements
