"""When a message in the outbox (a queued execution, a due delivery) is sent to the broker again.

The first copy goes REPORT_RESEND_AFTER seconds after the last send, then after waits that
double, at most RESEND_MAX_WAIT: a lost message is re-sent soon, and a backlog behind busy
workers is not flooded with copies (the claim makes the copies harmless, not free).
"""

from datetime import datetime, timedelta

from django.conf import settings

RESEND_MAX_WAIT = timedelta(minutes=5)


def resend_due(*, now: datetime, waiting_since: datetime, sent_at: datetime | None) -> bool:
    """Whether to send again a message waiting since `waiting_since`, last sent at `sent_at`
    (None: never sent, or the broker refused it)."""
    if sent_at is None:
        return True
    first_wait = timedelta(seconds=settings.REPORT_RESEND_AFTER)
    return now - sent_at >= min(max(first_wait, sent_at - waiting_since), RESEND_MAX_WAIT)
