from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET

from reporting.links import output_from_link
from reporting.models import AccessAction, ReportOutput, report_storage
from reporting.services.access_log import ClientInfo, access_log_record


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


# A report file is downloaded, never shown in the site's origin: should a browser open an HTML
# output anyway, it runs no script and fetches nothing (the logo and charts are inline).
OUTPUT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def output_file_response(output: ReportOutput) -> FileResponse:
    """The file of an output as an attachment, with the headers that keep HTML inert."""
    response = FileResponse(
        report_storage().open(output.file.name, "rb"),
        as_attachment=True,
        filename=output.filename,
        content_type=output.content_type,
    )
    response["Content-Security-Policy"] = OUTPUT_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return response
