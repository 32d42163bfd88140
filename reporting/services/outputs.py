from django.utils import timezone

from reporting.models import ReportOutput, report_storage

CLEAN_BATCH = 500


def outputs_clean_expired() -> int:
    """Delete the files of expired outputs and mark them expired; the rows stay as history."""
    cleaned = 0
    while batch := list(
        ReportOutput.objects.filter(expired_at=None, expires_at__lte=timezone.now())
        .order_by("pk")
        .values_list("pk", "file")[:CLEAN_BATCH]
    ):
        storage = report_storage()
        for _, name in batch:
            storage.delete(name)
        ReportOutput.objects.filter(pk__in=[pk for pk, _ in batch]).update(
            expired_at=timezone.now()
        )
        cleaned += len(batch)
    return cleaned
