"""Download links that work without a login, for e-mails and webhooks: signed and expiring.

A link carries the output's id signed with SECRET_KEY and a timestamp; an altered link or one
older than REPORT_LINK_MAX_AGE_DAYS is refused (403). Each use is written to the access log.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from reporting.models import ReportOutput

SALT = "reporting.output-link"


def output_link(output: ReportOutput) -> str:
    token = signing.TimestampSigner(salt=SALT).sign(str(output.pk))
    return settings.SITE_URL.rstrip("/") + reverse("report-output-link", args=[token])


def output_from_link(token: str) -> ReportOutput:
    """The output a link names; raises signing.BadSignature (SignatureExpired is one)."""
    max_age = settings.REPORT_LINK_MAX_AGE_DAYS * 24 * 3600
    output_id = signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age)
    return ReportOutput.objects.select_related("execution__organization").get(pk=int(output_id))
