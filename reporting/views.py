from django.conf import settings
from django.core import signing
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from reporting.links import output_from_link
from reporting.models import AccessAction, ReportOutput, report_storage
from reporting.services.access_log import ClientInfo, access_log_record
from reporting.storage import file_signed_url, file_stream


@require_GET
def signed_download(request, token: str):
    """A report file by a signed link from an e-mail or webhook: no login needed."""
    try:
        output = output_from_link(token)
    except signing.SignatureExpired:
        return HttpResponseForbidden("This download link has expired.")
    except signing.BadSignature:
        return HttpResponseForbidden("This download link is not valid.")
    except ReportOutput.DoesNotExist:
        raise Http404("This report file no longer exists.") from None
    if output.expired_at:
        return HttpResponse("This report file has expired and was deleted.", status=410)
    access_log_record(
        organization=output.execution.organization,
        user=None,
        action=AccessAction.DOWNLOAD,
        output=output,
        client=ClientInfo.from_request(request),
    )
    return output_file_response(output)


# Read and sent at a time: Django's 4 KB costs a Python round per 4 KB of a large file.
DOWNLOAD_BLOCK_BYTES = 64 * 1024
PRESIGNED_REDIRECT = (
    "With REPORT_PRESIGNED_DOWNLOADS on S3 storage: Location is a URL of the file, signed for "
    "REPORT_PRESIGNED_SECONDS, that serves it as the same attachment."
)
# A report file is downloaded, never shown in the site's origin: should a browser open an HTML
# output anyway, it runs no script and fetches nothing (the logo and charts are inline).
OUTPUT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def output_file_response(output: ReportOutput) -> HttpResponseBase:
    """The file of an output as an attachment, streamed with the headers that keep HTML inert;
    with REPORT_PRESIGNED_DOWNLOADS on a storage that signs URLs (S3), a redirect to a URL of
    the object that serves it as the same attachment for REPORT_PRESIGNED_SECONDS.

    Callers check the organisation and write the access log first, the same for either answer.
    """
    storage = report_storage()
    if settings.REPORT_PRESIGNED_DOWNLOADS:
        url = file_signed_url(
            storage,
            output.file.name,
            filename=output.filename,
            content_type=output.content_type,
            seconds=settings.REPORT_PRESIGNED_SECONDS,
        )
        if url:
            redirect = HttpResponseRedirect(url)
            redirect["Cache-Control"] = "no-store"  # the URL expires; never replay it from a cache
            return redirect
    try:
        stream, size = file_stream(storage, output.file.name)
    except FileNotFoundError:
        raise Http404("This report file no longer exists.") from None
    response = FileResponse(
        stream, as_attachment=True, filename=output.filename, content_type=output.content_type
    )
    response.block_size = DOWNLOAD_BLOCK_BYTES
    if size is not None:
        response["Content-Length"] = str(size)
    response["Content-Security-Policy"] = OUTPUT_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return response
