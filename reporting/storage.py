"""Report files in their storage (`reporting.models.report_storage`: a local folder, or S3 when
REPORT_STORAGE_URL names a bucket): read as a stream, or handed out as a presigned URL.

Everything goes through Django's storage API, so a file one host wrote is there for every other.
"""

from typing import IO

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import Storage
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage

# What a storage raises when it cannot read, write, list or delete: the local disk's errors, and
# boto3's (S3 unreachable, a refused key, a missing bucket).
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError, Boto3Error)


def file_stream(storage: Storage, name: str) -> tuple[IO[bytes], int | None]:
    """The stored file open to be read in chunks, never whole, and its size when the storage
    says it on the way. A missing file raises FileNotFoundError, whichever the storage."""
    if not isinstance(storage, S3Storage):
        return storage.open(name, "rb"), None
    # S3Storage.open() would download the whole object before the first byte is read; the
    # object's own body streams from the socket instead.
    stored = storage.open(name, "rb")  # FileNotFoundError when there is no such key
    try:
        answer = stored.obj.get()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(f"File does not exist: {name}") from error
        raise
    return answer["Body"], answer["ContentLength"]


def file_signed_url(
    storage: Storage, name: str, *, filename: str, content_type: str, seconds: int
) -> str | None:
    """A URL that serves the file as the attachment `filename` for `seconds`, signed with the
    storage's key; None when the storage cannot sign one (a local folder)."""
    if not isinstance(storage, S3Storage) or not storage.querystring_auth:
        return None
    return storage.url(
        name,
        parameters={
            "ResponseContentDisposition": content_disposition_header(True, filename),
            "ResponseContentType": content_type,
        },
        expire=seconds,
    )
