from datetime import UTC, datetime, timedelta

from delivery.models import Delivery
from delivery.services import target_create
from delivery.tasks import send_report_summary_notification
from reporting.models import ReportExecution

NOW = datetime(2025, 3, 5, 7, tzinfo=UTC)


def test_admins_get_the_last_day_of_reports_with_failures_and_given_up_deliveries(
    smtp_server, organization, billing_template, admin_user, viewer, other_organization
):
    import time_machine

    def execution(status, hours_ago, error=""):
        return ReportExecution.objects.create(
            organization=organization, template=billing_template, status=status, error=error,
            queued_at=NOW - timedelta(hours=hours_ago),
        )  # fmt: skip

    execution("succeeded", 2)
    failed = execution("failed", 3, error="Data source “Invoices”: relation missing")
    delivered = execution("succeeded", 5)
    execution("failed", 30, error="too old to mention")
    target = target_create(organization=organization, created_by=None, name="Finance inbox",
                           kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip
    Delivery.objects.create(execution=delivered, target=target, status="failed", attempts=6,
                            last_error="Could not connect to the mail server")  # fmt: skip
    board = target_create(organization=organization, created_by=None, name="Board inbox",
                          kind="email", config={"recipients": ["board@acme.test"]})  # fmt: skip
    Delivery.objects.create(execution=failed, target=board, status="skipped",
                            last_error="Nothing to deliver: the report failed.")  # fmt: skip

    with time_machine.travel(NOW, tick=False):
        assert send_report_summary_notification() == 1  # the other organisation was idle

    [(recipients, message)] = smtp_server.messages
    assert recipients == [admin_user.email]  # admins only, not the viewer
    assert message["Subject"] == "Reporting Hub: Acme Makerspace: 3 reports in 24 hours, 1 failed"
    text = message.get_body(("plain",)).get_content()
    assert "3 executions: 0 queued, 0 running, 2 succeeded, 1 failed, 0 cancelled." in text
    assert "relation missing" in text
    assert "too old to mention" not in text
    assert "Finance inbox after 6 attempts: Could not connect to the mail server" in text
    assert "Board inbox" not in text  # skipped, not given up: its report's failure is listed
