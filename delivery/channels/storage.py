"""Storage delivery: each output written to a local folder or an S3 bucket.

Config: {"backend": "local", "path": "monthly"} or {"backend": "s3", "bucket": ...,
"prefix": "", "region": "", "endpoint_url": "" (S3-compatible servers), "access_key_id" and
"secret_access_key" (write-only; without them boto3's default credential chain)}, both with
"filename_pattern". Pattern names: {template_slug}, {slot_date} (the slot's date, or the day
a one-off run was generated), {format} (csv, pdf…), {extension} (the file's own: a CSV of
several tables is a zip), {execution_id} and {filename} (the output's own name).

A local `path` is a folder inside the organisation's own folder, `<root>/<organisation id>/`
(relative to it in the first of DELIVERY_STORAGE_ROOTS, or absolute inside it; see
local_folder). A folder outside it is refused when the target is saved, and again when it
delivers: a target saved before the rule, or a link planted since, fails its delivery saying
where it may write instead.

A file of the same name is overwritten, so a retry replaces its earlier attempt instead of
leaving a renamed copy beside it.
"""

import hashlib
import io
import os
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import SuspiciousOperation
from django.core.files import File
from django.core.files.storage import Storage
from django.utils import timezone
from storages.backends.s3 import S3Storage

from config.outbound import OutboundURLError, outbound_url_check
from delivery.channels.base import (
    ConfigError,
    DeliveredFile,
    DeliveryError,
    DeliveryMessage,
    DeliveryResult,
    config_public,
    config_unknown_fields,
    pattern_fill,
    pattern_problems,
)
from delivery.channels.local_folder import (
    FolderRefused,
    OrganizationFolder,
    file_write,
    folder_normalise,
    folder_resolve,
)

FILENAME_NAMES = ("template_slug", "slot_date", "format", "extension", "execution_id", "filename")
DEFAULT_FILENAME_PATTERN = "{template_slug}/{slot_date}/{template_slug}_{slot_date}.{extension}"
TEST_FILENAME = "reporting-hub-test.txt"
_LOCAL_FIELDS = ("backend", "path", "filename_pattern")
_S3_FIELDS = (
    "backend",
    "bucket",
    "prefix",
    "region",
    "endpoint_url",
    "access_key_id",
    "secret_access_key",
    "filename_pattern",
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9-]{1,40}$")
_S3_CLIENT_CONFIG = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})


class StorageChannel:
    kind = "storage"
    secret_fields = ("access_key_id", "secret_access_key")

    def config_validate(
        self, config: dict, *, allowed_email_domains: list[str], organization_id: str
    ) -> dict:
        backend = config.get("backend") if isinstance(config, dict) else None
        if backend == "local":
            return _local_config(config, organization_id)
        if backend == "s3":
            return _s3_config(config)
        raise ConfigError({"backend": ['Must be "local" or "s3".']})

    def config_public(self, config: dict) -> dict:
        return config_public(config, self.secret_fields)

    def deliver(self, config: dict, message: DeliveryMessage) -> DeliveryResult:
        write, where = _destination(config, message.organization_id)
        pattern = config.get("filename_pattern", DEFAULT_FILENAME_PATTERN)
        names = [write(_name(pattern, message, f), f) for f in message.files]
        return DeliveryResult(response_status=None, detail=f"Wrote {', '.join(names)} to {where}.")

    def send_test(
        self, config: dict, *, organization_id: str, organization_name: str
    ) -> DeliveryResult:
        text = f"Reporting Hub test file for {organization_name}, {timezone.now().isoformat()}\n"
        content = text.encode()
        test_file = DeliveredFile(
            format="txt",
            filename=TEST_FILENAME,
            content_type="text/plain",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            open=lambda: io.BytesIO(content),
            download_url="",
        )
        write, where = _destination(config, organization_id)
        name = write(TEST_FILENAME, test_file)
        return DeliveryResult(response_status=None, detail=f"Wrote {name} to {where}.")


def _local_config(config: dict, organization_id: str) -> dict:
    errors = config_unknown_fields(config, _LOCAL_FIELDS)
    path = folder_normalise(config.get("path", ""))
    path_problems = _local_path_problems(path, organization_id)
    pattern = config.get("filename_pattern", DEFAULT_FILENAME_PATTERN)
    found = {"path": path_problems, "filename_pattern": _pattern_problems(pattern)}
    errors.update({field: problems for field, problems in found.items() if problems})
    if errors:
        raise ConfigError(errors)
    return {
        "backend": "local",
        "path": path,
        "filename_pattern": pattern,
    }


def _local_path_problems(path: str, organization_id: str) -> list[str]:
    try:
        folder_resolve(path, organization_id=organization_id)
    except FolderRefused as refused:
        return [refused.message]
    return []


def _s3_config(config: dict) -> dict:
    errors = config_unknown_fields(config, _S3_FIELDS)
    normalised = {
        "backend": "s3",
        "bucket": _text(config.get("bucket")),
        "prefix": _text(config.get("prefix")).strip("/"),
        "region": _text(config.get("region")),
        "endpoint_url": _text(config.get("endpoint_url")),
        "access_key_id": _text(config.get("access_key_id")),
        "secret_access_key": _text(config.get("secret_access_key")),
        "filename_pattern": config.get("filename_pattern", DEFAULT_FILENAME_PATTERN),
    }
    found = _s3_problems(normalised)
    errors.update({field: problems for field, problems in found.items() if problems})
    if errors:
        raise ConfigError(errors)
    return {field: value for field, value in normalised.items() if value}


