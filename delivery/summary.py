"""The daily e-mail to each organisation's admins: the last 24 hours of reports, what failed and
why, and deliveries that gave up. Organisations with no executions that day get no e-mail."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Membership, Organization, Role
from delivery.models import Delivery, DeliveryStatus
from reporting.models import ExecutionStatus, ReportExecution

ADMIN_ROLES = (Role.ADMIN, Role.SUPER_ADMIN)


def summary_send_daily(*, now: datetime | None = None) -> int:
    """Sends one summary per active organisation; returns how many were sent."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    active = Organization.objects.filter(report_executions__queued_at__gte=since).distinct()
    messages = [message for org in active if (message := _summary(org, since, now))]
    if messages:
        with get_connection() as connection:
            connection.send_messages(messages)
    return len(messages)


def _summary(organization: Organization, since: datetime, now: datetime):
    recipients = sorted(
        Membership.objects.filter(organization=organization, role__in=ADMIN_ROLES)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not recipients:
        return None
    executions = ReportExecution.objects.filter(organization=organization, queued_at__gte=since)
    context = {
        "organization": organization,
        "since": since,
        "now": now,
        "total": executions.count(),
        "counts": {s.label: executions.filter(status=s).count() for s in ExecutionStatus},
        "failures": executions.filter(status=ExecutionStatus.FAILED).select_related("template"),
        "failed_deliveries": Delivery.objects.filter(
            execution__in=executions, status=DeliveryStatus.FAILED
        ).select_related("target", "execution__template"),
        "site_url": settings.SITE_URL,
    }
    failed = context["counts"][ExecutionStatus.FAILED.label]
    subject = (
        f"Reporting Hub: {organization.name}: {context['total']} reports in 24 hours, "
        f"{failed} failed"
    )
    message = EmailMultiAlternatives(
        subject, render_to_string("delivery/daily_summary.txt", context), to=recipients
    )
    message.attach_alternative(
        render_to_string("delivery/daily_summary.html", context), "text/html"
    )
    return message
