"""Report files in their storage (`reporting.models.report_storage`: a local folder, or S3 when
REPORT_STORAGE_URL names a bucket): read as a stream, or handed out as a presigned URL.

Everything goes through Django's storage API, so a file one host wrote is there for every other.
"""

import sys
from typing import IO

from django.core.files.storage import Storage
from django.utils.http import content_disposition_header


def storage_errors() -> tuple[type[Exception], ...]:
    """What a storage raises when it cannot read, write, list or delete: the local disk's errors,
    and boto3's (S3 unreachable, a refused key, a missing bucket) once S3 is in use.

    boto3 is only loaded by an S3 storage; the service without one never pays its import.
    """
    errors: tuple[type[Exception], ...] = (OSError,)
    if botocore := sys.modules.get("botocore.exceptions"):
        errors += (botocore.BotoCoreError, botocore.ClientError)
    if boto3 := sys.modules.get("boto3.exceptions"):
        errors += (boto3.Boto3Error,)
    return errors


def is_s3(storage: Storage) -> bool:
    s3 = sys.modules.get("storages.backends.s3")  # loaded by any S3Storage in use
    return s3 is not None and isinstance(storage, s3.S3Storage)


def bucket_check(storage: Storage) -> None:
    """Raise unless the bucket of an S3 storage answers to this process's keys."""
    if is_s3(storage):
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)


def file_stream(storage: Storage, name: str) -> tuple[IO[bytes], int | None]:
    """The stored file open to be read in chunks, never whole, and its size when the storage
    says it on the way. A missing file raises FileNotFoundError, whichever the storage."""
    if not is_s3(storage):
        return storage.open(name, "rb"), None
    # S3Storage.open() would download the whole object before the first byte is read; the
    # object's own body streams from the socket instead.
    stored = storage.open(name, "rb")  # FileNotFoundError when there is no such key
    try:
        answer = stored.obj.get()
    except sys.modules["botocore.exceptions"].ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(f"File does not exist: {name}") from error
        raise
    return answer["Body"], answer["ContentLength"]


def file_signed_url(
    storage: Storage, name: str, *, filename: str, content_type: str, seconds: int
) -> str | None:
    """A URL that serves the file as the attachment `filename` for `seconds`, signed with the
    storage's key; None when the storage cannot sign one (a local folder)."""
    if not is_s3(storage) or not storage.querystring_auth:
        return None
    return storage.url(
        name,
        parameters={
            "ResponseContentDisposition": content_disposition_header(True, filename),
            "ResponseContentType": content_type,
        },
        expire=seconds,
    )