def _s3_problems(config: dict) -> dict[str, list[str]]:
    found = {
        "bucket": [] if _BUCKET.match(config["bucket"]) else ["Give a valid S3 bucket name."],
        "prefix": _prefix_problems(config["prefix"]),
        "region": _region_problems(config["region"]),
        "endpoint_url": _endpoint_problems(config["endpoint_url"]),
        "filename_pattern": _pattern_problems(config["filename_pattern"]),
    }
    if bool(config["access_key_id"]) != bool(config["secret_access_key"]):
        found["secret_access_key"] = ["Give both access_key_id and secret_access_key, or neither."]
    return found


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _prefix_problems(prefix: str) -> list[str]:
    parts = prefix.split("/") if prefix else []
    if "\\" in prefix or any(part in ("", ".", "..") for part in parts):
        return ["Folder names separated by /, without empty, . or .. parts."]
    return []


def _region_problems(region: str) -> list[str]:
    return [] if not region or _REGION.match(region) else ["Not an AWS region name."]


def _endpoint_problems(endpoint_url: str) -> list[str]:
    if not endpoint_url:
        return []
    try:
        outbound_url_check(endpoint_url)
    except OutboundURLError as exc:
        return [str(exc)]
    return []


def _pattern_problems(pattern: Any) -> list[str]:
    problems = pattern_problems(pattern, FILENAME_NAMES)
    if problems:
        return problems
    if pattern.startswith("/") or "\\" in pattern or ".." in pattern.split("/"):
        return ["A relative path: no leading /, no \\ and no .. folders."]
    if not any(name in pattern for name in ("{format}", "{extension}", "{filename}")):
        return ["Include {format}, {extension} or {filename}, or outputs overwrite each other."]
    return []


def _name(pattern: str, message: DeliveryMessage, file: DeliveredFile) -> str:
    values = {
        "template_slug": message.template_slug,
        "slot_date": message.report_date.isoformat(),
        "format": file.format,
        "extension": file.extension,
        "execution_id": str(message.execution_id),
        "filename": file.filename,
    }
    # A value is one path segment: a slash in it must not make a folder.
    safe = {name: value.replace("/", "_").replace("\\", "_") for name, value in values.items()}
    return pattern_fill(pattern, safe)


def _destination(
    config: dict, organization_id: str
) -> tuple[Callable[[str, DeliveredFile], str], str]:
    """A function that writes one file under a name and returns it, and where files go."""
    if config["backend"] == "local":
        folder = _local_folder(config["path"], organization_id)
        return partial(_local_write, folder), str(folder.path)
    bucket = f"s3://{config['bucket']}/{config.get('prefix', '')}".rstrip("/")
    return partial(_s3_write, _s3_storage(config)), bucket


def _local_folder(path: str, organization_id: str) -> OrganizationFolder:
    try:
        return folder_resolve(path, organization_id=organization_id)
    except FolderRefused as refused:
        raise DeliveryError(
            f"The folder {path} is not allowed: {refused.message}", retry=False
        ) from refused


def _local_write(folder: OrganizationFolder, name: str, file: DeliveredFile) -> str:
    try:
        with file.open() as stored:
            file_write(folder, name, stored)
    except FolderRefused as refused:
        raise DeliveryError(f"Did not write {name}: {refused.message}", retry=False) from refused
    except OSError as exc:
        raise DeliveryError(f"Could not write {name}: {_reason(exc)}") from exc
    return name


def _s3_storage(config: dict) -> Storage:
    endpoint_url = config.get("endpoint_url")
    if endpoint_url:
        try:
            outbound_url_check(endpoint_url)
        except OutboundURLError as exc:
            raise DeliveryError(str(exc)) from exc
    return S3Storage(**_s3_options(config))


def _s3_options(config: dict) -> dict:
    options = {
        "bucket_name": config["bucket"],
        "location": config.get("prefix", ""),
        "region_name": config.get("region") or None,
        "endpoint_url": config.get("endpoint_url") or None,
        # S3-compatible servers (MinIO, Ceph) seldom serve bucket.host names.
        "addressing_style": "path" if config.get("endpoint_url") else None,
        "file_overwrite": True,
        "default_acl": None,
        "object_parameters": {},
        "gzip": False,
        "client_config": _S3_CLIENT_CONFIG,
    }
    if config.get("access_key_id"):
        # Explicit keys: nothing from the server's own environment (a session token) mixes in.
        options.update(
            access_key=config["access_key_id"],
            secret_key=config["secret_access_key"],
            security_token=None,
            session_profile=None,
        )
    return options


def _s3_write(storage: Storage, name: str, file: DeliveredFile) -> str:
    try:
        with file.open() as stored:
            upload = File(stored, name=os.path.basename(name))
            upload.content_type = file.content_type.partition(";")[0].strip() or None
            return storage.save(name, upload)
    except (OSError, SuspiciousOperation, BotoCoreError, ClientError, Boto3Error) as exc:
        raise DeliveryError(
            f"Could not write {name}: {_reason(exc)}", response_status=_response_status(exc)
        ) from exc


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _response_status(exc: BaseException | None) -> int | None:
    # boto3's upload wraps the ClientError that holds the HTTP status.
    while exc is not None:
        if isinstance(exc, ClientError):
            return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        exc = exc.__cause__ or exc.__context__
    return None


CHANNEL = StorageChannel()
